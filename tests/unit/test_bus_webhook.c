/*
 * test_bus_webhook.c - the webhook target against a local libmicrohttpd server on 127.0.0.1:
 * retries with backoff (fails twice, then succeeds), giving up after maxAttempts, and no retry
 * on a 4xx answer.
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "bus/bus.h"
#include "check.h"

struct server {
    pthread_mutex_t mu;
    int requests;       /* complete POSTs seen */
    int fail_first;     /* answer the first N with fail_status */
    int fail_status;
    char last_body[8192];
    char last_path[128];
    char content_type[128];
};

static struct server srv = {.mu = PTHREAD_MUTEX_INITIALIZER};

struct body {
    char buf[8192];
    size_t len;
};

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **state)
{
    (void)cls;
    (void)version;
    struct body *b = *state;
    if (!b) {
        *state = calloc(1, sizeof *b);
        return MHD_YES;
    }
    if (*upload_size) {
        size_t room = sizeof b->buf - 1 - b->len;
        size_t n = *upload_size < room ? *upload_size : room;
        memcpy(b->buf + b->len, upload, n);
        b->len += n;
        *upload_size = 0;
        return MHD_YES;
    }
    pthread_mutex_lock(&srv.mu);
    srv.requests++;
    int status = srv.requests <= srv.fail_first ? srv.fail_status : 200;
    if (strcmp(method, "POST") != 0)
        status = 405;
    b->buf[b->len] = '\0';
    snprintf(srv.last_body, sizeof srv.last_body, "%s", b->buf);
    snprintf(srv.last_path, sizeof srv.last_path, "%s", url);
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    snprintf(srv.content_type, sizeof srv.content_type, "%s", ct ? ct : "");
    pthread_mutex_unlock(&srv.mu);
    static const char reply[] = "{}";
    struct MHD_Response *r =
        MHD_create_response_from_buffer(sizeof reply - 1, (void *)reply, MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

static void completed(void *cls, struct MHD_Connection *c, void **state,
                      enum MHD_RequestTerminationCode code)
{
    (void)cls;
    (void)c;
    (void)code;
    free(*state);
    *state = NULL;
}

static struct MHD_Daemon *start_server(int *port)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, handler, NULL, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&addr, MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_END);
    if (!d)
        return NULL;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    *port = info ? info->port : 0;
    return d;
}

static void reset_server(int fail_first, int fail_status)
{
    pthread_mutex_lock(&srv.mu);
    srv.requests = 0;
    srv.fail_first = fail_first;
    srv.fail_status = fail_status;
    srv.last_body[0] = srv.last_path[0] = '\0';
    pthread_mutex_unlock(&srv.mu);
}

static char tmpdir[256];

static struct bus *start_bus(int port, int max_attempts)
{
    char rules[600], text[1024];
    snprintf(rules, sizeof rules, "%s/rules-%d.json", tmpdir, max_attempts);
    snprintf(text, sizeof text,
             "{\"rules\": [{\"name\": \"alerts\", \"eventPattern\": {\"detail-type\": "
             "[\"error_occurred\"]}, \"targets\": [{\"type\": \"webhook\", \"url\": "
             "\"http://127.0.0.1:%d/hook\", \"maxAttempts\": %d, \"timeoutMs\": 2000}]}]}",
             port, max_attempts);
    FILE *f = fopen(rules, "w");
    fputs(text, f);
    fclose(f);
    struct bus_local_config cfg = {.data_dir = tmpdir, .rules_path = rules, .webhook_backoff_ms = 20};
    struct err e;
    struct bus *b = bus_local_new(&cfg, &e);
    if (!b)
        fprintf(stderr, "bus: %s\n", e.message);
    return b;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

static int port;

static void test_fails_twice_then_succeeds(void)
{
    reset_server(2, 500);
    struct bus *b = start_bus(port, 3);
    CHECK(b != NULL);
    if (!b)
        return;
    struct err e;
    json_t *ev = bus_event_new(BUS_ERROR_OCCURRED, json_pack("{s:s}", "code", "States.Timeout"));
    json_t *other = bus_event_new(BUS_MESSAGE_RECEIVED, NULL); /* matches no rule */
    double t0 = now_ms();
    CHECK_INT(bus_put(b, ev, &e), 0);
    CHECK_INT(bus_put(b, other, &e), 0);
    CHECK_INT(bus_flush(b, 10000), 0);
    double took = now_ms() - t0;
    struct bus_stats st;
    bus_stats(b, &st);
    CHECK_INT(srv.requests, 3);
    CHECK_INT(st.delivered, 1);
    CHECK_INT(st.failed, 0);
    CHECK_INT(st.unmatched, 1);
    CHECK(took >= 20 + 40); /* backed off 20 ms, then 40 ms (plus jitter) */
    CHECK_STR(srv.last_path, "/hook");
    CHECK(strncmp(srv.content_type, "application/json", 16) == 0);
    json_t *got = json_loads(srv.last_body, 0, NULL);
    CHECK(json_equal(got, ev));
    json_decref(got);
    json_decref(ev);
    json_decref(other);
    bus_free(b);
}

static void test_gives_up_after_max_attempts(void)
{
    reset_server(100, 503);
    struct bus *b = start_bus(port, 2);
    if (!b) {
        CHECK(0);
        return;
    }
    struct err e;
    json_t *ev = bus_event_new(BUS_ERROR_OCCURRED, NULL);
    CHECK_INT(bus_put(b, ev, &e), 0);
    bus_free(b); /* flush on free includes the retries */
    CHECK_INT(srv.requests, 2);
    json_decref(ev);
}

static void test_no_retry_on_client_error(void)
{
    reset_server(100, 400);
    struct bus *b = start_bus(port, 3);
    if (!b) {
        CHECK(0);
        return;
    }
    struct err e;
    json_t *ev = bus_event_new(BUS_ERROR_OCCURRED, NULL);
    CHECK_INT(bus_put(b, ev, &e), 0);
    CHECK_INT(bus_flush(b, 10000), 0);
    struct bus_stats st;
    bus_stats(b, &st);
    CHECK_INT(srv.requests, 1);
    CHECK_INT(st.failed, 1);
    CHECK_INT(st.delivered, 0);
    json_decref(ev);
    bus_free(b);
}

static void test_unreachable_endpoint(void)
{
    /* A port nobody listens on: connection refused, retried, then counted as failed. */
    struct bus *b = start_bus(1, 2);
    if (!b) {
        CHECK(0);
        return;
    }
    struct err e;
    json_t *ev = bus_event_new(BUS_ERROR_OCCURRED, NULL);
    CHECK_INT(bus_put(b, ev, &e), 0);
    CHECK_INT(bus_flush(b, 10000), 0);
    struct bus_stats st;
    bus_stats(b, &st);
    CHECK_INT(st.failed, 1);
    json_decref(ev);
    bus_free(b);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/parley-test-webhook-XXXXXX");
    if (!mkdtemp(tmpdir))
        return 1;
    log_threshold = LL_ERROR; /* retries log warnings by design */
    struct MHD_Daemon *d = start_server(&port);
    check_require("local webhook server started", d != NULL && port > 0);
    if (d) {
        RUN(test_fails_twice_then_succeeds);
        RUN(test_gives_up_after_max_attempts);
        RUN(test_no_retry_on_client_error);
        RUN(test_unreachable_endpoint);
        MHD_stop_daemon(d);
    }
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return check_summary();
}
