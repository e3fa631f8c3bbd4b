/*
 * lambda.h - the Lambda Runtime API loop of a `provided.al2023` bootstrap.
 *
 * lambda_runtime_run() asks the Runtime API (AWS_LAMBDA_RUNTIME_API, version 2018-06-01) for the
 * next invocation, hands its JSON event to the handler named by _HANDLER, and posts the handler's
 * JSON result to /invocation/{id}/response or its error to /invocation/{id}/error as
 * {"errorMessage","errorType","stackTrace":[]} with the Lambda-Runtime-Function-Error-Type header.
 * A failure before the first invocation (unknown handler, the table's init failing) is posted to
 * /runtime/init/error and ends the loop. The invocation's request id, deadline, function ARN and
 * X-Ray trace id reach the handler in struct lambda_context; the trace id is also exported as
 * _X_AMZN_TRACE_ID for the duration of the invocation, as the Lambda documentation requires of
 * custom runtimes. One invocation runs at a time.
 */
#ifndef PARLEY_LAMBDA_H
#define PARLEY_LAMBDA_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define LAMBDA_EVENT_MAX (6u << 20) /* bytes of an event (the synchronous invocation limit) */
#define LAMBDA_RESPONSE_MAX                                                                        \
    (6u << 20) /* bytes of a response; larger ones are reported as errors                          \
                */

/* ---- Types ---------------------------------------------------------------------------------- */

/* What one invocation knows about itself. Strings are borrowed for the invocation's duration. */
struct lambda_context {
    const char *request_id;   /* Lambda-Runtime-Aws-Request-Id */
    int64_t deadline_ms;      /* Lambda-Runtime-Deadline-Ms (epoch ms); 0 when not given */
    const char *function_arn; /* Lambda-Runtime-Invoked-Function-Arn, or "" */
    const char *trace_id;     /* Lambda-Runtime-Trace-Id, or "" */
};

/* A handler: takes the event (borrowed) and returns the result (a new reference, any JSON
 * value), or NULL with err set; err->code becomes the errorType Step Functions matches in Retry
 * and Catch. ud is the table's. */
typedef json_t *(*lambda_handler_fn)(void *ud, const struct lambda_context *ctx,
                                     const json_t *event, struct err *err);

struct lambda_handler {
    const char *name;     /* the _HANDLER value, e.g. "LoadContext" */
    lambda_handler_fn fn; /* the handler */
};

struct lambda_handler_table {
    const struct lambda_handler *handlers; /* terminated by {NULL, NULL} */
    void *ud;                              /* passed to every handler and to init */
    /* Called once, before the first invocation, with the chosen handler's name; a failure is
     * reported to /runtime/init/error. May be NULL. */
    int (*init)(void *ud, const char *handler, struct err *err);
};

struct lambda_runtime_config {
    const char *api;      /* "host:port"; NULL = AWS_LAMBDA_RUNTIME_API */
    const char *handler;  /* NULL = _HANDLER */
    long max_invocations; /* stop after this many (tests); 0 = run forever */
    long post_timeout_ms; /* limit on each response/error post; 0 = 10000 */
};

/* ---- The loop ------------------------------------------------------------------------------- */

/* Runs invocations until max_invocations is reached (returns 0) or the Runtime API cannot be
 * reached or answers unexpectedly (returns -1 with err "RuntimeApiError"). An unknown handler or
 * a failing init is reported to /runtime/init/error and returns -1 with err ("HandlerNotFound",
 * or init's error). A handler error is reported and the loop goes on; an invocation that arrives
 * past its deadline is reported as "Runtime.DeadlineExceeded" without running the handler. */
int lambda_runtime_run(const struct lambda_handler_table *t,
                       const struct lambda_runtime_config *cfg, struct err *err);

/* Milliseconds left before the invocation's deadline (negative once passed); INT64_MAX when the
 * invocation has no deadline. */
int64_t lambda_remaining_ms(const struct lambda_context *ctx);

/* The context of the invocation the calling thread is running, or NULL outside one. Lets code
 * deep inside a handler (the agent's, which take no context) see the remaining time. */
const struct lambda_context *lambda_current(void);

/* Finds a handler by name in a {NULL, NULL}-terminated array; NULL when absent. */
const struct lambda_handler *lambda_handler_find(const struct lambda_handler *handlers,
                                                 const char *name);

#endif
