/*
 * tools.c - the registry of tools the model may call and their implementations.
 *
 * Tools act for the session's own user: another user's ticket is reported as not found, exactly
 * like a ticket that does not exist, so ids cannot be probed.
 */
#include "agent/tools.h"

#include <string.h>

#include "base/xmalloc.h"

/* ---------------------------------------------------------------- implementations */

static json_t *tool_create_ticket(const struct tool_ctx *ctx, const json_t *input, struct err *err)
{
    json_t *fields = json_deep_copy(input);
    json_object_set_new(fields, "sessionId", json_string(ctx->session_id));
    json_object_set_new(fields, "userId", json_string(ctx->user_id));
    json_t *ticket = NULL;
    int rc = STORE_CALL(ctx->store, ticket_create, fields, &ticket, err);
    json_decref(fields);
    if (rc < 0)
        return NULL;
    json_t *result = json_pack("{s:O, s:O, s:O, s:O}", "ticketId", json_object_get(ticket, "id"),
                               "status", json_object_get(ticket, "status"), "priority",
                               json_object_get(ticket, "priority"), "createdAt",
                               json_object_get(ticket, "createdAt"));
    json_decref(ticket);
    return result;
}

static json_t *tool_ticket_status(const struct tool_ctx *ctx, const json_t *input, struct err *err)
{
    const char *id = json_string_value(json_object_get(input, "ticket_id"));
    json_t *ticket = NULL;
    if (STORE_CALL(ctx->store, ticket_get, id, &ticket, err) < 0)
        return NULL;
    const char *owner = json_string_value(json_object_get(ticket, "userId"));
    if (!owner || strcmp(owner, ctx->user_id) != 0) {
        json_decref(ticket);
        err_set(err, "NotFound", "ticket %s not found", id);
        return NULL;
    }
    json_t *result = json_pack("{s:O, s:O, s:O, s:O, s:O}", "ticketId",
                               json_object_get(ticket, "id"), "status",
                               json_object_get(ticket, "status"), "title",
                               json_object_get(ticket, "title"), "priority",
                               json_object_get(ticket, "priority"), "createdAt",
                               json_object_get(ticket, "createdAt"));
    json_decref(ticket);
    return result;
}

/* ---------------------------------------------------------------- registry */

static const struct tool registry[] = {
    {
        .name = "create_support_ticket",
        .description = "Create a support ticket for the customer's problem. Ask for the "
                       "customer's email address first if you do not have it.",
        .schema = "{\"type\":\"object\",\"properties\":{"
                  "\"title\":{\"type\":\"string\",\"minLength\":3,\"maxLength\":200},"
                  "\"description\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":4000},"
                  "\"priority\":{\"type\":\"string\",\"enum\":[\"low\",\"medium\",\"high\","
                  "\"urgent\"]},"
                  "\"email\":{\"type\":\"string\",\"maxLength\":254,"
                  "\"pattern\":\"^[^@[:space:]]+@[^@[:space:]]+\\\\.[^@[:space:]]+$\"}},"
                  "\"required\":[\"title\",\"description\",\"priority\",\"email\"],"
                  "\"additionalProperties\":false}",
        .run = tool_create_ticket,
    },
    {
        .name = "get_ticket_status",
        .description = "Look up the status of one of the customer's support tickets by its id "
                       "(like TKT-000042).",
        .schema = "{\"type\":\"object\",\"properties\":{"
                  "\"ticket_id\":{\"type\":\"string\",\"pattern\":\"^[Tt][Kk][Tt]-[0-9]{1,12}$\"}},"
                  "\"required\":[\"ticket_id\"],\"additionalProperties\":false}",
        .run = tool_ticket_status,
    },
};

#define NTOOLS (sizeof registry / sizeof registry[0])

const struct tool *tools_find(const char *name)
{
    for (size_t i = 0; name && i < NTOOLS; i++)
        if (strcmp(registry[i].name, name) == 0)
            return &registry[i];
    return NULL;
}

json_t *tools_specs(void)
{
    json_t *specs = json_array();
    for (size_t i = 0; i < NTOOLS; i++) {
        json_t *schema = json_loads(registry[i].schema, 0, NULL);
        json_array_append_new(specs, json_pack("{s:s, s:s, s:o}", "name", registry[i].name,
                                               "description", registry[i].description,
                                               "input_schema", schema));
    }
    return specs;
}

int tools_validate(const struct tool *t, const json_t *input, struct err *err)
{
    /* Minimal check until the JSON Schema validator lands: object with every required field. */
    if (!json_is_object(input))
        return err_set(err, "InvalidInput", "input must be an object");
    json_t *schema = json_loads(t->schema, 0, NULL);
    json_t *req = json_object_get(schema, "required");
    size_t i;
    json_t *name;
    int rc = 0;
    json_array_foreach(req, i, name) {
        if (!json_is_string(json_object_get(input, json_string_value(name)))) {
            rc = err_set(err, "InvalidInput", "/%s: required property missing",
                         json_string_value(name));
            break;
        }
    }
    json_decref(schema);
    return rc;
}
