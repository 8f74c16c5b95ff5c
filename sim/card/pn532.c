/* sscard-pn532 — a PN532 NFC reader chip on a pseudo-terminal, answering
 * libnfc's pn532_uart driver, with an ISO 14443-4 type A card on its field
 * that behaves as a profile of sim/profiles/ says (the same engine as
 * sscard-vcard: sim/cardsim.c). Test rig and demo part, not product code.
 *
 * The pty's slave path is printed on stdout and, with --link PATH, made a
 * symlink at PATH (a stable name across restarts: "the device vanished and
 * came back"). SIGUSR1 takes the card off the field, SIGUSR2 puts it back.
 *
 * Frames (PN532 user manual §6.2): host → chip `00 00 FF LEN LCS D4 CMD …
 * DCS 00` (or the extended `00 00 FF FF FF LENM LENL LCS …`); the chip
 * answers with an ACK frame `00 00 FF 00 FF 00`, then `… D5 CMD+1 …`. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "sim/card/pty.h"

#include "apdu/atr.h"
#include "sim/card/cardsim.h"

#define FRAME_MAX 320

static struct {
	const char *link;
	long remove_after;           /* APDUs, then the card leaves the field */
	long garbage_after;          /* APDUs, then one answer is garbage */
	long delay_ms;               /* every card answer this late */
	long nad_after;              /* APDUs, then a status byte with the NAD bit */
	long baud;                   /* pace the link like a UART at this rate */
	size_t chain_at;             /* longer card answers come in MI-chained pieces */
	bool no_card;
} opt = {.remove_after = -1, .garbage_after = -1, .nad_after = -1, .chain_at = 200};

/* The time n bytes take on a UART (8N1: 10 bits a byte). */
static void wire_time(size_t n)
{
	if (opt.baud > 0)
		usleep((useconds_t)((long long)n * 10 * 1000000 / opt.baud));
}

static volatile sig_atomic_t stop, field_change;
static volatile sig_atomic_t want_card = 1;

static void on_signal(int s)
{
	if (s == SIGUSR1 || s == SIGUSR2) {
		want_card = s == SIGUSR2;
		field_change = 1;
		return;
	}
	stop = 1;
}

static int master = -1;

static void put(const uint8_t *b, size_t n)
{
	wire_time(n);
	sim_pty_put(master, b, n);
}

static void ack(void)
{
	static const uint8_t a[] = {0x00, 0x00, 0xFF, 0x00, 0xFF, 0x00};
	put(a, sizeof a);
}

/* D5 cmd+1 data… as a normal or extended frame. */
static void answer(uint8_t cmd, const uint8_t *d, size_t n)
{
	uint8_t f[FRAME_MAX + 16];
	size_t len = n + 2, o = 0;
	uint8_t dcs = (uint8_t)(0 - 0xD5 - (cmd + 1));
	f[o++] = 0x00;
	f[o++] = 0x00;
	f[o++] = 0xFF;
	if (len <= 0xFF) {
		f[o++] = (uint8_t)len;
		f[o++] = (uint8_t)(0x100 - len);
	} else {
		f[o++] = 0xFF;
		f[o++] = 0xFF;
		f[o++] = (uint8_t)(len >> 8);
		f[o++] = (uint8_t)len;
		f[o++] = (uint8_t)(0x100 - ((len >> 8) + (len & 0xFF)));
	}
	f[o++] = 0xD5;
	f[o++] = (uint8_t)(cmd + 1);
	for (size_t i = 0; i < n; i++) {
		f[o++] = d[i];
		dcs = (uint8_t)(dcs - d[i]);
	}
	f[o++] = dcs;
	f[o++] = 0x00;
	put(f, o);
}

/* ---- the card on the field ---------------------------------------------- */

static struct profile prof;
static struct card card;
static bool present, activated;
static uint8_t uid[4];
static uint8_t pending[APDU_RSP_MAX + 2];  /* an answer being chained out */
static size_t pending_len, pending_off;
static long apdus;

static size_t ats(uint8_t *out)
{
	struct atr a;
	const char *why;
	size_t h = 0;
	const uint8_t *hist = NULL;
	if (atr_parse(prof.atr, prof.atr_len, &a, &why) == SS_OK) {
		hist = a.hist;
		h = a.hist_len;
	}
	out[0] = (uint8_t)(5 + h);   /* TL counts itself */
	out[1] = 0x78;               /* FSCI 8 (256 bytes), TA TB TC follow */
	out[2] = 0x80;
	out[3] = 0x70;
	out[4] = 0x02;
	if (h)
		memcpy(out + 5, hist, h);
	return 5 + h;
}

static void field(bool on)
{
	present = on;
	activated = false;
	card = (struct card){0};
	pending_len = pending_off = 0;
}

/* InListPassiveTarget: [MaxTg, BrTy, …] */
static void list_passive(const uint8_t *d, size_t n)
{
	uint8_t r[64];
	size_t o = 0;
	if (n < 2 || d[1] != 0x00 || !present) {
		r[o++] = 0;          /* NbTg: nothing on the field (we are a type A card) */
		answer(0x4A, r, o);
		return;
	}
	field(true);
	activated = true;
	r[o++] = 1;                  /* NbTg */
	r[o++] = 1;                  /* Tg */
	r[o++] = 0x00;               /* SENS_RES */
	r[o++] = 0x04;
	r[o++] = 0x20;               /* SEL_RES: ISO/IEC 14443-4 compliant */
	r[o++] = sizeof uid;
	memcpy(r + o, uid, sizeof uid);
	o += sizeof uid;
	o += ats(r + o);
	answer(0x4A, r, o);
}

static void send_piece(uint8_t cmd)
{
	uint8_t r[FRAME_MAX];
	size_t left = pending_len - pending_off;
	size_t n = left > opt.chain_at ? opt.chain_at : left;
	r[0] = left > n ? 0x40 : 0x00;   /* MI: more information follows */
	memcpy(r + 1, pending + pending_off, n);
	pending_off += n;
	if (pending_off >= pending_len)
		pending_len = pending_off = 0;
	answer(cmd, r, n + 1);
}

/* InDataExchange: [Tg, APDU…]; an empty one asks for the next MI piece. */
static void data_exchange(const uint8_t *d, size_t n)
{
	uint8_t st = 0x01;           /* timeout: no card answered */
	if (!present || !activated) {
		answer(0x40, &st, 1);
		return;
	}
	if (n <= 1 && pending_len) {
		send_piece(0x40);
		return;
	}
	if (opt.remove_after >= 0 && apdus >= opt.remove_after) {
		field(false);            /* the card leaves the field mid-exchange */
		want_card = 0;
		answer(0x40, &st, 1);
		return;
	}
	apdus++;
	if (opt.garbage_after >= 0 && apdus > opt.garbage_after) {
		opt.garbage_after = -1;  /* once: bytes that are no frame at all */
		static const uint8_t junk[] = {0x00, 0x00, 0xFF, 0x07, 0x42, 0xD5, 0x41, 0x13, 0x37};
		put(junk, sizeof junk);
		return;
	}
	if (opt.nad_after >= 0 && apdus > opt.nad_after) {
		/* a status byte with the NAD bit: libnfc 1.8.0 abort()s on it */
		uint8_t nad[3] = {0x80, 0x90, 0x00};
		answer(0x40, nad, sizeof nad);
		return;
	}
	if (opt.delay_ms)
		usleep((useconds_t)opt.delay_ms * 1000);
	pending_len = cardsim_process(&prof, &card, d + 1, n - 1, pending);
	pending_off = 0;
	send_piece(0x40);
}

/* InCommunicateThru: libnfc's presence check sends R(NAK) `B2`. */
static void communicate_thru(const uint8_t *d, size_t n)
{
	uint8_t r[2] = {0x01, 0};
	if (present && activated && n >= 1 && (d[0] & 0xF6) == 0xB2) {
		r[0] = 0x00;
		r[1] = (uint8_t)(0xA2 | (d[0] & 0x01)); /* R(ACK), same block number */
		answer(0x42, r, 2);
		return;
	}
	answer(0x42, r, 1);
}

static void command(const uint8_t *f, size_t n)
{
	static const uint8_t fw[] = {0x32, 0x01, 0x06, 0x07};
	uint8_t zeros[64] = {0}, st = 0;
	uint8_t cmd = f[0];
	const uint8_t *d = f + 1;
	size_t dn = n - 1;
	ack();
	switch (cmd) {
	case 0x00: answer(cmd, d, dn); break;                          /* Diagnose: line test echoes */
	case 0x02: answer(cmd, fw, sizeof fw); break;                 /* GetFirmwareVersion */
	case 0x06: answer(cmd, zeros, dn / 2 < 64 ? dn / 2 : 64); break; /* ReadRegister */
	case 0x08: case 0x12: case 0x14: case 0x32:                    /* WriteRegister, SetParameters, SAMConfiguration, RFConfiguration */
		answer(cmd, NULL, 0);
		break;
	case 0x16: answer(cmd, &st, 1); break;                         /* PowerDown */
	case 0x4A: list_passive(d, dn); break;
	case 0x40: data_exchange(d, dn); break;
	case 0x42: communicate_thru(d, dn); break;
	case 0x44: case 0x52:                                          /* InDeselect, InRelease */
		activated = false;
		pending_len = pending_off = 0;
		answer(cmd, &st, 1);
		break;
	default: {
		static const uint8_t err[] = {0x00, 0x00, 0xFF, 0x01, 0xFF, 0x7F, 0x81, 0x00};
		put(err, sizeof err); /* application-level error frame */
	}
	}
}

/* ---- the serial line ---------------------------------------------------- */

static uint8_t in[4096];
static size_t in_len;

/* Take one frame off the input, if a whole one is there. */
static bool frame(void)
{
	size_t i = 0;
	while (i + 3 <= in_len && !(in[i] == 0x00 && in[i + 1] == 0x00 && in[i + 2] == 0xFF))
		i++;
	memmove(in, in + i, in_len - i);
	in_len -= i;
	if (in_len < 6)
		return false;
	if (in[3] == 0x00 && in[4] == 0xFF) { /* an ACK from the host: abort */
		memmove(in, in + 6, in_len - 6);
		in_len -= 6;
		return true;
	}
	size_t len, hdr;
	if (in[3] == 0xFF && in[4] == 0xFF) {
		if (in_len < 8)
			return false;
		len = (size_t)in[5] << 8 | in[6];
		hdr = 8;
	} else {
		if ((uint8_t)(in[3] + in[4]) != 0) { /* bad length checksum: skip */
			memmove(in, in + 1, in_len - 1);
			in_len--;
			return true;
		}
		len = in[3];
		hdr = 5;
	}
	if (len < 2 || len > FRAME_MAX) {
		memmove(in, in + 1, in_len - 1);
		in_len--;
		return true;
	}
	if (in_len < hdr + len + 2)
		return false;
	uint8_t sum = 0;
	for (size_t k = 0; k < len + 1; k++)
		sum = (uint8_t)(sum + in[hdr + k]);
	wire_time(hdr + len + 2); /* the host's frame took this long to arrive */
	if (in[hdr] == 0xD4 && sum == 0)
		command(in + hdr + 1, len - 1);
	memmove(in, in + hdr + len + 2, in_len - hdr - len - 2);
	in_len -= hdr + len + 2;
	return true;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: sscard-pn532 -p PROFILE [--link PATH] [--no-card] [--remove-after N]\n"
		"                    [--garbage-after N] [--delay-ms MS] [--chain-at BYTES]\n"
		"                    [--nad-after N] [--baud BPS]\n"
		"  --nad-after N  after N APDUs answer with a status byte libnfc aborts on\n"
		"  --baud BPS     take as long as a UART at BPS (115200 for a PN532 board)\n"
		"  SIGUSR1 takes the card off the field, SIGUSR2 puts it back.\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"profile", 1, 0, 'p'},       {"link", 1, 0, 'l'},        {"no-card", 0, 0, 'n'},
		{"remove-after", 1, 0, 'r'},  {"garbage-after", 1, 0, 'g'}, {"delay-ms", 1, 0, 'd'},
		{"chain-at", 1, 0, 'c'},      {"nad-after", 1, 0, 'N'},   {"baud", 1, 0, 'b'},
		{0, 0, 0, 0}};
	const char *file = NULL;
	int c, slave;
	while ((c = getopt_long(argc, argv, "p:l:", lo, NULL)) != -1) {
		switch (c) {
		case 'p': file = optarg; break;
		case 'l': opt.link = optarg; break;
		case 'n': opt.no_card = true; break;
		case 'r': opt.remove_after = atol(optarg); break;
		case 'g': opt.garbage_after = atol(optarg); break;
		case 'd': opt.delay_ms = atol(optarg); break;
		case 'c': opt.chain_at = (size_t)atol(optarg); break;
		case 'N': opt.nad_after = atol(optarg); break;
		case 'b': opt.baud = atol(optarg); break;
		default: usage();
		}
	}
	if (!file || optind != argc || opt.chain_at < 16 || opt.chain_at > 250)
		usage();
	cardsim_load(&prof, file);
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	uid[0] = 0x08; /* a random UID, as the chips of 3.00 cards give */
	for (int i = 1; i < 4; i++)
		uid[i] = (uint8_t)rand();
	want_card = !opt.no_card;
	field(want_card);
	if ((master = sim_pty_start("sscard-pn532", opt.link, on_signal, &slave)) < 0)
		return 1;
	while (!stop) {
		if (field_change) {
			field_change = 0;
			field(want_card);
		}
		struct pollfd p = {.fd = master, .events = POLLIN};
		int r = poll(&p, 1, 100);
		if (r <= 0)
			continue;
		sim_pty_take(master, in, &in_len, sizeof in, frame);
	}
	explicit_bzero(prof.pin, sizeof prof.pin);
	close(slave);
	close(master);
	return 0;
}
