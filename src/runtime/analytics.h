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
 *
 * Batching: with flush_ms > 0 the counts of the events folded meanwhile are summed in memory and
 * written as one add per counter (at most flush_ms after the first of them when driven by the
 * bus sink below; before every report; at free), instead of one store transaction per event. A
 * process killed with counts in memory loses them (at most flush_ms worth): these are operating
 * statistics, not records. While batching, a fold never calls the store: the local bus folds on
 * the thread that puts an event, a request's, where a store call must not wait (past
 * ANALYTICS_PENDING_MAX distinct counters a count is dropped instead). flush_ms 0 writes every fold
 * at once (the Analytics Lambda, one event per invocation).
 */
#ifndef PARLEY_ANALYTICS_H
#define PARLEY_ANALYTICS_H

#include <jansson.h>

#define ANALYTICS_HOURS 48 /* hours the report shows */

/* Distinct counters a batch holds at most; a fold past it drops its count with a warning (the
 * batch is never written on the folding thread). Parley's events make about a dozen an hour. */
#define ANALYTICS_PENDING_MAX 4096

struct analytics;
struct store;

/* A new analytics over store (borrowed; it must outlive the analytics), batching for flush_ms
 * (0 = no batching). */
struct analytics *analytics_new(struct store *store, int flush_ms);
void analytics_free(struct analytics *an); /* NULL ok; writes what is batched first */

/* Writes the batched counts now. */
void analytics_flush(struct analytics *an);

/* Folds one event in the EventBridge envelope (borrowed). Unknown detail-types are ignored; a
 * store failure is logged (an event is counted at most once, never retried). */
void analytics_fold(struct analytics *an, const json_t *event);

/* A bus_analytics_fn: ud is the struct analytics. Folds event, or with event NULL writes the
 * batch; returns flush_ms while counts are batched (when the bus should call again with NULL),
 * else 0. */
int analytics_sink(void *ud, const json_t *event);

/* {"totals": {...}, "hours": [{"hour": "2026-11-25T03:00:00Z", "conversations", "turns",
 * "actions": {"tool": {"succeeded": n, "failed": n}}, "errors", "handoffs", "archived"}]}, oldest
 * first. New reference; NULL with err when the store cannot be read. */
struct err;
json_t *analytics_report(struct analytics *an, struct err *err);

#endif
