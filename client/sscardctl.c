/* sscardctl — talk to sscardd over its control socket.
 * Exit status: 0 ok, 1 the daemon said no, 2 usage, 69 daemon unreachable. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <termios.h>
#include <unistd.h>

#include "daemon/mask.h"
#include "daemon/request.h"

#define EX_UNREACHABLE 69
#define DEFAULT_SOCKET "/run/sscard/sscardd.sock"

static bool opt_json, opt_reveal;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sscardctl [-s SOCKET] [-j] [--reveal] [-t SECONDS] VERB [ARGS…]\n"
		"verbs:\n"
		"  status          daemon, readers, last event, error counts\n"
		"  readers         readers and whether a card is in them\n"
		"  read [READER]   read the card (first reader with a card by default)\n"
		"  idcard          read the resident ID card on the ID card reader now\n"
		"                  (errors: no_reader, no_card, card_removed, reader_timeout, …)\n"
		"  events          follow reader and card events until interrupted\n"
		"  pinpad verify|change [READER]  the holder types the PIN on the reader's PIN pad\n"
		"                  (PC/SC part 10); no_pin_pad when the reader has none\n"
		"  list info       the loss list: version, entries, age, last sync\n"
		"  outbox          requests waiting for the central or refused by it\n"
		"  list lookup CARD_ID  whether a card (32 hex digits) is on the loss list\n"
		"  help            the verbs the daemon knows\n"
		"for administrators (root or the admin group, default sscard-admin):\n"
		"  trace on        follow events and every APDU (PIN and personal data redacted)\n"
		"  trace off       end every trace\n"
		"  reload          re-read the configuration (a bad file changes nothing)\n"
		"  reader reset READER  restart a reader's worker and power its card down\n"
		"  log level LEVEL error, warning, notice, info or debug (until reload/restart)\n"
		"  list sync       ask the central for the loss list now; wait for the result\n"
		"  request TYPE CARD_ID [name=value …] [key=32HEX]  queue a request for the central\n"
		"                  (loss_report loss=temporary|formal, loss_cancel, replacement\n"
		"                  outlet=… delegated=yes fee_fen=1000, activation, pin_changed)\n"
		"  outbox retry ID send a refused request again\n"
		"options:\n"
		"  -s SOCKET       control socket (default $SSCARD_SOCKET or " DEFAULT_SOCKET ")\n"
		"  -j              print the daemon's JSON as it is\n"
		"  --reveal        show SSN, name (and an ID card's address) in full (masked by default)\n"
		"  -t SECONDS      how long to wait for an answer (default 30; pinpad 100)\n"
		"exit status: 0 ok, 1 the daemon said no, 2 usage, 69 daemon unreachable\n");
}

static int dial(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;
	if (strlen(path) >= sizeof sa.sun_path) {
		fprintf(stderr, "sscardctl: socket path too long: %s\n", path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		fprintf(stderr, "sscardctl: cannot reach sscardd at %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* Read one line; timeout_ms < 0 waits forever. 1 ok, 0 EOF, -1 timeout/error. */
static int read_line(int fd, char *buf, size_t cap, size_t *have, char **line, int timeout_ms)
{
	for (;;) {
		char *nl = memchr(buf, '\n', *have);
		if (nl) {
			*nl = 0;
			*line = buf;
			return 1;
		}
		if (*have == cap - 1)
			return -1;
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int r = poll(&p, 1, timeout_ms);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		ssize_t n = read(fd, buf + *have, cap - 1 - *have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0;
		*have += (size_t)n;
	}
}

static const char *str(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

/* Terminal columns of a UTF-8 string: CJK characters take two. */
static int width(const char *s)
{
	int w = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x80)
			w++;
		else if (*p >= 0xE0)
			w += 2; /* lead byte of a 3- or 4-byte character */
	}
	return w;
}

static void print_loss(json_t *l);

/* One "label  value" line, values aligned in column 27 on a terminal. */
static void row(const char *label, const char *value)
{
	printf("%s%*s%s\n", label, 26 - width(label), "", value);
}

/* The loss list's verdict, first thing a counter clerk must see. */
static void print_loss(json_t *l)
{
	char v[300];
	if (!json_is_object(l))
		return;
	json_t *listed = json_object_get(l, "listed");
	if (json_is_true(listed))
		snprintf(v, sizeof v, "*** %s *** (%s, list v%lld)", str(l, "message"), str(l, "state"),
			 (long long)json_integer_value(json_object_get(l, "list_version")));
	else if (json_is_false(listed)) {
		json_t *age = json_object_get(l, "list_age_s");
		char a[64] = "never received";
		if (json_is_integer(age))
			snprintf(a, sizeof a, "list v%lld, %lld s old",
				 (long long)json_integer_value(json_object_get(l, "list_version")),
				 (long long)json_integer_value(age));
		snprintf(v, sizeof v, "not listed (%s)%s%s", a,
			 json_is_true(json_object_get(l, "stale")) ? " — STALE: " : "",
			 json_is_true(json_object_get(l, "stale")) ? str(l, "message") : "");
	} else
		snprintf(v, sizeof v, "UNKNOWN: %s", str(l, "message"));
	row("Loss list  挂失名单", v);
}

static void print_card(json_t *o)
{
	static const struct {
		const char *key, *label;
	} rows[] = {
		{"card_id", "Card ID    卡识别码"},   {"region", "Region     区划"},
		{"card_number", "Card no.   卡号"},   {"card_type", "Card type  卡类别"},
		{"spec_version", "Spec       规范版本"}, {"issuer", "Issuer     发卡机构"},
		{"issue_date", "Issued     发卡日期"}, {"expiry_date", "Expires    有效期"},
		{"name", "Name       姓名"},          {"ssn", "SSN        社会保障号码"},
		{"sex", "Sex        性别"},           {"nation", "Ethnicity  民族"},
		{"birthplace", "Birthplace 出生地"},  {"birth_date", "Born       出生日期"},
	};
	char masked[256];
	char rdr[300];
	snprintf(rdr, sizeof rdr, "%s (%s)", str(o, "reader"), str(o, "interface"));
	row("Reader     读卡器", rdr);
	row("ATR        复位应答", str(o, "atr"));
	print_loss(json_object_get(o, "loss"));
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		const char *v = json_string_value(json_object_get(o, rows[i].key));
		if (!v)
			continue;
		if (!opt_reveal && !strcmp(rows[i].key, "ssn"))
			mask_ssn(v, masked, sizeof masked), v = masked;
		else if (!opt_reveal && !strcmp(rows[i].key, "name"))
			mask_name(v, masked, sizeof masked), v = masked;
		else if (!strcmp(rows[i].key, "sex"))
			v = !strcmp(v, "1") ? "1 (male 男)" : !strcmp(v, "2") ? "2 (female 女)" : v;
		row(rows[i].label, v);
	}
	json_t *errs = json_object_get(o, "errors");
	size_t i;
	json_t *e;
	if (json_array_size(errs))
		printf("Not read:\n");
	json_array_foreach(errs, i, e)
	{
		const char *sw = str(e, "sw");
		printf("  %-12s %s (%s%s%s)\n", str(e, "field"), str(e, "message"), str(e, "code"),
		       *sw ? ", SW " : "", sw);
	}
	printf("%lld APDUs, %.1f ms\n", (long long)json_integer_value(json_object_get(o, "apdus")),
	       json_number_value(json_object_get(o, "elapsed_ms")));
	if (!opt_reveal)
		printf("(SSN and name masked; --reveal shows them)\n");
}

static void print_idcard(json_t *o)
{
	static const struct {
		const char *key, *label;
	} rows[] = {
		{"kind", "Kind       证件类别"},      {"name", "Name       姓名"},
		{"sex", "Sex        性别"},           {"nation", "Ethnicity  民族"},
		{"birth_date", "Born       出生"},    {"address", "Address    住址"},
		{"id_number", "ID number  公民身份号码"}, {"authority", "Authority  签发机关"},
		{"valid_from", "Valid from 有效期起始"}, {"valid_until", "Valid to   有效期截止"},
	};
	char masked[256];
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		const char *k = rows[i].key, *v = json_string_value(json_object_get(o, k));
		if (!v)
			continue;
		if (!opt_reveal && !strcmp(k, "id_number"))
			mask_ssn(v, masked, sizeof masked), v = masked;
		else if (!opt_reveal && !strcmp(k, "name"))
			mask_name(v, masked, sizeof masked), v = masked;
		else if (!opt_reveal && (!strcmp(k, "address") || !strcmp(k, "birth_date")))
			v = "(masked)";
		else if (!strcmp(k, "sex"))
			v = !strcmp(v, "1") ? "1 (male 男)" : !strcmp(v, "2") ? "2 (female 女)" : v;
		else if (!strcmp(k, "valid_until") && !strcmp(v, "long-term"))
			v = "long-term 长期";
		else if (!strcmp(k, "kind") && strcmp(v, "resident"))
			v = !strcmp(v, "foreign_permanent") ? "foreign_permanent (外国人永久居留身份证): not decoded"
							    : "hk_mo_tw_permit (港澳台居民居住证): not decoded";
		row(rows[i].label, v);
	}
	if (json_is_true(json_object_get(o, "expired")))
		printf("EXPIRED: this ID card is past its validity\n");
	if (json_is_true(json_object_get(o, "masked")))
		printf("(masked by sscardd: only root and the admin group see an ID card in full)\n");
	else if (!opt_reveal && json_object_get(o, "id_number"))
		printf("(number, name, birth date and address masked; --reveal shows them)\n");
}

static void print_readers(json_t *o)
{
	size_t i;
	json_t *r;
	printf("pcscd: %s\n", str(o, "pcsc"));
	if (!json_array_size(json_object_get(o, "readers")))
		printf("no readers\n");
	json_array_foreach(json_object_get(o, "readers"), i, r)
	{
		printf("  %-32s %-8s %s\n", str(r, "name"), str(r, "state"), str(r, "atr"));
	}
}

static void print_event(json_t *o)
{
	char when[32] = "", id[32] = "";
	time_t t = (time_t)json_number_value(json_object_get(o, "time"));
	struct tm tm;
	if (t && localtime_r(&t, &tm))
		strftime(when, sizeof when, "%H:%M:%S", &tm);
	if (!strcmp(str(o, "event"), "apdu")) {
		printf("%s apdu %s > %s < %s %s (%lld µs)%s\n", when, str(o, "reader"), str(o, "cmd"),
		       str(o, "rsp"), str(o, "sw"), (long long)json_integer_value(json_object_get(o, "us")),
		       json_is_true(json_object_get(o, "redacted")) ? " [redacted]" : "");
		fflush(stdout);
		return;
	}
	json_t *card = json_object_get(o, "card");
	if (card)
		mask_id(str(card, "card_id"), id, sizeof id);
	else /* status' last event carries the card id masked already */
		snprintf(id, sizeof id, "%s", str(o, "card_id"));
	printf("%s %-14s %s%s%s%s%s\n", when, str(o, "event"), str(o, "reader"),
	       *id ? " card " : "", id, json_object_get(o, "error") ? ": " : "",
	       str(o, "message"));
	fflush(stdout);
}

/* Replies of the admin verbs and help: their keys, plainly. */
static void print_reply(json_t *o)
{
	const char *k;
	json_t *v;
	json_object_foreach(o, k, v)
	{
		if (!strcmp(k, "ok"))
			continue;
		if (json_is_string(v))
			printf("%s: %s\n", k, json_string_value(v));
		else if (json_is_array(v) && !json_array_size(v))
			continue;
		else {
			char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
			printf("%s: %s\n", k, t ? t : "?");
			free(t);
		}
	}
}

static void print_status(json_t *o)
{
	const char *k;
	json_t *v;
	printf("sscardd %s, pid %lld, up %lld s, config %s\n", str(o, "version"),
	       (long long)json_integer_value(json_object_get(o, "pid")),
	       (long long)json_integer_value(json_object_get(o, "uptime_s")), str(o, "config"));
	print_readers(o);
	printf("reads: %lld ok", (long long)json_integer_value(json_object_get(o, "reads_ok")));
	json_object_foreach(json_object_get(o, "errors"), k, v)
	{
		printf(", %s %lld", k, (long long)json_integer_value(v));
	}
	printf("\n");
	json_t *wd = json_object_get(o, "watchdog");
	printf("watchdog: %s%s; log level %s; trace %s; %lld client(s)\n",
	       json_is_true(json_object_get(wd, "enabled")) ? "on" : "off",
	       json_is_true(json_object_get(wd, "healthy")) ? ", healthy" : ", UNHEALTHY",
	       str(o, "log_level"), json_is_true(json_object_get(o, "trace")) ? "on" : "off",
	       (long long)json_integer_value(json_object_get(o, "clients")));
	json_t *ll = json_object_get(o, "loss_list");
	if (json_object_get(ll, "error"))
		printf("loss list: %s\n", str(ll, "message"));
	else if (json_is_object(ll))
		printf("loss list: version %lld, %lld entries, %s%s\n",
		       (long long)json_integer_value(json_object_get(ll, "version")),
		       (long long)json_integer_value(json_object_get(ll, "entries")),
		       json_is_integer(json_object_get(ll, "age_s")) ? "published" : "never received",
		       json_is_true(json_object_get(ll, "stale"))
			       ? json_is_true(json_object_get(ll, "clock_wrong")) ? " — STALE (this terminal's clock is wrong)"
										  : " — STALE"
			       : "");
	json_t *ui = json_object_get(o, "ui");
	if (json_is_object(ui) && !strcmp(str(ui, "state"), "serving"))
		printf("kiosk page: http://%s/, %lld screen(s) showing it, %lld counter stream(s)\n",
		       str(ui, "listen"), (long long)json_integer_value(json_object_get(ui, "screens")),
		       (long long)json_integer_value(json_object_get(ui, "counter_streams")));
	else if (json_is_object(ui))
		printf("kiosk page: %s\n", str(ui, "state"));
	json_t *cc = json_object_get(o, "client_certificate");
	if (json_is_object(cc) && json_is_true(json_object_get(cc, "ok")))
		printf("client certificate: %s, expires %s (%lld days)%s\n", str(cc, "subject"), str(cc, "expires"),
		       (long long)json_integer_value(json_object_get(cc, "days_left")),
		       json_is_true(json_object_get(cc, "renew")) ? " — RENEW IT" : "");
	else if (json_is_object(cc))
		printf("client certificate: %s\n", str(cc, "error"));
	json_t *pr = json_object_get(o, "printer");
	if (json_is_object(pr))
		printf("receipt printer: %s %s%s%s\n", str(pr, "queue"), str(pr, "state"),
		       *str(pr, "message") ? ": " : "", str(pr, "message"));
	json_t *ic = json_object_get(o, "idcard");
	if (json_is_object(ic) && strcmp(str(ic, "state"), "off"))
		printf("ID card reader: %s %s (%lld bit/s)%s; %lld read(s), %lld card(s), %lld failure(s)%s%s\n",
		       str(ic, "device"), str(ic, "state"),
		       (long long)json_integer_value(json_object_get(ic, "baud")),
		       json_is_true(json_object_get(ic, "card")) ? ", a card on it" : "",
		       (long long)json_integer_value(json_object_get(ic, "reads")),
		       (long long)json_integer_value(json_object_get(ic, "cards")),
		       (long long)json_integer_value(json_object_get(ic, "failures")),
		       *str(ic, "last_error") ? "; last: " : "", str(ic, "last_error"));
	json_t *le = json_object_get(o, "last_event");
	if (json_is_object(le)) {
		printf("last event: ");
		print_event(le);
	}
}

static void print_sync(const char *what, json_t *r)
{
	if (!json_is_object(r)) {
		printf("%s: none since the daemon started\n", what);
		return;
	}
	printf("%s: %s — %s (%lld s ago, %.2f s)\n", what, str(r, "result"), str(r, "message"),
	       (long long)json_integer_value(json_object_get(r, "ago_s")),
	       json_real_value(json_object_get(r, "seconds")));
}

static void print_outbox(json_t *o)
{
	size_t i;
	json_t *it;
	printf("outbox: %lld pending, %lld failed, %lld delivered", (long long)json_integer_value(json_object_get(o, "pending")),
	       (long long)json_integer_value(json_object_get(o, "failed")),
	       (long long)json_integer_value(json_object_get(o, "delivered")));
	if (json_is_integer(json_object_get(o, "oldest_pending_s")))
		printf("; oldest pending %lld s", (long long)json_integer_value(json_object_get(o, "oldest_pending_s")));
	printf("\n");
	json_array_foreach(json_object_get(o, "items"), i, it)
	{
		printf("  #%lld %s %-11s %s %-7s age %lld s, %lld attempt(s)%s%s\n",
		       (long long)json_integer_value(json_object_get(it, "id")), str(it, "reference"),
		       str(it, "type"), str(it, "card"), str(it, "state"),
		       (long long)json_integer_value(json_object_get(it, "age_s")),
		       (long long)json_integer_value(json_object_get(it, "attempts")),
		       *str(it, "last_error") ? ": " : "", str(it, "last_error"));
	}
}

static void print_list(json_t *o)
{
	json_t *age = json_object_get(o, "age_s");
	printf("loss list: version %lld, %lld entries", (long long)json_integer_value(json_object_get(o, "version")),
	       (long long)json_integer_value(json_object_get(o, "entries")));
	bool clock_wrong = json_is_true(json_object_get(o, "clock_wrong"));
	if (json_is_integer(age))
		printf(", signed %lld s ago", (long long)json_integer_value(age));
	else if (json_integer_value(json_object_get(o, "version")))
		printf(", age unknown");
	else
		printf(", never received");
	printf("%s\n", json_is_true(json_object_get(o, "stale")) ? " — STALE: a recent loss may be missing" : "");
	if (clock_wrong || json_is_true(json_object_get(o, "stale")))
		printf("%s\n", str(o, "message"));
	json_t *clk = json_object_get(o, "clock");
	if (json_is_object(clk))
		printf("clock: %+lld s off the central's (measured %lld s ago)%s\n",
		       (long long)json_integer_value(json_object_get(clk, "offset_s")),
		       (long long)json_integer_value(json_object_get(clk, "measured_s_ago")),
		       clock_wrong ? " — WRONG: set it (NTP)" : "");
	printf("source: %s\n", json_is_string(json_object_get(o, "source")) ? str(o, "source")
									 : "none configured ([upstream] list_url, public_key)");
	print_sync("last sync", json_object_get(o, "last_sync"));
	json_t *next = json_object_get(o, "next_sync_in_s");
	if (json_is_integer(next))
		printf("next sync in %lld s\n", (long long)json_integer_value(next));
}

/* One line from fd 0, echo off when it is a terminal; its end cut. */
static int read_secret_line(const char *prompt, char *out, size_t cap)
{
	struct termios old, quiet;
	bool tty = isatty(0) && tcgetattr(0, &old) == 0;
	if (tty) {
		fprintf(stderr, "%s", prompt);
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(0, TCSAFLUSH, &quiet);
	}
	size_t n = 0;
	int c;
	while ((c = getchar()) != EOF && c != '\n')
		if (n + 1 < cap)
			out[n++] = (char)c;
	out[n] = 0;
	if (tty) {
		tcsetattr(0, TCSAFLUSH, &old);
		fputc('\n', stderr);
	}
	return c == EOF && !n ? -1 : 0;
}

/* The new PIN for pin reload: twice at a terminal, once from a pipe. */
static int ask_new_pin(char pin[16])
{
	char again[16];
	int rv = read_secret_line("New PIN (4 to 8 digits): ", pin, 16);
	size_t n = strlen(pin);
	if (rv < 0 || n < 4 || n > 8 || strspn(pin, "0123456789") != n) {
		fprintf(stderr, "sscardctl: the new PIN must be 4 to 8 digits\n");
		explicit_bzero(pin, 16);
		return -1;
	}
	if (isatty(0)) {
		read_secret_line("Again: ", again, sizeof again);
		bool same = !strcmp(pin, again);
		explicit_bzero(again, sizeof again);
		if (!same) {
			fprintf(stderr, "sscardctl: the two PINs differ; nothing was changed\n");
			explicit_bzero(pin, 16);
			return -1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {{"socket", 1, 0, 's'}, {"json", 0, 0, 'j'},
					   {"reveal", 0, 0, 'R'}, {"timeout", 1, 0, 't'},
					   {"help", 0, 0, 'h'},   {0, 0, 0, 0}};
	const char *path = getenv("SSCARD_SOCKET");
	int timeout_s = 0, c, fd;
	char req[1024] = "", buf[1 << 20], *line;
	size_t have = 0;

	signal(SIGPIPE, SIG_IGN); /* a daemon that hangs up is reported, not fatal */
	while ((c = getopt_long(argc, argv, "+s:jt:h", lo, NULL)) != -1) {
		switch (c) {
		case 's': path = optarg; break;
		case 'j': opt_json = true; break;
		case 'R': opt_reveal = true; break;
		case 't': timeout_s = atoi(optarg); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind == argc || timeout_s < 0) {
		usage(stderr);
		return 2;
	}
	/* pin reload [READER]: the new PIN is asked for, never an argument
	 * (a command line is seen by every user in ps) */
	bool reload = argc - optind >= 2 && !strcmp(argv[optind], "pin") && !strcmp(argv[optind + 1], "reload");
	if (reload) {
		char pin[16];
		if (ask_new_pin(pin) < 0)
			return 2;
		snprintf(req, sizeof req, "pin reload %s", pin);
		explicit_bzero(pin, sizeof pin);
		optind += 2;
	}
	for (int i = optind; i < argc; i++) {
		if (strlen(req) + strlen(argv[i]) + 2 >= sizeof req || strpbrk(argv[i], "\r\n")) {
			fprintf(stderr, "sscardctl: argument too long or with a line break\n");
			return 2;
		}
		if (i > optind || reload)
			strcat(req, " ");
		strcat(req, argv[i]);
	}
	struct request rq;
	char err[512];
	if (request_parse(req, &rq, err, sizeof err) < 0) {
		fprintf(stderr, "sscardctl: %s\n", *err ? err : "no verb");
		usage(stderr);
		return 2;
	}
	strcat(req, "\n");
	explicit_bzero(rq.pin, sizeof rq.pin);
	if (!timeout_s) /* a person types up to three PINs on a pad, 30 s each */
		timeout_s = rq.verb == REQ_PINPAD_VERIFY || rq.verb == REQ_PINPAD_CHANGE ? 100 : 30;
	if (!path || !*path)
		path = DEFAULT_SOCKET;
	if ((fd = dial(path)) < 0)
		return EX_UNREACHABLE;
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req)) {
		fprintf(stderr, "sscardctl: cannot send to sscardd: %s\n", strerror(errno));
		return EX_UNREACHABLE;
	}
	explicit_bzero(req, sizeof req); /* it may hold a new PIN */
	bool stream = rq.verb == REQ_EVENTS || rq.verb == REQ_TRACE_ON;
	int rc = 0;
	for (;;) {
		int r = read_line(fd, buf, sizeof buf, &have, &line, stream ? -1 : timeout_s * 1000);
		if (r <= 0) {
			if (stream && r == 0)
				break;
			fprintf(stderr, "sscardctl: %s\n",
				r == 0 ? "sscardd closed the connection without an answer"
				       : "sscardd did not answer in time");
			rc = EX_UNREACHABLE;
			break;
		}
		json_error_t je;
		json_t *o = json_loads(line, 0, &je);
		size_t used = strlen(line) + 1;
		if (!o) {
			fprintf(stderr, "sscardctl: sscardd sent something that is not JSON: %s\n", je.text);
			rc = EX_UNREACHABLE;
			break;
		}
		if (opt_json)
			printf("%s\n", line), fflush(stdout);
		if (json_is_false(json_object_get(o, "ok"))) {
			fprintf(stderr, "sscardctl: %s (%s)\n", str(o, "message"), str(o, "error"));
			rc = 1;
		} else if (!opt_json) {
			if (rq.verb == REQ_READ)
				print_card(o);
			else if (rq.verb == REQ_IDCARD)
				print_idcard(o);
			else if (rq.verb == REQ_READERS)
				print_readers(o);
			else if (rq.verb == REQ_STATUS)
				print_status(o);
			else if (rq.verb == REQ_LIST_INFO)
				print_list(o);
			else if (rq.verb == REQ_OUTBOX)
				print_outbox(o);
			else if (json_object_get(o, "event"))
				print_event(o);
			else
				print_reply(o);
		}
		json_decref(o);
		memmove(buf, buf + used, have - used);
		have -= used;
		if (!stream || rc)
			break;
	}
	close(fd);
	return rc;
}
