/* pinpad.h — PIN entry on the reader's own keypad (PC/SC part 10,
 * FEATURE_VERIFY_PIN_DIRECT / FEATURE_MODIFY_PIN_DIRECT), so that a PIN
 * typed at a counter never passes through the computer. No I/O here: the
 * back end gives a function that performs one SCardControl.
 *
 * What a CCID pad does with the structures built here: it shows "PIN?",
 * takes 6 digits (the SSC PIN of card-spec §4) until the holder presses OK,
 * packs them as BCD into the APDU template (00 20 00 00 03 FF FF FF for
 * VERIFY; 80 5E 01 00 07 <old> FF <new> for CHANGE PIN, asking for the new
 * PIN twice), sends that APDU to the card itself and returns only the
 * card's status word — or 64 00 (timeout), 64 01 (Cancel pressed),
 * 64 02 (the two new PINs differ), 64 03 (wrong number of digits). */
#ifndef SSCARD_PINPAD_H
#define SSCARD_PINPAD_H

#include <stddef.h>
#include <stdint.h>

#include "apdu/sserr.h"

#define PINPAD_DIGITS 6          /* the SSC PIN (card-spec §4) */
#define PINPAD_TIMEOUT_S 30      /* how long the pad waits for each PIN */

enum pinpad_op { PINPAD_VERIFY, PINPAD_CHANGE };

/* The pad's control codes; 0 when the reader does not offer it. */
struct pinpad_features {
	uint32_t verify, modify;
};

/* One SCardControl: code, input, output (*out_len: capacity in, length
 * out). SS_OK or the back end's error. */
typedef enum ss_err (*pinpad_control_fn)(void *ctx, uint32_t code, const uint8_t *in, size_t in_len,
					 uint8_t *out, size_t *out_len);

/* The answer to CM_IOCTL_GET_FEATURE_REQUEST: tag, length 4, control code
 * in big-endian, repeated. Unknown tags and a truncated tail are skipped. */
void pinpad_parse_features(const uint8_t *tlv, size_t n, struct pinpad_features *f);
/* The PIN_VERIFY_STRUCTURE or PIN_MODIFY_STRUCTURE (little-endian fields)
 * for the SSC's VERIFY or CHANGE PIN. Returns its length, 0 if cap is short. */
size_t pinpad_block(enum pinpad_op op, uint8_t *out, size_t cap);
/* The pad's answer (the card's SW or the pad's own 64xx) → error;
 * *tries_left as ssc_pin_result. */
enum ss_err pinpad_answer(const uint8_t *rsp, size_t n, int *tries_left);
/* Ask the reader for its features; SS_E_NO_PIN_PAD unless it has the one op
 * needs; else have the holder enter the PIN(s) on the pad. The SSC
 * application must be selected already. */
enum ss_err pinpad_run(pinpad_control_fn ctl, void *ctx, enum pinpad_op op, int *tries_left);

#endif
