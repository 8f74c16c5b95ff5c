/* origin.h — whether an HTTP Host or Origin names this server, and the
 * [ui] allow_origins list: pure string checks shared by the config (which
 * validates the list) and the web server (which applies it). */
#ifndef SSCARD_ORIGIN_H
#define SSCARD_ORIGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Whether a Host (or an Origin's host part) names this server: pure, for
 * tests and the fuzzer. listen: "ADDR:PORT" as in the config. */
void web_split_listen(const char *listen, char *host, size_t cap, char *port, size_t pcap);
bool web_host_ok(const char *listen, const char *host);
bool web_origin_ok(const char *listen, const char *origin);
/* [ui] allow_origins: origins ("http://his.example:8080", "https://…")
 * separated by spaces or commas; no path, no wildcard. "" is valid (none). */
bool web_origins_valid(const char *list);
/* Whether origin is one of list's, exactly (scheme and host compared
 * without regard to case). */
bool web_origin_listed(const char *list, const char *origin);

#endif
