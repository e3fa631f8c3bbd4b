/*
 * backoff.h - how long to wait before retrying: exponential growth from a base, a cap, jitter
 * drawn from rand_u64(), and a server's Retry-After (delta-seconds or HTTP-date, RFC 9110 10.2.3)
 * taking precedence. Every retry loop in Parley asks this module instead of growing its own, and
 * waits with sched_sleep_ms() (base/sched.h), which parks a task instead of blocking its thread.
 */
#ifndef PARLEY_BACKOFF_H
#define PARLEY_BACKOFF_H

#include <time.h>

enum backoff_jitter {
    BACKOFF_JITTER_NONE,  /* exactly the exponential delay d */
    BACKOFF_JITTER_FULL,  /* uniform in [0, d] */
    BACKOFF_JITTER_EQUAL, /* uniform in [d/2, d] */
};

struct backoff {
    long base_ms;               /* delay before the first retry (attempt 1), > 0 */
    long max_ms;                /* cap on the exponential delay and on Retry-After, >= base_ms */
    enum backoff_jitter jitter; /* how to spread the delay */
};

/* Returns the delay in milliseconds before retry number attempt (1 = the first retry): d =
 * min(base_ms * 2^(attempt-1), max_ms), then jittered. Attempts below 1 count as 1. Never
 * negative, never above max_ms. */
long backoff_delay_ms(const struct backoff *b, int attempt);

/* Parses a Retry-After header value: delta-seconds ("120") or an HTTP-date (IMF-fixdate
 * "Sun, 06 Nov 1994 08:49:37 GMT", or the obsolete RFC 850 and asctime forms) measured from
 * now (seconds since the epoch). Returns milliseconds (0 for a date already past), or -1 if
 * value is NULL, malformed or more than a day away. */
long backoff_retry_after_ms(const char *value, time_t now);

/* Returns what to wait before retry number attempt: backoff_delay_ms(), or the server's
 * retry_after_ms (ignored when < 0) capped at max_ms if that is longer. A server may slow us
 * down but never make us retry sooner than our own backoff. */
long backoff_wait_ms(const struct backoff *b, int attempt, long retry_after_ms);

#endif
