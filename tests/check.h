/*
 * check.h - the tiny test harness every unit and end-to-end test uses.
 *
 * CHECK(cond) records a failure with file:line and goes on; RUN(fn) runs one test function and
 * prints `ok - fn` or `not ok - fn`; check_summary() prints `# N passed, M failed` and returns the
 * process exit code. tests/run.sh adds these lines up across binaries.
 */
#ifndef PARLEY_CHECK_H
#define PARLEY_CHECK_H

#include <stdio.h>
#include <string.h>

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

static inline int check_summary(void)
{
    printf("# %d passed, %d failed\n", check_passed_total, check_failed_total);
    return check_failed_total ? 1 : 0;
}

#endif
