/* readers.c — reader manager: monitor thread, per-reader workers, the
 * queue back to the event loop, read requests with deadlines. */
#include "readers.h"

#include <errno.h>
#include <sodium.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "../drivers/reader.h"
#include "losslist.h"
#include "json.h"
#include "log.h"
#include "mask.h"

/* ---- thread → loop queue ------------------------------------------------ */

enum msg_kind { MSG_RDR, MSG_DONE, MSG_TRACE, MSG_PIN_DONE };

struct msg {
	struct msg *next;
	enum msg_kind kind;
	struct rdr_event ev;         /* MSG_RDR */
	uint64_t job;                /* MSG_DONE … */
	enum ss_err err;
	char reader[RDR_NAME_MAX];
	uint8_t atr[ATR_MAX];
	size_t atr_len;
	const char *interface;
	struct ssc_card card;
	double elapsed_ms;
	json_t *trace;               /* MSG_TRACE: the event, built by the worker */
	int loss_rc;                 /* losslist_lookup: 1 listed, 0 not, -1 unknown */
	struct loss_entry loss;
	struct loss_info loss_info;
	int tries_left;              /* MSG_PIN_DONE: after a wrong PIN, or -1 */
};

/* Shared by the loop and every thread; freed by the last reference, so a
 * worker stuck on a mute card may outlive the loop safely. */
struct msgq {
	atomic_int refs;
	pthread_mutex_t mu;
	struct msg *head, *tail;
	bool closed;
	int efd;
	atomic_bool trace;           /* workers emit APDU trace lines */
};

static struct msgq *msgq_new(void)
{
	struct msgq *q = calloc(1, sizeof *q);
	if (!q)
		return NULL;
	q->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->efd < 0) {
		free(q);
		return NULL;
	}
	atomic_init(&q->refs, 1);
	atomic_init(&q->trace, false);
	pthread_mutex_init(&q->mu, NULL);
	return q;
}

static void msg_free(struct msg *m)
{
	ssc_card_wipe(&m->card);
	json_decref(m->trace);
	free(m);
}

static void msgq_unref(struct msgq *q)
{
	if (atomic_fetch_sub(&q->refs, 1) != 1)
		return;
	for (struct msg *m = q->head, *n; m; m = n) {
		n = m->next;
		msg_free(m);
	}
	close(q->efd);
	pthread_mutex_destroy(&q->mu);
	free(q);
}

static void msgq_post(struct msgq *q, struct msg *m)
{
	uint64_t one = 1;
	pthread_mutex_lock(&q->mu);
	if (q->closed) {
		pthread_mutex_unlock(&q->mu);
		msg_free(m);
		return;
	}
	m->next = NULL;
	if (q->tail)
		q->tail->next = m;
	else
		q->head = m;
	q->tail = m;
	pthread_mutex_unlock(&q->mu);
	if (write(q->efd, &one, sizeof one) < 0 && errno != EAGAIN)
		log_msg(LOG_ERR, "cannot wake the event loop: %m");
}

static struct msg *msgq_take_all(struct msgq *q)
{
	pthread_mutex_lock(&q->mu);
	struct msg *m = q->head;
	q->head = q->tail = NULL;
	pthread_mutex_unlock(&q->mu);
	return m;
}

/* ---- workers ------------------------------------------------------------ */

enum job_kind {
	JOB_READ,
	JOB_RELEASE,                 /* the card was removed: let go of it */
	JOB_RESET,                   /* a technician's reset: power the card down */
	JOB_PIN,                     /* VERIFY or CHANGE PIN for a kiosk flow */
};

struct job {
	struct job *next;
	enum job_kind kind;
	uint64_t id;                 /* JOB_READ, JOB_PIN */
	enum readers_pin_op op;      /* JOB_PIN; the PINs are wiped with the job */
	char pin_old[16], pin_new[16];
};

static void job_free(struct job *j)
{
	sodium_memzero(j, sizeof *j);
	free(j);
}

struct worker {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job *head, *tail;
	bool quit;
	char reader[RDR_NAME_MAX];
	struct msgq *q;
	unsigned hold_ms;            /* keep the card connected this long after use */
	char list_path[300];         /* the loss list, opened read-only by the worker */
};

static atomic_int live_workers;

/* Errors after which a held connection is no use: the card left, another
 * program reset it, or pcscd restarted under us. */
static bool conn_stale(enum ss_err e)
{
	return e == SS_E_CARD_REMOVED || e == SS_E_CARD_RESET || e == SS_E_NO_SERVICE ||
	       e == SS_E_INTERNAL || e == SS_E_NO_CARD || e == SS_E_NO_READER ||
	       e == SS_E_READER || e == SS_E_CARD_UNPOWERED;
}

/* The worker's card session: connected on first use, kept while the card
 * is used and for hold_ms after, so a flow's next step or counter
 * software's next read skips the connect; let go when the card leaves. */
struct session {
	struct pcsc_conn *conn;
	struct rdr_card card;
	bool held;
	struct losslist *list;       /* this worker's read-only connection */
};

/* Look the card up in the loss list (off the loop: this is the worker). */
static void check_loss(struct worker *w, struct session *s, struct msg *m)
{
	uint8_t id[LOSS_ID_LEN];
	char err[256];
	m->loss_rc = -1;
	if (!m->card.have[SSC_CARD_ID] || !loss_id_parse(m->card.value[SSC_CARD_ID], id))
		return;
	if (!s->list && losslist_open(w->list_path, false, &s->list, err, sizeof err) < 0) {
		log_msg(LOG_ERR, "loss list: %s", err);
		return;
	}
	m->loss_rc = losslist_lookup(s->list, id, &m->loss, &m->loss_info);
	if (m->loss_rc < 0) {
		losslist_close(s->list); /* reopen next time: the file may have been replaced */
		s->list = NULL;
	}
}

static void session_drop(struct session *s)
{
	if (s->held)
		pcsc_disconnect(&s->card);
	s->held = false;
}

/* APDU trace hook (worker thread): cmd/rsp arrive redacted by apdu.c. */
static void trace_apdu(void *arg, const uint8_t *cmd, size_t cmd_len, const uint8_t *rsp,
		       size_t rsp_len, unsigned flags, uint64_t us)
{
	struct worker *w = arg;
	if (!atomic_load(&w->q->trace))
		return;
	struct msg *m = calloc(1, sizeof *m);
	if (!m)
		return;
	m->kind = MSG_TRACE;
	json_t *sw = rsp_len >= 2 ? json_hex(rsp + rsp_len - 2, 2) : json_null();
	m->trace = json_pack("{s:s,s:s,s:o,s:o,s:o,s:I}", "event", "apdu", "reader", w->reader, "cmd",
			     json_hex(cmd, cmd_len), "rsp",
			     json_hex(rsp, rsp_len >= 2 ? rsp_len - 2 : 0), "sw", sw, "us",
			     (json_int_t)us);
	if (m->trace && flags)
		json_object_set_new(m->trace, "redacted", json_true());
	if (!m->trace) {
		free(m);
		return;
	}
	msgq_post(w->q, m);
}

static void do_reset(struct worker *w, struct session *s)
{
	session_drop(s);
	enum ss_err e = pcsc_connect(s->conn, w->reader, &s->card);
	if (e == SS_OK)
		pcsc_disconnect_unpower(&s->card);
	log_msg(LOG_INFO, "reader '%s' reset: card %s", w->reader,
		e == SS_OK ? "powered down" : ss_err_name(e));
}

static void do_read(struct worker *w, struct session *s, uint64_t id)
{
	struct msg *m = calloc(1, sizeof *m);
	struct timespec t0, t1;
	if (!m)
		return;
	m->kind = MSG_DONE;
	m->job = id;
	strcpy(m->reader, w->reader);
	m->interface = "contact";
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int attempt = 0;; attempt++) {
		bool fresh = !s->held;
		if (fresh) {
			m->err = pcsc_connect(s->conn, w->reader, &s->card);
			if (m->err != SS_OK) {
				/* a card pulled right as a held session was retried */
				if (attempt && m->err == SS_E_NO_CARD)
					m->err = SS_E_CARD_REMOVED;
				break;
			}
			s->held = true;
		}
		/* the APDU hook only while someone traces: apdu.c copies and
		 * redacts every exchange for it */
		s->card.tr.trace = atomic_load(&w->q->trace) ? trace_apdu : NULL;
		s->card.tr.trace_arg = w;
		unsigned before = s->card.tr.apdus;
		ssc_card_wipe(&m->card);
		m->err = ssc_read(&s->card.tr, &m->card);
		if (m->err == SS_OK || !(conn_stale(m->err) || m->err == SS_E_BAD_RESPONSE))
			break;
		session_drop(s);
		/* Retry once on a fresh connection when a held one turned out
		 * stale at its first APDU, another program reset the card (the
		 * card's selected file is gone: start over), or an exchange
		 * failed or answered out of protocol with the card still there
		 * — what a card pulled and pushed back within one of pcscd's
		 * presence polls looks like.
		 * A card that is really broken fails the same way twice. */
		if (attempt || !((!fresh && s->card.tr.apdus - before <= 1) ||
				 m->err == SS_E_CARD_RESET || m->err == SS_E_READER ||
				 m->err == SS_E_BAD_RESPONSE))
			break;
	}
	if (m->err == SS_OK)
		check_loss(w, s, m);
	if (s->held) {
		memcpy(m->atr, s->card.atr, s->card.atr_len);
		m->atr_len = s->card.atr_len;
		m->interface = s->card.interface;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	m->elapsed_ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	msgq_post(w->q, m);
}

/* VERIFY or CHANGE PIN on the card in the reader (one retry on a fresh
 * connection when a held one turned out stale, as for reads). */
static void do_pin(struct worker *w, struct session *s, struct job *j)
{
	struct msg *m = calloc(1, sizeof *m);
	if (!m)
		return;
	m->kind = MSG_PIN_DONE;
	m->job = j->id;
	m->tries_left = -1;
	strcpy(m->reader, w->reader);
	for (int attempt = 0; attempt < 2; attempt++) {
		if (!s->held) {
			m->err = pcsc_connect(s->conn, w->reader, &s->card);
			if (m->err != SS_OK)
				break;
			s->held = true;
		}
		s->card.tr.trace = atomic_load(&w->q->trace) ? trace_apdu : NULL;
		s->card.tr.trace_arg = w;
		m->err = ssc_select(&s->card.tr);
		if (m->err == SS_OK)
			m->err = j->op == READERS_PIN_VERIFY
					 ? ssc_verify_pin(&s->card.tr, j->pin_old, &m->tries_left)
					 : ssc_change_pin(&s->card.tr, j->pin_old, j->pin_new, &m->tries_left);
		if (!conn_stale(m->err) && m->err != SS_E_BAD_RESPONSE)
			break;
		session_drop(s);
		if (m->err == SS_E_CARD_REMOVED || m->err == SS_E_NO_CARD)
			break;
	}
	msgq_post(w->q, m);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct session s = {0};
	if (pcsc_conn_new(&s.conn) != SS_OK)
		log_msg(LOG_ERR, "reader worker: out of memory");
	for (;;) {
		pthread_mutex_lock(&w->mu);
		if (s.held && !w->head && !w->quit) {
			struct timespec until;
			clock_gettime(CLOCK_MONOTONIC, &until);
			until.tv_sec += w->hold_ms / 1000;
			until.tv_nsec += (long)(w->hold_ms % 1000) * 1000000L;
			if (until.tv_nsec >= 1000000000L) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000L;
			}
			while (!w->head && !w->quit)
				if (pthread_cond_timedwait(&w->cv, &w->mu, &until) == ETIMEDOUT)
					break;
		} else {
			while (!w->head && !w->quit)
				pthread_cond_wait(&w->cv, &w->mu);
		}
		if (w->quit) {
			pthread_mutex_unlock(&w->mu);
			break;
		}
		struct job *j = w->head;
		if (!j) { /* idle for hold_ms: let other programs have the card */
			pthread_mutex_unlock(&w->mu);
			session_drop(&s);
			continue;
		}
		w->head = j->next;
		if (!w->head)
			w->tail = NULL;
		pthread_mutex_unlock(&w->mu);
		if (j->kind == JOB_RELEASE)
			session_drop(&s);
		else if (j->kind == JOB_RESET && s.conn)
			do_reset(w, &s);
		else if (j->kind == JOB_PIN && s.conn)
			do_pin(w, &s, j);
		else if (s.conn)
			do_read(w, &s, j->id);
		job_free(j);
	}
	for (struct job *j = w->head, *n; j; j = n) {
		n = j->next;
		job_free(j);
	}
	session_drop(&s);
	losslist_close(s.list);
	pcsc_conn_free(s.conn);
	msgq_unref(w->q);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w);
	atomic_fetch_sub(&live_workers, 1);
	return NULL;
}

static struct worker *worker_start(const char *reader, struct msgq *q, unsigned hold_ms,
				   const char *list_path)
{
	pthread_condattr_t ca;
	struct worker *w = calloc(1, sizeof *w);
	pthread_t th;
	pthread_attr_t at;
	if (!w)
		return NULL;
	pthread_mutex_init(&w->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cv, &ca);
	pthread_condattr_destroy(&ca);
	w->hold_ms = hold_ms;
	snprintf(w->list_path, sizeof w->list_path, "%s", list_path);
	snprintf(w->reader, sizeof w->reader, "%s", reader);
	w->q = q;
	atomic_fetch_add(&q->refs, 1);
	atomic_fetch_add(&live_workers, 1);
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&th, &at, worker_main, w)) {
		pthread_attr_destroy(&at);
		atomic_fetch_sub(&live_workers, 1);
		msgq_unref(q);
		pthread_cond_destroy(&w->cv);
		pthread_mutex_destroy(&w->mu);
		free(w);
		return NULL;
	}
	pthread_attr_destroy(&at);
	return w;
}

static void worker_push_job(struct worker *w, struct job *j)
{
	pthread_mutex_lock(&w->mu);
	if (w->tail)
		w->tail->next = j;
	else
		w->head = j;
	w->tail = j;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

static bool worker_push(struct worker *w, enum job_kind kind, uint64_t id)
{
	struct job *j = calloc(1, sizeof *j);
	if (!j)
		return false;
	j->kind = kind;
	j->id = id;
	worker_push_job(w, j);
	return true;
}

/* After this the loop never touches w again; the thread frees it. */
static void worker_quit(struct worker *w)
{
	pthread_mutex_lock(&w->mu);
	w->quit = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

/* ---- loop-side state ---------------------------------------------------- */

struct reader {
	struct reader *next;
	char name[RDR_NAME_MAX];
	struct worker *w;
	bool present;
	uint8_t atr[ATR_MAX];
	size_t atr_len;
	unsigned outstanding;        /* jobs handed to the worker, not yet done */
	bool stuck;                  /* a job passed its deadline and is still running */
};

struct pending {
	struct pending *next;
	uint64_t id;
	void *cookie;                /* NULL: a read started by card insertion */
	readers_reply_fn fn;
	sd_event_source *timer;
	struct readers *r;
	char reader[RDR_NAME_MAX];
};

struct readers {
	sd_event *ev;
	const struct config *cfg;
	readers_emit_fn emit;
	void *emit_arg;
	struct msgq *q;
	sd_event_source *q_src;
	struct pcsc_monitor *mon;
	pthread_t mon_thread;
	bool mon_running;
	atomic_bool stopping;
	atomic_bool mon_exited;      /* the monitor thread ended on its own */
	const char *pcsc_state;      /* "off", "starting", "up", "down" */
	struct reader *list;
	struct pending *pending;
	uint64_t next_job;
	json_t *last_event;
	char list_path[300];
	char ignored[32][RDR_NAME_MAX]; /* readers seen but filtered out by the config */
	size_t n_ignored;
	unsigned long errors[SS_E__COUNT];
	unsigned long reads_ok;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)(ts.tv_nsec / 1000000) / 1e3;
}

static void emit(struct readers *r, json_t *e)
{
	if (!e)
		return;
	json_object_set_new(e, "time", json_real(now_s()));
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

static struct reader *find_reader(struct readers *r, const char *name)
{
	for (struct reader *x = r->list; x; x = x->next)
		if (!strcmp(x->name, name))
			return x;
	return NULL;
}

/* Remember (or forget) a reader the filters leave out, for a reload. */
static void ignore(struct readers *r, const char *name, bool on)
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

static void reader_added(struct readers *r, const char *name)
{
	if (find_reader(r, name))
		return;
	if (!config_reader_wanted(r->cfg, name)) {
		log_msg(LOG_INFO, "reader '%s' ignored ([readers] include/exclude/sam_reader)", name);
		ignore(r, name, true);
		return;
	}
	ignore(r, name, false);
	struct reader *x = calloc(1, sizeof *x);
	if (!x || !(x->w = worker_start(name, r->q, r->cfg->card_hold_ms, r->list_path))) {
		log_msg(LOG_ERR, "cannot start a worker for reader '%s'", name);
		free(x);
		return;
	}
	snprintf(x->name, sizeof x->name, "%s", name);
	struct reader **tail = &r->list; /* keep the order readers appeared in */
	while (*tail)
		tail = &(*tail)->next;
	*tail = x;
	log_msg(LOG_INFO, "reader '%s' added", name);
	emit(r, json_pack("{s:s,s:s}", "event", "reader_added", "reader", name));
}

static void pending_free(struct pending *p);
static void reply(struct pending *p, json_t *j);

/* Answer every request waiting on reader with e. */
static void fail_pending(struct readers *r, const char *reader, enum ss_err e)
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
		pending_free(p);
	}
}

static void reader_removed(struct readers *r, const char *name)
{
	ignore(r, name, false);
	for (struct reader **p = &r->list; *p; p = &(*p)->next) {
		struct reader *x = *p;
		if (strcmp(x->name, name))
			continue;
		*p = x->next;
		worker_quit(x->w);
		free(x);
		fail_pending(r, name, SS_E_NO_READER);
		log_msg(LOG_INFO, "reader '%s' removed", name);
		emit(r, json_pack("{s:s,s:s}", "event", "reader_removed", "reader", name));
		return;
	}
}

static void pending_free(struct pending *p)
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
	struct reader *x = find_reader(r, p->reader);
	pending_take(r, p->id);
	if (x)
		x->stuck = true;
	r->errors[SS_E_CARD_TIMEOUT]++;
	log_at(LOG_WARNING, p->reader, ss_err_name(SS_E_CARD_TIMEOUT),
	       "card in '%s' did not answer within %u ms", p->reader, r->cfg->read_timeout_ms);
	json_t *e = json_error(SS_E_CARD_TIMEOUT, NULL);
	json_object_set_new(e, "reader", json_string(p->reader));
	reply(p, e);
	json_decref(e);
	emit(r, json_pack("{s:s,s:s,s:s,s:s}", "event", "read_failed", "reader", p->reader,
			  "error", ss_err_name(SS_E_CARD_TIMEOUT), "message",
			  ss_err_text(SS_E_CARD_TIMEOUT)));
	pending_free(p);
	return 0;
}

/* Hand a read of reader x (or the PIN job pj, taken) to its worker;
 * fn/cookie get the answer. */
static void start_job(struct readers *r, struct reader *x, void *cookie, readers_reply_fn fn,
		      struct job *pj)
{
	struct pending *p = calloc(1, sizeof *p);
	uint64_t now;
	json_t *e;
	bool pushed = false;

	if (p && pj) {
		pj->id = ++r->next_job;
		worker_push_job(x->w, pj);
		pj = NULL;
		pushed = true;
	} else if (p)
		pushed = worker_push(x->w, JOB_READ, ++r->next_job);
	if (pj)
		job_free(pj);
	if (!pushed) {
		free(p);
		e = json_error(SS_E_NOMEM, NULL);
		if (fn)
			fn(cookie, e);
		json_decref(e);
		return;
	}
	p->id = r->next_job;
	p->cookie = cookie;
	p->fn = fn;
	p->r = r;
	snprintf(p->reader, sizeof p->reader, "%s", x->name);
	sd_event_now(r->ev, CLOCK_MONOTONIC, &now);
	sd_event_add_time(r->ev, &p->timer, CLOCK_MONOTONIC,
			  now + (uint64_t)r->cfg->read_timeout_ms * 1000, 1000, on_deadline, p);
	p->next = r->pending;
	r->pending = p;
	x->outstanding++;
}

static void read_done(struct readers *r, struct msg *m)
{
	struct reader *x = find_reader(r, m->reader);
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
				    json_loss(m->loss_rc, &m->loss, &m->loss_info, (int64_t)time(NULL),
					      r->cfg->stale_after));
		if (m->loss_rc == 1) {
			char mid[40];
			mask_id(m->card.value[SSC_CARD_ID], mid, sizeof mid);
			log_at(LOG_NOTICE, m->reader, "card_listed", "card %s is on the loss list (%s)",
			       mid, loss_state_name(m->loss.state));
		}
		mask_id(m->card.value[SSC_CARD_ID], id, sizeof id);
		r->reads_ok++;
		log_msg(LOG_INFO, "card read in '%s': %s, %u APDUs, %.1f ms, %zu field errors",
			m->reader, m->card.have[SSC_CARD_ID] ? id : "(no card id)", m->card.apdus,
			m->elapsed_ms, m->card.n_errors);
		reply(p, res);
		if (res)
			emit(r, json_pack("{s:s,s:s,s:O}", "event", "card_read", "reader", m->reader,
					  "card", res));
	} else {
		res = json_error(m->err, NULL);
		json_object_set_new(res, "reader", json_string(m->reader));
		if (m->atr_len)
			json_object_set_new(res, "atr", json_hex(m->atr, m->atr_len));
		r->errors[m->err]++;
		log_at(LOG_NOTICE, m->reader, ss_err_name(m->err), "card in '%s' not read: %s",
		       m->reader, ss_err_text(m->err));
		reply(p, res);
		emit(r, json_pack("{s:s,s:s,s:s,s:s}", "event", "read_failed", "reader", m->reader,
				  "error", ss_err_name(m->err), "message", ss_err_text(m->err)));
	}
	json_decref(res);
	pending_free(p);
}

static void pin_done(struct readers *r, struct msg *m)
{
	struct reader *x = find_reader(r, m->reader);
	struct pending *p = pending_take(r, m->job);
	if (x && x->outstanding && --x->outstanding == 0)
		x->stuck = false;
	if (!p)
		return;
	json_t *res = m->err == SS_OK ? json_pack("{s:b}", "ok", 1) : json_error(m->err, NULL);
	json_object_set_new(res, "reader", json_string(m->reader));
	if (m->tries_left >= 0)
		json_object_set_new(res, "tries_left", json_integer(m->tries_left));
	if (m->err != SS_OK)
		log_at(LOG_NOTICE, m->reader, ss_err_name(m->err), "PIN operation in '%s': %s", m->reader,
		       ss_err_text(m->err));
	reply(p, res);
	json_decref(res);
	pending_free(p);
}

static void rdr_event(struct readers *r, const struct rdr_event *ev)
{
	struct reader *x;
	switch (ev->kind) {
	case RDR_SERVICE_UP:
		r->pcsc_state = "up";
		log_msg(LOG_INFO, "pcscd is available");
		emit(r, json_pack("{s:s}", "event", "pcsc_up"));
		break;
	case RDR_SERVICE_DOWN:
		r->pcsc_state = "down";
		r->errors[SS_E_NO_SERVICE]++;
		log_msg(LOG_WARNING, "pcscd went away; waiting for it to come back");
		emit(r, json_pack("{s:s}", "event", "pcsc_down"));
		break;
	case RDR_READER_ADDED:
		reader_added(r, ev->reader);
		break;
	case RDR_READER_REMOVED:
		reader_removed(r, ev->reader);
		break;
	case RDR_CARD_INSERTED:
		if (!(x = find_reader(r, ev->reader)))
			break;
		x->present = true;
		memcpy(x->atr, ev->atr, ev->atr_len);
		x->atr_len = ev->atr_len;
		log_msg(LOG_INFO, "card inserted in '%s'", x->name);
		emit(r, json_pack("{s:s,s:s,s:o}", "event", "card_inserted", "reader", x->name, "atr",
				  json_hex(x->atr, x->atr_len)));
		if (!x->stuck)
			start_job(r, x, NULL, NULL, NULL);
		break;
	case RDR_CARD_REMOVED:
		if (!(x = find_reader(r, ev->reader)))
			break;
		x->present = false;
		x->atr_len = 0;
		worker_push(x->w, JOB_RELEASE, 0);
		log_msg(LOG_INFO, "card removed from '%s'", x->name);
		emit(r, json_pack("{s:s,s:s}", "event", "card_removed", "reader", x->name));
		break;
	}
}

static int on_queue(sd_event_source *s, int fd, uint32_t revents, void *arg)
{
	struct readers *r = arg;
	uint64_t v;
	if (read(fd, &v, sizeof v) < 0 && errno != EAGAIN)
		log_msg(LOG_ERR, "event queue: %m");
	for (struct msg *m = msgq_take_all(r->q), *n; m; m = n) {
		n = m->next;
		if (m->kind == MSG_RDR)
			rdr_event(r, &m->ev);
		else if (m->kind == MSG_PIN_DONE)
			pin_done(r, m);
		else if (m->kind == MSG_TRACE) {
			json_object_set_new(m->trace, "time", json_real(now_s()));
			r->emit(r->emit_arg, m->trace); /* not a "last event" for status */
		} else
			read_done(r, m);
		msg_free(m);
	}
	return 0;
}

void readers_set_trace(struct readers *r, bool on)
{
	atomic_store(&r->q->trace, on);
	log_msg(LOG_NOTICE, "APDU trace %s", on ? "on" : "off");
}

json_t *readers_reset(struct readers *r, const char *name)
{
	struct reader *x = find_reader(r, name);
	if (!x) {
		json_t *e = json_error(SS_E_UNKNOWN_READER, NULL);
		json_object_set_new(e, "reader", json_string(name));
		return e;
	}
	struct worker *w = worker_start(x->name, r->q, r->cfg->card_hold_ms, r->list_path);
	if (!w)
		return json_error(SS_E_NOMEM, NULL);
	/* The old worker may be stuck on a mute card: abandon it; it ends by
	 * itself when (if) the call returns, and its answer is dropped. */
	worker_quit(x->w);
	x->w = w;
	bool was_stuck = x->stuck;
	x->stuck = false;
	x->outstanding = 0;
	worker_push(w, JOB_RESET, 0);
	if (x->present)
		start_job(r, x, NULL, NULL, NULL); /* read the card again after its reset */
	emit(r, json_pack("{s:s,s:s,s:b}", "event", "reader_reset", "reader", x->name, "was_stuck",
			  was_stuck));
	return json_pack("{s:b,s:s,s:b,s:s}", "ok", 1, "reader", x->name, "was_stuck", was_stuck,
			 "message",
			 x->present ? "The reader was restarted and the card powered down; it is being read again."
				    : "The reader was restarted.");
}

void readers_reconfigure(struct readers *r)
{
	for (struct reader *x = r->list, *n; x; x = n) {
		n = x->next;
		pthread_mutex_lock(&x->w->mu);
		x->w->hold_ms = r->cfg->card_hold_ms;
		pthread_mutex_unlock(&x->w->mu);
		if (!config_reader_wanted(r->cfg, x->name)) {
			char name[RDR_NAME_MAX];
			snprintf(name, sizeof name, "%s", x->name);
			reader_removed(r, name);
			ignore(r, name, true);
			log_msg(LOG_INFO, "reader '%s' now ignored by the configuration", name);
		}
	}
	char names[32][RDR_NAME_MAX];
	size_t n = r->n_ignored;
	memcpy(names, r->ignored, n * sizeof names[0]);
	for (size_t i = 0; i < n; i++)
		if (config_reader_wanted(r->cfg, names[i]))
			reader_added(r, names[i]);
}

static void *monitor_main(void *arg)
{
	struct readers *r = arg;
	struct rdr_event ev[64];
	size_t n;
	while (!atomic_load(&r->stopping)) {
		if (pcsc_monitor_wait(r->mon, ev, 64, &n) != SS_OK) {
			log_msg(LOG_ERR, "reader monitor failed: out of memory");
			break;
		}
		for (size_t i = 0; i < n; i++) {
			struct msg *m = calloc(1, sizeof *m);
			if (!m)
				continue;
			m->kind = MSG_RDR;
			m->ev = ev[i];
			msgq_post(r->q, m);
		}
	}
	atomic_store(&r->mon_exited, true);
	return NULL;
}

void readers_counts(struct readers *r, unsigned *readers, unsigned *cards, unsigned long *reads,
		    const char **pcsc)
{
	*readers = *cards = 0;
	for (struct reader *x = r->list; x; x = x->next) {
		(*readers)++;
		*cards += x->present;
	}
	*reads = r->reads_ok;
	*pcsc = r->pcsc_state;
}

bool readers_healthy(struct readers *r)
{
	return r && (!r->cfg->pcsc || atomic_load(&r->stopping) || !atomic_load(&r->mon_exited));
}

int readers_start(sd_event *ev, const struct config *cfg, readers_emit_fn fn, void *arg,
		  struct readers **out)
{
	struct readers *r = calloc(1, sizeof *r);
	int rv;
	if (!r)
		return -ENOMEM;
	r->ev = ev;
	r->cfg = cfg;
	r->emit = fn;
	r->emit_arg = arg;
	r->pcsc_state = cfg->pcsc ? "starting" : "off";
	snprintf(r->list_path, sizeof r->list_path, "%s/" LOSSLIST_FILE, cfg->state_dir);
	atomic_init(&r->stopping, false);
	if (!(r->q = msgq_new())) {
		free(r);
		return -ENOMEM;
	}
	rv = sd_event_add_io(ev, &r->q_src, r->q->efd, EPOLLIN, on_queue, r);
	if (rv >= 0 && cfg->pcsc) {
		if (pcsc_monitor_new(&r->mon) != SS_OK)
			rv = -ENOMEM;
		else if ((rv = -pthread_create(&r->mon_thread, NULL, monitor_main, r)) == 0)
			r->mon_running = true;
	}
	if (rv < 0) {
		readers_stop(r);
		return rv;
	}
	*out = r;
	return 0;
}

void readers_stop(struct readers *r)
{
	if (!r)
		return;
	atomic_store(&r->stopping, true);
	if (r->mon_running) {
		pcsc_monitor_cancel(r->mon);
		pthread_join(r->mon_thread, NULL);
	}
	pcsc_monitor_free(r->mon);
	while (r->list) {
		struct reader *x = r->list;
		r->list = x->next;
		worker_quit(x->w);
		free(x);
	}
	/* Workers finish their current exchange first; one stuck on a mute
	 * card is left behind after 2 s (the msgq outlives us for it). */
	for (int i = 0; i < 200 && atomic_load(&live_workers) > 0; i++)
		usleep(10000);
	while (r->pending) {
		struct pending *p = r->pending;
		r->pending = p->next;
		pending_free(p);
	}
	sd_event_source_disable_unref(r->q_src);
	pthread_mutex_lock(&r->q->mu);
	r->q->closed = true;
	pthread_mutex_unlock(&r->q->mu);
	msgq_unref(r->q);
	json_decref(r->last_event);
	free(r);
}

static const char *reader_interface(const struct reader *x)
{
	return atr_is_contactless(x->atr, x->atr_len) ? "contactless" : "contact";
}

void readers_read(struct readers *r, const char *name, void *cookie, readers_reply_fn fn)
{
	struct reader *x = NULL;
	enum ss_err e = SS_OK;
	json_t *j;

	if (name && *name) {
		if (!(x = find_reader(r, name)))
			e = SS_E_UNKNOWN_READER;
	} else {
		/* the first reader with a card, on the interface [readers]
		 * prefer names when cards are on both */
		const char *want = r->cfg->prefer == CFG_PREFER_CONTACTLESS ? "contactless" : "contact";
		for (x = r->list; x && !(x->present && !strcmp(reader_interface(x), want)); x = x->next)
			;
		if (!x)
			for (x = r->list; x && !x->present; x = x->next)
				;
		if (!x)
			e = r->list ? SS_E_NO_CARD : strcmp(r->pcsc_state, "down") ? SS_E_NO_READER
										   : SS_E_NO_SERVICE;
	}
	if (e == SS_OK && !x->present)
		e = SS_E_NO_CARD;
	if (e == SS_OK && x->stuck)
		e = SS_E_CARD_TIMEOUT;
	if (e == SS_OK) {
		start_job(r, x, cookie, fn, NULL);
		return;
	}
	j = json_error(e, NULL);
	if (x)
		json_object_set_new(j, "reader", json_string(x->name));
	fn(cookie, j);
	json_decref(j);
}

void readers_pin(struct readers *r, const char *name, enum readers_pin_op op, const char *old_pin,
		 const char *new_pin, void *cookie, readers_reply_fn fn)
{
	struct reader *x = name ? find_reader(r, name) : NULL;
	enum ss_err e = !x ? SS_E_NO_READER : !x->present ? SS_E_CARD_REMOVED
				: x->stuck ? SS_E_CARD_TIMEOUT : SS_OK;
	struct job *j = NULL;
	if (e == SS_OK && (strlen(old_pin) >= sizeof j->pin_old ||
			   (new_pin && strlen(new_pin) >= sizeof j->pin_new)))
		e = SS_E_PIN_FORMAT;
	if (e == SS_OK && !(j = calloc(1, sizeof *j)))
		e = SS_E_NOMEM;
	if (e != SS_OK) {
		json_t *res = json_error(e, NULL);
		fn(cookie, res);
		json_decref(res);
		return;
	}
	j->kind = JOB_PIN;
	j->op = op;
	memcpy(j->pin_old, old_pin, strlen(old_pin));
	if (new_pin)
		memcpy(j->pin_new, new_pin, strlen(new_pin));
	start_job(r, x, cookie, fn, j);
}

void readers_forget(struct readers *r, void *cookie)
{
	for (struct pending *p = r->pending; p; p = p->next)
		if (p->cookie == cookie) {
			p->fn = NULL;
			p->cookie = NULL;
		}
}

static json_t *reader_json(const struct reader *x)
{
	json_t *o = json_pack("{s:s,s:s,s:s,s:b}", "name", x->name, "interface", reader_interface(x), "state",
			      x->stuck ? "stuck" : x->outstanding ? "reading" : x->present ? "card" : "empty",
			      "card_present", x->present);
	if (o && x->present)
		json_object_set_new(o, "atr", json_hex(x->atr, x->atr_len));
	return o;
}

json_t *readers_list_json(struct readers *r)
{
	json_t *a = json_array();
	for (struct reader *x = r->list; x && a; x = x->next)
		json_array_append_new(a, reader_json(x));
	return json_pack("{s:b,s:s,s:o}", "ok", 1, "pcsc", r->pcsc_state, "readers", a);
}

json_t *readers_status_json(struct readers *r)
{
	json_t *errs = json_object();
	for (int i = 1; i < SS_E__COUNT; i++)
		if (r->errors[i])
			json_object_set_new(errs, ss_err_name((enum ss_err)i), json_integer((json_int_t)r->errors[i]));
	json_t *o = readers_list_json(r);
	json_object_set_new(o, "reads_ok", json_integer((json_int_t)r->reads_ok));
	json_object_set_new(o, "errors", errs);
	json_object_set_new(o, "last_event", r->last_event ? json_incref(r->last_event) : json_null());
	return o;
}
