/* outbox.c — durable requests to the central (see outbox.h). */
#include "daemon/outbox/outbox.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "daemon/http.h"
#include "daemon/json.h"
#include "daemon/log.h"
#include "daemon/mask.h"
#include "daemon/notify.h"

#define REPLY_MAX (64 * 1024)
#define OUTBOX_KEEP_DAYS 30     /* delivered requests, for `outbox` and support */

struct outbox {
	sqlite3 *db;                 /* the loop's connection */
	char path[300];
	pthread_t th;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool kick;
	atomic_bool stopping;
	struct config cfg;           /* under mu */
	struct notifier *nt;
	outbox_emit_fn emit;
	void *arg;
	outbox_taken_fn taken;
	void *taken_arg;
	long long delivered, refused, retried; /* since start, sender only */
	char last_error[400];        /* under mu */
};

static const char SCHEMA[] =
	"PRAGMA journal_mode=WAL;"
	"CREATE TABLE IF NOT EXISTS requests("
	" id INTEGER PRIMARY KEY,"
	" key TEXT UNIQUE NOT NULL,"
	" ref TEXT NOT NULL,"
	" type TEXT NOT NULL,"
	" card_id TEXT NOT NULL,"
	" body TEXT NOT NULL,"
	" state TEXT NOT NULL DEFAULT 'pending',"   /* pending, delivered, failed */
	" created INTEGER NOT NULL,"
	" attempts INTEGER NOT NULL DEFAULT 0,"
	" next_at INTEGER NOT NULL DEFAULT 0,"
	" last_error TEXT,"
	" reply TEXT,"
	" done_at INTEGER);"
	"CREATE INDEX IF NOT EXISTS requests_pending ON requests(state, card_id, id);"
	/* fees being paid at this terminal: kept until what was paid for is
	 * filed as a request, or the order is known cancelled */
	"CREATE TABLE IF NOT EXISTS orders("
	" order_id TEXT PRIMARY KEY,"
	" card_id TEXT NOT NULL,"
	" fields TEXT NOT NULL,"
	" created INTEGER NOT NULL);";

static const char *const TYPES[] = {"loss_report", "loss_cancel", "replacement", "activation",
				    "pin_changed", "pin_reset", NULL};

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

static int open_db(const char *path, sqlite3 **db, char *err, size_t errlen)
{
	/* the busy timeout before the schema: another reader of the file (a
	 * technician's sqlite3, a backup) holding a lock at start must not make
	 * the daemon refuse requests ("database is locked") */
	if (sqlite3_open_v2(path, db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK ||
	    sqlite3_busy_timeout(*db, 5000) != SQLITE_OK ||
	    sqlite3_exec(*db, SCHEMA, NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(*db, "PRAGMA synchronous=FULL", NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, *db ? sqlite3_errmsg(*db) : "out of memory");
		sqlite3_close(*db);
		*db = NULL;
		return -1;
	}
	return 0;
}

/* For the package's removal: how many requests the central has not taken
 * (pending, or refused and waiting for a person), read-only, without the
 * daemon. A missing file is 0. */
long long outbox_undelivered(const char *state_dir, char *err, size_t errlen)
{
	char path[4096];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	long long n = -1;
	snprintf(path, sizeof path, "%s/" OUTBOX_FILE, state_dir);
	if (access(path, F_OK) < 0 && errno == ENOENT)
		return 0;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "SELECT count(*) FROM requests WHERE state <> 'delivered'", -1,
			       &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW)
		snprintf(err, errlen, "%s: %s", path, db ? sqlite3_errmsg(db) : "out of memory");
	else
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

/* ---- judging an answer --------------------------------------------------- */

enum outbox_verdict outbox_judge(long status, const char *body, size_t len, char *code,
				 size_t code_cap, char *msg, size_t msg_cap)
{
	json_error_t je;
	json_t *j = body && len ? json_loadb(body, len, 0, &je) : NULL;
	const char *c = json_string_value(json_object_get(j, "error"));
	const char *m = json_string_value(json_object_get(j, "message"));
	snprintf(code, code_cap, "%s", c ? c : status >= 200 && status < 300 ? "ok" : "http_error");
	if (m)
		snprintf(msg, msg_cap, "%s", m);
	else
		snprintf(msg, msg_cap, "the central answered HTTP %ld", status);
	json_decref(j);
	if (status >= 200 && status < 300)
		return OUTBOX_DELIVERED;
	/* timeouts, too early, too many, the central's own trouble, redirects
	 * (not followed: a wrong url), and this terminal not (yet) let in — a
	 * token or certificate a technician will fix — are not the central's
	 * word on the request: again later */
	if (status == 401 || status == 403 || status == 408 || status == 425 || status == 429 ||
	    status >= 500 || status < 200 || (status >= 300 && status < 400))
		return OUTBOX_RETRY;
	return OUTBOX_REFUSED; /* a 4xx is the central's final word on this request */
}

/* ---- the sender ---------------------------------------------------------- */

struct sink {
	char *buf;
	size_t len;
};

static size_t on_data(char *p, size_t size, size_t nmemb, void *arg)
{
	struct sink *k = arg;
	size_t n = size * nmemb;
	if (k->len + n > REPLY_MAX)
		return 0;
	char *m = realloc(k->buf, k->len + n + 1);
	if (!m)
		return 0;
	memcpy(m + k->len, p, n);
	k->buf = m;
	k->len += n;
	m[k->len] = 0;
	return n;
}

static int on_progress(void *arg, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	return atomic_load(&((struct outbox *)arg)->stopping) ? 1 : 0;
}

struct job {
	long long id;
	char key[33], ref[24], type[16], card[33];
	char *body;
	int attempts;
};

/* The oldest pending request of any card whose older requests are all
 * settled, and due now. 1 found, 0 none, -1 error. A request due further
 * ahead than the longest back-off (max_s) was scheduled by a clock since
 * set back: it is due now, not in two months. */
static int next_job(sqlite3 *db, struct job *j, int64_t *next_due, unsigned max_s)
{
	sqlite3_stmt *s;
	int rv = 0;
	*next_due = 0;
	sqlite3_prepare_v2(db,
			   "SELECT id, key, ref, type, card_id, body, attempts, next_at FROM requests r"
			   " WHERE state = 'pending' AND id = (SELECT min(id) FROM requests p"
			   "  WHERE p.state = 'pending' AND p.card_id = r.card_id)"
			   " ORDER BY next_at, id LIMIT 1",
			   -1, &s, NULL);
	int st = sqlite3_step(s);
	if (st == SQLITE_ROW) {
		int64_t at = sqlite3_column_int64(s, 7), now = now_s();
		if (at > now && at - now <= (int64_t)max_s + 1) {
			*next_due = at;
		} else {
			j->id = sqlite3_column_int64(s, 0);
			snprintf(j->key, sizeof j->key, "%s", (const char *)sqlite3_column_text(s, 1));
			snprintf(j->ref, sizeof j->ref, "%s", (const char *)sqlite3_column_text(s, 2));
			snprintf(j->type, sizeof j->type, "%s", (const char *)sqlite3_column_text(s, 3));
			snprintf(j->card, sizeof j->card, "%s", (const char *)sqlite3_column_text(s, 4));
			j->body = strdup((const char *)sqlite3_column_text(s, 5));
			j->attempts = sqlite3_column_int(s, 6);
			rv = j->body ? 1 : -1;
		}
	} else if (st != SQLITE_DONE)
		rv = -1;
	sqlite3_finalize(s);
	return rv;
}

static void settle(struct outbox *o, sqlite3 *db, const struct job *j, const char *state,
		   int64_t next_at, const char *error, const char *reply)
{
	sqlite3_stmt *s;
	/* a full disk may pass; if it does not, the row stays pending and is
	 * sent again later (the key makes that harmless) */
	for (int tries = 0; tries < 50 && !atomic_load(&o->stopping); tries++) {
		sqlite3_prepare_v2(db, "UPDATE requests SET state = ?, attempts = attempts + 1,"
				       " next_at = ?, last_error = ?, reply = ?, done_at = ? WHERE id = ?",
				   -1, &s, NULL);
		sqlite3_bind_text(s, 1, state, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 2, next_at);
		sqlite3_bind_text(s, 3, error, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 4, reply, -1, SQLITE_STATIC);
		if (strcmp(state, "pending"))
			sqlite3_bind_int64(s, 5, now_s());
		else
			sqlite3_bind_null(s, 5);
		sqlite3_bind_int64(s, 6, j->id);
		int rc = sqlite3_step(s);
		sqlite3_finalize(s);
		if (rc == SQLITE_DONE)
			return;
		log_at(LOG_ERR, NULL, "outbox_unavailable", "outbox: cannot record request %s: %s",
		       j->ref, sqlite3_errmsg(db));
		sleep(1); /* it stays pending: delivered again later, the key makes that harmless */
	}
}

/* ± 50 % around 2^attempts seconds, at most retry_max_s */
static int64_t backoff(int attempts, unsigned max_s)
{
	double base = attempts >= 16 ? 65536.0 : (double)(1u << attempts);
	if (base > max_s)
		base = max_s;
	double jitter = 0.5 + randombytes_uniform(1001) / 1000.0;
	int64_t d = (int64_t)(base * jitter + 0.5);
	return d < 1 ? 1 : d;
}

static void deliver(struct outbox *o, sqlite3 *db, CURL *h, const struct config *cfg,
		    const struct job *j)
{
	char url[300], err[CURL_ERROR_SIZE] = "", hdr_key[80];
	char code[64], msg[300], masked[40];
	struct curl_slist *hdr = NULL;
	struct sink k = {0};
	long status = 0;
	snprintf(url, sizeof url, "%s/v1/requests", cfg->url);
	snprintf(hdr_key, sizeof hdr_key, "Idempotency-Key: %s", j->key);
	hdr = http_headers(curl_slist_append(hdr, hdr_key), cfg);
	http_common(h, cfg, err);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, j->body);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)cfg->timeout_ms);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, o);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &k);
	CURLcode rc = curl_easy_perform(h);
	curl_slist_free_all(hdr);
	if (rc == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	enum outbox_verdict v = OUTBOX_RETRY;
	if (rc != CURLE_OK && http_clock_error(rc, err, msg, sizeof msg)) {
		snprintf(code, sizeof code, "clock_wrong");
	} else if (rc != CURLE_OK) {
		snprintf(code, sizeof code, "unreachable");
		snprintf(msg, sizeof msg, "%s", *err ? err : curl_easy_strerror(rc));
	} else
		v = outbox_judge(status, k.buf, k.len, code, sizeof code, msg, sizeof msg);
	mask_id(j->card, masked, sizeof masked);
	if (v == OUTBOX_DELIVERED) {
		settle(o, db, j, "delivered", 0, NULL, k.buf);
		o->delivered++;
		json_t *r = k.buf ? json_loads(k.buf, 0, NULL) : NULL;
		log_msg(LOG_INFO, "outbox: %s %s for %s delivered (%s)", j->ref, j->type, masked,
			json_string_value(json_object_get(r, "reference")) ?: "no reference");
		notifier_post(o->nt, json_pack("{s:s,s:s,s:s,s:s,s:o}", "event", "outbox_delivered",
					       "reference", j->ref, "type", j->type, "card", masked,
					       "central", r ? json_incref(json_object_get(r, "reference"))
							    : json_null()));
		json_decref(r);
	} else if (v == OUTBOX_REFUSED) {
		char e[400];
		snprintf(e, sizeof e, "%s: %s", code, msg);
		settle(o, db, j, "failed", 0, e, k.buf);
		o->refused++;
		log_at(LOG_WARNING, NULL, code, "outbox: %s %s for %s refused by the central: %s",
		       j->ref, j->type, masked, msg);
		notifier_post(o->nt, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "event", "outbox_failed",
					       "reference", j->ref, "type", j->type, "card", masked,
					       "error", code, "message", msg));
	} else {
		char e[400];
		snprintf(e, sizeof e, "%s: %s", code, msg);
		int64_t d = backoff(j->attempts + 1, cfg->retry_max_s);
		settle(o, db, j, "pending", now_s() + d, e, NULL);
		o->retried++;
		pthread_mutex_lock(&o->mu);
		snprintf(o->last_error, sizeof o->last_error, "%s", e);
		pthread_mutex_unlock(&o->mu);
		log_msg(j->attempts < 3 ? LOG_NOTICE : LOG_DEBUG,
			"outbox: %s %s not delivered (%s); again in %lld s", j->ref, j->type, e,
			(long long)d);
	}
	free(k.buf);
}

static void *run(void *arg)
{
	struct outbox *o = arg;
	sqlite3 *db = NULL;
	char err[400];
	CURL *h = curl_easy_init();
	if (open_db(o->path, &db, err, sizeof err) < 0)
		log_at(LOG_ERR, NULL, "outbox_unavailable", "outbox sender: %s", err);
	int64_t pruned = 0;
	while (!atomic_load(&o->stopping)) {
		if (db && now_s() - pruned > 3600) { /* delivered rows are kept 30 days, then go */
			char sql[160];
			snprintf(sql, sizeof sql, "DELETE FROM requests WHERE state = 'delivered' AND done_at < %lld",
				 (long long)(now_s() - OUTBOX_KEEP_DAYS * 86400LL));
			sqlite3_exec(db, sql, NULL, NULL, NULL);
			pruned = now_s();
		}
		struct config cfg;
		pthread_mutex_lock(&o->mu);
		cfg = o->cfg;
		o->kick = false;
		pthread_mutex_unlock(&o->mu);
		int64_t due = 0;
		struct job j = {0};
		int got = db && h && *cfg.url ? next_job(db, &j, &due, cfg.retry_max_s) : 0;
		if (got == 1) {
			deliver(o, db, h, &cfg, &j);
			free(j.body);
			continue;
		}
		/* nothing due: sleep until the next one is, a new request, or the end */
		pthread_mutex_lock(&o->mu);
		/* on CLOCK_MONOTONIC: a clock set while we sleep moves nothing */
		int64_t wait_s = due ? due - now_s() : (got < 0 ? 5 : 60);
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += wait_s < 0 ? 0 : wait_s > 3600 ? 3600 : wait_s;
		while (!o->kick && !atomic_load(&o->stopping))
			if (pthread_cond_timedwait(&o->cv, &o->mu, &ts) == ETIMEDOUT)
				break;
		pthread_mutex_unlock(&o->mu);
	}
	sqlite3_close(db);
	if (h)
		curl_easy_cleanup(h);
	return NULL;
}

/* ---- the loop's side ----------------------------------------------------- */

static void on_notify(void *arg, json_t *ev)
{
	struct outbox *o = arg;
	if (json_is_object(ev))
		o->emit(o->arg, ev);
}

int outbox_start(sd_event *ev, const struct config *cfg, outbox_emit_fn emit, void *arg,
		 struct outbox **out, char *err, size_t errlen)
{
	struct outbox *o = calloc(1, sizeof *o);
	pthread_condattr_t ca;
	*out = NULL;
	if (!o)
		return snprintf(err, errlen, "out of memory"), -1;
	o->cfg = *cfg;
	o->emit = emit;
	o->arg = arg;
	pthread_mutex_init(&o->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&o->cv, &ca);
	pthread_condattr_destroy(&ca);
	snprintf(o->path, sizeof o->path, "%s/" OUTBOX_FILE, cfg->state_dir);
	if (notifier_new(ev, on_notify, o, &o->nt) < 0) {
		outbox_stop(o);
		return snprintf(err, errlen, "cannot make the outbox's event channel"), -1;
	}
	*out = o; /* even when the database cannot be opened: requests are refused, plainly */
	if (open_db(o->path, &o->db, err, errlen) < 0)
		return -1;
	if (pthread_create(&o->th, NULL, run, o))
		return snprintf(err, errlen, "cannot start the outbox sender"), -1;
	o->started = true;
	return 0;
}

void outbox_stop(struct outbox *o)
{
	if (!o)
		return;
	atomic_store(&o->stopping, true);
	pthread_mutex_lock(&o->mu);
	pthread_cond_signal(&o->cv);
	pthread_mutex_unlock(&o->mu);
	if (o->started)
		pthread_join(o->th, NULL);
	notifier_free(o->nt);
	sqlite3_close(o->db);
	pthread_cond_destroy(&o->cv);
	pthread_mutex_destroy(&o->mu);
	free(o);
}

void outbox_reconfigure(struct outbox *o, const struct config *cfg)
{
	if (!o)
		return;
	pthread_mutex_lock(&o->mu);
	o->cfg = *cfg;
	o->kick = true;
	pthread_cond_signal(&o->cv);
	pthread_mutex_unlock(&o->mu);
}

static bool hex32(const char *s)
{
	return s && strlen(s) == 32 && strspn(s, "0123456789abcdefABCDEF") == 32;
}

static void upper(char *s)
{
	for (; *s; s++)
		if (*s >= 'a' && *s <= 'f')
			*s = (char)(*s - 32);
}

static bool find_key(sqlite3 *db, const char *key, struct outbox_receipt *r, char *type,
		     char *card)
{
	sqlite3_stmt *s;
	bool found = false;
	sqlite3_prepare_v2(db, "SELECT id, ref, type, card_id FROM requests WHERE key = ?", -1, &s, NULL);
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW) {
		found = true;
		r->id = sqlite3_column_int64(s, 0);
		snprintf(r->reference, sizeof r->reference, "%s", (const char *)sqlite3_column_text(s, 1));
		snprintf(type, 16, "%s", (const char *)sqlite3_column_text(s, 2));
		snprintf(card, 33, "%s", (const char *)sqlite3_column_text(s, 3));
	}
	sqlite3_finalize(s);
	return found;
}

void outbox_on_taken(struct outbox *o, outbox_taken_fn fn, void *arg)
{
	if (o) {
		o->taken = fn;
		o->taken_arg = arg;
	}
}

enum ss_err outbox_add(struct outbox *o, const char *type, const char *card_id, json_t *fields,
		       const char *key, struct outbox_receipt *r, char *err, size_t errlen)
{
	char card[33], t[16], c[33];
	bool known = false;
	memset(r, 0, sizeof *r);
	r->listed_here = -1;
	for (int i = 0; TYPES[i]; i++)
		known |= !strcmp(type, TYPES[i]);
	if (!known)
		return snprintf(err, errlen, "A request is loss_report, loss_cancel, replacement, activation, pin_changed or pin_reset, not '%.32s'.", type),
		       SS_E_INVALID;
	if (!hex32(card_id))
		return snprintf(err, errlen, "A card id (卡识别码) is 32 hexadecimal digits."), SS_E_INVALID;
	if (key && !hex32(key))
		return snprintf(err, errlen, "An idempotency key is 32 hexadecimal digits."), SS_E_INVALID;
	if (!o || !o->db)
		return snprintf(err, errlen, "%s", ss_err_text(SS_E_OUTBOX)), SS_E_OUTBOX;
	snprintf(card, sizeof card, "%s", card_id);
	upper(card);
	if (key) {
		snprintf(r->key, sizeof r->key, "%s", key);
		for (char *p = r->key; *p; p++)
			if (*p >= 'A' && *p <= 'F')
				*p = (char)(*p + 32);
		if (find_key(o->db, r->key, r, t, c)) { /* the same request again */
			if (strcmp(t, type) || strcmp(c, card))
				return snprintf(err, errlen, "This idempotency key belongs to another request."),
				       SS_E_INVALID;
			r->duplicate = true;
			return SS_OK;
		}
	} else {
		uint8_t b[16];
		randombytes_buf(b, sizeof b);
		sodium_bin2hex(r->key, sizeof r->key, b, sizeof b);
	}
	json_t *body = json_is_object(fields) ? json_deep_copy(fields) : json_object();
	time_t now = time(NULL);
	struct tm tm;
	localtime_r(&now, &tm);
	json_object_set_new(body, "type", json_string(type));
	json_object_set_new(body, "card_id", json_string(card));
	json_object_set_new(body, "created", json_integer((json_int_t)now));
	char *text = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(body);
	sqlite3_stmt *s = NULL;
	int rc = !text ? SQLITE_NOMEM : sqlite3_exec(o->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(o->db, "INSERT INTO requests(key, ref, type, card_id, body, created)"
					       " VALUES(?, '', ?, ?, ?, ?)", -1, &s, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(s, 1, r->key, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, type, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 3, card, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 4, text, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 5, (sqlite3_int64)now);
		rc = sqlite3_step(s) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(o->db);
	}
	sqlite3_finalize(s);
	if (rc == SQLITE_OK) {
		r->id = sqlite3_last_insert_rowid(o->db);
		snprintf(r->reference, sizeof r->reference, "R%02d%02d-%04lld", tm.tm_mon + 1,
			 tm.tm_mday, r->id);
		sqlite3_prepare_v2(o->db, "UPDATE requests SET ref = ? WHERE id = ?", -1, &s, NULL);
		sqlite3_bind_text(s, 1, r->reference, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 2, r->id);
		rc = sqlite3_step(s) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(o->db);
		sqlite3_finalize(s);
	}
	/* the commit is the promise: synchronous=FULL, on disk before we answer */
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(o->db, "COMMIT", NULL, NULL, NULL);
	free(text);
	if (rc != SQLITE_OK) {
		const char *why = sqlite3_errmsg(o->db);
		sqlite3_exec(o->db, "ROLLBACK", NULL, NULL, NULL);
		log_at(LOG_ERR, NULL, "outbox_unavailable", "outbox: cannot take a %s request: %s",
		       type, why);
		snprintf(err, errlen, "%s (%s)", ss_err_text(SS_E_OUTBOX),
			 rc == SQLITE_FULL ? "the disk is full" : why);
		memset(r, 0, sizeof *r);
		r->listed_here = -1;
		return SS_E_OUTBOX;
	}
	pthread_mutex_lock(&o->mu);
	o->kick = true;
	pthread_cond_signal(&o->cv);
	pthread_mutex_unlock(&o->mu);
	if (o->taken)
		r->listed_here = o->taken(o->taken_arg, type, card, fields);
	return SS_OK;
}

json_t *outbox_request_verb(struct outbox *o, const char *arg)
{
	char copy[512], *save, *w, err[400];
	const char *type = NULL, *card = NULL, *key = NULL;
	json_t *fields = json_object();
	snprintf(copy, sizeof copy, "%s", arg);
	for (w = strtok_r(copy, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
		char *eq = strchr(w, '=');
		if (!type)
			type = w;
		else if (!card)
			card = w;
		else if (eq && eq != w) {
			*eq = 0;
			const char *v = eq + 1;
			char *end;
			long long n = strtoll(v, &end, 10);
			if (!strcmp(w, "key"))
				key = v;
			else if (!strcmp(v, "yes") || !strcmp(v, "true"))
				json_object_set_new(fields, w, json_true());
			else if (!strcmp(v, "no") || !strcmp(v, "false"))
				json_object_set_new(fields, w, json_false());
			else if (*v && !*end)
				json_object_set_new(fields, w, json_integer(n));
			else
				json_object_set_new(fields, w, json_string(v));
		} else {
			json_decref(fields);
			return json_error(SS_E_INVALID, "request TYPE CARD_ID [name=value …] [key=32HEX]");
		}
	}
	struct outbox_receipt r;
	enum ss_err e = card ? outbox_add(o, type, card, fields, key, &r, err, sizeof err)
			     : (snprintf(err, sizeof err, "request TYPE CARD_ID [name=value …] [key=32HEX]"),
				SS_E_INVALID);
	json_decref(fields);
	if (e != SS_OK)
		return json_error(e, err);
	json_t *j = json_pack("{s:b,s:s,s:s,s:I,s:b}", "ok", 1, "reference", r.reference, "key",
			      r.key, "id", (json_int_t)r.id, "duplicate", r.duplicate);
	if (r.listed_here >= 0)
		json_object_set_new(j, "listed_here", json_boolean(r.listed_here));
	return j;
}

static void counts(struct outbox *o, json_t *j)
{
	sqlite3_stmt *s;
	json_object_set_new(j, "pending", json_integer(0));
	json_object_set_new(j, "failed", json_integer(0));
	json_object_set_new(j, "delivered", json_integer(0));
	if (!o || !o->db)
		return;
	sqlite3_prepare_v2(o->db, "SELECT state, count(*), min(created) FROM requests GROUP BY state", -1,
			   &s, NULL);
	while (sqlite3_step(s) == SQLITE_ROW) {
		const char *st = (const char *)sqlite3_column_text(s, 0);
		json_object_set_new(j, st, json_integer(sqlite3_column_int64(s, 1)));
		if (!strcmp(st, "pending"))
			json_object_set_new(j, "oldest_pending_s",
					    json_integer(now_s() - sqlite3_column_int64(s, 2)));
	}
	sqlite3_finalize(s);
	pthread_mutex_lock(&o->mu);
	if (*o->last_error)
		json_object_set_new(j, "last_error", json_string(o->last_error));
	pthread_mutex_unlock(&o->mu);
}

void outbox_add_status(struct outbox *o, json_t *status)
{
	json_t *j = json_object();
	json_object_set_new(j, "available", json_boolean(o && o->db));
	counts(o, j);
	json_object_set_new(status, "outbox", j);
}

json_t *outbox_list_json(struct outbox *o)
{
	if (!o || !o->db)
		return json_error(SS_E_OUTBOX, NULL);
	json_t *j = json_pack("{s:b}", "ok", 1), *items = json_array();
	sqlite3_stmt *s;
	counts(o, j);
	sqlite3_prepare_v2(o->db, "SELECT id, ref, type, card_id, state, created, attempts, next_at,"
				  " ifnull(last_error, '') FROM requests WHERE state != 'delivered'"
				  " ORDER BY id LIMIT 200", -1, &s, NULL);
	while (sqlite3_step(s) == SQLITE_ROW) {
		char m[40];
		mask_id((const char *)sqlite3_column_text(s, 3), m, sizeof m);
		json_t *it = json_pack("{s:I,s:s,s:s,s:s,s:s,s:I,s:i,s:s}", "id",
				       (json_int_t)sqlite3_column_int64(s, 0), "reference",
				       (const char *)sqlite3_column_text(s, 1), "type",
				       (const char *)sqlite3_column_text(s, 2), "card", m, "state",
				       (const char *)sqlite3_column_text(s, 4), "age_s",
				       (json_int_t)(now_s() - sqlite3_column_int64(s, 5)), "attempts",
				       sqlite3_column_int(s, 6), "last_error",
				       (const char *)sqlite3_column_text(s, 8));
		if (!strcmp((const char *)sqlite3_column_text(s, 4), "pending"))
			json_object_set_new(it, "next_try_in_s",
					    json_integer(sqlite3_column_int64(s, 7) - now_s()));
		json_array_append_new(items, it);
	}
	sqlite3_finalize(s);
	json_object_set_new(j, "items", items);
	return j;
}

json_t *outbox_retry(struct outbox *o, const char *id)
{
	char *end;
	long long n = strtoll(id, &end, 10);
	if (!*id || *end || n <= 0)
		return json_error(SS_E_INVALID, "outbox retry ID (the number `sscardctl outbox` shows)");
	if (!o || !o->db)
		return json_error(SS_E_OUTBOX, NULL);
	sqlite3_stmt *s;
	sqlite3_prepare_v2(o->db, "UPDATE requests SET state = 'pending', next_at = 0 WHERE id = ?"
				  " AND state = 'failed'", -1, &s, NULL);
	sqlite3_bind_int64(s, 1, n);
	int rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return json_error(SS_E_OUTBOX, sqlite3_errmsg(o->db));
	if (!sqlite3_changes(o->db))
		return json_error(SS_E_INVALID, "No failed request with that number.");
	outbox_reconfigure(o, &o->cfg); /* wake the sender */
	return json_pack("{s:b,s:I,s:s}", "ok", 1, "id", (json_int_t)n, "state", "pending");
}

/* ---- orders: a fee paid at this terminal (issue 29) ---------------------- */

enum ss_err outbox_order_open(struct outbox *o, const char *order_id, const char *card_id, json_t *fields,
			      char *err, size_t errlen)
{
	char *text = json_dumps(fields, JSON_COMPACT | JSON_SORT_KEYS);
	sqlite3_stmt *s = NULL;
	int rc = !o || !o->db || !text ? SQLITE_ERROR
		 : sqlite3_prepare_v2(o->db, "INSERT OR IGNORE INTO orders VALUES(?, upper(?), ?, ?)", -1, &s,
				      NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(s, 1, order_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, card_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 3, text, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 4, (sqlite3_int64)time(NULL));
		rc = sqlite3_step(s) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
	}
	sqlite3_finalize(s);
	free(text);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s (%s)", ss_err_text(SS_E_OUTBOX), o && o->db ? sqlite3_errmsg(o->db) : "closed");
		log_at(LOG_ERR, NULL, "outbox_unavailable", "outbox: cannot keep an order: %s", err);
		return SS_E_OUTBOX;
	}
	return SS_OK;
}

/* The request's idempotency key for an order: the same whoever files it
 * (the flow that saw it paid, or the reconciliation after a restart). */
static void order_key(const char *order_id, char key[33])
{
	uint8_t h[16];
	crypto_generichash(h, sizeof h, (const uint8_t *)order_id, strlen(order_id),
			   (const uint8_t *)"sscard-order-key", 16);
	sodium_bin2hex(key, 33, h, sizeof h);
}

enum ss_err outbox_order_paid(struct outbox *o, const char *order_id, const char *card_id, json_t *fields,
			      struct outbox_receipt *r, char *err, size_t errlen)
{
	char key[33], card[33];
	json_t *f = NULL;
	sqlite3_stmt *s = NULL;
	snprintf(card, sizeof card, "%s", card_id ? card_id : "");
	if (o && o->db && sqlite3_prepare_v2(o->db, "SELECT card_id, fields FROM orders WHERE order_id = ?", -1, &s,
					     NULL) == SQLITE_OK) {
		sqlite3_bind_text(s, 1, order_id, -1, SQLITE_STATIC);
		if (sqlite3_step(s) == SQLITE_ROW) {
			snprintf(card, sizeof card, "%s", (const char *)sqlite3_column_text(s, 0));
			f = json_loads((const char *)sqlite3_column_text(s, 1), 0, NULL);
		}
	}
	sqlite3_finalize(s);
	if (!f)
		f = fields ? json_deep_copy(fields) : json_object();
	json_object_set_new(f, "order_id", json_string(order_id));
	order_key(order_id, key);
	enum ss_err e = outbox_add(o, "replacement", card, f, key, r, err, errlen);
	json_decref(f);
	if (e == SS_OK)
		outbox_order_close(o, order_id);
	return e;
}

void outbox_order_close(struct outbox *o, const char *order_id)
{
	sqlite3_stmt *s;
	if (!o || !o->db || sqlite3_prepare_v2(o->db, "DELETE FROM orders WHERE order_id = ?", -1, &s, NULL))
		return;
	sqlite3_bind_text(s, 1, order_id, -1, SQLITE_STATIC);
	sqlite3_step(s);
	sqlite3_finalize(s);
}

json_t *outbox_orders(struct outbox *o)
{
	json_t *a = json_array();
	sqlite3_stmt *s;
	if (!o || !o->db ||
	    sqlite3_prepare_v2(o->db, "SELECT order_id, card_id, created FROM orders ORDER BY created", -1, &s, NULL))
		return a;
	while (sqlite3_step(s) == SQLITE_ROW)
		json_array_append_new(a, json_pack("{s:s,s:s,s:I}", "order_id", (const char *)sqlite3_column_text(s, 0),
						   "card_id", (const char *)sqlite3_column_text(s, 1), "age_s",
						   (json_int_t)(time(NULL) - sqlite3_column_int64(s, 2))));
	sqlite3_finalize(s);
	return a;
}
