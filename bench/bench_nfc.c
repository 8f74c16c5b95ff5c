/* bench-nfc — contactless reading, measured side by side in one run.
 *
 *   bench-nfc read SOCKET READER CONNSTRING ROUNDS
 *     sscardd's `read` of the card on its NFC reader (through the helper
 *     process) against a bare libnfc program sending the minimal APDU
 *     script to an identical emulator at CONNSTRING, the card selected
 *     once beforehand as the daemon's is; interleaved A/B.
 *
 *   bench-nfc removal SOCKET READER EMULATOR_PID N
 *     N times: wait a random 0–250 ms, take the card off the emulator's
 *     field (SIGUSR1), time until sscardd's card_removed event; put it
 *     back (SIGUSR2) and wait for the card to be read again. */
#include <jansson.h>
#include <nfc/nfc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "apdu/apdu.h"
#include "bench/bench.h"

struct nfc_bare {
	nfc_device *dev;
};

static double bare_read(void *arg)
{
	struct nfc_bare *b = arg;
	uint8_t cmd[64], rsp[258];
	double t0 = now_ms();
	for (size_t i = 0; i < BENCH_N_SCRIPT; i++) {
		long n = hex_decode(BENCH_SCRIPT[i], cmd, sizeof cmd);
		int k = nfc_initiator_transceive_bytes(b->dev, cmd, (size_t)n, rsp, sizeof rsp, 3000);
		if (k < 2 || rsp[k - 2] != 0x90)
			return -1;
	}
	return now_ms() - t0;
}

static int bench_read(char **argv)
{
	static const nfc_modulation mod = {NMT_ISO14443A, NBR_106};
	nfc_context *ctx;
	nfc_target t;
	struct nfc_bare b;
	nfc_init(&ctx);
	if (!ctx || !(b.dev = nfc_open(ctx, argv[2])) || nfc_initiator_init(b.dev) < 0 ||
	    nfc_initiator_select_passive_target(b.dev, mod, NULL, 0, &t) < 1) {
		fprintf(stderr, "bench-nfc: no card on %s\n", argv[2]);
		return 1;
	}
	int fd = dial(argv[0]);
	int rc = bench_ab(bare_read, &b, "bare libnfc script", BENCH_N_SCRIPT, fd, argv[1],
			  atoi(argv[3]));
	close(fd);
	nfc_close(b.dev);
	nfc_exit(ctx);
	return rc;
}

static const char *str(json_t *j, const char *key)
{
	const char *v = json_string_value(json_object_get(j, key));
	return v ? v : "";
}

/* The next event named name for reader from the events stream. */
static bool wait_event(FILE *f, const char *name, const char *reader)
{
	char line[16384];
	while (fgets(line, sizeof line, f)) {
		json_t *j = json_loads(line, 0, NULL);
		bool hit = j && !strcmp(str(j, "event"), name) && !strcmp(str(j, "reader"), reader);
		json_decref(j);
		if (hit)
			return true;
	}
	return false;
}

static int bench_removal(char **argv)
{
	pid_t emu = (pid_t)atol(argv[2]);
	int n = atoi(argv[3]);
	double *lat = calloc((size_t)n, sizeof *lat);
	int fd = dial(argv[0]);
	FILE *f = fdopen(fd, "r+");
	if (!lat || !f || n < 5 || fputs("events\n", f) < 0 || fflush(f))
		return 1;
	srand((unsigned)getpid());
	for (int i = 0; i < n; i++) {
		usleep((useconds_t)(rand() % 250000));
		double t0 = now_ms();
		kill(emu, SIGUSR1);
		if (!wait_event(f, "card_removed", argv[1]))
			return 1;
		lat[i] = now_ms() - t0;
		kill(emu, SIGUSR2);
		if (!wait_event(f, "card_read", argv[1]))
			return 1;
	}
	qsort(lat, (size_t)n, sizeof *lat, cmp);
	printf("  card taken off the field → card_removed: median %.0f ms, p90 %.0f ms, max %.0f ms"
	       " (%d removals; presence checked every 100 ms)\n",
	       lat[n / 2], lat[n * 9 / 10], lat[n - 1], n);
	fclose(f);
	free(lat);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 6 && !strcmp(argv[1], "read"))
		return bench_read(argv + 2);
	if (argc == 6 && !strcmp(argv[1], "removal"))
		return bench_removal(argv + 2);
	fprintf(stderr, "usage: bench-nfc read SOCKET READER CONNSTRING ROUNDS\n"
			"       bench-nfc removal SOCKET READER EMULATOR_PID N\n");
	return 2;
}
