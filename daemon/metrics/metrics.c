/* metrics.c — the /metrics endpoint (metrics.h). A scrape is answered on
 * the loop, from the live counters: no sampling thread, no cache. */
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

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
			       const char *method, const char *version, const char *upload,
			       size_t *upload_size, void **con_cls)
{
	struct metrics *m = cls;
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
