/* tlsauth.c — see tlsauth.h. */
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/central/tlsauth.h"

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *b = NULL;
	size_t n = 0;
	if (!f)
		return NULL;
	if (getdelim(&b, &n, 0, f) < 0) {
		free(b);
		b = NULL;
	}
	fclose(f);
	return b;
}

const char *tlsauth_trust(void)
{
	static char *ca;
	static int done;
	const char *p = getenv("SSCARD_CENTRAL_CLIENT_CA");
	if (!done && p && *p)
		ca = slurp(p);
	done = 1;
	return ca;
}

/* Whether serial (hex) is in the revocation list file. */
static int revoked(const char *serial)
{
	const char *p = getenv("SSCARD_CENTRAL_REVOKED");
	char line[256];
	int hit = 0;
	FILE *f = p && *p ? fopen(p, "r") : NULL;
	while (f && !hit && fgets(line, sizeof line, f)) {
		line[strcspn(line, "\r\n \t")] = 0;
		const char *a = line, *b = serial;
		while (*a == '0' && a[1]) /* leading zeros do not count */
			a++;
		while (*b == '0' && b[1])
			b++;
		hit = *a && !strcasecmp(a, b);
	}
	if (f)
		fclose(f);
	return hit;
}

const char *tlsauth_check(struct MHD_Connection *c, int *status, char *msg, size_t ml)
{
	if (!tlsauth_trust())
		return NULL;
	*status = 403;
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	gnutls_session_t s = ci ? (gnutls_session_t)ci->tls_session : NULL;
	unsigned list_size = 0, verdict = 0;
	const gnutls_datum_t *peers = s ? gnutls_certificate_get_peers(s, &list_size) : NULL;
	if (!peers || !list_size) {
		snprintf(msg, ml, "This terminal sent no client certificate.");
		return "certificate_required";
	}
	if (gnutls_certificate_verify_peers2(s, &verdict) < 0 || verdict) {
		if (verdict & GNUTLS_CERT_EXPIRED) {
			snprintf(msg, ml, "This terminal's certificate has expired.");
			return "certificate_expired";
		}
		if (verdict & GNUTLS_CERT_NOT_ACTIVATED) {
			snprintf(msg, ml, "This terminal's certificate is not valid yet.");
			return "certificate_invalid";
		}
		snprintf(msg, ml, "This terminal's certificate was not issued by the central's CA.");
		return "certificate_invalid";
	}
	gnutls_x509_crt_t crt;
	char cn[128] = "", serial_hex[80] = "";
	unsigned char serial[40];
	size_t cn_len = sizeof cn - 1, serial_len = sizeof serial;
	if (gnutls_x509_crt_init(&crt) < 0)
		return snprintf(msg, ml, "out of memory"), *status = 500, "internal";
	int bad = gnutls_x509_crt_import(crt, &peers[0], GNUTLS_X509_FMT_DER) < 0 ||
		  gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, cn, &cn_len) < 0 ||
		  gnutls_x509_crt_get_serial(crt, serial, &serial_len) < 0;
	gnutls_x509_crt_deinit(crt);
	if (bad) {
		snprintf(msg, ml, "This terminal's certificate has no readable name or serial number.");
		return "certificate_invalid";
	}
	cn[cn_len < sizeof cn ? cn_len : sizeof cn - 1] = 0;
	for (size_t i = 0; i < serial_len && 2 * i + 2 < sizeof serial_hex; i++)
		snprintf(serial_hex + 2 * i, 3, "%02X", serial[i]);
	if (revoked(serial_hex)) {
		snprintf(msg, ml, "This terminal's certificate (serial %s) has been revoked.", serial_hex);
		return "certificate_revoked";
	}
	const char *tid = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Terminal-Id");
	if (!tid || strcmp(tid, cn)) {
		snprintf(msg, ml, "The certificate is terminal %s's, not %s's.", cn, tid ? tid : "(none named)");
		return "terminal_mismatch";
	}
	return NULL;
}
