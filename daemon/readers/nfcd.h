/* nfcd.h — the NFC helper: a child process of sscardd (the same binary,
 * run as `sscardd --nfc-helper …`) that owns the libnfc device. It opens
 * the device once and keeps it, polls for cards, checks every ~100 ms
 * that the card is still on the field, runs reads and PIN operations, and
 * reopens the device with back-off when it vanishes.
 *
 * Why a process and not a thread: libnfc 1.8.0 calls abort() on some
 * answers a faulty device can send (a status byte with the NAD bit, in
 * pn53x_transceive). In a child that costs one NFC reader a restart; in
 * the daemon it would end every flow on the kiosk.
 *
 * The two talk over a SOCK_SEQPACKET pair with the fixed-size messages
 * below (both ends are the same build). PINs cross this private socket
 * and are wiped on both sides. */
#ifndef SSCARD_NFCD_H
#define SSCARD_NFCD_H

#include <stdint.h>

#include "apdu/ssc.h"
#include "drivers/reader.h"
#include "daemon/losslist/losslist.h"

#define NFCD_MAGIC 0x4e464344u   /* "NFCD" */
#define NFCD_FD 3                /* the helper's end of the pair */
#define NFCD_PRESENCE_MS 100     /* presence check while a card is selected */
#define NFCD_POLL_MS 100         /* looking for a card while there is none */

enum nfcd_req_kind { NFCD_READ = 1, NFCD_PIN, NFCD_TRACE, NFCD_AUTH_REPLY };

struct nfcd_req {
	uint32_t magic, kind;
	uint64_t job;
	uint32_t op;                 /* NFCD_PIN: enum readers_pin_op */
	uint32_t trace_on;           /* NFCD_TRACE */
	char pin_old[16], pin_new[16];
	/* NFCD_READ: sscardd can open 3.00 cards (a PSAM or the HSM) and
	 * answers NFCD_AUTH within auth_ms; the card's key id */
	uint32_t auth, auth_ms;
	uint8_t key_id;
	/* NFCD_AUTH_REPLY: the cryptogram for job's NFCD_AUTH, or err */
	int32_t err;
	uint8_t cryptogram[16];
};

/* NFCD_AUTH: a 3.00 card's id and challenge; sscardd asks its PSAM or the
 * HSM and sends NFCD_AUTH_REPLY (the helper waits for it mid-read). */
enum nfcd_ans_kind { NFCD_EVENT = 1, NFCD_DONE, NFCD_PIN_DONE, NFCD_APDU, NFCD_AUTH };

struct nfcd_ans {
	uint32_t magic, kind;
	struct rdr_event ev;         /* NFCD_EVENT */
	uint64_t job;                /* NFCD_DONE, NFCD_PIN_DONE */
	int32_t err;
	uint8_t atr[ATR_MAX];
	uint32_t atr_len;
	struct ssc_card card;        /* NFCD_DONE: wiped after use */
	double elapsed_ms;
	int32_t loss_rc;
	struct loss_entry loss;
	struct loss_info loss_info;
	int32_t tries_left;
	uint8_t cmd[APDU_CMD_MAX];   /* NFCD_APDU: redacted by apdu.c */
	uint8_t rsp[APDU_RAW_MAX];
	uint32_t cmd_len, rsp_len, flags;
	uint64_t us;
	uint8_t auth_id[16], auth_challenge[8]; /* NFCD_AUTH */
};

/* The helper's main: argv = connstring, loss list path, log level,
 * "syslog"|"stderr". Returns the exit status. */
int nfcd_main(int argc, char **argv);

#endif
