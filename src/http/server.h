/*
 * server.h - a small HTTP server on libmicrohttpd: one request context per request, the body read
 * into a capped buffer, one handler call per complete request.
 *
 * The handler fills a struct http_response: a status, a content type, an owned body and up to
 * HTTP_MAX_HEADERS extra headers. A handler may instead stream: set stream_fn, and the server
 * calls it repeatedly on the connection's thread to produce the body (Server-Sent Events).
 * Connections are served each on their own thread, so a handler may block (a model call).
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

/* Produces the next piece of a streamed body into buf (at most max bytes). Returns the number of
 * bytes written, 0 to wait and be called again, or -1 at the end of the stream. */
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
};

typedef void (*http_handler_fn)(void *ud, struct http_request *req, struct http_response *resp);

struct http_server;

/* Returns a request header's value (case-insensitive name) or NULL. */
const char *http_request_header(const struct http_request *req, const char *name);

/* Returns a query-string argument's value or NULL. */
const char *http_request_query(const struct http_request *req, const char *name);

/* Writes the peer's IP address (text) to out[0..cap). Returns out, "" when unknown. */
const char *http_request_peer(const struct http_request *req, char *out, size_t cap);

/* Adds a response header; value is copied. Ignored beyond HTTP_MAX_HEADERS. */
void http_response_header(struct http_response *resp, const char *name, const char *value);

/* Starts listening on bind:port (port 0 picks a free port). Returns the server or NULL with err
 * ("HttpError", naming the address). */
struct http_server *http_server_start(const char *bind, int port, int max_connections,
                                      size_t max_body, http_handler_fn handler, void *ud,
                                      struct err *err);

/* The port actually bound. */
int http_server_port(const struct http_server *s);

/* Stops accepting, finishes in-flight requests, frees the server. NULL is a no-op. */
void http_server_stop(struct http_server *s);

#endif
