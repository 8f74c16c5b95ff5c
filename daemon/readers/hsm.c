/* hsm.c — the central's HSM as a reader worker sees it (hsm.h). */
#include "daemon/readers/hsm.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apdu/apdu.h"
#include "daemon/http.h"
#include "daemon/log.h"

struct hsm {
	atomic_int refs;
	pthread_mutex_t mu;
	struct config cfg;           /* a copy: reloads swap it under mu */
};

struct hsm *hsm_new(const struct config *cfg)
{
	struct hsm *h = calloc(1, sizeof *h);
	if (!h)
		return NULL;
	atomic_init(&h->refs, 1);
	pthread_mutex_init(&h->mu, NULL);
	h->cfg = *cfg;
	return h;
}

void hsm_ref(struct hsm *h)
{
	atomic_fetch_add(&h->refs, 1);
}

void hsm_unref(struct hsm *h)
{
	if (!h || atomic_fetch_sub(&h->refs, 1) != 1)
		return;
	pthread_mutex_destroy(&h->mu);
	explicit_bzero(&h->cfg, sizeof h->cfg); /* the token */
	free(h);
}

void hsm_configure(struct hsm *h, const struct config *cfg)
{
	pthread_mutex_lock(&h->mu);
	h->cfg = *cfg;
	pthread_mutex_unlock(&h->mu);
}

struct answer {
	char buf[1024];
	size_t len;
	bool too_big;
};

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	struct answer *a = arg;
	size_t k = size * n;
	if (a->len + k >= sizeof a->buf) {
		a->too_big = true;
		return 0;
	}
	memcpy(a->buf + a->len, p, k);
	a->len += k;
	return k;
}

/* POST url/path with body; the answer's JSON (new reference, or NULL) and
 * HTTP status. false when the central did not answer at all (logged). */
static bool call(struct hsm *h, const char *path, const char *body, const char *what, json_t **ans, long *status)
{
	struct config *c = malloc(sizeof *c);
	char url[300], err[CURL_ERROR_SIZE] = "";
	struct answer a = {.len = 0};
	bool ok = false;
	CURL *curl = curl_easy_init();
	struct curl_slist *hdr = NULL;
	*ans = NULL;
	*status = 0;
	if (!c || !curl)
		goto out;
	pthread_mutex_lock(&h->mu);
	*c = h->cfg;
	pthread_mutex_unlock(&h->mu);
	if (!c->url[0]) {
		log_msg(LOG_WARNING, "%s: no [upstream] url for the HSM", what);
		goto out;
	}
	snprintf(url, sizeof url, "%s%s", c->url, path);
	hdr = http_headers(curl_slist_append(NULL, "Accept: application/json"), c);
	http_common(curl, c, err);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
	/* the whole call, connection included, within the authentication bound */
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)c->sam_timeout_ms);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)c->sam_timeout_ms);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &a);
	CURLcode rc = curl_easy_perform(curl);
	if (rc != CURLE_OK) {
		log_msg(LOG_WARNING, "%s: the central's HSM did not answer: %s", what,
			*err ? err : curl_easy_strerror(rc));
		goto out;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
	a.buf[a.len] = 0;
	*ans = json_loads(a.buf, 0, NULL);
	ok = true;
out:
	explicit_bzero(&a, sizeof a);
	curl_slist_free_all(hdr);
	if (curl)
		curl_easy_cleanup(curl);
	if (c) {
		explicit_bzero(c, sizeof *c);
		free(c);
	}
	return ok;
}

/* A refusal worth its own answer: a 4xx that is not about this terminal's
 * own credentials or a passing condition. */
static bool refusal(long status)
{
	return status >= 400 && status < 500 && status != 401 && status != 403 && status != 408 && status != 429;
}

static void hex_into(char *out, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02X", b[i]);
}

enum ss_err hsm_cryptogram(void *arg, const uint8_t card_id[16], const uint8_t challenge[8],
			   uint8_t out[16])
{
	char body[100], id[33], r[17];
	json_t *j;
	long status;
	enum ss_err e = SS_E_SAM;
	hex_into(id, card_id, 16);
	hex_into(r, challenge, 8);
	snprintf(body, sizeof body, "{\"card_id\":\"%s\",\"challenge\":\"%s\"}", id, r);
	if (!call(arg, "/v1/auth/external", body, "external authentication", &j, &status))
		return SS_E_SAM;
	const char *cg = json_string_value(json_object_get(j, "cryptogram"));
	if (status == 200 && cg && strlen(cg) == 32 && hex_decode(cg, out, 16) == 16)
		e = SS_OK;
	else if (refusal(status)) {
		const char *why = json_string_value(json_object_get(j, "error"));
		log_msg(LOG_WARNING, "external authentication: the central refused (HTTP %ld, %s)", status,
			why ? why : "no reason");
		e = SS_E_AUTH;
	} else
		log_msg(LOG_WARNING, "external authentication: the central's answer is not a cryptogram "
				     "(HTTP %ld)", status);
	json_decref(j);
	return e;
}

enum ss_err hsm_pin_mac(struct hsm *h, const uint8_t card_id[16], const uint8_t *in, size_t in_len,
			const char *proof, uint8_t mac[4])
{
	char body[400], id[33], r[17], cmd[2 * 32 + 1];
	json_t *j;
	long status;
	enum ss_err e = SS_E_SAM;
	/* in = R ‖ 00×8 ‖ M padded (method 2): the HSM wants R and M apart */
	size_t n = in_len;
	while (n > 16 && in[n - 1] == 0x00)
		n--;
	if (in_len < 32 || n <= 16 || in[n - 1] != 0x80 || n - 17 > 32)
		return SS_E_INVALID;
	hex_into(id, card_id, 16);
	hex_into(r, in, 8);
	hex_into(cmd, in + 16, n - 17);
	if (proof && (strlen(proof) > 64 || strspn(proof, "0123456789abcdefABCDEF") != strlen(proof)))
		proof = NULL; /* not a verification id: the central will say so */
	snprintf(body, sizeof body,
		 "{\"card_id\":\"%s\",\"challenge\":\"%s\",\"command\":\"%s\",\"proof\":\"%s\"}", id, r, cmd,
		 proof ? proof : "");
	bool answered = call(h, "/v1/auth/pin", body, "PIN unblock/reload", &j, &status);
	explicit_bzero(body, sizeof body); /* a reload's command holds the new PIN */
	explicit_bzero(cmd, sizeof cmd);
	if (!answered)
		return SS_E_SAM;
	const char *m = json_string_value(json_object_get(j, "mac"));
	const char *why = json_string_value(json_object_get(j, "error"));
	if (status == 200 && m && strlen(m) == 8 && hex_decode(m, mac, 4) == 4)
		e = SS_OK;
	else if (status == 403 && why && !strcmp(why, "proof_required"))
		e = SS_E_PROOF;
	else if (status == 409 && why && !strcmp(why, "limit_reached"))
		e = SS_E_PINKEY_SPENT;
	else if (refusal(status)) {
		log_msg(LOG_WARNING, "PIN unblock/reload: the central refused (HTTP %ld, %s)", status,
			why ? why : "no reason");
		e = SS_E_AUTH;
	} else
		log_msg(LOG_WARNING, "PIN unblock/reload: the central's answer is not a MAC (HTTP %ld)", status);
	json_decref(j);
	return e;
}
