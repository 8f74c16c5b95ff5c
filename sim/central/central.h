/* central.h — what the reference central's parts share (sim/ only). */
#ifndef SSCARD_SIM_CENTRAL_H
#define SSCARD_SIM_CENTRAL_H

#include <microhttpd.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>

#include "daemon/losslist/losslist.h"

extern sqlite3 *db;               /* central.db; every use under central_mu */
extern pthread_mutex_t central_mu;

/* The central's clock (SSCARD_CENTRAL_CLOCK_OFFSET shifts it for tests). */
int64_t clock_now(void);
/* A change for the loss list's next version (state 0: off the list). */
void pend(const uint8_t id[LOSS_ID_LEN], int state, int64_t day);

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
