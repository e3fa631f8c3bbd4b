/*
 * tool_mcp.h - tools served by an MCP server (an agent file's tools.mcp entry), through the MCP
 * client of src/mcp/mcp.h.
 *
 * A tool_mcp_server owns one mcp_client; the registry connects it at load time, lists its tools
 * and makes one tool_mcp per listed tool, offered as mcp_tool_public_name(server, tool). A
 * tool_mcp borrows its server, so the registry frees every tool before the servers. A call sends
 * the validated input as the tool's arguments; the result the model sees is the server's
 * structuredContent when present, otherwise {"text": the text content joined} (plus "content":
 * the non-text items, when there are any). A result with isError true becomes an is_error tool
 * result. A tool the server no longer lists (after notifications/tools/list_changed) fails with
 * the server's JSON-RPC error as "ToolFailed" naming the tool, never a crash.
 */
#ifndef PARLEY_TOOL_MCP_H
#define PARLEY_TOOL_MCP_H

#include <jansson.h>

#include "agent/tools.h"
#include "base/err.h"

#define TOOL_MCP_TEXT_MAX (1u << 20)            /* bytes of text content passed to the model */
#define TOOL_MCP_CALL_TIMEOUT_DEFAULT_MS 60000L /* a call without timeout_ms (the client's own) */

struct tool_mcp_server;
struct tool_mcp;

/* ---- Servers -------------------------------------------------------------------------------- */

/* Makes the client for entry (borrowed; nothing kept) without starting it. where names the entry
 * in messages ("/tools/mcp/0"). Returns the server, or NULL with err "ToolConfig". */
struct tool_mcp_server *tool_mcp_server_new(const json_t *entry, const char *where,
                                            struct err *err);

/* Connects (start + initialize on first use) and sets *tools to a new array of the server's
 * tools {name, description, inputSchema, ...}. Returns 0, or -1 with err keeping the MCP code
 * ("McpUnavailable", "McpTimeout", ...) and a message naming where and the server. */
int tool_mcp_server_list(struct tool_mcp_server *s, const char *where, json_t **tools,
                         struct err *err);

/* The server's name from the agent file (borrowed). */
const char *tool_mcp_server_name(const struct tool_mcp_server *s);

/* Stops the server and frees it; NULL is a no-op. No tool of it may be in use. */
void tool_mcp_server_free(struct tool_mcp_server *s);

/* ---- Tools ---------------------------------------------------------------------------------- */

/* One tool of server s (borrowed; must outlive the tool) named tool on the server and
 * public_name for the model; timeout_ms bounds a call (0: the server entry's timeout_ms or the
 * client's default). Never fails. Free with tool_mcp_free. */
struct tool_mcp *tool_mcp_new(struct tool_mcp_server *s, const char *tool, const char *public_name,
                              long timeout_ms);

/* Frees the tool; NULL is a no-op. */
void tool_mcp_free(struct tool_mcp *m);

/* Calls the tool with input (an object, already validated), bounded by the tool's timeout_ms
 * and by ctx->deadline_ms (the turn's deadline; the smaller wins; a call whose deadline has
 * already passed is not made). On expiry the client sends notifications/cancelled and the call
 * fails with "ToolTimeout". Returns
 * the result (new reference) with *is_error = 0; for a result with isError true, returns
 * {"error":{"code":"ToolFailed","message":text,"details":structuredContent?}} with *is_error = 1
 * and err "ToolFailed". Other failures return NULL with err: "ToolTimeout" (no reply in time),
 * "ToolUnreachable" (the server is down), "ToolFailed" (a JSON-RPC error such as an unknown
 * tool), "ToolBadReply" (a protocol violation). */
json_t *tool_mcp_run(const struct tool_mcp *m, const struct tool_ctx *ctx, const json_t *input,
                     int *is_error, struct err *err);

/* The mapping tool_mcp_run applies to one tools/call result (borrowed): see above. name is the
 * public tool name for messages. Returns a new reference, never NULL. */
json_t *tool_mcp_result(const json_t *result, const char *name, int *is_error, struct err *err);

#endif
