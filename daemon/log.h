/* log.h — the daemon's log: the journal, stderr or syslog (log.c).
 * Never pass a PIN; mask SSNs, names and card ids (mask.h) before logging. */
#ifndef SSCARD_LOG_H
#define SSCARD_LOG_H

#include <syslog.h>

void log_init(int level, int use_syslog);
void log_set_level(int level);
/* log_init's use_syslog, for a child process that logs the same way. */
int log_uses_syslog(void);
int log_get_level(void);
/* "error" … "debug" → syslog priority, or -1; and back. */
int log_level_parse(const char *name);
const char *log_level_name(int level);
__attribute__((format(printf, 2, 3))) void log_msg(int prio, const char *fmt, ...);
/* The same with structured fields (SSCARD_READER=, SSCARD_ERROR=) in the
 * journal; either may be NULL. */
__attribute__((format(printf, 4, 5))) void log_at(int prio, const char *reader, const char *code,
						 const char *fmt, ...);

#endif
