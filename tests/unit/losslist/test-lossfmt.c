/* test-lossfmt.c — the loss list publication format: round trips, and
 * truncated, garbled, reordered and forged files rejected. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "daemon/losslist/lossfmt.h"

static int cmp_rec(const void *a, const void *b)
{
	return memcmp(((const struct loss_rec *)a)->id, ((const struct loss_rec *)b)->id,
		      LOSSFMT_ID_LEN);
}

/* n records over a few regions with random 64-bit suffixes, sorted, unique */
static struct loss_rec *make(size_t n, unsigned seed)
{
	static const char *const regions[] = {"639900", "110105", "440306", "650102"};
	struct loss_rec *r = calloc(n, sizeof *r);
	srand(seed);
	for (size_t i = 0; i < n; i++) {
		const char *g = regions[(size_t)rand() % 4];
		for (int j = 0; j < 3; j++)
			r[i].id[j] = (uint8_t)((g[2 * j] - '0') << 4 | (g[2 * j + 1] - '0'));
		memcpy(r[i].id + 3, "\xD1\x56\x00\x00\x05", 5);
		for (int j = 8; j < 16; j++)
			r[i].id[j] = (uint8_t)rand();
		r[i].state = (uint8_t)(1 + rand() % 3);
		r[i].day = (uint16_t)(18000 + rand() % 3650);
	}
	qsort(r, n, sizeof *r, cmp_rec);
	size_t u = 0;
	for (size_t i = 0; i < n; i++)
		if (!u || memcmp(r[u - 1].id, r[i].id, LOSSFMT_ID_LEN))
			r[u++] = r[i];
	return r;
}

struct collect {
	struct loss_rec *r;
	size_t n, cap;
};

static int collect(void *arg, const struct loss_rec *rec)
{
	struct collect *c = arg;
	if (c->n == c->cap)
		return 7;
	c->r[c->n++] = *rec;
	return 0;
}

static void same(const struct loss_rec *a, const struct loss_rec *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		assert_memory_equal(a[i].id, b[i].id, LOSSFMT_ID_LEN);
		assert_int_equal(a[i].state, b[i].state);
		assert_int_equal(a[i].day, b[i].day);
	}
}

static void test_round_trip(void **s)
{
	size_t n = 20000;
	struct loss_rec *r = make(n, 1);
	uint8_t *buf;
	size_t len;
	struct lossfmt_stats st;
	struct lossfmt_file f;
	char err[256];
	assert_int_equal(lossfmt_encode(r, n, 0, 42, 1795000000, &buf, &len, &st), 0);
	assert_int_equal(st.groups, 4);
	/* 20 000 random 64-bit suffixes in 4 groups: entropy ≈ 64 - log2(5000) + 1.44 ≈ 53.2 bits */
	double per = (double)st.id_bytes / (double)n;
	print_message("ids %.2f B/entry, attributes %.2f B/entry, file %zu B\n", per,
		      (double)st.attr_bytes / (double)n, len);
	assert_true(per < 7.0);
	struct collect c = {calloc(n, sizeof *r), 0, n};
	assert_int_equal(lossfmt_decode(buf, len, &f, collect, &c, err, sizeof err), 0);
	assert_false(f.delta);
	assert_int_equal(f.version, 42);
	assert_int_equal(f.published, 1795000000);
	assert_int_equal(f.count, n);
	assert_int_equal(c.n, n);
	same(c.r, r, n);
	/* a callback can stop the walk */
	c.n = 0;
	c.cap = 10;
	assert_int_equal(lossfmt_decode(buf, len, &f, collect, &c, err, sizeof err), 7);
	free(c.r);
	free(buf);
	free(r);
}

static void test_edges_and_deltas(void **s)
{
	struct loss_rec r[3] = {0};
	uint8_t *buf;
	size_t len;
	struct lossfmt_file f;
	char err[256];
	/* extreme suffixes: 0 and all ones, one group */
	memset(r[1].id + 8, 0xFF, 8);
	r[0].state = r[1].state = 1;
	assert_int_equal(lossfmt_encode(r, 2, 0, 1, 1, &buf, &len, NULL), 0);
	struct collect c = {calloc(2, sizeof *r), 0, 2};
	assert_int_equal(lossfmt_decode(buf, len, &f, collect, &c, err, sizeof err), 0);
	same(c.r, r, 2);
	free(buf);
	/* an empty snapshot is valid */
	assert_int_equal(lossfmt_encode(r, 0, 0, 5, 1, &buf, &len, NULL), 0);
	assert_int_equal(lossfmt_decode(buf, len, &f, NULL, NULL, err, sizeof err), 0);
	assert_int_equal(f.count, 0);
	free(buf);
	/* deltas may take cards off the list (state 0); snapshots may not */
	r[0].state = 0;
	assert_int_equal(lossfmt_encode(r, 2, 0, 5, 1, &buf, &len, NULL), -1);
	assert_int_equal(lossfmt_encode(r, 2, 4, 5, 1, &buf, &len, NULL), 0);
	c.n = 0;
	assert_int_equal(lossfmt_decode(buf, len, &f, collect, &c, err, sizeof err), 0);
	assert_true(f.delta);
	assert_int_equal(f.base, 4);
	assert_int_equal(c.r[0].state, 0);
	free(buf);
	/* unsorted or duplicate input is refused */
	r[2] = r[1];
	assert_int_equal(lossfmt_encode(r, 3, 0, 5, 1, &buf, &len, NULL), -1);
	free(c.r);
}

static void expect_bad(const uint8_t *b, size_t n, const char *why)
{
	struct lossfmt_file f;
	char err[256] = "";
	assert_int_equal(lossfmt_decode(b, n, &f, NULL, NULL, err, sizeof err), -1);
	if (!strstr(err, why))
		fail_msg("error '%s' does not say '%s'", err, why);
}

static void test_garbage_rejected(void **s)
{
	size_t n = 300;
	struct loss_rec *r = make(n, 2);
	uint8_t *buf;
	size_t len;
	assert_int_equal(lossfmt_encode(r, n, 0, 9, 1, &buf, &len, NULL), 0);
	/* every truncation is refused, never read past the end (ASan) */
	for (size_t cut = 0; cut < len; cut++) {
		uint8_t *t = malloc(cut ? cut : 1);
		memcpy(t, buf, cut);
		struct lossfmt_file f;
		char err[256];
		assert_int_equal(lossfmt_decode(t, cut, &f, NULL, NULL, err, sizeof err), -1);
		free(t);
	}
	uint8_t *t = malloc(len + 1);
	memcpy(t, buf, len);
	t[len] = 0;
	expect_bad(t, len + 1, "after the last group");
	memcpy(t, "SSLSNAPX", 8);
	expect_bad(t, len, "not a loss list");
	memcpy(t, buf, len);
	t[43] ^= 1; /* group count */
	expect_bad(t, len, "");
	memcpy(t, buf, len);
	t[39] ^= 1; /* record count */
	expect_bad(t, len, "");
	/* flipping any single byte never crashes; most are caught */
	size_t caught = 0;
	for (size_t i = 0; i < len; i++) {
		memcpy(t, buf, len);
		t[i] ^= 0x5A;
		struct lossfmt_file f;
		char err[256];
		caught += lossfmt_decode(t, len, &f, NULL, NULL, err, sizeof err) != 0;
	}
	print_message("single-byte damage caught by the decoder: %zu of %zu (the head's hash catches the rest)\n",
		      caught, len);
	free(t);
	free(buf);
	free(r);
}

static void test_head(void **s)
{
	uint8_t pk[LOSSFMT_PK_LEN], sk[LOSSFMT_SK_LEN], pk2[LOSSFMT_PK_LEN], sk2[LOSSFMT_SK_LEN];
	assert_true(sodium_init() >= 0);
	crypto_sign_keypair(pk, sk);
	crypto_sign_keypair(pk2, sk2);
	struct lossfmt_head h = {.version = 123, .published = 1795000000, .snapshot_size = 5300},
			    got;
	strcpy(h.snapshot, "snapshot-123.bin");
	lossfmt_hash((const uint8_t *)"abc", 3, h.snapshot_hash);
	h.n_delta = LOSSFMT_MAX_DELTAS; /* the longest chain fits the head */
	for (unsigned k = 0; k < h.n_delta; k++) {
		h.delta[k].base = 123 - h.n_delta + k;
		snprintf(h.delta[k].name, sizeof h.delta[k].name, "delta-%u-%u.bin",
			 (unsigned)h.delta[k].base, (unsigned)h.delta[k].base + 1);
		h.delta[k].size = 77 + k;
		lossfmt_hash((const uint8_t *)&k, sizeof k, h.delta[k].hash);
	}
	char *text, err[256];
	size_t len;
	assert_int_equal(lossfmt_head_write(&h, sk, &text, &len), 0);
	assert_int_equal(lossfmt_head_read(text, len, pk, &got, err, sizeof err), 0);
	assert_int_equal(got.version, 123);
	assert_int_equal(got.published, 1795000000);
	assert_string_equal(got.snapshot, "snapshot-123.bin");
	assert_memory_equal(got.snapshot_hash, h.snapshot_hash, LOSSFMT_HASH_LEN);
	assert_int_equal(got.n_delta, LOSSFMT_MAX_DELTAS);
	assert_string_equal(got.delta[LOSSFMT_MAX_DELTAS - 1].name, "delta-122-123.bin");
	assert_int_equal(got.delta[0].base, 123 - LOSSFMT_MAX_DELTAS);
	assert_int_equal(got.delta[3].size, 80);
	assert_memory_equal(got.delta[5].hash, h.delta[5].hash, LOSSFMT_HASH_LEN);
	free(text);
	/* a chain that does not end at the version is not written */
	h.delta[h.n_delta - 1].base = 200;
	assert_int_equal(lossfmt_head_write(&h, sk, &text, &len), -1);
	h.delta[h.n_delta - 1].base = 122;
	h.n_delta = 2;
	h.delta[0] = h.delta[LOSSFMT_MAX_DELTAS - 2];
	h.delta[1] = h.delta[LOSSFMT_MAX_DELTAS - 1];
	assert_int_equal(lossfmt_head_write(&h, sk, &text, &len), 0);
	assert_int_equal(lossfmt_head_read(text, len, pk, &got, err, sizeof err), 0);
	assert_int_equal(got.n_delta, 2);
	/* another key, or any changed byte: refused */
	assert_int_equal(lossfmt_head_read(text, len, pk2, &got, err, sizeof err), -1);
	assert_non_null(strstr(err, "signature"));
	char *bent = strdup(text);
	bent[strstr(bent, "123") - bent] = '9'; /* version 923 */
	assert_int_equal(lossfmt_head_read(bent, len, pk, &got, err, sizeof err), -1);
	assert_non_null(strstr(err, "forged"));
	free(bent);
	for (size_t cut = 0; cut < len; cut++)
		assert_int_equal(lossfmt_head_read(text, cut, pk, &got, err, sizeof err), -1);
	free(text);
	/* a validly signed head with a name that could escape the directory */
	strcpy(h.snapshot, "../etc/passwd");
	assert_int_equal(lossfmt_head_write(&h, sk, &text, &len), 0);
	assert_int_equal(lossfmt_head_read(text, len, pk, &got, err, sizeof err), -1);
	assert_non_null(strstr(err, "line it should not"));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_edges_and_deltas),
		cmocka_unit_test(test_garbage_rejected),
		cmocka_unit_test(test_head),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
