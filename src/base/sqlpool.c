/* sqlpool.c - pooled SQLite connections with per-connection prepared statements; see sqlpool.h. */
#include "base/sqlpool.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/log.h"
#include "base/sched.h"
#include "base/xmalloc.h"

struct sqlpool {
    struct sqlpool_conn *conns;     /* size connections */
    int size;                       /* number of connections */
    struct sqlpool_conn *free_list; /* idle connections */
    pthread_mutex_t lock;           /* guards free_list */
    pthread_cond_t avail;           /* signalled when a connection returns */
    const char *const *sql;         /* the statement table */
    int nsql;                       /* statements in it */
    char err_code[ERR_CODE_MAX];    /* code of this pool's errors */
};

int sqlpool_fail(const struct sqlpool_conn *c, struct err *err, const char *what)
{
    return err_set(err, c->pool->err_code, "%s failed: %s", what, sqlite3_errmsg(c->db));
}

struct sqlpool_conn *sqlpool_acquire(struct sqlpool *p)
{
    pthread_mutex_lock(&p->lock);
    while (!p->free_list)
        pthread_cond_wait(&p->avail, &p->lock);
    struct sqlpool_conn *c = p->free_list;
    p->free_list = c->next_free;
    pthread_mutex_unlock(&p->lock);
    sched_hold_begin(); /* a task holding a connection must not park (the mutex rule) */
    return c;
}

void sqlpool_release(struct sqlpool *p, struct sqlpool_conn *c)
{
    sched_hold_end();
    pthread_mutex_lock(&p->lock);
    c->next_free = p->free_list;
    p->free_list = c;
    pthread_cond_signal(&p->avail);
    pthread_mutex_unlock(&p->lock);
}

sqlite3_stmt *sqlpool_stmt(struct sqlpool_conn *c, int q, struct err *err)
{
    if (!c->stmt[q] && sqlite3_prepare_v3(c->db, c->pool->sql[q], -1, SQLITE_PREPARE_PERSISTENT,
                                          &c->stmt[q], NULL) != SQLITE_OK) {
        sqlpool_fail(c, err, "prepare");
        return NULL;
    }
    sqlite3_reset(c->stmt[q]);
    sqlite3_clear_bindings(c->stmt[q]);
    return c->stmt[q];
}

int sqlpool_exec(struct sqlpool_conn *c, int q, struct err *err)
{
    sqlite3_stmt *st = sqlpool_stmt(c, q, err);
    if (!st)
        return -1;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) /* a PRAGMA may answer rows: they are skipped */
        ;
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return sqlpool_fail(c, err, c->pool->sql[q]);
    return 0;
}

static int conn_open(struct sqlpool *p, struct sqlpool_conn *c, const char *path,
                     const char *schema, struct err *err)
{
    c->pool = p;
    c->stmt = xcalloc((size_t)p->nsql, sizeof *c->stmt);
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path, &c->db, flags, NULL) != SQLITE_OK) {
        err_set(err, p->err_code, "cannot open '%s': %s", path,
                c->db ? sqlite3_errmsg(c->db) : "out of memory");
        return -1;
    }
    sqlite3_busy_timeout(c->db, 10000);
    char *msg = NULL;
    const char *setup = schema ? "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                               : "PRAGMA synchronous=NORMAL;";
    if (sqlite3_exec(c->db, setup, NULL, NULL, &msg) != SQLITE_OK ||
        (schema && sqlite3_exec(c->db, schema, NULL, NULL, &msg) != SQLITE_OK)) {
        err_set(err, p->err_code, "cannot initialise '%s': %s", path,
                msg ? msg : sqlite3_errmsg(c->db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
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
    snprintf(p->err_code, sizeof p->err_code, "%s", err_code);
    p->conns = xcalloc((size_t)p->size, sizeof *p->conns);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->avail, NULL);
    for (int i = 0; i < p->size; i++) {
        if (conn_open(p, &p->conns[i], path, i == 0 ? schema : NULL, err) < 0) {
            sqlpool_close(p);
            return NULL;
        }
        p->conns[i].next_free = p->free_list;
        p->free_list = &p->conns[i];
    }
    log_at(LL_DEBUG, "sqlpool", "opened '%s' with %d connections", path, p->size);
    return p;
}

void sqlpool_close(struct sqlpool *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->size; i++) {
        struct sqlpool_conn *c = &p->conns[i];
        for (int q = 0; c->stmt && q < p->nsql; q++)
            sqlite3_finalize(c->stmt[q]);
        free(c->stmt);
        sqlite3_close(c->db);
    }
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->avail);
    free(p->conns);
    free(p);
}
