/*
 * sched.c - the turn scheduler (see sched.h): N threads, each an epoll event loop that runs tasks
 * on ucontext fibers. A wait on a fiber registers what it waits for (an fd in the loop's epoll, a
 * deadline in the loop's timer heap, a place on an event's waiter list), switches back to the loop
 * and is resumed by whichever of those fires first. Off a fiber the waits block the thread.
 */
#include "base/sched.h"

#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/dlist.h"
#include "base/log.h"
#include "base/xmalloc.h"

/* Switching between a loop and its fibers: swapcontext() saves and restores the signal mask, a
 * rt_sigprocmask system call at every switch (13 a turn, ~3% of the CPU at 4,000 connections on
 * this kind of VM). So a fiber is entered the first time with setcontext() on the context
 * makecontext() built, and every later switch is a _setjmp()/_longjmp() pair, which keeps the
 * mask as it is (the loop thread's, the same for all its fibers). ThreadSanitizer follows
 * setjmp/longjmp on its own shadow stack and cannot follow one that lands on another stack, so
 * its builds keep swapcontext(). */
#if defined(__SANITIZE_THREAD__)
#define SCHED_JMP 0
#else
#define SCHED_JMP 1
#endif

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define SCHED_ASAN 1
#define STACK_DEFAULT (1024 * 1024) /* ASan's redzones make frames much bigger */
#else
#define SCHED_ASAN 0
#define STACK_DEFAULT (256 * 1024)
#endif

/* Finished fibers' stacks a loop keeps for reuse: up to STACKS_CACHED, trimmed back to
 * STACKS_KEPT once no stack has gone in or out for STACKS_TRIM_MS. Turns finish in bursts (a
 * thousand model replies arriving in the same few ms) and start at START_MAX a loop turn, so with
 * only STACKS_KEPT a burst unmapped most stacks and the next starts mapped them again: at 4,000
 * held turns munmap's TLB shootdowns were 6% of the CPU. The first STACKS_KEPT cached stacks hold
 * the pages their fibers touched (~20 KB each); one beyond them still in the cache RELEASE_AFTER_MS
 * after it went in gives those back but its top page (stacks_cache_release_due): at 4,000
 * connections the cache stayed a few hundred stacks deep, ~1.5 KB of every turn's memory. The
 * cache is a stack (LIFO), so under load the stacks taken again are the ones put last; the warm
 * floor only serves the next burst after a pause, and 64 of them held 2.6 MB (two loops), ~1.8 KB
 * a turn at 1,000 connections; 16 cost no measurable CPU (compare.sh, new sessions). */
#define STACKS_KEPT 16
#define STACKS_CACHED 1024
#define STACKS_TRIM_MS 1000
#define EVENTS_MAX 64        /* epoll events taken per loop turn */
#define START_MAX 32         /* new tasks a loop starts per turn, after the woken ones */
#define RELEASE_AFTER_MS 100 /* a fiber parked this long gives back its unused stack pages */
/* Bytes of a parked fiber's stack in use below switch_to_loop's frame address: that function's
 * own frame, a return address and _setjmp() or swapcontext() (x86-64: ~64; kept generous for
 * instrumented builds). Pages below are given back. */
#define PARK_SLACK 256

enum wake { WAKE_NONE, WAKE_FD, WAKE_TIMER, WAKE_EVENT };

/* Task-local slots and the hold depth of the mutex rule; one per fiber, one per plain thread. */
struct locals {
    const void *keys[SCHED_LOCALS_MAX];
    void *vals[SCHED_LOCALS_MAX];
    int hold; /* sched_hold_begin() depth */
};

/*
 * Fiber lifecycle: created by the loop that took its task from the inbox; runnable (on the
 * loop's ready list) -> running -> either parked (waiting == 1, registered with an fd, a timer
 * and/or an event) or done. Exactly one waker wins the waiting 1 -> 0 exchange and puts the fiber
 * back on its loop's ready list (directly on the loop thread, through the loop's remote list and
 * eventfd from any other thread). A done fiber is freed by its loop after it switched away.
 */
struct fiber {
#if SCHED_JMP
    jmp_buf jb;  /* its registers while switched away, once started */
    int started; /* entered once (by setcontext, on its loop's first_uc) */
#else
    ucontext_t uc;       /* its registers while switched away */
#endif
    void *stack;           /* mmap'd: guard page + stack_size */
    size_t map_len;        /* bytes mapped */
    sched_fn fn;           /* the task */
    void *ud;              /* its argument */
    struct loop *loop;     /* the loop it lives on, for good */
    struct fiber *next;    /* ready or remote list link */
    struct fiber *ev_next; /* event waiter list links (under the event's mutex) */
    struct fiber *ev_prev;
    int ev_listed;         /* on an event's waiter list (under the event's mutex) */
    atomic_int waiting;    /* 1 while parked and not yet claimed by a waker */
    enum wake why;         /* what woke it */
    int revents;           /* poll events for WAKE_FD */
    int64_t deadline;      /* monotonic ms of its timer */
    long heap_at;          /* index in the timer heap, -1 if none */
    int done;              /* the task returned */
    uintptr_t park_frame;  /* its lowest frame when it last switched away (switch_to_loop's) */
    uintptr_t released_at; /* park_frame of its last release, 0: none */
    int64_t parked_ms;     /* monotonic ms when it parked, for the release list */
    struct dlist pk;       /* on the loop's release list while parked */
    struct locals locals;  /* task-local storage */
    void *asan_fake;       /* ASan's fake stack while switched away */
};

struct task {
    sched_fn fn;
    void *ud;
    struct task *next;
};

struct loop {
    struct sched *s;
    pthread_t th;
    int epfd;                /* epoll set of parked fds and the eventfd */
    int evfd;                /* eventfd: wakes the loop from other threads */
    pthread_mutex_t mu;      /* guards inbox, inbox_tail, remote and asleep */
    struct task *inbox;      /* submitted tasks not yet started */
    struct task *inbox_tail; /* last of inbox */
    struct fiber *remote;    /* fibers woken from other threads */
    int asleep;              /* in epoll_wait with inbox and remote empty: a push pokes it */
    struct fiber *ready;     /* runnable fibers (loop thread only) */
    struct fiber *ready_tail;
    struct fiber **heap; /* timer min-heap by deadline (loop thread only) */
    long n_heap, cap_heap;
    struct spare *stacks; /* spare stacks of stack_size, oldest first (loop thread only) */
    int n_stacks;
    int stacks_released; /* stacks[STACKS_KEPT..stacks_released) hold only their top page */
    int64_t stacks_ms;   /* when a stack last went in or out of the cache (loop thread only) */
    int live;            /* fibers alive on this loop (loop thread only) */
    int backlog;         /* tasks left in the inbox by the last take (loop thread only) */
    struct dlist pk;     /* parked fibers with stack pages not yet given back, oldest first
                            (loop thread only) */
#if SCHED_JMP
    jmp_buf jb;          /* the loop's registers while a fiber runs */
    ucontext_t first_uc; /* the context a fiber is first entered on (~1 KB, so not per fiber) */
#else
    ucontext_t uc;       /* the loop's own context */
#endif
    struct fiber *cur;  /* running fiber */
    atomic_long fibers; /* sched_stats: written by the loop's thread only, read by any */
    atomic_long entries;
    const void *stack_bottom; /* the thread's stack, for ASan's switch annotations */
    size_t stack_size_asan;
    /* sched_call_deep (loop thread only): */
    void *deep_map;   /* the deep stack's mapping (guard page + stack_size), NULL until used */
    sched_fn deep_fn; /* the call running on it, NULL when none */
    void *deep_ud;
    void *deep_fake; /* ASan's fake stack of the deep stack while switched away */
#if SCHED_JMP
    jmp_buf deep_jb;  /* the deep stack's registers between calls, once started */
    jmp_buf deep_ret; /* the calling fiber's registers during a call */
    int deep_started; /* entered once (by setcontext, on first_uc) */
#else
    ucontext_t deep_uc;  /* the deep stack's context */
    ucontext_t deep_ret; /* the calling fiber's context during a call */
#endif
};

struct sched {
    struct loop *loops;
    int n_loops;
    size_t stack_size;
    atomic_uint next_loop; /* round robin for submits */
    pthread_mutex_t mu;    /* guards pending, stopping, exiting and detached */
    pthread_cond_t idle;   /* pending dropped to 0 */
    int pending;           /* submitted and not finished */
    atomic_int stopping;   /* refusing submits */
    atomic_int exiting;    /* loops leave once they have nothing alive */
    int detached;          /* sched_stop() gave up waiting: the last loop out frees s */
    int loops_left;        /* loops still running, when detached */
};

static __thread struct loop *cur_loop; /* the loop this thread runs, NULL elsewhere */
static __thread struct locals thread_locals;

static void sched_free(struct sched *s);

/* ---- ASan fiber annotations ----------------------------------------------------------------- */

static void switch_start(void **fake, const void *bottom, size_t size)
{
#if SCHED_ASAN
    __sanitizer_start_switch_fiber(fake, bottom, size);
#else
    (void)fake, (void)bottom, (void)size;
#endif
}

static void switch_finish(void *fake, const void **bottom, size_t *size)
{
#if SCHED_ASAN
    __sanitizer_finish_switch_fiber(fake, bottom, size);
#else
    (void)fake, (void)bottom, (void)size;
#endif
}

/* ---- Stacks --------------------------------------------------------------------------------- */

struct spare {
    void *m;        /* the mapping: guard page + stack_size */
    int64_t put_ms; /* when it went into the cache */
#if SCHED_JMP
    int entered; /* fiber_main waits on it at jb for its next task (fiber_reentry) */
    jmp_buf jb;
#endif
};

/* Takes the newest cached stack (there is one); *entered (when not NULL) gets whether fiber_main
 * waits on it for a next task, and *jb where. */
static void *stack_pop_entered(struct loop *l, int *entered, jmp_buf *jb)
{
    struct spare *sp = &l->stacks[--l->n_stacks];
    if (l->stacks_released > l->n_stacks)
        l->stacks_released = l->n_stacks;
#if SCHED_JMP
    if (entered && (*entered = sp->entered))
        memcpy(jb, &sp->jb, sizeof *jb);
#else
    (void)jb;
    if (entered)
        *entered = 0;
#endif
    return sp->m;
}

/* Adds one to a counter of the calling loop's (sched_stats): only its own thread writes it, so a
 * plain load and store, kept atomic for the readers, with no read-modify-write shared between
 * cores at every task. */
static void count(atomic_long *c)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

static void *stack_pop(struct loop *l)
{
    return stack_pop_entered(l, NULL, NULL);
}

/* 1 when a page of [lo, hi) (page-aligned) is resident, or mincore cannot tell; 0 when none is:
 * then there is nothing to give back, and no madvise (with its TLB shootdown) to pay. */
static int pages_resident(uintptr_t lo, uintptr_t hi)
{
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    unsigned char vec[64];
    while (lo < hi) {
        uintptr_t end = hi - lo > sizeof vec * page ? lo + sizeof vec * page : hi;
        size_t n = (end - lo) / page;
        if (mincore((void *)lo, end - lo, vec) != 0)
            return 1;
        for (size_t i = 0; i < n; i++)
            if (vec[i] & 1)
                return 1;
        lo = end;
    }
    return 0;
}

/* Gives back the pages of [lo, hi) of a stack no fiber runs on (a parked one's unused part, a
 * cached one's). */
static void stack_pages_release(uintptr_t lo, uintptr_t hi)
{
    if (hi > lo && pages_resident(lo, hi) && madvise((void *)lo, hi - lo, MADV_DONTNEED) != 0)
        log_at(LL_DEBUG, "sched", "cannot release stack pages: %s", strerror(errno));
}

/* A stack of l's: a cached one when there is one (*entered and *jb as stack_pop_entered gives
 * them, when entered is not NULL), else a new mapping (*entered 0); NULL when none can be mapped.
 */
static void *stack_get_entered(struct loop *l, size_t *map_len, int *entered, jmp_buf *jb)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    *map_len = l->s->stack_size + page;
    if (entered)
        *entered = 0;
    if (l->n_stacks > 0) {
        l->stacks_ms = clock_mono_ms();
        return stack_pop_entered(l, entered, jb);
    }
    void *m = mmap(NULL, *map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK,
                   -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    if (mprotect(m, page, PROT_NONE) != 0) { /* the guard page: an overflow faults */
        munmap(m, *map_len);
        return NULL;
    }
    return m;
}

static void *stack_get(struct loop *l, size_t *map_len)
{
    return stack_get_entered(l, map_len, NULL, NULL);
}

/* Caches stack m, or unmaps it when the cache is full. jb (NULL: none) is where fiber_main waits
 * on m for a next task. */
static void stack_put_entered(struct loop *l, void *m, size_t map_len, jmp_buf *jb)
{
    if (l->n_stacks < STACKS_CACHED) {
        l->stacks_ms = clock_mono_ms();
        struct spare *sp = &l->stacks[l->n_stacks++];
        sp->m = m;
        sp->put_ms = l->stacks_ms;
#if SCHED_JMP
        if ((sp->entered = jb != NULL))
            memcpy(&sp->jb, jb, sizeof sp->jb);
#else
        (void)jb;
#endif
    } else {
        munmap(m, map_len);
    }
}

/* Unmaps the loop's cached stacks beyond the first keep. */
static void stacks_unmap(struct loop *l, int keep)
{
    size_t len = l->s->stack_size + (size_t)sysconf(_SC_PAGESIZE);
    while (l->n_stacks > keep)
        munmap(stack_pop(l), len);
}

/* The first cached stack beyond STACKS_KEPT whose pages are not given back yet, or -1. */
static int stacks_unreleased(const struct loop *l)
{
    int i = l->stacks_released > STACKS_KEPT ? l->stacks_released : STACKS_KEPT;
    return i < l->n_stacks ? i : -1;
}

/* Gives back the pages but the top one of the cached stacks beyond STACKS_KEPT that have been in
 * the cache for RELEASE_AFTER_MS. A stack taken again sooner pays nothing (each madvise is a TLB
 * shootdown: done at every put, at 4,000 connections they were 7.6% of the CPU samples). */
static void stacks_cache_release_due(struct loop *l, int64_t now)
{
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    int i = stacks_unreleased(l);
    for (; i >= 0 && i < l->n_stacks && now - l->stacks[i].put_ms >= RELEASE_AFTER_MS; i++) {
        uintptr_t lo = (uintptr_t)l->stacks[i].m + page; /* above the guard */
        stack_pages_release(lo, lo + l->s->stack_size - page);
        l->stacks_released = i + 1;
    }
}

/* Unmaps the cached stacks beyond STACKS_KEPT once the cache has been still for STACKS_TRIM_MS. */
static void stacks_trim_due(struct loop *l, int64_t now)
{
    if (l->n_stacks > STACKS_KEPT && now - l->stacks_ms >= STACKS_TRIM_MS)
        stacks_unmap(l, STACKS_KEPT);
}

/* ---- Timer heap (loop thread only) ---------------------------------------------------------- */

static void heap_swap(struct loop *l, long a, long b)
{
    struct fiber *t = l->heap[a];
    l->heap[a] = l->heap[b];
    l->heap[b] = t;
    l->heap[a]->heap_at = a;
    l->heap[b]->heap_at = b;
}

static void heap_fix(struct loop *l, long i)
{
    while (i > 0 && l->heap[(i - 1) / 2]->deadline > l->heap[i]->deadline) {
        heap_swap(l, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
    for (;;) {
        long c = 2 * i + 1, m = i;
        if (c < l->n_heap && l->heap[c]->deadline < l->heap[m]->deadline)
            m = c;
        if (c + 1 < l->n_heap && l->heap[c + 1]->deadline < l->heap[m]->deadline)
            m = c + 1;
        if (m == i)
            break;
        heap_swap(l, i, m);
        i = m;
    }
}

static void heap_add(struct loop *l, struct fiber *f)
{
    if (l->n_heap == l->cap_heap) {
        l->cap_heap = l->cap_heap ? l->cap_heap * 2 : 64;
        l->heap = xrealloc(l->heap, (size_t)l->cap_heap * sizeof *l->heap);
    }
    f->heap_at = l->n_heap;
    l->heap[l->n_heap++] = f;
    heap_fix(l, f->heap_at);
}

static void heap_remove(struct loop *l, struct fiber *f)
{
    long i = f->heap_at;
    if (i < 0)
        return;
    f->heap_at = -1;
    if (--l->n_heap == i)
        return;
    l->heap[i] = l->heap[l->n_heap];
    l->heap[i]->heap_at = i;
    heap_fix(l, i);
}

/* ---- Running and parking -------------------------------------------------------------------- */

static void ready_push(struct loop *l, struct fiber *f)
{
    f->next = NULL;
    if (l->ready_tail)
        l->ready_tail->next = f;
    else
        l->ready = f;
    l->ready_tail = f;
}

static void loop_poke(struct loop *l)
{
    uint64_t one = 1;
    ssize_t w = write(l->evfd, &one, sizeof one);
    (void)w; /* EAGAIN: the counter is already non-zero, the loop will wake */
}

/* After a push to l's inbox or remote list (under l->mu): whether the pusher must poke l. A loop
 * that is not asleep takes both lists before it sleeps again (loop_main looks at them under the
 * same lock before it goes to sleep), so only a sleeping one needs the eventfd; the first push
 * to wake it is the one that writes. Under load the loops are seldom asleep: a write a wake from
 * another thread was ~2 system calls a turn. */
static int loop_must_poke(struct loop *l)
{
    int poke = l->asleep;
    l->asleep = 0;
    return poke;
}

/* Claims parked fiber f for waking with reason why. Returns 1 if this caller won (and f is
 * queued to run), 0 if another waker got there first. Any thread. */
static int fiber_wake(struct fiber *f, enum wake why, int revents)
{
    if (atomic_exchange(&f->waiting, 0) != 1)
        return 0;
    f->why = why;
    f->revents = revents;
    struct loop *l = f->loop;
    if (cur_loop == l) {
        ready_push(l, f);
    } else {
        pthread_mutex_lock(&l->mu);
        f->next = l->remote;
        l->remote = f;
        int poke = loop_must_poke(l);
        pthread_mutex_unlock(&l->mu);
        if (poke)
            loop_poke(l);
    }
    return 1;
}

/* ---- Parked stacks ---------------------------------------------------------------------------
 *
 * A turn goes deep (SQLite, JSON, the ASL engine) before it parks on its model call, and without
 * this the pages it touched below the frame it parks in stay resident for the seconds it waits,
 * at every turn in flight. A fiber still parked RELEASE_AFTER_MS after it parked gets those pages
 * given back (madvise MADV_DONTNEED), by its loop: short waits (a connect, a quick event) pay
 * nothing, and a long one pays one madvise (each one a TLB shootdown on this kind of VM, so not
 * at every park). Pages wholly below the lowest frame in use (switch_to_loop's, less PARK_SLACK)
 * go: a model call parks ~3.4 KB deep (x86-64 release build) and keeps 1 page. The frames on that
 * path are kept small on purpose: what runs before or after the wait is out of line
 * (SCHED_OUT_OF_LINE), and an error that must outlive the wait is on the heap, not a 512-byte
 * struct err in a frame (at 7.2 KB deep a turn kept 2 pages, at 10.8 KB 4). Resuming costs a page
 * fault for each page the fiber touches again.
 *
 * A fiber parks again in the same frame when it waits in a loop: a model call's task wakes on
 * each of curl's timers and socket events and parks where it was, and released every time it paid
 * 2.7 madvise calls (and TLB shootdowns) per turn for the few pages curl touched in between.
 * So a fiber's stack is released once per parking frame: a park in the frame of its last release
 * is left as it is, a park in any other frame (deeper or not) releases again. What the fiber
 * touched between two parks in one frame stays resident until it parks elsewhere or ends. */

/* The fiber parked longest ago whose stack is not yet released, or NULL. */
static struct fiber *pk_first(struct loop *l)
{
    return dlist_entry(dlist_first(&l->pk), struct fiber, pk);
}

/* Gives back the pages of parked (not running) fiber f's stack below its lowest frame. */
static void stack_release(struct fiber *f)
{
    if (f->park_frame == f->released_at)
        return; /* see "Parked stacks": once per parking frame */
    f->released_at = f->park_frame;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = (uintptr_t)f->stack + page; /* the stack's lowest byte, above the guard */
    uintptr_t keep = (f->park_frame - PARK_SLACK) & ~(page - 1);
    stack_pages_release(lo, keep);
}

/* Releases the stacks of the fibers parked for RELEASE_AFTER_MS by now (loop thread only). */
static void stacks_release_due(struct loop *l, int64_t now)
{
    for (struct fiber *f = pk_first(l); f && now - f->parked_ms >= RELEASE_AFTER_MS;
         f = pk_first(l)) {
        dlist_unlink(&f->pk);
        stack_release(f);
    }
}

/* ---- Deep calls ------------------------------------------------------------------------------
 *
 * Releasing a parked fiber's pages (above) costs a madvise, a TLB shootdown on every core that
 * runs the process: at 4,000 held turns 7.5% of the CPU samples. What it gives back was touched
 * by synchronous work that ran deeper than the park, mostly SQLite (a read goes ~5 KB below its
 * caller) and curl (its socket action, between two waits). sched_call_deep runs such work on one
 * stack per loop instead, so a fiber's own stack only holds the frames down to where it parks,
 * and a park with nothing resident below it costs a mincore (no shootdown) instead of a madvise.
 * The deep stack is entered like a fiber (setcontext on first_uc the first time, then
 * _setjmp/_longjmp; swapcontext under TSan) and runs one call at a time: a call from a call runs
 * in place, and a wait in a call aborts (the mutex rule's hold), as the call's frames are not the
 * fiber's to keep. */

/* Makes uc the context that enters entry on the stack of map (a guard page, then stack_size
 * bytes): a fiber's (at fiber_main) or a loop's deep stack (at deep_main). */
static void entry_context(ucontext_t *uc, void *map, size_t stack_size, void (*entry)(void))
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    getcontext(uc);
    uc->uc_stack.ss_sp = (char *)map + page;
    uc->uc_stack.ss_size = stack_size;
    uc->uc_link = NULL;
    makecontext(uc, entry, 0);
}

static void deep_main(void);

/* The deep stack of loop l, mapped at its first use; NULL when it cannot be mapped. */
static void *deep_stack(struct loop *l)
{
    if (l->deep_map)
        return l->deep_map;
    size_t len;
    l->deep_map = stack_get(l, &len);
    if (!l->deep_map)
        return NULL;
#if !SCHED_JMP
    entry_context(&l->deep_uc, l->deep_map, l->s->stack_size, deep_main);
#endif
    return l->deep_map;
}

/* Switches from the running fiber to l's deep stack; returns when the call there is done. */
static __attribute__((noinline)) void switch_to_deep(struct loop *l)
{
#if SCHED_JMP
    if (_setjmp(l->deep_ret) == 0) {
        if (l->deep_started)
            _longjmp(l->deep_jb, 1);
        l->deep_started = 1;
        entry_context(&l->first_uc, l->deep_map, l->s->stack_size, deep_main);
        setcontext(&l->first_uc);
        abort(); /* setcontext does not return unless it failed */
    }
#else
    swapcontext(&l->deep_ret, &l->deep_uc);
#endif
}

/* The deep stack's only frame below its entry: runs each call, then switches back. */
static void deep_main(void)
{
    struct loop *l = cur_loop;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    switch_finish(NULL, NULL, NULL);
    for (;;) {
        l->deep_fn(l->deep_ud);
        struct fiber *f = l->cur;
        switch_start(&l->deep_fake, (char *)f->stack + page, l->s->stack_size);
#if SCHED_JMP
        if (_setjmp(l->deep_jb) == 0)
            _longjmp(l->deep_ret, 1);
#else
        swapcontext(&l->deep_uc, &l->deep_ret);
#endif
        switch_finish(l->deep_fake, NULL, NULL);
    }
}

void sched_call_deep(sched_fn fn, void *ud)
{
    struct loop *l = cur_loop;
    struct fiber *f = l ? l->cur : NULL;
    sched_hold_begin(); /* no wait in fn, wherever it runs */
    if (!f || l->deep_fn || !deep_stack(l)) {
        fn(ud); /* off a fiber, already on the deep stack, or no stack for it: in place */
    } else {
        size_t page = (size_t)sysconf(_SC_PAGESIZE);
        void *fake = NULL;
        l->deep_fn = fn;
        l->deep_ud = ud;
        switch_start(&fake, (char *)l->deep_map + page, l->s->stack_size);
        switch_to_deep(l);
        switch_finish(fake, NULL, NULL);
        l->deep_fn = NULL;
    }
    sched_hold_end();
}

/* Switches from the running fiber f back to its loop; returns when the loop runs f again. */
static __attribute__((noinline)) void switch_to_loop(struct loop *l, struct fiber *f)
{
    f->park_frame = (uintptr_t)__builtin_frame_address(0);
#if SCHED_JMP
    if (_setjmp(f->jb) == 0)
        _longjmp(l->jb, 1);
#else
    swapcontext(&f->uc, &l->uc);
#endif
}

static void fiber_main(void);

/* Switches from loop l to fiber f; returns when f switches back (parked or done). */
static __attribute__((noinline)) void switch_to_fiber(struct loop *l, struct fiber *f)
{
#if SCHED_JMP
    if (_setjmp(l->jb) == 0) {
        if (f->started)
            _longjmp(f->jb, 1);
        f->started = 1;
        count(&l->entries);
        entry_context(&l->first_uc, f->stack, l->s->stack_size, fiber_main);
        setcontext(&l->first_uc);
        abort(); /* setcontext does not return unless it failed */
    }
#else
    swapcontext(&l->uc, &f->uc);
#endif
}

/* Parks the running fiber until a waker claims it; timeout_ms >= 0 arms its timer. Returns what
 * woke it. The caller registered the fiber with its fd or event before. */
static enum wake fiber_park(struct fiber *f, int timeout_ms)
{
    struct loop *l = f->loop;
    assert(f->locals.hold == 0 && "a task parked while holding a lock (see sched.h)");
    int64_t now = clock_mono_ms();
    if (timeout_ms >= 0) {
        f->deadline = now + timeout_ms;
        heap_add(l, f);
    }
    f->parked_ms = now;
    dlist_push_tail(&l->pk, &f->pk);
    switch_start(&f->asan_fake, l->stack_bottom, l->stack_size_asan);
    switch_to_loop(l, f);
    switch_finish(f->asan_fake, &l->stack_bottom, &l->stack_size_asan);
    heap_remove(l, f);
    dlist_unlink(&f->pk); /* unless stacks_release_due took it off already */
    return f->why;
}

/* A fiber stack's only frame below its entry: runs the task of the loop's current fiber, then
 * switches back done. A stack is entered by setcontext only once: a done fiber's stack goes into
 * the cache with the jmp_buf of that last switch (fiber_reentry), and a fiber started later on it
 * is entered there, back in this loop, for its own task (getcontext and setcontext each cost a
 * rt_sigprocmask call: 1.4% of a new-session turn's CPU samples). */
static void fiber_main(void)
{
    struct loop *l = cur_loop; /* a stack stays with its loop */
    for (;;) {
        struct fiber *f = l->cur;
        switch_finish(NULL, &l->stack_bottom, &l->stack_size_asan);
        f->fn(f->ud);
        f->done = 1;
        switch_start(NULL, l->stack_bottom, l->stack_size_asan); /* this task's stack is done */
        switch_to_loop(l, f);
    }
}

/* The jmp_buf at which done fiber f's fiber_main waits for a next task on its stack, or NULL when
 * its stack cannot keep it: it never switched by _setjmp, or its frames reach below the top page,
 * the one a cached stack keeps when its other pages are given back (stacks_cache_release_due). */
static jmp_buf *fiber_reentry(struct loop *l, struct fiber *f)
{
#if SCHED_JMP
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t top = (uintptr_t)f->stack + page + l->s->stack_size;
    if (f->started && f->park_frame - PARK_SLACK >= top - page && f->park_frame < top)
        return &f->jb;
#else
    (void)l, (void)f;
#endif
    return NULL;
}

static void task_done(struct sched *s)
{
    pthread_mutex_lock(&s->mu);
    if (--s->pending == 0)
        pthread_cond_broadcast(&s->idle);
    pthread_mutex_unlock(&s->mu);
}

/* Starts task t on a new fiber of loop l (the loop's thread only). Returns the fiber, or NULL
 * when no stack could be mapped and the task already ran to its end unparked. */
static struct fiber *fiber_start(struct loop *l, struct task *t)
{
    struct fiber *f = xcalloc(1, sizeof *f);
#if SCHED_JMP
    f->stack = stack_get_entered(l, &f->map_len, &f->started, &f->jb);
#else
    f->stack = stack_get(l, &f->map_len);
#endif
    if (!f->stack) {
        /* Out of address space or map count: run the task on the loop's own stack rather than
         * drop it; its waits then block this loop (logged, as it is a capacity problem). */
        log_at(LL_ERROR, "sched", "cannot map a fiber stack: %s; running the task unparked",
               strerror(errno));
        free(f);
        t->fn(t->ud);
        task_done(l->s);
        return NULL;
    }
    f->fn = t->fn;
    f->ud = t->ud;
    f->loop = l;
    f->heap_at = -1;
#if !SCHED_JMP
    entry_context(&f->uc, f->stack, l->s->stack_size, fiber_main);
    count(&l->entries);
#endif
    count(&l->fibers);
    l->live++;
    ready_push(l, f);
    return f;
}

static void fiber_run(struct loop *l, struct fiber *f)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    void *fake = NULL;
    l->cur = f;
    switch_start(&fake, (char *)f->stack + page, l->s->stack_size);
    switch_to_fiber(l, f);
    switch_finish(fake, NULL, NULL);
    l->cur = NULL;
    if (f->done) {
        stack_put_entered(l, f->stack, f->map_len, fiber_reentry(l, f));
        free(f);
        l->live--;
        task_done(l->s);
    }
}

/* ---- The loop ------------------------------------------------------------------------------- */

static int loop_timeout(struct loop *l)
{
    if (l->ready || l->backlog)
        return 0;
    int trim = l->n_stacks > STACKS_KEPT, spare = stacks_unreleased(l);
    struct fiber *pk = pk_first(l);
    if (l->n_heap == 0 && !pk && !trim)
        return -1;
    int64_t now = clock_mono_ms(), d = 60000;
    if (l->n_heap > 0 && l->heap[0]->deadline - now < d)
        d = l->heap[0]->deadline - now;
    if (pk && pk->parked_ms + RELEASE_AFTER_MS - now < d)
        d = pk->parked_ms + RELEASE_AFTER_MS - now;
    if (trim && l->stacks_ms + STACKS_TRIM_MS - now < d)
        d = l->stacks_ms + STACKS_TRIM_MS - now;
    if (spare >= 0 && l->stacks[spare].put_ms + RELEASE_AFTER_MS - now < d)
        d = l->stacks[spare].put_ms + RELEASE_AFTER_MS - now;
    return d < 0 ? 0 : (int)d;
}

/* Queues the fibers other threads woke and starts at most START_MAX new tasks, in submit order.
 * A loop turn runs every woken fiber, so under more load than the CPU carries the turns already
 * started (a turn back from its model call) go before new ones: started turns finish at the rate
 * the CPU allows and the rest wait in the inbox without a fiber, instead of thousands of turns
 * all starting at once and all finishing late together (with a stack and state each). */
static void loop_take_inbox(struct loop *l)
{
    pthread_mutex_lock(&l->mu);
    struct task *t = l->inbox, *last = NULL;
    int taken = 0;
    for (struct task *p = t; p && taken < START_MAX; p = p->next, taken++)
        last = p;
    if (last) {
        l->inbox = last->next;
        last->next = NULL;
        if (!l->inbox)
            l->inbox_tail = NULL;
    }
    l->backlog = l->inbox != NULL;
    struct fiber *r = l->remote;
    l->remote = NULL;
    pthread_mutex_unlock(&l->mu);
    while (r) {
        struct fiber *n = r->next;
        ready_push(l, r);
        r = n;
    }
    while (t) {
        struct task *n = t->next;
        fiber_start(l, t);
        free(t);
        t = n;
    }
}

static void *loop_main(void *arg)
{
    struct loop *l = arg;
    struct sched *s = l->s;
    cur_loop = l;
    struct epoll_event evs[EVENTS_MAX];
    for (;;) {
        loop_take_inbox(l);
        while (l->ready) {
            struct fiber *f = l->ready;
            l->ready = f->next;
            if (!l->ready)
                l->ready_tail = NULL;
            fiber_run(l, f);
        }
        if (atomic_load(&s->exiting) && l->live == 0) {
            pthread_mutex_lock(&l->mu);
            int empty = !l->inbox && !l->remote;
            pthread_mutex_unlock(&l->mu);
            if (empty)
                break;
        }
        int timeout = loop_timeout(l);
        if (timeout != 0) { /* going to sleep, unless a push came since the last take */
            pthread_mutex_lock(&l->mu);
            if (l->inbox || l->remote)
                timeout = 0;
            else
                l->asleep = 1;
            pthread_mutex_unlock(&l->mu);
        }
        int n = epoll_wait(l->epfd, evs, EVENTS_MAX, timeout);
        if (timeout != 0) {
            pthread_mutex_lock(&l->mu);
            l->asleep = 0;
            pthread_mutex_unlock(&l->mu);
        }
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == l) {
                uint64_t v;
                ssize_t r = read(l->evfd, &v, sizeof v);
                (void)r;
                continue;
            }
            unsigned e = evs[i].events;
            int rev = ((e & EPOLLIN) ? POLLIN : 0) | ((e & EPOLLOUT) ? POLLOUT : 0) |
                      ((e & EPOLLERR) ? POLLERR : 0) | ((e & EPOLLHUP) ? POLLHUP : 0) |
                      ((e & EPOLLPRI) ? POLLPRI : 0);
            fiber_wake(evs[i].data.ptr, WAKE_FD, rev);
        }
        int64_t now = clock_mono_ms();
        while (l->n_heap > 0 && l->heap[0]->deadline <= now) {
            struct fiber *f = l->heap[0];
            heap_remove(l, f);
            fiber_wake(f, WAKE_TIMER, 0);
        }
        stacks_release_due(l, now);
        stacks_cache_release_due(l, now);
        stacks_trim_due(l, now);
    }
    cur_loop = NULL;
    int last = 0;
    pthread_mutex_lock(&s->mu);
    if (s->detached)
        last = --s->loops_left == 0;
    pthread_mutex_unlock(&s->mu);
    if (last)
        sched_free(s);
    return NULL;
}

/* ---- Lifecycle ------------------------------------------------------------------------------ */

static void sched_free(struct sched *s)
{
    for (int i = 0; i < s->n_loops; i++) {
        struct loop *l = &s->loops[i];
        stacks_unmap(l, 0);
        if (l->deep_map)
            munmap(l->deep_map, s->stack_size + (size_t)sysconf(_SC_PAGESIZE));
        free(l->stacks);
        free(l->heap);
        close(l->epfd);
        close(l->evfd);
        pthread_mutex_destroy(&l->mu);
    }
    free(s->loops);
    pthread_cond_destroy(&s->idle);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

struct sched *sched_start(int nthreads, size_t stack_size, struct err *err)
{
    if (nthreads < 1) {
        err_set(err, "InvalidArgument", "sched_start: nthreads must be at least 1");
        return NULL;
    }
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    struct sched *s = xcalloc(1, sizeof *s);
    s->stack_size = stack_size ? (stack_size + page - 1) / page * page : STACK_DEFAULT;
    s->loops = xcalloc((size_t)nthreads, sizeof *s->loops);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->idle, NULL);
    int started = 0;
    for (int i = 0; i < nthreads; i++) {
        struct loop *l = &s->loops[i];
        l->s = s;
        dlist_init(&l->pk);
        pthread_mutex_init(&l->mu, NULL);
        l->stacks = xcalloc(STACKS_CACHED, sizeof *l->stacks);
        l->epfd = epoll_create1(EPOLL_CLOEXEC);
        l->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        s->n_loops++;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = l};
        if (l->epfd < 0 || l->evfd < 0 || epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->evfd, &ev) != 0) {
            err_set(err, "InternalError", "sched_start: cannot create an event loop: %s",
                    strerror(errno));
            goto fail;
        }
    }
    for (; started < nthreads; started++)
        if (pthread_create(&s->loops[started].th, NULL, loop_main, &s->loops[started]) != 0) {
            err_set(err, "InternalError", "sched_start: cannot start a thread");
            goto fail;
        }
    return s;
fail:
    atomic_store(&s->exiting, 1);
    for (int i = 0; i < started; i++) {
        loop_poke(&s->loops[i]);
        pthread_join(s->loops[i].th, NULL);
    }
    sched_free(s);
    return NULL;
}

int sched_submit(struct sched *s, sched_fn fn, void *ud)
{
    if (atomic_load(&s->stopping))
        return -1;
    pthread_mutex_lock(&s->mu);
    int refused = atomic_load(&s->stopping);
    if (!refused)
        s->pending++;
    pthread_mutex_unlock(&s->mu);
    if (refused)
        return -1;
    struct task *t = xcalloc(1, sizeof *t);
    t->fn = fn;
    t->ud = ud;
    struct loop *l = &s->loops[atomic_fetch_add(&s->next_loop, 1) % (unsigned)s->n_loops];
    pthread_mutex_lock(&l->mu);
    if (l->inbox_tail)
        l->inbox_tail->next = t;
    else
        l->inbox = t;
    l->inbox_tail = t;
    int poke = loop_must_poke(l);
    pthread_mutex_unlock(&l->mu);
    if (poke)
        loop_poke(l);
    return 0;
}

int sched_pending(const struct sched *s)
{
    struct sched *m = (struct sched *)s;
    pthread_mutex_lock(&m->mu);
    int n = m->pending;
    pthread_mutex_unlock(&m->mu);
    return n;
}

int sched_stop(struct sched *s, int grace_ms)
{
    if (!s)
        return 0;
    assert(!cur_loop && "sched_stop() from a scheduler thread");
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += grace_ms / 1000;
    until.tv_nsec += (long)(grace_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&s->mu);
    atomic_store(&s->stopping, 1);
    while (s->pending > 0 && pthread_cond_timedwait(&s->idle, &s->mu, &until) != ETIMEDOUT) {
    }
    int left = s->pending;
    if (left > 0) { /* the loops finish their tasks on their own; the last one out frees s */
        s->detached = 1;
        s->loops_left = s->n_loops;
    }
    atomic_store(&s->exiting, 1);
    pthread_mutex_unlock(&s->mu);
    for (int i = 0; i < s->n_loops; i++) {
        pthread_t th = s->loops[i].th;
        loop_poke(&s->loops[i]);
        if (left > 0)
            pthread_detach(th);
        else
            pthread_join(th, NULL);
    }
    if (left == 0)
        sched_free(s);
    else
        log_at(LL_WARN, "sched", "%d task(s) still running after %d ms of grace", left, grace_ms);
    return left;
}

/* ---- Waits ---------------------------------------------------------------------------------- */

static struct fiber *cur_fiber(void)
{
    return cur_loop ? cur_loop->cur : NULL;
}

void sched_stats_get(const struct sched *s, struct sched_stats *out)
{
    out->fibers = out->entries = 0;
    for (int i = 0; i < s->n_loops; i++) { /* each loop's own counters, summed as they are now */
        struct loop *l = &s->loops[i];
        out->fibers += atomic_load_explicit(&l->fibers, memory_order_relaxed);
        out->entries += atomic_load_explicit(&l->entries, memory_order_relaxed);
    }
}

int sched_in_task(void)
{
    return cur_fiber() != NULL;
}

int sched_spawn(sched_fn fn, void *ud)
{
    struct fiber *parent = cur_fiber();
    if (!parent)
        return -1;
    struct loop *l = parent->loop;
    pthread_mutex_lock(&l->s->mu);
    l->s->pending++; /* counted like a submitted task, so sched_stop() waits for it too */
    pthread_mutex_unlock(&l->s->mu);
    struct task t = {.fn = fn, .ud = ud};
    struct fiber *f = fiber_start(l, &t);
    if (f) { /* the child sees the parent's task-local slots as they are now */
        memcpy(f->locals.keys, parent->locals.keys, sizeof f->locals.keys);
        memcpy(f->locals.vals, parent->locals.vals, sizeof f->locals.vals);
    }
    return 0;
}

/* epoll's one-shot events for poll events. */
static uint32_t epoll_oneshot(short events)
{
    return EPOLLONESHOT | ((events & POLLIN) ? EPOLLIN : 0) | ((events & POLLOUT) ? EPOLLOUT : 0) |
           ((events & POLLPRI) ? EPOLLPRI : 0);
}

/* Arms fd for one event on l for f. A descriptor this loop waited on before stays registered,
 * disarmed, once its one-shot event fired (a wait that ends on its descriptor removes nothing:
 * that was two epoll_ctl calls a wait, 5% of a held turn's CPU at 4,000 connections), so it is
 * re-armed in one call; one closed since left the set with its last descriptor, and a new one
 * that took its number is added. Returns 0, or -1 with errno from EPOLL_CTL_ADD. */
static int fd_arm(struct loop *l, int fd, short events, struct fiber *f)
{
    struct epoll_event ee = {.events = epoll_oneshot(events), .data.ptr = f};
    if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ee) == 0)
        return 0;
    if (errno != ENOENT)
        return -1;
    return epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ee);
}

/* After a wait armed with fd_arm: a wait that ended otherwise than on its descriptor (a timer,
 * an event) leaves the registration armed for a fiber that no longer waits, so it goes. */
static void fd_disarm(struct loop *l, int fd, enum wake why)
{
    if (why != WAKE_FD)
        epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
}

int sched_wait_fd(int fd, short events, int timeout_ms)
{
    struct fiber *f = cur_fiber();
    if (!f) {
        assert(thread_locals.hold == 0 && "a wait while holding a lock (see sched.h)");
        struct pollfd p = {.fd = fd, .events = events};
        int rc;
        while ((rc = poll(&p, 1, timeout_ms)) < 0 && errno == EINTR) {
        }
        return rc > 0 ? p.revents : rc;
    }
    atomic_store(&f->waiting, 1);
    if (fd_arm(f->loop, fd, events, f) != 0) {
        atomic_store(&f->waiting, 0);
        if (errno == EPERM) /* a regular file: always ready */
            return events & (POLLIN | POLLOUT);
        return -1;
    }
    enum wake why = fiber_park(f, timeout_ms);
    fd_disarm(f->loop, fd, why);
    return why == WAKE_FD ? f->revents : 0;
}

void sched_sleep_ms(long ms)
{
    if (ms <= 0)
        return;
    struct fiber *f = cur_fiber();
    if (!f) {
        assert(thread_locals.hold == 0 && "a wait while holding a lock (see sched.h)");
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        }
        return;
    }
    atomic_store(&f->waiting, 1);
    fiber_park(f, ms > 0x7fffffffL ? 0x7fffffff : (int)ms);
}

/* ---- Events --------------------------------------------------------------------------------- */

struct sched_event {
    pthread_mutex_t mu;    /* guards the fields below */
    pthread_cond_t cond;   /* off-fiber waiters */
    int set;               /* signalled and not consumed */
    struct fiber *waiters; /* parked fibers, in order of arrival (linked by ev_next/ev_prev) */
    struct fiber *last;    /* the last of them: joining is O(1) with thousands waiting */
};

struct sched_event *sched_event_new(void)
{
    struct sched_event *ev = xcalloc(1, sizeof *ev);
    pthread_mutex_init(&ev->mu, NULL);
    pthread_cond_init(&ev->cond, NULL);
    return ev;
}

void sched_event_free(struct sched_event *ev)
{
    if (!ev)
        return;
    /* The signal that woke the last waiter may still be leaving sched_event_signal (its fiber can
     * run on another thread before the signaller unlocks mu): let it leave first. */
    pthread_mutex_lock(&ev->mu);
    pthread_mutex_unlock(&ev->mu);
    pthread_cond_destroy(&ev->cond);
    pthread_mutex_destroy(&ev->mu);
    free(ev);
}

/* Puts f last on ev's waiter list (ev->mu held). */
static void event_join(struct sched_event *ev, struct fiber *f)
{
    assert(!f->ev_listed);
    f->ev_next = NULL;
    f->ev_prev = ev->last;
    if (ev->last)
        ev->last->ev_next = f;
    else
        ev->waiters = f;
    ev->last = f;
    f->ev_listed = 1;
}

/* Takes f off ev's waiter list (ev->mu held); nothing if it is not on it. */
static void event_unlink(struct sched_event *ev, struct fiber *f)
{
    if (!f->ev_listed)
        return;
    if (f->ev_prev)
        f->ev_prev->ev_next = f->ev_next;
    else
        ev->waiters = f->ev_next;
    if (f->ev_next)
        f->ev_next->ev_prev = f->ev_prev;
    else
        ev->last = f->ev_prev;
    f->ev_next = f->ev_prev = NULL;
    f->ev_listed = 0;
}

/* Takes f off ev's waiter list if the signaller did not take it (after a wait that something
 * else ended). */
static void event_leave(struct sched_event *ev, struct fiber *f)
{
    pthread_mutex_lock(&ev->mu);
    event_unlink(ev, f);
    pthread_mutex_unlock(&ev->mu);
}

void sched_event_signal(struct sched_event *ev)
{
    pthread_mutex_lock(&ev->mu);
    int handed = 0;
    /* Hand the signal to the first parked fiber whose claim succeeds; one that lost its claim
     * to its timer is leaving the list on its own. Claims happen under ev->mu, so a fiber on the
     * list cannot have finished its wait yet. */
    while (ev->waiters && !handed) {
        struct fiber *f = ev->waiters;
        event_unlink(ev, f);
        handed = fiber_wake(f, WAKE_EVENT, 0);
    }
    if (!handed) {
        ev->set = 1;
        pthread_cond_broadcast(&ev->cond);
    }
    pthread_mutex_unlock(&ev->mu);
}

static int event_wait_thread(struct sched_event *ev, int timeout_ms)
{
    assert(thread_locals.hold == 0 && "a wait while holding a lock (see sched.h)");
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
    pthread_mutex_lock(&ev->mu);
    int rc = 0;
    while (!ev->set && rc != ETIMEDOUT)
        rc = timeout_ms < 0 ? pthread_cond_wait(&ev->cond, &ev->mu)
                            : pthread_cond_timedwait(&ev->cond, &ev->mu, &until);
    int got = ev->set;
    ev->set = 0;
    pthread_mutex_unlock(&ev->mu);
    return got;
}

int sched_event_wait(struct sched_event *ev, int timeout_ms)
{
    struct fiber *f = cur_fiber();
    if (!f)
        return event_wait_thread(ev, timeout_ms);
    pthread_mutex_lock(&ev->mu);
    if (ev->set || timeout_ms == 0) {
        int got = ev->set;
        ev->set = 0;
        pthread_mutex_unlock(&ev->mu);
        return got;
    }
    event_join(ev, f);
    atomic_store(&f->waiting, 1);
    pthread_mutex_unlock(&ev->mu);
    enum wake why = fiber_park(f, timeout_ms);
    if (why == WAKE_EVENT)
        return 1;
    event_leave(ev, f);
    return 0;
}

int sched_wait_fd_event(int fd, short events, struct sched_event *ev, int timeout_ms,
                        int *signalled)
{
    struct fiber *f = cur_fiber();
    *signalled = 0;
    pthread_mutex_lock(&ev->mu);
    if (ev->set) {
        ev->set = 0;
        pthread_mutex_unlock(&ev->mu);
        *signalled = 1;
        return 0;
    }
    if (!f) {
        pthread_mutex_unlock(&ev->mu);
        return sched_wait_fd(fd, events, timeout_ms);
    }
    event_join(ev, f);
    atomic_store(&f->waiting, 1);
    pthread_mutex_unlock(&ev->mu);
    if (fd_arm(f->loop, fd, events, f) != 0) {
        int e = errno;
        if (atomic_exchange(&f->waiting, 0) == 1) { /* nobody claimed us: leave and say why */
            event_leave(ev, f);
            errno = e;
            return e == EPERM ? (events & (POLLIN | POLLOUT)) : -1;
        }
        fiber_park(f, -1); /* the signal claimed us and queued our run: take it */
        *signalled = 1;
        return 0;
    }
    enum wake why = fiber_park(f, timeout_ms);
    fd_disarm(f->loop, fd, why);
    if (why == WAKE_EVENT) {
        *signalled = 1;
        return 0;
    }
    event_leave(ev, f);
    return why == WAKE_FD ? f->revents : 0;
}

/* ---- A lock held across waits -------------------------------------------------------------- */

struct sched_mutex {
    pthread_mutex_t mu;     /* guards held and waiters; never held across a wait */
    int held;               /* someone owns the lock */
    int waiters;            /* tasks or threads waiting for it */
    struct sched_event *ev; /* signalled on unlock when someone waits */
};

struct sched_mutex *sched_mutex_new(void)
{
    struct sched_mutex *m = xcalloc(1, sizeof *m);
    pthread_mutex_init(&m->mu, NULL);
    m->ev = sched_event_new();
    return m;
}

void sched_mutex_free(struct sched_mutex *m)
{
    if (!m)
        return;
    assert(!m->held);
    sched_event_free(m->ev);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

void sched_mutex_lock(struct sched_mutex *m)
{
    pthread_mutex_lock(&m->mu);
    while (m->held) {
        m->waiters++;
        pthread_mutex_unlock(&m->mu);
        /* A signal meant for another waiter may wake us instead: we then find the lock taken
         * and wait again; the bounded wait covers a signal consumed by a waiter that lost. */
        sched_event_wait(m->ev, 100);
        pthread_mutex_lock(&m->mu);
        m->waiters--;
    }
    m->held = 1;
    pthread_mutex_unlock(&m->mu);
}

void sched_mutex_unlock(struct sched_mutex *m)
{
    pthread_mutex_lock(&m->mu);
    assert(m->held);
    m->held = 0;
    int wake = m->waiters > 0;
    pthread_mutex_unlock(&m->mu);
    if (wake)
        sched_event_signal(m->ev);
}

/* ---- Task-local storage and the mutex rule -------------------------------------------------- */

static struct locals *cur_locals(void)
{
    struct fiber *f = cur_fiber();
    return f ? &f->locals : &thread_locals;
}

void *sched_local_get(const void *key)
{
    struct locals *lc = cur_locals();
    for (int i = 0; i < SCHED_LOCALS_MAX; i++)
        if (lc->keys[i] == key)
            return lc->vals[i];
    return NULL;
}

void sched_local_set(const void *key, void *value)
{
    struct locals *lc = cur_locals();
    int free_at = -1;
    for (int i = 0; i < SCHED_LOCALS_MAX; i++) {
        if (lc->keys[i] == key) {
            lc->vals[i] = value;
            return;
        }
        if (!lc->keys[i] && free_at < 0)
            free_at = i;
    }
    assert(free_at >= 0 && "more than SCHED_LOCALS_MAX task-local keys");
    if (free_at >= 0 && value) {
        lc->keys[free_at] = key;
        lc->vals[free_at] = value;
    }
}

void sched_hold_begin(void)
{
    cur_locals()->hold++;
}

void sched_hold_end(void)
{
    struct locals *lc = cur_locals();
    assert(lc->hold > 0);
    lc->hold--;
}
