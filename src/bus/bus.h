/*
 * bus.h - the event bus port (EventBridge semantics) and the event envelope.
 *
 * Handlers build events with bus_event_new() and hand them to bus_put_new(); the bus routes each
 * event to the targets of every rule whose EventBridge event pattern matches it (see
 * bus/pattern.h). Adapters: bus_local.c (in-process: a bounded queue drained by one background
 * thread; targets log, webhook and analytics; rules from a JSON file) and bus_eventbridge.c
 * (PutEvents in batches from a sender thread).
 *
 * Delivery contract (STYLE rule 13): bus_put_new() returning 0 means the bus accepted the event and
 * will deliver it, even across bus_flush() and bus_free(); returning -1 means it never will.
 *
 * Event names (detail-type) are the closed set BUS_EVENTS below.
 */
#ifndef PARLEY_BUS_H
#define PARLEY_BUS_H

#include <assert.h>

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/* ---- the envelope ---- */

#define BUS_SOURCE "parley.agent"

/* X(constant, detail-type) for every event Parley emits. */
#define BUS_EVENTS(X)                                                                              \
    X(BUS_CONVERSATION_STARTED, "conversation_started")                                            \
    X(BUS_MESSAGE_RECEIVED, "message_received")                                                    \
    X(BUS_ACTION_EXECUTED, "action_executed")                                                      \
    X(BUS_ACTION_FAILED, "action_failed")                                                          \
    X(BUS_HANDOFF_REQUESTED, "handoff_requested")                                                  \
    X(BUS_ERROR_OCCURRED, "error_occurred")                                                        \
    X(BUS_CONVERSATION_ARCHIVED, "conversation_archived")

#define BUS_X_DEFINE(name, str) static const char name[] = str;
BUS_EVENTS(BUS_X_DEFINE)
#undef BUS_X_DEFINE

/* Returns 1 when detail_type is one of BUS_EVENTS. */
int bus_event_name_known(const char *detail_type);

/* Builds an event in the EventBridge envelope: {"version":"0", "id": UUID v4, "detail-type",
 * "source":"parley.agent", "account", "time": "YYYY-MM-DDTHH:MM:SSZ" (UTC), "region",
 * "resources": [], "detail"}. account comes from PARLEY_ACCOUNT_ID (default "000000000000"),
 * region from AWS_REGION, then AWS_DEFAULT_REGION (default "local"). Steals detail (NULL gives
 * {}). Returns a new reference owned by the caller, or NULL when detail_type, the account or the
 * region is not valid UTF-8 (detail is released then too). */
json_t *bus_event_new(const char *detail_type, json_t *detail);

/* ---- the port ---- */

struct bus;

/* Called for every accepted event routed to an "analytics" target (the event is borrowed for the
 * duration of the call): by the local bus on the thread that put it, once bus_put_new() has
 * accepted it, so calls on several threads may overlap and the sink must be thread-safe. Called
 * on the bus thread with event NULL once a time the sink asked for has come. Returns the
 * milliseconds after which the sink wants that NULL call (it holds work it batched, e.g. counts
 * to write), or 0 for none. The bus makes the NULL call while it idles, and once more before
 * bus_free() returns when one is still due. */
typedef int (*bus_analytics_fn)(void *ud, const json_t *event);

struct bus_stats {
    uint64_t accepted;  /* events bus_put_new() accepted */
    uint64_t dropped;   /* events refused because the queue stayed full */
    uint64_t delivered; /* successful target deliveries (an event may have several) */
    uint64_t failed;    /* target deliveries given up after their retries */
    uint64_t unmatched; /* accepted events no rule matched */
    size_t queued;      /* events waiting right now */
};

struct bus_ops {
    const char *name;                                            /* "local", "eventbridge" */
    int (*put_new)(struct bus *b, json_t *event, struct err *e); /* takes event's reference */
    int (*flush)(struct bus *b, int timeout_ms);
    void (*set_analytics_sink)(struct bus *b, bus_analytics_fn fn, void *ud);
    void (*stats)(struct bus *b, struct bus_stats *out);
    void (*free)(struct bus *b);
};

/* Every adapter's struct starts with this. */
struct bus {
    const struct bus_ops *ops;
};

/* Accepts event for asynchronous delivery, taking the caller's reference whatever the result:
 * the caller no longer touches event or anything inside it that it does not share read-only
 * (the bus reads it on another thread). Returns 0, or -1 with e set: "BusFull" when the queue
 * stayed full for the configured wait (the event is counted as dropped and logged), "BusClosed"
 * during bus_free(), "InvalidEvent" when event is not an object (NULL included). Thread-safe;
 * never blocks longer than the wait. */
static inline int bus_put_new(struct bus *b, json_t *event, struct err *e)
{
    assert(b);
    return b->ops->put_new(b, event, e);
}

/* bus_put_new of a deep copy of event (borrowed; the caller keeps and may change its own). */
static inline int bus_put(struct bus *b, const json_t *event, struct err *e)
{
    return bus_put_new(b, json_deep_copy(event), e);
}

/* Waits until every accepted event has been delivered (or given up). Returns 0, or -1 when
 * timeout_ms (negative = no limit) passed first. */
static inline int bus_flush(struct bus *b, int timeout_ms)
{
    assert(b);
    return b->ops->flush(b, timeout_ms);
}

/* Installs (or, with fn NULL, removes) the callback behind "analytics" targets. */
static inline void bus_set_analytics_sink(struct bus *b, bus_analytics_fn fn, void *ud)
{
    assert(b);
    b->ops->set_analytics_sink(b, fn, ud);
}

static inline void bus_stats(struct bus *b, struct bus_stats *out)
{
    assert(b);
    b->ops->stats(b, out);
}

/* The adapter's name ("local", "eventbridge"), for logs and the CLI. */
static inline const char *bus_name(const struct bus *b)
{
    assert(b);
    return b->ops->name;
}

/* Delivers everything accepted so far, stops the bus and frees it. NULL is a no-op. */
static inline void bus_free(struct bus *b)
{
    if (b)
        b->ops->free(b);
}

/* ---- the local adapter (bus_local.c) ---- */

struct bus_local_config {
    const char *data_dir;    /* log targets write <data_dir>/logs/<group>.log; required */
    const char *rules_path;  /* rules file; NULL = default rules (below) */
    size_t queue_cap;        /* queued events at most; 0 = 4096 */
    int put_wait_ms;         /* how long a put may wait for room; 0 = 50 ms, negative = none */
    int webhook_backoff_ms;  /* least wait before the first webhook retry (up to twice it with
                              * jitter), doubled each retry, at most 10 s; 0 = 200 ms */
    long long log_max_bytes; /* rotate a log target's file past this size; 0 = never */
    int log_files;           /* rotated files kept per log target (logfile.h); 0 = 5 */
};

/*
 * Rules file: {"rules": [{"name": string, "eventPattern": {...}, "targets": [target, ...]}]}, a
 * target being {"type":"log", "logGroup":"/parley/events"} | {"type":"webhook", "url":
 * "http(s)://...", "maxAttempts": 1-10 (3), "timeoutMs": 100-60000 (5000)} | {"type":
 * "analytics"}. Unknown keys are errors. A log group maps to a file name by dropping leading
 * '/' and turning every other '/' into '_' ("/parley/events" -> parley_events.log).
 * Without a file the rules are: everything from parley.agent to log group /parley/events and to
 * analytics.
 */

/* Starts a local bus. Returns it (owned by the caller, bus_free()), or NULL with e set:
 * "InvalidConfig" naming the file, rule and field at fault, or "IOError". */
struct bus *bus_local_new(const struct bus_local_config *cfg, struct err *e);

/* Checks a rules document without starting anything. Returns 0, or -1 with e set as above. */
int bus_local_check_rules(const json_t *doc, const char *origin, struct err *e);

#endif
