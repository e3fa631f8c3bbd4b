/*
 * turn.c - the request handler: validation, session creation and the turn workflow, which runs
 * with one reference to the agent's definition (agent.h, struct agent_def) from start to end.
 */
#include "agent/turn.h"

#include "agent/agent_file.h"
#include "agent/agent_int.h"
#include "agent/budget.h"
#include "agent/kb.h"
#include "agent/tools.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include <errno.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include "base/guard.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/rand.h"
#include "base/utf8.h"
#include "base/sched.h"
#include "base/xmalloc.h"

int turn_session_id_valid(const char *id)
{
    size_t n = strlen(id);
    if (n < 1 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

json_t *turn_parse_request(const char *body, size_t len, struct err *err)
{
    long bad = utf8_invalid_at(body, len);
    if (bad >= 0) {
        err_set(err, "InvalidUtf8", "request body is not valid UTF-8 (bad byte at offset %ld)",
                bad);
        return NULL;
    }
    json_error_t jerr;
    json_t *req = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL,
                             &jerr);
    if (!req) {
        err_set(err, "MalformedJson", "request body is not valid JSON: %s at line %d column %d",
                jerr.text, jerr.line, jerr.column);
        return NULL;
    }
    if (!json_is_object(req)) {
        err_set(err, "InvalidRequest", "request body must be a JSON object");
        goto bad;
    }
    const char *key;
    json_t *v;
    json_object_foreach(req, key, v) {
        if (strcmp(key, "message") != 0 && strcmp(key, "sessionId") != 0 &&
            strcmp(key, "userId") != 0) {
            err_set(err, "InvalidRequest",
                    "unknown field '%s' (allowed: message, sessionId, userId)", key);
            goto bad;
        }
    }
    v = json_object_get(req, "message");
    if (!v) {
        err_set(err, "InvalidRequest", "'message' is required");
        goto bad;
    }
    if (!json_is_string(v)) {
        err_set(err, "InvalidRequest", "'message' must be a string");
        goto bad;
    }
    size_t chars = utf8_length(json_string_value(v));
    if (json_string_length(v) != strlen(json_string_value(v))) {
        err_set(err, "InvalidRequest", "'message' must not contain NUL characters");
        goto bad;
    }
    if (chars == 0) {
        err_set(err, "InvalidRequest", "'message' must not be empty");
        goto bad;
    }
    if (chars > TURN_MESSAGE_MAX_CHARS) {
        err_set(err, "InvalidRequest", "'message' is %zu characters long; the limit is %d", chars,
                TURN_MESSAGE_MAX_CHARS);
        goto bad;
    }
    v = json_object_get(req, "sessionId");
    if (v && (!json_is_string(v) || !turn_session_id_valid(json_string_value(v)))) {
        err_set(err, "InvalidRequest", "'sessionId' must be a string matching [A-Za-z0-9_-]{1,64}");
        goto bad;
    }
    v = json_object_get(req, "userId");
    if (v && (!json_is_string(v) || json_string_length(v) == 0 ||
              json_string_length(v) > TURN_USER_ID_MAX ||
              json_string_length(v) != strlen(json_string_value(v)))) {
        err_set(err, "InvalidRequest", "'userId' must be a non-empty string of at most %d bytes",
                TURN_USER_ID_MAX);
        goto bad;
    }
    return req;
bad:
    json_decref(req);
    return NULL;
}

/* ---------------------------------------------------------------- the definition */

/* The definition the running turn entered (agent_def_enter) is task-local (base/sched.h). */
static const char entered_key;

struct agent_def *agent_def_new(struct agent_file *file, struct kb *kb, struct tools *tools)
{
    struct agent_def *d = xcalloc(1, sizeof *d);
    atomic_init(&d->refs, 1);
    d->file = file;
    d->kb = kb;
    d->tools = tools;
    return d;
}

void agent_def_unref(struct agent_def *d)
{
    if (!d || atomic_fetch_sub(&d->refs, 1) != 1)
        return;
    tools_free(d->tools); /* the registry borrows the knowledge base: it goes first */
    kb_free(d->kb);
    agent_file_free(d->file);
    free(d);
}

struct agent_def *agent_def_get(struct agent *a)
{
    /* Hand-built agents (tests, hosts that never reload) have no definition and may not have run
     * agent_init: the lock is only touched when one exists. */
    if (!atomic_load(&a->def))
        return NULL;
    pthread_mutex_lock(&a->def_lock);
    struct agent_def *d = atomic_load(&a->def);
    if (d)
        atomic_fetch_add(&d->refs, 1);
    pthread_mutex_unlock(&a->def_lock);
    return d;
}

void agent_def_swap(struct agent *a, struct agent_def *d)
{
    pthread_mutex_lock(&a->def_lock);
    struct agent_def *old = atomic_exchange(&a->def, d);
    pthread_mutex_unlock(&a->def_lock);
    agent_def_unref(old); /* freed here unless a turn still holds it */
}

void agent_def_enter(struct agent *a)
{
    assert(!sched_local_get(&entered_key)); /* calls do not nest */
    sched_local_set(&entered_key, agent_def_get(a));
}

void agent_def_leave(void)
{
    struct agent_def *d = sched_local_get(&entered_key);
    sched_local_set(&entered_key, NULL);
    agent_def_unref(d);
}

/* The definition the turn on this thread runs with: the entered one, else a's current one. */
static const struct agent_def *def_of(const struct agent *a)
{
    const struct agent_def *entered = sched_local_get(&entered_key);
    return entered ? entered : atomic_load(&((struct agent *)a)->def);
}

struct tools *agent_tools(const struct agent *a)
{
    const struct agent_def *d = def_of(a);
    return d ? d->tools : a->tools;
}

const struct kb *agent_kb(const struct agent *a)
{
    const struct agent_def *d = def_of(a);
    return d ? d->kb : a->kb;
}

const struct agent_file *agent_file_of(const struct agent *a)
{
    const struct agent_def *d = def_of(a);
    return d ? d->file : a->file;
}

/* ---------------------------------------------------------------- the turn */

/* Fills state with the session header: owner, status, context. Returns 0, or -1 with NotFound
 * when the session does not exist or belongs to another user (indistinguishable on purpose). */
static int open_session(struct agent *a, json_t *state, const char *sid, const char *uid,
                        struct err *err)
{
    json_t *session = NULL;
    if (store_session_get(a->store, sid, &session, err) < 0)
        return -1;
    const char *owner = json_string_value(json_object_get(session, "userId"));
    if (uid && owner && strcmp(uid, owner) != 0) {
        json_decref(session);
        return err_set(err, "NotFound", "session '%s' not found", sid);
    }
    json_object_set_new(state, "userId", json_string(owner ? owner : ""));
    json_object_set(state, "status", json_object_get(session, "status"));
    json_object_set(state, "context", json_object_get(session, "context"));
    json_object_set(state, "turns", json_object_get(session, "turns"));
    json_object_set(state, "createdAt", json_object_get(session, "createdAt"));
    json_decref(session);
    return 0;
}

/* turn_run, with new_sid (22 characters, or NULL for a fresh rand_id_timed one) as the id of a
 * session the turn creates, and idem_key (or NULL) the Idempotency-Key it runs under:
 * SaveConversation finishes the key in the turn's transaction. */
static json_t *run_turn(struct agent *a, const json_t *request, const char *new_sid,
                        const char *idem_key, struct err *err)
{
    const char *sid = json_string_value(json_object_get(request, "sessionId"));
    const char *uid = json_string_value(json_object_get(request, "userId"));
    char fresh[23];
    json_t *state = json_object();
    json_t *out = NULL;
    int64_t t0 = clock_mono_us();
    agent_def_enter(a); /* this turn runs with the definition current now, to its end */
    if (sid) {
        json_object_set_new(state, "isNew", json_false());
        if (open_session(a, state, sid, uid, err) < 0)
            goto done;
    } else {
        if (new_sid) {
            snprintf(fresh, sizeof fresh, "%s", new_sid);
        } else if (rand_id_timed(fresh) < 0) {
            err_set(err, "InternalError", "cannot draw a random session id");
            goto done;
        }
        sid = fresh;
        json_object_set_new(state, "isNew", json_true());
        json_object_set_new(state, "status", json_string("active"));
        json_object_set_new(state, "context", json_object());
        json_object_set_new(state, "turns", json_integer(0));
        json_object_set_new(state, "createdAt", json_integer(clock_now_ms()));
        /* An anonymous customer is their session: tools act for "guest:<sessionId>". */
        char *user = uid ? xstrdup(uid) : xasprintf("guest:%s", sid);
        json_object_set_new(state, "userId", json_string(user));
        free(user);
    }
    json_object_set_new(state, "sessionId", json_string(sid));
    if (idem_key)
        json_object_set_new(state, "idempotencyKey", json_string(idem_key));
    /* The deadline of the turn's tool calls (wall clock: a Step Functions workflow may run the
     * actions in another process) and the customer's verified email, for the tools. */
    if (a->cfg && a->cfg->turn_timeout_ms > 0)
        json_object_set_new(state, "deadlineMs",
                            json_integer((json_int_t)(clock_now_ms() + a->cfg->turn_timeout_ms)));
    const char *email = json_string_value(json_object_get(request, "email"));
    if (email && email[0])
        json_object_set_new(state, "email", json_string(email));
    /* A card number never reaches the model or the store: only its last four digits do. */
    json_t *message = json_deep_copy(json_object_get(request, "message"));
    guard_mask_cards_json(message);
    if (message)
        json_object_set_new(state, "message", message);
    if (!a->workflow) {
        err_set(err, "InternalError", "no turn workflow is configured");
        goto done;
    }
    /* The turn's model calls put their tokens on its tab, which its save counts; what no save
     * counted is spent here (agent/budget.h). */
    struct budget_tab tab = {0};
    struct agent__window_memo window = {NULL, NULL};
    agent__budget_tab_set(&tab);
    agent__window_memo_set(&window);
    out = a->workflow(a, state, err);
    agent__window_memo_set(NULL);
    agent__window_memo_release(&window);
    agent__budget_tab_set(NULL);
    agent__budget_settle(a, sid, &tab);
done:
    json_decref(state);
    AGENT_HOOK(a, on_turn, out, err, (double)(clock_mono_us() - t0) / 1e6);
    agent_def_leave();
    return out;
}

json_t *turn_run(struct agent *a, const json_t *request, struct err *err)
{
    return run_turn(a, request, NULL, NULL, err);
}

/* ---------------------------------------------------------------- idempotency keys */

#define TURN_HOST_MAX 255

static pthread_once_t turn_owner_once = PTHREAD_ONCE_INIT;
static char turn_start_id[33];                   /* 128 random bits, hex */
static char turn_owner[33 + TURN_HOST_MAX + 32]; /* "<start id> <host> <pid>" */

static void turn_owner_init(void)
{
    unsigned char raw[16];
    if (rand_bytes(raw, sizeof raw) != 0) {
        /* rand_bytes only fails without a kernel RNG; the clock still tells restarts apart. */
        uint64_t t = (uint64_t)clock_now_ms() ^ ((uint64_t)getpid() << 40);
        memcpy(raw, &t, sizeof t);
        memset(raw + sizeof t, 0, sizeof raw - sizeof t);
    }
    for (int i = 0; i < 16; i++)
        snprintf(turn_start_id + 2 * i, 3, "%02x", raw[i]);
    char host[TURN_HOST_MAX + 1] = "";
    if (gethostname(host, sizeof host) != 0)
        host[0] = '\0';
    host[TURN_HOST_MAX] = '\0';
    for (char *p = host; *p; p++)
        if (*p == ' ')
            *p = '_';
    snprintf(turn_owner, sizeof turn_owner, "%s %s %ld", turn_start_id, host[0] ? host : "-",
             (long)getpid());
}

const char *turn_process_id(void)
{
    pthread_once(&turn_owner_once, turn_owner_init);
    return turn_start_id;
}

/* Whether the process recorded as a key's owner ("<start id> <host> <pid>") is gone: another
 * start id on this host whose pid is ours (we replaced it) or no longer exists. Owners on other
 * hosts are never known gone; their lease decides. */
static int owner_gone(const char *owner, void *ctx)
{
    (void)ctx;
    char id[33], host[TURN_HOST_MAX + 1];
    long pid;
    char mine_id[33], mine_host[TURN_HOST_MAX + 1];
    long mine_pid;
    if (sscanf(owner, "%32s %255s %ld", id, host, &pid) != 3 || pid <= 0)
        return 0;
    if (sscanf(turn_owner, "%32s %255s %ld", mine_id, mine_host, &mine_pid) != 3)
        return 0;
    if (strcmp(id, mine_id) == 0 || strcmp(host, mine_host) != 0)
        return 0;
    if (pid == mine_pid)
        return 1;
    return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

/* The session id (22 characters of rand_id128's alphabet) for a new session opened under an
 * Idempotency-Key: SHA-256 of the key and the body hash, so unguessable without both. */
static void key_session_id(const char *key, const char *hash, char out[23])
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char d[SHA256_DIGEST_LENGTH];
    char *text = xasprintf("parley-session\n%s\n%s", key, hash);
    SHA256((const unsigned char *)text, strlen(text), d);
    free(text);
    for (int i = 0; i < 22; i++)
        out[i] = alphabet[d[i] & 63];
    out[22] = '\0';
}

/* The text of the last assistant message in msgs ("" when none): content as a string or as
 * blocks, whose "text" blocks are joined. */
static char *last_assistant_text(const json_t *msgs)
{
    for (size_t i = json_array_size(msgs); i-- > 0;) {
        const json_t *m = json_array_get(msgs, i);
        const char *role = json_string_value(json_object_get(m, "role"));
        if (!role || strcmp(role, "assistant") != 0)
            continue;
        const json_t *c = json_object_get(m, "content");
        if (json_is_string(c))
            return xstrdup(json_string_value(c));
        struct buf b;
        buf_init(&b, 1 << 20);
        size_t j;
        const json_t *blk;
        json_array_foreach(c, j, blk) {
            const char *t = json_string_value(json_object_get(blk, "text"));
            if (t)
                buf_add_str(&b, t);
        }
        return buf_take(&b, NULL);
    }
    return xstrdup("");
}

/* The answer of a turn the store saved under a key whose run died before it marked the key done
 * (the crash window between the two writes): its session's header and last reply, so the retry
 * gets the reply (with any ticket number in it) instead of running the turn again. NULL with err
 * when the session cannot be read. */
static json_t *saved_answer(struct agent *a, const char *sid, struct err *err)
{
    json_t *session = NULL, *msgs = NULL, *out = NULL;
    if (store_session_get(a->store, sid, &session, err) < 0 ||
        store_history_recent(a->store, sid, 1, &msgs, err) < 0)
        goto done;
    char *reply = last_assistant_text(msgs);
    const char *status = json_string_value(json_object_get(session, "status"));
    out = json_pack("{s:s, s:I, s:s, s:[], s:s}", "sessionId", sid, "turn",
                    json_integer_value(json_object_get(session, "turns")), "reply", reply,
                    "actions", "status", status ? status : "active");
    free(reply);
done:
    json_decref(session);
    json_decref(msgs);
    return out;
}

json_t *turn_run_idempotent(struct agent *a, const char *key, const char *body, size_t len,
                            const json_t *request, int *replayed, struct err *err)
{
    *replayed = 0;
    if (!key)
        return turn_run(a, request, err);
    size_t n = strlen(key);
    int ok = n >= 1 && n <= 255;
    for (size_t i = 0; ok && i < n; i++)
        ok = key[i] > 0x20 && key[i] < 0x7f;
    if (!ok) {
        err_set(err, "InvalidRequest", "Idempotency-Key must be 1 to 255 visible ASCII characters");
        return NULL;
    }
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)body, len, digest);
    char hash[2 * SHA256_DIGEST_LENGTH + 1];
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
        snprintf(hash + 2 * i, 3, "%02x", digest[i]);
    json_t *earlier = NULL;
    turn_process_id();
    long long now = clock_now_ms();
    int ttl_h = a->cfg && a->cfg->idempotency_ttl_h > 0 ? a->cfg->idempotency_ttl_h : 24;
    int lease_s = a->cfg && a->cfg->idempotency_lease_s > 0 ? a->cfg->idempotency_lease_s : 300;
    struct store_idem_claim claim_req = {.key = key,
                                         .hash = hash,
                                         .owner = turn_owner,
                                         .now_ms = now,
                                         .lease_until_ms = now + lease_s * 1000LL,
                                         .expires_ms = now + ttl_h * 3600000LL,
                                         .owner_gone = owner_gone};
    int taken_over = 0;
    int claim = store_idem_claim(a->store, &claim_req, &earlier, &taken_over, err);
    if (claim < 0)
        return NULL;
    if (taken_over)
        log_at(LL_INFO, "turn", "took over Idempotency-Key '%.64s' from a gone or late process",
               key);
    if (claim == 1) {
        *replayed = 1;
        return earlier;
    }
    /* A turn that opens a session gets an id derived from the key and body, so a run after a
     * takeover reopens the same session and its actions keep their keys (sessionId:toolUseId):
     * a ticket the crashed run created is found, not created again. */
    char sid[23];
    key_session_id(key, hash, sid);
    json_t *out = run_turn(a, request, sid, key, err);
    if (!out && taken_over && strcmp(err->code, "Conflict") == 0 &&
        !json_object_get(request, "sessionId")) {
        /* The crashed run saved this key's new session but died before finishing the key. */
        struct err e3;
        err_clear(&e3);
        out = saved_answer(a, sid, &e3);
        if (out) {
            err_clear(err);
            log_at(LL_INFO, "turn",
                   "Idempotency-Key '%.64s': answered from the turn saved before "
                   "a crash",
                   key);
        }
    }
    struct err e2;
    if (!out) {
        if (store_idem_abort(a->store, key, &e2) < 0)
            log_at(LL_WARN, "turn", "cannot release Idempotency-Key: %s", e2.message);
        return NULL;
    }
    /* Normally SaveConversation finished the key with the turn; an answer that did not come
     * through it (one read back after a crash) finishes it here. */
    int done = json_is_true(json_object_get(out, AGENT_KEY_DONE));
    json_object_del(out, AGENT_KEY_DONE);
    if (!done && store_idem_finish(a->store, key, out, &e2) < 0)
        log_at(LL_WARN, "turn", "cannot store the response of an Idempotency-Key: %s", e2.message);
    return out;
}
