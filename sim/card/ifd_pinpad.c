/* ifd_pinpad.c — an emulated CCID PIN-pad reader for pcscd (an IFD
 * handler, loaded through reader.conf), with the emulated card of
 * cardsim.c in its slot. vpcd cannot show a PIN pad; this driver lets the
 * tests run iVerifyPIN/iChangePIN through the real pcscd and SCardControl.
 * Test rig, not product.
 *
 * DEVICENAME is a directory the test controls:
 *   DIR/card        a card profile (sim/profiles/); present = card inserted.
 *                   A new file (another inode) is a new card.
 *   DIR/keys        what the holder types, consumed by the next PIN entry:
 *                   one token per PIN asked ("123456", "cancel", "timeout"),
 *                   e.g. "123456 860731 860731" for a PIN change. While it
 *                   is missing the pad waits, up to the structure's
 *                   bTimerOut, as a real pad does.
 *   DIR/last-block  written by the pad: the hex of the last PIN structure
 *                   it got from the computer (to show that it held no PIN).
 *
 * The pad reads PIN_VERIFY_STRUCTURE / PIN_MODIFY_STRUCTURE the way a CCID
 * reader does (BCD, block size, offsets, min/max digits, confirmation) and
 * answers with the card's status word or 64 00/64 01/64 02/64 03. */
#include <PCSC/ifdhandler.h>
#include <PCSC/reader.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sim/card/bcd.h"
#include "sim/card/cardsim.h"

#define EXPORT __attribute__((visibility("default")))
#define VERIFY_IOCTL SCARD_CTL_CODE(0x3306)
#define MODIFY_IOCTL SCARD_CTL_CODE(0x3307)

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static char dir[256];
static struct profile prof;
static struct card card;
static ino_t card_ino;           /* 0: no card loaded */

static void path(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s", dir, name);
}

/* Whether a card is in the slot; loads a new one. Under mu. */
static bool present(void)
{
	char p[300];
	struct stat st;
	path(p, sizeof p, "card");
	if (stat(p, &st) < 0) {
		card_ino = 0;
		return false;
	}
	if (st.st_ino != card_ino) {
		cardsim_load(&prof, p);
		card = (struct card){0};
		card_ino = st.st_ino;
	}
	return true;
}

EXPORT RESPONSECODE IFDHCreateChannelByName(DWORD Lun, LPSTR DeviceName)
{
	snprintf(dir, sizeof dir, "%s", DeviceName);
	return IFD_SUCCESS;
}

EXPORT RESPONSECODE IFDHCreateChannel(DWORD Lun, DWORD Channel)
{
	return IFD_COMMUNICATION_ERROR; /* DEVICENAME is needed */
}

EXPORT RESPONSECODE IFDHCloseChannel(DWORD Lun)
{
	return IFD_SUCCESS;
}

EXPORT RESPONSECODE IFDHGetCapabilities(DWORD Lun, DWORD Tag, PDWORD Length, PUCHAR Value)
{
	RESPONSECODE rc = IFD_SUCCESS;
	pthread_mutex_lock(&mu);
	switch (Tag) {
	case TAG_IFD_ATR:
		if (!present() || *Length < prof.atr_len) {
			rc = IFD_COMMUNICATION_ERROR;
			break;
		}
		memcpy(Value, prof.atr, prof.atr_len);
		*Length = (DWORD)prof.atr_len;
		break;
	case TAG_IFD_SLOTS_NUMBER:
	case TAG_IFD_SIMULTANEOUS_ACCESS:
		*Length = 1;
		Value[0] = 1;
		break;
	case TAG_IFD_THREAD_SAFE:
	case TAG_IFD_SLOT_THREAD_SAFE:
		*Length = 1;
		Value[0] = 0;
		break;
	case SCARD_ATTR_VENDOR_IFD_SERIAL_NO: { /* the control directory's "serial", as is */
		char p[300];
		path(p, sizeof p, "serial");
		FILE *f = fopen(p, "rb");
		size_t n = f ? fread(Value, 1, *Length, f) : 0;
		if (f)
			fclose(f);
		if (n)
			*Length = (DWORD)n;
		else
			rc = IFD_ERROR_TAG;
		break;
	}
	default:
		rc = IFD_ERROR_TAG;
	}
	pthread_mutex_unlock(&mu);
	return rc;
}

EXPORT RESPONSECODE IFDHSetCapabilities(DWORD Lun, DWORD Tag, DWORD Length, PUCHAR Value)
{
	return IFD_NOT_SUPPORTED;
}

EXPORT RESPONSECODE IFDHSetProtocolParameters(DWORD Lun, DWORD Protocol, UCHAR Flags, UCHAR PTS1,
					      UCHAR PTS2, UCHAR PTS3)
{
	return IFD_SUCCESS;
}

EXPORT RESPONSECODE IFDHPowerICC(DWORD Lun, DWORD Action, PUCHAR Atr, PDWORD AtrLength)
{
	RESPONSECODE rc = IFD_SUCCESS;
	pthread_mutex_lock(&mu);
	if (!present()) {
		*AtrLength = 0;
		rc = Action == IFD_POWER_DOWN ? IFD_SUCCESS : IFD_ICC_NOT_PRESENT;
	} else if (Action == IFD_POWER_DOWN) {
		*AtrLength = 0;
		card = (struct card){0};
	} else {
		card = (struct card){0}; /* the PIN state stays: it is the card's */
		memcpy(Atr, prof.atr, prof.atr_len);
		*AtrLength = (DWORD)prof.atr_len;
	}
	pthread_mutex_unlock(&mu);
	return rc;
}

EXPORT RESPONSECODE IFDHTransmitToICC(DWORD Lun, SCARD_IO_HEADER SendPci, PUCHAR TxBuffer,
				      DWORD TxLength, PUCHAR RxBuffer, PDWORD RxLength,
				      PSCARD_IO_HEADER RecvPci)
{
	uint8_t rsp[APDU_RSP_MAX + 2];
	RESPONSECODE rc = IFD_SUCCESS;
	pthread_mutex_lock(&mu);
	if (!present()) {
		*RxLength = 0;
		rc = IFD_ICC_NOT_PRESENT;
	} else {
		size_t n = cardsim_process(&prof, &card, TxBuffer, TxLength, rsp);
		if (n > *RxLength) {
			*RxLength = 0;
			rc = IFD_ERROR_INSUFFICIENT_BUFFER;
		} else {
			memcpy(RxBuffer, rsp, n);
			*RxLength = (DWORD)n;
		}
	}
	pthread_mutex_unlock(&mu);
	return rc;
}

EXPORT RESPONSECODE IFDHICCPresence(DWORD Lun)
{
	pthread_mutex_lock(&mu);
	bool p = present();
	pthread_mutex_unlock(&mu);
	return p ? IFD_ICC_PRESENT : IFD_ICC_NOT_PRESENT;
}

/* ---- the keypad ----------------------------------------------------------- */

/* The holder's keystrokes: up to n tokens from DIR/keys, waiting for the
 * file up to timeout_s. false: nobody typed in time. */
static bool keys(char tok[][16], int n, int timeout_s)
{
	char p[300], buf[256];
	path(p, sizeof p, "keys");
	for (int waited = 0;; waited += 50) {
		FILE *f = fopen(p, "r");
		if (f) {
			size_t len = fread(buf, 1, sizeof buf - 1, f);
			fclose(f);
			unlink(p);
			buf[len] = 0;
			char *save = NULL, *t = strtok_r(buf, " \t\r\n", &save);
			for (int i = 0; i < n; i++, t = t ? strtok_r(NULL, " \t\r\n", &save) : NULL)
				snprintf(tok[i], 16, "%s", t ? t : "timeout");
			return true;
		}
		if (waited >= timeout_s * 1000)
			return false;
		usleep(50 * 1000);
	}
}

static void save_block(const uint8_t *b, size_t n)
{
	char p[300];
	path(p, sizeof p, "last-block");
	FILE *f = fopen(p, "w");
	if (!f)
		return;
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%02X", b[i]);
	fputc('\n', f);
	fclose(f);
}

/* One PIN entry on the pad; the status word it answers. */
static uint16_t pin_entry(bool modify, const uint8_t *s, size_t n)
{
	size_t hl = modify ? 24 : 19;
	uint8_t apdu[APDU_CMD_MAX], rsp[APDU_RSP_MAX + 2];
	char tok[3][16] = {{0}};
	if (n < hl)
		return 0x6B80;
	size_t dl = (size_t)s[hl - 4] | (size_t)s[hl - 3] << 8;
	unsigned fmt = s[2], block = s[3] & 0x0F, at = modify ? 7 : 5;
	unsigned max = s[at], min = s[at + 1], confirm = modify ? s[9] : 0;
	if (dl != n - hl || dl < 5 || dl > sizeof apdu || (fmt & 0x03) != 0x01 || !(fmt & 0x80) ||
	    min > max || (max + 1) / 2 > block)
		return 0x6B80; /* a structure this pad cannot follow */
	save_block(s, n);
	memcpy(apdu, s + hl, dl);
	int entries = modify ? ((confirm & 0x02) ? 1 : 0) + 1 + ((confirm & 0x01) ? 1 : 0) : 1;
	pthread_mutex_unlock(&mu); /* the holder takes their time */
	bool typed = keys(tok, entries, s[0] ? s[0] : 30);
	pthread_mutex_lock(&mu);
	if (!typed)
		return 0x6400;
	for (int i = 0; i < entries; i++) {
		size_t len = strlen(tok[i]);
		if (!strcmp(tok[i], "cancel"))
			return 0x6401;
		if (!strcmp(tok[i], "timeout"))
			return 0x6400;
		if (len < min || len > max || strspn(tok[i], "0123456789") != len)
			return 0x6403;
	}
	size_t old_at = modify ? s[5] : (fmt >> 3) & 0x0F, new_at = modify ? s[6] : 0;
	int k = 0;
	if (!modify || (confirm & 0x02))
		bcd_put(apdu + 5 + old_at, tok[k++]);
	if (modify) {
		bcd_put(apdu + 5 + new_at, tok[k]);
		if ((confirm & 0x01) && strcmp(tok[k], tok[k + 1]))
			return 0x6402;
	}
	explicit_bzero(tok, sizeof tok);
	if (!present())
		return 0x6400; /* pulled while typing: the caller sees the card gone */
	size_t r = cardsim_process(&prof, &card, apdu, dl, rsp);
	explicit_bzero(apdu, sizeof apdu);
	return r >= 2 ? (uint16_t)(rsp[r - 2] << 8 | rsp[r - 1]) : 0x6F00;
}

EXPORT RESPONSECODE IFDHControl(DWORD Lun, DWORD dwControlCode, PUCHAR TxBuffer, DWORD TxLength,
				PUCHAR RxBuffer, DWORD RxLength, LPDWORD pdwBytesReturned)
{
	*pdwBytesReturned = 0;
	if (dwControlCode == CM_IOCTL_GET_FEATURE_REQUEST) {
		const uint32_t codes[2] = {VERIFY_IOCTL, MODIFY_IOCTL};
		if (RxLength < 12)
			return IFD_ERROR_INSUFFICIENT_BUFFER;
		for (int i = 0; i < 2; i++) {
			RxBuffer[6 * i] = (uint8_t)(FEATURE_VERIFY_PIN_DIRECT + i);
			RxBuffer[6 * i + 1] = 4;
			RxBuffer[6 * i + 2] = (uint8_t)(codes[i] >> 24);
			RxBuffer[6 * i + 3] = (uint8_t)(codes[i] >> 16);
			RxBuffer[6 * i + 4] = (uint8_t)(codes[i] >> 8);
			RxBuffer[6 * i + 5] = (uint8_t)codes[i];
		}
		*pdwBytesReturned = 12;
		return IFD_SUCCESS;
	}
	if (dwControlCode != VERIFY_IOCTL && dwControlCode != MODIFY_IOCTL)
		return IFD_ERROR_NOT_SUPPORTED;
	if (RxLength < 2)
		return IFD_ERROR_INSUFFICIENT_BUFFER;
	pthread_mutex_lock(&mu);
	RESPONSECODE rc = IFD_SUCCESS;
	if (!present()) {
		rc = IFD_ICC_NOT_PRESENT;
	} else {
		uint16_t sw = pin_entry(dwControlCode == MODIFY_IOCTL, TxBuffer, TxLength);
		RxBuffer[0] = (uint8_t)(sw >> 8);
		RxBuffer[1] = (uint8_t)sw;
		*pdwBytesReturned = 2;
	}
	pthread_mutex_unlock(&mu);
	return rc;
}
