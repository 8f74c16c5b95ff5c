/* request.c — diagnostics request grammar. */
#include "daemon/request.h"

#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "apdu/apdu.h"
#include "daemon/log.h"

static const struct {
	const char *words;   /* one or two words */
	enum req_verb verb;
	int arg;             /* 0 none, 1 optional, 2 required */
	bool admin;
} verbs[] = {
	{"status", REQ_STATUS, 0, false},
	{"readers", REQ_READERS, 0, false},
	{"read", REQ_READ, 1, false},
	{"events", REQ_EVENTS, 0, false},
	{"trace on", REQ_TRACE_ON, 0, true},
	{"trace off", REQ_TRACE_OFF, 0, true},
	{"reload", REQ_RELOAD, 0, true},
	{"reader reset", REQ_READER_RESET, 2, true},
	{"log level", REQ_LOG_LEVEL, 2, true},
	{"list info", REQ_LIST_INFO, 0, false},
	{"list lookup", REQ_LIST_LOOKUP, 2, false},
	{"list sync", REQ_LIST_SYNC, 0, true},
	{"request", REQ_REQUEST, 2, true},
	{"outbox", REQ_OUTBOX, 0, false},
	{"outbox retry", REQ_OUTBOX_RETRY, 2, true},
	{"help", REQ_HELP, 0, false},
	{"pinpad verify", REQ_PINPAD_VERIFY, 1, false},
	{"pinpad change", REQ_PINPAD_CHANGE, 1, false},
	{"read step1", REQ_READ_STEP1, 1, false},
	{"read step2", REQ_READ_STEP2, 2, false},
	{"idcard", REQ_IDCARD, 0, false},
	{"pin unblock", REQ_PIN_UNBLOCK, 1, true},
	{"pin reload", REQ_PIN_RELOAD, 2, true},
	{"pinkey unblock", REQ_PINKEY_UNBLOCK, 1, false},
	{"pinkey reload", REQ_PINKEY_RELOAD, 2, false},
	{"pinkey step1 unblock", REQ_PINKEY_STEP1_UNBLOCK, 1, false},
	{"pinkey step1 reload", REQ_PINKEY_STEP1_RELOAD, 2, false},
	{"pinkey step2", REQ_PINKEY_STEP2, 2, false},
};
#define N_VERBS (sizeof verbs / sizeof verbs[0])

static const char HELP[] = "status, readers, read [READER], read step1 [READER], "
			   "read step2 CRYPTOGRAM CHALLENGE [READER], pinpad verify|change [READER], idcard, events, list info, "
			   "pinkey unblock [READER], pinkey reload NEWPIN [READER], pinkey step1 unblock [READER], "
			   "pinkey step1 reload NEWPIN [READER], pinkey step2 MAC CHALLENGE [READER], "
			   "list lookup CARD_ID, outbox, help; "
			   "for administrators: trace on|off, reload, reader reset READER, list sync, "
			   "request TYPE CARD_ID [name=value ...], outbox retry ID, pin unblock [READER] [proof=ID], "
			   "pin reload NEWPIN [READER] [proof=ID], "
			   "log level error|warning|notice|info|debug";

const char *request_help(void)
{
	return HELP;
}

bool request_is_admin(enum req_verb v)
{
	for (size_t i = 0; i < N_VERBS; i++)
		if (verbs[i].verb == v)
			return verbs[i].admin;
	return true;
}

const char *request_verb_name(enum req_verb v)
{
	for (size_t i = 0; i < N_VERBS; i++)
		if (verbs[i].verb == v)
			return verbs[i].words;
	return "?";
}

static bool blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Whether line starts with the words of w (blanks between them of any
 * length); sets *rest just past them. */
static bool starts_with_words(const char *line, const char *w, const char **rest)
{
	const char *p = line;
	while (*w) {
		if (*w == ' ') {
			if (!blank(*p))
				return false;
			while (blank(*p))
				p++;
			w++;
			continue;
		}
		if (*p++ != *w++)
			return false;
	}
	if (*p && !blank(*p))
		return false;
	while (blank(*p))
		p++;
	*rest = p;
	return true;
}

/* "HEX CHALLENGE [READER]": HEX (n bytes, 2n digits) into first, the
 * challenge (16 hex digits) into r->challenge, and arg = READER. For read
 * step2 (the cryptogram) and pinkey step2 (the MAC). */
static bool hex_and_challenge(struct request *r, uint8_t *first, size_t n)
{
	char h[33], ch[17];
	const char *p = r->arg;
	size_t len = strcspn(p, " \t");
	if (len != 2 * n || len >= sizeof h)
		return false;
	memcpy(h, p, len);
	h[len] = 0;
	p += len + strspn(p + len, " \t");
	if ((len = strcspn(p, " \t")) != 16)
		return false;
	memcpy(ch, p, 16);
	ch[16] = 0;
	p += len + strspn(p + len, " \t");
	if (hex_decode(h, first, n) != (long)n || hex_decode(ch, r->challenge, 8) != 8)
		return false;
	memmove(r->arg, p, strlen(p) + 1);
	return true;
}

int request_parse(const char *line, struct request *r, char *err, size_t errlen)
{
	const char *rest = NULL;
	size_t best = N_VERBS, best_len = 0;

	memset(r, 0, sizeof *r);
	r->level = -1;
	*err = 0;
	while (blank(*line))
		line++;
	if (!*line)
		return -1;
	for (size_t i = 0; i < N_VERBS; i++) { /* longest match: "trace on" over "trace" */
		const char *rr;
		if (starts_with_words(line, verbs[i].words, &rr) && strlen(verbs[i].words) > best_len) {
			best = i;
			best_len = strlen(verbs[i].words);
			rest = rr;
		}
	}
	if (best == N_VERBS) {
		size_t n = strcspn(line, " \t");
		snprintf(err, errlen, "Unknown command '%.*s'. Commands: %s.", (int)(n > 64 ? 64 : n),
			 line, HELP);
		return -1;
	}
	r->verb = verbs[best].verb;
	size_t alen = strlen(rest);
	while (alen && blank(rest[alen - 1]))
		alen--;
	if (verbs[best].arg == 0 && alen) {
		snprintf(err, errlen, "'%s' takes no arguments.", verbs[best].words);
		return -1;
	}
	if (verbs[best].arg == 2 && !alen) {
		snprintf(err, errlen, "'%s' needs an argument. Commands: %s.", verbs[best].words, HELP);
		return -1;
	}
	if (alen >= sizeof r->arg) {
		snprintf(err, errlen, "The argument of '%s' is too long.", verbs[best].words);
		return -1;
	}
	memcpy(r->arg, rest, alen);
	r->arg[alen] = 0;
	if (r->verb == REQ_READ_STEP2 && !hex_and_challenge(r, r->cryptogram, sizeof r->cryptogram)) {
		snprintf(err, errlen, "read step2 needs the cryptogram (32 hex digits) and the challenge "
				      "step 1 gave (16 hex digits), then the reader if step 1 named one.");
		return -1;
	}
	if (r->verb == REQ_PINKEY_STEP2 && !hex_and_challenge(r, r->mac, sizeof r->mac)) {
		snprintf(err, errlen, "pinkey step2 needs the MAC (8 hex digits) and the challenge step 1 "
				      "gave (16 hex digits), then the reader step 1 named.");
		return -1;
	}
	if (r->verb == REQ_PIN_RELOAD || r->verb == REQ_PINKEY_RELOAD ||
	    r->verb == REQ_PINKEY_STEP1_RELOAD) { /* the PIN out of arg at once: arg is logged */
		size_t n = strcspn(r->arg, " \t");
		bool ok = n >= 4 && n <= 8 && strspn(r->arg, "0123456789") >= n;
		if (ok)
			memcpy(r->pin, r->arg, n);
		const char *q = r->arg + n;
		q += strspn(q, " \t");
		memmove(r->arg, q, strlen(q) + 1);
		explicit_bzero(r->arg + strlen(r->arg), sizeof r->arg - strlen(r->arg));
		if (!ok) {
			explicit_bzero(r->pin, sizeof r->pin);
			snprintf(err, errlen, "%s needs the new PIN (4 to 8 digits), then the reader if "
					      "there is more than one.", verbs[best].words);
			return -1;
		}
	}
	if (r->verb == REQ_PIN_UNBLOCK || r->verb == REQ_PIN_RELOAD) { /* "… proof=ID" at the end */
		char *pf = strstr(r->arg, "proof=");
		if (pf && (pf == r->arg || blank(pf[-1]))) {
			size_t n = strcspn(pf + 6, " \t");
			if (!n || n >= sizeof r->proof || pf[6 + n]) {
				snprintf(err, errlen, "proof= takes the holder's verification id, last on the line.");
				return -1;
			}
			memcpy(r->proof, pf + 6, n);
			while (pf > r->arg && blank(pf[-1]))
				pf--;
			*pf = 0;
		}
	}
	if (r->verb == REQ_LOG_LEVEL && (r->level = log_level_parse(r->arg)) < 0) {
		snprintf(err, errlen, "Log level must be error, warning, notice, info or debug, not '%.32s'.",
			 r->arg);
		return -1;
	}
	return 0;
}
