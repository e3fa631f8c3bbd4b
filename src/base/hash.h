/*
 * hash.h - the one string hash for Parley's own hash tables (the history cache, the archiver's
 * pending sessions, the rate limiter's buckets, the offline model's vocabulary): 64-bit FNV-1a,
 * fast on the short keys these tables hold (ids, addresses, words). It has no seed, so it is no
 * defence against keys chosen to collide. Inline, as it sits on lookup paths. Hashes of another
 * shape (metrics' label tuples) use its two constants.
 *
 * For long byte streams (the offline model's request, tens of kilobytes a call) FNV-1a's
 * multiply per byte is the cost; hash_stream takes eight bytes a step instead.
 */
#ifndef PARLEY_HASH_H
#define PARLEY_HASH_H

#include <stddef.h>
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

/* A 64-bit hash of a byte stream fed in pieces of any size: the result depends only on the
 * bytes, not on how they were cut (a value walked piece by piece hashes like its text in one
 * piece). It mixes eight bytes (read little-endian) a step: xor, a multiply by an odd constant
 * and a shift back; then the length and a final avalanche. Not FNV-1a, and like hash_str no
 * defence against chosen collisions. Start each with hash_stream_init; no allocation. */
struct hash_stream {
    uint64_t h;      /* state after the whole words so far */
    uint64_t pend;   /* the bytes of an unfinished word, the first in the low byte */
    unsigned npend;  /* how many (0..7) */
    uint64_t length; /* bytes fed */
};

void hash_stream_init(struct hash_stream *hs);

/* Feeds len bytes of s (s may be NULL when len is 0). */
void hash_stream_feed(struct hash_stream *hs, const void *s, size_t len);

/* The hash of everything fed; hs is left as it was (more may be fed). */
uint64_t hash_stream_done(const struct hash_stream *hs);

#endif
