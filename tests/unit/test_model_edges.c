/*
 * test_model_edges.c - the stop reasons a turn cannot use as they come, for every provider
 * (Anthropic "refusal"/"max_tokens", OpenAI "content_filter"/"length"/message.refusal, Bedrock
 * Converse "content_filtered"/"max_tokens"), the retry budget of one model step (at most
 * MODEL_MAX_CALLS upstream calls, Retry-After honoured, no Model* retry in the workflow) and the
 * default model ids.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/xmalloc.h"
#include "check.h"
#include "fakes/fake_http.h"
#include "model/providers.h"

static struct model *anthropic(struct fake_http *f, const char *id, int retries, long bmax)
{
    struct model_provider_config cfg = {.model_id = id,
                                        .api_key = "sk-test",
                                        .base_url = f->base_url,
                                        .timeout_ms = 5000,
                                        .max_retries = retries,
                                        .backoff_base_ms = 2,
                                        .backoff_max_ms = bmax};
    struct err e = {0};
    return model_anthropic_new(&cfg, &e);
}

static struct model *openai(struct fake_http *f)
{
    struct model_provider_config cfg = {.model_id = "gpt-test",
                                        .base_url = f->base_url,
                                        .timeout_ms = 5000,
                                        .max_retries = -1};
    struct err e = {0};
    return model_openai_new(&cfg, &e);
}

static time_t fixed_clock(void)
{
    return 1732506000;
}

static struct model *bedrock_converse(struct fake_http *f)
{
    struct aws_config ac = {.region = "us-east-1",
                            .access_key_id = "AKIDEXAMPLE",
                            .secret_access_key = "secret",
                            .clock = fixed_clock};
    struct model_provider_config cfg = {.model_id = "amazon.nova-lite-v1:0",
                                        .base_url = f->base_url,
                                        .aws = &ac,
                                        .timeout_ms = 5000,
                                        .max_retries = -1};
    struct err e = {0};
    return model_bedrock_new(&cfg, &e);
}

static json_t *request(void)
{
    return json_pack("{s:s, s:[{s:s, s:s}], s:i}", "system", "You are a support agent.", "messages",
                     "role", "user", "content", "Where is my order?", "max_tokens", 64);
}

/* Invokes m once; returns the response (or NULL) and leaves the error in e. */
static json_t *call(struct model *m, model_delta_fn fn, void *ud, struct err *e)
{
    json_t *req = request();
    json_t *r = model_invoke(m, req, fn, ud, e);
    json_decref(req);
    return r;
}

static const char *text_of(const json_t *r, size_t i)
{
    const char *t = json_string_value(
        json_object_get(json_array_get(json_object_get(r, "content"), i), "text"));
    return t ? t : "";
}

static void anthropic_reply(struct fake_http *f, const char *content, const char *stop)
{
    char body[2048];
    snprintf(body, sizeof body,
             "{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":%s,"
             "\"stop_reason\":\"%s\",\"usage\":{\"input_tokens\":5,\"output_tokens\":64}}",
             content, stop);
    fake_http_push(f, 200, "Content-Type: application/json\n", body, (size_t)-1, 0);
}

/* ---- Anthropic ------------------------------------------------------------------------------ */

static void test_anthropic_refusal(void)
{
    struct fake_http f;
    CHECK_INT(fake_http_start(&f), 0);
    anthropic_reply(&f, "[]", "refusal");
    anthropic_reply(&f, "[{\"type\":\"text\",\"text\":\"I won't\"}]", "refusal");
    struct model *m = anthropic(&f, "claude-test", -1, 10);
    struct err e = {0};
    json_t *r = call(m, NULL, NULL, &e);
    CHECK(r != NULL);
    CHECK_STR(json_string_value(json_object_get(r, "stop_reason")), "refusal");
    CHECK_INT(json_array_size(json_object_get(r, "content")), 1);
    CHECK_STR(text_of(r, 0), MODEL_DECLINE_TEXT);
    CHECK(strstr(text_of(r, 0), "support team") != NULL); /* the offer of a human */
    json_decref(r);
    r = call(m, NULL, NULL, &e);
    CHECK_STR(text_of(r, 0), MODEL_DECLINE_TEXT); /* a partial refusal text is replaced */
    CHECK_INT(json_array_size(json_object_get(r, "content")), 1);
    json_decref(r);
    model_free(m);
    fake_http_stop(&f);
}

static void test_anthropic_max_tokens(void)
{
    struct fake_http f;
    CHECK_INT(fake_http_start(&f), 0);
    anthropic_reply(&f,
                    "[{\"type\":\"text\",\"text\":\"Order 1042 shipped on Monday. It costs $89.99 "
                    "and should arrive by Fri\"}]",
                    "max_tokens");
    anthropic_reply(&f,
                    "[{\"type\":\"text\",\"text\":\"Let me open a ticket (it is quick!) for "
                    "you.\"},{\"type\":\"tool_use\",\"id\":\"tu_1\",\"name\":\"create_support_"
                    "ticket\",\"input\":{}}]",
                    "max_tokens");
    anthropic_reply(&f, "[{\"type\":\"text\",\"text\":\"Well, the answer to that is\"}]",
                    "max_tokens");
    anthropic_reply(&f, "[{\"type\":\"text\",\"text\":\"All done. Thanks!\"}]", "max_tokens");
    struct model *m = anthropic(&f, "claude-test", -1, 10);
    struct err e = {0};
    json_t *r = call(m, NULL, NULL, &e);
    CHECK_STR(json_string_value(json_object_get(r, "stop_reason")), "max_tokens");
    CHECK_STR(text_of(r, 0), "Order 1042 shipped on Monday."); /* "$89.99" is no sentence end */
    json_decref(r);
    r = call(m, NULL, NULL, &e);
    CHECK_INT(json_array_size(json_object_get(r, "content")), 1); /* the cut tool_use dropped */
    CHECK_STR(text_of(r, 0), "Let me open a ticket (it is quick!) for you.");
    json_decref(r);
    r = call(m, NULL, NULL, &e);
    CHECK_STR(text_of(r, 0), MODEL_CUT_TEXT);
    json_decref(r);
    r = call(m, NULL, NULL, &e);
    CHECK_STR(text_of(r, 0), "All done. Thanks!"); /* already whole: kept */
    json_decref(r);
    model_free(m);
    fake_http_stop(&f);
}

struct deltas {
    char text[2048];
};

static void on_delta(void *ud, const char *t)
{
    struct deltas *d = ud;
    strncat(d->text, t, sizeof d->text - strlen(d->text) - 1);
}

static void test_anthropic_stream_refusal(void)
{
    struct fake_http f;
    CHECK_INT(fake_http_start(&f), 0);
    const char *sse =
        "event: message_start\n"
        "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_s\",\"usage\":"
        "{\"input_tokens\":4}}}\n\n"
        "event: content_block_start\n"
        "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\","
        "\"text\":\"\"}}\n\n"
        "event: content_block_delta\n"
        "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\","
        "\"text\":\"Hmm\"}}\n\n"
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
        "event: message_delta\n"
        "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"refusal\"},\"usage\":"
        "{\"output_tokens\":1}}\n\n"
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
    fake_http_push(&f, 200, "Content-Type: text/event-stream\n", sse, (size_t)-1, 0);
    struct model *m = anthropic(&f, "claude-test", -1, 10);
    struct deltas d = {""};
    struct err e = {0};
    json_t *r = call(m, on_delta, &d, &e);
    CHECK(r != NULL);
    CHECK_STR(text_of(r, 0), MODEL_DECLINE_TEXT);
    CHECK_STR(d.text, "Hmm\n\n" MODEL_DECLINE_TEXT); /* the streaming client sees it too */
    json_decref(r);
    model_free(m);
    fake_http_stop(&f);
}

/* ---- OpenAI --------------------------------------------------------------------------------- */

static void openai_reply(struct fake_http *f, const char *message, const char *finish)
{
    char body[2048];
    snprintf(body, sizeof body,
             "{\"id\":\"chatcmpl-1\",\"model\":\"gpt-test\",\"choices\":[{\"index\":0,"
             "\"message\":%s,\"finish_reason\":\"%s\"}],\"usage\":{\"prompt_tokens\":5,"
             "\"completion_tokens\":9}}",
             message, finish);
    fake_http_push(f, 200, "Content-Type: application/json\n", body, (size_t)-1, 0);
}

static void test_openai_edges(void)
{
    struct fake_http f;
    CHECK_INT(fake_http_start(&f), 0);
    openai_reply(&f, "{\"role\":\"assistant\",\"content\":null}", "content_filter");
    openai_reply(&f, "{\"role\":\"assistant\",\"content\":null,\"refusal\":\"I can't.\"}", "stop");
    openai_reply(&f,
                 "{\"role\":\"assistant\",\"content\":\"Your refund was approved! It will reach "
                 "your card within five\"}",
                 "length");
    struct model *m = openai(&f);
    struct err e = {0};
    json_t *r = call(m, NULL, NULL, &e);
    CHECK(r != NULL);
    CHECK_STR(json_string_value(json_object_get(r, "stop_reason")), "refusal");
    CHECK_STR(text_of(r, 0), MODEL_DECLINE_TEXT);
    json_decref(r);
    r = call(m, NULL, NULL, &e);
    CHECK_STR(text_of(r, 0), MODEL_DECLINE_TEXT);
    json_decref(r);
    r = call(m, NULL, NULL, &e);
    CHECK_STR(json_string_value(json_object_get(r, "stop_reason")), "max_tokens");
    CHECK_STR(text_of(r, 0), "Your refund was approved!");
    json_decref(r);
    model_free(m);
    fake_http_stop(&f);
}

/* ---- Bedrock Converse ----------------------------------------------------------------------- */

static void converse_reply(struct fake_http *f, const char *text, const char *stop)
{
    char body[2048];
    snprintf(body, sizeof body,
             "{\"output\":{\"message\":{\"role\":\"assistant\",\"content\":[{\"text\":\"%s\"}]}},"
             "\"stopReason\":\"%s\",\"usage\":{\"inputTokens\":5,\"outputTokens\":9}}",
             text, stop);
    fake_http_push(f, 200, "Content-Type: application/json\n", body, (size_t)-1, 0);
}

static void test_bedrock_edges(void)
{
    struct fake_http f;
    CHECK_INT(fake_http_start(&f), 0);
    converse_reply(&f, "", "content_filtered");
    converse_reply(&f, "Sure. Your ticket number is TK-1 and the next st", "max_tokens");
    struct model *m = bedrock_converse(&f);
    CHECK(m != NULL);
    struct err e = {0};
    json_t *r = m ? call(m, NULL, NULL, &e) : NULL;
    CHECK(r != NULL);
    CHECK_STR(json_string_value(json_object_get(r, "stop_reason")), "refusal");
    CHECK_STR(text_of(r, 0), MODEL_DECLINE_TEXT);
    json_decref(r);
    r = m ? call(m, NULL, NULL, &e) : NULL;
    CHECK_STR(text_of(r, 0), "Sure.");
    json_decref(r);
    model_free(m);
    fake_http_stop(&f);
}

/* ---- The retry budget ----------------------------------------------------------------------- */

static void test_budget(void)
{
    int asked[] = {0, 10, 2, -1};
    size_t want[] = {MODEL_MAX_CALLS, MODEL_MAX_CALLS, 3, 1};
    for (size_t k = 0; k < 4; k++) {
        struct fake_http f;
        CHECK_INT(fake_http_start(&f), 0);
        for (int i = 0; i < 12; i++)
            fake_http_push(&f, 529, "Content-Type: application/json\n",
                           "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
                           "\"message\":\"Overloaded\"}}",
                           (size_t)-1, 0);
        struct model *m = anthropic(&f, "claude-test", asked[k], 10);
        struct err e = {0};
        json_t *r = call(m, NULL, NULL, &e);
        CHECK(r == NULL);
        CHECK_STR(e.code, "ModelThrottled");
        CHECK_INT(fake_http_count(&f), want[k]);
        model_free(m);
        fake_http_stop(&f);
    }
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void test_retry_after(void)
{
    struct fake_http f;
    CHECK_INT(fake_http_start(&f), 0);
    fake_http_push(&f, 429, "Content-Type: application/json\nRetry-After: 1\n",
                   "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":"
                   "\"slow down\"}}",
                   (size_t)-1, 0);
    anthropic_reply(&f, "[{\"type\":\"text\",\"text\":\"Hello.\"}]", "end_turn");
    struct model *m = anthropic(&f, "claude-test", 0, 8000);
    struct err e = {0};
    long t0 = now_ms();
    json_t *r = call(m, NULL, NULL, &e);
    long waited = now_ms() - t0;
    CHECK(r != NULL);
    CHECK_INT(fake_http_count(&f), 2);
    CHECK(waited >= 950); /* the backoff alone would be a few ms */
    json_decref(r);
    model_free(m);
    fake_http_stop(&f);
}

/* The workflow must not retry model errors on top of the client (3 x 4 = 12 calls before). */
static void test_workflow_does_not_stack(void)
{
    const char *src = getenv("PARLEY_SRC");
    char path[512];
    snprintf(path, sizeof path, "%s/statemachine/agent.asl.json", src ? src : ".");
    json_t *asl = json_load_file(path, 0, NULL);
    json_t *call_state = json_object_get(json_object_get(asl, "States"), "CallBedrock");
    CHECK(json_is_object(call_state));
    size_t i, j;
    json_t *rule, *name;
    int model_retried = 0;
    json_array_foreach(json_object_get(call_state, "Retry"), i, rule) {
        json_array_foreach(json_object_get(rule, "ErrorEquals"), j, name) {
            const char *n = json_string_value(name);
            if (strncmp(n, "Model", 5) == 0 || strcmp(n, "States.ALL") == 0 ||
                strcmp(n, "States.TaskFailed") == 0)
                model_retried = 1;
        }
    }
    CHECK(!model_retried);
    json_decref(asl);
}

static void test_default_ids(void)
{
    struct fake_http f;
    CHECK_INT(fake_http_start(&f), 0);
    anthropic_reply(&f, "[{\"type\":\"text\",\"text\":\"Hi.\"}]", "end_turn");
    struct model *m = anthropic(&f, NULL, -1, 10);
    struct err e = {0};
    json_t *r = call(m, NULL, NULL, &e);
    json_decref(r);
    const struct fake_request *g = fake_http_request(&f, 0);
    json_t *sent = g ? json_loads(g->body, 0, NULL) : NULL;
    CHECK_STR(json_string_value(json_object_get(sent, "model")), "claude-sonnet-4-5-20250929");
    json_decref(sent);
    CHECK(strstr(MODEL_BEDROCK_DEFAULT_ID, "claude-sonnet-4-5") != NULL);
    CHECK(strstr(MODEL_ANTHROPIC_DEFAULT_ID, "3-5") == NULL);
    model_free(m);
    fake_http_stop(&f);
}

int main(void)
{
    xmalloc_init();
    RUN(test_anthropic_refusal);
    RUN(test_anthropic_max_tokens);
    RUN(test_anthropic_stream_refusal);
    RUN(test_openai_edges);
    RUN(test_bedrock_edges);
    RUN(test_budget);
    RUN(test_retry_after);
    RUN(test_workflow_does_not_stack);
    RUN(test_default_ids);
    return check_summary();
}
