/*
 * test_bus.c - the event envelope and the local bus: rules-file validation, routing to log and
 * analytics targets, flush, flush-on-free, the bounded queue's drop accounting, and the split of
 * work between bus_put_new (all that reads the event) and the worker.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/log.h"
#include "bus/bus.h"
#include "check.h"

static char tmpdir[256];

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/parley-test-bus-XXXXXX");
    if (!mkdtemp(tmpdir))
        abort();
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

/* Returns the lines of a file as a JSON array of parsed objects (NULL entries for bad lines). */
static json_t *read_json_lines(const char *path)
{
    json_t *out = json_array();
    FILE *f = fopen(path, "r");
    char line[8192];
    if (!f)
        return out;
    while (fgets(line, sizeof line, f)) {
        json_t *v = json_loads(line, 0, NULL);
        json_array_append_new(out, v ? v : json_null());
    }
    fclose(f);
    return out;
}

/* ---- envelope ---- */

static void test_envelope(void)
{
    json_t *ev = bus_event_new(BUS_ACTION_EXECUTED, json_pack("{s:s}", "tool", "lookup_order"));
    CHECK(ev != NULL);
    CHECK_STR(json_string_value(json_object_get(ev, "version")), "0");
    CHECK_STR(json_string_value(json_object_get(ev, "detail-type")), "action_executed");
    CHECK_STR(json_string_value(json_object_get(ev, "source")), "parley.agent");
    CHECK(json_is_string(json_object_get(ev, "account")));
    CHECK(json_is_string(json_object_get(ev, "region")));
    CHECK(json_is_array(json_object_get(ev, "resources")));
    CHECK_INT(json_array_size(json_object_get(ev, "resources")), 0);
    CHECK_STR(json_string_value(json_object_get(json_object_get(ev, "detail"), "tool")),
              "lookup_order");
    const char *id = json_string_value(json_object_get(ev, "id"));
    CHECK(id && strlen(id) == 36 && id[14] == '4' && strchr("89ab", id[19]) && id[8] == '-');
    const char *t = json_string_value(json_object_get(ev, "time"));
    CHECK(t && strlen(t) == 20 && t[4] == '-' && t[10] == 'T' && t[19] == 'Z');
    /* The members in EventBridge's order (the events log writes them so). */
    static const char *const order[] = {"version", "id",     "detail-type", "source", "account",
                                        "time",    "region", "resources",   "detail"};
    size_t k = 0;
    int in_order = 1;
    for (void *it = json_object_iter(ev); it; it = json_object_iter_next(ev, it), k++)
        in_order &= k < 9 && strcmp(json_object_iter_key(it), order[k]) == 0;
    CHECK(in_order && k == 9);
    /* A detail-type that is not UTF-8 gives no event (and the detail is let go: ASan's leak
     * check). */
    CHECK(bus_event_new("bad\xc3", json_pack("{s:s}", "tool", "x")) == NULL);
    json_t *ev2 = bus_event_new(BUS_ERROR_OCCURRED, NULL);
    CHECK(strcmp(json_string_value(json_object_get(ev2, "id")), id) != 0);
    CHECK(json_is_object(json_object_get(ev2, "detail")));
    json_decref(ev);
    json_decref(ev2);
    CHECK(bus_event_name_known("handoff_requested"));
    CHECK(bus_event_name_known("conversation_archived"));
    CHECK(!bus_event_name_known("conversation_ended"));
    CHECK(!bus_event_name_known(NULL));
}

/* ---- rules validation ---- */

static void expect_bad_rules(const char *text, const char *fragment)
{
    struct err e;
    err_clear(&e);
    json_t *doc = json_loads(text, 0, NULL);
    int rc = bus_local_check_rules(doc, "t.json", &e);
    CHECK_INT(rc, -1);
    CHECK_STR(e.code, "InvalidConfig");
    if (!strstr(e.message, fragment))
        fprintf(stderr, "wanted '%s' in '%s'\n", fragment, e.message);
    CHECK(strstr(e.message, fragment) != NULL);
    json_decref(doc);
}

static void test_rules_validation(void)
{
    expect_bad_rules("[]", "must be an object");
    expect_bad_rules("{\"rulez\": []}", "unknown key \"rulez\"");
    expect_bad_rules("{\"rules\": {}}", "\"rules\" must be an array");
    expect_bad_rules("{\"rules\": [{\"eventPattern\": {\"source\": [\"x\"]}, \"targets\": "
                     "[{\"type\": \"analytics\"}]}]}",
                     "rules[0]: \"name\" is missing");
    expect_bad_rules("{\"rules\": [{\"name\": \"a\", \"eventPatern\": {}, \"targets\": []}]}",
                     "rules[0] (\"a\"): unknown key \"eventPatern\"");
    expect_bad_rules("{\"rules\": [{\"name\": \"a\", \"eventPattern\": {\"source\": []}, "
                     "\"targets\": [{\"type\": \"analytics\"}]}]}",
                     "rules[0] (\"a\"): event pattern is not valid: source: Empty arrays");
    expect_bad_rules("{\"rules\": [{\"name\": \"a\", \"eventPattern\": {\"source\": [\"x\"]}, "
                     "\"targets\": []}]}",
                     "\"targets\" must be an array of 1 to 5 targets");
    expect_bad_rules("{\"rules\": [{\"name\": \"a\", \"eventPattern\": {\"source\": [\"x\"]}, "
                     "\"targets\": [{\"type\": \"sns\"}]}]}",
                     "targets[0]: unknown target type 'sns'");
    expect_bad_rules("{\"rules\": [{\"name\": \"a\", \"eventPattern\": {\"source\": [\"x\"]}, "
                     "\"targets\": [{\"type\": \"log\"}]}]}",
                     "needs \"logGroup\"");
    expect_bad_rules("{\"rules\": [{\"name\": \"a\", \"eventPattern\": {\"source\": [\"x\"]}, "
                     "\"targets\": [{\"type\": \"log\", \"logGroup\": \"/a b\"}]}]}",
                     "logGroup '/a b' must be");
    expect_bad_rules("{\"rules\": [{\"name\": \"a\", \"eventPattern\": {\"source\": [\"x\"]}, "
                     "\"targets\": [{\"type\": \"webhook\", \"url\": \"ftp://x\"}]}]}",
                     "needs \"url\" (http:// or https://)");
    expect_bad_rules("{\"rules\": [{\"name\": \"a\", \"eventPattern\": {\"source\": [\"x\"]}, "
                     "\"targets\": [{\"type\": \"webhook\", \"url\": \"http://x\", "
                     "\"maxAttempts\": 0}]}]}",
                     "maxAttempts must be an integer from 1 to 10");
    expect_bad_rules("{\"rules\": [{\"name\": \"a\", \"eventPattern\": {\"source\": [\"x\"]}, "
                     "\"targets\": [{\"type\": \"analytics\"}]}, {\"name\": \"a\", "
                     "\"eventPattern\": {\"source\": [\"y\"]}, \"targets\": [{\"type\": "
                     "\"analytics\"}]}]}",
                     "rules[1] (\"a\"): duplicate rule name");

    /* A file that does not parse names its line. */
    char path[512];
    struct err e;
    snprintf(path, sizeof path, "%s/broken.json", tmpdir);
    write_file(path, "{\"rules\": [\n  {\"name\": \"a\",}\n]}\n");
    struct bus_local_config cfg = {.data_dir = tmpdir, .rules_path = path};
    err_clear(&e);
    CHECK(bus_local_new(&cfg, &e) == NULL);
    CHECK(strstr(e.message, "broken.json': line 2") != NULL);
    cfg.rules_path = "/nonexistent/rules.json";
    CHECK(bus_local_new(&cfg, &e) == NULL);
    CHECK(strstr(e.message, "cannot read") != NULL);
    cfg.data_dir = NULL;
    CHECK(bus_local_new(&cfg, &e) == NULL);
}

/* ---- routing ---- */

struct sink_log {
    pthread_mutex_t mu;
    int n;
    char last[64];
    pthread_t thread; /* the thread of the last call */
};

static int sink_fn(void *ud, const json_t *event)
{
    struct sink_log *s = ud;
    pthread_mutex_lock(&s->mu);
    s->n++;
    snprintf(s->last, sizeof s->last, "%s",
             json_string_value(json_object_get(event, "detail-type")));
    s->thread = pthread_self();
    pthread_mutex_unlock(&s->mu);
    return 0;
}

static int sink_count(struct sink_log *sl)
{
    pthread_mutex_lock(&sl->mu);
    int n = sl->n;
    pthread_mutex_unlock(&sl->mu);
    return n;
}

static void test_routing_rules_file(void)
{
    char dir[512], rules[600], path[700];
    snprintf(dir, sizeof dir, "%s/routing", tmpdir);
    mkdir(dir, 0755);
    snprintf(rules, sizeof rules, "%s/rules.json", dir);
    write_file(rules,
               "{\"rules\": [\n"
               " {\"name\": \"all\", \"eventPattern\": {\"source\": [\"parley.agent\"]},\n"
               "  \"targets\": [{\"type\": \"log\", \"logGroup\": \"/parley/events\"}]},\n"
               " {\"name\": \"failures\", \"eventPattern\": {\"detail-type\": [\"action_failed\", "
               "\"error_occurred\"]},\n"
               "  \"targets\": [{\"type\": \"log\", \"logGroup\": \"/parley/alerts\"}]},\n"
               " {\"name\": \"slow-tools\", \"eventPattern\": {\"detail-type\": "
               "[\"action_executed\"], \"detail\": {\"latency_ms\": [{\"numeric\": [\">=\", "
               "1000]}]}},\n"
               "  \"targets\": [{\"type\": \"analytics\"}]}\n"
               "]}\n");
    struct bus_local_config cfg = {.data_dir = dir, .rules_path = rules};
    struct err e;
    struct bus *bus = bus_local_new(&cfg, &e);
    CHECK(bus != NULL);
    if (!bus) {
        fprintf(stderr, "%s\n", e.message);
        return;
    }
    struct sink_log sl = {.mu = PTHREAD_MUTEX_INITIALIZER};
    bus_set_analytics_sink(bus, sink_fn, &sl);
    const struct {
        const char *type;
        int latency;
    } evs[] = {{"conversation_started", 0}, {"action_executed", 20}, {"action_executed", 1500},
               {"action_failed", 30},       {"error_occurred", 0},   {"conversation_archived", 0}};
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++) {
        json_t *ev = bus_event_new(evs[i].type, json_pack("{s:i}", "latency_ms", evs[i].latency));
        CHECK_INT(bus_put(bus, ev, &e), 0);
        json_decref(ev);
    }
    /* Not from parley.agent: matches no rule. Handed over (bus_put_new): the bus owns it now. */
    json_t *foreign = json_pack("{s:s, s:s}", "source", "other", "detail-type", "x");
    CHECK_INT(bus_put_new(bus, foreign, &e), 0);
    CHECK_INT(bus_flush(bus, 5000), 0);

    snprintf(path, sizeof path, "%s/logs/parley_events.log", dir);
    json_t *all = read_json_lines(path);
    CHECK_INT(json_array_size(all), 6);
    CHECK_STR(json_string_value(json_object_get(json_array_get(all, 2), "detail-type")),
              "action_executed");
    CHECK_INT(json_integer_value(
                  json_object_get(json_object_get(json_array_get(all, 2), "detail"), "latency_ms")),
              1500);
    json_decref(all);
    snprintf(path, sizeof path, "%s/logs/parley_alerts.log", dir);
    json_t *alerts = read_json_lines(path);
    CHECK_INT(json_array_size(alerts), 2);
    CHECK_STR(json_string_value(json_object_get(json_array_get(alerts, 0), "detail-type")),
              "action_failed");
    CHECK_STR(json_string_value(json_object_get(json_array_get(alerts, 1), "detail-type")),
              "error_occurred");
    json_decref(alerts);
    CHECK_INT(sl.n, 1);
    CHECK_STR(sl.last, "action_executed");

    struct bus_stats st;
    bus_stats(bus, &st);
    CHECK_INT(st.accepted, 7);
    CHECK_INT(st.delivered, 6 + 2 + 1);
    CHECK_INT(st.unmatched, 1);
    CHECK_INT(st.dropped, 0);
    CHECK_INT(st.failed, 0);
    CHECK_INT(st.queued, 0);
    CHECK_INT(bus_put(bus, NULL, &e), -1);
    CHECK_STR(e.code, "InvalidEvent");
    /* a refused event handed over is let go of too (the sanitizer build finds a leak) */
    CHECK_INT(bus_put_new(bus, json_string("not an object"), &e), -1);
    CHECK_STR(e.code, "InvalidEvent");
    bus_free(bus);
    bus_free(NULL);
}

/* A bus with the default rules over <tmpdir>/<name> (made if missing), its analytics sink
 * counting into sl; NULL (the CHECK failed) if it cannot start. */
static struct bus *default_bus(const char *name, struct sink_log *sl)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/%s", tmpdir, name);
    mkdir(dir, 0755);
    struct bus_local_config cfg = {.data_dir = dir};
    struct err e;
    struct bus *bus = bus_local_new(&cfg, &e);
    CHECK(bus != NULL);
    if (bus)
        bus_set_analytics_sink(bus, sink_fn, sl);
    return bus;
}

/* Puts one message_received event whose detail is {"n": n}; returns bus_put's result. */
static int put_numbered(struct bus *bus, int n)
{
    struct err e;
    json_t *ev = bus_event_new(BUS_MESSAGE_RECEIVED, json_pack("{s:i}", "n", n));
    int rc = bus_put(bus, ev, &e);
    json_decref(ev);
    return rc;
}

static void test_default_rules_and_flush_on_free(void)
{
    char path[700];
    struct sink_log sl = {.mu = PTHREAD_MUTEX_INITIALIZER};
    struct bus *bus = default_bus("defaults", &sl);
    if (!bus)
        return;
    int accepted = 0;
    for (int i = 0; i < 500; i++)
        accepted += put_numbered(bus, i) == 0;
    bus_free(bus); /* no flush: free must deliver everything accepted */
    snprintf(path, sizeof path, "%s/defaults/logs/parley_events.log", tmpdir);
    json_t *lines = read_json_lines(path);
    CHECK_INT(accepted, 500);
    CHECK_INT(json_array_size(lines), 500);
    /* In order, and each a whole JSON object. */
    int in_order = 1;
    for (size_t i = 0; i < json_array_size(lines); i++) {
        json_t *d = json_object_get(json_array_get(lines, i), "detail");
        in_order &= json_integer_value(json_object_get(d, "n")) == (json_int_t)i;
    }
    CHECK(in_order);
    CHECK_INT(sl.n, 500);
    json_decref(lines);
}

/* ---- overflow ---- */

/* A TCP listener on 127.0.0.1 that never accepts: a webhook to it connects (the kernel's backlog)
 * and waits for an answer until its timeoutMs, which keeps the worker busy that long an event.
 * Returns the socket (close it) and sets *port. */
static int silent_listener(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 128) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        abort();
    *port = ntohs(a.sin_port);
    return fd;
}

/* Writes <dir>/rules.json: every parley.agent event to a webhook at port that takes 100 ms to
 * give up on, once (one slow delivery an event), and to an analytics target; returns the path. */
static void slow_rules(const char *dir, int port, char *rules, size_t size)
{
    char text[600];
    snprintf(rules, size, "%s/rules.json", dir);
    snprintf(text, sizeof text,
             "{\"rules\": [{\"name\": \"a\", \"eventPattern\": {\"source\": [\"parley.agent\"]}, "
             "\"targets\": [{\"type\": \"webhook\", \"url\": \"http://127.0.0.1:%d/hook\", "
             "\"maxAttempts\": 1, \"timeoutMs\": 100}, {\"type\": \"analytics\"}]}]}",
             port);
    write_file(rules, text);
}

static void test_overflow_counts_drops(void)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/overflow", tmpdir);
    mkdir(dir, 0755);
    int port;
    int lfd = silent_listener(&port);
    char rules[600];
    slow_rules(dir, port, rules, sizeof rules);
    struct bus_local_config cfg = {.data_dir = dir,
                                   .rules_path = rules,
                                   .queue_cap = 4,
                                   .put_wait_ms = -1};
    struct err e;
    struct bus *bus = bus_local_new(&cfg, &e);
    CHECK(bus != NULL);
    if (!bus) {
        close(lfd);
        return;
    }
    struct sink_log sl = {.mu = PTHREAD_MUTEX_INITIALIZER};
    bus_set_analytics_sink(bus, sink_fn, &sl);
    enum log_level saved = log_threshold;
    log_threshold = LL_OFF; /* the drop warning and the webhook's failures are expected here */
    int ok = 0, full = 0;
    for (int i = 0; i < 40; i++) {
        json_t *ev = bus_event_new(BUS_MESSAGE_RECEIVED, NULL);
        err_clear(&e);
        if (bus_put(bus, ev, &e) == 0)
            ok++;
        else if (strcmp(e.code, "BusFull") == 0)
            full++;
        json_decref(ev);
    }
    CHECK(full > 0);
    CHECK_INT(ok + full, 40);
    CHECK_INT(sink_count(&sl), ok); /* the sink took each accepted event, and no refused one */
    CHECK_INT(bus_flush(bus, 10000), 0);
    struct bus_stats st;
    bus_stats(bus, &st);
    CHECK_INT(st.dropped, (uint64_t)full);
    CHECK_INT(st.accepted, (uint64_t)ok);
    /* every acknowledged event went to both targets: the webhook's attempt failed (nobody
     * answers), the analytics target took it */
    CHECK_INT(st.failed, (uint64_t)ok);
    CHECK_INT(st.delivered, (uint64_t)ok);
    bus_free(bus);

    /* With a short wait for room, the same burst loses nothing. */
    cfg.put_wait_ms = 2000;
    bus = bus_local_new(&cfg, &e);
    ok = 0;
    for (int i = 0; i < 12; i++) {
        json_t *ev = bus_event_new(BUS_MESSAGE_RECEIVED, NULL);
        ok += bus_put(bus, ev, &e) == 0;
        json_decref(ev);
    }
    CHECK_INT(ok, 12);
    bus_stats(bus, &st);
    CHECK_INT(st.dropped, 0);
    bus_free(bus);
    log_threshold = saved;
    close(lfd);
}

static void test_flush_timeout(void)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/flush", tmpdir);
    mkdir(dir, 0755);
    int port;
    int lfd = silent_listener(&port);
    char rules[600];
    slow_rules(dir, port, rules, sizeof rules);
    struct bus_local_config cfg = {.data_dir = dir, .rules_path = rules};
    struct err e;
    struct bus *bus = bus_local_new(&cfg, &e);
    CHECK(bus != NULL);
    if (!bus) {
        close(lfd);
        return;
    }
    enum log_level saved = log_threshold;
    log_threshold = LL_OFF;
    for (int i = 0; i < 10; i++) {
        json_t *ev = bus_event_new(BUS_MESSAGE_RECEIVED, NULL);
        bus_put(bus, ev, &e);
        json_decref(ev);
    }
    CHECK_INT(bus_flush(bus, 10), -1); /* 10 x 100 ms cannot finish in 10 ms */
    CHECK_INT(bus_flush(bus, 5000), 0);
    bus_free(bus);
    log_threshold = saved;
    close(lfd);
}

/* ---- the worker's linger ---- */

/* The lines the worker has written to <tmpdir>/<name>/logs/parley_events.log. */
static int log_lines(const char *name)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s/logs/parley_events.log", tmpdir, name);
    FILE *f = fopen(path, "r");
    int n = 0, c;
    if (!f)
        return 0;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

/* Waits up to 5 s for the events log of bus <name> to hold n lines; returns whether it did. */
static int log_reaches(const char *name, int n)
{
    for (int i = 0; i < 500 && log_lines(name) < n; i++)
        usleep(10000);
    return log_lines(name) >= n;
}

/* After draining the ring the worker lingers before it sleeps, and a put during the linger does
 * not wake it: such an event must still be delivered at the linger's end without another put or
 * a flush, and a flush must not wait for the linger. */
static void test_linger_delivers(void)
{
    struct sink_log sl = {.mu = PTHREAD_MUTEX_INITIALIZER};
    struct bus *bus = default_bus("linger", &sl);
    if (!bus)
        return;
    for (int round = 0; round < 20; round++) {
        CHECK_INT(put_numbered(bus, 2 * round), 0);
        /* Delivered at once, or just after: the next put lands in (or after) the linger. */
        CHECK(log_reaches("linger", 2 * round + 1));
        CHECK_INT(put_numbered(bus, 2 * round + 1), 0);
        if (round % 2 == 0) {
            CHECK(log_reaches("linger", 2 * round + 2)); /* left to the linger's end */
        } else {
            CHECK_INT(bus_flush(bus, 5000), 0); /* or taken by a flush */
            CHECK_INT(log_lines("linger"), 2 * round + 2);
        }
    }
    struct bus_stats st;
    bus_stats(bus, &st);
    CHECK_INT((int)st.accepted, 40);
    CHECK_INT((int)st.queued, 0);
    CHECK_INT(sink_count(&sl), 40);
    bus_free(bus);
}

/* More rules match than bus_put_new notes on its first pass (8): it finds them again, and each
 * rule's target gets the event once. */
static void test_many_rules_match(void)
{
    char dir[512], rules[600], path[700];
    snprintf(dir, sizeof dir, "%s/many", tmpdir);
    mkdir(dir, 0755);
    snprintf(rules, sizeof rules, "%s/rules.json", dir);
    struct buf doc;
    buf_init(&doc, 1 << 16);
    buf_add_str(&doc, "{\"rules\": [");
    for (int i = 0; i < 11; i++)
        buf_printf(&doc,
                   "%s{\"name\": \"r%d\", \"eventPattern\": {\"source\": [\"parley.agent\"]}, "
                   "\"targets\": [{\"type\": \"log\", \"logGroup\": \"/parley/many%d\"}]}",
                   i ? ", " : "", i, i % 2);
    buf_add_str(&doc, "]}");
    write_file(rules, buf_str(&doc));
    buf_release(&doc);
    struct bus_local_config cfg = {.data_dir = dir, .rules_path = rules};
    struct err e;
    struct bus *bus = bus_local_new(&cfg, &e);
    CHECK(bus != NULL);
    if (!bus)
        return;
    CHECK_INT(put_numbered(bus, 7), 0);
    CHECK_INT(bus_flush(bus, 5000), 0);
    struct bus_stats st;
    bus_stats(bus, &st);
    CHECK_INT((int)st.delivered, 11);
    snprintf(path, sizeof path, "%s/logs/parley_many0.log", dir);
    json_t *even = read_json_lines(path);
    snprintf(path, sizeof path, "%s/logs/parley_many1.log", dir);
    json_t *odd = read_json_lines(path);
    CHECK_INT(json_array_size(even), 6); /* rules 0, 2, .. 10 */
    CHECK_INT(json_array_size(odd), 5);
    CHECK_INT(json_integer_value(json_object_get(
                  json_object_get(json_array_get(odd, 4), "detail"), "n")),
              7);
    json_decref(even);
    json_decref(odd);
    bus_free(bus);
}

/* bus_put_new does all that reads the event, on the caller's thread: the analytics sink has it
 * before the put returns, and the bus keeps no reference to it (the worker, on another core,
 * would pay cache misses for each of its nodes), so what the log gets is the event as it was
 * put, whatever becomes of the caller's value afterwards. */
static void test_put_reads_the_event(void)
{
    struct sink_log sl = {.mu = PTHREAD_MUTEX_INITIALIZER};
    struct bus *bus = default_bus("put", &sl);
    if (!bus)
        return;
    json_t *ev = bus_event_new(BUS_MESSAGE_RECEIVED, json_pack("{s:i}", "n", 1));
    json_incref(ev); /* a reference of our own, to look at it after the put */
    struct err e;
    CHECK_INT(bus_put_new(bus, ev, &e), 0);
    CHECK_INT((int)ev->refcount, 1); /* the bus let go of its reference before returning */
    CHECK_INT(sink_count(&sl), 1);
    CHECK(pthread_equal(sl.thread, pthread_self()));
    json_object_set_new(json_object_get(ev, "detail"), "n", json_integer(2));
    CHECK_INT(bus_flush(bus, 5000), 0);
    char path[700];
    snprintf(path, sizeof path, "%s/put/logs/parley_events.log", tmpdir);
    json_t *lines = read_json_lines(path);
    CHECK_INT(json_array_size(lines), 1);
    CHECK_INT(json_integer_value(
                  json_object_get(json_object_get(json_array_get(lines, 0), "detail"), "n")),
              1);
    json_decref(lines);
    json_decref(ev);
    bus_free(bus);
}

/* A log target whose file cannot be written: its events count as failed, not delivered (they are
 * written a batch at a time, so the count is settled when the batch is), while the analytics
 * target of the same default rule still gets every one. */
static void test_unwritable_log_counts_failed(void)
{
    char path[700];
    snprintf(path, sizeof path, "%s/unwritable", tmpdir);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/unwritable/logs", tmpdir);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/unwritable/logs/parley_events.log", tmpdir);
    mkdir(path, 0755); /* a directory where the log file should be */
    struct sink_log sl = {.mu = PTHREAD_MUTEX_INITIALIZER};
    struct bus *bus = default_bus("unwritable", &sl);
    if (!bus)
        return;
    for (int i = 0; i < 30; i++)
        CHECK_INT(put_numbered(bus, i), 0);
    CHECK_INT(bus_flush(bus, 5000), 0);
    struct bus_stats st;
    bus_stats(bus, &st);
    CHECK_INT((int)st.accepted, 30);
    CHECK_INT((int)st.failed, 30);    /* the log target's */
    CHECK_INT((int)st.delivered, 30); /* the analytics target's */
    CHECK_INT(sink_count(&sl), 30);
    bus_free(bus);
}

int main(void)
{
    make_tmpdir();
    RUN(test_envelope);
    RUN(test_rules_validation);
    RUN(test_routing_rules_file);
    RUN(test_default_rules_and_flush_on_free);
    RUN(test_overflow_counts_drops);
    RUN(test_flush_timeout);
    RUN(test_linger_delivers);
    RUN(test_put_reads_the_event);
    RUN(test_many_rules_match);
    RUN(test_unwritable_log_counts_failed);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return check_summary();
}
