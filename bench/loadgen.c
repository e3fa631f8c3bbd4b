/*
 * loadgen.c - the load benchmark's client and baselines.
 *
 *   loadgen chat URL CLIENTS SECONDS     the seed's sample conversation (2 turns a session)
 *   loadgen new URL CLIENTS SECONDS      new-session turns only: every request opens a session
 *   loadgen cont URL CLIENTS SECONDS     continuing-session turns only: each client keeps a
 *                                        session (opened untimed) and asks questions on it,
 *                                        starting a fresh one every CONT_TURNS turns
 *   loadgen health URL CLIENTS SECONDS   GET /health on the same server: a trivial HTTP 200
 *   loadgen sqlite DIR SECONDS           a bare SQLite commit loop (WAL, synchronous=NORMAL)
 * Each prints one line: `name ops/s p50_ms p99_ms ops`. Clients are threads with one keep-alive
 * connection each.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/xmalloc.h"

/* What a client thread sends. */
enum mode {
    M_HEALTH, /* GET /health */
    M_CHAT,   /* the two-turn sample conversation, both turns timed */
    M_NEW,    /* the first turn of a new session, timed */
    M_CONT,   /* a question on an existing session, timed */
};

#define CONT_TURNS 20 /* continuing turns per session before a client opens a new one */

/* Continuing-session questions the offline model answers from the knowledge base, no action. */
static const char *const cont_questions[] = {
    "{\"sessionId\":\"%s\",\"message\":\"How do I reset my password?\"}",
    "{\"sessionId\":\"%s\",\"message\":\"What is your refund policy?\"}",
    "{\"sessionId\":\"%s\",\"message\":\"How long does shipping take?\"}",
};

struct worker {
    const char *url;     /* server base URL */
    enum mode mode;      /* what to send */
    int64_t deadline_us; /* stop time */
    double *lat_ms;      /* latencies of completed operations */
    size_t n, cap;       /* used / allocated in lat_ms */
    int errors;          /* failed operations */
};

struct sink {
    char *data;
    size_t len;
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

static void record(struct worker *w, double ms)
{
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 4096;
        w->lat_ms = xrealloc(w->lat_ms, w->cap * sizeof *w->lat_ms);
    }
    w->lat_ms[w->n++] = ms;
}

static json_t *request_timed(CURL *c, struct worker *w, const char *path, const char *body,
                             int timed);

/* Performs one timed request; returns the parsed JSON body on 200 (new ref) or NULL. */
static json_t *request(CURL *c, struct worker *w, const char *path, const char *body)
{
    return request_timed(c, w, path, body, 1);
}

static json_t *request_timed(CURL *c, struct worker *w, const char *path, const char *body,
                             int timed)
{
    char url[256];
    snprintf(url, sizeof url, "%s%s", w->url, path);
    struct sink s = {NULL, 0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    } else {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    }
    int64_t t0 = clock_mono_us();
    CURLcode cc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    json_t *out = NULL;
    if (cc == CURLE_OK && status == 200 && s.data) {
        if (timed)
            record(w, (double)(clock_mono_us() - t0) / 1000.0);
        out = json_loads(s.data, 0, NULL);
    } else {
        w->errors++;
    }
    free(s.data);
    return out;
}

static void *run_worker(void *arg)
{
    struct worker *w = arg;
    CURL *c = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    char *cont_sid = NULL; /* M_CONT: the session this client continues */
    int turns = 0;    /* M_CONT: continuing turns on it so far */
    while (clock_mono_us() < w->deadline_us) {
        if (w->mode == M_HEALTH) {
            json_decref(request(c, w, "/health", NULL));
            continue;
        }
        if (w->mode == M_NEW) {
            json_t *r = request(c, w, "/chat", "{\"message\":\"I can't log into my account\"}");
            if (r && !json_string_value(json_object_get(r, "sessionId")))
                w->errors++;
            json_decref(r);
            continue;
        }
        if (w->mode == M_CONT) {
            if (!cont_sid || turns == CONT_TURNS) {
                free(cont_sid);
                cont_sid = NULL;
                turns = 0;
                json_t *r = request_timed(c, w, "/chat",
                                          "{\"message\":\"Hi, I have a question\"}", 0);
                const char *id = json_string_value(json_object_get(r, "sessionId"));
                if (id)
                    cont_sid = xstrdup(id);
                json_decref(r);
                continue;
            }
            char body[512];
            snprintf(body, sizeof body, cont_questions[turns % 3], cont_sid);
            json_t *r = request(c, w, "/chat", body);
            if (r && !json_string_value(json_object_get(r, "reply")))
                w->errors++;
            json_decref(r);
            turns++;
            continue;
        }
        json_t *r = request(c, w, "/chat", "{\"message\":\"I can't log into my account\"}");
        const char *sid = json_string_value(json_object_get(r, "sessionId"));
        if (sid) {
            char body[256];
            snprintf(body, sizeof body,
                     "{\"sessionId\":\"%s\",\"message\":\"It's jane.doe@example.com\"}", sid);
            json_t *r2 = request(c, w, "/chat", body);
            if (r2 && json_array_size(json_object_get(r2, "actions")) != 1)
                w->errors++;
            json_decref(r2);
        }
        json_decref(r);
    }
    free(cont_sid);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return NULL;
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

static int run_http(const char *name, const char *url, int clients, int seconds, enum mode mode)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct worker *w = xcalloc((size_t)clients, sizeof *w);
    pthread_t *t = xcalloc((size_t)clients, sizeof *t);
    int64_t start = clock_mono_us();
    for (int i = 0; i < clients; i++) {
        w[i].url = url;
        w[i].mode = mode;
        w[i].deadline_us = start + (int64_t)seconds * 1000000;
        pthread_create(&t[i], NULL, run_worker, &w[i]);
    }
    size_t total = 0;
    int errors = 0;
    for (int i = 0; i < clients; i++) {
        pthread_join(t[i], NULL);
        total += w[i].n;
        errors += w[i].errors;
    }
    double elapsed = (double)(clock_mono_us() - start) / 1e6;
    double *all = xmalloc((total + 1) * sizeof *all);
    size_t k = 0;
    for (int i = 0; i < clients; i++) {
        memcpy(all + k, w[i].lat_ms, w[i].n * sizeof *all);
        k += w[i].n;
        free(w[i].lat_ms);
    }
    report(name, all, total, elapsed, errors);
    free(all);
    free(w);
    free(t);
    curl_global_cleanup();
    return errors ? 1 : 0;
}

static int run_sqlite(const char *dir, int seconds)
{
    char path[512];
    snprintf(path, sizeof path, "%s/bench-commit.db", dir);
    sqlite3 *db = NULL;
    if (sqlite3_open(path, &db) != SQLITE_OK)
        return 1;
    sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
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
        {"chat", "chat_turn", M_CHAT},
        {"health", "http_health", M_HEALTH},
        {"new", "new_turn", M_NEW},
        {"cont", "cont_turn", M_CONT},
    };
    for (size_t i = 0; argc == 5 && i < sizeof modes / sizeof modes[0]; i++)
        if (strcmp(argv[1], modes[i].arg) == 0)
            return run_http(modes[i].name, argv[2], atoi(argv[3]), atoi(argv[4]), modes[i].mode);
    fprintf(stderr, "usage: loadgen chat|health|new|cont URL CLIENTS SECONDS | "
                    "loadgen sqlite DIR SECONDS\n");
    return 2;
}
