/*
 * fake_http.h - a scripted HTTP server for tests (libmicrohttpd on 127.0.0.1, ephemeral port).
 *
 * The test queues responses with fake_http_push() (status, headers, body, delay); each incoming
 * request takes the next one and is recorded (method, raw request target with the query, headers,
 * body) for the test to assert afterwards with fake_http_request(). When the script runs out, the
 * server answers 599 "script exhausted", or the reply set with fake_http_repeat(). A delay sleeps
 * before answering, so a client with a shorter timeout sees a timeout. The server counts the
 * connections it accepted (fake_http_connections), so a test can tell kept-alive connections
 * reused from new ones. Header-only (static inline) so any test can include it.
 */
#ifndef PARLEY_FAKE_HTTP_H
#define PARLEY_FAKE_HTTP_H

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define FAKE_MAX_SCRIPT 32
#define FAKE_MAX_RECORDS 64
#define FAKE_MAX_HEADERS 48
#define FAKE_BODY_MAX (4u << 20)

struct fake_reply {
    int status;          /* HTTP status */
    char *headers;       /* "Name: value\n" lines, owned */
    char *body;          /* owned */
    size_t body_len;     /* bytes */
    long delay_ms;       /* sleep before answering */
};

struct fake_request {
    char method[16];
    char *target;                      /* raw request target, "/path%3A?x=1" */
    char *hdr_name[FAKE_MAX_HEADERS];  /* as received */
    char *hdr_value[FAKE_MAX_HEADERS];
    size_t n_headers;
    char *body;                        /* NUL-terminated */
    size_t body_len;
};

struct fake_http {
    struct MHD_Daemon *d;
    unsigned short port;
    char base_url[64];                     /* "http://127.0.0.1:PORT" */
    pthread_mutex_t mu;
    struct fake_reply script[FAKE_MAX_SCRIPT];
    size_t n_script, next_script;
    struct fake_request rec[FAKE_MAX_RECORDS];
    size_t n_rec;
    struct fake_reply repeat; /* the reply once the script ran out (fake_http_repeat) */
    int has_repeat;           /* repeat is set */
    size_t n_conns;           /* connections accepted */
};

static inline void fake__notify_conn(void *cls, struct MHD_Connection *con, void **socket_ctx,
                                     enum MHD_ConnectionNotificationCode code)
{
    (void)con;
    (void)socket_ctx;
    struct fake_http *f = cls;
    if (code != MHD_CONNECTION_NOTIFY_STARTED)
        return;
    pthread_mutex_lock(&f->mu);
    f->n_conns++;
    pthread_mutex_unlock(&f->mu);
}

/* Per-connection context: created in the URI log callback, freed in the completed callback. */
struct fake_ctx {
    char *target;
    char *body;
    size_t body_len;
    int too_big;
    int started; /* the first access-handler call (headers only) has been seen */
};

static inline void *fake__uri_log(void *cls, const char *uri, struct MHD_Connection *con)
{
    (void)cls;
    (void)con;
    struct fake_ctx *ctx = calloc(1, sizeof *ctx);
    ctx->target = strdup(uri ? uri : "");
    return ctx;
}

static inline void fake__completed(void *cls, struct MHD_Connection *con, void **con_cls,
                                   enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)con;
    (void)toe;
    struct fake_ctx *ctx = *con_cls;
    if (ctx) {
        free(ctx->target);
        free(ctx->body);
        free(ctx);
        *con_cls = NULL;
    }
}

struct fake__hdr_iter {
    struct fake_request *r;
};

static inline enum MHD_Result fake__hdr(void *cls, enum MHD_ValueKind kind, const char *k,
                                        const char *v)
{
    (void)kind;
    struct fake__hdr_iter *it = cls;
    if (it->r->n_headers < FAKE_MAX_HEADERS) {
        it->r->hdr_name[it->r->n_headers] = strdup(k);
        it->r->hdr_value[it->r->n_headers] = strdup(v ? v : "");
        it->r->n_headers++;
    }
    return MHD_YES;
}

static inline enum MHD_Result fake__access(void *cls, struct MHD_Connection *con, const char *url,
                                           const char *method, const char *version,
                                           const char *upload_data, size_t *upload_size,
                                           void **con_cls)
{
    (void)url;
    (void)version;
    struct fake_http *f = cls;
    struct fake_ctx *ctx = *con_cls;
    if (!ctx->started) {
        ctx->started = 1;
        return MHD_YES;
    }
    if (*upload_size > 0) {
        if (ctx->body_len + *upload_size > FAKE_BODY_MAX) {
            ctx->too_big = 1;
        } else {
            ctx->body = realloc(ctx->body, ctx->body_len + *upload_size + 1);
            memcpy(ctx->body + ctx->body_len, upload_data, *upload_size);
            ctx->body_len += *upload_size;
            ctx->body[ctx->body_len] = '\0';
        }
        *upload_size = 0;
        return MHD_YES;
    }
    /* The whole request is in: record it and pick the reply. */
    struct fake_reply rep = {599, NULL, NULL, 0, 0};
    pthread_mutex_lock(&f->mu);
    if (f->n_rec < FAKE_MAX_RECORDS) {
        struct fake_request *r = &f->rec[f->n_rec++];
        memset(r, 0, sizeof *r);
        snprintf(r->method, sizeof r->method, "%s", method);
        r->target = strdup(ctx->target);
        r->body = ctx->body ? ctx->body : strdup("");
        r->body_len = ctx->body_len;
        ctx->body = NULL;
        struct fake__hdr_iter it = {r};
        MHD_get_connection_values(con, MHD_HEADER_KIND, fake__hdr, &it);
    }
    if (f->next_script < f->n_script)
        rep = f->script[f->next_script++];
    else if (f->has_repeat)
        rep = f->repeat;
    pthread_mutex_unlock(&f->mu);
    if (rep.delay_ms > 0) {
        struct timespec ts = {rep.delay_ms / 1000, (rep.delay_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    const char *body = rep.status == 599 && !rep.body ? "script exhausted" : rep.body;
    size_t len = rep.status == 599 && !rep.body ? strlen(body) : rep.body_len;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)(body ? body : ""), MHD_RESPMEM_MUST_COPY);
    if (rep.headers) {
        const char *line = rep.headers;
        while (*line) {
            const char *nl = strchr(line, '\n');
            size_t l = nl ? (size_t)(nl - line) : strlen(line);
            const char *colon = memchr(line, ':', l);
            if (colon) {
                char name[128], value[1024];
                snprintf(name, sizeof name, "%.*s", (int)(colon - line), line);
                const char *v = colon + 1;
                while (*v == ' ')
                    v++;
                snprintf(value, sizeof value, "%.*s", (int)(line + l - v), v);
                MHD_add_response_header(resp, name, value);
            }
            line += l;
            if (*line == '\n')
                line++;
        }
    }
    enum MHD_Result ret = MHD_queue_response(con, (unsigned)rep.status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* Starts a server on 127.0.0.1 with an ephemeral port. Returns 0 or -1. */
static inline int fake_http_start(struct fake_http *f)
{
    memset(f, 0, sizeof *f);
    pthread_mutex_init(&f->mu, NULL);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = 0;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    f->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                                MHD_USE_ERROR_LOG,
                            0, NULL, NULL, fake__access, f, MHD_OPTION_SOCK_ADDR, &sa,
                            MHD_OPTION_URI_LOG_CALLBACK, fake__uri_log, f,
                            MHD_OPTION_NOTIFY_COMPLETED, fake__completed, f,
                            MHD_OPTION_NOTIFY_CONNECTION, fake__notify_conn, f,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_END);
    if (!f->d)
        return -1;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(f->d, MHD_DAEMON_INFO_BIND_PORT);
    f->port = info ? info->port : 0;
    snprintf(f->base_url, sizeof f->base_url, "http://127.0.0.1:%u", (unsigned)f->port);
    return f->port ? 0 : -1;
}

/* Queues a reply. headers are "Name: value\n" lines (may be NULL); body is copied (len bytes, or
 * strlen when len is (size_t)-1). */
static inline void fake_http_push(struct fake_http *f, int status, const char *headers,
                                  const char *body, size_t len, long delay_ms)
{
    pthread_mutex_lock(&f->mu);
    if (f->n_script < FAKE_MAX_SCRIPT) {
        struct fake_reply *r = &f->script[f->n_script++];
        if (len == (size_t)-1)
            len = body ? strlen(body) : 0;
        r->status = status;
        r->headers = headers ? strdup(headers) : NULL;
        r->body = malloc(len + 1);
        if (body)
            memcpy(r->body, body, len);
        r->body[len] = '\0';
        r->body_len = len;
        r->delay_ms = delay_ms;
    }
    pthread_mutex_unlock(&f->mu);
}

/* Answers every request after the script with status and body (copied), after delay_ms; a
 * second call replaces the first. */
static inline void fake_http_repeat(struct fake_http *f, int status, const char *body,
                                    long delay_ms)
{
    pthread_mutex_lock(&f->mu);
    free(f->repeat.body);
    f->repeat = (struct fake_reply){status, NULL, strdup(body), strlen(body), delay_ms};
    f->has_repeat = 1;
    pthread_mutex_unlock(&f->mu);
}

/* Returns the number of connections accepted so far. */
static inline size_t fake_http_connections(struct fake_http *f)
{
    pthread_mutex_lock(&f->mu);
    size_t n = f->n_conns;
    pthread_mutex_unlock(&f->mu);
    return n;
}

/* Returns the number of requests received so far (recorded ones: at most FAKE_MAX_RECORDS). */
static inline size_t fake_http_count(struct fake_http *f)
{
    pthread_mutex_lock(&f->mu);
    size_t n = f->n_rec;
    pthread_mutex_unlock(&f->mu);
    return n;
}

/* Returns request i (borrowed, valid until fake_http_stop), or NULL. */
static inline const struct fake_request *fake_http_request(struct fake_http *f, size_t i)
{
    pthread_mutex_lock(&f->mu);
    const struct fake_request *r = i < f->n_rec ? &f->rec[i] : NULL;
    pthread_mutex_unlock(&f->mu);
    return r;
}

/* Returns the value of header name (case-insensitive) in r, or NULL. */
static inline const char *fake_header(const struct fake_request *r, const char *name)
{
    for (size_t i = 0; r && i < r->n_headers; i++)
        if (strcasecmp(r->hdr_name[i], name) == 0)
            return r->hdr_value[i];
    return NULL;
}

/* Stops the server and frees everything. */
static inline void fake_http_stop(struct fake_http *f)
{
    if (f->d)
        MHD_stop_daemon(f->d);
    f->d = NULL;
    for (size_t i = 0; i < f->n_script; i++) {
        free(f->script[i].headers);
        free(f->script[i].body);
    }
    for (size_t i = 0; i < f->n_rec; i++) {
        struct fake_request *r = &f->rec[i];
        free(r->target);
        free(r->body);
        for (size_t j = 0; j < r->n_headers; j++) {
            free(r->hdr_name[j]);
            free(r->hdr_value[j]);
        }
    }
    free(f->repeat.body);
    f->repeat.body = NULL;
    f->n_script = f->n_rec = 0;
    pthread_mutex_destroy(&f->mu);
}

#endif
