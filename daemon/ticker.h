/* ticker.h — a thread that does its work, then naps until its next turn
 * or until it is poked (the ID card reader's polling, the printer's
 * questions to CUPS). The loop pokes and stops it; the thread naps. */
#ifndef SSCARD_TICKER_H
#define SSCARD_TICKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

struct ticker {
	pthread_t th;
	bool running;
	int wake[2];
	atomic_bool stopping;
};

/* Start fn(arg) in a thread; 0 or -errno (nothing to undo then). */
int ticker_start(struct ticker *t, void *(*fn)(void *), void *arg);
/* Ask the thread to end, wake it, wait for it. Safe on one never started. */
void ticker_stop(struct ticker *t);
/* In the thread: wait up to ms, or until poked or stopped. */
void ticker_nap(struct ticker *t, unsigned ms);
/* From the loop: end the thread's nap now. */
void ticker_poke(struct ticker *t);
static inline bool ticker_stopping(struct ticker *t)
{
	return atomic_load(&t->stopping);
}

#endif
