/* http.h — what every libcurl transfer to the central sets: no signals,
 * http(s) only, no redirects, the configured CA and client certificate,
 * a connect timeout. */
#ifndef SSCARD_HTTP_H
#define SSCARD_HTTP_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>

#include "daemon/config.h"

void http_common(CURL *h, const struct config *c, char errbuf[CURL_ERROR_SIZE]);
/* The headers every JSON call to the central carries: Content-Type,
 * Authorization (with [upstream] token), X-Terminal-Id (with [daemon]
 * terminal_id); appended to h. */
struct curl_slist *http_headers(struct curl_slist *h, const struct config *c);
/* A TLS failure that this terminal's wrong clock explains (a certificate
 * "not yet valid" or "expired"): true and a sentence saying so in why. */
bool http_clock_error(CURLcode rc, const char *err, char *why, size_t cap);

#endif
