/* fake_transport.c — scripted transport (see fake_transport.h). */
#include "tests/unit/apdu/fake_transport.h"

#include <stdio.h>
#include <string.h>

static enum ss_err fake_xfer(void *ctx, const uint8_t *cmd, size_t cmd_len, uint8_t *rsp,
			     size_t *rsp_len)
{
	struct fake *f = ctx;
	hex_encode(cmd, cmd_len, f->got);
	if (f->raw) {
		/* Fuzzer mode: [len][bytes] records; len 0xFF = card removed. */
		if (f->raw_pos >= f->raw_len)
			return SS_E_CARD_REMOVED;
		size_t n = f->raw[f->raw_pos++];
		if (n == 0xFF)
			return SS_E_CARD_TIMEOUT;
		if (n > f->raw_len - f->raw_pos)
			n = f->raw_len - f->raw_pos;
		size_t k = n < *rsp_len ? n : *rsp_len;
		memcpy(rsp, f->raw + f->raw_pos, k);
		f->raw_pos += n;
		*rsp_len = n; /* may exceed capacity: the caller must notice */
		return SS_OK;
	}
	if (f->pos == f->n) {
		f->mismatch = true;
		return SS_E_CARD_REMOVED;
	}
	const char *want = f->step[f->pos].cmd, *ans = f->step[f->pos].rsp;
	f->pos++;
	if (strcmp(want, "*") && strcasecmp(want, f->got)) {
		fprintf(stderr, "fake transport: step %zu expected %s, got %s\n", f->pos, want, f->got);
		f->mismatch = true;
	}
	if (!strcmp(ans, "!removed"))
		return SS_E_CARD_REMOVED;
	if (!strcmp(ans, "!timeout"))
		return SS_E_CARD_TIMEOUT;
	uint8_t buf[2048];
	long n = hex_decode(ans, buf, sizeof buf);
	if (n < 0) {
		f->mismatch = true;
		return SS_E_INTERNAL;
	}
	size_t k = (size_t)n < *rsp_len ? (size_t)n : *rsp_len;
	memcpy(rsp, buf, k);
	*rsp_len = (size_t)n;
	return SS_OK;
}

void fake_init(struct fake *f)
{
	memset(f, 0, sizeof *f);
	f->t.ctx = f;
	f->t.xfer = fake_xfer;
}

void fake_step(struct fake *f, const char *cmd_hex, const char *rsp_hex)
{
	if (f->n < FAKE_STEPS) {
		f->step[f->n].cmd = cmd_hex;
		f->step[f->n].rsp = rsp_hex;
		f->n++;
	}
}

bool fake_done(const struct fake *f)
{
	return !f->mismatch && f->pos == f->n;
}
