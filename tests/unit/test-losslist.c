/* test-losslist.c — the loss list store over a real SQLite file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "../../daemon/losslist.h"

static char dir[64], path[128];

static int setup(void **s)
{
	strcpy(dir, "/tmp/sscard-ll-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof path, "%s/" LOSSLIST_FILE, dir);
	return 0;
}

static int teardown(void **s)
{
	char cmd[200];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd);
}

static void test_ids(void **s)
{
	uint8_t id[LOSS_ID_LEN];
	assert_true(loss_id_parse("639900D15600000500BF7C7A48FB4966", id));
	assert_int_equal(id[0], 0x63);
	assert_int_equal(id[15], 0x66);
	assert_true(loss_id_parse("639900d15600000500bf7c7a48fb4966", id));
	assert_false(loss_id_parse("639900D15600000500BF7C7A48FB496", id));   /* 31 digits */
	assert_false(loss_id_parse("639900D15600000500BF7C7A48FB49666", id)); /* 33 */
	assert_false(loss_id_parse("639900D15600000500BF7C7A48FB49 6", id));  /* a space */
	assert_false(loss_id_parse("639900D15600000500BF7C7A48FB496G", id));
	assert_false(loss_id_parse(NULL, id));
	assert_string_equal(loss_state_name(LOSS_FORMAL), "formal");
	assert_string_equal(loss_state_name((enum loss_state)9), "none");
}

static void test_store(void **s)
{
	struct losslist *w, *r;
	struct loss_entry e;
	struct loss_info i;
	char err[256];
	uint8_t a[LOSS_ID_LEN], b[LOSS_ID_LEN];
	loss_id_parse("639900D15600000500BF7C7A48FB4966", a);
	loss_id_parse("639900D156000005001122334455667A", b);

	/* a read-only open of a list that does not exist yet fails plainly */
	assert_int_equal(losslist_open(path, false, &r, err, sizeof err), -1);
	assert_non_null(strstr(err, path));

	assert_int_equal(losslist_open(path, true, &w, err, sizeof err), 0);
	assert_int_equal(losslist_info(w, &i), 0);
	assert_int_equal(i.version, 0);
	assert_int_equal(i.entries, 0);
	assert_int_equal(losslist_lookup(w, a, &e), 0);

	assert_int_equal(losslist_put(w, a, LOSS_TEMPORARY, 1795000000, 0), 0);
	assert_int_equal(losslist_put(w, a, LOSS_FORMAL, 1795000100, 0), 0); /* upgraded */
	assert_int_equal(losslist_put(w, b, LOSS_NONE, 1, 0), -1);            /* not a loss */

	/* another connection (a worker's, read-only) sees it at once */
	assert_int_equal(losslist_open(path, false, &r, err, sizeof err), 0);
	assert_int_equal(losslist_lookup(r, a, &e), 1);
	assert_int_equal(e.state, LOSS_FORMAL);
	assert_int_equal(e.since, 1795000100);
	assert_int_equal(losslist_lookup(r, b, &e), 0);
	assert_int_equal(e.state, LOSS_NONE);
	assert_int_equal(losslist_put(r, b, LOSS_FORMAL, 1, 0), -1); /* read-only */
	assert_int_equal(losslist_info(r, &i), 0);
	assert_int_equal(i.entries, 1);
	losslist_close(r);
	losslist_close(w);

	/* a file that is not a database: open fails with a sentence, no crash */
	FILE *f = fopen(path, "w");
	fputs("this is not sqlite", f);
	fclose(f);
	char wal[160];
	snprintf(wal, sizeof wal, "%s-wal", path);
	unlink(wal);
	snprintf(wal, sizeof wal, "%s-shm", path);
	unlink(wal);
	assert_int_equal(losslist_open(path, true, &w, err, sizeof err), -1);
	assert_non_null(strstr(err, "not a database"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ids),
		cmocka_unit_test_setup_teardown(test_store, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
