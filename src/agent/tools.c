/*
 * tools.c - the registry of tools the model may call, the built-in tools' implementations, and
 * the one ops table per kind of tool (builtin, http, lambda, mcp; openapi entries become http
 * tools).
 */
#include "agent/tools.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "agent/kb.h"
#include "agent/schema.h"
#include "agent/tool_http.h"
#include "agent/tool_lambda.h"
#include "agent/tool_mcp.h"
#include "agent/tool_openapi.h"
#include "aws/aws.h"
#include "base/log.h"
#include "base/xmalloc.h"
#include "http/client.h"
#include "mcp/mcp.h"

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
                     json_object_get(t, "status"), "title", json_object_get(t, "title"), "priority",
                     json_object_get(t, "priority"), "createdAt", json_object_get(t, "createdAt"));
}

static json_t *tool_create_ticket(const struct tool_ctx *ctx, const json_t *input, struct err *err)
{
    json_t *fields = json_deep_copy(input);
    json_object_set_new(fields, "sessionId", json_string(ctx->session_id));
    json_object_set_new(fields, "userId", json_string(ctx->user_id));
    /* A verified email (the customer's token) wins over whatever the model passed, so a prompt
     * cannot open a ticket in someone else's name. */
    if (ctx->email && ctx->email[0])
        json_object_set_new(fields, "email", json_string(ctx->email));
    if (ctx->idempotency_key)
        json_object_set_new(fields, "idempotencyKey", json_string(ctx->idempotency_key));
    json_t *ticket = NULL;
    int rc = store_ticket_create(ctx->store, fields, &ticket, err);
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
    if (store_ticket_get(ctx->store, id, &ticket, err) < 0) {
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
    if (store_tickets_list(ctx->store, ctx->user_id, 20, &list, err) < 0)
        return NULL;
    json_t *views = json_array();
    size_t i;
    json_t *t;
    json_array_foreach(list, i, t)
        json_array_append_new(views, ticket_view(t));
    json_decref(list);
    return json_pack("{s:o, s:i}", "tickets", views, "count", (int)json_array_size(views));
}

/* Replaces the number at obj[key] with a fixed two-decimal string ("89.99", "14.50"): a binary
 * double printed in full is 89.98999999999999, which no customer should read. */
static void money_fixed(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (json_is_number(v)) {
        char txt[48];
        snprintf(txt, sizeof txt, "%.2f", json_number_value(v));
        json_object_set_new(obj, key, json_string(txt));
    }
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
    if (store_order_get(ctx->store, id, &order, err) < 0) {
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
    money_fixed(order, "total");
    size_t i;
    json_t *item;
    json_array_foreach(json_object_get(order, "items"), i, item)
        money_fixed(item, "price");
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
    if (store_action_get(ctx->store, id, &rec, err) < 0) {
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
    json_t *out = json_pack("{s:O, s:O, s:O, s:O}", "actionId", json_object_get(rec, "id"), "tool",
                            json_object_get(rec, "tool"), "status", json_object_get(rec, "status"),
                            "result", json_object_get(rec, "result"));
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
    int read_only;           /* changes nothing: runs inline in the turn, never through the queue */
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
     tool_create_ticket, 0, 0},
    {"get_ticket_status",
     "Look up the status of one of the customer's support tickets by its id (like TKT-000042).",
     "{\"type\":\"object\",\"properties\":{"
     "\"ticket_id\":{\"type\":\"string\",\"pattern\":\"^[Tt][Kk][Tt]-[0-9]{1,12}$\"}},"
     "\"required\":[\"ticket_id\"],\"additionalProperties\":false}",
     tool_ticket_status, 0, 1},
    {"list_my_tickets", "List the customer's support tickets, newest first.",
     "{\"type\":\"object\",\"properties\":{},\"additionalProperties\":false}", tool_list_tickets, 0,
     1},
    {"lookup_order",
     "Look up one of the customer's orders by its order number: status, items and shipping.",
     "{\"type\":\"object\",\"properties\":{"
     "\"order_id\":{\"type\":\"string\",\"pattern\":\"^(#|ORD-|ord-)?[0-9]{1,12}$\"}},"
     "\"required\":[\"order_id\"],\"additionalProperties\":false}",
     tool_lookup_order, 0, 1},
    {"search_knowledge_base",
     "Search the help-center articles (account access, passwords, billing, refunds, shipping, "
     "returns, ...) and return the best passages with their source article.",
     "{\"type\":\"object\",\"properties\":{"
     "\"query\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":1000}},"
     "\"required\":[\"query\"],\"additionalProperties\":false}",
     tool_search_kb, 1, 1},
    {"escalate_to_human",
     "Hand the conversation to a human support agent. Use when the customer asks for a person or "
     "when you cannot resolve the problem.",
     "{\"type\":\"object\",\"properties\":{"
     "\"reason\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":1000}},"
     "\"required\":[\"reason\"],\"additionalProperties\":false}",
     tool_escalate, 0, 0},
    {"get_action_status",
     "Check on an action that was still running (pending) when you last replied, by its id.",
     "{\"type\":\"object\",\"properties\":{"
     "\"action_id\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":128}},"
     "\"required\":[\"action_id\"],\"additionalProperties\":false}",
     tool_action_status, 0, 1},
};

#define NDEFS (sizeof defs / sizeof defs[0])

/* ---------------------------------------------------------------- kinds */

/* One kind of tool: how its tools run and are freed. ud is the tool's own state. */
struct tool_kind {
    const char *name; /* "builtin", "http", "lambda" */
    json_t *(*run)(const void *ud, const struct tool_ctx *ctx, const json_t *input, int *is_error,
                   struct err *err);
    void (*free)(void *ud);
};

static json_t *builtin_run(const void *ud, const struct tool_ctx *ctx, const json_t *input,
                           int *is_error, struct err *err)
{
    *is_error = 0;
    return ((const struct tool_def *)ud)->run(ctx, input, err);
}

static void builtin_free(void *ud)
{
    (void)ud; /* a row of the static table */
}

static json_t *http_run(const void *ud, const struct tool_ctx *ctx, const json_t *input,
                        int *is_error, struct err *err)
{
    return tool_http_run(ud, ctx, input, is_error, err);
}

static void http_free(void *ud)
{
    tool_http_free(ud);
}

static json_t *lambda_run(const void *ud, const struct tool_ctx *ctx, const json_t *input,
                          int *is_error, struct err *err)
{
    return tool_lambda_run(ud, ctx, input, is_error, err);
}

static void lambda_free(void *ud)
{
    tool_lambda_free(ud);
}

static json_t *mcp_run(const void *ud, const struct tool_ctx *ctx, const json_t *input,
                       int *is_error, struct err *err)
{
    return tool_mcp_run(ud, ctx, input, is_error, err);
}

static void mcp_free(void *ud)
{
    tool_mcp_free(ud);
}

static const struct tool_kind kind_builtin = {"builtin", builtin_run, builtin_free};
static const struct tool_kind kind_http = {"http", http_run, http_free};
static const struct tool_kind kind_lambda = {"lambda", lambda_run, lambda_free};
static const struct tool_kind kind_mcp = {"mcp", mcp_run, mcp_free};

/* ---------------------------------------------------------------- registry */

struct tool {
    char *name;                   /* the name the model uses */
    char *where;                  /* where it comes from, for messages ("/tools/http/0") */
    struct schema *schema;        /* compiled input schema */
    const struct tool_kind *kind; /* how it runs */
    void *ud;                     /* the kind's state for this tool (owned via kind->free) */
    int confirm;                  /* ask the customer first */
    int async;                    /* through the AgentActions queue */
};

struct tools {
    struct tool list[TOOLS_MAX]; /* registered tools, in the order offered */
    size_t n;                    /* number of tools */
    json_t *specs;               /* what the model sees */
    json_t *examples;            /* tools with example utterances */
    struct http_client *http;    /* shared by http tools (NULL until one exists) */
    struct aws_client *aws;      /* shared by lambda tools (NULL until one exists) */
    struct tool_mcp_server *mcp[TOOLS_MCP_SERVERS_MAX]; /* servers the mcp tools borrow */
    size_t n_mcp;                                       /* number of servers */
    int mcp_down; /* optional MCP servers that could not be reached */
};

void tools_free(struct tools *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++) {
        free(t->list[i].name);
        free(t->list[i].where);
        schema_free(t->list[i].schema);
        if (t->list[i].ud)
            t->list[i].kind->free(t->list[i].ud);
    }
    for (size_t i = 0; i < t->n_mcp; i++) /* after their tools, which borrow them */
        tool_mcp_server_free(t->mcp[i]);
    json_decref(t->specs);
    json_decref(t->examples);
    http_client_free(t->http);
    aws_client_free(t->aws);
    free(t);
}

static const struct tool *lookup(const struct tools *t, const char *name)
{
    for (size_t i = 0; name && i < t->n; i++)
        if (strcmp(t->list[i].name, name) == 0)
            return &t->list[i];
    return NULL;
}

/* Model-facing names: Claude allows [A-Za-z0-9_-]{1,64}. */
static int name_valid(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)name[i]) && name[i] != '_' && name[i] != '-')
            return 0;
    return 1;
}

/* Registers one tool; ud is owned by the registry from here on, whatever happens. schema is
 * borrowed. examples (borrowed, may be NULL) go into tools_examples(). */
static int add_tool(struct tools *t, const char *where, const char *name, const char *description,
                    const json_t *schema, const struct tool_kind *kind, void *ud, int confirm,
                    int async, const json_t *examples, struct err *err)
{
    if (t->n >= TOOLS_MAX) {
        kind->free(ud);
        return err_set(err, "ToolConfig", "%s: more than %d tools", where, TOOLS_MAX);
    }
    struct tool *tl = &t->list[t->n];
    tl->kind = kind;
    tl->ud = ud;
    tl->name = xstrdup(name ? name : "");
    tl->where = xstrdup(where);
    t->n++; /* from here tools_free releases it */
    if (!name_valid(name))
        return err_set(err, "ToolConfig", "%s/name: must match [A-Za-z0-9_-]{1,64}", where);
    for (size_t i = 0; i + 1 < t->n; i++)
        if (strcmp(t->list[i].name, name) == 0)
            return err_set(err, "DuplicateTool", "%s/name: a tool named '%s' already exists (%s)",
                           where, name, t->list[i].where);
    if (!description || !description[0])
        return err_set(err, "ToolConfig", "%s/description: missing", where);
    if (!json_is_object(schema))
        return err_set(err, "ToolConfig", "%s/input_schema: must be a JSON Schema object", where);
    if (!(tl->schema = schema_compile(schema, err))) {
        char msg[ERR_MSG_MAX];
        snprintf(msg, sizeof msg, "%s", err->message);
        return err_set(err, "InvalidSchema", "%s/input_schema: %s", where, msg);
    }
    tl->confirm = confirm;
    tl->async = async;
    json_array_append_new(t->specs, json_pack("{s:s, s:s, s:O}", "name", name, "description",
                                              description, "input_schema", schema));
    if (json_array_size(examples))
        json_array_append_new(t->examples,
                              json_pack("{s:s, s:s, s:O, s:O}", "name", name, "description",
                                        description, "input_schema", schema, "examples", examples));
    return 0;
}

/* The policy keys and examples every custom entry shares. */
static int entry_common(const json_t *e, const char *where, int *confirm, int *async,
                        const json_t **examples, struct err *err)
{
    json_t *c = json_object_get(e, "confirm"), *a = json_object_get(e, "async");
    json_t *ex = json_object_get(e, "examples");
    if (!json_is_object(e))
        return err_set(err, "ToolConfig", "%s: must be an object", where);
    if ((c && !json_is_boolean(c)) || (a && !json_is_boolean(a)))
        return err_set(err, "ToolConfig", "%s: confirm and async must be booleans", where);
    size_t i;
    json_t *x;
    if (ex && (!json_is_array(ex) || json_array_size(ex) > TOOLS_EXAMPLES_MAX))
        return err_set(err, "ToolConfig", "%s/examples: must be an array of at most %d strings",
                       where, TOOLS_EXAMPLES_MAX);
    json_array_foreach(ex, i, x) {
        if (!json_is_string(x) || json_string_length(x) == 0 ||
            json_string_length(x) > TOOLS_EXAMPLE_MAX_BYTES)
            return err_set(err, "ToolConfig", "%s/examples/%zu: must be a string of 1..%d bytes",
                           where, i, TOOLS_EXAMPLE_MAX_BYTES);
    }
    *confirm = json_is_true(c);
    *async = json_is_true(a);
    *examples = ex;
    return 0;
}

static int add_builtins(struct tools *t, const struct kb *kb, const json_t *sel, struct err *err)
{
    if (sel && !json_is_array(sel) && !json_is_boolean(sel))
        return err_set(err, "ToolConfig", "/tools/builtin: must be a list of names or a boolean");
    size_t i;
    json_t *v;
    json_array_foreach(sel, i, v) {
        int known = 0;
        for (size_t d = 0; d < NDEFS; d++)
            known |= json_is_string(v) && strcmp(defs[d].name, json_string_value(v)) == 0;
        if (!known)
            return err_set(err, "ToolConfig", "/tools/builtin/%zu: no built-in tool by that name",
                           i);
    }
    for (size_t d = 0; d < NDEFS; d++) {
        int on = !sel || json_is_true(sel);
        json_array_foreach(sel, i, v)
            on |= strcmp(defs[d].name, json_string_value(v)) == 0;
        if (!on || (defs[d].needs_kb && !kb))
            continue;
        json_error_t jerr;
        json_t *schema = json_loads(defs[d].schema, 0, &jerr);
        char where[96];
        snprintf(where, sizeof where, "builtin '%s'", defs[d].name);
        int rc = add_tool(t, where, defs[d].name, defs[d].description, schema, &kind_builtin,
                          (void *)&defs[d], 0, !defs[d].read_only, NULL, err);
        json_decref(schema);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* Adds one http entry (also what each OpenAPI operation becomes). */
static int add_http(struct tools *t, const json_t *e, const char *where, struct err *err)
{
    int confirm, async;
    const json_t *examples;
    if (entry_common(e, where, &confirm, &async, &examples, err) < 0)
        return -1;
    if (!t->http) {
        struct http_client_config hc = {.max_response_bytes = TOOL_HTTP_REPLY_MAX,
                                        .backoff_base_ms = 100};
        t->http = http_client_new(&hc);
    }
    struct tool_http *h = tool_http_new(e, where, t->http, err);
    if (!h)
        return -1;
    return add_tool(t, where, json_string_value(json_object_get(e, "name")),
                    json_string_value(json_object_get(e, "description")),
                    json_object_get(e, "input_schema"), &kind_http, h, confirm, async, examples,
                    err);
}

static int add_lambda(struct tools *t, const json_t *e, const char *where, struct err *err)
{
    int confirm, async;
    const json_t *examples;
    if (entry_common(e, where, &confirm, &async, &examples, err) < 0)
        return -1;
    if (!t->aws) {
        struct aws_config cfg;
        if (aws_config_from_env(&cfg, err) < 0)
            return -1;
        t->aws = aws_client_new(&cfg, NULL);
        aws_config_release(&cfg);
    }
    struct tool_lambda *l = tool_lambda_new(e, where, t->aws, err);
    if (!l)
        return -1;
    return add_tool(t, where, json_string_value(json_object_get(e, "name")),
                    json_string_value(json_object_get(e, "description")),
                    json_object_get(e, "input_schema"), &kind_lambda, l, confirm, async, examples,
                    err);
}

static int add_openapi(struct tools *t, const json_t *e, const char *where, struct err *err)
{
    json_t *entries = tool_openapi_entries(e, where, err);
    if (!entries)
        return -1;
    int rc = 0;
    size_t i;
    json_t *op;
    json_array_foreach(entries, i, op) {
        char at[160];
        snprintf(at, sizeof at, "%s (operation '%s')", where,
                 json_string_value(json_object_get(op, "name")));
        if ((rc = add_http(t, op, at, err)) < 0)
            break;
    }
    json_decref(entries);
    return rc;
}

/* The policy of one MCP tool: the server entry's confirm/async, overridden by its "tools" map
 * entry; examples from that entry, else from the server's "examples" map. */
static int mcp_policy(const json_t *e, const char *tool, const char *where, int *confirm,
                      int *async, const json_t **examples, struct err *err)
{
    const json_t *over = json_object_get(json_object_get(e, "tools"), tool);
    int c = json_is_true(json_object_get(e, "confirm"));
    int a = json_is_true(json_object_get(e, "async"));
    const json_t *ex = json_object_get(json_object_get(e, "examples"), tool);
    if (over) {
        char at[192];
        snprintf(at, sizeof at, "%s/tools/%s", where, tool);
        int oc, oa;
        const json_t *oex;
        if (entry_common(over, at, &oc, &oa, &oex, err) < 0)
            return -1;
        c = json_object_get(over, "confirm") ? oc : c;
        a = json_object_get(over, "async") ? oa : a;
        ex = oex ? oex : ex;
    }
    *confirm = c;
    *async = a;
    *examples = ex;
    return 0;
}

/* Registers one listed tool of server s; skipped (with a warning) when its schema does not
 * compile. A public name already taken is a "DuplicateTool" error naming both tools. */
static int add_mcp_tool(struct tools *t, struct tool_mcp_server *s, const json_t *e,
                        const json_t *listed, const char *where, struct err *err)
{
    int rc = -1;
    const char *server = tool_mcp_server_name(s);
    const char *tool = json_string_value(json_object_get(listed, "name"));
    const char *desc = json_string_value(json_object_get(listed, "description"));
    const json_t *schema = json_object_get(listed, "inputSchema");
    char *pub = mcp_tool_public_name(server, tool ? tool : "");
    char *fallback = NULL;
    const struct tool *other = lookup(t, pub);
    int confirm, async;
    const json_t *examples;
    char at[192];
    snprintf(at, sizeof at, "%s (tool '%s')", where, tool ? tool : "");
    if (other) {
        err_set(err, "DuplicateTool",
                "%s: tool '%s' of MCP server '%s' would be offered as '%s', which the tool from "
                "%s already is; rename the server",
                where, tool ? tool : "", server, pub, other->where);
        goto out;
    }
    struct err serr;
    err_clear(&serr);
    struct schema *probe = json_is_object(schema) ? schema_compile(schema, &serr) : NULL;
    if (!probe) {
        log_at(LL_WARN, "tools",
               "skipping tool '%s' of MCP server '%s': its inputSchema is not "
               "supported (%s)",
               tool ? tool : "", server, json_is_object(schema) ? serr.message : "not an object");
        rc = 0;
        goto out;
    }
    schema_free(probe);
    if (mcp_policy(e, tool, where, &confirm, &async, &examples, err) < 0)
        goto out;
    if (!desc || !desc[0])
        desc = fallback = xasprintf("Tool '%s' of the '%s' MCP server.", tool, server);
    struct tool_mcp *m = tool_mcp_new(s, tool, pub, 0);
    rc = add_tool(t, at, pub, desc, schema, &kind_mcp, m, confirm, async, examples, err);
out:
    free(pub);
    free(fallback);
    return rc;
}

/* Connects to one tools.mcp server and registers every tool it lists. */
static int add_mcp(struct tools *t, const json_t *e, const char *where, struct err *err)
{
    int rc = -1;
    json_t *listed = NULL;
    const json_t *opt = json_object_get(e, "optional");
    const json_t *tmap = json_object_get(e, "tools");
    if (!json_is_object(e))
        return err_set(err, "ToolConfig", "%s: must be an object", where);
    if ((opt && !json_is_boolean(opt)) || (tmap && !json_is_object(tmap)))
        return err_set(err, "ToolConfig", "%s: optional must be a boolean and tools an object",
                       where);
    if (t->n_mcp >= TOOLS_MCP_SERVERS_MAX)
        return err_set(err, "ToolConfig", "%s: more than %d MCP servers", where,
                       TOOLS_MCP_SERVERS_MAX);
    struct tool_mcp_server *s = tool_mcp_server_new(e, where, err);
    if (!s)
        return -1;
    t->mcp[t->n_mcp++] = s; /* from here tools_free releases it */
    struct err lerr;
    err_clear(&lerr);
    if (tool_mcp_server_list(s, where, &listed, &lerr) < 0) {
        if (json_is_true(opt)) {
            log_at(LL_WARN, "tools",
                   "%s; the server is optional, so its tools are left out "
                   "until the agent is reloaded (retried in the background by `parley serve`)",
                   lerr.message);
            t->mcp_down++;
            rc = 0;
        } else {
            err_set(err, lerr.code, "%s (start it, or set \"optional\": true)", lerr.message);
        }
        goto out;
    }
    size_t i;
    json_t *tool;
    json_array_foreach(listed, i, tool) {
        if (add_mcp_tool(t, s, e, tool, where, err) < 0)
            goto out;
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)tmap, k, v) {
        int found = 0;
        json_array_foreach(listed, i, tool) {
            const char *n = json_string_value(json_object_get(tool, "name"));
            found |= n && strcmp(n, k) == 0;
        }
        if (!found)
            log_at(LL_WARN, "tools", "%s/tools/%s: MCP server '%s' lists no tool by that name",
                   where, k, tool_mcp_server_name(s));
    }
    rc = 0;
out:
    json_decref(listed);
    return rc;
}

typedef int (*add_fn)(struct tools *t, const json_t *e, const char *where, struct err *err);

/* The custom kinds, by their key in the tools section. */
static const struct {
    const char *key;
    add_fn add;
} sections[] = {{"http", add_http},
                {"openapi", add_openapi},
                {"lambda", add_lambda},
                {"mcp", add_mcp}};

struct tools *tools_new(const struct kb *kb, const json_t *tools_section, struct err *err)
{
    struct tools *t = xcalloc(1, sizeof *t);
    t->specs = json_array();
    t->examples = json_array();
    if (tools_section && !json_is_object(tools_section)) {
        err_set(err, "ToolConfig", "/tools: must be an object");
        goto fail;
    }
    if (add_builtins(t, kb, json_object_get(tools_section, "builtin"), err) < 0)
        goto fail;
    for (size_t s = 0; s < sizeof sections / sizeof sections[0]; s++) {
        json_t *list = json_object_get(tools_section, sections[s].key);
        if (list && !json_is_array(list)) {
            err_set(err, "ToolConfig", "/tools/%s: must be a list", sections[s].key);
            goto fail;
        }
        size_t i;
        json_t *e;
        json_array_foreach(list, i, e) {
            char where[64];
            snprintf(where, sizeof where, "/tools/%s/%zu", sections[s].key, i);
            if (sections[s].add(t, e, where, err) < 0)
                goto fail;
        }
    }
    return t;
fail:
    tools_free(t);
    return NULL;
}

const json_t *tools_specs(const struct tools *t)
{
    return t->specs;
}

const json_t *tools_examples(const struct tools *t)
{
    return t->examples;
}

static const struct tool *find(const struct tools *t, const char *name, struct err *err)
{
    const struct tool *tl = lookup(t, name);
    if (!tl)
        err_set(err, "UnknownTool", "no tool named '%s'; use one of the tools listed",
                name ? name : "");
    return tl;
}

json_t *tools_describe(const struct tools *t)
{
    json_t *out = json_array();
    for (size_t i = 0; i < t->n; i++) {
        const struct tool *tl = &t->list[i];
        const json_t *spec = NULL;
        size_t j;
        json_t *sp;
        json_array_foreach(t->specs, j, sp) {
            if (strcmp(json_string_value(json_object_get(sp, "name")), tl->name) == 0)
                spec = sp;
        }
        if (!spec)
            continue; /* failed half-way through add_tool: not offered */
        json_t *e = json_pack("{s:s, s:s, s:s, s:O, s:O, s:b, s:b}", "name", tl->name, "kind",
                              tl->kind->name, "from", tl->where, "description",
                              json_object_get(spec, "description"), "input_schema",
                              json_object_get(spec, "input_schema"), "confirm", tl->confirm,
                              "async", tl->async);
        json_array_append_new(out, e);
    }
    return out;
}

int tools_policy(const struct tools *t, const char *name, int *confirm, int *async)
{
    const struct tool *tl = lookup(t, name);
    *confirm = tl ? tl->confirm : 0;
    *async = tl ? tl->async : 0;
    return tl ? 0 : -1;
}

int tools_validate(const struct tools *t, const char *name, const json_t *input, struct err *err)
{
    const struct tool *tl = find(t, name, err);
    if (!tl)
        return -1;
    return schema_validate(tl->schema, input, err);
}

json_t *tools_call(const struct tools *t, const struct tool_ctx *ctx, const char *name,
                   const json_t *input, int *is_error, struct err *err)
{
    *is_error = 0;
    if (tools_validate(t, name, input, err) < 0)
        return NULL;
    const struct tool *tl = lookup(t, name);
    return tl->kind->run(tl->ud, ctx, input, is_error, err);
}

json_t *tools_run(const struct tools *t, const struct tool_ctx *ctx, const char *name,
                  const json_t *input, struct err *err)
{
    int is_error = 0;
    json_t *r = tools_call(t, ctx, name, input, &is_error, err);
    if (is_error) {
        json_decref(r); /* err already says what the backend answered */
        r = NULL;
    }
    return r;
}

int tools_mcp_down(const struct tools *t)
{
    return t ? t->mcp_down : 0;
}
