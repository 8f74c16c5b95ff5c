/* readers.h — the daemon's reader manager. The event loop owns all state;
 * a monitor thread watches pcscd and one worker thread per reader does the
 * card sessions (each with its own PC/SC context), so a mute card blocks
 * only its own reader. Results come back through an eventfd queue. */
#ifndef SSCARD_READERS_H
#define SSCARD_READERS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "daemon/config.h"
#include "daemon/prom.h"

struct readers;

/* An event for subscribers ({"event":…}); borrowed reference. */
typedef void (*readers_emit_fn)(void *arg, json_t *event);
/* The answer to a read request; borrowed reference. */
typedef void (*readers_reply_fn)(void *cookie, json_t *reply);

/* Start watching readers (unless [readers] pcsc = no). 0 or -errno. */
int readers_start(sd_event *ev, const struct config *cfg, readers_emit_fn emit, void *arg,
		  struct readers **out);
/* Stop threads (waits up to 2 s for workers stuck on a mute card) and free. */
void readers_stop(struct readers *r);

/* Read the card in reader (NULL: the first reader holding a card). fn is
 * called exactly once, perhaps before this returns, unless
 * readers_forget(cookie) is called first. */
void readers_read(struct readers *r, const char *reader, void *cookie, readers_reply_fn fn);
/* VERIFY (old_pin) or CHANGE PIN (old_pin → new_pin) on the card in
 * reader, for a kiosk flow. The PINs are copied into the job and wiped
 * when it is done; they never reach a log or a trace (apdu.c redacts).
 * fn gets {"ok":true} or an error (pin_wrong with tries_left,
 * pin_blocked, card_removed…), exactly once, unless forgotten. */
/* READERS_PIN_STATUS (no PIN, old_pin ""): how many tries the PIN has
 * left without spending one: {"ok":true,"tries_left":N} (absent when the
 * card does not say) or pin_blocked. */
enum readers_pin_op { READERS_PIN_VERIFY, READERS_PIN_CHANGE, READERS_PIN_UNBLOCK, READERS_PIN_RELOAD,
		      READERS_PIN_STATUS };
void readers_pin(struct readers *r, const char *reader, enum readers_pin_op op, const char *old_pin,
		 const char *new_pin, void *cookie, readers_reply_fn fn);
/* VERIFY or CHANGE PIN with the PIN(s) typed on the reader's PIN pad
 * (PC/SC part 10), never seen by this computer; reader as in readers_read
 * (a name, an @interface selector or NULL). fn gets {"ok":true} or an
 * error: no_pin_pad when the reader has none (every NFC reader), pin_wrong
 * with tries_left, pin_blocked, pin_cancelled, pin_timeout, pin_mismatch… */
void readers_pinpad(struct readers *r, const char *reader, enum readers_pin_op op, void *cookie,
		    readers_reply_fn fn);
/* card-spec §10 on the card in reader (as in readers_read): unblock its
 * PIN (new_pin NULL) or reload it to new_pin, with the MAC from the PSAM,
 * or without one from the central's HSM (which wants proof).
 * fn gets {"ok":true} or an error: sam_unavailable (no PSAM), auth_refused
 * (the PSAM refused), pinkey_refused (the card refused the MAC),
 * holder_not_verified (the HSM wants proof: the holder's verification id),
 * pinkey_blocked, pinkey_spent, pin_format, card_removed … */
void readers_pinkey(struct readers *r, const char *reader, const char *new_pin, const char *proof,
		    void *cookie, readers_reply_fn fn);
/* §10 in two steps, for counter software whose own encryptor makes the
 * MAC (LD/T 6001.5's iUnblockPIN_HSM_Step1/Step2, iReloadPIN_HSM_…): step
 * 1 (mac NULL) of an unblock, or of a reload to new_pin, answers
 * {"ok":true, card_id, challenge, command} (hex; a reload's holds new_pin) and keeps the card waiting; step 2 brings
 * the 4-byte MAC for that challenge, on the reader step 1 named. A step 2
 * without its step 1 on that card (used, reset or swapped since) is
 * auth_refused and never reaches the card. Contact readers only. */
void readers_pinkey_step(struct readers *r, const char *reader, const char *new_pin, const uint8_t challenge[8],
			 const uint8_t mac[4], void *cookie, readers_reply_fn fn);
/* Whether this terminal can unblock or reload a PIN now (§10): a PSAM
 * session is open, or the central's HSM is configured. */
bool readers_pinkey_able(struct readers *r);
/* The two-step read of card-spec §9 for counter software that owns its
 * encryptor: step 1 (cryptogram NULL) reads EF05 and gets the card's
 * challenge (the reply's auth.challenge); step 2 brings the cryptogram for
 * that challenge and reads EF06 without a new SELECT. A step 2 that does
 * not follow its step 1 on the same card (another challenge, the card
 * swapped, reset or used since) is auth_refused before the card sees it.
 * reader as in readers_read; contact readers only. */
void readers_read_step(struct readers *r, const char *reader, const uint8_t challenge[8],
		       const uint8_t cryptogram[16], void *cookie, readers_reply_fn fn);
/* The requester behind cookie is gone: never call it back. */
void readers_forget(struct readers *r, void *cookie);

/* APDU trace on or off: while on, every exchange is emitted as an
 * {"event":"apdu",…} with PIN and personal data redacted. */
void readers_set_trace(struct readers *r, bool on);
/* A technician's "reader reset": a fresh worker and PC/SC context for the
 * reader (a stuck one is abandoned), the card powered down and up again.
 * Returns the reply (new reference). */
json_t *readers_reset(struct readers *r, const char *reader);
/* For sd_notify STATUS=: readers, cards in them, good reads, pcscd state. */
void readers_counts(struct readers *r, unsigned *readers, unsigned *cards, unsigned long *reads,
		    const char **pcsc);
/* The reader monitor is running (or PC/SC is off by configuration). */
bool readers_healthy(struct readers *r);
/* cfg changed (a reload): apply hold time and reader filters. */
void readers_reconfigure(struct readers *r);

/* New references for the `readers` and `status` replies. */
json_t *readers_list_json(struct readers *r);
json_t *readers_status_json(struct readers *r);
/* The readers' part of /metrics: reads by interface and result, their
 * duration, errors by code, readers and their state, pcscd, the PSAM. */
void readers_metrics(struct readers *r, struct prom *p);

#endif
