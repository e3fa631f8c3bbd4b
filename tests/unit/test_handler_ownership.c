/*
 * test_handler_ownership.c - the workflow state's ownership contract (agent.h "Ownership",
 * sfn.h sfn_task_fn): every handler leaves its event exactly as it was, at any depth, while the
 * state travels from handler to handler without being deep-copied. The turn workflow
 * (statemachine/agent.asl.json) runs on the ASL engine with each handler wrapped in a check.
 */
#include <stdlib.h>
#include <unistd.h>

#include "agent/agent_int.h"
#include "agent/tools.h"
#include "agent/turn.h"
#include "base/xmalloc.h"
#include "check.h"
#include "sfn/sfn.h"
#include "sfn/sfn_lambda.h"

/* ---------------------------------------------------------------- a scripted model */

struct scripted {
    struct model base;
    json_t *replies; /* array of responses, used in order */
    size_t next;     /* index of the next reply */
};

static json_t *scripted_invoke(struct model *m, const json_t *req, model_delta_fn d, void *ud,
                               struct err *err)
{
    (void)req, (void)d, (void)ud;
    struct scripted *s = (struct scripted *)m;
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

/* ---------------------------------------------------------------- checked handlers */

static struct agent agent;
static struct sfn_machine *machine;
static int calls;            /* handler calls checked */
static int unchanged;        /* of which left their event unchanged */
static json_t *history_seen; /* LoadContext's history array, to see it travel uncopied */
static int history_shared;   /* later handlers got that very array */

static json_t *checked(void *ud, json_t *event, struct err *err)
{
    const struct agent_handler *h = ud;
    json_t *before = json_deep_copy(event);
    json_t *out = h->fn(&agent, event, err);
    calls++;
    if (json_equal(before, event))
        unchanged++;
    else
        fprintf(stderr, "handler %s changed its event\n", h->name);
    if (history_seen && json_object_get(event, "history") == history_seen)
        history_shared++;
    if (out && !strcmp(h->name, "LoadContext"))
        history_seen = json_object_get(out, "history");
    json_decref(before);
    return out;
}

/* Runs the machine with every handler wrapped in checked(); the agent's workflow. */
static json_t *checked_workflow(struct agent *a, json_t *state, struct err *err)
{
    (void)a;
    struct sfn_lambda_handler hs[16];
    size_t n = 0;
    for (; agent_handlers[n].name && n < 16; n++)
        hs[n] = (struct sfn_lambda_handler){agent_handlers[n].name, checked,
                                            (void *)&agent_handlers[n]};
    struct sfn_lambda_table table = {hs, n};
    struct sfn_run_opts opts = {.task = sfn_lambda_task, .task_ud = &table};
    struct sfn_result res = {0};
    json_t *before = json_deep_copy(state);
    json_t *out = NULL;
    history_seen = NULL;
    if (sfn_run(machine, state, &opts, &res) == 0 && res.status == SFN_SUCCEEDED)
        out = json_incref(res.output);
    else
        err_set(err, res.error ? res.error : "States.Runtime", "%s", res.cause ? res.cause : "");
    CHECK(json_equal(before, state)); /* the caller's request state is the first event */
    json_decref(before);
    sfn_result_release(&res);
    return out;
}

/* ---------------------------------------------------------------- tests */

static struct scripted model;

static json_t *text_reply(const char *text)
{
    return json_pack("{s:[{s:s, s:s}], s:s, s:{s:i, s:i}}", "content", "type", "text", "text", text,
                     "stop_reason", "end_turn", "usage", "input_tokens", 10, "output_tokens", 5);
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

static void script(json_t *replies)
{
    json_decref(model.replies);
    model.replies = replies;
    model.next = 0;
}

/* A two-turn conversation with a tool call: LoadContext, inference, ActionExecutor, inference,
 * SaveConversation, twice; no handler may change what it was given. */
static void test_handlers_leave_their_event(void)
{
    struct err e;
    json_t *input = json_pack("{s:s, s:s, s:s, s:s}", "title", "Cannot log in", "description",
                              "locked out", "priority", "high", "email", "a@example.com");
    script(json_pack("[o, o, o]",
                     json_pack("{s:[{s:s, s:s, s:s, s:o}], s:s, s:{s:i, s:i}}", "content", "type",
                               "tool_use", "id", "tu_1", "name", "create_support_ticket", "input",
                               input, "stop_reason", "tool_use", "usage", "input_tokens", 7,
                               "output_tokens", 3),
                     text_reply("Ticket created."), text_reply("Anything else?")));
    calls = unchanged = history_shared = 0;
    json_t *out = chat(NULL, "help", &e);
    CHECK(out != NULL);
    CHECK_STR(json_string_value(json_object_get(out, "reply")), "Ticket created.");
    const char *sid = json_string_value(json_object_get(out, "sessionId"));
    json_t *again = sid ? chat(sid, "thanks", &e) : NULL;
    CHECK(again != NULL);
    CHECK_STR(json_string_value(json_object_get(again, "reply")), "Anything else?");
    CHECK(calls >= 8);
    CHECK_INT(unchanged, calls);
    /* The history array LoadContext made reached the later handlers as it was: no deep copy. */
    CHECK(history_shared >= 3);
    json_decref(again);
    json_decref(out);
}

/* The error path: a failing model sends the state to HandleError, which must not change it
 * either, and still answers with the apology. */
static void test_error_path_leaves_its_event(void)
{
    struct err e;
    script(json_array()); /* the model fails at once */
    calls = unchanged = 0;
    json_t *out = chat(NULL, "hello", &e);
    CHECK(out != NULL);
    CHECK_STR(json_string_value(json_object_get(out, "reply")), agent_apology);
    CHECK(calls >= 3);
    CHECK_INT(unchanged, calls);
    json_decref(out);
}

/* agent__state_next copies the top level and the containers handlers change, shares the rest. */
static void test_state_next_shares_what_is_not_changed(void)
{
    json_t *ev = json_pack("{s:[{s:s}], s:[], s:[], s:{s:i}, s:{s:i}, s:s}", "history", "role",
                           "user", "newMessages", "actions", "usage", "input_tokens", 1, "context",
                           "lastSeen", 5, "sessionId", "s1");
    json_t *out = agent__state_next(ev);
    CHECK(out != ev);
    CHECK(json_equal(out, ev));
    CHECK(json_object_get(out, "history") == json_object_get(ev, "history"));
    const char *changed[] = {"newMessages", "actions", "usage", "context"};
    for (int i = 0; i < 4; i++)
        CHECK(json_object_get(out, changed[i]) != json_object_get(ev, changed[i]));
    agent__append_message(out, "user", json_string("x"));
    json_object_set_new(json_object_get(out, "context"), "lastSeen", json_integer(9));
    CHECK_INT(json_array_size(json_object_get(ev, "newMessages")), 0);
    CHECK_INT(json_integer_value(json_object_get(json_object_get(ev, "context"), "lastSeen")), 5);
    json_decref(out);
    json_decref(ev);
}

int main(void)
{
    xmalloc_init();
    struct err e;
    struct config cfg;
    config_load(&cfg, &e);
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/parley-own-XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    char path[128];
    snprintf(path, sizeof path, "%s/t.db", dir);
    struct store *store = store_sqlite_new(path, 2, &e);
    model.base.ops = &scripted_ops;
    struct tools *tools = tools_new(NULL, NULL, &e);
    agent = (struct agent){.cfg = &cfg,
                           .store = store,
                           .model = &model.base,
                           .tools = tools,
                           .workflow = checked_workflow};
    char asl[512];
    snprintf(asl, sizeof asl, "%s/statemachine/agent.asl.json",
             getenv("PARLEY_SRC") ? getenv("PARLEY_SRC") : ".");
    FILE *f = fopen(asl, "rb");
    static char text[1 << 20];
    size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    if (f)
        fclose(f);
    text[n] = '\0';
    machine = sfn_machine_parse(text, &e);
    if (!machine) {
        fprintf(stderr, "%s: %s\n", asl, e.message);
        return 1;
    }
    RUN(test_state_next_shares_what_is_not_changed);
    RUN(test_handlers_leave_their_event);
    RUN(test_error_path_leaves_its_event);
    json_decref(model.replies);
    sfn_machine_free(machine);
    tools_free(tools);
    store_free(store);
    config_release(&cfg);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        return 1;
    return check_summary();
}
