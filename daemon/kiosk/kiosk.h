/* kiosk.h — the kiosk's flows wired to the daemon: the card through the
 * reader manager, the central through upcall, requests into the outbox,
 * step clocks on the event loop, receipts to the printer. web.c serves
 * what this says; sscardd feeds it the daemon's events. */
#ifndef SSCARD_KIOSK_H
#define SSCARD_KIOSK_H

#include <jansson.h>
#include <systemd/sd-event.h>

#include "apdu/sserr.h"
#include "daemon/config.h"
#include "daemon/prom.h"
#include "daemon/outbox/outbox.h"
#include "daemon/readers/idreader.h"
#include "daemon/readers/scanner.h"
#include "daemon/readers/readers.h"

struct kiosk;

/* publish(arg, name, data): a Server-Sent Event for every page ("view",
 * "banner"); data borrowed. list_state(): the loss list summary (new ref). */
struct kiosk_deps {
	struct readers *readers;
	struct idreader *idreader;                /* NULL: no ID card reader */
	struct scanner *scanner;                  /* NULL: no code scanner */
	struct outbox *outbox;
	json_t *(*list_state)(void);
	void (*publish)(void *arg, const char *name, json_t *data);
	void (*emit)(void *arg, json_t *event);   /* to the control socket (borrowed) */
	void *arg;
};

int kiosk_new(sd_event *ev, const struct config *cfg, const struct kiosk_deps *deps,
	      struct kiosk **out);
void kiosk_free(struct kiosk *k);
/* Where deps.publish's arg points (the web server comes after the kiosk). */
void kiosk_set_publisher(struct kiosk *k, void *arg);
/* A daemon event (card_inserted, card_removed, outbox_delivered, …). */
void kiosk_event(struct kiosk *k, json_t *event);
/* New references. */
json_t *kiosk_view(struct kiosk *k);
json_t *kiosk_banner(struct kiosk *k);
/* The page's flow request (flow.h); SS_OK or an error with a sentence. */
enum ss_err kiosk_action(struct kiosk *k, json_t *req, char *err, size_t errlen);
/* The person pressed "call staff": logged (notice) and told to every
 * page and to the control socket's subscribers. */
enum ss_err kiosk_help(struct kiosk *k);
/* The kiosk's part of /metrics: flows started and finished by flow and
 * outcome, help calls, whether the central answers. */
void kiosk_metrics(struct kiosk *k, struct prom *p);
/* "printer" of sscardctl status: the receipt printer's state. */
void kiosk_add_status(struct kiosk *k, json_t *st);
/* Print the receipt on screen through `lp` ([ui] printer). */
enum ss_err kiosk_print(struct kiosk *k, char *err, size_t errlen);

#endif
