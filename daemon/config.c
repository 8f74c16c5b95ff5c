/* config.c — sscard.conf, driven by one table of keys. */
#include "daemon/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fnmatch.h>
#include <ini.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/log.h"
#include "daemon/origin.h"

enum type { T_PATH, T_PATH_OPT, T_STR, T_STR_OPT, T_UINT, T_BOOL, T_LEVEL, T_PATTERNS,
	    T_PATTERN_OPT, T_ENUM, T_LISTEN, T_URL, T_KEY, T_ORIGINS, T_BYTE, T_SERIAL, T_ADDR,
	    T_SECRET, T_CA, T_PINS };

struct key {
	const char *section, *name;
	enum type type;
	size_t off, size;            /* where in struct config, and its size */
	unsigned lo, hi;             /* T_UINT range; T_SERIAL: where its speed goes, the default speed */
	const char *const *words;    /* T_ENUM: NULL-terminated */
	const char *def;             /* default, as written in the file ("" = unset) */
};

#define F(field) offsetof(struct config, field), sizeof(((struct config *)0)->field)
static const char *const PREFER[] = {"contact", "contactless", "both", NULL};
static const char *const LANGS[] = {"zh", "en", NULL};
static const char *const AUTH[] = {"auto", "psam", "hsm", "none", NULL};
static const char *const PROOFS[] = {"identity+otp", "idcard+otp", NULL};

static const struct key keys[] = {
	{"daemon", "socket", T_PATH, F(socket), 0, 0, NULL, "/run/sscard/sscardd.sock"},
	{"daemon", "state_dir", T_PATH, F(state_dir), 0, 0, NULL, "/var/lib/sscard"},
	{"daemon", "log_level", T_LEVEL, F(log_level), 0, 0, NULL, "info"},
	{"daemon", "terminal_id", T_STR_OPT, F(terminal_id), 0, 0, NULL, ""},
	{"daemon", "admin_group", T_STR, F(admin_group), 0, 0, NULL, "sscard-admin"},
	{"daemon", "client_idle_s", T_UINT, F(client_idle_s), 1, 3600, NULL, "60"},
	{"readers", "pcsc", T_BOOL, F(pcsc), 0, 0, NULL, "yes"},
	{"readers", "include", T_PATTERNS, F(include), 0, 0, NULL, "*"},
	{"readers", "exclude", T_PATTERNS, F(exclude), 0, 0, NULL, ""},
	{"readers", "sam_reader", T_PATTERN_OPT, F(sam_reader), 0, 0, NULL, ""},
	{"readers", "prefer", T_ENUM, F(prefer), 0, 0, PREFER, "contact"},
	{"readers", "nfc", T_STR_OPT, F(nfc), 0, 0, NULL, ""},
	{"readers", "idcard", T_SERIAL, F(idcard), offsetof(struct config, idcard_baud), 115200, NULL, ""},
	{"readers", "scanner", T_SERIAL, F(scanner), offsetof(struct config, scanner_baud), 9600, NULL, ""},
	{"readers", "idcard_poll_ms", T_UINT, F(idcard_poll_ms), 50, 5000, NULL, "200"},
	{"readers", "settle_ms", T_UINT, F(settle_ms), 0, 2000, NULL, "500"},
	{"readers", "read_timeout_ms", T_UINT, F(read_timeout_ms), 200, 120000, NULL, "10000"},
	{"readers", "card_hold_ms", T_UINT, F(card_hold_ms), 0, 60000, NULL, "2000"},
	{"readers", "auth", T_ENUM, F(auth), 0, 0, AUTH, "auto"},
	{"readers", "sam_key_usage", T_BYTE, F(sam_key_usage), 0, 0, NULL, "45"},
	{"readers", "sam_key_index", T_BYTE, F(sam_key_index), 0, 0, NULL, "0A"},
	{"readers", "card_key_id", T_BYTE, F(card_key_id), 0, 0, NULL, "0A"},
	{"readers", "pin_key_usage", T_BYTE, F(pin_key_usage), 0, 0, NULL, "46"},
	{"readers", "pin_key_index", T_BYTE, F(pin_key_index), 0, 0, NULL, "0B"},
	{"readers", "sam_timeout_ms", T_UINT, F(sam_timeout_ms), 200, 30000, NULL, "3000"},
	{"ui", "listen", T_LISTEN, F(listen), 0, 0, NULL, "127.0.0.1:8470"},
	{"ui", "language", T_ENUM, F(language), 0, 0, LANGS, "zh"},
	{"ui", "large_text", T_BOOL, F(large_text), 0, 0, NULL, "yes"},
	{"ui", "step_timeout_s", T_UINT, F(step_timeout_s), 10, 600, NULL, "30"},
	{"ui", "pin_timeout_s", T_UINT, F(pin_timeout_s), 10, 600, NULL, "60"},
	{"ui", "payment_timeout_s", T_UINT, F(payment_timeout_s), 10, 1800, NULL, "300"},
	{"payment", "enabled", T_BOOL, F(payment_enabled), 0, 0, NULL, "no"},
	{"ui", "root", T_PATH, F(ui_root), 0, 0, NULL, UI_DIR},
	{"ui", "printer", T_STR_OPT, F(printer), 0, 0, NULL, ""},
	{"ui", "printer_poll_s", T_UINT, F(printer_poll_s), 1, 3600, NULL, "10"},
	{"ui", "allow_origins", T_ORIGINS, F(allow_origins), 0, 0, NULL, ""},
	{"ui", "kiosk_user", T_STR, F(kiosk_user), 0, 0, NULL, "sscard-kiosk"},
	{"upstream", "url", T_URL, F(url), 0, 0, NULL, ""},
	{"upstream", "list_url", T_URL, F(list_url), 0, 0, NULL, ""},
	{"upstream", "push_url", T_URL, F(push_url), 0, 0, NULL, ""},
	{"upstream", "public_key", T_KEY, F(public_key), 0, 0, NULL, ""},
	{"upstream", "token", T_SECRET, F(token), 0, 0, NULL, ""},
	{"upstream", "token_file", T_PATH_OPT, F(token_file), 0, 0, NULL, ""},
	{"upstream", "ca", T_CA, F(ca), 0, 0, NULL, ""},
	{"upstream", "pin", T_PINS, F(pin), 0, 0, NULL, ""},
	{"upstream", "insecure_http", T_BOOL, F(insecure_http), 0, 0, NULL, "no"},
	{"upstream", "client_cert", T_PATH_OPT, F(client_cert), 0, 0, NULL, ""},
	{"upstream", "client_key", T_PATH_OPT, F(client_key), 0, 0, NULL, ""},
	{"upstream", "poll_interval", T_UINT, F(poll_interval), 5, 86400, NULL, "30"},
	{"upstream", "stale_after", T_UINT, F(stale_after), 60, 604800, NULL, "3600"},
	{"upstream", "retry_max_s", T_UINT, F(retry_max_s), 1, 3600, NULL, "300"},
	{"upstream", "timeout_ms", T_UINT, F(timeout_ms), 500, 120000, NULL, "10000"},
	{"metrics", "listen", T_ADDR, F(metrics_listen), 0, 0, NULL, "off"},
	{"policy", "temporary_loss_days", T_UINT, F(temporary_loss_days), 1, 90, NULL, "15"},
	{"policy", "replacement_fee_fen", T_UINT, F(replacement_fee_fen), 0, 100000, NULL, "1000"},
	{"policy", "identity_retry_limit", T_UINT, F(identity_retry_limit), 1, 10, NULL, "3"},
	{"policy", "pin_min_len", T_UINT, F(pin_min_len), 4, 8, NULL, "6"},
	{"policy", "pin_max_len", T_UINT, F(pin_max_len), 4, 8, NULL, "6"},
	{"policy", "replacement_days", T_UINT, F(replacement_days), 0, 60, NULL, "7"},
	{"policy", "outlets", T_STR, F(outlets), 0, 0, NULL, "Service hall"},
	{"policy", "idcard_identifies", T_BOOL, F(idcard_identifies), 0, 0, NULL, "yes"},
	{"policy", "pin_reset_proof", T_ENUM, F(pin_reset_proof), 0, 0, PROOFS, "identity+otp"},
	{"policy", "ecode_identifies", T_BOOL, F(ecode_identifies), 0, 0, NULL, "yes"},
};
#define N_KEYS (sizeof keys / sizeof keys[0])

struct parse {
	struct config *c;
	const char *file;
	FILE *f;
	const char *text;          /* config_load_string */
	int line;                  /* line inih is looking at */
	bool at_line_start;
	int key_line[N_KEYS];      /* where each key was set; 0 = default */
	char *err;
	size_t errlen;
	bool failed;
};

static char *reader_fn(char *buf, int size, void *stream)
{
	struct parse *p = stream;
	if (p->f) {
		if (!fgets(buf, size, p->f))
			return NULL;
	} else {
		if (!*p->text)
			return NULL;
		size_t n = strcspn(p->text, "\n");
		if (n < (size_t)size - 1 && p->text[n] == '\n')
			n++;
		else if (n > (size_t)size - 1)
			n = (size_t)size - 1;
		memcpy(buf, p->text, n);
		buf[n] = 0;
		p->text += n;
	}
	/* a line longer than inih's buffer comes in pieces: count it once */
	if (p->at_line_start)
		p->line++;
	size_t l = strlen(buf);
	p->at_line_start = l && buf[l - 1] == '\n';
	return buf;
}

__attribute__((format(printf, 3, 4))) static int fail(struct parse *p, int line, const char *fmt, ...)
{
	if (!p->failed) {
		char msg[320];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(msg, sizeof msg, fmt, ap);
		va_end(ap);
		snprintf(p->err, p->errlen, "%s:%d: %s", p->file, line, msg);
	}
	p->failed = true;
	return 0;
}

static bool parse_uint(const char *v, unsigned lo, unsigned hi, unsigned *out)
{
	char *end;
	errno = 0;
	unsigned long x = strtoul(v, &end, 10);
	if (!*v || *end || errno || x < lo || x > hi || v[0] == '-' || v[0] == '+' || v[0] == ' ')
		return false;
	*out = (unsigned)x;
	return true;
}

static bool printable(const char *v)
{
	for (const unsigned char *s = (const unsigned char *)v; *s; s++)
		if (*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

/* Comma-separated glob patterns; "" = none; an empty element is an error. */
static bool parse_patterns(const char *v, struct cfg_patterns *out)
{
	struct cfg_patterns n = {.n = 0};
	if (!*v) {
		*out = n;
		return true;
	}
	for (const char *p = v;; p++) {
		size_t l = strcspn(p, ",");
		const char *q = p + l;
		while (*p == ' ' || *p == '\t')
			p++, l--;
		while (l && (p[l - 1] == ' ' || p[l - 1] == '\t'))
			l--;
		if (!l || l >= CFG_PATTERN_LEN || n.n == CFG_PATTERNS_MAX)
			return false;
		memcpy(n.p[n.n], p, l);
		n.p[n.n++][l] = 0;
		if (!*q)
			break;
		p = q;
	}
	*out = n;
	return true;
}

/* "127.0.0.1:8470" or "[::1]:8470"; the kiosk API is for this machine only. */
static bool parse_listen(const char *v)
{
	char host[64];
	unsigned port;
	const char *colon = strrchr(v, ':');
	if (!colon || (size_t)(colon - v) >= sizeof host || !parse_uint(colon + 1, 1, 65535, &port))
		return false;
	memcpy(host, v, (size_t)(colon - v));
	host[colon - v] = 0;
	struct in_addr a4;
	struct in6_addr a6;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	size_t hl = strlen(host);
	if (hl > 2 && host[0] == '[' && host[hl - 1] == ']') {
		host[hl - 1] = 0;
		return inet_pton(AF_INET6, host + 1, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
	}
	return false;
}

/* Set key k from v; NULL or a sentence saying what is wrong. */
static const char *set(struct config *c, const struct key *k, const char *v, char *why, size_t wl)
{
	char *dst = (char *)c + k->off;
	switch (k->type) {
	case T_PATH:
	case T_PATH_OPT:
		if (!*v && k->type == T_PATH_OPT)
			break;
		if (v[0] != '/' || strlen(v) >= k->size || !printable(v))
			return snprintf(why, wl, "%s must be an absolute path shorter than %zu bytes, not '%s'",
					k->name, k->size, v), why;
		break;
	case T_SECRET:
		/* never echoed: not in a message, not in the journal */
		if (strlen(v) >= k->size || !printable(v) || strchr(v, ' '))
			return snprintf(why, wl,
					"%s must be at most %zu printable characters without spaces "
					"(the value is not shown: it is a secret)",
					k->name, k->size - 1), why;
		break;
	case T_CA:
		if (!*v || !strcmp(v, "system"))
			break;
		if (v[0] != '/' || strlen(v) >= k->size || !printable(v))
			return snprintf(why, wl,
					"%s must be the absolute path of the CA certificate(s) that alone are "
					"trusted for the central, or 'system' for the system's CAs, not '%s'",
					k->name, v), why;
		break;
	case T_PINS: {
		/* sha256//BASE64 of the central's public key, ';'-separated (curl's form) */
		bool ok = strlen(v) < k->size && printable(v);
		for (const char *q = v; ok && *q;) {
			size_t l = strcspn(q, ";");
			ok = l == 52 && !strncmp(q, "sha256//", 8) &&
			     strspn(q + 8, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") == 44 &&
			     q[51] == '=';
			q += l;
			if (*q == ';')
				q++, ok = ok && *q;
		}
		if (!ok)
			return snprintf(why, wl,
					"%s must be sha256//BASE64 (44 characters) of the central's public key, "
					"several separated by ';' (openssl x509 -pubkey | openssl pkey -pubin "
					"-outform der | openssl dgst -sha256 -binary | base64), not '%s'",
					k->name, v), why;
		break;
	}
	case T_STR:
	case T_STR_OPT:
		if ((!*v && k->type == T_STR) || strlen(v) >= k->size || !printable(v))
			return snprintf(why, wl, "%s must be %d to %zu characters, not '%s'", k->name,
					k->type == T_STR, k->size - 1, v), why;
		break;
	case T_UINT:
		if (!parse_uint(v, k->lo, k->hi, (unsigned *)dst))
			return snprintf(why, wl, "%s must be a whole number from %u to %u, not '%s'",
					k->name, k->lo, k->hi, v), why;
		return NULL;
	case T_BOOL:
		if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "on") || !strcmp(v, "1"))
			*(bool *)dst = true;
		else if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "off") || !strcmp(v, "0"))
			*(bool *)dst = false;
		else
			return snprintf(why, wl, "%s must be yes or no, not '%s'", k->name, v), why;
		return NULL;
	case T_LEVEL:
		if ((*(int *)dst = log_level_parse(v)) < 0)
			return snprintf(why, wl,
					"%s must be error, warning, notice, info or debug, not '%s'",
					k->name, v), why;
		return NULL;
	case T_PATTERNS:
		if (!parse_patterns(v, (struct cfg_patterns *)dst))
			return snprintf(why, wl,
					"%s must be a comma-separated list of at most %d reader name patterns, not '%s'",
					k->name, CFG_PATTERNS_MAX, v), why;
		return NULL;
	case T_PATTERN_OPT:
		if (strlen(v) >= k->size || !printable(v))
			return snprintf(why, wl, "%s must be one reader name pattern, not '%s'", k->name, v),
			       why;
		break;
	case T_ENUM: {
		char list[160] = "";
		int n = 0;
		for (int i = 0; k->words[i]; i++, n++)
			if (!strcmp(v, k->words[i])) {
				*(int *)dst = i;
				return NULL;
			}
		for (int i = 0; i < n; i++) /* "a or b", "a, b, c or d" */
			snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s",
				 i == 0 ? "" : i == n - 1 ? " or " : ", ", k->words[i]);
		return snprintf(why, wl, "%s must be %s, not '%s'", k->name, list, v), why;
	}
	case T_BYTE: {
		char *end;
		unsigned long b = strtoul(v, &end, 16);
		if (strlen(v) != 2 || *end || b > 0xFF)
			return snprintf(why, wl, "%s must be one byte as two hex digits (such as 0A), not '%s'",
					k->name, v), why;
		*(uint8_t *)dst = (uint8_t)b;
		return NULL;
	}
	case T_SERIAL: {
		/* PATH[:BAUD]: a device path, and one of the speeds readers use */
		const char *colon = strrchr(v, ':');
		size_t pl = colon ? (size_t)(colon - v) : strlen(v);
		unsigned baud = k->hi;
		if (!*v)
			break;
		if (v[0] != '/' || pl >= k->size || !printable(v) ||
		    (colon && (!parse_uint(colon + 1, 9600, 115200, &baud) ||
			       (baud != 9600 && baud != 19200 && baud != 38400 && baud != 57600 &&
				baud != 115200))))
			return snprintf(why, wl,
					"%s must be a serial device path with an optional speed, such as "
					"/dev/ttyUSB0 or /dev/ttyS1:9600 (9600, 19200, 38400, 57600 or 115200), not '%s'",
					k->name, v), why;
		snprintf(dst, k->size, "%.*s", (int)pl, v);
		*(int *)((char *)c + k->lo) = (int)baud;
		return NULL;
	}
	case T_ADDR: {
		/* any address the site chooses (a scraper elsewhere), or off */
		struct in_addr a4;
		struct in6_addr a6;
		char host[64];
		const char *colon = strrchr(v, ':');
		unsigned port;
		bool ok = !strcmp(v, "off");
		if (!ok && colon && strlen(v) < k->size && parse_uint(colon + 1, 1, 65535, &port)) {
			snprintf(host, sizeof host, "%.*s", (int)(colon - v), v);
			size_t hl = strlen(host);
			if (hl > 2 && host[0] == '[' && host[hl - 1] == ']') {
				host[hl - 1] = 0;
				ok = inet_pton(AF_INET6, host + 1, &a6) == 1;
			} else
				ok = inet_pton(AF_INET, host, &a4) == 1;
		}
		if (!ok)
			return snprintf(why, wl,
					"%s must be an address and port such as 127.0.0.1:9470, 0.0.0.0:9470 or [::1]:9470 (or off), not '%s'",
					k->name, v), why;
		break;
	}
	case T_LISTEN:
		if (strlen(v) >= k->size || (strcmp(v, "off") && !parse_listen(v)))
			return snprintf(why, wl,
					"%s must be a loopback address and port such as 127.0.0.1:8470 or [::1]:8470 (or off), not '%s'",
					k->name, v), why;
		break;
	case T_URL:
		if (*v && (strlen(v) >= k->size || !printable(v) || strchr(v, ' ') ||
			   (strncmp(v, "https://", 8) && strncmp(v, "http://", 7)) ||
			   !v[strncmp(v, "https://", 8) ? 7 : 8]))
			return snprintf(why, wl, "%s must be an http:// or https:// address, not '%s'",
					k->name, v), why;
		break;
	case T_ORIGINS:
		if (strlen(v) >= k->size || !printable(v) || !web_origins_valid(v))
			return snprintf(why, wl,
					"%s must be web origins such as http://his.example:8080 (scheme, host and "
					"optional port; no path, no '*'), separated by spaces, not '%s'",
					k->name, v), why;
		break;
	case T_KEY:
		if (*v && (strlen(v) != 64 || strspn(v, "0123456789abcdefABCDEF") != 64))
			return snprintf(why, wl, "%s must be the central's Ed25519 public key, 64 hexadecimal digits (sscard-central pubkey prints it)",
					k->name), why;
		break;
	}
	strcpy(dst, v); /* the string types: length checked above */
	return NULL;
}

static int handler(void *user, const char *section, const char *key, const char *v)
{
	struct parse *p = user;
	char why[400];
	bool known_section = false;

	if (p->failed)
		return 0;
	for (size_t i = 0; i < N_KEYS; i++)
		known_section |= !strcmp(keys[i].section, section);
	if (!known_section)
		return fail(p, p->line, "unknown section [%s]; sections are [daemon], [readers], [ui], [upstream] and [policy]",
			    section);
	if (!key)
		return 1; /* section header alone */
	for (size_t i = 0; i < N_KEYS; i++) {
		if (strcmp(keys[i].section, section) || strcmp(keys[i].name, key))
			continue;
		if (p->key_line[i])
			return fail(p, p->line, "duplicate key '%s' in [%s] (first set on line %d)", key,
				    section, p->key_line[i]);
		p->key_line[i] = p->line;
		if (set(p->c, &keys[i], v, why, sizeof why))
			return fail(p, p->line, "%s", why);
		return 1;
	}
	return fail(p, p->line, "unknown key '%s' in [%s]", key, section);
}

void config_defaults(struct config *c)
{
	char why[400];
	memset(c, 0, sizeof *c);
	for (size_t i = 0; i < N_KEYS; i++)
		if (set(c, &keys[i], keys[i].def, why, sizeof why))
			abort(); /* a default that does not parse is a bug in the table */
	c->idcard_baud = 115200;
	c->scanner_baud = 9600;
}

/* http://127.x.y.z[:port]/…, http://[::1]…, http://localhost…: a central on
 * this machine (the demo, a local proxy): nothing crosses the network. */
static bool url_is_loopback(const char *url)
{
	const char *h = url + 7;
	size_t l = strcspn(h, ":/?#");
	char host[64];
	struct in_addr a;
	if (*h == '[')
		return !strncmp(h, "[::1]", 5);
	if (l >= sizeof host)
		return false;
	memcpy(host, h, l);
	host[l] = 0;
	return !strcmp(host, "localhost") || (inet_pton(AF_INET, host, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127);
}

static int key_line(const struct parse *p, const char *section, const char *name)
{
	for (size_t i = 0; i < N_KEYS; i++)
		if (!strcmp(keys[i].section, section) && !strcmp(keys[i].name, name))
			return p->key_line[i];
	return 0;
}

/* A secret from its own file (token_file): the first line, without its end;
 * its value is never put in a message. */
static int read_secret(struct parse *p, const char *path, char *out, size_t cap, int line)
{
	char buf[512];
	FILE *f = fopen(path, "re");
	if (!f)
		return fail(p, line, "token_file: cannot read '%s': %s", path, strerror(errno)), -1;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	buf[strcspn(buf, "\r\n")] = 0;
	n = strlen(buf);
	int rv = 0;
	if (!n || n >= cap || !printable(buf) || strchr(buf, ' ')) {
		fail(p, line,
		     "token_file: '%s' must hold the token on its first line, 1 to %zu printable "
		     "characters without spaces (the value is not shown)",
		     path, cap - 1);
		rv = -1;
	} else
		memcpy(out, buf, n + 1);
	explicit_bzero(buf, sizeof buf);
	return rv;
}

static int finish(struct parse *p, int rv)
{
	struct config *c = p->c;
	if (p->failed)
		return -1;
	for (size_t i = 0; i < N_KEYS; i++)
		if (!strcmp(keys[i].section, "ui") && !strcmp(keys[i].name, "root"))
			c->ui_root_line = p->key_line[i];
	if (rv > 0)
		return fail(p, rv, "not a 'key = value' line or a [section] header"), -1;
	if (rv < 0)
		return fail(p, 0, "cannot read the file"), -1;
	int tl = key_line(p, "upstream", "token"), fl = key_line(p, "upstream", "token_file");
	if (tl && fl)
		return fail(p, fl > tl ? fl : tl, "token and token_file are both set; keep one (token_file, "
				"a file only the daemon can read, is the safer)"), -1;
	if (*c->token_file && read_secret(p, c->token_file, c->token, sizeof c->token, fl) < 0)
		return -1;
	if (*c->token && !c->insecure_http && !strncmp(c->url, "http://", 7) && !url_is_loopback(c->url))
		return fail(p, key_line(p, "upstream", "url"),
			    "url is http:// and a token is set: the token would cross the network in "
			    "clear; use https://, or set insecure_http = yes in a lab"), -1;
	if (c->pin_min_len > c->pin_max_len) {
		int line = 0;
		for (size_t i = 0; i < N_KEYS; i++)
			if (!strncmp(keys[i].name, "pin_m", 5) && p->key_line[i] > line)
				line = p->key_line[i];
		return fail(p, line, "pin_min_len (%u) is greater than pin_max_len (%u)", c->pin_min_len,
			    c->pin_max_len), -1;
	}
	return 0;
}

int config_load(struct config *c, const char *file, bool must_exist, char *err, size_t errlen)
{
	struct parse p = {.c = c, .file = file, .err = err, .errlen = errlen, .at_line_start = true};
	config_defaults(c);
	p.f = fopen(file, "r");
	if (!p.f) {
		if (errno == ENOENT && !must_exist)
			return 0;
		snprintf(err, errlen, "%s:0: cannot open: %s", file, strerror(errno));
		return -1;
	}
	int rv = ini_parse_stream(reader_fn, &p, handler, &p);
	fclose(p.f);
	return finish(&p, rv);
}

int config_load_string(struct config *c, const char *text, const char *name, char *err,
		       size_t errlen)
{
	struct parse p = {
		.c = c, .file = name, .text = text, .err = err, .errlen = errlen, .at_line_start = true};
	config_defaults(c);
	return finish(&p, ini_parse_stream(reader_fn, &p, handler, &p));
}

bool config_ui_root_ok(const struct config *c, const char *file, char *err, size_t errlen)
{
	char path[300], at[32] = "";
	if (!strcmp(c->listen, "off"))
		return true;
	snprintf(path, sizeof path, "%s/index.html", c->ui_root);
	if (access(path, R_OK) == 0)
		return true;
	if (c->ui_root_line)
		snprintf(at, sizeof at, ":%d", c->ui_root_line);
	snprintf(err, errlen,
		 "%s%s: [ui] root must be the directory of the kiosk pages, with index.html; '%s' has none "
		 "(the kiosk's screen would show an error instead of its home page)",
		 file, at, c->ui_root);
	return false;
}

bool config_secret_private(const struct config *c, const char *file, char *err, size_t errlen)
{
	struct stat st;
	const char *where = *c->token_file ? c->token_file : file;
	if (!*c->token || stat(where, &st) < 0 || !(st.st_mode & S_IROTH))
		return true;
	snprintf(err, errlen,
		 "%s holds the central's token and every local user can read it: "
		 "move the token to token_file (chown sscard '%s' && chmod 0600 '%s')",
		 where, where, where);
	return false;
}

bool config_reader_wanted(const struct config *c, const char *reader)
{
	bool in = false;
	if (c->sam_reader[0] && !fnmatch(c->sam_reader, reader, 0))
		return false; /* the PSAM slot holds the terminal's module, never a holder's card */
	for (size_t i = 0; i < c->include.n && !in; i++)
		in = !fnmatch(c->include.p[i], reader, 0);
	for (size_t i = 0; i < c->exclude.n && in; i++)
		in = fnmatch(c->exclude.p[i], reader, 0) != 0;
	return in;
}

void config_each_key(void (*fn)(void *, const char *, const char *, const char *), void *arg)
{
	for (size_t i = 0; i < N_KEYS; i++)
		fn(arg, keys[i].section, keys[i].name, keys[i].def);
}
