/*
 * test_http_client.c - the libcurl client against the scripted fake server: exact request
 * shape, retries on 429/5xx with Retry-After, no retry on 4xx, timeouts, the size cap,
 * streaming, connection refused, the backoff bounds, and calls parked on a scheduler (each on
 * its one socket, without a descriptor of its own beyond it, sharing the thread's multi handle,
 * one of them keeping curl's timer for all).
 */
#include <dirent.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <stdatomic.h>
#include <time.h>

#include "base/clock.h"
#include "base/sched.h"
#include "base/xmalloc.h"
#include "check.h"
#include "fakes/fake_http.h"
#include "http/client.h"

static struct http_client_config fast_cfg(void)
{
    struct http_client_config c = {0};
    c.connect_timeout_ms = 1000;
    c.timeout_ms = 2000;
    c.max_retries = 3;
    c.backoff_base_ms = 5;
    c.backoff_max_ms = 50;
    return c;
}

static void test_post_exact_request(void)
{
    struct fake_http f;
    CHECK_INT(fake_http_start(&f), 0);
    fake_http_push(&f, 200, "Content-Type: application/json\nX-Req: 7\n", "{\"ok\":true}",
                   (size_t)-1, 0);
    struct http_client_config cfg = fast_cfg();
    struct http_client *c = http_client_new(&cfg);
    char *url = xasprintf("%s/model/a.b-v2%%3A0/invoke?x=1", f.base_url);
    const char *hdrs[] = {"Content-Type: application/json", "X-Api-Key: k1"};
    struct http_client_request req = {.method = "POST",
                                      .url = url,
                                      .headers = hdrs,
                                      .n_headers = 2,
                                      .body = "{\"a\":1}",
                                      .body_len = 7,
                                      .max_retries = -1};
    struct http_client_response resp;
    struct err e = {0};
    CHECK_INT(http_client_do(c, &req, &resp, &e), 0);
    CHECK_INT(resp.status, 200);
    CHECK_STR(resp.body, "{\"ok\":true}");
    CHECK_STR(http_client_header(&resp, "x-req"), "7");
    CHECK_INT(resp.attempts, 1);
    const struct fake_request *r = fake_http_request(&f, 0);
    CHECK(r != NULL);
    if (r) {
        CHECK_STR(r->method, "POST");
        CHECK_STR(r->target, "/model/a.b-v2%3A0/invoke?x=1"); /* path kept as given */
        CHECK_STR(r->body, "{\"a\":1}");
        CHECK_STR(fake_header(r, "x-api-key"), "k1");
        CHECK_STR(fake_header(r, "content-type"), "application/json");
        CHECK(fake_header(r, "expect") == NULL);
    }
    http_client_response_release(&resp);
    /* A second call reuses the pooled handle and works the same. */
    fake_http_push(&f, 204, NULL, "", 0, 0);
    struct http_client_request get = {.method = "GET", .url = url, .max_retries = -1};
    CHECK_INT(http_client_do(c, &get, &resp, &e), 0);
    CHECK_INT(resp.status, 204);
    CHECK_INT(fake_http_count(&f), 2);
    http_client_response_release(&resp);
    free(url);
    http_client_free(c);
    fake_http_stop(&f);
}

static void test_retry_then_success(void)
{
    struct fake_http f;
    CHECK_INT(fake_http_start(&f), 0);
    fake_http_push(&f, 429, "Retry-After: 0\n", "slow down", (size_t)-1, 0);
    fake_http_push(&f, 503, NULL, "busy", (size_t)-1, 0);
    fake_http_push(&f, 200, NULL, "done", (size_t)-1, 0);
    struct http_client_config cfg = fast_cfg();
    struct http_client *c = http_client_new(&cfg);
    struct http_client_request req = {.method = "GET", .url = f.base_url, .max_retries = -1};
    struct http_client_response resp;
    struct err e = {0};
    CHECK_INT(http_client_do(c, &req, &resp, &e), 0);
    CHECK_INT(resp.status, 200);
    CHECK_INT(resp.attempts, 3);
    CHECK_STR(resp.body, "done");
    CHECK_INT(fake_http_count(&f), 3);
    http_client_response_release(&resp);
    http_client_free(c);
    fake_http_stop(&f);
}

/* Retry-After as an HTTP-date two seconds ahead: the client waits for it (more than a second,
 * since the date has whole-second resolution) instead of its 5 ms backoff. */
static void test_retry_after_http_date(void)
{
    struct fake_http f;
    CHECK_INT(fake_http_start(&f), 0);
    char hdr[96], date[64];
    time_t at = time(NULL) + 2;
    struct tm tm;
    gmtime_r(&at, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    snprintf(hdr, sizeof hdr, "Retry-After: %s\n", date);
    fake_http_push(&f, 503, hdr, "later", (size_t)-1, 0);
    fake_http_push(&f, 200, NULL, "done", (size_t)-1, 0);
    struct http_client_config cfg = fast_cfg();
    cfg.backoff_max_ms = 5000; /* the cap must not hide the server's wish */
    struct http_client *c = http_client_new(&cfg);
    struct http_client_request req = {.method = "GET", .url = f.base_url, .max_retries = -1};
    struct http_client_response resp;
    struct err e = {0};
    int64_t t0 = clock_mono_ms();
    CHECK_INT(http_client_do(c, &req, &resp, &e), 0);
    int64_t took = clock_mono_ms() - t0;
    CHECK_INT(resp.status, 200);
    CHECK_INT(resp.attempts, 2);
    CHECK(took >= 950);
    CHECK(took < 4000);
    http_client_response_release(&resp);
    http_client_free(c);
    fake_http_stop(&f);
}

static void test_retries_exhausted_and_4xx(void)
{
    struct fake_http f;
    CHECK_INT(fake_http_start(&f), 0);
    for (int i = 0; i < 3; i++)
        fake_http_push(&f, 500, NULL, "boom", (size_t)-1, 0);
    fake_http_push(&f, 400, NULL, "bad", (size_t)-1, 0);
    struct http_client_config cfg = fast_cfg();
    struct http_client *c = http_client_new(&cfg);
    struct http_client_request req = {.method = "GET", .url = f.base_url, .max_retries = 2};
    struct http_client_response resp;
    struct err e = {0};
    CHECK_INT(http_client_do(c, &req, &resp, &e), 0); /* a response arrived: status says 500 */
    CHECK_INT(resp.status, 500);
    CHECK_INT(resp.attempts, 3);
    http_client_response_release(&resp);
    CHECK_INT(http_client_do(c, &req, &resp, &e), 0);
    CHECK_INT(resp.status, 400); /* never retried */
    CHECK_INT(resp.attempts, 1);
    CHECK_INT(fake_http_count(&f), 4);
    http_client_response_release(&resp);
    http_client_free(c);
    fake_http_stop(&f);
}

static void test_timeout(void)
{
    struct fake_http f;
    CHECK_INT(fake_http_start(&f), 0);
    fake_http_push(&f, 200, NULL, "late", (size_t)-1, 700);
    fake_http_push(&f, 200, NULL, "late", (size_t)-1, 700);
    struct http_client_config cfg = fast_cfg();
    struct http_client *c = http_client_new(&cfg);
    struct http_client_request req = {.method = "GET",
                                      .url = f.base_url,
                                      .timeout_ms = 150,
                                      .max_retries = 1};
    struct http_client_response resp;
    struct err e = {0};
    int64_t t0 = clock_mono_ms();
    CHECK_INT(http_client_do(c, &req, &resp, &e), -1);
    int64_t took = clock_mono_ms() - t0;
    CHECK_STR(e.code, "HttpTimeout");
    CHECK_INT(resp.attempts, 2);
    CHECK(took < 1500);
    http_client_response_release(&resp);
    http_client_free(c);
    fake_http_stop(&f);
}

static void test_size_cap(void)
{
    struct fake_http f;
    CHECK_INT(fake_http_start(&f), 0);
    char *big = xmalloc(100000);
    memset(big, 'x', 100000);
    fake_http_push(&f, 200, NULL, big, 100000, 0);
    free(big);
    struct http_client_config cfg = fast_cfg();
    cfg.max_response_bytes = 1000;
    struct http_client *c = http_client_new(&cfg);
    struct http_client_request req = {.method = "GET", .url = f.base_url, .max_retries = -1};
    struct http_client_response resp;
    struct err e = {0};
    CHECK_INT(http_client_do(c, &req, &resp, &e), -1);
    CHECK_STR(e.code, "HttpTooLarge");
    CHECK(resp.body_len <= 1000);
    CHECK_INT(fake_http_count(&f), 1); /* not retried */
    http_client_response_release(&resp);
    http_client_free(c);
    fake_http_stop(&f);
}

struct sink {
    char buf[256];
    size_t len;
    int calls;
    int stop_after;
};

static int on_data(void *ud, const char *data, size_t len)
{
    struct sink *s = ud;
    s->calls++;
    if (s->len + len < sizeof s->buf) {
        memcpy(s->buf + s->len, data, len);
        s->len += len;
        s->buf[s->len] = '\0';
    }
    return s->stop_after && s->calls >= s->stop_after ? -1 : 0;
}

static void test_streaming(void)
{
    struct fake_http f;
    CHECK_INT(fake_http_start(&f), 0);
    fake_http_push(&f, 200, "Content-Type: text/event-stream\n", "data: a\n\ndata: b\n\n",
                   (size_t)-1, 0);
    fake_http_push(&f, 400, NULL, "{\"error\":\"bad\"}", (size_t)-1, 0);
    fake_http_push(&f, 200, NULL, "data: x\n\n", (size_t)-1, 0);
    struct http_client_config cfg = fast_cfg();
    struct http_client *c = http_client_new(&cfg);
    struct sink s = {0};
    struct http_client_request req = {.method = "POST",
                                      .url = f.base_url,
                                      .body = "{}",
                                      .body_len = 2,
                                      .max_retries = -1,
                                      .on_data = on_data,
                                      .ud = &s};
    struct http_client_response resp;
    struct err e = {0};
    CHECK_INT(http_client_do(c, &req, &resp, &e), 0);
    CHECK_STR(s.buf, "data: a\n\ndata: b\n\n");
    CHECK_INT(resp.streamed, strlen("data: a\n\ndata: b\n\n"));
    CHECK_INT(resp.body_len, 0);
    http_client_response_release(&resp);
    /* An error status is buffered, not streamed, so the caller can read the message. */
    struct sink s2 = {0};
    req.ud = &s2;
    CHECK_INT(http_client_do(c, &req, &resp, &e), 0);
    CHECK_INT(resp.status, 400);
    CHECK_STR(resp.body, "{\"error\":\"bad\"}");
    CHECK_INT(s2.calls, 0);
    http_client_response_release(&resp);
    /* The receiver can stop the stream. */
    struct sink s3 = {.stop_after = 1};
    req.ud = &s3;
    CHECK_INT(http_client_do(c, &req, &resp, &e), -1);
    CHECK_STR(e.code, "HttpAborted");
    http_client_response_release(&resp);
    http_client_free(c);
    fake_http_stop(&f);
}

static void test_connect_refused(void)
{
    /* Start and stop a server to get a port that is (very likely) closed. */
    struct fake_http f;
    CHECK_INT(fake_http_start(&f), 0);
    char url[96];
    snprintf(url, sizeof url, "%s/", f.base_url);
    fake_http_stop(&f);
    struct http_client_config cfg = fast_cfg();
    struct http_client *c = http_client_new(&cfg);
    struct http_client_request req = {.method = "GET", .url = url, .max_retries = 1};
    struct http_client_response resp;
    struct err e = {0};
    CHECK_INT(http_client_do(c, &req, &resp, &e), -1);
    CHECK_STR(e.code, "HttpConnect");
    CHECK_INT(resp.attempts, 2);
    http_client_response_release(&resp);
    http_client_free(c);
}

static void test_backoff_bounds(void)
{
    for (int i = 0; i < 200; i++) {
        long a = http_client_backoff_ms(1, 100, 1000);
        CHECK(a >= 50 && a <= 100);
        long b = http_client_backoff_ms(3, 100, 1000);
        CHECK(b >= 200 && b <= 400);
        long d = http_client_backoff_ms(20, 100, 1000);
        CHECK(d >= 500 && d <= 1000);
    }
    CHECK(http_client_retryable_status(429));
    CHECK(http_client_retryable_status(503));
    CHECK(!http_client_retryable_status(501));
    CHECK(!http_client_retryable_status(404));
}

/* ---- Inside scheduler tasks ---------------------------------------------------------------- */

struct in_task {
    struct http_client *c;
    const char *url;
    int ok;          /* the call returned 200 with the scripted body */
    atomic_int done; /* the call returned (ok is set) */
};

static atomic_int in_flight, most_in_flight;

static void call_task(void *ud)
{
    struct in_task *t = ud;
    int n = atomic_fetch_add(&in_flight, 1) + 1;
    int m = atomic_load(&most_in_flight);
    while (n > m && !atomic_compare_exchange_weak(&most_in_flight, &m, n)) {
    }
    struct http_client_request req = {.method = "GET", .url = t->url, .max_retries = 0};
    struct http_client_response resp;
    struct err e = {0};
    t->ok = http_client_do(t->c, &req, &resp, &e) == 0 && resp.status == 200 && resp.body &&
            strcmp(resp.body, "slow") == 0;
    atomic_fetch_sub(&in_flight, 1);
    http_client_response_release(&resp);
    atomic_store(&t->done, 1);
}

/* Eight slow calls on ONE scheduler thread: each parks on its sockets, so all are in flight at
 * once (a blocking call would hold the thread and let one through at a time). */
static void test_calls_park_inside_tasks(void)
{
    struct fake_http f;
    CHECK_INT(fake_http_start(&f), 0);
    enum { N = 8 };
    for (int i = 0; i < N; i++)
        fake_http_push(&f, 200, NULL, "slow", (size_t)-1, 400);
    struct http_client_config cfg = fast_cfg();
    cfg.timeout_ms = 60000;
    struct http_client *c = http_client_new(&cfg);
    struct err err = {0};
    struct sched *s = sched_start(1, 0, &err);
    struct in_task ts[N];
    for (int i = 0; s && i < N; i++) {
        ts[i] = (struct in_task){.c = c, .url = f.base_url};
        CHECK_INT(sched_submit(s, call_task, &ts[i]), 0);
    }
    CHECK_INT(sched_stop(s, 120000), 0);
    int ok = 0;
    for (int i = 0; i < N; i++)
        ok += ts[i].ok;
    CHECK_INT(ok, N);
    CHECK_INT(atomic_load(&most_in_flight), N);
    CHECK_INT(fake_http_count(&f), N);
    http_client_free(c);
    fake_http_stop(&f);
}

/* Open descriptors of this process. */
static int count_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

static atomic_int sampling, fds_peak;

static void *sample_fds(void *ud)
{
    (void)ud;
    while (atomic_load(&sampling)) {
        int n = count_fds();
        if (n > atomic_load(&fds_peak))
            atomic_store(&fds_peak, n);
        struct timespec ts = {0, 5000000L};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

/* Sixteen slow calls parked at once on one scheduler thread, half through "localhost" (curl's
 * resolver, maybe ::1 refused before 127.0.0.1): all answer, and while they wait each costs its
 * client socket, the socket pair libcurl's multi handle keeps for curl_multi_wakeup() and the
 * fake server's accepted socket, no epoll set of its own (at 10,000 turns in flight every
 * descriptor per turn counts against RLIMIT_NOFILE). */
static void test_parked_calls_no_epoll_set_each(void)
{
    struct fake_http f;
    CHECK_INT(fake_http_start(&f), 0);
    enum { N = 16 };
    for (int i = 0; i < N; i++)
        fake_http_push(&f, 200, NULL, "slow", (size_t)-1, 600);
    char local[80];
    snprintf(local, sizeof local, "http://localhost:%u", (unsigned)f.port);
    struct http_client_config cfg = fast_cfg();
    cfg.timeout_ms = 60000;
    struct http_client *c = http_client_new(&cfg);
    struct err err = {0};
    struct sched *s = sched_start(1, 0, &err);
    int before = count_fds();
    atomic_store(&sampling, 1);
    atomic_store(&fds_peak, before);
    pthread_t th;
    CHECK_INT(pthread_create(&th, NULL, sample_fds, NULL), 0);
    struct in_task ts[N];
    for (int i = 0; s && i < N; i++) {
        ts[i] = (struct in_task){.c = c, .url = i % 2 ? local : f.base_url};
        CHECK_INT(sched_submit(s, call_task, &ts[i]), 0);
    }
    CHECK_INT(sched_stop(s, 120000), 0);
    atomic_store(&sampling, 0);
    pthread_join(th, NULL);
    int ok = 0;
    for (int i = 0; i < N; i++)
        ok += ts[i].ok;
    CHECK_INT(ok, N);
    CHECK_INT(fake_http_count(&f), N);
    int grew = atomic_load(&fds_peak) - before;
    CHECK(grew >= N);         /* the sampler saw the calls in flight */
    CHECK(grew <= 4 * N + 4); /* 4 per call (see above), a little slack */
    if (grew > 4 * N + 4)
        printf("# descriptors grew by %d for %d parked calls\n", grew, N);
    http_client_free(c);
    fake_http_stop(&f);
}

/* Submits n calls to url on s and waits until they all returned; returns how many answered
 * "slow". */
static int call_wave(struct sched *s, struct http_client *c, const char *url, struct in_task *ts,
                     int n)
{
    for (int i = 0; i < n; i++) {
        ts[i] = (struct in_task){.c = c, .url = url};
        CHECK_INT(sched_submit(s, call_task, &ts[i]), 0);
    }
    int ok = 0, left = n;
    for (int waited = 0; left && waited < 60000; waited += 10) {
        struct timespec ts10 = {0, 10000000L};
        nanosleep(&ts10, NULL);
        ok = left = 0;
        for (int i = 0; i < n; i++) {
            int v = atomic_load(&ts[i].done) ? ts[i].ok : -1;
            ok += v == 1;
            left += v < 0;
        }
    }
    return ok;
}

/* 150 slow calls at once on one scheduler thread, more than one shared multi handle carries
 * (DRIVER_CALLS_MAX, 64): all are in flight together and answer, each on a connection of its
 * own; a second wave reuses connections the first left open, spread over the thread's multi
 * handles. */
static void test_calls_over_one_multi(void)
{
    struct fake_http f;
    CHECK_INT(fake_http_start(&f), 0);
    fake_http_repeat(&f, 200, "slow", 400);
    enum { N = 150 };
    struct http_client_config cfg = fast_cfg();
    cfg.timeout_ms = 60000;
    struct http_client *c = http_client_new(&cfg);
    static struct in_task ts[N];
    struct err err = {0};
    struct sched *s = sched_start(1, 0,
                                  &err); /* its thread keeps the multi handles between waves */
    CHECK(s != NULL);
    atomic_store(&most_in_flight, 0);
    CHECK_INT(s ? call_wave(s, c, f.base_url, ts, N) : 0, N);
    CHECK_INT(atomic_load(&most_in_flight), N);
    size_t first = fake_http_connections(&f);
    CHECK_INT((int)first, N);
    CHECK_INT(s ? call_wave(s, c, f.base_url, ts, N) : 0, N);
    CHECK_INT(sched_stop(s, 120000), 0);
    size_t second = fake_http_connections(&f) - first;
    CHECK(second < N / 2); /* most calls reused a kept-alive connection */
    if (second >= N / 2)
        printf("# the second wave opened %zu connections for %d calls\n", second, N);
    http_client_free(c);
    fake_http_stop(&f);
}

/* ---- Tasks sharing a thread's multi handles ------------------------------------------------- */

static int stream_key; /* task-local: the stream task's own state */

struct stream_task {
    struct http_client *c;
    const char *url;
    char buf[128]; /* what on_data received */
    size_t len;
    int foreign; /* on_data ran in another task */
    int ok;      /* the call returned 200 */
};

static int stream_on_data(void *ud, const char *data, size_t len)
{
    struct stream_task *t = ud;
    if (sched_local_get(&stream_key) != t)
        t->foreign = 1;
    if (t->len + len < sizeof t->buf) {
        memcpy(t->buf + t->len, data, len);
        t->len += len;
        t->buf[t->len] = '\0';
    }
    return 0;
}

static void stream_task_run(void *ud)
{
    struct stream_task *t = ud;
    sched_local_set(&stream_key, t);
    struct http_client_request req = {.method = "POST",
                                      .url = t->url,
                                      .body = "{}",
                                      .body_len = 2,
                                      .max_retries = 0,
                                      .on_data = stream_on_data,
                                      .ud = t};
    struct http_client_response resp;
    struct err e = {0};
    t->ok = http_client_do(t->c, &req, &resp, &e) == 0 && resp.status == 200;
    http_client_response_release(&resp);
}

/* Sixteen streamed calls parked at once on one scheduler thread share its one multi handle: each
 * gets exactly its own stream, on_data always runs in the call's own task (its task-local state;
 * whichever task ran curl), and a call in flight costs its socket and the server's, not a socket
 * pair of its own (the thread's multi has one). */
static void test_tasks_share_one_multi(void)
{
    struct fake_http f;
    CHECK_INT(fake_http_start(&f), 0);
    enum { N = 16 };
    for (int i = 0; i < N; i++)
        fake_http_push(&f, 200, "Content-Type: text/event-stream\n", "data: a\n\ndata: b\n\n",
                       (size_t)-1, 300 + 20 * i);
    struct http_client_config cfg = fast_cfg();
    cfg.timeout_ms = 60000;
    struct http_client *c = http_client_new(&cfg);
    struct err err = {0};
    struct sched *s = sched_start(1, 0, &err);
    int before = count_fds();
    atomic_store(&sampling, 1);
    atomic_store(&fds_peak, before);
    pthread_t th;
    CHECK_INT(pthread_create(&th, NULL, sample_fds, NULL), 0);
    static struct stream_task ts[N];
    for (int i = 0; s && i < N; i++) {
        ts[i] = (struct stream_task){.c = c, .url = f.base_url};
        CHECK_INT(sched_submit(s, stream_task_run, &ts[i]), 0);
    }
    CHECK_INT(sched_stop(s, 120000), 0);
    atomic_store(&sampling, 0);
    pthread_join(th, NULL);
    int ok = 0, foreign = 0;
    for (int i = 0; i < N; i++) {
        ok += ts[i].ok && strcmp(ts[i].buf, "data: a\n\ndata: b\n\n") == 0;
        foreign += ts[i].foreign;
    }
    CHECK_INT(ok, N);
    CHECK_INT(foreign, 0);
    CHECK_INT(fake_http_count(&f), N);
    int grew = atomic_load(&fds_peak) - before;
    CHECK(grew >= N);         /* the sampler saw the calls in flight */
    CHECK(grew <= 2 * N + 4); /* 2 per call, the thread's socket pair and a little slack */
    if (grew > 2 * N + 4)
        printf("# descriptors grew by %d for %d parked calls\n", grew, N);
    http_client_free(c);
    fake_http_stop(&f);
}

/* ---- curl's timer, kept by one task of a shared multi handle -------------------------------- */

struct timed_task {
    struct http_client *c;
    const char *url;
    long timeout_ms; /* the call's own timeout */
    int rc;          /* what http_client_do returned */
    char code[ERR_CODE_MAX]; /* its error code */
    long took_ms;    /* how long the call took */
};

static void timed_task_run(void *ud)
{
    struct timed_task *t = ud;
    struct http_client_request req = {
        .method = "GET", .url = t->url, .timeout_ms = t->timeout_ms, .max_retries = 0};
    struct http_client_response resp;
    struct err e = {0};
    int64_t t0 = clock_mono_ms();
    t->rc = http_client_do(t->c, &req, &resp, &e);
    t->took_ms = (long)(clock_mono_ms() - t0);
    snprintf(t->code, sizeof t->code, "%s", t->rc == 0 ? "" : e.code);
    http_client_response_release(&resp);
}

/* Calls a (the first to park, so the keeper of curl's timer) against a server that answers after
 * a_delay_ms, then, after_ms later, b and c with timeout_ms against one that answers after 3 s:
 * both must end by their own timeout, which only the keeper's timer action notices. */
static void keeper_case(long a_delay_ms, long after_ms, long timeout_ms, long within_ms)
{
    struct fake_http fa, fb;
    CHECK_INT(fake_http_start(&fa), 0);
    CHECK_INT(fake_http_start(&fb), 0);
    fake_http_repeat(&fa, 200, "a", a_delay_ms);
    fake_http_repeat(&fb, 200, "late", 3000);
    struct http_client_config cfg = fast_cfg();
    cfg.timeout_ms = 60000;
    struct http_client *c = http_client_new(&cfg);
    struct err err = {0};
    struct sched *s = sched_start(1, 0, &err);
    if (!check_require("scheduler started", s != NULL))
        return;
    static struct timed_task ts[3];
    ts[0] = (struct timed_task){.c = c, .url = fa.base_url, .timeout_ms = 60000};
    CHECK_INT(sched_submit(s, timed_task_run, &ts[0]), 0);
    struct timespec park = {0, after_ms * 1000000L}; /* a parks first */
    nanosleep(&park, NULL);
    for (int i = 1; i < 3; i++) {
        ts[i] = (struct timed_task){.c = c, .url = fb.base_url, .timeout_ms = timeout_ms};
        CHECK_INT(sched_submit(s, timed_task_run, &ts[i]), 0);
    }
    CHECK_INT(sched_stop(s, 120000), 0);
    CHECK_INT(ts[0].rc, 0);
    for (int i = 1; i < 3; i++) {
        CHECK_INT(ts[i].rc, -1);
        CHECK_STR(ts[i].code, "HttpTimeout");
        CHECK(ts[i].took_ms >= timeout_ms - 10);
        CHECK(ts[i].took_ms < within_ms);
        if (ts[i].took_ms >= within_ms)
            printf("# a %ld ms timeout ended the call after %ld ms\n", timeout_ms, ts[i].took_ms);
    }
    http_client_free(c);
    fake_http_stop(&fa);
    fake_http_stop(&fb);
}

/* The keeper (parked for 1 s at most when curl's timer is far; a's first timers, from curl's
 * connect, are over by 400 ms) is woken when a call added after it brings the timer nearer: the
 * 100 ms timeouts end their calls long before its next wake (~1 s). */
static void test_keeper_woken_for_a_nearer_timer(void)
{
    keeper_case(2500, 400, 100, 450);
}

/* The keeper's call ends first (100 ms): the timer passes to a waiting call, so the 600 ms
 * timeouts still end theirs (the others park on their sockets alone, up to 5 s). */
static void test_keeper_hands_the_timer_over(void)
{
    keeper_case(100, 50, 600, 2500);
}

int main(void)
{
    xmalloc_init();
    RUN(test_post_exact_request);
    RUN(test_retry_then_success);
    RUN(test_retry_after_http_date);
    RUN(test_retries_exhausted_and_4xx);
    RUN(test_timeout);
    RUN(test_size_cap);
    RUN(test_streaming);
    RUN(test_connect_refused);
    RUN(test_backoff_bounds);
    RUN(test_calls_park_inside_tasks);
    RUN(test_parked_calls_no_epoll_set_each);
    RUN(test_tasks_share_one_multi);
    RUN(test_calls_over_one_multi);
    RUN(test_keeper_woken_for_a_nearer_timer);
    RUN(test_keeper_hands_the_timer_over);
    return check_summary();
}
