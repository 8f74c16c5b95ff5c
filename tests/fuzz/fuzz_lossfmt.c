/* fuzz_lossfmt.c — libFuzzer target over what a mirror (or an attacker in
 * front of it) can hand the terminal: snapshot/delta files and heads. The
 * first byte picks the parser. Decoded records must come out in strictly
 * increasing id order. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/losslist/lossfmt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t last[LOSSFMT_ID_LEN];
static int seen;

static int check_order(void *arg, const struct loss_rec *r)
{
	(void)arg;
	if (seen && memcmp(last, r->id, LOSSFMT_ID_LEN) >= 0)
		abort();
	memcpy(last, r->id, LOSSFMT_ID_LEN);
	seen = 1;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t pk[LOSSFMT_PK_LEN] = {1};
	char err[256];
	if (size < 1)
		return 0;
	if (data[0] & 1) {
		struct lossfmt_head h;
		lossfmt_head_read((const char *)data + 1, size - 1, pk, &h, err, sizeof err);
	} else {
		struct lossfmt_file f;
		seen = 0;
		lossfmt_decode(data + 1, size - 1, &f, check_order, NULL, err, sizeof err);
	}
	return 0;
}
