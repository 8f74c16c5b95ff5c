/* status.c — check a card's status (domain.md): the card in the reader,
 * what the central says of it (or the local loss list when the central
 * cannot be reached or does not know the card), expiry. No request. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "daemon/kiosk/flowdef.h"

static void card_known(struct flow *f)
{
	fl_enter(f, ST_STATUS);
}

static void view(const struct flow *f, json_t *d)
{
	const struct personal *p = &f->p;
	if (f->step != ST_STATUS)
		return;
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
}

const struct flow_def flow_status = {
	.kind = FLOW_STATUS,
	.name = "status",
	.card = true,
	.unknown_card_ok = true,
	.first = ST_INSERT_CARD,
	.card_known = card_known,
	.view = view,
};
