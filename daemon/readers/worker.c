/* worker.c — one thread per PC/SC reader: its card session (connect,
 * hold, release), reads, PIN jobs, resets and the APDU trace, off the loop. */
#include "daemon/readers/internal.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/json.h"
#include "daemon/log.h"

void job_free(struct job *j)
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
	struct psam *psam;           /* opens 3.00 cards' EF06 (a reference) … */
	struct hsm *hsm;             /* … or the central's HSM does; both NULL: nobody */
};

atomic_int rd_live_workers;

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
	struct psam *psam;          /* the worker's, for the cryptogram */
	struct hsm *hsm;
	struct rd_refusal refused;   /* the card in the reader said no to us */
	uint64_t auth_src;           /* who made the last cryptogram */
	/* A step 1 (READ_STEP1) left this card waiting for its cryptogram: its
	 * EF05 part and challenge. Any other use of the card ends the wait. */
	struct ssc_card step1;
	bool has_step1;
	/* A §10 step 1 (the counter's encryptor makes the MAC): the command
	 * built and the challenge it is bound to; a reload's holds the PIN. */
	struct {
		bool has;
		uint8_t r[8], m[SSC_PINKEY_CMD_MAX];
		size_t n;
	} pk1;
};

/* How long a card waits, held, for the counter's step 2. */
#define STEP2_WAIT_MS 60000

static void step1_forget(struct session *s)
{
	if (s->has_step1)
		ssc_card_wipe(&s->step1);
	s->has_step1 = false;
	explicit_bzero(&s->pk1, sizeof s->pk1);
}

/* Step 2: the cryptogram for the challenge step 1 handed out, on the same
 * card without a reset in between; then EF06 into out. A step 2 that does
 * not match (no step 1, another challenge, the card swapped or reset) is
 * refused before the card sees it: a wrong cryptogram costs a try. */
static enum ss_err step2(struct session *s, const struct job *j, struct ssc_card *out)
{
	uint16_t sw;
	if (!s->has_step1 || !s->held || memcmp(s->step1.challenge, j->challenge, 8))
		return SS_E_AUTH;
	*out = s->step1;
	step1_forget(s);
	enum ss_err e = ssc_authenticate(&s->card.tr, j->key_id, j->cryptogram, &sw);
	if (e == SS_E_AUTH || e == SS_E_AUTH_BLOCKED) { /* the card said no: the EF05 part stays */
		out->have_challenge = false;
		out->auth_err = e;
		out->auth_sw = sw;
		for (size_t i = 0; i < out->n_errors; i++)
			if (out->errors[i].code == SS_E_SECURITY) {
				out->errors[i].code = e;
				out->errors[i].sw = sw;
			}
		return SS_OK;
	}
	return e == SS_OK ? ssc_read_ef06(&s->card.tr, out) : e;
}

void rd_refusal_note(struct rd_refusal *f, const struct ssc_card *c, uint64_t src)
{
	/* a refusal by the card itself (it answered 63Cx or 6983), not one we
	 * repeated from here, nor the module's */
	if (c->auth_sw && (c->auth_err == SS_E_AUTH || c->auth_err == SS_E_AUTH_BLOCKED) &&
	    hex_decode(c->value[SSC_CARD_ID], f->id, sizeof f->id) == sizeof f->id) {
		f->has = src != 0;
		f->err = c->auth_err;
		f->src = src;
	}
}

enum ss_err rd_refusal_of(const struct rd_refusal *f, const uint8_t id[16], uint64_t src)
{
	return f->has && src && f->src == src && !memcmp(f->id, id, sizeof f->id) ? f->err : SS_OK;
}

#define HSM_SOURCE 2 /* PSAM sessions are odd (psam_session) */

uint64_t rd_auth_source(struct psam *psam, struct hsm *hsm)
{
	return psam ? psam_session(psam) : hsm ? HSM_SOURCE : 0;
}

/* struct ssc_auth's cryptogram for a worker: the PSAM's or the HSM's,
 * unless this card refused it already. */
static enum ss_err cryptogram(void *arg, const uint8_t id[16], const uint8_t r[8], uint8_t out[16])
{
	struct session *s = arg;
	s->auth_src = rd_auth_source(s->psam, s->hsm);
	enum ss_err e = rd_refusal_of(&s->refused, id, s->auth_src);
	if (e != SS_OK)
		return e;
	return s->psam ? psam_cryptogram(s->psam, id, r, out) : hsm_cryptogram(s->hsm, id, r, out);
}

/* Look the card up in the loss list (off the loop: this is the worker). */
static void check_loss(struct worker *w, struct session *s, struct msg *m)
{
	m->loss_rc = losslist_check_card(w->list_path, &s->list,
					 m->card.have[SSC_CARD_ID] ? m->card.value[SSC_CARD_ID] : NULL,
					 &m->loss, &m->loss_info);
}

static void session_drop(struct session *s)
{
	step1_forget(s);
	if (s->held)
		pcsc_disconnect(&s->card);
	s->held = false;
}

/* One {"event":"apdu"} line; cmd/rsp arrive redacted by apdu.c. */
json_t *rd_trace_json(const char *reader, const uint8_t *cmd, size_t cmd_len,
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
	m->trace = rd_trace_json(w->reader, cmd, cmd_len, rsp, rsp_len, flags, us);
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

static void do_read(struct worker *w, struct session *s, const struct job *j)
{
	struct msg *m = calloc(1, sizeof *m);
	struct timespec t0, t1;
	if (!m)
		return;
	m->kind = MSG_DONE;
	m->job = j->id;
	strcpy(m->reader, w->reader);
	m->interface = "contact";
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (j->step == READ_STEP2)
		m->err = step2(s, j, &m->card);
	else
		step1_forget(s); /* any other read ends a step 1's wait */
	for (int attempt = 0; j->step != READ_STEP2; attempt++) {
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
		struct ssc_auth auth = {.cryptogram = cryptogram, .arg = s, .key_id = j->key_id,
					.defer = j->step == READ_STEP1};
		m->err = ssc_read_auth(&s->card.tr, w->psam || w->hsm || auth.defer ? &auth : NULL,
				       &m->card);
		if (m->err == SS_OK && m->card.have_challenge) { /* step 1: the card waits */
			s->step1 = m->card;
			s->has_step1 = true;
		}
		rd_refusal_note(&s->refused, &m->card, s->auth_src);
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

/* card-spec §10's MAC: the PSAM's, or the central HSM's (with the
 * holder's proof); neither: this terminal cannot (sam_unavailable). */
struct pin_mac_src {
	struct session *s;
	const char *proof;
};

static enum ss_err pin_mac(void *arg, const uint8_t id[16], const uint8_t *in, size_t n, uint8_t mac[4])
{
	struct pin_mac_src *src = arg;
	struct session *s = src->s;
	return s->psam  ? psam_pin_mac(s->psam, id, in, n, mac)
	       : s->hsm ? hsm_pin_mac(s->hsm, id, in, n, src->proof, mac)
			: SS_E_SAM;
}

/* The answer to a PIN job, for this worker's reader. */
static struct msg *pin_msg(struct worker *w, const struct job *j)
{
	struct msg *m = calloc(1, sizeof *m);
	if (!m)
		return NULL;
	m->kind = MSG_PIN_DONE;
	m->job = j->id;
	m->tries_left = -1;
	strcpy(m->reader, w->reader);
	return m;
}

/* §10 in two steps for a counter with its own encryptor: step 1 gets the
 * card id, the challenge and the command (the session then waits for step
 * 2, held, as a §9 step 1 does); step 2 sends the command with the MAC
 * brought for that challenge. A step 2 that does not follow its step 1 on
 * the same card (another challenge, the card used, reset or swapped since)
 * is auth_refused and changes nothing. */
static void do_pinkey_step(struct worker *w, struct session *s, struct job *j)
{
	struct msg *m = pin_msg(w, j);
	uint16_t sw;
	if (!m)
		return;
	if (j->pk_step == 2) {
		if (!s->pk1.has || !s->held || memcmp(s->pk1.r, j->challenge, 8))
			m->err = SS_E_AUTH;
		else {
			s->card.tr.trace = atomic_load(&w->q->trace) ? trace_apdu : NULL;
			s->card.tr.trace_arg = w;
			m->err = ssc_pinkey_finish(&s->card.tr, s->pk1.m, s->pk1.n, j->mac, &sw);
			if (conn_stale(m->err)) { /* reset or swapped since step 1: it never got the command */
				session_drop(s);
				m->err = SS_E_AUTH;
			}
		}
		step1_forget(s);
		msgq_post(w->q, m);
		return;
	}
	step1_forget(s);
	for (int attempt = 0; attempt < 2; attempt++) {
		if (!s->held) {
			if ((m->err = pcsc_connect(s->conn, w->reader, &s->card)) != SS_OK)
				break;
			s->held = true;
		}
		s->card.tr.trace = atomic_load(&w->q->trace) ? trace_apdu : NULL;
		s->card.tr.trace_arg = w;
		m->err = ssc_pinkey_begin(&s->card.tr, j->op == READERS_PIN_RELOAD, j->pin_new, m->pk_id, s->pk1.r,
					  s->pk1.m, &s->pk1.n, &sw);
		if (m->err == SS_OK) {
			s->pk1.has = true;
			memcpy(m->pk_r, s->pk1.r, 8);
			memcpy(m->pk_m, s->pk1.m, s->pk1.n);
			m->pk_n = s->pk1.n;
			break;
		}
		if (!conn_stale(m->err) && m->err != SS_E_BAD_RESPONSE)
			break;
		session_drop(s); /* nothing was changed yet: once more on a fresh connection */
		if (m->err == SS_E_CARD_REMOVED || m->err == SS_E_NO_CARD)
			break;
	}
	msgq_post(w->q, m);
}

/* VERIFY or CHANGE PIN on the card in the reader, or §10's UNBLOCK and
 * RELOAD (one retry on a fresh connection when a held one turned out
 * stale, as for reads; never after the card's command was sent). */
static void do_pin(struct worker *w, struct session *s, struct job *j)
{
	step1_forget(s); /* the PIN selects the application: a step 1's challenge is gone */
	struct msg *m = pin_msg(w, j);
	if (!m)
		return;
	for (int attempt = 0; attempt < 2; attempt++) {
		if (!s->held) {
			m->err = pcsc_connect(s->conn, w->reader, &s->card);
			if (m->err != SS_OK)
				break;
			s->held = true;
		}
		s->card.tr.trace = atomic_load(&w->q->trace) ? trace_apdu : NULL;
		s->card.tr.trace_arg = w;
		if (j->op == READERS_PIN_UNBLOCK || j->op == READERS_PIN_RELOAD) {
			/* §10: its read selects the application itself (no APDU twice) */
			struct pin_mac_src src = {.s = s, .proof = j->proof};
			struct ssc_pinkey_mac k = {.mac = pin_mac, .arg = &src};
			uint16_t sw;
			m->err = ssc_pinkey(&s->card.tr, &k, j->op == READERS_PIN_RELOAD, j->pin_new, &sw);
			if (conn_stale(m->err) || m->err == SS_E_BAD_RESPONSE)
				session_drop(s); /* the next one connects afresh */
			break; /* the card may have taken the command: never sent twice */
		}
		m->err = ssc_select(&s->card.tr);
		if (m->err == SS_OK && j->pad)
			m->err = pcsc_pinpad(&s->card, j->op == READERS_PIN_VERIFY ? PINPAD_VERIFY : PINPAD_CHANGE,
					     &m->tries_left);
		else if (m->err == SS_OK && j->op == READERS_PIN_STATUS)
			m->err = ssc_pin_tries(&s->card.tr, &m->tries_left);
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
	struct session s = {.psam = w->psam, .hsm = w->hsm};
	if (pcsc_conn_new(&s.conn) != SS_OK)
		log_msg(LOG_ERR, "reader worker: out of memory");
	for (;;) {
		pthread_mutex_lock(&w->mu);
		if (s.held && !w->head && !w->quit) {
			struct timespec until;
			unsigned hold = s.has_step1 || s.pk1.has ? STEP2_WAIT_MS : w->hold_ms;
			clock_gettime(CLOCK_MONOTONIC, &until);
			until.tv_sec += hold / 1000;
			until.tv_nsec += (long)(hold % 1000) * 1000000L;
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
		if (j->kind == JOB_RELEASE) {
			session_drop(&s);
			s.refused.has = false; /* the card left: the next one may try */
		} else if (j->kind == JOB_RESET && s.conn)
			do_reset(w, &s);
		else if (j->kind == JOB_PIN && s.conn)
			if (j->pk_step)
				do_pinkey_step(w, &s, j);
			else
				do_pin(w, &s, j);
		else if (s.conn)
			do_read(w, &s, j);
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
	psam_unref(w->psam);
	hsm_unref(w->hsm);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w);
	atomic_fetch_sub(&rd_live_workers, 1);
	return NULL;
}

struct worker *worker_start(const char *reader, struct msgq *q, unsigned hold_ms,
			    const char *list_path, struct psam *psam, struct hsm *hsm)
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
	atomic_fetch_add(&rd_live_workers, 1);
	if ((w->psam = psam))
		psam_ref(psam);
	if ((w->hsm = hsm))
		hsm_ref(hsm);
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&th, &at, worker_main, w)) {
		pthread_attr_destroy(&at);
		atomic_fetch_sub(&rd_live_workers, 1);
		msgq_unref(q);
		psam_unref(w->psam);
		hsm_unref(w->hsm);
		pthread_cond_destroy(&w->cv);
		pthread_mutex_destroy(&w->mu);
		free(w);
		return NULL;
	}
	pthread_attr_destroy(&at);
	return w;
}

void worker_push_job(struct worker *w, struct job *j)
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

bool worker_push(struct worker *w, enum job_kind kind, uint64_t id)
{
	struct job *j = calloc(1, sizeof *j);
	if (!j)
		return false;
	j->kind = kind;
	j->id = id;
	worker_push_job(w, j);
	return true;
}

/* [readers] card_hold_ms changed (a reload). */
void worker_set_hold(struct worker *w, unsigned hold_ms)
{
	pthread_mutex_lock(&w->mu);
	w->hold_ms = hold_ms;
	pthread_mutex_unlock(&w->mu);
}

/* After this the loop never touches w again; the thread frees it. */
void worker_quit(struct worker *w)
{
	pthread_mutex_lock(&w->mu);
	w->quit = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}
