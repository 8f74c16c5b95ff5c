/* http.h — what every libcurl transfer to the central sets: no signals,
 * http(s) only, no redirects, the configured CA and client certificate,
 * a connect timeout. */
#ifndef SSCARD_HTTP_H
#define SSCARD_HTTP_H

#include <curl/curl.h>

#include "config.h"

void http_common(CURL *h, const struct config *c, char errbuf[CURL_ERROR_SIZE]);

#endif
