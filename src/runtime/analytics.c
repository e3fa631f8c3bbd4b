/* analytics.c - per-hour counters folded from agent events into the store; see analytics.h. */
#include "runtime/analytics.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "base/xmalloc.h"
#include "store/store.h"

#define GROUP "analytics"
#define KEEP_MS ((ANALYTICS_HOURS + 1) * 3600LL * 1000)

static const char *const counters[] = {"conversations", "turns", "errors", "handoffs", "archived"};
#define NCOUNTERS (sizeof counters / sizeof counters[0])

struct pending {
    char *name; /* owned */
    long long delta;
};

struct analytics {
    struct store *store; /* holds the counters (borrowed) */
    int flush_ms;        /* 0: every fold writes at once */
    pthread_mutex_t mu;  /* guards what follows; never held across a store call */
    /* The batch: it grows to the distinct counters of a flush interval (an hour has about a
     * dozen) and is never written on the folding thread, a request's, where a store call must
     * not wait. */
    struct pending *pend;
    size_t npend, cap;
    uint64_t dropped; /* counts refused with ANALYTICS_PENDING_MAX counters held */
};

struct analytics *analytics_new(struct store *store, int flush_ms)
{
    struct analytics *an = xcalloc(1, sizeof *an);
    an->store = store;
    an->flush_ms = flush_ms > 0 ? flush_ms : 0;
    pthread_mutex_init(&an->mu, NULL);
    return an;
}

void analytics_free(struct analytics *an)
{
    if (!an)
        return;
    analytics_flush(an);
    pthread_mutex_destroy(&an->mu);
    free(an->pend);
    free(an);
}

/* Writes the batch taken out of an (owned; emptied). A store failure loses those counts with a
 * warning: a count is written at most once, never retried. */
static void write_batch(struct analytics *an, struct pending *batch, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct err e = {0};
        long long v = 0;
        if (store_counter_add(an->store, GROUP, batch[i].name, batch[i].delta,
                              clock_now_ms() + KEEP_MS, &v, &e) < 0)
            log_at(LL_WARN, "analytics", "cannot count %lld x '%s': %s: %s", batch[i].delta,
                   batch[i].name, e.code, e.message);
        free(batch[i].name);
    }
}

void analytics_flush(struct analytics *an)
{
    pthread_mutex_lock(&an->mu);
    struct pending *batch = an->pend;
    size_t n = an->npend;
    an->pend = NULL;
    an->npend = an->cap = 0;
    pthread_mutex_unlock(&an->mu);
    write_batch(an, batch, n);
    free(batch);
}

/* The hour bucket of an event time "2026-11-25T03:40:00Z" (or now when missing). */
static void hour_key(const char *time_str, char out[32])
{
    if (time_str && strlen(time_str) >= 13) {
        snprintf(out, 32, "%.13s:00:00Z", time_str);
        return;
    }
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:00:00Z", &tm);
}

/* Counts one for name (owned): into the batch, or straight to the store when not batching. */
static void add(struct analytics *an, char *name)
{
    struct pending one = {name, 1};
    if (an->flush_ms == 0) {
        write_batch(an, &one, 1);
        return;
    }
    pthread_mutex_lock(&an->mu);
    for (size_t i = 0; i < an->npend; i++)
        if (strcmp(an->pend[i].name, name) == 0) {
            an->pend[i].delta++;
            pthread_mutex_unlock(&an->mu);
            free(name);
            return;
        }
    if (an->npend == ANALYTICS_PENDING_MAX) { /* not from Parley's own events: a dozen an hour */
        uint64_t dropped = ++an->dropped;
        pthread_mutex_unlock(&an->mu);
        if (dropped == 1 || dropped % 1000 == 0)
            log_at(LL_WARN, "analytics", "%d distinct counters held: dropped %llu count(s)",
                   ANALYTICS_PENDING_MAX, (unsigned long long)dropped);
        free(name);
        return;
    }
    if (an->npend == an->cap) {
        an->cap = an->cap ? 2 * an->cap : 16;
        an->pend = xrealloc(an->pend, an->cap * sizeof *an->pend);
    }
    an->pend[an->npend++] = one;
    pthread_mutex_unlock(&an->mu);
}

void analytics_fold(struct analytics *an, const json_t *event)
{
    const char *type = json_string_value(json_object_get(event, "detail-type"));
    const json_t *detail = json_object_get(event, "detail");
    static const struct {
        const char *type, *counter;
    } simple[] = {{"conversation_started", "conversations"},
                  {"message_received", "turns"},
                  {"error_occurred", "errors"},
                  {"handoff_requested", "handoffs"},
                  {"conversation_archived", "archived"}};
    if (!type)
        return;
    char key[32];
    hour_key(json_string_value(json_object_get(event, "time")), key);
    for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++)
        if (strcmp(type, simple[i].type) == 0)
            add(an, xasprintf("%s|%s", key, simple[i].counter));
    if (strcmp(type, "action_executed") == 0 || strcmp(type, "action_failed") == 0) {
        const char *tool = json_string_value(json_object_get(detail, "tool"));
        add(an, xasprintf("%s|actions|%.200s|%s", key, tool ? tool : "unknown",
                          strcmp(type, "action_executed") == 0 ? "succeeded" : "failed"));
    }
}

int analytics_sink(void *ud, const json_t *event)
{
    struct analytics *an = ud;
    if (event)
        analytics_fold(an, event);
    else
        analytics_flush(an);
    pthread_mutex_lock(&an->mu);
    int held = an->npend > 0;
    pthread_mutex_unlock(&an->mu);
    return held ? an->flush_ms : 0;
}

/* The bucket of hour in hours, created with every counter at 0. Borrowed. */
static json_t *bucket(json_t *hours, const char *hour)
{
    json_t *h = json_object_get(hours, hour);
    if (!h) {
        h = json_pack("{s:s, s:{}}", "hour", hour, "actions");
        for (size_t c = 0; c < NCOUNTERS; c++)
            json_object_set_new(h, counters[c], json_integer(0));
        json_object_set_new(hours, hour, h);
    }
    return h;
}

static int by_hour(const void *a, const void *b)
{
    return strcmp(json_string_value(json_object_get(*(json_t *const *)a, "hour")),
                  json_string_value(json_object_get(*(json_t *const *)b, "hour")));
}

json_t *analytics_report(struct analytics *an, struct err *err)
{
    json_t *all = NULL;
    analytics_flush(an); /* what this process has batched, so a report is up to date */
    if (store_counters_list(an->store, GROUP, &all, err) < 0)
        return NULL;
    json_t *hours = json_object(); /* hour -> bucket */
    const char *name;
    json_t *v;
    json_object_foreach(all, name, v) {
        const char *bar = strchr(name, '|');
        if (!bar || bar - name >= 32)
            continue;
        char hour[32];
        snprintf(hour, sizeof hour, "%.*s", (int)(bar - name), name);
        json_t *h = bucket(hours, hour);
        const char *what = bar + 1;
        if (strncmp(what, "actions|", 8) == 0) {
            const char *tool = what + 8, *st = strrchr(tool, '|');
            if (!st || st == tool)
                continue;
            char *t = xasprintf("%.*s", (int)(st - tool), tool);
            json_t *per = json_object_get(json_object_get(h, "actions"), t);
            if (!per) {
                per = json_object();
                json_object_set_new(json_object_get(h, "actions"), t, per);
            }
            json_object_set(per, st + 1, v);
            free(t);
        } else if (json_object_get(h, what)) {
            json_object_set(h, what, v);
        }
    }
    json_decref(all);
    /* Oldest first, the newest ANALYTICS_HOURS only (ISO hours sort chronologically). */
    size_t n = json_object_size(hours), k = 0;
    json_t **list = xcalloc(n ? n : 1, sizeof *list);
    json_object_foreach(hours, name, v)
        list[k++] = v;
    qsort(list, n, sizeof *list, by_hour);
    size_t first = n > ANALYTICS_HOURS ? n - ANALYTICS_HOURS : 0;
    json_t *out = json_array();
    json_t *totals = json_pack("{s:i}", "actions", 0);
    for (size_t c = 0; c < NCOUNTERS; c++)
        json_object_set_new(totals, counters[c], json_integer(0));
    for (size_t i = first; i < n; i++) {
        for (size_t c = 0; c < NCOUNTERS; c++)
            json_object_set_new(totals, counters[c],
                                json_integer(
                                    json_integer_value(json_object_get(totals, counters[c])) +
                                    json_integer_value(json_object_get(list[i], counters[c]))));
        const char *tool;
        json_t *per;
        json_object_foreach(json_object_get(list[i], "actions"), tool, per) {
            json_int_t sum = json_integer_value(json_object_get(per, "succeeded")) +
                             json_integer_value(json_object_get(per, "failed"));
            json_object_set_new(totals, "actions",
                                json_integer(
                                    json_integer_value(json_object_get(totals, "actions")) + sum));
        }
        json_array_append(out, list[i]);
    }
    free(list);
    json_decref(hours);
    return json_pack("{s:o, s:o}", "totals", totals, "hours", out);
}
