/* fuzz_api.c — the kiosk API's JSON and the flows behind it: every line of
 * the input is a page request (parsed as web.c parses bodies, then given
 * to flow_action), an answer from below (card, PIN, central; first byte
 * R/P/C), a card event (E) or a clock tick (T); Host and Origin checks see
 * every line too. Nothing may crash, leak or leave a step without a
 * deadline where one is due. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/config.h"
#include "daemon/kiosk/flow.h"
#include "daemon/web/web.h"

static uint64_t clock_ms = 1000, tag_read, tag_pin, tag_central;
static uint64_t f_now(void *a) { return clock_ms; }
static int64_t f_wall(void *a) { return 1795400000; }
static void f_read(void *a, const char *r, uint64_t t) { tag_read = t; }
static void f_pin(void *a, const char *r, const char *o, const char *n, uint64_t t) { tag_pin = t; }
static void f_central(void *a, const char *p, json_t *b, uint64_t t) { tag_central = t; }
static enum ss_err f_submit(void *a, const char *type, const char *card, json_t *fields,
			    struct outbox_receipt *r, char *err, size_t n)
{
	memset(r, 0, sizeof *r);
	snprintf(r->reference, sizeof r->reference, "R0000-0001");
	return card[0] == '0' ? SS_E_OUTBOX : SS_OK;
}
static json_t *f_list(void *a) { return json_object(); }

static const struct flow_ops OPS = {.now_ms = f_now, .wall_s = f_wall, .card_read = f_read,
				    .pin = f_pin, .central = f_central, .submit = f_submit,
				    .list_state = f_list};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct config cfg;
	static int init;
	char err[300], line[WEB_BODY_MAX + 2];
	if (!init) {
		config_defaults(&cfg);
		init = 1;
	}
	struct flow *f = flow_new(&cfg, &OPS);
	const char *p = (const char *)data, *end = p + size;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = (size_t)((nl ? nl : end) - p);
		if (n > WEB_BODY_MAX + 1)
			n = WEB_BODY_MAX + 1;
		memcpy(line, p, n);
		line[n] = 0;
		p = nl ? nl + 1 : end;
		(void)web_host_ok("127.0.0.1:8470", line);
		(void)web_origin_ok("[::1]:8470", line);
		json_t *j = n > 1 ? json_loads(line + 1, 0, NULL) : NULL;
		switch (n ? line[0] : 0) {
		case 'R': flow_on_card(f, tag_read, j); break;
		case 'P': flow_on_pin(f, tag_pin, j); break;
		case 'C': flow_on_central(f, tag_central, n > 1 ? (long)(uint8_t)line[1] * 3 : 0, j, "x"); break;
		case 'E': flow_card_event(f, n > 1 && line[1] == '1' ? "B" : "A", n > 2 && line[2] == '1'); break;
		case 'T':
			clock_ms += 100000;
			flow_timeout(f);
			break;
		default: {
			json_t *b = web_parse_body(line, n, err, sizeof err);
			if (b)
				(void)flow_action(f, b, err, sizeof err);
			json_decref(b);
		}
		}
		json_decref(j);
		json_t *v = flow_view(f);
		if (!v)
			abort();
		json_decref(v);
		free(flow_receipt_text(f));
		if (flow_step(f) != ST_HOME && flow_deadline(f) == 0)
			abort(); /* every step but home ends by itself */
	}
	flow_free(f);
	return 0;
}
