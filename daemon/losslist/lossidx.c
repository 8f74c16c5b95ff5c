/* lossidx.c — sorted record file + sparse in-memory index. */
#include "daemon/losslist/lossidx.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAGIC "SSLIDX01"
#define HDR 32
#define REC 19 /* id 16, state 1, day 2 */

struct lossidx {
	int fd;
	uint64_t count, version;
	size_t blocks;
	uint8_t (*first)[LOSSFMT_ID_LEN]; /* first id of every block */
};

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

struct lossidx_writer {
	FILE *f;
	char tmp[512], path[512];
	uint64_t n, version;
	struct loss_rec last;
	bool bad;
};

struct lossidx_writer *lossidx_writer_open(const char *path, uint64_t version)
{
	struct lossidx_writer *w = calloc(1, sizeof *w);
	uint8_t hdr[HDR] = {0};
	if (!w)
		return NULL;
	snprintf(w->path, sizeof w->path, "%s", path);
	snprintf(w->tmp, sizeof w->tmp, "%s.tmp", path);
	w->version = version;
	w->f = fopen(w->tmp, "wbe");
	if (!w->f) {
		free(w);
		return NULL;
	}
	setvbuf(w->f, NULL, _IOFBF, 1 << 16);
	memcpy(hdr, MAGIC, 8);
	w->bad = fwrite(hdr, 1, HDR, w->f) != HDR; /* count filled in at the end */
	return w;
}

int lossidx_writer_add(struct lossidx_writer *w, const struct loss_rec *e)
{
	uint8_t rec[REC];
	if (w->n && memcmp(w->last.id, e->id, LOSSFMT_ID_LEN) >= 0)
		w->bad = true; /* not sorted or not unique */
	memcpy(rec, e->id, LOSSFMT_ID_LEN);
	rec[16] = e->state;
	rec[17] = (uint8_t)(e->day >> 8);
	rec[18] = (uint8_t)e->day;
	if (!w->bad && fwrite(rec, REC, 1, w->f) != 1)
		w->bad = true;
	w->last = *e;
	w->n++;
	return w->bad ? -1 : 0;
}

int lossidx_writer_finish(struct lossidx_writer *w, bool keep)
{
	uint8_t hdr[16];
	bool ok = keep && !w->bad;
	put64(hdr, w->version);
	put64(hdr + 8, w->n);
	ok = ok && fflush(w->f) == 0 && pwrite(fileno(w->f), hdr, 16, 8) == 16 &&
	     fsync(fileno(w->f)) == 0;
	ok = fclose(w->f) == 0 && ok;
	ok = ok && rename(w->tmp, w->path) == 0;
	if (!ok)
		unlink(w->tmp);
	free(w);
	return ok ? 0 : -1;
}

int lossidx_write(const char *path, const struct loss_rec *r, size_t n, uint64_t version)
{
	struct lossidx_writer *w = lossidx_writer_open(path, version);
	if (!w)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (lossidx_writer_add(w, &r[i]) < 0)
			break;
	return lossidx_writer_finish(w, true);
}

static int fail(struct lossidx *x, char *err, size_t errlen, const char *path, const char *why)
{
	snprintf(err, errlen, "%s: %s", path, why);
	lossidx_close(x);
	return -1;
}

int lossidx_open(const char *path, struct lossidx **out, char *err, size_t errlen)
{
	struct lossidx *x = calloc(1, sizeof *x);
	uint8_t hdr[HDR];
	struct stat st;
	*out = NULL;
	if (!x)
		return snprintf(err, errlen, "out of memory"), -1;
	x->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (x->fd < 0)
		return fail(x, err, errlen, path, strerror(errno));
	if (pread(x->fd, hdr, HDR, 0) != HDR || memcmp(hdr, MAGIC, 8) || fstat(x->fd, &st))
		return fail(x, err, errlen, path, "not a loss list index");
	x->version = get64(hdr + 8);
	x->count = get64(hdr + 16);
	if (x->count > ((uint64_t)st.st_size - HDR) / REC ||
	    (uint64_t)st.st_size != HDR + x->count * REC)
		return fail(x, err, errlen, path, "truncated or the wrong size");
	x->blocks = (size_t)((x->count + LOSSIDX_BLOCK - 1) / LOSSIDX_BLOCK);
	x->first = calloc(x->blocks ? x->blocks : 1, sizeof *x->first);
	if (!x->first)
		return fail(x, err, errlen, path, "out of memory");
	for (size_t b = 0; b < x->blocks; b++)
		if (pread(x->fd, x->first[b], LOSSFMT_ID_LEN,
			  (off_t)(HDR + (uint64_t)b * LOSSIDX_BLOCK * REC)) != LOSSFMT_ID_LEN)
			return fail(x, err, errlen, path, "cannot read");
	*out = x;
	return 0;
}

void lossidx_close(struct lossidx *x)
{
	if (!x)
		return;
	if (x->fd >= 0)
		close(x->fd);
	free(x->first);
	free(x);
}

int lossidx_lookup(const struct lossidx *x, const uint8_t id[LOSSFMT_ID_LEN], struct loss_rec *r)
{
	uint8_t buf[REC * LOSSIDX_BLOCK];
	if (!x->blocks)
		return 0;
	/* the last block whose first id <= id */
	size_t lo = 0, hi = x->blocks;
	while (hi - lo > 1) {
		size_t mid = (lo + hi) / 2;
		if (memcmp(x->first[mid], id, LOSSFMT_ID_LEN) <= 0)
			lo = mid;
		else
			hi = mid;
	}
	if (memcmp(x->first[lo], id, LOSSFMT_ID_LEN) > 0)
		return 0;
	uint64_t start = (uint64_t)lo * LOSSIDX_BLOCK;
	size_t m = (size_t)(x->count - start < LOSSIDX_BLOCK ? x->count - start : LOSSIDX_BLOCK);
	if (pread(x->fd, buf, m * REC, (off_t)(HDR + start * REC)) != (ssize_t)(m * REC))
		return -1;
	size_t a = 0, b = m;
	while (a < b) {
		size_t mid = (a + b) / 2;
		int c = memcmp(buf + mid * REC, id, LOSSFMT_ID_LEN);
		if (!c) {
			memcpy(r->id, id, LOSSFMT_ID_LEN);
			r->state = buf[mid * REC + 16];
			r->day = (uint16_t)(buf[mid * REC + 17] << 8 | buf[mid * REC + 18]);
			return 1;
		}
		if (c < 0)
			a = mid + 1;
		else
			b = mid;
	}
	return 0;
}

uint64_t lossidx_version(const struct lossidx *x)
{
	return x->version;
}

uint64_t lossidx_count(const struct lossidx *x)
{
	return x->count;
}

size_t lossidx_ram(const struct lossidx *x)
{
	return sizeof *x + x->blocks * sizeof *x->first;
}
