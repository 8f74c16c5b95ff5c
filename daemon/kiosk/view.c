/* view.c — what the kiosk's page shows of a flow (flow_view: the step, its
 * clock, the error, the step's data with personal data masked) and the
 * receipt it prints; each flow adds its own part (flowdef.h). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "daemon/kiosk/flowdef.h"

static json_t *step_data(const struct flow *f)
{
	json_t *d = json_object();
	const struct personal *p = &f->p;
	if (*p->card_masked)
		json_object_set_new(d, "card", json_string(p->card_masked));
	if (*p->name_masked)
		json_object_set_new(d, "name", json_string(p->name_masked));
	else if (p->holder_hidden)
		json_object_set_new(d, "holder_hidden", json_true());
	if (p->by_idcard)
		json_object_set_new(d, "by_idcard", json_true());
	if (p->by_ecode)
		json_object_set_new(d, "by_ecode", json_true());
	switch (f->step) {
	case ST_HOME:
		json_object_set_new(d, "pin_reset", json_boolean(fl_pinkey_able(f)));
		break;
	case ST_ERROR: {
		enum flow_kind k = fl_offer(f);
		if (k != FLOW_NONE)
			json_object_set_new(d, "offer", json_string(flow_kind_name(k)));
		break;
	}
	case ST_IDENTIFY:
	case ST_AGENT:
		json_object_set_new(d, "idcard", json_string(f->ops->idcard_state
								     ? f->ops->idcard_state(f->ops->arg)
								     : "off"));
		if (f->step == ST_IDENTIFY)
			json_object_set_new(d, "scanner", json_string(f->ops->scanner_state
									      ? f->ops->scanner_state(f->ops->arg)
									      : "off"));
		break;
	case ST_OTP: json_object_set_new(d, "sent_to", json_string(p->otp_to)); break;
	case ST_CHOOSE_CARD: {
		json_t *a = json_array();
		for (unsigned i = 0; i < p->n_cards; i++)
			json_array_append_new(a, json_pack("{s:i,s:s,s:s,s:b}", "index", (int)i, "card",
							   p->cards[i].masked, "state", p->cards[i].state,
							   "selectable", fl_selectable(f, p->cards[i].state)));
		json_object_set_new(d, "cards", a);
		break;
	}
	case ST_CONFIRM:
		if (*p->loss)
			json_object_set_new(d, "loss", json_string(p->loss));
		break;
	case ST_PIN:
		json_object_set_new(d, "purpose",
				    json_string(f->def && f->def->initial_pin ? "initial" : "current"));
		/* fall through */
	case ST_NEW_PIN:
	case ST_NEW_PIN_AGAIN:
		json_object_set_new(d, "min", json_integer(f->cfg->pin_min_len));
		json_object_set_new(d, "max", json_integer(f->cfg->pin_max_len));
		break;
	case ST_BUSY: {
		static const char *const what[W__COUNT] = {[W_NONE] = "wait", [W_READ] = "reading",
						    [W_PIN_VERIFY] = "pin", [W_PIN_CHANGE] = "pin",
						    [W_LOOKUP] = "central", [W_OTP] = "central",
						    [W_CARD_STATE] = "central", [W_PROGRESS] = "central",
						    [W_PIN_STATUS] = "reading", [W_PINKEY] = "pinkey",
						    [W_ECODE] = "central", [W_PAY_ORDER] = "central",
						    [W_PAY_POLL] = "central", [W_PAY_CANCEL] = "central"};
		const char *w = f->wait < W__COUNT && what[f->wait] ? what[f->wait] : "wait";
		json_object_set_new(d, "what", json_string(w));
		break;
	}
	case ST_PAY:
		json_object_set_new(d, "fee_fen", json_integer(p->pay.amount_fen));
		json_object_set_new(d, "order", json_string(p->pay.masked));
		json_object_set_new(d, "qr", json_string(f->pay_svg ? f->pay_svg : ""));
		break;
	case ST_RECEIPT: {
		static const char *const del[] = {"pending", "delivered", "refused"};
		if (*p->pay.order_id) {
			json_object_set_new(d, "paid_fen", json_integer(p->pay.amount_fen));
			json_object_set_new(d, "order", json_string(p->pay.masked));
		}
		time_t t = (time_t)p->receipt.time;
		struct tm tm;
		char when[40];
		localtime_r(&t, &tm);
		strftime(when, sizeof when, "%Y-%m-%d %H:%M", &tm);
		json_object_set_new(d, "reference", json_string(p->receipt.reference));
		json_object_set_new(d, "type", json_string(p->receipt.type));
		json_object_set_new(d, "time", json_string(when));
		json_object_set_new(d, "delivery", json_string(del[p->receipt.delivery]));
		{
			const char *ps = f->ops->printer_state ? f->ops->printer_state(f->ops->arg) : "none";
			bool usable = !strcmp(ps, "ready") || !strcmp(ps, "unknown");
			json_object_set_new(d, "printer", json_boolean(*f->cfg->printer && usable));
			json_object_set_new(d, "printer_state", json_string(*f->cfg->printer ? ps : "none"));
		}
		if (*p->loss) {
			json_object_set_new(d, "loss", json_string(p->loss));
			json_object_set_new(d, "temporary_days",
					    json_integer(f->cfg->temporary_loss_days));
		}
		break;
	}
	default: break;
	}
	if (f->def && f->def->view)
		f->def->view(f, d);
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
	fprintf(m, "Reference:  %s\nTime:       %s\nRequest:    %s\n", fl_jstr(d, "reference"),
		fl_jstr(d, "time"), fl_jstr(d, "type"));
	if (*fl_jstr(d, "card"))
		fprintf(m, "Card:       %s\n", fl_jstr(d, "card"));
	if (*fl_jstr(d, "name"))
		fprintf(m, "Holder:     %s\n", fl_jstr(d, "name"));
	if (*fl_jstr(d, "loss"))
		fprintf(m, "Loss:       %s\n", fl_jstr(d, "loss"));
	if (*fl_jstr(d, "outlet"))
		fprintf(m, "Pick up at: %s, from %s\nFee:        %.2f yuan\n", fl_jstr(d, "outlet"),
			fl_jstr(d, "ready_date"),
			(double)json_integer_value(json_object_get(d, "fee_fen")) / 100.0);
	if (*fl_jstr(d, "order"))
		fprintf(m, "Paid:       %.2f yuan (order %s)\n",
			(double)json_integer_value(json_object_get(d, "paid_fen")) / 100.0, fl_jstr(d, "order"));
	fprintf(m, "\n");
	if (f->def && f->def->receipt)
		f->def->receipt(f, m);
	fprintf(m, "\nQuestions: 12333\n");
	fclose(m);
	json_decref(d);
	return out;
}
