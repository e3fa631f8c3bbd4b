/*
 * test_store_contract.c - one behavioural suite for every store adapter (store.h): turns and the
 * recent window, transcripts, session errors, operator (noTurn) items, tickets and idempotency
 * keys, ticket lists, orders, session status and lists, action records, counters (also those
 * a turn adds in its own transaction).
 *
 * Always runs against SQLite. With PARLEY_TEST_DYNAMODB=http://127.0.0.1:PORT (set by
 * tests/scripts/test_aws_store.sh, which starts dynalite there) it runs the same suite against the
 * DynamoDB adapter too, on freshly created tables.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aws/aws.h"
#include "base/clock.h"
#include "base/xmalloc.h"
#include "check.h"
#include "store/store.h"
#include "store/store_dynamo.h"

static struct store *st;
static char prefix[32]; /* unique per adapter run, so ids never collide between runs */

static json_t *msg(const char *role, const char *text, int ts)
{
    return json_pack("{s:s, s:s, s:i}", "role", role, "content", text, "timestamp", ts);
}

static const char *sid(const char *name)
{
    static char buf[8][64];
    static int next;
    char *b = buf[next++ % 8];
    snprintf(b, 64, "%s-%s", prefix, name);
    return b;
}

static int save(const char *id, int is_new, int k, int *turn_no, struct err *e)
{
    char u[32], a[32];
    snprintf(u, sizeof u, "user %d", k);
    snprintf(a, sizeof a, "assistant %d", k);
    json_t *turn = json_pack("{s:s, s:s, s:b, s:[o,o], s:{s:i, s:[i,f,b,n]}, s:{s:s}}",
                             "sessionId", id, "userId", "u-1", "isNew", is_new, "messages",
                             msg("user", u, k), msg("assistant", a, k), "context", "k", k,
                             "mix", k, 0.25, 1, "metadata", "via", "test");
    int rc = store_turn_save(st, turn, turn_no, e);
    json_decref(turn);
    return rc;
}

static void test_turns_and_window(void)
{
    struct err e;
    int turn = 0;
    const char *s1 = sid("s1");
    CHECK(save(s1, 1, 1, &turn, &e) == 0);
    CHECK_INT(turn, 1);
    for (int k = 2; k <= 5; k++) {
        CHECK(save(s1, 0, k, &turn, &e) == 0);
        CHECK_INT(turn, k);
    }
    json_t *w = NULL;
    CHECK(store_history_recent(st, s1, 2, &w, &e) == 0);
    CHECK_INT(json_array_size(w), 4);
    CHECK_STR(json_string_value(json_object_get(json_array_get(w, 0), "content")), "user 4");
    CHECK_STR(json_string_value(json_object_get(json_array_get(w, 3), "content")), "assistant 5");
    CHECK_INT(json_integer_value(json_object_get(json_array_get(w, 3), "timestamp")), 5);
    json_decref(w);
    w = NULL;
    CHECK(store_history_recent(st, s1, 50, &w, &e) == 0);
    CHECK_INT(json_array_size(w), 10);
    json_decref(w);
    json_t *all = NULL;
    CHECK(store_transcript(st, s1, &all, &e) == 0);
    CHECK_INT(json_array_size(all), 10);
    CHECK_STR(json_string_value(json_object_get(json_array_get(all, 0), "content")), "user 1");
    CHECK_STR(json_string_value(json_object_get(json_array_get(all, 9), "content")),
              "assistant 5");
    json_decref(all);
    json_t *s = NULL;
    CHECK(store_session_get(st, s1, &s, &e) == 0);
    CHECK_INT(json_integer_value(json_object_get(s, "turns")), 5);
    CHECK_STR(json_string_value(json_object_get(s, "userId")), "u-1");
    CHECK_STR(json_string_value(json_object_get(s, "status")), "active");
    json_t *ctx = json_object_get(s, "context");
    CHECK_INT(json_integer_value(json_object_get(ctx, "k")), 5);
    /* JSON types survive the trip: integer, real, bool, null. */
    json_t *mix = json_object_get(ctx, "mix");
    CHECK(json_is_integer(json_array_get(mix, 0)));
    CHECK(json_is_real(json_array_get(mix, 1)) && json_real_value(json_array_get(mix, 1)) == 0.25);
    CHECK(json_is_true(json_array_get(mix, 2)));
    CHECK(json_is_null(json_array_get(mix, 3)));
    CHECK(json_integer_value(json_object_get(s, "createdAt")) > 1600000000000LL);
    CHECK(json_integer_value(json_object_get(s, "lastActivity")) >=
          json_integer_value(json_object_get(s, "createdAt")));
    json_decref(s);
}

/* Turns saved back to back, many within one millisecond, keep their order and count; the first
 * one already holds the new session's context and clock (no separate create then update). */
static void test_turns_back_to_back(void)
{
    struct err e;
    int turn = 0;
    const char *s9 = sid("s9");
    CHECK(save(s9, 1, 1, &turn, &e) == 0);
    CHECK_INT(turn, 1);
    json_t *s = NULL;
    CHECK(store_session_get(st, s9, &s, &e) == 0);
    CHECK_INT(json_integer_value(json_object_get(s, "turns")), 1);
    CHECK_INT(json_integer_value(json_object_get(json_object_get(s, "context"), "k")), 1);
    CHECK_STR(json_string_value(json_object_get(json_object_get(s, "metadata"), "via")), "test");
    long long created = json_integer_value(json_object_get(s, "createdAt"));
    CHECK(json_integer_value(json_object_get(s, "lastActivity")) >= created);
    json_decref(s);
    for (int k = 2; k <= 30; k++) {
        CHECK(save(s9, 0, k, &turn, &e) == 0);
        CHECK_INT(turn, k);
    }
    json_t *all = NULL;
    CHECK(store_transcript(st, s9, &all, &e) == 0);
    CHECK_INT(json_array_size(all), 60);
    for (int k = 1; k <= 30; k++) {
        char want[32];
        snprintf(want, sizeof want, "user %d", k);
        CHECK_STR(json_string_value(json_object_get(json_array_get(all, 2 * (k - 1)), "content")),
                  want);
    }
    json_decref(all);
    s = NULL;
    CHECK(store_session_get(st, s9, &s, &e) == 0);
    CHECK_INT(json_integer_value(json_object_get(s, "turns")), 30);
    CHECK_INT(json_integer_value(json_object_get(json_object_get(s, "context"), "k")), 30);
    CHECK_INT(json_integer_value(json_object_get(s, "createdAt")), created);
    json_decref(s);
}

/* An item of history_since's answer: its messages, given parsed or as their JSON text (which
 * must then parse to an array). New reference, or NULL. */
static json_t *item_messages(const json_t *row)
{
    json_t *msgs = json_object_get(row, "messages");
    if (msgs)
        return json_incref(msgs);
    const char *text = json_string_value(json_object_get(row, "messagesText"));
    msgs = text ? json_loads(text, 0, NULL) : NULL;
    CHECK(json_is_array(msgs));
    return msgs;
}

/* history_since: the items from a timestamp on, newest max_turns, oldest first; the item at the
 * timestamp itself only has to be there (the caller holds its messages). */
static void test_history_since(void)
{
    struct err e;
    int turn = 0;
    const char *s1 = sid("since");
    CHECK(save(s1, 1, 1, &turn, &e) == 0);
    for (int k = 2; k <= 4; k++)
        CHECK(save(s1, 0, k, &turn, &e) == 0);
    json_t *all = NULL;
    CHECK(store_history_since(st, s1, -1, 10, &all, &e) == 0);
    CHECK_INT(json_array_size(all), 4);
    long long ts[4] = {0};
    for (size_t i = 0; i < 4; i++) {
        json_t *row = json_array_get(all, i);
        ts[i] = (long long)json_integer_value(json_object_get(row, "timestamp"));
        json_t *msgs = item_messages(row);
        json_t *m = json_array_get(msgs, 0);
        char want[16];
        snprintf(want, sizeof want, "user %zu", i + 1);
        CHECK_STR(json_string_value(json_object_get(m, "content")), want);
        json_decref(msgs);
        CHECK(i == 0 || ts[i] > ts[i - 1]);
    }
    json_decref(all);
    json_t *tail = NULL; /* from the second item on: it (messages optional), then two newer */
    CHECK(store_history_since(st, s1, ts[1], 10, &tail, &e) == 0);
    CHECK_INT(json_array_size(tail), 3);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(tail, 0), "timestamp")), ts[1]);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(tail, 2), "timestamp")), ts[3]);
    json_t *newest = item_messages(json_array_get(tail, 2));
    CHECK_STR(json_string_value(json_object_get(json_array_get(newest, 1), "content")),
              "assistant 4");
    json_decref(newest);
    json_decref(tail);
    json_t *last2 = NULL; /* the limit keeps the newest */
    CHECK(store_history_since(st, s1, -1, 2, &last2, &e) == 0);
    CHECK_INT(json_array_size(last2), 2);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(last2, 0), "timestamp")), ts[2]);
    json_decref(last2);
    json_t *none = NULL;
    CHECK(store_history_since(st, sid("since-unknown"), -1, 10, &none, &e) == 0);
    CHECK_INT(json_array_size(none), 0);
    json_decref(none);
    /* Erased: the newest item is gone, which is how a cache holding it learns of the erasure. */
    CHECK(store_session_erase(st, s1, &e) == 0);
    json_t *gone = NULL;
    CHECK(store_history_since(st, s1, ts[3], 10, &gone, &e) == 0);
    CHECK_INT(json_array_size(gone), 0);
    json_decref(gone);
}

static void test_session_errors(void)
{
    struct err e;
    int turn = 0;
    const char *s2 = sid("s2");
    CHECK(save(s2, 1, 1, &turn, &e) == 0);
    CHECK(save(s2, 1, 1, &turn, &e) < 0);
    CHECK_STR(e.code, "Conflict");
    const char *never = sid("never");
    CHECK(save(never, 0, 1, &turn, &e) < 0);
    CHECK_STR(e.code, "NotFound");
    json_t *s = NULL;
    CHECK(store_session_get(st, never, &s, &e) < 0);
    CHECK_STR(e.code, "NotFound");
    CHECK(s == NULL);
    /* The failed turns left nothing behind: s2 still has its one turn. */
    json_t *all = NULL;
    CHECK(store_transcript(st, never, &all, &e) == 0);
    CHECK_INT(json_array_size(all), 0);
    json_decref(all);
    all = NULL;
    CHECK(store_transcript(st, s2, &all, &e) == 0);
    CHECK_INT(json_array_size(all), 2);
    json_decref(all);
    CHECK(store_session_get(st, s2, &s, &e) == 0);
    CHECK_INT(json_integer_value(json_object_get(s, "turns")), 1);
    json_decref(s);
    /* A turn without a session id is refused. */
    json_t *bad = json_pack("{s:s, s:[]}", "userId", "u", "messages");
    CHECK(store_turn_save(st, bad, &turn, &e) < 0);
    CHECK_STR(e.code, "StoreError");
    json_decref(bad);
}

static void test_operator_item(void)
{
    struct err e;
    int turn = 0;
    const char *s3 = sid("s3");
    CHECK(save(s3, 1, 1, &turn, &e) == 0);
    json_t *op = json_pack("{s:s, s:s, s:b, s:b, s:[{s:s, s:s}], s:{s:s}}", "sessionId", s3,
                           "userId", "u-1", "isNew", 0, "noTurn", 1, "messages", "role",
                           "operator", "content", "hello from a human", "context", "k", "ignored");
    CHECK(store_turn_save(st, op, &turn, &e) == 0);
    CHECK_INT(turn, 1);
    json_decref(op);
    json_t *s = NULL;
    CHECK(store_session_get(st, s3, &s, &e) == 0);
    CHECK_INT(json_integer_value(json_object_get(s, "turns")), 1);
    CHECK_INT(json_integer_value(json_object_get(json_object_get(s, "context"), "k")), 1);
    json_decref(s);
    json_t *all = NULL;
    CHECK(store_transcript(st, s3, &all, &e) == 0);
    CHECK_INT(json_array_size(all), 3);
    CHECK_STR(json_string_value(json_object_get(json_array_get(all, 2), "role")), "operator");
    json_decref(all);
}

/* session_transcript, where the adapter has it, answers what session_get and transcript answer,
 * in one read; an unknown session is NotFound and leaves the out-pointers alone. */
static void test_session_transcript(void)
{
    if (!store_has_session_transcript(st)) {
        printf("# %s has no session_transcript: transcript_document reads twice\n",
               store_name(st));
        return;
    }
    struct err e;
    int turn = 0;
    const char *st1 = sid("st1");
    CHECK(save(st1, 1, 1, &turn, &e) == 0);
    CHECK(save(st1, 0, 2, &turn, &e) == 0);
    json_t *op = json_pack("{s:s, s:s, s:b, s:b, s:[{s:s, s:s}], s:{}}", "sessionId", st1, "userId",
                           "u-1", "isNew", 0, "noTurn", 1, "messages", "role", "operator",
                           "content", "a human here", "context");
    CHECK(store_turn_save(st, op, &turn, &e) == 0);
    json_decref(op);
    CHECK(save(st1, 0, 3, &turn, &e) == 0);
    json_t *head = NULL, *msgs = NULL, *sess = NULL, *all = NULL;
    CHECK(store_session_transcript(st, st1, &head, &msgs, &e) == 0);
    CHECK(store_session_get(st, st1, &sess, &e) == 0);
    CHECK(store_transcript(st, st1, &all, &e) == 0);
    const char *keys[] = {"sessionId", "userId", "status", "createdAt", "lastActivity", "turns"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        CHECK(json_object_get(head, keys[i]) != NULL);
        CHECK(json_equal(json_object_get(head, keys[i]), json_object_get(sess, keys[i])));
    }
    CHECK_INT(json_integer_value(json_object_get(head, "turns")), 3);
    CHECK(json_object_get(head, "context") == NULL);
    CHECK_INT(json_array_size(msgs), 7);
    CHECK(json_equal(msgs, all));
    CHECK_STR(json_string_value(json_object_get(json_array_get(msgs, 4), "role")), "operator");
    json_decref(head);
    json_decref(msgs);
    json_decref(sess);
    json_decref(all);
    json_t *untouched = json_object();
    head = msgs = untouched;
    CHECK(store_session_transcript(st, sid("never"), &head, &msgs, &e) == -1);
    CHECK_STR(e.code, "NotFound");
    CHECK(head == untouched && msgs == untouched);
    json_decref(untouched);
}

static json_t *ticket_fields(const char *user, const char *title, const char *key)
{
    json_t *f = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "sessionId", sid("s1"), "userId",
                          user, "title", title, "description", "locked out", "priority", "high",
                          "email", "jane@example.com");
    if (key)
        json_object_set_new(f, "idempotencyKey", json_string(key));
    return f;
}

static void test_tickets(void)
{
    struct err e;
    json_t *f = ticket_fields("u-1", "Cannot log in", NULL);
    json_t *t1 = NULL, *t2 = NULL;
    CHECK(store_ticket_create(st, f, &t1, &e) == 0);
    CHECK(store_ticket_create(st, f, &t2, &e) == 0);
    json_decref(f);
    const char *id1 = json_string_value(json_object_get(t1, "id"));
    const char *id2 = json_string_value(json_object_get(t2, "id"));
    CHECK(id1 && strlen(id1) == 10 && strncmp(id1, "TKT-", 4) == 0);
    CHECK(id1 && id2 && strcmp(id1, id2) != 0);
    CHECK_STR(json_string_value(json_object_get(t1, "title")), "Cannot log in");
    CHECK_STR(json_string_value(json_object_get(t1, "status")), "open");
    const char *created = json_string_value(json_object_get(t1, "createdAt"));
    CHECK(created && strlen(created) >= 20 && created[4] == '-' && created[10] == 'T');
    json_t *g = NULL;
    CHECK(store_ticket_get(st, id2, &g, &e) == 0);
    CHECK_STR(json_string_value(json_object_get(g, "email")), "jane@example.com");
    CHECK_STR(json_string_value(json_object_get(g, "status")), "open");
    CHECK_STR(json_string_value(json_object_get(g, "sessionId")), sid("s1"));
    CHECK_STR(json_string_value(json_object_get(g, "userId")), "u-1");
    CHECK_STR(json_string_value(json_object_get(g, "priority")), "high");
    json_decref(g);
    g = NULL;
    char lower[16];
    snprintf(lower, sizeof lower, "tkt-%s", id1 + 4);
    CHECK(store_ticket_get(st, lower, &g, &e) == 0);
    CHECK_STR(json_string_value(json_object_get(g, "id")), id1);
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
}

static void test_idempotency_and_lists(void)
{
    struct err e;
    char user[64], key[64];
    snprintf(user, sizeof user, "%s-lister", prefix);
    snprintf(key, sizeof key, "%s-action-7", prefix);
    json_t *f = ticket_fields(user, "first", key);
    json_t *a = NULL, *b = NULL;
    CHECK(store_ticket_create(st, f, &a, &e) == 0);
    json_object_set_new(f, "title", json_string("redelivered"));
    CHECK(store_ticket_create(st, f, &b, &e) == 0);
    CHECK_STR(json_string_value(json_object_get(a, "id")),
              json_string_value(json_object_get(b, "id")));
    CHECK_STR(json_string_value(json_object_get(b, "title")), "first");
    json_decref(f);
    json_decref(b);
    json_t *c = NULL;
    f = ticket_fields(user, "second", NULL);
    CHECK(store_ticket_create(st, f, &c, &e) == 0);
    json_decref(f);
    json_t *list = NULL;
    CHECK(store_tickets_list(st, user, 10, &list, &e) == 0);
    CHECK_INT(json_array_size(list), 2);
    CHECK_STR(json_string_value(json_object_get(json_array_get(list, 0), "title")), "second");
    CHECK_STR(json_string_value(json_object_get(json_array_get(list, 1), "id")),
              json_string_value(json_object_get(a, "id")));
    json_decref(list);
    list = NULL;
    CHECK(store_tickets_list(st, user, 1, &list, &e) == 0);
    CHECK_INT(json_array_size(list), 1);
    CHECK_STR(json_string_value(json_object_get(json_array_get(list, 0), "id")),
              json_string_value(json_object_get(c, "id")));
    json_decref(list);
    list = NULL;
    CHECK(store_tickets_list(st, "nobody-at-all", 10, &list, &e) == 0);
    CHECK_INT(json_array_size(list), 0);
    json_decref(list);
    json_decref(a);
    json_decref(c);
}

static void test_orders(void)
{
    struct err e;
    json_t *o = NULL;
    CHECK(store_order_get(st, "1043", &o, &e) == 0);
    CHECK_STR(json_string_value(json_object_get(o, "userId")), "demo");
    CHECK_STR(json_string_value(json_object_get(o, "status")), "processing");
    CHECK_INT(json_array_size(json_object_get(o, "items")), 2);
    CHECK(json_is_real(json_object_get(o, "total")) &&
          json_real_value(json_object_get(o, "total")) == 38.99);
    CHECK_STR(json_string_value(json_object_get(json_object_get(o, "shipping"), "eta")),
              "2026-12-02");
    CHECK(json_is_null(json_object_get(json_object_get(o, "shipping"), "carrier")));
    CHECK_INT(json_integer_value(json_object_get(
                  json_array_get(json_object_get(o, "items"), 0), "quantity")),
              2);
    json_decref(o);
    o = NULL;
    CHECK(store_order_get(st, "1044", &o, &e) == 0);
    CHECK(json_is_real(json_object_get(o, "total")) &&
          json_real_value(json_object_get(o, "total")) == 129.0);
    json_decref(o);
    o = NULL;
    CHECK(store_order_get(st, "9999", &o, &e) < 0);
    CHECK_STR(e.code, "NotFound");
    CHECK(strstr(e.message, "9999") != NULL);
}

/* For check_wait: the wall clock is past every session's lastActivity. */
static int clock_past_last_activity(void *ud)
{
    (void)ud;
    json_t *list = NULL;
    struct err e;
    if (store_sessions_list(st, NULL, 1000, &list, &e) < 0)
        return 0;
    long long newest = 0;
    size_t i;
    json_t *s;
    json_array_foreach(list, i, s) {
        long long at = json_integer_value(json_object_get(s, "lastActivity"));
        if (at > newest)
            newest = at;
    }
    json_decref(list);
    return clock_now_ms() > newest;
}

static void test_status_and_list(void)
{
    struct err e;
    int turn = 0;
    const char *s4 = sid("s4");
    /* Sort keys run ahead of the clock when several turns share a millisecond: wait until the
     * clock has passed the most recent activity recorded so far. */
    CHECK(check_wait(clock_past_last_activity, NULL, 5000));
    CHECK(save(s4, 1, 1, &turn, &e) == 0);
    CHECK(store_session_set_status(st, s4, "handoff", "customer asked", &e) == 0);
    json_t *s = NULL;
    CHECK(store_session_get(st, s4, &s, &e) == 0);
    CHECK_STR(json_string_value(json_object_get(s, "status")), "handoff");
    CHECK_STR(json_string_value(json_object_get(json_object_get(s, "metadata"), "statusReason")),
              "customer asked");
    json_decref(s);
    CHECK(store_session_set_status(st, sid("ghost"), "closed", "x", &e) < 0);
    CHECK_STR(e.code, "NotFound");
    json_t *list = NULL;
    CHECK(store_sessions_list(st, "handoff", 100, &list, &e) == 0);
    int found = 0;
    size_t i;
    json_t *row;
    json_array_foreach(list, i, row) {
        CHECK_STR(json_string_value(json_object_get(row, "status")), "handoff");
        found += strcmp(json_string_value(json_object_get(row, "sessionId")), s4) == 0;
    }
    CHECK_INT(found, 1);
    json_decref(list);
    /* Most recently active first: s4 was written last. */
    list = NULL;
    CHECK(store_sessions_list(st, NULL, 2, &list, &e) == 0);
    CHECK_INT(json_array_size(list), 2);
    CHECK_STR(json_string_value(json_object_get(json_array_get(list, 0), "sessionId")), s4);
    CHECK(json_integer_value(json_object_get(json_array_get(list, 0), "lastActivity")) >=
          json_integer_value(json_object_get(json_array_get(list, 1), "lastActivity")));
    json_decref(list);
}

static void test_actions(void)
{
    struct err e;
    char id[64];
    snprintf(id, sizeof id, "%s-act-1", prefix);
    json_t *a = json_pack("{s:s, s:s, s:s, s:s, s:{s:s}, s:s}", "id", id, "sessionId", sid("s1"),
                          "userId", "u-1", "tool", "create_support_ticket", "input", "title",
                          "x", "status", "pending");
    CHECK(store_action_put(st, a, &e) == 0);
    json_t *g = NULL;
    CHECK(store_action_get(st, id, &g, &e) == 0);
    CHECK_STR(json_string_value(json_object_get(g, "status")), "pending");
    CHECK(json_is_null(json_object_get(g, "result")));
    CHECK_STR(json_string_value(json_object_get(json_object_get(g, "input"), "title")), "x");
    CHECK(json_integer_value(json_object_get(g, "updatedAt")) > 0);
    json_decref(g);
    json_object_set_new(a, "status", json_string("succeeded"));
    json_object_set_new(a, "result", json_pack("{s:s}", "ticketId", "TKT-000001"));
    CHECK(store_action_put(st, a, &e) == 0);
    g = NULL;
    CHECK(store_action_get(st, id, &g, &e) == 0);
    CHECK_STR(json_string_value(json_object_get(g, "status")), "succeeded");
    CHECK_STR(json_string_value(json_object_get(json_object_get(g, "result"), "ticketId")),
              "TKT-000001");
    CHECK_STR(json_string_value(json_object_get(g, "tool")), "create_support_ticket");
    json_decref(g);
    json_decref(a);
    g = NULL;
    CHECK(store_action_get(st, "no-such-action", &g, &e) < 0);
    CHECK_STR(e.code, "NotFound");
}

static void test_turn_status(void)
{
    struct err e;
    int turn = 0;
    const char *s5 = sid("s5");
    CHECK(save(s5, 1, 1, &turn, &e) == 0);
    json_t *t = json_pack("{s:s, s:s, s:b, s:[], s:{}, s:{s:s}, s:s}", "sessionId", s5, "userId",
                          "u-1", "isNew", 0, "messages", "context", "metadata", "via", "t",
                          "status", "handoff");
    CHECK(store_turn_save(st, t, &turn, &e) == 0);
    CHECK_INT(turn, 2);
    json_decref(t);
    json_t *g = NULL;
    CHECK(store_session_get(st, s5, &g, &e) == 0);
    CHECK_STR(json_string_value(json_object_get(g, "status")), "handoff");
    CHECK(json_object_get(json_object_get(g, "metadata"), "statusReason") != NULL);
    json_decref(g);
    /* An empty status leaves it as it is. */
    CHECK(save(s5, 0, 3, &turn, &e) == 0);
    g = NULL;
    CHECK(store_session_get(st, s5, &g, &e) == 0);
    CHECK_STR(json_string_value(json_object_get(g, "status")), "handoff");
    json_decref(g);
}

static void test_all_tickets(void)
{
    struct err e;
    json_t *list = NULL;
    CHECK(store_tickets_list(st, NULL, 3, &list, &e) == 0);
    CHECK_INT(json_array_size(list), 3);
    long long prev = -1;
    size_t i;
    json_t *t;
    json_array_foreach(list, i, t) {
        long long n = atoll(json_string_value(json_object_get(t, "id")) + 4);
        CHECK(prev < 0 || n < prev); /* newest first, across users */
        prev = n;
    }
    json_decref(list);
}

static void test_idempotency_keys(void)
{
    struct err e;
    char key[64];
    snprintf(key, sizeof key, "%s-idem-1", prefix);
    json_t *resp = NULL;
    CHECK_INT(store_idem_begin(st, key, "hash-a", &resp, &e), 0);
    CHECK_INT(store_idem_begin(st, key, "hash-a", &resp, &e), -1);
    CHECK_STR(e.code, "Conflict");
    CHECK_INT(store_idem_begin(st, key, "hash-b", &resp, &e), -1);
    CHECK_STR(e.code, "IdempotencyMismatch");
    json_t *answer = json_pack("{s:s, s:i}", "reply", "done", "turn", 1);
    CHECK_INT(store_idem_finish(st, key, answer, &e), 0);
    CHECK_INT(store_idem_begin(st, key, "hash-a", &resp, &e), 1);
    CHECK(json_equal(resp, answer));
    json_decref(resp);
    json_decref(answer);
    /* Aborting a finished key keeps it; aborting a running one frees it for a retry. */
    CHECK_INT(store_idem_abort(st, key, &e), 0);
    resp = NULL;
    CHECK_INT(store_idem_begin(st, key, "hash-a", &resp, &e), 1);
    json_decref(resp);
    snprintf(key, sizeof key, "%s-idem-2", prefix);
    CHECK_INT(store_idem_begin(st, key, "h", &resp, &e), 0);
    CHECK_INT(store_idem_abort(st, key, &e), 0);
    CHECK_INT(store_idem_begin(st, key, "h", &resp, &e), 0);
}

static int gone_if_dead(const char *owner, void *ctx)
{
    (void)ctx;
    return strcmp(owner, "dead-process") == 0;
}

/* idem_claim: a key records its owner and lease; a retry takes over a key whose owner is gone or
 * whose lease ended (once: the next retry finds it running again), and an expired key is new. */
static void test_idempotency_recovery(void)
{
    struct err e;
    char key[64];
    json_t *resp = NULL;
    int taken = -1;
    long long now = 1700000000000LL;
    struct store_idem_claim c = {.hash = "h", .owner = "dead-process", .now_ms = now,
                                 .lease_until_ms = now + 60000, .expires_ms = now + 3600000,
                                 .owner_gone = gone_if_dead};
    /* Owner gone: taken over at once, well inside its lease. */
    snprintf(key, sizeof key, "%s-rec-1", prefix);
    c.key = key;
    CHECK_INT(store_idem_claim(st, &c, &resp, &taken, &e), 0);
    CHECK_INT(taken, 0);
    c.owner = "live-process";
    c.now_ms = now + 1000;
    c.lease_until_ms = now + 61000;
    CHECK_INT(store_idem_claim(st, &c, &resp, &taken, &e), 0);
    CHECK_INT(taken, 1);
    /* The new owner is alive and within its lease: the next retry waits. */
    c.owner = "third-process";
    c.now_ms = now + 2000;
    CHECK_INT(store_idem_claim(st, &c, &resp, &taken, &e), -1);
    CHECK_STR(e.code, "Conflict");
    /* A different body is still refused, running or not. */
    c.hash = "other";
    CHECK_INT(store_idem_claim(st, &c, &resp, &taken, &e), -1);
    CHECK_STR(e.code, "IdempotencyMismatch");
    c.hash = "h";
    /* Lease ended: taken over, and the takeover's owner finishes it. */
    c.now_ms = now + 61000;
    c.lease_until_ms = now + 121000;
    CHECK_INT(store_idem_claim(st, &c, &resp, &taken, &e), 0);
    CHECK_INT(taken, 1);
    json_t *answer = json_pack("{s:s}", "reply", "TKT-000001");
    CHECK_INT(store_idem_finish(st, key, answer, &e), 0);
    /* A finished key replays even for a gone owner, until it expires. */
    c.owner = "dead-process";
    c.now_ms = now + 3599000;
    CHECK_INT(store_idem_claim(st, &c, &resp, &taken, &e), 1);
    CHECK(json_equal(resp, answer));
    json_decref(resp);
    resp = NULL;
    /* Expired: the key is new again (any body). */
    c.hash = "new-body";
    c.owner = "live-process";
    c.now_ms = now + 3600000;
    c.lease_until_ms = c.now_ms + 60000;
    c.expires_ms = c.now_ms + 3600000;
    CHECK_INT(store_idem_claim(st, &c, &resp, &taken, &e), 0);
    CHECK_INT(taken, 0);
    CHECK(resp == NULL);
    json_decref(answer);
    /* A key claimed by idem_begin (no owner) is not taken over before its lease. */
    snprintf(key, sizeof key, "%s-rec-2", prefix);
    CHECK_INT(store_idem_begin(st, key, "h", &resp, &e), 0);
    c.key = key;
    c.hash = "h";
    c.now_ms = clock_now_ms();
    CHECK_INT(store_idem_claim(st, &c, &resp, &taken, &e), -1);
    CHECK_STR(e.code, "Conflict");
}

/* turn_save with "idempotency": the key is done with the turn (its response's "turn" filled in),
 * and a save that fails leaves the key running, so no crash or failure splits the two. */
static void test_turn_finishes_key(void)
{
    struct err e;
    char key[64], key2[64];
    json_t *resp = NULL;
    int taken = -1, turn_no = 0;
    long long now = clock_now_ms();
    snprintf(key, sizeof key, "%s-tk-1", prefix);
    struct store_idem_claim c = {.key = key, .hash = "h", .owner = "live-process", .now_ms = now,
                                 .lease_until_ms = now + 60000, .expires_ms = now + 3600000,
                                 .owner_gone = gone_if_dead};
    CHECK_INT(store_idem_claim(st, &c, &resp, &taken, &e), 0);
    const char *id = sid("tk");
    json_t *turn = json_pack("{s:s, s:s, s:b, s:[o], s:{s:s, s:{s:s, s:s}}}", "sessionId", id,
                             "userId", "u-1", "isNew", 1, "messages", msg("user", "hi", 1),
                             "idempotency", "key", key, "response", "sessionId", id, "reply",
                             "card 4111 1111 1111 1111 noted");
    CHECK_INT(store_turn_save(st, turn, &turn_no, &e), 0);
    CHECK_INT(turn_no, 1);
    /* Replayed at once, with the turn number, as a finished key (and no card number at rest). */
    c.owner = "third-process";
    CHECK_INT(store_idem_claim(st, &c, &resp, &taken, &e), 1);
    CHECK_INT(json_integer_value(json_object_get(resp, "turn")), 1);
    CHECK_STR(json_string_value(json_object_get(resp, "sessionId")), id);
    CHECK(strstr(json_string_value(json_object_get(resp, "reply")), "4111 1111") == NULL);
    json_decref(resp);
    resp = NULL;
    /* A save that fails (the session exists: Conflict) leaves its key running. */
    snprintf(key2, sizeof key2, "%s-tk-2", prefix);
    c.key = key2;
    c.owner = "live-process";
    CHECK_INT(store_idem_claim(st, &c, &resp, &taken, &e), 0);
    json_object_set_new(json_object_get(turn, "idempotency"), "key", json_string(key2));
    CHECK_INT(store_turn_save(st, turn, &turn_no, &e), -1);
    CHECK_STR(e.code, "Conflict");
    c.owner = "third-process";
    CHECK_INT(store_idem_claim(st, &c, &resp, &taken, &e), -1);
    CHECK_STR(e.code, "Conflict"); /* still running under its live owner, not done */
    CHECK(resp == NULL);
    json_decref(turn);
}

/* session_erase: the session, its turns and actions are gone and its tickets keep only their
 * number and status, on both adapters. */
static void test_session_erase(void)
{
    struct err e;
    char sid[64], tkey[80];
    snprintf(sid, sizeof sid, "%s-erase", prefix);
    json_t *turn = json_pack("{s:s, s:s, s:b, s:[{s:s, s:s}], s:{}}", "sessionId", sid, "userId",
                             "erin", "isNew", 1, "messages", "role", "user", "content",
                             "mail me at erin@example.com", "context");
    int n = 0;
    CHECK_INT(store_turn_save(st, turn, &n, &e), 0);
    json_decref(turn);
    snprintf(tkey, sizeof tkey, "%s:call_1", sid);
    json_t *f = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "sessionId", sid, "userId",
                          "erin", "title", "Erin cannot log in", "description",
                          "erin@example.com locked out", "priority", "high", "email",
                          "erin@example.com", "idempotencyKey", tkey);
    json_t *ticket = NULL;
    CHECK_INT(store_ticket_create(st, f, &ticket, &e), 0);
    json_decref(f);
    char tid[32] = "";
    snprintf(tid, sizeof tid, "%s", json_string_value(json_object_get(ticket, "id")));
    json_decref(ticket);
    int rc = store_session_erase(st, sid, &e);
    CHECK_INT(rc, 0);
    int erased = -1;
    CHECK_INT(store_session_erased(st, sid, &erased, &e), 0);
    CHECK_INT(erased, 1); /* the tombstone */
    CHECK_INT(store_session_erased(st, tkey, &erased, &e), 0);
    CHECK_INT(erased, 0);
    json_t *out = NULL;
    CHECK_INT(store_session_get(st, sid, &out, &e), -1);
    CHECK_STR(e.code, "NotFound");
    CHECK_INT(store_transcript(st, sid, &out, &e), 0);
    CHECK_INT(json_array_size(out), 0);
    json_decref(out);
    out = NULL;
    CHECK_INT(store_ticket_get(st, tid, &out, &e), 0);
    CHECK_STR(json_string_value(json_object_get(out, "id")), tid);
    CHECK_STR(json_string_value(json_object_get(out, "status")), "open");
    char *text = json_dumps(out, JSON_COMPACT);
    CHECK(text && strstr(text, "erin") == NULL);
    CHECK(text && strstr(text, sid) == NULL); /* nor the session it came from */
    free(text);
    json_decref(out);
    CHECK_INT(store_session_erase(st, sid, &e), -1);
    CHECK_STR(e.code, "NotFound");
}

#define CONC_THREADS 4
#define CONC_TURNS 6

static char conc_id[64]; /* the session the threads share, set before they start */

static void *conc_main(void *arg)
{
    int *failures = arg;
    int saved = 0;
    for (int attempt = 0; saved < CONC_TURNS && attempt < 10 * CONC_TURNS; attempt++) {
        struct err e;
        int turn = 0;
        int rc = save(conc_id, 0, 100 + saved, &turn, &e);
        /* A lost race may surface as StoreBusy after the adapter's own retries; nothing else. */
        if (rc == 0)
            saved++;
        else if (strcmp(e.code, "StoreBusy") != 0)
            (*failures)++;
    }
    if (saved < CONC_TURNS)
        (*failures)++;
    return NULL;
}

static void test_concurrent_turns(void)
{
    struct err e;
    int turn = 0;
    snprintf(conc_id, sizeof conc_id, "%s", sid("conc"));
    CHECK(save(conc_id, 1, 1, &turn, &e) == 0);
    pthread_t th[CONC_THREADS];
    int failures[CONC_THREADS] = {0};
    for (int i = 0; i < CONC_THREADS; i++)
        pthread_create(&th[i], NULL, conc_main, &failures[i]);
    for (int i = 0; i < CONC_THREADS; i++) {
        pthread_join(th[i], NULL);
        CHECK_INT(failures[i], 0);
    }
    json_t *g = NULL;
    CHECK(store_session_get(st, conc_id, &g, &e) == 0);
    CHECK_INT(json_integer_value(json_object_get(g, "turns")), 1 + CONC_THREADS * CONC_TURNS);
    json_decref(g);
    json_t *all = NULL;
    CHECK(store_transcript(st, conc_id, &all, &e) == 0);
    CHECK_INT(json_array_size(all), 2 * (1 + CONC_THREADS * CONC_TURNS));
    json_decref(all);
}

/* Counters: adds accumulate and report the new value, groups keep names apart, expired counters
 * read as absent, bad names are refused, and concurrent adds all count. */
#define CTR_THREADS 4
#define CTR_ADDS 25

static char ctr_group[96]; /* the group the threads share, set before they start */

static void *ctr_main(void *arg)
{
    int *failures = arg;
    for (int i = 0; i < CTR_ADDS; i++) {
        struct err e;
        long long v = 0;
        if (store_counter_add(st, ctr_group, "shared", 2, 0, &v, &e) < 0 || v < 2)
            (*failures)++;
    }
    return NULL;
}

static void test_counters(void)
{
    struct err e;
    long long v = -1;
    char g1[96], g2[96];
    snprintf(g1, sizeof g1, "%s-budget", prefix);
    snprintf(g2, sizeof g2, "%s-other", prefix);
    long long later = clock_now_ms() + 3600 * 1000;
    CHECK(store_counter_get(st, g1, "s-1", &v, &e) == 0);
    CHECK_INT(v, 0);
    CHECK(store_counter_add(st, g1, "s-1", 120, later, &v, &e) == 0);
    CHECK_INT(v, 120);
    CHECK(store_counter_add(st, g1, "s-1", 30, later, &v, &e) == 0);
    CHECK_INT(v, 150);
    CHECK(store_counter_add(st, g1, "server", 7, 0, &v, &e) == 0);
    CHECK_INT(v, 7);
    CHECK(store_counter_add(st, g2, "s-1", 1, later, &v, &e) == 0);
    CHECK_INT(v, 1);
    CHECK(store_counter_get(st, g1, "s-1", &v, &e) == 0);
    CHECK_INT(v, 150);
    /* Expired in the past: reads as absent, and is not listed. */
    CHECK(store_counter_add(st, g1, "gone", 5, clock_now_ms() - 3600 * 1000, &v, &e) == 0);
    CHECK(store_counter_get(st, g1, "gone", &v, &e) == 0);
    CHECK_INT(v, 0);
    json_t *all = NULL;
    CHECK(store_counters_list(st, g1, &all, &e) == 0);
    CHECK_INT(json_object_size(all), 2);
    CHECK_INT(json_integer_value(json_object_get(all, "s-1")), 150);
    CHECK_INT(json_integer_value(json_object_get(all, "server")), 7);
    CHECK(json_object_get(all, "gone") == NULL);
    json_decref(all);
    CHECK(store_counters_list(st, "no-such-group-ever", &all, &e) == 0);
    CHECK_INT(json_object_size(all), 0);
    json_decref(all);
    CHECK(store_counter_add(st, g1, "", 1, 0, &v, &e) == -1);
    CHECK_STR(e.code, "InvalidRequest");
    CHECK(strstr(e.message, "name") != NULL);
    char *long_name = xcalloc(1, STORE_COUNTER_NAME_MAX + 2);
    memset(long_name, 'x', STORE_COUNTER_NAME_MAX + 1);
    CHECK(store_counter_get(st, long_name, "n", &v, &e) == -1);
    CHECK_STR(e.code, "InvalidRequest");
    CHECK(strstr(e.message, "group") != NULL);
    free(long_name);

    snprintf(ctr_group, sizeof ctr_group, "%s-conc", prefix);
    pthread_t th[CTR_THREADS];
    int failures[CTR_THREADS] = {0};
    for (int i = 0; i < CTR_THREADS; i++)
        pthread_create(&th[i], NULL, ctr_main, &failures[i]);
    for (int i = 0; i < CTR_THREADS; i++) {
        pthread_join(th[i], NULL);
        CHECK_INT(failures[i], 0);
    }
    CHECK(store_counter_get(st, ctr_group, "shared", &v, &e) == 0);
    CHECK_INT(v, 2 * CTR_THREADS * CTR_ADDS);
}

/* A turn's counters (store.h turn_save "counters"): added with the turn and reported, never
 * added by a save that fails (the turn is not saved either), and checked before anything is
 * written. */
static json_t *counted_turn(const char *id, int is_new, const char *group, long long delta)
{
    long long later = clock_now_ms() + 3600 * 1000;
    return json_pack("{s:s, s:s, s:b, s:[o], s:[{s:s, s:s, s:I, s:I}, {s:s, s:s, s:I, s:I}]}",
                     "sessionId", id, "userId", "u-1", "isNew", is_new, "messages",
                     msg("user", "hi", 1), "counters", "group", group, "name", "server", "delta",
                     (json_int_t)delta, "expiresAt", (json_int_t)later, "group", group, "name", id,
                     "delta", (json_int_t)delta, "expiresAt", (json_int_t)later);
}

static void test_turn_counters(void)
{
    struct err e;
    char g[96];
    snprintf(g, sizeof g, "%s-turn-budget", prefix);
    const char *id = sid("counted");
    long long counted[2] = {-2, -2}, v = 0;
    int turn = 0;
    json_t *t = counted_turn(id, 1, g, 25);
    CHECK_INT(store_turn_save_counted(st, t, &turn, counted, &e), 0);
    json_decref(t);
    CHECK_INT(turn, 1);
    /* SQLite reports the values after the add; DynamoDB's transaction answers none (-1). */
    CHECK(counted[0] == 25 || counted[0] == -1);
    CHECK(counted[1] == 25 || counted[1] == -1);
    CHECK(store_counter_get(st, g, "server", &v, &e) == 0);
    CHECK_INT(v, 25);
    CHECK(store_counter_get(st, g, id, &v, &e) == 0);
    CHECK_INT(v, 25);
    t = counted_turn(id, 0, g, 10);
    CHECK_INT(store_turn_save_counted(st, t, &turn, counted, &e), 0);
    json_decref(t);
    CHECK_INT(turn, 2);
    CHECK(counted[0] == 35 || counted[0] == -1);
    CHECK(store_counter_get(st, g, "server", &v, &e) == 0);
    CHECK_INT(v, 35);

    /* Failed saves add nothing: a new session that exists, a continuing one that does not. */
    t = counted_turn(id, 1, g, 1000);
    CHECK_INT(store_turn_save_counted(st, t, &turn, NULL, &e), -1);
    CHECK_STR(e.code, "Conflict");
    json_decref(t);
    t = counted_turn(sid("counted-none"), 0, g, 1000);
    CHECK_INT(store_turn_save_counted(st, t, &turn, NULL, &e), -1);
    CHECK_STR(e.code, "NotFound");
    json_decref(t);
    CHECK(store_counter_get(st, g, "server", &v, &e) == 0);
    CHECK_INT(v, 35);
    CHECK(store_counter_get(st, g, id, &v, &e) == 0);
    CHECK_INT(v, 35);

    /* A malformed counter is refused before the turn is written. */
    t = counted_turn(id, 0, g, 5);
    json_object_set_new(json_array_get(json_object_get(t, "counters"), 1), "name", json_string(""));
    CHECK_INT(store_turn_save(st, t, &turn, &e), -1);
    CHECK_STR(e.code, "InvalidRequest");
    json_decref(t);
    json_t *hdr = NULL;
    CHECK(store_session_get(st, id, &hdr, &e) == 0);
    CHECK_INT(json_integer_value(json_object_get(hdr, "turns")), 2);
    json_decref(hdr);
    CHECK(store_counter_get(st, g, "server", &v, &e) == 0);
    CHECK_INT(v, 35);
}

/* The audit log: appended entries come back newest first, page by page, each with its cursor. */
static void test_audit_log(void)
{
    struct err e;
    err_clear(&e);
    const char *actions[] = {"message", "release", "erase_session"};
    for (int i = 0; i < 3; i++) {
        json_t *entry = json_pack("{s:s, s:s, s:s, s:s}", "at", "2026-12-05T03:00:00.000Z",
                                  "operator", prefix, "role", "agent", "action", actions[i]);
        CHECK_INT(store_audit_append(st, entry, &e), 0);
        json_decref(entry);
    }
    json_t *page = NULL;
    char *next = NULL;
    CHECK_INT(store_audit_list(st, NULL, 2, &page, &next, &e), 0);
    CHECK_INT((int)json_array_size(page), 2);
    CHECK_STR(json_string_value(json_object_get(json_array_get(page, 0), "action")),
              "erase_session");
    CHECK_STR(json_string_value(json_object_get(json_array_get(page, 1), "action")), "release");
    CHECK_STR(json_string_value(json_object_get(json_array_get(page, 1), "operator")), prefix);
    CHECK(json_string_value(json_object_get(json_array_get(page, 0), "id")) != NULL);
    CHECK(next != NULL);
    json_decref(page);
    page = NULL;
    char *after = NULL;
    CHECK_INT(store_audit_list(st, next ? next : "", 1, &page, &after, &e), 0);
    CHECK_INT((int)json_array_size(page), 1);
    CHECK_STR(json_string_value(json_object_get(json_array_get(page, 0), "action")), "message");
    json_decref(page);
    free(next);
    free(after);
}

static void run_suite(const char *name)
{
    snprintf(prefix, sizeof prefix, "%s%lld", name, (long long)(clock_now_ms() % 100000000));
    printf("# store adapter: %s\n", store_name(st));
    RUN(test_turns_and_window);
    RUN(test_history_since);
    RUN(test_session_errors);
    RUN(test_turns_back_to_back);
    RUN(test_operator_item);
    RUN(test_session_transcript);
    RUN(test_tickets);
    RUN(test_idempotency_and_lists);
    RUN(test_orders);
    RUN(test_actions);
    RUN(test_status_and_list);
    RUN(test_turn_status);
    RUN(test_all_tickets);
    RUN(test_idempotency_keys);
    RUN(test_idempotency_recovery);
    RUN(test_turn_finishes_key);
    RUN(test_session_erase);
    RUN(test_concurrent_turns);
    RUN(test_counters);
    RUN(test_turn_counters);
    RUN(test_audit_log);
}

static void test_dynamo_missing_table(void)
{
    struct aws_config aws;
    struct err e;
    CHECK(aws_config_from_env(&aws, &e) == 0);
    struct store_dynamo_config cfg = {.aws = &aws, .conversations_table = "NoSuchTable"};
    struct store *s = store_dynamo_new(&cfg, &e);
    CHECK(s == NULL);
    CHECK_STR(e.code, "StoreError");
    CHECK(strstr(e.message, "NoSuchTable") != NULL);
    CHECK(strstr(e.message, "ResourceNotFoundException") != NULL);
    aws_config_release(&aws);
}

/* The SQLite part; tests/run.sh counts it when it runs this binary on its own. */
static void run_local(void)
{
    char dir[] = "/tmp/parley-contract-XXXXXX";
    if (!check_require("a temporary directory", mkdtemp(dir) != NULL))
        return;
    char *path = xasprintf("%s/t.db", dir);
    struct err e;
    st = store_sqlite_new(path, 3, &e);
    CHECK(st != NULL);
    if (st)
        run_suite("sq");
    store_free(st);
    free(path);
    char *cmd = xasprintf("rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    free(cmd);
}

int main(void)
{
    xmalloc_init();
    /* With the emulator configured (tests/scripts/test_aws_store.sh) only the AWS adapter
     * part runs, so the SQLite part is not counted twice. */
    const char *ddb = getenv("PARLEY_TEST_DYNAMODB");
    if (!ddb || !*ddb)
        run_local();
    else {
        struct err e;
        setenv("AWS_ENDPOINT_URL_DYNAMODB", ddb, 1);
        setenv("AWS_REGION", "us-east-1", 0);
        setenv("AWS_ACCESS_KEY_ID", "test", 0);
        setenv("AWS_SECRET_ACCESS_KEY", "test", 0);
        setenv("PARLEY_DYNAMO_CREATE", "1", 1);
        st = store_dynamo_from_env(&e);
        if (!st)
            fprintf(stderr, "dynamodb: %s: %s\n", e.code, e.message);
        check_require("dynamodb adapter opens (tables created)", st != NULL);
        if (st)
            run_suite("dy");
        store_free(st);
        RUN(test_dynamo_missing_table);
    }
    return check_summary();
}
