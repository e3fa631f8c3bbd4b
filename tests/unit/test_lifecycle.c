/*
 * test_lifecycle.c - issue 15, bounded disk and retention: log files rotate by size into a fixed
 * number of files without splitting a line and reopen after logfile_reopen_all (SIGHUP); the SQLite
 * pool's checkpoint thread keeps the WAL bounded and truncates it when idle; the retention sweep
 * erases exactly the sessions idle longer than the retention, through app_erase_session.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/config.h"
#include "base/logfile.h"
#include "base/sqlpool.h"
#include "base/xmalloc.h"
#include "check.h"
#include "runtime/retention.h"
#include "store/store.h"
#include "store/store_dynamo.h"

static char dir[64] = "/tmp/parley-lifecycle-XXXXXX";

/* Lines in path (-1 when missing); *torn gets 1 when the file does not end in a newline or holds
 * a line that is not one whole "line NNNN xxxx..." record. */
static int count_lines(const char *path, int *torn)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[512];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        size_t len = strlen(line);
        if (len == 0 || line[len - 1] != '\n' || strncmp(line, "line ", 5) != 0 || len != 50)
            *torn = 1;
        n++;
    }
    fclose(f);
    return n;
}

static long long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* 50-byte lines into a 1000-byte limit keeping 2 rotated files: at most 20 lines a file, three
 * files, the oldest lines dropped, no line torn; files are 0600. */
static void test_rotation(void)
{
    char *path = xasprintf("%s/events.log", dir);
    struct err e = {0};
    struct logfile *lf = logfile_open(path, 1000, 2, &e);
    CHECK(lf != NULL);
    if (!lf)
        goto out;
    for (int i = 0; i < 100; i++) {
        char line[64];
        snprintf(line, sizeof line, "line %04d %-39s\n", i, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
        CHECK_INT((int)strlen(line), 50);
        CHECK_INT(logfile_write(lf, line, strlen(line)), 0);
    }
    /* Two lines in one write straddling the limit are cut between them. */
    char two[101];
    snprintf(two, sizeof two, "line 0100 %-39s\nline 0101 %-39s\n", "y", "y");
    CHECK_INT(logfile_write(lf, two, 100), 0);
    logfile_free(lf);
    char *r1 = xasprintf("%s.1", path), *r2 = xasprintf("%s.2", path), *r3 = xasprintf("%s.3", path);
    int torn = 0;
    int n0 = count_lines(path, &torn), n1 = count_lines(r1, &torn), n2 = count_lines(r2, &torn);
    CHECK(n0 > 0 && n0 <= 20);
    CHECK_INT(n1, 20);
    CHECK_INT(n2, 20);
    CHECK_INT(count_lines(r3, &torn), -1); /* only 2 rotated files are kept */
    CHECK_INT(torn, 0);
    CHECK(file_size(path) <= 1000 && file_size(r1) <= 1000);
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
    /* The newest lines are in the live file. */
    FILE *f = fopen(path, "r");
    char last[128] = "", line[128];
    while (f && fgets(line, sizeof line, f))
        snprintf(last, sizeof last, "%s", line);
    if (f)
        fclose(f);
    CHECK(strncmp(last, "line 0101", 9) == 0);
    free(r1);
    free(r2);
    free(r3);
out:
    free(path);
}

/* After logfile_reopen_all a moved-away file (logrotate) stays as it is and writes go to a new
 * file at the path; the stdio stream writes through the same logfile. */
static void test_reopen_and_stream(void)
{
    char *path = xasprintf("%s/emf.log", dir), *moved = xasprintf("%s/emf.log.moved", dir);
    struct err e = {0};
    struct logfile *lf = logfile_open(path, 0, 5, &e);
    CHECK(lf != NULL);
    FILE *s = lf ? logfile_stream(lf) : NULL;
    CHECK(s != NULL);
    if (!s) {
        logfile_free(lf);
        goto out;
    }
    fprintf(s, "before\n");
    fflush(s);
    CHECK_INT(rename(path, moved), 0);
    fprintf(s, "still old\n"); /* no reopen asked yet: the open file gets it */
    fflush(s);
    logfile_reopen_all();
    fprintf(s, "after\n");
    fclose(s); /* frees lf */
    CHECK_INT((int)file_size(moved), (int)strlen("before\nstill old\n"));
    CHECK_INT((int)file_size(path), (int)strlen("after\n"));
out:
    free(path);
    free(moved);
}

/* A pool opened with a checkpoint interval: under writes its thread runs PASSIVE checkpoints,
 * and once the writes stop it truncates the WAL to 0 bytes. Without the interval, no thread. */
static void test_checkpoints(void)
{
    static const char *const sql[] = {"INSERT INTO t (v) VALUES (randomblob(2000))"};
    char *path = xasprintf("%s/ck.db", dir), *wal = xasprintf("%s/ck.db-wal", dir);
    struct err e = {0};
    sqlpool_set_checkpoint_ms(20);
    struct sqlpool *p = sqlpool_open(path, 2, sql, 1, "CREATE TABLE IF NOT EXISTS t (v BLOB);",
                                     "StoreError", &e);
    sqlpool_set_checkpoint_ms(0);
    CHECK(p != NULL);
    if (!p)
        goto out;
    for (int i = 0; i < 400; i++) {
        struct sqlpool_conn *c = sqlpool_acquire(p);
        CHECK_INT(sqlpool_exec(c, 0, &e), 0);
        sqlpool_release(p, c);
        if (i % 50 == 0)
            usleep(25000); /* let a tick see use */
    }
    CHECK(file_size(wal) > 0);
    long passive = 0, truncated = 0;
    for (int i = 0; i < 500 && (truncated == 0 || file_size(wal) != 0); i++) {
        usleep(10000);
        sqlpool_checkpoint_counts(p, &passive, &truncated);
    }
    CHECK(passive > 0);
    CHECK(truncated > 0);
    CHECK_INT((int)file_size(wal), 0);
    int frames = -1;
    CHECK_INT(sqlpool_checkpoint(p, 0, &frames, &e), 0);
    CHECK(frames == 0 || frames == -1); /* -1: the thread's own checkpoint held it (BUSY) */
    sqlpool_close(p);
    /* The default: no checkpoint thread. */
    p = sqlpool_open(path, 1, sql, 1, "CREATE TABLE IF NOT EXISTS t (v BLOB);", "StoreError", &e);
    CHECK(p != NULL);
    if (p) {
        usleep(60000);
        sqlpool_checkpoint_counts(p, &passive, &truncated);
        CHECK_INT((int)(passive + truncated), 0);
        sqlpool_close(p);
    }
out:
    free(path);
    free(wal);
}

static json_t *new_turn(const char *sid)
{
    return json_pack("{s:s, s:s, s:b, s:[{s:s, s:s}], s:{}}", "sessionId", sid, "userId", "u1",
                     "isNew", 1, "messages", "role", "user", "content", "my email is a@b.example",
                     "context");
}

static int erased_count;

static void on_erased(const char *sid, void *ctx)
{
    (void)ctx;
    CHECK_STR(sid, "s-old");
    erased_count++;
}

static int session_gone(void *ud)
{
    json_t *s = NULL;
    struct err e = {0};
    int gone = store_session_get(ud, "s-new", &s, &e) < 0 && strcmp(e.code, "NotFound") == 0;
    json_decref(s);
    return gone;
}

/* sessions_idle lists the sessions idle since before T, oldest first; retention_sweep erases
 * those (turns too) and no other; the thread erases a session once it has been idle long enough. */
static void test_retention(void)
{
    char *path = xasprintf("%s/ret.db", dir);
    struct err e = {0};
    struct store *st = store_sqlite_new(path, 2, &e);
    CHECK(st != NULL);
    if (!st)
        goto out;
    int no = 0;
    json_t *t = new_turn("s-old");
    CHECK_INT(store_turn_save(st, t, &no, &e), 0);
    json_decref(t);
    usleep(30000);
    long long cut = clock_now_ms();
    usleep(30000);
    t = new_turn("s-new");
    CHECK_INT(store_turn_save(st, t, &no, &e), 0);
    json_decref(t);
    json_t *ids = NULL;
    CHECK_INT(store_sessions_idle(st, cut, 10, &ids, &e), 0);
    CHECK_INT((int)json_array_size(ids), 1);
    CHECK_STR(json_string_value(json_array_get(ids, 0)), "s-old");
    json_decref(ids);
    int n = -1;
    CHECK_INT(retention_sweep(st, NULL, NULL, cut, on_erased, NULL, &n, &e), 0);
    CHECK_INT(n, 1);
    CHECK_INT(erased_count, 1);
    json_t *got = NULL;
    CHECK_INT(store_session_get(st, "s-old", &got, &e), -1);
    CHECK_STR(e.code, "NotFound");
    json_decref(got);
    got = NULL;
    CHECK_INT(store_transcript(st, "s-old", &got, &e) == 0 ? (int)json_array_size(got) : 0, 0);
    json_decref(got);
    got = NULL;
    CHECK_INT(store_session_get(st, "s-new", &got, &e), 0); /* the control stays */
    json_decref(got);
    CHECK_INT(retention_sweep(st, NULL, NULL, cut, NULL, NULL, &n, &e), 0);
    CHECK_INT(n, 0);
    /* The thread: s-new is erased once idle 50 ms. */
    struct retention *r = retention_start(st, NULL, NULL, 50, 20, NULL, NULL, &e);
    CHECK(r != NULL);
    CHECK_INT(check_wait(session_gone, st, 10000), 1);
    retention_stop(r);
    retention_stop(NULL);
    store_free(st);
out:
    free(path);
}

/* DynamoDB's expiry: the smaller of PARLEY_RETENTION_DAYS and PARLEY_CONVERSATION_TTL_DAYS
 * that is set, 0 when neither is. */
static void test_dynamo_ttl_days(void)
{
    struct config c = {0};
    CHECK_INT(store_dynamo_ttl_days(&c), 0);
    c.retention_days = 30;
    CHECK_INT(store_dynamo_ttl_days(&c), 30);
    c.conversation_ttl_days = 10;
    CHECK_INT(store_dynamo_ttl_days(&c), 10);
    c.conversation_ttl_days = 40;
    CHECK_INT(store_dynamo_ttl_days(&c), 30);
    c.retention_days = 0;
    CHECK_INT(store_dynamo_ttl_days(&c), 40);
}

int main(void)
{
    xmalloc_init();
    if (!mkdtemp(dir))
        return 1;
    RUN(test_rotation);
    RUN(test_reopen_and_stream);
    RUN(test_checkpoints);
    RUN(test_retention);
    RUN(test_dynamo_ttl_days);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    return check_summary();
}
