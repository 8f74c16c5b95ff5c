/* pay.h — the reference central playing the payment platform (issue 29):
 * orders for a fee (a replacement card's), paid from the holder's phone,
 * refunded when the terminal never files what was paid for.
 *
 *   POST /v1/payments  Idempotency-Key; {purpose, card_id, amount_fen}
 *        → 201 {order_id, pay_url, amount_fen, expires_in}; 409
 *        already_paid {order_id} when this card's fee is paid and unused
 *   GET  /v1/payments/ORDER → {order_id, state, amount_fen}; state: created,
 *        paid, used (its request was filed), cancelled, expired, refunded
 *   POST /v1/payments/ORDER/cancel → {state: cancelled}; 409 already_paid
 *
 * `sscard-central pay ORDER` (or `pay last`, the newest waiting) pays it as the phone would: paid, or — an
 * order cancelled or expired — refunded at once. A paid order whose
 * request (replacement with "order_id") does not come within
 * SSCARD_CENTRAL_PAY_SETTLE_S (600) is refunded: money taken is never kept
 * for nothing. Expiry: SSCARD_CENTRAL_PAY_EXPIRY_S (300). */
#ifndef SSCARD_CENTRAL_PAY_H
#define SSCARD_CENTRAL_PAY_H

#include <jansson.h>
#include <stdbool.h>

void pay_schema(void);
/* A payment call (url under /v1/payments): its answer and status; NULL
 * when url is not one. Under central_mu. */
json_t *pay_request(const char *method, const char *url, json_t *body, const char *key, const char *terminal,
		    int *status);
/* A replacement brings order_id: true when the order is paid for this
 * card (it becomes used); else false with the refusal's code in why. */
bool pay_use(const char *order_id, const char *card_id, const char **why);
/* `pay ORDER`: 0, or 2 with a sentence on stderr. */
int pay_cli(const char *order_id);

#endif
