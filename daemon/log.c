/* log.c — levelled logging with sd-daemon priority prefixes on stderr. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>

static int max_level = LOG_INFO;
static int to_syslog;

void log_init(int level, int use_syslog)
{
	max_level = level;
	to_syslog = use_syslog;
	if (use_syslog)
		openlog("sscardd", LOG_PID, LOG_DAEMON);
}

void log_set_level(int level)
{
	max_level = level;
}

void log_msg(int prio, const char *fmt, ...)
{
	va_list ap;
	if (prio > max_level)
		return;
	va_start(ap, fmt);
	if (to_syslog)
		vsyslog(prio, fmt, ap);
	else {
		char line[1024];
		vsnprintf(line, sizeof line, fmt, ap);
		/* "<N>" lets journald keep the priority (sd-daemon(3)). */
		fprintf(stderr, "<%d>%s\n", prio, line);
	}
	va_end(ap);
}
