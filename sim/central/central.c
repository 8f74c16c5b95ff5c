/* sscard-central — the reference central's loss list publisher.
 *
 * Keeps the region's losses in SQLite and publishes them as files any
 * static web server or CDN can serve (docs/loss-list-format.md): a signed
 * head, a snapshot per version and a delta from the version before.
 *
 *   sscard-central -d DIR keygen             make DIR/central.key, print the public key
 *   sscard-central -d DIR pubkey             print the public key (for [upstream] in sscard.conf)
 *   sscard-central -d DIR add CARD_ID temporary|formal|cancelled [YYYY-MM-DD]
 *   sscard-central -d DIR remove CARD_ID     the card was found: off the list
 *   sscard-central -d DIR generate N [REGIONS]   N synthetic random losses
 *   sscard-central -d DIR publish PUBDIR     a new version into PUBDIR (head last, atomically)
 *   sscard-central -d DIR resign PUBDIR      the same version, signed again now (freshness)
 *   sscard-central -d DIR run PUBDIR [SECONDS]   publish every SECONDS (10) when something
 *                                            changed, else re-sign the head; until SIGTERM
 *   sscard-central -d DIR serve PUBDIR ADDR:PORT [SECONDS]   serve PUBDIR over HTTP with a
 *                                            long-poll GET /wait?after=V for push; with SECONDS
 *                                            also the `run` loop
 *   sscard-central -d DIR info
 *   sscard-central -d DIR check PUBDIR       verify what a mirror serves: head signature,
 *                                            file hashes, every record decodes
 *
 * Changes wait in a pending table until the next publish, which turns them
 * into the delta and folds them into the snapshot, in one transaction. */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daemon/losslist/losslist.h"
#include "daemon/losslist/lossfmt.h"
#include "sim/central/api.h"
#include "sim/central/store.h"
#include "sim/central/tlsauth.h"

static void key_path(char *out, size_t cap)
{
	snprintf(out, cap, "%s/central.key", central_dir);
}

static void load_key(uint8_t sk[LOSSFMT_SK_LEN])
{
	char path[512];
	key_path(path, sizeof path);
	FILE *f = fopen(path, "rb");
	if (!f || fread(sk, 1, LOSSFMT_SK_LEN, f) != LOSSFMT_SK_LEN)
		central_die("no signing key in %s (run: sscard-central -d DIR keygen)", path);
	fclose(f);
}

static void print_pk(const uint8_t sk[LOSSFMT_SK_LEN])
{
	char hex[LOSSFMT_PK_LEN * 2 + 1];
	uint8_t pk[LOSSFMT_PK_LEN];
	crypto_sign_ed25519_sk_to_pk(pk, sk);
	sodium_bin2hex(hex, sizeof hex, pk, sizeof pk);
	printf("%s\n", hex);
}

/* All rows of a table, in card id order (BLOB order is memcmp order). */
static struct loss_rec *rows(const char *table, size_t *n)
{
	char sql[128];
	sqlite3_stmt *s;
	size_t cap = 1024;
	struct loss_rec *r = malloc(cap * sizeof *r);
	*n = 0;
	snprintf(sql, sizeof sql, "SELECT card_id, state, day FROM %s ORDER BY card_id", table);
	sqlite3_prepare_v2(db, sql, -1, &s, NULL);
	while (r && sqlite3_step(s) == SQLITE_ROW) {
		if (*n == cap) {
			struct loss_rec *m = realloc(r, (cap *= 2) * sizeof *r);
			if (!m) {
				free(r);
				r = NULL;
				break;
			}
			r = m;
		}
		memset(&r[*n], 0, sizeof r[*n]);
		if (sqlite3_column_bytes(s, 0) == LOSS_ID_LEN)
			memcpy(r[*n].id, sqlite3_column_blob(s, 0), LOSS_ID_LEN);
		r[*n].state = (uint8_t)sqlite3_column_int(s, 1);
		r[*n].day = (uint16_t)sqlite3_column_int(s, 2);
		(*n)++;
	}
	sqlite3_finalize(s);
	if (!r)
		central_die("%s", "out of memory");
	return r;
}

/* Write bytes to PUBDIR/name through a temporary file and rename(). */
static void publish_file(const char *pub, const char *name, const void *b, size_t n)
{
	char tmp[600], path[600];
	snprintf(tmp, sizeof tmp, "%s/.%s.tmp", pub, name);
	snprintf(path, sizeof path, "%s/%s", pub, name);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		central_die("cannot write %s", tmp);
	for (size_t off = 0; off < n;) {
		ssize_t w = write(fd, (const char *)b + off, n - off);
		if (w <= 0) {
			unlink(tmp);
			central_die("cannot write %s (disk full?)", tmp);
		}
		off += (size_t)w;
	}
	if (fsync(fd) || close(fd) || rename(tmp, path)) {
		unlink(tmp);
		central_die("cannot publish %s", path);
	}
}

/* The head names the deltas of the last versions (a contiguous chain
 * ending at the head's version), so that a terminal a few versions behind
 * needs no snapshot. */
static void list_deltas(struct lossfmt_head *h)
{
	sqlite3_stmt *s;
	uint64_t v = h->version;
	h->n_delta = 0;
	sqlite3_prepare_v2(db, "SELECT version, name, hash, size FROM deltas WHERE version <= ?"
			   " ORDER BY version DESC LIMIT ?", -1, &s, NULL);
	sqlite3_bind_int64(s, 1, (int64_t)v);
	sqlite3_bind_int(s, 2, LOSSFMT_MAX_DELTAS);
	struct lossfmt_delta tmp[LOSSFMT_MAX_DELTAS];
	unsigned n = 0;
	while (sqlite3_step(s) == SQLITE_ROW && n < LOSSFMT_MAX_DELTAS) {
		uint64_t dv = (uint64_t)sqlite3_column_int64(s, 0);
		const char *name = (const char *)sqlite3_column_text(s, 1);
		if (dv != v - n || !name || sqlite3_column_bytes(s, 2) != LOSSFMT_HASH_LEN)
			break; /* the chain stops at a hole */
		tmp[n].base = dv - 1;
		snprintf(tmp[n].name, sizeof tmp[n].name, "%s", name);
		memcpy(tmp[n].hash, sqlite3_column_blob(s, 2), LOSSFMT_HASH_LEN);
		tmp[n].size = (uint64_t)sqlite3_column_int64(s, 3);
		n++;
	}
	sqlite3_finalize(s);
	for (unsigned k = 0; k < n; k++)
		h->delta[k] = tmp[n - 1 - k];
	h->n_delta = n;
}

static void publish(const char *pub)
{
	uint8_t sk[LOSSFMT_SK_LEN], *snap, *delta = NULL;
	size_t n_pend, n_all, snap_len, delta_len = 0;
	struct lossfmt_head h = {0};
	char *head;
	size_t head_len;

	load_key(sk);
	store_exec("BEGIN IMMEDIATE");
	int64_t v = store_meta_get("version") + 1, now = clock_now();
	struct loss_rec *p = rows("pending", &n_pend);
	if (v > 1 && lossfmt_encode(p, n_pend, (uint64_t)v - 1, (uint64_t)v, now, &delta, &delta_len,
				    NULL))
		central_die("%s", "cannot encode the delta");
	store_exec("DELETE FROM loss WHERE card_id IN (SELECT card_id FROM pending WHERE state = 0);"
		 "INSERT OR REPLACE INTO loss SELECT card_id, state, day FROM pending WHERE state > 0;"
		 "DELETE FROM pending;");
	struct loss_rec *all = rows("loss", &n_all);
	if (lossfmt_encode(all, n_all, 0, (uint64_t)v, now, &snap, &snap_len, NULL))
		central_die("%s", "cannot encode the snapshot");
	h.version = (uint64_t)v;
	h.published = now;
	snprintf(h.snapshot, sizeof h.snapshot, "snapshot-%lld.bin", (long long)v);
	lossfmt_hash(snap, snap_len, h.snapshot_hash);
	h.snapshot_size = snap_len;
	publish_file(pub, h.snapshot, snap, snap_len);
	if (delta) {
		char name[LOSSFMT_NAME_MAX];
		uint8_t hash[LOSSFMT_HASH_LEN];
		sqlite3_stmt *s;
		snprintf(name, sizeof name, "delta-%lld-%lld.bin", (long long)v - 1, (long long)v);
		lossfmt_hash(delta, delta_len, hash);
		publish_file(pub, name, delta, delta_len);
		sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO deltas VALUES(?, ?, ?, ?)", -1, &s, NULL);
		sqlite3_bind_int64(s, 1, v);
		sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC);
		sqlite3_bind_blob(s, 3, hash, sizeof hash, SQLITE_STATIC);
		sqlite3_bind_int64(s, 4, (int64_t)delta_len);
		if (sqlite3_step(s) != SQLITE_DONE)
			central_die("database: %s", sqlite3_errmsg(db));
		sqlite3_finalize(s);
	}
	list_deltas(&h);
	if (lossfmt_head_write(&h, sk, &head, &head_len))
		central_die("%s", "cannot sign the head");
	publish_file(pub, "head", head, head_len); /* last: mirrors see whole versions only */
	store_meta_set("version", v);
	store_meta_set("published", now);
	store_exec("COMMIT");
	printf("published version %lld: %zu losses, %zu changes; snapshot %zu B, delta %zu B\n",
	       (long long)v, n_all, n_pend, snap_len, delta_len);
	sodium_memzero(sk, sizeof sk);
	free(head);
	free(snap);
	free(delta);
	free(all);
	free(p);
}

static uint8_t *slurp(const char *pub, const char *name, size_t *n)
{
	char path[600];
	snprintf(path, sizeof path, "%s/%s", pub, name);
	FILE *f = fopen(path, "rb");
	if (!f)
		central_die("cannot read %s", path);
	size_t cap = 1 << 16;
	uint8_t *b = malloc(cap);
	*n = 0;
	for (size_t r; b && (r = fread(b + *n, 1, cap - *n, f)) > 0;) {
		*n += r;
		if (*n == cap) {
			uint8_t *m = realloc(b, cap *= 2);
			if (!m)
				free(b);
			b = m;
		}
	}
	fclose(f);
	if (!b)
		central_die("%s", "out of memory");
	return b;
}

static int count_rec(void *arg, const struct loss_rec *r)
{
	(void)r;
	++*(size_t *)arg;
	return 0;
}

static void check_file(const char *pub, const char *name, const uint8_t hash[LOSSFMT_HASH_LEN],
		       uint64_t size, bool delta, uint64_t version)
{
	size_t n, recs = 0;
	uint8_t got[LOSSFMT_HASH_LEN];
	struct lossfmt_file f;
	char err[256];
	uint8_t *b = slurp(pub, name, &n);
	lossfmt_hash(b, n, got);
	if (n != size || memcmp(got, hash, sizeof got))
		central_die("%s does not match the head (size or SHA-256)", name);
	if (lossfmt_decode(b, n, &f, count_rec, &recs, err, sizeof err))
		central_die("%s", err);
	if (f.delta != delta || f.version != version)
		central_die("%s is not the version the head names", name);
	printf("%s: %zu records, ok\n", name, recs);
	free(b);
}

static void check(const char *pub)
{
	uint8_t sk[LOSSFMT_SK_LEN], pk[LOSSFMT_PK_LEN];
	struct lossfmt_head h;
	char err[256];
	size_t n;
	load_key(sk);
	crypto_sign_ed25519_sk_to_pk(pk, sk);
	sodium_memzero(sk, sizeof sk);
	char *head = (char *)slurp(pub, "head", &n);
	if (lossfmt_head_read(head, n, pk, &h, err, sizeof err))
		central_die("head: %s", err);
	printf("head: version %llu, signature ok\n", (unsigned long long)h.version);
	check_file(pub, h.snapshot, h.snapshot_hash, h.snapshot_size, false, h.version);
	for (unsigned k = 0; k < h.n_delta; k++)
		check_file(pub, h.delta[k].name, h.delta[k].hash, h.delta[k].size, true,
			   h.delta[k].base + 1);
	free(head);
}

/* The same version signed again with the time of now: a terminal measures
 * its list's freshness from the newest head it verified, so a quiet day
 * without losses does not make every terminal stale. */
static void resign(const char *pub)
{
	uint8_t sk[LOSSFMT_SK_LEN], pk[LOSSFMT_PK_LEN];
	struct lossfmt_head h;
	char err[256], *out;
	size_t n, out_len;
	load_key(sk);
	crypto_sign_ed25519_sk_to_pk(pk, sk);
	char *head = (char *)slurp(pub, "head", &n);
	if (lossfmt_head_read(head, n, pk, &h, err, sizeof err))
		central_die("head: %s", err);
	h.published = clock_now();
	if (lossfmt_head_write(&h, sk, &out, &out_len))
		central_die("%s", "cannot sign the head");
	publish_file(pub, "head", out, out_len);
	sodium_memzero(sk, sizeof sk);
	free(out);
	free(head);
}

static volatile sig_atomic_t stop;
static void on_signal(int sig)
{
	stop = 1;
}

/* A new version every interval when something changed, else the head
 * signed again: the reference central's publishing loop. */
static void run(const char *pub, double interval)
{
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	setvbuf(stdout, NULL, _IOLBF, 0);
	while (!stop) {
		size_t n;
		pthread_mutex_lock(&central_mu);
		free(rows("pending", &n));
		if (n || !store_meta_get("version"))
			publish(pub);
		else
			resign(pub);
		pthread_mutex_unlock(&central_mu);
		struct timespec ts = {(time_t)interval, (long)((interval - (double)(time_t)interval) * 1e9)};
		while (!stop && nanosleep(&ts, &ts) < 0)
			;
	}
}

/* ---- serve: the files, and a long-poll for push --------------------------- */

static const char *serve_pub;

static uint64_t head_version(void)
{
	char path[600], buf[256];
	unsigned long long v = 0;
	snprintf(path, sizeof path, "%s/head", serve_pub);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	const char *p = strstr(buf, "\nversion ");
	if (p)
		sscanf(p + 9, "%llu", &v);
	return v;
}

static enum MHD_Result send_file(struct MHD_Connection *c, const char *name)
{
	char path[600];
	struct stat st;
	struct MHD_Response *r;
	enum MHD_Result rv;
	int fd = -1;
	if (*name && *name != '.' && !strchr(name, '/') && strlen(name) < 200) {
		snprintf(path, sizeof path, "%s/%s", serve_pub, name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		r = MHD_create_response_from_buffer(10, (void *)"not found\n", MHD_RESPMEM_PERSISTENT);
		rv = MHD_queue_response(c, MHD_HTTP_NOT_FOUND, r);
	} else {
		r = MHD_create_response_from_fd((uint64_t)st.st_size, fd);
		rv = MHD_queue_response(c, MHD_HTTP_OK, r);
	}
	MHD_destroy_response(r);
	return rv;
}

/* GET /wait?after=V: the head as soon as its version is past V, or after
 * 25 s whatever it is; the terminal checks the signature either way. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **state)
{
	if (!strncmp(url, "/v1/", 4))
		return api_handle(c, url, method, upload, upload_size, state);
	int st;
	char why[200];
	const char *refused = tlsauth_check(c, &st, why, sizeof why);
	if (refused) { /* the loss list too: only terminals with a valid certificate */
		char body[300];
		int n = snprintf(body, sizeof body, "{\"error\":\"%s\",\"message\":\"%s\"}", refused, why);
		struct MHD_Response *r = MHD_create_response_from_buffer((size_t)n, body, MHD_RESPMEM_MUST_COPY);
		MHD_add_response_header(r, "Content-Type", "application/json");
		enum MHD_Result rv = MHD_queue_response(c, (unsigned)st, r);
		MHD_destroy_response(r);
		return rv;
	}
	if (strcmp(method, "GET")) {
		struct MHD_Response *r =
			MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
		enum MHD_Result rv = MHD_queue_response(c, MHD_HTTP_METHOD_NOT_ALLOWED, r);
		MHD_destroy_response(r);
		return rv;
	}
	if (!strcmp(url, "/wait")) {
		const char *a = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "after");
		uint64_t after = a ? strtoull(a, NULL, 10) : 0;
		for (int i = 0; i < 2500 && !stop && head_version() <= after; i++)
			usleep(10000);
		return send_file(c, "head");
	}
	return send_file(c, url + 1);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **state,
			 enum MHD_RequestTerminationCode why)
{
	api_done(*state);
	*state = NULL;
}

static char *slurp_text(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *b = NULL;
	size_t n = 0;
	if (!f || getdelim(&b, &n, 0, f) < 0)
		central_die("cannot read %s", path);
	fclose(f);
	return b;
}

static void serve(const char *pub, const char *addr, double interval)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	char host[64];
	unsigned port = 0;
	if (sscanf(addr, "%63[^:]:%u", host, &port) != 2 || !port || port > 65535 ||
	    inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		central_die("not an address: %s (want 127.0.0.1:8480)", addr);
	sa.sin_port = htons((uint16_t)port);
	serve_pub = pub;
	/* TLS (the tests use a test CA): SSCARD_CENTRAL_TLS_CERT/_KEY. Terminals
	 * authenticate with the bearer token (SSCARD_CENTRAL_TOKEN) and, with
	 * SSCARD_CENTRAL_CLIENT_CA, their own certificates (tlsauth.h). */
	const char *cert = getenv("SSCARD_CENTRAL_TLS_CERT"), *key = getenv("SSCARD_CENTRAL_TLS_KEY");
	char *certm = cert ? slurp_text(cert) : NULL, *keym = key ? slurp_text(key) : NULL;
	/* SIGTERM and SIGINT blocked in every thread MHD starts: only this one
	 * takes them (in sigsuspend or, publishing, with them unblocked), so a
	 * SIGTERM is never handled by a connection thread while this one sleeps on */
	sigset_t block, old;
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
			 MHD_USE_ERROR_LOG | (certm && keym ? MHD_USE_TLS : 0);
	struct MHD_Daemon *d =
		certm && keym
			? MHD_start_daemon(flags, 0, NULL, NULL, on_request, NULL,
					   MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_CONNECTION_LIMIT, 512u,
					   MHD_OPTION_CONNECTION_TIMEOUT, 60u,
					   MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
					   MHD_OPTION_HTTPS_MEM_CERT, certm, MHD_OPTION_HTTPS_MEM_KEY,
					   keym, tlsauth_trust() ? MHD_OPTION_HTTPS_MEM_TRUST : MHD_OPTION_END,
					   tlsauth_trust(), MHD_OPTION_END)
			: MHD_start_daemon(flags, 0, NULL, NULL, on_request, NULL,
					   MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_CONNECTION_LIMIT, 512u,
					   MHD_OPTION_CONNECTION_TIMEOUT, 60u,
					   MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
					   MHD_OPTION_END);
	if (!d)
		central_die("cannot listen on %s", addr);
	printf("serving %s on http://%s/ (long-poll: /wait?after=VERSION)\n", pub, addr);
	if (interval > 0) {
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		run(pub, interval);
	} else { /* serving only: versions are published by `publish` */
		signal(SIGTERM, on_signal);
		signal(SIGINT, on_signal);
		fflush(stdout);
		while (!stop) /* a SIGTERM before the wait stays pending: not lost */
			sigsuspend(&old);
	}
	MHD_stop_daemon(d);
}

static int64_t parse_day(const char *s)
{
	struct tm tm = {0};
	char *end = strptime(s, "%Y-%m-%d", &tm);
	if (!end || *end)
		central_die("not a date (YYYY-MM-DD): %s", s);
	return (int64_t)timegm(&tm) / 86400;
}

int main(int argc, char **argv)
{
	if (argc < 4 || strcmp(argv[1], "-d")) {
		fprintf(stderr, "usage: sscard-central -d DIR keygen|pubkey|add|remove|generate|publish|resign|run|serve|check|info …\n");
		return 2;
	}
	if (sodium_init() < 0)
		central_die("%s", "libsodium did not start");
	central_dir = argv[2];
	const char *cmd = argv[3];
	if (mkdir(central_dir, 0700) < 0 && errno != EEXIST)
		central_die("cannot create %s", central_dir);
	if (!strcmp(cmd, "keygen")) {
		uint8_t pk[LOSSFMT_PK_LEN], sk[LOSSFMT_SK_LEN];
		char path[512];
		key_path(path, sizeof path);
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0)
			central_die("%s exists already (or cannot be made); not replacing a signing key", path);
		crypto_sign_keypair(pk, sk);
		if (write(fd, sk, sizeof sk) != (ssize_t)sizeof sk || close(fd))
			central_die("cannot write %s", path);
		print_pk(sk);
		sodium_memzero(sk, sizeof sk);
		return 0;
	}
	if (!strcmp(cmd, "pubkey")) {
		uint8_t sk[LOSSFMT_SK_LEN];
		load_key(sk);
		print_pk(sk);
		return 0;
	}
	store_open();
	api_schema();
	if (!strcmp(cmd, "add") && (argc == 6 || argc == 7)) {
		uint8_t id[LOSS_ID_LEN];
		static const char *const st[] = {"", "temporary", "formal", "cancelled"};
		int s = 0;
		for (int i = 1; i <= 3; i++)
			if (!strcmp(argv[5], st[i]))
				s = i;
		if (!loss_id_parse(argv[4], id) || !s)
			central_die("usage: add CARD_ID(32 hex) temporary|formal|cancelled [YYYY-MM-DD], not %s", argv[4]);
		pend(id, s, argc == 7 ? parse_day(argv[6]) : (int64_t)time(NULL) / 86400);
	} else if (!strcmp(cmd, "remove") && argc == 5) {
		uint8_t id[LOSS_ID_LEN];
		if (!loss_id_parse(argv[4], id))
			central_die("not a card id (32 hex digits): %s", argv[4]);
		pend(id, 0, (int64_t)time(NULL) / 86400); /* the day of the change */
	} else if (!strcmp(cmd, "generate") && (argc == 5 || argc == 6)) {
		long n = atol(argv[4]), regions = argc == 6 ? atol(argv[5]) : 16;
		if (n <= 0 || regions <= 0 || regions > 9999)
			central_die("usage: generate N [REGIONS], not %s", argv[4]);
		store_exec("BEGIN");
		for (long i = 0; i < n; i++) {
			uint8_t id[LOSS_ID_LEN];
			unsigned r = randombytes_uniform((uint32_t)regions);
			id[0] = 0x63, id[1] = (uint8_t)(r >> 8), id[2] = (uint8_t)r;
			memcpy(id + 3, "\xD1\x56\x00\x00\x05", 5);
			randombytes_buf(id + 8, 8);
			pend(id, 1 + (int)randombytes_uniform(3), 18000 + randombytes_uniform(3650));
		}
		store_exec("COMMIT");
	} else if (!strcmp(cmd, "publish") && argc == 5) {
		if (mkdir(argv[4], 0755) < 0 && errno != EEXIST)
			central_die("cannot create %s", argv[4]);
		publish(argv[4]);
	} else if (!strcmp(cmd, "resign") && argc == 5) {
		resign(argv[4]);
	} else if (!strcmp(cmd, "run") && (argc == 5 || argc == 6)) {
		double iv = argc == 6 ? atof(argv[5]) : 10;
		if (iv < 0.05 || iv > 86400)
			central_die("usage: run PUBDIR [SECONDS between versions, 0.05–86400], not %s", argv[5]);
		if (mkdir(argv[4], 0755) < 0 && errno != EEXIST)
			central_die("cannot create %s", argv[4]);
		run(argv[4], iv);
	} else if (!strcmp(cmd, "serve") && (argc == 6 || argc == 7)) {
		double iv = argc == 7 ? atof(argv[6]) : 0;
		if (iv != 0 && (iv < 0.05 || iv > 86400))
			central_die("usage: serve PUBDIR ADDR:PORT [SECONDS between versions; 0 or none: serve only], not %s",
			    argv[6]);
		if (mkdir(argv[4], 0755) < 0 && errno != EEXIST)
			central_die("cannot create %s", argv[4]);
		serve(argv[4], argv[5], iv);
	} else if (!strcmp(cmd, "check") && argc == 5) {
		check(argv[4]);
	} else if (!strcmp(cmd, "info") && argc == 4) {
		size_t n, p;
		free(rows("loss", &n));
		free(rows("pending", &p));
		printf("version %lld, %zu losses published, %zu changes pending\n",
		       (long long)store_meta_get("version"), n, p);
	} else {
		int r = api_cli(argc, argv);
		if (r == 1)
			central_die("unknown command or wrong arguments: %s", cmd);
		if (r)
			return 1;
	}
	sqlite3_close_v2(db);
	return 0;
}
