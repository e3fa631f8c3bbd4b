/*
 * mcp_stdio.c - the stdio transport: the server is a child process (posix_spawnp) that reads
 * newline-delimited JSON-RPC on its stdin and writes it on its stdout; its stderr is its log and
 * goes to ours. A reader thread splits stdout into lines and hands each to mcp__dispatch().
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/sched.h"
#include "base/xmalloc.h"
#include "mcp/mcp_int.h"

extern char **environ;

#define READ_CHUNK 65536
#define POLL_MS 100        /* how often the reader looks at the stop flag */
#define EXIT_GRACE_MS 2000 /* wait after closing stdin before SIGTERM */
#define TERM_GRACE_MS 1000 /* wait after SIGTERM before SIGKILL */

struct stdio_t {
    struct mcp_client *c;    /* owner, for dispatch */
    char **argv;             /* borrowed from the config copy below */
    char **envp;             /* environ plus the configured variables, owned */
    size_t cap;              /* line cap */
    pthread_mutex_t mu;      /* guards the fields below */
    struct sched_mutex *wmu; /* one writer at a time (held while a full pipe drains) */
    pid_t pid;               /* child or 0 */
    int reaped;              /* waitpid has collected the child */
    int status;              /* its wait status */
    int in_fd;               /* child's stdin (we write), -1 when closed */
    int out_fd;              /* child's stdout (we read) */
    int dead;                /* the child's stdout ended */
    int stopping;            /* stop() asks the reader to leave */
    int has_reader;          /* reader thread was started */
    pthread_t reader;
};

/* ---- Environment ---------------------------------------------------------------------------- */

/* environ with each "NAME=value" of extra replacing or adding NAME. */
static char **env_build(const char *const *extra)
{
    size_t n = 0, m = 0;
    while (environ && environ[n])
        n++;
    while (extra && extra[m])
        m++;
    char **out = xcalloc(n + m + 1, sizeof *out);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(environ[i], '=');
        size_t klen = eq ? (size_t)(eq - environ[i]) : strlen(environ[i]);
        int replaced = 0;
        for (size_t j = 0; j < m; j++)
            replaced |= strncmp(extra[j], environ[i], klen) == 0 && extra[j][klen] == '=';
        if (!replaced)
            out[k++] = xstrdup(environ[i]);
    }
    for (size_t j = 0; j < m; j++)
        out[k++] = xstrdup(extra[j]);
    return out;
}

/* ---- Reader thread -------------------------------------------------------------------------- */

static void handle_line(struct stdio_t *s, const char *line, size_t len);

static void *reader_main(void *ud)
{
    struct stdio_t *s = ud;
    char *buf = xmalloc(READ_CHUNK);
    char *line = NULL;
    size_t len = 0, cap = 0;
    int discarding = 0; /* skipping the rest of an oversize line */
    for (;;) {
        pthread_mutex_lock(&s->mu);
        int stop = s->stopping;
        pthread_mutex_unlock(&s->mu);
        if (stop)
            break;
        struct pollfd pfd = {s->out_fd, POLLIN, 0};
        int pr = poll(&pfd, 1, POLL_MS);
        if (pr == 0 || (pr < 0 && errno == EINTR))
            continue;
        ssize_t n = pr < 0 ? -1 : read(s->out_fd, buf, READ_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            pthread_mutex_lock(&s->mu);
            s->dead = 1;
            pthread_mutex_unlock(&s->mu);
            mcp__fail_all(s->c, "McpUnavailable", "server '%s' closed its stdout (exited?)",
                          mcp__name(s->c));
            break;
        }
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] == '\n') {
                if (!discarding)
                    handle_line(s, line ? line : "", len);
                discarding = 0;
                len = 0;
                continue;
            }
            if (discarding)
                continue;
            if (len + 1 > s->cap) {
                mcp__fail_all(s->c, "McpProtocol", "server '%s' sent a message over %zu bytes",
                              mcp__name(s->c), s->cap);
                discarding = 1;
                len = 0;
                continue;
            }
            if (len + 1 >= cap) {
                cap = cap ? cap * 2 : 4096;
                line = xrealloc(line, cap);
            }
            line[len++] = buf[i];
        }
    }
    free(line);
    free(buf);
    return NULL;
}

static int write_all(struct stdio_t *s, const char *data, size_t len, long long deadline,
                     struct err *err);

static void handle_line(struct stdio_t *s, const char *line, size_t len)
{
    while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
        len--;
    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t'))
        i++;
    if (i == len)
        return; /* blank lines carry nothing */
    char *answer = NULL;
    mcp__dispatch(s->c, line + i, len - i, &answer);
    if (answer) {
        struct err e = {0};
        char *msg = xasprintf("%s\n", answer);
        if (write_all(s, msg, strlen(msg), clock_mono_ms() + 5000, &e) != 0)
            log_at(LL_INFO, "mcp", "cannot answer server '%s': %s", mcp__name(s->c), e.message);
        free(msg);
        free(answer);
    }
}

/* ---- Writing -------------------------------------------------------------------------------- */

/* Writes data to the child's stdin before deadline, without dying of SIGPIPE. */
static int write_all(struct stdio_t *s, const char *data, size_t len, long long deadline,
                     struct err *err)
{
    int rc = -1;
    sigset_t pipe_set, old;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    sched_mutex_lock(s->wmu);
    pthread_mutex_lock(&s->mu);
    int fd = s->dead ? -1 : s->in_fd;
    pthread_mutex_unlock(&s->mu);
    if (fd < 0) {
        err_set(err, "McpUnavailable", "server '%s' is not running", mcp__name(s->c));
        goto out;
    }
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(fd, data + off, len - off);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            long long left = deadline - clock_mono_ms();
            if (left <= 0) {
                err_set(err, "McpTimeout", "server '%s' does not read its stdin", mcp__name(s->c));
                goto out;
            }
            sched_wait_fd(fd, POLLOUT, left > 1000 ? 1000 : (int)left);
            continue;
        }
        err_set(err, "McpUnavailable", "cannot write to server '%s': %s", mcp__name(s->c),
                strerror(errno));
        goto out;
    }
    rc = 0;
out:
    sched_mutex_unlock(s->wmu);
    if (rc != 0) {
        /* Swallow a SIGPIPE raised by our failed write before unblocking. */
        struct timespec zero = {0, 0};
        sigset_t pend;
        sigpending(&pend);
        if (sigismember(&pend, SIGPIPE))
            sigtimedwait(&pipe_set, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

/* ---- Transport ops -------------------------------------------------------------------------- */

static void *stdio_create(struct mcp_client *c, const struct mcp_server_config *cfg,
                          struct err *err)
{
    (void)err;
    struct stdio_t *s = xcalloc(1, sizeof *s);
    s->c = c;
    size_t n = 0;
    while (cfg->argv[n])
        n++;
    s->argv = xcalloc(n + 1, sizeof *s->argv);
    for (size_t i = 0; i < n; i++)
        s->argv[i] = xstrdup(cfg->argv[i]);
    s->envp = env_build(cfg->env);
    s->cap = cfg->max_message_bytes;
    s->in_fd = s->out_fd = -1;
    pthread_mutex_init(&s->mu, NULL);
    s->wmu = sched_mutex_new();
    return s;
}

static int stdio_start(void *t, struct err *err)
{
    struct stdio_t *s = t;
    int rc = -1;
    int in[2] = {-1, -1}, out[2] = {-1, -1};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) {
        err_set(err, "McpUnavailable", "cannot start server '%s': %s", mcp__name(s->c),
                strerror(errno));
        goto out;
    }
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    pid_t pid = 0;
    int e = posix_spawnp(&pid, s->argv[0], &fa, NULL, s->argv, s->envp);
    if (e != 0) {
        err_set(err, "McpUnavailable", "cannot start server '%s' ('%s'): %s", mcp__name(s->c),
                s->argv[0], strerror(e));
        goto out;
    }
    fcntl(in[1], F_SETFL, fcntl(in[1], F_GETFL) | O_NONBLOCK);
    pthread_mutex_lock(&s->mu);
    s->pid = pid;
    s->reaped = 0;
    s->dead = 0;
    s->stopping = 0;
    s->in_fd = in[1];
    s->out_fd = out[0];
    pthread_mutex_unlock(&s->mu);
    in[1] = out[0] = -1;
    pthread_create(&s->reader, NULL, reader_main, s);
    s->has_reader = 1;
    log_at(LL_INFO, "mcp", "started server '%s' ('%s', pid %d)", mcp__name(s->c), s->argv[0],
           (int)pid);
    rc = 0;
out:
    for (int i = 0; i < 2; i++) {
        if (in[i] >= 0)
            close(in[i]);
        if (out[i] >= 0)
            close(out[i]);
    }
    posix_spawn_file_actions_destroy(&fa);
    return rc;
}

static int stdio_send(void *t, const char *msg, long long id, long long deadline, struct err *err)
{
    (void)id;
    struct stdio_t *s = t;
    char *line = xasprintf("%s\n", msg);
    int rc = write_all(s, line, strlen(line), deadline, err);
    free(line);
    return rc;
}

/* Collects the child if it has exited. Call with s->mu held. */
static int reap_locked(struct stdio_t *s, int options)
{
    if (s->pid <= 0 || s->reaped)
        return 1;
    int st = 0;
    pid_t r = waitpid(s->pid, &st, options);
    if (r == s->pid) {
        s->reaped = 1;
        s->status = st;
        s->dead = 1;
    }
    return s->reaped;
}

static int stdio_alive(void *t)
{
    struct stdio_t *s = t;
    pthread_mutex_lock(&s->mu);
    int alive = s->pid > 0 && !s->dead && !reap_locked(s, WNOHANG);
    pthread_mutex_unlock(&s->mu);
    return alive;
}

static void stdio_negotiated(void *t, const char *version)
{
    (void)t;
    (void)version;
}

/* Waits up to ms for the child to exit. Returns 1 when it has. */
static int wait_exit(struct stdio_t *s, long ms)
{
    int64_t end = clock_mono_ms() + ms;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        int gone = reap_locked(s, WNOHANG);
        pthread_mutex_unlock(&s->mu);
        if (gone || clock_mono_ms() >= end)
            return gone;
        sched_sleep_ms(10);
    }
}

static void stdio_stop(void *t)
{
    struct stdio_t *s = t;
    sched_mutex_lock(s->wmu);
    pthread_mutex_lock(&s->mu);
    if (s->in_fd >= 0)
        close(s->in_fd); /* EOF on its stdin: the polite way to ask a stdio server to leave */
    s->in_fd = -1;
    pthread_mutex_unlock(&s->mu);
    sched_mutex_unlock(s->wmu);
    if (s->pid > 0 && !wait_exit(s, EXIT_GRACE_MS)) {
        kill(s->pid, SIGTERM);
        if (!wait_exit(s, TERM_GRACE_MS)) {
            kill(s->pid, SIGKILL);
            pthread_mutex_lock(&s->mu);
            reap_locked(s, 0);
            pthread_mutex_unlock(&s->mu);
        }
    }
    pthread_mutex_lock(&s->mu);
    s->stopping = 1;
    pthread_mutex_unlock(&s->mu);
    if (s->has_reader)
        pthread_join(s->reader, NULL);
    s->has_reader = 0;
    if (s->out_fd >= 0)
        close(s->out_fd);
    s->out_fd = -1;
    if (s->pid > 0 && s->reaped)
        log_at(LL_INFO, "mcp", "server '%s' (pid %d) ended with status %d", mcp__name(s->c),
               (int)s->pid,
               WIFEXITED(s->status) ? WEXITSTATUS(s->status) : 128 + WTERMSIG(s->status));
    s->pid = 0;
    s->dead = 1;
}

static void stdio_destroy(void *t)
{
    struct stdio_t *s = t;
    if (!s)
        return;
    for (size_t i = 0; s->argv[i]; i++)
        free(s->argv[i]);
    free(s->argv);
    for (size_t i = 0; s->envp[i]; i++)
        free(s->envp[i]);
    free(s->envp);
    pthread_mutex_destroy(&s->mu);
    sched_mutex_free(s->wmu);
    free(s);
}

const struct mcp_transport_ops mcp__stdio_ops = {
    .kind = "stdio",
    .create = stdio_create,
    .start = stdio_start,
    .send = stdio_send,
    .alive = stdio_alive,
    .negotiated = stdio_negotiated,
    .stop = stdio_stop,
    .destroy = stdio_destroy,
};
