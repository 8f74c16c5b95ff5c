/* counter.c — the counter API on the web server (web.h): GET /api/v1/card
 * reads the card and answers with the reader API's codes (a listed card is
 * 409/-1001 without the holder's data), CORS preflights of listed pages. */
#include <stdlib.h>
#include <string.h>

#include "apdu/sserr.h"
#include "daemon/readers/readers.h"
#include "daemon/web/internal.h"

/* The counter API's error body: a name, the reader-API code of
 * client/sscard.h and a sentence. */
static json_t *counter_body(const char *error, long code, const char *message)
{
	return json_pack("{s:b,s:s,s:I,s:s}", "ok", 0, "error", error, "code", (json_int_t)code,
			 "message", message);
}

enum MHD_Result web_counter_fail(struct MHD_Connection *c, unsigned status, const char *error,
				 long code, const char *message, const char *origin)
{
	return web_send_json_to(c, status, counter_body(error, code, message), origin);
}

/* An error as counter software sees it: the name, the reader-API code of
 * client/sscard.h, a sentence. */
static json_t *counter_error(json_t *reply, unsigned *status)
{
	const char *name = json_string_value(json_object_get(reply, "error"));
	enum ss_err e = ss_err_from_name(name);
	long code = ss_err_api_code(e);
	switch (e) {
	case SS_E_NO_CARD:
	case SS_E_CARD_REMOVED: *status = 404; break;
	case SS_E_NOT_SSC:
	case SS_E_CARD_UNPOWERED: *status = 422; break;
	case SS_E_INVALID:
	case SS_E_UNKNOWN_READER: *status = 400; break;
	case SS_E_CARD_TIMEOUT: *status = 504; break;
	default: *status = 503;
	}
	json_t *j = json_pack("{s:b,s:s,s:I,s:O?}", "ok", 0, "error", name ? name : "reader_error", "code",
			      (json_int_t)code, "message", json_object_get(reply, "message"));
	json_t *reader = json_object_get(reply, "reader");
	if (j && reader)
		json_object_set(j, "reader", reader);
	return j;
}

/* The read's reply as the counter API's answer. A card on the loss list
 * is refused (409, code -1001) with the loss, without the holder's data. */
static json_t *counter_answer(json_t *reply, unsigned *status)
{
	if (!json_is_true(json_object_get(reply, "ok")))
		return counter_error(reply, status);
	json_t *loss = json_object_get(reply, "loss");
	if (json_is_true(json_object_get(loss, "listed"))) {
		*status = 409;
		return json_pack("{s:b,s:s,s:i,s:s,s:O?,s:O?,s:O}", "ok", 0, "error", "card_listed", "code",
				 -1001, "message", "卡已挂失，请勿结算 / This card is reported lost: do not accept it.",
				 "card_id", json_object_get(reply, "card_id"), "reader",
				 json_object_get(reply, "reader"), "loss", loss);
	}
	*status = 200;
	json_t *j = json_deep_copy(reply);
	json_object_set_new(j, "code", json_integer(0));
	return j;
}

static void on_card(void *cookie, json_t *reply)
{
	struct req *rq = cookie;
	struct web *w = rq->w;
	rq->answer = counter_answer(reply, &rq->status);
	if (!rq->answer) {
		rq->status = 500;
		rq->answer = counter_body("out_of_memory", -11, ss_err_text(SS_E_NOMEM));
	}
	for (struct req **pp = &w->reads; *pp; pp = &(*pp)->next)
		if (*pp == rq) {
			*pp = rq->next;
			break;
		}
	rq->reading = false;
	if (rq->suspended) {
		rq->suspended = false;
		MHD_resume_connection(rq->c);
		web_kick(w);
	}
}

/* GET /api/v1/card[?type=1..4|reader=NAME]: read the card (reader-API
 * iType: 1 contact, 2 contactless, 3 either contact first, 4 either
 * contactless first). The answer comes when the card is read. */
enum MHD_Result web_card_read(struct web *w, struct MHD_Connection *c, struct req *rq,
			      const char *origin)
{
	static const char *const sel[] = {"@contact", "@contactless", "@contact-first",
					  "@contactless-first"};
	if (rq->answer) {
		json_t *a = rq->answer;
		rq->answer = NULL;
		return web_send_json_to(c, rq->status, a, origin);
	}
	if (rq->reading) /* resumed without an answer: cannot happen; wait on */
		return MHD_YES;
	const char *type = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "type");
	const char *reader = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "reader");
	if (type && (strlen(type) != 1 || type[0] < '1' || type[0] > '4'))
		return web_counter_fail(c, 400, "invalid_argument", -1004,
				    "type must be 1 (contact), 2 (contactless), 3 or 4 (either).", origin);
	if (!w->rd)
		return web_counter_fail(c, 503, "no_reader", -11, ss_err_text(SS_E_NO_READER), origin);
	rq->w = w;
	rq->c = c;
	rq->reading = true;
	rq->next = w->reads;
	w->reads = rq;
	readers_read(w->rd, type ? sel[type[0] - '1'] : reader && *reader ? reader : NULL, rq, on_card);
	if (rq->answer) /* answered at once (no card, no reader) */
		return web_card_read(w, c, rq, origin);
	rq->suspended = true;
	MHD_suspend_connection(c);
	return MHD_YES;
}

/* A CORS preflight from a counter page (Chromium sends one, with
 * Access-Control-Request-Private-Network, before a page on the network
 * may call this loopback service). */
enum MHD_Result web_preflight(struct MHD_Connection *c, const char *origin)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	web_cors(r, origin);
	MHD_add_response_header(r, "Access-Control-Allow-Methods", "GET");
	MHD_add_response_header(r, "Access-Control-Max-Age", "600");
	if (MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Access-Control-Request-Private-Network"))
		MHD_add_response_header(r, "Access-Control-Allow-Private-Network", "true");
	enum MHD_Result rv = MHD_queue_response(c, 204, r);
	MHD_destroy_response(r);
	return rv;
}
