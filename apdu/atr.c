/* atr.c — ATR and SIMPLE-TLV parsing with strict bounds. */
#include "apdu/atr.h"

#include <string.h>

static int popcount4(unsigned y)
{
	return (y & 1) + (y >> 1 & 1) + (y >> 2 & 1) + (y >> 3 & 1);
}

enum ss_err atr_parse(const uint8_t *buf, size_t len, struct atr *a, const char **why)
{
	size_t i = 2;
	unsigned y, k;
	int level = 1;
	const char *dummy;

	if (!why)
		why = &dummy;
	memset(a, 0, sizeof *a);
	a->ta1 = a->tb1 = a->tc1 = -1;
	*why = "";
	if (!buf || len < 2) {
		*why = "ATR shorter than TS and T0";
		return SS_E_BAD_RESPONSE;
	}
	if (len > ATR_MAX) {
		*why = "ATR longer than 33 bytes";
		return SS_E_BAD_RESPONSE;
	}
	a->ts = buf[0];
	if (a->ts != 0x3B && a->ts != 0x3F) {
		*why = "TS is neither 3B nor 3F";
		return SS_E_BAD_RESPONSE;
	}
	a->t0 = buf[1];
	y = a->t0 >> 4;
	k = a->t0 & 0x0F;
	for (;;) {
		/* TAi TBi TCi TDi as announced by Y; level 1 has the global ones. */
		if (i + (size_t)popcount4(y) > len) {
			*why = "ATR truncated inside the interface bytes";
			return SS_E_BAD_RESPONSE;
		}
		if (y & 1) {
			if (level == 1)
				a->ta1 = buf[i];
			i++;
		}
		if (y & 2) {
			if (level == 1)
				a->tb1 = buf[i];
			i++;
		}
		if (y & 4) {
			if (level == 1)
				a->tc1 = buf[i];
			i++;
		}
		if (!(y & 8))
			break;
		uint8_t td = buf[i++];
		a->protocols |= 1u << (td & 0x0F);
		y = td >> 4;
		level++;
	}
	if (!a->protocols)
		a->protocols = 1; /* no TD1: T=0 only */
	if (i + k > len) {
		*why = "ATR truncated inside the historical bytes";
		return SS_E_BAD_RESPONSE;
	}
	a->hist = buf + i;
	a->hist_len = k;
	i += k;
	/* TCK is present unless T=0 is the only protocol indicated. */
	a->has_tck = a->protocols != 1;
	if (a->has_tck) {
		if (i + 1 != len) {
			*why = i + 1 > len ? "ATR lacks its TCK" : "ATR has bytes after TCK";
			return SS_E_BAD_RESPONSE;
		}
		uint8_t x = 0;
		for (size_t j = 1; j < len; j++)
			x ^= buf[j];
		a->tck_ok = x == 0;
		if (!a->tck_ok) {
			*why = "ATR checksum (TCK) is wrong";
			return SS_E_BAD_RESPONSE;
		}
	} else if (i != len) {
		*why = "ATR has bytes after the historical bytes";
		return SS_E_BAD_RESPONSE;
	}
	return SS_OK;
}

enum ss_err tlv_simple(const uint8_t *buf, size_t len, uint8_t *tag,
		       const uint8_t **val, size_t *vlen)
{
	size_t hdr = 2, n;
	if (!buf || len < 2)
		return SS_E_BAD_RESPONSE;
	*tag = buf[0];
	if (buf[0] == 0x00 || buf[0] == 0xFF)
		return SS_E_BAD_RESPONSE; /* ISO 7816-4: invalid SIMPLE-TLV tags */
	n = buf[1];
	if (n == 0xFF) {
		if (len < 4)
			return SS_E_BAD_RESPONSE;
		n = (size_t)buf[2] << 8 | buf[3];
		hdr = 4;
	}
	if (n > len - hdr)
		return SS_E_BAD_RESPONSE;
	*val = buf + hdr;
	*vlen = n;
	return SS_OK;
}

bool atr_is_contactless(const uint8_t *atr, size_t len)
{
	return len >= 5 && atr[0] == 0x3B && (atr[1] & 0xF0) == 0x80 && atr[2] == 0x80 &&
	       atr[3] == 0x01;
}
