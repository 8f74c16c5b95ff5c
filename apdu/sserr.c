/* sserr.c — error names, sentences and the status-word table. */
#include "apdu/sserr.h"

#include <stdio.h>
#include <string.h>

static const struct {
	const char *name;
	const char *text;
} errs[SS_E__COUNT] = {
	[SS_OK] = {"ok", "Done."},
	[SS_E_INVALID] = {"invalid_argument", "The request is not valid."},
	[SS_E_NOMEM] = {"out_of_memory", "The terminal ran out of memory."},
	[SS_E_INTERNAL] = {"internal_error", "The terminal hit an internal error."},
	[SS_E_NOT_SSC] = {"not_ssc", "This is not a social security card."},
	[SS_E_NO_CARD] = {"no_card", "There is no card in the reader."},
	[SS_E_CARD_REMOVED] = {"card_removed",
			       "The card was removed before reading finished. Please insert it again."},
	[SS_E_CARD_TIMEOUT] = {"card_timeout",
			       "The card did not answer in time. Please remove it and insert it again."},
	[SS_E_CARD_UNPOWERED] = {"card_unresponsive",
				 "The card does not respond. Check that it is inserted the right way round."},
	[SS_E_NO_READER] = {"no_reader", "The card reader is not available."},
	[SS_E_READER] = {"reader_error", "The card reader reported an error."},
	[SS_E_NO_SERVICE] = {"no_service", "The smart card service (pcscd) is not running."},
	[SS_E_READER_BUSY] = {"reader_busy", "Another program is using the card; try again in a moment."},
	[SS_E_BAD_RESPONSE] = {"bad_response", "The card answered in a way this terminal does not understand."},
	[SS_E_BAD_DATA] = {"bad_data", "The card holds a value that is not valid."},
	[SS_E_PIN_WRONG] = {"pin_wrong", "The PIN is wrong."},
	[SS_E_PIN_BLOCKED] = {"pin_blocked",
			      "The PIN is blocked. It can be reset at a service counter with an ID card."},
	[SS_E_PIN_FORMAT] = {"pin_format", "A PIN has 4 to 8 digits."},
	[SS_E_SECURITY] = {"security_not_satisfied",
			   "The card shows this only after authentication with a security module."},
	[SS_E_FILE_NOT_FOUND] = {"file_not_found", "The card does not hold this file."},
	[SS_E_RECORD_NOT_FOUND] = {"record_not_found", "The card does not hold this record."},
	[SS_E_WRONG_PARAMS] = {"wrong_parameters", "The card refused the command's parameters."},
	[SS_E_WRONG_LENGTH] = {"wrong_length", "The card refused the command's length."},
	[SS_E_NOT_SUPPORTED] = {"not_supported", "The card does not support this command."},
	[SS_E_CARD_MEMORY] = {"card_memory_failure", "The card reports a memory failure; it may be damaged."},
	[SS_E_CARD] = {"card_error", "The card refused the command."},
	[SS_E_CHECK_DIGIT] = {"check_digit",
			      "The social security number's check character is wrong."},
	[SS_E_UNKNOWN_READER] = {"unknown_reader", "There is no reader of that name."},
	[SS_E_BUSY] = {"busy", "The terminal is busy; try again in a moment."},
	[SS_E_CONFIG] = {"config_error", "The configuration is not valid."},
	[SS_E_CARD_RESET] = {"card_reset", "Another program reset the card. Please try again."},
	[SS_E_NOT_ALLOWED] = {"not_allowed",
			      "Not allowed: this command is for administrators (root or the admin group)."},
	[SS_E_IDLE] = {"idle", "Closed: no request came for too long."},
	[SS_E_OUTBOX] = {"outbox_unavailable",
			 "This terminal cannot take reports right now — please use the counter or call 12333."},
	[SS_E_NO_PIN_PAD] = {"no_pin_pad",
			     "This reader has no PIN pad, and a PIN is never typed on the computer."},
	[SS_E_PIN_CANCELLED] = {"pin_cancelled", "PIN entry was cancelled on the reader's keypad."},
	[SS_E_PIN_TIMEOUT] = {"pin_timeout", "No PIN was entered on the reader's keypad in time."},
	[SS_E_PIN_MISMATCH] = {"pin_mismatch",
			       "The new PIN and its confirmation were different. Please try again."},
	[SS_E_SAM] = {"sam_unavailable",
		      "The security module (PSAM) is absent or does not answer, so the holder's data stays closed."},
	[SS_E_AUTH] = {"auth_refused",
		       "The card did not accept this terminal's authentication, so the holder's data stays closed."},
	[SS_E_AUTH_BLOCKED] = {"auth_blocked",
			       "The card refuses authentication after too many failures. It must go to a service counter."},
	[SS_E_PINKEY_BLOCKED] = {"pinkey_blocked",
				 "The card no longer accepts a PIN unlock or reset here (its key is blocked). It must go to a service counter."},
	[SS_E_PINKEY_SPENT] = {"pinkey_spent",
			       "This card has been unlocked or reset as many times as it allows. It must be replaced."},
	[SS_E_PINKEY_MAC] = {"pinkey_refused",
			     "The card did not accept this terminal's key for the PIN unlock or reset; nothing was changed."},
	[SS_E_PROOF] = {"holder_not_verified",
			"The card holder must be identified first (ID card and one-time code) before the PIN can be unlocked or reset."},
	[SS_E_LIST] = {"list_unavailable",
		       "The loss list could not be checked: do not accept this card as valid."},
};

const char *ss_err_name(enum ss_err e)
{
	if ((unsigned)e >= SS_E__COUNT || !errs[e].name)
		return "internal_error";
	return errs[e].name;
}

const char *ss_err_text(enum ss_err e)
{
	if ((unsigned)e >= SS_E__COUNT || !errs[e].text)
		return errs[SS_E_INTERNAL].text;
	return errs[e].text;
}

enum ss_err ss_err_from_name(const char *name)
{
	for (int i = 0; name && i < SS_E__COUNT; i++)
		if (errs[i].name && !strcmp(errs[i].name, name))
			return (enum ss_err)i;
	return SS_E__COUNT;
}

long ss_err_api_code(enum ss_err e)
{
	switch (e) {
	case SS_OK: return 0;
	case SS_E_NOT_SSC: return -1;
	case SS_E_NO_CARD:
	case SS_E_CARD_REMOVED:
	case SS_E_CARD_UNPOWERED: return -2;
	case SS_E_PIN_WRONG: return -51;
	case SS_E_PIN_BLOCKED: return -52;
	case SS_E_NO_PIN_PAD: return -1002;
	case SS_E_CARD_TIMEOUT:
	case SS_E_PIN_TIMEOUT: return -1003;
	case SS_E_INVALID:
	case SS_E_UNKNOWN_READER: return -1004;
	case SS_E_PIN_CANCELLED: return -1006;
	case SS_E_PIN_MISMATCH:
	case SS_E_PIN_FORMAT: return -1007;
	case SS_E_SAM: return -2201;
	case SS_E_AUTH:
	case SS_E_AUTH_BLOCKED: return -2203;
	case SS_E_PINKEY_BLOCKED: return -53;
	case SS_E_PINKEY_SPENT: return -54;
	case SS_E_PINKEY_MAC: return -55;
	case SS_E_PROOF: return -2203;
	default: return -11;
	}
}

/* The one SW table: value/mask → error, reader-API code (NULL = "-" SW). */
static const struct {
	uint16_t sw, mask;
	enum ss_err err;
	const char *ldt;
} sw_table[] = {
	{0x9000, 0xFFFF, SS_OK, "0"},
	{0x63C0, 0xFFF0, SS_E_PIN_WRONG, "-51"},
	{0x6983, 0xFFFF, SS_E_PIN_BLOCKED, "-52"},
	{0x6982, 0xFFFF, SS_E_SECURITY, NULL},
	{0x6A82, 0xFFFF, SS_E_FILE_NOT_FOUND, "-1"},
	{0x6A83, 0xFFFF, SS_E_RECORD_NOT_FOUND, NULL},
	{0x6A86, 0xFFFF, SS_E_WRONG_PARAMS, NULL},
	{0x6B00, 0xFFFF, SS_E_WRONG_PARAMS, NULL},
	{0x6700, 0xFFFF, SS_E_WRONG_LENGTH, NULL},
	{0x6C00, 0xFF00, SS_E_WRONG_LENGTH, NULL},
	{0x6A81, 0xFFFF, SS_E_NOT_SUPPORTED, NULL},
	{0x6D00, 0xFFFF, SS_E_NOT_SUPPORTED, NULL},
	{0x6E00, 0xFFFF, SS_E_NOT_SUPPORTED, NULL},
	{0x6581, 0xFFFF, SS_E_CARD_MEMORY, NULL},
};

static int sw_find(uint16_t sw)
{
	for (unsigned i = 0; i < sizeof sw_table / sizeof sw_table[0]; i++)
		if ((sw & sw_table[i].mask) == sw_table[i].sw)
			return (int)i;
	return -1;
}

enum ss_err ss_sw_err(uint16_t sw)
{
	int i = sw_find(sw);
	return i < 0 ? SS_E_CARD : sw_table[i].err;
}

const char *ss_sw_ldt(uint16_t sw, char buf[8])
{
	int i = sw_find(sw);
	if (i >= 0 && sw_table[i].ldt)
		snprintf(buf, 8, "%s", sw_table[i].ldt);
	else
		snprintf(buf, 8, "-%04X", (unsigned)sw);
	return buf;
}
