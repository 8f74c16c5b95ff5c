/* test-config.c — sscard.conf: every bad file gives its exact message;
 * the documented config/sscard.conf states every key with its real
 * default; the request grammar of the diagnostics socket. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon/config.h"
#include "daemon/request.h"

static const struct {
	const char *text, *msg;
} BAD[] = {
	{"[daemon]\nsocket = relative.sock\n",
	 "t.conf:2: socket must be an absolute path shorter than 108 bytes, not 'relative.sock'"},
	{"[daemon]\nlog_level = loud\n",
	 "t.conf:2: log_level must be error, warning, notice, info or debug, not 'loud'"},
	{"[daemon]\nlog_level = info\nlog_level = debug\n",
	 "t.conf:3: duplicate key 'log_level' in [daemon] (first set on line 2)"},
	{"[daemon]\nsokket = /run/x\n", "t.conf:2: unknown key 'sokket' in [daemon]"},
	{"[deamon]\nsocket = /run/x\n",
	 "t.conf:2: unknown section [deamon]; sections are [daemon], [readers], [ui], [upstream] and [policy]"},
	{"# comment\n\n[readers]\nread_timeout_ms = 50\n",
	 "t.conf:4: read_timeout_ms must be a whole number from 200 to 120000, not '50'"},
	{"[readers]\nread_timeout_ms = -1\n",
	 "t.conf:2: read_timeout_ms must be a whole number from 200 to 120000, not '-1'"},
	{"[readers]\nread_timeout_ms = 99999999999999999999\n",
	 "t.conf:2: read_timeout_ms must be a whole number from 200 to 120000, not '99999999999999999999'"},
	{"[readers]\npcsc = maybe\n", "t.conf:2: pcsc must be yes or no, not 'maybe'"},
	{"[readers]\ninclude = a,,b\n",
	 "t.conf:2: include must be a comma-separated list of at most 16 reader name patterns, not 'a,,b'"},
	{"[readers]\nprefer = nfc\n", "t.conf:2: prefer must be contact, contactless or both, not 'nfc'"},
	{"[readers]\nauth = sam\n", "t.conf:2: auth must be auto, psam, hsm or none, not 'sam'"},
	{"[readers]\nsam_key_index = 0x0A\n",
	 "t.conf:2: sam_key_index must be one byte as two hex digits (such as 0A), not '0x0A'"},
	{"[ui]\nlisten = 0.0.0.0:8470\n",
	 "t.conf:2: listen must be a loopback address and port such as 127.0.0.1:8470 or [::1]:8470 (or off), not '0.0.0.0:8470'"},
	{"[ui]\nlisten = 127.0.0.1\n",
	 "t.conf:2: listen must be a loopback address and port such as 127.0.0.1:8470 or [::1]:8470 (or off), not '127.0.0.1'"},
	{"[ui]\nlanguage = fr\n", "t.conf:2: language must be zh or en, not 'fr'"},
	{"[upstream]\nurl = ftp://central\n",
	 "t.conf:2: url must be an http:// or https:// address, not 'ftp://central'"},
	{"[upstream]\nca = certs/ca.pem\n",
	 "t.conf:2: ca must be the absolute path of the CA certificate(s) that alone are trusted for the "
	 "central, or 'system' for the system's CAs, not 'certs/ca.pem'"},
	/* a secret never comes back in a message (issue 27): a control byte,
	 * a space, a value too long, a continuation line after it */
	{"[upstream]\ntoken = s3cr3t\x01\n",
	 "t.conf:2: token must be at most 127 printable characters without spaces (the value is not "
	 "shown: it is a secret)"},
	{"[upstream]\ntoken = s3cr3t and more\n",
	 "t.conf:2: token must be at most 127 printable characters without spaces (the value is not "
	 "shown: it is a secret)"},
	{"[upstream]\ntoken = s3cr3t\n  continued\n",
	 "t.conf:3: duplicate key 'token' in [upstream] (first set on line 2)"},
	{"[upstream]\ntoken = s3cr3t\ntoken_file = /etc/sscard/token\n",
	 "t.conf:3: token and token_file are both set; keep one (token_file, a file only the daemon can "
	 "read, is the safer)"},
	{"[upstream]\ntoken_file = /nonexistent/token\n",
	 "t.conf:2: token_file: cannot read '/nonexistent/token': No such file or directory"},
	{"[upstream]\nurl = http://central.example\ntoken = s3cr3t\n",
	 "t.conf:2: url is http:// and a token is set: the token would cross the network in clear; use "
	 "https://, or set insecure_http = yes in a lab"},
	{"[upstream]\nurl = http://127.central.example\ntoken = s3cr3t\n",
	 "t.conf:2: url is http:// and a token is set: the token would cross the network in clear; use "
	 "https://, or set insecure_http = yes in a lab"},
	{"[upstream]\npin = sha256//short=\n",
	 "t.conf:2: pin must be sha256//BASE64 (44 characters) of the central's public key, several "
	 "separated by ';' (openssl x509 -pubkey | openssl pkey -pubin -outform der | openssl dgst "
	 "-sha256 -binary | base64), not 'sha256//short='"},
	{"[policy]\npin_min_len = 8\npin_max_len = 6\n",
	 "t.conf:3: pin_min_len (8) is greater than pin_max_len (6)"},
	{"[daemon]\nthis line has no equals sign\n",
	 "t.conf:2: not a 'key = value' line or a [section] header"},
	{"[daemon]\nadmin_group =\n", "t.conf:2: admin_group must be 1 to 63 characters, not ''"},
	{"[daemon]\nterminal_id = 0123456789012345678901234567890123\n",
	 "t.conf:2: terminal_id must be 0 to 32 characters, not '0123456789012345678901234567890123'"},
};

static void test_bad_files(void **s)
{
	for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
		struct config c;
		char err[512] = "";
		int rv = config_load_string(&c, BAD[i].text, "t.conf", err, sizeof err);
		if (rv != -1 || strcmp(err, BAD[i].msg))
			fail_msg("case %zu: rv %d\n got: %s\nwant: %s", i, rv, err, BAD[i].msg);
		if (strstr(err, "s3cr3t"))
			fail_msg("case %zu: the message shows the secret: %s", i, err);
	}
}

/* What a lab and the demo may do, and the token read from its own file. */
static void test_good_secrets(void **s)
{
	static const char *const OK[] = {
		"[upstream]\nurl = http://127.0.0.1:18480\ntoken = t\n",
		"[upstream]\nurl = http://[::1]:18480/v1\ntoken = t\n",
		"[upstream]\nurl = http://localhost/v1\ntoken = t\n",
		"[upstream]\nurl = http://central.lab\ntoken = t\ninsecure_http = yes\n",
		"[upstream]\nurl = https://central.example\ntoken = t\nca = system\n",
		("[upstream]\npin = sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=;"
		"sha256//BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB=\n"),
	};
	for (size_t i = 0; i < sizeof OK / sizeof OK[0]; i++) {
		struct config c;
		char err[512] = "";
		if (config_load_string(&c, OK[i], "t.conf", err, sizeof err))
			fail_msg("case %zu: %s", i, err);
	}
	char path[] = "/tmp/sscard-token-XXXXXX", text[300];
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "tok-from-file\n", 14), 14);
	close(fd);
	snprintf(text, sizeof text, "[upstream]\nurl = https://central.example\ntoken_file = %s\n", path);
	struct config c;
	char err[512] = "";
	assert_int_equal(config_load_string(&c, text, "t.conf", err, sizeof err), 0);
	assert_string_equal(c.token, "tok-from-file");
	unlink(path);
}

static void test_good_file(void **s)
{
	struct config c;
	char err[512] = "";
	assert_int_equal(config_load_string(&c,
					    "; a comment\n[daemon]\nlog_level = debug\n"
					    "[readers]\nexclude = *SAM*, Foo 00\nsam_reader = ACS ACR39U 01\n"
					    "prefer = contactless\ncard_hold_ms = 0\n[ui]\nlisten = [::1]:9000\n"
					    "[upstream]\nurl = https://central.example/api\n[policy]\npin_min_len = 4\n"
					    "pin_max_len = 8\n",
					    "g.conf", err, sizeof err),
			 0);
	assert_int_equal(c.log_level, LOG_DEBUG);
	assert_int_equal(c.prefer, CFG_PREFER_CONTACTLESS);
	assert_int_equal(c.card_hold_ms, 0);
	assert_string_equal(c.listen, "[::1]:9000");
	assert_int_equal(c.exclude.n, 2);
	assert_string_equal(c.exclude.p[1], "Foo 00");
	assert_true(config_reader_wanted(&c, "Virtual PCD 00 00"));
	assert_false(config_reader_wanted(&c, "Foo 00"));
	assert_false(config_reader_wanted(&c, "Gemalto SAM 1"));
	assert_false(config_reader_wanted(&c, "ACS ACR39U 01")); /* the SAM slot */
	assert_int_equal(c.read_timeout_ms, 10000);             /* untouched: default */
}

/* config/sscard.conf must show every key, set or commented, with the
 * default the daemon really uses. */
struct doc {
	char *text;
	int missing;
};

static void check_documented(void *arg, const char *section, const char *key, const char *def)
{
	struct doc *d = arg;
	char want[512], hdr[64];
	snprintf(hdr, sizeof hdr, "\n[%s]\n", section);
	char *sec = strstr(d->text, hdr);
	char *end = sec ? strstr(sec + 1, "\n[") : NULL;
	bool found = false;
	for (const char *pre = "\0;"; !found && sec; pre++) {
		snprintf(want, sizeof want, "\n%s%s = %s\n", *pre ? ";" : "", key, def);
		if (!*def) /* an unset key is shown commented, with an example */
			snprintf(want, sizeof want, "\n;%s = ", key);
		char *at = strstr(sec, want);
		found = at && (!end || at < end);
		if (!*pre)
			continue;
		break;
	}
	if (!found) {
		fprintf(stderr, "config/sscard.conf: [%s] %s = %s is not documented as such\n", section,
			key, def);
		d->missing++;
	}
}

static void test_documented_defaults(void **s)
{
	FILE *f = fopen(SRCDIR "/config/sscard.conf", "r");
	assert_non_null(f);
	struct doc d = {calloc(1, 65536), 0};
	d.text[0] = '\n';
	size_t n = fread(d.text + 1, 1, 65534, f);
	fclose(f);
	assert_true(n > 0 && n < 65534);
	config_each_key(check_documented, &d);
	assert_int_equal(d.missing, 0);
	/* and the file as shipped is valid */
	struct config c;
	char err[512];
	assert_int_equal(config_load(&c, SRCDIR "/config/sscard.conf", true, err, sizeof err), 0);
	free(d.text);
}

static void test_requests(void **s)
{
	struct request r;
	char err[512];
	assert_int_equal(request_parse("status", &r, err, sizeof err), 0);
	assert_int_equal(r.verb, REQ_STATUS);
	assert_int_equal(request_parse("  read   Virtual PCD 00 00  ", &r, err, sizeof err), 0);
	assert_int_equal(r.verb, REQ_READ);
	assert_string_equal(r.arg, "Virtual PCD 00 00");
	assert_int_equal(request_parse("trace\ton", &r, err, sizeof err), 0);
	assert_int_equal(r.verb, REQ_TRACE_ON);
	assert_true(request_is_admin(r.verb));
	assert_false(request_is_admin(REQ_READ));
	assert_int_equal(request_parse("log level debug", &r, err, sizeof err), 0);
	assert_int_equal(r.level, LOG_DEBUG);
	assert_int_equal(request_parse("log level loud", &r, err, sizeof err), -1);
	assert_string_equal(err, "Log level must be error, warning, notice, info or debug, not 'loud'.");
	assert_int_equal(request_parse("reader reset", &r, err, sizeof err), -1);
	assert_non_null(strstr(err, "'reader reset' needs an argument."));
	assert_int_equal(request_parse("status now", &r, err, sizeof err), -1);
	assert_string_equal(err, "'status' takes no arguments.");
	assert_int_equal(request_parse("trace", &r, err, sizeof err), -1);
	assert_non_null(strstr(err, "Unknown command 'trace'."));
	assert_int_equal(request_parse("statusx", &r, err, sizeof err), -1);
	assert_non_null(strstr(err, "Unknown command 'statusx'."));
	assert_int_equal(request_parse("   ", &r, err, sizeof err), -1);
	assert_string_equal(err, "");
	char big[600];
	memset(big, 'a', sizeof big);
	memcpy(big, "read ", 5);
	big[sizeof big - 1] = 0;
	assert_int_equal(request_parse(big, &r, err, sizeof err), -1);
	assert_string_equal(err, "The argument of 'read' is too long.");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_good_secrets),
		cmocka_unit_test(test_good_file),
		cmocka_unit_test(test_documented_defaults),
		cmocka_unit_test(test_requests),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
