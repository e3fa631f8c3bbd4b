/*
 * analytics.h - the seed's real-time analytics (EventBridge → Analytics Lambda): folds agent
 * events into counters per hour, for GET /analytics and the operator console.
 *
 * Counted per UTC hour: conversations (conversation_started), turns (message_received), actions
 * by tool and status (action_executed / action_failed), errors (error_occurred), handoffs
 * (handoff_requested), archived transcripts (conversation_archived). The last 48 hours are kept.
 * Thread-safe.
 */
#ifndef PARLEY_ANALYTICS_H
#define PARLEY_ANALYTICS_H

#include <jansson.h>

struct analytics;

struct analytics *analytics_new(void);
void analytics_free(struct analytics *an); /* NULL ok */

/* Folds one event in the EventBridge envelope (borrowed). Unknown detail-types are ignored. */
void analytics_fold(struct analytics *an, const json_t *event);

/* A bus_analytics_fn: ud is the struct analytics. */
void analytics_sink(void *ud, const json_t *event);

/* {"totals": {...}, "hours": [{"hour": "2026-11-25T03:00:00Z", "conversations", "turns",
 * "actions": {"tool": {"succeeded": n, "failed": n}}, "errors", "handoffs", "archived"}]}, oldest
 * first. New reference. */
json_t *analytics_report(struct analytics *an);

#endif
