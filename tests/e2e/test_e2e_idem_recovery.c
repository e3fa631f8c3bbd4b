/*
 * test_e2e_idem_recovery.c - issue 15: an Idempotency-Key whose turn died with the process is
 * taken over by the retry after a restart. A slow OpenAI-compatible fake holds the turn open
 * after its ticket was created; `parley serve` is killed with SIGKILL there, restarted, and the
 * retry with the same key answers 200 within seconds with exactly one ticket, whose number it
 * carries.
 */
#include <pthread.h>

#include "check.h"
#include "e2e/e2e.h"
#include "fakes/fake_http.h"

#define BODY "{\"message\":\"My order never arrived, please open a ticket. I am jo@example.com\"}"
#define KEY "Idempotency-Key: crash-key-1"

static const char tool_call[] =
    "{\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
    "\"content\":null,\"tool_calls\":[{\"id\":\"call_t1\",\"type\":\"function\",\"function\":"
    "{\"name\":\"create_support_ticket\",\"arguments\":\"{\\\"title\\\":\\\"Order missing\\\","
    "\\\"description\\\":\\\"Order never arrived\\\",\\\"priority\\\":\\\"high\\\","
    "\\\"email\\\":\\\"jo@example.com\\\"}\"}}]},\"finish_reason\":\"tool_calls\"}],"
    "\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":7}}";

static const char final_text[] =
    "{\"id\":\"chatcmpl-2\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
    "\"content\":\"I have opened a ticket for you.\"},\"finish_reason\":\"stop\"}],"
    "\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":8}}";

static struct e2e_server srv;
static struct fake_http model;

struct pending {
    struct e2e_resp r;
};

static void *first_request(void *arg)
{
    struct pending *p = arg;
    p->r = e2e_http_ex(&srv, "POST", "/chat", BODY, -1, NULL, KEY);
    return NULL;
}

/* The turn reached its second model call: the ticket tool has run. */
static int second_call_arrived(void *ud)
{
    (void)ud;
    return fake_http_count(&model) >= 2;
}

static int ticket_count(void)
{
    struct e2e_resp t =
        e2e_http_ex(&srv, "GET", "/tickets", NULL, 0, NULL, "Authorization: Bearer ops-token");
    int n = t.status == 200 ? (int)json_array_size(json_object_get(t.json, "tickets")) : -1;
    e2e_resp_free(&t);
    return n;
}

static void test_kill_mid_turn_then_retry(void)
{
    char dir[256];
    CHECK_INT(e2e_tmpdir(dir, sizeof dir), 0);
    CHECK_INT(fake_http_start(&model), 0);
    char base_env[128];
    snprintf(base_env, sizeof base_env, "OPENAI_BASE_URL=%s/v1/", model.base_url);
    const char *env[] = {"PARLEY_MODEL=openai", base_env, "PARLEY_MODEL_MAX_RETRIES=0",
                         "PARLEY_OPERATOR_TOKEN=ops-token", "PARLEY_IDEMPOTENCY_LEASE_S=3600",
                         NULL};
    /* First run: the tool call, then a model that takes 8 s (the crash window). After the
     * restart: the same tool call (same tool-use id) and the answer at once. */
    fake_http_push(&model, 200, "Content-Type: application/json\n", tool_call, (size_t)-1, 0);
    fake_http_push(&model, 200, "Content-Type: application/json\n", final_text, (size_t)-1, 8000);
    fake_http_push(&model, 200, "Content-Type: application/json\n", tool_call, (size_t)-1, 0);
    fake_http_push(&model, 200, "Content-Type: application/json\n", final_text, (size_t)-1, 0);

    CHECK_INT(e2e_start_env(&srv, dir, env), 0);
    struct pending p = {{0}};
    pthread_t t;
    pthread_create(&t, NULL, first_request, &p);
    CHECK_INT(check_wait(second_call_arrived, NULL, 20000), 1);
    CHECK_INT(ticket_count(), 1); /* created before the crash */
    CHECK(kill(srv.pid, SIGKILL) == 0);
    int st = 0;
    waitpid(srv.pid, &st, 0); /* reaped: its pid is gone, not a zombie */
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    srv.pid = 0;
    pthread_join(t, NULL);
    CHECK(p.r.status != 200); /* the client never got an answer */
    e2e_resp_free(&p.r);

    CHECK_INT(e2e_start_env(&srv, dir, env), 0);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct e2e_resp r = e2e_http_ex(&srv, "POST", "/chat", BODY, -1, NULL, KEY);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    CHECK_INT(r.status, 200);
    CHECK(secs < 5.0); /* taken over at once, not after the hour-long lease */
    CHECK(r.body && strstr(r.body, "TKT-") != NULL); /* the ticket's number reaches the customer */
    CHECK_INT(ticket_count(), 1);                    /* found, not created again */
    /* A second retry replays the finished response. */
    struct e2e_resp again = e2e_http_ex(&srv, "POST", "/chat", BODY, -1, NULL, KEY);
    CHECK_INT(again.status, 200);
    CHECK_STR(again.body, r.body);
    CHECK_INT(fake_http_count(&model), 4);
    e2e_resp_free(&again);
    e2e_resp_free(&r);
    CHECK_INT(e2e_stop(&srv), 0);
    fake_http_stop(&model);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    RUN(test_kill_mid_turn_then_retry);
    curl_global_cleanup();
    return check_summary();
}
