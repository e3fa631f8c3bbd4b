/*
 * test_e2e_identity.c - verified customers against the real binary (issue 14): with
 * PARLEY_USER_JWT_SECRET the customer is the `sub` of `Authorization: Bearer <JWT>`, a body userId
 * without a valid token is 401, and a session, its transcript and its tickets belong to the `sub`
 * that created it (404 to anyone else). In demo mode a continuation or transcript read must name
 * the session's userId, and `parley serve` refuses a non-loopback address unless
 * PARLEY_INSECURE_DEMO=1.
 */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <time.h>

#include "check.h"
#include "e2e/e2e.h"
#include "edge/jwt.h"

static struct e2e_server srv;
static char dir[64];

/* An HS256 token for sub, valid from now for ttl seconds (negative: already expired). */
static char *mint(const char *secret, const char *sub, long ttl)
{
    const char *header = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    char claims[300];
    long now = (long)time(NULL);
    snprintf(claims, sizeof claims, "{\"sub\":\"%s\",\"iat\":%ld,\"exp\":%ld}", sub, now, now + ttl);
    char *h = jwt_b64url_encode((const unsigned char *)header, strlen(header));
    char *c = jwt_b64url_encode((const unsigned char *)claims, strlen(claims));
    char input[1024];
    snprintf(input, sizeof input, "%s.%s", h, c);
    unsigned char mac[32];
    unsigned int n = 0;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (unsigned char *)input, strlen(input), mac, &n);
    char *s = jwt_b64url_encode(mac, n);
    char *out = malloc(2048);
    snprintf(out, 2048, "Authorization: Bearer %s.%s", input, s);
    free(h);
    free(c);
    free(s);
    return out;
}

/* An RS256 token for sub signed with key. */
static char *mint_rs256(EVP_PKEY *key, const char *sub)
{
    const char *header = "{\"alg\":\"RS256\"}";
    char claims[300];
    long now = (long)time(NULL);
    snprintf(claims, sizeof claims, "{\"sub\":\"%s\",\"exp\":%ld}", sub, now + 600);
    char *h = jwt_b64url_encode((const unsigned char *)header, strlen(header));
    char *c = jwt_b64url_encode((const unsigned char *)claims, strlen(claims));
    char input[1024];
    snprintf(input, sizeof input, "%s.%s", h, c);
    unsigned char sig[512];
    size_t n = sizeof sig;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key);
    EVP_DigestSign(md, sig, &n, (unsigned char *)input, strlen(input));
    EVP_MD_CTX_free(md);
    char *s = jwt_b64url_encode(sig, n);
    char *out = malloc(2048);
    snprintf(out, 2048, "Authorization: Bearer %s.%s", input, s);
    free(h);
    free(c);
    free(s);
    return out;
}

static struct e2e_resp post_chat(const char *body, const char *auth)
{
    return e2e_http_ex(&srv, "POST", "/chat", body, -1, NULL, auth);
}

static struct e2e_resp get(const char *path, const char *auth)
{
    return e2e_http_ex(&srv, "GET", path, NULL, 0, NULL, auth);
}

/* ---------------------------------------------------------------- verified mode */

static void test_verified_customers(void)
{
    char *alice = mint("s3cret", "alice", 600), *bob = mint("s3cret", "bob", 600);
    char *forged = mint("not-the-secret", "alice", 600), *expired = mint("s3cret", "alice", -120);
    const char *op = "Authorization: Bearer op-token";

    /* A body userId is no longer believed. */
    struct e2e_resp r = post_chat("{\"userId\":\"alice\",\"message\":\"list my tickets\"}", NULL);
    CHECK_INT(r.status, 401);
    CHECK_STR(e2e_str(&r, "error.code"), "Unauthorized");
    CHECK(strstr(e2e_str(&r, "error.message"), "token") != NULL);
    e2e_resp_free(&r);
    r = post_chat("{\"message\":\"hello\"}", forged);
    CHECK_INT(r.status, 401);
    CHECK(strstr(e2e_str(&r, "error.message"), "signature") != NULL);
    e2e_resp_free(&r);
    r = post_chat("{\"message\":\"hello\"}", expired);
    CHECK_INT(r.status, 401);
    CHECK(strstr(e2e_str(&r, "error.message"), "expired") != NULL);
    e2e_resp_free(&r);
    r = post_chat("{\"message\":\"hello\"}", "Authorization: Bearer eyJhbGciOiJub25lIn0.e30.");
    CHECK_INT(r.status, 401);
    e2e_resp_free(&r);
    r = post_chat("{\"userId\":\"bob\",\"message\":\"hello\"}", alice);
    CHECK_INT(r.status, 401);
    CHECK(strstr(e2e_str(&r, "error.message"), "does not match") != NULL);
    e2e_resp_free(&r);

    /* Alice's session: hers alone. */
    r = post_chat("{\"message\":\"I can't log into my account\"}", alice);
    CHECK_INT(r.status, 200);
    char sid[80], body[256], path[256], ticket[32] = "";
    snprintf(sid, sizeof sid, "%s", e2e_str(&r, "sessionId"));
    e2e_resp_free(&r);
    snprintf(body, sizeof body, "{\"sessionId\":\"%s\",\"message\":\"It's alice@example.com\"}",
             sid);
    r = post_chat(body, alice);
    CHECK_INT(r.status, 200);
    snprintf(ticket, sizeof ticket, "%s", e2e_str(&r, "actions.0.result.ticketId"));
    CHECK(strncmp(ticket, "TKT-", 4) == 0);
    e2e_resp_free(&r);
    const char *others[] = {NULL, "bob"};
    for (int i = 0; i < 2; i++) {
        const char *who = others[i] ? bob : NULL;
        r = post_chat(body, who);
        CHECK_INT(r.status, 404);
        CHECK_STR(e2e_str(&r, "error.code"), "NotFound");
        e2e_resp_free(&r);
        snprintf(path, sizeof path, "/sessions/%s", sid);
        r = get(path, who);
        CHECK_INT(r.status, 404);
        e2e_resp_free(&r);
        snprintf(path, sizeof path, "/tickets/%s?sessionId=%s", ticket, sid);
        r = get(path, who);
        CHECK_INT(r.status, 404);
        e2e_resp_free(&r);
    }
    snprintf(path, sizeof path, "/sessions/%s?userId=alice", sid); /* a claim is not a token */
    r = get(path, NULL);
    CHECK_INT(r.status, 401);
    e2e_resp_free(&r);
    snprintf(path, sizeof path, "/sessions/%s", sid);
    r = get(path, alice);
    CHECK_INT(r.status, 200);
    CHECK_STR(e2e_str(&r, "userId"), "alice");
    e2e_resp_free(&r);
    r = get(path, op);
    CHECK_INT(r.status, 200);
    e2e_resp_free(&r);
    snprintf(path, sizeof path, "/tickets/%s?sessionId=%s", ticket, sid);
    r = get(path, alice);
    CHECK_INT(r.status, 200);
    CHECK_STR(e2e_str(&r, "id"), ticket);
    e2e_resp_free(&r);
    snprintf(body, sizeof body, "{\"sessionId\":\"%s\",\"message\":\"thanks\"}", sid);
    r = post_chat(body, alice);
    CHECK_INT(r.status, 200);
    e2e_resp_free(&r);

    /* An anonymous visitor still chats; the session id is the key to their own transcript. */
    r = post_chat("{\"message\":\"hello\"}", NULL);
    CHECK_INT(r.status, 200);
    snprintf(sid, sizeof sid, "%s", e2e_str(&r, "sessionId"));
    CHECK(strncmp(e2e_str(&r, "reply"), "", 1) != 0);
    e2e_resp_free(&r);
    snprintf(path, sizeof path, "/sessions/%s", sid);
    r = get(path, NULL);
    CHECK_INT(r.status, 200);
    e2e_resp_free(&r);
    free(alice);
    free(bob);
    free(forged);
    free(expired);
}

/* RS256 with the public key in a PEM file: the site keeps the private key. */
static void test_rs256_key_file(void)
{
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    char pem[128], data[128], setting[200];
    snprintf(pem, sizeof pem, "%s/public.pem", dir);
    snprintf(data, sizeof data, "%s/rs256", dir);
    FILE *f = fopen(pem, "w");
    CHECK(key && f && PEM_write_PUBKEY(f, key) == 1);
    if (f)
        fclose(f);
    snprintf(setting, sizeof setting, "PARLEY_USER_JWT_PUBLIC_KEY=%s", pem);
    const char *env[] = {setting, NULL};
    if (!check_require("server (RS256) starts", e2e_start_env(&srv, data, env) == 0)) {
        EVP_PKEY_free(key);
        return;
    }
    char *carol = mint_rs256(key, "carol");
    struct e2e_resp r = post_chat("{\"message\":\"hello\"}", carol);
    CHECK_INT(r.status, 200);
    char path[128];
    snprintf(path, sizeof path, "/sessions/%s", e2e_str(&r, "sessionId"));
    e2e_resp_free(&r);
    r = get(path, carol);
    CHECK_INT(r.status, 200);
    CHECK_STR(e2e_str(&r, "userId"), "carol");
    e2e_resp_free(&r);
    /* HS256 signed with the public key's PEM as the secret: algorithm confusion, refused. */
    char *pem_text = NULL;
    {
        FILE *pf = fopen(pem, "r");
        pem_text = calloc(1, 4096);
        if (pf) {
            size_t got = fread(pem_text, 1, 4095, pf);
            pem_text[got] = '\0';
            fclose(pf);
        }
    }
    char *forged = mint(pem_text, "carol", 600);
    r = post_chat("{\"message\":\"hello\"}", forged);
    CHECK_INT(r.status, 401);
    e2e_resp_free(&r);
    CHECK_INT(e2e_stop(&srv), 0);
    free(pem_text);
    free(forged);
    free(carol);
    EVP_PKEY_free(key);
}

/* ---------------------------------------------------------------- demo mode */

static void test_demo_owner_checks(void)
{
    struct e2e_resp r = post_chat("{\"userId\":\"alice\",\"message\":\"hello\"}", NULL);
    CHECK_INT(r.status, 200);
    char sid[80], body[256], path[256];
    snprintf(sid, sizeof sid, "%s", e2e_str(&r, "sessionId"));
    e2e_resp_free(&r);
    /* Leaving userId out no longer skips the owner check. */
    snprintf(body, sizeof body, "{\"sessionId\":\"%s\",\"message\":\"hi again\"}", sid);
    r = post_chat(body, NULL);
    CHECK_INT(r.status, 404);
    e2e_resp_free(&r);
    snprintf(body, sizeof body, "{\"sessionId\":\"%s\",\"userId\":\"alice\",\"message\":\"hi\"}",
             sid);
    r = post_chat(body, NULL);
    CHECK_INT(r.status, 200);
    e2e_resp_free(&r);
    /* The transcript needs the owner's userId, or the operator token. */
    const char *q[] = {"", "?userId=bob"};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "/sessions/%s%s", sid, q[i]);
        r = get(path, NULL);
        CHECK_INT(r.status, 404);
        e2e_resp_free(&r);
    }
    snprintf(path, sizeof path, "/sessions/%s?userId=alice", sid);
    r = get(path, NULL);
    CHECK_INT(r.status, 200);
    CHECK_STR(e2e_str(&r, "userId"), "alice");
    e2e_resp_free(&r);
    snprintf(path, sizeof path, "/sessions/%s", sid);
    r = get(path, "Authorization: Bearer op-token");
    CHECK_INT(r.status, 200);
    e2e_resp_free(&r);
}

/* ---------------------------------------------------------------- start-up */

struct run {
    pid_t pid;
    int status;
    int exited;
};

static int run_exited(void *ud)
{
    struct run *r = ud;
    if (!r->exited && waitpid(r->pid, &r->status, WNOHANG) == r->pid)
        r->exited = 1;
    return r->exited;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = calloc(1, 1 << 16);
    size_t n = f ? fread(buf, 1, (1 << 16) - 1, f) : 0;
    buf[n] = '\0';
    if (f)
        fclose(f);
    return buf;
}

struct logwait {
    const char *log;
    const char *needle;
};

static int log_has(void *ud)
{
    struct logwait *w = ud;
    char *text = slurp(w->log);
    int found = strstr(text, w->needle) != NULL;
    free(text);
    return found;
}

/* Starts `parley serve --bind BIND --port 0` with extra "K=V" (may be NULL). */
static pid_t serve_at(const char *bind, const char *extra, const char *log, const char *data)
{
    const char *bin = getenv("PARLEY_BIN") ? getenv("PARLEY_BIN") : "build/san/parley";
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        unsetenv("PARLEY_USER_JWT_SECRET");
        unsetenv("PARLEY_INSECURE_DEMO");
        if (extra)
            putenv((char *)extra);
        execl(bin, bin, "serve", "--bind", bind, "--port", "0", "--data", data, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static void test_demo_bind_refusal(void)
{
    char log[128], data[128];
    snprintf(log, sizeof log, "%s/wide.log", dir);
    snprintf(data, sizeof data, "%s/wide-data", dir);
    struct run r = {.pid = serve_at("0.0.0.0", NULL, log, data)};
    CHECK(check_wait(run_exited, &r, 20000));
    if (!r.exited) {
        kill(r.pid, SIGKILL);
        waitpid(r.pid, &r.status, 0);
    }
    CHECK(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 1);
    char *out = slurp(log);
    CHECK(strstr(out, "refusing to listen on '0.0.0.0' in demo mode") != NULL);
    CHECK(strstr(out, "listening on") == NULL);
    free(out);

    /* PARLEY_INSECURE_DEMO=1 allows it, with the warning. */
    snprintf(log, sizeof log, "%s/wide2.log", dir);
    struct run r2 = {.pid = serve_at("0.0.0.0", "PARLEY_INSECURE_DEMO=1", log, data)};
    struct logwait w = {log, "listening on http://0.0.0.0:"};
    CHECK(check_wait(log_has, &w, 20000));
    kill(r2.pid, SIGTERM);
    waitpid(r2.pid, &r2.status, 0);
    out = slurp(log);
    CHECK(strstr(out, "demo mode: customers are not verified") != NULL);
    free(out);
}

/* Edge settings that cannot be used stop the start-up with a message naming them. */
static void test_bad_edge_settings(void)
{
    const char *cases[][2] = {
        {"PARLEY_USER_JWT_PUBLIC_KEY=/nonexistent/key.pem",
         "cannot open PARLEY_USER_JWT_PUBLIC_KEY file '/nonexistent/key.pem'"},
        {"PARLEY_USER_JWT_PUBLIC_KEY=-----BEGIN PUBLIC KEY-----\nxx\n-----END PUBLIC KEY-----",
         "PARLEY_USER_JWT_PUBLIC_KEY is not a PEM public key"},
        {"PARLEY_ALLOWED_ORIGINS=https://ok.example,ftp://x", "PARLEY_ALLOWED_ORIGINS entry 'ftp://x'"},
        {"PARLEY_TRUSTED_PROXIES=10.0.0.0/40", "PARLEY_TRUSTED_PROXIES entry '10.0.0.0/40'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char log[128], data[128];
        snprintf(log, sizeof log, "%s/bad%zu.log", dir, i);
        snprintf(data, sizeof data, "%s/bad-data", dir);
        struct run r = {.pid = serve_at("127.0.0.1", cases[i][0], log, data)};
        CHECK(check_wait(run_exited, &r, 20000));
        if (!r.exited) {
            kill(r.pid, SIGKILL);
            waitpid(r.pid, &r.status, 0);
        }
        CHECK(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 1);
        char *out = slurp(log);
        if (!strstr(out, cases[i][1]))
            fprintf(stderr, "  expected '%s' in:\n%s\n", cases[i][1], out);
        CHECK(strstr(out, cases[i][1]) != NULL);
        CHECK(strstr(out, "listening on") == NULL);
        free(out);
    }
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (!check_require("a temporary directory", e2e_tmpdir(dir, sizeof dir) == 0))
        return check_summary();
    char data[128];
    snprintf(data, sizeof data, "%s/verified", dir);
    const char *env[] = {"PARLEY_USER_JWT_SECRET=s3cret", "PARLEY_OPERATOR_TOKEN=op-token",
                         "PARLEY_RATE_LIMIT_PER_MIN=0", "PARLEY_SESSION_RATE_LIMIT_PER_MIN=0",
                         NULL};
    if (check_require("server (verified) starts", e2e_start_env(&srv, data, env) == 0)) {
        RUN(test_verified_customers);
        CHECK_INT(e2e_stop(&srv), 0);
    }
    snprintf(data, sizeof data, "%s/demo", dir);
    const char *demo_env[] = {"PARLEY_OPERATOR_TOKEN=op-token", NULL};
    if (check_require("server (demo) starts", e2e_start_env(&srv, data, demo_env) == 0)) {
        RUN(test_demo_owner_checks);
        CHECK_INT(e2e_stop(&srv), 0);
    }
    RUN(test_rs256_key_file);
    RUN(test_demo_bind_refusal);
    RUN(test_bad_edge_settings);
    e2e_rmdir(dir);
    curl_global_cleanup();
    return check_summary();
}
