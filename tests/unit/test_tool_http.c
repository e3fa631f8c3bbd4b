/*
 * test_tool_http.c - the team's own tools against a real HTTP backend (tests/fakes/fake_http.h):
 * HTTP tools (url filling, query vs body, headers, idempotency across retries, signatures,
 * timeouts, error replies), OpenAPI conversion (tests/cases/openapi), Lambda Invoke with SigV4,
 * the registry's kinds and policy, and the "confirm" flow driven through the turn workflow.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "agent/tool_http.h"
#include "agent/tool_openapi.h"
#include "agent/tools.h"
#include "agent/turn.h"
#include "base/clock.h"
#include "base/xmalloc.h"
#include "queue/queue.h"
#include "runtime/workflow_local.h"
#include "check.h"
#include "fakes/fake_http.h"

static struct fake_http srv;
static char src_dir[512];

/* A registry with one tool built from a tools.http entry given as JSON text (base url
 * substituted for %s). */
static struct tools *one_tool(const char *entry_fmt, struct err *e)
{
    char text[4096];
    snprintf(text, sizeof text, entry_fmt, srv.base_url);
    json_error_t jerr;
    json_t *entry = json_loads(text, 0, &jerr);
    if (!entry)
        fprintf(stderr, "bad test entry: %s\n", jerr.text);
    json_t *section = json_pack("{s:b, s:[o]}", "builtin", 0, "http", entry);
    struct tools *t = tools_new(NULL, section, e);
    json_decref(section);
    return t;
}

static const struct tool_ctx ctx_key = {.session_id = "sess-1", .user_id = "user-1",
                                        .idempotency_key = "sess-1:toolu_1"};
static const struct tool_ctx ctx_nokey = {.session_id = "sess-1", .user_id = "user-1"};

static void reset(void)
{
    fake_http_stop(&srv);
    fake_http_start(&srv);
}

/* ---------------------------------------------------------------- HTTP tools */

static void test_post_body_path_and_secret_headers(void)
{
    reset();
    setenv("HT_TOKEN", "s3cret-token", 1);
    struct err e;
    err_clear(&e);
    struct tools *t = one_tool(
        "{\"name\":\"refund_order\",\"description\":\"Refund an order.\",\"input_schema\":"
        "{\"type\":\"object\",\"properties\":{\"order_id\":{\"type\":\"string\"},\"amount\":"
        "{\"type\":\"number\"}},\"required\":[\"order_id\"]},\"url\":\"%s/orders/{order_id}/refund"
        "\",\"method\":\"POST\",\"headers\":{\"Authorization\":\"Bearer ${HT_TOKEN}\"}}",
        &e);
    CHECK(t != NULL);
    if (!t) {
        fprintf(stderr, "%s: %s\n", e.code, e.message);
        return;
    }
    fake_http_push(&srv, 200, "Content-Type: application/json\n", "{\"refunded\":true}",
                   (size_t)-1, 0);
    json_t *in = json_pack("{s:s, s:f}", "order_id", "A/1 2", "amount", 5.5);
    int is_error = -1;
    json_t *r = tools_call(t, &ctx_key, "refund_order", in, &is_error, &e);
    CHECK(r != NULL);
    CHECK_INT(is_error, 0);
    CHECK(json_is_true(json_object_get(r, "refunded")));
    CHECK_INT(fake_http_count(&srv), 1);
    const struct fake_request *q = fake_http_request(&srv, 0);
    if (q) {
        CHECK_STR(q->method, "POST");
        CHECK_STR(q->target, "/orders/A%2F1%202/refund");
        json_t *body = json_loads(q->body, 0, NULL);
        CHECK(body && json_object_size(body) == 1); /* order_id went into the url only */
        CHECK(json_real_value(json_object_get(body, "amount")) == 5.5);
        json_decref(body);
        CHECK_STR(fake_header(q, "Authorization"), "Bearer s3cret-token");
        CHECK_STR(fake_header(q, "Content-Type"), "application/json");
        CHECK_STR(fake_header(q, "Idempotency-Key"), "sess-1:toolu_1");
        CHECK_STR(fake_header(q, "X-Parley-Session"), "sess-1");
        CHECK(fake_header(q, "X-Parley-Signature") == NULL); /* no secret set */
    }
    json_decref(r);
    json_decref(in);
    tools_free(t);
}

static void test_get_sends_query(void)
{
    reset();
    struct err e;
    struct tools *t = one_tool(
        "{\"name\":\"search_orders\",\"description\":\"Search.\",\"input_schema\":{\"type\":"
        "\"object\"},\"url\":\"%s/search?v=1\",\"method\":\"get\"}",
        &e);
    CHECK(t != NULL);
    fake_http_push(&srv, 200, NULL, "[1,2]", (size_t)-1, 0);
    json_t *in = json_pack("{s:s, s:i, s:b}", "q", "a b&c", "limit", 3, "open", 1);
    int is_error;
    json_t *r = tools_call(t, &ctx_nokey, "search_orders", in, &is_error, &e);
    CHECK(json_is_array(r) && json_array_size(r) == 2);
    const struct fake_request *q = fake_http_request(&srv, 0);
    if (q) {
        CHECK_STR(q->method, "GET");
        CHECK_STR(q->target, "/search?v=1&q=a%20b%26c&limit=3&open=true");
        CHECK_INT(q->body_len, 0);
        CHECK(fake_header(q, "Idempotency-Key") == NULL);
    }
    json_decref(r);
    json_decref(in);
    tools_free(t);
}

static void test_idempotency_key_stable_across_retry(void)
{
    reset();
    struct err e;
    struct tools *t = one_tool(
        "{\"name\":\"create_rma\",\"description\":\"Create an RMA.\",\"input_schema\":{\"type\":"
        "\"object\"},\"url\":\"%s/rma\",\"retries\":2}",
        &e);
    fake_http_push(&srv, 503, NULL, "busy", (size_t)-1, 0);
    fake_http_push(&srv, 200, NULL, "{\"rma\":\"R-9\"}", (size_t)-1, 0);
    json_t *in = json_pack("{s:s}", "serial", "SN1");
    int is_error;
    json_t *r = tools_call(t, &ctx_key, "create_rma", in, &is_error, &e);
    CHECK_STR(json_string_value(json_object_get(r, "rma")), "R-9");
    CHECK_INT(fake_http_count(&srv), 2);
    const struct fake_request *a = fake_http_request(&srv, 0), *b = fake_http_request(&srv, 1);
    if (a && b) {
        CHECK_STR(fake_header(a, "Idempotency-Key"), "sess-1:toolu_1");
        CHECK_STR(fake_header(b, "Idempotency-Key"), "sess-1:toolu_1");
        CHECK_STR(a->body, b->body);
    }
    json_decref(r);
    /* Without a key a POST is not repeated: the 503 is the answer. */
    fake_http_push(&srv, 503, NULL, "busy", (size_t)-1, 0);
    r = tools_call(t, &ctx_nokey, "create_rma", in, &is_error, &e);
    CHECK_INT(fake_http_count(&srv), 3);
    CHECK_INT(is_error, 1);
    CHECK_INT(json_integer_value(json_object_get(json_object_get(r, "error"), "status")), 503);
    json_decref(r);
    json_decref(in);
    tools_free(t);
}

static void test_signature_verifies(void)
{
    reset();
    struct tool_ctx signed_ctx = ctx_key;
    signed_ctx.signing_secret = "whsec_test";
    struct err e;
    struct tools *t = one_tool(
        "{\"name\":\"notify\",\"description\":\"Notify.\",\"input_schema\":{\"type\":\"object\"},"
        "\"url\":\"%s/notify\"}",
        &e);
    fake_http_push(&srv, 200, NULL, "{}", (size_t)-1, 0);
    json_t *in = json_pack("{s:s}", "text", "h\xc3\xa9llo");
    int is_error;
    json_t *r = tools_call(t, &signed_ctx, "notify", in, &is_error, &e);
    CHECK(r != NULL);
    const struct fake_request *q = fake_http_request(&srv, 0);
    const char *ts = fake_header(q, "X-Parley-Timestamp");
    const char *sig = fake_header(q, "X-Parley-Signature");
    CHECK(ts && sig);
    if (q && ts && sig) {
        long long now = (long long)time(NULL), sent = atoll(ts);
        CHECK(sent <= now && sent >= now - 60);
        /* Verify as a backend would: HMAC-SHA256(secret, ts + "." + raw body). */
        char *msg = xasprintf("%s.%s", ts, q->body);
        unsigned char mac[EVP_MAX_MD_SIZE];
        unsigned int len = 0;
        HMAC(EVP_sha256(), "whsec_test", 10, (unsigned char *)msg, strlen(msg), mac, &len);
        char want[80] = "v1=";
        for (unsigned i = 0; i < len; i++)
            snprintf(want + 3 + 2 * i, 3, "%02x", mac[i]);
        CHECK_STR(sig, want);
        free(msg);
    }
    json_decref(r);
    json_decref(in);
    tools_free(t);
}

static void test_errors_are_results_not_crashes(void)
{
    reset();
    setenv("HT_TOKEN", "s3cret-token", 1);
    struct err e;
    struct tools *t = one_tool(
        "{\"name\":\"lookup\",\"description\":\"Look up.\",\"input_schema\":{\"type\":\"object\"},"
        "\"url\":\"%s/lookup?api_key=${HT_TOKEN}\",\"method\":\"GET\",\"timeout_ms\":300,"
        "\"retries\":0}",
        &e);
    json_t *in = json_object();
    int is_error;
    /* 4xx: the status and the body reach the model as an error result. */
    fake_http_push(&srv, 404, NULL, "{\"message\":\"no such thing\"}", (size_t)-1, 0);
    json_t *r = tools_call(t, &ctx_nokey, "lookup", in, &is_error, &e);
    CHECK_INT(is_error, 1);
    json_t *err = json_object_get(r, "error");
    CHECK_INT(json_integer_value(json_object_get(err, "status")), 404);
    CHECK(strstr(json_string_value(json_object_get(err, "body")), "no such thing") != NULL);
    CHECK_STR(e.code, "ToolHttpStatus");
    CHECK(strstr(e.message, "lookup") && strstr(e.message, "/lookup"));
    CHECK(strstr(e.message, "s3cret") == NULL);
    json_decref(r);
    /* tools_run (the older call) gives the same as a plain failure. */
    fake_http_push(&srv, 500, NULL, "oops", (size_t)-1, 0);
    r = tools_run(t, &ctx_nokey, "lookup", in, &e);
    CHECK(r == NULL);
    CHECK_STR(e.code, "ToolHttpStatus");
    /* Non-JSON 2xx. */
    fake_http_push(&srv, 200, NULL, "<html>hi</html>", (size_t)-1, 0);
    r = tools_call(t, &ctx_nokey, "lookup", in, &is_error, &e);
    CHECK(r == NULL);
    CHECK_STR(e.code, "ToolBadReply");
    CHECK(strstr(e.message, "s3cret") == NULL);
    /* Over 1 MB. */
    size_t big = TOOL_HTTP_REPLY_MAX + 1000;
    char *huge = xmalloc(big);
    memset(huge, ' ', big);
    huge[0] = '[';
    huge[big - 1] = ']';
    fake_http_push(&srv, 200, NULL, huge, big, 0);
    free(huge);
    r = tools_call(t, &ctx_nokey, "lookup", in, &is_error, &e);
    CHECK(r == NULL);
    CHECK_STR(e.code, "ToolTooLarge");
    /* Timeout. */
    fake_http_push(&srv, 200, NULL, "{}", (size_t)-1, 1500);
    r = tools_call(t, &ctx_nokey, "lookup", in, &is_error, &e);
    CHECK(r == NULL);
    CHECK_STR(e.code, "ToolTimeout");
    CHECK(strstr(e.message, "'lookup'") && strstr(e.message, "300 ms"));
    CHECK(strstr(e.message, "s3cret") == NULL);
    json_decref(in);
    tools_free(t);
    /* Nothing listening at all. */
    t = one_tool("{\"name\":\"gone\",\"description\":\"x\",\"input_schema\":{\"type\":\"object\"},"
                 "\"url\":\"http://127.0.0.1:1/x%s\",\"retries\":0}",
                 &e);
    in = json_object();
    r = tools_call(t, &ctx_nokey, "gone", in, &is_error, &e);
    CHECK(r == NULL);
    CHECK_STR(e.code, "ToolUnreachable");
    json_decref(in);
    tools_free(t);
}

/* The turn's deadline cuts a call short of the tool's own timeout_ms, and none is made past it. */
static void test_turn_deadline(void)
{
    reset();
    struct err e;
    struct tools *t = one_tool(
        "{\"name\":\"lookup\",\"description\":\"Look up.\",\"input_schema\":{\"type\":\"object\"},"
        "\"url\":\"%s/lookup\",\"method\":\"GET\",\"timeout_ms\":5000,\"retries\":2}",
        &e);
    json_t *in = json_object();
    int is_error = 0;
    struct tool_ctx ctx = {.session_id = "sess-1", .user_id = "user-1",
                           .deadline_ms = clock_now_ms() + 300};
    fake_http_push(&srv, 200, NULL, "{}", (size_t)-1, 2500);
    int64_t t0 = clock_mono_ms();
    json_t *r = tools_call(t, &ctx, "lookup", in, &is_error, &e);
    int64_t took = clock_mono_ms() - t0;
    CHECK(r == NULL);
    CHECK_STR(e.code, "ToolTimeout");
    CHECK(took < 2000); /* neither the 5000 ms timeout nor a retry */
    CHECK_INT(fake_http_count(&srv), 1);
    /* Past the deadline: not called at all. */
    ctx.deadline_ms = clock_now_ms() - 1;
    r = tools_call(t, &ctx, "lookup", in, &is_error, &e);
    CHECK(r == NULL);
    CHECK_STR(e.code, "ToolTimeout");
    CHECK(strstr(e.message, "time limit") != NULL);
    CHECK_INT(fake_http_count(&srv), 1);
    json_decref(in);
    tools_free(t);
}

static void test_missing_url_field_and_bad_entries(void)
{
    reset();
    struct err e;
    struct tools *t = one_tool(
        "{\"name\":\"get_bike\",\"description\":\"x\",\"input_schema\":{\"type\":\"object\"},"
        "\"url\":\"%s/bikes/{serial}\",\"method\":\"GET\"}",
        &e);
    json_t *in = json_object();
    int is_error;
    json_t *r = tools_call(t, &ctx_nokey, "get_bike", in, &is_error, &e);
    CHECK(r == NULL);
    CHECK_STR(e.code, "InvalidInput");
    CHECK(strstr(e.message, "serial") != NULL);
    CHECK_INT(fake_http_count(&srv), 0);
    json_decref(in);
    tools_free(t);
    unsetenv("HT_UNSET_VAR");
    t = one_tool("{\"name\":\"x\",\"description\":\"x\",\"input_schema\":{\"type\":\"object\"},"
                 "\"url\":\"%s/${HT_UNSET_VAR}\"}",
                 &e);
    CHECK(t == NULL);
    CHECK_STR(e.code, "ToolConfig");
    CHECK(strstr(e.message, "/tools/http/0/url") && strstr(e.message, "HT_UNSET_VAR"));
    t = one_tool("{\"name\":\"x\",\"description\":\"x\",\"input_schema\":{\"type\":\"object\"},"
                 "\"url\":\"%s/\",\"method\":\"TRACE\"}",
                 &e);
    CHECK(t == NULL);
    CHECK(strstr(e.message, "/tools/http/0/method") != NULL);
    t = one_tool("{\"name\":\"bad name!\",\"description\":\"x\",\"input_schema\":{\"type\":"
                 "\"object\"},\"url\":\"%s/\"}",
                 &e);
    CHECK(t == NULL);
    CHECK(strstr(e.message, "/tools/http/0/name") != NULL);
    t = one_tool("{\"name\":\"n\",\"description\":\"x\",\"input_schema\":{\"type\":\"object\"},"
                 "\"url\":\"%s/\",\"timeout_ms\":0}",
                 &e);
    CHECK(t == NULL);
    CHECK(strstr(e.message, "timeout_ms") != NULL);
}

/* ---------------------------------------------------------------- registry */

static void test_registry_kinds_and_policy(void)
{
    struct err e;
    struct tools *t = tools_new(NULL, NULL, &e);
    CHECK(t != NULL);
    CHECK_INT(json_array_size(tools_specs(t)), 6); /* search_knowledge_base needs a kb */
    CHECK_INT(json_array_size(tools_examples(t)), 0);
    int confirm = -1, async = -1;
    CHECK_INT(tools_policy(t, "create_support_ticket", &confirm, &async), 0);
    CHECK_INT(confirm, 0);
    CHECK_INT(async, 1);
    CHECK_INT(tools_policy(t, "nope", &confirm, &async), -1);
    tools_free(t);

    json_t *section = json_pack(
        "{s:[s, s], s:[{s:s, s:s, s:{s:s}, s:s, s:b, s:b, s:[s, s]}]}", "builtin",
        "lookup_order", "escalate_to_human", "http", "name", "warranty", "description",
        "Check a warranty.", "input_schema", "type", "object", "url", "http://127.0.0.1:9/w",
        "confirm", 1, "async", 1, "examples", "is my bike under warranty", "warranty check");
    t = tools_new(NULL, section, &e);
    CHECK(t != NULL);
    CHECK_INT(json_array_size(tools_specs(t)), 3);
    CHECK_STR(json_string_value(json_object_get(json_array_get(tools_specs(t), 2), "name")),
              "warranty");
    CHECK_INT(json_array_size(tools_examples(t)), 1);
    json_t *ex = json_array_get(tools_examples(t), 0);
    CHECK_STR(json_string_value(json_object_get(ex, "name")), "warranty");
    CHECK_INT(json_array_size(json_object_get(ex, "examples")), 2);
    CHECK(json_is_object(json_object_get(ex, "input_schema")));
    CHECK_INT(tools_policy(t, "warranty", &confirm, &async), 0);
    CHECK_INT(confirm, 1);
    CHECK_INT(async, 1);
    json_t *empty = json_object();
    CHECK(tools_validate(t, "create_support_ticket", empty, &e) < 0); /* not selected */
    json_decref(empty);
    CHECK_STR(e.code, "UnknownTool");
    tools_free(t);
    json_decref(section);

    section = json_pack("{s:[{s:s, s:s, s:{}, s:s}]}", "http", "name", "lookup_order",
                        "description", "x", "input_schema", "url", "http://127.0.0.1:9/");
    t = tools_new(NULL, section, &e);
    CHECK(t == NULL);
    CHECK_STR(e.code, "DuplicateTool");
    json_decref(section);
    section = json_pack("{s:[{s:s}]}", "mcp", "name", "fs");
    t = tools_new(NULL, section, &e);
    CHECK(t == NULL);
    CHECK(strstr(e.message, "/tools/mcp") != NULL);
    json_decref(section);
    section = json_pack("{s:[{s:s, s:s, s:{}, s:s, s:[s, i]}]}", "http", "name", "w",
                        "description", "x", "input_schema", "url", "http://127.0.0.1:9/",
                        "examples", "fine", 7);
    t = tools_new(NULL, section, &e);
    CHECK(t == NULL);
    CHECK(strstr(e.message, "/tools/http/0/examples/1") != NULL);
    json_decref(section);
    section = json_pack("{s:[s]}", "builtin", "format_disk");
    t = tools_new(NULL, section, &e);
    CHECK(t == NULL);
    CHECK(strstr(e.message, "/tools/builtin/0") != NULL);
    json_decref(section);
}

/* ---------------------------------------------------------------- OpenAPI */

static json_t *entry_named(const json_t *arr, const char *name)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) {
        if (strcmp(json_string_value(json_object_get(v, "name")), name) == 0)
            return v;
    }
    return NULL;
}

static void test_openapi_conversion(void)
{
    reset();
    char spec[1024];
    snprintf(spec, sizeof spec, "%s/tests/cases/openapi/shop.json", src_dir);
    struct err e;
    json_t *entry = json_pack("{s:s, s:s, s:[s, s], s:b}", "spec", spec, "base_url",
                              srv.base_url, "operations", "getWarranty", "fileClaim", "confirm",
                              1);
    json_t *tools = tool_openapi_entries(entry, "/tools/openapi/0", &e);
    CHECK(tools != NULL);
    CHECK_INT(json_array_size(tools), 2); /* listClaims was not selected */
    json_t *gw = entry_named(tools, "getWarranty");
    json_t *fc = entry_named(tools, "fileClaim");
    CHECK(gw && fc);
    if (gw && fc) {
        CHECK_STR(json_string_value(json_object_get(gw, "method")), "GET");
        char want[256];
        snprintf(want, sizeof want, "%s/bikes/{serial}/warranty", srv.base_url);
        CHECK_STR(json_string_value(json_object_get(gw, "url")), want);
        CHECK_STR(json_string_value(json_object_get(gw, "description")),
                  "Look up the warranty of a bike by its frame serial number.");
        json_t *s = json_object_get(gw, "input_schema");
        json_t *props = json_object_get(s, "properties");
        CHECK_INT(json_object_size(props), 2); /* serial, verbose; the header is not input */
        CHECK_STR(json_string_value(json_object_get(json_object_get(props, "serial"),
                                                    "description")),
                  "Frame serial number");
        CHECK_STR(json_string_value(json_array_get(json_object_get(s, "required"), 0)), "serial");
        CHECK_STR(json_string_value(json_array_get(json_object_get(gw, "query"), 0)), "verbose");
        CHECK(json_is_true(json_object_get(gw, "confirm")));
        CHECK_STR(json_string_value(json_object_get(fc, "method")), "POST");
        CHECK_STR(json_string_value(json_object_get(fc, "description")), "File a warranty claim.");
        json_t *fs = json_object_get(fc, "input_schema");
        json_t *contact = json_object_get(json_object_get(fs, "properties"), "contact");
        json_t *email = json_object_get(json_object_get(contact, "properties"), "email");
        CHECK_STR(json_string_value(json_object_get(email, "format")), "email");
        CHECK(json_is_array(json_object_get(email, "type"))); /* nullable -> [string, null] */
        CHECK(json_object_get(json_object_get(contact, "properties"), "x-internal") != NULL);
        CHECK(json_object_get(contact, "x-vendor") == NULL);
        CHECK(json_object_get(json_object_get(json_object_get(fs, "properties"), "serial"),
                              "example") == NULL);
        CHECK_INT(json_array_size(json_object_get(fs, "required")), 2);
    }
    json_decref(tools);

    /* Registered and called: path parameter in the url, query parameter in the query. */
    json_t *section = json_pack("{s:b, s:[O]}", "builtin", 0, "openapi", entry);
    struct tools *t = tools_new(NULL, section, &e);
    CHECK(t != NULL);
    if (t) {
        int confirm, async;
        CHECK_INT(tools_policy(t, "fileClaim", &confirm, &async), 0);
        CHECK_INT(confirm, 1);
        fake_http_push(&srv, 200, NULL, "{\"covered\":true}", (size_t)-1, 0);
        json_t *in = json_pack("{s:s, s:b}", "serial", "SN 77", "verbose", 1);
        int is_error;
        json_t *r = tools_call(t, &ctx_nokey, "getWarranty", in, &is_error, &e);
        CHECK(json_is_true(json_object_get(r, "covered")));
        const struct fake_request *q = fake_http_request(&srv, 0);
        if (q)
            CHECK_STR(q->target, "/bikes/SN%2077/warranty?verbose=true");
        json_decref(r);
        json_decref(in);
        /* The body schema (additionalProperties: false) is enforced before any call. */
        in = json_pack("{s:s, s:s, s:s}", "serial", "SN1", "problem", "crack", "color", "red");
        r = tools_call(t, &ctx_nokey, "fileClaim", in, &is_error, &e);
        CHECK(r == NULL);
        CHECK_STR(e.code, "InvalidInput");
        CHECK_INT(fake_http_count(&srv), 1);
        json_decref(in);
        tools_free(t);
    }
    json_decref(section);
    json_decref(entry);

    /* A cyclic schema is refused, an unknown operation is named, YAML is not yet read. */
    snprintf(spec, sizeof spec, "%s/tests/cases/openapi/cycle.json", src_dir);
    entry = json_pack("{s:s, s:s}", "spec", spec, "base_url", "http://127.0.0.1:9");
    tools = tool_openapi_entries(entry, "/tools/openapi/0", &e);
    CHECK(tools == NULL);
    CHECK_STR(e.code, "ToolConfig");
    CHECK(strstr(e.message, "#/components/schemas/Node") != NULL);
    json_decref(entry);
    snprintf(spec, sizeof spec, "%s/tests/cases/openapi/shop.json", src_dir);
    entry = json_pack("{s:s, s:[s]}", "spec", spec, "operations", "deleteEverything");
    tools = tool_openapi_entries(entry, "/tools/openapi/0", &e);
    CHECK(tools == NULL);
    CHECK(strstr(e.message, "/tools/openapi/0/operations/0") != NULL);
    json_decref(entry);
    entry = json_pack("{s:s}", "spec", "api.yaml"); /* YAML is read now (test_tool_mcp.c); */
    tools = tool_openapi_entries(entry, "/tools/openapi/0", &e); /* this one does not exist */
    CHECK(tools == NULL);
    CHECK(strstr(e.message, "cannot read 'api.yaml'") != NULL);
    json_decref(entry);
}

/* ---------------------------------------------------------------- Lambda */

static void test_lambda_invoke(void)
{
    reset();
    setenv("AWS_REGION", "us-east-1", 1);
    setenv("AWS_ACCESS_KEY_ID", "AKIDTESTLAMBDA", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "secretkeyforthetest", 1);
    unsetenv("AWS_SESSION_TOKEN");
    setenv("AWS_ENDPOINT_URL_LAMBDA", srv.base_url, 1);
    struct err e;
    json_t *section = json_pack(
        "{s:b, s:[{s:s, s:s, s:{s:s}, s:s}]}", "builtin", 0, "lambda", "name", "warranty",
        "description", "Warranty lookup.", "input_schema", "type", "object", "function_arn",
        "arn:aws:lambda:us-east-1:123456789012:function:warranty");
    struct tools *t = tools_new(NULL, section, &e);
    CHECK(t != NULL);
    if (!t) {
        fprintf(stderr, "%s: %s\n", e.code, e.message);
        json_decref(section);
        return;
    }
    fake_http_push(&srv, 200, "Content-Type: application/json\n", "{\"covered\":true}",
                   (size_t)-1, 0);
    json_t *in = json_pack("{s:s}", "serial", "SN1");
    int is_error;
    json_t *r = tools_call(t, &ctx_key, "warranty", in, &is_error, &e);
    CHECK(json_is_true(json_object_get(r, "covered")));
    CHECK_INT(is_error, 0);
    const struct fake_request *q = fake_http_request(&srv, 0);
    if (q) {
        CHECK_STR(q->method, "POST");
        CHECK_STR(q->target, "/2015-03-31/functions/"
                             "arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Awarranty"
                             "/invocations");
        const char *auth = fake_header(q, "Authorization");
        CHECK(auth && strncmp(auth, "AWS4-HMAC-SHA256 Credential=AKIDTESTLAMBDA/", 43) == 0);
        CHECK(auth && strstr(auth, "/us-east-1/lambda/aws4_request, SignedHeaders=") != NULL);
        const char *sig = auth ? strstr(auth, "Signature=") : NULL;
        CHECK(sig && strlen(sig + 10) == 64 && strspn(sig + 10, "0123456789abcdef") == 64);
        CHECK(fake_header(q, "X-Amz-Date") != NULL);
        CHECK_STR(q->body, "{\"serial\":\"SN1\"}");
    }
    json_decref(r);
    /* A function error: 200 with X-Amz-Function-Error is an error result for the model. */
    fake_http_push(&srv, 200, "X-Amz-Function-Error: Unhandled\n",
                   "{\"errorMessage\":\"boom\",\"errorType\":\"Error\"}", (size_t)-1, 0);
    r = tools_call(t, &ctx_key, "warranty", in, &is_error, &e);
    CHECK_INT(is_error, 1);
    json_t *err = json_object_get(r, "error");
    CHECK_STR(json_string_value(json_object_get(err, "functionError")), "Unhandled");
    CHECK_STR(json_string_value(json_object_get(json_object_get(err, "payload"), "errorMessage")),
              "boom");
    CHECK_STR(e.code, "ToolFunctionError");
    json_decref(r);
    json_decref(in);
    tools_free(t);
    json_decref(section);
    unsetenv("AWS_ENDPOINT_URL_LAMBDA");
}

/* ---------------------------------------------------------------- confirm flow */

struct scripted {
    struct model base;
    json_t *replies; /* responses, used in order */
    size_t next;     /* index of the next reply */
    json_t *last_req; /* the last request seen */
};

static json_t *scripted_invoke(struct model *m, const json_t *req, model_delta_fn d, void *ud,
                               struct err *err)
{
    (void)d;
    (void)ud;
    struct scripted *s = (struct scripted *)m;
    json_decref(s->last_req);
    s->last_req = json_deep_copy(req);
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

static struct agent agent;
static struct scripted model;

static json_t *chat(const char *sid, const char *text, struct err *e)
{
    json_t *req = json_pack("{s:s}", "message", text);
    if (sid)
        json_object_set_new(req, "sessionId", json_string(sid));
    json_t *out = turn_run(&agent, req, e);
    json_decref(req);
    return out;
}

/* 1 when the text of the serialized value contains needle. */
static int dump_has(const json_t *v, const char *needle)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    int has = s && strstr(s, needle) != NULL;
    free(s);
    return has;
}

static void test_confirm_flow(void)
{
    reset();
    struct err e;
    err_clear(&e);
    struct config cfg;
    config_load(&cfg, &e);
    char dir[64] = "/tmp/parley-toolhttp-XXXXXX";
    if (!mkdtemp(dir))
        return;
    char path[128];
    snprintf(path, sizeof path, "%s/t.db", dir);
    struct store *store = store_sqlite_new(path, 2, &e);
    struct tools *t = one_tool(
        "{\"name\":\"cancel_order\",\"description\":\"Cancel an order.\",\"input_schema\":{"
        "\"type\":\"object\",\"properties\":{\"order_id\":{\"type\":\"string\"}},\"required\":"
        "[\"order_id\"]},\"url\":\"%s/orders/{order_id}/cancel\",\"confirm\":true}",
        &e);
    CHECK(store && t);
    model.base.ops = &scripted_ops;
    agent = (struct agent){.cfg = &cfg, .store = store, .model = &model.base, .tools = t};
    char asl[700];
    snprintf(asl, sizeof asl, "%s/statemachine/agent.asl.json", src_dir);
    struct workflow_local *wf = workflow_local_new(&agent, asl, &e);
    CHECK(wf != NULL);
    if (!wf || !store || !t)
        goto out;
    workflow_local_attach(wf, &agent);

    /* Turn 1: the model asks for the tool; nothing is called, the customer is asked. */
    model.replies = json_pack("[o]", tool_reply("toolu_A", "cancel_order",
                                                json_pack("{s:s}", "order_id", "1042")));
    model.next = 0;
    json_t *r1 = chat(NULL, "please cancel order 1042", &e);
    CHECK(r1 != NULL);
    const char *sid = json_string_value(json_object_get(r1, "sessionId"));
    char session[80];
    snprintf(session, sizeof session, "%s", sid ? sid : "");
    CHECK_INT(fake_http_count(&srv), 0);
    CHECK_INT(model.next, 1); /* the turn ended with the question, no second model call */
    const char *reply = json_string_value(json_object_get(r1, "reply"));
    CHECK(reply && strstr(reply, "cancel order") && strstr(reply, "\"1042\"") &&
          strstr(reply, "yes"));
    json_t *conf = json_object_get(r1, "confirmation");
    CHECK_STR(json_string_value(json_object_get(conf, "tool")), "cancel_order");
    CHECK_STR(json_string_value(json_object_get(json_object_get(conf, "input"), "order_id")),
              "1042");
    CHECK_STR(json_string_value(json_object_get(conf, "prompt")), reply);
    json_decref(r1);

    /* Turn 2: something else: still pending, still not called. */
    json_decref(model.replies);
    model.replies = json_pack("[o]", text_reply("It is sunny."));
    model.next = 0;
    json_t *r2 = chat(session, "what is the weather?", &e);
    CHECK(r2 && json_object_get(r2, "confirmation") != NULL);
    CHECK_INT(fake_http_count(&srv), 0);
    json_decref(r2);

    /* Turn 3: an explicit yes runs it, with the held action's key, and the model sees it. */
    fake_http_push(&srv, 200, NULL, "{\"cancelled\":true}", (size_t)-1, 0);
    json_decref(model.replies);
    model.replies = json_pack("[o]", text_reply("Done: order 1042 is cancelled."));
    model.next = 0;
    json_t *r3 = chat(session, "Yes, go ahead!", &e);
    CHECK(r3 != NULL);
    CHECK_INT(fake_http_count(&srv), 1);
    const struct fake_request *q = fake_http_request(&srv, 0);
    if (q) {
        CHECK_STR(q->target, "/orders/1042/cancel");
        char key[128];
        snprintf(key, sizeof key, "%s:toolu_A", session);
        CHECK_STR(fake_header(q, "Idempotency-Key"), key);
    }
    CHECK(json_object_get(r3, "confirmation") == NULL);
    json_t *act = json_array_get(json_object_get(r3, "actions"), 0);
    CHECK_STR(json_string_value(json_object_get(act, "status")), "succeeded");
    CHECK(dump_has(json_object_get(model.last_req, "messages"), "cancelled"));
    json_decref(r3);

    /* Turns 4-5: asked again, and a "no" cancels: no call, the model is told. */
    json_decref(model.replies);
    model.replies = json_pack("[o]", tool_reply("toolu_B", "cancel_order",
                                                json_pack("{s:s}", "order_id", "7")));
    model.next = 0;
    json_t *r4 = chat(session, "cancel order 7 too", &e);
    CHECK(r4 && json_object_get(r4, "confirmation") != NULL);
    json_decref(r4);
    json_decref(model.replies);
    model.replies = json_pack("[o]", text_reply("OK, I left order 7 as it is."));
    model.next = 0;
    json_t *r5 = chat(session, "no", &e);
    CHECK(r5 != NULL);
    CHECK_INT(fake_http_count(&srv), 1);
    CHECK(json_object_get(r5, "confirmation") == NULL);
    act = json_array_get(json_object_get(r5, "actions"), 0);
    CHECK_STR(json_string_value(json_object_get(act, "status")), "declined");
    CHECK(dump_has(json_object_get(model.last_req, "messages"), "customer declined"));
    json_decref(r5);

    /* The transcript shows the questions and both answers. */
    json_t *hist = NULL;
    CHECK(store_history_recent(store, session, 20, &hist, &e) == 0);
    CHECK(dump_has(hist, "Before I go ahead"));
    CHECK(dump_has(hist, "toolu_A_confirmed"));
    CHECK(dump_has(hist, "cancelled"));
    CHECK(dump_has(hist, "toolu_B_confirmed"));
    CHECK(dump_has(hist, "customer declined"));
    json_decref(hist);
out:
    json_decref(model.replies);
    json_decref(model.last_req);
    model.replies = model.last_req = NULL;
    workflow_local_free(wf);
    tools_free(t);
    store_free(store);
    config_release(&cfg);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
}

/* ---------------------------------------------------------------- async policy */

/* A store, an AgentActions queue and a tool registry (from a JSON tools section) in a fresh
 * directory, for the queued-action tests. */
struct queued {
    char dir[64];
    struct config cfg;
    struct store *store;
    struct queue *q;
    struct tools *t;
};

/* Returns 0 when everything opened (the checks count a failure), -1 otherwise; either way
 * queued_close() releases what opened. */
static int queued_open(struct queued *qd, const char *tools_json)
{
    struct err e;
    err_clear(&e);
    memset(qd, 0, sizeof *qd);
    config_load(&qd->cfg, &e);
    snprintf(qd->dir, sizeof qd->dir, "/tmp/parley-toolq-XXXXXX");
    if (!mkdtemp(qd->dir)) {
        qd->dir[0] = '\0';
        return -1;
    }
    char path[128], qpath[128];
    snprintf(path, sizeof path, "%s/t.db", qd->dir);
    snprintf(qpath, sizeof qpath, "%s/q.db", qd->dir);
    qd->store = store_sqlite_new(path, 2, &e);
    qd->q = queue_sqlite_new(qpath, NULL, &e);
    json_t *section = json_loads(tools_json, 0, NULL);
    qd->t = tools_new(NULL, section, &e);
    json_decref(section);
    CHECK(qd->store && qd->q && qd->t);
    if (!qd->store || !qd->q || !qd->t)
        return -1;
    CHECK(queue_ensure(qd->q, QUEUE_AGENT_ACTIONS, NULL, &e) == 0);
    return 0;
}

static void queued_close(struct queued *qd)
{
    tools_free(qd->t);
    queue_free(qd->q);
    store_free(qd->store);
    config_release(&qd->cfg);
    if (!qd->dir[0])
        return;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", qd->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", qd->dir);
}

/* The SQS-shaped event the worker takes for one received queue message. */
static json_t *sqs_event_of(const json_t *m)
{
    return json_pack("{s:[{s:O, s:O, s:O}]}", "Records", "messageId",
                     json_object_get(m, "MessageId"), "receiptHandle",
                     json_object_get(m, "ReceiptHandle"), "body", json_object_get(m, "Body"));
}

static void test_async_goes_through_the_queue(void)
{
    reset();
    struct err e;
    err_clear(&e);
    char text[2048];
    snprintf(text, sizeof text,
             "{\"builtin\":false,\"http\":[{\"name\":\"slow_job\",\"description\":\"Slow.\","
             "\"input_schema\":{\"type\":\"object\"},\"url\":\"%s/slow\",\"async\":true},"
             "{\"name\":\"quick\",\"description\":\"Quick.\",\"input_schema\":{\"type\":"
             "\"object\"},\"url\":\"%s/quick\"}]}",
             srv.base_url, srv.base_url);
    struct queued qd;
    if (queued_open(&qd, text) < 0)
        goto out;
    struct store *store = qd.store;
    struct queue *q = qd.q;
    struct agent a = {.cfg = &qd.cfg, .store = store, .model = &model.base, .tools = qd.t,
                      .queue = q, .action_wait_ms = 0};
    agent_init(&a);
    fake_http_push(&srv, 200, NULL, "{\"quick\":1}", (size_t)-1, 0);
    json_t *event = json_pack(
        "{s:s, s:s, s:[{s:s, s:[{s:s, s:s, s:s, s:{}}, {s:s, s:s, s:s, s:{}}]}], s:i, s:i}",
        "sessionId", "s-async", "userId", "u1", "newMessages", "role", "assistant", "content",
        "type", "tool_use", "id", "tu_slow", "name", "slow_job", "input", "type", "tool_use",
        "id", "tu_quick", "name", "quick", "input", "iterations", 0, "maxIterations", 5);
    json_t *out = agent_action_executor(&a, event, &e);
    CHECK(out != NULL);
    json_t *acts = json_object_get(out, "actions");
    CHECK_STR(json_string_value(json_object_get(json_array_get(acts, 0), "status")), "pending");
    CHECK_STR(json_string_value(json_object_get(json_array_get(acts, 1), "status")), "succeeded");
    CHECK_INT(fake_http_count(&srv), 1); /* only the inline one has run */
    const struct fake_request *r = fake_http_request(&srv, 0);
    if (r) {
        CHECK_STR(r->target, "/quick");
        /* session : turn : SHA-256 prefix of the (here absent) message : round.position : tool */
        CHECK_STR(fake_header(r, "Idempotency-Key"), "s-async:t1:e3b0c44298fc1c14:0.1:quick");
    }
    /* The worker takes the queued call and runs it with the same key. */
    json_t *msgs = NULL;
    struct queue_receive_opts opts = {.max_messages = 10};
    CHECK(queue_receive(q, QUEUE_AGENT_ACTIONS, &opts, &msgs, &e) == 0);
    CHECK_INT(json_array_size(msgs), 1);
    json_t *m = json_array_get(msgs, 0);
    json_t *sqs = sqs_event_of(m);
    fake_http_push(&srv, 200, NULL, "{\"slow\":1}", (size_t)-1, 0);
    json_t *res = agent_action_worker(&a, sqs, &e);
    CHECK_INT(json_array_size(json_object_get(res, "batchItemFailures")), 0);
    CHECK_INT(fake_http_count(&srv), 2);
    r = fake_http_request(&srv, 1);
    if (r) {
        CHECK_STR(r->target, "/slow");
        CHECK_STR(fake_header(r, "Idempotency-Key"), "s-async:t1:e3b0c44298fc1c14:0.0:slow_job");
    }
    /* A retried turn (the model answers with new tool-use ids) sends the same key; the same call
     * for another customer message, or at the next turn, does not. */
    json_t *content = json_object_get(json_array_get(json_object_get(event, "newMessages"), 0),
                                      "content");
    json_object_set_new(json_array_get(content, 0), "id", json_string("tu_slow2"));
    json_object_set_new(json_array_get(content, 1), "id", json_string("tu_quick2"));
    static const char *const expect[] = {"s-async:t1:e3b0c44298fc1c14:0.1:quick",
                                         "s-async:t1:5aa762ae383fbb72:0.1:quick",
                                         "s-async:t3:5aa762ae383fbb72:0.1:quick"};
    for (int k = 0; k < 3; k++) {
        if (k == 1)
            json_object_set_new(event, "message", json_string("hello"));
        if (k == 2)
            json_object_set_new(event, "turns", json_integer(2));
        fake_http_push(&srv, 200, NULL, "{\"quick\":1}", (size_t)-1, 0);
        json_t *again = agent_action_executor(&a, event, &e);
        CHECK(again != NULL);
        r = fake_http_request(&srv, (size_t)(2 + k));
        if (r)
            CHECK_STR(fake_header(r, "Idempotency-Key"), expect[k]);
        json_decref(again);
    }
    json_t *rec = NULL;
    CHECK(store_action_get(store, "tu_slow", &rec, &e) == 0);
    CHECK_STR(json_string_value(json_object_get(rec, "status")), "succeeded");
    json_decref(rec);
    json_decref(res);
    json_decref(sqs);
    json_decref(msgs);
    json_decref(out);
    json_decref(event);
    agent_release(&a);
out:
    queued_close(&qd);
}

/* ---------------------------------------------------------------- read-only tools, action waits */

struct exec_call {
    struct agent *a;
    json_t *event;
    json_t *out;         /* ExecuteAction's answer */
    atomic_int returned; /* the call is over */
};

static void *exec_main(void *arg)
{
    struct exec_call *x = arg;
    struct err e;
    err_clear(&e);
    x->out = agent_action_executor(x->a, x->event, &e);
    atomic_store(&x->returned, 1);
    return NULL;
}

/* A read-only built-in runs inline (no queue message); a queued action's waiter is woken by the
 * worker recording its result (the status it returns is the worker's, long before its wait
 * limit of 120 s). */
static void test_read_only_inline_and_action_wait_wakes(void)
{
    reset();
    struct err e;
    err_clear(&e);
    char text[1024];
    snprintf(text, sizeof text,
             "{\"http\":[{\"name\":\"slow_job\",\"description\":\"Slow.\","
             "\"input_schema\":{\"type\":\"object\"},\"url\":\"%s/slow\",\"async\":true}]}",
             srv.base_url);
    struct queued qd;
    if (queued_open(&qd, text) < 0)
        goto out;
    struct tools *t = qd.t;
    struct queue *q = qd.q;
    int confirm = 0, async = 1;
    CHECK_INT(tools_policy(t, "lookup_order", &confirm, &async), 0);
    CHECK_INT(async, 0);
    CHECK_INT(tools_policy(t, "create_support_ticket", &confirm, &async), 0);
    CHECK_INT(async, 1);
    struct agent a = {.cfg = &qd.cfg, .store = qd.store, .model = &model.base, .tools = t,
                      .queue = q, .action_wait_ms = 120000};
    agent_init(&a);
    /* Read-only: answered in the call, nothing queued. */
    json_t *ev1 = json_pack(
        "{s:s, s:s, s:[{s:s, s:[{s:s, s:s, s:s, s:{s:s}}]}], s:i, s:i}", "sessionId", "s-ro",
        "userId", "u1", "newMessages", "role", "assistant", "content", "type", "tool_use", "id",
        "tu_order", "name", "lookup_order", "input", "order_id", "ORD-1", "iterations", 0,
        "maxIterations", 5);
    json_t *out1 = agent_action_executor(&a, ev1, &e);
    CHECK(out1 != NULL);
    const char *st = json_string_value(
        json_object_get(json_array_get(json_object_get(out1, "actions"), 0), "status"));
    CHECK(st && strcmp(st, "pending") != 0);
    json_t *msgs = NULL;
    struct queue_receive_opts opts = {.max_messages = 10};
    CHECK(queue_receive(q, QUEUE_AGENT_ACTIONS, &opts, &msgs, &e) == 0);
    CHECK_INT(json_array_size(msgs), 0);
    json_decref(msgs);
    msgs = NULL;
    /* Queued: the executor waits until the worker below records the result. */
    struct exec_call x = {.a = &a};
    x.event = json_pack("{s:s, s:s, s:[{s:s, s:[{s:s, s:s, s:s, s:{}}]}], s:i, s:i}",
                        "sessionId", "s-wait", "userId", "u1", "newMessages", "role", "assistant",
                        "content", "type", "tool_use", "id", "tu_wait", "name", "slow_job",
                        "input", "iterations", 0, "maxIterations", 5);
    pthread_t th;
    check_require("executor thread", pthread_create(&th, NULL, exec_main, &x) == 0);
    for (int k = 0; k < 3000 && json_array_size(msgs) == 0; k++) {
        json_decref(msgs);
        msgs = NULL;
        if (queue_receive(q, QUEUE_AGENT_ACTIONS, &opts, &msgs, &e) != 0 ||
            json_array_size(msgs) == 0)
            usleep(10000);
    }
    CHECK_INT(json_array_size(msgs), 1);
    CHECK_INT(atomic_load(&x.returned), 0); /* still waiting for the worker */
    json_t *m = json_array_get(msgs, 0);
    json_t *sqs = sqs_event_of(m);
    fake_http_push(&srv, 200, NULL, "{\"slow\":2}", (size_t)-1, 0);
    json_t *res = agent_action_worker(&a, sqs, &e);
    CHECK_INT(json_array_size(json_object_get(res, "batchItemFailures")), 0);
    pthread_join(th, NULL);
    CHECK_STR(json_string_value(
                  json_object_get(json_array_get(json_object_get(x.out, "actions"), 0), "status")),
              "succeeded");
    json_decref(res);
    json_decref(sqs);
    json_decref(msgs);
    json_decref(x.out);
    json_decref(x.event);
    json_decref(out1);
    json_decref(ev1);
    agent_release(&a);
out:
    queued_close(&qd);
}

int main(void)
{
    xmalloc_init();
    snprintf(src_dir, sizeof src_dir, "%s", getenv("PARLEY_SRC") ? getenv("PARLEY_SRC") : ".");
    if (fake_http_start(&srv) < 0)
        return 1;
    RUN(test_post_body_path_and_secret_headers);
    RUN(test_get_sends_query);
    RUN(test_idempotency_key_stable_across_retry);
    RUN(test_signature_verifies);
    RUN(test_errors_are_results_not_crashes);
    RUN(test_turn_deadline);
    RUN(test_missing_url_field_and_bad_entries);
    RUN(test_registry_kinds_and_policy);
    RUN(test_openapi_conversion);
    RUN(test_lambda_invoke);
    RUN(test_confirm_flow);
    RUN(test_async_goes_through_the_queue);
    RUN(test_read_only_inline_and_action_wait_wakes);
    fake_http_stop(&srv);
    return check_summary();
}
