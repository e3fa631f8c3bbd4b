/*
 * store.h - the store port: sessions, their conversation turns, and tickets.
 *
 * The data model follows the seed's Conversations table: one item per turn keyed by sessionId +
 * timestamp (milliseconds, strictly increasing within a session), holding userId, the turn's
 * messages, the session context, lastActivity and metadata. A sessions row (or item) keeps the
 * session's header: userId, status, createdAt, lastActivity, turn count. Reading the recent window
 * touches only the last N turn items, so a turn costs O(window), not O(history).
 *
 * All payloads cross the port as jansson values so that the SQLite and DynamoDB adapters share one
 * contract. Counters (counter_add/get, counters_list) are named integers in groups that survive
 * restarts: the token budgets (agent/budget.h) and the per-hour analytics (runtime/analytics.h).
 * Every function returns 0 or -1 with err set; codes: "NotFound", "Conflict",
 * "StoreError". Objects returned through out-parameters are new references owned by the caller.
 * Adapters are thread-safe.
 */
#ifndef PARLEY_STORE_H
#define PARLEY_STORE_H

#include <assert.h>

#include <jansson.h>

#include "base/err.h"

struct store;

/* A process's claim on an Idempotency-Key (idem_claim). Strings are borrowed. */
struct store_idem_claim {
    const char *key;          /* the Idempotency-Key */
    const char *hash;         /* hash of the request body */
    const char *owner;        /* the claiming process (at most 300 bytes; opaque to the store) */
    long long now_ms;         /* the caller's clock, epoch milliseconds */
    long long lease_until_ms; /* a running claim may be taken over from then on */
    long long expires_ms;     /* the key is forgotten from then on */
    /* Returns 1 when owner (a running key's recorded owner) is known to be gone; may be NULL. */
    int (*owner_gone)(const char *owner, void *ctx);
    void *ctx; /* for owner_gone */
};

struct store_ops {
    const char *name; /* "sqlite", "dynamodb" */

    /* Session header: {"sessionId","userId","status","createdAt"(ms),"lastActivity"(ms),
     * "turns","context","metadata"}. NotFound when the session was never created. */
    int (*session_get)(struct store *s, const char *session_id, json_t **out, struct err *err);

    /* The messages of the last max_turns turns, oldest first, each {"role","content",
     * "timestamp"(ms), ...}. An unknown session gives an empty array. */
    int (*history_recent)(struct store *s, const char *session_id, int max_turns, json_t **out,
                          struct err *err);

    /* The turn items of the session whose timestamp is at least since_ms, the newest max_turns
     * of them, oldest first: [{"timestamp"(ms), "messages": [...]}], or with "messagesText"
     * instead of "messages": the messages' JSON text as stored, unparsed (the SQLite adapter's
     * form; the caller parses it, or finds it is text it already holds parsed). The item whose
     * timestamp is exactly since_ms may come without either: a caller that holds the window up
     * to that item (agent/history.h) asks only whether it is still there and what came after
     * it. An unknown session gives an empty array. NULL in an adapter without it (callers then
     * use history_recent). */
    int (*history_since)(struct store *s, const char *session_id, long long since_ms, int max_turns,
                         json_t **out, struct err *err);

    /* Every message of the session, oldest first (for the transcript). */
    int (*transcript)(struct store *s, const char *session_id, json_t **out, struct err *err);

    /* The session's header as session_get gives it but without "context", "metadata" and
     * "lastTimestamp" ({"sessionId","userId","status","createdAt","lastActivity","turns"}), and
     * every message as transcript gives them, read in one snapshot: the header's turns are the
     * turns of the messages. NotFound when the session was never created. NULL in an adapter
     * without it (callers then use session_get and transcript). */
    int (*session_transcript)(struct store *s, const char *session_id, json_t **header,
                              json_t **messages, struct err *err);

    /* Saves one turn atomically. turn = {"sessionId","userId","isNew": bool,"messages": [...],
     * "context": {...},"metadata": {...}, "noTurn"?: bool, "status"?: string (non-empty: the
     * session's new status)}. Creates the session when isNew
     * (Conflict if it exists; NotFound if !isNew and it does not). Sets *turn_no to the session's
     * turn count, incremented unless noTurn (an operator's message is stored as an item of its
     * own without counting as a customer turn; its context is then left unchanged).
     * "idempotency"?: {"key","response"} marks that Idempotency-Key done with response (its
     * "turn" set to the saved turn count) in the same transaction as the turn (on DynamoDB without
     * transactions: written right after the turn, and undone with it on failure), so no crash
     * leaves a saved turn under a running key.
     * "counters"?: [{"group","name","delta","expiresAt"(ms, 0 = never)}] are added as counter_add
     * adds them, in the same transaction as the turn (the token budgets of the turn's model
     * calls, agent/budget.h): they count exactly when the turn is saved. counted, when not NULL,
     * has one slot per counter and gets each counter's value after the add, or -1 where the
     * adapter cannot tell (DynamoDB's TransactWriteItems answers no values). */
    int (*turn_save)(struct store *s, const json_t *turn, int *turn_no, long long *counted,
                     struct err *err);

    /* Creates a ticket from {"sessionId","userId","title","description","priority","email",
     * "idempotencyKey"?}; returns it as in ticket_get. A key seen before returns the ticket it
     * created instead of creating another (exactly-once effect for redelivered actions). */
    int (*ticket_create)(struct store *s, const json_t *fields, json_t **out, struct err *err);

    /* {"id":"TKT-000042","title","description","priority","email","status","sessionId",
     * "userId","createdAt"(ISO-8601)}. NotFound for unknown or malformed ids. */
    int (*ticket_get)(struct store *s, const char *ticket_id, json_t **out, struct err *err);

    /* The user's tickets (every ticket when user_id is NULL), newest first: [{as ticket_get}],
     * at most limit. */
    int (*tickets_list)(struct store *s, const char *user_id, int limit, json_t **out,
                        struct err *err);

    /* {"orderId","userId","status","items":[{"sku","name","quantity","price"}],"total",
     * "shipping":{"carrier","tracking","eta"},"createdAt"}. NotFound for unknown ids. */
    int (*order_get)(struct store *s, const char *order_id, json_t **out, struct err *err);

    /* Sets a session's status ("active", "handoff", "closed") and records why in its metadata
     * ("statusReason"). NotFound when the session does not exist. */
    int (*session_set_status)(struct store *s, const char *session_id, const char *status,
                              const char *reason, struct err *err);

    /* Sessions, most recently active first: [{"sessionId","userId","status","createdAt",
     * "lastActivity","turns"}]; status filters when not NULL. */
    int (*sessions_list)(struct store *s, const char *status, int limit, json_t **out,
                         struct err *err);

    /* Records an action's state: {"id","sessionId","userId","tool","input","status":
     * "pending"|"succeeded"|"failed","result"?}. Insert or replace by id. */
    int (*action_put)(struct store *s, const json_t *action, struct err *err);

    /* The action as recorded (plus "updatedAt" ms). NotFound for unknown ids. */
    int (*action_get)(struct store *s, const char *action_id, json_t **out, struct err *err);

    /* Idempotent requests. idem_begin claims key for a request whose body hashes to hash:
     * returns 0 when the caller should run it; 1 with *response (new ref) when an earlier request
     * with this key finished; -1 with "Conflict" while one is still running, or
     * "IdempotencyMismatch" when the key was used for a different request. */
    int (*idem_begin)(struct store *s, const char *key, const char *hash, json_t **response,
                      struct err *err);
    /* Stores the finished response under key. */
    int (*idem_finish)(struct store *s, const char *key, const json_t *response, struct err *err);
    /* Releases a claimed key whose request failed, so a retry runs it again. */
    int (*idem_abort)(struct store *s, const char *key, struct err *err);
    /* Crash-safe idem_begin: claims c->key for c->owner under a lease ending at
     * c->lease_until_ms; the key (running or done) is forgotten at c->expires_ms. Returns 0 when
     * the caller should run the request: the key is new, its earlier claim expired, or it is
     * still running under a lease that ended before c->now_ms or an owner c->owner_gone reports
     * gone (a crashed process); *taken_over is then 1. A takeover is a conditional write, so of
     * two concurrent retries one wins and the other gets "Conflict". Otherwise as idem_begin. */
    int (*idem_claim)(struct store *s, const struct store_idem_claim *c, json_t **response,
                      int *taken_over, struct err *err);

    /* Erases a session (the customer's right to erasure): its header, turns, actions and the
     * Idempotency-Keys whose response named it are deleted; its tickets keep their number,
     * status, priority and dates but lose every personal field and the session (user and
     * sessionId "erased", title and description "[erased]", email "", no idempotency key). The
     * deletion leaves no copy in the store's files (SQLite: secure_delete, then a WAL checkpoint
     * with truncation; DynamoDB: BatchWriteItem deletes, the session header last, so a failed
     * erasure can be repeated). NotFound when the session does not exist. */
    int (*session_erase)(struct store *s, const char *session_id, struct err *err);

    /* Sets *erased to 1 when session_erase erased this session id, else 0. The store keeps only
     * a tombstone of each erased id (store__erased_tag: its SHA-256, never the id), so that a
     * queued action of an erased session can be told from one whose record was never written. */
    int (*session_erased)(struct store *s, const char *session_id, int *erased, struct err *err);

    /* Adds delta to counter name of group (a missing counter starts at 0) atomically: concurrent
     * adds from any number of processes all count. Sets *value to the counter after the add and
     * its expiry to expires_ms (epoch ms; 0 = never). An expired counter reads as absent and may
     * be deleted (SQLite: every 256th add purges; DynamoDB: the table's TTL on "expiresAt",
     * in whole seconds); callers put the period a counter covers in its group or name, so an add
     * never needs to revive an expired one. group and name are at most STORE_COUNTER_NAME_MAX
     * bytes, else "InvalidRequest". */
    int (*counter_add)(struct store *s, const char *group, const char *name, long long delta,
                       long long expires_ms, long long *value, struct err *err);

    /* Sets *value to the counter (0 when absent or expired). */
    int (*counter_get)(struct store *s, const char *group, const char *name, long long *value,
                       struct err *err);

    /* Every unexpired counter of group as a new object {"name": value, ...}. */
    int (*counters_list)(struct store *s, const char *group, json_t **out, struct err *err);
    /* Appends entry (a JSON object: "at" ISO 8601, "operator", "role", "action", "subject") to
     * the append-only audit log of operator actions; nothing can update or delete an entry
     * (SQLite: triggers refuse; DynamoDB: a conditional put that never overwrites). */
    int (*audit_append)(struct store *s, const json_t *entry, struct err *err);
    /* Lists up to limit (1..1000) audit entries newest first, older than the cursor before
     * (NULL: from the newest). *out is a new array of the entries, each with its cursor as "id";
     * *next a new string, the cursor of the next page, or NULL on the last page. */
    int (*audit_list)(struct store *s, const char *before, int limit, json_t **out, char **next,
                      struct err *err);

    void (*free)(struct store *s);

    /* ---- issue 15: retention ---- */
    /* Ids of up to limit sessions whose last activity is before before_ms (epoch ms), oldest
     * first: *out gets a new array of strings (possibly empty). The retention sweep erases them
     * with session_erase. NULL in an adapter whose backend expires sessions itself (DynamoDB's
     * TTL on expiresAt); store_sessions_idle then fails with "NotImplemented". */
    int (*sessions_idle)(struct store *s, long long before_ms, int limit, json_t **out,
                         struct err *err);

    /* Until reads_end, the reads the calling thread makes share one snapshot: the SQLite
     * adapter's one read transaction and page cache (base/sqlpool.h sqlpool_pin), for a batch of
     * reads such as an archiver pass's. No write on that thread meanwhile. reads_begin returns 0,
     * or -1 with err (then no reads_end). NULL in an adapter without it (each read stands alone).
     */
    int (*reads_begin)(struct store *s, struct err *err);
    void (*reads_end)(struct store *s);
};

struct store {
    const struct store_ops *ops; /* the adapter */
    /* Told of each session store_session_erase erased, after it did (the agent's history cache
     * drops its copy, agent/history.h); NULL for none. Set before the store is shared. */
    void (*on_erase)(void *ud, const char *session_id);
    void *on_erase_ud; /* for on_erase */
};

/* ---- Calls through the port ----------------------------------------------------------------- */

/* Each wrapper calls the adapter's op of the same name (contracts above). s and the out-pointers
 * must not be NULL (asserted: a NULL there is our bug). Ids and payloads may come from a request,
 * so they are not asserted: the adapter answers for them with an error value. */

static inline int store_session_get(struct store *s, const char *session_id, json_t **out,
                                    struct err *err)
{
    assert(s);
    assert(out);
    return s->ops->session_get(s, session_id, out, err);
}

static inline int store_history_recent(struct store *s, const char *session_id, int max_turns,
                                       json_t **out, struct err *err)
{
    assert(s);
    assert(out);
    return s->ops->history_recent(s, session_id, max_turns, out, err);
}

/* Returns 1 when the adapter has history_since. */
static inline int store_has_history_since(const struct store *s)
{
    assert(s);
    return s->ops->history_since != NULL;
}

static inline int store_history_since(struct store *s, const char *session_id, long long since_ms,
                                      int max_turns, json_t **out, struct err *err)
{
    assert(s);
    assert(out);
    assert(s->ops->history_since);
    return s->ops->history_since(s, session_id, since_ms, max_turns, out, err);
}

static inline int store_transcript(struct store *s, const char *session_id, json_t **out,
                                   struct err *err)
{
    assert(s);
    assert(out);
    return s->ops->transcript(s, session_id, out, err);
}

/* Returns 1 when the adapter has session_transcript. */
static inline int store_has_session_transcript(const struct store *s)
{
    assert(s);
    return s->ops->session_transcript != NULL;
}

static inline int store_session_transcript(struct store *s, const char *session_id, json_t **header,
                                           json_t **messages, struct err *err)
{
    assert(s);
    assert(header);
    assert(messages);
    assert(s->ops->session_transcript);
    return s->ops->session_transcript(s, session_id, header, messages, err);
}

/* The messages array of a stored turn's JSON text (len bytes: a SQLite row's messages column, a
 * history_since item's "messagesText"): a new reference, or NULL with err "StoreError" when the
 * text is not an array. */
json_t *store_messages_parse(const char *text, size_t len, struct err *err);

/* The four writes below pass what they store through guard_mask_cards_json first (on a copy; the
 * caller's value is untouched), whatever the adapter: a card number in a message, an operator's
 * note, a tool's input or result, a ticket or a stored response is kept only as
 * "[card ending 1111]" (store.c). */
int store_turn_save(struct store *s, const json_t *turn, int *turn_no, struct err *err);

/* store_turn_save for a turn that carries "counters": counted gets their values (turn_save
 * above). The counters' groups and names are checked as store_counter_add checks them
 * ("InvalidRequest"), and so are their deltas (integers). */
int store_turn_save_counted(struct store *s, const json_t *turn, int *turn_no, long long *counted,
                            struct err *err);

int store_ticket_create(struct store *s, const json_t *fields, json_t **out, struct err *err);

static inline int store_ticket_get(struct store *s, const char *ticket_id, json_t **out,
                                   struct err *err)
{
    assert(s);
    assert(out);
    return s->ops->ticket_get(s, ticket_id, out, err);
}

static inline int store_tickets_list(struct store *s, const char *user_id, int limit, json_t **out,
                                     struct err *err)
{
    assert(s);
    assert(out);
    return s->ops->tickets_list(s, user_id, limit, out, err);
}

static inline int store_order_get(struct store *s, const char *order_id, json_t **out,
                                  struct err *err)
{
    assert(s);
    assert(out);
    return s->ops->order_get(s, order_id, out, err);
}

static inline int store_session_set_status(struct store *s, const char *session_id,
                                           const char *status, const char *reason, struct err *err)
{
    assert(s);
    return s->ops->session_set_status(s, session_id, status, reason, err);
}

static inline int store_sessions_list(struct store *s, const char *status, int limit, json_t **out,
                                      struct err *err)
{
    assert(s);
    assert(out);
    return s->ops->sessions_list(s, status, limit, out, err);
}

int store_action_put(struct store *s, const json_t *action, struct err *err);

static inline int store_action_get(struct store *s, const char *action_id, json_t **out,
                                   struct err *err)
{
    assert(s);
    assert(out);
    return s->ops->action_get(s, action_id, out, err);
}

static inline int store_idem_begin(struct store *s, const char *key, const char *hash,
                                   json_t **response, struct err *err)
{
    assert(s);
    assert(response);
    return s->ops->idem_begin(s, key, hash, response, err);
}

int store_idem_finish(struct store *s, const char *key, const json_t *response, struct err *err);

static inline int store_idem_abort(struct store *s, const char *key, struct err *err)
{
    assert(s);
    return s->ops->idem_abort(s, key, err);
}

static inline int store_idem_claim(struct store *s, const struct store_idem_claim *c,
                                   json_t **response, int *taken_over, struct err *err)
{
    assert(s);
    assert(c && response && taken_over);
    return s->ops->idem_claim(s, c, response, taken_over, err);
}

static inline int store_reads_begin(struct store *s, struct err *err)
{
    assert(s);
    return s->ops->reads_begin ? s->ops->reads_begin(s, err) : 0;
}

static inline void store_reads_end(struct store *s)
{
    assert(s);
    if (s->ops->reads_end)
        s->ops->reads_end(s);
}

static inline int store_sessions_idle(struct store *s, long long before_ms, int limit, json_t **out,
                                      struct err *err)
{
    assert(s && out);
    if (!s->ops->sessions_idle)
        return err_set(err, "NotImplemented", "the %s store expires idle sessions itself",
                       s->ops->name);
    return s->ops->sessions_idle(s, before_ms, limit, out, err);
}

static inline int store_session_erase(struct store *s, const char *session_id, struct err *err)
{
    assert(s);
    int rc = s->ops->session_erase(s, session_id, err);
    if (rc == 0 && s->on_erase)
        s->on_erase(s->on_erase_ud, session_id);
    return rc;
}

static inline int store_session_erased(struct store *s, const char *session_id, int *erased,
                                       struct err *err)
{
    assert(s && erased);
    return s->ops->session_erased(s, session_id, erased, err);
}

#define STORE_COUNTER_NAME_MAX 512 /* bytes of a counter's group or name */

/* The counter calls check group and name (non-empty, at most STORE_COUNTER_NAME_MAX bytes, else
 * "InvalidRequest" naming which) before the adapter sees them (store.c). */
int store_counter_add(struct store *s, const char *group, const char *name, long long delta,
                      long long expires_ms, long long *value, struct err *err);
int store_counter_get(struct store *s, const char *group, const char *name, long long *value,
                      struct err *err);
int store_counters_list(struct store *s, const char *group, json_t **out, struct err *err);
static inline int store_audit_append(struct store *s, const json_t *entry, struct err *err)
{
    return s->ops->audit_append(s, entry, err);
}

static inline int store_audit_list(struct store *s, const char *before, int limit, json_t **out,
                                   char **next, struct err *err)
{
    return s->ops->audit_list(s, before, limit, out, next, err);
}

/* The adapter's name ("sqlite", "dynamodb"), for logs and the CLI. */
static inline const char *store_name(const struct store *s)
{
    assert(s);
    return s->ops->name;
}

/* Frees the store; NULL is a no-op. */
static inline void store_free(struct store *s)
{
    if (s)
        s->ops->free(s);
}

/* The embedded adapter: SQLite in WAL mode at path, with pool_size connections. Returns NULL with
 * err ("StoreError", naming the path and SQLite's message) when the database cannot be opened. */
struct store *store_sqlite_new(const char *path, int pool_size, struct err *err);

/* ---- Shared by adapters ---- */

/* Writes the tombstone tag of an erased session id into tag[65]: the lowercase hex SHA-256 of
 * the id (session ids are random, so the tag does not give the id back). */
void store__erased_tag(const char *session_id, char tag[65]);

/* The number of a ticket id: "TKT-000042" (the prefix in any case, 1 to 12 digits) gives 42.
 * Returns -1 when id has another form (the adapters answer NotFound for it). */
long long store__ticket_seq(const char *id);

#define STORE_TICKET_ID_MAX 32 /* bytes of a ticket id with its NUL, and more */

/* Writes the id of ticket number seq (>= 0) into id[STORE_TICKET_ID_MAX]: "TKT-" and at least six
 * digits ("TKT-000042"), the form store__ticket_seq reads back. */
void store__ticket_id(long long seq, char id[STORE_TICKET_ID_MAX]);

#endif
