/* test_backoff.c - exponential delays, jitter bounds, the cap, Retry-After in both forms. */
#include "base/backoff.h"
#include "base/clock.h"
#include "base/xmalloc.h"
#include "check.h"

static void test_no_jitter_doubles_to_cap(void)
{
    struct backoff b = {.base_ms = 100, .max_ms = 1000, .jitter = BACKOFF_JITTER_NONE};
    CHECK_INT(backoff_delay_ms(&b, 0), 100);
    CHECK_INT(backoff_delay_ms(&b, 1), 100);
    CHECK_INT(backoff_delay_ms(&b, 2), 200);
    CHECK_INT(backoff_delay_ms(&b, 3), 400);
    CHECK_INT(backoff_delay_ms(&b, 4), 800);
    CHECK_INT(backoff_delay_ms(&b, 5), 1000);
    CHECK_INT(backoff_delay_ms(&b, 1000000), 1000); /* no overflow on huge attempts */
}

static void test_full_jitter_bounds(void)
{
    struct backoff b = {.base_ms = 100, .max_ms = 1000, .jitter = BACKOFF_JITTER_FULL};
    long lo = 1 << 30, hi = -1;
    for (int i = 0; i < 2000; i++) {
        long d = backoff_delay_ms(&b, 3); /* d = 400 */
        CHECK(d >= 0 && d <= 400);
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
    }
    CHECK(lo < 100 && hi > 300); /* it really spreads over the range */
}

static void test_equal_jitter_bounds(void)
{
    struct backoff b = {.base_ms = 100, .max_ms = 1000, .jitter = BACKOFF_JITTER_EQUAL};
    long lo = 1 << 30, hi = -1;
    for (int i = 0; i < 2000; i++) {
        long d = backoff_delay_ms(&b, 20); /* capped: d = 1000 */
        CHECK(d >= 500 && d <= 1000);
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
    }
    CHECK(lo < 600 && hi > 900);
}

static void test_retry_after_seconds(void)
{
    CHECK_INT(backoff_retry_after_ms("0", 0), 0);
    CHECK_INT(backoff_retry_after_ms("3", 0), 3000);
    CHECK_INT(backoff_retry_after_ms(" 120 ", 0), 120000);
    CHECK_INT(backoff_retry_after_ms("86399", 0), 86399000L);
    CHECK_INT(backoff_retry_after_ms("86400", 0), -1);
    CHECK_INT(backoff_retry_after_ms("99999999999999999999", 0), -1);
    CHECK_INT(backoff_retry_after_ms("-1", 0), -1);
    CHECK_INT(backoff_retry_after_ms("5s", 0), -1);
    CHECK_INT(backoff_retry_after_ms("", 0), -1);
    CHECK_INT(backoff_retry_after_ms(NULL, 0), -1);
}

static void test_retry_after_http_date(void)
{
    /* Sun, 06 Nov 1994 08:49:37 GMT is 784111777 seconds after the epoch (RFC 9110 example). */
    time_t t = 784111777;
    CHECK_INT(backoff_retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", t - 30), 30000);
    CHECK_INT(backoff_retry_after_ms("Sunday, 06-Nov-94 08:49:37 GMT", t - 2), 2000);
    CHECK_INT(backoff_retry_after_ms("Sun Nov  6 08:49:37 1994", t - 1), 1000);
    CHECK_INT(backoff_retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", t + 50), 0); /* past */
    CHECK_INT(backoff_retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", t - 90000), -1);
    CHECK_INT(backoff_retry_after_ms("Sun, 06 Nov 1994 08:49:37", t), -1);
    CHECK_INT(backoff_retry_after_ms("tomorrow", t), -1);
}

static void test_wait_honours_retry_after_capped(void)
{
    struct backoff b = {.base_ms = 100, .max_ms = 1000, .jitter = BACKOFF_JITTER_NONE};
    CHECK_INT(backoff_wait_ms(&b, 1, 700), 700);
    CHECK_INT(backoff_wait_ms(&b, 1, 5000), 1000);
    CHECK_INT(backoff_wait_ms(&b, 1, 0), 100);  /* never sooner than our own backoff */
    CHECK_INT(backoff_wait_ms(&b, 2, 150), 200);
    CHECK_INT(backoff_wait_ms(&b, 3, -1), 400);
}

int main(void)
{
    xmalloc_init();
    RUN(test_no_jitter_doubles_to_cap);
    RUN(test_full_jitter_bounds);
    RUN(test_equal_jitter_bounds);
    RUN(test_retry_after_seconds);
    RUN(test_retry_after_http_date);
    RUN(test_wait_honours_retry_after_capped);
    return check_summary();
}
