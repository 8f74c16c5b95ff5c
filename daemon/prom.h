/* prom.h — the Prometheus text exposition format (version 0.0.4), written
 * by each capability for its own metrics ([metrics] listen serves them).
 * Names follow the conventions: sscard_ prefix, base units (_seconds),
 * counters end in _total. No label ever carries a card id, SSN, name or
 * PIN: only reader names, interfaces, codes, flows and states. */
#ifndef SSCARD_PROM_H
#define SSCARD_PROM_H

#include <stdbool.h>
#include <stddef.h>

struct prom {
	char *buf;
	size_t len, cap;
	bool oom;
};

/* A label set: up to PROM_LABELS pairs, values escaped as the format says. */
#define PROM_LABELS 4
struct prom_labels {
	const char *k[PROM_LABELS], *v[PROM_LABELS];
	unsigned n;
};

/* # HELP and # TYPE (counter, gauge, histogram) of a family; once each. */
void prom_family(struct prom *p, const char *name, const char *type, const char *help);
/* One sample: name{labels} value. l may be NULL. */
void prom_sample(struct prom *p, const char *name, const struct prom_labels *l, double v);
/* A family with one sample and no labels. */
void prom_one(struct prom *p, const char *name, const char *type, const char *help, double v);

/* A histogram with fixed buckets (upper bounds, ascending). */
#define PROM_BUCKETS 12
struct prom_hist {
	double le[PROM_BUCKETS];
	unsigned n;
	unsigned long count[PROM_BUCKETS];  /* per bucket, not cumulative */
	unsigned long total;
	double sum;
};
void prom_hist_observe(struct prom_hist *h, double v);
void prom_hist_write(struct prom *p, const char *name, const char *help, const struct prom_hist *h);

/* The text (malloc'd, the caller frees), or NULL when memory ran out. */
char *prom_take(struct prom *p);

#endif
