/* nfc_read — read the card on an NFC reader through drivers/nfc.c and
 * the same ssc.c as the contact path; print the read reply's JSON. For the
 * integration tests (contact and contactless reads compared field by
 * field) and the contactless benchmark. Usage: nfc-read CONNSTRING [N]
 * nfc-read CONNSTRING challenge: GET CHALLENGE for 256 bytes (a 258-byte
 * answer on the air, chained), prints {"ok":…,"len":N,"sw":"9000"}. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apdu/ssc.h"
#include "daemon/json.h"
#include "drivers/reader.h"

int main(int argc, char **argv)
{
	struct nfc_rdr *r;
	struct rdr_card card;
	struct ssc_card c;
	char name[RDR_NAME_MAX];
	int rounds = argc > 2 ? atoi(argv[2]) : 1;
	if (argc < 2)
		return 2;
	enum ss_err e = nfc_rdr_open(argv[1], &r, name, sizeof name);
	if (e != SS_OK) {
		printf("{\"ok\":false,\"error\":\"%s\"}\n", ss_err_name(e));
		return 1;
	}
	if (argc > 2 && !strcmp(argv[2], "challenge")) {
		static const struct apdu gc = {.cla = 0x00, .ins = 0x84, .le = 256};
		struct apdu_resp rsp;
		if ((e = nfc_rdr_poll(r, &card)) == SS_OK)
			e = apdu_transmit(&card.tr, &gc, &rsp);
		if (e == SS_OK)
			printf("{\"ok\":true,\"len\":%zu,\"sw\":\"%04X\"}\n", rsp.len, rsp.sw);
		else
			printf("{\"ok\":false,\"error\":\"%s\"}\n", ss_err_name(e));
		nfc_rdr_close(r);
		return e == SS_OK ? 0 : 1;
	}
	for (int i = 0; i < rounds; i++) {
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		if ((e = nfc_rdr_poll(r, &card)) == SS_OK)
			e = ssc_read(&card.tr, &c);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
		json_t *j = e == SS_OK ? json_read_result(name, card.interface, card.atr, card.atr_len, &c, ms)
				       : json_error(e, NULL);
		if (i == rounds - 1 || e != SS_OK) {
			char *t = json_dumps(j, JSON_COMPACT);
			printf("%s\n", t);
			free(t);
		}
		json_decref(j);
		ssc_card_wipe(&c);
		if (e != SS_OK)
			break;
	}
	nfc_rdr_close(r);
	return e == SS_OK ? 0 : 1;
}
