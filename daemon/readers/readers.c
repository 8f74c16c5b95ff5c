/* readers.c — the reader manager's public face (readers.h): start and stop,
 * reads, PIN jobs, reset, trace, reconfigure, the readers/status replies. */
#include "daemon/readers/internal.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/json.h"
#include "daemon/log.h"

void readers_set_trace(struct readers *r, bool on)
{
	struct nfcd_req q = {.kind = NFCD_TRACE, .trace_on = on};
	if (r->nfc.fd >= 0)
		rd_nfc_send(r, &q);
	atomic_store(&r->q->trace, on);
	log_msg(LOG_NOTICE, "APDU trace %s", on ? "on" : "off");
}

json_t *readers_reset(struct readers *r, const char *name)
{
	struct reader *x = rd_find_reader(r, name);
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
		rd_emit(r, json_pack("{s:s,s:s,s:b}", "event", "reader_reset", "reader", x->name,
				  "was_stuck", was_stuck));
		return json_pack("{s:b,s:s,s:b,s:s}", "ok", 1, "reader", x->name, "was_stuck",
				 was_stuck, "message",
				 "The NFC reader was restarted; a card on it will be read again.");
	}
	struct worker *w = worker_start(x->name, r->q, r->cfg->card_hold_ms, r->list_path, r->psam,
					 r->hsm);
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
		rd_start_job(r, x, NULL, NULL, NULL); /* read the card again after its reset */
	rd_emit(r, json_pack("{s:s,s:s,s:b}", "event", "reader_reset", "reader", x->name, "was_stuck",
			  was_stuck));
	return json_pack("{s:b,s:s,s:b,s:s}", "ok", 1, "reader", x->name, "was_stuck", was_stuck,
			 "message",
			 x->present ? "The reader was restarted and the card powered down; it is being read again."
				    : "The reader was restarted.");
}

void readers_reconfigure(struct readers *r)
{
	if (r->psam)
		psam_configure(r->psam, r->cfg);
	if (r->hsm)
		hsm_configure(r->hsm, r->cfg);
	if (strcmp(r->cfg->nfc, r->nfc.connstring)) {
		log_msg(LOG_NOTICE, "[readers] nfc is now '%s'", r->cfg->nfc);
		rd_nfc_stop(r);
		r->nfc.connstring[0] = 0;
		rd_nfc_spawn(r);
	}
	for (struct reader *x = r->list, *n; x; x = n) {
		n = x->next;
		if (x->w)
			worker_set_hold(x->w, r->cfg->card_hold_ms);
		if (!config_reader_wanted(r->cfg, x->name)) {
			char name[RDR_NAME_MAX];
			snprintf(name, sizeof name, "%s", x->name);
			rd_reader_removed(r, name);
			rd_ignore(r, name, true);
			log_msg(LOG_INFO, "reader '%s' now ignored by the configuration", name);
		}
	}
	char names[32][RDR_NAME_MAX];
	size_t n = r->n_ignored;
	memcpy(names, r->ignored, n * sizeof names[0]);
	for (size_t i = 0; i < n; i++)
		if (config_reader_wanted(r->cfg, names[i]))
			rd_reader_added(r, names[i], !strcmp(names[i], r->nfc.reader));
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
	static const double LE[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
	int rv;
	if (!r)
		return -ENOMEM;
	memcpy(r->read_seconds.le, LE, sizeof LE);
	r->read_seconds.n = sizeof LE / sizeof LE[0];
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
	bool want_psam = cfg->auth == CFG_AUTH_PSAM || (cfg->auth == CFG_AUTH_AUTO && cfg->sam_reader[0]);
	bool want_hsm = !want_psam && (cfg->auth == CFG_AUTH_HSM || (cfg->auth == CFG_AUTH_AUTO && cfg->url[0]));
	if ((want_psam && !(r->psam = psam_new(cfg, r->q))) || (want_hsm && !(r->hsm = hsm_new(cfg)))) {
		msgq_unref(r->q);
		free(r);
		return -ENOMEM;
	}
	rv = sd_event_add_io(ev, &r->q_src, r->q->efd, EPOLLIN, rd_on_queue, r);
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
	rd_nfc_spawn(r); /* failures are retried with back-off */
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
	rd_nfc_stop(r);
	free(r->nfc.buf);
	while (r->list) {
		struct reader *x = r->list;
		r->list = x->next;
		rd_reader_free(x);
	}
	/* Workers finish their current exchange first; one stuck on a mute
	 * card is left behind after 2 s (the msgq outlives us for it). */
	for (int i = 0; i < 200 && atomic_load(&rd_live_workers) > 0; i++)
		usleep(10000);
	while (r->pending) {
		struct pending *p = r->pending;
		r->pending = p->next;
		rd_pending_free(p);
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
	if (r->psam)
		psam_stop(r->psam);
	hsm_unref(r->hsm);
	json_decref(r->last_event);
	free(r);
}

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
	struct reader *x = rd_resolve(r, name, &e);
	if (x)
		rd_start_job(r, x, cookie, fn, NULL);
	else
		refuse(NULL, e, cookie, fn);
}

void readers_read_step(struct readers *r, const char *name, const uint8_t challenge[8],
		       const uint8_t cryptogram[16], void *cookie, readers_reply_fn fn)
{
	enum ss_err e;
	struct reader *x = rd_resolve(r, name, &e);
	struct job *j = NULL;
	if (x && x->nfc) {
		json_t *no = json_error(SS_E_NOT_SUPPORTED,
					"The two-step read (HSM_Step1/Step2) is for contact readers.");
		json_object_set_new(no, "reader", json_string(x->name));
		fn(cookie, no);
		json_decref(no);
		return;
	}
	if (x && !(j = calloc(1, sizeof *j)))
		e = SS_E_NOMEM;
	if (!j) {
		refuse(x, e, cookie, fn);
		return;
	}
	j->kind = JOB_READ;
	j->step = cryptogram ? READ_STEP2 : READ_STEP1;
	if (cryptogram) {
		memcpy(j->challenge, challenge, 8);
		memcpy(j->cryptogram, cryptogram, 16);
	}
	rd_start_job(r, x, cookie, fn, j);
}

/* A JOB_PIN for the resolved reader x (NULL: *e says why), or NULL with
 * the refusal answered: nfc_err on an NFC reader, a PIN too long. */
static struct job *pin_job(struct reader *x, enum ss_err *e, enum ss_err nfc_err, bool too_long, void *cookie,
			   readers_reply_fn fn)
{
	struct job *j = NULL;
	if (x && x->nfc)
		*e = nfc_err;
	else if (x && too_long)
		*e = SS_E_PIN_FORMAT;
	else if (x && !(j = calloc(1, sizeof *j)))
		*e = SS_E_NOMEM;
	if (!j) {
		refuse(x, *e, cookie, fn);
		return NULL;
	}
	j->kind = JOB_PIN;
	return j;
}

void readers_pinpad(struct readers *r, const char *name, enum readers_pin_op op, void *cookie,
		    readers_reply_fn fn)
{
	enum ss_err e;
	if (early_hold(r, name, true, op, cookie, fn))
		return;
	struct reader *x = rd_resolve(r, name, &e);
	/* an NFC antenna has no keypad */
	struct job *j = pin_job(x, &e, SS_E_NO_PIN_PAD, false, cookie, fn);
	if (!j)
		return;
	j->op = op;
	j->pad = true;
	rd_start_job(r, x, cookie, fn, j);
}

/* A §10 job for the card in the named reader: an unblock, or a reload to
 * new_pin; NULL when refused (answered). */
static struct job *pinkey_job(struct readers *r, const char *name, const char *new_pin, void *cookie,
			      readers_reply_fn fn, struct reader **x)
{
	enum ss_err e;
	*x = rd_resolve(r, name, &e);
	/* a contact card: the PSAM's MAC and the card's command on one connection */
	struct job *j = pin_job(*x, &e, SS_E_NOT_SUPPORTED,
				new_pin && strlen(new_pin) >= sizeof ((struct job *)0)->pin_new, cookie, fn);
	if (!j)
		return NULL;
	j->op = new_pin ? READERS_PIN_RELOAD : READERS_PIN_UNBLOCK;
	if (new_pin)
		memcpy(j->pin_new, new_pin, strlen(new_pin));
	return j;
}

void readers_pinkey(struct readers *r, const char *name, const char *new_pin, const char *proof,
		    void *cookie, readers_reply_fn fn)
{
	struct reader *x;
	struct job *j = pinkey_job(r, name, new_pin, cookie, fn, &x);
	if (!j)
		return;
	if (proof)
		snprintf(j->proof, sizeof j->proof, "%s", proof);
	rd_start_job(r, x, cookie, fn, j);
}

void readers_pinkey_step(struct readers *r, const char *name, const char *new_pin, const uint8_t challenge[8],
			 const uint8_t mac[4], void *cookie, readers_reply_fn fn)
{
	struct reader *x;
	struct job *j = pinkey_job(r, name, new_pin, cookie, fn, &x);
	if (!j)
		return;
	j->pk_step = mac ? 2 : 1;
	if (mac) {
		memcpy(j->challenge, challenge, 8);
		memcpy(j->mac, mac, 4);
	}
	rd_start_job(r, x, cookie, fn, j);
}

bool readers_pinkey_able(struct readers *r)
{
	return r->hsm || (r->psam && psam_session(r->psam));
}

void readers_pin(struct readers *r, const char *name, enum readers_pin_op op, const char *old_pin,
		 const char *new_pin, void *cookie, readers_reply_fn fn)
{
	struct reader *x = name ? rd_find_reader(r, name) : NULL;
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
	rd_start_job(r, x, cookie, fn, j);
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
	json_t *o = json_pack("{s:s,s:s,s:s,s:b}", "name", x->name, "interface", rd_reader_interface(x), "state",
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

void readers_metrics(struct readers *r, struct prom *p)
{
	static const char *const IFACE[] = {"contact", "contactless"}, *const RES[] = {"ok", "error"};
	static const char *const STATES[] = {"empty", "card", "reading", "stuck", "shadowed"};
	struct prom_labels l = {.k = {"interface", "result"}, .n = 2};
	prom_family(p, "sscard_card_reads_total", "counter", "Card reads answered, by interface and result.");
	for (int i = 0; i < 2; i++)
		for (int j = 0; j < 2; j++) {
			l.v[0] = IFACE[i], l.v[1] = RES[j];
			prom_sample(p, "sscard_card_reads_total", &l, (double)r->reads_by[i][j]);
		}
	prom_hist_write(p, "sscard_card_read_duration_seconds", "Time a good card read took, in the worker.",
			&r->read_seconds);
	prom_family(p, "sscard_card_errors_total", "counter", "Card requests that failed, by error code.");
	l = (struct prom_labels){.k = {"code"}, .n = 1};
	for (int i = 1; i < SS_E__COUNT; i++) {
		l.v[0] = ss_err_name((enum ss_err)i);
		prom_sample(p, "sscard_card_errors_total", &l, (double)r->errors[i]);
	}
	prom_family(p, "sscard_reader_state", "gauge",
		    "Each reader's state (1 for the state it is in): empty, card, reading, stuck, shadowed.");
	l = (struct prom_labels){.k = {"reader", "interface", "state"}, .n = 3};
	unsigned n = 0;
	for (struct reader *x = r->list; x; x = x->next, n++) {
		const char *st = x->stuck ? "stuck" : x->outstanding ? "reading" : x->shadowed ? "shadowed"
			       : x->present ? "card" : "empty";
		l.v[0] = x->name, l.v[1] = rd_reader_interface(x);
		for (size_t i = 0; i < sizeof STATES / sizeof STATES[0]; i++) {
			l.v[2] = STATES[i];
			prom_sample(p, "sscard_reader_state", &l, !strcmp(st, STATES[i]));
		}
	}
	prom_one(p, "sscard_readers", "gauge", "Readers the daemon uses now.", n);
	prom_one(p, "sscard_pcscd_up", "gauge", "Whether pcscd answers (1) or not (0).",
		 !strcmp(r->pcsc_state, "up"));
	if (r->psam) {
		json_t *s = psam_status_json(r->psam);
		prom_one(p, "sscard_psam_present", "gauge", "Whether the terminal's PSAM is in its reader.",
			 json_is_true(json_object_get(s, "present")));
		prom_one(p, "sscard_psam_session", "gauge", "Whether a session with the PSAM is open.",
			 json_is_true(json_object_get(s, "session")));
		json_decref(s);
	}
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
	if (r->psam) /* the PSAM session, for a technician */
		json_object_set_new(o, "psam", psam_status_json(r->psam));
	return o;
}
