/* test_lambda_agent.c - PARLEY_AGENT on Lambda: every function that runs the agent (the request
 * handler, each workflow Task and the SQS worker) loads the agent file it names at init, so an
 * invalid file fails each one's init with Runtime.InvalidAgentFile; and BedrockInference with a
 * valid file sends that file's instructions and its custom HTTP tool to the model (an Anthropic
 * Messages API stand-in). Driven through the bootstrap's main loop against a scripted Runtime API
 * on 127.0.0.1, as test_lambda_handlers.c does. */
#include <stdlib.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/xmalloc.h"
#include "check.h"
#include "fakes/fake_http.h"
#include "runtime/lambda_handlers.h"

static struct fake_http api, model;
static char dir[64];

static void reset_api(void)
{
    fake_http_stop(&api);
    if (fake_http_start(&api) < 0)
        return;
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", (unsigned)api.port);
    setenv("AWS_LAMBDA_RUNTIME_API", addr, 1);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* Every function that opens the agent refuses an invalid agent file at init. */
static void test_invalid_agent_fails_every_init(void)
{
    static const char *const handlers[] = {"RequestHandler", "LoadContext", "BedrockInference",
                                           "ActionExecutor", "SaveConversation", "HandleError",
                                           "ActionWorker"};
    char path[128];
    snprintf(path, sizeof path, "%s/bad.yaml", dir);
    write_file(path, "name: Bad\ninstructions: x\ntools:\n  http:\n"
                     "    - {name: w, description: d, input_schema: {type: object}}\n");
    setenv("PARLEY_AGENT", path, 1);
    for (size_t i = 0; i < sizeof handlers / sizeof handlers[0]; i++) {
        reset_api();
        fake_http_push(&api, 202, NULL, "{}", (size_t)-1, 0);
        char *argv[] = {"bootstrap", "--handler", (char *)handlers[i], "--once", NULL};
        CHECK_INT(lambda_parley_main(4, argv), 1);
        const struct fake_request *r = fake_http_request(&api, 0);
        CHECK_STR(r ? r->target : "", "/2018-06-01/runtime/init/error");
        const char *type = r ? fake_header(r, "Lambda-Runtime-Function-Error-Type") : NULL;
        CHECK_STR(type ? type : "", "Runtime.InvalidAgentFile");
    }
    unsetenv("PARLEY_AGENT");
}

/* BedrockInference runs as the agent file says: its instructions and its HTTP tool. */
static void test_inference_uses_the_agent_file(void)
{
    char path[128];
    snprintf(path, sizeof path, "%s/velo.yaml", dir);
    write_file(path, "name: Velo Bikes\n"
                     "instructions: You are the Lambda assistant of {{agent_name}}.\n"
                     "tools:\n"
                     "  builtin: [create_support_ticket]\n"
                     "  http:\n"
                     "    - name: warranty_lookup\n"
                     "      description: Look up a warranty.\n"
                     "      input_schema: {type: object, properties: {serial: {type: string}},"
                     " required: [serial]}\n"
                     "      url: https://api.velo.example/w/{serial}\n");
    setenv("PARLEY_AGENT", path, 1);
    setenv("PARLEY_MODEL", "anthropic", 1);
    setenv("ANTHROPIC_API_KEY", "test-key", 1);
    setenv("ANTHROPIC_BASE_URL", model.base_url, 1);
    fake_http_push(&model, 200, "Content-Type: application/json\n",
                   "{\"id\":\"msg_l\",\"type\":\"message\",\"role\":\"assistant\",\"content\":"
                   "[{\"type\":\"text\",\"text\":\"Hi!\"}],\"stop_reason\":\"end_turn\",\"usage\":"
                   "{\"input_tokens\":3,\"output_tokens\":1}}",
                   (size_t)-1, 0);
    reset_api();
    char *h = xasprintf("Lambda-Runtime-Aws-Request-Id: id-1\nLambda-Runtime-Deadline-Ms: %lld\n",
                        (long long)clock_now_ms() + 30000);
    fake_http_push(&api, 200, h,
                   "{\"sessionId\":\"La1\",\"userId\":\"u\",\"message\":\"hello\",\"isNew\":true,"
                   "\"status\":\"active\",\"context\":{},\"turns\":0,\"history\":[],"
                   "\"newMessages\":[{\"role\":\"user\",\"content\":\"hello\",\"timestamp\":1}],"
                   "\"iterations\":0,\"maxIterations\":5}",
                   (size_t)-1, 0);
    fake_http_push(&api, 202, NULL, "{}", (size_t)-1, 0);
    free(h);
    char *argv[] = {"bootstrap", "--handler", "BedrockInference", "--once", NULL};
    CHECK_INT(lambda_parley_main(4, argv), 0);
    const struct fake_request *posted = fake_http_request(&api, 1);
    CHECK(posted && strstr(posted->target, "/response") != NULL);
    CHECK_INT(fake_http_count(&model), 1);
    const struct fake_request *req = fake_http_request(&model, 0);
    json_t *body = req ? json_loads(req->body, 0, NULL) : NULL;
    CHECK_STR(json_string_value(json_object_get(body, "system")),
              "You are the Lambda assistant of Velo Bikes.");
    int offered = 0;
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(body, "tools"), i, t)
        if (strcmp(json_string_value(json_object_get(t, "name")), "warranty_lookup") == 0 &&
            json_is_object(json_object_get(t, "input_schema")))
            offered = 1;
    CHECK(offered);
    json_decref(body);
    unsetenv("PARLEY_AGENT");
    setenv("PARLEY_MODEL", "offline", 1);
}

int main(void)
{
    xmalloc_init();
    snprintf(dir, sizeof dir, "/tmp/parley-lambda-agent-XXXXXX");
    if (!mkdtemp(dir) || fake_http_start(&api) < 0 || fake_http_start(&model) < 0)
        return 1;
    setenv("AWS_ENDPOINT_URL_SFN", "http://127.0.0.1:9", 1); /* never called here */
    setenv("AWS_REGION", "us-east-1", 1);
    setenv("AWS_ACCESS_KEY_ID", "AKIDTEST", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "secret", 1);
    setenv("PARLEY_STATE_MACHINE_ARN", "arn:aws:states:us-east-1:1:stateMachine:Agent", 1);
    setenv("PARLEY_STORE", "sqlite", 1);
    setenv("PARLEY_DATA", dir, 1);
    setenv("PARLEY_MODEL", "offline", 1);
    setenv("PARLEY_LOG_LEVEL", "warn", 1);
    setenv("PARLEY_EMF", "0", 1);
    unsetenv("PARLEY_EVENT_BUS");
    RUN(test_invalid_agent_fails_every_init);
    RUN(test_inference_uses_the_agent_file);
    fake_http_stop(&model);
    fake_http_stop(&api);
    char *cmd = xasprintf("rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    free(cmd);
    return check_summary();
}
