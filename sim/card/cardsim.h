/* cardsim.h — the emulated social security card behind both test
 * emulators (sscard-vcard for vpcd, sscard-pn532 for libnfc): one profile
 * format (sim/profiles/README.md), one APDU engine. Test rig, not product. */
#ifndef SSCARD_CARDSIM_H
#define SSCARD_CARDSIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

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
	/* card-spec §9, the card: K_card for EXTERNAL AUTHENTICATE (key 0A) */
	bool has_ext_key;
	uint8_t ext_key[16];
	int ext_max, ext_tries;
	/* card-spec §10, the card: K_pin for UNBLOCK / RELOAD PIN */
	bool has_pin_key;
	uint8_t pin_key[16];
	int pin_key_max, pin_key_tries; /* wrong MACs in a row before 6983 for good */
	int pin_ops_left;      /* the lifetime count of unblocks + reloads (6A81 at 0) */
	/* card-spec §9, a PSAM instead of a card (psam yes) */
	bool psam;
	char terminal[13];     /* 12 digits, read as 6 BCD bytes */
	uint8_t master_key[16];
	uint8_t key_usage, key_index;
	/* card-spec §10, the PSAM: MK_pin, derived for key usage 46, index 0B */
	bool has_pin_master;
	uint8_t pin_master_key[16];
	uint8_t pin_key_usage, pin_key_index;
	FILE *log;             /* the PSAM's derive/encrypt lines, when set */
};

struct card {
	bool app_selected, verified;
	bool challenged, authenticated;  /* §9: a challenge waits; EF06 open */
	uint8_t challenge[8];
	bool df_selected, derived;       /* the PSAM: SSC DF selected; K_card ready */
	bool derived_pin;                /* … K_pin ready (§10: the MAC mode wants it) */
	uint8_t k_card[16];
	int cur_ef;            /* 0, 5, 6 */
	uint8_t pending[APDU_RSP_MAX];
	size_t pending_len, pending_off;
};

/* Load a profile file; exits with status 2 and "FILE:LINE: why" on a bad one. */
void cardsim_load(struct profile *p, const char *file);
/* One command APDU → the answer (data + SW) in rsp; its length. A PSAM
 * profile answers as the PSAM of card-spec §9 (psamsim.c). */
size_t cardsim_process(struct profile *p, struct card *c, const uint8_t *cmd, size_t len,
		       uint8_t *rsp);

/* The PSAM's command engine (psamsim.c), after the common checks. */
size_t psamsim_process(struct profile *p, struct card *c, uint8_t ins, uint8_t p1, uint8_t p2,
		       const uint8_t *data, size_t lc, unsigned le, uint8_t *out);
/* Shared by both engines: data answered directly or through 61xx. */
size_t cardsim_data(struct profile *p, struct card *c, const uint8_t *d, size_t n, unsigned le,
		    bool force_t0, uint8_t *out);
size_t cardsim_sw(uint8_t *out, size_t n, uint16_t sw);

#endif
