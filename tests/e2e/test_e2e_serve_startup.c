/*
 * test_e2e_serve_startup.c - `parley serve` start-up failures against the real binary: a port
 * already in use, a data directory that cannot be created and an invalid setting each end the
 * process promptly with a non-zero status and a message naming the cause, never "listening on".
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "check.h"
#include "e2e/e2e.h"

struct run {
    pid_t pid;
    int status; /* waitpid status once exited */
    int exited;
};

static int run_exited(void *ud)
{
    struct run *r = ud;
    if (!r->exited && waitpid(r->pid, &r->status, WNOHANG) == r->pid)
        r->exited = 1;
    return r->exited;
}

/* Runs `parley serve --port PORT --data DATA` with extra "K=V" (may be NULL), output in log.
 * Returns the exit code, or -1 when it did not exit within 20 s (it is then killed). */
static int serve_fails(const char *port, const char *data, const char *extra, const char *log)
{
    const char *bin = getenv("PARLEY_BIN") ? getenv("PARLEY_BIN") : "build/san/parley";
    struct run r = {0};
    r.pid = fork();
    if (r.pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        if (extra)
            putenv((char *)extra);
        execl(bin, bin, "serve", "--port", port, "--data", data, (char *)NULL);
        _exit(127);
    }
    if (!check_wait(run_exited, &r, 20000)) {
        kill(r.pid, SIGKILL);
        waitpid(r.pid, &r.status, 0);
        return -1;
    }
    return WIFEXITED(r.status) ? WEXITSTATUS(r.status) : 128 + WTERMSIG(r.status);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return strdup("");
    char *buf = calloc(1, 1 << 16);
    size_t n = fread(buf, 1, (1 << 16) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static char dir[64];

static void test_port_in_use(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    CHECK(s >= 0 && bind(s, (struct sockaddr *)&a, sizeof a) == 0 && listen(s, 1) == 0 &&
          getsockname(s, (struct sockaddr *)&a, &len) == 0);
    char port[16], log[128], data[128], want[64];
    snprintf(port, sizeof port, "%d", ntohs(a.sin_port));
    snprintf(log, sizeof log, "%s/port.log", dir);
    snprintf(data, sizeof data, "%s/port-data", dir);
    CHECK_INT(serve_fails(port, data, NULL, log), 1);
    char *out = slurp(log);
    snprintf(want, sizeof want, "cannot listen on 127.0.0.1:%s", port);
    CHECK(strstr(out, want) != NULL);
    CHECK(strstr(out, "listening on") == NULL);
    free(out);
    close(s);
}

static void test_data_dir_cannot_be_created(void)
{
    char log[128];
    snprintf(log, sizeof log, "%s/data.log", dir);
    CHECK_INT(serve_fails("0", "/proc/parley-no-such/data", NULL, log), 1);
    char *out = slurp(log);
    CHECK(strstr(out, "cannot create data directory '/proc/parley-no-such/data'") != NULL);
    CHECK(strstr(out, "listening on") == NULL);
    free(out);
}

static void test_invalid_setting(void)
{
    char log[128], data[128];
    snprintf(log, sizeof log, "%s/config.log", dir);
    snprintf(data, sizeof data, "%s/config-data", dir);
    CHECK_INT(serve_fails("0", data, "PARLEY_MODEL=nonsense", log), 2);
    char *out = slurp(log);
    CHECK(strstr(out, "PARLEY_MODEL must be one of offline|bedrock|anthropic|openai") != NULL);
    CHECK(strstr(out, "'nonsense'") != NULL);
    CHECK(strstr(out, "listening on") == NULL);
    free(out);
}

int main(void)
{
    if (!check_require("a temporary directory", e2e_tmpdir(dir, sizeof dir) == 0))
        return check_summary();
    RUN(test_port_in_use);
    RUN(test_data_dir_cannot_be_created);
    RUN(test_invalid_setting);
    e2e_rmdir(dir);
    return check_summary();
}
