/*
 * analytics.h - the seed's real-time analytics (EventBridge → Analytics Lambda): folds agent
 * events into counters per hour, for GET /analytics and the operator console.
 *
 * Counted per UTC hour: conversations (conversation_started), turns (message_received), actions
 * by tool and status (action_executed / action_failed), errors (error_occurred), handoffs
 * (handoff_requested), archived transcripts (conversation_archived). The counters live in the
 * store (store.h counter_add, group "analytics", names "<hour>|<counter>" and
 * "<hour>|actions|<tool>|<status>", expiring ANALYTICS_HOURS + 1 hours after their last add), so
 * they survive restarts and every process sharing the store (serve, the Analytics Lambda) adds to
 * the same numbers. The report shows the newest ANALYTICS_HOURS hours. Thread-safe.
 */
#ifndef PARLEY_ANALYTICS_H
#define PARLEY_ANALYTICS_H

#include <jansson.h>

#define ANALYTICS_HOURS 48 /* hours the report shows */

struct analytics;
struct store;

/* A new analytics over store (borrowed; it must outlive the analytics). */
struct analytics *analytics_new(struct store *store);
void analytics_free(struct analytics *an); /* NULL ok */

/* Folds one event in the EventBridge envelope (borrowed). Unknown detail-types are ignored; a
 * store failure is logged (an event is counted at most once, never retried). */
void analytics_fold(struct analytics *an, const json_t *event);

/* A bus_analytics_fn: ud is the struct analytics. */
void analytics_sink(void *ud, const json_t *event);

/* {"totals": {...}, "hours": [{"hour": "2026-11-25T03:00:00Z", "conversations", "turns",
 * "actions": {"tool": {"succeeded": n, "failed": n}}, "errors", "handoffs", "archived"}]}, oldest
 * first. New reference; NULL with err when the store cannot be read. */
struct err;
json_t *analytics_report(struct analytics *an, struct err *err);

#endif
