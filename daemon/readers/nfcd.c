/* nfcd.c — the NFC helper process (see nfcd.h). One thread, one device:
 * every libnfc call happens here, between requests from sscardd. */
#include "daemon/readers/nfcd.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "daemon/log.h"
#include "daemon/readers/internal.h"

#define REOPEN_MIN_MS 250
#define REOPEN_MAX_MS 5000

static struct {
	int fd;
	const char *connstring, *list_path;
	struct nfc_rdr *dev;
	char name[RDR_NAME_MAX];
	struct rdr_card card;
	bool have_card;
	bool trace;
	struct losslist *list;
	unsigned backoff_ms;
	uint64_t next_open_ms;
	bool told_missing;           /* "device not found" logged once per outage */
	bool scanned;                /* sscardd told what we found at start */
	bool looked;                 /* the field was looked at once */
	/* requests that came while a read waited for NFCD_AUTH_REPLY */
	struct nfcd_req stash[8];
	unsigned n_stash;
} h;

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void send_ans(struct nfcd_ans *a)
{
	a->magic = NFCD_MAGIC;
	/* blocking: sscardd reads its end from the event loop; if it is gone
	 * the send fails and the next recv sees the end */
	if (send(h.fd, a, sizeof *a, MSG_NOSIGNAL) < 0 && errno != EPIPE)
		log_msg(LOG_ERR, "NFC helper: cannot answer sscardd: %m");
	ssc_card_wipe(&a->card);
}

static void event(enum rdr_event_kind kind)
{
	struct nfcd_ans *a = calloc(1, sizeof *a);
	if (!a)
		return;
	a->kind = NFCD_EVENT;
	a->ev.kind = kind;
	snprintf(a->ev.reader, sizeof a->ev.reader, "%s", h.name);
	if (kind == RDR_CARD_INSERTED) {
		memcpy(a->ev.atr, h.card.atr, h.card.atr_len);
		a->ev.atr_len = h.card.atr_len;
	}
	send_ans(a);
	free(a);
}

static void trace_apdu(void *arg, const uint8_t *cmd, size_t cmd_len, const uint8_t *rsp,
		       size_t rsp_len, unsigned flags, uint64_t us)
{
	struct nfcd_ans *a = calloc(1, sizeof *a);
	if (!a)
		return;
	a->kind = NFCD_APDU;
	a->cmd_len = (uint32_t)(cmd_len < sizeof a->cmd ? cmd_len : sizeof a->cmd);
	a->rsp_len = (uint32_t)(rsp_len < sizeof a->rsp ? rsp_len : sizeof a->rsp);
	memcpy(a->cmd, cmd, a->cmd_len);
	memcpy(a->rsp, rsp, a->rsp_len);
	a->flags = flags;
	a->us = us;
	send_ans(a);
	sodium_memzero(a, sizeof *a);
	free(a);
}

static void device_lost(void)
{
	if (h.have_card)
		event(RDR_CARD_REMOVED);
	h.have_card = false;
	nfc_rdr_close(h.dev);
	h.dev = NULL;
	log_msg(LOG_WARNING, "NFC reader '%s' stopped answering; opening it again", h.name);
	event(RDR_READER_REMOVED);
	h.backoff_ms = REOPEN_MIN_MS;
	h.next_open_ms = now_ms() + h.backoff_ms;
}

static void try_open(void)
{
	char name[RDR_NAME_MAX];
	enum ss_err e = nfc_rdr_open(h.connstring, &h.dev, name, sizeof name);
	if (e != SS_OK) {
		h.dev = NULL;
		if (!h.told_missing)
			log_at(LOG_WARNING, NULL, ss_err_name(e),
			       "NFC reader '%s' not found (%s); trying again every few seconds",
			       h.connstring, ss_err_text(e));
		h.told_missing = true;
		h.backoff_ms = h.backoff_ms ? h.backoff_ms * 2 : REOPEN_MIN_MS;
		if (h.backoff_ms > REOPEN_MAX_MS)
			h.backoff_ms = REOPEN_MAX_MS;
		h.next_open_ms = now_ms() + h.backoff_ms;
		return;
	}
	h.told_missing = false;
	h.backoff_ms = 0;
	snprintf(h.name, sizeof h.name, "%s", name);
	event(RDR_READER_ADDED);
}

/* No card selected: look for one. */
static void look(void)
{
	enum ss_err e = nfc_rdr_poll(h.dev, &h.card);
	if (e == SS_OK) {
		h.have_card = true;
		event(RDR_CARD_INSERTED);
	} else if (e != SS_E_NO_CARD)
		device_lost();
}

/* A card selected: is it still there? */
static void check(void)
{
	if (nfc_rdr_present(h.dev))
		return;
	h.have_card = false;
	nfc_rdr_release(h.dev);
	event(RDR_CARD_REMOVED);
}

/* After a failed exchange: a card that left the field is reported gone. */
static void after_error(enum ss_err e)
{
	if (e == SS_OK || !h.have_card)
		return;
	if (!nfc_rdr_present(h.dev)) {
		h.have_card = false;
		nfc_rdr_release(h.dev);
		event(RDR_CARD_REMOVED);
	}
}

static enum ss_err card_ready(void)
{
	if (!h.dev)
		return SS_E_NO_READER;
	if (!h.have_card)
		return SS_E_NO_CARD;
	h.card.tr.trace = h.trace ? trace_apdu : NULL;
	h.card.tr.trace_arg = NULL;
	return SS_OK;
}

/* struct ssc_auth's cryptogram in the helper: sscardd has the PSAM (or
 * the HSM); ask it and wait, keeping what else it sends for later. */
static enum ss_err ask_daemon(void *arg, const uint8_t id[16], const uint8_t r[8], uint8_t out[16])
{
	const struct nfcd_req *q = arg;
	struct nfcd_ans *a = calloc(1, sizeof *a);
	struct nfcd_req rep;
	enum ss_err e = SS_E_SAM;
	if (!a)
		return SS_E_NOMEM;
	a->kind = NFCD_AUTH;
	a->job = q->job;
	memcpy(a->auth_id, id, 16);
	memcpy(a->auth_challenge, r, 8);
	send_ans(a);
	free(a);
	uint64_t until = now_ms() + q->auth_ms + 500;
	for (;;) {
		uint64_t now = now_ms();
		struct pollfd p = {.fd = h.fd, .events = POLLIN};
		if (now >= until || poll(&p, 1, (int)(until - now)) == 0)
			break; /* sscardd did not answer in time: the module is as good as mute */
		ssize_t n = recv(h.fd, &rep, sizeof rep, 0);
		if (n <= 0 && !(n < 0 && errno == EINTR))
			break;
		if (n != (ssize_t)sizeof rep || rep.magic != NFCD_MAGIC)
			continue;
		if (rep.kind == NFCD_AUTH_REPLY && rep.job == q->job) {
			e = rep.err >= 0 && rep.err < SS_E__COUNT ? (enum ss_err)rep.err : SS_E_SAM;
			if (e == SS_OK)
				memcpy(out, rep.cryptogram, 16);
			break;
		}
		if (rep.kind != NFCD_AUTH_REPLY && h.n_stash < sizeof h.stash / sizeof h.stash[0])
			h.stash[h.n_stash++] = rep;
		else if (rep.kind != NFCD_AUTH_REPLY)
			log_msg(LOG_ERR, "NFC helper: too many requests during an authentication; one dropped");
	}
	sodium_memzero(&rep, sizeof rep);
	return e;
}

static void do_read(const struct nfcd_req *q)
{
	struct nfcd_ans *a = calloc(1, sizeof *a);
	struct timespec s0, s1;
	if (!a)
		return;
	clock_gettime(CLOCK_MONOTONIC, &s0);
	a->kind = NFCD_DONE;
	a->job = q->job;
	a->loss_rc = -1;
	a->err = card_ready();
	if (a->err == SS_OK) {
		struct ssc_auth auth = {.cryptogram = ask_daemon, .arg = (void *)q, .key_id = q->key_id};
		a->err = ssc_read_auth(&h.card.tr, q->auth ? &auth : NULL, &a->card);
		memcpy(a->atr, h.card.atr, h.card.atr_len);
		a->atr_len = (uint32_t)h.card.atr_len;
		if (a->err == SS_OK)
			a->loss_rc = losslist_check_card(
				h.list_path, &h.list,
				a->card.have[SSC_CARD_ID] ? a->card.value[SSC_CARD_ID] : NULL, &a->loss,
				&a->loss_info);
		else if (a->err == SS_E_NO_CARD)
			a->err = SS_E_CARD_REMOVED;
	}
	clock_gettime(CLOCK_MONOTONIC, &s1);
	a->elapsed_ms = (double)(s1.tv_sec - s0.tv_sec) * 1e3 + (double)(s1.tv_nsec - s0.tv_nsec) / 1e6;
	enum ss_err e = a->err;
	send_ans(a);
	free(a);
	after_error(e);
}

static void do_pin(const struct nfcd_req *q)
{
	struct nfcd_ans *a = calloc(1, sizeof *a);
	if (!a)
		return;
	a->kind = NFCD_PIN_DONE;
	a->job = q->job;
	a->tries_left = -1;
	a->err = card_ready();
	int tries = -1;
	if (a->err == SS_OK)
		a->err = ssc_select(&h.card.tr);
	if (a->err == SS_OK)
		a->err = q->op == READERS_PIN_VERIFY
				 ? ssc_verify_pin(&h.card.tr, q->pin_old, &tries)
				 : ssc_change_pin(&h.card.tr, q->pin_old, q->pin_new, &tries);
	a->tries_left = tries;
	if (a->err == SS_E_NO_CARD)
		a->err = SS_E_CARD_REMOVED;
	enum ss_err e = a->err;
	send_ans(a);
	free(a);
	after_error(e);
}

static void handle(struct nfcd_req *q)
{
	if (q->kind == NFCD_READ)
		do_read(q);
	else if (q->kind == NFCD_PIN)
		do_pin(q);
	else if (q->kind == NFCD_TRACE)
		h.trace = q->trace_on != 0;
	sodium_memzero(q, sizeof *q); /* NFCD_AUTH_REPLY out of turn: too late, dropped */
}

/* Requests waiting on the socket; false when sscardd is gone. */
static bool serve(void)
{
	struct nfcd_req q;
	for (;;) {
		if (h.n_stash) { /* what came during an authentication, in order */
			q = h.stash[0];
			memmove(h.stash, h.stash + 1, --h.n_stash * sizeof h.stash[0]);
			handle(&q);
			continue;
		}
		ssize_t n = recv(h.fd, &q, sizeof q, MSG_DONTWAIT);
		if (n == 0)
			return false;
		if (n < 0)
			return errno == EAGAIN || errno == EINTR;
		if ((size_t)n != sizeof q || q.magic != NFCD_MAGIC) {
			log_msg(LOG_ERR, "NFC helper: a malformed request from sscardd; ignored");
			continue;
		}
		handle(&q);
	}
}

int nfcd_main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "sscardd --nfc-helper: started by sscardd only\n");
		return 2;
	}
	h.fd = NFCD_FD;
	/* libnfc prints its own errors on stderr, unformatted; ours say what
	 * matters. A technician can set LIBNFC_LOG_LEVEL=3 to see them. */
	setenv("LIBNFC_LOG_LEVEL", "0", 0);
	h.connstring = argv[0];
	h.list_path = argv[1];
	int level = log_level_parse(argv[2]);
	log_init(level < 0 ? LOG_INFO : level, !strcmp(argv[3], "syslog"));
	/* PINs pass through here too; and end with sscardd */
	prctl(PR_SET_DUMPABLE, 0);
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	signal(SIGPIPE, SIG_IGN);
	if (getppid() == 1)
		return 0;
	for (;;) {
		uint64_t now = now_ms();
		int timeout;
		if (!h.dev)
			timeout = h.next_open_ms > now ? (int)(h.next_open_ms - now) : 0;
		else
			timeout = !h.scanned ? 0 : h.have_card ? NFCD_PRESENCE_MS : NFCD_POLL_MS;
		struct pollfd p = {.fd = h.fd, .events = POLLIN};
		int r = poll(&p, 1, timeout);
		if (r < 0 && errno != EINTR)
			break;
		if (r > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR))) {
			if (!serve())
				break;
			continue; /* jobs first; the field is checked when idle */
		}
		if (!h.dev) {
			if (now_ms() >= h.next_open_ms)
				try_open();
		} else {
			if (h.have_card)
				check();
			else
				look();
			h.looked = true;
		}
		/* the device and whether a card is on it, or that there is no
		 * device: the daemon holds early requests until it knows */
		if (!h.scanned && (!h.dev || h.looked)) {
			h.scanned = true;
			event(RDR_SCAN_DONE);
		}
	}
	nfc_rdr_close(h.dev);
	losslist_close(h.list);
	return 0;
}
