/* libsscard.c — the reader API of sscard.h over sscardd's socket. No
 * global state: each call opens its own connection, so threads and
 * processes may call at once. */
#include "client/sscard.h"
#include "daemon/kiosk/pinrule.h"

#include <errno.h>
#include <iconv.h>
#include <jansson.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define API __attribute__((visibility("default")))
#define DEFAULT_SOCKET "/run/sscard/sscardd.sock"
#define DEFAULT_TIMEOUT_MS 15000
/* a PIN pad waits up to 30 s for each of up to three PINs */
#define DEFAULT_PIN_TIMEOUT_MS 100000

static long timeout_ms(const char *var, long def)
{
	const char *e = getenv(var);
	long v = e ? strtol(e, NULL, 10) : 0;
	return v > 0 && v <= 600000 ? v : def;
}

static long ms_left(const struct timespec *end)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (end->tv_sec - now.tv_sec) * 1000 + (end->tv_nsec - now.tv_nsec) / 1000000;
}

/* pOutInfo gets a sentence (never more than SSCARD_OUT_MAX bytes); rc back. */
__attribute__((format(printf, 3, 4))) static long say(char *out, long rc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(out, SSCARD_OUT_MAX, fmt, ap);
	va_end(ap);
	return rc;
}

/* One request line to sscardd, one JSON reply. NULL with *rc and out set
 * when sscardd cannot be reached or does not answer in time. */
static json_t *ask_within(const char *line, long limit, char *out, long *rc)
{
	const char *path = getenv("SSCARD_SOCKET");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timespec end;
	char buf[16384];
	size_t have = 0;

	if (!path || !*path)
		path = DEFAULT_SOCKET;
	if (strlen(path) >= sizeof sa.sun_path) {
		*rc = say(out, SSCARD_E_READER, "The sscardd socket path is too long: %s", path);
		return NULL;
	}
	strcpy(sa.sun_path, path);
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += limit / 1000;
	end.tv_nsec += (limit % 1000) * 1000000;
	if (end.tv_nsec >= 1000000000) {
		end.tv_sec++;
		end.tv_nsec -= 1000000000;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		*rc = say(out, SSCARD_E_READER, "Cannot reach the card service sscardd at %s (%s).", path,
			  strerror(e));
		return NULL;
	}
	size_t n = strlen(line);
	if (send(fd, line, n, MSG_NOSIGNAL) != (ssize_t)n) {
		close(fd);
		*rc = say(out, SSCARD_E_READER, "The card service sscardd closed the connection.");
		return NULL;
	}
	while (!memchr(buf, '\n', have)) {
		long left = ms_left(&end);
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int r = left > 0 ? poll(&p, 1, (int)left) : 0;
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			close(fd);
			*rc = say(out, SSCARD_E_TIMEOUT,
				  "The card service did not answer within %ld ms.", limit);
			return NULL;
		}
		ssize_t k = recv(fd, buf + have, sizeof buf - 1 - have, 0);
		if (k <= 0 || have + (size_t)k >= sizeof buf - 1) {
			close(fd);
			*rc = say(out, SSCARD_E_READER, "The card service sscardd closed the connection.");
			return NULL;
		}
		have += (size_t)k;
	}
	close(fd);
	buf[have] = 0;
	json_t *j = json_loads(buf, JSON_DISABLE_EOF_CHECK, NULL);
	explicit_bzero(buf, sizeof buf); /* it held the holder's data */
	if (!json_is_object(j)) {
		json_decref(j);
		*rc = say(out, SSCARD_E_READER, "The card service sent an answer that is not JSON.");
		return NULL;
	}
	return j;
}

static json_t *ask(const char *line, char *out, long *rc)
{
	return ask_within(line, timeout_ms("SSCARD_TIMEOUT_MS", DEFAULT_TIMEOUT_MS), out, rc);
}

static const char *str(json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));
	return v ? v : "";
}

/* A card status word as the reader API reports it. */
static long sw_code(const char *sw, char *out, const char *message)
{
	unsigned long v = strtoul(sw, NULL, 16);
	if (strspn(sw, "0123456789") == strlen(sw) && *sw)
		return say(out, -strtol(sw, NULL, 10), "-%s %s", sw, message);
	return say(out, -(long)v, "-%s %s", sw, message);
}

/* sscardd's {"ok":false,"error":…} as a return code and sentence. */
static long error_code(json_t *j, char *out)
{
	const char *e = str(j, "error"), *m = str(j, "message");
	static const struct {
		const char *error;
		long rc;
	} map[] = {
		{"not_ssc", SSCARD_E_NOT_SSC},       {"no_card", SSCARD_E_NO_CARD},
		{"card_removed", SSCARD_E_NO_CARD},  {"card_unpowered", SSCARD_E_NO_CARD},
		{"pin_wrong", SSCARD_E_PIN_WRONG},   {"pin_blocked", SSCARD_E_PIN_BLOCKED},
		{"card_timeout", SSCARD_E_TIMEOUT},  {"invalid", SSCARD_E_ARG},
		{"no_pin_pad", SSCARD_E_NO_PIN_PAD}, {"pin_timeout", SSCARD_E_TIMEOUT},
		{"pin_cancelled", SSCARD_E_PIN_CANCELLED}, {"pin_mismatch", SSCARD_E_PIN_ENTRY},
		{"pin_format", SSCARD_E_PIN_ENTRY},  {"sam_unavailable", SSCARD_E_SAM},
		{"auth_refused", SSCARD_E_AUTH},     {"auth_blocked", SSCARD_E_AUTH},
	};
	if (!strcmp(e, "pin_wrong") && json_is_integer(json_object_get(j, "tries_left"))) {
		int t = (int)json_integer_value(json_object_get(j, "tries_left"));
		return say(out, SSCARD_E_PIN_WRONG, "%d|%s %d tries left.", t, m, t);
	}
	if (*str(j, "sw"))
		return sw_code(str(j, "sw"), out, m);
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (!strcmp(e, map[i].error))
			return say(out, map[i].rc, "%s (%s)", m, e);
	return say(out, SSCARD_E_READER, "%s (%s)", m, *e ? e : "reader_error");
}

static const char *selector(int iType)
{
	switch (iType) {
	case 1: return "@contact";
	case 2: return "@contactless";
	case 3: return "@contact-first";
	case 4: return "@contactless-first";
	default: return NULL;
	}
}

/* The socket request "VERB SELECTOR\n" for iType; 0, or the code to
 * return (out says why when there is an out). */
static long command(char *line, size_t n, const char *verb, int iType, char *out)
{
	const char *sel = selector(iType);
	if (!out)
		return SSCARD_E_ARG;
	if (!sel)
		return say(out, SSCARD_E_ARG, "iType must be 1 (contact), 2 (contactless), 3 or 4 (either); got %d.",
			   iType);
	snprintf(line, n, "%s %s\n", verb, sel);
	return 0;
}

/* Read the card; NULL with *rc and out set when there is nothing to give. */
/* Send a read request line; the card's JSON, or NULL with *rc and out set
 * (errors, a card on the loss list, a stale list when refused). */
static json_t *read_line(const char *line, char *out, long *rc)
{
	json_t *j = ask(line, out, rc);
	if (j && !json_is_true(json_object_get(j, "ok"))) {
		*rc = error_code(j, out);
		json_decref(j);
		return NULL;
	}
	if (!j)
		return NULL;
	json_t *loss = json_object_get(j, "loss");
	if (json_is_true(json_object_get(loss, "listed"))) {
		char age[64] = "no loss list from the central yet";
		if (json_is_integer(json_object_get(loss, "list_age_s")))
			snprintf(age, sizeof age, "loss list version %lld, %lld s old",
				 (long long)json_integer_value(json_object_get(loss, "list_version")),
				 (long long)json_integer_value(json_object_get(loss, "list_age_s")));
		*rc = say(out, SSCARD_E_LISTED, "卡已挂失，请勿结算 / Card %s: %s (%s since %s; %s).",
			  str(j, "card_id"), str(loss, "message"), str(loss, "state"), str(loss, "since"),
			  age);
		json_decref(j);
		return NULL;
	}
	const char *stale = getenv("SSCARD_STALE_LIST");
	if (stale && !strcmp(stale, "refuse") && !json_is_false(json_object_get(loss, "stale"))) {
		*rc = say(out, SSCARD_E_STALE_LIST, "%s (SSCARD_STALE_LIST=refuse)",
			  *str(loss, "message") ? str(loss, "message") : "The loss list could not be checked.");
		json_decref(j);
		return NULL;
	}
	return j;
}

static json_t *read_card(int iType, char *out, long *rc)
{
	char line[64];
	if ((*rc = command(line, sizeof line, "read", iType, out)) != 0)
		return NULL;
	return read_line(line, out, rc);
}

/* The card's field: the value, or NULL with the reason in *rc/out when the
 * card did not give it. */
static const char *field(json_t *card, const char *key, char *out, long *rc)
{
	const char *v = json_string_value(json_object_get(card, key));
	if (v)
		return v;
	json_t *errs = json_object_get(card, "errors"), *e;
	size_t i;
	json_array_foreach(errs, i, e) {
		if (strcmp(str(e, "field"), key))
			continue;
		const char *code = str(e, "code");
		if (!strcmp(code, "sam_unavailable")) /* card-spec §9 */
			*rc = say(out, SSCARD_E_SAM, "%s (%s)", str(e, "message"), code);
		else if (!strcmp(code, "auth_refused") || !strcmp(code, "auth_blocked"))
			*rc = say(out, SSCARD_E_AUTH, "%s (%s)", str(e, "message"), code);
		else
			*rc = *str(e, "sw") ? sw_code(str(e, "sw"), out, str(e, "message"))
					    : say(out, SSCARD_E_READER, "%s: %s", key, str(e, "message"));
		return NULL;
	}
	*rc = say(out, SSCARD_E_READER, "The card did not give its %s.", key);
	return NULL;
}

/* UTF-8 → GBK when SSCARD_ENCODING=GBK; else a copy. false when it does not fit. */
static bool encode(const char *in, char *to, size_t cap)
{
	const char *enc = getenv("SSCARD_ENCODING");
	if (!enc || strcasecmp(enc, "GBK")) {
		if (strlen(in) >= cap)
			return false;
		strcpy(to, in);
		return true;
	}
	iconv_t cd = iconv_open("GBK", "UTF-8");
	if (cd == (iconv_t)-1)
		return false;
	char *ip = (char *)in, *op = to;
	size_t il = strlen(in), ol = cap - 1;
	size_t r = iconv(cd, &ip, &il, &op, &ol);
	iconv_close(cd);
	if (r == (size_t)-1)
		return false;
	*op = 0;
	return true;
}

/* Append "value|" to out (SSCARD_OUT_MAX); false when it would not fit. */
static bool put(char *out, size_t *len, const char *v)
{
	size_t n = strlen(v);
	if (*len + n + 2 > SSCARD_OUT_MAX)
		return false;
	memcpy(out + *len, v, n);
	out[*len + n] = '|';
	*len += n + 1;
	out[*len] = 0;
	return true;
}

/* "2010-10-01" → "20101001" */
static void ymd(const char *iso, char *to)
{
	size_t o = 0;
	for (; *iso && o < 8; iso++)
		if (*iso != '-')
			to[o++] = *iso;
	to[o] = 0;
}

/* The iReadCardBas line of a read (card-spec §7) into out; with a
 * challenge, the EF05 part (SSN and name empty) and the challenge as a
 * 12th field (HSM_Step1; "": the whole line and an empty 12th). Takes j. */
static long bas_line(json_t *j, const char *challenge, char *out)
{
	static const char *const keys[] = {"region", "ssn", "card_number", "card_id", "name",
					   "atr_historical", "spec_version", "issue_date",
					   "expiry_date"};
	const char *v[9];
	long rc = 0;
	for (size_t i = 0; i < 9; i++) {
		bool ef06 = i == 1 || i == 4;
		if (challenge && *challenge && ef06)
			v[i] = "";
		else if (!(v[i] = field(j, keys[i], out, &rc))) {
			json_decref(j);
			return rc;
		}
	}
	char tmp[SSCARD_OUT_MAX], name[256], d1[9], d2[9];
	size_t len = 0;
	tmp[0] = 0;
	ymd(v[7], d1);
	ymd(v[8], d2);
	bool ok = encode(v[4], name, sizeof name) && put(tmp, &len, v[0]) && put(tmp, &len, v[1]) &&
		  put(tmp, &len, v[2]) && put(tmp, &len, v[3]) && put(tmp, &len, name) &&
		  put(tmp, &len, v[5]) && put(tmp, &len, v[6]) && put(tmp, &len, d1) &&
		  put(tmp, &len, d2) && put(tmp, &len, str(j, "terminal_id")) &&
		  put(tmp, &len, *str(j, "reader_serial") ? str(j, "reader_serial") : str(j, "reader")) &&
		  (!challenge || put(tmp, &len, challenge));
	json_decref(j);
	if (!ok) {
		explicit_bzero(tmp, sizeof tmp);
		return say(out, SSCARD_E_READER, "The holder's name cannot be written in %s.",
			   getenv("SSCARD_ENCODING") ? getenv("SSCARD_ENCODING") : "UTF-8");
	}
	memcpy(out, tmp, len + 1);
	explicit_bzero(tmp, sizeof tmp);
	explicit_bzero(name, sizeof name);
	return 0;
}

API long iReadCardBas(int iType, char *pOutInfo)
{
	long rc = 0;
	json_t *j = read_card(iType, pOutInfo, &rc);
	return j ? bas_line(j, NULL, pOutInfo) : rc;
}

/* An HSM_Step1's card, for this thread's HSM_Step2: the reader and the
 * challenge (the daemon checks that the card still waits for it). One for
 * the read (card-spec §9), one for the PIN (§10). */
struct pending {
	char reader[160];
	char challenge[17];
};
static _Thread_local struct pending step1, pk1;

/* Step 2's request line "VERB HEX CHALLENGE READER" into line (p used up),
 * or a code with out saying why: hex not `digits` hex digits (what it is
 * named in the sentence), or no step 1 on this thread. */
static long step2_line(struct pending *p, const char *verb, const char *hex, size_t digits, const char *what,
		       char *line, size_t n, char *out)
{
	if (!out)
		return SSCARD_E_ARG;
	if (!hex || strlen(hex) != digits || strspn(hex, "0123456789abcdefABCDEF") != digits)
		return say(out, SSCARD_E_ARG, "%s: %zu hex digits.", what, digits);
	if (!p->challenge[0])
		return say(out, SSCARD_E_AUTH, "HSM_Step2 needs an HSM_Step1 on this thread first (auth_refused).");
	snprintf(line, n, "%s %s %s %s\n", verb, hex, p->challenge, p->reader);
	memset(p, 0, sizeof *p);
	return 0;
}

API long iReadCardBas_HSM_Step1(int iType, char *pOutInfo)
{
	char line[64];
	long rc;
	memset(&step1, 0, sizeof step1);
	if ((rc = command(line, sizeof line, "read step1", iType, pOutInfo)) != 0)
		return rc;
	json_t *j = read_line(line, pOutInfo, &rc);
	if (!j)
		return rc;
	const char *ch = str(json_object_get(j, "auth"), "challenge");
	if (!*ch) /* no authentication needed (a 2.00 card): the full line, no challenge */
		return bas_line(j, "", pOutInfo);
	snprintf(step1.reader, sizeof step1.reader, "%s", str(j, "reader"));
	snprintf(step1.challenge, sizeof step1.challenge, "%s", ch);
	return bas_line(j, step1.challenge, pOutInfo);
}

API long iReadCardBas_HSM_Step2(char *pKey, char *pOutInfo)
{
	char line[256];
	long rc = step2_line(&step1, "read step2", pKey, 32, "pKey must be the cryptogram", line, sizeof line,
			     pOutInfo);
	if (rc)
		return rc;
	json_t *j = read_line(line, pOutInfo, &rc);
	return j ? bas_line(j, NULL, pOutInfo) : rc;
}

API long iReadCard(int iType, int iAuthType, char *pCardInfo, char *pFileAddr, char *pOutInfo)
{
	static const char *const ef05[] = {"card_id", "card_type", "spec_version", "issuer",
					   "issue_date", "expiry_date", "card_number", NULL};
	static const char *const ef06[] = {"ssn", "name", "sex", "nation", "birthplace",
					   "birth_date", NULL};
	long rc = 0;
	if (!pOutInfo)
		return SSCARD_E_ARG;
	bool want05 = pFileAddr && strstr(pFileAddr, "EF05"), want06 = pFileAddr && strstr(pFileAddr, "EF06");
	if (!want05 && !want06)
		return say(pOutInfo, SSCARD_E_ARG, "pFileAddr names no basic file (\"EF05|\", \"EF06|\").");
	json_t *j = read_card(iType, pOutInfo, &rc);
	if (!j)
		return rc;
	char tmp[SSCARD_OUT_MAX], val[256];
	size_t len = 0;
	bool ok = true;
	tmp[0] = 0;
	for (int f = 0; f < 2 && ok; f++) {
		if (!(f ? want06 : want05))
			continue;
		for (const char *const *k = f ? ef06 : ef05; *k && ok; k++) {
			const char *v = str(j, *k);
			if (strstr(*k, "_date"))
				ymd(v, val);
			else if (!encode(v, val, sizeof val))
				ok = false;
			ok = ok && put(tmp, &len, val);
		}
	}
	json_decref(j);
	if (ok)
		memcpy(pOutInfo, tmp, len + 1);
	explicit_bzero(tmp, sizeof tmp);
	explicit_bzero(val, sizeof val);
	return ok ? 0 : say(pOutInfo, SSCARD_E_READER, "A value cannot be written in this encoding.");
}

API long iGetListStatus(char *pOutInfo)
{
	long rc = 0;
	char age[32] = "";
	if (!pOutInfo)
		return SSCARD_E_ARG;
	json_t *j = ask("list info\n", pOutInfo, &rc);
	if (!j)
		return rc;
	if (!json_is_true(json_object_get(j, "ok"))) {
		rc = error_code(j, pOutInfo);
		json_decref(j);
		return rc;
	}
	json_t *a = json_object_get(j, "age_s");
	if (json_is_integer(a))
		snprintf(age, sizeof age, "%lld", (long long)json_integer_value(a));
	long long version = (long long)json_integer_value(json_object_get(j, "version"));
	bool stale = !json_is_false(json_object_get(j, "stale"));
	/* the daemon's sentence says why (a wrong clock too); an older daemon's lacks it */
	const char *why = json_string_value(json_object_get(j, "message"));
	say(pOutInfo, 0, "%lld|%s|%d|%s|", version, age, stale,
	    why && !strchr(why, '|') ? why
	    : !stale                 ? "The loss list is up to date."
	    : !version               ? "No loss list has been received yet."
				     : "The loss list is out of date: a recent loss may not be in it.");
	json_decref(j);
	return 0;
}

/* VERIFY or CHANGE PIN on the reader's PIN pad. */
static long pinpad(int iType, char *out, const char *op)
{
	char line[64], verb[16];
	long rc;
	snprintf(verb, sizeof verb, "pinpad %s", op);
	if ((rc = command(line, sizeof line, verb, iType, out)) != 0)
		return rc;
	json_t *j = ask_within(line, timeout_ms("SSCARD_PIN_TIMEOUT_MS", DEFAULT_PIN_TIMEOUT_MS), out, &rc);
	if (!j)
		return rc;
	rc = json_is_true(json_object_get(j, "ok")) ? say(out, 0, "%s", str(j, "reader")) : error_code(j, out);
	json_decref(j);
	return rc;
}

API long iVerifyPIN(int iType, char *pOutInfo)
{
	return pinpad(iType, pOutInfo, "verify");
}

API long iChangePIN(int iType, char *pOutInfo)
{
	return pinpad(iType, pOutInfo, "change");
}

/* ---- card-spec §10: unblock and reload the PIN ---------------------------- */

/* The answer of a §10 job: 0, or -53/-54/-55 and the others. */
static long pinkey_code(json_t *j, char *out)
{
	const char *e = str(j, "error");
	if (json_is_true(json_object_get(j, "ok")))
		return 0;
	if (!strcmp(e, "pinkey_blocked"))
		return say(out, SSCARD_E_PINKEY_BLOCKED, "%s (%s)", str(j, "message"), e);
	if (!strcmp(e, "pinkey_spent"))
		return say(out, SSCARD_E_PINKEY_SPENT, "%s (%s)", str(j, "message"), e);
	if (!strcmp(e, "pinkey_refused"))
		return say(out, SSCARD_E_PINKEY_MAC, "%s (%s)", str(j, "message"), e);
	if (!strcmp(e, "holder_not_verified"))
		return say(out, SSCARD_E_AUTH, "%s (%s)", str(j, "message"), e);
	return error_code(j, out);
}

/* The new PIN a reload brings: "NEWPIN|NEWPIN|" in out on entry (typed
 * twice by the holder), judged by card-spec §4's rules; the PIN into pin[9].
 * 0, or the code with out saying why (and the PIN gone from out). */
static long new_pin_in(char *out, char pin[9])
{
	char a[16] = "", b[16] = "";
	long rc = 0;
	const char *bar = memchr(out, '|', 16);
	const char *bar2 = bar ? memchr(bar + 1, '|', 16) : NULL;
	if (bar && bar2 && bar - out < (long)sizeof a && bar2 - bar - 1 < (long)sizeof b) {
		memcpy(a, out, (size_t)(bar - out));
		memcpy(b, bar + 1, (size_t)(bar2 - bar - 1));
	}
	explicit_bzero(out, 40); /* the PIN leaves the caller's buffer at once */
	enum pin_verdict v = *a ? pin_judge(a, b, 6, 6) : PIN_LENGTH;
	if (!*a)
		rc = say(out, SSCARD_E_NO_PIN_PAD,
			 "The new PIN must come in pOutInfo as \"NEWPIN|NEWPIN|\": a PC/SC PIN pad keeps "
			 "the PIN from this computer, and the MAC of card-spec 10 must cover it.");
	else if (v == PIN_MISMATCH || v == PIN_NOT_DIGITS || v == PIN_LENGTH)
		rc = say(out, SSCARD_E_PIN_ENTRY, "%s (%s)", pin_verdict_text(v), pin_verdict_code(v));
	else if (v == PIN_INITIAL_PIN)
		rc = say(out, SSCARD_E_PIN_RULE_INITIAL, "%s (%s)", pin_verdict_text(v), pin_verdict_code(v));
	else if (v != PIN_OK)
		rc = say(out, SSCARD_E_PIN_RULE_WEAK, "%s (%s)", pin_verdict_text(v), pin_verdict_code(v));
	else
		snprintf(pin, 9, "%s", a);
	explicit_bzero(a, sizeof a);
	explicit_bzero(b, sizeof b);
	return rc;
}

/* "VERB unblock SEL" or "VERB reload PIN SEL" (VERB: pinkey, pinkey step1). */
static long pinkey_line(char *line, size_t n, const char *verb, bool reload, int iType, char *out,
			char pin[9])
{
	const char *sel = selector(iType);
	long rc;
	if (!out)
		return SSCARD_E_ARG;
	if (reload && (rc = new_pin_in(out, pin)) != 0)
		return rc;
	if (!sel) {
		explicit_bzero(pin, 9);
		return say(out, SSCARD_E_ARG, "iType must be 1 (contact), 2 (contactless), 3 or 4 (either); got %d.",
			   iType);
	}
	snprintf(line, n, "%s %s %s%s%s\n", verb, reload ? "reload" : "unblock", reload ? pin : "",
		 reload ? " " : "", sel);
	explicit_bzero(pin, 9);
	return 0;
}

/* Unblock or reload through this terminal's PSAM (or the central's HSM). */
static long pinkey(int iType, char *out, bool reload)
{
	char line[96], pin[9] = "";
	long rc;
	if ((rc = pinkey_line(line, sizeof line, "pinkey", reload, iType, out, pin)) != 0)
		return rc;
	json_t *j = ask(line, out, &rc);
	explicit_bzero(line, sizeof line);
	if (!j)
		return rc;
	rc = pinkey_code(j, out);
	if (!rc)
		say(out, 0, "%s", str(j, "reader"));
	json_decref(j);
	return rc;
}

API long iUnblockPIN(int iType, char *pOutInfo)
{
	return pinkey(iType, pOutInfo, false);
}

API long iReloadPIN(int iType, char *pOutInfo)
{
	return pinkey(iType, pOutInfo, true);
}

static long pinkey_step1(int iType, char *out, bool reload)
{
	char line[96], pin[9] = "";
	long rc;
	memset(&pk1, 0, sizeof pk1);
	if ((rc = pinkey_line(line, sizeof line, "pinkey step1", reload, iType, out, pin)) != 0)
		return rc;
	json_t *j = ask(line, out, &rc);
	explicit_bzero(line, sizeof line);
	if (!j)
		return rc;
	if ((rc = pinkey_code(j, out)) == 0) {
		snprintf(pk1.reader, sizeof pk1.reader, "%s", str(j, "reader"));
		snprintf(pk1.challenge, sizeof pk1.challenge, "%s", str(j, "challenge"));
		rc = say(out, 0, "%s|%s|%s|", str(j, "card_id"), str(j, "challenge"), str(j, "command"));
	}
	json_decref(j);
	return rc;
}

static long pinkey_step2(char *mac, char *out)
{
	char line[256];
	long rc = step2_line(&pk1, "pinkey step2", mac, 8, "pMAC must be the MAC", line, sizeof line, out);
	if (rc)
		return rc;
	json_t *j = ask(line, out, &rc);
	if (!j)
		return rc;
	if ((rc = pinkey_code(j, out)) == 0)
		say(out, 0, "%s", str(j, "reader"));
	json_decref(j);
	return rc;
}

API long iUnblockPIN_HSM_Step1(int iType, char *pOutInfo)
{
	return pinkey_step1(iType, pOutInfo, false);
}

API long iUnblockPIN_HSM_Step2(char *pMAC, char *pOutInfo)
{
	return pinkey_step2(pMAC, pOutInfo);
}

API long iReloadPIN_HSM_Step1(int iType, char *pOutInfo)
{
	return pinkey_step1(iType, pOutInfo, true);
}

API long iReloadPIN_HSM_Step2(char *pMAC, char *pOutInfo)
{
	return pinkey_step2(pMAC, pOutInfo);
}
