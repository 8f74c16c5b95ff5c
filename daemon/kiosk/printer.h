/* printer.h — the receipt printer's state, asked of CUPS (IPP through
 * libcups) by a thread of its own every [ui] printer_poll_s seconds and
 * right after a receipt was printed: ready, out of paper, jammed, offline,
 * stopped or missing. The kiosk hides "print receipt" when it cannot
 * print; an event and a metric follow the state. */
#ifndef SSCARD_PRINTER_H
#define SSCARD_PRINTER_H

#include <jansson.h>
#include <stdbool.h>
#include <systemd/sd-event.h>

#include "daemon/config.h"
#include "daemon/prom.h"

struct printer;

/* changed(arg, state, message) on the loop when the state changes. *out is
 * NULL when there is no [ui] printer. 0 or -errno. */
int printer_start(sd_event *ev, const struct config *cfg,
		  void (*changed)(void *arg, const char *state, const char *message), void *arg,
		  struct printer **out);
void printer_stop(struct printer *p);
/* "none" (no printer configured), "unknown" (not asked yet), "ready",
 * "out_of_paper", "jammed", "offline", "stopped", "missing". */
const char *printer_state(const struct printer *p);
/* Whether a receipt can be printed now ("unknown" counts as yes). */
bool printer_usable(const struct printer *p);
/* Ask CUPS again now (a receipt was just sent). */
void printer_poke(struct printer *p);
void printer_metrics(const struct printer *p, struct prom *m);
/* {"queue","state","message"}, or null without a printer (new reference). */
json_t *printer_status_json(const struct printer *p);

#endif
