/*
 * test_e2e_agent_providers.c - a custom agent file with an HTTP tool, served by the real binary
 * against the Anthropic, OpenAI and Bedrock stand-ins: the system prompt is the file's
 * instructions, the custom tool is offered with its schema in each provider's own shape
 * (Anthropic and Bedrock `tools[].input_schema`, OpenAI `tools[].function.parameters`), and a
 * tool_use round trip runs end to end: the stand-in asks for the tool, Parley calls the HTTP
 * backend, the backend's JSON goes back to the model, and the final reply reaches the customer.
 */
#include <strings.h>

#include "check.h"
#include "e2e/e2e.h"
#include "fakes/fake_http.h"

enum provider { ANTHROPIC, OPENAI, BEDROCK };

static const char *const provider_name[] = {"anthropic", "openai", "bedrock"};

static const char schema_json[] =
    "{\"type\":\"object\",\"properties\":{\"serial\":{\"type\":\"string\"}},"
    "\"required\":[\"serial\"]}";

static const char anthropic_tool_use[] =
    "{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[{\"type\":"
    "\"tool_use\",\"id\":\"toolu_w1\",\"name\":\"warranty_lookup\",\"input\":{\"serial\":"
    "\"VB1234\"}}],\"stop_reason\":\"tool_use\",\"usage\":{\"input_tokens\":20,"
    "\"output_tokens\":8}}";

static const char anthropic_final[] =
    "{\"id\":\"msg_2\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[{\"type\":"
    "\"text\",\"text\":\"Your bike is under warranty until 2027-05-01.\"}],\"stop_reason\":"
    "\"end_turn\",\"usage\":{\"input_tokens\":30,\"output_tokens\":9}}";

static const char openai_tool_use[] =
    "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"model\":\"gpt-test\",\"choices\":"
    "[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":"
    "\"call_w1\",\"type\":\"function\",\"function\":{\"name\":\"warranty_lookup\",\"arguments\":"
    "\"{\\\"serial\\\":\\\"VB1234\\\"}\"}}]},\"finish_reason\":\"tool_calls\"}],\"usage\":"
    "{\"prompt_tokens\":20,\"completion_tokens\":8}}";

static const char openai_final[] =
    "{\"id\":\"chatcmpl-2\",\"object\":\"chat.completion\",\"model\":\"gpt-test\",\"choices\":"
    "[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Your bike is under "
    "warranty until 2027-05-01.\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":30,"
    "\"completion_tokens\":9}}";

static const char *str_or(const char *s)
{
    return s ? s : "";
}

/* A recorded request's header value by case-insensitive name, or "". */
static const char *header_of(const struct fake_request *r, const char *name)
{
    for (size_t i = 0; r && i < r->n_headers; i++)
        if (strcasecmp(r->hdr_name[i], name) == 0)
            return r->hdr_value[i];
    return "";
}

/* The tool offered as warranty_lookup in a request body, in the provider's shape; NULL if
 * absent. Borrowed from body. */
static const json_t *offered_schema(enum provider p, const json_t *body)
{
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(body, "tools"), i, t) {
        if (p == OPENAI) {
            const json_t *fn = json_object_get(t, "function");
            if (strcmp(str_or(json_string_value(json_object_get(fn, "name"))),
                       "warranty_lookup") == 0)
                return json_object_get(fn, "parameters");
        } else if (strcmp(str_or(json_string_value(json_object_get(t, "name"))),
                          "warranty_lookup") == 0) {
            return json_object_get(t, "input_schema");
        }
    }
    return NULL;
}

/* The system prompt of a request body in the provider's shape. */
static const char *system_prompt(enum provider p, const json_t *body)
{
    if (p != OPENAI)
        return json_string_value(json_object_get(body, "system"));
    const json_t *m0 = json_array_get(json_object_get(body, "messages"), 0);
    if (strcmp(str_or(json_string_value(json_object_get(m0, "role"))), "system") != 0)
        return NULL;
    return json_string_value(json_object_get(m0, "content"));
}

static void round_trip(enum provider p)
{
    struct fake_http model, backend;
    CHECK_INT(fake_http_start(&model), 0);
    CHECK_INT(fake_http_start(&backend), 0);
    const char *ct = "Content-Type: application/json\n";
    fake_http_push(&model, 200, ct, p == OPENAI ? openai_tool_use : anthropic_tool_use,
                   (size_t)-1, 0);
    fake_http_push(&model, 200, ct, p == OPENAI ? openai_final : anthropic_final, (size_t)-1, 0);
    fake_http_push(&backend, 200, ct,
                   "{\"serial\":\"VB1234\",\"warranty\":\"valid\",\"until\":\"2027-05-01\"}",
                   (size_t)-1, 0);
    char dir[64], agent[128], data[96];
    CHECK(e2e_tmpdir(dir, sizeof dir) == 0);
    snprintf(agent, sizeof agent, "%s/velo.yaml", dir);
    snprintf(data, sizeof data, "%s/data", dir);
    FILE *f = fopen(agent, "w");
    if (f) {
        fprintf(f,
                "name: Velo Bikes\n"
                "instructions: You are the assistant of {{agent_name}}. Check warranties.\n"
                "tools:\n"
                "  builtin: [create_support_ticket]\n"
                "  http:\n"
                "    - name: warranty_lookup\n"
                "      description: Look up a bike's warranty by its frame serial number.\n"
                "      input_schema: %s\n"
                "      url: \"%s/bikes/{serial}/warranty\"\n"
                "      method: GET\n",
                schema_json, backend.base_url);
        fclose(f);
    }
    static char e_agent[200], e_url[200], e_model[64];
    snprintf(e_agent, sizeof e_agent, "PARLEY_AGENT=%s", agent);
    snprintf(e_model, sizeof e_model, "PARLEY_MODEL=%s", provider_name[p]);
    if (p == ANTHROPIC)
        snprintf(e_url, sizeof e_url, "ANTHROPIC_BASE_URL=%s", model.base_url);
    else if (p == OPENAI)
        snprintf(e_url, sizeof e_url, "OPENAI_BASE_URL=%s", model.base_url);
    else
        snprintf(e_url, sizeof e_url, "AWS_ENDPOINT_URL_BEDROCK_RUNTIME=%s", model.base_url);
    const char *env[] = {e_model, e_url, e_agent, "ANTHROPIC_API_KEY=test-key",
                         "OPENAI_API_KEY=test-key", "AWS_REGION=us-east-1",
                         "AWS_ACCESS_KEY_ID=AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY=secret",
                         "PARLEY_TOOL_SIGNING_SECRET=whsec_e2e", NULL};
    struct e2e_server srv;
    if (e2e_start_env(&srv, data, env) != 0) {
        CHECK(0);
        fake_http_stop(&backend);
        fake_http_stop(&model);
        return;
    }
    struct e2e_resp r =
        e2e_http(&srv, "POST", "/chat", "{\"message\":\"Is my bike VB1234 under warranty?\"}");
    CHECK_INT(r.status, 200);
    CHECK_STR(e2e_str(&r, "reply"), "Your bike is under warranty until 2027-05-01.");
    CHECK_STR(e2e_str(&r, "actions.0.tool"), "warranty_lookup");
    CHECK_STR(e2e_str(&r, "actions.0.status"), "succeeded");
    CHECK_STR(e2e_str(&r, "actions.0.result.until"), "2027-05-01");
    char sid[80];
    snprintf(sid, sizeof sid, "%s", e2e_str(&r, "sessionId"));
    e2e_resp_free(&r);

    /* the backend got the call, with the serial in its path and the session named */
    CHECK_INT(fake_http_count(&backend), 1);
    const struct fake_request *breq = fake_http_request(&backend, 0);
    CHECK_STR(breq ? breq->method : "", "GET");
    CHECK_STR(breq ? breq->target : "", "/bikes/VB1234/warranty");
    CHECK_STR(header_of(breq, "X-Parley-Session"), sid);
    /* the setting reaches the call: it is signed (test_tool_http verifies the HMAC itself) */
    const char *sig = header_of(breq, "X-Parley-Signature");
    CHECK(strncmp(sig, "v1=", 3) == 0 && strlen(sig) == 3 + 64);
    CHECK(strlen(header_of(breq, "X-Parley-Timestamp")) > 0);

    /* both model calls carry the file's instructions and the tool with its schema */
    CHECK_INT(fake_http_count(&model), 2);
    json_t *schema = json_loads(schema_json, 0, NULL);
    for (size_t i = 0; i < 2; i++) {
        const struct fake_request *mreq = fake_http_request(&model, i);
        json_t *body = mreq ? json_loads(mreq->body, 0, NULL) : NULL;
        CHECK_STR(str_or(system_prompt(p, body)),
                  "You are the assistant of Velo Bikes. Check warranties.");
        const json_t *offered = offered_schema(p, body);
        CHECK(offered && json_equal((json_t *)offered, schema));
        if (p == BEDROCK)
            CHECK(mreq && strstr(mreq->target, "/model/") == mreq->target &&
                  strstr(mreq->target, "/invoke") != NULL);
        if (i == 1) {
            /* the backend's JSON went back to the model as the tool's result */
            CHECK(strstr(mreq ? mreq->body : "", "2027-05-01") != NULL);
            CHECK(strstr(mreq ? mreq->body : "", p == OPENAI ? "call_w1" : "toolu_w1") != NULL);
        }
        json_decref(body);
    }
    json_decref(schema);
    CHECK_INT(e2e_stop(&srv), 0);
    fake_http_stop(&backend);
    fake_http_stop(&model);
    e2e_rmdir(dir);
}

static void test_anthropic(void)
{
    round_trip(ANTHROPIC);
}

static void test_openai(void)
{
    round_trip(OPENAI);
}

static void test_bedrock(void)
{
    round_trip(BEDROCK);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    RUN(test_anthropic);
    RUN(test_openai);
    RUN(test_bedrock);
    curl_global_cleanup();
    return check_summary();
}
