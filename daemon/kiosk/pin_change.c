/* pin_change.c — change the PIN (domain.md): the card in the reader, the
 * current PIN, a new PIN twice, the change on the chip, then the request
 * pin_changed. The chip is all it needs: the central is not asked. */
#include <stdio.h>
#include <string.h>

#include "daemon/kiosk/flowdef.h"

static void card_read(struct flow *f)
{
	if (f->p.listed != 1)
		fl_enter(f, ST_PIN);
	else
		fl_fail(f, "card_listed", NULL);
}

static void receipt(const struct flow *f, FILE *m)
{
	fprintf(m, "- Do not keep the PIN with the card.\n");
}

const struct flow_def flow_pin_change = {
	.kind = FLOW_PIN_CHANGE,
	.name = "pin_change",
	.request = "pin_changed",
	.card = true,
	.chip_changed = true,
	.first = ST_INSERT_CARD,
	.card_read = card_read,
	.receipt = receipt,
};
