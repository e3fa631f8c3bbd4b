/* jsontext.c - compact JSON text of a jansson value; see jsontext.h. */
#include "base/jsontext.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "base/swar.h"
#include "base/xmalloc.h"

#define JSONTEXT_SLACK_MAX 256 /* unused bytes jsontext_dump leaves at the end of its block */

/* A byte JSON text must escape: '"', '\\' or a control character. */
static int needs_escape(unsigned char c)
{
    return c < 0x20 || c == '"' || c == '\\';
}

size_t jsontext_plain_prefix(const char *s, size_t n)
{
    size_t i = 0;
    /* Eight bytes a step: a byte below 0x20, or one equal to '"' or '\\' (zero after the xor),
     * sets its high bit in `hit` (the usual has-less-than test; it never misses one, and a word
     * it flags is looked at byte by byte below). */
    for (; i + 8 <= n; i += 8) {
        uint64_t w = swar_load_le64(s + i);
        uint64_t q = w ^ SWAR_BYTES('"'), b = w ^ SWAR_BYTES('\\'), ones = SWAR_BYTES(1);
        uint64_t hit = (((w - SWAR_BYTES(0x20)) & ~w) | ((q - ones) & ~q) | ((b - ones) & ~b)) &
                       SWAR_HIGH;
        if (hit)
            break;
    }
    while (i < n && !needs_escape((unsigned char)s[i]))
        i++;
    return i;
}

size_t jsontext_string_size(const char *s, size_t n)
{
    size_t out = n + 2;
    for (size_t i = jsontext_plain_prefix(s, n); i < n;
         i += 1 + jsontext_plain_prefix(s + i + 1, n - i - 1)) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t')
            out += 1;
        else
            out += 5;
    }
    return out;
}

/* The text of a string's bytes, quoted: '"' and '\\' and the control characters escaped. Bytes
 * from 0x20 up are copied as they are (jansson's constructors hold valid UTF-8), a run at a
 * time. */
int jsontext_add_string(struct buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    if (buf_reserve(b, jsontext_string_size(s, n)) < 0)
        return -1;
    char *o = b->data + b->len, *start = o;
    *o++ = '"';
    for (size_t i = 0;;) {
        size_t run = jsontext_plain_prefix(s + i, n - i);
        memcpy(o, s + i, run);
        o += run;
        i += run;
        if (i == n)
            break;
        unsigned char c = (unsigned char)s[i++];
        *o++ = '\\';
        switch (c) {
        case '"':
        case '\\':
            *o++ = (char)c;
            break;
        case '\b':
            *o++ = 'b';
            break;
        case '\f':
            *o++ = 'f';
            break;
        case '\n':
            *o++ = 'n';
            break;
        case '\r':
            *o++ = 'r';
            break;
        case '\t':
            *o++ = 't';
            break;
        default:
            memcpy(o, "u00", 3);
            o[3] = hex[c >> 4];
            o[4] = hex[c & 0xf];
            o += 5;
        }
    }
    *o++ = '"';
    buf_commit(b, (size_t)(o - start));
    return 0;
}

/* buf_add_char without the call when there is room (a container writes several a member). */
static int add1(struct buf *b, char c)
{
    if (b->len + 2 > b->cap)
        return buf_add_char(b, c);
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
    return 0;
}

__attribute__((noinline)) int jsontext_add_integer(struct buf *b, json_int_t v)
{
    char tmp[24];
    char *p = tmp + sizeof tmp;
    /* In unsigned arithmetic, so that the most negative value negates. */
    unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    return buf_add(b, p, (size_t)(tmp + sizeof tmp - p));
}

/* ---- Reals ------------------------------------------------------------------------------------
 *
 * json_dumps writes a real with "%.17g" (or "%.<p>g" with JSON_REAL_PRECISION(p)), and glibc's
 * printf is slow at it (a record of a turn holds a few durations: snprintf was 4.9% of a new turn's
 * CPU samples). gprec() writes the same text by exact integer arithmetic for the magnitudes
 * Parley's records hold: the p significant digits are round(v * 10^k) for the k that makes them p,
 * computed in 128 bits (v = m * 2^e with m below 2^53; m * 10^k and the shift stay below 2^127),
 * the tie rounded to even as glibc does in the default rounding mode. Other magnitudes fall back
 * to snprintf. test_jsontext holds the two to the same text over 400,000 reals at 17 digits and
 * at 16, edges included. */

#define G17_POW10_MAX 22 /* 10^22 * 2^53 < 2^127 */

static const unsigned __int128 g17_one = 1;

/* 10^k for 0 <= k <= G17_POW10_MAX. */
static unsigned __int128 pow10_u128(int k)
{
    unsigned __int128 r = 1;
    while (k-- > 0)
        r *= 10;
    return r;
}

/* m * 2^e * 10^k: its integer part into *q and, in *up, whether rounding it to nearest (ties to
 * even) adds one. 0, or -1 when it does not fit the arithmetic (the caller falls back). */
static int scaled(uint64_t m, int e, int k, unsigned __int128 *q, int *up)
{
    unsigned __int128 rem, div;
    *up = 0;
    if (k >= 0) {
        if (k > G17_POW10_MAX)
            return -1;
        unsigned __int128 n = (unsigned __int128)m * pow10_u128(k);
        if (e >= 0) {
            if (e > 10 || (n >> (126 - e)) != 0)
                return -1;
            *q = n << e;
            return 0;
        }
        if (-e > 126)
            return -1;
        *q = n >> -e;
        rem = n & ((g17_one << -e) - 1);
        div = g17_one << -e;
    } else {
        if (-k > G17_POW10_MAX || e < 0 || e > 73)
            return -1;
        unsigned __int128 n = (unsigned __int128)m << e;
        div = pow10_u128(-k);
        *q = n / div;
        rem = n % div;
    }
    /* rem / div against one half: 2 * rem cannot overflow (rem < div < 2^127). */
    *up = 2 * rem > div || (2 * rem == div && (*q & 1));
    return 0;
}

/* Writes snprintf("%.*g", prec, v) for finite v and 1 <= prec <= 17 into out (at least 32
 * bytes); returns its length, or -1 when v is outside the exact arithmetic's range. */
static int gprec(double v, int prec, char *out)
{
    char *o = out;
    if (signbit(v)) {
        *o++ = '-';
        v = -v;
    }
    if (v == 0) {
        *o++ = '0';
        *o = '\0';
        return (int)(o - out);
    }
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    int be = (int)((bits >> 52) & 0x7ff);
    if (be == 0)
        return -1; /* subnormal */
    uint64_t m = (bits & ((1ull << 52) - 1)) | (1ull << 52);
    int e = be - 1075;
    /* The decimal exponent x of v (10^x <= v < 10^(x+1)): estimated, then made exact by the
     * count of the integer part's digits (before rounding: v just under 10^x rounds up to it). */
    int x = (int)floor(log10(v));
    const unsigned __int128 lo = pow10_u128(prec - 1);
    unsigned __int128 d = 0;
    int up = 0;
    for (int tries = 0;; tries++) {
        if (tries == 3 || scaled(m, e, prec - 1 - x, &d, &up) < 0)
            return -1;
        if (d >= lo * 10)
            x++;
        else if (d < lo)
            x--;
        else
            break;
    }
    d += (unsigned)up;
    if (d == lo * 10) { /* rounded up to 10^prec: 1.000... * 10^(x+1) */
        d = lo;
        x++;
    }
    char dig[17];
    uint64_t dd = (uint64_t)d;
    for (int i = prec - 1; i >= 0; i--) {
        dig[i] = (char)('0' + dd % 10);
        dd /= 10;
    }
    int n = prec;
    while (n > 1 && dig[n - 1] == '0')
        n--;
    if (x < -4 || x >= prec) {
        *o++ = dig[0];
        if (n > 1) {
            *o++ = '.';
            memcpy(o, dig + 1, (size_t)n - 1);
            o += n - 1;
        }
        *o++ = 'e';
        *o++ = x < 0 ? '-' : '+';
        int ax = x < 0 ? -x : x;
        if (ax >= 100)
            *o++ = (char)('0' + ax / 100);
        *o++ = (char)('0' + ax / 10 % 10);
        *o++ = (char)('0' + ax % 10);
    } else if (x >= 0) {
        for (int i = 0; i <= x; i++)
            *o++ = i < n ? dig[i] : '0';
        if (n > x + 1) {
            *o++ = '.';
            memcpy(o, dig + x + 1, (size_t)(n - x - 1));
            o += n - x - 1;
        }
    } else {
        *o++ = '0';
        *o++ = '.';
        for (int i = 0; i < -x - 1; i++)
            *o++ = '0';
        memcpy(o, dig, (size_t)n);
        o += n;
    }
    *o = '\0';
    return (int)(o - out);
}

/* "%.<prec>g", with ".0" added when that reads as an integer, and the exponent without '+' and
 * without leading zeros (1e+20 -> 1e20, 1e-05 -> 1e-5): json_dumps's text of a real at that
 * precision. Out of line (like jsontext_add_integer), so that its buffers do not widen add_value's
 * frame at every level of a nested value: inlined, they made it 256 bytes a level. */
static __attribute__((noinline)) int add_real_prec(struct buf *b, double v, int prec)
{
    if (!isfinite(v))
        return -1;
    char tmp[40];
    int n = gprec(v, prec, tmp);
    if (n < 0)
        n = snprintf(tmp, sizeof tmp - 3, "%.*g", prec, v);
    if (n < 0 || (size_t)n >= sizeof tmp - 3)
        return -1;
    char *e = strchr(tmp, 'e');
    if (!e && !strchr(tmp, '.')) {
        memcpy(tmp + n, ".0", 3);
        n += 2;
    } else if (e) {
        char *from = e + 1, *to = e + 1;
        if (*from == '-')
            *to++ = *from++;
        else if (*from == '+')
            from++;
        while (*from == '0' && from[1])
            from++;
        memmove(to, from, strlen(from) + 1);
        n = (int)strlen(tmp);
    }
    return buf_add(b, tmp, (size_t)n);
}

int jsontext_add_real(struct buf *b, double v)
{
    return add_real_prec(b, v, JSONTEXT_PRECISION);
}

static int add_value(struct buf *b, const json_t *v, int depth, int prec)
{
    if (!v || depth > JSONTEXT_DEPTH_MAX)
        return -1;
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        if (add1(b, '{') < 0)
            return -1;
        int first = 1;
        /* The iterator functions take a non-const object; they do not change it. */
        json_t *o = (json_t *)v;
        for (void *it = json_object_iter(o); it; it = json_object_iter_next(o, it)) {
            if (!first && add1(b, ',') < 0)
                return -1;
            first = 0;
            if (jsontext_add_string(b, json_object_iter_key(it), json_object_iter_key_len(it)) <
                    0 ||
                add1(b, ':') < 0 || add_value(b, json_object_iter_value(it), depth + 1, prec) < 0)
                return -1;
        }
        return add1(b, '}');
    }
    case JSON_ARRAY: {
        if (add1(b, '[') < 0)
            return -1;
        size_t n = json_array_size(v);
        for (size_t i = 0; i < n; i++)
            if ((i > 0 && add1(b, ',') < 0) ||
                add_value(b, json_array_get(v, i), depth + 1, prec) < 0)
                return -1;
        return add1(b, ']');
    }
    case JSON_STRING:
        return jsontext_add_string(b, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        return jsontext_add_integer(b, json_integer_value(v));
    case JSON_REAL:
        return add_real_prec(b, json_real_value(v), prec);
    case JSON_TRUE:
        return buf_add(b, "true", 4);
    case JSON_FALSE:
        return buf_add(b, "false", 5);
    case JSON_NULL:
        return buf_add(b, "null", 4);
    }
    return -1;
}

int jsontext_add_prec(struct buf *b, const json_t *v, int precision)
{
    size_t len = b->len;
    if (precision < 1 || precision > JSONTEXT_PRECISION)
        return -1;
    if (add_value(b, v, 0, precision) == 0)
        return 0;
    if (b->data) {
        b->len = len;
        b->data[len] = '\0';
    }
    return -1;
}

int jsontext_add(struct buf *b, const json_t *v)
{
    return jsontext_add_prec(b, v, JSONTEXT_PRECISION);
}

char *jsontext_dump_prec(const json_t *v, int precision)
{
    struct buf b;
    buf_init(&b, (size_t)-1 / 2);
    (void)buf_reserve(&b, 480); /* most records fit: no regrowth */
    if (jsontext_add_prec(&b, v, precision) < 0) {
        buf_release(&b);
        return NULL;
    }
    /* Doubling leaves up to half the block unused, and some texts are held for seconds (a model
     * call's request body, at every turn waiting on its model): a realloc in place gives a
     * larger tail back. */
    if (b.cap - b.len > JSONTEXT_SLACK_MAX)
        b.data = xrealloc(b.data, b.len + 1);
    return buf_take(&b, NULL);
}

char *jsontext_dump(const json_t *v)
{
    return jsontext_dump_prec(v, JSONTEXT_PRECISION);
}
