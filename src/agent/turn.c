/*
 * turn.c - the request handler: validation, session creation and the turn workflow.
 */
#include "agent/turn.h"

#include <string.h>

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

/* Runs the workflow's states in the seed's order; the ASL engine replaces this loop. */
static json_t *run_pipeline(struct agent *a, json_t *state, struct err *err)
{
    json_t *next = agent_load_context(a, state, err);
    json_decref(state);
    state = next;
    while (state) {
        next = agent_model_inference(a, state, err);
        json_decref(state);
        state = next;
        if (!state || !json_is_true(json_object_get(state, "requiresAction")))
            break;
        next = agent_action_executor(a, state, err);
        json_decref(state);
        state = next;
        if (state && json_integer_value(json_object_get(state, "iterations")) >=
                         a->cfg->max_tool_iterations)
            break;
    }
    if (!state)
        return NULL;
    next = agent_save_conversation(a, state, err);
    json_decref(state);
    return next;
}

json_t *turn_run(struct agent *a, const json_t *request, struct err *err)
{
    const char *sid = json_string_value(json_object_get(request, "sessionId"));
    const char *uid = json_string_value(json_object_get(request, "userId"));
    char fresh[23];
    json_t *state = json_object();
    if (!sid) {
        if (rand_id128(fresh) < 0) {
            json_decref(state);
            err_set(err, "InternalError", "cannot draw a random session id");
            return NULL;
        }
        sid = fresh;
        json_object_set_new(state, "isNew", json_true());
    } else {
        json_object_set_new(state, "isNew", json_false());
    }
    json_object_set_new(state, "sessionId", json_string(sid));
    if (uid) {
        json_object_set_new(state, "userId", json_string(uid));
    } else if (json_is_true(json_object_get(state, "isNew"))) {
        /* An anonymous customer is their session: tools act for "guest:<sessionId>". */
        char *guest = xasprintf("guest:%s", sid);
        json_object_set_new(state, "userId", json_string(guest));
        free(guest);
    }
    json_object_set(state, "message", json_object_get(request, "message"));
    return run_pipeline(a, state, err);
}
