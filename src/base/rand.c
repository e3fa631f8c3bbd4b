/* rand.c - OS randomness; see rand.h. */
#include "base/rand.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/random.h>

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

int rand_id128(char out[23])
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint8_t raw[17];
    if (rand_bytes(raw, 16) < 0)
        return -1;
    raw[16] = 0;
    /* 22 characters of 6 bits each cover 132 bits; the last 4 come from the zero pad. */
    int bit = 0;
    for (int i = 0; i < 22; i++, bit += 6) {
        int byte = bit / 8, shift = bit % 8;
        unsigned v = ((unsigned)raw[byte] << 8 | (byte + 1 < 17 ? raw[byte + 1] : 0));
        out[i] = alphabet[(v >> (10 - shift)) & 0x3f];
    }
    out[22] = '\0';
    return 0;
}

int rand_uuid4(char out[37])
{
    uint8_t b[16];
    if (rand_bytes(b, sizeof b) < 0)
        return -1;
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
    return 0;
}
