/* flowdef.h — what the kiosk's flow files share (daemon/kiosk/ only): the
 * flow's state, the steps every flow uses (flow.c), and struct flow_def,
 * the page a flow fills in to say what is its own (one file per flow:
 * loss_report.c, loss_cancel.c, replacement.c, activation.c,
 * pin_change.c, status.c, pin_reset.c). */
#ifndef SSCARD_FLOWDEF_H
#define SSCARD_FLOWDEF_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "daemon/kiosk/flow.h"

/* What an answer from below is awaited for. */
enum wait {
	W_NONE,
	W_READ,
	W_PIN_VERIFY,
	W_PIN_CHANGE,
	W_LOOKUP,
	W_OTP,
	W_CARD_STATE,
	W_PROGRESS,
	W_PIN_STATUS,
	W_PINKEY,
	W_ECODE,
	W_PAY_ORDER,      /* the order for the fee */
	W_PAY_POLL,       /* is it paid? (on the pay screen, not a busy one) */
	W_PAY_CANCEL,     /* the person left, or the order's time ran out */
	W__COUNT
};

enum delivery { DELIVERY_PENDING, DELIVERY_DONE, DELIVERY_REFUSED };

/* Everything personal: wiped as one block when a flow ends. */
struct personal {
	char ssn[19], name[64];
	char agent_ssn[19], agent_name[64];
	char otp_to[40];
	struct {
		char id[33], masked[40], state[16];
	} cards[FLOW_CARDS_MAX];
	unsigned n_cards;
	int chosen;                  /* index into cards, -1 none */
	char card_id[33];            /* the card this flow acts on */
	char card_masked[40], name_masked[64], expiry[11];
	int listed;                  /* local list: 1, 0, -1 unknown */
	char listed_state[16], listed_since[16];
	char central_state[16];      /* "" when the central did not say */
	json_t *replacement;         /* the central's replacement progress */
	char pin_old[16], pin_new[16];
	char loss[12];
	bool damaged, delegated;
	int outlet;
	bool offline;                /* the central could not be reached */
	bool holder_hidden;          /* a 3.00 card whose EF06 stayed closed (no PSAM, no HSM) */
	unsigned identity_fails;
	bool by_idcard;              /* the holder was identified by an ID card read here */
	bool by_ecode;               /* … or by the e-voucher code on their phone */
	char card_ssn[19];           /* the SSN the card in the reader holds; "" unknown */
	char proof[64];              /* the central's verification id of the holder (§10) */
	char pin_op[8];              /* pin_reset: "unblock" or "reload" */
	int pin_blocked;             /* pin_reset: 1 blocked, 0 not, -1 the card did not say */
	struct {
		char order_id[40], url[200], masked[24];
		long long amount_fen;
		bool already_paid;       /* the fee for this card was paid before */
		bool cancel_asked;       /* by the person (else: the time ran out) */
	} pay;
	struct {
		char reference[24], type[16], ready_date[16];
		int64_t time;
		enum delivery delivery;
	} receipt;
};

struct flow_def;

struct flow {
	const struct config *cfg;
	const struct flow_ops *ops;
	enum flow_kind kind;
	const struct flow_def *def;  /* the running flow's; NULL at home */
	enum flow_step step;
	enum flow_step after_error;
	enum wait wait;
	uint64_t tag, next_tag, seq;
	uint64_t deadline;
	unsigned timeout_ms;
	bool what_progress;          /* replacement: progress query, not an application */
	char err_code[40], err_msg[240];
	int err_tries;               /* -1: not about tries */
	char reader[128];            /* the reader the flow's card is in */
	uint64_t idcard_tag;         /* the ID card read asked for; 0 none */
	bool idcard_input;           /* the identity being given comes from an ID card */
	bool card_present;           /* a card is in reader */
	char *pay_svg;               /* the pay screen's QR code (qrsvg.h), freed with the flow */
	uint64_t poll_at;            /* monotonic ms of the next "is it paid?"; 0 none */
	struct personal p;
	struct flow_stats stats;     /* not personal: survives the wipe */
};

/* One flow. Hooks left NULL take the common way (said at each). */
struct flow_def {
	enum flow_kind kind;
	const char *name;            /* as the page starts it */
	const char *request;         /* the outbox request it ends in; NULL: none */
	bool card;                   /* it works on the card in the reader */
	bool chip_changed;           /* the chip is changed before the request is taken */
	bool initial_pin;            /* ST_PIN asks for the initial PIN, not the current */
	bool unknown_card_ok;        /* a card the central does not know can go on */
	bool pinkey;                 /* it needs §10 (a PSAM or the HSM): refused without */
	bool two_proofs;             /* identity and the one-time code, always (no ID-card shortcut) */
	bool fee;                    /* confirmed: [policy] replacement_fee_fen paid first ([payment] enabled) */
	enum flow_step first;        /* ST_INSERT_CARD: the card is read when present */
	/* The card was read (NULL: ask the central for its state). */
	void (*card_read)(struct flow *f);
	/* The card and the central's word on it (if any) are known. */
	void (*card_known)(struct flow *f);
	/* The current PIN was right (NULL: ask for the new PIN). */
	void (*pin_verified)(struct flow *f);
	/* Whether a card in this state may be chosen (NULL: any). */
	bool (*selectable)(const struct flow *f, const char *state);
	/* The person chose card f->p.chosen. */
	void (*chosen)(struct flow *f);
	/* An identity typed or read on the identify screen (ssn checked):
	 * false with the error set to stay there (NULL: any holder). */
	bool (*identity)(struct flow *f, const char *ssn);
	/* The one-time code was right: body is the central's answer (NULL:
	 * choose one of the holder's cards). */
	void (*verified)(struct flow *f, json_t *body);
	/* The answer to a W_PIN_STATUS or W_PINKEY question. */
	void (*pin_answer)(struct flow *f, enum wait w, json_t *reply);
	/* The new PIN was typed twice (NULL: CHANGE PIN with the current). */
	void (*new_pin_set)(struct flow *f);
	/* Input on a step of the flow's own; fl_no_input() for the others. */
	enum ss_err (*input)(struct flow *f, json_t *req, char *err, size_t errlen);
	/* The request's fields; then what the receipt needs once it is taken. */
	void (*fields)(struct flow *f, json_t *fields);
	void (*taken)(struct flow *f);
	/* The flow's part of the view's data for the current step. */
	void (*view)(const struct flow *f, json_t *d);
	/* The receipt's advice lines. */
	void (*receipt)(const struct flow *f, FILE *m);
};

extern const struct flow_def flow_loss_report, flow_loss_cancel, flow_replacement,
	flow_activation, flow_pin_change, flow_status, flow_pin_reset;

/* flow.c: the steps and clocks every flow uses. */
void fl_enter(struct flow *f, enum flow_step s);
void fl_set_error(struct flow *f, const char *code, const char *msg);
void fl_fail(struct flow *f, const char *code, const char *msg);
void fl_wipe_pins(struct flow *f);
/* GET /v1/cards/ID from the central; the answer comes as w. */
void fl_get_card(struct flow *f, enum wait w);
/* Into the outbox; the receipt screen on success. */
void fl_submit(struct flow *f);
/* Ask below and wait on the busy screen: the tag to ask with. */
uint64_t fl_ask(struct flow *f, enum wait w);
/* The same, staying on the screen shown (the pay screen's polls). */
uint64_t fl_ask_quiet(struct flow *f, enum wait w);
/* The receipt screen for a request taken (r) of type. */
void fl_receipt(struct flow *f, const char *type, const struct outbox_receipt *r);
/* pay.c: the fee at the kiosk ([payment] enabled). */
bool fl_pays(const struct flow *f);
void fl_pay_start(struct flow *f);
void fl_pay_poll(struct flow *f);
/* The person cancelled (asked) or the order's time ran out. */
void fl_pay_cancel(struct flow *f, bool asked);
void fl_pay_answer(struct flow *f, enum wait w, long status, json_t *body);
/* The holder's cards, with their ids, from the central: choose one. */
void fl_take_cards(struct flow *f, json_t *body);
/* What an error screen offers to do next, here and now: FLOW_PIN_RESET
 * for a blocked PIN (when this terminal can), FLOW_REPLACEMENT for a card
 * whose unlocks are spent; FLOW_NONE. */
enum flow_kind fl_offer(const struct flow *f);
/* This terminal can unlock or reset a PIN now (the home screen's tile). */
bool fl_pinkey_able(const struct flow *f);
/* Enter the identify screen, and read the ID card reader: a card may be
 * lying on it already. */
void fl_identify(struct flow *f);
/* An SSN and name typed on an identify or agent screen: true with the SSN
 * (upper-case X) in ssn; false with the error set for the person. */
bool fl_identity(struct flow *f, json_t *req, char ssn[19]);
/* A malformed request: the sentence in err, SS_E_INVALID. */
enum ss_err fl_bad(char *err, size_t errlen, const char *msg);
/* The current step takes no input: SS_E_BUSY. */
enum ss_err fl_no_input(struct flow *f, char *err, size_t errlen);
/* Whether the central said the card is reported lost (temporary or formal). */
bool fl_central_lost(const struct flow *f);
/* Whether the person may choose a card in this state. */
bool fl_selectable(const struct flow *f, const char *state);
/* A string member, "" when absent. */
const char *fl_jstr(json_t *o, const char *k);

#endif
