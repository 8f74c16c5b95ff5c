/* lossidx.h — the bulk of the loss list as a sorted file with a sparse
 * index in memory: one pread per lookup, a few hundred KB of RAM at 10^7
 * entries, and the page cache (not our RSS) holding the hot blocks.
 * Built from a decoded snapshot (lossfmt); immutable once written, so a
 * new version is a new file swapped in with rename(). */
#ifndef SSCARD_LOSSIDX_H
#define SSCARD_LOSSIDX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/losslist/lossfmt.h"

#define LOSSIDX_BLOCK 256   /* records per block of the sparse index */

struct lossidx;

/* Write records (sorted, unique ids) to path via path.tmp + rename. 0/-1. */
int lossidx_write(const char *path, const struct loss_rec *r, size_t n, uint64_t version);
/* The same, one record at a time (a snapshot decoded as it streams):
 * open, add in id order, finish (keep = false throws the file away).
 * add and finish return -1 on a write error (disk full) or records out of
 * order; finish then removes the temporary file. */
struct lossidx_writer;
struct lossidx_writer *lossidx_writer_open(const char *path, uint64_t version);
int lossidx_writer_add(struct lossidx_writer *w, const struct loss_rec *r);
int lossidx_writer_finish(struct lossidx_writer *w, bool keep);
/* Open: reads the header and the sparse index. 0, or -1 with a sentence. */
int lossidx_open(const char *path, struct lossidx **out, char *err, size_t errlen);
void lossidx_close(struct lossidx *x);
/* 1 found (*r filled), 0 not there, -1 read error. Thread-safe (pread). */
int lossidx_lookup(const struct lossidx *x, const uint8_t id[LOSSFMT_ID_LEN], struct loss_rec *r);
uint64_t lossidx_version(const struct lossidx *x);
uint64_t lossidx_count(const struct lossidx *x);
size_t lossidx_ram(const struct lossidx *x);

#endif
