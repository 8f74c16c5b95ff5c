/* qrsvg.c — see qrsvg.h. */
#include "daemon/kiosk/qrsvg.h"

#include <qrencode.h>
#include <stdio.h>
#include <stdlib.h>

#define QUIET 4

char *qr_svg(const char *text)
{
	QRcode *q = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
	if (!q)
		return NULL;
	int n = q->width + 2 * QUIET;
	char *out = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&out, &len);
	if (!m) {
		QRcode_free(q);
		return NULL;
	}
	fprintf(m, "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" shape-rendering=\"crispEdges\">"
		   "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/><path fill=\"#000\" d=\"",
		n, n, n, n);
	for (int y = 0; y < q->width; y++)
		for (int x = 0; x < q->width; x++)
			if (q->data[y * q->width + x] & 1)
				fprintf(m, "M%d %dh1v1h-1z", x + QUIET, y + QUIET);
	fprintf(m, "\"/></svg>");
	QRcode_free(q);
	if (fclose(m) != 0) {
		free(out);
		return NULL;
	}
	return out;
}
