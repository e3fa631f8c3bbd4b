/*
 * test_e2e_bike_shop.c - the second example agent (examples/bike-shop) end to end with the
 * offline model over HTTP against `parley serve`: its own name, greeting and instructions
 * (`parley agent show`, with the MCP server's tool resolved), its knowledge base and denied topic,
 * a warranty question that asks for the serial number and then calls the example's HTTP backend
 * (backend.py, which records each request with its Idempotency-Key and X-Parley-Session), a parts
 * question answered by the example's stdio MCP server (parts_mcp.py), and a repair booking that
 * runs only after the customer's "yes" (and not at all after a "no").
 */
#include "check.h"
#include "e2e/e2e.h"

static char out[1 << 17];
static char dir[64];          /* the test's scratch directory */
static char backend_log[160]; /* what backend.py recorded, one JSON line per request */
static char backend_url[64];  /* http://127.0.0.1:PORT of backend.py */
static pid_t backend_pid;

static const char *src(void)
{
    return getenv("PARLEY_SRC") ? getenv("PARLEY_SRC") : ".";
}

/* Runs `[env] parley ARGS`; returns the exit code and fills out with stdout, and stderr too when
 * with_stderr is set. */
static int run_parley_ex(const char *env, const char *args, int with_stderr)
{
    char out_path[] = "/tmp/parley-bikeshop-XXXXXX";
    int ofd = mkstemp(out_path);
    if (ofd < 0)
        return -1;
    close(ofd);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s timeout 60 '%s' %s < /dev/null > '%s' %s", env ? env : "",
             getenv("PARLEY_BIN"), args, out_path, with_stderr ? "2>&1" : "2>/dev/null");
    int st = system(cmd);
    FILE *f = fopen(out_path, "r");
    size_t n = f ? fread(out, 1, sizeof out - 1, f) : 0;
    out[n] = '\0';
    if (f)
        fclose(f);
    unlink(out_path);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int run_parley(const char *env, const char *args)
{
    return run_parley_ex(env, args, 0);
}

/* The requests backend.py recorded so far, as an array (new reference). */
static json_t *backend_requests(void)
{
    json_t *arr = json_array();
    FILE *f = fopen(backend_log, "r");
    char line[8192];
    while (f && fgets(line, sizeof line, f)) {
        json_t *j = json_loads(line, 0, NULL);
        if (j)
            json_array_append_new(arr, j);
    }
    if (f)
        fclose(f);
    return arr;
}

static int backend_listening(void *ud)
{
    (void)ud;
    char path[160], line[256];
    snprintf(path, sizeof path, "%s/backend.out", dir);
    FILE *f = fopen(path, "r");
    int found = 0;
    while (f && !found && fgets(line, sizeof line, f)) {
        char *p = strstr(line, "listening on ");
        if (p) {
            snprintf(backend_url, sizeof backend_url, "%.40s", p + strlen("listening on "));
            backend_url[strcspn(backend_url, "\r\n")] = '\0';
            found = 1;
        }
    }
    if (f)
        fclose(f);
    return found;
}

/* Starts examples/bike-shop/backend.py on a free port. Returns 0 once it listens. */
static int start_backend(void)
{
    char script[600], outp[160];
    snprintf(script, sizeof script, "%s/examples/bike-shop/backend.py", src());
    snprintf(outp, sizeof outp, "%s/backend.out", dir);
    snprintf(backend_log, sizeof backend_log, "%s/backend.log", dir);
    backend_pid = fork();
    if (backend_pid == 0) {
        int fd = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        execlp("python3", "python3", script, "--port", "0", "--log", backend_log, (char *)NULL);
        _exit(127);
    }
    return check_wait(backend_listening, NULL, 10000) ? 0 : -1;
}

static void stop_backend(void)
{
    if (backend_pid > 0) {
        kill(backend_pid, SIGTERM);
        waitpid(backend_pid, NULL, 0);
        backend_pid = 0;
    }
}

/* One chat message in session sid (empty: a new session, whose id is written back). */
static struct e2e_resp say(const struct e2e_server *s, char *sid, size_t sid_len,
                           const char *text)
{
    json_t *body = json_pack("{s:s}", "message", text);
    if (sid[0])
        json_object_set_new(body, "sessionId", json_string(sid));
    char *b = json_dumps(body, JSON_COMPACT);
    struct e2e_resp r = e2e_http(s, "POST", "/chat", b);
    free(b);
    json_decref(body);
    if (!sid[0])
        snprintf(sid, sid_len, "%s", e2e_str(&r, "sessionId"));
    return r;
}

/* The agent as `parley agent show` resolves it: the bike shop's own words, and every tool,
 * including the one the MCP server lists, with its schema. */
static void test_show(void)
{
    char env[200], args[700];
    snprintf(env, sizeof env, "VELO_BACKEND_URL='%s'", backend_url);
    snprintf(args, sizeof args, "agent show '%s/examples/bike-shop/agent.yaml'", src());
    CHECK_INT(run_parley(env, args), 0);
    json_t *doc = json_loads(out, 0, NULL);
    CHECK(doc != NULL);
    json_t *agent = json_object_get(doc, "agent");
    CHECK_STR(json_string_value(json_object_get(agent, "name")), "Velo Cycles");
    CHECK_STR(json_string_value(json_object_get(agent, "greeting")),
              "Hi, this is Velo Cycles! Ask about your warranty, spare parts or a workshop slot.");
    const char *instr = json_string_value(json_object_get(agent, "instructions"));
    CHECK(instr && strstr(instr, "a bicycle shop and workshop in Freiburg") != NULL);
    int seen_mcp = 0, seen_book = 0, seen_warranty = 0;
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(doc, "tools"), i, t) {
        const char *name = json_string_value(json_object_get(t, "name"));
        const char *kind = json_string_value(json_object_get(t, "kind"));
        json_t *schema = json_object_get(t, "input_schema");
        if (strcmp(name, "parts__find_part") == 0) {
            seen_mcp = 1;
            CHECK_STR(kind, "mcp");
            CHECK_INT(json_array_size(json_object_get(
                          json_object_get(json_object_get(schema, "properties"), "kind"), "enum")),
                      6);
        } else if (strcmp(name, "book_repair") == 0) {
            seen_book = 1;
            CHECK(json_is_true(json_object_get(t, "confirm")));
        } else if (strcmp(name, "check_warranty") == 0) {
            seen_warranty = 1;
            CHECK_STR(kind, "http");
        }
    }
    CHECK(seen_mcp && seen_book && seen_warranty);
    json_decref(doc);
}

/* An MCP server that cannot be started: `agent show` and `serve` fail naming it, unless the
 * entry is optional. */
static void test_mcp_server_down(void)
{
    char path[128], args[300], data[128];
    snprintf(path, sizeof path, "%s/down.yaml", dir);
    FILE *f = fopen(path, "w");
    fputs("name: Velo Down\ninstructions: x\ntools:\n  builtin: [escalate_to_human]\n"
          "  mcp:\n    - {name: stockroom, command: [/nonexistent/parts-server]}\n",
          f);
    fclose(f);
    snprintf(args, sizeof args, "agent show '%s'", path);
    CHECK_INT(run_parley_ex(NULL, args, 1), 1);
    CHECK(strstr(out, "MCP server 'stockroom'") != NULL);
    CHECK(strstr(out, "\"optional\": true") != NULL);
    static char e_agent[200];
    snprintf(e_agent, sizeof e_agent, "PARLEY_AGENT=%s", path);
    const char *env[] = {"PARLEY_MODEL=offline", e_agent, NULL};
    struct e2e_server srv;
    snprintf(data, sizeof data, "%s/data-down", dir);
    CHECK(e2e_start_env(&srv, data, env) != 0); /* exits before listening (reaped there) */
    char log[200], line[1024];
    snprintf(log, sizeof log, "%s/server.log", data);
    FILE *lf = fopen(log, "r");
    int named = 0;
    while (lf && fgets(line, sizeof line, lf))
        named |= strstr(line, "MCP server 'stockroom'") != NULL;
    if (lf)
        fclose(lf);
    CHECK(named);
    /* Optional: the agent runs without the server's tools. */
    f = fopen(path, "w");
    fputs("name: Velo Down\ninstructions: x\ntools:\n  builtin: [escalate_to_human]\n"
          "  mcp:\n    - {name: stockroom, command: [/nonexistent/parts-server], optional: true}\n",
          f);
    fclose(f);
    CHECK_INT(run_parley(NULL, args), 0);
    json_t *doc = json_loads(out, 0, NULL);
    CHECK_INT(json_array_size(json_object_get(doc, "tools")), 1);
    json_decref(doc);
}

static void test_conversations(void)
{
    char data[128], e_agent[700], e_url[128];
    snprintf(data, sizeof data, "%s/data", dir);
    snprintf(e_agent, sizeof e_agent, "PARLEY_AGENT=%s/examples/bike-shop/agent.yaml", src());
    snprintf(e_url, sizeof e_url, "VELO_BACKEND_URL=%s", backend_url);
    const char *env[] = {"PARLEY_MODEL=offline", e_agent, e_url, NULL};
    struct e2e_server srv;
    if (e2e_start_env(&srv, data, env) != 0) {
        CHECK(0);
        return;
    }
    char sid[128] = "";
    /* Warranty: the serial number is asked for first; nothing reaches the backend yet. */
    struct e2e_resp r = say(&srv, sid, sizeof sid, "Is my bike still under warranty?");
    CHECK_INT(r.status, 200);
    CHECK(strstr(e2e_str(&r, "reply"), "serial number") != NULL);
    e2e_resp_free(&r);
    json_t *reqs = backend_requests();
    CHECK_INT(json_array_size(reqs), 0);
    json_decref(reqs);
    r = say(&srv, sid, sizeof sid, "It is VB123456");
    CHECK_INT(r.status, 200);
    CHECK(strstr(e2e_str(&r, "reply"), "Velo Trail 29") != NULL);   /* the backend's answer */
    CHECK(strstr(e2e_str(&r, "reply"), "2029-05-02") != NULL);
    CHECK_STR(e2e_str(&r, "actions.0.tool"), "check_warranty");
    e2e_resp_free(&r);
    reqs = backend_requests();
    CHECK_INT(json_array_size(reqs), 1);
    json_t *w = json_array_get(reqs, 0);
    CHECK_STR(json_string_value(json_object_get(w, "path")), "/warranty");
    CHECK_STR(json_string_value(json_object_get(json_object_get(w, "body"), "serial")),
              "VB123456");
    CHECK_STR(json_string_value(json_object_get(w, "session")), sid);
    const char *key = json_string_value(json_object_get(w, "idempotency_key"));
    CHECK(key && strlen(key) > strlen(sid) && strncmp(key, sid, strlen(sid)) == 0);
    json_decref(reqs);

    /* Parts: the MCP server's find_part, its structuredContent in the reply. */
    r = say(&srv, sid, sizeof sid, "Do you have brake pads in stock?");
    CHECK_INT(r.status, 200);
    CHECK_STR(e2e_str(&r, "actions.0.tool"), "parts__find_part");
    CHECK_STR(e2e_str(&r, "actions.0.status"), "succeeded");
    CHECK(strstr(e2e_str(&r, "reply"), "Shimano B05S resin pads") != NULL);
    e2e_resp_free(&r);

    /* A repair booking waits for the customer's yes. */
    r = say(&srv, sid, sizeof sid, "I want to book a repair for VB123456 on 2026-12-10");
    CHECK_INT(r.status, 200);
    CHECK_STR(e2e_str(&r, "confirmation.tool"), "book_repair");
    CHECK_STR(e2e_str(&r, "actions.0.status"), "awaiting_confirmation");
    CHECK(strstr(e2e_str(&r, "reply"), "please confirm") != NULL);
    e2e_resp_free(&r);
    reqs = backend_requests();
    CHECK_INT(json_array_size(reqs), 1); /* not booked yet */
    json_decref(reqs);
    r = say(&srv, sid, sizeof sid, "yes");
    CHECK_INT(r.status, 200);
    CHECK_STR(e2e_str(&r, "actions.0.status"), "succeeded");
    CHECK(strstr(e2e_str(&r, "reply"), "R-1001") != NULL);
    e2e_resp_free(&r);
    reqs = backend_requests();
    CHECK_INT(json_array_size(reqs), 2);
    json_t *b = json_array_get(reqs, 1);
    CHECK_STR(json_string_value(json_object_get(b, "path")), "/repairs");
    CHECK_STR(json_string_value(json_object_get(json_object_get(b, "body"), "date")),
              "2026-12-10");
    CHECK_STR(json_string_value(json_object_get(b, "session")), sid);
    CHECK(json_string_value(json_object_get(b, "idempotency_key")) != NULL);
    json_decref(reqs);

    /* "no" cancels: a second booking in a new session never reaches the backend. */
    char sid2[128] = "";
    r = say(&srv, sid2, sizeof sid2, "Book a repair for my bike VB654321 on 2026-12-11");
    CHECK_STR(e2e_str(&r, "confirmation.tool"), "book_repair");
    e2e_resp_free(&r);
    r = say(&srv, sid2, sizeof sid2, "no");
    CHECK_INT(r.status, 200);
    CHECK(r.json && !json_object_get(r.json, "confirmation"));
    e2e_resp_free(&r);
    reqs = backend_requests();
    CHECK_INT(json_array_size(reqs), 2);
    json_decref(reqs);

    /* The shop's own knowledge base and denied topic. */
    char sid3[128] = "";
    r = say(&srv, sid3, sizeof sid3, "What are your opening hours?");
    CHECK(strstr(e2e_str(&r, "reply"), "opening-hours-and-store.md") != NULL);
    CHECK(strstr(e2e_str(&r, "reply"), "Saturday from 10:00") != NULL);
    e2e_resp_free(&r);
    r = say(&srv, sid3, sizeof sid3, "Is a Canyon better than your bikes?");
    CHECK_STR(e2e_str(&r, "reply"), "I can only help with Velo Cycles bikes, parts and repairs.");
    e2e_resp_free(&r);
    CHECK_INT(e2e_stop(&srv), 0);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (e2e_tmpdir(dir, sizeof dir) != 0 || start_backend() != 0) {
        CHECK(0);
        fprintf(stderr, "cannot start examples/bike-shop/backend.py\n");
    } else {
        RUN(test_show);
        RUN(test_mcp_server_down);
        RUN(test_conversations);
    }
    stop_backend();
    e2e_rmdir(dir);
    curl_global_cleanup();
    return check_summary();
}
