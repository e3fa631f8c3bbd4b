/*
 * bus_eventbridge.c - the bus port over EventBridge PutEvents; see bus_eventbridge.h.
 *
 * Lifecycle: bus_eventbridge_new starts the sender thread; put appends to the ring under the
 * lock; the sender takes a batch, sends it without the lock and accounts for it; bus_free sets
 * closing, lets the sender drain the ring, joins it and frees everything.
 */
#include "bus/bus_eventbridge.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/backoff.h"
#include "base/clock.h"
#include "base/jsontext.h"
#include "base/log.h"
#include "base/sched.h"
#include "base/xmalloc.h"

/* The longest wait between resends; doubling stops there. */
#define RESEND_BACKOFF_MAX_MS 60000

struct entry {
    json_t *doc;  /* the PutEvents entry */
    size_t bytes; /* its size as EventBridge counts it (approximately: the JSON text) */
};

struct bus_eb {
    struct bus base;        /* must be first */
    struct aws_client *aws; /* signed calls */
    char *bus_name;         /* EventBusName */
    int put_wait_ms, max_attempts, backoff_ms;
    pthread_mutex_t mu;
    pthread_cond_t changed;  /* ring or in-flight count changed */
    struct entry *ring;      /* queue_cap slots */
    size_t cap, head, count; /* ring state */
    size_t in_flight;        /* entries taken by the sender and not yet accounted */
    int closing;             /* bus_free started */
    struct bus_stats stats;  /* guarded by mu */
    pthread_t thread;
};

/* ---------------------------------------------------------------- building entries */

/* Parses "YYYY-MM-DDTHH:MM:SS..." (UTC) into epoch seconds; -1 when malformed. */
static long long parse_time(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (!s || !strptime(s, "%Y-%m-%dT%H:%M:%S", &tm))
        return -1;
    return (long long)timegm(&tm);
}

static json_t *entry_of(struct bus_eb *b, const json_t *event, struct err *e)
{
    const char *source = json_string_value(json_object_get(event, "source"));
    const char *type = json_string_value(json_object_get(event, "detail-type"));
    const json_t *detail = json_object_get(event, "detail");
    if (!source || !type) {
        err_set(e, "InvalidEvent", "an event needs 'source' and 'detail-type'");
        return NULL;
    }
    char *text = detail ? jsontext_dump(detail) : NULL;
    json_t *entry = json_pack("{s:s, s:s, s:s, s:s}", "Source", source, "DetailType", type,
                              "Detail", text ? text : "{}", "EventBusName", b->bus_name);
    free(text);
    const json_t *res = json_object_get(event, "resources");
    if (json_is_array(res) && json_array_size(res) > 0)
        json_object_set_new(entry, "Resources", json_deep_copy(res));
    long long t = parse_time(json_string_value(json_object_get(event, "time")));
    if (t >= 0)
        json_object_set_new(entry, "Time", json_integer(t));
    /* Not a setting: the Lambda runtime sets _X_AMZN_TRACE_ID per invocation (lambda.c). */
    const char *trace = getenv("_X_AMZN_TRACE_ID");
    if (trace && *trace)
        json_object_set_new(entry, "TraceHeader", json_string(trace));
    return entry;
}

/* ---------------------------------------------------------------- the port */

static int eb_put(struct bus *base, const json_t *event, struct err *e)
{
    struct bus_eb *b = (struct bus_eb *)base;
    if (!json_is_object(event))
        return err_set(e, "InvalidEvent", "an event must be a JSON object");
    json_t *doc = entry_of(b, event, e);
    if (!doc)
        return -1;
    char *text = jsontext_dump(doc);
    size_t bytes = strlen(text);
    free(text);
    if (bytes > BUS_EB_REQUEST_MAX) {
        json_decref(doc);
        return err_set(e, "InvalidEvent", "event is %zu bytes; PutEvents takes at most %d", bytes,
                       BUS_EB_REQUEST_MAX);
    }
    pthread_mutex_lock(&b->mu);
    if (b->put_wait_ms > 0 && b->count == b->cap && !b->closing) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        long long ns = until.tv_nsec + (long long)b->put_wait_ms * 1000000LL;
        until.tv_sec += ns / 1000000000LL;
        until.tv_nsec = ns % 1000000000LL;
        while (b->count == b->cap && !b->closing)
            if (pthread_cond_timedwait(&b->changed, &b->mu, &until) != 0)
                break;
    }
    int rc = 0;
    if (b->closing) {
        rc = err_set(e, "BusClosed", "the bus is shutting down");
    } else if (b->count == b->cap) {
        b->stats.dropped++;
        rc = err_set(e, "BusFull", "event queue full (%zu events)", b->cap);
    } else {
        b->ring[(b->head + b->count) % b->cap] = (struct entry){doc, bytes};
        b->count++;
        b->stats.accepted++;
        doc = NULL;
        pthread_cond_broadcast(&b->changed);
    }
    pthread_mutex_unlock(&b->mu);
    if (rc < 0) {
        log_at(LL_WARN, "bus", "event '%s' not accepted: %s",
               json_string_value(json_object_get(event, "detail-type")), e->message);
        json_decref(doc);
    }
    return rc;
}

/* The port's put_new: the ring holds the PutEvents entry made of event, which is let go here. */
static int eb_put_new(struct bus *base, json_t *event, struct err *e)
{
    int rc = eb_put(base, event, e);
    json_decref(event);
    return rc;
}

/* Sends batch[0..n) with resends of failed entries. Returns how many were delivered. */
static size_t send_batch(struct bus_eb *b, struct entry *batch, size_t n)
{
    size_t delivered = 0;
    int *pending = xcalloc(n, sizeof *pending);
    for (size_t i = 0; i < n; i++)
        pending[i] = 1;
    size_t left = n;
    /* Resends wait backoff_ms, then twice that, and so on (no jitter, capped). */
    struct backoff bo = {.base_ms = b->backoff_ms,
                         .max_ms = RESEND_BACKOFF_MAX_MS,
                         .jitter = BACKOFF_JITTER_NONE};
    for (int attempt = 1; left > 0 && attempt <= b->max_attempts; attempt++) {
        if (attempt > 1)
            sched_sleep_ms(backoff_delay_ms(&bo, attempt - 1));
        json_t *entries = json_array();
        size_t *index = xcalloc(left, sizeof *index);
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (pending[i]) {
                json_array_append(entries, batch[i].doc);
                index[k++] = i;
            }
        json_t *req = json_pack("{s:o}", "Entries", entries);
        char *body = jsontext_dump(req);
        json_decref(req);
        const char *headers[] = {"Content-Type: application/x-amz-json-1.1",
                                 "X-Amz-Target: AWSEvents.PutEvents"};
        struct aws_request r = {.service = "events",
                                .method = "POST",
                                .path = "/",
                                .headers = headers,
                                .n_headers = 2,
                                .body = body,
                                .body_len = strlen(body),
                                .max_retries = -1};
        struct aws_response resp = {0};
        struct err e;
        err_clear(&e);
        if (aws_call(b->aws, &r, &resp, &e) == 0) {
            json_t *doc = json_loadb(resp.http.body ? resp.http.body : "", resp.http.body_len, 0,
                                     NULL);
            json_t *results = json_object_get(doc, "Entries");
            for (size_t j = 0; j < k; j++) {
                json_t *res = json_array_get(results, j);
                const char *code = json_string_value(json_object_get(res, "ErrorCode"));
                if (res && !code) {
                    pending[index[j]] = 0;
                    left--;
                    delivered++;
                } else {
                    log_at(attempt < b->max_attempts ? LL_DEBUG : LL_WARN, "bus",
                           "PutEvents entry failed (attempt %d): %s: %s", attempt,
                           code ? code : "no result",
                           json_string_value(json_object_get(res, "ErrorMessage"))
                               ? json_string_value(json_object_get(res, "ErrorMessage"))
                               : "");
                }
            }
            json_decref(doc);
        } else {
            log_at(LL_WARN, "bus", "PutEvents failed (attempt %d): %s: %s", attempt, e.code,
                   e.message);
            /* A request the service refused as invalid will not get better by resending. */
            if (resp.status >= 400 && resp.status < 500 && resp.status != 429 &&
                !aws_error_is_throttling(e.code))
                attempt = b->max_attempts;
        }
        aws_response_release(&resp);
        free(body);
        free(index);
    }
    free(pending);
    return delivered;
}

static void *sender(void *arg)
{
    struct bus_eb *b = arg;
    struct entry batch[BUS_EB_BATCH_MAX];
    pthread_mutex_lock(&b->mu);
    for (;;) {
        while (b->count == 0 && !b->closing)
            pthread_cond_wait(&b->changed, &b->mu);
        if (b->count == 0 && b->closing)
            break;
        size_t n = 0, bytes = 0;
        while (b->count > 0 && n < BUS_EB_BATCH_MAX &&
               (n == 0 || bytes + b->ring[b->head].bytes <= BUS_EB_REQUEST_MAX)) {
            batch[n] = b->ring[b->head];
            bytes += batch[n].bytes;
            b->head = (b->head + 1) % b->cap;
            b->count--;
            n++;
        }
        b->in_flight = n;
        pthread_cond_broadcast(&b->changed);
        pthread_mutex_unlock(&b->mu);
        size_t ok = send_batch(b, batch, n);
        for (size_t i = 0; i < n; i++)
            json_decref(batch[i].doc);
        pthread_mutex_lock(&b->mu);
        b->stats.delivered += ok;
        b->stats.failed += n - ok;
        b->in_flight = 0;
        pthread_cond_broadcast(&b->changed);
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

static int eb_flush(struct bus *base, int timeout_ms)
{
    struct bus_eb *b = (struct bus_eb *)base;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    long long ns = until.tv_nsec + (long long)(timeout_ms > 0 ? timeout_ms : 0) * 1000000LL;
    until.tv_sec += ns / 1000000000LL;
    until.tv_nsec = ns % 1000000000LL;
    int rc = 0;
    pthread_mutex_lock(&b->mu);
    while (b->count > 0 || b->in_flight > 0) {
        if (timeout_ms < 0) {
            pthread_cond_wait(&b->changed, &b->mu);
        } else if (pthread_cond_timedwait(&b->changed, &b->mu, &until) != 0) {
            rc = -1;
            break;
        }
    }
    pthread_mutex_unlock(&b->mu);
    return rc;
}

static void eb_set_analytics_sink(struct bus *base, bus_analytics_fn fn, void *ud)
{
    (void)base;
    (void)ud;
    if (fn)
        log_at(LL_DEBUG, "bus", "EventBridge routes analytics through its rules; sink unused");
}

static void eb_stats(struct bus *base, struct bus_stats *out)
{
    struct bus_eb *b = (struct bus_eb *)base;
    pthread_mutex_lock(&b->mu);
    *out = b->stats;
    out->queued = b->count + b->in_flight;
    pthread_mutex_unlock(&b->mu);
}

static void eb_free(struct bus *base)
{
    struct bus_eb *b = (struct bus_eb *)base;
    pthread_mutex_lock(&b->mu);
    b->closing = 1;
    pthread_cond_broadcast(&b->changed);
    pthread_mutex_unlock(&b->mu);
    pthread_join(b->thread, NULL);
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->changed);
    aws_client_free(b->aws);
    free(b->ring);
    free(b->bus_name);
    free(b);
}

static const struct bus_ops eventbridge_ops = {
    .name = "eventbridge",
    .put_new = eb_put_new,
    .flush = eb_flush,
    .set_analytics_sink = eb_set_analytics_sink,
    .stats = eb_stats,
    .free = eb_free,
};

struct bus *bus_eventbridge_new(const struct bus_eventbridge_config *cfg, struct err *e)
{
    if (!cfg || !cfg->aws) {
        err_set(e, "InvalidConfig", "the EventBridge bus needs an AWS configuration");
        return NULL;
    }
    struct bus_eb *b = xcalloc(1, sizeof *b);
    b->base.ops = &eventbridge_ops;
    b->aws = aws_client_new(cfg->aws, NULL);
    b->bus_name = xstrdup(cfg->bus_name && *cfg->bus_name ? cfg->bus_name : "default");
    b->cap = cfg->queue_cap ? cfg->queue_cap : 4096;
    b->put_wait_ms = cfg->put_wait_ms == 0 ? 50 : cfg->put_wait_ms;
    b->max_attempts = cfg->max_attempts > 0 ? cfg->max_attempts : 3;
    b->backoff_ms = cfg->backoff_ms > 0 ? cfg->backoff_ms : 200;
    b->ring = xcalloc(b->cap, sizeof *b->ring);
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->changed, NULL);
    if (pthread_create(&b->thread, NULL, sender, b) != 0) {
        aws_client_free(b->aws);
        free(b->ring);
        free(b->bus_name);
        pthread_mutex_destroy(&b->mu);
        pthread_cond_destroy(&b->changed);
        free(b);
        err_set(e, "InvalidConfig", "cannot start the EventBridge sender thread");
        return NULL;
    }
    return &b->base;
}
