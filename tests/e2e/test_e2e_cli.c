/*
 * test_e2e_cli.c - the command line: every command explains itself with --help, unknown commands
 * and options are refused with exit 2, and `parley chat` holds the seed's conversation with a
 * running server from the terminal; `parley serve` that cannot start (port in use, unwritable data
 * directory, bad setting) exits non-zero naming the problem.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "check.h"
#include "e2e/e2e.h"

static char out[1 << 16];

static void test_help_everywhere(void)
{
    const char *cmds[] = {"--help", "serve --help", "chat --help", "worker --help",
                          "queue --help", "archive --help", "sfn --help", "lambda --help"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        int rc = e2e_run_parley(cmds[i], NULL, out, sizeof out);
        if (rc != 0 || !strcasestr(out, "usage"))
            fprintf(stderr, "parley %s: rc %d\n%s\n", cmds[i], rc, out);
        CHECK_INT(rc, 0);
        CHECK(strcasestr(out, "usage") != NULL);
    }
    /* The top-level help lists every command and every setting. */
    e2e_run_parley("--help", NULL, out, sizeof out);
    const char *must[] = {"serve", "chat", "worker", "queue", "archive", "sfn", "lambda",
                          "PARLEY_PORT", "PARLEY_DATA", "PARLEY_MODEL", "PARLEY_OPERATOR_TOKEN",
                          "PARLEY_STORE", "PARLEY_WORKERS", "PARLEY_REDACT"};
    for (size_t i = 0; i < sizeof must / sizeof must[0]; i++)
        CHECK(strstr(out, must[i]) != NULL);
}

static void test_refusals(void)
{
    CHECK_INT(e2e_run_parley("frobnicate", NULL, out, sizeof out), 2);
    CHECK(strstr(out, "unknown command 'frobnicate'") != NULL);
    CHECK_INT(e2e_run_parley("serve --bogus", NULL, out, sizeof out), 2);
    CHECK(strstr(out, "--bogus") != NULL);
    CHECK_INT(e2e_run_parley("serve --port 99999", NULL, out, sizeof out), 2);
    CHECK(strstr(out, "PARLEY_PORT") != NULL);
    char env_cmd[256];
    snprintf(env_cmd, sizeof env_cmd, "version");
    CHECK_INT(e2e_run_parley(env_cmd, NULL, out, sizeof out), 0);
    CHECK(strncmp(out, "parley ", 7) == 0);
    /* Session ids may begin with '-' ([A-Za-z0-9_-]): `replay` takes one as the id, not as an
     * unknown option; an option without its value is a usage error. */
    char dir[] = "/tmp/parley-cli-data-XXXXXX";
    if (check_require("a temporary directory", mkdtemp(dir) != NULL)) {
        char args[256];
        snprintf(args, sizeof args, "replay -abcDEF123 --data '%s'", dir);
        CHECK_INT(e2e_run_parley(args, NULL, out, sizeof out), 1);
        CHECK(strstr(out, "session '-abcDEF123' not found") != NULL);
        rmdir(dir);
    }
    CHECK_INT(e2e_run_parley("replay --data", NULL, out, sizeof out), 2);
    CHECK(strstr(out, "--data needs a value") != NULL);
}

/* Runs `env ENV timeout 30 parley ARGS` (a serve that started anyway is killed, and fails). */
static int run_serve(const char *env, const char *args)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "env %s timeout 30 '%s' %s > /tmp/parley-cli-serve.txt 2>&1", env,
             getenv("PARLEY_BIN"), args);
    int st = system(cmd);
    FILE *f = fopen("/tmp/parley-cli-serve.txt", "r");
    size_t n = f ? fread(out, 1, sizeof out - 1, f) : 0;
    out[n] = '\0';
    if (f)
        fclose(f);
    unlink("/tmp/parley-cli-serve.txt");
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_serve_startup_failures(void)
{
    char dir[64];
    CHECK_INT(e2e_tmpdir(dir, sizeof dir), 0);
    /* The port is taken by a listening socket of ours. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && listen(fd, 1) == 0 &&
          getsockname(fd, (struct sockaddr *)&a, &alen) == 0);
    char args[256];
    snprintf(args, sizeof args, "serve --port %d --data %s", ntohs(a.sin_port), dir);
    int rc = run_serve("PARLEY_WORKERS=0", args);
    CHECK(rc != 0 && rc != 124);
    char want[64];
    snprintf(want, sizeof want, "cannot listen on 127.0.0.1:%d", ntohs(a.sin_port));
    CHECK(strstr(out, want) != NULL);
    close(fd);
    /* The data directory cannot be created. */
    rc = run_serve("PARLEY_WORKERS=0", "serve --port 0 --data /proc/parley-no/such");
    CHECK(rc != 0 && rc != 124);
    CHECK(strstr(out, "cannot create data directory '/proc/parley-no/such'") != NULL);
    /* A setting out of its bounds, and one not in its choices. */
    snprintf(args, sizeof args, "serve --port 0 --data %s", dir);
    rc = run_serve("PARLEY_HISTORY_TURNS=0", args);
    CHECK_INT(rc, 2);
    CHECK(strstr(out, "PARLEY_HISTORY_TURNS must be between 1 and 1000 (got 0)") != NULL);
    rc = run_serve("PARLEY_MODEL=gpt9", args);
    CHECK_INT(rc, 2);
    CHECK(strstr(out, "PARLEY_MODEL must be one of") != NULL);
    rc = run_serve("PARLEY_REDACT=everything", args);
    CHECK(rc != 0 && rc != 124);
    CHECK(strstr(out, "PARLEY_REDACT must be") != NULL);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK_INT(system(cmd), 0);
}

static void test_chat_conversation(void)
{
    struct e2e_server srv;
    char dir[64];
    CHECK(e2e_tmpdir(dir, sizeof dir) == 0);
    if (e2e_start(&srv, dir) != 0) {
        CHECK(0);
        return;
    }
    char args[160];
    snprintf(args, sizeof args, "chat --url %s", srv.url);
    int rc = e2e_run_parley(args, "I can't log into my account\nIt's jane.doe@example.com\n\n", out,
                        sizeof out);
    CHECK_INT(rc, 0);
    CHECK(strstr(out, "(session ") != NULL);
    CHECK(strcasestr(out, "email") != NULL);
    CHECK(strstr(out, "[create_support_ticket succeeded") != NULL);
    CHECK(strstr(out, "TKT-") != NULL);
    /* A server that is not there: a clear message and a failing exit code. */
    e2e_stop(&srv);
    rc = e2e_run_parley(args, "hello\n\n", out, sizeof out);
    CHECK_INT(rc, 1);
    CHECK(strstr(out, "cannot reach") != NULL);
    e2e_rmdir(dir);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    RUN(test_help_everywhere);
    RUN(test_refusals);
    RUN(test_serve_startup_failures);
    RUN(test_chat_conversation);
    curl_global_cleanup();
    return check_summary();
}
