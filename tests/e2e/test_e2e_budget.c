/*
 * test_e2e_budget.c - token budgets against the real binary with the offline model (issue 14):
 * with PARLEY_SESSION_TOKEN_BUDGET=1 a session's second turn is answered politely and handed to a
 * human without a model call (parley_model_latency_seconds_count stays put); after a restart with
 * PARLEY_DAILY_TOKEN_BUDGET=1 a new session is refused at once, because the day's spend lives in
 * the store; /metrics shows the spend and the refusals. GET /analytics, kept in the store too,
 * still counts the first server's turns after the restart.
 */
#include "check.h"
#include "e2e/e2e.h"

static struct e2e_server srv;
static char dir[64];

#define AUTH "Authorization: Bearer ops-token"

/* The value of the metric line starting with prefix in /metrics, or -1 when absent. */
static double metric(const char *prefix)
{
    struct e2e_resp r = e2e_http_ex(&srv, "GET", "/metrics", NULL, -1, NULL, AUTH);
    double v = -1;
    for (const char *p = r.body; p && *p;) {
        if (strncmp(p, prefix, strlen(prefix)) == 0) {
            v = atof(p + strlen(prefix));
            break;
        }
        p = strchr(p, '\n');
        p = p ? p + 1 : NULL;
    }
    e2e_resp_free(&r);
    return v;
}

static double model_calls(void)
{
    double v = metric("parley_model_latency_seconds_count{provider=\"offline\"} ");
    return v < 0 ? 0 : v;
}

/* totals.turns of GET /analytics. */
static long long analytics_turns(void)
{
    struct e2e_resp r = e2e_http_ex(&srv, "GET", "/analytics", NULL, -1, NULL, AUTH);
    CHECK_INT(r.status, 200);
    long long n = json_integer_value(json_object_get(json_object_get(r.json, "totals"), "turns"));
    e2e_resp_free(&r);
    return n;
}

static struct e2e_resp chat(const char *session, const char *message)
{
    char body[512];
    if (session)
        snprintf(body, sizeof body, "{\"sessionId\":\"%s\",\"userId\":\"demo\",\"message\":\"%s\"}",
                 session, message);
    else
        snprintf(body, sizeof body, "{\"userId\":\"demo\",\"message\":\"%s\"}", message);
    return e2e_http(&srv, "POST", "/chat", body);
}

static void test_session_budget(void)
{
    static const char *const env[] = {"PARLEY_OPERATOR_TOKEN=ops-token",
                                      "PARLEY_SESSION_TOKEN_BUDGET=1", NULL};
    if (!check_require("server starts", e2e_start_env(&srv, dir, env) == 0))
        return;
    /* A greeting: one model call, no tool, so the whole first turn runs under the budget. */
    struct e2e_resp r = chat(NULL, "Hello there");
    CHECK_INT(r.status, 200);
    char sid[128];
    snprintf(sid, sizeof sid, "%s", e2e_str(&r, "sessionId") ? e2e_str(&r, "sessionId") : "");
    CHECK(strstr(e2e_str(&r, "reply") ? e2e_str(&r, "reply") : "", "passed your") == NULL);
    e2e_resp_free(&r);
    double calls = model_calls();
    CHECK(calls >= 1);
    CHECK(metric("parley_budget_tokens_today") > 0);

    r = chat(sid, "And how long does shipping take?");
    CHECK_INT(r.status, 200);
    CHECK(strstr(e2e_str(&r, "reply") ? e2e_str(&r, "reply") : "", "human agent") != NULL);
    CHECK_STR(e2e_str(&r, "status") ? e2e_str(&r, "status") : "", "handoff");
    e2e_resp_free(&r);
    CHECK(model_calls() == calls); /* no model call for the refused turn */
    CHECK(metric("parley_budget_refusals_total{scope=\"session\"}") == 1);

    /* Another session has its own budget. */
    r = chat(NULL, "Hello again");
    CHECK_INT(r.status, 200);
    CHECK(strcmp(e2e_str(&r, "status") ? e2e_str(&r, "status") : "", "handoff") != 0);
    e2e_resp_free(&r);
    CHECK(model_calls() > calls);
    CHECK_INT(e2e_stop(&srv), 0);
}

static void test_daily_budget_survives_restart(void)
{
    static const char *const env[] = {"PARLEY_OPERATOR_TOKEN=ops-token",
                                      "PARLEY_DAILY_TOKEN_BUDGET=1", NULL};
    if (!check_require("server restarts", e2e_start_env(&srv, dir, env) == 0))
        return;
    CHECK_INT(analytics_turns(), 3); /* the three turns before the restart (the bus delivered
                                       them before the first server exited) */
    struct e2e_resp r = chat(NULL, "Where is my order 1042?");
    CHECK_INT(r.status, 200);
    CHECK(strstr(e2e_str(&r, "reply") ? e2e_str(&r, "reply") : "", "human agent") != NULL);
    CHECK_STR(e2e_str(&r, "status") ? e2e_str(&r, "status") : "", "handoff");
    e2e_resp_free(&r);
    CHECK(model_calls() == 0);
    CHECK(metric("parley_budget_refusals_total{scope=\"daily\"}") == 1);
    CHECK_INT(e2e_stop(&srv), 0);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (!check_require("a temporary directory", e2e_tmpdir(dir, sizeof dir) == 0))
        return check_summary();
    RUN(test_session_budget);
    RUN(test_daily_budget_survives_restart);
    e2e_rmdir(dir);
    curl_global_cleanup();
    return check_summary();
}
