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

/* The http_handler_fn of the API; ud is the struct app. */
void api_handle(void *ud, struct http_request *req, struct http_response *resp);


#endif
