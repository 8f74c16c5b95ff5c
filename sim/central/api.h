/* api.h — the reference central's request API (api.c): holders, cards,
 * requests with idempotency keys, one-time codes. Built on store.h; the
 * publisher never calls it, main() wires both. sim/ only. */
#ifndef SSCARD_SIM_CENTRAL_API_H
#define SSCARD_SIM_CENTRAL_API_H

#include <microhttpd.h>
#include <stddef.h>

/* The request API's tables (holders, cards, requests, one-time codes). */
void api_schema(void);
/* Handle /v1/… (not the loss list files). MHD_YES/NO as MHD wants. */
enum MHD_Result api_handle(struct MHD_Connection *c, const char *url, const char *method,
			   const char *upload, size_t *upload_size, void **state);
void api_done(void *state);       /* a connection's request ended */
/* One request body under a key, without HTTP (the fuzz target); the status. */
int api_take(const char *key, const char *body, size_t len);
/* CLI: holder-add, card-add, seed-demo, requests. 0 handled, 1 unknown. */
int api_cli(int argc, char **argv);

#endif
