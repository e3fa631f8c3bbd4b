/*
 * tools.c - the registry of tools the model may call, and their implementations.
 */
#include "agent/tools.h"

#include <ctype.h>
#include <string.h>

#include "agent/kb.h"
#include "agent/schema.h"
#include "base/xmalloc.h"

/* ---------------------------------------------------------------- implementations */

typedef json_t *(*tool_fn)(const struct tool_ctx *ctx, const json_t *input, struct err *err);

static const char *in_str(const json_t *input, const char *key)
{
    return json_string_value(json_object_get(input, key));
}

/* The one "not found" a tool gives, whether the thing is missing or belongs to someone else, so
 * the reply never tells which (ids cannot be probed). Keeps other store errors as they are. */
static void not_found(struct err *err, const char *what, const char *id)
{
    if (!err_is_set(err) || strcmp(err->code, "NotFound") == 0)
        err_set(err, "NotFound", "%s %s not found", what, id);
}

/* The public view of a ticket (no owner id). */
static json_t *ticket_view(const json_t *t)
{
    return json_pack("{s:O, s:O, s:O, s:O, s:O}", "ticketId", json_object_get(t, "id"), "status",
                     json_object_get(t, "status"), "title", json_object_get(t, "title"),
                     "priority", json_object_get(t, "priority"), "createdAt",
                     json_object_get(t, "createdAt"));
}

static json_t *tool_create_ticket(const struct tool_ctx *ctx, const json_t *input, struct err *err)
{
    json_t *fields = json_deep_copy(input);
    json_object_set_new(fields, "sessionId", json_string(ctx->session_id));
    json_object_set_new(fields, "userId", json_string(ctx->user_id));
    if (ctx->idempotency_key)
        json_object_set_new(fields, "idempotencyKey", json_string(ctx->idempotency_key));
    json_t *ticket = NULL;
    int rc = STORE_CALL(ctx->store, ticket_create, fields, &ticket, err);
    json_decref(fields);
    if (rc < 0)
        return NULL;
    json_t *result = ticket_view(ticket);
    json_decref(ticket);
    return result;
}

static json_t *tool_ticket_status(const struct tool_ctx *ctx, const json_t *input, struct err *err)
{
    const char *id = in_str(input, "ticket_id");
    json_t *ticket = NULL;
    err_clear(err);
    if (STORE_CALL(ctx->store, ticket_get, id, &ticket, err) < 0) {
        not_found(err, "ticket", id);
        return NULL;
    }
    const char *owner = in_str(ticket, "userId");
    if (!owner || strcmp(owner, ctx->user_id) != 0) {
        json_decref(ticket);
        err_clear(err);
        not_found(err, "ticket", id);
        return NULL;
    }
    json_t *result = ticket_view(ticket);
    json_decref(ticket);
    return result;
}

static json_t *tool_list_tickets(const struct tool_ctx *ctx, const json_t *input, struct err *err)
{
    (void)input;
    json_t *list = NULL;
    if (STORE_CALL(ctx->store, tickets_list, ctx->user_id, 20, &list, err) < 0)
        return NULL;
    json_t *views = json_array();
    size_t i;
    json_t *t;
    json_array_foreach(list, i, t) json_array_append_new(views, ticket_view(t));
    json_decref(list);
    return json_pack("{s:o, s:i}", "tickets", views, "count", (int)json_array_size(views));
}

static json_t *tool_lookup_order(const struct tool_ctx *ctx, const json_t *input, struct err *err)
{
    /* Accept "1042", "#1042" and "ORD-1042": the digits are the id. */
    const char *raw = in_str(input, "order_id");
    char id[32];
    size_t n = 0;
    for (const char *p = raw; *p && n + 1 < sizeof id; p++)
        if (isdigit((unsigned char)*p))
            id[n++] = *p;
    id[n] = '\0';
    json_t *order = NULL;
    err_clear(err);
    if (STORE_CALL(ctx->store, order_get, id, &order, err) < 0) {
        not_found(err, "order", raw);
        return NULL;
    }
    const char *owner = in_str(order, "userId");
    if (!owner || strcmp(owner, ctx->user_id) != 0) {
        json_decref(order);
        err_clear(err);
        not_found(err, "order", raw);
        return NULL;
    }
    json_object_del(order, "userId");
    return order;
}

static json_t *tool_search_kb(const struct tool_ctx *ctx, const json_t *input, struct err *err)
{
    if (!ctx->kb) {
        err_set(err, "ToolFailed", "the knowledge base is not loaded");
        return NULL;
    }
    return kb_search_json(ctx->kb, in_str(input, "query"), 3, err);
}

/* The hand-over itself is part of the turn: SaveConversation sets the session's status to
 * "handoff" in the same transaction as the turn's messages. */
static json_t *tool_escalate(const struct tool_ctx *ctx, const json_t *input, struct err *err)
{
    (void)ctx;
    (void)err;
    const char *reason = in_str(input, "reason");
    return json_pack("{s:s, s:s, s:s}", "status", "handoff", "reason", reason, "message",
                     "A human agent has been asked to join this conversation.");
}

static json_t *tool_action_status(const struct tool_ctx *ctx, const json_t *input, struct err *err)
{
    const char *id = in_str(input, "action_id");
    json_t *rec = NULL;
    err_clear(err);
    if (STORE_CALL(ctx->store, action_get, id, &rec, err) < 0) {
        not_found(err, "action", id);
        return NULL;
    }
    const char *owner = in_str(rec, "userId");
    if (!owner || strcmp(owner, ctx->user_id) != 0) {
        json_decref(rec);
        err_clear(err);
        not_found(err, "action", id);
        return NULL;
    }
    json_t *out = json_pack("{s:O, s:O, s:O, s:O}", "actionId", json_object_get(rec, "id"),
                            "tool", json_object_get(rec, "tool"), "status",
                            json_object_get(rec, "status"), "result",
                            json_object_get(rec, "result"));
    json_decref(rec);
    return out;
}

/* ---------------------------------------------------------------- registry */

struct tool_def {
    const char *name;        /* the name the model uses */
    const char *description; /* shown to the model */
    const char *schema;      /* JSON Schema of the input */
    tool_fn run;             /* the implementation */
    int needs_kb;            /* offered only with a knowledge base */
};

static const struct tool_def defs[] = {
    {"create_support_ticket",
     "Create a support ticket for the customer's problem. Ask for the customer's email address "
     "first if you do not have it.",
     "{\"type\":\"object\",\"properties\":{"
     "\"title\":{\"type\":\"string\",\"minLength\":3,\"maxLength\":200},"
     "\"description\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":4000},"
     "\"priority\":{\"type\":\"string\",\"enum\":[\"low\",\"medium\",\"high\",\"urgent\"]},"
     "\"email\":{\"type\":\"string\",\"maxLength\":254,\"format\":\"email\"}},"
     "\"required\":[\"title\",\"description\",\"priority\",\"email\"],"
     "\"additionalProperties\":false}",
     tool_create_ticket, 0},
    {"get_ticket_status",
     "Look up the status of one of the customer's support tickets by its id (like TKT-000042).",
     "{\"type\":\"object\",\"properties\":{"
     "\"ticket_id\":{\"type\":\"string\",\"pattern\":\"^[Tt][Kk][Tt]-[0-9]{1,12}$\"}},"
     "\"required\":[\"ticket_id\"],\"additionalProperties\":false}",
     tool_ticket_status, 0},
    {"list_my_tickets", "List the customer's support tickets, newest first.",
     "{\"type\":\"object\",\"properties\":{},\"additionalProperties\":false}", tool_list_tickets,
     0},
    {"lookup_order",
     "Look up one of the customer's orders by its order number: status, items and shipping.",
     "{\"type\":\"object\",\"properties\":{"
     "\"order_id\":{\"type\":\"string\",\"pattern\":\"^(#|ORD-|ord-)?[0-9]{1,12}$\"}},"
     "\"required\":[\"order_id\"],\"additionalProperties\":false}",
     tool_lookup_order, 0},
    {"search_knowledge_base",
     "Search the help-center articles (account access, passwords, billing, refunds, shipping, "
     "returns, ...) and return the best passages with their source article.",
     "{\"type\":\"object\",\"properties\":{"
     "\"query\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":1000}},"
     "\"required\":[\"query\"],\"additionalProperties\":false}",
     tool_search_kb, 1},
    {"escalate_to_human",
     "Hand the conversation to a human support agent. Use when the customer asks for a person or "
     "when you cannot resolve the problem.",
     "{\"type\":\"object\",\"properties\":{"
     "\"reason\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":1000}},"
     "\"required\":[\"reason\"],\"additionalProperties\":false}",
     tool_escalate, 0},
    {"get_action_status",
     "Check on an action that was still running (pending) when you last replied, by its id.",
     "{\"type\":\"object\",\"properties\":{"
     "\"action_id\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":128}},"
     "\"required\":[\"action_id\"],\"additionalProperties\":false}",
     tool_action_status, 0},
};

#define NDEFS (sizeof defs / sizeof defs[0])

struct tools {
    struct schema *schemas[NDEFS]; /* compiled input schemas, by defs index */
    int offered[NDEFS];            /* 1 when the tool is available */
    json_t *specs;                 /* what the model sees */
};

struct tools *tools_new(const struct kb *kb, struct err *err)
{
    struct tools *t = xcalloc(1, sizeof *t);
    t->specs = json_array();
    for (size_t i = 0; i < NDEFS; i++) {
        json_error_t jerr;
        json_t *schema = json_loads(defs[i].schema, 0, &jerr);
        t->schemas[i] = schema ? schema_compile(schema, err) : NULL;
        if (!t->schemas[i]) {
            if (!schema)
                err_set(err, "InvalidSchema", "tool '%s': %s", defs[i].name, jerr.text);
            json_decref(schema);
            tools_free(t);
            return NULL;
        }
        t->offered[i] = !defs[i].needs_kb || kb != NULL;
        if (t->offered[i])
            json_array_append_new(t->specs, json_pack("{s:s, s:s, s:O}", "name", defs[i].name,
                                                      "description", defs[i].description,
                                                      "input_schema", schema));
        json_decref(schema);
    }
    return t;
}

void tools_free(struct tools *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < NDEFS; i++)
        schema_free(t->schemas[i]);
    json_decref(t->specs);
    free(t);
}

const json_t *tools_specs(const struct tools *t)
{
    return t->specs;
}

static int find(const struct tools *t, const char *name, struct err *err)
{
    for (size_t i = 0; name && i < NDEFS; i++)
        if (t->offered[i] && strcmp(defs[i].name, name) == 0)
            return (int)i;
    return err_set(err, "UnknownTool", "no tool named '%s'; use one of the tools listed",
                   name ? name : "");
}

int tools_validate(const struct tools *t, const char *name, const json_t *input, struct err *err)
{
    int i = find(t, name, err);
    if (i < 0)
        return -1;
    return schema_validate(t->schemas[i], input, err);
}

json_t *tools_run(const struct tools *t, const struct tool_ctx *ctx, const char *name,
                  const json_t *input, struct err *err)
{
    if (tools_validate(t, name, input, err) < 0)
        return NULL;
    return defs[find(t, name, err)].run(ctx, input, err);
}
