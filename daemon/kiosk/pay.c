/* pay.c — the fee paid at the kiosk (issue 29, shared/domain.md "Pay the
 * fee"): a flow whose request costs a fee (flow_def.fee: a replacement)
 * asks the central for an order once it is confirmed, keeps the order on
 * disk (the outbox's orders) before the QR code is shown, shows the code
 * drawn by qrsvg.c and asks every POLL_MS whether it is paid. Paid: the
 * request, carrying the order id, goes into the outbox before anything
 * else; then the receipt. The person leaving, or the order's time running
 * out, cancels the order at the central first — and an order paid in that
 * very moment is filed, not lost. An order the central cannot be asked
 * about stays on disk: kiosk.c settles it later (filed if paid, cancelled
 * if not), so money taken always ends in the request filed or refunded. */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "daemon/kiosk/flowdef.h"
#include "daemon/kiosk/qrsvg.h"

#define POLL_MS 500

bool fl_pays(const struct flow *f)
{
	return f->def->fee && f->cfg->payment_enabled && f->cfg->replacement_fee_fen > 0 && f->ops->order_open &&
	       f->ops->order_paid && !f->what_progress;
}

void fl_pay_start(struct flow *f)
{
	uint8_t k[16];
	char key[33];
	randombytes_buf(k, sizeof k);
	sodium_bin2hex(key, sizeof key, k, sizeof k);
	json_t *body = json_pack("{s:s,s:s,s:I,s:s}", "purpose", f->def->request, "card_id", f->p.card_id,
				 "amount_fen", (json_int_t)f->cfg->replacement_fee_fen, "idempotency_key", key);
	uint64_t tag = fl_ask(f, W_PAY_ORDER);
	f->ops->central(f->ops->arg, "/v1/payments", body, tag);
	json_decref(body);
}

void fl_pay_poll(struct flow *f)
{
	char path[80];
	f->poll_at = 0;
	snprintf(path, sizeof path, "/v1/payments/%s", f->p.pay.order_id);
	uint64_t tag = fl_ask_quiet(f, W_PAY_POLL);
	f->ops->central(f->ops->arg, path, NULL, tag);
}

void fl_pay_cancel(struct flow *f, bool asked)
{
	char path[80];
	json_t *body = json_object();
	f->poll_at = 0;
	f->p.pay.cancel_asked = asked;
	snprintf(path, sizeof path, "/v1/payments/%s/cancel", f->p.pay.order_id);
	uint64_t tag = fl_ask(f, W_PAY_CANCEL);
	f->ops->central(f->ops->arg, path, body, tag);
	json_decref(body);
}

static void outcome(struct flow *f, enum pay_outcome o)
{
	f->stats.payments[o]++;
}

/* Paid: the request with the order id into the outbox, then the receipt. */
static void file(struct flow *f)
{
	struct outbox_receipt r;
	json_t *fields = json_object();
	if (f->def->fields)
		f->def->fields(f, fields);
	enum ss_err e = f->ops->order_paid(f->ops->arg, f->p.pay.order_id, f->p.card_id, fields, &r);
	json_decref(fields);
	outcome(f, f->p.pay.already_paid ? PAY_ALREADY_PAID : PAY_PAID);
	if (e != SS_OK) { /* the order stays on disk: kiosk.c files it later */
		fl_fail(f, "pay_not_recorded", NULL);
		return;
	}
	fl_receipt(f, f->def->request, &r);
}

static void take_order(struct flow *f, json_t *body)
{
	const char *id = fl_jstr(body, "order_id");
	size_t n = strlen(id);
	snprintf(f->p.pay.order_id, sizeof f->p.pay.order_id, "%s", id);
	snprintf(f->p.pay.masked, sizeof f->p.pay.masked, "%.4s****%s", id, n > 8 ? id + n - 4 : "");
	f->p.pay.amount_fen = f->cfg->replacement_fee_fen;
}

static bool order_id_ok(const char *id)
{
	size_t n = strlen(id);
	if (n < 8 || n >= 40)
		return false;
	for (const char *p = id; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')))
			return false;
	return true;
}

static void ordered(struct flow *f, long status, json_t *body)
{
	const char *url = fl_jstr(body, "pay_url");
	if (status == 409 && !strcmp(fl_jstr(body, "error"), "already_paid") &&
	    order_id_ok(fl_jstr(body, "order_id"))) {
		take_order(f, body); /* paid before (another visit): file it with that order */
		f->p.pay.already_paid = true;
		file(f);
		return;
	}
	if (status < 200 || status >= 300 || !order_id_ok(fl_jstr(body, "order_id")) || strncmp(url, "https://", 8) ||
	    strlen(url) >= sizeof f->p.pay.url) {
		fl_fail(f, "central_unreachable", NULL); /* nothing was paid */
		return;
	}
	take_order(f, body);
	snprintf(f->p.pay.url, sizeof f->p.pay.url, "%s", url);
	json_t *fields = json_object();
	if (f->def->fields)
		f->def->fields(f, fields);
	enum ss_err e = f->ops->order_open(f->ops->arg, f->p.pay.order_id, f->p.card_id, fields);
	json_decref(fields);
	free(f->pay_svg);
	f->pay_svg = e == SS_OK ? qr_svg(url) : NULL;
	if (!f->pay_svg) { /* never shown, so never paid: it expires at the central */
		fl_fail(f, e == SS_OK ? "internal" : "outbox_unavailable", NULL);
		return;
	}
	fl_enter(f, ST_PAY);
	f->poll_at = f->ops->now_ms(f->ops->arg) + POLL_MS;
}

static void polled(struct flow *f, long status, json_t *body)
{
	const char *st = fl_jstr(body, "state");
	if (status == 200 && (!strcmp(st, "paid") || !strcmp(st, "used"))) {
		file(f);
	} else if (status == 200 && (!strcmp(st, "expired") || !strcmp(st, "cancelled") || !strcmp(st, "refunded"))) {
		f->ops->order_close(f->ops->arg, f->p.pay.order_id);
		outcome(f, PAY_EXPIRED);
		fl_fail(f, "pay_expired", NULL);
	} else /* not yet, or no answer: ask again (the central may be back) */
		f->poll_at = f->ops->now_ms(f->ops->arg) + (status == 200 ? POLL_MS : 2 * POLL_MS);
}

static void cancelled(struct flow *f, long status, json_t *body)
{
	if (status == 409 && !strcmp(fl_jstr(body, "error"), "already_paid")) {
		file(f); /* paid in the very moment: filed, not lost */
	} else if (status == 200 || status == 404) {
		f->ops->order_close(f->ops->arg, f->p.pay.order_id);
		outcome(f, f->p.pay.cancel_asked ? PAY_CANCELLED : PAY_EXPIRED);
		fl_fail(f, f->p.pay.cancel_asked ? "pay_cancelled" : "pay_expired", NULL);
	} else { /* the order stays on disk; kiosk.c settles it when the central answers */
		outcome(f, PAY_UNSETTLED);
		fl_fail(f, "pay_unsettled", NULL);
	}
}

void fl_pay_answer(struct flow *f, enum wait w, long status, json_t *body)
{
	if (w == W_PAY_ORDER)
		ordered(f, status, body);
	else if (w == W_PAY_POLL)
		polled(f, status, body);
	else
		cancelled(f, status, body);
}
