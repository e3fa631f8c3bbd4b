/*
 * peer.h - the test hooks of the emulator proxies in tests/aws (ddb-proxy.js, sqs-server.mjs
 * --trace): a GET or POST of a hook path answering JSON, such as /__calls, the calls the proxy
 * has seen. Header-only, for tests.
 */
#ifndef PARLEY_TEST_PEER_H
#define PARLEY_TEST_PEER_H

#include <curl/curl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/xmalloc.h"

static size_t peer__on_body(char *p, size_t size, size_t n, void *ud)
{
    buf_add(ud, p, size * n);
    return size * n;
}

/* Calls base followed by path (GET, or an empty POST when post) and returns the parsed answer
 * (new reference), or NULL for an empty, failed or non-JSON answer. */
static inline json_t *peer_hook(const char *base, const char *path, int post)
{
    struct buf b;
    buf_init(&b, 1 << 24);
    char *url = xasprintf("%s%s", base, path);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, peer__on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    if (post)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    CURLcode rc = curl_easy_perform(c);
    curl_easy_cleanup(c);
    free(url);
    json_t *j = rc == CURLE_OK && b.len ? json_loadb(b.data, b.len, 0, NULL) : NULL;
    buf_release(&b);
    return j;
}

/* The body of the last call of op in calls (a /__calls answer), borrowed; NULL when none. */
static inline const json_t *peer_last_call(const json_t *calls, const char *op)
{
    const json_t *found = NULL;
    for (size_t i = 0; i < json_array_size(calls); i++) {
        const json_t *c = json_array_get(calls, i);
        const char *o = json_string_value(json_object_get(c, "op"));
        if (o && strcmp(o, op) == 0)
            found = json_object_get(c, "body");
    }
    return found;
}

#endif
