/* web.h — the kiosk's HTTP server (libmicrohttpd driven by the daemon's
 * sd-event loop, no threads of its own): static ui/, a JSON API under
 * /api/v1/ and Server-Sent Events at /api/v1/events.
 *
 * Loopback only by default ([ui] listen); every request's Host must be the
 * listen address (or localhost with its port) and an Origin, when sent,
 * the same: a page from elsewhere, or a DNS-rebound name, gets 403.
 * State-changing calls need the session token from GET /api/v1/session in
 * X-Session-Token and a JSON body of at most WEB_BODY_MAX bytes. PINs
 * travel only in bodies; URLs and bodies are never logged.
 *
 * Counter software in a browser (a HIS page) uses GET /api/v1/card (read
 * the card; JSON with "code" as the reader API's return codes) and
 * /api/v1/card/events (SSE: card_inserted, card_removed …); pages of the
 * origins in [ui] allow_origins may call these two (CORS), no others. */
#ifndef SSCARD_WEB_H
#define SSCARD_WEB_H

#include <jansson.h>
#include <stdbool.h>
#include <systemd/sd-event.h>

#include "daemon/config.h"
#include "daemon/origin.h"
#include "daemon/kiosk/kiosk.h"

#define WEB_BODY_MAX 4096
#define WEB_SSE_MAX 16               /* counter event streams at once */
#define WEB_KIOSK_SSE_MAX 8          /* the kiosk's own streams: apart, never refused for the others' */
#define WEB_SESSIONS 8               /* tokens kept; the oldest goes first */

struct web;

/* Bind [ui] listen and serve on ev. 0, or -1 with a sentence in err. */
struct readers;
int web_start(sd_event *ev, const struct config *cfg, struct kiosk *k, struct readers *rd,
	      struct web **out, char *err, size_t errlen);
void web_stop(struct web *w);
/* How many kiosk screens (pages with their event stream open) and counter
 * event streams are connected now; NULL counts nothing. */
void web_streams(const struct web *w, int *screens, int *counters);
/* An event to every open kiosk stream (kiosk_deps.publish). */
void web_publish(void *w, const char *name, json_t *data);
/* A reader event (readers' emit) to the counter streams at
 * /api/v1/card/events: card_inserted, card_removed, reader_added,
 * reader_removed, with the reader and ATR only. */
void web_reader_event(struct web *w, json_t *event);

/* Parse a request body for /api/v1/flow: a JSON object of at most
 * WEB_BODY_MAX bytes, no NUL; NULL with a sentence in err otherwise. */
json_t *web_parse_body(const char *body, size_t len, char *err, size_t errlen);

#endif
