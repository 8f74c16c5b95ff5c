/* kiosk.c — the flows (flow.c) wired to the daemon's parts. */
#include "daemon/kiosk/kiosk.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon/kiosk/flow.h"
#include "daemon/kiosk/printer.h"
#include "daemon/json.h"
#include "daemon/log.h"
#include "daemon/kiosk/upcall.h"

extern char **environ;

/* A reader request in flight: the reader manager calls back with this. */
struct pend {
	struct pend *next;
	struct kiosk *k;
	uint64_t tag;
	bool pin;
};

struct kiosk {
	sd_event *ev;
	const struct config *cfg;
	struct kiosk_deps deps;
	struct flow_ops ops;
	struct flow *flow;
	struct upcall *up;
	sd_event_source *timer;
	struct pend *pends;
	uint64_t call_id, call_tag;  /* the central call in flight and its flow tag */
	uint64_t settle_id;          /* the call settling an order left on disk */
	char settling[40];           /* … that order */
	sd_event_source *settle_timer;
	uint64_t idcard_tag;         /* the ID card read in flight, for the flow */
	unsigned long help_calls;
	struct printer *printer;     /* NULL: no [ui] printer */
	bool offline;                /* the last call to the central did not reach it */
	json_t *last_banner;
};

static uint64_t now_ms(void *arg)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int64_t wall_s(void *arg)
{
	return (int64_t)time(NULL);
}

static void pend_drop(struct kiosk *k, struct pend *p)
{
	for (struct pend **pp = &k->pends; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	free(p);
}

static void on_reader_reply(void *cookie, json_t *reply)
{
	struct pend *p = cookie;
	struct kiosk *k = p->k;
	uint64_t tag = p->tag;
	bool pin = p->pin;
	pend_drop(k, p);
	if (pin)
		flow_on_pin(k->flow, tag, reply);
	else
		flow_on_card(k->flow, tag, reply);
}

/* A reader request to track; NULL (the flow already told) when out of memory. */
static struct pend *pend_new(struct kiosk *k, uint64_t tag, bool pin)
{
	struct pend *p = calloc(1, sizeof *p);
	if (!p) {
		json_t *e = json_error(SS_E_NOMEM, NULL);
		if (pin)
			flow_on_pin(k->flow, tag, e);
		else
			flow_on_card(k->flow, tag, e);
		json_decref(e);
		return NULL;
	}
	p->k = k;
	p->tag = tag;
	p->pin = pin;
	p->next = k->pends;
	k->pends = p;
	return p;
}

static void card_read(void *arg, const char *reader, uint64_t tag)
{
	struct kiosk *k = arg;
	struct pend *p = pend_new(k, tag, false);
	if (!p)
		return;
	readers_read(k->deps.readers, reader, p, on_reader_reply);
}

static void pin_op(void *arg, const char *reader, const char *old_pin, const char *new_pin,
		   uint64_t tag)
{
	struct kiosk *k = arg;
	struct pend *p = pend_new(k, tag, true);
	if (!p)
		return;
	readers_pin(k->deps.readers, reader, new_pin ? READERS_PIN_CHANGE : READERS_PIN_VERIFY,
		    old_pin, new_pin, p, on_reader_reply);
}

static void pin_status(void *arg, const char *reader, uint64_t tag)
{
	struct kiosk *k = arg;
	struct pend *p = pend_new(k, tag, true);
	if (p)
		readers_pin(k->deps.readers, reader, READERS_PIN_STATUS, "", NULL, p, on_reader_reply);
}

static void pinkey(void *arg, const char *reader, const char *new_pin, const char *proof, uint64_t tag)
{
	struct kiosk *k = arg;
	struct pend *p = pend_new(k, tag, true);
	if (p)
		readers_pinkey(k->deps.readers, reader, new_pin, proof, p, on_reader_reply);
}

static const char *scanner_st(void *arg)
{
	struct kiosk *k = arg;
	return scanner_state(k->deps.scanner);
}

/* ---- fees paid here: the orders kept on disk (outbox.h) ------------------ */

static enum ss_err order_open(void *arg, const char *order_id, const char *card_id, json_t *fields)
{
	struct kiosk *k = arg;
	char err[300];
	return outbox_order_open(k->deps.outbox, order_id, card_id, fields, err, sizeof err);
}

static enum ss_err order_paid(void *arg, const char *order_id, const char *card_id, json_t *fields,
			      struct outbox_receipt *r)
{
	struct kiosk *k = arg;
	char err[300];
	enum ss_err e = outbox_order_paid(k->deps.outbox, order_id, card_id, fields, r, err, sizeof err);
	if (e != SS_OK)
		log_at(LOG_ERR, NULL, "outbox_unavailable", "kiosk: a paid order could not be filed yet: %s", err);
	return e;
}

static void order_close(void *arg, const char *order_id)
{
	struct kiosk *k = arg;
	outbox_order_close(k->deps.outbox, order_id);
}

/* Orders left on disk by a flow that could not finish them (a crash, a
 * kill -9 between "paid" and "filed", the central down at the end): one at
 * a time, every SETTLE_S, asked about at the central: paid → the request
 * filed; still open → cancelled (a payment after that is refunded by the
 * central); gone → forgotten. The order the flow on screen holds is not
 * touched. */
#define SETTLE_S 20

static void settle_next(struct kiosk *k)
{
	json_t *orders = outbox_orders(k->deps.outbox), *o;
	size_t i;
	const char *mine = flow_order(k->flow);
	k->settling[0] = 0;
	json_array_foreach(orders, i, o) {
		const char *id = json_string_value(json_object_get(o, "order_id"));
		if (id && strcmp(id, mine) && strlen(id) < sizeof k->settling) {
			char path[96];
			snprintf(k->settling, sizeof k->settling, "%s", id);
			snprintf(path, sizeof path, "/v1/payments/%s/cancel", id);
			json_t *body = json_object();
			k->settle_id = upcall_start(k->up, path, body); /* cancel, or learn it is paid */
			json_decref(body);
			break;
		}
	}
	json_decref(orders);
}

static void settle_answer(struct kiosk *k, long status, json_t *body)
{
	const char *st = json_string_value(json_object_get(body, "state"));
	const char *e = json_string_value(json_object_get(body, "error"));
	if (!k->settling[0])
		return;
	if ((status == 409 && e && !strcmp(e, "already_paid")) || (st && !strcmp(st, "used"))) {
		struct outbox_receipt r;
		char err[300];
		if (outbox_order_paid(k->deps.outbox, k->settling, NULL, NULL, &r, err, sizeof err) == SS_OK)
			log_msg(LOG_NOTICE, "kiosk: a paid order left unfiled is filed now (%s)", r.reference);
	} else if (status == 200 || status == 404) {
		outbox_order_close(k->deps.outbox, k->settling);
		log_msg(LOG_NOTICE, "kiosk: an order left open is cancelled at the central");
	}
	k->settling[0] = 0;
	settle_next(k); /* the next one, if any; else the timer's next round */
}

static int on_settle_timer(sd_event_source *s, uint64_t usec, void *arg)
{
	struct kiosk *k = arg;
	if (!k->settle_id)
		settle_next(k);
	sd_event_source_set_time_relative(s, SETTLE_S * 1000000ull);
	sd_event_source_set_enabled(s, SD_EVENT_ON);
	return 0;
}

static bool pinkey_able(void *arg)
{
	struct kiosk *k = arg;
	return readers_pinkey_able(k->deps.readers);
}

static void on_idcard_reply(void *cookie, json_t *reply)
{
	struct kiosk *k = cookie;
	uint64_t tag = k->idcard_tag;
	k->idcard_tag = 0;
	flow_on_idcard(k->flow, tag, reply);
}

static void idcard_read(void *arg, uint64_t tag)
{
	struct kiosk *k = arg;
	idreader_forget(k->deps.idreader, k); /* one read at a time: the newest screen's */
	k->idcard_tag = tag;
	idreader_read(k->deps.idreader, k, on_idcard_reply);
}

static const char *idcard_state(void *arg)
{
	struct kiosk *k = arg;
	return idreader_state(k->deps.idreader);
}

/* A card just put on the ID card reader. */
static void on_idcard_person(void *cookie, json_t *person)
{
	struct kiosk *k = cookie;
	json_t *r = json_deep_copy(person);
	json_object_set_new(r, "ok", json_true());
	flow_on_idcard(k->flow, 0, r);
	json_decref(r);
}

/* A code from the serial scanner: the screen on show decides what it means. */
static void on_scanned(void *arg, const char *code, size_t len)
{
	struct kiosk *k = arg;
	flow_on_ecode(k->flow, code);
}

static const char *printer_st(void *arg)
{
	struct kiosk *k = arg;
	return printer_state(k->printer);
}

/* The printer's state changed: subscribers hear it, a receipt on screen
 * shows or hides its print button. */
static void on_printer(void *arg, const char *state, const char *message)
{
	struct kiosk *k = arg;
	json_t *e = json_pack("{s:s,s:s,s:s}", "event", "printer", "state", state, "message", message);
	if (k->deps.emit)
		k->deps.emit(NULL, e);
	json_decref(e);
	if (flow_step(k->flow) == ST_RECEIPT)
		flow_touch(k->flow);
}

static void publish_banner(struct kiosk *k)
{
	json_t *b = kiosk_banner(k);
	if (!json_equal(b, k->last_banner)) {
		k->deps.publish(k->deps.arg, "banner", b);
		json_decref(k->last_banner);
		k->last_banner = json_incref(b);
	}
	json_decref(b);
}

static void central(void *arg, const char *path, json_t *body, uint64_t tag)
{
	struct kiosk *k = arg;
	k->call_tag = tag;
	k->call_id = upcall_start(k->up, path, body);
}

static void arm(struct kiosk *k);
static void settle_answer(struct kiosk *k, long status, json_t *body);

static void on_upcall(void *arg, uint64_t id, long status, json_t *body, const char *err)
{
	struct kiosk *k = arg;
	bool was = k->offline;
	log_msg(LOG_DEBUG, "kiosk: central call %llu answered %ld%s%s", (unsigned long long)id, status,
		err && *err ? ": " : "", err ? err : "");
	k->offline = status == 0 || status >= 500;
	if (k->offline)
		log_at(LOG_WARNING, NULL, "central_unreachable", "kiosk: the central did not answer: %s",
		       status ? "server error" : err && *err ? err : "no answer");
	if (was != k->offline)
		publish_banner(k);
	if (id && id == k->settle_id) {
		k->settle_id = 0;
		settle_answer(k, status, body);
		return;
	}
	if (id != k->call_id)
		return;
	k->call_id = 0;
	flow_on_central(k->flow, k->call_tag, status, body, err);
	arm(k); /* the pay screen's next poll, even when the view did not change */
}

static enum ss_err submit(void *arg, const char *type, const char *card_id, json_t *fields,
			  struct outbox_receipt *r, char *err, size_t errlen)
{
	struct kiosk *k = arg;
	if (!k->deps.outbox) {
		snprintf(err, errlen, "the outbox is not open");
		return SS_E_OUTBOX;
	}
	enum ss_err e = outbox_add(k->deps.outbox, type, card_id, fields, NULL, r, err, errlen);
	if (e == SS_OK)
		log_msg(LOG_INFO, "kiosk: %s taken, reference %s", type, r->reference);
	else
		log_at(LOG_ERR, NULL, ss_err_name(e), "kiosk: a %s could not be taken: %s", type, err);
	return e;
}

static json_t *list_state(void *arg)
{
	struct kiosk *k = arg;
	return k->deps.list_state ? k->deps.list_state() : json_null();
}

static void arm(struct kiosk *k)
{
	uint64_t d = flow_deadline(k->flow);
	if (!d) {
		sd_event_source_set_enabled(k->timer, SD_EVENT_OFF);
		return;
	}
	sd_event_source_set_time(k->timer, d * 1000);
	sd_event_source_set_enabled(k->timer, SD_EVENT_ONESHOT);
}

static void changed(void *arg)
{
	struct kiosk *k = arg;
	arm(k);
	json_t *v = flow_view(k->flow);
	log_msg(LOG_DEBUG, "kiosk: screen %s/%s", json_string_value(json_object_get(v, "flow")),
		json_string_value(json_object_get(v, "step")));
	k->deps.publish(k->deps.arg, "view", v);
	json_decref(v);
}

static int on_timer(sd_event_source *s, uint64_t usec, void *arg)
{
	struct kiosk *k = arg;
	flow_timeout(k->flow);
	arm(k);
	return 0;
}

json_t *kiosk_banner(struct kiosk *k)
{
	json_t *l = k->deps.list_state ? k->deps.list_state() : NULL;
	json_t *b = json_pack("{s:b,s:b,s:O,s:b}", "offline", k->offline, "list_stale",
			      !l || json_is_true(json_object_get(l, "stale")) ||
				      json_object_get(l, "error"),
			      "list_age_s", l && json_object_get(l, "age_s") ? json_object_get(l, "age_s")
								       : json_null(),
			      "clock_wrong", l && json_is_true(json_object_get(l, "clock_wrong")));
	json_decref(l);
	return b;
}

void kiosk_event(struct kiosk *k, json_t *event)
{
	const char *e = json_string_value(json_object_get(event, "event"));
	const char *reader = json_string_value(json_object_get(event, "reader"));
	if (!k || !e)
		return;
	bool in = !strcmp(e, "card_inserted"), out = !strcmp(e, "card_removed");
	if ((in || out) && reader) { /* for pages: that a card came or went, nothing about it */
		json_t *c = json_pack("{s:b}", "present", in);
		k->deps.publish(k->deps.arg, "card", c);
		json_decref(c);
	}
	if (in && reader)
		flow_card_event(k->flow, reader, true);
	else if ((out || !strcmp(e, "reader_removed")) && reader)
		flow_card_event(k->flow, reader, false);
	else if (!strcmp(e, "outbox_delivered") || !strcmp(e, "outbox_failed"))
		flow_outbox_event(k->flow,
				  json_string_value(json_object_get(event, "reference")) ?: "",
				  !strcmp(e, "outbox_delivered"));
	else if (!strcmp(e, "list_freshness") || !strcmp(e, "list_updated"))
		publish_banner(k);
	else if (!strcmp(e, "idcard_error")) {
		json_t *r = json_pack("{s:b,s:s}", "ok", 0, "error",
				      json_string_value(json_object_get(event, "code")) ?: "");
		flow_on_idcard(k->flow, 0, r);
		json_decref(r);
	} else if (!strcmp(e, "idcard_reader") &&
		   (flow_step(k->flow) == ST_IDENTIFY || flow_step(k->flow) == ST_AGENT || flow_step(k->flow) == ST_HOME))
		flow_touch(k->flow); /* the screen says whether the ID card reader works */
	else if (!strcmp(e, "scanner") && flow_step(k->flow) == ST_IDENTIFY)
		flow_touch(k->flow); /* the screen says whether a code can be scanned */
	else if (!strcmp(e, "psam") && (flow_step(k->flow) == ST_HOME || flow_step(k->flow) == ST_ERROR))
		flow_touch(k->flow); /* "unlock PIN" on the home screen, "unlock here" on an error */
}

void kiosk_set_publisher(struct kiosk *k, void *arg)
{
	k->deps.arg = arg;
}

json_t *kiosk_view(struct kiosk *k)
{
	return flow_view(k->flow);
}

enum ss_err kiosk_action(struct kiosk *k, json_t *req, char *err, size_t errlen)
{
	return flow_action(k->flow, req, err, errlen);
}

enum ss_err kiosk_help(struct kiosk *k)
{
	json_t *ev = json_pack("{s:s,s:s,s:s}", "event", "help_requested", "flow",
			       flow_kind_name(flow_kind(k->flow)), "step",
			       flow_step_name(flow_step(k->flow)));
	k->help_calls++;
	log_at(LOG_NOTICE, NULL, "help_requested", "kiosk: someone asked for staff (screen: %s)",
	       flow_step_name(flow_step(k->flow)));
	k->deps.publish(k->deps.arg, "help", ev);
	if (k->deps.emit)
		k->deps.emit(NULL, ev);
	json_decref(ev);
	return SS_OK;
}

void kiosk_add_status(struct kiosk *k, json_t *st)
{
	json_object_set_new(st, "printer", k ? printer_status_json(k->printer) : json_null());
}

void kiosk_metrics(struct kiosk *k, struct prom *p)
{
	if (!k)
		return;
	const struct flow_stats *st = flow_stats(k->flow);
	struct prom_labels l = {.k = {"flow"}, .n = 1};
	prom_family(p, "sscard_kiosk_flows_started_total", "counter", "Kiosk flows started, by flow.");
	for (int f = FLOW_NONE + 1; f < FLOW__COUNT; f++) {
		l.v[0] = flow_kind_name((enum flow_kind)f);
		prom_sample(p, "sscard_kiosk_flows_started_total", &l, (double)st->started[f]);
	}
	prom_family(p, "sscard_kiosk_flows_finished_total", "counter",
		    "Kiosk flows ended, by flow and outcome (completed, refused, cancelled, timed_out).");
	l = (struct prom_labels){.k = {"flow", "outcome"}, .n = 2};
	unsigned long timeouts = 0;
	for (int f = FLOW_NONE + 1; f < FLOW__COUNT; f++)
		for (int o = 0; o < FLOW__OUTCOMES; o++) {
			l.v[0] = flow_kind_name((enum flow_kind)f);
			l.v[1] = flow_outcome_name((enum flow_outcome)o);
			prom_sample(p, "sscard_kiosk_flows_finished_total", &l, (double)st->finished[f][o]);
			if (o == FLOW_TIMED_OUT)
				timeouts += st->finished[f][o];
		}
	prom_one(p, "sscard_kiosk_timeouts_total", "counter",
		 "Kiosk flows left because no one touched the screen.", (double)timeouts);
	prom_family(p, "sscard_kiosk_payments_total", "counter",
		    "Fees paid at the kiosk, by outcome (paid, already_paid, cancelled, expired, unsettled).");
	l = (struct prom_labels){.k = {"outcome"}, .n = 1};
	for (int o = 0; o < PAY__OUTCOMES; o++) {
		l.v[0] = pay_outcome_name((enum pay_outcome)o);
		prom_sample(p, "sscard_kiosk_payments_total", &l, (double)st->payments[o]);
	}
	prom_one(p, "sscard_kiosk_help_calls_total", "counter", "Times someone pressed \"call staff\".",
		 (double)k->help_calls);
	printer_metrics(k->printer, p);
	prom_one(p, "sscard_central_reachable", "gauge",
		 "Whether the kiosk's last call reached the central (1) or not (0).", !k->offline);
}

static int on_child(sd_event_source *s, const siginfo_t *si, void *arg)
{
	struct kiosk *k = arg;
	printer_poke(k->printer); /* did that receipt empty the tray? */
	if (si->si_code != CLD_EXITED || si->si_status != 0)
		log_at(LOG_ERR, NULL, "print_failed", "receipt printer: lp ended with status %d",
		       si->si_status);
	sd_event_source_unref(s);
	return 0;
}

enum ss_err kiosk_print(struct kiosk *k, char *err, size_t errlen)
{
	if (!*k->cfg->printer) {
		snprintf(err, errlen, "This terminal has no printer; the receipt is on the screen.");
		return SS_E_NOT_SUPPORTED;
	}
	if (!printer_usable(k->printer)) {
		snprintf(err, errlen, "The receipt printer cannot print now (%s). Please photograph the screen or ask the staff.",
			 printer_state(k->printer));
		return SS_E_NOT_SUPPORTED;
	}
	char *text = flow_receipt_text(k->flow);
	if (!text) {
		snprintf(err, errlen, "There is no receipt to print on this screen.");
		return SS_E_BUSY;
	}
	int fds[2];
	pid_t pid;
	posix_spawn_file_actions_t fa;
	char *argv[] = {"lp", "-s", "-d", (char *)k->cfg->printer, "-t", "sscard receipt", NULL};
	enum ss_err rc = SS_OK;
	if (pipe2(fds, O_CLOEXEC) < 0) {
		free(text);
		snprintf(err, errlen, "cannot start the printer: %s", strerror(errno));
		return SS_E_INTERNAL;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[0], 0);
	int e = posix_spawnp(&pid, "lp", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[0]);
	if (e) {
		snprintf(err, errlen, "cannot start lp (is cups-client installed?): %s", strerror(e));
		rc = SS_E_INTERNAL;
	} else {
		/* a receipt is far smaller than a pipe's buffer: this does not block */
		size_t n = strlen(text);
		if (write(fds[1], text, n) != (ssize_t)n)
			log_msg(LOG_WARNING, "receipt printer: short write");
		if (sd_event_add_child(k->ev, NULL, pid, WEXITED, on_child, k) < 0)
			log_msg(LOG_WARNING, "receipt printer: cannot watch lp");
		log_msg(LOG_INFO, "receipt sent to printer %s", k->cfg->printer);
	}
	close(fds[1]);
	free(text);
	return rc;
}

int kiosk_new(sd_event *ev, const struct config *cfg, const struct kiosk_deps *deps,
	      struct kiosk **out)
{
	struct kiosk *k = calloc(1, sizeof *k);
	int rv;
	if (!k)
		return -ENOMEM;
	k->ev = ev;
	k->cfg = cfg;
	k->deps = *deps;
	k->ops = (struct flow_ops){.arg = k, .now_ms = now_ms, .wall_s = wall_s,
				   .card_read = card_read, .pin = pin_op, .central = central,
				   .submit = submit, .list_state = list_state, .changed = changed,
				   .idcard_read = idcard_read, .idcard_state = idcard_state,
				   .printer_state = printer_st, .pin_status = pin_status, .pinkey = pinkey,
				   .pinkey_able = pinkey_able, .scanner_state = scanner_st,
				   .order_open = order_open, .order_paid = order_paid, .order_close = order_close};
	if (!(k->flow = flow_new(cfg, &k->ops))) {
		free(k);
		return -ENOMEM;
	}
	if ((rv = upcall_new(ev, cfg, on_upcall, k, &k->up)) < 0 ||
	    (rv = printer_start(ev, cfg, on_printer, k, &k->printer)) < 0 ||
	    (rv = sd_event_add_time(ev, &k->timer, CLOCK_MONOTONIC, 0, 50 * 1000, on_timer, k)) < 0 ||
	    (rv = sd_event_add_time_relative(ev, &k->settle_timer, CLOCK_MONOTONIC, 2 * 1000000ull, 100 * 1000,
					     on_settle_timer, k)) < 0) {
		kiosk_free(k);
		return rv;
	}
	sd_event_source_set_enabled(k->timer, SD_EVENT_OFF);
	idreader_on_person(deps->idreader, on_idcard_person, k);
	scanner_on_code(deps->scanner, on_scanned, k);
	*out = k;
	return 0;
}

void kiosk_free(struct kiosk *k)
{
	if (!k)
		return;
	for (struct pend *p = k->pends, *n; p; p = n) {
		n = p->next;
		readers_forget(k->deps.readers, p);
		free(p);
	}
	idreader_forget(k->deps.idreader, k);
	idreader_on_person(k->deps.idreader, NULL, NULL);
	scanner_on_code(k->deps.scanner, NULL, NULL);
	printer_stop(k->printer);
	upcall_free(k->up);
	sd_event_source_disable_unref(k->timer);
	sd_event_source_disable_unref(k->settle_timer);
	json_decref(k->last_banner);
	flow_free(k->flow);
	free(k);
}
