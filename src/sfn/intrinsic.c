/*
 * intrinsic.c - the States.* intrinsic functions: compiled once from their call text into an
 * argument tree, evaluated per state entry with AWS's argument checks. Every evaluation failure
 * is States.IntrinsicFailure with a message naming the function and the bad argument.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/jsontext.h"
#include "base/xmalloc.h"
#include "sfn/sfn_int.h"

#define INTR_MAX_ARGS 256
#define INTR_MAX_NEST 32
#define INTR_MAX_STR 10000 /* AWS: Base64 and Hash inputs are capped at 10,000 characters */
#define INTR_MAX_RANGE 1000
#define INTR_MAX_FORMAT (64 * 1024 * 1024) /* bytes of a States.Format result */

enum arg_kind { A_LIT, A_PATH, A_FN };
struct arg {
    enum arg_kind kind;
    json_t *lit; /* A_LIT */
    char *raw;   /* A_LIT string: text as written (escapes kept), for States.Format */
    struct jsonpath *path;
    struct sfn__intrinsic *fn;
};

struct fdef;
struct sfn__intrinsic {
    const struct fdef *def;
    struct arg *args;
    size_t nargs;
    int uses_context;
    char *text; /* the whole call as written (top-level calls only; NULL for nested ones) */
};

typedef int (*impl_fn)(const struct sfn__intrinsic *f, json_t **v, const struct sfn__env *env,
                       json_t **out, struct err *err);
struct fdef {
    const char *name;
    size_t min, max;
    impl_fn impl;
};

static int fail(struct err *err, const char *fn, const char *fmt, const char *detail)
{
    char msg[512];
    snprintf(msg, sizeof msg, fmt, detail);
    return err_set(err, "States.IntrinsicFailure", "Invalid arguments in %s: %s", fn, msg);
}

/* An integer argument: an integer, or a number with no fraction. Returns 0 with *out, or -1. */
static int get_int(json_t *v, long long *out)
{
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return 0;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d == floor(d) && fabs(d) < 9e15) {
            *out = (long long)d;
            return 0;
        }
    }
    return -1;
}

/* A number argument of the math and range functions, which AWS rounds to the nearest integer
 * when it has a fraction ("If you specify a non-integer value ... Step Functions will round it
 * off to the nearest integer", intrinsic-functions.html; halves go away from zero). Objects,
 * arrays, strings, booleans and null are not numbers. Returns 0 with *out, or -1. */
static int get_rounded(json_t *v, long long *out)
{
    if (json_is_real(v)) {
        double d = round(json_real_value(v));
        if (fabs(d) >= 9e15)
            return -1;
        *out = (long long)d;
        return 0;
    }
    return get_int(v, out);
}

/* ---- implementations ---- */

static int f_format(const struct sfn__intrinsic *f, json_t **v, const struct sfn__env *env,
                    json_t **out, struct err *err)
{
    (void)env;
    if (!json_is_string(v[0]))
        return fail(err, "States.Format", "%s", "the first argument must be a string");
    const char *t = f->args[0].kind == A_LIT ? f->args[0].raw : json_string_value(v[0]);
    int escapes = f->args[0].kind == A_LIT;
    size_t used = 1;
    struct buf b;
    buf_init(&b, INTR_MAX_FORMAT);
    int rc = -1;
    for (const char *p = t; *p; p++) {
        const char *piece = p;
        size_t plen = 1;
        char *dump = NULL;
        if (escapes && *p == '\\' && p[1]) {
            piece = ++p;
        } else if (*p == '{' && p[1] == '}') {
            if (used >= f->nargs) {
                fail(err, "States.Format", "%s",
                     "the template has more '{}' placeholders than arguments");
                goto out;
            }
            json_t *a = v[used++];
            if (json_is_string(a)) {
                piece = json_string_value(a);
                plen = json_string_length(a);
            } else {
                dump = jsontext_dump(a);
                piece = dump;
                plen = strlen(dump);
            }
            p++;
        } else if (*p == '{' || *p == '}') {
            fail(err, "States.Format", "%s", "unescaped '{' or '}' in the template");
            goto out;
        }
        int added = buf_add(&b, piece, plen);
        free(dump);
        if (added < 0) {
            fail(err, "States.Format", "%s", "the result is larger than 64 MiB");
            goto out;
        }
    }
    if (used != f->nargs) {
        fail(err, "States.Format", "%s", "the template has fewer '{}' placeholders than arguments");
        goto out;
    }
    *out = json_stringn(buf_str(&b), b.len);
    rc = 0;
out:
    buf_release(&b);
    return rc;
}

static int f_string_to_json(const struct sfn__intrinsic *f, json_t **v, const struct sfn__env *env,
                            json_t **out, struct err *err)
{
    (void)f, (void)env;
    if (!json_is_string(v[0]))
        return fail(err, "States.StringToJson", "%s", "the argument must be a string");
    json_error_t je;
    json_t *j = json_loadb(json_string_value(v[0]), json_string_length(v[0]), JSON_DECODE_ANY, &je);
    if (!j)
        return fail(err, "States.StringToJson", "the string is not valid JSON (%s)", je.text);
    *out = j;
    return 0;
}

static int f_json_to_string(const struct sfn__intrinsic *f, json_t **v, const struct sfn__env *env,
                            json_t **out, struct err *err)
{
    (void)f, (void)env, (void)err;
    char *s = jsontext_dump(v[0]);
    *out = json_string(s);
    free(s);
    return 0;
}

static int f_array(const struct sfn__intrinsic *f, json_t **v, const struct sfn__env *env,
                   json_t **out, struct err *err)
{
    (void)env, (void)err;
    json_t *a = json_array();
    for (size_t i = 0; i < f->nargs; i++)
        json_array_append(a, v[i]);
    *out = a;
    return 0;
}

static int f_array_partition(const struct sfn__intrinsic *f, json_t **v, const struct sfn__env *env,
                             json_t **out, struct err *err)
{
    (void)f, (void)env;
    long long n;
    if (!json_is_array(v[0]))
        return fail(err, "States.ArrayPartition", "%s", "the first argument must be an array");
    if (get_rounded(v[1], &n) < 0 || n <= 0)
        return fail(err, "States.ArrayPartition", "%s",
                    "the chunk size must be a positive integer");
    json_t *res = json_array(), *chunk = NULL;
    size_t i;
    json_t *x;
    json_array_foreach(v[0], i, x) {
        if (!chunk || json_array_size(chunk) == (size_t)n) {
            chunk = json_array();
            json_array_append_new(res, chunk);
        }
        json_array_append(chunk, x);
    }
    *out = res;
    return 0;
}

static int f_array_contains(const struct sfn__intrinsic *f, json_t **v, const struct sfn__env *env,
                            json_t **out, struct err *err)
{
    (void)f, (void)env;
    if (!json_is_array(v[0]))
        return fail(err, "States.ArrayContains", "%s", "the first argument must be an array");
    size_t i;
    json_t *x;
    int found = 0;
    json_array_foreach(v[0], i, x) {
        if (json_equal(x, v[1])) {
            found = 1;
            break;
        }
    }
    *out = json_boolean(found);
    return 0;
}

static int f_array_range(const struct sfn__intrinsic *f, json_t **v, const struct sfn__env *env,
                         json_t **out, struct err *err)
{
    (void)f, (void)env;
    long long a, b, s;
    if (get_rounded(v[0], &a) < 0 || get_rounded(v[1], &b) < 0 || get_rounded(v[2], &s) < 0)
        return fail(err, "States.ArrayRange", "%s", "start, end and step must be integers");
    if (s == 0)
        return fail(err, "States.ArrayRange", "%s", "the step must not be 0");
    long long count = (s > 0 ? (b >= a ? (b - a) / s + 1 : 0) : (a >= b ? (a - b) / -s + 1 : 0));
    if (count > INTR_MAX_RANGE)
        return fail(err, "States.ArrayRange", "%s", "the range has more than 1000 elements");
    json_t *res = json_array();
    for (long long i = 0; i < count; i++)
        json_array_append_new(res, json_integer(a + i * s));
    *out = res;
    return 0;
}

static int f_array_get_item(const struct sfn__intrinsic *f, json_t **v, const struct sfn__env *env,
                            json_t **out, struct err *err)
{
    (void)f, (void)env;
    long long i;
    if (!json_is_array(v[0]))
        return fail(err, "States.ArrayGetItem", "%s", "the first argument must be an array");
    if (get_int(v[1], &i) < 0 || i < 0 || (size_t)i >= json_array_size(v[0]))
        return fail(err, "States.ArrayGetItem", "%s",
                    "the index must be a non-negative integer inside the array");
    *out = json_incref(json_array_get(v[0], (size_t)i));
    return 0;
}

static int f_array_length(const struct sfn__intrinsic *f, json_t **v, const struct sfn__env *env,
                          json_t **out, struct err *err)
{
    (void)f, (void)env;
    if (!json_is_array(v[0]))
        return fail(err, "States.ArrayLength", "%s", "the argument must be an array");
    *out = json_integer((json_int_t)json_array_size(v[0]));
    return 0;
}

static int f_array_unique(const struct sfn__intrinsic *f, json_t **v, const struct sfn__env *env,
                          json_t **out, struct err *err)
{
    (void)f, (void)env;
    if (!json_is_array(v[0]))
        return fail(err, "States.ArrayUnique", "%s", "the argument must be an array");
    json_t *res = json_array();
    size_t i, j;
    json_t *x, *y;
    json_array_foreach(v[0], i, x) {
        int dup = 0;
        json_array_foreach(res, j, y) {
            if (json_equal(x, y)) {
                dup = 1;
                break;
            }
        }
        if (!dup)
            json_array_append(res, x);
    }
    *out = res;
    return 0;
}

static int f_base64_encode(const struct sfn__intrinsic *f, json_t **v, const struct sfn__env *env,
                           json_t **out, struct err *err)
{
    (void)f, (void)env;
    if (!json_is_string(v[0]))
        return fail(err, "States.Base64Encode", "%s", "the argument must be a string");
    size_t n = json_string_length(v[0]);
    if (n > INTR_MAX_STR)
        return fail(err, "States.Base64Encode", "%s", "the input exceeds 10000 characters");
    char *buf = xmalloc(4 * ((n + 2) / 3) + 1);
    int m = EVP_EncodeBlock((unsigned char *)buf, (const unsigned char *)json_string_value(v[0]),
                            (int)n);
    *out = json_stringn(buf, (size_t)m);
    free(buf);
    return 0;
}

static int f_base64_decode(const struct sfn__intrinsic *f, json_t **v, const struct sfn__env *env,
                           json_t **out, struct err *err)
{
    (void)f, (void)env;
    if (!json_is_string(v[0]))
        return fail(err, "States.Base64Decode", "%s", "the argument must be a string");
    size_t n = json_string_length(v[0]);
    const char *s = json_string_value(v[0]);
    if (n > INTR_MAX_STR)
        return fail(err, "States.Base64Decode", "%s", "the input exceeds 10000 characters");
    if (n % 4 != 0)
        return fail(err, "States.Base64Decode", "%s", "the input is not valid base64");
    unsigned char *buf = xmalloc(n / 4 * 3 + 1);
    int m = n ? EVP_DecodeBlock(buf, (const unsigned char *)s, (int)n) : 0;
    if (m < 0) {
        free(buf);
        return fail(err, "States.Base64Decode", "%s", "the input is not valid base64");
    }
    if (n >= 1 && s[n - 1] == '=')
        m--;
    if (n >= 2 && s[n - 2] == '=')
        m--;
    json_t *r = json_stringn((const char *)buf, (size_t)m);
    free(buf);
    if (!r)
        return fail(err, "States.Base64Decode", "%s", "the decoded bytes are not valid UTF-8");
    *out = r;
    return 0;
}

static int f_hash(const struct sfn__intrinsic *f, json_t **v, const struct sfn__env *env,
                  json_t **out, struct err *err)
{
    (void)f, (void)env;
    static const struct {
        const char *name;
        const char *ossl;
    } algs[] = {
        {"MD5", "MD5"},        {"SHA-1", "SHA1"},     {"SHA-256", "SHA256"},
        {"SHA-384", "SHA384"}, {"SHA-512", "SHA512"},
    };
    if (!json_is_string(v[0]))
        return fail(err, "States.Hash", "%s", "the data must be a string");
    if (json_string_length(v[0]) > INTR_MAX_STR)
        return fail(err, "States.Hash", "%s", "the data exceeds 10000 characters");
    if (!json_is_string(v[1]))
        return fail(err, "States.Hash", "%s", "the algorithm must be a string");
    const EVP_MD *md = NULL;
    for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++)
        if (!strcmp(algs[i].name, json_string_value(v[1])))
            md = EVP_get_digestbyname(algs[i].ossl);
    if (!md)
        return fail(err, "States.Hash",
                    "unsupported algorithm '%s' (use MD5, SHA-1, SHA-256, "
                    "SHA-384 or SHA-512)",
                    json_string_value(v[1]));
    unsigned char dig[EVP_MAX_MD_SIZE];
    unsigned int dl = 0;
    if (!EVP_Digest(json_string_value(v[0]), json_string_length(v[0]), dig, &dl, md, NULL))
        return fail(err, "States.Hash", "%s", "the digest failed");
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    for (unsigned i = 0; i < dl; i++)
        snprintf(hex + 2 * i, 3, "%02x", dig[i]);
    *out = json_string(hex);
    return 0;
}

static int f_json_merge(const struct sfn__intrinsic *f, json_t **v, const struct sfn__env *env,
                        json_t **out, struct err *err)
{
    (void)f, (void)env;
    if (!json_is_object(v[0]) || !json_is_object(v[1]))
        return fail(err, "States.JsonMerge", "%s", "the first two arguments must be objects");
    if (!json_is_false(v[2]))
        return fail(err, "States.JsonMerge", "%s",
                    "the third argument must be false (deep merge is not supported)");
    json_t *r = json_copy(v[0]);
    json_object_update(r, v[1]);
    *out = r;
    return 0;
}

static int f_math_random(const struct sfn__intrinsic *f, json_t **v, const struct sfn__env *env,
                         json_t **out, struct err *err)
{
    long long a, b, seed;
    if (get_rounded(v[0], &a) < 0 || get_rounded(v[1], &b) < 0)
        return fail(err, "States.MathRandom", "%s", "start and end must be integers");
    if (b <= a)
        return fail(err, "States.MathRandom", "%s", "end must be greater than start");
    uint64_t r;
    if (f->nargs == 3) {
        if (get_int(v[2], &seed) < 0)
            return fail(err, "States.MathRandom", "%s", "the seed must be an integer");
        struct rand_seeded st;
        rand_seeded_init(&st, (uint64_t)seed);
        r = rand_seeded_next(&st);
    } else {
        r = rand_seeded_next(env->rng);
    }
    *out = json_integer((json_int_t)(a + (long long)(r % (uint64_t)(b - a))));
    return 0;
}

static int f_math_add(const struct sfn__intrinsic *f, json_t **v, const struct sfn__env *env,
                      json_t **out, struct err *err)
{
    (void)f, (void)env;
    long long a, b;
    if (get_rounded(v[0], &a) < 0 || get_rounded(v[1], &b) < 0)
        return fail(err, "States.MathAdd", "%s", "both arguments must be numbers");
    if (a < -2147483648LL || a > 2147483647LL || b < -2147483648LL || b > 2147483647LL)
        return fail(err, "States.MathAdd", "%s",
                    "arguments must lie in the 32-bit signed integer range");
    *out = json_integer(a + b);
    return 0;
}

static int f_string_split(const struct sfn__intrinsic *f, json_t **v, const struct sfn__env *env,
                          json_t **out, struct err *err)
{
    (void)f, (void)env;
    if (!json_is_string(v[0]) || !json_is_string(v[1]))
        return fail(err, "States.StringSplit", "%s", "both arguments must be strings");
    const char *s = json_string_value(v[0]), *d = json_string_value(v[1]);
    size_t n = json_string_length(v[0]);
    json_t *res = json_array();
    size_t st = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || (s[i] && strchr(d, s[i]))) {
            if (i > st)
                json_array_append_new(res, json_stringn(s + st, i - st));
            st = i + 1;
        }
    }
    *out = res;
    return 0;
}

static int f_uuid(const struct sfn__intrinsic *f, json_t **v, const struct sfn__env *env,
                  json_t **out, struct err *err)
{
    (void)f, (void)v, (void)err;
    char u[37];
    sfn__uuid(env->rng, u);
    *out = json_string(u);
    return 0;
}

static const struct fdef fdefs[] = {
    {"States.Format", 1, INTR_MAX_ARGS, f_format},
    {"States.StringToJson", 1, 1, f_string_to_json},
    {"States.JsonToString", 1, 1, f_json_to_string},
    {"States.Array", 0, INTR_MAX_ARGS, f_array},
    {"States.ArrayPartition", 2, 2, f_array_partition},
    {"States.ArrayContains", 2, 2, f_array_contains},
    {"States.ArrayRange", 3, 3, f_array_range},
    {"States.ArrayGetItem", 2, 2, f_array_get_item},
    {"States.ArrayLength", 1, 1, f_array_length},
    {"States.ArrayUnique", 1, 1, f_array_unique},
    {"States.Base64Encode", 1, 1, f_base64_encode},
    {"States.Base64Decode", 1, 1, f_base64_decode},
    {"States.Hash", 2, 2, f_hash},
    {"States.JsonMerge", 3, 3, f_json_merge},
    {"States.MathRandom", 2, 3, f_math_random},
    {"States.MathAdd", 2, 2, f_math_add},
    {"States.StringSplit", 2, 2, f_string_split},
    {"States.UUID", 0, 0, f_uuid},
};

/* ---- compile ---- */

struct pcur {
    const char *s;
    size_t i;
    const char *text;
    struct err *err;
};

static int pbad(struct pcur *c, const char *what)
{
    return err_set(c->err, "InvalidIntrinsic", "invalid intrinsic function '%s': %s at offset %zu",
                   c->text, what, c->i);
}

static void pws(struct pcur *c)
{
    while (c->s[c->i] == ' ' || c->s[c->i] == '\t')
        c->i++;
}

static struct sfn__intrinsic *parse_call(struct pcur *c, int nest);

static void arg_release(struct arg *a)
{
    if (a->lit)
        json_decref(a->lit);
    free(a->raw);
    jsonpath_free(a->path);
    sfn__intrinsic_free(a->fn);
}

void sfn__intrinsic_free(struct sfn__intrinsic *fn)
{
    if (!fn)
        return;
    for (size_t i = 0; i < fn->nargs; i++)
        arg_release(&fn->args[i]);
    free(fn->args);
    free(fn->text);
    free(fn);
}

static int parse_arg(struct pcur *c, struct arg *a, int nest)
{
    pws(c);
    char ch = c->s[c->i];
    if (ch == '\'') {
        size_t st = ++c->i;
        struct buf un;
        buf_init(&un, strlen(c->s + st)); /* the literal is never longer than what is left */
        while (c->s[c->i] && c->s[c->i] != '\'') {
            char x = c->s[c->i];
            if (x == '\\' && c->s[c->i + 1]) {
                c->i++;
                x = c->s[c->i];
            }
            buf_add_char(&un, x);
            c->i++;
        }
        if (c->s[c->i] != '\'') {
            buf_release(&un);
            return pbad(c, "unterminated string literal");
        }
        a->kind = A_LIT;
        a->raw = xstrndup(c->s + st, c->i - st);
        a->lit = json_stringn(buf_str(&un), un.len);
        buf_release(&un);
        c->i++;
        if (!a->lit)
            return pbad(c, "string literal is not valid UTF-8");
        return 0;
    }
    if (ch == '$') {
        size_t st = c->i;
        int depth = 0;
        while (c->s[c->i]) {
            char x = c->s[c->i];
            if (x == '[')
                depth++;
            else if (x == ']')
                depth--;
            else if (depth <= 0 && (x == ',' || x == ')' || x == ' '))
                break;
            c->i++;
        }
        char *p = xstrndup(c->s + st, c->i - st);
        a->kind = A_PATH;
        a->path = jsonpath_compile(p, 0, c->err);
        free(p);
        return a->path ? 0 : -1;
    }
    if (!strncmp(c->s + c->i, "States.", 7)) {
        a->kind = A_FN;
        a->fn = parse_call(c, nest + 1);
        return a->fn ? 0 : -1;
    }
    static const char *words[] = {"true", "false", "null"};
    for (int k = 0; k < 3; k++) {
        size_t wl = strlen(words[k]);
        if (!strncmp(c->s + c->i, words[k], wl)) {
            c->i += wl;
            a->kind = A_LIT;
            a->lit = k == 0 ? json_true() : k == 1 ? json_false() : json_null();
            return 0;
        }
    }
    if (ch == '-' || isdigit((unsigned char)ch)) {
        char *end;
        const char *st = c->s + c->i;
        errno = 0;
        long long iv = strtoll(st, &end, 10);
        if (*end == '.' || *end == 'e' || *end == 'E') {
            double d = strtod(st, &end);
            if (errno || !isfinite(d))
                return pbad(c, "bad number");
            a->lit = json_real(d);
        } else {
            if (errno)
                return pbad(c, "integer out of range");
            a->lit = json_integer(iv);
        }
        a->kind = A_LIT;
        c->i = (size_t)(end - c->s);
        return 0;
    }
    return pbad(c, "expected a string, number, boolean, null, path or function");
}

static struct sfn__intrinsic *parse_call(struct pcur *c, int nest)
{
    if (nest > INTR_MAX_NEST) {
        pbad(c, "functions nested too deeply");
        return NULL;
    }
    size_t st = c->i;
    while (isalnum((unsigned char)c->s[c->i]) || c->s[c->i] == '.')
        c->i++;
    const struct fdef *def = NULL;
    for (size_t k = 0; k < sizeof fdefs / sizeof fdefs[0]; k++) {
        if (strlen(fdefs[k].name) == c->i - st && !strncmp(fdefs[k].name, c->s + st, c->i - st))
            def = &fdefs[k];
    }
    if (!def) {
        c->i = st;
        pbad(c, "unknown function");
        return NULL;
    }
    struct sfn__intrinsic *fn = xcalloc(1, sizeof *fn);
    fn->def = def;
    pws(c);
    if (c->s[c->i] != '(') {
        pbad(c, "expected '('");
        goto fail;
    }
    c->i++;
    pws(c);
    if (c->s[c->i] == ')') {
        c->i++;
    } else {
        for (;;) {
            if (fn->nargs >= INTR_MAX_ARGS) {
                pbad(c, "too many arguments");
                goto fail;
            }
            fn->args = xrealloc(fn->args, (fn->nargs + 1) * sizeof *fn->args);
            struct arg *a = &fn->args[fn->nargs++];
            memset(a, 0, sizeof *a);
            if (parse_arg(c, a, nest) < 0)
                goto fail;
            if ((a->kind == A_PATH && jsonpath_is_context(a->path)) ||
                (a->kind == A_FN && a->fn->uses_context))
                fn->uses_context = 1;
            pws(c);
            if (c->s[c->i] == ',') {
                c->i++;
                continue;
            }
            if (c->s[c->i] == ')') {
                c->i++;
                break;
            }
            pbad(c, "expected ',' or ')'");
            goto fail;
        }
    }
    if (fn->nargs < def->min || fn->nargs > def->max) {
        err_set(c->err, "InvalidIntrinsic", "%s takes %zu%s argument(s), got %zu", def->name,
                def->min,
                def->max == def->min ? ""
                : def->max > 3       ? " or more"
                                     : " to 3",
                fn->nargs);
        goto fail;
    }
    return fn;
fail:
    sfn__intrinsic_free(fn);
    return NULL;
}

struct sfn__intrinsic *sfn__intrinsic_compile(const char *text, struct err *err)
{
    struct pcur c = {.s = text, .i = 0, .text = text, .err = err};
    if (strlen(text) > 65536) {
        err_set(err, "InvalidIntrinsic", "intrinsic function text exceeds 65536 characters");
        return NULL;
    }
    struct sfn__intrinsic *fn = parse_call(&c, 0);
    if (!fn)
        return NULL;
    pws(&c);
    if (c.s[c.i]) {
        pbad(&c, "unexpected text after the call");
        sfn__intrinsic_free(fn);
        return NULL;
    }
    fn->text = xstrdup(text);
    return fn;
}

int sfn__intrinsic_uses_context(const struct sfn__intrinsic *fn)
{
    return fn->uses_context;
}

static int eval_call(const struct sfn__intrinsic *fn, const struct sfn__env *env, json_t **out,
                     struct err *err)
{
    json_t *stackv[8];
    json_t **v = fn->nargs <= 8 ? stackv : xcalloc(fn->nargs, sizeof *v);
    size_t got = 0;
    int rc = -1;
    for (; got < fn->nargs; got++) {
        const struct arg *a = &fn->args[got];
        if (a->kind == A_LIT) {
            v[got] = json_incref(a->lit);
        } else if (a->kind == A_FN) {
            if (eval_call(a->fn, env, &v[got], err) < 0)
                goto out;
        } else {
            json_t *root = jsonpath_is_context(a->path) ? env->ctx : env->input;
            json_t *empty = NULL;
            if (!root)
                root = empty = json_object();
            int r = jsonpath_eval(a->path, root, &v[got]);
            if (empty)
                json_decref(empty);
            if (r != 0) {
                /* AWS: a missing path argument is States.Runtime, never caught */
                char *d = jsontext_dump(root);
                err_set(err, "States.Runtime",
                        "The JsonPath argument for the field '%s' could not be found in the input "
                        "'%.400s'",
                        jsonpath_text(a->path), d ? d : "{}");
                free(d);
                goto out;
            }
        }
    }
    rc = fn->def->impl(fn, v, env, out, err);
out:
    for (size_t i = 0; i < got; i++)
        json_decref(v[i]);
    if (v != stackv)
        free(v);
    return rc;
}

int sfn__intrinsic_eval(const struct sfn__intrinsic *fn, const struct sfn__env *env, json_t **out,
                        struct err *err)
{
    int rc = eval_call(fn, env, out, err);
    if (rc < 0 && fn->text && !strcmp(err->code, "States.Runtime")) {
        /* as AWS words it, naming the whole expression, not the inner call that failed */
        char inner[ERR_MSG_MAX];
        snprintf(inner, sizeof inner, "%s", err->message);
        err_set(err, "States.Runtime", "The function '%s' had the following error: %s", fn->text,
                inner);
    }
    return rc;
}
