/* certinfo.h — what the terminal's own client certificate ([upstream]
 * client_cert) says: its subject and when it expires, for status, metrics
 * and the warning 30 days before. */
#ifndef SSCARD_CERTINFO_H
#define SSCARD_CERTINFO_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#define CERT_WARN_DAYS 30

struct cert_info {
	bool ok;
	char subject[160];           /* the CN, the terminal's id */
	int64_t not_after;           /* Unix time */
	char error[200];
};

/* Read the PEM certificate at path; ok false with a sentence in error. */
void cert_info_load(const char *path, struct cert_info *ci);
/* Whole days from now until it expires (negative: expired). */
long cert_days_left(const struct cert_info *ci, int64_t now);

#endif
