/* test-sam.c — the PSAM's APDUs (apdu/sam.c) against a scripted PSAM:
 * the session, the terminal number, derive + encrypt through 61xx, and
 * every way a PSAM can say no. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "apdu/sam.h"
#include "tests/unit/apdu/fake_transport.h"

#define OK "9000"
#define SEL_MF "00A40000023F00"
#define SEL_DF "00A40000021001"
#define TERM "00B0960006"
#define ID "110105D15600000500C0FFEE12345678"
#define DERIVE "801A450A10" ID
#define ENCRYPT "80FA000010" "0102030405060708" "8000000000000000"

static const uint8_t CARD_ID[16] = {0x11, 0x01, 0x05, 0xD1, 0x56, 0x00, 0x00, 0x05,
				    0x00, 0xC0, 0xFF, 0xEE, 0x12, 0x34, 0x56, 0x78};
static const uint8_t R[8] = {1, 2, 3, 4, 5, 6, 7, 8};

static void test_open(void **s)
{
	struct fake f;
	char term[13];
	uint16_t sw;
	fake_init(&f);
	fake_step(&f, SEL_MF, OK);
	fake_step(&f, TERM, "410100813475" OK);
	fake_step(&f, SEL_DF, OK);
	assert_int_equal(sam_open(&f.t, term, &sw), SS_OK);
	assert_true(fake_done(&f));
	assert_string_equal(term, "410100813475");
}

static void test_open_refusals(void **s)
{
	static const char *const rows[][4] = {
		/* MF, terminal, DF: what the card answers; "" not asked */
		{"6A82", "", "", "not a PSAM"},
		{OK, "6A82", "", "no terminal number"},
		{OK, "41010081347F" OK, "", "not 12 digits"},
		{OK, "4101" OK, "", "too short"},
		{OK, "410100813475" OK, "6A82", "no SSC DF"},
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		struct fake f;
		char term[13] = "x";
		uint16_t sw;
		fake_init(&f);
		fake_step(&f, SEL_MF, rows[i][0]);
		if (*rows[i][1])
			fake_step(&f, TERM, rows[i][1]);
		if (*rows[i][2])
			fake_step(&f, SEL_DF, rows[i][2]);
		if (sam_open(&f.t, term, &sw) != SS_E_SAM || !fake_done(&f) || term[0])
			fail_msg("%s: not refused", rows[i][3]);
	}
	struct fake f;
	char term[13];
	uint16_t sw;
	fake_init(&f);
	fake_step(&f, SEL_MF, "!removed");
	assert_int_equal(sam_open(&f.t, term, &sw), SS_E_CARD_REMOVED);
}

static void test_cryptogram(void **s)
{
	struct fake f;
	uint8_t c[16];
	uint16_t sw;
	fake_init(&f);
	fake_step(&f, DERIVE, OK);
	fake_step(&f, ENCRYPT, "6110");
	fake_step(&f, "00C0000010", "A0A1A2A3A4A5A6A7A8A9AAABACADAEAF" OK);
	assert_int_equal(sam_cryptogram(&f.t, 0x45, 0x0A, CARD_ID, R, c, &sw), SS_OK);
	assert_true(fake_done(&f));
	assert_memory_equal(c, "\xA0\xA1\xA2\xA3\xA4\xA5\xA6\xA7\xA8\xA9\xAA\xAB\xAC\xAD\xAE\xAF", 16);
}

static void test_cryptogram_refusals(void **s)
{
	static const struct {
		const char *derive, *encrypt;
		enum ss_err want;
		uint16_t sw;
	} rows[] = {
		{"6A88", NULL, SS_E_AUTH, 0x6A88},      /* no such key */
		{"6985", NULL, SS_E_CARD_RESET, 0x6985}, /* the DF is not selected any more */
		{OK, "6985", SS_E_CARD_RESET, 0x6985},
		{OK, "A0A1" OK, SS_E_AUTH, 0x9000},     /* not one block */
		{OK, "!timeout", SS_E_CARD_TIMEOUT, 0}, /* mute */
		{"!removed", NULL, SS_E_CARD_REMOVED, 0},
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		struct fake f;
		uint8_t c[16];
		uint16_t sw;
		fake_init(&f);
		fake_step(&f, DERIVE, rows[i].derive);
		if (rows[i].encrypt)
			fake_step(&f, ENCRYPT, rows[i].encrypt);
		enum ss_err e = sam_cryptogram(&f.t, 0x45, 0x0A, CARD_ID, R, c, &sw);
		if (e != rows[i].want || (rows[i].sw && sw != rows[i].sw) || !fake_done(&f))
			fail_msg("row %zu: %s (sw %04X)", i, ss_err_name(e), sw);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open),
		cmocka_unit_test(test_open_refusals),
		cmocka_unit_test(test_cryptogram),
		cmocka_unit_test(test_cryptogram_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
