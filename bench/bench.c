/* bench.c — see bench.h. */
#include "bench/bench.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

const char *const BENCH_SCRIPT[BENCH_N_SCRIPT] = {
	"00A404000F7378312E73682EC9E7BBE1B1A3D5CF",
	"00B2012812", "00B2022803", "00B2032806", "00B204280E", "00B2052806", "00B2062806",
	"00B207280B", "00B2083014", "00B2093020", "00B24E3016", "00B20A3003", "00B20B3003",
	"00B20C3005", "00B20D3006",
};

double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int dial(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		perror("bench: connect to sscardd");
		exit(1);
	}
	return fd;
}

double daemon_read(int fd, const char *reader, long *apdus, double *card_ms)
{
	char req[256], buf[8192];
	size_t have = 0;
	snprintf(req, sizeof req, "read %s\n", reader);
	double t0 = now_ms();
	if (write(fd, req, strlen(req)) < 0)
		return -1;
	while (!memchr(buf, '\n', have)) {
		ssize_t n = read(fd, buf + have, sizeof buf - 1 - have);
		if (n <= 0)
			return -1;
		have += (size_t)n;
	}
	double t = now_ms() - t0;
	buf[have] = 0;
	json_t *j = json_loads(buf, JSON_DISABLE_EOF_CHECK, NULL);
	if (!j || !json_is_true(json_object_get(j, "ok"))) {
		fprintf(stderr, "bench: sscardd's read failed: %s\n", buf);
		json_decref(j);
		return -1;
	}
	*apdus = (long)json_integer_value(json_object_get(j, "apdus"));
	*card_ms = json_real_value(json_object_get(j, "elapsed_ms"));
	json_decref(j);
	return t;
}

int bench_ab(double (*bare)(void *), void *arg, const char *bare_label, int bare_apdus, int fd,
	     const char *reader, int rounds)
{
	long apdus = 0;
	double *a = calloc((size_t)rounds, sizeof *a), *b = calloc((size_t)rounds, sizeof *b);
	double *c = calloc((size_t)rounds, sizeof *c);
	int rc = 1;
	if (!a || !b || !c || rounds < 5)
		goto out;
	for (int i = 0; i < 3; i++) /* warm up both paths */
		if (bare(arg) < 0 || daemon_read(fd, reader, &apdus, &c[0]) < 0)
			goto out;
	for (int i = 0; i < rounds; i++) {
		/* alternate which goes first, so neither always follows the other */
		if (i % 2) {
			a[i] = bare(arg);
			b[i] = daemon_read(fd, reader, &apdus, &c[i]);
		} else {
			b[i] = daemon_read(fd, reader, &apdus, &c[i]);
			a[i] = bare(arg);
		}
		if (a[i] < 0 || b[i] < 0)
			goto out;
	}
	qsort(a, (size_t)rounds, sizeof *a, cmp);
	qsort(b, (size_t)rounds, sizeof *b, cmp);
	qsort(c, (size_t)rounds, sizeof *c, cmp);
	double ma = a[rounds / 2], mb = b[rounds / 2];
	printf("  %-26s: %2d APDUs, median %7.3f ms, p90 %7.3f ms\n", bare_label, bare_apdus, ma,
	       a[rounds * 9 / 10]);
	printf("  %-26s: %2ld APDUs, median %7.3f ms, p90 %7.3f ms\n", "sscardd `read`", apdus, mb,
	       b[rounds * 9 / 10]);
	printf("    of which at the card    :            median %7.3f ms (the worker's own clock)\n",
	       c[rounds / 2]);
	printf("  ratio sscardd / bare (median): %.3f   (target <= 1.05), %d rounds each\n", mb / ma,
	       rounds);
	rc = 0;
out:
	free(a);
	free(b);
	free(c);
	return rc;
}
