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
				"-H [ITYPE]\n");
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
