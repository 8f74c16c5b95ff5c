/* pcsc-watch — when pcscd reports a card coming into or leaving a reader,
 * for the screen latency bench: one line per change, "present SECONDS" or
 * "empty SECONDS" (CLOCK_REALTIME, microseconds), flushed at once. Runs
 * until killed.
 *
 *   pcsc-watch READER */
#include <PCSC/winscard.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int main(int argc, char **argv)
{
	SCARDCONTEXT ctx;
	if (argc != 2) {
		fprintf(stderr, "usage: pcsc-watch READER\n");
		return 2;
	}
	LONG rv = SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &ctx);
	if (rv != SCARD_S_SUCCESS) {
		printf("error %s\n", pcsc_stringify_error(rv));
		return 1;
	}
	SCARD_READERSTATE st = {.szReader = argv[1], .dwCurrentState = SCARD_STATE_UNAWARE};
	int was = -1;
	printf("watching\n");
	fflush(stdout);
	for (;;) {
		rv = SCardGetStatusChange(ctx, INFINITE, &st, 1);
		if (rv != SCARD_S_SUCCESS) {
			printf("error %s\n", pcsc_stringify_error(rv));
			return 1;
		}
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		int now = (st.dwEventState & SCARD_STATE_PRESENT) != 0;
		st.dwCurrentState = st.dwEventState & ~(DWORD)SCARD_STATE_CHANGED;
		if (now != was) {
			printf("%s %lld.%06ld\n", now ? "present" : "empty", (long long)ts.tv_sec,
			       ts.tv_nsec / 1000);
			fflush(stdout);
			was = now;
		}
	}
}
