/* store.c — the reference central's database (store.h): central.db with
 * the loss list's tables, its meta values, the clock, and fatal errors. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "sim/central/store.h"

const char *central_dir;
sqlite3 *db;
pthread_mutex_t central_mu = PTHREAD_MUTEX_INITIALIZER;

void central_die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "sscard-central: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

void store_exec(const char *sql)
{
	char *e = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &e) != SQLITE_OK)
		central_die("database: %s", e ? e : sqlite3_errmsg(db));
}

void store_open(void)
{
	char path[512];
	snprintf(path, sizeof path, "%s/central.db", central_dir);
	if (sqlite3_open(path, &db) != SQLITE_OK)
		central_die("cannot open %s", path);
	sqlite3_busy_timeout(db, 5000);
	store_exec("PRAGMA journal_mode=WAL;"
		 "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER) WITHOUT ROWID;"
		 "CREATE TABLE IF NOT EXISTS loss(card_id BLOB PRIMARY KEY, state INTEGER NOT NULL,"
		 " day INTEGER NOT NULL) WITHOUT ROWID;"
		 "CREATE TABLE IF NOT EXISTS pending(card_id BLOB PRIMARY KEY, state INTEGER NOT NULL,"
		 " day INTEGER NOT NULL) WITHOUT ROWID;"
		 "CREATE TABLE IF NOT EXISTS deltas(version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
		 " hash BLOB NOT NULL, size INTEGER NOT NULL);");
}

int64_t store_meta_get(const char *key)
{
	sqlite3_stmt *s;
	int64_t v = 0;
	sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = ?", -1, &s, NULL);
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}

void store_meta_set(const char *key, int64_t v)
{
	sqlite3_stmt *s;
	sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO meta VALUES(?, ?)", -1, &s, NULL);
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, v);
	if (sqlite3_step(s) != SQLITE_DONE)
		central_die("database: %s", sqlite3_errmsg(db));
	sqlite3_finalize(s);
}

/* The central's clock; tests shift it (SSCARD_CENTRAL_CLOCK_OFFSET=-3500)
 * to publish a head that is nearly stale already. */
int64_t clock_now(void)
{
	const char *o = getenv("SSCARD_CENTRAL_CLOCK_OFFSET");
	return (int64_t)time(NULL) + (o ? atoll(o) : 0);
}

void pend(const uint8_t id[LOSS_ID_LEN], int state, int64_t day)
{
	static sqlite3_stmt *s; /* prepared once: `generate` calls this 10^7 times */
	if (!s)
		sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO pending VALUES(?, ?, ?)", -1, &s, NULL);
	sqlite3_bind_blob(s, 1, id, LOSS_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_int(s, 2, state);
	sqlite3_bind_int64(s, 3, day);
	if (sqlite3_step(s) != SQLITE_DONE)
		central_die("database: %s", sqlite3_errmsg(db));
	sqlite3_reset(s);
}
