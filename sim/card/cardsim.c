/* cardsim.c — the emulated card: profiles and APDU answers (cardsim.h). */
#include "sim/card/cardsim.h"

#include <errno.h>
#include <iconv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/card/sm4.h"

static void die(const char *file, int line, const char *msg)
{
	fprintf(stderr, "sscard-sim: %s:%d: %s\n", file, line, msg);
	exit(2);
}

/* ---- profile ------------------------------------------------------------ */

static bool yesno(const char *v, bool *out)
{
	if (!strcmp(v, "yes")) {
		*out = true;
		return true;
	}
	if (!strcmp(v, "no")) {
		*out = false;
		return true;
	}
	return false;
}

static size_t gbk_encode(const char *utf8, uint8_t *out, size_t cap)
{
	char *ip = (char *)utf8, *op = (char *)out;
	size_t il = strlen(utf8), ol = cap;
	iconv_t cd = iconv_open("GB18030", "UTF-8");
	if (cd == (iconv_t)-1)
		return (size_t)-1;
	size_t r = iconv(cd, &ip, &il, &op, &ol);
	iconv_close(cd);
	return r == (size_t)-1 || il ? (size_t)-1 : cap - ol;
}

/* "ef05 TAG VALUE [pad:N]"; VALUE is hex:…, ascii:…, gbk:… or raw:… */
static void parse_record(struct profile *p, const char *file, int line, int ef, char *rest)
{
	struct record *r;
	char *tag_s = strtok(rest, " \t"), *val = strtok(NULL, " \t"), *pad = strtok(NULL, " \t");
	uint8_t v[256];
	size_t n;
	long want = -1;

	if (p->n_recs == MAX_RECS)
		die(file, line, "too many records");
	if (!tag_s || !val)
		die(file, line, "record needs a tag and a value");
	r = &p->recs[p->n_recs++];
	r->ef = (uint8_t)ef;
	if (!strncmp(val, "raw:", 4)) {
		long k = hex_decode(val + 4, r->bytes, sizeof r->bytes);
		if (k < 0)
			die(file, line, "bad raw hex");
		r->len = (size_t)k;
		return;
	}
	if (!strncmp(val, "hex:", 4)) {
		long k = hex_decode(val + 4, v, sizeof v);
		if (k < 0)
			die(file, line, "bad hex value");
		n = (size_t)k;
	} else if (!strncmp(val, "ascii:", 6)) {
		n = strlen(val + 6);
		if (n > sizeof v)
			die(file, line, "value too long");
		memcpy(v, val + 6, n);
	} else if (!strncmp(val, "gbk:", 4)) {
		n = gbk_encode(val + 4, v, sizeof v);
		if (n == (size_t)-1)
			die(file, line, "value cannot be written in GBK");
	} else
		die(file, line, "value must start with hex:, ascii:, gbk: or raw:");
	if (pad) {
		if (strncmp(pad, "pad:", 4))
			die(file, line, "expected pad:N");
		want = strtol(pad + 4, NULL, 10);
		if (want < (long)n || want > 250)
			die(file, line, "pad shorter than the value");
		memset(v + n, 0, (size_t)want - n);
		n = (size_t)want;
	}
	r->bytes[0] = (uint8_t)strtoul(tag_s, NULL, 16);
	r->bytes[1] = (uint8_t)n;
	memcpy(r->bytes + 2, v, n);
	r->len = n + 2;
}

void cardsim_load(struct profile *p, const char *file)
{
	FILE *f = fopen(file, "r");
	char buf[512];
	int line = 0;
	if (!f) {
		fprintf(stderr, "sscard-vcard: %s: %s\n", file, strerror(errno));
		exit(2);
	}
	*p = (struct profile){.ssc = true, .sfi = true, .select_p1 = 0xFF, .pin = "123456",
			      .pin_max = 6, .pin_left = -1, .ext_max = 3, .key_usage = 0x45,
			      .key_index = 0x0A, .pin_key_max = 3, .pin_ops_left = 10,
			      .pin_key_usage = 0x46, .pin_key_index = 0x0B};
	while (fgets(buf, sizeof buf, f)) {
		char *s = buf, *k, *v;
		line++;
		s[strcspn(s, "\r\n")] = 0;
		k = strtok(s, " \t");
		if (!k || k[0] == '#')
			continue; /* blank line or comment (comments take whole lines) */
		v = strtok(NULL, "");
		while (v && (*v == ' ' || *v == '\t'))
			v++;
		if (!v || !*v)
			die(file, line, "key without a value");
		bool ok = true;
		if (!strcmp(k, "ef05") || !strcmp(k, "ef06"))
			parse_record(p, file, line, k[3] - '0', v);
		else if (!strcmp(k, "atr")) {
			long n = hex_decode(v, p->atr, sizeof p->atr);
			ok = n >= 2;
			p->atr_len = (size_t)n;
		} else if (!strcmp(k, "ssc"))
			ok = yesno(v, &p->ssc);
		else if (!strcmp(k, "sfi"))
			ok = yesno(v, &p->sfi);
		else if (!strcmp(k, "t0"))
			ok = yesno(v, &p->t0);
		else if (!strcmp(k, "fci"))
			ok = yesno(v, &p->fci);
		else if (!strcmp(k, "ef06_auth"))
			ok = yesno(v, &p->ef06_auth);
		else if (!strcmp(k, "le"))
			ok = (p->le_lax = !strcmp(v, "lax")) || !strcmp(v, "strict");
		else if (!strcmp(k, "select_p1"))
			p->select_p1 = !strcmp(v, "any") ? 0xFF : (uint8_t)strtoul(v, NULL, 16);
		else if (!strcmp(k, "chunk"))
			p->chunk = strtoul(v, NULL, 10);
		else if (!strcmp(k, "pin"))
			ok = strlen(v) >= 4 && strlen(v) <= 8 &&
			     snprintf(p->pin, sizeof p->pin, "%s", v) > 0;
		else if (!strcmp(k, "pin_tries"))
			ok = (p->pin_max = (int)strtol(v, NULL, 10)) > 0 && p->pin_max < 16;
		else if (!strcmp(k, "pin_left"))
			ok = (p->pin_left = (int)strtol(v, NULL, 10)) >= 0 && p->pin_left < 16;
		else if (!strcmp(k, "ext_key"))
			ok = (p->has_ext_key = !strncmp(v, "hex:", 4) &&
					       hex_decode(v + 4, p->ext_key, sizeof p->ext_key) == 16);
		else if (!strcmp(k, "ext_tries"))
			ok = (p->ext_max = (int)strtol(v, NULL, 10)) > 0 && p->ext_max < 16;
		else if (!strcmp(k, "pin_key"))
			ok = (p->has_pin_key = !strncmp(v, "hex:", 4) &&
					       hex_decode(v + 4, p->pin_key, sizeof p->pin_key) == 16);
		else if (!strcmp(k, "pin_key_tries"))
			ok = (p->pin_key_max = (int)strtol(v, NULL, 10)) > 0 && p->pin_key_max < 16;
		else if (!strcmp(k, "pin_ops_left"))
			ok = (p->pin_ops_left = (int)strtol(v, NULL, 10)) >= 0 && p->pin_ops_left < 256;
		else if (!strcmp(k, "pin_master_key"))
			ok = (p->has_pin_master = !strncmp(v, "hex:", 4) &&
						  hex_decode(v + 4, p->pin_master_key, sizeof p->pin_master_key) == 16);
		else if (!strcmp(k, "pin_key_usage"))
			p->pin_key_usage = (uint8_t)strtoul(v, NULL, 16);
		else if (!strcmp(k, "pin_key_index"))
			p->pin_key_index = (uint8_t)strtoul(v, NULL, 16);
		else if (!strcmp(k, "psam"))
			ok = yesno(v, &p->psam);
		else if (!strcmp(k, "terminal"))
			ok = strlen(v) == 12 && strspn(v, "0123456789") == 12 &&
			     snprintf(p->terminal, sizeof p->terminal, "%s", v) > 0;
		else if (!strcmp(k, "master_key"))
			ok = !strncmp(v, "hex:", 4) &&
			     hex_decode(v + 4, p->master_key, sizeof p->master_key) == 16;
		else if (!strcmp(k, "key_usage"))
			p->key_usage = (uint8_t)strtoul(v, NULL, 16);
		else if (!strcmp(k, "key_index"))
			p->key_index = (uint8_t)strtoul(v, NULL, 16);
		else if (!strcmp(k, "name"))
			;
		else
			die(file, line, "unknown key");
		if (!ok)
			die(file, line, "bad value");
	}
	fclose(f);
	if (!p->atr_len)
		die(file, line, "profile has no atr");
	if (p->psam && !p->terminal[0])
		die(file, line, "a psam profile needs its terminal number");
	p->pin_tries = p->pin_left >= 0 ? p->pin_left : p->pin_max;
	p->ext_tries = p->ext_max;
	p->pin_key_tries = p->pin_key_max;
}

/* ---- card logic --------------------------------------------------------- */

static const uint8_t SSSE_AID[15] = {0x73, 0x78, 0x31, 0x2E, 0x73, 0x68, 0x2E, 0xC9,
				     0xE7, 0xBB, 0xE1, 0xB1, 0xA3, 0xD5, 0xCF};

size_t cardsim_sw(uint8_t *out, size_t n, uint16_t s)
{
	out[n] = (uint8_t)(s >> 8);
	out[n + 1] = (uint8_t)s;
	return n + 2;
}

/* Answer data: directly, or under T=0 through 61xx + GET RESPONSE. */
size_t cardsim_data(struct profile *p, struct card *c, const uint8_t *d, size_t n, unsigned le,
		    bool force_t0, uint8_t *out)
{
	if (p->t0 || force_t0) {
		memcpy(c->pending, d, n);
		c->pending_len = n;
		c->pending_off = 0;
		size_t avail = p->chunk && p->chunk < n ? p->chunk : n;
		return cardsim_sw(out, 0, (uint16_t)(0x6100 | (avail & 0xFF)));
	}
	if (le != n && !(p->le_lax && (le == 256 || le > n)))
		return cardsim_sw(out, 0, (uint16_t)(0x6C00 | (n & 0xFF)));
	memcpy(out, d, n);
	return cardsim_sw(out, n, 0x9000);
}

static bool pin_unpack(const uint8_t *d, size_t n, char *out)
{
	size_t k = 0;
	for (size_t i = 0; i < 2 * n; i++) {
		unsigned v = i % 2 ? d[i / 2] & 15u : d[i / 2] >> 4;
		if (v == 0xF)
			break;
		if (v > 9 || k == 8)
			return false;
		out[k++] = (char)('0' + v);
	}
	out[k] = 0;
	return k >= 4;
}

static uint16_t check_pin(struct profile *p, struct card *c, const uint8_t *d, size_t n)
{
	char pin[9];
	if (p->pin_tries <= 0)
		return 0x6983;
	bool ok = pin_unpack(d, n, pin) && !strcmp(pin, p->pin);
	explicit_bzero(pin, sizeof pin);
	if (!ok) {
		p->pin_tries--;
		return p->pin_tries ? (uint16_t)(0x63C0 | p->pin_tries) : 0x6983;
	}
	p->pin_tries = p->pin_max;
	c->verified = true;
	return 0x9000;
}

/* C = SM4(K_card, R ‖ 80 00 … 00); each challenge serves one attempt. */
static uint16_t external_auth(struct profile *p, struct card *c, uint8_t p1, uint8_t p2,
			      const uint8_t *data, size_t lc)
{
	uint8_t block[16] = {0}, want[16];
	if (!p->has_ext_key)
		return 0x6300;
	if (p1 != 0x00 || p2 != 0x0A || lc != 16)
		return 0x6A86;
	if (!c->app_selected || !c->challenged)
		return 0x6985;
	c->challenged = false;
	if (p->ext_tries <= 0)
		return 0x6983;
	memcpy(block, c->challenge, 8);
	block[8] = 0x80;
	if (!sm4_block(p->ext_key, block, want))
		return 0x6F00;
	if (memcmp(want, data, 16)) {
		p->ext_tries--;
		return p->ext_tries ? (uint16_t)(0x63C0 | p->ext_tries) : 0x6983;
	}
	p->ext_tries = p->ext_max;
	c->authenticated = true;
	return 0x9000;
}

/* card-spec §10: UNBLOCK PIN (84 24) and RELOAD PIN (84 5E) with a MAC
 * over the command, bound to the challenge; each challenge serves one. */
static uint16_t pin_key_command(struct profile *p, struct card *c, const uint8_t *cmd, size_t len)
{
	uint8_t ins = cmd[1], lc = len > 4 ? cmd[4] : 0, m[48], mac[16];
	size_t pin_bytes = ins == 0x5E ? (size_t)lc - 4 : 0;
	char np[9] = "";
	if (!p->has_pin_key)
		return 0x6D00;
	if (!c->app_selected)
		return 0x6A82;
	if (cmd[2] || cmd[3])
		return 0x6A86;
	if (len < 9 || len != 5 + (size_t)lc || lc < 4 || (ins == 0x24 && lc != 4) ||
	    (ins == 0x5E && (pin_bytes < 2 || pin_bytes > 4)))
		return 0x6700;
	if (!c->challenged)
		return 0x6985;
	c->challenged = false;
	if (p->pin_key_tries <= 0)
		return 0x6983;
	if (p->pin_ops_left <= 0)
		return 0x6A81;
	/* M = header + data without the MAC, padded (method 2); IV = R ‖ 00×8 */
	size_t n = len - 4, padded = (n / 16 + 1) * 16;
	memset(m, 0, sizeof m);
	memcpy(m, cmd, n);
	m[n] = 0x80;
	uint8_t iv[16] = {0};
	memcpy(iv, c->challenge, 8);
	if (!sm4_cbc_mac(p->pin_key, iv, m, padded, mac))
		return 0x6F00;
	if (memcmp(mac, cmd + len - 4, 4)) {
		p->pin_key_tries--;
		return p->pin_key_tries ? 0x6988 : 0x6983;
	}
	if (ins == 0x5E && !pin_unpack(cmd + 5, pin_bytes, np))
		return 0x6A80;
	p->pin_key_tries = p->pin_key_max;
	p->pin_ops_left--;
	if (ins == 0x5E)
		snprintf(p->pin, sizeof p->pin, "%s", np);
	explicit_bzero(np, sizeof np);
	p->pin_tries = p->pin_max;
	return 0x9000;
}

size_t cardsim_process(struct profile *p, struct card *c, const uint8_t *cmd, size_t len,
		      uint8_t *out)
{
	uint8_t cla, ins, p1, p2;
	size_t lc = 0;
	unsigned le = 0;
	const uint8_t *data = NULL;

	if (len < 4)
		return cardsim_sw(out, 0, 0x6700);
	cla = cmd[0], ins = cmd[1], p1 = cmd[2], p2 = cmd[3];
	if (len == 5)
		le = cmd[4] ? cmd[4] : 256;
	else if (len > 5) {
		lc = cmd[4];
		data = cmd + 5;
		if (len == 5 + lc + 1)
			le = cmd[len - 1] ? cmd[len - 1] : 256;
		else if (len != 5 + lc)
			return cardsim_sw(out, 0, 0x6700);
	}
	if (ins != 0xC0)
		c->pending_len = 0;
	if (cla == 0x84 && !p->psam && (ins == 0x24 || ins == 0x5E))
		return cardsim_sw(out, 0, pin_key_command(p, c, cmd, len));
	if (cla != 0x00 && cla != 0x80)
		return cardsim_sw(out, 0, 0x6E00);
	if (p->psam && ins != 0xC0) /* GET RESPONSE is the same for both */
		return psamsim_process(p, c, ins, p1, p2, data, lc, le, out);

	switch (ins) {
	case 0xA4: /* SELECT */
		if (p1 == 0x04) {
			if (!p->ssc || lc != sizeof SSSE_AID || memcmp(data, SSSE_AID, lc))
				return cardsim_sw(out, 0, 0x6A82);
			c->app_selected = true;
			c->cur_ef = 0;
			c->verified = false;
			c->challenged = c->authenticated = false;
			if (p->fci) {
				uint8_t fci[19] = {0x6F, 0x11, 0x84, 0x0F};
				memcpy(fci + 4, SSSE_AID, 15);
				return cardsim_data(p, c, fci, sizeof fci, le, true, out);
			}
			return cardsim_sw(out, 0, 0x9000);
		}
		if ((p1 == 0x00 || p1 == 0x02) && lc == 2) {
			if (p->select_p1 != 0xFF && p1 != p->select_p1)
				return cardsim_sw(out, 0, 0x6A86);
			if (!c->app_selected || data[0] != 0xEF || (data[1] != 5 && data[1] != 6))
				return cardsim_sw(out, 0, 0x6A82);
			c->cur_ef = data[1];
			return cardsim_sw(out, 0, 0x9000);
		}
		return cardsim_sw(out, 0, 0x6A86);
	case 0xB2: { /* READ RECORD */
		int sfi = p2 >> 3, mode = p2 & 7, ef;
		if (!c->app_selected)
			return cardsim_sw(out, 0, 0x6A82);
		if (sfi && !p->sfi)
			return cardsim_sw(out, 0, 0x6A86);
		ef = sfi ? sfi : c->cur_ef;
		if (!ef)
			return cardsim_sw(out, 0, 0x6986);
		if (ef != 5 && ef != 6)
			return cardsim_sw(out, 0, 0x6A82);
		if (mode != 0 && mode != 4)
			return cardsim_sw(out, 0, 0x6A86);
		if (ef == 6 && p->ef06_auth && !c->authenticated)
			return cardsim_sw(out, 0, 0x6982);
		unsigned nr = 0;
		for (size_t i = 0; i < p->n_recs; i++) {
			struct record *r = &p->recs[i];
			if (r->ef != ef)
				continue;
			nr++;
			if ((mode == 0 && r->bytes[0] == p1) || (mode == 4 && nr == p1))
				return cardsim_data(p, c, r->bytes, r->len, le, false, out);
		}
		return cardsim_sw(out, 0, 0x6A83);
	}
	case 0xC0: { /* GET RESPONSE */
		size_t left = c->pending_len - c->pending_off;
		if (!left)
			return cardsim_sw(out, 0, 0x6F00);
		size_t n = p->chunk && p->chunk < left ? p->chunk : left;
		if (le != n)
			return cardsim_sw(out, 0, (uint16_t)(0x6C00 | (n & 0xFF)));
		memcpy(out, c->pending + c->pending_off, n);
		c->pending_off += n;
		left -= n;
		if (!left) {
			c->pending_len = 0;
			return cardsim_sw(out, n, 0x9000);
		}
		size_t next = p->chunk && p->chunk < left ? p->chunk : left;
		return cardsim_sw(out, n, (uint16_t)(0x6100 | (next & 0xFF)));
	}
	case 0x20: /* VERIFY */
		if (!c->app_selected)
			return cardsim_sw(out, 0, 0x6A82);
		if (!lc)
			return cardsim_sw(out, 0, p->pin_tries ? (uint16_t)(0x63C0 | p->pin_tries) : 0x6983);
		return cardsim_sw(out, 0, check_pin(p, c, data, lc));
	case 0x5E: { /* CHANGE PIN: old FF new */
		const uint8_t *sep = lc ? memchr(data, 0xFF, lc) : NULL;
		char np[9];
		if (cla != 0x80 || p1 != 0x01)
			return cardsim_sw(out, 0, 0x6A86);
		if (!c->app_selected)
			return cardsim_sw(out, 0, 0x6A82);
		if (!sep || !pin_unpack(sep + 1, lc - (size_t)(sep + 1 - data), np))
			return cardsim_sw(out, 0, 0x6A80);
		uint16_t s = check_pin(p, c, data, (size_t)(sep - data));
		if (s == 0x9000)
			snprintf(p->pin, sizeof p->pin, "%s", np);
		explicit_bzero(np, sizeof np);
		return cardsim_sw(out, 0, s);
	}
	case 0x84: /* GET CHALLENGE: 8 bytes, or 256 (Le 00) — the longest short answer */
		if (le != 8 && le != 256)
			return cardsim_sw(out, 0, 0x6C08);
		for (unsigned i = 0; i < le; i++)
			out[i] = (uint8_t)rand();
		c->challenged = le == 8;
		memcpy(c->challenge, out, sizeof c->challenge);
		return cardsim_sw(out, le, 0x9000);
	case 0x82: /* EXTERNAL AUTHENTICATE with K_card (card-spec §9) */
		return cardsim_sw(out, 0, external_auth(p, c, p1, p2, data, lc));
	default:
		return cardsim_sw(out, 0, 0x6D00);
	}
}

