/* tlsauth.h — terminal identity by client certificate at the reference
 * central. With SSCARD_CENTRAL_CLIENT_CA (a PEM file, also given to
 * libmicrohttpd as the trust for client certificates) every request must
 * come with a certificate that CA signed, that has not expired, whose
 * serial number is not in SSCARD_CENTRAL_REVOKED (the issuer's revocation
 * list: one hexadecimal serial number a line), and whose subject CN is the
 * X-Terminal-Id the request names. */
#ifndef SSCARD_TLSAUTH_H
#define SSCARD_TLSAUTH_H

#include <microhttpd.h>
#include <stddef.h>

/* Whether client certificates are asked for (the CA file's text, or NULL). */
const char *tlsauth_trust(void);
/* NULL: the caller may go on. Else the error code, and the HTTP status and
 * a sentence in *status and msg. */
const char *tlsauth_check(struct MHD_Connection *c, int *status, char *msg, size_t ml);

#endif
