/* notify.c — worker thread → event loop, through an eventfd. */
#include "daemon/notify.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "daemon/log.h"

struct notifier {
	pthread_mutex_t mu;
	json_t *out;
	int efd;
	sd_event_source *src;
	notify_fn fn;
	void *arg;
};

static int on_wake(sd_event_source *src, int fd, uint32_t revents, void *arg)
{
	struct notifier *n = arg;
	uint64_t v;
	size_t i;
	json_t *e;
	if (read(fd, &v, sizeof v) < 0 && errno != EAGAIN)
		return 0;
	pthread_mutex_lock(&n->mu);
	json_t *evs = n->out;
	n->out = json_array();
	pthread_mutex_unlock(&n->mu);
	json_array_foreach(evs, i, e)
		n->fn(n->arg, e);
	json_decref(evs);
	return 0;
}

int notifier_new(sd_event *ev, notify_fn fn, void *arg, struct notifier **out)
{
	struct notifier *n = calloc(1, sizeof *n);
	int rv;
	*out = NULL;
	if (!n)
		return -ENOMEM;
	pthread_mutex_init(&n->mu, NULL);
	n->out = json_array();
	n->fn = fn;
	n->arg = arg;
	n->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (n->efd < 0 || (rv = sd_event_add_io(ev, &n->src, n->efd, EPOLLIN, on_wake, n)) < 0) {
		rv = n->efd < 0 ? -errno : rv;
		notifier_free(n);
		return rv;
	}
	*out = n;
	return 0;
}

void notifier_post(struct notifier *n, json_t *ev)
{
	uint64_t one = 1;
	pthread_mutex_lock(&n->mu);
	json_array_append_new(n->out, ev ? ev : json_null());
	pthread_mutex_unlock(&n->mu);
	if (write(n->efd, &one, sizeof one) < 0 && errno != EAGAIN)
		log_msg(LOG_ERR, "cannot wake the event loop: %m");
}

void notifier_free(struct notifier *n)
{
	if (!n)
		return;
	sd_event_source_disable_unref(n->src);
	if (n->efd >= 0)
		close(n->efd);
	json_decref(n->out);
	pthread_mutex_destroy(&n->mu);
	free(n);
}
