/* pty.c — see pty.h. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

void sim_pty_take(int master, uint8_t *in, size_t *len, size_t cap, bool (*frame)(void))
{
	ssize_t k = read(master, in + *len, cap - *len);
	if (k <= 0) {
		if (k < 0 && (errno == EINTR || errno == EAGAIN || errno == EIO))
			usleep(10000); /* EIO: no one has the slave open now */
		return;
	}
	*len += (size_t)k;
	while (frame())
		;
	if (*len == cap)
		*len = 0; /* a flood of junk: start over */
}

void sim_pty_put(int master, const uint8_t *b, size_t n)
{
	while (n) {
		ssize_t k = write(master, b, n);
		if (k < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				usleep(1000);
				continue;
			}
			return;
		}
		b += k;
		n -= (size_t)k;
	}
}

bool sim_take_lines(int fd, char *buf, size_t cap, size_t *len, void (*each)(char *line))
{
	ssize_t k = read(fd, buf + *len, cap - 1 - *len);
	if (k <= 0)
		return k < 0 && errno == EINTR;
	*len += (size_t)k;
	buf[*len] = 0;
	char *nl;
	while ((nl = strchr(buf, '\n'))) {
		*nl = 0;
		each(buf);
		size_t used = (size_t)(nl + 1 - buf);
		memmove(buf, nl + 1, *len - used + 1);
		*len -= used;
	}
	if (*len == cap - 1)
		*len = 0; /* a line too long for anyone: dropped */
	return true;
}
