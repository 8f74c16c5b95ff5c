/* bench-lossfmt — the loss list snapshot at scale: N random card ids
 * (random 64-bit serials) over G regions; bytes per entry of the encoded
 * identifiers against their entropy, attributes, encode and decode time.
 *
 * usage: bench-lossfmt [N [G]]   (default 10000000 16) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/losslist/lossfmt.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng = 88172645463325252ull;
static uint64_t next(void)
{
	rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
	return rng;
}

static int cmp(const void *a, const void *b)
{
	return memcmp(a, b, LOSSFMT_ID_LEN);
}

static int count(void *arg, const struct loss_rec *r)
{
	(void)r;
	++*(size_t *)arg;
	return 0;
}

/* log2 of the binomial C(m, n) per element, m = G * 2^64: the fewest
 * bits a set of n distinct ids drawn from that space can take. */
static double entropy_bits(double n, double g)
{
	double m = g * 18446744073709551616.0;
	return (lgamma(m + 1) - lgamma(n + 1) - lgamma(m - n + 1)) / log(2) / n;
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 10000000;
	unsigned g = argc > 2 ? (unsigned)atoi(argv[2]) : 16;
	struct loss_rec *r = malloc(n * sizeof *r);
	if (!r || !g)
		return 1;
	for (size_t i = 0; i < n; i++) {
		unsigned region = (unsigned)(next() % g);
		r[i].id[0] = 0x63, r[i].id[1] = (uint8_t)(region >> 8), r[i].id[2] = (uint8_t)region;
		memcpy(r[i].id + 3, "\xD1\x56\x00\x00\x05", 5);
		uint64_t s = next();
		for (int j = 0; j < 8; j++)
			r[i].id[8 + j] = (uint8_t)(s >> (56 - 8 * j));
		r[i].state = (uint8_t)(1 + next() % 3);
		r[i].day = (uint16_t)(18000 + next() % 3650);
	}
	qsort(r, n, sizeof *r, cmp); /* the id is the struct's first member */
	size_t u = 0;
	for (size_t i = 0; i < n; i++)
		if (!u || memcmp(r[u - 1].id, r[i].id, LOSSFMT_ID_LEN))
			r[u++] = r[i];
	n = u;
	uint8_t *buf;
	size_t len, seen = 0;
	struct lossfmt_stats st;
	struct lossfmt_file f;
	char err[256];
	double t0 = now_s();
	if (lossfmt_encode(r, n, 0, 1, 1795000000, &buf, &len, &st))
		return 1;
	double t1 = now_s();
	if (lossfmt_decode(buf, len, &f, count, &seen, err, sizeof err) || seen != n) {
		fprintf(stderr, "bench-lossfmt: decode: %s\n", err);
		return 1;
	}
	double t2 = now_s();
	double ent = entropy_bits((double)n, (double)g) / 8;
	printf("bench/lossfmt — %zu entries over %u regions (random 64-bit serials)\n", n, g);
	printf("  identifiers  %.3f B/entry; their entropy %.3f B/entry; ratio %.3f (target B/entry <= 6)\n",
	       (double)st.id_bytes / (double)n, ent, (double)st.id_bytes / (double)n / ent);
	printf("  state + day  %.3f B/entry (2 + 16 bits, not yet compressed)\n",
	       (double)st.attr_bytes / (double)n);
	printf("  whole file   %.3f B/entry, %.1f MB; raw 20-byte records %.1f MB (ratio %.3f)\n",
	       (double)len / (double)n, (double)len / 1e6, (double)n * 20 / 1e6,
	       (double)len / ((double)n * 20));
	printf("  encode %.2f s, decode %.2f s (%.0f ns/entry)\n", t1 - t0, t2 - t1,
	       (t2 - t1) / (double)n * 1e9);
	free(buf);
	free(r);
	return 0;
}
