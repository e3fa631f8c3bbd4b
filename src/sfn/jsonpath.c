/*
 * jsonpath.c - compile and evaluate the JSONPath subset Step Functions accepts: `$`, `$$`,
 * `.name`, `['name']`, `[n]` (negative counts from the end), `[*]`, `.*`, `..name`, `..*`,
 * unions `[0,2]` / `['a','b']`, slices `[s:e]`, and filters `[?(@.x op literal)]` / `[?(@.x)]`.
 */
#include "sfn/jsonpath.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/xmalloc.h"

#define JP_MAX_SEGS 256
#define JP_MAX_DEPTH 4096 /* recursion cap for deep scan on programmatically built inputs */

enum seg_kind {
    SEG_FIELD,
    SEG_INDEX,
    SEG_WILD,
    SEG_DEEP,
    SEG_UNION_IDX,
    SEG_UNION_NAMES,
    SEG_SLICE,
    SEG_FILTER
};
enum filt_op { F_EXISTS, F_EQ, F_NE, F_LT, F_LE, F_GT, F_GE };

struct filter {
    struct jsonpath *lhs; /* relative path from @ (compiled as `$...`) */
    enum filt_op op;
    json_t *rhs; /* literal; NULL for F_EXISTS */
};

struct seg {
    enum seg_kind kind;
    char *name;      /* SEG_FIELD, SEG_DEEP (NULL = any) */
    long index;      /* SEG_INDEX */
    long *idx;       /* SEG_UNION_IDX */
    char **names;    /* SEG_UNION_NAMES */
    size_t n;        /* count for unions */
    long start, end; /* SEG_SLICE; has_start/has_end */
    int has_start, has_end;
    struct filter filt; /* SEG_FILTER */
};

struct jsonpath {
    char *text;
    int context; /* 1 for `$$` */
    int definite;
    size_t nsegs;
    struct seg *segs;
};

/* ------------------------------------------------------------------------------------------ */
/* compile                                                                                    */

struct cur {
    const char *s;
    size_t i;
    struct err *err;
    const char *text;
};

static int bad(struct cur *c, const char *what)
{
    return err_set(c->err, "InvalidPath", "invalid JSONPath '%s': %s at offset %zu", c->text, what,
                   c->i);
}

static void skip_ws(struct cur *c)
{
    while (c->s[c->i] == ' ')
        c->i++;
}

/* Reads a quoted name ('..' or ".."), handling backslash escapes. */
static int read_quoted(struct cur *c, char **out)
{
    char q = c->s[c->i++];
    struct buf name;
    buf_init(&name, strlen(c->s + c->i)); /* a name is never longer than what is left */
    for (;;) {
        char ch = c->s[c->i];
        if (ch == '\0') {
            buf_release(&name);
            return bad(c, "unterminated quoted name");
        }
        c->i++;
        if (ch == q)
            break;
        if (ch == '\\' && c->s[c->i] != '\0')
            ch = c->s[c->i++];
        buf_add_char(&name, ch);
    }
    *out = buf_take(&name, NULL);
    return 0;
}

static int read_long(struct cur *c, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(c->s + c->i, &end, 10);
    if (end == c->s + c->i || errno)
        return bad(c, "expected an integer");
    c->i = (size_t)(end - c->s);
    *out = v;
    return 0;
}

static int parse_literal(struct cur *c, json_t **out)
{
    skip_ws(c);
    char ch = c->s[c->i];
    if (ch == '\'' || ch == '"') {
        char *s;
        if (read_quoted(c, &s) < 0)
            return -1;
        *out = json_string(s);
        free(s);
        if (!*out)
            return bad(c, "string literal is not valid UTF-8");
        return 0;
    }
    if (!strncmp(c->s + c->i, "true", 4)) {
        c->i += 4;
        *out = json_true();
        return 0;
    }
    if (!strncmp(c->s + c->i, "false", 5)) {
        c->i += 5;
        *out = json_false();
        return 0;
    }
    if (!strncmp(c->s + c->i, "null", 4)) {
        c->i += 4;
        *out = json_null();
        return 0;
    }
    char *end;
    errno = 0;
    double d = strtod(c->s + c->i, &end);
    if (end == c->s + c->i || errno || !isfinite(d))
        return bad(c, "expected a literal in filter");
    c->i = (size_t)(end - c->s);
    *out = json_real(d);
    return 0;
}

static int parse_filter(struct cur *c, struct seg *sg)
{
    /* c->i points after "[?(" */
    skip_ws(c);
    if (c->s[c->i] != '@')
        return bad(c, "filter must start with '@'");
    size_t st = c->i;
    c->i++;
    while (c->s[c->i] && !strchr(" =!<>)", c->s[c->i]))
        c->i++;
    size_t len = c->i - st;
    char *rel = xmalloc(len + 1);
    rel[0] = '$';
    memcpy(rel + 1, c->s + st + 1, len - 1);
    rel[len] = '\0';
    sg->filt.lhs = jsonpath_compile(rel, JSONPATH_REFERENCE, c->err);
    free(rel);
    if (!sg->filt.lhs)
        return -1;
    skip_ws(c);
    static const struct {
        const char *tok;
        enum filt_op op;
    } ops[] = {
        {"==", F_EQ}, {"!=", F_NE}, {"<=", F_LE}, {">=", F_GE}, {"<", F_LT}, {">", F_GT},
    };
    sg->filt.op = F_EXISTS;
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
        size_t tl = strlen(ops[k].tok);
        if (!strncmp(c->s + c->i, ops[k].tok, tl)) {
            sg->filt.op = ops[k].op;
            c->i += tl;
            break;
        }
    }
    if (sg->filt.op != F_EXISTS && parse_literal(c, &sg->filt.rhs) < 0)
        return -1;
    skip_ws(c);
    if (c->s[c->i] != ')' || c->s[c->i + 1] != ']')
        return bad(c, "expected ')]' to close the filter");
    c->i += 2;
    return 0;
}

/* Quoted names: ['a'] is a field, ['a','b'] a union of names. c->i is at the first quote. */
static int parse_names(struct cur *c, struct seg *sg)
{
    sg->kind = SEG_UNION_NAMES;
    for (;;) {
        char *nm;
        skip_ws(c);
        if (c->s[c->i] != '\'' && c->s[c->i] != '"')
            return bad(c, "expected a quoted name");
        if (read_quoted(c, &nm) < 0)
            return -1;
        sg->names = xrealloc(sg->names, (sg->n + 1) * sizeof *sg->names);
        sg->names[sg->n++] = nm;
        skip_ws(c);
        if (c->s[c->i] == ',') {
            c->i++;
            continue;
        }
        if (c->s[c->i] != ']')
            return bad(c, "expected ']'");
        c->i++;
        break;
    }
    if (sg->n == 1) {
        sg->kind = SEG_FIELD;
        sg->name = sg->names[0];
        free(sg->names);
        sg->names = NULL;
        sg->n = 0;
    }
    return 0;
}

/* [n], [n,m,...] or a slice [s:e] (either end optional). c->i is after '[' and blanks. */
static int parse_numbers(struct cur *c, struct seg *sg)
{
    long first = 0;
    int has_first = 0;
    if (c->s[c->i] != ':') {
        if (read_long(c, &first) < 0)
            return -1;
        has_first = 1;
    }
    skip_ws(c);
    if (c->s[c->i] == ':') {
        c->i++;
        sg->kind = SEG_SLICE;
        sg->has_start = has_first;
        sg->start = first;
        skip_ws(c);
        if (c->s[c->i] != ']') {
            if (read_long(c, &sg->end) < 0)
                return -1;
            sg->has_end = 1;
        }
        skip_ws(c);
        if (c->s[c->i] != ']')
            return bad(c, "expected ']' after slice");
        c->i++;
        return 0;
    }
    sg->kind = SEG_UNION_IDX;
    sg->idx = xmalloc(sizeof *sg->idx);
    sg->idx[0] = first;
    sg->n = 1;
    while (c->s[c->i] == ',') {
        c->i++;
        skip_ws(c);
        long v;
        if (read_long(c, &v) < 0)
            return -1;
        sg->idx = xrealloc(sg->idx, (sg->n + 1) * sizeof *sg->idx);
        sg->idx[sg->n++] = v;
        skip_ws(c);
    }
    if (c->s[c->i] != ']')
        return bad(c, "expected ']'");
    c->i++;
    if (sg->n == 1) {
        sg->kind = SEG_INDEX;
        sg->index = sg->idx[0];
        free(sg->idx);
        sg->idx = NULL;
        sg->n = 0;
    }
    return 0;
}

static int parse_bracket(struct cur *c, struct seg *sg)
{
    /* c->i points after '[' */
    skip_ws(c);
    char ch = c->s[c->i];
    if (ch == '*') {
        c->i++;
        skip_ws(c);
        if (c->s[c->i] != ']')
            return bad(c, "expected ']'");
        c->i++;
        sg->kind = SEG_WILD;
        return 0;
    }
    if (ch == '?') {
        if (c->s[c->i + 1] != '(')
            return bad(c, "expected '(' after '?'");
        c->i += 2;
        sg->kind = SEG_FILTER;
        return parse_filter(c, sg);
    }
    if (ch == '\'' || ch == '"')
        return parse_names(c, sg);
    return parse_numbers(c, sg);
}

static char *read_name(struct cur *c)
{
    size_t st = c->i;
    while (c->s[c->i] && c->s[c->i] != '.' && c->s[c->i] != '[')
        c->i++;
    if (c->i == st)
        return NULL;
    return xstrndup(c->s + st, c->i - st);
}

static void seg_release(struct seg *sg)
{
    free(sg->name);
    free(sg->idx);
    for (size_t k = 0; sg->names && k < sg->n; k++)
        free(sg->names[k]);
    free(sg->names);
    jsonpath_free(sg->filt.lhs);
    if (sg->filt.rhs)
        json_decref(sg->filt.rhs);
}

void jsonpath_free(struct jsonpath *p)
{
    if (!p)
        return;
    for (size_t k = 0; k < p->nsegs; k++)
        seg_release(&p->segs[k]);
    free(p->segs);
    free(p->text);
    free(p);
}

struct jsonpath *jsonpath_compile(const char *text, int flags, struct err *err)
{
    struct jsonpath *p = xcalloc(1, sizeof *p);
    struct cur c = {.s = text, .i = 0, .err = err, .text = text};
    p->text = xstrdup(text);
    p->definite = 1;
    if (strlen(text) > JSONPATH_MAX_LEN) {
        err_set(err, "InvalidPath", "invalid JSONPath: longer than %d characters",
                JSONPATH_MAX_LEN);
        goto fail;
    }
    if (text[0] != '$') {
        bad(&c, "a path must start with '$'");
        goto fail;
    }
    c.i = 1;
    if (text[1] == '$') {
        p->context = 1;
        c.i = 2;
    }
    while (text[c.i]) {
        if (p->nsegs >= JP_MAX_SEGS) {
            bad(&c, "too many segments");
            goto fail;
        }
        p->segs = xrealloc(p->segs, (p->nsegs + 1) * sizeof *p->segs);
        struct seg *sg = &p->segs[p->nsegs++];
        memset(sg, 0, sizeof *sg);
        char ch = text[c.i];
        if (ch == '.' && text[c.i + 1] == '.') {
            c.i += 2;
            sg->kind = SEG_DEEP;
            if (text[c.i] == '*') {
                c.i++;
            } else if (text[c.i] == '[') {
                bad(&c, "deep scan must be followed by a name or '*'");
                goto fail;
            } else {
                sg->name = read_name(&c);
                if (!sg->name) {
                    bad(&c, "expected a name after '..'");
                    goto fail;
                }
            }
        } else if (ch == '.') {
            c.i++;
            if (text[c.i] == '*') {
                c.i++;
                sg->kind = SEG_WILD;
            } else {
                sg->kind = SEG_FIELD;
                sg->name = read_name(&c);
                if (!sg->name) {
                    bad(&c, "expected a name after '.'");
                    goto fail;
                }
            }
        } else if (ch == '[') {
            c.i++;
            if (parse_bracket(&c, sg) < 0)
                goto fail;
        } else {
            bad(&c, "unexpected character");
            goto fail;
        }
        if (sg->kind != SEG_FIELD && sg->kind != SEG_INDEX)
            p->definite = 0;
    }
    if ((flags & JSONPATH_REFERENCE) && !p->definite) {
        err_set(err, "InvalidPath",
                "invalid Reference Path '%s': wildcards, deep scan, unions, slices and filters "
                "are not allowed here",
                text);
        goto fail;
    }
    return p;
fail:
    jsonpath_free(p);
    return NULL;
}

const char *jsonpath_text(const struct jsonpath *p)
{
    return p->text;
}
int jsonpath_is_context(const struct jsonpath *p)
{
    return p->context;
}
int jsonpath_is_definite(const struct jsonpath *p)
{
    return p->definite;
}
int jsonpath_is_root(const struct jsonpath *p)
{
    return p->nsegs == 0;
}

/* ------------------------------------------------------------------------------------------ */
/* evaluate                                                                                   */

static long norm_index(long i, size_t n)
{
    return i < 0 ? (long)n + i : i;
}

static int cmp_json(const json_t *a, const json_t *b, int *res)
{
    if (json_is_number(a) && json_is_number(b)) {
        double x = json_number_value(a), y = json_number_value(b);
        *res = x < y ? -1 : x > y ? 1 : 0;
        return 0;
    }
    if (json_is_string(a) && json_is_string(b)) {
        int r = strcmp(json_string_value(a), json_string_value(b));
        *res = r < 0 ? -1 : r > 0 ? 1 : 0;
        return 0;
    }
    return -1;
}

static int filter_match(const struct filter *f, json_t *node)
{
    json_t *v = NULL;
    if (jsonpath_eval(f->lhs, node, &v) != 0)
        return 0;
    int ok = 0, r = 0;
    switch (f->op) {
    case F_EXISTS:
        ok = 1;
        break;
    case F_EQ:
        ok = cmp_json(v, f->rhs, &r) == 0 ? r == 0 : json_equal(v, f->rhs);
        break;
    case F_NE:
        ok = cmp_json(v, f->rhs, &r) == 0 ? r != 0 : !json_equal(v, f->rhs);
        break;
    case F_LT:
        ok = cmp_json(v, f->rhs, &r) == 0 && r < 0;
        break;
    case F_LE:
        ok = cmp_json(v, f->rhs, &r) == 0 && r <= 0;
        break;
    case F_GT:
        ok = cmp_json(v, f->rhs, &r) == 0 && r > 0;
        break;
    case F_GE:
        ok = cmp_json(v, f->rhs, &r) == 0 && r >= 0;
        break;
    }
    json_decref(v);
    return ok;
}

static void walk(const struct jsonpath *p, size_t si, json_t *node, json_t *acc, int depth);

static void deep(const struct jsonpath *p, size_t si, json_t *node, json_t *acc, int depth)
{
    const struct seg *sg = &p->segs[si];
    if (depth > JP_MAX_DEPTH)
        return;
    if (json_is_object(node)) {
        const char *k;
        json_t *v;
        json_object_foreach(node, k, v) {
            if (!sg->name || !strcmp(k, sg->name))
                walk(p, si + 1, v, acc, depth + 1);
        }
        json_object_foreach(node, k, v)
            deep(p, si, v, acc, depth + 1);
    } else if (json_is_array(node)) {
        size_t i;
        json_t *v;
        json_array_foreach(node, i, v) {
            if (!sg->name)
                walk(p, si + 1, v, acc, depth + 1);
        }
        json_array_foreach(node, i, v)
            deep(p, si, v, acc, depth + 1);
    }
}

static void walk(const struct jsonpath *p, size_t si, json_t *node, json_t *acc, int depth)
{
    if (si == p->nsegs) {
        json_array_append(acc, node);
        return;
    }
    const struct seg *sg = &p->segs[si];
    json_t *v;
    size_t i, n;
    switch (sg->kind) {
    case SEG_FIELD:
        v = json_is_object(node) ? json_object_get(node, sg->name) : NULL;
        if (v)
            walk(p, si + 1, v, acc, depth);
        break;
    case SEG_INDEX:
        if (json_is_array(node)) {
            long k = norm_index(sg->index, json_array_size(node));
            if (k >= 0 && (size_t)k < json_array_size(node))
                walk(p, si + 1, json_array_get(node, (size_t)k), acc, depth);
        }
        break;
    case SEG_WILD:
        if (json_is_array(node)) {
            json_array_foreach(node, i, v)
                walk(p, si + 1, v, acc, depth);
        } else if (json_is_object(node)) {
            const char *k;
            json_object_foreach(node, k, v)
                walk(p, si + 1, v, acc, depth);
        }
        break;
    case SEG_DEEP:
        deep(p, si, node, acc, depth);
        break;
    case SEG_UNION_IDX:
        if (json_is_array(node)) {
            n = json_array_size(node);
            for (i = 0; i < sg->n; i++) {
                long k = norm_index(sg->idx[i], n);
                if (k >= 0 && (size_t)k < n)
                    walk(p, si + 1, json_array_get(node, (size_t)k), acc, depth);
            }
        }
        break;
    case SEG_UNION_NAMES:
        if (json_is_object(node)) {
            for (i = 0; i < sg->n; i++) {
                v = json_object_get(node, sg->names[i]);
                if (v)
                    walk(p, si + 1, v, acc, depth);
            }
        }
        break;
    case SEG_SLICE:
        if (json_is_array(node)) {
            n = json_array_size(node);
            long s = sg->has_start ? norm_index(sg->start, n) : 0;
            long e = sg->has_end ? norm_index(sg->end, n) : (long)n;
            if (s < 0)
                s = 0;
            if (e > (long)n)
                e = (long)n;
            for (long k = s; k < e; k++)
                walk(p, si + 1, json_array_get(node, (size_t)k), acc, depth);
        }
        break;
    case SEG_FILTER:
        if (json_is_array(node)) {
            json_array_foreach(node, i, v) {
                if (filter_match(&sg->filt, v))
                    walk(p, si + 1, v, acc, depth);
            }
        } else if (json_is_object(node)) {
            const char *k;
            json_object_foreach(node, k, v) {
                if (filter_match(&sg->filt, v))
                    walk(p, si + 1, v, acc, depth);
            }
        }
        break;
    }
}

int jsonpath_eval(const struct jsonpath *p, json_t *root, json_t **out)
{
    if (p->definite) {
        json_t *node = root;
        for (size_t k = 0; k < p->nsegs && node; k++) {
            const struct seg *sg = &p->segs[k];
            if (sg->kind == SEG_FIELD) {
                node = json_is_object(node) ? json_object_get(node, sg->name) : NULL;
            } else {
                if (!json_is_array(node)) {
                    node = NULL;
                    break;
                }
                long i = norm_index(sg->index, json_array_size(node));
                node = i >= 0 ? json_array_get(node, (size_t)i) : NULL;
            }
        }
        if (!node)
            return 1;
        *out = json_incref(node);
        return 0;
    }
    json_t *acc = json_array();
    walk(p, 0, root, acc, 0);
    *out = acc;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* set (ResultPath)                                                                           */

static json_t *set_at(const struct jsonpath *p, size_t si, json_t *node, json_t *value,
                      struct err *err)
{
    if (si == p->nsegs)
        return json_incref(value);
    const struct seg *sg = &p->segs[si];
    if (sg->kind == SEG_FIELD) {
        if (node && !json_is_object(node)) {
            err_set(err, "States.ResultPathMatchFailure",
                    "Unable to apply ResultPath \"%s\" to input: the node before '%s' is not "
                    "an object",
                    p->text, sg->name);
            return NULL;
        }
        json_t *copy = node ? json_copy(node) : json_object();
        json_t *child = set_at(p, si + 1, json_object_get(copy, sg->name), value, err);
        if (!child) {
            json_decref(copy);
            return NULL;
        }
        json_object_set_new(copy, sg->name, child);
        return copy;
    }
    /* SEG_INDEX: the array element must exist */
    long i = json_is_array(node) ? norm_index(sg->index, json_array_size(node)) : -1;
    if (i < 0 || (size_t)i >= json_array_size(node)) {
        err_set(err, "States.ResultPathMatchFailure",
                "Unable to apply ResultPath \"%s\" to input: index %ld does not exist", p->text,
                sg->index);
        return NULL;
    }
    json_t *copy = json_copy(node);
    json_t *child = set_at(p, si + 1, json_array_get(copy, (size_t)i), value, err);
    if (!child) {
        json_decref(copy);
        return NULL;
    }
    json_array_set_new(copy, (size_t)i, child);
    return copy;
}

json_t *jsonpath_set(const struct jsonpath *p, json_t *doc, json_t *value, struct err *err)
{
    if (p->nsegs > 0 && !json_is_object(doc) && !json_is_array(doc)) {
        err_set(err, "States.ResultPathMatchFailure",
                "Unable to apply ResultPath \"%s\" to input: the input is not an object", p->text);
        return NULL;
    }
    return set_at(p, 0, doc, value, err);
}
