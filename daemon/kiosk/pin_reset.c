/* pin_reset.c — unlock or reset the PIN (解锁 / 重置密码, domain.md,
 * card-spec §10): the card in the reader; its holder identified as the
 * card's own (the ID card on the reader, or the number and name typed:
 * [policy] pin_reset_proof) AND the one-time code to the holder's phone;
 * then, with the PIN blocked, "unlock, keep my PIN" or "set a new PIN",
 * with the PIN only forgotten, "set a new PIN" (twice, §4's rules); the
 * card changed with the PSAM's or the HSM's MAC; the request pin_reset
 * {op}. Only where this terminal has a PSAM or the HSM (flow_def.pinkey).
 *
 * The order of the steps is the daemon's: the page can only answer the
 * screen it is on, so no proof can be skipped. */
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "daemon/kiosk/flowdef.h"

/* A card the central lists as lost or cancelled is not unlocked here. */
static void card_known(struct flow *f)
{
	const char *cs = f->p.central_state;
	if (f->p.listed == 1 || fl_central_lost(f))
		fl_fail(f, "card_listed", NULL);
	else if (!strcmp(cs, "cancelled"))
		fl_fail(f, "card_cancelled", NULL);
	else if (f->p.offline)
		fl_fail(f, "central_unreachable", NULL); /* the code comes from the central */
	else
		fl_identify(f);
}

/* The person on the identify screen must be the card's holder. */
static bool identity(struct flow *f, const char *ssn)
{
	if (f->cfg->pin_reset_proof == CFG_PROOF_IDCARD_OTP && !f->idcard_input) {
		fl_set_error(f, "idcard_required", NULL);
		return false;
	}
	if (*f->p.card_ssn && strcmp(ssn, f->p.card_ssn)) {
		if (++f->p.identity_fails >= f->cfg->identity_retry_limit) {
			fl_fail(f, "identity_limit", NULL);
			return false;
		}
		fl_set_error(f, "not_card_holder", NULL);
		f->err_tries = (int)(f->cfg->identity_retry_limit - f->p.identity_fails);
		return false;
	}
	return true;
}

/* The code was right: the card in the reader must be one of the holder's,
 * and the central's verification id is the proof the HSM asks for. */
static void verified(struct flow *f, json_t *body)
{
	json_t *cards = json_object_get(body, "cards"), *c;
	size_t i;
	bool theirs = false;
	json_array_foreach(cards, i, c) {
		if (!strcasecmp(fl_jstr(c, "card_id"), f->p.card_id))
			theirs = true;
	}
	const char *v = fl_jstr(body, "verification");
	if (!theirs) {
		fl_fail(f, "not_card_holder", NULL);
		return;
	}
	snprintf(f->p.proof, sizeof f->p.proof, "%s", v);
	uint64_t tag = fl_ask(f, W_PIN_STATUS);
	f->ops->pin_status(f->ops->arg, f->reader, tag);
}

static void unblock(struct flow *f)
{
	snprintf(f->p.pin_op, sizeof f->p.pin_op, "unblock");
	uint64_t tag = fl_ask(f, W_PINKEY);
	f->ops->pinkey(f->ops->arg, f->reader, NULL, f->p.proof, tag);
}

static void new_pin_set(struct flow *f)
{
	snprintf(f->p.pin_op, sizeof f->p.pin_op, "reload");
	uint64_t tag = fl_ask(f, W_PINKEY);
	f->ops->pinkey(f->ops->arg, f->reader, f->p.pin_new, f->p.proof, tag);
}

static void pin_answer(struct flow *f, enum wait w, json_t *reply)
{
	const char *e = fl_jstr(reply, "error");
	bool ok = json_is_true(json_object_get(reply, "ok"));
	if (!ok && (!strcmp(e, "card_removed") || !strcmp(e, "no_card"))) {
		fl_fail(f, "card_removed", NULL); /* between challenge and command: nothing changed */
		return;
	}
	if (w == W_PIN_STATUS) {
		json_t *tries = json_object_get(reply, "tries_left");
		if (ok && json_is_integer(tries) && json_integer_value(tries) > 0) {
			f->p.pin_blocked = 0; /* forgotten, not blocked: a new PIN */
			fl_enter(f, ST_NEW_PIN);
		} else if (ok || !strcmp(e, "pin_blocked")) {
			f->p.pin_blocked = ok ? -1 : 1;
			fl_enter(f, ST_PIN_OP);
		} else
			fl_fail(f, "read_failed", NULL);
		return;
	}
	fl_wipe_pins(f);
	if (ok)
		fl_submit(f);
	else if (!strcmp(e, "pinkey_blocked"))
		fl_fail(f, "pinkey_blocked", NULL);
	else if (!strcmp(e, "pinkey_spent"))
		fl_fail(f, "pinkey_spent", NULL);
	else if (!strcmp(e, "holder_not_verified"))
		fl_fail(f, "proof_refused", NULL);
	else if (!strcmp(e, "pinkey_refused") || !strcmp(e, "auth_refused"))
		fl_fail(f, "pinkey_refused", NULL);
	else if (!strcmp(e, "sam_unavailable"))
		fl_fail(f, "pinkey_unavailable", NULL);
	else
		fl_fail(f, "read_failed", NULL);
}

static enum ss_err input(struct flow *f, json_t *req, char *err, size_t errlen)
{
	if (f->step != ST_PIN_OP)
		return fl_no_input(f, err, errlen);
	const char *op = fl_jstr(req, "op");
	if (!strcmp(op, "reload"))
		fl_enter(f, ST_NEW_PIN);
	else if (!strcmp(op, "unblock") && f->p.pin_blocked != 0)
		unblock(f);
	else
		return fl_bad(err, errlen, "op must be unblock (a blocked PIN) or reload");
	return SS_OK;
}

static void fields(struct flow *f, json_t *fields)
{
	json_object_set_new(fields, "op", json_string(f->p.pin_op));
}

static void view(const struct flow *f, json_t *d)
{
	if (f->step == ST_PIN_OP)
		json_object_set_new(d, "blocked", f->p.pin_blocked < 0 ? json_null()
								 : json_boolean(f->p.pin_blocked));
	if (f->step == ST_RECEIPT)
		json_object_set_new(d, "pin_op", json_string(f->p.pin_op));
}

static void receipt(const struct flow *f, FILE *m)
{
	if (!strcmp(f->p.pin_op, "unblock"))
		fprintf(m, "- The PIN is unlocked; it is the same PIN as before.\n");
	else
		fprintf(m, "- The new PIN is set on the card.\n");
	fprintf(m, "- Do not keep the PIN with the card.\n");
}

const struct flow_def flow_pin_reset = {
	.kind = FLOW_PIN_RESET,
	.name = "pin_reset",
	.request = "pin_reset",
	.card = true,
	.chip_changed = true,
	.pinkey = true,
	.two_proofs = true,
	.first = ST_INSERT_CARD,
	.card_known = card_known,
	.identity = identity,
	.verified = verified,
	.pin_answer = pin_answer,
	.new_pin_set = new_pin_set,
	.input = input,
	.fields = fields,
	.view = view,
	.receipt = receipt,
};
