/* rand.c - OS randomness; see rand.h. */
#include "base/rand.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "base/clock.h"

int rand_bytes(void *buf, size_t n)
{
    uint8_t *p = buf;
    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += got;
        n -= (size_t)got;
    }
    return 0;
}

/* Kernel bytes fetched ahead for ids, per thread: one getrandom() serves ID_POOL / 16 ids
 * (a syscall is costly on a VM). Bytes are handed out once and wiped as they go. Taken within
 * one call, never across a scheduler wait, so a thread-local is right here. Not for a child
 * between fork() and exec() (Parley creates no ids there). */
#define ID_POOL 512
static _Thread_local uint8_t id_pool[ID_POOL];
static _Thread_local size_t id_pool_left;

int rand_id_bytes(uint8_t out[16])
{
    if (id_pool_left < 16) {
        if (rand_bytes(id_pool, sizeof id_pool) < 0)
            return -1;
        id_pool_left = sizeof id_pool;
    }
    uint8_t *p = id_pool + (sizeof id_pool - id_pool_left);
    memcpy(out, p, 16);
    memset(p, 0, 16);
    id_pool_left -= 16;
    return 0;
}

/* Writes n characters of alphabet (64 of them) into out, each from the next 6 bits of raw's
 * nraw bytes, most significant bit first; bits past the end read as 0. */
static void encode6(const uint8_t *raw, size_t nraw, const char *alphabet, char *out, int n)
{
    for (int i = 0, bit = 0; i < n; i++, bit += 6) {
        size_t byte = (size_t)bit / 8;
        int shift = bit % 8;
        unsigned v = (unsigned)(byte < nraw ? raw[byte] : 0) << 8 |
                     (byte + 1 < nraw ? raw[byte + 1] : 0);
        out[i] = alphabet[(v >> (10 - shift)) & 0x3f];
    }
}

int rand_id128(char out[23])
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint8_t raw[16];
    if (rand_id_bytes(raw) < 0)
        return -1;
    /* 22 characters of 6 bits each cover 132 bits; the last 4 are zero. */
    encode6(raw, sizeof raw, alphabet, out, 22);
    out[22] = '\0';
    return 0;
}

int rand_id_timed(char out[23])
{
    static const char sorted[] = "-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz";
    uint64_t ms = (uint64_t)clock_now_ms();
    for (int i = 7; i >= 0; i--, ms >>= 6)
        out[i] = sorted[ms & 0x3f];
    uint8_t raw[16];
    if (rand_id_bytes(raw) < 0)
        return -1;
    encode6(raw, sizeof raw, sorted, out + 8, 14); /* the first 84 of the 128 bits */
    memset(raw, 0, sizeof raw);
    out[22] = '\0';
    return 0;
}

void rand_put_hex(char *out, uint64_t v, int digits)
{
    static const char hex[] = "0123456789abcdef";
    for (int i = digits - 1; i >= 0; i--, v >>= 4)
        out[i] = hex[v & 15];
}

int rand_uuid4(char out[37])
{
    uint8_t b[16];
    if (rand_id_bytes(b) < 0)
        return -1;
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    /* 8-4-4-4-12 hex digits */
    char *o = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *o++ = '-';
        rand_put_hex(o, b[i], 2);
        o += 2;
    }
    *o = '\0';
    return 0;
}

/* ---- Seeded generator ------------------------------------------------------------------------ */

void rand_seeded_init(struct rand_seeded *r, uint64_t seed)
{
    r->state = seed;
}

/* splitmix64 (Steele, Lea and Flood; constants as published by Vigna). */
uint64_t rand_seeded_next(struct rand_seeded *r)
{
    uint64_t z = (r->state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* ---- Fast per-thread PRNG ------------------------------------------------------------------- */

/* xoshiro256** (Blackman and Vigna); the state must not be all zero, which seeding ensures. */
static _Thread_local uint64_t prng[4];
static _Thread_local int prng_seeded;

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static void prng_seed(void)
{
    uint64_t seed = 0;
    if (rand_bytes(&seed, sizeof seed) < 0) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)(uintptr_t)&seed;
    }
    /* splitmix64 spreads one word of seed over the four state words. */
    struct rand_seeded spread = {seed};
    for (int i = 0; i < 4; i++)
        prng[i] = rand_seeded_next(&spread);
    prng_seeded = 1;
}

uint64_t rand_u64(void)
{
    if (!prng_seeded)
        prng_seed();
    uint64_t *s = prng;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t rand_range(uint64_t lo, uint64_t hi)
{
    if (hi <= lo)
        return lo;
    uint64_t span = hi - lo;
    if (span == UINT64_MAX)
        return rand_u64();
    uint64_t n = span + 1;
    /* Reject the top partial block so every value in [0, n) is equally likely. */
    uint64_t limit = UINT64_MAX - (UINT64_MAX % n);
    uint64_t v;
    do
        v = rand_u64();
    while (v >= limit);
    return lo + v % n;
}
