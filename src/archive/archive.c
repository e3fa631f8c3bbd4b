/*
 * archive.c - the rules every archive adapter shares: the key layout and what makes a key safe.
 *
 * Keys become file paths in the embedded adapter and object names in S3, so they are checked
 * once, here, against a small byte set before any adapter touches them. The batch put falls back
 * to single puts for adapters that do not batch.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "archive/archive.h"

/* 9999-12-31T23:59:59.999Z: four-digit years keep keys sortable by date. */
#define ARCHIVE_TIME_MAX_MS 253402300799999LL

static int key_byte_ok(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

int archive_key_for(const char *session_id, int64_t created_at_ms, char *buf, size_t len,
                    struct err *err)
{
    if (!session_id || !session_id[0])
        return err_set(err, "InvalidKey", "session id is empty");
    size_t n = strnlen(session_id, ARCHIVE_SESSION_ID_MAX + 1);
    if (n > ARCHIVE_SESSION_ID_MAX)
        return err_set(err, "InvalidKey", "session id is longer than %d bytes",
                       ARCHIVE_SESSION_ID_MAX);
    if (session_id[0] == '.')
        return err_set(err, "InvalidKey", "session id '%s' starts with '.'", session_id);
    for (size_t i = 0; i < n; i++)
        if (!key_byte_ok((unsigned char)session_id[i]))
            return err_set(err, "InvalidKey",
                           "session id '%.*s' holds byte 0x%02x outside [A-Za-z0-9._-]", (int)n,
                           session_id, (unsigned char)session_id[i]);
    if (created_at_ms < 0 || created_at_ms > ARCHIVE_TIME_MAX_MS)
        return err_set(err, "InvalidArgument", "session start %lld ms is outside 1970..9999",
                       (long long)created_at_ms);

    time_t secs = (time_t)(created_at_ms / 1000);
    struct tm tm;
    if (!gmtime_r(&secs, &tm))
        return err_set(err, "InvalidArgument", "cannot convert %lld ms to a UTC date",
                       (long long)created_at_ms);
    int w = snprintf(buf, len, "%04d/%02d/%02d/%s.json", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, session_id);
    if (w < 0 || (size_t)w >= len)
        return err_set(err, "InvalidArgument", "key buffer of %zu bytes is too small", len);
    return 0;
}

/* Checks the bytes and components of a key or prefix; a prefix may end with '/' or stop in the
 * middle of a component. */
static int check_path(const char *what, const char *key, int is_prefix, struct err *err)
{
    if (!key)
        return err_set(err, "InvalidKey", "%s is missing", what);
    size_t n = strnlen(key, ARCHIVE_KEY_MAX + 1);
    if (n > ARCHIVE_KEY_MAX)
        return err_set(err, "InvalidKey", "%s is longer than %d bytes", what, ARCHIVE_KEY_MAX);
    if (n == 0)
        return is_prefix ? 0 : err_set(err, "InvalidKey", "%s is empty", what);
    if (key[0] == '/')
        return err_set(err, "InvalidKey", "%s '%s' is an absolute path", what, key);
    if (strstr(key, ".."))
        return err_set(err, "InvalidKey", "%s '%s' contains '..'", what, key);

    int depth = 0;
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        unsigned char c = (unsigned char)key[i];
        if (i < n && c != '/') {
            if (!key_byte_ok(c))
                return err_set(err, "InvalidKey",
                               "%s '%s' holds byte 0x%02x outside [A-Za-z0-9._-/]", what, key, c);
            continue;
        }
        /* key[start..i) is one component. */
        size_t clen = i - start;
        if (clen == 0) {
            if (!(is_prefix && i == n))
                return err_set(err, "InvalidKey", "%s '%s' has an empty component", what, key);
        } else {
            if (key[start] == '.')
                return err_set(err, "InvalidKey", "%s '%s' has a component starting with '.'", what,
                               key);
            if (clen > ARCHIVE_COMPONENT_MAX)
                return err_set(err, "InvalidKey", "%s '%s' has a component longer than %d bytes",
                               what, key, ARCHIVE_COMPONENT_MAX);
            if (++depth > ARCHIVE_DEPTH_MAX)
                return err_set(err, "InvalidKey", "%s '%s' has more than %d components", what, key,
                               ARCHIVE_DEPTH_MAX);
        }
        start = i + 1;
    }
    return 0;
}

int archive_key_check(const char *key, struct err *err)
{
    return check_path("key", key, 0, err);
}

int archive_prefix_check(const char *prefix, struct err *err)
{
    return check_path("prefix", prefix, 1, err);
}

size_t archive_put_many(struct archive *a, struct archive_put_item *items, size_t n)
{
    if (a->ops->put_many)
        return a->ops->put_many(a, items, n);
    size_t failed = 0;
    for (size_t i = 0; i < n; i++) {
        err_clear(&items[i].err);
        items[i].rc = archive_put(a, items[i].key, items[i].bytes, items[i].len, &items[i].err);
        if (items[i].rc != 0)
            failed++;
    }
    return failed;
}
