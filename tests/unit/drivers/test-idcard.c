/* test-idcard.c — drivers/idcard.c against a fake serial line: the frame
 * protocol (every SW3 of the digest, short and long frames, answers in
 * one-byte pieces, a checksum error, lengths that lie, garbage and a false
 * start before the preamble, a mute reader, a dead line) and the text (a
 * 15-character name, 长期, the kind byte, a bad check digit, expiry). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "drivers/idcard.h"

/* ---- the fake line ------------------------------------------------------- */

enum { NORMAL, MUTE, DEAD, GARBAGE_FIRST, FALSE_START, CHK_WRONG, LEN_TOO_LONG, LEN_HUGE, BYTEWISE };

static struct {
	struct {
		uint8_t cmd, para, sw3;
		const uint8_t *data;
		size_t len;
		int how;
	} script[4];
	int n, next;
	uint8_t out[8192];
	size_t out_len, out_pos;
	uint8_t last_cmd, last_para;
	int frames_ok;
	bool bytewise;
} f;

static size_t answer(uint8_t sw3, const uint8_t *data, size_t n, uint8_t *out)
{
	static const uint8_t pre[5] = {0xAA, 0xAA, 0xAA, 0x96, 0x69};
	size_t len = 3 + n + 1, i = 5;
	memcpy(out, pre, 5);
	out[i++] = (uint8_t)(len >> 8);
	out[i++] = (uint8_t)len;
	out[i++] = 0;
	out[i++] = 0;
	out[i++] = sw3;
	if (n)
		memcpy(out + i, data, n);
	i += n;
	uint8_t chk = 0;
	for (size_t k = 5; k < i; k++)
		chk ^= out[k];
	out[i++] = chk;
	return i;
}

static int fake_write(void *ctx, const uint8_t *buf, size_t len)
{
	(void)ctx;
	if (f.next < f.n && f.script[f.next].how == DEAD)
		return -1;
	/* the command frame as the digest says: preamble, LEN, CMD PARA, CHK */
	uint8_t chk = 0;
	for (size_t k = 5; k < len - 1; k++)
		chk ^= buf[k];
	if (len == 10 && buf[0] == 0xAA && buf[4] == 0x69 && buf[5] == 0 && buf[6] == 3 && chk == buf[9])
		f.frames_ok++;
	f.last_cmd = buf[7];
	f.last_para = buf[8];
	f.out_len = f.out_pos = 0;
	if (f.next >= f.n)
		return 0;
	__typeof__(f.script[0]) *s = &f.script[f.next++];
	assert_int_equal(s->cmd, buf[7]);
	assert_int_equal(s->para, buf[8]);
	f.bytewise = s->how == BYTEWISE;
	size_t o = 0;
	switch (s->how) {
	case MUTE: return 0;
	case GARBAGE_FIRST:
		for (int i = 0; i < 300; i++)
			f.out[o++] = (uint8_t)(i * 37 + 11) == 0xAA ? 0x55 : (uint8_t)(i * 37 + 11);
		break;
	case FALSE_START: /* a preamble that breaks off, then a real one */
		memcpy(f.out, (uint8_t[]){0xAA, 0xAA, 0x96, 0xAA, 0xAA, 0xAA, 0xAA}, 7);
		o = 7;
		break;
	default: break;
	}
	o += answer(s->sw3, s->data, s->len, f.out + o);
	if (s->how == CHK_WRONG)
		f.out[o - 1] ^= 0x5A;
	if (s->how == LEN_TOO_LONG) { /* says more than it sends */
		f.out[5] = (uint8_t)((s->len + 4 + 100) >> 8);
		f.out[6] = (uint8_t)(s->len + 4 + 100);
	}
	if (s->how == LEN_HUGE)
		f.out[5] = f.out[6] = 0xFF;
	f.out_len = o;
	return 0;
}

static int fake_read(void *ctx, uint8_t *buf, size_t cap, int timeout_ms)
{
	(void)ctx;
	(void)timeout_ms;
	if (f.next > 0 && f.script[f.next - 1].how == DEAD)
		return -1;
	size_t left = f.out_len - f.out_pos;
	if (!left)
		return 0; /* nothing more: a timeout at once */
	size_t n = left < cap ? left : cap;
	if (f.bytewise)
		n = 1;
	else if (n > 97)
		n = 97; /* answers come in pieces */
	memcpy(buf, f.out + f.out_pos, n);
	f.out_pos += n;
	return (int)n;
}

static const struct idc_line LINE = {.write = fake_write, .read = fake_read, .ctx = NULL};

static void script(uint8_t cmd, uint8_t para, uint8_t sw3, const uint8_t *data, size_t len, int how)
{
	f.script[f.n].cmd = cmd;
	f.script[f.n].para = para;
	f.script[f.n].sw3 = sw3;
	f.script[f.n].data = data;
	f.script[f.n].len = len;
	f.script[f.n].how = how;
	f.n++;
}

static int reset(void **state)
{
	(void)state;
	memset(&f, 0, sizeof f);
	return 0;
}

/* ---- the card's text ------------------------------------------------------ */

/* UTF-8 (BMP only) into UCS-2 LE at text+off, space padded to bytes. */
static void put(uint8_t *text, size_t off, size_t bytes, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t o = off;
	while (*p) {
		unsigned c;
		if (*p < 0x80)
			c = *p++;
		else if ((*p & 0xE0) == 0xC0)
			c = (p[0] & 0x1Fu) << 6 | (p[1] & 0x3Fu), p += 2;
		else
			c = (p[0] & 0x0Fu) << 12 | (p[1] & 0x3Fu) << 6 | (p[2] & 0x3Fu), p += 3;
		assert_true(o + 2 <= off + bytes);
		text[o++] = (uint8_t)c;
		text[o++] = (uint8_t)(c >> 8);
	}
	for (; o < off + bytes; o += 2)
		text[o] = ' ', text[o + 1] = 0;
}

static uint8_t base[4 + 256 + 1024];

static void person(const char *name, const char *until, char kind)
{
	uint8_t *t = base + 4;
	base[0] = 0x01, base[1] = 0x00; /* text 256 */
	base[2] = 0x04, base[3] = 0x00; /* photo 1024 */
	put(t, 0, 30, name);
	put(t, 30, 2, "1");
	put(t, 32, 4, "01");
	put(t, 36, 16, "19810101");
	put(t, 52, 70, "北京市东城区东华门街道100号");
	put(t, 122, 36, "111111198101011110");
	put(t, 158, 30, "北京市公安局东城分局");
	put(t, 188, 16, "20201001");
	put(t, 204, 16, until);
	put(t, 220, 36, "");
	t[254] = (uint8_t)kind;
	memset(base + 4 + 256, 0x77, 1024); /* a "photo" */
}

static void full_read(int read_how)
{
	static const uint8_t found[4] = {0, 0, 0, 0}, sel[8] = {0};
	script(0x20, 0x01, 0x9F, found, 4, NORMAL);
	script(0x20, 0x02, 0x90, sel, 8, NORMAL);
	script(0x30, 0x01, 0x90, base, sizeof base, read_how);
}

/* ---- tests ------------------------------------------------------------------ */

static void reads_field_by_field(void **state)
{
	struct idc_person p;
	char err[200] = "";
	person("张三", "20401001", ' ');
	full_read(NORMAL);
	assert_int_equal(idc_read(&LINE, &p, err, sizeof err), IDC_OK);
	assert_int_equal(f.frames_ok, 3);
	assert_string_equal(p.name, "张三");
	assert_string_equal(p.sex, "1");
	assert_string_equal(p.nation, "01");
	assert_string_equal(p.birth_date, "1981-01-01");
	assert_string_equal(p.address, "北京市东城区东华门街道100号");
	assert_string_equal(p.id_number, "111111198101011110");
	assert_string_equal(p.authority, "北京市公安局东城分局");
	assert_string_equal(p.valid_from, "2020-10-01");
	assert_string_equal(p.valid_until, "2040-10-01");
	assert_false(p.long_term);
	assert_int_equal(p.kind, IDC_KIND_RESIDENT);
	assert_string_equal(idc_kind_name(p.kind), "resident");
	assert_false(idc_expired(&p, "2026-12-02"));
	assert_true(idc_expired(&p, "2040-10-02"));
	idc_person_wipe(&p);
	assert_string_equal(p.name, "");
}

static void fifteen_characters_and_long_term(void **state)
{
	struct idc_person p;
	char err[200] = "";
	person("阿依古丽买买提艾则孜吐尔逊江热", "长期", ' ');
	full_read(BYTEWISE); /* the long answer one byte at a time */
	assert_int_equal(idc_read(&LINE, &p, err, sizeof err), IDC_OK);
	assert_string_equal(p.name, "阿依古丽买买提艾则孜吐尔逊江热");
	assert_int_equal(strlen(p.name), 45);
	assert_true(p.long_term);
	assert_string_equal(p.valid_until, "");
	assert_false(idc_expired(&p, "2099-01-01"));
}

static void other_kinds_are_named_not_decoded(void **state)
{
	struct idc_person p;
	char err[200] = "";
	person("ZHANG WEI", "20301231", 'I');
	assert_int_equal(idc_decode_text(base + 4, &p, err, sizeof err), IDC_OK);
	assert_int_equal(p.kind, IDC_KIND_FOREIGN_PERMANENT);
	assert_string_equal(idc_kind_name(p.kind), "foreign_permanent");
	assert_string_equal(p.id_number, "");
	person("陈大文", "20301231", 'J');
	assert_int_equal(idc_decode_text(base + 4, &p, err, sizeof err), IDC_OK);
	assert_string_equal(idc_kind_name(p.kind), "hk_mo_tw_permit");
}

static void a_bad_check_digit_is_a_bad_card(void **state)
{
	struct idc_person p;
	char err[200] = "";
	person("张三", "20401001", ' ');
	put(base + 4, 122, 36, "111111198101011111");
	assert_int_equal(idc_decode_text(base + 4, &p, err, sizeof err), IDC_BAD_TEXT);
	assert_non_null(strstr(err, "check digit"));
	assert_string_equal(p.name, ""); /* nothing half-decoded stays */
	assert_true(idc_id_number_ok("11010519491231002X"));
	assert_false(idc_id_number_ok("11010519491231002"));
}

static void every_result_code(void **state)
{
	static const struct {
		uint8_t cmd, para, sw3;
		enum idc_status want;
	} cases[] = {
		{0x20, 0x01, 0x80, IDC_NO_CARD},        {0x20, 0x01, 0x10, IDC_READER_REFUSED},
		{0x20, 0x01, 0x11, IDC_READER_REFUSED}, {0x20, 0x01, 0x21, IDC_READER_REFUSED},
		{0x20, 0x01, 0x23, IDC_READER_REFUSED}, {0x20, 0x01, 0x24, IDC_READER_REFUSED},
		{0x20, 0x01, 0x60, IDC_READER_REFUSED}, {0x20, 0x01, 0x66, IDC_READER_REFUSED},
		{0x20, 0x02, 0x81, IDC_CARD_MOVED},     {0x20, 0x02, 0x31, IDC_READER_REFUSED},
		{0x30, 0x01, 0x41, IDC_CARD_MOVED},     {0x30, 0x01, 0x91, IDC_READER_REFUSED},
		{0x30, 0x01, 0x31, IDC_READER_REFUSED},
	};
	static const uint8_t found[4] = {0}, sel[8] = {0};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct idc_person p;
		char err[200] = "", code[8];
		reset(NULL);
		if (cases[i].cmd == 0x20 && cases[i].para == 0x01)
			script(0x20, 0x01, cases[i].sw3, NULL, 0, NORMAL);
		else {
			script(0x20, 0x01, 0x9F, found, 4, NORMAL);
			if (cases[i].cmd == 0x20)
				script(0x20, 0x02, cases[i].sw3, NULL, 0, NORMAL);
			else {
				script(0x20, 0x02, 0x90, sel, 8, NORMAL);
				script(0x30, 0x01, cases[i].sw3, NULL, 0, NORMAL);
			}
		}
		assert_int_equal(idc_read(&LINE, &p, err, sizeof err), cases[i].want);
		snprintf(code, sizeof code, "%02X", cases[i].sw3);
		if (cases[i].want != IDC_NO_CARD && !strstr(err, code))
			fail_msg("SW3 %s: the sentence does not name the code: %s", code, err);
		assert_string_equal(p.name, "");
	}
}

static void line_faults(void **state)
{
	static const struct {
		int how;
		enum idc_status want;
	} cases[] = {
		{GARBAGE_FIRST, IDC_OK}, {FALSE_START, IDC_OK},      {CHK_WRONG, IDC_BAD_FRAME},
		{LEN_TOO_LONG, IDC_BAD_FRAME}, {LEN_HUGE, IDC_BAD_FRAME}, {MUTE, IDC_TIMEOUT},
		{DEAD, IDC_LINE_ERROR},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct idc_person p;
		char err[200] = "";
		reset(NULL);
		person("李四", "20301231", ' ');
		full_read(cases[i].how);
		enum idc_status st = idc_read(&LINE, &p, err, sizeof err);
		if (st != cases[i].want)
			fail_msg("fault %d: got %s (%s), wanted %s", cases[i].how, idc_status_code(st), err,
				 idc_status_code(cases[i].want));
		if (st != IDC_OK)
			assert_string_equal(p.name, "");
		else
			assert_string_equal(p.name, "李四");
	}
}

static void a_lying_text_length(void **state)
{
	struct idc_person p;
	char err[200] = "";
	person("张三", "20401001", ' ');
	base[0] = 0x10; /* text 4096: more than the answer holds */
	full_read(NORMAL);
	assert_int_equal(idc_read(&LINE, &p, err, sizeof err), IDC_BAD_FRAME);
	assert_non_null(strstr(err, "do not add up"));
}

static void command_frames(void **state)
{
	uint8_t out[16];
	size_t n = idc_frame(0x20, 0x01, NULL, 0, out, sizeof out);
	const uint8_t want[] = {0xAA, 0xAA, 0xAA, 0x96, 0x69, 0x00, 0x03, 0x20, 0x01, 0x22};
	assert_int_equal(n, sizeof want);
	assert_memory_equal(out, want, sizeof want);
	assert_int_equal(idc_frame(0x30, 0x01, NULL, 0, out, 9), 0); /* too small a buffer */
	char err[200];
	assert_int_equal(idc_serial_open("/nonexistent/ttyUSB9", 115200, err, sizeof err), -1);
	assert_non_null(strstr(err, "/nonexistent/ttyUSB9"));
	assert_int_equal(idc_serial_open("/dev/null", 1234, err, sizeof err), -1);
	assert_non_null(strstr(err, "1234"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(reads_field_by_field, reset),
		cmocka_unit_test_setup(fifteen_characters_and_long_term, reset),
		cmocka_unit_test_setup(other_kinds_are_named_not_decoded, reset),
		cmocka_unit_test_setup(a_bad_check_digit_is_a_bad_card, reset),
		cmocka_unit_test_setup(every_result_code, reset),
		cmocka_unit_test_setup(line_faults, reset),
		cmocka_unit_test_setup(a_lying_text_length, reset),
		cmocka_unit_test_setup(command_frames, reset),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
