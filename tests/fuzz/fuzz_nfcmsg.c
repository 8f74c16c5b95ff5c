/* fuzz_nfcmsg.c — the NFC helper's channel: whatever bytes arrive as a
 * helper message, nfcmsg_check accepts only what holds together, and what
 * it accepts is used (the read's JSON, masked too, the loss verdict, a
 * trace line) without a sanitizer report. The helper runs libnfc: a fault
 * or a compromise there must stay there. */
#include <stdint.h>
#include <string.h>

#include "daemon/json.h"
#include "daemon/losslist/losslist.h"
#include "daemon/readers/nfcmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct nfcd_ans a;
	char why[160];
	memset(&a, 0, sizeof a);
	/* the first bytes choose the kind, the rest fill the message as sent */
	a.magic = NFCD_MAGIC;
	if (size > 0) {
		a.kind = 1 + data[0] % 6;
		data++, size--;
	}
	memcpy((uint8_t *)&a + 8, data, size < sizeof a - 8 ? size : sizeof a - 8);
	if (!nfcmsg_check(&a, why, sizeof why))
		return 0;
	if (a.kind == NFCD_DONE || a.kind == NFCD_PIN_DONE) {
		json_t *j = json_read_result("NFC pn532_uart:/dev/x", "contactless", a.atr, a.atr_len, &a.card,
					     a.elapsed_ms);
		if (j) {
			json_object_set_new(j, "loss", json_loss(a.loss_rc, &a.loss, &a.loss_info, 3600));
			json_t *m = json_masked_copy(j);
			char *s = json_dumps(m, 0);
			free(s);
			json_decref(m);
			json_decref(j);
		}
	} else if (a.kind == NFCD_EVENT) {
		json_t *j = json_pack("{s:s,s:o}", "reader", a.ev.reader, "atr", json_hex(a.ev.atr, a.ev.atr_len));
		json_decref(j);
	}
	return 0;
}
