/*
 * test_turn.c - request validation and the turn workflow (LoadContext → model → ExecuteAction →
 * SaveConversation) driven with a scripted model port, so each path is exercised exactly; and
 * the token budgets a turn spends (in its save's transaction, or when it ends unsaved).
 */
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "agent/history.h"
#include "agent/kb.h"
#include "agent/tools.h"
#include "agent/turn.h"
#include "runtime/workflow_local.h"
#include "base/clock.h"
#include "base/xmalloc.h"
#include "check.h"

/* ---------------------------------------------------------------- a scripted model */

struct scripted {
    struct model base;
    json_t *replies;    /* array of responses, used in order */
    size_t next;        /* index of the next reply */
    json_t *last_req;   /* the last request seen */
    json_t *seen;       /* when not NULL, every request as handed over (references) */
};

static json_t *scripted_invoke(struct model *m, const json_t *req, model_delta_fn d, void *ud,
                               struct err *err)
{
    (void)d;
    (void)ud;
    struct scripted *s = (struct scripted *)m;
    json_decref(s->last_req);
    s->last_req = json_deep_copy(req);
    if (s->seen)
        json_array_append(s->seen, (json_t *)req);
    json_t *r = json_array_get(s->replies, s->next++);
    if (!r) {
        err_set(err, "ModelError", "script exhausted");
        return NULL;
    }
    return json_deep_copy(r);
}

static void scripted_free(struct model *m)
{
    (void)m;
}

static const struct model_ops scripted_ops = {
    .name = "scripted", .invoke = scripted_invoke, .free = scripted_free};

static json_t *text_reply(const char *text)
{
    return json_pack("{s:[{s:s, s:s}], s:s, s:{s:i, s:i}}", "content", "type", "text", "text", text,
                     "stop_reason", "end_turn", "usage", "input_tokens", 10, "output_tokens", 5);
}

static json_t *tool_reply(const char *id, const char *name, json_t *input)
{
    return json_pack("{s:[{s:s, s:s, s:s, s:o}], s:s, s:{s:i, s:i}}", "content", "type",
                     "tool_use", "id", id, "name", name, "input", input, "stop_reason", "tool_use",
                     "usage", "input_tokens", 7, "output_tokens", 3);
}

static struct config cfg;
static int errors_seen;

static void count_error(struct agent *a, const json_t *state, const char *error, const char *cause)
{
    (void)a;
    (void)state;
    (void)cause;
    if (error && error[0])
        errors_seen++;
}
static struct store *store;
static struct scripted model;
static struct agent agent;
static char dir[64];

static void script(json_t *replies)
{
    json_decref(model.replies);
    model.replies = replies;
    model.next = 0;
}

static json_t *chat(const char *sid, const char *text, struct err *e)
{
    json_t *req = json_pack("{s:s}", "message", text);
    if (sid)
        json_object_set_new(req, "sessionId", json_string(sid));
    json_t *out = turn_run(&agent, req, e);
    json_decref(req);
    return out;
}

/* ---------------------------------------------------------------- parsing */

static void expect_parse_error(const char *body, const char *code, const char *fragment)
{
    struct err e;
    err_clear(&e);
    json_t *r = turn_parse_request(body, strlen(body), &e);
    CHECK(r == NULL);
    json_decref(r);
    CHECK_STR(e.code, code);
    if (!strstr(e.message, fragment))
        fprintf(stderr, "'%s' lacks '%s'\n", e.message, fragment);
    CHECK(strstr(e.message, fragment) != NULL);
}

static void test_parse_request(void)
{
    struct err e;
    const char *good = "{\"message\":\"hi\",\"sessionId\":\"a-b_C9\",\"userId\":\"u\"}";
    json_t *ok = turn_parse_request(good, strlen(good), &e);
    CHECK(ok != NULL);
    json_decref(ok);
    expect_parse_error("[1]", "InvalidRequest", "JSON object");
    expect_parse_error("42", "InvalidRequest", "JSON object");
    expect_parse_error("{\"message\":\"x\",\"message\":\"y\"}", "MalformedJson", "duplicate");
    expect_parse_error("{\"message\":\"a\\u0000b\"}", "InvalidRequest", "NUL");
    expect_parse_error("{\"message\":\"x\",\"userId\":\"\"}", "InvalidRequest", "userId");
    expect_parse_error("{\"message\":\"x\",\"sessionId\":7}", "InvalidRequest", "sessionId");
    expect_parse_error("{\"message\":\"x\",\"sessionId\":\"\"}", "InvalidRequest", "sessionId");
    expect_parse_error("\xff", "InvalidUtf8", "offset 0");
    expect_parse_error("{\"message\":\"\xed\xa0\x80\"}", "InvalidUtf8", "offset 12");
    expect_parse_error("{\"message\":\"\xc0\xaf\"}", "InvalidUtf8", "UTF-8");
}

static void test_session_id_pattern(void)
{
    CHECK(turn_session_id_valid("abc"));
    CHECK(turn_session_id_valid("A-_z09"));
    CHECK(!turn_session_id_valid(""));
    CHECK(!turn_session_id_valid("a b"));
    CHECK(!turn_session_id_valid("a/b"));
    char long65[66];
    memset(long65, 'a', 65);
    long65[65] = '\0';
    CHECK(!turn_session_id_valid(long65));
    long65[64] = '\0';
    CHECK(turn_session_id_valid(long65));
}

/* ---------------------------------------------------------------- workflow */

static void test_text_turn(void)
{
    struct err e;
    script(json_pack("[o]", text_reply("Hello there")));
    json_t *out = chat(NULL, "hi", &e);
    CHECK(out != NULL);
    CHECK_STR(json_string_value(json_object_get(out, "reply")), "Hello there");
    CHECK_INT(json_integer_value(json_object_get(out, "turn")), 1);
    CHECK_INT(json_array_size(json_object_get(out, "actions")), 0);
    /* The request the model saw: system prompt, tool specs, the user message. */
    json_t *req = model.last_req;
    CHECK(json_string_length(json_object_get(req, "system")) > 20);
    CHECK(json_array_size(json_object_get(req, "tools")) >= 2);
    CHECK_INT(json_array_size(json_object_get(req, "messages")), 1);
    json_decref(out);
}

static void test_tool_loop(void)
{
    struct err e;
    json_t *input = json_pack("{s:s, s:s, s:s, s:s}", "title", "Cannot log in", "description",
                              "locked out", "priority", "high", "email", "a@example.com");
    script(json_pack("[o, o]", tool_reply("tu_1", "create_support_ticket", input),
                     text_reply("Ticket created.")));
    json_t *out = chat(NULL, "help", &e);
    CHECK(out != NULL);
    json_t *a0 = json_array_get(json_object_get(out, "actions"), 0);
    CHECK_STR(json_string_value(json_object_get(a0, "status")), "succeeded");
    CHECK_STR(json_string_value(json_object_get(a0, "id")), "tu_1");
    const char *tid = json_string_value(json_object_get(json_object_get(a0, "result"), "ticketId"));
    CHECK(tid && strncmp(tid, "TKT-", 4) == 0);
    /* The second model call saw the tool result right after its tool_use. */
    json_t *msgs = json_object_get(model.last_req, "messages");
    CHECK_INT(json_array_size(msgs), 3);
    json_t *res = json_array_get(json_object_get(json_array_get(msgs, 2), "content"), 0);
    CHECK_STR(json_string_value(json_object_get(res, "type")), "tool_result");
    CHECK_STR(json_string_value(json_object_get(res, "tool_use_id")), "tu_1");
    CHECK(strstr(json_string_value(json_object_get(res, "content")), tid) != NULL);
    CHECK_STR(json_string_value(json_object_get(out, "reply")), "Ticket created.");
    json_decref(out);
}

/* The longest run of digits in s. */
static size_t longest_digit_run(const char *s)
{
    size_t best = 0, run = 0;
    for (; *s; s++) {
        run = *s >= '0' && *s <= '9' ? run + 1 : 0;
        best = run > best ? run : best;
    }
    return best;
}

/* A tool result's numbers reach the model as people write them: a knowledge-base score of
 * 14.2591, not the 14.259099999999999 of seventeen digits (more tokens, and a run of digits the
 * store's card guard must then look at). */
static void test_tool_result_reals_readable(void)
{
    struct err e;
    char dir_kb[512];
    snprintf(dir_kb, sizeof dir_kb, "%s/kb", getenv("PARLEY_SRC") ? getenv("PARLEY_SRC") : ".");
    struct kb *kb = kb_load(dir_kb, &e);
    CHECK(kb != NULL);
    struct tools *with_kb = tools_new(kb, NULL, &e), *tools = agent.tools;
    CHECK(with_kb != NULL);
    agent.tools = with_kb;
    agent.kb = kb;
    script(json_pack("[o, o]", tool_reply("tu_r", "search_knowledge_base",
                                          json_pack("{s:s}", "query", "refund policy")),
                     text_reply("Here is the policy.")));
    json_t *out = chat(NULL, "What is your refund policy?", &e);
    CHECK(out != NULL);
    json_t *a0 = json_array_get(json_object_get(out, "actions"), 0);
    CHECK_STR(json_string_value(json_object_get(a0, "status")), "succeeded");
    json_t *msgs = json_object_get(model.last_req, "messages");
    json_t *res = json_array_get(json_object_get(json_array_get(msgs, 2), "content"), 0);
    const char *text = json_string_value(json_object_get(res, "content"));
    CHECK(text && strstr(text, "\"score\":") != NULL);
    CHECK(text && longest_digit_run(text) < 13);
    json_decref(out);
    agent.tools = tools;
    agent.kb = NULL;
    tools_free(with_kb);
    kb_free(kb);
}

static void test_invalid_tool_input_goes_back_as_error(void)
{
    struct err e;
    script(json_pack("[o, o, o]", tool_reply("tu_x", "create_support_ticket", json_pack("{s:s}", "title", "x")),
                     tool_reply("tu_y", "no_such_tool", json_object()), text_reply("Sorry.")));
    json_t *out = chat(NULL, "help", &e);
    CHECK(out != NULL);
    json_t *acts = json_object_get(out, "actions");
    CHECK_INT(json_array_size(acts), 2);
    CHECK_STR(json_string_value(json_object_get(json_array_get(acts, 0), "status")), "failed");
    CHECK_STR(json_string_value(json_object_get(json_array_get(acts, 1), "status")), "failed");
    json_t *msgs = json_object_get(model.last_req, "messages");
    json_t *res = json_array_get(json_object_get(json_array_get(msgs, json_array_size(msgs) - 1),
                                                 "content"), 0);
    CHECK(json_is_true(json_object_get(res, "is_error")));
    CHECK(strstr(json_string_value(json_object_get(res, "content")), "no_such_tool") != NULL);
    json_decref(out);
}

static void test_iteration_cap(void)
{
    struct err e;
    json_t *replies = json_array();
    for (int i = 0; i < 10; i++)
        json_array_append_new(replies, tool_reply("tu", "get_ticket_status",
                                                  json_pack("{s:s}", "ticket_id", "TKT-000001")));
    script(replies);
    json_t *out = chat(NULL, "loop", &e);
    CHECK(out != NULL);
    CHECK_INT((long long)model.next, cfg.max_tool_iterations);
    CHECK_INT(json_array_size(json_object_get(out, "actions")), cfg.max_tool_iterations);
    json_decref(out);
}

static void test_model_failure_gives_graceful_reply(void)
{
    struct err e;
    err_clear(&e);
    script(json_pack("[{s:s}]", "stop_reason", "end_turn")); /* no content array */
    json_t *out = chat(NULL, "hi", &e);
    CHECK(out != NULL);
    CHECK_STR(json_string_value(json_object_get(out, "reply")), agent_apology);
    CHECK_INT(json_integer_value(json_object_get(out, "turn")), 1);
    json_decref(out);
    /* A failure in the middle of the tool loop: the saved transcript still pairs every
     * tool_use with a tool_result, so the next turn's request is well formed. */
    script(json_pack("[o]", tool_reply("tu_z", "get_ticket_status",
                                       json_pack("{s:s}", "ticket_id", "TKT-000001"))));
    out = chat(NULL, "status", &e); /* the second model call finds the script exhausted */
    CHECK(out != NULL);
    CHECK_STR(json_string_value(json_object_get(out, "reply")), agent_apology);
    char sid[64];
    snprintf(sid, sizeof sid, "%s", json_string_value(json_object_get(out, "sessionId")));
    json_decref(out);
    script(json_pack("[o]", text_reply("fine")));
    out = chat(sid, "again", &e);
    CHECK_STR(json_string_value(json_object_get(out, "reply")), "fine");
    json_decref(out);
    json_t *msgs = json_object_get(model.last_req, "messages");
    /* Every tool_use is answered by a tool_result in the very next message. */
    size_t i;
    json_t *m;
    int uses = 0;
    json_array_foreach(msgs, i, m) {
        json_t *c = json_object_get(m, "content");
        json_t *b0 = json_is_array(c) ? json_array_get(c, 0) : NULL;
        const char *t = json_string_value(json_object_get(b0, "type"));
        if (t && strcmp(t, "tool_use") == 0) {
            uses++;
            json_t *next = json_array_get(json_object_get(json_array_get(msgs, i + 1), "content"), 0);
            CHECK_STR(json_string_value(json_object_get(next, "type")), "tool_result");
            CHECK_STR(json_string_value(json_object_get(next, "tool_use_id")),
                      json_string_value(json_object_get(b0, "id")));
        }
    }
    CHECK_INT(uses, 1);
    CHECK_INT(errors_seen, 2);
}

static void test_history_window_and_budget(void)
{
    struct err e;
    script(json_pack("[o]", text_reply("one")));
    json_t *out = chat(NULL, "first", &e);
    char sid[64];
    snprintf(sid, sizeof sid, "%s", json_string_value(json_object_get(out, "sessionId")));
    json_decref(out);
    /* A tool turn, then a plain turn: the window holds everything in order. */
    script(json_pack("[o, o]", tool_reply("t2", "get_ticket_status",
                                          json_pack("{s:s}", "ticket_id", "TKT-000001")),
                     text_reply("two")));
    json_decref(chat(sid, "second", &e));
    script(json_pack("[o]", text_reply("three")));
    out = chat(sid, "third", &e);
    CHECK_INT(json_integer_value(json_object_get(out, "turn")), 3);
    json_decref(out);
    json_t *msgs = json_object_get(model.last_req, "messages");
    /* user, assistant, user, assistant(tool_use), user(tool_result), assistant, user */
    json_t *first = json_array_get(msgs, 0);
    CHECK_STR(json_string_value(json_object_get(first, "content")), "first");
    CHECK_STR(json_string_value(json_object_get(json_array_get(msgs, json_array_size(msgs) - 1),
                                                "role")),
              "user");

    /* With a tiny budget only the newest turns survive, and the window starts at a turn start. */
    cfg.context_tokens = 8;
    script(json_pack("[o]", text_reply("four")));
    out = chat(sid, "fourth", &e);
    CHECK(out != NULL);
    json_decref(out);
    msgs = json_object_get(model.last_req, "messages");
    first = json_array_get(msgs, 0);
    CHECK_STR(json_string_value(json_object_get(first, "role")), "user");
    CHECK(json_array_size(msgs) < 6);
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m) {
        /* No tool_result may appear without the tool_use before it. */
        json_t *c = json_object_get(m, "content");
        if (i == 0 && json_is_array(c))
            CHECK(strcmp(json_string_value(json_object_get(json_array_get(c, 0), "type")),
                         "tool_result") != 0);
    }
    /* Budgets that keep part of the window: the kept messages are the newest, and the window's
     * size LoadContext notes for the payload check is the trimmed window's (the checked builds
     * assert it against a walk). */
    int partial = 0;
    for (int budget = 20; budget <= 120; budget += 20) {
        cfg.context_tokens = budget;
        script(json_pack("[o]", text_reply("more")));
        out = chat(sid, "again", &e);
        CHECK(out != NULL);
        json_decref(out);
        size_t n = json_array_size(json_object_get(model.last_req, "messages"));
        partial += n > 1 && n < 12;
    }
    CHECK(partial > 0);
    cfg.context_tokens = 8000;
}

/* The history part of the messages of request r: its first n messages. */
static json_t *req_msg(const json_t *r, size_t i)
{
    return json_array_get(json_object_get(r, "messages"), i);
}

/* The model calls of a continuing session's turns carry each window message as one shared value:
 * both calls of a tool turn, and the next turn for the messages still in the window (the history
 * cache keeps the forms with the messages). The values are what the window's messages give. */
static void window_forms_shared(int cached)
{
    struct err e;
    if (cached)
        agent.history = history_cache_new();
    script(json_pack("[o]", text_reply("one")));
    json_t *out = chat(NULL, "first", &e);
    char sid[64];
    snprintf(sid, sizeof sid, "%s", json_string_value(json_object_get(out, "sessionId")));
    json_decref(out);
    model.seen = json_array();
    script(json_pack("[o, o]", tool_reply("t9", "get_ticket_status",
                                          json_pack("{s:s}", "ticket_id", "TKT-000001")),
                     text_reply("two")));
    json_decref(chat(sid, "second", &e));
    script(json_pack("[o]", text_reply("three")));
    json_decref(chat(sid, "third", &e));
    CHECK_INT(json_array_size(model.seen), 3);
    const json_t *r1 = json_array_get(model.seen, 0), *r2 = json_array_get(model.seen, 1),
                 *r3 = json_array_get(model.seen, 2);
    CHECK_INT(json_array_size(json_object_get(r1, "messages")), 3); /* first, one, second */
    CHECK_INT(json_array_size(json_object_get(r2, "messages")), 5); /* + tool_use, result */
    CHECK_INT(json_array_size(json_object_get(r3, "messages")), 7); /* + two, third */
    for (size_t i = 0; i < 2; i++) { /* the window of turn 2, then still in turn 3's */
        CHECK(req_msg(r1, i) == req_msg(r2, i));
        CHECK(!cached || req_msg(r1, i) == req_msg(r3, i)); /* without a cache, read anew */
    }
    /* What the values say: the stored messages in request form. */
    json_t *want = NULL;
    CHECK(store_history_recent(store, sid, 20, &want, &e) == 0);
    CHECK_INT(json_array_size(want), 8); /* turn 3's two messages came after its calls */
    for (size_t i = 0; i < 6; i++) {
        json_t *f = history_api_message(json_array_get(want, i));
        CHECK(json_equal(req_msg(r3, i), f));
        CHECK_INT(json_object_size(req_msg(r3, i)), 2); /* role and content, no timestamp */
        json_decref(f);
    }
    json_decref(want);
    CHECK_STR(json_string_value(json_object_get(req_msg(r1, 0), "content")), "first");
    CHECK_STR(json_string_value(json_object_get(req_msg(r1, 1), "role")), "assistant");
    json_decref(model.seen);
    model.seen = NULL;
    history_cache_free(agent.history);
    agent.history = NULL;
}

static void test_window_forms_shared(void)
{
    window_forms_shared(0);
    window_forms_shared(1);
}

static void test_token_cap_ends_turn(void)
{
    struct err e;
    /* Each scripted reply reports 10 tokens; a cap of 15 allows two model calls, not three. */
    json_t *replies = json_array();
    for (int i = 0; i < 5; i++)
        json_array_append_new(replies, tool_reply("tu", "list_my_tickets", json_object()));
    script(replies);
    int saved = cfg.turn_token_cap;
    cfg.turn_token_cap = 15;
    json_t *out = chat(NULL, "loop", &e);
    cfg.turn_token_cap = saved;
    CHECK(out != NULL);
    CHECK_INT((long long)model.next, 2);
    CHECK_STR(json_string_value(json_object_get(out, "reply")), agent_token_cap_reply);
    CHECK_INT(json_array_size(json_object_get(out, "actions")), 2);
    json_decref(out);
}

static void test_unknown_session(void)
{
    struct err e;
    script(json_pack("[o]", text_reply("x")));
    json_t *out = chat("doesNotExist", "hi", &e);
    CHECK(out == NULL);
    CHECK_STR(e.code, "NotFound");
    CHECK_INT((long long)model.next, 0); /* the model was never called */
}

/* ---------------------------------------------------------------- token budgets */

/* The SQLite store with two ops watched: counter_add counts its calls (a turn's spend written
 * with store transactions of its own), and turn_save fails its next fail_saves calls with
 * fail_code, as a store that is down or busy would. */
static struct store_ops spy_ops;
static const struct store_ops *real_ops;
static int spy_counter_adds, spy_saves, fail_saves;
static const char *fail_code = "StoreError";

static int spy_counter_add(struct store *s, const char *group, const char *name, long long delta,
                           long long expires_ms, long long *value, struct err *err)
{
    spy_counter_adds++;
    return real_ops->counter_add(s, group, name, delta, expires_ms, value, err);
}

static int spy_turn_save(struct store *s, const json_t *turn, int *turn_no, long long *counted,
                         struct err *err)
{
    spy_saves++;
    if (fail_saves > 0) {
        fail_saves--;
        return err_set(err, fail_code, "injected save failure");
    }
    return real_ops->turn_save(s, turn, turn_no, counted, err);
}

/* The day's spend of name ("server", "session:<id>") in the budget counters. */
static long long spent(const char *name)
{
    char group[32];
    time_t t = (time_t)(clock_now_ms() / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(group, sizeof group, "budget-%Y-%m-%d", &tm);
    long long v = -1;
    struct err e;
    CHECK(store_counter_get(store, group, name, &v, &e) == 0);
    return v;
}

static long long session_spent(const char *sid)
{
    char name[96];
    snprintf(name, sizeof name, "session:%s", sid);
    return spent(name);
}

/* A turn's model calls are counted by its save, in the save's transaction: the spend is there
 * after the turn, and no counter was written on its own. */
static void test_budget_counted_with_the_turn(void)
{
    struct err e;
    cfg.session_token_budget = 1000;
    long long server0 = spent("server");
    json_t *input = json_pack("{s:s}", "ticket_id", "TKT-000001");
    script(json_pack("[o, o]", tool_reply("tb1", "get_ticket_status", input),
                     text_reply("Here it is.")));
    spy_counter_adds = spy_saves = 0;
    json_t *out = chat(NULL, "status please", &e);
    CHECK(out != NULL);
    CHECK_INT((long long)model.next, 2);
    CHECK_INT(spy_counter_adds, 0);
    CHECK_INT(spy_saves, 1);
    CHECK_INT(session_spent(json_string_value(json_object_get(out, "sessionId"))), 10 + 15);
    CHECK_INT(spent("server") - server0, 10 + 15);
    json_decref(out);
    cfg.session_token_budget = 0;
}

/* The check before the turn's second model call sees the first call's tokens, which no store
 * write holds yet: a session budget of 10 lets the first call (10 tokens) run, not the second. */
static void test_budget_check_sees_the_turn(void)
{
    struct err e;
    cfg.session_token_budget = 10;
    json_t *input = json_pack("{s:s}", "ticket_id", "TKT-000001");
    script(json_pack("[o, o]", tool_reply("tb2", "get_ticket_status", input), text_reply("never")));
    json_t *out = chat(NULL, "status please", &e);
    CHECK(out != NULL);
    CHECK_INT((long long)model.next, 1);
    CHECK_STR(json_string_value(json_object_get(out, "reply")), agent_budget_reply);
    CHECK_STR(json_string_value(json_object_get(out, "status")), "handoff");
    CHECK_INT(session_spent(json_string_value(json_object_get(out, "sessionId"))), 10);
    json_decref(out);
    cfg.session_token_budget = 0;
}

/* A turn that ends without saving still spends its tokens, once: a save that keeps failing ends
 * the turn with an error and the tokens are written when it ends; a call whose reply is
 * malformed is paid for and counted by the HandleError path's save; a save retried after
 * StoreBusy counts them once. */
static void test_budget_failure_paths(void)
{
    struct err e;
    cfg.session_token_budget = 1000;
    long long server0 = spent("server");
    script(json_pack("[o]", text_reply("lost reply")));
    fail_saves = 1;
    fail_code = "StoreError";
    spy_counter_adds = spy_saves = 0;
    err_clear(&e);
    json_t *out = chat(NULL, "hello", &e);
    CHECK(out == NULL);
    CHECK_STR(e.code, "StoreError");
    CHECK_INT(spy_saves, 1);
    CHECK_INT(spy_counter_adds, 2); /* the server's and the session's spend, at the turn's end */
    CHECK_INT(spent("server") - server0, 15);

    /* The next turn counts only its own tokens. */
    script(json_pack("[o]", text_reply("first")));
    out = chat(NULL, "hello", &e);
    CHECK(out != NULL);
    char sid[64];
    snprintf(sid, sizeof sid, "%s", json_string_value(json_object_get(out, "sessionId")));
    json_decref(out);
    CHECK_INT(spent("server") - server0, 30);
    CHECK_INT(session_spent(sid), 15);

    /* A malformed reply (no content) still used tokens: HandleError answers, its save counts. */
    script(json_pack("[{s:s, s:{s:i, s:i}}]", "stop_reason", "end_turn", "usage", "input_tokens", 4,
                     "output_tokens", 2));
    spy_counter_adds = 0;
    out = chat(sid, "again", &e);
    CHECK(out != NULL);
    CHECK_STR(json_string_value(json_object_get(out, "reply")), agent_apology);
    json_decref(out);
    CHECK_INT(spy_counter_adds, 0);
    CHECK_INT(session_spent(sid), 15 + 6);

    /* A busy store: the workflow retries the save, and the retry that lands counts them once. */
    script(json_pack("[o]", text_reply("after a retry")));
    fail_saves = 1;
    fail_code = "StoreBusy";
    spy_counter_adds = spy_saves = 0;
    out = chat(sid, "once more", &e);
    CHECK(out != NULL);
    json_decref(out);
    CHECK_INT(spy_saves, 2);
    CHECK_INT(spy_counter_adds, 0);
    CHECK_INT(session_spent(sid), 15 + 6 + 15);
    CHECK_INT(spent("server") - server0, 15 + 15 + 6 + 15);
    fail_saves = 0;
    cfg.session_token_budget = 0;
}

int main(void)
{
    xmalloc_init();
    struct err e;
    config_load(&cfg, &e);
    snprintf(dir, sizeof dir, "/tmp/parley-turn-XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    char path[128];
    snprintf(path, sizeof path, "%s/t.db", dir);
    store = store_sqlite_new(path, 2, &e);
    real_ops = store->ops;
    spy_ops = *real_ops;
    spy_ops.counter_add = spy_counter_add;
    spy_ops.turn_save = spy_turn_save;
    store->ops = &spy_ops;
    model.base.ops = &scripted_ops;
    struct tools *tools = tools_new(NULL, NULL, &e);
    static const struct agent_hooks hooks = {.on_error = count_error};
    agent = (struct agent){.cfg = &cfg, .store = store, .model = &model.base, .tools = tools,
                           .hooks = &hooks};
    char asl[512];
    snprintf(asl, sizeof asl, "%s/statemachine/agent.asl.json",
             getenv("PARLEY_SRC") ? getenv("PARLEY_SRC") : ".");
    struct workflow_local *wf = workflow_local_new(&agent, asl, &e);
    if (!wf) {
        fprintf(stderr, "%s\n", e.message);
        return 1;
    }
    workflow_local_attach(wf, &agent);
    RUN(test_parse_request);
    RUN(test_session_id_pattern);
    RUN(test_text_turn);
    RUN(test_tool_loop);
    RUN(test_tool_result_reals_readable);
    RUN(test_invalid_tool_input_goes_back_as_error);
    RUN(test_iteration_cap);
    RUN(test_model_failure_gives_graceful_reply);
    RUN(test_history_window_and_budget);
    RUN(test_window_forms_shared);
    RUN(test_token_cap_ends_turn);
    RUN(test_unknown_session);
    RUN(test_budget_counted_with_the_turn);
    RUN(test_budget_check_sees_the_turn);
    RUN(test_budget_failure_paths);
    json_decref(model.replies);
    json_decref(model.last_req);
    workflow_local_free(wf);
    tools_free(tools);
    store_free(store);
    config_release(&cfg);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        return 1;
    return check_summary();
}
