/* test-nfc.c — drivers/nfc.c against a fake libnfc: opening, the ATR made
 * from the ATS or the ATQB, what polls find, how exchange failures and
 * status are turned into project errors. The real libnfc with the PN532
 * emulator is in the integration tests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <nfc/nfc.h>

#include "apdu/sserr.h"
#include "drivers/reader.h"

/* ---- the fake libnfc ----------------------------------------------------- */

static struct {
	int inits, exits, opens, closes, deselects, presence_checks;
	bool open_fails, init_fails;
	int listed;                          /* devices nfc_list_devices finds */
	char opened[NFC_BUFSIZE_CONNSTRING];
	nfc_target a, b;                     /* what is on the field */
	bool have_a, have_b;
	int select_rv;                       /* < 0: the select fails */
	int xfer_rv;                         /* < 0: the exchange fails */
	uint8_t rsp[300];
	size_t rx_cap;                       /* the buffer size libnfc was given */
	bool present;
} f;

static char ctx_obj, dev_obj;

void nfc_init(nfc_context **context)
{
	f.inits++;
	*context = (nfc_context *)&ctx_obj;
}

void nfc_exit(nfc_context *context)
{
	f.exits++;
}

size_t nfc_list_devices(nfc_context *context, nfc_connstring connstrings[], size_t sz)
{
	if (!f.listed || !sz)
		return 0;
	snprintf(connstrings[0], sizeof connstrings[0], "pn532_uart:/dev/ttyFOUND");
	return 1;
}

nfc_device *nfc_open(nfc_context *context, const nfc_connstring connstring)
{
	snprintf(f.opened, sizeof f.opened, "%s", connstring);
	if (f.open_fails)
		return NULL;
	f.opens++;
	return (nfc_device *)&dev_obj;
}

void nfc_close(nfc_device *pnd)
{
	f.closes++;
}

int nfc_initiator_init(nfc_device *pnd)
{
	return f.init_fails ? NFC_EIO : 0;
}

int nfc_device_set_property_bool(nfc_device *pnd, const nfc_property property, const bool bEnable)
{
	return 0;
}

int nfc_initiator_select_passive_target(nfc_device *pnd, const nfc_modulation nm,
					const uint8_t *pbtInitData, const size_t szInitData,
					nfc_target *pnt)
{
	if (f.select_rv < 0)
		return f.select_rv;
	if (nm.nmt == NMT_ISO14443A && f.have_a) {
		*pnt = f.a;
		return 1;
	}
	if (nm.nmt == NMT_ISO14443B && f.have_b) {
		*pnt = f.b;
		return 1;
	}
	return 0;
}

int nfc_initiator_transceive_bytes(nfc_device *pnd, const uint8_t *pbtTx, const size_t szTx,
				   uint8_t *pbtRx, const size_t szRx, int timeout)
{
	f.rx_cap = szRx;
	if (f.xfer_rv < 0)
		return f.xfer_rv;
	memcpy(pbtRx, f.rsp, (size_t)f.xfer_rv);
	return f.xfer_rv;
}

int nfc_initiator_target_is_present(nfc_device *pnd, const nfc_target *pnt)
{
	f.presence_checks++;
	return f.present ? NFC_SUCCESS : NFC_ETGRELEASED;
}

int nfc_initiator_deselect_target(nfc_device *pnd)
{
	f.deselects++;
	return 0;
}

/* ---- helpers ---------------------------------------------------------------- */

static int setup(void **s)
{
	memset(&f, 0, sizeof f);
	f.listed = 1;
	f.present = true;
	return 0;
}

static struct nfc_rdr *opened(void)
{
	struct nfc_rdr *r = NULL;
	char name[RDR_NAME_MAX];
	assert_int_equal(nfc_rdr_open("pn532_uart:/dev/ttyUSB0", &r, name, sizeof name), SS_OK);
	return r;
}

/* A type A ISO 14443-4 card whose ATS is T0 [interface bytes] hist… */
static void card_a(const uint8_t *ats, size_t n, uint8_t sak)
{
	f.have_a = true;
	f.a.nm.nmt = NMT_ISO14443A;
	f.a.nti.nai.btSak = sak;
	memcpy(f.a.nti.nai.abtAts, ats, n);
	f.a.nti.nai.szAtsLen = n;
}

static void assert_tck(const struct rdr_card *c)
{
	uint8_t x = 0;
	for (size_t i = 1; i < c->atr_len; i++)
		x ^= c->atr[i];
	assert_int_equal(x, 0); /* TCK makes T0…TCK xor to zero */
}

/* ---- tests ---------------------------------------------------------------- */

static void test_open(void **s)
{
	struct nfc_rdr *r = NULL;
	char name[RDR_NAME_MAX];
	assert_int_equal(nfc_rdr_open("pn532_uart:/dev/ttyUSB0", &r, name, sizeof name), SS_OK);
	assert_string_equal(name, "NFC pn532_uart:/dev/ttyUSB0");
	assert_string_equal(f.opened, "pn532_uart:/dev/ttyUSB0");
	nfc_rdr_close(r);
	assert_int_equal(f.closes, 1);
	assert_int_equal(f.exits, 1);

	assert_int_equal(nfc_rdr_open("auto", &r, name, sizeof name), SS_OK); /* the first found */
	assert_string_equal(name, "NFC pn532_uart:/dev/ttyFOUND");
	nfc_rdr_close(r);

	f.listed = 0; /* nothing found, nothing opened, nothing leaked */
	assert_int_equal(nfc_rdr_open("auto", &r, name, sizeof name), SS_E_NO_READER);
	assert_int_equal(f.inits, f.exits);

	f.listed = 1;
	f.open_fails = true;
	assert_int_equal(nfc_rdr_open("pn532_uart:/dev/gone", &r, name, sizeof name), SS_E_NO_READER);
	f.open_fails = false;
	f.init_fails = true; /* opened but will not be an initiator: closed again */
	assert_int_equal(nfc_rdr_open("pn532_uart:/dev/odd", &r, name, sizeof name), SS_E_NO_READER);
	assert_int_equal(f.opens, f.closes);
	assert_int_equal(f.inits, f.exits);
}

static void test_atr_from_ats(void **s)
{
	/* T0 = 0x78: TA, TB, TC present, FSCI 8; then the historical bytes */
	static const uint8_t ats[] = {0x78, 0x77, 0x71, 0x02, 0x00, 0x81, 0x4E, 0x43};
	struct nfc_rdr *r = opened();
	struct rdr_card c;
	card_a(ats, sizeof ats, 0x20);
	assert_int_equal(nfc_rdr_poll(r, &c), SS_OK);
	static const uint8_t want[] = {0x3B, 0x84, 0x80, 0x01, 0x00, 0x81, 0x4E, 0x43};
	assert_int_equal(c.atr_len, sizeof want + 1);
	assert_memory_equal(c.atr, want, sizeof want);
	assert_tck(&c);
	assert_string_equal(c.interface, "contactless");
	assert_int_equal(c.protocol, -1);

	/* T0 with no interface bytes: every byte after it is historical */
	static const uint8_t ats2[] = {0x05, 0xAA, 0xBB};
	card_a(ats2, sizeof ats2, 0x20);
	assert_int_equal(nfc_rdr_poll(r, &c), SS_OK);
	assert_int_equal(c.atr[1], 0x82);
	assert_int_equal(c.atr[4], 0xAA);
	assert_tck(&c);

	/* no ATS bytes at all: an ATR without historical bytes */
	card_a(ats2, 0, 0x20);
	assert_int_equal(nfc_rdr_poll(r, &c), SS_OK);
	assert_int_equal(c.atr_len, 5);
	assert_int_equal(c.atr[1], 0x80);
	assert_tck(&c);

	/* an ATS announcing more interface bytes than it has: no history, no overrun */
	static const uint8_t ats3[] = {0x70, 0x11};
	card_a(ats3, sizeof ats3, 0x20);
	assert_int_equal(nfc_rdr_poll(r, &c), SS_OK);
	assert_int_equal(c.atr_len, 5);

	/* 20 historical bytes: an ATR carries 15 at most */
	uint8_t big[21] = {0x00};
	for (int i = 1; i < 21; i++)
		big[i] = (uint8_t)i;
	card_a(big, sizeof big, 0x20);
	assert_int_equal(nfc_rdr_poll(r, &c), SS_OK);
	assert_int_equal(c.atr[1], 0x8F);
	assert_int_equal(c.atr_len, 20);
	assert_tck(&c);
	nfc_rdr_close(r);
}

static void test_poll_kinds(void **s)
{
	struct nfc_rdr *r = opened();
	struct rdr_card c;
	assert_int_equal(nfc_rdr_poll(r, &c), SS_E_NO_CARD); /* empty field */

	/* a MIFARE Classic (SAK 0x08) is no ISO 14443-4 card: passed over for type B */
	static const uint8_t ats[] = {0x05, 0xAA};
	card_a(ats, sizeof ats, 0x08);
	assert_int_equal(nfc_rdr_poll(r, &c), SS_E_NO_CARD);
	f.have_b = true;
	static const uint8_t app[4] = {0x11, 0x22, 0x33, 0x44};
	memcpy(f.b.nti.nbi.abtApplicationData, app, sizeof app);
	assert_int_equal(nfc_rdr_poll(r, &c), SS_OK);
	assert_int_equal(c.atr[1], 0x84);
	assert_memory_equal(c.atr + 4, app, 4);
	assert_tck(&c);

	f.select_rv = NFC_ETIMEOUT; /* nothing answered in time: no card */
	assert_int_equal(nfc_rdr_poll(r, &c), SS_E_NO_CARD);
	f.select_rv = NFC_EIO; /* the device itself failed: close and reopen */
	assert_int_equal(nfc_rdr_poll(r, &c), SS_E_READER);
	nfc_rdr_close(r);
}

static void test_exchange(void **s)
{
	struct nfc_rdr *r = opened();
	struct rdr_card c;
	static const uint8_t ats[] = {0x05, 0xAA};
	static const uint8_t cmd[] = {0x00, 0xB2, 0x01, 0x28, 0x12};
	uint8_t rsp[APDU_RAW_MAX];
	size_t n = sizeof rsp;
	card_a(ats, sizeof ats, 0x20);
	assert_int_equal(nfc_rdr_poll(r, &c), SS_OK);

	f.rsp[0] = 0x61;
	f.rsp[1] = 0x90;
	f.rsp[2] = 0x00;
	f.xfer_rv = 3;
	assert_int_equal(c.tr.xfer(c.tr.ctx, cmd, sizeof cmd, rsp, &n), SS_OK);
	assert_int_equal(n, 3);
	assert_int_equal(f.rx_cap, sizeof rsp); /* libnfc never writes past our buffer */

	f.xfer_rv = 1; /* no status word */
	n = sizeof rsp;
	assert_int_equal(c.tr.xfer(c.tr.ctx, cmd, sizeof cmd, rsp, &n), SS_E_BAD_RESPONSE);

	f.xfer_rv = NFC_EOVFLOW; /* longer than the buffer */
	assert_int_equal(c.tr.xfer(c.tr.ctx, cmd, sizeof cmd, rsp, &n), SS_E_BAD_RESPONSE);

	f.xfer_rv = NFC_ETIMEOUT; /* still on the field but silent */
	assert_int_equal(c.tr.xfer(c.tr.ctx, cmd, sizeof cmd, rsp, &n), SS_E_CARD_TIMEOUT);
	f.xfer_rv = NFC_EIO;
	assert_int_equal(c.tr.xfer(c.tr.ctx, cmd, sizeof cmd, rsp, &n), SS_E_READER);

	f.present = false; /* the card left: removed, and stays so without more traffic */
	f.xfer_rv = NFC_ERFTRANS;
	assert_int_equal(c.tr.xfer(c.tr.ctx, cmd, sizeof cmd, rsp, &n), SS_E_CARD_REMOVED);
	int checks = f.presence_checks;
	assert_int_equal(c.tr.xfer(c.tr.ctx, cmd, sizeof cmd, rsp, &n), SS_E_CARD_REMOVED);
	assert_false(nfc_rdr_present(r));
	assert_int_equal(f.presence_checks, checks);
	nfc_rdr_close(r);
}

static void test_presence_and_release(void **s)
{
	struct nfc_rdr *r = opened();
	struct rdr_card c;
	static const uint8_t ats[] = {0x05, 0xAA};
	assert_false(nfc_rdr_present(r)); /* nothing selected: no traffic */
	assert_int_equal(f.presence_checks, 0);
	card_a(ats, sizeof ats, 0x20);
	assert_int_equal(nfc_rdr_poll(r, &c), SS_OK);
	assert_true(nfc_rdr_present(r));
	nfc_rdr_release(r);
	nfc_rdr_release(r); /* twice is once */
	assert_int_equal(f.deselects, 1);
	assert_false(nfc_rdr_present(r));
	nfc_rdr_close(r);
}

static void test_error_map(void **s)
{
	assert_int_equal(nfc_rdr_err(NFC_SUCCESS, false), SS_OK);
	assert_int_equal(nfc_rdr_err(NFC_ETIMEOUT, false), SS_E_CARD_TIMEOUT);
	assert_int_equal(nfc_rdr_err(NFC_ETIMEOUT, true), SS_E_CARD_REMOVED);
	assert_int_equal(nfc_rdr_err(NFC_ERFTRANS, true), SS_E_CARD_REMOVED);
	assert_int_equal(nfc_rdr_err(NFC_ETGRELEASED, true), SS_E_CARD_REMOVED);
	assert_int_equal(nfc_rdr_err(NFC_ENOTSUCHDEV, false), SS_E_NO_READER);
	assert_int_equal(nfc_rdr_err(NFC_EOVFLOW, false), SS_E_BAD_RESPONSE);
	assert_int_equal(nfc_rdr_err(NFC_EIO, false), SS_E_READER);
	assert_int_equal(nfc_rdr_err(NFC_ECHIP, false), SS_E_READER);
	assert_int_equal(nfc_rdr_err(-12345, false), SS_E_READER);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_open, setup),
		cmocka_unit_test_setup(test_atr_from_ats, setup),
		cmocka_unit_test_setup(test_poll_kinds, setup),
		cmocka_unit_test_setup(test_exchange, setup),
		cmocka_unit_test_setup(test_presence_and_release, setup),
		cmocka_unit_test_setup(test_error_map, setup),
	};
	return cmocka_run_group_tests_name("nfc", tests, NULL, NULL);
}
