/*
 * server.h - the HTTP server of `parley serve` on libmicrohttpd: a small pool of epoll threads
 * serves any number of connections. One request context per request, the body read into a
 * capped buffer, one handler call per complete request.
 *
 * The handler fills a struct http_response: a status, a content type, an owned body and up to
 * HTTP_MAX_HEADERS extra headers. Cheap requests run inline on an event thread, so their handler
 * must not wait. A request the options' `defer` predicate says would wait (a chat turn) is
 * deferred: its connection is suspended (it holds no thread) and the handler runs as a task of
 * the scheduler (base/sched.h), which finishes the request from its own thread. A handler may
 * also stream: set stream_fn, and the server calls it on an event thread whenever the connection
 * can take more; when it has nothing yet (returns 0) the connection is suspended until the
 * producer calls http_wake_signal() (Server-Sent Events).
 *
 * Connection hygiene: a request's headers and body must arrive within request_timeout_s of its
 * start however slowly they trickle (past it a reaper answers 408 and closes), an idle keep-alive
 * connection closes after idle_timeout_s, one address holds at most max_per_ip connections, and
 * a body whose Content-Length is over max_body gets 413 before it is read (no 100 Continue).
 */
#ifndef PARLEY_HTTP_SERVER_H
#define PARLEY_HTTP_SERVER_H

#include <stddef.h>
#include <sys/types.h>

#include "base/err.h"

#define HTTP_MAX_HEADERS 16

struct http_request {
    const char *method; /* "GET", "POST", ... */
    const char *path;   /* URL path without the query */
    char *body;         /* NUL-terminated request body (owned by the server) */
    size_t body_len;    /* bytes in body */
    int body_too_large; /* 1 when the body exceeded the server's cap (body is then empty) */
    void *conn;         /* the libmicrohttpd connection, for header lookups */
};

/* Produces the next piece of a streamed body into buf (at most max bytes), on an event thread:
 * must not block. Returns the number of bytes written, 0 when there is nothing yet (the
 * connection waits for http_wake_signal()), or -1 at the end of the stream. */
typedef ssize_t (*http_stream_fn)(void *ud, char *buf, size_t max);

struct http_response {
    int status;                                 /* HTTP status */
    const char *content_type;                   /* static string */
    char *body;                                 /* owned; freed by the server */
    size_t body_len;                            /* bytes in body */
    const char *header_names[HTTP_MAX_HEADERS]; /* static names */
    char *header_values[HTTP_MAX_HEADERS];      /* owned values */
    int nheaders;                               /* headers in use */
    http_stream_fn stream_fn;                   /* when set, the body is streamed */
    void *stream_ud;                            /* passed to stream_fn */
    void (*stream_free)(void *ud);              /* frees stream_ud when the stream ends */
    struct http_wake *wake;                     /* the stream's wake handle (server's ref) */
};

typedef void (*http_handler_fn)(void *ud, struct http_request *req, struct http_response *resp);

struct http_server;
struct http_wake;
struct sched;

/* 1 when a request would wait (it is then run as a scheduler task); called on an event thread
 * with the complete request. */
typedef int (*http_defer_fn)(void *ud, const struct http_request *req);

struct http_server_options {
    const char *bind;        /* IPv4 address to listen on */
    int port;                /* port (0 picks a free one) */
    int threads;             /* epoll threads (>= 1) */
    int max_connections;     /* concurrent connections in all */
    int max_per_ip;          /* concurrent connections per client address (0: no cap) */
    size_t max_body;         /* request body cap in bytes (413 above it) */
    int request_timeout_s;   /* headers + body deadline from the request's start */
    int idle_timeout_s;      /* idle keep-alive timeout */
    http_handler_fn handler; /* the application */
    void *ud;                /* passed to handler and defer */
    http_defer_fn defer;     /* NULL: every request inline */
    struct sched *sched;     /* runs deferred requests (borrowed; needed when defer is set) */
};

/* Returns a request header's value (case-insensitive name) or NULL. */
const char *http_request_header(const struct http_request *req, const char *name);

/* Returns a query-string argument's value or NULL. */
const char *http_request_query(const struct http_request *req, const char *name);

/* Writes the peer's IP address (text) to out[0..cap). Returns out, "" when unknown. */
const char *http_request_peer(const struct http_request *req, char *out, size_t cap);

/* Adds a response header; value is copied. Ignored beyond HTTP_MAX_HEADERS. */
void http_response_header(struct http_response *resp, const char *name, const char *value);

/* ---- Streams ---- */

/* The wake handle of a streamed response, for its producer: returns a new reference (release it
 * with http_wake_unref()). Call it while filling resp, before the handler returns. */
struct http_wake *http_response_wake(struct http_response *resp);

/* Tells the server the stream has data (or has ended): a connection suspended for want of data
 * is resumed and calls stream_fn again. A signal before the suspension is not lost. Thread-safe;
 * a no-op once the connection is gone. */
void http_wake_signal(struct http_wake *w);

/* Drops a reference. NULL is a no-op. */
void http_wake_unref(struct http_wake *w);

/* ---- Deferred requests ---- */

/* Finishes a deferred request from any thread: takes resp over (its body, headers and stream)
 * and resumes the suspended connection, which sends it. req must not be used afterwards. The
 * server calls it itself after running the handler of a deferred request. */
void http_request_finish(struct http_request *req, struct http_response *resp);

/* ---- The server ---- */

/* Raises the soft RLIMIT_NOFILE to the hard limit (every connection is a descriptor) and logs
 * the limit in force. Returns it. */
long http_raise_nofile(void);

/* Starts listening as o says. Returns the server or NULL with err ("HttpError", naming the
 * address). */
struct http_server *http_server_start(const struct http_server_options *o, struct err *err);

/* The port actually bound. */
int http_server_port(const struct http_server *s);

/* Starts a graceful stop: a request that would be deferred from now on gets 503
 * ServiceUnavailable; everything else is still served. Thread-safe. */
void http_server_quiesce(struct http_server *s);

/* Deferred requests running (submitted and not finished). */
int http_server_in_flight(const struct http_server *s);

/* Stops accepting and closes every connection, then frees the server. Call it once no deferred
 * request is running (after the scheduler stopped). NULL is a no-op. */
void http_server_stop(struct http_server *s);

#endif
