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

#include "daemon/losslist/lossfmt.h"
#include "daemon/losslist/losslist.h"

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

#define LOOKUPS 200000

static double dir_bytes(const char *dir, const char *prefix)
{
	char cmd[600];
	double total = 0, v;
	snprintf(cmd, sizeof cmd, "du -b %s/%s* 2>/dev/null | cut -f1", dir, prefix);
	FILE *p = popen(cmd, "r");
	while (p && fscanf(p, "%lf", &v) == 1)
		total += v;
	if (p)
		pclose(p);
	return total;
}

#define DELTA_N 10000

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	size_t n = argc > 2 ? strtoul(argv[2], NULL, 10) : 10000000;
	char ours[512], base[512], err[512];
	snprintf(ours, sizeof ours, "%s/losslist.db", argv[1]);
	snprintf(base, sizeof base, "%s/baseline.db", argv[1]);
	remove(ours), remove(base);

	/* the central's snapshot of n losses */
	struct loss_rec *recs = calloc(n, sizeof *recs);
	for (size_t i = 0; i < n; i++) {
		make_id(i, recs[i].id);
		recs[i].state = 2;
		recs[i].day = 20000;
	}
	qsort(recs, n, sizeof *recs, cmpr);
	uint8_t *snap;
	size_t snap_len;
	double te = now_s();
	if (lossfmt_encode(recs, n, 0, 1, 1795000000, &snap, &snap_len, NULL))
		return fprintf(stderr, "cannot encode\n"), 1;
	te = now_s() - te;

	/* ours: import the snapshot (decode → sorted index file → swap) */
	struct losslist *w, *l;
	if (losslist_open(ours, true, &w, err, sizeof err))
		return fprintf(stderr, "%s\n", err), 1;
	double t_import = now_s();
	if (losslist_import(w, snap, snap_len, 1795000000, err, sizeof err))
		return fprintf(stderr, "import: %s\n", err), 1;
	t_import = now_s() - t_import;
	free(snap);

	/* the baseline: the same records into a rowid table + unique index */
	sqlite3 *b;
	sqlite3_stmt *ins;
	sqlite3_open(base, &b);
	sqlite3_exec(b, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
			" CREATE TABLE loss(card_id BLOB, state INTEGER,"
			" since INTEGER, version INTEGER); CREATE UNIQUE INDEX loss_id ON loss(card_id);",
		     NULL, NULL, NULL);
	double t_base = now_s();
	sqlite3_exec(b, "BEGIN", NULL, NULL, NULL);
	sqlite3_prepare_v2(b, "INSERT INTO loss VALUES(?, ?, ?, ?)"
			      " ON CONFLICT(card_id) DO UPDATE SET state = excluded.state,"
			      " since = excluded.since, version = excluded.version", -1, &ins, NULL);
	for (size_t i = 0; i < n; i++) {
		sqlite3_bind_blob(ins, 1, recs[i].id, LOSS_ID_LEN, SQLITE_STATIC);
		sqlite3_bind_int(ins, 2, 2);
		sqlite3_bind_int64(ins, 3, 20000 * 86400LL);
		sqlite3_bind_int(ins, 4, 1);
		sqlite3_step(ins);
		sqlite3_reset(ins);
	}
	sqlite3_exec(b, "COMMIT; PRAGMA wal_checkpoint(TRUNCATE);", NULL, NULL, NULL);
	t_base = now_s() - t_base;

	/* a 10^4-record delta: a quarter taken off, a quarter changed, half new */
	struct loss_rec *d = calloc(DELTA_N, sizeof *d);
	rng = 88172645463325252ull;
	for (size_t i = 0; i < DELTA_N; i++) {
		uint64_t k = next();
		if (i % 4 < 2) {
			d[i] = recs[k % n];
			d[i].state = i % 4 ? 1 : 0;
		} else {
			make_id(n + i, d[i].id);
			d[i].state = 2;
		}
		d[i].day = 20100;
	}
	qsort(d, DELTA_N, sizeof *d, cmpr);
	size_t dn = 0;
	for (size_t i = 0; i < DELTA_N; i++) /* unique ids, as in a real delta */
		if (!dn || memcmp(d[dn - 1].id, d[i].id, LOSS_ID_LEN))
			d[dn++] = d[i];
	double t_delta = now_s();
	if (losslist_begin(w))
		return fprintf(stderr, "begin: %s\n", losslist_errmsg(w)), 1;
	for (size_t i = 0; i < dn; i++)
		if (losslist_apply(w, &d[i], 2))
			return fprintf(stderr, "apply: %s\n", losslist_errmsg(w)), 1;
	if (losslist_commit(w, 2, 1795000100))
		return fprintf(stderr, "commit: %s\n", losslist_errmsg(w)), 1;
	t_delta = now_s() - t_delta;
	double t_bdelta = now_s();
	sqlite3_stmt *del;
	sqlite3_prepare_v2(b, "DELETE FROM loss WHERE card_id = ?", -1, &del, NULL);
	sqlite3_exec(b, "BEGIN", NULL, NULL, NULL);
	for (size_t i = 0; i < dn; i++) {
		sqlite3_stmt *q = d[i].state ? ins : del;
		sqlite3_bind_blob(q, 1, d[i].id, LOSS_ID_LEN, SQLITE_STATIC);
		if (d[i].state) {
			sqlite3_bind_int(q, 2, d[i].state);
			sqlite3_bind_int64(q, 3, d[i].day * 86400LL);
			sqlite3_bind_int(q, 4, 2);
		}
		sqlite3_step(q);
		sqlite3_reset(q);
	}
	sqlite3_exec(b, "COMMIT", NULL, NULL, NULL);
	t_bdelta = now_s() - t_bdelta;
	sqlite3_finalize(ins);
	sqlite3_finalize(del);
	struct loss_info info;
	losslist_info(w, &info);
	free(recs);

	/* lookups through a reader's connection (the path of every card read):
	 * half listed, half not, random order, interleaved with the baseline */
	if (losslist_open(ours, false, &l, err, sizeof err))
		return fprintf(stderr, "%s\n", err), 1;
	sqlite3_stmt *q;
	sqlite3_prepare_v2(b, "SELECT state, since, version FROM loss WHERE card_id = ?", -1, &q, NULL);
	double *ta = malloc(LOOKUPS * sizeof *ta), *tb = malloc(LOOKUPS * sizeof *tb);
	size_t hits = 0, bhits = 0;
	rng = 2463534242ull;
	for (int i = 0; i < LOOKUPS; i++) {
		uint8_t id[LOSS_ID_LEN];
		uint64_t k = next();
		make_id(k % n, id);
		if (k & 1)
			id[15] ^= 0xA5; /* not listed */
		struct loss_entry e;
		double t0 = now_s();
		hits += losslist_lookup(l, id, &e, NULL) == 1;
		double t1 = now_s();
		sqlite3_bind_blob(q, 1, id, LOSS_ID_LEN, SQLITE_STATIC);
		bhits += sqlite3_step(q) == SQLITE_ROW;
		sqlite3_reset(q);
		double t2 = now_s();
		ta[i] = (t1 - t0) * 1e6;
		tb[i] = (t2 - t1) * 1e6;
	}
	if (hits != bhits)
		return fprintf(stderr, "the store and the baseline disagree: %zu vs %zu listed\n", hits,
			       bhits), 1;
	qsort(ta, LOOKUPS, sizeof *ta, cmpd);
	qsort(tb, LOOKUPS, sizeof *tb, cmpd);
	double so = dir_bytes(argv[1], "losslist"), sb = dir_bytes(argv[1], "baseline");
	printf("bench/losslist — %zu entries (%lld after the delta), %d lookups (%zu listed), "
	       "interleaved\n", n, (long long)info.entries, LOOKUPS, hits);
	printf("  snapshot: %.2f B/entry (%.1f MB), encoded in %.1f s\n", (double)snap_len / (double)n,
	       (double)snap_len / 1e6, te);
	printf("  ours (sorted index file + SQLite changes): import %.1f s, on disk %.1f MB "
	       "(%.1f B/entry), %zu-record delta %.0f ms (target <= 100), lookup p50 %.2f µs "
	       "p99 %.2f µs (target p99 <= 20)\n",
	       t_import, so / 1e6, so / (double)n, dn, t_delta * 1e3, ta[LOOKUPS / 2],
	       ta[LOOKUPS * 99 / 100]);
	printf("  baseline (SQLite rowid table + index): build %.1f s, on disk %.1f MB (%.1f B/entry), "
	       "%zu-record delta %.0f ms, lookup p50 %.2f µs p99 %.2f µs\n",
	       t_base, sb / 1e6, sb / (double)n, dn, t_bdelta * 1e3, tb[LOOKUPS / 2],
	       tb[LOOKUPS * 99 / 100]);
	printf("  ratios ours/baseline: load %.2f, disk %.2f, delta %.2f, lookup p50 %.2f p99 %.2f\n",
	       t_import / t_base, so / sb, t_delta / t_bdelta, ta[LOOKUPS / 2] / tb[LOOKUPS / 2],
	       ta[LOOKUPS * 99 / 100] / tb[LOOKUPS * 99 / 100]);
	sqlite3_finalize(q);
	sqlite3_close(b);
	losslist_close(l);
	losslist_close(w);
	free(ta);
	free(tb);
	free(d);
	return 0;
}
