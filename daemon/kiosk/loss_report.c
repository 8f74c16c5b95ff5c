/* loss_report.c — report a lost card (domain.md): the holder identified by
 * an ID card on the reader, or by SSN, name and a one-time code, the card chosen, a temporary or formal
 * loss, confirmed; the request loss_report. */
#include <stdio.h>
#include <string.h>

#include "daemon/kiosk/flowdef.h"

/* Only a card that can still be used can be reported lost. */
static bool selectable(const struct flow *f, const char *state)
{
	return !strcmp(state, "normal") || !strcmp(state, "sealed") || !strcmp(state, "temporary");
}

static void chosen(struct flow *f)
{
	fl_enter(f, ST_LOSS_TYPE);
}

static enum ss_err input(struct flow *f, json_t *req, char *err, size_t errlen)
{
	if (f->step != ST_LOSS_TYPE)
		return fl_no_input(f, err, errlen);
	const char *v = fl_jstr(req, "loss");
	if (strcmp(v, "temporary") && strcmp(v, "formal"))
		return fl_bad(err, errlen, "loss must be temporary or formal");
	snprintf(f->p.loss, sizeof f->p.loss, "%s", v);
	fl_enter(f, ST_CONFIRM);
	return SS_OK;
}

static void fields(struct flow *f, json_t *fields)
{
	json_object_set_new(fields, "loss", json_string(f->p.loss));
}

static void view(const struct flow *f, json_t *d)
{
	if (f->step == ST_LOSS_TYPE || f->step == ST_CONFIRM)
		json_object_set_new(d, "temporary_days", json_integer(f->cfg->temporary_loss_days));
}

static void receipt(const struct flow *f, FILE *m)
{
	fprintf(m, "- Settlement with this card stops within 1 hour.\n"
		   "- Apply for a replacement with a valid ID card.\n");
	if (!strcmp(f->p.loss, "temporary"))
		fprintf(m, "- A temporary loss lapses after %u days unless made formal.\n",
			f->cfg->temporary_loss_days);
	fprintf(m, "- Money spent before the loss took effect is the holder's risk.\n"
		   "- Emergency admission: pay first, claim later with this receipt.\n");
}

const struct flow_def flow_loss_report = {
	.kind = FLOW_LOSS_REPORT,
	.name = "loss_report",
	.request = "loss_report",
	.first = ST_IDENTIFY,
	.selectable = selectable,
	.chosen = chosen,
	.input = input,
	.fields = fields,
	.view = view,
	.receipt = receipt,
};
