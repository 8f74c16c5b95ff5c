/* prom.c — see prom.h. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/prom.h"

__attribute__((format(printf, 2, 3))) static void put(struct prom *p, const char *fmt, ...)
{
	va_list ap;
	for (;;) {
		if (p->oom)
			return;
		size_t room = p->cap - p->len;
		va_start(ap, fmt);
		int n = vsnprintf(p->buf ? p->buf + p->len : NULL, p->buf ? room : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			p->oom = true;
			return;
		}
		if (p->buf && (size_t)n < room) {
			p->len += (size_t)n;
			return;
		}
		size_t cap = (p->cap ? p->cap : 4096) * 2 + (size_t)n;
		char *b = realloc(p->buf, cap);
		if (!b) {
			p->oom = true;
			return;
		}
		p->buf = b;
		p->cap = cap;
	}
}

void prom_family(struct prom *p, const char *name, const char *type, const char *help)
{
	put(p, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value: backslash, double quote and line feed escaped. */
static void put_value(struct prom *p, const char *v)
{
	put(p, "\"");
	for (const char *s = v; *s; s++) {
		if (*s == '\\' || *s == '"')
			put(p, "\\%c", *s);
		else if (*s == '\n')
			put(p, "\\n");
		else
			put(p, "%c", *s);
	}
	put(p, "\"");
}

static void put_labels(struct prom *p, const struct prom_labels *l, const char *extra_k,
		       const char *extra_v)
{
	unsigned n = l ? l->n : 0;
	if (!n && !extra_k)
		return;
	put(p, "{");
	for (unsigned i = 0; i < n; i++) {
		put(p, "%s%s=", i ? "," : "", l->k[i]);
		put_value(p, l->v[i] ? l->v[i] : "");
	}
	if (extra_k) {
		put(p, "%s%s=", n ? "," : "", extra_k);
		put_value(p, extra_v);
	}
	put(p, "}");
}

static void put_number(struct prom *p, double v)
{
	if (isinf(v))
		put(p, v > 0 ? "+Inf" : "-Inf");
	else if (isnan(v))
		put(p, "NaN");
	else if (v > -1e15 && v < 1e15 && v == (double)(long long)v) /* whole: no exponent */
		put(p, "%.0f", v);
	else
		put(p, "%.9g", v);
}

void prom_sample(struct prom *p, const char *name, const struct prom_labels *l, double v)
{
	put(p, "%s", name);
	put_labels(p, l, NULL, NULL);
	put(p, " ");
	put_number(p, v);
	put(p, "\n");
}

void prom_one(struct prom *p, const char *name, const char *type, const char *help, double v)
{
	prom_family(p, name, type, help);
	prom_sample(p, name, NULL, v);
}

void prom_hist_observe(struct prom_hist *h, double v)
{
	h->total++;
	h->sum += v;
	for (unsigned i = 0; i < h->n; i++)
		if (v <= h->le[i]) {
			h->count[i]++;
			return;
		}
}

void prom_hist_write(struct prom *p, const char *name, const char *help, const struct prom_hist *h)
{
	char n[128], le[32];
	unsigned long cum = 0;
	prom_family(p, name, "histogram", help);
	snprintf(n, sizeof n, "%s_bucket", name);
	for (unsigned i = 0; i < h->n; i++) {
		cum += h->count[i];
		snprintf(le, sizeof le, "%g", h->le[i]);
		put(p, "%s", n);
		put_labels(p, NULL, "le", le);
		put(p, " %lu\n", cum);
	}
	put(p, "%s", n);
	put_labels(p, NULL, "le", "+Inf");
	put(p, " %lu\n", h->total);
	put(p, "%s_sum ", name);
	put_number(p, h->sum);
	put(p, "\n%s_count %lu\n", name, h->total);
}

char *prom_take(struct prom *p)
{
	char *b = p->oom ? NULL : p->buf ? p->buf : strdup("");
	if (p->oom)
		free(p->buf);
	p->buf = NULL;
	p->len = p->cap = 0;
	p->oom = false;
	return b;
}
