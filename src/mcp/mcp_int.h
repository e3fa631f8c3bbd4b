/*
 * mcp_int.h - internals shared by the files of the mcp module: the transport port (stdio and
 * Streamable HTTP fill it), the dispatch entry the transports hand incoming messages to, and the
 * incremental Server-Sent Events parser. Not for use outside src/mcp/ (tests excepted).
 */
#ifndef PARLEY_MCP_INT_H
#define PARLEY_MCP_INT_H

#include <jansson.h>
#include <stddef.h>

#include "base/err.h"
#include "mcp/mcp.h"

/* ---- Transport port ------------------------------------------------------------------------- */

struct mcp_transport_ops {
    const char *kind; /* "stdio" or "http", for messages */
    /* Creates the transport state for c (nothing connects yet). Returns NULL on error. */
    void *(*create)(struct mcp_client *c, const struct mcp_server_config *cfg, struct err *err);
    /* Starts (or restarts) the connection. Returns 0, or -1 with "McpUnavailable". */
    int (*start)(void *t, struct err *err);
    /* Sends one message (serialised JSON). For a request (id >= 0) the reply is handed to
     * mcp__dispatch() by the time the transport says it is delivered; stdio returns as soon as the
     * line is written, HTTP returns after the reply came. Returns 0, -1 with err, or
     * MCP__SESSION_GONE when the HTTP server no longer knows our session. */
    int (*send)(void *t, const char *msg, long long id, long long deadline_ms, struct err *err);
    /* Returns 1 while the connection is usable (stdio: the child runs). */
    int (*alive)(void *t);
    /* Records the protocol version agreed at initialize (HTTP sends it on every later request). */
    void (*negotiated)(void *t, const char *version);
    /* Stops the connection; start may be called again. */
    void (*stop)(void *t);
    /* Frees the state (after stop). */
    void (*destroy)(void *t);
};

#define MCP__SESSION_GONE (-2)

extern const struct mcp_transport_ops mcp__stdio_ops;
extern const struct mcp_transport_ops mcp__http_ops;

/* Hands one incoming JSON-RPC message (text, len bytes) to the client: replies go to the waiting
 * request, notifications are applied, and for a server request (ping) *answer (when answer is
 * not NULL and *answer is NULL) becomes the reply text to send back (free()). Returns the id of
 * the reply it delivered, or -1. Thread-safe. */
long long mcp__dispatch(struct mcp_client *c, const char *text, size_t len, char **answer);

/* Builds the reply to a server-to-client request (ping -> {}, others -> method not found), as a
 * new string, or NULL when msg is not a request. */
char *mcp__answer(const json_t *msg);

/* Fails every waiting request with code and message (the transport broke). Thread-safe. */
void mcp__fail_all(struct mcp_client *c, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The server name, for messages. */
const char *mcp__name(const struct mcp_client *c);

/* ---- Server-Sent Events parser -------------------------------------------------------------- */

/* Receives one complete event (data lines joined by '\n'); events with empty data (priming events)
 * are not passed on. Return 0 to go on, -1 to stop parsing. */
typedef int (*mcp__sse_event_fn)(void *ud, const char *event, const char *data, size_t len);

struct mcp__sse {
    char *line;        /* the current, incomplete line */
    size_t line_len;   /* bytes in line */
    size_t line_cap;   /* bytes allocated */
    char *data;        /* data of the current event */
    size_t data_len;   /* bytes in data */
    size_t data_cap;   /* bytes allocated */
    char event[64];    /* event type of the current event ("" = message) */
    char last_id[256]; /* the last event id seen ("" = none) */
    long retry_ms;     /* the last retry value seen, -1 = none */
    int after_cr;      /* the previous chunk ended with '\r' */
    size_t cap;        /* cap on one line and one event's data */
    mcp__sse_event_fn on_event;
    void *ud;
};

/* Prepares p; cap bounds one line and one event. */
void mcp__sse_init(struct mcp__sse *p, size_t cap, mcp__sse_event_fn on_event, void *ud);

/* Feeds len bytes. Returns 0 (incomplete input is kept for the next call), -1 with "McpProtocol"
 * when a line or event exceeds the cap, or -2 when on_event asked to stop. */
int mcp__sse_feed(struct mcp__sse *p, const char *buf, size_t len, struct err *err);

/* Frees the buffers (last_id and retry_ms stay readable). */
void mcp__sse_release(struct mcp__sse *p);

#endif
