/*
 * history.c - the recent window of a session's conversation, kept parsed between turns in a
 * bounded LRU cache validated against the store on every read. See history.h.
 */
#include "agent/history.h"

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/dlist.h"
#include "base/hash.h"
#include "base/jsonb.h"
#include "base/jsontext.h"
#include "base/xmalloc.h"
#include "sfn/sfn.h"

/* ---------------------------------------------------------------- rows */

/* One stored turn item, parsed: immutable once made, shared by the cache and the readers that
 * hold it (reference-counted). */
struct hrow {
    atomic_int refs;  /* holders */
    long long ts;     /* the item's timestamp (ms; strictly increasing within a session) */
    json_t *messages; /* its messages (one reference) */
    json_t *api;      /* history_api_message() of each (json null for none; one reference) */
    size_t n;         /* json_array_size(messages) */
    size_t *bytes;    /* sfn_json_size() of each message: n after tokens, in the same block */
    size_t tokens[];  /* history_message_tokens() of each message */
};

size_t history_message_tokens(const json_t *m)
{
    const json_t *content = json_object_get(m, "content");
    return content ? sfn_json_size(content) / 4 + 4 : 4; /* measured, not written out */
}

json_t *history_api_message(const json_t *m)
{
    const char *role = json_string_value(json_object_get(m, "role"));
    json_t *content = json_object_get(m, "content");
    if (!role || !content)
        return NULL;
    if (strcmp(role, "operator") == 0 && json_is_string(content)) {
        char *text = xasprintf("[Human support agent] %s", json_string_value(content));
        json_t *out = jsonb_object("role", json_string_nocheck("assistant"), "content",
                                   jsonb_str(text), NULL);
        free(text);
        return out;
    }
    if (strcmp(role, "user") != 0 && strcmp(role, "assistant") != 0)
        return NULL;
    /* built member by member: json_pack would parse its format for each message */
    json_t *out = json_object();
    json_object_set_new_nocheck(out, "role", json_string_nocheck(role));
    json_object_set_nocheck(out, "content", content);
    return out;
}

/* history_api_message() of each of messages, json null for none. New array. */
static json_t *api_forms(const json_t *messages)
{
    json_t *api = json_array();
    size_t i;
    const json_t *m;
    json_array_foreach(messages, i, m) {
        json_t *f = history_api_message(m);
        json_array_append_new(api, f ? f : json_null());
    }
    return api;
}

/* A row of ts holding messages (a reference taken), its estimates counted; one reference. */
static struct hrow *row_new(long long ts, json_t *messages)
{
    size_t n = json_array_size(messages);
    struct hrow *r = xmalloc(sizeof *r + 2 * n * sizeof r->tokens[0]);
    atomic_init(&r->refs, 1);
    r->ts = ts;
    r->messages = json_incref(messages);
    r->api = api_forms(messages);
    r->n = n;
    r->bytes = r->tokens + n;
    for (size_t i = 0; i < n; i++) {
        const json_t *m = json_array_get(messages, i);
        r->tokens[i] = history_message_tokens(m);
        r->bytes[i] = sfn_json_size(m);
    }
    return r;
}

static struct hrow *row_ref(struct hrow *r)
{
    atomic_fetch_add(&r->refs, 1);
    return r;
}

static void row_unref(struct hrow *r)
{
    if (r && atomic_fetch_sub(&r->refs, 1) == 1) {
        json_decref(r->messages);
        json_decref(r->api);
        free(r);
    }
}

/* A run of rows, oldest first, each holding one reference. */
struct rows {
    struct hrow **v;
    size_t n;
};

/* Sets *to to references to from's rows (to holds none before). */
static void rows_copy(struct rows *to, const struct rows *from)
{
    to->v = xmalloc((from->n ? from->n : 1) * sizeof *to->v);
    for (size_t i = 0; i < from->n; i++)
        to->v[i] = row_ref(from->v[i]);
    to->n = from->n;
}

static void rows_release(struct rows *rs)
{
    for (size_t i = 0; i < rs->n; i++)
        row_unref(rs->v[i]);
    free(rs->v);
    rs->v = NULL;
    rs->n = 0;
}

/* ---------------------------------------------------------------- the table */

/* A turn this process saved (history_cache_saved): its messages and the JSON text the store
 * wrote for them. The next read that meets an item of exactly that text takes these messages
 * instead of parsing it, so a session's messages keep one set of values from the turn that made
 * them on (the values later readers measured stay the same ones). */
struct saved {
    json_t *messages; /* a reference, or NULL */
    char *text;       /* jsontext_dump(messages) */
};

static void saved_release(struct saved *sv)
{
    json_decref(sv->messages);
    free(sv->text);
    *sv = (struct saved){NULL, NULL};
}

/* A session's cached window. */
struct hentry {
    char *sid;            /* the session id (own copy) */
    int max_turns;        /* the window it was read for */
    struct rows rows;     /* its items, oldest first; never empty */
    struct saved saved;   /* the messages of a turn saved since, not yet read back */
    struct hentry *chain; /* next in its bucket */
    struct dlist lru;     /* on the cache's LRU list */
};

struct history_cache {
    pthread_mutex_t mu;      /* guards everything below; never held across a store call */
    struct hentry **buckets; /* chained by hash of the session id */
    size_t nbuckets;         /* a power of two */
    struct dlist lru;        /* the entries, the most recently read first */
    struct history_stats st; /* counts; st.sessions is the number of entries */
};

#define HISTORY_BUCKETS_MIN 64
#define HISTORY_ALL (-1LL) /* a since_ms before every stored item (timestamps are epoch ms) */

struct history_cache *history_cache_new(void)
{
    struct history_cache *c = xcalloc(1, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    c->nbuckets = HISTORY_BUCKETS_MIN;
    c->buckets = xcalloc(c->nbuckets, sizeof *c->buckets);
    dlist_init(&c->lru);
    return c;
}

static void entry_free(struct hentry *e)
{
    rows_release(&e->rows);
    saved_release(&e->saved);
    free(e->sid);
    free(e);
}

void history_cache_free(struct history_cache *c)
{
    if (!c)
        return;
    struct dlist *n, *next;
    dlist_foreach_safe(n, next, &c->lru)
        entry_free(dlist_entry(n, struct hentry, lru));
    free(c->buckets);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* The bucket slot holding sid's entry, or the empty slot at its chain's end. Under c->mu. */
static struct hentry **slot_of(struct history_cache *c, const char *sid)
{
    struct hentry **p = &c->buckets[hash_str(sid) & (c->nbuckets - 1)];
    while (*p && strcmp((*p)->sid, sid) != 0)
        p = &(*p)->chain;
    return p;
}

/* Unlinks e from its bucket and the LRU list and frees it. Under c->mu. */
static void entry_remove(struct history_cache *c, struct hentry *e)
{
    struct hentry **p = slot_of(c, e->sid);
    *p = e->chain;
    dlist_unlink(&e->lru);
    entry_free(e);
    c->st.sessions--;
}

/* Doubles the buckets once the entries outnumber them. Under c->mu. */
static void maybe_grow(struct history_cache *c)
{
    if (c->st.sessions <= c->nbuckets)
        return;
    size_t n = c->nbuckets * 2;
    struct hentry **b = xcalloc(n, sizeof *b);
    for (size_t i = 0; i < c->nbuckets; i++) {
        for (struct hentry *e = c->buckets[i], *next; e; e = next) {
            next = e->chain;
            size_t k = hash_str(e->sid) & (n - 1);
            e->chain = b[k];
            b[k] = e;
        }
    }
    free(c->buckets);
    c->buckets = b;
    c->nbuckets = n;
}

void history_cache_drop(struct history_cache *c, const char *session_id)
{
    if (!c || !session_id)
        return;
    pthread_mutex_lock(&c->mu);
    struct hentry *e = *slot_of(c, session_id);
    if (e) {
        entry_remove(c, e);
        c->st.drops++;
    }
    pthread_mutex_unlock(&c->mu);
}

void history_cache_saved(struct history_cache *c, const char *session_id, const json_t *messages)
{
    if (!c || !session_id || !json_is_array(messages))
        return;
    pthread_mutex_lock(&c->mu);
    int held = *slot_of(c, session_id) != NULL;
    pthread_mutex_unlock(&c->mu);
    if (!held) /* a session not held is read whole next time anyway */
        return;
    struct saved sv = {json_incref((json_t *)messages), jsontext_dump(messages)};
    pthread_mutex_lock(&c->mu);
    struct hentry *e = *slot_of(c, session_id);
    if (e) {
        struct saved old = e->saved;
        e->saved = sv;
        sv = old;
    }
    pthread_mutex_unlock(&c->mu);
    saved_release(&sv);
}

void history_cache_stats(struct history_cache *c, struct history_stats *st)
{
    pthread_mutex_lock(&c->mu);
    *st = c->st;
    pthread_mutex_unlock(&c->mu);
}

/* Copies sid's entry's rows (references taken) into *out when it was read for max_turns, moves
 * its saved turn (if any) to *saved, and marks it most recently read. Returns 1 when found,
 * else 0. */
static int cache_get(struct history_cache *c, const char *sid, int max_turns, struct rows *out,
                     struct saved *saved)
{
    int found = 0;
    pthread_mutex_lock(&c->mu);
    struct hentry *e = *slot_of(c, sid);
    if (e && e->max_turns == max_turns) {
        rows_copy(out, &e->rows);
        *saved = e->saved;
        e->saved = (struct saved){NULL, NULL};
        dlist_move_head(&c->lru, &e->lru);
        found = 1;
    }
    pthread_mutex_unlock(&c->mu);
    return found;
}

/* Stores rows (references taken) as sid's entry, the most recently read, and evicts the least
 * recently read entries beyond max_sessions; no rows (the session is gone) removes the entry.
 * Counts the read as a hit or a miss. */
static void cache_put(struct history_cache *c, const char *sid, int max_turns,
                      const struct rows *rows, int hit, int reload, size_t max_sessions)
{
    pthread_mutex_lock(&c->mu);
    if (hit)
        c->st.hits++;
    else
        c->st.misses++;
    if (reload)
        c->st.reloads++;
    struct hentry **p = slot_of(c, sid);
    struct hentry *e = *p;
    if (!rows->n) {
        if (e)
            entry_remove(c, e);
        pthread_mutex_unlock(&c->mu);
        return;
    }
    if (e) {
        rows_release(&e->rows);
    } else {
        e = xcalloc(1, sizeof *e);
        e->sid = xstrdup(sid);
        *p = e;
        c->st.sessions++;
    }
    e->max_turns = max_turns;
    rows_copy(&e->rows, rows);
    dlist_move_head(&c->lru, &e->lru);
    while (c->st.sessions > max_sessions && !dlist_is_empty(&c->lru)) {
        entry_remove(c, dlist_entry(dlist_last(&c->lru), struct hentry, lru));
        c->st.evictions++;
    }
    maybe_grow(c);
    pthread_mutex_unlock(&c->mu);
}

/* ---------------------------------------------------------------- loading */

/* The messages of a store item: given parsed, the saved turn's when its text is the item's, or
 * parsed from the item's text. New reference, or NULL with err. */
static json_t *item_messages(const json_t *it, const struct saved *saved, struct err *err)
{
    json_t *msgs = json_object_get(it, "messages");
    if (json_is_array(msgs))
        return json_incref(msgs);
    const json_t *text = json_object_get(it, "messagesText");
    if (!json_is_string(text)) {
        err_set(err, "StoreError", "stored turn holds no messages");
        return NULL;
    }
    if (saved && saved->text && strlen(saved->text) == json_string_length(text) &&
        memcmp(saved->text, json_string_value(text), json_string_length(text)) == 0)
        return json_incref(saved->messages);
    return store_messages_parse(json_string_value(text), json_string_length(text), err);
}

/* Appends the items of store rows (history_since's answer, oldest first) to rs, skipping any
 * item not newer than after (the one the caller holds); saved (may be NULL) is a turn this
 * process saved since. Returns 0, or -1 with err when an item has no messages where it must. */
static int rows_append(struct rows *rs, const json_t *items, long long after,
                       const struct saved *saved, struct err *err)
{
    size_t n = json_array_size(items), i;
    rs->v = xrealloc(rs->v, (rs->n + n + 1) * sizeof *rs->v);
    for (i = 0; i < n; i++) {
        const json_t *it = json_array_get(items, i);
        long long ts = (long long)json_integer_value(json_object_get(it, "timestamp"));
        if (ts <= after)
            continue;
        json_t *msgs = item_messages(it, saved, err);
        if (!msgs)
            return -1;
        rs->v[rs->n++] = row_new(ts, msgs);
        json_decref(msgs);
    }
    return 0;
}

/* Keeps the newest max_turns rows of rs. */
static void rows_keep_last(struct rows *rs, int max_turns)
{
    size_t keep = max_turns > 0 ? (size_t)max_turns : 0;
    if (rs->n <= keep)
        return;
    size_t cut = rs->n - keep;
    for (size_t i = 0; i < cut; i++)
        row_unref(rs->v[i]);
    memmove(rs->v, rs->v + cut, keep * sizeof *rs->v);
    rs->n = keep;
}

/* Fills w from rows. */
static void window_fill(struct history_window *w, const struct rows *rs)
{
    size_t total = 0;
    for (size_t i = 0; i < rs->n; i++)
        total += rs->v[i]->n;
    w->messages = json_array();
    w->api = json_array();
    w->tokens = xmalloc((total ? total : 1) * sizeof *w->tokens);
    w->bytes = xmalloc((total ? total : 1) * sizeof *w->bytes);
    w->n = 0;
    for (size_t i = 0; i < rs->n; i++) {
        json_array_extend(w->messages, rs->v[i]->messages);
        json_array_extend(w->api, rs->v[i]->api);
        memcpy(w->tokens + w->n, rs->v[i]->tokens, rs->v[i]->n * sizeof *w->tokens);
        memcpy(w->bytes + w->n, rs->v[i]->bytes, rs->v[i]->n * sizeof *w->bytes);
        w->n += rs->v[i]->n;
    }
}

/* The window straight from the store, estimates counted here. */
static int load_uncached(struct store *s, const char *sid, int max_turns, struct history_window *w,
                         struct err *err)
{
    json_t *msgs = NULL;
    if (store_history_recent(s, sid, max_turns, &msgs, err) < 0)
        return -1;
    w->messages = msgs;
    w->api = api_forms(msgs);
    w->n = json_array_size(msgs);
    w->tokens = xmalloc((w->n ? w->n : 1) * sizeof *w->tokens);
    w->bytes = xmalloc((w->n ? w->n : 1) * sizeof *w->bytes);
    for (size_t i = 0; i < w->n; i++) {
        w->tokens[i] = history_message_tokens(json_array_get(msgs, i));
        w->bytes[i] = sfn_json_size(json_array_get(msgs, i));
    }
    return 0;
}

int history_window_load(struct history_cache *c, struct store *s, const char *sid, int max_turns,
                        size_t max_sessions, struct history_window *w, struct err *err)
{
    *w = (struct history_window){0};
    if (!c || !max_sessions || !sid || !store_has_history_since(s))
        return load_uncached(s, sid, max_turns, w, err);
    int rc = -1, hit = 0, reload = 0;
    struct rows rs = {NULL, 0};
    struct saved saved = {NULL, NULL};
    json_t *items = NULL;
    if (cache_get(c, sid, max_turns, &rs, &saved)) {
        long long newest = rs.v[rs.n - 1]->ts;
        /* one more than a window: the held newest turn comes back with up to a window of newer
         * ones (a one-turn window would otherwise never find it and reload every time) */
        if (store_history_since(s, sid, newest, max_turns + 1, &items, err) < 0)
            goto out;
        const json_t *first = json_array_get(items, 0);
        if (first && json_integer_value(json_object_get(first, "timestamp")) == newest) {
            if (rows_append(&rs, items, newest, &saved, err) < 0)
                goto out;
            hit = 1;
        } else { /* the newest item held is gone (erased) or more turns came than a window */
            rows_release(&rs);
            json_decref(items);
            items = NULL;
            reload = 1;
        }
    }
    if (!hit) {
        if (store_history_since(s, sid, HISTORY_ALL, max_turns, &items, err) < 0 ||
            rows_append(&rs, items, HISTORY_ALL, NULL, err) < 0)
            goto out;
    }
    rows_keep_last(&rs, max_turns);
    cache_put(c, sid, max_turns, &rs, hit, reload, max_sessions);
    window_fill(w, &rs);
    rc = 0;
out:
    json_decref(items);
    rows_release(&rs);
    saved_release(&saved);
    return rc;
}

int history_cache_holds(struct history_cache *c, const char *sid)
{
    if (!c || !sid)
        return 0;
    pthread_mutex_lock(&c->mu);
    int held = *slot_of(c, sid) != NULL;
    pthread_mutex_unlock(&c->mu);
    return held;
}

/* References to sid's entry's rows into *out (empty when the cache does not hold it), leaving
 * the LRU order and the saved turn as they are. */
static void cache_peek(struct history_cache *c, const char *sid, struct rows *out)
{
    pthread_mutex_lock(&c->mu);
    struct hentry *e = *slot_of(c, sid);
    if (e)
        rows_copy(out, &e->rows);
    pthread_mutex_unlock(&c->mu);
}

int history_transcript(struct history_cache *c, struct store *s, const char *sid, json_t **messages,
                       struct err *err)
{
    *messages = NULL;
    if (!c || !sid || !store_has_history_since(s))
        return store_transcript(s, sid, messages, err);
    json_t *items = NULL;
    if (store_history_since(s, sid, HISTORY_ALL, INT_MAX, &items, err) < 0)
        return -1;
    struct rows held = {NULL, 0};
    cache_peek(c, sid, &held);
    json_t *out = json_array();
    size_t h = 0, i;
    const json_t *it;
    int rc = 0;
    json_array_foreach(items, i, it) { /* both oldest first: one merge by timestamp */
        long long ts = (long long)json_integer_value(json_object_get(it, "timestamp"));
        while (h < held.n && held.v[h]->ts < ts)
            h++;
        if (h < held.n && held.v[h]->ts == ts) {
            json_array_extend(out, held.v[h]->messages);
            continue;
        }
        json_t *msgs = item_messages(it, NULL, err);
        if (!msgs) {
            rc = -1;
            break;
        }
        json_array_extend(out, msgs);
        json_decref(msgs);
    }
    rows_release(&held);
    json_decref(items);
    if (rc < 0)
        json_decref(out);
    else
        *messages = out;
    return rc;
}

void history_window_release(struct history_window *w)
{
    json_decref(w->messages);
    json_decref(w->api);
    free(w->tokens);
    free(w->bytes);
    *w = (struct history_window){0};
}

size_t history_window_json_size(const struct history_window *w)
{
    size_t n = 2 + (w->n ? w->n - 1 : 0); /* the brackets and the commas */
    for (size_t i = 0; i < w->n; i++)
        n += w->bytes[i];
    return n;
}
