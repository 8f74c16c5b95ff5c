/* sserr.h — the project's error codes, their names and plain sentences,
 * and the one table that turns ISO 7816 status words into them. */
#ifndef SSCARD_SSERR_H
#define SSCARD_SSERR_H

#include <stdint.h>

enum ss_err {
	SS_OK = 0,
	SS_E_INVALID,          /* a caller passed something malformed */
	SS_E_NOMEM,
	SS_E_INTERNAL,
	SS_E_NOT_SSC,          /* SELECT SSSE refused: not a social security card */
	SS_E_NO_CARD,
	SS_E_CARD_REMOVED,
	SS_E_CARD_TIMEOUT,     /* the card or reader did not answer in time */
	SS_E_CARD_UNPOWERED,   /* the card does not respond to reset */
	SS_E_NO_READER,
	SS_E_READER,           /* reader failure not covered by another code */
	SS_E_NO_SERVICE,       /* pcscd is not running */
	SS_E_READER_BUSY,      /* another program holds the card exclusively */
	SS_E_BAD_RESPONSE,     /* the card's answer breaks the protocol */
	SS_E_BAD_DATA,         /* a field holds a value that is not valid */
	SS_E_PIN_WRONG,
	SS_E_PIN_BLOCKED,
	SS_E_PIN_FORMAT,
	SS_E_SECURITY,         /* 6982 */
	SS_E_FILE_NOT_FOUND,   /* 6A82 outside SELECT SSSE */
	SS_E_RECORD_NOT_FOUND, /* 6A83 */
	SS_E_WRONG_PARAMS,     /* 6A86, 6B00 */
	SS_E_WRONG_LENGTH,     /* 6700, 6Cxx left unresolved */
	SS_E_NOT_SUPPORTED,    /* 6D00, 6E00, 6A81 */
	SS_E_CARD_MEMORY,      /* 6581 */
	SS_E_CARD,             /* any other status word */
	SS_E_CHECK_DIGIT,      /* an SSN whose ISO 7064 check character is wrong */
	SS_E_UNKNOWN_READER,
	SS_E_BUSY,             /* the daemon cannot take this now */
	SS_E_CONFIG,
	SS_E_CARD_RESET,       /* another program reset the card under us */
	SS_E_NOT_ALLOWED,      /* an admin verb from someone who is not */
	SS_E_IDLE,             /* a client sent nothing for too long */
	SS_E_LIST,             /* the loss list could not be read */
	SS_E_OUTBOX,           /* a request could not be stored durably */
	SS_E_NO_PIN_PAD,       /* the reader has no PIN pad (PC/SC part 10) */
	SS_E_PIN_CANCELLED,    /* the holder pressed Cancel on the PIN pad */
	SS_E_PIN_TIMEOUT,      /* nobody typed a PIN on the PIN pad in time */
	SS_E_PIN_MISMATCH,     /* the new PIN and its confirmation differ */
	SS_E_SAM,              /* the PSAM (or the central's HSM) is absent, mute or down */
	SS_E_AUTH,             /* external authentication refused (PSAM, HSM or the card) */
	SS_E_AUTH_BLOCKED,     /* the card's authentication key is blocked (6983) */
	SS_E_PINKEY_BLOCKED,   /* §10: the card's PIN key is blocked (6983 to unblock/reload) */
	SS_E_PINKEY_SPENT,     /* §10: the card's unblock/reload count is spent (6A81) */
	SS_E_PINKEY_MAC,       /* §10: the card refused the MAC (6988) */
	SS_E_PROOF,            /* §10: the central wants a fresh verification of the holder */
	SS_E__COUNT
};

/* Stable machine name ("not_ssc"); never NULL. */
const char *ss_err_name(enum ss_err e);
/* One plain sentence for people; never NULL. */
const char *ss_err_text(enum ss_err e);

/* The error named name ("no_card"); SS_E__COUNT when none is. */
enum ss_err ss_err_from_name(const char *name);
/* The reader-API (card-spec §7, client/sscard.h) return code of an error
 * that is not a card's status word: -1 not SSC, -2 no card, -51, -52,
 * -1002 no PIN pad, -1003 timeout, -1004 bad argument, -1006, -1007,
 * -2201 security module absent or mute, -2203 authentication refused,
 * -53 PIN key blocked, -54 unblock/reload count spent, -55 wrong MAC, and
 * -11 for every reader or service failure. */
long ss_err_api_code(enum ss_err e);

/* Status word → error (9000 → SS_OK). */
enum ss_err ss_sw_err(uint16_t sw);
/* Status word → reader-API (LD/T 6001.5) return code as text:
 * "0", "-51", "-52", "-1", else "-" + the SW in upper-case hex.
 * Writes into buf (at least 8 bytes) and returns it. */
const char *ss_sw_ldt(uint16_t sw, char buf[8]);

#endif
