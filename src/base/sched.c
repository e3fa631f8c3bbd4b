/*
 * sched.c - PLACEHOLDER implementation of sched.h: one detached thread per task, waits that
 * block the calling thread. Same contract as the fiber scheduler that replaces it; it exists so
 * that callers can be written against the interface first.
 */
#include "base/sched.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "base/backoff.h"
#include "base/xmalloc.h"

struct sched {
    pthread_mutex_t lock; /* guards the fields below */
    pthread_cond_t idle;  /* signalled when running drops to 0 */
    int running;          /* tasks started and not finished */
    int stopping;         /* sched_stop() called */
};

struct task {
    struct sched *s;
    sched_fn fn;
    void *ud;
};

static __thread int in_task;

struct sched *sched_start(int nthreads, size_t stack_size, struct err *err)
{
    (void)stack_size;
    if (nthreads < 1) {
        err_set(err, "InvalidArgument", "sched_start: nthreads must be at least 1");
        return NULL;
    }
    struct sched *s = xcalloc(1, sizeof *s);
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->idle, NULL);
    return s;
}

static void *task_main(void *arg)
{
    struct task *t = arg;
    struct sched *s = t->s;
    in_task = 1;
    t->fn(t->ud);
    free(t);
    pthread_mutex_lock(&s->lock);
    if (--s->running == 0)
        pthread_cond_broadcast(&s->idle);
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

int sched_submit(struct sched *s, sched_fn fn, void *ud)
{
    int rc = -1;
    pthread_mutex_lock(&s->lock);
    if (!s->stopping) {
        struct task *t = xcalloc(1, sizeof *t);
        *t = (struct task){s, fn, ud};
        pthread_t th;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&th, &attr, task_main, t) == 0) {
            s->running++;
            rc = 0;
        } else {
            free(t);
        }
        pthread_attr_destroy(&attr);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int sched_pending(const struct sched *s)
{
    struct sched *m = (struct sched *)s;
    pthread_mutex_lock(&m->lock);
    int n = m->running;
    pthread_mutex_unlock(&m->lock);
    return n;
}

int sched_stop(struct sched *s, int grace_ms)
{
    if (!s)
        return 0;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += grace_ms / 1000;
    until.tv_nsec += (long)(grace_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&s->lock);
    s->stopping = 1;
    while (s->running > 0 && pthread_cond_timedwait(&s->idle, &s->lock, &until) != ETIMEDOUT) {
    }
    int left = s->running;
    pthread_mutex_unlock(&s->lock);
    if (left == 0) {
        pthread_cond_destroy(&s->idle);
        pthread_mutex_destroy(&s->lock);
        free(s);
    }
    return left;
}

int sched_in_task(void)
{
    return in_task;
}

int sched_wait_fd(int fd, short events, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = events};
    int rc;
    while ((rc = poll(&p, 1, timeout_ms)) < 0 && errno == EINTR) {
    }
    return rc > 0 ? p.revents : rc;
}

void sched_sleep_ms(long ms)
{
    backoff_sleep_ms(ms);
}

struct sched_event {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int set;
};

struct sched_event *sched_event_new(void)
{
    struct sched_event *ev = xcalloc(1, sizeof *ev);
    pthread_mutex_init(&ev->lock, NULL);
    pthread_cond_init(&ev->cond, NULL);
    return ev;
}

void sched_event_free(struct sched_event *ev)
{
    if (!ev)
        return;
    pthread_cond_destroy(&ev->cond);
    pthread_mutex_destroy(&ev->lock);
    free(ev);
}

void sched_event_signal(struct sched_event *ev)
{
    pthread_mutex_lock(&ev->lock);
    ev->set = 1;
    pthread_cond_broadcast(&ev->cond);
    pthread_mutex_unlock(&ev->lock);
}

int sched_event_wait(struct sched_event *ev, int timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    if (timeout_ms >= 0) {
        until.tv_sec += timeout_ms / 1000;
        until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
    }
    pthread_mutex_lock(&ev->lock);
    int rc = 0;
    while (!ev->set && rc != ETIMEDOUT)
        rc = timeout_ms < 0 ? pthread_cond_wait(&ev->cond, &ev->lock)
                            : pthread_cond_timedwait(&ev->cond, &ev->lock, &until);
    int got = ev->set;
    ev->set = 0;
    pthread_mutex_unlock(&ev->lock);
    return got;
}
