/* loop.c — the loop-side reader state: readers coming and going, requests
 * handed to workers with deadlines, their answers, events to subscribers. */
#include "daemon/readers/internal.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon/json.h"
#include "daemon/log.h"
#include "daemon/mask.h"

double rd_now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)(ts.tv_nsec / 1000000) / 1e3;
}

void rd_emit(struct readers *r, json_t *e)
{
	if (!e)
		return;
	if (atomic_load(&r->stopping)) { /* subscribers are gone */
		json_decref(e);
		return;
	}
	json_object_set_new(e, "time", json_real(rd_now_s()));
	/* status shows the last event without personal data */
	json_t *copy = json_deep_copy(e);
	if (copy) {
		json_t *card = json_object_get(copy, "card");
		const char *id = json_string_value(json_object_get(card, "card_id"));
		if (id) {
			char m[32];
			mask_id(id, m, sizeof m);
			json_object_set_new(copy, "card_id", json_string(m));
		}
		json_object_del(copy, "card");
		json_decref(r->last_event);
		r->last_event = copy;
	}
	r->emit(r->emit_arg, e);
	json_decref(e);
}

struct reader *rd_find_reader(struct readers *r, const char *name)
{
	for (struct reader *x = r->list; x; x = x->next)
		if (!strcmp(x->name, name))
			return x;
	return NULL;
}

/* Remember (or forget) a reader the filters leave out, for a reload. */
void rd_ignore(struct readers *r, const char *name, bool on)
{
	for (size_t i = 0; i < r->n_ignored; i++) {
		if (strcmp(r->ignored[i], name))
			continue;
		if (!on)
			memmove(r->ignored[i], r->ignored[i + 1],
				(r->n_ignored-- - i - 1) * sizeof r->ignored[0]);
		return;
	}
	if (on && r->n_ignored < sizeof r->ignored / sizeof r->ignored[0])
		snprintf(r->ignored[r->n_ignored++], RDR_NAME_MAX, "%s", name);
}

void rd_reader_free(struct reader *x)
{
	if (x->w)
		worker_quit(x->w);
	sd_event_source_disable_unref(x->settle);
	free(x);
}

/* nfc: the NFC helper's reader, served by the helper, not a worker. */
void rd_reader_added(struct readers *r, const char *name, bool nfc)
{
	if (rd_find_reader(r, name))
		return;
	if (!nfc && r->psam && !r->sam_name[0] && r->cfg->sam_reader[0] &&
	    !fnmatch(r->cfg->sam_reader, name, 0)) {
		snprintf(r->sam_name, sizeof r->sam_name, "%s", name);
		psam_reader(r->psam, name, false);
		log_msg(LOG_INFO, "reader '%s' is the PSAM's ([readers] sam_reader)", name);
	}
	if (!config_reader_wanted(r->cfg, name)) {
		log_msg(LOG_INFO, "reader '%s' ignored ([readers] include/exclude/sam_reader)", name);
		rd_ignore(r, name, true);
		return;
	}
	rd_ignore(r, name, false);
	struct reader *x = calloc(1, sizeof *x);
	if (!x || (!nfc && !(x->w = worker_start(name, r->q, r->cfg->card_hold_ms, r->list_path,
						     r->psam, r->hsm)))) {
		log_msg(LOG_ERR, "cannot start a worker for reader '%s'", name);
		free(x);
		return;
	}
	snprintf(x->name, sizeof x->name, "%s", name);
	x->nfc = nfc;
	x->r = r;
	struct reader **tail = &r->list; /* keep the order readers appeared in */
	while (*tail)
		tail = &(*tail)->next;
	*tail = x;
	log_msg(LOG_INFO, "reader '%s' added", name);
	rd_emit(r, json_pack("{s:s,s:s}", "event", "reader_added", "reader", name));
}

static void reply(struct pending *p, json_t *j);

/* Answer every request waiting on reader with e. */
void rd_fail_pending(struct readers *r, const char *reader, enum ss_err e)
{
	for (struct pending **pp = &r->pending; *pp;) {
		struct pending *p = *pp;
		if (strcmp(p->reader, reader)) {
			pp = &p->next;
			continue;
		}
		*pp = p->next;
		json_t *j = json_error(e, NULL);
		json_object_set_new(j, "reader", json_string(reader));
		reply(p, j);
		json_decref(j);
		rd_pending_free(p);
	}
}

void rd_reader_removed(struct readers *r, const char *name)
{
	rd_ignore(r, name, false);
	if (r->psam && !strcmp(r->sam_name, name)) {
		r->sam_name[0] = 0;
		psam_reader(r->psam, NULL, false);
		log_msg(LOG_WARNING, "the PSAM's reader '%s' is gone", name);
		rd_emit(r, json_pack("{s:s,s:s,s:b}", "event", "psam", "reader", name, "present", 0));
	}
	for (struct reader **p = &r->list; *p; p = &(*p)->next) {
		struct reader *x = *p;
		if (strcmp(x->name, name))
			continue;
		*p = x->next;
		rd_reader_free(x);
		rd_fail_pending(r, name, SS_E_NO_READER);
		log_msg(LOG_INFO, "reader '%s' removed", name);
		rd_emit(r, json_pack("{s:s,s:s}", "event", "reader_removed", "reader", name));
		return;
	}
}

void rd_pending_free(struct pending *p)
{
	sd_event_source_disable_unref(p->timer);
	free(p);
}

static struct pending *pending_take(struct readers *r, uint64_t id)
{
	for (struct pending **pp = &r->pending; *pp; pp = &(*pp)->next) {
		if ((*pp)->id == id) {
			struct pending *p = *pp;
			*pp = p->next;
			return p;
		}
	}
	return NULL;
}

static void reply(struct pending *p, json_t *j)
{
	if (p->fn && j)
		p->fn(p->cookie, j);
}

static int on_deadline(sd_event_source *s, uint64_t usec, void *arg)
{
	struct pending *p = arg;
	struct readers *r = p->r;
	struct reader *x = rd_find_reader(r, p->reader);
	pending_take(r, p->id);
	if (x)
		x->stuck = true;
	r->errors[SS_E_CARD_TIMEOUT]++;
	log_at(LOG_WARNING, p->reader, ss_err_name(SS_E_CARD_TIMEOUT), "%s in '%s' did not finish within %u ms",
	       p->pin ? "PIN entry" : "card read", p->reader, p->limit_ms);
	json_t *e = json_error(SS_E_CARD_TIMEOUT, NULL);
	json_object_set_new(e, "reader", json_string(p->reader));
	reply(p, e);
	json_decref(e);
	/* a PIN job is not a read: the kiosk must not show "could not be read" */
	rd_emit(r, json_pack("{s:s,s:s,s:s,s:s}", "event", p->pin ? "pin_failed" : "read_failed", "reader", p->reader,
			  "error", ss_err_name(SS_E_CARD_TIMEOUT), "message",
			  ss_err_text(SS_E_CARD_TIMEOUT)));
	rd_pending_free(p);
	return 0;
}

/* Hand a read of reader x (or the PIN job pj, taken) to its worker;
 * fn/cookie get the answer. */

/* Give job j (taken) to whoever serves reader x: its worker thread, or
 * the NFC helper. */
static enum ss_err push(struct readers *r, struct reader *x, struct job *j)
{
	if (!x->nfc) {
		worker_push_job(x->w, j);
		return SS_OK;
	}
	struct nfcd_req q = {.kind = j->kind == JOB_PIN ? NFCD_PIN : NFCD_READ, .job = j->id,
			     .op = (uint32_t)j->op, .auth = r->psam || r->hsm,
			     .auth_ms = r->cfg->sam_timeout_ms, .key_id = r->cfg->card_key_id};
	memcpy(q.pin_old, j->pin_old, sizeof q.pin_old);
	memcpy(q.pin_new, j->pin_new, sizeof q.pin_new);
	job_free(j);
	return rd_nfc_send(r, &q) ? SS_OK : SS_E_READER;
}

void rd_start_job(struct readers *r, struct reader *x, void *cookie, readers_reply_fn fn,
		  struct job *pj)
{
	struct pending *p = calloc(1, sizeof *p);
	uint64_t now;
	json_t *e;
	enum ss_err err = SS_E_NOMEM;

	if (p && !pj && (pj = calloc(1, sizeof *pj)))
		pj->kind = JOB_READ;
	if (pj && pj->kind == JOB_READ) /* EXTERNAL AUTHENTICATE's key, for 3.00 cards */
		pj->key_id = r->cfg->card_key_id;
	/* the holder types up to three PINs on a pad, each within its timeout */
	uint64_t limit_ms = r->cfg->read_timeout_ms + (pj && pj->pad ? 3 * PINPAD_TIMEOUT_S * 1000 + 5000 : 0);
	bool is_pin = pj && pj->kind == JOB_PIN;
	if (p && pj) {
		pj->id = ++r->next_job;
		err = push(r, x, pj);
		pj = NULL;
	}
	if (pj)
		job_free(pj);
	if (err != SS_OK) {
		free(p);
		e = json_error(err, NULL);
		if (fn)
			fn(cookie, e);
		json_decref(e);
		return;
	}
	p->id = r->next_job;
	p->pin = is_pin;
	p->limit_ms = (unsigned)limit_ms;
	p->cookie = cookie;
	p->fn = fn;
	p->r = r;
	snprintf(p->reader, sizeof p->reader, "%s", x->name);
	sd_event_now(r->ev, CLOCK_MONOTONIC, &now);
	sd_event_add_time(r->ev, &p->timer, CLOCK_MONOTONIC,
			  now + limit_ms * 1000, 1000, on_deadline, p);
	p->next = r->pending;
	r->pending = p;
	x->outstanding++;
}

void rd_read_done(struct readers *r, struct msg *m)
{
	struct reader *x = rd_find_reader(r, m->reader);
	struct pending *p = pending_take(r, m->job);
	json_t *res;

	if (x && x->outstanding && --x->outstanding == 0)
		x->stuck = false;
	if (!p)
		return; /* answered already (deadline passed) */
	if (m->err == SS_OK) {
		char id[32] = "";
		res = json_read_result(m->reader, m->interface, m->atr, m->atr_len, &m->card,
				       m->elapsed_ms);
		json_object_set_new(res, "loss",
				    json_loss(m->loss_rc, &m->loss, &m->loss_info, r->cfg->stale_after));
		char term[13];
		if (r->psam && psam_terminal(r->psam, term)) /* 终端机编号: the PSAM's */
			json_object_set_new(res, "terminal_id", json_string(term));
		else if (r->cfg->terminal_id[0]) /* … or the configured one */
			json_object_set_new(res, "terminal_id", json_string(r->cfg->terminal_id));
		if (m->serial[0]) /* 终端设备号 */
			json_object_set_new(res, "reader_serial", json_string(m->serial));
		if (m->loss_rc == 1) {
			char mid[40];
			mask_id(m->card.value[SSC_CARD_ID], mid, sizeof mid);
			log_at(LOG_NOTICE, m->reader, "card_listed", "card %s is on the loss list (%s)",
			       mid, loss_state_name(m->loss.state));
		}
		mask_id(m->card.value[SSC_CARD_ID], id, sizeof id);
		r->reads_ok++;
		r->reads_by[m->interface && !strcmp(m->interface, "contactless")][0]++;
		prom_hist_observe(&r->read_seconds, m->elapsed_ms / 1000.0);
		log_msg(LOG_INFO, "card read in '%s': %s, %u APDUs, %.1f ms, %zu field errors",
			m->reader, m->card.have[SSC_CARD_ID] ? id : "(no card id)", m->card.apdus,
			m->elapsed_ms, m->card.n_errors);
		reply(p, res);
		if (res)
			rd_emit(r, json_pack("{s:s,s:s,s:O}", "event", "card_read", "reader", m->reader,
					  "card", res));
	} else {
		res = json_error(m->err, NULL);
		json_object_set_new(res, "reader", json_string(m->reader));
		if (m->atr_len)
			json_object_set_new(res, "atr", json_hex(m->atr, m->atr_len));
		r->errors[m->err]++;
		r->reads_by[m->interface && !strcmp(m->interface, "contactless")][1]++;
		log_at(LOG_NOTICE, m->reader, ss_err_name(m->err), "card in '%s' not read: %s",
		       m->reader, ss_err_text(m->err));
		reply(p, res);
		rd_emit(r, json_pack("{s:s,s:s,s:s,s:s}", "event", "read_failed", "reader", m->reader,
				  "error", ss_err_name(m->err), "message", ss_err_text(m->err)));
	}
	json_decref(res);
	rd_pending_free(p);
}

void rd_pin_done(struct readers *r, struct msg *m)
{
	struct reader *x = rd_find_reader(r, m->reader);
	struct pending *p = pending_take(r, m->job);
	if (x && x->outstanding && --x->outstanding == 0)
		x->stuck = false;
	if (!p)
		return;
	json_t *res = m->err == SS_OK ? json_pack("{s:b}", "ok", 1) : json_error(m->err, NULL);
	json_object_set_new(res, "reader", json_string(m->reader));
	if (m->tries_left >= 0)
		json_object_set_new(res, "tries_left", json_integer(m->tries_left));
	if (m->err == SS_OK && m->pk_n) { /* a §10 step 1: what the counter's encryptor MACs */
		json_object_set_new(res, "card_id", json_hex(m->pk_id, sizeof m->pk_id));
		json_object_set_new(res, "challenge", json_hex(m->pk_r, sizeof m->pk_r));
		json_object_set_new(res, "command", json_hex(m->pk_m, m->pk_n));
	}
	if (m->err != SS_OK)
		log_at(LOG_NOTICE, m->reader, ss_err_name(m->err), "PIN operation in '%s': %s", m->reader,
		       ss_err_text(m->err));
	reply(p, res);
	json_decref(res);
	rd_pending_free(p);
}

void rd_rdr_event(struct readers *r, const struct rdr_event *ev)
{
	struct reader *x;
	switch (ev->kind) {
	case RDR_SERVICE_UP:
		if (!strcmp(r->pcsc_state, "down") && !r->early_timer && early_arm(r) >= 0)
			r->scanned = false; /* back: hold requests until its readers are listed again */
		r->pcsc_state = "up";
		log_msg(LOG_INFO, "pcscd is available");
		rd_emit(r, json_pack("{s:s}", "event", "pcsc_up"));
		break;
	case RDR_SERVICE_DOWN:
		r->errors[SS_E_NO_SERVICE]++;
		log_msg(LOG_WARNING, strcmp(r->pcsc_state, "starting")
					     ? "pcscd went away; waiting for it to come back"
					     : "pcscd is not running; waiting for it to start");
		r->pcsc_state = "down";
		rd_emit(r, json_pack("{s:s}", "event", "pcsc_down"));
		early_check(r); /* they get no_service now rather than in 2 s */
		break;
	case RDR_SCAN_DONE:
		r->scanned = true;
		early_check(r);
		break;
	case RDR_READER_ADDED:
		rd_reader_added(r, ev->reader, false);
		break;
	case RDR_READER_REMOVED:
		rd_reader_removed(r, ev->reader);
		break;
	case RDR_CARD_INSERTED:
		if (r->psam && !strcmp(r->sam_name, ev->reader)) {
			psam_reader(r->psam, ev->reader, true);
			/* what this terminal can do changed (a kiosk's "unlock PIN") */
			rd_emit(r, json_pack("{s:s,s:s,s:b}", "event", "psam", "reader", ev->reader, "present", 1));
		}
		if (!(x = rd_find_reader(r, ev->reader)))
			break;
		x->present = true;
		memcpy(x->atr, ev->atr, ev->atr_len);
		x->atr_len = ev->atr_len;
		rd_card_arrived(r, x);
		break;
	case RDR_CARD_REMOVED:
		if (r->psam && !strcmp(r->sam_name, ev->reader)) {
			psam_reader(r->psam, ev->reader, false);
			log_msg(LOG_WARNING, "the PSAM was taken out of '%s'", ev->reader);
			rd_emit(r, json_pack("{s:s,s:s,s:b}", "event", "psam", "reader", ev->reader, "present", 0));
		}
		if ((x = rd_find_reader(r, ev->reader)))
			rd_card_left(r, x);
		break;
	}
}

int rd_on_queue(sd_event_source *s, int fd, uint32_t revents, void *arg)
{
	struct readers *r = arg;
	uint64_t v;
	if (read(fd, &v, sizeof v) < 0 && errno != EAGAIN)
		log_msg(LOG_ERR, "event queue: %m");
	for (struct msg *m = msgq_take_all(r->q), *n; m; m = n) {
		n = m->next;
		if (m->kind == MSG_RDR)
			rd_rdr_event(r, &m->ev);
		else if (m->kind == MSG_PIN_DONE)
			rd_pin_done(r, m);
		else if (m->kind == MSG_TRACE) {
			json_object_set_new(m->trace, "time", json_real(rd_now_s()));
			r->emit(r->emit_arg, m->trace); /* not a "last event" for status */
		} else
			rd_read_done(r, m);
		msg_free(m);
	}
	return 0;
}
