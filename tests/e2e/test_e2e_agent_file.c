/*
 * test_e2e_agent_file.c - the agent file through the real binary: `parley agent validate` and
 * `show` exit as promised, `parley serve` refuses an invalid file with every problem listed, and
 * a custom agent file's instructions and denied topics reach (or keep away from) the model, here
 * an Anthropic Messages API stand-in.
 */
#include "check.h"
#include "e2e/e2e.h"
#include "fakes/fake_http.h"

static char out[1 << 17];

/* Runs `[env] parley ARGS` (bounded by `timeout`); returns the exit code and fills out with
 * stdout and stderr. */
static int run_parley(const char *env, const char *args)
{
    char out_path[] = "/tmp/parley-agentcli-XXXXXX";
    int ofd = mkstemp(out_path);
    if (ofd < 0)
        return -1;
    close(ofd);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s timeout 60 '%s' %s < /dev/null > '%s' 2>&1", env ? env : "",
             getenv("PARLEY_BIN"), args, out_path);
    int st = system(cmd);
    FILE *f = fopen(out_path, "r");
    size_t n = f ? fread(out, 1, sizeof out - 1, f) : 0;
    out[n] = '\0';
    if (f)
        fclose(f);
    unlink(out_path);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static const char *src(void)
{
    return getenv("PARLEY_SRC") ? getenv("PARLEY_SRC") : ".";
}

static void test_validate_exit_codes(void)
{
    char args[1200];
    snprintf(args, sizeof args, "agent validate '%s/examples/demo-store/agent.yaml'", src());
    CHECK_INT(run_parley(NULL, args), 0);
    CHECK(strstr(out, "agent.yaml: valid") != NULL);
    snprintf(args, sizeof args, "agent validate '%s/tests/cases/agent_file/tool_names.yaml'",
             src());
    CHECK_INT(run_parley(NULL, args), 1);
    /* every problem, not just the first */
    CHECK(strstr(out, "tool_names.yaml: /tools/http/0/name: tool name \"lookup_order\" is already "
                      "used at /tools/builtin/0\n") != NULL);
    CHECK(strstr(out, "tool_names.yaml: /tools/http/1/name: tool name \"no spaces\" must match "
                      "[A-Za-z0-9_-]{1,64}\n") != NULL);
    CHECK(strstr(out, "/tools/lambda/1/name: tool name \"no_spaces2\" is already used") != NULL);
    snprintf(args, sizeof args, "agent validate '%s/tests/cases/agent_file/missing_url.yaml'",
             src());
    CHECK_INT(run_parley(NULL, args), 1);
    CHECK(strstr(out, "missing_url.yaml: /tools/http/0: missing required key \"url\"\n") != NULL);
    CHECK_INT(run_parley(NULL, "agent validate /nonexistent/agent.yaml"), 1);
    CHECK(strstr(out, "cannot open agent file '/nonexistent/agent.yaml'") != NULL);
    CHECK_INT(run_parley(NULL, "agent"), 2);
    CHECK(strstr(out, "usage: parley agent validate FILE") != NULL);
    CHECK_INT(run_parley(NULL, "agent frobnicate x"), 2);
    CHECK_INT(run_parley(NULL, "agent --help"), 0);
}

static void test_show(void)
{
    char args[1200];
    snprintf(args, sizeof args, "agent show '%s/examples/demo-store/agent.yaml'", src());
    CHECK_INT(run_parley(NULL, args), 0);
    json_error_t je;
    json_t *doc = json_loads(out, 0, &je);
    CHECK(doc != NULL);
    json_t *tools = json_object_get(doc, "tools");
    CHECK_INT(json_array_size(tools), 7); /* every built-in, search_knowledge_base included */
    size_t i;
    json_t *t;
    json_array_foreach(tools, i, t) {
        CHECK_STR(json_string_value(json_object_get(t, "kind")), "builtin");
        CHECK(json_is_object(json_object_get(t, "input_schema")));
    }
    CHECK_STR(json_string_value(json_object_get(json_object_get(doc, "agent"), "name")),
              "Parley Demo Store");
    json_decref(doc);
    /* Secrets expanded from the environment are masked. */
    char dir[64];
    CHECK(e2e_tmpdir(dir, sizeof dir) == 0);
    char path[128];
    snprintf(path, sizeof path, "%s/agent.json", dir);
    FILE *f = fopen(path, "w");
    fputs("{\"name\":\"Velo\",\"instructions\":\"Help.\",\"tools\":{\"http\":[{\"name\":\"w\","
          "\"description\":\"d\",\"input_schema\":{\"type\":\"object\"},\"url\":"
          "\"https://api.velo.test/w\",\"headers\":{\"Authorization\":\"Bearer ${VELO_KEY}\"}}]}}",
          f);
    fclose(f);
    snprintf(args, sizeof args, "agent show '%s'", path);
    CHECK_INT(run_parley("VELO_KEY=top-secret-42", args), 0);
    CHECK(strstr(out, "top-secret-42") == NULL);
    CHECK(strstr(out, "\"Authorization\": \"Bearer ***\"") != NULL);
    CHECK_INT(run_parley("", args), 1); /* VELO_KEY unset */
    CHECK(strstr(out, "/tools/http/0/headers/Authorization: environment variable \"VELO_KEY\" is "
                      "not set") != NULL);
    e2e_rmdir(dir);
}

static void test_serve_refuses_invalid_file(void)
{
    char dir[64], env[1200], args[1400];
    CHECK(e2e_tmpdir(dir, sizeof dir) == 0);
    snprintf(env, sizeof env, "PARLEY_AGENT='%s/tests/cases/agent_file/tool_names.yaml'", src());
    snprintf(args, sizeof args, "serve --port 0 --data '%s'", dir);
    int rc = run_parley(env, args);
    CHECK(rc != 0 && rc != 124); /* 124: timeout, i.e. it started serving */
    CHECK(strstr(out, "/tools/http/0/name: tool name \"lookup_order\" is already used") != NULL);
    CHECK(strstr(out, "/tools/http/1/name: tool name \"no spaces\" must match") != NULL);
    CHECK(strstr(out, "listening on") == NULL);
    snprintf(args, sizeof args, "serve --port 0 --data '%s' --agent '%s/tests/cases/agent_file/"
             "missing_url.yaml'", dir, src());
    rc = run_parley(NULL, args);
    CHECK(rc != 0 && rc != 124);
    CHECK(strstr(out, "/tools/http/0: missing required key \"url\"") != NULL);
    e2e_rmdir(dir);
}

static const char velo_agent[] =
    "name: Velo Bikes\n"
    "instructions: You are the assistant of {{agent_name}}, a bicycle shop. Be brief.\n"
    "greeting: Hi, this is Velo Bikes.\n"
    "tools:\n"
    "  builtin: [create_support_ticket, get_ticket_status]\n"
    "limits: {reply_tokens: 300}\n"
    "guardrails:\n"
    "  denied_topics:\n"
    "    - {topic: legal, patterns: [\"lawyer\"],\n"
    "       reply: \"Velo Bikes cannot give legal advice.\"}\n";

static void test_instructions_reach_the_model(void)
{
    struct fake_http f;
    CHECK_INT(fake_http_start(&f), 0);
    fake_http_push(&f, 200, "Content-Type: application/json\n",
                   "{\"id\":\"msg_01\",\"type\":\"message\",\"role\":\"assistant\",\"model\":"
                   "\"claude-test\",\"content\":[{\"type\":\"text\",\"text\":\"Velo here, how can "
                   "I help?\"}],\"stop_reason\":\"end_turn\",\"stop_sequence\":null,\"usage\":"
                   "{\"input_tokens\":12,\"output_tokens\":6}}",
                   (size_t)-1, 0);
    char dir[64], agent_path[128];
    CHECK(e2e_tmpdir(dir, sizeof dir) == 0);
    snprintf(agent_path, sizeof agent_path, "%s/velo.yaml", dir);
    FILE *af = fopen(agent_path, "w");
    fputs(velo_agent, af);
    fclose(af);
    static char e_agent[200], e_url[128];
    snprintf(e_agent, sizeof e_agent, "PARLEY_AGENT=%s", agent_path);
    snprintf(e_url, sizeof e_url, "ANTHROPIC_BASE_URL=%s", f.base_url);
    const char *env[] = {"PARLEY_MODEL=anthropic", "ANTHROPIC_API_KEY=test-key", e_url, e_agent,
                         NULL};
    struct e2e_server srv;
    char data[80];
    snprintf(data, sizeof data, "%s/data", dir);
    if (e2e_start_env(&srv, data, env) != 0) {
        CHECK(0);
        fake_http_stop(&f);
        return;
    }
    struct e2e_resp r = e2e_http(&srv, "POST", "/chat", "{\"message\":\"Hello there\"}");
    CHECK_INT(r.status, 200);
    CHECK_STR(e2e_str(&r, "reply"), "Velo here, how can I help?");
    e2e_resp_free(&r);
    CHECK_INT(fake_http_count(&f), 1);
    const struct fake_request *req = fake_http_request(&f, 0);
    json_t *body = req ? json_loads(req->body, 0, NULL) : NULL;
    CHECK_STR(json_string_value(json_object_get(body, "system")),
              "You are the assistant of Velo Bikes, a bicycle shop. Be brief.");
    CHECK_INT(json_integer_value(json_object_get(body, "max_tokens")), 300); /* limits */
    /* Only the built-in tools the file turns on are offered (after the registry honours
     * tools.builtin; today the registry offers every built-in). */
    CHECK(json_array_size(json_object_get(body, "tools")) >= 2);
    json_decref(body);
    /* A denied topic is answered without a model call. */
    r = e2e_http(&srv, "POST", "/chat", "{\"message\":\"Can my LAWYER call you?\"}");
    CHECK_INT(r.status, 200);
    CHECK_STR(e2e_str(&r, "reply"), "Velo Bikes cannot give legal advice.");
    e2e_resp_free(&r);
    CHECK_INT(fake_http_count(&f), 1);
    CHECK_INT(e2e_stop(&srv), 0);
    fake_http_stop(&f);
    e2e_rmdir(dir);
}

/* No agent file: the shipped demo agent's prompt is exactly the one that was compiled in. */
static void test_default_agent_prompt(void)
{
    struct fake_http f;
    CHECK_INT(fake_http_start(&f), 0);
    fake_http_push(&f, 200, "Content-Type: application/json\n",
                   "{\"id\":\"msg_02\",\"type\":\"message\",\"role\":\"assistant\",\"content\":"
                   "[{\"type\":\"text\",\"text\":\"Hello!\"}],\"stop_reason\":\"end_turn\","
                   "\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}",
                   (size_t)-1, 0);
    static char e_url[128];
    snprintf(e_url, sizeof e_url, "ANTHROPIC_BASE_URL=%s", f.base_url);
    const char *env[] = {"PARLEY_MODEL=anthropic", "ANTHROPIC_API_KEY=test-key", e_url, NULL};
    char dir[64];
    CHECK(e2e_tmpdir(dir, sizeof dir) == 0);
    struct e2e_server srv;
    if (e2e_start_env(&srv, dir, env) != 0) {
        CHECK(0);
        fake_http_stop(&f);
        return;
    }
    struct e2e_resp r = e2e_http(&srv, "POST", "/chat", "{\"message\":\"Hi\"}");
    CHECK_INT(r.status, 200);
    e2e_resp_free(&r);
    const struct fake_request *req = fake_http_request(&f, 0);
    json_t *body = req ? json_loads(req->body, 0, NULL) : NULL;
    CHECK_STR(json_string_value(json_object_get(body, "system")),
              "You are Parley, a friendly and precise customer-support agent for Parley Demo "
              "Store. Help customers with account access, orders, billing, refunds and tickets. "
              "Use the tools to act: ask for any detail a tool needs (such as the customer's email "
              "address) before calling it, never invent ticket numbers or order details, and tell "
              "the customer what you did.");
    CHECK_INT(json_array_size(json_object_get(body, "tools")), 7);
    json_decref(body);
    CHECK_INT(e2e_stop(&srv), 0);
    fake_http_stop(&f);
    e2e_rmdir(dir);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    RUN(test_validate_exit_codes);
    RUN(test_show);
    RUN(test_serve_refuses_invalid_file);
    RUN(test_instructions_reach_the_model);
    RUN(test_default_agent_prompt);
    curl_global_cleanup();
    return check_summary();
}
