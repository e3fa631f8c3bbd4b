/*
 * test_history.c - the history cache (agent/history.h): a cached window is the store's window,
 * turns saved by another writer are seen, an erased session is never served (erased here: the
 * entry is dropped; erased by another writer: the read finds its newest turn gone and reloads),
 * and the LRU keeps at most the bound.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/history.h"
#include "agent/transcript.h"
#include "base/guard.h"
#include "base/xmalloc.h"
#include "check.h"
#include "sfn/sfn.h"
#include "store/store.h"

static struct store *st, *other; /* two handles on one database: this process and another */

static int save_kept(struct store *s, const char *id, int is_new, int k, json_t **messages);

/* Saves one turn of session id through s: a question, a tool call and its result, an answer. */
static int save(struct store *s, const char *id, int is_new, int k)
{
    return save_kept(s, id, is_new, k, NULL);
}

/* save, and *messages (when not NULL) gets the saved messages array (new reference). */
static int save_kept(struct store *s, const char *id, int is_new, int k, json_t **messages)
{
    char q[64], a[64], r[64];
    snprintf(q, sizeof q, "question %d \"quoted\"\n", k);
    snprintf(a, sizeof a, "answer %d", k);
    snprintf(r, sizeof r, "result %d", k);
    json_t *turn = json_pack("{s:s, s:s, s:b, s:[{s:s, s:s}, {s:s, s:[{s:s, s:s, s:s, s:{}}]},"
                             " {s:s, s:[{s:s, s:s, s:s}]}, {s:s, s:[{s:s, s:s}]}], s:{}, s:{}}",
                             "sessionId", id, "userId", "u-1", "isNew", is_new, "messages", "role",
                             "user", "content", q, "role", "assistant", "content", "type",
                             "tool_use", "id", "t1", "name", "kb", "input", "role", "user",
                             "content", "type", "tool_result", "tool_use_id", "t1", "content", r,
                             "role", "assistant", "content", "type", "text", "text", a, "context",
                             "metadata");
    struct err e;
    int no = 0;
    int rc = store_turn_save(s, turn, &no, &e);
    if (messages)
        *messages = json_incref(json_object_get(turn, "messages"));
    json_decref(turn);
    return rc;
}

/* Loads id's window of max_turns through c and checks it against the store's own window and
 * estimates; returns its message count (or -1 when the load failed). */
static int load_same(struct history_cache *c, const char *id, int max_turns, size_t bound)
{
    struct history_window w;
    struct err e;
    if (history_window_load(c, st, id, max_turns, bound, &w, &e) < 0)
        return -1;
    json_t *want = NULL;
    CHECK(store_history_recent(st, id, max_turns, &want, &e) == 0);
    CHECK(json_equal(w.messages, want));
    CHECK_INT(w.n, json_array_size(want));
    CHECK_INT(json_array_size(w.api), w.n);
    for (size_t i = 0; i < w.n && i < json_array_size(want); i++) {
        CHECK_INT(w.tokens[i], history_message_tokens(json_array_get(want, i)));
        CHECK_INT(w.bytes[i], sfn_json_size(json_array_get(want, i)));
        /* each message's request form, its content shared with the message's */
        json_t *f = history_api_message(json_array_get(want, i));
        const json_t *got = json_array_get(w.api, i);
        CHECK(f ? json_equal(got, f) : json_is_null(got));
        const json_t *m = json_array_get(w.messages, i);
        if (strcmp(json_string_value(json_object_get(m, "role")), "operator") != 0)
            CHECK(json_object_get(got, "content") == json_object_get(m, "content"));
        json_decref(f);
    }
    /* the window's size as the payload check would measure it (LoadContext notes it) */
    char *text = json_dumps(w.messages, JSON_COMPACT);
    CHECK_INT(history_window_json_size(&w), strlen(text));
    free(text);
    json_decref(want);
    int n = (int)w.n;
    history_window_release(&w);
    return n;
}

static void test_window_and_hits(void)
{
    struct history_cache *c = history_cache_new();
    struct history_stats s;
    CHECK(save(st, "h-a", 1, 1) == 0);
    CHECK_INT(load_same(c, "h-a", 3, 8), 4);
    for (int k = 2; k <= 5; k++) {
        CHECK(save(st, "h-a", 0, k) == 0);
        CHECK_INT(load_same(c, "h-a", 3, 8), 4 * (k < 3 ? k : 3));
    }
    history_cache_stats(c, &s);
    CHECK_INT(s.misses, 1);
    CHECK_INT(s.hits, 4);
    CHECK_INT(s.sessions, 1);
    /* An operator's item (noTurn) is an item of the window like a turn. */
    json_t *op = json_pack("{s:s, s:s, s:b, s:b, s:[{s:s, s:s}], s:{}, s:{}}", "sessionId", "h-a",
                           "userId", "u-1", "isNew", 0, "noTurn", 1, "messages", "role", "operator",
                           "content", "a human here", "context", "metadata");
    struct err e;
    int no = 0;
    CHECK(store_turn_save(st, op, &no, &e) == 0);
    json_decref(op);
    CHECK_INT(load_same(c, "h-a", 3, 8), 9);
    /* Another window size is another read. */
    CHECK_INT(load_same(c, "h-a", 10, 8), 21);
    history_cache_stats(c, &s);
    CHECK_INT(s.misses, 2);
    /* A one-turn window is read through the cache too: the newest turn it holds comes back
     * with the one saved since. */
    CHECK(save(st, "h-one", 1, 1) == 0);
    CHECK_INT(load_same(c, "h-one", 1, 8), 4);
    history_cache_stats(c, &s);
    unsigned long hits = s.hits;
    for (int k = 2; k <= 4; k++) {
        CHECK(save(st, "h-one", 0, k) == 0);
        CHECK_INT(load_same(c, "h-one", 1, 8), 4);
    }
    history_cache_stats(c, &s);
    CHECK_INT(s.hits, hits + 3);
    CHECK_INT(s.misses, 3);
    /* An unknown session: an empty window, nothing kept. */
    CHECK_INT(load_same(c, "h-none", 3, 8), 0);
    history_cache_stats(c, &s);
    CHECK_INT(s.sessions, 2);
    history_cache_free(c);
}

/* The token estimate: a quarter of the content's compact JSON text (as json_dumps writes it:
 * escapes, UTF-8, reals, nested blocks), plus 4; 4 without a content. */
static void test_message_tokens(void)
{
    json_t *contents = json_pack(
        "[s, s, s, [{s:s, s:s}, {s:s, s:s, s:s, s:{s:f, s:I, s:b, s:n}}], {}, [], i]", "",
        "plain words", "quote \" backslash \\ tab\t nl\n \x01 caf\xc3\xa9 \xe2\x80\xa8 end",
        "type", "text", "text", "hello", "type", "tool_use", "id", "t1", "name", "kb", "input",
        "score", 8.74, "n", (json_int_t)-12345678901LL, "ok", 1, "none", 42);
    size_t i;
    json_t *c;
    json_array_foreach(contents, i, c) {
        json_t *m = json_pack("{s:s, s:O}", "role", "user", "content", c);
        char *text = json_dumps(c, JSON_COMPACT | JSON_ENCODE_ANY);
        CHECK_INT(history_message_tokens(m), strlen(text) / 4 + 4);
        free(text);
        json_decref(m);
    }
    json_decref(contents);
    json_t *m = json_pack("{s:s}", "role", "user");
    CHECK_INT(history_message_tokens(m), 4);
    json_decref(m);
}

/* A transcript through the cache is the store's: every message of a session longer than the
 * window, an operator's item among them, the window's turns shared with the cache, the older ones
 * read from the store; the archive's document likewise. */
static void test_transcript(void)
{
    struct history_cache *c = history_cache_new();
    struct history_window w;
    struct err e;
    for (int k = 1; k <= 5; k++)
        CHECK(save(st, "h-t", k == 1, k) == 0);
    json_t *op = json_pack("{s:s, s:s, s:b, s:b, s:[{s:s, s:s}], s:{}, s:{}}", "sessionId", "h-t",
                           "userId", "u-1", "isNew", 0, "noTurn", 1, "messages", "role", "operator",
                           "content", "a human here", "context", "metadata");
    int no = 0;
    CHECK(store_turn_save(st, op, &no, &e) == 0);
    json_decref(op);
    CHECK(save(st, "h-t", 0, 6) == 0);
    CHECK(!history_cache_holds(c, "h-t"));
    CHECK(history_window_load(c, st, "h-t", 2, 8, &w, &e) == 0); /* the operator's item, turn 6 */
    CHECK(history_cache_holds(c, "h-t"));
    json_t *want = NULL, *got = NULL, *plain = NULL;
    CHECK(store_transcript(st, "h-t", &want, &e) == 0);
    CHECK_INT(json_array_size(want), 25);
    CHECK(history_transcript(c, st, "h-t", &got, &e) == 0);
    CHECK(json_equal(got, want));
    /* the held turns' messages are the window's very values */
    CHECK_INT(w.n, 5);
    for (size_t i = 0; i < w.n; i++)
        CHECK(json_array_get(got, 20 + i) == json_array_get(w.messages, i));
    CHECK(history_transcript(NULL, st, "h-t", &plain, &e) == 0);
    CHECK(json_equal(plain, want));
    json_t *doc = transcript_document(st, "h-t", &e);
    json_t *cached = transcript_document_cached(st, c, "h-t", &e);
    CHECK(doc && cached && json_equal(doc, cached));
    json_decref(doc);
    json_decref(cached);
    /* The archive redacts its document in place: that must not reach the cache's values (a
     * tool's input and a result's blocks are containers the messages hold). */
    json_t *pii = json_pack("{s:s, s:s, s:b, s:[{s:s, s:[{s:s, s:s, s:s, s:{s:s}}]},"
                            " {s:s, s:[{s:s, s:s, s:[{s:s, s:s}]}]}], s:{}, s:{}}",
                            "sessionId", "h-t", "userId", "u-1", "isNew", 0, "messages", "role",
                            "assistant", "content", "type", "tool_use", "id", "t9", "name",
                            "create_support_ticket", "input", "email", "jo@example.com", "role",
                            "user", "content", "type", "tool_result", "tool_use_id", "t9",
                            "content", "type", "text", "text", "mail jo@example.com", "context",
                            "metadata");
    CHECK(store_turn_save(st, pii, &no, &e) == 0);
    json_decref(pii);
    history_window_release(&w);
    CHECK(history_window_load(c, st, "h-t", 2, 8, &w, &e) == 0);
    char *before = json_dumps(w.messages, JSON_COMPACT);
    CHECK(strstr(before, "jo@example.com") != NULL);
    cached = transcript_document_cached(st, c, "h-t", &e);
    CHECK(cached && guard_redact_json(cached, GUARD_ALL) >= 2);
    char *archived = json_dumps(cached, JSON_COMPACT);
    CHECK(archived && strstr(archived, "jo@example.com") == NULL);
    char *after = json_dumps(w.messages, JSON_COMPACT);
    CHECK_STR(after, before);
    free(before);
    free(after);
    free(archived);
    json_decref(cached);
    /* an unknown session: the same NotFound */
    err_clear(&e);
    CHECK(transcript_document_cached(st, c, "h-none-here", &e) == NULL);
    CHECK_STR(e.code, "NotFound");
    json_decref(want);
    json_decref(got);
    json_decref(plain);
    history_window_release(&w);
    history_cache_free(c);
}

/* A stored message's request form (history_api_message). */
static void test_api_message(void)
{
    json_t *m = json_pack("{s:s, s:[{s:s, s:s}], s:I}", "role", "assistant", "content", "type",
                          "text", "text", "hi", "timestamp", (json_int_t)5);
    json_t *f = history_api_message(m);
    CHECK_INT(json_object_size(f), 2);
    CHECK_STR(json_string_value(json_object_get(f, "role")), "assistant");
    CHECK(json_object_get(f, "content") == json_object_get(m, "content"));
    json_decref(f);
    json_decref(m);
    m = json_pack("{s:s, s:s, s:s}", "role", "operator", "content", "on it", "name", "Ana");
    f = history_api_message(m);
    CHECK_STR(json_string_value(json_object_get(f, "role")), "assistant");
    CHECK_STR(json_string_value(json_object_get(f, "content")), "[Human support agent] on it");
    CHECK_INT(json_object_size(f), 2);
    json_decref(f);
    json_decref(m);
    m = json_pack("{s:s, s:s}", "role", "system", "content", "x"); /* no place in a request */
    CHECK(history_api_message(m) == NULL);
    json_decref(m);
    m = json_pack("{s:s}", "role", "user"); /* no content */
    CHECK(history_api_message(m) == NULL);
    json_decref(m);
}

/* The cache keeps the forms with the messages: a later read of the session hands out the very
 * values the earlier one did for the turns both hold. */
static void test_api_forms_kept(void)
{
    struct history_cache *c = history_cache_new();
    struct history_window a, b;
    struct err e;
    CHECK(save(st, "h-f", 1, 1) == 0);
    CHECK(history_window_load(c, st, "h-f", 5, 8, &a, &e) == 0);
    CHECK(save(st, "h-f", 0, 2) == 0);
    CHECK(history_window_load(c, st, "h-f", 5, 8, &b, &e) == 0);
    CHECK_INT(a.n, 4);
    CHECK_INT(b.n, 8);
    for (size_t i = 0; i < a.n; i++)
        CHECK(json_array_get(a.api, i) == json_array_get(b.api, i));
    history_window_release(&a);
    history_window_release(&b);
    history_cache_free(c);
}

static void test_other_writer(void)
{
    struct history_cache *c = history_cache_new();
    struct history_stats s;
    CHECK(save(st, "h-b", 1, 1) == 0);
    CHECK_INT(load_same(c, "h-b", 3, 8), 4);
    CHECK(save(other, "h-b", 0, 2) == 0); /* a turn this cache never saw */
    CHECK_INT(load_same(c, "h-b", 3, 8), 8);
    /* More turns than the window while the cache was not looking: the whole window again. */
    for (int k = 3; k <= 7; k++)
        CHECK(save(other, "h-b", 0, k) == 0);
    CHECK_INT(load_same(c, "h-b", 3, 8), 12);
    history_cache_stats(c, &s);
    CHECK_INT(s.reloads, 1);
    /* Erased by another writer (no hook here): the newest turn held is gone, so the cache
     * reloads and serves what the store has, nothing. */
    struct err e;
    CHECK(store_session_erase(other, "h-b", &e) == 0);
    CHECK_INT(load_same(c, "h-b", 3, 8), 0);
    history_cache_stats(c, &s);
    CHECK_INT(s.reloads, 2);
    CHECK_INT(s.sessions, 0);
    history_cache_free(c);
}

/* The store's on_erase as the agent wires it: the session's entry goes. */
static void drop_on_erase(void *ud, const char *session_id)
{
    history_cache_drop(ud, session_id);
}

static void test_erase_drops(void)
{
    struct history_cache *c = history_cache_new();
    struct history_stats s;
    st->on_erase = drop_on_erase;
    st->on_erase_ud = c;
    CHECK(save(st, "h-c", 1, 1) == 0);
    CHECK(save(st, "h-d", 1, 1) == 0);
    CHECK_INT(load_same(c, "h-c", 3, 8), 4);
    CHECK_INT(load_same(c, "h-d", 3, 8), 4);
    struct err e;
    CHECK(store_session_erase(st, "h-c", &e) == 0);
    history_cache_stats(c, &s);
    CHECK_INT(s.drops, 1);
    CHECK_INT(s.sessions, 1); /* h-d stays */
    CHECK_INT(load_same(c, "h-c", 3, 8), 0);
    CHECK_INT(load_same(c, "h-d", 3, 8), 4);
    history_cache_stats(c, &s);
    CHECK_INT(s.hits, 1);
    st->on_erase = NULL;
    st->on_erase_ud = NULL;
    history_cache_free(c);
}

static void test_lru_bound(void)
{
    struct history_cache *c = history_cache_new();
    struct history_stats s;
    char id[16];
    for (int i = 0; i < 5; i++) {
        snprintf(id, sizeof id, "h-l%d", i);
        CHECK(save(st, id, 1, i) == 0);
        CHECK_INT(load_same(c, id, 3, 3), 4);
        if (i == 2)
            CHECK_INT(load_same(c, "h-l0", 3, 3), 4); /* read again: the most recent now */
    }
    history_cache_stats(c, &s);
    CHECK_INT(s.sessions, 3);
    CHECK_INT(s.evictions, 2);
    /* l0 (read again) and l3, l4 stayed; l1 and l2 went. */
    unsigned long hits = s.hits;
    CHECK_INT(load_same(c, "h-l0", 3, 3), 4);
    CHECK_INT(load_same(c, "h-l4", 3, 3), 4);
    history_cache_stats(c, &s);
    CHECK_INT(s.hits, hits + 2);
    CHECK_INT(load_same(c, "h-l1", 3, 3), 4);
    history_cache_stats(c, &s);
    CHECK_INT(s.hits, hits + 2);
    CHECK_INT(s.sessions, 3);
    /* Many sessions: the table grows and the bound still holds. */
    for (int i = 0; i < 200; i++) {
        snprintf(id, sizeof id, "h-m%d", i);
        CHECK(save(st, id, 1, i) == 0);
        CHECK_INT(load_same(c, id, 3, 150), 4);
    }
    history_cache_stats(c, &s);
    CHECK_INT(s.sessions, 150);
    /* Bound 0: the cache is off, the window still right. */
    CHECK_INT(load_same(c, "h-m199", 3, 0), 4);
    history_cache_free(c);
}

/* Threads share one cache with a bound smaller than their sessions, so entries are evicted and
 * refilled under them; each thread saves and reads its own session and must always get the
 * store's window (TSan runs this too: make tsan). */
struct worker {
    struct history_cache *c;
    char id[16];
    int ok;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    w->ok = 1;
    for (int k = 1; k <= 30; k++) {
        if (save(st, w->id, k == 1, k) < 0)
            w->ok = 0;
        struct history_window win;
        struct err e;
        json_t *want = NULL;
        if (history_window_load(w->c, st, w->id, 4, 2, &win, &e) < 0 ||
            store_history_recent(st, w->id, 4, &want, &e) < 0) {
            w->ok = 0;
            break;
        }
        if (!json_equal(win.messages, want) || win.n != json_array_size(want))
            w->ok = 0;
        json_decref(want);
        history_window_release(&win);
    }
    return NULL;
}

static void test_threads(void)
{
    struct history_cache *c = history_cache_new();
    struct worker w[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        w[i].c = c;
        snprintf(w[i].id, sizeof w[i].id, "h-t%d", i);
        CHECK(pthread_create(&th[i], NULL, worker_main, &w[i]) == 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK(w[i].ok);
    }
    struct history_stats s;
    history_cache_stats(c, &s);
    CHECK(s.sessions <= 2);
    CHECK_INT(s.hits + s.misses, 120);
    history_cache_free(c);
}

/* A turn this process saved (history_cache_saved) is read back as the very values it saved, and
 * still as the store has it; saved messages whose text the store does not hold are not taken
 * (the store's are parsed); a session the cache does not hold keeps nothing. */
static void test_saved_turns(void)
{
    struct history_cache *c = history_cache_new();
    struct history_stats s;
    json_t *msgs = NULL;
    CHECK(save(st, "h-s", 1, 1) == 0);
    CHECK_INT(load_same(c, "h-s", 3, 8), 4);
    CHECK(save_kept(st, "h-s", 0, 2, &msgs) == 0);
    history_cache_saved(c, "h-s", msgs);
    CHECK_INT(load_same(c, "h-s", 3, 8), 8);
    struct history_window w;
    struct err e;
    CHECK(history_window_load(c, st, "h-s", 3, 8, &w, &e) == 0);
    for (size_t i = 0; i < 4; i++) /* the saved values themselves */
        CHECK(json_array_get(w.messages, 4 + i) == json_array_get(msgs, i));
    history_window_release(&w);
    json_decref(msgs);

    /* saved messages that are not what the store holds are left aside */
    CHECK(save_kept(st, "h-s", 0, 3, &msgs) == 0);
    json_t *other_msgs = json_deep_copy(msgs);
    char *changed = xstrdup(json_string_value(json_object_get(json_array_get(msgs, 0), "content")));
    changed[0] = 'Q'; /* the same length, another text */
    json_object_set_new(json_array_get(other_msgs, 0), "content", json_string(changed));
    free(changed);
    history_cache_saved(c, "h-s", other_msgs);
    CHECK_INT(load_same(c, "h-s", 3, 8), 12);
    CHECK(history_window_load(c, st, "h-s", 3, 8, &w, &e) == 0);
    CHECK(json_array_get(w.messages, 8) != json_array_get(other_msgs, 0));
    CHECK(json_array_get(w.messages, 8) != json_array_get(msgs, 0));
    history_window_release(&w);
    json_decref(other_msgs);
    json_decref(msgs);

    /* a session not held keeps nothing (and leaks nothing: the sanitizer build) */
    CHECK(save_kept(st, "h-s2", 1, 1, &msgs) == 0);
    history_cache_saved(c, "h-s2", msgs);
    json_decref(msgs);
    history_cache_stats(c, &s);
    CHECK_INT(s.sessions, 1);
    CHECK_INT(s.misses, 1);
    /* erased: the entry goes with what it kept */
    CHECK(save_kept(st, "h-s", 0, 4, &msgs) == 0);
    history_cache_saved(c, "h-s", msgs);
    json_decref(msgs);
    history_cache_drop(c, "h-s");
    history_cache_free(c);
}

int main(void)
{
    xmalloc_init();
    char dir[] = "/tmp/parley-history-XXXXXX";
    if (!check_require("a temporary directory", mkdtemp(dir) != NULL))
        return check_summary();
    char *path = xasprintf("%s/t.db", dir);
    struct err e;
    st = store_sqlite_new(path, 2, &e);
    other = store_sqlite_new(path, 2, &e);
    if (check_require("two store handles", st && other)) {
        RUN(test_window_and_hits);
        RUN(test_message_tokens);
        RUN(test_transcript);
        RUN(test_api_message);
        RUN(test_api_forms_kept);
        RUN(test_other_writer);
        RUN(test_erase_drops);
        RUN(test_lru_bound);
        RUN(test_threads);
        RUN(test_saved_turns);
    }
    store_free(st);
    store_free(other);
    free(path);
    char *cmd = xasprintf("rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    free(cmd);
    return check_summary();
}
