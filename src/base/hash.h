/*
 * hash.h - the one string hash for Parley's own hash tables (the history cache, the archiver's
 * pending sessions, the rate limiter's buckets, the offline model's vocabulary): 64-bit FNV-1a,
 * fast on the short keys these tables hold (ids, addresses, words). It has no seed, so it is no
 * defence against keys chosen to collide. Inline, as it sits on lookup paths. Hashes of another
 * shape (metrics' label tuples, the offline model's streamed request) use its two constants.
 */
#ifndef PARLEY_HASH_H
#define PARLEY_HASH_H

#include <stdint.h>

/* FNV-1a (64-bit) of the bytes of the NUL-terminated s. Never fails. It starts from
 * HASH_STR_BASIS, which is not the published FNV offset basis (14695981039346656037, a digit
 * longer) but the value each table's own copy of this loop started from; any start works, and
 * this one keeps every table laid out as it was. */
#define HASH_STR_BASIS 1469598103934665603ULL
#define HASH_FNV_PRIME 1099511628211ULL /* the 64-bit FNV prime */

static inline uint64_t hash_str(const char *s)
{
    uint64_t h = HASH_STR_BASIS;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= HASH_FNV_PRIME;
    }
    return h;
}

#endif
