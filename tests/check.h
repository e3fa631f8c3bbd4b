/*
 * check.h - the tiny test harness every unit and end-to-end test uses.
 *
 * CHECK(cond) records a failure with file:line and goes on; RUN(fn) runs one test function and
 * prints `ok - fn` or `not ok - fn`; check_summary() prints `# N passed, M failed` and returns the
 * process exit code. tests/run.sh adds these lines up across binaries.
 *
 * Only checks of Parley's behaviour are counted. check_require() states a precondition of the
 * harness (a server started, an emulator answered): it fails the suite when it does not hold but is
 * not counted when it does. A suite that counted no check at all fails: it tested nothing.
 * check_wait() waits on an observable condition with a bounded poll instead of a blind sleep.
 */
#ifndef PARLEY_CHECK_H
#define PARLEY_CHECK_H

#include <stdio.h>
#include <string.h>
#include <time.h>

static int check_failed_now __attribute__((unused));
static int check_passed_total;
static int check_failed_total;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
            check_failed_now++;                                                                    \
        }                                                                                          \
    } while (0)

#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *check_a_ = (a), *check_b_ = (b);                                               \
        if (!check_a_ || !check_b_ || strcmp(check_a_, check_b_) != 0) {                           \
            fprintf(stderr, "%s:%d: CHECK_STR failed: %s == %s ('%s' vs '%s')\n", __FILE__,       \
                    __LINE__, #a, #b, check_a_ ? check_a_ : "(null)",                              \
                    check_b_ ? check_b_ : "(null)");                                               \
            check_failed_now++;                                                                    \
        }                                                                                          \
    } while (0)

#define CHECK_INT(a, b)                                                                            \
    do {                                                                                           \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);                            \
        if (check_a_ != check_b_) {                                                                \
            fprintf(stderr, "%s:%d: CHECK_INT failed: %s == %s (%lld vs %lld)\n", __FILE__,       \
                    __LINE__, #a, #b, check_a_, check_b_);                                         \
            check_failed_now++;                                                                    \
        }                                                                                          \
    } while (0)

#define RUN(fn)                                                                                    \
    do {                                                                                           \
        check_failed_now = 0;                                                                      \
        fn();                                                                                      \
        if (check_failed_now) {                                                                    \
            check_failed_total++;                                                                  \
            printf("not ok - %s\n", #fn);                                                          \
        } else {                                                                                   \
            check_passed_total++;                                                                  \
            printf("ok - %s\n", #fn);                                                              \
        }                                                                                          \
        fflush(stdout);                                                                            \
    } while (0)

/* Records a named result computed elsewhere (data-driven suites). */
static inline void check_record(const char *name, int ok)
{
    if (ok)
        check_passed_total++;
    else
        check_failed_total++;
    printf("%s - %s\n", ok ? "ok" : "not ok", name);
    fflush(stdout);
}

/* A precondition of the harness: a failure is counted as a failed check, a success is not counted
 * (it is printed as a comment). Returns ok so callers can skip what depends on it. */
static inline int check_require(const char *name, int ok)
{
    if (ok)
        printf("# precondition holds: %s\n", name);
    else {
        check_failed_total++;
        printf("not ok - precondition: %s\n", name);
    }
    fflush(stdout);
    return ok;
}

/* Polls cond(ud) until it returns non-zero or timeout_ms have passed (checking every ~2 ms).
 * Returns 1 when the condition held, 0 on timeout. The poll interval only bounds the latency of
 * noticing; nothing is assumed about how long the awaited work takes. */
static inline int check_wait(int (*cond)(void *ud), void *ud, int timeout_ms)
{
    struct timespec start, now, nap = {0, 2 * 1000000L};
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        if (cond(ud))
            return 1;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long long ms = (long long)(now.tv_sec - start.tv_sec) * 1000 +
                       (now.tv_nsec - start.tv_nsec) / 1000000;
        if (ms >= timeout_ms)
            return cond(ud) ? 1 : 0;
        nanosleep(&nap, NULL);
    }
}

/* Prints `# N passed, M failed`; a suite that counted no check fails (it measured nothing). */
static inline int check_summary(void)
{
    if (check_passed_total + check_failed_total == 0) {
        printf("not ok - the suite ran no checks\n");
        check_failed_total = 1;
    }
    printf("# %d passed, %d failed\n", check_passed_total, check_failed_total);
    return check_failed_total ? 1 : 0;
}

#endif
