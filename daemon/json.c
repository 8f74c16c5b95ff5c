/* json.c — building the daemon's replies. */
#include "daemon/json.h"

#include <stdio.h>
#include <string.h>

#include "apdu/atr.h"
#include "daemon/mask.h"

json_t *json_error(enum ss_err e, const char *message)
{
	return json_pack("{s:b,s:s,s:s}", "ok", 0, "error", ss_err_name(e), "message",
			 message ? message : ss_err_text(e));
}

json_t *json_hex(const uint8_t *b, size_t n)
{
	char buf[2 * 64 + 1];
	if (n > 64)
		n = 64;
	hex_encode(b, n, buf);
	return json_string(buf);
}

/* Order of the card's fields in the reply, as in DESIGN.md. */
static const enum ssc_field order[] = {
	SSC_SPEC_VERSION, SSC_CARD_ID,    SSC_REGION,      SSC_CARD_TYPE, SSC_ISSUER,
	SSC_ISSUE_DATE,   SSC_EXPIRY_DATE, SSC_CARD_NUMBER, SSC_SSN,       SSC_NAME,
	SSC_SEX,          SSC_NATION,      SSC_BIRTHPLACE,  SSC_BIRTH_DATE,
};

static void add_error(json_t *errors, const char *field, enum ss_err code, uint16_t sw,
		      const char *message)
{
	json_t *e = json_pack("{s:s,s:s,s:s}", "field", field, "code", ss_err_name(code),
			      "message", message ? message : ss_err_text(code));
	if (e && sw) {
		char s[5];
		snprintf(s, sizeof s, "%04X", sw);
		json_object_set_new(e, "sw", json_string(s));
	}
	json_array_append_new(errors, e);
}

json_t *json_read_result(const char *reader, const char *interface, const uint8_t *atr,
			 size_t atr_len, const struct ssc_card *c, double elapsed_ms)
{
	json_t *o = json_object(), *errors = json_array();
	struct atr a;
	const char *why;

	if (!o || !errors) {
		json_decref(o);
		json_decref(errors);
		return NULL;
	}
	json_object_set_new(o, "ok", json_true());
	json_object_set_new(o, "reader", json_string(reader));
	json_object_set_new(o, "interface", json_string(interface));
	json_object_set_new(o, "atr", json_hex(atr, atr_len));
	if (atr_parse(atr, atr_len, &a, &why) == SS_OK)
		json_object_set_new(o, "atr_historical", json_hex(a.hist, a.hist_len));
	else
		add_error(errors, "atr_historical", SS_E_BAD_RESPONSE, 0, why);
	for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
		if (c->have[order[i]])
			json_object_set_new(o, ssc_field_key(order[i]),
					    json_string(c->value[order[i]]));
	for (size_t i = 0; i < c->n_errors; i++)
		add_error(errors, ssc_field_key(c->errors[i].field), c->errors[i].code,
			  c->errors[i].sw, NULL);
	if (c->needs_auth) { /* card-spec §9: how EF06 was (or was not) opened */
		json_t *au = json_pack("{s:b}", "ok", c->authenticated);
		if (c->auth_err != SS_OK) {
			json_object_set_new(au, "error", json_string(ss_err_name(c->auth_err)));
			json_object_set_new(au, "message", json_string(ss_err_text(c->auth_err)));
		}
		if (c->auth_sw) {
			char sw[5];
			snprintf(sw, sizeof sw, "%04X", c->auth_sw);
			json_object_set_new(au, "sw", json_string(sw));
		}
		if (c->have_challenge)
			json_object_set_new(au, "challenge", json_hex(c->challenge, sizeof c->challenge));
		json_object_set_new(o, "auth", au);
	}
	json_object_set_new(o, "apdus", json_integer(c->apdus));
	json_object_set_new(o, "elapsed_ms", json_real((double)(long)(elapsed_ms * 1000) / 1000));
	if (json_array_size(errors))
		json_object_set_new(o, "errors", errors);
	else
		json_decref(errors);
	return o;
}


static void mask_in_place(json_t *o)
{
	const char *k;
	json_t *v;
	void *tmp;
	char m[256];
	if (json_is_array(o)) {
		size_t i;
		json_array_foreach(o, i, v)
			mask_in_place(v);
		return;
	}
	json_object_foreach_safe(o, tmp, k, v) {
		const char *s = json_string_value(v);
		if (!s) {
			mask_in_place(v);
			continue;
		}
		if (!strcmp(k, "ssn") || !strcmp(k, "id_number"))
			mask_ssn(s, m, sizeof m);
		else if (!strcmp(k, "name") || !strcmp(k, "address") || !strcmp(k, "name_en"))
			mask_name(s, m, sizeof m);
		else if (!strcmp(k, "card_id") || !strcmp(k, "card_number"))
			mask_id(s, m, sizeof m);
		else if (!strcmp(k, "birth_date"))
			snprintf(m, sizeof m, "%.4s-**-**", s); /* the year: an age, not a birthday */
		else
			continue;
		json_object_set_new(o, k, json_string(m));
	}
}

json_t *json_masked_copy(json_t *o)
{
	json_t *c = json_deep_copy(o);
	if (c)
		mask_in_place(c);
	return c;
}
