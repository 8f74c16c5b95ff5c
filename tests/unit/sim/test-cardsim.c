/* test-cardsim.c — the emulated card and PSAM keep card-spec §9: SM4 is
 * the standard's (GB/T 32907 example), the PSAM's cryptogram opens the
 * card's EF06, a wrong one counts down, challenges serve one attempt, a
 * new SELECT closes EF06 again, the PSAM refuses out of order; and §10:
 * the MACs the daemon's messages get match openssl's SM4-CBC, the PSAM's
 * MAC unblocks and reloads the card's PIN, wrong MACs block the PIN key
 * for good, a spent count is 6A81. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sim/card/cardsim.h"
#include "sim/card/sm4.h"
#include "apdu/ssc.h"

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

/* ---- card-spec §10 ------------------------------------------------------ */

static const uint8_t ZHANG_ID[16] = {0x63, 0x99, 0x00, 0xD1, 0x56, 0x00, 0x00, 0x05,
				     0x00, 0xBF, 0x7C, 0x7A, 0x48, 0xFB, 0x49, 0x66};
/* K_pin = SM4(MK_pin "SSCARD TEST-PK-1", ZHANG_ID), from `openssl enc -sm4-ecb` */
static const uint8_t ZHANG_KPIN[16] = {0x27, 0x20, 0xDE, 0x57, 0x7C, 0xDD, 0xB1, 0xA1,
				       0x02, 0xC0, 0x5B, 0x6D, 0xC6, 0xC8, 0x51, 0xF2};

/* §10's MAC for messages the daemon builds, against openssl's SM4-CBC
 * (`openssl enc -sm4-cbc -K K_pin -iv R‖00… -nopad` over M padded, the
 * last block's first 4 bytes), computed apart from this code. */
static void test_pinkey_macs_match_openssl(void **s)
{
	static const struct {
		bool reload;
		const char *pin;
		uint8_t r[8], m[9];
		size_t mlen;
		uint8_t mac[4];
	} V[] = {
		{false, NULL, {1, 2, 3, 4, 5, 6, 7, 8}, {0x84, 0x24, 0, 0, 0x04}, 5, {0xB2, 0xDB, 0xFA, 0x1C}},
		{false, NULL, {0xA1, 0xB2, 0xC3, 0xD4, 0xE5, 0xF6, 0x07, 0x18}, {0x84, 0x24, 0, 0, 0x04}, 5,
		 {0xF3, 0x2E, 0xA8, 0x53}},
		{true, "654321", {1, 2, 3, 4, 5, 6, 7, 8}, {0x84, 0x5E, 0, 0, 0x07, 0x65, 0x43, 0x21}, 8,
		 {0x06, 0xBA, 0x8F, 0x41}},
		{true, "12345678", {1, 2, 3, 4, 5, 6, 7, 8}, {0x84, 0x5E, 0, 0, 0x08, 0x12, 0x34, 0x56, 0x78}, 9,
		 {0xD1, 0x58, 0x75, 0x05}},
	};
	for (size_t i = 0; i < sizeof V / sizeof V[0]; i++) {
		uint8_t m[SSC_PINKEY_CMD_MAX], in[SSC_PINKEY_MAC_IN_MAX], mac[16];
		size_t n = ssc_pinkey_command(V[i].reload, V[i].pin, m);
		assert_int_equal(n, V[i].mlen);
		assert_memory_equal(m, V[i].m, n);
		size_t k = ssc_pinkey_mac_input(V[i].r, m, n, in);
		assert_int_equal(k, 32); /* IV block + one padded block */
		assert_int_equal(in[16 + n], 0x80);
		assert_true(sm4_cbc_mac(ZHANG_KPIN, in, in + 16, k - 16, mac));
		assert_memory_equal(mac, V[i].mac, 4);
	}
	uint8_t m[SSC_PINKEY_CMD_MAX];
	assert_int_equal(ssc_pinkey_command(true, "12a456", m), 0); /* not a PIN */
	assert_int_equal(ssc_pinkey_command(true, "123", m), 0);
}

/* The terminal's side: challenge from the card, MAC from the PSAM (derive
 * 46/0B, 80 FA 05 00, 61 04 + GET RESPONSE), the command to the card. */
static uint16_t pinkey(struct profile *card, struct card *cc, struct profile *ps, struct card *pc,
		       bool reload, const char *pin, bool spoil)
{
	uint8_t rsp[300], m[SSC_PINKEY_CMD_MAX], in[SSC_PINKEY_MAC_IN_MAX], cmd[32];
	size_t n, rn;
	const uint8_t chal[] = {0x00, 0x84, 0x00, 0x00, 0x08};
	assert_int_equal(run(card, cc, chal, sizeof chal, rsp, &rn), 0x9000);
	n = ssc_pinkey_command(reload, pin, m);
	size_t k = ssc_pinkey_mac_input(rsp, m, n, in);
	assert_int_equal(cmd5(ps, pc, 0x80, 0x1A, 0x46, 0x0B, ZHANG_ID, 16, rsp, &rn), 0x9000);
	assert_int_equal(cmd5(ps, pc, 0x80, 0xFA, 0x05, 0x00, in, k, rsp, &rn), 0x6104);
	const uint8_t get[] = {0x00, 0xC0, 0x00, 0x00, 0x04};
	assert_int_equal(run(ps, pc, get, sizeof get, rsp, &rn), 0x9000);
	assert_int_equal(rn, 4);
	memcpy(cmd, m, n);
	memcpy(cmd + n, rsp, 4);
	if (spoil)
		cmd[n] ^= 0x01;
	return run(card, cc, cmd, n + 4, rsp, &rn);
}

static uint16_t verify(struct profile *p, struct card *c, const char *pin)
{
	uint8_t b[4] = {0xFF, 0xFF, 0xFF, 0xFF}, rsp[8];
	size_t rn, n = strlen(pin);
	for (size_t i = 0; i < n; i++)
		b[i / 2] = i % 2 ? (uint8_t)((b[i / 2] & 0xF0) | (pin[i] - '0')) : (uint8_t)((pin[i] - '0') << 4 | 0x0F);
	return cmd5(p, c, 0x00, 0x20, 0x00, 0x00, b, (n + 1) / 2, rsp, &rn);
}

static void psam_session_open(struct profile *ps, struct card *pc)
{
	uint8_t rsp[40];
	size_t rn;
	cardsim_load(ps, PROFILES "psam-test.psam");
	assert_int_equal(cmd5(ps, pc, 0, 0xA4, 0, 0, (const uint8_t *)"\x3F\x00", 2, rsp, &rn), 0x9000);
	assert_int_equal(cmd5(ps, pc, 0, 0xA4, 0, 0, (const uint8_t *)"\x10\x01", 2, rsp, &rn), 0x9000);
}

/* 张三's blocked card, its application selected; the PSAM's session open. */
static void blocked_card_and_psam(struct profile *card, struct card *cc, struct profile *ps, struct card *pc)
{
	uint8_t rsp[40];
	size_t rn;
	cardsim_load(card, PROFILES "zhangsan-2.00-blocked.card");
	psam_session_open(ps, pc);
	assert_int_equal(run(card, cc, SELECT_SSSE, sizeof SELECT_SSSE, rsp, &rn), 0x9000);
}

static void test_unblock_and_reload_through_the_psam(void **s)
{
	struct profile card, ps;
	struct card cc = {0}, pc = {0};
	uint8_t rsp[40];
	size_t rn;
	blocked_card_and_psam(&card, &cc, &ps, &pc);
	assert_int_equal(verify(&card, &cc, "123456"), 0x6983); /* blocked */
	assert_int_equal(pinkey(&card, &cc, &ps, &pc, false, NULL, false), 0x9000);
	assert_int_equal(verify(&card, &cc, "123456"), 0x9000); /* unblocked, the same PIN */
	assert_int_equal(pinkey(&card, &cc, &ps, &pc, true, "864209", false), 0x9000);
	assert_int_equal(verify(&card, &cc, "123456"), 0x63C5);
	assert_int_equal(verify(&card, &cc, "864209"), 0x9000); /* reloaded, tries back to 6 */
	/* no challenge first; a challenge serves one command */
	const uint8_t unblock[] = {0x84, 0x24, 0x00, 0x00, 0x04, 1, 2, 3, 4};
	assert_int_equal(run(&card, &cc, unblock, sizeof unblock, rsp, &rn), 0x6985);
	/* wrong lengths */
	const uint8_t shortcmd[] = {0x84, 0x24, 0x00, 0x00, 0x02, 1, 2};
	assert_int_equal(run(&card, &cc, shortcmd, sizeof shortcmd, rsp, &rn), 0x6700);
}

static void test_wrong_macs_block_the_pin_key_and_the_count_runs_out(void **s)
{
	struct profile card, ps;
	struct card cc = {0}, pc = {0};
	uint8_t rsp[40];
	size_t rn;
	blocked_card_and_psam(&card, &cc, &ps, &pc);
	assert_int_equal(pinkey(&card, &cc, &ps, &pc, false, NULL, true), 0x6988);
	assert_int_equal(pinkey(&card, &cc, &ps, &pc, false, NULL, true), 0x6988);
	assert_int_equal(pinkey(&card, &cc, &ps, &pc, false, NULL, false), 0x9000); /* in a row: reset */
	assert_int_equal(pinkey(&card, &cc, &ps, &pc, false, NULL, true), 0x6988);
	assert_int_equal(pinkey(&card, &cc, &ps, &pc, false, NULL, true), 0x6988);
	assert_int_equal(pinkey(&card, &cc, &ps, &pc, false, NULL, true), 0x6983);
	assert_int_equal(pinkey(&card, &cc, &ps, &pc, false, NULL, false), 0x6983); /* for good */
	assert_int_equal(pinkey(&card, &cc, &ps, &pc, true, "864209", false), 0x6983);

	struct profile spent;
	struct card sc = {0};
	cardsim_load(&spent, PROFILES "zhangsan-2.00-spent.card");
	assert_int_equal(run(&spent, &sc, SELECT_SSSE, sizeof SELECT_SSSE, rsp, &rn), 0x9000);
	assert_int_equal(pinkey(&spent, &sc, &ps, &pc, false, NULL, false), 0x6A81);
	assert_int_equal(pinkey(&spent, &sc, &ps, &pc, true, "864209", false), 0x6A81);
	assert_int_equal(verify(&spent, &sc, "123456"), 0x6983); /* still blocked */
	/* the PSAM: a MAC without its derive; a message not in blocks */
	uint8_t in[32] = {0};
	assert_int_equal(cmd5(&ps, &pc, 0x80, 0xFA, 0x05, 0x00, in, 32, rsp, &rn), 0x6985);
	assert_int_equal(cmd5(&ps, &pc, 0x80, 0x1A, 0x46, 0x0B, ZHANG_ID, 16, rsp, &rn), 0x9000);
	assert_int_equal(cmd5(&ps, &pc, 0x80, 0xFA, 0x05, 0x00, in, 24, rsp, &rn), 0x6700);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sm4_standard_example),
		cmocka_unit_test(test_psam_opens_ef06),
		cmocka_unit_test(test_wrong_cryptogram_counts_down),
		cmocka_unit_test(test_psam_terminal_and_order),
		cmocka_unit_test(test_pinkey_macs_match_openssl),
		cmocka_unit_test(test_unblock_and_reload_through_the_psam),
		cmocka_unit_test(test_wrong_macs_block_the_pin_key_and_the_count_runs_out),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
