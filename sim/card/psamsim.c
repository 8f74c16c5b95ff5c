/* psamsim.c — the emulated PSAM of card-spec §9 (a profile with "psam
 * yes"): SELECT MF and the SSC DF, its terminal number by READ BINARY of
 * SFI 16, derive K_card = SM4(MK, card id) and encrypt one block under it.
 * Every derive and encrypt is written to the profile's log when it has one,
 * so tests can see that no two cards' pairs interleave. */
#include <string.h>

#include "sim/card/cardsim.h"
#include "sim/card/sm4.h"

static void log_line(struct profile *p, const char *what, const uint8_t *id)
{
	if (!p->log)
		return;
	fprintf(p->log, "%s", what);
	for (int i = 0; id && i < 16; i++)
		fprintf(p->log, "%s%02X", i ? "" : " ", id[i]);
	fputc('\n', p->log);
	fflush(p->log);
}

size_t psamsim_process(struct profile *p, struct card *c, uint8_t ins, uint8_t p1, uint8_t p2,
		       const uint8_t *data, size_t lc, unsigned le, uint8_t *out)
{
	switch (ins) {
	case 0xA4: /* SELECT MF 3F00 or the SSC DF 1001 */
		if (p1 != 0x00 || lc != 2)
			return cardsim_sw(out, 0, 0x6A86);
		if (data[0] == 0x3F && data[1] == 0x00) {
			c->df_selected = c->derived = false;
			return cardsim_sw(out, 0, 0x9000);
		}
		if (data[0] == 0x10 && data[1] == 0x01) {
			c->df_selected = true;
			c->derived = false;
			return cardsim_sw(out, 0, 0x9000);
		}
		return cardsim_sw(out, 0, 0x6A82);
	case 0xB0: { /* READ BINARY, SFI 16: the terminal number, 6 BCD bytes */
		uint8_t bcd[6];
		if (p1 != 0x96 || p2 != 0x00)
			return cardsim_sw(out, 0, 0x6A82);
		for (int i = 0; i < 6; i++)
			bcd[i] = (uint8_t)((p->terminal[2 * i] - '0') << 4 | (p->terminal[2 * i + 1] - '0'));
		return cardsim_data(p, c, bcd, sizeof bcd, le, false, out);
	}
	case 0x1A: /* derive: P1 key usage, P2 master key index, data: the card id */
		if (lc != 16)
			return cardsim_sw(out, 0, 0x6700);
		if (!c->df_selected)
			return cardsim_sw(out, 0, 0x6985);
		c->derived = c->derived_pin = false;
		if (p1 == p->pin_key_usage && p2 == p->pin_key_index && p->has_pin_master) {
			/* §10: K_pin for the MAC mode */
			if (!sm4_block(p->pin_master_key, data, c->k_card))
				return cardsim_sw(out, 0, 0x6F00);
			c->derived_pin = true;
			log_line(p, "derive-pin", data);
			return cardsim_sw(out, 0, 0x9000);
		}
		if (p1 != p->key_usage || p2 != p->key_index)
			return cardsim_sw(out, 0, 0x6A88);
		if (!sm4_block(p->master_key, data, c->k_card))
			return cardsim_sw(out, 0, 0x6F00);
		c->derived = true;
		log_line(p, "derive", data);
		return cardsim_sw(out, 0, 0x9000);
	case 0xFA: { /* encrypt one block under the derived key; P1 05: §10's MAC */
		uint8_t block[16];
		if (p1 == 0x05 && !p2) {
			/* the first 16 bytes are the IV (R ‖ 00×8), the rest the padded M */
			if (lc < 32 || lc % 16)
				return cardsim_sw(out, 0, 0x6700);
			if (!c->derived_pin)
				return cardsim_sw(out, 0, 0x6985);
			if (!sm4_cbc_mac(c->k_card, data, data + 16, lc - 16, block))
				return cardsim_sw(out, 0, 0x6F00);
			c->derived_pin = false; /* one derive serves one MAC */
			log_line(p, "mac", NULL);
			size_t n = cardsim_data(p, c, block, 4, le, true, out);
			memset(block, 0, sizeof block);
			return n;
		}
		if (lc != 16 || p1 || p2)
			return cardsim_sw(out, 0, lc != 16 ? 0x6700 : 0x6A86);
		if (!c->derived)
			return cardsim_sw(out, 0, 0x6985);
		if (!sm4_block(c->k_card, data, block))
			return cardsim_sw(out, 0, 0x6F00);
		c->derived = false; /* one derive serves one encryption */
		log_line(p, "encrypt", NULL);
		size_t n = cardsim_data(p, c, block, sizeof block, le, true, out);
		memset(block, 0, sizeof block);
		return n;
	}
	default:
		return cardsim_sw(out, 0, 0x6D00);
	}
}
