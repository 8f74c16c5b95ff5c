/* config.h — sscard.conf: INI, every key documented in config/sscard.conf.
 * Bad keys or values are reported as "FILE:LINE: what is wrong". */
#ifndef SSCARD_CONFIG_H
#define SSCARD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#define CFG_PATTERNS_MAX 16
#define CFG_DEFAULT_FILE "/etc/sscard/sscard.conf"
#define CFG_EX_CONFIG 78   /* EX_CONFIG from sysexits.h */

struct config {
	/* [daemon] */
	char socket[108];
	char state_dir[256];
	int log_level;                 /* syslog priority: 3 error … 7 debug */
	char terminal_id[33];
	/* [readers] */
	bool pcsc;
	char include[CFG_PATTERNS_MAX][128];
	size_t n_include;
	char exclude[CFG_PATTERNS_MAX][128];
	size_t n_exclude;
	unsigned read_timeout_ms;
	unsigned card_hold_ms;
};

void config_defaults(struct config *c);
/* Load file into c (defaults first). 0 on success; otherwise -1 with
 * "FILE:LINE: what is wrong" in err. A missing file is an error only when
 * must_exist. */
int config_load(struct config *c, const char *file, bool must_exist, char *err, size_t errlen);
/* Whether a reader name passes [readers] include/exclude (fnmatch globs). */
bool config_reader_wanted(const struct config *c, const char *reader);

#endif
