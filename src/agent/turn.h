/*
 * turn.h - the request handler of the seed: validate a POST /chat body, open or create the
 * session, run the turn workflow (LoadContext → model → CheckForActions → ExecuteAction →
 * SaveAndReturn) and shape the reply.
 */
#ifndef PARLEY_TURN_H
#define PARLEY_TURN_H

#include <stddef.h>

#include <jansson.h>

#include "agent/agent.h"
#include "base/err.h"

#define TURN_MESSAGE_MAX_CHARS 8000 /* code points in "message" */
#define TURN_USER_ID_MAX 128        /* bytes in "userId" */

/* Parses and validates a /chat body: UTF-8, JSON object, {"message": 1..8000 chars,
 * "sessionId"?: [A-Za-z0-9_-]{1,64}, "userId"?: string}, no other fields. Returns the object (new
 * ref) or NULL with err: "InvalidUtf8", "MalformedJson", "InvalidRequest". */
json_t *turn_parse_request(const char *body, size_t len, struct err *err);

/* Checks a session id against [A-Za-z0-9_-]{1,64}. Returns 1 when it matches. */
int turn_session_id_valid(const char *id);

/* Runs one turn for a validated request. Returns the response {"sessionId","turn","reply",
 * "actions"} (new ref) or NULL with err ("NotFound" for an unknown session, model and store
 * errors otherwise). */
json_t *turn_run(struct agent *a, const json_t *request, struct err *err);

/* Runs one turn at most once per idempotency key. key may be NULL (an ordinary turn). A key is
 * 1..255 visible ASCII characters ("InvalidRequest" otherwise); body[0..len) is the raw request
 * body, whose SHA-256 must match the first request with that key ("IdempotencyMismatch"); while
 * that first request runs, others get "Conflict" - unless its process is gone or its lease
 * (PARLEY_IDEMPOTENCY_LEASE_S) ended: then the retry takes the key over and runs the turn again
 * (actions are exactly-once by their own keys). A finished key returns the first response again
 * and sets *replayed, for PARLEY_IDEMPOTENCY_TTL_H hours. request is borrowed. */
/* This process's start id: 32 random hex digits, fixed on first call (app open calls it). A
 * claimed Idempotency-Key records it with the host name and pid, so that a retry after a restart
 * takes over a key whose process died instead of answering "Conflict" for ever. */
const char *turn_process_id(void);

json_t *turn_run_idempotent(struct agent *a, const char *key, const char *body, size_t len,
                            const json_t *request, int *replayed, struct err *err);

#endif
