/*
 * e2e.h - helpers for end-to-end tests that drive the real `parley` binary over HTTP.
 *
 * e2e_start() runs `$PARLEY_BIN serve --port 0 --data DIR` with its log in DIR/server.log, waits
 * for the "listening on" line and returns the base URL; e2e_stop() sends SIGTERM and returns the
 * exit status. e2e_http() performs one request with libcurl; e2e_multi_run() drives many at once
 * until each has finished or a deadline has passed.
 */
#ifndef PARLEY_E2E_H
#define PARLEY_E2E_H

#include <curl/curl.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct e2e_server {
    pid_t pid;     /* the parley process */
    char dir[256]; /* its data directory */
    char url[64];  /* http://127.0.0.1:PORT */
    int port;      /* bound port */
};

struct e2e_resp {
    long status;     /* HTTP status, 0 on transport failure */
    char *body;      /* response body (malloc'd) */
    json_t *json;    /* parsed body or NULL */
    char ctype[128]; /* Content-Type */
};

static inline void e2e_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Makes a fresh temporary directory for a server's data; returns 0. */
static inline int e2e_tmpdir(char *out, size_t len)
{
    snprintf(out, len, "/tmp/parley-e2e-XXXXXX");
    return mkdtemp(out) ? 0 : -1;
}

/* Starts parley on dir (created if needed) with extra environment "K=V" strings (NULL-ended).
 * Returns 0 when the server is listening. */
/* Runs `$PARLEY_BIN ARGS` with stdin_text on its standard input (NULL: empty) and stdout and
 * stderr captured into out (cap bytes, NUL-terminated). Returns the exit code, -1 when it could
 * not run or did not exit. */
static inline int e2e_run_parley(const char *args, const char *stdin_text, char *out, size_t cap)
{
    char in_path[] = "/tmp/parley-e2e-in-XXXXXX", out_path[] = "/tmp/parley-e2e-out-XXXXXX";
    int ifd = mkstemp(in_path), ofd = mkstemp(out_path);
    if (ifd < 0 || ofd < 0)
        return -1;
    if (stdin_text && write(ifd, stdin_text, strlen(stdin_text)) < 0)
        return -1;
    close(ifd);
    close(ofd);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' %s < '%s' > '%s' 2>&1", getenv("PARLEY_BIN"), args, in_path,
             out_path);
    int st = system(cmd);
    FILE *f = fopen(out_path, "r");
    size_t n = f ? fread(out, 1, cap - 1, f) : 0;
    out[n] = '\0';
    if (f)
        fclose(f);
    unlink(in_path);
    unlink(out_path);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static inline int e2e_start_env(struct e2e_server *s, const char *dir, const char *const *env)
{
    const char *bin = getenv("PARLEY_BIN");
    if (!bin)
        bin = "build/san/parley";
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    mkdir(s->dir, 0755);
    char log[300];
    snprintf(log, sizeof log, "%s/server.log", s->dir);
    unlink(log);
    s->pid = fork();
    if (s->pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 2);
        dup2(fd, 1);
        /* Suites fire many requests from one address: no rate limits unless a suite sets them. */
        setenv("PARLEY_RATE_LIMIT_PER_MIN", "0", 0);
        setenv("PARLEY_SESSION_RATE_LIMIT_PER_MIN", "0", 0);
        for (const char *const *e = env; e && *e; e++)
            putenv((char *)*e);
        execl(bin, bin, "serve", "--port", "0", "--data", s->dir, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 300; i++) {
        FILE *f = fopen(log, "r");
        char line[1024];
        while (f && fgets(line, sizeof line, f)) {
            char *p = strstr(line, "listening on http://127.0.0.1:");
            if (p) {
                s->port = atoi(p + strlen("listening on http://127.0.0.1:"));
                snprintf(s->url, sizeof s->url, "http://127.0.0.1:%d", s->port);
                fclose(f);
                return 0;
            }
        }
        if (f)
            fclose(f);
        int st;
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            fprintf(stderr, "e2e: server exited early; see %s\n", log);
            return -1;
        }
        e2e_sleep_ms(20);
    }
    fprintf(stderr, "e2e: server did not start; see %s\n", log);
    return -1;
}

static inline int e2e_start(struct e2e_server *s, const char *dir)
{
    return e2e_start_env(s, dir, NULL);
}

/* Sends SIGTERM and waits; returns the exit code (or 128+signal). */
static inline int e2e_stop(struct e2e_server *s)
{
    if (s->pid <= 0)
        return -1;
    kill(s->pid, SIGTERM);
    int st = 0;
    waitpid(s->pid, &st, 0);
    s->pid = 0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

struct e2e_buf {
    char *data;
    size_t len;
};

static inline size_t e2e_on_data(char *p, size_t size, size_t n, void *ud)
{
    struct e2e_buf *b = ud;
    b->data = realloc(b->data, b->len + size * n + 1);
    memcpy(b->data + b->len, p, size * n);
    b->len += size * n;
    b->data[b->len] = '\0';
    return size * n;
}

/* One request. body may be NULL; len < 0 means strlen(body). ctype NULL means
 * application/json for requests with a body. extra_header may be NULL. */
static inline struct e2e_resp e2e_http_ex(const struct e2e_server *s, const char *method,
                                          const char *path, const char *body, long len,
                                          const char *ctype, const char *extra_header)
{
    struct e2e_resp r = {0};
    CURL *c = curl_easy_init();
    char url[512];
    snprintf(url, sizeof url, "%s%s", s->url, path);
    struct e2e_buf b = {NULL, 0};
    struct curl_slist *h = NULL;
    char cth[200];
    if (body) {
        snprintf(cth, sizeof cth, "Content-Type: %s", ctype ? ctype : "application/json");
        h = curl_slist_append(h, cth);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, len < 0 ? (long)strlen(body) : len);
    }
    if (extra_header)
        h = curl_slist_append(h, extra_header);
    h = curl_slist_append(h, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, e2e_on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    if (curl_easy_perform(c) == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
        char *ct = NULL;
        curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
        snprintf(r.ctype, sizeof r.ctype, "%s", ct ? ct : "");
    }
    r.body = b.data ? b.data : strdup("");
    r.json = json_loads(r.body, 0, NULL);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return r;
}

static inline struct e2e_resp e2e_http(const struct e2e_server *s, const char *method,
                                       const char *path, const char *body)
{
    return e2e_http_ex(s, method, path, body, -1, NULL, NULL);
}

static inline void e2e_resp_free(struct e2e_resp *r)
{
    free(r->body);
    json_decref(r->json);
    memset(r, 0, sizeof *r);
}

/* The result e2e_multi_run() gives a transfer still running at its deadline: not a CURLcode. */
#define E2E_UNFINISHED (-1)

static inline long long e2e_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs the n transfers hs[0..n) (already added to m) until every one has finished or timeout_ms
 * has passed, however often m wakes meanwhile (each socket event of any transfer wakes it, so
 * hundreds of streams wake it thousands of times: a bound on wake-ups is no bound on time).
 * results[i] is the CURLcode of a finished transfer and E2E_UNFINISHED for one still running at
 * the deadline, never CURLE_OK: a stream whose headers came but whose body had not is not a
 * complete empty answer. *wakeups (NULL: not wanted) is set to the number of polls. Returns the
 * number of transfers left unfinished. */
static inline int e2e_multi_run(CURLM *m, CURL *const *hs, int n, long timeout_ms, int *results,
                                long *wakeups)
{
    for (int i = 0; i < n; i++)
        results[i] = E2E_UNFINISHED;
    long long deadline = e2e_now_ms() + timeout_ms;
    long polls = 0;
    int running = n;
    for (;;) {
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left)))
            for (int i = 0; i < n; i++)
                if (msg->msg == CURLMSG_DONE && hs[i] == msg->easy_handle)
                    results[i] = (int)msg->data.result;
        long long remaining = deadline - e2e_now_ms();
        if (running == 0 || remaining <= 0)
            break;
        curl_multi_poll(m, NULL, 0, remaining < 1000 ? (int)remaining : 1000, NULL);
        polls++;
    }
    if (wakeups)
        *wakeups = polls;
    int unfinished = 0;
    for (int i = 0; i < n; i++)
        unfinished += results[i] == E2E_UNFINISHED;
    return unfinished;
}

/* Returns the string at a dotted path in the response JSON (e.g. "error.code"), or "". */
static inline const char *e2e_str(const struct e2e_resp *r, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    json_t *v = r->json;
    for (char *tok = strtok(buf, "."); tok && v; tok = strtok(NULL, "."))
        v = json_is_array(v) ? json_array_get(v, (size_t)atoi(tok)) : json_object_get(v, tok);
    const char *s = json_string_value(v);
    return s ? s : "";
}

/* Removes a test data directory tree. */
static inline void e2e_rmdir(const char *dir)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "e2e: cannot remove %s\n", dir);
}

#endif
