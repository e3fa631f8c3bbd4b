/*
 * queue_sqlite.c - the embedded queue adapter: SQS semantics over one SQLite table in WAL mode.
 *
 * Every message is a row holding its queue, body, attributes and delivery state (visible_at,
 * receive_count, latest receipt token). All state lives in the file, so two handles, or a
 * `parley serve` and a `parley worker` process, share the queues. Each receive, delete and move
 * runs in one BEGIN IMMEDIATE transaction, which is what guarantees that no two consumers ever
 * hold the same message while it is invisible; within a process a mutex serialises those write
 * transactions so that threads queue on it instead of spinning in SQLite's busy handler.
 */
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/sqlpool.h"
#include "base/rand.h"
#include "base/xmalloc.h"
#include "queue/queue.h"

/* ---------------------------------------------------------------- statements */

enum stmt_id {
    Q_QUEUE_GET,
    Q_QUEUE_INSERT,
    Q_QUEUE_UPSERT,
    Q_QUEUE_LIST,
    Q_INSERT,
    Q_ANY_READY,
    Q_READY,
    Q_TO_DLQ,
    Q_MARK_RECEIVED,
    Q_DELETE,
    Q_RECEIPT_GET,
    Q_SET_VISIBLE,
    Q_COUNTS,
    Q_PURGE,
    Q_ERASE_MATCHING,
    Q_SECURE_DELETE,
    Q_WAL_TRUNCATE,
    Q_PEEK,
    Q_MOVE_BACK,
    Q_BEGIN,
    Q_COMMIT,
    Q_ROLLBACK,
    Q_COUNT
};

static const char *const stmt_sql[Q_COUNT] = {
    [Q_QUEUE_GET] = "SELECT visibility_s, delay_s, dlq, max_receive FROM queues WHERE name = ?1",
    [Q_QUEUE_INSERT] = "INSERT OR IGNORE INTO queues (name, visibility_s, delay_s, dlq,"
                       " max_receive, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [Q_QUEUE_UPSERT] = "INSERT INTO queues (name, visibility_s, delay_s, dlq, max_receive,"
                       " created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (name) DO UPDATE"
                       " SET visibility_s = excluded.visibility_s, delay_s = excluded.delay_s,"
                       " dlq = excluded.dlq, max_receive = excluded.max_receive",
    [Q_QUEUE_LIST] = "SELECT name, visibility_s, delay_s, dlq, max_receive FROM queues"
                     " ORDER BY name",
    [Q_INSERT] = "INSERT INTO messages (queue, message_id, body, md5, attrs, attrs_md5, sent_at,"
                 " visible_at, receive_count) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0)",
    [Q_ANY_READY] = "SELECT 1 FROM messages WHERE queue = ?1 AND visible_at <= ?2 LIMIT 1",
    [Q_READY] = "SELECT seq, receive_count FROM messages WHERE queue = ?1 AND visible_at <= ?2"
                " ORDER BY visible_at, seq LIMIT ?3",
    [Q_TO_DLQ] = "UPDATE messages SET queue = ?2, source_queue = queue, visible_at = ?3,"
                 " receipt = NULL WHERE seq = ?1",
    [Q_MARK_RECEIVED] = "UPDATE messages SET receive_count = receive_count + 1,"
                        " first_receive_at = COALESCE(first_receive_at, ?2), visible_at = ?3,"
                        " receipt = ?4 WHERE seq = ?1 RETURNING message_id, body, md5, attrs,"
                        " attrs_md5, sent_at, receive_count, first_receive_at",
    [Q_DELETE] = "DELETE FROM messages WHERE seq = ?1 AND queue = ?2 AND receipt = ?3",
    [Q_RECEIPT_GET] = "SELECT receipt, visible_at FROM messages WHERE seq = ?1 AND queue = ?2",
    [Q_SET_VISIBLE] = "UPDATE messages SET visible_at = ?2 WHERE seq = ?1",
    [Q_COUNTS] = "SELECT COALESCE(SUM(visible_at <= ?2), 0),"
                 " COALESCE(SUM(visible_at > ?2 AND receive_count > 0), 0),"
                 " COALESCE(SUM(visible_at > ?2 AND receive_count = 0), 0)"
                 " FROM messages WHERE queue = ?1",
    [Q_PURGE] = "DELETE FROM messages WHERE queue = ?1",
    [Q_ERASE_MATCHING] = "DELETE FROM messages WHERE queue = ?1 AND instr(body, ?2) > 0",
    [Q_SECURE_DELETE] = "PRAGMA secure_delete = ON",
    [Q_WAL_TRUNCATE] = "PRAGMA wal_checkpoint(TRUNCATE)",
    [Q_PEEK] = "SELECT message_id, body, md5, attrs, attrs_md5, sent_at, receive_count,"
               " first_receive_at, source_queue, visible_at FROM messages WHERE queue = ?1"
               " ORDER BY seq LIMIT ?2",
    [Q_MOVE_BACK] = "UPDATE messages SET queue = ?2, message_id = ?3, sent_at = ?4,"
                    " visible_at = ?4, receive_count = 0, first_receive_at = NULL,"
                    " receipt = NULL, source_queue = NULL WHERE seq = ?1",
    [Q_BEGIN] = "BEGIN IMMEDIATE",
    [Q_COMMIT] = "COMMIT",
    [Q_ROLLBACK] = "ROLLBACK",
};

/* Receive-ordering index: the oldest visible message of a queue is one range step away. */
static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS queues ("
    " name TEXT PRIMARY KEY, visibility_s INTEGER NOT NULL, delay_s INTEGER NOT NULL,"
    " dlq TEXT, max_receive INTEGER NOT NULL, created_at INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS messages ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT, queue TEXT NOT NULL, message_id TEXT NOT NULL,"
    " body TEXT NOT NULL, md5 TEXT NOT NULL, attrs TEXT, attrs_md5 TEXT,"
    " sent_at INTEGER NOT NULL, visible_at INTEGER NOT NULL, receive_count INTEGER NOT NULL,"
    " first_receive_at INTEGER, receipt TEXT, source_queue TEXT);"
    "CREATE INDEX IF NOT EXISTS messages_ready ON messages (queue, visible_at, seq);";

/* ---------------------------------------------------------------- handle and pool */

struct queue_sqlite {
    struct queue base;         /* must be first */
    char *path;                /* database file */
    int64_t (*now_ms)(void *); /* wall clock */
    void *clock_ctx;           /* its argument */
    int poll_ms;               /* long-poll re-check period */
    struct sqlpool *pool;      /* connections with their prepared statements */
    pthread_mutex_t lock;      /* guards generation */
    pthread_cond_t changed;    /* generation moved: a message may have become visible */
    unsigned long generation;  /* bumped by every same-process send or reveal */
    pthread_mutex_t wlock;     /* serialises this process's write transactions */
};

static int64_t default_now(void *ctx)
{
    (void)ctx;
    return clock_now_ms();
}

static void notify(struct queue_sqlite *s)
{
    pthread_mutex_lock(&s->lock);
    s->generation++;
    pthread_cond_broadcast(&s->changed);
    pthread_mutex_unlock(&s->lock);
}

static unsigned long generation(struct queue_sqlite *s)
{
    pthread_mutex_lock(&s->lock);
    unsigned long g = s->generation;
    pthread_mutex_unlock(&s->lock);
    return g;
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

/* Write transactions: the process mutex first, then SQLite's write lock (waiting out other
 * processes through the busy timeout). tx_end commits when ok, else rolls back. */
static int tx_begin(struct queue_sqlite *s, struct sqlpool_conn *c, struct err *err)
{
    pthread_mutex_lock(&s->wlock);
    if (sqlpool_exec(c, Q_BEGIN, err) < 0) {
        pthread_mutex_unlock(&s->wlock);
        return -1;
    }
    return 0;
}

static int tx_end(struct queue_sqlite *s, struct sqlpool_conn *c, int ok, struct err *err)
{
    int rc = 0;
    if (ok) {
        rc = sqlpool_exec(c, Q_COMMIT, err);
        if (rc < 0) {
            struct err ignored;
            sqlpool_exec(c, Q_ROLLBACK, &ignored);
        }
    } else {
        struct err ignored;
        sqlpool_exec(c, Q_ROLLBACK, &ignored);
    }
    pthread_mutex_unlock(&s->wlock);
    return rc;
}

/* ---------------------------------------------------------------- queues */

struct qinfo {
    int visibility_s;             /* default visibility timeout */
    int delay_s;                  /* default delay */
    char dlq[QUEUE_NAME_MAX + 1]; /* "" without a redrive policy */
    int max_receive;              /* maxReceiveCount */
};

/* Reads a queue's settings; QueueDoesNotExist when it is missing. */
static int queue_get(struct sqlpool_conn *c, const char *name, struct qinfo *out, struct err *err)
{
    sqlite3_stmt *st = sqlpool_stmt(c, Q_QUEUE_GET, err);
    if (!st)
        return -1;
    bind_text(st, 1, name);
    int step = sqlpool_step(st);
    int rc = -1;
    if (step == SQLITE_ROW) {
        out->visibility_s = sqlite3_column_int(st, 0);
        out->delay_s = sqlite3_column_int(st, 1);
        const char *dlq = (const char *)sqlite3_column_text(st, 2);
        snprintf(out->dlq, sizeof out->dlq, "%s", dlq ? dlq : "");
        out->max_receive = sqlite3_column_int(st, 3);
        rc = 0;
    } else if (step == SQLITE_DONE) {
        err_set(err, "QueueDoesNotExist", "queue '%s' does not exist", name);
    } else {
        sqlpool_fail(c, err, "read queue");
    }
    sqlite3_reset(st);
    return rc;
}

static int check_queue_attrs(const char *name, const struct queue_attrs *a, struct err *err)
{
    if (a->visibility_timeout_s < 0 || a->visibility_timeout_s > QUEUE_VISIBILITY_MAX_S)
        return err_set(err, "InvalidAttributeValue", "VisibilityTimeout must be 0..%d seconds",
                       QUEUE_VISIBILITY_MAX_S);
    if (a->delay_s < 0 || a->delay_s > QUEUE_DELAY_MAX_S)
        return err_set(err, "InvalidAttributeValue", "DelaySeconds must be 0..%d seconds",
                       QUEUE_DELAY_MAX_S);
    if (a->max_receive_count < 0 || a->max_receive_count > 1000)
        return err_set(err, "InvalidAttributeValue", "maxReceiveCount must be 1..1000");
    if (a->dead_letter_target) {
        if (queue__check_name(a->dead_letter_target, err) < 0)
            return -1;
        if (strcmp(a->dead_letter_target, name) == 0)
            return err_set(err, "InvalidAttributeValue",
                           "queue '%s' cannot be its own dead-letter queue", name);
    }
    return 0;
}

static int sq_ensure(struct queue *base, const char *name, const struct queue_attrs *attrs,
                     struct err *err)
{
    struct queue_sqlite *s = (struct queue_sqlite *)base;
    static const struct queue_attrs defaults = {0};
    const struct queue_attrs *a = attrs ? attrs : &defaults;
    if (queue__check_name(name, err) < 0 || check_queue_attrs(name, a, err) < 0)
        return -1;
    /* Zero means "not given", as an omitted SQS attribute: a zeroed struct must never create a
     * queue whose messages reappear at once and get delivered twice. */
    int visibility_s = a->visibility_timeout_s ? a->visibility_timeout_s : 30;
    struct sqlpool_conn *c = sqlpool_acquire(s->pool);
    int ok = 0;
    if (tx_begin(s, c, err) < 0)
        goto out;
    struct qinfo dlq;
    if (a->dead_letter_target && queue_get(c, a->dead_letter_target, &dlq, err) < 0) {
        if (strcmp(err->code, "QueueDoesNotExist") == 0)
            err_set(err, "QueueDoesNotExist", "dead-letter queue '%s' of '%s' does not exist",
                    a->dead_letter_target, name);
        tx_end(s, c, 0, err);
        goto out;
    }
    sqlite3_stmt *st = sqlpool_stmt(c, attrs ? Q_QUEUE_UPSERT : Q_QUEUE_INSERT, err);
    if (st) {
        bind_text(st, 1, name);
        sqlite3_bind_int(st, 2, visibility_s);
        sqlite3_bind_int(st, 3, a->delay_s);
        bind_text(st, 4, a->dead_letter_target);
        sqlite3_bind_int(st, 5,
                         a->max_receive_count ? a->max_receive_count : QUEUE_MAX_RECEIVE_DEFAULT);
        sqlite3_bind_int64(st, 6, s->now_ms(s->clock_ctx));
        int step = sqlpool_step(st);
        sqlite3_reset(st);
        ok = step == SQLITE_DONE;
        if (!ok)
            sqlpool_fail(c, err, "create queue");
    }
    ok = tx_end(s, c, ok, err) == 0 && ok;
out:
    sqlpool_release(s->pool, c);
    return ok ? 0 : -1;
}

static int sq_list(struct queue *base, json_t **out, struct err *err)
{
    struct queue_sqlite *s = (struct queue_sqlite *)base;
    struct sqlpool_conn *c = sqlpool_acquire(s->pool);
    json_t *arr = json_array();
    int rc = -1, step;
    sqlite3_stmt *st = sqlpool_stmt(c, Q_QUEUE_LIST, err);
    if (!st)
        goto out;
    while ((step = sqlpool_step(st)) == SQLITE_ROW) {
        json_t *q = json_pack("{s:s, s:i, s:i}", "name", (const char *)sqlite3_column_text(st, 0),
                              "visibilityTimeout", sqlite3_column_int(st, 1), "delaySeconds",
                              sqlite3_column_int(st, 2));
        const char *dlq = (const char *)sqlite3_column_text(st, 3);
        if (dlq)
            json_object_set_new(q, "redrivePolicy",
                                json_pack("{s:s, s:i}", "deadLetterTarget", dlq, "maxReceiveCount",
                                          sqlite3_column_int(st, 4)));
        json_array_append_new(arr, q);
    }
    sqlite3_reset(st);
    if (step != SQLITE_DONE) {
        sqlpool_fail(c, err, "list queues");
        goto out;
    }
    *out = arr;
    arr = NULL;
    rc = 0;
out:
    json_decref(arr);
    sqlpool_release(s->pool, c);
    return rc;
}

/* ---------------------------------------------------------------- messages */

/* Reads the queue's settings outside a transaction, for argument checks. */
static int queue_lookup(struct queue_sqlite *s, const char *name, struct qinfo *qi, struct err *err)
{
    if (queue__check_name(name, err) < 0)
        return -1;
    struct sqlpool_conn *c = sqlpool_acquire(s->pool);
    int rc = queue_get(c, name, qi, err);
    sqlpool_release(s->pool, c);
    return rc;
}

static int sq_send(struct queue *base, const char *name, const char *body, const json_t *attributes,
                   int delay_s, char message_id[37], struct err *err)
{
    struct queue_sqlite *s = (struct queue_sqlite *)base;
    struct qinfo qi;
    if (queue__check_message(body, attributes, err) < 0 || queue_lookup(s, name, &qi, err) < 0)
        return -1;
    if (delay_s < -1 || delay_s > QUEUE_DELAY_MAX_S)
        return err_set(err, "InvalidParameterValue", "DelaySeconds must be 0..%d, not %d",
                       QUEUE_DELAY_MAX_S, delay_s);
    if (delay_s < 0)
        delay_s = qi.delay_s;
    char id[37], md5[33], attrs_md5[33];
    if (rand_uuid4(id) < 0)
        return err_set(err, "QueueError", "cannot draw a message id from the kernel");
    queue__md5_hex(body, strlen(body), md5);
    int has_attrs = attributes && json_object_size(attributes) > 0;
    char *attrs_text = has_attrs ? json_dumps(attributes, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    if (has_attrs)
        queue__md5_attributes(attributes, attrs_md5);

    struct sqlpool_conn *c = sqlpool_acquire(s->pool);
    int rc = -1;
    sqlite3_stmt *st = sqlpool_stmt(c, Q_INSERT, err);
    if (!st)
        goto out;
    int64_t now = s->now_ms(s->clock_ctx);
    bind_text(st, 1, name);
    bind_text(st, 2, id);
    bind_text(st, 3, body);
    bind_text(st, 4, md5);
    bind_text(st, 5, attrs_text);
    bind_text(st, 6, has_attrs ? attrs_md5 : NULL);
    sqlite3_bind_int64(st, 7, now);
    sqlite3_bind_int64(st, 8, now + (int64_t)delay_s * 1000);
    /* A single INSERT is its own transaction; the mutex keeps threads off the busy handler. */
    pthread_mutex_lock(&s->wlock);
    int step = sqlpool_step(st);
    pthread_mutex_unlock(&s->wlock);
    sqlite3_reset(st);
    if (step != SQLITE_DONE) {
        sqlpool_fail(c, err, "send message");
        goto out;
    }
    memcpy(message_id, id, sizeof id);
    rc = 0;
out:
    sqlpool_release(s->pool, c);
    free(attrs_text);
    if (rc == 0 && delay_s == 0)
        notify(s);
    return rc;
}

static void set_decimal(json_t *obj, const char *key, long long v)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%lld", v);
    json_object_set_new(obj, key, json_string(buf));
}

/* Builds a message object from the columns of st starting at col: message_id, body, md5, attrs,
 * attrs_md5, sent_at, receive_count, first_receive_at. */
static json_t *message_json(sqlite3_stmt *st, int col, const char *receipt)
{
    json_t *m = json_object();
    json_object_set_new(m, "MessageId", json_string((const char *)sqlite3_column_text(st, col)));
    if (receipt)
        json_object_set_new(m, "ReceiptHandle", json_string(receipt));
    json_object_set_new(m, "MD5OfBody",
                        json_string((const char *)sqlite3_column_text(st, col + 2)));
    json_object_set_new(m, "Body",
                        json_stringn((const char *)sqlite3_column_text(st, col + 1),
                                     (size_t)sqlite3_column_bytes(st, col + 1)));
    json_t *a = json_object();
    set_decimal(a, "ApproximateReceiveCount", sqlite3_column_int64(st, col + 6));
    set_decimal(a, "SentTimestamp", sqlite3_column_int64(st, col + 5));
    if (sqlite3_column_type(st, col + 7) != SQLITE_NULL)
        set_decimal(a, "ApproximateFirstReceiveTimestamp", sqlite3_column_int64(st, col + 7));
    json_object_set_new(m, "Attributes", a);
    const char *attrs = (const char *)sqlite3_column_text(st, col + 3);
    json_t *ma = attrs ? json_loads(attrs, 0, NULL) : NULL;
    if (json_is_object(ma) && json_object_size(ma) > 0) {
        json_object_set_new(m, "MD5OfMessageAttributes",
                            json_string((const char *)sqlite3_column_text(st, col + 4)));
        json_object_set_new(m, "MessageAttributes", ma);
    } else {
        json_decref(ma);
    }
    return m;
}

/* Receipt handles look like "<seq>.<22 random base64url chars>": the row to find, and the token
 * that must match the one stored by the latest receive. */
#define RECEIPT_TOKEN_LEN 22

static int receipt_parse(const char *receipt, long long *seq, const char **token)
{
    if (!receipt || strnlen(receipt, QUEUE_RECEIPT_MAX + 1) > QUEUE_RECEIPT_MAX)
        return -1;
    long long v = 0;
    const char *p = receipt;
    int digits = 0;
    for (; *p >= '0' && *p <= '9'; p++, digits++) {
        if (digits >= 18)
            return -1;
        v = v * 10 + (*p - '0');
    }
    if (!digits || *p != '.' || strlen(p + 1) != RECEIPT_TOKEN_LEN)
        return -1;
    for (const char *t = p + 1; *t; t++)
        if (!((*t >= 'A' && *t <= 'Z') || (*t >= 'a' && *t <= 'z') || (*t >= '0' && *t <= '9') ||
              *t == '-' || *t == '_'))
            return -1;
    *seq = v;
    *token = p + 1;
    return 0;
}

#define RECEIVE_MOVE_CAP 1000 /* DLQ moves one receive may do before answering */

/* One receive attempt without waiting: appends delivered messages to out. */
static int receive_once(struct queue_sqlite *s, const char *name, int max, int vis_s, json_t *out,
                        struct err *err)
{
    struct sqlpool_conn *c = sqlpool_acquire(s->pool);
    int rc = -1, ok = 0, moved = 0;
    int64_t now = s->now_ms(s->clock_ctx);
    /* Cheap read first: an idle poller never takes the write lock. */
    sqlite3_stmt *st = sqlpool_stmt(c, Q_ANY_READY, err);
    if (!st)
        goto out;
    bind_text(st, 1, name);
    sqlite3_bind_int64(st, 2, now);
    int step = sqlpool_step(st);
    sqlite3_reset(st);
    if (step == SQLITE_DONE) {
        rc = 0;
        goto out;
    }
    if (step != SQLITE_ROW) {
        sqlpool_fail(c, err, "look for messages");
        goto out;
    }

    if (tx_begin(s, c, err) < 0)
        goto out;
    struct qinfo qi = {0};
    if (queue_get(c, name, &qi, err) < 0)
        goto end;
    if (vis_s <= 0)
        vis_s = qi.visibility_s;
    now = s->now_ms(s->clock_ctx);
    while ((int)json_array_size(out) < max) {
        long long seqs[QUEUE_RECEIVE_MAX];
        int counts[QUEUE_RECEIVE_MAX], n = 0;
        if (!(st = sqlpool_stmt(c, Q_READY, err)))
            goto end;
        bind_text(st, 1, name);
        sqlite3_bind_int64(st, 2, now);
        sqlite3_bind_int(st, 3, max - (int)json_array_size(out));
        while ((step = sqlpool_step(st)) == SQLITE_ROW && n < QUEUE_RECEIVE_MAX) {
            seqs[n] = sqlite3_column_int64(st, 0);
            counts[n++] = sqlite3_column_int(st, 1);
        }
        sqlite3_reset(st);
        if (step != SQLITE_DONE && step != SQLITE_ROW) {
            sqlpool_fail(c, err, "pick messages");
            goto end;
        }
        if (n == 0)
            break;
        int moved_now = 0;
        for (int i = 0; i < n; i++) {
            if (qi.dlq[0] && counts[i] >= qi.max_receive) {
                /* Received maxReceiveCount times already: this receive moves it instead. */
                if (!(st = sqlpool_stmt(c, Q_TO_DLQ, err)))
                    goto end;
                sqlite3_bind_int64(st, 1, seqs[i]);
                bind_text(st, 2, qi.dlq);
                sqlite3_bind_int64(st, 3, now);
                step = sqlpool_step(st);
                sqlite3_reset(st);
                if (step != SQLITE_DONE) {
                    sqlpool_fail(c, err, "move message to the dead-letter queue");
                    goto end;
                }
                moved_now++;
                continue;
            }
            char token[23], receipt[48];
            if (rand_id128(token) < 0) {
                err_set(err, "QueueError", "cannot draw a receipt handle from the kernel");
                goto end;
            }
            snprintf(receipt, sizeof receipt, "%lld.%s", seqs[i], token);
            if (!(st = sqlpool_stmt(c, Q_MARK_RECEIVED, err)))
                goto end;
            sqlite3_bind_int64(st, 1, seqs[i]);
            sqlite3_bind_int64(st, 2, now);
            sqlite3_bind_int64(st, 3, now + (int64_t)vis_s * 1000);
            bind_text(st, 4, token);
            step = sqlpool_step(st);
            if (step != SQLITE_ROW) {
                sqlite3_reset(st);
                sqlpool_fail(c, err, "mark message received");
                goto end;
            }
            json_array_append_new(out, message_json(st, 0, receipt));
            sqlpool_step(st); /* finish the RETURNING statement before reusing it */
            sqlite3_reset(st);
        }
        moved += moved_now;
        if (moved_now == 0 || moved >= RECEIVE_MOVE_CAP)
            break;
    }
    ok = 1;
end:
    if (tx_end(s, c, ok, err) == 0 && ok)
        rc = 0;
    if (moved && rc == 0)
        log_at(LL_INFO, "queue", "moved %d messages of '%s' to dead-letter queue '%s'", moved, name,
               qi.dlq);
out:
    sqlpool_release(s->pool, c);
    return rc;
}

static int sq_receive(struct queue *base, const char *name, const struct queue_receive_opts *o,
                      json_t **out, struct err *err)
{
    struct queue_sqlite *s = (struct queue_sqlite *)base;
    if (!o || o->max_messages < 1 || o->max_messages > QUEUE_RECEIVE_MAX)
        return err_set(err, "InvalidParameterValue", "MaxNumberOfMessages must be 1..%d, not %d",
                       QUEUE_RECEIVE_MAX, o ? o->max_messages : 0);
    if (o->visibility_timeout_s < 0 || o->visibility_timeout_s > QUEUE_VISIBILITY_MAX_S)
        return err_set(err, "InvalidParameterValue", "VisibilityTimeout must be 0..%d, not %d",
                       QUEUE_VISIBILITY_MAX_S, o->visibility_timeout_s);
    if (o->wait_time_s < 0 || o->wait_time_s > QUEUE_WAIT_MAX_S)
        return err_set(err, "InvalidParameterValue", "WaitTimeSeconds must be 0..%d, not %d",
                       QUEUE_WAIT_MAX_S, o->wait_time_s);
    struct qinfo qi;
    if (queue_lookup(s, name, &qi, err) < 0)
        return -1;

    json_t *msgs = json_array();
    int64_t deadline = clock_mono_ms() + (int64_t)o->wait_time_s * 1000;
    for (;;) {
        unsigned long gen = generation(s);
        if (receive_once(s, name, o->max_messages, o->visibility_timeout_s, msgs, err) < 0) {
            json_decref(msgs);
            return -1;
        }
        int64_t left = deadline - clock_mono_ms();
        if (json_array_size(msgs) > 0 || left <= 0)
            break;
        /* Sleep until a same-process send, or the poll interval for other processes. */
        int64_t nap = left < s->poll_ms ? left : s->poll_ms;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += (time_t)(nap / 1000);
        ts.tv_nsec += (long)(nap % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&s->lock);
        while (s->generation == gen) {
            if (pthread_cond_timedwait(&s->changed, &s->lock, &ts) != 0)
                break;
        }
        pthread_mutex_unlock(&s->lock);
    }
    *out = msgs;
    return 0;
}

static int sq_delete(struct queue *base, const char *name, const char *receipt, struct err *err)
{
    struct queue_sqlite *s = (struct queue_sqlite *)base;
    long long seq;
    const char *token;
    struct qinfo qi;
    if (queue_lookup(s, name, &qi, err) < 0)
        return -1;
    if (receipt_parse(receipt, &seq, &token) < 0)
        return err_set(err, "ReceiptHandleIsInvalid", "receipt handle '%.64s' is not valid",
                       receipt ? receipt : "");
    struct sqlpool_conn *c = sqlpool_acquire(s->pool);
    int rc = -1;
    sqlite3_stmt *st = sqlpool_stmt(c, Q_DELETE, err);
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, seq);
    bind_text(st, 2, name);
    bind_text(st, 3, token);
    pthread_mutex_lock(&s->wlock);
    int step = sqlpool_step(st);
    int changed = sqlite3_changes(c->db);
    pthread_mutex_unlock(&s->wlock);
    sqlite3_reset(st);
    if (step != SQLITE_DONE) {
        sqlpool_fail(c, err, "delete message");
        goto out;
    }
    if (!changed)
        log_at(LL_DEBUG, "queue", "stale receipt handle for '%s': nothing deleted", name);
    rc = 0;
out:
    sqlpool_release(s->pool, c);
    return rc;
}

static int sq_change_visibility(struct queue *base, const char *name, const char *receipt,
                                int timeout_s, struct err *err)
{
    struct queue_sqlite *s = (struct queue_sqlite *)base;
    long long seq;
    const char *token;
    struct qinfo qi;
    if (queue_lookup(s, name, &qi, err) < 0)
        return -1;
    if (timeout_s < 0 || timeout_s > QUEUE_VISIBILITY_MAX_S)
        return err_set(err, "InvalidParameterValue", "VisibilityTimeout must be 0..%d, not %d",
                       QUEUE_VISIBILITY_MAX_S, timeout_s);
    if (receipt_parse(receipt, &seq, &token) < 0)
        return err_set(err, "ReceiptHandleIsInvalid", "receipt handle '%.64s' is not valid",
                       receipt ? receipt : "");
    struct sqlpool_conn *c = sqlpool_acquire(s->pool);
    int ok = 0;
    if (tx_begin(s, c, err) < 0)
        goto out;
    sqlite3_stmt *st = sqlpool_stmt(c, Q_RECEIPT_GET, err);
    if (!st)
        goto end;
    sqlite3_bind_int64(st, 1, seq);
    bind_text(st, 2, name);
    int step = sqlpool_step(st);
    if (step != SQLITE_ROW && step != SQLITE_DONE) {
        sqlite3_reset(st);
        sqlpool_fail(c, err, "read message");
        goto end;
    }
    const char *stored = step == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
    int latest = stored && strcmp(stored, token) == 0;
    int64_t visible_at = step == SQLITE_ROW ? sqlite3_column_int64(st, 1) : 0;
    sqlite3_reset(st);
    int64_t now = s->now_ms(s->clock_ctx);
    if (!latest) {
        err_set(err, "ReceiptHandleIsInvalid",
                "receipt handle is not the latest for its message in '%s' (received again, "
                "moved or deleted since)",
                name);
        goto end;
    }
    if (visible_at <= now) {
        err_set(err, "MessageNotInflight",
                "the message is not in flight: its visibility timeout has already expired");
        goto end;
    }
    if (!(st = sqlpool_stmt(c, Q_SET_VISIBLE, err)))
        goto end;
    sqlite3_bind_int64(st, 1, seq);
    sqlite3_bind_int64(st, 2, now + (int64_t)timeout_s * 1000);
    step = sqlpool_step(st);
    sqlite3_reset(st);
    if (step != SQLITE_DONE) {
        sqlpool_fail(c, err, "change visibility");
        goto end;
    }
    ok = 1;
end:
    ok = tx_end(s, c, ok, err) == 0 && ok;
out:
    sqlpool_release(s->pool, c);
    if (ok && timeout_s == 0)
        notify(s);
    return ok ? 0 : -1;
}

static int sq_counts(struct queue *base, const char *name, struct queue_counts *out,
                     struct err *err)
{
    struct queue_sqlite *s = (struct queue_sqlite *)base;
    if (queue__check_name(name, err) < 0)
        return -1;
    struct sqlpool_conn *c = sqlpool_acquire(s->pool);
    struct qinfo qi;
    int rc = -1;
    if (queue_get(c, name, &qi, err) < 0)
        goto out;
    sqlite3_stmt *st = sqlpool_stmt(c, Q_COUNTS, err);
    if (!st)
        goto out;
    bind_text(st, 1, name);
    sqlite3_bind_int64(st, 2, s->now_ms(s->clock_ctx));
    if (sqlpool_step(st) != SQLITE_ROW) {
        sqlite3_reset(st);
        sqlpool_fail(c, err, "count messages");
        goto out;
    }
    out->visible = sqlite3_column_int64(st, 0);
    out->in_flight = sqlite3_column_int64(st, 1);
    out->delayed = sqlite3_column_int64(st, 2);
    sqlite3_reset(st);
    rc = 0;
out:
    sqlpool_release(s->pool, c);
    return rc;
}

static int sq_purge(struct queue *base, const char *name, long long *purged, struct err *err)
{
    struct queue_sqlite *s = (struct queue_sqlite *)base;
    struct qinfo qi;
    if (queue_lookup(s, name, &qi, err) < 0)
        return -1;
    struct sqlpool_conn *c = sqlpool_acquire(s->pool);
    int rc = -1;
    sqlite3_stmt *st = sqlpool_stmt(c, Q_PURGE, err);
    if (!st)
        goto out;
    bind_text(st, 1, name);
    pthread_mutex_lock(&s->wlock);
    int step = sqlpool_step(st);
    long long n = sqlite3_changes64(c->db);
    pthread_mutex_unlock(&s->wlock);
    sqlite3_reset(st);
    if (step != SQLITE_DONE) {
        sqlpool_fail(c, err, "purge queue");
        goto out;
    }
    if (purged)
        *purged = n;
    rc = 0;
out:
    sqlpool_release(s->pool, c);
    return rc;
}

static int sq_erase_matching(struct queue *base, const char *name, const char *needle,
                             long long *erased, struct err *err)
{
    struct queue_sqlite *s = (struct queue_sqlite *)base;
    if (!needle || !needle[0] || strlen(needle) > QUEUE_NEEDLE_MAX)
        return err_set(err, "InvalidParameterValue", "erase needs a needle of 1..%d bytes",
                       QUEUE_NEEDLE_MAX);
    struct qinfo qi;
    if (queue_lookup(s, name, &qi, err) < 0)
        return -1;
    struct sqlpool_conn *c = sqlpool_acquire(s->pool);
    int rc = -1;
    /* Freed pages are zeroed on this connection from now on, so erased bodies do not linger. */
    if (sqlpool_exec(c, Q_SECURE_DELETE, err) < 0)
        goto out;
    sqlite3_stmt *st = sqlpool_stmt(c, Q_ERASE_MATCHING, err);
    if (!st)
        goto out;
    bind_text(st, 1, name);
    bind_text(st, 2, needle);
    pthread_mutex_lock(&s->wlock);
    int step = sqlpool_step(st);
    long long n = sqlite3_changes64(c->db);
    pthread_mutex_unlock(&s->wlock);
    sqlite3_reset(st);
    if (step != SQLITE_DONE) {
        sqlpool_fail(c, err, "erase messages");
        goto out;
    }
    /* The old page images live on in the WAL until a checkpoint: copy back and truncate it. */
    struct err ck = {0};
    if (sqlpool_exec(c, Q_WAL_TRUNCATE, &ck) < 0)
        log_at(LL_WARN, "queue", "cannot truncate the WAL after an erasure: %s", ck.message);
    if (erased)
        *erased = n;
    rc = 0;
out:
    sqlpool_release(s->pool, c);
    return rc;
}

static int sq_peek(struct queue *base, const char *name, int max, json_t **out, struct err *err)
{
    struct queue_sqlite *s = (struct queue_sqlite *)base;
    if (max < 1 || max > 1000)
        return err_set(err, "InvalidParameterValue", "peek takes 1..1000 messages, not %d", max);
    struct qinfo qi;
    if (queue_lookup(s, name, &qi, err) < 0)
        return -1;
    struct sqlpool_conn *c = sqlpool_acquire(s->pool);
    json_t *arr = json_array();
    int rc = -1, step;
    int64_t now = s->now_ms(s->clock_ctx);
    sqlite3_stmt *st = sqlpool_stmt(c, Q_PEEK, err);
    if (!st)
        goto out;
    bind_text(st, 1, name);
    sqlite3_bind_int(st, 2, max);
    while ((step = sqlpool_step(st)) == SQLITE_ROW) {
        json_t *m = message_json(st, 0, NULL);
        const char *src = (const char *)sqlite3_column_text(st, 8);
        if (src)
            json_object_set_new(m, "SourceQueue", json_string(src));
        json_object_set_new(m, "Visible", json_boolean(sqlite3_column_int64(st, 9) <= now));
        json_array_append_new(arr, m);
    }
    sqlite3_reset(st);
    if (step != SQLITE_DONE) {
        sqlpool_fail(c, err, "list messages");
        goto out;
    }
    *out = arr;
    arr = NULL;
    rc = 0;
out:
    json_decref(arr);
    sqlpool_release(s->pool, c);
    return rc;
}

/* ---------------------------------------------------------------- redrive */

#define REDRIVE_BATCH 256 /* messages moved per transaction, so senders are not starved */

/* Moves up to limit visible messages of dlq in one transaction; *done is set when the DLQ has
 * nothing more to move. Messages whose source queue is unknown or gone are skipped. */
static int redrive_batch(struct queue_sqlite *s, struct sqlpool_conn *c, const char *dlq,
                         const char *source, int limit, long long *moved, int *done,
                         struct err *err)
{
    static const char pick_sql[] =
        "SELECT seq, source_queue FROM messages WHERE queue = ?1 AND seq > ?3"
        " AND visible_at <= ?2 ORDER BY seq LIMIT ?4";
    struct pick {
        long long seq;                   /* row */
        char target[QUEUE_NAME_MAX + 1]; /* where it goes, "" when unknown */
    } *rows = xcalloc((size_t)limit, sizeof *rows);
    int ok = 0, seen = 0;
    sqlite3_stmt *pick = NULL;
    if (tx_begin(s, c, err) < 0) {
        free(rows);
        return -1;
    }
    if (sqlite3_prepare_v2(c->db, pick_sql, -1, &pick, NULL) != SQLITE_OK) {
        sqlpool_fail(c, err, "prepare");
        goto end;
    }
    int64_t now = s->now_ms(s->clock_ctx);
    long long after = 0;
    *done = 0;
    while (seen < limit) {
        int n = 0, step;
        sqlite3_reset(pick);
        sqlite3_bind_text(pick, 1, dlq, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(pick, 2, now);
        sqlite3_bind_int64(pick, 3, after);
        sqlite3_bind_int(pick, 4, limit - seen);
        while ((step = sqlpool_step(pick)) == SQLITE_ROW && n < limit) {
            const char *orig = (const char *)sqlite3_column_text(pick, 1);
            rows[n].seq = sqlite3_column_int64(pick, 0);
            snprintf(rows[n].target, sizeof rows[n].target, "%s",
                     source ? source
                     : orig ? orig
                            : "");
            n++;
        }
        sqlite3_reset(pick);
        if (step != SQLITE_DONE && step != SQLITE_ROW) {
            sqlpool_fail(c, err, "pick dead letters");
            goto end;
        }
        if (n == 0) {
            *done = 1;
            break;
        }
        after = rows[n - 1].seq;
        for (int i = 0; i < n; i++) {
            struct qinfo qi;
            struct err ignored;
            if (!rows[i].target[0] || queue_get(c, rows[i].target, &qi, &ignored) < 0)
                continue;
            char id[37];
            if (rand_uuid4(id) < 0) {
                err_set(err, "QueueError", "cannot draw a message id from the kernel");
                goto end;
            }
            sqlite3_stmt *st = sqlpool_stmt(c, Q_MOVE_BACK, err);
            if (!st)
                goto end;
            sqlite3_bind_int64(st, 1, rows[i].seq);
            bind_text(st, 2, rows[i].target);
            bind_text(st, 3, id);
            sqlite3_bind_int64(st, 4, now);
            step = sqlpool_step(st);
            sqlite3_reset(st);
            if (step != SQLITE_DONE) {
                sqlpool_fail(c, err, "move dead letter back");
                goto end;
            }
            (*moved)++;
            seen++;
        }
    }
    ok = 1;
end:
    sqlite3_finalize(pick);
    free(rows);
    return tx_end(s, c, ok, err) == 0 && ok ? 0 : -1;
}

static int sq_redrive(struct queue *base, const char *dlq, const char *source, long long max,
                      long long *moved, struct err *err)
{
    struct queue_sqlite *s = (struct queue_sqlite *)base;
    struct qinfo qi;
    long long n = 0;
    if (queue_lookup(s, dlq, &qi, err) < 0 || (source && queue_lookup(s, source, &qi, err) < 0))
        return -1;
    if (max < 0)
        return err_set(err, "InvalidParameterValue", "redrive max must be 0 (all) or more");
    struct sqlpool_conn *c = sqlpool_acquire(s->pool);
    int rc = 0, done = 0;
    /* Each batch is its own transaction. A batch that finds messages it must skip scans past
     * them and reports done when it reaches the end, so the loop always ends. */
    while (!done && (max == 0 || n < max)) {
        long long want = max == 0 ? REDRIVE_BATCH : max - n;
        if (redrive_batch(s, c, dlq, source, want < REDRIVE_BATCH ? (int)want : REDRIVE_BATCH, &n,
                          &done, err) < 0) {
            rc = -1;
            break;
        }
    }
    sqlpool_release(s->pool, c);
    if (moved)
        *moved = n;
    if (n > 0) {
        log_at(LL_INFO, "queue", "redrove %lld messages from '%s'", n, dlq);
        notify(s);
    }
    return rc;
}

/* ---------------------------------------------------------------- lifecycle */

static void sq_free(struct queue *base)
{
    struct queue_sqlite *s = (struct queue_sqlite *)base;
    sqlpool_close(s->pool);
    pthread_mutex_destroy(&s->lock);
    pthread_mutex_destroy(&s->wlock);
    pthread_cond_destroy(&s->changed);
    free(s->path);
    free(s);
}

static const struct queue_ops sqlite_ops = {
    .name = "sqlite",
    .ensure = sq_ensure,
    .list = sq_list,
    .send = sq_send,
    .receive = sq_receive,
    .delete_message = sq_delete,
    .change_visibility = sq_change_visibility,
    .counts = sq_counts,
    .purge = sq_purge,
    .erase_matching = sq_erase_matching,
    .peek = sq_peek,
    .redrive = sq_redrive,
    .free = sq_free,
};

struct queue *queue_sqlite_new(const char *db_path, const struct queue_config *cfg, struct err *err)
{
    static const struct queue_config defaults = {0};
    if (!cfg)
        cfg = &defaults;
    struct queue_sqlite *s = xcalloc(1, sizeof *s);
    s->base.ops = &sqlite_ops;
    s->path = xstrdup(db_path);
    s->now_ms = cfg->now_ms ? cfg->now_ms : default_now;
    s->clock_ctx = cfg->clock_ctx;
    s->poll_ms = cfg->poll_interval_ms > 0 ? cfg->poll_interval_ms : 100;
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_init(&s->wlock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->changed, &ca);
    pthread_condattr_destroy(&ca);
    s->pool = sqlpool_open(db_path, cfg->pool_size > 0 ? cfg->pool_size : 4, stmt_sql, Q_COUNT,
                           schema_sql, "QueueError", err);
    if (!s->pool) {
        sq_free(&s->base);
        return NULL;
    }
    return &s->base;
}
