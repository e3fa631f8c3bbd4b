/* test_trace.c - X-Ray-model tracing: header parsing (good, bad, partial), id formats, nesting
 * and timing monotonicity, error/fault/throttle flags, UDP export to a socket standing in for
 * the daemon, the ring store's eviction, caps, and subsegments that end after their segment. */
#include <arpa/inet.h>
#include <ctype.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/xmalloc.h"
#include "check.h"
#include "telemetry/trace.h"

#define ROOT "1-5759e988-bd862e3fe1be46a994272793"
#define PARENT "53995c3f42cd8ad8"

static void test_header_good(void)
{
    struct trace_header h;
    struct err e;
    err_clear(&e);
    CHECK(trace_header_parse("Root=" ROOT ";Parent=" PARENT ";Sampled=1", &h, &e) == 0);
    CHECK_STR(h.root, ROOT);
    CHECK_STR(h.parent, PARENT);
    CHECK_INT(h.sampled, 1);
    CHECK_STR(h.lineage, "");

    /* Any order, whitespace, unknown fields, Lineage, case-insensitive keys, upper-case hex. */
    CHECK(trace_header_parse(" Sampled = 0 ;\tSelf=1-67891234-12456789abcdef012345678;"
                             "PARENT=53995C3F42CD8AD8 ; root=1-5759E988-BD862E3FE1BE46A994272793"
                             ";Lineage=a87bd80c:1|68fd508a:5;",
                             &h, &e) == 0);
    CHECK_STR(h.root, ROOT);
    CHECK_STR(h.parent, PARENT);
    CHECK_INT(h.sampled, 0);
    CHECK_STR(h.lineage, "a87bd80c:1|68fd508a:5");

    /* Root alone; Sampled=? asks us to decide. */
    CHECK(trace_header_parse("Root=" ROOT, &h, &e) == 0);
    CHECK_STR(h.parent, "");
    CHECK_INT(h.sampled, -1);
    CHECK(trace_header_parse("Root=" ROOT ";Sampled=?", &h, &e) == 0);
    CHECK_INT(h.sampled, -1);
    CHECK(!err_is_set(&e));
}

static void test_header_bad(void)
{
    static const struct {
        const char *value, *why;
    } bad[] = {
        {"", "no Root"},
        {"Parent=" PARENT ";Sampled=1", "no Root"},
        {"Root=1-5759e988", "Root must"},                           /* partial */
        {"Root=1-5759e988-bd862e3fe1be46a99427279", "Root must"},   /* one digit short */
        {"Root=1-5759e988-bd862e3fe1be46a9942727933", "Root must"}, /* one digit long */
        {"Root=2-5759e988-bd862e3fe1be46a994272793", "Root must"},  /* version */
        {"Root=1-5759e98g-bd862e3fe1be46a994272793", "Root must"},  /* not hex */
        {"Root=1_5759e988-bd862e3fe1be46a994272793", "Root must"},
        {"Root=" ROOT ";Parent=53995c3f42cd8ad", "Parent must"},
        {"Root=" ROOT ";Parent=", "Parent must"},
        {"Root=" ROOT ";Parent=53995c3f42cd8adz", "Parent must"},
        {"Root=" ROOT ";Sampled=2", "Sampled must"},
        {"Root=" ROOT ";Sampled=", "Sampled must"},
        {"Root=" ROOT ";Root=" ROOT, "repeats"},
        {"Root=" ROOT ";garbage", "has no '='"},
        {"garbage", "has no '='"},
        {"Root=" ROOT ";Lineage=", "Lineage"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct trace_header h;
        struct err e;
        err_clear(&e);
        int rc = trace_header_parse(bad[i].value, &h, &e);
        int ok = rc == -1 && !strcmp(e.code, "InvalidTraceHeader") &&
                 strstr(e.message, bad[i].why) && h.root[0] == 0 && h.parent[0] == 0;
        if (!ok)
            fprintf(stderr, "case %zu '%s': rc %d, message '%s'\n", i, bad[i].value, rc, e.message);
        CHECK(ok);
    }
    /* Too long. */
    char *big = xmalloc(TRACE_HEADER_MAX + 100);
    memset(big, ' ', TRACE_HEADER_MAX + 99);
    memcpy(big, "Root=" ROOT ";", strlen("Root=" ROOT ";"));
    big[TRACE_HEADER_MAX + 99] = 0;
    struct trace_header h;
    struct err e;
    err_clear(&e);
    CHECK(trace_header_parse(big, &h, &e) == -1);
    CHECK(strstr(e.message, "longer") != NULL);
    free(big);
    CHECK(trace_header_parse(NULL, &h, &e) == -1);
}

static int is_lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]) && !(s[i] >= 'a' && s[i] <= 'f'))
            return 0;
    return 1;
}

static void test_ids(void)
{
    enum { N = 2000 };
    static char ids[N][TRACE_ID_LEN + 1];
    static char sids[N][TRACE_SEG_ID_LEN + 1];
    long now = (long)(clock_now_ms() / 1000);
    for (int i = 0; i < N; i++) {
        trace_id_new(ids[i]);
        trace_seg_id_new(sids[i]);
    }
    int ok = 1;
    for (int i = 0; i < N; i++) {
        ok &= strlen(ids[i]) == TRACE_ID_LEN && !strncmp(ids[i], "1-", 2) && ids[i][10] == '-' &&
              is_lower_hex(ids[i] + 2, 8) && is_lower_hex(ids[i] + 11, 24) &&
              trace_id_valid(ids[i]);
        ok &= strlen(sids[i]) == TRACE_SEG_ID_LEN && is_lower_hex(sids[i], 16) &&
              trace_seg_id_valid(sids[i]);
    }
    CHECK(ok);
    long epoch = strtol(ids[0] + 2, NULL, 16);
    CHECK(epoch >= now - 2 && epoch <= now + 2);
    /* All distinct (quadratic is fine at this size). */
    int dup = 0;
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++)
            dup += !strcmp(ids[i] + 11, ids[j] + 11) || !strcmp(sids[i], sids[j]);
    CHECK_INT(dup, 0);
    CHECK(!trace_id_valid("1-5759e988-bd862e3fe1be46a99427279"));
    CHECK(!trace_seg_id_valid("53995c3f42cd8ad"));
    CHECK(!trace_seg_id_valid(NULL));
}

static void test_begin_and_propagate(void)
{
    struct err e;
    err_clear(&e);
    struct trace_ctx *seg = trace_begin("parley",
                                        "Root=" ROOT ";Parent=" PARENT ";Sampled=1;"
                                        "Lineage=a87bd80c:1",
                                        &e);
    CHECK(!err_is_set(&e));
    CHECK_STR(trace_id_of(seg), ROOT);
    CHECK(trace_sampled(seg) == 1);
    struct trace_ctx *sub = trace_sub_begin(seg, "CallModel", "remote");
    char buf[TRACE_HEADER_MAX];
    size_t n = trace_header_format(sub, 1, buf, sizeof buf);
    CHECK(n == strlen(buf) && n > 0);
    /* Downstream header: same root, this subsegment as the parent, lineage carried. */
    struct trace_header h;
    CHECK(trace_header_parse(buf, &h, &e) == 0);
    CHECK_STR(h.root, ROOT);
    CHECK_STR(h.parent, trace_ctx_id(sub));
    CHECK_INT(h.sampled, 1);
    CHECK_STR(h.lineage, "a87bd80c:1");
    CHECK(trace_header_format(seg, 0, buf, sizeof buf) > 0);
    CHECK_STR(buf, "Root=" ROOT ";Sampled=1");
    CHECK(trace_header_format(seg, 0, buf, 10) == 0 && buf[0] == 0);
    json_t *doc = trace_to_json(seg);
    CHECK_STR(json_string_value(json_object_get(doc, "parent_id")), PARENT);
    CHECK_STR(json_string_value(json_object_get(doc, "trace_id")), ROOT);
    CHECK(json_is_true(json_object_get(doc, "in_progress")));
    json_decref(doc);
    trace_sub_end(sub, NULL);
    trace_end(seg, 200);

    /* A malformed header starts a new trace and says why. */
    err_clear(&e);
    seg = trace_begin("parley", "Root=1-5759e988-bd86", &e);
    CHECK_STR(e.code, "InvalidTraceHeader");
    CHECK(trace_id_valid(trace_id_of(seg)));
    CHECK(strcmp(trace_id_of(seg), ROOT) != 0);
    doc = trace_to_json(seg);
    CHECK(json_object_get(doc, "parent_id") == NULL);
    json_decref(doc);
    trace_end(seg, 200);

    /* Sampled=0 is honoured. */
    seg = trace_begin("parley", "Root=" ROOT ";Sampled=0", NULL);
    CHECK(trace_sampled(seg) == 0);
    trace_header_format(seg, 0, buf, sizeof buf);
    CHECK_STR(buf, "Root=" ROOT ";Sampled=0");
    trace_end(seg, 200);

    /* NULL contexts are accepted everywhere. */
    CHECK(trace_sub_begin(NULL, "x", NULL) == NULL);
    trace_sub_end(NULL, NULL);
    trace_end(NULL, 200);
    trace_annotate(NULL, "k", "v");
    CHECK(trace_to_json(NULL) == NULL);
    CHECK_STR(trace_id_of(NULL), "");
    trace_shutdown();
}

/* For check_wait: the monotonic clock has passed *(int64_t *)ud microseconds. */
static int clock_passed(void *ud)
{
    return clock_mono_us() >= *(int64_t *)ud;
}

/* Lets us microseconds pass on the monotonic clock: the time a subsegment measures. */
static void sleep_us(long us)
{
    int64_t until = clock_mono_us() + us;
    check_wait(clock_passed, &until, (int)(us / 1000) + 1000);
}

/* Checks that every child lies within its parent and that start <= end; counts nodes. */
static int check_tree(json_t *node, double lo, double hi, int *count, int depth)
{
    double st = json_number_value(json_object_get(node, "start_time"));
    json_t *endv = json_object_get(node, "end_time");
    if (!json_is_number(endv) || json_object_get(node, "in_progress"))
        return 0;
    double en = json_number_value(endv);
    if (!(st >= lo && en <= hi && st <= en))
        return 0;
    if (!trace_seg_id_valid(json_string_value(json_object_get(node, "id"))))
        return 0;
    if (depth > 0 && json_object_get(node, "trace_id"))
        return 0; /* only the segment carries trace_id */
    (*count)++;
    double prev_start = st;
    size_t i;
    json_t *kid;
    json_array_foreach(json_object_get(node, "subsegments"), i, kid) {
        double ks = json_number_value(json_object_get(kid, "start_time"));
        if (ks < prev_start)
            return 0; /* siblings in start order */
        prev_start = ks;
        if (!check_tree(kid, st, en, count, depth + 1))
            return 0;
    }
    return 1;
}

static void test_nesting_timing(void)
{
    double before = clock_now_ms() / 1000.0 - 0.002;
    struct trace_ctx *seg = trace_begin("parley", NULL, NULL);
    trace_set_request(seg, "POST", "http://127.0.0.1/chat", "curl/8", "127.0.0.1");
    trace_annotate(seg, "session_id", "s-123");
    struct trace_ctx *state = trace_sub_begin(seg, "LoadContext", NULL);
    struct trace_ctx *store = trace_sub_begin(state, "store.load_messages", NULL);
    sleep_us(2000);
    trace_sub_end(store, NULL);
    trace_sub_end(state, NULL);
    struct trace_ctx *model_state = trace_sub_begin(seg, "CallModel", NULL);
    struct trace_ctx *model = trace_sub_begin(model_state, "bedrock", "remote");
    sleep_us(3000);
    trace_sub_end(model, NULL);
    struct trace_ctx *queue = trace_sub_begin(model_state, "queue.send", "aws");
    trace_sub_end(queue, NULL);
    trace_sub_end(model_state, NULL);
    json_t *doc = trace_to_json(seg);
    CHECK(json_is_true(json_object_get(doc, "in_progress")));
    json_decref(doc);
    char id[TRACE_ID_LEN + 1];
    snprintf(id, sizeof id, "%s", trace_id_of(seg));
    trace_end(seg, 200);
    double after = clock_now_ms() / 1000.0 + 0.002;

    json_t *t = trace_store_get(id);
    CHECK(t != NULL);
    json_t *s = json_array_get(json_object_get(t, "segments"), 0);
    CHECK_STR(json_string_value(json_object_get(s, "name")), "parley");
    int count = 0;
    CHECK(check_tree(s, before, after, &count, 0));
    CHECK_INT(count, 6);
    json_t *subs = json_object_get(s, "subsegments");
    CHECK_INT(json_array_size(subs), 2);
    json_t *cm = json_array_get(subs, 1);
    CHECK_STR(json_string_value(json_object_get(cm, "name")), "CallModel");
    json_t *br = json_array_get(json_object_get(cm, "subsegments"), 0);
    CHECK_STR(json_string_value(json_object_get(br, "namespace")), "remote");
    CHECK(json_number_value(json_object_get(br, "end_time")) -
              json_number_value(json_object_get(br, "start_time")) >=
          0.0029);
    CHECK(json_object_get(json_array_get(subs, 0), "namespace") == NULL);
    json_t *http = json_object_get(s, "http");
    json_t *hreq = json_object_get(http, "request");
    CHECK_STR(json_string_value(json_object_get(hreq, "method")), "POST");
    CHECK_STR(json_string_value(json_object_get(hreq, "url")), "http://127.0.0.1/chat");
    CHECK_STR(json_string_value(json_object_get(hreq, "user_agent")), "curl/8");
    CHECK_STR(json_string_value(json_object_get(hreq, "client_ip")), "127.0.0.1");
    CHECK_INT((int)json_object_size(hreq), 4);
    CHECK_INT(json_integer_value(json_object_get(json_object_get(http, "response"), "status")),
              200);
    CHECK_STR(json_string_value(json_object_get(json_object_get(s, "annotations"), "session_id")),
              "s-123");
    CHECK(json_object_get(s, "error") == NULL && json_object_get(s, "fault") == NULL);
    json_decref(t);
    trace_shutdown();
}

static json_t *find_sub(json_t *seg, const char *name)
{
    size_t i;
    json_t *k;
    json_array_foreach(json_object_get(seg, "subsegments"), i, k) {
        if (!strcmp(json_string_value(json_object_get(k, "name")), name))
            return k;
    }
    return NULL;
}

static void test_error_flags(void)
{
    static const struct {
        const char *code;
        int error, throttle, fault;
    } cases[] = {
        {"ThrottlingException", 1, 1, 0}, {"TooManyRequests", 1, 1, 0}, {"InvalidRequest", 1, 0, 0},
        {"ValidationException", 1, 0, 0}, {"NotFound", 1, 0, 0},        {"States.Timeout", 0, 0, 1},
        {"ModelUnavailable", 0, 0, 1},
    };
    struct trace_ctx *seg = trace_begin("parley", NULL, NULL);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct err e;
        err_set(&e, cases[i].code, "it failed: case %zu", i);
        trace_sub_end(trace_sub_begin(seg, cases[i].code, "remote"), &e);
    }
    trace_sub_end(trace_sub_begin(seg, "fine", NULL), NULL);
    json_t *doc = trace_to_json(seg);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        json_t *s = find_sub(doc, cases[i].code);
        int ok = s && json_is_true(json_object_get(s, "error")) == cases[i].error &&
                 json_is_true(json_object_get(s, "throttle")) == cases[i].throttle &&
                 json_is_true(json_object_get(s, "fault")) == cases[i].fault;
        json_t *ex = json_array_get(json_object_get(json_object_get(s, "cause"), "exceptions"), 0);
        ok = ok && !strcmp(json_string_value(json_object_get(ex, "type")), cases[i].code) &&
             strstr(json_string_value(json_object_get(ex, "message")), "it failed") &&
             trace_seg_id_valid(json_string_value(json_object_get(ex, "id")));
        if (!ok)
            fprintf(stderr, "flags wrong for %s\n", cases[i].code);
        CHECK(ok);
    }
    json_t *fine = find_sub(doc, "fine");
    CHECK(fine && !json_object_get(fine, "error") && !json_object_get(fine, "fault") &&
          !json_object_get(fine, "cause"));
    json_decref(doc);
    trace_end(seg, 200);

    static const struct {
        int status, error, throttle, fault;
    } st[] = {{200, 0, 0, 0}, {404, 1, 0, 0}, {429, 1, 1, 0}, {500, 0, 0, 1}, {503, 0, 0, 1}};
    for (size_t i = 0; i < sizeof st / sizeof *st; i++) {
        seg = trace_begin("parley", NULL, NULL);
        char id[TRACE_ID_LEN + 1];
        snprintf(id, sizeof id, "%s", trace_id_of(seg));
        trace_end(seg, st[i].status);
        json_t *t = trace_store_get(id);
        json_t *s = json_array_get(json_object_get(t, "segments"), 0);
        CHECK(json_is_true(json_object_get(s, "error")) == st[i].error);
        CHECK(json_is_true(json_object_get(s, "throttle")) == st[i].throttle);
        CHECK(json_is_true(json_object_get(s, "fault")) == st[i].fault);
        json_decref(t);
    }
    trace_shutdown();
}

/* A UDP socket on 127.0.0.1 standing in for the daemon. */
static int udp_listener(int *port)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &al) < 0)
        return -1;
    *port = ntohs(a.sin_port);
    return fd;
}

/* Receives one datagram within ms; returns its length or -1. */
static long udp_recv(int fd, char *buf, size_t len, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, ms) != 1)
        return -1;
    long n = recv(fd, buf, len - 1, 0);
    if (n >= 0)
        buf[n] = 0;
    return n;
}

static const char DAEMON_HEAD[] = "{\"format\": \"json\", \"version\": 1}\n";

static void test_udp_export(void)
{
    int port;
    int fd = udp_listener(&port);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    char addr[128];
    struct err e;
    err_clear(&e);
    snprintf(addr, sizeof addr, "tcp:127.0.0.1:%d udp:127.0.0.1:%d", port + 1, port);
    CHECK(trace_export_configure(addr, &e) == 0);

    struct trace_ctx *seg = trace_begin("parley", "Root=" ROOT ";Parent=" PARENT, NULL);
    struct err boom;
    err_set(&boom, "ModelUnavailable", "model said \"no\"");
    trace_sub_end(trace_sub_begin(seg, "bedrock", "remote"), &boom);
    trace_end(seg, 502);
    static char buf[70000];
    long n = udp_recv(fd, buf, sizeof buf, 2000);
    CHECK(n > (long)strlen(DAEMON_HEAD));
    CHECK(n > 0 && !strncmp(buf, DAEMON_HEAD, strlen(DAEMON_HEAD)));
    json_error_t je;
    json_t *doc = n > 0 ? json_loads(buf + strlen(DAEMON_HEAD), 0, &je) : NULL;
    CHECK(doc != NULL);
    CHECK_STR(json_string_value(json_object_get(doc, "trace_id")), ROOT);
    CHECK_STR(json_string_value(json_object_get(doc, "parent_id")), PARENT);
    CHECK(json_is_true(json_object_get(doc, "fault")));
    json_t *sub = json_array_get(json_object_get(doc, "subsegments"), 0);
    CHECK(json_is_true(json_object_get(sub, "fault")));
    CHECK(json_is_number(json_object_get(doc, "end_time")));
    json_decref(doc);

    /* Not sampled: kept in the store, not sent. */
    seg = trace_begin("parley", "Root=" ROOT ";Sampled=0", NULL);
    trace_end(seg, 200);
    CHECK(udp_recv(fd, buf, sizeof buf, 200) == -1);
    json_t *t = trace_store_get(ROOT);
    CHECK_INT(json_array_size(json_object_get(t, "segments")), 2);
    json_decref(t);

    /* A document over the datagram limit goes out without its subsegments. */
    seg = trace_begin("parley", NULL, NULL);
    char big[300];
    memset(big, 'v', sizeof big - 1);
    big[sizeof big - 1] = 0;
    for (int i = 0; i < 60; i++) {
        struct trace_ctx *s = trace_sub_begin(seg, "bulky", NULL);
        for (int k = 0; k < TRACE_MAX_ANNOTATIONS; k++) {
            char key[16];
            snprintf(key, sizeof key, "k%d", k);
            trace_annotate(s, key, big);
        }
        trace_sub_end(s, NULL);
    }
    trace_end(seg, 200);
    n = udp_recv(fd, buf, sizeof buf, 2000);
    CHECK(n > 0 && n <= TRACE_UDP_MAX + (long)strlen(DAEMON_HEAD));
    doc = n > 0 ? json_loads(buf + strlen(DAEMON_HEAD), 0, &je) : NULL;
    CHECK(doc && !json_object_get(doc, "subsegments"));
    CHECK(json_is_true(json_object_get(json_object_get(json_object_get(doc, "metadata"), "parley"),
                                       "subsegments_omitted")));
    json_decref(doc);
    unsigned long sent, failed;
    trace_export_stats(&sent, &failed);
    CHECK_INT(sent, 2);

    /* The SDKs' variable is read when Parley's own is unset. */
    trace_shutdown();
    char plain[64];
    snprintf(plain, sizeof plain, "127.0.0.1:%d", port);
    unsetenv("PARLEY_XRAY_DAEMON");
    setenv("AWS_XRAY_DAEMON_ADDRESS", plain, 1);
    CHECK(trace_init_from_env(&e) == 0);
    trace_end(trace_begin("from-env", NULL, NULL), 200);
    n = udp_recv(fd, buf, sizeof buf, 2000);
    CHECK(n > 0 && strstr(buf, "\"from-env\"") != NULL);
    unsetenv("AWS_XRAY_DAEMON_ADDRESS");

    /* Bad addresses are refused and leave export off. */
    static const char *bad[] = {"nonsense", "127.0.0.1:",     "127.0.0.1:99999",
                                ":2000",    "127.0.0.1:20x0", "udp:"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err_clear(&e);
        CHECK(trace_export_configure(bad[i], &e) == -1);
        CHECK_STR(e.code, "InvalidConfig");
    }
    trace_end(trace_begin("after-bad", NULL, NULL), 200);
    CHECK(udp_recv(fd, buf, sizeof buf, 200) == -1);
    CHECK(trace_export_configure(NULL, &e) == 0);
    close(fd);
    trace_shutdown();
}

/* Capacity 0 keeps no segment (a server without operator APIs: nothing could read them), while
 * export goes on; with export off as well a segment is not rendered. A capacity again keeps. */
static void test_store_off(void)
{
    trace_shutdown();
    int port;
    int fd = udp_listener(&port);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    char addr[64];
    struct err e;
    err_clear(&e);
    snprintf(addr, sizeof addr, "udp:127.0.0.1:%d", port);
    CHECK(trace_export_configure(addr, &e) == 0);
    trace_store_set_capacity(0);
    struct trace_ctx *seg = trace_begin("parley", "Root=" ROOT ";Sampled=1", NULL);
    trace_end(seg, 200);
    CHECK_INT(trace_store_count(), 0);
    CHECK(trace_store_get(ROOT) == NULL);
    static char buf[70000];
    long n = udp_recv(fd, buf, sizeof buf, 2000);
    CHECK(n > (long)strlen(DAEMON_HEAD) && strstr(buf, ROOT) != NULL);
    CHECK(trace_export_configure(NULL, &e) == 0);
    trace_end(trace_begin("parley", NULL, NULL), 200);
    CHECK_INT(trace_store_count(), 0);
    trace_store_set_capacity(5);
    seg = trace_begin("parley", "Root=" ROOT, NULL);
    trace_end(seg, 200);
    CHECK_INT(trace_store_count(), 1);
    json_t *t = trace_store_get(ROOT);
    CHECK(t != NULL);
    json_decref(t);
    close(fd);
    trace_shutdown();
}

static void test_store_eviction(void)
{
    trace_shutdown();
    trace_store_set_capacity(5);
    char ids[7][TRACE_ID_LEN + 1];
    for (int i = 0; i < 7; i++) {
        struct trace_ctx *seg = trace_begin("parley", NULL, NULL);
        snprintf(ids[i], sizeof ids[i], "%s", trace_id_of(seg));
        trace_end(seg, 200);
    }
    CHECK_INT(trace_store_count(), 5);
    CHECK(trace_store_get(ids[0]) == NULL);
    CHECK(trace_store_get(ids[1]) == NULL);
    for (int i = 2; i < 7; i++) {
        json_t *t = trace_store_get(ids[i]);
        CHECK(t != NULL);
        CHECK_STR(json_string_value(json_object_get(t, "trace_id")), ids[i]);
        json_decref(t);
    }
    /* Upper-case lookups find the same trace; junk finds nothing. */
    char upper[TRACE_ID_LEN + 1];
    for (int i = 0; i <= TRACE_ID_LEN; i++)
        upper[i] = (char)toupper((unsigned char)ids[6][i]);
    json_t *t = trace_store_get(upper);
    CHECK(t != NULL);
    json_decref(t);
    CHECK(trace_store_get("../../etc/passwd") == NULL);
    CHECK(trace_store_get(NULL) == NULL);

    /* Two segments of one trace (an upstream hop, then ours) come back oldest first. */
    struct trace_ctx *a = trace_begin("first", "Root=" ROOT, NULL);
    trace_end(a, 200);
    struct trace_ctx *b = trace_begin("second", "Root=" ROOT ";Parent=" PARENT, NULL);
    trace_end(b, 200);
    t = trace_store_get(ROOT);
    json_t *segs = json_object_get(t, "segments");
    CHECK_INT(json_array_size(segs), 2);
    CHECK_STR(json_string_value(json_object_get(json_array_get(segs, 0), "name")), "first");
    CHECK_STR(json_string_value(json_object_get(json_array_get(segs, 1), "name")), "second");
    json_decref(t);

    /* Shrinking keeps the newest. */
    trace_store_set_capacity(2);
    CHECK_INT(trace_store_count(), 2);
    t = trace_store_get(ROOT);
    CHECK_INT(json_array_size(json_object_get(t, "segments")), 2);
    json_decref(t);
    CHECK(trace_store_get(ids[6]) == NULL);
    struct trace_ctx *c = trace_begin("third", NULL, NULL);
    trace_end(c, 200);
    t = trace_store_get(ROOT);
    CHECK_INT(json_array_size(json_object_get(t, "segments")), 1);
    json_decref(t);
    trace_shutdown();
}

static atomic_int request_ended; /* set once the request's segment has ended */

static int segment_ended(void *ud)
{
    (void)ud;
    return atomic_load(&request_ended);
}

static void *late_end(void *arg)
{
    /* Ends only after the request's segment has: the late end this test is about. */
    check_wait(segment_ended, NULL, 10000);
    struct err e;
    err_set(&e, "States.Timeout", "worker finished late");
    trace_sub_end(arg, &e);
    return NULL;
}

static void test_late_and_caps(void)
{
    /* A worker's subsegment outlives the request: the segment closes it in the document, and
     * the worker's own end later touches valid memory (ASan would say otherwise). */
    struct trace_ctx *seg = trace_begin("parley", NULL, NULL);
    struct trace_ctx *sub = trace_sub_begin(seg, "action_worker", NULL);
    pthread_t th;
    pthread_create(&th, NULL, late_end, sub);
    char id[TRACE_ID_LEN + 1];
    snprintf(id, sizeof id, "%s", trace_id_of(seg));
    trace_end(seg, 200);
    atomic_store(&request_ended, 1);
    pthread_join(th, NULL);
    json_t *t = trace_store_get(id);
    json_t *s = json_array_get(json_object_get(t, "segments"), 0);
    json_t *w = json_array_get(json_object_get(s, "subsegments"), 0);
    CHECK(json_number_value(json_object_get(w, "end_time")) ==
          json_number_value(json_object_get(s, "end_time")));
    CHECK(json_object_get(w, "fault") == NULL); /* its late error is not in the sent doc */
    json_decref(t);

    /* Caps: subsegments, names, annotations. */
    seg = trace_begin("bad name!{}\xff with a very long tail", NULL, NULL);
    for (int i = 0; i < TRACE_MAX_SUBSEGMENTS + 44; i++)
        trace_sub_end(trace_sub_begin(seg, "s", NULL), NULL);
    char longname[600];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    for (int k = 0; k < TRACE_MAX_ANNOTATIONS + 5; k++) {
        char key[16];
        snprintf(key, sizeof key, "key-%d", k);
        trace_annotate(seg, key, longname);
    }
    json_t *doc = trace_to_json(seg);
    CHECK_INT(json_array_size(json_object_get(doc, "subsegments")), TRACE_MAX_SUBSEGMENTS);
    CHECK_INT(json_integer_value(
                  json_object_get(json_object_get(json_object_get(doc, "metadata"), "parley"),
                                  "dropped_subsegments")),
              44);
    const char *name = json_string_value(json_object_get(doc, "name"));
    CHECK_STR(name, "bad name____ with a very long tail");
    json_t *ann = json_object_get(doc, "annotations");
    CHECK_INT(json_object_size(ann), TRACE_MAX_ANNOTATIONS);
    CHECK_INT(strlen(json_string_value(json_object_get(ann, "key_0"))), 256);
    json_decref(doc);
    trace_end(seg, 200);
    seg = trace_begin(longname, NULL, NULL);
    doc = trace_to_json(seg);
    CHECK_INT(strlen(json_string_value(json_object_get(doc, "name"))), TRACE_NAME_MAX);
    json_decref(doc);
    trace_end(seg, 0);
    trace_shutdown();
}

struct par {
    struct trace_ctx *parent;
};

static void *add_subs(void *arg)
{
    struct par *p = arg;
    for (int i = 0; i < 30; i++) {
        struct trace_ctx *s = trace_sub_begin(p->parent, "parallel", NULL);
        trace_sub_end(trace_sub_begin(s, "inner", NULL), NULL);
        trace_sub_end(s, NULL);
    }
    return NULL;
}

static void test_concurrent_subsegments(void)
{
    struct trace_ctx *seg = trace_begin("parley", NULL, NULL);
    struct trace_ctx *par = trace_sub_begin(seg, "Parallel", NULL);
    pthread_t th[4];
    struct par p = {par};
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, add_subs, &p);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    trace_sub_end(par, NULL);
    char id[TRACE_ID_LEN + 1];
    snprintf(id, sizeof id, "%s", trace_id_of(seg));
    trace_end(seg, 200);
    json_t *t = trace_store_get(id);
    json_t *doc = json_array_get(json_object_get(t, "segments"), 0);
    json_t *ps = json_array_get(json_object_get(doc, "subsegments"), 0);
    CHECK_INT(json_array_size(json_object_get(ps, "subsegments")), 4 * 30);
    int count = 0;
    CHECK(check_tree(doc, 0, 1e12, &count, 0));
    CHECK_INT(count, 1 + 1 + 4 * 30 * 2);
    json_decref(t);
    trace_shutdown();
}

/* Printed, not asserted: the cost of one traced request with five subsegments, stored. */
static void test_benchmark(void)
{
    enum { N = 2000 };
    int64_t t0 = clock_mono_us();
    for (int i = 0; i < N; i++) {
        struct trace_ctx *seg = trace_begin("parley", "Root=" ROOT ";Parent=" PARENT, NULL);
        for (int k = 0; k < 5; k++)
            trace_sub_end(trace_sub_begin(seg, "state", NULL), NULL);
        trace_end(seg, 200);
    }
    int64_t t1 = clock_mono_us();
    printf("# bench: segment with 5 subsegments, begin to stored: %.2f us\n",
           (double)(t1 - t0) / N);
    CHECK_INT(trace_store_count(), N < TRACE_STORE_DEFAULT ? N : TRACE_STORE_DEFAULT);
    trace_shutdown();
}

int main(void)
{
    xmalloc_init();
    RUN(test_header_good);
    RUN(test_header_bad);
    RUN(test_ids);
    RUN(test_begin_and_propagate);
    RUN(test_nesting_timing);
    RUN(test_error_flags);
    RUN(test_udp_export);
    RUN(test_store_off);
    RUN(test_store_eviction);
    RUN(test_late_and_caps);
    RUN(test_concurrent_subsegments);
    RUN(test_benchmark);
    return check_summary();
}
