/*
 * queue.h - the action queue port, with the semantics of an Amazon SQS standard queue.
 *
 * Queues are named. A producer sends a message (a UTF-8 body of at most 256 KiB plus up to ten
 * message attributes, optionally delayed); a consumer receives up to ten messages at a time, each
 * hidden from other consumers for a visibility timeout and carrying a receipt handle that is new on
 * every receive; the consumer deletes the message with that handle when done, or it reappears once
 * the timeout expires (at-least-once delivery). A queue may have a redrive policy naming a
 * dead-letter queue (DLQ) and maxReceiveCount: a message already received maxReceiveCount times is
 * moved to the DLQ by the next receive that would have delivered it, as SQS does. Messages in a DLQ
 * can be listed and redriven back to their source queue.
 *
 * Received messages cross the port as jansson objects shaped exactly like the messages of the SQS
 * JSON-protocol ReceiveMessage response, so an SQS adapter passes them through:
 *   {"MessageId", "ReceiptHandle", "MD5OfBody", "Body",
 *    "Attributes": {"ApproximateReceiveCount", "SentTimestamp",
 *                   "ApproximateFirstReceiveTimestamp"}        (decimal strings, ms since epoch)
 *    "MD5OfMessageAttributes", "MessageAttributes": {Name: {"DataType", "StringValue"}}}
 * (the last two only when the message has attributes).
 *
 * Receipt handles, as documented for SQS DeleteMessage: deleting with a handle that is not the
 * most recent one for the message "succeeds but might not delete". This port makes that
 * deterministic: a well-formed but stale handle (the message was received again since, moved to
 * the DLQ, or already deleted) returns success and deletes nothing, so a slow consumer can never
 * delete a message another consumer is now working on. A well-formed handle used on the wrong
 * queue is treated the same way (success, nothing deleted); a malformed one is
 * ReceiptHandleIsInvalid. change_visibility, which SQS documents as failing for messages that are
 * not in flight, returns MessageNotInflight for a visible message and ReceiptHandleIsInvalid for a
 * stale handle. Not modelled: message retention (messages never expire) and PurgeQueue's
 * once-per-60-seconds limit.
 *
 * Errors (codes follow SQS): "InvalidParameterValue" (limits, malformed input),
 * "InvalidAttributeName", "InvalidAttributeValue", "QueueDoesNotExist", "ReceiptHandleIsInvalid",
 * "MessageNotInflight", "QueueError" (storage failures). Every function returns 0 or -1 with err
 * set. Adapters are thread-safe; do not free a queue while calls on it are in progress.
 */
#ifndef PARLEY_QUEUE_H
#define PARLEY_QUEUE_H

#include <assert.h>

#include <jansson.h>
#include <stdint.h>

#include "base/err.h"

/* ---------------------------------------------------------------- limits (those of SQS) */

#define QUEUE_BODY_MAX (256 * 1024)  /* body + attribute names, types and values, in bytes */
#define QUEUE_RECEIVE_MAX 10         /* messages per receive */
#define QUEUE_WAIT_MAX_S 20          /* long-poll wait */
#define QUEUE_VISIBILITY_MAX_S 43200 /* 12 hours */
#define QUEUE_DELAY_MAX_S 900        /* 15 minutes */
#define QUEUE_ATTRS_MAX 10           /* message attributes per message */
#define QUEUE_NAME_MAX 80            /* [A-Za-z0-9_-]{1,80} */
#define QUEUE_RECEIPT_MAX 1024       /* receipt handle length */
#define QUEUE_MAX_RECEIVE_DEFAULT 3  /* maxReceiveCount when a redrive policy gives none */
#define QUEUE_NEEDLE_MAX 1024        /* erase_matching's needle, in bytes */

/* The seed's queues. */
#define QUEUE_AGENT_ACTIONS "AgentActions"
#define QUEUE_AGENT_ACTIONS_DLQ "AgentActions-DLQ"

/* ---------------------------------------------------------------- types */

struct queue;

/* A queue's settings, as the attributes of SQS CreateQueue/SetQueueAttributes. */
struct queue_attrs {
    int visibility_timeout_s;       /* receive default, 1..43200; 0 means SQS's default, 30 */
    int delay_s;                    /* send default, 0..900 */
    const char *dead_letter_target; /* DLQ name (must exist), or NULL for no redrive policy */
    int max_receive_count;          /* 1..1000; 0 means QUEUE_MAX_RECEIVE_DEFAULT */
};

struct queue_receive_opts {
    int max_messages;         /* 1..10 */
    int visibility_timeout_s; /* 1..43200; 0 means the queue's default (zeroed opts are safe) */
    int wait_time_s;          /* 0..20: long polling waits this long for a first message */
};

/* ApproximateNumberOfMessages, ...NotVisible and ...Delayed. */
struct queue_counts {
    long long visible;   /* ready to be received */
    long long in_flight; /* received, neither deleted nor visible again yet */
    long long delayed;   /* sent with a delay that has not elapsed */
};

/* Configuration of the embedded adapter. Zeroed fields take the defaults. */
struct queue_config {
    int64_t (*now_ms)(void *ctx); /* wall clock in ms since epoch; NULL: clock_now_ms */
    void *clock_ctx;              /* passed to now_ms */
    int pool_size;                /* SQLite connections; 0: 4 */
    int poll_interval_ms;         /* long-poll re-check period for other processes; 0: 100 */
};

struct queue_ops {
    const char *name; /* "sqlite", "sqs" */

    /* Creates the queue, or updates its attributes if it exists (attrs != NULL). With attrs NULL,
     * creates it with defaults (visibility 30 s, no delay, no DLQ) only if missing. */
    int (*ensure)(struct queue *q, const char *queue, const struct queue_attrs *attrs,
                  struct err *err);

    /* Every queue, sorted by name: [{"name", "visibilityTimeout", "delaySeconds",
     * "redrivePolicy": {"deadLetterTarget", "maxReceiveCount"} (only with a DLQ)}]. */
    int (*list)(struct queue *q, json_t **out, struct err *err);

    /* Sends body (NUL-terminated UTF-8) with attributes (a borrowed object of
     * {Name: {"DataType", "StringValue"|"BinaryValue"}}, or NULL) after delay_s seconds (-1: the
     * queue's default). Writes the new MessageId (a UUID) into message_id. */
    int (*send)(struct queue *q, const char *queue, const char *body, const json_t *attributes,
                int delay_s, char message_id[37], struct err *err);

    /* Receives up to opts->max_messages messages; *out is a new array (possibly empty) of message
     * objects as described above, owned by the caller. */
    int (*receive)(struct queue *q, const char *queue, const struct queue_receive_opts *opts,
                   json_t **out, struct err *err);

    /* Deletes the message the receipt handle names (see the file comment for stale handles). */
    int (*delete_message)(struct queue *q, const char *queue, const char *receipt, struct err *err);

    /* Makes an in-flight message visible again timeout_s (0..43200) seconds from now; 0 makes it
     * visible at once. */
    int (*change_visibility)(struct queue *q, const char *queue, const char *receipt, int timeout_s,
                             struct err *err);

    /* Fills *out with the queue's approximate counts. */
    int (*counts)(struct queue *q, const char *queue, struct queue_counts *out, struct err *err);

    /* Deletes every message of the queue; *purged (may be NULL) gets how many. */
    int (*purge)(struct queue *q, const char *queue, long long *purged, struct err *err);

    /* Lists up to max (1..1000) messages, oldest first, without receiving them: the message
     * objects above without ReceiptHandle, plus "SourceQueue" for messages moved to a DLQ and
     * "Visible" (bool). For `parley queue dlq list`. */
    int (*peek)(struct queue *q, const char *queue, int max, json_t **out, struct err *err);

    /* Moves up to max (0: all) visible messages of dlq back to source, or, with source NULL, to
     * the queue each came from, as new messages (new MessageId and SentTimestamp, receive count 0,
     * body and attributes kept), like SQS StartMessageMoveTask. Messages whose source is unknown
     * or no longer exists stay. *moved (may be NULL) gets the number moved. */
    int (*redrive)(struct queue *q, const char *dlq, const char *source, long long max,
                   long long *moved, struct err *err);

    /* Deletes every message of the queue (visible, in flight or delayed) whose body contains
     * needle (1..QUEUE_NEEDLE_MAX bytes), for erasure: the adapter leaves no copy of them in its
     * files (SQLite: secure_delete, then a WAL checkpoint with truncation). *erased (may be NULL)
     * gets how many, or -1 from an adapter that cannot select messages by content (SQS): it
     * deletes nothing and succeeds, and consumers must drop such messages themselves. */
    int (*erase_matching)(struct queue *q, const char *queue, const char *needle, long long *erased,
                          struct err *err);

    void (*free)(struct queue *q);
};

struct queue {
    const struct queue_ops *ops; /* the adapter */
};

/* ---------------------------------------------------------------- calls through the port */

static inline int queue_ensure(struct queue *q, const char *name, const struct queue_attrs *a,
                               struct err *err)
{
    assert(q);
    return q->ops->ensure(q, name, a, err);
}

static inline int queue_list(struct queue *q, json_t **out, struct err *err)
{
    assert(q);
    return q->ops->list(q, out, err);
}

static inline int queue_send(struct queue *q, const char *name, const char *body,
                             const json_t *attributes, int delay_s, char message_id[37],
                             struct err *err)
{
    assert(q);
    return q->ops->send(q, name, body, attributes, delay_s, message_id, err);
}

static inline int queue_receive(struct queue *q, const char *name,
                                const struct queue_receive_opts *opts, json_t **out,
                                struct err *err)
{
    assert(q);
    return q->ops->receive(q, name, opts, out, err);
}

static inline int queue_delete(struct queue *q, const char *name, const char *receipt,
                               struct err *err)
{
    assert(q);
    return q->ops->delete_message(q, name, receipt, err);
}

static inline int queue_change_visibility(struct queue *q, const char *name, const char *receipt,
                                          int timeout_s, struct err *err)
{
    assert(q);
    return q->ops->change_visibility(q, name, receipt, timeout_s, err);
}

static inline int queue_counts(struct queue *q, const char *name, struct queue_counts *out,
                               struct err *err)
{
    assert(q);
    return q->ops->counts(q, name, out, err);
}

static inline int queue_purge(struct queue *q, const char *name, long long *purged, struct err *err)
{
    assert(q);
    return q->ops->purge(q, name, purged, err);
}

static inline int queue_peek(struct queue *q, const char *name, int max, json_t **out,
                             struct err *err)
{
    assert(q);
    return q->ops->peek(q, name, max, out, err);
}

static inline int queue_redrive(struct queue *q, const char *dlq, const char *source, long long max,
                                long long *moved, struct err *err)
{
    assert(q);
    return q->ops->redrive(q, dlq, source, max, moved, err);
}

static inline int queue_erase_matching(struct queue *q, const char *name, const char *needle,
                                       long long *erased, struct err *err)
{
    assert(q);
    return q->ops->erase_matching(q, name, needle, erased, err);
}

/* The adapter's name ("sqlite", "sqs"), for logs and the CLI. */
static inline const char *queue_name(const struct queue *q)
{
    assert(q);
    return q->ops->name;
}

/* Frees the queue handle (not the queues). Accepts NULL. */
static inline void queue_free(struct queue *q)
{
    if (q)
        q->ops->free(q);
}

/* ---------------------------------------------------------------- adapters */

/* The embedded adapter: SQLite in WAL mode at db_path (its own file, e.g. <data>/queue.db, so it
 * never contends with the store's write lock). All state lives in the file, so several handles
 * or processes may share it. cfg may be NULL. Returns NULL with err ("QueueError", naming the path)
 * when the database cannot be opened. */
struct queue *queue_sqlite_new(const char *db_path, const struct queue_config *cfg,
                               struct err *err);

/* ---------------------------------------------------------------- helpers shared by adapters */

/* Creates AgentActions-DLQ and AgentActions (visibility 30 s, redrive to the DLQ after 3
 * receives) when they are missing; leaves existing queues untouched. */
int queue_setup_agent(struct queue *q, struct err *err);

/* Erases the queued actions of a session: every message of AgentActions and AgentActions-DLQ
 * whose body names it ("sessionId":"<id>", as ActionExecutor writes it). *erased (may be NULL)
 * gets how many, or -1 when the adapter cannot select by content (SQS: the worker drops actions
 * of erased sessions instead). A queue that does not exist counts as empty. Returns 0, or -1
 * with err. */
int queue_erase_session(struct queue *q, const char *session_id, long long *erased,
                        struct err *err);

/* Checks a queue name: 1..80 characters of [A-Za-z0-9_-]. */
int queue__check_name(const char *name, struct err *err);

/* Checks a message: body non-empty, valid UTF-8 of the characters SQS accepts; attributes as in
 * send; body plus attributes at most QUEUE_BODY_MAX bytes. */
int queue__check_message(const char *body, const json_t *attributes, struct err *err);

/* Writes the lowercase hex MD5 of data[0..len) into hex[33]. */
void queue__md5_hex(const void *data, size_t len, char hex[33]);

/* Writes the MD5 of the message attributes in SQS's documented encoding (names sorted; each as
 * length-prefixed name, data type, a transport byte and the length-prefixed value) into hex[33].
 * attributes must have passed queue__check_message. */
void queue__md5_attributes(const json_t *attributes, char hex[33]);

#endif
