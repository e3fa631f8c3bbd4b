/*
 * test_e2e_operators.c - named operators against the real binary (issue 14): PARLEY_OPERATORS_FILE
 * beside PARLEY_OPERATOR_TOKEN, each operator signing in with their own token; operator messages
 * carry the signed-in name; messages, takeovers, releases, redrives and erasures land in the append-only
 * audit log (GET /audit: 401 without or with a bad token, 403 for role agent, newest first,
 * paginated) with the operator's name, an ISO 8601 time and the session only as its SHA-256.
 */
#include <openssl/sha.h>
#include <regex.h>
#include <sqlite3.h>

#include "check.h"
#include "e2e/e2e.h"

static struct e2e_server srv;
static char dir[64];

#define ALICE "Authorization: Bearer alice-secret-token"
#define BOB "Authorization: Bearer bob-secret-token"
#define SHARED "Authorization: Bearer shared-token"

static void sha256_hex(const char *s, char out[65])
{
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)s, strlen(s), d);
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static struct e2e_resp call(const char *method, const char *path, const char *body,
                            const char *auth)
{
    return e2e_http_ex(&srv, method, path, body, -1, NULL, auth);
}

static const char *entry_str(const json_t *entries, size_t i, const char *key)
{
    const char *v = json_string_value(json_object_get(json_array_get(entries, i), key));
    return v ? v : "(none)";
}

static void test_roles_and_audit(void)
{
    /* GET /audit: 401 without or with a bad token, 403 for an agent, 200 for an admin. */
    struct e2e_resp r = call("GET", "/audit", NULL, NULL);
    CHECK_INT(r.status, 401);
    CHECK_STR(e2e_str(&r, "error.code"), "Unauthorized");
    e2e_resp_free(&r);
    r = call("GET", "/audit", NULL, "Authorization: Bearer nope");
    CHECK_INT(r.status, 401);
    e2e_resp_free(&r);
    r = call("GET", "/audit", NULL, BOB);
    CHECK_INT(r.status, 403);
    CHECK_STR(e2e_str(&r, "error.code"), "Forbidden");
    e2e_resp_free(&r);
    r = call("GET", "/audit", NULL, ALICE);
    CHECK_INT(r.status, 200);
    CHECK_INT((int)json_array_size(json_object_get(r.json, "entries")), 0);
    e2e_resp_free(&r);
    /* Bob (agent) may use the other operator APIs; so may the shared token. */
    r = call("GET", "/sessions", NULL, BOB);
    CHECK_INT(r.status, 200);
    e2e_resp_free(&r);
    r = call("GET", "/sessions", NULL, SHARED);
    CHECK_INT(r.status, 200);
    e2e_resp_free(&r);

    /* A customer session, answered by Bob: the message carries his name, not the body's. */
    r = call("POST", "/chat", "{\"message\":\"hello\"}", NULL);
    CHECK_INT(r.status, 200);
    char sid[80], path[160], tag[65];
    snprintf(sid, sizeof sid, "%s", e2e_str(&r, "sessionId"));
    e2e_resp_free(&r);
    sha256_hex(sid, tag);
    snprintf(path, sizeof path, "/sessions/%s/messages", sid);
    r = call("POST", path, "{\"role\":\"operator\",\"content\":\"Bob here\",\"name\":\"Mallory\"}",
             BOB);
    CHECK_INT(r.status, 201);
    CHECK_STR(e2e_str(&r, "message.name"), "Bob");
    e2e_resp_free(&r);
    snprintf(path, sizeof path, "/sessions/%s", sid);
    r = call("GET", path, NULL, ALICE);
    CHECK_INT(r.status, 200);
    json_t *msgs = json_object_get(r.json, "messages");
    const char *shown = NULL;
    for (size_t i = 0; i < json_array_size(msgs); i++)
        if (strcmp(entry_str(msgs, i, "role"), "operator") == 0)
            shown = entry_str(msgs, i, "name");
    CHECK_STR(shown ? shown : "(no operator message)", "Bob");
    e2e_resp_free(&r);
    /* A failed action is not recorded. */
    r = call("POST", "/sessions/no-such-session/release", NULL, BOB);
    CHECK_INT(r.status, 404);
    e2e_resp_free(&r);

    /* Alice takes the session over: the agent stays silent until Bob releases it. */
    snprintf(path, sizeof path, "/sessions/%s/takeover", sid);
    r = call("POST", path, NULL, ALICE);
    CHECK_INT(r.status, 200);
    CHECK_STR(e2e_str(&r, "status"), "handoff");
    e2e_resp_free(&r);
    snprintf(path, sizeof path, "/sessions/%s", sid);
    r = call("GET", path, NULL, ALICE);
    CHECK_STR(e2e_str(&r, "status"), "handoff");
    e2e_resp_free(&r);
    snprintf(path, sizeof path, "/sessions/%s/release", sid);
    r = call("POST", path, NULL, BOB);
    CHECK_INT(r.status, 200);
    CHECK_STR(e2e_str(&r, "status"), "active");
    e2e_resp_free(&r);
    r = call("POST", "/queue/dlq/redrive", NULL, BOB);
    CHECK_INT(r.status, 200);
    e2e_resp_free(&r);
    snprintf(path, sizeof path, "/sessions/%s", sid);
    r = call("DELETE", path, NULL, ALICE);
    CHECK_INT(r.status, 204);
    e2e_resp_free(&r);
    r = call("DELETE", "/users/jane.doe", NULL, SHARED);
    CHECK_INT(r.status, 204);
    e2e_resp_free(&r);

    /* The log, newest first: one entry per action with who, role and when. */
    r = call("GET", "/audit", NULL, ALICE);
    CHECK_INT(r.status, 200);
    json_t *entries = json_object_get(r.json, "entries");
    CHECK_INT((int)json_array_size(entries), 6);
    const char *want[6][4] = {{"erase_user", "operator", "admin", NULL},
                              {"erase_session", "Alice", "admin", tag},
                              {"redrive", "Bob", "agent", NULL},
                              {"release", "Bob", "agent", tag},
                              {"takeover", "Alice", "admin", tag},
                              {"message", "Bob", "agent", tag}};
    regex_t iso;
    regcomp(&iso, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?Z$",
            REG_EXTENDED | REG_NOSUB);
    for (size_t i = 0; i < 6 && i < json_array_size(entries); i++) {
        CHECK_STR(entry_str(entries, i, "action"), want[i][0]);
        CHECK_STR(entry_str(entries, i, "operator"), want[i][1]);
        CHECK_STR(entry_str(entries, i, "role"), want[i][2]);
        CHECK_STR(entry_str(entries, i, "subject"), want[i][3] ? want[i][3] : "(none)");
        CHECK(regexec(&iso, entry_str(entries, i, "at"), 0, NULL, 0) == 0);
    }
    regfree(&iso);
    /* Erasure honest: neither the session id nor the user id is in the log. */
    CHECK(strstr(r.body, sid) == NULL);
    CHECK(strstr(r.body, "jane.doe") == NULL);
    CHECK(json_is_null(json_object_get(r.json, "next")));
    e2e_resp_free(&r);

    /* Pages of two: 2 + 2 + 2, following "next". */
    char url[200] = "/audit?limit=2";
    const char *order[] = {"erase_user", "erase_session", "redrive",
                           "release",    "takeover",      "message"};
    int seen = 0;
    for (int page = 0; page < 4; page++) {
        r = call("GET", url, NULL, ALICE);
        CHECK_INT(r.status, 200);
        entries = json_object_get(r.json, "entries");
        for (size_t i = 0; i < json_array_size(entries) && seen < 6; i++, seen++)
            CHECK_STR(entry_str(entries, i, "action"), order[seen]);
        const char *next = json_string_value(json_object_get(r.json, "next"));
        if (next)
            snprintf(url, sizeof url, "/audit?limit=2&before=%s", next);
        e2e_resp_free(&r);
        if (!next)
            break;
    }
    CHECK_INT(seen, 6);
    r = call("GET", "/audit?limit=0", NULL, ALICE);
    CHECK_INT(r.status, 400);
    CHECK_STR(e2e_str(&r, "error.code"), "InvalidRequest");
    e2e_resp_free(&r);
    r = call("GET", "/audit?before=x%27", NULL, ALICE);
    CHECK_INT(r.status, 400);
    e2e_resp_free(&r);
}

/* The SQLite table refuses changes: the log is append-only. */
static void test_append_only(void)
{
    char db_path[128];
    snprintf(db_path, sizeof db_path, "%s/parley.db", dir);
    sqlite3 *db = NULL;
    CHECK_INT(sqlite3_open(db_path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 10000);
    char *msg = NULL;
    CHECK(sqlite3_exec(db, "UPDATE audit_log SET entry = '{}'", NULL, NULL, &msg) != SQLITE_OK);
    CHECK(msg && strstr(msg, "append-only"));
    sqlite3_free(msg);
    msg = NULL;
    CHECK(sqlite3_exec(db, "DELETE FROM audit_log", NULL, NULL, &msg) != SQLITE_OK);
    CHECK(msg && strstr(msg, "append-only"));
    sqlite3_free(msg);
    sqlite3_stmt *st = NULL;
    sqlite3_prepare_v2(db, "SELECT count(*) FROM audit_log", -1, &st, NULL);
    CHECK(st && sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 6);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* A bad operators file stops the server at start-up with the entry named. */
static void test_bad_file(void)
{
    char path[128], out[4096], args[300];
    snprintf(path, sizeof path, "%s/bad-operators.json", dir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f)
        return;
    fputs("[{\"name\":\"Carol\",\"token_sha256\":\"123\",\"role\":\"admin\"}]", f);
    fclose(f);
    snprintf(args, sizeof args, "serve --port 0 --bind 127.0.0.1 --data '%s/bad'", dir);
    char env[200];
    snprintf(env, sizeof env, "PARLEY_OPERATORS_FILE=%s", path);
    putenv(env);
    int code = e2e_run_parley(args, NULL, out, sizeof out);
    unsetenv("PARLEY_OPERATORS_FILE");
    CHECK(code != 0);
    CHECK(strstr(out, "entry 0 (\"Carol\"): \"token_sha256\" must be") != NULL);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (!check_require("a temporary directory", e2e_tmpdir(dir, sizeof dir) == 0))
        return check_summary();
    char ops_path[128], alice[65], bob[65];
    snprintf(ops_path, sizeof ops_path, "%s/operators.json", dir);
    sha256_hex("alice-secret-token", alice);
    sha256_hex("bob-secret-token", bob);
    FILE *f = fopen(ops_path, "w");
    if (f) {
        fprintf(f,
                "[{\"name\":\"Alice\",\"token_sha256\":\"%s\",\"role\":\"admin\"},\n"
                " {\"name\":\"Bob\",\"token_sha256\":\"%s\",\"role\":\"agent\"}]\n",
                alice, bob);
        fclose(f);
    }
    static char e_ops[200];
    snprintf(e_ops, sizeof e_ops, "PARLEY_OPERATORS_FILE=%s", ops_path);
    const char *env[] = {e_ops, "PARLEY_OPERATOR_TOKEN=shared-token", NULL};
    if (check_require("server starts", f && e2e_start_env(&srv, dir, env) == 0)) {
        RUN(test_roles_and_audit);
        RUN(test_append_only);
        CHECK_INT(e2e_stop(&srv), 0);
    }
    RUN(test_bad_file);
    e2e_rmdir(dir);
    curl_global_cleanup();
    return check_summary();
}
