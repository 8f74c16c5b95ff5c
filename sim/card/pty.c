/* pty.c — see pty.h. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <termios.h>
#include <unistd.h>

#include "sim/card/pty.h"

int sim_pty_open(char *name, size_t cap, int *slave)
{
	int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (m < 0 || grantpt(m) || unlockpt(m) || ptsname_r(m, name, cap))
		return -1;
	*slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	struct termios t;
	if (*slave < 0 || tcgetattr(*slave, &t))
		return -1;
	cfmakeraw(&t);
	tcsetattr(*slave, TCSANOW, &t);
	return m;
}

int sim_pty_link(const char *name, const char *link)
{
	char tmp[300];
	snprintf(tmp, sizeof tmp, "%s.tmp", link);
	unlink(tmp);
	return symlink(name, tmp) || rename(tmp, link) ? -1 : 0;
}

int sim_pty_start(const char *prog, const char *link, void (*handler)(int), int *slave)
{
	char name[128];
	struct sigaction sa = {.sa_handler = handler};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
	int m = sim_pty_open(name, sizeof name, slave);
	if (m < 0) {
		fprintf(stderr, "%s: pty: ", prog);
		perror(NULL);
		return -1;
	}
	if (link && sim_pty_link(name, link) < 0) {
		fprintf(stderr, "%s: link %s: ", prog, link);
		perror(NULL);
		return -1;
	}
	printf("%s\n", name);
	fflush(stdout);
	return m;
}
