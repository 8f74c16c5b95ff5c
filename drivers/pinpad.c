/* pinpad.c — PC/SC part 10 PIN pads: feature discovery, the structures,
 * the answers. */
#include "drivers/pinpad.h"

#include <string.h>

#include "apdu/ssc.h"

#define IOCTL_GET_FEATURE_REQUEST (0x42000000u + 3400u) /* SCARD_CTL_CODE(3400) */
#define FEATURE_VERIFY_PIN_DIRECT 0x06
#define FEATURE_MODIFY_PIN_DIRECT 0x07

void pinpad_parse_features(const uint8_t *tlv, size_t n, struct pinpad_features *f)
{
	memset(f, 0, sizeof *f);
	for (size_t i = 0; i + 2 <= n; i += 2 + (size_t)tlv[i + 1]) {
		if (tlv[i + 1] != 4 || i + 6 > n)
			continue;
		uint32_t code = (uint32_t)tlv[i + 2] << 24 | (uint32_t)tlv[i + 3] << 16 |
				(uint32_t)tlv[i + 4] << 8 | tlv[i + 5];
		if (tlv[i] == FEATURE_VERIFY_PIN_DIRECT)
			f->verify = code;
		else if (tlv[i] == FEATURE_MODIFY_PIN_DIRECT)
			f->modify = code;
	}
}

static void le16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

/* Packed BCD, left-justified, the PIN block PINPAD_DIGITS/2 bytes of the
 * template (F-filled: 6 digits fill it exactly, as ssc_verify_pin packs). */
size_t pinpad_block(enum pinpad_op op, uint8_t *out, size_t cap)
{
	const size_t pin_bytes = (PINPAD_DIGITS + 1) / 2;
	uint8_t apdu[5 + 2 * 4 + 1];
	size_t lc = op == PINPAD_VERIFY ? pin_bytes : 2 * pin_bytes + 1;
	static const uint8_t head[2][4] = {{0x00, 0x20, 0x00, 0x00}, {0x80, 0x5E, 0x01, 0x00}};
	memcpy(apdu, head[op == PINPAD_CHANGE], 4);
	apdu[4] = (uint8_t)lc;
	memset(apdu + 5, 0xFF, lc); /* the separator of CHANGE PIN is FF too */
	size_t dl = 5 + lc, hl = op == PINPAD_VERIFY ? 19 : 24, k = 0;
	if (cap < hl + dl)
		return 0;
	out[k++] = PINPAD_TIMEOUT_S;   /* bTimerOut */
	out[k++] = PINPAD_TIMEOUT_S;   /* bTimerOut2 */
	out[k++] = 0x81;               /* bmFormatString: byte units, offset 0, left, BCD */
	out[k++] = (uint8_t)pin_bytes; /* bmPINBlockString: no length field, block size */
	out[k++] = 0x00;               /* bmPINLengthFormat */
	if (op == PINPAD_CHANGE) {
		out[k++] = 0;                 /* bInsertionOffsetOld */
		out[k++] = (uint8_t)(pin_bytes + 1); /* bInsertionOffsetNew: after old + FF */
	}
	le16(out + k, PINPAD_DIGITS << 8 | PINPAD_DIGITS); /* wPINMaxExtraDigit: min, max */
	k += 2;
	if (op == PINPAD_CHANGE)
		out[k++] = 0x03;       /* bConfirmPIN: ask for the current PIN, confirm the new */
	out[k++] = 0x02;               /* bEntryValidationCondition: the OK key */
	out[k++] = op == PINPAD_VERIFY ? 1 : 3; /* bNumberMessage */
	le16(out + k, 0x0804);         /* wLangId: zh-CN */
	k += 2;
	out[k++] = 0;                  /* bMsgIndex(1) */
	if (op == PINPAD_CHANGE) {
		out[k++] = 1;          /* bMsgIndex2: the new PIN */
		out[k++] = 2;          /* bMsgIndex3: the new PIN again */
	}
	memset(out + k, 0, 3);         /* bTeoPrologue */
	k += 3;
	out[k++] = (uint8_t)dl;        /* ulDataLength, little-endian */
	out[k++] = 0;
	out[k++] = 0;
	out[k++] = 0;
	memcpy(out + k, apdu, dl);
	return k + dl;
}

enum ss_err pinpad_answer(const uint8_t *rsp, size_t n, int *tries_left)
{
	if (tries_left)
		*tries_left = -1;
	if (n != 2)
		return SS_E_BAD_RESPONSE;
	uint16_t sw = (uint16_t)(rsp[0] << 8 | rsp[1]);
	switch (sw) {
	case 0x6400: return SS_E_PIN_TIMEOUT;
	case 0x6401: return SS_E_PIN_CANCELLED;
	case 0x6402: return SS_E_PIN_MISMATCH;
	case 0x6403: return SS_E_PIN_FORMAT;
	case 0x6B80: return SS_E_READER; /* the pad refused our structure */
	default: return ssc_pin_result(sw, tries_left);
	}
}

enum ss_err pinpad_run(pinpad_control_fn ctl, void *ctx, enum pinpad_op op, int *tries_left)
{
	uint8_t buf[256], block[64];
	size_t n = sizeof buf;
	struct pinpad_features f;
	if (tries_left)
		*tries_left = -1;
	enum ss_err e = ctl(ctx, IOCTL_GET_FEATURE_REQUEST, NULL, 0, buf, &n);
	if (e == SS_E_CARD_REMOVED || e == SS_E_NO_CARD || e == SS_E_NO_SERVICE || e == SS_E_NO_READER)
		return e;
	if (e != SS_OK) /* readers without part 10 refuse the ioctl itself */
		return SS_E_NO_PIN_PAD;
	pinpad_parse_features(buf, n, &f);
	uint32_t code = op == PINPAD_VERIFY ? f.verify : f.modify;
	if (!code)
		return SS_E_NO_PIN_PAD;
	size_t bl = pinpad_block(op, block, sizeof block);
	n = sizeof buf;
	e = ctl(ctx, code, block, bl, buf, &n);
	return e != SS_OK ? e : pinpad_answer(buf, n, tries_left);
}
