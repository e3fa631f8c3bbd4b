/*
 * test_model_anthropic.c - the Anthropic adapter against the fake server: the exact request,
 * plain text, tool_use, streaming SSE assembly with text and input_json deltas, 429 then
 * success, 500, 400 with the provider's message, timeout, malformed JSON; plus the env-driven
 * constructor.
 */
#include <stdlib.h>
#include <string.h>

#include "base/xmalloc.h"
#include "check.h"
#include "fakes/fake_http.h"
#include "model/providers.h"

static struct model *new_model(struct fake_http *f, long timeout_ms, int retries)
{
    struct model_provider_config cfg = {.model_id = "claude-test",
                                        .api_key = "sk-test",
                                        .base_url = f->base_url,
                                        .timeout_ms = timeout_ms,
                                        .max_retries = retries,
                                        .backoff_base_ms = 2,
                                        .backoff_max_ms = 10};
    struct err e = {0};
    return model_anthropic_new(&cfg, &e);
}

static json_t *sample_request(void)
{
    return json_pack("{s:s, s:[{s:s, s:s}], s:[{s:s, s:s, s:{s:s}}], s:i}", "system",
                     "You are a support agent.", "messages", "role", "user", "content",
                     "I can't log in", "tools", "name", "create_support_ticket", "description",
                     "Create a ticket", "input_schema", "type", "object", "max_tokens", 256);
}

static void test_text_and_request_shape(void)
{
    struct fake_http f;
    CHECK_INT(fake_http_start(&f), 0);
    fake_http_push(&f, 200, "Content-Type: application/json\n",
                   "{\"id\":\"msg_01\",\"type\":\"message\",\"role\":\"assistant\",\"model\":"
                   "\"claude-test\",\"content\":[{\"type\":\"text\",\"text\":\"Hello! What is your "
                   "email?\"}],\"stop_reason\":\"end_turn\",\"stop_sequence\":null,\"usage\":"
                   "{\"input_tokens\":12,\"output_tokens\":6}}",
                   (size_t)-1, 0);
    struct model *m = new_model(&f, 2000, 2);
    json_t *req = sample_request();
    json_t *before = json_deep_copy(req);
    struct err e = {0};
    json_t *r = model_invoke(m, req, NULL, NULL, &e);
    CHECK(r != NULL);
    CHECK(json_equal(req, before)); /* the caller's request is left as it was (no "model" added) */
    json_decref(before);
    CHECK_STR(json_string_value(json_object_get(r, "stop_reason")), "end_turn");
    CHECK_STR(json_string_value(
                  json_object_get(json_array_get(json_object_get(r, "content"), 0), "text")),
              "Hello! What is your email?");
    CHECK_INT(json_integer_value(json_object_get(json_object_get(r, "usage"), "input_tokens")),
              12);
    const struct fake_request *g = fake_http_request(&f, 0);
    CHECK(g != NULL);
    if (g) {
        CHECK_STR(g->method, "POST");
        CHECK_STR(g->target, "/v1/messages");
        CHECK_STR(fake_header(g, "x-api-key"), "sk-test");
        CHECK_STR(fake_header(g, "anthropic-version"), "2023-06-01");
        CHECK_STR(fake_header(g, "content-type"), "application/json");
        json_t *sent = json_loads(g->body, 0, NULL);
        CHECK_STR(json_string_value(json_object_get(sent, "model")), "claude-test");
        CHECK_INT(json_integer_value(json_object_get(sent, "max_tokens")), 256);
        CHECK_STR(json_string_value(json_object_get(sent, "system")), "You are a support agent.");
        CHECK(json_object_get(sent, "stream") == NULL);
        CHECK(json_equal(json_object_get(sent, "messages"), json_object_get(req, "messages")));
        CHECK(json_equal(json_object_get(sent, "tools"), json_object_get(req, "tools")));
        json_decref(sent);
    }
    json_decref(r);
    json_decref(req);
    model_free(m);
    fake_http_stop(&f);
}

static void test_tool_use_and_errors(void)
{
    struct fake_http f;
    CHECK_INT(fake_http_start(&f), 0);
    /* 429 then a tool_use reply. */
    fake_http_push(&f, 429, "retry-after-ms: 1\n",
                   "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":"
                   "\"slow\"}}",
                   (size_t)-1, 0);
    fake_http_push(&f, 200, NULL,
                   "{\"id\":\"msg_02\",\"type\":\"message\",\"role\":\"assistant\",\"content\":["
                   "{\"type\":\"text\",\"text\":\"Creating it.\"},{\"type\":\"tool_use\",\"id\":"
                   "\"toolu_1\",\"name\":\"create_support_ticket\",\"input\":{\"title\":\"Login\","
                   "\"priority\":\"high\"}}],\"stop_reason\":\"tool_use\",\"usage\":"
                   "{\"input_tokens\":30,\"output_tokens\":20}}",
                   (size_t)-1, 0);
    struct model *m = new_model(&f, 2000, 2);
    json_t *req = sample_request();
    struct err e = {0};
    json_t *r = model_invoke(m, req, NULL, NULL, &e);
    CHECK(r != NULL);
    CHECK_STR(json_string_value(json_object_get(r, "stop_reason")), "tool_use");
    json_t *tu = json_array_get(json_object_get(r, "content"), 1);
    CHECK_STR(json_string_value(json_object_get(tu, "name")), "create_support_ticket");
    CHECK_STR(json_string_value(json_object_get(json_object_get(tu, "input"), "priority")),
              "high");
    CHECK_INT(fake_http_count(&f), 2);
    json_decref(r);

    /* Throttled past the retries. */
    for (int i = 0; i < 3; i++)
        fake_http_push(&f, 429, NULL, "{\"type\":\"error\",\"error\":{\"type\":"
                                      "\"rate_limit_error\",\"message\":\"slow\"}}",
                       (size_t)-1, 0);
    CHECK(model_invoke(m, req, NULL, NULL, &e) == NULL);
    CHECK_STR(e.code, "ModelThrottled");

    /* 400 with the provider's message. */
    fake_http_push(&f, 400, NULL, "{\"type\":\"error\",\"error\":{\"type\":"
                                  "\"invalid_request_error\",\"message\":\"messages: field "
                                  "required\"}}",
                   (size_t)-1, 0);
    CHECK(model_invoke(m, req, NULL, NULL, &e) == NULL);
    CHECK_STR(e.code, "ModelError");
    CHECK(strstr(e.message, "messages: field required") != NULL);

    /* 500 three times. */
    for (int i = 0; i < 3; i++)
        fake_http_push(&f, 500, NULL, "oops", (size_t)-1, 0);
    CHECK(model_invoke(m, req, NULL, NULL, &e) == NULL);
    CHECK_STR(e.code, "ModelError");
    CHECK(strstr(e.message, "500") != NULL);

    /* Malformed JSON and a reply without content. */
    fake_http_push(&f, 200, NULL, "{\"id\":\"x\", \"content\": [", (size_t)-1, 0);
    CHECK(model_invoke(m, req, NULL, NULL, &e) == NULL);
    CHECK_STR(e.code, "ModelBadResponse");
    fake_http_push(&f, 200, NULL, "{\"id\":\"x\",\"stop_reason\":\"end_turn\"}", (size_t)-1, 0);
    CHECK(model_invoke(m, req, NULL, NULL, &e) == NULL);
    CHECK_STR(e.code, "ModelBadResponse");
    json_decref(req);
    model_free(m);
    fake_http_stop(&f);
}

static void test_timeout(void)
{
    struct fake_http f;
    CHECK_INT(fake_http_start(&f), 0);
    fake_http_push(&f, 200, NULL, "{}", (size_t)-1, 600);
    struct model *m = new_model(&f, 150, -1);
    json_t *req = sample_request();
    struct err e = {0};
    CHECK(model_invoke(m, req, NULL, NULL, &e) == NULL);
    CHECK_STR(e.code, "ModelTimeout");
    CHECK_INT(fake_http_count(&f), 1);
    json_decref(req);
    model_free(m);
    fake_http_stop(&f);
}

struct deltas {
    char text[256];
    int n;
};

static void on_delta(void *ud, const char *t)
{
    struct deltas *d = ud;
    d->n++;
    strncat(d->text, t, sizeof d->text - strlen(d->text) - 1);
}

static void test_streaming(void)
{
    struct fake_http f;
    CHECK_INT(fake_http_start(&f), 0);
    const char *sse =
        "event: message_start\n"
        "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_s\",\"type\":\"message\","
        "\"role\":\"assistant\",\"model\":\"claude-test\",\"content\":[],\"stop_reason\":null,"
        "\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\n\n"
        "event: content_block_start\n"
        "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\","
        "\"text\":\"\"}}\n\n"
        "event: ping\ndata: {\"type\": \"ping\"}\n\n"
        "event: content_block_delta\n"
        "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\","
        "\"text\":\"Let me \"}}\r\n\r\n"
        "event: content_block_delta\n"
        "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\","
        "\"text\":\"check.\"}}\n\n"
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
        "event: content_block_start\n"
        "data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":"
        "\"tool_use\",\"id\":\"toolu_9\",\"name\":\"get_ticket_status\",\"input\":{}}}\n\n"
        "event: content_block_delta\n"
        "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":"
        "\"input_json_delta\",\"partial_json\":\"{\\\"ticket_\"}}\n\n"
        "event: content_block_delta\n"
        "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":"
        "\"input_json_delta\",\"partial_json\":\"id\\\": \\\"T-42\\\"}\"}}\n\n"
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n"
        "event: message_delta\n"
        "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\","
        "\"stop_sequence\":null},\"usage\":{\"output_tokens\":15}}\n\n"
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
    fake_http_push(&f, 200, "Content-Type: text/event-stream\n", sse, (size_t)-1, 0);
    struct model *m = new_model(&f, 2000, 2);
    json_t *req = sample_request();
    struct err e = {0};
    struct deltas d = {0};
    json_t *r = model_invoke(m, req, on_delta, &d, &e);
    CHECK(r != NULL);
    CHECK_STR(d.text, "Let me check.");
    CHECK_INT(d.n, 2);
    CHECK_STR(json_string_value(json_object_get(r, "id")), "msg_s");
    CHECK_STR(json_string_value(json_object_get(r, "stop_reason")), "tool_use");
    json_t *content = json_object_get(r, "content");
    CHECK_INT(json_array_size(content), 2);
    CHECK_STR(json_string_value(json_object_get(json_array_get(content, 0), "text")),
              "Let me check.");
    json_t *in = json_object_get(json_array_get(content, 1), "input");
    CHECK_STR(json_string_value(json_object_get(in, "ticket_id")), "T-42");
    CHECK_INT(json_integer_value(json_object_get(json_object_get(r, "usage"), "output_tokens")),
              15);
    CHECK_INT(json_integer_value(json_object_get(json_object_get(r, "usage"), "input_tokens")),
              25);
    const struct fake_request *g = fake_http_request(&f, 0);
    if (g) {
        json_t *sent = json_loads(g->body, 0, NULL);
        CHECK(json_is_true(json_object_get(sent, "stream")));
        json_decref(sent);
    }
    json_decref(r);

    /* A stream that stops early, and one carrying an overloaded error event. */
    fake_http_push(&f, 200, "Content-Type: text/event-stream\n",
                   "data: {\"type\":\"message_start\",\"message\":{\"id\":\"m\"}}\n\n", (size_t)-1,
                   0);
    CHECK(model_invoke(m, req, on_delta, &d, &e) == NULL);
    CHECK_STR(e.code, "ModelBadResponse");
    fake_http_push(&f, 200, "Content-Type: text/event-stream\n",
                   "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":"
                   "\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n",
                   (size_t)-1, 0);
    CHECK(model_invoke(m, req, on_delta, &d, &e) == NULL);
    CHECK_STR(e.code, "ModelThrottled");
    fake_http_push(&f, 200, "Content-Type: text/event-stream\n", "data: {not json\n\n",
                   (size_t)-1, 0);
    CHECK(model_invoke(m, req, on_delta, &d, &e) == NULL);
    CHECK_STR(e.code, "ModelBadResponse");
    json_decref(req);
    model_free(m);
    fake_http_stop(&f);
}

static void test_by_name_env(void)
{
    struct fake_http f;
    CHECK_INT(fake_http_start(&f), 0);
    fake_http_push(&f, 200, NULL,
                   "{\"content\":[{\"type\":\"text\",\"text\":\"hi\"}],\"stop_reason\":"
                   "\"end_turn\"}",
                   (size_t)-1, 0);
    setenv("ANTHROPIC_BASE_URL", f.base_url, 1);
    setenv("ANTHROPIC_API_KEY", "env-key", 1);
    setenv("PARLEY_MODEL_ID", "claude-env", 1);
    setenv("PARLEY_MAX_TOKENS", "77", 1);
    setenv("PARLEY_MODEL_TIMEOUT_MS", "3000", 1);
    struct err e = {0};
    struct model *m = model_new_by_name("anthropic", &e);
    CHECK(m != NULL);
    CHECK_STR(model_name(m), "anthropic");
    json_t *req = json_pack("{s:[{s:s, s:s}]}", "messages", "role", "user", "content", "hi");
    json_t *r = model_invoke(m, req, NULL, NULL, &e);
    CHECK(r != NULL);
    CHECK_STR(json_string_value(json_object_get(r, "model")), "claude-env");
    const struct fake_request *g = fake_http_request(&f, 0);
    if (g) {
        CHECK_STR(fake_header(g, "x-api-key"), "env-key");
        json_t *sent = json_loads(g->body, 0, NULL);
        CHECK_STR(json_string_value(json_object_get(sent, "model")), "claude-env");
        CHECK_INT(json_integer_value(json_object_get(sent, "max_tokens")), 77);
        json_decref(sent);
    }
    json_decref(r);
    json_decref(req);
    model_free(m);
    setenv("PARLEY_MAX_TOKENS", "lots", 1);
    CHECK(model_new_by_name("anthropic", &e) == NULL);
    CHECK_STR(e.code, "ModelConfig");
    CHECK(model_new_by_name("gpt-9000", &e) == NULL);
    CHECK_STR(e.code, "ModelConfig");
    unsetenv("PARLEY_MAX_TOKENS");
    unsetenv("PARLEY_MODEL_ID");
    unsetenv("PARLEY_MODEL_TIMEOUT_MS");
    unsetenv("ANTHROPIC_BASE_URL");
    unsetenv("ANTHROPIC_API_KEY");
    fake_http_stop(&f);
}

int main(void)
{
    xmalloc_init();
    RUN(test_text_and_request_shape);
    RUN(test_tool_use_and_errors);
    RUN(test_timeout);
    RUN(test_streaming);
    RUN(test_by_name_env);
    return check_summary();
}
