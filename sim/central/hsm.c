/* hsm.c — the reference central's HSM (hsm.h): K_card = SM4(MK, card id),
 * C = SM4(K_card, R ‖ 80 00 …). */
#include "sim/central/hsm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apdu/apdu.h"
#include "sim/card/sm4.h"

static json_t *refuse(int *status, int code, const char *err, const char *msg)
{
	*status = code;
	return json_pack("{s:s,s:s}", "error", err, "message", msg);
}

/* What both calls take: the master key from env, the card id and the
 * challenge from the body (into r[0..7]); NULL, or the refusal. */
static json_t *common(json_t *body, const char *env, const char *what, uint8_t mk[16], uint8_t id[16],
		      uint8_t r[8], int *status)
{
	const char *mk_hex = getenv(env);
	const char *id_hex = json_string_value(json_object_get(body, "card_id"));
	const char *r_hex = json_string_value(json_object_get(body, "challenge"));
	char msg[120];
	if (!mk_hex || hex_decode(mk_hex, mk, 16) != 16) {
		snprintf(msg, sizeof msg, "This central has no %s (%s).", what, env);
		return refuse(status, 503, "no_hsm", msg);
	}
	if (!id_hex || strlen(id_hex) != 32 || hex_decode(id_hex, id, 16) != 16)
		return refuse(status, 400, "bad_card_id", "card_id must be 32 hex digits.");
	if (!r_hex || strlen(r_hex) != 16 || hex_decode(r_hex, r, 8) != 8)
		return refuse(status, 400, "bad_challenge", "challenge must be 16 hex digits.");
	return NULL;
}

json_t *hsm_external(json_t *body, int *status)
{
	const char *fault = getenv("SSCARD_CENTRAL_HSM_FAULT");
	uint8_t mk[16], id[16], block[16] = {0}, k[16], c[16];
	char out[33];
	json_t *j = common(body, "SSCARD_CENTRAL_HSM_KEY", "HSM key", mk, id, block, status);
	if (j)
		return j;
	block[8] = 0x80;
	if (!sm4_block(mk, id, k) || !sm4_block(k, block, c))
		return refuse(status, 500, "hsm_failed", "The HSM could not compute the cryptogram.");
	if (fault && !strcmp(fault, "wrong"))
		c[0] ^= 0x01;
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02X", c[i]);
	*status = 200;
	j = fault && !strcmp(fault, "garbage") ? json_pack("{s:s}", "cryptogram", "not a cryptogram")
					      : json_pack("{s:s}", "cryptogram", out);
	explicit_bzero(mk, sizeof mk);
	explicit_bzero(k, sizeof k);
	explicit_bzero(c, sizeof c);
	explicit_bzero(out, sizeof out);
	return j;
}

json_t *hsm_pin(json_t *body, int *status, const char **op)
{
	const char *fault = getenv("SSCARD_CENTRAL_HSM_FAULT");
	const char *cmd_hex = json_string_value(json_object_get(body, "command"));
	uint8_t mk[16], id[16], k[16], iv[16] = {0}, m[32] = {0}, mac[16];
	char out[9];
	*op = NULL;
	json_t *refused = common(body, "SSCARD_CENTRAL_HSM_PIN_KEY", "PIN master key", mk, id, iv, status);
	if (refused)
		return refused;
	long n = cmd_hex && strlen(cmd_hex) <= 2 * 9 ? hex_decode(cmd_hex, m, sizeof m) : -1;
	/* only UNBLOCK PIN (84 24 00 00 04) and RELOAD PIN (84 5E 00 00 Lc PIN) */
	bool unblock = n == 5 && !memcmp(m, "\x84\x24\x00\x00\x04", 5);
	bool reload = n >= 7 && n <= 9 && !memcmp(m, "\x84\x5E\x00\x00", 4) && m[4] == n - 5 + 4;
	if (!unblock && !reload)
		return refuse(status, 400, "bad_command", "Only UNBLOCK PIN and RELOAD PIN are MACed.");
	m[n] = 0x80; /* ISO/IEC 9797-1 method 2: one block */
	if (!sm4_block(mk, id, k) || !sm4_cbc_mac(k, iv, m, 16, mac))
		return refuse(status, 500, "hsm_failed", "The HSM could not compute the MAC.");
	if (fault && !strcmp(fault, "wrong"))
		mac[0] ^= 0x01;
	for (int i = 0; i < 4; i++)
		snprintf(out + 2 * i, 3, "%02X", mac[i]);
	*status = 200;
	*op = unblock ? "unblock" : "reload";
	json_t *j = fault && !strcmp(fault, "garbage") ? json_pack("{s:s}", "mac", "not a MAC")
						      : json_pack("{s:s}", "mac", out);
	explicit_bzero(mk, sizeof mk);
	explicit_bzero(k, sizeof k);
	explicit_bzero(m, sizeof m);
	explicit_bzero(mac, sizeof mac);
	return j;
}
