/*
 * test_e2e_tool_limits.c - what bounds and steers a tool call, against the real binary:
 * - the turn's deadline (PARLEY_TURN_TIMEOUT_MS): an MCP tool that never answers
 *   (tests/fakes/mcp_tools_server.py slow) is cancelled at the deadline, not at its own much
 *   longer timeout_ms; the server records the notifications/cancelled and the turn ends with a
 *   failed ToolTimeout action and a reply;
 * - a verified email (the token's `email` claim) is the email of a ticket, whatever address the
 *   customer or the model typed; without the claim the typed one is kept;
 * - a pending confirmation is part of GET /sessions/{id}, so a reloaded page can ask again;
 * - an optional MCP server that is down at start is retried in the background and its tools
 *   appear without a restart.
 */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <time.h>

#include "check.h"
#include "e2e/e2e.h"
#include "edge/jwt.h"

static char dir[64];
static struct e2e_server srv;
static char record[128]; /* what the fake MCP server recorded */

static const char *src(void)
{
    return getenv("PARLEY_SRC") ? getenv("PARLEY_SRC") : ".";
}

static struct e2e_resp chat(const struct e2e_server *s, const char *sid, const char *text,
                            const char *auth)
{
    json_t *body = json_pack("{s:s}", "message", text);
    if (sid && sid[0])
        json_object_set_new(body, "sessionId", json_string(sid));
    char *b = json_dumps(body, JSON_COMPACT);
    struct e2e_resp r = e2e_http_ex(s, "POST", "/chat", b, -1, NULL, auth);
    free(b);
    json_decref(body);
    return r;
}

static int cancel_recorded(void *ud)
{
    (void)ud;
    FILE *f = fopen(record, "r");
    char line[512];
    int found = 0;
    while (f && fgets(line, sizeof line, f))
        found |= strstr(line, "\"cancelled\"") != NULL;
    if (f)
        fclose(f);
    return found;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------------------- the turn's deadline */

static void test_mcp_cancelled_at_deadline(void)
{
    const struct e2e_server *s = &srv;
    long long t0 = now_ms();
    struct e2e_resp r = chat(s, NULL, "how many brake pads are in stock", NULL);
    long long took = now_ms() - t0;
    CHECK_INT(r.status, 200);
    CHECK_STR(e2e_str(&r, "actions.0.tool"), "stock__slow");
    CHECK_STR(e2e_str(&r, "actions.0.status"), "failed");
    CHECK_STR(e2e_str(&r, "actions.0.result.error.code"), "ToolTimeout");
    const char *msg = e2e_str(&r, "actions.0.result.error.message");
    CHECK(msg && strstr(msg, "time limit") != NULL);
    const char *reply = e2e_str(&r, "reply");
    CHECK(reply && reply[0]);
    /* The deadline is 1500 ms; the tool's own timeout_ms is 30000. */
    CHECK(took >= 1000 && took < 15000);
    fprintf(stderr, "# turn with a never-answering MCP tool took %lld ms (deadline 1500 ms, "
                    "tool timeout 30000 ms)\n", took);
    if (r.status != 200 || !msg)
        fprintf(stderr, "# body: %s\n", r.body ? r.body : "");
    e2e_resp_free(&r);
    CHECK(check_wait(cancel_recorded, NULL, 10000));
}

/* ---------------------------------------------------------------- confirmation after a reload */

static void test_confirmation_in_session(void)
{
    const struct e2e_server *s = &srv;
    struct e2e_resp r = chat(s, NULL, "I want to reserve a table for dinner", NULL);
    CHECK_INT(r.status, 200);
    if (!e2e_str(&r, "reply") || !strstr(e2e_str(&r, "reply"), "please confirm"))
        fprintf(stderr, "# body: %s\n", r.body ? r.body : "");
    char sid[80], path[160];
    snprintf(sid, sizeof sid, "%s", e2e_str(&r, "sessionId"));
    CHECK(strstr(e2e_str(&r, "reply"), "please confirm") != NULL);
    e2e_resp_free(&r);
    snprintf(path, sizeof path, "/sessions/%s", sid);
    r = e2e_http(s, "GET", path, NULL);
    CHECK_INT(r.status, 200);
    CHECK_STR(e2e_str(&r, "confirmation.tool"), "reserve_table");
    const char *prompt = e2e_str(&r, "confirmation.prompt");
    CHECK(prompt && strstr(prompt, "please confirm") != NULL);
    e2e_resp_free(&r);
    /* Answered: nothing is pending any more. */
    r = chat(s, sid, "no", NULL);
    CHECK_INT(r.status, 200);
    CHECK_STR(e2e_str(&r, "actions.0.status"), "declined");
    e2e_resp_free(&r);
    r = e2e_http(s, "GET", path, NULL);
    CHECK_INT(r.status, 200);
    CHECK(r.body && strstr(r.body, "\"confirmation\"") == NULL);
    e2e_resp_free(&r);
}

/* ---------------------------------------------------------------- optional MCP retried */

static char late_script[160]; /* the MCP server's script: absent at start */

static int retried(void *ud)
{
    const struct e2e_server *s = ud;
    char log[300], line[1024];
    snprintf(log, sizeof log, "%s/server.log", s->dir);
    FILE *f = fopen(log, "r");
    int found = 0;
    while (f && fgets(line, sizeof line, f))
        found |= strstr(line, "optional MCP server is reachable now") != NULL;
    if (f)
        fclose(f);
    return found;
}

static void test_optional_mcp_retried(void)
{
    const struct e2e_server *s = &srv;
    struct e2e_resp r = chat(s, NULL, "how many brake pads are in stock", NULL);
    CHECK_INT(r.status, 200);
    const char *tool = e2e_str(&r, "actions.0.tool");
    CHECK(!tool || strcmp(tool, "late__slow") != 0); /* not there yet */
    e2e_resp_free(&r);
    /* The server comes up: the script appears. */
    char src_path[300], cmd[800];
    snprintf(src_path, sizeof src_path, "%s/tests/fakes/mcp_tools_server.py", src());
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", src_path, late_script);
    CHECK_INT(system(cmd), 0);
    CHECK(check_wait(retried, (void *)s, 30000));
    r = chat(s, NULL, "how many brake pads are in stock", NULL);
    CHECK_INT(r.status, 200);
    CHECK_STR(e2e_str(&r, "actions.0.tool"), "late__slow");
    e2e_resp_free(&r);
}

/* ---------------------------------------------------------------- verified email */

/* An HS256 token header line for sub, with an email claim unless email is NULL. */
static char *token(const char *sub, const char *email)
{
    const char *header = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    char claims[400], signing[1200];
    long now = (long)time(NULL);
    if (email)
        snprintf(claims, sizeof claims, "{\"sub\":\"%s\",\"email\":\"%s\",\"exp\":%ld}", sub,
                 email, now + 600);
    else
        snprintf(claims, sizeof claims, "{\"sub\":\"%s\",\"exp\":%ld}", sub, now + 600);
    char *h = jwt_b64url_encode((const unsigned char *)header, strlen(header));
    char *c = jwt_b64url_encode((const unsigned char *)claims, strlen(claims));
    snprintf(signing, sizeof signing, "%s.%s", h, c);
    unsigned char mac[32];
    unsigned int n = 0;
    HMAC(EVP_sha256(), "k3y", 3, (const unsigned char *)signing, strlen(signing), mac, &n);
    char *sig = jwt_b64url_encode(mac, n);
    char *line = malloc(2048);
    snprintf(line, 2048, "Authorization: Bearer %s.%s", signing, sig);
    free(h);
    free(c);
    free(sig);
    return line;
}

/* Opens a ticket as the token's customer, typing typed as their address; returns the email
 * the ticket was stored with (copied into out, "" on failure). */
static void ticket_email(const struct e2e_server *s, const char *auth, const char *typed,
                         char *out, size_t len)
{
    out[0] = '\0';
    struct e2e_resp r = chat(s, NULL, "I can't log into my account", auth);
    CHECK_INT(r.status, 200);
    char sid[80], text[160], path[200], ticket[40];
    snprintf(sid, sizeof sid, "%s", e2e_str(&r, "sessionId") ? e2e_str(&r, "sessionId") : "");
    e2e_resp_free(&r);
    snprintf(text, sizeof text, "It's %s", typed);
    r = chat(s, sid, text, auth);
    CHECK_INT(r.status, 200);
    const char *t = e2e_str(&r, "actions.0.result.ticketId");
    snprintf(ticket, sizeof ticket, "%s", t ? t : "");
    CHECK(strncmp(ticket, "TKT-", 4) == 0);
    e2e_resp_free(&r);
    snprintf(path, sizeof path, "/tickets/%s?sessionId=%s", ticket, sid);
    r = e2e_http_ex(s, "GET", path, NULL, 0, NULL, auth);
    CHECK_INT(r.status, 200);
    const char *e = e2e_str(&r, "email");
    snprintf(out, len, "%s", e ? e : "");
    e2e_resp_free(&r);
}

static void test_verified_email(void)
{
    const struct e2e_server *s = &srv;
    char got[300];
    char *alice = token("alice", "alice@shop.example");
    ticket_email(s, alice, "ceo@victim.example", got, sizeof got);
    CHECK_STR(got, "alice@shop.example");
    char *bob = token("bob", NULL);
    ticket_email(s, bob, "bob@home.example", got, sizeof got);
    CHECK_STR(got, "bob@home.example");
    /* The body cannot claim an email: only a token carries it. */
    struct e2e_resp r = e2e_http_ex(s, "POST", "/chat",
                                    "{\"message\":\"hi\",\"email\":\"ceo@victim.example\"}", -1,
                                    NULL, bob);
    CHECK_INT(r.status, 400);
    e2e_resp_free(&r);
    free(alice);
    free(bob);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (!check_require("a temporary directory", e2e_tmpdir(dir, sizeof dir) == 0))
        return check_summary();
    char agent[128], data[128];
    snprintf(record, sizeof record, "%s/mcp-record.jsonl", dir);
    snprintf(agent, sizeof agent, "%s/agent.yaml", dir);
    FILE *f = fopen(agent, "w");
    if (!check_require("the agent file", f != NULL))
        return check_summary();
    fprintf(f,
            "name: Limits\ninstructions: Help the customer.\n"
            "tools:\n  builtin: [escalate_to_human]\n"
            "  http:\n"
            "    - name: reserve_table\n"
            "      description: Reserve a table at the restaurant.\n"
            "      input_schema: {type: object}\n"
            "      url: http://127.0.0.1:9/tables\n"
            "      method: POST\n"
            "      confirm: true\n"
            "      examples: [reserve a table for dinner, book a table tonight, I want to reserve a "
            "table, table reservation for two please]\n"
            "  mcp:\n"
            "    - name: stock\n"
            "      command: [python3, '%s/tests/fakes/mcp_tools_server.py', slow]\n"
            "      env: {MCP_TOOLS_RECORD: '%s'}\n"
            "      timeout_ms: 30000\n"
            "      tools:\n"
            "        slow:\n"
            "          examples: [how many brake pads are in stock, is this part in stock, "
            "check the stock level, do you have chains in stock]\n",
            src(), record);
    fclose(f);
    static char e_agent[200];
    snprintf(e_agent, sizeof e_agent, "PARLEY_AGENT=%s", agent);
    const char *env[] = {"PARLEY_MODEL=offline", e_agent, "PARLEY_TURN_TIMEOUT_MS=1500",
                         "PARLEY_RATE_LIMIT_PER_MIN=0", "PARLEY_SESSION_RATE_LIMIT_PER_MIN=0",
                         NULL};
    snprintf(data, sizeof data, "%s/limits", dir);
    if (check_require("server (agent file) starts", e2e_start_env(&srv, data, env) == 0)) {
        RUN(test_mcp_cancelled_at_deadline);
        RUN(test_confirmation_in_session);
        CHECK_INT(e2e_stop(&srv), 0);
    }
    /* An optional MCP server whose script does not exist yet. */
    snprintf(late_script, sizeof late_script, "%s/late_mcp.py", dir);
    snprintf(agent, sizeof agent, "%s/late.yaml", dir);
    f = fopen(agent, "w");
    if (!check_require("the late agent file", f != NULL))
        return check_summary();
    fprintf(f,
            "name: Late\ninstructions: Help the customer.\n"
            "tools:\n  builtin: [escalate_to_human]\n"
            "  mcp:\n"
            "    - name: late\n"
            "      command: [python3, '%s', slow]\n"
            "      optional: true\n"
            "      tools:\n"
            "        slow:\n"
            "          examples: [how many brake pads are in stock, is this part in stock, "
            "check the stock level, do you have chains in stock]\n",
            late_script);
    fclose(f);
    const char *env_late[] = {"PARLEY_MODEL=offline", e_agent, "PARLEY_TURN_TIMEOUT_MS=1000",
                              "PARLEY_MCP_RETRY_MS=100", "PARLEY_RATE_LIMIT_PER_MIN=0",
                              "PARLEY_SESSION_RATE_LIMIT_PER_MIN=0", NULL};
    snprintf(e_agent, sizeof e_agent, "PARLEY_AGENT=%s", agent);
    snprintf(data, sizeof data, "%s/late", dir);
    if (check_require("server (optional MCP down) starts",
                      e2e_start_env(&srv, data, env_late) == 0)) {
        RUN(test_optional_mcp_retried);
        CHECK_INT(e2e_stop(&srv), 0);
    }
    const char *env_jwt[] = {"PARLEY_USER_JWT_SECRET=k3y", "PARLEY_RATE_LIMIT_PER_MIN=0",
                             "PARLEY_SESSION_RATE_LIMIT_PER_MIN=0", NULL};
    snprintf(data, sizeof data, "%s/verified", dir);
    if (check_require("server (verified) starts", e2e_start_env(&srv, data, env_jwt) == 0)) {
        RUN(test_verified_email);
        CHECK_INT(e2e_stop(&srv), 0);
    }
    e2e_rmdir(dir);
    curl_global_cleanup();
    return check_summary();
}
