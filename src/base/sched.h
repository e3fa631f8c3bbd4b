/*
 * sched.h - the turn scheduler of `parley serve`: a small fixed set of threads, each an event loop
 * that runs tasks on fibers. A task is ordinary blocking-style code (a chat turn, the ASL workflow
 * it drives, its model and tool calls); where it would wait on the network, a timer or another
 * thread, it calls one of the waits below, which park the fiber and let the thread run other
 * tasks until the wait is over. Off a fiber (the CLI, `parley sfn run`, Lambda, queue workers)
 * the same waits simply block the calling thread, so callers need not know where they run.
 *
 * Contract: sched_submit() is thread-safe; a task runs start to end on one scheduler thread (it
 * never migrates); waits may be called from any thread. sched_stop() refuses new tasks and waits
 * for the running ones (bounded by grace_ms), then frees the scheduler.
 *
 * The mutex rule: never hold a pthread mutex across a wait. A parked task leaves its thread to
 * other tasks; one of them taking the same mutex would block the whole thread (or deadlock it).
 * Code that must not park while it holds a lock brackets the section with sched_hold_begin() /
 * sched_hold_end(); a wait inside such a section aborts (an assert on our bug, STYLE rule 14).
 *
 * Task-local storage: state a task carries across a wait lives in sched_local_get/set slots, not in
 * _Thread_local variables (another task may run on the thread while this one is parked). Off a
 * fiber the slots are per thread.
 */
#ifndef PARLEY_SCHED_H
#define PARLEY_SCHED_H

#include <stddef.h>

#include "base/err.h"

/* Marks a function that runs before or beside a task's wait, never across it: kept out of line,
 * its locals do not widen the frames that stay resident while the task is parked (see "Parked
 * stacks" in sched.c). Inlined into api_handle, the HTTP routes' other handlers made its frame
 * 4 KB, all of it held by every turn waiting on its model. A chat turn's model call parks ~3.4 KB
 * deep, in one 4 KiB page: a new local on its path (a struct err is 512 bytes) can cost a page a
 * turn. */
#define SCHED_OUT_OF_LINE __attribute__((noinline))

struct sched;
struct sched_event;

typedef void (*sched_fn)(void *ud);

/* Starts nthreads (>= 1) scheduler threads whose fibers get stack_size bytes of stack (0 = the
 * default). Returns the scheduler or NULL with err. */
struct sched *sched_start(int nthreads, size_t stack_size, struct err *err);

/* Refuses new tasks, waits up to grace_ms for running tasks to finish, stops the threads and
 * frees s. Returns the number of tasks still running when the grace ran out (0 = clean). NULL is
 * a no-op returning 0. */
int sched_stop(struct sched *s, int grace_ms);

/* Runs fn(ud) as a task. Returns 0, or -1 when the scheduler is stopping (fn is then not run and
 * ud stays the caller's). Thread-safe. */
int sched_submit(struct sched *s, sched_fn fn, void *ud);

/* Tasks submitted and not yet finished. */
int sched_pending(const struct sched *s);

/* 1 when called from a task on a scheduler fiber, else 0. */
int sched_in_task(void);

/* What a scheduler has done since it started. */
struct sched_stats {
    long fibers;  /* tasks started on a fiber */
    long entries; /* fiber stacks entered through setcontext(): a stack's first task, on a new
                     mapping or one unmapped since; the tasks after it on the same stack are
                     entered where the one before it finished, without a system call */
};

/* Fills *out with s's figures so far. Thread-safe. */
void sched_stats_get(const struct sched *s, struct sched_stats *out);

/* From a task: runs fn(ud) as another task on the calling task's own thread (so it never runs
 * at the same time as the caller, only while the caller is parked), starting with a copy of the
 * caller's task-local slots. It is counted by sched_pending() and waited for by sched_stop(),
 * and is started even while the scheduler is stopping (it finishes work already under way).
 * Returns 0, or -1 off a fiber (fn is then not run). Join with a sched_event. */
int sched_spawn(sched_fn fn, void *ud);

/* Runs fn(ud) to its end on a stack its loop keeps for such calls, not on the task's own, and
 * returns: for synchronous work that goes deep (SQLite, curl's socket action) beside a task's
 * waits, so the task's stack stays as deep as its own frames while it is parked. fn must not
 * wait: it runs under sched_hold_begin (a wait aborts), and it sees the task's local slots. Off a
 * fiber, from such a call, or when the stack cannot be mapped, fn runs in place (still held). */
void sched_call_deep(sched_fn fn, void *ud);

/* Waits until fd is ready for events (POLLIN, POLLOUT) or timeout_ms passes (< 0 = no limit).
 * Returns the ready events (poll revents, > 0), 0 on timeout, -1 on error (errno set). */
int sched_wait_fd(int fd, short events, int timeout_ms);

/* Sleeps ms milliseconds (nothing when ms <= 0). */
void sched_sleep_ms(long ms);

/* An event one side waits on and any thread signals. A signal before the wait is not lost: the
 * event stays set until sched_event_wait() consumes it. */
struct sched_event *sched_event_new(void);
void sched_event_free(struct sched_event *ev);
void sched_event_signal(struct sched_event *ev);
/* Returns 1 when the event was signalled (and clears it), 0 when timeout_ms passed (< 0 = no
 * limit). */
int sched_event_wait(struct sched_event *ev, int timeout_ms);

/* Waits until fd is ready for events, ev is signalled, or timeout_ms passes (< 0 = no limit),
 * whichever comes first. Returns the ready events of fd (> 0); 0 on timeout or when ev was
 * signalled (then *signalled is 1 and the signal is consumed); -1 on error (errno set). Off a
 * fiber ev is looked at only before the wait (a signal during it stays set for the next one). */
int sched_wait_fd_event(int fd, short events, struct sched_event *ev, int timeout_ms,
                        int *signalled);

/* ---- A lock held across waits ------------------------------------------------------------- */

/* A mutual-exclusion lock whose owner may wait (park) while holding it, and whose waiters park
 * too: for sections that must stay exclusive across a network exchange (starting an MCP server,
 * writing one message to a pipe). Fair enough, not strictly FIFO. */
struct sched_mutex;
struct sched_mutex *sched_mutex_new(void);
void sched_mutex_free(struct sched_mutex *m); /* NULL is a no-op; must be unlocked */
void sched_mutex_lock(struct sched_mutex *m);
void sched_mutex_unlock(struct sched_mutex *m);

/* ---- Task-local storage -------------------------------------------------------------------- */

/* Task-local slots, keyed by the address of any static object of the caller's module. */
#define SCHED_LOCALS_MAX 16

/* Returns the value stored under key for the running task (or, off a fiber, for the calling
 * thread), NULL if none. */
void *sched_local_get(const void *key);

/* Stores value under key for the running task (or thread); NULL clears the slot. More than
 * SCHED_LOCALS_MAX distinct keys is our bug (assert). */
void sched_local_set(const void *key, void *value);

/* ---- The mutex rule ------------------------------------------------------------------------ */

/* Marks the start and end of a section that holds a lock, in which no wait may park. Nestable;
 * per task (or per thread off a fiber). */
void sched_hold_begin(void);
void sched_hold_end(void);

#endif
