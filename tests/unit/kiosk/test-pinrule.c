/* test-pinrule.c — weak-PIN rules of activation and PIN change. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "daemon/kiosk/pinrule.h"

static void test_rules(void **s)
{
	static const struct {
		const char *pin, *confirm;
		enum pin_verdict want;
	} cases[] = {
		{"802413", "802413", PIN_OK},
		{"802413", NULL, PIN_OK},
		{"123456", "123456", PIN_INITIAL_PIN},
		{"000000", "000000", PIN_ALL_SAME},
		{"999999", NULL, PIN_ALL_SAME},
		{"234567", NULL, PIN_STRAIGHT},
		{"654321", NULL, PIN_STRAIGHT},
		{"987654", NULL, PIN_STRAIGHT},
		{"123457", NULL, PIN_OK},      /* almost a run is not a run */
		{"112233", NULL, PIN_OK},
		{"890123", NULL, PIN_OK},      /* no wrap-around */
		{"80241", NULL, PIN_LENGTH},
		{"8024135", NULL, PIN_LENGTH},
		{"80241a", NULL, PIN_NOT_DIGITS},
		{"80 413", NULL, PIN_NOT_DIGITS},
		{"", NULL, PIN_NOT_DIGITS},
		{NULL, NULL, PIN_NOT_DIGITS},
		{"802413", "802414", PIN_MISMATCH},
		{"123456", "123457", PIN_MISMATCH}, /* the second entry is checked first */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		enum pin_verdict v = pin_judge(cases[i].pin, cases[i].confirm, 6, 6);
		if (v != cases[i].want)
			fail_msg("case %zu (%s): %s, want %s", i, cases[i].pin ? cases[i].pin : "NULL",
				 pin_verdict_code(v), pin_verdict_code(cases[i].want));
	}
	/* a region allowing 4–8 digits */
	assert_int_equal(pin_judge("2580", NULL, 4, 8), PIN_OK);
	assert_int_equal(pin_judge("1234", NULL, 4, 8), PIN_STRAIGHT);
	assert_int_equal(pin_judge("12345678", NULL, 4, 8), PIN_STRAIGHT);
	assert_int_equal(pin_judge("258036914", NULL, 4, 8), PIN_LENGTH);
	assert_string_equal(pin_verdict_code(PIN_STRAIGHT), "pin_straight");
	assert_non_null(pin_verdict_text(PIN_INITIAL_PIN));
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_rules)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
