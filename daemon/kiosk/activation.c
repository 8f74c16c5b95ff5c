/* activation.c — activate a new card (domain.md): the card in the reader,
 * its initial PIN, a new PIN twice (weak PINs refused, pinrule.h), the
 * change on the chip, then the request activation. */
#include <stdio.h>
#include <string.h>

#include "daemon/kiosk/flowdef.h"

static void card_known(struct flow *f)
{
	const char *cs = f->p.central_state;
	bool lost_central = fl_central_lost(f);
	if (f->p.listed == 1 || lost_central)
		fl_fail(f, "card_listed", NULL);
	else if (!strcmp(cs, "cancelled"))
		fl_fail(f, "card_cancelled", NULL);
	else if (!strcmp(cs, "normal"))
		fl_fail(f, "already_active", NULL);
	else
		fl_enter(f, ST_PIN); /* sealed, or the central cannot say: the chip decides */
}

static void receipt(const struct flow *f, FILE *m)
{
	fprintf(m, "- The card is activated. Do not keep the PIN with the card.\n");
}

const struct flow_def flow_activation = {
	.kind = FLOW_ACTIVATION,
	.name = "activation",
	.request = "activation",
	.card = true,
	.chip_changed = true,
	.initial_pin = true,
	.first = ST_INSERT_CARD,
	.card_known = card_known,
	.receipt = receipt,
};
