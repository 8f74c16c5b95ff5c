/* atr.h — ISO 7816-3 answer-to-reset parser and SIMPLE-TLV records. */
#ifndef SSCARD_ATR_H
#define SSCARD_ATR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "apdu/sserr.h"

#define ATR_MAX 33

struct atr {
	uint8_t ts, t0;
	int ta1, tb1, tc1;       /* -1 when absent */
	unsigned protocols;      /* bit n set: T=n offered (T=0 when no TD1) */
	const uint8_t *hist;     /* points into the parsed buffer */
	size_t hist_len;
	bool has_tck, tck_ok;
};

/* Parse buf[0..len). SS_OK, or SS_E_BAD_RESPONSE with a reason in *why
 * (static string) when the ATR is truncated, too long, has a bad TS or a
 * wrong TCK. The struct keeps pointers into buf. */
enum ss_err atr_parse(const uint8_t *buf, size_t len, struct atr *out, const char **why);

/* Whether an ATR is the one a PC/SC reader makes up for a contactless
 * card (PC/SC part 3: 3B 8n 80 01 …): the card is on the RF field. */
bool atr_is_contactless(const uint8_t *atr, size_t len);

/* SIMPLE-TLV record: tag(1) len(1 or FF + 2) value. Returns SS_OK and
 * sets *tag, *val, *vlen when the length fits in buf; SS_E_BAD_RESPONSE
 * when it lies (runs past the end) or buf is too short. */
enum ss_err tlv_simple(const uint8_t *buf, size_t len, uint8_t *tag,
		       const uint8_t **val, size_t *vlen);

#endif
