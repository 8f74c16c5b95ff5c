/* notify.h — JSON events from a worker thread to the event loop: post from
 * any thread, delivered to fn on the loop, in order. */
#ifndef SSCARD_NOTIFY_H
#define SSCARD_NOTIFY_H

#include <jansson.h>
#include <systemd/sd-event.h>

struct notifier;
typedef void (*notify_fn)(void *arg, json_t *event);

/* 0 or -errno. fn may be called with json null (a bare wake-up). */
int notifier_new(sd_event *ev, notify_fn fn, void *arg, struct notifier **out);
/* Takes the reference to ev. Thread-safe. */
void notifier_post(struct notifier *n, json_t *ev);
void notifier_free(struct notifier *n);

#endif
