/* metrics.h — GET /metrics in the Prometheus text format on [metrics]
 * listen (off by default), served from the loop. What is in it is the
 * daemon's to say: collect() writes every part's metrics (sscardd.c). */
#ifndef SSCARD_METRICS_H
#define SSCARD_METRICS_H

#include <stddef.h>
#include <systemd/sd-event.h>

#include "daemon/config.h"
#include "daemon/prom.h"

struct metrics;

/* 0 (and *out NULL when [metrics] listen is off) or -1 with a sentence. */
int metrics_start(sd_event *ev, const struct config *cfg, void (*collect)(struct prom *p),
		  struct metrics **out, char *err, size_t errlen);
void metrics_stop(struct metrics *m);
/* Scrapes served so far. */
unsigned long metrics_scrapes(const struct metrics *m);

#endif
