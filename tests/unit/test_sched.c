/* test_sched.c - the fiber scheduler: thousands of tasks parked on timers, events and fds on two
 * threads, submits from foreign threads, stop with grace, waits off a fiber, task-local storage,
 * the mutex rule, a wait on a socket or an event, and a parked fiber's unused stack pages given
 * back, the stack cache kept over a burst and trimmed after. No timing assertions:
 * parking is proven by how many tasks wait at once. */
#include "base/sched.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/xmalloc.h"
#include "check.h"

static atomic_int inside;   /* tasks currently parked in a wait */
static atomic_int most;     /* high-water mark of inside */
static atomic_int finished; /* tasks that ran to the end */
static atomic_int wrong;    /* tasks that saw a wrong result */

static void reset(void)
{
    atomic_store(&inside, 0);
    atomic_store(&most, 0);
    atomic_store(&finished, 0);
    atomic_store(&wrong, 0);
}

static void enter(void)
{
    int n = atomic_fetch_add(&inside, 1) + 1;
    int m = atomic_load(&most);
    while (n > m && !atomic_compare_exchange_weak(&most, &m, n)) {
    }
}

static void leave(void)
{
    atomic_fetch_sub(&inside, 1);
}

/* Waits (bounded) until `finished` reaches n. */
static void wait_finished(int n)
{
    for (int i = 0; i < 6000 && atomic_load(&finished) < n; i++)
        usleep(10000);
}

/* ---- Timers --------------------------------------------------------------------------------- */

static int key_a, key_b;

static void sleeper(void *ud)
{
    long ms = (long)(intptr_t)ud;
    if (!sched_in_task())
        atomic_fetch_add(&wrong, 1);
    sched_local_set(&key_a, ud);
    enter();
    sched_sleep_ms(ms);
    leave();
    if (sched_local_get(&key_a) != ud || sched_local_get(&key_b) != NULL)
        atomic_fetch_add(&wrong, 1); /* another task's slot leaked into ours across the park */
    atomic_fetch_add(&finished, 1);
}

static void test_thousands_of_sleeps_on_two_threads(void)
{
    reset();
    struct err err = {0};
    struct sched *s = sched_start(2, 0, &err);
    if (!check_require("scheduler started", s != NULL))
        return;
    enum { N = 3000 };
    for (int i = 0; i < N; i++)
        CHECK_INT(sched_submit(s, sleeper, (void *)(intptr_t)(200 + i % 50)), 0);
    CHECK_INT(sched_stop(s, 120000), 0);
    CHECK_INT(atomic_load(&finished), N);
    CHECK_INT(atomic_load(&wrong), 0);
    /* With blocking sleeps two threads could hold at most two tasks asleep at once. A loop
     * starts at most START_MAX new tasks per turn (woken ones first), so under ASan on a loaded
     * machine the first sleepers wake before the last ones start: about 1,100-1,600 of the 3,000
     * are asleep together there, all of them when starting is fast. */
    CHECK(atomic_load(&most) > N / 10);
    printf("# most asleep at once: %d of %d\n", atomic_load(&most), N);
}

/* ---- Events --------------------------------------------------------------------------------- */

struct ev_case {
    struct sched_event *ev;
    int got; /* what sched_event_wait returned */
};

static void event_waiter(void *ud)
{
    struct ev_case *c = ud;
    enter();
    c->got = sched_event_wait(c->ev, 120000);
    leave();
    atomic_fetch_add(&finished, 1);
}

static void test_events_signalled_from_a_foreign_thread(void)
{
    reset();
    struct err err = {0};
    struct sched *s = sched_start(2, 0, &err);
    if (!check_require("scheduler started", s != NULL))
        return;
    enum { N = 2000 };
    struct ev_case *cs = xcalloc(N, sizeof *cs);
    for (int i = 0; i < N; i++) {
        cs[i].ev = sched_event_new();
        cs[i].got = -1;
        if (i % 10 == 0)
            sched_event_signal(cs[i].ev); /* before the wait: must not be lost */
        CHECK_INT(sched_submit(s, event_waiter, &cs[i]), 0);
    }
    for (int i = 0; i < 3000 && atomic_load(&inside) < N - N / 10; i++)
        usleep(10000);
    CHECK(atomic_load(&inside) >= N - N / 10); /* all unsignalled ones parked at once */
    for (int i = 0; i < N; i++)
        if (i % 10 != 0)
            sched_event_signal(cs[i].ev);
    CHECK_INT(sched_stop(s, 120000), 0);
    int ones = 0;
    for (int i = 0; i < N; i++) {
        ones += cs[i].got == 1;
        sched_event_free(cs[i].ev);
    }
    CHECK_INT(ones, N);
    free(cs);
}

static void event_timeout_task(void *ud)
{
    struct ev_case *c = ud;
    c->got = sched_event_wait(c->ev, 30);
    int again = sched_event_wait(c->ev, 0);
    if (again != 0)
        atomic_fetch_add(&wrong, 1);
    atomic_fetch_add(&finished, 1);
}

static void test_event_wait_times_out_in_a_task(void)
{
    reset();
    struct err err = {0};
    struct sched *s = sched_start(1, 0, &err);
    if (!check_require("scheduler started", s != NULL))
        return;
    struct ev_case c = {sched_event_new(), -1};
    CHECK_INT(sched_submit(s, event_timeout_task, &c), 0);
    CHECK_INT(sched_stop(s, 60000), 0);
    CHECK_INT(c.got, 0);
    CHECK_INT(atomic_load(&wrong), 0);
    sched_event_signal(c.ev); /* a late signal stays set for the next wait */
    CHECK_INT(sched_event_wait(c.ev, 0), 1);
    sched_event_free(c.ev);
}

/* ---- File descriptors ----------------------------------------------------------------------- */

struct fd_case {
    int fds[2]; /* a pipe: the task waits on fds[0] */
    int got;    /* revents */
    char byte;  /* what it read */
};

static void fd_waiter(void *ud)
{
    struct fd_case *c = ud;
    enter();
    c->got = sched_wait_fd(c->fds[0], POLLIN, 120000);
    leave();
    if (c->got > 0 && read(c->fds[0], &c->byte, 1) != 1)
        c->byte = 0;
    atomic_fetch_add(&finished, 1);
}

static void fd_timeout_task(void *ud)
{
    struct fd_case *c = ud;
    c->got = sched_wait_fd(c->fds[0], POLLIN, 20);
    atomic_fetch_add(&finished, 1);
}

static void test_fds_parked_and_woken(void)
{
    reset();
    struct err err = {0};
    struct sched *s = sched_start(2, 0, &err);
    if (!check_require("scheduler started", s != NULL))
        return;
    enum { N = 300 };
    struct fd_case *cs = xcalloc(N + 1, sizeof *cs);
    for (int i = 0; i <= N; i++)
        check_require("pipe", pipe(cs[i].fds) == 0);
    for (int i = 0; i < N; i++)
        CHECK_INT(sched_submit(s, fd_waiter, &cs[i]), 0);
    CHECK_INT(sched_submit(s, fd_timeout_task, &cs[N]), 0);
    for (int i = 0; i < 3000 && atomic_load(&inside) < N; i++)
        usleep(10000);
    CHECK_INT(atomic_load(&inside), N);
    for (int i = 0; i < N; i++) {
        char b = (char)('a' + i % 26);
        CHECK_INT(write(cs[i].fds[1], &b, 1), 1);
    }
    CHECK_INT(sched_stop(s, 120000), 0);
    int good = 0;
    for (int i = 0; i < N; i++)
        good += (cs[i].got & POLLIN) && cs[i].byte == (char)('a' + i % 26);
    CHECK_INT(good, N);
    CHECK_INT(cs[N].got, 0); /* nothing written: timed out */
    for (int i = 0; i <= N; i++) {
        close(cs[i].fds[0]);
        close(cs[i].fds[1]);
    }
    free(cs);
}

/* One task waits on the same descriptor again and again: a wait ended by its descriptor leaves
 * it registered and disarmed (sched.c, fd_arm), so a byte arriving while the task sleeps on
 * something else must not wake it, and a later wait must see the byte; a timed-out wait removes
 * it (nor may a byte then wake a sleep); a pipe closed and remade with the same numbers is waited
 * on afresh. Each step records its result in reuse_got (-9: not reached). */
static int reuse_got[9];
static long reuse_slept_ms, reuse_slept2_ms;

static void fd_reuse_task(void *ud)
{
    (void)ud;
    int p[2];
    char b;
    if (pipe(p) != 0)
        return;
    int first = p[0];
    reuse_got[0] = (int)write(p[1], "a", 1) == 1 && (sched_wait_fd(p[0], POLLIN, 60000) & POLLIN);
    reuse_got[1] = read(p[0], &b, 1) == 1 && b == 'a';
    reuse_got[2] = (int)write(p[1], "b", 1) == 1; /* nobody waits: the registration is disarmed */
    int64_t t0 = clock_mono_ms();
    sched_sleep_ms(60);
    reuse_slept_ms = (long)(clock_mono_ms() - t0);
    reuse_got[3] = (sched_wait_fd(p[0], POLLIN, 60000) & POLLIN) && read(p[0], &b, 1) == 1 &&
                   b == 'b'; /* re-armed, and the byte that came meanwhile is seen */
    reuse_got[4] = sched_wait_fd(p[0], POLLIN, 20) == 0; /* nothing: times out, removed */
    reuse_got[5] = (int)write(p[1], "c", 1) == 1;        /* so this byte wakes nobody */
    t0 = clock_mono_ms();
    sched_sleep_ms(60);
    reuse_slept2_ms = (long)(clock_mono_ms() - t0);
    reuse_got[5] = reuse_got[5] && (sched_wait_fd(p[0], POLLIN, 60000) & POLLIN) &&
                   read(p[0], &b, 1) == 1 && b == 'c'; /* added again */
    close(p[0]);
    close(p[1]);
    if (pipe(p) != 0)
        return;
    reuse_got[6] = p[0] == first;                        /* the new pipe took the old numbers */
    reuse_got[7] = sched_wait_fd(p[0], POLLIN, 20) == 0; /* no stale event from the old pipe */
    reuse_got[8] = (int)write(p[1], "d", 1) == 1 && (sched_wait_fd(p[0], POLLIN, 60000) & POLLIN) &&
                   read(p[0], &b, 1) == 1 && b == 'd';
    close(p[0]);
    close(p[1]);
}

static void test_fd_waited_on_again(void)
{
    struct err err = {0};
    struct sched *s = sched_start(1, 0, &err);
    if (!check_require("scheduler started", s != NULL))
        return;
    for (int i = 0; i < 9; i++)
        reuse_got[i] = -9;
    CHECK_INT(sched_submit(s, fd_reuse_task, NULL), 0);
    CHECK_INT(sched_stop(s, 120000), 0);
    for (int i = 0; i < 9; i++)
        if (reuse_got[i] != 1)
            printf("# step %d: %d\n", i, reuse_got[i]);
    for (int i = 0; i < 9; i++)
        CHECK_INT(reuse_got[i], 1);
    CHECK(reuse_slept_ms >= 55); /* the bytes written before the sleeps did not end them */
    CHECK(reuse_slept2_ms >= 55);
}

/* ---- Foreign submitters and stop ------------------------------------------------------------ */

static void quick(void *ud)
{
    (void)ud;
    sched_sleep_ms(1);
    atomic_fetch_add(&finished, 1);
}

static void *submitter(void *arg)
{
    struct sched *s = arg;
    for (int i = 0; i < 500; i++)
        if (sched_submit(s, quick, NULL) != 0)
            atomic_fetch_add(&wrong, 1);
    return NULL;
}

static void test_submits_from_foreign_threads(void)
{
    reset();
    struct err err = {0};
    struct sched *s = sched_start(2, 64 * 1024 * 16, &err);
    if (!check_require("scheduler started", s != NULL))
        return;
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        check_require("thread", pthread_create(&th[i], NULL, submitter, s) == 0);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    CHECK_INT(sched_stop(s, 120000), 0);
    CHECK_INT(atomic_load(&finished), 2000);
    CHECK_INT(atomic_load(&wrong), 0);
}

static void test_stop_with_grace_leaves_parked_tasks_running(void)
{
    reset();
    struct err err = {0};
    CHECK(sched_start(0, 0, &err) == NULL);
    CHECK_STR(err.code, "InvalidArgument");
    struct sched *s = sched_start(2, 0, &err);
    if (!check_require("scheduler started", s != NULL))
        return;
    enum { N = 50 };
    struct ev_case cs[N];
    for (int i = 0; i < N; i++) {
        cs[i] = (struct ev_case){sched_event_new(), -1};
        CHECK_INT(sched_submit(s, event_waiter, &cs[i]), 0);
    }
    for (int i = 0; i < 3000 && atomic_load(&inside) < N; i++)
        usleep(10000);
    CHECK_INT(sched_stop(s, 50), N); /* the grace runs out with all of them parked */
    for (int i = 0; i < N; i++)
        sched_event_signal(cs[i].ev);
    wait_finished(N); /* the loops finish them, then free the scheduler themselves */
    CHECK_INT(atomic_load(&finished), N);
    usleep(200000); /* let the last loop thread free the scheduler before the leak check */
    int ones = 0;
    for (int i = 0; i < N; i++) {
        ones += cs[i].got == 1;
        sched_event_free(cs[i].ev);
    }
    CHECK_INT(ones, N);
    CHECK_INT(sched_stop(NULL, 0), 0);
}

/* ---- Off a fiber ---------------------------------------------------------------------------- */

struct signal_later {
    struct sched_event *ev;
    int fd;
};

static void *signal_later_main(void *arg)
{
    struct signal_later *sl = arg;
    usleep(20000);
    sched_event_signal(sl->ev);
    CHECK_INT(write(sl->fd, "x", 1), 1);
    return NULL;
}

static void test_waits_off_a_fiber_block(void)
{
    CHECK_INT(sched_in_task(), 0);
    int64_t t0 = clock_mono_us();
    sched_sleep_ms(20);
    CHECK(clock_mono_us() - t0 >= 20000);
    t0 = clock_mono_us();
    sched_sleep_ms(-5);
    CHECK(clock_mono_us() - t0 < 20000);
    struct sched_event *ev = sched_event_new();
    CHECK_INT(sched_event_wait(ev, 10), 0);
    int fds[2];
    check_require("pipe", pipe(fds) == 0);
    CHECK_INT(sched_wait_fd(fds[0], POLLIN, 10), 0);
    struct signal_later sl = {ev, fds[1]};
    pthread_t th;
    check_require("thread", pthread_create(&th, NULL, signal_later_main, &sl) == 0);
    CHECK_INT(sched_event_wait(ev, 60000), 1);
    CHECK(sched_wait_fd(fds[0], POLLIN, 60000) & POLLIN);
    pthread_join(th, NULL);
    close(fds[0]);
    close(fds[1]);
    sched_event_free(ev);
    sched_local_set(&key_b, &key_a); /* per thread off a fiber */
    CHECK(sched_local_get(&key_b) == &key_a);
    sched_local_set(&key_b, NULL);
    CHECK(sched_local_get(&key_b) == NULL);
}

/* ---- A lock held across waits ------------------------------------------------------------- */

static struct sched_mutex *shared_lock;
static int shared_count; /* read, park, write: a lost update shows a broken lock */

static void locked_increment(void *ud)
{
    (void)ud;
    sched_mutex_lock(shared_lock);
    int v = shared_count;
    sched_sleep_ms(1);
    shared_count = v + 1;
    sched_mutex_unlock(shared_lock);
    atomic_fetch_add(&finished, 1);
}

static void test_sched_mutex_excludes_across_parks(void)
{
    reset();
    shared_lock = sched_mutex_new();
    shared_count = 0;
    struct err err = {0};
    struct sched *s = sched_start(2, 0, &err);
    if (!check_require("scheduler started", s != NULL))
        return;
    enum { N = 200 };
    for (int i = 0; i < N; i++)
        CHECK_INT(sched_submit(s, locked_increment, NULL), 0);
    locked_increment(NULL); /* a plain thread contends too */
    CHECK_INT(sched_stop(s, 120000), 0);
    CHECK_INT(shared_count, N + 1);
    sched_mutex_free(shared_lock);
}

/* ---- The mutex rule ------------------------------------------------------------------------- */

static void hold_and_park(void *ud)
{
    (void)ud;
    sched_hold_begin();
    sched_sleep_ms(1); /* our bug: aborts */
    sched_hold_end();
}

/* 1 when task fn, run on a scheduler in a child process, aborts it (our bug caught). */
static int task_aborts(sched_fn fn)
{
    pid_t pid = fork();
    if (pid == 0) {
        struct err err = {0};
        struct sched *s = sched_start(1, 0, &err);
        sched_submit(s, fn, NULL);
        sched_stop(s, 5000);
        _exit(0);
    }
    if (!check_require("fork", pid > 0))
        return 0;
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT;
}

static void test_parking_while_holding_aborts(void)
{
    CHECK(task_aborts(hold_and_park));
    /* Balanced sections are fine. */
    sched_hold_begin();
    sched_hold_end();
    sched_sleep_ms(1);
    CHECK_INT(sched_in_task(), 0);
}

/* ---- A socket or an event ------------------------------------------------------------------ */

struct fe_case {
    int fd;                 /* read end of a pipe */
    struct sched_event *ev; /* the event */
    int timeout_ms;
    int rc, sig; /* what the wait returned */
};

static void fd_event_task(void *ud)
{
    struct fe_case *c = ud;
    enter();
    c->rc = sched_wait_fd_event(c->fd, POLLIN, c->ev, c->timeout_ms, &c->sig);
    leave();
    atomic_fetch_add(&finished, 1);
}

/* sched_wait_fd_event on one thread: ended by the event, by the fd, by the timeout, and by a
 * signal that came before the wait. */
static void test_wait_fd_or_event(void)
{
    reset();
    struct err err = {0};
    struct sched *s = sched_start(1, 0, &err);
    if (!check_require("scheduler started", s != NULL))
        return;
    int p[4][2];
    struct fe_case cs[4];
    for (int i = 0; i < 4; i++) {
        CHECK_INT(pipe(p[i]), 0);
        cs[i] = (struct fe_case){
            .fd = p[i][0], .ev = sched_event_new(), .timeout_ms = 60000, .rc = -2, .sig = -1};
    }
    cs[2].timeout_ms = 50;        /* ends by its timeout */
    sched_event_signal(cs[3].ev); /* signalled before the wait */
    for (int i = 0; i < 4; i++)
        CHECK_INT(sched_submit(s, fd_event_task, &cs[i]), 0);
    for (int i = 0; i < 6000 && atomic_load(&finished) < 2; i++) /* 2 and 3 end on their own */
        usleep(10000);
    for (int i = 0; i < 6000 && atomic_load(&inside) < 2; i++)
        usleep(10000);
    CHECK_INT(atomic_load(&inside), 2); /* 0 and 1 parked */
    sched_event_signal(cs[0].ev);
    CHECK_INT((int)write(p[1][1], "x", 1), 1);
    CHECK_INT(sched_stop(s, 120000), 0);
    CHECK_INT(cs[0].rc, 0);
    CHECK_INT(cs[0].sig, 1);
    CHECK(cs[1].rc > 0 && (cs[1].rc & POLLIN));
    CHECK_INT(cs[1].sig, 0);
    CHECK_INT(cs[2].rc, 0);
    CHECK_INT(cs[2].sig, 0);
    CHECK_INT(cs[3].rc, 0);
    CHECK_INT(cs[3].sig, 1);
    for (int i = 0; i < 4; i++) {
        close(p[i][0]);
        close(p[i][1]);
        sched_event_free(cs[i].ev);
    }
}

/* ---- Parked stacks -------------------------------------------------------------------------- */

#define DEEP_BYTES (96 * 1024) /* how deep the task goes before it parks */
#define NEAR_BYTES (16 * 1024) /* the top of that region, where the parking frames lie */

static uintptr_t deep_lo, deep_hi;  /* pages below the parking frames (set by the task) */
static struct sched_event *deep_go; /* lets the parked task go on */
static atomic_int deep_parked;      /* the task is about to park */
static atomic_int deep_before;      /* resident pages of the region before the park */
static atomic_int deep_after;       /* resident pages after it resumed and went deep again */
static atomic_int deep_ok;          /* its data and its live frame were right after the park */

/* Resident pages in [lo, hi), -1 on error. */
static int resident_pages(uintptr_t lo, uintptr_t hi)
{
    long page = sysconf(_SC_PAGESIZE);
    size_t n = (hi - lo) / (size_t)page;
    unsigned char vec[64];
    if (n == 0 || n > sizeof vec || mincore((void *)lo, hi - lo, vec) != 0)
        return -1;
    int r = 0;
    for (size_t i = 0; i < n; i++)
        r += vec[i] & 1;
    return r;
}

/* Writes a pattern over DEEP_BYTES of the real stack (alloca: never ASan's fake stack), records
 * the whole pages of it below its top NEAR_BYTES when record is set, and returns a checksum read
 * back from it. */
__attribute__((noinline)) static unsigned go_deep(unsigned seed, int record)
{
    volatile unsigned char *buf = __builtin_alloca(DEEP_BYTES);
    for (size_t i = 0; i < DEEP_BYTES; i++)
        buf[i] = (unsigned char)(seed + i * 7);
    if (record) {
        uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
        deep_lo = ((uintptr_t)buf + page - 1) & ~(page - 1);
        deep_hi = ((uintptr_t)buf + DEEP_BYTES - NEAR_BYTES) & ~(page - 1);
    }
    unsigned sum = 0;
    for (size_t i = 0; i < DEEP_BYTES; i += 61)
        sum = sum * 31 + buf[i];
    return sum;
}

/* Parks on deep_go from a frame of its own (below deep_then_park's). */
__attribute__((noinline)) static int park_elsewhere(void)
{
    volatile char pad[256];
    pad[0] = 1;
    atomic_store(&deep_parked, 3);
    int got = sched_event_wait(deep_go, 120000);
    return got + pad[0] - 1;
}

static void deep_then_park(void *ud)
{
    (void)ud;
    unsigned char live[512]; /* in the frame that parks: must survive the park */
    for (size_t i = 0; i < sizeof live; i++)
        live[i] = (unsigned char)(i * 13 + 1);
    unsigned first = go_deep(5, 1);
    atomic_store(&deep_before, resident_pages(deep_lo, deep_hi));
    atomic_store(&deep_parked, 1);
    int got = sched_event_wait(deep_go, 120000);
    unsigned again = go_deep(5, 0);
    atomic_store(&deep_after, resident_pages(deep_lo, deep_hi));
    /* Parks again in the same frame: released once per parking frame, so the pages stay. */
    atomic_store(&deep_parked, 2);
    got += sched_event_wait(deep_go, 120000);
    /* And then in another frame: released again. */
    got += park_elsewhere();
    int ok = got == 3 && first == again;
    for (size_t i = 0; i < sizeof live; i++)
        ok &= live[i] == (unsigned char)(i * 13 + 1);
    atomic_store(&deep_ok, ok);
    atomic_fetch_add(&finished, 1);
}

static int deep_released(void *ud)
{
    (void)ud;
    return resident_pages(deep_lo, deep_hi) == 0;
}

static int deep_is_parked(void *ud)
{
    return atomic_load(&deep_parked) == (int)(intptr_t)ud;
}

static void test_parked_stack_pages_are_released(void)
{
    reset();
    struct err err = {0};
    struct sched *s = sched_start(1, 0, &err);
    if (!check_require("scheduler started", s != NULL))
        return;
    deep_go = sched_event_new();
    CHECK_INT(sched_submit(s, deep_then_park, NULL), 0);
    CHECK(check_wait(deep_is_parked, (void *)1, 60000));
    int pages = (int)((deep_hi - deep_lo) / (uintptr_t)sysconf(_SC_PAGESIZE));
    CHECK(pages >= 16);
    CHECK_INT(atomic_load(&deep_before), pages); /* it really went deep */
    /* Parked on the event: the pages below its frame are gone (the park follows the flag). */
    CHECK(check_wait(deep_released, NULL, 60000));
    sched_event_signal(deep_go);
    /* Touched again and parked in the same frame: kept (a release would take 100 ms). */
    CHECK(check_wait(deep_is_parked, (void *)2, 60000));
    usleep(500 * 1000);
    CHECK_INT(resident_pages(deep_lo, deep_hi), pages);
    sched_event_signal(deep_go);
    /* Parked in another frame: released. */
    CHECK(check_wait(deep_is_parked, (void *)3, 60000));
    CHECK(check_wait(deep_released, NULL, 60000));
    sched_event_signal(deep_go);
    CHECK_INT(sched_stop(s, 120000), 0);
    CHECK_INT(atomic_load(&finished), 1);
    CHECK_INT(atomic_load(&deep_ok), 1);        /* the same data written and read again */
    CHECK_INT(atomic_load(&deep_after), pages); /* and touched again after the resume */
    sched_event_free(deep_go);
}

/* ---- Deep calls ----------------------------------------------------------------------------- */

#define DEEP_STACK (512 * 1024) /* the fibers' stack size there */

struct deep_case {
    uintptr_t task_frame;  /* the task's frame, on its fiber stack */
    uintptr_t call_frame;  /* the deep call's frame */
    uintptr_t inner_frame; /* a deep call made from the deep call (runs in place) */
    unsigned sum;          /* go_deep's checksum there */
    int saw_local;         /* the call saw the task's local slot */
    int in_task;           /* sched_in_task() in the call */
    int fiber_pages;       /* resident pages of the fiber's stack below the task's frame */
};

static void deep_inner(void *ud)
{
    struct deep_case *c = ud;
    c->inner_frame = (uintptr_t)__builtin_frame_address(0);
}

static void deep_call(void *ud)
{
    struct deep_case *c = ud;
    c->call_frame = (uintptr_t)__builtin_frame_address(0);
    c->saw_local = sched_local_get(&key_a) == (void *)&key_b;
    c->in_task = sched_in_task();
    c->sum = go_deep(9, 0);
    sched_call_deep(deep_inner, c);
}

static void deep_task(void *ud)
{
    struct deep_case *c = ud;
    c->task_frame = (uintptr_t)__builtin_frame_address(0);
    sched_local_set(&key_a, &key_b);
    sched_call_deep(deep_call, c);
    /* The 96 KB went on the loop's stack: the fiber's own pages below its frame stay untouched. */
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t hi = (c->task_frame - NEAR_BYTES) & ~(page - 1);
    c->fiber_pages = resident_pages(hi - 48 * page, hi);
    sched_local_set(&key_a, NULL);
    atomic_fetch_add(&finished, 1);
}

static void deep_then_wait(void *ud)
{
    (void)ud;
    sched_sleep_ms(1); /* our bug: aborts */
}

static void deep_task_that_waits(void *ud)
{
    sched_call_deep(deep_then_wait, ud);
}

static void test_deep_calls_run_on_the_loops_stack(void)
{
    reset();
    struct err err = {0};
    struct sched *s = sched_start(1, DEEP_STACK, &err);
    if (!check_require("scheduler started", s != NULL))
        return;
    struct deep_case c = {0};
    CHECK_INT(sched_submit(s, deep_task, &c), 0);
    CHECK_INT(sched_stop(s, 60000), 0);
    CHECK_INT(atomic_load(&finished), 1);
    /* not on the fiber's stack, which lies below the task's frame */
    CHECK(c.call_frame > c.task_frame || c.task_frame - c.call_frame > DEEP_STACK);
    /* a call from the call ran in place, on the same stack */
    CHECK(c.inner_frame - c.call_frame < 64 * 1024 || c.call_frame - c.inner_frame < 64 * 1024);
    CHECK_INT(c.sum, go_deep(9, 0));
    CHECK_INT(c.saw_local, 1);
    CHECK_INT(c.in_task, 1);
    CHECK_INT(c.fiber_pages, 0);
    /* Off a fiber the call runs in place, on the caller's stack. */
    struct deep_case here = {0};
    here.task_frame = (uintptr_t)__builtin_frame_address(0);
    sched_call_deep(deep_inner, &here);
    CHECK(here.task_frame - here.inner_frame < 64 * 1024);
    /* A wait in a deep call is our bug: it aborts. */
    CHECK(task_aborts(deep_task_that_waits));
}

/* ---- The stack cache ------------------------------------------------------------------------ */

enum { CACHE_STACK_PAGES = 77 }; /* a stack size nothing else in the process maps */
enum { KEPT = 16 };              /* STACKS_KEPT in sched.c: cached stacks kept warm */

/* Mappings of exactly one fiber stack: read-write, of the stack size, right above its guard page
 * (a PROT_NONE mapping of its own). The guard tells them from a sanitizer's own mappings that
 * happen to have the same size (TSan's do, depending on what ran before). Adds their resident
 * pages to *resident when not NULL. */
static int stack_mappings_resident(long *resident)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return -1;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t want = (size_t)CACHE_STACK_PAGES * page;
    unsigned long lo, hi, guard_end = 0;
    char perms[8], line[512];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) != 3)
            continue;
        if (hi - lo == want && strcmp(perms, "rw-p") == 0 && guard_end == lo) {
            n++;
            for (unsigned long at = lo; resident && at < hi; at += 64 * page) {
                unsigned long end = at + 64 * page < hi ? at + 64 * page : hi;
                int r = resident_pages(at, end);
                *resident += r > 0 ? r : 0;
            }
        }
        guard_end = hi - lo == page && strcmp(perms, "---p") == 0 ? hi : 0;
    }
    fclose(f);
    return n;
}

static int stack_mappings(void)
{
    return stack_mappings_resident(NULL);
}

/* A sleeper that goes DEEP_BYTES down its stack when it wakes (before the park, the parked stack's
 * release would take the pages back). */
static void deep_sleeper(void *ud)
{
    enter();
    sched_sleep_ms((long)(intptr_t)ud);
    leave();
    if (go_deep(3, 0) == 0)
        atomic_fetch_add(&wrong, 1); /* not zero for this seed: keeps the call */
    atomic_fetch_add(&finished, 1);
}

static int all_finished(void *ud)
{
    return atomic_load(&finished) == (int)(intptr_t)ud;
}

static int released_kept;      /* stacks cached when cache_released saw them released */
static long released_resident; /* and their resident pages */

static int cache_released(void *ud)
{
    (void)ud;
    long resident = 0;
    int kept = stack_mappings_resident(&resident);
    released_kept = kept;
    released_resident = resident;
    long deep = DEEP_BYTES / sysconf(_SC_PAGESIZE) + 4; /* pages a fiber touched, and its frames */
    return kept > KEPT && resident <= KEPT * deep + (kept - KEPT) * 2L;
}

static int cache_trimmed(void *ud)
{
    (void)ud;
    return stack_mappings() <= KEPT;
}

/* A burst of finished fibers keeps its stacks (up to the cache's bound) for the next starts, the
 * pages their fibers touched only for the first KEPT and the top page for the others,
 * and the cache goes back to its floor once it has been still for a while. */
/* A one-thread scheduler whose stacks are CACHE_STACK_PAGES long (the counters reset), or NULL. */
static struct sched *cache_sched_start(void)
{
    reset();
    struct err err = {0};
    struct sched *s = sched_start(1, CACHE_STACK_PAGES * (size_t)sysconf(_SC_PAGESIZE), &err);
    return check_require("scheduler started", s != NULL) ? s : NULL;
}

/* Runs n deep sleepers of ms on s at once, waits for them all and checks none went wrong (the
 * counters reset first). */
static void deep_burst(struct sched *s, int n, int ms)
{
    reset();
    for (int i = 0; i < n; i++)
        CHECK_INT(sched_submit(s, deep_sleeper, (void *)(intptr_t)ms), 0);
    CHECK(check_wait(all_finished, (void *)(intptr_t)n, 120000));
    CHECK_INT(atomic_load(&wrong), 0);
}

static void test_stack_cache_keeps_a_burst_then_trims(void)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    struct sched *s = cache_sched_start();
    if (!s)
        return;
    enum { N = 400 };
    deep_burst(s, N, 300);
    int most_parked = atomic_load(&most);
    long resident = 0;
    int kept = stack_mappings_resident(&resident);
    printf("# %d asleep at once; %d stacks kept after the burst, %ld pages resident\n", most_parked,
           kept, resident);
    CHECK(most_parked > 64);
    CHECK(kept > 64);           /* more than the floor survived the burst */
    CHECK(kept <= most_parked); /* and no more than were ever in use */
    /* Each fiber touched more than DEEP_BYTES. After 100 ms in the cache (before the trim) all but
     * the first KEPT hold their top page only. */
    CHECK(check_wait(cache_released, NULL, 30000));
    printf("# then %d stacks cached, %ld pages resident\n", released_kept, released_resident);
    CHECK(released_kept > KEPT);
    CHECK(released_resident >= KEPT * (long)(DEEP_BYTES / page));
    CHECK(check_wait(cache_trimmed, NULL, 30000)); /* then back to the floor */
    CHECK_INT(sched_stop(s, 120000), 0);
    CHECK_INT(atomic_load(&wrong), 0);
    CHECK_INT(stack_mappings(), 0); /* stop unmaps the rest */
}

/* A stack is entered through setcontext() once: the next task on it starts where the last one
 * finished (sched_stats entries), also on a cached stack whose pages but the top one were given
 * back, and each task still sees its own locals and goes deep on it. */
static void test_stacks_entered_once(void)
{
    struct sched *s = cache_sched_start();
    if (!s)
        return;
    enum { N = 100 };
    struct sched_stats st0, st1, st2;
    deep_burst(s, N, 50);
    sched_stats_get(s, &st0);
    CHECK_INT(st0.fibers, N);
    CHECK(st0.entries >= 1 && st0.entries <= N);
    /* past RELEASE_AFTER_MS (100), short of STACKS_TRIM_MS (1000): the cache gives pages back */
    usleep(400 * 1000);
    deep_burst(s, N, 50);
    sched_stats_get(s, &st1);
    CHECK_INT(st1.fibers, 2 * N);
    reset();
    for (int i = 0; i < N; i++) { /* one at a time: each on the stack the last one left */
        CHECK_INT(sched_submit(s, sleeper, (void *)(intptr_t)1), 0);
        wait_finished(i + 1);
    }
    sched_stats_get(s, &st2);
    CHECK_INT(st2.fibers, 3 * N);
    printf("# stacks entered: %ld for the first burst, %ld for the second, %ld for %d one by one\n",
           st0.entries, st1.entries - st0.entries, st2.entries - st1.entries, N);
#if defined(__SANITIZE_THREAD__)
    CHECK_INT(st2.entries, st2.fibers); /* swapcontext builds enter every fiber's context */
#else
    CHECK(st1.entries - st0.entries < N / 2); /* most of the second burst re-entered */
    CHECK(st2.entries - st1.entries <= 1);
#endif
    CHECK_INT(sched_stop(s, 120000), 0);
    CHECK_INT(atomic_load(&wrong), 0);
}

int main(void)
{
    xmalloc_init();
    RUN(test_thousands_of_sleeps_on_two_threads);
    RUN(test_events_signalled_from_a_foreign_thread);
    RUN(test_event_wait_times_out_in_a_task);
    RUN(test_fds_parked_and_woken);
    RUN(test_fd_waited_on_again);
    RUN(test_submits_from_foreign_threads);
    RUN(test_stop_with_grace_leaves_parked_tasks_running);
    RUN(test_waits_off_a_fiber_block);
    RUN(test_sched_mutex_excludes_across_parks);
    RUN(test_parking_while_holding_aborts);
    RUN(test_wait_fd_or_event);
    RUN(test_parked_stack_pages_are_released);
    RUN(test_deep_calls_run_on_the_loops_stack);
    RUN(test_stack_cache_keeps_a_burst_then_trims);
    RUN(test_stacks_entered_once);
    return check_summary();
}
