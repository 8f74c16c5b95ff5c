/* flow.c — the kiosk flows' shared core (flow.h): steps, clocks, errors,
 * the answers from below, the steps every flow uses (identify, code, card
 * choice, PIN entry, confirm). Each flow's own rules are in its file
 * (flowdef.h); what the page shows is in view.c. */
#include "daemon/kiosk/flow.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apdu/ssc.h"
#include "daemon/mask.h"
#include "daemon/kiosk/flowdef.h"
#include "daemon/kiosk/pinrule.h"

static const char *const STEP_NAMES[ST__COUNT] = {
	[ST_HOME] = "home", [ST_REPLACE_MENU] = "replace_menu", [ST_IDENTIFY] = "identify",
	[ST_OTP] = "otp", [ST_CHOOSE_CARD] = "choose_card", [ST_LOSS_TYPE] = "loss_type",
	[ST_REASON] = "reason", [ST_OUTLET] = "outlet", [ST_AGENT] = "agent",
	[ST_CONFIRM] = "confirm", [ST_INSERT_CARD] = "insert_card", [ST_PIN] = "pin",
	[ST_NEW_PIN] = "new_pin", [ST_NEW_PIN_AGAIN] = "new_pin_again", [ST_PIN_OP] = "pin_op",
	[ST_PAY] = "pay",
	[ST_BUSY] = "busy",
	[ST_RECEIPT] = "receipt", [ST_STATUS] = "status", [ST_PROGRESS] = "progress",
	[ST_ERROR] = "error", [ST_TAKE_CARD] = "take_card",
};

static const struct flow_def *const DEFS[FLOW__COUNT] = {
	[FLOW_LOSS_REPORT] = &flow_loss_report, [FLOW_LOSS_CANCEL] = &flow_loss_cancel,
	[FLOW_REPLACEMENT] = &flow_replacement, [FLOW_ACTIVATION] = &flow_activation,
	[FLOW_PIN_CHANGE] = &flow_pin_change, [FLOW_STATUS] = &flow_status,
	[FLOW_PIN_RESET] = &flow_pin_reset,
};

const char *flow_step_name(enum flow_step s)
{
	return s < ST__COUNT ? STEP_NAMES[s] : "?";
}

const char *flow_kind_name(enum flow_kind k)
{
	if (k == FLOW_NONE)
		return "none";
	return k < FLOW__COUNT ? DEFS[k]->name : "?";
}

const struct flow_stats *flow_stats(const struct flow *f)
{
	return &f->stats;
}

enum flow_step flow_step(const struct flow *f)
{
	return f->step;
}

const char *flow_order(const struct flow *f)
{
	return f->p.pay.order_id;
}

enum flow_kind flow_kind(const struct flow *f)
{
	return f->kind;
}

uint64_t flow_deadline(const struct flow *f)
{
	if (f->step == ST_PAY && f->poll_at && (!f->deadline || f->poll_at < f->deadline))
		return f->poll_at;
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
	{"idcard_expired",
	 "This ID card has expired. Please use a valid ID card, or type the number and name."},
	{"idcard_kind",
	 "This terminal reads only resident ID cards. Please type the number and name, or go to the counter."},
	{"idcard_unknown",
	 "No social security card holder matches this ID card. Please go to the counter with it."},
	{"idcard_moved",
	 "The ID card was taken away before it was read. Please put it back and leave it until the screen changes."},
	{"idcard_unreadable",
	 "The ID card could not be read. Please put it on the reader again, or type the number and name."},
	{"identity_limit",
	 "The number and name did not match too many times. Please go to the counter with your ID card."},
	{"otp_format", "The code has 6 digits."},
	{"ecode_expired",
	 "The code on the phone has expired. Please refresh it in the app and scan it again, or use your ID card."},
	{"ecode_used", "This code was used already. Please refresh it in the app and scan it again."},
	{"ecode_unknown",
	 "This code is not a medical insurance e-voucher. Please open the e-voucher in the app and scan that."},
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
	{"pin_blocked_here",
	 "The PIN is blocked after too many wrong tries. You can unlock it here now: press 'Unlock here'."},
	{"pinkey_unavailable",
	 "This terminal cannot unlock or reset a PIN right now. Please go to the counter with your ID card."},
	{"pinkey_blocked",
	 "This card can no longer be unlocked by any terminal. Please go to the counter with your ID card; "
	 "the card will be replaced."},
	{"pinkey_spent",
	 "This card has been unlocked as many times as it may be, so it must be replaced. "
	 "You can apply for a replacement here."},
	{"pinkey_refused",
	 "The card did not accept this terminal's key, so nothing was changed. Please tell the staff."},
	{"proof_refused",
	 "The card service could not confirm who you are, so nothing was changed. Please start again."},
	{"not_card_holder",
	 "This number and name do not belong to the card in the reader. Please check both."},
	{"idcard_required",
	 "For this, put your own ID card on the reader; typing the number is not enough here."},
	{"pin_format", "A PIN has 6 digits."},
	{"pin_same", "The new PIN must differ from the old one."},
	{"pin_mismatch", "The two new PINs are not the same. Please enter the new PIN again."},
	{"outbox_unavailable",
	 "This terminal cannot take requests right now. Please use the counter, or call 12333."},
	{"not_recorded",
	 "Your new PIN is set on the card, but this terminal could not record it. Please tell the staff."},
	{"no_answer", "There was no answer in time. Please try again, or ask the staff."},
	{"internal", "Something went wrong at this terminal. Please ask the staff."},
	{"pay_cancelled", "The payment was cancelled; nothing was paid and nothing was applied for."},
	{"pay_expired",
	 "The time to pay ran out; nothing was paid and nothing was applied for. Please start again."},
	{"pay_unsettled",
	 "The card service cannot be reached to close the payment. If you paid, the new card is applied for "
	 "or the money is returned automatically. Please tell the staff."},
	{"pay_not_recorded",
	 "Your payment arrived, but this terminal could not record the application. It will be applied for "
	 "or the money returned automatically. Please tell the staff."},
};

static const char *message(const char *code)
{
	for (size_t i = 0; i < sizeof MESSAGES / sizeof MESSAGES[0]; i++)
		if (!strcmp(MESSAGES[i].code, code))
			return MESSAGES[i].text;
	return "Something went wrong. Please ask the staff.";
}

/* ---- steps, clocks, errors ---------------------------------------------- */

static bool card_flow(const struct flow *f)
{
	return f->def && f->def->card;
}

static bool input_step(enum flow_step s)
{
	return s == ST_IDENTIFY || s == ST_OTP || s == ST_PIN || s == ST_NEW_PIN ||
	       s == ST_NEW_PIN_AGAIN || s == ST_AGENT;
}

/* This terminal can unlock a PIN now: a PSAM or the HSM, and the ID card
 * reader when the policy wants an ID card. */
static bool pinkey_able(const struct flow *f)
{
	if (!f->ops->pinkey_able || !f->ops->pinkey_able(f->ops->arg))
		return false;
	return f->cfg->pin_reset_proof != CFG_PROOF_IDCARD_OTP ||
	       (f->ops->idcard_state && !strcmp(f->ops->idcard_state(f->ops->arg), "ready"));
}

bool fl_pinkey_able(const struct flow *f)
{
	return pinkey_able(f);
}

enum flow_kind fl_offer(const struct flow *f)
{
	if (f->step != ST_ERROR)
		return FLOW_NONE;
	if (!strcmp(f->err_code, "pin_blocked_here") && pinkey_able(f))
		return FLOW_PIN_RESET;
	if (!strcmp(f->err_code, "pinkey_spent"))
		return FLOW_REPLACEMENT;
	return FLOW_NONE;
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

void fl_set_error(struct flow *f, const char *code, const char *msg)
{
	snprintf(f->err_code, sizeof f->err_code, "%s", code);
	snprintf(f->err_msg, sizeof f->err_msg, "%s", msg ? msg : message(code));
	f->err_tries = -1;
}

void fl_wipe_pins(struct flow *f)
{
	sodium_memzero(f->p.pin_old, sizeof f->p.pin_old);
	sodium_memzero(f->p.pin_new, sizeof f->p.pin_new);
}

void fl_enter(struct flow *f, enum flow_step s)
{
	unsigned t = 0;
	f->step = s;
	f->wait = s == ST_BUSY ? f->wait : W_NONE;
	if (s == ST_ERROR) /* a next step offered: time to read it and choose */
		t = fl_offer(f) != FLOW_NONE ? f->cfg->step_timeout_s * 1000 : FLOW_ERROR_SHOW_MS;
	else if (input_step(s))
		t = f->cfg->pin_timeout_s * 1000;
	else if (s == ST_PAY)
		t = f->cfg->payment_timeout_s * 1000;
	else if (s != ST_HOME)
		t = f->cfg->step_timeout_s * 1000;
	f->timeout_ms = t;
	f->deadline = t ? f->ops->now_ms(f->ops->arg) + t : 0;
}

static void wipe_personal(struct flow *f)
{
	free(f->pay_svg);
	f->pay_svg = NULL;
	f->poll_at = 0;
	json_decref(f->p.replacement);
	sodium_memzero(&f->p, sizeof f->p);
	f->p.chosen = -1;
}

static void home(struct flow *f)
{
	f->kind = FLOW_NONE;
	f->def = NULL;
	fl_enter(f, ST_HOME);
}

/* The flow ends: everything personal goes, the card is asked back. */
const char *pay_outcome_name(enum pay_outcome o)
{
	static const char *const N[] = {"paid", "already_paid", "cancelled", "expired", "unsettled"};
	return o < PAY__OUTCOMES ? N[o] : "unknown";
}

const char *flow_outcome_name(enum flow_outcome o)
{
	static const char *const N[] = {"completed", "refused", "cancelled", "timed_out"};
	return o < FLOW__OUTCOMES ? N[o] : "unknown";
}

/* How a flow ends on "done" or its screen's clock: by the screen it is on. */
static enum flow_outcome by_step(const struct flow *f)
{
	return f->step == ST_ERROR ? FLOW_REFUSED : FLOW_COMPLETED;
}

static void finish(struct flow *f, enum flow_outcome o)
{
	if (f->kind > FLOW_NONE && f->kind < FLOW__COUNT)
		f->stats.finished[f->kind][o]++;
	wipe_personal(f);
	f->tag = 0;
	f->wait = W_NONE;
	if (card_flow(f) && f->card_present)
		fl_enter(f, ST_TAKE_CARD);
	else
		home(f);
}

/* A refusal screen; after FLOW_ERROR_SHOW_MS (or "done") the flow ends. */
void fl_fail(struct flow *f, const char *code, const char *msg)
{
	fl_set_error(f, code, msg);
	f->tag = 0;
	fl_wipe_pins(f);
	fl_enter(f, ST_ERROR);
}

uint64_t fl_ask_quiet(struct flow *f, enum wait w)
{
	f->wait = w;
	f->tag = ++f->next_tag;
	return f->tag;
}

uint64_t fl_ask(struct flow *f, enum wait w)
{
	f->wait = w;
	f->tag = ++f->next_tag;
	fl_enter(f, ST_BUSY);
	return f->tag;
}

/* ---- below: card, central, outbox --------------------------------------- */

static void read_card(struct flow *f)
{
	uint64_t tag = fl_ask(f, W_READ);
	f->ops->card_read(f->ops->arg, f->reader, tag);
}

void fl_get_card(struct flow *f, enum wait w)
{
	char path[80];
	snprintf(path, sizeof path, "/v1/cards/%s", f->p.card_id);
	uint64_t tag = fl_ask(f, w);
	f->ops->central(f->ops->arg, path, NULL, tag);
}

/* Into the outbox; the receipt screen on success. */
void fl_submit(struct flow *f)
{
	const char *type = f->def->request;
	json_t *fields = json_object();
	struct outbox_receipt r;
	char err[300] = "";
	if (f->def->fields)
		f->def->fields(f, fields);
	enum ss_err e = f->ops->submit(f->ops->arg, type, f->p.card_id, fields, &r, err, sizeof err);
	json_decref(fields);
	if (e != SS_OK) {
		bool chip_changed = f->def->chip_changed;
		fl_fail(f, chip_changed ? "not_recorded" : e == SS_E_OUTBOX ? "outbox_unavailable" : "internal",
			NULL);
		return;
	}
	fl_receipt(f, type, &r);
}

void fl_receipt(struct flow *f, const char *type, const struct outbox_receipt *rr)
{
	struct outbox_receipt r = *rr;
	snprintf(f->p.receipt.reference, sizeof f->p.receipt.reference, "%s", r.reference);
	snprintf(f->p.receipt.type, sizeof f->p.receipt.type, "%s", type);
	f->p.receipt.time = f->ops->wall_s(f->ops->arg);
	f->p.receipt.delivery = DELIVERY_PENDING;
	if (f->def->taken)
		f->def->taken(f);
	clear_error(f);
	fl_enter(f, ST_RECEIPT);
}

/* ---- answers ------------------------------------------------------------ */

const char *fl_jstr(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

static void after_pin_ok(struct flow *f)
{
	if (f->def->pin_verified)
		f->def->pin_verified(f);
	else
		fl_enter(f, ST_NEW_PIN);
}

bool fl_central_lost(const struct flow *f)
{
	const char *cs = f->p.central_state;
	return !strcmp(cs, "temporary") || !strcmp(cs, "formal");
}

/* What a card flow does once the card and (perhaps) its state are known. */
static void card_known(struct flow *f)
{
	if (f->def && f->def->card_known)
		f->def->card_known(f);
	else
		fl_fail(f, "internal", NULL);
}

void flow_on_card(struct flow *f, uint64_t tag, json_t *reply)
{
	if (!tag || tag != f->tag || f->wait != W_READ)
		return;
	f->tag = 0;
	if (!json_is_true(json_object_get(reply, "ok")) && json_object_get(reply, "error")) {
		const char *e = fl_jstr(reply, "error");
		if (!strcmp(e, "no_card") || !strcmp(e, "card_removed")) {
			f->card_present = false;
			fl_enter(f, ST_INSERT_CARD);
			fl_set_error(f, "card_removed", message("read_failed"));
		} else
			fl_fail(f, !strcmp(e, "not_ssc") ? "not_ssc" : "read_failed", NULL);
		changed(f);
		return;
	}
	const char *id = fl_jstr(reply, "card_id");
	if (strlen(id) != 32) {
		fl_fail(f, "read_failed", NULL);
		changed(f);
		return;
	}
	snprintf(f->p.card_id, sizeof f->p.card_id, "%s", id);
	/* 卡号: the number printed on the card, which the holder knows (the
	 * chip's 卡识别码 matches nothing they can see); else the central's */
	f->p.card_masked[0] = 0;
	if (*fl_jstr(reply, "card_number"))
		mask_card_number(fl_jstr(reply, "card_number"), f->p.card_masked, sizeof f->p.card_masked);
	mask_name(fl_jstr(reply, "name"), f->p.name_masked, sizeof f->p.name_masked);
	snprintf(f->p.expiry, sizeof f->p.expiry, "%s", fl_jstr(reply, "expiry_date"));
	snprintf(f->p.card_ssn, sizeof f->p.card_ssn, "%s", fl_jstr(reply, "ssn"));
	/* a third-generation card this terminal could not open: the screens
	 * say so instead of leaving the name out without a word */
	json_t *auth = json_object_get(reply, "auth");
	f->p.holder_hidden = auth && !json_is_true(json_object_get(auth, "ok"));
	json_t *loss = json_object_get(reply, "loss");
	json_t *listed = json_object_get(loss, "listed");
	f->p.listed = json_is_boolean(listed) ? json_is_true(listed) : -1;
	snprintf(f->p.listed_state, sizeof f->p.listed_state, "%s", fl_jstr(loss, "state"));
	snprintf(f->p.listed_since, sizeof f->p.listed_since, "%s", fl_jstr(loss, "since"));
	if (f->def->card_read)
		f->def->card_read(f);
	else
		fl_get_card(f, W_CARD_STATE);
	changed(f);
}

void flow_on_pin(struct flow *f, uint64_t tag, json_t *reply)
{
	if (!tag || tag != f->tag ||
	    (f->wait != W_PIN_VERIFY && f->wait != W_PIN_CHANGE && f->wait != W_PIN_STATUS && f->wait != W_PINKEY))
		return;
	enum wait w = f->wait;
	f->tag = 0;
	if (w == W_PIN_STATUS || w == W_PINKEY) {
		if (f->def->pin_answer)
			f->def->pin_answer(f, w, reply);
		else
			fl_fail(f, "internal", NULL);
		changed(f);
		return;
	}
	const char *e = fl_jstr(reply, "error");
	json_t *tries = json_object_get(reply, "tries_left");
	if (json_is_true(json_object_get(reply, "ok"))) {
		if (w == W_PIN_VERIFY)
			after_pin_ok(f);
		else {
			fl_wipe_pins(f);
			fl_submit(f);
		}
	} else if (!strcmp(e, "pin_wrong") && json_is_integer(tries) && json_integer_value(tries) > 0) {
		fl_wipe_pins(f);
		fl_enter(f, ST_PIN);
		fl_set_error(f, "pin_wrong", NULL);
		f->err_tries = (int)json_integer_value(tries);
	} else if (!strcmp(e, "pin_wrong") || !strcmp(e, "pin_blocked")) {
		/* a terminal that can unlock it says so, and offers it */
		fl_fail(f, pinkey_able(f) ? "pin_blocked_here" : "pin_blocked", NULL);
	} else if (!strcmp(e, "card_removed") || !strcmp(e, "no_card")) {
		fl_fail(f, "card_removed", NULL);
	} else
		fl_fail(f, "read_failed", NULL);
	changed(f);
}

static bool client_error(long status)
{
	return status >= 400 && status < 500 && status != 401 && status != 403 && status != 408 &&
	       status != 429;
}

void fl_take_cards(struct flow *f, json_t *body)
{
	json_t *cards = json_object_get(body, "cards"), *c;
	size_t i;
	f->p.n_cards = 0;
	json_array_foreach(cards, i, c) {
		const char *id = fl_jstr(c, "card_id");
		if (f->p.n_cards >= FLOW_CARDS_MAX || strlen(id) != 32)
			continue;
		unsigned n = f->p.n_cards++;
		snprintf(f->p.cards[n].id, sizeof f->p.cards[n].id, "%s", id);
		/* the printed number; a central that gives none: the masked chip id */
		if (*fl_jstr(c, "card_number"))
			mask_card_number(fl_jstr(c, "card_number"), f->p.cards[n].masked, sizeof f->p.cards[n].masked);
		else
			mask_id(id, f->p.cards[n].masked, sizeof f->p.cards[n].masked);
		snprintf(f->p.cards[n].state, sizeof f->p.cards[n].state, "%s", fl_jstr(c, "state"));
	}
	if (!f->p.n_cards)
		fl_fail(f, "no_cards", NULL);
	else
		fl_enter(f, ST_CHOOSE_CARD);
}

/* Whether the one-time code is still wanted after an e-voucher code. */
static bool ecode_wants_otp(const struct flow *f)
{
	return f->def->two_proofs || !f->cfg->ecode_identifies;
}

/* The central's holder for a scanned code. */
static void ecode_resolved(struct flow *f, json_t *body)
{
	const char *ssn = fl_jstr(body, "ssn");
	if (strlen(ssn) != 18 || !ssc_ssn_check(ssn)) {
		fl_fail(f, "central_unreachable", NULL); /* an answer that is not one */
		return;
	}
	if (f->def->identity && !f->def->identity(f, ssn)) {
		if (f->step != ST_ERROR)
			fl_enter(f, ST_IDENTIFY);
		return;
	}
	snprintf(f->p.ssn, sizeof f->p.ssn, "%s", ssn);
	snprintf(f->p.name, sizeof f->p.name, "%s", fl_jstr(body, "name"));
	mask_name(f->p.name, f->p.name_masked, sizeof f->p.name_masked);
	f->p.by_ecode = true;
	if (ecode_wants_otp(f) && *fl_jstr(body, "otp_sent_to")) {
		snprintf(f->p.otp_to, sizeof f->p.otp_to, "%s", fl_jstr(body, "otp_sent_to"));
		fl_enter(f, ST_OTP);
	} else if (ecode_wants_otp(f))
		fl_fail(f, "central_unreachable", NULL); /* it sent no code to the phone */
	else
		fl_take_cards(f, body);
}

void flow_on_central(struct flow *f, uint64_t tag, long status, json_t *body, const char *err)
{
	if (!tag || tag != f->tag)
		return;
	enum wait w = f->wait;
	const char *code = fl_jstr(body, "error");
	bool ok = status >= 200 && status < 300;
	f->tag = 0;
	switch (w) {
	case W_LOOKUP:
		if (ok && f->p.by_idcard && f->cfg->idcard_identifies && !f->def->two_proofs &&
		    !strcmp(fl_jstr(body, "identified_by"), "idcard")) {
			fl_take_cards(f, body); /* no one-time code: the ID card was enough */
		} else if (ok) {
			snprintf(f->p.otp_to, sizeof f->p.otp_to, "%s", fl_jstr(body, "otp_sent_to"));
			fl_enter(f, ST_OTP);
		} else if (status == 404 || !strcmp(code, "holder_not_found")) {
			if (++f->p.identity_fails >= f->cfg->identity_retry_limit)
				fl_fail(f, "identity_limit", NULL);
			else {
				fl_enter(f, ST_IDENTIFY);
				fl_set_error(f, f->p.by_idcard ? "idcard_unknown" : "holder_not_found", NULL);
				f->err_tries = (int)(f->cfg->identity_retry_limit - f->p.identity_fails);
			}
		} else if (!strcmp(code, "check_digit")) {
			fl_enter(f, ST_IDENTIFY);
			fl_set_error(f, "check_digit", NULL);
		} else
			fl_fail(f, "central_unreachable", NULL);
		break;
	case W_ECODE:
		if (ok)
			ecode_resolved(f, body);
		else if (status == 410 || status == 404 || status == 400) {
			const char *why = !strcmp(code, "code_used") ? "ecode_used"
					  : status == 410 ? "ecode_expired" : "ecode_unknown";
			if (++f->p.identity_fails >= f->cfg->identity_retry_limit)
				fl_fail(f, "identity_limit", NULL);
			else {
				fl_enter(f, ST_IDENTIFY);
				fl_set_error(f, why, NULL);
			}
		} else
			fl_fail(f, "central_unreachable", NULL);
		break;
	case W_PAY_ORDER:
	case W_PAY_POLL:
	case W_PAY_CANCEL:
		fl_pay_answer(f, w, status, body);
		if (w == W_PAY_POLL && f->step == ST_PAY)
			return; /* not paid yet: the same screen, no new view (the caller re-arms) */
		break;
	case W_OTP:
		if (ok && f->def->verified)
			f->def->verified(f, body);
		else if (ok)
			fl_take_cards(f, body);
		else if (!strcmp(code, "otp_wrong")) {
			json_int_t left = json_integer_value(json_object_get(body, "tries_left"));
			if (left > 0) {
				fl_enter(f, ST_OTP);
				fl_set_error(f, "otp_wrong", NULL);
				f->err_tries = (int)left;
			} else
				fl_fail(f, "otp_limit", NULL);
		} else if (!strcmp(code, "otp_expired"))
			fl_fail(f, "otp_expired", NULL);
		else
			fl_fail(f, "central_unreachable", NULL);
		break;
	case W_CARD_STATE:
	case W_PROGRESS:
		if (ok) {
			snprintf(f->p.central_state, sizeof f->p.central_state, "%s", fl_jstr(body, "state"));
			if (!*f->p.card_masked && *fl_jstr(body, "card_number")) /* the chip gave none */
				mask_card_number(fl_jstr(body, "card_number"), f->p.card_masked,
						 sizeof f->p.card_masked);
			json_t *r = json_object_get(body, "replacement");
			json_decref(f->p.replacement);
			f->p.replacement = json_is_object(r) ? json_deep_copy(r) : NULL;
		} else if (status == 404 && w == W_CARD_STATE && !f->def->unknown_card_ok) {
			fl_fail(f, "card_unknown", NULL);
			break;
		} else if (!client_error(status) || status == 404)
			f->p.offline = status != 404;
		if (w == W_PROGRESS) {
			if (f->p.offline && !ok)
				fl_fail(f, "central_unreachable", NULL);
			else
				fl_enter(f, ST_PROGRESS);
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
		if (!card_flow(f))
			return;
		fl_fail(f, "card_removed", NULL);
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
	uint64_t now = f->ops->now_ms(f->ops->arg);
	if (f->step == ST_PAY && f->poll_at && now >= f->poll_at && (!f->deadline || now < f->deadline)) {
		fl_pay_poll(f); /* is it paid yet? */
		return;
	}
	if (!f->deadline || now < f->deadline)
		return;
	switch (f->step) {
	case ST_PAY:
		fl_pay_cancel(f, false); /* the order's time ran out: cancelled, or paid just now */
		break;
	case ST_ERROR:
	case ST_RECEIPT:
	case ST_STATUS:
	case ST_PROGRESS:
		finish(f, by_step(f));
		break;
	case ST_TAKE_CARD:
		home(f);
		break;
	case ST_BUSY:
		fl_fail(f, "no_answer", NULL);
		break;
	default:
		finish(f, FLOW_TIMED_OUT);
		fl_set_error(f, "timeout", NULL);
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

bool fl_identity(struct flow *f, json_t *req, char ssn[19])
{
	const char *why = ssn_input(fl_jstr(req, "ssn"), ssn);
	if (*why) {
		fl_set_error(f, why, NULL);
		return false;
	}
	if (!name_ok(fl_jstr(req, "name"))) {
		fl_set_error(f, "name_format", NULL);
		return false;
	}
	return true;
}

enum ss_err fl_no_input(struct flow *f, char *err, size_t errlen)
{
	snprintf(err, errlen, "the %s screen takes no input", flow_step_name(f->step));
	return SS_E_BUSY;
}

bool fl_selectable(const struct flow *f, const char *state)
{
	return !f->def->selectable || f->def->selectable(f, state);
}

static enum flow_kind kind_named(const char *s)
{
	for (int k = FLOW_LOSS_REPORT; k < FLOW__COUNT; k++)
		if (!strcmp(DEFS[k]->name, s))
			return (enum flow_kind)k;
	return FLOW_NONE;
}

enum ss_err fl_bad(char *err, size_t errlen, const char *msg)
{
	snprintf(err, errlen, "%s", msg);
	return SS_E_INVALID;
}

static void start(struct flow *f, enum flow_kind k)
{
	wipe_personal(f);
	f->kind = k;
	f->def = DEFS[k];
	f->stats.started[k]++;
	f->what_progress = false;
	clear_error(f);
	if (f->def->first == ST_IDENTIFY)
		fl_identify(f);
	else
		fl_enter(f, f->def->first);
	if (f->def->pinkey && !pinkey_able(f)) {
		fl_fail(f, "pinkey_unavailable", NULL); /* the home screen said so too */
		return;
	}
	if (f->def->first == ST_INSERT_CARD && f->card_present)
		read_card(f);
}

void fl_identify(struct flow *f)
{
	fl_enter(f, ST_IDENTIFY);
	if (f->ops->idcard_read && f->ops->idcard_state &&
	    !strcmp(f->ops->idcard_state(f->ops->arg), "ready")) {
		f->idcard_tag = ++f->next_tag;
		f->ops->idcard_read(f->ops->arg, f->idcard_tag);
	}
}

static void pin_entered(struct flow *f, const char *pin)
{
	if (!digits(pin, f->cfg->pin_min_len, f->cfg->pin_max_len)) {
		fl_set_error(f, "pin_format", NULL);
		return;
	}
	snprintf(f->p.pin_old, sizeof f->p.pin_old, "%s", pin);
	uint64_t tag = fl_ask(f, W_PIN_VERIFY);
	f->ops->pin(f->ops->arg, f->reader, f->p.pin_old, NULL, tag);
}

static void new_pin_entered(struct flow *f, const char *pin)
{
	enum pin_verdict v = pin_judge(pin, NULL, f->cfg->pin_min_len, f->cfg->pin_max_len);
	if (v != PIN_OK) {
		fl_set_error(f, pin_verdict_code(v), pin_verdict_text(v));
		return;
	}
	if (!strcmp(pin, f->p.pin_old)) {
		fl_set_error(f, "pin_same", NULL);
		return;
	}
	snprintf(f->p.pin_new, sizeof f->p.pin_new, "%s", pin);
	fl_enter(f, ST_NEW_PIN_AGAIN);
}

static void new_pin_again(struct flow *f, const char *pin)
{
	enum pin_verdict v = pin_judge(f->p.pin_new, pin, f->cfg->pin_min_len, f->cfg->pin_max_len);
	if (v != PIN_OK) {
		sodium_memzero(f->p.pin_new, sizeof f->p.pin_new);
		fl_enter(f, ST_NEW_PIN);
		fl_set_error(f, v == PIN_MISMATCH ? "pin_mismatch" : pin_verdict_code(v),
			  v == PIN_MISMATCH ? NULL : pin_verdict_text(v));
		return;
	}
	if (f->def->new_pin_set) {
		f->def->new_pin_set(f);
		return;
	}
	uint64_t tag = fl_ask(f, W_PIN_CHANGE);
	f->ops->pin(f->ops->arg, f->reader, f->p.pin_old, f->p.pin_new, tag);
}

/* A scanned code on the identify screen: to the central. */
static void ecode_entered(struct flow *f, const char *code)
{
	size_t n = strlen(code);
	bool text = n >= 1 && n <= 512;
	for (size_t i = 0; i < n && text; i++)
		text = code[i] >= 0x20 && code[i] <= 0x7E;
	if (!text) {
		fl_set_error(f, "ecode_unknown", NULL);
		return;
	}
	json_t *body = json_pack("{s:s,s:b}", "code", code, "send_otp", ecode_wants_otp(f));
	uint64_t tag = fl_ask(f, W_ECODE);
	f->ops->central(f->ops->arg, "/v1/ecodes/resolve", body, tag);
	json_decref(body);
}

void flow_on_ecode(struct flow *f, const char *code)
{
	if (f->step != ST_IDENTIFY)
		return; /* a code scanned on another screen means nothing there */
	clear_error(f);
	ecode_entered(f, code);
	changed(f);
}

static enum ss_err input(struct flow *f, json_t *req, char *err, size_t errlen)
{
	switch (f->step) {
	case ST_IDENTIFY: {
		char ssn[19];
		if (json_is_string(json_object_get(req, "ecode"))) { /* a keyboard-mode scanner on the page */
			ecode_entered(f, fl_jstr(req, "ecode"));
			return SS_OK;
		}
		if (!fl_identity(f, req, ssn))
			return SS_OK;
		if (f->def->identity && !f->def->identity(f, ssn)) {
			sodium_memzero(ssn, sizeof ssn);
			return SS_OK;
		}
		snprintf(f->p.ssn, sizeof f->p.ssn, "%s", ssn);
		snprintf(f->p.name, sizeof f->p.name, "%s", fl_jstr(req, "name"));
		mask_name(f->p.name, f->p.name_masked, sizeof f->p.name_masked);
		/* only the daemon sets idcard_input: a page cannot claim an ID card */
		f->p.by_idcard = f->idcard_input;
		json_t *body = json_pack("{s:s,s:s}", "ssn", f->p.ssn, "name", f->p.name);
		/* two proofs: no shortcut, the central sends the code whatever read the ID */
		if (f->p.by_idcard && f->cfg->idcard_identifies && !f->def->two_proofs)
			json_object_set_new(body, "identified_by", json_string("idcard"));
		uint64_t tag = fl_ask(f, W_LOOKUP);
		f->ops->central(f->ops->arg, "/v1/holders/lookup", body, tag);
		json_decref(body);
		return SS_OK;
	}
	case ST_OTP: {
		const char *code = fl_jstr(req, "code");
		if (!digits(code, 4, 8)) {
			fl_set_error(f, "otp_format", NULL);
			return SS_OK;
		}
		json_t *body = json_pack("{s:s,s:s}", "ssn", f->p.ssn, "code", code);
		uint64_t tag = fl_ask(f, W_OTP);
		f->ops->central(f->ops->arg, "/v1/holders/verify", body, tag);
		json_decref(body);
		return SS_OK;
	}
	case ST_CHOOSE_CARD: {
		json_t *ix = json_object_get(req, "index");
		if (!json_is_integer(ix) || json_integer_value(ix) < 0 ||
		    json_integer_value(ix) >= (json_int_t)f->p.n_cards)
			return fl_bad(err, errlen, "index must be one of the cards shown");
		int i = (int)json_integer_value(ix);
		if (!fl_selectable(f, f->p.cards[i].state)) {
			fl_set_error(f, "card_not_selectable", NULL);
			return SS_OK;
		}
		f->p.chosen = i;
		snprintf(f->p.card_id, sizeof f->p.card_id, "%s", f->p.cards[i].id);
		snprintf(f->p.card_masked, sizeof f->p.card_masked, "%s", f->p.cards[i].masked);
		if (f->def->chosen)
			f->def->chosen(f);
		return SS_OK;
	}
	case ST_CONFIRM:
		if (!json_is_true(json_object_get(req, "confirm")))
			return fl_bad(err, errlen, "confirm must be true (cancel to leave)");
		if (fl_pays(f))
			fl_pay_start(f); /* the fee first; the request once it is paid */
		else
			fl_submit(f);
		return SS_OK;
	case ST_PIN:
		pin_entered(f, fl_jstr(req, "pin"));
		return SS_OK;
	case ST_NEW_PIN:
		new_pin_entered(f, fl_jstr(req, "pin"));
		return SS_OK;
	case ST_NEW_PIN_AGAIN:
		new_pin_again(f, fl_jstr(req, "pin"));
		return SS_OK;
	default:
		return f->def && f->def->input ? f->def->input(f, req, err, errlen)
					       : fl_no_input(f, err, errlen);
	}
}

void flow_on_idcard(struct flow *f, uint64_t tag, json_t *reply)
{
	if (tag && tag != f->idcard_tag)
		return; /* a read for a screen that is gone */
	if (tag)
		f->idcard_tag = 0;
	if (f->step != ST_IDENTIFY && f->step != ST_AGENT)
		return;
	const char *e = fl_jstr(reply, "error");
	clear_error(f);
	if (!json_is_true(json_object_get(reply, "ok"))) {
		/* asked for and nothing there (or no reader): the person types */
		if (!strcmp(e, "card_removed"))
			fl_set_error(f, "idcard_moved", NULL);
		else if (!strcmp(e, "bad_card") || !strcmp(e, "reader_refused") ||
			 !strcmp(e, "bad_answer"))
			fl_set_error(f, "idcard_unreadable", NULL);
		else
			return;
	} else if (strcmp(fl_jstr(reply, "kind"), "resident"))
		fl_set_error(f, "idcard_kind", NULL);
	else if (json_is_true(json_object_get(reply, "expired")))
		fl_set_error(f, "idcard_expired", NULL);
	else {
		char why[160];
		json_t *req = json_pack("{s:s,s:s,s:s,s:s}", "action", "input", "step",
					flow_step_name(f->step), "ssn", fl_jstr(reply, "id_number"),
					"name", fl_jstr(reply, "name"));
		f->idcard_input = true;
		input(f, req, why, sizeof why);
		f->idcard_input = false;
		json_decref(req);
	}
	changed(f);
}

void flow_touch(struct flow *f)
{
	changed(f);
}

enum ss_err flow_action(struct flow *f, json_t *req, char *err, size_t errlen)
{
	const char *a = fl_jstr(req, "action");
	enum ss_err e = SS_OK;
	if (!json_is_object(req))
		return fl_bad(err, errlen, "the request must be a JSON object");
	if (!strcmp(a, "start")) {
		enum flow_kind k = kind_named(fl_jstr(req, "flow"));
		if (k == FLOW_NONE)
			return fl_bad(err, errlen,
				   "flow must be loss_report, loss_cancel, replacement, activation, pin_change, "
				   "status or pin_reset");
		if (f->step == ST_ERROR && k == fl_offer(f)) {
			/* the error screen's next step: this flow ends, the offered
			 * one starts on the card still in the reader */
			f->stats.finished[f->kind][FLOW_REFUSED]++;
			start(f, k);
		} else if (f->step != ST_HOME) {
			snprintf(err, errlen, "a %s is under way; cancel it first", flow_kind_name(f->kind));
			return SS_E_BUSY;
		} else
			start(f, k);
	} else if (!strcmp(a, "cancel")) {
		if (f->step == ST_HOME)
			return SS_OK;
		if (f->step == ST_TAKE_CARD) /* the card is still in: keep asking */
			return SS_OK;
		if (f->step == ST_PAY) { /* the order is cancelled first: it may be paid right now */
			clear_error(f);
			fl_pay_cancel(f, true);
			changed(f);
			return SS_OK;
		}
		if (f->step == ST_BUSY && f->wait == W_PAY_CANCEL) {
			snprintf(err, errlen, "the payment is being cancelled; a moment");
			return SS_E_BUSY;
		}
		if (f->step == ST_BUSY && (f->wait == W_PIN_CHANGE || f->wait == W_PINKEY)) {
			/* the chip may be changing right now: its answer decides */
			snprintf(err, errlen, "the card's PIN is being changed; a moment");
			return SS_E_BUSY;
		}
		clear_error(f);
		finish(f, FLOW_CANCELLED);
	} else if (!strcmp(a, "done")) {
		if (f->step != ST_RECEIPT && f->step != ST_ERROR && f->step != ST_STATUS &&
		    f->step != ST_PROGRESS) {
			snprintf(err, errlen, "nothing to finish on the %s screen", flow_step_name(f->step));
			return SS_E_BUSY;
		}
		clear_error(f);
		finish(f, by_step(f));
	} else if (!strcmp(a, "alive")) {
		if (input_step(f->step) || f->step == ST_CONFIRM || f->step == ST_CHOOSE_CARD ||
		    f->step == ST_PIN_OP)
			fl_enter(f, f->step);
		return SS_OK; /* no new view: only the clock moved */
	} else if (!strcmp(a, "input")) {
		const char *st = fl_jstr(req, "step");
		if (strcmp(st, flow_step_name(f->step))) {
			snprintf(err, errlen, "the screen is %s, not %s", flow_step_name(f->step), st);
			return SS_E_BUSY;
		}
		clear_error(f);
		e = input(f, req, err, errlen);
		if (e != SS_OK)
			return e;
	} else
		return fl_bad(err, errlen, "action must be start, input, cancel, done or alive");
	changed(f);
	return e;
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
	fl_enter(f, ST_HOME);
	return f;
}

void flow_free(struct flow *f)
{
	if (!f)
		return;
	free(f->pay_svg);
	json_decref(f->p.replacement);
	sodium_memzero(f, sizeof *f);
	free(f);
}
