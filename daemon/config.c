/* config.c — parse sscard.conf with inih, tracking line numbers ourselves. */
#include "config.h"

#include <errno.h>
#include <fnmatch.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

struct parse {
	struct config *c;
	const char *file;
	FILE *f;
	int line;                  /* line inih is looking at */
	char *err;
	size_t errlen;
	bool failed;
	char seen[64][64];         /* "section.key" already set: duplicates are errors */
	size_t n_seen;
};

static char *reader_fn(char *buf, int size, void *stream)
{
	struct parse *p = stream;
	char *r = fgets(buf, size, p->f);
	if (r)
		p->line++;
	return r;
}

__attribute__((format(printf, 2, 3))) static int fail(struct parse *p, const char *fmt, ...)
{
	if (!p->failed) {
		char msg[256];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(msg, sizeof msg, fmt, ap);
		va_end(ap);
		snprintf(p->err, p->errlen, "%s:%d: %s", p->file, p->line, msg);
	}
	p->failed = true;
	return 0;
}

static bool parse_bool(const char *v, bool *out)
{
	if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "on") || !strcmp(v, "1"))
		*out = true;
	else if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "off") || !strcmp(v, "0"))
		*out = false;
	else
		return false;
	return true;
}

static bool parse_uint(const char *v, unsigned lo, unsigned hi, unsigned *out)
{
	char *end;
	errno = 0;
	unsigned long x = strtoul(v, &end, 10);
	if (!*v || *end || errno || x < lo || x > hi || v[0] == '-')
		return false;
	*out = (unsigned)x;
	return true;
}

/* Comma-separated glob patterns. */
static bool parse_patterns(const char *v, char dst[][128], size_t *n)
{
	char buf[1024], *save, *tok;
	if (strlen(v) >= sizeof buf)
		return false;
	strcpy(buf, v);
	*n = 0;
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		while (*tok == ' ')
			tok++;
		size_t l = strlen(tok);
		while (l && tok[l - 1] == ' ')
			tok[--l] = 0;
		if (!l || l >= 128 || *n == CFG_PATTERNS_MAX)
			return false;
		strcpy(dst[(*n)++], tok);
	}
	return *n > 0;
}

static bool copy(char *dst, size_t cap, const char *v)
{
	if (strlen(v) >= cap)
		return false;
	strcpy(dst, v);
	return true;
}

static int handler(void *user, const char *section, const char *key, const char *v)
{
	struct parse *p = user;
	struct config *c = p->c;
	char id[64];

	if (p->failed)
		return 0;
	if (!key)
		return 1; /* section header alone */
	snprintf(id, sizeof id, "%s.%s", section, key);
	for (size_t i = 0; i < p->n_seen; i++)
		if (!strcmp(p->seen[i], id))
			return fail(p, "duplicate key '%s' in [%s]", key, section);
	if (p->n_seen < 64)
		strcpy(p->seen[p->n_seen++], id);

	if (!strcmp(section, "daemon")) {
		if (!strcmp(key, "socket")) {
			if (v[0] != '/' || !copy(c->socket, sizeof c->socket, v))
				return fail(p, "socket must be an absolute path shorter than 108 bytes, not '%s'", v);
		} else if (!strcmp(key, "state_dir")) {
			if (v[0] != '/' || !copy(c->state_dir, sizeof c->state_dir, v))
				return fail(p, "state_dir must be an absolute path, not '%s'", v);
		} else if (!strcmp(key, "log_level")) {
			static const char *const names[] = {"error", "warning", "notice", "info", "debug"};
			int lvl = -1;
			for (int i = 0; i < 5; i++)
				if (!strcmp(v, names[i]))
					lvl = LOG_ERR + i;
			if (lvl < 0)
				return fail(p, "log_level must be error, warning, notice, info or debug, not '%s'", v);
			c->log_level = lvl;
		} else if (!strcmp(key, "terminal_id")) {
			if (!*v || !copy(c->terminal_id, sizeof c->terminal_id, v))
				return fail(p, "terminal_id must be 1 to 32 characters, not '%s'", v);
		} else
			return fail(p, "unknown key '%s' in [%s]", key, section);
	} else if (!strcmp(section, "readers")) {
		if (!strcmp(key, "pcsc")) {
			if (!parse_bool(v, &c->pcsc))
				return fail(p, "pcsc must be yes or no, not '%s'", v);
		} else if (!strcmp(key, "include")) {
			if (!parse_patterns(v, c->include, &c->n_include))
				return fail(p, "include must be a comma-separated list of at most 16 reader name patterns, not '%s'", v);
		} else if (!strcmp(key, "exclude")) {
			if (!parse_patterns(v, c->exclude, &c->n_exclude))
				return fail(p, "exclude must be a comma-separated list of at most 16 reader name patterns, not '%s'", v);
		} else if (!strcmp(key, "read_timeout_ms")) {
			if (!parse_uint(v, 200, 120000, &c->read_timeout_ms))
				return fail(p, "read_timeout_ms must be a number from 200 to 120000, not '%s'", v);
		} else if (!strcmp(key, "card_hold_ms")) {
			if (!parse_uint(v, 0, 60000, &c->card_hold_ms))
				return fail(p, "card_hold_ms must be a number from 0 to 60000, not '%s'", v);
		} else
			return fail(p, "unknown key '%s' in [%s]", key, section);
	} else
		return fail(p, "unknown section [%s]", section);
	return 1;
}

void config_defaults(struct config *c)
{
	memset(c, 0, sizeof *c);
	strcpy(c->socket, "/run/sscard/sscardd.sock");
	strcpy(c->state_dir, "/var/lib/sscard");
	c->log_level = LOG_INFO;
	c->pcsc = true;
	strcpy(c->include[0], "*");
	c->n_include = 1;
	c->read_timeout_ms = 10000;
	c->card_hold_ms = 2000;
}

int config_load(struct config *c, const char *file, bool must_exist, char *err, size_t errlen)
{
	struct parse p = {.c = c, .file = file, .err = err, .errlen = errlen};
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
	if (p.failed)
		return -1;
	if (rv > 0) {
		snprintf(err, errlen, "%s:%d: not a 'key = value' line or a [section] header", file, rv);
		return -1;
	}
	if (rv < 0) {
		snprintf(err, errlen, "%s:0: cannot read the file", file);
		return -1;
	}
	return 0;
}

bool config_reader_wanted(const struct config *c, const char *reader)
{
	bool in = false;
	for (size_t i = 0; i < c->n_include && !in; i++)
		in = !fnmatch(c->include[i], reader, 0);
	for (size_t i = 0; i < c->n_exclude && in; i++)
		in = fnmatch(c->exclude[i], reader, 0) != 0;
	return in;
}
