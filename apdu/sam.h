/* sam.h — the PSAM of card-spec §9 over struct transport (no I/O of its
 * own): the session (SELECT MF, the terminal number, SELECT the SSC DF)
 * and one cryptogram (derive K_card from the card id, encrypt R ‖ 80 00…
 * under it). The daemon's PSAM thread runs these; the fuzzer feeds them
 * arbitrary answers. */
#ifndef SSCARD_SAM_H
#define SSCARD_SAM_H

#include <stdint.h>

#include "apdu/apdu.h"

/* Open a session: SS_OK with the 12-digit terminal number in term;
 * SS_E_SAM when the card does not answer as a PSAM (*sw: its answer), or
 * a transport error. */
enum ss_err sam_open(struct transport *t, char term[13], uint16_t *sw);
/* C for this card id and challenge: SS_OK; SS_E_AUTH when the PSAM
 * refuses (*sw: 6A88 no such key …); SS_E_CARD_RESET when it lost the
 * session (6985: open it again); or a transport error. */
enum ss_err sam_cryptogram(struct transport *t, uint8_t key_usage, uint8_t key_index,
			   const uint8_t card_id[16], const uint8_t challenge[8], uint8_t out[16],
			   uint16_t *sw);

/* card-spec §10: derive K_pin (key_usage 46, key_index 0B by default),
 * then the MAC of in (ssc_pinkey_mac_input: R ‖ 00×8 ‖ M padded) with
 * 80 FA 05 00: SS_OK and 4 bytes in mac; SS_E_AUTH when the PSAM refused
 * (*sw: 6A88 no such key …), SS_E_CARD_RESET when it lost the derive, or
 * a transport error. */
enum ss_err sam_pin_mac(struct transport *t, uint8_t key_usage, uint8_t key_index, const uint8_t card_id[16],
			const uint8_t *in, size_t in_len, uint8_t mac[4], uint16_t *sw);

#endif
