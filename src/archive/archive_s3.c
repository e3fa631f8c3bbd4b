/*
 * archive_s3.c - the archive port over Amazon S3; see archive_s3.h.
 */
#include "archive/archive_s3.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/config.h"
#include "base/log.h"
#include "base/xmalloc.h"

struct archive_s3 {
    struct archive base;    /* must be first */
    struct aws_client *aws; /* signed calls */
    char *bucket;           /* bucket name */
};

/* ---------------------------------------------------------------- calls */

static int call(struct archive_s3 *s, const char *method, const char *key, const char *query,
                const char *const *headers, size_t n_headers, const void *body, size_t len,
                struct aws_response *resp, struct err *err)
{
    char *path = key ? xasprintf("/%s/%s", s->bucket, key) : xasprintf("/%s", s->bucket);
    struct aws_request r = {.service = "s3",
                            .method = method,
                            .path = path,
                            .query = query,
                            .headers = headers,
                            .n_headers = n_headers,
                            .body = body,
                            .body_len = len,
                            .max_retries = -1};
    int rc = aws_call(s->aws, &r, resp, err);
    free(path);
    return rc;
}

/* Turns a failed call into the port's error. */
static int fail(struct err *err, const char *what, const char *key)
{
    char code[ERR_CODE_MAX], msg[ERR_MSG_MAX];
    snprintf(code, sizeof code, "%s", err->code);
    snprintf(msg, sizeof msg, "%s", err->message);
    if (strcmp(code, "NoSuchKey") == 0 || strcmp(code, "HttpStatus404") == 0)
        return err_set(err, "NotFound", "no object at '%s'", key ? key : "");
    if (strcmp(code, "InvalidObjectState") == 0)
        return err_set(err, "ArchiveCold", "'%s' is in GLACIER: restore it before reading",
                       key ? key : "");
    if (strcmp(code, "HttpTooLarge") == 0)
        return err_set(err, "TooLarge", "'%s' is larger than %u bytes", key ? key : "",
                       ARCHIVE_OBJECT_MAX);
    return err_set(err, "ArchiveError", "S3 %s '%s' failed: %s: %.600s", what, key ? key : "", code,
                   msg);
}

/* ---------------------------------------------------------------- objects */

static int s3_put(struct archive *base, const char *key, const void *bytes, size_t len,
                  struct err *err)
{
    struct archive_s3 *s = (struct archive_s3 *)base;
    if (archive_key_check(key, err) < 0)
        return -1;
    if (len > ARCHIVE_OBJECT_MAX)
        return err_set(err, "TooLarge", "object is %zu bytes; the limit is %u", len,
                       ARCHIVE_OBJECT_MAX);
    const char *headers[] = {"Content-Type: application/json"};
    struct aws_response resp = {0};
    int rc = call(s, "PUT", key, NULL, headers, 1, bytes ? bytes : "", len, &resp, err);
    aws_response_release(&resp);
    return rc < 0 ? fail(err, "PutObject", key) : 0;
}

static int s3_get(struct archive *base, const char *key, char **out, size_t *out_len,
                  struct err *err)
{
    struct archive_s3 *s = (struct archive_s3 *)base;
    if (archive_key_check(key, err) < 0)
        return -1;
    struct aws_response resp = {0};
    int rc = call(s, "GET", key, NULL, NULL, 0, NULL, 0, &resp, err);
    if (rc == 0) {
        *out_len = resp.http.body_len;
        *out = resp.http.body ? resp.http.body : xstrdup("");
        resp.http.body = NULL;
    } else {
        fail(err, "GetObject", key);
    }
    aws_response_release(&resp);
    return rc;
}

static int s3_del(struct archive *base, const char *key, struct err *err)
{
    struct archive_s3 *s = (struct archive_s3 *)base;
    if (archive_key_check(key, err) < 0)
        return -1;
    struct aws_response resp = {0};
    int rc = call(s, "DELETE", key, NULL, NULL, 0, NULL, 0, &resp, err);
    aws_response_release(&resp);
    if (rc < 0 && (strcmp(err->code, "NoSuchKey") == 0 || resp.status == 404))
        return 0; /* deleting a missing key succeeds, as in S3 */
    return rc < 0 ? fail(err, "DeleteObject", key) : 0;
}

/* ---------------------------------------------------------------- listing */

/* Appends the query encoding of s (RFC 3986 unreserved characters kept) to buf. */
static void query_escape(char *buf, size_t cap, const char *s)
{
    size_t n = strlen(buf);
    for (; *s && n + 4 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~')
            buf[n++] = (char)c;
        else
            n += (size_t)snprintf(buf + n, cap - n, "%%%02X", c);
    }
    buf[n] = '\0';
}

/* Copies the text of the first <tag>...</tag> in [p, end) into a new string, XML entities
 * decoded; NULL when absent. */
static char *xml_text(const char *p, const char *end, const char *tag)
{
    char open[64], close[64];
    snprintf(open, sizeof open, "<%s>", tag);
    snprintf(close, sizeof close, "</%s>", tag);
    const char *a = memmem(p, (size_t)(end - p), open, strlen(open));
    if (!a)
        return NULL;
    a += strlen(open);
    const char *b = memmem(a, (size_t)(end - a), close, strlen(close));
    if (!b)
        return NULL;
    char *out = xmalloc((size_t)(b - a) + 1);
    size_t n = 0;
    static const struct {
        const char *ent;
        char c;
    } ents[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
    while (a < b) {
        size_t k;
        for (k = 0; k < sizeof ents / sizeof ents[0]; k++) {
            size_t l = strlen(ents[k].ent);
            if ((size_t)(b - a) >= l && memcmp(a, ents[k].ent, l) == 0) {
                out[n++] = ents[k].c;
                a += l;
                break;
            }
        }
        if (k == sizeof ents / sizeof ents[0])
            out[n++] = *a++;
    }
    out[n] = '\0';
    return out;
}

/* Parses "2026-11-25T04:12:00.000Z" into epoch ms; 0 when malformed. */
static int64_t parse_iso_ms(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *rest = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
    if (!rest)
        return 0;
    int64_t ms = (int64_t)timegm(&tm) * 1000;
    if (*rest == '.')
        ms += strtol(rest + 1, NULL, 10) % 1000;
    return ms;
}

static int s3_list(struct archive *base, const char *prefix, const char *start_after, int max_keys,
                   json_t **out, struct err *err)
{
    struct archive_s3 *s = (struct archive_s3 *)base;
    if (archive_prefix_check(prefix ? prefix : "", err) < 0)
        return -1;
    if (max_keys < 1 || max_keys > ARCHIVE_LIST_MAX)
        return err_set(err, "InvalidArgument", "max_keys must be 1..%d", ARCHIVE_LIST_MAX);
    char query[2048];
    snprintf(query, sizeof query, "list-type=2&max-keys=%d&prefix=", max_keys);
    query_escape(query, sizeof query, prefix ? prefix : "");
    if (start_after && *start_after) {
        if (archive_key_check(start_after, err) < 0)
            return -1;
        strncat(query, "&start-after=", sizeof query - strlen(query) - 1);
        query_escape(query, sizeof query, start_after);
    }
    struct aws_response resp = {0};
    if (call(s, "GET", NULL, query, NULL, 0, NULL, 0, &resp, err) < 0) {
        aws_response_release(&resp);
        return fail(err, "ListObjectsV2", prefix);
    }
    const char *p = resp.http.body ? resp.http.body : "";
    const char *end = p + resp.http.body_len;
    json_t *objects = json_array();
    for (;;) {
        const char *c = memmem(p, (size_t)(end - p), "<Contents>", 10);
        if (!c)
            break;
        const char *ce = memmem(c, (size_t)(end - c), "</Contents>", 11);
        if (!ce)
            break;
        char *key = xml_text(c, ce, "Key");
        char *size = xml_text(c, ce, "Size");
        char *modified = xml_text(c, ce, "LastModified");
        char *cls = xml_text(c, ce, "StorageClass");
        int cold = cls && (strcmp(cls, "GLACIER") == 0 || strcmp(cls, "DEEP_ARCHIVE") == 0 ||
                           strcmp(cls, "GLACIER_IR") == 0);
        if (key)
            json_array_append_new(objects,
                                  json_pack("{s:s, s:I, s:I, s:s}", "key", key, "size",
                                            (json_int_t)(size ? atoll(size) : 0), "lastModified",
                                            (json_int_t)parse_iso_ms(modified), "storageClass",
                                            cold ? "GLACIER" : "STANDARD"));
        free(key);
        free(size);
        free(modified);
        free(cls);
        p = ce + 11;
    }
    char *trunc = xml_text(resp.http.body ? resp.http.body : "", end, "IsTruncated");
    *out = json_pack("{s:o, s:b}", "objects", objects, "isTruncated",
                     trunc && strcmp(trunc, "true") == 0);
    free(trunc);
    aws_response_release(&resp);
    return 0;
}

static int s3_lifecycle(struct archive *base, int days, int64_t now_ms,
                        struct archive_lifecycle_stats *stats, json_t *moved_keys, struct err *err)
{
    (void)moved_keys;
    memset(stats, 0, sizeof *stats);
    if (days < 0)
        return err_set(err, "InvalidArgument", "days must be >= 0");
    /* The bucket's lifecycle rule moves objects; count what it has still to move. */
    int64_t limit = now_ms - (int64_t)days * 86400000;
    char *after = NULL;
    for (int page = 0; page < 1000; page++) {
        json_t *out = NULL;
        if (s3_list(base, "", after, ARCHIVE_LIST_MAX, &out, err) < 0) {
            free(after);
            return -1;
        }
        size_t i;
        json_t *o;
        json_array_foreach(json_object_get(out, "objects"), i, o) {
            if (strcmp(json_string_value(json_object_get(o, "storageClass")), "STANDARD") == 0 &&
                json_integer_value(json_object_get(o, "lastModified")) < limit)
                stats->scanned++;
            free(after);
            after = xstrdup(json_string_value(json_object_get(o, "key")));
        }
        int more = json_is_true(json_object_get(out, "isTruncated"));
        json_decref(out);
        if (!more)
            break;
    }
    free(after);
    log_at(LL_DEBUG, "archive", "%zu objects await the bucket's lifecycle rule", stats->scanned);
    return 0;
}

static void s3_free(struct archive *base)
{
    struct archive_s3 *s = (struct archive_s3 *)base;
    aws_client_free(s->aws);
    free(s->bucket);
    free(s);
}

static const struct archive_ops s3_ops = {
    .name = "s3",
    .put = s3_put,
    .get = s3_get,
    .list = s3_list,
    .del = s3_del,
    .lifecycle = s3_lifecycle,
    .free = s3_free,
};

struct archive *archive_s3_new(const struct archive_s3_config *cfg, struct err *err)
{
    if (!cfg->bucket || !*cfg->bucket) {
        err_set(err, "ArchiveError", "no bucket (PARLEY_ARCHIVE_BUCKET)");
        return NULL;
    }
    struct archive_s3 *s = xcalloc(1, sizeof *s);
    s->base.ops = &s3_ops;
    struct http_client_config hc = {.timeout_ms = 30000,
                                    .max_response_bytes = ARCHIVE_OBJECT_MAX + 1,
                                    .max_idle_handles = 4};
    s->aws = aws_client_new(cfg->aws, &hc);
    s->bucket = xstrdup(cfg->bucket);
    struct aws_response resp = {0};
    int rc = call(s, "HEAD", NULL, NULL, NULL, 0, NULL, 0, &resp, err);
    aws_response_release(&resp);
    if (rc < 0) {
        char code[ERR_CODE_MAX], msg[ERR_MSG_MAX];
        snprintf(code, sizeof code, "%s", err->code);
        snprintf(msg, sizeof msg, "%s", err->message);
        err_set(err, "ArchiveError", "bucket '%.200s' is not usable: %s: %.600s", cfg->bucket, code,
                msg);
        s3_free(&s->base);
        return NULL;
    }
    return &s->base;
}

struct archive *archive_s3_from_config(const struct config *c, struct err *err)
{
    struct aws_config aws;
    if (aws_config_from_env(&aws, err) < 0)
        return NULL;
    struct archive_s3_config cfg = {.aws = &aws,
                                    .bucket = c->archive_bucket[0] ? c->archive_bucket : NULL};
    struct archive *a = archive_s3_new(&cfg, err);
    aws_config_release(&aws);
    return a;
}

struct archive *archive_s3_from_env(struct err *err)
{
    struct config c;
    struct archive *a = NULL;
    if (config_load(&c, err) == 0)
        a = archive_s3_from_config(&c, err);
    config_release(&c);
    return a;
}
