/* test-nfcmsg.c — the NFC helper's messages are believed only when they
 * hold together (issue 27): a value without its NUL, more field errors
 * than the array holds, a flag that is neither 0 nor 1, codes and kinds
 * out of range; a good read passes untouched. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/readers/nfcmsg.h"

static struct nfcd_ans good_read(void)
{
	struct nfcd_ans a;
	memset(&a, 0, sizeof a);
	a.magic = NFCD_MAGIC;
	a.kind = NFCD_DONE;
	a.err = 0;
	a.elapsed_ms = 12.5;
	a.tries_left = -1;
	a.card.have[SSC_NAME] = true;
	strcpy(a.card.value[SSC_NAME], "张三");
	a.card.n_errors = 1;
	a.card.errors[0].field = SSC_BIRTHPLACE;
	a.card.errors[0].code = SS_E_CARD;
	return a;
}

static void expect_refused(struct nfcd_ans *a, const char *want)
{
	char why[160] = "";
	assert_false(nfcmsg_check(a, why, sizeof why));
	if (!strstr(why, want))
		fail_msg("why: %s (want %s)", why, want);
}

static void test_good_read_passes(void **s)
{
	struct nfcd_ans a = good_read();
	char why[160];
	assert_true(nfcmsg_check(&a, why, sizeof why));
	assert_string_equal(a.card.value[SSC_NAME], "张三");
}

static void test_lies_are_refused(void **s)
{
	struct nfcd_ans a = good_read();
	memset(a.card.value[SSC_NAME], 'A', sizeof a.card.value[SSC_NAME]); /* no NUL */
	expect_refused(&a, "NUL-terminated");
	a = good_read();
	strcpy(a.card.value[SSC_NAME], "\xff\xfe");
	expect_refused(&a, "UTF-8");
	a = good_read();
	a.card.n_errors = SSC_ERRORS_MAX + 1;
	expect_refused(&a, "field errors");
	a = good_read();
	a.card.n_errors = (size_t)-1;
	expect_refused(&a, "field errors");
	a = good_read();
	memset(&a.card.have[SSC_SSN], 2, 1);
	expect_refused(&a, "neither 0 nor 1");
	a = good_read();
	a.card.errors[0].code = (enum ss_err)9999;
	expect_refused(&a, "out of range");
	a = good_read();
	a.err = -3;
	expect_refused(&a, "error code");
	a = good_read();
	a.atr_len = 4096;
	expect_refused(&a, "ATR");
	a = good_read();
	a.loss_rc = 7;
	expect_refused(&a, "verdict");
	a = good_read();
	a.card.value[SSC_SSN][0] = '1'; /* a value for a field the card did not give */
	expect_refused(&a, "did not give");
	a = good_read();
	a.kind = 77;
	expect_refused(&a, "kind");
	a = good_read();
	a.kind = NFCD_EVENT;
	a.ev.kind = (enum rdr_event_kind)42;
	expect_refused(&a, "event kind");
	a = good_read();
	a.kind = NFCD_EVENT;
	memset(a.ev.reader, 'R', sizeof a.ev.reader);
	expect_refused(&a, "reader name");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_read_passes),
		cmocka_unit_test(test_lies_are_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
