/*
 * test_e2e_handoff.c - human handoff end to end: the customer asks for a person, the session
 * moves to "handoff", the model stops answering, an operator (bearer token) replies and releases,
 * and the model answers again. Operator APIs reject a missing or wrong token with 401.
 */
#include "check.h"
#include "e2e/e2e.h"

static struct e2e_server srv;
static char sid[64];
#define TOKEN_HEADER "Authorization: Bearer s3cret-operator"

static struct e2e_resp chat(const char *text)
{
    char body[512];
    if (sid[0])
        snprintf(body, sizeof body, "{\"sessionId\":\"%s\",\"message\":\"%s\"}", sid, text);
    else
        snprintf(body, sizeof body, "{\"message\":\"%s\"}", text);
    return e2e_http(&srv, "POST", "/chat", body);
}

static void test_escalation(void)
{
    struct e2e_resp r = chat("I want to talk to a human");
    CHECK_INT(r.status, 200);
    snprintf(sid, sizeof sid, "%s", e2e_str(&r, "sessionId"));
    CHECK_STR(e2e_str(&r, "actions.0.tool"), "escalate_to_human");
    CHECK_STR(e2e_str(&r, "actions.0.status"), "succeeded");
    CHECK_STR(e2e_str(&r, "status"), "handoff");
    e2e_resp_free(&r);
    char path[128];
    snprintf(path, sizeof path, "/sessions/%s", sid);
    r = e2e_http(&srv, "GET", path, NULL);
    CHECK_STR(e2e_str(&r, "status"), "handoff");
    e2e_resp_free(&r);
}

static void test_model_silent_during_handoff(void)
{
    struct e2e_resp r = chat("hello? is anyone there?");
    CHECK_INT(r.status, 200);
    CHECK(strstr(e2e_str(&r, "reply"), "human agent") != NULL);
    CHECK_INT(json_array_size(json_object_get(r.json, "actions")), 0);
    CHECK_STR(e2e_str(&r, "status"), "handoff");
    e2e_resp_free(&r);
}

static void test_operator_apis_need_token(void)
{
    char path[128];
    snprintf(path, sizeof path, "/sessions/%s/messages", sid);
    const char *body = "{\"role\":\"operator\",\"content\":\"hi\"}";
    struct e2e_resp r = e2e_http_ex(&srv, "POST", path, body, -1, NULL, NULL);
    CHECK_INT(r.status, 401);
    CHECK_STR(e2e_str(&r, "error.code"), "Unauthorized");
    e2e_resp_free(&r);
    r = e2e_http_ex(&srv, "POST", path, body, -1, NULL, "Authorization: Bearer wrong");
    CHECK_INT(r.status, 401);
    e2e_resp_free(&r);
    snprintf(path, sizeof path, "/sessions/%s/release", sid);
    r = e2e_http_ex(&srv, "POST", path, "{}", -1, NULL, NULL);
    CHECK_INT(r.status, 401);
    e2e_resp_free(&r);
    r = e2e_http_ex(&srv, "GET", "/sessions", NULL, 0, NULL, NULL);
    CHECK_INT(r.status, 401);
    e2e_resp_free(&r);
}

static void test_session_list_shows_handoff(void)
{
    struct e2e_resp r = e2e_http_ex(&srv, "GET", "/sessions?status=handoff", NULL, 0, NULL,
                                    TOKEN_HEADER);
    CHECK_INT(r.status, 200);
    json_t *list = json_object_get(r.json, "sessions");
    int found = 0;
    size_t i;
    json_t *s;
    json_array_foreach(list, i, s) {
        found |= strcmp(json_string_value(json_object_get(s, "sessionId")), sid) == 0;
        CHECK_STR(json_string_value(json_object_get(s, "status")), "handoff");
    }
    CHECK(found);
    e2e_resp_free(&r);
    r = e2e_http_ex(&srv, "GET", "/sessions?status=bogus", NULL, 0, NULL, TOKEN_HEADER);
    CHECK_INT(r.status, 400);
    e2e_resp_free(&r);
}

static void test_operator_reply_reaches_customer(void)
{
    char path[128];
    snprintf(path, sizeof path, "/sessions/%s/messages", sid);
    struct e2e_resp r = e2e_http_ex(&srv, "POST", path,
                                    "{\"role\":\"operator\",\"content\":\"Hi, I'm Sam from support.\"}",
                                    -1, NULL, TOKEN_HEADER);
    CHECK_INT(r.status, 201);
    e2e_resp_free(&r);
    r = e2e_http_ex(&srv, "POST", path, "{\"role\":\"assistant\",\"content\":\"x\"}", -1, NULL,
                    TOKEN_HEADER);
    CHECK_INT(r.status, 400);
    e2e_resp_free(&r);
    r = e2e_http_ex(&srv, "POST", "/sessions/neverIssued/messages",
                    "{\"role\":\"operator\",\"content\":\"x\"}", -1, NULL, TOKEN_HEADER);
    CHECK_INT(r.status, 404);
    e2e_resp_free(&r);

    r = chat("thanks Sam, my order never arrived");
    CHECK_INT(r.status, 200);
    CHECK_STR(e2e_str(&r, "operatorMessages.0.content"), "Hi, I'm Sam from support.");
    e2e_resp_free(&r);
    /* Shown once: the next reply does not repeat it. */
    r = chat("are you still there?");
    CHECK_INT(json_array_size(json_object_get(r.json, "operatorMessages")), 0);
    e2e_resp_free(&r);

    snprintf(path, sizeof path, "/sessions/%s", sid);
    r = e2e_http(&srv, "GET", path, NULL);
    json_t *msgs = json_object_get(r.json, "messages");
    int seen = 0;
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m) {
        seen |= strcmp(json_string_value(json_object_get(m, "role")), "operator") == 0 &&
                strcmp(json_string_value(json_object_get(m, "content")),
                       "Hi, I'm Sam from support.") == 0;
    }
    CHECK(seen);
    e2e_resp_free(&r);
}

static void test_release_returns_to_agent(void)
{
    char path[128];
    snprintf(path, sizeof path, "/sessions/%s/release", sid);
    struct e2e_resp r = e2e_http_ex(&srv, "POST", path, "{}", -1, NULL, TOKEN_HEADER);
    CHECK_INT(r.status, 200);
    CHECK_STR(e2e_str(&r, "status"), "active");
    e2e_resp_free(&r);
    r = chat("What is the status of TKT-000777?");
    CHECK_INT(r.status, 200);
    CHECK_STR(e2e_str(&r, "status"), "active");
    CHECK_STR(e2e_str(&r, "actions.0.tool"), "get_ticket_status");
    CHECK(strstr(e2e_str(&r, "reply"), "human agent will reply") == NULL);
    e2e_resp_free(&r);
    /* get_ticket_status is read-only and ran inline; creating a ticket goes through the queue. */
    r = chat("create a ticket");
    e2e_resp_free(&r);
    r = chat("The checkout page shows an error when I pay");
    e2e_resp_free(&r);
    r = chat("pat@example.com");
    CHECK_STR(e2e_str(&r, "actions.0.tool"), "create_support_ticket");
    CHECK_STR(e2e_str(&r, "actions.0.status"), "succeeded");
    e2e_resp_free(&r);
    /* That turn's trace holds the request segment and the worker's, joined through the queue
     * message's AWSTraceHeader, with the store and model subsegments. */
    snprintf(path, sizeof path, "/sessions/%s/executions", sid);
    r = e2e_http_ex(&srv, "GET", path, NULL, 0, NULL, TOKEN_HEADER);
    json_t *xs = json_object_get(r.json, "executions");
    char tpath[128];
    snprintf(tpath, sizeof tpath, "/traces/%s",
             json_string_value(json_object_get(json_array_get(xs, json_array_size(xs) - 1),
                                               "traceId")));
    e2e_resp_free(&r);
    r = e2e_http_ex(&srv, "GET", tpath, NULL, 0, NULL, TOKEN_HEADER);
    CHECK_INT(r.status, 200);
    CHECK(json_array_size(json_object_get(r.json, "segments")) >= 2);
    CHECK(strstr(r.body, "parley-worker") != NULL);
    CHECK(strstr(r.body, "store.turn_save") != NULL);
    CHECK(strstr(r.body, "AgentActions") != NULL);
    e2e_resp_free(&r);
    /* The actions ran on the server's worker threads and were counted there. */
    r = e2e_http_ex(&srv, "GET", "/metrics", NULL, 0, NULL, TOKEN_HEADER);
    CHECK(strstr(r.body, "parley_actions_total{") != NULL);
    CHECK(strstr(r.body, "escalate_to_human") != NULL);
    e2e_resp_free(&r);
    r = e2e_http_ex(&srv, "GET", "/analytics", NULL, 0, NULL, TOKEN_HEADER);
    CHECK(json_integer_value(json_object_get(json_object_get(r.json, "totals"), "handoffs")) >= 1);
    CHECK(json_integer_value(json_object_get(json_object_get(r.json, "totals"), "turns")) >= 4);
    e2e_resp_free(&r);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    char dir[64];
    static const char *const env[] = {"PARLEY_OPERATOR_TOKEN=s3cret-operator", NULL};
    if (e2e_tmpdir(dir, sizeof dir) != 0 || e2e_start_env(&srv, dir, env) != 0) {
        check_record("server starts", 0);
        return check_summary();
    }
    RUN(test_escalation);
    RUN(test_model_silent_during_handoff);
    RUN(test_operator_apis_need_token);
    RUN(test_session_list_shows_handoff);
    RUN(test_operator_reply_reaches_customer);
    RUN(test_release_returns_to_agent);
    check_record("server exits 0 on SIGTERM", e2e_stop(&srv) == 0);
    e2e_rmdir(dir);
    curl_global_cleanup();
    return check_summary();
}
