/*
 * test_e2e_papercuts.c - issue 16's small things against the real binary: money in tool results
 * as fixed decimals (no 89.98999999999999), operatorMessages timestamps in ISO 8601 like every
 * other timestamp, `worker --threads 0` says why it is refused, `lambda --help` names itself
 * `parley lambda`.
 */
#include "check.h"
#include "e2e/e2e.h"

static char out[1 << 14];

static void test_command_line(void)
{
    int rc = e2e_run_parley("worker --threads 0", NULL, out, sizeof out);
    CHECK_INT(rc, 2);
    CHECK(strstr(out, "--threads must be a number of threads from 1 to 64 (got '0')") != NULL);
    rc = e2e_run_parley("lambda --help", NULL, out, sizeof out);
    CHECK_INT(rc, 0);
    CHECK(strstr(out, "usage: parley lambda [--handler NAME]") != NULL);
    CHECK(strstr(out, "usage: bootstrap") == NULL);
}

/* 1 when s looks like 2026-12-04T16:00:00.000Z (or without milliseconds). */
static int is_iso8601(const char *s)
{
    int y, mo, d, h, mi, sec;
    char z = 0;
    return strlen(s) >= 20 &&
           sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &sec) == 6 &&
           (z = s[strlen(s) - 1]) == 'Z';
}

static void test_api(void)
{
    struct e2e_server srv;
    char dir[64];
    static const char *const env[] = {"PARLEY_OPERATOR_TOKEN=cuts-token", NULL};
    if (e2e_tmpdir(dir, sizeof dir) != 0 || e2e_start_env(&srv, dir, env) != 0) {
        CHECK(0);
        return;
    }
    /* Money: order 1042 costs 89.99 and 1043 holds a 14.50 item. */
    struct e2e_resp r = e2e_http(&srv, "POST", "/chat",
                                 "{\"message\":\"where is order 1042\",\"userId\":\"demo\"}");
    CHECK_INT(r.status, 200);
    CHECK_STR(e2e_str(&r, "actions.0.tool"), "lookup_order");
    CHECK_STR(e2e_str(&r, "actions.0.result.total"), "89.99");
    CHECK_STR(e2e_str(&r, "actions.0.result.items.0.price"), "89.99");
    CHECK(strstr(r.body, "89.98") == NULL);
    char sid[64];
    snprintf(sid, sizeof sid, "%s", e2e_str(&r, "sessionId"));
    e2e_resp_free(&r);
    char body[200];
    snprintf(body, sizeof body,
             "{\"message\":\"and order 1043?\",\"userId\":\"demo\",\"sessionId\":\"%s\"}", sid);
    r = e2e_http(&srv, "POST", "/chat", body);
    CHECK_STR(e2e_str(&r, "actions.0.result.total"), "38.99");
    CHECK_STR(e2e_str(&r, "actions.0.result.items.0.price"), "14.50");
    e2e_resp_free(&r);

    /* operatorMessages carry ISO 8601 timestamps. */
    char path[128];
    snprintf(path, sizeof path, "/sessions/%s/messages", sid);
    r = e2e_http_ex(&srv, "POST", path, "{\"role\":\"operator\",\"content\":\"Hello from Sam\"}",
                    -1, NULL, "Authorization: Bearer cuts-token");
    CHECK_INT(r.status, 201);
    CHECK(is_iso8601(e2e_str(&r, "message.timestamp")));
    e2e_resp_free(&r);
    snprintf(body, sizeof body, "{\"message\":\"thanks\",\"userId\":\"demo\",\"sessionId\":\"%s\"}",
             sid);
    r = e2e_http(&srv, "POST", "/chat", body);
    CHECK_STR(e2e_str(&r, "operatorMessages.0.content"), "Hello from Sam");
    CHECK(is_iso8601(e2e_str(&r, "operatorMessages.0.timestamp")));
    e2e_resp_free(&r);
    CHECK_INT(e2e_stop(&srv), 0);
    e2e_rmdir(dir);
}

int main(void)
{
    RUN(test_command_line);
    RUN(test_api);
    return check_summary();
}
