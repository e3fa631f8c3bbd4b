/*
 * model_openai.c - the OpenAI-compatible Chat Completions adapter (OpenAI, Ollama, llama.cpp,
 * vLLM): Messages-API requests become chat messages with function tools, tool_use blocks become
 * tool_calls and tool results "tool" messages; replies (and SSE chunks when streaming) come back
 * as a Messages-API response. No key is sent when none is configured.
 */
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/jsontext.h"
#include "base/sched.h"
#include "base/xmalloc.h"
#include "http/client.h"
#include "model/providers_int.h"

struct openai_model {
    struct model base;    /* must be first */
    struct model__http h; /* URL, client, limits (model__http_init) */
    char *auth_hdr;       /* "Authorization: Bearer <key>", made once; NULL without a key */
    char *model_id;       /* "gpt-4.1-mini", "llama3.1", ... */
};

/* ---- Request translation -------------------------------------------------------------------- */

/* The most bytes of text gathered from one message or one streamed response; the HTTP client's
 * response cap (8 MiB by default) keeps a response below it. */
#define OPENAI_TEXT_MAX (64u * 1024 * 1024)

static char *text_of(const json_t *content)
{
    if (json_is_string(content))
        return xstrdup(json_string_value(content));
    struct buf acc;
    buf_init(&acc, OPENAI_TEXT_MAX);
    size_t i;
    json_t *b;
    json_array_foreach(content, i, b) {
        const char *t = json_string_value(json_object_get(b, "text"));
        if (t && json_is_string(json_object_get(b, "type")) &&
            strcmp(json_string_value(json_object_get(b, "type")), "text") == 0)
            (void)buf_printf(&acc, "%s%s", acc.len ? "\n" : "", t);
    }
    return buf_take(&acc, NULL);
}

static json_t *to_chat(const json_t *req, const char *model_id, int max_tokens, int stream)
{
    json_t *msgs = json_array();
    const char *sys = json_string_value(json_object_get(req, "system"));
    if (sys && *sys)
        json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", "system", "content", sys));
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(req, "messages"), i, m) {
        const char *role = json_string_value(json_object_get(m, "role"));
        json_t *content = json_object_get(m, "content");
        if (!role)
            continue;
        if (strcmp(role, "assistant") == 0) {
            json_t *calls = json_array();
            size_t k;
            json_t *b;
            json_array_foreach(content, k, b) {
                const char *t = json_string_value(json_object_get(b, "type"));
                if (t && strcmp(t, "tool_use") == 0) {
                    json_t *in = json_object_get(b, "input");
                    char *args = json_is_object(in) ? jsontext_dump(in) : NULL;
                    json_array_append_new(calls,
                                          json_pack("{s:O, s:s, s:{s:O, s:s}}", "id",
                                                    json_object_get(b, "id"), "type", "function",
                                                    "function", "name", json_object_get(b, "name"),
                                                    "arguments", args ? args : "{}"));
                    free(args);
                }
            }
            char *text = text_of(content);
            json_t *am = json_pack("{s:s}", "role", "assistant");
            json_object_set_new(am, "content",
                                *text || !json_array_size(calls) ? json_string(text) : json_null());
            if (json_array_size(calls))
                json_object_set_new(am, "tool_calls", calls);
            else
                json_decref(calls);
            free(text);
            json_array_append_new(msgs, am);
            continue;
        }
        /* user: tool results first (as "tool" messages), then any text. */
        size_t k;
        json_t *b;
        json_array_foreach(content, k, b) {
            const char *t = json_string_value(json_object_get(b, "type"));
            if (t && strcmp(t, "tool_result") == 0) {
                char *rt = text_of(json_object_get(b, "content"));
                json_array_append_new(msgs,
                                      json_pack("{s:s, s:O, s:s}", "role", "tool", "tool_call_id",
                                                json_object_get(b, "tool_use_id"), "content", rt));
                free(rt);
            }
        }
        char *text = text_of(content);
        if (*text || json_is_string(content))
            json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", "user", "content", text));
        free(text);
    }
    json_t *mt = json_object_get(req, "max_tokens");
    json_t *out = json_pack("{s:s, s:o, s:I}", "model", model_id, "messages", msgs, "max_tokens",
                            json_is_integer(mt) ? json_integer_value(mt) : (json_int_t)max_tokens);
    json_t *tools = json_object_get(req, "tools");
    if (json_array_size(tools) > 0) {
        json_t *fns = json_array();
        json_t *t;
        json_array_foreach(tools, i, t) {
            json_t *fn = json_pack("{s:O}", "name", json_object_get(t, "name"));
            if (json_is_string(json_object_get(t, "description")))
                json_object_set(fn, "description", json_object_get(t, "description"));
            json_t *schema = json_object_get(t, "input_schema");
            json_object_set_new(fn, "parameters",
                                schema ? json_incref(schema)
                                       : json_pack("{s:s}", "type", "object"));
            json_array_append_new(fns, json_pack("{s:s, s:o}", "type", "function", "function", fn));
        }
        json_object_set_new(out, "tools", fns);
    }
    if (stream) {
        json_object_set_new(out, "stream", json_true());
        json_object_set_new(out, "stream_options", json_pack("{s:b}", "include_usage", 1));
    }
    return out;
}

/* ---- Response translation ------------------------------------------------------------------- */

static const char *stop_from_finish(const char *f)
{
    if (!f)
        return NULL;
    if (strcmp(f, "tool_calls") == 0 || strcmp(f, "function_call") == 0)
        return "tool_use";
    if (strcmp(f, "length") == 0)
        return "max_tokens";
    if (strcmp(f, "content_filter") == 0)
        return "refusal"; /* settled into a polite decline by model__check_response */
    return "end_turn";
}

/* Builds a Messages-API response from text, a tool_calls array and usage. */
static json_t *build_response(const char *id, const char *model, const char *text,
                              const json_t *calls, const char *finish, const json_t *usage,
                              struct err *err)
{
    json_t *content = json_array();
    if (text && *text)
        json_array_append_new(content, json_pack("{s:s, s:s}", "type", "text", "text", text));
    size_t i;
    json_t *c;
    json_array_foreach(calls, i, c) {
        json_t *fn = json_object_get(c, "function");
        const char *args = json_string_value(json_object_get(fn, "arguments"));
        json_t *input = args && *args ? json_loads(args, 0, NULL) : json_object();
        if (!json_is_object(input) || !json_is_string(json_object_get(fn, "name"))) {
            json_decref(input);
            json_decref(content);
            err_set(err, "ModelBadResponse",
                    "openai: tool call %zu has no name or its arguments "
                    "are not a JSON object",
                    i);
            return NULL;
        }
        const char *cid = json_string_value(json_object_get(c, "id"));
        char fallback[32];
        snprintf(fallback, sizeof fallback, "call_%zu", i);
        json_array_append_new(content, json_pack("{s:s, s:s, s:O, s:o}", "type", "tool_use", "id",
                                                 cid && *cid ? cid : fallback, "name",
                                                 json_object_get(fn, "name"), "input", input));
    }
    const char *stop = stop_from_finish(finish);
    if (!stop) {
        json_decref(content);
        err_set(err, "ModelBadResponse", "openai: response has no finish_reason");
        return NULL;
    }
    if (json_array_size(calls) > 0)
        stop = "tool_use";
    json_t *out = json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:{s:I, s:I}}", "id",
                            id ? id : "chatcmpl", "type", "message", "role", "assistant", "model",
                            model, "content", content, "stop_reason", stop, "usage", "input_tokens",
                            json_integer_value(json_object_get(usage, "prompt_tokens")),
                            "output_tokens",
                            json_integer_value(json_object_get(usage, "completion_tokens")));
    if (model__check_response(out, model, err) != 0) {
        json_decref(out);
        return NULL;
    }
    return out;
}

/* Parses a (non-streaming) Chat Completions response body into a checked Messages-API response
 * (new reference), or returns NULL with err "ModelBadResponse". */
static json_t *from_chat(const char *body, size_t len, const char *model_id, struct err *err)
{
    json_error_t je;
    json_t *out = NULL;
    json_t *r = json_loadb(body, len, 0, &je);
    if (!r) {
        err_set(err, "ModelBadResponse", "openai: response is not JSON: %s", je.text);
        goto out;
    }
    json_t *ch = json_array_get(json_object_get(r, "choices"), 0);
    json_t *msg = json_object_get(ch, "message");
    if (!json_is_object(msg)) {
        err_set(err, "ModelBadResponse", "openai: response has no choices[0].message");
        goto out;
    }
    const char *model = json_string_value(json_object_get(r, "model"));
    out = build_response(json_string_value(json_object_get(r, "id")), model ? model : model_id,
                         json_string_value(json_object_get(msg, "content")),
                         json_object_get(msg, "tool_calls"),
                         json_is_string(json_object_get(msg, "refusal"))
                             ? "content_filter" /* the model declined (structured outputs) */
                             : json_string_value(json_object_get(ch, "finish_reason")),
                         json_object_get(r, "usage"), err);
out:
    json_decref(r);
    return out;
}

/* ---- Streaming ------------------------------------------------------------------------------ */

struct chunk_ctx {
    struct buf text; /* accumulated content, capped at OPENAI_TEXT_MAX */
    json_t *calls;   /* array indexed by tool call index: {id, function:{name, arguments}} */
    char *finish;    /* finish_reason */
    char *id;        /* chunk id */
    json_t *usage;   /* last usage seen */
    int done;        /* [DONE] seen */
    model_delta_fn on_delta;
    void *ud;
    struct err *failure; /* a malformed chunk's or an error chunk's; NULL until one */
};

/* Frees what the context owns. */
static void chunk_ctx_release(struct chunk_ctx *c)
{
    buf_release(&c->text);
    json_decref(c->calls);
    free(c->finish);
    free(c->id);
    json_decref(c->usage);
    free(c->failure);
}

static void append_str(json_t *obj, const char *key, const char *more)
{
    const char *old = json_string_value(json_object_get(obj, key));
    struct buf joined;
    buf_init(&joined, OPENAI_TEXT_MAX);
    (void)buf_add_str(&joined, old ? old : "");
    (void)buf_add_str(&joined, more);
    json_object_set_new(obj, key, json_string(buf_str(&joined)));
    buf_release(&joined);
}

static int on_chunk(void *ud, const char *event, const char *data)
{
    (void)event;
    struct chunk_ctx *c = ud;
    if (strcmp(data, "[DONE]") == 0) {
        c->done = 1;
        return 0;
    }
    json_t *j = json_loads(data, 0, NULL);
    if (!j)
        return err_set(model__failure(&c->failure), "ModelBadResponse",
                       "openai: malformed stream chunk");
    json_t *e = json_object_get(j, "error");
    if (e) {
        const char *msg = json_string_value(json_object_get(e, "message"));
        err_set(model__failure(&c->failure), "ModelError", "openai stream error: %s",
                msg ? msg : "no message");
        json_decref(j);
        return -1;
    }
    if (!c->id && json_is_string(json_object_get(j, "id")))
        c->id = xstrdup(json_string_value(json_object_get(j, "id")));
    if (json_is_object(json_object_get(j, "usage"))) {
        json_decref(c->usage);
        c->usage = json_incref(json_object_get(j, "usage"));
    }
    json_t *ch = json_array_get(json_object_get(j, "choices"), 0);
    json_t *d = json_object_get(ch, "delta");
    const char *t = json_string_value(json_object_get(d, "content"));
    if (t && *t) {
        (void)buf_add_str(&c->text, t);
        if (c->on_delta)
            c->on_delta(c->ud, t);
    }
    size_t i;
    json_t *tc;
    json_array_foreach(json_object_get(d, "tool_calls"), i, tc) {
        json_t *ix = json_object_get(tc, "index");
        size_t idx = json_is_integer(ix) ? (size_t)json_integer_value(ix) : i;
        if (idx > 64)
            continue;
        while (json_array_size(c->calls) <= idx)
            json_array_append_new(c->calls, json_pack("{s:{}}", "function"));
        json_t *slot = json_array_get(c->calls, idx);
        if (json_is_string(json_object_get(tc, "id")))
            json_object_set(slot, "id", json_object_get(tc, "id"));
        json_t *fn = json_object_get(tc, "function");
        const char *name = json_string_value(json_object_get(fn, "name"));
        const char *args = json_string_value(json_object_get(fn, "arguments"));
        if (name)
            append_str(json_object_get(slot, "function"), "name", name);
        if (args)
            append_str(json_object_get(slot, "function"), "arguments", args);
    }
    const char *fr = json_string_value(json_object_get(ch, "finish_reason"));
    if (fr) {
        free(c->finish);
        c->finish = xstrdup(fr);
    }
    json_decref(j);
    return 0;
}

static int on_data(void *ud, const char *data, size_t len)
{
    return model__sse_feed(ud, data, len);
}

/* ---- Invoke --------------------------------------------------------------------------------- */

/* The request body (out of line: see SCHED_OUT_OF_LINE; its locals are not held while the call
 * waits). */
static SCHED_OUT_OF_LINE char *request_body(const struct openai_model *m, const json_t *request,
                                            int stream)
{
    json_t *req = to_chat(request, m->model_id, m->h.max_tokens, stream);
    char *body = jsontext_dump(req);
    json_decref(req);
    return body;
}

/* The message of a finished call (rc and err from http_client_do), or NULL with err: the stream's
 * own failure, the provider's error mapped, or a reply that is not a message. Run on the deep
 * stack by model__reply (c: its arguments). */
static json_t *reply_message(const struct model__reply_call *c)
{
    const struct openai_model *m = c->m;
    const struct http_client_response *resp = c->resp;
    struct chunk_ctx *cc = c->ctx;
    int rc = c->rc, streamed = c->streamed;
    struct err *err = c->err;
    if (rc != 0 && strcmp(err->code, "HttpAborted") == 0 && cc->failure) {
        *err = *cc->failure;
        return NULL;
    }
    if (rc != 0 || resp->status < 200 || resp->status > 299) {
        struct err herr = *err;
        json_t *ej = resp->body ? json_loadb(resp->body, resp->body_len, 0, NULL) : NULL;
        json_t *e = json_object_get(ej, "error");
        const char *msg = json_is_string(e) ? json_string_value(e)
                                            : json_string_value(json_object_get(e, "message"));
        const char *code = json_string_value(json_object_get(e, "code"));
        if (!code)
            code = json_string_value(json_object_get(e, "type"));
        model__map_failure("openai", rc, &herr, resp->status, code, msg, err);
        json_decref(ej);
        return NULL;
    }
    if (!streamed)
        return from_chat(resp->body ? resp->body : "", resp->body_len, m->model_id, err);
    if (cc->failure) {
        *err = *cc->failure;
        return NULL;
    }
    if (!cc->finish) {
        err_set(err, "ModelBadResponse", "openai: stream ended without a finish_reason");
        return NULL;
    }
    json_t *out = build_response(cc->id, m->model_id, buf_str(&cc->text), cc->calls, cc->finish,
                                 cc->usage, err);
    model__stream_refusal(out, cc->on_delta, cc->ud);
    return out;
}

static json_t *openai_invoke(struct model *mb, const json_t *request, model_delta_fn on_delta,
                             void *ud, struct err *err)
{
    struct openai_model *m = (struct openai_model *)mb;
    if (!json_is_object(request)) {
        err_set(err, "ModelError", "openai: request is not a JSON object");
        return NULL;
    }
    struct http_client_response resp = {0};
    struct chunk_ctx cc = {.calls = json_array(), .on_delta = on_delta, .ud = ud};
    buf_init(&cc.text, OPENAI_TEXT_MAX);
    struct model__sse sse = {.fn = on_chunk, .ud = &cc};
    char *body = request_body(m, request, on_delta != NULL);
    const char *hdrs[3];
    size_t nh = 0;
    hdrs[nh++] = "Content-Type: application/json";
    hdrs[nh++] = on_delta ? "Accept: text/event-stream" : "Accept: application/json";
    if (m->auth_hdr)
        hdrs[nh++] = m->auth_hdr;
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
    json_t *out = model__reply(
        &(struct model__reply_call){m, rc, &resp, &cc, on_delta != NULL, err, reply_message});
    chunk_ctx_release(&cc);
    model__sse_release(&sse);
    http_client_response_release(&resp);
    free(body);
    return out;
}

static void openai_free(struct model *mb)
{
    struct openai_model *m = (struct openai_model *)mb;
    model__http_release(&m->h);
    free(m->auth_hdr);
    free(m->model_id);
    free(m);
}

static const struct model_ops openai_ops = {
    .name = "openai",
    .invoke = openai_invoke,
    .free = openai_free,
};

struct model *model_openai_new(const struct model_provider_config *cfg, struct err *err)
{
    (void)err;
    struct openai_model *m = xcalloc(1, sizeof *m);
    m->base.ops = &openai_ops;
    model__http_init(&m->h, cfg, "https://api.openai.com/v1", "/chat/completions");
    m->auth_hdr = cfg->api_key && *cfg->api_key
                      ? xasprintf("Authorization: Bearer %s", cfg->api_key)
                      : NULL;
    m->model_id = xstrdup(cfg->model_id ? cfg->model_id : MODEL_OPENAI_DEFAULT_ID);
    return &m->base;
}
