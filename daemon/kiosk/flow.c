/* flow.c — the kiosk flows' state machines (see flow.h). */
#include "daemon/kiosk/flow.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apdu/ssc.h"
#include "daemon/mask.h"
#include "daemon/kiosk/pinrule.h"

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
	unsigned identity_fails;
	struct {
		char reference[24], type[16], ready_date[16];
		int64_t time;
		enum delivery delivery;
	} receipt;
};

struct flow {
	const struct config *cfg;
	const struct flow_ops *ops;
	enum flow_kind kind;
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
	bool card_present;           /* a card is in reader */
	struct personal p;
};

static const char *const STEP_NAMES[ST__COUNT] = {
	[ST_HOME] = "home", [ST_REPLACE_MENU] = "replace_menu", [ST_IDENTIFY] = "identify",
	[ST_OTP] = "otp", [ST_CHOOSE_CARD] = "choose_card", [ST_LOSS_TYPE] = "loss_type",
	[ST_REASON] = "reason", [ST_OUTLET] = "outlet", [ST_AGENT] = "agent",
	[ST_CONFIRM] = "confirm", [ST_INSERT_CARD] = "insert_card", [ST_PIN] = "pin",
	[ST_NEW_PIN] = "new_pin", [ST_NEW_PIN_AGAIN] = "new_pin_again", [ST_BUSY] = "busy",
	[ST_RECEIPT] = "receipt", [ST_STATUS] = "status", [ST_PROGRESS] = "progress",
	[ST_ERROR] = "error", [ST_TAKE_CARD] = "take_card",
};

static const char *const KIND_NAMES[FLOW__COUNT] = {
	[FLOW_NONE] = "none", [FLOW_LOSS_REPORT] = "loss_report", [FLOW_LOSS_CANCEL] = "loss_cancel",
	[FLOW_REPLACEMENT] = "replacement", [FLOW_ACTIVATION] = "activation",
	[FLOW_PIN_CHANGE] = "pin_change", [FLOW_STATUS] = "status",
};

const char *flow_step_name(enum flow_step s)
{
	return s < ST__COUNT ? STEP_NAMES[s] : "?";
}

const char *flow_kind_name(enum flow_kind k)
{
	return k < FLOW__COUNT ? KIND_NAMES[k] : "?";
}

enum flow_step flow_step(const struct flow *f)
{
	return f->step;
}

enum flow_kind flow_kind(const struct flow *f)
{
	return f->kind;
}

uint64_t flow_deadline(const struct flow *f)
{
	return f->deadline;
}

/* The plain sentences behind the codes a flow can show. The page has the
 * same codes in Chinese and English; this is the fallback and the log. */
static const struct {
	const char *code, *text;
} MESSAGES[] = {
	{"timeout", "No one touched the screen for a while, so we went back to the start."},
	{"card_removed", "The card was taken out, so nothing was changed. Please start again."},
	{"not_ssc", "This card is not a social security card."},
	{"read_failed", "The card could not be read. Please check that it is inserted the right way."},
	{"card_listed", "This card is reported lost. Cancel the loss first, or ask the staff."},
	{"card_cancelled", "This card was cancelled for good (replaced)."},
	{"card_unknown", "The card service does not know this card. Please ask the staff."},
	{"already_active", "This card is already activated. To change the PIN, use 'Change PIN'."},
	{"not_lost", "This card is not reported lost, so there is nothing to cancel."},
	{"replacement_applied",
	 "A replacement was applied for, so the loss can no longer be cancelled. Please collect your new card."},
	{"central_unreachable",
	 "The card service cannot be reached right now. Please use the counter, or call 12333."},
	{"check_digit", "That is not a valid social security number (check the last character)."},
	{"ssn_format", "A social security number has 18 characters: 17 digits and a digit or X."},
	{"name_format", "Please enter the name as on the card."},
	{"holder_not_found", "No card holder with this number and name. Please check both."},
	{"identity_limit",
	 "The number and name did not match too many times. Please go to the counter with your ID card."},
	{"otp_format", "The code has 6 digits."},
	{"otp_wrong", "The code is not right."},
	{"otp_limit", "The code was wrong too many times. Please start again or go to the counter."},
	{"otp_expired", "The code has expired. Please start again to get a new one."},
	{"no_cards", "There is no card for this person that can be handled here."},
	{"card_not_selectable", "This card cannot be chosen for this."},
	{"report_loss_first", "A lost card must be reported lost first; then apply for a replacement."},
	{"agent_same", "The person handling it for the holder must be someone else."},
	{"pin_wrong", "The PIN is wrong."},
	{"pin_blocked",
	 "The PIN is blocked after too many wrong tries. Please go to the counter with your ID card to reset it."},
	{"pin_format", "A PIN has 6 digits."},
	{"pin_same", "The new PIN must differ from the old one."},
	{"pin_mismatch", "The two new PINs are not the same. Please enter the new PIN again."},
	{"outbox_unavailable",
	 "This terminal cannot take requests right now. Please use the counter, or call 12333."},
	{"not_recorded",
	 "Your new PIN is set on the card, but this terminal could not record it. Please tell the staff."},
	{"no_answer", "There was no answer in time. Please try again, or ask the staff."},
	{"internal", "Something went wrong at this terminal. Please ask the staff."},
};

static const char *message(const char *code)
{
	for (size_t i = 0; i < sizeof MESSAGES / sizeof MESSAGES[0]; i++)
		if (!strcmp(MESSAGES[i].code, code))
			return MESSAGES[i].text;
	return "Something went wrong. Please ask the staff.";
}

/* ---- steps, clocks, errors ---------------------------------------------- */

static bool card_flow(enum flow_kind k)
{
	return k == FLOW_LOSS_CANCEL || k == FLOW_ACTIVATION || k == FLOW_PIN_CHANGE ||
	       k == FLOW_STATUS;
}

static bool input_step(enum flow_step s)
{
	return s == ST_IDENTIFY || s == ST_OTP || s == ST_PIN || s == ST_NEW_PIN ||
	       s == ST_NEW_PIN_AGAIN || s == ST_AGENT;
}

static void changed(struct flow *f)
{
	f->seq++;
	if (f->ops->changed)
		f->ops->changed(f->ops->arg);
}

static void clear_error(struct flow *f)
{
	f->err_code[0] = f->err_msg[0] = 0;
	f->err_tries = -1;
}

static void set_error(struct flow *f, const char *code, const char *msg)
{
	snprintf(f->err_code, sizeof f->err_code, "%s", code);
	snprintf(f->err_msg, sizeof f->err_msg, "%s", msg ? msg : message(code));
	f->err_tries = -1;
}

static void wipe_pins(struct flow *f)
{
	sodium_memzero(f->p.pin_old, sizeof f->p.pin_old);
	sodium_memzero(f->p.pin_new, sizeof f->p.pin_new);
}

static void enter(struct flow *f, enum flow_step s)
{
	unsigned t = 0;
	f->step = s;
	f->wait = s == ST_BUSY ? f->wait : W_NONE;
	if (s == ST_ERROR)
		t = FLOW_ERROR_SHOW_MS;
	else if (input_step(s))
		t = f->cfg->pin_timeout_s * 1000;
	else if (s != ST_HOME)
		t = f->cfg->step_timeout_s * 1000;
	f->timeout_ms = t;
	f->deadline = t ? f->ops->now_ms(f->ops->arg) + t : 0;
}

static void wipe_personal(struct flow *f)
{
	json_decref(f->p.replacement);
	sodium_memzero(&f->p, sizeof f->p);
	f->p.chosen = -1;
}

static void home(struct flow *f)
{
	f->kind = FLOW_NONE;
	enter(f, ST_HOME);
}

/* The flow ends: everything personal goes, the card is asked back. */
static void finish(struct flow *f)
{
	wipe_personal(f);
	f->tag = 0;
	f->wait = W_NONE;
	if (card_flow(f->kind) && f->card_present)
		enter(f, ST_TAKE_CARD);
	else
		home(f);
}

/* A refusal screen; after FLOW_ERROR_SHOW_MS (or "done") the flow ends. */
static void fail(struct flow *f, const char *code, const char *msg)
{
	set_error(f, code, msg);
	f->tag = 0;
	wipe_pins(f);
	enter(f, ST_ERROR);
}

static uint64_t ask(struct flow *f, enum wait w)
{
	f->wait = w;
	f->tag = ++f->next_tag;
	enter(f, ST_BUSY);
	return f->tag;
}

/* ---- below: card, central, outbox --------------------------------------- */

static void read_card(struct flow *f)
{
	uint64_t tag = ask(f, W_READ);
	f->ops->card_read(f->ops->arg, f->reader, tag);
}

static void central_get_card(struct flow *f, enum wait w)
{
	char path[80];
	snprintf(path, sizeof path, "/v1/cards/%s", f->p.card_id);
	uint64_t tag = ask(f, w);
	f->ops->central(f->ops->arg, path, NULL, tag);
}

static const char *type_of(enum flow_kind k)
{
	switch (k) {
	case FLOW_LOSS_REPORT: return "loss_report";
	case FLOW_LOSS_CANCEL: return "loss_cancel";
	case FLOW_REPLACEMENT: return "replacement";
	case FLOW_ACTIVATION: return "activation";
	case FLOW_PIN_CHANGE: return "pin_changed";
	default: return NULL;
	}
}

/* Working days from today (Saturday and Sunday skipped). */
static void ready_date(int64_t now, unsigned days, char out[16])
{
	time_t t = (time_t)now;
	struct tm tm;
	localtime_r(&t, &tm);
	while (days) {
		tm.tm_mday++;
		tm.tm_isdst = -1;
		t = mktime(&tm);
		localtime_r(&t, &tm);
		if (tm.tm_wday != 0 && tm.tm_wday != 6)
			days--;
	}
	strftime(out, 16, "%Y-%m-%d", &tm);
}

static void outlet_name(const struct config *cfg, int idx, char *out, size_t cap)
{
	const char *s = cfg->outlets;
	out[0] = 0;
	for (int i = 0; *s; i++) {
		size_t n = strcspn(s, ";");
		if (i == idx) {
			while (n && *s == ' ')
				s++, n--;
			while (n && s[n - 1] == ' ')
				n--;
			snprintf(out, cap, "%.*s", (int)n, s);
			return;
		}
		s += n;
		if (*s == ';')
			s++;
	}
}

static int n_outlets(const struct config *cfg)
{
	char name[80];
	int n = 0;
	for (;; n++) {
		outlet_name(cfg, n, name, sizeof name);
		if (!*name)
			return n;
	}
}

/* Into the outbox; the receipt screen on success. */
static void submit(struct flow *f)
{
	const char *type = type_of(f->kind);
	json_t *fields = json_object();
	struct outbox_receipt r;
	char err[300] = "";
	if (f->kind == FLOW_LOSS_REPORT)
		json_object_set_new(fields, "loss", json_string(f->p.loss));
	if (f->kind == FLOW_REPLACEMENT) {
		char outlet[80];
		outlet_name(f->cfg, f->p.outlet, outlet, sizeof outlet);
		json_object_set_new(fields, "outlet", json_string(outlet));
		json_object_set_new(fields, "delegated", json_boolean(f->p.delegated));
		json_object_set_new(fields, "fee_fen", json_integer(f->cfg->replacement_fee_fen));
		json_object_set_new(fields, "damaged", json_boolean(f->p.damaged));
		char date[16];
		ready_date(f->ops->wall_s(f->ops->arg), f->cfg->replacement_days, date);
		json_object_set_new(fields, "ready_date", json_string(date));
	}
	enum ss_err e = f->ops->submit(f->ops->arg, type, f->p.card_id, fields, &r, err, sizeof err);
	json_decref(fields);
	if (e != SS_OK) {
		bool chip_changed = f->kind == FLOW_ACTIVATION || f->kind == FLOW_PIN_CHANGE;
		fail(f, chip_changed ? "not_recorded" : e == SS_E_OUTBOX ? "outbox_unavailable" : "internal",
		     NULL);
		return;
	}
	snprintf(f->p.receipt.reference, sizeof f->p.receipt.reference, "%s", r.reference);
	snprintf(f->p.receipt.type, sizeof f->p.receipt.type, "%s", type);
	f->p.receipt.time = f->ops->wall_s(f->ops->arg);
	f->p.receipt.delivery = DELIVERY_PENDING;
	if (f->kind == FLOW_REPLACEMENT)
		ready_date(f->p.receipt.time, f->cfg->replacement_days, f->p.receipt.ready_date);
	clear_error(f);
	enter(f, ST_RECEIPT);
}

/* ---- answers ------------------------------------------------------------ */

static const char *jstr(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

static void after_pin_ok(struct flow *f)
{
	if (f->kind == FLOW_LOSS_CANCEL) {
		wipe_pins(f);
		enter(f, ST_CONFIRM);
	} else
		enter(f, ST_NEW_PIN);
}

/* What a card flow does once the card and (perhaps) its state are known. */
static void card_known(struct flow *f)
{
	const char *cs = f->p.central_state;
	bool lost_central = !strcmp(cs, "temporary") || !strcmp(cs, "formal");
	switch (f->kind) {
	case FLOW_STATUS:
		enter(f, ST_STATUS);
		return;
	case FLOW_PIN_CHANGE:
		if (f->p.listed == 1 || lost_central)
			fail(f, "card_listed", NULL);
		else if (!strcmp(cs, "cancelled"))
			fail(f, "card_cancelled", NULL);
		else
			enter(f, ST_PIN);
		return;
	case FLOW_ACTIVATION:
		if (f->p.listed == 1 || lost_central)
			fail(f, "card_listed", NULL);
		else if (!strcmp(cs, "cancelled"))
			fail(f, "card_cancelled", NULL);
		else if (!strcmp(cs, "normal"))
			fail(f, "already_active", NULL);
		else
			enter(f, ST_PIN); /* sealed, or the central cannot say: the chip decides */
		return;
	case FLOW_LOSS_CANCEL:
		if (f->p.replacement)
			fail(f, "replacement_applied", NULL);
		else if (!strcmp(cs, "cancelled"))
			fail(f, "card_cancelled", NULL);
		else if (lost_central || f->p.listed == 1)
			enter(f, ST_PIN);
		else
			fail(f, "not_lost", NULL);
		return;
	default:
		fail(f, "internal", NULL);
	}
}

void flow_on_card(struct flow *f, uint64_t tag, json_t *reply)
{
	if (!tag || tag != f->tag || f->wait != W_READ)
		return;
	f->tag = 0;
	if (!json_is_true(json_object_get(reply, "ok")) && json_object_get(reply, "error")) {
		const char *e = jstr(reply, "error");
		if (!strcmp(e, "no_card") || !strcmp(e, "card_removed")) {
			f->card_present = false;
			enter(f, ST_INSERT_CARD);
			set_error(f, "card_removed", message("read_failed"));
		} else
			fail(f, !strcmp(e, "not_ssc") ? "not_ssc" : "read_failed", NULL);
		changed(f);
		return;
	}
	const char *id = jstr(reply, "card_id");
	if (strlen(id) != 32) {
		fail(f, "read_failed", NULL);
		changed(f);
		return;
	}
	snprintf(f->p.card_id, sizeof f->p.card_id, "%s", id);
	mask_id(id, f->p.card_masked, sizeof f->p.card_masked);
	mask_name(jstr(reply, "name"), f->p.name_masked, sizeof f->p.name_masked);
	snprintf(f->p.expiry, sizeof f->p.expiry, "%s", jstr(reply, "expiry_date"));
	json_t *loss = json_object_get(reply, "loss");
	json_t *listed = json_object_get(loss, "listed");
	f->p.listed = json_is_boolean(listed) ? json_is_true(listed) : -1;
	snprintf(f->p.listed_state, sizeof f->p.listed_state, "%s", jstr(loss, "state"));
	snprintf(f->p.listed_since, sizeof f->p.listed_since, "%s", jstr(loss, "since"));
	if (f->kind == FLOW_PIN_CHANGE && f->p.listed != 1)
		enter(f, ST_PIN); /* the chip is all a PIN change needs */
	else if (f->kind == FLOW_PIN_CHANGE)
		fail(f, "card_listed", NULL);
	else
		central_get_card(f, W_CARD_STATE);
	changed(f);
}

void flow_on_pin(struct flow *f, uint64_t tag, json_t *reply)
{
	if (!tag || tag != f->tag || (f->wait != W_PIN_VERIFY && f->wait != W_PIN_CHANGE))
		return;
	enum wait w = f->wait;
	f->tag = 0;
	const char *e = jstr(reply, "error");
	json_t *tries = json_object_get(reply, "tries_left");
	if (json_is_true(json_object_get(reply, "ok"))) {
		if (w == W_PIN_VERIFY)
			after_pin_ok(f);
		else {
			wipe_pins(f);
			submit(f);
		}
	} else if (!strcmp(e, "pin_wrong") && json_is_integer(tries) && json_integer_value(tries) > 0) {
		wipe_pins(f);
		enter(f, ST_PIN);
		set_error(f, "pin_wrong", NULL);
		f->err_tries = (int)json_integer_value(tries);
	} else if (!strcmp(e, "pin_wrong") || !strcmp(e, "pin_blocked")) {
		fail(f, "pin_blocked", NULL);
	} else if (!strcmp(e, "card_removed") || !strcmp(e, "no_card")) {
		fail(f, "card_removed", NULL);
	} else
		fail(f, "read_failed", NULL);
	changed(f);
}

static bool client_error(long status)
{
	return status >= 400 && status < 500 && status != 401 && status != 403 && status != 408 &&
	       status != 429;
}

void flow_on_central(struct flow *f, uint64_t tag, long status, json_t *body, const char *err)
{
	if (!tag || tag != f->tag)
		return;
	enum wait w = f->wait;
	const char *code = jstr(body, "error");
	bool ok = status >= 200 && status < 300;
	f->tag = 0;
	switch (w) {
	case W_LOOKUP:
		if (ok) {
			snprintf(f->p.otp_to, sizeof f->p.otp_to, "%s", jstr(body, "otp_sent_to"));
			enter(f, ST_OTP);
		} else if (status == 404 || !strcmp(code, "holder_not_found")) {
			if (++f->p.identity_fails >= f->cfg->identity_retry_limit)
				fail(f, "identity_limit", NULL);
			else {
				enter(f, ST_IDENTIFY);
				set_error(f, "holder_not_found", NULL);
				f->err_tries = (int)(f->cfg->identity_retry_limit - f->p.identity_fails);
			}
		} else if (!strcmp(code, "check_digit")) {
			enter(f, ST_IDENTIFY);
			set_error(f, "check_digit", NULL);
		} else
			fail(f, "central_unreachable", NULL);
		break;
	case W_OTP:
		if (ok) {
			json_t *cards = json_object_get(body, "cards"), *c;
			size_t i;
			f->p.n_cards = 0;
			json_array_foreach(cards, i, c) {
				const char *id = jstr(c, "card_id");
				if (f->p.n_cards >= FLOW_CARDS_MAX || strlen(id) != 32)
					continue;
				unsigned n = f->p.n_cards++;
				snprintf(f->p.cards[n].id, sizeof f->p.cards[n].id, "%s", id);
				mask_id(id, f->p.cards[n].masked, sizeof f->p.cards[n].masked);
				snprintf(f->p.cards[n].state, sizeof f->p.cards[n].state, "%s",
					 jstr(c, "state"));
			}
			if (!f->p.n_cards)
				fail(f, "no_cards", NULL);
			else
				enter(f, ST_CHOOSE_CARD);
		} else if (!strcmp(code, "otp_wrong")) {
			json_int_t left = json_integer_value(json_object_get(body, "tries_left"));
			if (left > 0) {
				enter(f, ST_OTP);
				set_error(f, "otp_wrong", NULL);
				f->err_tries = (int)left;
			} else
				fail(f, "otp_limit", NULL);
		} else if (!strcmp(code, "otp_expired"))
			fail(f, "otp_expired", NULL);
		else
			fail(f, "central_unreachable", NULL);
		break;
	case W_CARD_STATE:
	case W_PROGRESS:
		if (ok) {
			snprintf(f->p.central_state, sizeof f->p.central_state, "%s", jstr(body, "state"));
			json_t *r = json_object_get(body, "replacement");
			json_decref(f->p.replacement);
			f->p.replacement = json_is_object(r) ? json_deep_copy(r) : NULL;
		} else if (status == 404 && w == W_CARD_STATE && f->kind != FLOW_STATUS) {
			fail(f, "card_unknown", NULL);
			break;
		} else if (!client_error(status) || status == 404)
			f->p.offline = status != 404;
		if (w == W_PROGRESS) {
			if (f->p.offline && !ok)
				fail(f, "central_unreachable", NULL);
			else
				enter(f, ST_PROGRESS);
		} else
			card_known(f);
		break;
	default:
		return;
	}
	(void)err;
	changed(f);
}

void flow_card_event(struct flow *f, const char *reader, bool present)
{
	if (present) {
		if (f->card_present && strcmp(f->reader, reader))
			return; /* we follow the first card */
		snprintf(f->reader, sizeof f->reader, "%s", reader);
		f->card_present = true;
		if (f->step == ST_INSERT_CARD) {
			clear_error(f);
			read_card(f);
			changed(f);
		}
		return;
	}
	if (strcmp(f->reader, reader) || !f->card_present)
		return;
	f->card_present = false;
	switch (f->step) {
	case ST_TAKE_CARD:
		home(f);
		break;
	case ST_HOME:
	case ST_INSERT_CARD:
	case ST_RECEIPT:
	case ST_ERROR:
	case ST_STATUS:
		break; /* nothing is lost: the flow ends or waits as it was */
	default:
		if (!card_flow(f->kind))
			return;
		fail(f, "card_removed", NULL);
		f->tag = 0;
	}
	changed(f);
}

void flow_outbox_event(struct flow *f, const char *reference, bool delivered)
{
	if (f->step != ST_RECEIPT || strcmp(reference, f->p.receipt.reference))
		return;
	f->p.receipt.delivery = delivered ? DELIVERY_DONE : DELIVERY_REFUSED;
	changed(f);
}

void flow_timeout(struct flow *f)
{
	if (!f->deadline || f->ops->now_ms(f->ops->arg) < f->deadline)
		return;
	switch (f->step) {
	case ST_ERROR:
	case ST_RECEIPT:
	case ST_STATUS:
	case ST_PROGRESS:
		finish(f);
		break;
	case ST_TAKE_CARD:
		home(f);
		break;
	case ST_BUSY:
		fail(f, "no_answer", NULL);
		break;
	default:
		finish(f);
		set_error(f, "timeout", NULL);
	}
	changed(f);
}

/* ---- the person's input ------------------------------------------------- */

static bool digits(const char *s, size_t lo, size_t hi)
{
	size_t n = strlen(s);
	if (n < lo || n > hi)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* SSN as typed: upper-case x; "" when fine, else the error code. */
static const char *ssn_input(const char *in, char out[19])
{
	size_t n = strlen(in);
	if (n != 18)
		return "ssn_format";
	for (size_t i = 0; i < 18; i++) {
		char c = in[i];
		if (c == 'x')
			c = 'X';
		if (!((c >= '0' && c <= '9') || (c == 'X' && i == 17)))
			return "ssn_format";
		out[i] = c;
	}
	out[18] = 0;
	return ssc_ssn_check(out) ? "" : "check_digit";
}

static bool name_ok(const char *s)
{
	size_t n = strlen(s);
	if (!n || n > 60)
		return false;
	for (const unsigned char *c = (const unsigned char *)s; *c; c++)
		if (*c < 0x20 || *c == 0x7f || *c == '<' || *c == '>')
			return false;
	return true;
}

static bool selectable(const struct flow *f, const char *state)
{
	if (f->kind == FLOW_LOSS_REPORT)
		return !strcmp(state, "normal") || !strcmp(state, "sealed") ||
		       !strcmp(state, "temporary");
	if (f->kind == FLOW_REPLACEMENT && !f->what_progress)
		return strcmp(state, "cancelled") != 0;
	return true;
}

static enum flow_kind kind_named(const char *s)
{
	for (int k = FLOW_LOSS_REPORT; k < FLOW__COUNT; k++)
		if (!strcmp(KIND_NAMES[k], s))
			return (enum flow_kind)k;
	return FLOW_NONE;
}

static enum ss_err bad(char *err, size_t errlen, const char *msg)
{
	snprintf(err, errlen, "%s", msg);
	return SS_E_INVALID;
}

static void start(struct flow *f, enum flow_kind k)
{
	wipe_personal(f);
	f->kind = k;
	f->what_progress = false;
	clear_error(f);
	switch (k) {
	case FLOW_LOSS_REPORT: enter(f, ST_IDENTIFY); break;
	case FLOW_REPLACEMENT: enter(f, ST_REPLACE_MENU); break;
	default:
		enter(f, ST_INSERT_CARD);
		if (f->card_present)
			read_card(f);
	}
}

static void pin_entered(struct flow *f, const char *pin)
{
	if (!digits(pin, f->cfg->pin_min_len, f->cfg->pin_max_len)) {
		set_error(f, "pin_format", NULL);
		return;
	}
	snprintf(f->p.pin_old, sizeof f->p.pin_old, "%s", pin);
	uint64_t tag = ask(f, W_PIN_VERIFY);
	f->ops->pin(f->ops->arg, f->reader, f->p.pin_old, NULL, tag);
}

static void new_pin_entered(struct flow *f, const char *pin)
{
	enum pin_verdict v = pin_judge(pin, NULL, f->cfg->pin_min_len, f->cfg->pin_max_len);
	if (v != PIN_OK) {
		set_error(f, pin_verdict_code(v), pin_verdict_text(v));
		return;
	}
	if (!strcmp(pin, f->p.pin_old)) {
		set_error(f, "pin_same", NULL);
		return;
	}
	snprintf(f->p.pin_new, sizeof f->p.pin_new, "%s", pin);
	enter(f, ST_NEW_PIN_AGAIN);
}

static void new_pin_again(struct flow *f, const char *pin)
{
	enum pin_verdict v = pin_judge(f->p.pin_new, pin, f->cfg->pin_min_len, f->cfg->pin_max_len);
	if (v != PIN_OK) {
		sodium_memzero(f->p.pin_new, sizeof f->p.pin_new);
		enter(f, ST_NEW_PIN);
		set_error(f, v == PIN_MISMATCH ? "pin_mismatch" : pin_verdict_code(v),
			  v == PIN_MISMATCH ? NULL : pin_verdict_text(v));
		return;
	}
	uint64_t tag = ask(f, W_PIN_CHANGE);
	f->ops->pin(f->ops->arg, f->reader, f->p.pin_old, f->p.pin_new, tag);
}

static enum ss_err input(struct flow *f, json_t *req, char *err, size_t errlen)
{
	const char *v;
	switch (f->step) {
	case ST_REPLACE_MENU:
		v = jstr(req, "what");
		if (strcmp(v, "apply") && strcmp(v, "progress"))
			return bad(err, errlen, "what must be apply or progress");
		f->what_progress = !strcmp(v, "progress");
		enter(f, ST_IDENTIFY);
		return SS_OK;
	case ST_IDENTIFY:
	case ST_AGENT: {
		char ssn[19];
		const char *why = ssn_input(jstr(req, "ssn"), ssn);
		if (*why) {
			set_error(f, why, NULL);
			return SS_OK;
		}
		if (!name_ok(jstr(req, "name"))) {
			set_error(f, "name_format", NULL);
			return SS_OK;
		}
		if (f->step == ST_AGENT) {
			if (!strcmp(ssn, f->p.ssn)) {
				set_error(f, "agent_same", NULL);
				return SS_OK;
			}
			snprintf(f->p.agent_ssn, sizeof f->p.agent_ssn, "%s", ssn);
			snprintf(f->p.agent_name, sizeof f->p.agent_name, "%s", jstr(req, "name"));
			enter(f, ST_CONFIRM);
			return SS_OK;
		}
		snprintf(f->p.ssn, sizeof f->p.ssn, "%s", ssn);
		snprintf(f->p.name, sizeof f->p.name, "%s", jstr(req, "name"));
		mask_name(f->p.name, f->p.name_masked, sizeof f->p.name_masked);
		json_t *body = json_pack("{s:s,s:s}", "ssn", f->p.ssn, "name", f->p.name);
		uint64_t tag = ask(f, W_LOOKUP);
		f->ops->central(f->ops->arg, "/v1/holders/lookup", body, tag);
		json_decref(body);
		return SS_OK;
	}
	case ST_OTP: {
		const char *code = jstr(req, "code");
		if (!digits(code, 4, 8)) {
			set_error(f, "otp_format", NULL);
			return SS_OK;
		}
		json_t *body = json_pack("{s:s,s:s}", "ssn", f->p.ssn, "code", code);
		uint64_t tag = ask(f, W_OTP);
		f->ops->central(f->ops->arg, "/v1/holders/verify", body, tag);
		json_decref(body);
		return SS_OK;
	}
	case ST_CHOOSE_CARD: {
		json_t *ix = json_object_get(req, "index");
		if (!json_is_integer(ix) || json_integer_value(ix) < 0 ||
		    json_integer_value(ix) >= (json_int_t)f->p.n_cards)
			return bad(err, errlen, "index must be one of the cards shown");
		int i = (int)json_integer_value(ix);
		if (!selectable(f, f->p.cards[i].state)) {
			set_error(f, "card_not_selectable", NULL);
			return SS_OK;
		}
		f->p.chosen = i;
		snprintf(f->p.card_id, sizeof f->p.card_id, "%s", f->p.cards[i].id);
		snprintf(f->p.card_masked, sizeof f->p.card_masked, "%s", f->p.cards[i].masked);
		if (f->kind == FLOW_LOSS_REPORT)
			enter(f, ST_LOSS_TYPE);
		else if (f->what_progress)
			central_get_card(f, W_PROGRESS);
		else if (!strcmp(f->p.cards[i].state, "temporary") ||
			 !strcmp(f->p.cards[i].state, "formal"))
			enter(f, ST_OUTLET);
		else
			enter(f, ST_REASON);
		return SS_OK;
	}
	case ST_LOSS_TYPE:
		v = jstr(req, "loss");
		if (strcmp(v, "temporary") && strcmp(v, "formal"))
			return bad(err, errlen, "loss must be temporary or formal");
		snprintf(f->p.loss, sizeof f->p.loss, "%s", v);
		enter(f, ST_CONFIRM);
		return SS_OK;
	case ST_REASON:
		v = jstr(req, "reason");
		if (!strcmp(v, "damaged")) {
			f->p.damaged = true;
			enter(f, ST_OUTLET);
		} else if (!strcmp(v, "lost"))
			fail(f, "report_loss_first", NULL);
		else
			return bad(err, errlen, "reason must be damaged or lost");
		return SS_OK;
	case ST_OUTLET: {
		json_t *ix = json_object_get(req, "outlet");
		if (!json_is_integer(ix) || json_integer_value(ix) < 0 ||
		    json_integer_value(ix) >= n_outlets(f->cfg))
			return bad(err, errlen, "outlet must be one of the outlets shown");
		f->p.outlet = (int)json_integer_value(ix);
		f->p.delegated = json_is_true(json_object_get(req, "delegated"));
		enter(f, f->p.delegated ? ST_AGENT : ST_CONFIRM);
		return SS_OK;
	}
	case ST_CONFIRM:
		if (!json_is_true(json_object_get(req, "confirm")))
			return bad(err, errlen, "confirm must be true (cancel to leave)");
		submit(f);
		return SS_OK;
	case ST_PIN:
		pin_entered(f, jstr(req, "pin"));
		return SS_OK;
	case ST_NEW_PIN:
		new_pin_entered(f, jstr(req, "pin"));
		return SS_OK;
	case ST_NEW_PIN_AGAIN:
		new_pin_again(f, jstr(req, "pin"));
		return SS_OK;
	default:
		snprintf(err, errlen, "the %s screen takes no input", flow_step_name(f->step));
		return SS_E_BUSY;
	}
}

enum ss_err flow_action(struct flow *f, json_t *req, char *err, size_t errlen)
{
	const char *a = jstr(req, "action");
	enum ss_err e = SS_OK;
	if (!json_is_object(req))
		return bad(err, errlen, "the request must be a JSON object");
	if (!strcmp(a, "start")) {
		enum flow_kind k = kind_named(jstr(req, "flow"));
		if (k == FLOW_NONE)
			return bad(err, errlen,
				   "flow must be loss_report, loss_cancel, replacement, activation, pin_change or status");
		if (f->step != ST_HOME) {
			snprintf(err, errlen, "a %s is under way; cancel it first", flow_kind_name(f->kind));
			return SS_E_BUSY;
		}
		start(f, k);
	} else if (!strcmp(a, "cancel")) {
		if (f->step == ST_HOME)
			return SS_OK;
		if (f->step == ST_TAKE_CARD) /* the card is still in: keep asking */
			return SS_OK;
		if (f->step == ST_BUSY && f->wait == W_PIN_CHANGE) {
			/* the chip may be changing right now: its answer decides */
			snprintf(err, errlen, "the card's PIN is being changed; a moment");
			return SS_E_BUSY;
		}
		clear_error(f);
		finish(f);
	} else if (!strcmp(a, "done")) {
		if (f->step != ST_RECEIPT && f->step != ST_ERROR && f->step != ST_STATUS &&
		    f->step != ST_PROGRESS) {
			snprintf(err, errlen, "nothing to finish on the %s screen", flow_step_name(f->step));
			return SS_E_BUSY;
		}
		clear_error(f);
		finish(f);
	} else if (!strcmp(a, "alive")) {
		if (input_step(f->step) || f->step == ST_CONFIRM || f->step == ST_CHOOSE_CARD)
			enter(f, f->step);
		return SS_OK; /* no new view: only the clock moved */
	} else if (!strcmp(a, "input")) {
		const char *st = jstr(req, "step");
		if (strcmp(st, flow_step_name(f->step))) {
			snprintf(err, errlen, "the screen is %s, not %s", flow_step_name(f->step), st);
			return SS_E_BUSY;
		}
		clear_error(f);
		e = input(f, req, err, errlen);
		if (e != SS_OK)
			return e;
	} else
		return bad(err, errlen, "action must be start, input, cancel, done or alive");
	changed(f);
	return e;
}

/* ---- views -------------------------------------------------------------- */

static json_t *step_data(const struct flow *f)
{
	json_t *d = json_object();
	const struct personal *p = &f->p;
	char buf[80];
	if (*p->card_masked)
		json_object_set_new(d, "card", json_string(p->card_masked));
	if (*p->name_masked)
		json_object_set_new(d, "name", json_string(p->name_masked));
	switch (f->step) {
	case ST_OTP: json_object_set_new(d, "sent_to", json_string(p->otp_to)); break;
	case ST_CHOOSE_CARD: {
		json_t *a = json_array();
		for (unsigned i = 0; i < p->n_cards; i++)
			json_array_append_new(a, json_pack("{s:i,s:s,s:s,s:b}", "index", (int)i, "card",
							   p->cards[i].masked, "state", p->cards[i].state,
							   "selectable", selectable(f, p->cards[i].state)));
		json_object_set_new(d, "cards", a);
		break;
	}
	case ST_LOSS_TYPE:
		json_object_set_new(d, "temporary_days", json_integer(f->cfg->temporary_loss_days));
		break;
	case ST_OUTLET: {
		json_t *a = json_array();
		for (int i = 0;; i++) {
			outlet_name(f->cfg, i, buf, sizeof buf);
			if (!*buf)
				break;
			json_array_append_new(a, json_string(buf));
		}
		json_object_set_new(d, "outlets", a);
		json_object_set_new(d, "fee_fen", json_integer(f->cfg->replacement_fee_fen));
		json_object_set_new(d, "days", json_integer(f->cfg->replacement_days));
		break;
	}
	case ST_CONFIRM:
		if (*p->loss)
			json_object_set_new(d, "loss", json_string(p->loss));
		if (f->kind == FLOW_REPLACEMENT) {
			char date[16];
			outlet_name(f->cfg, p->outlet, buf, sizeof buf);
			json_object_set_new(d, "outlet", json_string(buf));
			json_object_set_new(d, "delegated", json_boolean(p->delegated));
			json_object_set_new(d, "damaged", json_boolean(p->damaged));
			json_object_set_new(d, "fee_fen", json_integer(f->cfg->replacement_fee_fen));
			ready_date(f->ops->wall_s(f->ops->arg), f->cfg->replacement_days, date);
			json_object_set_new(d, "ready_date", json_string(date));
			if (p->delegated) {
				mask_name(p->agent_name, buf, sizeof buf);
				json_object_set_new(d, "agent", json_string(buf));
			}
		}
		if (f->kind == FLOW_LOSS_REPORT)
			json_object_set_new(d, "temporary_days", json_integer(f->cfg->temporary_loss_days));
		break;
	case ST_PIN:
		json_object_set_new(d, "purpose",
				    json_string(f->kind == FLOW_ACTIVATION ? "initial" : "current"));
		/* fall through */
	case ST_NEW_PIN:
	case ST_NEW_PIN_AGAIN:
		json_object_set_new(d, "min", json_integer(f->cfg->pin_min_len));
		json_object_set_new(d, "max", json_integer(f->cfg->pin_max_len));
		break;
	case ST_BUSY: {
		static const char *const what[] = {[W_NONE] = "wait", [W_READ] = "reading",
						    [W_PIN_VERIFY] = "pin", [W_PIN_CHANGE] = "pin",
						    [W_LOOKUP] = "central", [W_OTP] = "central",
						    [W_CARD_STATE] = "central", [W_PROGRESS] = "central"};
		json_object_set_new(d, "what", json_string(what[f->wait]));
		break;
	}
	case ST_RECEIPT: {
		static const char *const del[] = {"pending", "delivered", "refused"};
		time_t t = (time_t)p->receipt.time;
		struct tm tm;
		char when[40];
		localtime_r(&t, &tm);
		strftime(when, sizeof when, "%Y-%m-%d %H:%M", &tm);
		json_object_set_new(d, "reference", json_string(p->receipt.reference));
		json_object_set_new(d, "type", json_string(p->receipt.type));
		json_object_set_new(d, "time", json_string(when));
		json_object_set_new(d, "delivery", json_string(del[p->receipt.delivery]));
		json_object_set_new(d, "printer", json_boolean(*f->cfg->printer != 0));
		if (*p->loss) {
			json_object_set_new(d, "loss", json_string(p->loss));
			json_object_set_new(d, "temporary_days",
					    json_integer(f->cfg->temporary_loss_days));
		}
		if (f->kind == FLOW_REPLACEMENT) {
			outlet_name(f->cfg, p->outlet, buf, sizeof buf);
			json_object_set_new(d, "outlet", json_string(buf));
			json_object_set_new(d, "ready_date", json_string(p->receipt.ready_date));
			json_object_set_new(d, "fee_fen", json_integer(f->cfg->replacement_fee_fen));
		}
		break;
	}
	case ST_STATUS: {
		const char *state = *p->central_state ? p->central_state
				    : p->listed == 1  ? p->listed_state
						      : "unknown";
		char today[16];
		time_t now = (time_t)f->ops->wall_s(f->ops->arg);
		struct tm tm;
		localtime_r(&now, &tm);
		strftime(today, sizeof today, "%Y-%m-%d", &tm);
		json_object_set_new(d, "state", json_string(state));
		json_object_set_new(d, "source", json_string(*p->central_state ? "central" : "local"));
		json_object_set_new(d, "listed", p->listed < 0 ? json_null() : json_boolean(p->listed));
		if (p->listed == 1 && *p->listed_since)
			json_object_set_new(d, "listed_since", json_string(p->listed_since));
		json_object_set_new(d, "expiry_date", json_string(p->expiry));
		json_object_set_new(d, "expired", json_boolean(*p->expiry && strcmp(p->expiry, today) < 0));
		json_object_set_new(d, "offline", json_boolean(p->offline));
		if (f->ops->list_state)
			json_object_set_new(d, "list", f->ops->list_state(f->ops->arg));
		break;
	}
	case ST_PROGRESS:
		json_object_set_new(d, "state", json_string(p->central_state));
		json_object_set_new(d, "replacement",
				    p->replacement ? json_deep_copy(p->replacement) : json_null());
		break;
	default: break;
	}
	return d;
}

json_t *flow_view(const struct flow *f)
{
	uint64_t now = f->ops->now_ms(f->ops->arg);
	json_t *err = json_null();
	if (*f->err_code) {
		err = json_pack("{s:s,s:s}", "code", f->err_code, "message", f->err_msg);
		if (f->err_tries >= 0)
			json_object_set_new(err, "tries_left", json_integer(f->err_tries));
	}
	return json_pack("{s:s,s:s,s:I,s:I,s:I,s:o,s:o,s:b,s:b}", "flow", flow_kind_name(f->kind),
			 "step", flow_step_name(f->step), "seq", (json_int_t)f->seq, "timeout_s",
			 (json_int_t)(f->timeout_ms / 1000), "remaining_ms",
			 (json_int_t)(f->deadline > now ? f->deadline - now : 0), "error", err, "data",
			 step_data(f), "card_present", f->card_present, "offline", f->p.offline);
}

char *flow_receipt_text(const struct flow *f)
{
	if (f->step != ST_RECEIPT)
		return NULL;
	json_t *d = step_data(f);
	char *out = NULL;
	size_t n = 0;
	FILE *m = open_memstream(&out, &n);
	if (!m) {
		json_decref(d);
		return NULL;
	}
	fprintf(m, "Social security card — receipt\n\n");
	fprintf(m, "Reference:  %s\nTime:       %s\nRequest:    %s\n", jstr(d, "reference"),
		jstr(d, "time"), jstr(d, "type"));
	if (*jstr(d, "card"))
		fprintf(m, "Card:       %s\n", jstr(d, "card"));
	if (*jstr(d, "name"))
		fprintf(m, "Holder:     %s\n", jstr(d, "name"));
	if (*jstr(d, "loss"))
		fprintf(m, "Loss:       %s\n", jstr(d, "loss"));
	if (*jstr(d, "outlet"))
		fprintf(m, "Pick up at: %s, from %s\nFee:        %.2f yuan\n", jstr(d, "outlet"),
			jstr(d, "ready_date"),
			(double)json_integer_value(json_object_get(d, "fee_fen")) / 100.0);
	fprintf(m, "\n");
	switch (f->kind) {
	case FLOW_LOSS_REPORT:
		fprintf(m, "- Settlement with this card stops within 1 hour.\n"
			   "- Apply for a replacement with a valid ID card.\n");
		if (!strcmp(f->p.loss, "temporary"))
			fprintf(m, "- A temporary loss lapses after %u days unless made formal.\n",
				f->cfg->temporary_loss_days);
		fprintf(m, "- Money spent before the loss took effect is the holder's risk.\n"
			   "- Emergency admission: pay first, claim later with this receipt.\n");
		break;
	case FLOW_LOSS_CANCEL: fprintf(m, "- Settlement resumes within 1 hour.\n"); break;
	case FLOW_ACTIVATION:
		fprintf(m, "- The card is activated. Do not keep the PIN with the card.\n");
		break;
	case FLOW_PIN_CHANGE: fprintf(m, "- Do not keep the PIN with the card.\n"); break;
	default: break;
	}
	fprintf(m, "\nQuestions: 12333\n");
	fclose(m);
	json_decref(d);
	return out;
}

struct flow *flow_new(const struct config *cfg, const struct flow_ops *ops)
{
	struct flow *f = calloc(1, sizeof *f);
	if (!f)
		return NULL;
	f->cfg = cfg;
	f->ops = ops;
	f->p.chosen = -1;
	f->err_tries = -1;
	/* views are numbered upwards across restarts too: a page that saw an
	 * older daemon's views takes the new ones */
	f->seq = (uint64_t)ops->wall_s(ops->arg) * 1000;
	enter(f, ST_HOME);
	return f;
}

void flow_free(struct flow *f)
{
	if (!f)
		return;
	json_decref(f->p.replacement);
	sodium_memzero(f, sizeof *f);
	free(f);
}
