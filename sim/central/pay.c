/* pay.c — see pay.h. */
#include "sim/central/pay.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "sim/central/store.h"

static int64_t env_s(const char *name, int64_t def)
{
	const char *e = getenv(name);
	return e && atoll(e) > 0 ? atoll(e) : def;
}

void pay_schema(void)
{
	sqlite3_exec(db,
		     "CREATE TABLE IF NOT EXISTS payments(order_id TEXT PRIMARY KEY, key TEXT UNIQUE,"
		     " terminal TEXT, card_id TEXT NOT NULL, purpose TEXT NOT NULL, amount_fen INTEGER NOT NULL,"
		     " state TEXT NOT NULL, created INTEGER NOT NULL, expires INTEGER NOT NULL,"
		     " paid_at INTEGER, done_at INTEGER) WITHOUT ROWID;",
		     NULL, NULL, NULL);
}

struct order {
	bool found;
	char id[40], card[40], purpose[24], state[16];
	long long amount;
	int64_t expires, paid_at;
};

static void set_state(const char *id, const char *state)
{
	sqlite3_stmt *s;
	sqlite3_prepare_v2(db, "UPDATE payments SET state = ?, done_at = ? WHERE order_id = ?", -1, &s, NULL);
	sqlite3_bind_text(s, 1, state, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)time(NULL));
	sqlite3_bind_text(s, 3, id, -1, SQLITE_STATIC);
	sqlite3_step(s);
	sqlite3_finalize(s);
}

/* What time has made of the orders: created past expiry → expired; paid
 * and never used within the settle time → refunded. */
static void sweep(void)
{
	sqlite3_stmt *s;
	int64_t now = (int64_t)time(NULL);
	sqlite3_prepare_v2(db, "UPDATE payments SET state = 'expired', done_at = ?1 WHERE state = 'created'"
			       " AND expires < ?1", -1, &s, NULL);
	sqlite3_bind_int64(s, 1, (sqlite3_int64)now);
	sqlite3_step(s);
	sqlite3_finalize(s);
	sqlite3_prepare_v2(db, "UPDATE payments SET state = 'refunded', done_at = ?1 WHERE state = 'paid'"
			       " AND paid_at < ?2", -1, &s, NULL);
	sqlite3_bind_int64(s, 1, (sqlite3_int64)now);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)(now - env_s("SSCARD_CENTRAL_PAY_SETTLE_S", 600)));
	sqlite3_step(s);
	sqlite3_finalize(s);
}

static struct order get(const char *sql, const char *a, const char *b)
{
	struct order o = {0};
	sqlite3_stmt *s;
	sqlite3_prepare_v2(db, sql, -1, &s, NULL);
	sqlite3_bind_text(s, 1, a, -1, SQLITE_STATIC);
	if (b)
		sqlite3_bind_text(s, 2, b, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW) {
		o.found = true;
		snprintf(o.id, sizeof o.id, "%s", (const char *)sqlite3_column_text(s, 0));
		snprintf(o.card, sizeof o.card, "%s", (const char *)sqlite3_column_text(s, 1));
		snprintf(o.purpose, sizeof o.purpose, "%s", (const char *)sqlite3_column_text(s, 2));
		o.amount = sqlite3_column_int64(s, 3);
		snprintf(o.state, sizeof o.state, "%s", (const char *)sqlite3_column_text(s, 4));
		o.expires = sqlite3_column_int64(s, 5);
		o.paid_at = sqlite3_column_int64(s, 6);
	}
	sqlite3_finalize(s);
	return o;
}

#define COLS "SELECT order_id, card_id, purpose, amount_fen, state, expires, coalesce(paid_at, 0) FROM payments "

static struct order by_id(const char *id)
{
	return get(COLS "WHERE order_id = ?", id, NULL);
}

static json_t *fail(int *status, int code, const char *error, const char *message)
{
	*status = code;
	return json_pack("{s:s,s:s}", "error", error, "message", message);
}

static json_t *order_json(const struct order *o)
{
	return json_pack("{s:s,s:s,s:I}", "order_id", o->id, "state", o->state, "amount_fen",
			 (json_int_t)o->amount);
}

static json_t *create(json_t *body, const char *key, const char *terminal, int *status)
{
	const char *purpose = json_string_value(json_object_get(body, "purpose"));
	const char *card = json_string_value(json_object_get(body, "card_id"));
	json_int_t amount = json_integer_value(json_object_get(body, "amount_fen"));
	if (!key || strlen(key) != 32)
		return fail(status, 400, "bad_request", "An order needs an Idempotency-Key (32 hex).");
	if (!purpose || strcmp(purpose, "replacement") || !card || strlen(card) != 32 || amount <= 0 ||
	    amount > 1000000)
		return fail(status, 400, "bad_request", "purpose replacement, card_id (32 hex), amount_fen > 0.");
	struct order o = get(COLS "WHERE key = ?", key, NULL);
	if (o.found) { /* the terminal did not hear the answer: the same order */
		*status = 201;
		goto answer;
	}
	o = get(COLS "WHERE card_id = upper(?) AND purpose = ? AND state = 'paid'", card, purpose);
	if (o.found) {
		*status = 409;
		return json_pack("{s:s,s:s,s:s}", "error", "already_paid", "message",
				 "The fee for this card is paid already.", "order_id", o.id);
	}
	uint8_t r[12];
	char id[40] = "P";
	randombytes_buf(r, sizeof r);
	for (size_t i = 0; i < sizeof r; i++)
		snprintf(id + strlen(id), sizeof id - strlen(id), "%02X", r[i]);
	sqlite3_stmt *s;
	int64_t now = (int64_t)time(NULL);
	sqlite3_prepare_v2(db, "INSERT INTO payments(order_id, key, terminal, card_id, purpose, amount_fen, state,"
			       " created, expires) VALUES(?, ?, ?, upper(?), ?, ?, 'created', ?, ?)", -1, &s, NULL);
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, terminal ? terminal : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, card, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, purpose, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 6, amount);
	sqlite3_bind_int64(s, 7, (sqlite3_int64)now);
	sqlite3_bind_int64(s, 8, (sqlite3_int64)(now + env_s("SSCARD_CENTRAL_PAY_EXPIRY_S", 300)));
	sqlite3_step(s);
	sqlite3_finalize(s);
	o = by_id(id);
	*status = 201;
answer:;
	char url[120];
	snprintf(url, sizeof url, "https://pay.example.invalid/sscard/%s", o.id);
	json_t *j = order_json(&o);
	json_object_set_new(j, "pay_url", json_string(url));
	json_object_set_new(j, "expires_in", json_integer((json_int_t)(o.expires - (int64_t)time(NULL))));
	return j;
}

json_t *pay_request(const char *method, const char *url, json_t *body, const char *key, const char *terminal,
		    int *status)
{
	if (strncmp(url, "/v1/payments", 12) || (url[12] && url[12] != '/'))
		return NULL;
	sweep();
	if (!url[12]) {
		if (strcmp(method, "POST"))
			return fail(status, 405, "method_not_allowed", "Use POST.");
		/* the key as a header, or in the body (the kiosk's calls) */
		if (!key)
			key = json_string_value(json_object_get(body, "idempotency_key"));
		return create(body, key, terminal, status);
	}
	char id[40];
	const char *rest = url + 13;
	size_t n = strcspn(rest, "/");
	if (!n || n >= sizeof id)
		return fail(status, 404, "order_unknown", "No such order.");
	memcpy(id, rest, n);
	id[n] = 0;
	struct order o = by_id(id);
	if (!o.found)
		return fail(status, 404, "order_unknown", "No such order.");
	if (!rest[n] && !strcmp(method, "GET")) {
		*status = 200;
		return order_json(&o);
	}
	if (!strcmp(rest + n, "/cancel") && !strcmp(method, "POST")) {
		if (!strcmp(o.state, "paid") || !strcmp(o.state, "used")) {
			*status = 409;
			json_t *j = order_json(&o);
			json_object_set_new(j, "error", json_string("already_paid"));
			return j;
		}
		if (!strcmp(o.state, "created"))
			set_state(o.id, "cancelled");
		o = by_id(id);
		*status = 200;
		return order_json(&o);
	}
	return fail(status, 404, "not_found", "No such call.");
}

bool pay_use(const char *order_id, const char *card_id, const char **why)
{
	sweep();
	struct order o = by_id(order_id);
	if (!o.found || strcasecmp(o.card, card_id)) {
		*why = "order_unknown";
		return false;
	}
	if (!strcmp(o.state, "used"))
		return true; /* the same request again (another key): it was filed */
	if (strcmp(o.state, "paid")) {
		*why = "not_paid";
		return false;
	}
	set_state(o.id, "used");
	return true;
}

int pay_cli(const char *order_id)
{
	sweep();
	/* "last": the newest order waiting to be paid (the demo's phone) */
	struct order o = strcmp(order_id, "last") ? by_id(order_id)
			 : get(COLS "WHERE state = ? ORDER BY created DESC LIMIT 1", "created", NULL);
	if (!o.found)
		return fprintf(stderr, "sscard-central: no order %s\n", order_id), 2;
	if (!strcmp(o.state, "created")) {
		sqlite3_stmt *s;
		sqlite3_prepare_v2(db, "UPDATE payments SET state = 'paid', paid_at = ? WHERE order_id = ?", -1, &s,
				   NULL);
		sqlite3_bind_int64(s, 1, (sqlite3_int64)time(NULL));
		sqlite3_bind_text(s, 2, o.id, -1, SQLITE_STATIC);
		sqlite3_step(s);
		sqlite3_finalize(s);
		printf("paid\n");
	} else if (!strcmp(o.state, "cancelled") || !strcmp(o.state, "expired")) {
		set_state(o.id, "refunded"); /* paid too late: the money goes back */
		printf("refunded\n");
	} else
		printf("%s\n", o.state);
	return 0;
}
