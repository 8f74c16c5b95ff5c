/* sscard-vcard — a social security card emulator for the vpcd reader
 * driver (vsmartcard). It is a TCP client of vpcd: connected = card
 * inserted, socket closed = card removed. Wire format both ways: 2-byte
 * big-endian length + payload; a 1-byte payload from vpcd is a control
 * (00 power off, 01 power on, 02 reset, 04 get ATR — only 04 is answered).
 *
 * Card behaviour comes from a profile file (see sim/profiles/README);
 * faults from options. Test rig and demo part, not product code. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <iconv.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "apdu/apdu.h"
#include "sim/card/cardsim.h"

static struct {
	const char *host;
	int port;
	long remove_after, mute_after, bounce_after;
	long cycles, cycle_apdus;     /* soak: N insertions, pulled after K APDUs each */
	long delay_ms, baud;
	bool once, verbose;
} opt = {.host = "127.0.0.1", .port = 35963, .remove_after = -1, .mute_after = -1,
	 .bounce_after = -1};

static volatile sig_atomic_t stop;

static void on_signal(int s)
{
	(void)s;
	stop = 1;
}

/* ---- vpcd link ---------------------------------------------------------- */

static void sleep_us(long us)
{
	struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
	while (nanosleep(&ts, &ts) && errno == EINTR && !stop)
		;
}

static bool recv_all(int fd, uint8_t *b, size_t n)
{
	while (n) {
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
		ssize_t k = recv(fd, b, n, 0);
		if (k <= 0) {
			if (k < 0 && errno == EINTR && !stop)
				continue;
			return false;
		}
		b += k;
		n -= (size_t)k;
	}
	return true;
}

static bool send_frame(int fd, const uint8_t *d, size_t n)
{
	uint8_t b[2 + APDU_RAW_MAX + 64];
	b[0] = (uint8_t)(n >> 8);
	b[1] = (uint8_t)n;
	memcpy(b + 2, d, n);
	return send(fd, b, n + 2, MSG_NOSIGNAL) == (ssize_t)(n + 2);
}

static int connect_vpcd(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port)};
	int fd, one = 1;
	if (inet_pton(AF_INET, opt.host, &sa.sin_addr) != 1)
		return -1;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa)) {
		close(fd);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

/* Serve one insertion. Returns true when the card was "removed" on purpose. */
static bool bounced;

static bool serve(int fd, struct profile *p, long *apdus)
{
	struct card c = {0};
	long served = 0;
	struct timespec t0, now;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	uint8_t hdr[2], cmd[APDU_CMD_MAX + 16], rsp[APDU_RSP_MAX + 2];
	while (!stop) {
		if (!recv_all(fd, hdr, 2))
			return false;
		size_t n = (size_t)hdr[0] << 8 | hdr[1];
		if (n > sizeof cmd)
			return false;
		if (!recv_all(fd, cmd, n))
			return false;
		if (n == 1) {
			/* soak: pcscd keeps asking for the ATR while nobody reads
			 * the card; after 3 s of that, pull it (a stalled cycle) */
			clock_gettime(CLOCK_MONOTONIC, &now);
			if (opt.cycles && now.tv_sec - t0.tv_sec > 3)
				return false;
			if (cmd[0] == 0x04 && !send_frame(fd, p->atr, p->atr_len))
				return false;
			if (cmd[0] == 0x00 || cmd[0] == 0x02)
				c = (struct card){0};
			continue;
		}
		if (opt.remove_after >= 0 && *apdus >= opt.remove_after)
			return true;
		if (opt.bounce_after >= 0 && *apdus >= opt.bounce_after) {
			opt.bounce_after = -1; /* once */
			bounced = true;
			return false; /* out and straight back in */
		}
		if (opt.mute_after >= 0 && *apdus >= opt.mute_after)
			continue; /* mute: swallow the command, never answer */
		(*apdus)++;
		size_t r = cardsim_process(p, &c, cmd, n, rsp);
		explicit_bzero(cmd, sizeof cmd);
		if (opt.delay_ms)
			sleep_us(opt.delay_ms * 1000);
		if (opt.baud)
			sleep_us((long)((n + r) * 10 * 1000000L / opt.baud));
		if (!send_frame(fd, rsp, r))
			return false;
		if (opt.cycles && ++served >= opt.cycle_apdus)
			return true; /* soak: the read is done, pull the card */
	}
	return false;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: sscard-vcard -p PROFILE [-H HOST] [-P PORT] [--remove-after N]\n"
		"                    [--mute-after N] [--delay-ms MS] [--baud BPS] [--once]\n"
		"                    [--cycles N --cycle-apdus K] [--bounce-after N] [--log FILE]\n"
		"  --bounce-after N  pull the card at the Nth APDU and push it back at once\n"
		"  --cycles N        soak: insert N times, pulling the card after K APDUs each time\n"
		"  --log FILE        a PSAM profile writes each derive and encrypt there\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"profile", 1, 0, 'p'},      {"host", 1, 0, 'H'},      {"port", 1, 0, 'P'},
		{"remove-after", 1, 0, 'r'}, {"mute-after", 1, 0, 'm'}, {"delay-ms", 1, 0, 'd'},
		{"baud", 1, 0, 'b'},         {"once", 0, 0, 'o'},       {"cycles", 1, 0, 'C'},
		{"cycle-apdus", 1, 0, 'K'},  {"bounce-after", 1, 0, 'B'}, {"log", 1, 0, 'L'},
		{0, 0, 0, 0}};
	struct profile p;
	const char *file = NULL, *log = NULL;
	long apdus = 0, stalled = 0;
	int c;

	while ((c = getopt_long(argc, argv, "p:H:P:", lo, NULL)) != -1) {
		switch (c) {
		case 'p': file = optarg; break;
		case 'H': opt.host = optarg; break;
		case 'P': opt.port = atoi(optarg); break;
		case 'r': opt.remove_after = atol(optarg); break;
		case 'm': opt.mute_after = atol(optarg); break;
		case 'd': opt.delay_ms = atol(optarg); break;
		case 'b': opt.baud = atol(optarg); break;
		case 'o': opt.once = true; break;
		case 'C': opt.cycles = atol(optarg); break;
		case 'K': opt.cycle_apdus = atol(optarg); break;
		case 'B': opt.bounce_after = atol(optarg); break;
		case 'L': log = optarg; break;
		default: usage();
		}
	}
	if (!file || optind != argc || (opt.cycles && opt.cycle_apdus <= 0))
		usage();
	cardsim_load(&p, file);
	if (log && !(p.log = fopen(log, "a"))) {
		fprintf(stderr, "sscard-vcard: cannot open %s\n", log);
		return 2;
	}
	/* No SA_RESTART: a blocking recv must return EINTR so that a mute
	 * card can still be pulled out (process ends, socket closes). */
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	/* Keep the card inserted: reconnect when vpcd goes away (pcscd restart). */
	while (!stop) {
		int fd = connect_vpcd();
		if (fd < 0) {
			sleep_us(50000);
			continue;
		}
		bool removed = serve(fd, &p, &apdus);
		close(fd);
		if (opt.cycles && !stop) {
			if (!removed)
				stalled++;
			if (--opt.cycles == 0)
				break;
			continue; /* the next insertion at once */
		}
		if (removed || opt.once)
			break;
		if (bounced) {
			bounced = false;
			continue; /* reinserted faster than pcscd polls */
		}
		sleep_us(50000);
	}
	explicit_bzero(p.pin, sizeof p.pin);
	if (stalled)
		fprintf(stderr, "sscard-vcard: port %d: %ld insertion(s) were never read\n", opt.port,
			stalled);
	return stalled ? 1 : 0;
}
