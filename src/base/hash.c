/*
 * hash.c - hash_stream (hash.h): a byte stream hashed eight bytes a step.
 */
#include "base/hash.h"

#include "base/swar.h"

#define STREAM_MUL 0x9E3779B97F4A7C15ULL /* odd: 2^64 / the golden ratio */

static inline uint64_t mix(uint64_t h, uint64_t w)
{
    h ^= w;
    h *= STREAM_MUL;
    return h ^ (h >> 32);
}

void hash_stream_init(struct hash_stream *hs)
{
    hs->h = HASH_STR_BASIS;
    hs->pend = 0;
    hs->npend = 0;
    hs->length = 0;
}

void hash_stream_feed(struct hash_stream *hs, const void *s, size_t len)
{
    const unsigned char *p = s;
    hs->length += len;
    /* finish the pending word first */
    while (hs->npend && len) {
        hs->pend |= (uint64_t)*p++ << (8 * hs->npend);
        len--;
        if (++hs->npend == 8) {
            hs->h = mix(hs->h, hs->pend);
            hs->pend = 0;
            hs->npend = 0;
        }
    }
    uint64_t h = hs->h;
    for (; len >= 8; p += 8, len -= 8)
        h = mix(h, swar_load_le64(p));
    hs->h = h;
    for (; len; len--) /* npend is 0 here unless the loop above did not run */
        hs->pend |= (uint64_t)*p++ << (8 * hs->npend++);
}

uint64_t hash_stream_done(const struct hash_stream *hs)
{
    uint64_t h = mix(hs->h, hs->pend);
    h = mix(h, hs->length);
    /* a final avalanche (the 64-bit finaliser of MurmurHash3's published constants) */
    h ^= h >> 33;
    h *= 0xFF51AFD7ED558CCDULL;
    h ^= h >> 33;
    h *= 0xC4CEB9FE1A85EC53ULL;
    h ^= h >> 33;
    return h;
}
