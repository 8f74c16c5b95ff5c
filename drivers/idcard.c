/* idcard.c — the resident ID card reader's frame protocol and the card's
 * text (idcard.h, shared/idcard-spec.md). */
#include "drivers/idcard.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static const uint8_t PREAMBLE[IDC_PREAMBLE_LEN] = {0xAA, 0xAA, 0xAA, 0x96, 0x69};
/* Bytes skipped while looking for a preamble before the answer is called garbage. */
#define IDC_MAX_NOISE 8192

size_t idc_frame(uint8_t cmd, uint8_t para, const uint8_t *data, size_t n, uint8_t *out,
		 size_t cap)
{
	size_t len = 2 + n + 1; /* CMD PARA DATA CHK */
	if (cap < IDC_PREAMBLE_LEN + 2 + len || len > 0xFFFF)
		return 0;
	memcpy(out, PREAMBLE, IDC_PREAMBLE_LEN);
	size_t i = IDC_PREAMBLE_LEN;
	out[i++] = (uint8_t)(len >> 8);
	out[i++] = (uint8_t)len;
	out[i++] = cmd;
	out[i++] = para;
	if (n)
		memcpy(out + i, data, n);
	i += n;
	uint8_t chk = 0;
	for (size_t k = IDC_PREAMBLE_LEN; k < i; k++)
		chk ^= out[k];
	out[i++] = chk;
	return i;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Bytes of an earlier, broken answer must not be taken for this one. */
static void drain(const struct idc_line *line)
{
	uint8_t junk[256];
	for (int i = 0; i < 64 && line->read(line->ctx, junk, sizeof junk, 0) > 0; i++)
		;
}

enum idc_status idc_exchange(const struct idc_line *line, uint8_t cmd, uint8_t para,
			     int timeout_ms, struct idc_answer *ans)
{
	uint8_t frame[16];
	static_assert(IDC_MAX_DATA + 16 < 65536, "frame length fits LEN");
	uint8_t buf[IDC_PREAMBLE_LEN + 2 + IDC_MAX_DATA + 4];
	size_t have = 0, noise = 0, need = 0;
	bool synced = false;
	enum idc_status st = IDC_TIMEOUT;

	drain(line);
	size_t n = idc_frame(cmd, para, NULL, 0, frame, sizeof frame);
	if (line->write(line->ctx, frame, n) < 0)
		return IDC_LINE_ERROR;
	long long deadline = now_ms() + timeout_ms;
	for (;;) {
		long long left = deadline - now_ms();
		if (left < 0)
			left = 0;
		size_t want = synced ? need - have : sizeof buf - have;
		int r = line->read(line->ctx, buf + have, want, (int)left);
		if (r < 0) {
			st = IDC_LINE_ERROR;
			break;
		}
		if (r == 0) {
			/* nothing: a mute reader, or an answer that broke off */
			st = have || noise ? IDC_BAD_FRAME : IDC_TIMEOUT;
			break;
		}
		have += (size_t)r;
		if (!synced) {
			/* skip to the preamble, keeping a partial one at the end */
			size_t k = 0;
			while (k < have) {
				size_t m = 0;
				while (m < IDC_PREAMBLE_LEN && k + m < have && buf[k + m] == PREAMBLE[m])
					m++;
				if (m == IDC_PREAMBLE_LEN || k + m == have)
					break;
				k++;
			}
			noise += k;
			memmove(buf, buf + k, have - k);
			have -= k;
			if (noise > IDC_MAX_NOISE) {
				st = IDC_BAD_FRAME;
				break;
			}
			if (have < IDC_PREAMBLE_LEN + 2)
				continue;
			size_t len = (size_t)buf[5] << 8 | buf[6];
			if (len < 4 || len > IDC_MAX_DATA + 4) { /* SW1 SW2 SW3 … CHK */
				st = IDC_BAD_FRAME;
				break;
			}
			need = IDC_PREAMBLE_LEN + 2 + len;
			synced = true;
		}
		if (have < need)
			continue;
		uint8_t chk = 0;
		for (size_t k = IDC_PREAMBLE_LEN; k < need - 1; k++)
			chk ^= buf[k];
		if (chk != buf[need - 1]) {
			st = IDC_BAD_FRAME;
			break;
		}
		ans->sw3 = buf[9];
		ans->len = need - IDC_PREAMBLE_LEN - 2 - 4;
		memcpy(ans->data, buf + 10, ans->len);
		st = IDC_OK;
		break;
	}
	explicit_bzero(buf, sizeof buf);
	return st;
}

/* ---- the text ------------------------------------------------------------ */

/* UCS-2 LE field → UTF-8, trailing spaces and NULs dropped; false when a
 * character is not one a card prints (a control character, a surrogate). */
static bool field(const uint8_t *p, size_t bytes, char *out, size_t cap)
{
	size_t chars = bytes / 2, end = chars, o = 0;
	while (end > 0) {
		unsigned c = p[2 * (end - 1)] | p[2 * (end - 1) + 1] << 8;
		if (c != 0x20 && c != 0 && c != 0x3000)
			break;
		end--;
	}
	for (size_t i = 0; i < end; i++) {
		unsigned c = p[2 * i] | p[2 * i + 1] << 8;
		if (c < 0x20 || (c >= 0xD800 && c <= 0xDFFF) || c == 0xFFFE || c == 0xFFFF)
			return false;
		if (c < 0x80) {
			if (o + 1 >= cap)
				return false;
			out[o++] = (char)c;
		} else if (c < 0x800) {
			if (o + 2 >= cap)
				return false;
			out[o++] = (char)(0xC0 | c >> 6);
			out[o++] = (char)(0x80 | (c & 0x3F));
		} else {
			if (o + 3 >= cap)
				return false;
			out[o++] = (char)(0xE0 | c >> 12);
			out[o++] = (char)(0x80 | (c >> 6 & 0x3F));
			out[o++] = (char)(0x80 | (c & 0x3F));
		}
	}
	out[o] = 0;
	return true;
}

static bool digits(const char *s, size_t n)
{
	if (strlen(s) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* YYYYMMDD → YYYY-MM-DD, with a plausible month and day. */
static bool date(const char *in, char out[11])
{
	if (!digits(in, 8))
		return false;
	int m = (in[4] - '0') * 10 + in[5] - '0', d = (in[6] - '0') * 10 + in[7] - '0';
	if (m < 1 || m > 12 || d < 1 || d > 31)
		return false;
	snprintf(out, 11, "%.4s-%.2s-%.2s", in, in + 4, in + 6);
	return true;
}

bool idc_id_number_ok(const char *id)
{
	static const int W[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
	static const char C[] = "10X98765432";
	if (strlen(id) != 18)
		return false;
	int sum = 0;
	for (int i = 0; i < 17; i++) {
		if (id[i] < '0' || id[i] > '9')
			return false;
		sum += (id[i] - '0') * W[i];
	}
	return id[17] == C[sum % 11];
}

static enum idc_status decode(const uint8_t *text, struct idc_person *out, char raw[3][64],
			      char *err, size_t errlen)
{
	/* the kind: the last character of the text */
	unsigned k = text[254] | text[255] << 8;
	out->kind = k == ' ' || k == 0 ? IDC_KIND_RESIDENT
		  : k == 'I'           ? IDC_KIND_FOREIGN_PERMANENT
		  : k == 'J'           ? IDC_KIND_HK_MO_TW
				       : IDC_KIND_OTHER;
	if (out->kind != IDC_KIND_RESIDENT)
		return IDC_OK; /* another layout: the caller says what it does with it */
	if (!field(text + 0, 30, out->name, sizeof out->name) || !*out->name)
		return snprintf(err, errlen, "The ID card's name could not be read."), IDC_BAD_TEXT;
	if (!field(text + 30, 2, out->sex, sizeof out->sex) ||
	    !field(text + 32, 4, out->nation, sizeof out->nation) ||
	    !field(text + 36, 16, raw[0], 64) || !date(raw[0], out->birth_date))
		return snprintf(err, errlen, "The ID card's sex, ethnic group or birth date could not be read."),
		       IDC_BAD_TEXT;
	if (!field(text + 52, 70, out->address, sizeof out->address) ||
	    !field(text + 122, 36, out->id_number, sizeof out->id_number) ||
	    !field(text + 158, 30, out->authority, sizeof out->authority))
		return snprintf(err, errlen, "The ID card's address, number or authority could not be read."),
		       IDC_BAD_TEXT;
	if (!idc_id_number_ok(out->id_number))
		return snprintf(err, errlen, "The ID card's number fails its check digit."), IDC_BAD_TEXT;
	if (!field(text + 188, 16, raw[1], 64) || !date(raw[1], out->valid_from) ||
	    !field(text + 204, 16, raw[2], 64))
		return snprintf(err, errlen, "The ID card's validity could not be read."), IDC_BAD_TEXT;
	if (!strcmp(raw[2], "长期"))
		out->long_term = true;
	else if (!date(raw[2], out->valid_until))
		return snprintf(err, errlen, "The ID card's validity could not be read."), IDC_BAD_TEXT;
	return IDC_OK;
}

enum idc_status idc_decode_text(const uint8_t text[IDC_TEXT_LEN], struct idc_person *out,
				char *err, size_t errlen)
{
	char raw[3][64]; /* dates as printed on the card */
	memset(out, 0, sizeof *out);
	enum idc_status st = decode(text, out, raw, err, errlen);
	explicit_bzero(raw, sizeof raw);
	if (st != IDC_OK)
		idc_person_wipe(out);
	return st;
}

bool idc_expired(const struct idc_person *p, const char *today)
{
	return !p->long_term && *p->valid_until && strcmp(p->valid_until, today) < 0;
}

const char *idc_kind_name(enum idc_kind k)
{
	switch (k) {
	case IDC_KIND_RESIDENT: return "resident";
	case IDC_KIND_FOREIGN_PERMANENT: return "foreign_permanent";
	case IDC_KIND_HK_MO_TW: return "hk_mo_tw_permit";
	default: return "other";
	}
}

const char *idc_status_code(enum idc_status s)
{
	switch (s) {
	case IDC_OK: return "ok";
	case IDC_NO_CARD: return "no_card";
	case IDC_CARD_MOVED: return "card_removed";
	case IDC_TIMEOUT: return "reader_timeout";
	case IDC_LINE_ERROR: return "reader_error";
	case IDC_BAD_FRAME: return "bad_answer";
	case IDC_READER_REFUSED: return "reader_refused";
	case IDC_BAD_TEXT: return "bad_card";
	}
	return "reader_error";
}

void idc_person_wipe(struct idc_person *p)
{
	explicit_bzero(p, sizeof *p);
}

/* ---- a whole read ---------------------------------------------------------- */

static enum idc_status failed(enum idc_status st, const char *what, uint8_t sw3, char *err,
			      size_t errlen)
{
	switch (st) {
	case IDC_TIMEOUT:
		snprintf(err, errlen, "The ID card reader did not answer (%s).", what);
		break;
	case IDC_LINE_ERROR:
		snprintf(err, errlen, "The ID card reader's line failed (%s): is it plugged in?", what);
		break;
	case IDC_BAD_FRAME:
		snprintf(err, errlen, "The ID card reader's answer was damaged (%s).", what);
		break;
	case IDC_NO_CARD: snprintf(err, errlen, "There is no ID card on the reader."); break;
	case IDC_CARD_MOVED:
		snprintf(err, errlen, "The ID card was taken away before it was read (%s, code %02X).", what, sw3);
		break;
	default:
		snprintf(err, errlen, "The ID card reader refused to %s (code %02X).", what, sw3);
		break;
	}
	return st;
}

enum idc_status idc_read(const struct idc_line *line, struct idc_person *out, char *err,
			 size_t errlen)
{
	struct idc_answer a; /* filled by idc_exchange, read only after IDC_OK */
	enum idc_status st;
	memset(out, 0, sizeof *out);
	if ((st = idc_exchange(line, 0x20, 0x01, 500, &a)) != IDC_OK)
		return failed(st, "find a card", 0, err, errlen);
	if (a.sw3 == 0x80)
		return failed(IDC_NO_CARD, "find a card", a.sw3, err, errlen);
	if (a.sw3 != 0x9F)
		return failed(IDC_READER_REFUSED, "find a card", a.sw3, err, errlen);
	if ((st = idc_exchange(line, 0x20, 0x02, 1000, &a)) != IDC_OK)
		return failed(st, "select the card", 0, err, errlen);
	if (a.sw3 == 0x80 || a.sw3 == 0x81 || a.sw3 == 0x41)
		return failed(IDC_CARD_MOVED, "select the card", a.sw3, err, errlen);
	if (a.sw3 != 0x90)
		return failed(IDC_READER_REFUSED, "select the card", a.sw3, err, errlen);
	st = idc_exchange(line, 0x30, 0x01, 3000, &a);
	if (st != IDC_OK)
		st = failed(st, "read the card", 0, err, errlen);
	else if (a.sw3 == 0x41 || a.sw3 == 0x80)
		st = failed(IDC_CARD_MOVED, "read the card", a.sw3, err, errlen);
	else if (a.sw3 != 0x90)
		st = failed(IDC_READER_REFUSED, "read the card", a.sw3, err, errlen);
	else {
		size_t tl = a.len >= 4 ? (size_t)a.data[0] << 8 | a.data[1] : 0;
		size_t pl = a.len >= 4 ? (size_t)a.data[2] << 8 | a.data[3] : 0;
		if (a.len < 4 || tl < IDC_TEXT_LEN || 4 + tl + pl > a.len)
			st = failed(IDC_BAD_FRAME, "read the card: lengths that do not add up", 0, err, errlen);
		else
			st = idc_decode_text(a.data + 4, out, err, errlen);
	}
	explicit_bzero(&a, sizeof a); /* the text and the photo */
	if (st != IDC_OK)
		idc_person_wipe(out);
	return st;
}

/* ---- the serial line ------------------------------------------------------- */

static int ser_write(void *ctx, const uint8_t *buf, size_t len)
{
	int fd = *(int *)ctx;
	while (len) {
		ssize_t w = write(fd, buf, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			struct pollfd p = {.fd = fd, .events = POLLOUT};
			if (poll(&p, 1, 1000) <= 0)
				return -1;
			continue;
		}
		if (w <= 0)
			return -1;
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

static int ser_read(void *ctx, uint8_t *buf, size_t cap, int timeout_ms)
{
	int fd = *(int *)ctx;
	struct pollfd p = {.fd = fd, .events = POLLIN};
	int r;
	do
		r = poll(&p, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -1;
	if (r == 0)
		return 0;
	if (p.revents & (POLLERR | POLLHUP | POLLNVAL) && !(p.revents & POLLIN))
		return -1;
	ssize_t n = read(fd, buf, cap);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	return n <= 0 ? -1 : (int)n; /* 0 after POLLIN: the device went away */
}

struct idc_line idc_serial_line(int *fd)
{
	return (struct idc_line){.write = ser_write, .read = ser_read, .ctx = fd};
}

int idc_serial_open(const char *path, int baud, char *err, size_t errlen)
{
	speed_t sp;
	switch (baud) {
	case 9600: sp = B9600; break;
	case 19200: sp = B19200; break;
	case 38400: sp = B38400; break;
	case 57600: sp = B57600; break;
	case 115200: sp = B115200; break;
	default:
		snprintf(err, errlen, "%s: %d bit/s is not a speed an ID card reader uses (9600 … 115200)", path, baud);
		return -1;
	}
	int fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	struct termios t;
	if (fd < 0 || tcgetattr(fd, &t) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	cfmakeraw(&t);
	t.c_cflag |= CLOCAL | CREAD;
	t.c_cflag &= ~(tcflag_t)(CSTOPB | PARENB | CRTSCTS);
	t.c_cc[VMIN] = 0;
	t.c_cc[VTIME] = 0;
	if (cfsetispeed(&t, sp) < 0 || cfsetospeed(&t, sp) < 0 || tcsetattr(fd, TCSANOW, &t) < 0) {
		snprintf(err, errlen, "%s: cannot set %d 8N1: %s", path, baud, strerror(errno));
		close(fd);
		return -1;
	}
	tcflush(fd, TCIOFLUSH);
	return fd;
}
