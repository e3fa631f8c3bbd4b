/*
 * mcp_http.c - the Streamable HTTP transport: every message is a POST to the endpoint with
 * `Accept: application/json, text/event-stream`; the reply is one JSON message or an SSE stream
 * that carries it (and maybe server requests and notifications first). The Mcp-Session-Id from
 * initialize and the agreed MCP-Protocol-Version go on every later request. When an SSE stream
 * ends before our reply, we wait the server's `retry:` delay and resume with GET and
 * Last-Event-ID. Uses src/http/client for the wire.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/sched.h"
#include "base/xmalloc.h"
#include "http/client.h"
#include "mcp/mcp_int.h"

#define RESUME_DEFAULT_MS 1000 /* wait before resuming when the server gave no retry */
#define RESUMES_MAX 50         /* resumptions of one request before giving up */
#define HEADERS_MAX 80         /* header lines of one request */

struct http_t {
    struct mcp_client *c;   /* owner */
    struct http_client *hc; /* the wire */
    char *url;              /* endpoint */
    char **headers;         /* configured "Name: value" lines, owned */
    size_t cap;             /* cap on one message */
    pthread_mutex_t mu;     /* guards session and version */
    char *session;          /* Mcp-Session-Id or NULL */
    char version[16];       /* agreed version, "" before initialize */
};

/* What one exchange (a POST and its resumptions) has received. */
struct sink {
    struct http_t *h;
    struct http_client_response *resp; /* the response in progress (headers arrive first) */
    int mode;                          /* 0 undecided, 1 JSON body, 2 SSE stream */
    char *buf;                         /* JSON body */
    size_t len, buf_cap;               /* bytes used and allocated */
    struct mcp__sse sse; /* stream parser; keeps last_id and retry_ms across resumptions */
    long long want;      /* id of the reply we wait for, -1 for none */
    int got;             /* that reply was delivered */
    struct err err;      /* what went wrong inside a callback */
};

/* ---- Receiving ------------------------------------------------------------------------------ */

static int http_send(void *t, const char *msg, long long id, long long deadline, struct err *err);

/* Answers a server request at once, on its own POST: the server may hold our reply until it has
 * its answer (a ping in the middle of a long tool call, say). */
static void take_answer(struct sink *s, char *answer)
{
    if (!answer)
        return;
    struct err e = {0};
    if (http_send(s->h, answer, -1, clock_mono_ms() + 5000, &e) != 0)
        log_at(LL_INFO, "mcp", "cannot answer server '%s': %s", mcp__name(s->h->c), e.message);
    free(answer);
}

static int on_event(void *ud, const char *event, const char *data, size_t len)
{
    struct sink *s = ud;
    if (event[0] && strcmp(event, "message") != 0)
        return 0;
    char *answer = NULL;
    long long got = mcp__dispatch(s->h->c, data, len, &answer);
    take_answer(s, answer);
    if (s->want >= 0 && got == s->want) {
        s->got = 1;
        return -1; /* ours is in: stop reading, the server may keep the stream open */
    }
    return 0;
}

static int on_data(void *ud, const char *data, size_t len)
{
    struct sink *s = ud;
    if (s->mode == 0) {
        const char *ct = http_client_header(s->resp, "Content-Type");
        s->mode = ct && strncasecmp(ct, "text/event-stream", 17) == 0 ? 2 : 1;
    }
    if (s->mode == 2) {
        int r = mcp__sse_feed(&s->sse, data, len, &s->err);
        return r == 0 ? 0 : -1;
    }
    if (s->len + len > s->h->cap) {
        err_set(&s->err, "McpProtocol", "server '%s' sent a reply over %zu bytes",
                mcp__name(s->h->c), s->h->cap);
        return -1;
    }
    if (s->len + len + 1 > s->buf_cap) {
        size_t c = s->buf_cap ? s->buf_cap : 4096;
        while (c < s->len + len + 1)
            c *= 2;
        s->buf = xrealloc(s->buf, c);
        s->buf_cap = c;
    }
    memcpy(s->buf + s->len, data, len);
    s->len += len;
    return 0;
}

/* ---- One HTTP exchange ---------------------------------------------------------------------- */

/* Performs one POST (body != NULL) or resuming GET. Fills resp; returns http_client_do's rc. */
static int exchange(struct http_t *h, const char *body, const char *last_id, long long deadline,
                    struct sink *s, struct http_client_response *resp, struct err *herr)
{
    const char *lines[HEADERS_MAX];
    char *owned[4] = {NULL, NULL, NULL, NULL};
    size_t n = 0, o = 0;
    lines[n++] = body ? "Accept: application/json, text/event-stream" : "Accept: text/event-stream";
    if (body)
        lines[n++] = "Content-Type: application/json";
    pthread_mutex_lock(&h->mu);
    if (h->session)
        lines[n++] = owned[o++] = xasprintf("Mcp-Session-Id: %s", h->session);
    if (h->version[0])
        lines[n++] = owned[o++] = xasprintf("MCP-Protocol-Version: %s", h->version);
    pthread_mutex_unlock(&h->mu);
    if (last_id)
        lines[n++] = owned[o++] = xasprintf("Last-Event-ID: %s", last_id);
    for (size_t i = 0; h->headers[i] && n < HEADERS_MAX; i++)
        lines[n++] = h->headers[i];
    long long left = deadline - clock_mono_ms();
    struct http_client_request req = {
        .method = body ? "POST" : "GET",
        .url = h->url,
        .headers = lines,
        .n_headers = n,
        .body = body,
        .body_len = body ? strlen(body) : 0,
        .timeout_ms = left > 1 ? (long)left : 1,
        .max_retries = 0,
        .on_data = on_data,
        .ud = s,
    };
    s->resp = resp;
    s->mode = 0;
    s->len = 0;
    int rc = http_client_do(h->hc, &req, resp, herr);
    const char *sid = http_client_header(resp, "Mcp-Session-Id");
    pthread_mutex_lock(&h->mu);
    if (sid && sid[0] && !h->session && resp->status >= 200 && resp->status < 300)
        h->session = xstrdup(sid);
    pthread_mutex_unlock(&h->mu);
    for (size_t i = 0; i < o; i++)
        free(owned[i]);
    return rc;
}

/* Maps a failed exchange to our codes. */
static void transport_error(struct http_t *h, const struct sink *s, const struct err *herr,
                            struct err *err)
{
    if (err_is_set(&s->err))
        *err = s->err;
    else if (strcmp(herr->code, "HttpTimeout") == 0)
        err_set(err, "McpTimeout", "server '%s' did not answer in time", mcp__name(h->c));
    else if (strcmp(herr->code, "HttpTooLarge") == 0)
        err_set(err, "McpProtocol", "server '%s' sent a reply over the size cap", mcp__name(h->c));
    else
        err_set(err, "McpUnavailable", "cannot reach server '%s': %s", mcp__name(h->c),
                herr->message);
}

/* Checks the status of a completed exchange. Returns 0, -1 with err or MCP__SESSION_GONE. */
static int check_status(struct http_t *h, const struct http_client_response *resp, int had_session,
                        struct err *err)
{
    long st = resp->status;
    if (st >= 200 && st < 300)
        return 0;
    if (st == 404 && had_session) {
        pthread_mutex_lock(&h->mu);
        free(h->session);
        h->session = NULL;
        pthread_mutex_unlock(&h->mu);
        err_set(err, "McpUnavailable", "server '%s' no longer knows our session", mcp__name(h->c));
        return MCP__SESSION_GONE;
    }
    return err_set(err,
                   st >= 500 || st == 401 || st == 403 || st == 404 ? "McpUnavailable"
                                                                    : "McpProtocol",
                   "server '%s' answered HTTP %ld: %.200s", mcp__name(h->c), st,
                   resp->body ? resp->body : "");
}

/* ---- Transport ops -------------------------------------------------------------------------- */

static void *http_create(struct mcp_client *c, const struct mcp_server_config *cfg, struct err *err)
{
    (void)err;
    struct http_t *h = xcalloc(1, sizeof *h);
    h->c = c;
    h->url = xstrdup(cfg->url);
    size_t n = 0;
    while (cfg->headers && cfg->headers[n])
        n++;
    h->headers = xcalloc(n + 1, sizeof *h->headers);
    for (size_t i = 0; i < n; i++)
        h->headers[i] = xstrdup(cfg->headers[i]);
    h->cap = cfg->max_message_bytes;
    size_t total = h->cap * 4 > (8u << 20) ? h->cap * 4 : (8u << 20);
    struct http_client_config hcfg = {.max_response_bytes = total, .max_retries = -1};
    h->hc = http_client_new(&hcfg);
    pthread_mutex_init(&h->mu, NULL);
    return h;
}

static int http_start(void *t, struct err *err)
{
    (void)err;
    struct http_t *h = t;
    pthread_mutex_lock(&h->mu);
    free(h->session);
    h->session = NULL;
    h->version[0] = '\0';
    pthread_mutex_unlock(&h->mu);
    return 0;
}

static int http_send(void *t, const char *msg, long long id, long long deadline, struct err *err)
{
    struct http_t *h = t;
    int rc = -1;
    struct sink s;
    memset(&s, 0, sizeof s);
    s.h = h;
    s.want = id;
    mcp__sse_init(&s.sse, h->cap, on_event, &s);
    struct http_client_response resp;
    struct err herr = {0};
    pthread_mutex_lock(&h->mu);
    int had_session = h->session != NULL;
    pthread_mutex_unlock(&h->mu);
    int r = exchange(h, msg, NULL, deadline, &s, &resp, &herr);
    if (s.got) {
        rc = 0;
        goto out;
    }
    if (r != 0) {
        transport_error(h, &s, &herr, err);
        goto out;
    }
    rc = check_status(h, &resp, had_session, err);
    if (rc != 0)
        goto out;
    rc = -1;
    /* A notification or an answer of ours needs no reply; a body sent anyway is not read, so
     * that a confused server cannot fail the requests of other threads. */
    if (id >= 0 && s.mode == 1 && s.len > 0) {
        char *answer = NULL;
        long long got = mcp__dispatch(h->c, s.buf, s.len, &answer);
        take_answer(&s, answer);
        s.got = id >= 0 && got == id;
    }
    if (id < 0 || s.got) {
        rc = 0;
        goto out;
    }
    if (s.mode != 2) {
        err_set(err, "McpProtocol",
                "server '%s' answered HTTP %ld without the reply to request "
                "%lld",
                mcp__name(h->c), resp.status, id);
        goto out;
    }
    /* The stream ended before our reply: resume it where it broke. */
    for (int n = 0; !s.got; n++) {
        if (!s.sse.last_id[0] || n == RESUMES_MAX) {
            err_set(err, "McpProtocol",
                    "server '%s' closed the stream before the reply to "
                    "request %lld and gave no event id to resume from",
                    mcp__name(h->c), id);
            goto out;
        }
        long wait = s.sse.retry_ms >= 0 ? s.sse.retry_ms : RESUME_DEFAULT_MS;
        if (clock_mono_ms() + wait >= deadline) {
            err_set(err, "McpTimeout", "server '%s' did not answer request %lld in time",
                    mcp__name(h->c), id);
            goto out;
        }
        sched_sleep_ms(wait);
        char last[sizeof s.sse.last_id];
        snprintf(last, sizeof last, "%s", s.sse.last_id);
        log_at(LL_INFO, "mcp", "resuming the stream of server '%s' after event '%s'",
               mcp__name(h->c), last);
        http_client_response_release(&resp);
        memset(&herr, 0, sizeof herr);
        r = exchange(h, NULL, last, deadline, &s, &resp, &herr);
        if (s.got)
            break;
        if (r != 0) {
            transport_error(h, &s, &herr, err);
            goto out;
        }
        if (resp.status == 405) {
            err_set(err, "McpProtocol",
                    "server '%s' closed the stream before the reply and does "
                    "not allow resuming it (GET answered 405)",
                    mcp__name(h->c));
            goto out;
        }
        if (check_status(h, &resp, had_session, err) != 0)
            goto out;
    }
    rc = 0;
out:
    http_client_response_release(&resp);
    mcp__sse_release(&s.sse);
    free(s.buf);
    return rc;
}

static int http_alive(void *t)
{
    (void)t;
    return 1;
}

static void http_negotiated(void *t, const char *version)
{
    struct http_t *h = t;
    pthread_mutex_lock(&h->mu);
    snprintf(h->version, sizeof h->version, "%s", version);
    pthread_mutex_unlock(&h->mu);
}

static void http_stop(void *t)
{
    struct http_t *h = t;
    pthread_mutex_lock(&h->mu);
    char *session = h->session;
    h->session = NULL;
    pthread_mutex_unlock(&h->mu);
    if (session) {
        /* Tell the server we are done with the session; it may answer 405, which is fine. */
        char *line = xasprintf("Mcp-Session-Id: %s", session);
        const char *lines[HEADERS_MAX];
        size_t n = 0;
        lines[n++] = line;
        for (size_t i = 0; h->headers[i] && n < HEADERS_MAX; i++)
            lines[n++] = h->headers[i];
        struct http_client_request req = {.method = "DELETE",
                                          .url = h->url,
                                          .headers = lines,
                                          .n_headers = n,
                                          .timeout_ms = 2000,
                                          .max_retries = 0};
        struct http_client_response resp;
        struct err e = {0};
        http_client_do(h->hc, &req, &resp, &e);
        http_client_response_release(&resp);
        free(line);
        free(session);
    }
}

static void http_destroy(void *t)
{
    struct http_t *h = t;
    if (!h)
        return;
    http_client_free(h->hc);
    for (size_t i = 0; h->headers[i]; i++)
        free(h->headers[i]);
    free(h->headers);
    free(h->session);
    free(h->url);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

const struct mcp_transport_ops mcp__http_ops = {
    .kind = "http",
    .create = http_create,
    .start = http_start,
    .send = http_send,
    .alive = http_alive,
    .negotiated = http_negotiated,
    .stop = http_stop,
    .destroy = http_destroy,
};
