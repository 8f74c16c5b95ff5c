/* apdu.c — APDU check/encode and the single transmit path. */
#include "apdu/apdu.h"

#include <ctype.h>
#include <string.h>
#include <time.h>

int apdu_case(const struct apdu *a)
{
	if (a->lc > 255 || a->le > 256 || (a->lc && !a->data))
		return 0;
	if (!a->lc)
		return a->le ? 2 : 1;
	return a->le ? 4 : 3;
}

enum ss_err apdu_check(const struct apdu *a)
{
	if (!a || !apdu_case(a))
		return SS_E_INVALID;
	/* INS 6x and 9x are procedure bytes under T=0: never valid. */
	if ((a->ins & 0xF0) == 0x60 || (a->ins & 0xF0) == 0x90)
		return SS_E_INVALID;
	return SS_OK;
}

size_t apdu_encode(const struct apdu *a, uint8_t *out)
{
	size_t n = 0;
	if (apdu_check(a) != SS_OK)
		return 0;
	out[n++] = a->cla;
	out[n++] = a->ins;
	out[n++] = a->p1;
	out[n++] = a->p2;
	if (a->lc) {
		out[n++] = (uint8_t)a->lc;
		memcpy(out + n, a->data, a->lc);
		n += a->lc;
	}
	if (a->le)
		out[n++] = (uint8_t)(a->le & 0xFF); /* 256 → 00 */
	return n;
}

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Trace with redaction: secret command data and personal response data are
 * replaced by zero bytes of the same length; headers and SW stay. */
static void trace_one(struct transport *t, const uint8_t *cmd, size_t cmd_len,
		      const uint8_t *rsp, size_t rsp_len, unsigned flags, uint64_t us)
{
	uint8_t c[APDU_CMD_MAX], r[APDU_RAW_MAX];
	if (!t->trace)
		return;
	memcpy(c, cmd, cmd_len);
	memcpy(r, rsp, rsp_len);
	if ((flags & APDU_SECRET_CMD) && cmd_len > 5)
		memset(c + 5, 0, cmd_len - 5);
	if ((flags & APDU_SECRET_RSP) && rsp_len > 2)
		memset(r, 0, rsp_len - 2);
	t->trace(t->trace_arg, c, cmd_len, r, rsp_len, flags, us);
	explicit_bzero(c, sizeof c);
	explicit_bzero(r, sizeof r);
}

static enum ss_err exchange(struct transport *t, const uint8_t *cmd, size_t cmd_len,
			    uint8_t *raw, size_t *raw_len, unsigned flags)
{
	uint64_t t0 = now_us();
	size_t cap = APDU_RAW_MAX;
	enum ss_err e = t->xfer(t->ctx, cmd, cmd_len, raw, &cap);
	t->apdus++;
	if (e != SS_OK)
		return e;
	if (cap < 2 || cap > APDU_RAW_MAX)
		return SS_E_BAD_RESPONSE;
	*raw_len = cap;
	trace_one(t, cmd, cmd_len, raw, cap, flags, now_us() - t0);
	return SS_OK;
}

static enum ss_err append(struct apdu_resp *r, const uint8_t *d, size_t n)
{
	if (r->len + n > sizeof r->data)
		return SS_E_BAD_RESPONSE;
	memcpy(r->data + r->len, d, n);
	r->len += n;
	return SS_OK;
}

enum ss_err apdu_transmit(struct transport *t, const struct apdu *a, struct apdu_resp *r)
{
	uint8_t cmd[APDU_CMD_MAX], raw[APDU_RAW_MAX];
	size_t cmd_len, raw_len = 0;
	struct apdu cur;
	enum ss_err e;

	memset(r, 0, sizeof *r);
	if (!t || !t->xfer || !(cmd_len = apdu_encode(a, cmd)))
		return SS_E_INVALID;
	cur = *a;
	e = exchange(t, cmd, cmd_len, raw, &raw_len, a->flags);
	if (e == SS_OK && raw_len == 2 && raw[0] == 0x6C) {
		/* Wrong Le: resend the same command once with the card's Le. */
		cur.le = raw[1] ? raw[1] : 256;
		cmd_len = apdu_encode(&cur, cmd);
		e = exchange(t, cmd, cmd_len, raw, &raw_len, a->flags);
	}
	explicit_bzero(cmd, sizeof cmd);
	if (e != SS_OK)
		goto out;
	for (int round = 0;; round++) {
		uint8_t sw1 = raw[raw_len - 2], sw2 = raw[raw_len - 1];
		if ((e = append(r, raw, raw_len - 2)) != SS_OK)
			goto out;
		r->sw = (uint16_t)(sw1 << 8 | sw2);
		if (sw1 != 0x61)
			break;
		if (round == APDU_GET_RESPONSE_ROUNDS) {
			e = SS_E_BAD_RESPONSE; /* a card that never stops saying "more" */
			goto out;
		}
		struct apdu gr = {.cla = a->cla & 0x03, .ins = 0xC0, .le = sw2 ? sw2 : 256,
				  .flags = a->flags & APDU_SECRET_RSP};
		cmd_len = apdu_encode(&gr, cmd);
		if ((e = exchange(t, cmd, cmd_len, raw, &raw_len, gr.flags)) != SS_OK)
			goto out;
	}
out:
	explicit_bzero(raw, sizeof raw);
	if (e != SS_OK) {
		explicit_bzero(r->data, sizeof r->data);
		r->len = 0;
	}
	return e;
}

void hex_encode(const uint8_t *in, size_t len, char *out)
{
	static const char digits[] = "0123456789ABCDEF";
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = 0;
}

static int nibble(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

long hex_decode(const char *in, uint8_t *out, size_t cap)
{
	size_t n = 0;
	int hi = -1;
	for (; *in; in++) {
		if (isspace((unsigned char)*in))
			continue;
		int v = nibble((unsigned char)*in);
		if (v < 0)
			return -1;
		if (hi < 0) {
			hi = v;
			continue;
		}
		if (n == cap)
			return -1;
		out[n++] = (uint8_t)(hi << 4 | v);
		hi = -1;
	}
	return hi < 0 ? (long)n : -1;
}
