/* hsm.h — external authentication through the issuer's HSM at the central
 * (card-spec §9), for terminals without a PSAM: POST /v1/auth/external
 * {card_id, challenge} → {cryptogram}, with [upstream]'s token and TLS,
 * bounded by [readers] sam_timeout_ms. Called from reader worker threads;
 * reference counted like psam.h. */
#ifndef SSCARD_HSM_H
#define SSCARD_HSM_H

#include <stddef.h>
#include <stdint.h>

#include "apdu/sserr.h"
#include "daemon/config.h"

struct hsm;

struct hsm *hsm_new(const struct config *cfg);
void hsm_ref(struct hsm *h);
void hsm_unref(struct hsm *h);
/* A reload: the central's address, token, TLS and the timeout. */
void hsm_configure(struct hsm *h, const struct config *cfg);
/* struct ssc_auth's cryptogram (arg: the hsm). SS_OK; SS_E_SAM when the
 * central is down, slow or answers nonsense; SS_E_AUTH when it refuses. */
enum ss_err hsm_cryptogram(void *hsm, const uint8_t card_id[16], const uint8_t challenge[8],
			   uint8_t out[16]);
/* card-spec §10 through the central: POST /v1/auth/pin with the card id,
 * the challenge and the command (from in: ssc_pinkey_mac_input's), and
 * proof, the verification id of this card's holder. SS_OK with the MAC;
 * SS_E_PROOF (no fresh verification), SS_E_PINKEY_SPENT (the central's
 * count), SS_E_AUTH (refused), SS_E_SAM (down, slow, nonsense). */
enum ss_err hsm_pin_mac(struct hsm *h, const uint8_t card_id[16], const uint8_t *in, size_t in_len,
			const char *proof, uint8_t mac[4]);

#endif
