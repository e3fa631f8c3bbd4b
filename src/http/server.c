/*
 * server.c - libmicrohttpd glue: a pool of epoll threads, a per-request context allocated on the
 * first access-handler call, the body read into a capped buffer, the context freed in the
 * request-completed callback (STYLE rule 7). Deferred requests suspend their connection and run
 * as scheduler tasks; streams suspend while they have nothing to send; a reaper thread enforces
 * the request deadline that libmicrohttpd's own timeout (reset by every byte) does not.
 */
#include "http/server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/dlist.h"
#include "base/errcode.h"
#include "base/log.h"
#include "base/sched.h"
#include "base/xmalloc.h"

#define REAPER_TICK_MS 200 /* how often the reaper looks for requests past their deadline */
/* libmicrohttpd's memory pool per connection (its default is 32 KiB): the request line, headers
 * and read buffer, then the response headers and the write buffer of a streamed body. It is held
 * for as long as the connection lives, by every held connection (and libmicrohttpd zeroes all of
 * it between requests, so all of it is resident). 10 KiB takes a header block of 8 KiB (a JWT at
 * its 8 KiB cap and the usual headers; test_e2e_edge checks it; blocks up to about 9.5 KiB pass,
 * json and SSE), and a block of 10 KiB is answered 431. A body is streamed through the read
 * buffer in pieces, so it needs no room here. */
#define CONN_POOL_BYTES (10 * 1024)
/* The buffer libmicrohttpd gives a streamed response for each read of its body, held with the
 * response for the whole stream. libmicrohttpd 0.9.75 uses it only without chunked encoding (an
 * HTTP/1.0 client): a chunked response is read straight into the connection's write buffer (the
 * reader is asked for up to ~9.7 KB), so for an HTTP/1.1 stream the block is held and never used.
 * 4 -> 1 KiB was -4.4 KB per held SSE turn at 4,000 connections; 1 KiB -> 256 B another ~0.8 KB,
 * and an HTTP/1.0 stream is read in 256-byte pieces. */
#define STREAM_BLOCK_BYTES 256
/* Resuming a connection makes libmicrohttpd walk the whole list of its event thread's suspended
 * connections on its next turn (0.9.75, resume_suspended_connections), which at thousands of held
 * turns was a tenth of the server's CPU when every finished turn and every streamed chunk resumed
 * its connection on its own. With at least RESUME_BATCH_FROM connections suspended (held turns
 * and streams waiting for their next chunk), resumes are queued and done together by the resumer
 * thread, so the walk is paid once per batch; with fewer, a connection is resumed at once (no
 * added latency). A batch gathers for suspended / RESUME_WALK_PER_MS ms, at least RESUME_BATCH_MS
 * and at most RESUME_BATCH_MAX_MS: the walk's length grows with the suspended connections, so a
 * fixed period made its cost grow with them too (8.5% of the CPU at 4,000 held turns with 2 ms);
 * this keeps it near RESUME_WALK_PER_MS connections visited per ms, at most RESUME_BATCH_MAX_MS
 * added to a turn (or a streamed chunk). Each visit is a cache miss, about 230 ns on the 2-core
 * VM: at 500 a ms the walk was still 6.6% (json) and 9.3% (SSE) of the samples at 4,000
 * connections, at 150 it is 3.7% (SSE), for up to 27 ms more per turn there, 50 at 7,500 and up.
 * The count is of suspended connections, not of requests whose handler runs: a streamed turn's
 * handler returns at once and its stream then suspends between chunks, so counting requests left
 * 4,000 held streams resumed one by one (a walk per chunk, 9% of the CPU).
 */
#define RESUME_BATCH_FROM 256
#define RESUME_BATCH_MS 2
#define RESUME_BATCH_MAX_MS 50
#define RESUME_WALK_PER_MS 150

/* One per connection (libmicrohttpd's socket context), on the server's list while it is open. */
struct conn_track {
    int fd;                /* the connection's socket */
    long long deadline_ms; /* monotonic deadline of the request being read; 0: none */
    struct dlist link;     /* on the server's list */
};

struct http_server {
    struct MHD_Daemon *daemon;        /* the libmicrohttpd daemon */
    http_handler_fn handler;          /* the application */
    void *ud;                         /* passed to handler and defer */
    http_defer_fn defer;              /* which requests run as tasks (NULL: none) */
    struct sched *sched;              /* runs them (borrowed) */
    size_t max_body;                  /* body cap in bytes */
    int port;                         /* bound port */
    long long request_ms;             /* PARLEY_REQUEST_TIMEOUT_S in ms */
    long long idle_ms;                /* PARLEY_IDLE_TIMEOUT_S in ms */
    atomic_int stopping;              /* http_server_quiesce() was called */
    atomic_int in_flight;             /* deferred requests submitted and not finished */
    atomic_int suspended;             /* connections suspended and not yet resumed */
    pthread_mutex_t lock;             /* guards conns and reaper_stop */
    pthread_cond_t reaper_cv;         /* wakes the reaper to stop */
    struct dlist conns;               /* open connections (struct conn_track) */
    int reaper_stop;                  /* 1: the reaper exits */
    pthread_t reaper;                 /* the deadline reaper */
    int reaper_on;                    /* reaper was started */
    pthread_mutex_t resume_lock;      /* guards the resume queue and resume_stop */
    pthread_cond_t resume_cv;         /* wakes the resumer */
    struct MHD_Connection **resume_q; /* connections waiting for the resumer */
    size_t n_resume, cap_resume;      /* entries in resume_q, allocated entries */
    int resume_stop;                  /* 1: the resumer drains the queue and exits */
    pthread_t resumer;                /* the resume batcher */
    int resumer_on;                   /* resumer was started */
    atomic_int batching_said;         /* the first batched resume was logged */
};

/* Lifecycle of a request: READING (headers, body) -> on the final access-handler call either
 * answered inline, or RUNNING (deferred: connection suspended, handler on a scheduler task) ->
 * READY (the task left its response in `ready` and resumed the connection) -> queued on the
 * next access-handler call. */
enum req_state { RS_READING, RS_RUNNING, RS_READY };

struct req_ctx {
    struct http_request req;     /* what the handler sees */
    struct buf body;             /* the request body, capped at max_body; req.body points in it */
    struct http_server *s;       /* the server */
    struct MHD_Connection *conn; /* the connection */
    atomic_int state;            /* enum req_state */
    struct MHD_Response *ready;  /* a deferred request's response, queued on resume */
    unsigned ready_status;       /* its status */
};

/* The wake handle of a streamed response (see http_response_wake()). */
struct http_wake {
    pthread_mutex_t lock;        /* guards everything below */
    struct http_server *s;       /* the server of conn */
    struct MHD_Connection *conn; /* the streaming connection; NULL before it streams and after */
    int suspended;               /* conn is suspended waiting for data */
    int pending;                 /* a signal arrived while conn was not suspended */
    int refs;                    /* the server's stream and the producer */
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
    http_wake_unref(r->wake);
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

/* ---------------------------------------------------------------- resumes */

/* Resumes suspended connection conn of server s: at once, or with many connections suspended
 * through the resumer's next batch (see RESUME_BATCH_FROM). Any thread. */
static void conn_resume(struct http_server *s, struct MHD_Connection *conn)
{
    int suspended = atomic_fetch_sub(&s->suspended, 1);
    if (suspended < RESUME_BATCH_FROM) {
        MHD_resume_connection(conn);
        return;
    }
    if (!atomic_exchange(&s->batching_said, 1))
        log_at(LL_INFO, "http",
               "%d connections suspended: resuming connections in batches every %d-%d ms",
               suspended, RESUME_BATCH_MS, RESUME_BATCH_MAX_MS);
    pthread_mutex_lock(&s->resume_lock);
    int now = !s->resumer_on || s->resume_stop;
    if (!now) {
        if (s->n_resume == s->cap_resume) {
            s->cap_resume = s->cap_resume ? 2 * s->cap_resume : 256;
            s->resume_q = xrealloc(s->resume_q, s->cap_resume * sizeof *s->resume_q);
        }
        s->resume_q[s->n_resume++] = conn;
        if (s->n_resume == 1)
            pthread_cond_signal(&s->resume_cv);
    }
    pthread_mutex_unlock(&s->resume_lock);
    if (now)
        MHD_resume_connection(conn);
}

/* The gathering time of a batch with `suspended` connections suspended, in ms (see
 * RESUME_WALK_PER_MS). */
static long resume_gather_ms(int suspended)
{
    long ms = suspended / RESUME_WALK_PER_MS;
    return ms < RESUME_BATCH_MS       ? RESUME_BATCH_MS
           : ms > RESUME_BATCH_MAX_MS ? RESUME_BATCH_MAX_MS
                                      : ms;
}

/* The resumer: waits for a queued resume, lets resumes gather (resume_gather_ms), then resumes the
 * batch. On stop it drains the queue before it exits (the daemon must not be stopped with
 * suspended connections). */
static void *resumer_main(void *arg)
{
    struct http_server *s = arg;
    struct MHD_Connection **batch = NULL;
    size_t cap = 0;
    pthread_mutex_lock(&s->resume_lock);
    for (;;) {
        while (s->n_resume == 0 && !s->resume_stop)
            pthread_cond_wait(&s->resume_cv, &s->resume_lock);
        if (s->n_resume == 0)
            break; /* stopping, and nothing left */
        if (!s->resume_stop) {
            pthread_mutex_unlock(&s->resume_lock);
            struct timespec gather = {0, resume_gather_ms(atomic_load(&s->suspended)) * 1000000L};
            nanosleep(&gather, NULL);
            pthread_mutex_lock(&s->resume_lock);
        }
        struct MHD_Connection **q = s->resume_q;
        size_t n = s->n_resume, qcap = s->cap_resume;
        s->resume_q = batch;
        s->cap_resume = cap;
        s->n_resume = 0;
        batch = q;
        cap = qcap;
        pthread_mutex_unlock(&s->resume_lock);
        for (size_t i = 0; i < n; i++)
            MHD_resume_connection(batch[i]);
        pthread_mutex_lock(&s->resume_lock);
    }
    pthread_mutex_unlock(&s->resume_lock);
    free(batch);
    return NULL;
}

/* ---------------------------------------------------------------- streams */

struct http_wake *http_response_wake(struct http_response *resp)
{
    if (!resp->wake) {
        resp->wake = xcalloc(1, sizeof *resp->wake);
        pthread_mutex_init(&resp->wake->lock, NULL);
        resp->wake->refs = 1; /* the server's, handed to the stream when it is queued */
    }
    pthread_mutex_lock(&resp->wake->lock);
    resp->wake->refs++;
    pthread_mutex_unlock(&resp->wake->lock);
    return resp->wake;
}

void http_wake_signal(struct http_wake *w)
{
    pthread_mutex_lock(&w->lock);
    if (w->conn && w->suspended) {
        w->suspended = 0;
        conn_resume(w->s, w->conn);
    } else {
        w->pending = 1;
    }
    pthread_mutex_unlock(&w->lock);
}

void http_wake_unref(struct http_wake *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    int left = --w->refs;
    pthread_mutex_unlock(&w->lock);
    if (left)
        return;
    pthread_mutex_destroy(&w->lock);
    free(w);
}

struct stream_state {
    http_stream_fn fn;         /* the producer's reader */
    void *ud;                  /* its state */
    void (*free_fn)(void *ud); /* frees ud */
    struct http_wake *wake;    /* the server's reference, or NULL (a stream that never waits) */
};

/* Called on an event thread when the connection can take more. With nothing to send it suspends
 * the connection, unless a signal came in meanwhile (then it asks the producer again). */
static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct stream_state *st = cls;
    for (;;) {
        ssize_t n = st->fn(st->ud, buf, max);
        if (n < 0)
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (n > 0 || !st->wake)
            return n;
        struct http_wake *w = st->wake;
        pthread_mutex_lock(&w->lock);
        int again = w->pending;
        w->pending = 0;
        if (!again && w->conn) {
            w->suspended = 1;
            atomic_fetch_add(&w->s->suspended, 1);
            MHD_suspend_connection(w->conn);
        }
        pthread_mutex_unlock(&w->lock);
        if (!again)
            return 0;
    }
}

static void stream_done(void *cls)
{
    struct stream_state *st = cls;
    if (st->wake) {
        pthread_mutex_lock(&st->wake->lock);
        st->wake->conn = NULL; /* later signals are no-ops */
        pthread_mutex_unlock(&st->wake->lock);
        http_wake_unref(st->wake);
    }
    if (st->free_fn)
        st->free_fn(st->ud);
    free(st);
}

/* Turns a handler's response into a libmicrohttpd response for conn and releases resp. Returns
 * NULL when libmicrohttpd refuses (resp is released all the same). */
static struct MHD_Response *response_build(struct http_server *s, struct MHD_Connection *conn,
                                           struct http_response *resp)
{
    struct MHD_Response *mr;
    if (resp->stream_fn) {
        struct stream_state *st = xcalloc(1, sizeof *st);
        st->fn = resp->stream_fn;
        st->ud = resp->stream_ud;
        st->free_fn = resp->stream_free;
        st->wake = resp->wake; /* the server's reference moves to the stream */
        resp->wake = NULL;
        if (st->wake) {
            pthread_mutex_lock(&st->wake->lock);
            st->wake->s = s;
            st->wake->conn = conn;
            pthread_mutex_unlock(&st->wake->lock);
        }
        mr = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, STREAM_BLOCK_BYTES, stream_reader,
                                               st, stream_done);
        if (!mr)
            stream_done(st);
    } else {
        mr = MHD_create_response_from_buffer(resp->body_len, resp->body, MHD_RESPMEM_MUST_COPY);
    }
    if (mr) {
        if (resp->content_type)
            MHD_add_response_header(mr, "Content-Type", resp->content_type);
        for (int i = 0; i < resp->nheaders; i++)
            MHD_add_response_header(mr, resp->header_names[i], resp->header_values[i]);
    }
    response_release(resp);
    return mr;
}

/* Fills resp with a JSON error of code (a row of base/errcode.h). */
static void response_error(struct http_response *resp, const char *code, const char *msg)
{
    resp->status = errcode_status(code);
    resp->content_type = "application/json";
    resp->body = xasprintf("{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}", code, msg);
    resp->body_len = strlen(resp->body);
}

/* ---------------------------------------------------------------- framing */

struct header_scan {
    int cl, te;           /* Content-Length and Transfer-Encoding headers seen */
    const char *cl_value; /* the last Content-Length value */
    const char *te_value; /* the last Transfer-Encoding value */
    const char *bad_name; /* the first header name that is not a token, or NULL */
};

static enum MHD_Result scan_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    (void)kind;
    struct header_scan *h = cls;
    if (!key)
        return MHD_YES;
    /* libmicrohttpd keeps "Content-Length : 5" under the name "Content-Length " and a folded
     * line inside the previous value; a proxy may read either as framing. */
    if (!h->bad_name && (!key[0] || key[strcspn(key, " \t\r\n\v\f")]))
        h->bad_name = key;
    if (strcasecmp(key, "Content-Length") == 0) {
        h->cl++;
        h->cl_value = value ? value : "";
    } else if (strcasecmp(key, "Transfer-Encoding") == 0) {
        h->te++;
        h->te_value = value ? value : "";
    }
    return MHD_YES;
}

/* libmicrohttpd 0.9.75 serves a request with two Content-Length headers, or Content-Length with
 * Transfer-Encoding, by the first one, ignores a Content-Length written with a space before its
 * colon, and waits on unknown transfer codings: behind a proxy that reads the other one, that is
 * request smuggling. Such requests are refused before their body: returns 0 (fine) or the status
 * (400, 501) with a message in msg. */
static int framing_status(struct MHD_Connection *conn, char *msg, size_t cap)
{
    struct header_scan h = {0};
    MHD_get_connection_values(conn, MHD_HEADER_KIND, scan_header, &h);
    if (h.bad_name) {
        snprintf(msg, cap, "header name '%.60s' is not a token (no spaces, not empty)", h.bad_name);
        return 400;
    }
    if (h.cl > 1) {
        snprintf(msg, cap, "the request has %d Content-Length headers", h.cl);
        return 400;
    }
    if (h.cl && (!h.cl_value[0] || h.cl_value[strspn(h.cl_value, "0123456789")] ||
                 strlen(h.cl_value) > 18)) {
        snprintf(msg, cap, "Content-Length '%.40s' is not a decimal number of bytes", h.cl_value);
        return 400;
    }
    if (h.cl && h.te) {
        snprintf(msg, cap, "the request has both Content-Length and Transfer-Encoding");
        return 400;
    }
    if (h.te > 1) {
        snprintf(msg, cap, "the request has %d Transfer-Encoding headers", h.te);
        return 400;
    }
    if (h.te && strcasecmp(h.te_value, "chunked") != 0) {
        snprintf(msg, cap, "transfer coding '%.60s' is not supported (only chunked)", h.te_value);
        return 501;
    }
    return 0;
}

/* Answers a request before its body as a JSON error with code (a row of base/errcode.h) and
 * closes the connection (the body is not read, no 100 Continue is sent). */
static enum MHD_Result refuse_early(struct MHD_Connection *conn, const char *code, const char *msg)
{
    /* msg quotes header text from the client: anything but printable ASCII, a quote or a
     * backslash becomes '?', so the body stays valid JSON (and the log line one line). */
    char safe[200];
    size_t k = 0;
    for (; msg[k] && k + 1 < sizeof safe; k++) {
        unsigned char ch = (unsigned char)msg[k];
        safe[k] = ch < 0x20 || ch > 0x7e || ch == '"' || ch == '\\' ? '?' : (char)ch;
    }
    safe[k] = '\0';
    char body[300];
    int status = errcode_status(code);
    int n = snprintf(body, sizeof body, "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}", code,
                     safe);
    struct MHD_Response *mr = MHD_create_response_from_buffer((size_t)n, body,
                                                              MHD_RESPMEM_MUST_COPY);
    if (!mr)
        return MHD_NO;
    MHD_add_response_header(mr, "Content-Type", "application/json");
    MHD_add_response_header(mr, "Connection", "close");
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)status, mr);
    MHD_destroy_response(mr);
    log_at(LL_INFO, "http", "refused a request: %s", safe);
    return ret;
}

/* ---------------------------------------------------------------- connections and deadlines */

static struct conn_track *conn_track_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(
        conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return info ? info->socket_context : NULL;
}

/* Sets the deadline of conn's request to ms from now (0: none). */
static void conn_deadline(struct http_server *s, struct MHD_Connection *conn, long long ms)
{
    struct conn_track *t = conn_track_of(conn);
    if (!t)
        return;
    pthread_mutex_lock(&s->lock);
    t->deadline_ms = ms ? (long long)(clock_mono_us() / 1000) + ms : 0;
    pthread_mutex_unlock(&s->lock);
}

/* libmicrohttpd calls it before it closes a socket, so the reaper (same lock) never touches a
 * descriptor number that was reused. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    struct http_server *s = cls;
    struct conn_track *t = *socket_context;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *info = MHD_get_connection_info(
            conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        t = xcalloc(1, sizeof *t);
        t->fd = info ? info->connect_fd : -1;
        pthread_mutex_lock(&s->lock);
        t->deadline_ms = (long long)(clock_mono_us() / 1000) + s->request_ms;
        dlist_push_head(&s->conns, &t->link);
        pthread_mutex_unlock(&s->lock);
        *socket_context = t;
        return;
    }
    if (!t)
        return;
    pthread_mutex_lock(&s->lock);
    dlist_unlink(&t->link);
    pthread_mutex_unlock(&s->lock);
    free(t);
    *socket_context = NULL;
}

/* Answers 408 on a connection whose request missed its deadline and shuts the socket down; the
 * event thread then sees the end of the stream and closes it. Called with s->lock held. The
 * answer is written here because libmicrohttpd has no response to send while it still reads
 * headers (it writes nothing on the socket then). */
static void reap(struct http_server *s, struct conn_track *t)
{
    char body[200], head[300];
    int bn = snprintf(body, sizeof body,
                      "{\"error\":{\"code\":\"RequestTimeout\",\"message\":\"the request's "
                      "headers and body did not arrive within %lld s\"}}",
                      s->request_ms / 1000);
    int hn = snprintf(head, sizeof head,
                      "HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\n"
                      "Connection: close\r\nContent-Length: %d\r\n\r\n",
                      bn);
    if (send(t->fd, head, (size_t)hn, MSG_NOSIGNAL | MSG_DONTWAIT) == hn)
        (void)send(t->fd, body, (size_t)bn, MSG_NOSIGNAL | MSG_DONTWAIT);
    shutdown(t->fd, SHUT_RDWR);
    t->deadline_ms = 0;
    log_at(LL_INFO, "http", "closed a connection whose request took over %lld s (408)",
           s->request_ms / 1000);
}

static void *reaper_main(void *arg)
{
    struct http_server *s = arg;
    pthread_mutex_lock(&s->lock);
    while (!s->reaper_stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += REAPER_TICK_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->reaper_cv, &s->lock, &until);
        long long now = (long long)(clock_mono_us() / 1000);
        struct dlist *n;
        dlist_foreach(n, &s->conns) {
            struct conn_track *t = dlist_entry(n, struct conn_track, link);
            if (s->reaper_stop)
                break;
            if (t->deadline_ms && now >= t->deadline_ms && t->fd >= 0)
                reap(s, t);
        }
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* ---------------------------------------------------------------- requests */

/* Queues resp (released) on conn. */
static enum MHD_Result queue_response(struct http_server *s, struct MHD_Connection *conn,
                                      struct http_response *resp)
{
    int status = resp->status;
    struct MHD_Response *mr = response_build(s, conn, resp);
    if (!mr)
        return MHD_NO;
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)status, mr);
    MHD_destroy_response(mr);
    return ret;
}

/* A deferred request's task: the handler on a scheduler thread, then the response handed back. */
static void deferred_run(void *arg)
{
    struct req_ctx *ctx = arg;
    struct http_response resp = {.status = 500, .content_type = "application/json"};
    ctx->s->handler(ctx->s->ud, &ctx->req, &resp);
    http_request_finish(&ctx->req, &resp);
}

void http_request_finish(struct http_request *req, struct http_response *resp)
{
    struct req_ctx *ctx = (struct req_ctx *)(void *)req; /* req is the context's first member */
    struct http_server *s = ctx->s;
    struct MHD_Connection *conn = ctx->conn;
    int status = resp->status;
    ctx->ready = response_build(s, conn, resp);
    ctx->ready_status = (unsigned)status;
    atomic_store(&ctx->state, RS_READY);
    atomic_fetch_sub(&s->in_flight, 1);
    /* From here the event thread may complete and free ctx: touch nothing of it. */
    conn_resume(s, conn);
}

/* The final access-handler call of a request that would wait: suspends the connection and runs
 * the handler as a task; while stopping (or when the scheduler refuses) answers 503. */
static enum MHD_Result defer_request(struct http_server *s, struct req_ctx *ctx)
{
    struct http_response resp = {0};
    if (atomic_load(&s->stopping)) {
        response_error(&resp, "ServiceUnavailable", "the server is shutting down");
        return queue_response(s, ctx->conn, &resp);
    }
    atomic_store(&ctx->state, RS_RUNNING);
    atomic_fetch_add(&s->in_flight, 1);
    atomic_fetch_add(&s->suspended, 1);
    MHD_suspend_connection(ctx->conn); /* before the task exists: it may finish at once */
    if (sched_submit(s->sched, deferred_run, ctx) < 0) {
        response_error(&resp, "ServiceUnavailable", "the server is shutting down");
        http_request_finish(&ctx->req, &resp);
    }
    return MHD_YES;
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
            return refuse_early(conn, bad == 501 ? "NotImplemented" : "InvalidRequest", msg);
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > s->max_body) {
            snprintf(msg, sizeof msg, "request body is larger than %zu bytes", s->max_body);
            return refuse_early(conn, "PayloadTooLarge", msg);
        }
        ctx = xcalloc(1, sizeof *ctx);
        buf_init(&ctx->body, s->max_body);
        buf_add(&ctx->body, "", 0); /* handlers always see a string, "" when empty */
        ctx->req.body = ctx->body.data;
        ctx->req.method = method;
        ctx->req.path = url;
        ctx->req.conn = conn;
        ctx->s = s;
        ctx->conn = conn;
        *con_cls = ctx;
        return MHD_YES;
    }
    if (*upload_size) {
        append_body(ctx, upload_data, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    int state = atomic_load(&ctx->state);
    if (state == RS_READY) {
        struct MHD_Response *mr = ctx->ready;
        ctx->ready = NULL;
        if (!mr)
            return MHD_NO;
        enum MHD_Result ret = MHD_queue_response(conn, ctx->ready_status, mr);
        MHD_destroy_response(mr);
        return ret;
    }
    if (state == RS_RUNNING) /* not expected: the connection stays suspended until READY */
        return MHD_YES;
    conn_deadline(s, conn, 0); /* the request is in: no more deadline while it is handled */
    if (s->defer && s->sched && s->defer(s->ud, &ctx->req))
        return defer_request(s, ctx);
    struct http_response resp = {.status = 500, .content_type = "application/json"};
    s->handler(s->ud, &ctx->req, &resp);
    return queue_response(s, conn, &resp);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct http_server *s = cls;
    /* A kept-alive connection has the idle timeout to start its next request and the request
     * timeout to finish it. */
    if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
        conn_deadline(s, conn, s->idle_ms + s->request_ms);
    struct req_ctx *ctx = *con_cls;
    if (!ctx)
        return;
    if (ctx->ready)
        MHD_destroy_response(ctx->ready);
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

/* ---------------------------------------------------------------- the server */

long http_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return -1;
    long before = (long)rl.rlim_cur;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            rl.rlim_cur = (rlim_t)before;
    }
    if ((long)rl.rlim_cur != before)
        log_at(LL_INFO, "http", "raised the open-file limit from %ld to %ld (RLIMIT_NOFILE)",
               before, (long)rl.rlim_cur);
    else
        log_at(LL_INFO, "http", "open-file limit %ld (RLIMIT_NOFILE)", before);
    return (long)rl.rlim_cur;
}

static void server_free(struct http_server *s)
{
    if (s->reaper_on) {
        pthread_mutex_lock(&s->lock);
        s->reaper_stop = 1;
        pthread_cond_signal(&s->reaper_cv);
        pthread_mutex_unlock(&s->lock);
        pthread_join(s->reaper, NULL);
    }
    if (s->resumer_on) { /* drains its queue: no connection is left suspended by us */
        pthread_mutex_lock(&s->resume_lock);
        s->resume_stop = 1;
        pthread_cond_signal(&s->resume_cv);
        pthread_mutex_unlock(&s->resume_lock);
        pthread_join(s->resumer, NULL);
    }
    if (s->daemon)
        MHD_stop_daemon(s->daemon); /* closes every connection: their tracks are freed */
    struct dlist *n, *next;
    dlist_foreach_safe(n, next, &s->conns)
        free(dlist_entry(n, struct conn_track, link));
    pthread_cond_destroy(&s->reaper_cv);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->resume_cv);
    pthread_mutex_destroy(&s->resume_lock);
    free(s->resume_q);
    free(s);
}

struct http_server *http_server_start(const struct http_server_options *o, struct err *err)
{
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)o->port);
    if (inet_pton(AF_INET, o->bind, &addr.sin_addr) != 1) {
        err_set(err, "HttpError", "cannot listen on '%s': not an IPv4 address", o->bind);
        return NULL;
    }
    struct http_server *s = xcalloc(1, sizeof *s);
    dlist_init(&s->conns);
    s->handler = o->handler;
    s->ud = o->ud;
    s->defer = o->defer;
    s->sched = o->sched;
    s->max_body = o->max_body;
    s->request_ms = (long long)o->request_timeout_s * 1000;
    s->idle_ms = (long long)o->idle_timeout_s * 1000;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->reaper_cv, NULL);
    pthread_mutex_init(&s->resume_lock, NULL);
    pthread_cond_init(&s->resume_cv, NULL);
    unsigned backlog = o->max_connections < 128    ? 128
                       : o->max_connections > 4096 ? 4096
                                                   : (unsigned)o->max_connections;
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    s->daemon = MHD_start_daemon(flags, (uint16_t)o->port, NULL, NULL, on_request, s,
                                 MHD_OPTION_SOCK_ADDR, &addr, MHD_OPTION_THREAD_POOL_SIZE,
                                 (unsigned)(o->threads > 0 ? o->threads : 1),
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                                 MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned)o->max_connections,
                                 MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)o->max_per_ip,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)o->idle_timeout_s,
                                 MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_POOL_BYTES,
                                 MHD_OPTION_LISTEN_BACKLOG_SIZE, backlog,
                                 MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL, MHD_OPTION_END);
    if (!s->daemon) {
        err_set(err, "HttpError", "cannot listen on %s:%d (address in use or not permitted)",
                o->bind, o->port);
        server_free(s);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : o->port;
    if (pthread_create(&s->reaper, NULL, reaper_main, s) != 0) {
        err_set(err, "HttpError", "cannot start the request-deadline thread");
        server_free(s);
        return NULL;
    }
    s->reaper_on = 1;
    if (pthread_create(&s->resumer, NULL, resumer_main, s) != 0) {
        err_set(err, "HttpError", "cannot start the resume thread");
        server_free(s);
        return NULL;
    }
    pthread_mutex_lock(&s->resume_lock);
    s->resumer_on = 1;
    pthread_mutex_unlock(&s->resume_lock);
    return s;
}

int http_server_port(const struct http_server *s)
{
    return s->port;
}

void http_server_quiesce(struct http_server *s)
{
    atomic_store(&s->stopping, 1);
}

int http_server_in_flight(const struct http_server *s)
{
    return atomic_load(&((struct http_server *)s)->in_flight);
}

void http_server_stop(struct http_server *s)
{
    if (!s)
        return;
    server_free(s);
}
