/*
 * swar.h - eight bytes a step in a 64-bit word ("SIMD within a register"), for the loops that
 * classify text: JSON escapes (base/jsontext.c), the offline model's token count
 * (model/model_offline.c) and hash_stream (base/hash.c). SWAR_IN sets the high bit of exactly the
 * bytes it matches (no false hit on a neighbour), so its masks combine with & | ~ and count with
 * SWAR_SUM.
 */
#ifndef PARLEY_SWAR_H
#define PARLEY_SWAR_H

#include <stdint.h>
#include <string.h>

#define SWAR_BYTES(x) (0x0101010101010101ULL * (uint64_t)(x)) /* x in each of eight bytes */
#define SWAR_HIGH SWAR_BYTES(0x80)                            /* each byte's high bit */

/* The high bit of each byte of v that lies in [lo, hi]. v's bytes must all be below 0x80 (mask
 * the word with SWAR_BYTES(0x7F) first) and 1 <= lo <= hi <= 0x7F: then no sum carries into the
 * next byte. */
#define SWAR_IN(v, lo, hi)                                                                         \
    (((v) + SWAR_BYTES(0x80 - (lo))) & ~((v) + SWAR_BYTES(0x7F - (hi))) & SWAR_HIGH)

/* How many bytes of a mask of high bits are set (a byte sum by one multiply). */
#define SWAR_SUM(highs) ((size_t)((((highs) >> 7) * SWAR_BYTES(1)) >> 56))

/* The same mask as 8 bits, byte i to bit i. */
static inline unsigned swar_bits(uint64_t highs)
{
    return (unsigned)(((highs >> 7) * 0x0102040810204080ULL) >> 56);
}

/* The eight bytes at p as a little-endian word (byte 0 lowest), whatever the host's order. */
static inline uint64_t swar_load_le64(const void *p)
{
    uint64_t w;
    memcpy(&w, p, sizeof w);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    w = __builtin_bswap64(w);
#endif
    return w;
}

#endif
