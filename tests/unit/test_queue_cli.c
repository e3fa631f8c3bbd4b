/*
 * test_queue_cli.c - `parley queue stats | dlq list | dlq redrive` against a data directory that
 * the library filled, with the command's stdout captured and parsed.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/xmalloc.h"
#include "check.h"
#include "queue/queue.h"
#include "runtime/app.h"

static char dir[64];

/* Runs queue_cli_main on a NULL-terminated argument list; returns its exit code and stores what
 * it printed on stdout in *out (caller frees). */
static int run_cli(char **out, ...)
{
    char *argv[16];
    int argc = 0;
    va_list ap;
    va_start(ap, out);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && argc < 15)
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;

    char *path = xasprintf("%s/stdout.txt", dir);
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
    dup2(fd, STDOUT_FILENO);
    close(fd);
    int rc = app_cli_queue(argc, argv);
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);

    FILE *f = fopen(path, "r");
    char *buf = xcalloc(1, 65536);
    if (f) {
        size_t n = fread(buf, 1, 65535, f);
        buf[n] = '\0';
        fclose(f);
    }
    free(path);
    *out = buf;
    return rc;
}

static json_t *find_queue(json_t *stats, const char *name)
{
    size_t i;
    json_t *q;
    json_array_foreach(json_object_get(stats, "queues"), i, q)
    {
        const char *n = json_string_value(json_object_get(q, "name"));
        if (n && strcmp(n, name) == 0)
            return q;
    }
    return NULL;
}

static long long num(json_t *o, const char *k)
{
    return (long long)json_integer_value(json_object_get(o, k));
}

static void test_stats_list_redrive(void)
{
    char *data = xasprintf("%s/data", dir);
    char *cmd = xasprintf("mkdir -p '%s'", data);
    CHECK_INT(system(cmd), 0);
    free(cmd);
    char *db = xasprintf("%s/queue.db", data);
    struct err err = {0};
    struct queue *q = queue_sqlite_new(db, NULL, &err);
    CHECK(q != NULL);
    CHECK_INT(queue_setup_agent(q, &err), 0);
    /* One maxReceiveCount-1 queue makes a dead letter without waiting out timeouts. */
    struct queue_attrs fast = {.dead_letter_target = QUEUE_AGENT_ACTIONS_DLQ,
                               .max_receive_count = 1};
    CHECK_INT(queue_ensure(q, "Fast", &fast, &err), 0);
    char id[37];
    CHECK_INT(queue_send(q, "Fast", "doomed\nline two", NULL, 0, id, &err), 0);
    CHECK_INT(queue_send(q, QUEUE_AGENT_ACTIONS, "a", NULL, 0, id, &err), 0);
    CHECK_INT(queue_send(q, QUEUE_AGENT_ACTIONS, "b", NULL, 0, id, &err), 0);
    struct queue_receive_opts o = {.max_messages = 1};
    json_t *got = NULL;
    CHECK_INT(queue_receive(q, "Fast", &o, &got, &err), 0); /* receive 1 */
    CHECK_INT(json_array_size(got), 1);
    CHECK_INT(queue_change_visibility(q, "Fast",
                                      json_string_value(json_object_get(json_array_get(got, 0),
                                                                        "ReceiptHandle")),
                                      0, &err),
              0);
    json_decref(got);
    CHECK_INT(queue_receive(q, "Fast", &o, &got, &err), 0); /* moves it to the DLQ */
    CHECK_INT(json_array_size(got), 0);
    json_decref(got);
    o.visibility_timeout_s = 300;
    CHECK_INT(queue_receive(q, QUEUE_AGENT_ACTIONS, &o, &got, &err), 0);
    json_decref(got);

    char *out = NULL;
    CHECK_INT(run_cli(&out, "queue", "stats", "--data", data, NULL), 0);
    json_t *stats = json_loads(out, 0, NULL);
    CHECK(stats != NULL);
    json_t *aa = find_queue(stats, QUEUE_AGENT_ACTIONS);
    CHECK(aa != NULL);
    CHECK_INT(num(aa, "visible"), 1);
    CHECK_INT(num(aa, "inFlight"), 1);
    CHECK_INT(num(aa, "delayed"), 0);
    json_t *dlq = json_object_get(aa, "dlq");
    CHECK_STR(json_string_value(json_object_get(dlq, "name")), QUEUE_AGENT_ACTIONS_DLQ);
    CHECK_INT(num(dlq, "maxReceiveCount"), 3);
    CHECK_INT(num(dlq, "visible"), 1);
    CHECK(json_is_null(json_object_get(find_queue(stats, QUEUE_AGENT_ACTIONS_DLQ), "dlq")));
    json_decref(stats);
    free(out);

    CHECK_INT(run_cli(&out, "queue", "stats", "--table", "--data", data, NULL), 0);
    CHECK(strstr(out, "IN-FLIGHT") != NULL);
    CHECK(strstr(out, "AgentActions-DLQ (3, 1)") != NULL);
    free(out);

    CHECK_INT(run_cli(&out, "queue", "dlq", "list", "--data", data, NULL), 0);
    json_t *list = json_loads(out, 0, NULL);
    json_t *msgs = json_object_get(list, "messages");
    CHECK_INT(json_array_size(msgs), 1);
    json_t *m = json_array_get(msgs, 0);
    CHECK_STR(json_string_value(json_object_get(m, "Body")), "doomed\nline two");
    CHECK_STR(json_string_value(json_object_get(m, "SourceQueue")), "Fast");
    CHECK_STR(json_string_value(json_object_get(m, "Queue")), QUEUE_AGENT_ACTIONS_DLQ);
    json_decref(list);
    free(out);

    CHECK_INT(run_cli(&out, "queue", "dlq", "list", "--table", "--data", data, NULL), 0);
    CHECK(strstr(out, "doomed line two") != NULL);
    CHECK(strstr(out, "1 message(s)") != NULL);
    free(out);

    CHECK_INT(run_cli(&out, "queue", "dlq", "redrive", "--max", "5", "--data", data, NULL), 0);
    json_t *res = json_loads(out, 0, NULL);
    CHECK_INT(num(res, "moved"), 1);
    json_decref(res);
    free(out);
    struct queue_counts c;
    CHECK_INT(queue_counts(q, "Fast", &c, &err), 0);
    CHECK_INT(c.visible, 1);
    CHECK_INT(queue_counts(q, QUEUE_AGENT_ACTIONS_DLQ, &c, &err), 0);
    CHECK_INT(c.visible, 0);

    queue_free(q);
    free(db);
    free(data);
}

static void test_usage_and_errors(void)
{
    char *out = NULL;
    CHECK_INT(run_cli(&out, "queue", "--help", NULL), 0);
    CHECK(strstr(out, "dlq redrive") != NULL);
    free(out);
    CHECK_INT(run_cli(&out, "queue", "stats", "--help", NULL), 0);
    free(out);
    CHECK_INT(run_cli(&out, "queue", NULL), 2);
    free(out);
    CHECK_INT(run_cli(&out, "queue", "frobnicate", NULL), 2);
    free(out);
    CHECK_INT(run_cli(&out, "queue", "stats", "--bogus", "x", NULL), 2);
    free(out);
    CHECK_INT(run_cli(&out, "queue", "dlq", "list", "--max", "-3", NULL), 2);
    free(out);
    CHECK_INT(run_cli(&out, "queue", "dlq", "list", "--max", NULL), 2);
    free(out);
    char *missing = xasprintf("%s/does/not/exist", dir);
    CHECK_INT(run_cli(&out, "queue", "stats", "--data", missing, NULL), 1);
    CHECK_STR(out, "");
    free(out);
    free(missing);
    char *data = xasprintf("%s/data", dir);
    CHECK_INT(run_cli(&out, "queue", "dlq", "list", "--queue", "NoSuch", "--data", data, NULL),
              1);
    free(out);
    free(data);
}

int main(void)
{
    xmalloc_init();
    snprintf(dir, sizeof dir, "/tmp/parley-qcli-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_stats_list_redrive);
    RUN(test_usage_and_errors);
    char *cmd = xasprintf("rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove '%s'\n", dir);
    free(cmd);
    return check_summary();
}
