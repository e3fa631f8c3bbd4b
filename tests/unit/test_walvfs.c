/*
 * test_walvfs.c - the WAL write-joining VFS shim (base/walvfs.h): every WAL frame is written with
 * one write, the files it leaves are SQLite's own (the default VFS reads and recovers them), and
 * a failed joined write is SQLite's I/O error, with nothing of the failed commit kept.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../check.h"
#include "base/fault.h"
#include "base/walvfs.h"

static char dir[64];

/* Opens name in the test directory through vfs (NULL: the default one). */
static sqlite3 *open_db(const char *name, const char *vfs)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs) != SQLITE_OK) {
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

static int exec(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* The first column of the first row of sql as an integer (-1 when there is none). */
static long long scalar(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    long long v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static const char *text_of(sqlite3 *db, const char *sql, char *out, size_t cap)
{
    sqlite3_stmt *st = NULL;
    out[0] = '\0';
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        snprintf(out, cap, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return out;
}

/* Commits rows [from, to) of table t one transaction per ten rows, each row a ~1 KB value. */
static int fill(sqlite3 *db, int from, int to)
{
    sqlite3_stmt *ins = NULL;
    if (sqlite3_prepare_v2(db, "INSERT INTO t (k, v) VALUES (?1, printf('%.*c', 1000 + ?1, 'x'))",
                           -1, &ins, NULL) != SQLITE_OK)
        return -1;
    int rc = 0;
    for (int k = from; k < to && rc == 0; k++) {
        if (k % 10 == 0 && exec(db, "BEGIN") != SQLITE_OK)
            rc = -1;
        sqlite3_bind_int(ins, 1, k);
        if (sqlite3_step(ins) != SQLITE_DONE)
            rc = -1;
        sqlite3_reset(ins);
        if ((k % 10 == 9 || k == to - 1) && exec(db, "COMMIT") != SQLITE_OK)
            rc = -1;
    }
    sqlite3_finalize(ins);
    return rc;
}

static long long file_size(const char *name)
{
    char path[128];
    struct stat sb;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &sb) == 0 ? (long long)sb.st_size : -1;
}

static void copy_file(const char *from, const char *to)
{
    char cmd[320];
    snprintf(cmd, sizeof cmd, "cp '%s/%s' '%s/%s'", dir, from, dir, to);
    CHECK(system(cmd) == 0);
}

/* Opens name through the shim in journal mode ("wal" or "delete"), without checkpoints at commit,
 * with an empty table t. NULL (a failed check) when any of that fails. */
static sqlite3 *open_table(const char *name, const char *journal)
{
    sqlite3 *db = open_db(name, WALVFS_NAME);
    char sql[64], mode[16];
    snprintf(sql, sizeof sql, "PRAGMA journal_mode=%s", journal);
    CHECK(db != NULL);
    if (db && (strcmp(text_of(db, sql, mode, sizeof mode), journal) != 0 ||
               exec(db, "PRAGMA wal_autocheckpoint=0;"
                        " CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)") != SQLITE_OK)) {
        CHECK(!"journal mode and table");
        sqlite3_close(db);
        db = NULL;
    }
    return db;
}

/* Checks that db passes the integrity check and holds n rows in t. */
static void check_rows(sqlite3 *db, long long n)
{
    char ok[16];
    CHECK_STR(text_of(db, "PRAGMA integrity_check", ok, sizeof ok), "ok");
    CHECK_INT(scalar(db, "SELECT count(*) FROM t"), n);
}

/* Every frame of every commit goes out joined; a second connection through the default VFS sees
 * each commit, and the WAL is exactly as long as SQLite's frames make it. */
static void test_frames_joined_and_readable(void)
{
    CHECK_INT(walvfs_register(), SQLITE_OK);
    CHECK_INT(walvfs_register(), SQLITE_OK); /* idempotent */
    CHECK(sqlite3_vfs_find(WALVFS_NAME) != NULL);
    CHECK(sqlite3_vfs_find(NULL) != sqlite3_vfs_find(WALVFS_NAME)); /* not the default */
    sqlite3 *w = open_table("a.db", "wal"), *r = open_db("a.db", NULL);
    CHECK(r != NULL);
    if (!w || !r)
        goto out;
    uint64_t before = walvfs_frames_joined();
    CHECK_INT(fill(w, 0, 200), 0);
    uint64_t frames = walvfs_frames_joined() - before;
    CHECK(frames >= 50); /* 200 KB of rows: at least one frame per 4 KB page */
    long long page = scalar(w, "PRAGMA page_size");
    /* The WAL holds its 32-byte header and the frames, nothing else: a frame's header written
     * on its own and then again joined, or lost, would show here. The table's creation wrote its
     * frames before `before`. */
    long long wal = file_size("a.db-wal");
    CHECK((wal - 32) % (24 + page) == 0);
    CHECK((uint64_t)((wal - 32) / (24 + page)) >= frames);
    CHECK_INT(scalar(r, "SELECT count(*) FROM t"), 200);
    CHECK_INT(scalar(r, "SELECT sum(length(v)) FROM t"), 200 * 1000 + 199 * 200 / 2);
    /* Each commit is seen by the other connection as it lands. */
    CHECK_INT(fill(w, 200, 210), 0);
    CHECK_INT(scalar(r, "SELECT count(*) FROM t"), 210);
    CHECK_INT(scalar(r, "SELECT max(k) FROM t"), 209);
out:
    sqlite3_close(r);
    sqlite3_close(w);
}

/* The files left while the writer is still open (as after a crash: no checkpoint at close) are
 * recovered by SQLite's own VFS with every committed row, and pass the integrity check. */
static void test_recovered_by_default_vfs(void)
{
    sqlite3 *w = open_table("b.db", "wal");
    if (!w)
        return;
    CHECK_INT(fill(w, 0, 300), 0);
    CHECK(file_size("b.db-wal") > 300 * 1000);
    copy_file("b.db", "c.db");
    copy_file("b.db-wal", "c.db-wal");
    sqlite3_close(w);
    sqlite3 *r = open_db("c.db", NULL);
    CHECK(r != NULL);
    check_rows(r, 300);
    CHECK_INT(scalar(r, "SELECT length(v) FROM t WHERE k = 299"), 1299);
    sqlite3_close(r);
}

/* A database not in WAL mode (a rollback journal) works through the shim, which leaves its
 * files alone: no frame is joined. */
static void test_rollback_journal_untouched(void)
{
    uint64_t before = walvfs_frames_joined();
    sqlite3 *w = open_table("d.db", "delete");
    if (!w)
        return;
    CHECK_INT(fill(w, 0, 50), 0);
    CHECK(walvfs_frames_joined() == before);
    CHECK_INT(scalar(w, "SELECT count(*) FROM t"), 50);
    sqlite3_close(w);
}

/* A joined write that fails is the commit's I/O error: the commit is rolled back, the rows
 * before it stay, and the next commit works. */
static void test_failed_write(void)
{
    sqlite3 *w = open_table("e.db", "wal");
    if (!w)
        return;
    CHECK_INT(fill(w, 0, 10), 0);
    fault_arm(FAULT_WAL, 1, SQLITE_IOERR_WRITE, 0);
    CHECK_INT(exec(w, "BEGIN"), SQLITE_OK);
    CHECK_INT(exec(w, "INSERT INTO t VALUES (100, 'lost')"), SQLITE_OK);
    int rc = exec(w, "COMMIT");
    CHECK_INT(rc & 0xff, SQLITE_IOERR);
    CHECK_INT(fault_injected(FAULT_WAL), 1);
    fault_disarm_all();
    if (!sqlite3_get_autocommit(w))
        exec(w, "ROLLBACK");
    CHECK_INT(scalar(w, "SELECT count(*) FROM t WHERE k = 100"), 0);
    CHECK_INT(fill(w, 10, 20), 0);
    sqlite3 *r = open_db("e.db", NULL);
    check_rows(r, 20);
    sqlite3_close(r);
    sqlite3_close(w);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/parley-walvfs-XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    RUN(test_frames_joined_and_readable);
    RUN(test_recovered_by_default_vfs);
    RUN(test_rollback_journal_untouched);
    RUN(test_failed_write);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    return check_summary();
}
