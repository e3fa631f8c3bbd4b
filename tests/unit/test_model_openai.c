/*
 * test_model_openai.c - the OpenAI-compatible adapter against the fake server: the translated
 * request (system message, function tools, assistant tool_calls, "tool" messages), replies with
 * text and tool calls, streaming chunks with content and tool_call fragments, no Authorization
 * without a key, 429 then success, 500, 400 with the message, timeout and malformed replies.
 */
#include <stdlib.h>
#include <string.h>

#include "base/xmalloc.h"
#include "check.h"
#include "fakes/fake_http.h"
#include "model/providers.h"

static struct model *new_model(struct fake_http *f, const char *key, long timeout_ms)
{
    char *base = xasprintf("%s/v1/", f->base_url);
    struct model_provider_config cfg = {.model_id = "llama3.1",
                                        .api_key = key,
                                        .base_url = base,
                                        .timeout_ms = timeout_ms,
                                        .max_retries = 2,
                                        .backoff_base_ms = 2,
                                        .backoff_max_ms = 10};
    struct err e = {0};
    struct model *m = model_openai_new(&cfg, &e);
    free(base);
    return m;
}

static json_t *tool_round_trip_request(void)
{
    return json_pack(
        "{s:s, s:i, s:[{s:s, s:s}, {s:s, s:[{s:s, s:s}, {s:s, s:s, s:s, s:{s:s}}]}, "
        "{s:s, s:[{s:s, s:s, s:s}]}], s:[{s:s, s:s, s:{s:s, s:{s:{s:s}}, s:[s]}}]}",
        "system", "You are Parley.", "max_tokens", 300, "messages", "role", "user", "content",
        "Where is order A-1?", "role", "assistant", "content", "type", "text", "text",
        "Checking.", "type", "tool_use", "id", "call_1", "name", "lookup_order", "input",
        "order_id", "A-1", "role", "user", "content", "type", "tool_result", "tool_use_id",
        "call_1", "content", "{\"status\":\"shipped\"}", "tools", "name", "lookup_order",
        "description", "Look up an order", "input_schema", "type", "object", "properties",
        "order_id", "type", "string", "required", "order_id");
}

static void test_request_translation_and_text(void)
{
    struct fake_http f;
    CHECK_INT(fake_http_start(&f), 0);
    fake_http_push(&f, 200, "Content-Type: application/json\n",
                   "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"model\":\"llama3.1\","
                   "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":"
                   "\"Your order A-1 has shipped.\"},\"finish_reason\":\"stop\"}],\"usage\":"
                   "{\"prompt_tokens\":60,\"completion_tokens\":8,\"total_tokens\":68}}",
                   (size_t)-1, 0);
    struct model *m = new_model(&f, "sk-openai", 2000);
    json_t *req = tool_round_trip_request();
    struct err e = {0};
    json_t *r = model_invoke(m, req, NULL, NULL, &e);
    CHECK(r != NULL);
    CHECK_STR(json_string_value(json_object_get(r, "stop_reason")), "end_turn");
    CHECK_STR(json_string_value(
                  json_object_get(json_array_get(json_object_get(r, "content"), 0), "text")),
              "Your order A-1 has shipped.");
    CHECK_INT(json_integer_value(json_object_get(json_object_get(r, "usage"), "input_tokens")),
              60);
    CHECK_INT(json_integer_value(json_object_get(json_object_get(r, "usage"), "output_tokens")),
              8);
    const struct fake_request *g = fake_http_request(&f, 0);
    CHECK(g != NULL);
    if (g) {
        CHECK_STR(g->target, "/v1/chat/completions");
        CHECK_STR(fake_header(g, "authorization"), "Bearer sk-openai");
        json_t *sent = json_loads(g->body, 0, NULL);
        json_t *want = json_pack(
            "{s:s, s:i, s:[{s:s, s:s}, {s:s, s:s}, {s:s, s:s, s:[{s:s, s:s, s:{s:s, s:s}}]}, "
            "{s:s, s:s, s:s}], s:[{s:s, s:{s:s, s:s, s:{s:s, s:{s:{s:s}}, s:[s]}}}]}",
            "model", "llama3.1", "max_tokens", 300, "messages", "role", "system", "content",
            "You are Parley.", "role", "user", "content", "Where is order A-1?", "role",
            "assistant", "content", "Checking.", "tool_calls", "id", "call_1", "type",
            "function", "function", "name", "lookup_order", "arguments",
            "{\"order_id\":\"A-1\"}", "role", "tool", "tool_call_id", "call_1", "content",
            "{\"status\":\"shipped\"}", "tools", "type", "function", "function", "name",
            "lookup_order", "description", "Look up an order", "parameters", "type", "object",
            "properties", "order_id", "type", "string", "required", "order_id");
        CHECK(json_equal(sent, want));
        if (!json_equal(sent, want))
            fprintf(stderr, "sent: %s\n", g->body);
        json_decref(want);
        json_decref(sent);
    }
    json_decref(r);
    json_decref(req);
    model_free(m);
    fake_http_stop(&f);
}

static void test_tool_calls_and_errors(void)
{
    struct fake_http f;
    CHECK_INT(fake_http_start(&f), 0);
    fake_http_push(&f, 429, "Retry-After: 0\n",
                   "{\"error\":{\"message\":\"Rate limit reached\",\"type\":\"requests\","
                   "\"code\":\"rate_limit_exceeded\"}}",
                   (size_t)-1, 0);
    fake_http_push(&f, 200, NULL,
                   "{\"id\":\"chatcmpl-2\",\"choices\":[{\"index\":0,\"message\":{\"role\":"
                   "\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_abc\",\"type\":"
                   "\"function\",\"function\":{\"name\":\"create_support_ticket\",\"arguments\":"
                   "\"{\\\"title\\\":\\\"Login\\\",\\\"priority\\\":\\\"urgent\\\"}\"}}]},"
                   "\"finish_reason\":\"tool_calls\"}],\"usage\":{\"prompt_tokens\":5,"
                   "\"completion_tokens\":7}}",
                   (size_t)-1, 0);
    struct model *m = new_model(&f, NULL, 2000);
    json_t *req = json_pack("{s:[{s:s, s:s}]}", "messages", "role", "user", "content", "help");
    struct err e = {0};
    json_t *r = model_invoke(m, req, NULL, NULL, &e);
    CHECK(r != NULL);
    CHECK_STR(json_string_value(json_object_get(r, "stop_reason")), "tool_use");
    json_t *tu = json_array_get(json_object_get(r, "content"), 0);
    CHECK_STR(json_string_value(json_object_get(tu, "type")), "tool_use");
    CHECK_STR(json_string_value(json_object_get(tu, "id")), "call_abc");
    CHECK_STR(json_string_value(json_object_get(json_object_get(tu, "input"), "priority")),
              "urgent");
    const struct fake_request *g = fake_http_request(&f, 1);
    if (g)
        CHECK(fake_header(g, "authorization") == NULL); /* no key: no header (Ollama etc.) */
    json_decref(r);

    fake_http_push(&f, 400, NULL, "{\"error\":{\"message\":\"Invalid 'messages'\",\"type\":"
                                  "\"invalid_request_error\"}}",
                   (size_t)-1, 0);
    CHECK(model_invoke(m, req, NULL, NULL, &e) == NULL);
    CHECK_STR(e.code, "ModelError");
    CHECK(strstr(e.message, "Invalid 'messages'") != NULL);
    for (int i = 0; i < 3; i++)
        fake_http_push(&f, 500, NULL, "{\"error\":\"model crashed\"}", (size_t)-1, 0);
    CHECK(model_invoke(m, req, NULL, NULL, &e) == NULL);
    CHECK_STR(e.code, "ModelError");
    CHECK(strstr(e.message, "model crashed") != NULL);
    for (int i = 0; i < 3; i++)
        fake_http_push(&f, 429, NULL, "{}", (size_t)-1, 0);
    CHECK(model_invoke(m, req, NULL, NULL, &e) == NULL);
    CHECK_STR(e.code, "ModelThrottled");
    fake_http_push(&f, 200, NULL, "not json", (size_t)-1, 0);
    CHECK(model_invoke(m, req, NULL, NULL, &e) == NULL);
    CHECK_STR(e.code, "ModelBadResponse");
    fake_http_push(&f, 200, NULL,
                   "{\"choices\":[{\"message\":{\"role\":\"assistant\",\"tool_calls\":[{\"id\":"
                   "\"c\",\"function\":{\"name\":\"x\",\"arguments\":\"{broken\"}}]},"
                   "\"finish_reason\":\"tool_calls\"}]}",
                   (size_t)-1, 0);
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
    const char *sse =
        "data: {\"id\":\"chatcmpl-s\",\"choices\":[{\"index\":0,\"delta\":{\"role\":"
        "\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n"
        "data: {\"id\":\"chatcmpl-s\",\"choices\":[{\"index\":0,\"delta\":{\"content\":"
        "\"One \"},\"finish_reason\":null}]}\n\n"
        "data: {\"id\":\"chatcmpl-s\",\"choices\":[{\"index\":0,\"delta\":{\"content\":"
        "\"moment.\"},\"finish_reason\":null}]}\n\n"
        "data: {\"id\":\"chatcmpl-s\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{"
        "\"index\":0,\"id\":\"call_s1\",\"type\":\"function\",\"function\":{\"name\":"
        "\"get_ticket_status\",\"arguments\":\"\"}}]},\"finish_reason\":null}]}\n\n"
        "data: {\"id\":\"chatcmpl-s\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{"
        "\"index\":0,\"function\":{\"arguments\":\"{\\\"ticket_id\\\":\"}}]},"
        "\"finish_reason\":null}]}\n\n"
        "data: {\"id\":\"chatcmpl-s\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{"
        "\"index\":0,\"function\":{\"arguments\":\"\\\"T-7\\\"}\"}}]},\"finish_reason\":null}]}"
        "\n\n"
        "data: {\"id\":\"chatcmpl-s\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":"
        "\"tool_calls\"}]}\n\n"
        "data: {\"id\":\"chatcmpl-s\",\"choices\":[],\"usage\":{\"prompt_tokens\":11,"
        "\"completion_tokens\":4}}\n\n"
        "data: [DONE]\n\n";
    fake_http_push(&f, 200, "Content-Type: text/event-stream\n", sse, (size_t)-1, 0);
    struct model *m = new_model(&f, "k", 2000);
    json_t *req = json_pack("{s:[{s:s, s:s}]}", "messages", "role", "user", "content", "status?");
    struct err e = {0};
    struct deltas d = {0};
    json_t *r = model_invoke(m, req, on_delta, &d, &e);
    CHECK(r != NULL);
    CHECK_STR(d.text, "One moment.");
    CHECK_STR(json_string_value(json_object_get(r, "stop_reason")), "tool_use");
    json_t *c = json_object_get(r, "content");
    CHECK_INT(json_array_size(c), 2);
    CHECK_STR(json_string_value(json_object_get(json_array_get(c, 0), "text")), "One moment.");
    CHECK_STR(json_string_value(json_object_get(json_array_get(c, 1), "name")),
              "get_ticket_status");
    CHECK_STR(json_string_value(
                  json_object_get(json_object_get(json_array_get(c, 1), "input"), "ticket_id")),
              "T-7");
    CHECK_INT(json_integer_value(json_object_get(json_object_get(r, "usage"), "input_tokens")),
              11);
    const struct fake_request *g = fake_http_request(&f, 0);
    if (g) {
        json_t *sent = json_loads(g->body, 0, NULL);
        CHECK(json_is_true(json_object_get(sent, "stream")));
        json_decref(sent);
    }
    json_decref(r);
    /* A stream that ends without a finish_reason. */
    fake_http_push(&f, 200, "Content-Type: text/event-stream\n",
                   "data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\n", (size_t)-1, 0);
    CHECK(model_invoke(m, req, on_delta, &d, &e) == NULL);
    CHECK_STR(e.code, "ModelBadResponse");
    json_decref(req);
    model_free(m);
    fake_http_stop(&f);
}

static void test_env(void)
{
    struct fake_http f;
    CHECK_INT(fake_http_start(&f), 0);
    fake_http_push(&f, 200, NULL,
                   "{\"choices\":[{\"message\":{\"content\":\"hi\"},\"finish_reason\":"
                   "\"stop\"}]}",
                   (size_t)-1, 0);
    setenv("OPENAI_BASE_URL", f.base_url, 1);
    unsetenv("OPENAI_API_KEY");
    unsetenv("PARLEY_MODEL_ID");
    struct err e = {0};
    struct model *m = model_new_by_name("openai", &e);
    CHECK(m != NULL);
    json_t *req = json_pack("{s:[{s:s, s:s}]}", "messages", "role", "user", "content", "hi");
    json_t *r = m ? model_invoke(m, req, NULL, NULL, &e) : NULL;
    CHECK(r != NULL);
    const struct fake_request *g = fake_http_request(&f, 0);
    if (g) {
        CHECK_STR(g->target, "/chat/completions");
        json_t *sent = json_loads(g->body, 0, NULL);
        CHECK_STR(json_string_value(json_object_get(sent, "model")), MODEL_OPENAI_DEFAULT_ID);
        json_decref(sent);
    }
    json_decref(r);
    json_decref(req);
    model_free(m);
    unsetenv("OPENAI_BASE_URL");
    fake_http_stop(&f);
}

int main(void)
{
    xmalloc_init();
    RUN(test_request_translation_and_text);
    RUN(test_tool_calls_and_errors);
    RUN(test_streaming);
    RUN(test_env);
    return check_summary();
}
