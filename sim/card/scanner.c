/* sscard-scanner — a QR code scanner in serial mode (USB-CDC) on a
 * pseudo-terminal: what it "scans" it sends as text ending with CR. Test
 * rig and demo part, not product code.
 *
 * The pty's slave path is printed on stdout and, with --link PATH, made a
 * symlink at PATH (kill it and start another with the same link: "the
 * scanner was unplugged and came back"). Lines on stdin steer it, each
 * answered "ok" on stdout once its bytes are sent:
 *
 *   code TEXT     scan TEXT: TEXT and CR
 *   crlf TEXT     TEXT, CR and LF (scanners set to end lines so)
 *   raw HEX       these bytes exactly (control bytes, half codes, junk)
 *   overlong N    N letters and CR (more than the daemon takes)
 *   slow TEXT MS  TEXT one byte every MS, then CR (a slow serial line)
 *
 * --log FILE appends "scan SECONDS.MICROS" (CLOCK_REALTIME) when a code's
 * last byte has been sent: the moment of the scan for the latency bench. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sim/card/pty.h"

static volatile sig_atomic_t stop;
static int master = -1;
static const char *log_path;

static void on_signal(int sig)
{
	if (sig == SIGTERM || sig == SIGINT)
		stop = 1;
}

static void logged(void)
{
	struct timespec ts;
	FILE *f;
	if (!log_path || !(f = fopen(log_path, "a")))
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	fprintf(f, "scan %lld.%06ld\n", (long long)ts.tv_sec, ts.tv_nsec / 1000);
	fclose(f);
}

static void send_text(const char *t, const char *end)
{
	sim_pty_put(master, (const uint8_t *)t, strlen(t));
	sim_pty_put(master, (const uint8_t *)end, strlen(end));
	logged();
}

static void steer(char *line)
{
	char *arg = strchr(line, ' ');
	if (arg)
		*arg++ = 0;
	if (!strcmp(line, "code") && arg)
		send_text(arg, "\r");
	else if (!strcmp(line, "crlf") && arg)
		send_text(arg, "\r\n");
	else if (!strcmp(line, "raw") && arg) {
		uint8_t b[1024];
		size_t n = 0;
		for (char *p = arg; p[0] && p[1] && n < sizeof b; p += 2) {
			unsigned v;
			if (sscanf(p, "%2x", &v) != 1)
				break;
			b[n++] = (uint8_t)v;
		}
		sim_pty_put(master, b, n);
	} else if (!strcmp(line, "overlong") && arg) {
		long n = atol(arg);
		for (long i = 0; i < n; i++)
			sim_pty_put(master, (const uint8_t *)"A", 1);
		sim_pty_put(master, (const uint8_t *)"\r", 1);
	} else if (!strcmp(line, "slow") && arg) {
		char *ms = strrchr(arg, ' ');
		long wait = ms ? atol(ms + 1) : 0;
		if (ms)
			*ms = 0;
		for (char *p = arg; *p; p++) {
			sim_pty_put(master, (const uint8_t *)p, 1);
			usleep((useconds_t)wait * 1000);
		}
		send_text("", "\r");
	} else {
		printf("error: unknown command '%s'\n", line);
		fflush(stdout);
		return;
	}
	printf("ok\n");
	fflush(stdout);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {{"link", 1, 0, 'l'}, {"log", 1, 0, 'L'}, {0, 0, 0, 0}};
	const char *link = NULL;
	int c, slave;
	while ((c = getopt_long(argc, argv, "l:", lo, NULL)) != -1) {
		if (c == 'l')
			link = optarg;
		else if (c == 'L')
			log_path = optarg;
		else {
			fprintf(stderr, "usage: sscard-scanner [--link PATH] [--log FILE] (commands on stdin)\n");
			return 2;
		}
	}
	if ((master = sim_pty_start("sscard-scanner", link, on_signal, &slave)) < 0)
		return 1;
	char line[2048];
	size_t len = 0;
	while (!stop) {
		struct pollfd p[2] = {{.fd = 0, .events = POLLIN}, {.fd = master, .events = POLLIN}};
		if (poll(p, 2, 200) <= 0)
			continue;
		if (p[1].revents) { /* nothing is ever asked of a scanner: drain */
			uint8_t junk[256];
			if (read(master, junk, sizeof junk) < 0 && errno == EIO)
				usleep(10000);
		}
		if (!p[0].revents)
			continue;
		if (!sim_take_lines(0, line, sizeof line, &len, steer))
			break; /* stdin closed: unplugged */
	}
	close(slave);
	close(master);
	return 0;
}
