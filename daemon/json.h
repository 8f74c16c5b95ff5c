/* json.h — the JSON the daemon speaks: read results and error replies.
 * Keys are a contract with counter software: add, never rename. */
#ifndef SSCARD_JSON_H
#define SSCARD_JSON_H

#include <jansson.h>
#include <stdint.h>

#include "apdu/ssc.h"

/* {"ok":false,"error":CODE,"message":TEXT}; message NULL = the code's sentence. */
json_t *json_error(enum ss_err e, const char *message);

/* The `read` reply (DESIGN.md): reader, interface, atr, atr_historical,
 * the card's fields (absent when the card did not give them), errors[],
 * apdus, elapsed_ms. New reference; NULL only when out of memory. */
json_t *json_read_result(const char *reader, const char *interface, const uint8_t *atr,
			 size_t atr_len, const struct ssc_card *c, double elapsed_ms);

/* Hex string of bytes as a JSON string. */
json_t *json_hex(const uint8_t *b, size_t n);
/* A deep copy of o with every personal field masked as the logs mask them
 * (ssn, id_number, name, address, birth date, card id and number), for
 * those who may see that a card was read but not whose it is. */
json_t *json_masked_copy(json_t *o);

#endif
