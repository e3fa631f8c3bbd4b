/* test_sfn.c - unit tests of the ASL engine's C API: parse, run, Retry/Catch, clock, threads. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/xmalloc.h"
#include "check.h"
#include "sfn/sfn.h"
#include "sfn/sfn_lambda.h"
#include "sfn/sfn_mock.h"

static const char *SEED =
    "{\"Comment\":\"Customer Support Agent Workflow\",\"StartAt\":\"LoadContext\",\"States\":{"
    "\"LoadContext\":{\"Type\":\"Task\",\"Resource\":\"arn:aws:lambda:REGION:ACCOUNT:function:"
    "LoadContext\",\"Next\":\"CallBedrock\"},"
    "\"CallBedrock\":{\"Type\":\"Task\",\"Resource\":\"arn:aws:lambda:REGION:ACCOUNT:function:"
    "BedrockInference\",\"Next\":\"CheckForActions\"},"
    "\"CheckForActions\":{\"Type\":\"Choice\",\"Choices\":[{\"Variable\":\"$.requiresAction\","
    "\"BooleanEquals\":true,\"Next\":\"ExecuteAction\"}],\"Default\":\"SaveAndReturn\"},"
    "\"ExecuteAction\":{\"Type\":\"Task\",\"Resource\":\"arn:aws:lambda:REGION:ACCOUNT:function:"
    "ActionExecutor\",\"Next\":\"SaveAndReturn\"},"
    "\"SaveAndReturn\":{\"Type\":\"Task\",\"Resource\":\"arn:aws:lambda:REGION:ACCOUNT:function:"
    "SaveConversation\",\"End\":true}}}";

/* handlers for the seed: each tags the event so the path through the machine is visible */
static json_t *h_load(void *ud, json_t *ev, struct err *err)
{
    (void)ud, (void)err;
    json_t *o = json_copy(ev);
    json_object_set_new(o, "loaded", json_true());
    return o;
}
static json_t *h_model(void *ud, json_t *ev, struct err *err)
{
    (void)ud, (void)err;
    json_t *o = json_copy(ev);
    json_object_set_new(o, "requiresAction",
                        json_boolean(json_is_true(json_object_get(ev, "wantAction"))));
    return o;
}
static int action_calls;
static json_t *h_action(void *ud, json_t *ev, struct err *err)
{
    (void)ud;
    action_calls++;
    if (json_is_true(json_object_get(ev, "breakAction"))) {
        err_set(err, "ActionFailed", "the action could not run");
        return NULL;
    }
    json_t *o = json_copy(ev);
    json_object_set_new(o, "acted", json_true());
    return o;
}
static json_t *h_save(void *ud, json_t *ev, struct err *err)
{
    (void)ud, (void)err;
    json_t *o = json_copy(ev);
    json_object_set_new(o, "saved", json_true());
    return o;
}

static const struct sfn_lambda_handler handlers[] = {
    {"LoadContext", h_load, NULL},       {"BedrockInference", h_model, NULL},
    {"ActionExecutor", h_action, NULL},  {"SaveConversation", h_save, NULL},
};
static const struct sfn_lambda_table table = {handlers, 4};

static json_t *J(const char *s)
{
    json_error_t e;
    json_t *j = json_loads(s, JSON_DECODE_ANY, &e);
    if (!j)
        fprintf(stderr, "bad test JSON: %s: %s\n", s, e.text);
    return j;
}

static void test_seed_workflow(void)
{
    struct err e = {0};
    struct sfn_machine *m = sfn_machine_parse(SEED, &e);
    CHECK(m != NULL);
    if (!m) {
        fprintf(stderr, "%s\n", e.message);
        return;
    }
    struct sfn_run_opts o = {.task = sfn_lambda_task, .task_ud = (void *)&table,
                             .want_history = 1, .virtual_clock = 1};
    json_t *in = J("{\"wantAction\":true}");
    struct sfn_result r;
    CHECK_INT(sfn_run(m, in, &o, &r), 0);
    CHECK_STR(sfn_status_name(r.status), "SUCCEEDED");
    CHECK(json_is_true(json_object_get(r.output, "acted")));
    CHECK(json_is_true(json_object_get(r.output, "saved")));
    CHECK(json_is_true(json_object_get(r.output, "loaded")));
    CHECK(json_array_size(r.history) > 10);
    json_t *last = json_array_get(r.history, json_array_size(r.history) - 1);
    CHECK_STR(json_string_value(json_object_get(last, "type")), "ExecutionSucceeded");
    CHECK_STR(json_string_value(json_object_get(json_array_get(r.history, 0), "type")),
              "ExecutionStarted");
    sfn_result_release(&r);
    json_decref(in);
    in = J("{\"wantAction\":false}");
    action_calls = 0;
    o.want_history = 0;
    CHECK_INT(sfn_run(m, in, &o, &r), 0);
    CHECK_INT(r.status, SFN_SUCCEEDED);
    CHECK(json_object_get(r.output, "acted") == NULL);
    CHECK_INT(action_calls, 0);
    CHECK(r.history == NULL);
    sfn_result_release(&r);
    json_decref(in);
    in = J("{\"wantAction\":true,\"breakAction\":true}");
    CHECK_INT(sfn_run(m, in, &o, &r), 0);
    CHECK_INT(r.status, SFN_FAILED);
    CHECK_STR(r.error, "ActionFailed");
    CHECK(r.cause && strstr(r.cause, "could not run"));
    sfn_result_release(&r);
    json_decref(in);
    sfn_machine_free(m);
}

int main(void)
{
    xmalloc_init();
    RUN(test_seed_workflow);
    return check_summary();
}
