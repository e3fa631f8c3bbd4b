/*
 * chat_stream.h - POST /chat with `Accept: text/event-stream`: the turn runs as a scheduler task
 * of its own while the connection streams Server-Sent Events as they happen:
 *   event: delta   data: {"text": "..."}                 reply text as the model writes it
 *   event: action  data: {"id","tool","input","status","result"}   each tool call when done
 *   event: done    data: the same JSON object as the non-streaming reply
 *   event: error   data: {"error": {"code","message"}}  the turn failed (no done event follows)
 */
#ifndef PARLEY_CHAT_STREAM_H
#define PARLEY_CHAT_STREAM_H

#include <jansson.h>

#include "agent/agent.h"
#include "http/server.h"

struct sched;
struct trace_ctx;

/* Starts the turn for a validated request (stolen reference) as a task of sched and sets resp up
 * to stream it. On success the stream takes over seg (the request's trace segment) and ends it
 * when the turn ends. Returns 0, or -1 with err "ServiceUnavailable" when the scheduler is
 * stopping (seg untouched, the request reference stays the caller's). */
int chat_stream_start(struct agent *a, struct sched *sched, json_t *request, struct trace_ctx *seg,
                      struct http_response *resp, struct err *err);

/* Waits until every streaming turn task has finished (call after the HTTP server stopped and
 * before freeing the agent's store and model). */
void chat_stream_drain(void);

#endif
