/*
 * test_e2e_chat_cli.c - `parley chat` as a terminal client, driven through stdin: against a fake
 * server it asks for text/event-stream and prints deltas, action chips and named operator
 * messages from the SSE events; against `parley serve` it holds a conversation, shows a human
 * operator's reply, and /history, /new and /quit work; with no server it says so and never
 * claims "Connected".
 */
#include "check.h"
#include "e2e/e2e.h"
#include "fakes/fake_http.h"

static char out[1 << 16];

static void test_server_down(void)
{
    int rc = e2e_run_parley("chat --url http://127.0.0.1:1", "hello\n", out, sizeof out);
    CHECK_INT(rc, 1);
    CHECK(strstr(out, "no Parley server at http://127.0.0.1:1") != NULL);
    CHECK(strstr(out, "Connected") == NULL);
}

static void test_stream_from_fake(void)
{
    struct fake_http f;
    CHECK_INT(fake_http_start(&f), 0);
    fake_http_push(&f, 200, "Content-Type: application/json\n", "{\"status\":\"ok\"}", (size_t)-1,
                   0);
    fake_http_push(
        &f, 200, "Content-Type: text/event-stream\n",
        "event: delta\ndata: {\"text\":\"Your ticket \"}\n\n"
        "event: action\ndata: {\"id\":\"a1\",\"tool\":\"create_support_ticket\",\"input\":"
        "{\"priority\":\"high\"},\"status\":\"succeeded\",\"result\":{}}\n\n"
        "event: delta\ndata: {\"text\":\"is TKT-000007.\"}\n\n"
        "event: done\ndata: {\"sessionId\":\"S1\",\"reply\":\"Your ticket is TKT-000007.\","
        "\"operatorMessages\":[{\"name\":\"Alice\",\"content\":\"I am looking at it.\","
        "\"timestamp\":\"2026-12-04T16:00:00.000Z\"},{\"content\":\"Anonymous note\"}]}\n\n",
        (size_t)-1, 0);
    char args[160];
    snprintf(args, sizeof args, "chat --url %s", f.base_url);
    int rc = e2e_run_parley(args, "help me\n", out, sizeof out);
    CHECK_INT(rc, 0);
    CHECK(strstr(out, "Connected to") != NULL);
    CHECK(strstr(out, "agent> Your ticket \n  [create_support_ticket succeeded "
                      "{\"priority\":\"high\"}]\nagent> is TKT-000007.\n") != NULL);
    CHECK(strstr(out, "Alice (operator)> I am looking at it.\n") != NULL);
    CHECK(strstr(out, "operator> Anonymous note\n") != NULL);
    CHECK(strstr(out, "(session S1)") != NULL);
    const struct fake_request *r = fake_http_request(&f, 1);
    CHECK(r != NULL);
    if (r) {
        CHECK_STR(r->target, "/chat");
        CHECK_STR(fake_header(r, "accept"), "text/event-stream");
    }
    fake_http_stop(&f);
}

/* Returns the session id printed as "(session ID)" in text, in a static buffer, or "". */
static const char *session_in(const char *text)
{
    static char id[64];
    const char *p = strstr(text, "(session ");
    id[0] = '\0';
    if (p)
        sscanf(p + 9, "%63[^)]", id);
    return id;
}

static void test_against_serve(void)
{
    struct e2e_server srv;
    char dir[64];
    static const char *const env[] = {"PARLEY_OPERATOR_TOKEN=op-token", NULL};
    if (e2e_tmpdir(dir, sizeof dir) != 0 || e2e_start_env(&srv, dir, env) != 0) {
        CHECK(0);
        return;
    }
    char args[300];
    snprintf(args, sizeof args, "chat --url %s", srv.url);
    int rc = e2e_run_parley(args,
                        "I can't log into my account\nIt's jane.doe@example.com\n/history\n/quit\n"
                        "never sent\n",
                        out, sizeof out);
    CHECK_INT(rc, 0);
    CHECK(strstr(out, "[create_support_ticket succeeded") != NULL);
    CHECK(strstr(out, "TKT-") != NULL);
    CHECK(strstr(out, "you> I can't log into my account\n") != NULL); /* /history */
    CHECK(strstr(out, "never sent") == NULL);                         /* /quit */
    char session[64];
    snprintf(session, sizeof session, "%s", session_in(out));
    CHECK(session[0] != '\0');

    /* A human operator writes; the customer sees it on the next message. */
    char path[128];
    snprintf(path, sizeof path, "/sessions/%s/messages", session);
    struct e2e_resp r = e2e_http_ex(&srv, "POST", path,
                                    "{\"role\":\"operator\",\"name\":\"Sam\",\"content\":\"Hi, "
                                    "Sam from support here.\"}",
                                    -1, NULL, "Authorization: Bearer op-token");
    CHECK_INT(r.status, 201);
    e2e_resp_free(&r);
    snprintf(args, sizeof args, "chat --url %s --session %s", srv.url, session);
    rc = e2e_run_parley(args, "thanks\n/history\n", out, sizeof out);
    CHECK_INT(rc, 0);
    const char *shown = strstr(out, "Sam (operator)> Hi, Sam from support here.\n");
    CHECK(shown != NULL);
    /* and /history shows it again, with the name the server kept */
    CHECK(shown && strstr(shown + 1, "Sam (operator)> Hi, Sam from support here.\n") != NULL);
    /* a name that is not a short string is refused */
    r = e2e_http_ex(&srv, "POST", path, "{\"role\":\"operator\",\"name\":7,\"content\":\"x\"}", -1,
                    NULL, "Authorization: Bearer op-token");
    CHECK_INT(r.status, 400);
    e2e_resp_free(&r);

    /* /new starts another session. */
    snprintf(args, sizeof args, "chat --url %s", srv.url);
    rc = e2e_run_parley(args, "hello\n/new\nhello again\n", out, sizeof out);
    CHECK_INT(rc, 0);
    char first[64];
    snprintf(first, sizeof first, "%s", session_in(out));
    const char *second = strstr(out, "(new conversation)");
    CHECK(second != NULL);
    if (second) {
        CHECK(session_in(second)[0] != '\0');
        CHECK(strcmp(session_in(second), first) != 0);
    }
    CHECK_INT(e2e_stop(&srv), 0);
    e2e_rmdir(dir);
}

int main(void)
{
    RUN(test_server_down);
    RUN(test_stream_from_fake);
    RUN(test_against_serve);
    return check_summary();
}
