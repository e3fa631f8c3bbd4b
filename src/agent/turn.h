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

#endif
