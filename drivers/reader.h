/* reader.h — what every reader back end (PC/SC now, NFC next) offers the
 * daemon: a monitor that reports readers and cards coming and going, and
 * card connections that carry APDUs through struct transport. All calls
 * may block: call them from worker threads, never from the event loop. */
#ifndef SSCARD_READER_H
#define SSCARD_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "apdu/apdu.h"
#include "apdu/atr.h"
#include "drivers/pinpad.h"

#define RDR_NAME_MAX 128

enum rdr_event_kind {
	RDR_SERVICE_UP,      /* the middleware (pcscd) answers again */
	RDR_SERVICE_DOWN,    /* the middleware is gone; readers were removed */
	RDR_READER_ADDED,
	RDR_READER_REMOVED,
	RDR_CARD_INSERTED,   /* atr set */
	RDR_CARD_REMOVED,
	RDR_SCAN_DONE,       /* every reader and card present was reported */
};

struct rdr_event {
	enum rdr_event_kind kind;
	char reader[RDR_NAME_MAX];
	uint8_t atr[ATR_MAX];
	size_t atr_len;
};

/* A connected card. The transport is ready for apdu_transmit. */
struct rdr_card {
	struct transport tr;
	char reader[RDR_NAME_MAX];
	uint8_t atr[ATR_MAX];
	size_t atr_len;
	const char *interface;   /* "contact" or "contactless" */
	int protocol;            /* 0 or 1 for T=0/T=1, -1 when not applicable */
	char serial[64];         /* the reader's own serial number, "" when it gives none */
	void *priv;              /* back end's own */
};

/* ---- PC/SC (pcsc-lite) ---------------------------------------------------- */

struct pcsc_monitor;
struct pcsc_conn;

/* New monitor with its own PC/SC context (established lazily, re-established
 * with back-off when pcscd restarts). SS_OK or SS_E_NOMEM. */
enum ss_err pcsc_monitor_new(struct pcsc_monitor **out);
/* Block until readers or cards change, pcscd goes or comes, or
 * pcsc_monitor_cancel. Fills up to cap events; *n = 0 after a cancel. */
enum ss_err pcsc_monitor_wait(struct pcsc_monitor *m, struct rdr_event *ev, size_t cap,
			      size_t *n);
/* Wake a waiting pcsc_monitor_wait; safe from any thread. Sticky until
 * pcsc_monitor_free: later waits return at once. */
void pcsc_monitor_cancel(struct pcsc_monitor *m);
void pcsc_monitor_free(struct pcsc_monitor *m);

/* A connection factory with its own context, one per worker thread. */
enum ss_err pcsc_conn_new(struct pcsc_conn **out);
void pcsc_conn_free(struct pcsc_conn *c);
/* Connect (shared, T=0 or T=1) to the card in reader; on sharing
 * violations retries with back-off for about a second, then
 * SS_E_READER_BUSY. SS_E_NO_CARD, SS_E_NO_READER, SS_E_NO_SERVICE … */
enum ss_err pcsc_connect(struct pcsc_conn *c, const char *reader, struct rdr_card *card);
/* Leave the card powered for others. Safe on a card whose reader vanished. */
void pcsc_disconnect(struct rdr_card *card);
/* Let go and power the card down (a technician's reset). */
void pcsc_disconnect_unpower(struct rdr_card *card);
/* PIN entry on the reader's keypad for the connected card (the SSC
 * application selected): SS_E_NO_PIN_PAD when the reader has none. Blocks
 * while the holder types (up to PINPAD_TIMEOUT_S per PIN). */
enum ss_err pcsc_pinpad(struct rdr_card *card, enum pinpad_op op, int *tries_left);
/* pcsc-lite return value → project error (context-free mapping). */
enum ss_err pcsc_err(long rv);

/* ---- NFC (libnfc) --------------------------------------------------------- */

struct nfc_rdr;

/* Open the device named by connstring (a libnfc connstring such as
 * "pn532_uart:/dev/ttyUSB0"; "auto": the first device libnfc finds) and
 * make it an ISO 14443 initiator. Opening costs ≥ 50 ms in libnfc: open
 * once and keep it. *name gets "NFC <connstring>". SS_E_NO_READER when the
 * device is not there or does not answer. All calls on one thread. */
enum ss_err nfc_rdr_open(const char *connstring, struct nfc_rdr **out, char *name, size_t cap);
void nfc_rdr_close(struct nfc_rdr *r);
/* Look for an ISO 14443-4 card (type A, then B) once, without waiting.
 * SS_OK with card filled (transport ready, ATR made from the ATS as PC/SC
 * part 3 does, interface "contactless"), SS_E_NO_CARD, or SS_E_READER
 * when the device stopped answering (close and open it again). */
enum ss_err nfc_rdr_poll(struct nfc_rdr *r, struct rdr_card *card);
/* Whether the selected card is still on the field (one short exchange). */
bool nfc_rdr_present(struct nfc_rdr *r);
/* Let the selected card go (it must be polled again). */
void nfc_rdr_release(struct nfc_rdr *r);
/* libnfc error → project error; removed: the card left the field. */
enum ss_err nfc_rdr_err(int rv, bool removed);

#endif
