/*
 * api.h - the HTTP API of `parley serve`: routes, content negotiation, error mapping.
 *
 *   POST /chat               one turn (turn.h)
 *   GET  /sessions/{id}      the transcript
 *   GET  /tickets/{id}       one ticket
 *   GET  /health             liveness and the adapters in use
 * Errors are {"error": {"code", "message"}} with 400/404/405/413/415 (and 5xx for our faults).
 */
#ifndef PARLEY_API_H
#define PARLEY_API_H

#include "agent/agent.h"
#include "http/server.h"

#define API_MAX_BODY (64 * 1024) /* request bodies above this get 413 */

struct app;
struct api;

/* Builds the API over an opened app (borrowed; it must outlive the API): the customer-token
 * verifier from PARLEY_USER_JWT_SECRET / PARLEY_USER_JWT_PUBLIC_KEY (docs/identity.md). Returns
 * the API or NULL with err "InvalidConfig" (an unreadable key). Free with api_free(). */
struct api *api_new(struct app *rt, struct err *err);

/* Frees the API. NULL is a no-op. */
void api_free(struct api *api);

/* 1 in local demo mode (no customer-token key: a body userId is trusted), 0 when customers are
 * verified. */
int api_demo_mode(const struct api *api);

/* The http_defer_fn of the API: 1 for the requests that would wait (POST /chat: a turn and its
 * model and tool calls), which the server runs as scheduler tasks; every other route is cheap
 * (health, metrics, static pages, a session's transcript) and runs inline. */
int api_would_wait(void *ud, const struct http_request *req);

/* The http_handler_fn of the API; ud is the struct api. */
void api_handle(void *ud, struct http_request *req, struct http_response *resp);

#endif
