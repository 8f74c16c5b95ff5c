/* origin.c — pure checks of HTTP Host and Origin against [ui] listen and
 * [ui] allow_origins (origin.h): the web server's and the config's. */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "daemon/origin.h"

/* "127.0.0.1:8470" → host part and port. */
void web_split_listen(const char *listen, char *host, size_t cap, char *port, size_t pcap)
{
	const char *colon = strrchr(listen, ':');
	size_t n = colon ? (size_t)(colon - listen) : strlen(listen);
	if (n >= cap)
		n = cap - 1;
	memcpy(host, listen, n);
	host[n] = 0;
	snprintf(port, pcap, "%s", colon ? colon + 1 : "");
}

bool web_host_ok(const char *listen, const char *h)
{
	char host[80], port[16], want[100];
	if (!h)
		return false;
	web_split_listen(listen, host, sizeof host, port, sizeof port);
	snprintf(want, sizeof want, "%s:%s", host, port);
	if (!strcasecmp(h, want))
		return true;
	/* loopback may also be called localhost */
	bool loop = !strncmp(host, "127.", 4) || !strcmp(host, "[::1]");
	snprintf(want, sizeof want, "localhost:%s", port);
	return loop && !strcasecmp(h, want);
}

bool web_origin_ok(const char *listen, const char *origin)
{
	if (!origin || strncmp(origin, "http://", 7))
		return false;
	const char *h = origin + 7;
	if (strchr(h, '/'))
		return false;
	return web_host_ok(listen, h);
}

/* One origin: scheme://host[:port], nothing after. */
static bool origin_valid(const char *o, size_t n)
{
	size_t skip = n > 8 && !strncasecmp(o, "https://", 8) ? 8 : n > 7 && !strncasecmp(o, "http://", 7) ? 7 : 0;
	if (!skip)
		return false;
	for (size_t i = skip; i < n; i++)
		if (!(isalnum((unsigned char)o[i]) || strchr(".-:[]", o[i])))
			return false; /* a path, a query, a user, a '*' */
	return o[n - 1] != ':';
}

#define SEPS " \t,"

bool web_origins_valid(const char *list)
{
	for (const char *p = list + strspn(list, SEPS); *p; p += strspn(p, SEPS)) {
		size_t n = strcspn(p, SEPS);
		if (!origin_valid(p, n))
			return false;
		p += n;
	}
	return true;
}

bool web_origin_listed(const char *list, const char *origin)
{
	size_t on = origin ? strlen(origin) : 0;
	if (!on)
		return false;
	for (const char *p = list + strspn(list, SEPS); *p; p += strspn(p, SEPS)) {
		size_t n = strcspn(p, SEPS);
		if (n == on && !strncasecmp(p, origin, n))
			return true;
		p += n;
	}
	return false;
}
