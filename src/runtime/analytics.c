/* analytics.c - per-hour counters folded from agent events; see analytics.h. */
#include "runtime/analytics.h"

#include <pthread.h>
#include <string.h>
#include <time.h>

#include "base/xmalloc.h"

#define HOURS 48

struct analytics {
    pthread_mutex_t lock; /* guards hours */
    json_t *hours;        /* object: "YYYY-MM-DDTHH:00:00Z" -> counters */
};

struct analytics *analytics_new(void)
{
    struct analytics *an = xcalloc(1, sizeof *an);
    pthread_mutex_init(&an->lock, NULL);
    an->hours = json_object();
    return an;
}

void analytics_free(struct analytics *an)
{
    if (!an)
        return;
    json_decref(an->hours);
    pthread_mutex_destroy(&an->lock);
    free(an);
}

static void bump(json_t *obj, const char *key)
{
    json_object_set_new(obj, key, json_integer(json_integer_value(json_object_get(obj, key)) + 1));
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

/* Drops the oldest buckets beyond HOURS (keys sort chronologically). */
static void trim(json_t *hours)
{
    while (json_object_size(hours) > HOURS) {
        const char *oldest = NULL, *key;
        json_t *v;
        json_object_foreach(hours, key, v) {
            if (!oldest || strcmp(key, oldest) < 0)
                oldest = key;
        }
        json_object_del(hours, oldest);
    }
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
    pthread_mutex_lock(&an->lock);
    json_t *h = json_object_get(an->hours, key);
    if (!h) {
        h = json_pack("{s:i, s:i, s:{}, s:i, s:i, s:i}", "conversations", 0, "turns", 0, "actions",
                      "errors", 0, "handoffs", 0, "archived", 0);
        json_object_set_new(an->hours, key, h);
        trim(an->hours);
    }
    for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++)
        if (strcmp(type, simple[i].type) == 0)
            bump(h, simple[i].counter);
    if (strcmp(type, "action_executed") == 0 || strcmp(type, "action_failed") == 0) {
        const char *tool = json_string_value(json_object_get(detail, "tool"));
        json_t *actions = json_object_get(h, "actions");
        json_t *per = json_object_get(actions, tool ? tool : "unknown");
        if (!per) {
            per = json_object();
            json_object_set_new(actions, tool ? tool : "unknown", per);
        }
        bump(per, strcmp(type, "action_executed") == 0 ? "succeeded" : "failed");
    }
    pthread_mutex_unlock(&an->lock);
}

void analytics_sink(void *ud, const json_t *event)
{
    analytics_fold(ud, event);
}

json_t *analytics_report(struct analytics *an)
{
    pthread_mutex_lock(&an->lock);
    json_t *keys = json_array();
    const char *key;
    json_t *v;
    json_object_foreach(an->hours, key, v)
        json_array_append_new(keys, json_string(key));
    /* Oldest first: sort the hour keys (ISO strings sort chronologically). */
    size_t n = json_array_size(keys);
    for (size_t i = 1; i < n; i++)
        for (size_t k = i; k > 0 && strcmp(json_string_value(json_array_get(keys, k - 1)),
                                           json_string_value(json_array_get(keys, k))) > 0;
             k--) {
            json_t *a = json_incref(json_array_get(keys, k - 1));
            json_array_set(keys, k - 1, json_array_get(keys, k));
            json_array_set_new(keys, k, a);
        }
    json_t *hours = json_array();
    json_t *totals = json_pack("{s:i, s:i, s:i, s:i, s:i, s:i}", "conversations", 0, "turns", 0,
                               "actions", 0, "errors", 0, "handoffs", 0, "archived", 0);
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k) {
        json_t *h = json_deep_copy(json_object_get(an->hours, json_string_value(k)));
        json_object_set(h, "hour", k);
        const char *counters[] = {"conversations", "turns", "errors", "handoffs", "archived"};
        for (size_t c = 0; c < 5; c++)
            json_object_set_new(totals, counters[c],
                                json_integer(
                                    json_integer_value(json_object_get(totals, counters[c])) +
                                    json_integer_value(json_object_get(h, counters[c]))));
        const char *tool;
        json_t *per;
        json_object_foreach(json_object_get(h, "actions"), tool, per) {
            json_int_t add = json_integer_value(json_object_get(per, "succeeded")) +
                             json_integer_value(json_object_get(per, "failed"));
            json_object_set_new(totals, "actions",
                                json_integer(
                                    json_integer_value(json_object_get(totals, "actions")) + add));
        }
        json_array_append_new(hours, h);
    }
    pthread_mutex_unlock(&an->lock);
    json_decref(keys);
    return json_pack("{s:o, s:o}", "totals", totals, "hours", hours);
}
