/*
 * test_e2e_ptest.c - `parley test` itself (issue 12), driven as a child process: a failing scenario
 * is reported with its first failing turn (expected vs got), an unknown key is rejected with file
 * and JSON location (exit 2), regex and path captures feed later turns, the JUnit and JSON files
 * hold the results, pass^k sees a deliberately flaky model (an OpenAI-compatible fake that
 * alternates answers), record then replay works with no network and a replay miss names the
 * scenario, the turn and the closest recording, and --url runs the same scenarios against a
 * `parley serve` child; "Save as test" (GET /sessions/{id}/scenario) gives a scenario that passes,
 * and `parley replay` re-runs a stored session side by side.
 */
#include <sys/wait.h>

#include "check.h"
#include "e2e/e2e.h"
#include "fakes/fake_http.h"

static char tmp[64]; /* this test's scratch directory */
static char *out;    /* stdout+stderr of the last run (owned) */

static void write_file(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", tmp, name);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        fwrite(chunk, 1, n, m);
    fclose(m);
    fclose(f);
    return buf;
}

/* Runs `parley SUB ARGS...` with extra "K=V" environment (NULL-ended lists); the output goes to
 * `out`. Returns the exit code. */
static int run_parley(const char *const *env, const char *sub, const char *const *args)
{
    const char *bin = getenv("PARLEY_BIN");
    const char *src = getenv("PARLEY_SRC");
    char log[128];
    snprintf(log, sizeof log, "%s/run.log", tmp);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        static char kb[1100], sm[1100];
        snprintf(kb, sizeof kb, "PARLEY_KB_DIR=%s/kb", src ? src : ".");
        snprintf(sm, sizeof sm, "PARLEY_STATEMACHINE=%s/statemachine/agent.asl.json",
                 src ? src : ".");
        putenv(kb);
        putenv(sm);
        for (const char *const *e = env; e && *e; e++)
            putenv((char *)*e);
        const char *argv[32] = {bin ? bin : "build/san/parley", sub};
        int n = 2;
        for (const char *const *a = args; *a && n < 31; a++)
            argv[n++] = *a;
        argv[n] = NULL;
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    free(out);
    out = read_file(log);
    if (!out)
        out = strdup("");
    if (!WIFEXITED(st) || (WEXITSTATUS(st) > 2)) /* a crash or a sanitizer report */
        fprintf(stderr, "parley test ended with status %d:\n%s\n", st, out);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int run_test(const char *const *env, const char *const *args)
{
    return run_parley(env, "test", args);
}

#define HAS(s) (strstr(out, (s)) != NULL)
#define PATH(name) (snprintf(path, sizeof path, "%s/%s", tmp, (name)), path)

/* The issue's own example: a regex capture feeds the next turn's message and expectation. */
static const char *const login_flow =
    "{\"name\": \"login problem opens a ticket\", \"user\": \"cust-42-{{trial_id}}\",\n"
    " \"turns\": [\n"
    "  {\"user\": \"I can't log into my account\", \"expect\": {\"reply_matches\": \"e-?mail\","
    " \"no_tools\": true, \"status\": \"active\"}},\n"
    "  {\"user\": \"It's jane.doe@example.com\", \"expect\": {\"tools\": "
    "[\"create_support_ticket\"], \"tool_args\": {\"create_support_ticket\": {\"priority\": "
    "\"high\"}}, \"reply_matches\": \"TKT-\\\\d+\", \"capture\": {\"ticket\": \"TKT-\\\\d+\", "
    "\"tid\": {\"path\": \"actions.0.result.ticketId\"}}}},\n"
    "  {\"user\": \"What's the status of {{ticket}}?\", \"expect\": {\"reply_matches\": "
    "\"{{tid}}\", \"tools_called\": [\"get_ticket_status\"]}}],\n"
    " \"effects\": {\"tickets\": [{\"id\": \"{{ticket}}\", \"priority\": \"high\"}], "
    "\"session\": {\"turns\": 3}, \"transcript_tools\": [\"create_support_ticket\", "
    "\"get_ticket_status\"]}}\n";

static void test_passing_with_captures(void)
{
    char path[256];
    write_file("pass/login.json", login_flow);
    /* YAML goes through the agent file's reader */
    write_file("pass/sub/greet.yml", "name: greets in YAML\n"
                                     "turns:\n"
                                     "  - user: hello\n"
                                     "    expect:\n"
                                     "      no_tools: true\n"
                                     "      reply_matches: 'help'\n"
                                     "      status: active\n");
    const char *args[] = {PATH("pass"), "--trials", "2", NULL};
    CHECK_INT(run_test(NULL, args), 0);
    CHECK(HAS("PASS login problem opens a ticket (2/2 trials)"));
    CHECK(HAS("PASS greets in YAML (2/2 trials)"));
    CHECK(HAS("pass^1 = 1.000 (4/4 trials)"));
    CHECK(HAS("\n2 passed, 0 failed"));
}

/* On a terminal (script(1) gives it one) a progress line shows scenario i/n and trial j/k; into a
 * pipe or file only plain lines go. */
static void test_progress_line_on_a_terminal(void)
{
    char path[256], cmd[1200];
    const char *bin = getenv("PARLEY_BIN");
    const char *src = getenv("PARLEY_SRC");
    if (access("/usr/bin/script", X_OK) != 0) {
        printf("# no script(1): the terminal case is not checked\n");
        CHECK(0);
        return;
    }
    snprintf(cmd, sizeof cmd,
             "PARLEY_KB_DIR=%s/kb PARLEY_STATEMACHINE=%s/statemachine/agent.asl.json "
             "/usr/bin/script -qec '%s test %s --trials 2' /dev/null > %s/tty.log 2>&1",
             src ? src : ".", src ? src : ".", bin ? bin : "build/san/parley", PATH("pass"), tmp);
    CHECK_INT(system(cmd), 0);
    char log[128];
    snprintf(log, sizeof log, "%s/tty.log", tmp);
    char *text = read_file(log);
    CHECK(text && strstr(text, "\r\033[K[1/2] login problem opens a ticket, trial 1/2"));
    CHECK(text && strstr(text, "\r\033[K[1/2] login problem opens a ticket, trial 2/2"));
    CHECK(text && strstr(text, "\r\033[K[2/2] greets in YAML, trial 1/2"));
    free(text);
    const char *args[] = {PATH("pass"), NULL};
    CHECK_INT(run_test(NULL, args), 0);
    CHECK(!HAS("\033[K") && !HAS("trial 1/1\r"));
}

static void test_failing_reports_first_turn_and_files(void)
{
    char path[256], junit[256], json[256];
    write_file("fail/a.json",
               "{\"name\": \"fails <on purpose> & \\\"quoted\\\"\", \"turns\": [\n"
               " {\"user\": \"hello\", \"expect\": {\"reply_not_matches\": \"TKT-\"}},\n"
               " {\"user\": \"I can't log into my account\", \"expect\": {\"reply_matches\": "
               "\"no such words\", \"tools\": [\"create_support_ticket\"]}},\n"
               " {\"user\": \"never sent\"}]}\n");
    write_file("fail/b.json", "{\"name\": \"capture that does not match\", \"turns\": [\n"
                              " {\"user\": \"hello\", \"expect\": {\"capture\": {\"t\": "
                              "\"TKT-[0-9]+\"}}}]}\n");
    snprintf(junit, sizeof junit, "%s/junit.xml", tmp);
    snprintf(json, sizeof json, "%s/result.json", tmp);
    const char *args[] = {PATH("fail"), "--junit", junit, "--json", json, NULL};
    CHECK_INT(run_test(NULL, args), 1);
    CHECK(HAS("FAIL fails <on purpose> & \"quoted\" (0/1 trials)"));
    CHECK(HAS("trial 1/1 failed at turn 2, customer says \"I can't log into my account\""));
    CHECK(HAS("expected the reply to match /no such words/"));
    CHECK(HAS("expected tool create_support_ticket to be called and succeed"));
    CHECK(HAS("got: HTTP 200, status active, reply \""));
    CHECK(HAS("actions: none"));
    CHECK(HAS("capture t: /TKT-[0-9]+/ does not match the reply"));
    CHECK(HAS("\n0 passed, 2 failed"));

    char *x = read_file(junit);
    CHECK(x != NULL);
    if (x) {
        CHECK(strstr(x, "<testsuite name=\"parley test\" tests=\"2\" failures=\"2\"") != NULL);
        CHECK(strstr(x, "<testcase name=\"fails &lt;on purpose&gt; &amp; &quot;quoted&quot;\" "
                        "classname=\"") != NULL);
        CHECK(strstr(x, "fail/a.json\"") != NULL);
        CHECK(strstr(x, "<failure message=\"0/1 trials passed; trial 1 failed at turn 2\"") !=
              NULL);
        CHECK(strstr(x, "customer says &quot;I can&apos;t log into my account&quot;") != NULL);
        /* well formed enough: every testcase closes, no raw '<' or '&' escapes into text */
        int open = 0, close = 0;
        for (const char *p = x; (p = strstr(p, "<testcase ")); p++)
            open++;
        for (const char *p = x; (p = strstr(p, "</testcase>")); p++)
            close++;
        CHECK_INT(open, 2);
        CHECK_INT(close, 2);
        CHECK(strstr(x, "<on purpose>") == NULL);
        free(x);
    }
    json_t *doc = json_load_file(json, 0, NULL);
    CHECK(doc != NULL);
    json_t *sum = json_object_get(doc, "summary");
    CHECK_INT(json_integer_value(json_object_get(sum, "scenarios")), 2);
    CHECK_INT(json_integer_value(json_object_get(sum, "failed")), 2);
    json_t *a = json_array_get(json_object_get(doc, "scenarios"), 0);
    CHECK_STR(json_string_value(json_object_get(a, "name")), "fails <on purpose> & \"quoted\"");
    CHECK(json_is_false(json_object_get(a, "passed")));
    CHECK_INT(json_integer_value(json_object_get(json_object_get(a, "failure"), "turn")), 2);
    CHECK(json_is_string(
        json_object_get(json_object_get(json_object_get(a, "failure"), "got"), "reply")));
    json_decref(doc);
}

static void test_unknown_key_rejected(void)
{
    char path[256];
    write_file("bad/typo.json",
               "{\"name\": \"typo\", \"turns\": [{\"user\": \"hi\"},\n"
               " {\"user\": \"hello\", \"expect\": {\"reply_matchez\": \"x\"}}]}\n");
    const char *args[] = {PATH("bad/typo.json"), NULL};
    CHECK_INT(run_test(NULL, args), 2);
    CHECK(HAS("bad/typo.json: $.turns[1].expect.reply_matchez: unknown key \"reply_matchez\""));
    write_file("bad/regex.json", "{\"name\": \"r\", \"turns\": [{\"user\": \"hi\", \"expect\": "
                                 "{\"reply_matches\": \"(\"}}]}\n");
    const char *args2[] = {PATH("bad/regex.json"), NULL};
    CHECK_INT(run_test(NULL, args2), 2);
    CHECK(HAS("$.turns[0].expect.reply_matches: invalid regular expression"));
    write_file("bad/typo.yaml", "name: typo\nturns:\n  - user: hi\n    expect: {tool: [x]}\n");
    const char *args4[] = {PATH("bad/typo.yaml"), NULL};
    CHECK_INT(run_test(NULL, args4), 2);
    CHECK(HAS("bad/typo.yaml: $.turns[0].expect.tool: unknown key \"tool\""));
    write_file("bad/broken.yaml", "name: [unclosed\n");
    const char *args5[] = {PATH("bad/broken.yaml"), NULL};
    CHECK_INT(run_test(NULL, args5), 2);
    CHECK(HAS("bad/broken.yaml: line "));
    const char *args3[] = {"--trials", "0", PATH("pass"), NULL};
    CHECK_INT(run_test(NULL, args3), 2);
    CHECK(HAS("--trials must be"));
}

/* An OpenAI-compatible chat completion whose text is `text`. */
static void push_completion(struct fake_http *f, const char *text)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"model\":\"fake\","
             "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"%s\"},"
             "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":9,"
             "\"completion_tokens\":3,\"total_tokens\":12}}",
             text);
    fake_http_push(f, 200, "Content-Type: application/json\n", body, (size_t)-1, 0);
}

static const char
    *const greet = "{\"name\": \"greets\", \"turns\": [{\"user\": \"hello there\", \"expect\": "
                   "{\"reply_matches\": \"^hello\"}}]}\n";

static void test_flaky_model_pass_k(void)
{
    char path[256], base[128];
    struct fake_http f;
    CHECK_INT(fake_http_start(&f), 0);
    for (int i = 0; i < 2; i++) {
        push_completion(&f, "Hello! How can I help?");
        push_completion(&f, "Good day. What do you need?");
    }
    snprintf(base, sizeof base, "OPENAI_BASE_URL=%s", f.base_url);
    const char *env[] = {"PARLEY_MODEL=openai", "OPENAI_API_KEY=sk-test-secret-1234", base,
                         "PARLEY_MODEL_MAX_RETRIES=0", NULL};
    write_file("flaky/greet.json", greet);
    const char *args[] = {PATH("flaky"), "--trials", "4", NULL};
    CHECK_INT(run_test(env, args), 1);
    CHECK(HAS("FAIL greets (2/4 trials)"));
    CHECK(HAS("pass^1 = 0.500 (2/4 trials)  pass^4 = 0.000 (0/1 scenarios)"));
    CHECK(HAS("trial 2/4 failed at turn 1"));
    CHECK_INT(fake_http_count(&f), 4);
    fake_http_stop(&f);
}

static void test_record_then_replay(void)
{
    char path[256], base[128], rec[256];
    struct fake_http f;
    CHECK_INT(fake_http_start(&f), 0);
    push_completion(&f, "Hello! How can I help?");
    snprintf(base, sizeof base, "OPENAI_BASE_URL=%s", f.base_url);
    snprintf(rec, sizeof rec, "%s/recording", tmp);
    const char *env[] = {"PARLEY_MODEL=openai", "OPENAI_API_KEY=sk-test-secret-1234", base,
                         "PARLEY_MODEL_MAX_RETRIES=0", NULL};
    write_file("rr/greet.json", greet);
    const char *args[] = {PATH("rr"), "--record", rec, NULL};
    CHECK_INT(run_test(env, args), 0);
    CHECK_INT(fake_http_count(&f), 1);

    /* one recording, an index line naming the customer's words, no credential anywhere */
    char index[300];
    snprintf(index, sizeof index, "%s/index.txt", rec);
    char *idx = read_file(index);
    CHECK(idx && strstr(idx, "hello there") && strlen(idx) > 66);
    if (idx && strlen(idx) > 66) {
        char one[400];
        snprintf(one, sizeof one, "%s/%.64s.json", rec, idx);
        char *pair = read_file(one);
        CHECK(pair && strstr(pair, "\"request\"") && strstr(pair, "Hello! How can I help?"));
        CHECK(pair && !strstr(pair, "sk-test-secret") && !strcasestr(pair, "authorization"));
        free(pair);
    }
    free(idx);

    /* replay: the fake has nothing left to say and must not be asked */
    const char *args2[] = {PATH("rr"), "--replay", rec, "--trials", "2", NULL};
    CHECK_INT(run_test(env, args2), 0);
    CHECK(HAS("PASS greets (2/2 trials)"));
    CHECK_INT(fake_http_count(&f), 1);

    /* a changed prompt is a replay miss naming scenario, turn and the closest recording */
    write_file("rr2/changed.json", "{\"name\": \"greets differently\", \"turns\": [{\"user\": "
                                   "\"hello there!\", \"expect\": {\"reply_matches\": "
                                   "\"hello\"}}]}\n");
    const char *args3[] = {PATH("rr2"), "--replay", rec, NULL};
    CHECK_INT(run_test(env, args3), 1);
    CHECK(HAS("greets differently (") && HAS("failed at turn 1, customer says \"hello there!\""));
    CHECK(HAS("model replay miss"));
    CHECK(HAS("the closest recorded request is"));
    CHECK_INT(fake_http_count(&f), 1);
    fake_http_stop(&f);
}

static void test_url_against_serve(void)
{
    char path[256], data[64];
    struct e2e_server srv;
    const char *src = getenv("PARLEY_SRC");
    static char kb[1100], sm[1100];
    snprintf(kb, sizeof kb, "PARLEY_KB_DIR=%s/kb", src ? src : ".");
    snprintf(sm, sizeof sm, "PARLEY_STATEMACHINE=%s/statemachine/agent.asl.json", src ? src : ".");
    const char *senv[] = {"PARLEY_OPERATOR_TOKEN=ptest-token", kb, sm, NULL};
    CHECK_INT(e2e_tmpdir(data, sizeof data), 0);
    if (e2e_start_env(&srv, data, senv) < 0) {
        CHECK(0);
        return;
    }
    write_file("url/login.json", login_flow);
    const char *env[] = {"PARLEY_OPERATOR_TOKEN=ptest-token", NULL};
    const char *args[] = {PATH("url"), "--url", srv.url, "--trials", "2", "--jobs", "2", NULL};
    CHECK_INT(run_test(env, args), 0);
    CHECK(HAS("PASS login problem opens a ticket (2/2 trials)"));
    /* the turns really went to the server: its ticket list holds both trials' tickets */
    struct e2e_resp r = e2e_http_ex(&srv, "GET", "/tickets", NULL, 0, NULL,
                                    "Authorization: Bearer ptest-token");
    CHECK_INT(json_array_size(json_object_get(r.json, "tickets")), 2);
    e2e_resp_free(&r);
    /* and a failing expectation fails over HTTP too */
    write_file("url2/greet.json", "{\"name\": \"wrong\", \"turns\": [{\"user\": \"hello\", "
                                  "\"expect\": {\"reply_matches\": \"^no such reply$\"}}]}\n");
    const char *args2[] = {PATH("url2"), "--url", srv.url, NULL};
    CHECK_INT(run_test(env, args2), 1);
    CHECK(HAS("expected the reply to match /^no such reply$/"));

    /* Save as test: a session's transcript becomes a scenario that passes against the same agent */
    r = e2e_http_ex(&srv, "GET", "/sessions", NULL, 0, NULL, "Authorization: Bearer ptest-token");
    char sid_buf[80] = "";
    const char *sid = NULL;
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(r.json, "sessions"), i, s)
        if (json_integer_value(json_object_get(s, "turns")) == 3)
            snprintf(sid_buf, sizeof sid_buf, "%s",
                     json_string_value(json_object_get(s, "sessionId")));
    sid = sid_buf[0] ? sid_buf : NULL;
    CHECK(sid != NULL);
    char route[128];
    snprintf(route, sizeof route, "/sessions/%s/scenario", sid ? sid : "x");
    struct e2e_resp denied = e2e_http(&srv, "GET", route, NULL);
    CHECK_INT(denied.status, 401);
    e2e_resp_free(&denied);
    struct e2e_resp sc = e2e_http_ex(&srv, "GET", route, NULL, 0, NULL,
                                     "Authorization: Bearer ptest-token");
    e2e_resp_free(&r);
    CHECK_INT(sc.status, 200);
    json_t *turns = json_object_get(sc.json, "turns");
    CHECK_INT(json_array_size(turns), 3);
    json_t *t1 = json_object_get(json_array_get(turns, 0), "expect");
    json_t *t2 = json_object_get(json_array_get(turns, 1), "expect");
    CHECK(json_is_true(json_object_get(t1, "no_tools")));
    CHECK_STR(json_string_value(json_array_get(json_object_get(t2, "tools"), 0)),
              "create_support_ticket");
    CHECK_STR(json_string_value(json_object_get(json_object_get(json_object_get(t2, "tool_args"),
                                                                "create_support_ticket"),
                                                "email")),
              "jane.doe@example.com");
    CHECK_STR(json_string_value(json_object_get(json_array_get(turns, 1), "user")),
              "It's jane.doe@example.com");
    char saved[200];
    snprintf(saved, sizeof saved, "%s/saved.json", tmp);
    CHECK_INT(json_dump_file(sc.json, saved, JSON_INDENT(2)), 0);
    e2e_resp_free(&sc);
    const char *args3[] = {saved, "--url", srv.url, NULL};
    CHECK_INT(run_test(env, args3), 0);
    CHECK(HAS("1 passed, 0 failed"));

    /* parley replay: the stored conversation against the current agent, old and new side by side
     * (the offline model is deterministic, so the first turn is the same) */
    const char *args4[] = {sid ? sid : "x", "--data", data, NULL};
    CHECK_INT(run_parley(env, "replay", args4), 0);
    CHECK(HAS("(3 customer messages), replayed on model offline"));
    CHECK(HAS("turn 1  customer: I can't log into my account   [same]"));
    CHECK(HAS("turn 2  customer: It's jane.doe@example.com"));
    CHECK(HAS("| create_support_ticket(succeeded)"));
    CHECK(HAS("\n3 turns, "));
    const char *args5[] = {"NoSuchSession", "--data", data, NULL};
    CHECK_INT(run_parley(env, "replay", args5), 1);
    CHECK(HAS("cannot read session 'NoSuchSession'"));
    CHECK_INT(e2e_stop(&srv), 0);
    e2e_rmdir(data);
}

/* PARLEY_MODEL_RECORD / PARLEY_MODEL_REPLAY on `parley serve`: the same decorator for the server.
 */
static void test_server_record_replay(void)
{
    char data[64], data2[64], rec[256], renv[300], penv[300];
    struct e2e_server srv;
    const char *src = getenv("PARLEY_SRC");
    static char kb[1100], sm[1100];
    snprintf(kb, sizeof kb, "PARLEY_KB_DIR=%s/kb", src ? src : ".");
    snprintf(sm, sizeof sm, "PARLEY_STATEMACHINE=%s/statemachine/agent.asl.json", src ? src : ".");
    snprintf(rec, sizeof rec, "%s/server-recording", tmp);
    snprintf(renv, sizeof renv, "PARLEY_MODEL_RECORD=%s", rec);
    snprintf(penv, sizeof penv, "PARLEY_MODEL_REPLAY=%s", rec);
    const char *body = "{\"message\": \"I can't log into my account\"}";

    CHECK_INT(e2e_tmpdir(data, sizeof data), 0);
    const char *env1[] = {renv, kb, sm, NULL};
    if (e2e_start_env(&srv, data, env1) < 0) {
        CHECK(0);
        return;
    }
    struct e2e_resp first = e2e_http(&srv, "POST", "/chat", body);
    CHECK_INT(first.status, 200);
    CHECK_INT(e2e_stop(&srv), 0);
    char index[300];
    snprintf(index, sizeof index, "%s/index.txt", rec);
    char *idx = read_file(index);
    CHECK(idx && strstr(idx, "I can't log into my account"));
    free(idx);

    CHECK_INT(e2e_tmpdir(data2, sizeof data2), 0);
    const char *env2[] = {penv, kb, sm, NULL};
    if (e2e_start_env(&srv, data2, env2) < 0) {
        CHECK(0);
        e2e_resp_free(&first);
        return;
    }
    struct e2e_resp again = e2e_http(&srv, "POST", "/chat", body);
    CHECK_INT(again.status, 200);
    CHECK_STR(e2e_str(&again, "reply"), e2e_str(&first, "reply"));
    struct e2e_resp other = e2e_http(&srv, "POST", "/chat", "{\"message\": \"hello there\"}");
    CHECK(strcmp(e2e_str(&other, "reply"), e2e_str(&first, "reply")) != 0);
    CHECK_INT(e2e_stop(&srv), 0);
    char log[300];
    snprintf(log, sizeof log, "%s/server.log", data2);
    char *text = read_file(log);
    CHECK(text && strstr(text, "model replay miss") && strstr(text, "closest recorded request"));
    free(text);
    e2e_resp_free(&first);
    e2e_resp_free(&again);
    e2e_resp_free(&other);

    /* both at once is a configuration error: the server does not start */
    const char *env3[] = {renv, penv, kb, sm, NULL};
    CHECK(e2e_start_env(&srv, data2, env3) < 0);
    text = read_file(log);
    CHECK(text && strstr(text, "PARLEY_MODEL_RECORD and PARLEY_MODEL_REPLAY exclude each other"));
    free(text);
    e2e_rmdir(data);
    e2e_rmdir(data2);
}

/* --agent FILE: the scenarios run against that agent file (here one without the ticket tool, so
 * the login scenario that passes with the demo agent fails), and a missing file is exit 2. */
static void test_agent_flag(void)
{
    char path[256], agent[256];
    snprintf(agent, sizeof agent, "%s/noticket.yaml", tmp);
    write_file("noticket.yaml", "name: No Tickets\ninstructions: You help with orders only.\n"
                                "tools:\n  builtin:\n    - lookup_order\n"
                                "    - escalate_to_human\n");
    const char *args[] = {PATH("pass/login.json"), "--agent", agent, NULL};
    CHECK_INT(run_test(NULL, args), 1);
    CHECK(HAS("FAIL login problem opens a ticket (0/1 trials)"));
    CHECK(HAS("expected tool create_support_ticket to be called and succeed") ||
          HAS("expected the reply to match /e-?mail/"));
    const char *args2[] = {PATH("pass/login.json"), "--agent", "/nonexistent/agent.yaml", NULL};
    CHECK_INT(run_test(NULL, args2), 2);
    CHECK(HAS("cannot open agent file '/nonexistent/agent.yaml'"));
    const char *args3[] = {PATH("pass/login.json"), NULL};
    CHECK_INT(run_test(NULL, args3), 0); /* the default agent still passes it */
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    snprintf(tmp, sizeof tmp, "/tmp/parley-ptest.XXXXXX");
    if (!mkdtemp(tmp))
        return 1;
    const char *dirs[] = {"pass", "pass/sub", "fail", "bad", "flaky", "rr", "rr2", "url", "url2"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        char d[128];
        snprintf(d, sizeof d, "%s/%s", tmp, dirs[i]);
        mkdir(d, 0755);
    }
    RUN(test_passing_with_captures);
    RUN(test_progress_line_on_a_terminal);
    RUN(test_failing_reports_first_turn_and_files);
    RUN(test_unknown_key_rejected);
    RUN(test_agent_flag);
    RUN(test_flaky_model_pass_k);
    RUN(test_record_then_replay);
    RUN(test_url_against_serve);
    RUN(test_server_record_replay);
    free(out);
    e2e_rmdir(tmp);
    curl_global_cleanup();
    return check_summary();
}
