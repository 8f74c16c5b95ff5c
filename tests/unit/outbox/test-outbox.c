/* test-outbox.c — the outbox's promises without a central: a request is on
 * disk when outbox_add says so, keys make re-sending safe, answers are
 * judged right. (Delivery, crashes and outages: the integration tests.) */
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

#include "daemon/outbox/outbox.h"

static char dir[64];

static int setup(void **s)
{
	strcpy(dir, "/tmp/sscard-ob-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **s)
{
	char cmd[200];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd);
}

static void ignore(void *arg, json_t *ev)
{
}

static void test_judge(void **s)
{
	char code[64], msg[300];
	const char *body = "{\"error\":\"replacement_applied\",\"message\":\"No.\"}";
	assert_int_equal(outbox_judge(200, "{}", 2, code, sizeof code, msg, sizeof msg), OUTBOX_DELIVERED);
	assert_int_equal(outbox_judge(201, NULL, 0, code, sizeof code, msg, sizeof msg), OUTBOX_DELIVERED);
	assert_int_equal(outbox_judge(409, body, strlen(body), code, sizeof code, msg, sizeof msg),
			 OUTBOX_REFUSED);
	assert_string_equal(code, "replacement_applied");
	assert_string_equal(msg, "No.");
	assert_int_equal(outbox_judge(404, "<html>", 6, code, sizeof code, msg, sizeof msg), OUTBOX_REFUSED);
	assert_string_equal(code, "http_error");
	assert_non_null(strstr(msg, "404"));
	/* not the central's verdict on the request: again later */
	long again[] = {401, 403, 408, 425, 429, 500, 502, 503, 0, 100, 302};
	for (size_t i = 0; i < sizeof again / sizeof again[0]; i++)
		assert_int_equal(outbox_judge(again[i], NULL, 0, code, sizeof code, msg, sizeof msg),
				 OUTBOX_RETRY);
}

static long long rows(const char *where)
{
	char path[128], sql[200];
	sqlite3 *db;
	sqlite3_stmt *st;
	long long n = -1;
	snprintf(path, sizeof path, "%s/" OUTBOX_FILE, dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	snprintf(sql, sizeof sql, "SELECT count(*) FROM requests WHERE %s", where);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

static void test_add(void **s)
{
	struct config cfg;
	struct outbox *o;
	struct outbox_receipt r, r2;
	sd_event *ev;
	char err[400];
	config_defaults(&cfg);
	snprintf(cfg.state_dir, sizeof cfg.state_dir, "%s", dir);
	*cfg.url = 0; /* no central: nothing is sent, everything stays pending */
	assert_int_equal(sd_event_new(&ev), 0);
	assert_int_equal(outbox_start(ev, &cfg, ignore, NULL, &o, err, sizeof err), 0);

	json_t *f = json_pack("{s:s}", "loss", "temporary");
	assert_int_equal(outbox_add(o, "loss_report", "639900d15600000500bf7c7a48fb4966", f, NULL, &r,
				    err, sizeof err), SS_OK);
	assert_false(r.duplicate);
	assert_int_equal(strlen(r.key), 32);
	assert_int_equal(r.reference[0], 'R');
	assert_int_equal(rows("state = 'pending' AND card_id = '639900D15600000500BF7C7A48FB4966'"
			      " AND body LIKE '%\"loss\":\"temporary\"%'"), 1); /* on disk already */

	/* a caller's key, twice (upper/lower case): one row, one receipt */
	const char *k = "00112233445566778899AABBCCDDEEFF";
	assert_int_equal(outbox_add(o, "pin_changed", "639900D15600000500BF7C7A48FB4966", NULL, k, &r,
				    err, sizeof err), SS_OK);
	assert_int_equal(outbox_add(o, "pin_changed", "639900D15600000500BF7C7A48FB4966", NULL,
				    "00112233445566778899aabbccddeeff", &r2, err, sizeof err), SS_OK);
	assert_true(r2.duplicate);
	assert_string_equal(r.reference, r2.reference);
	assert_int_equal(rows("1"), 2);
	/* the same key for another request: refused */
	assert_int_equal(outbox_add(o, "loss_cancel", "639900D15600000500BF7C7A48FB4966", NULL, k, &r2,
				    err, sizeof err), SS_E_INVALID);
	assert_non_null(strstr(err, "another request"));
	/* what is not a request */
	assert_int_equal(outbox_add(o, "burn", "639900D15600000500BF7C7A48FB4966", NULL, NULL, &r2,
				    err, sizeof err), SS_E_INVALID);
	assert_int_equal(outbox_add(o, "pin_changed", "6399", NULL, NULL, &r2, err, sizeof err),
			 SS_E_INVALID);
	assert_int_equal(outbox_add(o, "pin_changed", "639900D15600000500BF7C7A48FB4966", NULL, "12",
				    &r2, err, sizeof err), SS_E_INVALID);
	assert_int_equal(rows("1"), 2);
	/* the verb */
	json_t *j = outbox_request_verb(o, "replacement 639900D15600000500BF7C7A48FB4966 outlet=Hall_1"
					   " delegated=yes fee_fen=1000");
	assert_true(json_is_true(json_object_get(j, "ok")));
	json_decref(j);
	assert_int_equal(rows("body LIKE '%\"delegated\":true%' AND body LIKE '%\"fee_fen\":1000%'"
			      " AND body LIKE '%\"outlet\":\"Hall_1\"%'"), 1);
	j = outbox_list_json(o);
	assert_int_equal(json_integer_value(json_object_get(j, "pending")), 3);
	assert_int_equal(json_array_size(json_object_get(j, "items")), 3);
	json_decref(j);
	j = outbox_retry(o, "1"); /* pending, not failed */
	assert_false(json_is_true(json_object_get(j, "ok")));
	json_decref(j);
	json_decref(f);
	outbox_stop(o);

	/* reopened (a restart): everything is still there */
	assert_int_equal(outbox_start(ev, &cfg, ignore, NULL, &o, err, sizeof err), 0);
	j = outbox_list_json(o);
	assert_int_equal(json_integer_value(json_object_get(j, "pending")), 3);
	json_decref(j);
	outbox_stop(o);
	sd_event_unref(ev);
}

static void test_no_outbox(void **s)
{
	struct outbox_receipt r;
	char err[400];
	assert_int_equal(outbox_add(NULL, "pin_changed", "639900D15600000500BF7C7A48FB4966", NULL, NULL,
				    &r, err, sizeof err), SS_E_OUTBOX);
	assert_non_null(strstr(err, "12333"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_judge),
		cmocka_unit_test_setup_teardown(test_add, setup, teardown),
		cmocka_unit_test(test_no_outbox),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
