/* nfcmsg.h — what the NFC helper sends is checked before it is believed.
 * The helper runs libnfc, a foreign library that talks to a USB or serial
 * device: a fault or a compromise there must not become the daemon's. */
#ifndef SSCARD_READERS_NFCMSG_H
#define SSCARD_READERS_NFCMSG_H

#include <stdbool.h>
#include <stddef.h>

#include "daemon/readers/nfcd.h"

/* Validate a and make it safe to use in place: every enum in range, every
 * count within its array, every string NUL-terminated and UTF-8, every
 * flag 0 or 1, every number plausible. false with the first reason in why
 * (the message is then dropped whole). */
bool nfcmsg_check(struct nfcd_ans *a, char *why, size_t cap);

#endif
