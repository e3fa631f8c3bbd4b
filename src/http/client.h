/*
 * client.h - outgoing HTTP through libcurl: pooled keep-alive handles, connect and total timeouts,
 * a response size cap, optional streaming of the response body, and retries with jittered
 * exponential backoff on 429, 5xx, timeouts and dropped connections (honouring Retry-After in
 * seconds or as an HTTP-date; delays come from base/backoff).
 *
 * One struct http_client is shared by every thread; each call borrows an easy handle from its
 * idle pool and gives it back after the call. Inside a scheduler task (base/sched.h) the call runs
 * on its thread's shared multi handle, whose connection cache lets calls to the same host reuse
 * connections, and parks the task while it waits on the network; elsewhere the easy handle's own
 * multi handle caches its connections and the call blocks the calling thread. Callbacks
 * (on_data, retry_if) run on the calling task, outside libcurl, so they may make calls of their
 * own.
 */
#ifndef PARLEY_HTTP_CLIENT_H
#define PARLEY_HTTP_CLIENT_H

#include <stddef.h>

#include "base/err.h"

/* ---- Types ---------------------------------------------------------------------------------- */

struct http_client;

struct http_client_config {
    long connect_timeout_ms;   /* TCP+TLS connect limit; 0 = 5000 */
    long timeout_ms;           /* whole attempt limit; 0 = 30000 */
    size_t max_response_bytes; /* body cap (streamed bytes included); 0 = 8 MiB */
    int max_retries;           /* retries after the first attempt; -1 = none, 0 = 2 */
    long backoff_base_ms;      /* first backoff; 0 = 200 */
    long backoff_max_ms;       /* cap on any one wait, Retry-After included; 0 = 5000 */
    size_t max_idle_handles;   /* handles kept for reuse; 0 = 8 */
    long recv_buffer_bytes;    /* curl's receive buffer (1024..); 0 = curl's 16 KiB. It is held
                                  for a whole call: a client with thousands of small-answer calls
                                  in flight (the model providers) sets it small */
};

struct http_client_header {
    char *name;  /* as received */
    char *value; /* trimmed */
};

struct http_client_response {
    long status;                        /* HTTP status of the last attempt */
    char *body;                         /* NUL-terminated body (not the streamed part), owned */
    size_t body_len;                    /* bytes in body */
    struct http_client_header *headers; /* response headers of the last attempt, owned */
    size_t n_headers;                   /* number of headers */
    int attempts;                       /* attempts made, >= 1 */
    size_t streamed;                    /* bytes handed to on_data */
};

/* Receives response body bytes of a 2xx response as they arrive. Return 0 to go on, -1 to stop
 * the transfer (the call then fails with "HttpAborted"). */
typedef int (*http_client_data_fn)(void *ud, const char *data, size_t len);

/* Decides whether a complete response is worth another attempt (1) or not (0); replaces the
 * default rule (429 and 5xx). */
typedef int (*http_client_retry_fn)(void *ud, const struct http_client_response *resp);

struct http_client_request {
    const char *method;            /* "GET", "POST", "PUT", "DELETE", "HEAD" */
    const char *url;               /* absolute URL; the path is sent exactly as given */
    const char *const *headers;    /* "Name: value" lines */
    size_t n_headers;              /* number of header lines */
    const void *body;              /* request body or NULL */
    size_t body_len;               /* body length */
    long timeout_ms;               /* 0 = the client's */
    int max_retries;               /* -1 = the client's, 0 = no retry, n = n retries */
    http_client_data_fn on_data;   /* stream 2xx bodies here instead of buffering; may be NULL */
    void *ud;                      /* passed to on_data */
    http_client_retry_fn retry_if; /* NULL = default rule */
    void *retry_ud;                /* passed to retry_if */
};

/* ---- Lifecycle ------------------------------------------------------------------------------ */

/* Returns a new client (cfg NULL = defaults); never NULL. Free with http_client_free. */
struct http_client *http_client_new(const struct http_client_config *cfg);

/* Frees the client and its idle handles; NULL is a no-op. No call may be in flight. */
void http_client_free(struct http_client *c);

/* ---- Calls ---------------------------------------------------------------------------------- */

/* Performs req with retries. Returns 0 when a response arrived (whatever its status; after
 * retries, the last one) and fills resp (release with http_client_response_release). Returns -1
 * with err "HttpTimeout", "HttpConnect", "HttpTooLarge", "HttpAborted" or "HttpError" when no
 * usable response arrived; resp then holds what was received (possibly nothing) and must still be
 * released. Streaming calls are never retried once a byte reached on_data. */
int http_client_do(struct http_client *c, const struct http_client_request *req,
                   struct http_client_response *resp, struct err *err);

/* Returns the value of the first header called name (case-insensitive), or NULL. Borrowed. */
const char *http_client_header(const struct http_client_response *r, const char *name);

/* Frees what resp owns and zeroes it. */
void http_client_response_release(struct http_client_response *resp);

/* Sets aside n descriptors for other uses than outbound calls (a server's client connections:
 * its connection limit), at most half of RLIMIT_NOFILE, and recomputes the process-wide cap on
 * calls in progress from the current limit: three quarters of what is left after a reserve of
 * 256 and the n (idle connections stop being kept at seven eighths). A call to an https origin
 * that multiplexes (HTTP/2) counts as a 64th of a call: it shares a connection. Logs the cap and
 * returns it. Until it is called half the limit is set aside. */
long http_client_set_fds_aside(long n);

/* The outbound sockets open in the process: those of calls in progress and the idle connections
 * kept for reuse. */
long http_client_sockets_open(void);

/* The default retry rule: 1 for 429 and 5xx except 501, else 0. */
int http_client_retryable_status(long status);

/* Returns the wait before attempt number `attempt` (1 = first retry): a random value in
 * [d/2, d] with d = base * 2^(attempt-1), capped at max. */
long http_client_backoff_ms(int attempt, long base_ms, long max_ms);

#endif
