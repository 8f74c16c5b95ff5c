/* hsm.h — the issuer's HSM (加密机) in the reference central, card-spec §9:
 * POST /v1/auth/external {card_id, challenge} → {cryptogram}. The master
 * key is the central's own (SSCARD_CENTRAL_HSM_KEY, 32 hex digits), never
 * a terminal's. sim/ only. */
#ifndef SSCARD_SIM_CENTRAL_HSM_H
#define SSCARD_SIM_CENTRAL_HSM_H

#include <jansson.h>

/* The answer to one request body; *status gets the HTTP status. For
 * tests, SSCARD_CENTRAL_HSM_FAULT=wrong answers a cryptogram the card
 * refuses, =garbage one that is not a cryptogram at all. */
json_t *hsm_external(json_t *body, int *status);
/* card-spec §10: the MAC of a PIN unblock or reload command {card_id,
 * challenge, command} under K_pin = SM4(MK_pin, card id), MK_pin being
 * SSCARD_CENTRAL_HSM_PIN_KEY; *op: "unblock" or "reload" when it made one.
 * Only these two commands are MACed (400 bad_command). The proof and the
 * count are the API's (api.c). SSCARD_CENTRAL_HSM_FAULT as above. */
json_t *hsm_pin(json_t *body, int *status, const char **op);

#endif
