/*
 * tools.h - the tool registry: what the model may call, with a JSON Schema for each input.
 *
 * A tool runs for one session's user only (struct tool_ctx); it returns a JSON result (new
 * reference) or NULL with err set ("NotFound", "InvalidInput", "ToolFailed"). The result goes back
 * to the model as a tool_result block.
 */
#ifndef PARLEY_TOOLS_H
#define PARLEY_TOOLS_H

#include <jansson.h>

#include "base/err.h"
#include "store/store.h"

struct tool_ctx {
    struct store *store;    /* where effects go (borrowed) */
    const char *session_id; /* the session the call belongs to */
    const char *user_id;    /* the customer the tool acts for */
};

typedef json_t *(*tool_fn)(const struct tool_ctx *ctx, const json_t *input, struct err *err);

struct tool {
    const char *name;        /* the name the model uses */
    const char *description; /* shown to the model */
    const char *schema;      /* JSON Schema of the input, as JSON text */
    tool_fn run;             /* the implementation */
};

/* Returns the tool named name, or NULL. */
const struct tool *tools_find(const char *name);

/* Returns the tool specs for a model request: [{name, description, input_schema}] (new ref). */
json_t *tools_specs(void);

/* Checks input against the tool's schema. Returns 0, or -1 with err ("InvalidInput") naming
 * every problem. */
int tools_validate(const struct tool *t, const json_t *input, struct err *err);

#endif
