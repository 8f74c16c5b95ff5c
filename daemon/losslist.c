/* losslist.c — the loss list in SQLite. */
#include "losslist.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../apdu/apdu.h"

struct losslist {
	sqlite3 *db;
	sqlite3_stmt *lookup, *meta, *count, *put;
};

static const char SCHEMA[] =
	"PRAGMA journal_mode=WAL;"
	"PRAGMA synchronous=NORMAL;"
	"CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS loss("
	" card_id BLOB PRIMARY KEY CHECK(length(card_id) = 16),"
	" state INTEGER NOT NULL CHECK(state BETWEEN 1 AND 3),"
	" since INTEGER NOT NULL,"
	" version INTEGER NOT NULL) WITHOUT ROWID;";

const char *loss_state_name(enum loss_state s)
{
	switch (s) {
	case LOSS_TEMPORARY: return "temporary";
	case LOSS_FORMAL: return "formal";
	case LOSS_CANCELLED: return "cancelled";
	default: return "none";
	}
}

bool loss_id_parse(const char *hex, uint8_t id[LOSS_ID_LEN])
{
	return hex && strlen(hex) == 2 * LOSS_ID_LEN && strspn(hex, "0123456789abcdefABCDEF") ==
							      2 * LOSS_ID_LEN &&
	       hex_decode(hex, id, LOSS_ID_LEN) == LOSS_ID_LEN;
}

static int fail(struct losslist *l, const char *what, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s: %s", what, l->db ? sqlite3_errmsg(l->db) : "out of memory");
	losslist_close(l);
	return -1;
}

int losslist_open(const char *path, bool writable, struct losslist **out, char *err,
		  size_t errlen)
{
	struct losslist *l = calloc(1, sizeof *l);
	int flags = (writable ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY) |
		    SQLITE_OPEN_NOMUTEX;
	*out = NULL;
	if (!l) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (sqlite3_open_v2(path, &l->db, flags, NULL) != SQLITE_OK)
		return fail(l, path, err, errlen);
	sqlite3_busy_timeout(l->db, 200);
	if (writable && sqlite3_exec(l->db, SCHEMA, NULL, NULL, NULL) != SQLITE_OK)
		return fail(l, path, err, errlen);
	if (sqlite3_prepare_v3(l->db, "SELECT state, since, version FROM loss WHERE card_id = ?",
			       -1, SQLITE_PREPARE_PERSISTENT, &l->lookup, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(l->db, "SELECT key, value FROM meta", -1,
			       SQLITE_PREPARE_PERSISTENT, &l->meta, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(l->db, "SELECT count(*) FROM loss", -1, SQLITE_PREPARE_PERSISTENT,
			       &l->count, NULL) != SQLITE_OK)
		return fail(l, path, err, errlen);
	if (writable &&
	    sqlite3_prepare_v3(l->db,
			       "INSERT INTO loss(card_id, state, since, version) VALUES(?,?,?,?)"
			       " ON CONFLICT(card_id) DO UPDATE SET state = excluded.state,"
			       " since = excluded.since, version = excluded.version",
			       -1, SQLITE_PREPARE_PERSISTENT, &l->put, NULL) != SQLITE_OK)
		return fail(l, path, err, errlen);
	*out = l;
	return 0;
}

void losslist_close(struct losslist *l)
{
	if (!l)
		return;
	sqlite3_finalize(l->lookup);
	sqlite3_finalize(l->meta);
	sqlite3_finalize(l->count);
	sqlite3_finalize(l->put);
	sqlite3_close(l->db);
	free(l);
}

int losslist_lookup(struct losslist *l, const uint8_t id[LOSS_ID_LEN], struct loss_entry *e)
{
	int rv;
	memset(e, 0, sizeof *e);
	sqlite3_reset(l->lookup);
	sqlite3_bind_blob(l->lookup, 1, id, LOSS_ID_LEN, SQLITE_STATIC);
	rv = sqlite3_step(l->lookup);
	if (rv == SQLITE_ROW) {
		int s = sqlite3_column_int(l->lookup, 0);
		e->state = s >= LOSS_TEMPORARY && s <= LOSS_CANCELLED ? (enum loss_state)s : LOSS_FORMAL;
		e->since = sqlite3_column_int64(l->lookup, 1);
		e->version = sqlite3_column_int64(l->lookup, 2);
		rv = 1;
	} else
		rv = rv == SQLITE_DONE ? 0 : -1;
	sqlite3_reset(l->lookup);
	return rv;
}

int losslist_version(struct losslist *l, struct loss_info *i)
{
	int rv;
	memset(i, 0, sizeof *i);
	sqlite3_reset(l->meta);
	while ((rv = sqlite3_step(l->meta)) == SQLITE_ROW) {
		const char *k = (const char *)sqlite3_column_text(l->meta, 0);
		if (k && !strcmp(k, "version"))
			i->version = sqlite3_column_int64(l->meta, 1);
		else if (k && !strcmp(k, "published"))
			i->published = sqlite3_column_int64(l->meta, 1);
	}
	sqlite3_reset(l->meta);
	return rv == SQLITE_DONE ? 0 : -1;
}

int losslist_info(struct losslist *l, struct loss_info *i)
{
	int rv;
	if (losslist_version(l, i) < 0)
		return -1;
	sqlite3_reset(l->count);
	rv = sqlite3_step(l->count);
	if (rv == SQLITE_ROW)
		i->entries = sqlite3_column_int64(l->count, 0);
	sqlite3_reset(l->count);
	return rv == SQLITE_ROW ? 0 : -1;
}

int losslist_put(struct losslist *l, const uint8_t id[LOSS_ID_LEN], enum loss_state s,
		 int64_t since, int64_t version)
{
	if (!l->put || s < LOSS_TEMPORARY || s > LOSS_CANCELLED)
		return -1;
	sqlite3_reset(l->put);
	sqlite3_bind_blob(l->put, 1, id, LOSS_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_int(l->put, 2, (int)s);
	sqlite3_bind_int64(l->put, 3, since);
	sqlite3_bind_int64(l->put, 4, version);
	int rv = sqlite3_step(l->put);
	sqlite3_reset(l->put);
	return rv == SQLITE_DONE ? 0 : -1;
}
