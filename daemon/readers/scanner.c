/* scanner.c — the QR code scanner on the event loop (scanner.h). */
#include "daemon/readers/scanner.h"

#include <errno.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon/log.h"
#include "drivers/idcard.h"

#define REOPEN_MS 1000

enum drop { DROP_OVERLONG, DROP_NOT_TEXT, DROP_PARTIAL, DROP_NO_ONE, DROP__N };
static const char *const DROP_NAMES[DROP__N] = {"overlong", "not_text", "partial", "no_one"};

struct scanner {
	sd_event *ev;
	char path[128];
	int baud;
	int fd;
	sd_event_source *io, *reopen, *partial;
	readers_emit_fn emit;
	void *emit_arg;
	scanner_code_fn fn;
	void *fn_arg;
	const char *state;
	char last_error[240];
	/* the code being received: wiped after each one */
	char buf[SCANNER_CODE_MAX + 1];
	size_t len;
	bool overlong, not_text;
	unsigned long codes, dropped[DROP__N];
};

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void set_state(struct scanner *s, const char *state)
{
	if (s->state && !strcmp(s->state, state))
		return;
	s->state = state;
	if (!strcmp(state, "ready"))
		log_msg(LOG_INFO, "code scanner '%s' is ready", s->path);
	else
		log_msg(LOG_WARNING, "code scanner '%s' is absent: %s", s->path, s->last_error);
	json_t *e = json_pack("{s:s,s:s}", "event", "scanner", "state", state);
	s->emit(s->emit_arg, e);
	json_decref(e);
}

static void forget_code(struct scanner *s)
{
	sodium_memzero(s->buf, sizeof s->buf);
	s->len = 0;
	s->overlong = s->not_text = false;
	if (s->partial)
		sd_event_source_set_enabled(s->partial, SD_EVENT_OFF);
}

static void drop(struct scanner *s, enum drop why)
{
	s->dropped[why]++;
	log_msg(LOG_NOTICE, "code scanner: a code was dropped (%s)", DROP_NAMES[why]);
	forget_code(s);
}

/* CR or LF: what came before it is a code, or nothing (the LF of a CR LF). */
static void end_of_code(struct scanner *s)
{
	if (s->overlong)
		drop(s, DROP_OVERLONG);
	else if (s->not_text)
		drop(s, DROP_NOT_TEXT);
	else if (s->len && !s->fn)
		drop(s, DROP_NO_ONE);
	else if (s->len) {
		s->codes++;
		s->buf[s->len] = 0;
		s->fn(s->fn_arg, s->buf, s->len);
		forget_code(s);
	}
}

static int on_partial(sd_event_source *src, uint64_t usec, void *arg)
{
	struct scanner *s = arg;
	if (s->len || s->overlong || s->not_text)
		drop(s, DROP_PARTIAL); /* bytes and then silence: half a code */
	return 0;
}

static void try_open(struct scanner *s);

static int on_reopen(sd_event_source *src, uint64_t usec, void *arg)
{
	try_open(arg);
	return 0;
}

static void close_device(struct scanner *s, const char *why)
{
	snprintf(s->last_error, sizeof s->last_error, "%s", why);
	s->io = sd_event_source_disable_unref(s->io);
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	if (s->len || s->overlong || s->not_text)
		drop(s, DROP_PARTIAL);
	set_state(s, "absent");
	sd_event_source_set_time(s->reopen, now_us() + REOPEN_MS * 1000u);
	sd_event_source_set_enabled(s->reopen, SD_EVENT_ONESHOT);
}

static int on_io(sd_event_source *src, int fd, uint32_t revents, void *arg)
{
	struct scanner *s = arg;
	unsigned char b[256];
	for (int round = 0; round < 16; round++) { /* bounded: the loop has other work */
		ssize_t n = read(fd, b, sizeof b);
		if ((n < 0 && (errno == EAGAIN || errno == EINTR)) || (n == 0 && !(revents & EPOLLHUP)))
			break; /* all there is (a raw tty with VMIN 0 reads 0, not EAGAIN) */
		if (n <= 0) { /* unplugged: EIO, or a hang-up, on a tty whose other end is gone */
			close_device(s, n < 0 ? strerror(errno) : "the device hung up");
			return 0;
		}
		for (ssize_t i = 0; i < n; i++) {
			unsigned char c = b[i];
			if (c == '\r' || c == '\n')
				end_of_code(s);
			else if (c < 0x20 || c > 0x7E)
				s->not_text = true;
			else if (s->len == SCANNER_CODE_MAX)
				s->overlong = true;
			else
				s->buf[s->len++] = (char)c;
		}
		sodium_memzero(b, sizeof b);
	}
	if (revents & (EPOLLHUP | EPOLLERR) && !(revents & EPOLLIN)) {
		close_device(s, "the device hung up");
		return 0;
	}
	if (s->len || s->overlong || s->not_text) { /* the rest must come soon */
		sd_event_source_set_time(s->partial, now_us() + SCANNER_PARTIAL_MS * 1000u);
		sd_event_source_set_enabled(s->partial, SD_EVENT_ONESHOT);
	}
	return 0;
}

static void try_open(struct scanner *s)
{
	char err[240];
	int fd = idc_serial_open(s->path, s->baud, err, sizeof err);
	if (fd < 0 || sd_event_add_io(s->ev, &s->io, fd, EPOLLIN, on_io, s) < 0) {
		if (fd >= 0)
			close(fd);
		close_device(s, fd < 0 ? err : "cannot watch the device");
		return;
	}
	s->fd = fd;
	s->last_error[0] = 0;
	set_state(s, "ready");
}

int scanner_start(sd_event *ev, const struct config *cfg, readers_emit_fn emit, void *emit_arg,
		  struct scanner **out)
{
	*out = NULL;
	if (!cfg->scanner[0])
		return 0;
	struct scanner *s = calloc(1, sizeof *s);
	if (!s)
		return -ENOMEM;
	s->ev = ev;
	s->fd = -1;
	s->emit = emit;
	s->emit_arg = emit_arg;
	snprintf(s->path, sizeof s->path, "%s", cfg->scanner);
	s->baud = cfg->scanner_baud;
	int rv = sd_event_add_time(ev, &s->reopen, CLOCK_MONOTONIC, UINT64_MAX, 0, on_reopen, s);
	if (rv >= 0)
		rv = sd_event_add_time(ev, &s->partial, CLOCK_MONOTONIC, UINT64_MAX, 0, on_partial, s);
	if (rv < 0) {
		scanner_stop(s);
		return rv;
	}
	try_open(s);
	*out = s;
	return 0;
}

void scanner_stop(struct scanner *s)
{
	if (!s)
		return;
	s->io = sd_event_source_disable_unref(s->io);
	s->reopen = sd_event_source_disable_unref(s->reopen);
	s->partial = sd_event_source_disable_unref(s->partial);
	if (s->fd >= 0)
		close(s->fd);
	sodium_memzero(s->buf, sizeof s->buf);
	free(s);
}

void scanner_on_code(struct scanner *s, scanner_code_fn fn, void *arg)
{
	if (!s)
		return;
	s->fn = fn;
	s->fn_arg = arg;
}

const char *scanner_state(const struct scanner *s)
{
	return !s ? "off" : s->state ? s->state : "absent";
}

void scanner_add_status(const struct scanner *s, json_t *st)
{
	json_t *j = json_pack("{s:s}", "state", scanner_state(s));
	if (s) {
		json_t *d = json_object();
		for (int i = 0; i < DROP__N; i++)
			json_object_set_new(d, DROP_NAMES[i], json_integer((json_int_t)s->dropped[i]));
		json_object_set_new(j, "device", json_string(s->path));
		json_object_set_new(j, "baud", json_integer(s->baud));
		json_object_set_new(j, "codes", json_integer((json_int_t)s->codes));
		json_object_set_new(j, "dropped", d);
		if (s->last_error[0])
			json_object_set_new(j, "last_error", json_string(s->last_error));
	}
	json_object_set_new(st, "scanner", j);
}

void scanner_metrics(const struct scanner *s, struct prom *p)
{
	if (!s)
		return;
	prom_one(p, "sscard_scanner_up", "gauge", "1 when the code scanner is open.",
		 !strcmp(scanner_state(s), "ready"));
	prom_one(p, "sscard_scanner_codes_total", "counter", "Codes the scanner sent whole.", (double)s->codes);
	struct prom_labels l = {.k = {"reason"}, .n = 1};
	prom_family(p, "sscard_scanner_dropped_total", "counter",
		    "Scanned codes dropped: overlong, not_text, partial, no_one (no screen wanted one).");
	for (int i = 0; i < DROP__N; i++) {
		l.v[0] = DROP_NAMES[i];
		prom_sample(p, "sscard_scanner_dropped_total", &l, (double)s->dropped[i]);
	}
}
