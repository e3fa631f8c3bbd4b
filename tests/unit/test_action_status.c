/*
 * test_action_status.c - the get_action_status tool: the agent offers it, it reports a queued
 * action's status and result to the customer the action belongs to, and to nobody else (another
 * customer's action is "not found", exactly like an unknown id), and its input is validated.
 */
#include <stdlib.h>
#include <string.h>

#include "agent/tools.h"
#include "base/xmalloc.h"
#include "check.h"
#include "store/store.h"

static struct store *st;
static struct tools *tools;

static json_t *status_of(const char *user, const char *action_id, struct err *e)
{
    struct tool_ctx ctx = {.store = st, .session_id = "s-1", .user_id = user};
    json_t *in = json_pack("{s:s}", "action_id", action_id);
    err_clear(e);
    json_t *out = tools_run(tools, &ctx, "get_action_status", in, e);
    json_decref(in);
    return out;
}

static void put_action(const char *id, const char *user, const char *status, json_t *result)
{
    json_t *a = json_pack("{s:s, s:s, s:s, s:s, s:{s:s}, s:s}", "id", id, "sessionId", "s-1",
                          "userId", user, "tool", "create_support_ticket", "input", "email",
                          "jane.doe@example.com", "status", status);
    if (result)
        json_object_set_new(a, "result", result);
    struct err e;
    CHECK(store_action_put(st, a, &e) == 0);
    json_decref(a);
}

static void test_offered_to_the_model(void)
{
    const json_t *specs = tools_specs(tools);
    int found = 0;
    size_t i;
    const json_t *s;
    json_array_foreach(specs, i, s) {
        if (strcmp(json_string_value(json_object_get(s, "name")), "get_action_status") == 0) {
            found = 1;
            const json_t *schema = json_object_get(s, "input_schema");
            CHECK_STR(json_string_value(json_array_get(json_object_get(schema, "required"), 0)),
                      "action_id");
        }
    }
    CHECK(found);
}

static void test_pending_then_succeeded(void)
{
    struct err e;
    put_action("act-1", "guest:s-1", "pending", NULL);
    json_t *out = status_of("guest:s-1", "act-1", &e);
    CHECK(out != NULL);
    CHECK_STR(json_string_value(json_object_get(out, "actionId")), "act-1");
    CHECK_STR(json_string_value(json_object_get(out, "tool")), "create_support_ticket");
    CHECK_STR(json_string_value(json_object_get(out, "status")), "pending");
    json_decref(out);

    /* The worker finished it: a later turn sees the result. */
    put_action("act-1", "guest:s-1", "succeeded", json_pack("{s:s}", "ticketId", "TKT-000042"));
    out = status_of("guest:s-1", "act-1", &e);
    CHECK(out != NULL);
    CHECK_STR(json_string_value(json_object_get(out, "status")), "succeeded");
    CHECK_STR(json_string_value(json_object_get(json_object_get(out, "result"), "ticketId")),
              "TKT-000042");
    json_decref(out);
}

static void test_failed_action_reports_its_error(void)
{
    struct err e;
    put_action("act-2", "guest:s-1", "failed",
               json_pack("{s:{s:s, s:s}}", "error", "code", "ToolFailed", "message", "no luck"));
    json_t *out = status_of("guest:s-1", "act-2", &e);
    CHECK_STR(json_string_value(json_object_get(out, "status")), "failed");
    CHECK_STR(json_string_value(
                  json_object_get(json_object_get(json_object_get(out, "result"), "error"), "code")),
              "ToolFailed");
    json_decref(out);
}

static void test_other_customer_and_unknown_are_not_found(void)
{
    struct err e;
    put_action("act-3", "alice", "succeeded", json_pack("{s:s}", "ticketId", "TKT-000043"));
    json_t *out = status_of("mallory", "act-3", &e);
    CHECK(out == NULL);
    CHECK_STR(e.code, "NotFound");
    char foreign[sizeof e.message];
    snprintf(foreign, sizeof foreign, "%s", e.message);
    CHECK(strstr(foreign, "TKT-000043") == NULL); /* nothing of the result leaks */

    out = status_of("mallory", "act-unknown", &e);
    CHECK(out == NULL);
    CHECK_STR(e.code, "NotFound");
    /* The two answers differ only by the id they name: ids cannot be probed. */
    CHECK(strstr(foreign, "act-3") != NULL && strstr(e.message, "act-unknown") != NULL);
}

static void test_input_is_validated(void)
{
    struct tool_ctx ctx = {.store = st, .session_id = "s-1", .user_id = "guest:s-1"};
    struct err e;
    const char *bad[] = {"{}", "{\"action_id\":\"\"}", "{\"action_id\":7}",
                         "{\"action_id\":\"act-1\",\"extra\":1}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *in = json_loads(bad[i], 0, NULL);
        err_clear(&e);
        json_t *out = tools_run(tools, &ctx, "get_action_status", in, &e);
        CHECK(out == NULL);
        CHECK_STR(e.code, "InvalidInput");
        json_decref(out);
        json_decref(in);
    }
}

int main(void)
{
    xmalloc_init();
    char dir[] = "/tmp/parley-action-status-XXXXXX";
    if (!check_require("a temporary directory", mkdtemp(dir) != NULL))
        return check_summary();
    char *path = xasprintf("%s/t.db", dir);
    struct err e;
    st = store_sqlite_new(path, 2, &e);
    tools = tools_new(NULL, NULL, &e);
    if (check_require("a SQLite store and the tool registry", st && tools)) {
        RUN(test_offered_to_the_model);
        RUN(test_pending_then_succeeded);
        RUN(test_failed_action_reports_its_error);
        RUN(test_other_customer_and_unknown_are_not_found);
        RUN(test_input_is_validated);
    }
    tools_free(tools);
    store_free(st);
    free(path);
    char *cmd = xasprintf("rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    free(cmd);
    return check_summary();
}
