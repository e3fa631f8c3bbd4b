/*
 * test_e2e_lifecycle.c - issue 15 through the real `parley serve`: PARLEY_RETENTION_TEST_S (the
 * seconds form of PARLEY_RETENTION_DAYS) erases an idle session and announces it; SIGHUP reopens
 * the event log and emf.log after they were moved away (logrotate); the WAL is checkpointed and
 * truncated once the server is idle; PARLEY_DB_KEY is refused at start with the reason; the new
 * settings are in --help.
 */
#include "check.h"
#include "e2e/e2e.h"

static const char *want_file;   /* file_has: the file */
static const char *want_needle; /* file_has: what it must contain */

static int file_has(void *ud)
{
    (void)ud;
    FILE *f = fopen(want_file, "r");
    char line[8192];
    int hit = 0;
    while (f && !hit && fgets(line, sizeof line, f))
        hit = strstr(line, want_needle) != NULL;
    if (f)
        fclose(f);
    return hit;
}

static int wait_file_has(const char *path, const char *needle, int timeout_ms)
{
    want_file = path;
    want_needle = needle;
    return check_wait(file_has, NULL, timeout_ms);
}

static long long size_of(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* Starts a chat; copies its session id into sid (empty on failure). */
static void chat(const struct e2e_server *srv, const char *msg, char *sid, size_t len)
{
    char body[256];
    snprintf(body, sizeof body, "{\"message\":\"%s\"}", msg);
    struct e2e_resp r = e2e_http(srv, "POST", "/chat", body);
    CHECK_INT(r.status, 200);
    const char *s = json_string_value(json_object_get(r.json, "sessionId"));
    snprintf(sid, len, "%s", s ? s : "");
    e2e_resp_free(&r);
}

static const struct e2e_server *status_srv;
static const char *status_path;

static int session_404(void *ud)
{
    (void)ud;
    struct e2e_resp r =
        e2e_http_ex(status_srv, "GET", status_path, NULL, 0, NULL, "Authorization: Bearer ops");
    long st = r.status;
    e2e_resp_free(&r);
    return st == 404;
}

/* A session idle past the retention is erased by the sweep (404 afterwards) and a
 * conversation_erased event with reason "retention" is written to the event log. */
static void test_retention(void)
{
    char dir[256];
    CHECK_INT(e2e_tmpdir(dir, sizeof dir), 0);
    struct e2e_server srv;
    const char *env[] = {"PARLEY_OPERATOR_TOKEN=ops", "PARLEY_RETENTION_TEST_S=2", NULL};
    CHECK_INT(e2e_start_env(&srv, dir, env), 0);
    char sid[64], path[128];
    chat(&srv, "where is my order 1042?", sid, sizeof sid);
    CHECK(sid[0] != '\0');
    snprintf(path, sizeof path, "/sessions/%s", sid);
    struct e2e_resp now = e2e_http_ex(&srv, "GET", path, NULL, 0, NULL, "Authorization: Bearer ops");
    CHECK_INT(now.status, 200); /* not idle long enough yet */
    e2e_resp_free(&now);
    status_srv = &srv;
    status_path = path;
    CHECK_INT(check_wait(session_404, NULL, 30000), 1);
    char events[320], needle[128];
    snprintf(events, sizeof events, "%s/logs/parley_events.log", dir);
    snprintf(needle, sizeof needle, "\"sessionId\":\"%s\",\"reason\":\"retention\"", sid);
    CHECK_INT(wait_file_has(events, "conversation_erased", 10000), 1);
    CHECK_INT(wait_file_has(events, needle, 10000), 1);
    CHECK_INT(e2e_stop(&srv), 0);
    e2e_rmdir(dir);
}

/* After the event log and emf.log are moved away and SIGHUP arrives, new lines go to new files at
 * the old paths and the moved files stay as they were. Idle, the WAL is truncated to 0 bytes. */
static void test_sighup_reopens_logs_and_idle_wal(void)
{
    char dir[256];
    CHECK_INT(e2e_tmpdir(dir, sizeof dir), 0);
    struct e2e_server srv;
    const char *env[] = {"PARLEY_CHECKPOINT_MS=200", NULL};
    CHECK_INT(e2e_start_env(&srv, dir, env), 0);
    char sid[64], events[320], moved[340], emf[320], emf_moved[340], srvlog[320], wal[320];
    snprintf(events, sizeof events, "%s/logs/parley_events.log", dir);
    snprintf(moved, sizeof moved, "%s.moved", events);
    snprintf(emf, sizeof emf, "%s/logs/emf.log", dir);
    snprintf(emf_moved, sizeof emf_moved, "%s.moved", emf);
    snprintf(srvlog, sizeof srvlog, "%s/server.log", dir);
    snprintf(wal, sizeof wal, "%s/parley.db-wal", dir);
    chat(&srv, "first conversation", sid, sizeof sid);
    CHECK_INT(wait_file_has(events, sid, 10000), 1);
    CHECK_INT(rename(events, moved), 0);
    CHECK_INT(rename(emf, emf_moved), 0);
    kill(srv.pid, SIGHUP);
    CHECK_INT(wait_file_has(srvlog, "reopening the log files", 10000), 1);
    long long moved_size = size_of(moved);
    char sid2[64];
    chat(&srv, "second conversation", sid2, sizeof sid2);
    CHECK_INT(wait_file_has(events, sid2, 10000), 1); /* a new file at the old path */
    CHECK_INT(file_has(NULL), 1);
    want_file = moved;
    want_needle = sid2;
    CHECK_INT(file_has(NULL), 0); /* not in the moved one */
    CHECK(size_of(moved) == moved_size);
    /* Idle: the checkpoint thread truncates the WAL (it held the turns a moment ago). */
    int truncated = 0;
    for (int i = 0; i < 200 && !truncated; i++) {
        truncated = size_of(wal) == 0;
        if (!truncated)
            e2e_sleep_ms(50);
    }
    CHECK_INT(truncated, 1);
    CHECK_INT(e2e_stop(&srv), 0);
    CHECK(size_of(emf) > 0); /* EMF lines after the reopen went to the new emf.log */
    e2e_rmdir(dir);
}

/* PARLEY_DB_KEY cannot be honoured by this build: start-up fails, saying which setting and why. */
static void test_db_key_refused(void)
{
    char dir[256], args[400];
    static char out[16384];
    CHECK_INT(e2e_tmpdir(dir, sizeof dir), 0);
    snprintf(args, sizeof args, "serve --port 0 --data '%s'", dir);
    setenv("PARLEY_DB_KEY", "correct horse", 1);
    int rc = e2e_run_parley(args, NULL, out, sizeof out);
    unsetenv("PARLEY_DB_KEY");
    CHECK(rc > 0);
    CHECK(strstr(out, "PARLEY_DB_KEY is set, but this build cannot encrypt") != NULL);
    CHECK(strstr(out, "SQLite 3.15.2") != NULL);
    char db[320];
    snprintf(db, sizeof db, "%s/parley.db", dir);
    CHECK(size_of(db) < 0); /* nothing was written unencrypted */
    e2e_rmdir(dir);
}

static void test_help_lists_settings(void)
{
    static char out[65536];
    CHECK_INT(e2e_run_parley("--help", NULL, out, sizeof out), 0);
    const char *names[] = {"PARLEY_RETENTION_DAYS", "PARLEY_CHECKPOINT_MS", "PARLEY_LOG_MAX_MB",
                           "PARLEY_LOG_FILES", "PARLEY_DB_KEY", "PARLEY_RETENTION_TEST_S"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        CHECK(strstr(out, names[i]) != NULL);
}

int main(void)
{
    RUN(test_retention);
    RUN(test_sighup_reopens_logs_and_idle_wal);
    RUN(test_db_key_refused);
    RUN(test_help_lists_settings);
    return check_summary();
}
