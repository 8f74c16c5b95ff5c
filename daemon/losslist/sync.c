/* sync.c — the loss list sync thread (see sync.h). */
#include "daemon/losslist/sync.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daemon/http.h"
#include "daemon/log.h"
#include "daemon/notify.h"
#include "daemon/losslist/lossfmt.h"
#include "daemon/losslist/fresh.h"
#include "daemon/losslist/losslist.h"

#define SNAPSHOT_PART "snapshot.part"   /* in state_dir while downloading */
#define DELTA_MAX (64u << 20)           /* bytes of one delta we accept */

/* What one poll came to. code is a stable word for programs; message a
 * sentence for people. */
struct result {
	int64_t at;                  /* unix seconds (as this clock says: shown, never computed with) */
	int64_t mono_at;             /* CLOCK_MONOTONIC seconds: how long ago */
	bool ok;
	char code[24];
	char message[400];
	int64_t from, to;            /* versions */
	char how[12];                /* "unchanged", "delta", "snapshot", "" */
	double seconds;
};

struct waiter {
	struct waiter *next;
	void *cookie;
	sync_reply_fn fn;
	uint64_t gen;
};

struct sync {
	pthread_t th, push_th;
	bool started, push_started;
	atomic_llong have;           /* the version in force, for the push thread */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool quit;
	atomic_bool stopping;        /* read by transfers in flight */
	uint64_t want, served;       /* `list sync` requests asked / answered */
	struct config cfg;           /* the thread's copy, under mu */
	struct result last, last_ok;
	int64_t next_at;             /* CLOCK_MONOTONIC seconds of the next poll: a clock set
				      * back or forth moves no poll */
	struct notifier *nt;         /* events to the loop */
	sync_emit_fn emit;
	void *arg;
	struct waiter *waiters;      /* loop only */
	bool stale;                  /* last reported freshness (thread only) */
};

static int64_t mono(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec;
}

/* ---- loop side ---------------------------------------------------------- */

static json_t *result_json(const struct result *r)
{
	json_t *j = json_pack("{s:b,s:s,s:s}", "ok", r->ok, "result", r->code, "message",
			      r->message);
	if (!r->ok)
		json_object_set_new(j, "error", json_string(r->code));
	if (r->at) {
		json_object_set_new(j, "at", json_integer(r->at));
		json_object_set_new(j, "ago_s", json_integer(mono() - r->mono_at));
	}
	if (*r->how)
		json_object_set_new(j, "how", json_string(r->how));
	if (r->to)
		json_object_set_new(j, "version", json_integer(r->to));
	json_object_set_new(j, "seconds", json_real((double)(int64_t)(r->seconds * 1000 + 0.5) / 1000));
	return j;
}

/* On the loop: an event from the threads (or a bare wake-up), then the
 * `list sync` callers whose poll has been done. */
static void on_note(void *arg, json_t *e)
{
	struct sync *s = arg;
	if (json_is_object(e))
		s->emit(s->arg, e);
	pthread_mutex_lock(&s->mu);
	uint64_t served = s->served;
	struct result last = s->last;
	pthread_mutex_unlock(&s->mu);
	for (struct waiter **w = &s->waiters; *w;) {
		struct waiter *x = *w;
		if (x->gen > served) {
			w = &x->next;
			continue;
		}
		*w = x->next;
		json_t *r = result_json(&last);
		x->fn(x->cookie, r);
		json_decref(r);
		free(x);
	}
}

void sync_now(struct sync *s, void *cookie, sync_reply_fn fn)
{
	struct waiter *w = calloc(1, sizeof *w);
	if (!w) {
		json_t *r = json_pack("{s:b,s:s}", "ok", 0, "error", "out_of_memory");
		fn(cookie, r);
		json_decref(r);
		return;
	}
	pthread_mutex_lock(&s->mu);
	w->gen = ++s->want;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	w->cookie = cookie;
	w->fn = fn;
	w->next = s->waiters;
	s->waiters = w;
}

void sync_forget(struct sync *s, void *cookie)
{
	if (!s)
		return;
	for (struct waiter **w = &s->waiters; *w;) {
		struct waiter *x = *w;
		if (x->cookie == cookie) {
			*w = x->next;
			free(x);
		} else
			w = &x->next;
	}
}

void sync_reconfigure(struct sync *s, const struct config *cfg)
{
	pthread_mutex_lock(&s->mu);
	s->cfg = *cfg;
	pthread_cond_signal(&s->cv); /* a new schedule counts from now */
	pthread_mutex_unlock(&s->mu);
}

static void list_base(const struct config *c, char *out, size_t cap)
{
	if (*c->list_url)
		snprintf(out, cap, "%s", c->list_url);
	else if (*c->url)
		snprintf(out, cap, "%s/losslist", c->url);
	else
		*out = 0;
	size_t n = strlen(out);
	while (n && out[n - 1] == '/')
		out[--n] = 0;
}

void sync_add_status(struct sync *s, json_t *j)
{
	char base[300];
	pthread_mutex_lock(&s->mu);
	struct result last = s->last, ok = s->last_ok;
	int64_t next = s->next_at;
	list_base(&s->cfg, base, sizeof base);
	pthread_mutex_unlock(&s->mu);
	json_object_set_new(j, "source", *base ? json_string(base) : json_null());
	json_object_set_new(j, "last_sync", last.at ? result_json(&last) : json_null());
	json_object_set_new(j, "last_good_sync_s_ago",
			    ok.at ? json_integer(mono() - ok.mono_at) : json_null());
	if (next)
		json_object_set_new(j, "next_sync_in_s", json_integer(next - mono()));
}

static void alarm_event(struct sync *s, const struct result *r, int64_t kept)
{
	notifier_post(s->nt, json_pack("{s:s,s:s,s:s,s:I}", "event", "list_alarm", "error", r->code, "message",
			  r->message, "kept_version", (json_int_t)kept));
}

/* ---- HTTP --------------------------------------------------------------- */

struct sink {
	uint8_t *buf;                /* memory sink … */
	size_t len, cap, limit;
	int fd;                      /* … or a file (fd >= 0) */
	crypto_hash_sha256_state h;
	bool too_big, write_err;
	int write_errno;
	char etag[128];              /* the answer's ETag, when it has one */
	int64_t date;                /* the answer's Date, unix seconds; 0 none */
};

/* The ETag of an answer: a conditional GET of the head next time. */
static size_t on_header(char *p, size_t size, size_t nmemb, void *arg)
{
	struct sink *k = arg;
	size_t n = size * nmemb;
	if (n > 5 && n < 100 && !strncasecmp(p, "Date:", 5)) {
		char v[100];
		snprintf(v, sizeof v, "%.*s", (int)(n - 5), p + 5);
		time_t t = curl_getdate(v, NULL);
		k->date = t > 0 ? (int64_t)t : 0;
	}
	if (n > 5 && !strncasecmp(p, "ETag:", 5)) {
		const char *v = p + 5;
		size_t l = n - 5;
		while (l && (*v == ' ' || *v == '\t'))
			v++, l--;
		while (l && (v[l - 1] == '\r' || v[l - 1] == '\n' || v[l - 1] == ' '))
			l--;
		if (l < sizeof k->etag)
			snprintf(k->etag, sizeof k->etag, "%.*s", (int)l, v);
	}
	return n;
}

static size_t on_data(char *p, size_t size, size_t nmemb, void *arg)
{
	struct sink *k = arg;
	size_t n = size * nmemb;
	if (k->len + n > k->limit) {
		k->too_big = true;
		return 0;
	}
	crypto_hash_sha256_update(&k->h, (const uint8_t *)p, n);
	if (k->fd >= 0) {
		for (size_t off = 0; off < n;) {
			ssize_t w = write(k->fd, p + off, n - off);
			if (w <= 0) {
				k->write_err = true;
				k->write_errno = w < 0 ? errno : ENOSPC;
				return 0;
			}
			off += (size_t)w;
		}
	} else {
		if (k->len + n > k->cap) {
			size_t cap = k->cap ? k->cap : 4096;
			while (cap < k->len + n)
				cap *= 2;
			uint8_t *m = realloc(k->buf, cap);
			if (!m)
				return 0;
			k->buf = m;
			k->cap = cap;
		}
		memcpy(k->buf + k->len, p, n);
	}
	k->len += n;
	return n;
}

struct ctx {
	CURL *curl;
	struct config cfg;
	char base[300];
	uint8_t pk[LOSSFMT_PK_LEN];
	struct losslist *list;
	char part[300];              /* state_dir/snapshot.part */
	struct result *r;
	struct sync *s;
	/* the head last verified and applied: asked for with If-None-Match, so
	 * an unchanged head is a 304 of a few bytes (10 000 terminals on one
	 * mirror, bench/fleet.py) */
	char etag[128];
	int64_t etag_version;
	bool not_modified;           /* the last fetch was answered 304 */
	int64_t date;                /* the Date of the last answer (0: none) */
};

__attribute__((format(printf, 3, 4))) static int say(struct result *r, const char *code,
						     const char *fmt, ...)
{
	va_list ap;
	snprintf(r->code, sizeof r->code, "%s", code);
	va_start(ap, fmt);
	vsnprintf(r->message, sizeof r->message, fmt, ap);
	va_end(ap);
	r->ok = !strcmp(code, "ok");
	return r->ok ? 0 : -1;
}

static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	return atomic_load(&((struct sync *)arg)->stopping) ? 1 : 0; /* the daemon is stopping */
}

/* GET base/name into k; limit bytes at most. 0 or -1 with r said. */
static int fetch(struct ctx *c, const char *name, struct sink *k, size_t limit, bool big)
{
	char url[400], cerr[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdr = NULL;
	snprintf(url, sizeof url, *name == '?' ? "%s%s" : "%s/%s", c->base, name);
	k->limit = limit;
	crypto_hash_sha256_init(&k->h);
	CURL *h = c->curl;
	http_common(h, &c->cfg, cerr);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_FAILONERROR, 1L);
	if (big) { /* a snapshot may be large: give up only when it stalls */
		curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1024L);
		curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (long)(c->cfg.timeout_ms / 1000 + 1));
		curl_easy_setopt(h, CURLOPT_TIMEOUT, 3600L);
	} else
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)c->cfg.timeout_ms);
	if (!strcmp(name, "head") || *name == '?') /* mirrors and caches must ask upstream */
		hdr = curl_slist_append(hdr, "Cache-Control: no-cache");
	c->not_modified = false;
	if (!strcmp(name, "head") && *c->etag) {
		char line[160];
		snprintf(line, sizeof line, "If-None-Match: %s", c->etag);
		hdr = curl_slist_append(hdr, line);
	}
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, k);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, c->s);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, k);
	CURLcode rc = curl_easy_perform(h);
	curl_slist_free_all(hdr);
	if (k->date) { /* an answer with the time upstream: this clock's offset */
		c->date = k->date;
		fresh_note_server_date(k->date);
	}
	if (k->write_err)
		return say(c->r, k->write_errno == ENOSPC ? "disk_full" : "store_error",
			   "cannot store %s: %s; the list in force is kept", name,
			   strerror(k->write_errno));
	if (k->too_big)
		return say(c->r, "bad_file", "%s is larger than the head says (%zu bytes at most)",
			   name, limit);
	char why[300];
	if (rc != CURLE_OK && http_clock_error(rc, cerr, why, sizeof why))
		return say(c->r, "clock_wrong", "cannot fetch %s: %s", url, why);
	if (rc != CURLE_OK)
		return say(c->r, "unreachable", "cannot fetch %s: %s", url,
			   *cerr ? cerr : curl_easy_strerror(rc));
	long code = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	c->not_modified = code == 304;
	return 0;
}

static bool matches(struct sink *k, const uint8_t hash[LOSSFMT_HASH_LEN], uint64_t size)
{
	uint8_t got[LOSSFMT_HASH_LEN];
	crypto_hash_sha256_final(&k->h, got);
	return k->len == size && !memcmp(got, hash, sizeof got);
}

struct apply_arg {
	struct losslist *l;
	uint64_t version;
};

static int apply_rec(void *arg, const struct loss_rec *r)
{
	struct apply_arg *a = arg;
	return losslist_apply(a->l, r, a->version) < 0 ? 1 : 0;
}

/* Walk the deltas from have to the head's version in one transaction.
 * 0 done; -1 with r said (the list untouched). */
static int walk_deltas(struct ctx *c, const struct lossfmt_head *h, uint64_t have)
{
	unsigned k = 0;
	char err[256];
	while (k < h->n_delta && h->delta[k].base != have)
		k++;
	if (k == h->n_delta)
		return say(c->r, "gap", "the head's deltas start at version %llu; we have %llu",
			   (unsigned long long)(h->n_delta ? h->delta[0].base : h->version),
			   (unsigned long long)have);
	if (losslist_begin(c->list) < 0)
		return say(c->r, "store_error", "the list cannot be written: %s",
			   losslist_errmsg(c->list));
	for (; k < h->n_delta; k++) {
		const struct lossfmt_delta *d = &h->delta[k];
		struct sink s = {.fd = -1};
		struct lossfmt_file f;
		struct apply_arg a = {c->list, d->base + 1};
		int rv = d->size > DELTA_MAX ? say(c->r, "bad_file", "%s is too large", d->name)
					      : fetch(c, d->name, &s, (size_t)d->size, false);
		if (!rv && !matches(&s, d->hash, d->size))
			rv = say(c->r, "hash_mismatch",
				 "%s does not match the signed head (size or SHA-256): damaged or truncated on the way",
				 d->name);
		if (!rv && (rv = lossfmt_decode(s.buf, s.len, &f, apply_rec, &a, err, sizeof err)))
			rv = rv > 0 ? say(c->r, "store_error", "cannot apply %s: %s", d->name,
					  losslist_errmsg(c->list))
				    : say(c->r, "bad_file", "%s: %s", d->name, err);
		if (!rv && (!f.delta || f.base != d->base || f.version != d->base + 1))
			rv = say(c->r, "gap", "%s is not the delta from %llu to %llu", d->name,
				 (unsigned long long)d->base, (unsigned long long)d->base + 1);
		free(s.buf);
		if (rv) {
			losslist_abort(c->list);
			return -1;
		}
	}
	if (losslist_commit(c->list, h->version, h->published) < 0)
		return say(c->r, "store_error", "cannot commit version %llu: %s",
			   (unsigned long long)h->version, losslist_errmsg(c->list));
	return 0;
}

static int take_snapshot(struct ctx *c, const struct lossfmt_head *h)
{
	char err[600];
	struct sink s = {.fd = -1};
	s.fd = open(c->part, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (s.fd < 0)
		return say(c->r, errno == ENOSPC ? "disk_full" : "store_error", "cannot write %s: %s",
			   c->part, strerror(errno));
	int rv = fetch(c, h->snapshot, &s, (size_t)h->snapshot_size, true);
	if (!rv && !matches(&s, h->snapshot_hash, h->snapshot_size))
		rv = say(c->r, "hash_mismatch",
			 "%s does not match the signed head (size or SHA-256): damaged or truncated on the way",
			 h->snapshot);
	void *map = MAP_FAILED;
	if (!rv && s.len && (map = mmap(NULL, s.len, PROT_READ, MAP_PRIVATE, s.fd, 0)) == MAP_FAILED)
		rv = say(c->r, "store_error", "cannot map %s: %s", c->part, strerror(errno));
	if (!rv && s.len >= 24) { /* the snapshot a head names is of the head's version */
		uint64_t v = 0;
		for (int k = 16; k < 24; k++)
			v = v << 8 | ((const uint8_t *)map)[k];
		if (v != h->version)
			rv = say(c->r, "bad_file",
				 "%s is a snapshot of version %llu, but the head that names it is of version %llu: "
				 "refused; the list in force is kept",
				 h->snapshot, (unsigned long long)v, (unsigned long long)h->version);
	}
	if (!rv) {
		madvise(map, s.len, MADV_SEQUENTIAL);
		if (losslist_import(c->list, map, s.len, h->published, err, sizeof err) < 0)
			rv = say(c->r, strstr(err, "disk full") || strstr(err, "No space") ? "disk_full"
			     : strstr(err, "truncated") || strstr(err, "snapshot") ||
					       strstr(err, "garbled") || strstr(err, "order")
				     ? "bad_file"
				     : "store_error",
				 "%s: %s; the list in force is kept", h->snapshot, err);
	}
	if (map != MAP_FAILED)
		munmap(map, s.len);
	close(s.fd);
	unlink(c->part);
	return rv;
}

/* Alarms worth a person's attention; "unreachable" is an outage, not an
 * attack, and shows as staleness instead. */
static bool is_alarm(const char *code)
{
	return strcmp(code, "ok") && strcmp(code, "unreachable") && strcmp(code, "not_configured");
}

/* One poll. Fills c->r; returns whether the list changed. */
static bool poll_once(struct ctx *c)
{
	struct sink s = {.fd = -1};
	struct lossfmt_head h;
	struct loss_info have;
	char err[256];
	struct result *r = c->r;
	bool changed = false;

	if (losslist_info(c->list, &have) < 0) {
		say(r, "store_error", "the local list cannot be read: %s", losslist_errmsg(c->list));
		return false;
	}
	r->from = r->to = have.version;
	if (c->etag_version != have.version) /* the list changed some other way: ask in full */
		c->etag[0] = 0;
	if (fetch(c, "head", &s, LOSSFMT_HEAD_MAX, false) < 0)
		goto out;
	if (c->not_modified && *c->etag) { /* the very head verified last time */
		say(r, "ok", "version %lld is the latest", (long long)have.version);
		snprintf(r->how, sizeof r->how, "304");
		goto out;
	}
	c->etag[0] = 0;
	if (lossfmt_head_read((const char *)s.buf, s.len, c->pk, &h, err, sizeof err) < 0) {
		say(r, "bad_signature", "the head from %s is refused: %s", c->base, err);
		goto out;
	}
	if ((int64_t)h.version < have.version) {
		say(r, "rollback",
		    "the head offers version %llu, older than the %lld in force: refused (a stale mirror or a replay)",
		    (unsigned long long)h.version, (long long)have.version);
		goto out;
	}
	if ((int64_t)h.version == have.version) {
		if (h.published > have.published && losslist_confirm(c->list, h.published) < 0)
			say(r, "store_error", "cannot record the check: %s", losslist_errmsg(c->list));
		else {
			say(r, "ok", "version %llu is the latest", (unsigned long long)h.version);
			snprintf(c->etag, sizeof c->etag, "%s", s.etag);
			c->etag_version = have.version;
		}
		snprintf(r->how, sizeof r->how, "unchanged");
		goto out;
	}
	if (have.version > 0 && walk_deltas(c, &h, (uint64_t)have.version) == 0) {
		snprintf(r->how, sizeof r->how, "delta");
		changed = true;
	} else {
		if (have.version > 0) { /* the deltas failed: say so, then try the snapshot */
			log_at(LOG_WARNING, NULL, r->code, "loss list: %s; fetching the snapshot",
			       r->message);
			if (is_alarm(r->code))
				alarm_event(c->s, r, have.version);
		}
		if (take_snapshot(c, &h) < 0)
			goto out;
		snprintf(r->how, sizeof r->how, "snapshot");
		changed = true;
	}
	r->to = (int64_t)h.version;
	say(r, "ok", "version %llu (from %lld, by %s)", (unsigned long long)h.version,
	    (long long)have.version, r->how);
	snprintf(c->etag, sizeof c->etag, "%s", s.etag);
	c->etag_version = (int64_t)h.version;
out:
	free(s.buf);
	return changed;
}

/* ---- the thread ---------------------------------------------------------- */

static int64_t wall(void)
{
	return (int64_t)time(NULL);
}

static void *run(void *arg)
{
	struct sync *s = arg;
	struct ctx c = {.s = s};
	char err[400];
	c.curl = curl_easy_init();
	pthread_mutex_lock(&s->mu);
	c.cfg = s->cfg;
	pthread_mutex_unlock(&s->mu);
	snprintf(c.part, sizeof c.part, "%s/" SNAPSHOT_PART, c.cfg.state_dir);
	char path[300];
	snprintf(path, sizeof path, "%s/" LOSSLIST_FILE, c.cfg.state_dir);
	if (losslist_open(path, true, &c.list, err, sizeof err) < 0)
		log_at(LOG_ERR, NULL, "list_unavailable", "loss list sync: %s", err);
	unlink(c.part); /* a download cut by a crash */
	bool first = true;
	for (;;) {
		pthread_mutex_lock(&s->mu);
		/* wait for the next poll, a `list sync`, a reload or the end */
		uint64_t seen_want = s->served;
		while (!s->quit && s->want == seen_want && !first) {
			struct timespec ts = {.tv_sec = s->next_at};
			if (mono() >= s->next_at)
				break;
			if (pthread_cond_timedwait(&s->cv, &s->mu, &ts) == 0 && s->want == seen_want &&
			    memcmp(&c.cfg, &s->cfg, sizeof c.cfg)) {
				c.cfg = s->cfg; /* reloaded: a new schedule from now */
				s->next_at = mono() + 1;
			}
		}
		first = false;
		if (s->quit) {
			pthread_mutex_unlock(&s->mu);
			break;
		}
		uint64_t serving = s->want;
		c.cfg = s->cfg;
		pthread_mutex_unlock(&s->mu);
		if (serving != seen_want) /* asked for (list sync, a push): the head in full, checked again */
			c.etag[0] = 0;

		struct result r = {.at = wall(), .mono_at = mono()};
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		bool changed = false;
		list_base(&c.cfg, c.base, sizeof c.base);
		size_t got = 0;
		c.r = &r;
		c.date = 0;
		if (!*c.base || !*c.cfg.public_key)
			say(&r, "not_configured",
			    "no loss list source: [upstream] needs list_url (or url) and public_key");
		else if (sodium_hex2bin(c.pk, sizeof c.pk, c.cfg.public_key, 64, NULL, &got, NULL) ||
			 got != sizeof c.pk)
			say(&r, "not_configured", "[upstream] public_key is not a key");
		else if (!c.list)
			say(&r, "store_error", "the local loss list could not be opened");
		else if (!c.curl)
			say(&r, "store_error", "libcurl did not start");
		else
			changed = poll_once(&c);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		r.seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;

		struct loss_info now_i = {0};
		if (c.list)
			losslist_info(c.list, &now_i);
		atomic_store(&s->have, now_i.version);
		if (r.ok && now_i.version)
			fresh_note_good_sync(now_i.published, c.date);
		struct loss_fresh fr;
		fresh_eval(&now_i, c.cfg.stale_after, &fr);
		bool stale = fr.stale;
		if (changed) {
			log_msg(LOG_INFO, "loss list: %s in %.2f s", r.message, r.seconds);
			notifier_post(s->nt, json_pack("{s:s,s:I,s:I,s:s,s:I}", "event", "list_updated", "version",
					  (json_int_t)r.to, "from", (json_int_t)r.from, "how", r.how,
					  "entries", (json_int_t)now_i.entries));
		} else if (is_alarm(r.code)) {
			log_at(LOG_WARNING, NULL, r.code, "loss list: %s", r.message);
			alarm_event(s, &r, now_i.version);
		} else if (!r.ok)
			log_at(LOG_NOTICE, NULL, r.code, "loss list: %s", r.message);
		if (stale != s->stale) {
			s->stale = stale;
			notifier_post(s->nt, json_pack("{s:s,s:b,s:I,s:o,s:b}", "event", "list_freshness", "stale",
					  stale, "version", (json_int_t)now_i.version, "age_s",
					  fr.known ? json_integer(fr.age_s) : json_null(), "clock_wrong",
					  fr.clock_wrong));
		}

		pthread_mutex_lock(&s->mu);
		s->last = r;
		if (r.ok)
			s->last_ok = r;
		s->served = serving;
		/* ± 20 % so that a thousand terminals do not ask in step */
		unsigned iv = c.cfg.poll_interval;
		unsigned span = iv * 2 / 5 + 1;
		s->next_at = mono() + iv - iv / 5 + randombytes_uniform(span);
		pthread_mutex_unlock(&s->mu);
		notifier_post(s->nt, json_null()); /* wakes the loop for the waiters */
	}
	losslist_close(c.list);
	if (c.curl)
		curl_easy_cleanup(c.curl);
	return NULL;
}

static void nap(struct sync *s, unsigned ms)
{
	for (unsigned i = 0; i < ms / 50 && !atomic_load(&s->stopping); i++)
		usleep(50000);
}

/* Push: a long-poll to the central. A head is trusted for nothing but a
 * wake-up, and only with a good signature and a newer version: the poll
 * then fetches and checks everything as usual. */
static void *push_run(void *arg)
{
	struct sync *s = arg;
	struct ctx c = {.s = s};
	char err[256];
	unsigned backoff = 1000;
	uint64_t kicked = 0;
	c.curl = curl_easy_init();
	while (c.curl && !atomic_load(&s->stopping)) {
		struct result r = {0};
		struct sink k = {.fd = -1};
		struct lossfmt_head h;
		size_t got = 0;
		char url[300], base[300];
		pthread_mutex_lock(&s->mu);
		c.cfg = s->cfg;
		pthread_mutex_unlock(&s->mu);
		if (!*c.cfg.push_url || sodium_hex2bin(c.pk, sizeof c.pk, c.cfg.public_key, 64, NULL,
							&got, NULL) || got != sizeof c.pk) {
			nap(s, 2000); /* not configured (a reload may change that) */
			continue;
		}
		/* fetch() joins base and name: the long-poll address is the base */
		snprintf(base, sizeof base, "%s", c.cfg.push_url);
		snprintf(url, sizeof url, "?after=%lld", (long long)atomic_load(&s->have));
		snprintf(c.base, sizeof c.base, "%s", base);
		c.r = &r;
		c.cfg.timeout_ms = c.cfg.timeout_ms > 60000 ? c.cfg.timeout_ms : 60000;
		int rv = fetch(&c, url, &k, LOSSFMT_HEAD_MAX, false);
		if (!rv && lossfmt_head_read((const char *)k.buf, k.len, c.pk, &h, err, sizeof err) == 0) {
			if ((int64_t)h.version > atomic_load(&s->have) && h.version != kicked) {
				pthread_mutex_lock(&s->mu);
				s->want++; /* poll now */
				pthread_cond_signal(&s->cv);
				pthread_mutex_unlock(&s->mu);
				kicked = h.version;
				backoff = 1000;
				nap(s, 200); /* let the poll start before asking again */
			} else if ((int64_t)h.version > atomic_load(&s->have)) {
				/* that poll did not take it (its result says why): no storm */
				nap(s, backoff);
				backoff = backoff < c.cfg.poll_interval * 1000u ? backoff * 2 : backoff;
			} else
				backoff = 1000;
		} else {
			if (!rv)
				log_msg(LOG_NOTICE, "loss list push: %s", err);
			else
				log_msg(LOG_DEBUG, "loss list push: %s", r.message);
			nap(s, backoff); /* the poll still runs; push comes back by itself */
			backoff = backoff < 30000 ? backoff * 2 : 30000;
		}
		free(k.buf);
	}
	if (c.curl)
		curl_easy_cleanup(c.curl);
	return NULL;
}

int sync_start(sd_event *ev, const struct config *cfg, sync_emit_fn emit, void *arg,
	       struct sync **out)
{
	struct sync *s = calloc(1, sizeof *s);
	pthread_condattr_t ca;
	int rv;
	*out = NULL;
	if (!s)
		return -ENOMEM;
	s->cfg = *cfg;
	s->emit = emit;
	s->arg = arg;
	s->stale = true; /* the first poll says so only when it changes */
	pthread_mutex_init(&s->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cv, &ca);
	pthread_condattr_destroy(&ca);
	if ((rv = notifier_new(ev, on_note, s, &s->nt)) < 0) {
		sync_stop(s);
		return rv;
	}
	if ((rv = pthread_create(&s->th, NULL, run, s))) {
		sync_stop(s);
		return -rv;
	}
	s->started = true;
	if ((rv = pthread_create(&s->push_th, NULL, push_run, s))) {
		sync_stop(s);
		return -rv;
	}
	s->push_started = true;
	*out = s;
	return 0;
}

void sync_stop(struct sync *s)
{
	if (!s)
		return;
	atomic_store(&s->stopping, true);
	pthread_mutex_lock(&s->mu);
	s->quit = true;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	if (s->started)
		pthread_join(s->th, NULL); /* transfers in flight see `stopping` */
	if (s->push_started)
		pthread_join(s->push_th, NULL);
	for (struct waiter *w = s->waiters, *n; w; w = n) {
		n = w->next;
		free(w);
	}
	notifier_free(s->nt);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	free(s);
}
