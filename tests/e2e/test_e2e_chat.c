/*
 * test_e2e_chat.c - the seed's sample conversation and the API contract, over HTTP against the
 * real binary: every error status, the transcript, the ticket, restart persistence.
 */
#include <regex.h>

#include "check.h"
#include "e2e/e2e.h"

static struct e2e_server srv;

static int matches(const char *s, const char *pattern)
{
    regex_t re;
    if (regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB) != 0)
        return 0;
    int ok = regexec(&re, s, 0, NULL, 0) == 0;
    regfree(&re);
    return ok;
}

static int contains_ci(const char *hay, const char *needle)
{
    return strcasestr(hay, needle) != NULL;
}

static void test_sample_conversation(void)
{
    struct e2e_resp r = e2e_http(&srv, "POST", "/chat", "{\"message\":\"I can't log into my account\"}");
    CHECK_INT(r.status, 200);
    CHECK(strstr(r.ctype, "application/json") != NULL);
    char sid[80];
    snprintf(sid, sizeof sid, "%s", e2e_str(&r, "sessionId"));
    CHECK(matches(sid, "^[A-Za-z0-9_-]{22}$"));
    CHECK_INT(json_integer_value(json_object_get(r.json, "turn")), 1);
    CHECK(contains_ci(e2e_str(&r, "reply"), "email"));
    CHECK_INT(json_array_size(json_object_get(r.json, "actions")), 0);
    e2e_resp_free(&r);

    char body[256];
    snprintf(body, sizeof body, "{\"sessionId\":\"%s\",\"message\":\"It's jane.doe@example.com\"}",
             sid);
    r = e2e_http(&srv, "POST", "/chat", body);
    CHECK_INT(r.status, 200);
    CHECK_STR(e2e_str(&r, "sessionId"), sid);
    CHECK_INT(json_integer_value(json_object_get(r.json, "turn")), 2);
    CHECK_STR(e2e_str(&r, "actions.0.tool"), "create_support_ticket");
    CHECK_STR(e2e_str(&r, "actions.0.status"), "succeeded");
    CHECK_STR(e2e_str(&r, "actions.0.input.email"), "jane.doe@example.com");
    const char *prio = e2e_str(&r, "actions.0.input.priority");
    CHECK(matches(prio, "^(low|medium|high|urgent)$"));
    CHECK(strlen(e2e_str(&r, "actions.0.input.title")) > 0);
    char ticket[32];
    snprintf(ticket, sizeof ticket, "%s", e2e_str(&r, "actions.0.result.ticketId"));
    CHECK(matches(ticket, "^TKT-[0-9]{6}$"));
    CHECK(ticket[0] && strstr(e2e_str(&r, "reply"), ticket) != NULL);
    e2e_resp_free(&r);

    char path[256];
    /* Ticket numbers are sequential: without its session's id a ticket is not found. */
    snprintf(path, sizeof path, "/tickets/%s", ticket);
    r = e2e_http(&srv, "GET", path, NULL);
    CHECK_INT(r.status, 404);
    CHECK_STR(e2e_str(&r, "error.code"), "NotFound");
    e2e_resp_free(&r);
    snprintf(path, sizeof path, "/tickets/%s?sessionId=someoneElse", ticket);
    r = e2e_http(&srv, "GET", path, NULL);
    CHECK_INT(r.status, 404);
    e2e_resp_free(&r);
    snprintf(path, sizeof path, "/tickets/%s?sessionId=%s", ticket, sid);
    r = e2e_http(&srv, "GET", path, NULL);
    CHECK_INT(r.status, 200);
    CHECK_STR(e2e_str(&r, "id"), ticket);
    CHECK_STR(e2e_str(&r, "email"), "jane.doe@example.com");
    CHECK_STR(e2e_str(&r, "sessionId"), sid);
    CHECK_STR(e2e_str(&r, "status"), "open");
    CHECK(matches(e2e_str(&r, "createdAt"), "^[0-9]{4}-[0-9]{2}-[0-9]{2}T"));
    CHECK(strlen(e2e_str(&r, "title")) > 0 && strlen(e2e_str(&r, "description")) > 0);
    e2e_resp_free(&r);

    snprintf(path, sizeof path, "/sessions/%s", sid);
    r = e2e_http(&srv, "GET", path, NULL);
    CHECK_INT(r.status, 200);
    CHECK_STR(e2e_str(&r, "sessionId"), sid);
    CHECK_STR(e2e_str(&r, "status"), "active");
    CHECK(strlen(e2e_str(&r, "userId")) > 0);
    CHECK(matches(e2e_str(&r, "createdAt"), "^[0-9]{4}-"));
    json_t *msgs = json_object_get(r.json, "messages");
    CHECK(json_array_size(msgs) >= 5); /* user, assistant, user, tool_use, tool, assistant */
    CHECK_STR(e2e_str(&r, "messages.0.role"), "user");
    CHECK_STR(e2e_str(&r, "messages.0.content"), "I can't log into my account");
    CHECK_STR(e2e_str(&r, "messages.1.role"), "assistant");
    CHECK(matches(e2e_str(&r, "messages.0.timestamp"), "^[0-9]{4}-[0-9]{2}-[0-9]{2}T"));
    size_t n = json_array_size(msgs);
    char last[64];
    snprintf(last, sizeof last, "messages.%zu.content", n - 1);
    CHECK(strstr(e2e_str(&r, last), ticket) != NULL);
    e2e_resp_free(&r);
}

static void test_paraphrases_ask_for_email(void)
{
    const char *lines[] = {"I'm locked out of my account", "login isn't working",
                           "I cannot sign in to my account"};
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        char body[200];
        snprintf(body, sizeof body, "{\"message\":\"%s\"}", lines[i]);
        struct e2e_resp r = e2e_http(&srv, "POST", "/chat", body);
        CHECK_INT(r.status, 200);
        if (!contains_ci(e2e_str(&r, "reply"), "email"))
            fprintf(stderr, "paraphrase '%s' got: %s\n", lines[i], e2e_str(&r, "reply"));
        CHECK(contains_ci(e2e_str(&r, "reply"), "email"));
        e2e_resp_free(&r);
    }
}

static void test_ticket_status_tool(void)
{
    struct e2e_resp r = e2e_http(&srv, "POST", "/chat", "{\"message\":\"I can't log in\"}");
    char sid[80];
    snprintf(sid, sizeof sid, "%s", e2e_str(&r, "sessionId"));
    e2e_resp_free(&r);
    char body[300];
    snprintf(body, sizeof body, "{\"sessionId\":\"%s\",\"message\":\"my email is sam@example.org\"}",
             sid);
    r = e2e_http(&srv, "POST", "/chat", body);
    char ticket[32];
    snprintf(ticket, sizeof ticket, "%s", e2e_str(&r, "actions.0.result.ticketId"));
    CHECK(ticket[0] != '\0');
    e2e_resp_free(&r);
    snprintf(body, sizeof body,
             "{\"sessionId\":\"%s\",\"message\":\"What is the status of %s?\"}", sid, ticket);
    r = e2e_http(&srv, "POST", "/chat", body);
    CHECK_INT(r.status, 200);
    CHECK_STR(e2e_str(&r, "actions.0.tool"), "get_ticket_status");
    CHECK_STR(e2e_str(&r, "actions.0.status"), "succeeded");
    CHECK_STR(e2e_str(&r, "actions.0.result.status"), "open");
    CHECK(strstr(e2e_str(&r, "reply"), ticket) != NULL);
    e2e_resp_free(&r);

    /* Another customer's session cannot read that ticket through the tool. */
    snprintf(body, sizeof body, "{\"message\":\"What is the status of %s?\"}", ticket);
    r = e2e_http(&srv, "POST", "/chat", body);
    CHECK_INT(r.status, 200);
    CHECK_STR(e2e_str(&r, "actions.0.tool"), "get_ticket_status");
    CHECK_STR(e2e_str(&r, "actions.0.status"), "failed");
    CHECK(contains_ci(e2e_str(&r, "reply"), "not find") || contains_ci(e2e_str(&r, "reply"), "not found") ||
          contains_ci(e2e_str(&r, "reply"), "couldn't find"));
    e2e_resp_free(&r);
}

static void expect_error(const char *method, const char *path, const char *body, long len,
                         const char *ctype, long status, const char *code, const char *fragment)
{
    struct e2e_resp r = e2e_http_ex(&srv, method, path, body, len, ctype, NULL);
    if (r.status != status || strcmp(e2e_str(&r, "error.code"), code) != 0)
        fprintf(stderr, "%s %s: got %ld %s\n", method, path, r.status, r.body);
    CHECK_INT(r.status, status);
    CHECK_STR(e2e_str(&r, "error.code"), code);
    if (fragment && !strstr(e2e_str(&r, "error.message"), fragment))
        fprintf(stderr, "message '%s' lacks '%s'\n", e2e_str(&r, "error.message"), fragment);
    CHECK(!fragment || strstr(e2e_str(&r, "error.message"), fragment) != NULL);
    e2e_resp_free(&r);
}

static void test_error_malformed_json(void)
{
    expect_error("POST", "/chat", "{\"message\": ", -1, NULL, 400, "MalformedJson", "not valid JSON");
}

static void test_error_missing_message(void)
{
    expect_error("POST", "/chat", "{\"userId\":\"u1\"}", -1, NULL, 400, "InvalidRequest",
                 "'message' is required");
}

static void test_error_empty_message(void)
{
    expect_error("POST", "/chat", "{\"message\":\"\"}", -1, NULL, 400, "InvalidRequest",
                 "must not be empty");
}

static void test_error_message_not_string(void)
{
    expect_error("POST", "/chat", "{\"message\":42}", -1, NULL, 400, "InvalidRequest",
                 "must be a string");
}

static void test_error_overlong_message(void)
{
    size_t n = 8001;
    char *body = malloc(n + 32);
    strcpy(body, "{\"message\":\"");
    memset(body + strlen(body), 'a', n);
    strcpy(body + 12 + n, "\"}");
    expect_error("POST", "/chat", body, -1, NULL, 400, "InvalidRequest", "8001 characters");
    /* 8000 multi-byte characters are within the limit: the cap counts characters, not bytes. */
    char *ok = malloc(8000 * 2 + 32);
    strcpy(ok, "{\"message\":\"");
    char *p = ok + strlen(ok);
    for (int i = 0; i < 8000; i++) {
        *p++ = (char)0xc3;
        *p++ = (char)0xa9;
    }
    strcpy(p, "\"}");
    struct e2e_resp r = e2e_http(&srv, "POST", "/chat", ok);
    CHECK_INT(r.status, 200);
    e2e_resp_free(&r);
    free(ok);
    free(body);
}

static void test_error_bad_session_id(void)
{
    expect_error("POST", "/chat", "{\"message\":\"hi\",\"sessionId\":\"../etc/passwd\"}", -1, NULL,
                 400, "InvalidRequest", "sessionId");
    expect_error("POST", "/chat",
                 "{\"message\":\"hi\",\"sessionId\":"
                 "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}",
                 -1, NULL, 400, "InvalidRequest", "sessionId");
}

static void test_error_invalid_utf8(void)
{
    expect_error("POST", "/chat", "{\"message\":\"caf\xc3\x28\"}", -1, NULL, 400, "InvalidUtf8",
                 "UTF-8");
}

static void test_error_unknown_field(void)
{
    expect_error("POST", "/chat", "{\"message\":\"hi\",\"mesage\":\"x\"}", -1, NULL, 400,
                 "InvalidRequest", "unknown field 'mesage'");
}

static void test_error_unknown_session(void)
{
    expect_error("POST", "/chat", "{\"message\":\"hi\",\"sessionId\":\"neverIssued123\"}", -1,
                 NULL, 404, "NotFound", "neverIssued123");
    expect_error("GET", "/sessions/neverIssued123", NULL, 0, NULL, 404, "NotFound", NULL);
}

static void test_error_unknown_ticket(void)
{
    expect_error("GET", "/tickets/TKT-999999", NULL, 0, NULL, 404, "NotFound", "TKT-999999");
    expect_error("GET", "/tickets/banana", NULL, 0, NULL, 404, "NotFound", NULL);
}

static void test_error_unknown_route(void)
{
    expect_error("GET", "/nope", NULL, 0, NULL, 404, "NotFound", "/nope");
}

static void test_error_wrong_method(void)
{
    struct e2e_resp r = e2e_http(&srv, "GET", "/chat", NULL);
    CHECK_INT(r.status, 405);
    CHECK_STR(e2e_str(&r, "error.code"), "MethodNotAllowed");
    e2e_resp_free(&r);
    /* DELETE /sessions/{id} exists since issue 15 (operator erasure); tickets still allow GET only. */
    expect_error("DELETE", "/tickets/abc", NULL, 0, NULL, 405, "MethodNotAllowed", "GET");
}

static void test_error_body_too_large(void)
{
    size_t n = 70 * 1024;
    char *body = malloc(n + 32);
    strcpy(body, "{\"message\":\"");
    memset(body + 12, 'x', n);
    strcpy(body + 12 + n, "\"}");
    expect_error("POST", "/chat", body, -1, NULL, 413, "PayloadTooLarge", "65536");
    free(body);
}

static void test_error_wrong_content_type(void)
{
    expect_error("POST", "/chat", "message=hi", -1, "text/plain", 415, "UnsupportedMediaType",
                 "application/json");
}

/* Splits an SSE body into events; returns the concatenated delta texts and the done payload. */
static void parse_sse(const char *body, char *deltas, size_t cap, json_t **done, int *actions)
{
    deltas[0] = '\0';
    *done = NULL;
    *actions = 0;
    const char *p = body;
    char event[32] = "";
    while (*p) {
        const char *eol = strchr(p, '\n');
        size_t n = eol ? (size_t)(eol - p) : strlen(p);
        if (n > 7 && strncmp(p, "event: ", 7) == 0) {
            snprintf(event, sizeof event, "%.*s", (int)(n - 7), p + 7);
        } else if (n > 6 && strncmp(p, "data: ", 6) == 0) {
            char *data = strndup(p + 6, n - 6);
            json_t *j = json_loads(data, 0, NULL);
            if (strcmp(event, "delta") == 0 && json_string_value(json_object_get(j, "text")))
                strncat(deltas, json_string_value(json_object_get(j, "text")),
                        cap - strlen(deltas) - 1);
            else if (strcmp(event, "done") == 0)
                *done = json_incref(j);
            else if (strcmp(event, "action") == 0)
                (*actions)++;
            json_decref(j);
            free(data);
        }
        p += n + (eol ? 1 : 0);
    }
}

static void test_streaming_reply(void)
{
    struct e2e_resp r = e2e_http_ex(&srv, "POST", "/chat",
                                    "{\"message\":\"I can't log into my account\"}", -1, NULL,
                                    "Accept: text/event-stream");
    CHECK_INT(r.status, 200);
    CHECK(strstr(r.ctype, "text/event-stream") != NULL);
    char deltas[4096];
    json_t *done = NULL;
    int actions = 0;
    parse_sse(r.body, deltas, sizeof deltas, &done, &actions);
    CHECK(done != NULL);
    const char *reply = json_string_value(json_object_get(done, "reply"));
    CHECK(reply && strlen(deltas) > 0);
    /* The word-by-word deltas add up to the final reply. */
    CHECK_STR(deltas, reply);
    const char *sid = json_string_value(json_object_get(done, "sessionId"));
    char body[256];
    snprintf(body, sizeof body, "{\"sessionId\":\"%s\",\"message\":\"It's jane.doe@example.com\"}",
             sid ? sid : "x");
    json_decref(done);
    e2e_resp_free(&r);
    r = e2e_http_ex(&srv, "POST", "/chat", body, -1, NULL, "Accept: text/event-stream");
    parse_sse(r.body, deltas, sizeof deltas, &done, &actions);
    CHECK_INT(actions, 1);
    CHECK(done && strstr(json_string_value(json_object_get(done, "reply")), "TKT-") != NULL);
    json_decref(done);
    e2e_resp_free(&r);
    /* Validation errors are plain JSON errors, before any stream starts. */
    r = e2e_http_ex(&srv, "POST", "/chat", "{}", -1, NULL, "Accept: text/event-stream");
    CHECK_INT(r.status, 400);
    CHECK_STR(e2e_str(&r, "error.code"), "InvalidRequest");
    e2e_resp_free(&r);
}

/* The data of the first SSE event named name in body (new reference), or NULL. */
static json_t *sse_event(const char *body, const char *name)
{
    char want[64];
    snprintf(want, sizeof want, "event: %s\ndata: ", name);
    const char *p = body ? strstr(body, want) : NULL;
    if (!p)
        return NULL;
    p += strlen(want);
    size_t n = strcspn(p, "\n");
    return json_loadb(p, n, 0, NULL);
}

/* A turn that fails after the stream has started ends it with an `error` event carrying the
 * error code and message, and no `done` event: here the session is unknown, or belongs to another
 * customer (indistinguishable on purpose), which only the turn itself finds out. */
static void test_streamed_error_event(void)
{
    struct e2e_resp r = e2e_http_ex(&srv, "POST", "/chat",
                                    "{\"sessionId\":\"no-such-session\",\"message\":\"hello\"}",
                                    -1, NULL, "Accept: text/event-stream");
    CHECK_INT(r.status, 200); /* the stream had started; the failure travels inside it */
    CHECK(strstr(r.ctype, "text/event-stream") != NULL);
    json_t *err = sse_event(r.body, "error");
    CHECK(err != NULL);
    CHECK_STR(json_string_value(json_object_get(json_object_get(err, "error"), "code")),
              "NotFound");
    const char *msg = json_string_value(json_object_get(json_object_get(err, "error"), "message"));
    CHECK(msg && strstr(msg, "no-such-session") != NULL);
    json_t *done = sse_event(r.body, "done");
    CHECK(done == NULL);
    CHECK(r.body && strstr(r.body, "event: delta") == NULL);
    json_decref(err);
    json_decref(done);
    e2e_resp_free(&r);

    /* Another customer's session: the same NotFound error event. */
    r = e2e_http(&srv, "POST", "/chat", "{\"userId\":\"alice\",\"message\":\"hello\"}");
    CHECK_INT(r.status, 200);
    char body[256];
    snprintf(body, sizeof body, "{\"sessionId\":\"%s\",\"userId\":\"mallory\",\"message\":\"hi\"}",
             e2e_str(&r, "sessionId"));
    e2e_resp_free(&r);
    r = e2e_http_ex(&srv, "POST", "/chat", body, -1, NULL, "Accept: text/event-stream");
    CHECK_INT(r.status, 200);
    err = sse_event(r.body, "error");
    CHECK_STR(json_string_value(json_object_get(json_object_get(err, "error"), "code")),
              "NotFound");
    CHECK(sse_event(r.body, "done") == NULL);
    json_decref(err);
    e2e_resp_free(&r);
}

/* Hostile bodies: random bytes, deep nesting, odd JSON. Each gets a JSON error or a reply, and
 * the server (under ASan) stays up. */
static void test_hostile_bodies(void)
{
    unsigned seed = 12345;
    char body[4096];
    int answered = 0;
    for (int i = 0; i < 200; i++) {
        size_t n = 1 + (size_t)(rand_r(&seed) % (sizeof body - 1));
        for (size_t k = 0; k < n; k++)
            body[k] = (char)(rand_r(&seed) % 256);
        if (i % 2)
            memcpy(body, "{\"message\":\"", 12 < n ? 12 : n);
        struct e2e_resp r = e2e_http_ex(&srv, "POST", "/chat", body, (long)n, NULL, NULL);
        answered += r.status == 400 || r.status == 200;
        e2e_resp_free(&r);
    }
    CHECK_INT(answered, 200);
    char *deep = malloc(60001);
    memset(deep, '[', 60000);
    deep[60000] = '\0';
    expect_error("POST", "/chat", deep, -1, NULL, 400, "MalformedJson", NULL);
    memcpy(deep, "{\"message\":", 11);
    expect_error("POST", "/chat", deep, -1, NULL, 400, "MalformedJson", NULL);
    free(deep);
    expect_error("POST", "/chat", "{\"message\":\"hi\",\"userId\":1e999}", -1, NULL, 400,
                 "MalformedJson", NULL);
    expect_error("POST", "/chat", "{\"message\":[\"hi\"]}", -1, NULL, 400, "InvalidRequest",
                 "string");
    expect_error("POST", "/chat", "", 0, NULL, 400, "MalformedJson", NULL);
    struct e2e_resp r = e2e_http(&srv, "GET", "/health", NULL);
    CHECK_INT(r.status, 200);
    e2e_resp_free(&r);
}

static void test_health(void)
{
    struct e2e_resp r = e2e_http(&srv, "GET", "/health", NULL);
    CHECK_INT(r.status, 200);
    CHECK_STR(e2e_str(&r, "status"), "ok");
    CHECK_STR(e2e_str(&r, "store"), "sqlite");
    e2e_resp_free(&r);
}

static void test_session_ids_unique(void)
{
    char seen[20][32];
    for (int i = 0; i < 20; i++) {
        struct e2e_resp r = e2e_http(&srv, "POST", "/chat", "{\"message\":\"hello\"}");
        snprintf(seen[i], sizeof seen[i], "%s", e2e_str(&r, "sessionId"));
        CHECK(matches(seen[i], "^[A-Za-z0-9_-]{22}$"));
        for (int k = 0; k < i; k++)
            CHECK(strcmp(seen[i], seen[k]) != 0);
        e2e_resp_free(&r);
    }
}

static void test_restart_keeps_sessions(void)
{
    char dir[64];
    CHECK(e2e_tmpdir(dir, sizeof dir) == 0);
    struct e2e_server s2;
    CHECK(e2e_start(&s2, dir) == 0);
    struct e2e_server saved = srv;
    srv = s2;
    struct e2e_resp r = e2e_http(&srv, "POST", "/chat", "{\"message\":\"I can't log into my account\"}");
    char sid[80];
    snprintf(sid, sizeof sid, "%s", e2e_str(&r, "sessionId"));
    e2e_resp_free(&r);
    char body[256];
    snprintf(body, sizeof body, "{\"sessionId\":\"%s\",\"message\":\"It's jane.doe@example.com\"}",
             sid);
    r = e2e_http(&srv, "POST", "/chat", body);
    char ticket[32];
    snprintf(ticket, sizeof ticket, "%s", e2e_str(&r, "actions.0.result.ticketId"));
    e2e_resp_free(&r);
    CHECK_INT(e2e_stop(&srv), 0);
    char log[300], line[512];
    snprintf(log, sizeof log, "%s/server.log", dir);
    FILE *f = fopen(log, "r");
    int clean = 0;
    while (f && fgets(line, sizeof line, f))
        clean |= strstr(line, "stopped cleanly") != NULL;
    if (f)
        fclose(f);
    CHECK(clean);

    CHECK(e2e_start(&srv, dir) == 0);
    snprintf(body, sizeof body, "{\"sessionId\":\"%s\",\"message\":\"thanks!\"}", sid);
    r = e2e_http(&srv, "POST", "/chat", body);
    CHECK_INT(r.status, 200);
    CHECK_INT(json_integer_value(json_object_get(r.json, "turn")), 3);
    e2e_resp_free(&r);
    char path[256];
    snprintf(path, sizeof path, "/tickets/%s?sessionId=%s", ticket, sid);
    r = e2e_http(&srv, "GET", path, NULL);
    CHECK_INT(r.status, 200);
    CHECK_STR(e2e_str(&r, "sessionId"), sid);
    e2e_resp_free(&r);
    snprintf(path, sizeof path, "/sessions/%s", sid);
    r = e2e_http(&srv, "GET", path, NULL);
    CHECK_INT(r.status, 200);
    CHECK_STR(e2e_str(&r, "messages.0.content"), "I can't log into my account");
    e2e_resp_free(&r);
    CHECK_INT(e2e_stop(&srv), 0);
    srv = saved;
    e2e_rmdir(dir);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    char dir[64];
    if (e2e_tmpdir(dir, sizeof dir) != 0 || e2e_start(&srv, dir) != 0) {
        check_record("server starts", 0);
        return check_summary();
    }
    RUN(test_health);
    RUN(test_sample_conversation);
    RUN(test_paraphrases_ask_for_email);
    RUN(test_ticket_status_tool);
    RUN(test_streaming_reply);
    RUN(test_streamed_error_event);
    RUN(test_error_malformed_json);
    RUN(test_error_missing_message);
    RUN(test_error_empty_message);
    RUN(test_error_message_not_string);
    RUN(test_error_overlong_message);
    RUN(test_error_bad_session_id);
    RUN(test_error_invalid_utf8);
    RUN(test_error_unknown_field);
    RUN(test_error_unknown_session);
    RUN(test_error_unknown_ticket);
    RUN(test_error_unknown_route);
    RUN(test_error_wrong_method);
    RUN(test_error_body_too_large);
    RUN(test_error_wrong_content_type);
    RUN(test_hostile_bodies);
    RUN(test_session_ids_unique);
    RUN(test_restart_keeps_sessions);
    int code = e2e_stop(&srv);
    check_record("server exits 0 on SIGTERM", code == 0);
    e2e_rmdir(dir);
    curl_global_cleanup();
    return check_summary();
}
