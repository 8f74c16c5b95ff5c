/* certinfo.c — see certinfo.h (GnuTLS reads the certificate). */
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <string.h>

#include "daemon/certinfo.h"

void cert_info_load(const char *path, struct cert_info *ci)
{
	gnutls_datum_t pem = {0};
	gnutls_x509_crt_t crt = NULL;
	memset(ci, 0, sizeof *ci);
	int rv = gnutls_load_file(path, &pem);
	if (rv < 0) {
		snprintf(ci->error, sizeof ci->error, "cannot read %s", path);
		return;
	}
	size_t n = sizeof ci->subject - 1;
	if ((rv = gnutls_x509_crt_init(&crt)) < 0 ||
	    (rv = gnutls_x509_crt_import(crt, &pem, GNUTLS_X509_FMT_PEM)) < 0) {
		snprintf(ci->error, sizeof ci->error, "%s is not a PEM certificate: %s", path, gnutls_strerror(rv));
	} else {
		if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, ci->subject, &n) < 0)
			ci->subject[0] = 0;
		ci->not_after = (int64_t)gnutls_x509_crt_get_expiration_time(crt);
		ci->ok = ci->not_after > 0;
		if (!ci->ok)
			snprintf(ci->error, sizeof ci->error, "%s has no expiry date", path);
	}
	if (crt)
		gnutls_x509_crt_deinit(crt);
	gnutls_free(pem.data);
}

long cert_days_left(const struct cert_info *ci, int64_t now)
{
	int64_t s = ci->not_after - now;
	return (long)(s >= 0 ? s / 86400 : -((-s + 86399) / 86400));
}
