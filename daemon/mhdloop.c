/* mhdloop.c — see mhdloop.h. */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "daemon/log.h"
#include "daemon/mhdloop.h"
#include "daemon/origin.h"

struct mhd_loop {
	sd_event *ev;
	struct MHD_Daemon *d;
	sd_event_source *io, *timer;
	bool kicked;                 /* resumed during MHD_run: MHD may not count it in its timeout */
};

static void rearm(struct mhd_loop *l)
{
	MHD_UNSIGNED_LONG_LONG ms;
	uint64_t now;
	if (l->kicked) {
		sd_event_now(l->ev, CLOCK_MONOTONIC, &now);
		sd_event_source_set_time(l->timer, now);
		sd_event_source_set_enabled(l->timer, SD_EVENT_ONESHOT);
	} else if (MHD_get_timeout(l->d, &ms) == MHD_YES) {
		sd_event_now(l->ev, CLOCK_MONOTONIC, &now);
		sd_event_source_set_time(l->timer, now + (uint64_t)ms * 1000);
		sd_event_source_set_enabled(l->timer, SD_EVENT_ONESHOT);
	} else
		sd_event_source_set_enabled(l->timer, SD_EVENT_OFF);
}

static void run(struct mhd_loop *l)
{
	l->kicked = false;
	MHD_run(l->d);
	rearm(l);
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *arg)
{
	run(arg);
	return 0;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *arg)
{
	run(arg);
	return 0;
}

int mhd_loop_attach(sd_event *ev, struct MHD_Daemon *d, struct mhd_loop **out)
{
	struct mhd_loop *l = calloc(1, sizeof *l);
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_EPOLL_FD);
	*out = NULL;
	if (!l)
		return -1;
	l->ev = ev;
	l->d = d;
	/* accuracy 1 µs: 0 would mean sd-event's default of 250 ms, and a
	 * screen change pushed to the page would wait for it (the screen
	 * latency bench saw ~100 ms of it) */
	if (!info || sd_event_add_io(ev, &l->io, info->epoll_fd, EPOLLIN, on_io, l) < 0 ||
	    sd_event_add_time(ev, &l->timer, CLOCK_MONOTONIC, 0, 1, on_timer, l) < 0) {
		mhd_loop_free(l);
		return -1;
	}
	rearm(l);
	*out = l;
	return 0;
}

void mhd_loop_kick(struct mhd_loop *l)
{
	if (!l)
		return;
	l->kicked = true;
	rearm(l);
}

void mhd_loop_free(struct mhd_loop *l)
{
	if (!l)
		return;
	sd_event_source_disable_unref(l->io);
	sd_event_source_disable_unref(l->timer);
	free(l);
}

int mhd_listen_addr(const char *listen, struct sockaddr_storage *ss, int *port, unsigned *flags)
{
	char host[80], p[16];
	memset(ss, 0, sizeof *ss);
	web_split_listen(listen, host, sizeof host, p, sizeof p);
	*port = atoi(p);
	if (host[0] == '[') {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
		size_t n = strlen(host);
		if (n > 2)
			host[n - 1] = 0;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)*port);
		*flags |= MHD_USE_IPv6;
		return inet_pton(AF_INET6, host + 1, &a->sin6_addr) == 1 ? 0 : -1;
	}
	struct sockaddr_in *a = (struct sockaddr_in *)ss;
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)*port);
	return inet_pton(AF_INET, host, &a->sin_addr) == 1 ? 0 : -1;
}

__attribute__((format(printf, 2, 0))) void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[300];
	vsnprintf(msg, sizeof msg, fmt, ap);
	msg[strcspn(msg, "\n")] = 0;
	log_msg(LOG_DEBUG, "%s: %s", (const char *)cls, msg);
}
