/* outbox.h — everything the central must learn, durably: a request is in
 * state_dir/outbox.db (SQLite, WAL, synchronous=FULL) before anyone is told
 * it is done, with a random 128-bit idempotency key and a short reference
 * for the receipt. A sender thread delivers in order per card, retries
 * with exponential back-off and jitter, and marks a request delivered only
 * on the central's 2xx; a 4xx is a final refusal (an event, and `sscardctl
 * outbox` shows it). The central deduplicates by key: at least once on the
 * wire, exactly once in effect. */
#ifndef SSCARD_OUTBOX_H
#define SSCARD_OUTBOX_H

#include <jansson.h>
#include <stdbool.h>
#include <systemd/sd-event.h>

#include "apdu/sserr.h"
#include "daemon/config.h"

#define OUTBOX_FILE "outbox.db"

struct outbox;

struct outbox_receipt {
	long long id;
	char reference[24];          /* for the person: "R1123-0042" */
	char key[33];                /* idempotency key, 32 hex */
	bool duplicate;              /* the key was there already: nothing new */
	int listed_here;             /* what the taken hook said: 1, 0, or -1 not asked */
};

typedef void (*outbox_emit_fn)(void *arg, json_t *event);

/* Open (create) the outbox and start the sender. 0, or -1 with a sentence
 * (the daemon then refuses requests, and says why). */
int outbox_start(sd_event *ev, const struct config *cfg, outbox_emit_fn emit, void *arg,
		 struct outbox **out, char *err, size_t errlen);
void outbox_stop(struct outbox *o);
/* Requests not taken by the central (not 'delivered') in STATE_DIR's outbox,
 * read-only and without a running daemon (0 when there is no outbox); -1
 * with a sentence when it cannot be read. */
long long outbox_undelivered(const char *state_dir, char *err, size_t errlen);
void outbox_reconfigure(struct outbox *o, const struct config *cfg);

/* Called on the loop right after a new request is on disk (not for a
 * duplicate): a loss reported here blocks the card here at once. Returns
 * 1 done, 0 failed, -1 nothing to do for this type. */
typedef int (*outbox_taken_fn)(void *arg, const char *type, const char *card_id, json_t *fields);
void outbox_on_taken(struct outbox *o, outbox_taken_fn fn, void *arg);

/* Commit one request. type: loss_report, loss_cancel, replacement,
 * activation, pin_changed; card_id: 32 hex; fields: what the type needs
 * (copied); key: the caller's idempotency key (32 hex) or NULL for a new
 * random one — a caller that did not hear the answer sends the same key
 * again and gets the same receipt. SS_OK, SS_E_INVALID (err says what),
 * or SS_E_OUTBOX (disk full, database error: nothing was taken). */
enum ss_err outbox_add(struct outbox *o, const char *type, const char *card_id, json_t *fields,
		       const char *key, struct outbox_receipt *r, char *err, size_t errlen);
/* A fee paid at this terminal (issue 29): the order is kept on disk from
 * before its QR code is shown until what was paid for is filed. open: the
 * order and the replacement's fields (SS_OK or SS_E_OUTBOX). paid: the
 * replacement request with "order_id", under a key derived from the order
 * (whoever files it, the same request), then the order forgotten; the
 * kept fields win over card_id/fields (used when none are kept). close:
 * forgotten (cancelled or expired: nothing to file). orders: what is kept,
 * [{order_id, card_id, age_s}] (new reference). */
enum ss_err outbox_order_open(struct outbox *o, const char *order_id, const char *card_id, json_t *fields,
			      char *err, size_t errlen);
enum ss_err outbox_order_paid(struct outbox *o, const char *order_id, const char *card_id, json_t *fields,
			      struct outbox_receipt *r, char *err, size_t errlen);
void outbox_order_close(struct outbox *o, const char *order_id);
json_t *outbox_orders(struct outbox *o);
/* The `request TYPE CARD_ID [name=value…] [key=HEX]` verb's argument. */
json_t *outbox_request_verb(struct outbox *o, const char *arg);
/* Pending and failed requests with age and last error; counts. */
json_t *outbox_list_json(struct outbox *o);
/* A failed request back to pending (admin). */
json_t *outbox_retry(struct outbox *o, const char *id);
/* counts for `status` */
void outbox_add_status(struct outbox *o, json_t *status);

/* How the sender judges the central's answer (pure; fuzzed). */
enum outbox_verdict { OUTBOX_DELIVERED, OUTBOX_RETRY, OUTBOX_REFUSED };
enum outbox_verdict outbox_judge(long http_status, const char *body, size_t len, char *code,
				 size_t code_cap, char *msg, size_t msg_cap);

#endif
