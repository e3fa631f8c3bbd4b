/*
 * test_http_client_cap.c - the client's process-wide cap on calls in progress: under a low
 * open-file limit, more parked calls than the descriptors could carry all answer (the excess
 * waits for a place) instead of failing to connect or aborting on a multi handle that cannot be
 * created. Its own binary: the cap is read from RLIMIT_NOFILE at the process's first call.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "base/sched.h"
#include "base/xmalloc.h"
#include "check.h"
#include "fakes/fake_http.h"
#include "http/client.h"

struct in_task {
    struct http_client *c;
    const char *url;
    int ok; /* the call returned 200 with the scripted body */
};

static void call_task(void *ud)
{
    struct in_task *t = ud;
    struct http_client_request req = {.method = "GET", .url = t->url, .max_retries = 0};
    struct http_client_response resp;
    struct err e = {0};
    t->ok = http_client_do(t->c, &req, &resp, &e) == 0 && resp.status == 200 && resp.body &&
            strcmp(resp.body, "slow") == 0;
    if (!t->ok)
        printf("# call failed: status %ld, %s\n", resp.status, e.message);
    http_client_response_release(&resp);
}

/* 32 slow calls (the fake server's whole script) on two scheduler threads with an open-file
 * limit of 80 (a cap of 8 calls): uncapped they would need about 128 descriptors (client socket,
 * the multi handle's socket pair and the fake server's accepted socket each). */
static void test_calls_over_the_cap_wait(void)
{
    struct rlimit rl;
    CHECK_INT(getrlimit(RLIMIT_NOFILE, &rl), 0);
    rl.rlim_cur = 80;
    CHECK_INT(setrlimit(RLIMIT_NOFILE, &rl), 0);
    struct fake_http f;
    CHECK_INT(fake_http_start(&f), 0);
    enum { N = FAKE_MAX_SCRIPT };
    for (int i = 0; i < N; i++)
        fake_http_push(&f, 200, NULL, "slow", (size_t)-1, 300);
    struct http_client_config cfg = {.timeout_ms = 60000, .max_retries = -1};
    struct http_client *c = http_client_new(&cfg);
    struct err err = {0};
    struct sched *s = sched_start(2, 0, &err);
    CHECK(s != NULL);
    static struct in_task ts[N];
    for (int i = 0; s && i < N; i++) {
        ts[i] = (struct in_task){c, f.base_url, 0};
        CHECK_INT(sched_submit(s, call_task, &ts[i]), 0);
    }
    CHECK_INT(sched_stop(s, 120000), 0);
    int ok = 0;
    for (int i = 0; i < N; i++)
        ok += ts[i].ok;
    CHECK_INT(ok, N);
    CHECK_INT(fake_http_count(&f), N);
    http_client_free(c);
    fake_http_stop(&f);
}

int main(void)
{
    xmalloc_init();
    RUN(test_calls_over_the_cap_wait);
    return check_summary();
}
