/*
 * model_bedrock.c - the Amazon Bedrock adapter. Anthropic model ids use InvokeModel with the
 * Anthropic Messages body (anthropic_version "bedrock-2023-05-31") and, when streaming,
 * InvokeModelWithResponseStream, whose AWS event-stream frames carry base64 Anthropic stream
 * events. Other model ids use the Converse API, translated to and from the Messages-API shape.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "aws/aws.h"
#include "base/jsontext.h"
#include "base/sched.h"
#include "base/xmalloc.h"
#include "http/sigv4.h"
#include "model/providers_int.h"

struct bedrock_model {
    struct model base;      /* must be first */
    struct aws_client *aws; /* signed calls */
    char *model_id;         /* MODEL_BEDROCK_DEFAULT_ID or PARLEY_MODEL_ID */
    char *enc_id;           /* percent-encoded for the path */
    int anthropic;          /* InvokeModel with the Anthropic body, else Converse */
    int max_tokens;         /* default max_tokens */
    long timeout_ms;        /* per attempt */
    int max_retries;        /* retries */
};

/* ---- Converse translation ------------------------------------------------------------------- */

static json_t *blocks_to_converse(const json_t *content)
{
    json_t *out = json_array();
    if (json_is_string(content)) {
        json_array_append_new(out, json_pack("{s:s}", "text", json_string_value(content)));
        return out;
    }
    size_t i;
    json_t *b;
    json_array_foreach(content, i, b) {
        const char *t = json_string_value(json_object_get(b, "type"));
        if (!t)
            continue;
        if (strcmp(t, "text") == 0) {
            json_array_append_new(out, json_pack("{s:O}", "text", json_object_get(b, "text")));
        } else if (strcmp(t, "tool_use") == 0) {
            json_t *in = json_object_get(b, "input");
            json_array_append_new(out,
                                  json_pack("{s:{s:O, s:O, s:o}}", "toolUse", "toolUseId",
                                            json_object_get(b, "id"), "name",
                                            json_object_get(b, "name"), "input",
                                            json_is_object(in) ? json_incref(in) : json_object()));
        } else if (strcmp(t, "tool_result") == 0) {
            json_t *c = json_object_get(b, "content");
            json_t *parts = json_array();
            if (json_is_string(c)) {
                json_array_append_new(parts, json_pack("{s:O}", "text", c));
            } else if (json_is_array(c)) {
                size_t k;
                json_t *x;
                json_array_foreach(c, k, x) {
                    if (json_is_string(json_object_get(x, "text")))
                        json_array_append_new(parts, json_pack("{s:O}", "text",
                                                               json_object_get(x, "text")));
                }
            }
            if (json_array_size(parts) == 0)
                json_array_append_new(parts, json_pack("{s:s}", "text", ""));
            json_array_append_new(
                out, json_pack("{s:{s:O, s:o, s:s}}", "toolResult", "toolUseId",
                               json_object_get(b, "tool_use_id"), "content", parts, "status",
                               json_is_true(json_object_get(b, "is_error")) ? "error" : "success"));
        }
    }
    return out;
}

static json_t *to_converse(const json_t *req, int max_tokens)
{
    json_t *out = json_object();
    json_t *msgs = json_array();
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(req, "messages"), i, m) {
        json_array_append_new(msgs,
                              json_pack("{s:O, s:o}", "role", json_object_get(m, "role"), "content",
                                        blocks_to_converse(json_object_get(m, "content"))));
    }
    json_object_set_new(out, "messages", msgs);
    const char *sys = json_string_value(json_object_get(req, "system"));
    if (sys && *sys)
        json_object_set_new(out, "system", json_pack("[{s:s}]", "text", sys));
    json_t *mt = json_object_get(req, "max_tokens");
    json_object_set_new(out, "inferenceConfig",
                        json_pack("{s:I}", "maxTokens",
                                  json_is_integer(mt) ? json_integer_value(mt)
                                                      : (json_int_t)max_tokens));
    json_t *tools = json_object_get(req, "tools");
    if (json_array_size(tools) > 0) {
        json_t *specs = json_array();
        json_t *t;
        json_array_foreach(tools, i, t) {
            json_t *schema = json_object_get(t, "input_schema");
            json_t *spec = json_pack("{s:O, s:{s:o}}", "name", json_object_get(t, "name"),
                                     "inputSchema", "json",
                                     schema ? json_incref(schema)
                                            : json_pack("{s:s}", "type", "object"));
            if (json_is_string(json_object_get(t, "description")))
                json_object_set(spec, "description", json_object_get(t, "description"));
            json_array_append_new(specs, json_pack("{s:o}", "toolSpec", spec));
        }
        json_object_set_new(out, "toolConfig", json_pack("{s:o}", "tools", specs));
    }
    return out;
}

static const char *stop_from_converse(const char *s)
{
    if (!s)
        return NULL;
    if (strcmp(s, "tool_use") == 0)
        return "tool_use";
    if (strcmp(s, "max_tokens") == 0)
        return "max_tokens";
    if (strcmp(s, "stop_sequence") == 0)
        return "stop_sequence";
    if (strcmp(s, "content_filtered") == 0)
        return "refusal"; /* settled into a polite decline by model__check_response */
    return "end_turn";    /* end_turn, guardrail_intervened (its text is the guardrail's message) */
}

static json_t *from_converse(const json_t *r, const char *model_id, struct err *err)
{
    json_t *msg = json_object_get(json_object_get(r, "output"), "message");
    json_t *content = json_object_get(msg, "content");
    const char *stop = stop_from_converse(json_string_value(json_object_get(r, "stopReason")));
    if (!json_is_array(content) || !stop) {
        err_set(err, "ModelBadResponse",
                "bedrock: Converse response lacks output.message or "
                "stopReason");
        return NULL;
    }
    json_t *blocks = json_array();
    size_t i;
    json_t *b;
    json_array_foreach(content, i, b) {
        json_t *tu = json_object_get(b, "toolUse");
        if (json_is_string(json_object_get(b, "text"))) {
            json_array_append_new(blocks, json_pack("{s:s, s:O}", "type", "text", "text",
                                                    json_object_get(b, "text")));
        } else if (json_is_object(tu)) {
            json_t *in = json_object_get(tu, "input");
            json_array_append_new(blocks,
                                  json_pack("{s:s, s:O, s:O, s:o}", "type", "tool_use", "id",
                                            json_object_get(tu, "toolUseId"), "name",
                                            json_object_get(tu, "name"), "input",
                                            json_is_object(in) ? json_incref(in) : json_object()));
        }
    }
    json_t *u = json_object_get(r, "usage");
    json_t *out = json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:{s:I, s:I}}", "id", "msg_converse",
                            "type", "message", "role", "assistant", "model", model_id, "content",
                            blocks, "stop_reason", stop, "usage", "input_tokens",
                            json_integer_value(json_object_get(u, "inputTokens")), "output_tokens",
                            json_integer_value(json_object_get(u, "outputTokens")));
    if (model__check_response(out, model_id, err) != 0) {
        json_decref(out);
        return NULL;
    }
    return out;
}

/* ---- Streaming ------------------------------------------------------------------------------ */

struct stream_ctx {
    struct model__stream stream;
    struct model__evstream dec;
};

static int on_frame(void *ud, const struct model__evstream_msg *m)
{
    struct stream_ctx *c = ud;
    if (strcmp(m->message_type, "event") != 0) {
        const char *ex = m->exception_type[0] ? m->exception_type : "unknown";
        char msg[256] = "";
        json_t *j = json_loadb((const char *)m->payload, m->payload_len, 0, NULL);
        snprintf(msg, sizeof msg, "%s",
                 json_string_value(json_object_get(j, "message"))
                     ? json_string_value(json_object_get(j, "message"))
                     : "");
        json_decref(j);
        int throttled = strcmp(ex, "throttlingException") == 0 ||
                        strcmp(ex, "ThrottlingException") == 0 ||
                        strcmp(ex, "serviceUnavailableException") == 0 ||
                        strcmp(ex, "modelStreamErrorException") == 0;
        return err_set(model__failure(&c->stream.failure),
                       throttled ? "ModelThrottled" : "ModelError", "bedrock stream %s: %s", ex,
                       msg);
    }
    if (strcmp(m->event_type, "chunk") != 0)
        return 0;
    json_t *j = json_loadb((const char *)m->payload, m->payload_len, 0, NULL);
    const char *b64 = json_string_value(json_object_get(j, "bytes"));
    if (!b64) {
        json_decref(j);
        return err_set(model__failure(&c->stream.failure), "ModelBadResponse",
                       "bedrock chunk without bytes");
    }
    size_t n = strlen(b64);
    unsigned char *raw = xmalloc(n / 4 * 3 + 4);
    int len = n % 4 == 0 ? EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)n) : -1;
    if (len >= 0) {
        if (n > 0 && b64[n - 1] == '=')
            len--;
        if (n > 1 && b64[n - 2] == '=')
            len--;
    }
    json_decref(j);
    json_t *ev = len >= 0 ? json_loadb((const char *)raw, (size_t)len, 0, NULL) : NULL;
    free(raw);
    if (!ev)
        return err_set(model__failure(&c->stream.failure), "ModelBadResponse",
                       "bedrock chunk is not base64 "
                       "JSON");
    int rc = model__stream_event(&c->stream, ev);
    json_decref(ev);
    return rc;
}

static int on_data(void *ud, const char *data, size_t len)
{
    struct stream_ctx *c = ud;
    if (model__evstream_feed(&c->dec, data, len) != 0) {
        if (!c->stream.failure)
            err_set(model__failure(&c->stream.failure), "ModelBadResponse",
                    "malformed AWS event-stream frame");
        return -1;
    }
    return 0;
}

/* ---- Invoke --------------------------------------------------------------------------------- */

/* The request body for request, and in *path the API's path for it. Out of line: see
 * SCHED_OUT_OF_LINE; its locals are not held while the call waits. */
static SCHED_OUT_OF_LINE char *request_body(const struct bedrock_model *m, const json_t *request,
                                            int stream, char **path)
{
    json_t *body_json;
    if (m->anthropic) {
        body_json = json_copy((json_t *)request); /* only top-level members change */
        json_object_del(body_json, "model");
        json_object_del(body_json, "stream");
        json_object_set_new(body_json, "anthropic_version", json_string("bedrock-2023-05-31"));
        if (!json_is_integer(json_object_get(body_json, "max_tokens")))
            json_object_set_new(body_json, "max_tokens", json_integer(m->max_tokens));
        if (json_array_size(json_object_get(body_json, "tools")) == 0)
            json_object_del(body_json, "tools");
        *path = xasprintf("/model/%s/%s", m->enc_id,
                          stream ? "invoke-with-response-stream" : "invoke");
    } else {
        body_json = to_converse(request, m->max_tokens);
        *path = xasprintf("/model/%s/converse", m->enc_id);
    }
    char *body = jsontext_dump(body_json);
    json_decref(body_json);
    return body;
}

/* The message of a finished call (rc and err from aws_call), or NULL with err: the stream's own
 * failure, the service's error mapped, or a reply that is not a message. Converse without
 * streaming hands on_delta the whole text as one delta. Run on the deep stack by model__reply. */
static json_t *reply_message(const struct model__reply_call *c)
{
    const struct bedrock_model *m = c->m;
    const struct aws_response *resp = c->resp;
    struct model__stream *sm = c->ctx;
    int rc = c->rc, stream = c->streamed;
    struct err *err = c->err;
    if (rc != 0) {
        struct err aerr = *err;
        if (sm->failure) {
            *err = *sm->failure;
        } else if (strcmp(aerr.code, "AwsConfig") == 0) {
            err_set(err, "ModelError", "bedrock: %s", aerr.message);
        } else if (resp->status == 0 || strncmp(aerr.code, "Http", 4) == 0) {
            int transport = resp->status == 0 || (strcmp(aerr.code, "HttpTimeout") == 0 ||
                                                  strcmp(aerr.code, "HttpTooLarge") == 0 ||
                                                  strcmp(aerr.code, "HttpConnect") == 0 ||
                                                  strcmp(aerr.code, "HttpError") == 0);
            model__map_failure("bedrock", transport ? -1 : 0, &aerr, resp->status,
                               transport ? NULL : aerr.code, resp->error_message, err);
        } else {
            model__map_failure("bedrock", 0, &aerr, resp->status, resp->error_code,
                               resp->error_message, err);
        }
        return NULL;
    }
    if (stream) {
        json_t *out = model__stream_finish(sm, err);
        if (out && !json_object_get(out, "model"))
            json_object_set_new(out, "model", json_string(m->model_id));
        return out;
    }
    json_error_t je;
    json_t *r = json_loadb(resp->http.body ? resp->http.body : "", resp->http.body_len, 0, &je);
    if (!r) {
        err_set(err, "ModelBadResponse", "bedrock: response is not JSON: %s", je.text);
        return NULL;
    }
    if (m->anthropic) {
        if (model__check_response(r, m->model_id, err) != 0) {
            json_decref(r);
            return NULL;
        }
        return r;
    }
    json_t *out = from_converse(r, m->model_id, err);
    json_decref(r);
    if (out && sm->on_delta) {
        size_t i;
        json_t *b;
        json_array_foreach(json_object_get(out, "content"), i, b) {
            const char *t = json_string_value(json_object_get(b, "text"));
            if (t && *t)
                sm->on_delta(sm->ud, t);
        }
    }
    return out;
}

static json_t *bedrock_invoke(struct model *mb, const json_t *request, model_delta_fn on_delta,
                              void *ud, struct err *err)
{
    struct bedrock_model *m = (struct bedrock_model *)mb;
    if (!json_is_object(request)) {
        err_set(err, "ModelError", "bedrock: request is not a JSON object");
        return NULL;
    }
    struct aws_response resp = {0};
    struct stream_ctx sc;
    int stream = on_delta && m->anthropic;
    model__stream_init(&sc.stream, on_delta, ud);
    memset(&sc.dec, 0, sizeof sc.dec);
    sc.dec.fn = on_frame;
    sc.dec.ud = &sc;
    char *path = NULL;
    char *body = request_body(m, request, stream, &path);
    const char *hdrs[] = {"Content-Type: application/json",
                          stream ? "Accept: application/vnd.amazon.eventstream"
                                 : "Accept: application/json"};
    struct aws_request ar = {.service = "bedrock-runtime",
                             .method = "POST",
                             .path = path,
                             .headers = hdrs,
                             .n_headers = 2,
                             .body = body,
                             .body_len = strlen(body),
                             .timeout_ms = m->timeout_ms,
                             .max_retries = m->max_retries,
                             .on_data = stream ? on_data : NULL,
                             .ud = &sc};
    int rc = aws_call(m->aws, &ar, &resp, err);
    json_t *out = model__reply(
        &(struct model__reply_call){m, rc, &resp, &sc.stream, stream, err, reply_message});
    model__stream_release(&sc.stream);
    model__evstream_release(&sc.dec);
    aws_response_release(&resp);
    free(body);
    free(path);
    return out;
}

static void bedrock_free(struct model *mb)
{
    struct bedrock_model *m = (struct bedrock_model *)mb;
    aws_client_free(m->aws);
    free(m->model_id);
    free(m->enc_id);
    free(m);
}

static const struct model_ops bedrock_ops = {
    .name = "bedrock",
    .invoke = bedrock_invoke,
    .free = bedrock_free,
};

struct model *model_bedrock_new(const struct model_provider_config *cfg, struct err *err)
{
    struct aws_config ac;
    if (cfg->aws) {
        aws_config_copy(&ac, cfg->aws);
        if (!ac.region) {
            err_set(err, "ModelConfig", "bedrock: no AWS region");
            aws_config_release(&ac);
            return NULL;
        }
    } else if (aws_config_from_env(&ac, err) != 0) {
        aws_config_release(&ac);
        err_set(err, "ModelConfig",
                "bedrock: no AWS region: set AWS_REGION or "
                "AWS_DEFAULT_REGION");
        return NULL;
    }
    if (cfg->base_url && *cfg->base_url) {
        free(ac.endpoint_url);
        ac.endpoint_url = xstrdup(cfg->base_url);
    }
    struct bedrock_model *m = xcalloc(1, sizeof *m);
    m->base.ops = &bedrock_ops;
    m->model_id = xstrdup(cfg->model_id ? cfg->model_id : MODEL_BEDROCK_DEFAULT_ID);
    m->enc_id = sigv4_uri_encode(m->model_id, strlen(m->model_id), 0);
    m->anthropic = strstr(m->model_id, "anthropic.") != NULL;
    m->max_tokens = cfg->max_tokens > 0 ? cfg->max_tokens : 1024;
    m->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 60000;
    m->max_retries = model__retries(cfg->max_retries);
    struct http_client_config hc = {.timeout_ms = m->timeout_ms,
                                    .max_retries = m->max_retries > 0 ? m->max_retries : -1,
                                    .backoff_base_ms = cfg->backoff_base_ms ? cfg->backoff_base_ms
                                                                            : 250,
                                    .backoff_max_ms = cfg->backoff_max_ms ? cfg->backoff_max_ms
                                                                          : 8000,
                                    .max_response_bytes = cfg->max_response_bytes};
    m->aws = aws_client_new(&ac, &hc);
    aws_config_release(&ac);
    return &m->base;
}
