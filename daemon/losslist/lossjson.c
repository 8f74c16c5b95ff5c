/* lossjson.c — the loss list's part of a read reply: the "loss" object
 * (losslist.h), the same for PC/SC workers, the NFC helper and the CLI. */
#include <stdio.h>
#include <time.h>

#include "daemon/json.h"
#include "daemon/losslist/fresh.h"
#include "daemon/losslist/losslist.h"

static void date_of(int64_t t, char *out, size_t cap)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!localtime_r(&tt, &tm) || !strftime(out, cap, "%Y-%m-%d", &tm))
		snprintf(out, cap, "?");
}

json_t *json_loss(int rc, const struct loss_entry *e, const struct loss_info *i, unsigned stale_after)
{
	json_t *o = json_object();
	char msg[160], day[32];
	if (!o)
		return NULL;
	if (rc < 0) {
		json_object_set_new(o, "listed", json_null());
		json_object_set_new(o, "error", json_string(ss_err_name(SS_E_LIST)));
		json_object_set_new(o, "message", json_string(ss_err_text(SS_E_LIST)));
		return o;
	}
	json_object_set_new(o, "listed", json_boolean(rc == 1));
	if (rc == 1) {
		date_of(e->since, day, sizeof day);
		json_object_set_new(o, "state", json_string(loss_state_name(e->state)));
		json_object_set_new(o, "since", json_string(day));
		snprintf(msg, sizeof msg, "%s on %s — settlement refused.",
			 e->state == LOSS_CANCELLED ? "Cancelled for good" : "Reported lost", day);
		json_object_set_new(o, "message", json_string(msg));
	}
	json_object_set_new(o, "list_version", json_integer(i->version));
	struct loss_fresh f;
	fresh_eval(i, stale_after, &f);
	json_object_set_new(o, "list_age_s", f.known ? json_integer(f.age_s) : json_null());
	json_object_set_new(o, "stale", json_boolean(f.stale));
	if (f.clock_wrong)
		json_object_set_new(o, "clock_wrong", json_true());
	if (rc == 0 && f.stale)
		json_object_set_new(o, "message", json_string(fresh_message(i, &f)));
	return o;
}
