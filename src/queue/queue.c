/*
 * queue.c - what every queue adapter shares: the SQS input rules (queue names, message bodies and
 * attributes, size limits), the MD5 digests SQS returns, and the seed's queue setup.
 */
#include <ctype.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/utf8.h"
#include "base/xmalloc.h"
#include "queue/queue.h"

/* ---------------------------------------------------------------- names and bodies */

int queue__check_name(const char *name, struct err *err)
{
    if (!name || !*name)
        return err_set(err, "InvalidParameterValue", "queue name is empty");
    size_t n = strnlen(name, QUEUE_NAME_MAX + 1);
    if (n > QUEUE_NAME_MAX)
        return err_set(err, "InvalidParameterValue", "queue name is longer than %d characters",
                       QUEUE_NAME_MAX);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (!isalnum(c) && c != '-' && c != '_')
            return err_set(err, "InvalidParameterValue",
                           "queue name '%.80s' may hold only letters, digits, '-' and '_'", name);
    }
    return 0;
}

/* Checks that s[0..len) is UTF-8 made of the characters SQS allows in messages: #x9 #xA #xD,
 * #x20-#xD7FF, #xE000-#xFFFD and #x10000-#x10FFFF (surrogates are already invalid UTF-8). */
static int check_text(const char *what, const char *s, size_t len, struct err *err)
{
    long bad = utf8_invalid_at(s, len);
    if (bad >= 0)
        return err_set(err, "InvalidParameterValue", "%s is not valid UTF-8 at byte %ld", what,
                       bad);
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < len; i++) {
        if (p[i] < 0x20 && p[i] != '\t' && p[i] != '\n' && p[i] != '\r')
            return err_set(err, "InvalidParameterValue",
                           "%s holds control character 0x%02x at byte %zu, which SQS rejects", what,
                           p[i], i);
        if (p[i] == 0xEF && i + 2 < len && p[i + 1] == 0xBF &&
            (p[i + 2] == 0xBE || p[i + 2] == 0xBF))
            return err_set(err, "InvalidParameterValue",
                           "%s holds the non-character U+FFF%c at byte %zu", what,
                           p[i + 2] == 0xBE ? 'E' : 'F', i);
    }
    return 0;
}

/* ---------------------------------------------------------------- message attributes */

static int check_attr_name(const char *name, struct err *err)
{
    size_t n = strlen(name);
    if (n == 0 || n > 256)
        return err_set(err, "InvalidAttributeName",
                       "message attribute names must have 1 to 256 characters");
    if (strncasecmp(name, "AWS.", 4) == 0 || strncasecmp(name, "Amazon.", 7) == 0)
        return err_set(err, "InvalidAttributeName",
                       "message attribute name '%.256s' uses a reserved prefix", name);
    if (name[0] == '.' || name[n - 1] == '.' || strstr(name, ".."))
        return err_set(err, "InvalidAttributeName",
                       "message attribute name '%.256s' has a misplaced period", name);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (!isalnum(c) && c != '-' && c != '_' && c != '.')
            return err_set(err, "InvalidAttributeName",
                           "message attribute name '%.256s' may hold only letters, digits, '-', "
                           "'_' and '.'",
                           name);
    }
    return 0;
}

enum attr_kind { AK_STRING, AK_NUMBER, AK_BINARY, AK_BAD };

static enum attr_kind attr_kind(const char *type)
{
    static const struct {
        const char *name;
        enum attr_kind kind;
    } kinds[] = {{"String", AK_STRING}, {"Number", AK_NUMBER}, {"Binary", AK_BINARY}};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        size_t n = strlen(kinds[i].name);
        /* A custom type label may follow after a period: "Number.float", "String.json". */
        if (strncmp(type, kinds[i].name, n) == 0 &&
            (type[n] == '\0' || (type[n] == '.' && type[n + 1])))
            return kinds[i].kind;
    }
    return AK_BAD;
}

/* A decimal number: optional sign, digits with an optional fraction, optional exponent. */
static int is_number(const char *s)
{
    if (*s == '+' || *s == '-')
        s++;
    int digits = 0;
    while (isdigit((unsigned char)*s))
        s++, digits++;
    if (*s == '.') {
        s++;
        while (isdigit((unsigned char)*s))
            s++, digits++;
    }
    if (!digits)
        return 0;
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-')
            s++;
        if (!isdigit((unsigned char)*s))
            return 0;
        while (isdigit((unsigned char)*s))
            s++;
    }
    return *s == '\0';
}

/* Decoded length of a base64 string, or -1 when it is not canonical padded base64. */
static long base64_decoded_len(const char *s)
{
    size_t n = strlen(s);
    if (n % 4)
        return -1;
    size_t pad = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '=') {
            if (i < n - 2)
                return -1;
            pad++;
        } else if (pad || !(isalnum(c) || c == '+' || c == '/')) {
            return -1;
        }
    }
    return (long)(n / 4 * 3 - pad);
}

/* Validates one attribute value and adds its size (as SQS counts it) to *bytes. */
static int check_attr_value(const char *name, const json_t *v, size_t *bytes, struct err *err)
{
    if (!json_is_object(v))
        return err_set(err, "InvalidAttributeValue",
                       "message attribute '%s' must be an object with DataType and a value", name);
    const char *key;
    json_t *field;
    json_object_foreach((json_t *)v, key, field) {
        if (strcmp(key, "DataType") != 0 && strcmp(key, "StringValue") != 0 &&
            strcmp(key, "BinaryValue") != 0)
            return err_set(err, "InvalidAttributeValue",
                           "message attribute '%s' has unknown field '%.64s'", name, key);
    }
    const char *type = json_string_value(json_object_get(v, "DataType"));
    if (!type || strlen(type) > 256)
        return err_set(err, "InvalidAttributeValue",
                       "message attribute '%s' needs a DataType of at most 256 characters", name);
    enum attr_kind kind = attr_kind(type);
    if (kind == AK_BAD)
        return err_set(err, "InvalidAttributeValue",
                       "message attribute '%s' has DataType '%s'; expected String, Number or "
                       "Binary (optionally with a .label)",
                       name, type);
    const json_t *sv = json_object_get(v, "StringValue");
    const json_t *bv = json_object_get(v, "BinaryValue");
    *bytes += strlen(name) + strlen(type);
    if (kind == AK_BINARY) {
        long blen = json_is_string(bv) ? base64_decoded_len(json_string_value(bv)) : -1;
        if (sv || blen < 1)
            return err_set(err, "InvalidAttributeValue",
                           "message attribute '%s' of type Binary needs a non-empty base64 "
                           "BinaryValue and no StringValue",
                           name);
        *bytes += (size_t)blen;
        return 0;
    }
    if (bv || !json_is_string(sv) || json_string_length(sv) == 0)
        return err_set(err, "InvalidAttributeValue",
                       "message attribute '%s' of type %s needs a non-empty StringValue and no "
                       "BinaryValue",
                       name, type);
    const char *s = json_string_value(sv);
    size_t len = json_string_length(sv);
    if (strlen(s) != len)
        return err_set(err, "InvalidAttributeValue", "message attribute '%s' holds a NUL", name);
    if (kind == AK_NUMBER && (len > 200 || !is_number(s)))
        return err_set(err, "InvalidAttributeValue",
                       "message attribute '%s' of type Number holds '%.64s', not a number", name,
                       s);
    char what[300];
    snprintf(what, sizeof what, "message attribute '%s'", name);
    if (check_text(what, s, len, err) < 0)
        return -1;
    *bytes += len;
    return 0;
}

int queue__check_message(const char *body, const json_t *attributes, struct err *err)
{
    if (!body || !*body)
        return err_set(err, "InvalidParameterValue", "message body must not be empty");
    size_t len = strnlen(body, QUEUE_BODY_MAX + 1);
    if (len > QUEUE_BODY_MAX)
        return err_set(err, "InvalidParameterValue",
                       "message body is longer than %d bytes (256 KiB), the SQS limit",
                       QUEUE_BODY_MAX);
    if (check_text("message body", body, len, err) < 0)
        return -1;
    if (!attributes)
        return 0;
    if (!json_is_object(attributes))
        return err_set(err, "InvalidParameterValue", "message attributes must be an object");
    if (json_object_size(attributes) > QUEUE_ATTRS_MAX)
        return err_set(err, "InvalidParameterValue",
                       "a message may carry at most %d attributes, not %zu", QUEUE_ATTRS_MAX,
                       json_object_size(attributes));
    size_t bytes = len;
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)attributes, name, v) {
        if (check_attr_name(name, err) < 0 || check_attr_value(name, v, &bytes, err) < 0)
            return -1;
    }
    if (bytes > QUEUE_BODY_MAX)
        return err_set(err, "InvalidParameterValue",
                       "message body and attributes total %zu bytes, more than %d (256 KiB)", bytes,
                       QUEUE_BODY_MAX);
    return 0;
}

/* ---------------------------------------------------------------- digests */

static void hex_of(const unsigned char *d, unsigned n, char *hex)
{
    static const char digits[] = "0123456789abcdef";
    for (unsigned i = 0; i < n; i++) {
        hex[2 * i] = digits[d[i] >> 4];
        hex[2 * i + 1] = digits[d[i] & 15];
    }
    hex[2 * n] = '\0';
}

void queue__md5_hex(const void *data, size_t len, char hex[33])
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    if (!EVP_Digest(data, len, d, &n, EVP_md5(), NULL) || n != 16) {
        /* Only a broken libcrypto gets here; an all-zero digest will never match, loudly. */
        memset(hex, '0', 32);
        hex[32] = '\0';
        return;
    }
    hex_of(d, n, hex);
}

static void put_u32(EVP_MD_CTX *ctx, size_t v)
{
    unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    EVP_DigestUpdate(ctx, b, 4);
}

static void put_lv(EVP_MD_CTX *ctx, const void *p, size_t n)
{
    put_u32(ctx, n);
    EVP_DigestUpdate(ctx, p, n);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void queue__md5_attributes(const json_t *attributes, char hex[33])
{
    size_t n = json_object_size(attributes);
    const char **names = xcalloc(n ? n : 1, sizeof *names);
    size_t k = 0;
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)attributes, name, v)
        names[k++] = name;
    qsort(names, k, sizeof *names, cmp_str);

    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned dn = 0;
    if (!ctx || !EVP_DigestInit_ex(ctx, EVP_md5(), NULL))
        goto fail;
    for (size_t i = 0; i < k; i++) {
        const json_t *a = json_object_get(attributes, names[i]);
        const char *type = json_string_value(json_object_get(a, "DataType"));
        put_lv(ctx, names[i], strlen(names[i]));
        put_lv(ctx, type, strlen(type));
        if (attr_kind(type) == AK_BINARY) {
            const char *b64 = json_string_value(json_object_get(a, "BinaryValue"));
            size_t blen = strlen(b64);
            unsigned char *raw = xmalloc(blen / 4 * 3 + 1);
            int got = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)blen);
            long want = base64_decoded_len(b64);
            unsigned char transport = 2;
            EVP_DigestUpdate(ctx, &transport, 1);
            put_lv(ctx, raw, got >= 0 && want >= 0 ? (size_t)want : 0);
            free(raw);
        } else {
            const char *s = json_string_value(json_object_get(a, "StringValue"));
            unsigned char transport = 1;
            EVP_DigestUpdate(ctx, &transport, 1);
            put_lv(ctx, s, strlen(s));
        }
    }
    if (!EVP_DigestFinal_ex(ctx, d, &dn) || dn != 16)
        goto fail;
    hex_of(d, dn, hex);
    EVP_MD_CTX_free(ctx);
    free(names);
    return;
fail:
    memset(hex, '0', 32);
    hex[32] = '\0';
    EVP_MD_CTX_free(ctx);
    free(names);
}

/* ---------------------------------------------------------------- the seed's queues */

static int ensure_missing(struct queue *q, const char *name, const struct queue_attrs *attrs,
                          struct err *err)
{
    struct queue_counts c;
    if (queue_counts(q, name, &c, err) == 0)
        return 0;
    if (strcmp(err->code, "QueueDoesNotExist") != 0)
        return -1;
    err_clear(err);
    return queue_ensure(q, name, attrs, err);
}

int queue_setup_agent(struct queue *q, struct err *err)
{
    const struct queue_attrs dlq = {.visibility_timeout_s = 30};
    const struct queue_attrs actions = {.visibility_timeout_s = 30,
                                        .dead_letter_target = QUEUE_AGENT_ACTIONS_DLQ,
                                        .max_receive_count = QUEUE_MAX_RECEIVE_DEFAULT};
    if (ensure_missing(q, QUEUE_AGENT_ACTIONS_DLQ, &dlq, err) < 0)
        return -1;
    return ensure_missing(q, QUEUE_AGENT_ACTIONS, &actions, err);
}

int queue_erase_session(struct queue *q, const char *session_id, long long *erased, struct err *err)
{
    static const char *const names[] = {QUEUE_AGENT_ACTIONS, QUEUE_AGENT_ACTIONS_DLQ};
    int rc = -1;
    long long total = 0;
    char *needle = xasprintf("\"sessionId\":\"%s\"", session_id ? session_id : "");
    if (!session_id || !session_id[0] || strlen(needle) > QUEUE_NEEDLE_MAX) {
        err_set(err, "InvalidParameterValue", "cannot erase the actions of session '%.80s'",
                session_id ? session_id : "");
        goto out;
    }
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        long long n = 0;
        struct err e;
        err_clear(&e);
        if (queue_erase_matching(q, names[i], needle, &n, &e) < 0) {
            if (strcmp(e.code, "QueueDoesNotExist") == 0)
                continue;
            *err = e;
            goto out;
        }
        if (n < 0) { /* the adapter cannot select by content */
            total = -1;
            break;
        }
        total += n;
    }
    if (erased)
        *erased = total;
    rc = 0;
out:
    free(needle);
    return rc;
}
