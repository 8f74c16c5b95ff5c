/* test-flow.c — the kiosk flows' state machines, driven with fakes for
 * the card, the central, the outbox and the clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/config.h"
#include "daemon/kiosk/flow.h"

#define CARD "639900D15600000500BF7C7A48FB4966"
#define OTHER "639900D156000005001122334455667A"
#define SSN "111111198101011110"

/* What the flow asked for last, and what the fakes answer. */
struct fake {
	uint64_t now;
	uint64_t read_tag, pin_tag, central_tag;
	char reader[64];
	char pin_old[16], pin_new[16];
	int pin_calls;
	char path[128];
	json_t *body;
	int submits;
	char type[32], card[40];
	json_t *fields;
	enum ss_err submit_rc;
	int changes;
	uint64_t idcard_tag;
	int idcard_reads;
	const char *idcard_state;
	bool able;                  /* a PSAM or the HSM */
	int status_calls, pinkey_calls;
	char proof[64];
	bool pinkey_reload;
	char order_open[40], order_paid[40], order_closed[40];
	enum ss_err order_rc;
	json_t *order_fields;
} fk;

static uint64_t f_now(void *a) { return fk.now; }
static int64_t f_wall(void *a) { return 1795400000; }
static void f_read(void *a, const char *reader, uint64_t tag)
{
	fk.read_tag = tag;
	snprintf(fk.reader, sizeof fk.reader, "%s", reader);
}
static void f_pin(void *a, const char *reader, const char *o, const char *n, uint64_t tag)
{
	fk.pin_tag = tag;
	fk.pin_calls++;
	snprintf(fk.pin_old, sizeof fk.pin_old, "%s", o);
	snprintf(fk.pin_new, sizeof fk.pin_new, "%s", n ? n : "");
}
static void f_central(void *a, const char *path, json_t *body, uint64_t tag)
{
	fk.central_tag = tag;
	snprintf(fk.path, sizeof fk.path, "%s", path);
	json_decref(fk.body);
	fk.body = body ? json_deep_copy(body) : NULL;
}
static enum ss_err f_submit(void *a, const char *type, const char *card, json_t *fields,
			    struct outbox_receipt *r, char *err, size_t n)
{
	if (fk.submit_rc != SS_OK)
		return fk.submit_rc;
	fk.submits++;
	snprintf(fk.type, sizeof fk.type, "%s", type);
	snprintf(fk.card, sizeof fk.card, "%s", card);
	json_decref(fk.fields);
	fk.fields = json_deep_copy(fields);
	memset(r, 0, sizeof *r);
	snprintf(r->reference, sizeof r->reference, "R1123-%04d", fk.submits);
	return SS_OK;
}
static json_t *f_list(void *a)
{
	return json_pack("{s:i,s:b}", "version", 7, "stale", 0);
}
static void f_changed(void *a) { fk.changes++; }
static void f_idcard_read(void *a, uint64_t tag)
{
	fk.idcard_tag = tag;
	fk.idcard_reads++;
}
static const char *f_idcard_state(void *a) { return fk.idcard_state ? fk.idcard_state : "ready"; }

static void f_pin_status(void *a, const char *reader, uint64_t tag)
{
	fk.pin_tag = tag;
	fk.status_calls++;
}
static void f_pinkey(void *a, const char *reader, const char *n, const char *proof, uint64_t tag)
{
	fk.pin_tag = tag;
	fk.pinkey_calls++;
	fk.pinkey_reload = n != NULL;
	snprintf(fk.pin_new, sizeof fk.pin_new, "%s", n ? n : "");
	snprintf(fk.proof, sizeof fk.proof, "%s", proof ? proof : "");
}
static bool f_able(void *a) { return fk.able; }
static enum ss_err f_order_open(void *a, const char *id, const char *card, json_t *fields)
{
	snprintf(fk.order_open, sizeof fk.order_open, "%s", id);
	json_decref(fk.order_fields);
	fk.order_fields = json_deep_copy(fields);
	return fk.order_rc;
}
static enum ss_err f_order_paid(void *a, const char *id, const char *card, json_t *fields, struct outbox_receipt *r)
{
	snprintf(fk.order_paid, sizeof fk.order_paid, "%s", id);
	fk.submits++;
	snprintf(fk.type, sizeof fk.type, "replacement");
	memset(r, 0, sizeof *r);
	snprintf(r->reference, sizeof r->reference, "R1123-%04d", fk.submits);
	return SS_OK;
}
static void f_order_close(void *a, const char *id)
{
	snprintf(fk.order_closed, sizeof fk.order_closed, "%s", id);
}

static const struct flow_ops OPS = {.now_ms = f_now, .wall_s = f_wall, .card_read = f_read,
				    .pin = f_pin, .central = f_central, .submit = f_submit,
				    .list_state = f_list, .changed = f_changed,
				    .idcard_read = f_idcard_read, .idcard_state = f_idcard_state,
				    .pin_status = f_pin_status, .pinkey = f_pinkey, .pinkey_able = f_able,
				    .order_open = f_order_open, .order_paid = f_order_paid, .order_close = f_order_close};
static struct config cfg;

static int setup(void **s)
{
	json_decref(fk.body);
	json_decref(fk.fields);
	memset(&fk, 0, sizeof fk);
	fk.now = 1000;
	config_defaults(&cfg);
	snprintf(cfg.outlets, sizeof cfg.outlets, "East Hall; West Hall");
	struct flow *f = flow_new(&cfg, &OPS);
	assert_non_null(f);
	*s = f;
	return 0;
}

static int teardown(void **s)
{
	flow_free(*s);
	json_decref(fk.order_fields);
	fk.order_fields = NULL;
	json_decref(fk.body);
	json_decref(fk.fields);
	fk.body = fk.fields = NULL;
	return 0;
}

/* Send the page's request (JSON text); the return code. */
static enum ss_err act(struct flow *f, const char *text)
{
	char err[300];
	json_t *j = json_loads(text, 0, NULL);
	assert_non_null(j);
	enum ss_err e = flow_action(f, j, err, sizeof err);
	json_decref(j);
	return e;
}

static const char *step(struct flow *f)
{
	return flow_step_name(flow_step(f));
}

/* The view's error code, or "" */
static char errcode[64];
static const char *error_of(struct flow *f)
{
	json_t *v = flow_view(f);
	const char *c = json_string_value(json_object_get(json_object_get(v, "error"), "code"));
	snprintf(errcode, sizeof errcode, "%s", c ? c : "");
	json_decref(v);
	return errcode;
}

static void card_answer(struct flow *f, const char *json)
{
	json_t *j = json_loads(json, 0, NULL);
	flow_on_card(f, fk.read_tag, j);
	json_decref(j);
}

static void pin_answer(struct flow *f, const char *json)
{
	json_t *j = json_loads(json, 0, NULL);
	flow_on_pin(f, fk.pin_tag, j);
	json_decref(j);
}

static void central_answer(struct flow *f, long status, const char *json)
{
	json_t *j = json ? json_loads(json, 0, NULL) : NULL;
	flow_on_central(f, fk.central_tag, status, j, status ? "" : "connection refused");
	json_decref(j);
}

#define READ_OK "{\"ok\":true,\"card_id\":\"" CARD "\",\"name\":\"张三\",\"expiry_date\":\"2030-10-01\"," \
		"\"loss\":{\"listed\":false}}"

static void identified(struct flow *f)
{
	assert_int_equal(act(f, "{\"action\":\"input\",\"step\":\"identify\",\"ssn\":\"" SSN
				"\",\"name\":\"张三\"}"),
			 SS_OK);
	assert_string_equal(step(f), "busy");
	assert_string_equal(fk.path, "/v1/holders/lookup");
	central_answer(f, 200, "{\"cards\":[],\"otp_sent_to\":\"138****8000\"}");
	assert_string_equal(step(f), "otp");
	act(f, "{\"action\":\"input\",\"step\":\"otp\",\"code\":\"123456\"}");
	assert_string_equal(fk.path, "/v1/holders/verify");
	central_answer(f, 200, "{\"cards\":[{\"card_id\":\"" CARD "\",\"state\":\"normal\",\"card_number\":\"X00000019\"},"
			       "{\"card_id\":\"" OTHER "\",\"state\":\"cancelled\"}]}");
	assert_string_equal(step(f), "choose_card");
}

#define IDCARD(id, name, until, expired)                                                           \
	"{\"ok\":true,\"kind\":\"resident\",\"id_number\":\"" id "\",\"name\":\"" name             \
	"\",\"valid_until\":\"" until "\",\"expired\":" expired "}"

static void idcard(struct flow *f, uint64_t tag, const char *json)
{
	json_t *j = json_loads(json, 0, NULL);
	assert_non_null(j);
	flow_on_idcard(f, tag, j);
	json_decref(j);
}

/* The ID card on the reader identifies the holder: no one-time code. */
static void test_idcard_loss_report(void **s)
{
	struct flow *f = *s;
	act(f, "{\"action\":\"start\",\"flow\":\"loss_report\"}");
	assert_string_equal(step(f), "identify");
	/* the reader is asked at once: the card may be lying there already */
	assert_int_equal(fk.idcard_reads, 1);
	json_t *v = flow_view(f);
	assert_string_equal(json_string_value(json_object_get(json_object_get(v, "data"), "idcard")), "ready");
	json_decref(v);
	/* nothing there: the screen stays as it is, nothing said */
	idcard(f, fk.idcard_tag, "{\"ok\":false,\"error\":\"no_card\"}");
	assert_string_equal(step(f), "identify");
	assert_string_equal(error_of(f), "");
	/* an answer to a read of an older screen is dropped */
	idcard(f, 999, IDCARD(SSN, "张三", "2035-01-01", "false"));
	assert_string_equal(step(f), "identify");
	/* taken away mid-read, then an expired card, then another kind */
	idcard(f, 0, "{\"ok\":false,\"error\":\"card_removed\"}");
	assert_string_equal(error_of(f), "idcard_moved");
	idcard(f, 0, IDCARD("310101199003070027", "赵六", "2020-01-01", "true"));
	assert_string_equal(error_of(f), "idcard_expired");
	idcard(f, 0, "{\"ok\":true,\"kind\":\"foreign_permanent\"}");
	assert_string_equal(error_of(f), "idcard_kind");
	assert_string_equal(fk.path, ""); /* none of them reached the central */
	/* a card put on it now */
	idcard(f, 0, IDCARD(SSN, "张三", "long-term", "false"));
	assert_string_equal(step(f), "busy");
	assert_string_equal(fk.path, "/v1/holders/lookup");
	assert_string_equal(json_string_value(json_object_get(fk.body, "ssn")), SSN);
	assert_string_equal(json_string_value(json_object_get(fk.body, "name")), "张三");
	assert_string_equal(json_string_value(json_object_get(fk.body, "identified_by")), "idcard");
	central_answer(f, 200, "{\"identified_by\":\"idcard\",\"cards\":[{\"card_id\":\"" CARD
			       "\",\"state\":\"normal\"}]}");
	assert_string_equal(step(f), "choose_card");
	/* an ID card put on the reader now changes nothing */
	idcard(f, 0, IDCARD("310101199003070027", "赵六", "2030-01-01", "false"));
	assert_string_equal(step(f), "choose_card");
	act(f, "{\"action\":\"input\",\"step\":\"choose_card\",\"index\":0}");
	act(f, "{\"action\":\"input\",\"step\":\"loss_type\",\"loss\":\"formal\"}");
	v = flow_view(f);
	assert_true(json_is_true(json_object_get(json_object_get(v, "data"), "by_idcard")));
	json_decref(v);
	act(f, "{\"action\":\"input\",\"step\":\"confirm\",\"confirm\":true}");
	assert_string_equal(step(f), "receipt");
	assert_string_equal(fk.card, CARD);
	act(f, "{\"action\":\"done\"}");
	/* wiped: the next flow starts with nothing of it */
	act(f, "{\"action\":\"start\",\"flow\":\"loss_report\"}");
	v = flow_view(f);
	assert_null(json_object_get(json_object_get(v, "data"), "by_idcard"));
	assert_null(json_object_get(json_object_get(v, "data"), "name"));
	json_decref(v);
}

/* No one but the ID card reader can claim an ID card; a holder the central
 * does not know; a region that wants the code anyway; no reader. */
static void test_idcard_refusals(void **s)
{
	struct flow *f = *s;
	act(f, "{\"action\":\"start\",\"flow\":\"loss_report\"}");
	act(f, "{\"action\":\"input\",\"step\":\"identify\",\"ssn\":\"" SSN
	       "\",\"name\":\"张三\",\"identified_by\":\"idcard\",\"by_idcard\":true}");
	assert_null(json_object_get(fk.body, "identified_by"));
	/* a central that answers as if it were an ID card does not skip the code */
	central_answer(f, 200, "{\"identified_by\":\"idcard\",\"cards\":[],\"otp_sent_to\":\"138****8000\"}");
	assert_string_equal(step(f), "otp");
	act(f, "{\"action\":\"cancel\"}");
	/* an ID card whose holder the central does not know */
	act(f, "{\"action\":\"start\",\"flow\":\"loss_report\"}");
	idcard(f, fk.idcard_tag, IDCARD("110105200001010016", "钱七", "2028-01-01", "false"));
	central_answer(f, 404, "{\"error\":\"holder_not_found\"}");
	assert_string_equal(step(f), "identify");
	assert_string_equal(error_of(f), "idcard_unknown");
	act(f, "{\"action\":\"cancel\"}");
	/* the region wants the code even after an ID card */
	cfg.idcard_identifies = false;
	act(f, "{\"action\":\"start\",\"flow\":\"loss_report\"}");
	idcard(f, fk.idcard_tag, IDCARD(SSN, "张三", "2035-01-01", "false"));
	assert_null(json_object_get(fk.body, "identified_by"));
	central_answer(f, 200, "{\"cards\":[],\"otp_sent_to\":\"138****8000\"}");
	assert_string_equal(step(f), "otp");
	act(f, "{\"action\":\"cancel\"}");
	/* a reader that is not there is not asked */
	fk.idcard_state = "absent";
	int reads = fk.idcard_reads;
	act(f, "{\"action\":\"start\",\"flow\":\"replacement\"}");
	act(f, "{\"action\":\"input\",\"step\":\"replace_menu\",\"what\":\"apply\"}");
	assert_string_equal(step(f), "identify");
	assert_int_equal(fk.idcard_reads, reads);
	json_t *v = flow_view(f);
	assert_string_equal(json_string_value(json_object_get(json_object_get(v, "data"), "idcard")), "absent");
	json_decref(v);
}

/* What /metrics counts: flows started, and how each ended. */
static void test_stats(void **s)
{
	struct flow *f = *s;
	act(f, "{\"action\":\"start\",\"flow\":\"status\"}");
	act(f, "{\"action\":\"cancel\"}");
	act(f, "{\"action\":\"start\",\"flow\":\"loss_report\"}");
	fk.now += 10 * 60 * 1000;
	flow_timeout(f);
	assert_string_equal(step(f), "home");
	act(f, "{\"action\":\"start\",\"flow\":\"loss_report\"}");
	act(f, "{\"action\":\"input\",\"step\":\"identify\",\"ssn\":\"" SSN "\",\"name\":\"张三\"}");
	central_answer(f, 0, NULL); /* the central cannot be reached: refused */
	assert_string_equal(step(f), "error");
	act(f, "{\"action\":\"done\"}");
	const struct flow_stats *st = flow_stats(f);
	assert_int_equal(st->started[FLOW_STATUS], 1);
	assert_int_equal(st->started[FLOW_LOSS_REPORT], 2);
	assert_int_equal(st->finished[FLOW_STATUS][FLOW_CANCELLED], 1);
	assert_int_equal(st->finished[FLOW_LOSS_REPORT][FLOW_TIMED_OUT], 1);
	assert_int_equal(st->finished[FLOW_LOSS_REPORT][FLOW_REFUSED], 1);
	assert_int_equal(st->finished[FLOW_LOSS_REPORT][FLOW_COMPLETED], 0);
	assert_string_equal(flow_outcome_name(FLOW_TIMED_OUT), "timed_out");
}

static void test_loss_report(void **s)
{
	struct flow *f = *s;
	assert_int_equal(act(f, "{\"action\":\"start\",\"flow\":\"loss_report\"}"), SS_OK);
	assert_string_equal(step(f), "identify");
	/* a wrong check digit never leaves the terminal */
	act(f, "{\"action\":\"input\",\"step\":\"identify\",\"ssn\":\"111111198101011115\",\"name\":\"张三\"}");
	assert_string_equal(step(f), "identify");
	assert_string_equal(error_of(f), "check_digit");
	assert_string_equal(fk.path, "");
	/* a lower-case x is the same as X; a short number is a format error */
	act(f, "{\"action\":\"input\",\"step\":\"identify\",\"ssn\":\"12345\",\"name\":\"张三\"}");
	assert_string_equal(error_of(f), "ssn_format");
	identified(f);
	/* the cancelled card cannot be chosen */
	act(f, "{\"action\":\"input\",\"step\":\"choose_card\",\"index\":1}");
	assert_string_equal(error_of(f), "card_not_selectable");
	assert_int_equal(act(f, "{\"action\":\"input\",\"step\":\"choose_card\",\"index\":5}"), SS_E_INVALID);
	act(f, "{\"action\":\"input\",\"step\":\"choose_card\",\"index\":0}");
	assert_string_equal(step(f), "loss_type");
	act(f, "{\"action\":\"input\",\"step\":\"loss_type\",\"loss\":\"formal\"}");
	assert_string_equal(step(f), "confirm");
	assert_int_equal(fk.submits, 0);
	act(f, "{\"action\":\"input\",\"step\":\"confirm\",\"confirm\":true}");
	assert_string_equal(step(f), "receipt");
	assert_int_equal(fk.submits, 1);
	assert_string_equal(fk.type, "loss_report");
	assert_string_equal(fk.card, CARD);
	assert_string_equal(json_string_value(json_object_get(fk.fields, "loss")), "formal");
	/* the view is masked */
	json_t *v = flow_view(f);
	char *t = json_dumps(v, 0);
	assert_null(strstr(t, CARD));
	assert_null(strstr(t, SSN));
	/* 卡号: the number printed on the card, masked as cards are; never the chip id */
	assert_non_null(strstr(t, "X000****9"));
	assert_null(strstr(t, "6399**"));
	assert_non_null(strstr(t, "张*"));
	free(t);
	json_decref(v);
	char *r = flow_receipt_text(f);
	assert_non_null(strstr(r, "R1123-0001"));
	assert_non_null(strstr(r, "within 1 hour"));
	assert_null(strstr(r, CARD));
	free(r);
	/* delivered: the receipt says so */
	flow_outbox_event(f, "R1123-0001", true);
	v = flow_view(f);
	assert_string_equal(json_string_value(json_object_get(json_object_get(v, "data"), "delivery")),
			    "delivered");
	json_decref(v);
	act(f, "{\"action\":\"done\"}");
	assert_string_equal(step(f), "home");
	v = flow_view(f);
	t = json_dumps(v, 0);
	assert_null(strstr(t, "6399"));
	free(t);
	json_decref(v);
}

static void test_identity_limits(void **s)
{
	struct flow *f = *s;
	act(f, "{\"action\":\"start\",\"flow\":\"loss_report\"}");
	for (unsigned i = 1; i <= cfg.identity_retry_limit; i++) {
		act(f, "{\"action\":\"input\",\"step\":\"identify\",\"ssn\":\"" SSN "\",\"name\":\"李四\"}");
		central_answer(f, 404, "{\"error\":\"holder_not_found\"}");
		if (i < cfg.identity_retry_limit) {
			assert_string_equal(step(f), "identify");
			assert_string_equal(error_of(f), "holder_not_found");
		}
	}
	assert_string_equal(step(f), "error");
	assert_string_equal(error_of(f), "identity_limit");
	/* the error screen ends by itself */
	fk.now += FLOW_ERROR_SHOW_MS;
	flow_timeout(f);
	assert_string_equal(step(f), "home");
	/* OTP: wrong with tries, then none left */
	act(f, "{\"action\":\"start\",\"flow\":\"loss_report\"}");
	act(f, "{\"action\":\"input\",\"step\":\"identify\",\"ssn\":\"" SSN "\",\"name\":\"张三\"}");
	central_answer(f, 200, "{\"cards\":[]}");
	act(f, "{\"action\":\"input\",\"step\":\"otp\",\"code\":\"12\"}");
	assert_string_equal(error_of(f), "otp_format");
	act(f, "{\"action\":\"input\",\"step\":\"otp\",\"code\":\"000000\"}");
	central_answer(f, 403, "{\"error\":\"otp_wrong\",\"tries_left\":2}");
	assert_string_equal(step(f), "otp");
	assert_string_equal(error_of(f), "otp_wrong");
	act(f, "{\"action\":\"input\",\"step\":\"otp\",\"code\":\"000000\"}");
	central_answer(f, 403, "{\"error\":\"otp_wrong\",\"tries_left\":0}");
	assert_string_equal(error_of(f), "otp_limit");
	act(f, "{\"action\":\"done\"}");
	/* central down */
	act(f, "{\"action\":\"start\",\"flow\":\"loss_report\"}");
	act(f, "{\"action\":\"input\",\"step\":\"identify\",\"ssn\":\"" SSN "\",\"name\":\"张三\"}");
	central_answer(f, 0, NULL);
	assert_string_equal(error_of(f), "central_unreachable");
	assert_int_equal(fk.submits, 0);
}

static void start_card_flow(struct flow *f, const char *flow)
{
	char req[100];
	snprintf(req, sizeof req, "{\"action\":\"start\",\"flow\":\"%s\"}", flow);
	assert_int_equal(act(f, req), SS_OK);
	assert_string_equal(step(f), "insert_card");
	flow_card_event(f, "Virtual PCD 00 00", true);
	assert_string_equal(step(f), "busy");
	assert_string_equal(fk.reader, "Virtual PCD 00 00");
	card_answer(f, READ_OK);
}

static void test_activation(void **s)
{
	struct flow *f = *s;
	start_card_flow(f, "activation");
	assert_string_equal(fk.path, "/v1/cards/" CARD);
	central_answer(f, 200, "{\"state\":\"sealed\"}");
	assert_string_equal(step(f), "pin");
	act(f, "{\"action\":\"input\",\"step\":\"pin\",\"pin\":\"12a456\"}");
	assert_string_equal(error_of(f), "pin_format");
	act(f, "{\"action\":\"input\",\"step\":\"pin\",\"pin\":\"123456\"}");
	assert_string_equal(fk.pin_new, ""); /* VERIFY */
	pin_answer(f, "{\"ok\":true}");
	assert_string_equal(step(f), "new_pin");
	static const char *weak[][2] = {{"123456", "pin_initial"}, {"777777", "pin_all_same"},
					{"345678", "pin_straight"}, {"12345", "pin_length"}};
	for (size_t i = 0; i < 4; i++) {
		char req[120];
		snprintf(req, sizeof req, "{\"action\":\"input\",\"step\":\"new_pin\",\"pin\":\"%s\"}",
			 weak[i][0]);
		act(f, req);
		assert_string_equal(step(f), "new_pin");
		assert_string_equal(error_of(f), weak[i][1]);
	}
	act(f, "{\"action\":\"input\",\"step\":\"new_pin\",\"pin\":\"802413\"}");
	assert_string_equal(step(f), "new_pin_again");
	act(f, "{\"action\":\"input\",\"step\":\"new_pin_again\",\"pin\":\"802414\"}");
	assert_string_equal(step(f), "new_pin");
	assert_string_equal(error_of(f), "pin_mismatch");
	act(f, "{\"action\":\"input\",\"step\":\"new_pin\",\"pin\":\"802413\"}");
	act(f, "{\"action\":\"input\",\"step\":\"new_pin_again\",\"pin\":\"802413\"}");
	assert_string_equal(step(f), "busy");
	assert_string_equal(fk.pin_old, "123456");
	assert_string_equal(fk.pin_new, "802413");
	/* cancel is refused while the chip is being changed */
	assert_int_equal(act(f, "{\"action\":\"cancel\"}"), SS_E_BUSY);
	pin_answer(f, "{\"ok\":true}");
	assert_string_equal(step(f), "receipt");
	assert_string_equal(fk.type, "activation");
	/* the PINs are not in the view, ever */
	json_t *v = flow_view(f);
	char *t = json_dumps(v, 0);
	assert_null(strstr(t, "802413"));
	free(t);
	json_decref(v);
	act(f, "{\"action\":\"done\"}");
	assert_string_equal(step(f), "take_card");
	flow_card_event(f, "Virtual PCD 00 00", false);
	assert_string_equal(step(f), "home");
}

static void test_activation_refusals(void **s)
{
	struct flow *f = *s;
	start_card_flow(f, "activation");
	central_answer(f, 200, "{\"state\":\"normal\"}");
	assert_string_equal(error_of(f), "already_active");
	act(f, "{\"action\":\"done\"}");
	assert_string_equal(step(f), "take_card");
	flow_card_event(f, "Virtual PCD 00 00", false);
	/* central unreachable: the chip decides, the request is queued */
	start_card_flow(f, "activation");
	central_answer(f, 0, NULL);
	assert_string_equal(step(f), "pin");
	act(f, "{\"action\":\"input\",\"step\":\"pin\",\"pin\":\"123456\"}");
	pin_answer(f, "{\"ok\":false,\"error\":\"pin_wrong\",\"tries_left\":4}");
	assert_string_equal(step(f), "pin");
	assert_string_equal(error_of(f), "pin_wrong");
	json_t *v = flow_view(f);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(v, "error"), "tries_left")), 4);
	assert_true(json_is_true(json_object_get(v, "offline")));
	json_decref(v);
	act(f, "{\"action\":\"input\",\"step\":\"pin\",\"pin\":\"123456\"}");
	pin_answer(f, "{\"ok\":false,\"error\":\"pin_blocked\"}");
	assert_string_equal(error_of(f), "pin_blocked");
	/* a chip changed but no outbox: said plainly */
	act(f, "{\"action\":\"done\"}");
	flow_card_event(f, "Virtual PCD 00 00", false);
	start_card_flow(f, "pin_change");
	act(f, "{\"action\":\"input\",\"step\":\"pin\",\"pin\":\"802413\"}");
	pin_answer(f, "{\"ok\":true}");
	act(f, "{\"action\":\"input\",\"step\":\"new_pin\",\"pin\":\"802413\"}");
	assert_string_equal(error_of(f), "pin_same");
	act(f, "{\"action\":\"input\",\"step\":\"new_pin\",\"pin\":\"391827\"}");
	act(f, "{\"action\":\"input\",\"step\":\"new_pin_again\",\"pin\":\"391827\"}");
	fk.submit_rc = SS_E_OUTBOX;
	pin_answer(f, "{\"ok\":true}");
	assert_string_equal(error_of(f), "not_recorded");
}

static void test_loss_cancel(void **s)
{
	struct flow *f = *s;
	start_card_flow(f, "loss_cancel");
	central_answer(f, 200, "{\"state\":\"formal\",\"replacement\":{\"outlet\":\"East Hall\"}}");
	assert_string_equal(error_of(f), "replacement_applied");
	assert_int_equal(fk.pin_calls, 0);
	act(f, "{\"action\":\"done\"}");
	flow_card_event(f, "Virtual PCD 00 00", false);
	start_card_flow(f, "loss_cancel");
	central_answer(f, 200, "{\"state\":\"normal\"}");
	assert_string_equal(error_of(f), "not_lost");
	act(f, "{\"action\":\"done\"}");
	flow_card_event(f, "Virtual PCD 00 00", false);
	start_card_flow(f, "loss_cancel");
	central_answer(f, 200, "{\"state\":\"temporary\"}");
	act(f, "{\"action\":\"input\",\"step\":\"pin\",\"pin\":\"246810\"}");
	pin_answer(f, "{\"ok\":true}");
	assert_string_equal(step(f), "confirm");
	act(f, "{\"action\":\"input\",\"step\":\"confirm\",\"confirm\":true}");
	assert_string_equal(fk.type, "loss_cancel");
	assert_string_equal(step(f), "receipt");
}

static void test_card_pulled_and_timeouts(void **s)
{
	struct flow *f = *s;
	start_card_flow(f, "pin_change");
	assert_string_equal(step(f), "pin");
	flow_card_event(f, "Virtual PCD 00 00", false);
	assert_string_equal(step(f), "error");
	assert_string_equal(error_of(f), "card_removed");
	/* a late answer for the old step is dropped */
	pin_answer(f, "{\"ok\":true}");
	assert_string_equal(step(f), "error");
	fk.now += FLOW_ERROR_SHOW_MS;
	flow_timeout(f);
	assert_string_equal(step(f), "home");
	/* PIN step times out: home (through take_card) with fields gone */
	start_card_flow(f, "pin_change");
	uint64_t d = flow_deadline(f);
	assert_int_equal(d - fk.now, cfg.pin_timeout_s * 1000);
	fk.now = d - 1;
	flow_timeout(f); /* too early: nothing */
	assert_string_equal(step(f), "pin");
	/* "alive" restarts the step's clock */
	act(f, "{\"action\":\"alive\"}");
	assert_int_equal(flow_deadline(f), fk.now + cfg.pin_timeout_s * 1000);
	fk.now = flow_deadline(f);
	flow_timeout(f);
	assert_string_equal(step(f), "take_card");
	assert_string_equal(error_of(f), "timeout");
	fk.now = flow_deadline(f);
	flow_timeout(f);
	assert_string_equal(step(f), "home");
	/* no card and no answer: busy does not hang */
	assert_int_equal(act(f, "{\"action\":\"start\",\"flow\":\"status\"}"), SS_OK);
	flow_card_event(f, "Virtual PCD 00 00", true);
	assert_string_equal(step(f), "busy");
	fk.now = flow_deadline(f);
	flow_timeout(f);
	assert_string_equal(error_of(f), "no_answer");
}

static void test_replacement(void **s)
{
	struct flow *f = *s;
	act(f, "{\"action\":\"start\",\"flow\":\"replacement\"}");
	assert_string_equal(step(f), "replace_menu");
	act(f, "{\"action\":\"input\",\"step\":\"replace_menu\",\"what\":\"apply\"}");
	identified(f);
	act(f, "{\"action\":\"input\",\"step\":\"choose_card\",\"index\":0}");
	assert_string_equal(step(f), "reason"); /* a normal card: damaged? */
	act(f, "{\"action\":\"input\",\"step\":\"reason\",\"reason\":\"damaged\"}");
	assert_string_equal(step(f), "outlet");
	assert_int_equal(act(f, "{\"action\":\"input\",\"step\":\"outlet\",\"outlet\":2}"), SS_E_INVALID);
	act(f, "{\"action\":\"input\",\"step\":\"outlet\",\"outlet\":1,\"delegated\":true}");
	assert_string_equal(step(f), "agent");
	act(f, "{\"action\":\"input\",\"step\":\"agent\",\"ssn\":\"" SSN "\",\"name\":\"张三\"}");
	assert_string_equal(error_of(f), "agent_same");
	act(f, "{\"action\":\"input\",\"step\":\"agent\",\"ssn\":\"639900194503120024\",\"name\":\"李四\"}");
	assert_string_equal(step(f), "confirm");
	act(f, "{\"action\":\"input\",\"step\":\"confirm\",\"confirm\":true}");
	assert_string_equal(fk.type, "replacement");
	assert_string_equal(json_string_value(json_object_get(fk.fields, "outlet")), "West Hall");
	assert_true(json_is_true(json_object_get(fk.fields, "delegated")));
	assert_true(json_is_true(json_object_get(fk.fields, "damaged")));
	assert_int_equal(json_integer_value(json_object_get(fk.fields, "fee_fen")), 1000);
	assert_non_null(json_object_get(fk.fields, "ready_date"));
	/* the agent's identity does not travel: the central has the holder's */
	assert_null(json_object_get(fk.fields, "agent_ssn"));
}

static void test_bad_requests(void **s)
{
	struct flow *f = *s;
	assert_int_equal(act(f, "[]"), SS_E_INVALID);
	assert_int_equal(act(f, "{\"action\":\"fly\"}"), SS_E_INVALID);
	assert_int_equal(act(f, "{\"action\":\"start\",\"flow\":\"x\"}"), SS_E_INVALID);
	assert_int_equal(act(f, "{\"action\":\"input\",\"step\":\"otp\",\"code\":\"1\"}"), SS_E_BUSY);
	assert_int_equal(act(f, "{\"action\":\"start\",\"flow\":\"status\"}"), SS_OK);
	assert_int_equal(act(f, "{\"action\":\"start\",\"flow\":\"status\"}"), SS_E_BUSY);
	assert_int_equal(act(f, "{\"action\":\"done\"}"), SS_E_BUSY);
	assert_int_equal(act(f, "{\"action\":\"cancel\"}"), SS_OK);
	assert_string_equal(step(f), "home");
}

/* ---- unlock / reset the PIN (pin_reset.c) -------------------------------- */

#define READ_SSN "{\"ok\":true,\"card_id\":\"" CARD "\",\"name\":\"张三\",\"ssn\":\"" SSN "\"," \
		 "\"expiry_date\":\"2030-10-01\",\"loss\":{\"listed\":false}}"
#define VERIFIED "{\"cards\":[{\"card_id\":\"" CARD "\",\"state\":\"normal\"}],\"verification\":\"V-1\"}"

static const char *view_str(struct flow *f, const char *key)
{
	static char out[64];
	json_t *v = flow_view(f);
	const char *s = json_string_value(json_object_get(json_object_get(v, "data"), key));
	snprintf(out, sizeof out, "%s", s ? s : "");
	json_decref(v);
	return out;
}

/* Card in, its state asked, on the identify screen. */
static void reset_to_identify(struct flow *f)
{
	assert_int_equal(act(f, "{\"action\":\"start\",\"flow\":\"pin_reset\"}"), SS_OK);
	assert_string_equal(step(f), "insert_card");
	flow_card_event(f, "Virtual PCD 00 00", true);
	card_answer(f, READ_SSN);
	assert_string_equal(fk.path, "/v1/cards/" CARD);
	central_answer(f, 200, "{\"state\":\"normal\"}");
	assert_string_equal(step(f), "identify");
}

/* Identified and the code right: the PIN's state is asked. */
static void reset_verified(struct flow *f)
{
	reset_to_identify(f);
	act(f, "{\"action\":\"input\",\"step\":\"identify\",\"ssn\":\"" SSN "\",\"name\":\"张三\"}");
	central_answer(f, 200, "{\"cards\":[],\"otp_sent_to\":\"138****8000\"}");
	assert_string_equal(step(f), "otp");
	act(f, "{\"action\":\"input\",\"step\":\"otp\",\"code\":\"123456\"}");
	central_answer(f, 200, VERIFIED);
	assert_string_equal(step(f), "busy");
	assert_int_equal(fk.status_calls, 1);
}

static void test_pin_reset_unavailable(void **s)
{
	struct flow *f = *s;
	json_t *v = flow_view(f);
	assert_true(json_is_false(json_object_get(json_object_get(v, "data"), "pin_reset")));
	json_decref(v);
	assert_int_equal(act(f, "{\"action\":\"start\",\"flow\":\"pin_reset\"}"), SS_OK);
	assert_string_equal(error_of(f), "pinkey_unavailable");
	assert_int_equal(fk.pinkey_calls, 0);
	act(f, "{\"action\":\"done\"}");
	fk.able = true;
	v = flow_view(f);
	assert_true(json_is_true(json_object_get(json_object_get(v, "data"), "pin_reset")));
	json_decref(v);
	/* the policy wants an ID card and the ID card reader is down: not offered */
	cfg.pin_reset_proof = CFG_PROOF_IDCARD_OTP;
	fk.idcard_state = "absent";
	act(f, "{\"action\":\"start\",\"flow\":\"pin_reset\"}");
	assert_string_equal(error_of(f), "pinkey_unavailable");
}

/* Blocked: unlock, keep the PIN; no step can be skipped on the way. */
static void test_pin_reset_unblock(void **s)
{
	struct flow *f = *s;
	fk.able = true;
	reset_to_identify(f);
	/* the page cannot jump past a proof: only the screen on show takes input */
	assert_int_equal(act(f, "{\"action\":\"input\",\"step\":\"pin_op\",\"op\":\"unblock\"}"), SS_E_BUSY);
	assert_int_equal(act(f, "{\"action\":\"input\",\"step\":\"new_pin\",\"pin\":\"391827\"}"), SS_E_BUSY);
	assert_int_equal(act(f, "{\"action\":\"input\",\"step\":\"otp\",\"code\":\"123456\"}"), SS_E_BUSY);
	assert_int_equal(fk.pinkey_calls + fk.status_calls, 0);
	/* someone else's number: not this card's holder, with tries */
	act(f, "{\"action\":\"input\",\"step\":\"identify\",\"ssn\":\"110101199003070038\",\"name\":\"李四\"}");
	assert_string_equal(step(f), "identify");
	assert_string_equal(error_of(f), "not_card_holder");
	/* the holder, typed: the central is asked without any ID-card shortcut */
	act(f, "{\"action\":\"input\",\"step\":\"identify\",\"ssn\":\"" SSN "\",\"name\":\"张三\"}");
	assert_string_equal(fk.path, "/v1/holders/lookup");
	assert_null(json_object_get(fk.body, "identified_by"));
	central_answer(f, 200, "{\"cards\":[],\"otp_sent_to\":\"138****8000\"}");
	assert_int_equal(act(f, "{\"action\":\"input\",\"step\":\"pin_op\",\"op\":\"unblock\"}"), SS_E_BUSY);
	act(f, "{\"action\":\"input\",\"step\":\"otp\",\"code\":\"123456\"}");
	central_answer(f, 200, VERIFIED);
	assert_int_equal(fk.status_calls, 1);
	pin_answer(f, "{\"ok\":false,\"error\":\"pin_blocked\"}");
	assert_string_equal(step(f), "pin_op");
	json_t *v = flow_view(f);
	assert_true(json_is_true(json_object_get(json_object_get(v, "data"), "blocked")));
	json_decref(v);
	act(f, "{\"action\":\"input\",\"step\":\"pin_op\",\"op\":\"unblock\"}");
	assert_int_equal(fk.pinkey_calls, 1);
	assert_false(fk.pinkey_reload);
	assert_string_equal(fk.proof, "V-1");
	assert_string_equal(view_str(f, "what"), "pinkey");
	/* the chip may be changing: cancel waits for its answer */
	assert_int_equal(act(f, "{\"action\":\"cancel\"}"), SS_E_BUSY);
	pin_answer(f, "{\"ok\":true}");
	assert_string_equal(step(f), "receipt");
	assert_string_equal(fk.type, "pin_reset");
	assert_string_equal(json_string_value(json_object_get(fk.fields, "op")), "unblock");
	assert_string_equal(view_str(f, "pin_op"), "unblock");
	char *r = flow_receipt_text(f);
	assert_non_null(strstr(r, "same PIN as before"));
	free(r);
}

/* Forgotten (tries left): a new PIN, twice, by the weak-PIN rules; the
 * ID card on the reader still needs the code; each end has its code. */
static void test_pin_reset_reload_and_ends(void **s)
{
	struct flow *f = *s;
	fk.able = true;
	reset_to_identify(f);
	idcard(f, fk.idcard_tag, IDCARD(SSN, "张三", "2035-01-01", "false"));
	assert_null(json_object_get(fk.body, "identified_by"));
	central_answer(f, 200, "{\"cards\":[],\"otp_sent_to\":\"138****8000\"}");
	assert_string_equal(step(f), "otp"); /* the ID card alone is never enough */
	act(f, "{\"action\":\"input\",\"step\":\"otp\",\"code\":\"123456\"}");
	central_answer(f, 200, VERIFIED);
	pin_answer(f, "{\"ok\":true,\"tries_left\":2}");
	assert_string_equal(step(f), "new_pin");
	act(f, "{\"action\":\"input\",\"step\":\"new_pin\",\"pin\":\"123456\"}");
	assert_string_equal(error_of(f), "pin_initial");
	act(f, "{\"action\":\"input\",\"step\":\"new_pin\",\"pin\":\"391827\"}");
	act(f, "{\"action\":\"input\",\"step\":\"new_pin_again\",\"pin\":\"391828\"}");
	assert_string_equal(error_of(f), "pin_mismatch");
	act(f, "{\"action\":\"input\",\"step\":\"new_pin\",\"pin\":\"391827\"}");
	act(f, "{\"action\":\"input\",\"step\":\"new_pin_again\",\"pin\":\"391827\"}");
	assert_int_equal(fk.pinkey_calls, 1);
	assert_true(fk.pinkey_reload);
	assert_string_equal(fk.pin_new, "391827");
	pin_answer(f, "{\"ok\":false,\"error\":\"pinkey_spent\"}");
	assert_string_equal(error_of(f), "pinkey_spent");
	assert_string_equal(view_str(f, "offer"), "replacement");
	/* the offer starts the replacement at once */
	assert_int_equal(act(f, "{\"action\":\"start\",\"flow\":\"replacement\"}"), SS_OK);
	assert_int_equal(flow_kind(f), FLOW_REPLACEMENT);
	act(f, "{\"action\":\"cancel\"}");
	flow_card_event(f, "Virtual PCD 00 00", false);

	static const char *const ends[][2] = {
		{"pinkey_blocked", "pinkey_blocked"}, {"holder_not_verified", "proof_refused"},
		{"pinkey_refused", "pinkey_refused"}, {"sam_unavailable", "pinkey_unavailable"},
		{"card_removed", "card_removed"}};
	for (size_t i = 0; i < sizeof ends / sizeof ends[0]; i++) {
		fk.status_calls = 0;
		reset_verified(f);
		pin_answer(f, "{\"ok\":false,\"error\":\"pin_blocked\"}");
		act(f, "{\"action\":\"input\",\"step\":\"pin_op\",\"op\":\"unblock\"}");
		char a[100];
		snprintf(a, sizeof a, "{\"ok\":false,\"error\":\"%s\"}", ends[i][0]);
		pin_answer(f, a);
		assert_string_equal(error_of(f), ends[i][1]);
		assert_string_equal(view_str(f, "offer"), "");
		act(f, "{\"action\":\"done\"}");
		flow_card_event(f, "Virtual PCD 00 00", false);
	}
	/* the card in the reader is not among the verified holder's cards */
	reset_to_identify(f);
	act(f, "{\"action\":\"input\",\"step\":\"identify\",\"ssn\":\"" SSN "\",\"name\":\"张三\"}");
	central_answer(f, 200, "{\"cards\":[],\"otp_sent_to\":\"138****8000\"}");
	act(f, "{\"action\":\"input\",\"step\":\"otp\",\"code\":\"123456\"}");
	central_answer(f, 200, "{\"cards\":[{\"card_id\":\"" OTHER "\"}],\"verification\":\"V-2\"}");
	assert_string_equal(error_of(f), "not_card_holder");
	act(f, "{\"action\":\"done\"}");
	flow_card_event(f, "Virtual PCD 00 00", false);
	/* [policy] pin_reset_proof = idcard+otp: typing is not enough */
	cfg.pin_reset_proof = CFG_PROOF_IDCARD_OTP;
	reset_to_identify(f);
	act(f, "{\"action\":\"input\",\"step\":\"identify\",\"ssn\":\"" SSN "\",\"name\":\"张三\"}");
	assert_string_equal(step(f), "identify");
	assert_string_equal(error_of(f), "idcard_required");
	idcard(f, fk.idcard_tag, IDCARD(SSN, "张三", "2035-01-01", "false"));
	assert_string_equal(fk.path, "/v1/holders/lookup");
}

/* A PIN blocked in another flow: "unlock here" where the terminal can. */
static void test_pin_blocked_offers_unlock(void **s)
{
	struct flow *f = *s;
	start_card_flow(f, "pin_change");
	act(f, "{\"action\":\"input\",\"step\":\"pin\",\"pin\":\"123456\"}");
	pin_answer(f, "{\"ok\":false,\"error\":\"pin_blocked\"}");
	assert_string_equal(error_of(f), "pin_blocked");
	assert_string_equal(view_str(f, "offer"), "");
	assert_int_equal(act(f, "{\"action\":\"start\",\"flow\":\"pin_reset\"}"), SS_E_BUSY);
	act(f, "{\"action\":\"done\"}");
	flow_card_event(f, "Virtual PCD 00 00", false);
	fk.able = true;
	start_card_flow(f, "pin_change");
	act(f, "{\"action\":\"input\",\"step\":\"pin\",\"pin\":\"123456\"}");
	pin_answer(f, "{\"ok\":false,\"error\":\"pin_blocked\"}");
	assert_string_equal(error_of(f), "pin_blocked_here");
	assert_string_equal(view_str(f, "offer"), "pin_reset");
	/* only the offered flow starts from here */
	assert_int_equal(act(f, "{\"action\":\"start\",\"flow\":\"loss_report\"}"), SS_E_BUSY);
	assert_int_equal(act(f, "{\"action\":\"start\",\"flow\":\"pin_reset\"}"), SS_OK);
	assert_int_equal(flow_kind(f), FLOW_PIN_RESET);
	assert_string_equal(step(f), "busy"); /* the card still in is read at once */
	card_answer(f, READ_SSN);
	central_answer(f, 200, "{\"state\":\"normal\"}");
	assert_string_equal(step(f), "identify");
	assert_int_equal(flow_stats(f)->finished[FLOW_PIN_CHANGE][FLOW_REFUSED], 2);
}

/* A scanned e-voucher code on the identify screen (issue 29). */
static void test_ecode(void **s)
{
	struct flow *f = *s;
	flow_on_ecode(f, "SSCARD-EV1:AA"); /* on the home screen: nothing */
	assert_string_equal(step(f), "home");
	act(f, "{\"action\":\"start\",\"flow\":\"loss_report\"}");
	flow_on_ecode(f, "SSCARD-EV1:AA");
	assert_string_equal(fk.path, "/v1/ecodes/resolve");
	assert_string_equal(json_string_value(json_object_get(fk.body, "code")), "SSCARD-EV1:AA");
	assert_true(json_is_false(json_object_get(fk.body, "send_otp"))); /* ecode_identifies */
	central_answer(f, 410, "{\"error\":\"code_used\"}");
	assert_string_equal(step(f), "identify");
	assert_string_equal(error_of(f), "ecode_used");
	flow_on_ecode(f, "SSCARD-EV1:AB");
	central_answer(f, 410, "{\"error\":\"code_expired\"}");
	assert_string_equal(error_of(f), "ecode_expired");
	/* the page brings a keyboard-mode scanner's code; a bad one stays here */
	act(f, "{\"action\":\"input\",\"step\":\"identify\",\"ecode\":\"\\u0007bad\"}");
	assert_string_equal(error_of(f), "ecode_unknown");
	act(f, "{\"action\":\"input\",\"step\":\"identify\",\"ecode\":\"SSCARD-EV1:AC\"}");
	central_answer(f, 200, "{\"ssn\":\"" SSN "\",\"name\":\"张三\",\"cards\":[{\"card_id\":\"" CARD
			       "\",\"state\":\"normal\"}],\"verification\":\"V-9\"}");
	assert_string_equal(step(f), "choose_card");
	json_t *v = flow_view(f);
	assert_true(json_is_true(json_object_get(json_object_get(v, "data"), "by_ecode")));
	char *text = json_dumps(v, 0);
	assert_null(strstr(text, SSN)); /* masked */
	free(text);
	json_decref(v);
	act(f, "{\"action\":\"cancel\"}");
	/* the policy wants the one-time code after it too */
	cfg.ecode_identifies = false;
	act(f, "{\"action\":\"start\",\"flow\":\"loss_report\"}");
	flow_on_ecode(f, "SSCARD-EV1:AD");
	assert_true(json_is_true(json_object_get(fk.body, "send_otp")));
	central_answer(f, 200, "{\"ssn\":\"" SSN "\",\"name\":\"张三\",\"cards\":[],\"otp_sent_to\":\"138****8000\"}");
	assert_string_equal(step(f), "otp");
	act(f, "{\"action\":\"cancel\"}");
	/* an answer without a valid SSN is not one */
	cfg.ecode_identifies = true;
	act(f, "{\"action\":\"start\",\"flow\":\"loss_report\"}");
	flow_on_ecode(f, "SSCARD-EV1:AE");
	central_answer(f, 200, "{\"ssn\":\"123\"}");
	assert_string_equal(error_of(f), "central_unreachable");
}

/* The replacement's fee paid at the kiosk ([payment] enabled). */
static void to_confirm(struct flow *f)
{
	act(f, "{\"action\":\"start\",\"flow\":\"replacement\"}");
	act(f, "{\"action\":\"input\",\"step\":\"replace_menu\",\"what\":\"apply\"}");
	identified(f);
	act(f, "{\"action\":\"input\",\"step\":\"choose_card\",\"index\":0}");
	act(f, "{\"action\":\"input\",\"step\":\"reason\",\"reason\":\"damaged\"}");
	act(f, "{\"action\":\"input\",\"step\":\"outlet\",\"outlet\":0}");
	assert_string_equal(step(f), "confirm");
	act(f, "{\"action\":\"input\",\"step\":\"confirm\",\"confirm\":true}");
}

#define ORDER "{\"order_id\":\"P0123456789ABCDEF\",\"pay_url\":\"https://pay.example.invalid/x/P0123456789ABCDEF\"," \
	      "\"amount_fen\":1000,\"expires_in\":300,\"state\":\"created\"}"

static void test_payment(void **s)
{
	struct flow *f = *s;
	cfg.payment_enabled = true;
	to_confirm(f);
	assert_string_equal(fk.path, "/v1/payments");
	assert_int_equal(json_integer_value(json_object_get(fk.body, "amount_fen")), 1000);
	assert_int_equal(strlen(json_string_value(json_object_get(fk.body, "idempotency_key"))), 32);
	assert_int_equal(fk.submits, 0); /* nothing filed before it is paid */
	central_answer(f, 201, ORDER);
	assert_string_equal(step(f), "pay");
	assert_string_equal(fk.order_open, "P0123456789ABCDEF"); /* on disk before the code is shown */
	assert_string_equal(json_string_value(json_object_get(fk.order_fields, "outlet")), "East Hall");
	json_t *v = flow_view(f);
	const char *qr = json_string_value(json_object_get(json_object_get(v, "data"), "qr"));
	assert_non_null(strstr(qr, "<svg"));
	assert_string_equal(json_string_value(json_object_get(json_object_get(v, "data"), "order")), "P012****CDEF");
	json_decref(v);
	/* every half second: is it paid? not yet: no new view */
	assert_int_equal(flow_deadline(f), fk.now + 500);
	fk.now += 500;
	flow_timeout(f);
	assert_string_equal(fk.path, "/v1/payments/P0123456789ABCDEF");
	assert_null(fk.body);
	int views = fk.changes;
	central_answer(f, 200, "{\"state\":\"created\"}");
	assert_string_equal(step(f), "pay");
	assert_int_equal(fk.changes, views);
	fk.now += 500;
	flow_timeout(f);
	central_answer(f, 0, NULL); /* the central down a moment: asked again, later */
	assert_string_equal(step(f), "pay");
	assert_int_equal(flow_deadline(f), fk.now + 1000);
	fk.now += 1000;
	flow_timeout(f);
	central_answer(f, 200, "{\"state\":\"paid\"}");
	assert_string_equal(step(f), "receipt");
	assert_string_equal(fk.order_paid, "P0123456789ABCDEF");
	assert_int_equal(flow_stats(f)->payments[PAY_PAID], 1);
	char *r = flow_receipt_text(f);
	assert_non_null(strstr(r, "Paid:       10.00 yuan (order P012****CDEF)"));
	free(r);
	act(f, "{\"action\":\"done\"}");

	/* cancelled by the person: the order is cancelled first */
	fk.order_paid[0] = 0;
	to_confirm(f);
	central_answer(f, 201, ORDER);
	assert_int_equal(act(f, "{\"action\":\"cancel\"}"), SS_OK);
	assert_string_equal(fk.path, "/v1/payments/P0123456789ABCDEF/cancel");
	assert_int_equal(act(f, "{\"action\":\"cancel\"}"), SS_E_BUSY); /* its answer decides */
	central_answer(f, 200, "{\"state\":\"cancelled\"}");
	assert_string_equal(error_of(f), "pay_cancelled");
	assert_string_equal(fk.order_closed, "P0123456789ABCDEF");
	assert_string_equal(fk.order_paid, "");
	act(f, "{\"action\":\"done\"}");
	/* the time ran out just as it was paid: filed, not lost */
	to_confirm(f);
	central_answer(f, 201, ORDER);
	fk.now += cfg.payment_timeout_s * 1000u;
	flow_timeout(f);
	assert_string_equal(fk.path, "/v1/payments/P0123456789ABCDEF/cancel");
	central_answer(f, 409, "{\"error\":\"already_paid\",\"state\":\"paid\"}");
	assert_string_equal(step(f), "receipt");
	assert_string_equal(fk.order_paid, "P0123456789ABCDEF");
	act(f, "{\"action\":\"done\"}");
	/* the central cannot be asked at the end: unsettled, the order kept */
	fk.order_closed[0] = 0;
	to_confirm(f);
	central_answer(f, 201, ORDER);
	act(f, "{\"action\":\"cancel\"}");
	central_answer(f, 0, NULL);
	assert_string_equal(error_of(f), "pay_unsettled");
	assert_string_equal(fk.order_closed, "");
	act(f, "{\"action\":\"done\"}");
	/* paid before, on another visit: filed with that order at once */
	to_confirm(f);
	central_answer(f, 409, "{\"error\":\"already_paid\",\"order_id\":\"P99999999AAAA\"}");
	assert_string_equal(step(f), "receipt");
	assert_string_equal(fk.order_paid, "P99999999AAAA");
	act(f, "{\"action\":\"done\"}");
	/* the order cannot be kept on disk: no code shown, nothing to pay */
	fk.order_rc = SS_E_OUTBOX;
	to_confirm(f);
	central_answer(f, 201, ORDER);
	assert_string_equal(error_of(f), "outbox_unavailable");
	fk.order_rc = SS_OK;
	act(f, "{\"action\":\"done\"}");
	/* an order URL that is not https: refused */
	to_confirm(f);
	central_answer(f, 201, "{\"order_id\":\"P0123456789ABCDEF\",\"pay_url\":\"javascript:x\"}");
	assert_string_equal(error_of(f), "central_unreachable");
	cfg.payment_enabled = false;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_loss_report, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idcard_loss_report, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idcard_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stats, setup, teardown),
		cmocka_unit_test_setup_teardown(test_identity_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_activation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_activation_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loss_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_card_pulled_and_timeouts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replacement, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pin_reset_unavailable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pin_reset_unblock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pin_reset_reload_and_ends, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pin_blocked_offers_unlock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ecode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_payment, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
