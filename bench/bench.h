/* bench.h — what the read benchmarks share: the minimal APDU script of a
 * spec-2.00 card, sscardd's `read` over the control socket, and the A/B
 * loop that runs the bare program and sscardd interleaved in one run. */
#ifndef SSCARD_BENCH_H
#define SSCARD_BENCH_H

#include <stddef.h>

/* SELECT SSSE, 7 EF05 and 7 EF06 records by identifier via SFI, each with
 * its exact Le: the fewest APDUs a basic read can take. */
extern const char *const BENCH_SCRIPT[];
#define BENCH_N_SCRIPT 15

double now_ms(void);
int cmp(const void *a, const void *b);
/* Connect to sscardd's control socket, or exit. */
int dial(const char *path);
/* One `read READER` over a kept-open connection, as counter software
 * would: milliseconds, or -1. *apdus and *card_ms from the answer. */
double daemon_read(int fd, const char *reader, long *apdus, double *card_ms);

/* Warm both up, then ROUNDS of bare(arg) and sscardd's read interleaved
 * (alternating which goes first); prints medians, p90s and the ratio.
 * 0, or 1 when a read failed. */
int bench_ab(double (*bare)(void *), void *arg, const char *bare_label, int bare_apdus, int fd,
	     const char *reader, int rounds);

#endif
