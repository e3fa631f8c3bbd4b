/*
 * archiver.h - the background archiver: keeps transcript archiving off a turn's hot path.
 *
 * A turn only calls archiver_mark(), which records in memory that the session changed (repeated
 * marks of one session coalesce into one pending entry). A worker thread picks each entry up
 * within max_delay_ms of its first mark, asks the caller's fetch function for the session's
 * transcript document, redacts it through the optional hook, serialises it and puts it at the
 * session's key (archive_key_for). When the worker wakes for a due entry it also takes those due
 * within a quarter of max_delay_ms (at most a second) and stores them all with one
 * archive_put_many, so an entry is written between 3/4 of max_delay_ms and max_delay_ms after its
 * first mark (an entry alone is written at its due time). A failed attempt is logged, counted and
 * kept pending: it is retried on the session's next mark, on a flush, or after a backoff; in a
 * batch only the entries that failed are retried. archiver_flush() writes everything pending
 * now; archiver_stop() flushes, so a clean shutdown loses nothing.
 *
 * Lifecycle of a pending entry:
 *   mark -> pending (due = first mark + max_delay) -> in flight (worker) -> written | failed
 *   failed -> pending (due = now + backoff, or sooner on the next mark)
 *   a mark while in flight creates a new pending entry, so the newest turn is always archived.
 */
#ifndef PARLEY_ARCHIVER_H
#define PARLEY_ARCHIVER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "archive/archive.h"
#include "base/err.h"

#define ARCHIVER_DELAY_MAX_MS 3600000 /* max_delay_ms may be 0..this */
#define ARCHIVER_PENDING_MAX 1000000  /* sessions waiting at once; marks beyond fail */
#define ARCHIVER_BATCH_MAX 256        /* entries taken per pass when not flushing, and per put */

struct archiver;

/* Returns the session's transcript document as a new reference owned by the archiver, or NULL
 * with err set. An err code "NotFound" means the session is gone: the entry is dropped (counted in
 * skipped) instead of retried. Runs on the worker thread. */
typedef json_t *(*archiver_fetch_fn)(void *ud, const char *session_id, struct err *err);

/* Redacts every string of doc in place (guard_redact_json fits); returns what it replaced. */
typedef size_t (*archiver_redact_fn)(json_t *doc, unsigned kinds);

/* Called on the worker thread after a document is durably stored at key, with the ud given to
 * archiver_start. It must not call archiver_flush() or archiver_stop(). */
typedef void (*archiver_archived_fn)(void *ud, const char *session_id, const char *key);

/* Called on the worker, with the ud given to archiver_start, around each group of fetches of a
 * pass (up to ARCHIVER_BATCH_MAX documents, ended before they are stored): the app reads the
 * group in one store snapshot (store_reads_begin). A begin that fails (returns -1) is logged and
 * has no end; the fetches then stand alone. */
typedef int (*archiver_fetches_begin_fn)(void *ud);
typedef void (*archiver_fetches_end_fn)(void *ud);

/* Optional hooks; NULL members are skipped. */
struct archiver_hooks {
    archiver_redact_fn redact;               /* PII redaction before the document is written */
    unsigned redact_kinds;                   /* passed to redact */
    archiver_archived_fn on_archived;        /* e.g. emit conversation_archived */
    archiver_fetches_begin_fn fetches_begin; /* with fetches_end: see above */
    archiver_fetches_end_fn fetches_end;
};

/* Counters since start. */
struct archiver_stats {
    uint64_t marks;     /* archiver_mark calls accepted */
    uint64_t coalesced; /* marks that found their session already pending */
    uint64_t written;   /* documents stored */
    uint64_t failures;  /* failed attempts (fetch, serialise or put) */
    uint64_t skipped;   /* sessions dropped because fetch said NotFound */
    size_t pending;     /* sessions waiting now */
};

/* ---------------------------------------------------------------- lifecycle */

/* Starts the worker. archive (borrowed, must outlive the archiver) receives the documents; fetch
 * and ud supply them; max_delay_ms bounds how long a mark waits (0..ARCHIVER_DELAY_MAX_MS).
 * Returns a new archiver (release with archiver_stop), or NULL with err "InvalidArgument" or
 * "ArchiverError" when the thread cannot start. */
struct archiver *archiver_start(struct archive *archive, archiver_fetch_fn fetch, void *ud,
                                int max_delay_ms, struct err *err);

/* Installs hooks (copied); thread-safe, takes effect from the next document. NULL clears them. */
void archiver_set_hooks(struct archiver *ar, const struct archiver_hooks *hooks);

/* Writes everything pending (including failed entries) now, waits, and returns how many sessions
 * still failed in this pass (0 when all are stored). Takes as long as the fetches and puts it
 * runs (their own timeouts bound it). Must not be called from a hook. */
size_t archiver_flush(struct archiver *ar);

/* Flushes, stops the worker and frees the archiver. Returns how many sessions could not be
 * archived (each logged at ERROR with its session id). Accepts NULL (returns 0). */
size_t archiver_stop(struct archiver *ar);

/* ---------------------------------------------------------------- the hot path */

/* Records that session_id (started at created_at_ms, epoch ms) changed. Cheap: validates the key,
 * takes a mutex and touches a hash table; never does I/O. Returns 0, or -1 with err
 * "InvalidKey"/"InvalidArgument" (see archive_key_for), "ArchiverFull" past ARCHIVER_PENDING_MAX
 * or "ArchiverStopped" once archiver_stop has begun. */
int archiver_mark(struct archiver *ar, const char *session_id, int64_t created_at_ms,
                  struct err *err);

/* Copies the counters into *out. */
void archiver_stats(struct archiver *ar, struct archiver_stats *out);

#endif
