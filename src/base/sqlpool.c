/* sqlpool.c - pooled SQLite connections with per-connection prepared statements; see sqlpool.h. */
#include "base/sqlpool.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "base/clock.h"
#include "base/fault.h"
#include "base/log.h"
#include "base/walvfs.h"
#include "base/sched.h"
#include "base/xmalloc.h"

struct sqlpool {
    struct sqlpool_conn *conns;     /* size readers, then the writer */
    int size;                       /* number of reading connections */
    struct sqlpool_conn *writer;    /* conns[size]: the one connection that writes */
    int writer_out;                 /* the writer is taken (guarded by lock) */
    pthread_cond_t writer_free;     /* signalled when the writer returns */
    struct sqlpool_conn *free_list; /* idle connections */
    pthread_mutex_t lock;           /* guards free_list */
    pthread_cond_t avail;           /* signalled when a connection returns */
    pthread_cond_t tx_end;          /* broadcast when a connection returns (its transaction over) */
    const char *const *sql;         /* the statement table */
    int nsql;                       /* statements in it */
    char err_code[ERR_CODE_MAX];    /* code of this pool's errors */
    char *path;                     /* the database file (for log lines) */
    atomic_long uses;               /* acquisitions; the checkpoint thread reads it for idleness */
    int ck_ms;                      /* checkpoint interval (0: no thread) */
    pthread_t ck_thread;            /* the checkpoint thread, when ck_on */
    int ck_on;                      /* ck_thread runs */
    int ck_stop;                    /* set under lock to stop ck_thread */
    pthread_cond_t ck_wake;         /* wakes ck_thread to stop */
    atomic_long ck_passive;         /* passive checkpoints the thread ran */
    atomic_long ck_truncated;       /* truncating checkpoints the thread ran */
    int writable;                   /* opened with a schema: page caches of SQLPOOL_CACHE_KB */
};

static atomic_int checkpoint_ms; /* sqlpool_set_checkpoint_ms */

void sqlpool_set_checkpoint_ms(int ms)
{
    atomic_store(&checkpoint_ms, ms < 0 ? 0 : ms);
}

int sqlpool_fail(const struct sqlpool_conn *c, struct err *err, const char *what)
{
    return err_set(err, c->pool->err_code, "%s failed: %s", what, sqlite3_errmsg(c->db));
}

/* The calling thread's pin (sqlpool_pin). */
static __thread struct {
    struct sqlpool *pool;      /* pinned pool, or NULL */
    struct sqlpool_conn *conn; /* its connection, in a read transaction */
    int depth;                 /* pins of pool not yet unpinned */
} pin;

struct sqlpool_conn *sqlpool_acquire(struct sqlpool *p)
{
    if (pin.pool == p) {
        sched_hold_begin();
        return pin.conn;
    }
    pthread_mutex_lock(&p->lock);
    while (!p->free_list)
        pthread_cond_wait(&p->avail, &p->lock);
    struct sqlpool_conn *c = p->free_list;
    p->free_list = c->next_free;
    pthread_mutex_unlock(&p->lock);
    atomic_fetch_add(&p->uses, 1);
    sched_hold_begin(); /* a task holding a connection must not park (the mutex rule) */
    return c;
}

struct sqlpool_conn *sqlpool_acquire_writer(struct sqlpool *p)
{
    pthread_mutex_lock(&p->lock);
    while (p->writer_out)
        pthread_cond_wait(&p->writer_free, &p->lock);
    p->writer_out = 1;
    pthread_mutex_unlock(&p->lock);
    atomic_fetch_add(&p->uses, 1);
    sched_hold_begin();
    return p->writer;
}

void sqlpool_release(struct sqlpool *p, struct sqlpool_conn *c)
{
    sched_hold_end();
    if (pin.pool == p && c == pin.conn)
        return; /* stays pinned until sqlpool_unpin */
    pthread_mutex_lock(&p->lock);
    if (c == p->writer) {
        p->writer_out = 0;
        pthread_cond_signal(&p->writer_free);
    } else {
        c->next_free = p->free_list;
        p->free_list = c;
        pthread_cond_signal(&p->avail);
    }
    pthread_cond_broadcast(&p->tx_end);
    pthread_mutex_unlock(&p->lock);
}

int sqlpool_pin(struct sqlpool *p, struct err *err)
{
    assert(!pin.pool || pin.pool == p); /* one pool pinned per thread */
    if (pin.pool == p) {
        pin.depth++;
        return 0;
    }
    struct sqlpool_conn *c = sqlpool_acquire(p);
    /* BEGIN, then a read: a deferred transaction takes its snapshot at its first read. */
    if (sqlite3_exec(c->db, "BEGIN; SELECT 1 FROM sqlite_schema LIMIT 1", NULL, NULL, NULL) !=
        SQLITE_OK) {
        sqlpool_fail(c, err, "begin a read transaction");
        if (!sqlite3_get_autocommit(c->db))
            sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
        sqlpool_release(p, c);
        return -1;
    }
    pin.pool = p;
    pin.conn = c;
    pin.depth = 1;
    return 0;
}

void sqlpool_unpin(struct sqlpool *p)
{
    assert(pin.pool == p && pin.depth > 0);
    if (--pin.depth > 0)
        return;
    struct sqlpool_conn *c = pin.conn;
    pin.pool = NULL;
    pin.conn = NULL;
    if (!sqlite3_get_autocommit(c->db)) /* a failed statement may have ended it already */
        sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
    sqlpool_release(p, c);
}

sqlite3_stmt *sqlpool_stmt(struct sqlpool_conn *c, int q, struct err *err)
{
    int injected = fault_check(FAULT_SQL);
    if (injected) {
        err_set(err, c->pool->err_code, "prepare failed: %s (injected fault)",
                sqlite3_errstr(injected));
        return NULL;
    }
    if (!c->stmt[q] && sqlite3_prepare_v3(c->db, c->pool->sql[q], -1, SQLITE_PREPARE_PERSISTENT,
                                          &c->stmt[q], NULL) != SQLITE_OK) {
        sqlpool_fail(c, err, "prepare");
        return NULL;
    }
    sqlite3_reset(c->stmt[q]);
    sqlite3_clear_bindings(c->stmt[q]);
    return c->stmt[q];
}

struct step_call {
    sqlite3_stmt *st;
    int rc;
};

static void step_on_deep_stack(void *ud)
{
    struct step_call *sc = ud;
    sc->rc = sqlite3_step(sc->st);
}

int sqlpool_step(sqlite3_stmt *st)
{
    struct step_call sc = {st, SQLITE_ERROR};
    sched_call_deep(step_on_deep_stack, &sc);
    return sc.rc;
}

int sqlpool_exec(struct sqlpool_conn *c, int q, struct err *err)
{
    sqlite3_stmt *st = sqlpool_stmt(c, q, err);
    if (!st)
        return -1;
    int rc;
    while ((rc = sqlpool_step(st)) == SQLITE_ROW) /* a PRAGMA may answer rows: they are skipped */
        ;
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return sqlpool_fail(c, err, c->pool->sql[q]);
    return 0;
}

/* SQLite's busy handler: another connection holds the write lock. SQLite's own busy timeout sleeps
 * 1, 2, 5, 10 ... 100 ms between tries, far longer than a transaction of ours takes, so request
 * threads sat asleep with the lock free. Instead the waiter sleeps on the pool's tx_end condition,
 * which every connection returning to the pool (its transaction committed or rolled back)
 * broadcasts, and retries at once; a short timed wait covers writers in other processes (the
 * worker, the CLI). Gives up (SQLITE_BUSY) after SQLPOOL_BUSY_MS. */
static int conn_busy(void *ud, int tries)
{
    struct sqlpool_conn *c = ud;
    struct sqlpool *p = (struct sqlpool *)c->pool;
    int64_t now = clock_mono_ms();
    if (tries == 0)
        c->busy_since_ms = now;
    if (now - c->busy_since_ms >= SQLPOOL_BUSY_MS)
        return 0;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += 2000000L; /* 2 ms */
    until.tv_sec += until.tv_nsec / 1000000000L;
    until.tv_nsec %= 1000000000L;
    pthread_mutex_lock(&p->lock);
    pthread_cond_timedwait(&p->tx_end, &p->lock, &until);
    pthread_mutex_unlock(&p->lock);
    return 1;
}

static int conn_open(struct sqlpool *p, struct sqlpool_conn *c, const char *path,
                     const char *schema, struct err *err)
{
    c->pool = p;
    c->stmt = xcalloc((size_t)p->nsql, sizeof *c->stmt);
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    const char *vfs = walvfs_register() == SQLITE_OK ? WALVFS_NAME : NULL;
    if (sqlite3_open_v2(path, &c->db, flags, vfs) != SQLITE_OK) {
        err_set(err, p->err_code, "cannot open '%s': %s", path,
                c->db ? sqlite3_errmsg(c->db) : "out of memory");
        return -1;
    }
    sqlite3_busy_handler(c->db, conn_busy, c);
    /* With the checkpoint thread on, a commit checkpoints only as a backstop (the thread fell
     * behind), so request threads do not pay for copying pages back and syncing the file. */
    sqlite3_wal_autocheckpoint(c->db, p->ck_ms > 0 ? SQLPOOL_COMMIT_CHECKPOINT_FRAMES : 1000);
    char *msg = NULL;
    char setup[256], cache[64] = "";
    if (p->writable)
        snprintf(cache, sizeof cache, " PRAGMA cache_size=-%d;", SQLPOOL_CACHE_KB);
    snprintf(setup, sizeof setup,
             "%sPRAGMA synchronous=NORMAL; PRAGMA journal_size_limit=%lld;"
             " PRAGMA temp_store=MEMORY;%s",
             schema ? "PRAGMA journal_mode=WAL; " : "", SQLPOOL_WAL_LIMIT, cache);
    if (sqlite3_exec(c->db, setup, NULL, NULL, &msg) != SQLITE_OK ||
        (schema && sqlite3_exec(c->db, schema, NULL, NULL, &msg) != SQLITE_OK)) {
        err_set(err, p->err_code, "cannot initialise '%s': %s", path,
                msg ? msg : sqlite3_errmsg(c->db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- checkpoints */

int sqlpool_checkpoint(struct sqlpool *p, int truncate, int *wal_frames, struct err *err)
{
    struct sqlpool_conn *c = sqlpool_acquire(p);
    int log = 0, done = 0;
    int mode = truncate ? SQLITE_CHECKPOINT_TRUNCATE : SQLITE_CHECKPOINT_PASSIVE;
    int rc = sqlite3_wal_checkpoint_v2(c->db, NULL, mode, &log, &done);
    int out = 0;
    if (rc != SQLITE_OK && rc != SQLITE_BUSY)
        out = sqlpool_fail(c, err, truncate ? "wal_checkpoint(TRUNCATE)" : "wal_checkpoint");
    sqlpool_release(p, c);
    if (wal_frames)
        *wal_frames = log;
    return out;
}

void sqlpool_checkpoint_counts(const struct sqlpool *p, long *passive, long *truncated)
{
    *passive = atomic_load(&p->ck_passive);
    *truncated = atomic_load(&p->ck_truncated);
}

/* The checkpoint thread: every ck_ms a PASSIVE checkpoint, or a TRUNCATE one when nothing but
 * this thread used the pool since the last tick. Stops when ck_stop is set. */
static void *checkpoint_main(void *arg)
{
    struct sqlpool *p = arg;
    long seen = atomic_load(&p->uses);
    pthread_mutex_lock(&p->lock);
    while (!p->ck_stop) {
        struct timespec until;
        clock_deadline_in(&until, p->ck_ms);
        pthread_cond_timedwait(&p->ck_wake, &p->lock, &until);
        if (p->ck_stop)
            break;
        pthread_mutex_unlock(&p->lock);
        long now = atomic_load(&p->uses);
        int idle = now == seen;
        struct err e = {0};
        if (sqlpool_checkpoint(p, idle, NULL, &e) < 0)
            log_at(LL_WARN, "sqlpool", "cannot checkpoint '%s': %s", p->path, e.message);
        else
            atomic_fetch_add(idle ? &p->ck_truncated : &p->ck_passive, 1);
        seen = atomic_load(&p->uses); /* our own acquisition does not count as use */
        pthread_mutex_lock(&p->lock);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* SQLite's memory statistics take a global lock on every allocation, which all request threads
 * then contend on; Parley never reads them. Must run before SQLite initialises. */
static void sqlite_setup(void)
{
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

struct sqlpool *sqlpool_open(const char *path, int size, const char *const *sql, int nsql,
                             const char *schema, const char *err_code, struct err *err)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, sqlite_setup);
    struct sqlpool *p = xcalloc(1, sizeof *p);
    p->size = size < 1 ? 1 : size;
    p->sql = sql;
    p->nsql = nsql;
    p->path = xstrdup(path);
    snprintf(p->err_code, sizeof p->err_code, "%s", err_code);
    p->conns = xcalloc((size_t)p->size + 1, sizeof *p->conns);
    p->writer = &p->conns[p->size];
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->avail, NULL);
    pthread_cond_init(&p->ck_wake, NULL);
    pthread_cond_init(&p->tx_end, NULL);
    pthread_cond_init(&p->writer_free, NULL);
    p->ck_ms = schema ? atomic_load(&checkpoint_ms) : 0;
    p->writable = schema != NULL;
    for (int i = 0; i <= p->size; i++) {
        if (conn_open(p, &p->conns[i], path, i == 0 ? schema : NULL, err) < 0) {
            sqlpool_close(p);
            return NULL;
        }
        if (i < p->size) {
            p->conns[i].next_free = p->free_list;
            p->free_list = &p->conns[i];
        }
    }
    if (p->ck_ms > 0) {
        if (pthread_create(&p->ck_thread, NULL, checkpoint_main, p) == 0)
            p->ck_on = 1;
        else
            log_at(LL_WARN, "sqlpool", "cannot start the checkpoint thread of '%s'", path);
        for (int i = 0; !p->ck_on && i <= p->size; i++) /* no thread: commits checkpoint again */
            sqlite3_wal_autocheckpoint(p->conns[i].db, 1000);
    }
    log_at(LL_DEBUG, "sqlpool", "opened '%s' with %d reading connections and a writer", path,
           p->size);
    return p;
}

void sqlpool_close(struct sqlpool *p)
{
    if (!p)
        return;
    if (p->ck_on) {
        pthread_mutex_lock(&p->lock);
        p->ck_stop = 1;
        pthread_cond_signal(&p->ck_wake);
        pthread_mutex_unlock(&p->lock);
        pthread_join(p->ck_thread, NULL);
        struct err e = {0};
        if (sqlpool_checkpoint(p, 1, NULL, &e) < 0)
            log_at(LL_WARN, "sqlpool", "cannot checkpoint '%s' at close: %s", p->path, e.message);
    }
    for (int i = 0; i <= p->size; i++) {
        struct sqlpool_conn *c = &p->conns[i];
        for (int q = 0; c->stmt && q < p->nsql; q++)
            sqlite3_finalize(c->stmt[q]);
        free(c->stmt);
        sqlite3_close(c->db);
    }
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->avail);
    pthread_cond_destroy(&p->ck_wake);
    free(p->path);
    pthread_cond_destroy(&p->tx_end);
    pthread_cond_destroy(&p->writer_free);
    free(p->conns);
    free(p);
}
