/* losslist.h — the local loss list: one SQLite file in state_dir, keyed by
 * the 16-byte card identifier (卡识别码). No names, no SSNs. The event loop
 * owns one read-write connection; each reader worker opens its own
 * read-only one (WAL: readers never wait for the writer), so the lookup of
 * every card read happens off the loop. */
#ifndef SSCARD_LOSSLIST_H
#define SSCARD_LOSSLIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LOSS_ID_LEN 16
#define LOSSLIST_FILE "losslist.db"   /* in [daemon] state_dir */

enum loss_state { LOSS_NONE, LOSS_TEMPORARY, LOSS_FORMAL, LOSS_CANCELLED };

struct loss_entry {
	enum loss_state state;
	int64_t since;          /* unix seconds the loss took effect */
	int64_t version;        /* list version that brought it */
};

struct loss_info {
	int64_t version;        /* 0: no list received yet */
	int64_t published;      /* unix seconds the central published it; 0 unknown */
	int64_t entries;
};

struct losslist;

/* Open (creating the schema when writable) the list at path. 0, or -1
 * with a sentence in err. */
int losslist_open(const char *path, bool writable, struct losslist **out, char *err,
		  size_t errlen);
void losslist_close(struct losslist *l);
/* 1 listed (e filled), 0 not listed, -1 the list could not be read. */
int losslist_lookup(struct losslist *l, const uint8_t id[LOSS_ID_LEN], struct loss_entry *e);
/* version and published only: cheap, for every card read */
int losslist_version(struct losslist *l, struct loss_info *i);
/* the same and the number of entries (a count over the whole table: for
 * status and `list info`, never per read) */
int losslist_info(struct losslist *l, struct loss_info *i);
/* A loss taken at this terminal: listed at once, whatever the central says
 * later. 0 or -1. */
int losslist_put(struct losslist *l, const uint8_t id[LOSS_ID_LEN], enum loss_state s,
		 int64_t since, int64_t version);
/* "temporary", "formal", "cancelled" (for good), "none". */
const char *loss_state_name(enum loss_state s);
/* The 32 hex digits of a card id → 16 bytes; false when it is not that. */
bool loss_id_parse(const char *hex, uint8_t id[LOSS_ID_LEN]);

#endif
