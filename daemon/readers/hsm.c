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

enum ss_err hsm_cryptogram(void *arg, const uint8_t card_id[16], const uint8_t challenge[8],
			   uint8_t out[16])
{
	struct hsm *h = arg;
	struct config *c = malloc(sizeof *c);
	char url[300], body[100], err[CURL_ERROR_SIZE] = "";
	struct answer a = {.len = 0};
	long status = 0;
	enum ss_err e = SS_E_SAM;
	CURL *curl = curl_easy_init();
	struct curl_slist *hdr = NULL;

	if (!c || !curl)
		goto out;
	pthread_mutex_lock(&h->mu);
	*c = h->cfg;
	pthread_mutex_unlock(&h->mu);
	if (!c->url[0]) {
		log_msg(LOG_WARNING, "external authentication: no [upstream] url for the HSM");
		goto out;
	}
	snprintf(url, sizeof url, "%s/v1/auth/external", c->url);
	int n = snprintf(body, sizeof body, "{\"card_id\":\"");
	for (int i = 0; i < 16; i++)
		n += snprintf(body + n, sizeof body - (size_t)n, "%02X", card_id[i]);
	n += snprintf(body + n, sizeof body - (size_t)n, "\",\"challenge\":\"");
	for (int i = 0; i < 8; i++)
		n += snprintf(body + n, sizeof body - (size_t)n, "%02X", challenge[i]);
	snprintf(body + n, sizeof body - (size_t)n, "\"}");
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
		log_msg(LOG_WARNING, "external authentication: the central's HSM did not answer: %s",
			*err ? err : curl_easy_strerror(rc));
		goto out;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	a.buf[a.len] = 0;
	json_t *j = json_loads(a.buf, 0, NULL);
	const char *cg = json_string_value(json_object_get(j, "cryptogram"));
	if (status == 200 && cg && strlen(cg) == 32 && hex_decode(cg, out, 16) == 16)
		e = SS_OK;
	else if (status >= 400 && status < 500 && status != 401 && status != 403 && status != 408 &&
		 status != 429) {
		const char *why = json_string_value(json_object_get(j, "error"));
		log_msg(LOG_WARNING, "external authentication: the central refused (HTTP %ld, %s)", status,
			why ? why : "no reason");
		e = SS_E_AUTH;
	} else
		log_msg(LOG_WARNING, "external authentication: the central's answer is not a cryptogram "
				     "(HTTP %ld)", status);
	json_decref(j);
out:
	explicit_bzero(&a, sizeof a);
	curl_slist_free_all(hdr);
	if (curl)
		curl_easy_cleanup(curl);
	if (c) {
		explicit_bzero(c, sizeof *c);
		free(c);
	}
	return e;
}
