/* early.c — requests that arrive before the first reader scan wait for it
 * (at most EARLY_WAIT_MS) instead of being told "no reader". */
#include "daemon/readers/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/log.h"

/* In the first moments after start (and after pcscd returns) the readers
 * and the cards already in them are not known yet: a counter program that
 * asks then would be told "no reader" about a reader that is there. Such
 * requests wait for the monitor's first scan, at most EARLY_WAIT_MS. */

/* Both reader stacks have said what they have (pcscd: or that it is not there). */
static bool early_ready(const struct readers *r)
{
	return (!r->cfg->pcsc || r->scanned || !strcmp(r->pcsc_state, "down")) &&
	       (!r->cfg->nfc[0] || r->nfc_scanned);
}

void early_check(struct readers *r)
{
	if (early_ready(r))
		early_flush(r);
}

bool early_hold(struct readers *r, const char *name, bool pinpad, enum readers_pin_op op,
		void *cookie, readers_reply_fn fn)
{
	if (!r->early_timer || early_ready(r))
		return false;
	struct early *e = calloc(1, sizeof *e), **tail = &r->early;
	if (!e)
		return false;
	e->pinpad = pinpad;
	e->op = op;
	snprintf(e->reader, sizeof e->reader, "%s", name ? name : "");
	e->cookie = cookie;
	e->fn = fn;
	while (*tail) /* first come, first served */
		tail = &(*tail)->next;
	*tail = e;
	return true;
}

void early_flush(struct readers *r)
{
	struct early *e;
	r->early_timer = sd_event_source_disable_unref(r->early_timer); /* nothing is held from now */
	/* one at a time off the list: an answer may make another requester
	 * go away (readers_forget), which must still find its entry */
	while ((e = r->early)) {
		r->early = e->next;
		if (!e->fn)
			; /* its requester went away */
		else if (e->pinpad)
			readers_pinpad(r, e->reader, e->op, e->cookie, e->fn);
		else
			readers_read(r, e->reader, e->cookie, e->fn);
		free(e);
	}
}

#define EARLY_WAIT_MS 2000

static int on_early_timeout(sd_event_source *s, uint64_t usec, void *arg)
{
	struct readers *r = arg;
	if (r->early)
		log_msg(LOG_WARNING, "the readers were not all listed within %d ms; answering waiting requests",
			EARLY_WAIT_MS);
	early_flush(r);
	return 0;
}

/* Hold read and PIN-pad requests from now until the readers are listed. */
int early_arm(struct readers *r)
{
	return sd_event_add_time_relative(r->ev, &r->early_timer, CLOCK_MONOTONIC,
					  (uint64_t)EARLY_WAIT_MS * 1000, 1000, on_early_timeout, r);
}
