/*
 * test_sqlpool.c - the SQLite connection pool (base/sqlpool.h): every connection gets the pool's
 * settings (WAL, synchronous=NORMAL, temp_store=MEMORY, no memory map), connections see each
 * other's commits, a cached statement is prepared once and survives a
 * schema change made by another connection (SQLITE_SCHEMA), the fault site fails a statement
 * with the pool's error code, with the checkpoint thread on a commit checkpoints only as a
 * backstop, threads writing at once queue for the one writing connection, and a pinned thread
 * reads one snapshot on one connection.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/fault.h"
#include "base/sqlpool.h"
#include "check.h"

enum { Q_PUT, Q_COUNT_ROWS, Q_GET, Q_N };

static const char *const sql[Q_N] = {
    [Q_PUT] = "INSERT INTO t (k, v) VALUES (?1, ?2)",
    [Q_COUNT_ROWS] = "SELECT count(*) FROM t",
    [Q_GET] = "SELECT * FROM t WHERE k = ?1",
};

static char dir[64];
static char path[96];

/* The single integer or text a PRAGMA answers on db, as text in out. */
static void pragma(sqlite3 *db, const char *name, char *out, size_t n)
{
    char q[64];
    sqlite3_stmt *st = NULL;
    snprintf(q, sizeof q, "PRAGMA %s", name);
    out[0] = '\0';
    if (sqlite3_prepare_v2(db, q, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        snprintf(out, n, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
}

static long long count_rows(struct sqlpool_conn *c)
{
    struct err e = {0};
    sqlite3_stmt *st = sqlpool_stmt(c, Q_COUNT_ROWS, &e);
    long long n = -1;
    if (st && sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    if (st)
        sqlite3_reset(st);
    return n;
}

static const char schema[] = "CREATE TABLE IF NOT EXISTS t (k, v);";

/* Opens a pool of size on file with the test's statements; checks that it opened. */
static struct sqlpool *open_pool(const char *file, int size, const char *with_schema,
                                 const char *code)
{
    struct err e = {0};
    struct sqlpool *p = sqlpool_open(file, size, sql, Q_N, with_schema, code, &e);
    CHECK(p != NULL);
    return p;
}

/* Inserts rows k = from .. from + n - 1 on c, each checked. */
static void put_rows(struct sqlpool_conn *c, int from, int n, const char *v)
{
    struct err e = {0};
    for (int i = 0; i < n; i++) {
        sqlite3_stmt *st = sqlpool_stmt(c, Q_PUT, &e);
        sqlite3_bind_int(st, 1, from + i);
        sqlite3_bind_text(st, 2, v, -1, SQLITE_STATIC);
        CHECK(sqlite3_step(st) == SQLITE_DONE);
    }
}

static void test_settings_on_every_connection(void)
{
    struct sqlpool *p = open_pool(path, 3, schema, "StoreError");
    if (!p)
        return;
    struct sqlpool_conn *c[3];
    for (int i = 0; i < 3; i++)
        c[i] = sqlpool_acquire(p);
    CHECK(c[0] != c[1] && c[1] != c[2] && c[0] != c[2]);
    char v[64];
    for (int i = 0; i < 3; i++) {
        pragma(c[i]->db, "mmap_size", v, sizeof v);
        CHECK_STR(v, "0"); /* mapping measured slower (sqlpool.h) */
        pragma(c[i]->db, "temp_store", v, sizeof v);
        CHECK_STR(v, "2"); /* MEMORY */
        pragma(c[i]->db, "synchronous", v, sizeof v);
        CHECK_STR(v, "1"); /* NORMAL */
        pragma(c[i]->db, "journal_mode", v, sizeof v);
        CHECK_STR(v, "wal");
        pragma(c[i]->db, "cache_size", v, sizeof v);
        CHECK_INT(atoi(v), -SQLPOOL_CACHE_KB); /* a written database: small caches */
    }
    for (int i = 0; i < 3; i++)
        sqlpool_release(p, c[i]);
    struct sqlpool_conn *w = sqlpool_acquire_writer(p);
    pragma(w->db, "cache_size", v, sizeof v);
    CHECK_INT(atoi(v), -SQLPOOL_CACHE_KB);
    sqlpool_release(p, w);
    sqlpool_close(p);
    /* A pool without a schema (a read-only index) keeps SQLite's default. */
    p = open_pool(path, 1, NULL, "KbSearchFailed");
    if (!p)
        return;
    struct sqlpool_conn *r = sqlpool_acquire(p);
    pragma(r->db, "cache_size", v, sizeof v);
    sqlite3 *plain = NULL;
    char d[64] = "";
    if (sqlite3_open(":memory:", &plain) == SQLITE_OK)
        pragma(plain, "cache_size", d, sizeof d);
    sqlite3_close(plain);
    CHECK(d[0] != '\0');
    CHECK_STR(v, d);
    sqlpool_release(p, r);
    sqlpool_close(p);
}

/* A commit on one connection is seen by the others, whose page caches held the old pages; both
 * ways, and across a checkpoint that moves the pages from the WAL into the file. */
static void test_connections_see_each_others_commits(void)
{
    struct err e = {0};
    struct sqlpool *p = open_pool(path, 2, schema, "StoreError");
    if (!p)
        return;
    struct sqlpool_conn *a = sqlpool_acquire(p), *b = sqlpool_acquire(p);
    long long base = count_rows(b);
    CHECK(base >= 0);
    CHECK(sqlite3_exec(a->db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK);
    put_rows(a, 100000, 500, "a value long enough to fill a few pages of the table");
    CHECK(count_rows(b) == base); /* not committed yet */
    CHECK(sqlite3_exec(a->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK);
    CHECK_INT(count_rows(b), base + 500);
    CHECK(sqlite3_exec(b->db, "DELETE FROM t WHERE k >= 100250", NULL, NULL, NULL) == SQLITE_OK);
    CHECK_INT(count_rows(a), base + 250);
    sqlpool_release(p, b);
    sqlpool_release(p, a);
    int frames = -1;
    CHECK(sqlpool_checkpoint(p, 0, &frames, &e) == 0); /* PASSIVE: answers the WAL's size */
    CHECK(frames > 0);
    CHECK(sqlpool_checkpoint(p, 1, NULL, &e) == 0);
    a = sqlpool_acquire(p);
    CHECK_INT(count_rows(a), base + 250);
    sqlpool_release(p, a);
    sqlpool_close(p);
}

/* For test_pin: what another thread's acquire gets. */
static void *acquire_elsewhere(void *arg)
{
    struct sqlpool *p = arg;
    struct sqlpool_conn *c = sqlpool_acquire(p);
    sqlpool_release(p, c);
    return c;
}

/* A pinned thread's acquires get its one connection, in one read transaction: a commit made
 * meanwhile stays out of its reads until the last unpin; other threads get other connections. */
static void test_pin(void)
{
    struct err e = {0};
    struct sqlpool *p = open_pool(path, 2, schema, "StoreError");
    if (!p)
        return;
    struct sqlpool_conn *c = sqlpool_acquire(p);
    long long base = count_rows(c);
    sqlpool_release(p, c);
    CHECK_INT(sqlpool_pin(p, &e), 0);
    CHECK_INT(sqlpool_pin(p, &e), 0); /* nested: counted */
    struct sqlpool_conn *a = sqlpool_acquire(p);
    CHECK_INT(count_rows(a), base);
    sqlpool_release(p, a);
    pthread_t t;
    void *other = NULL;
    pthread_create(&t, NULL, acquire_elsewhere, p);
    pthread_join(t, &other);
    CHECK(other != NULL && other != (void *)a);
    struct sqlpool_conn *w = sqlpool_acquire_writer(p);
    put_rows(w, 200000, 3, "after the pin");
    sqlpool_release(p, w);
    struct sqlpool_conn *b = sqlpool_acquire(p);
    CHECK(b == a);                   /* the pinned connection again */
    CHECK_INT(count_rows(b), base);  /* its snapshot: the commit is not in it */
    sqlpool_release(p, b);
    sqlpool_unpin(p);
    b = sqlpool_acquire(p);
    CHECK(b == a);
    CHECK_INT(count_rows(b), base); /* still pinned once */
    sqlpool_release(p, b);
    sqlpool_unpin(p);
    b = sqlpool_acquire(p);
    CHECK_INT(count_rows(b), base + 3);
    CHECK(sqlite3_get_autocommit(a->db)); /* the pin's transaction is over */
    sqlpool_release(p, b);
    sqlpool_close(p);
}

/* The statement is prepared once per connection and kept; when another connection changes the
 * schema, the kept statement is prepared again by SQLite (SQLITE_SCHEMA) and answers the new
 * columns. */
static void test_statement_cache_survives_schema_change(void)
{
    struct err e = {0};
    struct sqlpool *p = open_pool(path, 2, schema, "StoreError");
    if (!p)
        return;
    struct sqlpool_conn *a = sqlpool_acquire(p), *b = sqlpool_acquire(p);
    sqlite3_stmt *first = sqlpool_stmt(a, Q_GET, &e);
    CHECK(first != NULL);
    sqlite3_bind_int(first, 1, 100000);
    CHECK(sqlite3_step(first) == SQLITE_ROW);
    CHECK_INT(sqlite3_column_count(first), 2);
    CHECK(sqlpool_stmt(a, Q_GET, &e) == first); /* cached, reset */
    CHECK(sqlite3_exec(b->db, "ALTER TABLE t ADD COLUMN w DEFAULT 'new'", NULL, NULL, NULL) ==
          SQLITE_OK);
    sqlite3_stmt *again = sqlpool_stmt(a, Q_GET, &e);
    CHECK(again == first);
    sqlite3_bind_int(again, 1, 100000);
    CHECK(sqlite3_step(again) == SQLITE_ROW);
    CHECK_INT(sqlite3_column_count(again), 3);
    CHECK_STR((const char *)sqlite3_column_text(again, 2), "new");
    sqlite3_reset(again);
    sqlpool_release(p, b);
    sqlpool_release(p, a);
    sqlpool_close(p);
}

/* FAULT_SQL fails the armed statement with the pool's code and says it was injected; the next
 * one runs. */
static void test_fault_site(void)
{
    struct err e = {0};
    struct sqlpool *p = open_pool(path, 1, NULL, "QueueError");
    if (!p)
        return;
    struct sqlpool_conn *c = sqlpool_acquire(p);
    fault_arm(FAULT_SQL, 1, SQLITE_IOERR, 0);
    CHECK(sqlpool_stmt(c, Q_COUNT_ROWS, &e) == NULL);
    CHECK_STR(e.code, "QueueError");
    CHECK(strstr(e.message, "injected") != NULL);
    CHECK(count_rows(c) >= 250);
    fault_disarm_all();
    sqlpool_release(p, c);
    sqlpool_close(p);
}

/* With the checkpoint thread on, commits leave the WAL to it: 1,500 one-page commits (more than
 * SQLite's 1,000-frame checkpoint at commit) are all still in the WAL when the thread's interval
 * has not come yet. Without the thread, a commit checkpoints at 1,000 frames as SQLite does. */
static void test_commit_checkpoint_is_a_backstop(void)
{
    for (int with_thread = 1; with_thread >= 0; with_thread--) {
        char *p_path = sqlite3_mprintf("%s/ck%d.db", dir, with_thread);
        struct err e = {0};
        sqlpool_set_checkpoint_ms(with_thread ? 3600000 : 0);
        struct sqlpool *p = open_pool(p_path, 1, schema, "StoreError");
        sqlpool_set_checkpoint_ms(0);
        if (!p) {
            sqlite3_free(p_path);
            continue;
        }
        struct sqlpool_conn *c = sqlpool_acquire(p);
        put_rows(c, 0, 1500, "v"); /* 1,500 commits */
        char v[64];
        pragma(c->db, "wal_autocheckpoint", v, sizeof v);
        CHECK_INT(atoi(v), with_thread ? SQLPOOL_COMMIT_CHECKPOINT_FRAMES : 1000);
        sqlpool_release(p, c);
        int frames = -1;
        CHECK(sqlpool_checkpoint(p, 0, &frames, &e) == 0);
        if (with_thread)
            CHECK(frames >= 1500); /* every commit's frame is still there */
        else
            CHECK(frames < 1500); /* a commit checkpointed and the WAL restarted */
        sqlpool_close(p);
        sqlite3_free(p_path);
    }
}

/* Writers queue for the one writing connection: it is none of the readers, and threads that
 * all write at once each get it in turn, none failing with SQLITE_BUSY. */
struct writer_arg {
    struct sqlpool *p;
    int from;   /* first key this thread inserts */
    int failed; /* inserts that did not finish */
};

static void *writer_main(void *ud)
{
    struct writer_arg *w = ud;
    struct err e = {0};
    for (int i = 0; i < 100; i++) {
        struct sqlpool_conn *c = sqlpool_acquire_writer(w->p);
        sqlite3_stmt *st = sqlpool_stmt(c, Q_PUT, &e);
        sqlite3_bind_int(st, 1, w->from + i);
        sqlite3_bind_text(st, 2, "w", -1, SQLITE_STATIC);
        if (!st || sqlite3_step(st) != SQLITE_DONE)
            w->failed++;
        sqlpool_release(w->p, c);
    }
    return NULL;
}

static void test_one_writer(void)
{
    struct sqlpool *p = open_pool(path, 2, schema, "StoreError");
    if (!p)
        return;
    struct sqlpool_conn *r1 = sqlpool_acquire(p), *r2 = sqlpool_acquire(p);
    struct sqlpool_conn *w = sqlpool_acquire_writer(p);
    CHECK(w != r1 && w != r2);
    long long before = count_rows(r1);
    sqlpool_release(p, w);
    sqlpool_release(p, r2);
    sqlpool_release(p, r1);
    struct writer_arg args[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (struct writer_arg){.p = p, .from = 200000 + 1000 * i};
        CHECK(pthread_create(&th[i], NULL, writer_main, &args[i]) == 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK_INT(args[i].failed, 0);
    }
    r1 = sqlpool_acquire(p);
    CHECK_INT(count_rows(r1), before + 400);
    sqlpool_release(p, r1);
    sqlpool_close(p);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/parley-sqlpool-XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    snprintf(path, sizeof path, "%s/pool.db", dir);
    RUN(test_settings_on_every_connection);
    RUN(test_connections_see_each_others_commits);
    RUN(test_pin);
    RUN(test_statement_cache_survives_schema_change);
    RUN(test_fault_site);
    RUN(test_commit_checkpoint_is_a_backstop);
    RUN(test_one_writer);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    return check_summary();
}
