/* bench-losslist — the terminal's loss list store at scale, side by side
 * with a plain SQLite baseline (rowid table + index on card_id): build
 * time, file size, and lookup latency p50/p99 through losslist_lookup
 * (the code path of every card read) vs the same query on the baseline.
 *
 * usage: bench-losslist DIR [N]   (default 10000000) */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "../daemon/lossidx.h"
#include "../daemon/losslist.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng;
static uint64_t next(void)
{
	rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
	return rng;
}

static void make_id(uint64_t i, uint8_t id[LOSS_ID_LEN])
{
	/* reproducible ids: regions 0..15, serial = a 64-bit mix of i */
	uint64_t s = i * 0x9E3779B97F4A7C15ull;
	s ^= s >> 29;
	id[0] = 0x63, id[1] = 0x99, id[2] = (uint8_t)(i % 16);
	memcpy(id + 3, "\xD1\x56\x00\x00\x05", 5);
	for (int j = 0; j < 8; j++)
		id[8 + j] = (uint8_t)(s >> (56 - 8 * j));
}

static int cmpr(const void *a, const void *b)
{
	return memcmp(a, b, LOSS_ID_LEN); /* id first in struct loss_rec */
}

static int cmpd(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double fsize(const char *p)
{
	struct stat st;
	return stat(p, &st) ? 0 : (double)st.st_size;
}

#define LOOKUPS 200000

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	size_t n = argc > 2 ? strtoul(argv[2], NULL, 10) : 10000000;
	char ours[512], base[512], err[256];
	snprintf(ours, sizeof ours, "%s/losslist.db", argv[1]);
	snprintf(base, sizeof base, "%s/baseline.db", argv[1]);
	remove(ours), remove(base);

	/* build both */
	struct losslist *l;
	sqlite3 *b;
	sqlite3_stmt *ins;
	if (losslist_open(ours, true, &l, err, sizeof err))
		return fprintf(stderr, "%s\n", err), 1;
	losslist_close(l);
	sqlite3 *o;
	sqlite3_open(ours, &o);
	sqlite3_open(base, &b);
	sqlite3_exec(b, "PRAGMA journal_mode=WAL; CREATE TABLE loss(card_id BLOB, state INTEGER,"
			" since INTEGER, version INTEGER); CREATE UNIQUE INDEX loss_id ON loss(card_id);",
		     NULL, NULL, NULL);
	double t_build[2];
	sqlite3 *dbs[2] = {o, b};
	for (int d = 0; d < 2; d++) {
		double t0 = now_s();
		sqlite3_exec(dbs[d], "BEGIN", NULL, NULL, NULL);
		sqlite3_prepare_v2(dbs[d], "INSERT INTO loss VALUES(?, 2, 1795000000, 1)", -1, &ins, NULL);
		for (size_t i = 0; i < n; i++) {
			uint8_t id[LOSS_ID_LEN];
			make_id(i, id);
			sqlite3_bind_blob(ins, 1, id, LOSS_ID_LEN, SQLITE_TRANSIENT);
			sqlite3_step(ins);
			sqlite3_reset(ins);
		}
		sqlite3_finalize(ins);
		sqlite3_exec(dbs[d], "COMMIT; PRAGMA wal_checkpoint(TRUNCATE);", NULL, NULL, NULL);
		t_build[d] = now_s() - t0;
	}
	sqlite3_close(o);

	/* the sorted file + sparse index, from the same records */
	char idxp[512];
	snprintf(idxp, sizeof idxp, "%s/losslist.idx", argv[1]);
	struct loss_rec *recs = calloc(n, sizeof *recs);
	for (size_t i = 0; i < n; i++) {
		make_id(i, recs[i].id);
		recs[i].state = 2;
		recs[i].day = 20000;
	}
	double ti = now_s();
	qsort(recs, n, sizeof *recs, cmpr);
	if (lossidx_write(idxp, recs, n, 1))
		return fprintf(stderr, "cannot write %s\n", idxp), 1;
	ti = now_s() - ti;
	free(recs);
	struct lossidx *x;
	if (lossidx_open(idxp, &x, err, sizeof err))
		return fprintf(stderr, "%s\n", err), 1;
	double *tc = malloc(LOOKUPS * sizeof *tc);

	/* lookups: half listed, half not, in random order */
	if (losslist_open(ours, false, &l, err, sizeof err))
		return fprintf(stderr, "%s\n", err), 1;
	sqlite3_stmt *q;
	sqlite3_prepare_v2(b, "SELECT state, since, version FROM loss WHERE card_id = ?", -1, &q, NULL);
	double *ta = malloc(LOOKUPS * sizeof *ta), *tb = malloc(LOOKUPS * sizeof *tb);
	size_t hits = 0;
	rng = 2463534242ull;
	for (int i = 0; i < LOOKUPS; i++) {
		uint8_t id[LOSS_ID_LEN];
		uint64_t k = next();
		make_id(k % n, id);
		if (k & 1)
			id[15] ^= 0xA5; /* not listed */
		struct loss_entry e;
		double t0 = now_s();
		hits += losslist_lookup(l, id, &e) == 1;
		double t1 = now_s();
		sqlite3_bind_blob(q, 1, id, LOSS_ID_LEN, SQLITE_STATIC);
		sqlite3_step(q);
		sqlite3_reset(q);
		double t2 = now_s();
		struct loss_rec rr;
		if ((lossidx_lookup(x, id, &rr) == 1) != !(k & 1))
			return fprintf(stderr, "index disagrees\n"), 1;
		double t3 = now_s();
		ta[i] = (t1 - t0) * 1e6;
		tb[i] = (t2 - t1) * 1e6;
		tc[i] = (t3 - t2) * 1e6;
	}
	qsort(ta, LOOKUPS, sizeof *ta, cmpd);
	qsort(tb, LOOKUPS, sizeof *tb, cmpd);
	qsort(tc, LOOKUPS, sizeof *tc, cmpd);
	printf("bench/losslist — %zu entries, %d lookups (%zu listed), interleaved\n", n, LOOKUPS, hits);
	printf("  ours (WITHOUT ROWID, key = card id): build %.1f s, file %.1f MB (%.1f B/entry), "
	       "lookup p50 %.2f µs p99 %.2f µs (target p99 <= 20)\n",
	       t_build[0], fsize(ours) / 1e6, fsize(ours) / (double)n, ta[LOOKUPS / 2],
	       ta[LOOKUPS * 99 / 100]);
	printf("  baseline (rowid table + index):      build %.1f s, file %.1f MB (%.1f B/entry), "
	       "lookup p50 %.2f µs p99 %.2f µs\n",
	       t_build[1], fsize(base) / 1e6, fsize(base) / (double)n, tb[LOOKUPS / 2],
	       tb[LOOKUPS * 99 / 100]);
	printf("  sorted file + sparse index:          build %.1f s, file %.1f MB (%.1f B/entry), "
	       "lookup p50 %.2f µs p99 %.2f µs, index in RAM %.0f kB\n",
	       ti, fsize(idxp) / 1e6, fsize(idxp) / (double)n, tc[LOOKUPS / 2], tc[LOOKUPS * 99 / 100],
	       (double)lossidx_ram(x) / 1e3);
	printf("  ratios against the baseline: file %.2f / %.2f, lookup p99 %.2f / %.2f "
	       "(SQLite WITHOUT ROWID / sorted file)\n",
	       fsize(ours) / fsize(base), fsize(idxp) / fsize(base),
	       ta[LOOKUPS * 99 / 100] / tb[LOOKUPS * 99 / 100],
	       tc[LOOKUPS * 99 / 100] / tb[LOOKUPS * 99 / 100]);
	lossidx_close(x);
	free(tc);
	sqlite3_finalize(q);
	sqlite3_close(b);
	losslist_close(l);
	free(ta);
	free(tb);
	return 0;
}
