/* upcall.c — short calls to the central for the kiosk flows. */
#include "daemon/kiosk/upcall.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/http.h"
#include "daemon/log.h"
#include "daemon/notify.h"

#define UPCALL_BODY_MAX (256 * 1024)

struct upcall {
	const struct config *cfg;
	struct notifier *n;
	upcall_fn fn;
	void *arg;
	uint64_t next_id;
	atomic_int running;          /* threads not yet finished */
};

struct call {
	struct upcall *u;
	uint64_t id;
	struct config cfg;           /* a copy: a reload must not change it under us */
	char path[200];
	char *body;                  /* NULL: GET */
};

struct sink {
	char *p;
	size_t n;
	bool over;
};

static size_t on_data(char *p, size_t size, size_t nmemb, void *arg)
{
	struct sink *k = arg;
	size_t n = size * nmemb;
	if (k->n + n > UPCALL_BODY_MAX) {
		k->over = true;
		return 0;
	}
	char *q = realloc(k->p, k->n + n + 1);
	if (!q)
		return 0;
	memcpy(q + k->n, p, n);
	k->p = q;
	k->n += n;
	k->p[k->n] = 0;
	return n;
}

static void wipe_free(char *p)
{
	if (p) {
		sodium_memzero(p, strlen(p));
		free(p);
	}
}

static void *call_main(void *arg)
{
	struct call *c = arg;
	char url[512], err[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdr = NULL;
	struct sink k = {0};
	long status = 0;
	json_t *res;
	CURL *h = curl_easy_init();

	snprintf(url, sizeof url, "%s%s", c->cfg.url, c->path);
	if (h) {
		hdr = http_headers(curl_slist_append(hdr, "Accept: application/json"), &c->cfg);
		http_common(h, &c->cfg, err);
		curl_easy_setopt(h, CURLOPT_URL, url);
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
		if (c->body)
			curl_easy_setopt(h, CURLOPT_POSTFIELDS, c->body);
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)c->cfg.timeout_ms);
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
		curl_easy_setopt(h, CURLOPT_WRITEDATA, &k);
		CURLcode rc = curl_easy_perform(h);
		if (rc == CURLE_OK)
			curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		else if (!*err)
			snprintf(err, sizeof err, "%s", curl_easy_strerror(rc));
		if (k.over) {
			status = 0;
			snprintf(err, sizeof err, "the central's answer is larger than %d bytes",
				 UPCALL_BODY_MAX);
		}
		curl_slist_free_all(hdr);
		curl_easy_cleanup(h);
	} else
		snprintf(err, sizeof err, "out of memory");
	json_t *body = status && k.p ? json_loads(k.p, 0, NULL) : NULL;
	if (status && !json_is_object(body)) {
		json_decref(body);
		body = NULL;
		if (status >= 200 && status < 300) { /* a 2xx we cannot read is no answer */
			snprintf(err, sizeof err, "the central answered %ld with something that is not JSON",
				 status);
			status = 0;
		}
	}
	res = json_pack("{s:I,s:I,s:s}", "id", (json_int_t)c->id, "status", (json_int_t)status, "error",
			err);
	if (res && body)
		json_object_set_new(res, "body", body);
	else
		json_decref(body);
	wipe_free(k.p);
	notifier_post(c->u->n, res);
	wipe_free(c->body);
	atomic_fetch_sub(&c->u->running, 1);
	free(c);
	return NULL;
}

static void on_result(void *arg, json_t *ev)
{
	struct upcall *u = arg;
	if (!json_is_object(ev))
		return;
	json_t *body = json_object_get(ev, "body");
	u->fn(u->arg, (uint64_t)json_integer_value(json_object_get(ev, "id")),
	      (long)json_integer_value(json_object_get(ev, "status")), body,
	      json_string_value(json_object_get(ev, "error")));
}

int upcall_new(sd_event *ev, const struct config *cfg, upcall_fn fn, void *arg,
	       struct upcall **out)
{
	struct upcall *u = calloc(1, sizeof *u);
	int rv;
	if (!u)
		return -ENOMEM;
	u->cfg = cfg;
	u->fn = fn;
	u->arg = arg;
	atomic_init(&u->running, 0);
	if ((rv = notifier_new(ev, on_result, u, &u->n)) < 0) {
		free(u);
		return rv;
	}
	*out = u;
	return 0;
}

void upcall_free(struct upcall *u)
{
	if (!u)
		return;
	/* every call ends within timeout_ms (+ connect): wait for them */
	for (unsigned i = 0; atomic_load(&u->running) > 0 && i < 130000; i++)
		usleep(1000);
	if (atomic_load(&u->running) > 0) {
		log_msg(LOG_WARNING, "a call to the central did not end; leaving it behind");
		return; /* leak rather than free what a thread still uses */
	}
	notifier_free(u->n);
	free(u);
}

uint64_t upcall_start(struct upcall *u, const char *path, json_t *body)
{
	uint64_t id = ++u->next_id;
	struct call *c = calloc(1, sizeof *c);
	pthread_t th;
	pthread_attr_t at;
	const char *why = NULL;

	if (!c)
		why = "out of memory";
	else if (!*u->cfg->url)
		why = "no central is configured ([upstream] url)";
	if (!why) {
		c->u = u;
		c->id = id;
		c->cfg = *u->cfg;
		snprintf(c->path, sizeof c->path, "%s", path);
		if (body && !(c->body = json_dumps(body, JSON_COMPACT)))
			why = "out of memory";
	}
	if (!why) {
		atomic_fetch_add(&u->running, 1);
		pthread_attr_init(&at);
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&th, &at, call_main, c)) {
			atomic_fetch_sub(&u->running, 1);
			why = "cannot start a thread";
		}
		pthread_attr_destroy(&at);
	}
	if (why) {
		if (c)
			wipe_free(c->body);
		free(c);
		notifier_post(u->n, json_pack("{s:I,s:i,s:s}", "id", (json_int_t)id, "status", 0,
					      "error", why));
	}
	return id;
}
