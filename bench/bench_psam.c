/* bench-psam — third-generation (3.00) cards through the terminal's PSAM.
 *
 *   bench-psam ab SOCKET READER SAM_READER ROUNDS
 *       a full 3.00 read through sscardd against a bare program sending
 *       the same APDUs with SCardTransmit through the same pcscd (the card:
 *       SELECT, EF05, GET CHALLENGE, EXTERNAL AUTHENTICATE, EF06; the PSAM,
 *       its session opened once as sscardd does: derive, encrypt, GET
 *       RESPONSE), interleaved A/B in one run
 *   bench-psam rate SOCKET SECONDS READER…
 *       reads per second through sscardd with one client per reader, all
 *       at once, every read of a 3.00 card asking the one PSAM
 *   bench-psam unblock SOCKET READER SAM_READER ROUNDS
 *       card-spec §10: a PIN unblock through sscardd (`pin unblock`) against
 *       a bare program sending the same APDUs (the card: SELECT and EF05's
 *       card id, GET CHALLENGE, UNBLOCK PIN; the PSAM: derive 46/0B, MAC,
 *       GET RESPONSE), interleaved A/B in one run */
#include <PCSC/winscard.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apdu/apdu.h"
#include "apdu/ssc.h"
#include "bench/bench.h"

struct bare {
	SCARDCONTEXT ctx;
	const char *reader;
	SCARDHANDLE sam;
	const SCARD_IO_REQUEST *sam_pci;
};

static long tx(SCARDHANDLE h, const SCARD_IO_REQUEST *pci, const uint8_t *cmd, size_t n,
	       uint8_t *rsp, DWORD *rl)
{
	*rl = 258;
	return SCardTransmit(h, pci, cmd, (DWORD)n, NULL, rsp, rl);
}

/* One hex command; false unless it ends in want (0x90 or 0x61). */
static bool hex_tx(SCARDHANDLE h, const SCARD_IO_REQUEST *pci, const char *hex, uint8_t want,
		   uint8_t *rsp, DWORD *rl)
{
	uint8_t cmd[64];
	long n = hex_decode(hex, cmd, sizeof cmd);
	return n > 0 && tx(h, pci, cmd, (size_t)n, rsp, rl) == SCARD_S_SUCCESS && *rl >= 2 &&
	       rsp[*rl - 2] == want;
}

/* The card in b's reader, shared as sscardd shares it; its protocol's PCI,
 * or NULL. */
static const SCARD_IO_REQUEST *connect_card(struct bare *b, SCARDHANDLE *h)
{
	DWORD proto;
	if (SCardConnect(b->ctx, b->reader, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1, h,
			 &proto) != SCARD_S_SUCCESS)
		return NULL;
	return proto == SCARD_PROTOCOL_T1 ? SCARD_PCI_T1 : SCARD_PCI_T0;
}

static double bare_read(void *arg)
{
	struct bare *b = arg;
	SCARDHANDLE h;
	DWORD rl;
	uint8_t rsp[258], id[16] = {0}, cmd[64], c[16];
	double t0 = now_ms();
	const SCARD_IO_REQUEST *pci = connect_card(b, &h);
	if (!pci)
		return -1;
	bool ok = true;
	for (size_t i = 0; i < 8 && ok; i++) { /* SELECT and EF05 */
		ok = hex_tx(h, pci, BENCH_SCRIPT[i], 0x90, rsp, &rl);
		if (ok && i == 1)
			memcpy(id, rsp + 2, 16); /* EF05 tag 01: the card id */
	}
	/* GET CHALLENGE; derive + encrypt at the PSAM; EXTERNAL AUTHENTICATE */
	ok = ok && hex_tx(h, pci, "0084000008", 0x90, rsp, &rl);
	if (ok) {
		uint8_t der[21] = {0x80, 0x1A, 0x45, 0x0A, 0x10}, enc[21] = {0x80, 0xFA, 0, 0, 0x10};
		memcpy(der + 5, id, 16);
		memcpy(enc + 5, rsp, 8);
		enc[13] = 0x80;
		ok = tx(b->sam, b->sam_pci, der, sizeof der, rsp, &rl) == SCARD_S_SUCCESS &&
		     rl == 2 && rsp[0] == 0x90 && tx(b->sam, b->sam_pci, enc, sizeof enc, rsp, &rl) ==
		     SCARD_S_SUCCESS && rl == 2 && rsp[0] == 0x61 &&
		     hex_tx(b->sam, b->sam_pci, "00C0000010", 0x90, rsp, &rl) && rl == 18;
		if (ok) {
			memcpy(c, rsp, 16);
			memcpy(cmd, "\x00\x82\x00\x0A\x10", 5);
			memcpy(cmd + 5, c, 16);
			ok = tx(h, pci, cmd, 21, rsp, &rl) == SCARD_S_SUCCESS && rl == 2 && rsp[0] == 0x90;
		}
	}
	for (size_t i = 8; i < BENCH_N_SCRIPT && ok; i++) /* EF06 */
		ok = hex_tx(h, pci, BENCH_SCRIPT[i], 0x90, rsp, &rl);
	SCardDisconnect(h, SCARD_LEAVE_CARD);
	return ok ? now_ms() - t0 : -1;
}

static int ab(const char *sock, const char *reader, const char *sam_reader, int rounds)
{
	struct bare b = {.reader = reader};
	DWORD proto, rl;
	uint8_t rsp[258];
	if (SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &b.ctx) != SCARD_S_SUCCESS ||
	    SCardConnect(b.ctx, sam_reader, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1,
			 &b.sam, &proto) != SCARD_S_SUCCESS) {
		fprintf(stderr, "bench-psam: no PSAM in '%s'\n", sam_reader);
		return 1;
	}
	b.sam_pci = proto == SCARD_PROTOCOL_T1 ? SCARD_PCI_T1 : SCARD_PCI_T0;
	/* the session, once, as sscardd opens it */
	if (!hex_tx(b.sam, b.sam_pci, "00A40000023F00", 0x90, rsp, &rl) ||
	    !hex_tx(b.sam, b.sam_pci, "00B0960006", 0x90, rsp, &rl) ||
	    !hex_tx(b.sam, b.sam_pci, "00A40000021001", 0x90, rsp, &rl)) {
		fprintf(stderr, "bench-psam: the PSAM did not open a session\n");
		return 1;
	}
	int fd = dial(sock);
	int rc = bench_ab(bare_read, &b, "bare script (+3 at the PSAM)", 17, fd, reader, rounds);
	SCardDisconnect(b.sam, SCARD_LEAVE_CARD);
	SCardReleaseContext(b.ctx);
	close(fd);
	return rc;
}

/* §10 bare: SELECT and EF05's card id (the read script's first two APDUs),
 * GET CHALLENGE, the PSAM's derive and MAC (+ GET RESPONSE), UNBLOCK PIN. */
static double bare_unblock(void *arg)
{
	struct bare *b = arg;
	SCARDHANDLE h;
	DWORD rl;
	uint8_t rsp[258], id[16] = {0}, m[SSC_PINKEY_CMD_MAX], in[SSC_PINKEY_MAC_IN_MAX], cmd[80];
	double t0 = now_ms();
	const SCARD_IO_REQUEST *pci = connect_card(b, &h);
	if (!pci)
		return -1;
	bool ok = true;
	for (size_t i = 0; i < 2 && ok; i++) {
		ok = hex_tx(h, pci, BENCH_SCRIPT[i], 0x90, rsp, &rl);
		if (ok && i == 1)
			memcpy(id, rsp + 2, 16); /* EF05 tag 01: the card id */
	}
	ok = ok && hex_tx(h, pci, "0084000008", 0x90, rsp, &rl);
	if (ok) {
		size_t n = ssc_pinkey_command(false, NULL, m), k = ssc_pinkey_mac_input(rsp, m, n, in);
		uint8_t der[21] = {0x80, 0x1A, 0x46, 0x0B, 0x10};
		memcpy(der + 5, id, 16);
		cmd[0] = 0x80, cmd[1] = 0xFA, cmd[2] = 0x05, cmd[3] = 0x00, cmd[4] = (uint8_t)k;
		memcpy(cmd + 5, in, k);
		ok = tx(b->sam, b->sam_pci, der, sizeof der, rsp, &rl) == SCARD_S_SUCCESS && rl == 2 &&
		     rsp[0] == 0x90 && tx(b->sam, b->sam_pci, cmd, 5 + k, rsp, &rl) == SCARD_S_SUCCESS &&
		     rl == 2 && rsp[0] == 0x61 && hex_tx(b->sam, b->sam_pci, "00C0000004", 0x90, rsp, &rl) &&
		     rl == 6;
		if (ok) {
			memcpy(cmd, m, n);
			memcpy(cmd + n, rsp, 4);
			ok = tx(h, pci, cmd, n + 4, rsp, &rl) == SCARD_S_SUCCESS && rl == 2 && rsp[0] == 0x90;
		}
	}
	SCardDisconnect(h, SCARD_LEAVE_CARD);
	return ok ? now_ms() - t0 : -1;
}

/* One `pin unblock READER` over a kept-open connection: ms, or -1. */
static double daemon_unblock(int fd, const char *reader)
{
	char req[300], buf[4096];
	size_t have = 0;
	snprintf(req, sizeof req, "pin unblock %s\n", reader);
	double t0 = now_ms();
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req))
		return -1;
	while (have < sizeof buf - 1) {
		ssize_t r = read(fd, buf + have, sizeof buf - 1 - have);
		if (r <= 0)
			return -1;
		have += (size_t)r;
		if (memchr(buf, '\n', have))
			break;
	}
	buf[have] = 0;
	return strstr(buf, "\"ok\":true") ? now_ms() - t0 : -1;
}

static int unblock_ab(const char *sock, const char *reader, const char *sam_reader, int rounds)
{
	struct bare b = {.reader = reader};
	DWORD proto, rl;
	uint8_t rsp[258];
	double *x = calloc((size_t)rounds, sizeof *x), *y = calloc((size_t)rounds, sizeof *y);
	int rc = 1, fd = -1;
	if (!x || !y || rounds < 5 ||
	    SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &b.ctx) != SCARD_S_SUCCESS ||
	    SCardConnect(b.ctx, sam_reader, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1,
			 &b.sam, &proto) != SCARD_S_SUCCESS) {
		fprintf(stderr, "bench-psam: no PSAM in '%s'\n", sam_reader);
		goto out;
	}
	b.sam_pci = proto == SCARD_PROTOCOL_T1 ? SCARD_PCI_T1 : SCARD_PCI_T0;
	if (!hex_tx(b.sam, b.sam_pci, "00A40000023F00", 0x90, rsp, &rl) ||
	    !hex_tx(b.sam, b.sam_pci, "00B0960006", 0x90, rsp, &rl) ||
	    !hex_tx(b.sam, b.sam_pci, "00A40000021001", 0x90, rsp, &rl)) {
		fprintf(stderr, "bench-psam: the PSAM did not open a session\n");
		goto out;
	}
	fd = dial(sock);
	for (int i = 0; i < 3; i++) /* warm up both paths */
		if (bare_unblock(&b) < 0 || daemon_unblock(fd, reader) < 0) {
			fprintf(stderr, "bench-psam: an unblock failed while warming up\n");
			goto out;
		}
	for (int i = 0; i < rounds; i++) {
		if (i % 2) {
			x[i] = bare_unblock(&b);
			y[i] = daemon_unblock(fd, reader);
		} else {
			y[i] = daemon_unblock(fd, reader);
			x[i] = bare_unblock(&b);
		}
		if (x[i] < 0 || y[i] < 0) {
			fprintf(stderr, "bench-psam: an unblock failed (round %d)\n", i);
			goto out;
		}
	}
	qsort(x, (size_t)rounds, sizeof *x, cmp);
	qsort(y, (size_t)rounds, sizeof *y, cmp);
	printf("  %-26s: 4 APDUs at the card, 3 at the PSAM, median %7.3f ms, p90 %7.3f ms\n",
	       "bare script", x[rounds / 2], x[rounds * 9 / 10]);
	printf("  %-26s: the same,                         median %7.3f ms, p90 %7.3f ms\n",
	       "sscardd `pin unblock`", y[rounds / 2], y[rounds * 9 / 10]);
	printf("  ratio sscardd / bare (median): %.3f   (target <= 1.05), %d rounds each\n",
	       y[rounds / 2] / x[rounds / 2], rounds);
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (b.sam)
		SCardDisconnect(b.sam, SCARD_LEAVE_CARD);
	if (b.ctx)
		SCardReleaseContext(b.ctx);
	free(x);
	free(y);
	return rc;
}

struct client {
	pthread_t th;
	const char *sock, *reader;
	double until;
	long reads, failed;
};

static void *client(void *arg)
{
	struct client *c = arg;
	int fd = dial(c->sock);
	long apdus;
	double card;
	while (now_ms() < c->until) {
		if (daemon_read(fd, c->reader, &apdus, &card) < 0 || apdus != 17)
			c->failed++;
		else
			c->reads++;
	}
	close(fd);
	return NULL;
}

static int rate(const char *sock, double seconds, int n, char **readers)
{
	struct client *c = calloc((size_t)n, sizeof *c);
	long reads = 0, failed = 0;
	if (!c)
		return 1;
	double t0 = now_ms();
	for (int i = 0; i < n; i++) {
		c[i] = (struct client){.sock = sock, .reader = readers[i], .until = t0 + seconds * 1e3};
		pthread_create(&c[i].th, NULL, client, &c[i]);
	}
	for (int i = 0; i < n; i++) {
		pthread_join(c[i].th, NULL);
		reads += c[i].reads;
		failed += c[i].failed;
	}
	double s = (now_ms() - t0) / 1e3;
	printf("  %d reader%s at once: %ld full 3.00 reads in %.1f s = %.1f reads/s (%ld failed)\n", n,
	       n > 1 ? "s" : " ", reads, s, (double)reads / s, failed);
	free(c);
	return failed != 0;
}

int main(int argc, char **argv)
{
	if (argc == 6 && !strcmp(argv[1], "ab"))
		return ab(argv[2], argv[3], argv[4], atoi(argv[5]));
	if (argc == 6 && !strcmp(argv[1], "unblock"))
		return unblock_ab(argv[2], argv[3], argv[4], atoi(argv[5]));
	if (argc >= 5 && !strcmp(argv[1], "rate"))
		return rate(argv[2], atof(argv[3]), argc - 4, argv + 4);
	fprintf(stderr, "usage: bench-psam ab SOCKET READER SAM_READER ROUNDS\n"
			"       bench-psam rate SOCKET SECONDS READER...\n"
			"       bench-psam unblock SOCKET READER SAM_READER ROUNDS\n");
	return 2;
}
