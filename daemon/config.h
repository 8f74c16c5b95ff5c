/* config.h — sscard.conf: INI, every key documented in config/sscard.conf
 * with its default. One table (config.c) knows every key: its section,
 * type, range and default. Bad keys or values are "FILE:LINE: what is
 * wrong"; sscardd exits 78 on them at start and keeps the running
 * configuration when a reload finds them. */
#ifndef SSCARD_CONFIG_H
#define SSCARD_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#define CFG_PATTERNS_MAX 16
#define CFG_PATTERN_LEN 128
#define CFG_DEFAULT_FILE "/etc/sscard/sscard.conf"
#define CFG_EX_CONFIG 78   /* EX_CONFIG from sysexits.h */
#ifndef UI_DIR
#define UI_DIR "/usr/local/share/sscard/ui"
#endif

struct cfg_patterns {
	char p[CFG_PATTERNS_MAX][CFG_PATTERN_LEN];
	size_t n;
};

enum cfg_prefer { CFG_PREFER_CONTACT, CFG_PREFER_CONTACTLESS, CFG_PREFER_BOTH };
/* Who opens a 3.00 card's EF06 (card-spec §9). auto: the PSAM when
 * sam_reader is set, else the central's HSM when [upstream] url is. */
enum cfg_auth { CFG_AUTH_AUTO, CFG_AUTH_PSAM, CFG_AUTH_HSM, CFG_AUTH_NONE };
/* Unlocking or resetting a PIN at the kiosk (domain.md) always wants the
 * one-time code to the holder's phone, and before it: the holder's SSN and
 * name (typed, or from an ID card read here) equal to the card's
 * (identity+otp), or only an ID card read here (idcard+otp). Never the ID
 * card alone: a stolen wallet holds both cards. */
enum cfg_proof { CFG_PROOF_IDENTITY_OTP, CFG_PROOF_IDCARD_OTP };

struct config {
	/* [daemon] */
	char socket[108];
	char state_dir[256];
	int log_level;                 /* syslog priority: 3 error … 7 debug */
	char terminal_id[33];
	char admin_group[64];
	unsigned client_idle_s;
	/* [readers] */
	bool pcsc;
	struct cfg_patterns include, exclude;
	char sam_reader[CFG_PATTERN_LEN];
	int prefer;                    /* enum cfg_prefer */
	char nfc[128];                 /* libnfc connstring, "auto", or "" (no NFC) */
	char idcard[128];              /* the ID card reader's serial device; "": none */
	int idcard_baud;               /* its speed (idcard = PATH:BAUD), 115200 */
	char scanner[128];             /* the QR code scanner's serial device (USB-CDC); "": none */
	int scanner_baud;              /* its speed (scanner = PATH:BAUD), 9600 */
	unsigned idcard_poll_ms;       /* how often it is asked for a card */
	unsigned settle_ms;            /* a card on the other interface waits this long */
	unsigned read_timeout_ms;
	unsigned card_hold_ms;
	int auth;                      /* enum cfg_auth */
	uint8_t sam_key_usage;         /* PSAM derive: P1 (§9: 45) */
	uint8_t pin_key_usage, pin_key_index; /* §10: the PSAM's derive of K_pin (46, 0B) */
	uint8_t sam_key_index;         /* PSAM derive: P2, the master key (§9: 0A) */
	uint8_t card_key_id;           /* EXTERNAL AUTHENTICATE: P2 (§9: 0A) */
	unsigned sam_timeout_ms;       /* one derive + encrypt, queue included */
	/* [ui] */
	char listen[64];
	int language;                  /* 0 zh, 1 en */
	bool large_text;
	unsigned step_timeout_s, pin_timeout_s, payment_timeout_s;
	char ui_root[256];             /* the kiosk pages (ui/) */
	int ui_root_line;              /* where the file set it; 0: the default */
	char printer[64];              /* CUPS queue for receipts; "": no printer */
	unsigned printer_poll_s;       /* how often CUPS is asked for its state */
	char allow_origins[512];       /* counter pages that may use /api/v1/card, space-separated */
	char kiosk_user[64];           /* the only user (beside root) whose browser may drive the kiosk */
	/* [upstream] */
	char url[256];
	char list_url[256];            /* "": url + "/losslist" */
	char push_url[256];            /* long-poll for new versions; "": none */
	char public_key[65];           /* hex; "": no list is trusted */
	char token[128];               /* Authorization: Bearer, when the central wants one */
	char token_file[256];          /* where the token is read from instead ("": token) */
	char ca[256];                  /* "": libcurl's default; "system"; else the only CAs trusted */
	char pin[256];                 /* sha256//… public key pins of the central, ';'-separated */
	bool insecure_http;            /* a lab: a token may go over http:// */
	char client_cert[256], client_key[256];
	unsigned poll_interval, stale_after, timeout_ms; /* seconds, seconds, ms */
	unsigned retry_max_s;          /* outbox back-off ceiling */
	/* [metrics] */
	char metrics_listen[64];       /* ADDR:PORT for /metrics, or "off" */
	/* [policy] */
	unsigned temporary_loss_days;
	unsigned replacement_fee_fen;
	unsigned identity_retry_limit;
	unsigned pin_min_len, pin_max_len;
	unsigned replacement_days;     /* working days until a replacement is ready; 0: same day */
	char outlets[512];             /* where a replacement can be picked up, ';'-separated */
	bool idcard_identifies;        /* an ID card read here identifies without a one-time code */
	int pin_reset_proof;           /* enum cfg_proof: what unlocking a PIN wants besides the code */
	bool ecode_identifies;         /* a scanned e-voucher code identifies without a one-time code */
	/* [payment] */
	bool payment_enabled;          /* a replacement's fee is paid at the kiosk (QR code) */
};

void config_defaults(struct config *c);
/* Load file into c (defaults first). 0 on success; otherwise -1 with
 * "FILE:LINE: what is wrong" in err. A missing file is an error only when
 * must_exist. */
int config_load(struct config *c, const char *file, bool must_exist, char *err, size_t errlen);
/* The same from a string (name used in messages); for tests and fuzzing. */
int config_load_string(struct config *c, const char *text, const char *name, char *err,
		       size_t errlen);
/* The kiosk pages are where [ui] root says (its index.html is there), or
 * the kiosk is off (listen = off): true; else false with "FILE:LINE: …"
 * (or "FILE: …" for the default) in err. The file system is looked at, so
 * this is apart from config_load. */
bool config_ui_root_ok(const struct config *c, const char *file, char *err, size_t errlen);
/* The token's file (token_file, or file itself when the token is in it)
 * can be read by every local user: false and a sentence saying what to do
 * in err. True when there is no token, or it is kept close. */
bool config_secret_private(const struct config *c, const char *file, char *err, size_t errlen);
/* Whether a reader name passes [readers] include/exclude (fnmatch globs)
 * and is not the SAM reader. */
bool config_reader_wanted(const struct config *c, const char *reader);
/* Walk every key: fn(section, key, default value as written in the file). */
void config_each_key(void (*fn)(void *arg, const char *section, const char *key,
				const char *def),
		     void *arg);

#endif
