/* test-ssc.c — the SSC application over a scripted transport: every read
 * path, every SW path, bad data, PINs; plus decoders and masking. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "apdu/ssc.h"
#include "daemon/mask.h"
#include "tests/unit/apdu/fake_transport.h"

#define SELECT "00A404000F7378312E73682EC9E7BBE1B1A3D5CF"
#define OK "9000"
#define Z26 "0000000000000000000000000000000000000000000000000000"
#define Z20 "0000000000000000000000000000000000000000"

/* The test vector card (card-spec.md §8), every record filled. */
static const char *const EF05[7][2] = {
	{"00B2012812", "0110639900D15600000500BF7C7A48FB4966" OK},
	{"00B2022803", "020131" OK},
	{"00B2032806", "0304322E3030" OK},
	{"00B204280E", "040C363339393030303030303031" OK},
	{"00B2052806", "050420101001" OK},
	{"00B2062806", "060420201001" OK},
	{"00B207280B", "0709583030303030303139" OK},
};
static const char *const EF06[7][2] = {
	{"00B2083014", "0812313131313131313938313031303131313130" OK},
	{"00B2093020", "091ED5C5C8FD" Z26 OK},
	{"00B24E3016", "4E14" Z20 OK},
	{"00B20A3003", "0A0131" OK},
	{"00B20B3003", "0B0101" OK},
	{"00B20C3005", "0C03639900" OK},
	{"00B20D3006", "0D0419810101" OK},
};

static void script(struct fake *f, const char *const rows[][2], size_t n)
{
	for (size_t i = 0; i < n; i++)
		fake_step(f, rows[i][0], rows[i][1]);
}

static bool has_error(const struct ssc_card *c, enum ssc_field fld, enum ss_err e, uint16_t sw)
{
	for (size_t i = 0; i < c->n_errors; i++)
		if (c->errors[i].field == fld && c->errors[i].code == e && c->errors[i].sw == sw)
			return true;
	return false;
}

static void test_read_full_sfi(void **s)
{
	struct fake f;
	struct ssc_card c;
	fake_init(&f);
	fake_step(&f, SELECT, OK);
	script(&f, EF05, 7);
	script(&f, EF06, 7);
	assert_int_equal(ssc_read(&f.t, &c), SS_OK);
	assert_true(fake_done(&f));
	assert_int_equal(c.apdus, 15);
	assert_int_equal(c.n_errors, 0);
	assert_string_equal(c.value[SSC_CARD_ID], "639900D15600000500BF7C7A48FB4966");
	assert_string_equal(c.value[SSC_REGION], "639900");
	assert_string_equal(c.value[SSC_CARD_TYPE], "1");
	assert_string_equal(c.value[SSC_SPEC_VERSION], "2.00");
	assert_string_equal(c.value[SSC_ISSUER], "639900000001");
	assert_string_equal(c.value[SSC_ISSUE_DATE], "2010-10-01");
	assert_string_equal(c.value[SSC_EXPIRY_DATE], "2020-10-01");
	assert_string_equal(c.value[SSC_CARD_NUMBER], "X00000019");
	assert_string_equal(c.value[SSC_SSN], "111111198101011110");
	assert_string_equal(c.value[SSC_NAME], "张三");
	assert_string_equal(c.value[SSC_SEX], "1");
	assert_string_equal(c.value[SSC_NATION], "01");
	assert_string_equal(c.value[SSC_BIRTHPLACE], "639900");
	assert_string_equal(c.value[SSC_BIRTH_DATE], "1981-01-01");
	ssc_card_wipe(&c);
	assert_false(c.have[SSC_SSN]);
	assert_string_equal(c.value[SSC_SSN], "");
}

static void test_read_spec_100_skips_name_ext(void **s)
{
	struct fake f;
	struct ssc_card c;
	fake_init(&f);
	fake_step(&f, SELECT, OK);
	script(&f, EF05, 2);
	fake_step(&f, "00B2032806", "0304312E3030" OK); /* "1.00" */
	script(&f, EF05 + 3, 4);
	script(&f, EF06, 2);
	script(&f, EF06 + 3, 4); /* no 4E */
	assert_int_equal(ssc_read(&f.t, &c), SS_OK);
	assert_true(fake_done(&f));
	assert_int_equal(c.apdus, 14);
	assert_string_equal(c.value[SSC_NAME], "张三");
}

static void test_read_sfi_refused_falls_back(void **s)
{
	struct fake f;
	struct ssc_card c;
	char cur[14][11]; /* the same reads with P2 = 00: by identifier in the current EF */
	for (int i = 0; i < 14; i++) {
		snprintf(cur[i], sizeof cur[i], "%s", i < 7 ? EF05[i][0] : EF06[i - 7][0]);
		cur[i][6] = cur[i][7] = '0';
	}
	fake_init(&f);
	fake_step(&f, SELECT, OK);
	fake_step(&f, "00B2012812", "6A86");          /* no SFI reads on this card */
	fake_step(&f, "00A4000002EF05", "6A86");      /* and it wants P1 = 02 */
	fake_step(&f, "00A4020002EF05", OK);
	for (int i = 0; i < 7; i++)
		fake_step(&f, cur[i], EF05[i][1]);
	fake_step(&f, "00A4020002EF06", OK); /* straight to SELECT with P1 = 02 */
	for (int i = 0; i < 7; i++)
		fake_step(&f, cur[7 + i], EF06[i][1]);
	assert_int_equal(ssc_read(&f.t, &c), SS_OK);
	assert_true(fake_done(&f));
	assert_int_equal(c.apdus, 19);
	assert_int_equal(c.n_errors, 0);
	assert_string_equal(c.value[SSC_BIRTH_DATE], "1981-01-01");
}

static void test_read_300_ef06_guarded(void **s)
{
	struct fake f;
	struct ssc_card c;
	fake_init(&f);
	fake_step(&f, SELECT, OK);
	script(&f, EF05, 2);
	fake_step(&f, "00B2032806", "0304332E3030" OK); /* "3.00" */
	script(&f, EF05 + 3, 4);
	fake_step(&f, "00B2083014", "6982");
	assert_int_equal(ssc_read(&f.t, &c), SS_OK);
	assert_true(fake_done(&f));
	assert_int_equal(c.apdus, 9); /* one refusal, not one per field */
	assert_string_equal(c.value[SSC_CARD_NUMBER], "X00000019");
	enum ssc_field ef06[] = {SSC_SSN, SSC_NAME, SSC_SEX, SSC_NATION, SSC_BIRTHPLACE,
				 SSC_BIRTH_DATE};
	for (size_t i = 0; i < 6; i++) {
		assert_false(c.have[ef06[i]]);
		assert_true(has_error(&c, ef06[i], SS_E_SECURITY, 0x6982));
	}
	assert_int_equal(c.n_errors, 6);
}

/* ---- card-spec §9: external authentication ------------------------------ */

#define R_HEX "0102030405060708"
#define C_HEX "A0A1A2A3A4A5A6A7A8A9AAABACADAEAF"

struct fake_sam {
	enum ss_err answer;
	int calls;
	uint8_t id[16], r[8];
};

static enum ss_err fake_cryptogram(void *arg, const uint8_t id[16], const uint8_t r[8],
				   uint8_t out[16])
{
	struct fake_sam *sam = arg;
	sam->calls++;
	memcpy(sam->id, id, 16);
	memcpy(sam->r, r, 8);
	for (int i = 0; i < 16; i++)
		out[i] = (uint8_t)(0xA0 + i);
	return sam->answer;
}

/* SELECT and EF05 of a 3.00 card (the test vector's, version 3.00). */
static void script_300_ef05(struct fake *f)
{
	fake_step(f, SELECT, OK);
	script(f, EF05, 2);
	fake_step(f, "00B2032806", "0304332E3030" OK); /* "3.00" */
	script(f, EF05 + 3, 4);
}

static void test_read_300_authenticated(void **s)
{
	struct fake f;
	struct ssc_card c;
	struct fake_sam sam = {.answer = SS_OK};
	struct ssc_auth auth = {.cryptogram = fake_cryptogram, .arg = &sam, .key_id = 0x0A};
	fake_init(&f);
	script_300_ef05(&f);
	fake_step(&f, "0084000008", R_HEX OK);
	fake_step(&f, "0082000A10" C_HEX, OK);
	script(&f, EF06, 7);
	assert_int_equal(ssc_read_auth(&f.t, &auth, &c), SS_OK);
	assert_true(fake_done(&f));
	assert_int_equal(sam.calls, 1);
	assert_memory_equal(sam.id, "\x63\x99\x00\xD1\x56\x00\x00\x05\x00\xBF\x7C\x7A\x48\xFB\x49\x66", 16);
	assert_memory_equal(sam.r, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
	assert_int_equal(c.apdus, 17); /* a 2.00 read's 15 and 2: no refused read first */
	assert_true(c.needs_auth && c.authenticated);
	assert_int_equal(c.auth_err, SS_OK);
	assert_int_equal(c.n_errors, 0);
	assert_string_equal(c.value[SSC_SSN], "111111198101011110");
	assert_string_equal(c.value[SSC_NAME], "张三");
}

/* A card that does not say 3.00 but refuses EF06: authenticate after the 6982. */
static void test_read_refused_then_authenticated(void **s)
{
	struct fake f;
	struct ssc_card c;
	struct fake_sam sam = {.answer = SS_OK};
	struct ssc_auth auth = {.cryptogram = fake_cryptogram, .arg = &sam, .key_id = 0x0A};
	fake_init(&f);
	fake_step(&f, SELECT, OK);
	script(&f, EF05, 7);
	fake_step(&f, EF06[0][0], "6982");
	fake_step(&f, "0084000008", R_HEX OK);
	fake_step(&f, "0082000A10" C_HEX, OK);
	script(&f, EF06, 7);
	assert_int_equal(ssc_read_auth(&f.t, &auth, &c), SS_OK);
	assert_true(fake_done(&f));
	assert_true(c.authenticated);
	assert_int_equal(c.n_errors, 0);
	assert_string_equal(c.value[SSC_BIRTH_DATE], "1981-01-01");
}

static void test_read_300_refusals(void **s)
{
	static const struct {
		enum ss_err sam;      /* what the PSAM says */
		const char *card_sw;  /* the card's answer to EXTERNAL AUTHENTICATE, NULL: not sent */
		enum ss_err want;
		uint16_t want_sw;
	} cases[] = {
		{SS_E_SAM, NULL, SS_E_SAM, 0},
		{SS_E_AUTH, NULL, SS_E_AUTH, 0},
		{SS_OK, "63C2", SS_E_AUTH, 0x63C2},
		{SS_OK, "6985", SS_E_AUTH, 0x6985},
		{SS_OK, "6983", SS_E_AUTH_BLOCKED, 0x6983},
	};
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		struct fake f;
		struct ssc_card c;
		struct fake_sam sam = {.answer = cases[k].sam};
		struct ssc_auth auth = {.cryptogram = fake_cryptogram, .arg = &sam, .key_id = 0x0A};
		fake_init(&f);
		script_300_ef05(&f);
		fake_step(&f, "0084000008", R_HEX OK);
		if (cases[k].card_sw)
			fake_step(&f, "0082000A10" C_HEX, cases[k].card_sw);
		assert_int_equal(ssc_read_auth(&f.t, &auth, &c), SS_OK);
		if (!fake_done(&f))
			fail_msg("case %zu: script not followed (last: %s)", k, f.got);
		assert_false(c.authenticated);
		assert_int_equal(c.auth_err, cases[k].want);
		assert_int_equal(c.auth_sw, cases[k].want_sw);
		assert_string_equal(c.value[SSC_CARD_NUMBER], "X00000019"); /* EF05 stays */
		assert_false(c.have[SSC_SSN]);
		assert_true(has_error(&c, SSC_SSN, cases[k].want, cases[k].want_sw));
		assert_true(has_error(&c, SSC_BIRTH_DATE, cases[k].want, cases[k].want_sw));
		assert_int_equal(c.n_errors, 6);
	}
}

/* HSM step 1 and 2: the challenge is handed out, the counter's encryptor
 * answers, EF06 is read without a new SELECT. */
static void test_read_300_deferred_then_finished(void **s)
{
	struct fake f;
	struct ssc_card c;
	struct ssc_auth auth = {.key_id = 0x0A, .defer = true};
	uint8_t cg[16];
	uint16_t sw;
	fake_init(&f);
	script_300_ef05(&f);
	fake_step(&f, "0084000008", R_HEX OK);
	fake_step(&f, "0082000A10" C_HEX, OK);
	script(&f, EF06, 7);
	assert_int_equal(ssc_read_auth(&f.t, &auth, &c), SS_OK);
	assert_true(c.have_challenge);
	assert_memory_equal(c.challenge, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
	assert_true(has_error(&c, SSC_SSN, SS_E_SECURITY, 0x6982));
	for (int i = 0; i < 16; i++)
		cg[i] = (uint8_t)(0xA0 + i);
	assert_int_equal(ssc_authenticate(&f.t, 0x0A, cg, &sw), SS_OK);
	assert_int_equal(ssc_read_ef06(&f.t, &c), SS_OK);
	assert_true(fake_done(&f));
	assert_int_equal(c.n_errors, 0);
	assert_string_equal(c.value[SSC_SSN], "111111198101011110");
	assert_string_equal(c.value[SSC_CARD_NUMBER], "X00000019");
}

static void test_read_300_card_gone_during_auth(void **s)
{
	struct fake f;
	struct ssc_card c;
	struct fake_sam sam = {.answer = SS_OK};
	struct ssc_auth auth = {.cryptogram = fake_cryptogram, .arg = &sam, .key_id = 0x0A};
	fake_init(&f);
	script_300_ef05(&f);
	fake_step(&f, "0084000008", "!removed");
	assert_int_equal(ssc_read_auth(&f.t, &auth, &c), SS_E_CARD_REMOVED);
	assert_int_equal(sam.calls, 0);
	fake_init(&f);
	script_300_ef05(&f);
	fake_step(&f, "0084000008", R_HEX OK);
	fake_step(&f, "0082000A10" C_HEX, "!removed");
	assert_int_equal(ssc_read_auth(&f.t, &auth, &c), SS_E_CARD_REMOVED);
}

static void test_not_ssc(void **s)
{
	const char *sws[] = {"6A82", "6D00", "6E00", "6A86", "6F00"};
	for (size_t i = 0; i < 5; i++) {
		struct fake f;
		struct ssc_card c;
		fake_init(&f);
		fake_step(&f, SELECT, sws[i]);
		assert_int_equal(ssc_read(&f.t, &c), SS_E_NOT_SSC);
		assert_int_equal(c.apdus, 1);
	}
	/* A broken card is not "not an SSC card". */
	struct fake f;
	struct ssc_card c;
	fake_init(&f);
	fake_step(&f, SELECT, "6581");
	assert_int_equal(ssc_read(&f.t, &c), SS_E_CARD_MEMORY);
}

static void test_missing_and_bad_records(void **s)
{
	struct fake f;
	struct ssc_card c;
	fake_init(&f);
	fake_step(&f, SELECT, OK);
	fake_step(&f, "00B2012812", "0110639900D15600000500BF7C7A48FB4966" OK);
	fake_step(&f, "00B2022803", "6A83");                 /* missing */
	fake_step(&f, "00B2032806", "0304322E3030" OK);
	fake_step(&f, "00B204280E", "0430363339" OK);        /* length lies */
	fake_step(&f, "00B2052806", "05042010AB01" OK);      /* bad BCD nibbles */
	fake_step(&f, "00B2062806", "060420230229" OK);      /* 29 Feb of a common year */
	fake_step(&f, "00B207280B", "0809583030303030303139" OK); /* wrong tag */
	fake_step(&f, "00B2083014", "0812313131313131313938313031303131313131" OK); /* check digit */
	fake_step(&f, "00B2093020", "091E80FF" Z26 OK);     /* not GBK */
	fake_step(&f, "00B24E3016", "6A83");                 /* optional: no error */
	fake_step(&f, "00B20A3003", "6581");
	fake_step(&f, "00B20B3003", "0B011A" OK);            /* BCD 1A */
	fake_step(&f, "00B20C3005", "0C03F11111" OK);        /* F before digits */
	fake_step(&f, "00B20D3006", "!removed");             /* card pulled out */
	assert_int_equal(ssc_read(&f.t, &c), SS_E_CARD_REMOVED);
	assert_true(fake_done(&f));
	assert_true(has_error(&c, SSC_CARD_TYPE, SS_E_RECORD_NOT_FOUND, 0x6A83));
	assert_true(has_error(&c, SSC_ISSUER, SS_E_BAD_RESPONSE, 0));
	assert_true(has_error(&c, SSC_ISSUE_DATE, SS_E_BAD_DATA, 0));
	assert_true(has_error(&c, SSC_EXPIRY_DATE, SS_E_BAD_DATA, 0));
	assert_true(has_error(&c, SSC_CARD_NUMBER, SS_E_BAD_RESPONSE, 0));
	assert_true(has_error(&c, SSC_SSN, SS_E_CHECK_DIGIT, 0));
	assert_string_equal(c.value[SSC_SSN], "111111198101011111"); /* kept: the card says so */
	assert_true(has_error(&c, SSC_SEX, SS_E_CARD_MEMORY, 0x6581));
	assert_true(has_error(&c, SSC_NATION, SS_E_BAD_DATA, 0));
	assert_true(has_error(&c, SSC_BIRTHPLACE, SS_E_BAD_DATA, 0));
	assert_false(c.have[SSC_ISSUE_DATE]);
	assert_true(c.have[SSC_CARD_ID]);
}

static void test_name_both_records_and_split_character(void **s)
{
	/* 阿依古丽·买买提艾力·阿不都热合曼: 34 GBK bytes over 09 (30) and 4E. */
	struct fake f;
	struct ssc_card c;
	fake_init(&f);
	fake_step(&f, SELECT, OK);
	script(&f, EF05, 7);
	script(&f, EF06, 1);
	fake_step(&f, "00B2093020", "091EB0A2D2C0B9C5C0F6A1A4C2F2C2F2CCE1B0ACC1A6A1A4B0A2B2BBB6BCC8C8" OK);
	fake_step(&f, "00B24E3016", "4E14BACFC2FC0000000000000000000000000000000000000000" "" OK);
	script(&f, EF06 + 3, 4);
	assert_int_equal(ssc_read(&f.t, &c), SS_OK);
	assert_true(fake_done(&f));
	assert_string_equal(c.value[SSC_NAME], "阿依古丽·买买提艾力·阿不都热合曼");

	/* A character cut in two by the record boundary still decodes: "A" +
	 * 14 characters + the lead byte of 曼 in 09, its trail byte in 4E. */
	fake_init(&f);
	fake_step(&f, SELECT, OK);
	script(&f, EF05, 7);
	script(&f, EF06, 1);
	fake_step(&f, "00B2093020", "091E41B0A2D2C0B9C5C0F6A1A4C2F2C2F2CCE1B0ACC1A6A1A4B0A2B2BBB6BCC2" OK);
	fake_step(&f, "00B24E3016", "4E14FC00000000000000000000000000000000000000" OK);
	script(&f, EF06 + 3, 4);
	assert_int_equal(ssc_read(&f.t, &c), SS_OK);
	assert_string_equal(c.value[SSC_NAME], "A阿依古丽·买买提艾力·阿不都曼");
}

static void test_t0_and_wrong_le_paths(void **s)
{
	/* ssc.c never sees 61xx or 6Cxx: the transmit path resolves them. */
	struct fake f;
	struct ssc_card c;
	fake_init(&f);
	fake_step(&f, SELECT, "6113");
	fake_step(&f, "00C0000013", "6F118410" "7378312E73682EC9E7BBE1B1A3D5CF" OK);
	fake_step(&f, "00B2012812", "6112");
	fake_step(&f, "00C0000012", "0110639900D15600000500BF7C7A48FB4966" OK);
	script(&f, EF05 + 1, 6);
	script(&f, EF06, 1);
	fake_step(&f, "00B2093020", "6C12");
	fake_step(&f, "00B2093012", "0910D5C5C8FD000000000000000000000000" OK);
	script(&f, EF06 + 2, 5);
	assert_int_equal(ssc_read(&f.t, &c), SS_OK);
	assert_true(fake_done(&f));
	assert_int_equal(c.apdus, 18);
	assert_int_equal(c.n_errors, 0);
	assert_string_equal(c.value[SSC_NAME], "张三");
}

static void test_verify_pin(void **s)
{
	struct fake f;
	int left = 99;
	fake_init(&f);
	fake_step(&f, "0020000003123456", OK);
	fake_step(&f, "0020000003654321", "63C2");
	fake_step(&f, "0020000003654321", "63C0");
	fake_step(&f, "002000000312345F", "6983");
	fake_step(&f, "002000000412345678", "6A80");
	assert_int_equal(ssc_verify_pin(&f.t, "123456", &left), SS_OK);
	assert_int_equal(ssc_verify_pin(&f.t, "654321", &left), SS_E_PIN_WRONG);
	assert_int_equal(left, 2);
	assert_int_equal(ssc_verify_pin(&f.t, "654321", &left), SS_E_PIN_BLOCKED);
	assert_int_equal(left, 0);
	assert_int_equal(ssc_verify_pin(&f.t, "12345", &left), SS_E_PIN_BLOCKED);
	assert_int_equal(left, -1);
	assert_int_equal(ssc_verify_pin(&f.t, "12345678", &left), SS_E_CARD);
	/* Malformed PINs never reach the card. */
	assert_int_equal(ssc_verify_pin(&f.t, "123", &left), SS_E_PIN_FORMAT);
	assert_int_equal(ssc_verify_pin(&f.t, "123456789", &left), SS_E_PIN_FORMAT);
	assert_int_equal(ssc_verify_pin(&f.t, "12a456", &left), SS_E_PIN_FORMAT);
	assert_int_equal(ssc_verify_pin(&f.t, NULL, &left), SS_E_PIN_FORMAT);
	assert_true(fake_done(&f));
	assert_int_equal(f.t.apdus, 5);
}

static void test_change_pin(void **s)
{
	struct fake f;
	int left;
	fake_init(&f);
	fake_step(&f, "805E010007123456FF975318", OK);
	fake_step(&f, "805E010008123456FF2468013F", "63C5");
	assert_int_equal(ssc_change_pin(&f.t, "123456", "975318", &left), SS_OK);
	assert_int_equal(ssc_change_pin(&f.t, "123456", "2468013", &left), SS_E_PIN_WRONG);
	assert_int_equal(left, 5);
	assert_int_equal(ssc_change_pin(&f.t, "123456", "12", &left), SS_E_PIN_FORMAT);
	assert_true(fake_done(&f));
}

static void test_decoders(void **s)
{
	char out[32];
	assert_true(ssc_bcd_date((const uint8_t *)"\x19\x92\x02\x29", 4, out));
	assert_string_equal(out, "1992-02-29");
	assert_true(ssc_bcd_date((const uint8_t *)"\x20\x00\x02\x29", 4, out));
	assert_false(ssc_bcd_date((const uint8_t *)"\x19\x00\x02\x29", 4, out));
	assert_false(ssc_bcd_date((const uint8_t *)"\x20\x20\x13\x01", 4, out));
	assert_false(ssc_bcd_date((const uint8_t *)"\x20\x20\x04\x31", 4, out));
	assert_false(ssc_bcd_date((const uint8_t *)"\x20\x20\x04", 3, out));
	assert_string_equal(out, "");
	assert_true(ssc_bcd_digits((const uint8_t *)"\x63\x99\xFF", 3, true, out, sizeof out));
	assert_string_equal(out, "6399");
	assert_false(ssc_bcd_digits((const uint8_t *)"\xFF\xFF", 2, true, out, sizeof out));
	assert_false(ssc_bcd_digits((const uint8_t *)"\x6F\x99", 2, true, out, sizeof out));
	assert_false(ssc_bcd_digits((const uint8_t *)"\x63\x99", 2, false, out, 4)); /* no room */
	assert_true(ssc_ssn_check("111111198101011110"));
	assert_true(ssc_ssn_check("650102198008081243"));
	assert_false(ssc_ssn_check("11111119810101111X"));
	assert_false(ssc_ssn_check("1111111981010111"));
	assert_false(ssc_ssn_check(NULL));
	assert_true(ssc_gbk_to_utf8((const uint8_t *)"\xD5\xC5\xC8\xFD\x00\x00", 6, out, sizeof out));
	assert_string_equal(out, "张三");
	assert_false(ssc_gbk_to_utf8((const uint8_t *)"\xD5", 1, out, sizeof out)); /* cut */
	assert_false(ssc_gbk_to_utf8((const uint8_t *)"\x00\x00", 2, out, sizeof out)); /* empty */
	assert_false(ssc_gbk_to_utf8((const uint8_t *)"\x41\x07\x41", 3, out, sizeof out));
	assert_false(ssc_gbk_to_utf8((const uint8_t *)"\xD5\xC5\xC8\xFD", 4, out, 4)); /* no room */
	assert_string_equal(ssc_field_key(SSC_BIRTH_DATE), "birth_date");
	assert_string_equal(ssc_field_key((enum ssc_field)99), "unknown");
}

static void test_masks(void **s)
{
	char out[64];
	mask_ssn("111111198101011110", out, sizeof out);
	assert_string_equal(out, "111111********1110");
	mask_id("639900D15600000500BF7C7A48FB4966", out, sizeof out);
	assert_string_equal(out, "6399**********4966");
	mask_name("张三", out, sizeof out);
	assert_string_equal(out, "张*");
	mask_name("阿依古丽", out, sizeof out);
	assert_string_equal(out, "阿***");
	mask_name("Li", out, sizeof out);
	assert_string_equal(out, "L*");
	mask_ssn("1234", out, sizeof out); /* too short to show anything */
	assert_string_equal(out, "****");
	mask_name("", out, sizeof out);
	assert_string_equal(out, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_full_sfi),
		cmocka_unit_test(test_read_spec_100_skips_name_ext),
		cmocka_unit_test(test_read_sfi_refused_falls_back),
		cmocka_unit_test(test_read_300_ef06_guarded),
		cmocka_unit_test(test_read_300_authenticated),
		cmocka_unit_test(test_read_refused_then_authenticated),
		cmocka_unit_test(test_read_300_refusals),
		cmocka_unit_test(test_read_300_deferred_then_finished),
		cmocka_unit_test(test_read_300_card_gone_during_auth),
		cmocka_unit_test(test_not_ssc),
		cmocka_unit_test(test_missing_and_bad_records),
		cmocka_unit_test(test_name_both_records_and_split_character),
		cmocka_unit_test(test_t0_and_wrong_le_paths),
		cmocka_unit_test(test_verify_pin),
		cmocka_unit_test(test_change_pin),
		cmocka_unit_test(test_decoders),
		cmocka_unit_test(test_masks),
	};
	return cmocka_run_group_tests_name("ssc", tests, NULL, NULL);
}
