/*
 * server.c - libmicrohttpd glue: per-request context allocated on the first access-handler call,
 * body read into a capped buffer, freed in the request-completed callback (STYLE rule 7).
 */
#include "http/server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/log.h"
#include "base/buf.h"
#include "base/xmalloc.h"

struct http_server {
    struct MHD_Daemon *daemon; /* the libmicrohttpd daemon */
    http_handler_fn handler;   /* the application */
    void *ud;                  /* passed to handler */
    size_t max_body;           /* body cap in bytes */
    int port;                  /* bound port */
};

struct req_ctx {
    struct http_request req; /* what the handler sees */
    struct buf body;         /* the request body, capped at max_body; req.body points into it */
};

const char *http_request_header(const struct http_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *http_request_query(const struct http_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *http_request_peer(const struct http_request *req, char *out, size_t cap)
{
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(
        req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    out[0] = '\0';
    if (info && info->client_addr && info->client_addr->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)info->client_addr;
        if (!inet_ntop(AF_INET, &in->sin_addr, out, (socklen_t)cap))
            out[0] = '\0';
    }
    return out;
}

void http_response_header(struct http_response *resp, const char *name, const char *value)
{
    if (resp->nheaders >= HTTP_MAX_HEADERS)
        return;
    resp->header_names[resp->nheaders] = name;
    resp->header_values[resp->nheaders] = xstrdup(value);
    resp->nheaders++;
}

static void response_release(struct http_response *r)
{
    free(r->body);
    for (int i = 0; i < r->nheaders; i++)
        free(r->header_values[i]);
}

/* Appends upload bytes; a body past the cap is dropped whole and flagged. */
static void append_body(struct req_ctx *ctx, const char *data, size_t n)
{
    if (ctx->req.body_too_large)
        return;
    if (buf_add(&ctx->body, data, n) < 0) {
        ctx->req.body_too_large = 1;
        buf_reset(&ctx->body);
    }
    ctx->req.body = ctx->body.data;
    ctx->req.body_len = ctx->body.len;
}

struct stream_state {
    http_stream_fn fn;
    void *ud;
    void (*free_fn)(void *ud);
};

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct stream_state *st = cls;
    ssize_t n = st->fn(st->ud, buf, max);
    return n < 0 ? MHD_CONTENT_READER_END_OF_STREAM : n;
}

static void stream_done(void *cls)
{
    struct stream_state *st = cls;
    if (st->free_fn)
        st->free_fn(st->ud);
    free(st);
}

/* ---------------------------------------------------------------- framing */

struct header_count {
    const char *name; /* header to count (case-insensitive) */
    int n;            /* occurrences */
    const char *last; /* its last value */
};

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
    (void)kind;
    struct header_count *c = cls;
    if (key && strcasecmp(key, c->name) == 0) {
        c->n++;
        c->last = value;
    }
    return MHD_YES;
}

/* libmicrohttpd 0.9.75 serves a request with two Content-Length headers, or Content-Length with
 * Transfer-Encoding, by the first one, and waits on unknown transfer codings: behind a proxy that
 * reads the other one, that is request smuggling. Such requests are refused before their body:
 * returns 0 (fine) or the status (400, 501) with a message in msg. */
static int framing_status(struct MHD_Connection *conn, char *msg, size_t cap)
{
    struct header_count cl = {"Content-Length", 0, NULL}, te = {"Transfer-Encoding", 0, NULL};
    MHD_get_connection_values(conn, MHD_HEADER_KIND, count_header, &cl);
    MHD_get_connection_values(conn, MHD_HEADER_KIND, count_header, &te);
    if (cl.n > 1) {
        snprintf(msg, cap, "the request has %d Content-Length headers", cl.n);
        return 400;
    }
    if (cl.n && te.n) {
        snprintf(msg, cap, "the request has both Content-Length and Transfer-Encoding");
        return 400;
    }
    if (te.n > 1) {
        snprintf(msg, cap, "the request has %d Transfer-Encoding headers", te.n);
        return 400;
    }
    if (te.n && strcasecmp(te.last ? te.last : "", "chunked") != 0) {
        snprintf(msg, cap, "transfer coding '%.60s' is not supported (only chunked)",
                 te.last ? te.last : "");
        return 501;
    }
    return 0;
}

/* Answers a framing error as a JSON error and closes the connection (the body is not read). */
static enum MHD_Result refuse_framing(struct MHD_Connection *conn, int status, const char *msg)
{
    char body[300];
    int n = snprintf(body, sizeof body, "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}",
                     status == 501 ? "NotImplemented" : "InvalidRequest", msg);
    struct MHD_Response *mr = MHD_create_response_from_buffer((size_t)n, body,
                                                              MHD_RESPMEM_MUST_COPY);
    if (!mr)
        return MHD_NO;
    MHD_add_response_header(mr, "Content-Type", "application/json");
    MHD_add_response_header(mr, "Connection", "close");
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)status, mr);
    MHD_destroy_response(mr);
    log_at(LL_INFO, "http", "refused a request: %s", msg);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls)
{
    (void)version;
    struct http_server *s = cls;
    struct req_ctx *ctx = *con_cls;
    if (!ctx) {
        char msg[200];
        int bad = framing_status(conn, msg, sizeof msg);
        if (bad)
            return refuse_framing(conn, bad, msg);
        ctx = xcalloc(1, sizeof *ctx);
        buf_init(&ctx->body, s->max_body);
        buf_add(&ctx->body, "", 0); /* handlers always see a string, "" when empty */
        ctx->req.body = ctx->body.data;
        ctx->req.method = method;
        ctx->req.path = url;
        ctx->req.conn = conn;
        *con_cls = ctx;
        return MHD_YES;
    }
    if (*upload_size) {
        append_body(ctx, upload_data, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    struct http_response resp = {.status = 500, .content_type = "application/json"};
    s->handler(s->ud, &ctx->req, &resp);
    struct MHD_Response *mr;
    if (resp.stream_fn) {
        struct stream_state *st = xmalloc(sizeof *st);
        st->fn = resp.stream_fn;
        st->ud = resp.stream_ud;
        st->free_fn = resp.stream_free;
        mr = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_reader, st,
                                               stream_done);
    } else {
        mr = MHD_create_response_from_buffer(resp.body_len, resp.body, MHD_RESPMEM_MUST_COPY);
    }
    if (!mr) {
        response_release(&resp);
        return MHD_NO;
    }
    if (resp.content_type)
        MHD_add_response_header(mr, "Content-Type", resp.content_type);
    for (int i = 0; i < resp.nheaders; i++)
        MHD_add_response_header(mr, resp.header_names[i], resp.header_values[i]);
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)resp.status, mr);
    MHD_destroy_response(mr);
    response_release(&resp);
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    struct req_ctx *ctx = *con_cls;
    if (!ctx)
        return;
    buf_release(&ctx->body);
    free(ctx);
    *con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    if (n && line[n - 1] == '\n')
        line[n - 1] = '\0';
    log_at(LL_DEBUG, "http", "libmicrohttpd: %s", line);
}

struct http_server *http_server_start(const char *bind, int port, int max_connections,
                                      size_t max_body, http_handler_fn handler, void *ud,
                                      struct err *err)
{
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, bind, &addr.sin_addr) != 1) {
        err_set(err, "HttpError", "cannot listen on '%s': not an IPv4 address", bind);
        return NULL;
    }
    struct http_server *s = xcalloc(1, sizeof *s);
    s->handler = handler;
    s->ud = ud;
    s->max_body = max_body;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_POLL | MHD_USE_ERROR_LOG;
    s->daemon = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request, s,
                                 MHD_OPTION_SOCK_ADDR, &addr, MHD_OPTION_NOTIFY_COMPLETED,
                                 on_completed, s, MHD_OPTION_CONNECTION_LIMIT,
                                 (unsigned)max_connections, MHD_OPTION_CONNECTION_TIMEOUT,
                                 (unsigned)120, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
                                 MHD_OPTION_END);
    if (!s->daemon) {
        err_set(err, "HttpError", "cannot listen on %s:%d (address in use or not permitted)", bind,
                port);
        free(s);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : port;
    return s;
}

int http_server_port(const struct http_server *s)
{
    return s->port;
}

void http_server_stop(struct http_server *s)
{
    if (!s)
        return;
    MHD_stop_daemon(s->daemon);
    free(s);
}
