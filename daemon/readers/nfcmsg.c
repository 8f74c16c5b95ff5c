/* nfcmsg.c — the NFC helper's answers, checked field by field (nfcmsg.h). */
#include "daemon/readers/nfcmsg.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "apdu/sserr.h"

/* A bool received as a byte: anything but 0 or 1 is a lie (and reading it
 * as a bool would be undefined). */
static bool flag_ok(bool *b)
{
	uint8_t v;
	memcpy(&v, b, 1);
	return v <= 1;
}

static bool utf8_ok(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		int n = *p < 0x80 ? 0 : (*p & 0xE0) == 0xC0 ? 1 : (*p & 0xF0) == 0xE0 ? 2 : (*p & 0xF8) == 0xF0 ? 3 : -1;
		if (n < 0 || (n == 1 && *p < 0xC2))
			return false;
		p++;
		for (int i = 0; i < n; i++, p++)
			if ((*p & 0xC0) != 0x80)
				return false;
	}
	return true;
}

static bool text_ok(char *s, size_t cap)
{
	return memchr(s, 0, cap) && utf8_ok(s);
}

#define NO(...) (snprintf(why, cap, __VA_ARGS__), false)

static bool card_ok(struct ssc_card *c, char *why, size_t cap)
{
	for (int f = 0; f < SSC_FIELD__COUNT; f++) {
		if (!flag_ok(&c->have[f]))
			return NO("field %d: a flag that is neither 0 nor 1", f);
		if (!text_ok(c->value[f], sizeof c->value[f]))
			return NO("field %d: not a NUL-terminated UTF-8 text", f);
		if (!c->have[f] && c->value[f][0])
			return NO("field %d: a value the card did not give", f);
	}
	if (c->n_errors > SSC_ERRORS_MAX)
		return NO("%zu field errors (at most %d)", c->n_errors, SSC_ERRORS_MAX);
	for (size_t i = 0; i < c->n_errors; i++) {
		unsigned fld, code;
		memcpy(&fld, &c->errors[i].field, sizeof fld);
		memcpy(&code, &c->errors[i].code, sizeof code);
		if (fld >= SSC_FIELD__COUNT || code >= SS_E__COUNT)
			return NO("field error %zu: field %u, code %u out of range", i, fld, code);
	}
	unsigned ae;
	memcpy(&ae, &c->auth_err, sizeof ae);
	if (ae >= SS_E__COUNT)
		return NO("authentication error %u out of range", ae);
	if (!flag_ok(&c->needs_auth) || !flag_ok(&c->authenticated) || !flag_ok(&c->have_challenge))
		return NO("an authentication flag that is neither 0 nor 1");
	if (c->apdus > 10000)
		return NO("%u APDUs for one read", c->apdus);
	return true;
}

bool nfcmsg_check(struct nfcd_ans *a, char *why, size_t cap)
{
	if (a->magic != NFCD_MAGIC)
		return NO("not a helper message");
	switch (a->kind) {
	case NFCD_EVENT: {
		unsigned k;
		memcpy(&k, &a->ev.kind, sizeof k);
		if (k > RDR_SCAN_DONE)
			return NO("event kind %u out of range", k);
		if (!text_ok(a->ev.reader, sizeof a->ev.reader))
			return NO("a reader name that is not a NUL-terminated UTF-8 text");
		if (a->ev.atr_len > sizeof a->ev.atr)
			return NO("an ATR of %zu bytes", a->ev.atr_len);
		return true;
	}
	case NFCD_DONE:
	case NFCD_PIN_DONE:
		if (a->err < 0 || a->err >= SS_E__COUNT)
			return NO("error code %d out of range", (int)a->err);
		if (a->atr_len > sizeof a->atr)
			return NO("an ATR of %u bytes", (unsigned)a->atr_len);
		if (!isfinite(a->elapsed_ms) || a->elapsed_ms < 0 || a->elapsed_ms > 3.6e6)
			return NO("an elapsed time that is not one");
		if (a->loss_rc < -1 || a->loss_rc > 1)
			return NO("a loss list verdict %d", (int)a->loss_rc);
		{
			unsigned st;
			memcpy(&st, &a->loss.state, sizeof st);
			if (st > LOSS_CANCELLED)
				return NO("a loss state %u", st);
		}
		if (a->loss_info.version < 0 || a->loss_info.entries < 0 || a->loss_info.published < 0 ||
		    a->loss_info.base < 0 || a->loss_info.changes < 0)
			return NO("negative loss list figures");
		if (a->tries_left < -1 || a->tries_left > 15)
			return NO("%d PIN tries left", (int)a->tries_left);
		return card_ok(&a->card, why, cap);
	case NFCD_APDU:
		if (a->cmd_len > sizeof a->cmd || a->rsp_len > sizeof a->rsp)
			return NO("an APDU longer than its buffer");
		return true;
	case NFCD_AUTH:
		return true; /* a card id and a challenge: any 24 bytes are one */
	default:
		return NO("message kind %u", (unsigned)a->kind);
	}
}
