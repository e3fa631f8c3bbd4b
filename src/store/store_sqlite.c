/*
 * store_sqlite.c - the embedded store adapter: SQLite in WAL mode behind a small connection pool.
 *
 * Each pooled connection keeps its prepared statements, so a turn does no SQL parsing. A turn's
 * writes run in one BEGIN IMMEDIATE transaction, or, saved from a scheduler task, in a savepoint
 * of the committer thread's group commit (see "Group commit" below); readers never block the
 * writer (WAL). Every write takes the pool's one writing connection (sqlpool_acquire_writer),
 * reads any other.
 */
#include <openssl/evp.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>

#include "base/clock.h"
#include "base/jsonb.h"
#include "base/jsontext.h"
#include "base/log.h"
#include "base/sched.h"
#include "base/sqlpool.h"
#include "base/xmalloc.h"
#include "store/store.h"

/* ---------------------------------------------------------------- statements */

enum stmt_id {
    Q_SESSION_GET,
    Q_HISTORY,
    Q_SESSION_TRANSCRIPT,
    Q_TRANSCRIPT,
    Q_HISTORY_SINCE,
    Q_SESSION_INSERT,
    Q_SESSION_TOUCH,
    Q_TURN_INSERT,
    Q_TICKET_INSERT,
    Q_TICKET_GET,
    Q_SESSION_TOUCH_NOTURN,
    Q_TICKETS_LIST,
    Q_ORDER_GET,
    Q_SESSION_STATUS,
    Q_SESSIONS_LIST,
    Q_SESSIONS_IDLE,
    Q_TICKET_BY_KEY,
    Q_ACTION_PUT,
    Q_ACTION_GET,
    Q_IDEM_CLAIM,
    Q_IDEM_GET,
    Q_IDEM_FINISH,
    Q_IDEM_ABORT,
    Q_IDEM_TAKEOVER,
    Q_IDEM_PURGE,
    Q_ERASE_TURNS,
    Q_ERASE_SESSION,
    Q_ERASE_ACTIONS,
    Q_ERASE_IDEM,
    Q_ERASE_TICKETS,
    Q_ERASE_MARK,
    Q_ERASED_GET,
    Q_SECURE_DELETE,
    Q_WAL_TRUNCATE,
    Q_COUNTER_ADD,
    Q_COUNTER_GET,
    Q_COUNTER_VALUE,
    Q_SESSION_LAST,
    Q_COUNTERS_LIST,
    Q_COUNTER_PURGE,
    Q_BEGIN,
    Q_COMMIT,
    Q_ROLLBACK,
    Q_SAVEPOINT,
    Q_RELEASE,
    Q_ROLLBACK_TO,
    Q_AUDIT_APPEND,
    Q_AUDIT_LIST,
    Q_COUNT
};

static const char *const stmt_sql[Q_COUNT] = {
    [Q_SESSION_GET] = "SELECT user_id, status, created_at, last_activity, turns, last_ts, context,"
                      " metadata FROM sessions WHERE session_id = ?1",
    [Q_HISTORY] = "SELECT messages FROM conversations WHERE session_id = ?1"
                  " ORDER BY timestamp DESC LIMIT ?2",
    [Q_TRANSCRIPT] = "SELECT messages FROM conversations WHERE session_id = ?1 ORDER BY timestamp",
    /* the header and every turn in one statement: one read transaction, one snapshot */
    [Q_SESSION_TRANSCRIPT] = "SELECT s.user_id, s.status, s.created_at, s.last_activity, s.turns,"
                             " c.messages FROM sessions s LEFT JOIN conversations c"
                             " ON c.session_id = s.session_id WHERE s.session_id = ?1"
                             " ORDER BY c.timestamp",
    /* the item at ?2 comes without its messages: the caller holds them (store.h) */
    [Q_HISTORY_SINCE] = "SELECT timestamp, CASE WHEN timestamp = ?2 THEN NULL ELSE messages END"
                        " FROM conversations WHERE session_id = ?1 AND timestamp >= ?2"
                        " ORDER BY timestamp DESC LIMIT ?3",
    /* A new session with its first turn in one row: ?3 created, ?4 the turn's sort key. */
    [Q_SESSION_INSERT] = "INSERT INTO sessions (session_id, user_id, status, created_at,"
                         " last_activity, turns, last_ts, context, metadata)"
                         " VALUES (?1, ?2, 'active', ?3, ?4, ?5, ?4, ?6, ?7)",
    /* The next turn: its sort key is now (?2) or one past the last one, whichever is later, so
     * keys stay unique and increasing within a millisecond; no read before the write. */
    [Q_SESSION_TOUCH] = "UPDATE sessions SET turns = turns + 1, last_ts = MAX(?2, last_ts + 1),"
                        " last_activity = MAX(?2, last_ts + 1), context = ?3, metadata = ?4"
                        " WHERE session_id = ?1",
    [Q_TURN_INSERT] = "INSERT INTO conversations (session_id, timestamp, turn, user_id, messages,"
                      " context, last_activity, metadata) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?2, ?7)",
    [Q_TICKET_INSERT] = "INSERT INTO tickets (session_id, user_id, title, description, priority,"
                        " email, status, created_at, idempotency_key)"
                        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'open', ?7, ?8)"
                        " ON CONFLICT (idempotency_key) DO NOTHING",
    [Q_TICKET_BY_KEY] = "SELECT seq FROM tickets WHERE idempotency_key = ?1",
    [Q_ACTION_PUT] = "INSERT OR REPLACE INTO actions (action_id, session_id, user_id, tool, input,"
                     " status, result, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [Q_ACTION_GET] = "SELECT action_id, session_id, user_id, tool, input, status, result,"
                     " updated_at FROM actions WHERE action_id = ?1",
    [Q_TICKET_GET] = "SELECT seq, session_id, user_id, title, description, priority, email, status,"
                     " created_at FROM tickets WHERE seq = ?1",
    [Q_SESSION_TOUCH_NOTURN] = "UPDATE sessions SET last_ts = MAX(?2, last_ts + 1),"
                               " last_activity = MAX(?2, last_ts + 1)"
                               " WHERE session_id = ?1",
    [Q_TICKETS_LIST] = "SELECT seq, session_id, user_id, title, description, priority, email,"
                       " status, created_at FROM tickets WHERE ?1 IS NULL OR user_id = ?1"
                       " ORDER BY seq DESC LIMIT ?2",
    [Q_ORDER_GET] = "SELECT order_id, user_id, status, items, total, carrier, tracking, eta,"
                    " created_at FROM orders WHERE order_id = ?1",
    [Q_SESSION_STATUS] = "UPDATE sessions SET status = ?2,"
                         " metadata = json_set(metadata, '$.statusReason', ?3)"
                         " WHERE session_id = ?1",
    [Q_SESSIONS_IDLE] = "SELECT session_id FROM sessions WHERE last_activity < ?1"
                        " ORDER BY last_activity LIMIT ?2",
    [Q_SESSIONS_LIST] = "SELECT session_id, user_id, status, created_at, last_activity, turns"
                        " FROM sessions WHERE ?1 IS NULL OR status = ?1"
                        " ORDER BY last_activity DESC LIMIT ?2",
    /* A new key, or one whose earlier claim expired, is (re)claimed; a live one stays. */
    [Q_IDEM_CLAIM] = "INSERT INTO idem_keys (idem_key, request_hash, state, response, owner,"
                     " lease_until, expires_at, created_at)"
                     " VALUES (?1, ?2, 'running', NULL, ?3, ?4, ?5, ?6) ON CONFLICT (idem_key)"
                     " DO UPDATE SET request_hash = excluded.request_hash, state = 'running',"
                     " response = NULL, owner = excluded.owner, lease_until = excluded.lease_until,"
                     " expires_at = excluded.expires_at, created_at = excluded.created_at"
                     " WHERE idem_keys.expires_at <= ?6",
    [Q_IDEM_GET] = "SELECT request_hash, state, response, owner, lease_until FROM idem_keys"
                   " WHERE idem_key = ?1",
    [Q_IDEM_FINISH] = "UPDATE idem_keys SET state = 'done', response = ?2, session_id = ?3"
                      " WHERE idem_key = ?1",
    [Q_IDEM_ABORT] = "DELETE FROM idem_keys WHERE idem_key = ?1 AND state = 'running'",
    /* Takes a running key over from the owner and lease read a moment ago, if still theirs. */
    [Q_IDEM_TAKEOVER] = "UPDATE idem_keys SET owner = ?2, lease_until = ?3, expires_at = ?4"
                        " WHERE idem_key = ?1 AND state = 'running' AND owner = ?5"
                        " AND lease_until = ?6",
    [Q_IDEM_PURGE] = "DELETE FROM idem_keys WHERE expires_at <= ?1",
    [Q_ERASE_TURNS] = "DELETE FROM conversations WHERE session_id = ?1",
    [Q_ERASE_SESSION] = "DELETE FROM sessions WHERE session_id = ?1",
    [Q_ERASE_ACTIONS] = "DELETE FROM actions WHERE session_id = ?1",
    [Q_ERASE_IDEM] = "DELETE FROM idem_keys WHERE session_id = ?1",
    /* Tickets keep their number, status, priority and dates; not who, what, or which session
     * (the session id and the idempotency key that holds it go too). */
    [Q_ERASE_TICKETS] = "UPDATE tickets SET user_id = 'erased', title = '[erased]',"
                        " description = '[erased]', email = '', session_id = 'erased',"
                        " idempotency_key = NULL WHERE session_id = ?1",
    [Q_ERASE_MARK] = "INSERT OR IGNORE INTO erased_sessions (tag, erased_at) VALUES (?1, ?2)",
    [Q_ERASED_GET] = "SELECT 1 FROM erased_sessions WHERE tag = ?1",
    [Q_SECURE_DELETE] = "PRAGMA secure_delete = ON",
    [Q_WAL_TRUNCATE] = "PRAGMA wal_checkpoint(TRUNCATE)",
    /* An expired counter that was not purged yet restarts from the delta (reads never see it). */
    [Q_COUNTER_ADD] = "INSERT INTO counters (grp, name, value, expires_at) VALUES (?1, ?2, ?3, ?4)"
                      " ON CONFLICT (grp, name) DO UPDATE SET value = CASE"
                      " WHEN counters.expires_at > 0 AND counters.expires_at <= ?5"
                      " THEN excluded.value ELSE counters.value + excluded.value END,"
                      " expires_at = excluded.expires_at",
    /* Read back after Q_COUNTER_ADD and Q_SESSION_TOUCH in their transaction instead of a
     * RETURNING clause: SQLite (3.40) gathers RETURNING rows in an ephemeral table, whose pager
     * setup was 1.2% of the CPU at 4,000 connections (a malloc of a page and more each time). */
    [Q_COUNTER_VALUE] = "SELECT value FROM counters WHERE grp = ?1 AND name = ?2",
    [Q_SESSION_LAST] = "SELECT turns, last_ts FROM sessions WHERE session_id = ?1",
    [Q_COUNTER_GET] = "SELECT value FROM counters WHERE grp = ?1 AND name = ?2"
                      " AND (expires_at = 0 OR expires_at > ?3)",
    [Q_COUNTERS_LIST] = "SELECT name, value FROM counters WHERE grp = ?1"
                        " AND (expires_at = 0 OR expires_at > ?2)",
    [Q_COUNTER_PURGE] = "DELETE FROM counters WHERE expires_at > 0 AND expires_at <= ?1",
    [Q_BEGIN] = "BEGIN IMMEDIATE",
    [Q_COMMIT] = "COMMIT",
    [Q_ROLLBACK] = "ROLLBACK",
    [Q_SAVEPOINT] = "SAVEPOINT turn",
    [Q_RELEASE] = "RELEASE turn",
    [Q_ROLLBACK_TO] = "ROLLBACK TO turn",
    [Q_AUDIT_APPEND] = "INSERT INTO audit_log (entry) VALUES (?1)",
    [Q_AUDIT_LIST] = "SELECT seq, entry FROM audit_log WHERE seq < ?1 ORDER BY seq DESC LIMIT ?2",
};

/* The conversations table's columns and key, for the schema and conversations_migrate. */
#define CONVERSATIONS_COLUMNS                                                                      \
    "(session_id TEXT NOT NULL, timestamp INTEGER NOT NULL, turn INTEGER NOT NULL,"                \
    " user_id TEXT NOT NULL, messages TEXT NOT NULL, context TEXT NOT NULL,"                       \
    " last_activity INTEGER NOT NULL, metadata TEXT NOT NULL,"                                     \
    " UNIQUE (session_id, timestamp))"

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS sessions ("
    " session_id TEXT PRIMARY KEY, user_id TEXT NOT NULL, status TEXT NOT NULL,"
    " created_at INTEGER NOT NULL, last_activity INTEGER NOT NULL, turns INTEGER NOT NULL,"
    " last_ts INTEGER NOT NULL, context TEXT NOT NULL, metadata TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS conversations " CONVERSATIONS_COLUMNS
    ";" /* conversations_migrate */
    "CREATE TABLE IF NOT EXISTS tickets ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT, session_id TEXT NOT NULL, user_id TEXT NOT NULL,"
    " title TEXT NOT NULL, description TEXT NOT NULL, priority TEXT NOT NULL,"
    " email TEXT NOT NULL, status TEXT NOT NULL, created_at INTEGER NOT NULL,"
    " idempotency_key TEXT UNIQUE);"
    "CREATE TABLE IF NOT EXISTS idempotency ("
    " idem_key TEXT PRIMARY KEY, request_hash TEXT NOT NULL, state TEXT NOT NULL,"
    " response TEXT, created_at INTEGER NOT NULL) WITHOUT ROWID;"
    /* Idempotency keys with their owner (a process), lease and expiry; the table above is the
     * seed's, without them, and no longer written. */
    "CREATE TABLE IF NOT EXISTS idem_keys ("
    " idem_key TEXT PRIMARY KEY, request_hash TEXT NOT NULL, state TEXT NOT NULL,"
    " response TEXT, owner TEXT NOT NULL, lease_until INTEGER NOT NULL,"
    " expires_at INTEGER NOT NULL, created_at INTEGER NOT NULL, session_id TEXT) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS idem_keys_by_expiry ON idem_keys (expires_at);"
    "CREATE INDEX IF NOT EXISTS idem_keys_by_session ON idem_keys (session_id);"
    "CREATE TABLE IF NOT EXISTS actions ("
    " action_id TEXT PRIMARY KEY, session_id TEXT NOT NULL, user_id TEXT NOT NULL,"
    " tool TEXT NOT NULL, input TEXT NOT NULL, status TEXT NOT NULL, result TEXT,"
    " updated_at INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS tickets_by_user ON tickets (user_id, seq);"
    /* Tombstones of erased sessions: SHA-256 of the id (store__erased_tag), never the id. */
    "CREATE TABLE IF NOT EXISTS erased_sessions (tag TEXT PRIMARY KEY, erased_at INTEGER NOT NULL)"
    " WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS sessions_by_activity ON sessions (last_activity);"
    /* Counters (budgets, analytics): store.h counter_add. */
    "CREATE TABLE IF NOT EXISTS counters ("
    " grp TEXT NOT NULL, name TEXT NOT NULL, value INTEGER NOT NULL, expires_at INTEGER NOT NULL,"
    " PRIMARY KEY (grp, name)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS counters_by_expiry ON counters (expires_at);"
    /* The operators' audit log: append-only, the triggers refuse any change. */
    "CREATE TABLE IF NOT EXISTS audit_log (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " entry TEXT NOT NULL);"
    "CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log"
    " BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
    "CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log"
    " BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
    "CREATE TABLE IF NOT EXISTS orders ("
    " order_id TEXT PRIMARY KEY, user_id TEXT NOT NULL, status TEXT NOT NULL, items TEXT NOT NULL,"
    " total REAL NOT NULL, carrier TEXT, tracking TEXT, eta TEXT, created_at TEXT NOT NULL);"
    /* The demo store's orders, owned by the demo users "demo" and "jane". */
    "INSERT OR IGNORE INTO orders VALUES"
    " ('1042', 'demo', 'shipped', '[{\"sku\":\"HP-200\",\"name\":\"Wireless headphones\","
    "\"quantity\":1,\"price\":89.99}]', 89.99, 'UPS', '1Z999AA10123456784', '2026-11-28',"
    " '2026-11-20T10:15:00Z'),"
    " ('1043', 'demo', 'processing', '[{\"sku\":\"PC-11\",\"name\":\"Phone case\","
    "\"quantity\":2,\"price\":14.5},{\"sku\":\"CB-3\",\"name\":\"USB-C cable\","
    "\"quantity\":1,\"price\":9.99}]', 38.99, NULL, NULL, '2026-12-02',"
    " '2026-11-24T08:02:00Z'),"
    " ('1044', 'demo', 'delivered', '[{\"sku\":\"KB-7\",\"name\":\"Mechanical keyboard\","
    "\"quantity\":1,\"price\":129.0}]', 129.0, 'DHL', 'JD014600006281234567', '2026-11-12',"
    " '2026-11-08T16:40:00Z'),"
    " ('1045', 'jane', 'cancelled', '[{\"sku\":\"MN-27\",\"name\":\"27-inch monitor\","
    "\"quantity\":1,\"price\":249.0}]', 249.0, NULL, NULL, NULL, '2026-11-18T12:00:00Z'),"
    " ('1046', 'jane', 'shipped', '[{\"sku\":\"MS-1\",\"name\":\"Wireless mouse\","
    "\"quantity\":1,\"price\":29.99}]', 29.99, 'FedEx', '612999AA10NA', '2026-11-27',"
    " '2026-11-22T09:30:00Z');";

/* ---------------------------------------------------------------- pool */

struct committer;

struct store_sqlite {
    struct store base;           /* must be first */
    struct sqlpool *pool;        /* connections with their prepared statements */
    struct committer *committer; /* group commit of turns saved from tasks (turn_save_grouped) */
    atomic_uint idem_claims;  /* counts claims; every SQ_IDEM_PURGE_EVERY-th purges expired keys */
    atomic_uint counter_adds; /* counts adds; every SQ_IDEM_PURGE_EVERY-th purges expired ones */
};

#define SQ_IDEM_PURGE_EVERY 256u
#define SQ_IDEM_DEFAULT_MS (24LL * 3600 * 1000) /* idem_begin: lease and expiry, no owner */

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
    sqlite3_bind_text(st, i, v ? v : "", -1, SQLITE_TRANSIENT);
}

static json_t *column_json(sqlite3_stmt *st, int col)
{
    const char *text = (const char *)sqlite3_column_text(st, col);
    json_t *v = text ? json_loads(text, 0, NULL) : NULL;
    return v ? v : json_object();
}

/* ---------------------------------------------------------------- sessions and turns */

/* ---- reading one row by its key: the pattern every *_get shares ---- */

typedef json_t *(*row_fn)(sqlite3_stmt *st, const char *key);

/* Runs statement q with key as ?1 and builds *out from its row with fn. No row is NotFound with
 * "<what> '<key>' not found"; an SQLite failure is StoreError. */
static int get_row(struct store_sqlite *s, enum stmt_id q, const char *key, row_fn fn,
                   const char *what, json_t **out, struct err *err)
{
    struct sqlpool_conn *c = sqlpool_acquire(s->pool);
    int rc = -1;
    sqlite3_stmt *st = sqlpool_stmt(c, q, err);
    if (st) {
        bind_text(st, 1, key);
        int step = sqlpool_step(st);
        if (step == SQLITE_ROW) {
            *out = fn(st, key);
            rc = 0;
        } else if (step == SQLITE_DONE) {
            err_set(err, "NotFound", "%s '%s' not found", what, key);
        } else {
            char doing[64];
            snprintf(doing, sizeof doing, "read %s", what);
            sqlpool_fail(c, err, doing);
        }
        sqlite3_reset(st);
    }
    sqlpool_release(s->pool, c);
    return rc;
}

/* A session's header: sessionId (id) and, from st's columns col to col + 4, userId, status,
 * createdAt, lastActivity and turns, in that order; NULL when id or a text column is NULL (as
 * json_pack had it). Session reads, transcripts and lists share it. */
static json_t *session_head(sqlite3_stmt *st, const char *id, int col)
{
    return jsonb_object("sessionId", jsonb_str(id), "userId",
                        jsonb_str((const char *)sqlite3_column_text(st, col)), "status",
                        jsonb_str((const char *)sqlite3_column_text(st, col + 1)), "createdAt",
                        json_integer(sqlite3_column_int64(st, col + 2)), "lastActivity",
                        json_integer(sqlite3_column_int64(st, col + 3)), "turns",
                        json_integer(sqlite3_column_int(st, col + 4)), NULL);
}

/* Q_SESSION_GET's row: the header, then lastTimestamp, context and metadata. */
static json_t *session_row(sqlite3_stmt *st, const char *id)
{
    json_t *row = session_head(st, id, 0);
    json_t *context = column_json(st, 6), *metadata = column_json(st, 7);
    if (!row || !context || !metadata) {
        json_decref(row);
        json_decref(context);
        json_decref(metadata);
        return NULL;
    }
    json_object_set_new_nocheck(row, "lastTimestamp", json_integer(sqlite3_column_int64(st, 5)));
    json_object_set_new_nocheck(row, "context", context);
    json_object_set_new_nocheck(row, "metadata", metadata);
    return row;
}

static int sq_session_get(struct store *base, const char *id, json_t **out, struct err *err)
{
    return get_row((struct store_sqlite *)base, Q_SESSION_GET, id, session_row, "session", out,
                   err);
}

/* The messages column (col) of st's current row as an array (store_messages_parse; NULL reads as
 * empty text, which is not one). */
static json_t *messages_parse(sqlite3_stmt *st, int col, struct err *err)
{
    const char *text = (const char *)sqlite3_column_text(st, col);
    return store_messages_parse(text ? text : "", (size_t)sqlite3_column_bytes(st, col), err);
}

/* Appends the messages stored in each row of st (already bound) to out, in row order. */
static int collect_messages(struct sqlpool_conn *c, sqlite3_stmt *st, json_t *rows, struct err *err)
{
    int step;
    while ((step = sqlpool_step(st)) == SQLITE_ROW) {
        json_t *msgs = messages_parse(st, 0, err);
        if (!msgs)
            return -1;
        json_array_append_new(rows, msgs);
    }
    if (step != SQLITE_DONE)
        return sqlpool_fail(c, err, "read messages");
    return 0;
}

static int read_turns(struct store_sqlite *s, enum stmt_id q, const char *id, int limit,
                      json_t **out, struct err *err)
{
    struct sqlpool_conn *c = sqlpool_acquire(s->pool);
    json_t *rows = json_array();
    int rc = -1;
    sqlite3_stmt *st = sqlpool_stmt(c, q, err);
    if (!st)
        goto out;
    bind_text(st, 1, id);
    if (q == Q_HISTORY)
        sqlite3_bind_int(st, 2, limit);
    if (collect_messages(c, st, rows, err) < 0)
        goto out;
    json_t *all = json_array();
    size_t n = json_array_size(rows);
    for (size_t k = 0; k < n; k++) {
        /* Q_HISTORY reads newest first; flip it so the window is oldest first. */
        json_t *turn = json_array_get(rows, q == Q_HISTORY ? n - 1 - k : k);
        json_array_extend(all, turn);
    }
    *out = all;
    rc = 0;
out:
    if (st)
        sqlite3_reset(st);
    sqlpool_release(s->pool, c);
    json_decref(rows);
    return rc;
}

static int sq_history_recent(struct store *base, const char *id, int max_turns, json_t **out,
                             struct err *err)
{
    return read_turns((struct store_sqlite *)base, Q_HISTORY, id, max_turns, out, err);
}

static int sq_history_since(struct store *base, const char *id, long long since_ms, int max_turns,
                            json_t **out, struct err *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    struct sqlpool_conn *c = sqlpool_acquire(s->pool);
    json_t *rows = json_array();
    int rc = -1, step;
    sqlite3_stmt *st = sqlpool_stmt(c, Q_HISTORY_SINCE, err);
    if (!st)
        goto out;
    bind_text(st, 1, id);
    sqlite3_bind_int64(st, 2, since_ms);
    sqlite3_bind_int(st, 3, max_turns);
    while ((step = sqlpool_step(st)) == SQLITE_ROW) {
        json_t *row = json_pack("{s:I}", "timestamp", (json_int_t)sqlite3_column_int64(st, 0));
        const char *text = (const char *)sqlite3_column_text(st, 1);
        if (text) /* unparsed: the history cache may hold this text parsed already */
            json_object_set_new(row, "messagesText",
                                json_stringn_nocheck(text, (size_t)sqlite3_column_bytes(st, 1)));
        json_array_insert_new(rows, 0, row); /* read newest first; the answer is oldest first */
    }
    if (step != SQLITE_DONE) {
        sqlpool_fail(c, err, "read messages");
        goto out;
    }
    *out = json_incref(rows);
    rc = 0;
out:
    if (st)
        sqlite3_reset(st);
    sqlpool_release(s->pool, c);
    json_decref(rows);
    return rc;
}

static int sq_transcript(struct store *base, const char *id, json_t **out, struct err *err)
{
    return read_turns((struct store_sqlite *)base, Q_TRANSCRIPT, id, 0, out, err);
}

static int sq_session_transcript(struct store *base, const char *id, json_t **header,
                                 json_t **messages, struct err *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    struct sqlpool_conn *c = sqlpool_acquire(s->pool);
    json_t *head = NULL, *all = json_array();
    int rc = -1, step;
    sqlite3_stmt *st = sqlpool_stmt(c, Q_SESSION_TRANSCRIPT, err);
    if (!st)
        goto out;
    bind_text(st, 1, id);
    while ((step = sqlpool_step(st)) == SQLITE_ROW) {
        if (!head)
            head = session_head(st, id, 0);
        if (sqlite3_column_type(st, 5) == SQLITE_NULL) /* a session without turns: the join's row */
            continue;
        json_t *msgs = messages_parse(st, 5, err);
        if (!msgs)
            goto out;
        json_array_extend(all, msgs);
        json_decref(msgs);
    }
    if (step != SQLITE_DONE) {
        sqlpool_fail(c, err, "read the transcript");
        goto out;
    }
    if (!head) {
        err_set(err, "NotFound", "session '%s' not found", id);
        goto out;
    }
    *header = head;
    *messages = all;
    head = all = NULL;
    rc = 0;
out:
    if (st)
        sqlite3_reset(st);
    sqlpool_release(s->pool, c);
    json_decref(head);
    json_decref(all);
    return rc;
}

static char *dump_or(const json_t *v, const char *fallback)
{
    return v ? jsontext_dump(v) : xstrdup(fallback);
}

/* Marks the turn's Idempotency-Key done inside the turn's open transaction on c: idem =
 * {"key","response"}, the response stored with "turn" set to turns (store.h). Returns 0, or -1
 * with err (the caller rolls back). */
static int finish_key_in_turn(struct sqlpool_conn *c, const json_t *idem, const char *sid,
                              int turns, struct err *err)
{
    const char *key = json_string_value(json_object_get(idem, "key"));
    const json_t *response = json_object_get(idem, "response");
    if (!key || !json_is_object(response))
        return err_set(err, "StoreError", "a turn's idempotency needs a key and a response");
    sqlite3_stmt *st = sqlpool_stmt(c, Q_IDEM_FINISH, err);
    if (!st)
        return -1;
    json_t *resp = json_copy((json_t *)response);
    json_object_set_new(resp, "turn", json_integer(turns));
    char *text = jsontext_dump(resp);
    json_decref(resp);
    bind_text(st, 1, key);
    bind_text(st, 2, text);
    bind_text(st, 3, sid);
    int step = sqlpool_step(st);
    sqlite3_reset(st);
    free(text);
    return step == SQLITE_DONE ? 0 : sqlpool_fail(c, err, "finish idempotency key");
}

/* Inserts a new session already holding its first turn (sort key now; turns 1, or 0 for a
 * noTurn item, whose session keeps an empty context and metadata as before it had a turn), inside
 * the turn's transaction on c. Returns 0, or -1 with err: Conflict when the session exists. */
static int session_create(struct sqlpool_conn *c, const char *id, const char *user, int64_t now,
                          int no_turn, const char *ctx_text, const char *meta_text, struct err *err)
{
    sqlite3_stmt *st = sqlpool_stmt(c, Q_SESSION_INSERT, err);
    if (!st)
        return -1;
    bind_text(st, 1, id);
    bind_text(st, 2, user);
    sqlite3_bind_int64(st, 3, now);
    sqlite3_bind_int64(st, 4, now);
    sqlite3_bind_int(st, 5, no_turn ? 0 : 1);
    bind_text(st, 6, no_turn ? "{}" : ctx_text);
    bind_text(st, 7, no_turn ? "{}" : meta_text);
    int step = sqlpool_step(st);
    sqlite3_reset(st);
    if (step == SQLITE_CONSTRAINT)
        return err_set(err, "Conflict", "session '%s' already exists", id);
    return step == SQLITE_DONE ? 0 : sqlpool_fail(c, err, "create session");
}

/* Steps a statement that changes rows; returns the number changed or -1 with err. */
static int step_changes(struct sqlpool_conn *c, sqlite3_stmt *st, const char *what, struct err *err)
{
    int step = sqlpool_step(st);
    int changed = sqlite3_changes(c->db);
    sqlite3_reset(st);
    if (step != SQLITE_DONE)
        return sqlpool_fail(c, err, what);
    return changed;
}

/* Advances an existing session by one turn (or, for noTurn, only its clock) with one UPDATE, then
 * reads back the new turn count and the turn's sort key, inside the turn's transaction on c.
 * Returns 0 with *turns and *ts, or -1 with err: NotFound when there is no such session. */
static int session_advance(struct sqlpool_conn *c, const char *id, int64_t now, int no_turn,
                           const char *ctx_text, const char *meta_text, int *turns, int64_t *ts,
                           struct err *err)
{
    sqlite3_stmt *st = sqlpool_stmt(c, no_turn ? Q_SESSION_TOUCH_NOTURN : Q_SESSION_TOUCH, err);
    if (!st)
        return -1;
    bind_text(st, 1, id);
    sqlite3_bind_int64(st, 2, now);
    if (!no_turn) {
        bind_text(st, 3, ctx_text);
        bind_text(st, 4, meta_text);
    }
    int changed = step_changes(c, st, "update session", err);
    if (changed < 0)
        return -1;
    if (changed == 0)
        return err_set(err, "NotFound", "session '%s' not found", id);
    if (!(st = sqlpool_stmt(c, Q_SESSION_LAST, err)))
        return -1;
    bind_text(st, 1, id);
    int step = sqlpool_step(st);
    if (step == SQLITE_ROW) {
        *turns = sqlite3_column_int(st, 0);
        *ts = sqlite3_column_int64(st, 1);
    }
    sqlite3_reset(st);
    if (step != SQLITE_ROW)
        return sqlpool_fail(c, err, "read the session back");
    return 0;
}

static int counter_add_on(struct store_sqlite *s, struct sqlpool_conn *c, const char *group,
                          const char *name, long long delta, long long expires_ms, long long *value,
                          struct err *err);

/* Adds the turn's counters (store.h turn_save; checked by store.c) inside its transaction on c,
 * each value into counted[i] when counted is not NULL. Returns 0, or -1 with err. */
static int turn_counters_add(struct store_sqlite *s, struct sqlpool_conn *c, const json_t *list,
                             long long *counted, struct err *err)
{
    size_t i;
    const json_t *ct;
    json_array_foreach(list, i, ct) {
        long long v = 0;
        if (counter_add_on(s, c, json_string_value(json_object_get(ct, "group")),
                           json_string_value(json_object_get(ct, "name")),
                           json_integer_value(json_object_get(ct, "delta")),
                           json_integer_value(json_object_get(ct, "expiresAt")), &v, err) < 0)
            return -1;
        if (counted)
            counted[i] = v;
    }
    return 0;
}

/* A turn's rows as turn_write needs them: the texts are dumped before the writer is taken. */
struct turn_rows {
    const json_t *turn; /* the item (borrowed) */
    const char *id;     /* its sessionId */
    const char *user;   /* its userId */
    int is_new;         /* the turn opens the session */
    int no_turn;        /* a noTurn item */
    char *msgs_text;    /* owned: the messages, compact JSON */
    char *ctx_text;     /* owned: the context, or "{}" */
    char *meta_text;    /* owned: the metadata, or "{}" */
};

static int turn_rows_init(struct turn_rows *r, const json_t *turn, struct err *err)
{
    memset(r, 0, sizeof *r);
    r->turn = turn;
    r->id = json_string_value(json_object_get(turn, "sessionId"));
    r->user = json_string_value(json_object_get(turn, "userId"));
    r->is_new = json_is_true(json_object_get(turn, "isNew"));
    r->no_turn = json_is_true(json_object_get(turn, "noTurn"));
    const json_t *messages = json_object_get(turn, "messages");
    if (!r->id || !r->user || !json_is_array(messages))
        return err_set(err, "StoreError", "turn needs sessionId, userId and messages");
    r->msgs_text = jsontext_dump(messages);
    r->ctx_text = dump_or(json_object_get(turn, "context"), "{}");
    r->meta_text = dump_or(json_object_get(turn, "metadata"), "{}");
    return 0;
}

static void turn_rows_release(struct turn_rows *r)
{
    free(r->msgs_text);
    free(r->ctx_text);
    free(r->meta_text);
}

/* Writes a turn's rows on c inside the open transaction: the session (created or advanced), the
 * conversation item, the status, the idempotency key and the counters. Returns 0 with *turn_no,
 * or -1 with err (the caller rolls back). */
static int turn_write(struct store_sqlite *s, struct sqlpool_conn *c, const struct turn_rows *r,
                      int *turn_no, long long *counted, struct err *err)
{
    int64_t now = clock_now_ms();
    int turns = 0;
    int64_t ts = now;
    sqlite3_stmt *st;
    if (r->is_new) {
        if (session_create(c, r->id, r->user, now, r->no_turn, r->ctx_text, r->meta_text, err) < 0)
            return -1;
        turns = r->no_turn ? 0 : 1;
    } else if (session_advance(c, r->id, now, r->no_turn, r->ctx_text, r->meta_text, &turns, &ts,
                               err) < 0) {
        return -1;
    }
    if (!(st = sqlpool_stmt(c, Q_TURN_INSERT, err)))
        return -1;
    bind_text(st, 1, r->id);
    sqlite3_bind_int64(st, 2, ts);
    sqlite3_bind_int(st, 3, turns);
    bind_text(st, 4, r->user);
    bind_text(st, 5, r->msgs_text);
    bind_text(st, 6, r->ctx_text);
    bind_text(st, 7, r->meta_text);
    int step = sqlpool_step(st);
    sqlite3_reset(st);
    if (step != SQLITE_DONE)
        return sqlpool_fail(c, err, "insert turn");
    const char *status = json_string_value(json_object_get(r->turn, "status"));
    if (status && status[0]) {
        if (!(st = sqlpool_stmt(c, Q_SESSION_STATUS, err)))
            return -1;
        bind_text(st, 1, r->id);
        bind_text(st, 2, status);
        bind_text(st, 3, "set by the turn");
        step = sqlpool_step(st);
        sqlite3_reset(st);
        if (step != SQLITE_DONE)
            return sqlpool_fail(c, err, "update session status");
    }
    const json_t *idem = json_object_get(r->turn, "idempotency");
    if (idem && finish_key_in_turn(c, idem, r->id, turns, err) < 0)
        return -1;
    if (turn_counters_add(s, c, json_object_get(r->turn, "counters"), counted, err) < 0)
        return -1;
    *turn_no = turns;
    return 0;
}

/* A turn saved alone: its own transaction on the writer. */
static int turn_save_alone(struct store_sqlite *s, const struct turn_rows *r, int *turn_no,
                           long long *counted, struct err *err)
{
    struct sqlpool_conn *c = sqlpool_acquire_writer(s->pool);
    int rc = -1;
    if (sqlpool_exec(c, Q_BEGIN, err) < 0)
        goto out;
    if (turn_write(s, c, r, turn_no, counted, err) < 0 || sqlpool_exec(c, Q_COMMIT, err) < 0) {
        struct err ignored;
        sqlpool_exec(c, Q_ROLLBACK, &ignored);
        goto out;
    }
    rc = 0;
out:
    sqlpool_release(s->pool, c);
    return rc;
}

/* ---- Group commit ----
 *
 * Turns saved from scheduler tasks (`parley serve`) go to the committer thread instead of taking
 * the writer themselves: the task queues a job and parks on its event, and the committer writes
 * every job queued so far in one transaction, each inside its own savepoint, and commits once.
 * One commit then carries many turns: its fixed cost and the WAL frames of pages the turns share
 * (the ends of the sessions table and of its activity index, the counters) are paid once per
 * batch, and no event thread blocks on the writer. A job that fails is rolled back to its
 * savepoint and answers its own error; the others go on. When SQLite ends the whole transaction
 * (an I/O error, a full disk), or the commit fails, every job of the batch written so far fails
 * with that error: none of them was stored. Batches form on their own under load (jobs queue
 * while the committer writes); a lone turn waits only for the hand-over. Off a task (the CLI,
 * Lambda, queue workers, tests) a turn keeps its own transaction. */

#define COMMIT_BATCH_MAX 256 /* jobs in one transaction */

struct turn_job {
    const struct turn_rows *rows; /* what to write (the caller's) */
    long long *counted;           /* the caller's */
    int turn_no;                  /* out */
    int rc;                       /* out: 0, or -1 with err */
    struct err err;               /* out */
    struct sched_event *done;     /* signalled when rc is final */
    struct turn_job *next;        /* queue link */
};

struct committer {
    pthread_mutex_t mu;     /* guards everything below */
    pthread_cond_t work;    /* signalled on a new job and on stop */
    pthread_t thread;       /* the committer */
    int started;            /* thread runs */
    int stopping;           /* sq_free: finish the queue, then end */
    struct turn_job *head;  /* queued jobs, oldest first */
    struct turn_job **tail; /* where the next job goes */
};

/* Fails every job of list up to (not including) stop that had been written, with e. */
static void jobs_fail_written(struct turn_job *list, struct turn_job *stop, const struct err *e)
{
    for (struct turn_job *j = list; j != stop; j = j->next)
        if (j->rc == 0) {
            j->rc = -1;
            j->err = *e;
        }
}

/* Writes and commits one batch of jobs (a list of at most COMMIT_BATCH_MAX), then signals each. */
static void commit_batch(struct store_sqlite *s, struct turn_job *list)
{
    struct sqlpool_conn *c = sqlpool_acquire_writer(s->pool);
    struct err tx_err = {0};
    int open = sqlpool_exec(c, Q_BEGIN, &tx_err) == 0;
    for (struct turn_job *j = list; j; j = j->next) {
        if (!open) {
            j->rc = -1;
            j->err = tx_err;
            continue;
        }
        int saved = (j->rc = sqlpool_exec(c, Q_SAVEPOINT, &j->err)) == 0;
        if (j->rc == 0)
            j->rc = turn_write(s, c, j->rows, &j->turn_no, j->counted, &j->err);
        if (j->rc == 0)
            j->rc = sqlpool_exec(c, Q_RELEASE, &j->err);
        if (j->rc == 0)
            continue;
        if (!saved && !sqlite3_get_autocommit(c->db))
            continue; /* no savepoint: nothing of this job was written, the others go on */
        if (sqlite3_get_autocommit(c->db)) { /* SQLite ended the transaction: all is lost */
            open = 0;
            tx_err = j->err;
            jobs_fail_written(list, j, &tx_err);
            continue;
        }
        struct err ignored;
        if (sqlpool_exec(c, Q_ROLLBACK_TO, &ignored) < 0 ||
            sqlpool_exec(c, Q_RELEASE, &ignored) < 0) {
            open = 0; /* the savepoint cannot be undone: give the whole batch up */
            tx_err = j->err;
            jobs_fail_written(list, j, &tx_err);
            sqlpool_exec(c, Q_ROLLBACK, &ignored);
        }
    }
    if (open && sqlpool_exec(c, Q_COMMIT, &tx_err) < 0) {
        struct err ignored;
        sqlpool_exec(c, Q_ROLLBACK, &ignored);
        jobs_fail_written(list, NULL, &tx_err);
    }
    sqlpool_release(s->pool, c);
    for (struct turn_job *j = list, *next; j; j = next) {
        next = j->next; /* the job is the waiter's once signalled */
        sched_event_signal(j->done);
    }
}

static void *committer_main(void *arg)
{
    struct store_sqlite *s = arg;
    struct committer *q = s->committer;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        while (!q->head && !q->stopping)
            pthread_cond_wait(&q->work, &q->mu);
        if (!q->head)
            break;
        struct turn_job *list = q->head, *last = list;
        for (int n = 1; n < COMMIT_BATCH_MAX && last->next; n++)
            last = last->next;
        q->head = last->next;
        if (!q->head)
            q->tail = &q->head;
        last->next = NULL;
        pthread_mutex_unlock(&q->mu);
        commit_batch(s, list);
        pthread_mutex_lock(&q->mu);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

/* Queues r's job for the committer (starting it on first use) and waits for its answer. Returns
 * 0 with *turn_no, or -1 with err; -1 with *started 0 when the thread cannot start (the caller
 * then saves alone). */
static int turn_save_grouped(struct store_sqlite *s, const struct turn_rows *r, int *turn_no,
                             long long *counted, struct err *err, int *started)
{
    struct committer *q = s->committer;
    struct turn_job j = {.rows = r, .counted = counted, .done = sched_event_new()};
    pthread_mutex_lock(&q->mu);
    if (!q->started && !q->stopping && pthread_create(&q->thread, NULL, committer_main, s) == 0) {
        q->started = 1;
        pthread_setname_np(q->thread, "committer"); /* for top -H, perf and /proc; best effort */
    }
    *started = q->started;
    if (q->started) {
        *q->tail = &j;
        q->tail = &j.next;
        pthread_cond_signal(&q->work);
    }
    pthread_mutex_unlock(&q->mu);
    if (*started)
        sched_event_wait(j.done, -1);
    sched_event_free(j.done);
    if (!*started)
        return -1;
    if (j.rc == 0)
        *turn_no = j.turn_no;
    else
        *err = j.err;
    return j.rc;
}

static int sq_turn_save(struct store *base, const json_t *turn, int *turn_no, long long *counted,
                        struct err *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    struct turn_rows r;
    int rc = -1, started = 0;
    if (turn_rows_init(&r, turn, err) < 0)
        goto out;
    if (sched_in_task())
        rc = turn_save_grouped(s, &r, turn_no, counted, err, &started);
    if (!started)
        rc = turn_save_alone(s, &r, turn_no, counted, err);
out:
    turn_rows_release(&r);
    return rc;
}

/* ---------------------------------------------------------------- tickets */

static int ticket_read(struct sqlpool_conn *c, long long seq, json_t **out, struct err *err)
{
    sqlite3_stmt *st = sqlpool_stmt(c, Q_TICKET_GET, err);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, seq);
    int step = sqlpool_step(st);
    int rc = -1;
    if (step == SQLITE_ROW) {
        char id[STORE_TICKET_ID_MAX], created[32];
        store__ticket_id(sqlite3_column_int64(st, 0), id);
        clock_iso8601(sqlite3_column_int64(st, 8), created, sizeof created);
        *out = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "id", id, "title",
                         (const char *)sqlite3_column_text(st, 3), "description",
                         (const char *)sqlite3_column_text(st, 4), "priority",
                         (const char *)sqlite3_column_text(st, 5), "email",
                         (const char *)sqlite3_column_text(st, 6), "status",
                         (const char *)sqlite3_column_text(st, 7), "sessionId",
                         (const char *)sqlite3_column_text(st, 1), "userId",
                         (const char *)sqlite3_column_text(st, 2), "createdAt", created);
        rc = 0;
    } else if (step == SQLITE_DONE) {
        err_set(err, "NotFound", "ticket not found");
    } else {
        sqlpool_fail(c, err, "read ticket");
    }
    sqlite3_reset(st);
    return rc;
}

static int sq_ticket_create(struct store *base, const json_t *f, json_t **out, struct err *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    struct sqlpool_conn *c = sqlpool_acquire_writer(s->pool);
    int rc = -1;
    const char *key = json_string_value(json_object_get(f, "idempotencyKey"));
    sqlite3_stmt *st = sqlpool_stmt(c, Q_TICKET_INSERT, err);
    if (!st)
        goto out;
    static const char *const fields[] = {"sessionId",   "userId",   "title",
                                         "description", "priority", "email"};
    for (int i = 0; i < 6; i++)
        bind_text(st, i + 1, json_string_value(json_object_get(f, fields[i])));
    sqlite3_bind_int64(st, 7, clock_now_ms());
    if (key)
        bind_text(st, 8, key);
    int step = sqlpool_step(st);
    int inserted = sqlite3_changes(c->db) > 0;
    sqlite3_reset(st);
    if (step != SQLITE_DONE) {
        sqlpool_fail(c, err, "create ticket");
        goto out;
    }
    long long seq = sqlite3_last_insert_rowid(c->db);
    if (!inserted) {
        /* The key was used before: that earlier call's ticket is the answer. */
        if (!(st = sqlpool_stmt(c, Q_TICKET_BY_KEY, err)))
            goto out;
        bind_text(st, 1, key);
        step = sqlpool_step(st);
        seq = step == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
        sqlite3_reset(st);
        if (seq < 0) {
            sqlpool_fail(c, err, "find ticket by idempotency key");
            goto out;
        }
    }
    rc = ticket_read(c, seq, out, err);
out:
    sqlpool_release(s->pool, c);
    return rc;
}

static int sq_action_put(struct store *base, const json_t *a, struct err *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    struct sqlpool_conn *c = sqlpool_acquire_writer(s->pool);
    int rc = -1;
    char *input = dump_or(json_object_get(a, "input"), "{}");
    char *result = dump_or(json_object_get(a, "result"), "null");
    sqlite3_stmt *st = sqlpool_stmt(c, Q_ACTION_PUT, err);
    if (!st)
        goto out;
    static const char *const fields[] = {"id", "sessionId", "userId", "tool"};
    for (int i = 0; i < 4; i++)
        bind_text(st, i + 1, json_string_value(json_object_get(a, fields[i])));
    bind_text(st, 5, input);
    bind_text(st, 6, json_string_value(json_object_get(a, "status")));
    bind_text(st, 7, result);
    sqlite3_bind_int64(st, 8, clock_now_ms());
    int step = sqlpool_step(st);
    sqlite3_reset(st);
    if (step != SQLITE_DONE)
        sqlpool_fail(c, err, "record action");
    else
        rc = 0;
out:
    sqlpool_release(s->pool, c);
    free(input);
    free(result);
    return rc;
}

static json_t *action_row(sqlite3_stmt *st, const char *id)
{
    (void)id;
    const char *result = (const char *)sqlite3_column_text(st, 6);
    json_t *r = result ? json_loads(result, JSON_DECODE_ANY, NULL) : NULL;
    return json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:o, s:I}", "id",
                     (const char *)sqlite3_column_text(st, 0), "sessionId",
                     (const char *)sqlite3_column_text(st, 1), "userId",
                     (const char *)sqlite3_column_text(st, 2), "tool",
                     (const char *)sqlite3_column_text(st, 3), "input", column_json(st, 4),
                     "status", (const char *)sqlite3_column_text(st, 5), "result",
                     r ? r : json_null(), "updatedAt", (json_int_t)sqlite3_column_int64(st, 7));
}

static int sq_action_get(struct store *base, const char *id, json_t **out, struct err *err)
{
    return get_row((struct store_sqlite *)base, Q_ACTION_GET, id, action_row, "action", out, err);
}

static int sq_ticket_get(struct store *base, const char *id, json_t **out, struct err *err)
{
    long long seq = store__ticket_seq(id);
    if (seq < 0)
        return err_set(err, "NotFound", "ticket '%s' not found", id);
    struct store_sqlite *s = (struct store_sqlite *)base;
    struct sqlpool_conn *c = sqlpool_acquire(s->pool);
    int rc = ticket_read(c, seq, out, err);
    if (rc < 0 && strcmp(err->code, "NotFound") == 0)
        err_set(err, "NotFound", "ticket '%s' not found", id);
    sqlpool_release(s->pool, c);
    return rc;
}

static int sq_tickets_list(struct store *base, const char *user, int limit, json_t **out,
                           struct err *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    struct sqlpool_conn *c = sqlpool_acquire(s->pool);
    json_t *list = json_array();
    int rc = -1;
    sqlite3_stmt *st = sqlpool_stmt(c, Q_TICKETS_LIST, err);
    if (!st)
        goto out;
    if (user)
        bind_text(st, 1, user);
    sqlite3_bind_int(st, 2, limit);
    int step;
    json_t *ids = json_array();
    while ((step = sqlpool_step(st)) == SQLITE_ROW)
        json_array_append_new(ids, json_integer(sqlite3_column_int64(st, 0)));
    sqlite3_reset(st);
    if (step != SQLITE_DONE) {
        json_decref(ids);
        sqlpool_fail(c, err, "list tickets");
        goto out;
    }
    size_t i;
    json_t *id;
    rc = 0;
    json_array_foreach(ids, i, id) {
        json_t *t = NULL;
        if (ticket_read(c, json_integer_value(id), &t, err) < 0) {
            rc = -1;
            break;
        }
        json_array_append_new(list, t);
    }
    json_decref(ids);
out:
    sqlpool_release(s->pool, c);
    if (rc == 0)
        *out = list;
    else
        json_decref(list);
    return rc;
}

static json_t *order_row(sqlite3_stmt *st, const char *id)
{
    (void)id;
    json_t *shipping = json_pack("{s:s?, s:s?, s:s?}", "carrier",
                                 (const char *)sqlite3_column_text(st, 5), "tracking",
                                 (const char *)sqlite3_column_text(st, 6), "eta",
                                 (const char *)sqlite3_column_text(st, 7));
    return json_pack("{s:s, s:s, s:s, s:o, s:f, s:o, s:s}", "orderId",
                     (const char *)sqlite3_column_text(st, 0), "userId",
                     (const char *)sqlite3_column_text(st, 1), "status",
                     (const char *)sqlite3_column_text(st, 2), "items", column_json(st, 3), "total",
                     sqlite3_column_double(st, 4), "shipping", shipping, "createdAt",
                     (const char *)sqlite3_column_text(st, 8));
}

static int sq_order_get(struct store *base, const char *order_id, json_t **out, struct err *err)
{
    return get_row((struct store_sqlite *)base, Q_ORDER_GET, order_id, order_row, "order", out,
                   err);
}

static int sq_session_set_status(struct store *base, const char *id, const char *status,
                                 const char *reason, struct err *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    struct sqlpool_conn *c = sqlpool_acquire_writer(s->pool);
    int rc = -1;
    sqlite3_stmt *st = sqlpool_stmt(c, Q_SESSION_STATUS, err);
    if (!st)
        goto out;
    bind_text(st, 1, id);
    bind_text(st, 2, status);
    bind_text(st, 3, reason ? reason : "");
    int step = sqlpool_step(st);
    sqlite3_reset(st);
    if (step != SQLITE_DONE)
        sqlpool_fail(c, err, "update session status");
    else if (sqlite3_changes(c->db) == 0)
        err_set(err, "NotFound", "session '%s' not found", id);
    else
        rc = 0;
out:
    sqlpool_release(s->pool, c);
    return rc;
}

/* Ends a listing: returns c to the pool, then hands list over as *out (rc 0) or frees it. */
static int list_done(struct store_sqlite *s, struct sqlpool_conn *c, int rc, json_t *list,
                     json_t **out)
{
    sqlpool_release(s->pool, c);
    if (rc == 0)
        *out = list;
    else
        json_decref(list);
    return rc;
}

static int sq_sessions_list(struct store *base, const char *status, int limit, json_t **out,
                            struct err *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    struct sqlpool_conn *c = sqlpool_acquire(s->pool);
    int rc = -1;
    json_t *list = json_array();
    sqlite3_stmt *st = sqlpool_stmt(c, Q_SESSIONS_LIST, err);
    if (!st)
        goto out;
    if (status)
        bind_text(st, 1, status);
    sqlite3_bind_int(st, 2, limit);
    int step;
    while ((step = sqlpool_step(st)) == SQLITE_ROW)
        json_array_append_new(list, session_head(st, (const char *)sqlite3_column_text(st, 0), 1));
    sqlite3_reset(st);
    rc = step == SQLITE_DONE ? 0 : sqlpool_fail(c, err, "list sessions");
out:
    return list_done(s, c, rc, list, out);
}

static int sq_sessions_idle(struct store *base, long long before_ms, int limit, json_t **out,
                            struct err *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    struct sqlpool_conn *c = sqlpool_acquire(s->pool);
    int rc = -1;
    json_t *ids = json_array();
    sqlite3_stmt *st = sqlpool_stmt(c, Q_SESSIONS_IDLE, err);
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, before_ms);
    sqlite3_bind_int(st, 2, limit);
    int step;
    while ((step = sqlpool_step(st)) == SQLITE_ROW)
        json_array_append_new(ids, json_string((const char *)sqlite3_column_text(st, 0)));
    sqlite3_reset(st);
    rc = step == SQLITE_DONE ? 0 : sqlpool_fail(c, err, "list idle sessions");
out:
    return list_done(s, c, rc, ids, out);
}

/* ---------------------------------------------------------------- idempotency */

static int sq_idem_claim(struct store *base, const struct store_idem_claim *k, json_t **response,
                         int *taken_over, struct err *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    struct sqlpool_conn *c = sqlpool_acquire_writer(s->pool);
    int rc = -1, changed;
    char *owner = NULL;
    *taken_over = 0;
    sqlite3_stmt *st;
    if (atomic_fetch_add(&s->idem_claims, 1) % SQ_IDEM_PURGE_EVERY == 0) {
        if (!(st = sqlpool_stmt(c, Q_IDEM_PURGE, err)))
            goto out;
        sqlite3_bind_int64(st, 1, k->now_ms);
        if (step_changes(c, st, "purge expired idempotency keys", err) < 0)
            goto out;
    }
    if (!(st = sqlpool_stmt(c, Q_IDEM_CLAIM, err)))
        goto out;
    bind_text(st, 1, k->key);
    bind_text(st, 2, k->hash);
    bind_text(st, 3, k->owner);
    sqlite3_bind_int64(st, 4, k->lease_until_ms);
    sqlite3_bind_int64(st, 5, k->expires_ms);
    sqlite3_bind_int64(st, 6, k->now_ms);
    if ((changed = step_changes(c, st, "claim idempotency key", err)) < 0)
        goto out;
    if (changed > 0) {
        rc = 0;
        goto out;
    }
    if (!(st = sqlpool_stmt(c, Q_IDEM_GET, err)))
        goto out;
    bind_text(st, 1, k->key);
    if (sqlpool_step(st) != SQLITE_ROW) {
        sqlite3_reset(st);
        err_set(err, "Conflict", "a request with this Idempotency-Key is still running");
        goto out;
    }
    const char *old_hash = (const char *)sqlite3_column_text(st, 0);
    const char *state = (const char *)sqlite3_column_text(st, 1);
    const char *text = (const char *)sqlite3_column_text(st, 2);
    const char *old_owner = (const char *)sqlite3_column_text(st, 3);
    long long lease_until = sqlite3_column_int64(st, 4);
    int running = !state || strcmp(state, "done") != 0 || !text;
    if (!old_hash || strcmp(old_hash, k->hash) != 0) {
        err_set(err, "IdempotencyMismatch",
                "this Idempotency-Key was used with a different request body");
    } else if (running) {
        owner = xstrdup(old_owner ? old_owner : "");
        rc = 2; /* decided below, after the statement is reset */
    } else if (!(*response = json_loads(text, 0, NULL))) {
        err_set(err, "StoreError", "stored response for this Idempotency-Key is malformed");
    } else {
        rc = 1;
    }
    sqlite3_reset(st);
    if (rc != 2)
        goto out;
    rc = -1;
    int gone = lease_until <= k->now_ms ||
               (k->owner_gone && owner[0] && k->owner_gone(owner, k->ctx) == 1);
    if (!gone) {
        err_set(err, "Conflict", "a request with this Idempotency-Key is still running");
        goto out;
    }
    if (!(st = sqlpool_stmt(c, Q_IDEM_TAKEOVER, err)))
        goto out;
    bind_text(st, 1, k->key);
    bind_text(st, 2, k->owner);
    sqlite3_bind_int64(st, 3, k->lease_until_ms);
    sqlite3_bind_int64(st, 4, k->expires_ms);
    bind_text(st, 5, owner);
    sqlite3_bind_int64(st, 6, lease_until);
    if ((changed = step_changes(c, st, "take over idempotency key", err)) < 0)
        goto out;
    if (changed == 0) {
        err_set(err, "Conflict", "a request with this Idempotency-Key is still running");
        goto out;
    }
    *taken_over = 1;
    rc = 0;
out:
    free(owner);
    sqlpool_release(s->pool, c);
    return rc;
}

/* The seed's contract: no owner, a lease and an expiry of a day. */
static int sq_idem_begin(struct store *base, const char *key, const char *hash, json_t **response,
                         struct err *err)
{
    long long now = clock_now_ms();
    struct store_idem_claim k = {.key = key,
                                 .hash = hash,
                                 .owner = "",
                                 .now_ms = now,
                                 .lease_until_ms = now + SQ_IDEM_DEFAULT_MS,
                                 .expires_ms = now + SQ_IDEM_DEFAULT_MS};
    int taken_over;
    return sq_idem_claim(base, &k, response, &taken_over, err);
}

static int idem_exec(struct store *base, enum stmt_id q, const char *key, const char *text,
                     const char *session_id, struct err *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    struct sqlpool_conn *c = sqlpool_acquire_writer(s->pool);
    int rc = -1;
    sqlite3_stmt *st = sqlpool_stmt(c, q, err);
    if (st) {
        bind_text(st, 1, key);
        if (text)
            bind_text(st, 2, text);
        if (session_id)
            bind_text(st, 3, session_id);
        int step = sqlpool_step(st);
        sqlite3_reset(st);
        rc = step == SQLITE_DONE ? 0 : sqlpool_fail(c, err, "update idempotency key");
    }
    sqlpool_release(s->pool, c);
    return rc;
}

static int sq_idem_finish(struct store *base, const char *key, const json_t *response,
                          struct err *err)
{
    char *text = jsontext_dump(response);
    /* The session the response names, so that erasing it also forgets this key. */
    const char *sid = json_string_value(json_object_get(response, "sessionId"));
    int rc = idem_exec(base, Q_IDEM_FINISH, key, text, sid ? sid : "", err);
    free(text);
    return rc;
}

static int sq_idem_abort(struct store *base, const char *key, struct err *err)
{
    return idem_exec(base, Q_IDEM_ABORT, key, NULL, NULL, err);
}

/* ---------------------------------------------------------------- erasure */

static int sq_session_erase(struct store *base, const char *session_id, struct err *err)
{
    static const enum stmt_id steps[] = {Q_ERASE_TURNS, Q_ERASE_ACTIONS, Q_ERASE_IDEM,
                                         Q_ERASE_TICKETS, Q_ERASE_SESSION};
    struct store_sqlite *s = (struct store_sqlite *)base;
    struct sqlpool_conn *c = sqlpool_acquire_writer(s->pool);
    int rc = -1, in_tx = 0, changed = 0;
    /* Freed pages are zeroed, so deleted rows do not linger in the file. */
    if (sqlpool_exec(c, Q_SECURE_DELETE, err) < 0 || sqlpool_exec(c, Q_BEGIN, err) < 0)
        goto out;
    in_tx = 1;
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        sqlite3_stmt *st = sqlpool_stmt(c, steps[i], err);
        if (!st)
            goto out;
        bind_text(st, 1, session_id);
        if ((changed = step_changes(c, st, "erase session", err)) < 0)
            goto out;
    }
    if (changed == 0) { /* the last step: the session row itself */
        err_set(err, "NotFound", "session '%s' not found", session_id);
        goto out;
    }
    char tag[65];
    store__erased_tag(session_id, tag);
    sqlite3_stmt *mark = sqlpool_stmt(c, Q_ERASE_MARK, err);
    if (!mark)
        goto out;
    bind_text(mark, 1, tag);
    sqlite3_bind_int64(mark, 2, clock_now_ms());
    if (step_changes(c, mark, "record erasure", err) < 0)
        goto out;
    if (sqlpool_exec(c, Q_COMMIT, err) < 0)
        goto out;
    in_tx = 0;
    /* The old row images live on in the WAL until a checkpoint: copy back and truncate it. */
    struct err ck = {0};
    if (sqlpool_exec(c, Q_WAL_TRUNCATE, &ck) < 0)
        log_at(LL_WARN, "store", "cannot truncate the WAL after an erasure: %s", ck.message);
    rc = 0;
out:
    if (in_tx) {
        struct err rb = {0};
        sqlpool_exec(c, Q_ROLLBACK, &rb);
    }
    sqlpool_release(s->pool, c);
    return rc;
}

static int sq_session_erased(struct store *base, const char *session_id, int *erased,
                             struct err *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    struct sqlpool_conn *c = sqlpool_acquire(s->pool);
    int rc = -1;
    char tag[65];
    store__erased_tag(session_id ? session_id : "", tag);
    sqlite3_stmt *st = sqlpool_stmt(c, Q_ERASED_GET, err);
    if (!st)
        goto out;
    bind_text(st, 1, tag);
    int step = sqlpool_step(st);
    sqlite3_reset(st);
    if (step != SQLITE_ROW && step != SQLITE_DONE) {
        sqlpool_fail(c, err, "look up erasure");
        goto out;
    }
    *erased = step == SQLITE_ROW;
    rc = 0;
out:
    sqlpool_release(s->pool, c);
    return rc;
}

/* ---------------------------------------------------------------- audit log */

static int sq_audit_append(struct store *base, const json_t *entry, struct err *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    struct sqlpool_conn *c = sqlpool_acquire_writer(s->pool);
    int rc = -1;
    char *text = jsontext_dump(entry);
    sqlite3_stmt *st = sqlpool_stmt(c, Q_AUDIT_APPEND, err);
    if (!st)
        goto out;
    bind_text(st, 1, text);
    int step = sqlpool_step(st);
    sqlite3_reset(st);
    if (step != SQLITE_DONE) {
        sqlpool_fail(c, err, "append to the audit log");
        goto out;
    }
    rc = 0;
out:
    free(text);
    sqlpool_release(s->pool, c);
    return rc;
}

static int sq_audit_list(struct store *base, const char *before, int limit, json_t **out,
                         char **next, struct err *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    struct sqlpool_conn *c = sqlpool_acquire(s->pool);
    int rc = -1, step;
    json_t *list = json_array();
    long long last = 0;
    *next = NULL;
    sqlite3_stmt *st = sqlpool_stmt(c, Q_AUDIT_LIST, err);
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, before ? strtoll(before, NULL, 10) : INT64_MAX);
    sqlite3_bind_int(st, 2, limit + 1);
    while ((step = sqlpool_step(st)) == SQLITE_ROW) {
        last = sqlite3_column_int64(st, 0);
        if ((int)json_array_size(list) == limit) {
            json_t *prev = json_object_get(json_array_get(list, (size_t)limit - 1), "id");
            *next = xstrdup(json_string_value(prev));
            break;
        }
        json_t *e = column_json(st, 1);
        json_object_set_new(e, "id", json_sprintf("%lld", last));
        json_array_append_new(list, e);
    }
    sqlite3_reset(st);
    if (step != SQLITE_ROW && step != SQLITE_DONE) {
        sqlpool_fail(c, err, "read the audit log");
        goto out;
    }
    *out = json_incref(list);
    rc = 0;
out:
    if (rc < 0) {
        free(*next);
        *next = NULL;
    }
    json_decref(list);
    sqlpool_release(s->pool, c);
    return rc;
}

void store__erased_tag(const char *session_id, char tag[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    static const char hex[] = "0123456789abcdef";
    EVP_Digest(session_id, strlen(session_id), md, &n, EVP_sha256(), NULL);
    for (unsigned int i = 0; i < n && i < 32; i++) {
        tag[2 * i] = hex[md[i] >> 4];
        tag[2 * i + 1] = hex[md[i] & 15];
    }
    tag[64] = '\0';
}

/* ---------------------------------------------------------------- counters */

/* Adds delta to counter name of group on c (the writer, inside or outside a transaction), as
 * store.h counter_add; every SQ_IDEM_PURGE_EVERY-th add of the store first purges expired
 * counters. Returns 0 with *value, or -1 with err. */
static int counter_add_on(struct store_sqlite *s, struct sqlpool_conn *c, const char *group,
                          const char *name, long long delta, long long expires_ms, long long *value,
                          struct err *err)
{
    long long now = clock_now_ms();
    sqlite3_stmt *st;
    if (atomic_fetch_add(&s->counter_adds, 1) % SQ_IDEM_PURGE_EVERY == 0) {
        if (!(st = sqlpool_stmt(c, Q_COUNTER_PURGE, err)))
            return -1;
        sqlite3_bind_int64(st, 1, now);
        if (step_changes(c, st, "purge expired counters", err) < 0)
            return -1;
    }
    if (!(st = sqlpool_stmt(c, Q_COUNTER_ADD, err)))
        return -1;
    bind_text(st, 1, group);
    bind_text(st, 2, name);
    sqlite3_bind_int64(st, 3, delta);
    sqlite3_bind_int64(st, 4, expires_ms > 0 ? expires_ms : 0);
    sqlite3_bind_int64(st, 5, now);
    if (step_changes(c, st, "add to counter", err) < 0)
        return -1;
    if (!(st = sqlpool_stmt(c, Q_COUNTER_VALUE, err)))
        return -1;
    bind_text(st, 1, group);
    bind_text(st, 2, name);
    int step = sqlpool_step(st);
    if (step == SQLITE_ROW)
        *value = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (step != SQLITE_ROW)
        return sqlpool_fail(c, err, "read the counter back");
    return 0;
}

static int sq_counter_add(struct store *base, const char *group, const char *name, long long delta,
                          long long expires_ms, long long *value, struct err *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    struct sqlpool_conn *c = sqlpool_acquire_writer(s->pool);
    int rc = counter_add_on(s, c, group, name, delta, expires_ms, value, err);
    sqlpool_release(s->pool, c);
    return rc;
}

static int sq_counter_get(struct store *base, const char *group, const char *name, long long *value,
                          struct err *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    struct sqlpool_conn *c = sqlpool_acquire(s->pool);
    int rc = -1;
    sqlite3_stmt *st = sqlpool_stmt(c, Q_COUNTER_GET, err);
    if (!st)
        goto out;
    bind_text(st, 1, group);
    bind_text(st, 2, name);
    sqlite3_bind_int64(st, 3, clock_now_ms());
    int step = sqlpool_step(st);
    *value = step == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        sqlpool_fail(c, err, "read counter");
    else
        rc = 0;
out:
    sqlpool_release(s->pool, c);
    return rc;
}

static int sq_counters_list(struct store *base, const char *group, json_t **out, struct err *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    struct sqlpool_conn *c = sqlpool_acquire(s->pool);
    int rc = -1;
    json_t *list = json_object();
    sqlite3_stmt *st = sqlpool_stmt(c, Q_COUNTERS_LIST, err);
    if (!st)
        goto out;
    bind_text(st, 1, group);
    sqlite3_bind_int64(st, 2, clock_now_ms());
    int step;
    while ((step = sqlpool_step(st)) == SQLITE_ROW)
        json_object_set_new(list, (const char *)sqlite3_column_text(st, 0),
                            json_integer(sqlite3_column_int64(st, 1)));
    sqlite3_reset(st);
    if (step != SQLITE_DONE)
        sqlpool_fail(c, err, "list counters");
    else
        rc = 0;
out:
    sqlpool_release(s->pool, c);
    if (rc == 0)
        *out = list;
    else
        json_decref(list);
    return rc;
}

/* ---------------------------------------------------------------- lifecycle */

static void sq_free(struct store *base)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    struct committer *q = s->committer;
    pthread_mutex_lock(&q->mu);
    q->stopping = 1;
    pthread_cond_signal(&q->work);
    int started = q->started;
    pthread_mutex_unlock(&q->mu);
    if (started)
        pthread_join(q->thread, NULL); /* it finishes the queue first */
    pthread_cond_destroy(&q->work);
    pthread_mutex_destroy(&q->mu);
    free(q);
    sqlpool_close(s->pool);
    free(s);
}

static int sq_reads_begin(struct store *base, struct err *err)
{
    return sqlpool_pin(((struct store_sqlite *)base)->pool, err);
}

static void sq_reads_end(struct store *base)
{
    sqlpool_unpin(((struct store_sqlite *)base)->pool);
}

static const struct store_ops sqlite_ops = {
    .name = "sqlite",
    .session_get = sq_session_get,
    .history_recent = sq_history_recent,
    .history_since = sq_history_since,
    .transcript = sq_transcript,
    .session_transcript = sq_session_transcript,
    .turn_save = sq_turn_save,
    .ticket_create = sq_ticket_create,
    .ticket_get = sq_ticket_get,
    .tickets_list = sq_tickets_list,
    .order_get = sq_order_get,
    .session_set_status = sq_session_set_status,
    .sessions_list = sq_sessions_list,
    .action_put = sq_action_put,
    .action_get = sq_action_get,
    .idem_begin = sq_idem_begin,
    .idem_finish = sq_idem_finish,
    .idem_abort = sq_idem_abort,
    .idem_claim = sq_idem_claim,
    .session_erase = sq_session_erase,
    .session_erased = sq_session_erased,
    .counter_add = sq_counter_add,
    .counter_get = sq_counter_get,
    .counters_list = sq_counters_list,
    .audit_append = sq_audit_append,
    .audit_list = sq_audit_list,
    .free = sq_free,
    .sessions_idle = sq_sessions_idle,
    .reads_begin = sq_reads_begin,
    .reads_end = sq_reads_end,
};

/* The conversations table is a rowid table with its key as a unique index. It used to be a
 * WITHOUT ROWID table keyed by (session_id, timestamp), whose rows live in the key's B-tree: there
 * a row keeps at most ~1 KB of a 4 KB page and spills the rest to overflow pages, and a turn's
 * row (its messages) is mostly over that, so every saved turn wrote an overflow page besides its
 * leaf, and every read of a turn followed the chain (offline load, same run: CPU per turn −2%
 * new, −5% continuing). A file made with the old table is moved to the new one, rows and all, in
 * one transaction when it is opened; its queries are the same. Returns 0, or -1 with err. */
static int conversations_migrate(struct sqlpool *pool, const char *path, struct err *err)
{
    static const char move[] =
        "BEGIN IMMEDIATE;"
        "CREATE TABLE conversations_next " CONVERSATIONS_COLUMNS ";"
        "INSERT INTO conversations_next (session_id, timestamp, turn, user_id, messages, context,"
        " last_activity, metadata) SELECT session_id, timestamp, turn, user_id, messages,"
        " context, last_activity, metadata FROM conversations ORDER BY session_id, timestamp;"
        "DROP TABLE conversations;"
        "ALTER TABLE conversations_next RENAME TO conversations;"
        "COMMIT;";
    struct sqlpool_conn *c = sqlpool_acquire_writer(pool);
    sqlite3_stmt *st = NULL;
    int rc = 0, old = 0;
    if (sqlite3_prepare_v2(c->db,
                           "SELECT sql LIKE '%WITHOUT ROWID%' FROM sqlite_schema"
                           " WHERE type = 'table' AND name = 'conversations'",
                           -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        old = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (old) {
        char *msg = NULL;
        if (sqlite3_exec(c->db, move, NULL, NULL, &msg) != SQLITE_OK) {
            rc = err_set(err, "StoreError", "cannot move '%s' to the new conversations table: %s",
                         path, msg ? msg : sqlite3_errmsg(c->db));
            sqlite3_free(msg);
            if (!sqlite3_get_autocommit(c->db))
                sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
        } else {
            log_at(LL_INFO, "store", "moved the conversations of '%s' to a rowid table", path);
        }
    }
    sqlpool_release(pool, c);
    return rc;
}

struct store *store_sqlite_new(const char *path, int pool_size, struct err *err)
{
    struct sqlpool *pool = sqlpool_open(path, pool_size, stmt_sql, Q_COUNT, schema_sql,
                                        "StoreError", err);
    if (!pool)
        return NULL;
    if (conversations_migrate(pool, path, err) < 0) {
        sqlpool_close(pool);
        return NULL;
    }
    struct store_sqlite *s = xcalloc(1, sizeof *s);
    s->base.ops = &sqlite_ops;
    s->pool = pool;
    s->committer = xcalloc(1, sizeof *s->committer);
    pthread_mutex_init(&s->committer->mu, NULL);
    pthread_cond_init(&s->committer->work, NULL);
    s->committer->tail = &s->committer->head;
    return &s->base;
}
