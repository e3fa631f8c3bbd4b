/*
 * test_model_bedrock.c - the Bedrock adapter against the fake server with fixed credentials and a
 * fixed clock: the exact InvokeModel request (path with the model id's ':' as %3A, the seed's
 * body, and a SigV4 Authorization recomputed here from a hand-written canonical request whose
 * URI encodes the path a second time), throttling, errors, timeout, malformed JSON, streaming
 * through AWS event-stream frames built in this test, and the Converse translation.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "base/xmalloc.h"
#include "check.h"
#include "fakes/fake_http.h"
#include "http/sigv4.h"
#include "model/providers_int.h"

#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define CLAUDE35 "anthropic.claude-3-5-sonnet-20241022-v2:0" /* the id the signatures below were made for */

static time_t fixed_clock(void)
{
    return 1732506000; /* 2024-11-25T03:40:00Z */
}

static struct model *new_model(struct fake_http *f, const char *model_id, long timeout_ms)
{
    struct aws_config ac = {.region = "us-east-1",
                            .access_key_id = "AKIDEXAMPLE",
                            .secret_access_key = SECRET,
                            .session_token = "FQoGZXIvYXdzEXAMPLE",
                            .clock = fixed_clock};
    struct model_provider_config cfg = {.model_id = model_id,
                                        .base_url = f->base_url,
                                        .aws = &ac,
                                        .timeout_ms = timeout_ms,
                                        .max_retries = 2,
                                        .backoff_base_ms = 2,
                                        .backoff_max_ms = 10};
    struct err e = {0};
    return model_bedrock_new(&cfg, &e);
}

static json_t *seed_request(void)
{
    return json_pack("{s:s, s:i, s:[{s:s, s:s}], s:[{s:s, s:s, s:{s:s, s:{s:{s:s}, s:{s:s}, "
                     "s:{s:s}}}}]}",
                     "system", "You are a helpful support agent.", "max_tokens", 1024, "messages",
                     "role", "user", "content", "I can't log into my account", "tools", "name",
                     "create_support_ticket", "description", "Create a support ticket",
                     "input_schema", "type", "object", "properties", "title", "type", "string",
                     "description", "type", "string", "priority", "type", "string");
}

static void hand_sign(const char *creq, char out[65])
{
    unsigned char h[32], k[32], k2[32];
    unsigned int len = 32;
    char hex[65], sts[512];
    EVP_Digest(creq, strlen(creq), h, NULL, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        sprintf(hex + 2 * i, "%02x", h[i]);
    snprintf(sts, sizeof sts,
             "AWS4-HMAC-SHA256\n20241125T034000Z\n20241125/us-east-1/bedrock/aws4_request\n%s",
             hex);
    const char *seed = "AWS4" SECRET;
    HMAC(EVP_sha256(), seed, (int)strlen(seed), (const unsigned char *)"20241125", 8, k, &len);
    HMAC(EVP_sha256(), k, 32, (const unsigned char *)"us-east-1", 9, k2, &len);
    HMAC(EVP_sha256(), k2, 32, (const unsigned char *)"bedrock", 7, k, &len);
    HMAC(EVP_sha256(), k, 32, (const unsigned char *)"aws4_request", 12, k2, &len);
    HMAC(EVP_sha256(), k2, 32, (const unsigned char *)sts, strlen(sts), h, &len);
    for (int i = 0; i < 32; i++)
        sprintf(out + 2 * i, "%02x", h[i]);
}

static void test_invoke_exact_request(void)
{
    struct fake_http f;
    CHECK_INT(fake_http_start(&f), 0);
    fake_http_push(&f, 200, "Content-Type: application/json\n",
                   "{\"id\":\"msg_bdrk_01\",\"type\":\"message\",\"role\":\"assistant\",\"model\":"
                   "\"claude-3-5-sonnet-20241022\",\"content\":[{\"type\":\"text\",\"text\":"
                   "\"I can help. What's your email?\"}],\"stop_reason\":\"end_turn\","
                   "\"stop_sequence\":null,\"usage\":{\"input_tokens\":40,\"output_tokens\":9}}",
                   (size_t)-1, 0);
    struct model *m = new_model(&f, CLAUDE35, 2000); /* an explicit id: the default moved on */
    CHECK(m != NULL);
    json_t *req = seed_request();
    struct err e = {0};
    json_t *r = model_invoke(m, req, NULL, NULL, &e);
    CHECK(r != NULL);
    CHECK_STR(json_string_value(json_object_get(r, "stop_reason")), "end_turn");
    CHECK_STR(json_string_value(
                  json_object_get(json_array_get(json_object_get(r, "content"), 0), "text")),
              "I can help. What's your email?");
    const struct fake_request *g = fake_http_request(&f, 0);
    CHECK(g != NULL);
    if (g) {
        CHECK_STR(g->method, "POST");
        CHECK_STR(g->target, "/model/anthropic.claude-3-5-sonnet-20241022-v2%3A0/invoke");
        json_t *sent = json_loads(g->body, 0, NULL);
        CHECK_STR(json_string_value(json_object_get(sent, "anthropic_version")),
                  "bedrock-2023-05-31");
        CHECK_INT(json_integer_value(json_object_get(sent, "max_tokens")), 1024);
        CHECK(json_equal(json_object_get(sent, "messages"), json_object_get(req, "messages")));
        CHECK(json_equal(json_object_get(sent, "tools"), json_object_get(req, "tools")));
        CHECK_STR(json_string_value(json_object_get(sent, "system")),
                  "You are a helpful support agent.");
        CHECK(json_object_get(sent, "model") == NULL);
        json_decref(sent);
        CHECK_STR(fake_header(g, "x-amz-date"), "20241125T034000Z");
        CHECK_STR(fake_header(g, "x-amz-security-token"), "FQoGZXIvYXdzEXAMPLE");
        /* The canonical request, written out by hand: the URI is the wire path encoded again. */
        char body_hash[65];
        sigv4_sha256_hex(g->body, g->body_len, body_hash);
        char host[64];
        snprintf(host, sizeof host, "127.0.0.1:%u", (unsigned)f.port);
        char *creq = xasprintf(
            "POST\n/model/anthropic.claude-3-5-sonnet-20241022-v2%%253A0/invoke\n\n"
            "accept:application/json\ncontent-type:application/json\nhost:%s\n"
            "x-amz-date:20241125T034000Z\nx-amz-security-token:FQoGZXIvYXdzEXAMPLE\n\n"
            "accept;content-type;host;x-amz-date;x-amz-security-token\n%s",
            host, body_hash);
        char sig[65];
        hand_sign(creq, sig);
        char *want = xasprintf("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20241125/us-east-1/"
                               "bedrock/aws4_request, SignedHeaders=accept;content-type;host;"
                               "x-amz-date;x-amz-security-token, Signature=%s",
                               sig);
        CHECK_STR(fake_header(g, "authorization"), want);
        free(want);
        free(creq);
    }
    json_decref(r);
    json_decref(req);
    model_free(m);
    fake_http_stop(&f);
}

static void test_throttling_errors_timeout(void)
{
    struct fake_http f;
    CHECK_INT(fake_http_start(&f), 0);
    const char *thr = "x-amzn-ErrorType: ThrottlingException:http://internal.amazon.com/\n";
    fake_http_push(&f, 429, thr, "{\"message\":\"Too many requests, please wait.\"}", (size_t)-1,
                   0);
    fake_http_push(&f, 200, NULL,
                   "{\"content\":[{\"type\":\"tool_use\",\"id\":\"toolu_b1\",\"name\":"
                   "\"create_support_ticket\",\"input\":{\"title\":\"Login issue\"}}],"
                   "\"stop_reason\":\"tool_use\",\"usage\":{\"input_tokens\":1,\"output_tokens\":"
                   "2}}",
                   (size_t)-1, 0);
    struct model *m = new_model(&f, NULL, 2000);
    json_t *req = seed_request();
    struct err e = {0};
    json_t *r = model_invoke(m, req, NULL, NULL, &e);
    CHECK(r != NULL);
    CHECK_STR(json_string_value(json_object_get(r, "stop_reason")), "tool_use");
    CHECK_STR(json_string_value(
                  json_object_get(json_array_get(json_object_get(r, "content"), 0), "name")),
              "create_support_ticket");
    json_decref(r);
    for (int i = 0; i < 3; i++)
        fake_http_push(&f, 429, thr, "{\"message\":\"Too many requests, please wait.\"}",
                       (size_t)-1, 0);
    CHECK(model_invoke(m, req, NULL, NULL, &e) == NULL);
    CHECK_STR(e.code, "ModelThrottled");
    CHECK_INT(fake_http_count(&f), 5);

    fake_http_push(&f, 400, "x-amzn-ErrorType: ValidationException\n",
                   "{\"message\":\"messages.0.content: field required\"}", (size_t)-1, 0);
    CHECK(model_invoke(m, req, NULL, NULL, &e) == NULL);
    CHECK_STR(e.code, "ModelError");
    CHECK(strstr(e.message, "field required") != NULL);
    CHECK(strstr(e.message, "ValidationException") != NULL);

    for (int i = 0; i < 3; i++)
        fake_http_push(&f, 500, "x-amzn-ErrorType: InternalServerException\n",
                       "{\"message\":\"internal\"}", (size_t)-1, 0);
    CHECK(model_invoke(m, req, NULL, NULL, &e) == NULL);
    CHECK(strcmp(e.code, "ModelError") == 0 || strcmp(e.code, "ModelThrottled") == 0);

    fake_http_push(&f, 200, NULL, "{\"content\": [ {\"type\":", (size_t)-1, 0);
    CHECK(model_invoke(m, req, NULL, NULL, &e) == NULL);
    CHECK_STR(e.code, "ModelBadResponse");
    model_free(m);

    m = new_model(&f, NULL, 150);
    for (int i = 0; i < 3; i++)
        fake_http_push(&f, 200, NULL, "{}", (size_t)-1, 500);
    CHECK(model_invoke(m, req, NULL, NULL, &e) == NULL);
    CHECK_STR(e.code, "ModelTimeout");
    json_decref(req);
    model_free(m);
    fake_http_stop(&f);
}

/* ---- Event-stream frames -------------------------------------------------------------------- */

struct frame_buf {
    unsigned char *p;
    size_t len;
};

static void put32(unsigned char *p, unsigned long v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static size_t put_str_header(unsigned char *p, const char *name, const char *value)
{
    size_t nl = strlen(name), vl = strlen(value);
    p[0] = (unsigned char)nl;
    memcpy(p + 1, name, nl);
    p[1 + nl] = 7;
    p[2 + nl] = (unsigned char)(vl >> 8);
    p[3 + nl] = (unsigned char)vl;
    memcpy(p + 4 + nl, value, vl);
    return 4 + nl + vl;
}

/* Appends one frame: string headers :message-type, :event-type or :exception-type, then payload. */
static void add_frame(struct frame_buf *b, const char *mtype, const char *etype_name,
                      const char *etype, const char *payload)
{
    unsigned char h[256];
    size_t hl = put_str_header(h, ":message-type", mtype);
    hl += put_str_header(h + hl, etype_name, etype);
    hl += put_str_header(h + hl, ":content-type", "application/json");
    size_t pl = strlen(payload);
    size_t total = 12 + hl + pl + 4;
    b->p = xrealloc(b->p, b->len + total);
    unsigned char *f = b->p + b->len;
    put32(f, total);
    put32(f + 4, hl);
    put32(f + 8, model__crc32(0, f, 8));
    memcpy(f + 12, h, hl);
    memcpy(f + 12 + hl, payload, pl);
    put32(f + total - 4, model__crc32(0, f, total - 4));
    b->len += total;
}

static void add_chunk(struct frame_buf *b, const char *event_json)
{
    size_t n = strlen(event_json);
    unsigned char *enc = xmalloc(4 * ((n + 2) / 3) + 1);
    EVP_EncodeBlock(enc, (const unsigned char *)event_json, (int)n);
    char *payload = xasprintf("{\"bytes\":\"%s\"}", enc);
    add_frame(b, "event", ":event-type", "chunk", payload);
    free(payload);
    free(enc);
}

struct seen {
    int n;
    char types[8][160];
};

static int count_frame(void *ud, const struct model__evstream_msg *m)
{
    struct seen *s = ud;
    if (s->n < 8)
        snprintf(s->types[s->n], 160, "%s/%s", m->message_type, m->event_type);
    s->n++;
    return 0;
}

static void test_evstream_decoder(void)
{
    CHECK_INT(model__crc32(0, "123456789", 9), 0xCBF43926UL); /* the CRC-32 check value */
    struct frame_buf b = {0};
    add_chunk(&b, "{\"type\":\"ping\"}");
    add_frame(&b, "event", ":event-type", "chunk", "{\"bytes\":\"e30=\"}");
    /* Byte by byte: "need more" until each frame is whole. */
    struct seen s = {0};
    struct model__evstream d = {.fn = count_frame, .ud = &s};
    for (size_t i = 0; i < b.len; i++)
        CHECK_INT(model__evstream_feed(&d, b.p + i, 1), 0);
    CHECK_INT(s.n, 2);
    CHECK_STR(s.types[0], "event/chunk");
    model__evstream_release(&d);
    /* A flipped payload byte fails the message CRC. */
    b.p[20] ^= 1;
    struct seen s2 = {0};
    struct model__evstream d2 = {.fn = count_frame, .ud = &s2};
    CHECK_INT(model__evstream_feed(&d2, b.p, b.len), -1);
    CHECK_INT(s2.n, 0);
    model__evstream_release(&d2);
    /* A huge declared length is refused, not awaited. */
    unsigned char bad[12] = {0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0};
    put32(bad + 8, model__crc32(0, bad, 8));
    struct model__evstream d3 = {.fn = count_frame, .ud = &s2};
    CHECK_INT(model__evstream_feed(&d3, bad, sizeof bad), -1);
    model__evstream_release(&d3);
    free(b.p);
}

struct deltas {
    char text[256];
};

static void on_delta(void *ud, const char *t)
{
    struct deltas *d = ud;
    strncat(d->text, t, sizeof d->text - strlen(d->text) - 1);
}

static void test_streaming(void)
{
    struct fake_http f;
    CHECK_INT(fake_http_start(&f), 0);
    struct frame_buf b = {0};
    add_chunk(&b, "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_bdrk_s\",\"type\":"
                  "\"message\",\"role\":\"assistant\",\"model\":\"claude-3-5-sonnet-20241022\","
                  "\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":31,"
                  "\"output_tokens\":1}}}");
    add_chunk(&b, "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":"
                  "\"text\",\"text\":\"\"}}");
    add_chunk(&b, "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
                  "\"text_delta\",\"text\":\"Sorry to \"}}");
    add_chunk(&b, "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
                  "\"text_delta\",\"text\":\"hear that.\"}}");
    add_chunk(&b, "{\"type\":\"content_block_stop\",\"index\":0}");
    add_chunk(&b, "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},"
                  "\"usage\":{\"output_tokens\":5}}");
    add_chunk(&b, "{\"type\":\"message_stop\",\"amazon-bedrock-invocationMetrics\":"
                  "{\"inputTokenCount\":31,\"outputTokenCount\":5}}");
    fake_http_push(&f, 200, "Content-Type: application/vnd.amazon.eventstream\n",
                   (const char *)b.p, b.len, 0);
    struct model *m = new_model(&f, CLAUDE35, 2000);
    json_t *req = seed_request();
    struct err e = {0};
    struct deltas d = {0};
    json_t *r = model_invoke(m, req, on_delta, &d, &e);
    CHECK(r != NULL);
    CHECK_STR(d.text, "Sorry to hear that.");
    CHECK_STR(json_string_value(json_object_get(r, "id")), "msg_bdrk_s");
    CHECK_STR(json_string_value(
                  json_object_get(json_array_get(json_object_get(r, "content"), 0), "text")),
              "Sorry to hear that.");
    CHECK_INT(json_integer_value(json_object_get(json_object_get(r, "usage"), "output_tokens")),
              5);
    const struct fake_request *g = fake_http_request(&f, 0);
    if (g) {
        CHECK_STR(g->target,
                  "/model/anthropic.claude-3-5-sonnet-20241022-v2%3A0/invoke-with-response-stream");
        CHECK_STR(fake_header(g, "accept"), "application/vnd.amazon.eventstream");
    }
    json_decref(r);
    free(b.p);

    /* An exception frame in the middle of the stream. */
    struct frame_buf x = {0};
    add_chunk(&x, "{\"type\":\"message_start\",\"message\":{\"id\":\"m2\"}}");
    add_frame(&x, "exception", ":exception-type", "throttlingException",
              "{\"message\":\"Too many tokens, please wait before trying again.\"}");
    fake_http_push(&f, 200, "Content-Type: application/vnd.amazon.eventstream\n",
                   (const char *)x.p, x.len, 0);
    CHECK(model_invoke(m, req, on_delta, &d, &e) == NULL);
    CHECK_STR(e.code, "ModelThrottled");
    CHECK(strstr(e.message, "Too many tokens") != NULL);
    free(x.p);

    /* Garbage instead of frames. */
    fake_http_push(&f, 200, NULL, "this is not an event stream at all", (size_t)-1, 0);
    CHECK(model_invoke(m, req, on_delta, &d, &e) == NULL);
    CHECK_STR(e.code, "ModelBadResponse");
    json_decref(req);
    model_free(m);
    fake_http_stop(&f);
}

static void test_converse(void)
{
    struct fake_http f;
    CHECK_INT(fake_http_start(&f), 0);
    fake_http_push(&f, 200, "Content-Type: application/json\n",
                   "{\"output\":{\"message\":{\"role\":\"assistant\",\"content\":[{\"text\":"
                   "\"Let me open a ticket.\"},{\"toolUse\":{\"toolUseId\":\"tooluse_7\",\"name\":"
                   "\"create_support_ticket\",\"input\":{\"title\":\"Login\",\"priority\":"
                   "\"high\"}}}]}},\"stopReason\":\"tool_use\",\"usage\":{\"inputTokens\":50,"
                   "\"outputTokens\":20,\"totalTokens\":70},\"metrics\":{\"latencyMs\":300}}",
                   (size_t)-1, 0);
    struct model *m = new_model(&f, "amazon.nova-pro-v1:0", 2000);
    json_t *req = json_pack(
        "{s:s, s:[{s:s, s:s}, {s:s, s:[{s:s, s:s, s:s, s:{s:s}}]}, {s:s, s:[{s:s, s:s, "
        "s:s, s:b}]}], s:[{s:s, s:s, s:{s:s}}]}",
        "system", "Be brief.", "messages", "role", "user", "content", "help", "role", "assistant",
        "content", "type", "tool_use", "id", "t1", "name", "lookup_order", "input", "order_id",
        "A-1", "role", "user", "content", "type", "tool_result", "tool_use_id", "t1", "content",
        "not found", "is_error", 1, "tools", "name", "lookup_order", "description", "Look up",
        "input_schema", "type", "object");
    struct err e = {0};
    json_t *r = model_invoke(m, req, NULL, NULL, &e);
    CHECK(r != NULL);
    CHECK_STR(json_string_value(json_object_get(r, "stop_reason")), "tool_use");
    json_t *c = json_object_get(r, "content");
    CHECK_INT(json_array_size(c), 2);
    CHECK_STR(json_string_value(json_object_get(json_array_get(c, 0), "text")),
              "Let me open a ticket.");
    CHECK_STR(json_string_value(json_object_get(json_array_get(c, 1), "type")), "tool_use");
    CHECK_STR(json_string_value(json_object_get(json_array_get(c, 1), "id")), "tooluse_7");
    CHECK_STR(json_string_value(json_object_get(
                  json_object_get(json_array_get(c, 1), "input"), "priority")),
              "high");
    CHECK_INT(json_integer_value(json_object_get(json_object_get(r, "usage"), "input_tokens")),
              50);
    const struct fake_request *g = fake_http_request(&f, 0);
    if (g) {
        CHECK_STR(g->target, "/model/amazon.nova-pro-v1%3A0/converse");
        json_t *sent = json_loads(g->body, 0, NULL);
        json_t *want = json_pack(
            "{s:[{s:s, s:[{s:s}]}, {s:s, s:[{s:{s:s, s:s, s:{s:s}}}]}, {s:s, s:[{s:{s:s, "
            "s:[{s:s}], s:s}}]}], s:[{s:s}], s:{s:i}, s:{s:[{s:{s:s, s:{s:{s:s}}, s:s}}]}}",
            "messages", "role", "user", "content", "text", "help", "role", "assistant", "content",
            "toolUse", "toolUseId", "t1", "name", "lookup_order", "input", "order_id", "A-1",
            "role", "user", "content", "toolResult", "toolUseId", "t1", "content", "text",
            "not found", "status", "error", "system", "text", "Be brief.", "inferenceConfig",
            "maxTokens", 1024, "toolConfig", "tools", "toolSpec", "name", "lookup_order",
            "inputSchema", "json", "type", "object", "description", "Look up");
        CHECK(json_equal(sent, want));
        if (!json_equal(sent, want))
            fprintf(stderr, "sent: %s\n", g->body);
        json_decref(want);
        json_decref(sent);
    }
    json_decref(r);
    fake_http_push(&f, 200, NULL, "{\"output\":{}}", (size_t)-1, 0);
    CHECK(model_invoke(m, req, NULL, NULL, &e) == NULL);
    CHECK_STR(e.code, "ModelBadResponse");
    json_decref(req);
    model_free(m);
    fake_http_stop(&f);
}

static void test_env_constructor(void)
{
    const char *vars[] = {"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL",
                          "AWS_ENDPOINT_URL_BEDROCK_RUNTIME"};
    for (size_t i = 0; i < 4; i++)
        unsetenv(vars[i]);
    struct err e = {0};
    CHECK(model_new_by_name("bedrock", &e) == NULL);
    CHECK_STR(e.code, "ModelConfig");
    struct fake_http f;
    CHECK_INT(fake_http_start(&f), 0);
    setenv("AWS_REGION", "eu-central-1", 1);
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "SECRETENV", 1);
    setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", f.base_url, 1);
    setenv("PARLEY_MODEL_ID", "anthropic.claude-3-haiku-20240307-v1:0", 1);
    fake_http_push(&f, 200, NULL,
                   "{\"content\":[{\"type\":\"text\",\"text\":\"ok\"}],\"stop_reason\":"
                   "\"end_turn\"}",
                   (size_t)-1, 0);
    struct model *m = model_new_by_name("bedrock", &e);
    CHECK(m != NULL);
    json_t *req = json_pack("{s:[{s:s, s:s}]}", "messages", "role", "user", "content", "hi");
    json_t *r = m ? model_invoke(m, req, NULL, NULL, &e) : NULL;
    CHECK(r != NULL);
    const struct fake_request *g = fake_http_request(&f, 0);
    if (g) {
        CHECK_STR(g->target, "/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke");
        CHECK(strstr(fake_header(g, "authorization"),
                     "Credential=AKIDENV/") != NULL);
        CHECK(strstr(fake_header(g, "authorization"), "/eu-central-1/bedrock/aws4_request") !=
              NULL);
    }
    json_decref(r);
    json_decref(req);
    model_free(m);
    unsetenv("AWS_REGION");
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    unsetenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME");
    unsetenv("PARLEY_MODEL_ID");
    fake_http_stop(&f);
}

int main(void)
{
    xmalloc_init();
    RUN(test_invoke_exact_request);
    RUN(test_throttling_errors_timeout);
    RUN(test_evstream_decoder);
    RUN(test_streaming);
    RUN(test_converse);
    RUN(test_env_constructor);
    return check_summary();
}
