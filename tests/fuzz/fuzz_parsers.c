/* fuzz_parsers.c — libFuzzer target: arbitrary bytes as an ATR, a
 * SIMPLE-TLV record, and as the card's whole conversation ([len][answer]
 * records) during a full read and a PIN verify. Must never crash, hang or
 * read out of bounds. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "apdu/atr.h"
#include "apdu/ssc.h"
#include "tests/unit/apdu/fake_transport.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
	return 0;
}
