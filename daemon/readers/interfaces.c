/* interfaces.c — one card on two interfaces ([readers] prefer, settle_ms):
 * which reader announces a card, and which reader a request means. */
#include "daemon/readers/internal.h"

#include <string.h>

#include "daemon/json.h"
#include "daemon/log.h"

/* A dual-interface card in the contact slot is often on the NFC antenna as
 * well. It must give one read and one set of events. The rule:
 *  - a card arriving while another card is announced on the other
 *    interface is shadowed (no events, no read) until it leaves, unless it
 *    arrives on the preferred interface ([readers] prefer);
 *  - a card arriving on the non-preferred interface while a reader of the
 *    preferred one is there waits settle_ms first (a card pushed into the
 *    slot passes the antenna on its way in);
 *  - prefer = both: first come, first served; the other is shadowed.
 * Shadowed cards still show in `readers` and can be read by name. */

static bool contactless(const struct reader *x)
{
	return x->nfc || atr_is_contactless(x->atr, x->atr_len);
}

static bool preferred(const struct readers *r, const struct reader *x)
{
	return r->cfg->prefer != CFG_PREFER_BOTH &&
	       contactless(x) == (r->cfg->prefer == CFG_PREFER_CONTACTLESS);
}

/* An announced card on the other interface than x's. */
static bool other_announced(struct readers *r, const struct reader *x)
{
	for (struct reader *y = r->list; y; y = y->next)
		if (y != x && y->present && y->announced && contactless(y) != contactless(x))
			return true;
	return false;
}

static void announce(struct readers *r, struct reader *x)
{
	x->announced = true;
	log_msg(LOG_INFO, "card inserted in '%s'", x->name);
	rd_emit(r, json_pack("{s:s,s:s,s:o}", "event", "card_inserted", "reader", x->name, "atr",
			  json_hex(x->atr, x->atr_len)));
	if (!x->stuck)
		rd_start_job(r, x, NULL, NULL, NULL);
}

static void shadow(struct reader *x)
{
	x->shadowed = true;
	log_msg(LOG_INFO, "card in '%s' left alone: a card is on the other interface ([readers] prefer)",
		x->name);
}

static int on_settled(sd_event_source *s, uint64_t usec, void *arg)
{
	struct reader *x = arg;
	x->settle = sd_event_source_disable_unref(x->settle);
	if (!x->present)
		return 0;
	if (other_announced(x->r, x))
		shadow(x);
	else
		announce(x->r, x);
	return 0;
}

void rd_card_arrived(struct readers *r, struct reader *x)
{
	if (other_announced(r, x) && !preferred(r, x)) {
		shadow(x);
		return;
	}
	bool wait = false;
	if (r->cfg->prefer != CFG_PREFER_BOTH && !preferred(r, x) && r->cfg->settle_ms)
		for (struct reader *y = r->list; y && !wait; y = y->next)
			wait = y != x && (r->cfg->prefer == CFG_PREFER_CONTACTLESS ? y->nfc : !y->nfc);
	if (!wait ||
	    sd_event_add_time_relative(r->ev, &x->settle, CLOCK_MONOTONIC,
				       (uint64_t)r->cfg->settle_ms * 1000, 1000, on_settled, x) < 0)
		announce(r, x);
}

void rd_card_left(struct readers *r, struct reader *x)
{
	bool told = x->announced;
	x->present = x->announced = x->shadowed = false;
	x->atr_len = 0;
	x->settle = sd_event_source_disable_unref(x->settle);
	if (!x->nfc)
		worker_push(x->w, JOB_RELEASE, 0);
	if (!told)
		return;
	log_msg(LOG_INFO, "card removed from '%s'", x->name);
	rd_emit(r, json_pack("{s:s,s:s}", "event", "card_removed", "reader", x->name));
}

const char *rd_reader_interface(const struct reader *x)
{
	return contactless(x) ? "contactless" : "contact";
}

/* The reader with a card on one interface (want_cl), announced cards
 * first; NULL with *e = no_card, or no_reader when there is no reader of
 * that kind at all (an NFC reader, or a PC/SC reader that held a card of
 * that kind, counts). */
static struct reader *on_interface(struct readers *r, bool want_cl, enum ss_err *e)
{
	struct reader *x;
	bool kind = false;
	for (x = r->list; x; x = x->next) {
		kind |= x->nfc == want_cl || (x->present && contactless(x) == want_cl);
		if (x->present && x->announced && contactless(x) == want_cl)
			return x;
	}
	for (x = r->list; x; x = x->next)
		if (x->present && contactless(x) == want_cl)
			return x;
	*e = kind ? SS_E_NO_CARD : SS_E_NO_READER;
	return NULL;
}

/* "read @contact|@contactless|@contact-first|@contactless-first": the
 * reader API's iType 1–4. NULL with *e set (SS_OK: not a selector). */
static struct reader *by_interface(struct readers *r, const char *sel, enum ss_err *e)
{
	struct reader *x = NULL;
	*e = SS_OK;
	if (!strcmp(sel, "contact") || !strcmp(sel, "contactless"))
		return on_interface(r, !strcmp(sel, "contactless"), e);
	bool cl = !strcmp(sel, "contactless-first");
	if (!cl && strcmp(sel, "contact-first"))
		return NULL;
	enum ss_err e2 = SS_OK;
	if ((x = on_interface(r, cl, e)) || (x = on_interface(r, !cl, &e2)))
		*e = SS_OK;
	else if (*e == SS_E_NO_READER)
		*e = e2; /* no reader of the first kind: what the other one says */
	return x;
}

/* The reader a request names: a reader's name, an @interface selector, or
 * nothing (the first with a card, the preferred interface first). NULL
 * with *e set when there is none or it has no card to work with. */
struct reader *rd_resolve(struct readers *r, const char *name, enum ss_err *e)
{
	struct reader *x = NULL;
	*e = SS_OK;
	if (name && *name == '@') {
		if (!(x = by_interface(r, name + 1, e)) && *e == SS_OK)
			*e = SS_E_INVALID;
	} else if (name && *name) {
		if (!(x = rd_find_reader(r, name)))
			*e = SS_E_UNKNOWN_READER;
	} else {
		/* the first reader with a card, on the interface [readers]
		 * prefer names when cards are on both */
		for (x = r->list; x && !(x->announced && preferred(r, x)); x = x->next)
			;
		if (!x)
			for (x = r->list; x && !x->announced; x = x->next)
				;
		if (!x) /* a card still settling, or shadowed */
			for (x = r->list; x && !x->present; x = x->next)
				;
		if (!x)
			*e = r->list ? SS_E_NO_CARD : strcmp(r->pcsc_state, "down") ? SS_E_NO_READER
										    : SS_E_NO_SERVICE;
	}
	if (*e == SS_OK && !x->present)
		*e = SS_E_NO_CARD;
	if (*e == SS_OK && x->stuck)
		*e = SS_E_CARD_TIMEOUT;
	return *e == SS_OK ? x : NULL;
}

/* Answer a request that cannot start with error e. */
