/*
 * tool_mcp.c - tools served by MCP servers (see tool_mcp.h).
 */
#include "agent/tool_mcp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/xmalloc.h"
#include "mcp/mcp.h"

struct tool_mcp_server {
    struct mcp_client *client; /* owned */
    char *name;                /* the entry's name */
    long call_timeout_ms;      /* the entry's timeout_ms, or the client's default */
};

struct tool_mcp {
    struct tool_mcp_server *server; /* borrowed */
    char *tool;                     /* the name on the server */
    char *public_name;              /* the name the model uses */
    long timeout_ms;                /* per call; 0 = the client's default */
};

/* ---------------------------------------------------------------- servers */

struct tool_mcp_server *tool_mcp_server_new(const json_t *entry, const char *where, struct err *err)
{
    struct err e;
    err_clear(&e);
    struct mcp_client *c = mcp_client_from_json(entry, &e);
    if (!c) {
        err_set(err, "ToolConfig", "%s: %s", where, e.message);
        return NULL;
    }
    struct tool_mcp_server *s = xcalloc(1, sizeof *s);
    s->client = c;
    s->name = xstrdup(mcp_client_name(c));
    json_int_t ms = json_integer_value(json_object_get(entry, "timeout_ms"));
    s->call_timeout_ms = ms > 0 ? (long)ms : TOOL_MCP_CALL_TIMEOUT_DEFAULT_MS;
    return s;
}

int tool_mcp_server_list(struct tool_mcp_server *s, const char *where, json_t **tools,
                         struct err *err)
{
    struct err e;
    err_clear(&e);
    *tools = NULL;
    if (mcp_list_tools(s->client, tools, &e) < 0)
        return err_set(err, e.code, "%s: cannot list the tools of MCP server '%s': %s", where,
                       s->name, e.message);
    return 0;
}

const char *tool_mcp_server_name(const struct tool_mcp_server *s)
{
    return s->name;
}

void tool_mcp_server_free(struct tool_mcp_server *s)
{
    if (!s)
        return;
    mcp_client_free(s->client);
    free(s->name);
    free(s);
}

/* ---------------------------------------------------------------- tools */

struct tool_mcp *tool_mcp_new(struct tool_mcp_server *s, const char *tool, const char *public_name,
                              long timeout_ms)
{
    struct tool_mcp *m = xcalloc(1, sizeof *m);
    m->server = s;
    m->tool = xstrdup(tool);
    m->public_name = xstrdup(public_name);
    m->timeout_ms = timeout_ms;
    return m;
}

void tool_mcp_free(struct tool_mcp *m)
{
    if (!m)
        return;
    free(m->tool);
    free(m->public_name);
    free(m);
}

/* The text items of content joined by newlines (capped), and the other items in *other (a new
 * array, possibly empty). Returns a new string. */
static char *content_text(const json_t *content, json_t **other)
{
    struct buf b;
    buf_init(&b, TOOL_MCP_TEXT_MAX);
    *other = json_array();
    size_t i;
    json_t *item;
    json_array_foreach(content, i, item) {
        const char *type = json_string_value(json_object_get(item, "type"));
        const char *text = json_string_value(json_object_get(item, "text"));
        if (type && strcmp(type, "text") == 0 && text) {
            if (b.len && buf_add_char(&b, '\n') < 0)
                break;
            if (buf_add_str(&b, text) < 0)
                break; /* over the cap: the rest is left out, the model sees what fits */
        } else {
            json_array_append(*other, item);
        }
    }
    return buf_take(&b, NULL);
}

json_t *tool_mcp_result(const json_t *result, const char *name, int *is_error, struct err *err)
{
    json_t *other = NULL;
    char *text = content_text(json_object_get(result, "content"), &other);
    json_t *structured = json_object_get(result, "structuredContent");
    json_t *out;
    *is_error = json_is_true(json_object_get(result, "isError"));
    if (*is_error) {
        err_set(err, "ToolFailed", "tool '%s' failed: %.300s", name,
                text[0] ? text : "(no message)");
        out = json_pack("{s:{s:s, s:s}}", "error", "code", "ToolFailed", "message",
                        text[0] ? text : "the tool reported an error");
        if (structured)
            json_object_set(json_object_get(out, "error"), "details", structured);
    } else if (structured) {
        out = json_deep_copy(structured);
    } else {
        out = json_pack("{s:s}", "text", text);
        if (json_array_size(other))
            json_object_set(out, "content", other);
    }
    json_decref(other);
    free(text);
    return out;
}

/* Maps the MCP client's error codes to the tool codes every kind shares. */
static const char *tool_code(const char *mcp_code)
{
    static const struct {
        const char *mcp, *tool;
    } map[] = {{"McpTimeout", "ToolTimeout"},
               {"McpUnavailable", "ToolUnreachable"},
               {"McpToolError", "ToolFailed"},
               {"McpProtocol", "ToolBadReply"},
               {"McpVersion", "ToolBadReply"}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(map[i].mcp, mcp_code) == 0)
            return map[i].tool;
    return "ToolFailed";
}

json_t *tool_mcp_run(const struct tool_mcp *m, const struct tool_ctx *ctx, const json_t *input,
                     int *is_error, struct err *err)
{
    json_t *out = NULL, *res = NULL;
    long timeout = m->timeout_ms > 0 ? m->timeout_ms : m->server->call_timeout_ms;
    int cut = 0; /* the turn's deadline, not the tool's own limit, bounds this call */
    struct err e;
    err_clear(&e);
    *is_error = 0;
    /* MCP tools act through the server; the session is not sent, only the turn's deadline
     * is honoured. */
    if (ctx && ctx->deadline_ms > 0) {
        int64_t left = ctx->deadline_ms - clock_now_ms();
        if (left <= 0) {
            err_set(err, "ToolTimeout",
                    "tool '%s' (MCP server '%s'): not called, the turn's "
                    "time limit has passed",
                    m->public_name, m->server->name);
            goto out;
        }
        if (left < timeout) {
            timeout = (long)left;
            cut = 1;
        }
    }
    if (mcp_call_tool(m->server->client, m->tool, input, timeout, &res, &e) < 0) {
        if (cut && strcmp(e.code, "McpTimeout") == 0)
            err_set(err, "ToolTimeout",
                    "tool '%s' (MCP server '%s'): cancelled at the turn's "
                    "time limit after %ld ms",
                    m->public_name, m->server->name, timeout);
        else
            err_set(err, tool_code(e.code), "tool '%s' (MCP server '%s'): %s", m->public_name,
                    m->server->name, e.message);
        goto out;
    }
    out = tool_mcp_result(res, m->public_name, is_error, err);
out:
    json_decref(res);
    return out;
}
