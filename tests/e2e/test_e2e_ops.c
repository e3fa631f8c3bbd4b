/*
 * test_e2e_ops.c - issue 5 end to end against the real binary: Idempotency-Key, the action queue
 * (a worker that dies mid-action, duplicate delivery, dead letters and redrive), the transcript
 * archive (layout, redaction, flush on shutdown, lifecycle to the cold tier), the event log,
 * Prometheus metrics, X-Ray trace propagation and the per-turn execution path.
 */
#include <dirent.h>
#include <regex.h>
#include <sqlite3.h>
#include <time.h>

#include "base/xmalloc.h"
#include "check.h"
#include "e2e/e2e.h"
#include "queue/queue.h"

#define TOKEN "Authorization: Bearer ops-token"

static struct e2e_server srv;
static char dir[64];

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(1 << 22);
    size_t n = fread(buf, 1, (1 << 22) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static int count_lines_with(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; p && (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static struct e2e_resp chat_in(const char *sid, const char *text, const char *header)
{
    char body[512];
    if (sid)
        snprintf(body, sizeof body, "{\"sessionId\":\"%s\",\"message\":\"%s\"}", sid, text);
    else
        snprintf(body, sizeof body, "{\"message\":\"%s\"}", text);
    return e2e_http_ex(&srv, "POST", "/chat", body, -1, NULL, header);
}

static void test_idempotency_key(void)
{
    const char *body = "{\"message\":\"I can't log into my account\"}";
    struct e2e_resp a = e2e_http_ex(&srv, "POST", "/chat", body, -1, NULL, "Idempotency-Key: k-123");
    struct e2e_resp b = e2e_http_ex(&srv, "POST", "/chat", body, -1, NULL, "Idempotency-Key: k-123");
    CHECK_INT(a.status, 200);
    CHECK_INT(b.status, 200);
    CHECK_STR(b.body, a.body); /* the same response, byte for byte */
    char path[128];
    snprintf(path, sizeof path, "/sessions/%s", e2e_str(&a, "sessionId"));
    struct e2e_resp s = e2e_http(&srv, "GET", path, NULL);
    CHECK_INT(json_integer_value(json_object_get(s.json, "turns")), 1); /* ran once */
    e2e_resp_free(&s);
    struct e2e_resp c = e2e_http_ex(&srv, "POST", "/chat", "{\"message\":\"something else\"}", -1,
                                    NULL, "Idempotency-Key: k-123");
    CHECK_INT(c.status, 422);
    CHECK_STR(e2e_str(&c, "error.code"), "IdempotencyMismatch");
    e2e_resp_free(&a);
    e2e_resp_free(&b);
    e2e_resp_free(&c);
}

static int ticket_count(void)
{
    struct e2e_resp r = e2e_http_ex(&srv, "GET", "/tickets", NULL, 0, NULL, TOKEN);
    int n = (int)json_array_size(json_object_get(r.json, "tickets"));
    e2e_resp_free(&r);
    return n;
}

/* Queue counts of AgentActions as seen from the test. */
struct qwatch {
    struct queue *q;
    long long visible, in_flight; /* wait until the counts are exactly these */
};

static int counts_are(void *ud)
{
    struct qwatch *w = ud;
    struct queue_counts c = {0};
    struct err e;
    return queue_counts(w->q, QUEUE_AGENT_ACTIONS, &c, &e) == 0 && c.visible == w->visible &&
           c.in_flight == w->in_flight;
}

struct tickets_watch {
    int above; /* wait until the ticket count is above this */
};

static int tickets_above(void *ud)
{
    return ticket_count() > ((struct tickets_watch *)ud)->above;
}

static int queue_drained(void *ud)
{
    struct queue_counts c = {0};
    struct err e;
    return queue_counts(ud, QUEUE_AGENT_ACTIONS, &c, &e) == 0 && c.visible + c.in_flight == 0;
}

static int dlq_holds_one(void *ud)
{
    struct queue_counts c = {0};
    struct err e;
    return queue_counts(ud, QUEUE_AGENT_ACTIONS_DLQ, &c, &e) == 0 && c.visible == 1;
}

struct log_watch {
    const char *path; /* a log file */
    const char *line; /* wait until it holds this text */
};

static int log_has(void *ud)
{
    struct log_watch *w = ud;
    char *text = slurp(w->path);
    int found = text && strstr(text, w->line) != NULL;
    free(text);
    return found;
}

/* Starts `parley worker --threads 1` on the test's data directory, its log in DIR/NAME. */
static pid_t start_worker(const char *name)
{
    pid_t w = fork();
    if (w == 0) {
        char log[160];
        snprintf(log, sizeof log, "%s/%s", dir, name);
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 2);
        execl(getenv("PARLEY_BIN"), "parley", "worker", "--data", dir, "--threads", "1",
              (char *)NULL);
        _exit(127);
    }
    return w;
}

/* With no worker running, the action stays pending. A consumer takes the message and vanishes
 * without deleting it; then a real `parley worker` process takes it and is killed with SIGKILL
 * while the action runs (the test holds the store's write lock, so the action cannot finish
 * before the kill); after the visibility timeout a second worker runs it exactly once, and a
 * duplicate delivery of the same message changes nothing. */
static void test_worker_dies_mid_action(void)
{
    struct e2e_resp r = chat_in(NULL, "I can't log into my account", NULL);
    char sid[64];
    snprintf(sid, sizeof sid, "%s", e2e_str(&r, "sessionId"));
    e2e_resp_free(&r);
    int before = ticket_count();
    r = chat_in(sid, "It's jane.doe@example.com", NULL);
    CHECK_INT(r.status, 200);
    CHECK_STR(e2e_str(&r, "actions.0.status"), "pending");
    char action_id[128];
    snprintf(action_id, sizeof action_id, "%s", e2e_str(&r, "actions.0.id"));
    e2e_resp_free(&r);

    char qpath[128];
    snprintf(qpath, sizeof qpath, "%s/queue.db", dir);
    struct err e;
    struct queue_config qc = {0};
    struct queue *q = queue_sqlite_new(qpath, &qc, &e);
    CHECK(q != NULL);
    struct queue_receive_opts ro = {.max_messages = 1, .visibility_timeout_s = 60};
    json_t *msgs = NULL;
    CHECK(queue_receive(q, QUEUE_AGENT_ACTIONS, &ro, &msgs, &e) == 0);
    CHECK_INT(json_array_size(msgs), 1); /* taken, never deleted: this consumer vanished */
    json_t *m0 = json_array_get(msgs, 0);
    char *dup = xstrdup(json_string_value(json_object_get(m0, "Body")));
    char *receipt = xstrdup(json_string_value(json_object_get(m0, "ReceiptHandle")));
    json_decref(msgs);

    setenv("PARLEY_ACTION_VISIBILITY_S", "1", 1);
    setenv("PARLEY_OPERATOR_TOKEN", "ops-token", 1);
    /* The first worker starts while the message is still hidden by the vanished consumer. */
    pid_t w1 = start_worker("worker1.log");
    char w1log[160];
    snprintf(w1log, sizeof w1log, "%s/worker1.log", dir);
    struct log_watch ready = {w1log, "draining AgentActions"};
    CHECK(check_wait(log_has, &ready, 10000));
    /* Hold the store's write lock: the worker can read the action but not record its effect. */
    char spath[256];
    snprintf(spath, sizeof spath, "%s/parley.db", dir);
    sqlite3 *lock = NULL;
    CHECK(sqlite3_open(spath, &lock) == SQLITE_OK);
    CHECK(sqlite3_exec(lock, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK);
    /* The vanished consumer's message becomes visible again (as when its timeout runs out)... */
    CHECK(queue_change_visibility(q, QUEUE_AGENT_ACTIONS, receipt, 0, &e) == 0);
    free(receipt);
    /* ...and the first worker takes it: from here on the action is running in that process. */
    struct qwatch taken = {q, 0, 1};
    CHECK(check_wait(counts_are, &taken, 10000));
    CHECK(kill(w1, SIGKILL) == 0);
    int st1 = 0;
    CHECK(waitpid(w1, &st1, 0) == w1);
    CHECK(WIFSIGNALED(st1) && WTERMSIG(st1) == SIGKILL); /* killed, not finished */
    CHECK_INT(ticket_count(), before);                    /* the action did not complete */
    CHECK(sqlite3_exec(lock, "ROLLBACK", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(lock);

    /* The second worker gets the message once its visibility runs out and finishes the action. */
    pid_t w = start_worker("worker.log");
    struct tickets_watch tw = {before};
    CHECK(check_wait(tickets_above, &tw, 10000));
    /* A duplicate delivery of the same message: no second ticket. */
    char mid[37];
    CHECK(queue_send(q, QUEUE_AGENT_ACTIONS, dup, NULL, 0, mid, &e) == 0);
    CHECK(check_wait(queue_drained, q, 5000));
    CHECK_INT(ticket_count(), before + 1);
    free(dup);

    /* A malformed message is never dropped: three receives, then the dead-letter queue, then a
     * redrive puts it back. */
    CHECK(queue_send(q, QUEUE_AGENT_ACTIONS, "{\"not\":\"an action\"}", NULL, 0, mid, &e) == 0);
    CHECK(check_wait(dlq_holds_one, q, 10000));
    kill(w, SIGTERM);
    int st = 0;
    waitpid(w, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    r = e2e_http_ex(&srv, "GET", "/queue/stats", NULL, 0, NULL, TOKEN);
    CHECK_STR(e2e_str(&r, "queues.1.name"), "AgentActions-DLQ");
    CHECK_INT(json_integer_value(json_object_get(json_array_get(json_object_get(r.json, "queues"), 1),
                                                 "visible")),
              1);
    e2e_resp_free(&r);
    r = e2e_http_ex(&srv, "POST", "/queue/dlq/redrive", "{}", -1, NULL, TOKEN);
    CHECK_INT(r.status, 200);
    CHECK_INT(json_integer_value(json_object_get(r.json, "moved")), 1);
    e2e_resp_free(&r);
    struct queue_counts c = {0};
    queue_counts(q, QUEUE_AGENT_ACTIONS, &c, &e);
    CHECK_INT(c.visible, 1);
    long long purged = 0;
    queue_purge(q, QUEUE_AGENT_ACTIONS, &purged, &e);
    queue_free(q);
    (void)action_id;
}

static void test_trace_propagation(void)
{
    const char *root = "1-5759e988-bd862e3fe1be46a994272793";
    struct e2e_resp r = chat_in(NULL, "hello there",
                                "X-Amzn-Trace-Id: Root=1-5759e988-bd862e3fe1be46a994272793;"
                                "Parent=53995c3f42cd8ad8;Sampled=1");
    CHECK_INT(r.status, 200);
    e2e_resp_free(&r);
    /* The response header carries the same trace (checked through a raw request below). */
    char path[128];
    snprintf(path, sizeof path, "/traces/%s", root);
    r = e2e_http_ex(&srv, "GET", path, NULL, 0, NULL, TOKEN);
    CHECK_INT(r.status, 200);
    char *doc = json_dumps(r.json, 0);
    CHECK(doc && strstr(doc, "LoadContext") && strstr(doc, "BedrockInference") &&
          strstr(doc, "SaveConversation"));
    CHECK(doc && strstr(doc, "53995c3f42cd8ad8")); /* the caller's segment is the parent */
    /* Times are epoch seconds to the microsecond: a turn's segment has a real duration. */
    json_t *seg0 = json_array_get(json_object_get(r.json, "segments"), 0);
    double t0 = json_number_value(json_object_get(seg0, "start_time"));
    double t1 = json_number_value(json_object_get(seg0, "end_time"));
    CHECK(t0 > 1.7e9 && t1 > t0 && t1 - t0 < 60);
    free(doc);
    e2e_resp_free(&r);
    r = e2e_http(&srv, "GET", path, NULL);
    CHECK_INT(r.status, 401);
    e2e_resp_free(&r);
    r = e2e_http_ex(&srv, "GET", "/traces/1-00000000-000000000000000000000000", NULL, 0, NULL,
                    TOKEN);
    CHECK_INT(r.status, 404);
    e2e_resp_free(&r);
}

static void test_trace_header_on_response(void)
{
    CURL *c = curl_easy_init();
    char url[128];
    snprintf(url, sizeof url, "%s/health", srv.url);
    struct curl_slist *h = curl_slist_append(NULL, "X-Amzn-Trace-Id: Root=1-5759e988-00000000000000000000abcd;Sampled=1");
    struct e2e_buf hdrs = {NULL, 0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, e2e_on_data);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &hdrs);
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    CHECK(curl_easy_perform(c) == CURLE_OK);
    CHECK(hdrs.data && strcasestr(hdrs.data, "X-Amzn-Trace-Id: Root=1-5759e988-00000000000000000000abcd"));
    free(hdrs.data);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
}

static void test_metrics_text(void)
{
    struct e2e_resp r = e2e_http_ex(&srv, "GET", "/metrics", NULL, 0, NULL, TOKEN);
    CHECK_INT(r.status, 200);
    CHECK(strstr(r.ctype, "text/plain") != NULL);
    CHECK(strstr(r.body, "# TYPE parley_turns_total counter") != NULL);
    CHECK(strstr(r.body, "parley_turn_duration_seconds_bucket{le=\"+Inf\"}") != NULL);
    CHECK(strstr(r.body, "parley_model_latency_seconds") != NULL);
    CHECK(strstr(r.body, "parley_http_requests_total{") != NULL);
    /* Every sample line is `name{labels} value` or `name value`. */
    regex_t re;
    regcomp(&re, "^[a-zA-Z_:][a-zA-Z0-9_:]*(\\{.*\\})? [-+0-9.eEInfa]+$", REG_EXTENDED | REG_NOSUB);
    char *copy = strdup(r.body);
    int bad = 0, samples = 0;
    for (char *line = strtok(copy, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#')
            continue;
        samples++;
        if (regexec(&re, line, 0, NULL, 0) != 0) {
            fprintf(stderr, "bad sample line: %s\n", line);
            bad++;
        }
    }
    regfree(&re);
    free(copy);
    CHECK(samples > 10);
    CHECK_INT(bad, 0);
    e2e_resp_free(&r);
    r = e2e_http(&srv, "GET", "/metrics", NULL);
    CHECK_INT(r.status, 401);
    e2e_resp_free(&r);
}

static void test_execution_path(void)
{
    struct e2e_resp r = chat_in(NULL, "What is the status of TKT-000001?", NULL);
    char path[128];
    snprintf(path, sizeof path, "/sessions/%s/executions", e2e_str(&r, "sessionId"));
    e2e_resp_free(&r);
    r = e2e_http_ex(&srv, "GET", path, NULL, 0, NULL, TOKEN);
    CHECK_INT(r.status, 200);
    json_t *x = json_array_get(json_object_get(r.json, "executions"), 0);
    CHECK_STR(json_string_value(json_object_get(x, "status")), "SUCCEEDED");
    json_t *p = json_object_get(x, "path");
    const char *want[] = {"LoadContext",     "CheckHandoff",    "CallBedrock",
                          "CheckForActions", "ExecuteAction",   "CheckIterations",
                          "CallBedrock",     "CheckForActions", "SaveAndReturn"};
    CHECK_INT(json_array_size(p), 9);
    for (size_t i = 0; i < 9 && i < json_array_size(p); i++)
        CHECK_STR(json_string_value(json_object_get(json_array_get(p, i), "state")), want[i]);
    /* The Choices record the branch they took. */
    CHECK_STR(json_string_value(json_object_get(json_array_get(p, 3), "choice")), "ExecuteAction");
    CHECK_STR(json_string_value(json_object_get(json_array_get(p, 7), "choice")), "SaveAndReturn");
    CHECK_STR(json_string_value(json_object_get(json_array_get(p, 1), "type")), "Choice");
    /* A Task names the state it went on to, when it was entered, how long it took, its retries. */
    json_t *first = json_array_get(p, 0);
    CHECK_STR(json_string_value(json_object_get(first, "next")), "CheckHandoff");
    CHECK_STR(json_string_value(json_object_get(first, "type")), "Task");
    CHECK(json_integer_value(json_object_get(first, "enteredAt")) > 1700000000000LL);
    CHECK(json_is_real(json_object_get(first, "durationMs")));
    CHECK_INT(json_integer_value(json_object_get(first, "retries")), 0);
    CHECK(json_object_get(first, "error") == NULL);
    CHECK(json_object_get(json_array_get(p, 8), "next") == NULL); /* the end */
    CHECK(json_string_length(json_object_get(x, "traceId")) == 35);
    e2e_resp_free(&r);
}

static void test_streamed_turn_is_traced(void)
{
    struct e2e_resp r = e2e_http_ex(&srv, "POST", "/chat", "{\"message\":\"hello\"}", -1, NULL,
                                    "Accept: text/event-stream");
    CHECK_INT(r.status, 200);
    const char *done = strstr(r.body, "event: done\ndata: ");
    json_t *d = done ? json_loads(done + strlen("event: done\ndata: "), JSON_DISABLE_EOF_CHECK,
                                  NULL) : NULL;
    char path[160];
    snprintf(path, sizeof path, "/sessions/%s/executions",
             json_string_value(json_object_get(d, "sessionId")));
    json_decref(d);
    e2e_resp_free(&r);
    r = e2e_http_ex(&srv, "GET", path, NULL, 0, NULL, TOKEN);
    const char *trace = json_string_value(
        json_object_get(json_array_get(json_object_get(r.json, "executions"), 0), "traceId"));
    CHECK(trace && strlen(trace) == 35);
    snprintf(path, sizeof path, "/traces/%s", trace ? trace : "none");
    e2e_resp_free(&r);
    r = e2e_http_ex(&srv, "GET", path, NULL, 0, NULL, TOKEN);
    CHECK_INT(r.status, 200);
    CHECK(strstr(r.body, "SaveConversation") != NULL);
    e2e_resp_free(&r);
}

/* Finds the archived transcript of sid under root; returns its path or "" */
static void find_file(const char *root, const char *name, char *out, size_t cap)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "find '%s' -name '%s*' -type f 2>/dev/null | head -n 1", root, name);
    FILE *p = popen(cmd, "r");
    out[0] = '\0';
    if (p && fgets(out, (int)cap, p))
        out[strcspn(out, "\n")] = '\0';
    if (p)
        pclose(p);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    static const char *const env[] = {"PARLEY_OPERATOR_TOKEN=ops-token", "PARLEY_WORKERS=0",
                                      "PARLEY_ACTION_WAIT_MS=300",
                                      "PARLEY_ACTION_VISIBILITY_S=1",
                                      "PARLEY_ARCHIVE_DELAY_MS=60000", NULL};
    if (e2e_tmpdir(dir, sizeof dir) != 0 || e2e_start_env(&srv, dir, env) != 0) {
        check_record("server starts", 0);
        return check_summary();
    }
    RUN(test_idempotency_key);
    RUN(test_worker_dies_mid_action);
    RUN(test_trace_propagation);
    RUN(test_trace_header_on_response);
    RUN(test_metrics_text);
    RUN(test_execution_path);
    RUN(test_streamed_turn_is_traced);

    /* The seed conversation with the email: archived on shutdown (the delay is 60 s, so only the
     * flush on a clean stop can have written it), redacted, in the date layout. */
    struct e2e_resp r = chat_in(NULL, "I can't log into my account", NULL);
    char sid[64];
    snprintf(sid, sizeof sid, "%s", e2e_str(&r, "sessionId"));
    e2e_resp_free(&r);
    r = chat_in(sid, "call me on +44 20 7946 0958 or jane.doe@example.com", NULL);
    e2e_resp_free(&r);
    check_record("server exits 0 on SIGTERM", e2e_stop(&srv) == 0);

    /* serve packs a day's transcripts into one file (hot/{yyyy}/{mm}/{dd}/.pack): the key is
     * found with `parley archive list` and the document read with `parley archive get`. */
    char cmd[512], key[256] = "", lpath_[160], gpath[160];
    snprintf(cmd, sizeof cmd, "'%s' archive list --data '%s' > '%s/list.json'",
             getenv("PARLEY_BIN"), dir, dir);
    check_record("archive list runs", system(cmd) == 0);
    snprintf(lpath_, sizeof lpath_, "%s/list.json", dir);
    char *listed = slurp(lpath_);
    const char *at = listed ? strstr(listed, sid) : NULL;
    if (at) {
        const char *q = at;
        while (q > listed && q[-1] != '"')
            q--;
        const char *end = strchr(at, '"');
        if (end && (size_t)(end - q) < sizeof key)
            snprintf(key, sizeof key, "%.*s", (int)(end - q), q);
    }
    free(listed);
    char hot[256], pack[512];
    snprintf(hot, sizeof hot, "%s/archive/hot", dir);
    find_file(hot, ".pack", pack, sizeof pack);
    check_record("transcripts are packed, one file per day (no file per session)",
                 pack[0] != '\0' && strstr(pack, "/archive/hot/") != NULL);
    snprintf(cmd, sizeof cmd, "'%s' archive get '%s' --data '%s' > '%s/hot.json'",
             getenv("PARLEY_BIN"), key, dir, dir);
    snprintf(gpath, sizeof gpath, "%s/hot.json", dir);
    char *doc = key[0] && system(cmd) == 0 ? slurp(gpath) : NULL;
    check_record("transcript archived on shutdown", doc != NULL);
    regex_t re;
    regcomp(&re, "^[0-9]{4}/[0-9]{2}/[0-9]{2}/[A-Za-z0-9_-]+\\.json$", REG_EXTENDED | REG_NOSUB);
    check_record("archive key is {yyyy}/{mm}/{dd}/{sessionId}.json",
                 regexec(&re, key, 0, NULL, 0) == 0);
    regfree(&re);
    check_record("archived transcript is redacted",
                 doc && strstr(doc, "[EMAIL]") && strstr(doc, "[PHONE]") &&
                     !strstr(doc, "jane.doe@example.com") && !strstr(doc, "7946"));
    check_record("archived transcript holds the conversation",
                 doc && strstr(doc, "I can't log into my account"));

    /* Lifecycle: --days 0 moves everything to the cold tier; reading still works. */
    snprintf(cmd, sizeof cmd, "'%s' archive lifecycle --days 0 --data '%s' > '%s/lc.json'",
             getenv("PARLEY_BIN"), dir, dir);
    check_record("archive lifecycle runs", system(cmd) == 0);
    char cold[256], cfound[512];
    snprintf(cold, sizeof cold, "%s/archive/cold", dir);
    find_file(cold, sid, cfound, sizeof cfound);
    check_record("lifecycle moved the transcript to the cold tier (.gz)",
                 strstr(cfound, ".json.gz") != NULL);
    snprintf(cmd, sizeof cmd, "'%s' archive get '%s' --data '%s' > '%s/got.json'",
             getenv("PARLEY_BIN"), key, dir, dir);
    snprintf(gpath, sizeof gpath, "%s/got.json", dir);
    int got = system(cmd) == 0;
    char *back = slurp(gpath);
    check_record("cold transcript reads back identical",
                 got && back && doc && strcmp(back, doc) == 0);
    free(back);
    free(doc);

    /* The event log: the CloudWatch Logs stand-in, redacted. */
    char lpath[160];
    snprintf(lpath, sizeof lpath, "%s/logs/parley_events.log", dir);
    char *log = slurp(lpath);
    check_record("events logged: conversation_started", count_lines_with(log, "\"conversation_started\"") >= 3);
    check_record("events logged: action_executed", count_lines_with(log, "\"action_executed\"") >= 1);
    check_record("events logged: message_received, with its turn",
                 count_lines_with(log, "\"message_received\"") >= 3 &&
                     count_lines_with(log, "\"turn\":1,") >= 1);
    check_record("events logged: conversation_archived", count_lines_with(log, "\"conversation_archived\"") >= 1);
    check_record("events are redacted", log && !strstr(log, "jane.doe@example.com"));
    free(log);
    snprintf(lpath, sizeof lpath, "%s/logs/emf.log", dir);
    log = slurp(lpath);
    json_t *emf = log ? json_loads(log, JSON_DISABLE_EOF_CHECK, NULL) : NULL;
    check_record("EMF line per turn",
                 emf && json_object_get(json_object_get(emf, "_aws"), "CloudWatchMetrics"));
    json_decref(emf);
    free(log);
    e2e_rmdir(dir);
    curl_global_cleanup();
    return check_summary();
}
