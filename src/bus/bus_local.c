/*
 * bus_local.c - the in-process event bus: EventBridge rules from a JSON file, a bounded queue
 * drained by one background thread, and the log, webhook and analytics targets (see bus.h).
 *
 * Lifecycle: bus_local_new() loads and validates the rules, opens nothing yet, and starts the
 * worker. bus_put_new() does on the caller's thread all that reads the event: it matches the
 * rules, writes the event's text when a matched log or webhook target wants it, puts the matched
 * rules and the text into the ring (waiting briefly for room), and once the event is accepted
 * hands it to the analytics sink and lets it go. The worker never reads an event: one built on a
 * request's thread cost ~5 us of cache misses to write out on the worker's core against ~0.6 us
 * where it was built, and its release as much again (new-session turns: the worker was 7.9% of
 * the CPU samples; with this split the turns cost 8-9% less CPU). The worker pops one entry at a
 * time and delivers it to every matched rule's log and webhook targets outside the lock; log
 * targets gather their lines and write them once the ring is drained, and the worker then
 * lingers (BUS_LINGER_MS) before it sleeps. bus_free() marks the bus closed, lets the worker
 * drain the ring, joins it, then frees.
 */
#include "bus/bus.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/jsontext.h"
#include "base/log.h"
#include "base/logfile.h"
#include "base/xmalloc.h"
#include "bus/pattern.h"
#include "http/client.h"

#define DEFAULT_QUEUE_CAP 4096
#define MAX_QUEUE_CAP (1u << 20)
#define DEFAULT_PUT_WAIT_MS 50
#define DEFAULT_BACKOFF_MS 200
#define MAX_BACKOFF_MS 10000
#define RULES_FILE_MAX (1 << 20) /* bytes */
#define MAX_RULES 300            /* EventBridge's default rules-per-bus quota */
#define MAX_TARGETS 5            /* EventBridge allows five targets per rule */
#define WEBHOOK_RESPONSE_MAX 65536

/* ------------------------------------------------------------------------------------------------
 * Rules
 * ---------------------------------------------------------------------------------------------- */

enum target_type { TARGET_LOG, TARGET_WEBHOOK, TARGET_ANALYTICS };

struct target {
    enum target_type type;
    char *log_group;     /* log: as configured */
    char *log_path;      /* log: <data>/logs/<file>.log */
    struct logfile *log; /* log: opened on first use, rotated by size (logfile.h) */
    struct buf pending;  /* log: whole lines routed and not yet written (see logs_write) */
    size_t n_pending;    /* log: the events those lines are */
    char *url;           /* webhook */
    int max_attempts;    /* webhook */
    long timeout_ms;     /* webhook */
};

struct rule {
    char *name;
    struct pattern *pattern;
    struct target *targets;
    size_t ntargets;
};

/* An accepted event as the worker sees it: one allocation, the rules it matched, then its text. */
struct item {
    char id[40];        /* the event's id, for the worker's error messages */
    char *line;         /* inside this allocation: the compact text and a '\n', or NULL */
    size_t len;         /* bytes of line without the '\n' */
    size_t nmatched;    /* rules matched */
    uint16_t matched[]; /* their indices, ascending */
};

struct bus_local {
    struct bus base;
    struct rule *rules;
    size_t nrules;
    char *logs_dir;
    long long log_max_bytes; /* bus_local_config */
    int log_files;           /* bus_local_config */
    int put_wait_ms;
    int backoff_ms;
    struct http_client *http; /* webhook deliveries; shared by nothing else */

    pthread_mutex_t mu;
    pthread_cond_t not_empty; /* signalled on put while the worker is asleep, on flush and close */
    pthread_cond_t not_full;  /* signalled when the worker pops */
    pthread_cond_t idle;      /* signalled when the ring is empty and the worker idle */
    struct item **ring;       /* cap slots, count used from head */
    size_t cap, head, count;
    int busy;    /* the worker is delivering an event */
    int asleep;  /* the worker waits for a put's signal (it lingers otherwise: see BUS_LINGER_MS) */
    int closing; /* bus_free() has begun */
    pthread_t worker;
    bus_analytics_fn sink; /* under mu */
    void *sink_ud;
    struct timespec sink_due; /* when the sink wants its NULL call (CLOCK_REALTIME); */
    int sink_pending;         /* ... valid when this is set; both worker only */
    int sink_asked_ms;        /* under mu: the soonest NULL call a put's sink call asked for */
    struct bus_stats st;      /* under mu */
};

static void rules_free(struct rule *rules, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(rules[i].name);
        pattern_free(rules[i].pattern);
        for (size_t j = 0; j < rules[i].ntargets; j++) {
            struct target *t = &rules[i].targets[j];
            free(t->log_group);
            free(t->log_path);
            free(t->url);
            logfile_free(t->log);
            buf_release(&t->pending);
        }
        free(rules[i].targets);
    }
    free(rules);
}

/* Fails with InvalidConfig naming where in the rules document the problem is. */
static int cfg_fail(struct err *e, const char *origin, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int cfg_fail(struct err *e, const char *origin, const char *where, const char *fmt, ...)
{
    char why[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    return err_set(e, "InvalidConfig", "rules '%s': %s%s%s", origin, where, *where ? ": " : "",
                   why);
}

/* Only these keys may appear; anything else is probably a typo worth reporting. */
static int check_keys(const json_t *obj, const char *const *allowed, const char *origin,
                      const char *where, struct err *e)
{
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)obj, k, v) {
        int ok = 0;
        (void)v;
        for (size_t i = 0; allowed[i]; i++)
            ok |= strcmp(k, allowed[i]) == 0;
        if (!ok) {
            char list[256] = "";
            for (size_t i = 0; allowed[i]; i++) {
                strncat(list, i ? ", " : "", sizeof list - strlen(list) - 1);
                strncat(list, allowed[i], sizeof list - strlen(list) - 1);
            }
            return cfg_fail(e, origin, where, "unknown key \"%s\" (allowed: %s)", k, list);
        }
    }
    return 0;
}

/* CloudWatch Logs group names: 1-512 of [A-Za-z0-9._/#-]. */
static int log_group_ok(const char *g)
{
    size_t n = strlen(g);
    if (n == 0 || n > 512)
        return 0;
    for (const char *p = g; *p; p++)
        if (!(isalnum((unsigned char)*p) || strchr("._/#-", *p)))
            return 0;
    return 1;
}

static char *log_file_name(const char *group)
{
    while (*group == '/')
        group++;
    char *name = xasprintf("%s.log", *group ? group : "default");
    for (char *p = name; *p; p++)
        if (*p == '/' || *p == '#')
            *p = '_';
    if (name[0] == '.')
        name[0] = '_'; /* no hidden files, no ".." */
    return name;
}

static int parse_target(const json_t *t, const char *origin, const char *where, struct target *out,
                        struct err *e)
{
    static const char *const log_keys[] = {"type", "logGroup", NULL};
    static const char *const hook_keys[] = {"type", "url", "maxAttempts", "timeoutMs", NULL};
    static const char *const an_keys[] = {"type", NULL};
    if (!json_is_object(t))
        return cfg_fail(e, origin, where, "a target must be an object");
    const char *type = json_string_value(json_object_get(t, "type"));
    if (!type)
        return cfg_fail(e, origin, where, "\"type\" is missing (log, webhook or analytics)");
    if (strcmp(type, "log") == 0) {
        out->type = TARGET_LOG;
        if (check_keys(t, log_keys, origin, where, e) < 0)
            return -1;
        const char *g = json_string_value(json_object_get(t, "logGroup"));
        if (!g)
            return cfg_fail(e, origin, where, "a log target needs \"logGroup\" (a string)");
        if (!log_group_ok(g))
            return cfg_fail(e, origin, where,
                            "logGroup '%s' must be 1-512 characters of A-Z a-z 0-9 . _ / # -", g);
        out->log_group = xstrdup(g);
        return 0;
    }
    if (strcmp(type, "webhook") == 0) {
        out->type = TARGET_WEBHOOK;
        if (check_keys(t, hook_keys, origin, where, e) < 0)
            return -1;
        const char *url = json_string_value(json_object_get(t, "url"));
        if (!url || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0))
            return cfg_fail(e, origin, where,
                            "a webhook target needs \"url\" (http:// or https://)");
        const json_t *ma = json_object_get(t, "maxAttempts"), *to = json_object_get(t, "timeoutMs");
        out->max_attempts = 3;
        out->timeout_ms = 5000;
        if (ma &&
            (!json_is_integer(ma) || json_integer_value(ma) < 1 || json_integer_value(ma) > 10))
            return cfg_fail(e, origin, where, "maxAttempts must be an integer from 1 to 10");
        if (to && (!json_is_integer(to) || json_integer_value(to) < 100 ||
                   json_integer_value(to) > 60000))
            return cfg_fail(e, origin, where, "timeoutMs must be an integer from 100 to 60000");
        if (ma)
            out->max_attempts = (int)json_integer_value(ma);
        if (to)
            out->timeout_ms = (long)json_integer_value(to);
        out->url = xstrdup(url);
        return 0;
    }
    if (strcmp(type, "analytics") == 0) {
        out->type = TARGET_ANALYTICS;
        return check_keys(t, an_keys, origin, where, e);
    }
    return cfg_fail(e, origin, where, "unknown target type '%s' (log, webhook or analytics)", type);
}

/* Parses and validates a rules document into *rules (owned by the caller) . */
static int parse_rules(const json_t *doc, const char *origin, struct rule **rules, size_t *nrules,
                       struct err *e)
{
    static const char *const top_keys[] = {"rules", NULL};
    static const char *const rule_keys[] = {"name", "eventPattern", "targets", "description", NULL};
    *rules = NULL;
    *nrules = 0;
    if (!json_is_object(doc))
        return cfg_fail(e, origin, "", "the document must be an object {\"rules\": [...]}");
    if (check_keys(doc, top_keys, origin, "", e) < 0)
        return -1;
    const json_t *arr = json_object_get(doc, "rules");
    if (!json_is_array(arr))
        return cfg_fail(e, origin, "", "\"rules\" must be an array");
    if (json_array_size(arr) > MAX_RULES)
        return cfg_fail(e, origin, "", "%zu rules; at most %d are allowed", json_array_size(arr),
                        MAX_RULES);
    struct rule *rs = xcalloc(json_array_size(arr) + 1, sizeof *rs);
    size_t n = 0, i;
    const json_t *r;
    json_array_foreach(arr, i, r) {
        char where[160];
        snprintf(where, sizeof where, "rules[%zu]", i);
        if (!json_is_object(r)) {
            cfg_fail(e, origin, where, "a rule must be an object");
            goto fail;
        }
        const char *name = json_string_value(json_object_get(r, "name"));
        if (name)
            snprintf(where, sizeof where, "rules[%zu] (\"%.64s\")", i, name);
        if (check_keys(r, rule_keys, origin, where, e) < 0)
            goto fail;
        if (!name || !*name) {
            cfg_fail(e, origin, where, "\"name\" is missing or empty");
            goto fail;
        }
        for (size_t k = 0; k < n; k++)
            if (strcmp(rs[k].name, name) == 0) {
                cfg_fail(e, origin, where, "duplicate rule name (also rules[%zu])", k);
                goto fail;
            }
        struct rule *rule = &rs[n++];
        rule->name = xstrdup(name);
        const json_t *pat = json_object_get(r, "eventPattern");
        struct err pe;
        err_clear(&pe);
        if (json_is_string(pat))
            rule->pattern = pattern_compile_str(json_string_value(pat), &pe); /* as the API takes */
        else if (pat)
            rule->pattern = pattern_compile(pat, &pe);
        else
            err_set(&pe, "InvalidEventPattern", "\"eventPattern\" is missing");
        if (!rule->pattern) {
            cfg_fail(e, origin, where, "%s", pe.message);
            goto fail;
        }
        const json_t *ts = json_object_get(r, "targets");
        if (!json_is_array(ts) || json_array_size(ts) == 0 || json_array_size(ts) > MAX_TARGETS) {
            cfg_fail(e, origin, where, "\"targets\" must be an array of 1 to %d targets",
                     MAX_TARGETS);
            goto fail;
        }
        rule->targets = xcalloc(json_array_size(ts), sizeof *rule->targets);
        size_t j;
        const json_t *t;
        json_array_foreach(ts, j, t) {
            char twhere[200];
            snprintf(twhere, sizeof twhere, "%s: targets[%zu]", where, j);
            rule->ntargets++;
            if (parse_target(t, origin, twhere, &rule->targets[j], e) < 0)
                goto fail;
        }
    }
    *rules = rs;
    *nrules = n;
    return 0;
fail:
    rules_free(rs, n);
    return -1;
}

int bus_local_check_rules(const json_t *doc, const char *origin, struct err *e)
{
    struct rule *rs;
    size_t n;
    if (parse_rules(doc, origin ? origin : "(inline)", &rs, &n, e) < 0)
        return -1;
    rules_free(rs, n);
    return 0;
}

static json_t *default_rules(void)
{
    return json_pack("{s:[{s:s, s:{s:[s]}, s:[{s:s, s:s}, {s:s}]}]}", "rules", "name",
                     "parley-default", "eventPattern", "source", BUS_SOURCE, "targets", "type",
                     "log", "logGroup", "/parley/events", "type", "analytics");
}

/* ------------------------------------------------------------------------------------------------
 * Targets
 * ---------------------------------------------------------------------------------------------- */

static int mkdir_p(const char *path)
{
    char *tmp = xstrdup(path);
    int rc = 0;
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
            rc = -1;
        *p = '/';
    }
    if (rc == 0 && mkdir(tmp, 0755) < 0 && errno != EEXIST)
        rc = -1;
    free(tmp);
    return rc;
}

/* Lines a log target gathers before it writes them anyway (an event is at most 256 KiB). */
#define BUS_LOG_PENDING (1024 * 1024)

/* Writes the lines log target t gathered (one write of whole lines, so concurrent appenders
 * never interleave inside a line). Lines that could not be written are counted failed instead of
 * delivered. Worker thread only. */
static void log_write_pending(struct bus_local *b, struct target *t)
{
    if (t->pending.len == 0)
        return;
    int rc = -1;
    struct err e = {0};
    if (!t->log)
        t->log = logfile_open(t->log_path, b->log_max_bytes, b->log_files, &e);
    if (!t->log)
        log_at(LL_ERROR, "bus", "%s", e.message);
    else
        rc = logfile_write(t->log, t->pending.data, t->pending.len);
    if (rc < 0) {
        log_at(LL_ERROR, "bus", "could not write %zu event(s) to log group %s", t->n_pending,
               t->log_group);
        pthread_mutex_lock(&b->mu);
        b->st.delivered -= t->n_pending;
        b->st.failed += t->n_pending;
        pthread_mutex_unlock(&b->mu);
    }
    buf_reset(&t->pending);
    t->n_pending = 0;
}

/* Writes what every log target gathered, each time the worker has drained the ring.
 * Under load the worker routes a linger's worth of events between two of these, so the events
 * log costs one write a batch instead of one an event. */
static void logs_write(struct bus_local *b)
{
    for (size_t i = 0; i < b->nrules; i++)
        for (size_t j = 0; j < b->rules[i].ntargets; j++)
            if (b->rules[i].targets[j].type == TARGET_LOG)
                log_write_pending(b, &b->rules[i].targets[j]);
}

/* Adds one event's line to log target t; the worker writes it with logs_write. */
static int deliver_log(struct bus_local *b, struct target *t, const char *line, size_t len)
{
    if (t->pending.max == 0)
        buf_init(&t->pending, BUS_LOG_PENDING);
    if (buf_add(&t->pending, line, len) < 0) {
        log_write_pending(b, t); /* full: write what is there first (a failure counted there) */
        if (buf_add(&t->pending, line, len) < 0)
            return -1;
    }
    t->n_pending++;
    return 0;
}

/* The webhook retry rule: 408, 429 and every 5xx are worth another attempt. */
static int webhook_retryable(void *ud, const struct http_client_response *resp)
{
    (void)ud;
    return resp->status == 429 || resp->status >= 500 || resp->status == 408;
}

/* POSTs body through the bus's HTTP client, which retries transport errors and the statuses
 * above with jittered exponential backoff. Returns 0 on a 2xx answer, else -1. */
static int deliver_webhook(const struct bus_local *b, const struct target *t, const char *body,
                           size_t len)
{
    static const char *const headers[] = {"Content-Type: application/json",
                                          "User-Agent: parley-bus/1"};
    struct http_client_request req = {.method = "POST",
                                      .url = t->url,
                                      .headers = headers,
                                      .n_headers = 2,
                                      .body = body,
                                      .body_len = len,
                                      .timeout_ms = t->timeout_ms,
                                      .max_retries = t->max_attempts - 1,
                                      .retry_if = webhook_retryable};
    struct http_client_response resp;
    struct err e;
    err_clear(&e);
    int rc = -1;
    if (http_client_do(b->http, &req, &resp, &e) == 0 && resp.status >= 200 && resp.status < 300)
        rc = 0;
    if (rc < 0)
        log_at(LL_WARN, "bus", "webhook '%s' failed after %d attempt(s): %s", t->url, resp.attempts,
               err_is_set(&e) ? e.message : "HTTP error status");
    http_client_response_release(&resp);
    return rc;
}

/* Delivers one event to every matching rule's targets. Runs on the worker, outside the lock. */
static void deadline_after(struct timespec *ts, long ms);

/* The sink asked for a NULL call after ms (0 = none): keeps the earliest. Worker only. */
static void sink_asked(struct bus_local *b, int ms)
{
    struct timespec due;
    if (ms <= 0)
        return;
    deadline_after(&due, ms);
    if (!b->sink_pending || due.tv_sec < b->sink_due.tv_sec ||
        (due.tv_sec == b->sink_due.tv_sec && due.tv_nsec < b->sink_due.tv_nsec))
        b->sink_due = due;
    b->sink_pending = 1;
}

/* Makes the sink's NULL call (mu not held). Worker only. */
static void sink_tick(struct bus_local *b)
{
    pthread_mutex_lock(&b->mu);
    bus_analytics_fn sink = b->sink;
    void *sink_ud = b->sink_ud;
    pthread_mutex_unlock(&b->mu);
    b->sink_pending = 0;
    if (sink)
        sink_asked(b, sink(sink_ud, NULL));
}

static void route(struct bus_local *b, const struct item *it)
{
    uint64_t ok = 0, failed = 0;
    for (size_t i = 0; i < it->nmatched; i++) {
        const struct rule *r = &b->rules[it->matched[i]];
        for (size_t j = 0; j < r->ntargets; j++) {
            struct target *t = &r->targets[j];
            int rc = 0; /* an analytics target took the event in bus_put_new */
            if (t->type == TARGET_LOG)
                rc = deliver_log(b, t, it->line, it->len + 1);
            else if (t->type == TARGET_WEBHOOK)
                rc = deliver_webhook(b, t, it->line, it->len);
            if (rc == 0)
                ok++;
            else {
                failed++;
                log_at(LL_ERROR, "bus", "rule '%s' could not deliver event %s to its %s target",
                       r->name, it->id, t->type == TARGET_LOG ? "log" : "webhook");
            }
        }
    }
    pthread_mutex_lock(&b->mu);
    b->st.delivered += ok;
    b->st.failed += failed;
    pthread_mutex_unlock(&b->mu);
}

/* ------------------------------------------------------------------------------------------------
 * Queue and worker
 * ---------------------------------------------------------------------------------------------- */

/* Once the ring is drained the worker lingers this long before it sleeps: events put meanwhile
 * wait for the linger's end (or a flush) instead of each waking the worker, so under load it
 * wakes about 1000 / BUS_LINGER_MS times a second rather than once an event (signal and wake
 * were 3.9% of the server's CPU at 4,000 connections, three events a turn). */
#define BUS_LINGER_MS 5

/* Takes over the NULL call the puts' sink calls asked for (mu held). Worker only. */
static void take_sink_request(struct bus_local *b)
{
    if (b->sink_asked_ms > 0) {
        sink_asked(b, b->sink_asked_ms);
        b->sink_asked_ms = 0;
    }
}

static void *worker_main(void *arg)
{
    struct bus_local *b = arg;
    pthread_mutex_lock(&b->mu);
    for (;;) {
        take_sink_request(b);
        while (b->count == 0 && !b->closing) {
            take_sink_request(b);
            b->asleep = 1;
            if (!b->sink_pending) {
                pthread_cond_wait(&b->not_empty, &b->mu);
            } else if (pthread_cond_timedwait(&b->not_empty, &b->mu, &b->sink_due) == ETIMEDOUT) {
                pthread_mutex_unlock(&b->mu);
                sink_tick(b);
                pthread_mutex_lock(&b->mu);
            }
        }
        b->asleep = 0;
        if (b->count == 0 && b->closing)
            break;
        struct item *it = b->ring[b->head];
        b->ring[b->head] = NULL;
        b->head = (b->head + 1) % b->cap;
        b->count--;
        b->busy = 1;
        pthread_cond_signal(&b->not_full);
        pthread_mutex_unlock(&b->mu);
        route(b, it);
        free(it);
        pthread_mutex_lock(&b->mu);
        if (b->count == 0) { /* drained: write what the log targets gathered, still busy */
            pthread_mutex_unlock(&b->mu);
            logs_write(b);
            pthread_mutex_lock(&b->mu);
        }
        b->busy = 0;
        if (b->count == 0) {
            pthread_cond_broadcast(&b->idle);
            if (!b->closing) {
                struct timespec linger;
                deadline_after(&linger, BUS_LINGER_MS);
                pthread_cond_timedwait(&b->not_empty, &b->mu, &linger);
            }
        }
    }
    take_sink_request(b);
    pthread_mutex_unlock(&b->mu);
    if (b->sink_pending)
        sink_tick(b); /* the last batch before the bus goes */
    pthread_mutex_lock(&b->mu);
    pthread_cond_broadcast(&b->idle);
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

static void deadline_after(struct timespec *ts, long ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* The worker's entry for event: the rules it matches (none: NULL) and, when one of them has a log
 * or webhook target, its text. *analytics is set when one has an analytics target. */
static struct item *item_new(const struct bus_local *b, const json_t *event, int *analytics)
{
    uint16_t first[8]; /* the common case; more are found again below */
    size_t n = 0;
    int text = 0;
    *analytics = 0;
    for (size_t i = 0; i < b->nrules; i++) {
        const struct rule *r = &b->rules[i];
        if (!pattern_match(r->pattern, event))
            continue;
        if (n < sizeof first / sizeof first[0])
            first[n] = (uint16_t)i;
        n++;
        for (size_t j = 0; j < r->ntargets; j++) {
            text |= r->targets[j].type != TARGET_ANALYTICS;
            *analytics |= r->targets[j].type == TARGET_ANALYTICS;
        }
    }
    if (n == 0)
        return NULL;
    char *dump = text ? jsontext_dump(event) : NULL; /* NULL also for a real that is not finite */
    size_t len = dump ? strlen(dump) : 0;
    size_t head = sizeof(struct item) + n * sizeof(uint16_t);
    struct item *it = xmalloc(head + (text ? len + 2 : 0));
    const char *id = json_string_value(json_object_get(event, "id"));
    snprintf(it->id, sizeof it->id, "%s", id ? id : "");
    it->line = NULL;
    it->len = len;
    it->nmatched = n;
    if (n <= sizeof first / sizeof first[0]) {
        memcpy(it->matched, first, n * sizeof first[0]);
    } else {
        n = 0;
        for (size_t i = 0; i < b->nrules; i++)
            if (pattern_match(b->rules[i].pattern, event))
                it->matched[n++] = (uint16_t)i;
    }
    if (text) {
        it->line = (char *)it + head;
        memcpy(it->line, dump ? dump : "", len);
        it->line[len] = '\n';
        it->line[len + 1] = '\0';
    }
    free(dump);
    return it;
}

static int local_put_new(struct bus *base, json_t *event, struct err *e)
{
    struct bus_local *b = (struct bus_local *)base;
    if (!json_is_object(event)) {
        json_decref(event);
        return err_set(e, "InvalidEvent", "an event must be a JSON object");
    }
    int analytics;
    struct item *it = item_new(b, event, &analytics);
    int rc = -1;
    pthread_mutex_lock(&b->mu);
    if (it && b->count == b->cap && !b->closing && b->put_wait_ms > 0) {
        struct timespec dl;
        deadline_after(&dl, b->put_wait_ms);
        while (b->count == b->cap && !b->closing)
            if (pthread_cond_timedwait(&b->not_full, &b->mu, &dl) == ETIMEDOUT)
                break;
    }
    bus_analytics_fn sink = b->sink;
    void *sink_ud = b->sink_ud;
    if (b->closing) {
        err_set(e, "BusClosed", "the event bus is shutting down");
    } else if (!it) { /* accepted, with nothing to deliver */
        b->st.accepted++;
        b->st.unmatched++;
        rc = 0;
    } else if (b->count == b->cap) {
        b->st.dropped++;
        uint64_t dropped = b->st.dropped;
        err_set(e, "BusFull", "event bus queue is full (%zu events); event dropped", b->cap);
        pthread_mutex_unlock(&b->mu);
        if (dropped == 1 || dropped % 1000 == 0)
            log_at(LL_WARN, "bus", "queue full (%zu events): dropped %llu event(s) so far", b->cap,
                   (unsigned long long)dropped);
        free(it);
        json_decref(event);
        return -1;
    } else {
        b->ring[(b->head + b->count) % b->cap] = it;
        it = NULL;
        b->count++;
        b->st.accepted++;
        if (b->asleep || b->count == b->cap / 2)
            pthread_cond_signal(&b->not_empty);
        rc = 0;
    }
    pthread_mutex_unlock(&b->mu);
    free(it);
    if (rc == 0 && analytics && sink) { /* accepted: the sink takes it here, the worker never */
        int ms = sink(sink_ud, event);
        if (ms > 0) { /* the worker makes the NULL call it asks for */
            pthread_mutex_lock(&b->mu);
            if (b->sink_asked_ms == 0 || ms < b->sink_asked_ms)
                b->sink_asked_ms = ms;
            if (b->asleep)
                pthread_cond_signal(&b->not_empty);
            pthread_mutex_unlock(&b->mu);
        }
    }
    json_decref(event);
    return rc;
}

static int local_flush(struct bus *base, int timeout_ms)
{
    struct bus_local *b = (struct bus_local *)base;
    int rc = 0;
    struct timespec dl;
    if (timeout_ms >= 0)
        deadline_after(&dl, timeout_ms);
    pthread_mutex_lock(&b->mu);
    if (b->count > 0)
        pthread_cond_signal(&b->not_empty); /* end the worker's linger now */
    while ((b->count > 0 || b->busy) && rc == 0) {
        if (timeout_ms < 0)
            pthread_cond_wait(&b->idle, &b->mu);
        else if (pthread_cond_timedwait(&b->idle, &b->mu, &dl) == ETIMEDOUT)
            rc = (b->count > 0 || b->busy) ? -1 : 0;
    }
    pthread_mutex_unlock(&b->mu);
    return rc;
}

static void local_set_sink(struct bus *base, bus_analytics_fn fn, void *ud)
{
    struct bus_local *b = (struct bus_local *)base;
    pthread_mutex_lock(&b->mu);
    b->sink = fn;
    b->sink_ud = ud;
    pthread_mutex_unlock(&b->mu);
}

static void local_stats(struct bus *base, struct bus_stats *out)
{
    struct bus_local *b = (struct bus_local *)base;
    pthread_mutex_lock(&b->mu);
    *out = b->st;
    out->queued = b->count;
    pthread_mutex_unlock(&b->mu);
}

static void local_free(struct bus *base)
{
    struct bus_local *b = (struct bus_local *)base;
    pthread_mutex_lock(&b->mu);
    b->closing = 1;
    pthread_cond_broadcast(&b->not_empty);
    pthread_cond_broadcast(&b->not_full);
    pthread_mutex_unlock(&b->mu);
    pthread_join(b->worker, NULL); /* the worker drains the ring before it exits */
    rules_free(b->rules, b->nrules);
    free(b->ring);
    free(b->logs_dir);
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->not_empty);
    pthread_cond_destroy(&b->not_full);
    pthread_cond_destroy(&b->idle);
    http_client_free(b->http);
    free(b);
}

static const struct bus_ops local_ops = {
    .name = "local",
    .put_new = local_put_new,
    .flush = local_flush,
    .set_analytics_sink = local_set_sink,
    .stats = local_stats,
    .free = local_free,
};

static json_t *load_rules_file(const char *path, struct err *e)
{
    struct stat sb;
    json_error_t jerr;
    if (stat(path, &sb) < 0) {
        err_set(e, "InvalidConfig", "rules '%s': cannot read: %s", path, strerror(errno));
        return NULL;
    }
    if (sb.st_size > RULES_FILE_MAX) {
        err_set(e, "InvalidConfig", "rules '%s': %lld bytes; at most %d are allowed", path,
                (long long)sb.st_size, RULES_FILE_MAX);
        return NULL;
    }
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc)
        err_set(e, "InvalidConfig", "rules '%s': line %d column %d: %s", path, jerr.line,
                jerr.column, jerr.text);
    return doc;
}

struct bus *bus_local_new(const struct bus_local_config *cfg, struct err *e)
{
    struct bus_local *b = NULL;
    json_t *doc = NULL;
    struct rule *rules = NULL;
    size_t nrules = 0;
    if (!cfg || !cfg->data_dir || !*cfg->data_dir) {
        err_set(e, "InvalidConfig", "event bus: a data directory is required");
        return NULL;
    }
    if (cfg->queue_cap > MAX_QUEUE_CAP) {
        err_set(e, "InvalidConfig", "event bus: queue capacity %zu exceeds %u", cfg->queue_cap,
                MAX_QUEUE_CAP);
        return NULL;
    }
    const char *origin = cfg->rules_path ? cfg->rules_path : "(default rules)";
    doc = cfg->rules_path ? load_rules_file(cfg->rules_path, e) : default_rules();
    if (!doc)
        return NULL;
    int rc = parse_rules(doc, origin, &rules, &nrules, e);
    json_decref(doc);
    if (rc < 0)
        return NULL;

    b = xcalloc(1, sizeof *b);
    b->base.ops = &local_ops;
    b->rules = rules;
    b->nrules = nrules;
    b->logs_dir = xasprintf("%s/logs", cfg->data_dir);
    b->log_max_bytes = cfg->log_max_bytes;
    b->log_files = cfg->log_files > 0 ? cfg->log_files : 5;
    b->cap = cfg->queue_cap ? cfg->queue_cap : DEFAULT_QUEUE_CAP;
    b->ring = xcalloc(b->cap, sizeof *b->ring);
    b->put_wait_ms = cfg->put_wait_ms == 0  ? DEFAULT_PUT_WAIT_MS
                     : cfg->put_wait_ms < 0 ? 0
                                            : cfg->put_wait_ms;
    b->backoff_ms = cfg->webhook_backoff_ms > 0 ? cfg->webhook_backoff_ms : DEFAULT_BACKOFF_MS;
    int need_logs = 0;
    for (size_t i = 0; i < nrules; i++)
        for (size_t j = 0; j < rules[i].ntargets; j++)
            if (rules[i].targets[j].type == TARGET_LOG) {
                char *file = log_file_name(rules[i].targets[j].log_group);
                rules[i].targets[j].log_path = xasprintf("%s/%s", b->logs_dir, file);
                free(file);
                need_logs = 1;
            }
    if (need_logs && mkdir_p(b->logs_dir) < 0) {
        err_set(e, "IOError", "event bus: cannot create '%s': %s", b->logs_dir, strerror(errno));
        goto fail;
    }
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->not_empty, NULL);
    pthread_cond_init(&b->not_full, NULL);
    pthread_cond_init(&b->idle, NULL);
    /* The client waits base/2..base before retry n with base = 2^n x backoff_ms, so a retry
     * never comes sooner than the configured delay. Connect within 2 s; the target's timeoutMs
     * bounds each attempt; a target may answer at most WEBHOOK_RESPONSE_MAX bytes. */
    struct http_client_config hc = {.connect_timeout_ms = 2000,
                                    .max_response_bytes = WEBHOOK_RESPONSE_MAX,
                                    .backoff_base_ms = 2L * b->backoff_ms,
                                    .backoff_max_ms = MAX_BACKOFF_MS,
                                    .max_idle_handles = 1};
    b->http = http_client_new(&hc);
    if (pthread_create(&b->worker, NULL, worker_main, b) != 0) {
        err_set(e, "IOError", "event bus: cannot start its thread");
        pthread_mutex_destroy(&b->mu);
        pthread_cond_destroy(&b->not_empty);
        pthread_cond_destroy(&b->not_full);
        pthread_cond_destroy(&b->idle);
        http_client_free(b->http);
        goto fail;
    }
    log_at(LL_INFO, "bus", "local event bus started: %zu rule(s) from %s", nrules, origin);
    return &b->base;
fail:
    rules_free(b->rules, b->nrules);
    free(b->ring);
    free(b->logs_dir);
    free(b);
    return NULL;
}
