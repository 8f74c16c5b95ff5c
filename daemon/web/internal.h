/* internal.h — what the web server's files share (daemon/web/ only): the
 * server, a request in progress, and the response helpers. */
#ifndef SSCARD_WEB_INTERNAL_H
#define SSCARD_WEB_INTERNAL_H

#include <jansson.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "daemon/mhdloop.h"
#include "daemon/web/web.h"

struct web {
	sd_event *ev;
	const struct config *cfg;
	struct kiosk *k;
	struct readers *rd;
	struct req *reads;           /* counter reads waiting for the card */
	struct MHD_Daemon *mhd;
	struct mhd_loop *loop;       /* MHD on the loop */
	sd_event_source *ping;
	char tokens[WEB_SESSIONS][33];
	unsigned next_token;
	struct sse *streams;
	unsigned n_streams;          /* counter streams (/api/v1/card/events) */
	unsigned n_kiosk_streams;    /* the kiosk page's (/api/v1/events) */
	struct sockaddr_storage listen_addr;
	uid_t kiosk_uid;             /* [ui] kiosk_user; root may always */
	bool have_kiosk_uid;
	unsigned long refused_peers; /* connections from other local users */
	bool stopping;
};

/* A request's body as it arrives; for a counter read, its answer. */
struct req {
	char buf[WEB_BODY_MAX + 1];
	size_t len;
	bool too_big;
	bool started;
	struct web *w;
	struct MHD_Connection *c;
	struct req *next;            /* in w->reads while reading */
	bool reading, suspended;
	unsigned status;             /* the answer, once the card is read */
	json_t *answer;
};

/* web.c */
/* Let MHD look at resumed connections soon (from the loop, not here). */
void web_kick(struct web *w);
/* A counter page's origin, allowed by [ui] allow_origins, may read the
 * answer (CORS); NULL for same-origin and non-browser callers. */
void web_cors(struct MHD_Response *r, const char *origin);
/* j as the JSON answer (reference taken), with CORS for origin. */
enum MHD_Result web_send_json_to(struct MHD_Connection *c, unsigned status, json_t *j,
				 const char *origin);

/* counter.c */
enum MHD_Result web_counter_fail(struct MHD_Connection *c, unsigned status, const char *error,
				 long code, const char *message, const char *origin);
enum MHD_Result web_card_read(struct web *w, struct MHD_Connection *c, struct req *rq,
			      const char *origin);
enum MHD_Result web_preflight(struct MHD_Connection *c, const char *origin);

#endif
