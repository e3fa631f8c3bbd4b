/*
 * test_e2e_private_data.c - issue 15: no card number at rest, private data files.
 *
 * A conversation (customer and operator) quoting card numbers in several formats, then a clean
 * shutdown; every file under the data directory (database, -wal, queue, archive, logs) is read
 * and none holds the digits, while the masked form "[card ending 1111]" is what was stored. The
 * data directory is 0700 and its files 0600; `serve --data a/b/c` creates missing parents; an
 * existing world-readable file gets a warning at start.
 */
#include <ftw.h>

#include "check.h"
#include "e2e/e2e.h"

static const char *const cards[] = {"4111 1111 1111 1111", "4111111111111111",
                                     "4111-1111-1111-1111", "5500 0000 0000 0004",
                                     "5500000000000004"};
#define N_CARDS (sizeof cards / sizeof cards[0])

static int found_card;    /* files holding any card number */
static int files_seen;    /* regular files read */
static int loose_files;   /* regular files readable by group or others */
static char found_in[512];

static int scan_file(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)ftw;
    if (flag != FTW_F || !S_ISREG(st->st_mode))
        return 0;
    files_seen++;
    if (st->st_mode & 077)
        loose_files++;
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    size_t cap = (size_t)st->st_size + 1, n;
    char *buf = malloc(cap);
    n = fread(buf, 1, cap - 1, f);
    fclose(f);
    for (size_t c = 0; c < N_CARDS; c++) {
        size_t len = strlen(cards[c]);
        for (size_t i = 0; i + len <= n; i++)
            if (memcmp(buf + i, cards[c], len) == 0) {
                found_card++;
                snprintf(found_in, sizeof found_in, "%s (%s)", path, cards[c]);
                i = n;
                c = N_CARDS - 1;
            }
    }
    free(buf);
    return 0;
}

static void test_no_card_at_rest(void)
{
    char dir[256];
    CHECK_INT(e2e_tmpdir(dir, sizeof dir), 0);
    struct e2e_server srv;
    const char *env[] = {"PARLEY_OPERATOR_TOKEN=ops-token", "PARLEY_ARCHIVE_DELAY_MS=0", NULL};
    CHECK_INT(e2e_start_env(&srv, dir, env), 0);
    struct e2e_resp a = e2e_http(&srv, "POST", "/chat",
                                 "{\"message\":\"I was charged twice on my card 4111 1111 1111 "
                                 "1111, please help. Email jo@example.com\"}");
    CHECK_INT(a.status, 200);
    const char *sid = json_string_value(json_object_get(a.json, "sessionId"));
    char body[512], path[128];
    snprintf(body, sizeof body,
             "{\"sessionId\":\"%s\",\"message\":\"the other card was 4111111111111111 and "
             "4111-1111-1111-1111; my wife's is 5500 0000 0000 0004\"}",
             sid ? sid : "");
    struct e2e_resp b = e2e_http(&srv, "POST", "/chat", body);
    CHECK_INT(b.status, 200);
    snprintf(path, sizeof path, "/sessions/%s/messages", sid ? sid : "x");
    struct e2e_resp o = e2e_http_ex(&srv, "POST", path,
                                    "{\"role\":\"operator\",\"content\":\"refund to 5500000000000004 "
                                    "started\"}",
                                    -1, NULL, "Authorization: Bearer ops-token");
    CHECK_INT(o.status, 201);
    /* What the session shows is the masked form. */
    snprintf(path, sizeof path, "/sessions/%s", sid ? sid : "x");
    struct e2e_resp s = e2e_http(&srv, "GET", path, NULL);
    CHECK(s.body && strstr(s.body, "[card ending 1111]") != NULL);
    CHECK(s.body && strstr(s.body, "[card ending 0004]") != NULL);
    CHECK(s.body && strstr(s.body, "4111 1111") == NULL);
    e2e_resp_free(&a);
    e2e_resp_free(&b);
    e2e_resp_free(&o);
    e2e_resp_free(&s);
    CHECK_INT(e2e_stop(&srv), 0);

    found_card = files_seen = loose_files = 0;
    nftw(dir, scan_file, 16, FTW_PHYS);
    CHECK(files_seen >= 3); /* at least the database, the queue and the server log */
    CHECK_INT(found_card, 0);
    if (found_card)
        fprintf(stderr, "# card number found in %s\n", found_in);
    struct stat st;
    CHECK(stat(dir, &st) == 0);
    char db[300];
    snprintf(db, sizeof db, "%s/parley.db", dir);
    CHECK(stat(db, &st) == 0 && (st.st_mode & 0777) == 0600);
    /* server.log is the test's own file (opened before exec); everything parley wrote is private. */
    CHECK_INT(loose_files, 1);
    /* Control: the scan does find a card number when one is on disk. */
    char control[300];
    snprintf(control, sizeof control, "%s/control.txt", dir);
    FILE *f = fopen(control, "w");
    if (f) {
        fputs("x 4111 1111 1111 1111 y", f);
        fclose(f);
    }
    found_card = files_seen = loose_files = 0;
    nftw(dir, scan_file, 16, FTW_PHYS);
    CHECK_INT(found_card, 1);
}

/* Starts `parley serve --data data_dir` with its log at log_path; returns its pid or -1. */
static pid_t start_at(const char *data_dir, const char *log_path, int *port)
{
    const char *bin = getenv("PARLEY_BIN");
    if (!bin)
        bin = "build/san/parley";
    unlink(log_path); /* an old log's "listening" line must not count */
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, 1);
        dup2(fd, 2);
        execl(bin, bin, "serve", "--port", "0", "--data", data_dir, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 1000; i++) {
        FILE *f = fopen(log_path, "r");
        char line[1024];
        while (f && fgets(line, sizeof line, f)) {
            char *p = strstr(line, "listening on http://127.0.0.1:");
            if (p) {
                *port = atoi(p + strlen("listening on http://127.0.0.1:"));
                fclose(f);
                return pid;
            }
        }
        if (f)
            fclose(f);
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid)
            return -1;
        e2e_sleep_ms(20);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

static int log_has(const char *log_path, const char *needle)
{
    FILE *f = fopen(log_path, "r");
    char line[2048];
    int hit = 0;
    while (f && !hit && fgets(line, sizeof line, f))
        hit = strstr(line, needle) != NULL;
    if (f)
        fclose(f);
    return hit;
}

static void test_nested_data_dir_and_modes(void)
{
    char root[256], data[320], log_path[320], loose[400];
    CHECK_INT(e2e_tmpdir(root, sizeof root), 0);
    snprintf(data, sizeof data, "%s/a/b/c", root);
    snprintf(log_path, sizeof log_path, "%s/serve.log", root);
    int port = 0;
    pid_t pid = start_at(data, log_path, &port);
    CHECK(pid > 0);
    if (pid > 0) {
        kill(pid, SIGTERM);
        int st = 0;
        waitpid(pid, &st, 0);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    struct stat st;
    CHECK(stat(data, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700);
    snprintf(loose, sizeof loose, "%s/a", root);
    CHECK(stat(loose, &st) == 0 && (st.st_mode & 0777) == 0700); /* parents too */
    CHECK(!log_has(log_path, "readable by others"));

    /* An existing world-readable file: a warning naming it. */
    snprintf(loose, sizeof loose, "%s/parley.db", data);
    CHECK(chmod(loose, 0644) == 0);
    pid = start_at(data, log_path, &port);
    CHECK(pid > 0);
    if (pid > 0) {
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
    }
    CHECK(log_has(log_path, "readable by others"));
    CHECK(log_has(log_path, "parley.db"));
}

static int archived_files;

static int count_archived(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    /* An object file, or a day's pack (archive_fs_new_packed); not a temporary file. */
    if (flag == FTW_F && strstr(path, "/archive/") &&
        (path[ftw->base] != '.' || strcmp(path + ftw->base, ".pack") == 0))
        archived_files++;
    return 0;
}

static const char *archive_dir;

static int transcript_archived(void *ud)
{
    (void)ud;
    archived_files = 0;
    nftw(archive_dir, count_archived, 16, FTW_PHYS);
    return archived_files > 0;
}

static int email_hits;
static const char *scan_needle = "erase.me@example.com"; /* what scan_email looks for */
static const char *scan_base;  /* with scan_skip_logs: the data directory scanned */
static int scan_skip_logs;     /* 1: files under <data>/logs/ (and the captured stderr) skipped */

static int scan_email(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)ftw;
    if (flag != FTW_F || !S_ISREG(st->st_mode))
        return 0;
    if (scan_skip_logs && scan_base) {
        size_t bl = strlen(scan_base);
        if (strncmp(path, scan_base, bl) == 0 &&
            (strncmp(path + bl, "/logs/", 6) == 0 || strcmp(path + bl, "/server.log") == 0))
            return 0;
    }
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    char *buf = malloc((size_t)st->st_size + 1);
    size_t n = fread(buf, 1, (size_t)st->st_size, f);
    fclose(f);
    const char *needle = scan_needle;
    size_t len = strlen(needle);
    for (size_t i = 0; i + len <= n; i++)
        if (memcmp(buf + i, needle, len) == 0) {
            email_hits++;
            fprintf(stderr, "# '%s' in %s\n", needle, path);
            break;
        }
    free(buf);
    return 0;
}

/* DELETE /sessions/{id}: 204, the session is gone (404 after), and after a clean shutdown the
 * customer's email is in no file of the data directory (database, WAL, archive, logs). */
static void test_erase_session(void)
{
    char dir[256];
    CHECK_INT(e2e_tmpdir(dir, sizeof dir), 0);
    struct e2e_server srv;
    const char *env[] = {"PARLEY_OPERATOR_TOKEN=ops-token", "PARLEY_ARCHIVE_DELAY_MS=0", NULL};
    CHECK_INT(e2e_start_env(&srv, dir, env), 0);
    struct e2e_resp a = e2e_http(&srv, "POST", "/chat",
                                 "{\"message\":\"I can't log in, my email is "
                                 "erase.me@example.com\"}");
    CHECK_INT(a.status, 200);
    const char *sid = json_string_value(json_object_get(a.json, "sessionId"));
    char path[128];
    snprintf(path, sizeof path, "/sessions/%s", sid ? sid : "x");
    char adir[300];
    snprintf(adir, sizeof adir, "%s/archive", dir);
    archive_dir = adir;
    CHECK_INT(check_wait(transcript_archived, NULL, 20000), 1);
    /* Control: before the erasure the store does hold the email (database or its WAL). */
    email_hits = 0;
    nftw(dir, scan_email, 16, FTW_PHYS);
    CHECK(email_hits > 0);
    /* Without the operator token: refused. */
    struct e2e_resp u = e2e_http(&srv, "DELETE", path, NULL);
    CHECK_INT(u.status, 401);
    struct e2e_resp d =
        e2e_http_ex(&srv, "DELETE", path, NULL, 0, NULL, "Authorization: Bearer ops-token");
    CHECK_INT(d.status, 204);
    struct e2e_resp g = e2e_http(&srv, "GET", path, NULL);
    CHECK_INT(g.status, 404);
    struct e2e_resp d2 =
        e2e_http_ex(&srv, "DELETE", path, NULL, 0, NULL, "Authorization: Bearer ops-token");
    CHECK_INT(d2.status, 404);
    CHECK_INT(transcript_archived(NULL), 0); /* the archived transcript is gone too */
    e2e_resp_free(&u);
    e2e_resp_free(&d);
    e2e_resp_free(&g);
    e2e_resp_free(&d2);
    CHECK_INT(e2e_stop(&srv), 0);
    email_hits = 0;
    nftw(dir, scan_email, 16, FTW_PHYS);
    CHECK_INT(email_hits, 0);
    /* The session id is in no file either, except the logs (ids, never personal data). */
    char sid_copy[80];
    snprintf(sid_copy, sizeof sid_copy, "%s", sid ? sid : "no-session-id");
    scan_needle = sid_copy;
    scan_base = dir;
    scan_skip_logs = 1;
    email_hits = 0;
    nftw(dir, scan_email, 16, FTW_PHYS);
    CHECK_INT(email_hits, 0);
    scan_needle = "erase.me@example.com";
    scan_skip_logs = 0;
    e2e_resp_free(&a);
}

/* Starts a chat for user uid and returns its session id in sid (empty on failure). */
static void chat_as(const struct e2e_server *srv, const char *uid, char *sid, size_t len)
{
    char body[200];
    snprintf(body, sizeof body, "{\"message\":\"hello, where is my order?\",\"userId\":\"%s\"}",
             uid);
    struct e2e_resp r = e2e_http(srv, "POST", "/chat", body);
    CHECK_INT(r.status, 200);
    const char *s = json_string_value(json_object_get(r.json, "sessionId"));
    snprintf(sid, len, "%s", s ? s : "");
    e2e_resp_free(&r);
}

static long session_status(const struct e2e_server *srv, const char *sid)
{
    char path[128];
    snprintf(path, sizeof path, "/sessions/%s", sid[0] ? sid : "x");
    struct e2e_resp r =
        e2e_http_ex(srv, "GET", path, NULL, 0, NULL, "Authorization: Bearer ops-token");
    long st = r.status;
    e2e_resp_free(&r);
    return st;
}

/* DELETE /users/{id} erases every session of the user and nobody else's (204, also for a user
 * without sessions); `parley forget --user ID` does the same from the command line (exit 0), and
 * `parley forget --older-than DAYS` erases the sessions idle longer than DAYS. */
static void test_erase_user(void)
{
    char dir[256];
    CHECK_INT(e2e_tmpdir(dir, sizeof dir), 0);
    struct e2e_server srv;
    const char *env[] = {"PARLEY_OPERATOR_TOKEN=ops-token", NULL};
    CHECK_INT(e2e_start_env(&srv, dir, env), 0);
    char a1[80], a2[80], b1[80], c1[80];
    chat_as(&srv, "alice-1", a1, sizeof a1);
    chat_as(&srv, "alice-1", a2, sizeof a2);
    chat_as(&srv, "bob-2", b1, sizeof b1);
    chat_as(&srv, "carol-3", c1, sizeof c1);
    CHECK(strcmp(a1, a2) != 0);
    CHECK_INT(session_status(&srv, a1), 200);
    struct e2e_resp u = e2e_http(&srv, "DELETE", "/users/alice-1", NULL);
    CHECK_INT(u.status, 401);
    CHECK_INT(session_status(&srv, a1), 200); /* refused: nothing erased */
    struct e2e_resp d = e2e_http_ex(&srv, "DELETE", "/users/alice-1", NULL, 0, NULL,
                                    "Authorization: Bearer ops-token");
    CHECK_INT(d.status, 204);
    CHECK_INT(session_status(&srv, a1), 404);
    CHECK_INT(session_status(&srv, a2), 404);
    CHECK_INT(session_status(&srv, b1), 200);
    struct e2e_resp n = e2e_http_ex(&srv, "DELETE", "/users/nobody-9", NULL, 0, NULL,
                                    "Authorization: Bearer ops-token");
    CHECK_INT(n.status, 204);
    /* The CLI, on the same data directory while the server runs. */
    char cmd[700], out[256] = "";
    snprintf(cmd, sizeof cmd, "'%s' forget --user bob-2 --data '%s' 2>/dev/null",
             getenv("PARLEY_BIN") ? getenv("PARLEY_BIN") : "build/san/parley", dir);
    FILE *p = popen(cmd, "r");
    CHECK(p != NULL);
    if (p) {
        size_t got = fread(out, 1, sizeof out - 1, p);
        out[got] = '\0';
        CHECK_INT(pclose(p), 0);
    }
    CHECK(strstr(out, "erased 1 session of user 'bob-2'") != NULL);
    CHECK_INT(session_status(&srv, b1), 404);
    CHECK_INT(session_status(&srv, c1), 200);
    snprintf(cmd, sizeof cmd, "'%s' forget --data '%s' >/dev/null 2>&1",
             getenv("PARLEY_BIN") ? getenv("PARLEY_BIN") : "build/san/parley", dir);
    CHECK_INT(WEXITSTATUS(system(cmd)), 2); /* --user or --older-than is required */
    /* `parley forget --older-than DAYS`: sessions idle longer go; a day keeps carol's. */
    static const struct {
        const char *days, *says;
        int carol;
    } older[] = {{"1", "erased 0 sessions idle for more than 1 day", 200},
                 {"0", "erased 1 session idle for more than 0 days", 404}};
    for (size_t k = 0; k < sizeof older / sizeof older[0]; k++) {
        snprintf(cmd, sizeof cmd, "'%s' forget --older-than %s --data '%s' 2>/dev/null",
                 getenv("PARLEY_BIN") ? getenv("PARLEY_BIN") : "build/san/parley", older[k].days,
                 dir);
        out[0] = '\0';
        p = popen(cmd, "r");
        CHECK(p != NULL);
        if (p) {
            size_t got = fread(out, 1, sizeof out - 1, p);
            out[got] = '\0';
            CHECK_INT(pclose(p), 0);
        }
        CHECK(strstr(out, older[k].says) != NULL);
        CHECK_INT(session_status(&srv, c1), older[k].carol);
    }
    snprintf(cmd, sizeof cmd, "'%s' forget --older-than -1 --data '%s' >/dev/null 2>&1",
             getenv("PARLEY_BIN") ? getenv("PARLEY_BIN") : "build/san/parley", dir);
    CHECK_INT(WEXITSTATUS(system(cmd)), 2);
    e2e_resp_free(&u);
    e2e_resp_free(&d);
    e2e_resp_free(&n);
    CHECK_INT(e2e_stop(&srv), 0);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    RUN(test_no_card_at_rest);
    RUN(test_nested_data_dir_and_modes);
    RUN(test_erase_session);
    RUN(test_erase_user);
    curl_global_cleanup();
    return check_summary();
}
