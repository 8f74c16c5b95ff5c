/* sscard-idreader — a resident ID card reader (shared/idcard-spec.md) on a
 * pseudo-terminal, with an ID card from a sim/profiles/ .idcard file on it. Test
 * rig and demo part, not product code.
 *
 * The pty's slave path is printed on stdout and, with --link PATH, made a
 * symlink at PATH (kill it and start another with the same link: "the
 * reader was unplugged and came back"). SIGUSR1 takes the card away,
 * SIGUSR2 puts it back. With --commands, lines on stdin steer it, each
 * answered "ok …" on stdout once it holds:
 *
 *   put FILE      put the ID card of FILE on the reader
 *   remove        take it away
 *   moved         the next read of the card fails (41) and the card is gone
 *   checksum N    the next N answers carry a wrong checksum
 *   garbage N     the next N answers come after junk bytes (a resync)
 *   junk N        the next N answers are junk without a preamble
 *   mute on|off   answer nothing
 *   delay MS      a read of the base information takes MS
 *
 * --log FILE appends "read SECONDS.MICROS" (CLOCK_REALTIME) each time a
 * card's text has been sent: the moment "the reader reports a card" for
 * the screen latency bench. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sim/card/pty.h"

#define TEXT_LEN 256
#define PHOTO_LEN 1024

struct idcard {
	bool loaded;
	uint8_t text[TEXT_LEN];
};

static struct {
	const char *link, *log;
	bool commands;
	long delay_ms;
} opt;

static struct idcard card;
static bool on_field, mute, moved;
static long bad_checksums, garbage, junk;
static int master = -1;
static volatile sig_atomic_t stop, field_change, want_card = 1;

static void on_signal(int s)
{
	if (s == SIGUSR1 || s == SIGUSR2) {
		want_card = s == SIGUSR2;
		field_change = 1;
		return;
	}
	stop = 1;
}

/* ---- the card's text --------------------------------------------------------- */

/* UTF-8 → UCS-2 LE into out (n bytes), space-padded; false if it does not fit. */
static bool ucs2(const char *s, uint8_t *out, size_t n)
{
	size_t o = 0;
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		unsigned cp;
		if (*p < 0x80)
			cp = *p++;
		else if ((*p & 0xE0) == 0xC0 && p[1])
			cp = (unsigned)(p[0] & 0x1F) << 6 | (p[1] & 0x3F), p += 2;
		else if ((*p & 0xF0) == 0xE0 && p[1] && p[2])
			cp = (unsigned)(p[0] & 0x0F) << 12 | (unsigned)(p[1] & 0x3F) << 6 | (p[2] & 0x3F),
			p += 3;
		else
			return false;
		if (o + 2 > n)
			return false;
		out[o++] = (uint8_t)cp;
		out[o++] = (uint8_t)(cp >> 8);
	}
	for (; o + 1 < n; o += 2)
		out[o] = ' ', out[o + 1] = 0;
	return true;
}

static const struct {
	const char *key;
	size_t off, len;
} FIELDS[] = {
	{"name", 0, 30},       {"sex", 30, 2},         {"nation", 32, 4},     {"birth", 36, 16},
	{"address", 52, 70},   {"id", 122, 36},        {"authority", 158, 30}, {"from", 188, 16},
	{"until", 204, 16},
};

static bool load(const char *file, struct idcard *c, char *why, size_t wl)
{
	FILE *f = fopen(file, "r");
	char line[300];
	if (!f)
		return snprintf(why, wl, "%s: %s", file, strerror(errno)), false;
	memset(c, 0, sizeof *c);
	ucs2("", c->text, TEXT_LEN);
	int n = 0;
	while (fgets(line, sizeof line, f)) {
		n++;
		line[strcspn(line, "\r\n")] = 0;
		if (!*line || *line == '#')
			continue;
		char *v = strchr(line, ' ');
		if (!v)
			return fclose(f), snprintf(why, wl, "%s:%d: key value", file, n), false;
		*v++ = 0;
		bool known = false;
		for (size_t i = 0; i < sizeof FIELDS / sizeof FIELDS[0]; i++)
			if (!strcmp(line, FIELDS[i].key)) {
				known = true;
				if (!ucs2(v, c->text + FIELDS[i].off, FIELDS[i].len))
					return fclose(f), snprintf(why, wl, "%s:%d: %.40s too long", file, n, line),
					       false;
			}
		if (!strcmp(line, "kind")) {
			known = true;
			c->text[254] = !strcmp(v, "foreign_permanent") ? 'I'
				     : !strcmp(v, "hk_mo_tw_permit")   ? 'J'
									 : ' ';
		}
		if (!known)
			return fclose(f), snprintf(why, wl, "%s:%d: unknown key %.40s", file, n, line), false;
	}
	fclose(f);
	c->loaded = true;
	return true;
}

/* ---- the line ------------------------------------------------------------------ */

static void put(const uint8_t *b, size_t n)
{
	sim_pty_put(master, b, n);
}

static void answer(uint8_t sw3, const uint8_t *data, size_t n)
{
	static uint8_t f[8 + 3 + 4 + TEXT_LEN + PHOTO_LEN + 1 + 16];
	size_t o = 0, len = 3 + n + 1;
	if (junk > 0) {
		junk--;
		static const uint8_t j[] = {0x13, 0x37, 0xAA, 0x96, 0x00, 0xFF, 0x42};
		put(j, sizeof j);
		return;
	}
	if (garbage > 0) {
		garbage--;
		static const uint8_t g[] = {0x00, 0x55, 0xAA, 0xAA, 0x12, 0x96};
		memcpy(f, g, sizeof g);
		o = sizeof g;
	}
	size_t start = o;
	f[o++] = 0xAA, f[o++] = 0xAA, f[o++] = 0xAA, f[o++] = 0x96, f[o++] = 0x69;
	f[o++] = (uint8_t)(len >> 8);
	f[o++] = (uint8_t)len;
	f[o++] = 0, f[o++] = 0, f[o++] = sw3;
	if (n) /* data is NULL when there is none */
		memcpy(f + o, data, n);
	o += n;
	uint8_t chk = 0;
	for (size_t i = start + 5; i < o; i++)
		chk ^= f[i];
	if (bad_checksums > 0) {
		bad_checksums--;
		chk ^= 0x5A;
	}
	f[o++] = chk;
	put(f, o);
}

static void log_read(void)
{
	if (!opt.log)
		return;
	FILE *f = fopen(opt.log, "a");
	if (!f)
		return;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	fprintf(f, "read %lld.%06ld\n", (long long)ts.tv_sec, ts.tv_nsec / 1000);
	fclose(f);
}

static void command(uint8_t cmd, uint8_t para)
{
	static const uint8_t sam_id[16] = {0x05, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06,
					   0x07, 0x08, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E};
	bool there = on_field && card.loaded;
	if (mute)
		return;
	switch (cmd << 8 | para) {
	case 0x12FF: answer(0x90, sam_id, sizeof sam_id); break;
	case 0x11FF:
	case 0x10FF: answer(0x90, NULL, 0); break;
	case 0x2001: {
		static const uint8_t d[4] = {0, 0, 0, 0};
		if (there)
			answer(0x9F, d, 4);
		else
			answer(0x80, NULL, 0);
		break;
	}
	case 0x2002: {
		static const uint8_t d[8] = {0};
		answer(there ? 0x90 : 0x81, d, there ? 8 : 0);
		break;
	}
	case 0x3001: {
		if (!there) {
			answer(0x41, NULL, 0);
			break;
		}
		if (moved) { /* taken away while the reader was reading it */
			moved = false;
			on_field = false;
			answer(0x41, NULL, 0);
			break;
		}
		if (opt.delay_ms > 0)
			usleep((useconds_t)opt.delay_ms * 1000);
		static uint8_t d[4 + TEXT_LEN + PHOTO_LEN];
		d[0] = TEXT_LEN >> 8, d[1] = TEXT_LEN & 0xFF;
		d[2] = PHOTO_LEN >> 8, d[3] = PHOTO_LEN & 0xFF;
		memcpy(d + 4, card.text, TEXT_LEN);
		for (size_t i = 0; i < PHOTO_LEN; i++) /* not a real WLT photo: only its size */
			d[4 + TEXT_LEN + i] = (uint8_t)(i * 7);
		answer(0x90, d, sizeof d);
		log_read();
		break;
	}
	case 0x3003: answer(0x91, NULL, 0); break;
	default: answer(0x21, NULL, 0); break;
	}
}

/* Frames from the host: AA AA AA 96 69 LEN(2) CMD PARA DATA… CHK. */
static uint8_t in[4096];
static size_t in_len;

static bool frame(void)
{
	size_t i = 0;
	while (i + 5 <= in_len && memcmp(in + i, "\xAA\xAA\xAA\x96\x69", 5))
		i++;
	if (i) {
		memmove(in, in + i, in_len - i);
		in_len -= i;
	}
	if (in_len < 7)
		return false;
	size_t len = (size_t)in[5] << 8 | in[6];
	if (len < 3 || len > 512) { /* not a frame of ours: skip this preamble */
		memmove(in, in + 1, --in_len);
		return true;
	}
	if (in_len < 7 + len)
		return false;
	uint8_t chk = 0;
	for (size_t k = 5; k < 7 + len - 1; k++)
		chk ^= in[k];
	uint8_t cmd = in[7], para = in[8];
	bool ok = chk == in[7 + len - 1];
	memmove(in, in + 7 + len, in_len - 7 - len);
	in_len -= 7 + len;
	if (!ok)
		answer(0x10, NULL, 0);
	else
		command(cmd, para);
	return true;
}

/* ---- steering -------------------------------------------------------------------- */

static void steer(char *line)
{
	char why[400] = "";
	line[strcspn(line, "\r\n")] = 0;
	char *arg = strchr(line, ' ');
	if (arg)
		*arg++ = 0;
	if (!strcmp(line, "put") && arg) {
		struct idcard c;
		if (load(arg, &c, why, sizeof why)) {
			card = c;
			on_field = true;
		}
	} else if (!strcmp(line, "remove"))
		on_field = false;
	else if (!strcmp(line, "moved"))
		moved = true;
	else if (!strcmp(line, "checksum") && arg)
		bad_checksums = atol(arg);
	else if (!strcmp(line, "garbage") && arg)
		garbage = atol(arg);
	else if (!strcmp(line, "junk") && arg)
		junk = atol(arg);
	else if (!strcmp(line, "mute") && arg)
		mute = !strcmp(arg, "on");
	else if (!strcmp(line, "delay") && arg)
		opt.delay_ms = atol(arg);
	else
		snprintf(why, sizeof why, "unknown command");
	printf("%s %s%s%s\n", *why ? "error" : "ok", line, *why ? ": " : "", why);
	fflush(stdout);
}

static void usage(void)
{
	fprintf(stderr, "usage: sscard-idreader [-p PROFILE.idcard] [--link PATH] [--no-card] [--commands]\n"
			"                      [--delay-ms MS] [--log FILE]\n"
			"  SIGUSR1 takes the card away, SIGUSR2 puts it back; --commands: see the source.\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {{"profile", 1, 0, 'p'},  {"link", 1, 0, 'l'},
					   {"no-card", 0, 0, 'n'},  {"commands", 0, 0, 'c'},
					   {"delay-ms", 1, 0, 'd'}, {"log", 1, 0, 'L'},
					   {0, 0, 0, 0}};
	const char *file = NULL;
	char why[400];
	int c, slave;
	while ((c = getopt_long(argc, argv, "p:l:", lo, NULL)) != -1) {
		switch (c) {
		case 'p': file = optarg; break;
		case 'l': opt.link = optarg; break;
		case 'n': want_card = 0; break;
		case 'c': opt.commands = true; break;
		case 'd': opt.delay_ms = atol(optarg); break;
		case 'L': opt.log = optarg; break;
		default: usage();
		}
	}
	if (optind != argc)
		usage();
	if (file && !load(file, &card, why, sizeof why)) {
		fprintf(stderr, "sscard-idreader: %s\n", why);
		return 1;
	}
	on_field = want_card && card.loaded;
	if ((master = sim_pty_start("sscard-idreader", opt.link, on_signal, &slave)) < 0)
		return 1;
	char cmdline[600];
	size_t cmd_len = 0;
	while (!stop) {
		if (field_change) {
			field_change = 0;
			on_field = want_card && card.loaded;
		}
		struct pollfd p[2] = {{.fd = master, .events = POLLIN}, {.fd = 0, .events = POLLIN}};
		int r = poll(p, opt.commands ? 2 : 1, 100);
		if (r <= 0)
			continue;
		if (opt.commands && p[1].revents) {
			if (!sim_take_lines(0, cmdline, sizeof cmdline, &cmd_len, steer))
				opt.commands = false; /* stdin closed: go on as we are */
		}
		if (p[0].revents)
			sim_pty_take(master, in, &in_len, sizeof in, frame);
	}
	close(slave);
	close(master);
	if (opt.link)
		unlink(opt.link);
	return 0;
}
