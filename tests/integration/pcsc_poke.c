/* pcsc-poke — what another PC/SC program on the terminal might do to a
 * card while sscardd uses it, for the integration tests.
 *
 *   pcsc-poke READER exclusive MS   connect exclusively, hold MS ms, let go
 *   pcsc-poke READER reset          connect shared, reset the card, let go
 *
 * Prints "ok" or the pcsc-lite error text; exit 0 only on "ok". */
#include <PCSC/winscard.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	SCARDCONTEXT ctx;
	SCARDHANDLE h;
	DWORD proto;
	LONG rv;
	if (argc < 3 || (strcmp(argv[2], "exclusive") && strcmp(argv[2], "reset"))) {
		fprintf(stderr, "usage: pcsc-poke READER exclusive MS | reset\n");
		return 2;
	}
	int excl = !strcmp(argv[2], "exclusive");
	rv = SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &ctx);
	if (rv == SCARD_S_SUCCESS)
		rv = SCardConnect(ctx, argv[1], excl ? SCARD_SHARE_EXCLUSIVE : SCARD_SHARE_SHARED,
				  SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1, &h, &proto);
	if (rv == SCARD_S_SUCCESS) {
		if (excl && argc > 3)
			usleep((useconds_t)atoi(argv[3]) * 1000);
		rv = SCardDisconnect(h, excl ? SCARD_LEAVE_CARD : SCARD_RESET_CARD);
	}
	puts(rv == SCARD_S_SUCCESS ? "ok" : pcsc_stringify_error(rv));
	return rv != SCARD_S_SUCCESS;
}
