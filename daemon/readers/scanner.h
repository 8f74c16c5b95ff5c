/* scanner.h — the QR code scanner ([readers] scanner = PATH[:BAUD]): a
 * scanner in serial mode (USB-CDC) sends each code it reads as text ending
 * with CR or LF. It is read on the event loop: the device is non-blocking
 * and every read takes only what is there, so a silent or half-sent
 * scanner can never stall the loop.
 *
 * A code (the holder's e-voucher, 医保电子凭证 / 电子社保卡) is a bearer
 * token: it is handed to the one consumer (the kiosk) and wiped; it never
 * reaches a log, an event, the status or a metric. What is counted is how
 * many came and why others were dropped: overlong (more than
 * SCANNER_CODE_MAX bytes), not_text (control or non-ASCII bytes), partial
 * (no CR/LF within SCANNER_PARTIAL_MS of the last byte). An unplugged
 * scanner is opened again every second.
 *
 * Events (nothing of a code): {"event":"scanner","state":"ready"|"absent"}. */
#ifndef SSCARD_SCANNER_H
#define SSCARD_SCANNER_H

#include <jansson.h>
#include <systemd/sd-event.h>

#include "daemon/config.h"
#include "daemon/prom.h"
#include "daemon/readers/readers.h"

#define SCANNER_CODE_MAX 512
#define SCANNER_PARTIAL_MS 300

struct scanner;

/* A whole code (NUL-terminated, len bytes); borrowed: wiped on return. */
typedef void (*scanner_code_fn)(void *arg, const char *code, size_t len);

/* Opens [readers] scanner when it is set; *out NULL otherwise (every call
 * below takes NULL: "no scanner"). 0 or -errno. */
int scanner_start(sd_event *ev, const struct config *cfg, readers_emit_fn emit, void *emit_arg,
		  struct scanner **out);
void scanner_stop(struct scanner *s);
/* Who gets the codes (the kiosk); NULL: they are dropped (counted). */
void scanner_on_code(struct scanner *s, scanner_code_fn fn, void *arg);
/* "off", "absent", "ready". */
const char *scanner_state(const struct scanner *s);
/* "scanner" member of sscardctl status; its part of /metrics. */
void scanner_add_status(const struct scanner *s, json_t *st);
void scanner_metrics(const struct scanner *s, struct prom *p);

#endif
