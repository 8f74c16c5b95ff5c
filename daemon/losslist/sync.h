/* sync.h — keeps the local loss list in step with the central's signed
 * publication (docs/loss-list-format.md), over HTTP(S) with libcurl, in a
 * thread of its own so that nothing it waits for (a slow mirror, a dead
 * network) ever holds up a card read.
 *
 * Every poll_interval (± 20 % jitter) it fetches `head`, checks the
 * signature with [upstream] public_key, refuses a version older than the one
 * it has, walks the deltas the head lists (one transaction for all of them)
 * or, when that is not possible, imports the snapshot. Whatever fails, the
 * list in force stays as it is; the failure is an alarm event and the
 * result of `list info`. */
#ifndef SSCARD_SYNC_H
#define SSCARD_SYNC_H

#include <jansson.h>
#include <systemd/sd-event.h>

#include "daemon/config.h"

struct sync;

typedef void (*sync_emit_fn)(void *arg, json_t *event);
typedef void (*sync_reply_fn)(void *cookie, json_t *reply);

/* Start the thread (it does nothing but report "not configured" while
 * [upstream] has no list address or public key). 0 or -errno. */
int sync_start(sd_event *ev, const struct config *cfg, sync_emit_fn emit, void *arg,
	       struct sync **out);
void sync_stop(struct sync *s);
/* A reload: new address, key, interval, timeouts take effect at the next poll. */
void sync_reconfigure(struct sync *s, const struct config *cfg);
/* The last result and the schedule, for `list info` and `status`. */
void sync_add_status(struct sync *s, json_t *list_info);
/* `list sync`: poll now; fn(cookie, reply) on the loop when done. */
void sync_now(struct sync *s, void *cookie, sync_reply_fn fn);
/* The client went away before the answer. */
void sync_forget(struct sync *s, void *cookie);

#endif
