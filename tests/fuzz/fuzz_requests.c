/* fuzz_requests.c — libFuzzer target over what strangers can send or
 * write: diagnostics request lines and configuration files. The first
 * byte picks the parser; the rest is the input. Checks that a parse either
 * fails with a sentence or yields a request whose argument fits. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/config.h"
#include "daemon/request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512];
	if (size < 1)
		return 0;
	char *s = malloc(size);
	if (!s)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = 0;
	if (data[0] & 1) {
		struct config c;
		if (config_load_string(&c, s, "fuzz.conf", err, sizeof err) < 0) {
			if (strncmp(err, "fuzz.conf:", 10))
				abort(); /* every error names FILE:LINE */
		} else if (c.pin_min_len > c.pin_max_len || c.read_timeout_ms < 200)
			abort();
	} else {
		struct request r;
		if (request_parse(s, &r, err, sizeof err) == 0) {
			if (strlen(r.arg) >= REQ_ARG_MAX || r.verb >= REQ__COUNT)
				abort();
		}
	}
	free(s);
	return 0;
}
