/* nfc.c — contactless cards through libnfc (see reader.h). */
#include <nfc/nfc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apdu/sserr.h"
#include "drivers/reader.h"

#define NFC_APDU_TIMEOUT_MS 3000   /* one exchange; a PIN check can take a while */

struct nfc_rdr {
	nfc_context *ctx;
	nfc_device *dev;
	nfc_target target;
	bool selected;
};

enum ss_err nfc_rdr_err(int rv, bool removed)
{
	switch (rv) {
	case NFC_SUCCESS: return SS_OK;
	case NFC_ETIMEOUT:
	case NFC_ERFTRANS:
	case NFC_ETGRELEASED: return removed ? SS_E_CARD_REMOVED : SS_E_CARD_TIMEOUT;
	case NFC_ENOTSUCHDEV: return SS_E_NO_READER;
	case NFC_EOVFLOW: return SS_E_BAD_RESPONSE;
	default: return SS_E_READER;
	}
}

static enum ss_err xfer(void *ctx, const uint8_t *cmd, size_t cmd_len, uint8_t *rsp,
			size_t *rsp_len)
{
	struct nfc_rdr *r = ctx;
	if (!r->selected)
		return SS_E_CARD_REMOVED;
	int n = nfc_initiator_transceive_bytes(r->dev, cmd, cmd_len, rsp, *rsp_len,
					       NFC_APDU_TIMEOUT_MS);
	if (n < 0) {
		bool gone = !nfc_rdr_present(r);
		if (gone)
			r->selected = false;
		return nfc_rdr_err(n, gone);
	}
	if (n < 2)
		return SS_E_BAD_RESPONSE; /* no status word */
	*rsp_len = (size_t)n;
	return SS_OK;
}

enum ss_err nfc_rdr_open(const char *connstring, struct nfc_rdr **out, char *name, size_t cap)
{
	struct nfc_rdr *r = calloc(1, sizeof *r);
	nfc_connstring cs = "";
	if (!r)
		return SS_E_NOMEM;
	nfc_init(&r->ctx);
	if (!r->ctx) {
		free(r);
		return SS_E_NOMEM;
	}
	if (connstring && *connstring && strcmp(connstring, "auto"))
		snprintf(cs, sizeof cs, "%s", connstring);
	else if (nfc_list_devices(r->ctx, &cs, 1) < 1)
		cs[0] = 0;
	if (!*cs || !(r->dev = nfc_open(r->ctx, cs)) || nfc_initiator_init(r->dev) < 0 ||
	    nfc_device_set_property_bool(r->dev, NP_INFINITE_SELECT, false) < 0 ||
	    nfc_device_set_property_bool(r->dev, NP_AUTO_ISO14443_4, true) < 0) {
		nfc_rdr_close(r);
		return SS_E_NO_READER;
	}
	snprintf(name, cap, "NFC %s", cs);
	*out = r;
	return SS_OK;
}

void nfc_rdr_close(struct nfc_rdr *r)
{
	if (!r)
		return;
	if (r->dev)
		nfc_close(r->dev);
	nfc_exit(r->ctx);
	free(r);
}

/* PC/SC part 3's ATR for a contactless card: 3B 8n 80 01 historical TCK,
 * the historical bytes from the ATS (type A) or the ATQB's application data
 * (type B). */
static void make_atr(const uint8_t *hist, size_t n, struct rdr_card *c)
{
	if (n > 15)
		n = 15;
	c->atr[0] = 0x3B;
	c->atr[1] = (uint8_t)(0x80 | n);
	c->atr[2] = 0x80;
	c->atr[3] = 0x01;
	if (n)
		memcpy(c->atr + 4, hist, n);
	uint8_t tck = 0;
	for (size_t i = 1; i < 4 + n; i++)
		tck ^= c->atr[i];
	c->atr[4 + n] = tck;
	c->atr_len = 5 + n;
}

/* The historical bytes of an ATS: after TL, T0 and the interface bytes T0 announces. */
static void ats_hist(const uint8_t *ats, size_t len, const uint8_t **h, size_t *n)
{
	*h = NULL;
	*n = 0;
	if (len < 1)
		return;
	size_t o = 1; /* libnfc's ATS starts at T0 */
	uint8_t t0 = ats[0];
	o += (t0 & 0x10 ? 1 : 0) + (t0 & 0x20 ? 1 : 0) + (t0 & 0x40 ? 1 : 0);
	if (o <= len) {
		*h = ats + o;
		*n = len - o;
	}
}

enum ss_err nfc_rdr_poll(struct nfc_rdr *r, struct rdr_card *card)
{
	static const nfc_modulation mods[] = {{NMT_ISO14443A, NBR_106}, {NMT_ISO14443B, NBR_106}};
	nfc_rdr_release(r);
	for (size_t i = 0; i < sizeof mods / sizeof mods[0]; i++) {
		int rv = nfc_initiator_select_passive_target(r->dev, mods[i], NULL, 0, &r->target);
		if (rv < 0)
			return rv == NFC_ETIMEOUT ? SS_E_NO_CARD : SS_E_READER;
		if (rv == 0)
			continue;
		const uint8_t *h;
		size_t n;
		if (mods[i].nmt == NMT_ISO14443A) {
			if (!(r->target.nti.nai.btSak & 0x20))
				continue; /* not ISO 14443-4: not our card */
			ats_hist(r->target.nti.nai.abtAts, r->target.nti.nai.szAtsLen, &h, &n);
		} else {
			h = r->target.nti.nbi.abtApplicationData;
			n = sizeof r->target.nti.nbi.abtApplicationData;
		}
		memset(card, 0, sizeof *card);
		make_atr(h, n, card);
		card->interface = "contactless";
		card->protocol = -1;
		card->priv = r;
		card->tr.ctx = r;
		card->tr.xfer = xfer;
		r->selected = true;
		return SS_OK;
	}
	return SS_E_NO_CARD;
}

bool nfc_rdr_present(struct nfc_rdr *r)
{
	return r->selected && nfc_initiator_target_is_present(r->dev, &r->target) == NFC_SUCCESS;
}

void nfc_rdr_release(struct nfc_rdr *r)
{
	if (r->selected)
		nfc_initiator_deselect_target(r->dev);
	r->selected = false;
}
