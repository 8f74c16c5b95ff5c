/* web.c — the HTTP server on the event loop (see web.h): sessions, static
 * files, event streams, Host/Origin checks, the kiosk API; the counter
 * API's routes are in counter.c. */
#include "daemon/web/internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <pwd.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apdu/sserr.h"
#include "daemon/json.h"
#include "daemon/log.h"
#include "daemon/readers/readers.h"
#include "daemon/web/peer.h"

#define SSE_PING_S 15
#define SSE_BACKLOG_MAX (256 * 1024)  /* a stream further behind than this is closed */

struct sse {
	struct sse *next;
	struct web *w;
	struct MHD_Connection *c;
	char *buf;
	size_t len, cap;
	bool suspended;
	bool closing;
	bool counter;                /* /api/v1/card/events: card events, no kiosk views */
};

/* ---- the loop ----------------------------------------------------------- */

/* Let MHD look at resumed connections soon (from the loop, not here). */
void web_kick(struct web *w)
{
	if (!w->stopping)
		mhd_loop_kick(w->loop);
}

/* ---- responses ---------------------------------------------------------- */

static void security_headers(struct MHD_Response *r)
{
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	MHD_add_response_header(r, "Content-Security-Policy",
				"default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
				"base-uri 'none'; form-action 'none'");
}

/* A counter page's origin, allowed by [ui] allow_origins, may read the
 * answer (CORS); NULL for same-origin and non-browser callers. */
void web_cors(struct MHD_Response *r, const char *origin)
{
	if (!origin)
		return;
	MHD_add_response_header(r, "Access-Control-Allow-Origin", origin);
	MHD_add_response_header(r, "Vary", "Origin");
}

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, json_t *j)
{
	return web_send_json_to(c, status, j, NULL);
}

enum MHD_Result web_send_json_to(struct MHD_Connection *c, unsigned status, json_t *j,
				 const char *origin)
{
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (!text)
		return MHD_NO;
	struct MHD_Response *r =
		MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "application/json; charset=utf-8");
	security_headers(r);
	web_cors(r, origin);
	enum MHD_Result rv = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return rv;
}

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *code,
				  const char *msg)
{
	return send_json(c, status, json_pack("{s:b,s:s,s:s}", "ok", 0, "error", code, "message", msg));
}

static const char *content_type(const char *path)
{
	static const struct {
		const char *ext, *type;
	} T[] = {{".html", "text/html; charset=utf-8"}, {".css", "text/css; charset=utf-8"},
		 {".js", "text/javascript; charset=utf-8"}, {".json", "application/json"},
		 {".svg", "image/svg+xml"}, {".png", "image/png"}, {".ico", "image/x-icon"},
		 {".ogg", "audio/ogg"}};
	const char *dot = strrchr(path, '.');
	for (size_t i = 0; dot && i < sizeof T / sizeof T[0]; i++)
		if (!strcmp(dot, T[i].ext))
			return T[i].type;
	return "application/octet-stream";
}

/* The kiosk's pages are not where [ui] root says: a plain page that tells
 * the technician looking at the screen what to fix (the log says it too). */
static enum MHD_Result send_missing_pages(struct web *w, struct MHD_Connection *c)
{
	static const char PAGE[] =
		"<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>sscard</title>"
		"<body style=\"font:24px sans-serif;margin:2em\"><h1>本机暂停服务 / Out of service</h1>"
		"<p>The kiosk pages are not installed where <code>[ui] root</code> says (no index.html "
		"in it). Technicians: <code>sscardd --check-config</code> names the line.</p></body></html>";
	struct MHD_Response *r =
		MHD_create_response_from_buffer(sizeof PAGE - 1, (void *)PAGE, MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", "text/html; charset=utf-8");
	security_headers(r);
	log_msg(LOG_WARNING, "the kiosk's home page is missing: no index.html in '%s' ([ui] root)",
		w->cfg->ui_root);
	enum MHD_Result rv = MHD_queue_response(c, 503, r);
	MHD_destroy_response(r);
	return rv;
}

static enum MHD_Result send_file(struct web *w, struct MHD_Connection *c, const char *url)
{
	char path[512];
	struct stat st;
	if (!strcmp(url, "/"))
		url = "/index.html";
	/* only plain names under ui/: letters, digits, - _ . /, no ".." */
	for (const char *p = url; *p; p++)
		if (!(isalnum((unsigned char)*p) || strchr("-_./", *p)))
			return send_error(c, 404, "not_found", "No such page.");
	if (strstr(url, "..") || strstr(url, "//"))
		return send_error(c, 404, "not_found", "No such page.");
	snprintf(path, sizeof path, "%s%s", w->cfg->ui_root, url);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		if (!strcmp(url, "/index.html")) /* the screen says why, not a bare error */
			return send_missing_pages(w, c);
		return send_error(c, 404, "not_found", "No such page.");
	}
	struct MHD_Response *r = MHD_create_response_from_fd((uint64_t)st.st_size, fd);
	if (!r) {
		close(fd);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", content_type(path));
	security_headers(r);
	enum MHD_Result rv = MHD_queue_response(c, 200, r);
	MHD_destroy_response(r);
	return rv;
}

/* ---- who is on the other end ------------------------------------------ */

/* The kiosk is driven by its own browser only: root, or [ui] kiosk_user
 * (the uid behind the connection's socket, from the kernel). Any other
 * local account — a technician's login, a user on a counter PC, a program
 * an attacker started — is refused, and so is a connection whose owner
 * cannot be told. */
static bool peer_is_kiosk(struct web *w, const struct sockaddr *client)
{
	uid_t uid;
	int e = peer_uid(client, (const struct sockaddr *)&w->listen_addr, &uid);
	if (e < 0) {
		log_msg(LOG_WARNING, "http: cannot tell which user opened a connection (%s): refused",
			strerror(-e));
		return false;
	}
	if (uid == 0 || (w->have_kiosk_uid && uid == w->kiosk_uid))
		return true;
	/* said the 1st, 2nd, 4th, 8th … time: a user who keeps trying cannot
	 * flood the journal */
	unsigned long n = ++w->refused_peers;
	if (!(n & (n - 1)))
		log_msg(LOG_NOTICE, "http: a connection of uid %u refused: only the kiosk's browser (user '%s') "
			"or root may use the kiosk's pages (%lu refused so far)", (unsigned)uid, w->cfg->kiosk_user, n);
	return false;
}

static bool conn_is_kiosk(struct web *w, struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	return ci && ci->client_addr && peer_is_kiosk(w, ci->client_addr);
}

/* A kiosk (no counter pages allowed): nobody else may even connect, so no
 * one can use up the connections the kiosk's page needs. A counter PC
 * admits all, and its kiosk routes ask per request. */
static enum MHD_Result accept_policy(void *cls, const struct sockaddr *addr, socklen_t len)
{
	struct web *w = cls;
	if (w->cfg->allow_origins[0])
		return MHD_YES;
	return peer_is_kiosk(w, addr) ? MHD_YES : MHD_NO;
}

static void resolve_kiosk_user(struct web *w)
{
	struct passwd *pw = getpwnam(w->cfg->kiosk_user);
	w->have_kiosk_uid = pw != NULL;
	w->kiosk_uid = pw ? pw->pw_uid : (uid_t)-1;
	if (!pw)
		log_msg(LOG_INFO, "http: kiosk user '%s' does not exist: only root's browser may use the kiosk",
			w->cfg->kiosk_user);
}

/* ---- sessions ----------------------------------------------------------- */

static bool token_ok(struct web *w, const char *t)
{
	if (!t || strlen(t) != 32)
		return false;
	for (unsigned i = 0; i < WEB_SESSIONS; i++)
		if (w->tokens[i][0] && sodium_memcmp(w->tokens[i], t, 32) == 0)
			return true;
	return false;
}

static enum MHD_Result new_session(struct web *w, struct MHD_Connection *c)
{
	uint8_t r[16];
	char *t = w->tokens[w->next_token++ % WEB_SESSIONS];
	randombytes_buf(r, sizeof r);
	sodium_bin2hex(t, 33, r, sizeof r);
	const struct config *cfg = w->cfg;
	return send_json(
		c, 200,
		json_pack("{s:b,s:s,s:s,s:b,s:{s:i,s:i,s:i},s:b,s:s}", "ok", 1, "token", t, "language",
			  cfg->language ? "en" : "zh", "large_text", cfg->large_text, "timeouts",
			  "step_s", (int)cfg->step_timeout_s, "pin_s", (int)cfg->pin_timeout_s,
			  "payment_s", (int)cfg->payment_timeout_s, "printer", *cfg->printer != 0,
			  "terminal_id", cfg->terminal_id));
}

/* ---- Server-Sent Events ------------------------------------------------- */

static void sse_append(struct sse *s, const char *text, size_t n)
{
	if (s->closing)
		return;
	if (s->len + n > SSE_BACKLOG_MAX) { /* a page that does not read: let it go */
		s->closing = true;
		return;
	}
	if (s->len + n > s->cap) {
		size_t cap = (s->len + n) * 2;
		char *b = realloc(s->buf, cap);
		if (!b) {
			s->closing = true;
			return;
		}
		s->buf = b;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, text, n);
	s->len += n;
}

static void sse_wake(struct sse *s)
{
	if (s->suspended) {
		s->suspended = false;
		MHD_resume_connection(s->c);
		web_kick(s->w);
	}
}

static void sse_send(struct sse *s, const char *name, json_t *data)
{
	char *text = json_dumps(data, JSON_COMPACT);
	if (!text)
		return;
	char head[64];
	int n = snprintf(head, sizeof head, "event: %s\ndata: ", name);
	sse_append(s, head, (size_t)n);
	sse_append(s, text, strlen(text));
	sse_append(s, "\n\n", 2);
	free(text);
	sse_wake(s);
}

void web_publish(void *arg, const char *name, json_t *data)
{
	struct web *w = arg;
	if (!w)
		return;
	for (struct sse *s = w->streams; s; s = s->next)
		if (!s->counter)
			sse_send(s, name, data);
}

void web_reader_event(struct web *w, json_t *event)
{
	static const char *const passed[] = {"card_inserted", "card_removed", "reader_added",
					     "reader_removed"};
	const char *kind = json_string_value(json_object_get(event, "event"));
	if (!w || !kind)
		return;
	for (size_t i = 0; i < sizeof passed / sizeof passed[0]; i++) {
		if (strcmp(kind, passed[i]))
			continue;
		/* no personal data travels here: reader, ATR, interface */
		json_t *e = json_pack("{s:O}", "reader", json_object_get(event, "reader"));
		if (e && json_object_get(event, "atr"))
			json_object_set(e, "atr", json_object_get(event, "atr"));
		for (struct sse *s = w->streams; s && e; s = s->next)
			if (s->counter)
				sse_send(s, kind, e);
		json_decref(e);
	}
}

void web_streams(const struct web *w, int *screens, int *counters)
{
	*screens = *counters = 0;
	for (const struct sse *s = w ? w->streams : NULL; s; s = s->next)
		if (!s->closing)
			++*(s->counter ? counters : screens);
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct sse *s = cls;
	if (s->closing && !s->len)
		return MHD_CONTENT_READER_END_OF_STREAM;
	if (!s->len) {
		s->suspended = true;
		MHD_suspend_connection(s->c);
		return 0;
	}
	size_t n = s->len < max ? s->len : max;
	memcpy(buf, s->buf, n);
	memmove(s->buf, s->buf + n, s->len - n);
	s->len -= n;
	return (ssize_t)n;
}

static void sse_free(void *cls)
{
	struct sse *s = cls;
	struct web *w = s->w;
	for (struct sse **pp = &w->streams; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			if (s->counter)
				w->n_streams--;
			else
				w->n_kiosk_streams--;
			break;
		}
	free(s->buf);
	free(s);
}

static int on_ping(sd_event_source *src, uint64_t usec, void *arg)
{
	struct web *w = arg;
	/* a comment line: keeps proxies and the browser content, and finds
	 * streams whose page is gone (a suspended one cannot notice) */
	for (struct sse *s = w->streams; s; s = s->next) {
		sse_append(s, ": ping\n\n", 8);
		sse_wake(s);
	}
	sd_event_source_set_time(src, usec + SSE_PING_S * 1000000ULL);
	sd_event_source_set_enabled(src, SD_EVENT_ON);
	return 0;
}

static enum MHD_Result open_stream(struct web *w, struct MHD_Connection *c, bool counter,
				   const char *origin)
{
	if (counter ? w->n_streams >= WEB_SSE_MAX : w->n_kiosk_streams >= WEB_KIOSK_SSE_MAX)
		return send_error(c, 503, "busy", "Too many event streams are open.");
	struct sse *s = calloc(1, sizeof *s);
	if (!s)
		return MHD_NO;
	s->w = w;
	s->c = c;
	s->counter = counter;
	sse_append(s, "retry: 1000\n\n", 13);
	if (counter) { /* where the cards are now; then every change */
		json_t *l = readers_list_json(w->rd);
		sse_send(s, "readers", l);
		json_decref(l);
	} else {
		json_t *v = kiosk_view(w->k), *b = kiosk_banner(w->k);
		sse_send(s, "view", v);
		sse_send(s, "banner", b);
		json_decref(v);
		json_decref(b);
	}
	struct MHD_Response *r =
		MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, sse_read, s, sse_free);
	if (!r) {
		free(s->buf);
		free(s);
		return MHD_NO;
	}
	s->next = w->streams;
	w->streams = s;
	if (counter)
		w->n_streams++;
	else
		w->n_kiosk_streams++;
	MHD_add_response_header(r, "Content-Type", "text/event-stream; charset=utf-8");
	security_headers(r);
	web_cors(r, origin);
	enum MHD_Result rv = MHD_queue_response(c, 200, r);
	MHD_destroy_response(r);
	return rv;
}

/* ---- the API ------------------------------------------------------------ */

static unsigned status_of(enum ss_err e)
{
	switch (e) {
	case SS_E_INVALID: return 400;
	case SS_E_BUSY: return 409;
	case SS_E_NOT_SUPPORTED: return 501;
	default: return 500;
	}
}

static enum MHD_Result api_post(struct web *w, struct MHD_Connection *c, const char *url,
				struct req *rq)
{
	char err[300];
	const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
	if (!token_ok(w, MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Session-Token")))
		return send_error(c, 403, "session",
				  "This page's session is not valid; reload the page.");
	if (rq->too_big)
		return send_error(c, 413, "too_large", "The request body is too large.");
	if (!ct || strncasecmp(ct, "application/json", 16))
		return send_error(c, 415, "content_type", "Send the request as application/json.");
	json_t *body = web_parse_body(rq->buf, rq->len, err, sizeof err);
	sodium_memzero(rq->buf, rq->len); /* it may hold a PIN */
	if (!body)
		return send_error(c, 400, "bad_request", err);
	enum ss_err e;
	if (!strcmp(url, "/api/v1/flow"))
		e = kiosk_action(w->k, body, err, sizeof err);
	else if (!strcmp(url, "/api/v1/print"))
		e = kiosk_print(w->k, err, sizeof err);
	else if (!strcmp(url, "/api/v1/help"))
		e = kiosk_help(w->k);
	else {
		json_decref(body);
		return send_error(c, 404, "not_found", "No such API call.");
	}
	json_decref(body);
	json_t *v = kiosk_view(w->k);
	if (e != SS_OK) {
		json_t *j = json_pack("{s:b,s:s,s:s,s:o}", "ok", 0, "error",
				      e == SS_E_BUSY ? "wrong_step" : ss_err_name(e), "message", err,
				      "view", v);
		return send_json(c, status_of(e), j);
	}
	return send_json(c, 200, json_pack("{s:b,s:o}", "ok", 1, "view", v));
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
			       const char *method, const char *version, const char *upload,
			       size_t *upload_size, void **con_cls)
{
	struct web *w = cls;
	struct req *rq = *con_cls;
	bool post = !strcmp(method, MHD_HTTP_METHOD_POST);

	if (!rq) {
		if (!(rq = calloc(1, sizeof *rq)))
			return MHD_NO;
		*con_cls = rq;
		return MHD_YES;
	}
	if (*upload_size) {
		if (rq->len + *upload_size > WEB_BODY_MAX)
			rq->too_big = true;
		else {
			memcpy(rq->buf + rq->len, upload, *upload_size);
			rq->len += *upload_size;
		}
		*upload_size = 0;
		return MHD_YES;
	}
	const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
	const char *origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
	bool counter = !strcmp(url, "/api/v1/card") || !strcmp(url, "/api/v1/card/events");
	bool same = !origin || web_origin_ok(w->cfg->listen, origin);
	/* the counter API answers the pages in [ui] allow_origins too */
	const char *cors_origin = counter && origin && !same && web_origin_listed(w->cfg->allow_origins, origin)
					  ? origin : NULL;
	if (!web_host_ok(w->cfg->listen, host))
		return send_error(c, 403, "bad_host",
				  "This service answers only to its own address (Host header refused).");
	if (counter && !w->cfg->allow_origins[0]) /* a kiosk: the holder's data stays behind the socket */
		return web_counter_fail(c, 403, "card_api_off", -11,
				    "The card API is off on this terminal: set [ui] allow_origins in sscard.conf to the counter pages that may read cards.",
				    NULL);
	if (!same && !cors_origin) {
		if (!counter)
			return send_error(c, 403, "bad_origin", "Requests from other web pages are refused.");
		/* the page may read why (it learns nothing else): its administrator
		 * adds it to [ui] allow_origins */
		return web_counter_fail(c, 403, "bad_origin", -1004,
				    "This web page may not read cards: add its origin to [ui] allow_origins in sscard.conf.",
				    origin);
	}
	if (counter && !strcmp(method, MHD_HTTP_METHOD_OPTIONS))
		return web_preflight(c, cors_origin);
	if (counter && strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return web_counter_fail(c, 405, "method", -1004, "The card API is read with GET.", cors_origin);
	if (!strcmp(url, "/api/v1/card"))
		return web_card_read(w, c, rq, cors_origin);
	if (!strcmp(url, "/api/v1/card/events"))
		return open_stream(w, c, true, cors_origin);
	bool api = !strncmp(url, "/api/", 5);
	if ((api || post) && !conn_is_kiosk(w, c))
		return send_error(c, 403, "not_kiosk",
				  "Only the kiosk's own screen may use this (another local user was refused).");
	if (post) {
		if (!origin) /* browsers always send one on POST; others must too */
			return send_error(c, 403, "bad_origin", "A POST needs an Origin header.");
		return api_post(w, c, url, rq);
	}
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return send_error(c, 405, "method", "Only GET and POST are served.");
	if (!strcmp(url, "/api/v1/session"))
		return new_session(w, c);
	if (!strcmp(url, "/api/v1/state")) {
		return send_json(c, 200,
				 json_pack("{s:b,s:o,s:o}", "ok", 1, "view", kiosk_view(w->k), "banner",
					   kiosk_banner(w->k)));
	}
	if (!strcmp(url, "/api/v1/events"))
		return open_stream(w, c, false, NULL);
	if (!strncmp(url, "/api/", 5))
		return send_error(c, 404, "not_found", "No such API call.");
	return send_file(w, c, url);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	struct req *rq = *con_cls;
	if (rq) {
		if (rq->reading) { /* the page went away: never call it back */
			readers_forget(rq->w->rd, rq);
			for (struct req **pp = &rq->w->reads; *pp; pp = &(*pp)->next)
				if (*pp == rq) {
					*pp = rq->next;
					break;
				}
		}
		json_decref(rq->answer);
		sodium_memzero(rq, sizeof *rq);
		free(rq);
	}
	*con_cls = NULL;
}

int web_start(sd_event *ev, const struct config *cfg, struct kiosk *k, struct readers *rd,
	      struct web **out, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	int pnum;
	if (mhd_listen_addr(cfg->listen, &ss, &pnum, &flags) < 0)
		return snprintf(err, errlen, "[ui] listen: bad address %s", cfg->listen), -1;
	struct web *w = calloc(1, sizeof *w);
	if (!w)
		return snprintf(err, errlen, "out of memory"), -1;
	w->ev = ev;
	w->cfg = cfg;
	w->k = k;
	w->rd = rd;
	memcpy(&w->listen_addr, &ss, sizeof ss);
	resolve_kiosk_user(w);
	w->mhd = MHD_start_daemon(flags, (uint16_t)pnum, accept_policy, w, handler, w,
				  MHD_OPTION_EXTERNAL_LOGGER, mhd_log, (void *)"http", MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				  MHD_OPTION_CONNECTION_LIMIT, 64u, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
				  48u, MHD_OPTION_CONNECTION_TIMEOUT, 60u,
				  MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32768,
				  MHD_OPTION_NOTIFY_COMPLETED, completed, w, MHD_OPTION_END);
	if (!w->mhd) {
		snprintf(err, errlen, "cannot listen on %s (in use, or not an address of this machine)",
			 cfg->listen);
		free(w);
		return -1;
	}
	if (mhd_loop_attach(ev, w->mhd, &w->loop) < 0 ||
	    sd_event_add_time_relative(ev, &w->ping, CLOCK_MONOTONIC, SSE_PING_S * 1000000ULL,
				       1000000, on_ping, w) < 0) {
		snprintf(err, errlen, "cannot attach the HTTP server to the event loop");
		web_stop(w);
		return -1;
	}
	*out = w;
	return 0;
}

void web_stop(struct web *w)
{
	if (!w)
		return;
	w->stopping = true;
	for (struct req *rq = w->reads; rq; rq = rq->next) { /* let MHD close them */
		readers_forget(w->rd, rq);
		rq->reading = false;
		if (rq->suspended) {
			rq->suspended = false;
			MHD_resume_connection(rq->c);
		}
	}
	w->reads = NULL;
	for (struct sse *s = w->streams; s; s = s->next) {
		s->closing = true;
		if (s->suspended) {
			s->suspended = false;
			MHD_resume_connection(s->c);
		}
	}
	mhd_loop_free(w->loop);
	sd_event_source_disable_unref(w->ping);
	if (w->mhd) {
		MHD_run(w->mhd);
		MHD_stop_daemon(w->mhd);
	}
	free(w);
}
