/* test_jsontext.c - jsontext_dump writes what json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)
 * writes, on hand-picked values (every escape, reals at the edges of "%.17g", the integer
 * extremes, keys with escapes, empty and nested containers), on thousands of generated
 * documents and on hundreds of thousands of reals; and it refuses what it promises to refuse. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/jsontext.h"
#include "base/rand.h"
#include "check.h"

/* 1 when jsontext_dump(v) equals jansson's compact text of v (printed to stderr otherwise). */
static int same_as_jansson(const json_t *v)
{
    char *ours = jsontext_dump(v);
    char *theirs = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    int same = ours && theirs && strcmp(ours, theirs) == 0;
    if (!same)
        fprintf(stderr, "jsontext: %s\njansson:  %s\n", ours ? ours : "(null)",
                theirs ? theirs : "(null)");
    free(ours);
    free(theirs);
    return same;
}

static void test_strings(void)
{
    /* Every byte from 1 to 0x7f, then bytes of multi-byte UTF-8, then an embedded NUL. */
    char all[128];
    for (int i = 1; i < 128; i++)
        all[i - 1] = (char)i;
    all[127] = '\0';
    json_t *v = json_string(all);
    CHECK(same_as_jansson(v));
    json_decref(v);
    v = json_string("caf\xc3\xa9 \xf0\x9f\x98\x80 \xe2\x80\xa8 / \\ \"q\"");
    CHECK(same_as_jansson(v));
    json_decref(v);
    v = json_stringn("a\0b", 3);
    CHECK(same_as_jansson(v));
    char *t = jsontext_dump(v);
    CHECK(t && strcmp(t, "\"a\\u0000b\"") == 0);
    free(t);
    json_decref(v);
    v = json_string("");
    CHECK(same_as_jansson(v));
    json_decref(v);
    /* Keys are escaped like strings, and members keep their insertion order. */
    v = json_object();
    json_object_set_new(v, "z\n\"key\"", json_integer(1));
    json_object_set_new(v, "a", json_true());
    json_object_set_new(v, "\x01", json_null());
    CHECK(same_as_jansson(v));
    t = jsontext_dump(v);
    CHECK(t && strcmp(t, "{\"z\\n\\\"key\\\"\":1,\"a\":true,\"\\u0001\":null}") == 0);
    free(t);
    json_decref(v);
}

/* The text size of a string, byte by byte as JSON escapes it. */
static size_t string_size_by_bytes(const char *s, size_t n)
{
    size_t out = 2;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        out += strchr("\"\\\b\f\n\r\t", c) && c ? 2 : c < 0x20 ? 6 : 1;
    }
    return out;
}

/* The escape scan: every byte value at every offset of strings longer and shorter than its
 * eight-byte step, between bytes that need no escape (ASCII and UTF-8 with the high bit set):
 * the plain prefix ends exactly at the first '"', '\\' or control character, the size is the
 * byte-by-byte escaped size, and the sized text is the dumped text's length. */
static void test_plain_prefix(void)
{
    static const char fill[] = "ab\xc3\xa9~ 0\xf0\x9f\x98\x80Z}";
    int wrong = 0;
    for (size_t len = 1; len <= 19; len++) {
        for (size_t at = 0; at < len; at++) {
            for (int c = 0; c < 256; c++) {
                char s[20];
                for (size_t i = 0; i < len; i++)
                    s[i] = fill[i % (sizeof fill - 1)];
                s[at] = (char)c;
                int esc = c < 0x20 || c == '"' || c == '\\';
                if (jsontext_plain_prefix(s, len) != (esc ? at : len))
                    wrong++;
                if (jsontext_string_size(s, len) != string_size_by_bytes(s, len))
                    wrong++;
            }
        }
    }
    CHECK_INT(wrong, 0);
    CHECK_INT((long)jsontext_plain_prefix("", 0), 0);
    const char *mixed = "plain text\t then \"quoted\" \\ and \x01\x1f at the end of a long run";
    json_t *v = json_string(mixed);
    char *t = jsontext_dump(v);
    CHECK(t && jsontext_string_size(mixed, strlen(mixed)) == strlen(t));
    CHECK(same_as_jansson(v));
    free(t);
    json_decref(v);
}

static void test_numbers(void)
{
    const double reals[] = {0.0,
                            -0.0,
                            1.0,
                            -1.0,
                            0.1,
                            1.5,
                            1e20,
                            1e21,
                            1e-5,
                            1e-7,
                            1.5e300,
                            -2e-300,
                            DBL_MAX,
                            DBL_MIN,
                            5e-324,
                            1e16,
                            1e17,
                            123456789.125,
                            2.5e-10,
                            100.0,
                            3.141592653589793,
                            1.0 / 3.0,
                            4503599627370496.5};
    for (size_t i = 0; i < sizeof reals / sizeof reals[0]; i++) {
        json_t *v = json_real(reals[i]);
        CHECK(same_as_jansson(v));
        json_decref(v);
    }
    const json_int_t ints[] = {0, 1, -1, 9, 10, -10, 1234567890123LL, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        json_t *v = json_integer(ints[i]);
        CHECK(same_as_jansson(v));
        json_decref(v);
    }
    json_t *v = json_pack("[b, b, n, {}, [], [[]], {s:{}}]", 1, 0, "e");
    CHECK(same_as_jansson(v));
    char *t = jsontext_dump(v);
    CHECK(t && strcmp(t, "[true,false,null,{},[],[[]],{\"e\":{}}]") == 0);
    free(t);
    json_decref(v);
}

/* A random document of depth at most depth, from the seeded generator r. */
static json_t *random_value(struct rand_seeded *r, int depth)
{
    uint64_t x = rand_seeded_next(r);
    int kind = (int)(x % (depth > 0 ? 9 : 6));
    switch (kind) {
    case 0:
        return json_integer((json_int_t)rand_seeded_next(r) >> (x >> 8) % 64);
    case 1: {
        double d;
        uint64_t bits = rand_seeded_next(r);
        memcpy(&d, &bits, sizeof d);
        if (!isfinite(d))
            d = (double)(int64_t)bits / 7.0;
        return json_real(d);
    }
    case 2: {
        char s[40];
        size_t n = (x >> 8) % sizeof s;
        for (size_t i = 0; i < n; i++) {
            s[i] = (char)(rand_seeded_next(r) % 128); /* ASCII, control characters too */
            if (s[i] == '\0')
                s[i] = 'x';
        }
        return json_stringn(s, n);
    }
    case 3:
        return json_true();
    case 4:
        return json_false();
    case 5:
        return json_null();
    case 6:
    case 7: {
        json_t *o = json_object();
        int n = (int)((x >> 8) % 6);
        for (int i = 0; i < n; i++) {
            char key[16];
            snprintf(key, sizeof key, "k%d\t%u", i, (unsigned)(rand_seeded_next(r) % 100));
            json_object_set_new(o, key, random_value(r, depth - 1));
        }
        return o;
    }
    default: {
        json_t *a = json_array();
        int n = (int)((x >> 8) % 6);
        for (int i = 0; i < n; i++)
            json_array_append_new(a, random_value(r, depth - 1));
        return a;
    }
    }
}

static void test_generated(void)
{
    struct rand_seeded r;
    rand_seeded_init(&r, 20261206);
    int differ = 0;
    for (int i = 0; i < 3000; i++) {
        json_t *v = random_value(&r, 5);
        differ += !same_as_jansson(v);
        json_decref(v);
    }
    CHECK(differ == 0);
}

/* 1 when the text of the real v at prec significant digits is jansson's (jsontext_dump for 17,
 * jsontext_dump_prec otherwise); counts the mismatches it prints (at most 5). */
static int real_same_prec(double v, int prec, int *shown)
{
    json_t *j = json_real(v);
    char *ours = prec == JSONTEXT_PRECISION ? jsontext_dump(j) : jsontext_dump_prec(j, prec);
    char *theirs = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY |
                                     (prec == JSONTEXT_PRECISION ? 0 : JSON_REAL_PRECISION(prec)));
    int same = ours && theirs && strcmp(ours, theirs) == 0;
    if (!same && (*shown)++ < 5)
        fprintf(stderr, "real %a at %d digits: jsontext %s, jansson %s\n", v, prec,
                ours ? ours : "(null)", theirs ? theirs : "(null)");
    free(ours);
    free(theirs);
    json_decref(j);
    return same;
}

/* 1 when v's text at 17 digits and at 16 (the API's responses) are jansson's. */
static int real_same(double v, int *shown)
{
    int same17 = real_same_prec(v, JSONTEXT_PRECISION, shown);
    return real_same_prec(v, 16, shown) && same17;
}

/* Reals, where jsontext formats the digits itself (gprec in jsontext.c) and where it falls back
 * to snprintf, at 17 and 16 digits: random mantissas over binary exponents -90..90 (both paths and
 * the edges between), durations as the records make them (microseconds / 1000), exact halves and
 * large integers (the ties of the last digit), powers of ten and their neighbours (at every
 * precision from 1 to 17 too). */
static void test_reals(void)
{
    struct rand_seeded r;
    rand_seeded_init(&r, 20261206);
    int bad = 0, shown = 0;
    long n = 0;
    for (int i = 0; i < 200000; i++, n++) {
        uint64_t m = (rand_seeded_next(&r) >> 11) | (1ull << 52);
        int e = (int)(rand_seeded_next(&r) % 181) - 90 - 52;
        double v = ldexp((double)m, e);
        bad += !real_same(i % 2 ? -v : v, &shown);
    }
    for (int i = 0; i < 100000; i++, n++) {
        uint64_t us = rand_seeded_next(&r) % (i % 3 == 0 ? 1000000ull : 100000000000ull);
        bad += !real_same((double)us / 1000.0, &shown);
    }
    for (int i = 0; i < 50000; i++, n++) {
        /* an integer of up to 73 bits times 2^k, k >= 0: large integers whose 18th digit may
         * be a 5 with nothing after it (a tie) */
        uint64_t m = rand_seeded_next(&r) >> (11 + rand_seeded_next(&r) % 40);
        int k = (int)(rand_seeded_next(&r) % 21);
        bad += !real_same(ldexp((double)m, k), &shown);
        /* and halves: k + 0.5 */
        bad += !real_same((double)(m >> 12) + 0.5, &shown);
        n++;
    }
    for (int x = -30; x <= 40; x++, n += 3) {
        double p = pow(10.0, x);
        bad += !real_same(p, &shown);
        bad += !real_same(nextafter(p, 0), &shown);
        bad += !real_same(nextafter(p, INFINITY), &shown);
        for (int prec = 1; prec <= JSONTEXT_PRECISION; prec++, n += 2) {
            bad += !real_same_prec(p * 1.2345678901234567, prec, &shown);
            bad += !real_same_prec(p * 9.9999999999999999, prec, &shown);
        }
    }
    if (bad)
        fprintf(stderr, "%d of %ld reals differ\n", bad, n);
    CHECK_INT(bad, 0);
}

static void test_refusals(void)
{
    CHECK(jsontext_dump(NULL) == NULL);
    json_t *real = json_real(0.5); /* a precision out of 1..17 */
    CHECK(jsontext_dump_prec(real, 0) == NULL);
    CHECK(jsontext_dump_prec(real, JSONTEXT_PRECISION + 1) == NULL);
    json_decref(real);
    /* Deeper than the limit: refused. */
    json_t *root = json_array(), *at = root;
    for (int i = 0; i < JSONTEXT_DEPTH_MAX + 2; i++) {
        json_t *next = json_array();
        json_array_append_new(at, next);
        at = next;
    }
    CHECK(jsontext_dump(root) == NULL);
    json_decref(root);
    /* Past the buffer's cap: -1, and what the buffer held before stays. */
    struct buf b;
    buf_init(&b, 16);
    CHECK(buf_add_str(&b, "[1,") == 0);
    json_t *v = json_pack("{s:s}", "key", "a value too long for sixteen bytes");
    CHECK(jsontext_add(&b, v) == -1);
    CHECK(strcmp(buf_str(&b), "[1,") == 0);
    json_decref(v);
    v = json_pack("{s:i}", "k", 2);
    CHECK(jsontext_add(&b, v) == 0);
    CHECK(strcmp(buf_str(&b), "[1,{\"k\":2}") == 0);
    json_decref(v);
    buf_release(&b);
}

int main(void)
{
    RUN(test_strings);
    RUN(test_plain_prefix);
    RUN(test_numbers);
    RUN(test_generated);
    RUN(test_refusals);
    RUN(test_reals);
    return check_summary();
}
