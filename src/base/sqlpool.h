/*
 * sqlpool.h - a small pool of SQLite connections to one database file, each with its own lazily
 * prepared statements, shared by the embedded adapters (store, queue).
 *
 * The pool opens every connection in WAL mode with synchronous=NORMAL and a busy timeout, runs the
 * schema once on the first connection, and hands connections out one thread at a time. Statements
 * are identified by their index in the table of SQL given to sqlpool_open(); sqlpool_stmt()
 * prepares one on first use (SQLITE_PREPARE_PERSISTENT) and returns it reset and cleared, so a hot
 * path does no SQL parsing. Errors carry the pool's error code ("StoreError", "QueueError").
 */
#ifndef PARLEY_SQLPOOL_H
#define PARLEY_SQLPOOL_H

#include <sqlite3.h>

#include "base/err.h"

struct sqlpool;

struct sqlpool_conn {
    sqlite3 *db;                    /* the connection */
    sqlite3_stmt **stmt;            /* prepared statements by index, NULL until first use */
    const struct sqlpool *pool;     /* the owning pool */
    struct sqlpool_conn *next_free; /* free-list link */
};

/* Opens size connections to path. sql[0..nsql) is the statement table (borrowed; must outlive the
 * pool); schema runs once on the first connection. Returns the pool, or NULL with err (code
 * err_code) naming the path and SQLite's message. */
struct sqlpool *sqlpool_open(const char *path, int size, const char *const *sql, int nsql,
                             const char *schema, const char *err_code, struct err *err);

/* Closes every connection; NULL is a no-op. No connection may be out. */
void sqlpool_close(struct sqlpool *p);

/* Takes an idle connection, waiting for one when all are out; never fails. Until the matching
 * sqlpool_release() the caller must not park (sched_hold_begin: a wait there aborts). */
struct sqlpool_conn *sqlpool_acquire(struct sqlpool *p);

/* Returns a connection taken with sqlpool_acquire. */
void sqlpool_release(struct sqlpool *p, struct sqlpool_conn *c);

/* The statement at index q, prepared on first use, reset and with bindings cleared; NULL with err
 * when it cannot be prepared. */
sqlite3_stmt *sqlpool_stmt(struct sqlpool_conn *c, int q, struct err *err);

/* Runs statement q (no parameters) to completion, skipping any rows it answers (PRAGMAs such as
 * wal_checkpoint do). Returns 0 or -1 with err. */
int sqlpool_exec(struct sqlpool_conn *c, int q, struct err *err);

/* Fills err with the pool's code, "<what> failed: <SQLite message>"; returns -1. */
int sqlpool_fail(const struct sqlpool_conn *c, struct err *err, const char *what);

#endif
