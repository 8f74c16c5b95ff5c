/* lossidx.c — sorted record file + sparse in-memory index. */
#include "lossidx.h"

#include <errno.h>
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

int lossidx_write(const char *path, const struct loss_rec *r, size_t n, uint64_t version)
{
	char tmp[512];
	uint8_t hdr[HDR] = {0}, buf[REC * LOSSIDX_BLOCK];
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	FILE *f = fopen(tmp, "wb");
	if (!f)
		return -1;
	memcpy(hdr, MAGIC, 8);
	put64(hdr + 8, version);
	put64(hdr + 16, n);
	bool ok = fwrite(hdr, 1, HDR, f) == HDR;
	for (size_t i = 0; ok && i < n; i += LOSSIDX_BLOCK) {
		size_t m = n - i < LOSSIDX_BLOCK ? n - i : LOSSIDX_BLOCK;
		for (size_t j = 0; j < m; j++) {
			const struct loss_rec *e = &r[i + j];
			if (i + j && memcmp(r[i + j - 1].id, e->id, LOSSFMT_ID_LEN) >= 0)
				ok = false;
			memcpy(buf + j * REC, e->id, LOSSFMT_ID_LEN);
			buf[j * REC + 16] = e->state;
			buf[j * REC + 17] = (uint8_t)(e->day >> 8);
			buf[j * REC + 18] = (uint8_t)e->day;
		}
		ok = ok && fwrite(buf, REC, m, f) == m;
	}
	ok = fflush(f) == 0 && fsync(fileno(f)) == 0 && ok;
	ok = fclose(f) == 0 && ok;
	if (!ok || rename(tmp, path)) {
		unlink(tmp);
		return -1;
	}
	return 0;
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

uint64_t lossidx_count(const struct lossidx *x)
{
	return x->count;
}

size_t lossidx_ram(const struct lossidx *x)
{
	return sizeof *x + x->blocks * sizeof *x->first;
}
