/*
 * sqlpool.h - a small pool of SQLite connections to one database file, each with its own lazily
 * prepared statements, shared by the embedded adapters (store, queue).
 *
 * The pool opens every connection in WAL mode with synchronous=NORMAL and a busy handler that waits
 * for a transaction of the pool to end (not a fixed sleep, see sqlpool.c), runs the
 * schema once on the first connection, and hands connections out one thread at a time: any of
 * the size readers, or the one writer (sqlpool_acquire_writer), which the store takes for every
 * write. Statements
 * are identified by their index in the table of SQL given to sqlpool_open(); sqlpool_stmt()
 * prepares one on first use (SQLITE_PREPARE_PERSISTENT) and returns it reset and cleared, so a hot
 * path does no SQL parsing. Errors carry the pool's error code ("StoreError", "QueueError").
 *
 * The connections of a pool opened with a schema (a database the process writes) keep a page
 * cache of SQLPOOL_CACHE_KB, not SQLite's 2 MB: a reading connection's cache is dropped whenever
 * another connection committed, so under load it holds little it can use again, and the writer's
 * working set is the right edge of its B-trees; at 1,000 turns in flight the 2 MB caches were
 * ~2.5 KB of every turn's memory. Read-only pools (the knowledge-base index) keep SQLite's default.
 *
 * Every connection is opened through the WAL write-joining VFS shim (base/walvfs.h).
 *
 * Every connection keeps temporary tables and indices in memory (temp_store=MEMORY). It does not
 * map the file (mmap_size stays 0): measured on the new-session load, mapping cost 15% more CPU
 * per turn, since every connection remaps the growing file and faults its pages in again.
 *
 * Bounded WAL: every connection sets journal_size_limit (SQLPOOL_WAL_LIMIT) so a reset WAL
 * shrinks back, and a pool opened with a schema while sqlpool_set_checkpoint_ms() is positive runs
 * a checkpoint thread: a PASSIVE checkpoint every interval (it never blocks writers, and keeps up
 * where the auto-checkpoint at commit is starved by readers), and a TRUNCATE checkpoint when no
 * connection was used during the last interval (idle). While the thread runs, SQLite's own
 * checkpoint at commit waits for SQLPOOL_COMMIT_CHECKPOINT_FRAMES WAL frames instead of 1,000: it
 * is only a backstop, so a request thread seldom pays for a checkpoint (its copy and its syncs).
 */
#ifndef PARLEY_SQLPOOL_H
#define PARLEY_SQLPOOL_H

#include <sqlite3.h>

#include <stdint.h>

#include "base/err.h"

/* How long a statement waits for another writer before it fails with SQLITE_BUSY. */
#define SQLPOOL_BUSY_MS 10000

struct sqlpool;

struct sqlpool_conn {
    sqlite3 *db;                    /* the connection */
    sqlite3_stmt **stmt;            /* prepared statements by index, NULL until first use */
    const struct sqlpool *pool;     /* the owning pool */
    struct sqlpool_conn *next_free; /* free-list link */
    int64_t busy_since_ms;          /* when the current wait for the write lock began */
};

/* Opens size reading connections and one writing connection to path. sql[0..nsql) is the statement
 * table (borrowed; must outlive the pool); schema runs once on the first connection. Returns the
 * pool, or NULL with err (code err_code) naming the path and SQLite's message. */
struct sqlpool *sqlpool_open(const char *path, int size, const char *const *sql, int nsql,
                             const char *schema, const char *err_code, struct err *err);

/* The page cache (KiB) of each connection of a pool opened with a schema. */
#define SQLPOOL_CACHE_KB 512

/* The size a WAL file is truncated back to after a checkpoint reset it (journal_size_limit). */
#define SQLPOOL_WAL_LIMIT (64LL * 1024 * 1024)

/* The WAL size (frames) at which a commit checkpoints while the checkpoint thread runs
 * (wal_autocheckpoint; SQLite's default, kept without the thread, is 1000). */
#define SQLPOOL_COMMIT_CHECKPOINT_FRAMES 16000

/* Sets the checkpoint interval of the pools opened from now on (ms; 0, the default, starts no
 * checkpoint thread). Process-wide, like the log threshold: app_open sets it from
 * PARLEY_CHECKPOINT_MS before it opens the store and the queue. */
void sqlpool_set_checkpoint_ms(int ms);

/* Runs one checkpoint now on an idle connection (waiting for one): PASSIVE, or TRUNCATE when
 * truncate is set. *wal_frames (may be NULL) gets the WAL's size in frames before it. Returns 0,
 * or -1 with err; SQLITE_BUSY (a TRUNCATE that readers kept from finishing) is not an error. */
int sqlpool_checkpoint(struct sqlpool *p, int truncate, int *wal_frames, struct err *err);

/* Counts the checkpoints the pool's thread ran (passive, truncate); for tests and metrics. */
void sqlpool_checkpoint_counts(const struct sqlpool *p, long *passive, long *truncated);

/* Stops the checkpoint thread (after a last TRUNCATE), then closes every connection; NULL is a
 * no-op. No connection may be out. */
void sqlpool_close(struct sqlpool *p);

/* Takes an idle reading connection, waiting for one when all are out; never fails. Until the
 * matching sqlpool_release() the caller must not park (sched_hold_begin: a wait there aborts). */
struct sqlpool_conn *sqlpool_acquire(struct sqlpool *p);

/* Takes the pool's one writing connection, waiting while another thread has it; never fails. A
 * pool whose every write goes through it (the store's) gains twice: SQLite lets one connection
 * write at a time anyway, so writers queue here instead of failing BEGIN with SQLITE_BUSY and
 * retrying their locks, and the writer's page cache stays warm (no other connection of the
 * process changes pages under it). Same rules as sqlpool_acquire; released with
 * sqlpool_release. */
struct sqlpool_conn *sqlpool_acquire_writer(struct sqlpool *p);

/* Returns a connection taken with sqlpool_acquire or sqlpool_acquire_writer. */
void sqlpool_release(struct sqlpool *p, struct sqlpool_conn *c);

/* Pins a reading connection of p to the calling thread with a read transaction open: until
 * sqlpool_unpin(), sqlpool_acquire(p) on this thread returns that connection (and
 * sqlpool_release keeps it pinned), so the thread's reads share one snapshot and one page cache.
 * A read transaction begun after another connection committed starts with an empty page cache,
 * and its locks are two fcntl calls: the archiver reads a pass's sessions under one pin instead
 * of paying that once a session. Keep a pin short (it holds a connection and keeps checkpoints
 * from passing its snapshot) and make no write through p meanwhile. One pin per thread at a
 * time; nested pins of the same pool count. Returns 0, or -1 with err when the transaction
 * cannot begin (nothing is pinned then). */
int sqlpool_pin(struct sqlpool *p, struct err *err);

/* Ends the calling thread's pin of p (its read transaction) and returns the connection. */
void sqlpool_unpin(struct sqlpool *p);

/* The statement at index q, prepared on first use, reset and with bindings cleared; NULL with err
 * when it cannot be prepared. */
sqlite3_stmt *sqlpool_stmt(struct sqlpool_conn *c, int q, struct err *err);

/* sqlite3_step(st), run on the loop's deep stack when called from a scheduler task
 * (sched_call_deep): a step goes ~5 KB below its caller (more when it commits), pages a parked
 * turn's stack would otherwise keep or give back with a madvise. Every step of Parley's
 * statements goes through here. */
int sqlpool_step(sqlite3_stmt *st);

/* Runs statement q (no parameters) to completion, skipping any rows it answers (PRAGMAs such as
 * wal_checkpoint do). Returns 0 or -1 with err. */
int sqlpool_exec(struct sqlpool_conn *c, int q, struct err *err);

/* Fills err with the pool's code, "<what> failed: <SQLite message>"; returns -1. */
int sqlpool_fail(const struct sqlpool_conn *c, struct err *err, const char *what);

#endif
