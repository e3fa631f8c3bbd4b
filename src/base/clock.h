/*
 * clock.h - wall-clock and monotonic time in milliseconds, and ISO-8601 formatting.
 */
#ifndef PARLEY_CLOCK_H
#define PARLEY_CLOCK_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Milliseconds since the Unix epoch (CLOCK_REALTIME). */
int64_t clock_now_ms(void);

/* Milliseconds from an arbitrary origin that never goes backwards (CLOCK_MONOTONIC). */
int64_t clock_mono_ms(void);

/* Microseconds from the monotonic origin, for latency measurements. */
int64_t clock_mono_us(void);

/* Sets *ts to the CLOCK_REALTIME time ms milliseconds from now: the deadline of a
 * pthread_cond_timedwait. */
void clock_deadline_in(struct timespec *ts, int64_t ms);

/* Writes `2026-11-25T03:40:00.123Z` for epoch milliseconds into buf (at least 25 bytes). */
void clock_iso8601(int64_t ms, char *buf, size_t len);

#endif
