/*
 * test_e2e_agent_reload.c - SIGHUP reloads the agent file of a running `parley serve`: a turn in
 * flight during the reload finishes with the old instructions, the next turn (of the same,
 * earlier session) reaches the model stand-in with the new ones, an invalid file is refused with
 * its problems logged while the server keeps serving the last good agent, and both outcomes are
 * counted in /metrics.
 */
#include <pthread.h>

#include "check.h"
#include "e2e/e2e.h"
#include "fakes/fake_http.h"

#define OPERATOR "Authorization: Bearer reload-test-token"

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* Does the server's log hold needle at least `times` times? */
struct log_wait {
    const char *path;
    const char *needle;
    int times;
};

static int log_has(void *ud)
{
    const struct log_wait *w = ud;
    FILE *f = fopen(w->path, "r");
    char line[2048];
    int n = 0;
    while (f && fgets(line, sizeof line, f))
        if (strstr(line, w->needle))
            n++;
    if (f)
        fclose(f);
    return n >= w->times;
}

struct count_wait {
    struct fake_http *f;
    size_t n;
};

static int model_calls_reach(void *ud)
{
    const struct count_wait *w = ud;
    return fake_http_count(w->f) >= w->n;
}

/* A /chat request on its own thread (the turn that is in flight during the reload). */
struct chat_call {
    const struct e2e_server *srv;
    struct e2e_resp r;
};

static void *chat_thread(void *arg)
{
    struct chat_call *c = arg;
    c->r = e2e_http(c->srv, "POST", "/chat", "{\"message\":\"What is the status of TKT-000999?\"}");
    return NULL;
}

static const char *system_of(struct fake_http *f, size_t i, json_t **keep)
{
    const struct fake_request *req = fake_http_request(f, i);
    *keep = req ? json_loads(req->body, 0, NULL) : NULL;
    return json_string_value(json_object_get(*keep, "system"));
}

static const char text_reply[] =
    "{\"id\":\"msg_t\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[{\"type\":"
    "\"text\",\"text\":\"Done.\"}],\"stop_reason\":\"end_turn\",\"usage\":{\"input_tokens\":5,"
    "\"output_tokens\":1}}";

static const char tool_reply[] =
    "{\"id\":\"msg_u\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[{\"type\":"
    "\"tool_use\",\"id\":\"toolu_01\",\"name\":\"get_ticket_status\",\"input\":{\"ticket_id\":"
    "\"TKT-000999\"}}],\"stop_reason\":\"tool_use\",\"usage\":{\"input_tokens\":5,"
    "\"output_tokens\":3}}";

static void test_sighup_reload(void)
{
    struct fake_http f;
    CHECK_INT(fake_http_start(&f), 0);
    /* turn 1: a tool call whose reply is held back long enough for the reload to happen while
     * the turn is in flight (the test checks that it did), then the final text */
    fake_http_push(&f, 200, "Content-Type: application/json\n", tool_reply, (size_t)-1, 4000);
    fake_http_push(&f, 200, "Content-Type: application/json\n", text_reply, (size_t)-1, 0);
    fake_http_push(&f, 200, "Content-Type: application/json\n", text_reply, (size_t)-1, 0);
    fake_http_push(&f, 200, "Content-Type: application/json\n", text_reply, (size_t)-1, 0);
    char dir[64], agent[128], data[96], logp[160];
    CHECK(e2e_tmpdir(dir, sizeof dir) == 0);
    snprintf(agent, sizeof agent, "%s/agent.yaml", dir);
    snprintf(data, sizeof data, "%s/data", dir);
    snprintf(logp, sizeof logp, "%s/server.log", data);
    write_file(agent, "name: Alpha\ninstructions: You are Alpha.\ngreeting: Hi from Alpha.\n");
    static char e_agent[200], e_url[128];
    snprintf(e_agent, sizeof e_agent, "PARLEY_AGENT=%s", agent);
    snprintf(e_url, sizeof e_url, "ANTHROPIC_BASE_URL=%s", f.base_url);
    const char *env[] = {"PARLEY_MODEL=anthropic", "ANTHROPIC_API_KEY=test-key", e_url, e_agent,
                         "PARLEY_OPERATOR_TOKEN=reload-test-token", NULL};
    struct e2e_server srv;
    if (e2e_start_env(&srv, data, env) != 0) {
        CHECK(0);
        fake_http_stop(&f);
        return;
    }

    /* GET /agent: the public name and greeting of the agent file. */
    struct e2e_resp r = e2e_http(&srv, "GET", "/agent", NULL);
    CHECK_INT(r.status, 200);
    CHECK_STR(e2e_str(&r, "name"), "Alpha");
    CHECK_STR(e2e_str(&r, "greeting"), "Hi from Alpha.");
    /* Without a brand in the file, the widget's brand is the agent's name and the default colour. */
    CHECK_STR(e2e_str(&r, "brand.name"), "Alpha");
    CHECK(json_is_null(json_object_get(json_object_get(r.json, "brand"), "color")));
    CHECK_INT(json_object_size(r.json), 3); /* name, greeting, brand: nothing else of the file */
    e2e_resp_free(&r);

    /* Turn 1 starts with Alpha and is held at its first model call. */
    struct chat_call call = {.srv = &srv};
    pthread_t th;
    CHECK_INT(pthread_create(&th, NULL, chat_thread, &call), 0);
    struct count_wait first = {&f, 1};
    CHECK(check_wait(model_calls_reach, &first, 20000));
    write_file(agent, "name: Beta\ninstructions: You are Beta.\ngreeting: Hi from Beta.\n");
    CHECK_INT(kill(srv.pid, SIGHUP), 0);
    struct log_wait reloaded = {logp, "reloaded the agent from", 1};
    CHECK(check_wait(log_has, &reloaded, 20000));
    CHECK_INT(fake_http_count(&f), 1); /* the reload finished while turn 1 was in flight */
    pthread_join(th, NULL);
    CHECK_INT(call.r.status, 200);
    CHECK_STR(e2e_str(&call.r, "reply"), "Done.");
    CHECK_STR(e2e_str(&call.r, "actions.0.tool"), "get_ticket_status");
    char sid[80];
    snprintf(sid, sizeof sid, "%s", e2e_str(&call.r, "sessionId"));
    e2e_resp_free(&call.r);
    CHECK_INT(fake_http_count(&f), 2);
    json_t *b0, *b1, *b2, *b3;
    CHECK_STR(system_of(&f, 0, &b0), "You are Alpha.");
    /* the tool round trip after the reload still belongs to turn 1: the old definition */
    CHECK_STR(system_of(&f, 1, &b1), "You are Alpha.");

    /* Turn 2 continues the session from before the reload, as Beta, with its history. */
    r = e2e_http(&srv, "GET", "/agent", NULL);
    CHECK_STR(e2e_str(&r, "name"), "Beta");
    CHECK_STR(e2e_str(&r, "greeting"), "Hi from Beta.");
    e2e_resp_free(&r);
    char body[200];
    snprintf(body, sizeof body, "{\"sessionId\":\"%s\",\"message\":\"Thanks!\"}", sid);
    r = e2e_http(&srv, "POST", "/chat", body);
    CHECK_INT(r.status, 200);
    CHECK_STR(e2e_str(&r, "sessionId"), sid);
    CHECK_INT(json_integer_value(json_object_get(r.json, "turn")), 2);
    e2e_resp_free(&r);
    CHECK_STR(system_of(&f, 2, &b2), "You are Beta.");
    CHECK(json_array_size(json_object_get(b2, "messages")) >= 4); /* turn 1's messages kept */

    /* An invalid file is refused with its problem logged; Beta stays and the server serves. */
    write_file(agent, "name: Gamma\ninstructions: You are Gamma.\ntools:\n  http:\n"
                      "    - {name: w, description: d, input_schema: {type: object}}\n");
    CHECK_INT(kill(srv.pid, SIGHUP), 0);
    struct log_wait refused = {logp, "cannot reload", 1};
    CHECK(check_wait(log_has, &refused, 20000));
    struct log_wait problem = {logp, "/tools/http/0: missing required key \"url\"", 1};
    CHECK(log_has(&problem));
    r = e2e_http(&srv, "POST", "/chat", body);
    CHECK_INT(r.status, 200);
    CHECK_INT(json_integer_value(json_object_get(r.json, "turn")), 3);
    e2e_resp_free(&r);
    CHECK_STR(system_of(&f, 3, &b3), "You are Beta.");

    r = e2e_http_ex(&srv, "GET", "/metrics", NULL, 0, NULL, OPERATOR);
    CHECK_INT(r.status, 200);
    CHECK(r.body && strstr(r.body, "parley_agent_reloads_total{result=\"ok\"} 1") != NULL);
    CHECK(r.body && strstr(r.body, "parley_agent_reloads_total{result=\"failed\"} 1") != NULL);
    e2e_resp_free(&r);
    json_decref(b0);
    json_decref(b1);
    json_decref(b2);
    json_decref(b3);
    CHECK_INT(e2e_stop(&srv), 0); /* the old definitions were freed cleanly (ASan would say) */
    fake_http_stop(&f);
    e2e_rmdir(dir);
}

/* `parley worker` reloads too (its tools run queued actions), and a bad file leaves it running. */
static void test_worker_sighup(void)
{
    char dir[64], agent[128], logp[160], env_agent[200];
    CHECK(e2e_tmpdir(dir, sizeof dir) == 0);
    snprintf(agent, sizeof agent, "%s/agent.yaml", dir);
    snprintf(logp, sizeof logp, "%s/worker.log", dir);
    snprintf(env_agent, sizeof env_agent, "PARLEY_AGENT=%s", agent);
    write_file(agent, "name: Alpha\ninstructions: You are Alpha.\n");
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(logp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        putenv(env_agent);
        execl(getenv("PARLEY_BIN"), "parley", "worker", "--data", dir, "--threads", "1",
              (char *)NULL);
        _exit(127);
    }
    struct log_wait started = {logp, "draining AgentActions", 1};
    CHECK(check_wait(log_has, &started, 30000));
    write_file(agent, "name: Beta\ninstructions: You are Beta.\n");
    CHECK_INT(kill(pid, SIGHUP), 0);
    struct log_wait reloaded = {logp, "reloaded the agent from", 1};
    CHECK(check_wait(log_has, &reloaded, 20000));
    write_file(agent, "name: [not, a, string]\n");
    CHECK_INT(kill(pid, SIGHUP), 0);
    struct log_wait refused = {logp, "cannot reload", 1};
    CHECK(check_wait(log_has, &refused, 20000));
    CHECK_INT(kill(pid, SIGTERM), 0);
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0); /* still running until asked to stop */
    e2e_rmdir(dir);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    RUN(test_sighup_reload);
    RUN(test_worker_sighup);
    curl_global_cleanup();
    return check_summary();
}
