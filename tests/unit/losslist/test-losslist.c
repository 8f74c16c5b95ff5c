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

#include "daemon/losslist/losslist.h"

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
	assert_int_equal(losslist_lookup(w, a, &e, NULL), 0);

	assert_int_equal(losslist_put(w, a, LOSS_TEMPORARY, 1795000000), 0);
	assert_int_equal(losslist_put(w, a, LOSS_FORMAL, 1795000100), 0); /* upgraded */
	assert_int_equal(losslist_put(w, b, LOSS_NONE, 1), -1);            /* not a loss */

	/* another connection (a worker's, read-only) sees it at once */
	assert_int_equal(losslist_open(path, false, &r, err, sizeof err), 0);
	assert_int_equal(losslist_lookup(r, a, &e, &i), 1);
	assert_int_equal(e.state, LOSS_FORMAL);
	assert_int_equal(e.since, 1795000100);
	assert_int_equal(e.version, 0);
	assert_int_equal(losslist_lookup(r, b, &e, NULL), 0);
	assert_int_equal(e.state, LOSS_NONE);
	assert_int_equal(losslist_put(r, b, LOSS_FORMAL, 1), -1); /* read-only */
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

static void mkid(uint8_t id[LOSS_ID_LEN], unsigned k)
{
	memcpy(id, "\x63\x99\x00\xD1\x56\x00\x00\x05\x00\x00\x00\x00\x00\x00", 14);
	id[14] = (uint8_t)(k >> 8);
	id[15] = (uint8_t)k;
}

static uint8_t *snapshot(unsigned from, unsigned to, uint64_t version, size_t *len)
{
	struct loss_rec *r = calloc(to - from, sizeof *r);
	uint8_t *out;
	for (unsigned k = from; k < to; k++) {
		mkid(r[k - from].id, k);
		r[k - from].state = LOSS_FORMAL;
		r[k - from].day = 20000;
	}
	assert_int_equal(lossfmt_encode(r, to - from, 0, version, 1795000000, &out, len, NULL), 0);
	free(r);
	return out;
}

static int count_idx(void)
{
	char cmd[200];
	snprintf(cmd, sizeof cmd, "ls %s | grep -c '\\.idx'", dir);
	FILE *p = popen(cmd, "r");
	int n = -1;
	assert_int_equal(fscanf(p, "%d", &n), 1);
	pclose(p);
	return n;
}

/* snapshot under changes: import, deltas, local reports, swap, bad input */
static void test_sync_store(void **s)
{
	struct losslist *w, *r;
	struct loss_entry e;
	struct loss_info i;
	struct loss_rec rec;
	char err[256];
	size_t len;
	uint8_t id[LOSS_ID_LEN], *snap;

	assert_int_equal(losslist_open(path, true, &w, err, sizeof err), 0);
	assert_int_equal(losslist_open(path, false, &r, err, sizeof err), 0);
	/* a report taken here before any list arrived */
	mkid(id, 5000);
	assert_int_equal(losslist_put(w, id, LOSS_TEMPORARY, 20001 * 86400LL), 0);

	snap = snapshot(0, 1000, 3, &len);
	assert_int_equal(losslist_import(w, snap, len, 1795000500, err, sizeof err), 0);
	free(snap);
	assert_int_equal(losslist_info(r, &i), 0);
	assert_int_equal(i.version, 3);
	assert_int_equal(i.base, 3);
	assert_int_equal(i.published, 1795000500);
	assert_int_equal(i.entries, 1001); /* the snapshot + the local report */
	mkid(id, 999);
	assert_int_equal(losslist_lookup(r, id, &e, &i), 1);
	assert_int_equal(e.version, 3);
	assert_int_equal(e.since, 20000 * 86400LL);
	mkid(id, 5000);
	assert_int_equal(losslist_lookup(r, id, &e, NULL), 1); /* still there */
	assert_int_equal(e.state, LOSS_TEMPORARY);

	/* a delta: one card taken off, one added, one changed; one transaction */
	assert_int_equal(losslist_begin(w), 0);
	mkid(rec.id, 10), rec.state = 0, rec.day = 20002;
	assert_int_equal(losslist_apply(w, &rec, 4), 0);
	mkid(rec.id, 2000), rec.state = LOSS_TEMPORARY, rec.day = 20002;
	assert_int_equal(losslist_apply(w, &rec, 4), 0);
	mkid(rec.id, 11), rec.state = LOSS_CANCELLED, rec.day = 20002;
	assert_int_equal(losslist_apply(w, &rec, 4), 0);
	mkid(id, 10);
	assert_int_equal(losslist_lookup(r, id, &e, &i), 1); /* not committed yet */
	assert_int_equal(i.version, 3);
	assert_int_equal(losslist_commit(w, 4, 1795000600), 0);
	assert_int_equal(losslist_lookup(r, id, &e, &i), 0);
	assert_int_equal(i.version, 4);
	mkid(id, 2000);
	assert_int_equal(losslist_lookup(r, id, &e, NULL), 1);
	mkid(id, 11);
	assert_int_equal(losslist_lookup(r, id, &e, NULL), 1);
	assert_int_equal(e.state, LOSS_CANCELLED);
	assert_int_equal(losslist_info(r, &i), 0);
	assert_int_equal(i.entries, 1001);

	/* an aborted delta leaves nothing */
	assert_int_equal(losslist_begin(w), 0);
	mkid(rec.id, 20), rec.state = 0;
	assert_int_equal(losslist_apply(w, &rec, 5), 0);
	losslist_abort(w);
	mkid(id, 20);
	assert_int_equal(losslist_lookup(r, id, &e, &i), 1);
	assert_int_equal(i.version, 4);

	/* an older word from the central does not undo a newer local report */
	assert_int_equal(losslist_begin(w), 0);
	mkid(rec.id, 5000), rec.state = 0, rec.day = 19000;
	assert_int_equal(losslist_apply(w, &rec, 5), 0);
	assert_int_equal(losslist_commit(w, 5, 1795000700), 0);
	mkid(id, 5000);
	assert_int_equal(losslist_lookup(r, id, &e, NULL), 1);

	/* a new snapshot swaps in under a reader that has the old one open */
	snap = snapshot(500, 600, 6, &len);
	assert_int_equal(losslist_import(w, snap, len, 1795000800, err, sizeof err), 0);
	free(snap);
	mkid(id, 10);
	assert_int_equal(losslist_lookup(r, id, &e, &i), 0);
	assert_int_equal(i.version, 6);
	mkid(id, 550);
	assert_int_equal(losslist_lookup(r, id, &e, NULL), 1);
	mkid(id, 2000);
	assert_int_equal(losslist_lookup(r, id, &e, NULL), 0); /* the delta's row is gone */
	assert_int_equal(losslist_info(r, &i), 0);
	assert_int_equal(i.entries, 101);
	assert_int_equal(i.changes, 1); /* the local report only */
	assert_int_equal(count_idx(), 1);  /* the old index file is gone */

	/* bad snapshots change nothing */
	snap = snapshot(0, 10, 7, &len);
	assert_int_equal(losslist_import(w, snap, len - 1, 1, err, sizeof err), -1);
	assert_non_null(strstr(err, "truncated"));
	free(snap);
	assert_int_equal(losslist_import(w, (const uint8_t *)"SSLDELT1", 8, 1, err, sizeof err), -1);
	assert_non_null(strstr(err, "not a snapshot"));
	losslist_close(r);
	losslist_close(w);
	assert_int_equal(losslist_open(path, true, &w, err, sizeof err), 0); /* tidies */
	assert_int_equal(losslist_info(w, &i), 0);
	assert_int_equal(count_idx(), 1);
	losslist_close(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ids),
		cmocka_unit_test_setup_teardown(test_store, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync_store, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
