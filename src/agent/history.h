/*
 * history.h - the recent window of a session's conversation as LoadContext needs it: the
 * messages of the last turns with a token estimate per message, kept parsed between turns.
 *
 * Reading the window from the store parses every stored turn of it again on each turn, and the
 * window grows to PARLEY_HISTORY_TURNS turns with their tool results. A history cache keeps each
 * session's window (its turns' messages, parsed, each with its estimate) in a bounded LRU, and a
 * later read asks the store only for the turns saved after the newest one it holds
 * (store_history_since); a turn this process saved is taken as it was saved rather than parsed
 * back (history_cache_saved). The store stays the truth: a read that does not find the newest held
 * turn still stored (the session was erased, here or by another process) reloads the whole
 * window, and turns another writer saved are read like the cache's own. A cached window is
 * never served stale. Erasure through the store drops the session's entry at once (the agent's
 * on_erase calls history_cache_drop), so erased text does not stay in memory either. Thread-safe;
 * one mutex guards the table and is never held across a store call.
 */
#ifndef PARLEY_HISTORY_H
#define PARLEY_HISTORY_H

#include <stddef.h>

#include <jansson.h>

#include "base/err.h"
#include "store/store.h"

struct history_cache;

/* A loaded window. */
struct history_window {
    json_t *messages; /* oldest first (own array; its messages are shared: read them only) */
    json_t *api;      /* per message, history_api_message() of it or null (own array, shared
                       * values: read them only) */
    size_t *tokens;   /* per message, history_message_tokens() of it */
    size_t *bytes;    /* per message, the bytes of its compact JSON text (sfn_json_size) */
    size_t n;         /* messages */
};

/* Counts of a cache's work since it was made (for tests and logs). */
struct history_stats {
    size_t sessions;         /* entries held now */
    unsigned long hits;      /* reads that used an entry (and read only newer turns) */
    unsigned long misses;    /* reads that loaded the whole window */
    unsigned long reloads;   /* of the misses: an entry whose newest turn was gone */
    unsigned long evictions; /* entries dropped for the bound */
    unsigned long drops;     /* entries dropped by history_cache_drop (erasure) */
};

/* A stored message as a model request's "messages" carry it (the Messages API): role and content
 * of a customer's ("user") or the agent's ("assistant") message, the content shared (a reference
 * to m's); an operator's text as the support side's words ("assistant", marked as a human
 * agent's). New reference, or NULL for a message that has no place in a request. A window keeps
 * these forms with its messages (history_window.api), so that the model calls of a session's turns
 * share one value for each message instead of building it at every call. */
json_t *history_api_message(const json_t *m);

/* ---- The cache ---- */

/* A new empty cache. Never fails (allocation aborts by policy). */
struct history_cache *history_cache_new(void);

/* Frees the cache and every entry; NULL is a no-op. */
void history_cache_free(struct history_cache *c);

/* Forgets session_id's entry, if any (erasure). */
void history_cache_drop(struct history_cache *c, const char *session_id);

/* Tells the cache that messages (borrowed; a reference is taken) are the messages of a turn of
 * session_id this process has just saved. When the cache holds the session, its next read takes
 * these very values for the stored item whose JSON text is theirs (the store's answer still
 * decides what is there) instead of parsing that text again. Nothing is kept for a session the
 * cache does not hold. The messages must not change afterwards (a state's values never do). */
void history_cache_saved(struct history_cache *c, const char *session_id, const json_t *messages);

/* 1 when c holds session_id's window (c may be NULL: 0). */
int history_cache_holds(struct history_cache *c, const char *session_id);

/* Fills *st with the cache's counts. */
void history_cache_stats(struct history_cache *c, struct history_stats *st);

/* ---- Loading a window ---- */

/* Loads the messages of the last max_turns turns of session_id into *w (which the caller
 * releases with history_window_release): through cache c, keeping at most max_sessions entries
 * (the least recently read go first), or straight from the store when c is NULL, max_sessions
 * is 0 or the adapter has no history_since. Returns 0, or -1 with the store's err (*w is then
 * empty). */
int history_window_load(struct history_cache *c, struct store *s, const char *session_id,
                        int max_turns, size_t max_sessions, struct history_window *w,
                        struct err *err);

/* Every message of session_id, oldest first, as store_transcript gives them (new array in
 * *messages; its messages may be shared with c: read them only): the store's items from
 * store_history_since, where an item the cache holds for the session (the same timestamp, read
 * from the store's own text) gives its messages as held instead of being parsed again. The
 * entry is left where it is in the LRU order. Straight store_transcript when c is NULL or the
 * adapter has no history_since. Returns 0, or -1 with the store's err. For a batch of reads in
 * one snapshot (store_reads_begin) whose header must match the messages, as the archiver's. */
int history_transcript(struct history_cache *c, struct store *s, const char *session_id,
                       json_t **messages, struct err *err);

/* Releases what a window holds; the struct may be loaded again. */
void history_window_release(struct history_window *w);

/* The bytes of the compact JSON text of w's messages array (sfn_json_size of it), from the
 * per-message sizes measured when the messages were read. */
size_t history_window_json_size(const struct history_window *w);

/* The rough token estimate LoadContext budgets the window with: four characters a token over
 * the message's compact "content" text, plus 4. */
size_t history_message_tokens(const json_t *m);

#endif
