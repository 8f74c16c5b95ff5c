/* ticker.c — see ticker.h. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include "daemon/ticker.h"

int ticker_start(struct ticker *t, void *(*fn)(void *), void *arg)
{
	int rv;
	t->running = false;
	atomic_store(&t->stopping, false);
	if (pipe2(t->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
		t->wake[0] = t->wake[1] = -1;
		return -errno;
	}
	if ((rv = pthread_create(&t->th, NULL, fn, arg))) {
		close(t->wake[0]);
		close(t->wake[1]);
		t->wake[0] = t->wake[1] = -1;
		return -rv;
	}
	t->running = true;
	return 0;
}

void ticker_stop(struct ticker *t)
{
	if (!t->running)
		return;
	atomic_store(&t->stopping, true);
	ticker_poke(t);
	pthread_join(t->th, NULL);
	close(t->wake[0]);
	close(t->wake[1]);
	t->running = false;
}

void ticker_nap(struct ticker *t, unsigned ms)
{
	struct pollfd p = {.fd = t->wake[0], .events = POLLIN};
	if (poll(&p, 1, (int)ms) > 0) {
		char buf[64];
		while (read(t->wake[0], buf, sizeof buf) > 0)
			;
	}
}

void ticker_poke(struct ticker *t)
{
	(void)!write(t->wake[1], "p", 1);
}
