/* fresh.h — how old the loss list in force is, without trusting this
 * terminal's wall clock alone. Kiosk boards often boot without an RTC
 * battery: a clock months behind must not make a month-old list look
 * fresh, nor one ahead make every list look stale without saying why.
 *
 * The age is the signed publish time's distance from a reference:
 * - after a good sync in this boot: the lag at that sync (the reference
 *   then minus the signed time) plus the time since, on CLOCK_BOOTTIME,
 *   which no one sets and which counts suspend too; a clock set or jumping
 *   later changes nothing;
 * - before one: the wall clock now.
 * The reference is the later of the wall clock and the central's (or
 * mirror's) HTTP Date: a Date can make the list older, never younger, so a
 * mirror that lies about the time cannot make an old list look fresh.
 * A list signed in the future of that reference (beyond 5 minutes of
 * skew) means the clock is wrong: the age is unknown and the list stale,
 * said so. Thread-safe; one state per process. */
#ifndef SSCARD_LOSSLIST_FRESH_H
#define SSCARD_LOSSLIST_FRESH_H

#include <stdbool.h>
#include <stdint.h>

#include "daemon/losslist/losslist.h"

#define FRESH_SKEW_S 300 /* clocks this close count as right */

struct loss_fresh {
	bool known;          /* an age could be told (age_s) */
	int64_t age_s;
	bool stale;          /* no list, unknown age, or older than stale_after */
	bool clock_wrong;    /* this terminal's clock is off (the list or the central say so) */
	const char *basis;   /* "sync": signed time + monotonic time since a good sync; "clock"; "none" */
};

/* A good sync (the head checked, the list in force confirmed): its signed
 * time, and the answer's Date (0: none). */
void fresh_note_good_sync(int64_t published, int64_t server_date);
/* Any answer from upstream carrying a Date: this clock's offset. */
void fresh_note_server_date(int64_t server_date);
void fresh_eval(const struct loss_info *i, unsigned stale_after, struct loss_fresh *f);
/* The last measured offset (server minus this clock, seconds) and how
 * many seconds ago it was measured; false when none was. */
bool fresh_clock_offset(int64_t *offset_s, int64_t *measured_s_ago);
/* The plain sentence for a list that cannot be trusted as fresh. */
const char *fresh_message(const struct loss_info *i, const struct loss_fresh *f);

#endif
