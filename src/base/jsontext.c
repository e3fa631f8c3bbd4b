/* jsontext.c - compact JSON text of a jansson value; see jsontext.h. */
#include "base/jsontext.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/xmalloc.h"

#define JSONTEXT_SLACK_MAX 256 /* unused bytes jsontext_dump leaves at the end of its block */

size_t jsontext_string_size(const char *s, size_t n)
{
    size_t out = n + 2;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t')
            out += 1;
        else if (c < 0x20)
            out += 5;
    }
    return out;
}

/* The text of a string's bytes, quoted: '"' and '\\' and the control characters escaped. Bytes
 * from 0x20 up are copied as they are (jansson's constructors hold valid UTF-8). */
static int add_string(struct buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    if (buf_reserve(b, jsontext_string_size(s, n)) < 0)
        return -1;
    char *o = b->data + b->len, *start = o;
    *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            *o++ = (char)c;
            continue;
        }
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

static int add_integer(struct buf *b, json_int_t v)
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

/* "%.17g", with ".0" added when that reads as an integer, and the exponent without '+' and
 * without leading zeros (1e+20 -> 1e20, 1e-05 -> 1e-5): json_dumps's text of a real. */
static int add_real(struct buf *b, double v)
{
    if (!isfinite(v))
        return -1;
    char tmp[40];
    int n = snprintf(tmp, sizeof tmp - 3, "%.17g", v);
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

static int add_value(struct buf *b, const json_t *v, int depth)
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
            if (add_string(b, json_object_iter_key(it), json_object_iter_key_len(it)) < 0 ||
                add1(b, ':') < 0 || add_value(b, json_object_iter_value(it), depth + 1) < 0)
                return -1;
        }
        return add1(b, '}');
    }
    case JSON_ARRAY: {
        if (add1(b, '[') < 0)
            return -1;
        size_t n = json_array_size(v);
        for (size_t i = 0; i < n; i++)
            if ((i > 0 && add1(b, ',') < 0) || add_value(b, json_array_get(v, i), depth + 1) < 0)
                return -1;
        return add1(b, ']');
    }
    case JSON_STRING:
        return add_string(b, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        return add_integer(b, json_integer_value(v));
    case JSON_REAL:
        return add_real(b, json_real_value(v));
    case JSON_TRUE:
        return buf_add(b, "true", 4);
    case JSON_FALSE:
        return buf_add(b, "false", 5);
    case JSON_NULL:
        return buf_add(b, "null", 4);
    }
    return -1;
}

int jsontext_add(struct buf *b, const json_t *v)
{
    size_t len = b->len;
    if (add_value(b, v, 0) == 0)
        return 0;
    if (b->data) {
        b->len = len;
        b->data[len] = '\0';
    }
    return -1;
}

char *jsontext_dump(const json_t *v)
{
    struct buf b;
    buf_init(&b, (size_t)-1 / 2);
    (void)buf_reserve(&b, 480); /* most records fit: no regrowth */
    if (jsontext_add(&b, v) < 0) {
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
