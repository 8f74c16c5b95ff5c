/* sam.c — the PSAM's APDUs (sam.h). */
#include "apdu/sam.h"

#include <string.h>

#include "apdu/ssc.h"

enum ss_err sam_open(struct transport *t, char term[13], uint16_t *sw)
{
	static const uint8_t MF[2] = {0x3F, 0x00}, DF[2] = {0x10, 0x01};
	struct apdu sel = {.cla = 0x00, .ins = 0xA4, .lc = 2, .data = MF};
	struct apdu rb = {.cla = 0x00, .ins = 0xB0, .p1 = 0x96, .p2 = 0x00, .le = 6};
	struct apdu_resp r;
	enum ss_err e;
	term[0] = 0;
	*sw = 0;
	if ((e = apdu_transmit(t, &sel, &r)) != SS_OK)
		return e;
	if ((*sw = r.sw) != 0x9000)
		return SS_E_SAM;
	if ((e = apdu_transmit(t, &rb, &r)) != SS_OK)
		return e;
	if ((*sw = r.sw) != 0x9000 || r.len != 6 || !ssc_bcd_digits(r.data, 6, false, term, 13) ||
	    strlen(term) != 12) {
		term[0] = 0;
		return SS_E_SAM;
	}
	sel.data = DF;
	if ((e = apdu_transmit(t, &sel, &r)) != SS_OK)
		return e;
	if ((*sw = r.sw) != 0x9000) {
		term[0] = 0;
		return SS_E_SAM;
	}
	return SS_OK;
}

enum ss_err sam_cryptogram(struct transport *t, uint8_t key_usage, uint8_t key_index,
			   const uint8_t card_id[16], const uint8_t challenge[8], uint8_t out[16],
			   uint16_t *sw)
{
	uint8_t block[16] = {0};
	struct apdu der = {.cla = 0x80, .ins = 0x1A, .p1 = key_usage, .p2 = key_index,
			   .data = card_id, .lc = 16, .flags = APDU_SECRET_CMD};
	struct apdu enc = {.cla = 0x80, .ins = 0xFA, .data = block, .lc = 16,
			   .flags = APDU_SECRET_CMD | APDU_SECRET_RSP};
	struct apdu_resp r;
	enum ss_err e;
	memcpy(block, challenge, 8);
	block[8] = 0x80;
	*sw = 0;
	if ((e = apdu_transmit(t, &der, &r)) == SS_OK && (*sw = r.sw) == 0x9000 &&
	    (e = apdu_transmit(t, &enc, &r)) == SS_OK && (*sw = r.sw) == 0x9000) {
		if (r.len == 16)
			memcpy(out, r.data, 16);
		else
			e = SS_E_AUTH; /* an answer that is not one block */
	} else if (e == SS_OK)
		e = r.sw == 0x6985 ? SS_E_CARD_RESET : SS_E_AUTH;
	explicit_bzero(block, sizeof block);
	explicit_bzero(&r, sizeof r);
	return e;
}

enum ss_err sam_pin_mac(struct transport *t, uint8_t key_usage, uint8_t key_index, const uint8_t card_id[16],
			const uint8_t *in, size_t in_len, uint8_t mac[4], uint16_t *sw)
{
	struct apdu der = {.cla = 0x80, .ins = 0x1A, .p1 = key_usage, .p2 = key_index,
			   .data = card_id, .lc = 16, .flags = APDU_SECRET_CMD};
	struct apdu m = {.cla = 0x80, .ins = 0xFA, .p1 = 0x05, .data = in, .lc = in_len, .le = 4,
			 .flags = APDU_SECRET_CMD | APDU_SECRET_RSP};
	struct apdu_resp r;
	enum ss_err e;
	*sw = 0;
	if ((e = apdu_transmit(t, &der, &r)) == SS_OK && (*sw = r.sw) == 0x9000 &&
	    (e = apdu_transmit(t, &m, &r)) == SS_OK && (*sw = r.sw) == 0x9000) {
		if (r.len == 4)
			memcpy(mac, r.data, 4);
		else
			e = SS_E_AUTH; /* an answer that is not a MAC */
	} else if (e == SS_OK)
		e = r.sw == 0x6985 ? SS_E_CARD_RESET : SS_E_AUTH;
	explicit_bzero(&r, sizeof r);
	return e;
}
