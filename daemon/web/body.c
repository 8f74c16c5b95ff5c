/* body.c — the web API's request body check (web.h): size, JSON, object. */
#include <stdio.h>

#include "daemon/web/web.h"

json_t *web_parse_body(const char *body, size_t len, char *err, size_t errlen)
{
	json_error_t je;
	if (len > WEB_BODY_MAX) {
		snprintf(err, errlen, "the request body is larger than %d bytes", WEB_BODY_MAX);
		return NULL;
	}
	json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	if (!j) {
		snprintf(err, errlen, "the request body is not valid JSON (at character %d)", je.position);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		snprintf(err, errlen, "the request body must be a JSON object");
		return NULL;
	}
	return j;
}

