/*
 * tool_http.h - a tool that is one of the team's own HTTP endpoints (an agent file's tools.http
 * entry, or an OpenAPI operation turned into one).
 *
 * The input goes as the JSON body (POST, PUT, PATCH) or as query parameters (GET, DELETE); each
 * `{field}` in the url is filled from the input, percent-encoded, and the field is then left out of
 * the body or query. Every call carries Content-Type: application/json, Idempotency-Key (the
 * action's key, stable across retries), X-Parley-Session and, when PARLEY_TOOL_SIGNING_SECRET is
 * set, X-Parley-Timestamp and X-Parley-Signature: v1=<hex HMAC-SHA256(secret, ts + "." + body)>
 * (docs/agent-file.md explains how a backend verifies it). A 2xx JSON reply is the tool's result.
 * Error messages name the tool and the url as written in the agent file, without its query, so
 * secrets expanded into the url or headers never appear in them.
 */
#ifndef PARLEY_TOOL_HTTP_H
#define PARLEY_TOOL_HTTP_H

#include <jansson.h>

#include "agent/tools.h"
#include "base/err.h"

#define TOOL_HTTP_REPLY_MAX (1u << 20)     /* bytes in a reply: more is "ToolTooLarge" */
#define TOOL_HTTP_TIMEOUT_DEFAULT_MS 10000 /* per attempt, when timeout_ms is absent */
#define TOOL_HTTP_TIMEOUT_MAX_MS 120000    /* largest timeout_ms accepted */
#define TOOL_HTTP_RETRIES_DEFAULT 2        /* retries when "retries" is absent */
#define TOOL_HTTP_RETRIES_MAX 5            /* largest "retries" accepted */
#define TOOL_HTTP_ERROR_BODY_MAX 2000      /* bytes of an error reply shown to the model */
#define TOOL_HTTP_HEADERS_MAX 32           /* entries in "headers" */
#define TOOL_HTTP_URL_MAX 4096             /* bytes in a url, expanded or filled */

struct tool_http;
struct http_client;

/* ---- Lifecycle ------------------------------------------------------------------------------ */

/* Compiles one entry (borrowed; nothing kept): "name", "url" (http:// or https://), "method"
 * (GET, POST, PUT, PATCH, DELETE; default POST), "headers" (object of strings), "timeout_ms"
 * (1..120000), "retries" (0..5) and "query" (names of input fields always sent as query
 * parameters, whatever the method; OpenAPI uses it). `${VAR}` in url and header values expands
 * from the environment (an unset variable is an error). where names the entry in messages
 * ("/tools/http/0"). client is borrowed and must outlive the tool. Returns the tool, or NULL
 * with err "ToolConfig". */
struct tool_http *tool_http_new(const json_t *entry, const char *where, struct http_client *client,
                                struct err *err);

/* Frees the tool; NULL is a no-op. */
void tool_http_free(struct tool_http *h);

/* ---- Calls ---------------------------------------------------------------------------------- */

/* Calls the endpoint with input (an object, already validated). Returns the reply JSON (new
 * reference) and *is_error = 0 on a 2xx JSON reply (an empty 2xx reply gives {"status": N}). A
 * non-2xx reply returns {"error":{"code":"ToolHttpStatus","message","status","body"(truncated)}}
 * with *is_error = 1 and err set. Other failures return NULL with err: "ToolTimeout",
 * "ToolTooLarge" (reply over 1 MB), "ToolBadReply" (not JSON), "ToolUnreachable" or
 * "InvalidInput" (a url field missing). Retries 429, 5xx and timeouts only for GET/PUT/DELETE or
 * when an Idempotency-Key is sent. A call is bounded by timeout_ms and by ctx->deadline_ms (the
 * turn's deadline: the smaller wins, and a call cut by the deadline is not retried; past the
 * deadline it is not made, "ToolTimeout"). */
json_t *tool_http_run(const struct tool_http *h, const struct tool_ctx *ctx, const json_t *input,
                      int *is_error, struct err *err);

/* ---- Helpers -------------------------------------------------------------------------------- */

/* Writes the lower-case hex HMAC-SHA256 of "<ts>.<body>" under secret into out[65]: the value
 * after "v1=" in X-Parley-Signature. */
void tool_http_signature(const char *secret, const char *ts, const char *body, size_t body_len,
                         char out[65]);

/* Expands `${NAME}` (NAME = [A-Za-z_][A-Za-z0-9_]*) from the environment in s; the values are not
 * expanded again. Returns a new string, or NULL with err "ToolConfig" naming where and the unset
 * variable (never its value). */
char *tool_http_expand_env(const char *s, const char *where, struct err *err);

#endif
