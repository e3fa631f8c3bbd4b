/*
 * test_erase.c - erasure beyond the store: the queued actions of an erased session are deleted
 * from the SQLite queue (and leave no copy in queue.db or its WAL), the worker drops actions whose
 * session was erased (what happens on SQS, which cannot delete by content), and app_erase_user
 * erases every session of one user and nobody else's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/history.h"
#include "agent/tools.h"
#include "base/config.h"
#include "base/xmalloc.h"
#include "check.h"
#include "model/model.h"
#include "queue/queue.h"
#include "runtime/app.h"
#include "store/store.h"

static char dir[64] = "/tmp/parley-erase-XXXXXX";

/* An action message as ActionExecutor writes it (compact JSON, sessionId after actionId). */
static int send_action(struct queue *q, const char *queue, const char *action_id,
                       const char *sid, const char *extra)
{
    json_t *msg = json_pack("{s:s, s:s, s:s, s:s, s:{s:s}, s:s}", "actionId", action_id,
                            "sessionId", sid, "userId", "u1", "tool", "create_ticket", "input",
                            "email", extra, "idempotencyKey", "k");
    char *body = json_dumps(msg, JSON_COMPACT);
    char id[37];
    struct err e = {0};
    int rc = queue_send(q, queue, body, NULL, 0, id, &e);
    if (rc < 0)
        fprintf(stderr, "send: %s %s\n", e.code, e.message);
    free(body);
    json_decref(msg);
    return rc;
}

/* 1 when the file at path holds needle anywhere (0 when it does not or does not exist). */
static int file_has(const char *path, const char *needle)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    size_t len = strlen(needle), n = 0, cap = 1 << 16;
    char *buf = xmalloc(cap);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap)
            buf = xrealloc(buf, cap *= 2);
    }
    fclose(f);
    int hit = 0;
    for (size_t i = 0; !hit && i + len <= n; i++)
        hit = memcmp(buf + i, needle, len) == 0;
    free(buf);
    return hit;
}

static long long total(struct queue *q, const char *name)
{
    struct queue_counts c = {0};
    struct err e = {0};
    if (queue_counts(q, name, &c, &e) < 0)
        return -1;
    return c.visible + c.in_flight + c.delayed;
}

/* Messages of the session, visible, in flight and dead-lettered, are erased; a session whose id
 * merely starts the same and another session keep theirs; no byte of them stays on disk. */
static void test_queue_erase_session(void)
{
    char *path = xasprintf("%s/queue.db", dir);
    char *wal = xasprintf("%s/queue.db-wal", dir);
    struct err e = {0};
    struct queue *q = queue_sqlite_new(path, NULL, &e);
    CHECK(q != NULL);
    if (!q)
        goto out;
    CHECK_INT(queue_setup_agent(q, &e), 0);
    CHECK_INT(send_action(q, QUEUE_AGENT_ACTIONS, "a1", "s-gone", "gone.one@example.com"), 0);
    CHECK_INT(send_action(q, QUEUE_AGENT_ACTIONS, "a2", "s-gone", "gone.two@example.com"), 0);
    CHECK_INT(send_action(q, QUEUE_AGENT_ACTIONS_DLQ, "a3", "s-gone", "gone.dlq@example.com"), 0);
    CHECK_INT(send_action(q, QUEUE_AGENT_ACTIONS, "a4", "s-gone-2", "keep.one@example.com"), 0);
    CHECK_INT(send_action(q, QUEUE_AGENT_ACTIONS, "a5", "s-other", "keep.two@example.com"), 0);
    /* One of the session's messages is in flight (a worker holds it). */
    struct queue_receive_opts o = {.max_messages = 1, .visibility_timeout_s = 300};
    json_t *got = NULL;
    CHECK_INT(queue_receive(q, QUEUE_AGENT_ACTIONS, &o, &got, &e), 0);
    CHECK_INT(json_array_size(got), 1);
    json_decref(got);
    CHECK(file_has(path, "gone.one@example.com") || file_has(wal, "gone.one@example.com"));
    long long n = -2;
    CHECK_INT(queue_erase_session(q, "s-gone", &n, &e), 0);
    CHECK_INT(n, 3);
    CHECK_INT(total(q, QUEUE_AGENT_ACTIONS), 2);
    CHECK_INT(total(q, QUEUE_AGENT_ACTIONS_DLQ), 0);
    /* Again: nothing left to erase. */
    CHECK_INT(queue_erase_session(q, "s-gone", &n, &e), 0);
    CHECK_INT(n, 0);
    CHECK_INT(queue_erase_session(q, "", &n, &e), -1);
    CHECK_STR(e.code, "InvalidParameterValue");
    CHECK_INT(queue_erase_matching(q, "Nope", "x", &n, &e), -1);
    CHECK_STR(e.code, "QueueDoesNotExist");
    /* secure_delete plus a truncated WAL: the erased bodies are in neither file. */
    const char *gone[] = {"gone.one@example.com", "gone.two@example.com",
                          "gone.dlq@example.com"};
    for (int i = 0; i < 3; i++) {
        CHECK_INT(file_has(path, gone[i]), 0);
        CHECK_INT(file_has(wal, gone[i]), 0);
    }
    CHECK(file_has(path, "keep.two@example.com") || file_has(wal, "keep.two@example.com"));
out:
    queue_free(q);
    free(path);
    free(wal);
}

static json_t *new_turn(const char *sid, const char *uid)
{
    return json_pack("{s:s, s:s, s:b, s:[{s:s, s:s}], s:{}}", "sessionId", sid, "userId", uid,
                     "isNew", 1, "messages", "role", "user", "content", "hello", "context");
}

/* An action of an erased session (erased while the message was queued, as on SQS) is dropped:
 * not run, not retried, and no record of it is written back. A recorded one, and one never
 * recorded whose session was never erased, still run (the controls). */
static void test_worker_drops_actions_of_erased_sessions(void)
{
    struct err e = {0};
    char *path = xasprintf("%s/worker.db", dir);
    struct store *store = store_sqlite_new(path, 2, &e);
    struct tools *t = tools_new(NULL, NULL, &e);
    struct config cfg;
    config_load(&cfg, &e);
    CHECK(store && t);
    if (!store || !t)
        goto out;
    struct agent a = {.cfg = &cfg, .store = store, .tools = t};
    agent_init(&a);
    const char *live[] = {"s-live", "s-gone"};
    for (int i = 0; i < 2; i++) {
        json_t *turn = new_turn(live[i], "u1");
        int no = 0;
        CHECK_INT(store_turn_save(store, turn, &no, &e), 0);
        json_decref(turn);
        char aid[32];
        snprintf(aid, sizeof aid, "act-%s", live[i] + 2);
        json_t *rec = json_pack("{s:s, s:s, s:s, s:s, s:{}, s:s}", "id", aid, "sessionId",
                                live[i], "userId", "u1", "tool", "no_such_tool", "input",
                                "status", "pending");
        CHECK_INT(store_action_put(store, rec, &e), 0);
        json_decref(rec);
    }
    int erased = -1;
    CHECK_INT(store_session_erased(store, "s-gone", &erased, &e), 0);
    CHECK_INT(erased, 0);
    CHECK_INT(store_session_erase(store, "s-gone", &e), 0);
    CHECK_INT(store_session_erased(store, "s-gone", &erased, &e), 0);
    CHECK_INT(erased, 1);
    const char *bodies[3] = {
        "{\"actionId\":\"act-live\",\"sessionId\":\"s-live\",\"userId\":\"u1\",\"tool\":"
        "\"no_such_tool\",\"input\":{},\"idempotencyKey\":\"s-live:act-live\"}",
        "{\"actionId\":\"act-gone\",\"sessionId\":\"s-gone\",\"userId\":\"u1\",\"tool\":"
        "\"no_such_tool\",\"input\":{},\"idempotencyKey\":\"s-gone:act-gone\"}",
        /* Never recorded and never erased (a hand-written event): it runs. */
        "{\"actionId\":\"act-norec\",\"sessionId\":\"s-never\",\"userId\":\"u1\",\"tool\":"
        "\"no_such_tool\",\"input\":{},\"idempotencyKey\":\"s-never:act-norec\"}"};
    json_t *event = json_pack("{s:[{s:s, s:s}, {s:s, s:s}, {s:s, s:s}]}", "Records", "messageId",
                              "m1", "body", bodies[0], "messageId", "m2", "body", bodies[1],
                              "messageId", "m3", "body", bodies[2]);
    json_t *res = agent_action_worker(&a, event, &e);
    CHECK(res != NULL);
    CHECK_INT(json_array_size(json_object_get(res, "batchItemFailures")), 0);
    json_t *got = NULL;
    CHECK_INT(store_action_get(store, "act-live", &got, &e), 0);
    CHECK_STR(json_string_value(json_object_get(got, "status")), "failed"); /* it ran */
    json_decref(got);
    got = NULL;
    CHECK_INT(store_action_get(store, "act-gone", &got, &e), -1); /* dropped, not recreated */
    CHECK_STR(e.code, "NotFound");
    json_decref(got);
    got = NULL;
    CHECK_INT(store_action_get(store, "act-norec", &got, &e), 0);
    CHECK_STR(json_string_value(json_object_get(got, "status")), "failed"); /* it ran */
    json_decref(got);
    json_decref(res);
    json_decref(event);
    agent_release(&a);
out:
    tools_free(t);
    store_free(store);
    config_release(&cfg);
    free(path);
}

/* app_erase_user: every session of the user (and their queued actions) goes, other users keep
 * theirs; a user without sessions is a success with nothing erased. */
static void test_erase_user(void)
{
    struct err e = {0};
    char *path = xasprintf("%s/users.db", dir);
    char *qpath = xasprintf("%s/users-queue.db", dir);
    struct store *store = store_sqlite_new(path, 2, &e);
    struct queue *q = queue_sqlite_new(qpath, NULL, &e);
    CHECK(store && q);
    if (!store || !q)
        goto out;
    CHECK_INT(queue_setup_agent(q, &e), 0);
    const char *sessions[][2] = {{"ua-1", "alice"}, {"ua-2", "alice"}, {"ub-1", "bob"}};
    for (int i = 0; i < 3; i++) {
        json_t *turn = new_turn(sessions[i][0], sessions[i][1]);
        int no = 0;
        CHECK_INT(store_turn_save(store, turn, &no, &e), 0);
        json_decref(turn);
        CHECK_INT(send_action(q, QUEUE_AGENT_ACTIONS, "a", sessions[i][0], "x@example.com"), 0);
    }
    json_t *ids = NULL;
    CHECK_INT(app_erase_user(store, q, NULL, "alice", &ids, &e), 0);
    CHECK_INT(json_array_size(ids), 2);
    json_decref(ids);
    json_t *s = NULL;
    CHECK_INT(store_session_get(store, "ua-1", &s, &e), -1);
    CHECK_INT(store_session_get(store, "ua-2", &s, &e), -1);
    CHECK_INT(store_session_get(store, "ub-1", &s, &e), 0);
    json_decref(s);
    CHECK_INT(total(q, QUEUE_AGENT_ACTIONS), 1);
    ids = NULL;
    CHECK_INT(app_erase_user(store, q, NULL, "nobody", &ids, &e), 0);
    CHECK_INT(json_array_size(ids), 0);
    json_decref(ids);
    ids = NULL;
    CHECK_INT(app_erase_user(store, q, NULL, "", &ids, &e), -1);
    CHECK_STR(e.code, "InvalidRequest");
    CHECK(ids == NULL);
    /* One session: NotFound for an unknown or malformed id. */
    CHECK_INT(app_erase_session(store, q, NULL, "ua-1", &e), -1);
    CHECK_STR(e.code, "NotFound");
    CHECK_INT(app_erase_session(store, q, NULL, "../x", &e), -1);
    CHECK_STR(e.code, "NotFound");
out:
    queue_free(q);
    store_free(store);
    free(path);
    free(qpath);
}

/* What the agent keeps of a conversation's text goes when the session is erased through the
 * store: the agent's on_erase drops the session's cached window and tells the model to forget, so
 * the offline model's memo lets go of the contents it measured. */
static void test_erase_forgets_model_measures(void)
{
    struct err e = {0};
    char *path = xasprintf("%s/forget.db", dir);
    struct store *store = store_sqlite_new(path, 2, &e);
    struct config cfg;
    config_load(&cfg, &e);
    struct model *m = model_offline_new();
    CHECK(store != NULL);
    if (!store)
        goto out;
    struct agent a = {.cfg = &cfg, .store = store, .model = m};
    agent_init(&a);
    json_t *turn = new_turn("s-forget", "u1");
    int no = 0;
    CHECK_INT(store_turn_save(store, turn, &no, &e), 0);
    json_decref(turn);
    char text[MODEL_OFFLINE_LONG_STRING * 2];
    memset(text, 'c', sizeof text - 1);
    text[sizeof text - 1] = '\0';
    json_t *content = json_string(text);
    json_t *req = json_pack("{s:s, s:[{s:s, s:O}], s:[], s:i}", "system", "be brief", "messages",
                            "role", "user", "content", content, "tools", "max_tokens", 64);
    json_t *resp = model_invoke(m, req, NULL, NULL, &e);
    CHECK(resp != NULL);
    json_decref(resp);
    json_decref(req);
    CHECK_INT(content->refcount, 2); /* ours and the model's memo */
    struct history_window w; /* the session's window held by the agent's cache */
    CHECK_INT(history_window_load(a.history, store, "s-forget", 3, 8, &w, &e), 0);
    history_window_release(&w);
    CHECK_INT(store_session_erase(store, "s-forget", &e), 0);
    CHECK_INT(content->refcount, 1); /* forgotten */
    struct history_stats hs;
    history_cache_stats(a.history, &hs);
    CHECK_INT(hs.drops, 1); /* and the window dropped */
    CHECK_INT(hs.sessions, 0);
    json_decref(content);
    agent_release(&a);
out:
    model_free(m);
    store_free(store);
    config_release(&cfg);
    free(path);
}

int main(void)
{
    xmalloc_init();
    if (!mkdtemp(dir))
        return 1;
    RUN(test_queue_erase_session);
    RUN(test_worker_drops_actions_of_erased_sessions);
    RUN(test_erase_user);
    RUN(test_erase_forgets_model_measures);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    return check_summary();
}
