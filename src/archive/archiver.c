/*
 * archiver.c - the background archiver (see archiver.h): a hash table of pending sessions, a list
 * of them ordered by due time, and one worker thread that fetches, redacts and stores documents.
 * The worker stores a pass's documents with archive_put_many, so they share directory fsyncs.
 *
 * One mutex guards everything; the worker drops it while it does I/O. Because a mark sets its due
 * time to now + max_delay and a retry's backoff is never shorter than max_delay, new entries almost
 * always go to the tail of the due list, so ordered insertion is O(1) on the hot path.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "archive/archiver.h"
#include "base/clock.h"
#include "base/dlist.h"
#include "base/hash.h"
#include "base/jsontext.h"
#include "base/log.h"
#include "base/xmalloc.h"

#define ARCHIVER_BATCH_BYTES (8u << 20) /* document bytes one archive_put_many may carry */
#define ARCHIVER_GATHER_MAX_MS 1000     /* longest an entry may be written before its due time */
#define ARCHIVER_BACKOFF_MIN_MS 100     /* first retry delay (or max_delay when longer) */
#define ARCHIVER_BACKOFF_MAX_MS 60000   /* longest retry delay */

struct pending {
    struct pending *hnext; /* hash chain */
    struct dlist link;     /* on the due list, earliest first, or on a pass's list */
    char *session_id;      /* owned */
    char *key;             /* owned: archive key computed at the first mark */
    int64_t due_ms;        /* monotonic time the worker should write it */
    int attempts;          /* failed attempts so far */
};

struct archiver {
    struct archive *archive; /* borrowed */
    archiver_fetch_fn fetch;
    void *ud;
    int max_delay_ms;

    pthread_mutex_t mu;
    pthread_cond_t work; /* signalled on mark, flush and stop */
    pthread_cond_t done; /* signalled when a flush round ends */
    pthread_t thread;

    struct archiver_hooks hooks; /* guarded by mu; copied per pass */
    struct pending **buckets;    /* hash table of pending entries */
    size_t nbuckets;             /* power of two */
    size_t count;                /* pending entries */
    struct dlist due;            /* pending entries, earliest due first */

    uint64_t flush_req;  /* flush rounds requested */
    uint64_t flush_done; /* flush rounds finished */
    size_t flush_failed; /* failures of the last finished round */
    int stopping;        /* archiver_stop has begun; marks are refused */
    struct archiver_stats stats;
};

/* ---------------------------------------------------------------- pending entries */

static struct pending **bucket_of(struct archiver *ar, const char *session_id)
{
    return &ar->buckets[hash_str(session_id) & (ar->nbuckets - 1)];
}

static struct pending *find(struct archiver *ar, const char *session_id)
{
    for (struct pending *p = *bucket_of(ar, session_id); p; p = p->hnext)
        if (strcmp(p->session_id, session_id) == 0)
            return p;
    return NULL;
}

static void grow(struct archiver *ar)
{
    size_t n = ar->nbuckets * 2;
    struct pending **b = xcalloc(n, sizeof *b);
    for (size_t i = 0; i < ar->nbuckets; i++) {
        struct pending *p = ar->buckets[i];
        while (p) {
            struct pending *next = p->hnext;
            struct pending **slot = &b[hash_str(p->session_id) & (n - 1)];
            p->hnext = *slot;
            *slot = p;
            p = next;
        }
    }
    free(ar->buckets);
    ar->buckets = b;
    ar->nbuckets = n;
}

static struct pending *pending_of(struct dlist *link)
{
    return dlist_entry(link, struct pending, link);
}

/* The entry due first, or NULL. */
static struct pending *due_first(struct archiver *ar)
{
    return pending_of(dlist_first(&ar->due));
}

/* Inserts p in due order, after the entries due no later, scanning from the tail (where nearly
 * every entry belongs). */
static void list_insert(struct archiver *ar, struct pending *p)
{
    struct dlist *after = dlist_last(&ar->due);
    while (after && pending_of(after)->due_ms > p->due_ms)
        after = dlist_prev(&ar->due, after);
    dlist_insert_after(after ? after : &ar->due, &p->link);
}

static void add(struct archiver *ar, struct pending *p)
{
    if (ar->count >= ar->nbuckets)
        grow(ar);
    struct pending **slot = bucket_of(ar, p->session_id);
    p->hnext = *slot;
    *slot = p;
    ar->count++;
    list_insert(ar, p);
}

/* Removes p from the table and the list; the caller owns it. */
static void take(struct archiver *ar, struct pending *p)
{
    for (struct pending **slot = bucket_of(ar, p->session_id); *slot; slot = &(*slot)->hnext)
        if (*slot == p) {
            *slot = p->hnext;
            break;
        }
    p->hnext = NULL;
    dlist_unlink(&p->link);
    ar->count--;
}

static void pending_free(struct pending *p)
{
    free(p->session_id);
    free(p->key);
    free(p);
}

static int64_t backoff_ms(const struct archiver *ar, int attempts)
{
    int64_t b = ARCHIVER_BACKOFF_MIN_MS;
    for (int i = 1; i < attempts && b < ARCHIVER_BACKOFF_MAX_MS; i++)
        b *= 2;
    if (b > ARCHIVER_BACKOFF_MAX_MS)
        b = ARCHIVER_BACKOFF_MAX_MS;
    return b < ar->max_delay_ms ? ar->max_delay_ms : b;
}

/* ---------------------------------------------------------------- the worker */

/* How far ahead of now a pass takes entries: a quarter of max_delay, so an entry is written
 * between 3/4 of max_delay and max_delay after its first mark, and the writes of many sessions
 * share one batch (and its directory fsyncs) instead of one wake-up and fsync pair each. */
static int64_t gather_ms(const struct archiver *ar)
{
    int64_t g = ar->max_delay_ms / 4;
    return g < ARCHIVER_GATHER_MAX_MS ? g : ARCHIVER_GATHER_MAX_MS;
}

/* One entry of a write batch: the document text prepared for archive_put_many. */
struct prepared {
    struct pending *p; /* the entry, owned by the batch */
    char *text;        /* owned: the serialised, redacted document */
    size_t len;        /* bytes of text */
};

/* Fetches, redacts and serialises one session into *text (owned by the caller). Returns 0 when
 * ready, 1 when the session is gone (fetch said NotFound), -1 on failure (logged). */
static int prepare_one(struct archiver *ar, const struct archiver_hooks *hooks,
                       const struct pending *p, char **text)
{
    struct err err = {0};
    *text = NULL;
    json_t *doc = ar->fetch(ar->ud, p->session_id, &err);
    if (!doc) {
        if (strcmp(err.code, "NotFound") == 0) {
            log_at(LL_INFO, "archive", "session '%s' is gone; not archiving it: %s", p->session_id,
                   err.message);
            return 1;
        }
        log_at(LL_WARN, "archive", "cannot fetch session '%s' for the archive (attempt %d): %s",
               p->session_id, p->attempts + 1, err.code[0] ? err.message : "no document");
        return -1;
    }
    if (hooks->redact)
        hooks->redact(doc, hooks->redact_kinds);
    *text = jsontext_dump(doc);
    json_decref(doc);
    if (!*text) {
        log_at(LL_WARN, "archive", "cannot serialise session '%s' for the archive", p->session_id);
        return -1;
    }
    return 0;
}

/* What one pass did, merged into the stats under mu. */
struct pass {
    struct dlist retry; /* failed entries, owned, to requeue (the last failed first) */
    size_t failed;
    uint64_t written, skipped;
};

/* Stores the n prepared documents with one archive_put_many, runs on_archived for each stored
 * one and moves the failed ones to pass->retry. Frees the texts and the stored entries. */
static void store_batch(struct archiver *ar, const struct archiver_hooks *hooks, struct prepared *v,
                        struct archive_put_item *items, size_t n, struct pass *pass)
{
    if (n == 0)
        return;
    for (size_t i = 0; i < n; i++)
        items[i] = (struct archive_put_item){.key = v[i].p->key,
                                             .bytes = v[i].text,
                                             .len = v[i].len};
    archive_put_many(ar->archive, items, n);
    for (size_t i = 0; i < n; i++) {
        struct pending *p = v[i].p;
        if (items[i].rc != 0) {
            log_at(LL_WARN, "archive", "cannot store session '%s' at '%s' (attempt %d): %s",
                   p->session_id, p->key, p->attempts + 1, items[i].err.message);
            pass->failed++;
            dlist_push_head(&pass->retry, &p->link);
        } else {
            if (hooks->on_archived)
                hooks->on_archived(ar->ud, p->session_id, p->key);
            pass->written++;
            pending_free(p);
        }
        free(v[i].text);
    }
}

/* Archives every entry of batch (a list of them, owned, emptied): prepares documents and stores
 * them in groups of at most ARCHIVER_BATCH_MAX entries or ARCHIVER_BATCH_BYTES bytes, so a
 * group shares its directory fsyncs. Called without mu. */
static void run_pass(struct archiver *ar, const struct archiver_hooks *hooks, struct dlist *batch,
                     struct pass *pass)
{
    struct prepared *v = xcalloc(ARCHIVER_BATCH_MAX, sizeof *v);
    struct archive_put_item *items = xcalloc(ARCHIVER_BATCH_MAX, sizeof *items);
    size_t n = 0, bytes = 0;
    int begun = 0;   /* the group's fetches_begin was called */
    int reading = 0; /* ... and succeeded: its end is due */
    while (!dlist_is_empty(batch)) {
        struct pending *p = pending_of(dlist_first(batch));
        dlist_unlink(&p->link);
        if (!begun && hooks->fetches_begin && hooks->fetches_end) {
            begun = 1;
            reading = hooks->fetches_begin(ar->ud) == 0;
        }
        char *text = NULL;
        int rc = prepare_one(ar, hooks, p, &text);
        if (rc < 0) {
            pass->failed++;
            dlist_push_head(&pass->retry, &p->link);
            continue;
        }
        if (rc > 0) {
            pass->skipped++;
            pending_free(p);
            continue;
        }
        v[n].p = p;
        v[n].text = text;
        v[n].len = strlen(text);
        bytes += v[n].len;
        n++;
        if (n == ARCHIVER_BATCH_MAX || bytes >= ARCHIVER_BATCH_BYTES) {
            if (reading)
                hooks->fetches_end(ar->ud);
            begun = reading = 0;
            store_batch(ar, hooks, v, items, n, pass);
            n = 0;
            bytes = 0;
        }
    }
    if (reading)
        hooks->fetches_end(ar->ud);
    store_batch(ar, hooks, v, items, n, pass);
    free(v);
    free(items);
}

/* Puts a failed entry back: merged into a newer mark of the same session if one arrived while it
 * was in flight, else pending again after a backoff. Called with mu held. */
static void requeue(struct archiver *ar, struct pending *p, int64_t now)
{
    p->attempts++;
    struct pending *newer = find(ar, p->session_id);
    if (newer) {
        if (newer->attempts < p->attempts)
            newer->attempts = p->attempts;
        pending_free(p);
        return;
    }
    p->due_ms = now + backoff_ms(ar, p->attempts);
    add(ar, p);
}

static void *worker_main(void *arg)
{
    struct archiver *ar = arg;
    pthread_mutex_lock(&ar->mu);
    for (;;) {
        int64_t now = clock_mono_ms();
        uint64_t round = 0;
        size_t limit = ARCHIVER_BATCH_MAX;
        struct pending *first = due_first(ar);
        if (ar->flush_req > ar->flush_done) {
            round = ar->flush_req;
            limit = SIZE_MAX;
        } else if (!(first && first->due_ms <= now)) {
            if (ar->stopping)
                break;
            if (first) {
                struct timespec ts;
                int64_t wake = first->due_ms;
                ts.tv_sec = (time_t)(wake / 1000);
                ts.tv_nsec = (long)(wake % 1000) * 1000000;
                pthread_cond_timedwait(&ar->work, &ar->mu, &ts);
            } else {
                pthread_cond_wait(&ar->work, &ar->mu);
            }
            continue;
        }
        /* Take the due entries (all of them in a flush round), earliest first, and those due
         * within the gather window: they ride along in this pass's batch, a little early. */
        int64_t upto = now + gather_ms(ar);
        struct dlist batch;
        dlist_init(&batch);
        for (struct pending *p = first; p && limit > 0 && (round || p->due_ms <= upto);
             p = due_first(ar)) {
            take(ar, p);
            dlist_push_tail(&batch, &p->link);
            limit--;
        }
        struct archiver_hooks hooks = ar->hooks;
        pthread_mutex_unlock(&ar->mu);

        struct pass pass = {0};
        dlist_init(&pass.retry);
        run_pass(ar, &hooks, &batch, &pass);

        pthread_mutex_lock(&ar->mu);
        now = clock_mono_ms();
        while (!dlist_is_empty(&pass.retry)) {
            struct pending *p = pending_of(dlist_first(&pass.retry));
            dlist_unlink(&p->link);
            requeue(ar, p, now);
        }
        ar->stats.written += pass.written;
        ar->stats.skipped += pass.skipped;
        ar->stats.failures += pass.failed;
        if (round) {
            ar->flush_done = round;
            ar->flush_failed = pass.failed;
            pthread_cond_broadcast(&ar->done);
        }
    }
    pthread_mutex_unlock(&ar->mu);
    return NULL;
}

/* ---------------------------------------------------------------- public functions */

struct archiver *archiver_start(struct archive *archive, archiver_fetch_fn fetch, void *ud,
                                int max_delay_ms, struct err *err)
{
    if (!archive || !fetch) {
        err_set(err, "InvalidArgument", "archiver needs an archive and a fetch function");
        return NULL;
    }
    if (max_delay_ms < 0 || max_delay_ms > ARCHIVER_DELAY_MAX_MS) {
        err_set(err, "InvalidArgument", "archiver delay %d ms is outside 0..%d", max_delay_ms,
                ARCHIVER_DELAY_MAX_MS);
        return NULL;
    }
    struct archiver *ar = xcalloc(1, sizeof *ar);
    ar->archive = archive;
    ar->fetch = fetch;
    ar->ud = ud;
    ar->max_delay_ms = max_delay_ms;
    ar->nbuckets = 64;
    ar->buckets = xcalloc(ar->nbuckets, sizeof *ar->buckets);
    dlist_init(&ar->due);
    pthread_mutex_init(&ar->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* due times are clock_mono_ms() */
    pthread_cond_init(&ar->work, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&ar->done, NULL);
    int e = pthread_create(&ar->thread, NULL, worker_main, ar);
    if (e != 0) {
        err_set(err, "ArchiverError", "cannot start the archiver thread: %s", strerror(e));
        pthread_cond_destroy(&ar->work);
        pthread_cond_destroy(&ar->done);
        pthread_mutex_destroy(&ar->mu);
        free(ar->buckets);
        free(ar);
        return NULL;
    }
    pthread_setname_np(ar->thread, "archiver"); /* for top -H, perf and /proc; best effort */
    return ar;
}

void archiver_set_hooks(struct archiver *ar, const struct archiver_hooks *hooks)
{
    pthread_mutex_lock(&ar->mu);
    if (hooks)
        ar->hooks = *hooks;
    else
        memset(&ar->hooks, 0, sizeof ar->hooks);
    pthread_mutex_unlock(&ar->mu);
}

int archiver_mark(struct archiver *ar, const char *session_id, int64_t created_at_ms,
                  struct err *err)
{
    char key[ARCHIVE_KEY_MAX + 1];
    if (archive_key_for(session_id, created_at_ms, key, sizeof key, err) != 0)
        return -1;
    int rc = -1;
    pthread_mutex_lock(&ar->mu);
    if (ar->stopping) {
        err_set(err, "ArchiverStopped", "archiver is stopping; session '%s' not queued",
                session_id);
        goto out;
    }
    int64_t due = clock_mono_ms() + ar->max_delay_ms;
    struct pending *p = find(ar, session_id);
    if (p) {
        ar->stats.coalesced++;
        if (p->due_ms > due) {
            /* A failed entry waiting out its backoff: the new mark retries it sooner. */
            dlist_unlink(&p->link);
            p->due_ms = due;
            list_insert(ar, p);
            pthread_cond_signal(&ar->work);
        }
    } else {
        if (ar->count >= ARCHIVER_PENDING_MAX) {
            err_set(err, "ArchiverFull", "%d sessions already wait for the archive; '%s' refused",
                    ARCHIVER_PENDING_MAX, session_id);
            goto out;
        }
        p = xcalloc(1, sizeof *p);
        p->session_id = xstrdup(session_id);
        p->key = xstrdup(key);
        p->due_ms = due;
        int was_empty = dlist_is_empty(&ar->due);
        add(ar, p);
        if (was_empty || due_first(ar) == p)
            pthread_cond_signal(&ar->work);
    }
    ar->stats.marks++;
    rc = 0;
out:
    pthread_mutex_unlock(&ar->mu);
    return rc;
}

size_t archiver_flush(struct archiver *ar)
{
    pthread_mutex_lock(&ar->mu);
    uint64_t mine = ++ar->flush_req;
    pthread_cond_signal(&ar->work);
    while (ar->flush_done < mine)
        pthread_cond_wait(&ar->done, &ar->mu);
    size_t failed = ar->flush_failed;
    pthread_mutex_unlock(&ar->mu);
    return failed;
}

void archiver_stats(struct archiver *ar, struct archiver_stats *out)
{
    pthread_mutex_lock(&ar->mu);
    *out = ar->stats;
    out->pending = ar->count;
    pthread_mutex_unlock(&ar->mu);
}

size_t archiver_stop(struct archiver *ar)
{
    if (!ar)
        return 0;
    pthread_mutex_lock(&ar->mu);
    ar->stopping = 1; /* from here no mark gets in, so the final flush sees everything */
    ar->flush_req++;
    pthread_cond_signal(&ar->work);
    pthread_mutex_unlock(&ar->mu);
    pthread_join(ar->thread, NULL);

    size_t lost = ar->count;
    struct dlist *n, *next;
    dlist_foreach_safe(n, next, &ar->due) {
        struct pending *p = pending_of(n);
        log_at(LL_ERROR, "archive", "session '%s' was not archived at shutdown after %d attempts",
               p->session_id, p->attempts);
        pending_free(p);
    }
    pthread_cond_destroy(&ar->work);
    pthread_cond_destroy(&ar->done);
    pthread_mutex_destroy(&ar->mu);
    free(ar->buckets);
    free(ar);
    return lost;
}
