/* losslist.c — the loss list: a snapshot index file + SQLite changes. */
#include "daemon/losslist/losslist.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apdu/apdu.h"
#include "daemon/losslist/lossidx.h"
#include "daemon/log.h"

/* ---- index files, shared by every connection of the process ------------ */

struct shidx {
	struct shidx *next;
	int64_t version;
	char dir[400];
	struct lossidx *x;
	int refs;
};

static pthread_mutex_t idx_mu = PTHREAD_MUTEX_INITIALIZER;
static struct shidx *idx_all;

static void idx_path(char *out, size_t cap, const char *dir, int64_t version)
{
	snprintf(out, cap, "%s/losslist-%lld.idx", dir, (long long)version);
}

static struct shidx *idx_get(const char *dir, int64_t version)
{
	struct shidx *s;
	char path[512], err[600];
	pthread_mutex_lock(&idx_mu);
	for (s = idx_all; s; s = s->next)
		if (s->version == version && !strcmp(s->dir, dir))
			break;
	if (s)
		s->refs++;
	else if ((s = calloc(1, sizeof *s))) {
		idx_path(path, sizeof path, dir, version);
		if (lossidx_open(path, &s->x, err, sizeof err) < 0 ||
		    (int64_t)lossidx_version(s->x) != version) {
			lossidx_close(s->x);
			free(s);
			s = NULL;
		} else {
			snprintf(s->dir, sizeof s->dir, "%s", dir);
			s->version = version;
			s->refs = 1;
			s->next = idx_all;
			idx_all = s;
		}
	}
	pthread_mutex_unlock(&idx_mu);
	return s;
}

static void idx_put(struct shidx *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&idx_mu);
	if (--s->refs == 0) {
		struct shidx **p = &idx_all;
		while (*p != s)
			p = &(*p)->next;
		*p = s->next;
		lossidx_close(s->x);
		free(s);
	}
	pthread_mutex_unlock(&idx_mu);
}

/* ---- meta + changes in memory, shared, per generation -------------------- */

/* Every commit through this code bumps the generation; a lookup whose
 * cached copy is of the current generation reads no SQL at all (one atomic
 * load, a binary search, one pread). Only sscardd writes its list. */
static atomic_llong list_gen = 1;

struct ovrow {
	uint8_t id[LOSS_ID_LEN];
	uint8_t state;
	int64_t since, version;
};

struct overlay {
	struct overlay *next;
	char dir[400];
	long long gen;
	struct loss_info meta;
	size_t n;
	struct ovrow *rows;          /* sorted by id */
	int refs;
};

static struct overlay *ov_all;   /* under idx_mu */

static void ov_put(struct overlay *o)
{
	if (!o)
		return;
	pthread_mutex_lock(&idx_mu);
	if (--o->refs == 0) {
		struct overlay **p = &ov_all;
		while (*p != o)
			p = &(*p)->next;
		*p = o->next;
		free(o->rows);
		free(o);
	}
	pthread_mutex_unlock(&idx_mu);
}

/* ---- the database ------------------------------------------------------- */

enum { S_ALL, S_META, S_GET, S_PUT, S_DEL, S_SETMETA, S_COUNT, S_LOCALS, S__N };

static const char *const SQL[S__N] = {
	[S_ALL] = "SELECT card_id, state, since, version FROM changes", /* in card id order */
	[S_META] = "SELECT key, value FROM meta",
	[S_GET] = "SELECT state, since, version, local FROM changes WHERE card_id = ?",
	[S_PUT] = "INSERT INTO changes(card_id, state, since, version, local) VALUES(?,?,?,?,?)"
		  " ON CONFLICT(card_id) DO UPDATE SET state = excluded.state, since = excluded.since,"
		  " version = excluded.version, local = excluded.local",
	[S_DEL] = "DELETE FROM changes WHERE card_id = ?",
	[S_SETMETA] = "INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)",
	[S_COUNT] = "SELECT count(*) FROM changes",
	[S_LOCALS] = "SELECT card_id, state, since FROM changes WHERE local = 1",
};

struct losslist {
	sqlite3 *db;
	sqlite3_stmt *st[S__N];
	bool writable;
	char dir[400];
	struct shidx *idx;          /* the snapshot meta names; NULL when none */
	struct overlay *ov;         /* meta + changes as of a generation */
	int64_t d_entries;          /* entries gained in the open write transaction */
};

static const char SCHEMA[] =
	"PRAGMA journal_mode=WAL;"
	"CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS changes("
	" card_id BLOB PRIMARY KEY CHECK(length(card_id) = 16),"
	" state INTEGER NOT NULL CHECK(state BETWEEN 0 AND 3),"
	" since INTEGER NOT NULL,"
	" version INTEGER NOT NULL,"
	" local INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;";

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

/* Files of imports that never got committed (a crash, a full disk). */
static void tidy(struct losslist *l, int64_t base)
{
	DIR *d = opendir(l->dir);
	struct dirent *de;
	char keep[64], path[700];
	snprintf(keep, sizeof keep, "losslist-%lld.idx", (long long)base);
	while (d && (de = readdir(d))) {
		if (strncmp(de->d_name, "losslist-", 9) || !strstr(de->d_name, ".idx") ||
		    !strcmp(de->d_name, keep))
			continue;
		snprintf(path, sizeof path, "%s/%s", l->dir, de->d_name);
		unlink(path);
	}
	if (d)
		closedir(d);
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
	const char *slash = strrchr(path, '/');
	snprintf(l->dir, sizeof l->dir, "%.*s", slash ? (int)(slash - path) : 1,
		 slash ? path : ".");
	l->writable = writable;
	if (sqlite3_open_v2(path, &l->db, flags, NULL) != SQLITE_OK)
		return fail(l, path, err, errlen);
	sqlite3_busy_timeout(l->db, 2000);
	if (writable && sqlite3_exec(l->db, SCHEMA, NULL, NULL, NULL) != SQLITE_OK)
		return fail(l, path, err, errlen);
	/* the list is a cache of the central's, but losses taken here must
	 * survive a power cut: every commit reaches the disk */
	sqlite3_exec(l->db, "PRAGMA synchronous=FULL", NULL, NULL, NULL);
	for (int i = 0; i < S__N; i++) {
		if (!writable && (i == S_PUT || i == S_DEL || i == S_SETMETA))
			continue;
		if (sqlite3_prepare_v3(l->db, SQL[i], -1, SQLITE_PREPARE_PERSISTENT, &l->st[i],
				       NULL) != SQLITE_OK)
			return fail(l, path, err, errlen);
	}
	if (writable) {
		struct loss_info i;
		if (losslist_info(l, &i) < 0)
			return fail(l, path, err, errlen);
		tidy(l, i.base);
	}
	*out = l;
	return 0;
}

void losslist_close(struct losslist *l)
{
	if (!l)
		return;
	for (int i = 0; i < S__N; i++)
		sqlite3_finalize(l->st[i]);
	sqlite3_close(l->db);
	idx_put(l->idx);
	ov_put(l->ov);
	free(l);
}

const char *losslist_errmsg(struct losslist *l)
{
	return l && l->db ? sqlite3_errmsg(l->db) : "no list";
}

static int run(struct losslist *l, int s)
{
	sqlite3_stmt *st = l->st[s];
	int rv = st ? sqlite3_step(st) : SQLITE_MISUSE;
	if (st)
		sqlite3_reset(st);
	return rv == SQLITE_DONE ? 0 : -1;
}

static int read_meta(struct losslist *l, struct loss_info *i)
{
	sqlite3_stmt *s = l->st[S_META];
	int rv;
	memset(i, 0, sizeof *i);
	while ((rv = sqlite3_step(s)) == SQLITE_ROW) {
		const char *k = (const char *)sqlite3_column_text(s, 0);
		int64_t v = sqlite3_column_int64(s, 1);
		if (!k)
			continue;
		if (!strcmp(k, "version"))
			i->version = v;
		else if (!strcmp(k, "published"))
			i->published = v;
		else if (!strcmp(k, "base"))
			i->base = v;
		else if (!strcmp(k, "entries"))
			i->entries = v;
	}
	sqlite3_reset(s);
	return rv == SQLITE_DONE ? 0 : -1;
}

/* Point at the index file of base. -2 when it is gone (swapped under us). */
static int use_base(struct losslist *l, int64_t base)
{
	if (l->idx && l->idx->version == base)
		return 0;
	idx_put(l->idx);
	l->idx = NULL;
	if (!base)
		return 0;
	l->idx = idx_get(l->dir, base);
	return l->idx ? 0 : -2;
}

struct row {
	bool found;
	int state;
	int64_t since, version;
	bool local;
};

static int get_row(struct losslist *l, const uint8_t id[LOSS_ID_LEN], struct row *r)
{
	sqlite3_stmt *s = l->st[S_GET];
	memset(r, 0, sizeof *r);
	sqlite3_bind_blob(s, 1, id, LOSS_ID_LEN, SQLITE_STATIC);
	int rv = sqlite3_step(s);
	if (rv == SQLITE_ROW) {
		r->found = true;
		r->state = sqlite3_column_int(s, 0);
		r->since = sqlite3_column_int64(s, 1);
		r->version = sqlite3_column_int64(s, 2);
		r->local = sqlite3_column_int(s, 3) != 0;
	}
	sqlite3_reset(s);
	return rv == SQLITE_ROW || rv == SQLITE_DONE ? 0 : -1;
}

/* The answer from the card's change row, if any, else from the snapshot. */
static int settle(struct losslist *l, const uint8_t id[LOSS_ID_LEN], int64_t base, bool found,
		  int state, int64_t since, int64_t version, struct loss_entry *e)
{
	struct loss_rec x;
	if (found) {
		if (!state)
			return 0; /* taken off since the snapshot */
		e->state = state <= LOSS_CANCELLED ? (enum loss_state)state : LOSS_FORMAL;
		e->since = since;
		e->version = version;
		return 1;
	}
	if (!l->idx)
		return 0;
	int rv = lossidx_lookup(l->idx->x, id, &x);
	if (rv == 1) {
		e->state = x.state >= LOSS_TEMPORARY && x.state <= LOSS_CANCELLED
				   ? (enum loss_state)x.state
				   : LOSS_FORMAL;
		e->since = (int64_t)x.day * 86400;
		e->version = base;
	}
	return rv;
}

/* in the caller's write transaction: 1/0/-1 */
static int find(struct losslist *l, const uint8_t id[LOSS_ID_LEN], int64_t base,
		struct loss_entry *e)
{
	struct row r;
	if (get_row(l, id, &r) < 0)
		return -1;
	return settle(l, id, base, r.found, r.state, r.since, r.version, e);
}

/* Meta and every change row in one read transaction. */
static struct overlay *ov_load(struct losslist *l, long long gen)
{
	struct overlay *o = calloc(1, sizeof *o);
	sqlite3_stmt *s = l->st[S_ALL];
	size_t cap = 0;
	int rv;
	if (!o || sqlite3_exec(l->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
		free(o);
		return NULL;
	}
	rv = read_meta(l, &o->meta);
	while (!rv && (rv = sqlite3_step(s)) == SQLITE_ROW) {
		rv = 0;
		if (sqlite3_column_bytes(s, 0) != LOSS_ID_LEN)
			continue;
		if (o->n == cap) {
			void *m = realloc(o->rows, (cap = cap ? cap * 2 : 64) * sizeof *o->rows);
			if (!m) {
				rv = -1;
				break;
			}
			o->rows = m;
		}
		struct ovrow *r = &o->rows[o->n++];
		memcpy(r->id, sqlite3_column_blob(s, 0), LOSS_ID_LEN);
		r->state = (uint8_t)sqlite3_column_int(s, 1);
		r->since = sqlite3_column_int64(s, 2);
		r->version = sqlite3_column_int64(s, 3);
	}
	sqlite3_reset(s);
	sqlite3_exec(l->db, "COMMIT", NULL, NULL, NULL);
	if (rv != SQLITE_DONE && rv != 0) {
		free(o->rows);
		free(o);
		return NULL;
	}
	snprintf(o->dir, sizeof o->dir, "%s", l->dir);
	o->gen = gen;
	o->refs = 1;
	return o;
}

static struct overlay *ov_current(struct losslist *l, bool force)
{
	long long g = atomic_load(&list_gen);
	struct overlay *o = NULL;
	if (!force && l->ov && l->ov->gen == g)
		return l->ov;
	pthread_mutex_lock(&idx_mu);
	for (o = force ? NULL : ov_all; o; o = o->next)
		if (o->gen == g && !strcmp(o->dir, l->dir))
			break;
	if (o)
		o->refs++;
	pthread_mutex_unlock(&idx_mu);
	if (!o) {
		if (!(o = ov_load(l, g)))
			return NULL;
		pthread_mutex_lock(&idx_mu);
		o->next = ov_all;
		ov_all = o;
		pthread_mutex_unlock(&idx_mu);
	}
	ov_put(l->ov);
	l->ov = o;
	return o;
}

static void bump(void)
{
	atomic_fetch_add(&list_gen, 1);
}

int losslist_lookup(struct losslist *l, const uint8_t id[LOSS_ID_LEN], struct loss_entry *e,
		    struct loss_info *i)
{
	struct loss_info tmp;
	if (!i)
		i = &tmp;
	memset(e, 0, sizeof *e);
	if (!sqlite3_get_autocommit(l->db)) { /* inside our own write: SQL, as it stands */
		if (read_meta(l, i) < 0 || use_base(l, i->base) < 0)
			return -1;
		return find(l, id, i->base, e);
	}
	for (int attempt = 0; attempt < 2; attempt++) {
		struct overlay *o = ov_current(l, attempt > 0);
		if (!o)
			return -1;
		*i = o->meta;
		int rv = use_base(l, i->base);
		if (!rv) {
			size_t a = 0, b = o->n;
			const struct ovrow *hit = NULL;
			while (a < b) {
				size_t mid = (a + b) / 2;
				int c = memcmp(o->rows[mid].id, id, LOSS_ID_LEN);
				if (!c) {
					hit = &o->rows[mid];
					break;
				}
				if (c < 0)
					a = mid + 1;
				else
					b = mid;
			}
			rv = hit ? settle(l, id, i->base, true, hit->state, hit->since, hit->version, e)
				 : settle(l, id, i->base, false, 0, 0, 0, e);
		}
		if (rv != -2)
			return rv;
	}
	return -1;
}

int losslist_info(struct losslist *l, struct loss_info *i)
{
	if (read_meta(l, i) < 0)
		return -1;
	sqlite3_stmt *s = l->st[S_COUNT];
	if (sqlite3_step(s) == SQLITE_ROW)
		i->changes = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	return 0;
}

static int set_meta(struct losslist *l, const char *key, int64_t v)
{
	sqlite3_stmt *s = l->st[S_SETMETA];
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, v);
	return run(l, S_SETMETA);
}

static int put_row(struct losslist *l, const uint8_t id[LOSS_ID_LEN], int state, int64_t since,
		   int64_t version, bool local)
{
	sqlite3_stmt *s = l->st[S_PUT];
	sqlite3_bind_blob(s, 1, id, LOSS_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_int(s, 2, state);
	sqlite3_bind_int64(s, 3, since);
	sqlite3_bind_int64(s, 4, version);
	sqlite3_bind_int(s, 5, local);
	return run(l, S_PUT);
}

static int del_row(struct losslist *l, const uint8_t id[LOSS_ID_LEN])
{
	sqlite3_bind_blob(l->st[S_DEL], 1, id, LOSS_ID_LEN, SQLITE_STATIC);
	return run(l, S_DEL);
}

int losslist_begin(struct losslist *l)
{
	struct loss_info i;
	if (!l->writable || sqlite3_exec(l->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return -1;
	l->d_entries = 0;
	if (read_meta(l, &i) < 0 || use_base(l, i.base) < 0) {
		losslist_abort(l);
		return -1;
	}
	return 0;
}

void losslist_abort(struct losslist *l)
{
	sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL);
	l->d_entries = 0;
}

/* One record of a delta. A card taken here keeps its local row while the
 * central's word about it is older than the report. */
int losslist_apply(struct losslist *l, const struct loss_rec *r, uint64_t version)
{
	struct row row;
	struct loss_rec x;
	int64_t since = (int64_t)r->day * 86400;
	if (r->state > LOSS_CANCELLED || get_row(l, r->id, &row) < 0)
		return -1;
	int in_idx = l->idx ? lossidx_lookup(l->idx->x, r->id, &x) : 0;
	if (in_idx < 0)
		return -1;
	bool was = row.found ? row.state != 0 : in_idx == 1;
	if (row.found && row.local && since < row.since - row.since % 86400)
		return 0;
	int rv = !r->state && !in_idx ? del_row(l, r->id)
				       : put_row(l, r->id, r->state, since, (int64_t)version, false);
	if (!rv)
		l->d_entries += (r->state != 0) - was;
	return rv;
}

int losslist_commit(struct losslist *l, uint64_t version, int64_t published)
{
	struct loss_info i;
	if (read_meta(l, &i) < 0 || set_meta(l, "version", (int64_t)version) < 0 ||
	    set_meta(l, "published", published > i.published ? published : i.published) < 0 ||
	    set_meta(l, "entries", i.entries + l->d_entries) < 0 ||
	    sqlite3_exec(l->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		losslist_abort(l);
		return -1;
	}
	bump();
	l->d_entries = 0;
	return 0;
}

int losslist_confirm(struct losslist *l, int64_t published)
{
	struct loss_info i;
	if (losslist_begin(l) < 0)
		return -1;
	if (read_meta(l, &i) < 0) {
		losslist_abort(l);
		return -1;
	}
	return losslist_commit(l, (uint64_t)i.version, published);
}

int losslist_put(struct losslist *l, const uint8_t id[LOSS_ID_LEN], enum loss_state s,
		 int64_t since)
{
	struct loss_entry e;
	struct loss_info i;
	if (!l->writable || s < LOSS_TEMPORARY || s > LOSS_CANCELLED || losslist_begin(l) < 0)
		return -1;
	int was = find(l, id, 0, &e);
	if (was < 0 || put_row(l, id, (int)s, since, 0, true) < 0 || read_meta(l, &i) < 0) {
		losslist_abort(l);
		return -1;
	}
	l->d_entries = 1 - was;
	return losslist_commit(l, (uint64_t)i.version, i.published);
}

/* ---- snapshot import ---------------------------------------------------- */

static int import_rec(void *arg, const struct loss_rec *r)
{
	return lossidx_writer_add(arg, r) < 0 ? 1 : 0;
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rv = fsync(fd);
	close(fd);
	return rv;
}

/* After the new index is on disk: drop the central's old changes, keep the
 * local reports it does not supersede, count, switch base. In the caller's
 * write transaction. */
static int switch_base(struct losslist *l, struct shidx *nx, int64_t published)
{
	sqlite3_stmt *s = l->st[S_LOCALS];
	struct loss_info i;
	int64_t entries = (int64_t)lossidx_count(nx->x);
	uint8_t (*drop)[LOSS_ID_LEN] = NULL;
	size_t n_drop = 0;
	int rv = 0;
	if (read_meta(l, &i) < 0 ||
	    sqlite3_exec(l->db, "DELETE FROM changes WHERE local = 0", NULL, NULL, NULL) != SQLITE_OK)
		return -1;
	while (!rv && (rv = sqlite3_step(s)) == SQLITE_ROW) {
		struct loss_rec x;
		const void *id = sqlite3_column_blob(s, 0);
		int64_t since = sqlite3_column_int64(s, 2);
		if (!id || sqlite3_column_bytes(s, 0) != LOSS_ID_LEN) {
			rv = -1;
			break;
		}
		int in = lossidx_lookup(nx->x, id, &x);
		if (in < 0) {
			rv = -1;
		} else if (in == 1 && (int64_t)x.day * 86400 >= since - since % 86400) {
			void *m = realloc(drop, (n_drop + 1) * sizeof *drop);
			if (!m) {
				rv = -1;
				break;
			}
			drop = m;
			memcpy(drop[n_drop++], id, LOSS_ID_LEN); /* the central knows better */
		} else if (!in)
			entries++;
		rv = 0;
	}
	sqlite3_reset(s);
	if (rv != SQLITE_DONE && rv != 0)
		rv = -1;
	else
		rv = 0;
	for (size_t k = 0; !rv && k < n_drop; k++)
		rv = del_row(l, drop[k]);
	free(drop);
	if (rv || set_meta(l, "base", nx->version) < 0 || set_meta(l, "version", nx->version) < 0 ||
	    set_meta(l, "published", published) < 0 || set_meta(l, "entries", entries) < 0)
		return -1;
	return 0;
}

int losslist_import(struct losslist *l, const uint8_t *snap, size_t len, int64_t published,
		    char *err, size_t errlen)
{
	struct lossfmt_file f;
	char path[512], derr[1024];
	uint64_t v = 0;
	if (!l->writable)
		return snprintf(err, errlen, "the list is open read-only"), -1;
	if (len < 24 || memcmp(snap, "SSLSNAP1", 8))
		return snprintf(err, errlen, "not a snapshot"), -1;
	for (int k = 16; k < 24; k++)
		v = v << 8 | snap[k];
	if (!v || v > INT64_MAX)
		return snprintf(err, errlen, "a snapshot of version 0"), -1;
	idx_path(path, sizeof path, l->dir, (int64_t)v);
	struct lossidx_writer *w = lossidx_writer_open(path, v);
	if (!w)
		return snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno)), -1;
	int rv = lossfmt_decode(snap, len, &f, import_rec, w, derr, sizeof derr);
	if (rv > 0)
		snprintf(derr, sizeof derr, "cannot write %s (disk full?)", path);
	else if (!rv && f.delta)
		rv = -1, snprintf(derr, sizeof derr, "a delta where a snapshot was expected");
	errno = 0;
	if (lossidx_writer_finish(w, rv == 0) < 0) {
		if (!rv)
			snprintf(derr, sizeof derr, "cannot write %s: %s", path,
				 errno ? strerror(errno) : "disk full?");
		rv = -1;
	}
	if (!rv && fsync_dir(l->dir) < 0)
		rv = -1, snprintf(derr, sizeof derr, "cannot sync %s: %s", l->dir, strerror(errno));
	if (rv)
		return snprintf(err, errlen, "%s", derr), -1;

	/* the new file is whole on disk; one commit switches to it */
	struct shidx *nx = idx_get(l->dir, (int64_t)v), *old = l->idx;
	if (!nx) {
		unlink(path);
		return snprintf(err, errlen, "cannot open the new index %s", path), -1;
	}
	if (sqlite3_exec(l->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
	    switch_base(l, nx, published) < 0 ||
	    sqlite3_exec(l->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot switch to version %llu: %s", (unsigned long long)v,
			 sqlite3_errmsg(l->db));
		sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL);
		idx_put(nx);
		if (!old || old->version != (int64_t)v)
			unlink(path);
		return -1;
	}
	bump();
	l->idx = nx;
	if (old && old->version != (int64_t)v) {
		idx_path(path, sizeof path, l->dir, old->version);
		unlink(path); /* readers holding it keep their open file */
	}
	idx_put(old);
	return 0;
}

int losslist_check_card(const char *path, struct losslist **l, const char *card_id,
			struct loss_entry *e, struct loss_info *i)
{
	uint8_t id[LOSS_ID_LEN];
	char err[256];
	if (!card_id || !loss_id_parse(card_id, id))
		return -1;
	if (!*l && losslist_open(path, false, l, err, sizeof err) < 0) {
		log_msg(LOG_ERR, "loss list: %s", err);
		return -1;
	}
	int rc = losslist_lookup(*l, id, e, i);
	if (rc < 0) {
		losslist_close(*l);
		*l = NULL;
	}
	return rc;
}
