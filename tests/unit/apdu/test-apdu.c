/* test-apdu.c — APDU representation, the transmit path, SW table, ATR, TLV. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "apdu/atr.h"
#include "tests/unit/apdu/fake_transport.h"

static const uint8_t D[3] = {1, 2, 3};

static void test_cases_and_checks(void **s)
{
	struct apdu a = {.ins = 0xA4};
	assert_int_equal(apdu_case(&a), 1);
	a.le = 256;
	assert_int_equal(apdu_case(&a), 2);
	a.le = 0, a.data = D, a.lc = 3;
	assert_int_equal(apdu_case(&a), 3);
	a.le = 5;
	assert_int_equal(apdu_case(&a), 4);
	assert_int_equal(apdu_check(&a), SS_OK);
	a.lc = 256;
	assert_int_equal(apdu_check(&a), SS_E_INVALID);
	a.lc = 3, a.le = 257;
	assert_int_equal(apdu_check(&a), SS_E_INVALID);
	a.le = 0, a.data = NULL;
	assert_int_equal(apdu_check(&a), SS_E_INVALID);
	struct apdu bad_ins = {.ins = 0x61};
	assert_int_equal(apdu_check(&bad_ins), SS_E_INVALID);
	bad_ins.ins = 0x9A;
	assert_int_equal(apdu_check(&bad_ins), SS_E_INVALID);
	assert_int_equal(apdu_check(NULL), SS_E_INVALID);
}

static void test_encode(void **s)
{
	uint8_t out[APDU_CMD_MAX];
	char hex[2 * APDU_CMD_MAX + 1];
	struct apdu a = {.cla = 0x00, .ins = 0xB2, .p1 = 0x01, .p2 = 0x28, .le = 256};
	size_t n = apdu_encode(&a, out);
	hex_encode(out, n, hex);
	assert_string_equal(hex, "00B2012800");
	struct apdu b = {.cla = 0x80, .ins = 0x5E, .p1 = 1, .data = D, .lc = 3, .le = 2};
	n = apdu_encode(&b, out);
	hex_encode(out, n, hex);
	assert_string_equal(hex, "805E01000301020302");
	struct apdu bad = {.ins = 0x60};
	assert_int_equal(apdu_encode(&bad, out), 0);
}

static void test_transmit_plain(void **s)
{
	struct fake f;
	struct apdu_resp r;
	struct apdu a = {.ins = 0xB2, .p1 = 1, .p2 = 0x28, .le = 3};
	fake_init(&f);
	fake_step(&f, "00B2012803", "0101AA9000");
	assert_int_equal(apdu_transmit(&f.t, &a, &r), SS_OK);
	assert_int_equal(r.sw, 0x9000);
	assert_int_equal(r.len, 3);
	assert_int_equal(r.data[2], 0xAA);
	assert_int_equal(f.t.apdus, 1);
	assert_true(fake_done(&f));
}

static void test_get_response_chain(void **s)
{
	struct fake f;
	struct apdu_resp r;
	struct apdu a = {.ins = 0xA4, .p1 = 4, .data = D, .lc = 3};
	fake_init(&f);
	fake_step(&f, "00A4040003010203", "6104");
	fake_step(&f, "00C0000004", "111122226102");
	fake_step(&f, "00C0000002", "33339000");
	assert_int_equal(apdu_transmit(&f.t, &a, &r), SS_OK);
	assert_int_equal(r.sw, 0x9000);
	assert_int_equal(r.len, 6);
	assert_memory_equal(r.data, "\x11\x11\x22\x22\x33\x33", 6);
	assert_int_equal(f.t.apdus, 3);
	assert_true(fake_done(&f));
}

static void test_get_response_bounded(void **s)
{
	struct fake f;
	struct apdu_resp r;
	struct apdu a = {.ins = 0xB2, .le = 1};
	fake_init(&f);
	fake_step(&f, "*", "6101");
	for (int i = 0; i < APDU_GET_RESPONSE_ROUNDS; i++)
		fake_step(&f, "00C0000001", "AA6101");
	assert_int_equal(apdu_transmit(&f.t, &a, &r), SS_E_BAD_RESPONSE);
	assert_int_equal(r.len, 0);
	assert_true(fake_done(&f));
}

static void test_get_response_overflow(void **s)
{
	struct fake f;
	struct apdu_resp r;
	struct apdu a = {.ins = 0xB2, .le = 1};
	char big[2 * 256 + 5];
	memset(big, 'A', 512);
	strcpy(big + 512, "6100");
	fake_init(&f);
	fake_step(&f, "*", "6100");
	for (int i = 0; i < 5; i++)
		fake_step(&f, "00C0000000", big); /* 5 × 256 bytes: past APDU_RSP_MAX */
	assert_int_equal(apdu_transmit(&f.t, &a, &r), SS_E_BAD_RESPONSE);
	assert_true(fake_done(&f));
	assert_int_equal(r.len, 0);
}

static void test_wrong_le_resend_once(void **s)
{
	struct fake f;
	struct apdu_resp r;
	struct apdu a = {.ins = 0xB2, .p1 = 9, .p2 = 0x30, .le = 0x20};
	fake_init(&f);
	fake_step(&f, "00B2093020", "6C04");
	fake_step(&f, "00B2093004", "0902AABB9000");
	assert_int_equal(apdu_transmit(&f.t, &a, &r), SS_OK);
	assert_int_equal(r.sw, 0x9000);
	assert_int_equal(r.len, 4);
	/* A card that keeps saying 6C gets exactly one resend. */
	fake_init(&f);
	fake_step(&f, "00B2093020", "6C04");
	fake_step(&f, "00B2093004", "6C05");
	assert_int_equal(apdu_transmit(&f.t, &a, &r), SS_OK);
	assert_int_equal(r.sw, 0x6C05);
	assert_true(fake_done(&f));
	assert_int_equal(ss_sw_err(r.sw), SS_E_WRONG_LENGTH);
}

static void test_bad_answers(void **s)
{
	struct fake f;
	struct apdu_resp r;
	struct apdu a = {.ins = 0xB2, .le = 1};
	char huge[2 * 259 + 1];
	memset(huge, 'B', sizeof huge - 1);
	huge[sizeof huge - 1] = 0;
	fake_init(&f);
	fake_step(&f, "*", "90");       /* truncated: no SW */
	fake_step(&f, "*", "");         /* empty */
	fake_step(&f, "*", huge);       /* 259 bytes: longer than any short R-APDU */
	fake_step(&f, "*", "!removed");
	fake_step(&f, "*", "!timeout");
	assert_int_equal(apdu_transmit(&f.t, &a, &r), SS_E_BAD_RESPONSE);
	assert_int_equal(apdu_transmit(&f.t, &a, &r), SS_E_BAD_RESPONSE);
	assert_int_equal(apdu_transmit(&f.t, &a, &r), SS_E_BAD_RESPONSE);
	assert_int_equal(apdu_transmit(&f.t, &a, &r), SS_E_CARD_REMOVED);
	assert_int_equal(apdu_transmit(&f.t, &a, &r), SS_E_CARD_TIMEOUT);
	struct apdu invalid = {.ins = 0x90};
	assert_int_equal(apdu_transmit(&f.t, &invalid, &r), SS_E_INVALID);
	assert_true(fake_done(&f));
}

static uint8_t traced_cmd[APDU_CMD_MAX], traced_rsp[APDU_RAW_MAX];
static size_t traced_cmd_len, traced_rsp_len;

static void trace_cb(void *arg, const uint8_t *cmd, size_t cl, const uint8_t *rsp, size_t rl,
		     unsigned flags, uint64_t us)
{
	memcpy(traced_cmd, cmd, cl);
	memcpy(traced_rsp, rsp, rl);
	traced_cmd_len = cl;
	traced_rsp_len = rl;
}

static void test_trace_redacts_secrets(void **s)
{
	struct fake f;
	struct apdu_resp r;
	const uint8_t pin[3] = {0x12, 0x34, 0x56};
	struct apdu v = {.ins = 0x20, .data = pin, .lc = 3, .flags = APDU_SECRET_CMD};
	struct apdu rd = {.ins = 0xB2, .p1 = 8, .p2 = 0x30, .le = 4, .flags = APDU_SECRET_RSP};
	fake_init(&f);
	f.t.trace = trace_cb;
	fake_step(&f, "0020000003123456", "9000");
	fake_step(&f, "00B2083004", "080231329000");
	assert_int_equal(apdu_transmit(&f.t, &v, &r), SS_OK);
	assert_int_equal(traced_cmd_len, 8);
	assert_memory_equal(traced_cmd, "\x00\x20\x00\x00\x03\x00\x00\x00", 8);
	assert_int_equal(apdu_transmit(&f.t, &rd, &r), SS_OK);
	assert_int_equal(traced_rsp_len, 6);
	assert_memory_equal(traced_rsp, "\x00\x00\x00\x00\x90\x00", 6);
	assert_memory_equal(r.data, "\x08\x02\x31\x32", 4); /* the caller still gets the data */
}

static void test_sw_table(void **s)
{
	char b[8];
	assert_int_equal(ss_sw_err(0x9000), SS_OK);
	assert_int_equal(ss_sw_err(0x63C3), SS_E_PIN_WRONG);
	assert_int_equal(ss_sw_err(0x6983), SS_E_PIN_BLOCKED);
	assert_int_equal(ss_sw_err(0x6982), SS_E_SECURITY);
	assert_int_equal(ss_sw_err(0x6A82), SS_E_FILE_NOT_FOUND);
	assert_int_equal(ss_sw_err(0x6A83), SS_E_RECORD_NOT_FOUND);
	assert_int_equal(ss_sw_err(0x6A86), SS_E_WRONG_PARAMS);
	assert_int_equal(ss_sw_err(0x6B00), SS_E_WRONG_PARAMS);
	assert_int_equal(ss_sw_err(0x6D00), SS_E_NOT_SUPPORTED);
	assert_int_equal(ss_sw_err(0x6E00), SS_E_NOT_SUPPORTED);
	assert_int_equal(ss_sw_err(0x6581), SS_E_CARD_MEMORY);
	assert_int_equal(ss_sw_err(0x6F00), SS_E_CARD);
	assert_int_equal(ss_sw_err(0x1234), SS_E_CARD);
	assert_string_equal(ss_sw_ldt(0x9000, b), "0");
	assert_string_equal(ss_sw_ldt(0x63C2, b), "-51");
	assert_string_equal(ss_sw_ldt(0x6983, b), "-52");
	assert_string_equal(ss_sw_ldt(0x6A82, b), "-1");
	assert_string_equal(ss_sw_ldt(0x6A83, b), "-6A83");
	assert_string_equal(ss_sw_ldt(0x6982, b), "-6982");
	for (int e = 0; e < SS_E__COUNT; e++) {
		assert_non_null(ss_err_name((enum ss_err)e));
		assert_true(strlen(ss_err_text((enum ss_err)e)) > 4);
	}
	assert_string_equal(ss_err_name(SS_E_NOT_SSC), "not_ssc");
	assert_string_equal(ss_err_text(SS_E_NOT_SSC), "This is not a social security card.");
	assert_string_equal(ss_err_name((enum ss_err)999), "internal_error");
}

static void parse_ok(const char *hex, const char *hist, unsigned protocols, bool tck)
{
	uint8_t b[64];
	char h[80];
	struct atr a;
	const char *why;
	long n = hex_decode(hex, b, sizeof b);
	assert_true(n > 0);
	assert_int_equal(atr_parse(b, (size_t)n, &a, &why), SS_OK);
	hex_encode(a.hist, a.hist_len, h);
	assert_string_equal(h, hist);
	assert_int_equal(a.protocols, protocols);
	assert_int_equal(a.has_tck, tck);
}

static void parse_bad(const char *hex, const char *why_part)
{
	uint8_t b[64];
	struct atr a;
	const char *why;
	long n = hex_decode(hex, b, sizeof b);
	assert_int_equal(atr_parse(b, (size_t)(n < 0 ? 0 : n), &a, &why), SS_E_BAD_RESPONSE);
	assert_non_null(strstr(why, why_part));
}

static void test_atr(void **s)
{
	/* The SSC card of card-spec.md: T=0 only, TB1 TC1, 13 historical bytes. */
	parse_ok("3B6D000000814E43238697159900BF7C7A", "00814E43238697159900BF7C7A", 1, false);
	/* T=1 with TCK, two TD bytes. */
	parse_ok("3BE900008131FE4500814E432386971599D0", "00814E432386971599", 2, true);
	/* A dual-interface card, TA1 = 96, T=0 and T=1 and T=15 global bytes. */
	parse_ok("3BDD960081B1FE451F030064045A110031C073F701000083", "0064045A110031C073F7010000",
		 0x8002, true);
	/* PC/SC part 3 storage card ATR (T=1 and T=15 indicated). */
	parse_ok("3B8F8001804F0CA000000306030001000000006A", "804F0CA00000030603000100000000", 3, true);
}

static void test_atr_more(void **s)
{
	uint8_t cl[20], ct[20];
	long ncl = hex_decode("3B8D800100814E43238697159900BF7C7A87", cl, sizeof cl);
	long nct = hex_decode("3B6D000000814E43238697159900BF7C7A", ct, sizeof ct);
	assert_true(atr_is_contactless(cl, (size_t)ncl));
	assert_false(atr_is_contactless(ct, (size_t)nct));
	assert_false(atr_is_contactless(cl, 4));
	parse_ok("3B6800000073C84012009000", "0073C84012009000", 1, false);
	parse_ok("3B00", "", 1, false);
	parse_bad("3B", "shorter");
	parse_bad("3C00", "TS");
	parse_bad("3B6D000000814E4323", "historical");
	parse_bad("3BE900008131FE4500814E432386971599D1", "TCK");
	parse_bad("3BE900008131FE4500814E432386971599", "lacks its TCK");
	parse_bad("3BE9000081", "interface");
	parse_bad("3B0000", "after the historical");
	parse_bad("3B0F000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F", "longer");
}

static void test_tlv(void **s)
{
	uint8_t tag;
	const uint8_t *v;
	size_t n;
	const uint8_t ok[] = {0x07, 0x02, 'A', 'B', 0x90};
	assert_int_equal(tlv_simple(ok, sizeof ok, &tag, &v, &n), SS_OK);
	assert_int_equal(tag, 7);
	assert_int_equal(n, 2);
	assert_memory_equal(v, "AB", 2);
	const uint8_t lies[] = {0x07, 0x09, 'A'};
	assert_int_equal(tlv_simple(lies, sizeof lies, &tag, &v, &n), SS_E_BAD_RESPONSE);
	const uint8_t ext[] = {0x01, 0xFF, 0x00, 0x01, 'Z'};
	assert_int_equal(tlv_simple(ext, sizeof ext, &tag, &v, &n), SS_OK);
	assert_int_equal(n, 1);
	const uint8_t ext_lies[] = {0x01, 0xFF, 0x01, 0x00, 'Z'};
	assert_int_equal(tlv_simple(ext_lies, sizeof ext_lies, &tag, &v, &n), SS_E_BAD_RESPONSE);
	const uint8_t ext_short[] = {0x01, 0xFF, 0x00};
	assert_int_equal(tlv_simple(ext_short, sizeof ext_short, &tag, &v, &n), SS_E_BAD_RESPONSE);
	const uint8_t zero_tag[] = {0x00, 0x00};
	assert_int_equal(tlv_simple(zero_tag, 2, &tag, &v, &n), SS_E_BAD_RESPONSE);
	assert_int_equal(tlv_simple(ok, 1, &tag, &v, &n), SS_E_BAD_RESPONSE);
	assert_int_equal(tlv_simple(NULL, 0, &tag, &v, &n), SS_E_BAD_RESPONSE);
}

static void test_hex(void **s)
{
	uint8_t b[4];
	char h[9];
	assert_int_equal(hex_decode("de AD 0f", b, sizeof b), 3);
	hex_encode(b, 3, h);
	assert_string_equal(h, "DEAD0F");
	assert_int_equal(hex_decode("ABC", b, sizeof b), -1);
	assert_int_equal(hex_decode("zz", b, sizeof b), -1);
	assert_int_equal(hex_decode("0011223344", b, sizeof b), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases_and_checks),
		cmocka_unit_test(test_encode),
		cmocka_unit_test(test_transmit_plain),
		cmocka_unit_test(test_get_response_chain),
		cmocka_unit_test(test_get_response_bounded),
		cmocka_unit_test(test_get_response_overflow),
		cmocka_unit_test(test_wrong_le_resend_once),
		cmocka_unit_test(test_bad_answers),
		cmocka_unit_test(test_trace_redacts_secrets),
		cmocka_unit_test(test_sw_table),
		cmocka_unit_test(test_atr),
		cmocka_unit_test(test_atr_more),
		cmocka_unit_test(test_tlv),
		cmocka_unit_test(test_hex),
	};
	return cmocka_run_group_tests_name("apdu", tests, NULL, NULL);
}
