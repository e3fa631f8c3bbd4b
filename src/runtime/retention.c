/* retention.c - the retention sweep of the SQLite store; see retention.h. */
#include "runtime/retention.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/xmalloc.h"
#include "runtime/app.h"
#include "store/store.h"

struct retention {
    struct store *store;           /* borrowed */
    struct queue *queue;           /* borrowed, may be NULL */
    struct archive *archive;       /* borrowed, may be NULL */
    long long max_idle_ms;         /* sessions idle longer are erased */
    int interval_ms;               /* between sweeps */
    retention_erased_fn on_erased; /* may be NULL */
    void *ctx;                     /* for on_erased */
    pthread_t thread;              /* the sweep thread */
    pthread_mutex_t lock;          /* guards stop */
    pthread_cond_t wake;           /* signalled by retention_stop */
    int stop;                      /* set to end the thread */
};

int retention_sweep(struct store *store, struct queue *queue, struct archive *archive,
                    long long before_ms, retention_erased_fn on_erased, void *ctx, int *erased,
                    struct err *err)
{
    int rc = -1;
    json_t *ids = NULL;
    *erased = 0;
    if (store_sessions_idle(store, before_ms, RETENTION_BATCH, &ids, err) < 0)
        goto out;
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v) {
        const char *sid = json_string_value(v);
        struct err e;
        err_clear(&e);
        if (app_erase_session(store, queue, archive, sid, &e) < 0) {
            if (strcmp(e.code, "NotFound") == 0)
                continue; /* erased meanwhile (DELETE /sessions/{id}) */
            *err = e;
            goto out;
        }
        (*erased)++;
        if (on_erased)
            on_erased(sid, ctx);
    }
    rc = 0;
out:
    json_decref(ids);
    return rc;
}

/* Sweeps until a pass finds nothing or fails; logs what it erased. */
static void sweep_all(struct retention *r)
{
    int total = 0, n = 0;
    do {
        struct err e;
        err_clear(&e);
        long long before = (long long)clock_now_ms() - r->max_idle_ms;
        if (retention_sweep(r->store, r->queue, r->archive, before, r->on_erased, r->ctx, &n, &e) <
            0) {
            log_at(LL_WARN, "retention", "cannot sweep idle sessions: %s: %s", e.code, e.message);
            break;
        }
        total += n;
    } while (n == RETENTION_BATCH);
    if (total > 0)
        log_at(LL_INFO, "retention", "erased %d idle session%s", total, total == 1 ? "" : "s");
}

static void *retention_main(void *arg)
{
    struct retention *r = arg;
    pthread_mutex_lock(&r->lock);
    while (!r->stop) {
        struct timespec until;
        clock_deadline_in(&until, r->interval_ms);
        pthread_cond_timedwait(&r->wake, &r->lock, &until);
        if (r->stop)
            break;
        pthread_mutex_unlock(&r->lock);
        sweep_all(r);
        pthread_mutex_lock(&r->lock);
    }
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

struct retention *retention_start(struct store *store, struct queue *queue, struct archive *archive,
                                  long long max_idle_ms, int interval_ms,
                                  retention_erased_fn on_erased, void *ctx, struct err *err)
{
    struct retention *r = xcalloc(1, sizeof *r);
    r->store = store;
    r->queue = queue;
    r->archive = archive;
    r->max_idle_ms = max_idle_ms;
    r->interval_ms = interval_ms > 0 ? interval_ms : 1000;
    r->on_erased = on_erased;
    r->ctx = ctx;
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->wake, NULL);
    if (pthread_create(&r->thread, NULL, retention_main, r) != 0) {
        pthread_mutex_destroy(&r->lock);
        pthread_cond_destroy(&r->wake);
        free(r);
        err_set(err, "InternalError", "cannot start the retention sweep");
        return NULL;
    }
    return r;
}

void retention_stop(struct retention *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->lock);
    r->stop = 1;
    pthread_cond_signal(&r->wake);
    pthread_mutex_unlock(&r->lock);
    pthread_join(r->thread, NULL);
    pthread_mutex_destroy(&r->lock);
    pthread_cond_destroy(&r->wake);
    free(r);
}
