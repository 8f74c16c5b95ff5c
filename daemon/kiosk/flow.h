/* flow.h — the kiosk's flows as explicit state machines (shared/domain.md):
 * report a loss, cancel a loss, replacement (apply, progress), activation,
 * PIN change, card status. The daemon is the authority; the page only
 * shows flow_view() and sends actions.
 *
 * No I/O here: the card, the central, the outbox and the clock are reached
 * through struct flow_ops, whose answers come back through flow_on_*()
 * with the tag they were asked with (an answer for a flow that has moved
 * on is dropped). That keeps the machines unit-testable with fakes.
 *
 * Personal data (SSN, name, card ids, PINs) lives in struct flow only
 * while a flow runs and is wiped when it ends; views carry masked data. */
#ifndef SSCARD_FLOW_H
#define SSCARD_FLOW_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "apdu/sserr.h"
#include "daemon/config.h"
#include "daemon/outbox/outbox.h"

enum flow_kind {
	FLOW_NONE,
	FLOW_LOSS_REPORT,
	FLOW_LOSS_CANCEL,
	FLOW_REPLACEMENT,
	FLOW_ACTIVATION,
	FLOW_PIN_CHANGE,
	FLOW_STATUS,
	FLOW_PIN_RESET,   /* unlock or reset a blocked or forgotten PIN (card-spec §10) */
	FLOW__COUNT
};

enum flow_step {
	ST_HOME,
	ST_REPLACE_MENU,  /* apply for a replacement, or ask where it is */
	ST_IDENTIFY,      /* SSN + name */
	ST_OTP,           /* the one-time code sent to the holder's phone */
	ST_CHOOSE_CARD,
	ST_LOSS_TYPE,     /* temporary or formal */
	ST_REASON,        /* replacement of a card that is not lost: damaged? */
	ST_OUTLET,        /* where to pick up, handled by someone else? */
	ST_AGENT,         /* the agent's SSN + name for delegated handling */
	ST_CONFIRM,
	ST_INSERT_CARD,
	ST_PIN,           /* the current (or the initial) PIN */
	ST_NEW_PIN,
	ST_NEW_PIN_AGAIN,
	ST_PIN_OP,        /* a blocked PIN: unlock it (keep the PIN), or set a new one */
	ST_PAY,           /* the fee: a QR code to pay with the phone, waiting for "paid" */
	ST_BUSY,          /* waiting for the card or the central */
	ST_RECEIPT,
	ST_STATUS,
	ST_PROGRESS,
	ST_ERROR,         /* a refusal with a next step; leaves the flow */
	ST_TAKE_CARD,     /* the flow is over and the card is still inside */
	ST__COUNT
};

#define FLOW_CARDS_MAX 8
#define FLOW_ERROR_SHOW_MS 5000      /* an error screen stays this long */

struct flow;

/* How flows ended, for /metrics. */
enum flow_outcome { FLOW_COMPLETED, FLOW_REFUSED, FLOW_CANCELLED, FLOW_TIMED_OUT, FLOW__OUTCOMES };
enum pay_outcome { PAY_PAID, PAY_ALREADY_PAID, PAY_CANCELLED, PAY_EXPIRED, PAY_UNSETTLED, PAY__OUTCOMES };
struct flow_stats {
	unsigned long started[FLOW__COUNT];
	unsigned long finished[FLOW__COUNT][FLOW__OUTCOMES];
	unsigned long payments[PAY__OUTCOMES];
};
const char *pay_outcome_name(enum pay_outcome o);
const char *flow_outcome_name(enum flow_outcome o);

struct flow_ops {
	void *arg;
	uint64_t (*now_ms)(void *arg);      /* monotonic */
	int64_t (*wall_s)(void *arg);       /* for receipts and dates */
	/* read the card in reader → flow_on_card(tag, reply) */
	void (*card_read)(void *arg, const char *reader, uint64_t tag);
	/* VERIFY (new_pin NULL) or CHANGE PIN → flow_on_pin(tag, reply) */
	void (*pin)(void *arg, const char *reader, const char *old_pin, const char *new_pin,
		    uint64_t tag);
	/* GET (body NULL) or POST to the central → flow_on_central(tag, …) */
	void (*central)(void *arg, const char *path, json_t *body, uint64_t tag);
	/* into the outbox (durable before this returns) */
	enum ss_err (*submit)(void *arg, const char *type, const char *card_id, json_t *fields,
			      struct outbox_receipt *r, char *err, size_t errlen);
	/* the list's state for the status screen and the banner (new ref) */
	json_t *(*list_state)(void *arg);
	/* read the ID card reader now → flow_on_idcard(tag, reply); NULL: none */
	void (*idcard_read)(void *arg, uint64_t tag);
	/* the ID card reader: "off", "absent", "ready", "not_answering" */
	const char *(*idcard_state)(void *arg);
	/* the serial code scanner: "off", "absent", "ready"; NULL: none */
	const char *(*scanner_state)(void *arg);
	/* the receipt printer: "none", "unknown", "ready", "out_of_paper", … (printer.h); NULL: none */
	const char *(*printer_state)(void *arg);
	/* how many tries the card's PIN has left, none spent → flow_on_pin */
	void (*pin_status)(void *arg, const char *reader, uint64_t tag);
	/* card-spec §10: unblock (new_pin NULL) or reload to new_pin, the MAC
	 * from the PSAM or from the central's HSM with proof (the holder's
	 * verification id) → flow_on_pin */
	void (*pinkey)(void *arg, const char *reader, const char *new_pin, const char *proof,
		       uint64_t tag);
	/* a fee's order kept on disk from before its QR code is shown until
	 * what was paid for is filed (outbox.h's orders); NULL: no payment */
	enum ss_err (*order_open)(void *arg, const char *order_id, const char *card_id, json_t *fields);
	enum ss_err (*order_paid)(void *arg, const char *order_id, const char *card_id, json_t *fields,
				  struct outbox_receipt *r);
	void (*order_close)(void *arg, const char *order_id);
	/* whether this terminal can unblock or reload a PIN now; NULL: never */
	bool (*pinkey_able)(void *arg);
	/* the view changed (the page is told); the deadline may have moved */
	void (*changed)(void *arg);
};

struct flow *flow_new(const struct config *cfg, const struct flow_ops *ops);
void flow_free(struct flow *f);

/* The page's request: {"action":"start","flow":NAME} | {"action":"input",
 * "step":STEP, …fields} | {"action":"cancel"} | {"action":"done"} |
 * {"action":"alive"} (the person is typing: the step's clock restarts).
 * Returns SS_OK (the view may carry an inline error for the person), or
 * SS_E_INVALID / SS_E_BUSY with a sentence in err for a malformed or
 * out-of-step request (HTTP 400 / 409). */
enum ss_err flow_action(struct flow *f, json_t *req, char *err, size_t errlen);

/* Answers to what the flow asked through ops. */
void flow_on_card(struct flow *f, uint64_t tag, json_t *reply);
void flow_on_pin(struct flow *f, uint64_t tag, json_t *reply);
void flow_on_central(struct flow *f, uint64_t tag, long status, json_t *body, const char *err);
/* An ID card read (idreader.h's reply), asked for with tag, or tag 0: a
 * card just put on the reader, or {"ok":false,"error":"card_removed"} when
 * it was taken away mid-read. Used on the identify and agent screens only;
 * wiped by the caller. */
void flow_on_idcard(struct flow *f, uint64_t tag, json_t *reply);
/* A code scanned — the holder's e-voucher (医保电子凭证 / 电子社保卡) from the
 * serial scanner, or typed by a keyboard-mode scanner into the page — on
 * an identify screen: the central resolves it (POST /v1/ecodes/resolve)
 * into the holder; elsewhere ignored. A bearer token: never kept, never
 * logged; wiped by the caller. */
void flow_on_ecode(struct flow *f, const char *code);
/* Something the view shows changed below the flow (the ID card reader's
 * state): a new view. */
void flow_touch(struct flow *f);
/* Card inserted into / removed from reader. */
void flow_card_event(struct flow *f, const char *reader, bool present);
/* An outbox request was delivered (ok) or refused: the receipt says so. */
void flow_outbox_event(struct flow *f, const char *reference, bool delivered);
/* Call when the clock passes flow_deadline(). */
void flow_timeout(struct flow *f);
/* Monotonic ms at which the current step times out; 0: none. */
uint64_t flow_deadline(const struct flow *f);

/* What the page shows (new reference): flow, step, seq, timeout_s,
 * remaining_ms, error {code, message, …} or null, data {…}, card_present. */
json_t *flow_view(const struct flow *f);
/* A plain-text receipt for the printer (malloc'd), NULL when not on one. */
char *flow_receipt_text(const struct flow *f);

enum flow_step flow_step(const struct flow *f);
/* The order the flow on screen is paying ("" none): not for anyone else to settle. */
const char *flow_order(const struct flow *f);
const struct flow_stats *flow_stats(const struct flow *f);
enum flow_kind flow_kind(const struct flow *f);
const char *flow_step_name(enum flow_step s);
const char *flow_kind_name(enum flow_kind k);

#endif
