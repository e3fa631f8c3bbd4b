/* test_store.c - the SQLite store adapter: turns, windows, transcripts, tickets, errors, and the
 * group commit of turns saved from scheduler tasks. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "base/fault.h"
#include "base/sched.h"
#include "base/xmalloc.h"
#include "check.h"
#include "store/store.h"

static struct store *st;
static char dbdir[64];

static json_t *msg(const char *role, const char *text, int ts)
{
    return json_pack("{s:s, s:s, s:i}", "role", role, "content", text, "timestamp", ts);
}

static int save(const char *sid, int is_new, int k, int *turn_no, struct err *e)
{
    char u[32], a[32];
    snprintf(u, sizeof u, "user %d", k);
    snprintf(a, sizeof a, "assistant %d", k);
    json_t *turn = json_pack("{s:s, s:s, s:b, s:[o,o], s:{s:i}, s:{}}", "sessionId", sid, "userId",
                             "u-1", "isNew", is_new, "messages", msg("user", u, k),
                             msg("assistant", a, k), "context", "k", k, "metadata");
    int rc = store_turn_save(st, turn, turn_no, e);
    json_decref(turn);
    return rc;
}

static void test_turns_and_window(void)
{
    struct err e;
    int turn = 0;
    CHECK(save("s1", 1, 1, &turn, &e) == 0);
    CHECK_INT(turn, 1);
    for (int k = 2; k <= 5; k++) {
        CHECK(save("s1", 0, k, &turn, &e) == 0);
        CHECK_INT(turn, k);
    }
    json_t *w = NULL;
    CHECK(store_history_recent(st, "s1", 2, &w, &e) == 0);
    CHECK_INT(json_array_size(w), 4);
    CHECK_STR(json_string_value(json_object_get(json_array_get(w, 0), "content")), "user 4");
    CHECK_STR(json_string_value(json_object_get(json_array_get(w, 3), "content")), "assistant 5");
    json_decref(w);
    json_t *all = NULL;
    CHECK(store_transcript(st, "s1", &all, &e) == 0);
    CHECK_INT(json_array_size(all), 10);
    CHECK_STR(json_string_value(json_object_get(json_array_get(all, 0), "content")), "user 1");
    json_decref(all);
    json_t *s = NULL;
    CHECK(store_session_get(st, "s1", &s, &e) == 0);
    CHECK_INT(json_integer_value(json_object_get(s, "turns")), 5);
    CHECK_STR(json_string_value(json_object_get(s, "userId")), "u-1");
    CHECK_STR(json_string_value(json_object_get(s, "status")), "active");
    CHECK_INT(json_integer_value(json_object_get(json_object_get(s, "context"), "k")), 5);
    json_decref(s);
}

static void test_session_errors(void)
{
    struct err e;
    int turn = 0;
    CHECK(save("s2", 1, 1, &turn, &e) == 0);
    CHECK(save("s2", 1, 1, &turn, &e) < 0);
    CHECK_STR(e.code, "Conflict");
    CHECK(save("never", 0, 1, &turn, &e) < 0);
    CHECK_STR(e.code, "NotFound");
    json_t *s = NULL;
    CHECK(store_session_get(st, "never", &s, &e) < 0);
    CHECK_STR(e.code, "NotFound");
    CHECK(s == NULL);
    /* The failed turn left nothing behind. */
    json_t *all = NULL;
    CHECK(store_transcript(st, "never", &all, &e) == 0);
    CHECK_INT(json_array_size(all), 0);
    json_decref(all);
}

static void test_tickets(void)
{
    struct err e;
    json_t *f = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "sessionId", "s1", "userId", "u-1",
                          "title", "Cannot log in", "description", "locked out", "priority", "high",
                          "email", "jane@example.com");
    json_t *t1 = NULL, *t2 = NULL;
    CHECK(store_ticket_create(st, f, &t1, &e) == 0);
    CHECK(store_ticket_create(st, f, &t2, &e) == 0);
    json_decref(f);
    const char *id1 = json_string_value(json_object_get(t1, "id"));
    const char *id2 = json_string_value(json_object_get(t2, "id"));
    CHECK(id1 && strlen(id1) == 10 && strncmp(id1, "TKT-", 4) == 0);
    CHECK(id1 && id2 && strcmp(id1, id2) != 0);
    json_t *g = NULL;
    CHECK(store_ticket_get(st, id2, &g, &e) == 0);
    CHECK_STR(json_string_value(json_object_get(g, "email")), "jane@example.com");
    CHECK_STR(json_string_value(json_object_get(g, "status")), "open");
    CHECK_STR(json_string_value(json_object_get(g, "sessionId")), "s1");
    json_decref(g);
    g = NULL;
    /* Lower-case prefix is accepted; malformed and unknown ids are NotFound. */
    char lower[16];
    snprintf(lower, sizeof lower, "tkt-%s", id1 + 4);
    CHECK(store_ticket_get(st, lower, &g, &e) == 0);
    json_decref(g);
    const char *bad[] = {"TKT-", "TKT-12x", "42", "TKT-999999", "TKT-1234567890123"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        g = NULL;
        CHECK(store_ticket_get(st, bad[i], &g, &e) < 0);
        CHECK_STR(e.code, "NotFound");
        CHECK(strstr(e.message, bad[i]) != NULL);
    }
    json_decref(t1);
    json_decref(t2);

    /* The same idempotency key twice: one ticket, returned both times. */
    json_t *k = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "sessionId", "s1", "userId", "u-1",
                          "title", "Refund", "description", "twice", "priority", "low", "email",
                          "a@example.com", "idempotencyKey", "s1:toolu_1");
    json_t *k1 = NULL, *k2 = NULL;
    CHECK(store_ticket_create(st, k, &k1, &e) == 0);
    CHECK(store_ticket_create(st, k, &k2, &e) == 0);
    CHECK_STR(json_string_value(json_object_get(k1, "id")),
              json_string_value(json_object_get(k2, "id")));
    json_t *mine = NULL;
    CHECK(store_tickets_list(st, "u-1", 100, &mine, &e) == 0);
    CHECK_INT(json_array_size(mine), 3);
    json_decref(mine);
    json_decref(k);
    json_decref(k1);
    json_decref(k2);
}

/* The ticket id form both adapters share: parsed and written by store.c. */
static void test_ticket_id_form(void)
{
    char id[STORE_TICKET_ID_MAX];
    CHECK_INT(store__ticket_seq("TKT-000042"), 42);
    CHECK_INT(store__ticket_seq("tkt-7"), 7);
    CHECK_INT(store__ticket_seq("TKT-999999999999"), 999999999999LL); /* 12 digits */
    const char *bad[] = {"TKT-", "TKT-1234567890123", "TKT-12x", "TKT--1", "TK-1", "42", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_INT(store__ticket_seq(bad[i]), -1);
    store__ticket_id(42, id);
    CHECK_STR(id, "TKT-000042");
    store__ticket_id(1234567, id); /* past six digits: all of them */
    CHECK_STR(id, "TKT-1234567");
    store__ticket_id(999999999999LL, id);
    CHECK_INT(store__ticket_seq(id), 999999999999LL);
}

static void test_actions_and_idempotency(void)
{
    struct err e;
    json_t *a = json_pack("{s:s, s:s, s:s, s:s, s:{s:s}, s:s}", "id", "toolu_9", "sessionId", "s1",
                          "userId", "u-1", "tool", "get_ticket_status", "input", "ticket_id",
                          "TKT-000001", "status", "pending");
    CHECK(store_action_put(st, a, &e) == 0);
    json_t *g = NULL;
    CHECK(store_action_get(st, "toolu_9", &g, &e) == 0);
    CHECK_STR(json_string_value(json_object_get(g, "status")), "pending");
    json_decref(g);
    json_object_set_new(a, "status", json_string("succeeded"));
    json_object_set_new(a, "result", json_pack("{s:s}", "ticketId", "TKT-000001"));
    CHECK(store_action_put(st, a, &e) == 0);
    CHECK(store_action_get(st, "toolu_9", &g, &e) == 0);
    CHECK_STR(json_string_value(json_object_get(g, "status")), "succeeded");
    CHECK_STR(json_string_value(json_object_get(json_object_get(g, "result"), "ticketId")),
              "TKT-000001");
    json_decref(g);
    json_decref(a);
    CHECK(store_action_get(st, "nope", &g, &e) < 0);
    CHECK_STR(e.code, "NotFound");

    json_t *resp = NULL;
    CHECK_INT(store_idem_begin(st, "k-1", "h1", &resp, &e), 0);
    CHECK_INT(store_idem_begin(st, "k-1", "h1", &resp, &e), -1);
    CHECK_STR(e.code, "Conflict");
    json_t *r = json_pack("{s:s}", "reply", "hi");
    CHECK(store_idem_finish(st, "k-1", r, &e) == 0);
    json_decref(r);
    CHECK_INT(store_idem_begin(st, "k-1", "h1", &resp, &e), 1);
    CHECK_STR(json_string_value(json_object_get(resp, "reply")), "hi");
    json_decref(resp);
    CHECK_INT(store_idem_begin(st, "k-1", "h2", &resp, &e), -1);
    CHECK_STR(e.code, "IdempotencyMismatch");
    /* An aborted claim can be claimed again. */
    CHECK_INT(store_idem_begin(st, "k-2", "h", &resp, &e), 0);
    CHECK(store_idem_abort(st, "k-2", &e) == 0);
    CHECK_INT(store_idem_begin(st, "k-2", "h", &resp, &e), 0);
}

static void test_reopen_keeps_data(void)
{
    struct err e;
    store_free(st);
    char path[128];
    snprintf(path, sizeof path, "%s/t.db", dbdir);
    st = store_sqlite_new(path, 2, &e);
    CHECK(st != NULL);
    json_t *s = NULL;
    CHECK(store_session_get(st, "s1", &s, &e) == 0);
    CHECK_INT(json_integer_value(json_object_get(s, "turns")), 5);
    json_decref(s);
}

/* The text of the conversations table's CREATE statement in the file at path ("" when none). */
static void conversations_sql(const char *path, char *out, size_t n)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    out[0] = '\0';
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db,
                           "SELECT sql FROM sqlite_schema WHERE type = 'table'"
                           " AND name = 'conversations'",
                           -1, &q, NULL) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW)
        snprintf(out, n, "%s", (const char *)sqlite3_column_text(q, 0));
    sqlite3_finalize(q);
    sqlite3_close(db);
}

/* A file made with the conversations table of old (WITHOUT ROWID, keyed by session and time) is
 * moved to the rowid table when it is opened, every turn kept, and opens unchanged after that. */
static void test_old_conversations_table_moved(void)
{
    char path[128], sql[1024];
    snprintf(path, sizeof path, "%s/old.db", dbdir);
    sqlite3 *db = NULL;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db,
                       "PRAGMA journal_mode=WAL;"
                       "CREATE TABLE sessions ("
                       " session_id TEXT PRIMARY KEY, user_id TEXT NOT NULL, status TEXT NOT NULL,"
                       " created_at INTEGER NOT NULL, last_activity INTEGER NOT NULL,"
                       " turns INTEGER NOT NULL, last_ts INTEGER NOT NULL, context TEXT NOT NULL,"
                       " metadata TEXT NOT NULL);"
                       "CREATE TABLE conversations ("
                       " session_id TEXT NOT NULL, timestamp INTEGER NOT NULL, turn INTEGER NOT NULL,"
                       " user_id TEXT NOT NULL, messages TEXT NOT NULL, context TEXT NOT NULL,"
                       " last_activity INTEGER NOT NULL, metadata TEXT NOT NULL,"
                       " PRIMARY KEY (session_id, timestamp)) WITHOUT ROWID;"
                       "INSERT INTO sessions VALUES ('old-1', 'u-1', 'active', 1000, 3000, 2, 3000,"
                       " '{}', '{}');"
                       "INSERT INTO conversations VALUES ('old-1', 2000, 1, 'u-1',"
                       " '[{\"role\":\"user\",\"content\":\"first\",\"timestamp\":2000}]', '{}',"
                       " 2000, '{}');"
                       "INSERT INTO conversations VALUES ('old-1', 3000, 2, 'u-1',"
                       " '[{\"role\":\"user\",\"content\":\"second\",\"timestamp\":3000}]', '{}',"
                       " 3000, '{}');",
                       NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    conversations_sql(path, sql, sizeof sql);
    CHECK(strstr(sql, "WITHOUT ROWID") != NULL);

    struct err e;
    struct store *old = store_sqlite_new(path, 2, &e);
    CHECK(old != NULL);
    if (!old)
        return;
    conversations_sql(path, sql, sizeof sql);
    CHECK(strstr(sql, "WITHOUT ROWID") == NULL && strstr(sql, "UNIQUE") != NULL);
    json_t *all = NULL;
    CHECK(store_transcript(old, "old-1", &all, &e) == 0);
    CHECK_INT(json_array_size(all), 2);
    CHECK_STR(json_string_value(json_object_get(json_array_get(all, 1), "content")), "second");
    json_decref(all);
    /* Turns go on where they were. */
    json_t *turn = json_pack("{s:s, s:s, s:b, s:[o], s:{}, s:{}}", "sessionId", "old-1", "userId",
                             "u-1", "isNew", 0, "messages", msg("user", "third", 4000), "context",
                             "metadata");
    int turn_no = 0;
    CHECK(store_turn_save(old, turn, &turn_no, &e) == 0);
    CHECK_INT(turn_no, 3);
    json_decref(turn);
    store_free(old);
    old = store_sqlite_new(path, 2, &e); /* a second open finds nothing to move */
    CHECK(old != NULL);
    CHECK(old && store_transcript(old, "old-1", &all, &e) == 0);
    CHECK_INT(json_array_size(all), 3);
    json_decref(all);
    store_free(old);
}

static void test_open_failure(void)
{
    struct err e;
    struct store *bad = store_sqlite_new("/nonexistent-dir/x/y.db", 1, &e);
    CHECK(bad == NULL);
    CHECK_STR(e.code, "StoreError");
    CHECK(strstr(e.message, "/nonexistent-dir/x/y.db") != NULL);
}

/* ---- Group commit: turns saved from scheduler tasks ---- */

struct save_task {
    char sid[16];
    int is_new;
    int rc, turn;
    struct err e;
};

static void save_task_run(void *ud)
{
    struct save_task *t = ud;
    t->rc = save(t->sid, t->is_new, 1, &t->turn, &t->e);
}

/* Runs the n saves as tasks on two scheduler threads, all at once, until every one returned. */
static void run_saves(struct save_task *ts, int n)
{
    struct err e;
    struct sched *s = sched_start(2, 0, &e);
    CHECK(s != NULL);
    for (int i = 0; s && i < n; i++)
        CHECK_INT(sched_submit(s, save_task_run, &ts[i]), 0);
    CHECK_INT(sched_stop(s, 60000), 0);
}

static long long session_turns(const char *sid)
{
    struct err e;
    json_t *s = NULL;
    if (store_session_get(st, sid, &s, &e) < 0)
        return -1;
    long long n = json_integer_value(json_object_get(s, "turns"));
    json_decref(s);
    return n;
}

/* 48 new sessions saved at once from tasks, then one wave mixing 16 turns on one session, 16 on
 * sessions of their own and 16 that create sessions that exist (Conflict): every save answers
 * its own result, a failed one in a batch leaves the others stored, and the 16 turns on one
 * session get the turn numbers 2..17, each once (no lost update). */
static void test_group_commit_in_tasks(void)
{
    enum { N = 48, W = 16 };
    static struct save_task ts[N];
    for (int i = 0; i < N; i++)
        ts[i] = (struct save_task){.is_new = 1, .rc = -2};
    for (int i = 0; i < N; i++)
        snprintf(ts[i].sid, sizeof ts[i].sid, "g%d", i);
    run_saves(ts, N);
    for (int i = 0; i < N; i++) {
        CHECK_INT(ts[i].rc, 0);
        CHECK_INT(ts[i].turn, 1);
    }
    for (int i = 0; i < N; i++) {
        ts[i] = (struct save_task){.is_new = i >= 2 * W, .rc = -2};
        snprintf(ts[i].sid, sizeof ts[i].sid, "g%d", i < W ? 0 : i - W + 1);
    }
    run_saves(ts, N);
    int seen[W + 2] = {0};
    for (int i = 0; i < W; i++) {
        CHECK_INT(ts[i].rc, 0);
        if (ts[i].turn >= 2 && ts[i].turn <= W + 1)
            seen[ts[i].turn]++;
    }
    for (int t = 2; t <= W + 1; t++)
        CHECK_INT(seen[t], 1);
    CHECK_INT(session_turns("g0"), W + 1);
    for (int i = W; i < 2 * W; i++) {
        CHECK_INT(ts[i].rc, 0);
        CHECK_INT(ts[i].turn, 2);
        CHECK_INT(session_turns(ts[i].sid), 2);
    }
    for (int i = 2 * W; i < N; i++) {
        CHECK_INT(ts[i].rc, -1);
        CHECK_STR(ts[i].e.code, "Conflict");
        CHECK_INT(session_turns(ts[i].sid), 1);
    }
}

/* One save from a task, with the SQL statement nth of its batch failing: BEGIN (1), SAVEPOINT
 * (2), the session's INSERT (3), the turn's INSERT (4), RELEASE (5), COMMIT (6). Each fails the
 * save with StoreError and stores nothing. */
static void test_group_commit_faults(void)
{
    for (int nth = 1; nth <= 6; nth++) {
        struct save_task t = {.is_new = 1, .rc = -2};
        snprintf(t.sid, sizeof t.sid, "f%d", nth);
        fault_arm(FAULT_SQL, nth, SQLITE_IOERR, 0);
        run_saves(&t, 1);
        CHECK_INT(fault_injected(FAULT_SQL), 1);
        fault_disarm_all();
        CHECK_INT(t.rc, -1);
        CHECK_STR(t.e.code, "StoreError");
        CHECK_INT(session_turns(t.sid), -1);
    }
    /* and the store goes on */
    struct save_task t = {.sid = "f-after", .is_new = 1, .rc = -2};
    run_saves(&t, 1);
    CHECK_INT(t.rc, 0);
    CHECK_INT(session_turns("f-after"), 1);
}

int main(void)
{
    xmalloc_init();
    snprintf(dbdir, sizeof dbdir, "/tmp/parley-store-XXXXXX");
    if (!mkdtemp(dbdir))
        return 1;
    char path[128];
    snprintf(path, sizeof path, "%s/t.db", dbdir);
    struct err e;
    st = store_sqlite_new(path, 3, &e);
    CHECK(st != NULL);
    RUN(test_turns_and_window);
    RUN(test_session_errors);
    RUN(test_tickets);
    RUN(test_ticket_id_form);
    RUN(test_actions_and_idempotency);
    RUN(test_reopen_keeps_data);
    RUN(test_old_conversations_table_moved);
    RUN(test_open_failure);
    RUN(test_group_commit_in_tasks);
    RUN(test_group_commit_faults);
    store_free(st);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dbdir);
    if (system(cmd) != 0)
        return 1;
    return check_summary();
}
