/*
 * rand.h - the one random source. Identifiers that must not be guessable (session ids, UUIDs)
 * come from the kernel CSPRNG (getrandom, fetched 512 bytes ahead per thread and handed out
 * once); cheap numbers that only need to be spread
 * out, such as retry jitter, come from a fast per-thread PRNG (xoshiro256**) that seeds itself
 * from getrandom on first use in each thread. Sequences that must repeat from a caller's seed
 * (the ASL engine's States.MathRandom and States.UUID under a fixed seed) come from a seeded
 * generator (splitmix64, the same function that spreads the fast PRNG's seed). Never use the
 * fast or the seeded one for secrets.
 */
#ifndef PARLEY_RAND_H
#define PARLEY_RAND_H

#include <stddef.h>
#include <stdint.h>

/* ---- Kernel CSPRNG (identifiers) ----------------------------------------------------------- */

/* Fills buf with n random bytes from the kernel CSPRNG. Returns 0, or -1 if the kernel refused. */
int rand_bytes(void *buf, size_t n);

/* Fills out with 16 bytes of the kernel CSPRNG, served from a per-thread pool that one
 * getrandom() call refills every 32 ids (a system call is costly on a VM), each byte handed out
 * once. For identifiers; rand_bytes for keys and anything that must not sit in a pool. Returns 0
 * or -1 if the kernel refused. */
int rand_id_bytes(uint8_t out[16]);

/* Writes a 128-bit random id as 22 base64url characters (no padding) plus NUL into out[23].
 * Returns 0 or -1. The alphabet matches the session-id pattern [A-Za-z0-9_-]. */
int rand_id128(char out[23]);

/* Writes a time-ordered id as 22 characters plus NUL into out[23], for keys of rows that are
 * inserted as they are made (session ids): 8 characters of the wall clock's milliseconds since
 * the epoch (48 bits), then 14 characters of 84 random bits from the kernel CSPRNG. The alphabet
 * is rand_id128's in ASCII order ("-0-9A-Z_a-z"), so ids made later sort later (bytewise, as
 * SQLite's BINARY collation compares): a B-tree keyed by them grows at its right edge and a
 * commit writes a few pages instead of one random leaf per row. Still unguessable: an id made in
 * a known millisecond leaves 2^84 candidates. Returns 0 or -1. */
int rand_id_timed(char out[23]);

/* Writes the low 4 * digits bits of v as that many lower-case hex digits at out (no NUL). Ids
 * are formatted with it rather than snprintf: they are made deep in a turn (an event, a trace
 * segment), and vfprintf's ~1.3 KB frame took a turn's stack into a page it did not otherwise
 * touch (see "Parked stacks" in base/sched.c). */
void rand_put_hex(char *out, uint64_t v, int digits);

/* Writes a random RFC 4122 version-4 UUID (36 chars + NUL) into out[37]. Returns 0 or -1. */
int rand_uuid4(char out[37]);

/* ---- Fast per-thread PRNG (jitter, sampling) ------------------------------------------------ */

/* Returns 64 uniformly distributed bits. Thread-safe (state is per thread); never fails: if
 * getrandom is unavailable the seed falls back to the clock and the thread's address. */
uint64_t rand_u64(void);

/* Returns a uniform value in [lo, hi] (both inclusive, without modulo bias). Returns lo when
 * hi <= lo. */
uint64_t rand_range(uint64_t lo, uint64_t hi);

/* ---- Seeded generator (repeatable sequences) ------------------------------------------------ */

/* One repeatable sequence; a caller embeds it and owns it (not thread-safe by itself). Set
 * state to the seed directly or with rand_seeded_init; any value, zero included, is a seed. */
struct rand_seeded {
    uint64_t state; /* splitmix64 counter */
};

/* Starts r's sequence at seed. */
void rand_seeded_init(struct rand_seeded *r, uint64_t seed);

/* Returns the next 64 bits of r's sequence (splitmix64): the same seed always gives the same
 * sequence, on every platform. Never fails. */
uint64_t rand_seeded_next(struct rand_seeded *r);

#endif
