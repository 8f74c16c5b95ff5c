/* request.h — the diagnostics protocol's request grammar, apart from any
 * I/O so that it can be fuzzed: one line "VERB [ARG…]", words separated by
 * spaces or tabs. */
#ifndef SSCARD_REQUEST_H
#define SSCARD_REQUEST_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

enum req_verb {
	REQ_STATUS,
	REQ_READERS,
	REQ_READ,          /* arg: reader name, may hold spaces; empty = first card */
	REQ_EVENTS,
	REQ_TRACE_ON,      /* admin */
	REQ_TRACE_OFF,     /* admin */
	REQ_RELOAD,        /* admin */
	REQ_READER_RESET,  /* admin; arg: reader name */
	REQ_LOG_LEVEL,     /* admin; arg: error|warning|notice|info|debug */
	REQ_LIST_INFO,
	REQ_LIST_LOOKUP,   /* arg: card id, 32 hex digits */
	REQ_LIST_SYNC,     /* admin: poll the central now */
	REQ_REQUEST,       /* admin; arg: TYPE CARD_ID [name=value…] [key=HEX] */
	REQ_OUTBOX,
	REQ_OUTBOX_RETRY,  /* admin; arg: id */
	REQ_HELP,
	REQ_PINPAD_VERIFY, /* arg as REQ_READ: the holder types the PIN on the reader */
	REQ_PINPAD_CHANGE, /* arg as REQ_READ: old PIN, new PIN twice, on the reader */
	REQ_PIN_UNBLOCK,   /* admin; arg as REQ_READ: card-spec §10 through the PSAM */
	REQ_PIN_RELOAD,    /* admin; "NEWPIN [READER]": the PIN goes to pin, arg keeps the reader */
	REQ_READ_STEP1,    /* arg as REQ_READ: EF05 and the card's challenge (card-spec §9) */
	REQ_READ_STEP2,    /* arg: CRYPTOGRAM CHALLENGE [READER]: EF06 after step 1 */
	REQ_IDCARD,        /* read the resident ID card reader now */
	/* card-spec §10 for counter software (group sscard; libsscard's
	 * iUnblockPIN, iReloadPIN and their _HSM_ steps): */
	REQ_PINKEY_UNBLOCK,       /* arg as REQ_READ: through this terminal's PSAM or HSM */
	REQ_PINKEY_RELOAD,        /* "NEWPIN [READER]": the PIN goes to pin */
	REQ_PINKEY_STEP1_UNBLOCK, /* arg as REQ_READ: card id, challenge, command */
	REQ_PINKEY_STEP1_RELOAD,  /* "NEWPIN [READER]" */
	REQ_PINKEY_STEP2,         /* "MAC CHALLENGE [READER]": the command with the MAC */
	REQ__COUNT
};

#define REQ_ARG_MAX 256

struct request {
	enum req_verb verb;
	char arg[REQ_ARG_MAX];
	int level;         /* REQ_LOG_LEVEL: syslog priority */
	uint8_t cryptogram[16], challenge[8]; /* REQ_READ_STEP2; arg is then the reader */
	char pin[9];       /* REQ_PIN_RELOAD: the new PIN, never in arg (admin verbs' args are logged) */
	char proof[65];    /* REQ_PIN_*: "proof=ID" at the end, the holder's verification (HSM) */
	uint8_t mac[4];    /* REQ_PINKEY_STEP2; challenge as for REQ_READ_STEP2 */
};

/* Parse one request line (NUL-terminated, no newline). 0 on success;
 * otherwise -1 with a plain sentence in err. An empty line is -1 with
 * err "" (nothing to answer). */
int request_parse(const char *line, struct request *r, char *err, size_t errlen);
bool request_is_admin(enum req_verb v);
const char *request_verb_name(enum req_verb v);
/* "status, readers, read [READER], …" */
const char *request_help(void);

#endif
