/*
 * providers.c - what the network model adapters share: the HTTP client set-up, failure mapping,
 * response checks, the Anthropic stream-event assembler, the SSE splitter and the AWS
 * event-stream decoder (see providers_int.h). It calls no adapter.
 */
#include "model/providers_int.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/sched.h"
#include "base/xmalloc.h"

#define SSE_EVENT_MAX (1u << 20)
/* curl's receive buffer for a model call, held for the whole call (seconds, at every turn in
 * flight): answers are a few KiB and streams come in small events, so 1 KiB (curl's least) costs
 * a few more reads of an answer and saves 15 KiB per call over curl's 16 KiB (bench/README.md,
 * concurrency). */
#define MODEL_RECV_BUFFER_BYTES 1024
/* Finished model calls' handles kept with their keep-alive connection to the provider: turns
 * finish and start in bursts at thousands of connections, and a call without an idle handle
 * pays a new multi handle, a socket pair and a TCP (and TLS) connect. Each costs 3 descriptors. */
#define MODEL_IDLE_HANDLES 64
#define EVSTREAM_FRAME_MAX (16u << 20)
/* Pending bytes a decoder may hold: one event or frame at its cap plus the chunk that brought
 * it (the HTTP client's response cap keeps every chunk far below the margin). */
#define STREAM_PENDING_MAX (EVSTREAM_FRAME_MAX + (16u << 20))

/* ---- HTTP set-up ----------------------------------------------------------------------------- */

int model__retries(int cfg_max_retries)
{
    if (cfg_max_retries < 0)
        return 0;
    if (cfg_max_retries == 0 || cfg_max_retries > MODEL_MAX_CALLS - 1)
        return MODEL_MAX_CALLS - 1;
    return cfg_max_retries;
}

void model__http_init(struct model__http *h, const struct model_provider_config *cfg,
                      const char *default_base, const char *path)
{
    const char *base = cfg->base_url && *cfg->base_url ? cfg->base_url : default_base;
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/')
        bl--;
    h->url = xasprintf("%.*s%s", (int)bl, base, path);
    h->max_tokens = cfg->max_tokens > 0 ? cfg->max_tokens : 1024;
    h->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 60000;
    h->max_retries = model__retries(cfg->max_retries);
    struct http_client_config hc = {
        .timeout_ms = h->timeout_ms,
        .max_retries = h->max_retries > 0 ? h->max_retries : -1,
        .backoff_base_ms = cfg->backoff_base_ms ? cfg->backoff_base_ms : 250,
        .backoff_max_ms = cfg->backoff_max_ms ? cfg->backoff_max_ms : 8000,
        .max_response_bytes = cfg->max_response_bytes,
        .recv_buffer_bytes = MODEL_RECV_BUFFER_BYTES,
        .max_idle_handles = MODEL_IDLE_HANDLES,
    };
    h->http = http_client_new(&hc);
}

void model__http_release(struct model__http *h)
{
    http_client_free(h->http);
    free(h->url);
}

/* ---- Failures and checks -------------------------------------------------------------------- */

void model__map_failure(const char *provider, int http_rc, const struct err *herr, long status,
                        const char *code_hint, const char *message, struct err *err)
{
    if (http_rc != 0) {
        if (strcmp(herr->code, "HttpTimeout") == 0)
            err_set(err, "ModelTimeout", "%s: %s", provider, herr->message);
        else if (strcmp(herr->code, "HttpTooLarge") == 0)
            err_set(err, "ModelBadResponse", "%s: %s", provider, herr->message);
        else
            err_set(err, "ModelError", "%s: %s", provider, herr->message);
        return;
    }
    const char *msg = message && *message ? message : "no message";
    int throttled = status == 429 || status == 529 ||
                    (code_hint && (aws_error_is_throttling(code_hint) ||
                                   strcmp(code_hint, "rate_limit_error") == 0 ||
                                   strcmp(code_hint, "overloaded_error") == 0));
    if (throttled)
        err_set(err, "ModelThrottled", "%s is throttling requests (status %ld%s%s): %s", provider,
                status, code_hint ? ", " : "", code_hint ? code_hint : "", msg);
    else
        err_set(err, "ModelError", "%s returned status %ld%s%s: %s", provider, status,
                code_hint ? ", " : "", code_hint ? code_hint : "", msg);
}

/* Returns the length of text's prefix that ends with its last full sentence: a '.', '!', '?' or
 * '…' (with any closing quotes or brackets) followed by white space or the end, or a line break.
 * Returns 0 when the text holds no full sentence. */
static size_t last_sentence_end(const char *text)
{
    size_t n = strlen(text), best = 0;
    for (size_t i = 0; i < n; i++) {
        size_t end = 0;
        if (text[i] == '\n') {
            end = i;
        } else if (text[i] == '.' || text[i] == '!' || text[i] == '?' ||
                   (i + 2 < n && memcmp(text + i, "\xe2\x80\xa6", 3) == 0)) {
            size_t j = i + (text[i] == '\xe2' ? 3 : 1);
            while (j < n && (text[j] == '"' || text[j] == '\'' || text[j] == ')' || text[j] == ']'))
                j++;
            if (j == n || text[j] == ' ' || text[j] == '\n' || text[j] == '\t' || text[j] == '\r')
                end = j;
        }
        while (end > 0 && (text[end - 1] == ' ' || text[end - 1] == '\n' || text[end - 1] == '\r' ||
                           text[end - 1] == '\t'))
            end--;
        if (end > best)
            best = end;
    }
    return best;
}

/* Settles "refusal" and "max_tokens" (see model__check_response in providers.h). */
static void settle_stop(json_t *resp)
{
    const char *stop = json_string_value(json_object_get(resp, "stop_reason"));
    if (strcmp(stop, "refusal") == 0) {
        json_object_set_new(resp, "content",
                            json_pack("[{s:s, s:s}]", "type", "text", "text", MODEL_DECLINE_TEXT));
        return;
    }
    if (strcmp(stop, "max_tokens") != 0)
        return;
    json_t *content = json_object_get(resp, "content");
    json_t *kept = json_array();
    size_t i, last_text = (size_t)-1;
    json_t *b;
    json_array_foreach(content, i, b) {
        if (strcmp(json_string_value(json_object_get(b, "type")), "text") == 0)
            last_text = i;
    }
    json_array_foreach(content, i, b) {
        if (strcmp(json_string_value(json_object_get(b, "type")), "text") != 0)
            continue; /* a tool_use cut by the limit is not safe to run */
        const char *t = json_string_value(json_object_get(b, "text"));
        size_t keep = i == last_text ? last_sentence_end(t) : strlen(t);
        if (keep > 0)
            json_array_append_new(kept, json_pack("{s:s, s:s%}", "type", "text", "text", t, keep));
    }
    if (json_array_size(kept) == 0)
        json_array_append_new(kept,
                              json_pack("{s:s, s:s}", "type", "text", "text", MODEL_CUT_TEXT));
    json_object_set_new(resp, "content", kept);
}

int model__check_response(json_t *resp, const char *model_id, struct err *err)
{
    if (!json_is_object(resp))
        return err_set(err, "ModelBadResponse", "model response is not a JSON object");
    json_t *content = json_object_get(resp, "content");
    if (!json_is_array(content))
        return err_set(err, "ModelBadResponse", "model response has no content array");
    size_t i;
    json_t *b;
    json_array_foreach(content, i, b) {
        const char *t = json_string_value(json_object_get(b, "type"));
        if (!t)
            return err_set(err, "ModelBadResponse", "content block %zu has no type", i);
        if (strcmp(t, "text") == 0 && !json_is_string(json_object_get(b, "text")))
            return err_set(err, "ModelBadResponse", "text block %zu has no text", i);
        if (strcmp(t, "tool_use") == 0 && (!json_is_string(json_object_get(b, "id")) ||
                                           !json_is_string(json_object_get(b, "name")) ||
                                           !json_is_object(json_object_get(b, "input"))))
            return err_set(err, "ModelBadResponse", "tool_use block %zu lacks id, name or input",
                           i);
    }
    if (!json_is_string(json_object_get(resp, "stop_reason")))
        return err_set(err, "ModelBadResponse", "model response has no stop_reason");
    settle_stop(resp);
    if (!json_object_get(resp, "type"))
        json_object_set_new(resp, "type", json_string("message"));
    if (!json_object_get(resp, "role"))
        json_object_set_new(resp, "role", json_string("assistant"));
    if (!json_object_get(resp, "model") && model_id)
        json_object_set_new(resp, "model", json_string(model_id));
    if (!json_object_get(resp, "id"))
        json_object_set_new(resp, "id", json_string("msg_local"));
    json_t *u = json_object_get(resp, "usage");
    if (!json_is_object(u)) {
        u = json_object();
        json_object_set_new(resp, "usage", u);
    }
    if (!json_is_integer(json_object_get(u, "input_tokens")))
        json_object_set_new(u, "input_tokens", json_integer(0));
    if (!json_is_integer(json_object_get(u, "output_tokens")))
        json_object_set_new(u, "output_tokens", json_integer(0));
    return 0;
}

/* ---- Anthropic stream events ---------------------------------------------------------------- */

void model__stream_init(struct model__stream *s, model_delta_fn on_delta, void *ud)
{
    memset(s, 0, sizeof *s);
    s->on_delta = on_delta;
    s->ud = ud;
}

/* The message a stream builds, made at its first event: a call holds nothing for it while it
 * waits on the provider (or when it does not stream at all). */
static void stream_begin(struct model__stream *s)
{
    s->msg = json_pack("{s:s, s:s, s:[], s:n, s:{s:i, s:i}}", "type", "message", "role",
                       "assistant", "content", "stop_reason", "usage", "input_tokens", 0,
                       "output_tokens", 0);
    s->partial = json_object();
}

void model__stream_release(struct model__stream *s)
{
    json_decref(s->msg);
    json_decref(s->partial);
    free(s->failure);
    s->msg = s->partial = NULL;
    s->failure = NULL;
}

struct err *model__failure(struct err **slot)
{
    if (!*slot)
        *slot = xcalloc(1, sizeof **slot);
    return *slot;
}

static void merge_usage(json_t *msg, const json_t *u)
{
    json_t *mu = json_object_get(msg, "usage");
    const char *keys[] = {"input_tokens", "output_tokens"};
    for (int i = 0; i < 2; i++) {
        json_t *v = json_object_get(u, keys[i]);
        if (json_is_integer(v))
            json_object_set_new(mu, keys[i], json_integer(json_integer_value(v)));
    }
}

/* Sets obj[key] to its current string (none counts as "") followed by more. */
static void stream_append(json_t *obj, const char *key, const char *more)
{
    const char *old = json_string_value(json_object_get(obj, key));
    struct buf joined;
    buf_init(&joined, STREAM_PENDING_MAX);
    (void)buf_add_str(&joined, old ? old : "");
    (void)buf_add_str(&joined, more);
    json_object_set_new(obj, key, json_string(buf_str(&joined)));
    buf_release(&joined);
}

int model__stream_event(struct model__stream *s, const json_t *ev)
{
    if (!s->msg)
        stream_begin(s);
    const char *type = json_string_value(json_object_get(ev, "type"));
    json_t *content = json_object_get(s->msg, "content");
    if (!type)
        return err_set(model__failure(&s->failure), "ModelBadResponse",
                       "stream event without a type");
    if (strcmp(type, "message_start") == 0) {
        json_t *m = json_object_get(ev, "message");
        const char *keys[] = {"id", "model"};
        for (int i = 0; i < 2; i++) {
            json_t *v = json_object_get(m, keys[i]);
            if (json_is_string(v))
                json_object_set(s->msg, keys[i], v);
        }
        merge_usage(s->msg, json_object_get(m, "usage"));
    } else if (strcmp(type, "content_block_start") == 0) {
        json_t *idx = json_object_get(ev, "index");
        json_t *b = json_object_get(ev, "content_block");
        if (!json_is_integer(idx) ||
            json_integer_value(idx) != (json_int_t)json_array_size(content) || !json_is_object(b))
            return err_set(model__failure(&s->failure), "ModelBadResponse",
                           "content_block_start out of order");
        json_t *copy = json_deep_copy(b);
        if (json_is_string(json_object_get(copy, "type")) &&
            strcmp(json_string_value(json_object_get(copy, "type")), "tool_use") == 0)
            json_object_set_new(copy, "input", json_object());
        json_array_append_new(content, copy);
    } else if (strcmp(type, "content_block_delta") == 0) {
        json_t *idx = json_object_get(ev, "index");
        json_t *d = json_object_get(ev, "delta");
        json_t *b = json_is_integer(idx) ? json_array_get(content, (size_t)json_integer_value(idx))
                                         : NULL;
        const char *dt = json_string_value(json_object_get(d, "type"));
        if (!b || !dt)
            return err_set(model__failure(&s->failure), "ModelBadResponse",
                           "content_block_delta for no block");
        if (strcmp(dt, "text_delta") == 0) {
            const char *t = json_string_value(json_object_get(d, "text"));
            if (!t)
                return err_set(model__failure(&s->failure), "ModelBadResponse",
                               "text_delta without text");
            stream_append(b, "text", t);
            if (s->on_delta && *t)
                s->on_delta(s->ud, t);
        } else if (strcmp(dt, "input_json_delta") == 0) {
            const char *p = json_string_value(json_object_get(d, "partial_json"));
            char key[32];
            snprintf(key, sizeof key, "%lld", (long long)json_integer_value(idx));
            stream_append(s->partial, key, p ? p : "");
        }
    } else if (strcmp(type, "content_block_stop") == 0) {
        json_t *idx = json_object_get(ev, "index");
        char key[32];
        snprintf(key, sizeof key, "%lld", (long long)json_integer_value(idx));
        const char *p = json_string_value(json_object_get(s->partial, key));
        json_t *b = json_array_get(content, (size_t)json_integer_value(idx));
        if (p && *p && b) {
            json_t *input = json_loads(p, 0, NULL);
            if (!json_is_object(input)) {
                json_decref(input);
                return err_set(model__failure(&s->failure), "ModelBadResponse",
                               "tool input of block %s is not a JSON object", key);
            }
            json_object_set_new(b, "input", input);
        }
    } else if (strcmp(type, "message_delta") == 0) {
        json_t *d = json_object_get(ev, "delta");
        json_t *sr = json_object_get(d, "stop_reason");
        if (json_is_string(sr))
            json_object_set(s->msg, "stop_reason", sr);
        merge_usage(s->msg, json_object_get(ev, "usage"));
    } else if (strcmp(type, "message_stop") == 0) {
        s->done = 1;
    } else if (strcmp(type, "error") == 0) {
        json_t *e = json_object_get(ev, "error");
        const char *et = json_string_value(json_object_get(e, "type"));
        const char *em = json_string_value(json_object_get(e, "message"));
        int throttled = et && (strcmp(et, "overloaded_error") == 0 ||
                               strcmp(et, "rate_limit_error") == 0);
        return err_set(model__failure(&s->failure), throttled ? "ModelThrottled" : "ModelError",
                       "stream error %s: %s", et ? et : "?", em ? em : "no message");
    }
    return 0; /* ping and unknown events are ignored */
}

json_t *model__stream_finish(struct model__stream *s, struct err *err)
{
    if (s->failure) {
        *err = *s->failure;
        return NULL;
    }
    if (!s->done || !json_is_string(json_object_get(s->msg, "stop_reason"))) {
        err_set(err, "ModelBadResponse", "stream ended before message_stop");
        return NULL;
    }
    json_t *m = s->msg;
    s->msg = NULL;
    if (model__check_response(m, NULL, err) != 0) {
        json_decref(m);
        return NULL;
    }
    model__stream_refusal(m, s->on_delta, s->ud);
    return m;
}

void model__stream_refusal(const json_t *resp, model_delta_fn on_delta, void *ud)
{
    const char *stop = json_string_value(json_object_get(resp, "stop_reason"));
    if (on_delta && stop && strcmp(stop, "refusal") == 0)
        on_delta(ud, "\n\n" MODEL_DECLINE_TEXT);
}

/* ---- SSE ------------------------------------------------------------------------------------ */

/* Handles one complete event block (lines without the blank separator). */
static int sse_dispatch(struct model__sse *p, char *block)
{
    char event[64] = "";
    struct buf data; /* the data lines joined by '\n'; never longer than the block */
    int has_data = 0;
    int rc = 0;
    char *save = NULL;
    buf_init(&data, strlen(block) + 1);
    for (char *line = strtok_r(block, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        size_t l = strlen(line);
        if (l > 0 && line[l - 1] == '\r')
            line[--l] = '\0';
        if (strncmp(line, "data:", 5) == 0) {
            const char *v = line + 5 + (line[5] == ' ');
            size_t vl = strlen(v);
            if (data.len)
                buf_add_char(&data, '\n');
            buf_add(&data, v, vl);
            has_data = 1;
        } else if (strncmp(line, "event:", 6) == 0) {
            /* cut to the buffer like "%s" would, without vfprintf's ~1.3 KB frame on a path a
             * streamed turn runs between its waits */
            const char *v = line + 6 + (line[6] == ' ');
            size_t vl = strnlen(v, sizeof event - 1);
            memcpy(event, v, vl);
            event[vl] = '\0';
        }
    }
    if (has_data)
        rc = p->fn(p->ud, event, buf_str(&data));
    buf_release(&data);
    return rc;
}

/* model__reply's call and answer, for the deep stack. */
struct reply_run {
    const struct model__reply_call *c;
    json_t *out;
};

static void reply_on_deep_stack(void *ud)
{
    struct reply_run *r = ud;
    r->out = r->c->read(r->c);
}

json_t *model__reply(const struct model__reply_call *c)
{
    struct reply_run r = {c, NULL};
    sched_call_deep(reply_on_deep_stack, &r);
    return r.out;
}

/* model__sse_feed's arguments and answer, for the deep stack. */
struct sse_feed {
    struct model__sse *p;
    const char *data;
    size_t len;
    int rc;
};

static void sse_feed_on_deep_stack(void *ud);

int model__sse_feed(struct model__sse *p, const char *data, size_t len)
{
    struct sse_feed f = {p, data, len, -1};
    sched_call_deep(sse_feed_on_deep_stack, &f);
    return f.rc;
}

static void sse_feed_on_deep_stack(void *ud)
{
    struct sse_feed *f = ud;
    struct model__sse *p = f->p;
    const char *data = f->data;
    size_t len = f->len;
    struct buf *b = &p->pending;
    if (!b->data)
        buf_init(b, STREAM_PENDING_MAX); /* the struct was zero-initialised */
    if (buf_add(b, data, len) < 0)
        return;
    for (;;) {
        char *sep = strstr(b->data, "\n\n");
        char *sep2 = strstr(b->data, "\r\n\r\n");
        size_t skip = 2;
        if (sep2 && (!sep || sep2 < sep)) {
            sep = sep2;
            skip = 4;
        }
        if (!sep)
            break;
        *sep = '\0';
        size_t used = (size_t)(sep - b->data) + skip;
        char *block = xstrdup(b->data);
        memmove(b->data, b->data + used, b->len - used + 1); /* drops the event, NUL included */
        b->len -= used;
        int rc = sse_dispatch(p, block);
        free(block);
        if (rc != 0)
            return;
    }
    f->rc = b->len > SSE_EVENT_MAX ? -1 : 0;
}

void model__sse_release(struct model__sse *p)
{
    buf_release(&p->pending);
    memset(p, 0, sizeof *p);
}

/* ---- AWS event stream ----------------------------------------------------------------------- */

unsigned long model__crc32(unsigned long crc, const void *data, size_t len)
{
    const unsigned char *p = data;
    crc = ~crc & 0xffffffffUL;
    for (size_t i = 0; i < len; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xEDB88320UL & (0UL - (crc & 1UL)));
    }
    return ~crc & 0xffffffffUL;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Parses the header block; returns 0 or -1 when it is malformed. */
static int evstream_headers(const unsigned char *h, size_t n, struct model__evstream_msg *m)
{
    size_t i = 0;
    while (i < n) {
        size_t nl = h[i++];
        if (i + nl + 1 > n)
            return -1;
        char name[128];
        memcpy(name, h + i, nl < 127 ? nl : 127);
        name[nl < 127 ? nl : 127] = '\0';
        i += nl;
        unsigned char type = h[i++];
        size_t vlen;
        switch (type) {
        case 0:
        case 1:
            vlen = 0;
            break; /* bool true/false */
        case 2:
            vlen = 1;
            break; /* byte */
        case 3:
            vlen = 2;
            break; /* short */
        case 4:
            vlen = 4;
            break; /* int */
        case 5:
        case 8:
            vlen = 8;
            break; /* long, timestamp */
        case 9:
            vlen = 16;
            break; /* uuid */
        case 6:
        case 7: /* bytes, string */
            if (i + 2 > n)
                return -1;
            vlen = (size_t)h[i] << 8 | h[i + 1];
            i += 2;
            break;
        default:
            return -1;
        }
        if (i + vlen > n)
            return -1;
        if (type == 7) {
            char *dst = NULL;
            size_t cap = 0;
            if (strcmp(name, ":event-type") == 0)
                dst = m->event_type, cap = sizeof m->event_type;
            else if (strcmp(name, ":message-type") == 0)
                dst = m->message_type, cap = sizeof m->message_type;
            else if (strcmp(name, ":exception-type") == 0 || strcmp(name, ":error-code") == 0)
                dst = m->exception_type, cap = sizeof m->exception_type;
            if (dst) {
                size_t l = vlen < cap - 1 ? vlen : cap - 1;
                memcpy(dst, h + i, l);
                dst[l] = '\0';
            }
        }
        i += vlen;
    }
    return 0;
}

int model__evstream_feed(struct model__evstream *d, const void *data, size_t len)
{
    if (d->bad)
        return -1;
    struct buf *b = &d->pending;
    if (!b->data)
        buf_init(b, STREAM_PENDING_MAX); /* the struct was zero-initialised */
    if (buf_add(b, data, len) < 0) {
        d->bad = 1;
        return -1;
    }
    size_t off = 0;
    int rc = 0;
    while (b->len - off >= 12) {
        const unsigned char *f = (const unsigned char *)b->data + off;
        uint32_t total = be32(f), hlen = be32(f + 4);
        if (total < 16 || total > EVSTREAM_FRAME_MAX || hlen > total - 16 ||
            model__crc32(0, f, 8) != be32(f + 8)) {
            d->bad = 1;
            rc = -1;
            break;
        }
        if (b->len - off < total)
            break; /* need more */
        if (model__crc32(0, f, total - 4) != be32(f + total - 4)) {
            d->bad = 1;
            rc = -1;
            break;
        }
        struct model__evstream_msg m;
        memset(&m, 0, sizeof m);
        if (evstream_headers(f + 12, hlen, &m) != 0) {
            d->bad = 1;
            rc = -1;
            break;
        }
        m.payload = f + 12 + hlen;
        m.payload_len = total - 16 - hlen;
        off += total;
        if (d->fn(d->ud, &m) != 0) {
            rc = -1;
            break;
        }
    }
    memmove(b->data, b->data + off, b->len - off + 1); /* drops the frames, NUL included */
    b->len -= off;
    return rc;
}

void model__evstream_release(struct model__evstream *d)
{
    buf_release(&d->pending);
    memset(d, 0, sizeof *d);
}
