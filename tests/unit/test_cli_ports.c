/*
 * test_cli_ports.c - `parley queue`, `parley archive` and `parley worker` reach their ports
 * through the one wiring (runtime/app.c), so they talk to the adapter serve would use and say
 * which one on stderr; `queue stats` creates nothing.
 *
 * Always runs the local part (SQLite queue, archive files). With PARLEY_TEST_SQS and
 * PARLEY_TEST_S3 (set by tests/scripts/test_aws_cli_ports.sh, which starts fauxqs and s3rver on
 * 127.0.0.1) only the AWS part runs: PARLEY_QUEUE_PREFIX selects SQS, PARLEY_ARCHIVE_BUCKET S3,
 * and the data directory must stay untouched.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "archive/archive.h"
#include "base/xmalloc.h"
#include "check.h"
#include "queue/queue.h"
#include "runtime/app.h"

static char dir[] = "/tmp/parley-cli-ports-XXXXXX";
static char *out_text, *err_text; /* what the last run printed on stdout and stderr */

static char *read_all(const char *path)
{
    char *buf = xcalloc(1, 1 << 16);
    FILE *f = fopen(path, "r");
    if (f) {
        size_t n = fread(buf, 1, (1 << 16) - 1, f);
        buf[n] = '\0';
        fclose(f);
    }
    return buf;
}

/* Calls cmd with the NULL-terminated arguments, stdout and stderr sent to files of dir; returns
 * its exit code and leaves what it printed in out_text and err_text. */
static int run(int (*cmd)(int, char **), ...)
{
    char *argv[16];
    int argc = 0;
    va_list ap;
    va_start(ap, cmd);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && argc < 15)
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    char *opath = xasprintf("%s/out.txt", dir), *epath = xasprintf("%s/err.txt", dir);
    fflush(stdout);
    fflush(stderr);
    int so = dup(STDOUT_FILENO), se = dup(STDERR_FILENO);
    int ofd = open(opath, O_CREAT | O_TRUNC | O_WRONLY, 0600);
    int efd = open(epath, O_CREAT | O_TRUNC | O_WRONLY, 0600);
    dup2(ofd, STDOUT_FILENO);
    dup2(efd, STDERR_FILENO);
    close(ofd);
    close(efd);
    int rc = cmd(argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(so, STDOUT_FILENO);
    dup2(se, STDERR_FILENO);
    close(so);
    close(se);
    free(out_text);
    free(err_text);
    out_text = read_all(opath);
    err_text = read_all(epath);
    free(opath);
    free(epath);
    return rc;
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* The "queues" rows `queue stats` printed, and the named one's visible count (-1: absent). */
static long long stats_visible(const char *name, size_t *rows)
{
    json_t *doc = json_loads(out_text, 0, NULL);
    json_t *list = json_object_get(doc, "queues");
    long long visible = -1;
    *rows = json_array_size(list);
    size_t i;
    json_t *row;
    json_array_foreach(list, i, row) {
        const char *n = json_string_value(json_object_get(row, "name"));
        if (n && strstr(n, name) && !strstr(n, "DLQ"))
            visible = (long long)json_integer_value(json_object_get(row, "visible"));
    }
    json_decref(doc);
    return visible;
}

/* ---------------------------------------------------------------- local adapters */

static void test_local(void)
{
    char *data = xasprintf("%s/data", dir);
    size_t rows = 99;
    /* stats without a data directory fails and creates none. */
    CHECK_INT(run(app_cli_queue, "queue", "stats", "--data", data, NULL), 1);
    CHECK(strstr(err_text, "no data directory") != NULL);
    CHECK(!exists(data));
    /* stats in a data directory without queues: none listed, no database created. */
    CHECK_INT(mkdir(data, 0755), 0);
    char *db = xasprintf("%s/queue.db", data);
    CHECK_INT(run(app_cli_queue, "queue", "stats", "--data", data, NULL), 0);
    CHECK(stats_visible("AgentActions", &rows) == -1);
    CHECK_INT(rows, 0);
    CHECK(strstr(err_text, "backend sqlite") != NULL);
    CHECK(strstr(err_text, "not created yet") != NULL);
    CHECK(!exists(db));

    /* Once the queues exist (dlq list opens them as serve does), stats reads them. */
    CHECK_INT(run(app_cli_queue, "queue", "dlq", "list", "--data", data, NULL), 0);
    CHECK(exists(db));
    free(db);
    CHECK_INT(run(app_cli_queue, "queue", "stats", "--data", data, NULL), 0);
    CHECK_INT(stats_visible(QUEUE_AGENT_ACTIONS, &rows), 0);
    CHECK(strstr(err_text, "not created yet") == NULL);

    CHECK_INT(run(app_cli_archive, "archive", "list", "--data", data, NULL), 0);
    CHECK(strstr(err_text, "backend fs") != NULL);
    free(data);
}

/* ---------------------------------------------------------------- AWS adapters */

static int log_has(void *ud)
{
    char **w = ud;
    char *text = read_all(w[0]);
    int found = strstr(text, w[1]) != NULL;
    free(text);
    return found;
}

/* A real `parley worker` process says which queue it drains. */
static void test_worker_names_sqs(const char *data)
{
    const char *bin = getenv("PARLEY_BIN");
    if (!check_require("PARLEY_BIN is set", bin && *bin))
        return;
    char *logp = xasprintf("%s/worker.log", dir);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(logp, O_CREAT | O_TRUNC | O_WRONLY, 0600);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        close(fd);
        execl(bin, "parley", "worker", "--data", data, "--threads", "1", (char *)NULL);
        _exit(127);
    }
    char *w[2] = {logp, "draining AgentActions on sqs (queue prefix"};
    CHECK(check_wait(log_has, w, 20000));
    kill(pid, SIGTERM);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    free(logp);
}

static const char *aws_sqs, *aws_s3; /* the emulators' endpoints */

static void test_aws(void)
{
    char prefix[64];
    snprintf(prefix, sizeof prefix, "cliports%ld-", (long)getpid());
    setenv("AWS_ENDPOINT_URL_SQS", aws_sqs, 1);
    setenv("AWS_ENDPOINT_URL_S3", aws_s3, 1);
    setenv("AWS_REGION", "us-east-1", 1);
    setenv("AWS_ACCESS_KEY_ID", "S3RVER", 1); /* s3rver's key; fauxqs takes any */
    setenv("AWS_SECRET_ACCESS_KEY", "S3RVER", 1);
    setenv("PARLEY_QUEUE_PREFIX", prefix, 1);
    setenv("PARLEY_ARCHIVE_BUCKET", "conversation-logs-000000000000", 1);
    char *data = xasprintf("%s/untouched", dir);
    size_t rows = 99;

    /* Before any queue exists, stats lists none and creates none. */
    CHECK_INT(run(app_cli_queue, "queue", "stats", "--data", data, NULL), 0);
    CHECK(strstr(err_text, "backend sqs (queue prefix 'cliports") != NULL);
    CHECK_INT(stats_visible(QUEUE_AGENT_ACTIONS, &rows), -1);
    CHECK_INT(rows, 0);

    /* The wiring's queue is the one the CLI reads: a message sent through it shows in stats. */
    struct config cfg;
    struct err e;
    struct app_ports p;
    CHECK_INT(config_load(&cfg, &e), 0);
    CHECK_INT(app_open_ports(&p, &cfg, APP_PORT_QUEUE | APP_PORT_ARCHIVE, &e), 0);
    CHECK(p.queue && strcmp(queue_name(p.queue), "sqs") == 0);
    CHECK(p.archive && strcmp(archive_name(p.archive), "s3") == 0);
    char id[64];
    if (p.queue)
        CHECK_INT(queue_send(p.queue, QUEUE_AGENT_ACTIONS, "{\"x\":1}", NULL, 0, id, &e), 0);
    const char *doc = "{\"sessionId\":\"cli-ports\"}";
    if (p.archive)
        CHECK_INT(archive_put(p.archive, "2025/01/02/cli-ports.json", doc, strlen(doc), &e), 0);
    app_close_ports(&p);
    config_release(&cfg);

    CHECK_INT(run(app_cli_queue, "queue", "stats", "--data", data, NULL), 0);
    CHECK_INT(stats_visible(QUEUE_AGENT_ACTIONS, &rows), 1);
    CHECK(rows >= 2); /* AgentActions and its DLQ */
    CHECK_INT(run(app_cli_queue, "queue", "dlq", "list", "--data", data, NULL), 0);
    CHECK(strstr(err_text, "backend sqs") != NULL);

    CHECK_INT(run(app_cli_archive, "archive", "list", "2025/01/", "--data", data, NULL), 0);
    CHECK(strstr(err_text, "backend s3 (bucket 'conversation-logs-000000000000')") != NULL);
    CHECK(strstr(out_text, "2025/01/02/cli-ports.json") != NULL);
    CHECK_INT(run(app_cli_archive, "archive", "get", "2025/01/02/cli-ports.json", "--data", data,
                  NULL),
              0);
    CHECK_STR(out_text, doc);
    CHECK(!exists(data)); /* every command above went to the emulators */

    test_worker_names_sqs(data);
    free(data);
}

int main(void)
{
    xmalloc_init();
    if (!check_require("a temporary directory", mkdtemp(dir) != NULL))
        return check_summary();
    const char *sqs = getenv("PARLEY_TEST_SQS"), *s3 = getenv("PARLEY_TEST_S3");
    if (sqs && *sqs && s3 && *s3) {
        aws_sqs = sqs;
        aws_s3 = s3;
        RUN(test_aws);
    } else {
        RUN(test_local);
    }
    free(out_text);
    free(err_text);
    char *cmd = xasprintf("rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    free(cmd);
    return check_summary();
}
