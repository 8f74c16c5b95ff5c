/* http.c — common libcurl settings for the central. */
#include "http.h"

void http_common(CURL *h, const struct config *c, char errbuf[CURL_ERROR_SIZE])
{
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "sscardd");
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)c->timeout_ms);
	if (*c->ca)
		curl_easy_setopt(h, CURLOPT_CAINFO, c->ca);
	if (*c->client_cert)
		curl_easy_setopt(h, CURLOPT_SSLCERT, c->client_cert);
	if (*c->client_key)
		curl_easy_setopt(h, CURLOPT_SSLKEY, c->client_key);
}
