/* losslist.h — the local loss list, in state_dir:
 *
 *   losslist-V.idx  the central's snapshot at version V as a sorted file
 *                   (lossidx: one pread per lookup, its sparse index shared
 *                   by every connection of the process)
 *   losslist.db     SQLite (WAL): meta (version, published, base = V,
 *                   entries) and `changes`, WITHOUT ROWID, keyed by the
 *                   16-byte card id: what deltas changed since V (a
 *                   tombstone, state 0, for a card taken off) and the losses
 *                   taken at this terminal (local = 1).
 *
 * No names, no SSNs. A lookup reads meta and changes in one read
 * transaction, then the index file meta names, so it always sees one
 * version. A delta is applied in one write transaction; a snapshot import
 * writes a new index file (tmp + rename), then switches to it with one
 * commit, so readers never wait and never see half a list. The event loop,
 * the sync thread and each reader worker have their own connection. */
#ifndef SSCARD_LOSSLIST_H
#define SSCARD_LOSSLIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "daemon/losslist/lossfmt.h"

#define LOSS_ID_LEN 16
#define LOSSLIST_FILE "losslist.db"   /* in [daemon] state_dir */

enum loss_state { LOSS_NONE, LOSS_TEMPORARY, LOSS_FORMAL, LOSS_CANCELLED };

struct loss_entry {
	enum loss_state state;
	int64_t since;          /* unix seconds the loss took effect */
	int64_t version;        /* list version that brought it; 0 = taken here */
};

struct loss_info {
	int64_t version;        /* 0: no list received yet */
	int64_t published;      /* unix seconds the central signed the newest head
				 * confirming this version; 0 unknown */
	int64_t entries;        /* cards listed */
	int64_t base;           /* version of the snapshot under the changes */
	int64_t changes;        /* rows over the snapshot (losslist_info only) */
};

struct losslist;

/* Open (creating the schema when writable) the list at path (…/losslist.db;
 * the index files sit beside it). 0, or -1 with a sentence in err. */
int losslist_open(const char *path, bool writable, struct losslist **out, char *err,
		  size_t errlen);
void losslist_close(struct losslist *l);
/* 1 listed (e filled), 0 not listed, -1 the list could not be read. i (may
 * be NULL) gets the version the answer came from. */
int losslist_lookup(struct losslist *l, const uint8_t id[LOSS_ID_LEN], struct loss_entry *e,
		    struct loss_info *i);
/* The card reader's check: look card_id (hex) up, opening *l read-only at
 * path on first use and again after a failure (the file may have been
 * replaced). 1 listed, 0 not, -1 unknown (no id, or the list unreadable:
 * logged). */
int losslist_check_card(const char *path, struct losslist **l, const char *card_id,
			struct loss_entry *e, struct loss_info *i);
/* version, published, entries, base (cheap: meta only); changes too. */
int losslist_info(struct losslist *l, struct loss_info *i);
/* A loss taken at this terminal: listed at once; kept until the central's
 * list says something newer about the card. 0 or -1. */
int losslist_put(struct losslist *l, const uint8_t id[LOSS_ID_LEN], enum loss_state s,
		 int64_t since);

/* ---- for the sync (a writable list) ---- */
/* Apply deltas: begin, apply every record of every delta, commit with the
 * version reached and the head's signing time; abort on any failure leaves
 * the list as it was. */
int losslist_begin(struct losslist *l);
int losslist_apply(struct losslist *l, const struct loss_rec *r, uint64_t version);
int losslist_commit(struct losslist *l, uint64_t version, int64_t published);
void losslist_abort(struct losslist *l);
/* Replace the whole list by a snapshot (the encoded file's bytes, already
 * checked against the head). 0, or -1 with a sentence; on -1 the old list
 * stays in force and nothing is left behind. */
int losslist_import(struct losslist *l, const uint8_t *snap, size_t len, int64_t published,
		    char *err, size_t errlen);
/* A verified head confirmed the version we hold: it is fresh as of published. */
int losslist_confirm(struct losslist *l, int64_t published);
/* The last error of the underlying database, for messages. */
const char *losslist_errmsg(struct losslist *l);

/* "temporary", "formal", "cancelled" (for good), "none". */
const char *loss_state_name(enum loss_state s);
/* The 32 hex digits of a card id → 16 bytes; false when it is not that. */
bool loss_id_parse(const char *hex, uint8_t id[LOSS_ID_LEN]);

/* The read reply's "loss" object: listed (true/false; null when the list
 * could not be read: rc -1), state, since (date), list_version,
 * list_age_s (null before the first list, or when this terminal's clock
 * is wrong), stale, clock_wrong (when it is), message. The age as
 * fresh.h tells it. */
json_t *json_loss(int rc, const struct loss_entry *e, const struct loss_info *i, unsigned stale_after);

#endif
