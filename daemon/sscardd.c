/* sscardd — the card terminal daemon: one sd-event loop owns all state;
 * blocking PC/SC work runs in worker threads (readers.c). */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <sodium.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>
#include <time.h>
#include <unistd.h>

#include "daemon/certinfo.h"
#include "daemon/config.h"
#include "daemon/control.h"
#include "daemon/json.h"
#include "daemon/kiosk/kiosk.h"
#include "daemon/losslist/fresh.h"
#include "daemon/losslist/losslist.h"
#include "daemon/metrics/metrics.h"
#include "daemon/log.h"
#include "daemon/readers/idreader.h"
#include "daemon/readers/scanner.h"
#include "daemon/readers/nfcd.h"
#include "daemon/readers/readers.h"
#include "daemon/losslist/sync.h"
#include "daemon/outbox/outbox.h"
#include "daemon/web/web.h"
#include <curl/curl.h>

#ifndef SSCARD_VERSION
#define SSCARD_VERSION "0.1.0"
#endif

static struct {
	struct config cfg;
	const char *config_file;
	struct control *control;
	struct readers *readers;
	struct idreader *idreader;    /* NULL: no ID card reader */
	struct scanner *scanner;      /* NULL: no code scanner */
	uint64_t started;
	uint64_t watchdog_usec;       /* 0: no watchdog */
	uint64_t last_ping;
	bool healthy;
	unsigned reloads, reload_failures;
	struct losslist *list;        /* read-write; workers open their own */
	struct sync *sync;
	struct outbox *outbox;
	struct kiosk *kiosk;
	struct web *web;
	struct metrics *metrics;
	struct cert_info cert;        /* [upstream] client_cert, when set */
	sd_event_source *cert_timer;
	int64_t started_wall;
	char web_error[300];          /* why there is no kiosk page, for status */
} d;

static void usage(FILE *f)
{
	fprintf(f, "usage: sscardd [-c FILE] [-f] [--check-config] [--outbox-pending] [-V]\n"
		   "  -c, --config FILE   configuration (default " CFG_DEFAULT_FILE ")\n"
		   "  -f, --foreground    stay in the foreground, log to stderr\n"
		   "      --check-config  validate the configuration and exit (0 ok, 78 bad)\n"
		   "      --outbox-pending  print how many requests the central has not taken\n"
		   "                      (read from state_dir, the daemon may be stopped)\n"
		   "  -V, --version       print the version\n");
}

static void emit(void *arg, json_t *event)
{
	control_broadcast(d.control, event);
	kiosk_event(d.kiosk, event);
	web_reader_event(d.web, event);
	const char *kind = json_string_value(json_object_get(event, "event"));
	if (d.readers && kind && strcmp(kind, "apdu") && getenv("NOTIFY_SOCKET")) {
		unsigned nr, nc;
		unsigned long reads;
		const char *pcsc;
		readers_counts(d.readers, &nr, &nc, &reads, &pcsc);
		sd_notifyf(0, "STATUS=pcscd %s; %u reader(s), %u card(s); %lu card(s) read", pcsc, nr,
			   nc, reads);
	}
}

/* The terminal's certificate: read at start and reload, looked at daily;
 * within CERT_WARN_DAYS of expiry (or expired) a warning and an event. */
static void check_cert(void)
{
	memset(&d.cert, 0, sizeof d.cert);
	if (!*d.cfg.client_cert)
		return;
	cert_info_load(d.cfg.client_cert, &d.cert);
	if (!d.cert.ok) {
		log_at(LOG_ERR, NULL, "certificate_unreadable", "client certificate: %s", d.cert.error);
		return;
	}
	long left = cert_days_left(&d.cert, (int64_t)time(NULL));
	if (left > CERT_WARN_DAYS)
		return;
	log_at(LOG_WARNING, NULL, left < 0 ? "certificate_expired" : "certificate_expiring",
	       "client certificate of %s %s %ld day(s)%s: renew it (%s)", d.cert.subject,
	       left < 0 ? "expired" : "expires in", left < 0 ? -left : left, left < 0 ? " ago" : "",
	       d.cfg.client_cert);
	json_t *e = json_pack("{s:s,s:s,s:I}", "event", left < 0 ? "certificate_expired" : "certificate_expiring",
			      "subject", d.cert.subject, "days_left", (json_int_t)left);
	emit(NULL, e);
	json_decref(e);
}

static int on_cert_timer(sd_event_source *s, uint64_t usec, void *arg)
{
	check_cert();
	sd_event_source_set_time(s, usec + 86400ULL * 1000000);
	sd_event_source_set_enabled(s, SD_EVENT_ON);
	return 0;
}

static void cert_status(json_t *st)
{
	if (!*d.cfg.client_cert)
		return;
	json_t *j = json_pack("{s:s,s:b}", "file", d.cfg.client_cert, "ok", d.cert.ok);
	if (d.cert.ok) {
		char day[16];
		time_t t = (time_t)d.cert.not_after;
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(day, sizeof day, "%Y-%m-%d", &tm);
		long left = cert_days_left(&d.cert, (int64_t)time(NULL));
		json_object_set_new(j, "subject", json_string(d.cert.subject));
		json_object_set_new(j, "expires", json_string(day));
		json_object_set_new(j, "days_left", json_integer(left));
		json_object_set_new(j, "renew", json_boolean(left <= CERT_WARN_DAYS));
	} else
		json_object_set_new(j, "error", json_string(d.cert.error));
	json_object_set_new(st, "client_certificate", j);
}

static json_t *list_summary(void)
{
	struct loss_info i;
	if (!d.list || losslist_info(d.list, &i) < 0)
		return json_pack("{s:s,s:s}", "error", ss_err_name(SS_E_LIST), "message",
				 ss_err_text(SS_E_LIST));
	struct loss_fresh f;
	fresh_eval(&i, d.cfg.stale_after, &f);
	json_t *j = json_pack("{s:I,s:I,s:o,s:b,s:b,s:s,s:s,s:I,s:I,s:I}", "version", (json_int_t)i.version,
			      "entries", (json_int_t)i.entries, "age_s",
			      f.known ? json_integer(f.age_s) : json_null(), "stale", f.stale,
			      "clock_wrong", f.clock_wrong, "age_basis", f.basis, "message",
			      fresh_message(&i, &f), "stale_after_s", (json_int_t)d.cfg.stale_after,
			      "snapshot_version", (json_int_t)i.base, "changes_since_snapshot",
			      (json_int_t)i.changes);
	int64_t off, ago;
	if (fresh_clock_offset(&off, &ago))
		json_object_set_new(j, "clock", json_pack("{s:I,s:I,s:s}", "offset_s", (json_int_t)off,
							  "measured_s_ago", (json_int_t)ago, "source",
							  "the Date of the central's (or mirror's) last answer"));
	if (d.sync)
		sync_add_status(d.sync, j);
	return j;
}

static void list_sync(void *cookie, void (*fn)(void *cookie, json_t *reply))
{
	sync_now(d.sync, cookie, fn);
}

/* A loss taken here blocks the card here at once, before the central
 * knows: the outbox has it on disk, the local list too. */
static int block_locally(void *arg, const char *type, const char *card, json_t *fields)
{
	uint8_t id[LOSS_ID_LEN];
	if (strcmp(type, "loss_report") || !loss_id_parse(card, id))
		return -1;
	const char *loss = json_string_value(json_object_get(fields, "loss"));
	enum loss_state st = loss && !strcmp(loss, "formal") ? LOSS_FORMAL : LOSS_TEMPORARY;
	if (d.list && losslist_put(d.list, id, st, (int64_t)time(NULL)) == 0)
		return 1;
	log_at(LOG_ERR, NULL, "list_unavailable",
	       "a loss taken here could not enter the local list (the request is queued)");
	return 0;
}

static json_t *outbox_verb(const struct request *rq)
{
	switch (rq->verb) {
	case REQ_REQUEST: return outbox_request_verb(d.outbox, rq->arg);
	case REQ_OUTBOX_RETRY: return outbox_retry(d.outbox, rq->arg);
	default: return outbox_list_json(d.outbox);
	}
}

static void forget(void *cookie)
{
	sync_forget(d.sync, cookie);
	idreader_forget(d.idreader, cookie);
}

static void idcard_verb(void *cookie, void (*fn)(void *cookie, json_t *reply))
{
	idreader_read(d.idreader, cookie, fn);
}

static json_t *list_verb(const struct request *rq)
{
	if (rq->verb == REQ_LIST_INFO) {
		json_t *j = list_summary();
		json_object_set_new(j, "ok", json_boolean(!json_object_get(j, "error")));
		return j;
	}
	uint8_t id[LOSS_ID_LEN];
	struct loss_entry e;
	struct loss_info i;
	if (!loss_id_parse(rq->arg, id))
		return json_error(SS_E_INVALID, "A card id (卡识别码) is 32 hexadecimal digits.");
	int rc = d.list ? losslist_lookup(d.list, id, &e, &i) : -1;
	if (rc < 0)
		return json_error(SS_E_LIST, NULL);
	json_t *j = json_loss(rc, &e, &i, d.cfg.stale_after);
	json_object_set_new(j, "ok", json_true());
	return j;
}

/* The loss list lives in state_dir; made when missing (a start by hand). */
static void open_list(void)
{
	char path[300], err[400];
	if (mkdir(d.cfg.state_dir, 0700) < 0 && errno != EEXIST)
		log_at(LOG_ERR, NULL, "list_unavailable", "cannot create %s: %s", d.cfg.state_dir,
		       strerror(errno));
	snprintf(path, sizeof path, "%s/" LOSSLIST_FILE, d.cfg.state_dir);
	if (losslist_open(path, true, &d.list, err, sizeof err) < 0)
		log_at(LOG_ERR, NULL, "list_unavailable",
		       "loss list: %s; every read will say the list could not be checked", err);
}

static uint64_t now_usec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* Re-read the configuration. A bad file changes nothing. Keys that need
 * new sockets or threads are kept until a restart, and said so. */
static json_t *reload(void)
{
	char err[512];
	struct config next;
	if (config_load(&next, d.config_file, false, err, sizeof err) < 0) {
		d.reload_failures++;
		log_at(LOG_ERR, NULL, "config_error", "reload: %s; keeping the running configuration", err);
		json_t *e = json_error(SS_E_CONFIG, err);
		json_object_set_new(e, "kept", json_string("the running configuration"));
		return e;
	}
	json_t *restart = json_array();
#define KEEP_STR(f)                                                                                \
	if (strcmp(next.f, d.cfg.f)) {                                                             \
		json_array_append_new(restart, json_string(#f));                                   \
		memcpy(next.f, d.cfg.f, sizeof next.f);                                            \
	}
	KEEP_STR(socket)
	KEEP_STR(state_dir)
	KEEP_STR(listen)
	KEEP_STR(idcard)
	KEEP_STR(scanner)
	KEEP_STR(metrics_listen)
#undef KEEP_STR
	if (next.idcard_baud != d.cfg.idcard_baud || next.idcard_poll_ms != d.cfg.idcard_poll_ms) {
		json_array_append_new(restart, json_string("idcard"));
		next.idcard_baud = d.cfg.idcard_baud;
		next.idcard_poll_ms = d.cfg.idcard_poll_ms;
	}
	if (next.scanner_baud != d.cfg.scanner_baud) {
		json_array_append_new(restart, json_string("scanner"));
		next.scanner_baud = d.cfg.scanner_baud;
	}
	if (next.pcsc != d.cfg.pcsc) {
		json_array_append_new(restart, json_string("pcsc"));
		next.pcsc = d.cfg.pcsc;
	}
	d.cfg = next;
	d.reloads++;
	log_set_level(d.cfg.log_level);
	control_configure(d.control, d.cfg.admin_group, d.cfg.client_idle_s);
	readers_reconfigure(d.readers);
	sync_reconfigure(d.sync, &d.cfg);
	outbox_reconfigure(d.outbox, &d.cfg);
	check_cert();
	log_msg(LOG_NOTICE, "reloaded %s%s", d.config_file,
		json_array_size(restart) ? " (some keys need a restart; see sscardctl reload)" : "");
	return json_pack("{s:b,s:s,s:o}", "ok", 1, "config", d.config_file, "needs_restart", restart);
}

/* Ping the watchdog from the loop itself, and only while the parts that
 * keep the terminal useful are alive: a wedged loop or a dead reader
 * monitor stops the pings, and systemd restarts us. */
static int on_watchdog(sd_event_source *s, uint64_t usec, void *arg)
{
	d.healthy = readers_healthy(d.readers);
	if (d.healthy) {
		sd_notify(0, "WATCHDOG=1");
		d.last_ping = now_usec();
	} else
		log_msg(LOG_ERR, "unhealthy (reader monitor gone): not pinging the watchdog");
	sd_event_source_set_time(s, usec + d.watchdog_usec / 3);
	sd_event_source_set_enabled(s, SD_EVENT_ON);
	return 0;
}

static void add_status(json_t *st)
{
	json_object_set_new(st, "version", json_string(SSCARD_VERSION));
	json_object_set_new(st, "pid", json_integer(getpid()));
	json_object_set_new(st, "config", json_string(d.config_file));
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	json_object_set_new(st, "uptime_s",
			    json_integer((json_int_t)((uint64_t)ts.tv_sec - d.started)));
	json_object_set_new(st, "reloads", json_pack("{s:i,s:i}", "ok", (int)d.reloads, "failed",
						     (int)d.reload_failures));
	json_t *wd = json_pack("{s:b,s:b}", "enabled", d.watchdog_usec > 0, "healthy",
			       readers_healthy(d.readers));
	if (d.watchdog_usec) {
		json_object_set_new(wd, "interval_s", json_real((double)d.watchdog_usec / 1e6));
		json_object_set_new(wd, "last_ping_s_ago",
				    json_real((double)(now_usec() - d.last_ping) / 1e6));
	}
	json_object_set_new(st, "watchdog", wd);
	json_object_set_new(st, "loss_list", list_summary());
	int screens, counters;
	web_streams(d.web, &screens, &counters);
	/* screens: kiosk pages connected now (a technician's "is the screen up?") */
	json_object_set_new(st, "ui", json_pack("{s:s,s:s,s:i,s:i}", "listen", d.cfg.listen, "state",
					       d.web ? "serving" : *d.web_error ? d.web_error : "off",
					       "screens", screens, "counter_streams", counters));
	outbox_add_status(d.outbox, st);
	idreader_add_status(d.idreader, st);
	scanner_add_status(d.scanner, st);
	kiosk_add_status(d.kiosk, st);
	cert_status(st);
}

static double num(json_t *o, const char *k)
{
	return json_number_value(json_object_get(o, k));
}

/* /metrics: every part's own, then the loss list and the outbox from the
 * summaries that status shows (one source for both). */
static void collect(struct prom *p)
{
	struct prom_labels l = {.k = {"version"}, .v = {SSCARD_VERSION}, .n = 1};
	prom_family(p, "sscard_build_info", "gauge", "The sscardd build (always 1).");
	prom_sample(p, "sscard_build_info", &l, 1);
	prom_one(p, "sscard_start_time_seconds", "gauge", "When sscardd started (Unix time).",
		 (double)d.started_wall);
	readers_metrics(d.readers, p);
	idreader_metrics(d.idreader, p);
	scanner_metrics(d.scanner, p);
	json_t *ll = list_summary();
	bool have = !json_object_get(ll, "error");
	prom_one(p, "sscard_losslist_available", "gauge", "Whether the local loss list can be read.", have);
	if (have) {
		prom_one(p, "sscard_losslist_version", "gauge", "The loss list version held here.", num(ll, "version"));
		prom_one(p, "sscard_losslist_entries", "gauge", "Cards on the local loss list.", num(ll, "entries"));
		if (json_is_integer(json_object_get(ll, "age_s")))
			prom_one(p, "sscard_losslist_age_seconds", "gauge",
				 "Seconds since the central signed the list held here.", num(ll, "age_s"));
		prom_one(p, "sscard_losslist_stale", "gauge", "Whether the list is older than stale_after.",
			 json_is_true(json_object_get(ll, "stale")));
		prom_one(p, "sscard_clock_wrong", "gauge",
			 "Whether this terminal's clock is wrong (behind the list's signature, or off the central's Date by over 5 minutes).",
			 json_is_true(json_object_get(ll, "clock_wrong")));
	}
	int64_t off, ago;
	if (fresh_clock_offset(&off, &ago))
		prom_one(p, "sscard_clock_offset_seconds", "gauge",
			 "The central's clock (its last answer's Date) minus this terminal's, in seconds.", (double)off);
	json_t *ls = json_object_get(ll, "last_sync");
	if (json_is_object(ls)) {
		prom_one(p, "sscard_losslist_last_sync_success", "gauge",
			 "Whether the last sync with the central succeeded.", json_is_true(json_object_get(ls, "ok")));
		if (json_is_integer(json_object_get(ls, "at")))
			prom_one(p, "sscard_losslist_last_sync_timestamp_seconds", "gauge",
				 "When the last sync ended (Unix time).", num(ls, "at"));
	}
	json_decref(ll);
	json_t *st = json_object();
	outbox_add_status(d.outbox, st);
	json_t *ob = json_object_get(st, "outbox");
	prom_one(p, "sscard_outbox_available", "gauge", "Whether the outbox database is open.",
		 json_is_true(json_object_get(ob, "available")));
	prom_family(p, "sscard_outbox_requests", "gauge", "Requests in the outbox, by state.");
	static const char *const STATES[] = {"pending", "failed", "delivered"};
	l = (struct prom_labels){.k = {"state"}, .n = 1};
	for (size_t i = 0; i < sizeof STATES / sizeof STATES[0]; i++) {
		l.v[0] = STATES[i];
		prom_sample(p, "sscard_outbox_requests", &l, num(ob, STATES[i]));
	}
	prom_one(p, "sscard_outbox_oldest_pending_age_seconds", "gauge",
		 "Age of the oldest request the central has not taken (0: none).", num(ob, "oldest_pending_s"));
	json_decref(st);
	kiosk_metrics(d.kiosk, p);
	if (*d.cfg.client_cert && d.cert.ok)
		prom_one(p, "sscard_client_certificate_expiry_timestamp_seconds", "gauge",
			 "When the terminal's client certificate expires (Unix time).", (double)d.cert.not_after);
	prom_one(p, "sscard_metrics_scrapes_total", "counter", "Scrapes of this endpoint, this one included.",
		 (double)metrics_scrapes(d.metrics));
}

static int start_metrics(sd_event *ev)
{
	char err[300];
	if (metrics_start(ev, &d.cfg, collect, &d.metrics, err, sizeof err) < 0)
		log_at(LOG_ERR, NULL, "metrics_unavailable", "%s", err); /* cards are still read */
	else if (d.metrics)
		log_msg(LOG_INFO, "metrics on http://%s/metrics", d.cfg.metrics_listen);
	return 0;
}

static int on_term(sd_event_source *s, const struct signalfd_siginfo *si, void *arg)
{
	log_msg(LOG_INFO, "signal %u: stopping", si->ssi_signo);
	sd_notify(0, "STOPPING=1");
	return sd_event_exit(sd_event_source_get_event(s), 0);
}

static int on_hup(sd_event_source *s, const struct signalfd_siginfo *si, void *arg)
{
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu", (unsigned long long)now_usec());
	json_decref(reload());
	sd_notify(0, "READY=1");
	return 0;
}

/* A broken outbox does not stop the daemon (cards are still read); every
 * request is then refused, plainly, and the log says why. */
static int start_outbox(sd_event *ev)
{
	char err[512];
	int rv = outbox_start(ev, &d.cfg, emit, NULL, &d.outbox, err, sizeof err);
	outbox_on_taken(d.outbox, block_locally, NULL);
	if (rv < 0)
		log_at(LOG_ERR, NULL, "outbox_unavailable",
		       "outbox: %s; requests will be refused until this is fixed", err);
	return 0;
}

/* The kiosk page. Failing to bind does not stop the daemon: counter
 * software and technicians still need it; status says why. */
static int start_kiosk(sd_event *ev)
{
	const struct kiosk_deps deps = {.readers = d.readers, .idreader = d.idreader, .scanner = d.scanner,
					.outbox = d.outbox,
					.list_state = list_summary, .publish = web_publish,
					.emit = emit};
	int rv = kiosk_new(ev, &d.cfg, &deps, &d.kiosk);
	if (rv < 0 || !strcmp(d.cfg.listen, "off"))
		return rv;
	if (web_start(ev, &d.cfg, d.kiosk, d.readers, &d.web, d.web_error, sizeof d.web_error) < 0) {
		log_at(LOG_ERR, NULL, "ui_unavailable", "kiosk page: %s", d.web_error);
		return 0;
	}
	kiosk_set_publisher(d.kiosk, d.web);
	log_msg(LOG_INFO, "kiosk page on http://%s/", d.cfg.listen);
	return 0;
}

/* Every block jansson frees is wiped first: request bodies with PINs,
 * names and SSNs pass through it. */
static void *j_alloc(size_t n)
{
	return malloc(n);
}

static void j_free(void *p)
{
	if (p) {
		sodium_memzero(p, malloc_usable_size(p));
		free(p);
	}
}

static int start_watchdog(sd_event *ev)
{
	if (sd_watchdog_enabled(0, &d.watchdog_usec) <= 0) {
		d.watchdog_usec = 0;
		return 0;
	}
	d.last_ping = now_usec();
	return sd_event_add_time_relative(ev, NULL, CLOCK_MONOTONIC, d.watchdog_usec / 3,
					  d.watchdog_usec / 30, on_watchdog, NULL);
}

int main(int argc, char **argv)
{
	static const struct control_ops ops = {
		.status = add_status, .reload = reload, .list = list_verb, .list_sync = list_sync,
		.forget = forget, .outbox = outbox_verb, .idcard = idcard_verb};
	static const struct option lo[] = {{"config", 1, 0, 'c'},       {"foreground", 0, 0, 'f'},
					   {"check-config", 0, 0, 'C'}, {"version", 0, 0, 'V'},
					   {"help", 0, 0, 'h'},         {"outbox-pending", 0, 0, 'O'},
					   {0, 0, 0, 0}};
	bool foreground = false, check = false, explicit_file = false, pending = false;
	char err[512];
	sd_event *ev = NULL;
	sigset_t ss;
	int c, fd, rv;

	json_set_alloc_funcs(j_alloc, j_free);
	/* Whatever started us (a shell's 022, a service manager without
	 * UMask=): the outbox, the loss list and their WAL files hold card ids
	 * and the central's answers, and are this user's alone. The control
	 * socket is opened up to its group by chmod, on purpose. */
	umask(077);
	if (argc > 1 && !strcmp(argv[1], "--nfc-helper"))
		return nfcd_main(argc - 2, argv + 2);
	d.config_file = CFG_DEFAULT_FILE;
	while ((c = getopt_long(argc, argv, "c:fVh", lo, NULL)) != -1) {
		switch (c) {
		case 'c':
			d.config_file = optarg;
			explicit_file = true;
			break;
		case 'f': foreground = true; break;
		case 'C': check = true; break;
		case 'O': pending = true; break;
		case 'V': printf("sscardd %s\n", SSCARD_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (config_load(&d.cfg, d.config_file, explicit_file, err, sizeof err) < 0) {
		fprintf(stderr, "sscardd: %s\n", err);
		return CFG_EX_CONFIG;
	}
	if (pending) {
		long long n = outbox_undelivered(d.cfg.state_dir, err, sizeof err);
		if (n < 0) {
			fprintf(stderr, "sscardd: cannot read the outbox: %s\n", err);
			return 1;
		}
		printf("%lld\n", n);
		return 0;
	}
	if (check) {
		if (!config_ui_root_ok(&d.cfg, d.config_file, err, sizeof err)) {
			fprintf(stderr, "sscardd: %s\n", err);
			return CFG_EX_CONFIG;
		}
		if (!config_secret_private(&d.cfg, d.config_file, err, sizeof err))
			fprintf(stderr, "sscardd: warning: %s\n", err);
		printf("%s: configuration is valid\n", d.config_file);
		return 0;
	}
	/* Under systemd (Type=notify) or with -f: stay in the foreground. */
	bool daemonize = !foreground && !getenv("NOTIFY_SOCKET");
	log_init(d.cfg.log_level, daemonize);
	if (!config_ui_root_ok(&d.cfg, d.config_file, err, sizeof err))
		log_msg(LOG_WARNING, "%s", err);
	if (!config_secret_private(&d.cfg, d.config_file, err, sizeof err))
		log_msg(LOG_WARNING, "%s", err);
	/* PINs pass through this process: no core files, no ptrace by peers. */
	prctl(PR_SET_DUMPABLE, 0);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&ss);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGINT);
	sigaddset(&ss, SIGHUP);
	sigaddset(&ss, SIGCHLD); /* sd_event_add_child: the receipt printer */
	sigprocmask(SIG_BLOCK, &ss, NULL);

	fd = control_listen(d.cfg.socket, err, sizeof err);
	if (fd < 0) {
		fprintf(stderr, "sscardd: %s\n", err);
		return 1;
	}
	if (daemonize && daemon(0, 0) < 0) {
		fprintf(stderr, "sscardd: cannot go to the background: %s\n", strerror(errno));
		return 1;
	}
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	d.started = (uint64_t)ts.tv_sec;
	d.started_wall = (int64_t)time(NULL);
	open_list();
	curl_global_init(CURL_GLOBAL_DEFAULT); /* before any thread */

	if ((rv = sd_event_default(&ev)) < 0 ||
	    (rv = sd_event_add_signal(ev, NULL, SIGTERM, on_term, NULL)) < 0 ||
	    (rv = sd_event_add_signal(ev, NULL, SIGINT, on_term, NULL)) < 0 ||
	    (rv = sd_event_add_signal(ev, NULL, SIGHUP, on_hup, NULL)) < 0 ||
	    (rv = readers_start(ev, &d.cfg, emit, NULL, &d.readers)) < 0 ||
	    (rv = idreader_start(ev, &d.cfg, emit, NULL, &d.idreader)) < 0 ||
	    (rv = scanner_start(ev, &d.cfg, emit, NULL, &d.scanner)) < 0 ||
	    (rv = sync_start(ev, &d.cfg, emit, NULL, &d.sync)) < 0 ||
	    (rv = start_outbox(ev)) < 0 || (rv = start_kiosk(ev)) < 0 ||
	    (rv = start_metrics(ev)) < 0 ||
	    (rv = sd_event_add_time_relative(ev, &d.cert_timer, CLOCK_MONOTONIC, 0, 1000000,
					     on_cert_timer, NULL)) < 0 ||
	    (rv = control_attach(ev, fd, d.cfg.socket, d.readers, &ops, d.cfg.admin_group,
				 d.cfg.client_idle_s, &d.control)) < 0 ||
	    (rv = start_watchdog(ev)) < 0) {
		log_msg(LOG_ERR, "cannot start: %s", strerror(-rv));
		metrics_stop(d.metrics);
		web_stop(d.web);
		kiosk_free(d.kiosk);
		sync_stop(d.sync);
		outbox_stop(d.outbox);
		idreader_stop(d.idreader);
		scanner_stop(d.scanner);
		readers_stop(d.readers);
		close(fd);
		unlink(d.cfg.socket);
		sd_event_unref(ev);
		return 1;
	}
	log_msg(LOG_INFO, "sscardd %s listening on %s", SSCARD_VERSION, d.cfg.socket);
	sd_notifyf(0, "READY=1\nSTATUS=listening on %s", d.cfg.socket);
	rv = sd_event_loop(ev);
	control_close(d.control); /* first: it tells readers to forget its clients */
	metrics_stop(d.metrics);
	web_stop(d.web);
	kiosk_free(d.kiosk); /* before the readers: it tells them to forget its requests */
	d.kiosk = NULL;
	sync_stop(d.sync);
	outbox_stop(d.outbox);
	idreader_stop(d.idreader);
	scanner_stop(d.scanner);
	readers_stop(d.readers);
	losslist_close(d.list);
	curl_global_cleanup();
	sd_event_unref(ev);
	log_msg(LOG_INFO, "stopped");
	return rv < 0 ? 1 : 0;
}
