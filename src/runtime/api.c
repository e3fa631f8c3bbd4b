/*
 * api.c - routes of the HTTP API and the mapping from error values to HTTP statuses.
 */
#include "runtime/api.h"

#include <sys/stat.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <string.h>
#include <strings.h>

#include "agent/transcript.h"
#include "agent/turn.h"
#include "runtime/analytics.h"
#include "runtime/chat_stream.h"
#include "runtime/app.h"
#include "queue/queue.h"
#include "telemetry/metrics.h"
#include "telemetry/trace.h"
#include "base/clock.h"
#include "base/errcode.h"
#include "base/log.h"
#include "base/xmalloc.h"

/* ---------------------------------------------------------------- responses */


/* Reals print with 16 significant digits: enough for X-Ray's epoch seconds to the microsecond,
 * and short of the 17th digit that turns 0.359 into 0.35899999999999999. */
static void reply_json(struct http_response *resp, int status, json_t *body)
{
    resp->status = status;
    resp->content_type = "application/json";
    resp->body = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(16));
    resp->body_len = strlen(resp->body);
    json_decref(body);
}

static void reply_error(struct http_response *resp, const char *code, const char *message)
{
    int status = errcode_status(code);
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
    const char *accept = http_request_header(req, "Accept");
    if (accept && strstr(accept, "text/event-stream")) {
        json_t *stolen = request;
        if (chat_stream_start(a, stolen, agent_trace_current(), resp, &e) < 0) {
            json_decref(stolen);
            reply_err(resp, &e);
        }
        return;
    }
    /* With an Idempotency-Key the first request runs the turn and a retry gets its response. */
    int replayed = 0;
    json_t *out = turn_run_idempotent(a, http_request_header(req, "Idempotency-Key"), req->body,
                                      req->body_len, request, &replayed, &e);
    json_decref(request);
    if (!out) {
        reply_err(resp, &e);
        return;
    }
    if (replayed)
        http_response_header(resp, "Idempotent-Replayed", "true");
    reply_json(resp, 200, out);
}

static void handle_session(struct agent *a, const char *id, struct http_response *resp)
{
    struct err e;
    err_clear(&e);
    if (!turn_session_id_valid(id)) {
        reply_error(resp, "NotFound", "session not found");
        return;
    }
    json_t *doc = transcript_document(a->store, id, &e);
    if (!doc) {
        reply_err(resp, &e);
        return;
    }
    reply_json(resp, 200, doc);
}

static void handle_ticket_list(struct agent *a, struct http_response *resp)
{
    struct err e;
    err_clear(&e);
    json_t *list = NULL;
    if (STORE_CALL(a->store, tickets_list, NULL, 500, &list, &e) < 0) {
        reply_err(resp, &e);
        return;
    }
    size_t i;
    json_t *t;
    json_array_foreach(list, i, t) json_object_del(t, "userId");
    reply_json(resp, 200, json_pack("{s:o}", "tickets", list));
}

/* ---------------------------------------------------------------- operator APIs */

/* Compares the SHA-256 digests in constant time, so neither the position of the first difference
 * nor the token's length leaks through timing. */
static int token_equal(const char *a, const char *b)
{
    unsigned char da[SHA256_DIGEST_LENGTH], db[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)a, strlen(a), da);
    SHA256((const unsigned char *)b, strlen(b), db);
    return CRYPTO_memcmp(da, db, sizeof da) == 0;
}

/* Returns 1 when the request carries the operator token; otherwise answers 401 and returns 0. */
/* 1 when the request carries the configured operator token. */
static int is_operator(const struct agent *a, const struct http_request *req)
{
    const char *token = a->cfg->operator_token;
    const char *auth = http_request_header(req, "Authorization");
    return token && token[0] && auth && strncasecmp(auth, "Bearer ", 7) == 0 &&
           token_equal(auth + 7, token);
}

static int require_operator(struct agent *a, struct http_request *req, struct http_response *resp)
{
    const char *token = a->cfg->operator_token;
    const char *auth = http_request_header(req, "Authorization");
    if (!token || !token[0]) {
        http_response_header(resp, "WWW-Authenticate", "Bearer realm=\"parley-operator\"");
        reply_error(resp, "Unauthorized",
                    "operator APIs are disabled: start the server with PARLEY_OPERATOR_TOKEN set");
        return 0;
    }
    if (!is_operator(a, req)) {
        http_response_header(resp, "WWW-Authenticate", "Bearer realm=\"parley-operator\"");
        reply_error(resp, "Unauthorized", auth ? "the operator token is not valid"
                                               : "an operator token is required "
                                                 "(Authorization: Bearer ...)");
        return 0;
    }
    return 1;
}

/* GET /tickets/{id}: the ticket names its session, whose id is the key to the transcript, and
 * ticket numbers are sequential; so a ticket is shown only to its own session (?sessionId=) or
 * to an operator. Anyone else gets the same 404 as for a ticket that does not exist. */
static void handle_ticket(struct agent *a, const char *id, struct http_request *req,
                          struct http_response *resp)
{
    struct err e;
    err_clear(&e);
    json_t *ticket = NULL;
    const char *sid = http_request_query(req, "sessionId");
    const char *owner = NULL;
    if (STORE_CALL(a->store, ticket_get, id, &ticket, &e) == 0)
        owner = json_string_value(json_object_get(ticket, "sessionId"));
    if (!owner || !(is_operator(a, req) || (sid && strcmp(sid, owner) == 0))) {
        json_decref(ticket);
        if (!err_is_set(&e) || strcmp(e.code, "NotFound") == 0) {
            char msg[160];
            snprintf(msg, sizeof msg, "ticket '%.80s' not found (ask with ?sessionId= of the "
                                      "session that opened it)", id);
            reply_error(resp, "NotFound", msg);
        } else {
            reply_err(resp, &e);
        }
        return;
    }
    json_object_del(ticket, "userId");
    reply_json(resp, 200, ticket);
}

static json_t *parse_json_body(struct http_request *req, struct http_response *resp)
{
    if (req->body_too_large) {
        reply_error(resp, "PayloadTooLarge", "request body is larger than 65536 bytes");
        return NULL;
    }
    if (!is_json_type(http_request_header(req, "Content-Type"))) {
        reply_error(resp, "UnsupportedMediaType", "Content-Type must be application/json");
        return NULL;
    }
    json_error_t jerr;
    json_t *body = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(body)) {
        char msg[300];
        snprintf(msg, sizeof msg, "request body must be a JSON object%s%s", body ? "" : ": ",
                 body ? "" : jerr.text);
        reply_error(resp, body ? "InvalidRequest" : "MalformedJson", msg);
        json_decref(body);
        return NULL;
    }
    return body;
}

static void handle_operator_message(struct agent *a, const char *id, struct http_request *req,
                                    struct http_response *resp)
{
    json_t *body = parse_json_body(req, resp);
    if (!body)
        return;
    const char *role = json_string_value(json_object_get(body, "role"));
    json_t *content = json_object_get(body, "content");
    json_t *name = json_object_get(body, "name"); /* optional: the operator's name */
    struct err e;
    err_clear(&e);
    json_t *session = NULL;
    if (!role || strcmp(role, "operator") != 0) {
        reply_error(resp, "InvalidRequest", "'role' must be \"operator\"");
    } else if (!json_is_string(content) || json_string_length(content) == 0 ||
               json_string_length(content) > 8000) {
        reply_error(resp, "InvalidRequest", "'content' must be a string of 1 to 8000 bytes");
    } else if (name && (!json_is_string(name) || json_string_length(name) == 0 ||
                        json_string_length(name) > 64)) {
        reply_error(resp, "InvalidRequest", "'name' must be a string of 1 to 64 bytes");
    } else if (!turn_session_id_valid(id) ||
               STORE_CALL(a->store, session_get, id, &session, &e) < 0) {
        reply_error(resp, "NotFound", "session not found");
    } else {
        json_int_t now = clock_now_ms();
        json_t *msg = json_pack("{s:s, s:O, s:I}", "role", "operator", "content", content,
                                "timestamp", now);
        if (name)
            json_object_set(msg, "name", name);
        json_t *turn = json_pack("{s:s, s:O, s:b, s:[O], s:b}", "sessionId", id, "userId",
                                 json_object_get(session, "userId"), "isNew", 0, "messages", msg,
                                 "noTurn", 1);
        int turn_no = 0;
        if (STORE_CALL(a->store, turn_save, turn, &turn_no, &e) < 0) {
            reply_err(resp, &e);
        } else {
            char ts[40];
            clock_iso8601(now, ts, sizeof ts);
            json_t *out = json_pack("{s:s, s:{s:s, s:O, s:s}}", "sessionId", id, "message",
                                    "role", "operator", "content", content, "timestamp", ts);
            if (name)
                json_object_set(json_object_get(out, "message"), "name", name);
            reply_json(resp, 201, out);
        }
        json_decref(turn);
        json_decref(msg);
    }
    json_decref(session);
    json_decref(body);
}

static void handle_release(struct agent *a, const char *id, struct http_response *resp)
{
    struct err e;
    err_clear(&e);
    if (!turn_session_id_valid(id) ||
        STORE_CALL(a->store, session_set_status, id, "active", "released by operator", &e) < 0) {
        reply_error(resp, "NotFound", "session not found");
        return;
    }
    reply_json(resp, 200, json_pack("{s:s, s:s}", "sessionId", id, "status", "active"));
}

static void handle_session_list(struct agent *a, struct http_request *req,
                                struct http_response *resp)
{
    const char *status = http_request_query(req, "status");
    if (status && strcmp(status, "active") != 0 && strcmp(status, "handoff") != 0 &&
        strcmp(status, "closed") != 0) {
        reply_error(resp, "InvalidRequest", "'status' must be active, handoff or closed");
        return;
    }
    struct err e;
    err_clear(&e);
    json_t *list = NULL;
    if (STORE_CALL(a->store, sessions_list, status, 200, &list, &e) < 0) {
        reply_err(resp, &e);
        return;
    }
    size_t i;
    json_t *s;
    json_array_foreach(list, i, s) {
        char buf[40];
        const char *keys[] = {"createdAt", "lastActivity"};
        for (int k = 0; k < 2; k++) {
            clock_iso8601(json_integer_value(json_object_get(s, keys[k])), buf, sizeof buf);
            json_object_set_new(s, keys[k], json_string(buf));
        }
    }
    reply_json(resp, 200, json_pack("{s:o}", "sessions", list));
}

/* ---------------------------------------------------------------- static pages */

#define API_CSP                                                                                    \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "              \
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
#define API_MAX_STATIC (2 * 1024 * 1024)

static const struct {
    const char *ext;
    const char *type;
} content_types[] = {
    {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"}, {".css", "text/css; charset=utf-8"},
    {".svg", "image/svg+xml"}, {".png", "image/png"}, {".ico", "image/x-icon"},
    {".json", "application/json"}, {".txt", "text/plain; charset=utf-8"},
};

/* Serves web/<name>: names are one path segment of [A-Za-z0-9._-] not starting with '.', and the
 * extension must be a known type, so nothing outside web/ can be reached. */
static void serve_static(const struct app *rt, const char *name, struct http_response *resp)
{
    size_t n = strlen(name);
    const char *type = NULL;
    int ok = n > 0 && n < 100 && name[0] != '.';
    for (size_t i = 0; ok && i < n; i++) {
        char c = name[i];
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '.' || c == '_' || c == '-';
    }
    const char *dot = ok ? strrchr(name, '.') : NULL;
    for (size_t i = 0; dot && i < sizeof content_types / sizeof content_types[0]; i++)
        if (strcmp(dot, content_types[i].ext) == 0)
            type = content_types[i].type;
    char *path = type ? xasprintf("%s/%s", rt->web_dir, name) : NULL;
    FILE *f = path ? fopen(path, "rb") : NULL;
    free(path);
    if (!f) {
        reply_error(resp, "NotFound", "no such page");
        return;
    }
    struct stat sb;
    if (fstat(fileno(f), &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_size > API_MAX_STATIC) {
        fclose(f);
        reply_error(resp, "NotFound", "no such page");
        return;
    }
    char *buf = xmalloc((size_t)sb.st_size + 1);
    size_t len = fread(buf, 1, (size_t)sb.st_size, f);
    fclose(f);
    resp->status = 200;
    resp->content_type = type;
    resp->body = buf;
    resp->body_len = len;
    http_response_header(resp, "Content-Security-Policy", API_CSP);
    http_response_header(resp, "X-Content-Type-Options", "nosniff");
    http_response_header(resp, "Referrer-Policy", "no-referrer");
    http_response_header(resp, "Cache-Control", "no-cache");
}

/* ---------------------------------------------------------------- telemetry and queue */

static void handle_metrics(struct http_response *resp)
{
    char *text = NULL;
    if (metrics_render_prometheus(&text) < 0 || !text) {
        free(text);
        reply_error(resp, "InternalError", "cannot render metrics");
        return;
    }
    resp->status = 200;
    resp->content_type = METRICS_PROMETHEUS_CONTENT_TYPE;
    resp->body = text;
    resp->body_len = strlen(text);
}

static void handle_trace(const char *id, struct http_response *resp)
{
    json_t *tree = trace_id_valid(id) ? trace_store_get(id) : NULL;
    if (!tree) {
        reply_error(resp, "NotFound", "trace not found (only recent traces are kept)");
        return;
    }
    reply_json(resp, 200, tree);
}

static void handle_queue_stats(struct app *rt, struct http_response *resp)
{
    const char *names[] = {QUEUE_AGENT_ACTIONS, QUEUE_AGENT_ACTIONS_DLQ};
    json_t *queues = json_array();
    for (int i = 0; i < 2; i++) {
        struct queue_counts c = {0};
        struct err e;
        err_clear(&e);
        if (queue_counts(rt->queue, names[i], &c, &e) < 0) {
            json_decref(queues);
            reply_err(resp, &e);
            return;
        }
        json_array_append_new(queues, json_pack("{s:s, s:I, s:I, s:I}", "name", names[i],
                                                "visible", (json_int_t)c.visible, "inFlight",
                                                (json_int_t)c.in_flight, "delayed",
                                                (json_int_t)c.delayed));
    }
    reply_json(resp, 200, json_pack("{s:o}", "queues", queues));
}

static void handle_queue_redrive(struct app *rt, struct http_response *resp)
{
    long long moved = 0;
    struct err e;
    err_clear(&e);
    if (queue_redrive(rt->queue, QUEUE_AGENT_ACTIONS_DLQ, NULL, 1000, &moved, &e) < 0) {
        reply_err(resp, &e);
        return;
    }
    reply_json(resp, 200, json_pack("{s:I}", "moved", (json_int_t)moved));
}

/* ---------------------------------------------------------------- routing */

enum route_id { R_CHAT, R_HEALTH, R_SESSIONS, R_SESSION, R_SESSION_MESSAGES, R_SESSION_RELEASE,
                R_SESSION_EXECUTIONS, R_TICKET, R_TICKETS, R_ANALYTICS, R_METRICS, R_TRACE,
                R_QUEUE_STATS, R_QUEUE_REDRIVE, R_PAGE_CHAT, R_PAGE_CONSOLE, R_STATIC };

struct route {
    enum route_id id;    /* which handler */
    const char *pattern; /* path with '*' standing for one id segment */
    const char *method;  /* the one method allowed */
    int operator_only;   /* 1: needs the operator token */
};

static const struct route routes[] = {
    {R_CHAT, "/chat", "POST", 0},
    {R_HEALTH, "/health", "GET", 0},
    {R_SESSIONS, "/sessions", "GET", 1},
    {R_SESSION, "/sessions/*", "GET", 0},
    {R_SESSION_MESSAGES, "/sessions/*/messages", "POST", 1},
    {R_SESSION_RELEASE, "/sessions/*/release", "POST", 1},
    {R_SESSION_EXECUTIONS, "/sessions/*/executions", "GET", 1},
    {R_METRICS, "/metrics", "GET", 1},
    {R_TRACE, "/traces/*", "GET", 1},
    {R_QUEUE_STATS, "/queue/stats", "GET", 1},
    {R_QUEUE_REDRIVE, "/queue/dlq/redrive", "POST", 1},
    {R_TICKET, "/tickets/*", "GET", 0},
    {R_TICKETS, "/tickets", "GET", 1},
    {R_ANALYTICS, "/analytics", "GET", 1},
    {R_PAGE_CHAT, "/", "GET", 0},
    {R_PAGE_CONSOLE, "/console", "GET", 0},
    {R_STATIC, "/static/*", "GET", 0},
};

/* Matches path against pattern; the '*' segment (non-empty, no '/') is copied to id. */
static int path_match(const char *pattern, const char *path, char *id, size_t cap)
{
    while (*pattern && *path) {
        if (*pattern == '*') {
            size_t n = strcspn(path, "/");
            if (n == 0 || n >= cap)
                return 0;
            memcpy(id, path, n);
            id[n] = '\0';
            path += n;
            pattern++;
        } else if (*pattern++ != *path++) {
            return 0;
        }
    }
    return *pattern == '\0' && *path == '\0';
}

static void dispatch(struct app *rt, struct http_request *req, struct http_response *resp,
                     const char **route_name);

/* Every request: an X-Ray segment (continuing the caller's X-Amzn-Trace-Id), the route's
 * counter, and the trace header on the response. */
void api_handle(void *ud, struct http_request *req, struct http_response *resp)
{
    struct app *rt = ud;
    const char *header = http_request_header(req, "X-Amzn-Trace-Id");
    struct err terr;
    err_clear(&terr);
    struct trace_ctx *seg = trace_begin("parley", header, &terr);
    trace_set_request(seg, req->method, req->path, http_request_header(req, "User-Agent"),
                      NULL);
    /* Formatted now: a streamed turn ends (and frees) the segment on its own thread. */
    char th[256];
    size_t thn = trace_header_format(seg, 0, th, sizeof th);
    agent_trace_set(seg);
    const char *route = "unmatched";
    dispatch(rt, req, resp, &route);
    agent_trace_set(NULL);
    if (thn > 0)
        http_response_header(resp, "X-Amzn-Trace-Id", th);
    if (!resp->stream_fn)
        trace_end(seg, resp->status); /* a stream ends its segment when its turn ends */
    metrics_http_request(route, resp->status);
}

static void dispatch(struct app *rt, struct http_request *req, struct http_response *resp,
                     const char **route_name)
{
    struct agent *a = &rt->agent;
    char id[128] = "";
    const struct route *r = NULL;
    const char *allowed = NULL;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (!path_match(routes[i].pattern, req->path, id, sizeof id))
            continue;
        allowed = routes[i].method;
        if (strcmp(req->method, routes[i].method) == 0 ||
            (strcmp(routes[i].method, "GET") == 0 && strcmp(req->method, "HEAD") == 0)) {
            r = &routes[i];
            break;
        }
    }
    if (!r && allowed) {
        char msg[200];
        snprintf(msg, sizeof msg, "%.120s allows %s only (got %.10s)", req->path, allowed,
                 req->method);
        http_response_header(resp, "Allow", allowed);
        reply_error(resp, "MethodNotAllowed", msg);
        return;
    }
    if (!r) {
        char msg[200];
        snprintf(msg, sizeof msg, "no route for %.10s %.120s", req->method, req->path);
        reply_error(resp, "NotFound", msg);
        return;
    }
    *route_name = r->pattern;
    if (r->operator_only && !require_operator(a, req, resp))
        return;
    switch (r->id) {
    case R_CHAT:
        handle_chat(a, req, resp);
        break;
    case R_HEALTH:
        reply_json(resp, 200, json_pack("{s:s, s:s, s:s}", "status", "ok", "store",
                                        a->store->ops->name, "model", a->model->ops->name));
        break;
    case R_SESSIONS:
        handle_session_list(a, req, resp);
        break;
    case R_SESSION:
        handle_session(a, id, resp);
        break;
    case R_SESSION_MESSAGES:
        handle_operator_message(a, id, req, resp);
        break;
    case R_SESSION_RELEASE:
        handle_release(a, id, resp);
        break;
    case R_TICKET:
        handle_ticket(a, id, req, resp);
        break;
    case R_TICKETS:
        handle_ticket_list(a, resp);
        break;
    case R_ANALYTICS:
        reply_json(resp, 200, analytics_report(rt->analytics));
        break;
    case R_SESSION_EXECUTIONS:
        reply_json(resp, 200, json_pack("{s:o}", "executions", app_executions(rt, id)));
        break;
    case R_METRICS:
        handle_metrics(resp);
        break;
    case R_TRACE:
        handle_trace(id, resp);
        break;
    case R_QUEUE_STATS:
        handle_queue_stats(rt, resp);
        break;
    case R_QUEUE_REDRIVE:
        handle_queue_redrive(rt, resp);
        break;
    case R_PAGE_CHAT:
        serve_static(rt, "index.html", resp);
        break;
    case R_PAGE_CONSOLE:
        serve_static(rt, "console.html", resp);
        break;
    case R_STATIC:
        serve_static(rt, id, resp);
        break;
    }
}
