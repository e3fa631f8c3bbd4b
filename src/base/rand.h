/*
 * rand.h - the one random source. Identifiers that must not be guessable (session ids, UUIDs)
 * come straight from the kernel CSPRNG (getrandom); cheap numbers that only need to be spread
 * out, such as retry jitter, come from a fast per-thread PRNG (xoshiro256**) that seeds itself
 * from getrandom on first use in each thread. Never use the fast one for secrets.
 */
#ifndef PARLEY_RAND_H
#define PARLEY_RAND_H

#include <stddef.h>
#include <stdint.h>

/* ---- Kernel CSPRNG (identifiers) ----------------------------------------------------------- */

/* Fills buf with n random bytes from the kernel CSPRNG. Returns 0, or -1 if the kernel refused. */
int rand_bytes(void *buf, size_t n);

/* Writes a 128-bit random id as 22 base64url characters (no padding) plus NUL into out[23].
 * Returns 0 or -1. The alphabet matches the session-id pattern [A-Za-z0-9_-]. */
int rand_id128(char out[23]);

/* Writes a random RFC 4122 version-4 UUID (36 chars + NUL) into out[37]. Returns 0 or -1. */
int rand_uuid4(char out[37]);

/* ---- Fast per-thread PRNG (jitter, sampling) ------------------------------------------------ */

/* Returns 64 uniformly distributed bits. Thread-safe (state is per thread); never fails: if
 * getrandom is unavailable the seed falls back to the clock and the thread's address. */
uint64_t rand_u64(void);

/* Returns a uniform value in [lo, hi] (both inclusive, without modulo bias). Returns lo when
 * hi <= lo. */
uint64_t rand_range(uint64_t lo, uint64_t hi);

#endif
