/* central_api.c — the reference central's request API (HTTP + JSON), served
 * by `sscard-central serve` beside the loss list files:
 *
 *   POST /v1/requests        Idempotency-Key: 32 hex; {type, card_id, …}
 *        types loss_report {loss: temporary|formal}, loss_cancel,
 *        replacement {outlet, delegated, fee_fen, damaged}, activation,
 *        pin_changed, pin_reset {op: unblock|reload}. A replayed key gets the first answer (2xx or 4xx)
 *        with `Idempotent-Replayed: true`; a request against the card's
 *        state gets 409 and a code.
 *   GET  /v1/cards/<card_id>  state, since, masked holder, replacement
 *   POST /v1/holders/lookup   {ssn, name} → masked cards; a one-time code is
 *                             "sent" (logged, and readable by tests through
 *                             GET /v1/admin/otp?ssn= with X-Admin-Token);
 *                             with "identified_by":"idcard" (the terminal read
 *                             the holder's ID card) the cards with their ids
 *                             and no code, unless SSCARD_CENTRAL_IDCARD=no
 *   POST /v1/holders/verify   {ssn, code} → the cards with their ids
 *   POST /v1/ecodes/resolve   {code, send_otp} → the holder of an e-voucher
 *                             code (`ecode-issue SSN` makes one, 60 s, once)
 *   GET  /v1/admin/requests   every request taken (tests)
 *
 * Card states and rules: shared/domain.md. Terminals authenticate with
 * `Authorization: Bearer TOKEN` when SSCARD_CENTRAL_TOKEN is set (and/or a
 * TLS client certificate, see central.c). Faults for tests:
 * SSCARD_CENTRAL_FAULTS="drop=0.1,err500=0.1,lose_reply=0.1,delay_ms=100".
 * Everything runs under central_mu: one request at a time. */
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "apdu/ssc.h"
#include "sim/central/tlsauth.h"
#include "daemon/mask.h"
#include "sim/central/api.h"
#include "sim/central/hsm.h"
#include "sim/central/pay.h"
#include "sim/central/store.h"

#define BODY_MAX (16 * 1024)
#define OTP_TRIES 3

struct upload {
	char *buf;
	size_t len;
	bool too_big;
};

static struct {
	double drop, err500, lose_reply;
	unsigned delay_ms;
	bool read;
} faults;

static void read_faults(void)
{
	const char *f = getenv("SSCARD_CENTRAL_FAULTS");
	if (faults.read)
		return;
	faults.read = true;
	if (!f)
		return;
	char copy[256], *save, *kv;
	snprintf(copy, sizeof copy, "%s", f);
	for (kv = strtok_r(copy, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		double v;
		char k[32];
		if (sscanf(kv, "%31[^=]=%lf", k, &v) != 2)
			continue;
		if (!strcmp(k, "drop"))
			faults.drop = v;
		else if (!strcmp(k, "err500"))
			faults.err500 = v;
		else if (!strcmp(k, "lose_reply"))
			faults.lose_reply = v;
		else if (!strcmp(k, "delay_ms"))
			faults.delay_ms = (unsigned)v;
	}
}

static bool chance(double p)
{
	return p > 0 && randombytes_uniform(1000000) < (uint32_t)(p * 1e6);
}

void api_schema(void)
{
	sqlite3_exec(db,
		     "CREATE TABLE IF NOT EXISTS holders(ssn TEXT PRIMARY KEY, name TEXT NOT NULL,"
		     " phone TEXT NOT NULL) WITHOUT ROWID;"
		     "CREATE TABLE IF NOT EXISTS cards(card_id TEXT PRIMARY KEY, ssn TEXT NOT NULL,"
		     " state TEXT NOT NULL, since INTEGER NOT NULL, replaced_by TEXT, outlet TEXT,"
		     " ready_day INTEGER, delegated INTEGER, fee_fen INTEGER, card_number TEXT) WITHOUT ROWID;"
		     "CREATE TABLE IF NOT EXISTS requests(seq INTEGER PRIMARY KEY, key TEXT UNIQUE NOT NULL,"
		     " terminal TEXT, type TEXT, card_id TEXT, status INTEGER, reply TEXT, at INTEGER);"
		     "CREATE TABLE IF NOT EXISTS otps(ssn TEXT PRIMARY KEY, code TEXT, expires INTEGER,"
		     " tries INTEGER) WITHOUT ROWID;"
		     /* card-spec §10: who was verified, when and how (the HSM's proof) */
		     "CREATE TABLE IF NOT EXISTS verifications(id TEXT PRIMARY KEY, ssn TEXT NOT NULL,"
		     " at INTEGER NOT NULL, how TEXT NOT NULL) WITHOUT ROWID;"
		     /* every PIN unblock and reload the HSM made a MAC for */
		     "CREATE TABLE IF NOT EXISTS pin_ops(seq INTEGER PRIMARY KEY, card_id TEXT NOT NULL,"
		     " terminal TEXT, op TEXT NOT NULL, at INTEGER NOT NULL);"
		     /* e-voucher codes (医保电子凭证) the holders' phones show: once each */
		     "CREATE TABLE IF NOT EXISTS ecodes(code TEXT PRIMARY KEY, ssn TEXT NOT NULL,"
		     " expires INTEGER NOT NULL, used INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;",
		     NULL, NULL, NULL);
	/* a central made before cards had their printed numbers */
	sqlite3_exec(db, "ALTER TABLE cards ADD COLUMN card_number TEXT", NULL, NULL, NULL);
	pay_schema();
}

static int temp_days(void)
{
	const char *e = getenv("SSCARD_CENTRAL_TEMPORARY_DAYS");
	int d = e ? atoi(e) : 15;
	return d > 0 ? d : 15;
}

static int loss_code(const char *state)
{
	return !strcmp(state, "temporary") ? 1 : !strcmp(state, "formal") ? 2
	       : !strcmp(state, "cancelled") ? 3 : 0;
}

struct card {
	bool found;
	char id[33], ssn[19], state[16], replaced_by[33], outlet[64], number[24];
	int64_t since, ready_day;
};

static void set_state(const char *id, const char *state, int64_t now)
{
	sqlite3_stmt *s;
	uint8_t bin[LOSS_ID_LEN];
	sqlite3_prepare_v2(db, "UPDATE cards SET state = ?, since = ? WHERE card_id = ?", -1, &s, NULL);
	sqlite3_bind_text(s, 1, state, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, now);
	sqlite3_bind_text(s, 3, id, -1, SQLITE_STATIC);
	sqlite3_step(s);
	sqlite3_finalize(s);
	if (loss_id_parse(id, bin)) /* the loss list follows the card's state */
		pend(bin, loss_code(state), now / 86400);
}

/* The card as it stands now: a temporary loss past its days lapses. */
/* The number printed on a card (卡号) this central issued without one on
 * record: X and eight digits from its chip id, the same every time. */
static void card_number_of(const char *id, char out[24])
{
	size_t n = strlen(id);
	unsigned long v = strtoul(n > 8 ? id + n - 8 : id, NULL, 16);
	snprintf(out, 24, "X%08lu", v % 100000000ul);
}

static struct card get_card(const char *id, int64_t now)
{
	struct card c = {0};
	sqlite3_stmt *s;
	sqlite3_prepare_v2(db, "SELECT card_id, ssn, state, since, ifnull(replaced_by, ''),"
			       " ifnull(outlet, ''), ifnull(ready_day, 0), ifnull(card_number, '') FROM cards"
			       " WHERE card_id = ?",
			   -1, &s, NULL);
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW) {
		c.found = true;
		snprintf(c.id, sizeof c.id, "%s", (const char *)sqlite3_column_text(s, 0));
		snprintf(c.ssn, sizeof c.ssn, "%s", (const char *)sqlite3_column_text(s, 1));
		snprintf(c.state, sizeof c.state, "%s", (const char *)sqlite3_column_text(s, 2));
		c.since = sqlite3_column_int64(s, 3);
		snprintf(c.replaced_by, sizeof c.replaced_by, "%s", (const char *)sqlite3_column_text(s, 4));
		snprintf(c.outlet, sizeof c.outlet, "%s", (const char *)sqlite3_column_text(s, 5));
		c.ready_day = sqlite3_column_int64(s, 6);
		snprintf(c.number, sizeof c.number, "%s", (const char *)sqlite3_column_text(s, 7));
	}
	if (c.found && !c.number[0]) /* none recorded: the number this central printed on it */
		card_number_of(c.id, c.number);
	sqlite3_finalize(s);
	if (c.found && !strcmp(c.state, "temporary") && now - c.since > temp_days() * 86400LL) {
		set_state(c.id, "normal", now);
		snprintf(c.state, sizeof c.state, "normal");
		c.since = now;
	}
	return c;
}

static json_t *refuse(int *status, int code, const char *err, const char *msg)
{
	*status = code;
	return json_pack("{s:s,s:s}", "error", err, "message", msg);
}

static void day_text(int64_t day, char *out, size_t cap)
{
	time_t t = (time_t)(day * 86400);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, cap, "%Y-%m-%d", &tm);
}

/* Apply one request to the cards; the answer and its status. */
static json_t *apply(const char *type, json_t *body, const char *card_id, int *status)
{
	int64_t now = clock_now();
	struct card c = get_card(card_id, now);
	*status = 200;
	if (!c.found)
		return refuse(status, 404, "card_not_found", "No such card at the central.");
	if (!strcmp(type, "loss_report")) {
		const char *loss = json_string_value(json_object_get(body, "loss"));
		if (!loss || (strcmp(loss, "temporary") && strcmp(loss, "formal")))
			return refuse(status, 400, "bad_request", "loss must be temporary or formal.");
		if (!strcmp(c.state, "cancelled"))
			return refuse(status, 409, "card_cancelled",
				      "This card was cancelled for good (replaced); it cannot be reported lost.");
		if (!(strcmp(c.state, "formal") == 0 && !strcmp(loss, "temporary")))
			set_state(c.id, loss, now);
		return json_pack("{s:s}", "state", !strcmp(c.state, "formal") ? "formal" : loss);
	}
	if (!strcmp(type, "loss_cancel")) {
		if (*c.replaced_by)
			return refuse(status, 409, "replacement_applied",
				      "A replacement was applied for; the loss can no longer be cancelled.");
		if (strcmp(c.state, "temporary") && strcmp(c.state, "formal"))
			return refuse(status, 409, "not_lost", "This card is not reported lost.");
		set_state(c.id, "normal", now);
		return json_pack("{s:s}", "state", "normal");
	}
	if (!strcmp(type, "replacement")) {
		const char *outlet = json_string_value(json_object_get(body, "outlet"));
		bool damaged = json_is_true(json_object_get(body, "damaged"));
		if (!outlet || !*outlet || strlen(outlet) >= sizeof c.outlet)
			return refuse(status, 400, "bad_request", "outlet is required.");
		if (!strcmp(c.state, "cancelled"))
			return refuse(status, 409, "card_cancelled", "This card was already replaced.");
		/* a fee paid at the terminal: the order must be paid, for this card */
		const char *order = json_string_value(json_object_get(body, "order_id"));
		const char *why = NULL;
		if (order && !pay_use(order, c.id, &why))
			return refuse(status, 409, why, "The fee's order is not paid for this card.");
		if (strcmp(c.state, "temporary") && strcmp(c.state, "formal") && !damaged)
			return refuse(status, 409, "not_lost",
				      "A replacement is for a lost card, or a damaged one (say damaged).");
		char new_id[33], day[16];
		uint8_t r[8];
		randombytes_buf(r, sizeof r);
		snprintf(new_id, sizeof new_id, "%.16s%02X%02X%02X%02X%02X%02X%02X%02X", c.id, r[0], r[1],
			 r[2], r[3], r[4], r[5], r[6], r[7]);
		/* the terminal says when the outlet promised it; else a week */
		int64_t ready = now / 86400 + 7;
		const char *rd = json_string_value(json_object_get(body, "ready_date"));
		struct tm rtm = {0};
		if (rd && strlen(rd) == 10 && strptime(rd, "%Y-%m-%d", &rtm))
			ready = (int64_t)timegm(&rtm) / 86400;
		sqlite3_stmt *s;
		sqlite3_prepare_v2(db, "INSERT INTO cards(card_id, ssn, state, since) VALUES(?, ?, 'sealed', ?)",
				   -1, &s, NULL);
		sqlite3_bind_text(s, 1, new_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, c.ssn, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 3, now);
		sqlite3_step(s);
		sqlite3_finalize(s);
		sqlite3_prepare_v2(db, "UPDATE cards SET replaced_by = ?, outlet = ?, ready_day = ?,"
				       " delegated = ?, fee_fen = ? WHERE card_id = ?", -1, &s, NULL);
		sqlite3_bind_text(s, 1, new_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, outlet, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 3, ready);
		sqlite3_bind_int(s, 4, json_is_true(json_object_get(body, "delegated")));
		sqlite3_bind_int64(s, 5, json_integer_value(json_object_get(body, "fee_fen")));
		sqlite3_bind_text(s, 6, c.id, -1, SQLITE_STATIC);
		sqlite3_step(s);
		sqlite3_finalize(s);
		set_state(c.id, "cancelled", now); /* the old card, for good */
		char masked[40];
		char number[24];
		card_number_of(new_id, number);
		mask_card_number(number, masked, sizeof masked);
		day_text(ready, day, sizeof day);
		return json_pack("{s:s,s:s,s:s,s:s}", "state", "cancelled", "new_card", masked,
				 "ready_date", day, "outlet", outlet);
	}
	if (!strcmp(type, "activation")) {
		if (strcmp(c.state, "sealed"))
			return refuse(status, 409, "not_sealed",
				      "Only a new, sealed card can be activated; this one is not.");
		set_state(c.id, "normal", now);
		return json_pack("{s:s}", "state", "normal");
	}
	if (!strcmp(type, "pin_changed"))
		return json_pack("{s:s}", "state", c.state);
	if (!strcmp(type, "pin_reset")) {
		const char *op = json_string_value(json_object_get(body, "op"));
		if (!op || (strcmp(op, "unblock") && strcmp(op, "reload")))
			return refuse(status, 400, "bad_op", "op must be unblock or reload.");
		return json_pack("{s:s,s:s}", "state", c.state, "op", op);
	}
	return refuse(status, 400, "unknown_type",
		      "type must be loss_report, loss_cancel, replacement, activation, pin_changed or pin_reset.");
}

static enum MHD_Result reply_json(struct MHD_Connection *c, int status, json_t *j, bool replayed)
{
	char *text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (!text)
		return MHD_NO;
	size_t n = strlen(text);
	struct MHD_Response *r = MHD_create_response_from_buffer(n, text, MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(r, "Content-Type", "application/json");
	if (replayed)
		MHD_add_response_header(r, "Idempotent-Replayed", "true");
	enum MHD_Result rv = MHD_queue_response(c, (unsigned)status, r);
	MHD_destroy_response(r);
	return rv;
}

static enum MHD_Result fail_json(struct MHD_Connection *c, int status, const char *code,
			     const char *msg)
{
	return reply_json(c, status, json_pack("{s:s,s:s}", "error", code, "message", msg), false);
}

static bool hex_ok(const char *s, size_t n)
{
	return s && strlen(s) == n && strspn(s, "0123456789abcdefABCDEF") == n;
}

/* Take one request: the stored answer for a key seen before, else the
 * rules, stored with the key in one transaction. *status 0: not stored. */
static json_t *take(const char *key, const char *term, json_t *body, int *status, bool *replayed)
{
	const char *type = json_string_value(json_object_get(body, "type"));
	const char *card = json_string_value(json_object_get(body, "card_id"));
	sqlite3_stmt *s;
	*replayed = false;
	if (!hex_ok(key, 32))
		return refuse(status, 400, "bad_request", "Idempotency-Key must be 32 hexadecimal digits.");
	/* a key seen before: the first answer, whatever the body says now */
	sqlite3_prepare_v2(db, "SELECT status, reply FROM requests WHERE key = ?", -1, &s, NULL);
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW) {
		*status = sqlite3_column_int(s, 0);
		json_t *j = json_loads((const char *)sqlite3_column_text(s, 1), 0, NULL);
		sqlite3_finalize(s);
		*replayed = true;
		return j ? j : json_object();
	}
	sqlite3_finalize(s);
	if (!type || !hex_ok(card, 32))
		return refuse(status, 400, "bad_request", "type and card_id (32 hex digits) are required.");
	char up[33];
	for (int i = 0; i < 33; i++)
		up[i] = (char)(card[i] >= 'a' && card[i] <= 'f' ? card[i] - 32 : card[i]);
	sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	json_t *j = apply(type, body, up, status);
	sqlite3_int64 seq = 0;
	sqlite3_prepare_v2(db, "SELECT ifnull(max(seq), 0) + 1 FROM requests", -1, &s, NULL);
	if (sqlite3_step(s) == SQLITE_ROW)
		seq = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	char ref[24];
	snprintf(ref, sizeof ref, "C%08lld", (long long)seq);
	json_object_set_new(j, "reference", json_string(ref));
	json_object_set_new(j, "type", json_string(type));
	char *text = json_dumps(j, JSON_COMPACT);
	sqlite3_prepare_v2(db, "INSERT INTO requests(seq, key, terminal, type, card_id, status, reply, at)"
			       " VALUES(?, ?, ?, ?, ?, ?, ?, ?)", -1, &s, NULL);
	sqlite3_bind_int64(s, 1, seq);
	sqlite3_bind_text(s, 2, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, term ? term : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, type, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, up, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 6, *status);
	sqlite3_bind_text(s, 7, text ? text : "{}", -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 8, (sqlite3_int64)time(NULL));
	int rc = sqlite3_step(s);
	sqlite3_finalize(s);
	free(text);
	if (rc != SQLITE_DONE || sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		json_decref(j);
		*status = 0;
		return refuse(status, 503, "busy", "The central could not store the request; try again.");
	}
	fprintf(stderr, "request %s %s %s → %d\n", ref, type, key, *status);
	return j;
}

int api_take(const char *key, const char *body, size_t len)
{
	int status = 0;
	bool replayed;
	json_t *b = json_loadb(body, len, 0, NULL);
	if (!json_is_object(b)) {
		json_decref(b);
		return 400;
	}
	json_decref(take(key, "fuzz", b, &status, &replayed));
	json_decref(b);
	return status;
}

static enum MHD_Result post_request(struct MHD_Connection *c, json_t *body)
{
	const char *key = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Idempotency-Key");
	const char *term = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Terminal-Id");
	int status = 0;
	bool replayed;
	json_t *j = take(key, term, body, &status, &replayed);
	if (!replayed && status >= 200 && status < 500 && status != 400 &&
	    chance(faults.lose_reply)) { /* committed, but the answer never arrives */
		json_decref(j);
		return MHD_NO;
	}
	return reply_json(c, status, j, replayed);
}

static bool name_matches(const char *ssn, const char *name, char *phone, size_t cap)
{
	sqlite3_stmt *s;
	bool ok = false;
	sqlite3_prepare_v2(db, "SELECT name, phone FROM holders WHERE ssn = ?", -1, &s, NULL);
	sqlite3_bind_text(s, 1, ssn, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW) {
		ok = !name || !strcmp((const char *)sqlite3_column_text(s, 0), name);
		snprintf(phone, cap, "%s", (const char *)sqlite3_column_text(s, 1));
	}
	sqlite3_finalize(s);
	return ok;
}

static json_t *cards_of(const char *ssn, bool full)
{
	sqlite3_stmt *s;
	json_t *a = json_array();
	int64_t now = clock_now();
	char ids[16][33];
	int n = 0;
	sqlite3_prepare_v2(db, "SELECT card_id FROM cards WHERE ssn = ? ORDER BY since", -1, &s, NULL);
	sqlite3_bind_text(s, 1, ssn, -1, SQLITE_STATIC);
	while (n < 16 && sqlite3_step(s) == SQLITE_ROW)
		snprintf(ids[n++], sizeof ids[0], "%s", (const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	for (int i = 0; i < n; i++) {
		struct card c = get_card(ids[i], now);
		char m[40];
		mask_id(c.id, m, sizeof m);
		json_t *o = json_pack("{s:s,s:s}", "masked", m, "state", c.state);
		if (full) {
			json_object_set_new(o, "card_id", json_string(c.id));
			json_object_set_new(o, "card_number", json_string(c.number));
		}
		json_array_append_new(a, o);
	}
	return a;
}

/* A verification of the holder of ssn, by how ("otp", "idcard"): its id,
 * the proof /v1/auth/pin asks for (card-spec §10). */
static json_t *verification(const char *ssn, const char *how)
{
	uint8_t r[16];
	char id[33];
	sqlite3_stmt *s;
	randombytes_buf(r, sizeof r);
	for (int i = 0; i < 16; i++)
		snprintf(id + 2 * i, 3, "%02x", r[i]);
	sqlite3_prepare_v2(db, "INSERT INTO verifications VALUES(?, ?, ?, ?)", -1, &s, NULL);
	sqlite3_bind_text(s, 1, id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(s, 2, ssn, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, (sqlite3_int64)time(NULL));
	sqlite3_bind_text(s, 4, how, -1, SQLITE_STATIC);
	sqlite3_step(s);
	sqlite3_finalize(s);
	return json_string(id);
}

/* A one-time code "sent" to the holder's phone (the demo's SMS is the
 * log; tests read it through /v1/admin/otp): the masked phone. */
static json_t *send_otp(const char *ssn, const char *phone)
{
	sqlite3_stmt *s;
	char code[8], m[40], ph[40];
	snprintf(code, sizeof code, "%06u", randombytes_uniform(1000000));
	sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO otps VALUES(?, ?, ?, 0)", -1, &s, NULL);
	sqlite3_bind_text(s, 1, ssn, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, code, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, (sqlite3_int64)time(NULL) + 300);
	sqlite3_step(s);
	sqlite3_finalize(s);
	mask_ssn(ssn, m, sizeof m);
	fprintf(stderr, "one-time code for %s: %s (the demo's SMS)\n", m, code);
	snprintf(ph, sizeof ph, "%.3s****%s", phone, strlen(phone) > 4 ? phone + strlen(phone) - 4 : "");
	return json_string(ph);
}

/* POST /v1/ecodes/resolve {code, send_otp}: the holder behind an e-voucher
 * code their phone shows (valid 60 s, once): ssn, name, the cards with
 * their ids and a verification (as the one-time code gives); with send_otp
 * a one-time code is sent too. 404 code_unknown, 410 code_expired or
 * code_used. */
static enum MHD_Result ecode_resolve(struct MHD_Connection *c, json_t *body)
{
	const char *code = json_string_value(json_object_get(body, "code"));
	char ssn[24] = "", name[64] = "", phone[32] = "";
	int64_t expires = 0;
	int used = 0;
	sqlite3_stmt *s;
	if (!code || strlen(code) > 512)
		return fail_json(c, 404, "code_unknown", "This is not an e-voucher code.");
	sqlite3_prepare_v2(db, "SELECT e.ssn, e.expires, e.used, h.name, h.phone FROM ecodes e"
			       " JOIN holders h ON h.ssn = e.ssn WHERE e.code = ?", -1, &s, NULL);
	sqlite3_bind_text(s, 1, code, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW) {
		snprintf(ssn, sizeof ssn, "%s", (const char *)sqlite3_column_text(s, 0));
		expires = sqlite3_column_int64(s, 1);
		used = sqlite3_column_int(s, 2);
		snprintf(name, sizeof name, "%s", (const char *)sqlite3_column_text(s, 3));
		snprintf(phone, sizeof phone, "%s", (const char *)sqlite3_column_text(s, 4));
	}
	sqlite3_finalize(s);
	if (!*ssn)
		return fail_json(c, 404, "code_unknown", "This is not an e-voucher code.");
	if (used)
		return fail_json(c, 410, "code_used", "This code was used already; refresh it in the app.");
	if (expires < (int64_t)time(NULL))
		return fail_json(c, 410, "code_expired", "This code has expired; refresh it in the app.");
	sqlite3_prepare_v2(db, "UPDATE ecodes SET used = 1 WHERE code = ?", -1, &s, NULL);
	sqlite3_bind_text(s, 1, code, -1, SQLITE_STATIC);
	sqlite3_step(s);
	sqlite3_finalize(s);
	json_t *r = json_pack("{s:s,s:s,s:o,s:s,s:o}", "ssn", ssn, "name", name, "cards", cards_of(ssn, true),
			      "identified_by", "ecode", "verification", verification(ssn, "ecode"));
	if (json_is_true(json_object_get(body, "send_otp")))
		json_object_set_new(r, "otp_sent_to", send_otp(ssn, phone));
	return reply_json(c, 200, r, false);
}

static enum MHD_Result holders(struct MHD_Connection *c, const char *what, json_t *body)
{
	const char *ssn = json_string_value(json_object_get(body, "ssn"));
	char phone[32] = "";
	sqlite3_stmt *s;
	if (!ssn || strlen(ssn) != 18 || !ssc_ssn_check(ssn))
		return fail_json(c, 400, "check_digit",
			     "That is not a valid social security number (check the last character).");
	if (!strcmp(what, "lookup")) {
		const char *name = json_string_value(json_object_get(body, "name"));
		if (!name || !name_matches(ssn, name, phone, sizeof phone))
			return fail_json(c, 404, "holder_not_found",
				     "No card holder with this number and name.");
		/* a terminal that read the holder's ID card: no code needed, unless
		 * this region wants one anyway (SSCARD_CENTRAL_IDCARD=no) */
		const char *by = json_string_value(json_object_get(body, "identified_by"));
		const char *policy = getenv("SSCARD_CENTRAL_IDCARD");
		if (by && !strcmp(by, "idcard") && !(policy && !strcmp(policy, "no")))
			return reply_json(c, 200, json_pack("{s:o,s:s,s:o}", "cards", cards_of(ssn, true),
							    "identified_by", "idcard", "verification",
							    verification(ssn, "idcard")), false);
		return reply_json(c, 200, json_pack("{s:o,s:o}", "cards", cards_of(ssn, false), "otp_sent_to",
						    send_otp(ssn, phone)), false);
	}
	/* verify */
	const char *code = json_string_value(json_object_get(body, "code"));
	sqlite3_prepare_v2(db, "SELECT code, expires, tries FROM otps WHERE ssn = ?", -1, &s, NULL);
	sqlite3_bind_text(s, 1, ssn, -1, SQLITE_STATIC);
	char want[8] = "";
	int64_t expires = 0;
	int tries = OTP_TRIES;
	if (sqlite3_step(s) == SQLITE_ROW) {
		snprintf(want, sizeof want, "%s", (const char *)sqlite3_column_text(s, 0));
		expires = sqlite3_column_int64(s, 1);
		tries = sqlite3_column_int(s, 2);
	}
	sqlite3_finalize(s);
	if (!*want || expires < (int64_t)time(NULL) || tries >= OTP_TRIES)
		return fail_json(c, 403, "otp_expired", "The code has expired; ask for a new one.");
	if (!code || strcmp(code, want)) {
		sqlite3_prepare_v2(db, "UPDATE otps SET tries = tries + 1 WHERE ssn = ?", -1, &s, NULL);
		sqlite3_bind_text(s, 1, ssn, -1, SQLITE_STATIC);
		sqlite3_step(s);
		sqlite3_finalize(s);
		return reply_json(c, 403, json_pack("{s:s,s:s,s:i}", "error", "otp_wrong", "message",
					      "The code is not right.", "tries_left",
					      OTP_TRIES - tries - 1), false);
	}
	sqlite3_prepare_v2(db, "DELETE FROM otps WHERE ssn = ?", -1, &s, NULL);
	sqlite3_bind_text(s, 1, ssn, -1, SQLITE_STATIC);
	sqlite3_step(s);
	sqlite3_finalize(s);
	return reply_json(c, 200, json_pack("{s:o,s:o}", "cards", cards_of(ssn, true), "verification",
					    verification(ssn, "otp")), false);
}

/* card-spec §10: POST /v1/auth/pin {card_id, challenge, command, proof} →
 * {mac}, only with a fresh proof that this card's holder was verified,
 * within the card's count, each one recorded. */
static enum MHD_Result auth_pin(struct MHD_Connection *c, json_t *body)
{
	const char *id = json_string_value(json_object_get(body, "card_id"));
	const char *proof = json_string_value(json_object_get(body, "proof"));
	const char *term = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Terminal-Id");
	const char *limit_s = getenv("SSCARD_CENTRAL_PIN_LIMIT");
	int limit = limit_s ? atoi(limit_s) : 10, used = 0;
	char up[33] = "", ssn[24] = "";
	sqlite3_stmt *s;
	if (!id || !hex_ok(id, 32))
		return fail_json(c, 400, "bad_card_id", "card_id must be 32 hex digits.");
	for (int i = 0; i < 33; i++)
		up[i] = (char)(id[i] >= 'a' && id[i] <= 'f' ? id[i] - 32 : id[i]);
	/* the proof: a verification of this card's holder, in the last 5 minutes */
	sqlite3_prepare_v2(db, "SELECT v.ssn FROM verifications v JOIN cards k ON k.ssn = v.ssn"
			       " WHERE v.id = ? AND k.card_id = ? AND v.at >= ?", -1, &s, NULL);
	sqlite3_bind_text(s, 1, proof ? proof : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, up, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, (sqlite3_int64)time(NULL) - 300);
	if (sqlite3_step(s) == SQLITE_ROW)
		snprintf(ssn, sizeof ssn, "%s", (const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	if (!*ssn)
		return fail_json(c, 403, "proof_required",
				 "The holder of this card must be verified first (one-time code or ID card) "
				 "within the last 5 minutes.");
	sqlite3_prepare_v2(db, "SELECT count(*) FROM pin_ops WHERE card_id = ?", -1, &s, NULL);
	sqlite3_bind_text(s, 1, up, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW)
		used = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	if (used >= limit)
		return fail_json(c, 409, "limit_reached",
				 "This card has been unlocked or reset as many times as it may be; it must be replaced.");
	int status;
	const char *op = NULL;
	json_t *a = hsm_pin(body, &status, &op);
	if (status == 200) {
		sqlite3_prepare_v2(db, "INSERT INTO pin_ops(card_id, terminal, op, at) VALUES(?, ?, ?, ?)", -1, &s,
				   NULL);
		sqlite3_bind_text(s, 1, up, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, term ? term : "", -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 3, op, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 4, (sqlite3_int64)time(NULL));
		sqlite3_step(s);
		sqlite3_finalize(s);
	}
	return reply_json(c, status, a, false);
}

static enum MHD_Result get_card_reply(struct MHD_Connection *c, const char *id)
{
	char up[33], m[40], name[64] = "", day[16];
	if (!hex_ok(id, 32))
		return fail_json(c, 400, "bad_request", "A card id is 32 hexadecimal digits.");
	for (int i = 0; i < 33; i++)
		up[i] = (char)(id[i] >= 'a' && id[i] <= 'f' ? id[i] - 32 : id[i]);
	struct card k = get_card(up, clock_now());
	if (!k.found)
		return fail_json(c, 404, "card_not_found", "No such card at the central.");
	sqlite3_stmt *s;
	sqlite3_prepare_v2(db, "SELECT name FROM holders WHERE ssn = ?", -1, &s, NULL);
	sqlite3_bind_text(s, 1, k.ssn, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW)
		mask_name((const char *)sqlite3_column_text(s, 0), name, sizeof name);
	sqlite3_finalize(s);
	mask_id(k.id, m, sizeof m);
	json_t *j = json_pack("{s:s,s:s,s:I,s:s,s:s}", "card_id", k.id, "state", k.state, "since",
			      (json_int_t)k.since, "holder", name, "card_number", k.number);
	if (*k.replaced_by) {
		char number[24];
		card_number_of(k.replaced_by, number);
		mask_card_number(number, m, sizeof m);
		day_text(k.ready_day, day, sizeof day);
		bool ready = clock_now() / 86400 >= k.ready_day;
		json_object_set_new(j, "replacement",
				    json_pack("{s:s,s:s,s:s,s:s}", "new_card", m, "outlet", k.outlet,
					      "ready_date", day, "progress",
					      ready ? "ready for pick-up" : "being made"));
	}
	return reply_json(c, 200, j, false);
}

static bool header_is(struct MHD_Connection *c, const char *h, const char *prefix,
		      const char *want)
{
	const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, h);
	size_t n = strlen(prefix);
	return v && !strncmp(v, prefix, n) && !strcmp(v + n, want);
}

static enum MHD_Result admin(struct MHD_Connection *c, const char *url)
{
	const char *tok = getenv("SSCARD_CENTRAL_ADMIN_TOKEN");
	if (!tok || !*tok || !header_is(c, "X-Admin-Token", "", tok))
		return fail_json(c, 403, "forbidden", "Admin calls need X-Admin-Token.");
	sqlite3_stmt *s;
	if (!strcmp(url, "/v1/admin/otp")) {
		const char *ssn = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "ssn");
		json_t *j = json_object();
		sqlite3_prepare_v2(db, "SELECT code FROM otps WHERE ssn = ?", -1, &s, NULL);
		sqlite3_bind_text(s, 1, ssn ? ssn : "", -1, SQLITE_STATIC);
		if (sqlite3_step(s) == SQLITE_ROW)
			json_object_set_new(j, "code", json_string((const char *)sqlite3_column_text(s, 0)));
		sqlite3_finalize(s);
		return reply_json(c, 200, j, false);
	}
	if (!strcmp(url, "/v1/admin/requests")) {
		json_t *a = json_array();
		sqlite3_prepare_v2(db, "SELECT seq, key, type, card_id, status, terminal, reply FROM requests"
				       " ORDER BY seq", -1, &s, NULL);
		while (sqlite3_step(s) == SQLITE_ROW) {
			const char *rtext = (const char *)sqlite3_column_text(s, 6);
			json_t *reply = rtext ? json_loads(rtext, 0, NULL) : NULL;
			json_array_append_new(
				a, json_pack("{s:I,s:s,s:s,s:s,s:i,s:s,s:o}", "seq",
					     (json_int_t)sqlite3_column_int64(s, 0), "key",
					     (const char *)sqlite3_column_text(s, 1), "type",
					     (const char *)sqlite3_column_text(s, 2), "card_id",
					     (const char *)sqlite3_column_text(s, 3), "status",
					     sqlite3_column_int(s, 4), "terminal",
					     (const char *)sqlite3_column_text(s, 5), "reply",
					     reply ? reply : json_null()));
		}
		sqlite3_finalize(s);
		return reply_json(c, 200, json_pack("{s:o}", "requests", a), false);
	}
	return fail_json(c, 404, "not_found", "No such admin call.");
}

static enum MHD_Result route(struct MHD_Connection *c, const char *url, const char *method,
			     struct upload *u)
{
	const char *tok = getenv("SSCARD_CENTRAL_TOKEN");
	if (!strncmp(url, "/v1/admin/", 10))
		return admin(c, url);
	if (tok && *tok && !header_is(c, "Authorization", "Bearer ", tok))
		return fail_json(c, 401, "unauthorized", "This terminal is not known to the central.");
	int st;
	char why[200];
	const char *refused = tlsauth_check(c, &st, why, sizeof why);
	if (refused)
		return fail_json(c, st, refused, why);
	if (!strcmp(method, "GET") && !strncmp(url, "/v1/cards/", 10))
		return get_card_reply(c, url + 10);
	if (!strcmp(method, "GET") && !strncmp(url, "/v1/payments/", 13)) {
		int pst = 200;
		json_t *pj = pay_request(method, url, NULL, NULL, NULL, &pst);
		return reply_json(c, pst, pj ? pj : json_object(), false);
	}
	if (strcmp(method, "POST"))
		return fail_json(c, 405, "method_not_allowed", "Use POST.");
	if (u->too_big)
		return fail_json(c, 413, "too_large", "The request body is too large.");
	json_error_t je;
	json_t *body = u->len ? json_loadb(u->buf, u->len, 0, &je) : NULL;
	if (!json_is_object(body)) {
		json_decref(body);
		return fail_json(c, 400, "bad_json", "The body must be a JSON object.");
	}
	enum MHD_Result rv;
	if (!strcmp(url, "/v1/requests"))
		rv = post_request(c, body);
	else if (!strcmp(url, "/v1/holders/lookup"))
		rv = holders(c, "lookup", body);
	else if (!strcmp(url, "/v1/holders/verify"))
		rv = holders(c, "verify", body);
	else if (!strcmp(url, "/v1/auth/pin"))
		rv = auth_pin(c, body);
	else if (!strcmp(url, "/v1/ecodes/resolve"))
		rv = ecode_resolve(c, body);
	else if (!strncmp(url, "/v1/payments", 12)) {
		int pst = 404;
		json_t *pj = pay_request(method, url, body,
					 MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Idempotency-Key"),
					 MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Terminal-Id"), &pst);
		rv = pj ? reply_json(c, pst, pj, false) : fail_json(c, 404, "not_found", "No such call.");
	}
	else if (!strcmp(url, "/v1/auth/external")) {
		int status;
		json_t *a = hsm_external(body, &status);
		rv = reply_json(c, status, a, false);
	}
	else
		rv = fail_json(c, 404, "not_found", "No such call.");
	json_decref(body);
	return rv;
}

enum MHD_Result api_handle(struct MHD_Connection *c, const char *url, const char *method,
			   const char *upload, size_t *upload_size, void **state)
{
	struct upload *u = *state;
	if (!u) {
		if (!(u = calloc(1, sizeof *u)))
			return MHD_NO;
		*state = u;
		return MHD_YES;
	}
	if (*upload_size) {
		if (u->len + *upload_size > BODY_MAX)
			u->too_big = true;
		else {
			char *m = realloc(u->buf, u->len + *upload_size + 1);
			if (!m)
				return MHD_NO;
			u->buf = m;
			memcpy(u->buf + u->len, upload, *upload_size);
			u->len += *upload_size;
		}
		*upload_size = 0;
		return MHD_YES;
	}
	read_faults();
	bool adm = !strncmp(url, "/v1/admin/", 10); /* the tests' own calls: no faults */
	if (faults.delay_ms && !adm)
		usleep(faults.delay_ms * 1000u);
	if (!adm && chance(faults.drop))
		return MHD_NO; /* the connection drops before anything happens */
	if (!adm && chance(faults.err500))
		return fail_json(c, 500, "internal", "Something went wrong at the central.");
	pthread_mutex_lock(&central_mu);
	enum MHD_Result rv = route(c, url, method, u);
	pthread_mutex_unlock(&central_mu);
	return rv;
}

void api_done(void *state)
{
	struct upload *u = state;
	if (u) {
		free(u->buf);
		free(u);
	}
}

int api_cli(int argc, char **argv)
{
	const char *cmd = argv[3];
	sqlite3_stmt *s;
	if (!strcmp(cmd, "holder-add") && argc == 7) {
		if (!ssc_ssn_check(argv[4]))
			return fprintf(stderr, "sscard-central: not a valid SSN: %s\n", argv[4]), 2;
		sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO holders VALUES(?, ?, ?)", -1, &s, NULL);
		for (int i = 0; i < 3; i++)
			sqlite3_bind_text(s, i + 1, argv[4 + i], -1, SQLITE_STATIC);
	} else if (!strcmp(cmd, "card-add") && (argc == 7 || argc == 8)) {
		uint8_t id[LOSS_ID_LEN];
		if (!loss_id_parse(argv[4], id) || !strstr(" normal sealed temporary formal cancelled ", argv[6]))
			return fprintf(stderr, "sscard-central: card-add CARD_ID SSN normal|sealed|temporary|formal|cancelled"
					       " [CARD_NUMBER]\n"), 2;
		/* the card afresh in this state (no replacement, no outlet); its
		 * printed number kept unless one is given */
		sqlite3_prepare_v2(db, "INSERT INTO cards(card_id, ssn, state, since, card_number)"
				       " VALUES(upper(?1), ?2, ?3, ?4, ?5) ON CONFLICT(card_id) DO UPDATE SET"
				       " ssn = ?2, state = ?3, since = ?4, replaced_by = NULL, outlet = NULL,"
				       " ready_day = NULL, delegated = NULL, fee_fen = NULL,"
				       " card_number = coalesce(?5, card_number)", -1, &s, NULL);
		sqlite3_bind_text(s, 1, argv[4], -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, argv[5], -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 3, argv[6], -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 4, (sqlite3_int64)time(NULL));
		if (argc == 8)
			sqlite3_bind_text(s, 5, argv[7], -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(s, 5);
		if (loss_code(argv[6]))
			pend(id, loss_code(argv[6]), (int64_t)time(NULL) / 86400);
	} else if (!strcmp(cmd, "ecode-issue") && (argc == 5 || argc == 6)) {
		/* the code a holder's phone shows: printed, valid SECONDS (60), once */
		uint8_t r[24];
		char code[80] = "SSCARD-EV1:";
		char phone[32];
		int secs = argc == 6 ? atoi(argv[5]) : 60;
		if (!ssc_ssn_check(argv[4]) || !name_matches(argv[4], NULL, phone, sizeof phone))
			return fprintf(stderr, "sscard-central: no holder with SSN %s\n", argv[4]), 2;
		randombytes_buf(r, sizeof r);
		for (size_t i = 0; i < sizeof r; i++)
			snprintf(code + strlen(code), sizeof code - strlen(code), "%02X", r[i]);
		sqlite3_prepare_v2(db, "INSERT INTO ecodes(code, ssn, expires) VALUES(?, ?, ?)", -1, &s, NULL);
		sqlite3_bind_text(s, 1, code, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(s, 2, argv[4], -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 3, (sqlite3_int64)time(NULL) + secs);
		printf("%s\n", code);
	} else if (!strcmp(cmd, "pay") && argc == 5) {
		return pay_cli(argv[4]);
	} else if (!strcmp(cmd, "requests") && argc == 4) {
		sqlite3_prepare_v2(db, "SELECT reply FROM requests ORDER BY seq", -1, &s, NULL);
		while (sqlite3_step(s) == SQLITE_ROW)
			printf("%s\n", (const char *)sqlite3_column_text(s, 0));
		sqlite3_finalize(s);
		return 0;
	} else
		return 1;
	int rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return fprintf(stderr, "sscard-central: %s\n", sqlite3_errmsg(db)), 2;
	return 0;
}
