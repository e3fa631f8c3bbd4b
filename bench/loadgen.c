/*
 * loadgen.c - the load benchmark's client and baselines.
 *
 *   loadgen chat URL CLIENTS SECONDS     the seed's sample conversation (2 turns a session)
 *   loadgen new URL CLIENTS SECONDS      new-session turns only: every request opens a session
 *   loadgen cont URL CLIENTS SECONDS     continuing-session turns only: each client keeps a
 *                                        session (opened untimed) and asks questions on it,
 *                                        starting a fresh one every CONT_TURNS turns
 *   loadgen newkb URL CLIENTS SECONDS    new-session turns asking cont's questions: a cont turn's
 *                                        work without its history (cont's own yardstick; new's
 *                                        first message needs no tool)
 *   loadgen health URL CLIENTS SECONDS   GET /health on the same server: a trivial HTTP 200
 *   loadgen sqlite DIR SECONDS           a bare SQLite commit loop (WAL, synchronous=NORMAL)
 * Each prints one line: `name ops/s p50_ms p99_ms ops errors`. The clients are keep-alive
 * connections, all driven from one thread through curl's multi interface, so that the client
 * takes as little as it can of the cores the server shares with it (32 blocking client threads
 * took 0.6 of 2 cores at ~6,000 new-session turns/s). A latency runs from handing the request to
 * curl to seeing its answer.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/xmalloc.h"

/* What a client sends. */
enum mode {
    M_HEALTH, /* GET /health */
    M_CHAT,   /* the two-turn sample conversation, both turns timed */
    M_NEW,    /* the first turn of a new session, timed */
    M_CONT,   /* a question on an existing session, timed */
    M_NEWKB,  /* M_CONT's question opening a new session, timed */
};

#define CONT_TURNS 20 /* continuing turns per session before a client opens a new one */

/* Continuing-session questions the offline model answers from the knowledge base, no action. */
static const char *const cont_questions[] = {
    "How do I reset my password?",
    "What is your refund policy?",
    "How long does shipping take?",
};

/* One client: a keep-alive connection (its easy handle) and where it is in its mode's sequence. */
struct client {
    CURL *easy;
    char *sid;      /* M_CHAT: the session of the second turn; M_CONT: the one continued */
    int turns;      /* M_CONT: continuing turns on sid so far; M_NEWKB: turns so far */
    int timed;      /* whether the request in flight counts */
    int64_t t0;     /* when it was started */
    char body[512]; /* its body */
    struct sink {
        char *data;
        size_t len;
    } in; /* its response body */
};

/* What every client shares: the latencies and errors of the run. */
struct run {
    enum mode mode;
    const char *url; /* server base URL */
    double *lat_ms;  /* latencies of completed timed operations */
    size_t n, cap;   /* used / allocated in lat_ms */
    int errors;      /* failed operations */
    int inflight;    /* requests started and not yet finished */
};

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
    struct sink *s = ud;
    s->data = xrealloc(s->data, s->len + size * n + 1);
    memcpy(s->data + s->len, p, size * n);
    s->len += size * n;
    s->data[s->len] = '\0';
    return size * n;
}

static void record(struct run *r, double ms)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 65536;
        r->lat_ms = xrealloc(r->lat_ms, r->cap * sizeof *r->lat_ms);
    }
    r->lat_ms[r->n++] = ms;
}

/* Sets up c's next request (path "/health" or "/chat", body in c->body or none) and hands it
 * to the multi handle. */
static void start_request(CURLM *m, struct run *r, struct client *c, int timed)
{
    char url[256];
    snprintf(url, sizeof url, "%s%s", r->url, r->mode == M_HEALTH ? "/health" : "/chat");
    curl_easy_setopt(c->easy, CURLOPT_URL, url);
    if (r->mode == M_HEALTH)
        curl_easy_setopt(c->easy, CURLOPT_HTTPGET, 1L);
    else
        curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, c->body);
    c->in.len = 0;
    c->timed = timed;
    c->t0 = clock_mono_us();
    r->inflight++;
    curl_multi_add_handle(m, c->easy);
}

/* Chooses and starts c's next request for r's mode. */
static void start_next(CURLM *m, struct run *r, struct client *c)
{
    static const char first[] = "{\"message\":\"I can't log into my account\"}";
    switch (r->mode) {
    case M_HEALTH:
        start_request(m, r, c, 1);
        return;
    case M_NEW:
        memcpy(c->body, first, sizeof first);
        start_request(m, r, c, 1);
        return;
    case M_CHAT:
        if (c->sid)
            snprintf(c->body, sizeof c->body,
                     "{\"sessionId\":\"%s\",\"message\":\"It's jane.doe@example.com\"}", c->sid);
        else
            memcpy(c->body, first, sizeof first);
        start_request(m, r, c, 1);
        return;
    case M_CONT:
        if (!c->sid) { /* open a session, untimed */
            snprintf(c->body, sizeof c->body, "{\"message\":\"Hi, I have a question\"}");
            start_request(m, r, c, 0);
            return;
        }
        snprintf(c->body, sizeof c->body, "{\"sessionId\":\"%s\",\"message\":\"%s\"}", c->sid,
                 cont_questions[c->turns % 3]);
        start_request(m, r, c, 1);
        return;
    case M_NEWKB:
        snprintf(c->body, sizeof c->body, "{\"message\":\"%s\"}", cont_questions[c->turns++ % 3]);
        start_request(m, r, c, 1);
        return;
    }
}

/* Takes in c's finished request (res, its curl result): records it and moves c along its
 * sequence. */
static void finish(struct run *r, struct client *c, CURLcode res)
{
    long status = 0;
    r->inflight--;
    curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
    json_t *body = NULL;
    if (res != CURLE_OK || status != 200 || !c->in.len) {
        r->errors++;
    } else {
        if (c->timed)
            record(r, (double)(clock_mono_us() - c->t0) / 1000.0);
        if (r->mode != M_HEALTH)
            body = json_loadb(c->in.data, c->in.len, 0, NULL);
    }
    const char *sid = json_string_value(json_object_get(body, "sessionId"));
    switch (r->mode) {
    case M_HEALTH:
        break;
    case M_NEW:
        if (body && !sid)
            r->errors++;
        break;
    case M_NEWKB:
        if (body && (!sid || !json_string_value(json_object_get(body, "reply"))))
            r->errors++;
        break;
    case M_CHAT:
        if (c->sid) { /* the second turn: its action */
            if (body && json_array_size(json_object_get(body, "actions")) != 1)
                r->errors++;
            free(c->sid);
            c->sid = NULL;
        } else if (sid) {
            c->sid = xstrdup(sid);
        }
        break;
    case M_CONT:
        if (!c->sid) {
            c->sid = sid ? xstrdup(sid) : NULL;
            c->turns = 0;
            break;
        }
        if (body && !json_string_value(json_object_get(body, "reply")))
            r->errors++;
        if (++c->turns == CONT_TURNS) {
            free(c->sid);
            c->sid = NULL;
        }
        break;
    }
    json_decref(body);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void report(const char *name, double *lat, size_t n, double seconds, int errors)
{
    qsort(lat, n, sizeof *lat, cmp_double);
    double p50 = n ? lat[n / 2] : 0, p99 = n ? lat[(size_t)((double)n * 0.99)] : 0;
    printf("%s %.1f %.3f %.3f %zu %d\n", name, (double)n / seconds, p50, p99, n, errors);
}

/* curl's socket callback: keeps the epoll set (ud, its descriptor) in step with what curl
 * waits for on s. */
static int on_socket(CURL *e, curl_socket_t s, int what, void *ud, void *sockp)
{
    (void)e;
    (void)sockp;
    int ep = *(int *)ud;
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(ep, EPOLL_CTL_DEL, s, NULL);
        return 0;
    }
    struct epoll_event ev = {.events = (what & CURL_POLL_IN ? EPOLLIN : 0u) |
                                       (what & CURL_POLL_OUT ? EPOLLOUT : 0u),
                             .data.fd = s};
    if (epoll_ctl(ep, EPOLL_CTL_MOD, s, &ev) < 0)
        epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
    return 0;
}

/* curl's timer callback: the next timeout it wants, in ms (-1: none). */
static int on_timer(CURLM *m, long ms, void *ud)
{
    (void)m;
    *(long *)ud = ms;
    return 0;
}

/* Takes in every finished transfer and starts each client's next request until the deadline;
 * returns how many finished. */
static int drain(CURLM *m, struct run *r, int64_t deadline)
{
    CURLMsg *msg;
    int left, done = 0;
    while ((msg = curl_multi_info_read(m, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *e = msg->easy_handle;
        CURLcode res = msg->data.result;
        struct client *cl = NULL;
        curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&cl);
        curl_multi_remove_handle(m, e);
        finish(r, cl, res);
        done++;
        if (clock_mono_us() < deadline)
            start_next(m, r, cl);
    }
    return done;
}

/* Drives CLIENTS keep-alive connections from one thread through curl's multi socket interface
 * and epoll until SECONDS have passed and the requests in flight are answered, then reports. */
static int run_http(const char *name, const char *url, int clients, int seconds, enum mode mode)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    signal(SIGPIPE, SIG_IGN); /* instead of curl setting and restoring it around every call */
    int ep = epoll_create1(EPOLL_CLOEXEC);
    long timeout_ms = -1;
    CURLM *m = curl_multi_init();
    curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, (long)clients);
    curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(m, CURLMOPT_SOCKETDATA, &ep);
    curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(m, CURLMOPT_TIMERDATA, &timeout_ms);
    struct run r = {.mode = mode, .url = url};
    struct client *c = xcalloc((size_t)clients, sizeof *c);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    int64_t start = clock_mono_us(), deadline = start + (int64_t)seconds * 1000000;
    for (int i = 0; i < clients; i++) {
        c[i].easy = curl_easy_init();
        curl_easy_setopt(c[i].easy, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c[i].easy, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(c[i].easy, CURLOPT_WRITEDATA, &c[i].in);
        curl_easy_setopt(c[i].easy, CURLOPT_TIMEOUT, 30L);
        curl_easy_setopt(c[i].easy, CURLOPT_NOSIGNAL, 1L); /* SIGPIPE is ignored once, above */
        curl_easy_setopt(c[i].easy, CURLOPT_PRIVATE, &c[i]);
        start_next(m, &r, &c[i]);
    }
    int running = clients;
    while (r.inflight > 0) {
        struct epoll_event ev[64];
        int n = epoll_wait(ep, ev, 64, timeout_ms < 0 ? 100 : (int)timeout_ms);
        if (n <= 0) {
            curl_multi_socket_action(m, CURL_SOCKET_TIMEOUT, 0, &running);
        } else {
            for (int i = 0; i < n; i++)
                curl_multi_socket_action(m, ev[i].data.fd,
                                         (ev[i].events & EPOLLIN ? CURL_CSELECT_IN : 0) |
                                             (ev[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                                             (ev[i].events & (EPOLLERR | EPOLLHUP)
                                                  ? CURL_CSELECT_ERR
                                                  : 0),
                                         &running);
        }
        if (drain(m, &r, deadline))
            curl_multi_socket_action(m, CURL_SOCKET_TIMEOUT, 0, &running); /* start them */
    }
    double elapsed = (double)(clock_mono_us() - start) / 1e6;
    report(name, r.lat_ms, r.n, elapsed, r.errors);
    for (int i = 0; i < clients; i++) {
        curl_easy_cleanup(c[i].easy);
        free(c[i].sid);
        free(c[i].in.data);
    }
    free(c);
    free(r.lat_ms);
    curl_slist_free_all(h);
    curl_multi_cleanup(m);
    close(ep);
    curl_global_cleanup();
    return r.errors ? 1 : 0;
}

static int run_sqlite(const char *dir, int seconds)
{
    char path[512];
    snprintf(path, sizeof path, "%s/bench-commit.db", dir);
    sqlite3 *db = NULL;
    if (sqlite3_open(path, &db) != SQLITE_OK)
        return 1;
    sqlite3_exec(db,
                 "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                 "CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY, v TEXT);",
                 NULL, NULL, NULL);
    sqlite3_stmt *ins = NULL;
    sqlite3_prepare_v2(db, "INSERT INTO t (v) VALUES (?1)", -1, &ins, NULL);
    double *lat = NULL;
    size_t n = 0, cap = 0;
    int64_t start = clock_mono_us(), deadline = start + (int64_t)seconds * 1000000;
    while (clock_mono_us() < deadline) {
        int64_t t0 = clock_mono_us();
        sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        sqlite3_bind_text(ins, 1, "a turn's worth of conversation text", -1, SQLITE_STATIC);
        sqlite3_step(ins);
        sqlite3_reset(ins);
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
        if (n == cap) {
            cap = cap ? cap * 2 : 65536;
            lat = xrealloc(lat, cap * sizeof *lat);
        }
        lat[n++] = (double)(clock_mono_us() - t0) / 1000.0;
    }
    report("sqlite_commit", lat, n, (double)(clock_mono_us() - start) / 1e6, 0);
    free(lat);
    sqlite3_finalize(ins);
    sqlite3_close(db);
    return 0;
}

int main(int argc, char **argv)
{
    xmalloc_init();
    if (argc == 4 && strcmp(argv[1], "sqlite") == 0)
        return run_sqlite(argv[2], atoi(argv[3]));
    static const struct {
        const char *arg, *name;
        enum mode mode;
    } modes[] = {
        {"chat", "chat_turn", M_CHAT},    {"health", "http_health", M_HEALTH},
        {"new", "new_turn", M_NEW},       {"cont", "cont_turn", M_CONT},
        {"newkb", "newkb_turn", M_NEWKB},
    };
    for (size_t i = 0; argc == 5 && i < sizeof modes / sizeof modes[0]; i++)
        if (strcmp(argv[1], modes[i].arg) == 0)
            return run_http(modes[i].name, argv[2], atoi(argv[3]), atoi(argv[4]), modes[i].mode);
    fprintf(stderr, "usage: loadgen chat|health|new|cont|newkb URL CLIENTS SECONDS | "
                    "loadgen sqlite DIR SECONDS\n");
    return 2;
}
