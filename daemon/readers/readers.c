/* readers.c — reader manager: monitor thread, per-reader workers, the
 * queue back to the event loop, read requests with deadlines. */
#include "daemon/readers/readers.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <spawn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "drivers/reader.h"
#include "daemon/losslist/losslist.h"
#include "daemon/json.h"
#include "daemon/log.h"
#include "daemon/mask.h"
#include "daemon/readers/nfcd.h"

extern char **environ;

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
	char serial[64];             /* the reader's serial number, if it has one */
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
	bool pad;                    /* JOB_PIN on the reader's PIN pad: no PINs here */
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
	m->loss_rc = losslist_check_card(w->list_path, &s->list,
					 m->card.have[SSC_CARD_ID] ? m->card.value[SSC_CARD_ID] : NULL,
					 &m->loss, &m->loss_info);
}

static void session_drop(struct session *s)
{
	if (s->held)
		pcsc_disconnect(&s->card);
	s->held = false;
}

/* One {"event":"apdu"} line; cmd/rsp arrive redacted by apdu.c. */
static json_t *trace_json(const char *reader, const uint8_t *cmd, size_t cmd_len,
			  const uint8_t *rsp, size_t rsp_len, unsigned flags, uint64_t us)
{
	json_t *sw = rsp_len >= 2 ? json_hex(rsp + rsp_len - 2, 2) : json_null();
	json_t *t = json_pack("{s:s,s:s,s:o,s:o,s:o,s:I}", "event", "apdu", "reader", reader, "cmd",
			      json_hex(cmd, cmd_len), "rsp",
			      json_hex(rsp, rsp_len >= 2 ? rsp_len - 2 : 0), "sw", sw, "us",
			      (json_int_t)us);
	if (t && flags)
		json_object_set_new(t, "redacted", json_true());
	return t;
}

/* APDU trace hook (worker thread). */
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
	m->trace = trace_json(w->reader, cmd, cmd_len, rsp, rsp_len, flags, us);
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
		memcpy(m->serial, s->card.serial, sizeof m->serial);
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
		if (m->err == SS_OK && j->pad)
			m->err = pcsc_pinpad(&s->card, j->op == READERS_PIN_VERIFY ? PINPAD_VERIFY : PINPAD_CHANGE,
					     &m->tries_left);
		else if (m->err == SS_OK)
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
	bool nfc;                    /* the NFC helper's reader (no worker thread) */
	bool announced;              /* the card's arrival was told (card_inserted) */
	bool shadowed;               /* a card seen while one is on the other interface */
	sd_event_source *settle;     /* waiting [readers] settle_ms before announcing */
	struct readers *r;
};

struct pending {
	struct pending *next;
	uint64_t id;
	void *cookie;                /* NULL: a read started by card insertion */
	readers_reply_fn fn;
	sd_event_source *timer;
	struct readers *r;
	char reader[RDR_NAME_MAX];
	bool pin;                    /* a PIN job, not a read */
	unsigned limit_ms;           /* its deadline */
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
	struct early *early;         /* requests held until the first reader scan */
	sd_event_source *early_timer;
	bool scanned;                /* pcscd's readers and cards are known */
	bool nfc_scanned;            /* the NFC helper looked for its device and a card */
	uint64_t next_job;
	json_t *last_event;
	char list_path[300];
	char ignored[32][RDR_NAME_MAX]; /* readers seen but filtered out by the config */
	size_t n_ignored;
	unsigned long errors[SS_E__COUNT];
	unsigned long reads_ok;
	struct {                     /* the NFC helper process (nfcd.h) */
		pid_t pid;           /* 0: not running */
		int fd;
		sd_event_source *io, *child, *retry;
		unsigned backoff_ms;
		uint64_t started_us;
		bool restart_now;    /* a technician's reset: no back-off */
		unsigned long restarts;
		char connstring[128]; /* the one it was started with */
		char reader[RDR_NAME_MAX]; /* its reader, once announced */
		struct nfcd_ans *buf;
	} nfc;
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
	if (atomic_load(&r->stopping)) { /* subscribers are gone */
		json_decref(e);
		return;
	}
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

static void reader_free(struct reader *x)
{
	if (x->w)
		worker_quit(x->w);
	sd_event_source_disable_unref(x->settle);
	free(x);
}

/* nfc: the NFC helper's reader, served by the helper, not a worker. */
static void reader_added(struct readers *r, const char *name, bool nfc)
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
	if (!x || (!nfc && !(x->w = worker_start(name, r->q, r->cfg->card_hold_ms, r->list_path)))) {
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
	emit(r, json_pack("{s:s,s:s}", "event", "reader_added", "reader", name));
}

static void pending_free(struct pending *p);
static void reply(struct pending *p, json_t *j);
static void early_flush(struct readers *r);
static void early_check(struct readers *r);
static int early_arm(struct readers *r);

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
		reader_free(x);
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
	log_at(LOG_WARNING, p->reader, ss_err_name(SS_E_CARD_TIMEOUT), "%s in '%s' did not finish within %u ms",
	       p->pin ? "PIN entry" : "card read", p->reader, p->limit_ms);
	json_t *e = json_error(SS_E_CARD_TIMEOUT, NULL);
	json_object_set_new(e, "reader", json_string(p->reader));
	reply(p, e);
	json_decref(e);
	/* a PIN job is not a read: the kiosk must not show "could not be read" */
	emit(r, json_pack("{s:s,s:s,s:s,s:s}", "event", p->pin ? "pin_failed" : "read_failed", "reader", p->reader,
			  "error", ss_err_name(SS_E_CARD_TIMEOUT), "message",
			  ss_err_text(SS_E_CARD_TIMEOUT)));
	pending_free(p);
	return 0;
}

/* Hand a read of reader x (or the PIN job pj, taken) to its worker;
 * fn/cookie get the answer. */
static bool nfc_send(struct readers *r, struct nfcd_req *q);

/* Give job j (taken) to whoever serves reader x: its worker thread, or
 * the NFC helper. */
static enum ss_err push(struct readers *r, struct reader *x, struct job *j)
{
	if (!x->nfc) {
		worker_push_job(x->w, j);
		return SS_OK;
	}
	struct nfcd_req q = {.kind = j->kind == JOB_PIN ? NFCD_PIN : NFCD_READ, .job = j->id,
			     .op = (uint32_t)j->op};
	memcpy(q.pin_old, j->pin_old, sizeof q.pin_old);
	memcpy(q.pin_new, j->pin_new, sizeof q.pin_new);
	job_free(j);
	return nfc_send(r, &q) ? SS_OK : SS_E_READER;
}

static void start_job(struct readers *r, struct reader *x, void *cookie, readers_reply_fn fn,
		      struct job *pj)
{
	struct pending *p = calloc(1, sizeof *p);
	uint64_t now;
	json_t *e;
	enum ss_err err = SS_E_NOMEM;

	if (p && !pj && (pj = calloc(1, sizeof *pj)))
		pj->kind = JOB_READ;
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
		if (r->cfg->terminal_id[0]) /* 终端机编号 for the reader API */
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

/* ---- one card on two interfaces ------------------------------------------
 * A dual-interface card in the contact slot is often on the NFC antenna as
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
	emit(r, json_pack("{s:s,s:s,s:o}", "event", "card_inserted", "reader", x->name, "atr",
			  json_hex(x->atr, x->atr_len)));
	if (!x->stuck)
		start_job(r, x, NULL, NULL, NULL);
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

static void card_arrived(struct readers *r, struct reader *x)
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

static void card_left(struct readers *r, struct reader *x)
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
	emit(r, json_pack("{s:s,s:s}", "event", "card_removed", "reader", x->name));
}

static void rdr_event(struct readers *r, const struct rdr_event *ev)
{
	struct reader *x;
	switch (ev->kind) {
	case RDR_SERVICE_UP:
		if (!strcmp(r->pcsc_state, "down") && !r->early_timer && early_arm(r) >= 0)
			r->scanned = false; /* back: hold requests until its readers are listed again */
		r->pcsc_state = "up";
		log_msg(LOG_INFO, "pcscd is available");
		emit(r, json_pack("{s:s}", "event", "pcsc_up"));
		break;
	case RDR_SERVICE_DOWN:
		r->errors[SS_E_NO_SERVICE]++;
		log_msg(LOG_WARNING, strcmp(r->pcsc_state, "starting")
					     ? "pcscd went away; waiting for it to come back"
					     : "pcscd is not running; waiting for it to start");
		r->pcsc_state = "down";
		emit(r, json_pack("{s:s}", "event", "pcsc_down"));
		early_check(r); /* they get no_service now rather than in 2 s */
		break;
	case RDR_SCAN_DONE:
		r->scanned = true;
		early_check(r);
		break;
	case RDR_READER_ADDED:
		reader_added(r, ev->reader, false);
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
		card_arrived(r, x);
		break;
	case RDR_CARD_REMOVED:
		if ((x = find_reader(r, ev->reader)))
			card_left(r, x);
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

/* ---- requests that arrive before the first reader scan -------------------- */

/* In the first moments after start (and after pcscd returns) the readers
 * and the cards already in them are not known yet: a counter program that
 * asks then would be told "no reader" about a reader that is there. Such
 * requests wait for the monitor's first scan, at most EARLY_WAIT_MS. */

struct early {
	struct early *next;
	bool pinpad;
	enum readers_pin_op op;
	char reader[RDR_NAME_MAX];   /* "": the first reader with a card, as NULL */
	void *cookie;
	readers_reply_fn fn;
};

/* Both reader stacks have said what they have (pcscd: or that it is not there). */
static bool early_ready(const struct readers *r)
{
	return (!r->cfg->pcsc || r->scanned || !strcmp(r->pcsc_state, "down")) &&
	       (!r->cfg->nfc[0] || r->nfc_scanned);
}

static void early_check(struct readers *r)
{
	if (early_ready(r))
		early_flush(r);
}

static bool early_hold(struct readers *r, const char *name, bool pinpad, enum readers_pin_op op,
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

static void early_flush(struct readers *r)
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
static int early_arm(struct readers *r)
{
	return sd_event_add_time_relative(r->ev, &r->early_timer, CLOCK_MONOTONIC,
					  (uint64_t)EARLY_WAIT_MS * 1000, 1000, on_early_timeout, r);
}

/* ---- the NFC helper process (nfcd.h) --------------------------------------- */

static void nfc_spawn(struct readers *r);

static bool nfc_send(struct readers *r, struct nfcd_req *q)
{
	q->magic = NFCD_MAGIC;
	bool ok = r->nfc.fd >= 0 &&
		  send(r->nfc.fd, q, sizeof *q, MSG_NOSIGNAL | MSG_DONTWAIT) == (ssize_t)sizeof *q;
	sodium_memzero(q, sizeof *q);
	return ok;
}

static void nfc_answer(struct readers *r, struct nfcd_ans *a)
{
	struct msg *m;
	switch (a->kind) {
	case NFCD_EVENT:
		a->ev.reader[sizeof a->ev.reader - 1] = 0;
		if (a->ev.atr_len > sizeof a->ev.atr)
			a->ev.atr_len = 0;
		if (a->ev.kind == RDR_READER_ADDED) {
			snprintf(r->nfc.reader, sizeof r->nfc.reader, "%s", a->ev.reader);
			reader_added(r, a->ev.reader, true);
		} else if (a->ev.kind == RDR_READER_REMOVED)
			reader_removed(r, a->ev.reader);
		else if (a->ev.kind == RDR_SCAN_DONE) {
			r->nfc_scanned = true;
			early_check(r);
		} else if (a->ev.kind == RDR_CARD_INSERTED || a->ev.kind == RDR_CARD_REMOVED)
			rdr_event(r, &a->ev);
		break;
	case NFCD_DONE:
	case NFCD_PIN_DONE:
		if (!(m = calloc(1, sizeof *m)) || a->err < 0 || a->err >= SS_E__COUNT ||
		    a->atr_len > sizeof a->atr) {
			free(m);
			break;
		}
		m->job = a->job;
		m->err = (enum ss_err)a->err;
		snprintf(m->reader, sizeof m->reader, "%s", r->nfc.reader);
		m->interface = "contactless";
		memcpy(m->atr, a->atr, a->atr_len);
		m->atr_len = a->atr_len;
		m->card = a->card;
		m->elapsed_ms = a->elapsed_ms;
		m->loss_rc = a->loss_rc;
		m->loss = a->loss;
		m->loss_info = a->loss_info;
		m->tries_left = a->tries_left;
		if (a->kind == NFCD_DONE)
			read_done(r, m);
		else
			pin_done(r, m);
		msg_free(m);
		break;
	case NFCD_APDU:
		if (atomic_load(&r->q->trace) && a->cmd_len <= sizeof a->cmd &&
		    a->rsp_len <= sizeof a->rsp) {
			json_t *t = trace_json(r->nfc.reader, a->cmd, a->cmd_len, a->rsp, a->rsp_len,
					       a->flags, a->us);
			if (t) {
				json_object_set_new(t, "time", json_real(now_s()));
				r->emit(r->emit_arg, t);
				json_decref(t);
			}
		}
		break;
	}
}

static int on_nfc_msg(sd_event_source *s, int fd, uint32_t revents, void *arg)
{
	struct readers *r = arg;
	for (;;) {
		struct nfcd_ans *a = r->nfc.buf;
		ssize_t n = recv(fd, a, sizeof *a, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		if (n <= 0) { /* the helper is gone; its exit is handled in on_nfc_exit */
			sd_event_source_set_enabled(s, SD_EVENT_OFF);
			break;
		}
		if ((size_t)n == sizeof *a && a->magic == NFCD_MAGIC)
			nfc_answer(r, a);
		else
			log_msg(LOG_ERR, "NFC helper: a malformed message (%zd bytes); ignored", n);
		sodium_memzero(a, sizeof *a);
	}
	return 0;
}

static int on_nfc_retry(sd_event_source *s, uint64_t usec, void *arg)
{
	struct readers *r = arg;
	r->nfc.retry = sd_event_source_disable_unref(r->nfc.retry);
	nfc_spawn(r);
	return 0;
}

/* Forget the helper's socket and reader; pending requests get no_reader. */
static void nfc_detach(struct readers *r)
{
	r->nfc.io = sd_event_source_disable_unref(r->nfc.io);
	r->nfc.child = sd_event_source_disable_unref(r->nfc.child);
	if (r->nfc.fd >= 0)
		close(r->nfc.fd);
	r->nfc.fd = -1;
	r->nfc.pid = 0;
	if (r->nfc.reader[0] && find_reader(r, r->nfc.reader))
		reader_removed(r, r->nfc.reader);
	ignore(r, r->nfc.reader, false);
	r->nfc.reader[0] = 0;
}

static void nfc_retry_later(struct readers *r)
{
	uint64_t now;
	sd_event_now(r->ev, CLOCK_MONOTONIC, &now);
	if (r->nfc.restart_now)
		r->nfc.backoff_ms = 0;
	else if (now - r->nfc.started_us > 60 * 1000000ull || !r->nfc.backoff_ms)
		r->nfc.backoff_ms = 1000; /* it ran a while: start the back-off over */
	else if ((r->nfc.backoff_ms *= 2) > 30000)
		r->nfc.backoff_ms = 30000;
	r->nfc.restart_now = false;
	if (!r->nfc.retry)
		sd_event_add_time_relative(r->ev, &r->nfc.retry, CLOCK_MONOTONIC,
					   (uint64_t)r->nfc.backoff_ms * 1000, 1000, on_nfc_retry, r);
}

static int on_nfc_exit(sd_event_source *s, const siginfo_t *si, void *arg)
{
	struct readers *r = arg;
	bool planned = r->nfc.restart_now;
	if (si->si_code == CLD_EXITED && si->si_status == 0)
		log_msg(LOG_INFO, "NFC helper ended");
	else if (si->si_code == CLD_EXITED)
		log_at(LOG_ERR, r->nfc.reader[0] ? r->nfc.reader : NULL, "reader_error",
		       "NFC helper ended with status %d; starting it again", si->si_status);
	else if (!planned)
		log_at(LOG_ERR, r->nfc.reader[0] ? r->nfc.reader : NULL, "reader_error",
		       "NFC helper killed by signal %d (%s); starting it again", si->si_status,
		       strsignal(si->si_status));
	if (!planned && !(si->si_code == CLD_EXITED && si->si_status == 0)) {
		r->errors[SS_E_READER]++;
		if (r->nfc.reader[0]) /* what was asked of it failed with the reader */
			fail_pending(r, r->nfc.reader, SS_E_READER);
	}
	nfc_detach(r);
	r->nfc.restarts++;
	nfc_retry_later(r);
	return 0;
}

static void nfc_spawn(struct readers *r)
{
	int sv[2] = {-1, -1}, e = 0;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, dflt;
	pid_t pid;

	if (!r->cfg->nfc[0] || atomic_load(&r->stopping))
		return;
	snprintf(r->nfc.connstring, sizeof r->nfc.connstring, "%s", r->cfg->nfc);
	if (!r->nfc.buf && !(r->nfc.buf = calloc(1, sizeof *r->nfc.buf)))
		e = ENOMEM;
	if (!e && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		e = errno;
	if (!e && sv[1] == NFCD_FD) { /* dup2 onto itself would keep close-on-exec */
		int d = fcntl(sv[1], F_DUPFD_CLOEXEC, NFCD_FD + 1);
		close(sv[1]);
		sv[1] = d;
		e = d < 0 ? errno : 0;
	}
	if (!e) {
		char *argv[] = {"sscardd", "--nfc-helper", r->nfc.connstring, r->list_path,
				(char *)log_level_name(log_get_level()),
				log_uses_syslog() ? "syslog" : "stderr", NULL};
		posix_spawn_file_actions_init(&fa);
		posix_spawn_file_actions_adddup2(&fa, sv[1], NFCD_FD);
		posix_spawnattr_init(&at);
		sigemptyset(&none);
		sigemptyset(&dflt);
		sigaddset(&dflt, SIGTERM);
		sigaddset(&dflt, SIGINT);
		sigaddset(&dflt, SIGHUP);
		sigaddset(&dflt, SIGCHLD);
		posix_spawnattr_setsigmask(&at, &none);
		posix_spawnattr_setsigdefault(&at, &dflt);
		posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
		e = posix_spawn(&pid, "/proc/self/exe", &fa, &at, argv, environ);
		posix_spawn_file_actions_destroy(&fa);
		posix_spawnattr_destroy(&at);
	}
	if (sv[1] >= 0)
		close(sv[1]);
	if (!e) {
		r->nfc.pid = pid;
		r->nfc.fd = sv[0];
		sd_event_now(r->ev, CLOCK_MONOTONIC, &r->nfc.started_us);
		e = -sd_event_add_io(r->ev, &r->nfc.io, r->nfc.fd, EPOLLIN, on_nfc_msg, r);
		if (!e)
			e = -sd_event_add_child(r->ev, &r->nfc.child, pid, WEXITED, on_nfc_exit, r);
		if (e) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
		}
	}
	if (e) {
		log_msg(LOG_ERR, "cannot start the NFC helper: %s", strerror(e));
		if (sv[0] >= 0 && r->nfc.fd != sv[0])
			close(sv[0]);
		nfc_detach(r);
		nfc_retry_later(r);
		return;
	}
	log_msg(LOG_DEBUG, "NFC helper started (pid %d) for '%s'", (int)pid, r->nfc.connstring);
}

/* Stop the helper now (readers_stop, or [readers] nfc changed). */
static void nfc_stop(struct readers *r)
{
	pid_t pid = r->nfc.pid;
	r->nfc.retry = sd_event_source_disable_unref(r->nfc.retry);
	if (pid > 0) {
		r->nfc.child = sd_event_source_disable_unref(r->nfc.child);
		kill(pid, SIGTERM);
		int i = 0;
		while (waitpid(pid, NULL, WNOHANG) == 0 && ++i < 100)
			usleep(10000);
		if (i == 100) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
		}
	}
	nfc_detach(r);
}

void readers_set_trace(struct readers *r, bool on)
{
	struct nfcd_req q = {.kind = NFCD_TRACE, .trace_on = on};
	if (r->nfc.fd >= 0)
		nfc_send(r, &q);
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
	if (x->nfc) {
		/* a fresh helper: the device opened again, the field reset, the
		 * card found and read again */
		bool was_stuck = x->stuck;
		r->nfc.restart_now = true;
		kill(r->nfc.pid, SIGKILL);
		emit(r, json_pack("{s:s,s:s,s:b}", "event", "reader_reset", "reader", x->name,
				  "was_stuck", was_stuck));
		return json_pack("{s:b,s:s,s:b,s:s}", "ok", 1, "reader", x->name, "was_stuck",
				 was_stuck, "message",
				 "The NFC reader was restarted; a card on it will be read again.");
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
	if (strcmp(r->cfg->nfc, r->nfc.connstring)) {
		log_msg(LOG_NOTICE, "[readers] nfc is now '%s'", r->cfg->nfc);
		nfc_stop(r);
		r->nfc.connstring[0] = 0;
		nfc_spawn(r);
	}
	for (struct reader *x = r->list, *n; x; x = n) {
		n = x->next;
		if (x->w) {
			pthread_mutex_lock(&x->w->mu);
			x->w->hold_ms = r->cfg->card_hold_ms;
			pthread_mutex_unlock(&x->w->mu);
		}
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
			reader_added(r, names[i], !strcmp(names[i], r->nfc.reader));
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
	r->nfc.fd = -1;
	if (!(r->q = msgq_new())) {
		free(r);
		return -ENOMEM;
	}
	rv = sd_event_add_io(ev, &r->q_src, r->q->efd, EPOLLIN, on_queue, r);
	if (rv >= 0 && (cfg->pcsc || cfg->nfc[0]))
		rv = early_arm(r);
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
	nfc_spawn(r); /* failures are retried with back-off */
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
	nfc_stop(r);
	free(r->nfc.buf);
	while (r->list) {
		struct reader *x = r->list;
		r->list = x->next;
		reader_free(x);
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
	while (r->early) {
		struct early *e = r->early;
		r->early = e->next;
		free(e);
	}
	sd_event_source_disable_unref(r->early_timer);
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
static struct reader *resolve(struct readers *r, const char *name, enum ss_err *e)
{
	struct reader *x = NULL;
	*e = SS_OK;
	if (name && *name == '@') {
		if (!(x = by_interface(r, name + 1, e)) && *e == SS_OK)
			*e = SS_E_INVALID;
	} else if (name && *name) {
		if (!(x = find_reader(r, name)))
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
static void refuse(struct reader *x, enum ss_err e, void *cookie, readers_reply_fn fn)
{
	json_t *j = json_error(e, NULL);
	if (x)
		json_object_set_new(j, "reader", json_string(x->name));
	fn(cookie, j);
	json_decref(j);
}

void readers_read(struct readers *r, const char *name, void *cookie, readers_reply_fn fn)
{
	enum ss_err e;
	if (early_hold(r, name, false, READERS_PIN_VERIFY, cookie, fn))
		return;
	struct reader *x = resolve(r, name, &e);
	if (x)
		start_job(r, x, cookie, fn, NULL);
	else
		refuse(NULL, e, cookie, fn);
}

void readers_pinpad(struct readers *r, const char *name, enum readers_pin_op op, void *cookie,
		    readers_reply_fn fn)
{
	enum ss_err e;
	if (early_hold(r, name, true, op, cookie, fn))
		return;
	struct reader *x = resolve(r, name, &e);
	struct job *j = NULL;
	if (x && x->nfc) /* an NFC antenna has no keypad */
		e = SS_E_NO_PIN_PAD;
	else if (x && !(j = calloc(1, sizeof *j)))
		e = SS_E_NOMEM;
	if (!j) {
		refuse(x, e, cookie, fn);
		return;
	}
	j->kind = JOB_PIN;
	j->op = op;
	j->pad = true;
	start_job(r, x, cookie, fn, j);
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
		refuse(NULL, e, cookie, fn);
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
	for (struct early *e = r->early; e; e = e->next)
		if (e->cookie == cookie) {
			e->fn = NULL;
			e->cookie = NULL;
		}
	for (struct pending *p = r->pending; p; p = p->next)
		if (p->cookie == cookie) {
			p->fn = NULL;
			p->cookie = NULL;
		}
}

static json_t *reader_json(const struct reader *x)
{
	json_t *o = json_pack("{s:s,s:s,s:s,s:b}", "name", x->name, "interface", reader_interface(x), "state",
			      x->stuck ? "stuck" : x->outstanding ? "reading" : x->shadowed ? "shadowed"
			      : x->present ? "card" : "empty",
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
	if (r->cfg->nfc[0]) /* the NFC helper, for a technician */
		json_object_set_new(o, "nfc",
				    json_pack("{s:s,s:s,s:I}", "device", r->nfc.connstring, "helper",
					      r->nfc.pid ? (r->nfc.reader[0] ? "running" : "looking for the device")
							 : "restarting",
					      "restarts", (json_int_t)r->nfc.restarts));
	return o;
}
