/* qrsvg.h — a QR code as SVG (libqrencode), for the kiosk's payment
 * screen: drawn by the daemon, nothing from a JavaScript package or the
 * network. */
#ifndef SSCARD_QRSVG_H
#define SSCARD_QRSVG_H

/* text (a payment URL) as an SVG document, one path of dark modules on
 * white with the 4-module quiet zone, error correction M; malloc'd, NULL
 * when it cannot be encoded. */
char *qr_svg(const char *text);

#endif
