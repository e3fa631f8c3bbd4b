/*
 * mcp.h - Parley as a Model Context Protocol client (protocol 2025-11-25, negotiating 2025-06-18
 * and 2025-03-26 too) over stdio (a child process speaking newline-delimited JSON-RPC) or
 * Streamable HTTP (POST per message, JSON or SSE replies, session ids, resumption with
 * Last-Event-ID after the server's retry delay).
 *
 * One struct mcp_client talks to one server and is shared by every thread: requests carry their
 * own JSON-RPC ids and replies are matched by id. The client connects lazily on first use, runs
 * the initialize handshake, answers the server's pings, caches the tool list (refreshed after
 * notifications/tools/list_changed), sends notifications/cancelled when a caller gives up, and
 * restarts a stdio server that died, with backoff, on the next use.
 *
 * Error codes (struct err): "McpConfig" (bad configuration), "McpUnavailable" (cannot start,
 * connect, or the server died), "McpTimeout" (no reply in time), "McpProtocol" (a reply that
 * breaks the protocol: bad JSON, wrong id, missing fields, over the size cap), "McpVersion" (the
 * server insists on a protocol version we do not speak), "McpToolError" (the server answered a
 * request with a JSON-RPC error). Messages name the server.
 */
#ifndef PARLEY_MCP_H
#define PARLEY_MCP_H

#include <jansson.h>
#include <stddef.h>

#include "base/err.h"

/* ---- Types ---------------------------------------------------------------------------------- */

struct mcp_client;

struct mcp_server_config {
    const char *name;           /* server name, used in messages and tool names */
    const char *const *argv;    /* stdio: NULL-terminated command line (argv[0] via PATH) */
    const char *const *env;     /* stdio: NULL-terminated "NAME=value" added to our env */
    const char *url;            /* Streamable HTTP: the MCP endpoint URL */
    const char *const *headers; /* HTTP: NULL-terminated "Name: value" lines */
    long init_timeout_ms;       /* start + initialize limit; 0 = 10000 */
    long call_timeout_ms;       /* default per-request limit; 0 = 60000 */
    size_t max_message_bytes;   /* cap on one incoming message; 0 = 4 MiB */
};

/* The protocol versions we speak, newest first; we offer the first. */
#define MCP_PROTOCOL_VERSION "2025-11-25"

/* ---- Lifecycle ------------------------------------------------------------------------------ */

/* Returns a new client for cfg (copied; nothing is started yet), or NULL with err "McpConfig"
 * when cfg names neither a command nor a URL, or both. Free with mcp_client_free. */
struct mcp_client *mcp_client_new(const struct mcp_server_config *cfg, struct err *err);

/* Builds a client from an agent-file `tools.mcp[i]` entry: {"name", "command": [argv...],
 * "env": {NAME: value}} or {"name", "url", "headers": {Name: value}}, plus optional
 * "timeout_ms". Returns NULL with err "McpConfig" naming the bad key. */
struct mcp_client *mcp_client_from_json(const json_t *entry, struct err *err);

/* Stops the server (stdio: closes its stdin, then SIGTERM, then SIGKILL) and frees the client.
 * NULL is a no-op. No call may be in flight. */
void mcp_client_free(struct mcp_client *c);

/* Returns the server name given in the configuration (borrowed). */
const char *mcp_client_name(const struct mcp_client *c);

/* ---- Calls ---------------------------------------------------------------------------------- */

/* Sets *tools_out to a new array of {name, description, inputSchema[, outputSchema, title]}, all
 * pages of tools/list merged. Served from a cache until the server announces list_changed or
 * reconnects. Returns 0, or -1 with err (no array is returned). */
int mcp_list_tools(struct mcp_client *c, json_t **tools_out, struct err *err);

/* Calls tool with args (an object, or NULL for {}) and waits at most timeout_ms (0 = the
 * configured default); on timeout sends notifications/cancelled. Sets *result_out to a new
 * object {content, structuredContent?, isError} (isError always present). A result with
 * isError true is still a success (0): the tool ran and failed, the model should see it.
 * Returns -1 with err on protocol, transport or JSON-RPC errors ("McpToolError"). */
int mcp_call_tool(struct mcp_client *c, const char *tool, const json_t *args, long timeout_ms,
                  json_t **result_out, struct err *err);

/* Sends a ping and waits for its empty result: a health check. Returns 0 or -1 with err. */
int mcp_ping(struct mcp_client *c, long timeout_ms, struct err *err);

/* Returns the protocol version the server agreed to ("" before the first successful
 * initialize). Borrowed, valid until the next call on c. */
const char *mcp_client_protocol_version(struct mcp_client *c);

/* Returns how many times the server process has been started (stdio) or initialized (HTTP). */
int mcp_client_starts(struct mcp_client *c);

/* ---- Naming --------------------------------------------------------------------------------- */

/* Returns the name a tool of server is offered to the model under: "<server>__<tool>" with every
 * byte outside [A-Za-z0-9_-] replaced by '_'. When that is longer than 64 bytes it is cut to 55
 * bytes and "_" plus 8 hex digits of a hash of the full "<server>__<tool>" are appended, so
 * distinct long names stay distinct. Never returns an empty name. New string (free()). */
char *mcp_tool_public_name(const char *server, const char *tool);

#endif
