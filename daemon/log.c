/* log.c — levelled logging: the journal with structured fields when stderr
 * is connected to it (JOURNAL_STREAM), else "<N>message" lines on stderr
 * (journald and sd-daemon(3) keep the priority), or syslog when detached.
 * Callers mask personal data first (mask.h) and never pass a PIN. */
#include "daemon/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-journal.h>

static int max_level = LOG_INFO;
static enum { TO_STDERR, TO_SYSLOG, TO_JOURNAL } sink;

/* systemd sets JOURNAL_STREAM=DEV:INODE of the stream it gave us. */
static int stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2 || fstat(2, &st) < 0)
		return 0;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_init(int level, int use_syslog)
{
	max_level = level;
	sink = use_syslog ? TO_SYSLOG : stderr_is_journal() ? TO_JOURNAL : TO_STDERR;
	if (sink == TO_SYSLOG)
		openlog("sscardd", LOG_PID, LOG_DAEMON);
}

int log_uses_syslog(void)
{
	return sink == TO_SYSLOG;
}

void log_set_level(int level)
{
	max_level = level;
}

int log_get_level(void)
{
	return max_level;
}

static const char *const level_names[] = {"error", "warning", "notice", "info", "debug"};

int log_level_parse(const char *name)
{
	for (int i = 0; i < 5; i++)
		if (!strcmp(name, level_names[i]))
			return LOG_ERR + i;
	return -1;
}

const char *log_level_name(int level)
{
	return level >= LOG_ERR && level <= LOG_DEBUG ? level_names[level - LOG_ERR] : "?";
}

__attribute__((format(printf, 4, 0))) static void emit(int prio, const char *reader, const char *code,
						   const char *fmt, va_list ap)
{
	char line[1024];
	if (prio > max_level)
		return;
	vsnprintf(line, sizeof line, fmt, ap);
	switch (sink) {
	case TO_JOURNAL:
		sd_journal_send("MESSAGE=%s", line, "PRIORITY=%d", prio, "SYSLOG_IDENTIFIER=sscardd",
				"SSCARD_READER=%s", reader ? reader : "", "SSCARD_ERROR=%s",
				code ? code : "", NULL);
		break;
	case TO_SYSLOG:
		syslog(prio, "%s", line);
		break;
	case TO_STDERR:
		if (code)
			fprintf(stderr, "<%d>%s [%s]\n", prio, line, code);
		else
			fprintf(stderr, "<%d>%s\n", prio, line);
		break;
	}
}

void log_msg(int prio, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	emit(prio, NULL, NULL, fmt, ap);
	va_end(ap);
}

void log_at(int prio, const char *reader, const char *code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	emit(prio, reader, code, fmt, ap);
	va_end(ap);
}
