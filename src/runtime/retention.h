/*
 * retention.h - PARLEY_RETENTION_DAYS for the SQLite store: a background sweep that erases
 * sessions idle longer than the retention, each through app_erase_session (queued actions,
 * store records, archived transcript), exactly as DELETE /sessions/{id} does.
 *
 * DynamoDB needs no sweep: its store writes expiresAt and the table's TTL deletes the items
 * (store_dynamo_ttl_days). Lifecycle: retention_start() -> ... -> retention_stop().
 */
#ifndef PARLEY_RETENTION_H
#define PARLEY_RETENTION_H

#include "base/err.h"

struct store;
struct queue;
struct archive;
struct retention;

#define RETENTION_BATCH 500 /* sessions one sweep pass looks at */

/* Called after each erased session (announce conversation_erased); session_id is borrowed. */
typedef void (*retention_erased_fn)(const char *session_id, void *ctx);

/* One pass: erases up to RETENTION_BATCH sessions whose last activity is before before_ms
 * (epoch ms). queue and archive may be NULL; on_erased may be NULL. *erased gets the count.
 * A session erased meanwhile is skipped. Returns 0, or -1 with err (sessions erased before the
 * failure stay erased). */
int retention_sweep(struct store *store, struct queue *queue, struct archive *archive,
                    long long before_ms, retention_erased_fn on_erased, void *ctx, int *erased,
                    struct err *err);

/* Starts the sweep thread: every interval_ms it runs passes with before = now - max_idle_ms until
 * a pass erases nothing. The pointers are borrowed and must outlive retention_stop(). Returns the
 * sweeper, or NULL with err ("InternalError") when the thread cannot start. */
struct retention *retention_start(struct store *store, struct queue *queue, struct archive *archive,
                                  long long max_idle_ms, int interval_ms,
                                  retention_erased_fn on_erased, void *ctx, struct err *err);

/* Stops the thread (waits for a running pass) and frees the sweeper; NULL is a no-op. */
void retention_stop(struct retention *r);

#endif
