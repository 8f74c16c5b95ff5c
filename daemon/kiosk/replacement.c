/* replacement.c — apply for a replacement card, or ask where one is
 * (domain.md): apply or progress, the holder identified, the card chosen,
 * why (a card not lost must be damaged), the outlet, an agent when someone
 * else collects it, confirmed; the request replacement. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "daemon/kiosk/flowdef.h"
#include "daemon/mask.h"

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

/* Applying: any card not cancelled for good; asking: any. */
static bool selectable(const struct flow *f, const char *state)
{
	return f->what_progress || strcmp(state, "cancelled") != 0;
}

static void chosen(struct flow *f)
{
	const char *state = f->p.cards[f->p.chosen].state;
	if (f->what_progress)
		fl_get_card(f, W_PROGRESS);
	else if (!strcmp(state, "temporary") || !strcmp(state, "formal"))
		fl_enter(f, ST_OUTLET);
	else
		fl_enter(f, ST_REASON);
}

static enum ss_err input(struct flow *f, json_t *req, char *err, size_t errlen)
{
	const char *v;
	switch (f->step) {
	case ST_REPLACE_MENU:
		v = fl_jstr(req, "what");
		if (strcmp(v, "apply") && strcmp(v, "progress"))
			return fl_bad(err, errlen, "what must be apply or progress");
		f->what_progress = !strcmp(v, "progress");
		fl_identify(f);
		return SS_OK;
	case ST_REASON:
		v = fl_jstr(req, "reason");
		if (!strcmp(v, "damaged")) {
			f->p.damaged = true;
			fl_enter(f, ST_OUTLET);
		} else if (!strcmp(v, "lost"))
			fl_fail(f, "report_loss_first", NULL);
		else
			return fl_bad(err, errlen, "reason must be damaged or lost");
		return SS_OK;
	case ST_OUTLET: {
		json_t *ix = json_object_get(req, "outlet");
		if (!json_is_integer(ix) || json_integer_value(ix) < 0 ||
		    json_integer_value(ix) >= n_outlets(f->cfg))
			return fl_bad(err, errlen, "outlet must be one of the outlets shown");
		f->p.outlet = (int)json_integer_value(ix);
		f->p.delegated = json_is_true(json_object_get(req, "delegated"));
		fl_enter(f, f->p.delegated ? ST_AGENT : ST_CONFIRM);
		return SS_OK;
	}
	case ST_AGENT: {
		char ssn[19];
		if (!fl_identity(f, req, ssn))
			return SS_OK;
		if (!strcmp(ssn, f->p.ssn)) {
			fl_set_error(f, "agent_same", NULL);
			return SS_OK;
		}
		snprintf(f->p.agent_ssn, sizeof f->p.agent_ssn, "%s", ssn);
		snprintf(f->p.agent_name, sizeof f->p.agent_name, "%s", fl_jstr(req, "name"));
		fl_enter(f, ST_CONFIRM);
		return SS_OK;
	}
	default:
		return fl_no_input(f, err, errlen);
	}
}

static void fields(struct flow *f, json_t *fields)
{
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

static void taken(struct flow *f)
{
	ready_date(f->p.receipt.time, f->cfg->replacement_days, f->p.receipt.ready_date);
}

static void view(const struct flow *f, json_t *d)
{
	const struct personal *p = &f->p;
	char buf[80];
	switch (f->step) {
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
	case ST_CONFIRM: {
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
		break;
	}
	case ST_RECEIPT:
		outlet_name(f->cfg, p->outlet, buf, sizeof buf);
		json_object_set_new(d, "outlet", json_string(buf));
		json_object_set_new(d, "ready_date", json_string(p->receipt.ready_date));
		json_object_set_new(d, "fee_fen", json_integer(f->cfg->replacement_fee_fen));
		break;
	case ST_PROGRESS:
		json_object_set_new(d, "state", json_string(p->central_state));
		json_object_set_new(d, "replacement",
				    p->replacement ? json_deep_copy(p->replacement) : json_null());
		break;
	default: break;
	}
}

const struct flow_def flow_replacement = {
	.kind = FLOW_REPLACEMENT,
	.name = "replacement",
	.request = "replacement",
	.first = ST_REPLACE_MENU,
	.selectable = selectable,
	.chosen = chosen,
	.input = input,
	.fields = fields,
	.taken = taken,
	.fee = true,
	.view = view,
};
