/*
 * operators.c - the named operators of PARLEY_OPERATORS_FILE; see operators.h.
 */
#include "runtime/operators.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <string.h>

#include "base/buf.h"
#include "base/xmalloc.h"

#define OPERATORS_FILE_MAX (1024 * 1024) /* bytes in an operators file */

struct operator_entry {
    struct operator_id id;                      /* name and role */
    unsigned char digest[SHA256_DIGEST_LENGTH]; /* SHA-256 of the token */
};

struct operators {
    struct operator_entry *v; /* the entries, in file order */
    size_t n;                 /* entries in use */
};

/* Decodes 64 hex digits into digest; -1 when hex is anything else. */
static int hex_digest(const char *hex, unsigned char *digest)
{
    if (strlen(hex) != 2 * SHA256_DIGEST_LENGTH)
        return -1;
    for (size_t i = 0; i < SHA256_DIGEST_LENGTH; i++) {
        unsigned v = 0;
        for (int k = 0; k < 2; k++) {
            char c = hex[2 * i + (size_t)k];
            int d = c >= '0' && c <= '9'   ? c - '0'
                    : c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                           : -1;
            if (d < 0)
                return -1;
            v = v * 16 + (unsigned)d;
        }
        digest[i] = (unsigned char)v;
    }
    return 0;
}

/* Checks entry i (e) and fills out; returns 0, or -1 with err naming the entry. */
static int parse_entry(const struct operators *ops, size_t i, const json_t *e, const char *where,
                       struct operator_entry *out, struct err *err)
{
    if (!json_is_object(e))
        return err_set(err, "InvalidConfig", "%.200s: entry %zu is not an object", where, i);
    const char *name = json_string_value(json_object_get(e, "name"));
    const char *who = name ? name : "(no name)";
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)e, key, v) {
        if (strcmp(key, "name") != 0 && strcmp(key, "token_sha256") != 0 &&
            strcmp(key, "role") != 0)
            return err_set(err, "InvalidConfig",
                           "%.200s: entry %zu (\"%.64s\"): unknown key \"%.40s\" (allowed: name, "
                           "token_sha256, role)",
                           where, i, who, key);
    }
    size_t nlen = name ? strlen(name) : 0;
    if (!name || nlen == 0 || nlen > OPERATORS_NAME_MAX ||
        strlen(name) != json_string_length(json_object_get(e, "name")))
        return err_set(err, "InvalidConfig",
                       "%.200s: entry %zu: \"name\" must be a string of 1 to %d bytes", where, i,
                       OPERATORS_NAME_MAX);
    const char *hex = json_string_value(json_object_get(e, "token_sha256"));
    if (!hex || hex_digest(hex, out->digest) < 0)
        return err_set(err, "InvalidConfig",
                       "%.200s: entry %zu (\"%.64s\"): \"token_sha256\" must be the SHA-256 of "
                       "the token as 64 hex digits (sha256sum)",
                       where, i, name);
    const char *role = json_string_value(json_object_get(e, "role"));
    if (role && strcmp(role, "agent") == 0)
        out->id.role = OPERATOR_AGENT;
    else if (role && strcmp(role, "admin") == 0)
        out->id.role = OPERATOR_ADMIN;
    else
        return err_set(err, "InvalidConfig",
                       "%.200s: entry %zu (\"%.64s\"): \"role\" must be \"agent\" or \"admin\"",
                       where, i, name);
    for (size_t j = 0; j < ops->n; j++) {
        if (strcmp(ops->v[j].id.name, name) == 0)
            return err_set(err, "InvalidConfig",
                           "%.200s: entry %zu: name \"%.64s\" is already used by entry %zu", where,
                           i, name, j);
        if (memcmp(ops->v[j].digest, out->digest, sizeof out->digest) == 0)
            return err_set(err, "InvalidConfig",
                           "%.200s: entry %zu (\"%.64s\"): the same token as entry %zu (\"%.64s\")",
                           where, i, name, j, ops->v[j].id.name);
    }
    memcpy(out->id.name, name, nlen + 1);
    return 0;
}

struct operators *operators_parse(const char *text, size_t len, const char *where, struct err *err)
{
    json_error_t je;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    struct operators *ops = xcalloc(1, sizeof *ops);
    if (!doc) {
        err_set(err, "InvalidConfig", "%.200s: line %d column %d: %s", where, je.line, je.column,
                je.text);
        goto fail;
    }
    if (!json_is_array(doc) || json_array_size(doc) == 0 || json_array_size(doc) > OPERATORS_MAX) {
        err_set(err, "InvalidConfig",
                "%.200s: must be a JSON array of 1 to %d operators "
                "({\"name\", \"token_sha256\", \"role\"})",
                where, OPERATORS_MAX);
        goto fail;
    }
    ops->v = xcalloc(json_array_size(doc), sizeof *ops->v);
    size_t i;
    json_t *e;
    json_array_foreach(doc, i, e) {
        if (parse_entry(ops, i, e, where, &ops->v[ops->n], err) < 0)
            goto fail;
        ops->n++;
    }
    json_decref(doc);
    return ops;
fail:
    json_decref(doc);
    operators_free(ops);
    return NULL;
}

struct operators *operators_load(const char *path, struct err *err)
{
    struct operators *ops = NULL;
    struct buf b;
    buf_init(&b, OPERATORS_FILE_MAX);
    FILE *f = fopen(path, "rb");
    if (!f) {
        err_set(err, "InvalidConfig", "cannot open PARLEY_OPERATORS_FILE '%.200s'", path);
        goto out;
    }
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (buf_add(&b, chunk, n) < 0) {
            err_set(err, "InvalidConfig", "PARLEY_OPERATORS_FILE '%.200s' is over %d bytes", path,
                    OPERATORS_FILE_MAX);
            goto out;
        }
    }
    ops = operators_parse(b.data ? b.data : "", b.len, path, err);
out:
    if (f)
        fclose(f);
    buf_release(&b);
    return ops;
}

void operators_free(struct operators *ops)
{
    if (!ops)
        return;
    free(ops->v);
    free(ops);
}

size_t operators_count(const struct operators *ops)
{
    return ops ? ops->n : 0;
}

int operators_find(const struct operators *ops, const char *token, struct operator_id *out)
{
    unsigned char d[SHA256_DIGEST_LENGTH];
    int found = -1;
    if (!ops || !token)
        return -1;
    SHA256((const unsigned char *)token, strlen(token), d);
    /* Every entry is compared, so the time does not say which one matched. */
    for (size_t i = 0; i < ops->n; i++) {
        if (CRYPTO_memcmp(d, ops->v[i].digest, sizeof d) == 0 && found < 0) {
            *out = ops->v[i].id;
            found = 0;
        }
    }
    return found;
}

const char *operators_role_name(enum operator_role role)
{
    return role == OPERATOR_ADMIN ? "admin" : "agent";
}
