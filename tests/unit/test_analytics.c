/* test_analytics.c - folding agent events into per-hour counters kept in a real SQLite store, and
 * what a reopened store (a restart) still reports. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "base/xmalloc.h"
#include "store/store.h"
#include "bus/bus.h"
#include "check.h"
#include "runtime/analytics.h"

static char dir[] = "/tmp/parley-analytics-XXXXXX";
static struct store *st;

/* Opens the store of database file name in dir. */
static struct store *open_store(const char *name)
{
    struct err e;
    char *path = xasprintf("%s/%s", dir, name);
    struct store *s = store_sqlite_new(path, 2, &e);
    free(path);
    return s;
}

static json_t *report(struct analytics *an)
{
    struct err e;
    json_t *r = analytics_report(an, &e);
    CHECK(r != NULL);
    return r ? r : json_pack("{s:{}, s:[]}", "totals", "hours");
}

static json_t *event_at(const char *type, const char *time, json_t *detail)
{
    json_t *e = bus_event_new(type, detail);
    json_object_set_new(e, "time", json_string(time));
    return e;
}

static void test_folding(void)
{
    st = open_store("fold.db");
    struct analytics *an = analytics_new(st, 0);
    const char *h1 = "2026-11-25T03:10:00Z", *h2 = "2026-11-25T04:59:59Z";
    json_t *evs[] = {
        event_at("conversation_started", h1, json_object()),
        event_at("message_received", h1, json_object()),
        event_at("message_received", h2, json_object()),
        event_at("action_executed", h2, json_pack("{s:s}", "tool", "create_support_ticket")),
        event_at("action_executed", h2, json_pack("{s:s}", "tool", "create_support_ticket")),
        event_at("action_failed", h2, json_pack("{s:s}", "tool", "lookup_order")),
        event_at("error_occurred", h2, json_object()),
        event_at("handoff_requested", h1, json_object()),
        event_at("something_else", h1, json_object()),
    };
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++) {
        analytics_fold(an, evs[i]);
        json_decref(evs[i]);
    }
    json_t *r = report(an);
    json_t *t = json_object_get(r, "totals");
    CHECK_INT(json_integer_value(json_object_get(t, "conversations")), 1);
    CHECK_INT(json_integer_value(json_object_get(t, "turns")), 2);
    CHECK_INT(json_integer_value(json_object_get(t, "actions")), 3);
    CHECK_INT(json_integer_value(json_object_get(t, "errors")), 1);
    CHECK_INT(json_integer_value(json_object_get(t, "handoffs")), 1);
    json_t *hours = json_object_get(r, "hours");
    CHECK_INT(json_array_size(hours), 2);
    CHECK_STR(json_string_value(json_object_get(json_array_get(hours, 0), "hour")),
              "2026-11-25T03:00:00Z");
    json_t *later = json_array_get(hours, 1);
    json_t *cst = json_object_get(json_object_get(later, "actions"), "create_support_ticket");
    CHECK_INT(json_integer_value(json_object_get(cst, "succeeded")), 2);
    json_t *lo = json_object_get(json_object_get(later, "actions"), "lookup_order");
    CHECK_INT(json_integer_value(json_object_get(lo, "failed")), 1);
    json_decref(r);
    analytics_free(an);
    store_free(st);

    /* Reopened (a restart): the same report. */
    st = open_store("fold.db");
    an = analytics_new(st, 0);
    r = report(an);
    t = json_object_get(r, "totals");
    CHECK_INT(json_integer_value(json_object_get(t, "turns")), 2);
    CHECK_INT(json_integer_value(json_object_get(t, "actions")), 3);
    CHECK_INT(json_array_size(json_object_get(r, "hours")), 2);
    json_decref(r);
    /* And counting goes on from there. */
    json_t *more = event_at("message_received", h1, json_object());
    analytics_fold(an, more);
    json_decref(more);
    r = report(an);
    CHECK_INT(json_integer_value(json_object_get(json_object_get(r, "totals"), "turns")), 3);
    json_decref(r);
    analytics_free(an);
    store_free(st);
}

static void test_keeps_48_hours(void)
{
    st = open_store("hours.db");
    struct analytics *an = analytics_new(st, 0);
    for (int h = 0; h < 60; h++) {
        char t[32];
        snprintf(t, sizeof t, "2026-11-%02dT%02d:30:00Z", 1 + h / 24, h % 24);
        json_t *e = event_at("message_received", t, json_object());
        analytics_fold(an, e);
        json_decref(e);
    }
    json_t *r = report(an);
    json_t *hours = json_object_get(r, "hours");
    CHECK_INT(json_array_size(hours), 48);
    /* The oldest 12 hours were dropped: the first bucket kept is day 1, 12:00. */
    CHECK_STR(json_string_value(json_object_get(json_array_get(hours, 0), "hour")),
              "2026-11-01T12:00:00Z");
    json_decref(r);
    analytics_free(an);
    store_free(st);
}

/* What the store holds for counter name of group "analytics" (0 when absent). */
static long long stored(const char *name)
{
    json_t *all = NULL;
    struct err e;
    CHECK_INT(store_counters_list(st, "analytics", &all, &e), 0);
    long long v = json_integer_value(json_object_get(all, name));
    json_decref(all);
    return v;
}

/* Batching: counts wait in memory (not one store write per event), a report and free write
 * them, and a counter past the batch's room is written at once. */
static void test_batching(void)
{
    st = open_store("batch.db");
    struct analytics *an = analytics_new(st, 60000);
    const char *h = "2026-11-25T05:10:00Z";
    for (int i = 0; i < 5; i++) {
        json_t *ev = event_at("message_received", h, json_object());
        analytics_fold(an, ev);
        json_decref(ev);
    }
    CHECK_INT(stored("2026-11-25T05:00:00Z|turns"), 0); /* held, not written */
    json_t *r = report(an);                              /* a report writes what is held */
    CHECK_INT(json_integer_value(json_object_get(json_object_get(r, "totals"), "turns")), 5);
    json_decref(r);
    CHECK_INT(stored("2026-11-25T05:00:00Z|turns"), 5);
    /* 70 distinct counters: all held. A fold never writes while batching: the bus folds on the
     * thread that puts an event, a request's, where a store call must not wait. */
    for (int k = 0; k < 70; k++) {
        char t[32];
        snprintf(t, sizeof t, "2026-10-%02dT%02d:00:00Z", 1 + k / 24, k % 24);
        json_t *ev = event_at("handoff_requested", t, json_object());
        analytics_fold(an, ev);
        json_decref(ev);
    }
    CHECK_INT(stored("2026-10-03T21:00:00Z|handoffs"), 0); /* the 70th, held */
    CHECK_INT(stored("2026-10-01T00:00:00Z|handoffs"), 0); /* the 1st, held */
    /* Up to the cap: past it a count is dropped (with a warning), still never written here. */
    enum log_level saved = log_threshold;
    log_threshold = LL_OFF;
    for (int k = 70; k < ANALYTICS_PENDING_MAX + 10; k++) {
        char t[32];
        snprintf(t, sizeof t, "%04d-01-01T00:00:00Z", 1000 + k);
        json_t *ev = event_at("handoff_requested", t, json_object());
        analytics_fold(an, ev);
        json_decref(ev);
    }
    log_threshold = saved;
    char beyond[64];
    snprintf(beyond, sizeof beyond, "%04d-01-01T00:00:00Z|handoffs",
             1000 + ANALYTICS_PENDING_MAX + 5);
    CHECK_INT(stored(beyond), 0);
    analytics_flush(an); /* writes what is held, and makes room */
    CHECK_INT(stored("2026-10-01T00:00:00Z|handoffs"), 1);
    CHECK_INT(stored("2026-10-03T21:00:00Z|handoffs"), 1);
    snprintf(beyond, sizeof beyond, "%04d-01-01T00:00:00Z|handoffs",
             1000 + ANALYTICS_PENDING_MAX - 1); /* the last one held */
    CHECK_INT(stored(beyond), 1);
    snprintf(beyond, sizeof beyond, "%04d-01-01T00:00:00Z|handoffs",
             1000 + ANALYTICS_PENDING_MAX + 5); /* dropped */
    CHECK_INT(stored(beyond), 0);
    json_t *ev = event_at("message_received", h, json_object());
    analytics_fold(an, ev);
    json_decref(ev);
    analytics_free(an); /* writes the rest */
    CHECK_INT(stored("2026-11-25T05:00:00Z|turns"), 6);
    store_free(st);
}

/* Through the local bus: the sink asks for a later call, and the bus makes it while idle, so
 * batched counts reach the store with no report and no more events. */
static void test_bus_writes_batch_when_idle(void)
{
    st = open_store("busbatch.db");
    struct analytics *an = analytics_new(st, 100);
    char *logs = xasprintf("%s/buslogs", dir);
    struct err e;
    struct bus *bus = bus_local_new(&(struct bus_local_config){.data_dir = logs}, &e);
    CHECK(bus != NULL);
    if (!bus) {
        free(logs);
        analytics_free(an);
        store_free(st);
        return;
    }
    bus_set_analytics_sink(bus, analytics_sink, an);
    for (int i = 0; i < 3; i++) {
        json_t *ev = event_at("message_received", "2026-11-25T06:00:00Z", json_object());
        CHECK_INT(bus_put(bus, ev, &e), 0);
        json_decref(ev);
    }
    CHECK_INT(bus_flush(bus, 5000), 0);
    long long v = 0;
    for (int i = 0; i < 500 && (v = stored("2026-11-25T06:00:00Z|turns")) < 3; i++)
        usleep(10000);
    CHECK_INT(v, 3);
    bus_free(bus);
    analytics_free(an);
    store_free(st);
    free(logs);
}

int main(void)
{
    xmalloc_init();
    if (!check_require("a temporary directory", mkdtemp(dir) != NULL))
        return check_summary();
    RUN(test_folding);
    RUN(test_keeps_48_hours);
    RUN(test_batching);
    RUN(test_bus_writes_batch_when_idle);
    char *cmd = xasprintf("rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    free(cmd);
    return check_summary();
}
