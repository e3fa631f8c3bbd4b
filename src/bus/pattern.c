/*
 * pattern.c - compiling and matching EventBridge event patterns (see pattern.h).
 *
 * Compilation turns the pattern JSON into a tree of nodes (objects: fields ANDed, $or groups) whose
 * leaves are lists of conditions (ORed). Matching walks the event alongside the tree; an event
 * array met where the pattern expects an object is tried element by element, so two fields can only
 * match inside the same array element (the guide's array semantics).
 */
#include "bus/pattern.h"

#include <arpa/inet.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/jsontext.h"
#include "base/xmalloc.h"

#define EVENT_MAX_DEPTH 64  /* deeper event values never match */
#define NUMERIC_LIMIT 5.0e9 /* numeric matching works within +-5.0e9 */
#define NUMERIC_SCALE 1.0e6 /* six digits to the right of the decimal point */

/* ------------------------------------------------------------------------------------------------
 * Compiled form
 * ---------------------------------------------------------------------------------------------- */

enum cond_kind {
    COND_EXACT,         /* value */
    COND_PREFIX,        /* strs[0], ignore_case */
    COND_SUFFIX,        /* strs[0], ignore_case */
    COND_EQUALS_IC,     /* strs[0] (folded) */
    COND_WILDCARD,      /* wilds[0] */
    COND_NUMERIC,       /* lo/hi */
    COND_EXISTS,        /* exists */
    COND_CIDR,          /* family, addr, bits */
    COND_NOT_VALUES,    /* anything-but: strs or nums */
    COND_NOT_PREFIX,    /* anything-but prefix: strs[0] */
    COND_NOT_SUFFIX,    /* anything-but suffix: strs[0] */
    COND_NOT_EQUALS_IC, /* anything-but equals-ignore-case: strs (folded) */
    COND_NOT_WILDCARD,  /* anything-but wildcard: wilds */
};

struct pstr {
    char *s;  /* bytes, NUL-terminated for convenience */
    size_t n; /* length in bytes (may contain NULs from \u0000) */
};

struct wild {
    unsigned char *bytes; /* unescaped pattern bytes */
    unsigned char *star;  /* star[i] = 1 when position i is a wildcard */
    size_t len;
};

struct cond {
    enum cond_kind kind;
    int ignore_case;   /* prefix/suffix with equals-ignore-case */
    json_t *value;     /* COND_EXACT: owned deep copy */
    struct pstr *strs; /* string operands */
    size_t nstrs;
    int64_t *nums; /* anything-but numbers, scaled by NUMERIC_SCALE */
    size_t nnums;
    struct wild *wilds; /* wildcard operands */
    size_t nwilds;
    int has_lo, lo_incl; /* numeric lower bound */
    int has_hi, hi_incl; /* numeric upper bound */
    int64_t lo, hi;      /* scaled bounds */
    int exists;          /* COND_EXISTS: 1 = must exist, 0 = must be absent */
    int family;          /* COND_CIDR: AF_INET or AF_INET6 */
    unsigned char addr[16];
    int bits;
};

struct node;

struct field {
    char *name;
    struct node *child; /* nested object pattern, or NULL for a leaf */
    struct cond *conds; /* leaf conditions (ORed) */
    size_t nconds;
};

struct orgroup {
    struct node **alts; /* any alternative must match */
    size_t nalts;
};

struct node {
    struct field *fields; /* all must match */
    size_t nfields;
    struct orgroup *ors; /* each group must match */
    size_t nors;
};

struct pattern {
    struct node *root;
};

/* ------------------------------------------------------------------------------------------------
 * Strings: case folding and UTF-8
 * ---------------------------------------------------------------------------------------------- */

/* Decodes one UTF-8 code point at s[*i]; invalid bytes decode as themselves (one byte). */
static uint32_t utf8_next(const unsigned char *s, size_t n, size_t *i)
{
    unsigned char c = s[*i];
    uint32_t cp;
    size_t need;
    if (c < 0x80) {
        (*i)++;
        return c;
    }
    if ((c & 0xE0) == 0xC0) {
        cp = c & 0x1F;
        need = 1;
    } else if ((c & 0xF0) == 0xE0) {
        cp = c & 0x0F;
        need = 2;
    } else if ((c & 0xF8) == 0xF0) {
        cp = c & 0x07;
        need = 3;
    } else {
        (*i)++;
        return c;
    }
    if (*i + need >= n) { /* truncated sequence */
        (*i)++;
        return c;
    }
    for (size_t k = 1; k <= need; k++) {
        if ((s[*i + k] & 0xC0) != 0x80) {
            (*i)++;
            return c;
        }
        cp = (cp << 6) | (s[*i + k] & 0x3F);
    }
    *i += need + 1;
    return cp;
}

static size_t utf8_put(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Simple lower-casing of the scripts support teams meet most (ASCII, Latin-1, Greek, Cyrillic). */
static uint32_t fold_cp(uint32_t c)
{
    if (c >= 'A' && c <= 'Z')
        return c + 32;
    if (c >= 0xC0 && c <= 0xDE && c != 0xD7)
        return c + 32;
    if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2)
        return c + 32;
    if (c >= 0x410 && c <= 0x42F)
        return c + 32;
    if (c >= 0x400 && c <= 0x40F)
        return c + 80;
    return c;
}

/* Returns a folded copy (owned by the caller) and its length in *outn. */
static char *fold_dup(const char *s, size_t n, size_t *outn)
{
    char *out = xmalloc(n * 2 + 1); /* a folded code point never needs more than twice the bytes */
    size_t i = 0, o = 0;
    while (i < n) {
        size_t start = i;
        uint32_t cp = utf8_next((const unsigned char *)s, n, &i);
        if (i == start + 1 && (unsigned char)s[start] >= 0x80) {
            out[o++] = s[start]; /* invalid byte: keep as is */
            continue;
        }
        o += utf8_put(fold_cp(cp), out + o);
    }
    out[o] = '\0';
    *outn = o;
    return out;
}

static int has_prefix(const char *s, size_t n, const struct pstr *p)
{
    return n >= p->n && memcmp(s, p->s, p->n) == 0;
}

static int has_suffix(const char *s, size_t n, const struct pstr *p)
{
    return n >= p->n && memcmp(s + n - p->n, p->s, p->n) == 0;
}

static int wild_match(const struct wild *w, const unsigned char *s, size_t n)
{
    size_t pi = 0, si = 0, mark = 0;
    size_t star = SIZE_MAX;
    while (si < n) {
        if (pi < w->len && !w->star[pi] && w->bytes[pi] == s[si]) {
            pi++;
            si++;
        } else if (pi < w->len && w->star[pi]) {
            star = pi++;
            mark = si;
        } else if (star != SIZE_MAX) {
            pi = star + 1;
            si = ++mark;
        } else {
            return 0;
        }
    }
    while (pi < w->len && w->star[pi])
        pi++;
    return pi == w->len;
}

/* ------------------------------------------------------------------------------------------------
 * Compilation
 * ---------------------------------------------------------------------------------------------- */

struct cctx {
    struct err *e;
    char path[256]; /* dotted path of the field being compiled */
};

static int fail(struct cctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct cctx *c, const char *fmt, ...)
{
    char reason[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    if (c->path[0])
        return err_set(c->e, "InvalidEventPattern", "event pattern is not valid: %s: %s", c->path,
                       reason);
    return err_set(c->e, "InvalidEventPattern", "event pattern is not valid: %s", reason);
}

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

static void pstr_set(struct pstr *p, const json_t *s, int fold)
{
    if (fold) {
        p->s = fold_dup(json_string_value(s), json_string_length(s), &p->n);
    } else {
        p->n = json_string_length(s);
        p->s = xmalloc(p->n + 1);
        memcpy(p->s, json_string_value(s), p->n);
        p->s[p->n] = '\0';
    }
}

static void cond_release(struct cond *k)
{
    json_decref(k->value);
    for (size_t i = 0; i < k->nstrs; i++)
        free(k->strs[i].s);
    free(k->strs);
    free(k->nums);
    for (size_t i = 0; i < k->nwilds; i++) {
        free(k->wilds[i].bytes);
        free(k->wilds[i].star);
    }
    free(k->wilds);
}

static void node_free(struct node *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->nfields; i++) {
        struct field *f = &n->fields[i];
        free(f->name);
        node_free(f->child);
        for (size_t j = 0; j < f->nconds; j++)
            cond_release(&f->conds[j]);
        free(f->conds);
    }
    free(n->fields);
    for (size_t i = 0; i < n->nors; i++) {
        for (size_t j = 0; j < n->ors[i].nalts; j++)
            node_free(n->ors[i].alts[j]);
        free(n->ors[i].alts);
    }
    free(n->ors);
    free(n);
}

static int64_t scale(double v)
{
    return (int64_t)llround(v * NUMERIC_SCALE);
}

static int numeric_in_range(double v)
{
    return v >= -NUMERIC_LIMIT && v <= NUMERIC_LIMIT;
}

/* Validates a wildcard string (no consecutive '*', '\' escapes only '*' and '\') and compiles it.
 */
static int compile_wild(struct cctx *c, const json_t *s, struct wild *w)
{
    const char *p = json_string_value(s);
    size_t n = json_string_length(s);
    w->bytes = xmalloc(n + 1);
    w->star = xmalloc(n + 1);
    w->len = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '*') {
            if (w->len > 0 && w->star[w->len - 1])
                return fail(c, "Consecutive wildcard characters at pos %zu", i);
            w->bytes[w->len] = '*';
            w->star[w->len++] = 1;
        } else if (p[i] == '\\') {
            if (i + 1 >= n || (p[i + 1] != '*' && p[i + 1] != '\\'))
                return fail(c,
                            "Invalid escape character at pos %zu: a backslash may only escape "
                            "'*' or '\\' in a wildcard",
                            i);
            w->bytes[w->len] = (unsigned char)p[++i];
            w->star[w->len++] = 0;
        } else {
            w->bytes[w->len] = (unsigned char)p[i];
            w->star[w->len++] = 0;
        }
    }
    return 0;
}

static int compile_numeric(struct cctx *c, const json_t *arr, struct cond *k)
{
    size_t n = json_is_array(arr) ? json_array_size(arr) : 0;
    if (n == 0)
        return fail(c, "Value of numeric must be an array.");
    if (n % 2 != 0 || n > 4)
        return fail(c,
                    "numeric expects operator/value pairs, at most a lower and an upper bound "
                    "(got %zu elements)",
                    n);
    k->kind = COND_NUMERIC;
    for (size_t i = 0; i < n; i += 2) {
        const json_t *op = json_array_get(arr, i), *val = json_array_get(arr, i + 1);
        if (!json_is_string(op))
            return fail(c, "Invalid member in numeric match: expected an operator, got %s",
                        type_name(op));
        const char *o = json_string_value(op);
        if (!json_is_number(val))
            return fail(c, "Value of %s must be numeric", o);
        double v = json_number_value(val);
        if (!numeric_in_range(v))
            return fail(c, "Value of %s must be between -5.0E9 and 5.0E9 inclusive", o);
        int64_t q = scale(v);
        if (strcmp(o, "=") == 0) {
            if (n != 2)
                return fail(c, "\"=\" cannot be combined with other numeric operators");
            k->has_lo = k->has_hi = k->lo_incl = k->hi_incl = 1;
            k->lo = k->hi = q;
        } else if (strcmp(o, ">") == 0 || strcmp(o, ">=") == 0) {
            if (k->has_lo)
                return fail(c, "Duplicate lower bound in numeric match");
            k->has_lo = 1;
            k->lo_incl = o[1] == '=';
            k->lo = q;
        } else if (strcmp(o, "<") == 0 || strcmp(o, "<=") == 0) {
            if (k->has_hi)
                return fail(c, "Duplicate upper bound in numeric match");
            k->has_hi = 1;
            k->hi_incl = o[1] == '=';
            k->hi = q;
        } else {
            return fail(c, "Unrecognized numeric range operator: %s", o);
        }
    }
    if (n == 4 && k->has_lo && k->has_hi && k->lo >= k->hi)
        return fail(c, "Bottom must be less than top");
    return 0;
}

static int compile_cidr(struct cctx *c, const json_t *v, struct cond *k)
{
    if (!json_is_string(v))
        return fail(c, "cidr match pattern must be a string");
    const char *s = json_string_value(v);
    const char *slash = strchr(s, '/');
    char host[64];
    if (!slash || (size_t)(slash - s) >= sizeof host)
        return fail(c, "Malformed CIDR, one '/' required: '%s'", s);
    memcpy(host, s, (size_t)(slash - s));
    host[slash - s] = '\0';
    char *end = NULL;
    long bits = strtol(slash + 1, &end, 10);
    if (!slash[1] || *end)
        return fail(c, "Malformed CIDR, bad prefix length: '%s'", s);
    k->kind = COND_CIDR;
    if (inet_pton(AF_INET, host, k->addr) == 1) {
        k->family = AF_INET;
        if (bits < 0 || bits > 32)
            return fail(c, "Malformed CIDR, prefix length must be 0-32: '%s'", s);
    } else if (inet_pton(AF_INET6, host, k->addr) == 1) {
        k->family = AF_INET6;
        if (bits < 0 || bits > 128)
            return fail(c, "Malformed CIDR, prefix length must be 0-128: '%s'", s);
    } else {
        return fail(c, "Malformed CIDR, not an IP address: '%s'", s);
    }
    k->bits = (int)bits;
    return 0;
}

/* Fills k->strs from a string or a non-empty array of strings. */
static int compile_strs(struct cctx *c, const char *what, const json_t *v, int fold, int allow_list,
                        struct cond *k)
{
    if (json_is_string(v)) {
        k->strs = xcalloc(1, sizeof *k->strs);
        k->nstrs = 1;
        pstr_set(&k->strs[0], v, fold);
        return 0;
    }
    if (!allow_list || !json_is_array(v))
        return fail(c, "%s match pattern must be a string%s", what,
                    allow_list ? " or an array of strings" : "");
    if (json_array_size(v) == 0)
        return fail(c, "Empty arrays are not allowed");
    k->strs = xcalloc(json_array_size(v), sizeof *k->strs);
    size_t i;
    const json_t *s;
    json_array_foreach(v, i, s) {
        if (!json_is_string(s))
            return fail(c, "Inside %s list, %s is not supported; use strings", what, type_name(s));
        pstr_set(&k->strs[k->nstrs++], s, fold);
    }
    return 0;
}

static int compile_wilds(struct cctx *c, const json_t *v, struct cond *k)
{
    size_t n = json_is_array(v) ? json_array_size(v) : 1;
    if (json_is_array(v) && n == 0)
        return fail(c, "Empty arrays are not allowed");
    k->wilds = xcalloc(n, sizeof *k->wilds);
    for (size_t i = 0; i < n; i++) {
        const json_t *s = json_is_array(v) ? json_array_get(v, i) : v;
        if (!json_is_string(s))
            return fail(c, "wildcard match pattern must be a string");
        k->nwilds++;
        if (compile_wild(c, s, &k->wilds[i]) < 0)
            return -1;
    }
    return 0;
}

static int compile_anything_but(struct cctx *c, const json_t *v, struct cond *k)
{
    if (json_is_string(v)) {
        k->kind = COND_NOT_VALUES;
        return compile_strs(c, "anything-but", v, 0, 0, k);
    }
    if (json_is_number(v)) {
        k->kind = COND_NOT_VALUES;
        k->nums = xmalloc(sizeof *k->nums);
        k->nums[k->nnums++] = scale(json_number_value(v));
        return 0;
    }
    if (json_is_array(v)) {
        size_t n = json_array_size(v), i;
        const json_t *x;
        if (n == 0)
            return fail(c, "Empty arrays are not allowed");
        k->kind = COND_NOT_VALUES;
        if (json_is_string(json_array_get(v, 0)))
            return compile_strs(c, "anything-but", v, 0, 1, k);
        k->nums = xcalloc(n, sizeof *k->nums);
        json_array_foreach(v, i, x) {
            if (!json_is_number(x))
                return fail(c,
                            "Inside anything-but list, %s is not supported; the list must hold "
                            "only strings or only numbers",
                            type_name(x));
            k->nums[k->nnums++] = scale(json_number_value(x));
        }
        return 0;
    }
    if (json_is_object(v)) {
        if (json_object_size(v) != 1)
            return fail(c, "anything-but object must hold exactly one of prefix, suffix, "
                           "equals-ignore-case, wildcard");
        const char *key = json_object_iter_key(json_object_iter((json_t *)v));
        const json_t *x = json_object_iter_value(json_object_iter((json_t *)v));
        if (strcmp(key, "prefix") == 0) {
            k->kind = COND_NOT_PREFIX;
            return compile_strs(c, "anything-but prefix", x, 0, 0, k);
        }
        if (strcmp(key, "suffix") == 0) {
            k->kind = COND_NOT_SUFFIX;
            return compile_strs(c, "anything-but suffix", x, 0, 0, k);
        }
        if (strcmp(key, "equals-ignore-case") == 0) {
            k->kind = COND_NOT_EQUALS_IC;
            return compile_strs(c, "anything-but equals-ignore-case", x, 1, 1, k);
        }
        if (strcmp(key, "wildcard") == 0) {
            k->kind = COND_NOT_WILDCARD;
            return compile_wilds(c, x, k);
        }
        return fail(c, "Unsupported anything-but pattern: %s", key);
    }
    return fail(c, "Value of anything-but must be an array or single string/number value (got %s)",
                type_name(v));
}

/* prefix / suffix: a string, or {"equals-ignore-case": string}. */
static int compile_affix(struct cctx *c, const char *what, const json_t *v, struct cond *k)
{
    if (json_is_object(v) && json_object_size(v) == 1 && json_object_get(v, "equals-ignore-case")) {
        k->ignore_case = 1;
        return compile_strs(c, what, json_object_get(v, "equals-ignore-case"), 1, 0, k);
    }
    if (!json_is_string(v))
        return fail(c, "%s match pattern must be a string or {\"equals-ignore-case\": string}",
                    what);
    return compile_strs(c, what, v, 0, 0, k);
}

static int compile_op(struct cctx *c, const json_t *obj, struct cond *k)
{
    if (json_object_size(obj) == 0)
        return fail(c, "Empty objects are not allowed");
    if (json_object_size(obj) > 1)
        return fail(c, "Only one key allowed in match expression");
    void *it = json_object_iter((json_t *)obj);
    const char *op = json_object_iter_key(it);
    const json_t *v = json_object_iter_value(it);
    if (strcmp(op, "prefix") == 0) {
        k->kind = COND_PREFIX;
        return compile_affix(c, "prefix", v, k);
    }
    if (strcmp(op, "suffix") == 0) {
        k->kind = COND_SUFFIX;
        return compile_affix(c, "suffix", v, k);
    }
    if (strcmp(op, "equals-ignore-case") == 0) {
        k->kind = COND_EQUALS_IC;
        return compile_strs(c, "equals-ignore-case", v, 1, 0, k);
    }
    if (strcmp(op, "wildcard") == 0) {
        k->kind = COND_WILDCARD;
        if (!json_is_string(v))
            return fail(c, "wildcard match pattern must be a string");
        return compile_wilds(c, v, k);
    }
    if (strcmp(op, "anything-but") == 0)
        return compile_anything_but(c, v, k);
    if (strcmp(op, "numeric") == 0)
        return compile_numeric(c, v, k);
    if (strcmp(op, "exists") == 0) {
        if (!json_is_boolean(v))
            return fail(c, "exists match pattern must be either true or false.");
        k->kind = COND_EXISTS;
        k->exists = json_is_true(v);
        return 0;
    }
    if (strcmp(op, "cidr") == 0)
        return compile_cidr(c, v, k);
    return fail(c, "Unrecognized match type %s", op);
}

static int compile_leaf(struct cctx *c, const json_t *arr, struct field *f)
{
    size_t n = json_array_size(arr), i;
    const json_t *v;
    if (n == 0)
        return fail(c, "Empty arrays are not allowed");
    f->conds = xcalloc(n, sizeof *f->conds);
    json_array_foreach(arr, i, v) {
        struct cond *k = &f->conds[f->nconds++];
        if (json_is_object(v)) {
            if (compile_op(c, v, k) < 0)
                return -1;
        } else if (json_is_array(v)) {
            return fail(c, "Match value must be String, number, true, false, or null");
        } else {
            k->kind = COND_EXACT;
            k->value = json_deep_copy(v);
        }
    }
    return 0;
}

static int is_operator_name(const char *k)
{
    static const char *const ops[] = {"prefix",   "suffix",       "equals-ignore-case",
                                      "wildcard", "anything-but", "numeric",
                                      "exists",   "cidr"};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (strcmp(k, ops[i]) == 0)
            return 1;
    return 0;
}

/* "$or" is the OR primitive when it holds an array of two or more objects that are not match
 * expressions; otherwise it is an ordinary field name. */
static int is_or_group(const char *key, const json_t *v)
{
    size_t i;
    const json_t *x;
    if (strcmp(key, "$or") != 0 || !json_is_array(v) || json_array_size(v) < 2)
        return 0;
    json_array_foreach(v, i, x) {
        const char *k;
        const json_t *y;
        if (!json_is_object(x))
            return 0;
        json_object_foreach((json_t *)x, k, y) {
            (void)y;
            if (is_operator_name(k))
                return 0;
        }
    }
    return 1;
}

static int compile_node(struct cctx *c, const json_t *obj, int depth, struct node **out)
{
    struct node *n = xcalloc(1, sizeof *n);
    *out = n;
    if (depth > PATTERN_MAX_DEPTH)
        return fail(c, "pattern nests deeper than %d levels", PATTERN_MAX_DEPTH);
    if (!json_is_object(obj))
        return fail(c, "must be an object, got %s", type_name(obj));
    if (json_object_size(obj) == 0)
        return fail(c, "Empty objects are not allowed");
    size_t nkeys = json_object_size(obj);
    n->fields = xcalloc(nkeys, sizeof *n->fields);
    n->ors = xcalloc(nkeys, sizeof *n->ors);
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        size_t plen = strlen(c->path);
        snprintf(c->path + plen, sizeof c->path - plen, "%s%s", plen ? "." : "", key);
        int rc = 0;
        if (is_or_group(key, v)) {
            struct orgroup *g = &n->ors[n->nors++];
            g->alts = xcalloc(json_array_size(v), sizeof *g->alts);
            for (size_t i = 0; i < json_array_size(v) && rc == 0; i++)
                rc = compile_node(c, json_array_get(v, i), depth + 1, &g->alts[g->nalts++]);
        } else if (json_is_object(v)) {
            struct field *f = &n->fields[n->nfields++];
            f->name = xstrdup(key);
            rc = compile_node(c, v, depth + 1, &f->child);
        } else if (json_is_array(v)) {
            struct field *f = &n->fields[n->nfields++];
            f->name = xstrdup(key);
            rc = compile_leaf(c, v, f);
        } else {
            rc = fail(c, "must be an object or an array, got %s", type_name(v));
        }
        if (rc < 0)
            return -1;
        c->path[plen] = '\0';
    }
    return 0;
}

static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

struct pattern *pattern_compile(const json_t *pattern, struct err *e)
{
    struct cctx c = {.e = e, .path = ""};
    struct node *root = NULL;
    if (!pattern || !json_is_object(pattern)) {
        fail(&c, "an event pattern must be a JSON object, got %s",
             pattern ? type_name(pattern) : "nothing");
        return NULL;
    }
    char *text = jsontext_dump(pattern);
    size_t chars = text ? utf8_chars(text) : 0;
    free(text);
    if (chars > PATTERN_MAX_CHARS) {
        fail(&c, "the pattern is %zu characters long; the limit is %d", chars, PATTERN_MAX_CHARS);
        return NULL;
    }
    if (compile_node(&c, pattern, 0, &root) < 0) {
        node_free(root);
        return NULL;
    }
    struct pattern *p = xcalloc(1, sizeof *p);
    p->root = root;
    return p;
}

struct pattern *pattern_compile_str(const char *json, struct err *e)
{
    json_error_t jerr;
    if (!json) {
        err_set(e, "InvalidEventPattern", "event pattern is not valid: no text");
        return NULL;
    }
    size_t chars = utf8_chars(json);
    if (chars > PATTERN_MAX_CHARS) {
        err_set(e, "InvalidEventPattern",
                "event pattern is not valid: the pattern is %zu characters long; the limit is %d",
                chars, PATTERN_MAX_CHARS);
        return NULL;
    }
    json_t *v = json_loads(json, 0, &jerr);
    if (!v) {
        err_set(e, "InvalidEventPattern", "event pattern is not valid JSON: line %d column %d: %s",
                jerr.line, jerr.column, jerr.text);
        return NULL;
    }
    struct pattern *p = pattern_compile(v, e);
    json_decref(v);
    return p;
}

void pattern_free(struct pattern *p)
{
    if (!p)
        return;
    node_free(p->root);
    free(p);
}

/* ------------------------------------------------------------------------------------------------
 * Matching
 * ---------------------------------------------------------------------------------------------- */

static int numeric_ok(const struct cond *k, const json_t *v)
{
    if (!json_is_number(v))
        return 0;
    double d = json_number_value(v);
    if (!numeric_in_range(d))
        return 0;
    int64_t q = scale(d);
    if (k->has_lo && (k->lo_incl ? q < k->lo : q <= k->lo))
        return 0;
    if (k->has_hi && (k->hi_incl ? q > k->hi : q >= k->hi))
        return 0;
    return 1;
}

static int cidr_ok(const struct cond *k, const json_t *v)
{
    unsigned char a[16];
    if (!json_is_string(v) || inet_pton(k->family, json_string_value(v), a) != 1)
        return 0;
    int full = k->bits / 8, rest = k->bits % 8;
    if (memcmp(a, k->addr, (size_t)full) != 0)
        return 0;
    if (rest) {
        unsigned char mask = (unsigned char)(0xFF << (8 - rest));
        if ((a[full] & mask) != (k->addr[full] & mask))
            return 0;
    }
    return 1;
}

static int any_str(const struct cond *k, const char *s, size_t n, int how)
{
    for (size_t i = 0; i < k->nstrs; i++) {
        const struct pstr *p = &k->strs[i];
        int hit = how == 0   ? (n == p->n && memcmp(s, p->s, n) == 0)
                  : how == 1 ? has_prefix(s, n, p)
                             : has_suffix(s, n, p);
        if (hit)
            return 1;
    }
    return 0;
}

static int any_wild(const struct cond *k, const char *s, size_t n)
{
    for (size_t i = 0; i < k->nwilds; i++)
        if (wild_match(&k->wilds[i], (const unsigned char *)s, n))
            return 1;
    return 0;
}

/* One condition against one scalar event value. */
static int cond_scalar(const struct cond *k, const json_t *v)
{
    const char *s = json_is_string(v) ? json_string_value(v) : NULL;
    size_t n = s ? json_string_length(v) : 0;
    int rc = 0;
    char *folded = NULL;
    if (s && (k->ignore_case || k->kind == COND_EQUALS_IC || k->kind == COND_NOT_EQUALS_IC)) {
        folded = fold_dup(s, n, &n);
        s = folded;
    }
    switch (k->kind) {
    case COND_EXACT:
        rc = json_equal((json_t *)k->value, (json_t *)v);
        break;
    case COND_PREFIX:
        rc = s && any_str(k, s, n, 1);
        break;
    case COND_SUFFIX:
        rc = s && any_str(k, s, n, 2);
        break;
    case COND_EQUALS_IC:
        rc = s && any_str(k, s, n, 0);
        break;
    case COND_WILDCARD:
        rc = s && any_wild(k, s, n);
        break;
    case COND_NUMERIC:
        rc = numeric_ok(k, v);
        break;
    case COND_CIDR:
        rc = cidr_ok(k, v);
        break;
    case COND_NOT_VALUES:
        if (k->nstrs)
            rc = !(s && any_str(k, s, n, 0));
        else if (json_is_number(v) && numeric_in_range(json_number_value(v))) {
            int64_t q = scale(json_number_value(v));
            rc = 1;
            for (size_t i = 0; i < k->nnums; i++)
                if (k->nums[i] == q)
                    rc = 0;
        } else {
            rc = 1;
        }
        break;
    case COND_NOT_PREFIX:
        rc = !(s && any_str(k, s, n, 1));
        break;
    case COND_NOT_SUFFIX:
        rc = !(s && any_str(k, s, n, 2));
        break;
    case COND_NOT_EQUALS_IC:
        rc = !(s && any_str(k, s, n, 0));
        break;
    case COND_NOT_WILDCARD:
        rc = !(s && any_wild(k, s, n));
        break;
    case COND_EXISTS:
        rc = 0; /* handled by the caller */
        break;
    }
    free(folded);
    return rc;
}

/* Any leaf value under v (arrays flattened, objects are not leaves) satisfies k. */
static int leaf_any(const struct cond *k, const json_t *v, int depth)
{
    if (!v || depth > EVENT_MAX_DEPTH || json_is_object(v))
        return 0;
    if (json_is_array(v)) {
        size_t i;
        const json_t *x;
        json_array_foreach(v, i, x) {
            if (leaf_any(k, x, depth + 1))
                return 1;
        }
        return 0;
    }
    return cond_scalar(k, v);
}

static int has_leaf(const json_t *v, int depth)
{
    if (!v || depth > EVENT_MAX_DEPTH || json_is_object(v))
        return 0;
    if (json_is_array(v)) {
        size_t i;
        const json_t *x;
        json_array_foreach(v, i, x) {
            if (has_leaf(x, depth + 1))
                return 1;
        }
        return 0;
    }
    return 1;
}

static int leaf_match(const struct field *f, const json_t *v)
{
    for (size_t i = 0; i < f->nconds; i++) {
        const struct cond *k = &f->conds[i];
        int ok = k->kind == COND_EXISTS ? has_leaf(v, 0) == k->exists : leaf_any(k, v, 0);
        if (ok)
            return 1;
    }
    return 0;
}

static int node_match(const struct node *n, const json_t *v, int depth)
{
    if (depth > EVENT_MAX_DEPTH)
        return 0;
    if (json_is_array(v) && json_array_size(v) > 0) {
        size_t i;
        const json_t *x;
        json_array_foreach(v, i, x) {
            if (node_match(n, x, depth + 1))
                return 1;
        }
        return 0;
    }
    for (size_t i = 0; i < n->nfields; i++) {
        const struct field *f = &n->fields[i];
        const json_t *fv = json_is_object(v) ? json_object_get(v, f->name) : NULL;
        int ok = f->child ? node_match(f->child, fv, depth + 1) : leaf_match(f, fv);
        if (!ok)
            return 0;
    }
    for (size_t i = 0; i < n->nors; i++) {
        int any = 0;
        for (size_t j = 0; j < n->ors[i].nalts && !any; j++)
            any = node_match(n->ors[i].alts[j], v, depth + 1);
        if (!any)
            return 0;
    }
    return 1;
}

int pattern_match(const struct pattern *p, const json_t *event)
{
    if (!p || !event)
        return 0;
    return node_match(p->root, event, 0);
}
