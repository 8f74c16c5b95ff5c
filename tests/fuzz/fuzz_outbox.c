/* fuzz_outbox.c — libFuzzer target over both ends of a request: the first
 * byte picks
 *   0  how the terminal judges the central's answer (status + body)
 *   1  the `request TYPE CARD_ID name=value…` verb's argument (no outbox:
 *      everything before the database)
 *   2  the reference central taking a request body under a key, against an
 *      in-memory database with one holder and card (state rules, replay)
 * Nothing may crash, leak or read out of bounds; a replayed key must get
 * the first status. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/outbox/outbox.h"
#include "sim/central/api.h"
#include "sim/central/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

sqlite3 *db;
pthread_mutex_t central_mu = PTHREAD_MUTEX_INITIALIZER;

int64_t clock_now(void)
{
	return 1795000000;
}

void pend(const uint8_t id[LOSS_ID_LEN], int state, int64_t day)
{
	(void)id, (void)state, (void)day;
}

static void setup(void)
{
	if (db)
		return;
	sqlite3_open(":memory:", &db);
	api_schema();
	sqlite3_exec(db, "INSERT INTO holders VALUES('111111198101011110', 'Z', '13800138000');"
			 "INSERT INTO cards(card_id, ssn, state, since) VALUES"
			 "('639900D15600000500BF7C7A48FB4966', '111111198101011110', 'normal', 0),"
			 "('639900D15600000500BF7C7A48FB4967', '111111198101011110', 'sealed', 0);",
		     NULL, NULL, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char code[64], msg[300], buf[600];
	if (size < 1)
		return 0;
	uint8_t op = data[0] % 3;
	data++, size--;
	if (op == 0 && size >= 2) {
		long status = data[0] * 4 + data[1] % 4; /* 0–1023 */
		enum outbox_verdict v = outbox_judge(status, (const char *)data + 2, size - 2, code,
						     sizeof code, msg, sizeof msg);
		if ((status >= 200 && status < 300) != (v == OUTBOX_DELIVERED))
			abort();
	} else if (op == 1) {
		size_t n = size < sizeof buf - 1 ? size : sizeof buf - 1;
		memcpy(buf, data, n);
		buf[n] = 0;
		json_decref(outbox_request_verb(NULL, buf));
	} else if (op == 2) {
		setup();
		char key[33];
		static unsigned k;
		snprintf(key, sizeof key, "%032x", ++k % 64); /* keys repeat: replays */
		int first = api_take(key, (const char *)data, size);
		int again = api_take(key, (const char *)data, size);
		if (first != 400 && first != again)
			abort();
	}
	return 0;
}
