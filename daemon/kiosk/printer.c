/* printer.c — see printer.h. libcups blocks (a local socket, but CUPS can
 * be slow or gone), so the asking is done off the loop; the answer comes
 * back through a notifier. */
#include <cups/cups.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/kiosk/printer.h"
#include "daemon/log.h"
#include "daemon/notify.h"
#include "daemon/ticker.h"

struct printer {
	char queue[64];
	unsigned poll_s;
	void (*changed)(void *arg, const char *state, const char *message);
	void *arg;
	struct notifier *n;
	struct ticker t;
	/* the loop's */
	char state[16];
	char message[200];
	unsigned long changes;
};

static const char *const STATES[] = {"unknown", "ready", "out_of_paper", "jammed", "offline",
				     "stopped", "missing"};

static bool has_reason(ipp_attribute_t *a, const char *prefix)
{
	for (int i = 0; a && i < ippGetCount(a); i++) {
		const char *r = ippGetString(a, i, NULL);
		if (r && !strncmp(r, prefix, strlen(prefix)))
			return true;
	}
	return false;
}

/* One question to CUPS: the state and a sentence. */
static void ask(const char *queue, char *state, size_t sl, char *msg, size_t ml)
{
	static const char *const attrs[] = {"printer-state", "printer-state-reasons",
					    "printer-state-message"};
	http_t *h = httpConnect2(cupsServer(), ippPort(), NULL, AF_UNSPEC, cupsEncryption(), 1, 5000, NULL);
	if (!h) {
		snprintf(state, sl, "offline");
		snprintf(msg, ml, "CUPS does not answer at %s", cupsServer());
		return;
	}
	char uri[HTTP_MAX_URI];
	httpAssembleURIf(HTTP_URI_CODING_ALL, uri, sizeof uri, "ipp", NULL, "localhost", 0,
			 "/printers/%s", queue);
	ipp_t *rq = ippNewRequest(IPP_OP_GET_PRINTER_ATTRIBUTES);
	ippAddString(rq, IPP_TAG_OPERATION, IPP_TAG_URI, "printer-uri", NULL, uri);
	ippAddStrings(rq, IPP_TAG_OPERATION, IPP_TAG_KEYWORD, "requested-attributes",
		      (int)(sizeof attrs / sizeof attrs[0]), NULL, attrs);
	ipp_t *resp = cupsDoRequest(h, rq, "/");
	ipp_status_t st = cupsLastError();
	if (!resp || st > IPP_STATUS_OK_CONFLICTING) {
		bool gone = st == IPP_STATUS_ERROR_NOT_FOUND;
		snprintf(state, sl, gone ? "missing" : "offline");
		snprintf(msg, ml, gone ? "CUPS has no queue '%s'" : "CUPS did not answer about '%s': %s", queue,
			 cupsLastErrorString());
	} else {
		ipp_attribute_t *reasons = ippFindAttribute(resp, "printer-state-reasons", IPP_TAG_KEYWORD);
		ipp_attribute_t *m = ippFindAttribute(resp, "printer-state-message", IPP_TAG_TEXT);
		int ps = ippGetInteger(ippFindAttribute(resp, "printer-state", IPP_TAG_ENUM), 0);
		snprintf(state, sl, "%s",
			 has_reason(reasons, "media-empty") || has_reason(reasons, "media-needed") ? "out_of_paper"
			 : has_reason(reasons, "media-jam")                                       ? "jammed"
			 : has_reason(reasons, "offline")                                         ? "offline"
			 : ps == IPP_PSTATE_STOPPED                                               ? "stopped"
												  : "ready");
		snprintf(msg, ml, "%s", m && ippGetString(m, 0, NULL) ? ippGetString(m, 0, NULL) : "");
	}
	ippDelete(resp);
	httpClose(h);
}

static void *run(void *arg)
{
	struct printer *p = arg;
	char state[16], msg[200];
	while (!ticker_stopping(&p->t)) {
		ask(p->queue, state, sizeof state, msg, sizeof msg);
		notifier_post(p->n, json_pack("{s:s,s:s}", "state", state, "message", msg));
		ticker_nap(&p->t, p->poll_s * 1000);
	}
	return NULL;
}

static void on_answer(void *arg, json_t *m)
{
	struct printer *p = arg;
	const char *s = json_string_value(json_object_get(m, "state"));
	const char *msg = json_string_value(json_object_get(m, "message"));
	if (!s || !strcmp(s, p->state))
		return;
	snprintf(p->state, sizeof p->state, "%s", s);
	snprintf(p->message, sizeof p->message, "%s", msg ? msg : "");
	p->changes++;
	if (!strcmp(s, "ready"))
		log_msg(LOG_INFO, "receipt printer %s is ready", p->queue);
	else
		log_at(LOG_WARNING, NULL, "printer_unusable", "receipt printer %s: %s%s%s", p->queue, s,
		       *p->message ? ": " : "", p->message);
	if (p->changed)
		p->changed(p->arg, p->state, p->message);
}

int printer_start(sd_event *ev, const struct config *cfg,
		  void (*changed)(void *arg, const char *state, const char *message), void *arg,
		  struct printer **out)
{
	*out = NULL;
	if (!*cfg->printer)
		return 0;
	struct printer *p = calloc(1, sizeof *p);
	if (!p)
		return -ENOMEM;
	snprintf(p->queue, sizeof p->queue, "%s", cfg->printer);
	snprintf(p->state, sizeof p->state, "unknown");
	p->poll_s = cfg->printer_poll_s;
	p->changed = changed;
	p->arg = arg;
	int rv = notifier_new(ev, on_answer, p, &p->n);
	if (rv < 0 || (rv = ticker_start(&p->t, run, p)) < 0) {
		printer_stop(p);
		return rv;
	}
	*out = p;
	return 0;
}

void printer_stop(struct printer *p)
{
	if (!p)
		return;
	ticker_stop(&p->t);
	notifier_free(p->n);
	free(p);
}

const char *printer_state(const struct printer *p)
{
	return p ? p->state : "none";
}

bool printer_usable(const struct printer *p)
{
	return p && (!strcmp(p->state, "ready") || !strcmp(p->state, "unknown"));
}

void printer_poke(struct printer *p)
{
	if (p)
		ticker_poke(&p->t);
}

void printer_metrics(const struct printer *p, struct prom *m)
{
	prom_one(m, "sscard_printer_configured", "gauge", "Whether a receipt printer is configured ([ui] printer).",
		 p != NULL);
	if (!p)
		return;
	struct prom_labels l = {.k = {"state"}, .n = 1};
	prom_family(m, "sscard_printer_state", "gauge",
		    "The receipt printer's state as CUPS says (1 for the state it is in).");
	for (size_t i = 0; i < sizeof STATES / sizeof STATES[0]; i++) {
		l.v[0] = STATES[i];
		prom_sample(m, "sscard_printer_state", &l, !strcmp(p->state, STATES[i]));
	}
	prom_one(m, "sscard_printer_state_changes_total", "counter", "Times the printer's state changed.",
		 (double)p->changes);
}

json_t *printer_status_json(const struct printer *p)
{
	if (!p)
		return json_null();
	return json_pack("{s:s,s:s,s:s,s:I}", "queue", p->queue, "state", p->state, "message", p->message,
			 "changes", (json_int_t)p->changes);
}
