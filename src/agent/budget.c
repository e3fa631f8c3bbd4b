/* budget.c - token budgets per session and per server per UTC day over store counters; see
 * budget.h. */
#include "agent/budget.h"

#include <stdio.h>
#include <time.h>

#include "base/jsonb.h"
#include "store/store.h"

#define DAY_MS (24LL * 3600 * 1000)

/* The counter group of the UTC day holding now_ms ("budget-2026-12-05") and when it may go. */
static void day_group(long long now_ms, char group[32], long long *expires_ms)
{
    time_t t = (time_t)(now_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(group, 32, "budget-%Y-%m-%d", &tm);
    *expires_ms = (now_ms / DAY_MS + 2) * DAY_MS; /* the end of the next day */
}

static void session_name(const char *session_id, char *out, size_t n)
{
    snprintf(out, n, "session:%s", session_id ? session_id : "");
}

int budget_check(struct store *s, const struct budget_limits *l, const char *session_id,
                 long long now_ms, enum budget_verdict *verdict, struct err *err)
{
    return budget_check_turn(s, l, session_id, NULL, now_ms, verdict, err);
}

int budget_check_turn(struct store *s, const struct budget_limits *l, const char *session_id,
                      const struct budget_tab *tab, long long now_ms, enum budget_verdict *verdict,
                      struct err *err)
{
    char group[32], name[STORE_COUNTER_NAME_MAX + 1];
    long long expires, used = 0;
    long long unsaved = tab && tab->unsaved > 0 ? tab->unsaved : 0;
    *verdict = BUDGET_OK;
    if (l->session_tokens <= 0 && l->daily_tokens <= 0)
        return 0;
    day_group(now_ms, group, &expires);
    if (l->daily_tokens > 0) {
        if (store_counter_get(s, group, "server", &used, err) < 0)
            return -1;
        if (used + unsaved >= l->daily_tokens) {
            *verdict = BUDGET_DAILY;
            return 0;
        }
    }
    if (l->session_tokens > 0) {
        session_name(session_id, name, sizeof name);
        if (store_counter_get(s, group, name, &used, err) < 0)
            return -1;
        if (used + unsaved >= l->session_tokens)
            *verdict = BUDGET_SESSION;
    }
    return 0;
}

json_t *budget_counters(const struct budget_limits *l, const char *session_id, long long tokens,
                        long long now_ms)
{
    char group[32], name[STORE_COUNTER_NAME_MAX + 1];
    long long expires;
    if (tokens <= 0)
        return NULL;
    day_group(now_ms, group, &expires);
    json_t *adds = json_array();
    json_array_append_new(adds,
                          jsonb_object("group", jsonb_str(group), "name",
                                       json_string_nocheck("server"), "delta", json_integer(tokens),
                                       "expiresAt", json_integer(expires), NULL));
    if (l->session_tokens > 0) {
        session_name(session_id, name, sizeof name);
        json_array_append_new(adds, jsonb_object("group", jsonb_str(group), "name", jsonb_str(name),
                                                 "delta", json_integer(tokens), "expiresAt",
                                                 json_integer(expires), NULL));
    }
    return adds;
}

int budget_spend(struct store *s, const struct budget_limits *l, const char *session_id,
                 long long tokens, long long now_ms, long long *server_today, struct err *err)
{
    char group[32], name[STORE_COUNTER_NAME_MAX + 1];
    long long expires, v = 0;
    *server_today = 0;
    if (tokens <= 0)
        return 0;
    day_group(now_ms, group, &expires);
    if (store_counter_add(s, group, "server", tokens, expires, server_today, err) < 0)
        return -1;
    if (l->session_tokens > 0) {
        session_name(session_id, name, sizeof name);
        if (store_counter_add(s, group, name, tokens, expires, &v, err) < 0)
            return -1;
    }
    return 0;
}

const char *budget_scope(enum budget_verdict v)
{
    return v == BUDGET_SESSION ? "session" : v == BUDGET_DAILY ? "daily" : NULL;
}
