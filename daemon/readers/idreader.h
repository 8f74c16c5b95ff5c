/* idreader.h — the resident ID card reader ([readers] idcard), polled by a
 * thread of its own (drivers/idcard.c does the frames). The loop owns all
 * state; the thread only talks to its serial line and posts what it saw.
 *
 * Events for subscribers (nothing personal in any of them):
 *   {"event":"idcard_present"}   a card was put on the reader (the same card
 *                                left lying there is not a new event)
 *   {"event":"idcard_removed"}   it was taken away
 *   {"event":"idcard_error","code":…}  a read failed (card_removed: taken
 *                                away mid-read; bad_card; reader_refused)
 *   {"event":"idcard_reader","state":"ready"|"absent"|"not_answering"}
 * The person read is handed to the one consumer that may see it (the
 * kiosk) and wiped when that returns. */
#ifndef SSCARD_IDREADER_H
#define SSCARD_IDREADER_H

#include <jansson.h>
#include <stdbool.h>
#include <systemd/sd-event.h>

#include "daemon/config.h"
#include "daemon/prom.h"
#include "daemon/readers/readers.h"

struct idreader;

/* A read's answer: {"ok":true, "kind", "id_number", "name", "sex", "nation",
 * "birth_date", "address", "authority", "valid_from", "valid_until"
 * ("long-term" for 长期), "expired"} (a card of another kind has only
 * "kind") or {"ok":false,"error":CODE,"message":…}; the person handed to
 * idreader_on_person's fn has the same keys. Borrowed: copy what is
 * needed, the rest is wiped. */
typedef void (*idreader_done_fn)(void *cookie, json_t *reply);

/* Starts the thread when [readers] idcard is set; *out is NULL otherwise
 * (every function below takes NULL: "no ID card reader"). 0 or -errno. */
int idreader_start(sd_event *ev, const struct config *cfg, readers_emit_fn emit, void *arg,
		   struct idreader **out);
void idreader_stop(struct idreader *r);
/* Who gets the person of every new card (idcard_present). */
void idreader_on_person(struct idreader *r, idreader_done_fn fn, void *cookie);
/* Read the reader now (the card may have been lying there); done gets the
 * answer on the loop, at most read time + a poll interval later. Without
 * a reader, done is called at once with no_reader. */
void idreader_read(struct idreader *r, void *cookie, idreader_done_fn done);
/* cookie goes away: its pending reads are dropped. */
void idreader_forget(struct idreader *r, void *cookie);
/* "off", "absent", "ready", "not_answering". */
const char *idreader_state(const struct idreader *r);
/* The ID card reader's part of /metrics (nothing when there is none). */
void idreader_metrics(const struct idreader *r, struct prom *p);
/* "idcard" member of sscardctl status. */
void idreader_add_status(const struct idreader *r, json_t *st);

#endif
