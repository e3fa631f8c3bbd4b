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
 */
#ifndef PARLEY_TOOLS_H
#define PARLEY_TOOLS_H

#include <jansson.h>

#include "base/err.h"
#include "store/store.h"

struct kb;
struct tools;

struct tool_ctx {
    struct store *store;    /* where effects go (borrowed) */
    const struct kb *kb;    /* knowledge base (borrowed; NULL: search unavailable) */
    const char *session_id; /* the session the call belongs to */
    const char *user_id;    /* the customer the tool acts for */
    const char *idempotency_key; /* makes effects happen once per action (NULL: none) */
};

/* Builds the registry. kb may be NULL, in which case search_knowledge_base is not offered. */
struct tools *tools_new(const struct kb *kb, struct err *err);
void tools_free(struct tools *t); /* NULL ok */

/* The specs offered to the model: [{name, description, input_schema}]. Borrowed, immutable. */
const json_t *tools_specs(const struct tools *t);

/* Validates input against the named tool's schema, then runs it. */
json_t *tools_run(const struct tools *t, const struct tool_ctx *ctx, const char *name,
                  const json_t *input, struct err *err);

/* Validation alone (used before queueing an action). */
int tools_validate(const struct tools *t, const char *name, const json_t *input, struct err *err);

#endif
