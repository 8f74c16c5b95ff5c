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

#endif
