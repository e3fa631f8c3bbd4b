/*
 * api.c - routes of the HTTP API and the mapping from error values to HTTP statuses.
 */
#include "runtime/api.h"

#include <string.h>
#include <strings.h>

#include "agent/turn.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/xmalloc.h"

/* ---------------------------------------------------------------- responses */

static const struct {
    const char *code;
    int status;
} status_map[] = {
    {"InvalidRequest", 400}, {"MalformedJson", 400},       {"InvalidUtf8", 400},
    {"Unauthorized", 401},   {"NotFound", 404},            {"MethodNotAllowed", 405},
    {"Conflict", 409},       {"PayloadTooLarge", 413},     {"UnsupportedMediaType", 415},
    {"ModelThrottled", 503}, {"ModelTimeout", 504},        {"ModelError", 502},
    {"ModelBadResponse", 502},
};

int api_status_for(const char *code)
{
    for (size_t i = 0; i < sizeof status_map / sizeof status_map[0]; i++)
        if (strcmp(status_map[i].code, code) == 0)
            return status_map[i].status;
    return 500;
}

static void reply_json(struct http_response *resp, int status, json_t *body)
{
    resp->status = status;
    resp->content_type = "application/json";
    resp->body = json_dumps(body, JSON_COMPACT);
    resp->body_len = strlen(resp->body);
    json_decref(body);
}

static void reply_error(struct http_response *resp, const char *code, const char *message)
{
    int status = api_status_for(code);
    if (status >= 500)
        log_at(LL_WARN, "api", "request failed: %s: %s", code, message);
    reply_json(resp, status,
               json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", message));
}

static void reply_err(struct http_response *resp, const struct err *e)
{
    reply_error(resp, e->code[0] ? e->code : "InternalError",
                e->message[0] ? e->message : "internal error");
}

/* ---------------------------------------------------------------- handlers */

static int is_json_type(const char *ct)
{
    if (!ct)
        return 0;
    while (*ct == ' ')
        ct++;
    size_t n = strlen("application/json");
    return strncasecmp(ct, "application/json", n) == 0 && (ct[n] == '\0' || ct[n] == ';' ||
                                                           ct[n] == ' ');
}

static void handle_chat(struct agent *a, struct http_request *req, struct http_response *resp)
{
    if (req->body_too_large) {
        reply_error(resp, "PayloadTooLarge", "request body is larger than 65536 bytes");
        return;
    }
    const char *ct = http_request_header(req, "Content-Type");
    if (!is_json_type(ct)) {
        char msg[256];
        snprintf(msg, sizeof msg, "Content-Type must be application/json (got '%.100s')",
                 ct ? ct : "none");
        reply_error(resp, "UnsupportedMediaType", msg);
        return;
    }
    struct err e;
    err_clear(&e);
    json_t *request = turn_parse_request(req->body, req->body_len, &e);
    if (!request) {
        reply_err(resp, &e);
        return;
    }
    json_t *out = turn_run(a, request, &e);
    json_decref(request);
    if (!out) {
        reply_err(resp, &e);
        return;
    }
    reply_json(resp, 200, out);
}

/* Renders stored messages as the transcript: role, content (text), timestamp (ISO-8601), with tool
 * calls and results shown as their own entries. */
static json_t *render_transcript(const json_t *messages)
{
    json_t *out = json_array();
    size_t i;
    json_t *m;
    json_array_foreach(messages, i, m) {
        const char *role = json_string_value(json_object_get(m, "role"));
        json_t *content = json_object_get(m, "content");
        char ts[40];
        clock_iso8601(json_integer_value(json_object_get(m, "timestamp")), ts, sizeof ts);
        if (json_is_string(content)) {
            json_array_append_new(out, json_pack("{s:s, s:O, s:s}", "role", role, "content",
                                                 content, "timestamp", ts));
            continue;
        }
        char *text = xstrdup("");
        json_t *tool_uses = json_array();
        size_t k;
        json_t *b;
        json_array_foreach(content, k, b) {
            const char *type = json_string_value(json_object_get(b, "type"));
            if (type && strcmp(type, "text") == 0) {
                char *t = xasprintf("%s%s%s", text, text[0] ? "\n\n" : "",
                                    json_string_value(json_object_get(b, "text")));
                free(text);
                text = t;
            } else if (type && strcmp(type, "tool_use") == 0) {
                json_array_append_new(tool_uses, json_pack("{s:O, s:O, s:O}", "id",
                                                           json_object_get(b, "id"), "tool",
                                                           json_object_get(b, "name"), "input",
                                                           json_object_get(b, "input")));
            } else if (type && strcmp(type, "tool_result") == 0) {
                json_array_append_new(
                    out, json_pack("{s:s, s:O, s:s, s:O, s:b}", "role", "tool", "content",
                                   json_object_get(b, "content"), "timestamp", ts, "toolUseId",
                                   json_object_get(b, "tool_use_id"), "isError",
                                   json_is_true(json_object_get(b, "is_error"))));
            }
        }
        if (text[0] || json_array_size(tool_uses)) {
            json_t *entry = json_pack("{s:s, s:s, s:s}", "role", role, "content", text,
                                      "timestamp", ts);
            if (json_array_size(tool_uses))
                json_object_set(entry, "toolUses", tool_uses);
            json_array_append_new(out, entry);
        }
        json_decref(tool_uses);
        free(text);
    }
    return out;
}

static void handle_session(struct agent *a, const char *id, struct http_response *resp)
{
    struct err e;
    err_clear(&e);
    if (!turn_session_id_valid(id)) {
        reply_error(resp, "NotFound", "session not found");
        return;
    }
    json_t *session = NULL, *messages = NULL;
    if (STORE_CALL(a->store, session_get, id, &session, &e) < 0 ||
        STORE_CALL(a->store, transcript, id, &messages, &e) < 0) {
        json_decref(session);
        reply_err(resp, &e);
        return;
    }
    char created[40], last[40];
    clock_iso8601(json_integer_value(json_object_get(session, "createdAt")), created,
                  sizeof created);
    clock_iso8601(json_integer_value(json_object_get(session, "lastActivity")), last, sizeof last);
    json_t *body = json_pack("{s:O, s:O, s:O, s:s, s:s, s:O, s:o}", "sessionId",
                             json_object_get(session, "sessionId"), "userId",
                             json_object_get(session, "userId"), "status",
                             json_object_get(session, "status"), "createdAt", created,
                             "lastActivity", last, "turns", json_object_get(session, "turns"),
                             "messages", render_transcript(messages));
    json_decref(session);
    json_decref(messages);
    reply_json(resp, 200, body);
}

static void handle_ticket(struct agent *a, const char *id, struct http_response *resp)
{
    struct err e;
    err_clear(&e);
    json_t *ticket = NULL;
    if (STORE_CALL(a->store, ticket_get, id, &ticket, &e) < 0) {
        reply_err(resp, &e);
        return;
    }
    json_object_del(ticket, "userId");
    reply_json(resp, 200, ticket);
}

/* ---------------------------------------------------------------- routing */

struct route {
    const char *prefix; /* exact path, or prefix ending in '/' followed by one id segment */
    const char *method; /* the one method allowed */
    int has_id;         /* 1 when the path ends in an id */
};

static const struct route routes[] = {
    {"/chat", "POST", 0},
    {"/health", "GET", 0},
    {"/sessions/", "GET", 1},
    {"/tickets/", "GET", 1},
};

/* Matches path against a route; sets *id to the id segment (borrowed) when the route has one. */
static const struct route *route_match(const char *path, const char **id)
{
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        const struct route *r = &routes[i];
        size_t n = strlen(r->prefix);
        if (!r->has_id && strcmp(path, r->prefix) == 0)
            return r;
        if (r->has_id && strncmp(path, r->prefix, n) == 0 && path[n] && !strchr(path + n, '/')) {
            *id = path + n;
            return r;
        }
    }
    return NULL;
}

void api_handle(void *ud, struct http_request *req, struct http_response *resp)
{
    struct agent *a = ud;
    const char *id = NULL;
    const struct route *r = route_match(req->path, &id);
    if (!r) {
        char msg[200];
        snprintf(msg, sizeof msg, "no route for %.10s %.120s", req->method, req->path);
        reply_error(resp, "NotFound", msg);
        return;
    }
    if (strcmp(req->method, r->method) != 0 &&
        !(strcmp(r->method, "GET") == 0 && strcmp(req->method, "HEAD") == 0)) {
        char msg[200];
        snprintf(msg, sizeof msg, "%.120s allows %s only (got %.10s)", req->path, r->method,
                 req->method);
        http_response_header(resp, "Allow", r->method);
        reply_error(resp, "MethodNotAllowed", msg);
        return;
    }
    if (strcmp(r->prefix, "/chat") == 0)
        handle_chat(a, req, resp);
    else if (strcmp(r->prefix, "/health") == 0)
        reply_json(resp, 200, json_pack("{s:s, s:s, s:s}", "status", "ok", "store",
                                        a->store->ops->name, "model", a->model->ops->name));
    else if (strcmp(r->prefix, "/sessions/") == 0)
        handle_session(a, id, resp);
    else
        handle_ticket(a, id, resp);
}
