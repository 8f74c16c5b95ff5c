/* nfchelper.c — the NFC helper process (nfcd.h) seen from the loop: spawn,
 * messages both ways, restarts with back-off, stop. */
#include "daemon/readers/internal.h"
#include "daemon/readers/nfcmsg.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon/log.h"

extern char **environ;

bool rd_nfc_send(struct readers *r, struct nfcd_req *q)
{
	q->magic = NFCD_MAGIC;
	bool ok = r->nfc.fd >= 0 &&
		  send(r->nfc.fd, q, sizeof *q, MSG_NOSIGNAL | MSG_DONTWAIT) == (ssize_t)sizeof *q;
	sodium_memzero(q, sizeof *q);
	return ok;
}

/* A 3.00 card on the NFC reader needs a cryptogram: the PSAM (or the HSM)
 * may take a while, so it is asked on a thread of its own, which answers
 * the helper directly on a duplicate of the socket. */
struct auth_call {
	int fd;
	uint64_t job;
	uint8_t id[16], challenge[8];
	struct psam *psam;
	struct hsm *hsm;
};

static void *auth_thread(void *arg)
{
	struct auth_call *c = arg;
	struct nfcd_req q = {.magic = NFCD_MAGIC, .kind = NFCD_AUTH_REPLY, .job = c->job};
	enum ss_err e = c->psam ? psam_cryptogram(c->psam, c->id, c->challenge, q.cryptogram)
				: hsm_cryptogram(c->hsm, c->id, c->challenge, q.cryptogram);
	q.err = e;
	if (send(c->fd, &q, sizeof q, MSG_NOSIGNAL) < 0) /* the helper is gone: nothing to do */
		log_msg(LOG_DEBUG, "NFC helper gone before its cryptogram: %m");
	explicit_bzero(&q, sizeof q);
	close(c->fd);
	psam_unref(c->psam);
	hsm_unref(c->hsm);
	free(c);
	return NULL;
}

static void nfc_auth(struct readers *r, const struct nfcd_ans *a)
{
	struct nfcd_req no = {.kind = NFCD_AUTH_REPLY, .job = a->job, .err = SS_E_SAM};
	/* the card on the field refused this source's cryptogram already */
	r->nfc.auth_src = rd_auth_source(r->psam, r->hsm);
	enum ss_err again = rd_refusal_of(&r->nfc.refused, a->auth_id, r->nfc.auth_src);
	if (again != SS_OK) {
		no.err = again;
		rd_nfc_send(r, &no);
		return;
	}
	struct auth_call *c = calloc(1, sizeof *c);
	pthread_attr_t at;
	pthread_t th;
	if (!c || (!r->psam && !r->hsm) || (c->fd = fcntl(r->nfc.fd, F_DUPFD_CLOEXEC, 3)) < 0) {
		free(c);
		rd_nfc_send(r, &no);
		return;
	}
	c->job = a->job;
	memcpy(c->id, a->auth_id, 16);
	memcpy(c->challenge, a->auth_challenge, 8);
	if ((c->psam = r->psam))
		psam_ref(c->psam);
	if ((c->hsm = r->hsm))
		hsm_ref(c->hsm);
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&th, &at, auth_thread, c)) {
		close(c->fd);
		psam_unref(c->psam);
		hsm_unref(c->hsm);
		free(c);
		rd_nfc_send(r, &no);
	}
	pthread_attr_destroy(&at);
}

static void nfc_answer(struct readers *r, struct nfcd_ans *a)
{
	struct msg *m;
	switch (a->kind) {
	case NFCD_EVENT:
		a->ev.reader[sizeof a->ev.reader - 1] = 0;
		if (a->ev.atr_len > sizeof a->ev.atr)
			a->ev.atr_len = 0;
		if (a->ev.kind == RDR_READER_ADDED) {
			snprintf(r->nfc.reader, sizeof r->nfc.reader, "%s", a->ev.reader);
			rd_reader_added(r, a->ev.reader, true);
		} else if (a->ev.kind == RDR_READER_REMOVED)
			rd_reader_removed(r, a->ev.reader);
		else if (a->ev.kind == RDR_SCAN_DONE) {
			r->nfc_scanned = true;
			early_check(r);
		} else if (a->ev.kind == RDR_CARD_INSERTED || a->ev.kind == RDR_CARD_REMOVED)
			rd_rdr_event(r, &a->ev);
		break;
	case NFCD_DONE:
	case NFCD_PIN_DONE:
		if (!(m = calloc(1, sizeof *m)) || a->err < 0 || a->err >= SS_E__COUNT ||
		    a->atr_len > sizeof a->atr) {
			free(m);
			break;
		}
		m->job = a->job;
		m->err = (enum ss_err)a->err;
		snprintf(m->reader, sizeof m->reader, "%s", r->nfc.reader);
		m->interface = "contactless";
		memcpy(m->atr, a->atr, a->atr_len);
		m->atr_len = a->atr_len;
		m->card = a->card;
		m->elapsed_ms = a->elapsed_ms;
		m->loss_rc = a->loss_rc;
		m->loss = a->loss;
		m->loss_info = a->loss_info;
		m->tries_left = a->tries_left;
		if (a->kind == NFCD_DONE)
			rd_refusal_note(&r->nfc.refused, &a->card, r->nfc.auth_src);
		if (a->kind == NFCD_DONE)
			rd_read_done(r, m);
		else
			rd_pin_done(r, m);
		msg_free(m);
		break;
	case NFCD_AUTH:
		nfc_auth(r, a);
		break;
	case NFCD_APDU:
		if (atomic_load(&r->q->trace) && a->cmd_len <= sizeof a->cmd &&
		    a->rsp_len <= sizeof a->rsp) {
			json_t *t = rd_trace_json(r->nfc.reader, a->cmd, a->cmd_len, a->rsp, a->rsp_len,
					       a->flags, a->us);
			if (t) {
				json_object_set_new(t, "time", json_real(rd_now_s()));
				r->emit(r->emit_arg, t);
				json_decref(t);
			}
		}
		break;
	}
}

static int on_nfc_msg(sd_event_source *s, int fd, uint32_t revents, void *arg)
{
	struct readers *r = arg;
	for (;;) {
		struct nfcd_ans *a = r->nfc.buf;
		ssize_t n = recv(fd, a, sizeof *a, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		if (n <= 0) { /* the helper is gone; its exit is handled in on_nfc_exit */
			sd_event_source_set_enabled(s, SD_EVENT_OFF);
			break;
		}
		char why[160];
		if ((size_t)n != sizeof *a)
			log_msg(LOG_ERR, "NFC helper: a malformed message (%zd bytes); ignored", n);
		else if (!nfcmsg_check(a, why, sizeof why))
			log_at(LOG_ERR, r->nfc.reader[0] ? r->nfc.reader : NULL, "reader_error",
			       "NFC helper: a message that does not hold together (%s); ignored", why);
		else
			nfc_answer(r, a);
		sodium_memzero(a, sizeof *a);
	}
	return 0;
}

static int on_nfc_retry(sd_event_source *s, uint64_t usec, void *arg)
{
	struct readers *r = arg;
	r->nfc.retry = sd_event_source_disable_unref(r->nfc.retry);
	rd_nfc_spawn(r);
	return 0;
}

/* Forget the helper's socket and reader; pending requests get no_reader. */
static void nfc_detach(struct readers *r)
{
	r->nfc.io = sd_event_source_disable_unref(r->nfc.io);
	r->nfc.child = sd_event_source_disable_unref(r->nfc.child);
	if (r->nfc.fd >= 0)
		close(r->nfc.fd);
	r->nfc.fd = -1;
	r->nfc.pid = 0;
	if (r->nfc.reader[0] && rd_find_reader(r, r->nfc.reader))
		rd_reader_removed(r, r->nfc.reader);
	rd_ignore(r, r->nfc.reader, false);
	r->nfc.reader[0] = 0;
}

static void nfc_retry_later(struct readers *r)
{
	uint64_t now;
	sd_event_now(r->ev, CLOCK_MONOTONIC, &now);
	if (r->nfc.restart_now)
		r->nfc.backoff_ms = 0;
	else if (now - r->nfc.started_us > 60 * 1000000ull || !r->nfc.backoff_ms)
		r->nfc.backoff_ms = 1000; /* it ran a while: start the back-off over */
	else if ((r->nfc.backoff_ms *= 2) > 30000)
		r->nfc.backoff_ms = 30000;
	r->nfc.restart_now = false;
	if (!r->nfc.retry)
		sd_event_add_time_relative(r->ev, &r->nfc.retry, CLOCK_MONOTONIC,
					   (uint64_t)r->nfc.backoff_ms * 1000, 1000, on_nfc_retry, r);
}

static int on_nfc_exit(sd_event_source *s, const siginfo_t *si, void *arg)
{
	struct readers *r = arg;
	bool planned = r->nfc.restart_now;
	if (si->si_code == CLD_EXITED && si->si_status == 0)
		log_msg(LOG_INFO, "NFC helper ended");
	else if (si->si_code == CLD_EXITED)
		log_at(LOG_ERR, r->nfc.reader[0] ? r->nfc.reader : NULL, "reader_error",
		       "NFC helper ended with status %d; starting it again", si->si_status);
	else if (!planned)
		log_at(LOG_ERR, r->nfc.reader[0] ? r->nfc.reader : NULL, "reader_error",
		       "NFC helper killed by signal %d (%s); starting it again", si->si_status,
		       strsignal(si->si_status));
	if (!planned && !(si->si_code == CLD_EXITED && si->si_status == 0)) {
		r->errors[SS_E_READER]++;
		if (r->nfc.reader[0]) /* what was asked of it failed with the reader */
			rd_fail_pending(r, r->nfc.reader, SS_E_READER);
	}
	nfc_detach(r);
	r->nfc.restarts++;
	nfc_retry_later(r);
	return 0;
}

void rd_nfc_spawn(struct readers *r)
{
	int sv[2] = {-1, -1}, e = 0;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, dflt;
	pid_t pid;

	if (!r->cfg->nfc[0] || atomic_load(&r->stopping))
		return;
	snprintf(r->nfc.connstring, sizeof r->nfc.connstring, "%s", r->cfg->nfc);
	if (!r->nfc.buf && !(r->nfc.buf = calloc(1, sizeof *r->nfc.buf)))
		e = ENOMEM;
	if (!e && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		e = errno;
	if (!e && sv[1] == NFCD_FD) { /* dup2 onto itself would keep close-on-exec */
		int d = fcntl(sv[1], F_DUPFD_CLOEXEC, NFCD_FD + 1);
		close(sv[1]);
		sv[1] = d;
		e = d < 0 ? errno : 0;
	}
	if (!e) {
		char *argv[] = {"sscardd", "--nfc-helper", r->nfc.connstring, r->list_path,
				(char *)log_level_name(log_get_level()),
				log_uses_syslog() ? "syslog" : "stderr", NULL};
		posix_spawn_file_actions_init(&fa);
		posix_spawn_file_actions_adddup2(&fa, sv[1], NFCD_FD);
		posix_spawnattr_init(&at);
		sigemptyset(&none);
		sigemptyset(&dflt);
		sigaddset(&dflt, SIGTERM);
		sigaddset(&dflt, SIGINT);
		sigaddset(&dflt, SIGHUP);
		sigaddset(&dflt, SIGCHLD);
		posix_spawnattr_setsigmask(&at, &none);
		posix_spawnattr_setsigdefault(&at, &dflt);
		posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
		e = posix_spawn(&pid, "/proc/self/exe", &fa, &at, argv, environ);
		posix_spawn_file_actions_destroy(&fa);
		posix_spawnattr_destroy(&at);
	}
	if (sv[1] >= 0)
		close(sv[1]);
	if (!e) {
		r->nfc.pid = pid;
		r->nfc.fd = sv[0];
		sd_event_now(r->ev, CLOCK_MONOTONIC, &r->nfc.started_us);
		e = -sd_event_add_io(r->ev, &r->nfc.io, r->nfc.fd, EPOLLIN, on_nfc_msg, r);
		if (!e)
			e = -sd_event_add_child(r->ev, &r->nfc.child, pid, WEXITED, on_nfc_exit, r);
		if (e) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
		}
	}
	if (e) {
		log_msg(LOG_ERR, "cannot start the NFC helper: %s", strerror(e));
		if (sv[0] >= 0 && r->nfc.fd != sv[0])
			close(sv[0]);
		nfc_detach(r);
		nfc_retry_later(r);
		return;
	}
	log_msg(LOG_DEBUG, "NFC helper started (pid %d) for '%s'", (int)pid, r->nfc.connstring);
}

/* Stop the helper now (readers_stop, or [readers] nfc changed). */
void rd_nfc_stop(struct readers *r)
{
	pid_t pid = r->nfc.pid;
	r->nfc.retry = sd_event_source_disable_unref(r->nfc.retry);
	if (pid > 0) {
		r->nfc.child = sd_event_source_disable_unref(r->nfc.child);
		kill(pid, SIGTERM);
		int i = 0;
		while (waitpid(pid, NULL, WNOHANG) == 0 && ++i < 100)
			usleep(10000);
		if (i == 100) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
		}
	}
	nfc_detach(r);
}
