/* lossfmt.c — loss list publication format: Rice-coded snapshots/deltas
 * and the Ed25519-signed head. No I/O. */
#include "daemon/losslist/lossfmt.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char MAGIC_SNAP[8] = "SSLSNAP1", MAGIC_DELTA[8] = "SSLDELT1";
#define HDR_LEN 44
#define GROUP_HDR_LEN 21
#define ATTR_BITS 18 /* 2 state + 16 day */

/* ---- bits ----------------------------------------------------------------- */

struct wbuf {
	uint8_t *b;
	size_t len, cap, bits; /* bits: used in the stream being written */
	bool oom;
};

static void reserve(struct wbuf *w, size_t more)
{
	if (w->oom || w->len + more <= w->cap)
		return;
	size_t cap = w->cap ? w->cap : 4096;
	while (cap < w->len + more)
		cap *= 2;
	uint8_t *n = realloc(w->b, cap);
	if (!n) {
		w->oom = true;
		return;
	}
	w->b = n;
	w->cap = cap;
}

static void put_bytes(struct wbuf *w, const void *p, size_t n)
{
	reserve(w, n);
	if (w->oom)
		return;
	memcpy(w->b + w->len, p, n);
	w->len += n;
}

static void put_be(struct wbuf *w, uint64_t v, int bytes)
{
	uint8_t t[8];
	for (int i = 0; i < bytes; i++)
		t[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
	put_bytes(w, t, (size_t)bytes);
}

/* Bit streams start on a byte boundary: w->bits counts bits in the current
 * stream, whose first byte is at w->len - ceil(bits / 8). */
static void put_bit(struct wbuf *w, unsigned bit)
{
	if (w->bits % 8 == 0) {
		reserve(w, 1);
		if (w->oom)
			return;
		w->b[w->len++] = 0;
	}
	if (bit)
		w->b[w->len - 1] |= (uint8_t)(0x80 >> (w->bits % 8));
	w->bits++;
}

static void put_bits(struct wbuf *w, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--)
		put_bit(w, (unsigned)(v >> i) & 1);
}

struct rbuf {
	const uint8_t *b;
	size_t len, bit; /* bit position within [b, b + len) */
};

static int get_bit(struct rbuf *r)
{
	if (r->bit >= r->len * 8)
		return -1;
	int v = (r->b[r->bit / 8] >> (7 - r->bit % 8)) & 1;
	r->bit++;
	return v;
}

static bool get_bits(struct rbuf *r, int n, uint64_t *v)
{
	*v = 0;
	if (r->bit + (size_t)n > r->len * 8)
		return false;
	for (int i = 0; i < n; i++)
		*v = *v << 1 | (uint64_t)get_bit(r);
	return true;
}

static uint64_t be(const uint8_t *p, int bytes)
{
	uint64_t v = 0;
	for (int i = 0; i < bytes; i++)
		v = v << 8 | p[i];
	return v;
}

static uint64_t suffix(const struct loss_rec *r)
{
	return be(r->id + 8, 8);
}

/* ---- encode --------------------------------------------------------------- */

int lossfmt_encode(const struct loss_rec *r, size_t n, uint64_t base, uint64_t version,
		   int64_t published, uint8_t **out, size_t *out_len, struct lossfmt_stats *st)
{
	struct wbuf w = {0};
	struct lossfmt_stats s = {0};
	bool delta = base != 0;
	size_t groups = 0;

	for (size_t i = 0; i < n; i++) {
		if (i && memcmp(r[i - 1].id, r[i].id, LOSSFMT_ID_LEN) >= 0)
			return -1; /* not sorted, or a duplicate */
		if (r[i].state > 3 || (!delta && r[i].state == 0))
			return -1;
		if (!i || memcmp(r[i - 1].id, r[i].id, 8))
			groups++;
	}
	put_bytes(&w, delta ? MAGIC_DELTA : MAGIC_SNAP, 8);
	put_be(&w, base, 8);
	put_be(&w, version, 8);
	put_be(&w, (uint64_t)published, 8);
	put_be(&w, n, 8);
	put_be(&w, groups, 4);
	for (size_t g = 0; g < n;) {
		size_t e = g + 1;
		while (e < n && !memcmp(r[g].id, r[e].id, 8))
			e++;
		size_t cnt = e - g;
		/* Rice parameter: floor(log2(mean gap)) */
		uint64_t mean = suffix(&r[e - 1]) / cnt;
		int k = mean >= 2 ? 63 - __builtin_clzll(mean) : 0;
		put_bytes(&w, r[g].id, 8);
		put_be(&w, cnt, 4);
		put_be(&w, (uint64_t)k, 1);
		size_t lens_at = w.len;
		put_be(&w, 0, 4); /* id stream length, patched below */
		put_be(&w, 0, 4); /* attribute stream length */
		size_t start = w.len;
		w.bits = 0;
		uint64_t prev = 0;
		for (size_t i = g; i < e; i++) {
			uint64_t sfx = suffix(&r[i]), gap = i == g ? sfx : sfx - prev - 1;
			for (uint64_t q = gap >> k; q; q--)
				put_bit(&w, 1);
			put_bit(&w, 0);
			put_bits(&w, gap, k);
			prev = sfx;
		}
		size_t id_len = w.len - start;
		start = w.len;
		w.bits = 0;
		for (size_t i = g; i < e; i++) {
			put_bits(&w, r[i].state, 2);
			put_bits(&w, r[i].day, 16);
		}
		size_t attr_len = w.len - start;
		if (!w.oom) {
			for (int b = 0; b < 4; b++) {
				w.b[lens_at + (size_t)b] = (uint8_t)(id_len >> (24 - 8 * b));
				w.b[lens_at + 4 + (size_t)b] = (uint8_t)(attr_len >> (24 - 8 * b));
			}
		}
		s.id_bytes += id_len;
		s.attr_bytes += attr_len;
		g = e;
	}
	if (w.oom) {
		free(w.b);
		return -1;
	}
	s.groups = groups;
	if (st)
		*st = s;
	*out = w.b;
	*out_len = w.len;
	return 0;
}

/* ---- decode --------------------------------------------------------------- */

__attribute__((format(printf, 3, 4))) static int bad(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

int lossfmt_decode(const uint8_t *buf, size_t len, struct lossfmt_file *f,
		   int (*fn)(void *arg, const struct loss_rec *r), void *arg, char *err,
		   size_t errlen)
{
	memset(f, 0, sizeof *f);
	if (len < HDR_LEN)
		return bad(err, errlen, "truncated: %zu bytes, not even a header", len);
	if (!memcmp(buf, MAGIC_DELTA, 8))
		f->delta = true;
	else if (memcmp(buf, MAGIC_SNAP, 8))
		return bad(err, errlen, "not a loss list snapshot or delta");
	f->base = be(buf + 8, 8);
	f->version = be(buf + 16, 8);
	f->published = (int64_t)be(buf + 24, 8);
	f->count = be(buf + 32, 8);
	uint64_t groups = be(buf + 40, 4), seen = 0;
	if (f->delta ? (f->base == 0 || f->version <= f->base) : f->base != 0)
		return bad(err, errlen, "versions %llu → %llu make no sense",
			   (unsigned long long)f->base, (unsigned long long)f->version);
	size_t at = HDR_LEN;
	uint8_t prev_key[8];
	for (uint64_t g = 0; g < groups; g++) {
		if (len - at < GROUP_HDR_LEN)
			return bad(err, errlen, "truncated in group %llu", (unsigned long long)g);
		const uint8_t *h = buf + at;
		if (g && memcmp(prev_key, h, 8) >= 0)
			return bad(err, errlen, "groups out of order");
		memcpy(prev_key, h, 8);
		uint64_t cnt = be(h + 8, 4), k = h[12], id_len = be(h + 13, 4), attr_len = be(h + 17, 4);
		at += GROUP_HDR_LEN;
		if (!cnt || k > 63 || cnt > f->count - seen)
			return bad(err, errlen, "group %llu: bad count or parameter", (unsigned long long)g);
		if (id_len > len - at || attr_len > len - at - id_len)
			return bad(err, errlen, "truncated in group %llu", (unsigned long long)g);
		if (attr_len != (cnt * ATTR_BITS + 7) / 8)
			return bad(err, errlen, "group %llu: attribute stream of the wrong size",
				   (unsigned long long)g);
		struct rbuf ids = {buf + at, id_len, 0}, attrs = {buf + at + id_len, attr_len, 0};
		struct loss_rec rec;
		memcpy(rec.id, h, 8);
		uint64_t prev = 0;
		for (uint64_t i = 0; i < cnt; i++) {
			uint64_t q = 0, low, gap, sfx;
			int b;
			while ((b = get_bit(&ids)) == 1)
				if (++q > (UINT64_MAX >> k))
					return bad(err, errlen, "group %llu: a gap out of range",
						   (unsigned long long)g);
			if (b < 0 || !get_bits(&ids, (int)k, &low))
				return bad(err, errlen, "group %llu: identifier stream ends early",
					   (unsigned long long)g);
			gap = q << k | low;
			if (i == 0)
				sfx = gap;
			else if (gap >= UINT64_MAX - prev)
				return bad(err, errlen, "group %llu: identifiers overflow",
					   (unsigned long long)g);
			else
				sfx = prev + 1 + gap;
			prev = sfx;
			for (int j = 0; j < 8; j++)
				rec.id[8 + j] = (uint8_t)(sfx >> (56 - 8 * j));
			uint64_t state, day;
			get_bits(&attrs, 2, &state); /* sizes checked above */
			get_bits(&attrs, 16, &day);
			if (!f->delta && state == 0)
				return bad(err, errlen, "a snapshot record without a loss state");
			rec.state = (uint8_t)state;
			rec.day = (uint16_t)day;
			if (fn) {
				int rv = fn(arg, &rec);
				if (rv)
					return rv;
			}
		}
		if ((ids.bit + 7) / 8 != id_len)
			return bad(err, errlen, "group %llu: identifier stream has extra bytes",
				   (unsigned long long)g);
		seen += cnt;
		at += id_len + attr_len;
	}
	if (seen != f->count)
		return bad(err, errlen, "header says %llu records, groups hold %llu",
			   (unsigned long long)f->count, (unsigned long long)seen);
	if (at != len)
		return bad(err, errlen, "%zu bytes after the last group", len - at);
	return 0;
}

/* ---- head ----------------------------------------------------------------- */

void lossfmt_hash(const uint8_t *b, size_t n, uint8_t out[LOSSFMT_HASH_LEN])
{
	crypto_hash_sha256(out, b, n);
}

static void hexs(const uint8_t *b, size_t n, char *out)
{
	sodium_bin2hex(out, n * 2 + 1, b, n);
}

int lossfmt_head_write(const struct lossfmt_head *h, const uint8_t sk[LOSSFMT_SK_LEN],
		       char **out, size_t *out_len)
{
	char hs[LOSSFMT_HASH_LEN * 2 + 1], hd[LOSSFMT_HASH_LEN * 2 + 1];
	char body[LOSSFMT_HEAD_MAX], sigx[LOSSFMT_SIG_LEN * 2 + 1];
	uint8_t sig[LOSSFMT_SIG_LEN];
	if (sodium_init() < 0 || h->n_delta > LOSSFMT_MAX_DELTAS)
		return -1;
	hexs(h->snapshot_hash, LOSSFMT_HASH_LEN, hs);
	int n = snprintf(body, sizeof body,
			 "sscard-loss-head 1\nversion %llu\npublished %lld\nsnapshot %s %s %llu\n",
			 (unsigned long long)h->version, (long long)h->published, h->snapshot, hs,
			 (unsigned long long)h->snapshot_size);
	for (unsigned i = 0; i < h->n_delta && n > 0 && (size_t)n < sizeof body; i++) {
		const struct lossfmt_delta *d = &h->delta[i];
		if (d->base + h->n_delta - i != h->version)
			return -1; /* not a chain ending at the head's version */
		hexs(d->hash, LOSSFMT_HASH_LEN, hd);
		n += snprintf(body + n, sizeof body - (size_t)n, "delta %llu %s %s %llu\n",
			      (unsigned long long)d->base, d->name, hd, (unsigned long long)d->size);
	}
	if (n < 0 || (size_t)n + 4 + sizeof sigx >= sizeof body)
		return -1;
	crypto_sign_detached(sig, NULL, (const uint8_t *)body, (size_t)n, sk);
	hexs(sig, sizeof sig, sigx);
	size_t total = (size_t)n + 4 + sizeof sigx;
	*out = malloc(total + 1);
	if (!*out)
		return -1;
	*out_len = (size_t)snprintf(*out, total + 1, "%ssig %s\n", body, sigx);
	return 0;
}

static bool name_ok(const char *s)
{
	size_t n = strlen(s);
	return n && n < LOSSFMT_NAME_MAX && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-_.") == n &&
	       s[0] != '.';
}

static bool hash_ok(const char *hex, uint8_t out[LOSSFMT_HASH_LEN])
{
	size_t got = 0;
	return strlen(hex) == LOSSFMT_HASH_LEN * 2 &&
	       sodium_hex2bin(out, LOSSFMT_HASH_LEN, hex, strlen(hex), NULL, &got, NULL) == 0 &&
	       got == LOSSFMT_HASH_LEN;
}

int lossfmt_head_read(const char *text, size_t len, const uint8_t pk[LOSSFMT_PK_LEN],
		      struct lossfmt_head *h, char *err, size_t errlen)
{
	uint8_t sig[LOSSFMT_SIG_LEN];
	size_t got = 0;
	memset(h, 0, sizeof *h);
	if (sodium_init() < 0)
		return bad(err, errlen, "libsodium did not start");
	if (len > LOSSFMT_HEAD_MAX || memchr(text, 0, len))
		return bad(err, errlen, "not a head: too long or binary");
	/* the signature line is the last line; it signs every byte before it */
	const char *s = NULL;
	for (size_t i = len; i-- > 0;)
		if ((i == 0 || text[i - 1] == '\n') && len - i >= 4 && !memcmp(text + i, "sig ", 4)) {
			s = text + i;
			break;
		}
	if (!s || len - (size_t)(s - text) != 4 + LOSSFMT_SIG_LEN * 2 + 1 || text[len - 1] != '\n' ||
	    sodium_hex2bin(sig, sizeof sig, s + 4, LOSSFMT_SIG_LEN * 2, NULL, &got, NULL) ||
	    got != sizeof sig)
		return bad(err, errlen, "the head has no signature line");
	size_t body = (size_t)(s - text);
	if (crypto_sign_verify_detached(sig, (const uint8_t *)text, body, pk) != 0)
		return bad(err, errlen, "the head's signature is not the central's (forged or damaged)");
	/* signed: now parse, still strictly */
	char copy[LOSSFMT_HEAD_MAX + 1], *save, *line;
	memcpy(copy, text, body);
	copy[body] = 0;
	int have = 0;
	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char a[LOSSFMT_NAME_MAX + 8], b[80];
		unsigned long long u, v;
		long long t;
		char tail;
		if (!have) {
			if (strcmp(line, "sscard-loss-head 1"))
				return bad(err, errlen, "not a version 1 head");
		} else if (sscanf(line, "version %llu %c", &u, &tail) == 1 && u)
			h->version = u, have |= 2;
		else if (sscanf(line, "published %lld %c", &t, &tail) == 1 && t > 0)
			h->published = t, have |= 4;
		else if (sscanf(line, "snapshot %71s %79s %llu %c", a, b, &u, &tail) == 3 &&
			 name_ok(a) && hash_ok(b, h->snapshot_hash)) {
			strcpy(h->snapshot, a);
			h->snapshot_size = u;
			have |= 8;
		} else if (sscanf(line, "delta %llu %71s %79s %llu %c", &v, a, b, &u, &tail) == 4 &&
			   name_ok(a)) {
			struct lossfmt_delta *d = &h->delta[h->n_delta];
			if (h->n_delta == LOSSFMT_MAX_DELTAS)
				return bad(err, errlen, "the head lists more than %d deltas",
					   LOSSFMT_MAX_DELTAS);
			if (!hash_ok(b, d->hash))
				return bad(err, errlen, "the head has a bad hash: '%.40s'", line);
			if (h->n_delta && v != h->delta[h->n_delta - 1].base + 1)
				return bad(err, errlen, "the head's deltas are not a chain");
			strcpy(d->name, a);
			d->base = v;
			d->size = u;
			h->n_delta++;
		} else
			return bad(err, errlen, "the head has a line it should not: '%.40s'", line);
		have |= 1;
	}
	if (have != 15)
		return bad(err, errlen, "the head lacks version, published or snapshot");
	if (h->n_delta && h->delta[h->n_delta - 1].base + 1 != h->version)
		return bad(err, errlen, "the deltas do not lead to the head's version");
	return 0;
}
