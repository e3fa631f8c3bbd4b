/*
 * test_offline_model.c - the offline model through the model port: Messages-API requests built in
 * C, replies asserted for every flow (the seed's three-step login conversation and paraphrases,
 * tickets, orders, knowledge-base answers, escalation, fallbacks), tool errors, tools that are not
 * offered, streaming and determinism.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "check.h"
#include "model/model.h"
#include "model/offline_policy.h"

static struct model *model;

static const char *const all_tools[] = {"create_support_ticket", "get_ticket_status",
                                        "list_my_tickets",       "lookup_order",
                                        "search_knowledge_base", "escalate_to_human", NULL};

/* ---- request building ---- */

static json_t *request_with(const char *const *tools)
{
    json_t *t = json_array();
    for (int i = 0; tools && tools[i]; i++)
        json_array_append_new(t, json_pack("{s:s, s:s, s:{s:s}}", "name", tools[i], "description",
                                           "a tool", "input_schema", "type", "object"));
    return json_pack("{s:s, s:[], s:o, s:i}", "system", "You are a helpful support agent.",
                     "messages", "tools", t, "max_tokens", 1024);
}

static json_t *request_new(void)
{
    return request_with(all_tools);
}

static void add_user(json_t *req, const char *text)
{
    json_array_append_new(json_object_get(req, "messages"),
                          json_pack("{s:s, s:s}", "role", "user", "content", text));
}

static void add_assistant_text(json_t *req, const char *text)
{
    json_array_append_new(json_object_get(req, "messages"),
                          json_pack("{s:s, s:[{s:s, s:s}]}", "role", "assistant", "content",
                                    "type", "text", "text", text));
}

/* Appends the response's content as the assistant's message. */
static void add_response(json_t *req, const json_t *resp)
{
    json_array_append_new(json_object_get(req, "messages"),
                          json_pack("{s:s, s:O}", "role", "assistant", "content",
                                    json_object_get(resp, "content")));
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

static const char *input_str(const json_t *resp, const char *key)
{
    return json_string_value(json_object_get(json_object_get(first_block(resp), "input"), key));
}

static void add_tool_result(json_t *req, const json_t *resp, const char *content, int is_error)
{
    const char *id = json_string_value(json_object_get(first_block(resp), "id"));
    json_t *block = json_pack("{s:s, s:s, s:s}", "type", "tool_result", "tool_use_id", id,
                              "content", content);
    if (is_error)
        json_object_set_new(block, "is_error", json_true());
    json_array_append_new(json_object_get(req, "messages"),
                          json_pack("{s:s, s:[o]}", "role", "user", "content", block));
}

static json_t *invoke(const json_t *req)
{
    struct err err = {{0}, {0}};
    json_t *resp = model_invoke(model, req, NULL, NULL, &err);
    if (!resp)
        fprintf(stderr, "invoke failed: %s %s\n", err.code, err.message);
    return resp;
}

/* One user turn: adds the message, invokes, records the reply in the history. */
static json_t *turn(json_t *req, const char *user)
{
    add_user(req, user);
    json_t *resp = invoke(req);
    if (resp)
        add_response(req, resp);
    return resp;
}

/* Feeds a tool result for resp and returns the model's follow-up (recorded in the history). */
static json_t *result(json_t *req, const json_t *resp, const char *content, int is_error)
{
    add_tool_result(req, resp, content, is_error);
    json_t *next = invoke(req);
    if (next)
        add_response(req, next);
    return next;
}

static int contains(const char *hay, const char *needle)
{
    if (!hay || !strstr(hay, needle)) {
        fprintf(stderr, "  expected '%s' in '%s'\n", needle, hay ? hay : "(null)");
        return 0;
    }
    return 1;
}

/* ---- shape ---- */

static void test_response_shape(void)
{
    json_t *req = request_new();
    json_t *r = turn(req, "hello");
    CHECK(r != NULL);
    CHECK_STR(json_string_value(json_object_get(r, "type")), "message");
    CHECK_STR(json_string_value(json_object_get(r, "role")), "assistant");
    CHECK_STR(json_string_value(json_object_get(r, "stop_reason")), "end_turn");
    const char *id = json_string_value(json_object_get(r, "id"));
    CHECK(id && strncmp(id, "msg_offline_", 12) == 0 && strlen(id) == 28);
    CHECK(json_string_value(json_object_get(r, "model")) != NULL);
    json_t *usage = json_object_get(r, "usage");
    json_int_t in = json_integer_value(json_object_get(usage, "input_tokens"));
    json_int_t out = json_integer_value(json_object_get(usage, "output_tokens"));
    CHECK(in > 0);
    /* the estimate tracks the text: at least a token per 6 characters, at most one per 2 */
    size_t len = strlen(resp_text(r));
    CHECK(out >= (json_int_t)(len / 6) && out <= (json_int_t)(len / 2));
    CHECK(contains(resp_text(r), "Hello"));
    json_decref(r);
    /* a longer history costs more input tokens */
    json_t *r2 = turn(req, "I have a question about the billing of my last three orders please");
    CHECK(json_integer_value(json_object_get(json_object_get(r2, "usage"), "input_tokens")) > in);
    json_decref(r2);
    json_decref(req);
}

static void test_bad_requests(void)
{
    struct err err = {{0}, {0}};
    json_t *req = json_pack("{s:[]}", "messages");
    CHECK(model_invoke(model, req, NULL, NULL, &err) == NULL);
    CHECK_STR(err.code, "InvalidRequest");
    json_decref(req);
    req = json_pack("{s:s}", "messages", "hello");
    CHECK(model_invoke(model, req, NULL, NULL, &err) == NULL);
    json_decref(req);
    req = json_array();
    CHECK(model_invoke(model, req, NULL, NULL, &err) == NULL);
    json_decref(req);
    /* odd but well-formed: content of unknown types, missing roles */
    req = json_pack("{s:[{s:s, s:[{s:s}]}, {s:i}]}", "messages", "role", "user", "content",
                    "type", "image", "content", 3);
    json_t *r = model_invoke(model, req, NULL, NULL, &err);
    CHECK(r != NULL);
    json_decref(r);
    json_decref(req);
}

/* ---- the seed's conversation ---- */

static void login_flow(const char *first, const char *title)
{
    json_t *req = request_new();
    json_t *r1 = turn(req, first);
    CHECK(resp_tool(r1) == NULL);
    CHECK(contains(resp_text(r1), "email address"));
    CHECK_STR(json_string_value(json_object_get(r1, "stop_reason")), "end_turn");

    json_t *r2 = turn(req, "It's jane.doe@example.com");
    CHECK_STR(resp_tool(r2), "create_support_ticket");
    CHECK_STR(json_string_value(json_object_get(r2, "stop_reason")), "tool_use");
    CHECK_STR(input_str(r2, "email"), "jane.doe@example.com");
    CHECK_STR(input_str(r2, "priority"), "high");
    CHECK_STR(input_str(r2, "title"), title);
    CHECK(contains(input_str(r2, "description"), first));
    const char *tid = json_string_value(json_object_get(first_block(r2), "id"));
    CHECK(tid && strncmp(tid, "toolu_offline_", 14) == 0);

    json_t *r3 = result(req, r2, "{\"ticketId\":\"TKT-000001\",\"status\":\"open\","
                                 "\"priority\":\"high\"}", 0);
    CHECK_STR(json_string_value(json_object_get(r3, "stop_reason")), "end_turn");
    CHECK(contains(resp_text(r3), "I've opened ticket TKT-000001"));
    CHECK(contains(resp_text(r3), "jane.doe@example.com"));
    json_decref(r1);
    json_decref(r2);
    json_decref(r3);
    json_decref(req);
}

static void test_seed_login_flow(void)
{
    login_flow("I can't log into my account", "Unable to log in to account");
}

static void test_login_paraphrases(void)
{
    login_flow("login isn't working", "Unable to log in to account");
    login_flow("can't sign in", "Unable to log in to account");
    login_flow("Hi, I cannot sign in to the website since this morning",
               "Unable to log in to account");
    login_flow("I'm locked out of my account", "Account locked");
}

static void test_login_with_email_and_priority(void)
{
    json_t *req = request_new();
    json_t *r = turn(req, "I can't log in, my email is sam@example.org and it's not urgent");
    CHECK_STR(resp_tool(r), "create_support_ticket");
    CHECK_STR(input_str(r, "email"), "sam@example.org");
    CHECK_STR(input_str(r, "priority"), "low");
    json_decref(r);
    json_decref(req);

    /* priority stated in the answer counts too */
    req = request_new();
    json_decref(turn(req, "the checkout page gives me an error"));
    r = turn(req, "bob@example.com, and it's urgent please");
    CHECK_STR(resp_tool(r), "create_support_ticket");
    CHECK_STR(input_str(r, "priority"), "urgent");
    CHECK(contains(input_str(r, "title"), "checkout"));
    json_decref(r);
    json_decref(req);
}

static void test_email_reask_and_decline(void)
{
    json_t *req = request_new();
    json_decref(turn(req, "I can't log into my account"));
    json_t *r = turn(req, "hmm I'm not sure which one");
    CHECK(resp_tool(r) == NULL);
    /* not knowing the address gets the way to find it and the offer of a person, not a re-ask */
    CHECK(contains(resp_text(r), "account-access.md"));
    CHECK(contains(resp_text(r), OFFLINE_OFFER_HUMAN));
    json_decref(r);
    /* the address can still come afterwards, and the report is still found */
    r = turn(req, "oh wait, it's jane.doe@example.com");
    CHECK_STR(resp_tool(r), "create_support_ticket");
    CHECK(contains(input_str(r, "description"), "I can't log into my account"));
    json_decref(r);
    json_decref(req);

    req = request_new();
    json_decref(turn(req, "I can't log into my account"));
    r = turn(req, "no thanks");
    CHECK(resp_tool(r) == NULL);
    CHECK(contains(resp_text(r), "won't open a ticket"));
    json_decref(r);
    json_decref(req);
}

/* From the scenario review: answers that say the customer cannot give what was asked. */
static void test_cannot_give_detail(void)
{
    json_t *req = request_new();
    json_decref(turn(req, "I can't log in"));
    json_t *r = turn(req, "I don\xe2\x80\x99t remember it"); /* typographic apostrophe */
    CHECK(resp_tool(r) == NULL);
    CHECK(contains(resp_text(r), "account-access.md"));
    json_decref(r);
    r = turn(req, "yes please");
    CHECK_STR(resp_tool(r), "escalate_to_human");
    json_decref(r);
    json_decref(req);

    /* "I forgot my password" is a question of its own, not "I don't know my email" */
    req = request_new();
    json_decref(turn(req, "I can't log in"));
    r = turn(req, "I forgot my password");
    CHECK_STR(resp_tool(r), "search_knowledge_base");
    json_decref(r);
    json_decref(req);

    req = request_new();
    json_decref(turn(req, "check my ticket"));
    r = turn(req, "I don't know the number");
    CHECK_STR(resp_tool(r), "list_my_tickets");
    json_decref(r);
    json_decref(req);

    req = request_new();
    json_decref(turn(req, "where is my order"));
    r = turn(req, "no idea");
    CHECK(resp_tool(r) == NULL);
    CHECK(contains(resp_text(r), "Account, then Orders"));
    CHECK(contains(resp_text(r), OFFLINE_OFFER_HUMAN));
    json_decref(r);
    r = turn(req, "found it, 1043");
    CHECK_STR(resp_tool(r), "lookup_order");
    CHECK_STR(input_str(r, "order_id"), "1043");
    json_decref(r);
    json_decref(req);
}

static void test_ticket_tool_error(void)
{
    json_t *req = request_new();
    json_decref(turn(req, "I can't log into my account"));
    json_t *r = turn(req, "jane.doe@example.com");
    json_t *r2 = result(req, r, "ticket store unavailable", 1);
    CHECK(contains(resp_text(r2), "couldn't open the ticket"));
    CHECK(contains(resp_text(r2), "ticket store unavailable"));
    CHECK(strstr(resp_text(r2), "TKT-") == NULL);
    json_decref(r2);
    /* accepting the offer of a person escalates */
    r2 = turn(req, "yes please");
    CHECK_STR(resp_tool(r2), "escalate_to_human");
    json_decref(r2);
    json_decref(r);
    json_decref(req);
}

/* ---- tickets ---- */

static void test_ticket_status(void)
{
    json_t *req = request_new();
    json_t *r = turn(req, "what is the status of TKT-000001");
    CHECK_STR(resp_tool(r), "get_ticket_status");
    CHECK_STR(input_str(r, "ticket_id"), "TKT-000001");
    json_t *r2 = result(req, r, "{\"ticketId\":\"TKT-000001\",\"status\":\"open\",\"title\":"
                                "\"Unable to log in to account\",\"priority\":\"high\","
                                "\"createdAt\":\"2025-01-02T03:04:05Z\"}", 0);
    CHECK(contains(resp_text(r2), "TKT-000001"));
    CHECK(contains(resp_text(r2), "is open"));
    CHECK(contains(resp_text(r2), "Unable to log in to account"));
    CHECK(contains(resp_text(r2), "2025-01-02"));
    json_decref(r);
    json_decref(r2);

    r = turn(req, "and ticket 99?");
    CHECK_STR(resp_tool(r), "get_ticket_status");
    CHECK_STR(input_str(r, "ticket_id"), "TKT-000099");
    r2 = result(req, r, "ticket TKT-000099 not found", 1);
    CHECK(contains(resp_text(r2), "I couldn't find ticket TKT-000099. Please check"));
    CHECK(strstr(resp_text(r2), "not found") == NULL); /* no "(ticket TKT-000099 not found)" echo */
    json_decref(r);
    json_decref(r2);
    json_decref(req);
}

static void test_ticket_status_slot_filling(void)
{
    json_t *req = request_new();
    json_t *r = turn(req, "what's the status of my ticket");
    CHECK(resp_tool(r) == NULL);
    CHECK(contains(resp_text(r), "TKT-000042"));
    json_decref(r);
    r = turn(req, "TKT-000007");
    CHECK_STR(resp_tool(r), "get_ticket_status");
    CHECK_STR(input_str(r, "ticket_id"), "TKT-000007");
    json_decref(r);
    json_decref(req);

    /* a bare number answers the question */
    req = request_new();
    json_decref(turn(req, "any update on my ticket?"));
    r = turn(req, "it's 12");
    CHECK_STR(input_str(r, "ticket_id"), "TKT-000012");
    json_decref(r);
    json_decref(req);
}

static void test_list_tickets(void)
{
    json_t *req = request_new();
    json_t *r = turn(req, "show me all my tickets");
    CHECK_STR(resp_tool(r), "list_my_tickets");
    CHECK_INT(json_object_size(json_object_get(first_block(r), "input")), 0);
    json_t *r2 = result(req, r, "{\"tickets\":[{\"ticketId\":\"TKT-000001\",\"title\":\"Unable "
                                "to log in\",\"status\":\"open\",\"priority\":\"high\"},"
                                "{\"ticketId\":\"TKT-000002\",\"status\":\"closed\"}]}", 0);
    CHECK(contains(resp_text(r2), "2 tickets"));
    CHECK(contains(resp_text(r2), "TKT-000002"));
    json_decref(r);
    json_decref(r2);
    r = turn(req, "list my tickets");
    r2 = result(req, r, "[]", 0);
    CHECK(contains(resp_text(r2), "don't have any support tickets"));
    json_decref(r);
    json_decref(r2);
    json_decref(req);
}

/* ---- orders ---- */

static void test_order_flow(void)
{
    json_t *req = request_new();
    json_t *r = turn(req, "where is my order?");
    CHECK(resp_tool(r) == NULL);
    CHECK(contains(resp_text(r), "order number"));
    json_decref(r);
    r = turn(req, "1042");
    CHECK_STR(resp_tool(r), "lookup_order");
    CHECK_STR(input_str(r, "order_id"), "1042");
    json_t *r2 = result(req, r, "{\"orderId\":\"1042\",\"status\":\"shipped\",\"items\":["
                                "{\"name\":\"Blue mug\",\"quantity\":2},\"Tea towel\"],"
                                "\"shipping\":{\"carrier\":\"DHL\",\"tracking\":\"JD0140\","
                                "\"eta\":\"2025-03-01\"}}", 0);
    CHECK(contains(resp_text(r2), "Order 1042 is shipped"));
    CHECK(contains(resp_text(r2), "2 x Blue mug"));
    CHECK(contains(resp_text(r2), "Tea towel"));
    CHECK(contains(resp_text(r2), "DHL"));
    CHECK(contains(resp_text(r2), "JD0140"));
    CHECK(contains(resp_text(r2), "2025-03-01"));
    json_decref(r);
    json_decref(r2);

    r = turn(req, "and where is order #7777?");
    CHECK_STR(input_str(r, "order_id"), "7777");
    r2 = result(req, r, "{\"error\":\"order 7777 not found\"}", 1);
    CHECK(contains(resp_text(r2), "couldn't find order 7777. Please check"));
    CHECK(strstr(resp_text(r2), "not found") == NULL); /* no "(order 7777 not found)" echo */
    json_decref(r);
    json_decref(r2);

    /* an error code prefix is not read out to the customer */
    r = turn(req, "where is order 8888");
    r2 = result(req, r, "NotFound: order 8888 not found", 1);
    CHECK(contains(resp_text(r2), "couldn't find order 8888. Please check"));
    CHECK(strstr(resp_text(r2), "not found") == NULL);
    CHECK(strstr(resp_text(r2), "NotFound") == NULL);
    json_decref(r);
    json_decref(r2);

    r = turn(req, "has ORD-2201 shipped yet");
    CHECK_STR(input_str(r, "order_id"), "2201");
    json_decref(r);
    json_decref(req);
}

/* ---- knowledge base ---- */

static void test_kb_answers(void)
{
    static const char *const questions[] = {
        "how do I reset my password", "what's your refund policy",
        "how long does shipping take", "I want to return an item",
        "where can I find my invoice", "how do I cancel my subscription",
        "how do I change my email address", NULL};
    for (int i = 0; questions[i]; i++) {
        json_t *req = request_new();
        json_t *r = turn(req, questions[i]);
        if (!resp_tool(r) || strcmp(resp_tool(r), "search_knowledge_base") != 0)
            fprintf(stderr, "  '%s' did not search the knowledge base\n", questions[i]);
        CHECK_STR(resp_tool(r), "search_knowledge_base");
        CHECK_STR(input_str(r, "query"), questions[i]);
        json_decref(r);
        json_decref(req);
    }
    json_t *req = request_new();
    json_t *r = turn(req, "I forgot my password");
    json_t *r2 = result(req, r, "{\"results\":[{\"article\":\"password-reset.md\",\"title\":"
                                "\"Resetting your password\",\"passage\":\"On the sign-in page, "
                                "choose Forgot password.\",\"score\":3.2}]}", 0);
    CHECK(contains(resp_text(r2), "choose Forgot password"));
    CHECK(contains(resp_text(r2), "Resetting your password"));
    CHECK(contains(resp_text(r2), "password-reset.md"));
    json_decref(r);
    json_decref(r2);
    /* a close second passage of the same article is added; one from another article is not */
    r = turn(req, "how do I reset my password");
    r2 = result(req, r, "{\"results\":[{\"article\":\"a.md\",\"title\":\"A\",\"passage\":"
                        "\"First part.\",\"score\":5.0},{\"article\":\"a.md\",\"title\":\"A\","
                        "\"passage\":\"Second part.\",\"score\":4.5},{\"article\":\"b.md\","
                        "\"title\":\"B\",\"passage\":\"Other article.\",\"score\":4.4}]}", 0);
    CHECK(contains(resp_text(r2), "First part.\n\nSecond part."));
    CHECK(strstr(resp_text(r2), "Other article") == NULL);
    json_decref(r);
    json_decref(r2);
    r = turn(req, "what is your refund policy");
    r2 = result(req, r, "{\"results\":[]}", 0);
    CHECK(contains(resp_text(r2), "couldn't find anything"));
    json_decref(r2);
    /* accepting the offered ticket asks for the address, then opens it about the question */
    r2 = turn(req, "yes");
    CHECK(contains(resp_text(r2), OFFLINE_ASK_EMAIL));
    json_decref(r2);
    r2 = turn(req, "kim@example.com");
    CHECK_STR(resp_tool(r2), "create_support_ticket");
    CHECK(contains(input_str(r2, "description"), "refund policy"));
    CHECK_STR(input_str(r2, "priority"), "medium");
    json_decref(r2);
    json_decref(r);
    json_decref(req);
}

/* ---- people ---- */

static void test_escalation(void)
{
    json_t *req = request_new();
    json_t *r = turn(req, "I want to talk to a human");
    CHECK_STR(resp_tool(r), "escalate_to_human");
    CHECK(contains(input_str(r, "reason"), "talk to a human"));
    json_t *r2 = result(req, r, "{\"status\":\"handoff\"}", 0);
    CHECK(contains(resp_text(r2), "support team"));
    json_decref(r);
    json_decref(r2);
    json_decref(req);

    req = request_new();
    r = turn(req, "this is unacceptable, your service is terrible");
    CHECK_STR(resp_tool(r), "escalate_to_human");
    json_decref(r);
    json_decref(req);
}

static void test_fallback_then_escalation(void)
{
    json_t *req = request_new();
    json_t *r = turn(req, "what's the weather like in Paris tomorrow");
    CHECK(resp_tool(r) == NULL);
    CHECK(contains(resp_text(r), OFFLINE_MARK_FALLBACK));
    json_decref(r);
    r = turn(req, "tell me a joke about penguins");
    CHECK_STR(resp_tool(r), "escalate_to_human");
    CHECK(contains(input_str(r, "reason"), "two consecutive"));
    json_decref(r);
    json_decref(req);

    /* a resolved turn in between resets the count */
    req = request_new();
    json_decref(turn(req, "what's the weather like in Paris tomorrow"));
    json_decref(turn(req, "thanks"));
    r = turn(req, "tell me a joke about penguins");
    CHECK(resp_tool(r) == NULL);
    CHECK(contains(resp_text(r), OFFLINE_MARK_FALLBACK));
    json_decref(r);
    json_decref(req);
}

static void test_small_talk(void)
{
    json_t *req = request_new();
    json_t *r = turn(req, "good morning!");
    CHECK(contains(resp_text(r), "Hello"));
    json_decref(r);
    r = turn(req, "are you a bot?");
    CHECK(contains(resp_text(r), "not a language model"));
    json_decref(r);
    r = turn(req, "thank you so much");
    CHECK(contains(resp_text(r), "welcome"));
    json_decref(r);
    r = turn(req, "bye for now");
    CHECK(contains(resp_text(r), "Goodbye"));
    json_decref(r);
    json_decref(req);
}

/* ---- tools that are not offered ---- */

static void test_unknown_and_missing_tools(void)
{
    /* only some tools, plus one the model does not know */
    static const char *const some[] = {"get_ticket_status", "frobnicate_account", NULL};
    json_t *req = request_with(some);
    json_t *r = turn(req, "I can't log into my account");
    CHECK(resp_tool(r) == NULL);
    CHECK(contains(resp_text(r), "can't open support tickets"));
    json_decref(r);
    r = turn(req, "I want to talk to a human");
    CHECK(resp_tool(r) == NULL);
    CHECK(contains(resp_text(r), "support@parleydemo.example"));
    json_decref(r);
    r = turn(req, "status of TKT-000005");
    CHECK_STR(resp_tool(r), "get_ticket_status");
    json_decref(r);
    r = turn(req, "how do I reset my password");
    CHECK(resp_tool(r) == NULL);
    json_decref(r);
    json_decref(req);

    /* no tools at all: never a tool_use */
    static const char *const inputs[] = {"I can't log in", "jane@example.com", "where is order 5",
                                         "talk to a human", "refund policy", "asdf qwer", NULL};
    req = request_with(NULL);
    for (int i = 0; inputs[i]; i++) {
        r = turn(req, inputs[i]);
        CHECK(resp_tool(r) == NULL);
        CHECK(resp_text(r) != NULL && resp_text(r)[0] != '\0');
        json_decref(r);
    }
    json_decref(req);
}

/* ---- streaming and determinism ---- */

struct stream {
    char buf[4096];
    int deltas;
    int bad; /* a delta that is not one word plus its trailing space */
};

static void on_delta(void *ud, const char *text)
{
    struct stream *s = ud;
    s->deltas++;
    size_t len = strlen(text);
    const char *sp = strpbrk(text, " \n");
    if (len == 0 || (sp && strspn(sp, " \n") != strlen(sp)))
        s->bad = 1;
    strncat(s->buf, text, sizeof s->buf - strlen(s->buf) - 1);
}

static void test_streaming(void)
{
    json_t *req = request_new();
    add_user(req, "hello there");
    struct stream s = {{0}, 0, 0};
    struct err err = {{0}, {0}};
    json_t *r = model_invoke(model, req, on_delta, &s, &err);
    CHECK(r != NULL);
    CHECK_STR(s.buf, resp_text(r));
    CHECK(s.deltas > 5);
    CHECK(!s.bad);
    json_decref(r);

    /* a tool call streams nothing */
    json_t *req2 = request_new();
    add_user(req2, "status of TKT-000003");
    struct stream s2 = {{0}, 0, 0};
    r = model_invoke(model, req2, on_delta, &s2, &err);
    CHECK_STR(resp_tool(r), "get_ticket_status");
    CHECK_INT(s2.deltas, 0);
    json_decref(r);
    json_decref(req2);
    json_decref(req);
}

static void test_determinism(void)
{
    json_t *req = request_new();
    add_user(req, "I can't log into my account");
    add_assistant_text(req, "I'm sorry. To do that, " OFFLINE_ASK_EMAIL "?");
    add_user(req, "It's jane.doe@example.com");
    json_t *a = invoke(req);
    json_t *b = invoke(req);
    char *da = json_dumps(a, JSON_SORT_KEYS);
    char *db = json_dumps(b, JSON_SORT_KEYS);
    CHECK_STR(da, db);
    /* a different conversation gets a different id */
    add_user(req, "thanks");
    json_t *c = invoke(req);
    CHECK(strcmp(json_string_value(json_object_get(a, "id")),
                 json_string_value(json_object_get(c, "id"))) != 0);
    free(da);
    free(db);
    json_decref(a);
    json_decref(b);
    json_decref(c);
    json_decref(req);
}

/* The message id the model must give req: hash_stream of its compact, key-sorted JSON text, long
 * strings digested. */
/* "#" and 16 hex digits of hash_stream of n bytes at s. */
static json_t *digest_text(const char *s, size_t n)
{
    struct hash_stream hs;
    hash_stream_init(&hs);
    hash_stream_feed(&hs, s, n);
    char text[24];
    snprintf(text, sizeof text, "#%016llx", (unsigned long long)hash_stream_done(&hs));
    return json_string(text);
}

/* The digest string of v: of its compact, key-sorted JSON text. */
static json_t *digest_of(const json_t *v)
{
    char *text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    json_t *out = digest_text(text, strlen(text));
    free(text);
    return out;
}

/* v with its long strings digested (model.h), written here apart from the model's walk. */
static json_t *digested_any(const json_t *v)
{
    if (json_is_string(v) && json_string_length(v) >= MODEL_OFFLINE_LONG_STRING)
        return digest_of(v);
    json_t *out = json_is_object(v) ? json_object() : json_is_array(v) ? json_array() : NULL;
    if (!out)
        return json_deep_copy(v);
    const char *k;
    json_t *x;
    size_t i;
    if (json_is_object(v))
        json_object_foreach((json_t *)v, k, x)
            json_object_set_new(out, k, digested_any(x));
    else
        json_array_foreach(v, i, x)
            json_array_append_new(out, digested_any(x));
    return out;
}

/* A "content" or "tools" value: a long string or a container of a long text, digested whole. */
static json_t *digested_whole(const json_t *v)
{
    if (json_is_object(v) || json_is_array(v)) {
        char *text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
        json_t *out = strlen(text) >= MODEL_OFFLINE_LONG_STRING ? digest_text(text, strlen(text))
                                                                : json_deep_copy(v);
        free(text);
        return out;
    }
    return digested_any(v);
}

/* The request as its id's text shows it (model.h). */
static json_t *digested(const json_t *req)
{
    json_t *out = json_object();
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)req, k, x) {
        if (strcmp(k, "tools") == 0) {
            json_object_set_new(out, k, digested_whole(x));
        } else if (strcmp(k, "messages") == 0 && json_is_array(x)) {
            json_t *msgs = json_array();
            size_t i;
            json_t *m;
            json_array_foreach(x, i, m) {
                if (!json_is_object(m)) {
                    json_array_append_new(msgs, digested_any(m));
                    continue;
                }
                json_t *dm = json_object();
                const char *mk;
                json_t *mv;
                json_object_foreach(m, mk, mv)
                    json_object_set_new(dm, mk,
                                        strcmp(mk, "content") == 0 ? digested_whole(mv)
                                                                   : digested_any(mv));
                json_array_append_new(msgs, dm);
            }
            json_object_set_new(out, k, msgs);
        } else {
            json_object_set_new(out, k, digested_any(x));
        }
    }
    return out;
}

static void expected_id(const json_t *req, char want[40])
{
    json_t *d = digested(req);
    char *dump = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(d);
    struct hash_stream hs;
    hash_stream_init(&hs);
    hash_stream_feed(&hs, dump, strlen(dump));
    free(dump);
    snprintf(want, 40, "msg_offline_%016llx", (unsigned long long)hash_stream_done(&hs));
}

/* The id is hash_stream of the request's compact, key-sorted JSON and the input tokens count the
 * system prompt, messages and tools, whichever way the model serialises them internally. The
 * token figure was taken from the build that still counted json_dumps() strings. */
static void test_id_and_usage_are_stable(void)
{
    json_t *req = request_new();
    add_user(req, "I can't log into my account");
    add_assistant_text(req, "I'm sorry. To do that, " OFFLINE_ASK_EMAIL "?");
    add_user(req, "It's jane.doe@example.com \"quoted\" \u00e9t\u00e9\n");
    json_object_set_new(req, "max_tokens", json_integer(512));
    char want[40];
    expected_id(req, want);
    json_t *r = invoke(req);
    CHECK_STR(json_string_value(json_object_get(r, "id")), want);
    CHECK_INT((long)json_integer_value(json_object_get(json_object_get(r, "usage"), "input_tokens")),
              414);
    json_decref(r);
    json_decref(req);
}

/* The documented estimate, over text: a run of letters, digits or UTF-8 bytes costs a token
 * per four (rounded up), every other visible character one, whitespace nothing. */
static size_t tokens_of_text(const char *s)
{
    size_t tokens = 0, run = 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c >= 0x80) {
            run++;
            continue;
        }
        tokens += (run + 3) / 4;
        run = 0;
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '\v' && c != '\f')
            tokens++;
    }
    return tokens + (run + 3) / 4;
}

/* The estimated input tokens of req: tokens_of_text over its dumped system, messages and
 * tools. */
static size_t expected_tokens(const json_t *req)
{
    size_t tokens = 0;
    const char *counted[] = {"system", "messages", "tools"};
    for (int i = 0; i < 3; i++) {
        char *part = json_dumps(json_object_get(req, counted[i]),
                                JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        if (part)
            tokens += tokens_of_text(part);
        free(part);
    }
    return tokens;
}

/* Invokes the model on req: its id and input tokens are those of the dumped request. */
static void check_id_and_usage(const json_t *req)
{
    char want[40];
    expected_id(req, want);
    json_t *r = invoke(req);
    CHECK_STR(json_string_value(json_object_get(r, "id")), want);
    CHECK_INT((long)json_integer_value(json_object_get(json_object_get(r, "usage"), "input_tokens")),
              (long)expected_tokens(req));
    json_decref(r);
}

/* The model walks the request without json_dumps; whatever the request holds (every escape, a
 * NUL, UTF-8, numbers, literals, objects with more keys than fit its stack, deep nesting), the
 * id is still hash_stream of json_dumps(request, JSON_COMPACT | JSON_SORT_KEYS) and the input
 * tokens the estimate over the dumped system, messages and tools. */
static void test_id_and_usage_match_the_dump(void)
{
    json_t *req = request_new();
    add_user(req, "Where is my order? \"ORD-1\" \\ tab\t nl\n cr\r bs\b ff\f \x01\x1f\x7f "
                  "\u00e9t\u00e9 \xe2\x80\xa8 / end");
    json_array_append_new(json_object_get(req, "messages"),
                          json_pack("{s:s, s:s#}", "role", "user", "content", "nul\0inside", 10));
    json_t *wide = json_object(); /* more keys than the walk keeps on its stack */
    for (int i = 40; i > 0; i--) {
        char k[16];
        snprintf(k, sizeof k, "k%02d", i);
        json_object_set_new(wide, k, i % 3 ? json_integer(-i * 1000003LL) : json_true());
    }
    json_object_set_new(wide, "z", json_null());
    json_object_set_new(wide, "f", json_false());
    json_object_set_new(wide, "r", json_real(0.1));
    json_t *deep = json_string("bottom");
    for (int i = 0; i < 50; i++)
        deep = json_pack("{s:[o]}", "d", deep);
    json_object_set_new(wide, "deep", deep);
    json_array_append_new(json_object_get(req, "messages"),
                          json_pack("{s:s, s:[{s:s, s:s, s:s, s:o}]}", "role", "assistant",
                                    "content", "type", "tool_use", "id", "toolu_1", "name",
                                    "lookup_order", "input", wide));
    json_array_append_new(json_object_get(req, "messages"),
                          json_pack("{s:s, s:[{s:s, s:s, s:s, s:b}]}", "role", "user", "content",
                                    "type", "tool_result", "tool_use_id", "toolu_1", "content",
                                    "{\"status\": \"shipped\"}", "is_error", 0));
    add_user(req, "and my ticket?");
    json_object_set_new(req, "metadata", json_pack("{s:s}", "note", "not counted: \"x\""));
    check_id_and_usage(req);
    json_decref(req);
}

/* Long values are measured once and kept by address: the id and the tokens are the same whether
 * a value is met for the first time or again, or as another value of the same text; a string of
 * MODEL_OFFLINE_LONG_STRING - 1 bytes is hashed as text, one of the limit as its digest; a kept
 * value whose length or member count changed is measured again. */
static void test_long_strings(void)
{
    char tool_text[1200], at_limit[MODEL_OFFLINE_LONG_STRING + 1],
        below[MODEL_OFFLINE_LONG_STRING];
    size_t n = 0;
    while (n + 40 < sizeof tool_text) {
        const char piece[] = "{\"passage\":\"caf\xc3\xa9 \\ tab\t 30 days\"},\n";
        memcpy(tool_text + n, piece, sizeof piece - 1);
        n += sizeof piece - 1;
    }
    tool_text[n] = '\0';
    memset(at_limit, 'w', sizeof at_limit - 1);
    at_limit[sizeof at_limit - 1] = '\0';
    at_limit[100] = ' ';
    memset(below, 'v', sizeof below - 1);
    below[sizeof below - 1] = '\0';
    json_t *req = request_new();
    add_user(req, "What is your refund policy?");
    json_array_append_new(json_object_get(req, "messages"),
                          json_pack("{s:s, s:[{s:s, s:s, s:s, s:b}]}", "role", "user", "content",
                                    "type", "tool_result", "tool_use_id", "toolu_1", "content",
                                    tool_text, "is_error", 0));
    add_assistant_text(req, at_limit);
    add_user(req, below);
    check_id_and_usage(req); /* measured */
    check_id_and_usage(req); /* kept */
    json_t *copy = json_deep_copy(req); /* the same text at other addresses */
    json_t *a = invoke(req), *b = invoke(copy);
    CHECK_STR(json_string_value(json_object_get(a, "id")),
              json_string_value(json_object_get(b, "id")));
    CHECK(json_equal(json_object_get(a, "usage"), json_object_get(b, "usage")));
    json_decref(a);
    json_decref(b);
    json_decref(copy);
    /* a kept value changed in place to another length or member count is measured again (a
     * turn's values never change; this guards a caller that breaks that) */
    json_t *msgs = json_object_get(req, "messages");
    json_t *question = json_object_get(json_array_get(msgs, 3), "content");
    CHECK(json_string_length(question) >= MODEL_OFFLINE_LONG_STRING - 1);
    json_string_set(question, tool_text);
    check_id_and_usage(req);
    tool_text[n / 2] = '\0';
    json_string_set(question, tool_text);
    check_id_and_usage(req);
    json_t *blocks = json_object_get(json_array_get(msgs, 1), "content");
    json_array_append_new(blocks, json_pack("{s:s, s:s}", "type", "text", "and one more block"));
    check_id_and_usage(req);
    json_decref(req);
}

/* The history cache hands a session's window to every call as the same message values: those
 * values in another request, after other messages and before new ones, give that request's own
 * id and tokens; so do a message with many members, and one content shared by two messages of
 * different roles. */
static void test_messages_kept(void)
{
    char long_text[600];
    memset(long_text, 'q', sizeof long_text - 1);
    long_text[sizeof long_text - 1] = '\0';
    json_t *a = request_new();
    add_user(a, "What is your refund policy?");
    add_assistant_text(a, long_text);
    json_t *shared = json_string("the same words, said twice");
    json_array_append_new(json_object_get(a, "messages"),
                          json_pack("{s:s, s:O}", "role", "user", "content", shared));
    json_array_append_new(json_object_get(a, "messages"),
                          json_pack("{s:s, s:O}", "role", "assistant", "content", shared));
    json_decref(shared);
    json_t *wide = json_pack("{s:s, s:s}", "role", "user", "content", "many members");
    for (int i = 0; i < 8; i++) {
        char k[16];
        snprintf(k, sizeof k, "x%d", i);
        json_object_set_new(wide, k, json_integer(i));
    }
    json_array_append_new(json_object_get(a, "messages"), wide);
    check_id_and_usage(a); /* walked and kept */
    check_id_and_usage(a); /* from the memo */
    json_t *b = request_new(); /* a later call: a new message first, the same values, one more */
    add_user(b, "hello again");
    json_array_extend(json_object_get(b, "messages"), json_object_get(a, "messages"));
    add_user(b, "and one more \"question\"");
    check_id_and_usage(b);
    check_id_and_usage(b);
    json_t *ra = invoke(a), *rb = invoke(b);
    CHECK(strcmp(json_string_value(json_object_get(ra, "id")),
                 json_string_value(json_object_get(rb, "id"))) != 0);
    json_decref(ra);
    json_decref(rb);
    /* a's first messages, then others: a turn's second call, a conversation gone another way */
    json_t *c = request_new();
    for (size_t i = 0; i < 3; i++)
        json_array_append(json_object_get(c, "messages"),
                          json_array_get(json_object_get(a, "messages"), i));
    add_user(c, "something else entirely");
    check_id_and_usage(c);
    check_id_and_usage(a); /* and back */
    /* the same messages after another max_tokens: another text before them */
    json_t *d = json_deep_copy(a);
    json_object_set(d, "messages", json_object_get(a, "messages"));
    json_object_set_new(d, "max_tokens", json_integer(77));
    check_id_and_usage(d);
    /* fewer than were walked */
    json_t *e = request_new();
    json_array_append(json_object_get(e, "messages"),
                      json_array_get(json_object_get(a, "messages"), 0));
    check_id_and_usage(e);
    json_decref(a);
    json_decref(b);
    json_decref(c);
    json_decref(d);
    json_decref(e);
}

/* The count takes eight bytes a step: runs of every length across those steps and across the
 * pieces the walk feeds (keys, quotes, escapes), over every class of byte, count as the
 * byte-by-byte estimate does. */
static void test_usage_over_random_text(void)
{
    static const char *const alphabet[] = {"a",    "b",        "c",           "X", "Y",    "Z",
                                           "0",    "1",        "9",           " ", "\t",   "\n",
                                           "\v",   "\f",       "\r",          ".", ",",    ":",
                                           "\"",   "\\",       "/",           "-", "_",    "{",
                                           "[",    "@",        "`",           "~", "\x01", "\x1f",
                                           "\x7f", "\xc3\xa9", "\xe2\x80\x94"};
    const size_t n_alphabet = sizeof alphabet / sizeof alphabet[0];
    uint64_t x = 0x9E3779B97F4A7C15ULL;
    for (int round = 0; round < 300; round++) {
        json_t *req = request_new();
        for (int m = 0; m < 1 + round % 4; m++) {
            char text[400];
            size_t len = 0;
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            size_t want_len = x % 300;
            while (len < want_len) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                size_t run = 1 + x % 11; /* runs of one class make words of many lengths */
                const char *c = alphabet[(x >> 8) % n_alphabet];
                for (size_t k = 0; k < run && len < want_len; k++) {
                    memcpy(text + len, c, strlen(c));
                    len += strlen(c);
                }
            }
            text[len] = 0;
            add_user(req, text);
        }
        CHECK_INT((long)json_array_size(json_object_get(req, "messages")), 1 + round % 4);
        check_id_and_usage(req);
        json_decref(req);
    }
}

/* The reply's output tokens are the same estimate over its text, whitespace of every kind (raw
 * in a reply, escaped in a request) included. */
static void test_output_usage(void)
{
    json_t *req = request_new();
    json_t *r = turn(req, "I forgot my password");
    json_t *r2 = result(req, r,
                        "{\"results\":[{\"article\":\"password-reset.md\",\"title\":\"Reset\","
                        "\"passage\":\"Tabs\\there,\\u000bvertical\\ffeed\\rreturn  and "
                        "passwords1234567 \\u00e9t\\u00e9.\",\"score\":3.2}]}",
                        0);
    CHECK(contains(resp_text(r2), "Tabs\there,\vvertical\ffeed\rreturn"));
    CHECK_INT((long)json_integer_value(
                  json_object_get(json_object_get(r2, "usage"), "output_tokens")),
              (long)tokens_of_text(resp_text(r2)));
    json_decref(r);
    json_decref(r2);
    json_decref(req);
}

static json_t *shared_long; /* a long string every thread's requests hold (test_threads) */

static void *thread_main(void *arg)
{
    int *ok = arg;
    *ok = 1;
    for (int i = 0; i < 50; i++) {
        json_t *req = request_new();
        json_array_append_new(json_object_get(req, "messages"),
                              json_pack("{s:s, s:O}", "role", "user", "content", shared_long));
        add_assistant_text(req, "Thanks.");
        add_user(req, "I can't log into my account");
        add_assistant_text(req, "To do that, " OFFLINE_ASK_EMAIL "?");
        add_user(req, "jane.doe@example.com");
        json_t *r = invoke(req);
        if (!resp_tool(r) || strcmp(resp_tool(r), "create_support_ticket") != 0)
            *ok = 0;
        json_decref(r);
        json_decref(req);
    }
    return NULL;
}

static void test_threads(void)
{
    pthread_t t[4];
    int ok[4];
    char text[MODEL_OFFLINE_LONG_STRING * 2];
    memset(text, 'q', sizeof text - 1);
    text[sizeof text - 1] = '\0';
    shared_long = json_string(text);
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, thread_main, &ok[i]);
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        CHECK(ok[i]);
    }
    json_decref(shared_long);
}

static void test_hostile_history(void)
{
    /* a long history with huge messages stays bounded and answers the last message */
    json_t *req = request_new();
    char *big = malloc(200000);
    memset(big, 'x', 199999);
    big[199999] = '\0';
    for (int i = 0; i < 300; i++) {
        add_user(req, i % 2 ? big : "hello");
        add_assistant_text(req, i % 3 ? OFFLINE_MARK_FALLBACK : "ok");
    }
    free(big);
    add_user(req, "what is the status of TKT-000321");
    json_t *r = invoke(req);
    CHECK_STR(resp_tool(r), "get_ticket_status");
    json_decref(r);
    json_decref(req);

    /* a tool_result for a tool_use the window does not hold */
    req = request_new();
    add_user(req, "hi");
    json_array_append_new(json_object_get(req, "messages"),
                          json_pack("{s:s, s:[{s:s, s:s, s:s}]}", "role", "user", "content",
                                    "type", "tool_result", "tool_use_id", "nope", "content",
                                    "{\"weird\":true}"));
    r = invoke(req);
    CHECK(resp_text(r) != NULL);
    json_decref(r);
    json_decref(req);
}

int main(void)
{
    model = model_offline_new();
    CHECK_STR(model_name(model), "offline");
    RUN(test_response_shape);
    RUN(test_bad_requests);
    RUN(test_seed_login_flow);
    RUN(test_login_paraphrases);
    RUN(test_login_with_email_and_priority);
    RUN(test_email_reask_and_decline);
    RUN(test_cannot_give_detail);
    RUN(test_ticket_tool_error);
    RUN(test_ticket_status);
    RUN(test_ticket_status_slot_filling);
    RUN(test_list_tickets);
    RUN(test_order_flow);
    RUN(test_kb_answers);
    RUN(test_escalation);
    RUN(test_fallback_then_escalation);
    RUN(test_small_talk);
    RUN(test_unknown_and_missing_tools);
    RUN(test_streaming);
    RUN(test_determinism);
    RUN(test_threads);
    RUN(test_hostile_history);
    RUN(test_id_and_usage_are_stable);
    RUN(test_id_and_usage_match_the_dump);
    RUN(test_long_strings);
    RUN(test_messages_kept);
    RUN(test_usage_over_random_text);
    RUN(test_output_usage);
    model_free(model);
    model_free(NULL);
    return check_summary();
}
