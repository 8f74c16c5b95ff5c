/* test-pcsc.c — the reader monitor of drivers/pcsc.c against a fake
 * pcsc-lite that keeps pcsc-lite's own rule for the PnP pseudo-reader: the
 * readers are counted when SCardGetStatusChange is entered, and only a
 * change of that count afterwards is reported. A reader that appears
 * between the monitor's SCardListReaders and its wait is therefore never
 * announced by pcscd (found by test_sixteen_readers under load: pcscd was
 * still adding the readers of its reader.conf when the daemon listed them).
 * The fake answers an INFINITE wait in which nothing can change by
 * cancelling the monitor: that is where the real one would hang forever. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <PCSC/winscard.h>

#include "drivers/reader.h"

static struct {
	const char *readers[4];
	size_t n;
	const char *add_after_list;   /* pcscd adds this one just after the next list */
	int lists, waits;
	bool hung;                    /* an INFINITE wait nothing could end */
	struct pcsc_monitor *m;
} f;

static const char *const PNP = "\\\\?PnP?\\Notification";

LONG SCardEstablishContext(DWORD scope, LPCVOID r1, LPCVOID r2, LPSCARDCONTEXT ctx)
{
	(void)scope, (void)r1, (void)r2;
	*ctx = 1;
	return SCARD_S_SUCCESS;
}

LONG SCardReleaseContext(SCARDCONTEXT ctx)
{
	(void)ctx;
	return SCARD_S_SUCCESS;
}

LONG SCardCancel(SCARDCONTEXT ctx)
{
	(void)ctx;
	return SCARD_S_SUCCESS;
}

LONG SCardFreeMemory(SCARDCONTEXT ctx, LPCVOID mem)
{
	(void)ctx;
	free((void *)mem);
	return SCARD_S_SUCCESS;
}

LONG SCardListReaders(SCARDCONTEXT ctx, LPCSTR groups, LPSTR out, LPDWORD len)
{
	(void)ctx, (void)groups;
	assert_int_equal(*len, SCARD_AUTOALLOCATE);
	f.lists++;
	if (!f.n)
		return SCARD_E_NO_READERS_AVAILABLE;
	size_t total = 1;
	for (size_t i = 0; i < f.n; i++)
		total += strlen(f.readers[i]) + 1;
	char *list = calloc(1, total), *p = list;
	assert_non_null(list);
	for (size_t i = 0; i < f.n; i++) {
		strcpy(p, f.readers[i]);
		p += strlen(p) + 1;
	}
	*(char **)out = list;
	*len = (DWORD)total;
	if (f.add_after_list) {
		f.readers[f.n++] = f.add_after_list;
		f.add_after_list = NULL;
	}
	return SCARD_S_SUCCESS;
}

LONG SCardGetStatusChange(SCARDCONTEXT ctx, DWORD timeout, SCARD_READERSTATE *st, DWORD n)
{
	(void)ctx;
	size_t count_at_entry = f.n; /* pcsc-lite's currentReaderCount */
	bool changed = false;
	f.waits++;
	for (DWORD i = 0; i < n; i++) {
		st[i].dwEventState = 0;
		if (!strcmp(st[i].szReader, PNP)) {
			if (f.n != count_at_entry) { /* never, in here: nothing is added during a wait */
				st[i].dwEventState = SCARD_STATE_CHANGED;
				changed = true;
			}
			continue;
		}
		bool known = false;
		for (size_t k = 0; k < f.n; k++)
			known = known || !strcmp(f.readers[k], st[i].szReader);
		DWORD now = known ? SCARD_STATE_EMPTY : SCARD_STATE_UNKNOWN | SCARD_STATE_UNAVAILABLE;
		st[i].dwEventState = now;
		if ((st[i].dwCurrentState & ~(DWORD)SCARD_STATE_CHANGED) != now) {
			st[i].dwEventState |= SCARD_STATE_CHANGED;
			changed = true;
		}
	}
	if (changed)
		return SCARD_S_SUCCESS;
	if (timeout == INFINITE) {
		f.hung = true;
		pcsc_monitor_cancel(f.m);
		return SCARD_E_CANCELLED;
	}
	return SCARD_E_TIMEOUT;
}

/* Waits until cancelled or an event of kind k for reader comes; true if it came. */
static bool wait_for(enum rdr_event_kind k, const char *reader, int rounds)
{
	struct rdr_event ev[8];
	for (int r = 0; r < rounds && !f.hung; r++) {
		size_t n = 0;
		assert_int_equal(pcsc_monitor_wait(f.m, ev, 8, &n), SS_OK);
		for (size_t i = 0; i < n; i++)
			if (ev[i].kind == k && (!reader || !strcmp(ev[i].reader, reader)))
				return true;
		if (!n)
			break;
	}
	return false;
}

static int setup(void **state)
{
	(void)state;
	memset(&f, 0, sizeof f);
	f.readers[f.n++] = "Virtual PCD 00 00";
	assert_int_equal(pcsc_monitor_new(&f.m), SS_OK);
	assert_true(wait_for(RDR_SCAN_DONE, NULL, 4));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	pcsc_monitor_free(f.m);
	return 0;
}

static void reader_added_between_list_and_wait_is_seen(void **state)
{
	(void)state;
	f.add_after_list = "Virtual PCD A 00 00";
	int lists = f.lists;
	bool seen = wait_for(RDR_READER_ADDED, "Virtual PCD A 00 00", 4);
	assert_false(f.hung);
	assert_true(seen);
	assert_true(f.lists >= lists + 2); /* the list was looked at again */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(reader_added_between_list_and_wait_is_seen, setup, teardown),
	};
	return cmocka_run_group_tests_name("pcsc monitor", tests, NULL, NULL);
}
