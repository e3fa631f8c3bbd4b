/* test_sfn.c - unit tests of the ASL engine's C API: parse, run, Retry/Catch, clock, threads. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "base/xmalloc.h"
#include "base/jsontext.h"
#include "check.h"
#include "sfn/sfn.h"
#include "sfn/sfn_cli.h"
#include "sfn/sfn_int.h"
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
    {"LoadContext", h_load, NULL},
    {"BedrockInference", h_model, NULL},
    {"ActionExecutor", h_action, NULL},
    {"SaveConversation", h_save, NULL},
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
    struct sfn_run_opts o = {.task = sfn_lambda_task,
                             .task_ud = (void *)&table,
                             .want_history = 1,
                             .virtual_clock = 1};
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

static void test_lambda_names(void)
{
    char b[64];
    CHECK_INT(sfn_lambda_function_name("arn:aws:lambda:us-east-1:1:function:LoadContext", b,
                                       sizeof b),
              0);
    CHECK_STR(b, "LoadContext");
    CHECK_INT(sfn_lambda_function_name("arn:aws:lambda:us-east-1:1:function:Fn:prod", b, sizeof b),
              0);
    CHECK_STR(b, "Fn");
    CHECK_INT(sfn_lambda_function_name("${LoadContextFunctionArn}", b, sizeof b), 0);
    CHECK_STR(b, "LoadContext");
    CHECK_INT(sfn_lambda_function_name("${SaveConversationArn}", b, sizeof b), 0);
    CHECK_STR(b, "SaveConversation");
    CHECK_INT(sfn_lambda_function_name("${Plain}", b, sizeof b), 0);
    CHECK_STR(b, "Plain");
    CHECK_INT(sfn_lambda_function_name("123456789012:function:Part", b, sizeof b), 0);
    CHECK_STR(b, "Part");
    CHECK_INT(sfn_lambda_function_name("Name:alias", b, sizeof b), 0);
    CHECK_STR(b, "Name");
    CHECK_INT(sfn_lambda_function_name("arn:aws:sqs:us-east-1:1:queue", b, sizeof b), -1);
    CHECK_INT(sfn_lambda_function_name("${}", b, sizeof b), -1);
}

static void test_lambda_invoke_shape_and_errors(void)
{
    const char *def =
        "{\"StartAt\":\"I\",\"States\":{\"I\":{\"Type\":\"Task\",\"Resource\":"
        "\"arn:aws:states:::lambda:invoke\",\"Parameters\":{\"FunctionName\":"
        "\"arn:aws:lambda:us-east-1:1:function:ActionExecutor\",\"Payload.$\":\"$\"},"
        "\"Retry\":[{\"ErrorEquals\":[\"ActionFailed\"],\"MaxAttempts\":2}],"
        "\"Catch\":[{\"ErrorEquals\":[\"ActionFailed\"],\"ResultPath\":\"$.err\",\"Next\":\"H\"}],"
        "\"End\":true},\"H\":{\"Type\":\"Pass\",\"End\":true}}}";
    struct err e = {0};
    struct sfn_machine *m = sfn_machine_parse(def, &e);
    CHECK(m != NULL);
    struct sfn_run_opts o = {.task = sfn_lambda_task,
                             .task_ud = (void *)&table,
                             .virtual_clock = 1};
    json_t *in = J("{\"x\":1}");
    struct sfn_result r;
    sfn_run(m, in, &o, &r);
    CHECK_INT(r.status, SFN_SUCCEEDED);
    CHECK_STR(json_string_value(json_object_get(r.output, "ExecutedVersion")), "$LATEST");
    CHECK_INT(json_integer_value(json_object_get(r.output, "StatusCode")), 200);
    CHECK(json_is_true(json_object_get(json_object_get(r.output, "Payload"), "acted")));
    CHECK_INT(json_integer_value(
                  json_object_get(json_object_get(r.output, "SdkHttpMetadata"), "HttpStatusCode")),
              200);
    CHECK(json_is_string(
        json_object_get(json_object_get(r.output, "SdkResponseMetadata"), "RequestId")));
    sfn_result_release(&r);
    json_decref(in);
    /* handler error: retried twice, then caught by its own errorType */
    action_calls = 0;
    in = J("{\"breakAction\":true}");
    sfn_run(m, in, &o, &r);
    CHECK_INT(r.status, SFN_SUCCEEDED);
    CHECK_INT(action_calls, 3);
    json_t *err = json_object_get(r.output, "err");
    CHECK_STR(json_string_value(json_object_get(err, "Error")), "ActionFailed");
    CHECK(
        strstr(json_string_value(json_object_get(err, "Cause")), "\"errorType\":\"ActionFailed\""));
    sfn_result_release(&r);
    json_decref(in);
    sfn_machine_free(m);
    /* unknown function */
    m = sfn_machine_parse("{\"StartAt\":\"T\",\"States\":{\"T\":{\"Type\":\"Task\",\"Resource\":"
                          "\"${MissingFunctionArn}\",\"End\":true}}}",
                          &e);
    in = J("{}");
    sfn_run(m, in, &o, &r);
    CHECK_STR(r.error, "Lambda.ResourceNotFoundException");
    sfn_result_release(&r);
    json_decref(in);
    sfn_machine_free(m);
}

static void test_problems_listed(void)
{
    struct sfn_problem_list pl;
    sfn_problem_list_init(&pl);
    struct err e = {0};
    struct sfn_machine *m = sfn_machine_parse_ex(
        "{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Pass\",\"Next\":\"Nope\"},"
        "\"B\":{\"Type\":\"Wait\",\"End\":true}}}",
        &pl, &e);
    CHECK(m == NULL);
    CHECK_STR(e.code, "States.InvalidDefinition");
    CHECK(pl.count >= 3);
    CHECK(strstr(e.message, "/States/A/Next") != NULL);
    CHECK(strstr(e.message, "unreachable") != NULL);
    CHECK(strstr(e.message, "exactly one of Seconds") != NULL);
    sfn_problem_list_release(&pl);
    CHECK(sfn_machine_parse("{\"QueryLanguage\":\"JSONata\",\"StartAt\":\"A\",\"States\":{\"A\":"
                            "{\"Type\":\"Succeed\"}}}",
                            &e) == NULL);
    CHECK(strstr(e.message, "not supported yet") != NULL);
    CHECK(sfn_machine_parse(NULL, &e) == NULL);
}

/* the same machine run from several threads at once must give each its own correct result */
struct thr {
    const struct sfn_machine *m;
    int ok;
};
static void *thr_main(void *p)
{
    struct thr *t = p;
    struct sfn_run_opts o = {.task = sfn_lambda_task,
                             .task_ud = (void *)&table,
                             .virtual_clock = 1,
                             .want_history = 1};
    t->ok = 1;
    for (int i = 0; i < 200; i++) {
        json_t *in = json_pack("{s:b, s:i}", "wantAction", i % 2, "n", i);
        struct sfn_result r;
        sfn_run(t->m, in, &o, &r);
        if (r.status != SFN_SUCCEEDED || json_integer_value(json_object_get(r.output, "n")) != i ||
            (json_object_get(r.output, "acted") != NULL) != (i % 2))
            t->ok = 0;
        sfn_result_release(&r);
        json_decref(in);
    }
    return NULL;
}

static void test_threads_share_machine(void)
{
    struct err e = {0};
    struct sfn_machine *m = sfn_machine_parse(SEED, &e);
    pthread_t th[4];
    struct thr t[4];
    for (int i = 0; i < 4; i++) {
        t[i].m = m;
        pthread_create(&th[i], NULL, thr_main, &t[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK(t[i].ok);
    }
    sfn_machine_free(m);
}

/* Wait and Retry go through the injected clock and sleep hooks. */
static int64_t fake_now;
static int64_t slept;
static int64_t clk_now(void *ud)
{
    (void)ud;
    return fake_now;
}
static void clk_sleep(void *ud, int64_t ms)
{
    (void)ud;
    slept += ms;
    fake_now += ms;
}

static void test_injected_clock(void)
{
    struct err e = {0};
    struct sfn_machine *m = sfn_machine_parse(
        "{\"StartAt\":\"W\",\"States\":{\"W\":{\"Type\":\"Wait\",\"Seconds\":3600,\"End\":true}}}",
        &e);
    struct sfn_run_opts o = {.now = clk_now, .sleep = clk_sleep};
    fake_now = 1000000;
    slept = 0;
    json_t *in = J("{}");
    struct sfn_result r;
    sfn_run(m, in, &o, &r);
    CHECK_INT(r.status, SFN_SUCCEEDED);
    CHECK_INT(slept, 3600000);
    sfn_result_release(&r);
    json_decref(in);
    sfn_machine_free(m);
}

/* On the real clock, Parallel branches and Map iterations run one after another (Task callbacks
 * must run on the calling thread), so their Waits add up; history timestamps still never go
 * back. */
static void test_real_clock_branches_sequential(void)
{
    struct err e = {0};
    struct sfn_machine *m = sfn_machine_parse(
        "{\"StartAt\":\"P\",\"States\":{\"P\":{\"Type\":\"Parallel\",\"Next\":\"M\","
        "\"ResultPath\":null,\"Branches\":["
        "{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Wait\",\"Seconds\":10,\"End\":true}}},"
        "{\"StartAt\":\"B\",\"States\":{\"B\":{\"Type\":\"Wait\",\"Seconds\":10,\"End\":true}}}]},"
        "\"M\":{\"Type\":\"Map\",\"ItemsPath\":\"$.items\",\"End\":true,\"ItemProcessor\":"
        "{\"StartAt\":\"C\",\"States\":{\"C\":{\"Type\":\"Wait\",\"SecondsPath\":\"$\","
        "\"End\":true}}}}}}",
        &e);
    CHECK(m != NULL);
    struct sfn_run_opts o = {.now = clk_now, .sleep = clk_sleep, .want_history = 1};
    fake_now = 1704067200000LL;
    slept = 0;
    json_t *in = J("{\"items\":[5,5]}");
    struct sfn_result r;
    sfn_run(m, in, &o, &r);
    CHECK_INT(r.status, SFN_SUCCEEDED);
    CHECK_INT(slept, 30000);
    size_t i;
    json_t *ev;
    const char *last = "";
    json_array_foreach(r.history, i, ev) {
        const char *ts = json_string_value(json_object_get(ev, "timestamp"));
        CHECK(ts && strcmp(ts, last) >= 0);
        last = ts;
    }
    sfn_result_release(&r);
    json_decref(in);
    sfn_machine_free(m);
}

/* A Task's TimeoutSeconds is checked when the callback returns: on the real clock a task that
 * took longer fails with States.Timeout (Retry/Catch see it); on the virtual clock a callback
 * takes no virtual time. */
static int slow_task(void *ud, const char *resource, json_t *input, json_t **output,
                     struct err *err)
{
    (void)ud;
    (void)resource;
    (void)err;
    fake_now += 3000;
    *output = json_incref(input);
    return 0;
}

static void test_task_timeout_after_return(void)
{
    struct err e = {0};
    const char *defs[] = {
        "{\"StartAt\":\"T\",\"States\":{\"T\":{\"Type\":\"Task\",\"Resource\":"
        "\"arn:aws:lambda:us-east-1:123456789012:function:f\",\"TimeoutSeconds\":2,\"End\":true}}}",
        "{\"StartAt\":\"T\",\"States\":{\"T\":{\"Type\":\"Task\",\"Resource\":"
        "\"arn:aws:lambda:us-east-1:123456789012:function:f\",\"TimeoutSecondsPath\":\"$.t\","
        "\"End\":true}}}",
    };
    for (int d = 0; d < 2; d++) {
        struct sfn_machine *m = sfn_machine_parse(defs[d], &e);
        CHECK(m != NULL);
        const char *inputs[] = {"{\"t\":2}", "{\"t\":4}"};
        for (int k = 0; k < 2; k++) {
            for (int virt = 0; virt < 2; virt++) {
                struct sfn_run_opts o = {.now = clk_now,
                                         .sleep = clk_sleep,
                                         .task = slow_task,
                                         .virtual_clock = virt,
                                         .start_ms = 1704067200000LL};
                json_t *in = J(inputs[k]);
                struct sfn_result r;
                sfn_run(m, in, &o, &r);
                /* times out: real clock, and a timeout of 2 s (always for defs[0]) */
                int want_timeout = !virt && (d == 0 || k == 0);
                CHECK_INT(r.status, want_timeout ? SFN_FAILED : SFN_SUCCEEDED);
                if (want_timeout)
                    CHECK_STR(r.error, "States.Timeout");
                sfn_result_release(&r);
                json_decref(in);
            }
        }
        sfn_machine_free(m);
    }
}

static void test_mock_from_c(void)
{
    struct err e = {0};
    const char *cfg =
        "{\"StateMachines\":{\"Seed\":{\"TestCases\":{\"Throttle\":{\"CallBedrock\":\"T\"}}}},"
        "\"MockedResponses\":{\"T\":{\"0\":{\"Throw\":{\"Error\":\"ModelThrottled\",\"Cause\":"
        "\"slow down\"}}}}}";
    struct sfn_mock *mk = sfn_mock_parse(cfg, &e);
    CHECK(mk != NULL);
    CHECK(sfn_mock_find(mk, "Seed", "Nope", &e) == NULL);
    CHECK(strstr(e.message, "no test case 'Nope'") != NULL);
    const struct sfn_mock_case *mc = sfn_mock_find(mk, "Seed", "Throttle", &e);
    struct sfn_machine *m = sfn_machine_parse(SEED, &e);
    struct sfn_run_opts o = {.mock = mc,
                             .task = sfn_lambda_task,
                             .task_ud = (void *)&table,
                             .virtual_clock = 1};
    json_t *in = J("{}");
    struct sfn_result r;
    sfn_run(m, in, &o, &r);
    CHECK_STR(r.error, "ModelThrottled");
    CHECK_STR(r.cause, "slow down");
    sfn_result_release(&r);
    json_decref(in);
    sfn_machine_free(m);
    sfn_mock_free(mk);
    CHECK(sfn_mock_parse("{\"StateMachines\":{}, \"MockedResponses\":{\"x\":{\"zero\":{}}}}", &e) ==
          NULL);
    CHECK(strstr(e.message, "invocation key 'zero'") != NULL);
    CHECK(sfn_mock_parse("{not json", &e) == NULL);
}

/* A Task's Scheduled/Started/Succeeded events name its resource as AWS does: an integration
 * (arn:aws:states:::SERVICE:API) by type and API, a Lambda ARN as the whole ARN in the Lambda
 * events. */
static void test_history_resource_names(void)
{
    struct err e = {0};
    struct sfn_machine *m = sfn_machine_parse(
        "{\"StartAt\":\"Q\",\"States\":{"
        "\"Q\":{\"Type\":\"Task\",\"Resource\":\"arn:aws:states:::sqs:sendMessage\","
        "\"Next\":\"E\"},"
        "\"E\":{\"Type\":\"Task\","
        "\"Resource\":\"arn:aws:states:::elasticmapreduce:createCluster.sync\",\"Next\":\"L\"},"
        "\"L\":{\"Type\":\"Task\","
        "\"Resource\":\"arn:aws:lambda:us-east-1:123456789012:function:Fn\",\"End\":true}}}",
        &e);
    CHECK(m != NULL);
    struct sfn_run_opts o = {.want_history = 1, .virtual_clock = 1, .region = "eu-west-1"};
    json_t *in = J("{}");
    struct sfn_result r;
    sfn_run(m, in, &o, &r);
    CHECK_INT(r.status, SFN_SUCCEEDED);
    const char *want[][3] = {{"TaskScheduled", "sqs", "sendMessage"},
                             {"TaskStarted", "sqs", "sendMessage"},
                             {"TaskSucceeded", "sqs", "sendMessage"},
                             {"TaskScheduled", "elasticmapreduce", "createCluster.sync"}};
    size_t i, k = 0, lambda = 0;
    json_t *ev;
    json_array_foreach(r.history, i, ev) {
        const char *type = json_string_value(json_object_get(ev, "type"));
        json_t *d = NULL;
        const char *key;
        json_t *v;
        json_object_foreach(ev, key, v)
            if (strstr(key, "EventDetails"))
                d = v;
        if (k < 4 && strcmp(type, want[k][0]) == 0) {
            CHECK_STR(json_string_value(json_object_get(d, "resourceType")), want[k][1]);
            CHECK_STR(json_string_value(json_object_get(d, "resource")), want[k][2]);
            if (k == 0)
                CHECK_STR(json_string_value(json_object_get(d, "region")), "eu-west-1");
            k++;
        }
        if (strcmp(type, "LambdaFunctionScheduled") == 0) {
            CHECK_STR(json_string_value(json_object_get(d, "resource")),
                      "arn:aws:lambda:us-east-1:123456789012:function:Fn");
            CHECK(json_object_get(d, "resourceType") == NULL);
            lambda++;
        }
    }
    CHECK_INT(k, 4);
    CHECK_INT(lambda, 1);
    sfn_result_release(&r);
    json_decref(in);
    sfn_machine_free(m);
}

static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(text, f);
    fclose(f);
    return 0;
}

static int cli(int n, ...)
{
    char *argv[16];
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++)
        argv[i] = va_arg(ap, char *);
    va_end(ap);
    argv[n] = NULL;
    fflush(stdout);
    return sfn_cli_main(n, argv);
}

static void test_cli(void)
{
    char dir[] = "/tmp/sfn-cli-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char *def = xasprintf("%s/Seed.asl.json", dir), *bad = xasprintf("%s/bad.json", dir);
    char *mock = xasprintf("%s/mock.json", dir), *in = xasprintf("%s/in.json", dir);
    write_file(def, SEED);
    write_file(bad, "{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Pass\"}}}");
    write_file(mock, "{\"StateMachines\":{\"Seed\":{\"TestCases\":{\"Act\":{\"CallBedrock\":\"R\"},"
                     "\"Fail\":{\"CallBedrock\":\"R\",\"SaveAndReturn\":\"F\"}}}},"
                     "\"MockedResponses\":{\"R\":{\"0\":"
                     "{\"Return\":{\"requiresAction\":true}}},\"F\":{\"0\":{\"Throw\":{\"Error\":"
                     "\"Boom\",\"Cause\":\"c\"}}}}}");
    write_file(in, "{\"requiresAction\":false}");
    CHECK_INT(cli(3, "sfn", "validate", def), 0);
    CHECK_INT(cli(3, "sfn", "validate", bad), 1);
    CHECK_INT(cli(3, "sfn", "validate", "/nonexistent/x.json"), 1);
    CHECK_INT(cli(2, "sfn", "frobnicate"), 2);
    CHECK_INT(cli(5, "sfn", "run", def, "--input", in), 0);
    CHECK_INT(cli(7, "sfn", "run", def, "--mock-config", mock, "--test-case", "Act"), 0);
    CHECK_INT(cli(8, "sfn", "run", def, "--mock-config", mock, "--test-case", "Fail", "--history"),
              1);
    CHECK_INT(cli(9, "sfn", "run", def, "--mock-config", mock, "--test-case", "Act",
                  "--state-machine", "Other"),
              1);
    CHECK_INT(cli(7, "sfn", "run", def, "--input", in, "--repeat", "50"), 0);
    CHECK_INT(cli(3, "sfn", "run", def), 1); /* identity tasks: $.requiresAction is missing */
    CHECK_INT(cli(5, "sfn", "run", def, "--repeat", "0"), 2);
    CHECK_INT(cli(5, "sfn", "run", def, "--test-case", "Act"), 2);
    CHECK_INT(cli(3, "sfn", "run", bad), 1);
    remove(def), remove(bad), remove(mock), remove(in), rmdir(dir);
    free(def), free(bad), free(mock), free(in);
}

/* on_state: every state reported in order, the Choice's pick, Retry attempts counted. */
static int flaky_calls;

static int flaky_task(void *ud, const char *resource, json_t *input, json_t **output,
                      struct err *err)
{
    (void)ud;
    (void)resource;
    if (flaky_calls++ == 0)
        return err_set(err, "Flaky", "first call fails");
    *output = json_incref(input);
    return 0;
}

static void record_state(void *ud, const struct sfn_state_report *r)
{
    json_array_append_new(ud, json_pack("{s:s, s:s, s:s?, s:i}", "name", r->name, "type", r->type,
                                        "next", r->next, "retries", (int)r->retries));
}

static void test_on_state_reports(void)
{
    const char
        *def = "{\"StartAt\":\"T\",\"States\":{"
               "\"T\":{\"Type\":\"Task\",\"Resource\":\"arn:aws:lambda:us-east-1:1:function:F\","
               "\"Retry\":[{\"ErrorEquals\":[\"Flaky\"],\"IntervalSeconds\":1}],\"Next\":\"C\"},"
               "\"C\":{\"Type\":\"Choice\",\"Choices\":[{\"Variable\":\"$.x\",\"NumericEquals\":1,"
               "\"Next\":\"Yes\"}],\"Default\":\"No\"},"
               "\"Yes\":{\"Type\":\"Succeed\"},\"No\":{\"Type\":\"Fail\"}}}";
    struct err e;
    struct sfn_machine *m = sfn_machine_parse(def, &e);
    CHECK(m != NULL);
    json_t *seen = json_array();
    flaky_calls = 0;
    struct sfn_run_opts o = {.task = flaky_task,
                             .virtual_clock = 1,
                             .on_state = record_state,
                             .state_ud = seen};
    json_t *in = json_pack("{s:i}", "x", 1);
    struct sfn_result r = {0};
    CHECK(sfn_run(m, in, &o, &r) == 0);
    CHECK(r.status == SFN_SUCCEEDED);
    CHECK_INT(json_array_size(seen), 3);
    json_t *t = json_array_get(seen, 0), *c = json_array_get(seen, 1);
    CHECK_STR(json_string_value(json_object_get(t, "name")), "T");
    CHECK_INT(json_integer_value(json_object_get(t, "retries")), 1);
    CHECK_STR(json_string_value(json_object_get(t, "next")), "C");
    CHECK_STR(json_string_value(json_object_get(c, "type")), "Choice");
    CHECK_STR(json_string_value(json_object_get(c, "next")), "Yes");
    CHECK(json_is_null(json_object_get(json_array_get(seen, 2), "next")));
    sfn_result_release(&r);
    json_decref(in);
    json_decref(seen);
    sfn_machine_free(m);
}

/* The payload check remembers the sizes of large containers a state carries from state to state
 * (the history): with remembered parts the size is still the compact text's, and a value over
 * the limit is still over it. */
static void test_size_memo(void)
{
    struct sfn__size_memo m = {0};
    json_t *big = json_array();
    for (int i = 0; i < 300; i++)
        json_array_append_new(big, json_pack("{s:s, s:i}", "text", "some words, \"quoted\"\n", "n",
                                             i - 150));
    size_t cap = 1u << 20;
    for (int round = 0; round < 12; round++) {
        json_t *state = json_pack("{s:O, s:i, s:[O, {s:O}]}", "history", big, "round", round,
                                  "nested", big, "deeper", big);
        char *text = json_dumps(state, JSON_COMPACT);
        CHECK_INT(sfn__json_size_memo(state, cap, &m), strlen(text));
        CHECK_INT(sfn__json_size(state, cap), strlen(text));
        free(text);
        json_decref(state);
    }
    int remembered = 0;
    for (unsigned i = 0; i < m.cap; i++)
        remembered += m.slot[i].v == big;
    CHECK_INT(remembered, 1);
    size_t one = sfn__json_size(big, cap);
    json_t *two = json_pack("{s:O, s:O}", "a", big, "b", big);
    CHECK(sfn__json_size_memo(two, one + 10, &m) > one + 10);
    json_decref(two);
    sfn__size_memo_release(&m);
    CHECK(m.slot == NULL && m.count == 0);
    json_decref(big);

    /* A window of messages each under a few KB, carried in a new array at every state (as a
     * handler that appends a message copies the array): the messages are measured once, then
     * only the new array and the new message are. */
    json_t *msgs[40];
    for (int i = 0; i < 40; i++) {
        char text[600];
        memset(text, 'a' + i % 26, sizeof text - 1);
        text[sizeof text - 1] = '\0';
        msgs[i] = json_pack("{s:s, s:[{s:s, s:s}]}", "role", "user", "content", "type", "text",
                            "text", text);
    }
    for (int n = 30; n <= 40; n++) {
        json_t *window = json_array();
        for (int i = 0; i < n; i++)
            json_array_append(window, msgs[i]);
        json_t *state = json_pack("{s:o, s:i}", "messages", window, "n", n);
        char *text = jsontext_dump(state);
        CHECK_INT(sfn__json_size_memo(state, cap, &m), strlen(text));
        free(text);
        json_decref(state);
    }
    /* 40 messages, their content arrays and text blocks, and the 11 windows (all >= 256 B). */
    CHECK_INT(m.count, 40 * 3 + 11);
    int held = 0;
    for (unsigned i = 0; i < m.cap; i++)
        for (int k = 0; k < 40; k++)
            held += m.slot[i].v == msgs[k];
    CHECK_INT(held, 40);
    sfn__size_memo_release(&m);
    for (int i = 0; i < 40; i++)
        json_decref(msgs[i]);
}

/* The payload size of a string is its compact JSON text's: every control character, the quote,
 * the backslash, DEL and UTF-8 escaped (or not) as jansson writes them. */
static void test_size_escapes(void)
{
    char raw[64];
    size_t n = 0;
    for (int c = 1; c < 0x20; c++)
        raw[n++] = (char)c;
    const char tail[] = "\"\\\x7f\xc3\xa9 plain";
    memcpy(raw + n, tail, sizeof tail);
    json_t *v = json_pack("{s:s, s:[s]}", "k\n", raw, "a", "\t\"x\"");
    char *text = json_dumps(v, JSON_COMPACT);
    CHECK_INT(sfn__json_size(v, 1u << 20), strlen(text));
    free(text);
    json_decref(v);
}

/* sfn_size_note: the size a Task callback notes for a container of its output is the size the
 * payload check counts for it (a noted size over the limit fails the state that carries it, and
 * the next state too when the container rides along), a true note changes nothing, and a note
 * off a Task callback does nothing. sfn_json_size is the compact text's size. */
static size_t note_as;  /* the size note_task notes for its "big" array; 0: no note */
static json_t *note_big; /* the array note_task returns */

static int note_task(void *ud, const char *resource, json_t *input, json_t **output,
                     struct err *err)
{
    (void)ud;
    (void)err;
    if (strstr(resource, "function:make")) {
        if (note_as)
            sfn_size_note(note_big, note_as);
        *output = json_pack("{s:O, s:i}", "big", note_big, "n", 1);
    } else {
        *output = json_incref(input);
    }
    return 0;
}

static void test_size_note(void)
{
    struct err e = {0};
    struct sfn_machine *m = sfn_machine_parse(
        "{\"StartAt\":\"Make\",\"States\":{\"Make\":{\"Type\":\"Task\",\"Resource\":"
        "\"arn:aws:lambda:us-east-1:123456789012:function:make\",\"Next\":\"Pass\"},"
        "\"Pass\":{\"Type\":\"Task\",\"Resource\":"
        "\"arn:aws:lambda:us-east-1:123456789012:function:pass\",\"End\":true}}}",
        &e);
    CHECK(m != NULL);
    note_big = json_array();
    for (int i = 0; i < 40; i++)
        json_array_append_new(note_big, json_pack("{s:s, s:i}", "text", "a line\t\"q\"", "i", i));
    char *text = json_dumps(note_big, JSON_COMPACT);
    size_t real = strlen(text);
    free(text);
    CHECK_INT(sfn_json_size(note_big), real);
    const size_t limit = 4096;
    CHECK(real < limit / 2);
    /* off a Task callback: nothing to note into, nothing happens */
    sfn_size_note(note_big, limit * 2);
    const size_t notes[] = {0, real, limit * 2};
    for (int k = 0; k < 3; k++) {
        note_as = notes[k];
        struct sfn_run_opts o = {.task = note_task, .payload_limit = limit, .virtual_clock = 1};
        json_t *in = J("{}");
        struct sfn_result r;
        sfn_run(m, in, &o, &r);
        if (k < 2) {
            CHECK_INT(r.status, SFN_SUCCEEDED);
            CHECK(r.output && json_equal(json_object_get(r.output, "big"), note_big));
        } else { /* the lie is believed: the check counted 8 KiB for the array */
            CHECK_INT(r.status, SFN_FAILED);
            CHECK_STR(r.error, "States.DataLimitExceeded");
        }
        sfn_result_release(&r);
        json_decref(in);
    }
    CHECK_INT(note_big->refcount, 1); /* each execution let go of what it noted */
    json_decref(note_big);
    sfn_machine_free(m);
}

int main(void)
{
    xmalloc_init();
    RUN(test_seed_workflow);
    RUN(test_lambda_names);
    RUN(test_lambda_invoke_shape_and_errors);
    RUN(test_problems_listed);
    RUN(test_threads_share_machine);
    RUN(test_injected_clock);
    RUN(test_real_clock_branches_sequential);
    RUN(test_task_timeout_after_return);
    RUN(test_mock_from_c);
    RUN(test_history_resource_names);
    RUN(test_cli);
    RUN(test_on_state_reports);
    RUN(test_size_memo);
    RUN(test_size_escapes);
    RUN(test_size_note);
    return check_summary();
}
