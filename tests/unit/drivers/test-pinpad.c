/* test-pinpad.c — drivers/pinpad.c against a fake PC/SC part 10 reader:
 * feature discovery, the structures a CCID PIN pad reads, the APDU it
 * builds from them with the digits the holder types, and every answer.
 * The fake pad applies the structure the way a CCID reader does (format,
 * block size, insertion offsets, min/max digits, confirmation). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sim/card/bcd.h"
#include "drivers/pinpad.h"

#define GET_FEATURES 0x42000D48u
#define VERIFY_CODE 0x42330006u
#define MODIFY_CODE 0x42330007u

static struct {
	enum ss_err ioctl_err;        /* GET_FEATURE_REQUEST fails with this */
	uint8_t features[64];
	size_t features_len;
	const char *typed[3];         /* what the holder types: old/current, new, new again */
	uint16_t pad_sw;              /* nonzero: the pad answers this itself */
	enum ss_err control_err;      /* the PIN control fails with this */
	const char *card_pin;
	int tries;
	uint8_t apdu[64];             /* what the pad sent to the card */
	size_t apdu_len;
	uint8_t block[128];
	size_t block_len;
	int calls;
	size_t answer_len;            /* 0: 2 */
} f;

static void feature(uint8_t tag, uint32_t code)
{
	uint8_t *p = f.features + f.features_len;
	p[0] = tag;
	p[1] = 4;
	p[2] = (uint8_t)(code >> 24);
	p[3] = (uint8_t)(code >> 16);
	p[4] = (uint8_t)(code >> 8);
	p[5] = (uint8_t)code;
	f.features_len += 6;
}

static int setup(void **state)
{
	memset(&f, 0, sizeof f);
	feature(0x12, 0x42330012u); /* FEATURE_GET_TLV_PROPERTIES: ignored */
	feature(0x06, VERIFY_CODE);
	feature(0x07, MODIFY_CODE);
	f.card_pin = "123456";
	f.tries = 3;
	f.typed[0] = "123456";
	return 0;
}

static uint16_t card(const uint8_t *a, size_t n)
{
	uint8_t want[4] = {0xFF, 0xFF, 0xFF, 0xFF};
	bcd_put(want, f.card_pin);
	const uint8_t *pin = a + 5;
	if (a[1] == 0x5E) {
		assert_int_equal(pin[3], 0xFF); /* the separator */
		if (memcmp(pin, want, 3))
			return --f.tries ? (uint16_t)(0x63C0 | f.tries) : 0x6983;
		return 0x9000;
	}
	if (!f.tries)
		return 0x6983;
	if (memcmp(pin, want, 3))
		return --f.tries ? (uint16_t)(0x63C0 | f.tries) : 0x6983;
	return 0x9000;
}

/* A CCID reader: the structure is all it knows. */
static uint16_t pad(bool modify, const uint8_t *s, size_t n)
{
	size_t hl = modify ? 24 : 19;
	assert_true(n > hl);
	uint32_t dl = (uint32_t)s[hl - 4] | (uint32_t)s[hl - 3] << 8 | (uint32_t)s[hl - 2] << 16 |
		      (uint32_t)s[hl - 1] << 24;
	assert_int_equal(dl, n - hl);
	assert_int_equal(s[2] & 0x03, 0x01);  /* BCD */
	assert_int_equal(s[2] & 0x80, 0x80);  /* offsets in bytes */
	size_t block = s[3] & 0x0F;
	size_t at = modify ? 7 : 5;
	unsigned min = s[at + 1], max = s[at];
	memcpy(f.apdu, s + hl, dl);
	f.apdu_len = dl;
	if (f.pad_sw)
		return f.pad_sw;
	size_t old_at = modify ? s[5] : (size_t)((s[2] >> 3) & 0x0F), new_at = modify ? s[6] : 0;
	for (int i = 0; i < (modify ? 2 : 1); i++) {
		const char *d = f.typed[i];
		if (strlen(d) < min || strlen(d) > max || (strlen(d) + 1) / 2 > block)
			return 0x6403;
	}
	if (modify && (s[at + 2] & 0x01) && strcmp(f.typed[1], f.typed[2] ? f.typed[2] : ""))
		return 0x6402;
	bcd_put(f.apdu + 5 + old_at, f.typed[0]);
	if (modify)
		bcd_put(f.apdu + 5 + new_at, f.typed[1]);
	return card(f.apdu, f.apdu_len);
}

static enum ss_err control(void *ctx, uint32_t code, const uint8_t *in, size_t in_len, uint8_t *out,
			   size_t *out_len)
{
	f.calls++;
	if (code == GET_FEATURES) {
		assert_int_equal(in_len, 0);
		if (f.ioctl_err)
			return f.ioctl_err;
		assert_true(*out_len >= f.features_len);
		memcpy(out, f.features, f.features_len);
		*out_len = f.features_len;
		return SS_OK;
	}
	assert_true(code == VERIFY_CODE || code == MODIFY_CODE);
	memcpy(f.block, in, in_len);
	f.block_len = in_len;
	if (f.control_err)
		return f.control_err;
	uint16_t sw = pad(code == MODIFY_CODE, in, in_len);
	out[0] = (uint8_t)(sw >> 8);
	out[1] = (uint8_t)sw;
	*out_len = f.answer_len ? f.answer_len : 2;
	return SS_OK;
}

static void features_parsed(void **state)
{
	struct pinpad_features pf;
	pinpad_parse_features(f.features, f.features_len, &pf);
	assert_int_equal(pf.verify, VERIFY_CODE);
	assert_int_equal(pf.modify, MODIFY_CODE);
	/* a truncated tail and a wrong length are skipped, not read past */
	const uint8_t odd[] = {0x06, 0x02, 0x11, 0x22, 0x07, 0x04, 0x42, 0x33};
	pinpad_parse_features(odd, sizeof odd, &pf);
	assert_int_equal(pf.verify, 0);
	assert_int_equal(pf.modify, 0);
	pinpad_parse_features(NULL, 0, &pf);
	assert_int_equal(pf.verify, 0);
}

static void verify_on_the_pad(void **state)
{
	int tries = 99;
	assert_int_equal(pinpad_run(control, NULL, PINPAD_VERIFY, &tries), SS_OK);
	assert_int_equal(tries, -1);
	/* the APDU the pad sent is what ssc_verify_pin sends for 123456 */
	const uint8_t want[] = {0x00, 0x20, 0x00, 0x00, 0x03, 0x12, 0x34, 0x56};
	assert_int_equal(f.apdu_len, sizeof want);
	assert_memory_equal(f.apdu, want, sizeof want);
	/* the structure: timeouts, format, block, 6..6 digits, OK key, zh-CN */
	const uint8_t head[] = {30, 30, 0x81, 0x03, 0x00, 0x06, 0x06, 0x02, 0x01, 0x04, 0x08, 0x00,
				0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00};
	assert_int_equal(f.block_len, sizeof head + 8);
	assert_memory_equal(f.block, head, sizeof head);
	/* the template holds no PIN: all F */
	assert_memory_equal(f.block + 19 + 5, "\xFF\xFF\xFF", 3);
}

static void wrong_pin_then_blocked(void **state)
{
	int tries;
	f.typed[0] = "654321";
	assert_int_equal(pinpad_run(control, NULL, PINPAD_VERIFY, &tries), SS_E_PIN_WRONG);
	assert_int_equal(tries, 2);
	assert_int_equal(pinpad_run(control, NULL, PINPAD_VERIFY, &tries), SS_E_PIN_WRONG);
	assert_int_equal(tries, 1);
	assert_int_equal(pinpad_run(control, NULL, PINPAD_VERIFY, &tries), SS_E_PIN_BLOCKED);
	f.typed[0] = "123456"; /* the right PIN no longer helps */
	assert_int_equal(pinpad_run(control, NULL, PINPAD_VERIFY, &tries), SS_E_PIN_BLOCKED);
}

static void change_on_the_pad(void **state)
{
	int tries;
	f.typed[1] = "860731";
	f.typed[2] = "860731";
	assert_int_equal(pinpad_run(control, NULL, PINPAD_CHANGE, &tries), SS_OK);
	const uint8_t want[] = {0x80, 0x5E, 0x01, 0x00, 0x07, 0x12, 0x34, 0x56,
				0xFF, 0x86, 0x07, 0x31};
	assert_int_equal(f.apdu_len, sizeof want);
	assert_memory_equal(f.apdu, want, sizeof want);
	/* offsets old 0, new 4; 6..6 digits; confirm + current PIN; 3 messages */
	assert_int_equal(f.block[5], 0);
	assert_int_equal(f.block[6], 4);
	assert_int_equal(f.block[7], 6);
	assert_int_equal(f.block[8], 6);
	assert_int_equal(f.block[9], 0x03);
	assert_int_equal(f.block[11], 3);
	assert_int_equal(f.block[20], 12);
	/* the two new PINs differ */
	f.typed[2] = "860732";
	assert_int_equal(pinpad_run(control, NULL, PINPAD_CHANGE, &tries), SS_E_PIN_MISMATCH);
	/* too few digits: the pad refuses before the card sees anything */
	f.typed[1] = f.typed[2] = "8607";
	assert_int_equal(pinpad_run(control, NULL, PINPAD_CHANGE, &tries), SS_E_PIN_FORMAT);
	/* a wrong current PIN costs a try */
	f.typed[0] = "000000";
	f.typed[1] = f.typed[2] = "860731";
	assert_int_equal(pinpad_run(control, NULL, PINPAD_CHANGE, &tries), SS_E_PIN_WRONG);
	assert_int_equal(tries, 2);
}

static void pad_answers(void **state)
{
	static const struct {
		uint16_t sw;
		enum ss_err e;
	} cases[] = {
		{0x6400, SS_E_PIN_TIMEOUT}, {0x6401, SS_E_PIN_CANCELLED}, {0x6402, SS_E_PIN_MISMATCH},
		{0x6403, SS_E_PIN_FORMAT},  {0x6B80, SS_E_READER},        {0x63C0, SS_E_PIN_BLOCKED},
		{0x6983, SS_E_PIN_BLOCKED}, {0x6A82, SS_E_FILE_NOT_FOUND}, {0x6F00, SS_E_CARD},
	};
	int tries;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		f.pad_sw = cases[i].sw;
		assert_int_equal(pinpad_run(control, NULL, PINPAD_VERIFY, &tries), cases[i].e);
	}
	f.pad_sw = 0;
	f.answer_len = 3; /* not a status word */
	assert_int_equal(pinpad_run(control, NULL, PINPAD_VERIFY, &tries), SS_E_BAD_RESPONSE);
}

static void readers_without_a_pad(void **state)
{
	int tries;
	/* no part 10 at all: the ioctl is refused (vpcd, most readers) */
	f.ioctl_err = SS_E_READER;
	assert_int_equal(pinpad_run(control, NULL, PINPAD_VERIFY, &tries), SS_E_NO_PIN_PAD);
	assert_int_equal(f.calls, 1);
	f.ioctl_err = SS_E_INTERNAL;
	assert_int_equal(pinpad_run(control, NULL, PINPAD_CHANGE, &tries), SS_E_NO_PIN_PAD);
	/* part 10, but no PIN features (a reader without keypad) */
	f.ioctl_err = SS_OK;
	f.features_len = 0;
	feature(0x12, 0x42330012u);
	assert_int_equal(pinpad_run(control, NULL, PINPAD_VERIFY, &tries), SS_E_NO_PIN_PAD);
	/* verify but no modify */
	feature(0x06, VERIFY_CODE);
	f.calls = 0;
	assert_int_equal(pinpad_run(control, NULL, PINPAD_CHANGE, &tries), SS_E_NO_PIN_PAD);
	assert_int_equal(f.calls, 1); /* nothing was sent to the card */
	assert_int_equal(pinpad_run(control, NULL, PINPAD_VERIFY, &tries), SS_OK);
}

static void card_gone(void **state)
{
	int tries;
	f.ioctl_err = SS_E_CARD_REMOVED;
	assert_int_equal(pinpad_run(control, NULL, PINPAD_VERIFY, &tries), SS_E_CARD_REMOVED);
	f.ioctl_err = SS_OK;
	f.control_err = SS_E_CARD_REMOVED; /* pulled while the holder typed */
	assert_int_equal(pinpad_run(control, NULL, PINPAD_VERIFY, &tries), SS_E_CARD_REMOVED);
	assert_int_equal(tries, -1);
}

static void short_buffer(void **state)
{
	uint8_t b[30];
	assert_int_equal(pinpad_block(PINPAD_VERIFY, b, 26), 0);
	assert_int_equal(pinpad_block(PINPAD_VERIFY, b, 27), 27);
	assert_int_equal(pinpad_block(PINPAD_CHANGE, b, sizeof b), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(features_parsed, setup),
		cmocka_unit_test_setup(verify_on_the_pad, setup),
		cmocka_unit_test_setup(wrong_pin_then_blocked, setup),
		cmocka_unit_test_setup(change_on_the_pad, setup),
		cmocka_unit_test_setup(pad_answers, setup),
		cmocka_unit_test_setup(readers_without_a_pad, setup),
		cmocka_unit_test_setup(card_gone, setup),
		cmocka_unit_test_setup(short_buffer, setup),
	};
	return cmocka_run_group_tests_name("pinpad", tests, NULL, NULL);
}
