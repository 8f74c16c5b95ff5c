/* readcard — reading the card as hospital or office software (HIS) does,
 * through libsscard's iReadCardBas (see client/sscard.h).
 *
 *   example-readcard [ITYPE]        one read; prints the return code and
 *                                   pOutInfo, then the fields one per line
 *   example-readcard -t N [ITYPE]   N threads calling at once (a HIS with
 *                                   several windows): each prints its line
 *   example-readcard -p verify|change [ITYPE]
 *                                   iVerifyPIN / iChangePIN: the holder types
 *                                   on the reader's PIN pad; prints the code
 *   example-readcard -H [ITYPE]     the two steps for a HIS that owns its
 *                                   encryptor: prints step 1's line (the
 *                                   challenge last), reads the encryptor's
 *                                   cryptogram from standard input, prints
 *                                   step 2's full line
 *   example-readcard -U [-H] [ITYPE]
 *                                   iUnblockPIN: a blocked PIN unblocked
 *                                   through the terminal's PSAM; with -H the
 *                                   HIS's encryptor makes the MAC: step 1's
 *                                   "卡识别码|R|command|" printed, the MAC
 *                                   read from standard input, step 2
 *   example-readcard -R [-H] [ITYPE]
 *                                   iReloadPIN: the new PIN read twice from
 *                                   standard input (one line each; a real
 *                                   HIS asks the holder), then as -U
 *
 * Build against an installed library:
 *   cc readcard.c $(pkg-config --cflags --libs sscard) -lpthread */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sscard.h>

static const char *const NAMES[] = {"区划", "社会保障号码", "卡号", "卡识别码", "姓名",
				    "ATR历史字节", "规范版本", "发卡日期", "卡有效期",
				    "终端机编号", "终端设备号"};

struct call {
	pthread_t th;
	int type;
	long rc;
	char out[SSCARD_OUT_MAX];
};

static void *one(void *arg)
{
	struct call *c = arg;
	c->rc = iReadCardBas(c->type, c->out);
	return NULL;
}

/* A line of standard input without its newline into buf; false at the end. */
static int line_in(char *buf, size_t n)
{
	if (!fgets(buf, (int)n, stdin))
		return 0;
	buf[strcspn(buf, "\r\n")] = 0;
	return 1;
}

/* -U / -R [-H] [ITYPE]: card-spec §10 through the library. */
static int pin_key(int argc, char **argv)
{
	char out[SSCARD_OUT_MAX] = "", a[16], b[16], mac[80];
	int reload = !strcmp(argv[1], "-R"), hsm = argc > 2 && !strcmp(argv[2], "-H");
	int type = argc > 2 + hsm ? atoi(argv[2 + hsm]) : 3;
	long rc;
	if (reload) { /* the new PIN twice, as "NEW|NEW|" in pOutInfo on entry */
		if (!line_in(a, sizeof a) || !line_in(b, sizeof b))
			return 2;
		snprintf(out, sizeof out, "%s|%s|", a, b);
		memset(a, 0, sizeof a);
		memset(b, 0, sizeof b);
	}
	if (!hsm) {
		rc = reload ? iReloadPIN(type, out) : iUnblockPIN(type, out);
		printf("%ld %s\n", rc, out);
		return rc != 0;
	}
	rc = reload ? iReloadPIN_HSM_Step1(type, out) : iUnblockPIN_HSM_Step1(type, out);
	printf("%ld %s\n", rc, out);
	fflush(stdout);
	if (rc != 0 || !line_in(mac, sizeof mac))
		return 1;
	rc = reload ? iReloadPIN_HSM_Step2(mac, out) : iUnblockPIN_HSM_Step2(mac, out);
	printf("%ld %s\n", rc, out);
	return rc != 0;
}

int main(int argc, char **argv)
{
	int threads = 1, a = 1;
	if (argc > 2 && !strcmp(argv[1], "-p") && (!strcmp(argv[2], "verify") || !strcmp(argv[2], "change"))) {
		char out[SSCARD_OUT_MAX];
		int type = argc > 3 ? atoi(argv[3]) : 3;
		long rc = !strcmp(argv[2], "change") ? iChangePIN(type, out) : iVerifyPIN(type, out);
		printf("%ld %s\n", rc, out);
		return rc != 0;
	}
	if (argc > 1 && (!strcmp(argv[1], "-U") || !strcmp(argv[1], "-R")))
		return pin_key(argc, argv);
	if (argc > 1 && !strcmp(argv[1], "-H")) {
		char out[SSCARD_OUT_MAX], key[80] = "";
		long rc = iReadCardBas_HSM_Step1(argc > 2 ? atoi(argv[2]) : 3, out);
		printf("%ld %s\n", rc, out);
		fflush(stdout);
		if (rc != 0 || !fgets(key, sizeof key, stdin))
			return 1;
		key[strcspn(key, "\r\n")] = 0;
		rc = iReadCardBas_HSM_Step2(key, out);
		printf("%ld %s\n", rc, out);
		return rc != 0;
	}
	if (argc > 2 && !strcmp(argv[1], "-t")) {
		threads = atoi(argv[2]);
		a = 3;
	}
	int type = argc > a ? atoi(argv[a]) : 3;
	if (threads < 1 || threads > 64) {
		fprintf(stderr, "usage: example-readcard [-t THREADS] [ITYPE] | -p verify|change [ITYPE] | "
				"-H [ITYPE] | -U [-H] [ITYPE] | -R [-H] [ITYPE]\n");
		return 2;
	}
	struct call *c = calloc((size_t)threads, sizeof *c);
	if (!c)
		return 1;
	for (int i = 0; i < threads; i++) {
		c[i].type = type;
		if (pthread_create(&c[i].th, NULL, one, &c[i]))
			return 1;
	}
	int bad = 0;
	for (int i = 0; i < threads; i++) {
		pthread_join(c[i].th, NULL);
		printf("%ld %s\n", c[i].rc, c[i].out);
		bad |= c[i].rc != 0;
	}
	if (threads == 1 && c[0].rc == 0) { /* the fields, as a HIS splits them */
		char *s = c[0].out, *bar;
		for (size_t f = 0; f < sizeof NAMES / sizeof NAMES[0] && (bar = strchr(s, '|')); f++) {
			printf("  %s: %.*s\n", NAMES[f], (int)(bar - s), s);
			s = bar + 1;
		}
	}
	free(c);
	return bad;
}
