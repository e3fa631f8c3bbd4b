/* test_analytics.c - folding agent events into per-hour counters kept in a real SQLite store, and
 * what a reopened store (a restart) still reports. */
#include <stdlib.h>

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
    struct analytics *an = analytics_new(st);
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
    an = analytics_new(st);
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
    struct analytics *an = analytics_new(st);
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

int main(void)
{
    xmalloc_init();
    if (!check_require("a temporary directory", mkdtemp(dir) != NULL))
        return check_summary();
    RUN(test_folding);
    RUN(test_keeps_48_hours);
    char *cmd = xasprintf("rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    free(cmd);
    return check_summary();
}
