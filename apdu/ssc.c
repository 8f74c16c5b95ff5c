/* ssc.c — the SSSE application of the social security card. */
#include "apdu/ssc.h"

#include <errno.h>
#include <iconv.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apdu/atr.h"

static const uint8_t SSSE_AID[15] = {0x73, 0x78, 0x31, 0x2E, 0x73, 0x68, 0x2E, 0xC9,
				     0xE7, 0xBB, 0xE1, 0xB1, 0xA3, 0xD5, 0xCF};

#define TAG_NAME_EXT 0x4E

static const char *const keys[SSC_FIELD__COUNT] = {
	[SSC_CARD_ID] = "card_id",         [SSC_CARD_TYPE] = "card_type",
	[SSC_SPEC_VERSION] = "spec_version", [SSC_ISSUER] = "issuer",
	[SSC_ISSUE_DATE] = "issue_date",   [SSC_EXPIRY_DATE] = "expiry_date",
	[SSC_CARD_NUMBER] = "card_number", [SSC_SSN] = "ssn",
	[SSC_NAME] = "name",               [SSC_SEX] = "sex",
	[SSC_NATION] = "nation",           [SSC_BIRTHPLACE] = "birthplace",
	[SSC_BIRTH_DATE] = "birth_date",   [SSC_REGION] = "region",
};

const char *ssc_field_key(enum ssc_field f)
{
	return (unsigned)f < SSC_FIELD__COUNT ? keys[f] : "unknown";
}

/* One record to read: which EF (5 or 6), its tag, the value's length on
 * the card (Le = len + 2 for tag and length bytes). */
struct rec {
	enum ssc_field field;
	uint8_t ef, tag, len;
};

static const struct rec recs[] = {
	{SSC_CARD_ID, 5, 0x01, 16},     {SSC_CARD_TYPE, 5, 0x02, 1},
	{SSC_SPEC_VERSION, 5, 0x03, 4}, {SSC_ISSUER, 5, 0x04, 12},
	{SSC_ISSUE_DATE, 5, 0x05, 4},   {SSC_EXPIRY_DATE, 5, 0x06, 4},
	{SSC_CARD_NUMBER, 5, 0x07, 9},  {SSC_SSN, 6, 0x08, 18},
	{SSC_NAME, 6, 0x09, 30},        {SSC_NAME, 6, TAG_NAME_EXT, 20},
	{SSC_SEX, 6, 0x0A, 1},          {SSC_NATION, 6, 0x0B, 1},
	{SSC_BIRTHPLACE, 6, 0x0C, 3},   {SSC_BIRTH_DATE, 6, 0x0D, 4},
};

/* ---- decoders ---------------------------------------------------------- */

bool ssc_bcd_digits(const uint8_t *v, size_t n, bool f_pad, char *out, size_t cap)
{
	size_t k = 0;
	bool pad = false;
	if (cap)
		out[0] = 0;
	if (!v || 2 * n + 1 > cap)
		return false;
	for (size_t i = 0; i < 2 * n; i++) {
		unsigned d = i % 2 ? v[i / 2] & 15u : v[i / 2] >> 4;
		if (d == 0xF && f_pad) {
			pad = true;
			continue;
		}
		if (d > 9 || pad) {
			out[0] = 0;
			return false;
		}
		out[k++] = (char)('0' + d);
	}
	out[k] = 0;
	return k > 0;
}

bool ssc_bcd_date(const uint8_t *v, size_t n, char out[11])
{
	char d[9];
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	out[0] = 0;
	if (n != 4 || !ssc_bcd_digits(v, 4, false, d, sizeof d))
		return false;
	int y = (d[0] - '0') * 1000 + (d[1] - '0') * 100 + (d[2] - '0') * 10 + (d[3] - '0');
	int m = (d[4] - '0') * 10 + (d[5] - '0');
	int day = (d[6] - '0') * 10 + (d[7] - '0');
	if (y < 1000 || m < 1 || m > 12 || day < 1 || day > mdays[m - 1])
		return false;
	if (m == 2 && day == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
		return false;
	snprintf(out, 11, "%.4s-%.2s-%.2s", d, d + 4, d + 6);
	return true;
}

/* Length without trailing padding (00, 20 or FF: none can end a GBK character). */

/* iconv_open costs more than a whole APDU: one converter per thread,
 * opened on first use and closed when the thread ends. */
static pthread_key_t gbk_key;
static pthread_once_t gbk_once = PTHREAD_ONCE_INIT;

static void gbk_close(void *cd)
{
	iconv_close((iconv_t)cd);
}

static void gbk_key_make(void)
{
	pthread_key_create(&gbk_key, gbk_close);
}

static iconv_t gbk_converter(void)
{
	pthread_once(&gbk_once, gbk_key_make);
	iconv_t cd = (iconv_t)pthread_getspecific(gbk_key);
	if (cd)
		return cd;
	cd = iconv_open("UTF-8", "GB18030");
	if (cd != (iconv_t)-1)
		pthread_setspecific(gbk_key, cd);
	return cd;
}

static size_t trimmed(const uint8_t *v, size_t n)
{
	while (n && (v[n - 1] == 0x00 || v[n - 1] == 0x20 || v[n - 1] == 0xFF))
		n--;
	return n;
}

bool ssc_gbk_to_utf8(const uint8_t *v, size_t n, char *out, size_t cap)
{
	char in[128];
	char *ip = in, *op = out;
	size_t il, ol;
	bool ok;
	if (!cap)
		return false;
	out[0] = 0;
	n = trimmed(v, n);
	if (!n || n > sizeof in || cap < 2)
		return false;
	for (size_t i = 0; i < n; i++)
		if (v[i] < 0x20 || v[i] == 0x7F || v[i] == 0x80 || v[i] == 0xFF)
			return false; /* control bytes or bytes GBK never uses */
	memcpy(in, v, n);
	il = n;
	ol = cap - 1;
	iconv_t cd = gbk_converter();
	if (cd == (iconv_t)-1)
		return false;
	iconv(cd, NULL, NULL, NULL, NULL); /* initial shift state */
	ok = iconv(cd, &ip, &il, &op, &ol) != (size_t)-1 && il == 0;
	if (!ok) {
		out[0] = 0;
		return false;
	}
	*op = 0;
	return true;
}

bool ssc_ssn_check(const char *s)
{
	static const int w[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
	static const char chk[] = "10X98765432";
	int sum = 0;
	if (!s || strlen(s) != 18)
		return false;
	for (int i = 0; i < 17; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		sum += (s[i] - '0') * w[i];
	}
	return s[17] == chk[sum % 11];
}

/* Printable ASCII after trimming; true when non-empty and within cap. */
static bool ascii_value(const uint8_t *v, size_t n, char *out, size_t cap)
{
	out[0] = 0;
	n = trimmed(v, n);
	if (!n || n >= cap)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < 0x20 || v[i] > 0x7E)
			return false;
		out[i] = (char)v[i];
	}
	out[n] = 0;
	return true;
}

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* ---- reading ------------------------------------------------------------ */

enum ef_mode { EF_UNTRIED, EF_SFI, EF_CURRENT };

struct reader {
	struct transport *t;
	struct ssc_card *c;
	enum ef_mode mode[2];  /* [0] EF05, [1] EF06 */
	int selected_ef;       /* 0 none, 5, 6 */
	uint8_t select_p1;     /* P1 of SELECT EF that the card accepted (00 or 02) */
	bool sfi_refused;
	uint8_t name_raw[64];  /* GBK bytes of 09 + 4E */
	size_t name_len;
	bool name_part_failed;
};

static void add_error(struct ssc_card *c, enum ssc_field f, enum ss_err e, uint16_t sw)
{
	if (c->n_errors == SSC_ERRORS_MAX)
		return;
	c->errors[c->n_errors++] = (struct ssc_error){.field = f, .code = e, .sw = sw};
}

static bool refuses_sfi(uint16_t sw)
{
	return sw == 0x6A86 || sw == 0x6A82 || sw == 0x6B00 || sw == 0x6A81 || sw == 0x6981 ||
	       sw == 0x6986;
}

static enum ss_err select_ef(struct reader *rd, uint8_t ef, struct apdu_resp *r)
{
	const uint8_t fid[2] = {0xEF, ef};
	struct apdu a = {.cla = 0x00, .ins = 0xA4, .p1 = rd->select_p1, .p2 = 0x00, .data = fid,
			 .lc = 2};
	enum ss_err e = apdu_transmit(rd->t, &a, r);
	if (e == SS_OK && !rd->select_p1 && (r->sw == 0x6A86 || r->sw == 0x6B00)) {
		a.p1 = rd->select_p1 = 0x02; /* some cards want "select EF under current DF" */
		e = apdu_transmit(rd->t, &a, r);
	}
	if (e == SS_OK && r->sw == 0x9000)
		rd->selected_ef = ef;
	return e;
}

/* Read one record by identifier: via SFI first, by the current EF when the
 * card refuses SFI. Returns a transport error or SS_OK with r->sw set. */
static enum ss_err read_record(struct reader *rd, const struct rec *rec, struct apdu_resp *r)
{
	int i = rec->ef == 5 ? 0 : 1;
	unsigned flags = rec->ef == 6 ? APDU_SECRET_RSP : 0;
	struct apdu a = {.cla = 0x00, .ins = 0xB2, .p1 = rec->tag, .le = rec->len + 2u,
			 .flags = flags};
	enum ss_err e;

	if (rd->mode[i] == EF_UNTRIED && rd->sfi_refused)
		rd->mode[i] = EF_CURRENT;
	if (rd->mode[i] != EF_CURRENT) {
		a.p2 = (uint8_t)(rec->ef << 3);
		if ((e = apdu_transmit(rd->t, &a, r)) != SS_OK)
			return e;
		if (rd->mode[i] == EF_SFI || !refuses_sfi(r->sw)) {
			rd->mode[i] = EF_SFI;
			return SS_OK;
		}
		rd->mode[i] = EF_CURRENT;
		rd->sfi_refused = true;
	}
	if (rd->selected_ef != rec->ef) {
		if ((e = select_ef(rd, rec->ef, r)) != SS_OK || r->sw != 0x9000)
			return e;
	}
	a.p2 = 0x00;
	return apdu_transmit(rd->t, &a, r);
}

static void set_value(struct ssc_card *c, enum ssc_field f, bool ok)
{
	if (ok)
		c->have[f] = true;
	else {
		c->value[f][0] = 0;
		add_error(c, f, SS_E_BAD_DATA, 0);
	}
}

static void decode(struct reader *rd, const struct rec *rec, const uint8_t *v, size_t n)
{
	struct ssc_card *c = rd->c;
	enum ssc_field f = rec->field;
	char *out = c->value[f];

	if (n > rec->len) {
		add_error(c, f, SS_E_BAD_DATA, 0);
		return;
	}
	switch (f) {
	case SSC_CARD_ID:
		if (n != 16) {
			set_value(c, f, false);
			return;
		}
		hex_encode(v, n, out);
		c->have[f] = true;
		set_value(c, SSC_REGION,
			  ssc_bcd_digits(v, 3, false, c->value[SSC_REGION], SSC_VALUE_MAX));
		return;
	case SSC_ISSUE_DATE:
	case SSC_EXPIRY_DATE:
	case SSC_BIRTH_DATE:
		set_value(c, f, ssc_bcd_date(v, n, out));
		return;
	case SSC_NATION:
		set_value(c, f, n == 1 && ssc_bcd_digits(v, 1, false, out, SSC_VALUE_MAX));
		return;
	case SSC_BIRTHPLACE:
		set_value(c, f, ssc_bcd_digits(v, n, true, out, SSC_VALUE_MAX));
		return;
	case SSC_NAME: {
		size_t k = trimmed(v, n);
		memcpy(rd->name_raw + rd->name_len, v, k);
		rd->name_len += k;
		return;
	}
	case SSC_SSN: {
		bool ok = ascii_value(v, n, out, SSC_VALUE_MAX);
		if (ok && out[17] == 'x')
			out[17] = 'X';
		size_t l = strlen(out);
		if (ok && l == 15)
			ok = all_digits(out); /* first-generation 15-digit ID */
		else if (ok && l == 18) {
			char head[18];
			memcpy(head, out, 17);
			head[17] = 0;
			ok = all_digits(head) && ((out[17] >= '0' && out[17] <= '9') || out[17] == 'X');
			if (ok && !ssc_ssn_check(out))
				add_error(c, f, SS_E_CHECK_DIGIT, 0); /* value kept: it is what the card says */
		} else
			ok = false;
		set_value(c, f, ok);
		return;
	}
	case SSC_SPEC_VERSION:
		set_value(c, f, ascii_value(v, n, out, SSC_VALUE_MAX) && strlen(out) == 4 &&
					out[1] == '.');
		return;
	case SSC_ISSUER:
	case SSC_SEX:
		set_value(c, f, ascii_value(v, n, out, SSC_VALUE_MAX) && all_digits(out));
		return;
	default:
		set_value(c, f, ascii_value(v, n, out, SSC_VALUE_MAX));
		return;
	}
}

/* Whether the name extension (4E) exists on this card: 2.00 and later,
 * or unknown (a missing record is then tolerated). */
static bool wants_name_ext(const struct ssc_card *c)
{
	return !c->have[SSC_SPEC_VERSION] || strcmp(c->value[SSC_SPEC_VERSION], "2.00") >= 0;
}

static void finish_name(struct reader *rd)
{
	struct ssc_card *c = rd->c;
	if (!rd->name_len)
		return;
	if (!ssc_gbk_to_utf8(rd->name_raw, rd->name_len, c->value[SSC_NAME], SSC_VALUE_MAX))
		add_error(c, SSC_NAME, SS_E_BAD_DATA, 0);
	else
		c->have[SSC_NAME] = true;
}

enum ss_err ssc_select(struct transport *t)
{
	struct apdu_resp r;
	struct apdu a = {.cla = 0x00, .ins = 0xA4, .p1 = 0x04, .p2 = 0x00, .data = SSSE_AID,
			 .lc = sizeof SSSE_AID};
	enum ss_err e = apdu_transmit(t, &a, &r);
	if (e != SS_OK)
		return e;
	if (r.sw == 0x9000)
		return SS_OK;
	e = ss_sw_err(r.sw);
	if (e == SS_E_FILE_NOT_FOUND || e == SS_E_NOT_SUPPORTED || e == SS_E_WRONG_PARAMS ||
	    e == SS_E_CARD)
		return SS_E_NOT_SSC;
	return e;
}

void ssc_card_wipe(struct ssc_card *c)
{
	explicit_bzero(c, sizeof *c);
}

enum ss_err ssc_authenticate(struct transport *t, uint8_t key_id, const uint8_t cg[16], uint16_t *sw)
{
	struct apdu_resp r;
	struct apdu a = {.cla = 0x00, .ins = 0x82, .p1 = 0x00, .p2 = key_id, .data = cg, .lc = 16,
			 .flags = APDU_SECRET_CMD};
	enum ss_err e = apdu_transmit(t, &a, &r);
	*sw = e == SS_OK ? r.sw : 0;
	if (e != SS_OK)
		return e;
	return r.sw == 0x9000 ? SS_OK : r.sw == 0x6983 ? SS_E_AUTH_BLOCKED : SS_E_AUTH;
}

/* GET CHALLENGE, the cryptogram from auth, EXTERNAL AUTHENTICATE. Returns
 * a transport error (the read ends) or SS_OK with the verdict in c. */
static enum ss_err external_auth(struct reader *rd, const struct ssc_auth *auth)
{
	struct ssc_card *c = rd->c;
	struct apdu_resp r;
	struct apdu get = {.cla = 0x00, .ins = 0x84, .p1 = 0x00, .p2 = 0x00, .le = 8,
			   .flags = APDU_SECRET_RSP};
	uint8_t id[16], cg[16];
	enum ss_err e;

	c->auth_err = SS_E_AUTH;
	if (hex_decode(c->value[SSC_CARD_ID], id, sizeof id) != sizeof id)
		return SS_OK; /* no card id: nothing to derive the key from */
	if ((e = apdu_transmit(rd->t, &get, &r)) != SS_OK)
		return e;
	if (r.sw != 0x9000 || r.len != 8) {
		c->auth_sw = r.sw;
		return SS_OK;
	}
	if (auth->defer) {
		memcpy(c->challenge, r.data, 8);
		c->have_challenge = true;
		c->auth_err = SS_OK;
		explicit_bzero(&r, sizeof r);
		return SS_OK;
	}
	c->auth_err = auth->cryptogram(auth->arg, id, r.data, cg);
	explicit_bzero(&r, sizeof r);
	if (c->auth_err == SS_OK) {
		e = ssc_authenticate(rd->t, auth->key_id, cg, &c->auth_sw);
		if (e == SS_OK || e == SS_E_AUTH || e == SS_E_AUTH_BLOCKED) {
			c->auth_err = e;
			c->authenticated = e == SS_OK;
			if (e == SS_OK)
				c->auth_sw = 0;
			e = SS_OK;
		}
	}
	explicit_bzero(cg, sizeof cg);
	return e;
}

/* Spec 3.00 or later: EF06 is closed until external authentication. */
static bool spec_300(const struct ssc_card *c)
{
	return c->have[SSC_SPEC_VERSION] && strcmp(c->value[SSC_SPEC_VERSION], "3.00") >= 0;
}

/* The fields of EF05 and EF06, or of EF06 only. */
static enum ss_err read_fields(struct reader *rd, const struct ssc_auth *auth, bool ef06_only)
{
	struct ssc_card *c = rd->c;
	struct apdu_resp r;
	enum ss_err e = SS_OK;
	bool ef06_refused = false, tried = false;

	for (size_t i = 0; i < sizeof recs / sizeof recs[0]; i++) {
		const struct rec *rec = &recs[i];
		if (ef06_only && rec->ef != 6)
			continue;
		if (rec->tag == TAG_NAME_EXT && (!wants_name_ext(c) || ef06_refused))
			continue;
		if (rec->ef == 6 && auth && !tried && !ef06_only && spec_300(c)) {
			tried = true; /* a 3.00 card: authenticate before EF06, not after a 6982 */
			c->needs_auth = true;
			if ((e = external_auth(rd, auth)) != SS_OK)
				goto out;
			ef06_refused = !c->authenticated;
		}
		if (rec->ef == 6 && ef06_refused) {
			bool auth_said = c->auth_err != SS_OK;
			add_error(c, rec->field, auth_said ? c->auth_err : SS_E_SECURITY,
				  auth_said ? c->auth_sw : 0x6982);
			continue;
		}
		if ((e = read_record(rd, rec, &r)) != SS_OK)
			goto out;
		if (r.sw != 0x9000) {
			enum ss_err fe = ss_sw_err(r.sw);
			if (rec->tag == TAG_NAME_EXT && fe == SS_E_RECORD_NOT_FOUND)
				continue; /* optional record */
			if (rec->ef == 6 && fe == SS_E_SECURITY) {
				c->needs_auth = true;
				if (auth && !tried) { /* 3.00: authenticate, then this record again */
					tried = true;
					if ((e = external_auth(rd, auth)) != SS_OK)
						goto out;
					if (c->authenticated) {
						i--;
						continue;
					}
				}
				ef06_refused = true; /* the rest of EF06 too */
				i--;
				continue;
			}
			add_error(c, rec->field, fe, r.sw);
			continue;
		}
		uint8_t tag;
		const uint8_t *v;
		size_t n;
		if (tlv_simple(r.data, r.len, &tag, &v, &n) != SS_OK || tag != rec->tag) {
			add_error(c, rec->field, SS_E_BAD_RESPONSE, 0);
			continue;
		}
		decode(rd, rec, v, n);
	}
	finish_name(rd);
out:
	explicit_bzero(&r, sizeof r);
	return e;
}

enum ss_err ssc_read_auth(struct transport *t, const struct ssc_auth *auth, struct ssc_card *c)
{
	struct reader rd = {.t = t, .c = c};
	unsigned start = t->apdus;
	enum ss_err e;

	ssc_card_wipe(c);
	e = ssc_select(t);
	if (e == SS_OK)
		e = read_fields(&rd, auth, false);
	explicit_bzero(&rd.name_raw, sizeof rd.name_raw);
	c->apdus = t->apdus - start;
	return e;
}

enum ss_err ssc_read_card_id(struct transport *t, uint8_t id[16])
{
	struct ssc_card *c = calloc(1, sizeof *c);
	struct reader rd = {.t = t, .c = c};
	struct apdu_resp r;
	uint8_t tag;
	const uint8_t *v;
	size_t n;
	enum ss_err e;
	if (!c)
		return SS_E_NOMEM;
	if ((e = ssc_select(t)) == SS_OK && (e = read_record(&rd, &recs[0], &r)) == SS_OK) {
		if (r.sw != 0x9000)
			e = ss_sw_err(r.sw);
		else if (tlv_simple(r.data, r.len, &tag, &v, &n) != SS_OK || tag != recs[0].tag || n != 16)
			e = SS_E_BAD_RESPONSE;
		else
			memcpy(id, v, 16);
	}
	explicit_bzero(&r, sizeof r);
	free(c);
	return e;
}

enum ss_err ssc_read(struct transport *t, struct ssc_card *c)
{
	return ssc_read_auth(t, NULL, c);
}

enum ss_err ssc_read_ef06(struct transport *t, struct ssc_card *c)
{
	struct reader rd = {.t = t, .c = c};
	unsigned start = t->apdus;
	size_t kept = 0;
	/* EF06's earlier refusals go; EF05's errors stay */
	for (size_t i = 0; i < c->n_errors; i++)
		if (c->errors[i].field < SSC_SSN || c->errors[i].field > SSC_BIRTH_DATE)
			c->errors[kept++] = c->errors[i];
	c->n_errors = kept;
	c->needs_auth = true;
	c->authenticated = true;
	c->auth_err = SS_OK;
	c->have_challenge = false;
	enum ss_err e = read_fields(&rd, NULL, true);
	explicit_bzero(&rd.name_raw, sizeof rd.name_raw);
	c->apdus += t->apdus - start;
	return e;
}

/* ---- PIN ---------------------------------------------------------------- */

/* 4–8 ASCII digits → packed BCD, F-padded. Returns bytes written, 0 if bad. */
static size_t pin_pack(const char *pin, uint8_t out[4])
{
	size_t n = pin ? strnlen(pin, 9) : 0;
	if (n < 4 || n > 8)
		return 0;
	memset(out, 0xFF, 4);
	for (size_t i = 0; i < n; i++) {
		if (pin[i] < '0' || pin[i] > '9') {
			explicit_bzero(out, 4);
			return 0;
		}
		unsigned d = (unsigned)(pin[i] - '0');
		out[i / 2] = i % 2 ? (uint8_t)((out[i / 2] & 0xF0) | d) : (uint8_t)(d << 4 | 0x0F);
	}
	return (n + 1) / 2;
}

enum ss_err ssc_pin_result(uint16_t sw, int *tries_left)
{
	if (tries_left)
		*tries_left = -1;
	if (sw == 0x9000)
		return SS_OK;
	if ((sw & 0xFFF0) == 0x63C0) {
		if (tries_left)
			*tries_left = sw & 0x0F;
		return (sw & 0x0F) ? SS_E_PIN_WRONG : SS_E_PIN_BLOCKED;
	}
	return ss_sw_err(sw);
}

static enum ss_err pin_command(struct transport *t, uint8_t cla, uint8_t ins, uint8_t p1,
			       const uint8_t *data, size_t lc, int *tries_left)
{
	struct apdu_resp r;
	struct apdu a = {.cla = cla, .ins = ins, .p1 = p1, .data = data, .lc = lc,
			 .flags = APDU_SECRET_CMD};
	enum ss_err e = apdu_transmit(t, &a, &r);
	if (tries_left)
		*tries_left = -1;
	return e != SS_OK ? e : ssc_pin_result(r.sw, tries_left);
}

enum ss_err ssc_verify_pin(struct transport *t, const char *pin, int *tries_left)
{
	uint8_t b[4];
	size_t n = pin_pack(pin, b);
	enum ss_err e = n ? pin_command(t, 0x00, 0x20, 0x00, b, n, tries_left) : SS_E_PIN_FORMAT;
	explicit_bzero(b, sizeof b);
	return e;
}

enum ss_err ssc_pin_tries(struct transport *t, int *tries_left)
{
	struct apdu_resp r;
	struct apdu a = {.cla = 0x00, .ins = 0x20};
	enum ss_err e = apdu_transmit(t, &a, &r);
	*tries_left = -1;
	if (e != SS_OK)
		return e;
	if (r.sw == 0x6983 || r.sw == 0x63C0)
		return SS_E_PIN_BLOCKED;
	if ((r.sw & 0xFFF0) == 0x63C0)
		*tries_left = r.sw & 0x0F;
	return SS_OK;
}

enum ss_err ssc_change_pin(struct transport *t, const char *old_pin, const char *new_pin,
			   int *tries_left)
{
	uint8_t o[4], nw[4], data[9];
	size_t no = pin_pack(old_pin, o), nn = pin_pack(new_pin, nw);
	enum ss_err e = SS_E_PIN_FORMAT;
	if (no && nn) {
		memcpy(data, o, no);
		data[no] = 0xFF;
		memcpy(data + no + 1, nw, nn);
		e = pin_command(t, 0x80, 0x5E, 0x01, data, no + 1 + nn, tries_left);
	}
	explicit_bzero(o, sizeof o);
	explicit_bzero(nw, sizeof nw);
	explicit_bzero(data, sizeof data);
	return e;
}

/* ---- card-spec §10: unblocking and reloading the PIN --------------------- */

size_t ssc_pinkey_command(bool reload, const char *new_pin, uint8_t m[SSC_PINKEY_CMD_MAX])
{
	uint8_t b[4];
	size_t n = 0;
	if (reload && !(n = pin_pack(new_pin, b)))
		return 0;
	m[0] = 0x84;
	m[1] = reload ? 0x5E : 0x24;
	m[2] = m[3] = 0x00;
	m[4] = (uint8_t)(n + 4); /* Lc counts the MAC that will follow */
	memcpy(m + 5, b, n);
	explicit_bzero(b, sizeof b);
	return 5 + n;
}

size_t ssc_pinkey_mac_input(const uint8_t r[8], const uint8_t *m, size_t n, uint8_t out[SSC_PINKEY_MAC_IN_MAX])
{
	size_t padded = (n / 16 + 1) * 16; /* ISO/IEC 9797-1 method 2: always a 80 */
	if (16 + padded > SSC_PINKEY_MAC_IN_MAX)
		return 0;
	memcpy(out, r, 8);
	memset(out + 8, 0, 8);
	memcpy(out + 16, m, n);
	out[16 + n] = 0x80;
	memset(out + 16 + n + 1, 0, padded - n - 1);
	return 16 + padded;
}

enum ss_err ssc_pinkey_result(uint16_t sw)
{
	switch (sw) {
	case 0x9000: return SS_OK;
	case 0x6983: return SS_E_PINKEY_BLOCKED;
	case 0x6A81: return SS_E_PINKEY_SPENT;
	case 0x6988: return SS_E_PINKEY_MAC;
	default: return ss_sw_err(sw);
	}
}

enum ss_err ssc_pinkey_begin(struct transport *t, bool reload, const char *new_pin, uint8_t id[16],
			     uint8_t r8[8], uint8_t m[SSC_PINKEY_CMD_MAX], size_t *m_len, uint16_t *sw)
{
	struct apdu_resp r;
	struct apdu get = {.cla = 0x00, .ins = 0x84, .p1 = 0x00, .p2 = 0x00, .le = 8,
			   .flags = APDU_SECRET_RSP};
	enum ss_err e;
	*sw = 0;
	*m_len = 0;
	if (!(*m_len = ssc_pinkey_command(reload, new_pin, m))) {
		e = SS_E_PIN_FORMAT; /* before the card sees anything */
		goto out;
	}
	/* the card id the key is derived from (the application selected on
	 * the way): two APDUs, not a whole read */
	if ((e = ssc_read_card_id(t, id)) != SS_OK)
		goto out;
	if ((e = apdu_transmit(t, &get, &r)) != SS_OK)
		goto out;
	if (r.sw != 0x9000 || r.len != 8) {
		*sw = r.sw;
		e = ss_sw_err(r.sw);
		goto out;
	}
	memcpy(r8, r.data, 8);
out:
	if (e != SS_OK) {
		explicit_bzero(m, SSC_PINKEY_CMD_MAX);
		*m_len = 0;
	}
	explicit_bzero(&r, sizeof r);
	return e;
}

enum ss_err ssc_pinkey_finish(struct transport *t, const uint8_t *m, size_t n, const uint8_t mac[4],
			      uint16_t *sw)
{
	uint8_t data[16];
	struct apdu_resp r;
	enum ss_err e;
	*sw = 0;
	if (n < 5 || n > SSC_PINKEY_CMD_MAX)
		return SS_E_INVALID;
	memcpy(data, m + 5, n - 5);
	memcpy(data + n - 5, mac, 4);
	struct apdu cmd = {.cla = m[0], .ins = m[1], .p1 = m[2], .p2 = m[3], .data = data,
			   .lc = n - 5 + 4, .flags = APDU_SECRET_CMD};
	if ((e = apdu_transmit(t, &cmd, &r)) == SS_OK) {
		*sw = r.sw;
		e = ssc_pinkey_result(r.sw);
	}
	explicit_bzero(data, sizeof data);
	explicit_bzero(&r, sizeof r);
	return e;
}

enum ss_err ssc_pinkey(struct transport *t, const struct ssc_pinkey_mac *k, bool reload, const char *new_pin,
		       uint16_t *sw)
{
	uint8_t id[16], r8[8], m[SSC_PINKEY_CMD_MAX], in[SSC_PINKEY_MAC_IN_MAX], mac[4];
	size_t n;
	enum ss_err e = ssc_pinkey_begin(t, reload, new_pin, id, r8, m, &n, sw);
	if (e != SS_OK)
		return e;
	size_t k_len = ssc_pinkey_mac_input(r8, m, n, in);
	if ((e = k->mac(k->arg, id, in, k_len, mac)) == SS_OK) /* else the card saw only a challenge */
		e = ssc_pinkey_finish(t, m, n, mac, sw);
	explicit_bzero(m, sizeof m);
	explicit_bzero(in, sizeof in);
	explicit_bzero(mac, sizeof mac);
	return e;
}
