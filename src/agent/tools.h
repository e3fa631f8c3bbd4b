/*
 * tools.h - the tool registry: what the model may call, each tool with a JSON Schema for its input.
 *
 * tools_new() compiles every schema once; a registry is immutable afterwards, so request threads
 * share it. tools_run() is the only way a tool runs: the name must be registered, the input must
 * validate against the tool's schema, and the tool acts for the session's own user only (another
 * user's ticket or order is "not found", exactly like a missing one, so ids cannot be probed).
 * Results are JSON (new reference) that goes back to the model as a tool_result; failures return
 * NULL with err: "UnknownTool", "InvalidInput" (every schema violation listed), "NotFound",
 * "ToolFailed" or a store error.
 *
 * Tools come in kinds, each behind one ops table (run, free): "builtin" (the seven tools compiled
 * in), "http" (the team's own HTTP backends, tool_http.h), "openapi" (operations of an OpenAPI 3
 * document, turned into http tools, tool_openapi.h) and "lambda" (AWS Lambda Invoke,
 * tool_lambda.h) and "mcp" (every tool an MCP server lists, offered as `<server>__<tool>`,
 * tool_mcp.h). Which tools exist comes from the agent document's `tools` object. Each tool also
 * carries a policy: confirm (ask the customer first) and async (run through the AgentActions
 * queue).
 */
#ifndef PARLEY_TOOLS_H
#define PARLEY_TOOLS_H

#include <jansson.h>
#include <stdint.h>

#include "base/err.h"
#include "store/store.h"

struct kb;
struct tools;

struct tool_ctx {
    struct store *store;         /* where effects go (borrowed) */
    const struct kb *kb;         /* knowledge base (borrowed; NULL: search unavailable) */
    const char *session_id;      /* the session the call belongs to */
    const char *user_id;         /* the customer the tool acts for */
    const char *idempotency_key; /* makes effects happen once per action (NULL: none) */
    int64_t deadline_ms;        /* the turn's deadline, wall clock (clock_now_ms); 0: none. HTTP and
                                 * MCP tools wait at most min(their timeout_ms, deadline - now) */
    const char *email;          /* the customer's verified email (a token's claim); NULL: none */
    const char *signing_secret; /* PARLEY_TOOL_SIGNING_SECRET: HTTP tools sign their calls with
                                 * it (NULL or empty: unsigned) */
};

#define TOOLS_MAX 128               /* tools in one registry */
#define TOOLS_EXAMPLES_MAX 100      /* example utterances of one tool */
#define TOOLS_EXAMPLE_MAX_BYTES 500 /* bytes in one example utterance */
#define TOOLS_MCP_SERVERS_MAX 32    /* entries in tools.mcp */

/* Builds the registry. kb may be NULL, in which case search_knowledge_base is not offered.
 * tools_section is the agent document's `tools` object (borrowed, nothing kept): "builtin" (an
 * array of built-in names, or true/false; absent = all), "http", "openapi", "lambda" and "mcp"
 * (arrays of entries, see docs/agent-file.md). NULL = every built-in, exactly as before agent
 * files existed. MCP servers are started and their tools listed here (tool_mcp.h): a server that
 * cannot be reached fails the build with its MCP code ("McpUnavailable", "McpTimeout", ...) and a
 * message naming the entry and the server, unless the entry says "optional": true, in which case
 * a warning is logged and its tools are absent until the registry is built again (a reload). An
 * MCP tool whose inputSchema our schema compiler refuses is skipped with a warning naming it.
 * Returns the registry, or NULL with err "ToolConfig" (a bad entry, named by its location such
 * as `/tools/http/0`), "InvalidSchema", "DuplicateTool" (naming both tools) or "AwsConfig". */
struct tools *tools_new(const struct kb *kb, const json_t *tools_section, struct err *err);
void tools_free(struct tools *t); /* NULL ok */

/* The specs offered to the model: [{name, description, input_schema}]. Borrowed, immutable. */
const json_t *tools_specs(const struct tools *t);

/* Validates input against the named tool's schema, then runs it. */
json_t *tools_run(const struct tools *t, const struct tool_ctx *ctx, const char *name,
                  const json_t *input, struct err *err);

/* Like tools_run, but a tool whose backend answered with an error (an HTTP tool's 4xx/5xx, a
 * Lambda function error) returns that answer as {"error":{"code","message",...details}} (new
 * reference) with *is_error = 1 and err filled too, so the caller can show the model the details.
 * Every other failure returns NULL with err, as tools_run. */
json_t *tools_call(const struct tools *t, const struct tool_ctx *ctx, const char *name,
                   const json_t *input, int *is_error, struct err *err);

/* Validation alone (used before queueing an action). */
int tools_validate(const struct tools *t, const char *name, const json_t *input, struct err *err);

/* The tools that carry example utterances: [{"name","description","input_schema","examples":[...]}]
 * (borrowed, immutable; empty when none do; built-ins have none). For model_offline_train(). */
const json_t *tools_examples(const struct tools *t);

/* Every registered tool as `parley agent show` prints it: [{"name", "kind", "from" (where it
 * comes from: "builtin 'x'", "/tools/http/0", "/tools/mcp/0 (tool 'x')", ...), "description",
 * "input_schema", "confirm", "async"}]. New reference; holds no secrets (no urls or headers). */
json_t *tools_describe(const struct tools *t);

/* The policy of the named tool: *confirm = 1 when the customer must say yes first, *async = 1 when
 * the call goes through the AgentActions queue (when there is one). Built-ins report confirm 0 and
 * async 1 (they have always used the queue). Returns 0, or -1 for an unknown name (both 0). */
int tools_policy(const struct tools *t, const char *name, int *confirm, int *async);

/* The number of "optional": true MCP servers that could not be reached when the registry was
 * built (their tools are absent). `parley serve` retries them by rebuilding the agent (a reload)
 * with backoff until this is 0. NULL: 0. */
int tools_mcp_down(const struct tools *t);

#endif
