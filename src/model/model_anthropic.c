/*
 * model_anthropic.c - the Anthropic Messages API adapter: POST {base}/v1/messages with x-api-key
 * and anthropic-version; with on_delta, "stream": true and the SSE events assembled into the
 * final message.
 */
#include <stdlib.h>
#include <string.h>

#include "base/jsontext.h"
#include "base/sched.h"
#include "base/xmalloc.h"
#include "http/client.h"
#include "model/providers_int.h"

struct anthropic_model {
    struct model base;    /* must be first */
    struct model__http h; /* URL, client, limits (model__http_init) */
    char *key_hdr;        /* "x-api-key: <key>", made once; NULL without a key */
    char *model_id;       /* "claude-..." */
};

struct sse_ctx {
    struct model__stream stream;
};

static int on_sse(void *ud, const char *event, const char *data)
{
    (void)event;
    struct sse_ctx *c = ud;
    json_t *ev = json_loads(data, 0, NULL);
    if (!ev) {
        err_set(model__failure(&c->stream.failure), "ModelBadResponse", "malformed stream event");
        return -1;
    }
    int rc = model__stream_event(&c->stream, ev);
    json_decref(ev);
    return rc;
}

static int on_data(void *ud, const char *data, size_t len)
{
    struct model__sse *p = ud;
    return model__sse_feed(p, data, len);
}

/* The request body: request with the model, max_tokens and stream set (out of line: see
 * SCHED_OUT_OF_LINE; its locals are not held while the call waits). */
static SCHED_OUT_OF_LINE char *request_body(const struct anthropic_model *m, const json_t *request,
                                            int stream)
{
    /* Only top-level members change: a shallow copy shares the messages and tools (a deep copy of
     * the whole conversation was 3% of the CPU at thousands of turns). */
    json_t *req = json_copy((json_t *)request);
    json_object_set_new(req, "model", json_string(m->model_id));
    if (!json_is_integer(json_object_get(req, "max_tokens")))
        json_object_set_new(req, "max_tokens", json_integer(m->h.max_tokens));
    if (json_is_array(json_object_get(req, "tools")) &&
        json_array_size(json_object_get(req, "tools")) == 0)
        json_object_del(req, "tools");
    if (stream)
        json_object_set_new(req, "stream", json_true());
    char *body = jsontext_dump(req);
    json_decref(req);
    return body;
}

/* The message of a finished call (rc and err from http_client_do), or NULL with err: a stream's
 * own failure, the provider's error mapped, or a reply that is not a message. Run on the deep
 * stack by model__reply (c: its arguments). */
static json_t *reply_message(const struct model__reply_call *c)
{
    const struct anthropic_model *m = c->m;
    const struct http_client_response *resp = c->resp;
    struct model__stream *stream = c->ctx;
    int rc = c->rc, streamed = c->streamed;
    struct err *err = c->err;
    if (rc != 0 && strcmp(err->code, "HttpAborted") == 0 && stream->failure) {
        *err = *stream->failure;
        return NULL;
    }
    if (rc != 0 || resp->status < 200 || resp->status > 299) {
        struct err herr = *err;
        json_t *ej = resp->body ? json_loadb(resp->body, resp->body_len, 0, NULL) : NULL;
        json_t *e = json_object_get(ej, "error");
        const char *code = json_string_value(json_object_get(e, "type"));
        const char *msg = json_string_value(json_object_get(e, "message"));
        model__map_failure("anthropic", rc, &herr, resp->status, code, msg, err);
        json_decref(ej);
        return NULL;
    }
    if (streamed)
        return model__stream_finish(stream, err);
    json_error_t je;
    json_t *out = json_loadb(resp->body ? resp->body : "", resp->body_len, 0, &je);
    if (!out) {
        err_set(err, "ModelBadResponse", "anthropic: response is not JSON: %s", je.text);
        return NULL;
    }
    if (model__check_response(out, m->model_id, err) != 0) {
        json_decref(out);
        return NULL;
    }
    return out;
}

static json_t *anthropic_invoke(struct model *mb, const json_t *request, model_delta_fn on_delta,
                                void *ud, struct err *err)
{
    struct anthropic_model *m = (struct anthropic_model *)mb;
    if (!json_is_object(request)) {
        err_set(err, "ModelError", "anthropic: request is not a JSON object");
        return NULL;
    }
    struct http_client_response resp = {0};
    struct sse_ctx sc;
    struct model__sse sse = {0};
    model__stream_init(&sc.stream, on_delta, ud);
    char *body = request_body(m, request, on_delta != NULL);
    const char *hdrs[5];
    size_t nh = 0;
    hdrs[nh++] = "Content-Type: application/json";
    hdrs[nh++] = "anthropic-version: 2023-06-01";
    hdrs[nh++] = on_delta ? "Accept: text/event-stream" : "Accept: application/json";
    if (m->key_hdr)
        hdrs[nh++] = m->key_hdr;
    sse.fn = on_sse;
    sse.ud = &sc;
    struct http_client_request hr = {.method = "POST",
                                     .url = m->h.url,
                                     .headers = hdrs,
                                     .n_headers = nh,
                                     .body = body,
                                     .body_len = strlen(body),
                                     .timeout_ms = m->h.timeout_ms,
                                     .max_retries = m->h.max_retries,
                                     .on_data = on_delta ? on_data : NULL,
                                     .ud = &sse};
    int rc = http_client_do(m->h.http, &hr, &resp, err);
    json_t *out = model__reply(&(struct model__reply_call){m, rc, &resp, &sc.stream,
                                                           on_delta != NULL, err, reply_message});
    model__stream_release(&sc.stream);
    model__sse_release(&sse);
    http_client_response_release(&resp);
    free(body);
    return out;
}

static void anthropic_free(struct model *mb)
{
    struct anthropic_model *m = (struct anthropic_model *)mb;
    model__http_release(&m->h);
    free(m->key_hdr);
    free(m->model_id);
    free(m);
}

static const struct model_ops anthropic_ops = {
    .name = "anthropic",
    .invoke = anthropic_invoke,
    .free = anthropic_free,
};

struct model *model_anthropic_new(const struct model_provider_config *cfg, struct err *err)
{
    (void)err;
    struct anthropic_model *m = xcalloc(1, sizeof *m);
    m->base.ops = &anthropic_ops;
    model__http_init(&m->h, cfg, "https://api.anthropic.com", "/v1/messages");
    m->key_hdr = cfg->api_key && *cfg->api_key ? xasprintf("x-api-key: %s", cfg->api_key) : NULL;
    m->model_id = xstrdup(cfg->model_id ? cfg->model_id : MODEL_ANTHROPIC_DEFAULT_ID);
    return &m->base;
}
