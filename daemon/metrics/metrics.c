/* metrics.c — the /metrics endpoint (metrics.h). A scrape is answered on
 * the loop, from the live counters: no sampling thread, no cache. */
#include <arpa/inet.h>
#include <stdbool.h>
#include <strings.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/log.h"
#include "daemon/metrics/metrics.h"
#include "daemon/mhdloop.h"

struct metrics {
	struct MHD_Daemon *mhd;
	struct mhd_loop *loop;
	void (*collect)(struct prom *p);
	unsigned long scrapes;
};

static enum MHD_Result text(struct MHD_Connection *c, unsigned status, const char *type, char *body)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	enum MHD_Result rv = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return rv;
}

/* Host: an IPv4 or [IPv6] literal, or localhost, with an optional port. */
static bool metrics_host_ok(const char *h)
{
	char host[80];
	struct in_addr a4;
	struct in6_addr a6;
	if (!h || strlen(h) >= sizeof host)
		return false;
	snprintf(host, sizeof host, "%s", h);
	if (host[0] == '[') {
		char *end = strchr(host, ']');
		if (!end || (end[1] && (end[1] != ':' || !end[2] || strspn(end + 2, "0123456789") != strlen(end + 2))))
			return false;
		*end = 0;
		return inet_pton(AF_INET6, host + 1, &a6) == 1;
	}
	char *colon = strchr(host, ':');
	if (colon) {
		if (!colon[1] || strspn(colon + 1, "0123456789") != strlen(colon + 1))
			return false;
		*colon = 0;
	}
	return !strcasecmp(host, "localhost") || inet_pton(AF_INET, host, &a4) == 1;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
			       const char *method, const char *version, const char *upload,
			       size_t *upload_size, void **con_cls)
{
	struct metrics *m = cls;
	/* a web page whose name an attacker points at this address (DNS
	 * rebinding) would read /metrics through the holder's browser: only an
	 * address, or localhost, is taken for Host, never another name */
	if (!metrics_host_ok(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host")))
		return text(c, 403, "text/plain; charset=utf-8",
			    strdup("Host refused: ask for /metrics by this terminal's address (or localhost)\n"));
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return text(c, 405, "text/plain; charset=utf-8", strdup("only GET /metrics\n"));
	if (strcmp(url, "/metrics"))
		return text(c, 404, "text/plain; charset=utf-8", strdup("not found: try /metrics\n"));
	struct prom p = {0};
	m->scrapes++;
	m->collect(&p);
	char *body = prom_take(&p);
	if (!body)
		return text(c, 500, "text/plain; charset=utf-8", strdup("out of memory\n"));
	return text(c, 200, "text/plain; version=0.0.4; charset=utf-8", body);
}

int metrics_start(sd_event *ev, const struct config *cfg, void (*collect)(struct prom *p),
		  struct metrics **out, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
	int port;
	*out = NULL;
	if (!*cfg->metrics_listen || !strcmp(cfg->metrics_listen, "off"))
		return 0;
	if (mhd_listen_addr(cfg->metrics_listen, &ss, &port, &flags) < 0)
		return snprintf(err, errlen, "[metrics] listen: bad address %s", cfg->metrics_listen), -1;
	struct metrics *m = calloc(1, sizeof *m);
	if (!m)
		return snprintf(err, errlen, "out of memory"), -1;
	m->collect = collect;
	m->mhd = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, handler, m,
				  MHD_OPTION_EXTERNAL_LOGGER, mhd_log, (void *)"metrics http", MHD_OPTION_SOCK_ADDR,
				  (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT, 16u,
				  MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
	if (!m->mhd) {
		snprintf(err, errlen, "[metrics] listen: cannot listen on %s (in use, or not an address of this machine)",
			 cfg->metrics_listen);
		free(m);
		return -1;
	}
	if (mhd_loop_attach(ev, m->mhd, &m->loop) < 0) {
		snprintf(err, errlen, "cannot attach the metrics server to the event loop");
		metrics_stop(m);
		return -1;
	}
	*out = m;
	return 0;
}

void metrics_stop(struct metrics *m)
{
	if (!m)
		return;
	mhd_loop_free(m->loop);
	if (m->mhd)
		MHD_stop_daemon(m->mhd);
	free(m);
}

unsigned long metrics_scrapes(const struct metrics *m)
{
	return m ? m->scrapes : 0;
}
