/*
 * test_model_record.c - the record/replay decorator of the model port (issue 12) and the pure
 * parts of scenario files: normalisation (tool-use ids renumbered, credential keys dropped, key
 * stable), record then replay without calling the inner model, a miss naming the closest
 * recording; scenario validation with JSON locations, {{var}} substitution, regex shorthands,
 * turn judging and scenario_from_transcript().
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "model/model_record.h"
#include "ptest/scenario.h"

/* ---- a stub model that counts its calls ---- */

struct stub {
    struct model base;
    int calls;
};

static json_t *stub_invoke(struct model *m, const json_t *request, model_delta_fn on_delta,
                           void *ud, struct err *err)
{
    (void)request;
    (void)on_delta;
    (void)ud;
    (void)err;
    struct stub *s = (struct stub *)m;
    s->calls++;
    return json_pack("{s:s, s:[{s:s, s:s}], s:s}", "type", "message", "content", "type", "text",
                     "text", "recorded answer", "stop_reason", "end_turn");
}

static void stub_free(struct model *m)
{
    (void)m; /* the stub lives on the test's stack */
}

static const struct model_ops stub_ops = {.name = "stub", .invoke = stub_invoke, .free = stub_free};

static json_t *request(const char *text, const char *tool_id)
{
    return json_pack("{s:s, s:i, s:[{s:s, s:s}, {s:s, s:[{s:s, s:s, s:s, s:{}}]}, "
                     "{s:s, s:[{s:s, s:s, s:s}]}], s:s}",
                     "system", "be kind", "max_tokens", 1024, "messages", "role", "user", "content",
                     text, "role", "assistant", "content", "type", "tool_use", "id", tool_id,
                     "name", "lookup_order", "input", "role", "user", "content", "type",
                     "tool_result", "tool_use_id", tool_id, "content", "shipped", "api_key",
                     "sk-should-vanish");
}

static void test_normalise(void)
{
    json_t *a = request("where is my order", "toolu_abc");
    json_t *b = request("where is my order", "toolu_xyz");
    json_t *n = model_record_normalise(a);
    char *text = json_dumps(n, JSON_COMPACT | JSON_SORT_KEYS);
    CHECK(strstr(text, "\"id\":\"toolu_1\"") != NULL);
    CHECK(strstr(text, "\"tool_use_id\":\"toolu_1\"") != NULL);
    CHECK(strstr(text, "toolu_abc") == NULL);
    CHECK(strstr(text, "sk-should-vanish") == NULL && strstr(text, "api_key") == NULL);
    json_t *timed = json_pack("{s:s}", "content", "{\"createdAt\":\"2026-12-04T16:26:01.420Z\"}");
    json_t *tn = model_record_normalise(timed);
    CHECK_STR(json_string_value(json_object_get(tn, "content")), "{\"createdAt\":\"<time>\"}");
    json_decref(tn);
    json_decref(timed);
    char ka[65], kb[65], kc[65];
    model_record_key(a, ka);
    model_record_key(b, kb);
    json_t *c = request("where is my parcel", "toolu_abc");
    model_record_key(c, kc);
    CHECK_INT(strlen(ka), 64);
    CHECK_STR(ka, kb);          /* tool ids do not change the key */
    CHECK(strcmp(ka, kc) != 0); /* the customer's words do */
    free(text);
    json_decref(n);
    json_decref(a);
    json_decref(b);
    json_decref(c);
}

static void test_record_then_replay(void)
{
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/parley-record.XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
    struct stub live = {{&stub_ops}, 0};
    struct err e = {0};
    struct model *rec = model_record_new(&live.base, dir, MODEL_RECORD_SAVE, &e);
    CHECK(rec != NULL);
    json_t *req = request("where is my order", "toolu_abc");
    json_t *r = model_invoke(rec, req, NULL, NULL, &e);
    CHECK(r != NULL);
    CHECK_INT(live.calls, 1);
    json_decref(r);
    model_free(rec);

    struct stub never = {{&stub_ops}, 0};
    struct model *rep = model_record_new(&never.base, dir, MODEL_RECORD_REPLAY, &e);
    CHECK(rep != NULL);
    json_t *again = request("where is my order", "toolu_other");
    r = model_invoke(rep, again, NULL, NULL, &e);
    CHECK(r != NULL);
    CHECK_STR(json_string_value(
                  json_object_get(json_array_get(json_object_get(r, "content"), 0), "text")),
              "recorded answer");
    json_decref(r);
    char missed[ERR_MSG_MAX];
    CHECK_INT(model_record_take_miss(missed, sizeof missed), 0);

    json_t *other = request("where is my parcel", "toolu_abc");
    err_clear(&e);
    r = model_invoke(rep, other, NULL, NULL, &e);
    CHECK(r == NULL);
    CHECK_STR(e.code, "ModelError");
    CHECK(strstr(e.message, "model replay miss") != NULL);
    CHECK(strstr(e.message, "the closest recorded request is") != NULL);
    CHECK(strstr(e.message, "where is my order") != NULL && strstr(e.message, "parcel") != NULL);
    CHECK_INT(model_record_take_miss(missed, sizeof missed), 1);
    CHECK_INT(model_record_take_miss(missed, sizeof missed), 0); /* taken once */
    CHECK_INT(never.calls, 0);
    model_free(rep);

    /* replaying from a directory that does not exist is a configuration error */
    struct stub unused = {{&stub_ops}, 0};
    CHECK(model_record_new(&unused.base, "/nonexistent/parley-rec", MODEL_RECORD_REPLAY, &e) ==
          NULL);
    CHECK_STR(e.code, "InvalidConfig");
    json_decref(req);
    json_decref(again);
    json_decref(other);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK_INT(system(cmd), 0);
}

static void test_scenario_validation(void)
{
    static const struct {
        const char *text;
        const char *message; /* expected in err.message */
    } cases[] = {
        {"[]", "x.json: $: a scenario file holds one object"},
        {"{\"turns\": [{\"user\": \"a\"}]}", "x.json: $.name: a scenario needs a name"},
        {"{\"name\": \"n\", \"turns\": []}", "$.turns: a scenario needs at least one turn"},
        {"{\"name\": \"n\", \"turnz\": []}", "x.json: $.turnz: unknown key \"turnz\""},
        {"{\"name\": \"n\", \"turns\": [{\"user\": \"a\", \"expect\": {\"tools\": \"x\"}}]}",
         "$.turns[0].expect.tools: must be an array of strings"},
        {"{\"name\": \"n\", \"turns\": [{\"user\": \"a\", \"expect\": {\"status\": \"gone\"}}]}",
         "$.turns[0].expect.status: must be \"active\" or \"handoff\""},
        {"{\"name\": \"n\", \"turns\": [{\"expect\": {}}]}", "$.turns[0]: a turn needs \"user\""},
        {"{\"name\": \"n\", \"turns\": [{\"user\": \"a\", \"session\": \"x\"}]}",
         "session \"x\" is not declared"},
        {"{\"name\": \"n\", \"turns\": [{\"user\": \"a\", \"expect\": {\"capture\": {\"v\": 3}}}]}",
         "$.turns[0].expect.capture.v: must be a regular expression"},
        {"{\"name\": \"n\", \"effects\": {\"ticket\": []}, \"turns\": [{\"user\": \"a\"}]}",
         "$.effects.ticket: unknown key"},
        {"{\"name\": \"n\", \"turns\": [{\"user\": \"a\"}], \"name\": \"m\"}", "x.json:1:"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct err e = {0};
        json_t *sc = scenario_parse("x.json", cases[i].text, strlen(cases[i].text), &e);
        CHECK(sc == NULL);
        if (!strstr(e.message, cases[i].message))
            fprintf(stderr, "case %zu: '%s' lacks '%s'\n", i, e.message, cases[i].message);
        CHECK(strstr(e.message, cases[i].message) != NULL);
        json_decref(sc);
    }
    const char *good = "{\"name\": \"n\", \"sessions\": {\"b\": {\"user\": \"u\"}}, \"turns\": "
                       "[{\"user\": \"a\", \"session\": \"b\", \"expect\": {\"reply_matches\": "
                       "\"TKT-\\\\d+\", \"capture\": {\"t\": {\"path\": \"a.b\"}}}}]}";
    struct err e = {0};
    json_t *sc = scenario_parse("x.json", good, strlen(good), &e);
    CHECK(sc != NULL);
    json_decref(sc);
}

static void test_judge_turn(void)
{
    json_t *vars = json_object();
    json_t *resp = json_pack("{s:s, s:i, s:s, s:s, s:[{s:s, s:s, s:{s:s, s:s}}]}", "sessionId",
                             "S1", "turn", 2, "reply", "Opened ticket TKT-000042 for you.",
                             "status", "active", "actions", "tool", "create_support_ticket",
                             "status", "succeeded", "input", "priority", "high", "email",
                             "a@b.example");
    json_t *expect = json_pack("{s:s, s:[s], s:{s:{s:s}}, s:{s:s}, s:s}", "reply_matches",
                               "ticket tkt-\\d{6}", "tools", "create_support_ticket", "tool_args",
                               "create_support_ticket", "priority", "high", "capture", "t",
                               "TKT-\\d+", "status", "active");
    char *why = NULL;
    size_t len = 0;
    FILE *w = open_memstream(&why, &len);
    CHECK_INT(scenario_judge_turn(expect, 200, resp, vars, 2, "S1", w), 1);
    CHECK_STR(json_string_value(json_object_get(vars, "t")), "TKT-000042");
    /* a later expectation uses the capture; a wrong one fails with a line saying so */
    json_t *later = json_pack("{s:s, s:b, s:s}", "reply_not_matches", "{{t}}", "no_tools", 1,
                              "reply_contains", "opened");
    CHECK_INT(scenario_judge_turn(later, 200, resp, vars, 3, "S2", w), 0);
    fclose(w);
    CHECK(strstr(why, "expected the reply not to match /{{t}}/") != NULL);
    CHECK(strstr(why, "expected no tool calls") != NULL);
    CHECK(strstr(why, "expected the reply to contain \"opened\"") != NULL);
    CHECK(strstr(why, "expected turn 3, got 2") != NULL);
    CHECK(strstr(why, "sessionId changed from S2 to S1") != NULL);
    free(why);
    char *s = scenario_subst("status of {{t}}?", vars, NULL);
    CHECK_STR(s, "status of TKT-000042?");
    free(s);
    CHECK(scenario_subst("{{nope}}", vars, NULL) == NULL);
    json_decref(later);
    json_decref(expect);
    json_decref(resp);
    json_decref(vars);
}

static void test_from_transcript(void)
{
    json_t *doc = json_loads(
        "{\"sessionId\": \"S1\", \"userId\": \"u1\", \"status\": \"handoff\", \"messages\": ["
        "{\"role\": \"user\", \"content\": \"hi\"},"
        "{\"role\": \"assistant\", \"content\": \"Hello!\"},"
        "{\"role\": \"user\", \"content\": \"order 1042\"},"
        "{\"role\": \"assistant\", \"content\": \"\", \"toolUses\": [{\"id\": \"t1\", \"tool\": "
        "\"lookup_order\", \"input\": {\"orderId\": \"1042\"}}]},"
        "{\"role\": \"tool\", \"content\": \"{}\", \"toolUseId\": \"t1\", \"isError\": true},"
        "{\"role\": \"assistant\", \"content\": \"Not found.\"},"
        "{\"role\": \"operator\", \"content\": \"I am here\"}]}",
        0, NULL);
    json_t *sc = scenario_from_transcript(doc);
    CHECK(sc != NULL);
    char *text = json_dumps(sc, JSON_COMPACT);
    struct err e = {0};
    json_t *back = scenario_parse("saved.json", text, strlen(text), &e);
    CHECK(back != NULL); /* what it writes, the loader accepts */
    json_t *turns = json_object_get(sc, "turns");
    CHECK_INT(json_array_size(turns), 2);
    CHECK(json_is_true(
        json_object_get(json_object_get(json_array_get(turns, 0), "expect"), "no_tools")));
    json_t *e2 = json_object_get(json_array_get(turns, 1), "expect");
    CHECK_STR(json_string_value(json_array_get(json_object_get(e2, "tools_called"), 0)),
              "lookup_order");
    CHECK(json_object_get(e2, "tools") == NULL); /* it failed: called, not succeeded */
    CHECK_STR(json_string_value(json_object_get(e2, "status")), "handoff");
    CHECK_STR(json_string_value(json_object_get(sc, "user")), "u1");
    free(text);
    json_decref(back);
    json_decref(sc);
    json_decref(doc);
}

int main(void)
{
    RUN(test_normalise);
    RUN(test_record_then_replay);
    RUN(test_scenario_validation);
    RUN(test_judge_turn);
    RUN(test_from_transcript);
    return check_summary();
}
