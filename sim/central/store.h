/* store.h — the reference central's database and what every part of it
 * shares: the publisher (central.c) and the request API (api.c) both build
 * on this, neither on the other. sim/ only. */
#ifndef SSCARD_SIM_CENTRAL_STORE_H
#define SSCARD_SIM_CENTRAL_STORE_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>

#include "daemon/losslist/losslist.h"

extern const char *central_dir;   /* -d DIR: central.db, central.key */
extern sqlite3 *db;               /* central.db; every use under central_mu */
extern pthread_mutex_t central_mu;

/* Print "sscard-central: …" and exit(1). */
__attribute__((format(printf, 1, 2), noreturn)) void central_die(const char *fmt, ...);
/* Open DIR/central.db and make the loss list's tables (WAL). Dies on error. */
void store_open(void);
/* Run SQL; dies on error. */
void store_exec(const char *sql);
/* The meta table: 0 when key is absent. */
int64_t store_meta_get(const char *key);
void store_meta_set(const char *key, int64_t v);

/* The central's clock (SSCARD_CENTRAL_CLOCK_OFFSET shifts it for tests). */
int64_t clock_now(void);
/* A change for the loss list's next version (state 0: off the list). */
void pend(const uint8_t id[LOSS_ID_LEN], int state, int64_t day);

#endif
