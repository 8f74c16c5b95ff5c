/* apdu.h — one APDU representation, one transport interface and the one
 * transmit path (61xx GET RESPONSE loop, 6Cxx resend) every caller uses.
 * No I/O of its own: bytes move through struct transport. */
#ifndef SSCARD_APDU_H
#define SSCARD_APDU_H

#include <stddef.h>
#include <stdint.h>

#include "apdu/sserr.h"

#define APDU_CMD_MAX 261       /* 4 header + Lc + 255 data + Le */
#define APDU_RSP_MAX 1024      /* data gathered over GET RESPONSE rounds */
#define APDU_RAW_MAX 258       /* one short R-APDU: 256 data + SW1 SW2 */
#define APDU_GET_RESPONSE_ROUNDS 16

/* flags */
#define APDU_SECRET_CMD 0x1u   /* command data is secret (PIN): redacted in traces, wiped */
#define APDU_SECRET_RSP 0x2u   /* response data is personal (SSN, name): redacted in traces */

/* Case 1: lc = 0, le = 0; case 2: lc = 0, le > 0; case 3: lc > 0, le = 0;
 * case 4: both. le is 1..256 (256 is encoded 00); 0 means no Le. */
struct apdu {
	uint8_t cla, ins, p1, p2;
	const uint8_t *data;
	size_t lc;
	unsigned le;
	unsigned flags;
};

struct apdu_resp {
	uint8_t data[APDU_RSP_MAX];
	size_t len;
	uint16_t sw;
};

/* Called after each exchange on the wire; cmd/rsp are already redacted
 * according to flags. us = microseconds the exchange took. */
typedef void (*apdu_trace_fn)(void *arg, const uint8_t *cmd, size_t cmd_len,
			      const uint8_t *rsp, size_t rsp_len, unsigned flags, uint64_t us);

struct transport {
	void *ctx;
	/* Send one C-APDU, receive one R-APDU (data + SW) into rsp (capacity
	 * *rsp_len on entry, length on return). Returns SS_OK or a transport
	 * error (card removed, reader gone, timeout). */
	enum ss_err (*xfer)(void *ctx, const uint8_t *cmd, size_t cmd_len,
			    uint8_t *rsp, size_t *rsp_len);
	apdu_trace_fn trace;   /* optional */
	void *trace_arg;
	unsigned apdus;        /* exchanges on the wire, counted by apdu_transmit */
};

/* 1..4, or 0 when the APDU is malformed. */
int apdu_case(const struct apdu *a);
/* SS_OK or SS_E_INVALID (lengths out of range, data missing, INS 6x/9x). */
enum ss_err apdu_check(const struct apdu *a);
/* Encode into out (APDU_CMD_MAX bytes); returns the length, 0 if invalid. */
size_t apdu_encode(const struct apdu *a, uint8_t *out);

/* Send a, handling 61xx (GET RESPONSE, at most APDU_GET_RESPONSE_ROUNDS)
 * and 6Cxx (resend once with Le = xx). Returns SS_OK when the card
 * answered (whatever the SW, found in r->sw) or a transport/protocol
 * error. r is always initialised. */
enum ss_err apdu_transmit(struct transport *t, const struct apdu *a, struct apdu_resp *r);

/* Hex helpers: upper-case, NUL-terminated; out needs 2*len+1 bytes. */
void hex_encode(const uint8_t *in, size_t len, char *out);
/* Parses hex (spaces allowed); returns bytes written or -1 on bad input/overflow. */
long hex_decode(const char *in, uint8_t *out, size_t cap);

#endif
