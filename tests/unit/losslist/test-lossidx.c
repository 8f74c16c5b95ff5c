/* test-lossidx.c — sorted loss list file with a sparse in-memory index. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon/losslist/lossidx.h"

static void id_of(uint32_t i, uint8_t id[LOSSFMT_ID_LEN])
{
	memset(id, 0, LOSSFMT_ID_LEN);
	id[0] = 0x63;
	for (int j = 0; j < 4; j++)
		id[12 + j] = (uint8_t)((i * 2 + 2) >> (24 - 8 * j)); /* even serials 2, 4, … */
}

static void test_lookups(void **s)
{
	char dir[] = "/tmp/sscard-idx-XXXXXX", path[64], err[256];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/l.idx", dir);
	for (size_t n = 0; n <= 3 * LOSSIDX_BLOCK + 1; n += n < 3 ? 1 : LOSSIDX_BLOCK - 1) {
		struct loss_rec *r = calloc(n + 1, sizeof *r);
		for (size_t i = 0; i < n; i++) {
			id_of((uint32_t)i, r[i].id);
			r[i].state = (uint8_t)(1 + i % 3);
			r[i].day = (uint16_t)(19000 + i);
		}
		assert_int_equal(lossidx_write(path, r, n, 5), 0);
		struct lossidx *x;
		assert_int_equal(lossidx_open(path, &x, err, sizeof err), 0);
		assert_int_equal(lossidx_count(x), n);
		struct loss_rec got;
		for (size_t i = 0; i < n; i++) {
			assert_int_equal(lossidx_lookup(x, r[i].id, &got), 1);
			assert_int_equal(got.state, r[i].state);
			assert_int_equal(got.day, r[i].day);
			uint8_t odd[LOSSFMT_ID_LEN];
			memcpy(odd, r[i].id, LOSSFMT_ID_LEN);
			odd[15] |= 1; /* between two listed ids */
			assert_int_equal(lossidx_lookup(x, odd, &got), 0);
		}
		uint8_t low[LOSSFMT_ID_LEN] = {0}, high[LOSSFMT_ID_LEN];
		memset(high, 0xFF, sizeof high);
		assert_int_equal(lossidx_lookup(x, low, &got), 0);
		assert_int_equal(lossidx_lookup(x, high, &got), 0);
		lossidx_close(x);
		free(r);
	}
	/* unsorted input is refused and leaves no file behind */
	struct loss_rec two[2] = {0};
	id_of(1, two[0].id);
	id_of(0, two[1].id);
	unlink(path);
	assert_int_equal(lossidx_write(path, two, 2, 1), -1);
	assert_int_equal(access(path, F_OK), -1);
	/* a truncated or foreign file is refused plainly */
	assert_int_equal(lossidx_write(path, two + 1, 1, 1), 0);
	assert_int_equal(truncate(path, 40), 0);
	struct lossidx *x;
	assert_int_equal(lossidx_open(path, &x, err, sizeof err), -1);
	assert_non_null(strstr(err, "wrong size"));
	FILE *f = fopen(path, "w");
	fputs("hello", f);
	fclose(f);
	assert_int_equal(lossidx_open(path, &x, err, sizeof err), -1);
	assert_non_null(strstr(err, "not a loss list index"));
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_lookups)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
