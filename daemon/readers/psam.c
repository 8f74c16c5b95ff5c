/* psam.c — the PSAM session thread (psam.h): one PC/SC connection to the
 * module, its terminal number, derive + encrypt one card at a time. */
#include "daemon/readers/psam.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "apdu/apdu.h"
#include "apdu/sam.h"
#include "daemon/log.h"
#include "daemon/readers/internal.h"
#include "drivers/reader.h"

/* One derive + encrypt asked by a reader; freed by whoever lets go last. */
struct psam_job {
	struct psam_job *next;
	int refs;                    /* the asker and the thread, under mu */
	bool done;
	enum ss_err err;
	uint8_t id[16], r[8], c[16];
	/* card-spec §10: a MAC over in (R ‖ 00×8 ‖ M padded) instead */
	bool pin;
	uint8_t in[48];
	size_t in_len;
};

struct psam {
	atomic_int users;            /* references outside the thread */
	pthread_mutex_t mu;
	pthread_cond_t cv;           /* jobs for the thread, answers for askers */
	struct psam_job *head, *tail;
	bool quit;
	bool open_now;               /* a PSAM arrived: open the session */
	char reader[RDR_NAME_MAX];   /* "": no SAM reader */
	bool present;
	unsigned gen;                /* bumps when the reader or its card changes */
	uint8_t key_usage, key_index;
	uint8_t pin_usage, pin_index; /* §10: [readers] pin_key_usage, pin_key_index */
	unsigned timeout_ms;
	char terminal[13];           /* "" until read in this session */
	bool session;
	unsigned long served, refused, failed;
	enum ss_err last;
	struct msgq *q;              /* trace lines (a reference) */
};

static atomic_int live_threads; /* session threads not yet ended */

static void free_job(struct psam_job *j)
{
	explicit_bzero(j, sizeof *j);
	free(j);
}

/* ---- the thread: the PSAM's APDUs ---------------------------------------- */

struct sess {
	struct pcsc_conn *conn;
	struct rdr_card card;
	bool open;
	unsigned gen;
	struct msgq *q;
};

/* The PSAM's APDUs in a technician's trace, redacted like a card's: the
 * card id, the challenge and the cryptogram are never shown. */
static void trace_apdu(void *arg, const uint8_t *cmd, size_t cmd_len, const uint8_t *rsp,
		       size_t rsp_len, unsigned flags, uint64_t us)
{
	struct sess *s = arg;
	struct msg *m;
	if (!atomic_load(&s->q->trace) || !(m = calloc(1, sizeof *m)))
		return;
	m->kind = MSG_TRACE;
	if (!(m->trace = rd_trace_json(s->card.reader, cmd, cmd_len, rsp, rsp_len, flags, us))) {
		free(m);
		return;
	}
	msgq_post(s->q, m);
}

static void sess_close(struct sess *s)
{
	if (s->open)
		pcsc_disconnect(&s->card);
	s->open = false;
}

static enum ss_err sess_open(struct sess *s, const char *reader, char term[13])
{
	uint16_t sw;
	enum ss_err e = pcsc_connect(s->conn, reader, &s->card);
	if (e != SS_OK) {
		log_msg(LOG_WARNING, "PSAM in '%s': %s", reader, ss_err_text(e));
		return SS_E_SAM;
	}
	s->open = true;
	s->card.tr.trace = trace_apdu;
	s->card.tr.trace_arg = s;
	if ((e = sam_open(&s->card.tr, term, &sw)) == SS_OK) {
		log_msg(LOG_INFO, "PSAM in '%s' ready, terminal number %s", reader, term);
		return SS_OK;
	}
	if (e == SS_E_SAM)
		log_msg(LOG_ERR, "the card in '%s' is not a PSAM of card-spec §9 (it answered %04X)",
			reader, sw);
	else
		log_msg(LOG_WARNING, "PSAM in '%s': %s", reader, ss_err_text(e));
	sess_close(s);
	return SS_E_SAM;
}

/* The cryptogram at the open session: SS_OK, SS_E_AUTH (refused),
 * SS_E_CARD_RESET (the session was lost) or SS_E_SAM (gone, mute). */
static enum ss_err derive_encrypt(struct sess *s, uint8_t usage, uint8_t index, struct psam_job *j)
{
	uint16_t sw;
	enum ss_err e = j->pin ? sam_pin_mac(&s->card.tr, usage, index, j->id, j->in, j->in_len, j->c, &sw)
			       : sam_cryptogram(&s->card.tr, usage, index, j->id, j->r, j->c, &sw);
	if (e == SS_E_AUTH)
		log_msg(LOG_ERR, "the PSAM refused to %s (%04X)",
			sw == 0x6A88 ? j->pin ? "derive the PIN key: no such key (check [readers] pin_key_usage and pin_key_index)"
					      : "derive: no such key (check [readers] sam_key_usage and sam_key_index)"
			: j->pin ? "make the PIN command's MAC" : "derive and encrypt",
			sw);
	else if (e != SS_OK && e != SS_E_CARD_RESET) {
		log_msg(LOG_WARNING, "PSAM in '%s': %s", s->card.reader, ss_err_text(e));
		sess_close(s);
		e = SS_E_SAM;
	}
	return e;
}

static void *thread_main(void *arg)
{
	struct psam *p = arg;
	struct sess s = {.q = p->q};
	if (pcsc_conn_new(&s.conn) != SS_OK)
		log_msg(LOG_ERR, "PSAM: no PC/SC context");
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->quit && !p->head && !p->open_now)
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->quit)
			break;
		struct psam_job *j = p->head;
		if (j && !(p->head = j->next))
			p->tail = NULL;
		p->open_now = false;
		char reader[RDR_NAME_MAX], term[13] = "";
		bool present = p->present && p->reader[0];
		unsigned gen = p->gen;
		uint8_t usage = j && j->pin ? p->pin_usage : p->key_usage;
		uint8_t index = j && j->pin ? p->pin_index : p->key_index;
		snprintf(reader, sizeof reader, "%s", p->reader);
		pthread_mutex_unlock(&p->mu);

		enum ss_err e = SS_OK;
		if (s.open && s.gen != gen)
			sess_close(&s); /* another module, or it was taken out */
		for (int attempt = 0; attempt < 2; attempt++) {
			if (!present || !s.conn)
				e = SS_E_SAM;
			else if (!s.open) {
				s.gen = gen;
				e = sess_open(&s, reader, term);
			}
			if (e != SS_OK || !j)
				break;
			e = derive_encrypt(&s, usage, index, j);
			if (e != SS_E_CARD_RESET && e != SS_E_SAM)
				break;
			sess_close(&s); /* reset under us, or gone: once more on a fresh session */
			e = SS_E_SAM;
		}

		pthread_mutex_lock(&p->mu);
		if (term[0] && gen == p->gen)
			memcpy(p->terminal, term, sizeof term);
		if (!s.open && gen == p->gen && !term[0] && e != SS_OK)
			p->terminal[0] = 0;
		p->session = s.open;
		if (j) {
			j->err = e;
			j->done = true;
			p->served += e == SS_OK;
			p->refused += e == SS_E_AUTH;
			p->failed += e == SS_E_SAM;
			if (e != SS_OK)
				p->last = e;
			if (--j->refs == 0)
				free_job(j);
			pthread_cond_broadcast(&p->cv);
		}
	}
	while (p->head) { /* nobody waits for these any more */
		struct psam_job *j = p->head;
		p->head = j->next;
		if (--j->refs == 0)
			free_job(j);
	}
	pthread_mutex_unlock(&p->mu);
	sess_close(&s);
	pcsc_conn_free(s.conn);
	msgq_unref(p->q);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p);
	atomic_fetch_sub(&live_threads, 1);
	return NULL;
}

/* ---- the API -------------------------------------------------------------- */

void psam_configure(struct psam *p, const struct config *cfg)
{
	pthread_mutex_lock(&p->mu);
	p->key_usage = cfg->sam_key_usage;
	p->key_index = cfg->sam_key_index;
	p->pin_usage = cfg->pin_key_usage;
	p->pin_index = cfg->pin_key_index;
	p->timeout_ms = cfg->sam_timeout_ms;
	pthread_mutex_unlock(&p->mu);
}

struct psam *psam_new(const struct config *cfg, struct msgq *q)
{
	pthread_condattr_t ca;
	pthread_attr_t at;
	pthread_t th;
	struct psam *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	atomic_init(&p->users, 1);
	pthread_mutex_init(&p->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cv, &ca);
	pthread_condattr_destroy(&ca);
	psam_configure(p, cfg);
	p->q = q;
	atomic_fetch_add(&q->refs, 1);
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	atomic_fetch_add(&live_threads, 1);
	int rc = pthread_create(&th, &at, thread_main, p);
	pthread_attr_destroy(&at);
	if (rc) {
		atomic_fetch_sub(&live_threads, 1);
		msgq_unref(q);
		pthread_cond_destroy(&p->cv);
		pthread_mutex_destroy(&p->mu);
		free(p);
		return NULL;
	}
	return p;
}

void psam_ref(struct psam *p)
{
	atomic_fetch_add(&p->users, 1);
}

void psam_unref(struct psam *p)
{
	if (!p || atomic_fetch_sub(&p->users, 1) != 1)
		return;
	pthread_mutex_lock(&p->mu);
	p->quit = true; /* the thread frees p when it gets here */
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

void psam_stop(struct psam *p)
{
	psam_unref(p);
	/* a session thread in the middle of an exchange finishes it first; one
	 * stuck on a mute PSAM is left behind after 2 s */
	for (int i = 0; i < 200 && atomic_load(&live_threads) > 0; i++)
		usleep(10000);
}

void psam_reader(struct psam *p, const char *name, bool present)
{
	pthread_mutex_lock(&p->mu);
	bool changed = strcmp(p->reader, name ? name : "") || p->present != present;
	snprintf(p->reader, sizeof p->reader, "%s", name ? name : "");
	p->present = name && present;
	if (changed) {
		p->gen++;
		p->terminal[0] = 0;
		p->open_now = p->present;
		pthread_cond_broadcast(&p->cv);
	}
	pthread_mutex_unlock(&p->mu);
}

static enum ss_err ask(struct psam *p, const uint8_t card_id[16], const uint8_t challenge[8],
		       const uint8_t *in, size_t in_len, uint8_t *out, size_t out_len);

enum ss_err psam_cryptogram(void *arg, const uint8_t card_id[16], const uint8_t challenge[8],
			    uint8_t out[16])
{
	return ask(arg, card_id, challenge, NULL, 0, out, 16);
}

enum ss_err psam_pin_mac(struct psam *p, const uint8_t card_id[16], const uint8_t *in, size_t in_len,
			 uint8_t mac[4])
{
	if (in_len > sizeof ((struct psam_job *)0)->in)
		return SS_E_INVALID;
	return ask(p, card_id, NULL, in, in_len, mac, 4);
}

/* Queue one job and wait for it, at most [readers] sam_timeout_ms. */
static enum ss_err ask(struct psam *p, const uint8_t card_id[16], const uint8_t challenge[8],
		       const uint8_t *in, size_t in_len, uint8_t *out, size_t out_len)
{
	struct timespec dl;
	enum ss_err e;
	pthread_mutex_lock(&p->mu);
	if (!p->reader[0] || !p->present) {
		p->failed++;
		p->last = SS_E_SAM;
		pthread_mutex_unlock(&p->mu);
		return SS_E_SAM;
	}
	struct psam_job *j = calloc(1, sizeof *j);
	if (!j) {
		pthread_mutex_unlock(&p->mu);
		return SS_E_NOMEM;
	}
	j->refs = 2;
	memcpy(j->id, card_id, 16);
	if (in) {
		j->pin = true;
		memcpy(j->in, in, in_len);
		j->in_len = in_len;
	} else
		memcpy(j->r, challenge, 8);
	if (p->tail)
		p->tail->next = j;
	else
		p->head = j;
	p->tail = j;
	pthread_cond_broadcast(&p->cv);
	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += p->timeout_ms / 1000;
	dl.tv_nsec += (long)(p->timeout_ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L)
		dl.tv_sec++, dl.tv_nsec -= 1000000000L;
	while (!j->done)
		if (pthread_cond_timedwait(&p->cv, &p->mu, &dl) == ETIMEDOUT)
			break;
	if (j->done) {
		e = j->err;
		if (e == SS_OK)
			memcpy(out, j->c, out_len);
	} else {
		/* still queued: take it back; in the thread's hands: let it go */
		for (struct psam_job **pp = &p->head, *prev = NULL; *pp; prev = *pp, pp = &(*pp)->next)
			if (*pp == j) {
				*pp = j->next;
				if (p->tail == j)
					p->tail = prev;
				j->refs--;
				break;
			}
		log_msg(LOG_WARNING, "the PSAM did not answer within %u ms ([readers] sam_timeout_ms)",
			p->timeout_ms);
		p->failed++;
		p->last = e = SS_E_SAM;
	}
	if (--j->refs == 0)
		free_job(j);
	pthread_mutex_unlock(&p->mu);
	return e;
}

uint64_t psam_session(struct psam *p)
{
	pthread_mutex_lock(&p->mu);
	uint64_t v = p->present && p->reader[0] ? ((uint64_t)p->gen << 1) | 1 : 0;
	pthread_mutex_unlock(&p->mu);
	return v;
}

bool psam_terminal(struct psam *p, char out[13])
{
	pthread_mutex_lock(&p->mu);
	bool have = p->terminal[0] != 0;
	memcpy(out, p->terminal, 13);
	pthread_mutex_unlock(&p->mu);
	return have;
}

json_t *psam_status_json(struct psam *p)
{
	pthread_mutex_lock(&p->mu);
	json_t *o = json_pack("{s:s?,s:b,s:b,s:s?,s:I,s:I,s:I,s:s?}", "reader",
			      p->reader[0] ? p->reader : NULL, "present", p->present, "session", p->session,
			      "terminal", p->terminal[0] ? p->terminal : NULL, "served",
			      (json_int_t)p->served, "refused", (json_int_t)p->refused, "failed",
			      (json_int_t)p->failed, "last_error", p->last ? ss_err_name(p->last) : NULL);
	pthread_mutex_unlock(&p->mu);
	return o;
}
