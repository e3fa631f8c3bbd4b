/*
 * tool_http.c - an HTTP tool: fills the url template, builds the body or query, signs the call and
 * turns the reply into the tool result (see tool_http.h for the contract).
 */
#include "agent/tool_http.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "base/clock.h"
#include "base/jsontext.h"
#include "base/xmalloc.h"
#include "http/client.h"
#include "http/sigv4.h"

struct tool_http {
    char *name;                 /* the tool's name, for messages */
    char *url;                  /* url template, ${VAR} expanded */
    char *shown_url;            /* the url as written, without its query: what messages show */
    char *method;               /* upper-case method */
    char **headers;             /* "Name: value" lines, expanded */
    size_t n_headers;           /* number of lines */
    json_t *query;              /* names always sent as query parameters (array, may be empty) */
    long timeout_ms;            /* per attempt */
    int retries;                /* retries after the first attempt */
    struct http_client *client; /* borrowed */
};

static const char *const methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};

/* ---------------------------------------------------------------- small helpers */

char *tool_http_expand_env(const char *s, const char *where, struct err *err)
{
    size_t cap = strlen(s) + 1, len = 0;
    char *out = xmalloc(cap);
    const char *p = s;
    while (*p) {
        const char *end = NULL;
        if (p[0] == '$' && p[1] == '{' && (isalpha((unsigned char)p[2]) || p[2] == '_')) {
            end = p + 2;
            while (isalnum((unsigned char)*end) || *end == '_')
                end++;
            if (*end != '}')
                end = NULL;
        }
        const char *piece = p;
        size_t n = 1;
        if (end) {
            char name[128];
            snprintf(name, sizeof name, "%.*s", (int)(end - p - 2), p + 2);
            piece = getenv(name);
            if (!piece) {
                err_set(err, "ToolConfig", "%s: environment variable '%s' is not set", where, name);
                free(out);
                return NULL;
            }
            n = strlen(piece);
            p = end + 1;
        } else {
            p++;
        }
        if (len + n + 1 > cap) {
            cap = (len + n + 1) * 2;
            out = xrealloc(out, cap);
        }
        memcpy(out + len, piece, n);
        len += n;
    }
    out[len] = '\0';
    return out;
}

void tool_http_signature(const char *secret, const char *ts, const char *body, size_t body_len,
                         char out[65])
{
    size_t tl = strlen(ts);
    unsigned char *msg = xmalloc(tl + 1 + body_len + 1);
    memcpy(msg, ts, tl);
    msg[tl] = '.';
    if (body_len)
        memcpy(msg + tl + 1, body, body_len);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mlen = 0;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), msg, tl + 1 + body_len, mac, &mlen);
    for (unsigned i = 0; i < mlen && i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", mac[i]);
    out[64] = '\0';
    free(msg);
}

/* The text of a scalar input value for a url or query: strings as they are, other values as
 * compact JSON. New string. */
static char *value_text(const json_t *v)
{
    if (json_is_string(v))
        return xstrdup(json_string_value(v));
    char *s = jsontext_dump(v);
    return s ? s : xstrdup("");
}

static int in_array(const json_t *arr, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) {
        if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
            return 1;
    }
    return 0;
}

/* ---------------------------------------------------------------- lifecycle */

void tool_http_free(struct tool_http *h)
{
    if (!h)
        return;
    free(h->name);
    free(h->url);
    free(h->shown_url);
    free(h->method);
    for (size_t i = 0; i < h->n_headers; i++)
        free(h->headers[i]);
    free(h->headers);
    json_decref(h->query);
    free(h);
}

/* Reads an optional integer key in [lo, hi]; def when absent. Returns 0 or -1 with err. */
static int int_key(const json_t *entry, const char *key, long lo, long hi, long def, long *out,
                   const char *where, struct err *err)
{
    json_t *v = json_object_get(entry, key);
    *out = def;
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return err_set(err, "ToolConfig", "%s/%s: must be an integer in %ld..%ld", where, key, lo,
                       hi);
    *out = (long)json_integer_value(v);
    return 0;
}

static int load_headers(struct tool_http *h, const json_t *hdrs, const char *where, struct err *err)
{
    if (!hdrs)
        return 0;
    if (!json_is_object(hdrs) || json_object_size(hdrs) > TOOL_HTTP_HEADERS_MAX)
        return err_set(err, "ToolConfig", "%s/headers: must be an object of at most %d strings",
                       where, TOOL_HTTP_HEADERS_MAX);
    h->headers = xcalloc(json_object_size(hdrs), sizeof *h->headers);
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)hdrs, k, v) {
        char at[256];
        snprintf(at, sizeof at, "%s/headers/%s", where, k);
        int bad_name = !k[0];
        for (const char *c = k; *c; c++)
            if (!isalnum((unsigned char)*c) && *c != '-' && *c != '_')
                bad_name = 1;
        if (bad_name || !json_is_string(v) || strpbrk(json_string_value(v), "\r\n"))
            return err_set(err, "ToolConfig", "%s: needs a token name and a one-line string", at);
        char *val = tool_http_expand_env(json_string_value(v), at, err);
        if (!val)
            return -1;
        h->headers[h->n_headers++] = xasprintf("%s: %s", k, val);
        free(val);
    }
    return 0;
}

struct tool_http *tool_http_new(const json_t *entry, const char *where, struct http_client *client,
                                struct err *err)
{
    struct tool_http *h = xcalloc(1, sizeof *h);
    const char *name = json_string_value(json_object_get(entry, "name"));
    const char *url = json_string_value(json_object_get(entry, "url"));
    json_t *m = json_object_get(entry, "method");
    json_t *query = json_object_get(entry, "query");
    long retries = 0;
    h->client = client;
    h->name = xstrdup(name ? name : "?");
    if (!url || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) ||
        strlen(url) > TOOL_HTTP_URL_MAX) {
        err_set(err, "ToolConfig", "%s/url: must be an http:// or https:// url", where);
        goto fail;
    }
    h->shown_url = xstrdup(url);
    h->shown_url[strcspn(h->shown_url, "?#")] = '\0';
    char at[256];
    snprintf(at, sizeof at, "%s/url", where);
    if (!(h->url = tool_http_expand_env(url, at, err)))
        goto fail;
    h->method = xstrdup(m ? (json_string_value(m) ? json_string_value(m) : "") : "POST");
    for (char *c = h->method; *c; c++)
        *c = (char)toupper((unsigned char)*c);
    int known = 0;
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        known |= strcmp(methods[i], h->method) == 0;
    if (!known) {
        err_set(err, "ToolConfig", "%s/method: must be GET, POST, PUT, PATCH or DELETE", where);
        goto fail;
    }
    if (load_headers(h, json_object_get(entry, "headers"), where, err) < 0 ||
        int_key(entry, "timeout_ms", 1, TOOL_HTTP_TIMEOUT_MAX_MS, TOOL_HTTP_TIMEOUT_DEFAULT_MS,
                &h->timeout_ms, where, err) < 0 ||
        int_key(entry, "retries", 0, TOOL_HTTP_RETRIES_MAX, TOOL_HTTP_RETRIES_DEFAULT, &retries,
                where, err) < 0)
        goto fail;
    h->retries = (int)retries;
    if (query && !json_is_array(query)) {
        err_set(err, "ToolConfig", "%s/query: must be an array of field names", where);
        goto fail;
    }
    h->query = query ? json_incref(query) : json_array();
    return h;
fail:
    tool_http_free(h);
    return NULL;
}

/* ---------------------------------------------------------------- one call */

/* Fills each {field} of the url template from input and removes the field from rest. Returns the
 * url (new string), or NULL with err "InvalidInput". */
static char *fill_url(const struct tool_http *h, json_t *rest, struct err *err)
{
    size_t cap = strlen(h->url) + 64, len = 0;
    char *out = xmalloc(cap);
    const char *p = h->url;
    const char *qmark = strchr(h->url, '?');
    while (*p) {
        const char *close = *p == '{' && (!qmark || p < qmark) ? strchr(p, '}') : NULL;
        char *piece = NULL;
        size_t n = 1;
        if (close) {
            char field[128];
            snprintf(field, sizeof field, "%.*s", (int)(close - p - 1), p + 1);
            json_t *v = json_object_get(rest, field);
            if (!v || json_is_null(v) || json_is_object(v) || json_is_array(v)) {
                err_set(err, "InvalidInput", "tool '%s': the url needs a value for '%s'", h->name,
                        field);
                free(out);
                return NULL;
            }
            char *text = value_text(v);
            piece = sigv4_uri_encode(text, strlen(text), 0);
            free(text);
            json_object_del(rest, field);
            n = strlen(piece);
            p = close + 1;
        } else {
            p++;
        }
        if (len + n + 1 > cap) {
            cap = (len + n + 1) * 2;
            out = xrealloc(out, cap);
        }
        memcpy(out + len, piece ? piece : p - 1, n);
        len += n;
        free(piece);
    }
    out[len] = '\0';
    return out;
}

/* Appends "k=v" pairs of the fields of rest selected by all_fields (every field) or by h->query,
 * removing them from rest. Returns the new url. */
static char *add_query(const struct tool_http *h, char *url, json_t *rest, int all_fields)
{
    const char *k;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(rest, tmp, k, v) {
        if ((!all_fields && !in_array(h->query, k)) || json_is_null(v))
            continue;
        char *text = value_text(v);
        char *ek = sigv4_uri_encode(k, strlen(k), 0);
        char *ev = sigv4_uri_encode(text, strlen(text), 0);
        char *next = xasprintf("%s%c%s=%s", url, strchr(url, '?') ? '&' : '?', ek, ev);
        free(text);
        free(ek);
        free(ev);
        free(url);
        url = next;
        json_object_del(rest, k);
    }
    return url;
}

static int body_method(const char *m)
{
    return strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0 || strcmp(m, "PATCH") == 0;
}

static int idempotent_method(const char *m)
{
    return strcmp(m, "GET") == 0 || strcmp(m, "PUT") == 0 || strcmp(m, "DELETE") == 0;
}

/* The is_error result of a non-2xx reply: status and the start of the body (cut on a character
 * boundary). */
static json_t *error_reply(const struct tool_http *h, const struct http_client_response *resp,
                           struct err *err)
{
    size_t n = resp->body_len > TOOL_HTTP_ERROR_BODY_MAX ? TOOL_HTTP_ERROR_BODY_MAX
                                                         : resp->body_len;
    while (n > 0 && n < resp->body_len && ((unsigned char)resp->body[n] & 0xC0) == 0x80)
        n--;
    json_t *body = json_stringn(resp->body ? resp->body : "", n);
    if (!body) /* not UTF-8 */
        body = json_string("(binary reply)");
    err_set(err, "ToolHttpStatus", "tool '%s': %s %s answered HTTP %ld", h->name, h->method,
            h->shown_url, resp->status);
    return json_pack("{s:{s:s, s:s, s:i, s:o, s:b}}", "error", "code", err->code, "message",
                     err->message, "status", (int)resp->status, "body", body, "truncated",
                     n < resp->body_len);
}

json_t *tool_http_run(const struct tool_http *h, const struct tool_ctx *ctx, const json_t *input,
                      int *is_error, struct err *err)
{
    json_t *result = NULL;
    json_t *rest = json_deep_copy(input);
    char *url = NULL, *body = NULL, *hdr_key = NULL, *hdr_sess = NULL, *hdr_ts = NULL,
         *hdr_sig = NULL;
    const char **lines = xcalloc(h->n_headers + 5, sizeof *lines);
    struct http_client_response resp = {0};
    *is_error = 0;
    if (!json_is_object(rest)) {
        err_set(err, "InvalidInput", "tool '%s': the input must be an object", h->name);
        goto out;
    }
    if (!(url = fill_url(h, rest, err)))
        goto out;
    url = add_query(h, url, rest, !body_method(h->method));
    if (strlen(url) > TOOL_HTTP_URL_MAX) {
        err_set(err, "InvalidInput", "tool '%s': the url for this input is over %d bytes", h->name,
                TOOL_HTTP_URL_MAX);
        goto out;
    }
    if (body_method(h->method))
        body = jsontext_dump(rest);
    size_t body_len = body ? strlen(body) : 0;
    size_t n = 0;
    lines[n++] = "Content-Type: application/json";
    if (ctx && ctx->idempotency_key)
        lines[n++] = hdr_key = xasprintf("Idempotency-Key: %s", ctx->idempotency_key);
    if (ctx && ctx->session_id)
        lines[n++] = hdr_sess = xasprintf("X-Parley-Session: %s", ctx->session_id);
    const char *secret = ctx ? ctx->signing_secret : NULL;
    if (secret && secret[0]) {
        char ts[32], sig[65];
        snprintf(ts, sizeof ts, "%lld", (long long)time(NULL));
        tool_http_signature(secret, ts, body ? body : "", body_len, sig);
        lines[n++] = hdr_ts = xasprintf("X-Parley-Timestamp: %s", ts);
        lines[n++] = hdr_sig = xasprintf("X-Parley-Signature: v1=%s", sig);
    }
    for (size_t i = 0; i < h->n_headers; i++)
        lines[n++] = h->headers[i];
    int may_retry = idempotent_method(h->method) || (ctx && ctx->idempotency_key);
    long timeout = h->timeout_ms;
    if (ctx && ctx->deadline_ms > 0) {
        int64_t left = ctx->deadline_ms - clock_now_ms();
        if (left <= 0) {
            err_set(err, "ToolTimeout",
                    "tool '%s': %s %s not called, the turn's time limit has "
                    "passed",
                    h->name, h->method, h->shown_url);
            goto out;
        }
        if (left < timeout) {
            timeout = (long)left; /* the turn's deadline bounds the call: no attempt after it */
            may_retry = 0;
        }
    }
    struct http_client_request req = {
        .method = h->method,
        .url = url,
        .headers = lines,
        .n_headers = n,
        .body = body,
        .body_len = body_len,
        .timeout_ms = timeout,
        .max_retries = may_retry ? h->retries : 0,
    };
    struct err herr;
    err_clear(&herr);
    if (http_client_do(h->client, &req, &resp, &herr) < 0) {
        /* The client's own message carries the expanded url: say it again without secrets. */
        if (strcmp(herr.code, "HttpTimeout") == 0)
            err_set(err, "ToolTimeout", "tool '%s': %s %s did not answer within %ld ms", h->name,
                    h->method, h->shown_url, timeout);
        else if (strcmp(herr.code, "HttpTooLarge") == 0)
            err_set(err, "ToolTooLarge", "tool '%s': the reply of %s %s is over %u bytes", h->name,
                    h->method, h->shown_url, TOOL_HTTP_REPLY_MAX);
        else
            err_set(err, "ToolUnreachable", "tool '%s': cannot reach %s %s (%s)", h->name,
                    h->method, h->shown_url, herr.code);
        goto out;
    }
    if (resp.status < 200 || resp.status > 299) {
        result = error_reply(h, &resp, err);
        *is_error = 1;
        goto out;
    }
    if (resp.body_len == 0) {
        result = json_pack("{s:i}", "status", (int)resp.status);
        goto out;
    }
    json_error_t jerr;
    result = json_loadb(resp.body, resp.body_len, JSON_DECODE_ANY, &jerr);
    if (!result)
        err_set(err, "ToolBadReply", "tool '%s': the reply of %s %s is not JSON (%s)", h->name,
                h->method, h->shown_url, jerr.text);
out:
    http_client_response_release(&resp);
    json_decref(rest);
    free(url);
    free(body);
    free(hdr_key);
    free(hdr_sess);
    free(hdr_ts);
    free(hdr_sig);
    free(lines);
    return result;
}
