/* buf.c - growable byte buffer with a cap; see buf.h. */
#include "base/buf.h"

#include <assert.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "base/xmalloc.h"

void buf_init(struct buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void buf_release(struct buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void buf_reset(struct buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

char *buf_take(struct buf *b, size_t *len)
{
    char *out = b->data ? b->data : xstrdup("");
    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return out;
}

int buf_reserve(struct buf *b, size_t n)
{
    int rc = -1;
    if (n > b->max || b->len > b->max - n)
        goto out;
    size_t need = b->len + n + 1;
    if (need > b->cap) {
        size_t cap = b->cap ? b->cap : 32;
        while (cap < need)
            cap = cap > ((size_t)-1) / 2 ? need : cap * 2;
        if (cap - 1 > b->max) /* not cap > max + 1: a max of SIZE_MAX (no cap) would wrap */
            cap = b->max + 1;
        b->data = xrealloc(b->data, cap);
        b->cap = cap;
        b->data[b->len] = '\0';
    }
    rc = 0;
out:
    return rc;
}

void buf_commit(struct buf *b, size_t n)
{
    assert(b->data && b->len + n < b->cap);
    b->len += n;
    b->data[b->len] = '\0';
}

int buf_add(struct buf *b, const void *p, size_t n)
{
    if (buf_reserve(b, n) < 0)
        return -1;
    if (n)
        memcpy(b->data + b->len, p, n);
    buf_commit(b, n);
    return 0;
}

int buf_add_str(struct buf *b, const char *s)
{
    return buf_add(b, s, strlen(s));
}

int buf_add_char(struct buf *b, char c)
{
    return buf_add(b, &c, 1);
}

int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
    int rc = -1;
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0 || buf_reserve(b, (size_t)n) < 0)
        goto out;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    buf_commit(b, (size_t)n);
    rc = 0;
out:
    return rc;
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

const char *buf_str(const struct buf *b)
{
    return b->data ? b->data : "";
}
