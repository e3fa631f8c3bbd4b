/*
 * test_http_client_cap.c - the client's process-wide cap on calls in progress: under a low
 * open-file limit, more parked calls than the descriptors could carry all answer (the excess
 * waits for a place) instead of failing to connect or aborting on a multi handle that cannot be
 * created. Its own binary: the cap is read from RLIMIT_NOFILE at the process's first call.
 */
#include <assert.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

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

/* Sets the soft open-file limit to n. */
static void set_nofile(rlim_t n)
{
    struct rlimit rl;
    CHECK_INT(getrlimit(RLIMIT_NOFILE, &rl), 0);
    rl.rlim_cur = n;
    CHECK_INT(setrlimit(RLIMIT_NOFILE, &rl), 0);
}

/* A client whose calls wait up to a minute and are not retried. */
static struct http_client *patient_client(void)
{
    struct http_client_config cfg = {.timeout_ms = 60000, .max_retries = -1};
    return http_client_new(&cfg);
}

/* 32 slow calls (the fake server's whole script) on two scheduler threads with an open-file
 * limit of 80 (a cap of 8 calls): uncapped they would need about 128 descriptors (client socket,
 * the multi handle's socket pair and the fake server's accepted socket each). */
static void test_calls_over_the_cap_wait(void)
{
    set_nofile(80);
    struct fake_http f;
    CHECK_INT(fake_http_start(&f), 0);
    enum { N = FAKE_MAX_SCRIPT };
    for (int i = 0; i < N; i++)
        fake_http_push(&f, 200, NULL, "slow", (size_t)-1, 300);
    struct http_client *c = patient_client();
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

#define BATCH_MAX 96
static atomic_int batch_done; /* calls of calls_at_once's batch that returned */

static void batch_task(void *ud)
{
    call_task(ud);
    atomic_fetch_add(&batch_done, 1);
}

/* Runs n calls at once on s's tasks, the first n_first to url and the others to then_url, and
 * waits for them; returns how many answered 200. */
static int calls_at_once_to(struct sched *s, struct http_client *c, const char *url, int n_first,
                            const char *then_url, int n)
{
    static struct in_task ts[BATCH_MAX];
    assert(n <= BATCH_MAX);
    atomic_store(&batch_done, 0);
    for (int i = 0; i < n; i++) {
        ts[i] = (struct in_task){c, i < n_first ? url : then_url, 0};
        CHECK_INT(sched_submit(s, batch_task, &ts[i]), 0);
    }
    for (int waited = 0; atomic_load(&batch_done) < n && waited < 60000; waited += 5)
        nanosleep(&(struct timespec){0, 5000000}, NULL);
    int ok = 0;
    for (int i = 0; i < n; i++)
        ok += ts[i].ok;
    return ok;
}

static int calls_at_once(struct sched *s, struct http_client *c, const char *url, int n)
{
    return calls_at_once_to(s, c, url, n, url, n);
}

/* Idle connections are bounded with the calls: a call that starts while the outbound sockets open
 * (busy and idle) reach their mark does not keep its connection. At a limit of 80 both are 8:
 * 8 calls at once leave 8 idle connections; the first of 8 calls made one after the other finds 8
 * open and closes the one it used, the others reuse what is left; so the next 8 at once need one
 * new connection (9 accepted in all). Kept, they would need none. One scheduler thread: one multi
 * handle, one connection cache. */
static void test_idle_connections_past_the_cap_are_closed(void)
{
    set_nofile(80);
    CHECK_INT(http_client_set_fds_aside(0), 8);
    struct fake_http f;
    CHECK_INT(fake_http_start(&f), 0);
    fake_http_repeat(&f, 200, "slow", 200);
    struct http_client *c = patient_client();
    struct err err = {0};
    struct sched *s = sched_start(1, 0, &err);
    CHECK(s != NULL);
    if (s) {
        CHECK_INT(calls_at_once(s, c, f.base_url, 8), 8);
        CHECK_INT((int)fake_http_connections(&f), 8);
        for (int i = 0; i < 8; i++)
            CHECK_INT(calls_at_once(s, c, f.base_url, 1), 1);
        CHECK_INT((int)fake_http_connections(&f), 8);
        CHECK_INT(calls_at_once(s, c, f.base_url, 8), 8);
        CHECK_INT((int)fake_http_connections(&f), 9);
        CHECK_INT(sched_stop(s, 60000), 0);
    }
    http_client_free(c);
    fake_http_stop(&f);
}

/* A thread's last multi handle (64 calls each) is freed, with its idle connections, when its
 * last call ends while the one before it is at most half full. 64 calls to a fast server fill
 * the first handle, 16 to a slow one the second; the fast ones end first, so when the slow ones
 * end the first handle is empty and the second is freed: 64 sockets stay open (the first's idle
 * connections) instead of 80. */
static void test_an_emptied_last_multi_handle_is_freed(void)
{
    set_nofile(1024);
    CHECK(http_client_set_fds_aside(0) >= 80);
    struct fake_http fast, slow;
    CHECK_INT(fake_http_start(&fast), 0);
    CHECK_INT(fake_http_start(&slow), 0);
    fake_http_repeat(&fast, 200, "slow", 100);
    fake_http_repeat(&slow, 200, "slow", 600);
    struct http_client *c = patient_client();
    struct err err = {0};
    struct sched *s = sched_start(1, 0, &err);
    CHECK(s != NULL);
    if (s) {
        long before = http_client_sockets_open();
        CHECK_INT(calls_at_once_to(s, c, fast.base_url, 64, slow.base_url, 80), 80);
        CHECK_INT((int)fake_http_connections(&fast), 64);
        CHECK_INT((int)fake_http_connections(&slow), 16);
        CHECK_INT((int)(http_client_sockets_open() - before), 64);
        CHECK_INT(sched_stop(s, 60000), 0);
    }
    http_client_free(c);
    fake_http_stop(&fast);
    fake_http_stop(&slow);
}

/* The caps follow the open-file limit and the descriptors set aside for client connections: of
 * what is left after a reserve of 256 and the aside (at most half the limit), three quarters. */
static void test_caps_follow_the_limit_and_the_aside(void)
{
    struct rlimit rl;
    CHECK_INT(getrlimit(RLIMIT_NOFILE, &rl), 0);
    rlim_t before = rl.rlim_cur;
    rl.rlim_cur = 2256;
    CHECK_INT(setrlimit(RLIMIT_NOFILE, &rl), 0);
    CHECK_INT(http_client_set_fds_aside(1000), 1000 / 4 * 3);
    CHECK_INT(http_client_set_fds_aside(5000), (2256 - 256 - 1128) / 4 * 3); /* half the limit */
    CHECK_INT(http_client_set_fds_aside(2000), (2256 - 256 - 1128) / 4 * 3);
    rl.rlim_cur = 400;
    CHECK_INT(setrlimit(RLIMIT_NOFILE, &rl), 0);
    CHECK_INT(http_client_set_fds_aside(0), (400 - 256) / 4 * 3);
    CHECK_INT(http_client_set_fds_aside(200), 8); /* nothing left: the floor */
    rl.rlim_cur = before;
    CHECK_INT(setrlimit(RLIMIT_NOFILE, &rl), 0);
}

int main(void)
{
    xmalloc_init();
    RUN(test_caps_follow_the_limit_and_the_aside);
    RUN(test_idle_connections_past_the_cap_are_closed);
    RUN(test_an_emptied_last_multi_handle_is_freed);
    RUN(test_calls_over_the_cap_wait);
    return check_summary();
}
