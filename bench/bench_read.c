/* bench-read — the full basic read through sscardd against a bare program
 * sending the minimal APDU sequence with SCardTransmit through the same
 * pcscd and card, interleaved A/B in one run so that machine noise hits
 * both alike. Prints APDU counts, medians, p90s and the time ratio.
 *
 * usage: bench-read SOCKET READER ROUNDS */
#include <PCSC/winscard.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "../apdu/apdu.h"

/* The minimal read of a spec-2.00 card: SELECT SSSE, 7 EF05 and 7 EF06
 * records by identifier via SFI, each with its exact Le. */
static const char *const SCRIPT[] = {
	"00A404000F7378312E73682EC9E7BBE1B1A3D5CF",
	"00B2012812", "00B2022803", "00B2032806", "00B204280E", "00B2052806", "00B2062806",
	"00B207280B", "00B2083014", "00B2093020", "00B24E3016", "00B20A3003", "00B20B3003",
	"00B20C3005", "00B20D3006",
};
#define N_SCRIPT (sizeof SCRIPT / sizeof SCRIPT[0])

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double bare_read(SCARDCONTEXT ctx, const char *reader)
{
	SCARDHANDLE h;
	DWORD proto;
	uint8_t cmd[64], rsp[258];
	double t0 = now_ms();
	if (SCardConnect(ctx, reader, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1, &h,
			 &proto) != SCARD_S_SUCCESS)
		return -1;
	const SCARD_IO_REQUEST *pci = proto == SCARD_PROTOCOL_T1 ? SCARD_PCI_T1 : SCARD_PCI_T0;
	for (size_t i = 0; i < N_SCRIPT; i++) {
		long n = hex_decode(SCRIPT[i], cmd, sizeof cmd);
		DWORD rl = sizeof rsp;
		if (SCardTransmit(h, pci, cmd, (DWORD)n, NULL, rsp, &rl) != SCARD_S_SUCCESS || rl < 2 ||
		    rsp[rl - 2] != 0x90) {
			SCardDisconnect(h, SCARD_LEAVE_CARD);
			return -1;
		}
	}
	SCardDisconnect(h, SCARD_LEAVE_CARD);
	return now_ms() - t0;
}

static int dial(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		perror("bench-read: connect to sscardd");
		exit(1);
	}
	return fd;
}

/* One `read` over a kept-open connection, as counter software would. */
static double daemon_read(int fd, const char *reader, long *apdus, double *card_ms)
{
	char req[256], buf[8192];
	size_t have = 0;
	snprintf(req, sizeof req, "read %s\n", reader);
	double t0 = now_ms();
	if (write(fd, req, strlen(req)) < 0)
		return -1;
	while (!memchr(buf, '\n', have)) {
		ssize_t n = read(fd, buf + have, sizeof buf - 1 - have);
		if (n <= 0)
			return -1;
		have += (size_t)n;
	}
	double t = now_ms() - t0;
	buf[have] = 0;
	json_t *j = json_loads(buf, JSON_DISABLE_EOF_CHECK, NULL);
	if (!j || !json_is_true(json_object_get(j, "ok"))) {
		fprintf(stderr, "bench-read: daemon read failed: %s\n", buf);
		json_decref(j);
		return -1;
	}
	*apdus = (long)json_integer_value(json_object_get(j, "apdus"));
	*card_ms = json_real_value(json_object_get(j, "elapsed_ms"));
	json_decref(j);
	return t;
}

int main(int argc, char **argv)
{
	SCARDCONTEXT ctx;
	long apdus = 0;
	if (argc != 4) {
		fprintf(stderr, "usage: bench-read SOCKET READER ROUNDS\n");
		return 2;
	}
	int rounds = atoi(argv[3]);
	double *a = calloc((size_t)rounds, sizeof *a), *b = calloc((size_t)rounds, sizeof *b);
	double *c = calloc((size_t)rounds + 3, sizeof *c);
	if (!a || !b || !c || rounds < 5 ||
	    SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &ctx) != SCARD_S_SUCCESS)
		return 1;
	int fd = dial(argv[1]);
	for (int i = 0; i < 3; i++) /* warm up both paths */
		if (bare_read(ctx, argv[2]) < 0 || daemon_read(fd, argv[2], &apdus, &c[0]) < 0)
			return 1;
	for (int i = 0; i < rounds; i++) {
		/* alternate which goes first, so neither always follows the other */
		if (i % 2) {
			a[i] = bare_read(ctx, argv[2]);
			b[i] = daemon_read(fd, argv[2], &apdus, &c[i]);
		} else {
			b[i] = daemon_read(fd, argv[2], &apdus, &c[i]);
			a[i] = bare_read(ctx, argv[2]);
		}
		if (a[i] < 0 || b[i] < 0)
			return 1;
	}
	qsort(a, (size_t)rounds, sizeof *a, cmp);
	qsort(b, (size_t)rounds, sizeof *b, cmp);
	qsort(c, (size_t)rounds, sizeof *c, cmp);
	double ma = a[rounds / 2], mb = b[rounds / 2];
	printf("  bare SCardTransmit script : %2zu APDUs, median %7.3f ms, p90 %7.3f ms\n", N_SCRIPT,
	       ma, a[rounds * 9 / 10]);
	printf("  sscardd `read`            : %2ld APDUs, median %7.3f ms, p90 %7.3f ms\n", apdus, mb,
	       b[rounds * 9 / 10]);
	printf("    of which at the card    :            median %7.3f ms (the worker's own clock)\n",
	       c[rounds / 2]);
	printf("  ratio sscardd / bare (median): %.3f   (target <= 1.05), %d rounds each\n", mb / ma,
	       rounds);
	SCardReleaseContext(ctx);
	close(fd);
	free(a);
	free(b);
	free(c);
	return 0;
}
