/*
 * turn.c - the request handler: validation, session creation and the turn workflow.
 */
#include "agent/turn.h"

#include <string.h>

#include <openssl/sha.h>
#include <stdio.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/rand.h"
#include "base/utf8.h"
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
    json_t *req = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
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

json_t *turn_run(struct agent *a, const json_t *request, struct err *err)
{
    const char *sid = json_string_value(json_object_get(request, "sessionId"));
    const char *uid = json_string_value(json_object_get(request, "userId"));
    char fresh[23];
    json_t *state = json_object();
    json_t *out = NULL;
    int64_t t0 = clock_mono_us();
    if (sid) {
        json_object_set_new(state, "isNew", json_false());
        if (open_session(a, state, sid, uid, err) < 0)
            goto done;
    } else {
        if (rand_id128(fresh) < 0) {
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
    json_object_set(state, "message", json_object_get(request, "message"));
    if (!a->workflow) {
        err_set(err, "InternalError", "no turn workflow is configured");
        goto done;
    }
    out = a->workflow(a, state, err);
done:
    json_decref(state);
    AGENT_HOOK(a, on_turn, out, err, (double)(clock_mono_us() - t0) / 1e6);
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
    int claim = store_idem_begin(a->store, key, hash, &earlier, err);
    if (claim < 0)
        return NULL;
    if (claim == 1) {
        *replayed = 1;
        return earlier;
    }
    json_t *out = turn_run(a, request, err);
    struct err e2;
    if (!out) {
        if (store_idem_abort(a->store, key, &e2) < 0)
            log_at(LL_WARN, "turn", "cannot release Idempotency-Key: %s", e2.message);
        return NULL;
    }
    if (store_idem_finish(a->store, key, out, &e2) < 0)
        log_at(LL_WARN, "turn", "cannot store the response of an Idempotency-Key: %s", e2.message);
    return out;
}
