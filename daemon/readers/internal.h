/* internal.h — what the reader manager's files share (daemon/readers/ only):
 * the thread → loop queue, jobs, the loop-side state, and the functions
 * one part calls in another. Everything here runs on the event loop
 * unless it says otherwise. */
#ifndef SSCARD_READERS_INTERNAL_H
#define SSCARD_READERS_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "apdu/ssc.h"
#include "drivers/reader.h"
#include "daemon/prom.h"
#include "daemon/losslist/losslist.h"
#include "daemon/readers/nfcd.h"
#include "daemon/readers/hsm.h"
#include "daemon/readers/psam.h"
#include "daemon/readers/readers.h"

enum msg_kind { MSG_RDR, MSG_DONE, MSG_TRACE, MSG_PIN_DONE };

struct msg {
	struct msg *next;
	enum msg_kind kind;
	struct rdr_event ev;         /* MSG_RDR */
	uint64_t job;                /* MSG_DONE … */
	enum ss_err err;
	char reader[RDR_NAME_MAX];
	uint8_t atr[ATR_MAX];
	size_t atr_len;
	const char *interface;
	char serial[64];             /* the reader's serial number, if it has one */
	struct ssc_card card;
	double elapsed_ms;
	json_t *trace;               /* MSG_TRACE: the event, built by the worker */
	int loss_rc;                 /* losslist_lookup: 1 listed, 0 not, -1 unknown */
	struct loss_entry loss;
	struct loss_info loss_info;
	int tries_left;              /* MSG_PIN_DONE: after a wrong PIN, or -1 */
	/* MSG_PIN_DONE of a §10 step 1: card id, challenge, the command (pk_n bytes) */
	uint8_t pk_id[16], pk_r[8], pk_m[16];
	size_t pk_n;
};

/* Shared by the loop and every thread; freed by the last reference, so a
 * worker stuck on a mute card may outlive the loop safely. */
struct msgq {
	atomic_int refs;
	pthread_mutex_t mu;
	struct msg *head, *tail;
	bool closed;
	int efd;
	atomic_bool trace;           /* workers emit APDU trace lines */
};

enum job_kind {
	JOB_READ,
	JOB_RELEASE,                 /* the card was removed: let go of it */
	JOB_RESET,                   /* a technician's reset: power the card down */
	JOB_PIN,                     /* VERIFY or CHANGE PIN for a kiosk flow */
};

struct job {
	struct job *next;
	enum job_kind kind;
	uint64_t id;                 /* JOB_READ, JOB_PIN */
	enum readers_pin_op op;      /* JOB_PIN; the PINs are wiped with the job */
	char pin_old[16], pin_new[16];
	bool pad;                    /* JOB_PIN on the reader's PIN pad: no PINs here */
	char proof[65];              /* JOB_PIN unblock/reload through the HSM: the holder's verification */
	/* JOB_READ for counter software with its own encryptor (card-spec §9):
	 * step 1 stops at the challenge; step 2 brings the cryptogram for it */
	enum { READ_FULL, READ_STEP1, READ_STEP2 } step;
	uint8_t challenge[8], cryptogram[16];
	uint8_t key_id;              /* EXTERNAL AUTHENTICATE's P2 ([readers] card_key_id) */
	/* JOB_PIN unblock/reload in two steps (counter software's encryptor):
	 * 1 stops at the challenge; 2 brings the MAC for challenge */
	int pk_step;
	uint8_t mac[4];
};

struct reader {
	struct reader *next;
	char name[RDR_NAME_MAX];
	struct worker *w;
	bool present;
	uint8_t atr[ATR_MAX];
	size_t atr_len;
	unsigned outstanding;        /* jobs handed to the worker, not yet done */
	bool stuck;                  /* a job passed its deadline and is still running */
	bool nfc;                    /* the NFC helper's reader (no worker thread) */
	bool announced;              /* the card's arrival was told (card_inserted) */
	bool shadowed;               /* a card seen while one is on the other interface */
	sd_event_source *settle;     /* waiting [readers] settle_ms before announcing */
	struct readers *r;
};

struct pending {
	struct pending *next;
	uint64_t id;
	void *cookie;                /* NULL: a read started by card insertion */
	readers_reply_fn fn;
	sd_event_source *timer;
	struct readers *r;
	char reader[RDR_NAME_MAX];
	bool pin;                    /* a PIN job, not a read */
	unsigned limit_ms;           /* its deadline */
};

/* A card that refused a cryptogram (63Cx, 6983) is not asked again with
 * one from the same source: each try costs it one. The memory belongs to
 * the source that was refused — this PSAM session, or the HSM — so another
 * PSAM, the same one re-inserted, or the HSM is tried (card-spec §9). */
struct rd_refusal {
	bool has;
	uint8_t id[16];
	enum ss_err err;             /* auth_refused or auth_blocked */
	uint64_t src;                /* who was refused (rd_auth_source) */
};

struct readers {
	sd_event *ev;
	const struct config *cfg;
	readers_emit_fn emit;
	void *emit_arg;
	struct msgq *q;
	sd_event_source *q_src;
	struct pcsc_monitor *mon;
	pthread_t mon_thread;
	bool mon_running;
	atomic_bool stopping;
	atomic_bool mon_exited;      /* the monitor thread ended on its own */
	const char *pcsc_state;      /* "off", "starting", "up", "down" */
	struct reader *list;
	struct pending *pending;
	struct early *early;         /* requests held until the first reader scan */
	sd_event_source *early_timer;
	bool scanned;                /* pcscd's readers and cards are known */
	bool nfc_scanned;            /* the NFC helper looked for its device and a card */
	uint64_t next_job;
	json_t *last_event;
	char list_path[300];
	char ignored[32][RDR_NAME_MAX]; /* readers seen but filtered out by the config */
	size_t n_ignored;
	unsigned long errors[SS_E__COUNT];
	unsigned long reads_ok;
	unsigned long reads_by[2][2];  /* [contact, contactless][ok, error]: metrics */
	struct prom_hist read_seconds; /* a good read's duration */
	struct psam *psam;           /* the PSAM session; NULL: none configured */
	struct hsm *hsm;             /* the central's HSM, when there is no PSAM */
	char sam_name[RDR_NAME_MAX]; /* the SAM reader when it is there */
	struct {                     /* the NFC helper process (nfcd.h) */
		pid_t pid;           /* 0: not running */
		int fd;
		sd_event_source *io, *child, *retry;
		unsigned backoff_ms;
		uint64_t started_us;
		bool restart_now;    /* a technician's reset: no back-off */
		unsigned long restarts;
		char connstring[128]; /* the one it was started with */
		char reader[RDR_NAME_MAX]; /* its reader, once announced */
		struct nfcd_ans *buf;
		struct rd_refusal refused; /* the card on its field said no */
		uint64_t auth_src;   /* who made its last cryptogram */
	} nfc;
};

struct early {
	struct early *next;
	bool pinpad;
	enum readers_pin_op op;
	char reader[RDR_NAME_MAX];   /* "": the first reader with a card, as NULL */
	void *cookie;
	readers_reply_fn fn;
};

/* queue.c (any thread) */
struct msgq *msgq_new(void);
void msg_free(struct msg *m);
void msgq_unref(struct msgq *q);
void msgq_post(struct msgq *q, struct msg *m);
struct msg *msgq_take_all(struct msgq *q);

/* A card that refused the terminal's cryptogram (63Cx, 6983), remembered
 * while it stays in the reader: each refusal costs the card one of its few
 * tries, and it is read on insertion and again by every counter request, so
 * a terminal with the wrong key would otherwise block every card. Used by
 * the reader workers and the NFC helper. */

/* worker.c */
/* After a read: remember the card when it refused src's cryptogram. */
void rd_refusal_note(struct rd_refusal *f, const struct ssc_card *c, uint64_t src);
/* What to say again for this card without asking it; SS_OK: ask. */
enum ss_err rd_refusal_of(const struct rd_refusal *f, const uint8_t id[16], uint64_t src);
/* Who would make the cryptogram now: the PSAM's session (0: no PSAM in
 * its slot), or the HSM. */
uint64_t rd_auth_source(struct psam *psam, struct hsm *hsm);
extern atomic_int rd_live_workers; /* worker threads still running */
void job_free(struct job *j);
json_t *rd_trace_json(const char *reader, const uint8_t *cmd, size_t cmd_len,
		      const uint8_t *rsp, size_t rsp_len, unsigned flags, uint64_t us);
struct worker *worker_start(const char *reader, struct msgq *q, unsigned hold_ms,
			    const char *list_path, struct psam *psam, struct hsm *hsm);
void worker_push_job(struct worker *w, struct job *j);
bool worker_push(struct worker *w, enum job_kind kind, uint64_t id);
void worker_set_hold(struct worker *w, unsigned hold_ms);
void worker_quit(struct worker *w);

/* loop.c */
double rd_now_s(void);
void rd_emit(struct readers *r, json_t *e);
struct reader *rd_find_reader(struct readers *r, const char *name);
void rd_ignore(struct readers *r, const char *name, bool on);
void rd_reader_free(struct reader *x);
void rd_reader_added(struct readers *r, const char *name, bool nfc);
void rd_fail_pending(struct readers *r, const char *reader, enum ss_err e);
void rd_reader_removed(struct readers *r, const char *name);
void rd_pending_free(struct pending *p);
void rd_start_job(struct readers *r, struct reader *x, void *cookie, readers_reply_fn fn,
		  struct job *pj);
void rd_read_done(struct readers *r, struct msg *m);
void rd_pin_done(struct readers *r, struct msg *m);
void rd_rdr_event(struct readers *r, const struct rdr_event *ev);
int rd_on_queue(sd_event_source *s, int fd, uint32_t revents, void *arg);

/* interfaces.c */
void rd_card_arrived(struct readers *r, struct reader *x);
void rd_card_left(struct readers *r, struct reader *x);
const char *rd_reader_interface(const struct reader *x);
struct reader *rd_resolve(struct readers *r, const char *name, enum ss_err *e);

/* early.c */
void early_check(struct readers *r);
bool early_hold(struct readers *r, const char *name, bool pinpad, enum readers_pin_op op,
		void *cookie, readers_reply_fn fn);
void early_flush(struct readers *r);
int early_arm(struct readers *r);

/* nfchelper.c */
bool rd_nfc_send(struct readers *r, struct nfcd_req *q);
void rd_nfc_spawn(struct readers *r);
void rd_nfc_stop(struct readers *r);

#endif
