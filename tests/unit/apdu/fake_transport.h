/* fake_transport.h — a scripted transport for unit tests and the fuzzer:
 * each step names the command expected ("*" = any) and the raw answer
 * (hex data + SW), or "!removed" / "!timeout" for a transport error. */
#ifndef SSCARD_FAKE_TRANSPORT_H
#define SSCARD_FAKE_TRANSPORT_H

#include <stdbool.h>

#include "apdu/apdu.h"

#define FAKE_STEPS 96

struct fake {
	struct transport t;
	struct {
		const char *cmd, *rsp;
	} step[FAKE_STEPS];
	size_t n, pos;
	bool mismatch;           /* a command differed from the script */
	char got[2 * APDU_CMD_MAX + 1];   /* last command seen, hex */
	const uint8_t *raw;      /* fuzzer: answers come from this buffer instead */
	size_t raw_len, raw_pos;
};

void fake_init(struct fake *f);
void fake_step(struct fake *f, const char *cmd_hex, const char *rsp_hex);
/* All steps used and every command as expected. */
bool fake_done(const struct fake *f);

#endif
