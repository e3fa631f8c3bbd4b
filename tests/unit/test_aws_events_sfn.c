/* test_aws_events_sfn.c - the EventBridge bus adapter and the Step Functions workflow against
 * scripted servers on 127.0.0.1: documented request shapes (X-Amz-Target, content type, JSON
 * bodies, SigV4 Authorization), batching, failed-entry resends, execution outcomes, and the Lambda
 * deadline capping StartSyncExecution. */
#include <stdlib.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/xmalloc.h"
#include "bus/bus_eventbridge.h"
#include "check.h"
#include "fakes/fake_http.h"
#include "runtime/lambda.h"
#include "runtime/workflow_sfn.h"

static void use_endpoint(const char *var, const struct fake_http *f)
{
    setenv(var, f->base_url, 1);
}

static void check_signed(const struct fake_request *r, const char *service)
{
    const char *auth = fake_header(r, "Authorization");
    char scope[64];
    snprintf(scope, sizeof scope, "/us-east-1/%s/aws4_request", service);
    CHECK(auth && strncmp(auth, "AWS4-HMAC-SHA256 Credential=AKIDTEST/", 37) == 0);
    CHECK(auth && strstr(auth, scope) != NULL);
    CHECK(auth && strstr(auth, "SignedHeaders=") && strstr(auth, "Signature="));
    CHECK(fake_header(r, "X-Amz-Date") != NULL);
}

static char *ok_entries(int n)
{
    json_t *e = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(e, json_pack("{s:s}", "EventId", "11111111-2222"));
    json_t *doc = json_pack("{s:i, s:o}", "FailedEntryCount", 0, "Entries", e);
    char *s = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return s;
}

static struct bus *open_bus(int attempts)
{
    struct aws_config aws;
    struct err e;
    if (aws_config_from_env(&aws, &e) < 0)
        return NULL;
    struct bus_eventbridge_config cfg = {.aws = &aws, .bus_name = "parley-bus",
                                         .max_attempts = attempts, .backoff_ms = 10};
    struct bus *b = bus_eventbridge_new(&cfg, &e);
    aws_config_release(&aws);
    return b;
}

static json_t *event_n(int i)
{
    return bus_event_new(BUS_ACTION_EXECUTED, json_pack("{s:i, s:s}", "n", i, "tool", "t"));
}

static void put_n(struct bus *b, int from, int count)
{
    struct err e;
    for (int i = from; i < from + count; i++) {
        json_t *ev = event_n(i);
        CHECK(bus_put(b, ev, &e) == 0);
        json_decref(ev);
    }
}

/* For check_wait: the fake service has received its first request (it answers it slowly). */
static int first_request_in(void *ud)
{
    return fake_http_count(ud) >= 1;
}

static void test_eventbridge_batches(void)
{
    struct fake_http f;
    CHECK(fake_http_start(&f) == 0);
    use_endpoint("AWS_ENDPOINT_URL_EVENTBRIDGE", &f);
    int sizes[] = {1, 10, 10, 2};
    for (int i = 0; i < 4; i++) {
        char *body = ok_entries(sizes[i]);
        fake_http_push(&f, 200, "Content-Type: application/x-amz-json-1.1\n", body, (size_t)-1,
                       i == 0 ? 300 : 0);
        free(body);
    }
    struct bus *b = open_bus(3);
    CHECK(b != NULL);
    setenv("_X_AMZN_TRACE_ID", "Root=1-5759e988-bd862e3fe1be46a994272793", 1);
    put_n(b, 0, 1);
    CHECK(check_wait(first_request_in, &f, 5000)); /* the sender waits on the slow first answer */
    put_n(b, 1, 22);
    unsetenv("_X_AMZN_TRACE_ID");
    CHECK(bus_flush(b, 5000) == 0);
    struct bus_stats s;
    bus_stats(b, &s);
    CHECK_INT(s.accepted, 23);
    CHECK_INT(s.delivered, 23);
    CHECK_INT(s.failed, 0);
    CHECK_INT(s.queued, 0);
    CHECK_INT(fake_http_count(&f), 4);
    int next = 0;
    for (size_t i = 0; i < fake_http_count(&f) && i < 4; i++) {
        const struct fake_request *r = fake_http_request(&f, i);
        CHECK_STR(r->method, "POST");
        CHECK_STR(r->target, "/");
        CHECK_STR(fake_header(r, "X-Amz-Target"), "AWSEvents.PutEvents");
        CHECK_STR(fake_header(r, "Content-Type"), "application/x-amz-json-1.1");
        check_signed(r, "events");
        json_t *doc = json_loads(r->body, 0, NULL);
        json_t *entries = json_object_get(doc, "Entries");
        CHECK_INT(json_array_size(entries), sizes[i]);
        size_t k;
        json_t *en;
        json_array_foreach(entries, k, en) {
            CHECK_STR(json_string_value(json_object_get(en, "Source")), "parley.agent");
            CHECK_STR(json_string_value(json_object_get(en, "DetailType")), "action_executed");
            CHECK_STR(json_string_value(json_object_get(en, "EventBusName")), "parley-bus");
            CHECK(json_integer_value(json_object_get(en, "Time")) > 1600000000);
            json_t *d = json_loads(json_string_value(json_object_get(en, "Detail")), 0, NULL);
            CHECK_INT(json_integer_value(json_object_get(d, "n")), next);
            next++;
            json_decref(d);
            CHECK_STR(json_string_value(json_object_get(en, "TraceHeader")),
                      "Root=1-5759e988-bd862e3fe1be46a994272793");
        }
        json_decref(doc);
    }
    CHECK_INT(next, 23);
    bus_free(b);
    fake_http_stop(&f);
}

static void test_eventbridge_failed_entries(void)
{
    struct fake_http f;
    CHECK(fake_http_start(&f) == 0);
    use_endpoint("AWS_ENDPOINT_URL_EVENTBRIDGE", &f);
    char *one = ok_entries(1);
    fake_http_push(&f, 200, NULL, one, (size_t)-1, 300);
    fake_http_push(&f, 200, NULL,
                   "{\"FailedEntryCount\":1,\"Entries\":[{\"EventId\":\"a\"},{\"ErrorCode\":"
                   "\"ThrottlingException\",\"ErrorMessage\":\"Rate exceeded\"}]}",
                   (size_t)-1, 0);
    fake_http_push(&f, 200, NULL, one, (size_t)-1, 0);
    free(one);
    struct bus *b = open_bus(3);
    put_n(b, 0, 1);
    CHECK(check_wait(first_request_in, &f, 5000)); /* the sender waits on the slow first answer */
    put_n(b, 1, 2);
    CHECK(bus_flush(b, 5000) == 0);
    struct bus_stats s;
    bus_stats(b, &s);
    CHECK_INT(s.delivered, 3);
    CHECK_INT(s.failed, 0);
    CHECK_INT(fake_http_count(&f), 3);
    const struct fake_request *r = fake_http_request(&f, 2);
    json_t *doc = json_loads(r ? r->body : "", 0, NULL);
    json_t *entries = json_object_get(doc, "Entries");
    CHECK_INT(json_array_size(entries), 1);
    json_t *d = json_loads(json_string_value(json_object_get(json_array_get(entries, 0),
                                                             "Detail")), 0, NULL);
    CHECK_INT(json_integer_value(json_object_get(d, "n")), 2); /* only the failed one again */
    json_decref(d);
    json_decref(doc);
    bus_free(b);
    fake_http_stop(&f);
}

static void test_eventbridge_gives_up(void)
{
    struct fake_http f;
    CHECK(fake_http_start(&f) == 0);
    use_endpoint("AWS_ENDPOINT_URL_EVENTBRIDGE", &f);
    const char *fail = "{\"FailedEntryCount\":1,\"Entries\":[{\"ErrorCode\":\"InternalFailure\","
                       "\"ErrorMessage\":\"x\"}]}";
    fake_http_push(&f, 200, NULL, fail, (size_t)-1, 0);
    fake_http_push(&f, 200, NULL, fail, (size_t)-1, 0);
    fake_http_push(&f, 400, NULL, "{\"__type\":\"ValidationException\",\"message\":\"bad\"}",
                   (size_t)-1, 0);
    struct bus *b = open_bus(2);
    put_n(b, 0, 1);
    CHECK(bus_flush(b, 5000) == 0);
    put_n(b, 1, 1); /* refused as invalid: not resent */
    CHECK(bus_flush(b, 5000) == 0);
    struct bus_stats s;
    bus_stats(b, &s);
    CHECK_INT(s.delivered, 0);
    CHECK_INT(s.failed, 2);
    CHECK_INT(fake_http_count(&f), 3);
    /* Events put before bus_free are still sent (the delivery contract). */
    fake_http_push(&f, 200, NULL, "{\"FailedEntryCount\":0,\"Entries\":[{\"EventId\":\"z\"}]}",
                   (size_t)-1, 0);
    put_n(b, 2, 1);
    bus_free(b);
    CHECK_INT(fake_http_count(&f), 4);
    /* Malformed events are refused at once. */
    b = open_bus(1);
    struct err e;
    json_t *bad = json_pack("{s:s}", "detail-type", "x");
    CHECK(bus_put(b, bad, &e) < 0);
    CHECK_STR(e.code, "InvalidEvent");
    json_decref(bad);
    bus_free(b);
    fake_http_stop(&f);
}

/* ---------------------------------------------------------------- Step Functions */

static struct workflow_sfn *open_sfn(void)
{
    struct aws_config aws;
    struct err e;
    if (aws_config_from_env(&aws, &e) < 0)
        return NULL;
    struct workflow_sfn_config cfg = {
        .aws = &aws, .state_machine_arn = "arn:aws:states:us-east-1:123456789012:stateMachine:T"};
    struct workflow_sfn *w = workflow_sfn_new(&cfg, &e);
    aws_config_release(&aws);
    return w;
}

static void test_sfn_outcomes(void)
{
    struct fake_http f;
    CHECK(fake_http_start(&f) == 0);
    use_endpoint("AWS_ENDPOINT_URL_SFN", &f);
    fake_http_push(&f, 200, NULL,
                   "{\"executionArn\":\"arn:x\",\"status\":\"SUCCEEDED\",\"output\":"
                   "\"{\\\"reply\\\":\\\"hi\\\",\\\"turn\\\":3}\"}",
                   (size_t)-1, 0);
    fake_http_push(&f, 200, NULL,
                   "{\"status\":\"FAILED\",\"error\":\"ModelThrottled\",\"cause\":\"too fast\"}",
                   (size_t)-1, 0);
    fake_http_push(&f, 200, NULL, "{\"status\":\"TIMED_OUT\"}", (size_t)-1, 0);
    fake_http_push(&f, 400, NULL,
                   "{\"__type\":\"com.amazonaws.swf.service.v2.model#StateMachineDoesNotExist\","
                   "\"message\":\"State Machine Does Not Exist\"}",
                   (size_t)-1, 0);
    fake_http_push(&f, 200, NULL, "{\"status\":\"SUCCEEDED\",\"output\":\"not json\"}",
                   (size_t)-1, 0);
    struct workflow_sfn *w = open_sfn();
    CHECK(w != NULL);
    struct agent a = {0};
    workflow_sfn_attach(w, &a);
    CHECK(a.workflow == workflow_sfn_run);
    json_t *state = json_pack("{s:s, s:s, s:b}", "sessionId", "abc", "message", "hello", "isNew", 1);
    struct err e;
    setenv("_X_AMZN_TRACE_ID", "Root=1-abc", 1);
    json_t *out = a.workflow(&a, state, &e);
    unsetenv("_X_AMZN_TRACE_ID");
    CHECK(out != NULL);
    CHECK_STR(json_string_value(json_object_get(out, "reply")), "hi");
    CHECK_INT(json_integer_value(json_object_get(out, "turn")), 3);
    json_decref(out);
    const struct fake_request *r = fake_http_request(&f, 0);
    CHECK_STR(fake_header(r, "X-Amz-Target"), "AWSStepFunctions.StartSyncExecution");
    CHECK_STR(fake_header(r, "Content-Type"), "application/x-amz-json-1.0");
    check_signed(r, "states");
    json_t *body = json_loads(r->body, 0, NULL);
    CHECK_STR(json_string_value(json_object_get(body, "stateMachineArn")),
              "arn:aws:states:us-east-1:123456789012:stateMachine:T");
    CHECK_STR(json_string_value(json_object_get(body, "traceHeader")), "Root=1-abc");
    json_t *input = json_loads(json_string_value(json_object_get(body, "input")), 0, NULL);
    CHECK(json_equal(input, state));
    json_decref(input);
    json_decref(body);

    CHECK(a.workflow(&a, state, &e) == NULL);
    CHECK_STR(e.code, "ModelThrottled");
    CHECK_STR(e.message, "too fast");
    CHECK(a.workflow(&a, state, &e) == NULL);
    CHECK_STR(e.code, "States.Timeout");
    CHECK(a.workflow(&a, state, &e) == NULL);
    CHECK_STR(e.code, "StateMachineDoesNotExist");
    CHECK(a.workflow(&a, state, &e) == NULL);
    CHECK_STR(e.code, "WorkflowError");
    CHECK_INT(fake_http_count(&f), 5);
    json_decref(state);
    workflow_sfn_free(w);
    fake_http_stop(&f);

    struct workflow_sfn_config none = {0};
    CHECK(workflow_sfn_new(&none, &e) == NULL);
    CHECK_STR(e.code, "InvalidConfig");
}

/* A handler that runs one turn through Step Functions, as RequestHandler does. */
static json_t *h_turn(void *ud, const struct lambda_context *ctx, const json_t *event,
                      struct err *err)
{
    (void)ctx;
    struct agent *a = ud;
    json_t *state = json_deep_copy(event);
    json_t *out = a->workflow(a, state, err);
    json_decref(state);
    return out;
}

static void test_sfn_lambda_deadline(void)
{
    struct fake_http api, sfn;
    CHECK(fake_http_start(&api) == 0);
    CHECK(fake_http_start(&sfn) == 0);
    use_endpoint("AWS_ENDPOINT_URL_SFN", &sfn);
    struct workflow_sfn *w = open_sfn();
    struct agent a = {0};
    workflow_sfn_attach(w, &a);
    /* 1.5 s left: less than the margin plus a useful second, so nothing is started. */
    char *h1 = xasprintf("Lambda-Runtime-Aws-Request-Id: r1\nLambda-Runtime-Deadline-Ms: %lld\n",
                         (long long)clock_now_ms() + 1500);
    /* Plenty of time, but Step Functions answers slower than what is left: a timeout. */
    char *h2 = xasprintf("Lambda-Runtime-Aws-Request-Id: r2\nLambda-Runtime-Deadline-Ms: %lld\n",
                         (long long)clock_now_ms() + 2600);
    fake_http_push(&api, 200, h1, "{\"message\":\"x\"}", (size_t)-1, 0);
    fake_http_push(&api, 202, NULL, "{}", (size_t)-1, 0);
    fake_http_push(&api, 200, h2, "{\"message\":\"y\"}", (size_t)-1, 0);
    fake_http_push(&api, 202, NULL, "{}", (size_t)-1, 0);
    fake_http_push(&sfn, 200, NULL, "{\"status\":\"SUCCEEDED\",\"output\":\"{}\"}", (size_t)-1,
                   3000);
    static const struct lambda_handler hs[] = {{"RequestHandler", h_turn}, {NULL, NULL}};
    struct lambda_handler_table t = {hs, &a, NULL};
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", (unsigned)api.port);
    struct lambda_runtime_config cfg = {.api = addr, .handler = "RequestHandler",
                                        .max_invocations = 2};
    struct err e;
    int64_t t0 = clock_mono_ms();
    CHECK_INT(lambda_runtime_run(&t, &cfg, &e), 0);
    int64_t took = clock_mono_ms() - t0;
    const struct fake_request *r = fake_http_request(&api, 1);
    CHECK_STR(r->target, "/2018-06-01/runtime/invocation/r1/error");
    CHECK_STR(fake_header(r, "Lambda-Runtime-Function-Error-Type"), "States.Timeout");
    r = fake_http_request(&api, 3);
    CHECK_STR(r->target, "/2018-06-01/runtime/invocation/r2/error");
    CHECK_STR(fake_header(r, "Lambda-Runtime-Function-Error-Type"), "States.Timeout");
    CHECK_INT(fake_http_count(&sfn), 1); /* only the second invocation called Step Functions */
    CHECK(took < 2600);                  /* it gave up before the deadline */
    free(h1);
    free(h2);
    workflow_sfn_free(w);
    fake_http_stop(&sfn);
    fake_http_stop(&api);
}

int main(void)
{
    xmalloc_init();
    setenv("AWS_REGION", "us-east-1", 1);
    setenv("AWS_ACCESS_KEY_ID", "AKIDTEST", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "secret", 1);
    unsetenv("AWS_SESSION_TOKEN");
    unsetenv("AWS_ENDPOINT_URL");
    RUN(test_eventbridge_batches);
    RUN(test_eventbridge_failed_entries);
    RUN(test_eventbridge_gives_up);
    RUN(test_sfn_outcomes);
    RUN(test_sfn_lambda_deadline);
    return check_summary();
}
