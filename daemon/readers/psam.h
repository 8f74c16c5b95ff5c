/* psam.h — the terminal's one PSAM session (card-spec §9): a thread of its
 * own owns the PC/SC connection to the card in [readers] sam_reader,
 * reads the terminal number once per session, and turns card id +
 * challenge into the cryptogram (derive, encrypt) one card at a time for
 * every reader that asks. Callers block for at most [readers]
 * sam_timeout_ms. Reference counted: a reader worker stuck on a mute card
 * keeps it alive after the manager stops. */
#ifndef SSCARD_PSAM_H
#define SSCARD_PSAM_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "apdu/sserr.h"
#include "daemon/config.h"

struct psam;

struct msgq;
/* Start the session thread; q: where its APDU trace lines go while a
 * technician traces (the readers' queue, referenced). NULL when out of
 * memory or threads. */
struct psam *psam_new(const struct config *cfg, struct msgq *q);
void psam_ref(struct psam *p);
/* Drop a reference; the last one stops the thread (a mute PSAM: it is
 * left to finish and free itself). */
void psam_unref(struct psam *p);
/* The owner's unref at shutdown: waits up to 2 s for the thread to end. */
void psam_stop(struct psam *p);

/* From the event loop: the SAM reader appeared (present: with a card in
 * it) or went (name NULL). A card arriving opens the session at once, so
 * the terminal number is known before the first read. */
void psam_reader(struct psam *p, const char *name, bool present);
/* [readers] sam_* changed (a reload). */
void psam_configure(struct psam *p, const struct config *cfg);

/* C for this card and challenge (struct ssc_auth's cryptogram; arg is
 * the psam). SS_OK, SS_E_SAM (no PSAM, mute, gone, or past the timeout)
 * or SS_E_AUTH (the PSAM refused: 6A88 no such key, 6985 …). Blocks. */
enum ss_err psam_cryptogram(void *psam, const uint8_t card_id[16], const uint8_t challenge[8],
			    uint8_t out[16]);
/* card-spec §10: the MAC (4 bytes) of a PIN unblock or reload command for
 * this card: in is ssc_pinkey_mac_input's (R ‖ 00×8 ‖ M padded). SS_OK,
 * SS_E_SAM or SS_E_AUTH as for psam_cryptogram. Blocks. */
enum ss_err psam_pin_mac(struct psam *p, const uint8_t card_id[16], const uint8_t *in, size_t in_len,
			 uint8_t mac[4]);
/* This PSAM session: odd, and another one whenever the SAM reader or the
 * card in it changes (a PSAM swapped, the same one re-inserted); 0 when
 * the slot is empty. A card's refusal is remembered for a session. */
uint64_t psam_session(struct psam *p);
/* The PSAM's terminal number (终端机编号, 12 digits) into out[13]; false
 * before it was read. */
bool psam_terminal(struct psam *p, char out[13]);
/* {reader, present, session, terminal, served, refused, failed, last_error}
 * for `status` (new reference). */
json_t *psam_status_json(struct psam *p);

#endif
