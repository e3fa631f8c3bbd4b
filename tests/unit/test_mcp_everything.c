/*
 * test_mcp_everything.c - the MCP client against the reference server
 * @modelcontextprotocol/server-everything: list, echo and get-sum over stdio and Streamable HTTP,
 * and a stdio server killed with SIGKILL restarted on the next call. Driven by
 * tests/scripts/test_mcp_everything.sh, which installs the server and sets
 * PARLEY_MCP_EVERYTHING (its dist/index.js) and PARLEY_MCP_EVERYTHING_URL (a running HTTP
 * instance). Run without them it reports that it is skipped; tests/run.sh leaves it to the script.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/xmalloc.h"
#include "check.h"
#include "mcp/mcp.h"

static const char *index_js;
static const char *http_url;
static char pidfile[256];

static const char *first_text(const json_t *result)
{
    return json_string_value(json_object_get(json_array_get(json_object_get(result, "content"), 0),
                                             "text"));
}

static int has_tool(const json_t *tools, const char *name)
{
    size_t i;
    json_t *t;
    json_array_foreach(tools, i, t) {
        if (strcmp(json_string_value(json_object_get(t, "name")), name) == 0)
            return 1;
    }
    return 0;
}

/* Lists, then calls echo and get-sum; shared by both transports. */
static void exercise(struct mcp_client *c)
{
    struct err err = {0};
    json_t *tools = NULL, *res = NULL;
    CHECK_INT(mcp_list_tools(c, &tools, &err), 0);
    if (err_is_set(&err))
        fprintf(stderr, "list: %s: %s\n", err.code, err.message);
    CHECK(has_tool(tools, "echo"));
    CHECK(has_tool(tools, "get-sum"));
    json_decref(tools);
    json_t *args = json_pack("{s:s}", "message", "hello parley");
    CHECK_INT(mcp_call_tool(c, "echo", args, 10000, &res, &err), 0);
    CHECK_STR(first_text(res), "Echo: hello parley");
    CHECK(json_is_false(json_object_get(res, "isError")));
    json_decref(res);
    res = NULL;
    json_decref(args);
    args = json_pack("{s:i, s:i}", "a", 19, "b", 23);
    CHECK_INT(mcp_call_tool(c, "get-sum", args, 10000, &res, &err), 0);
    CHECK(first_text(res) && strstr(first_text(res), "42") != NULL);
    json_decref(res);
    res = NULL;
    json_decref(args);
    /* A call the server rejects comes back as an error, never a crash. */
    args = json_pack("{s:s}", "a", "not a number");
    int rc = mcp_call_tool(c, "get-sum", args, 10000, &res, &err);
    CHECK(rc == 0 ? json_is_true(json_object_get(res, "isError"))
                  : strcmp(err.code, "McpToolError") == 0);
    json_decref(res);
    json_decref(args);
    CHECK_INT(mcp_ping(c, 5000, &err), 0);
}

static void test_stdio(void)
{
    const char *argv[] = {"node", index_js, "stdio", NULL};
    struct mcp_server_config cfg = {.name = "everything", .argv = argv};
    struct err err = {0};
    struct mcp_client *c = mcp_client_new(&cfg, &err);
    exercise(c);
    CHECK_STR(mcp_client_protocol_version(c), MCP_PROTOCOL_VERSION);
    mcp_client_free(c);
}

static void test_http(void)
{
    struct mcp_server_config cfg = {.name = "everything-http", .url = http_url};
    struct err err = {0};
    struct mcp_client *c = mcp_client_new(&cfg, &err);
    exercise(c);
    mcp_client_free(c);
}

/* Returns 1 once pid has exited (a zombie or gone), waiting at most 10 s. */
static int wait_dead(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    for (int i = 0; i < 1000; i++) {
        FILE *f = fopen(path, "r");
        if (!f)
            return 1;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        const char *rp = strrchr(buf, ')');
        if (rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X'))
            return 1;
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return 0;
}

static void test_killed_server_restarts(void)
{
    char *script = xasprintf("echo $$ > '%s'; exec node '%s' stdio", pidfile, index_js);
    const char *argv[] = {"sh", "-c", script, NULL};
    struct mcp_server_config cfg = {.name = "everything", .argv = argv};
    struct err err = {0};
    struct mcp_client *c = mcp_client_new(&cfg, &err);
    json_t *args = json_pack("{s:s}", "message", "before"), *res = NULL;
    CHECK_INT(mcp_call_tool(c, "echo", args, 10000, &res, &err), 0);
    json_decref(res);
    res = NULL;
    FILE *f = fopen(pidfile, "r");
    int pid = 0;
    CHECK(f != NULL);
    if (f) {
        CHECK_INT(fscanf(f, "%d", &pid), 1);
        fclose(f);
    }
    CHECK(pid > 0);
    if (pid > 0) {
        CHECK_INT(kill(pid, SIGKILL), 0);
        CHECK(wait_dead(pid));
    }
    json_decref(args);
    args = json_pack("{s:s}", "message", "after");
    /* node's other threads may still be exiting when its main thread shows as a zombie, so the
     * first call can still reach the dying process and fail with McpUnavailable; the call after
     * that must find it gone and restart it. */
    int rc = mcp_call_tool(c, "echo", args, 15000, &res, &err);
    if (rc != 0) {
        CHECK_STR(err.code, "McpUnavailable");
        rc = mcp_call_tool(c, "echo", args, 15000, &res, &err);
    }
    CHECK_INT(rc, 0);
    if (rc != 0)
        fprintf(stderr, "after restart: %s: %s\n", err.code, err.message);
    CHECK_STR(first_text(res), "Echo: after");
    CHECK_INT(mcp_client_starts(c), 2);
    json_decref(res);
    json_decref(args);
    mcp_client_free(c);
    free(script);
    unlink(pidfile);
}

int main(void)
{
    xmalloc_init();
    index_js = getenv("PARLEY_MCP_EVERYTHING");
    http_url = getenv("PARLEY_MCP_EVERYTHING_URL");
    if (!index_js || !*index_js) {
        printf("# skipped: PARLEY_MCP_EVERYTHING is not set (tests/scripts/test_mcp_everything.sh "
               "runs this)\n");
        return check_summary();
    }
    snprintf(pidfile, sizeof pidfile, "%s/parley-mcp-everything.%d.pid",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
    RUN(test_stdio);
    RUN(test_killed_server_restarts);
    if (http_url && *http_url)
        RUN(test_http);
    else
        check_record("test_http (PARLEY_MCP_EVERYTHING_URL is not set)", 0);
    return check_summary();
}
