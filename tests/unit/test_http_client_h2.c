/*
 * test_http_client_h2.c - the client against HTTPS servers on node's own http2 and https
 * modules (tests/fakes/tls_server.mjs, a self-signed certificate made here with openssl): a
 * burst of calls to an origin that speaks HTTP/2 shares one connection instead of opening one a
 * call, and once the origin is known to multiplex (from its TLS handshake) its calls are not held
 * to the cap on calls in progress (they take no descriptor each), while an HTTP/1.1-only origin's
 * still are. Its own
 * binary: the cap is read from RLIMIT_NOFILE at the process's first call.
 */
#include <jansson.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/sched.h"
#include "base/xmalloc.h"
#include "check.h"
#include "http/client.h"
#include "peer.h"

/* A running tls_server.mjs. */
struct tls_peer {
    pid_t pid;
    char url[64];   /* https://127.0.0.1:N/ */
    char stats[64]; /* its control listener, http://127.0.0.1:M */
};

/* Starts tls_server.mjs in mode ("h2" or "h1") answering after delay_ms. Returns 0 or -1. */
static int peer_start(struct tls_peer *p, const char *cert, const char *key, const char *mode,
                      int delay_ms)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    char delay[16];
    snprintf(delay, sizeof delay, "%d", delay_ms);
    p->pid = fork();
    if (p->pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execlp("node", "node", "tests/fakes/tls_server.mjs", cert, key, mode, delay, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    FILE *f = fdopen(fds[0], "r");
    int port = 0, stats = 0;
    int got = f && fscanf(f, "port %d stats %d", &port, &stats) == 2;
    if (f)
        fclose(f);
    else
        close(fds[0]);
    if (!got) {
        kill(p->pid, SIGKILL);
        waitpid(p->pid, NULL, 0);
        p->pid = 0;
        return -1;
    }
    snprintf(p->url, sizeof p->url, "https://127.0.0.1:%d/", port);
    snprintf(p->stats, sizeof p->stats, "http://127.0.0.1:%d", stats);
    return 0;
}

/* Stops p if it started. */
static void peer_stop(struct tls_peer *p)
{
    if (p->pid <= 0)
        return;
    kill(p->pid, SIGTERM);
    waitpid(p->pid, NULL, 0);
}

/* One of what the peer saw since its last reset (-1 when it cannot say). */
static long peer_stat(const struct tls_peer *p, const char *name)
{
    json_t *s = peer_hook(p->stats, "/stats", 0);
    json_t *v = json_object_get(s, name);
    long n = json_is_integer(v) ? (long)json_integer_value(v) : -1;
    json_decref(s);
    return n;
}

static void peer_reset(const struct tls_peer *p)
{
    json_decref(peer_hook(p->stats, "/reset", 1));
}

struct in_task {
    struct http_client *c;
    const char *url;
    int ok; /* the call returned 200 "ok" */
};

static atomic_int done;

static void call_task(void *ud)
{
    struct in_task *t = ud;
    struct http_client_request req = {
        .method = "POST", .url = t->url, .body = "{}", .body_len = 2, .max_retries = 0};
    struct http_client_response resp;
    struct err e = {0};
    t->ok = http_client_do(t->c, &req, &resp, &e) == 0 && resp.status == 200 && resp.body &&
            strcmp(resp.body, "ok") == 0;
    if (!t->ok)
        printf("# call failed: status %ld, %s: %s\n", resp.status, e.code, e.message);
    http_client_response_release(&resp);
    atomic_fetch_add(&done, 1);
}

#define CALLS_MAX 64

/* Runs n calls to url at once on s's tasks and waits for them; returns how many answered. */
static int calls_at_once(struct sched *s, struct http_client *c, const char *url, int n)
{
    static struct in_task ts[CALLS_MAX];
    atomic_store(&done, 0);
    for (int i = 0; i < n && i < CALLS_MAX; i++) {
        ts[i] = (struct in_task){c, url, 0};
        CHECK_INT(sched_submit(s, call_task, &ts[i]), 0);
    }
    for (int waited = 0; atomic_load(&done) < n && waited < 60000; waited += 5)
        nanosleep(&(struct timespec){0, 5000000}, NULL);
    int ok = 0;
    for (int i = 0; i < n && i < CALLS_MAX; i++)
        ok += ts[i].ok;
    return ok;
}

/* Sets the soft open-file limit to n; returns the one it replaced. */
static rlim_t set_nofile(rlim_t n)
{
    struct rlimit rl;
    CHECK_INT(getrlimit(RLIMIT_NOFILE, &rl), 0);
    rlim_t was = rl.rlim_cur;
    rl.rlim_cur = n;
    CHECK_INT(setrlimit(RLIMIT_NOFILE, &rl), 0);
    return was;
}

static char dir[] = "/tmp/parley-h2-XXXXXX";
static struct tls_peer h2, h2_fresh, h1;
static struct sched *s;       /* one scheduler thread: one multi handle */
static struct http_client *c; /* every test's client */

/* A fresh origin that speaks HTTP/2: 40 calls at once (one scheduler thread, so one multi
 * handle) open one connection and all run at once on it, over HTTP/2. Each opening its own, as
 * curl does for calls that do not wait for a connection that may multiplex, would be 40. */
static void test_a_burst_shares_one_connection(void)
{
    peer_reset(&h2);
    CHECK_INT(calls_at_once(s, c, h2.url, 40), 40);
    CHECK_INT(peer_stat(&h2, "connections"), 1);
    CHECK_INT(peer_stat(&h2, "requests"), 40);
    CHECK_INT(peer_stat(&h2, "http1"), 0);
    CHECK_INT(peer_stat(&h2, "maxOpen"), 40);
}

/* Under a cap of 8 calls in progress (an open-file limit of 80): the origin now known to
 * multiplex has its 40 calls open at once on the connection it already has, while the
 * HTTP/1.1-only origin's 24 calls are never more than 8 at once, each on a connection of its
 * own. */
static void test_multiplexed_calls_pass_the_cap(void)
{
    rlim_t was = set_nofile(80);
    CHECK_INT(http_client_set_fds_aside(0), 8);
    peer_reset(&h2);
    peer_reset(&h1);
    CHECK_INT(calls_at_once(s, c, h2.url, 40), 40);
    CHECK_INT(peer_stat(&h2, "maxOpen"), 40);
    CHECK_INT(peer_stat(&h2, "connections"), 0); /* the burst's, kept */
    CHECK_INT(calls_at_once(s, c, h1.url, 24), 24);
    CHECK_INT(peer_stat(&h1, "http1"), 24);
    long max_open = peer_stat(&h1, "maxOpen");
    CHECK(max_open >= 1 && max_open <= 8);
    CHECK(peer_stat(&h1, "connections") >= max_open);
    set_nofile(was);
}

/* Still under the cap of 8, an HTTP/2 origin never called before: its first 8 calls take a
 * whole place each, but its TLS handshake tells it multiplexes, so those calls keep only a share
 * once their requests go and the 32 others get in without waiting for an answer (which from a
 * slow model comes seconds later): all 40 open at once on one connection. */
static void test_a_fresh_origin_is_learnt_at_its_handshake(void)
{
    rlim_t was = set_nofile(80);
    CHECK_INT(http_client_set_fds_aside(0), 8);
    CHECK_INT(calls_at_once(s, c, h2_fresh.url, 40), 40);
    CHECK_INT(peer_stat(&h2_fresh, "maxOpen"), 40);
    CHECK_INT(peer_stat(&h2_fresh, "connections"), 1);
    CHECK_INT(peer_stat(&h2_fresh, "http1"), 0);
    set_nofile(was);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    if (!check_require("a temporary directory", mkdtemp(dir) != NULL))
        return check_summary();
    char *cert = xasprintf("%s/cert.pem", dir), *key = xasprintf("%s/key.pem", dir);
    char *cmd = xasprintf("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
                          "-nodes -keyout '%s' -out '%s' -days 2 -subj /CN=127.0.0.1 "
                          "-addext subjectAltName=IP:127.0.0.1 2>/dev/null",
                          key, cert);
    int made = system(cmd) == 0;
    free(cmd);
    if (check_require("openssl made a certificate", made) &&
        check_require("tls_server.mjs started (h2)", peer_start(&h2, cert, key, "h2", 300) == 0) &&
        check_require("tls_server.mjs started (h1)", peer_start(&h1, cert, key, "h1", 300) == 0) &&
        check_require("tls_server.mjs started (a fresh h2)",
                      peer_start(&h2_fresh, cert, key, "h2", 300) == 0)) {
        setenv("CURL_CA_BUNDLE", cert, 1);
        struct http_client_config cfg = {.timeout_ms = 30000, .max_retries = -1};
        c = http_client_new(&cfg);
        struct err err = {0};
        s = sched_start(1, 0, &err);
        if (check_require("scheduler started", s != NULL)) {
            RUN(test_a_burst_shares_one_connection);
            RUN(test_multiplexed_calls_pass_the_cap);
            RUN(test_a_fresh_origin_is_learnt_at_its_handshake);
            CHECK_INT(sched_stop(s, 60000), 0);
        }
        http_client_free(c);
    }
    peer_stop(&h2);
    peer_stop(&h1);
    peer_stop(&h2_fresh);
    unlink(cert);
    unlink(key);
    rmdir(dir);
    free(cert);
    free(key);
    return check_summary();
}
