/*
 * test_tool_mcp.c - the registry's "mcp" kind against a real stdio MCP server
 * (tests/fakes/mcp_tools_server.py): every listed tool registered as <server>__<tool> with its
 * schema compiled (an unsupported one skipped), structuredContent preferred over text, isError as
 * an is_error result, a tool the server dropped after list_changed failing cleanly, the per-tool
 * policy map, a server that is down (an error naming it, or nothing when optional), collisions
 * named both ways, a call cut at the turn's deadline; then OpenAPI specs in YAML and the agent
 * file's new MCP keys.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent_file.h"
#include "agent/tool_mcp.h"
#include "agent/tools.h"
#include "base/clock.h"
#include "base/log.h"
#include "check.h"

static char fixture[600];
static char tmpdir[64];

static const char *src(void)
{
    return getenv("PARLEY_SRC") ? getenv("PARLEY_SRC") : ".";
}

/* A tools section with one MCP server named name running the fixture in mode, plus extra keys
 * of the entry (a JSON object text, may be NULL) and extra sections (may be NULL). */
static json_t *section(const char *name, const char *mode, const char *entry_extra,
                       const char *sections_extra)
{
    json_t *e = entry_extra ? json_loads(entry_extra, 0, NULL) : json_object();
    json_object_set_new(e, "name", json_string(name));
    json_object_set_new(e, "command", json_pack("[s, s, s]", "python3", fixture, mode));
    json_t *t = sections_extra ? json_loads(sections_extra, 0, NULL) : json_object();
    json_object_set_new(t, "builtin", json_array());
    json_object_set_new(t, "mcp", json_pack("[o]", e));
    return t;
}

static int offered(const struct tools *t, const char *name)
{
    size_t i;
    json_t *s;
    json_array_foreach(tools_specs(t), i, s) {
        if (strcmp(json_string_value(json_object_get(s, "name")), name) == 0)
            return 1;
    }
    return 0;
}

static void test_tools_registered_and_called(void)
{
    json_t *sec = section("srv", "ok",
                          "{\"async\": true, \"tools\": {\"echo\": {\"confirm\": true, "
                          "\"examples\": [\"say it back to me\"]}, \"ghost\": {}}}",
                          NULL);
    struct err e;
    err_clear(&e);
    struct tools *t = tools_new(NULL, sec, &e);
    json_decref(sec);
    CHECK(t != NULL);
    if (!t) {
        fprintf(stderr, "%s: %s\n", e.code, e.message);
        return;
    }
    CHECK(offered(t, "srv__echo"));
    CHECK(offered(t, "srv__plain"));
    CHECK(offered(t, "srv__fail"));
    CHECK(offered(t, "srv__a_b"));        /* "a.b" sanitised */
    CHECK(!offered(t, "srv__weird"));     /* anyOf: skipped, not a crash */
    CHECK_INT(json_array_size(tools_specs(t)), 5);
    /* The description falls back to a sentence naming the tool and server. */
    json_t *d = tools_describe(t);
    size_t i;
    json_t *x;
    json_array_foreach(d, i, x) {
        CHECK_STR(json_string_value(json_object_get(x, "kind")), "mcp");
        if (strcmp(json_string_value(json_object_get(x, "name")), "srv__a_b") == 0)
            CHECK_STR(json_string_value(json_object_get(x, "description")),
                      "Tool 'a.b' of the 'srv' MCP server.");
    }
    json_decref(d);
    /* Policy: the tools map overrides the server's defaults; examples go to the offline model. */
    int confirm = -1, async = -1;
    CHECK_INT(tools_policy(t, "srv__echo", &confirm, &async), 0);
    CHECK_INT(confirm, 1);
    CHECK_INT(async, 1);
    CHECK_INT(tools_policy(t, "srv__plain", &confirm, &async), 0);
    CHECK_INT(confirm, 0);
    CHECK_INT(async, 1);
    CHECK_INT(json_array_size(tools_examples(t)), 1);
    CHECK_STR(json_string_value(json_object_get(json_array_get(tools_examples(t), 0), "name")),
              "srv__echo");
    /* The server's schema is ours now. */
    json_t *bad = json_pack("{s:i}", "msg", 5);
    CHECK_INT(tools_validate(t, "srv__echo", bad, &e), -1);
    CHECK_STR(e.code, "InvalidInput");
    json_decref(bad);
    /* structuredContent is preferred over the text content. */
    struct tool_ctx ctx = {.session_id = "s1", .user_id = "u1"};
    int is_error = -1;
    json_t *in = json_pack("{s:s}", "msg", "hi");
    json_t *r = tools_call(t, &ctx, "srv__echo", in, &is_error, &e);
    json_decref(in);
    CHECK_INT(is_error, 0);
    CHECK_STR(json_string_value(json_object_get(r, "echo")), "hi");
    CHECK(json_object_get(r, "text") == NULL);
    json_decref(r);
    /* Text content otherwise, other items kept beside it. */
    json_t *empty = json_object();
    r = tools_call(t, &ctx, "srv__plain", empty, &is_error, &e);
    CHECK_INT(is_error, 0);
    CHECK_STR(json_string_value(json_object_get(r, "text")), "plain text");
    CHECK_STR(json_string_value(json_object_get(json_array_get(json_object_get(r, "content"), 0),
                                                "type")),
              "image");
    json_decref(r);
    /* isError: an is_error result the model sees, err set too. */
    err_clear(&e);
    r = tools_call(t, &ctx, "srv__fail", empty, &is_error, &e);
    CHECK_INT(is_error, 1);
    CHECK_STR(e.code, "ToolFailed");
    CHECK_STR(json_string_value(json_object_get(json_object_get(r, "error"), "message")),
              "disk on fire");
    json_decref(r);
    CHECK(tools_run(t, &ctx, "srv__fail", empty, &e) == NULL);
    /* After list_changed the registry keeps the tool; calling it fails cleanly. */
    r = tools_call(t, &ctx, "srv__forget", empty, &is_error, &e);
    CHECK_STR(json_string_value(json_object_get(r, "text")), "forgotten");
    json_decref(r);
    err_clear(&e);
    r = tools_call(t, &ctx, "srv__plain", empty, &is_error, &e);
    CHECK(r == NULL);
    CHECK_STR(e.code, "ToolFailed");
    CHECK(strstr(e.message, "srv__plain") != NULL);
    CHECK(strstr(e.message, "Unknown tool") != NULL);
    json_decref(empty);
    tools_free(t);
}

static void test_server_down(void)
{
    json_t *sec = json_loads("{\"builtin\": [], \"mcp\": [{\"name\": \"inventory\", "
                             "\"command\": [\"/nonexistent/parley-mcp-server\"]}]}",
                             0, NULL);
    struct err e;
    err_clear(&e);
    struct tools *t = tools_new(NULL, sec, &e);
    CHECK(t == NULL);
    CHECK_STR(e.code, "McpUnavailable");
    CHECK(strstr(e.message, "/tools/mcp/0") != NULL);
    CHECK(strstr(e.message, "'inventory'") != NULL);
    CHECK(strstr(e.message, "optional") != NULL);
    json_object_set_new(json_array_get(json_object_get(sec, "mcp"), 0), "optional", json_true());
    err_clear(&e);
    t = tools_new(NULL, sec, &e);
    CHECK(t != NULL);
    CHECK_INT(t ? json_array_size(tools_specs(t)) : 99, 0);
    CHECK_INT(tools_mcp_down(t), 1); /* what `parley serve` retries */
    tools_free(t);
    json_decref(sec);
}

/* The turn's deadline: a tool that never answers is cancelled at it (not at its 30 s timeout),
 * and past it no call is made. */
static void test_turn_deadline(void)
{
    json_t *sec = section("stock", "slow", "{\"timeout_ms\": 30000}", NULL);
    struct err e;
    err_clear(&e);
    struct tools *t = tools_new(NULL, sec, &e);
    CHECK(t != NULL);
    CHECK_INT(tools_mcp_down(t), 0);
    json_t *in = json_object();
    int is_error = 0;
    struct tool_ctx ctx = {.session_id = "s1", .user_id = "u1",
                           .deadline_ms = clock_now_ms() + 300};
    int64_t t0 = clock_mono_ms();
    json_t *r = t ? tools_call(t, &ctx, "stock__slow", in, &is_error, &e) : NULL;
    int64_t took = clock_mono_ms() - t0;
    CHECK(r == NULL);
    CHECK_STR(e.code, "ToolTimeout");
    CHECK(strstr(e.message, "time limit") != NULL);
    CHECK(took >= 250 && took < 5000);
    /* The server still answers the next call (the cancelled one did not wedge it). */
    ctx.deadline_ms = 0;
    json_t *in2 = json_pack("{s:s}", "msg", "hi");
    r = t ? tools_call(t, &ctx, "stock__echo", in2, &is_error, &e) : NULL;
    CHECK(r != NULL && !is_error);
    json_decref(r);
    json_decref(in2);
    ctx.deadline_ms = clock_now_ms() - 1;
    r = t ? tools_call(t, &ctx, "stock__slow", in, &is_error, &e) : NULL;
    CHECK(r == NULL);
    CHECK(strstr(e.message, "not called") != NULL);
    json_decref(in);
    tools_free(t);
    json_decref(sec);
}

static void test_collisions(void)
{
    struct err e;
    err_clear(&e);
    json_t *sec = section("srv", "collide", NULL, NULL);
    struct tools *t = tools_new(NULL, sec, &e);
    json_decref(sec);
    CHECK(t == NULL);
    CHECK_STR(e.code, "DuplicateTool");
    CHECK(strstr(e.message, "tool 'a_b'") != NULL);
    CHECK(strstr(e.message, "(tool 'a.b')") != NULL);
    CHECK(strstr(e.message, "srv__a_b") != NULL);
    /* Against an HTTP tool of the same name. */
    err_clear(&e);
    sec = section("srv", "ok", NULL,
                  "{\"http\": [{\"name\": \"srv__echo\", \"description\": \"d\", "
                  "\"input_schema\": {\"type\": \"object\"}, \"url\": \"http://127.0.0.1:9/x\"}]}");
    t = tools_new(NULL, sec, &e);
    json_decref(sec);
    CHECK(t == NULL);
    CHECK_STR(e.code, "DuplicateTool");
    CHECK(strstr(e.message, "/tools/http/0") != NULL);
    CHECK(strstr(e.message, "MCP server 'srv'") != NULL);
}

static void test_result_mapping(void)
{
    struct err e;
    err_clear(&e);
    int is_error = -1;
    json_t *res = json_loads("{\"content\":[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"text\","
                             "\"text\":\"b\"}],\"isError\":false}",
                             0, NULL);
    json_t *r = tool_mcp_result(res, "x", &is_error, &e);
    CHECK_INT(is_error, 0);
    CHECK_STR(json_string_value(json_object_get(r, "text")), "a\nb");
    CHECK(json_object_get(r, "content") == NULL);
    json_decref(r);
    json_decref(res);
    res = json_loads("{\"content\":[],\"structuredContent\":{\"why\":\"quota\"},\"isError\":true}",
                     0, NULL);
    r = tool_mcp_result(res, "x", &is_error, &e);
    CHECK_INT(is_error, 1);
    CHECK_STR(json_string_value(json_object_get(json_object_get(json_object_get(r, "error"),
                                                                "details"),
                                                "why")),
              "quota");
    json_decref(r);
    json_decref(res);
}

static const char *write_file(const char *name, const char *text)
{
    static char path[200];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

static void test_openapi_yaml(void)
{
    const char *spec = write_file("stock.yaml",
                                  "openapi: 3.0.3\n"
                                  "info: {title: Stock, version: '1'}\n"
                                  "paths:\n"
                                  "  /stock/{sku}:\n"
                                  "    get:\n"
                                  "      operationId: getStock\n"
                                  "      summary: How many of a part are in stock.\n"
                                  "      parameters:\n"
                                  "        - name: sku\n"
                                  "          in: path\n"
                                  "          required: true\n"
                                  "          schema: {$ref: '#/components/schemas/Sku'}\n"
                                  "components:\n"
                                  "  schemas:\n"
                                  "    Sku: {type: string, pattern: '^[A-Z]{2}-[0-9]{3}$'}\n");
    json_t *sec = json_pack("{s:[], s:[{s:s, s:s}]}", "builtin", "openapi", "spec", spec,
                            "base_url", "http://127.0.0.1:9");
    struct err e;
    err_clear(&e);
    struct tools *t = tools_new(NULL, sec, &e);
    json_decref(sec);
    CHECK(t != NULL);
    if (!t)
        fprintf(stderr, "%s: %s\n", e.code, e.message);
    CHECK(t && offered(t, "getStock"));
    json_t *bad = json_pack("{s:s}", "sku", "nope");
    CHECK(t && tools_validate(t, "getStock", bad, &e) == -1);
    json_decref(bad);
    tools_free(t);
    /* Malformed YAML is a config error with its line. */
    spec = write_file("broken.yml", "openapi: 3.0.3\npaths: [unclosed\n");
    sec = json_pack("{s:[], s:[{s:s}]}", "builtin", "openapi", "spec", spec);
    err_clear(&e);
    t = tools_new(NULL, sec, &e);
    json_decref(sec);
    CHECK(t == NULL);
    CHECK_STR(e.code, "ToolConfig");
    CHECK(strstr(e.message, "/tools/openapi/0/spec") != NULL);
    CHECK(strstr(e.message, "line ") != NULL);
    /* The exported converter on its own. */
    err_clear(&e);
    json_t *doc = agent_file_parse_yaml("x.yaml", "a: &v [1, 2]\nb: *v\n", 18, &e);
    CHECK(json_equal(json_object_get(doc, "a"), json_object_get(doc, "b")));
    json_decref(doc);
    CHECK(agent_file_parse_yaml("x.yaml", "a: 1\na: 2\n", 10, &e) == NULL);
    CHECK_STR(e.code, "InvalidYaml");
    CHECK(strstr(e.message, "duplicate key") != NULL);
}

static void test_agent_file_keys(void)
{
    const char *p = write_file("a.yaml",
                               "name: T\ninstructions: x\ntools:\n  mcp:\n"
                               "    - name: parts\n      command: [python3, ./srv.py]\n"
                               "      optional: true\n"
                               "      tools: {find: {confirm: true, examples: [find it]}}\n");
    struct err e;
    err_clear(&e);
    char *problems = NULL;
    struct agent_file *f = agent_file_load_report(p, &problems, &e);
    CHECK(f != NULL);
    if (problems)
        fprintf(stderr, "%s", problems);
    free(problems);
    /* ./ arguments are taken next to the agent file. */
    const json_t *cmd = json_object_get(
        json_array_get(json_object_get(json_object_get(agent_file_doc(f), "tools"), "mcp"), 0),
        "command");
    char want[200];
    snprintf(want, sizeof want, "%s/./srv.py", tmpdir);
    CHECK_STR(json_string_value(json_array_get(cmd, 1)), want);
    CHECK_STR(json_string_value(json_array_get(cmd, 0)), "python3");
    agent_file_free(f);
    p = write_file("b.yaml", "name: T\ninstructions: x\ntools:\n  mcp:\n"
                             "    - name: parts\n      command: [x]\n      optional: yes\n"
                             "      tools: {find: {confirm: maybe, wat: 1}}\n");
    f = agent_file_load_report(p, &problems, &e);
    CHECK(f == NULL);
    CHECK(problems && strstr(problems, "/tools/mcp/0/optional") != NULL);
    CHECK(problems && strstr(problems, "/tools/mcp/0/tools/find/confirm") != NULL);
    CHECK(problems && strstr(problems, "unknown key \"wat\"") != NULL);
    free(problems);
}

int main(void)
{
    log_threshold = LL_ERROR;
    snprintf(fixture, sizeof fixture, "%s/tests/fakes/mcp_tools_server.py", src());
    snprintf(tmpdir, sizeof tmpdir, "/tmp/parley-toolmcp-XXXXXX");
    if (!mkdtemp(tmpdir))
        return 1;
    RUN(test_tools_registered_and_called);
    RUN(test_server_down);
    RUN(test_turn_deadline);
    RUN(test_collisions);
    RUN(test_result_mapping);
    RUN(test_openapi_yaml);
    RUN(test_agent_file_keys);
    char cmd[120];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", tmpdir);
    return check_summary();
}
