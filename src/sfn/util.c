/*
 * util.c - small helpers shared by the sfn module: the problem list, RFC 3339 timestamps,
 * payload size accounting, error-name matching, the per-execution random source and the state
 * type names.
 */
#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/jsontext.h"
#include "base/xmalloc.h"
#include "sfn/sfn_int.h"

/* ---- problems ---- */

void sfn_problem_list_init(struct sfn_problem_list *l)
{
    memset(l, 0, sizeof *l);
}

void sfn_problem_list_release(struct sfn_problem_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->count; i++) {
        free(l->items[i].where);
        free(l->items[i].message);
    }
    free(l->items);
    memset(l, 0, sizeof *l);
}

void sfn__problem_add(struct sfn_problem_list *l, const char *where, const char *fmt, ...)
{
    if (l->count == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 8;
        l->items = xrealloc(l->items, l->cap * sizeof *l->items);
    }
    va_list ap;
    va_start(ap, fmt);
    l->items[l->count].message = xvasprintf(fmt, ap);
    va_end(ap);
    l->items[l->count].where = xstrdup(where);
    l->count++;
}

/* ---- timestamps ---- */

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's civil algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int sfn__parse_timestamp(const char *s, int64_t *sec, int32_t *nsec)
{
    int Y, M, D, h, mi, se;
    if (strlen(s) < 20 || digits(s, 4, &Y) || s[4] != '-' || digits(s + 5, 2, &M) || s[7] != '-' ||
        digits(s + 8, 2, &D) || s[10] != 'T' || digits(s + 11, 2, &h) || s[13] != ':' ||
        digits(s + 14, 2, &mi) || s[16] != ':' || digits(s + 17, 2, &se))
        return -1;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (M < 1 || M > 12 || D < 1 || D > mdays[M - 1] || h > 23 || mi > 59 || se > 60)
        return -1;
    int leap = (Y % 4 == 0 && Y % 100 != 0) || Y % 400 == 0;
    if (M == 2 && D == 29 && !leap)
        return -1;
    const char *p = s + 19;
    int32_t frac = 0;
    if (*p == '.') {
        p++;
        int nd = 0;
        while (*p >= '0' && *p <= '9') {
            if (nd < 9)
                frac = frac * 10 + (*p - '0');
            nd++;
            p++;
        }
        if (nd == 0)
            return -1;
        for (; nd < 9; nd++)
            frac *= 10;
    }
    int off = 0;
    if (*p == 'Z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om) || oh > 23 || om > 59)
            return -1;
        off = (oh * 60 + om) * 60 * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return -1;
    }
    if (*p)
        return -1;
    *sec = days_from_civil(Y, M, D) * 86400 + h * 3600 + mi * 60 + se - off;
    *nsec = frac;
    return 0;
}

void sfn__format_iso(int64_t ms, char out[32])
{
    time_t t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    int msec = (int)(ms - (int64_t)t * 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    /* the modulos bound every field's width, so the text always fits in 32 bytes */
    snprintf(out, 32, "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ", (unsigned)(tm.tm_year + 1900) % 10000u,
             (unsigned)(tm.tm_mon + 1) % 100u, (unsigned)tm.tm_mday % 100u,
             (unsigned)tm.tm_hour % 100u, (unsigned)tm.tm_min % 100u, (unsigned)tm.tm_sec % 100u,
             (unsigned)msec % 1000u);
}

/* ---- payload size ---- */

static size_t size_rec(const json_t *v, size_t acc, size_t cap, int depth,
                       struct sfn__size_memo *m);

static unsigned memo_hash(const json_t *v, unsigned cap)
{
    uint64_t h = (uint64_t)(uintptr_t)v * 0x9E3779B97F4A7C15ull;
    return (unsigned)(h >> 32) & (cap - 1);
}

/* The slot of v in m: where it is, or the empty slot where it would go (m->cap > 0). */
static struct sfn__size_slot *memo_slot(const struct sfn__size_memo *m, const json_t *v)
{
    unsigned i = memo_hash(v, m->cap);
    while (m->slot[i].v && m->slot[i].v != v)
        i = (i + 1) & (m->cap - 1);
    return &m->slot[i];
}

static void memo_put(struct sfn__size_memo *m, const json_t *v, size_t n)
{
    if (m->count >= SFN_SIZE_MEMO_MAX)
        return;
    if ((m->count + 1) * 2 > m->cap) { /* at most half full */
        unsigned cap = m->cap ? m->cap * 2 : 64;
        struct sfn__size_memo grown = {xcalloc(cap, sizeof *grown.slot), cap, m->count};
        for (unsigned i = 0; i < m->cap; i++)
            if (m->slot[i].v)
                *memo_slot(&grown, m->slot[i].v) = m->slot[i];
        free(m->slot);
        *m = grown;
    }
    struct sfn__size_slot *s = memo_slot(m, v);
    assert(!s->v);
    *s = (struct sfn__size_slot){json_incref((json_t *)v), n};
    m->count++;
}

/* A container's size: remembered in m, or measured (and remembered when large enough and below
 * the top). */
static size_t size_container(const json_t *v, size_t acc, size_t cap, int depth,
                             struct sfn__size_memo *m)
{
    if (m && depth > 0 && m->cap) {
        const struct sfn__size_slot *s = memo_slot(m, v);
        if (s->v)
            return acc + s->n;
    }
    size_t start = acc;
    if (json_is_object(v)) {
        const char *k;
        size_t klen;
        json_t *x;
        size_t n = 0;
        acc += 2;
        json_object_keylen_foreach((json_t *)v, k, klen, x) {
            acc += (n++ ? 1 : 0) + jsontext_string_size(k, klen) + 1;
            acc = size_rec(x, acc, cap, depth + 1, m);
            if (acc > cap)
                return acc;
        }
    } else {
        size_t i;
        json_t *x;
        acc += 2;
        json_array_foreach((json_t *)v, i, x) {
            acc += i ? 1 : 0;
            acc = size_rec(x, acc, cap, depth + 1, m);
            if (acc > cap)
                return acc;
        }
    }
    if (m && depth > 0 && acc - start >= SFN_SIZE_MEMO_MIN)
        memo_put(m, v, acc - start);
    return acc;
}

static size_t size_rec(const json_t *v, size_t acc, size_t cap, int depth, struct sfn__size_memo *m)
{
    if (acc > cap || depth > 10000)
        return cap + 1;
    char buf[64];
    switch (json_typeof(v)) {
    case JSON_OBJECT:
    case JSON_ARRAY:
        return size_container(v, acc, cap, depth, m);
    case JSON_STRING:
        return acc + jsontext_string_size(json_string_value(v), json_string_length(v));
    case JSON_INTEGER: {
        json_int_t i = json_integer_value(v);
        unsigned long long u = i < 0 ? 0ULL - (unsigned long long)i : (unsigned long long)i;
        size_t d = i < 0 ? 2 : 1;
        while (u >= 10) {
            u /= 10;
            d++;
        }
        return acc + d;
    }
    case JSON_REAL:
        return acc + (size_t)snprintf(buf, sizeof buf, "%.17g", json_real_value(v));
    case JSON_TRUE:
        return acc + 4;
    case JSON_FALSE:
        return acc + 5;
    case JSON_NULL:
        return acc + 4;
    }
    return acc;
}

size_t sfn__json_size(const json_t *v, size_t cap)
{
    return size_rec(v, 0, cap, 0, NULL);
}

size_t sfn__json_size_memo(const json_t *v, size_t cap, struct sfn__size_memo *m)
{
    return size_rec(v, 0, cap, 0, m);
}

size_t sfn_json_size(const json_t *v)
{
    return size_rec(v, 0, SIZE_MAX / 2, 0, NULL);
}

void sfn__size_memo_note(struct sfn__size_memo *m, const json_t *v, size_t n)
{
    if (!json_is_object(v) && !json_is_array(v))
        return;
    if (m->cap && memo_slot(m, v)->v)
        return;
    memo_put(m, v, n);
}

void sfn__size_memo_release(struct sfn__size_memo *m)
{
    for (unsigned i = 0; i < m->cap; i++)
        json_decref(m->slot[i].v);
    free(m->slot);
    *m = (struct sfn__size_memo){0};
}

/* ---- error names ---- */

int sfn__error_matches(const struct sfn__errlist *l, const char *error)
{
    /* States.Runtime and the terminal States.DataLimitExceeded are never retried or caught. */
    if (!strcmp(error, "States.Runtime") || !strcmp(error, "States.DataLimitExceeded"))
        return 0;
    for (size_t i = 0; i < l->n; i++) {
        const char *n = l->names[i];
        if (!strcmp(n, error) || !strcmp(n, "States.ALL"))
            return 1;
        if (!strcmp(n, "States.TaskFailed") && strcmp(error, "States.Timeout") != 0 &&
            strcmp(error, "States.HeartbeatTimeout") != 0)
            return 1;
    }
    return 0;
}

/* ---- random ---- */

void sfn__uuid(struct rand_seeded *rng, char out[37])
{
    uint64_t a = rand_seeded_next(rng), b = rand_seeded_next(rng);
    a = (a & 0xffffffffffff0fffULL) | 0x4000ULL;             /* version 4 */
    b = (b & 0x3fffffffffffffffULL) | 0x8000000000000000ULL; /* variant 10 */
    snprintf(out, 37, "%08x-%04x-%04x-%04x-%012llx", (unsigned)(a >> 32),
             (unsigned)((a >> 16) & 0xffff), (unsigned)(a & 0xffff), (unsigned)(b >> 48),
             (unsigned long long)(b & 0xffffffffffffULL));
}

/* ------------------------------------------------------------------------------------------ */
/* state type names                                                                           */

static const char *const type_names[ST__COUNT] = {
#define X(id, name, fn) [ST_##id] = #name,
    SFN_STATE_TYPES(X)
#undef X
};

const char *sfn__type_name(enum sfn__type t)
{
    assert((unsigned)t < ST__COUNT);
    return type_names[t];
}

int sfn__type_lookup(const char *name)
{
    int t = -1;
    for (int i = 0; name && i < ST__COUNT && t < 0; i++)
        if (!strcmp(name, type_names[i]))
            t = i;
    return t;
}
