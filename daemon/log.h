/* log.h — the daemon's log: stderr (foreground, systemd) or syslog.
 * Never pass a PIN; mask SSNs, names and card ids (mask.h) before logging. */
#ifndef SSCARD_LOG_H
#define SSCARD_LOG_H

#include <syslog.h>

void log_init(int level, int use_syslog);
void log_set_level(int level);
__attribute__((format(printf, 2, 3))) void log_msg(int prio, const char *fmt, ...);

#endif
