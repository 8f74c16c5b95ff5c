/* pinrule.h — which new PINs a terminal accepts (activation and PIN
 * change, shared/domain.md): digits only, within [policy] pin_min_len …
 * pin_max_len, not the initial PIN, not all one digit, not a straight run
 * up or down. Pure: no card, no I/O; the PIN is never copied or kept. */
#ifndef SSCARD_PINRULE_H
#define SSCARD_PINRULE_H

#include <stddef.h>

#define PIN_INITIAL "123456"   /* what a new card comes with */

enum pin_verdict {
	PIN_OK,
	PIN_NOT_DIGITS,
	PIN_LENGTH,
	PIN_INITIAL_PIN,
	PIN_ALL_SAME,
	PIN_STRAIGHT,
	PIN_MISMATCH,         /* the two entries differ */
};

/* Judge a new PIN and its confirmation (confirm may be NULL: no check). */
enum pin_verdict pin_judge(const char *pin, const char *confirm, unsigned min_len,
			   unsigned max_len);
/* A stable code ("pin_straight") and a plain sentence for the person. */
const char *pin_verdict_code(enum pin_verdict v);
const char *pin_verdict_text(enum pin_verdict v);

#endif
