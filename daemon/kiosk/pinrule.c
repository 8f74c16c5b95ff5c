/* pinrule.c — weak-PIN rules. */
#include "daemon/kiosk/pinrule.h"

#include <string.h>

enum pin_verdict pin_judge(const char *pin, const char *confirm, unsigned min_len,
			   unsigned max_len)
{
	size_t n = pin ? strlen(pin) : 0;
	if (!pin || strspn(pin, "0123456789") != n || !n)
		return PIN_NOT_DIGITS;
	if (n < min_len || n > max_len)
		return PIN_LENGTH;
	if (confirm && strcmp(pin, confirm))
		return PIN_MISMATCH;
	if (!strcmp(pin, PIN_INITIAL))
		return PIN_INITIAL_PIN;
	size_t same = 1, up = 1, down = 1;
	for (size_t i = 1; i < n; i++) {
		same += pin[i] == pin[0];
		up += pin[i] == pin[i - 1] + 1;
		down += pin[i] == pin[i - 1] - 1;
	}
	if (same == n)
		return PIN_ALL_SAME;
	if (up == n || down == n)
		return PIN_STRAIGHT;
	return PIN_OK;
}

const char *pin_verdict_code(enum pin_verdict v)
{
	switch (v) {
	case PIN_OK: return "ok";
	case PIN_NOT_DIGITS: return "pin_not_digits";
	case PIN_LENGTH: return "pin_length";
	case PIN_INITIAL_PIN: return "pin_initial";
	case PIN_ALL_SAME: return "pin_all_same";
	case PIN_STRAIGHT: return "pin_straight";
	case PIN_MISMATCH: return "pin_mismatch";
	}
	return "pin_invalid";
}

const char *pin_verdict_text(enum pin_verdict v)
{
	switch (v) {
	case PIN_OK: return "This PIN can be used.";
	case PIN_NOT_DIGITS: return "A PIN is made of digits only.";
	case PIN_LENGTH: return "The PIN does not have the right number of digits.";
	case PIN_INITIAL_PIN: return "This is the PIN the card came with; please choose another.";
	case PIN_ALL_SAME: return "All digits are the same; please choose a PIN that is harder to guess.";
	case PIN_STRAIGHT: return "The digits run in a straight line; please choose a PIN that is harder to guess.";
	case PIN_MISMATCH: return "The two entries are not the same; please enter the new PIN again.";
	}
	return "This PIN cannot be used.";
}
