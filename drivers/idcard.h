/* idcard.h — the resident ID card reader (身份证阅读器): its frame protocol
 * over a serial line (shared/idcard-spec.md §1–2) and the card's 256-byte
 * text (§3). find → select → read base information; the photo is never
 * kept. The line is a pair of callbacks, so tests drive the driver with a
 * fake one; idc_serial_open() gives the real one (termios, raw 8N1). */
#ifndef SSCARD_IDCARD_H
#define SSCARD_IDCARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IDC_PREAMBLE_LEN 5
#define IDC_MAX_DATA 4096            /* the longest answer we accept (base + fingerprint) */
#define IDC_TEXT_LEN 256
#define IDC_PHOTO_LEN 1024

/* The result of one exchange or of a whole read. */
enum idc_status {
	IDC_OK = 0,
	IDC_NO_CARD,          /* SW3 80: nothing on the field */
	IDC_CARD_MOVED,       /* SW3 41 or 81: the card left (or could not be selected) mid-read */
	IDC_TIMEOUT,          /* the reader did not answer in time (mute) */
	IDC_LINE_ERROR,       /* the serial line failed (unplugged) */
	IDC_BAD_FRAME,        /* garbage, a checksum or a length that does not add up */
	IDC_READER_REFUSED,   /* any other SW3: the reader or its SAM said no */
	IDC_BAD_TEXT,         /* the text does not decode as an ID card's */
};

/* The line: write all of buf, or -1; read up to cap bytes within
 * timeout_ms: >0 bytes, 0 on timeout, -1 on an error. */
struct idc_line {
	int (*write)(void *ctx, const uint8_t *buf, size_t len);
	int (*read)(void *ctx, uint8_t *buf, size_t cap, int timeout_ms);
	void *ctx;
};

/* One answer frame: SW3 and the data (SW1 SW2 are 00 00 by the digest and
 * are not judged). */
struct idc_answer {
	uint8_t sw3;
	size_t len;
	uint8_t data[IDC_MAX_DATA];
};

enum idc_kind { IDC_KIND_RESIDENT, IDC_KIND_FOREIGN_PERMANENT, IDC_KIND_HK_MO_TW, IDC_KIND_OTHER };

/* What the text says, UTF-8. Dates as YYYY-MM-DD; valid_until is empty and
 * long_term set for 长期. */
struct idc_person {
	char name[64];           /* up to 15 CJK characters: 45 bytes */
	char sex[8];             /* "1" male, "2" female */
	char nation[8];          /* 2 digits, GB 3304 */
	char birth_date[11];
	char address[128];       /* up to 35 characters */
	char id_number[19];
	char authority[64];
	char valid_from[11];
	char valid_until[11];
	bool long_term;
	enum idc_kind kind;
};

/* The command frame for CMD PARA DATA into out (cap ≥ 8 + n); its length. */
size_t idc_frame(uint8_t cmd, uint8_t para, const uint8_t *data, size_t n, uint8_t *out,
		 size_t cap);

/* Send CMD PARA and read its answer: resynchronises on the preamble (bytes
 * before it are skipped), checks LEN against IDC_MAX_DATA before reading
 * on, and the checksum. timeout_ms bounds the whole answer. */
enum idc_status idc_exchange(const struct idc_line *line, uint8_t cmd, uint8_t para,
			     int timeout_ms, struct idc_answer *ans);

/* A whole read: find (20 01), select (20 02), read base information
 * (30 01), decode. The answer buffers (text and photo) are wiped before it
 * returns, whatever happened. err gets a plain sentence on failure. */
enum idc_status idc_read(const struct idc_line *line, struct idc_person *out, char *err,
			 size_t errlen);

/* Decode the 256-byte text (UCS-2 LE, space padded). */
enum idc_status idc_decode_text(const uint8_t text[IDC_TEXT_LEN], struct idc_person *out,
				char *err, size_t errlen);

/* ISO 7064 MOD 11-2 check of an 18-character ID number. */
bool idc_id_number_ok(const char *id);

/* today as YYYY-MM-DD: whether the card has passed its valid_until. */
bool idc_expired(const struct idc_person *p, const char *today);

const char *idc_kind_name(enum idc_kind k);
const char *idc_status_code(enum idc_status s);

void idc_person_wipe(struct idc_person *p);

/* The serial line: PATH at BAUD (9600 … 115200), raw 8N1; -1 with a
 * sentence. idc_serial_line() wraps the fd. */
int idc_serial_open(const char *path, int baud, char *err, size_t errlen);
struct idc_line idc_serial_line(int *fd);

#endif
