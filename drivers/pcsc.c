/* pcsc.c — the PC/SC back end over pcsc-lite. */
#include <PCSC/reader.h>
#include <PCSC/winscard.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "drivers/pinpad.h"
#include "drivers/reader.h"

#define PNP_READER "\\\\?PnP?\\Notification"
#define MAX_READERS 32
/* How long one wait with the PnP pseudo-reader may last before the reader
 * list is looked at again. pcsc-lite (1.9.9 to 2.2) counts the readers when
 * SCardGetStatusChange is entered and reports "list changed" only when the
 * count moves after that: a reader added between our SCardListReaders and
 * the wait is never reported, and an INFINITE wait would miss it for good
 * (seen: pcscd still adding the readers of its reader.conf while the daemon
 * made its first list). A list is a local round trip: once a second costs
 * nothing, and such a reader shows up within a second. */
#define PNP_RECHECK_MS 1000

enum ss_err pcsc_err(long rv)
{
	switch ((LONG)rv) {
	case SCARD_S_SUCCESS:
		return SS_OK;
	case SCARD_E_NO_SMARTCARD:
		return SS_E_NO_CARD;
	case SCARD_W_REMOVED_CARD:
		return SS_E_CARD_REMOVED;
	case SCARD_W_RESET_CARD:
		return SS_E_CARD_RESET;
	case SCARD_W_UNRESPONSIVE_CARD:
	case SCARD_W_UNPOWERED_CARD:
	case SCARD_W_UNSUPPORTED_CARD:
		return SS_E_CARD_UNPOWERED;
	case SCARD_E_TIMEOUT:
		return SS_E_CARD_TIMEOUT;
	case SCARD_E_NO_SERVICE:
	case SCARD_E_SERVICE_STOPPED:
	case SCARD_F_COMM_ERROR:
		return SS_E_NO_SERVICE;
	case SCARD_E_UNKNOWN_READER:
	case SCARD_E_READER_UNAVAILABLE:
	case SCARD_E_NO_READERS_AVAILABLE:
		return SS_E_NO_READER;
	case SCARD_E_SHARING_VIOLATION:
		return SS_E_READER_BUSY;
	case SCARD_E_NO_MEMORY:
		return SS_E_NOMEM;
	case SCARD_E_PROTO_MISMATCH:
		return SS_E_BAD_RESPONSE;
	case SCARD_E_INVALID_HANDLE:
	case SCARD_E_INVALID_PARAMETER:
	case SCARD_E_INVALID_VALUE:
	case SCARD_E_INSUFFICIENT_BUFFER:
		return SS_E_INTERNAL;
	default:
		return SS_E_READER;
	}
}

/* pcscd gone or our context dead: release and establish a new one.
 * (SCardIsValidContext keeps saying "valid" after a pcscd restart.) */
static bool context_lost(LONG rv)
{
	return rv == SCARD_E_NO_SERVICE || rv == SCARD_E_SERVICE_STOPPED ||
	       rv == SCARD_F_COMM_ERROR || rv == SCARD_E_INVALID_HANDLE;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* ---- monitor ------------------------------------------------------------- */

struct known {
	char name[RDR_NAME_MAX];
	DWORD state;
	bool present;
};

struct pcsc_monitor {
	pthread_mutex_t lock;    /* guards ctx/have_ctx against pcsc_monitor_cancel */
	SCARDCONTEXT ctx;
	bool have_ctx;
	atomic_bool cancelled;
	bool service_up;
	bool scanned;            /* RDR_SCAN_DONE sent for this context */
	bool told_absent;        /* RDR_SERVICE_DOWN sent for a pcscd never seen */
	long backoff_ms;
	DWORD pnp_state;
	struct known r[MAX_READERS];
	size_t n;
};

enum ss_err pcsc_monitor_new(struct pcsc_monitor **out)
{
	struct pcsc_monitor *m = calloc(1, sizeof *m);
	if (!m)
		return SS_E_NOMEM;
	pthread_mutex_init(&m->lock, NULL);
	atomic_init(&m->cancelled, false);
	*out = m;
	return SS_OK;
}

static void drop_context(struct pcsc_monitor *m)
{
	pthread_mutex_lock(&m->lock);
	if (m->have_ctx)
		SCardReleaseContext(m->ctx);
	m->have_ctx = false;
	pthread_mutex_unlock(&m->lock);
}

void pcsc_monitor_cancel(struct pcsc_monitor *m)
{
	atomic_store(&m->cancelled, true);
	pthread_mutex_lock(&m->lock);
	if (m->have_ctx)
		SCardCancel(m->ctx);
	pthread_mutex_unlock(&m->lock);
}

void pcsc_monitor_free(struct pcsc_monitor *m)
{
	if (!m)
		return;
	drop_context(m);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

static struct rdr_event *push(struct rdr_event *ev, size_t cap, size_t *n,
			      enum rdr_event_kind k, const char *reader)
{
	if (*n == cap)
		return NULL;
	struct rdr_event *e = &ev[(*n)++];
	memset(e, 0, sizeof *e);
	e->kind = k;
	if (reader)
		strncpy(e->reader, reader, sizeof e->reader - 1);
	return e;
}

/* Everything known is gone (pcscd died). */
static void forget_all(struct pcsc_monitor *m, struct rdr_event *ev, size_t cap, size_t *n)
{
	for (size_t i = 0; i < m->n; i++) {
		if (m->r[i].present)
			push(ev, cap, n, RDR_CARD_REMOVED, m->r[i].name);
		push(ev, cap, n, RDR_READER_REMOVED, m->r[i].name);
	}
	m->n = 0;
	m->pnp_state = 0;
}

/* Diff the reader list against what we know. */
static LONG refresh(struct pcsc_monitor *m, struct rdr_event *ev, size_t cap, size_t *n)
{
	char *list = NULL;
	DWORD len = SCARD_AUTOALLOCATE;
	LONG rv = SCardListReaders(m->ctx, NULL, (LPSTR)&list, &len);
	struct known next[MAX_READERS];
	size_t k = 0;

	if (rv == SCARD_E_NO_READERS_AVAILABLE)
		rv = SCARD_S_SUCCESS;
	else if (rv != SCARD_S_SUCCESS)
		return rv;
	for (char *p = list; p && *p && k < MAX_READERS; p += strlen(p) + 1) {
		if (strlen(p) >= RDR_NAME_MAX)
			continue;
		struct known *nk = &next[k++];
		memset(nk, 0, sizeof *nk);
		strcpy(nk->name, p);
		for (size_t i = 0; i < m->n; i++)
			if (!strcmp(m->r[i].name, p))
				*nk = m->r[i];
	}
	for (size_t i = 0; i < m->n; i++) {
		bool still = false;
		for (size_t j = 0; j < k && !still; j++)
			still = !strcmp(next[j].name, m->r[i].name);
		if (!still) {
			if (m->r[i].present)
				push(ev, cap, n, RDR_CARD_REMOVED, m->r[i].name);
			push(ev, cap, n, RDR_READER_REMOVED, m->r[i].name);
		}
	}
	for (size_t j = 0; j < k; j++) {
		bool old = false;
		for (size_t i = 0; i < m->n && !old; i++)
			old = !strcmp(next[j].name, m->r[i].name);
		if (!old)
			push(ev, cap, n, RDR_READER_ADDED, next[j].name);
	}
	memcpy(m->r, next, k * sizeof next[0]);
	m->n = k;
	if (list)
		SCardFreeMemory(m->ctx, list);
	return SCARD_S_SUCCESS;
}

static bool ensure_context(struct pcsc_monitor *m, struct rdr_event *ev, size_t cap, size_t *n)
{
	SCARDCONTEXT ctx;
	if (m->have_ctx)
		return true;
	LONG rv = SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &ctx);
	if (rv != SCARD_S_SUCCESS) {
		if (m->service_up || !m->told_absent) {
			m->service_up = false;
			m->told_absent = true;
			forget_all(m, ev, cap, n);
			push(ev, cap, n, RDR_SERVICE_DOWN, NULL);
		}
		return false;
	}
	pthread_mutex_lock(&m->lock);
	m->ctx = ctx;
	m->have_ctx = true;
	pthread_mutex_unlock(&m->lock);
	m->backoff_ms = 0;
	m->scanned = false;
	if (!m->service_up) {
		m->service_up = true;
		push(ev, cap, n, RDR_SERVICE_UP, NULL);
	}
	return true;
}

/* pcscd went away under a live context. */
static void lost(struct pcsc_monitor *m, struct rdr_event *ev, size_t cap, size_t *n)
{
	drop_context(m);
	forget_all(m, ev, cap, n);
	if (m->service_up) {
		m->service_up = false;
		push(ev, cap, n, RDR_SERVICE_DOWN, NULL);
	}
}

/* Back-off while pcscd is absent: 50 ms doubling to 400 ms, in slices
 * so that a cancel is seen quickly. Readers reappear well within 2 s. */
static void backoff(struct pcsc_monitor *m)
{
	m->backoff_ms = m->backoff_ms ? m->backoff_ms * 2 : 50;
	if (m->backoff_ms > 400)
		m->backoff_ms = 400;
	for (long t = 0; t < m->backoff_ms && !atomic_load(&m->cancelled); t += 25)
		sleep_ms(25);
}

static void card_changes(struct pcsc_monitor *m, SCARD_READERSTATE *st, struct rdr_event *ev,
			 size_t cap, size_t *n)
{
	for (size_t i = 0; i < m->n; i++) {
		SCARD_READERSTATE *s = &st[i];
		struct known *k = &m->r[i];
		DWORD now = s->dwEventState & ~(DWORD)SCARD_STATE_CHANGED;
		bool present = (now & SCARD_STATE_PRESENT) && !(now & SCARD_STATE_MUTE);
		/* pcsc-lite counts insertions in the upper 16 bits: a swap
		 * between two waits shows as a new count with "present" kept. */
		bool swapped = present && k->present && (now >> 16) != (k->state >> 16);
		k->state = now;
		if (k->present && (!present || swapped)) {
			push(ev, cap, n, RDR_CARD_REMOVED, k->name);
			k->present = false;
		}
		if (present && !k->present) {
			struct rdr_event *e = push(ev, cap, n, RDR_CARD_INSERTED, k->name);
			if (e && s->cbAtr <= sizeof e->atr) {
				memcpy(e->atr, s->rgbAtr, s->cbAtr);
				e->atr_len = s->cbAtr;
			}
			k->present = true;
		}
	}
}

enum ss_err pcsc_monitor_wait(struct pcsc_monitor *m, struct rdr_event *ev, size_t cap,
			      size_t *n)
{
	SCARD_READERSTATE st[MAX_READERS + 1];
	*n = 0;
	while (!atomic_load(&m->cancelled)) {
		if (!ensure_context(m, ev, cap, n)) {
			if (*n)
				return SS_OK;
			backoff(m);
			continue;
		}
		LONG rv = refresh(m, ev, cap, n);
		if (context_lost(rv)) {
			lost(m, ev, cap, n);
			return SS_OK;
		}
		if (*n)
			return SS_OK;
		if (!m->scanned && m->n == 0) { /* nothing to look at yet */
			m->scanned = true;
			push(ev, cap, n, RDR_SCAN_DONE, NULL);
			return SS_OK;
		}
		/* pcsc-lite takes at most PCSCLITE_MAX_READERS_CONTEXTS states
		 * per call. With that many readers there is no room for the PnP
		 * pseudo-reader: then look at the reader list once a second
		 * (and with it too: see PNP_RECHECK_MS). */
		bool pnp = m->n + 1 <= PCSCLITE_MAX_READERS_CONTEXTS;
		size_t first = pnp ? 1 : 0;
		memset(st, 0, sizeof st);
		if (pnp) {
			st[0].szReader = PNP_READER;
			st[0].dwCurrentState = m->pnp_state;
		}
		for (size_t i = 0; i < m->n; i++) {
			st[i + first].szReader = m->r[i].name;
			st[i + first].dwCurrentState = m->r[i].state;
		}
		rv = SCardGetStatusChange(m->ctx, PNP_RECHECK_MS, st, (DWORD)(m->n + first));
		if (rv == SCARD_E_CANCELLED)
			continue;
		if (context_lost(rv)) {
			lost(m, ev, cap, n);
			return SS_OK;
		}
		if (rv == SCARD_E_UNKNOWN_READER || rv == SCARD_E_READER_UNAVAILABLE ||
		    rv == SCARD_E_TIMEOUT)
			continue; /* a reader vanished between list and wait: refresh */
		if (rv != SCARD_S_SUCCESS) {
			/* Unexpected: start over with a new context, slowly. */
			lost(m, ev, cap, n);
			backoff(m);
			return SS_OK;
		}
		if (pnp)
			m->pnp_state = st[0].dwEventState & ~(DWORD)SCARD_STATE_CHANGED;
		card_changes(m, st + first, ev, cap, n);
		if (!m->scanned) { /* the first wait answers at once with every state */
			m->scanned = true;
			push(ev, cap, n, RDR_SCAN_DONE, NULL);
		}
		if (*n)
			return SS_OK;
	}
	return SS_OK;
}

/* ---- connections ---------------------------------------------------------- */

struct pcsc_conn {
	SCARDCONTEXT ctx;
	bool have_ctx;
	bool serial_asked;       /* a reader's serial does not change: ask once */
	char serial[64];
};

/* SCARD_ATTR_VENDOR_IFD_SERIAL_NO, kept only when it is printable ASCII
 * (it becomes 终端设备号 in the reader API's output, a '|'-separated line). */
static void ask_serial(struct pcsc_conn *c, SCARDHANDLE h)
{
	BYTE buf[64];
	DWORD n = sizeof buf;
	c->serial_asked = true;
	c->serial[0] = 0;
	if (SCardGetAttrib(h, SCARD_ATTR_VENDOR_IFD_SERIAL_NO, buf, &n) != SCARD_S_SUCCESS || n > sizeof buf)
		return;
	while (n && (buf[n - 1] == 0 || buf[n - 1] == ' '))
		n--;
	if (!n || n >= sizeof c->serial)
		return;
	for (DWORD i = 0; i < n; i++)
		if (buf[i] < 0x21 || buf[i] > 0x7E || buf[i] == '|')
			return;
	memcpy(c->serial, buf, n);
	c->serial[n] = 0;
}

struct card_priv {
	SCARDHANDLE h;
	const SCARD_IO_REQUEST *pci;
};

enum ss_err pcsc_conn_new(struct pcsc_conn **out)
{
	*out = calloc(1, sizeof **out);
	return *out ? SS_OK : SS_E_NOMEM;
}

void pcsc_conn_free(struct pcsc_conn *c)
{
	if (!c)
		return;
	if (c->have_ctx)
		SCardReleaseContext(c->ctx);
	free(c);
}

/* Whether the card left the reader; waits up to 600 ms for pcscd to see it. */
static bool card_gone(struct card_priv *p)
{
	for (int i = 0; i < 12; i++) {
		DWORD st = 0, pr, n = 0, al = 0;
		LONG s = SCardStatus(p->h, NULL, &n, &st, &pr, NULL, &al);
		if (s != SCARD_S_SUCCESS || !(st & SCARD_PRESENT))
			return true;
		sleep_ms(50);
	}
	return false;
}

static enum ss_err xfer(void *ctx, const uint8_t *cmd, size_t cmd_len, uint8_t *rsp,
			size_t *rsp_len)
{
	struct card_priv *p = ctx;
	DWORD rl = (DWORD)*rsp_len;
	LONG rv = SCardTransmit(p->h, p->pci, cmd, (DWORD)cmd_len, NULL, rsp, &rl);
	if ((rv == SCARD_S_SUCCESS && rl < 2) || rv == SCARD_E_NOT_TRANSACTED) {
		/* No status word, or the exchange failed: some drivers (vpcd)
		 * say so when the card left mid-exchange, before pcscd's presence
		 * poll (~400 ms) notices. Tell a pulled card from a broken one. */
		if (card_gone(p))
			return SS_E_CARD_REMOVED;
	}
	if (rv != SCARD_S_SUCCESS) {
		enum ss_err e = pcsc_err(rv);
		/* The card was there when we connected: gone now means removed. */
		return e == SS_E_NO_CARD || e == SS_E_NO_READER ? SS_E_CARD_REMOVED : e;
	}
	*rsp_len = rl;
	return SS_OK;
}

static LONG try_connect(struct pcsc_conn *c, const char *reader, SCARDHANDLE *h, DWORD *proto)
{
	LONG rv;
	for (int attempt = 0; attempt < 2; attempt++) {
		if (!c->have_ctx) {
			rv = SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &c->ctx);
			if (rv != SCARD_S_SUCCESS)
				return rv;
			c->have_ctx = true;
		}
		rv = SCardConnect(c->ctx, reader, SCARD_SHARE_SHARED,
				  SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1, h, proto);
		if (!context_lost(rv))
			return rv;
		SCardReleaseContext(c->ctx); /* pcscd restarted: start afresh once */
		c->have_ctx = false;
	}
	return rv;
}

enum ss_err pcsc_connect(struct pcsc_conn *c, const char *reader, struct rdr_card *card)
{
	SCARDHANDLE h;
	DWORD proto = 0, state, rl = 0, al = sizeof card->atr;
	LONG rv;
	struct card_priv *p;

	memset(card, 0, sizeof *card);
	/* Another program holding the card exclusively: back off, then report. */
	for (long wait = 50;; wait *= 2) {
		rv = try_connect(c, reader, &h, &proto);
		if (rv != SCARD_E_SHARING_VIOLATION || wait > 400)
			break;
		sleep_ms(wait);
	}
	if (rv != SCARD_S_SUCCESS)
		return pcsc_err(rv);
	rv = SCardStatus(h, NULL, &rl, &state, &proto, card->atr, &al);
	if (rv != SCARD_S_SUCCESS && rv != SCARD_E_INSUFFICIENT_BUFFER) {
		SCardDisconnect(h, SCARD_LEAVE_CARD);
		enum ss_err e = pcsc_err(rv);
		return e == SS_E_NO_CARD ? SS_E_CARD_REMOVED : e;
	}
	p = calloc(1, sizeof *p);
	if (!p) {
		SCardDisconnect(h, SCARD_LEAVE_CARD);
		return SS_E_NOMEM;
	}
	p->h = h;
	p->pci = proto == SCARD_PROTOCOL_T1 ? SCARD_PCI_T1 : SCARD_PCI_T0;
	card->atr_len = rv == SCARD_S_SUCCESS ? al : 0;
	card->protocol = proto == SCARD_PROTOCOL_T1 ? 1 : 0;
	card->interface = atr_is_contactless(card->atr, card->atr_len) ? "contactless" : "contact";
	strncpy(card->reader, reader, sizeof card->reader - 1);
	if (!c->serial_asked)
		ask_serial(c, h);
	memcpy(card->serial, c->serial, sizeof card->serial);
	card->tr.ctx = p;
	card->tr.xfer = xfer;
	card->priv = p;
	return SS_OK;
}

static void disconnect(struct rdr_card *card, DWORD how)
{
	struct card_priv *p = card->priv;
	if (!p)
		return;
	SCardDisconnect(p->h, how);
	free(p);
	card->priv = NULL;
	card->tr.ctx = NULL;
}

void pcsc_disconnect(struct rdr_card *card)
{
	disconnect(card, SCARD_LEAVE_CARD);
}

void pcsc_disconnect_unpower(struct rdr_card *card)
{
	disconnect(card, SCARD_UNPOWER_CARD);
}

static enum ss_err control(void *ctx, uint32_t code, const uint8_t *in, size_t in_len, uint8_t *out,
			   size_t *out_len)
{
	struct card_priv *p = ctx;
	DWORD rl = 0;
	LONG rv = SCardControl(p->h, code, in, (DWORD)in_len, out, (DWORD)*out_len, &rl);
	*out_len = rv == SCARD_S_SUCCESS ? rl : 0;
	return pcsc_err(rv);
}

enum ss_err pcsc_pinpad(struct rdr_card *card, enum pinpad_op op, int *tries_left)
{
	if (!card->priv)
		return SS_E_CARD_REMOVED;
	return pinpad_run(control, card->priv, op, tries_left);
}
