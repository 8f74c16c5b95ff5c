/* loss_cancel.c — cancel a loss (domain.md): the found card in the reader,
 * its PIN, confirmed; refused once a replacement was applied for or the
 * card was cancelled for good. The request loss_cancel. */
#include <stdio.h>
#include <string.h>

#include "daemon/kiosk/flowdef.h"

static void card_known(struct flow *f)
{
	const char *cs = f->p.central_state;
	bool lost_central = fl_central_lost(f);
	if (f->p.replacement)
		fl_fail(f, "replacement_applied", NULL);
	else if (!strcmp(cs, "cancelled"))
		fl_fail(f, "card_cancelled", NULL);
	else if (lost_central || f->p.listed == 1)
		fl_enter(f, ST_PIN);
	else
		fl_fail(f, "not_lost", NULL);
}

/* The PIN proves the holder has the card: no new PIN, straight to confirm. */
static void pin_verified(struct flow *f)
{
	fl_wipe_pins(f);
	fl_enter(f, ST_CONFIRM);
}

static void receipt(const struct flow *f, FILE *m)
{
	fprintf(m, "- Settlement resumes within 1 hour.\n");
}

const struct flow_def flow_loss_cancel = {
	.kind = FLOW_LOSS_CANCEL,
	.name = "loss_cancel",
	.request = "loss_cancel",
	.card = true,
	.first = ST_INSERT_CARD,
	.card_known = card_known,
	.pin_verified = pin_verified,
	.receipt = receipt,
};
