/* upcall.h — the kiosk flows' questions to the central (holder lookup,
 * one-time code, card state): one short HTTP call each, made by a worker
 * thread with the configured TLS, token and timeout, the answer handed
 * back on the event loop. A call can be dropped (the flow moved on) and is
 * then never answered. */
#ifndef SSCARD_UPCALL_H
#define SSCARD_UPCALL_H

#include <jansson.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "daemon/config.h"

struct upcall;

/* status: the HTTP status, or 0 when the central could not be reached
 * (err says why); body: the parsed JSON answer or NULL (borrowed). */
typedef void (*upcall_fn)(void *arg, uint64_t id, long status, json_t *body, const char *err);

int upcall_new(sd_event *ev, const struct config *cfg, upcall_fn fn, void *arg,
	       struct upcall **out);
/* Waits for calls in flight (each bounded by [upstream] timeout_ms). */
void upcall_free(struct upcall *u);
/* GET (body NULL) or POST body to [upstream] url + path. Returns the call's
 * id (never 0); fn gets it back. Without a configured url the answer is
 * status 0 "no central is configured", on the loop as well. */
uint64_t upcall_start(struct upcall *u, const char *path, json_t *body);

#endif
