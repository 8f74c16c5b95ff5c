/* queue.c — the queue from the reader threads (workers, PC/SC monitor) to
 * the event loop: a mutex-guarded list and an eventfd that wakes the loop. */
#include "daemon/readers/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "daemon/log.h"

struct msgq *msgq_new(void)
{
	struct msgq *q = calloc(1, sizeof *q);
	if (!q)
		return NULL;
	q->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->efd < 0) {
		free(q);
		return NULL;
	}
	atomic_init(&q->refs, 1);
	atomic_init(&q->trace, false);
	pthread_mutex_init(&q->mu, NULL);
	return q;
}

void msg_free(struct msg *m)
{
	ssc_card_wipe(&m->card);
	json_decref(m->trace);
	free(m);
}

void msgq_unref(struct msgq *q)
{
	if (atomic_fetch_sub(&q->refs, 1) != 1)
		return;
	for (struct msg *m = q->head, *n; m; m = n) {
		n = m->next;
		msg_free(m);
	}
	close(q->efd);
	pthread_mutex_destroy(&q->mu);
	free(q);
}

void msgq_post(struct msgq *q, struct msg *m)
{
	uint64_t one = 1;
	pthread_mutex_lock(&q->mu);
	if (q->closed) {
		pthread_mutex_unlock(&q->mu);
		msg_free(m);
		return;
	}
	m->next = NULL;
	if (q->tail)
		q->tail->next = m;
	else
		q->head = m;
	q->tail = m;
	pthread_mutex_unlock(&q->mu);
	if (write(q->efd, &one, sizeof one) < 0 && errno != EAGAIN)
		log_msg(LOG_ERR, "cannot wake the event loop: %m");
}

struct msg *msgq_take_all(struct msgq *q)
{
	pthread_mutex_lock(&q->mu);
	struct msg *m = q->head;
	q->head = q->tail = NULL;
	pthread_mutex_unlock(&q->mu);
	return m;
}
