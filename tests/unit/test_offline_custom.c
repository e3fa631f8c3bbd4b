/*
 * test_offline_custom.c - the offline model demoing a custom agent: a bicycle shop's tools taught
 * with model_offline_train, conversations driven through the model port's request/response JSON
 * (intent from examples, missing slots asked one at a time and carried across turns, the tool_use
 * input, the result phrased, errors apologised for), tools that are not offered, the built-in
 * flows unaffected, bad tool examples refused, determinism, reload under concurrent turns, and the
 * held-out accuracy of the retrained classifier with and without the custom intents.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "model/model.h"
#include "model/offline_custom.h"
#include "model/offline_intents.h"
#include "model/offline_nb.h"
#include "model/offline_policy.h"

static struct model *model;

static const char *const builtin_tools[] = {"create_support_ticket", "get_ticket_status",
                                            "list_my_tickets",       "lookup_order",
                                            "search_knowledge_base", "escalate_to_human", NULL};

/* ---- the bicycle shop ---- */

static const char SHOP[] =
    "["
    "{\"name\": \"check_warranty\","
    " \"description\": \"Look up the warranty of a bicycle by its serial number.\","
    " \"input_schema\": {\"type\": \"object\", \"required\": [\"serial_number\"], \"properties\": {"
    "   \"serial_number\": {\"type\": \"string\", \"pattern\": \"^SN-\\\\d{5}$\","
    "                       \"description\": \"The serial number of your bike\"}}},"
    " \"examples\": [\"is my bike still under warranty\", \"check the warranty on my bicycle\","
    "   \"does the warranty cover my frame\", \"warranty check please\","
    "   \"I want to know if my bike's warranty is still valid\","
    "   \"how long is the warranty on my bike\", \"when does my bicycle warranty expire\","
    "   \"is my e-bike covered by the guarantee\", \"can you look up my bike warranty\","
    "   \"warranty status for my bike SN-12345\", \"is the crack in my frame covered under "
    "warranty\", \"has my bike's warranty run out\"]},"
    "{\"name\": \"book_repair\","
    " \"description\": \"Book a workshop slot for a repair.\","
    " \"input_schema\": {\"type\": \"object\", \"required\": [\"service\", \"date\"], "
    "  \"properties\": {"
    "   \"service\": {\"type\": \"string\", \"description\": \"the service you need\","
    "                 \"enum\": [\"tune-up\", \"brake repair\", \"wheel truing\", \"puncture "
    "repair\"]},"
    "   \"date\": {\"type\": \"string\", \"format\": \"date\","
    "              \"description\": \"the day you'd like to bring the bike in\"},"
    "   \"notes\": {\"type\": \"string\"}}},"
    " \"examples\": [\"book a repair for my bike\", \"I need to schedule a bike service\","
    "   \"can I bring my bicycle in for a tune-up\", \"my brakes squeal, can you fix them\","
    "   \"book a brake repair\", \"I'd like an appointment at the workshop\","
    "   \"schedule a repair appointment\", \"can you true my wheel\","
    "   \"my tyre is flat, can I book a puncture repair\", \"I want to book my bike in for a "
    "service\", \"do you have a workshop slot free\", \"get my bike serviced\"]},"
    "{\"name\": \"quote_part\","
    " \"description\": \"Price a spare part.\","
    " \"input_schema\": {\"type\": \"object\", \"required\": [\"part\", \"quantity\"], "
    "  \"properties\": {"
    "   \"part\": {\"type\": \"string\", \"description\": \"Which part do you need?\"},"
    "   \"quantity\": {\"type\": \"integer\", \"minimum\": 1, \"maximum\": 20,"
    "                  \"description\": \"how many you need\"}}},"
    " \"examples\": [\"how much would new pedals cost\", \"price for a replacement chain\","
    "   \"I need a quote for spare parts\", \"how much are brake pads\","
    "   \"get me a price on inner tubes\", \"what do spare parts cost\","
    "   \"quote me for a new saddle\", \"how much is a set of tyres\","
    "   \"I want to buy some spare parts\", \"price of a bike chain\"]},"
    "{\"name\": \"no_examples_tool\", \"description\": \"never an intent\","
    " \"input_schema\": {\"type\": \"object\"}}"
    "]";

static json_t *shop(void)
{
    json_error_t jerr;
    json_t *j = json_loads(SHOP, 0, &jerr);
    if (!j)
        fprintf(stderr, "shop JSON: %s at %d\n", jerr.text, jerr.line);
    return j;
}

/* ---- request building ---- */

static json_t *request_with(const char *const *tools, int with_custom)
{
    json_t *t = json_array();
    for (int i = 0; tools && tools[i]; i++)
        json_array_append_new(t, json_pack("{s:s, s:s, s:{s:s}}", "name", tools[i], "description",
                                           "a tool", "input_schema", "type", "object"));
    if (with_custom) {
        json_t *s = shop();
        size_t i;
        json_t *e;
        json_array_foreach(s, i, e)
            json_array_append_new(t, json_pack("{s:O, s:O, s:O}", "name",
                                               json_object_get(e, "name"), "description",
                                               json_object_get(e, "description"), "input_schema",
                                               json_object_get(e, "input_schema")));
        json_decref(s);
    }
    return json_pack("{s:s, s:[], s:o, s:i}", "system", "You are the bike shop's assistant.",
                     "messages", "tools", t, "max_tokens", 1024);
}

static json_t *request_new(void)
{
    return request_with(builtin_tools, 1);
}

static const json_t *first_block(const json_t *resp)
{
    return json_array_get(json_object_get(resp, "content"), 0);
}

static const char *resp_text(const json_t *resp)
{
    const json_t *b = first_block(resp);
    const char *type = json_string_value(json_object_get(b, "type"));
    return type && strcmp(type, "text") == 0 ? json_string_value(json_object_get(b, "text")) : NULL;
}

static const char *resp_tool(const json_t *resp)
{
    const json_t *b = first_block(resp);
    const char *type = json_string_value(json_object_get(b, "type"));
    return type && strcmp(type, "tool_use") == 0 ? json_string_value(json_object_get(b, "name"))
                                                 : NULL;
}

static const json_t *resp_input(const json_t *resp)
{
    return json_object_get(first_block(resp), "input");
}

static json_t *invoke_on(struct model *m, const json_t *req)
{
    struct err err = {{0}, {0}};
    json_t *resp = model_invoke(m, req, NULL, NULL, &err);
    if (!resp)
        fprintf(stderr, "invoke failed: %s %s\n", err.code, err.message);
    return resp;
}

/* One user turn on model m: adds the message, invokes, records the reply. Returns it borrowed
 * from the history (NULL on failure). */
static const json_t *turn_on(struct model *m, json_t *req, const char *user)
{
    json_t *msgs = json_object_get(req, "messages");
    json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", "user", "content", user));
    json_t *resp = invoke_on(m, req);
    if (!resp)
        return NULL;
    json_array_append_new(msgs, json_pack("{s:s, s:O}", "role", "assistant", "content",
                                          json_object_get(resp, "content")));
    json_decref(resp);
    return json_array_get(msgs, json_array_size(msgs) - 1);
}

static const json_t *turn(json_t *req, const char *user)
{
    return turn_on(model, req, user);
}

/* The assistant message recorded by turn() has the same content shape as a response. */
#define TEXT(msg) resp_text(msg)
#define TOOL(msg) resp_tool(msg)

/* Feeds a tool result for the tool_use in msg and returns the model's reply (borrowed). */
static const json_t *result(json_t *req, const json_t *msg, const char *content, int is_error)
{
    json_t *msgs = json_object_get(req, "messages");
    const char *id = json_string_value(json_object_get(first_block(msg), "id"));
    json_t *block = json_pack("{s:s, s:s, s:s}", "type", "tool_result", "tool_use_id", id,
                              "content", content);
    if (is_error)
        json_object_set_new(block, "is_error", json_true());
    json_array_append_new(msgs, json_pack("{s:s, s:[o]}", "role", "user", "content", block));
    json_t *resp = invoke_on(model, req);
    if (!resp)
        return NULL;
    json_array_append_new(msgs, json_pack("{s:s, s:O}", "role", "assistant", "content",
                                          json_object_get(resp, "content")));
    json_decref(resp);
    return json_array_get(msgs, json_array_size(msgs) - 1);
}

static int contains(const char *hay, const char *needle)
{
    if (!hay || !strstr(hay, needle)) {
        fprintf(stderr, "  expected '%s' in '%s'\n", needle, hay ? hay : "(null)");
        return 0;
    }
    return 1;
}

static int train(struct model *m, const json_t *examples)
{
    struct err err = {{0}, {0}};
    int rc = model_offline_train(m, examples, &err);
    if (rc != 0)
        fprintf(stderr, "train failed: %s %s\n", err.code, err.message);
    return rc;
}

/* ---- flows ---- */

static void test_warranty_flow(void)
{
    json_t *req = request_new();
    const json_t *r = turn(req, "Is my bike still under warranty?");
    CHECK(contains(TEXT(r), "What's the serial number of your bike?"));
    r = turn(req, "It's SN-48213.");
    CHECK_STR(TOOL(r), "check_warranty");
    CHECK_STR(json_string_value(json_object_get(resp_input(r), "serial_number")), "SN-48213");
    CHECK_INT(json_object_size(resp_input(r)), 1);
    r = result(req, r, "{\"serial_number\": \"SN-48213\", \"status\": \"active\", "
                       "\"expiresOn\": \"2027-03-01\", \"covers\": [\"frame\", \"fork\"]}",
               0);
    CHECK(contains(TEXT(r), "status: active"));
    CHECK(contains(TEXT(r), "expires on: 2027-03-01"));
    CHECK(contains(TEXT(r), "covers: 2 items"));
    json_decref(req);

    /* the serial number up front: no question at all */
    req = request_new();
    r = turn(req, "can you check the warranty for SN-12345 please");
    CHECK_STR(TOOL(r), "check_warranty");
    CHECK_STR(json_string_value(json_object_get(resp_input(r), "serial_number")), "SN-12345");
    json_decref(req);
}

/* A serial number said earlier in the conversation is carried into a later warranty check. */
static void test_carried_from_earlier(void)
{
    json_t *req = request_new();
    turn(req, "hello, I bought bike SN-31337 from you last year");
    const json_t *r = turn(req, "is it still under warranty?");
    CHECK_STR(TOOL(r), "check_warranty");
    CHECK_STR(json_string_value(json_object_get(resp_input(r), "serial_number")), "SN-31337");
    json_decref(req);

    /* a number said in passing is not carried into an integer slot */
    req = request_new();
    turn(req, "where is my order 1042?");
    r = turn(req, "I need a quote for spare parts");
    CHECK(contains(TEXT(r), "Which part do you need?"));
    r = turn(req, "a chain");
    CHECK(contains(TEXT(r), "What's how many you need?"));
    json_decref(req);
}

static void test_reask_and_decline(void)
{
    json_t *req = request_new();
    const json_t *r = turn(req, "check the warranty on my bicycle");
    CHECK(contains(TEXT(r), "What's the serial number of your bike?"));
    /* not a serial number: asked again, and the question is still recognised afterwards */
    r = turn(req, "the sticker is worn off");
    CHECK(contains(TEXT(r), OFFLINE_MARK_REASK));
    CHECK(contains(TEXT(r), "What's the serial number of your bike?"));
    r = turn(req, "SN-00042");
    CHECK_STR(TOOL(r), "check_warranty");
    CHECK_STR(json_string_value(json_object_get(resp_input(r), "serial_number")), "SN-00042");
    json_decref(req);

    req = request_new();
    turn(req, "is my bike still under warranty");
    r = turn(req, "no");
    CHECK(TOOL(r) == NULL);
    CHECK(contains(TEXT(r), "No problem"));
    json_decref(req);
}

static void test_booking_carries_slots(void)
{
    json_t *req = request_new();
    const json_t *r = turn(req, "I'd like to book a repair for my bike");
    CHECK(contains(TEXT(r), "What's the service you need?"));
    CHECK(contains(TEXT(r), "tune-up, brake repair, wheel truing, puncture repair"));
    r = turn(req, "a brake repair please");
    CHECK(contains(TEXT(r), "What's the day you'd like to bring the bike in?"));
    r = turn(req, "2026-12-10 works for me");
    CHECK_STR(TOOL(r), "book_repair");
    CHECK_STR(json_string_value(json_object_get(resp_input(r), "service")), "brake repair");
    CHECK_STR(json_string_value(json_object_get(resp_input(r), "date")), "2026-12-10");
    CHECK(json_object_get(resp_input(r), "notes") == NULL);
    json_decref(req);

    /* the service in the first message: only the date is asked */
    req = request_new();
    r = turn(req, "can I bring my bicycle in for a tune-up");
    CHECK(contains(TEXT(r), "What's the day you'd like to bring the bike in?"));
    r = turn(req, "tomorrow");
    CHECK_STR(TOOL(r), "book_repair");
    CHECK_STR(json_string_value(json_object_get(resp_input(r), "service")), "tune-up");
    CHECK_STR(json_string_value(json_object_get(resp_input(r), "date")), "tomorrow");
    json_decref(req);
}

static void test_plain_string_and_integer(void)
{
    json_t *req = request_new();
    const json_t *r = turn(req, "I need a quote for spare parts");
    CHECK(contains(TEXT(r), "Which part do you need?"));
    r = turn(req, "A Shimano 11-speed chain.");
    CHECK(contains(TEXT(r), "What's how many you need?"));
    /* out of bounds is not an answer */
    r = turn(req, "50");
    CHECK(contains(TEXT(r), OFFLINE_MARK_REASK));
    r = turn(req, "2 please");
    CHECK_STR(TOOL(r), "quote_part");
    CHECK_STR(json_string_value(json_object_get(resp_input(r), "part")), "A Shimano 11-speed chain");
    CHECK(json_is_integer(json_object_get(resp_input(r), "quantity")));
    CHECK_INT(json_integer_value(json_object_get(resp_input(r), "quantity")), 2);
    r = result(req, r, "{\"price\": 24.5, \"currency\": \"EUR\", \"in_stock\": true}", 0);
    CHECK(contains(TEXT(r), "price: 24.5; currency: EUR; in stock: yes."));
    json_decref(req);

    /* a quoted part in the first message */
    req = request_new();
    r = turn(req, "how much are \"Kool-Stop brake pads\", I need 4");
    CHECK_STR(TOOL(r), "quote_part");
    CHECK_STR(json_string_value(json_object_get(resp_input(r), "part")), "Kool-Stop brake pads");
    CHECK_INT(json_integer_value(json_object_get(resp_input(r), "quantity")), 4);
    json_decref(req);
}

static void test_error_result(void)
{
    json_t *req = request_new();
    const json_t *r = turn(req, "warranty check please, SN-99999");
    CHECK_STR(TOOL(r), "check_warranty");
    r = result(req, r, "{\"error\": \"serial number not found\"}", 1);
    CHECK(contains(TEXT(r), "I'm sorry, that didn't work: serial number not found."));
    CHECK(contains(TEXT(r), OFFLINE_OFFER_HUMAN));
    /* "yes" to the offer hands over to a person */
    r = turn(req, "yes please");
    CHECK_STR(TOOL(r), "escalate_to_human");
    json_decref(req);
}

static void test_not_offered(void)
{
    /* the model knows check_warranty, but this request does not offer it */
    json_t *req = request_with(builtin_tools, 0);
    const json_t *r = turn(req, "is my bike still under warranty? SN-12345");
    CHECK(TOOL(r) == NULL);
    CHECK(contains(TEXT(r), "can't do that in this setup"));
    json_decref(req);

    /* nor is a pending question for it recognised then */
    req = request_with(builtin_tools, 0);
    json_array_append_new(json_object_get(req, "messages"),
                          json_pack("{s:s, s:s}", "role", "user", "content", "warranty?"));
    json_array_append_new(json_object_get(req, "messages"),
                          json_pack("{s:s, s:s}", "role", "assistant", "content",
                                    "What's the serial number of your bike?"));
    r = turn(req, "SN-12345");
    CHECK(TOOL(r) == NULL || strcmp(TOOL(r), "check_warranty") != 0);
    json_decref(req);
}

static void test_builtin_unaffected(void)
{
    /* the seed's login flow on the trained model */
    json_t *req = request_new();
    const json_t *r = turn(req, "I can't log in to my account");
    CHECK(contains(TEXT(r), OFFLINE_ASK_EMAIL));
    r = turn(req, "it's jane.doe@example.com");
    CHECK_STR(TOOL(r), "create_support_ticket");
    CHECK_STR(json_string_value(json_object_get(resp_input(r), "email")), "jane.doe@example.com");
    json_decref(req);

    req = request_new();
    r = turn(req, "where is my order 1042?");
    CHECK_STR(TOOL(r), "lookup_order");
    json_decref(req);

    req = request_new();
    r = turn(req, "I want to talk to a person");
    CHECK_STR(TOOL(r), "escalate_to_human");
    json_decref(req);

    /* a custom intent abandons a built-in question, and a person abandons a custom one */
    req = request_new();
    turn(req, "I can't log in");
    r = turn(req, "actually, is my bike still under warranty?");
    CHECK(contains(TEXT(r), "What's the serial number of your bike?"));
    r = turn(req, "forget it, let me talk to a human");
    CHECK_STR(TOOL(r), "escalate_to_human");
    json_decref(req);
}

/* With no examples the model is exactly the built-in one: same bytes for the same requests. */
static void test_no_examples_is_builtin(void)
{
    static const char *const lines[] = {"hi", "I can't log in", "what's the status of TKT-000042",
                                        "how do I reset my password", "where is my order 1042",
                                        "is my bike still under warranty", "qwzx blorf", NULL};
    struct model *fresh = model_offline_new();
    struct model *reset = model_offline_new();
    json_t *none = json_array();
    json_t *s = shop();
    CHECK(train(reset, s) == 0);
    CHECK(train(reset, none) == 0); /* back to the built-in classifier */
    for (int i = 0; lines[i]; i++) {
        json_t *a = request_with(builtin_tools, 1), *b = request_with(builtin_tools, 1);
        const json_t *ra = turn_on(fresh, a, lines[i]);
        const json_t *rb = turn_on(reset, b, lines[i]);
        char *da = json_dumps(ra, JSON_SORT_KEYS), *db = json_dumps(rb, JSON_SORT_KEYS);
        CHECK(da && db && strcmp(da, db) == 0);
        free(da);
        free(db);
        json_decref(a);
        json_decref(b);
    }
    json_decref(none);
    json_decref(s);
    model_free(fresh);
    model_free(reset);
}

static void test_bad_examples(void)
{
    static const char *const bad[] = {
        "{\"name\": \"x\"}",
        "[{\"name\": \"bad name!\", \"examples\": [\"hi\"]}]",
        "[{\"name\": \"lookup_order\", \"examples\": [\"where is it\"]}]",
        "[{\"name\": \"greeting\", \"examples\": [\"hello\"]}]",
        "[{\"name\": \"unknown\", \"examples\": [\"hello\"]}]",
        "[{\"name\": \"t\", \"examples\": [\"\"]}]",
        "[{\"name\": \"t\", \"examples\": [\"a\", 3]}]",
        "[{\"name\": \"t\", \"examples\": [\"a\"], \"input_schema\": {\"required\": [\"k\"], "
        "\"properties\": {\"k\": {\"type\": \"array\"}}}}]",
        "[{\"name\": \"t\", \"examples\": [\"a\"], \"input_schema\": {\"required\": [\"k\"], "
        "\"properties\": {}}}]",
        "[{\"name\": \"t\", \"examples\": [\"a\"]}, {\"name\": \"t\", \"examples\": [\"b\"]}]",
        NULL};
    /* an utterance over 1 KiB */
    char *long_text = malloc(1100);
    memset(long_text, 'a', 1099);
    long_text[1099] = '\0';
    json_t *lj = json_pack("[{s:s, s:[s]}]", "name", "t", "examples", long_text);
    struct err lerr = {{0}, {0}};
    CHECK_INT(model_offline_train(model, lj, &lerr), -1);
    CHECK_STR(lerr.code, "ToolExamplesInvalid");
    json_decref(lj);
    free(long_text);
    for (int i = 0; bad[i]; i++) {
        json_t *j = json_loads(bad[i], 0, NULL);
        CHECK(j != NULL);
        struct err err = {{0}, {0}};
        CHECK_INT(model_offline_train(model, j, &err), -1);
        CHECK_STR(err.code, "ToolExamplesInvalid");
        json_decref(j);
    }
    /* the model kept what it had */
    json_t *req = request_new();
    const json_t *r = turn(req, "is my bike still under warranty");
    CHECK(contains(TEXT(r), "What's the serial number of your bike?"));
    json_decref(req);
}

/* Patterns: ECMA spellings the model translates, and one it cannot read (a plain string then). */
static void test_patterns(void)
{
    static const char tools[] =
        "[{\"name\": \"find_member\", \"description\": \"Find a club member.\","
        "  \"input_schema\": {\"type\": \"object\", \"required\": [\"code\", \"name\"], "
        "  \"properties\": {\"code\": {\"type\": \"string\", \"pattern\": "
        "\"^(?:CL|CX)[\\\\d]{3}$\", \"description\": \"your club code\"},"
        "   \"name\": {\"type\": \"string\", \"pattern\": \"^\\\\p{L}+$\"}}},"
        "  \"examples\": [\"find my club membership\", \"look up my cycling club member record\","
        "   \"am I a member of the club\", \"check my club membership\"]}]";
    json_t *j = json_loads(tools, 0, NULL);
    CHECK(j != NULL);
    struct model *m = model_offline_new();
    CHECK(train(m, j) == 0);
    json_t *t = json_array();
    json_array_append_new(t, json_pack("{s:s, s:s, s:{s:s}}", "name", "find_member", "description",
                                       "x", "input_schema", "type", "object"));
    json_t *req = json_pack("{s:[], s:o}", "messages", "tools", t);
    const json_t *r = turn_on(m, req, "check my club membership, code CX042 (not XCL999)");
    CHECK(contains(TEXT(r), "What's the name?"));
    r = turn_on(m, req, "Zoë");
    CHECK_STR(TOOL(r), "find_member");
    CHECK_STR(json_string_value(json_object_get(resp_input(r), "code")), "CX042");
    CHECK_STR(json_string_value(json_object_get(resp_input(r), "name")), "Zoë");
    json_decref(req);
    json_decref(j);
    model_free(m);
}

static void test_determinism(void)
{
    static const char *const script[] = {"I'd like to book a repair for my bike", "wheel truing",
                                         "on 2026-12-11", NULL};
    char *dumps[2] = {NULL, NULL};
    for (int run = 0; run < 2; run++) {
        struct model *m = model_offline_new();
        json_t *s = shop();
        CHECK(train(m, s) == 0);
        json_t *req = request_new();
        for (int i = 0; script[i]; i++)
            turn_on(m, req, script[i]);
        dumps[run] = json_dumps(req, JSON_SORT_KEYS);
        json_decref(req);
        json_decref(s);
        model_free(m);
    }
    CHECK(dumps[0] && dumps[1] && strcmp(dumps[0], dumps[1]) == 0);
    CHECK(dumps[0] && strstr(dumps[0], "\"wheel truing\"") && strstr(dumps[0], "toolu_offline_"));
    free(dumps[0]);
    free(dumps[1]);
}

/* ---- reload under load ---- */

struct worker {
    struct model *m;
    int ok;      /* turns that gave a well-formed reply */
    int rounds;
};

static void *work(void *ud)
{
    struct worker *w = ud;
    for (int i = 0; i < w->rounds; i++) {
        json_t *req = request_new();
        const json_t *r = turn_on(w->m, req, "is my bike still under warranty, SN-12345?");
        /* either classifier may be in place: the custom call, or the built-in model's answer */
        if (r && (TOOL(r) || TEXT(r)))
            w->ok++;
        json_decref(req);
    }
    return NULL;
}

static void test_reload_while_running(void)
{
    struct model *m = model_offline_new();
    json_t *s = shop();
    json_t *none = json_array();
    CHECK(train(m, s) == 0);
    struct worker w[2] = {{m, 0, 30}, {m, 0, 30}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, work, &w[i]);
    for (int i = 0; i < 6; i++)
        CHECK(train(m, i % 2 ? s : none) == 0);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    CHECK_INT(w[0].ok, 30);
    CHECK_INT(w[1].ok, 30);
    /* the last reload (the shop) is the one in force */
    json_t *req = request_new();
    const json_t *r = turn_on(m, req, "check the warranty for SN-12345");
    CHECK_STR(TOOL(r), "check_warranty");
    json_decref(req);
    json_decref(s);
    json_decref(none);
    model_free(m);
}

/* ---- accuracy ---- */

/* Every 5th built-in utterance is held out (as test_offline_intents.c does) and every 4th custom
 * example of each tool. */
static size_t n_builtin;

static int keep_train(size_t i, void *ud)
{
    (void)ud;
    return i < n_builtin ? i % 5 != 4 : (i - n_builtin) % 4 != 3;
}

static void held_out(const struct offline_nb *nb, const struct offline_nb_data *d, size_t from,
                     size_t to, size_t *right, size_t *total)
{
    *right = *total = 0;
    for (size_t i = from; i < to; i++) {
        if (keep_train(i, NULL))
            continue;
        struct offline_nb_guess g;
        offline_nb_predict(nb, d->texts[i], &g);
        (*total)++;
        if (g.cls >= 0 && strcmp(nb->classes[g.cls], d->labels[i]) == 0)
            (*right)++;
    }
}

static void test_accuracy(void)
{
    struct offline_nb_data plain = {0}, with = {0};
    struct err err = {{0}, {0}};
    json_t *s = shop();
    CHECK(offline_custom_data(NULL, &plain, &err) == 0);
    CHECK(offline_custom_data(s, &with, &err) == 0);
    n_builtin = plain.n;
    CHECK_INT(plain.n, (long long)offline_intents_examples_count);
    CHECK(with.n > plain.n);

    struct offline_nb *a = offline_nb_train(&plain, keep_train, NULL, 0.1);
    struct offline_nb *b = offline_nb_train(&with, keep_train, NULL, 0.1);
    size_t ra, ta, rb, tb, rc, tc;
    held_out(a, &plain, 0, plain.n, &ra, &ta);
    held_out(b, &with, 0, n_builtin, &rb, &tb);
    held_out(b, &with, n_builtin, with.n, &rc, &tc);
    double acc_a = 100.0 * (double)ra / (double)ta, acc_b = 100.0 * (double)rb / (double)tb;
    printf("# built-in held-out accuracy without custom intents: %zu/%zu = %.1f%%\n", ra, ta, acc_a);
    printf("# built-in held-out accuracy with the bike shop's 3 intents: %zu/%zu = %.1f%%\n", rb,
           tb, acc_b);
    printf("# custom held-out accuracy: %zu/%zu = %.1f%%\n", rc, tc,
           tc ? 100.0 * (double)rc / (double)tc : 0.0);
    /* the embedded utterances are the file's: the documented 91.6% (91.4% before issue 16's
     * account_compromised intent, whose 8 held-out examples all pass) */
    CHECK(acc_a > 91.55 && acc_a < 91.65);
    /* no noticeable degradation: at most one point */
    CHECK(acc_b >= acc_a - 1.0);
    /* 3 of 4 examples per tool is little to learn from; recorded, and bounded below */
    CHECK(tc > 0 && rc * 2 >= tc);

    /* paraphrases in no example, against the classifier trained on everything */
    static const struct {
        const char *text, *intent;
    } unseen[] = {
        {"is my bike covered", "check_warranty"},
        {"my bike's guarantee", "check_warranty"},
        {"warranty on my frame", "check_warranty"},
        {"how much for a new chain", "quote_part"},
        {"price of two brake cables", "quote_part"},
        {"can I book a service for saturday", "book_repair"},
        {"I'd like a tune-up", "book_repair"},
        {"my gears are skipping, can you look at them", "book_repair"},
    };
    struct offline_custom *cu = offline_custom_new(s, &err);
    size_t ru = 0, nu = sizeof unseen / sizeof unseen[0];
    for (size_t i = 0; cu && i < nu; i++) {
        struct offline_nb_guess g;
        offline_nb_predict(offline_custom_nb(cu), unseen[i].text, &g);
        if (g.cls >= 0 && strcmp(offline_custom_nb(cu)->classes[g.cls], unseen[i].intent) == 0)
            ru++;
        else
            fprintf(stderr, "  unseen miss: '%s' is %s\n", unseen[i].text, unseen[i].intent);
    }
    printf("# custom intents on unseen paraphrases: %zu/%zu\n", ru, nu);
    CHECK(ru * 4 >= nu * 3);

    /* every built-in utterance keeps its intent, apart from a rare drop below the threshold */
    size_t same = 0;
    for (size_t i = 0; cu && i < offline_intents_examples_count; i++) {
        struct offline_intent x, y;
        offline_intents_classify(offline_intents_examples[i].text, &x);
        offline_intents_classify_with(offline_custom_nb(cu), offline_intents_examples[i].text, &y);
        if (strcmp(x.name, y.name) == 0)
            same++;
        else
            fprintf(stderr, "  changed: '%s' %s -> %s\n", offline_intents_examples[i].text,
                    x.name, y.name);
    }
    printf("# built-in utterances keeping their intent with the custom intents: %zu/%zu\n", same,
           offline_intents_examples_count);
    CHECK(same * 100 >= offline_intents_examples_count * 99);
    offline_custom_unref(cu);
    offline_nb_free(a);
    offline_nb_free(b);
    offline_nb_data_release(&plain);
    offline_nb_data_release(&with);
    json_decref(s);
}

int main(void)
{
    model = model_offline_new();
    json_t *s = shop();
    CHECK(s != NULL);
    CHECK(train(model, s) == 0);
    json_decref(s);
    RUN(test_warranty_flow);
    RUN(test_carried_from_earlier);
    RUN(test_reask_and_decline);
    RUN(test_booking_carries_slots);
    RUN(test_plain_string_and_integer);
    RUN(test_error_result);
    RUN(test_not_offered);
    RUN(test_builtin_unaffected);
    RUN(test_no_examples_is_builtin);
    RUN(test_bad_examples);
    RUN(test_patterns);
    RUN(test_determinism);
    RUN(test_reload_while_running);
    RUN(test_accuracy);
    model_free(model);
    return check_summary();
}
