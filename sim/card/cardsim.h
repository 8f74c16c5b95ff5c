/* cardsim.h — the emulated social security card behind both test
 * emulators (sscard-vcard for vpcd, sscard-pn532 for libnfc): one profile
 * format (sim/profiles/README.md), one APDU engine. Test rig, not product. */
#ifndef SSCARD_CARDSIM_H
#define SSCARD_CARDSIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "apdu/apdu.h"

#define MAX_RECS 24

struct record {
	uint8_t ef;            /* 5 or 6 */
	uint8_t bytes[258];    /* the whole TLV as the card returns it */
	size_t len;
};

struct profile {
	uint8_t atr[33];
	size_t atr_len;
	bool ssc, sfi, t0, le_lax, fci, ef06_auth;
	uint8_t select_p1;     /* 0xFF: any of 00/02 */
	size_t chunk;
	char pin[9];
	int pin_max, pin_tries, pin_left; /* pin_left -1: start with pin_max */
	struct record recs[MAX_RECS];
	size_t n_recs;
};

struct card {
	bool app_selected, verified;
	int cur_ef;            /* 0, 5, 6 */
	uint8_t pending[APDU_RSP_MAX];
	size_t pending_len, pending_off;
};

/* Load a profile file; exits with status 2 and "FILE:LINE: why" on a bad one. */
void cardsim_load(struct profile *p, const char *file);
/* One command APDU → the answer (data + SW) in rsp; its length. */
size_t cardsim_process(struct profile *p, struct card *c, const uint8_t *cmd, size_t len,
		       uint8_t *rsp);

#endif
