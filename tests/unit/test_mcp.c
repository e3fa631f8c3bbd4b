/*
 * test_mcp.c - the MCP client against a scripted stdio peer (tests/mcp/scripted_server.py, one
 * misbehaviour per mode) and a scripted HTTP server (tests/fakes/fake_http.h): lifecycle and
 * version negotiation, pagination, list_changed, isError, JSON-RPC errors, malformed replies,
 * wrong ids, the size cap, timeouts with cancellation, crash and restart, concurrent calls, the
 * SSE parser, Streamable HTTP sessions and resumption, and the public tool names.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/sched.h"
#include "base/xmalloc.h"
#include "check.h"
#include "fakes/fake_http.h"
#include "mcp/mcp.h"
#include "mcp/mcp_int.h"

static char script[1024];

/* A client for the scripted stdio server in mode. */
static struct mcp_client *scripted(const char *mode, size_t cap, struct err *err)
{
    const char *argv[] = {"python3", script, mode, NULL};
    struct mcp_server_config cfg = {.name = "scripted", .argv = argv, .init_timeout_ms = 10000,
                                    .call_timeout_ms = 10000, .max_message_bytes = cap};
    return mcp_client_new(&cfg, err);
}

static const char *first_text(const json_t *result)
{
    return json_string_value(json_object_get(json_array_get(json_object_get(result, "content"), 0),
                                             "text"));
}

/* ---- Lifecycle, pagination, results -------------------------------------------------------- */

static void test_list_pages_merged(void)
{
    struct err err = {0};
    struct mcp_client *c = scripted("ok", 0, &err);
    CHECK(c != NULL);
    json_t *tools = NULL;
    CHECK_INT(mcp_list_tools(c, &tools, &err), 0);
    CHECK_INT(json_array_size(tools), 3);
    CHECK_STR(json_string_value(json_object_get(json_array_get(tools, 0), "name")), "add");
    CHECK_STR(json_string_value(json_object_get(json_array_get(tools, 2), "name")), "slow");
    CHECK(json_is_object(json_object_get(json_array_get(tools, 1), "inputSchema")));
    CHECK_STR(mcp_client_protocol_version(c), MCP_PROTOCOL_VERSION);
    json_decref(tools);
    mcp_client_free(c);
}

static void test_call_structured_and_is_error(void)
{
    struct err err = {0};
    struct mcp_client *c = scripted("ok", 0, &err);
    json_t *args = json_pack("{s:i, s:i}", "a", 2, "b", 40), *res = NULL;
    CHECK_INT(mcp_call_tool(c, "add", args, 0, &res, &err), 0);
    CHECK_STR(first_text(res), "42");
    CHECK_INT(json_integer_value(json_object_get(json_object_get(res, "structuredContent"), "sum")),
              42);
    CHECK(json_is_false(json_object_get(res, "isError")));
    json_decref(res);
    res = NULL;
    CHECK_INT(mcp_call_tool(c, "fail", NULL, 0, &res, &err), 0);
    CHECK(json_is_true(json_object_get(res, "isError")));
    CHECK_STR(first_text(res), "it broke");
    json_decref(res);
    res = NULL;
    CHECK_INT(mcp_call_tool(c, "nope", NULL, 0, &res, &err), -1);
    CHECK_STR(err.code, "McpToolError");
    CHECK(strstr(err.message, "Unknown tool: nope") != NULL);
    CHECK(strstr(err.message, "scripted") != NULL);
    CHECK(res == NULL);
    CHECK_INT(mcp_ping(c, 5000, &err), 0);
    json_decref(args);
    mcp_client_free(c);
}

static void test_server_ping_answered(void)
{
    struct err err = {0};
    struct mcp_client *c = scripted("ok", 0, &err);
    json_t *res = NULL;
    CHECK_INT(mcp_call_tool(c, "pingme", NULL, 0, &res, &err), 0);
    CHECK_STR(first_text(res), "pong-ok");
    json_decref(res);
    mcp_client_free(c);
}

static void test_list_changed_refreshes_cache(void)
{
    struct err err = {0};
    struct mcp_client *c = scripted("ok", 0, &err);
    json_t *tools = NULL, *res = NULL;
    CHECK_INT(mcp_list_tools(c, &tools, &err), 0);
    CHECK_INT(json_array_size(tools), 3);
    json_decref(tools);
    /* The reply to "change" follows the notification on the same pipe, so the notification has
     * been applied by the time the call returns. */
    CHECK_INT(mcp_call_tool(c, "change", NULL, 0, &res, &err), 0);
    json_decref(res);
    CHECK_INT(mcp_list_tools(c, &tools, &err), 0);
    CHECK_INT(json_array_size(tools), 4);
    CHECK_STR(json_string_value(json_object_get(json_array_get(tools, 3), "name")), "added-later");
    json_decref(tools);
    mcp_client_free(c);
}

static void test_version_negotiation(void)
{
    struct err err = {0};
    struct mcp_client *c = scripted("oldversion", 0, &err);
    json_t *tools = NULL;
    CHECK_INT(mcp_list_tools(c, &tools, &err), 0);
    CHECK_STR(mcp_client_protocol_version(c), "2025-06-18");
    json_decref(tools);
    mcp_client_free(c);
    c = scripted("badversion", 0, &err);
    tools = NULL;
    CHECK_INT(mcp_list_tools(c, &tools, &err), -1);
    CHECK_STR(err.code, "McpVersion");
    CHECK(strstr(err.message, "2024-11-05") != NULL);
    CHECK(tools == NULL);
    mcp_client_free(c);
}

/* ---- Malformed replies ---------------------------------------------------------------------- */

static void expect_call_error(const char *mode, size_t cap, const char *code, const char *needle)
{
    struct err err = {0};
    struct mcp_client *c = scripted(mode, cap, &err);
    json_t *res = NULL;
    CHECK_INT(mcp_call_tool(c, "add", NULL, 0, &res, &err), -1);
    CHECK_STR(err.code, code);
    if (!strstr(err.message, needle))
        fprintf(stderr, "mode %s: message '%s' lacks '%s'\n", mode, err.message, needle);
    CHECK(strstr(err.message, needle) != NULL);
    CHECK(res == NULL);
    /* The server still answers well-formed requests afterwards. */
    CHECK_INT(mcp_ping(c, 5000, &err), 0);
    mcp_client_free(c);
}

static void test_bad_json(void)
{
    expect_call_error("badjson", 0, "McpProtocol", "invalid JSON");
}

static void test_wrong_id(void)
{
    expect_call_error("wrongid", 0, "McpProtocol", "no request is waiting");
}

static void test_missing_content(void)
{
    expect_call_error("nocontent", 0, "McpProtocol", "no content array");
}

static void test_not_jsonrpc(void)
{
    expect_call_error("notjsonrpc", 0, "McpProtocol", "not JSON-RPC 2.0");
}

static void test_oversize(void)
{
    expect_call_error("huge", 65536, "McpProtocol", "over 65536 bytes");
}

/* ---- Timeouts, cancellation, crashes, concurrency ------------------------------------------ */

static void test_timeout_sends_cancelled(void)
{
    struct err err = {0};
    struct mcp_client *c = scripted("ok", 0, &err);
    json_t *res = NULL;
    CHECK_INT(mcp_ping(c, 5000, &err), 0);
    CHECK_INT(mcp_call_tool(c, "slow", NULL, 300, &res, &err), -1);
    CHECK_STR(err.code, "McpTimeout");
    CHECK(res == NULL);
    /* The late reply to "slow" is dropped quietly; the server reports the cancellation. */
    CHECK_INT(mcp_call_tool(c, "cancelled", NULL, 10000, &res, &err), 0);
    const char *t = first_text(res);
    CHECK(t != NULL && t[0] >= '1' && t[0] <= '9');
    json_decref(res);
    mcp_client_free(c);
}

/* An MCP call inside a scheduler task parks: on ONE scheduler thread, a task submitted after a
 * call to the slow tool runs to its end while that call is still waiting for its reply. */
struct parked_call {
    struct mcp_client *c;
    atomic_int call_done; /* the slow call returned */
    int rc;               /* what it returned */
    char code[128];       /* its error code */
    int other_first;      /* the second task finished while the call was still waiting */
};

static void slow_call_task(void *ud)
{
    struct parked_call *pc = ud;
    struct err err = {0};
    json_t *res = NULL;
    pc->rc = mcp_call_tool(pc->c, "slow", NULL, 1500, &res, &err);
    snprintf(pc->code, sizeof pc->code, "%s", err.code);
    json_decref(res);
    atomic_store(&pc->call_done, 1);
}

static void other_task(void *ud)
{
    struct parked_call *pc = ud;
    sched_sleep_ms(50);
    pc->other_first = !atomic_load(&pc->call_done);
}

static void test_call_parks_inside_a_task(void)
{
    struct err err = {0};
    struct parked_call pc = {.c = scripted("ok", 0, &err)};
    CHECK_INT(mcp_ping(pc.c, 5000, &err), 0);
    struct sched *s = sched_start(1, 0, &err);
    CHECK_INT(sched_submit(s, slow_call_task, &pc), 0);
    CHECK_INT(sched_submit(s, other_task, &pc), 0);
    CHECK_INT(sched_stop(s, 60000), 0);
    CHECK_INT(pc.rc, -1);
    CHECK_STR(pc.code, "McpTimeout");
    CHECK_INT(pc.other_first, 1);
    mcp_client_free(pc.c);
}

static void test_crash_restarts(void)
{
    struct err err = {0};
    struct mcp_client *c = scripted("ok", 0, &err);
    json_t *res = NULL;
    CHECK_INT(mcp_ping(c, 5000, &err), 0);
    CHECK_INT(mcp_client_starts(c), 1);
    CHECK_INT(mcp_call_tool(c, "die", NULL, 5000, &res, &err), -1);
    CHECK_STR(err.code, "McpUnavailable");
    CHECK(strstr(err.message, "scripted") != NULL);
    json_t *args = json_pack("{s:i, s:i}", "a", 1, "b", 1);
    CHECK_INT(mcp_call_tool(c, "add", args, 5000, &res, &err), 0);
    CHECK_STR(first_text(res), "2");
    CHECK_INT(mcp_client_starts(c), 2);
    json_decref(res);
    json_decref(args);
    mcp_client_free(c);
}

static void test_command_missing(void)
{
    const char *argv[] = {"/nonexistent/mcp-server", NULL};
    struct mcp_server_config cfg = {.name = "ghost", .argv = argv, .init_timeout_ms = 2000};
    struct err err = {0};
    struct mcp_client *c = mcp_client_new(&cfg, &err);
    json_t *tools = NULL;
    CHECK_INT(mcp_list_tools(c, &tools, &err), -1);
    CHECK_STR(err.code, "McpUnavailable");
    CHECK(strstr(err.message, "ghost") != NULL);
    mcp_client_free(c);
}

struct worker {
    struct mcp_client *c;
    int a;
    int ok;
};

static void *call_add(void *ud)
{
    struct worker *w = ud;
    struct err err = {0};
    json_t *args = json_pack("{s:i, s:i}", "a", w->a, "b", 1000), *res = NULL;
    w->ok = 1;
    for (int i = 0; i < 20; i++) {
        if (mcp_call_tool(w->c, "add", args, 10000, &res, &err) != 0) {
            w->ok = 0;
            break;
        }
        json_int_t sum = json_integer_value(
            json_object_get(json_object_get(res, "structuredContent"), "sum"));
        w->ok &= sum == w->a + 1000;
        json_decref(res);
        res = NULL;
    }
    json_decref(args);
    return NULL;
}

static void test_concurrent_calls_matched_by_id(void)
{
    struct err err = {0};
    struct mcp_client *c = scripted("ok", 0, &err);
    pthread_t th[4];
    struct worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){c, i * 7, 0};
        pthread_create(&th[i], NULL, call_add, &w[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK(w[i].ok);
    }
    CHECK_INT(mcp_client_starts(c), 1);
    mcp_client_free(c);
}

/* ---- Configuration and names ---------------------------------------------------------------- */

static void test_from_json(void)
{
    struct err err = {0};
    json_t *e = json_pack("{s:s, s:[s, s, s], s:{s:s}}", "name", "scripted", "command", "python3",
                          script, "ok", "env", "MCP_TEST", "1");
    struct mcp_client *c = mcp_client_from_json(e, &err);
    CHECK(c != NULL);
    CHECK_STR(mcp_client_name(c), "scripted");
    CHECK_INT(mcp_ping(c, 5000, &err), 0);
    mcp_client_free(c);
    json_decref(e);
    e = json_pack("{s:s, s:s, s:[s]}", "name", "both", "url", "http://127.0.0.1:1/mcp", "command",
                  "x");
    CHECK(mcp_client_from_json(e, &err) == NULL);
    CHECK_STR(err.code, "McpConfig");
    json_decref(e);
    e = json_pack("{s:s, s:s, s:{s:i}}", "name", "h", "url", "http://127.0.0.1:1/mcp", "headers",
                  "X-Key", 5);
    CHECK(mcp_client_from_json(e, &err) == NULL);
    CHECK(strstr(err.message, "X-Key") != NULL);
    json_decref(e);
    e = json_pack("{s:s}", "name", "none");
    CHECK(mcp_client_from_json(e, &err) == NULL);
    CHECK_STR(err.code, "McpConfig");
    json_decref(e);
}

static void test_public_names(void)
{
    char *n = mcp_tool_public_name("files", "read_file");
    CHECK_STR(n, "files__read_file");
    free(n);
    n = mcp_tool_public_name("my server", "get.sum/v2");
    CHECK_STR(n, "my_server__get_sum_v2");
    free(n);
    n = mcp_tool_public_name("everything", "get-sum");
    CHECK_STR(n, "everything__get-sum");
    free(n);
    char long_tool[100];
    memset(long_tool, 'x', sizeof long_tool - 1);
    long_tool[sizeof long_tool - 1] = '\0';
    char *a = mcp_tool_public_name("srv", long_tool);
    long_tool[98] = 'y';
    char *b = mcp_tool_public_name("srv", long_tool);
    CHECK_INT(strlen(a), 64);
    CHECK_INT(strlen(b), 64);
    CHECK(strcmp(a, b) != 0);
    CHECK(strncmp(a, "srv__xxx", 8) == 0);
    for (const char *p = a; *p; p++)
        CHECK((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_');
    free(a);
    free(b);
    n = mcp_tool_public_name("", "");
    CHECK(strlen(n) > 0);
    free(n);
}

/* ---- SSE parser ----------------------------------------------------------------------------- */

struct events {
    char got[8][256];
    int n;
};

static int collect(void *ud, const char *event, const char *data, size_t len)
{
    struct events *e = ud;
    if (e->n < 8)
        snprintf(e->got[e->n++], sizeof e->got[0], "%s|%.*s", event, (int)len, data);
    return 0;
}

static void test_sse_parser(void)
{
    struct events ev = {0};
    struct mcp__sse p;
    struct err err = {0};
    mcp__sse_init(&p, 1024, collect, &ev);
    /* Split across chunks anywhere, CRLF and CR endings, comments, a priming event, multi-line
     * data, retry and id. */
    const char *stream = ": keep-alive\r\nid: e1\r\nretry: 250\r\ndata: \r\n\r\n"
                         "event: message\ndata: {\"a\":\ndata: 1}\nid: e2\n\n"
                         "data:x\r\rdata: y\n\n";
    size_t len = strlen(stream);
    for (size_t i = 0; i < len; i += 3)
        CHECK_INT(mcp__sse_feed(&p, stream + i, len - i < 3 ? len - i : 3, &err), 0);
    CHECK_INT(ev.n, 3);
    CHECK_STR(ev.got[0], "message|{\"a\":\n1}");
    CHECK_STR(ev.got[1], "|x");
    CHECK_STR(ev.got[2], "|y");
    CHECK_STR(p.last_id, "e2");
    CHECK_INT(p.retry_ms, 250);
    /* An event over the cap is a named error, not a truncation. */
    char big[1100];
    memset(big, 'z', sizeof big);
    CHECK_INT(mcp__sse_feed(&p, "data: ", 6, &err), 0);
    CHECK_INT(mcp__sse_feed(&p, big, sizeof big, &err), -1);
    CHECK_STR(err.code, "McpProtocol");
    mcp__sse_release(&p);
}

/* ---- Streamable HTTP ------------------------------------------------------------------------ */

static const char *init_reply =
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"protocolVersion\":\"2025-11-25\","
    "\"capabilities\":{\"tools\":{}},\"serverInfo\":{\"name\":\"fake\",\"version\":\"1\"}}}";

static struct mcp_client *http_client_for(struct fake_http *f)
{
    char url[128];
    snprintf(url, sizeof url, "%s/mcp", f->base_url);
    const char *headers[] = {"Authorization: Bearer t0k", NULL};
    struct mcp_server_config cfg = {.name = "web", .url = url, .headers = headers,
                                    .call_timeout_ms = 5000};
    struct err err = {0};
    return mcp_client_new(&cfg, &err);
}

static void test_http_json_and_sse_session(void)
{
    struct fake_http f;
    CHECK_INT(fake_http_start(&f), 0);
    fake_http_push(&f, 200, "Content-Type: application/json\nMcp-Session-Id: sess-7\n", init_reply,
                   (size_t)-1, 0);
    fake_http_push(&f, 202, NULL, "", 0, 0);
    fake_http_push(&f, 200, "Content-Type: text/event-stream\n",
                   "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\","
                   "\"params\":{\"level\":\"info\",\"data\":\"hi\"}}\n\n"
                   "id: 1\ndata: {\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"content\":"
                   "[{\"type\":\"text\",\"text\":\"sse ok\"}]}}\n\n",
                   (size_t)-1, 0);
    struct mcp_client *c = http_client_for(&f);
    struct err err = {0};
    json_t *res = NULL;
    CHECK_INT(mcp_call_tool(c, "t", NULL, 0, &res, &err), 0);
    CHECK_STR(first_text(res), "sse ok");
    json_decref(res);
    CHECK_INT(fake_http_count(&f), 3);
    const struct fake_request *r0 = fake_http_request(&f, 0), *r2 = fake_http_request(&f, 2);
    CHECK_STR(r0->method, "POST");
    CHECK(strstr(fake_header(r0, "Accept"), "text/event-stream") != NULL);
    CHECK(strstr(fake_header(r0, "Accept"), "application/json") != NULL);
    CHECK(fake_header(r0, "Mcp-Session-Id") == NULL);
    CHECK_STR(fake_header(r0, "Authorization"), "Bearer t0k");
    CHECK(strstr(fake_http_request(&f, 1)->body, "notifications/initialized") != NULL);
    CHECK_STR(fake_header(r2, "Mcp-Session-Id"), "sess-7");
    CHECK_STR(fake_header(r2, "MCP-Protocol-Version"), "2025-11-25");
    mcp_client_free(c);
    fake_http_stop(&f);
}

static void test_http_server_ping_mid_stream(void)
{
    struct fake_http f;
    CHECK_INT(fake_http_start(&f), 0);
    fake_http_push(&f, 200, "Content-Type: application/json\n", init_reply, (size_t)-1, 0);
    fake_http_push(&f, 202, NULL, "", 0, 0);
    fake_http_push(&f, 200, "Content-Type: text/event-stream\n",
                   "data: {\"jsonrpc\":\"2.0\",\"id\":\"srv-9\",\"method\":\"ping\"}\n\n"
                   "data: {\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"content\":[]}}\n\n",
                   (size_t)-1, 0);
    fake_http_push(&f, 202, NULL, "", 0, 0);
    struct mcp_client *c = http_client_for(&f);
    struct err err = {0};
    json_t *res = NULL;
    CHECK_INT(mcp_call_tool(c, "t", NULL, 0, &res, &err), 0);
    json_decref(res);
    CHECK_INT(fake_http_count(&f), 4);
    json_t *answer = json_loads(fake_http_request(&f, 3)->body, 0, NULL);
    CHECK_STR(json_string_value(json_object_get(answer, "id")), "srv-9");
    CHECK(json_is_object(json_object_get(answer, "result")));
    json_decref(answer);
    mcp_client_free(c);
    fake_http_stop(&f);
}

static void test_http_resume_after_break(void)
{
    struct fake_http f;
    CHECK_INT(fake_http_start(&f), 0);
    fake_http_push(&f, 200, "Content-Type: application/json\nMcp-Session-Id: s1\n", init_reply,
                   (size_t)-1, 0);
    fake_http_push(&f, 202, NULL, "", 0, 0);
    /* The stream ends after the priming event: the client must wait retry ms and GET. */
    fake_http_push(&f, 200, "Content-Type: text/event-stream\n", "id: ev-1\nretry: 120\ndata:\n\n",
                   (size_t)-1, 0);
    fake_http_push(&f, 200, "Content-Type: text/event-stream\n",
                   "id: ev-2\ndata: {\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"content\":[],"
                   "\"isError\":true}}\n\n",
                   (size_t)-1, 0);
    struct mcp_client *c = http_client_for(&f);
    struct err err = {0};
    json_t *res = NULL;
    CHECK_INT(mcp_call_tool(c, "t", NULL, 0, &res, &err), 0);
    CHECK(json_is_true(json_object_get(res, "isError")));
    json_decref(res);
    CHECK_INT(fake_http_count(&f), 4);
    const struct fake_request *g = fake_http_request(&f, 3);
    CHECK_STR(g->method, "GET");
    CHECK_STR(fake_header(g, "Last-Event-ID"), "ev-1");
    CHECK_STR(fake_header(g, "Mcp-Session-Id"), "s1");
    CHECK(strstr(fake_header(g, "Accept"), "text/event-stream") != NULL);
    mcp_client_free(c);
    fake_http_stop(&f);
}

static void test_http_session_gone_reinitializes(void)
{
    struct fake_http f;
    CHECK_INT(fake_http_start(&f), 0);
    fake_http_push(&f, 200, "Content-Type: application/json\nMcp-Session-Id: old\n", init_reply,
                   (size_t)-1, 0);
    fake_http_push(&f, 202, NULL, "", 0, 0);
    fake_http_push(&f, 404, NULL, "no such session", (size_t)-1, 0);
    fake_http_push(&f, 200, "Content-Type: application/json\nMcp-Session-Id: new\n",
                   "{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{\"protocolVersion\":\"2025-06-18\","
                   "\"capabilities\":{},\"serverInfo\":{\"name\":\"fake\"}}}",
                   (size_t)-1, 0);
    fake_http_push(&f, 202, NULL, "", 0, 0);
    fake_http_push(&f, 200, "Content-Type: application/json\n",
                   "{\"jsonrpc\":\"2.0\",\"id\":4,\"result\":{}}", (size_t)-1, 0);
    struct mcp_client *c = http_client_for(&f);
    struct err err = {0};
    CHECK_INT(mcp_ping(c, 0, &err), 0);
    CHECK_INT(fake_http_count(&f), 6);
    CHECK(fake_header(fake_http_request(&f, 3), "Mcp-Session-Id") == NULL);
    CHECK_STR(fake_header(fake_http_request(&f, 5), "Mcp-Session-Id"), "new");
    CHECK_STR(fake_header(fake_http_request(&f, 5), "MCP-Protocol-Version"), "2025-06-18");
    CHECK_STR(mcp_client_protocol_version(c), "2025-06-18");
    mcp_client_free(c);
    fake_http_stop(&f);
}

static void test_http_timeout_sends_cancelled(void)
{
    struct fake_http f;
    CHECK_INT(fake_http_start(&f), 0);
    fake_http_push(&f, 200, "Content-Type: application/json\n", init_reply, (size_t)-1, 0);
    fake_http_push(&f, 202, NULL, "", 0, 0);
    fake_http_push(&f, 200, "Content-Type: application/json\n",
                   "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"content\":[]}}", (size_t)-1, 900);
    fake_http_push(&f, 202, NULL, "", 0, 0);
    struct mcp_client *c = http_client_for(&f);
    struct err err = {0};
    json_t *res = NULL;
    CHECK_INT(mcp_call_tool(c, "slow", NULL, 400, &res, &err), -1);
    CHECK_STR(err.code, "McpTimeout");
    CHECK(res == NULL);
    CHECK_INT(fake_http_count(&f), 4);
    json_t *n = json_loads(fake_http_request(&f, 3)->body, 0, NULL);
    CHECK_STR(json_string_value(json_object_get(n, "method")), "notifications/cancelled");
    CHECK_INT(json_integer_value(json_object_get(json_object_get(n, "params"), "requestId")), 2);
    json_decref(n);
    mcp_client_free(c);
    fake_http_stop(&f);
}

static void test_http_errors(void)
{
    struct fake_http f;
    CHECK_INT(fake_http_start(&f), 0);
    fake_http_push(&f, 200, "Content-Type: application/json\n", "{not json", (size_t)-1, 0);
    fake_http_push(&f, 500, NULL, "boom", (size_t)-1, 0);
    fake_http_push(&f, 200, "Content-Type: application/json\n", init_reply, (size_t)-1, 800);
    struct mcp_client *c = http_client_for(&f);
    struct err err = {0};
    json_t *tools = NULL;
    CHECK_INT(mcp_list_tools(c, &tools, &err), -1);
    CHECK_STR(err.code, "McpProtocol");
    CHECK(strstr(err.message, "invalid JSON") != NULL);
    CHECK_INT(mcp_list_tools(c, &tools, &err), -1);
    CHECK_STR(err.code, "McpUnavailable");
    CHECK(strstr(err.message, "HTTP 500") != NULL);
    CHECK_INT(mcp_ping(c, 300, &err), -1);
    CHECK_STR(err.code, "McpTimeout");
    mcp_client_free(c);
    fake_http_stop(&f);
}

int main(void)
{
    xmalloc_init();
    const char *src = getenv("PARLEY_SRC");
    snprintf(script, sizeof script, "%s/tests/mcp/scripted_server.py", src ? src : ".");
    RUN(test_list_pages_merged);
    RUN(test_call_structured_and_is_error);
    RUN(test_server_ping_answered);
    RUN(test_list_changed_refreshes_cache);
    RUN(test_version_negotiation);
    RUN(test_bad_json);
    RUN(test_wrong_id);
    RUN(test_missing_content);
    RUN(test_not_jsonrpc);
    RUN(test_oversize);
    RUN(test_timeout_sends_cancelled);
    RUN(test_crash_restarts);
    RUN(test_command_missing);
    RUN(test_concurrent_calls_matched_by_id);
    RUN(test_call_parks_inside_a_task);
    RUN(test_from_json);
    RUN(test_public_names);
    RUN(test_sse_parser);
    RUN(test_http_json_and_sse_session);
    RUN(test_http_server_ping_mid_stream);
    RUN(test_http_resume_after_break);
    RUN(test_http_session_gone_reinitializes);
    RUN(test_http_timeout_sends_cancelled);
    RUN(test_http_errors);
    return check_summary();
}
