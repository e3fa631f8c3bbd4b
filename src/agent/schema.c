/*
 * schema.c - JSON Schema subset for tool inputs (see schema.h).
 *
 * schema_compile() checks every keyword and builds a tree of struct snode with regexes compiled;
 * validation walks the instance alongside the tree and appends one line per violation.
 */
#include "agent/schema.h"

#include <ctype.h>
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/jsontext.h"
#include "base/text.h"
#include "base/xmalloc.h"

/* ------------------------------------------------------------------------------------------------
 * Compiled form
 * ---------------------------------------------------------------------------------------------- */

enum {
    T_NULL = 1 << 0,
    T_BOOLEAN = 1 << 1,
    T_OBJECT = 1 << 2,
    T_ARRAY = 1 << 3,
    T_NUMBER = 1 << 4,
    T_STRING = 1 << 5,
    T_INTEGER = 1 << 6,
};

static const struct {
    const char *name;
    unsigned bit;
} type_names[] = {
    /* In the order violations list them. */
    {"string", T_STRING}, {"number", T_NUMBER}, {"integer", T_INTEGER}, {"boolean", T_BOOLEAN},
    {"object", T_OBJECT}, {"array", T_ARRAY},   {"null", T_NULL},
};

enum format { FMT_NONE, FMT_EMAIL, FMT_DATE, FMT_DATE_TIME, FMT_UUID, FMT_URI };

static const struct {
    const char *name;
    enum format fmt;
    const char *says; /* how a violation reads */
} formats[] = {
    {"email", FMT_EMAIL, "a valid email address"},
    {"date", FMT_DATE, "a date like 2024-05-31"},
    {"date-time", FMT_DATE_TIME, "a date-time like 2024-05-31T14:00:00Z"},
    {"uuid", FMT_UUID, "a UUID"},
    {"uri", FMT_URI, "an absolute URI"},
};

struct snode;

struct prop {
    char *name;
    struct snode *schema;
};

struct snode {
    int reject_all;     /* the boolean schema false */
    unsigned types;     /* T_* bits; 0 = any type */
    struct prop *props; /* properties */
    size_t nprops;
    char **required; /* required property names */
    size_t nrequired;
    int addl_forbidden;  /* additionalProperties: false */
    struct snode *addl;  /* additionalProperties: schema */
    json_t *enum_values; /* owned array, or NULL */
    json_t *const_value; /* owned, or NULL (has_const tells a null const apart) */
    int has_const;
    struct text_re *re;    /* compiled pattern (a copy per concurrent validator) */
    char *pattern;         /* pattern as written, or NULL */
    size_t pattern_max;    /* longest string (bytes) matched against it (SCHEMA_PATTERN_MAX_WORK) */
    long min_len, max_len; /* -1 when absent */
    int has_min, has_max, min_excl, max_excl;
    double min, max;
    double multiple_of;        /* 0 when absent */
    struct snode *items;       /* items schema */
    long min_items, max_items; /* -1 when absent */
    int unique_items;
    enum format format;
};

struct schema {
    struct snode *root;
};

static void snode_free(struct snode *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->nprops; i++) {
        free(n->props[i].name);
        snode_free(n->props[i].schema);
    }
    free(n->props);
    for (size_t i = 0; i < n->nrequired; i++)
        free(n->required[i]);
    free(n->required);
    snode_free(n->addl);
    json_decref(n->enum_values);
    json_decref(n->const_value);
    text_re_free(n->re);
    free(n->pattern);
    snode_free(n->items);
    free(n);
}

void schema_free(struct schema *s)
{
    if (!s)
        return;
    snode_free(s->root);
    free(s);
}

/* Every text built here (a translated pattern, a violation report) stays far below this; it
 * only keeps a hostile schema from growing one without bound. */
#define SCHEMA_TEXT_MAX (1u << 20)

/* Appends v as short JSON (long values are cut with "..."). */
static void add_json_short(struct buf *b, const json_t *v)
{
    char *s = jsontext_dump(v);
    if (!s) {
        buf_add_str(b, "?");
        return;
    }
    size_t n = strlen(s);
    if (n > 80) {
        buf_add(b, s, 77);
        buf_add_str(b, "...");
    } else {
        buf_add(b, s, n);
    }
    free(s);
}

/* ------------------------------------------------------------------------------------------------
 * Compilation
 * ---------------------------------------------------------------------------------------------- */

struct cctx {
    struct err *e;
    char where[512]; /* JSON Pointer into the schema, "#/properties/x" */
};

static int bad(struct cctx *c, const char *kw, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int bad(struct cctx *c, const char *kw, const char *fmt, ...)
{
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    return err_set(c->e, "InvalidSchema", "invalid schema at %s%s%s: %s", c->where, kw ? "/" : "",
                   kw ? kw : "", why);
}

/* Translates the ECMA escapes schema authors use (\d \w \s and their negations) to POSIX ERE. */
static char *translate_regex(const char *src)
{
    struct buf b;
    buf_init(&b, SCHEMA_TEXT_MAX);
    size_t i = 0, n = strlen(src);
    while (i < n) {
        char ch = src[i];
        if (ch == '\\' && i + 1 < n) {
            char x = src[i + 1];
            const char *rep = x == 'd'   ? "[0-9]"
                              : x == 'D' ? "[^0-9]"
                              : x == 'w' ? "[A-Za-z0-9_]"
                              : x == 'W' ? "[^A-Za-z0-9_]"
                              : x == 's' ? "[[:space:]]"
                              : x == 'S' ? "[^[:space:]]"
                                         : NULL;
            if (rep)
                buf_add_str(&b, rep);
            else
                buf_add(&b, src + i, 2);
            i += 2;
        } else if (ch == '[') {
            /* A bracket expression: POSIX has no escapes inside, so rebuild it. */
            struct buf body;
            buf_init(&body, SCHEMA_TEXT_MAX);
            int neg = 0, rbracket = 0, hyphen = 0;
            size_t j = i + 1;
            if (j < n && src[j] == '^') {
                neg = 1;
                j++;
            }
            while (j < n && src[j] != ']') {
                if (src[j] == '\\' && j + 1 < n) {
                    char x = src[j + 1];
                    if (x == 'd')
                        buf_add_str(&body, "0-9");
                    else if (x == 'w')
                        buf_add_str(&body, "A-Za-z0-9_");
                    else if (x == 's')
                        buf_add_str(&body, " \t\r\n\f\v");
                    else if (x == ']')
                        rbracket = 1;
                    else if (x == '-')
                        hyphen = 1;
                    else if (x == 'n')
                        buf_add_str(&body, "\n");
                    else if (x == 't')
                        buf_add_str(&body, "\t");
                    else
                        buf_add(&body, &x, 1);
                    j += 2;
                } else {
                    buf_add(&body, src + j, 1);
                    j++;
                }
            }
            buf_add_str(&b, neg ? "[^" : "[");
            if (rbracket)
                buf_add_str(&b, "]");
            buf_add_str(&b, buf_str(&body));
            if (hyphen)
                buf_add_str(&b, "-");
            if (j < n) {
                buf_add_str(&b, "]");
                j++;
            }
            buf_release(&body);
            i = j;
        } else {
            buf_add(&b, &ch, 1);
            i++;
        }
    }
    return buf_take(&b, NULL);
}

static int is_nonneg_int(const json_t *v, long *out)
{
    double d;
    if (json_is_integer(v)) {
        if (json_integer_value(v) < 0)
            return 0;
        *out = (long)json_integer_value(v);
        return 1;
    }
    if (json_is_real(v)) {
        d = json_real_value(v);
        if (d < 0 || d != floor(d) || d > 1e15)
            return 0;
        *out = (long)d;
        return 1;
    }
    return 0;
}

static int compile_node(struct cctx *c, const json_t *js, int depth, struct snode **out);

/* Compiles the subschema v found under keyword kw (and optional name), extending c->where. */
static int compile_sub(struct cctx *c, const json_t *v, const char *kw, const char *name, int depth,
                       struct snode **out)
{
    size_t len = strlen(c->where);
    snprintf(c->where + len, sizeof c->where - len, "/%s%s%s", kw, name ? "/" : "",
             name ? name : "");
    int rc = compile_node(c, v, depth + 1, out);
    if (rc == 0)
        c->where[len] = '\0';
    return rc;
}

static int compile_type(struct cctx *c, const json_t *v, struct snode *n)
{
    const json_t *one;
    size_t i, count = json_is_array(v) ? json_array_size(v) : 1;
    if (json_is_array(v) && count == 0)
        return bad(c, "type", "must be a type name or a non-empty array of type names");
    for (i = 0; i < count; i++) {
        one = json_is_array(v) ? json_array_get(v, i) : v;
        if (!json_is_string(one))
            return bad(c, "type", "must be a type name or an array of type names");
        unsigned bit = 0;
        for (size_t k = 0; k < sizeof type_names / sizeof type_names[0]; k++)
            if (strcmp(json_string_value(one), type_names[k].name) == 0)
                bit = type_names[k].bit;
        if (!bit)
            return bad(c, "type",
                       "unknown type '%s' (use null, boolean, object, array, number, string or "
                       "integer)",
                       json_string_value(one));
        n->types |= bit;
    }
    return 0;
}

static int compile_bound(struct cctx *c, const char *kw, const json_t *v, int *has, double *val)
{
    if (!json_is_number(v))
        return bad(c, kw, "must be a number");
    *has = 1;
    *val = json_number_value(v);
    return 0;
}

/* ---- one compile function per keyword ----
 * Each compiles keyword kw with value v (js is the whole schema object, for keywords that look at
 * a neighbour) into n. Returns 0, or -1 with the problem recorded through bad(). */

static int kw_annotation(struct cctx *c, const char *kw, const json_t *v, const json_t *js,
                         int depth, struct snode *n)
{
    (void)c, (void)kw, (void)v, (void)js, (void)depth, (void)n;
    return 0;
}

static int kw_unsupported(struct cctx *c, const char *kw, const json_t *v, const json_t *js,
                          int depth, struct snode *n)
{
    (void)v, (void)js, (void)depth, (void)n;
    return bad(c, kw, "keyword not supported by this validator");
}

static int kw_type(struct cctx *c, const char *kw, const json_t *v, const json_t *js, int depth,
                   struct snode *n)
{
    (void)kw, (void)js, (void)depth;
    return compile_type(c, v, n);
}

static int kw_properties(struct cctx *c, const char *kw, const json_t *v, const json_t *js,
                         int depth, struct snode *n)
{
    const char *name;
    const json_t *sub;
    (void)js;
    if (!json_is_object(v))
        return bad(c, kw, "must be an object mapping names to schemas");
    n->props = xcalloc(json_object_size(v) + 1, sizeof *n->props);
    json_object_foreach((json_t *)v, name, sub) {
        struct prop *p = &n->props[n->nprops++];
        p->name = xstrdup(name);
        if (compile_sub(c, sub, "properties", name, depth, &p->schema) < 0)
            return -1;
    }
    return 0;
}

static int kw_required(struct cctx *c, const char *kw, const json_t *v, const json_t *js, int depth,
                       struct snode *n)
{
    size_t i;
    const json_t *x;
    (void)js, (void)depth;
    if (!json_is_array(v))
        return bad(c, kw, "must be an array of property names");
    n->required = xcalloc(json_array_size(v) + 1, sizeof *n->required);
    json_array_foreach(v, i, x) {
        if (!json_is_string(x))
            return bad(c, kw, "must be an array of property names (item %zu is not a string)", i);
        n->required[n->nrequired++] = xstrdup(json_string_value(x));
    }
    return 0;
}

static int kw_additional_properties(struct cctx *c, const char *kw, const json_t *v,
                                    const json_t *js, int depth, struct snode *n)
{
    (void)js;
    if (json_is_false(v)) {
        n->addl_forbidden = 1;
        return 0;
    }
    if (json_is_true(v))
        return 0;
    if (!json_is_object(v))
        return bad(c, kw, "must be a boolean or a schema");
    return compile_sub(c, v, kw, NULL, depth, &n->addl);
}

static int kw_items(struct cctx *c, const char *kw, const json_t *v, const json_t *js, int depth,
                    struct snode *n)
{
    (void)js;
    if (json_is_array(v))
        return bad(c, kw, "tuple form (an array of schemas) is not supported; use one schema");
    return compile_sub(c, v, kw, NULL, depth, &n->items);
}

static int kw_enum(struct cctx *c, const char *kw, const json_t *v, const json_t *js, int depth,
                   struct snode *n)
{
    (void)js, (void)depth;
    if (!json_is_array(v) || json_array_size(v) == 0)
        return bad(c, kw, "must be a non-empty array");
    n->enum_values = json_deep_copy(v);
    return 0;
}

static int kw_const(struct cctx *c, const char *kw, const json_t *v, const json_t *js, int depth,
                    struct snode *n)
{
    (void)c, (void)kw, (void)js, (void)depth;
    n->has_const = 1;
    n->const_value = json_deep_copy(v);
    return 0;
}

/* Returns the index just past the bracket expression that opens at src[i] ('['). */
static size_t skip_bracket(const char *src, size_t i, size_t n)
{
    size_t j = i + 1;
    if (j < n && src[j] == '^')
        j++;
    while (j < n && src[j] != ']')
        j += src[j] == '\\' && j + 1 < n ? 2 : 1;
    return j < n ? j + 1 : n;
}

/* Reads a `{n}`, `{n,}`, `{n,m}` or `{,m}` bound at src[i]. Returns the index past it and sets *max
 * to the copies regcomp makes (m, or n + 1 when open), or returns i when src[i] starts no bound
 * (then '{' is a literal). */
static size_t read_bound(const char *src, size_t i, size_t n, unsigned long *max, int *too_big)
{
    size_t j = i + 1;
    unsigned long lo = 0, hi = 0;
    int has_hi = 0, digits = 0;
    for (; j < n && src[j] >= '0' && src[j] <= '9'; j++, digits++)
        if (lo <= SCHEMA_PATTERN_MAX_BOUND) /* saturates above the cap */
            lo = lo * 10 + (unsigned long)(src[j] - '0');
    if (!digits && !(j < n && src[j] == ',')) /* glibc reads `{,m}` as `{0,m}` */
        return i;
    if (j < n && src[j] == ',') {
        j++;
        for (; j < n && src[j] >= '0' && src[j] <= '9'; j++, has_hi = 1)
            if (hi <= SCHEMA_PATTERN_MAX_BOUND)
                hi = hi * 10 + (unsigned long)(src[j] - '0');
    } else {
        hi = lo, has_hi = 1;
    }
    if (j >= n || src[j] != '}')
        return i;
    *too_big = lo > SCHEMA_PATTERN_MAX_BOUND || hi > SCHEMA_PATTERN_MAX_BOUND;
    *max = has_hi ? (hi > lo ? hi : lo) : lo + 1;
    if (*max == 0)
        *max = 1;
    return j + 1;
}

/* Checks that the ECMA pattern src compiles to a bounded automaton (see schema.h). Returns its
 * expanded size (> 0), or -1 with the reason in why. Walks the pattern once, keeping per group the
 * expanded size so far and the size of the last atom, to which a quantifier applies. */
static long pattern_check(const char *src, char *why, size_t len)
{
    enum { MAX_GROUPS = 32 };
    unsigned long size[MAX_GROUPS + 1] = {0}, last[MAX_GROUPS + 1] = {0};
    int depth = 0, after_quant = 0;
    size_t i = 0, n = strlen(src);
    while (i < n) {
        char ch = src[i];
        unsigned long mult = 0; /* set when src[i] is a quantifier */
        int too_big = 0;
        size_t next = i + 1;
        if (ch == '*' || ch == '?') {
            mult = 1;
        } else if (ch == '+') {
            mult = 2; /* regcomp copies the atom: a+ is aa* */
        } else if (ch == '{') {
            next = read_bound(src, i, n, &mult, &too_big);
            if (next == i) {
                next = i + 1, mult = 0;
            } else if (too_big) {
                snprintf(why, len, "repetition bound above %d at offset %zu",
                         SCHEMA_PATTERN_MAX_BOUND, i);
                return -1;
            }
        }
        if (mult && last[depth]) {
            if (after_quant && !(ch == '?' && after_quant == 1)) {
                snprintf(why, len, "stacked quantifiers at offset %zu", i);
                return -1;
            }
            size[depth] += last[depth] * (mult - 1);
            after_quant = ch == '?' && after_quant ? 2 : 1; /* `*?` is lazy; no third one */
            i = next;
        } else {
            unsigned long atom = 1;
            after_quant = 0;
            if (ch == '\\' && i + 1 < n) {
                if (src[i + 1] >= '1' && src[i + 1] <= '9') {
                    snprintf(why, len, "backreference at offset %zu is not supported", i);
                    return -1;
                }
                next = i + 2;
            } else if (ch == '[') {
                next = skip_bracket(src, i, n);
            } else if (ch == '(') {
                if (depth == MAX_GROUPS) {
                    snprintf(why, len, "groups nested deeper than %d", MAX_GROUPS);
                    return -1;
                }
                depth++;
                size[depth] = last[depth] = 0;
                i = next;
                continue;
            } else if (ch == ')' && depth > 0) {
                atom = size[depth] ? size[depth] : 1;
                depth--;
            }
            size[depth] += atom;
            last[depth] = atom;
            i = next;
        }
        if (size[depth] > SCHEMA_PATTERN_MAX_COST) {
            snprintf(why, len,
                     "expands to more than %d elements (long, nested or large repetitions)",
                     SCHEMA_PATTERN_MAX_COST);
            return -1;
        }
    }
    return size[0] ? (long)size[0] : 1;
}

/* 1 when every match of the ECMA pattern src must start at the string's start: it begins with
 * `^` and has no `|` outside groups and brackets (a branch could start anywhere). */
static int anchored_at_start(const char *src)
{
    size_t i = 0, n = strlen(src);
    int depth = 0;
    if (n == 0 || src[0] != '^')
        return 0;
    while (i < n) {
        if (src[i] == '\\') {
            i += 2;
        } else if (src[i] == '[') {
            i = skip_bracket(src, i, n);
        } else {
            if (src[i] == '(')
                depth++;
            else if (src[i] == ')' && depth > 0)
                depth--;
            else if (src[i] == '|' && depth == 0)
                return 0;
            i++;
        }
    }
    return 1;
}

static int kw_pattern(struct cctx *c, const char *kw, const json_t *v, const json_t *js, int depth,
                      struct snode *n)
{
    (void)js, (void)depth;
    if (!json_is_string(v))
        return bad(c, kw, "must be a string (a regular expression)");
    char why[160];
    long cost = pattern_check(json_string_value(v), why, sizeof why);
    if (cost < 0)
        return bad(c, kw, "pattern '%.200s' is too complex: %s", json_string_value(v), why);
    /* glibc's regexec builds its automaton's states while it reads: its work grows with the
     * string's length times the square of the pattern's size, and with the square of the length
     * when every start is tried (measured: see schema.h). */
    unsigned long long sq = (unsigned long long)cost * (unsigned long long)cost;
    n->pattern_max = SCHEMA_PATTERN_MAX_WORK / sq;
    if (!anchored_at_start(json_string_value(v))) {
        size_t un = (size_t)(sqrt((double)SCHEMA_PATTERN_MAX_WORK2) / (double)cost);
        if (un < n->pattern_max)
            n->pattern_max = un;
    }
    char *ere = translate_regex(json_string_value(v));
    char msg[256] = "";
    n->re = text_re_new(ere, REG_EXTENDED | REG_NOSUB, msg, sizeof msg);
    free(ere);
    if (!n->re)
        return bad(c, kw, "cannot compile '%s': %s", json_string_value(v), msg);
    n->pattern = xstrdup(json_string_value(v));
    return 0;
}

/* minLength, maxLength, minItems and maxItems: a non-negative integer into *field. */
static int count_kw(struct cctx *c, const char *kw, const json_t *v, long *field)
{
    long x;
    if (!is_nonneg_int(v, &x))
        return bad(c, kw, "must be a non-negative integer");
    *field = x;
    return 0;
}

static int kw_min_length(struct cctx *c, const char *kw, const json_t *v, const json_t *js,
                         int depth, struct snode *n)
{
    (void)js, (void)depth;
    return count_kw(c, kw, v, &n->min_len);
}

static int kw_max_length(struct cctx *c, const char *kw, const json_t *v, const json_t *js,
                         int depth, struct snode *n)
{
    (void)js, (void)depth;
    return count_kw(c, kw, v, &n->max_len);
}

static int kw_min_items(struct cctx *c, const char *kw, const json_t *v, const json_t *js,
                        int depth, struct snode *n)
{
    (void)js, (void)depth;
    return count_kw(c, kw, v, &n->min_items);
}

static int kw_max_items(struct cctx *c, const char *kw, const json_t *v, const json_t *js,
                        int depth, struct snode *n)
{
    (void)js, (void)depth;
    return count_kw(c, kw, v, &n->max_items);
}

static int kw_minimum(struct cctx *c, const char *kw, const json_t *v, const json_t *js, int depth,
                      struct snode *n)
{
    (void)js, (void)depth;
    return compile_bound(c, kw, v, &n->has_min, &n->min);
}

static int kw_maximum(struct cctx *c, const char *kw, const json_t *v, const json_t *js, int depth,
                      struct snode *n)
{
    (void)js, (void)depth;
    return compile_bound(c, kw, v, &n->has_max, &n->max);
}

/* exclusiveMinimum / exclusiveMaximum: a boolean modifying minimum / maximum (draft-04), or a
 * number bound of its own (the tighter of it and minimum / maximum wins; one bound is kept). */
static int kw_exclusive(struct cctx *c, const char *kw, const json_t *v, const json_t *js,
                        int depth, struct snode *n)
{
    int is_min = strcmp(kw, "exclusiveMinimum") == 0;
    (void)depth;
    if (json_is_boolean(v)) {
        const char *base = is_min ? "minimum" : "maximum";
        if (json_is_true(v) && !json_object_get(js, base))
            return bad(c, kw, "true needs '%s' next to it", base);
        if (is_min)
            n->min_excl = json_is_true(v);
        else
            n->max_excl = json_is_true(v);
        return 0;
    }
    if (!json_is_number(v))
        return bad(c, kw, "must be a number");
    double x = json_number_value(v);
    if (is_min) {
        if (!n->has_min || x >= n->min) {
            n->has_min = 1;
            n->min = x;
            n->min_excl = 1;
        }
    } else if (!n->has_max || x <= n->max) {
        n->has_max = 1;
        n->max = x;
        n->max_excl = 1;
    }
    return 0;
}

static int kw_multiple_of(struct cctx *c, const char *kw, const json_t *v, const json_t *js,
                          int depth, struct snode *n)
{
    (void)js, (void)depth;
    if (!json_is_number(v) || json_number_value(v) <= 0)
        return bad(c, kw, "must be a number greater than 0");
    n->multiple_of = json_number_value(v);
    return 0;
}

static int kw_unique_items(struct cctx *c, const char *kw, const json_t *v, const json_t *js,
                           int depth, struct snode *n)
{
    (void)js, (void)depth;
    if (!json_is_boolean(v))
        return bad(c, kw, "must be a boolean");
    n->unique_items = json_is_true(v);
    return 0;
}

static int kw_format(struct cctx *c, const char *kw, const json_t *v, const json_t *js, int depth,
                     struct snode *n)
{
    (void)js, (void)depth;
    if (!json_is_string(v))
        return bad(c, kw, "must be a string");
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++)
        if (strcmp(json_string_value(v), formats[i].name) == 0)
            n->format = formats[i].fmt;
    return 0;
}

typedef int (*keyword_fn)(struct cctx *c, const char *kw, const json_t *v, const json_t *js,
                          int depth, struct snode *n);

/* Every keyword the compiler knows (STYLE rule 16): annotations are accepted and ignored, the
 * unsupported ones are refused by name, anything else is an unknown keyword. */
static const struct {
    const char *name;
    keyword_fn fn;
} keywords[] = {
    {"title", kw_annotation},
    {"description", kw_annotation},
    {"default", kw_annotation},
    {"examples", kw_annotation},
    {"$schema", kw_annotation},
    {"$id", kw_annotation},
    {"$comment", kw_annotation},
    {"readOnly", kw_annotation},
    {"writeOnly", kw_annotation},
    {"deprecated", kw_annotation},
    {"$ref", kw_unsupported},
    {"$defs", kw_unsupported},
    {"definitions", kw_unsupported},
    {"anyOf", kw_unsupported},
    {"oneOf", kw_unsupported},
    {"allOf", kw_unsupported},
    {"not", kw_unsupported},
    {"if", kw_unsupported},
    {"then", kw_unsupported},
    {"else", kw_unsupported},
    {"patternProperties", kw_unsupported},
    {"dependencies", kw_unsupported},
    {"dependentRequired", kw_unsupported},
    {"dependentSchemas", kw_unsupported},
    {"propertyNames", kw_unsupported},
    {"contains", kw_unsupported},
    {"prefixItems", kw_unsupported},
    {"additionalItems", kw_unsupported},
    {"unevaluatedProperties", kw_unsupported},
    {"unevaluatedItems", kw_unsupported},
    {"minProperties", kw_unsupported},
    {"maxProperties", kw_unsupported},
    {"minContains", kw_unsupported},
    {"maxContains", kw_unsupported},
    {"contentMediaType", kw_unsupported},
    {"contentEncoding", kw_unsupported},
    {"type", kw_type},
    {"properties", kw_properties},
    {"required", kw_required},
    {"additionalProperties", kw_additional_properties},
    {"items", kw_items},
    {"enum", kw_enum},
    {"const", kw_const},
    {"pattern", kw_pattern},
    {"minLength", kw_min_length},
    {"maxLength", kw_max_length},
    {"minItems", kw_min_items},
    {"maxItems", kw_max_items},
    {"minimum", kw_minimum},
    {"maximum", kw_maximum},
    {"exclusiveMinimum", kw_exclusive},
    {"exclusiveMaximum", kw_exclusive},
    {"multipleOf", kw_multiple_of},
    {"uniqueItems", kw_unique_items},
    {"format", kw_format},
};

static int compile_keyword(struct cctx *c, const char *kw, const json_t *v, const json_t *js,
                           int depth, struct snode *n)
{
    for (size_t i = 0; i < sizeof keywords / sizeof keywords[0]; i++)
        if (strcmp(kw, keywords[i].name) == 0)
            return keywords[i].fn(c, kw, v, js, depth, n);
    return bad(c, kw, "unknown keyword (a typo?)");
}

static int compile_node(struct cctx *c, const json_t *js, int depth, struct snode **out)
{
    struct snode *n = xcalloc(1, sizeof *n);
    n->min_len = n->max_len = n->min_items = n->max_items = -1;
    *out = n;
    if (depth > SCHEMA_MAX_DEPTH)
        return bad(c, NULL, "schema nests deeper than %d levels", SCHEMA_MAX_DEPTH);
    if (json_is_boolean(js)) {
        n->reject_all = json_is_false(js);
        return 0;
    }
    if (!json_is_object(js))
        return bad(c, NULL, "a schema must be an object or a boolean");
    /* exclusiveMinimum as a number must see minimum first, so do bounds in two passes. */
    static const char *const first[] = {"minimum", "maximum"};
    for (size_t i = 0; i < 2; i++) {
        const json_t *v = json_object_get(js, first[i]);
        if (v && compile_keyword(c, first[i], v, js, depth, n) < 0)
            return -1;
    }
    const char *kw;
    const json_t *v;
    json_object_foreach((json_t *)js, kw, v) {
        if (strcmp(kw, "minimum") == 0 || strcmp(kw, "maximum") == 0)
            continue;
        if (compile_keyword(c, kw, v, js, depth, n) < 0)
            return -1;
    }
    if (n->min_len >= 0 && n->max_len >= 0 && n->min_len > n->max_len)
        return bad(c, "minLength", "is greater than maxLength: no string can match");
    if (n->min_items >= 0 && n->max_items >= 0 && n->min_items > n->max_items)
        return bad(c, "minItems", "is greater than maxItems: no array can match");
    return 0;
}

struct schema *schema_compile(const json_t *schema, struct err *e)
{
    struct cctx c = {.e = e, .where = "#"};
    struct snode *root = NULL;
    if (!schema) {
        err_set(e, "InvalidSchema", "invalid schema: no schema given");
        return NULL;
    }
    if (compile_node(&c, schema, 0, &root) < 0) {
        snode_free(root);
        return NULL;
    }
    struct schema *s = xcalloc(1, sizeof *s);
    s->root = root;
    return s;
}

/* ------------------------------------------------------------------------------------------------
 * Formats
 * ---------------------------------------------------------------------------------------------- */

static int is_email(const char *s)
{
    const char *at = strrchr(s, '@');
    if (!at || at == s || at - s > 64)
        return 0;
    /* Local part: dot-atom. */
    for (const char *p = s; p < at; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch == '.') {
            if (p == s || p + 1 == at || p[1] == '.')
                return 0;
        } else if (!isalnum(ch) && !strchr("!#$%&'*+/=?^_`{|}~-", ch)) {
            return 0;
        }
    }
    /* Domain: labels of letters, digits and hyphens, at least two, last one alphabetic. */
    const char *d = at + 1;
    size_t dlen = strlen(d), label = 0, labels = 0;
    int tld_alpha = 1;
    if (dlen == 0 || dlen > 253)
        return 0;
    for (const char *p = d;; p++) {
        if (*p == '.' || *p == '\0') {
            if (label == 0 || label > 63 || p[-1] == '-')
                return 0;
            labels++;
            if (*p == '\0')
                break;
            label = 0;
            tld_alpha = 1;
            continue;
        }
        unsigned char ch = (unsigned char)*p;
        if (!isalnum(ch) && ch != '-')
            return 0;
        if (ch == '-' && label == 0)
            return 0;
        if (!isalpha(ch))
            tld_alpha = 0;
        label++;
    }
    return labels >= 2 && tld_alpha && label >= 2;
}

static int digits(const char *s, int n)
{
    for (int i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return 0;
    return 1;
}

static int is_date(const char *s)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (strlen(s) < 10 || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) || s[7] != '-' ||
        !digits(s + 8, 2))
        return 0;
    int y = atoi(s), m = (s[5] - '0') * 10 + (s[6] - '0'), d = (s[8] - '0') * 10 + (s[9] - '0');
    if (m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
        return 0;
    if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 0;
    return 1;
}

static int is_date_time(const char *s)
{
    if (!is_date(s) || (s[10] != 'T' && s[10] != 't') || !digits(s + 11, 2) || s[13] != ':' ||
        !digits(s + 14, 2) || s[16] != ':' || !digits(s + 17, 2))
        return 0;
    int hh = atoi(s + 11), mm = atoi(s + 14), ss = atoi(s + 17);
    if (hh > 23 || mm > 59 || ss > 60)
        return 0;
    const char *p = s + 19;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return 0;
        while (isdigit((unsigned char)*p))
            p++;
    }
    if ((*p == 'Z' || *p == 'z') && p[1] == '\0')
        return 1;
    if ((*p == '+' || *p == '-') && digits(p + 1, 2) && p[3] == ':' && digits(p + 4, 2) &&
        p[6] == '\0')
        return atoi(p + 1) <= 23 && atoi(p + 4) <= 59;
    return 0;
}

static int is_uuid(const char *s)
{
    if (strlen(s) != 36)
        return 0;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return 0;
        } else if (!isxdigit((unsigned char)s[i])) {
            return 0;
        }
    }
    return 1;
}

static int is_uri(const char *s)
{
    if (!isalpha((unsigned char)s[0]))
        return 0;
    const char *p = s + 1;
    while (isalnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.')
        p++;
    if (*p != ':' || p[1] == '\0')
        return 0;
    for (p++; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == '"' || *p == '<' || *p == '>' || *p == '\\')
            return 0;
    return 1;
}

static int format_ok(enum format f, const char *s)
{
    switch (f) {
    case FMT_EMAIL:
        return is_email(s);
    case FMT_DATE:
        return strlen(s) == 10 && is_date(s);
    case FMT_DATE_TIME:
        return is_date_time(s);
    case FMT_UUID:
        return is_uuid(s);
    case FMT_URI:
        return is_uri(s);
    default:
        return 1;
    }
}

static const char *format_says(enum format f)
{
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++)
        if (formats[i].fmt == f)
            return formats[i].says;
    return "well-formed";
}

/* ------------------------------------------------------------------------------------------------
 * Validation
 * ---------------------------------------------------------------------------------------------- */

struct vctx {
    struct buf out;  /* the report */
    int count;       /* violations found */
    char path[1024]; /* JSON Pointer of the current value */
};

static void violation(struct vctx *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void violation(struct vctx *v, const char *fmt, ...)
{
    v->count++;
    if (v->count > SCHEMA_MAX_VIOLATIONS)
        return;
    if (v->out.len)
        buf_add_str(&v->out, "; ");
    buf_add_str(&v->out, v->path[0] ? v->path : "(root)");
    buf_add_str(&v->out, ": ");
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&v->out, fmt, ap);
    va_end(ap);
}

/* Appends "/token" (escaped per RFC 6901) to the path; returns the old length to restore. */
static size_t path_push(struct vctx *v, const char *token)
{
    size_t old = strlen(v->path), at = old;
    if (at + 2 >= sizeof v->path)
        return old;
    v->path[at++] = '/';
    for (const char *p = token; *p && at + 3 < sizeof v->path; p++) {
        if (*p == '~' || *p == '/') {
            v->path[at++] = '~';
            v->path[at++] = *p == '~' ? '0' : '1';
        } else {
            v->path[at++] = *p;
        }
    }
    v->path[at] = '\0';
    return old;
}

static unsigned type_of(const json_t *x)
{
    switch (json_typeof(x)) {
    case JSON_NULL:
        return T_NULL;
    case JSON_TRUE:
    case JSON_FALSE:
        return T_BOOLEAN;
    case JSON_OBJECT:
        return T_OBJECT;
    case JSON_ARRAY:
        return T_ARRAY;
    case JSON_STRING:
        return T_STRING;
    case JSON_INTEGER:
        return T_NUMBER | T_INTEGER;
    case JSON_REAL: {
        double d = json_real_value(x);
        return T_NUMBER | (d == floor(d) && fabs(d) < 9.007199254740992e15 ? T_INTEGER : 0);
    }
    }
    return 0;
}

static const char *describe_type(const json_t *x)
{
    switch (json_typeof(x)) {
    case JSON_NULL:
        return "null";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
        return "integer";
    default:
        return "number";
    }
}

static size_t utf8_len(const char *s, size_t n)
{
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        count += ((unsigned char)s[i] & 0xC0) != 0x80;
    return count;
}

static void fmt_num(char *buf, size_t size, double d)
{
    if (d == floor(d) && fabs(d) < 1e15)
        snprintf(buf, size, "%.0f", d);
    else
        snprintf(buf, size, "%.17g", d);
}

static void validate_node(struct vctx *v, const struct snode *n, const json_t *x, int depth);

static void check_types(struct vctx *v, const struct snode *n, const json_t *x, int *ok)
{
    *ok = 1;
    if (!n->types || (type_of(x) & n->types))
        return;
    *ok = 0;
    struct buf want;
    buf_init(&want, SCHEMA_TEXT_MAX);
    size_t k = 0;
    size_t total = 0;
    for (size_t i = 0; i < sizeof type_names / sizeof type_names[0]; i++)
        total += (n->types & type_names[i].bit) != 0;
    for (size_t i = 0; i < sizeof type_names / sizeof type_names[0]; i++) {
        if (!(n->types & type_names[i].bit))
            continue;
        if (k)
            buf_add_str(&want, k + 1 == total ? " or " : ", ");
        const char *name = type_names[i].name;
        if (strcmp(name, "null") == 0)
            buf_add_str(&want, "null");
        else
            buf_printf(&want, "%s %s", strchr("aeiou", name[0]) ? "an" : "a", name);
        k++;
    }
    struct buf got;
    buf_init(&got, SCHEMA_TEXT_MAX);
    add_json_short(&got, x);
    violation(v, "must be %s (got %s %s)", buf_str(&want), describe_type(x), buf_str(&got));
    buf_release(&want);
    buf_release(&got);
}

static void check_string(struct vctx *v, const struct snode *n, const json_t *x)
{
    const char *s = json_string_value(x);
    size_t chars = utf8_len(s, json_string_length(x));
    if (n->min_len >= 0 && chars < (size_t)n->min_len)
        violation(v, "must be at least %ld character%s long (got %zu)", n->min_len,
                  n->min_len == 1 ? "" : "s", chars);
    if (n->max_len >= 0 && chars > (size_t)n->max_len)
        violation(v, "must be at most %ld character%s long (got %zu)", n->max_len,
                  n->max_len == 1 ? "" : "s", chars);
    if (n->pattern && json_string_length(x) > n->pattern_max) {
        violation(v,
                  "is too long to match against the pattern %s (%zu bytes; at most %zu for "
                  "this pattern)",
                  n->pattern, json_string_length(x), n->pattern_max);
    } else if (n->pattern && text_re_exec(n->re, s, 0, NULL, 0) != 0) {
        struct buf got;
        buf_init(&got, SCHEMA_TEXT_MAX);
        add_json_short(&got, x);
        violation(v, "must match the pattern %s (got %s)", n->pattern, buf_str(&got));
        buf_release(&got);
    }
    if (n->format != FMT_NONE && !format_ok(n->format, s)) {
        struct buf got;
        buf_init(&got, SCHEMA_TEXT_MAX);
        add_json_short(&got, x);
        violation(v, "must be %s (got %s)", format_says(n->format), buf_str(&got));
        buf_release(&got);
    }
}

static void check_number(struct vctx *v, const struct snode *n, const json_t *x)
{
    double d = json_number_value(x);
    char lim[64], got[64];
    fmt_num(got, sizeof got, d);
    if (n->has_min && (n->min_excl ? !(d > n->min) : !(d >= n->min))) {
        fmt_num(lim, sizeof lim, n->min);
        violation(v, "must be %s %s (got %s)", n->min_excl ? ">" : ">=", lim, got);
    }
    if (n->has_max && (n->max_excl ? !(d < n->max) : !(d <= n->max))) {
        fmt_num(lim, sizeof lim, n->max);
        violation(v, "must be %s %s (got %s)", n->max_excl ? "<" : "<=", lim, got);
    }
    if (n->multiple_of > 0) {
        double q = d / n->multiple_of;
        if (fabs(q - nearbyint(q)) > 1e-9 * fmax(1.0, fabs(q))) {
            fmt_num(lim, sizeof lim, n->multiple_of);
            violation(v, "must be a multiple of %s (got %s)", lim, got);
        }
    }
}

static const struct snode *prop_schema(const struct snode *n, const char *name)
{
    for (size_t i = 0; i < n->nprops; i++)
        if (strcmp(n->props[i].name, name) == 0)
            return n->props[i].schema;
    return NULL;
}

static void check_object(struct vctx *v, const struct snode *n, const json_t *x, int depth)
{
    for (size_t i = 0; i < n->nrequired; i++) {
        if (json_object_get(x, n->required[i]))
            continue;
        size_t old = path_push(v, n->required[i]);
        const struct snode *ps = prop_schema(n, n->required[i]);
        if (ps && ps->types && !(ps->types & (ps->types - 1))) {
            /* A single type: say which, it helps the model fill it in. */
            const char *tn = "value";
            for (size_t k = 0; k < sizeof type_names / sizeof type_names[0]; k++)
                if (ps->types == type_names[k].bit)
                    tn = type_names[k].name;
            violation(v, "required property missing (expected %s)", tn);
        } else {
            violation(v, "required property missing");
        }
        v->path[old] = '\0';
    }
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)x, key, val) {
        const struct snode *ps = prop_schema(n, key);
        size_t old = path_push(v, key);
        if (ps) {
            validate_node(v, ps, val, depth + 1);
        } else if (n->addl_forbidden) {
            struct buf allowed;
            buf_init(&allowed, SCHEMA_TEXT_MAX);
            for (size_t i = 0; i < n->nprops; i++) {
                if (i)
                    buf_add_str(&allowed, ", ");
                buf_add_str(&allowed, n->props[i].name);
            }
            if (n->nprops)
                violation(v, "unexpected property (allowed: %s)", buf_str(&allowed));
            else
                violation(v, "unexpected property (no properties are allowed)");
            buf_release(&allowed);
        } else if (n->addl) {
            validate_node(v, n->addl, val, depth + 1);
        }
        v->path[old] = '\0';
    }
}

static void check_array(struct vctx *v, const struct snode *n, const json_t *x, int depth)
{
    size_t len = json_array_size(x);
    if (n->min_items >= 0 && len < (size_t)n->min_items)
        violation(v, "must have at least %ld item%s (got %zu)", n->min_items,
                  n->min_items == 1 ? "" : "s", len);
    if (n->max_items >= 0 && len > (size_t)n->max_items)
        violation(v, "must have at most %ld item%s (got %zu)", n->max_items,
                  n->max_items == 1 ? "" : "s", len);
    if (n->unique_items && len <= 1000) {
        for (size_t i = 0; i < len; i++)
            for (size_t j = i + 1; j < len; j++)
                if (json_equal(json_array_get(x, i), json_array_get(x, j))) {
                    violation(v, "items must be unique (items %zu and %zu are equal)", i, j);
                    i = j = len;
                }
    }
    if (n->items) {
        for (size_t i = 0; i < len; i++) {
            char idx[32];
            snprintf(idx, sizeof idx, "%zu", i);
            size_t old = path_push(v, idx);
            validate_node(v, n->items, json_array_get(x, i), depth + 1);
            v->path[old] = '\0';
        }
    }
}

static void check_enum(struct vctx *v, const struct snode *n, const json_t *x)
{
    size_t i;
    const json_t *e;
    json_array_foreach(n->enum_values, i, e) {
        /* Compare numbers by value: 1 and 1.0 are the same JSON Schema number. */
        if (json_equal((json_t *)e, (json_t *)x) || (json_is_number(e) && json_is_number(x) &&
                                                     json_number_value(e) == json_number_value(x)))
            return;
    }
    struct buf want, got;
    buf_init(&want, SCHEMA_TEXT_MAX);
    buf_init(&got, SCHEMA_TEXT_MAX);
    json_array_foreach(n->enum_values, i, e) {
        if (i)
            buf_add_str(&want, ", ");
        add_json_short(&want, e);
    }
    add_json_short(&got, x);
    violation(v, "must be one of %s (got %s)", buf_str(&want), buf_str(&got));
    buf_release(&want);
    buf_release(&got);
}

static void validate_node(struct vctx *v, const struct snode *n, const json_t *x, int depth)
{
    int ok;
    if (n->reject_all) {
        violation(v, "is not allowed here");
        return;
    }
    if (depth > SCHEMA_INSTANCE_DEPTH) {
        violation(v, "nesting is deeper than %d levels", SCHEMA_INSTANCE_DEPTH);
        return;
    }
    check_types(v, n, x, &ok);
    if (!ok)
        return;
    if (n->enum_values)
        check_enum(v, n, x);
    if (n->has_const && !json_equal(n->const_value, (json_t *)x) &&
        !(json_is_number(n->const_value) && json_is_number(x) &&
          json_number_value(n->const_value) == json_number_value(x))) {
        struct buf want, got;
        buf_init(&want, SCHEMA_TEXT_MAX);
        buf_init(&got, SCHEMA_TEXT_MAX);
        add_json_short(&want, n->const_value);
        add_json_short(&got, x);
        violation(v, "must be %s (got %s)", buf_str(&want), buf_str(&got));
        buf_release(&want);
        buf_release(&got);
    }
    if (json_is_string(x))
        check_string(v, n, x);
    else if (json_is_number(x))
        check_number(v, n, x);
    else if (json_is_object(x))
        check_object(v, n, x, depth);
    else if (json_is_array(x))
        check_array(v, n, x, depth);
}

int schema_check(const struct schema *s, const json_t *instance, char **message)
{
    struct vctx v = {.count = 0, .path = ""};
    buf_init(&v.out, SCHEMA_TEXT_MAX);
    if (message)
        *message = NULL;
    if (!s || !instance) {
        if (message)
            *message = xstrdup("(root): no input given");
        return 1;
    }
    validate_node(&v, s->root, instance, 0);
    if (v.count > SCHEMA_MAX_VIOLATIONS)
        buf_printf(&v.out, "; and %d more violation%s", v.count - SCHEMA_MAX_VIOLATIONS,
                   v.count - SCHEMA_MAX_VIOLATIONS == 1 ? "" : "s");
    if (v.count && message)
        *message = buf_take(&v.out, NULL);
    else
        buf_release(&v.out);
    return v.count;
}

int schema_validate(const struct schema *s, const json_t *instance, struct err *e)
{
    char *msg = NULL;
    int n = schema_check(s, instance, &msg);
    if (n == 0)
        return 0;
    err_set(e, "InvalidInput", "%s", msg);
    free(msg);
    return -1;
}
