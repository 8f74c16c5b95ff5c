/* test-cardsim.c — the emulated card and PSAM keep card-spec §9: SM4 is
 * the standard's (GB/T 32907 example), the PSAM's cryptogram opens the
 * card's EF06, a wrong one counts down, challenges serve one attempt, a
 * new SELECT closes EF06 again, the PSAM refuses out of order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sim/card/cardsim.h"
#include "sim/card/sm4.h"

#define PROFILES SRCDIR "/sim/profiles/"

static const uint8_t SELECT_SSSE[] = {0x00, 0xA4, 0x04, 0x00, 0x0F, 0x73, 0x78, 0x31, 0x2E,
				      0x73, 0x68, 0x2E, 0xC9, 0xE7, 0xBB, 0xE1, 0xB1, 0xA3,
				      0xD5, 0xCF};
static const uint8_t READ_SSN[] = {0x00, 0xB2, 0x08, 0x30, 0x14}; /* EF06 (SFI 6), tag 08 */
static const uint8_t WANGWU_ID[16] = {0x11, 0x01, 0x05, 0xD1, 0x56, 0x00, 0x00, 0x05,
				      0x00, 0xC0, 0xFF, 0xEE, 0x12, 0x34, 0x56, 0x78};

static uint16_t run(struct profile *p, struct card *c, const uint8_t *cmd, size_t n, uint8_t *rsp,
		    size_t *rn)
{
	size_t r = cardsim_process(p, c, cmd, n, rsp);
	assert_true(r >= 2);
	*rn = r - 2;
	return (uint16_t)(rsp[r - 2] << 8 | rsp[r - 1]);
}

static uint16_t cmd5(struct profile *p, struct card *c, uint8_t cla, uint8_t ins, uint8_t p1,
		     uint8_t p2, const uint8_t *data, size_t lc, uint8_t *rsp, size_t *rn)
{
	uint8_t cmd[5 + 255];
	size_t n = 4;
	cmd[0] = cla, cmd[1] = ins, cmd[2] = p1, cmd[3] = p2;
	if (lc) {
		cmd[n++] = (uint8_t)lc;
		memcpy(cmd + n, data, lc);
		n += lc;
	}
	return run(p, c, cmd, n, rsp, rn);
}

/* The PSAM's cryptogram for a challenge: select, derive, encrypt, fetch. */
static uint16_t psam_cryptogram(struct profile *ps, const uint8_t id[16], const uint8_t r[8],
				uint8_t out[16])
{
	struct card c = {0};
	uint8_t rsp[300], block[16] = {0};
	size_t n;
	uint16_t sw;
	assert_int_equal(cmd5(ps, &c, 0, 0xA4, 0, 0, (const uint8_t *)"\x10\x01", 2, rsp, &n), 0x9000);
	if ((sw = cmd5(ps, &c, 0x80, 0x1A, 0x45, 0x0A, id, 16, rsp, &n)) != 0x9000)
		return sw;
	memcpy(block, r, 8);
	block[8] = 0x80;
	sw = cmd5(ps, &c, 0x80, 0xFA, 0, 0, block, 16, rsp, &n);
	assert_int_equal(sw, 0x6110);
	const uint8_t get[] = {0x00, 0xC0, 0x00, 0x00, 0x10};
	sw = run(ps, &c, get, sizeof get, rsp, &n);
	assert_int_equal(n, 16);
	memcpy(out, rsp, 16);
	return sw;
}

static void test_sm4_standard_example(void **s)
{
	/* GB/T 32907-2016, appendix A, example 1 */
	static const uint8_t k[16] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF,
				      0xFE, 0xDC, 0xBA, 0x98, 0x76, 0x54, 0x32, 0x10};
	static const uint8_t want[16] = {0x68, 0x1E, 0xDF, 0x34, 0xD2, 0x06, 0x96, 0x5E,
					 0x86, 0xB3, 0xE9, 0x4F, 0x53, 0x6E, 0x42, 0x46};
	uint8_t out[16];
	assert_true(sm4_block(k, k, out));
	assert_memory_equal(out, want, 16);
}

static void test_psam_opens_ef06(void **s)
{
	struct profile card, ps;
	struct card c = {0};
	uint8_t rsp[300], r[8], cg[16];
	size_t n;
	cardsim_load(&card, PROFILES "wangwu-3.00.card");
	cardsim_load(&ps, PROFILES "psam-test.psam");
	assert_int_equal(run(&card, &c, SELECT_SSSE, sizeof SELECT_SSSE, rsp, &n), 0x9000);
	assert_int_equal(run(&card, &c, READ_SSN, sizeof READ_SSN, rsp, &n), 0x6982);
	/* no challenge yet */
	memset(cg, 0, sizeof cg);
	assert_int_equal(cmd5(&card, &c, 0, 0x82, 0, 0x0A, cg, 16, rsp, &n), 0x6985);
	const uint8_t getch[] = {0x00, 0x84, 0x00, 0x00, 0x08};
	assert_int_equal(run(&card, &c, getch, sizeof getch, rsp, &n), 0x9000);
	assert_int_equal(n, 8);
	memcpy(r, rsp, 8);
	assert_int_equal(psam_cryptogram(&ps, WANGWU_ID, r, cg), 0x9000);
	assert_int_equal(cmd5(&card, &c, 0, 0x82, 0, 0x0A, cg, 16, rsp, &n), 0x9000);
	const uint8_t *read_le = READ_SSN;
	assert_int_equal(run(&card, &c, read_le, sizeof READ_SSN, rsp, &n), 0x9000);
	assert_memory_equal(rsp + 2, "110105193707150333", 18);
	/* a new SELECT closes EF06 again */
	assert_int_equal(run(&card, &c, SELECT_SSSE, sizeof SELECT_SSSE, rsp, &n), 0x9000);
	assert_int_equal(run(&card, &c, read_le, sizeof READ_SSN, rsp, &n), 0x6982);
}

static void test_wrong_cryptogram_counts_down(void **s)
{
	struct profile card, ps;
	struct card c = {0};
	uint8_t rsp[300], r[8], cg[16];
	size_t n;
	const uint8_t getch[] = {0x00, 0x84, 0x00, 0x00, 0x08};
	cardsim_load(&card, PROFILES "wangwu-3.00.card");
	cardsim_load(&ps, PROFILES "psam-wrongkey.psam");
	assert_int_equal(run(&card, &c, SELECT_SSSE, sizeof SELECT_SSSE, rsp, &n), 0x9000);
	for (int left = 2; left >= 0; left--) {
		assert_int_equal(run(&card, &c, getch, sizeof getch, rsp, &n), 0x9000);
		memcpy(r, rsp, 8);
		assert_int_equal(psam_cryptogram(&ps, WANGWU_ID, r, cg), 0x9000);
		uint16_t want = left ? (uint16_t)(0x63C0 | left) : 0x6983;
		assert_int_equal(cmd5(&card, &c, 0, 0x82, 0, 0x0A, cg, 16, rsp, &n), want);
		/* the challenge was used up by the attempt */
		assert_int_equal(cmd5(&card, &c, 0, 0x82, 0, 0x0A, cg, 16, rsp, &n), 0x6985);
	}
	/* blocked: even the right key is refused now */
	struct profile good;
	cardsim_load(&good, PROFILES "psam-test.psam");
	assert_int_equal(run(&card, &c, getch, sizeof getch, rsp, &n), 0x9000);
	memcpy(r, rsp, 8);
	assert_int_equal(psam_cryptogram(&good, WANGWU_ID, r, cg), 0x9000);
	assert_int_equal(cmd5(&card, &c, 0, 0x82, 0, 0x0A, cg, 16, rsp, &n), 0x6983);
}

static void test_psam_terminal_and_order(void **s)
{
	struct profile ps;
	struct card c = {0};
	uint8_t rsp[300], block[16] = {0};
	size_t n;
	cardsim_load(&ps, PROFILES "psam-test.psam");
	assert_int_equal(cmd5(&ps, &c, 0, 0xA4, 0, 0, (const uint8_t *)"\x3F\x00", 2, rsp, &n), 0x9000);
	const uint8_t term[] = {0x00, 0xB0, 0x96, 0x00, 0x06};
	assert_int_equal(run(&ps, &c, term, sizeof term, rsp, &n), 0x9000);
	assert_memory_equal(rsp, "\x41\x01\x00\x81\x34\x75", 6);
	/* derive before the SSC DF is selected; encrypt before a derive */
	assert_int_equal(cmd5(&ps, &c, 0x80, 0x1A, 0x45, 0x0A, WANGWU_ID, 16, rsp, &n), 0x6985);
	assert_int_equal(cmd5(&ps, &c, 0, 0xA4, 0, 0, (const uint8_t *)"\x10\x01", 2, rsp, &n), 0x9000);
	assert_int_equal(cmd5(&ps, &c, 0x80, 0xFA, 0, 0, block, 16, rsp, &n), 0x6985);
	/* another key index or usage: no such key */
	assert_int_equal(cmd5(&ps, &c, 0x80, 0x1A, 0x45, 0x0B, WANGWU_ID, 16, rsp, &n), 0x6A88);
	assert_int_equal(cmd5(&ps, &c, 0x80, 0x1A, 0x46, 0x0A, WANGWU_ID, 16, rsp, &n), 0x6A88);
	/* one derive serves one encryption */
	assert_int_equal(cmd5(&ps, &c, 0x80, 0x1A, 0x45, 0x0A, WANGWU_ID, 16, rsp, &n), 0x9000);
	assert_int_equal(cmd5(&ps, &c, 0x80, 0xFA, 0, 0, block, 16, rsp, &n), 0x6110);
	assert_int_equal(cmd5(&ps, &c, 0x80, 0xFA, 0, 0, block, 16, rsp, &n), 0x6985);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sm4_standard_example),
		cmocka_unit_test(test_psam_opens_ef06),
		cmocka_unit_test(test_wrong_cryptogram_counts_down),
		cmocka_unit_test(test_psam_terminal_and_order),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
