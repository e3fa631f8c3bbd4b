/* test_lambda.c - the Lambda Runtime API loop against a scripted Runtime API on 127.0.0.1:
 * success, handler error, init errors, deadline, trace id, malformed events, API failures. */
#include <stdlib.h>

#include "base/clock.h"
#include "base/xmalloc.h"
#include "check.h"
#include "fakes/fake_http.h"
#include "runtime/lambda.h"

static int init_calls;

static json_t *h_echo(void *ud, const struct lambda_context *ctx, const json_t *event,
                      struct err *err)
{
    (void)ud;
    (void)err;
    const char *trace = getenv("_X_AMZN_TRACE_ID");
    const struct lambda_context *cur = lambda_current();
    return json_pack("{s:O, s:s, s:I, s:s, s:s, s:b}", "event", event, "requestId",
                     ctx->request_id, "remaining", (json_int_t)lambda_remaining_ms(ctx), "trace",
                     trace ? trace : "(unset)", "arn", ctx->function_arn, "current",
                     cur == ctx);
}

static json_t *h_fail(void *ud, const struct lambda_context *ctx, const json_t *event,
                      struct err *err)
{
    (void)ud;
    (void)ctx;
    (void)event;
    err_set(err, "ModelThrottled", "the model said slow down");
    return NULL;
}

static int init_ok(void *ud, const char *handler, struct err *err)
{
    (void)ud;
    (void)err;
    init_calls += handler != NULL;
    return 0;
}

static int init_bad(void *ud, const char *handler, struct err *err)
{
    (void)ud;
    (void)handler;
    return err_set(err, "InvalidConfig", "PARLEY_STORE names an unknown store 'x'");
}

static const struct lambda_handler handlers[] = {
    {"Echo", h_echo}, {"Fail", h_fail}, {NULL, NULL}};

static char *next_headers(const char *id, int64_t deadline, const char *trace)
{
    return xasprintf("Lambda-Runtime-Aws-Request-Id: %s\nLambda-Runtime-Deadline-Ms: %lld\n"
                     "Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:1:function:f\n"
                     "%s%s%s",
                     id, (long long)deadline, trace ? "Lambda-Runtime-Trace-Id: " : "",
                     trace ? trace : "", trace ? "\n" : "");
}

static int run(struct fake_http *f, const char *handler, long n,
               int (*init)(void *, const char *, struct err *), struct err *e)
{
    char api[64];
    snprintf(api, sizeof api, "127.0.0.1:%u", (unsigned)f->port);
    struct lambda_handler_table t = {handlers, NULL, init};
    struct lambda_runtime_config cfg = {.api = api, .handler = handler, .max_invocations = n};
    err_clear(e);
    return lambda_runtime_run(&t, &cfg, e);
}

static void test_success_and_error(void)
{
    struct fake_http f;
    CHECK(fake_http_start(&f) == 0);
    char *h1 = next_headers("req-1", clock_now_ms() + 5000, "Root=1-abc;Parent=def;Sampled=1");
    char *h2 = next_headers("req-2", clock_now_ms() + 5000, NULL);
    fake_http_push(&f, 200, h1, "{\"hello\":[1,2]}", (size_t)-1, 0);
    fake_http_push(&f, 202, NULL, "{\"status\":\"OK\"}", (size_t)-1, 0);
    fake_http_push(&f, 200, h2, "\"just a string\"", (size_t)-1, 0);
    fake_http_push(&f, 202, NULL, "{}", (size_t)-1, 0);
    struct err e;
    init_calls = 0;
    CHECK_INT(run(&f, "Echo", 2, init_ok, &e), 0);
    CHECK_INT(init_calls, 1);
    CHECK_INT(fake_http_count(&f), 4);
    const struct fake_request *r = fake_http_request(&f, 0);
    CHECK_STR(r->method, "GET");
    CHECK_STR(r->target, "/2018-06-01/runtime/invocation/next");
    r = fake_http_request(&f, 1);
    CHECK_STR(r->method, "POST");
    CHECK_STR(r->target, "/2018-06-01/runtime/invocation/req-1/response");
    json_t *body = json_loads(r->body, 0, NULL);
    CHECK(body != NULL);
    CHECK_INT(json_integer_value(json_array_get(json_object_get(json_object_get(body, "event"),
                                                                "hello"), 1)), 2);
    CHECK_STR(json_string_value(json_object_get(body, "requestId")), "req-1");
    CHECK_STR(json_string_value(json_object_get(body, "trace")), "Root=1-abc;Parent=def;Sampled=1");
    CHECK_STR(json_string_value(json_object_get(body, "arn")),
              "arn:aws:lambda:us-east-1:1:function:f");
    CHECK(json_is_true(json_object_get(body, "current")));
    json_int_t left = json_integer_value(json_object_get(body, "remaining"));
    CHECK(left > 3000 && left <= 5000);
    json_decref(body);
    /* The second invocation has no trace id: the variable is gone, not stale. */
    r = fake_http_request(&f, 3);
    CHECK_STR(r->target, "/2018-06-01/runtime/invocation/req-2/response");
    body = json_loads(r->body, 0, NULL);
    CHECK_STR(json_string_value(json_object_get(body, "trace")), "(unset)");
    CHECK_STR(json_string_value(json_object_get(body, "event")), "just a string");
    json_decref(body);
    CHECK(lambda_current() == NULL);
    fake_http_stop(&f);
    free(h1);
    free(h2);
}

static void test_handler_error(void)
{
    struct fake_http f;
    CHECK(fake_http_start(&f) == 0);
    char *h1 = next_headers("req-9", clock_now_ms() + 5000, NULL);
    fake_http_push(&f, 200, h1, "{}", (size_t)-1, 0);
    fake_http_push(&f, 202, NULL, "{}", (size_t)-1, 0);
    struct err e;
    CHECK_INT(run(&f, "Fail", 1, NULL, &e), 0);
    const struct fake_request *r = fake_http_request(&f, 1);
    CHECK(r != NULL);
    CHECK_STR(r->target, "/2018-06-01/runtime/invocation/req-9/error");
    CHECK_STR(fake_header(r, "Lambda-Runtime-Function-Error-Type"), "ModelThrottled");
    json_t *body = json_loads(r->body, 0, NULL);
    CHECK_STR(json_string_value(json_object_get(body, "errorType")), "ModelThrottled");
    CHECK_STR(json_string_value(json_object_get(body, "errorMessage")), "the model said slow down");
    CHECK(json_is_array(json_object_get(body, "stackTrace")));
    json_decref(body);
    fake_http_stop(&f);
    free(h1);
}

static void test_malformed_event(void)
{
    struct fake_http f;
    CHECK(fake_http_start(&f) == 0);
    char *h1 = next_headers("req-3", clock_now_ms() + 5000, NULL);
    fake_http_push(&f, 200, h1, "{not json", (size_t)-1, 0);
    fake_http_push(&f, 202, NULL, "{}", (size_t)-1, 0);
    struct err e;
    CHECK_INT(run(&f, "Echo", 1, NULL, &e), 0);
    const struct fake_request *r = fake_http_request(&f, 1);
    CHECK_STR(r->target, "/2018-06-01/runtime/invocation/req-3/error");
    CHECK_STR(fake_header(r, "Lambda-Runtime-Function-Error-Type"), "Runtime.InvalidEvent");
    fake_http_stop(&f);
    free(h1);
}

static void test_deadline(void)
{
    struct fake_http f;
    CHECK(fake_http_start(&f) == 0);
    char *h1 = next_headers("late-1", clock_now_ms() - 50, NULL);
    char *h2 = next_headers("soon-2", clock_now_ms() + 300, NULL);
    fake_http_push(&f, 200, h1, "{}", (size_t)-1, 0);
    fake_http_push(&f, 202, NULL, "{}", (size_t)-1, 0);
    fake_http_push(&f, 200, h2, "{}", (size_t)-1, 0);
    fake_http_push(&f, 202, NULL, "{}", (size_t)-1, 0);
    struct err e;
    CHECK_INT(run(&f, "Echo", 2, NULL, &e), 0);
    const struct fake_request *r = fake_http_request(&f, 1);
    CHECK_STR(r->target, "/2018-06-01/runtime/invocation/late-1/error");
    CHECK_STR(fake_header(r, "Lambda-Runtime-Function-Error-Type"), "Runtime.DeadlineExceeded");
    r = fake_http_request(&f, 3);
    CHECK_STR(r->target, "/2018-06-01/runtime/invocation/soon-2/response");
    json_t *body = json_loads(r ? r->body : "", 0, NULL);
    json_int_t left = json_integer_value(json_object_get(body, "remaining"));
    CHECK(left > 0 && left <= 300);
    json_decref(body);
    fake_http_stop(&f);
    free(h1);
    free(h2);
}

static void test_init_errors(void)
{
    struct fake_http f;
    CHECK(fake_http_start(&f) == 0);
    fake_http_push(&f, 202, NULL, "{}", (size_t)-1, 0);
    fake_http_push(&f, 202, NULL, "{}", (size_t)-1, 0);
    struct err e;
    CHECK_INT(run(&f, "NoSuch", 1, NULL, &e), -1);
    CHECK_STR(e.code, "HandlerNotFound");
    CHECK(strstr(e.message, "NoSuch") != NULL);
    const struct fake_request *r = fake_http_request(&f, 0);
    CHECK_STR(r->method, "POST");
    CHECK_STR(r->target, "/2018-06-01/runtime/init/error");
    CHECK_STR(fake_header(r, "Lambda-Runtime-Function-Error-Type"), "Runtime.HandlerNotFound");
    CHECK_INT(run(&f, "Echo", 1, init_bad, &e), -1);
    CHECK_STR(e.code, "InvalidConfig");
    r = fake_http_request(&f, 1);
    CHECK_STR(r->target, "/2018-06-01/runtime/init/error");
    CHECK_STR(fake_header(r, "Lambda-Runtime-Function-Error-Type"), "Runtime.InvalidConfig");
    json_t *body = json_loads(r->body, 0, NULL);
    CHECK(strstr(json_string_value(json_object_get(body, "errorMessage")), "unknown store") !=
          NULL);
    json_decref(body);
    /* Nothing asked for an invocation after a failed init. */
    CHECK_INT(fake_http_count(&f), 2);
    fake_http_stop(&f);
}

static void test_api_failures(void)
{
    struct fake_http f;
    CHECK(fake_http_start(&f) == 0);
    fake_http_push(&f, 500, NULL, "{\"errorType\":\"boom\"}", (size_t)-1, 0);
    struct err e;
    CHECK_INT(run(&f, "Echo", 1, NULL, &e), -1);
    CHECK_STR(e.code, "RuntimeApiError");
    CHECK(strstr(e.message, "500") != NULL);
    /* A request id that would escape the URL path is refused. */
    fake_http_push(&f, 200, "Lambda-Runtime-Aws-Request-Id: ../../x\n", "{}", (size_t)-1, 0);
    CHECK_INT(run(&f, "Echo", 1, NULL, &e), -1);
    CHECK_STR(e.code, "RuntimeApiError");
    CHECK_INT(fake_http_count(&f), 2);
    fake_http_stop(&f);
    /* No API at all. */
    struct lambda_handler_table t = {handlers, NULL, NULL};
    struct lambda_runtime_config cfg = {.api = "127.0.0.1:1", .handler = "Echo",
                                        .max_invocations = 1};
    CHECK_INT(lambda_runtime_run(&t, &cfg, &e), -1);
    CHECK_STR(e.code, "RuntimeApiError");
}

int main(void)
{
    xmalloc_init();
    RUN(test_success_and_error);
    RUN(test_handler_error);
    RUN(test_malformed_event);
    RUN(test_deadline);
    RUN(test_init_errors);
    RUN(test_api_failures);
    return check_summary();
}
