/* fuzz_parsers.c — libFuzzer target: arbitrary bytes as an ATR, a
 * SIMPLE-TLV record, and as the card's whole conversation ([len][answer]
 * records) during a full read, a 3.00 read with external authentication,
 * a PIN verify, an unblock or reload of the PIN (§10), and as a PSAM's
 * answers (card-spec §9, §10). Must never crash,
 * hang or read out of bounds. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "apdu/atr.h"
#include "apdu/sam.h"
#include "drivers/idcard.h"
#include "apdu/ssc.h"
#include "tests/unit/apdu/fake_transport.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static enum ss_err any_cryptogram(void *arg, const uint8_t id[16], const uint8_t r[8], uint8_t out[16])
{
	memset(out, id[0] ^ r[0], 16);
	return *(const int *)arg ? SS_E_SAM : SS_OK;
}

/* card-spec §10: a MAC from nowhere, or none */
static enum ss_err any_mac(void *arg, const uint8_t id[16], const uint8_t *in, size_t n, uint8_t mac[4])
{
	memset(mac, id[0] ^ (n ? in[n - 1] : 0), 4);
	return *(const int *)arg ? SS_E_SAM : SS_OK;
}

/* The ID card reader's line answering every command with the input. */
struct idline {
	const uint8_t *d;
	size_t n, pos;
};

static int id_write(void *ctx, const uint8_t *b, size_t n)
{
	(void)ctx, (void)b, (void)n;
	return 0;
}

static int id_read(void *ctx, uint8_t *b, size_t cap, int timeout_ms)
{
	struct idline *l = ctx;
	size_t k = l->n - l->pos;
	if (!timeout_ms || !k) /* the drain before a command gets nothing */
		return 0;
	if (k > cap)
		k = cap;
	if (k > 61)
		k = 61;
	memcpy(b, l->d + l->pos, k);
	l->pos += k;
	return (int)k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct atr a;
	const char *why;
	uint8_t tag;
	const uint8_t *v;
	size_t n;
	char out[SSC_VALUE_MAX];
	struct fake f;
	struct ssc_card c;
	int left;

	atr_parse(data, size, &a, &why);
	tlv_simple(data, size, &tag, &v, &n);
	ssc_gbk_to_utf8(data, size, out, sizeof out);
	ssc_bcd_digits(data, size < 40 ? size : 40, true, out, sizeof out);
	ssc_bcd_date(data, size, out);

	fake_init(&f);
	f.raw = data;
	f.raw_len = size;
	ssc_read(&f.t, &c);
	fake_init(&f);
	f.raw = data;
	f.raw_len = size;
	ssc_verify_pin(&f.t, "123456", &left);

	int down = size & 1;
	struct ssc_auth auth = {.cryptogram = any_cryptogram, .arg = &down, .key_id = 0x0A,
				.defer = size % 3 == 0};
	fake_init(&f);
	f.raw = data;
	f.raw_len = size;
	ssc_read_auth(&f.t, &auth, &c);

	char term[13];
	uint8_t cg[16];
	uint16_t sw;
	static const uint8_t id[16] = {0x11}, r[8] = {0x22};
	fake_init(&f);
	f.raw = data;
	f.raw_len = size;
	if (sam_open(&f.t, term, &sw) == SS_OK)
		sam_cryptogram(&f.t, 0x45, 0x0A, id, r, cg, &sw);

	/* §10: the card's conversation during an unblock or a reload, and the
	 * PSAM's answers to its derive and MAC */
	struct ssc_pinkey_mac k = {.mac = any_mac, .arg = &down};
	fake_init(&f);
	f.raw = data;
	f.raw_len = size;
	ssc_pinkey(&f.t, &k, size & 2, "864209", &sw);
	uint8_t in[SSC_PINKEY_MAC_IN_MAX], m[SSC_PINKEY_CMD_MAX], mac[4];
	size_t mn = ssc_pinkey_command(true, "12345678", m);
	size_t in_len = ssc_pinkey_mac_input(r, m, mn, in);
	fake_init(&f);
	f.raw = data;
	f.raw_len = size;
	sam_pin_mac(&f.t, 0x46, 0x0B, id, in, in_len, mac, &sw);

	struct idline il = {.d = data, .n = size};
	struct idc_line line = {.write = id_write, .read = id_read, .ctx = &il};
	struct idc_person person;
	char err[200];
	idc_read(&line, &person, err, sizeof err);
	if (size >= IDC_TEXT_LEN)
		idc_decode_text(data, &person, err, sizeof err);
	return 0;
}
