/* test_lambda_handlers.c - Parley's Lambda functions through the bootstrap's main loop, against a
 * scripted Runtime API and a scripted Step Functions endpoint on 127.0.0.1 (SQLite store in a
 * temporary directory): API Gateway proxy validation and responses, workflow errors mapped to
 * statuses, a workflow Task, the SQS worker's partial batch response, the EventBridge analytics
 * target and init errors; the observer hooks every function installs (EMF lines on stdout and the
 * process metrics) and the host's error paths (an event that is not JSON, a failing handler). */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/errcode.h"
#include "telemetry/metrics.h"

#include "base/clock.h"
#include "base/xmalloc.h"
#include "check.h"
#include "fakes/fake_http.h"
#include "runtime/lambda_handlers.h"
#include "store/store.h"

static struct fake_http api, sfn;
static char dir[64];

/* Serves one invocation of handler with event; returns the posted body (parsed, new ref) and
 * sets *path to the URL path it was posted to (borrowed). */
static json_t *invoke(const char *handler, const char *event, const char **path, int *rc)
{
    size_t before = fake_http_count(&api);
    char *h = xasprintf("Lambda-Runtime-Aws-Request-Id: id-%zu\nLambda-Runtime-Deadline-Ms: "
                        "%lld\n",
                        before, (long long)clock_now_ms() + 30000);
    fake_http_push(&api, 200, h, event, (size_t)-1, 0);
    fake_http_push(&api, 202, NULL, "{}", (size_t)-1, 0);
    free(h);
    char *argv[] = {"bootstrap", "--handler", (char *)handler, "--once", NULL};
    *rc = lambda_parley_main(4, argv);
    const struct fake_request *r = fake_http_request(&api, before + 1);
    *path = r ? r->target : "";
    return r ? json_loads(r->body, JSON_DECODE_ANY, NULL) : NULL;
}

/* A fresh Runtime API for each test (a fake serves at most FAKE_MAX_SCRIPT replies). */
static void reset_api(void)
{
    fake_http_stop(&api);
    if (fake_http_start(&api) < 0)
        return;
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", (unsigned)api.port);
    setenv("AWS_LAMBDA_RUNTIME_API", addr, 1);
}

static json_t *proxy_event(const char *ct, const char *body, int b64)
{
    return json_pack("{s:s, s:s, s:s, s:{s:s}, s:s, s:b}", "resource", "/chat", "path", "/chat",
                     "httpMethod", "POST", "headers", "content-type", ct, "body", body,
                     "isBase64Encoded", b64);
}

static json_t *call_request(json_t *event /* stolen */, int *status, json_t **body)
{
    char *text = json_dumps(event, JSON_COMPACT);
    json_decref(event);
    const char *path;
    int rc;
    json_t *resp = invoke("RequestHandler", text, &path, &rc);
    free(text);
    CHECK_INT(rc, 0);
    CHECK(strstr(path, "/response") != NULL);
    *status = (int)json_integer_value(json_object_get(resp, "statusCode"));
    *body = json_loads(json_string_value(json_object_get(resp, "body")), 0, NULL);
    CHECK_STR(json_string_value(json_object_get(json_object_get(resp, "headers"),
                                                "Content-Type")),
              "application/json");
    CHECK(json_is_false(json_object_get(resp, "isBase64Encoded")));
    return resp;
}

static void test_request_handler(void)
{
    reset_api();
    size_t sfn_before = fake_http_count(&sfn);
    fake_http_push(&sfn, 200, NULL,
                   "{\"status\":\"SUCCEEDED\",\"output\":\"{\\\"sessionId\\\":\\\"S1\\\","
                   "\\\"turn\\\":1,\\\"reply\\\":\\\"Hello!\\\",\\\"actions\\\":[]}\"}",
                   (size_t)-1, 0);
    int status;
    json_t *body;
    json_t *resp = call_request(proxy_event("application/json", "{\"message\":\"hi there\"}", 0),
                                &status, &body);
    CHECK_INT(status, 200);
    CHECK_STR(json_string_value(json_object_get(body, "reply")), "Hello!");
    json_decref(body);
    json_decref(resp);
    CHECK_INT(fake_http_count(&sfn), sfn_before + 1);
    /* The execution's input is the request handler's state for a new session. */
    const struct fake_request *r = fake_http_request(&sfn, sfn_before);
    json_t *req = json_loads(r->body, 0, NULL);
    json_t *state = json_loads(json_string_value(json_object_get(req, "input")), 0, NULL);
    CHECK_STR(json_string_value(json_object_get(state, "message")), "hi there");
    CHECK(json_is_true(json_object_get(state, "isNew")));
    const char *sid = json_string_value(json_object_get(state, "sessionId"));
    CHECK(sid && strlen(sid) == 22);
    CHECK(strncmp(json_string_value(json_object_get(state, "userId")), "guest:", 6) == 0);
    json_decref(state);
    json_decref(req);

    /* base64 bodies (binary media types) decode to the same request. */
    fake_http_push(&sfn, 200, NULL, "{\"status\":\"SUCCEEDED\",\"output\":\"{\\\"reply\\\":\\\"b64\\\"}\"}",
                   (size_t)-1, 0);
    resp = call_request(proxy_event("application/json; charset=utf-8",
                                    "eyJtZXNzYWdlIjoiaGkifQ==", 1),
                        &status, &body); /* {"message":"hi"} */
    CHECK_INT(status, 200);
    CHECK_STR(json_string_value(json_object_get(body, "reply")), "b64");
    json_decref(body);
    json_decref(resp);
    r = fake_http_request(&sfn, sfn_before + 1);
    req = json_loads(r ? r->body : "", 0, NULL);
    state = json_loads(json_string_value(json_object_get(req, "input")), 0, NULL);
    CHECK_STR(json_string_value(json_object_get(state, "message")), "hi");
    json_decref(state);
    json_decref(req);
}

/* Idempotency-Key on the Lambda path: the retry gets the first response and starts no second
 * execution; the same key with another body is refused. */
static void test_request_idempotency_key(void)
{
    reset_api();
    size_t sfn_before = fake_http_count(&sfn);
    fake_http_push(&sfn, 200, NULL,
                   "{\"status\":\"SUCCEEDED\",\"output\":\"{\\\"sessionId\\\":\\\"S9\\\","
                   "\\\"turn\\\":1,\\\"reply\\\":\\\"once\\\",\\\"actions\\\":[]}\"}",
                   (size_t)-1, 0);
    int status;
    json_t *body;
    for (int i = 0; i < 2; i++) {
        json_t *ev = proxy_event("application/json", "{\"message\":\"hello\"}", 0);
        json_object_set_new(json_object_get(ev, "headers"), "Idempotency-Key",
                            json_string("lambda-key-1"));
        json_t *resp = call_request(ev, &status, &body);
        CHECK_INT(status, 200);
        CHECK_STR(json_string_value(json_object_get(body, "reply")), "once");
        json_decref(body);
        json_decref(resp);
    }
    CHECK_INT(fake_http_count(&sfn), sfn_before + 1);
    json_t *ev = proxy_event("application/json", "{\"message\":\"something else\"}", 0);
    json_object_set_new(json_object_get(ev, "headers"), "Idempotency-Key",
                        json_string("lambda-key-1"));
    json_t *resp = call_request(ev, &status, &body);
    CHECK_INT(status, 422);
    CHECK_STR(json_string_value(json_object_get(json_object_get(body, "error"), "code")),
              "IdempotencyMismatch");
    json_decref(body);
    json_decref(resp);
}

static void test_request_errors(void)
{
    reset_api();
    size_t sfn_before = fake_http_count(&sfn);
    static const struct {
        const char *ct, *body;
        int b64, status;
        const char *code;
    } cases[] = {
        {"application/json", "{\"message\":", 0, 400, "MalformedJson"},
        {"application/json", "{\"message\":\"\"}", 0, 400, "InvalidRequest"},
        {"application/json", "{\"message\":\"x\",\"extra\":1}", 0, 400, "InvalidRequest"},
        {"application/json", "{\"message\":\"x\",\"sessionId\":\"bad id!\"}", 0, 400,
         "InvalidRequest"},
        {"text/plain", "{\"message\":\"x\"}", 0, 415, "UnsupportedMediaType"},
        {"application/json", "%%%", 1, 400, "InvalidRequest"},
        {"application/json", "{\"message\":\"x\",\"sessionId\":\"nosuchsession\"}", 0, 404,
         "NotFound"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int status;
        json_t *body;
        json_t *resp = call_request(proxy_event(cases[i].ct, cases[i].body, cases[i].b64), &status,
                                    &body);
        CHECK_INT(status, cases[i].status);
        CHECK_STR(json_string_value(json_object_get(json_object_get(body, "error"), "code")),
                  cases[i].code);
        json_decref(body);
        json_decref(resp);
    }
    /* None of them reached Step Functions. */
    CHECK_INT(fake_http_count(&sfn), sfn_before);
    /* Oversized bodies are 413. */
    char *big = xmalloc(70000);
    memset(big, 'a', 69999);
    big[69999] = '\0';
    int status;
    json_t *body;
    json_t *resp = call_request(proxy_event("application/json", big, 0), &status, &body);
    CHECK_INT(status, 413);
    json_decref(body);
    json_decref(resp);
    free(big);
    /* Workflow failures map to the statuses `parley serve` gives. */
    fake_http_push(&sfn, 200, NULL, "{\"status\":\"FAILED\",\"error\":\"ModelThrottled\"}",
                   (size_t)-1, 0);
    fake_http_push(&sfn, 200, NULL, "{\"status\":\"TIMED_OUT\"}", (size_t)-1, 0);
    resp = call_request(proxy_event("application/json", "{\"message\":\"x\"}", 0), &status, &body);
    CHECK_INT(status, 503);
    CHECK_STR(json_string_value(json_object_get(json_object_get(body, "error"), "code")),
              "ModelThrottled");
    json_decref(body);
    json_decref(resp);
    resp = call_request(proxy_event("application/json", "{\"message\":\"x\"}", 0), &status, &body);
    CHECK_INT(status, 504);
    json_decref(body);
    json_decref(resp);
}

static void test_task_handler(void)
{
    reset_api();
    const char *path;
    int rc;
    json_t *out = invoke("LoadContext",
                         "{\"sessionId\":\"Lc1\",\"userId\":\"u\",\"message\":\"hello\","
                         "\"isNew\":true,\"status\":\"active\",\"context\":{},\"turns\":0}",
                         &path, &rc);
    CHECK_INT(rc, 0);
    CHECK(strstr(path, "/response") != NULL);
    CHECK_STR(json_string_value(json_object_get(out, "sessionId")), "Lc1");
    CHECK(json_is_array(json_object_get(out, "history")));
    json_decref(out);
    /* A Task's failure is an invocation error whose type the state machine matches. */
    out = invoke("ActionExecutor", "{\"sessionId\":\"Lc1\",\"newMessages\":[]}", &path, &rc);
    CHECK(strstr(path, "/error") != NULL);
    CHECK_STR(json_string_value(json_object_get(out, "errorType")), "InvalidRequest");
    json_decref(out);
}

static void test_action_worker(void)
{
    reset_api();
    json_t *good = json_pack(
        "{s:s, s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s}, s:s}", "actionId", "toolu_lambda_1",
        "sessionId", "Aw1", "userId", "u-worker", "tool", "create_support_ticket", "input",
        "title", "Cannot log in", "description", "locked out", "priority", "high", "email",
        "jane@example.com", "idempotencyKey", "Aw1:toolu_lambda_1");
    char *gb = json_dumps(good, JSON_COMPACT);
    json_decref(good);
    json_t *ev = json_pack("{s:[{s:s, s:s, s:s, s:s}, {s:s, s:s, s:s, s:s}]}", "Records",
                           "messageId", "m-bad", "receiptHandle", "rh1", "body", "not json",
                           "eventSource", "aws:sqs", "messageId", "m-good", "receiptHandle", "rh2",
                           "body", gb, "eventSource", "aws:sqs");
    free(gb);
    char *text = json_dumps(ev, JSON_COMPACT);
    json_decref(ev);
    const char *path;
    int rc;
    json_t *out = invoke("ActionWorker", text, &path, &rc);
    free(text);
    CHECK(strstr(path, "/response") != NULL);
    json_t *fails = json_object_get(out, "batchItemFailures");
    CHECK_INT(json_array_size(fails), 1);
    CHECK_STR(json_string_value(json_object_get(json_array_get(fails, 0), "itemIdentifier")),
              "m-bad");
    json_decref(out);
    /* The good message's effect is in the store. */
    struct err e;
    char *db = xasprintf("%s/parley.db", dir);
    struct store *st = store_sqlite_new(db, 1, &e);
    free(db);
    json_t *a = NULL;
    CHECK(st && store_action_get(st, "toolu_lambda_1", &a, &e) == 0);
    CHECK_STR(json_string_value(json_object_get(a, "status")), "succeeded");
    json_decref(a);
    json_t *list = NULL;
    CHECK(st && store_tickets_list(st, "u-worker", 10, &list, &e) == 0);
    CHECK_INT(json_array_size(list), 1);
    json_decref(list);
    store_free(st);
}

static void test_analytics(void)
{
    reset_api();
    const char *path;
    int rc;
    json_t *out = invoke("Analytics",
                         "{\"version\":\"0\",\"id\":\"e1\",\"detail-type\":\"action_executed\","
                         "\"source\":\"parley.agent\",\"account\":\"1\",\"time\":"
                         "\"2026-11-25T03:00:00Z\",\"region\":\"us-east-1\",\"resources\":[],"
                         "\"detail\":{\"tool\":\"create_support_ticket\",\"status\":"
                         "\"succeeded\"}}",
                         &path, &rc);
    CHECK(strstr(path, "/response") != NULL);
    CHECK_STR(json_string_value(json_object_get(out, "folded")), "action_executed");
    CHECK(json_is_true(json_object_get(out, "known")));
    json_decref(out);
    out = invoke("Analytics", "{\"detail\":{}}", &path, &rc);
    CHECK(strstr(path, "/error") != NULL);
    CHECK_STR(json_string_value(json_object_get(out, "errorType")), "InvalidEvent");
    json_decref(out);
}


/* ---- stdout capture: the EMF lines a function writes for CloudWatch ---- */

static int saved_stdout = -1;
static char capture_path[128];

static void capture_begin(void)
{
    fflush(stdout);
    snprintf(capture_path, sizeof capture_path, "%s/stdout.txt", dir);
    int fd = open(capture_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    saved_stdout = dup(STDOUT_FILENO);
    if (fd >= 0) {
        dup2(fd, STDOUT_FILENO);
        close(fd);
    }
}

/* Ends the capture; returns the EMF documents written (a new array). */
static json_t *capture_end(void)
{
    fflush(stdout);
    if (saved_stdout >= 0) {
        dup2(saved_stdout, STDOUT_FILENO);
        close(saved_stdout);
        saved_stdout = -1;
    }
    json_t *lines = json_array();
    FILE *f = fopen(capture_path, "r");
    char buf[8192];
    while (f && fgets(buf, sizeof buf, f)) {
        json_t *doc = json_loads(buf, 0, NULL);
        if (doc && json_object_get(doc, "_aws"))
            json_array_append(lines, doc);
        json_decref(doc);
    }
    if (f)
        fclose(f);
    return lines;
}

/* The metric names one EMF document declares, as "A,B,C". */
static void emf_names(const json_t *doc, char *out, size_t cap)
{
    out[0] = '\0';
    json_t *m = json_object_get(json_array_get(json_object_get(json_object_get(doc, "_aws"),
                                                              "CloudWatchMetrics"), 0),
                                "Metrics");
    size_t i;
    json_t *x;
    json_array_foreach(m, i, x) {
        size_t n = strlen(out);
        snprintf(out + n, cap - n, "%s%s", n ? "," : "", json_string_value(json_object_get(x,
                                                                                    "Name")));
    }
}

/* The line among lines that has member key, or NULL (borrowed); two such lines fail the check. */
static json_t *emf_line_with(json_t *lines, const char *key)
{
    json_t *found = NULL;
    size_t i;
    json_t *doc;
    json_array_foreach(lines, i, doc) {
        if (json_object_get(doc, key)) {
            CHECK(found == NULL);
            found = doc;
        }
    }
    return found;
}

/* RequestHandler: one turn line per invocation on stdout with the turn's figures, and the
 * process's turn metrics move. */
static void test_emf_request(void)
{
    reset_api();
    fake_http_push(&sfn, 200, NULL,
                   "{\"status\":\"SUCCEEDED\",\"output\":\"{\\\"sessionId\\\":\\\"Emf1\\\","
                   "\\\"turn\\\":1,\\\"reply\\\":\\\"ok\\\",\\\"actions\\\":[{\\\"id\\\":\\\"a\\\"}]}\"}",
                   (size_t)-1, 0);
    struct metric *turns = metrics_find(metrics_default(), METRIC_TURNS_TOTAL);
    double before = metrics_value(turns, NULL);
    capture_begin();
    int status;
    json_t *body;
    json_t *resp = call_request(proxy_event("application/json", "{\"message\":\"hello\"}", 0),
                                &status, &body);
    json_t *lines = capture_end();
    CHECK_INT(status, 200);
    CHECK_INT(json_array_size(lines), 1);
    json_t *doc = json_array_get(lines, 0);
    char names[256];
    emf_names(doc, names, sizeof names);
    CHECK_STR(names, "TurnLatency,ModelLatency,TokensIn,TokensOut,ToolCount,Errors");
    CHECK_STR(json_string_value(json_object_get(doc, "Service")), "parley");
    CHECK_STR(json_string_value(json_object_get(doc, "Provider")), "offline");
    CHECK_STR(json_string_value(json_object_get(doc, "sessionId")), "Emf1");
    CHECK(json_number_value(json_object_get(doc, "TurnLatency")) > 0);
    CHECK(json_number_value(json_object_get(doc, "ToolCount")) == 1);
    CHECK(json_number_value(json_object_get(doc, "Errors")) == 0);
    CHECK(metrics_value(turns, NULL) == before + 1);
    json_decref(lines);
    json_decref(body);
    json_decref(resp);
}

/* BedrockInference as its own function: the model call is measured (latency histogram, tokens)
 * and written as one EMF line without a TurnLatency, since no turn ends in this invocation. */
static void test_emf_task(void)
{
    reset_api();
    struct metric *lat = metrics_find(metrics_default(), METRIC_MODEL_LATENCY);
    struct metric *tok = metrics_find(metrics_default(), METRIC_TOKENS_TOTAL);
    uint64_t calls = metrics_hist_count(lat, METRICS_L("offline"), NULL);
    double tin = metrics_value(tok, METRICS_L("in"));
    const char *path;
    int rc;
    json_t *state = invoke("LoadContext",
                           "{\"sessionId\":\"Emf2\",\"userId\":\"u\",\"message\":\"where is my "
                           "order?\",\"isNew\":true,\"status\":\"active\",\"context\":{},"
                           "\"turns\":0}",
                           &path, &rc);
    CHECK(strstr(path, "/response") != NULL);
    char *text = json_dumps(state, JSON_COMPACT);
    json_decref(state);
    capture_begin();
    json_t *out = invoke("BedrockInference", text ? text : "{}", &path, &rc);
    json_t *lines = capture_end();
    free(text);
    CHECK(strstr(path, "/response") != NULL);
    CHECK_INT(metrics_hist_count(lat, METRICS_L("offline"), NULL), calls + 1);
    CHECK(metrics_value(tok, METRICS_L("in")) > tin);
    /* The invocation's sums; the model call's own lines are checked by test_emf_sfn_turn. */
    json_t *doc = emf_line_with(lines, "ToolCount");
    char names[256];
    emf_names(doc, names, sizeof names);
    CHECK_STR(names, "ModelLatency,TokensIn,TokensOut,ToolCount,Errors");
    CHECK(json_object_get(doc, "TurnLatency") == NULL);
    CHECK(json_number_value(json_object_get(doc, "TokensIn")) > 0);
    CHECK_STR(json_string_value(json_object_get(doc, "Provider")), "offline");
    json_decref(lines);
    json_decref(out);
    /* A later invocation that measures nothing writes no line (the figures were reset). */
    capture_begin();
    out = invoke("LoadContext", "{\"sessionId\":\"Emf3\",\"userId\":\"u\",\"message\":\"hi\","
                                "\"isNew\":true,\"status\":\"active\",\"context\":{},\"turns\":0}",
                 &path, &rc);
    lines = capture_end();
    CHECK(strstr(path, "/response") != NULL);
    CHECK_INT(json_array_size(lines), 0);
    json_decref(lines);
    json_decref(out);
}

/* Runs Task function name on state (stolen) with stdout captured; returns its output and sets
 * *lines to the EMF lines it wrote. */
static json_t *emf_task(const char *name, json_t *state, json_t **lines)
{
    char *text = json_dumps(state, JSON_COMPACT);
    json_decref(state);
    const char *path;
    int rc;
    capture_begin();
    json_t *out = invoke(name, text ? text : "{}", &path, &rc);
    *lines = capture_end();
    free(text);
    CHECK(strstr(path, "/response") != NULL);
    return out;
}

/* A chat turn in the Step Functions shape, one function per state as the seed deploys it: the
 * model call, the tool run and the saved turn each write the EMF line serve's /metrics families
 * carry (parley_model_latency_seconds{provider}, parley_actions_total{tool,status},
 * parley_conversation_duration_seconds), with their dimensions, and the registry moves too. */
static void test_emf_sfn_turn(void)
{
    reset_api();
    struct metric *acts = metrics_find(metrics_default(), METRIC_ACTIONS_TOTAL);
    double looked = metrics_value(acts, METRICS_L("lookup_order", "succeeded"));
    json_t *lines;
    json_t *state = emf_task("LoadContext",
                             json_pack("{s:s, s:s, s:s, s:b, s:s, s:{}, s:i, s:I}",
                                       "sessionId", "Emf5", "userId", "demo", "message",
                                       "where is order 1042?", "isNew", 1, "status", "active",
                                       "context", "turns", 0, "createdAt",
                                       (json_int_t)clock_now_ms() - 5000),
                             &lines);
    json_decref(lines);
    /* BedrockInference: the offline model asks for lookup_order. */
    state = emf_task("BedrockInference", state, &lines);
    CHECK(json_is_true(json_object_get(state, "requiresAction")));
    json_t *doc = emf_line_with(lines, "ModelCalls");
    char names[256];
    emf_names(doc, names, sizeof names);
    CHECK_STR(names, "ModelCalls,ModelCallLatency");
    CHECK_STR(json_string_value(json_object_get(doc, "Service")), "parley");
    CHECK_STR(json_string_value(json_object_get(doc, "Provider")), "offline");
    CHECK(json_number_value(json_object_get(doc, "ModelCalls")) == 1);
    CHECK(json_number_value(json_object_get(doc, "ModelCallLatency")) >= 0);
    json_decref(lines);
    /* ActionExecutor: the tool's own line, by tool and outcome. */
    state = emf_task("ActionExecutor", state, &lines);
    doc = emf_line_with(lines, "ToolCalls");
    emf_names(doc, names, sizeof names);
    CHECK_STR(names, "ToolCalls,ToolLatency");
    CHECK_STR(json_string_value(json_object_get(doc, "Tool")), "lookup_order");
    CHECK_STR(json_string_value(json_object_get(doc, "Status")), "succeeded");
    CHECK(json_number_value(json_object_get(doc, "ToolCalls")) == 1);
    json_t *dims = json_array_get(
        json_object_get(json_array_get(json_object_get(json_object_get(doc, "_aws"),
                                                       "CloudWatchMetrics"),
                                       0),
                        "Dimensions"),
        0);
    CHECK_INT(json_array_size(dims), 3);
    CHECK_STR(json_string_value(json_array_get(dims, 1)), "Tool");
    CHECK(metrics_value(acts, METRICS_L("lookup_order", "succeeded")) == looked + 1);
    /* The invocation's sums still come as one line. */
    doc = emf_line_with(lines, "ToolCount");
    CHECK(json_number_value(json_object_get(doc, "ToolCount")) == 1);
    json_decref(lines);
    /* The answer, then SaveConversation: the conversation's duration so far. */
    state = emf_task("BedrockInference", state, &lines);
    CHECK(emf_line_with(lines, "ModelCalls") != NULL);
    json_decref(lines);
    json_t *out = emf_task("SaveConversation", state, &lines);
    doc = emf_line_with(lines, "ConversationDuration");
    CHECK(doc != NULL);
    /* The request handler's state says when the conversation started (5 s ago). */
    CHECK(json_number_value(json_object_get(doc, "ConversationDuration")) >= 5);
    json_decref(lines);
    json_decref(out);
}

/* The host's error paths: an event that is not JSON never reaches the handler; a handler's
 * failure is posted with an errorType from the error-code table, in the body and the header. */
static void test_host_errors(void)
{
    reset_api();
    const char *path;
    int rc;
    json_t *out = invoke("LoadContext", "{not json", &path, &rc);
    CHECK_INT(rc, 0);
    CHECK(strstr(path, "/error") != NULL);
    CHECK_STR(json_string_value(json_object_get(out, "errorType")), "Runtime.InvalidEvent");
    CHECK(strstr(json_string_value(json_object_get(out, "errorMessage")), "not JSON") != NULL);
    json_decref(out);
    size_t before = fake_http_count(&api);
    out = invoke("SaveConversation", "{\"sessionId\":\"nosuch\"}", &path, &rc);
    CHECK(strstr(path, "/error") != NULL);
    const char *type = json_string_value(json_object_get(out, "errorType"));
    CHECK(type && errcode_known(type));
    const struct fake_request *r = fake_http_request(&api, before + 1);
    CHECK_STR(r ? fake_header(r, "Lambda-Runtime-Function-Error-Type") : NULL, type);
    json_decref(out);
}

/* Analytics writes its Events metric through the same EMF builder. */
static void test_emf_analytics(void)
{
    reset_api();
    const char *path;
    int rc;
    capture_begin();
    json_t *out = invoke("Analytics",
                         "{\"detail-type\":\"turn_completed\",\"source\":\"parley.agent\","
                         "\"detail\":{}}",
                         &path, &rc);
    json_t *lines = capture_end();
    CHECK(strstr(path, "/response") != NULL);
    CHECK_INT(json_array_size(lines), 1);
    json_t *doc = json_array_get(lines, 0);
    char names[64];
    emf_names(doc, names, sizeof names);
    CHECK_STR(names, "Events");
    CHECK_STR(json_string_value(json_object_get(doc, "EventType")), "turn_completed");
    CHECK(json_number_value(json_object_get(doc, "Events")) == 1);
    json_decref(lines);
    json_decref(out);
}

static void test_init_error(void)
{
    reset_api();
    setenv("PARLEY_STORE", "cassandra", 1);
    size_t before = fake_http_count(&api);
    fake_http_push(&api, 202, NULL, "{}", (size_t)-1, 0);
    char *argv[] = {"bootstrap", "--handler", "LoadContext", "--once", NULL};
    CHECK_INT(lambda_parley_main(4, argv), 1);
    const struct fake_request *r = fake_http_request(&api, before);
    CHECK(r != NULL);
    CHECK_STR(r ? r->target : "", "/2018-06-01/runtime/init/error");
    CHECK_STR(fake_header(r, "Lambda-Runtime-Function-Error-Type"), "Runtime.InvalidConfig");
    CHECK(r && strstr(r->body, "cassandra") != NULL);
    setenv("PARLEY_STORE", "sqlite", 1);
}

int main(void)
{
    xmalloc_init();
    snprintf(dir, sizeof dir, "/tmp/parley-lambda-XXXXXX");
    if (!mkdtemp(dir) || fake_http_start(&api) < 0 || fake_http_start(&sfn) < 0)
        return 1;
    setenv("AWS_ENDPOINT_URL_SFN", sfn.base_url, 1);
    setenv("AWS_REGION", "us-east-1", 1);
    setenv("AWS_ACCESS_KEY_ID", "AKIDTEST", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "secret", 1);
    setenv("PARLEY_STATE_MACHINE_ARN", "arn:aws:states:us-east-1:1:stateMachine:Agent", 1);
    setenv("PARLEY_STORE", "sqlite", 1);
    setenv("PARLEY_DATA", dir, 1);
    setenv("PARLEY_MODEL", "offline", 1);
    setenv("PARLEY_LOG_LEVEL", "warn", 1);
    unsetenv("PARLEY_EVENT_BUS");
    RUN(test_request_handler);
    RUN(test_request_idempotency_key);
    RUN(test_request_errors);
    RUN(test_task_handler);
    RUN(test_action_worker);
    RUN(test_analytics);
    RUN(test_emf_request);
    RUN(test_emf_task);
    RUN(test_emf_sfn_turn);
    RUN(test_host_errors);
    RUN(test_emf_analytics);
    RUN(test_init_error);
    fake_http_stop(&sfn);
    fake_http_stop(&api);
    char *cmd = xasprintf("rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    free(cmd);
    return check_summary();
}
