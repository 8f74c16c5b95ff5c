/* control.h — the diagnostics/control socket: one request line
 * "VERB args…\n", one JSON reply line; "events" turns the connection into a
 * stream of JSON lines. A subscriber that does not read is dropped. */
#ifndef SSCARD_CONTROL_H
#define SSCARD_CONTROL_H

#include <jansson.h>
#include <systemd/sd-event.h>

#include "daemon/readers/readers.h"
#include "daemon/request.h"

#define CONTROL_LINE_MAX 4096
#define CONTROL_CLIENTS_MAX 64
#define CONTROL_BACKLOG_MAX (64 * 1024)    /* bytes queued for one client */
#define CONTROL_SNDBUF (32 * 1024)         /* kernel buffer of a subscriber */

struct control;

/* Create, bind and listen on path (parent directory made 0750 when
 * missing; a stale socket is replaced, a live one is an error). Returns
 * the fd or -1 with a sentence in err. No threads, no event loop: call it
 * before daemonizing. */
int control_listen(const char *path, char *err, size_t errlen);

/* What the daemon does for verbs beyond the readers. */
struct control_ops {
	void (*status)(json_t *status);   /* add daemon-wide keys to a status reply */
	json_t *(*reload)(void);          /* re-read the configuration; the reply */
	json_t *(*list)(const struct request *rq); /* list info / list lookup */
	/* list sync: fn(cookie, reply) on the loop when the poll is done */
	void (*list_sync)(void *cookie, void (*fn)(void *cookie, json_t *reply));
	void (*forget)(void *cookie);     /* a client with a pending answer is gone */
	json_t *(*outbox)(const struct request *rq); /* request, outbox, outbox retry */
	/* read the ID card reader now: fn(cookie, reply) on the loop */
	void (*idcard)(void *cookie, void (*fn)(void *cookie, json_t *reply));
};

/* Serve fd on ev. admin_group: its members (and root) may use admin
 * verbs; idle_s: close a client that sends no request for this long. */
int control_attach(sd_event *ev, int fd, const char *path, struct readers *r,
		   const struct control_ops *ops, const char *admin_group, unsigned idle_s,
		   struct control **out);
/* A reload changed them. */
void control_configure(struct control *c, const char *admin_group, unsigned idle_s);
void control_close(struct control *c);
/* Send an event line to every subscriber (readers_emit_fn). */
void control_broadcast(void *control, json_t *event);

#endif
