/* ssc.h — the social security card application (SSSE): select, read the
 * EF05/EF06 fields, VERIFY and CHANGE PIN. Written against struct
 * transport only; never sees 61xx/6Cxx (apdu_transmit handles them). */
#ifndef SSCARD_SSC_H
#define SSCARD_SSC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "apdu/apdu.h"

enum ssc_field {
	SSC_CARD_ID,      /* EF05/01 → 32 hex, and region from its first 3 bytes */
	SSC_CARD_TYPE,    /* EF05/02 */
	SSC_SPEC_VERSION, /* EF05/03 */
	SSC_ISSUER,       /* EF05/04 */
	SSC_ISSUE_DATE,   /* EF05/05 → YYYY-MM-DD */
	SSC_EXPIRY_DATE,  /* EF05/06 */
	SSC_CARD_NUMBER,  /* EF05/07 */
	SSC_SSN,          /* EF06/08 */
	SSC_NAME,         /* EF06/09 (+ 4E) → UTF-8 */
	SSC_SEX,          /* EF06/0A */
	SSC_NATION,       /* EF06/0B */
	SSC_BIRTHPLACE,   /* EF06/0C */
	SSC_BIRTH_DATE,   /* EF06/0D */
	SSC_REGION,       /* derived from the card identifier */
	SSC_FIELD__COUNT
};

#define SSC_VALUE_MAX 160
#define SSC_ERRORS_MAX 16

struct ssc_error {
	enum ssc_field field;
	enum ss_err code;
	uint16_t sw;            /* 0 when the error is not a status word */
};

struct ssc_card {
	char value[SSC_FIELD__COUNT][SSC_VALUE_MAX]; /* "" when absent */
	bool have[SSC_FIELD__COUNT];
	struct ssc_error errors[SSC_ERRORS_MAX];
	size_t n_errors;
	unsigned apdus;         /* exchanges on the wire for this read */
	/* card-spec §9, for cards whose EF06 needs external authentication */
	bool needs_auth;        /* EF06 answered 6982 */
	bool authenticated;     /* … and was opened by EXTERNAL AUTHENTICATE */
	enum ss_err auth_err;   /* why it was not (SS_OK: not tried or it worked) */
	uint16_t auth_sw;       /* the card's answer when it refused, else 0 */
	bool have_challenge;    /* ssc_auth.defer: R is in challenge, the card waits */
	uint8_t challenge[8];
};

/* card-spec §9: who turns a 3.00 card's challenge R into the cryptogram
 * C = SM4(K_card, R ‖ 80 00 …). The terminal holds no key: cryptogram()
 * asks the PSAM or the central's HSM and must not block past its own
 * deadline. It returns SS_OK with C, SS_E_SAM (absent, mute, down) or
 * SS_E_AUTH or SS_E_AUTH_BLOCKED (refused). defer: stop after GET CHALLENGE and keep R in
 * ssc_card.challenge (the counter's own encryptor finishes the job with
 * ssc_authenticate + ssc_read_ef06). */
struct ssc_auth {
	enum ss_err (*cryptogram)(void *arg, const uint8_t card_id[16], const uint8_t challenge[8],
				  uint8_t out[16]);
	void *arg;
	uint8_t key_id;         /* P2 of EXTERNAL AUTHENTICATE (§9: 0A) */
	bool defer;
};

/* JSON key of a field ("card_id", "ssn", …); never NULL. */
const char *ssc_field_key(enum ssc_field f);

/* SELECT the SSSE application. SS_E_NOT_SSC when the card has none. */
enum ss_err ssc_select(struct transport *t);

/* Select SSSE and read every EF05/EF06 field with the fewest APDUs the
 * card allows. Returns SS_OK when the application answered (fields the
 * card refused are absent and listed in out->errors), SS_E_NOT_SSC, or a
 * transport error (card removed, timeout) that aborts the read. out is
 * wiped first; call ssc_card_wipe when done with personal data. */
enum ss_err ssc_read(struct transport *t, struct ssc_card *out);
/* SELECT the application and read only EF05's card id (卡识别码, 16 bytes):
 * what §10 derives the PIN key from. SS_OK, a card's refusal, or a
 * transport error. */
enum ss_err ssc_read_card_id(struct transport *t, uint8_t id[16]);
/* The same, and when EF06 answers 6982, external authentication through
 * auth (NULL: none) before EF06 is read: 2 APDUs more at the card. A
 * refusal leaves the EF05 part and says why in auth_err and errors. */
enum ss_err ssc_read_auth(struct transport *t, const struct ssc_auth *auth, struct ssc_card *out);
/* EXTERNAL AUTHENTICATE with cryptogram C after the card's last GET
 * CHALLENGE: SS_OK, SS_E_AUTH (*sw: 63Cx, 6985 …), SS_E_AUTH_BLOCKED
 * (6983), or a transport error. */
enum ss_err ssc_authenticate(struct transport *t, uint8_t key_id, const uint8_t c[16], uint16_t *sw);
/* Read EF06's fields into out (EF05's kept) without selecting the
 * application again: after ssc_authenticate on a card read with defer. */
enum ss_err ssc_read_ef06(struct transport *t, struct ssc_card *out);
void ssc_card_wipe(struct ssc_card *c);

/* VERIFY / CHANGE PIN on the selected application. PINs are 4–8 ASCII
 * digits (SS_E_PIN_FORMAT otherwise). On SS_E_PIN_WRONG, *tries_left is
 * set (or -1 when unknown). Every PIN byte this code copies is wiped. */
/* The answer to VERIFY / CHANGE PIN: SS_OK, SS_E_PIN_WRONG with
 * *tries_left (63Cx), SS_E_PIN_BLOCKED (63C0, 6983), else ss_sw_err. */
enum ss_err ssc_pin_result(uint16_t sw, int *tries_left);
enum ss_err ssc_verify_pin(struct transport *t, const char *pin, int *tries_left);
/* How many tries the PIN has left, without spending one: VERIFY with no
 * data (ISO 7816-4). SS_OK with *tries_left 1..15 (63Cx), or -1 when the
 * card does not say (9000, or a card that refuses the empty VERIFY: 6700,
 * 6A86 …); SS_E_PIN_BLOCKED (63C0, 6983); or a transport error. */
enum ss_err ssc_pin_tries(struct transport *t, int *tries_left);

/* card-spec §10. UNBLOCK PIN (84 24) and RELOAD PIN (84 5E) carry a MAC
 * the terminal cannot make: the PSAM (or the HSM) makes it over M, the
 * command's header and data without the MAC, bound to the card's challenge. */
#define SSC_PINKEY_CMD_MAX 16
#define SSC_PINKEY_MAC_IN_MAX 48
/* M for an unblock (reload false) or a reload to new_pin (4–8 digits,
 * packed BCD, F-padded): its length, 0 for a PIN that is not one. */
size_t ssc_pinkey_command(bool reload, const char *new_pin, uint8_t m[SSC_PINKEY_CMD_MAX]);
/* The PSAM's MAC input (80 FA 05 00's data): R ‖ 00×8, then M padded by
 * ISO/IEC 9797-1 method 2 to whole 16-byte blocks; its length. */
size_t ssc_pinkey_mac_input(const uint8_t r[8], const uint8_t *m, size_t n,
			    uint8_t out[SSC_PINKEY_MAC_IN_MAX]);
/* The card's answer to either command: SS_OK, SS_E_PINKEY_BLOCKED (6983),
 * SS_E_PINKEY_SPENT (6A81), SS_E_PINKEY_MAC (6988), or the status word's. */
enum ss_err ssc_pinkey_result(uint16_t sw);
/* Who makes the MAC: the PSAM or the HSM (they hold MK_pin; we do not).
 * SS_OK with 4 bytes in mac, SS_E_SAM (absent, mute, down), SS_E_AUTH
 * (refused), or another error. */
struct ssc_pinkey_mac {
	enum ss_err (*mac)(void *arg, const uint8_t card_id[16], const uint8_t *in, size_t in_len,
			   uint8_t mac[4]);
	void *arg;
};
/* Unblock (reload false) or reload to new_pin the card in t: its card id
 * (a read), GET CHALLENGE, the MAC from k, the command — on one connection
 * with no reset between. SS_OK, SS_E_PINKEY_*, SS_E_PIN_FORMAT, the MAC's
 * error (the card saw only a challenge), or a transport error (a card
 * pulled between challenge and command: it changed nothing). *sw: the
 * card's answer to the command or the challenge, 0 when none. */
enum ss_err ssc_pinkey(struct transport *t, const struct ssc_pinkey_mac *k, bool reload, const char *new_pin,
		       uint16_t *sw);
/* ssc_pinkey in two halves, for a MAC made elsewhere in between (the
 * counter's own encryptor, LD/T 6001.5's _HSM_Step1/Step2): begin reads the
 * card id into id, gets the challenge into r8 and builds M (m, *m_len; a
 * reload's holds the new PIN); finish sends M ‖ mac on the same
 * connection. Errors as ssc_pinkey's. */
enum ss_err ssc_pinkey_begin(struct transport *t, bool reload, const char *new_pin, uint8_t id[16],
			     uint8_t r8[8], uint8_t m[SSC_PINKEY_CMD_MAX], size_t *m_len, uint16_t *sw);
enum ss_err ssc_pinkey_finish(struct transport *t, const uint8_t *m, size_t n, const uint8_t mac[4],
			      uint16_t *sw);
enum ss_err ssc_change_pin(struct transport *t, const char *old_pin,
			   const char *new_pin, int *tries_left);

/* Decoders, exposed for tests and for other callers (all bounds-checked;
 * return false on bad input and leave out = ""). */
bool ssc_bcd_date(const uint8_t *v, size_t n, char out[11]);
bool ssc_bcd_digits(const uint8_t *v, size_t n, bool f_pad, char *out, size_t cap);
bool ssc_gbk_to_utf8(const uint8_t *v, size_t n, char *out, size_t cap);
/* ISO 7064 MOD 11-2 check of an 18-character resident ID / SSN. */
bool ssc_ssn_check(const char *ssn);

#endif
