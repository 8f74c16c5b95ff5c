/* http.c — common libcurl settings for the central. */
#include "daemon/http.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

void http_common(CURL *h, const struct config *c, char errbuf[CURL_ERROR_SIZE])
{
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "sscardd");
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)c->timeout_ms);
	/* [upstream] ca names the only CAs trusted for the central: Debian's
	 * libcurl also looks in its compiled-in CA directory (/etc/ssl/certs)
	 * unless told not to, and then any public CA could vouch for an
	 * impostor. "system" (and unset) keep the system's CAs. */
	if (*c->ca && strcmp(c->ca, "system")) {
		curl_easy_setopt(h, CURLOPT_CAINFO, c->ca);
		curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
	}
	if (*c->pin)
		curl_easy_setopt(h, CURLOPT_PINNEDPUBLICKEY, c->pin);
	if (*c->client_cert)
		curl_easy_setopt(h, CURLOPT_SSLCERT, c->client_cert);
	if (*c->client_key)
		curl_easy_setopt(h, CURLOPT_SSLKEY, c->client_key);
}

struct curl_slist *http_headers(struct curl_slist *h, const struct config *c)
{
	char line[200];
	h = curl_slist_append(h, "Content-Type: application/json");
	if (*c->token) {
		snprintf(line, sizeof line, "Authorization: Bearer %s", c->token);
		h = curl_slist_append(h, line);
	}
	if (*c->terminal_id) {
		snprintf(line, sizeof line, "X-Terminal-Id: %s", c->terminal_id);
		h = curl_slist_append(h, line);
	}
	return h;
}

bool http_clock_error(CURLcode rc, const char *err, char *why, size_t cap)
{
	if (rc != CURLE_PEER_FAILED_VERIFICATION && rc != CURLE_SSL_CONNECT_ERROR &&
	    rc != CURLE_SSL_CERTPROBLEM)
		return false;
	bool notyet = err && strstr(err, "not yet valid"), expired = err && strstr(err, "expired");
	if (!notyet && !expired)
		return false;
	char now[40];
	time_t t = time(NULL);
	struct tm tm;
	if (!gmtime_r(&t, &tm) || !strftime(now, sizeof now, "%Y-%m-%d %H:%M UTC", &tm))
		snprintf(now, sizeof now, "?");
	snprintf(why, cap,
		 "this terminal's clock is probably wrong (it reads %s): the server's certificate looks %s "
		 "to it; set the clock (NTP) (%s)",
		 now, notyet ? "not yet valid" : "expired", err);
	return true;
}
