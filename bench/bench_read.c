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

#include "apdu/apdu.h"
#include "bench/bench.h"

struct pcsc_bare {
	SCARDCONTEXT ctx;
	const char *reader;
};

/* Connect, the script, disconnect: what a plain PC/SC program does. */
static double bare_read(void *arg)
{
	struct pcsc_bare *p = arg;
	SCARDHANDLE h;
	DWORD proto;
	uint8_t cmd[64], rsp[258];
	double t0 = now_ms();
	if (SCardConnect(p->ctx, p->reader, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1,
			 &h, &proto) != SCARD_S_SUCCESS)
		return -1;
	const SCARD_IO_REQUEST *pci = proto == SCARD_PROTOCOL_T1 ? SCARD_PCI_T1 : SCARD_PCI_T0;
	for (size_t i = 0; i < BENCH_N_SCRIPT; i++) {
		long n = hex_decode(BENCH_SCRIPT[i], cmd, sizeof cmd);
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

int main(int argc, char **argv)
{
	struct pcsc_bare p;
	if (argc != 4) {
		fprintf(stderr, "usage: bench-read SOCKET READER ROUNDS\n");
		return 2;
	}
	if (SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &p.ctx) != SCARD_S_SUCCESS)
		return 1;
	p.reader = argv[2];
	int fd = dial(argv[1]);
	int rc = bench_ab(bare_read, &p, "bare SCardTransmit script", BENCH_N_SCRIPT, fd, argv[2],
			  atoi(argv[3]));
	SCardReleaseContext(p.ctx);
	close(fd);
	return rc;
}
