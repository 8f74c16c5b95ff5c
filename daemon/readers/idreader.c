/* idreader.c — the resident ID card reader, polled by a thread of its own.
 *
 * Why a thread and not a helper process (as NFC has): libnfc is a foreign
 * library that can hang or crash on a broken device, so it is kept out of
 * the daemon; this reader speaks our own frame code (drivers/idcard.c) on a
 * plain file descriptor, every wait is a bounded poll(), and one thread is
 * enough to keep its one-second reads off the event loop.
 *
 * The thread keeps no one's data: what it read goes to the loop as JSON
 * (jansson's blocks are wiped when freed, see sscardd.c), the driver's
 * buffers are wiped by idc_read, and "the same card still lying there" is
 * decided by a keyed hash of the ID number, never the number itself. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "daemon/log.h"
#include "daemon/notify.h"
#include "daemon/readers/idreader.h"
#include "daemon/ticker.h"
#include "drivers/idcard.h"

#define MUTE_AFTER 3                 /* time-outs in a row: "not answering" */
#define REOPEN_MS 1000               /* an absent device is tried again this often */

struct waiter {
	void *cookie;
	idreader_done_fn done;
	uint64_t gen;                /* answered by the first read started at or after it */
	struct waiter *next;
};

struct idreader {
	char path[128];
	int baud;
	unsigned poll_ms;
	readers_emit_fn emit;
	void *emit_arg;
	idreader_done_fn person_fn;
	void *person_cookie;
	struct notifier *n;
	struct ticker t;             /* the thread; poked when a read is wanted */
	atomic_uint_fast64_t want;   /* read requests so far */
	/* the loop's */
	struct waiter *waiters;
	char state[16];
	char last_error[240];
	bool card;
	unsigned long reads, cards, failures;
};

/* ---- the thread ------------------------------------------------------------ */

static void today(char out[11])
{
	time_t t = time(NULL);
	struct tm tm;
	localtime_r(&t, &tm);
	strftime(out, 11, "%Y-%m-%d", &tm);
}

static json_t *person_json(const struct idc_person *p)
{
	char now[11];
	today(now);
	json_t *j = json_pack("{s:s}", "kind", idc_kind_name(p->kind));
	if (p->kind != IDC_KIND_RESIDENT)
		return j; /* another layout: nothing of it is decoded */
	json_object_set_new(j, "id_number", json_string(p->id_number));
	json_object_set_new(j, "name", json_string(p->name));
	json_object_set_new(j, "sex", json_string(p->sex));
	json_object_set_new(j, "nation", json_string(p->nation));
	json_object_set_new(j, "birth_date", json_string(p->birth_date));
	json_object_set_new(j, "address", json_string(p->address));
	json_object_set_new(j, "authority", json_string(p->authority));
	json_object_set_new(j, "valid_from", json_string(p->valid_from));
	json_object_set_new(j, "valid_until", json_string(p->long_term ? "long-term" : p->valid_until));
	json_object_set_new(j, "expired", json_boolean(idc_expired(p, now)));
	return j;
}

static void post(struct idreader *r, const char *what, json_t *extra)
{
	json_t *m = extra ? extra : json_object();
	json_object_set_new(m, "t", json_string(what));
	notifier_post(r->n, m);
}

static void post_state(struct idreader *r, const char *state, const char *why, char *last,
		       size_t lastlen)
{
	if (!strcmp(last, state))
		return;
	snprintf(last, lastlen, "%s", state);
	post(r, "state", json_pack("{s:s,s:s}", "state", state, "why", why ? why : ""));
}

static void *run(void *arg)
{
	struct idreader *r = arg;
	struct idc_person person;
	char err[240], state[16] = "", why[300];
	uint8_t key[crypto_generichash_KEYBYTES], seen[32];
	bool have = false;
	unsigned mute = 0;
	int fd = -1;
	crypto_generichash_keygen(key);
	while (!ticker_stopping(&r->t)) {
		if (fd < 0) {
			fd = idc_serial_open(r->path, r->baud, err, sizeof err);
			if (fd < 0) {
				if (have)
					post(r, "removed", NULL);
				have = false;
				post_state(r, "absent", err, state, sizeof state);
				/* a read wanted now gets its answer: no reader */
				uint64_t gen = atomic_load(&r->want);
				post(r, "result", json_pack("{s:I,s:b,s:s,s:s}", "gen", (json_int_t)gen, "ok", 0,
							    "error", "no_reader", "message", err));
				ticker_nap(&r->t, REOPEN_MS);
				continue;
			}
			mute = 0;
			post_state(r, "ready", NULL, state, sizeof state);
		}
		uint64_t gen = atomic_load(&r->want);
		struct idc_line line = idc_serial_line(&fd);
		enum idc_status st = idc_read(&line, &person, err, sizeof err);
		json_t *res = st == IDC_OK ? person_json(&person) : json_object();
		json_object_set_new(res, "gen", json_integer((json_int_t)gen));
		json_object_set_new(res, "ok", json_boolean(st == IDC_OK));
		if (st == IDC_OK) {
			uint8_t h[32];
			crypto_generichash(h, sizeof h, (const uint8_t *)person.id_number,
					   strlen(person.id_number), key, sizeof key);
			if (!have || memcmp(h, seen, sizeof h))
				post(r, "present", json_pack("{s:o}", "person", person_json(&person)));
			memcpy(seen, h, sizeof h);
			have = true;
			sodium_memzero(h, sizeof h);
		} else {
			json_object_set_new(res, "error", json_string(idc_status_code(st)));
			json_object_set_new(res, "message", json_string(err));
		}
		idc_person_wipe(&person);
		if (st != IDC_TIMEOUT && mute >= MUTE_AFTER)
			post_state(r, "ready", NULL, state, sizeof state);
		switch (st) {
		case IDC_OK: break;
		case IDC_NO_CARD:
			if (have)
				post(r, "removed", NULL);
			have = false;
			break;
		case IDC_CARD_MOVED:
			have = false;
			post(r, "error", json_pack("{s:s,s:s}", "code", "card_removed", "message", err));
			break;
		case IDC_TIMEOUT:
			if (++mute == MUTE_AFTER) {
				snprintf(why, sizeof why, "%s (%u reads in a row)", err, mute);
				post_state(r, "not_answering", why, state, sizeof state);
			}
			break;
		case IDC_LINE_ERROR:
			close(fd);
			fd = -1;
			break;
		case IDC_BAD_FRAME:
			tcflush(fd, TCIFLUSH); /* what is left of a damaged answer */
			break;
		default:
			post(r, "error", json_pack("{s:s,s:s}", "code", idc_status_code(st), "message", err));
			break;
		}
		if (st != IDC_TIMEOUT)
			mute = 0;
		post(r, "result", res);
		if (fd >= 0 && atomic_load(&r->want) == gen)
			ticker_nap(&r->t, r->poll_ms);
	}
	if (fd >= 0)
		close(fd);
	sodium_memzero(key, sizeof key);
	sodium_memzero(seen, sizeof seen);
	return NULL;
}

/* ---- the loop ------------------------------------------------------------- */

static void emit_event(struct idreader *r, json_t *e)
{
	if (r->emit)
		r->emit(r->emit_arg, e);
	json_decref(e);
}

static void answer(struct idreader *r, json_t *m)
{
	uint64_t gen = (uint64_t)json_integer_value(json_object_get(m, "gen"));
	json_object_del(m, "gen");
	json_object_del(m, "t");
	/* detach first: a done callback may ask for another read */
	struct waiter **pp = &r->waiters, *due = NULL, **tail = &due;
	while (*pp) {
		struct waiter *w = *pp;
		if (w->gen <= gen) {
			*pp = w->next;
			w->next = NULL;
			*tail = w;
			tail = &w->next;
		} else
			pp = &w->next;
	}
	while (due) {
		struct waiter *w = due;
		due = w->next;
		w->done(w->cookie, m);
		free(w);
	}
}

static void on_message(void *arg, json_t *m)
{
	struct idreader *r = arg;
	const char *t = json_string_value(json_object_get(m, "t"));
	if (!t)
		return;
	if (!strcmp(t, "result")) {
		const char *code = json_string_value(json_object_get(m, "error"));
		if (!code || strcmp(code, "no_reader"))
			r->reads++;
		if (code) {
			if (strcmp(code, "no_card") && strcmp(code, "no_reader")) {
				r->failures++;
				snprintf(r->last_error, sizeof r->last_error, "%s: %s", code,
					 json_string_value(json_object_get(m, "message")));
			}
		}
		answer(r, m);
	} else if (!strcmp(t, "present")) {
		r->card = true;
		r->cards++;
		log_msg(LOG_INFO, "ID card put on the reader");
		emit_event(r, json_pack("{s:s}", "event", "idcard_present"));
		if (r->person_fn)
			r->person_fn(r->person_cookie, json_object_get(m, "person"));
	} else if (!strcmp(t, "removed")) {
		r->card = false;
		emit_event(r, json_pack("{s:s}", "event", "idcard_removed"));
	} else if (!strcmp(t, "error")) {
		const char *code = json_string_value(json_object_get(m, "code"));
		r->card = false;
		log_at(LOG_NOTICE, NULL, code, "ID card reader: %s",
		       json_string_value(json_object_get(m, "message")));
		emit_event(r, json_pack("{s:s,s:s}", "event", "idcard_error", "code", code));
	} else if (!strcmp(t, "state")) {
		const char *s = json_string_value(json_object_get(m, "state"));
		const char *why = json_string_value(json_object_get(m, "why"));
		snprintf(r->state, sizeof r->state, "%s", s);
		if (strcmp(s, "ready"))
			r->card = false;
		if (!strcmp(s, "ready"))
			log_msg(LOG_INFO, "ID card reader %s ready (%d bit/s)", r->path, r->baud);
		else
			log_at(LOG_WARNING, NULL, !strcmp(s, "absent") ? "no_reader" : "reader_timeout",
			       "ID card reader %s: %s", r->path, why && *why ? why : s);
		if (*why)
			snprintf(r->last_error, sizeof r->last_error, "%s", why);
		emit_event(r, json_pack("{s:s,s:s}", "event", "idcard_reader", "state", s));
	}
}

int idreader_start(sd_event *ev, const struct config *cfg, readers_emit_fn emit, void *arg,
		   struct idreader **out)
{
	*out = NULL;
	if (!*cfg->idcard)
		return 0;
	struct idreader *r = calloc(1, sizeof *r);
	if (!r)
		return -ENOMEM;
	snprintf(r->path, sizeof r->path, "%s", cfg->idcard);
	r->baud = cfg->idcard_baud;
	r->poll_ms = cfg->idcard_poll_ms;
	r->emit = emit;
	r->emit_arg = arg;
	int rv = notifier_new(ev, on_message, r, &r->n);
	if (rv < 0 || (rv = ticker_start(&r->t, run, r)) < 0) {
		idreader_stop(r);
		return rv;
	}
	*out = r;
	return 0;
}

void idreader_stop(struct idreader *r)
{
	if (!r)
		return;
	ticker_stop(&r->t);
	while (r->waiters) {
		struct waiter *w = r->waiters;
		r->waiters = w->next;
		free(w);
	}
	notifier_free(r->n);
	free(r);
}

void idreader_on_person(struct idreader *r, idreader_done_fn fn, void *cookie)
{
	if (!r)
		return;
	r->person_fn = fn;
	r->person_cookie = cookie;
}

void idreader_read(struct idreader *r, void *cookie, idreader_done_fn done)
{
	if (!r) {
		json_t *e = json_pack("{s:b,s:s,s:s}", "ok", 0, "error", "no_reader", "message",
				      "No ID card reader is configured ([readers] idcard).");
		done(cookie, e);
		json_decref(e);
		return;
	}
	struct waiter *w = calloc(1, sizeof *w);
	if (!w) {
		json_t *e = json_pack("{s:b,s:s}", "ok", 0, "error", "internal");
		done(cookie, e);
		json_decref(e);
		return;
	}
	w->cookie = cookie;
	w->done = done;
	w->gen = atomic_fetch_add(&r->want, 1) + 1;
	w->next = r->waiters;
	r->waiters = w;
	ticker_poke(&r->t);
}

void idreader_forget(struct idreader *r, void *cookie)
{
	if (!r)
		return;
	for (struct waiter **pp = &r->waiters; *pp;) {
		struct waiter *w = *pp;
		if (w->cookie == cookie) {
			*pp = w->next;
			free(w);
		} else
			pp = &w->next;
	}
}

const char *idreader_state(const struct idreader *r)
{
	return !r ? "off" : *r->state ? r->state : "absent";
}

void idreader_metrics(const struct idreader *r, struct prom *p)
{
	static const char *const STATES[] = {"absent", "ready", "not_answering"};
	if (!r)
		return;
	struct prom_labels l = {.k = {"state"}, .n = 1};
	prom_family(p, "sscard_idcard_reader_state", "gauge",
		    "The ID card reader's state (1 for the state it is in).");
	for (size_t i = 0; i < sizeof STATES / sizeof STATES[0]; i++) {
		l.v[0] = STATES[i];
		prom_sample(p, "sscard_idcard_reader_state", &l, !strcmp(idreader_state(r), STATES[i]));
	}
	prom_one(p, "sscard_idcard_reads_total", "counter", "Reads of the ID card reader.", (double)r->reads);
	prom_one(p, "sscard_idcard_cards_total", "counter", "ID cards put on the reader.", (double)r->cards);
	prom_one(p, "sscard_idcard_failures_total", "counter",
		 "ID card reads that failed (not counting \"no card\").", (double)r->failures);
}

void idreader_add_status(const struct idreader *r, json_t *st)
{
	json_t *j = json_pack("{s:s}", "state", idreader_state(r));
	if (r) {
		json_object_set_new(j, "device", json_string(r->path));
		json_object_set_new(j, "baud", json_integer(r->baud));
		json_object_set_new(j, "card", json_boolean(r->card));
		json_object_set_new(j, "reads", json_integer((json_int_t)r->reads));
		json_object_set_new(j, "cards", json_integer((json_int_t)r->cards));
		json_object_set_new(j, "failures", json_integer((json_int_t)r->failures));
		if (*r->last_error)
			json_object_set_new(j, "last_error", json_string(r->last_error));
	}
	json_object_set_new(st, "idcard", j);
}
