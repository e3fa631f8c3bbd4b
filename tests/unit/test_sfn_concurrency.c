/*
 * test_sfn_concurrency.c - Parallel branches and Map iterations on the real clock: concurrent
 * (overlapping in time, on the caller's thread) when the execution runs inside a scheduler task,
 * one after another outside one. Also sched_spawn(), which the engine builds on.
 *
 * No timing assertions: overlap is shown by the order of recorded start/end instants (branch 2
 * starts before branch 1 ends), sequence by the opposite order.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/sched.h"
#include "base/xmalloc.h"
#include "check.h"
#include "sfn/sfn.h"

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- what the Task callback records ---- */

#define FN "arn:aws:lambda:us-east-1:123456789012:function:" /* + the name the callback records */

#define MAX_CALLS 64
static struct {
    char resource[MAX_CALLS][32];
    int64_t start[MAX_CALLS], end[MAX_CALLS];
    pthread_t thread[MAX_CALLS];
    int n;
    int in_flight, max_in_flight;
} rec;

static void rec_reset(void)
{
    memset(&rec, 0, sizeof rec);
}

/* Index of the first call of resource, or -1. */
static int rec_find(const char *resource)
{
    for (int i = 0; i < rec.n; i++)
        if (!strcmp(rec.resource[i], resource))
            return i;
    return -1;
}

/* Task callback: sleeps the input's "ms" (parking inside a task), fails when the input's "fail"
 * is true, else returns {"r": resource, "v": input.v}. */
static int task_cb(void *ud, const char *resource, json_t *input, json_t **output, struct err *err)
{
    (void)ud;
    int i = rec.n < MAX_CALLS ? rec.n++ : MAX_CALLS - 1;
    resource = strrchr(resource, ':') + 1;
    snprintf(rec.resource[i], sizeof rec.resource[i], "%s", resource);
    rec.thread[i] = pthread_self();
    rec.start[i] = mono_us();
    if (++rec.in_flight > rec.max_in_flight)
        rec.max_in_flight = rec.in_flight;
    sched_sleep_ms((long)json_integer_value(json_object_get(input, "ms")));
    rec.in_flight--;
    rec.end[i] = mono_us();
    if (json_is_true(json_object_get(input, "fail")))
        return err_set(err, "Boom", "item %lld failed",
                       (long long)json_integer_value(json_object_get(input, "v")));
    *output = json_pack("{s:s, s:O}", "r", resource, "v",
                        json_object_get(input, "v") ? json_object_get(input, "v") : json_null());
    return 0;
}

/* ---- running an execution inside a scheduler task ---- */

struct job {
    struct sfn_machine *m;
    json_t *input;
    struct sfn_run_opts opts;
    struct sfn_result res;
    pthread_t thread;    /* where sfn_run was called */
    int64_t returned_at; /* when sfn_run returned */
    struct sched_event *done;
};

static int interrupt_timeouts; /* sfn_run_opts.interrupt_timed_out_tasks for run_def */

static void job_task(void *ud)
{
    struct job *j = ud;
    j->thread = pthread_self();
    sfn_run(j->m, j->input, &j->opts, &j->res);
    j->returned_at = mono_us();
    sched_event_signal(j->done);
}

/* Runs def on input (a JSON text) inside a scheduler task (in_task) or on this thread. The
 * caller releases j->res and j->m. */
static void run_def(struct job *j, const char *def, const char *input, int in_task, int history)
{
    struct err e = {0};
    memset(j, 0, sizeof *j);
    j->m = sfn_machine_parse(def, &e);
    if (!j->m)
        fprintf(stderr, "definition rejected: %s\n", e.message);
    j->input = json_loads(input, 0, NULL);
    j->opts.task = task_cb;
    j->opts.want_history = history;
    j->opts.interrupt_timed_out_tasks = interrupt_timeouts;
    rec_reset();
    if (!in_task) {
        j->thread = pthread_self();
        sfn_run(j->m, j->input, &j->opts, &j->res);
    } else {
        struct sched *s = sched_start(1, 0, &e);
        j->done = sched_event_new();
        if (s && sched_submit(s, job_task, j) == 0)
            sched_event_wait(j->done, 60000);
        sched_stop(s, 60000);
        sched_event_free(j->done);
    }
    json_decref(j->input);
}

static void job_release(struct job *j)
{
    sfn_result_release(&j->res);
    sfn_machine_free(j->m);
}

/* Two branches, each a 1 s Wait then a Task that takes 1 s. */
static const char *two_branches =
    "{\"StartAt\":\"P\",\"States\":{\"P\":{\"Type\":\"Parallel\",\"End\":true,\"Branches\":["
    "{\"StartAt\":\"W1\",\"States\":{\"W1\":{\"Type\":\"Wait\",\"Seconds\":1,\"Next\":\"T1\"},"
    "\"T1\":{\"Type\":\"Task\",\"Resource\":\"" FN "b1\",\"End\":true}}},"
    "{\"StartAt\":\"W2\",\"States\":{\"W2\":{\"Type\":\"Wait\",\"Seconds\":1,\"Next\":\"T2\"},"
    "\"T2\":{\"Type\":\"Task\",\"Resource\":\"" FN "b2\",\"End\":true}}}]}}}";

static void test_parallel_overlaps_inside_a_task(void)
{
    struct job j;
    int64_t t0 = mono_us();
    run_def(&j, two_branches, "{\"ms\":1000,\"v\":7}", 1, 1);
    int64_t took = mono_us() - t0;
    CHECK_INT(j.res.status, SFN_SUCCEEDED);
    int a = rec_find("b1"), b = rec_find("b2");
    CHECK(a >= 0 && b >= 0);
    if (a >= 0 && b >= 0) {
        CHECK(rec.start[b] < rec.end[a]); /* branch 2 was under way before branch 1 ended */
        CHECK(rec.start[a] < rec.end[b]);
        CHECK(pthread_equal(rec.thread[a], j.thread) && pthread_equal(rec.thread[b], j.thread));
    }
    fprintf(stderr, "# two 2 s branches took %lld ms inside a task\n", (long long)(took / 1000));
    /* output order is branch order, whatever order they ended in */
    char *out = json_dumps(j.res.output, JSON_COMPACT);
    CHECK_STR(out, "[{\"r\":\"b1\",\"v\":7},{\"r\":\"b2\",\"v\":7}]");
    free(out);
    /* the history stays well formed: ids in sequence, each previousEventId earlier */
    size_t i, n = json_array_size(j.res.history);
    json_t *ev;
    int ok = n > 10;
    json_array_foreach(j.res.history, i, ev) {
        json_int_t id = json_integer_value(json_object_get(ev, "id"));
        json_int_t prev = json_integer_value(json_object_get(ev, "previousEventId"));
        ok = ok && id == (json_int_t)i + 1 && prev >= 0 && prev < id;
    }
    CHECK(ok);
    job_release(&j);
}

static void test_parallel_sequential_outside_a_task(void)
{
    struct job j;
    run_def(&j, two_branches, "{\"ms\":200,\"v\":1}", 0, 0);
    CHECK_INT(j.res.status, SFN_SUCCEEDED);
    int a = rec_find("b1"), b = rec_find("b2");
    CHECK(a >= 0 && b >= 0);
    if (a >= 0 && b >= 0)
        CHECK(rec.start[b] >= rec.end[a]); /* today's behaviour: one after another */
    job_release(&j);
}

static const char
    *map_def = "{\"StartAt\":\"M\",\"States\":{\"M\":{\"Type\":\"Map\",\"ItemsPath\":\"$.items\",%s"
               "\"ItemProcessor\":{\"StartAt\":\"T\",\"States\":{\"T\":{\"Type\":\"Task\","
               "\"Resource\":\"" FN "item\",\"End\":true}}},\"End\":true}}}";

static void map_with(struct job *j, const char *extra, const char *input)
{
    char def[1024];
    snprintf(def, sizeof def, map_def, extra);
    run_def(j, def, input, 1, 0);
}

static void test_map_respects_max_concurrency(void)
{
    struct job j;
    map_with(&j, "\"MaxConcurrency\":2,",
             "{\"items\":[{\"v\":0,\"ms\":300},{\"v\":1,\"ms\":100},{\"v\":2,\"ms\":300},"
             "{\"v\":3,\"ms\":100},{\"v\":4,\"ms\":100}]}");
    CHECK_INT(j.res.status, SFN_SUCCEEDED);
    CHECK_INT(rec.n, 5);
    CHECK_INT(rec.max_in_flight, 2); /* two at a time, never more, and really two */
    char *out = json_dumps(j.res.output, JSON_COMPACT);
    CHECK_STR(out, "[{\"r\":\"item\",\"v\":0},{\"r\":\"item\",\"v\":1},{\"r\":\"item\",\"v\":2},"
                   "{\"r\":\"item\",\"v\":3},{\"r\":\"item\",\"v\":4}]");
    free(out);
    job_release(&j);

    map_with(&j, "",
             "{\"items\":[{\"v\":0,\"ms\":200},{\"v\":1,\"ms\":200},{\"v\":2,\"ms\":200}]}");
    CHECK_INT(j.res.status, SFN_SUCCEEDED);
    CHECK_INT(rec.max_in_flight, 3); /* no MaxConcurrency: every item at once */
    job_release(&j);
}

static void test_map_tolerated_failure_keeps_order(void)
{
    struct job j;
    map_with(
        &j, "\"ToleratedFailureCount\":1,",
        "{\"items\":[{\"v\":0,\"ms\":200},{\"v\":1,\"ms\":10,\"fail\":true},{\"v\":2,\"ms\":50}]}");
    CHECK_INT(j.res.status, SFN_SUCCEEDED);
    char *out = json_dumps(j.res.output, JSON_COMPACT);
    CHECK_STR(out, "[{\"r\":\"item\",\"v\":0},{\"Error\":\"Boom\",\"Cause\":\"item 1 failed\"},"
                   "{\"r\":\"item\",\"v\":2}]");
    free(out);
    job_release(&j);

    /* beyond tolerance: the first failure is the state's, and no item starts after it */
    map_with(&j, "\"MaxConcurrency\":1,",
             "{\"items\":[{\"v\":0,\"ms\":10,\"fail\":true},{\"v\":1,\"ms\":10}]}");
    CHECK_INT(j.res.status, SFN_FAILED);
    CHECK_STR(j.res.error, "Boom");
    CHECK_INT(rec.n, 1);
    job_release(&j);
}

static void test_parallel_failure_stops_siblings(void)
{
    struct job j;
    run_def(
        &j,
        "{\"StartAt\":\"P\",\"States\":{\"P\":{\"Type\":\"Parallel\",\"End\":true,\"Branches\":["
        "{\"StartAt\":\"F\",\"States\":{\"F\":{\"Type\":\"Fail\",\"Error\":\"E1\","
        "\"Cause\":\"first\"}}},"
        "{\"StartAt\":\"W\",\"States\":{\"W\":{\"Type\":\"Wait\",\"Seconds\":1,\"Next\":\"T\"},"
        "\"T\":{\"Type\":\"Task\",\"Resource\":\"" FN "late\",\"End\":true}}}]}}}",
        "{\"ms\":1}", 1, 1);
    CHECK_INT(j.res.status, SFN_FAILED);
    CHECK_STR(j.res.error, "E1");
    CHECK_STR(j.res.cause, "first");
    CHECK_INT(rec_find("late"), -1); /* the sibling stopped before its next state */
    job_release(&j);
}

/* A Task whose callback parks longer than its TimeoutSeconds. */
static const char
    *slow_task = "{\"StartAt\":\"T\",\"States\":{\"T\":{\"Type\":\"Task\",\"Resource\":\"" FN
                 "slow\",\"TimeoutSeconds\":1,\"Catch\":[{\"ErrorEquals\":[\"States.Timeout\"],"
                 "\"ResultPath\":\"$.caught\",\"Next\":\"C\"}],\"End\":true},"
                 "\"C\":{\"Type\":\"Pass\",\"End\":true}}}";

static void test_task_timeout_interrupts_a_parked_callback(void)
{
    struct job j;
    interrupt_timeouts = 1;
    run_def(&j, slow_task, "{\"ms\":2500}", 1, 1);
    interrupt_timeouts = 0;
    CHECK_INT(j.res.status, SFN_SUCCEEDED); /* States.Timeout, caught by the Catch */
    CHECK_STR(json_string_value(json_object_get(json_object_get(j.res.output, "caught"), "Error")),
              "States.Timeout");
    CHECK_INT(rec.n, 1);
    CHECK(rec.end[0] > j.returned_at); /* the execution went on while the callback was parked */
    size_t n = json_array_size(j.res.history);
    int timed_out_event = 0;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(json_string_value(json_object_get(json_array_get(j.res.history, i), "type")),
                    "LambdaFunctionTimedOut"))
            timed_out_event = 1;
    CHECK(timed_out_event);
    job_release(&j);

    /* without the option the timeout is found when the callback returns: the same error, later */
    run_def(&j, slow_task, "{\"ms\":1300}", 1, 0);
    CHECK_STR(json_string_value(json_object_get(json_object_get(j.res.output, "caught"), "Error")),
              "States.Timeout");
    CHECK(rec.end[0] <= j.returned_at);
    job_release(&j);

    /* a callback that answers in time is not affected by the option */
    interrupt_timeouts = 1;
    run_def(&j, slow_task, "{\"ms\":10,\"v\":3}", 1, 0);
    interrupt_timeouts = 0;
    char *out = json_dumps(j.res.output, JSON_COMPACT);
    CHECK_STR(out, "{\"r\":\"slow\",\"v\":3}");
    free(out);
    job_release(&j);
}

/* ---- sched_spawn ---- */

static int spawn_key;
struct spawn_probe {
    pthread_t thread;
    void *local;
    int64_t start, end;
    int *left;
    struct sched_event *done;
};

static void spawn_child(void *ud)
{
    struct spawn_probe *p = ud;
    p->thread = pthread_self();
    p->local = sched_local_get(&spawn_key);
    p->start = mono_us();
    sched_sleep_ms(300);
    p->end = mono_us();
    if (--*p->left == 0)
        sched_event_signal(p->done);
}

struct spawn_parent {
    pthread_t thread;
    struct spawn_probe kids[2];
    struct sched_event *finished;
};

static void spawn_parent_task(void *ud)
{
    struct spawn_parent *sp = ud;
    int left = 2;
    struct sched_event *done = sched_event_new();
    sp->thread = pthread_self();
    sched_local_set(&spawn_key, sp);
    for (int i = 0; i < 2; i++) {
        sp->kids[i].left = &left;
        sp->kids[i].done = done;
        CHECK_INT(sched_spawn(spawn_child, &sp->kids[i]), 0);
    }
    sched_event_wait(done, -1);
    sched_event_free(done);
    sched_local_set(&spawn_key, NULL);
    sched_event_signal(sp->finished);
}

static void test_sched_spawn(void)
{
    CHECK_INT(sched_spawn(spawn_child, NULL), -1); /* off a fiber: refused, not run */
    struct err e = {0};
    struct sched *s = sched_start(2, 0, &e);
    struct spawn_parent sp = {.finished = sched_event_new()};
    CHECK(s && sched_submit(s, spawn_parent_task, &sp) == 0);
    CHECK_INT(sched_event_wait(sp.finished, 30000), 1);
    CHECK_INT(sched_stop(s, 30000), 0);
    sched_event_free(sp.finished);
    for (int i = 0; i < 2; i++) {
        CHECK(pthread_equal(sp.kids[i].thread, sp.thread)); /* the parent's own thread */
        CHECK(sp.kids[i].local == &sp);                     /* its task-local slots copied */
    }
    CHECK(sp.kids[1].start < sp.kids[0].end); /* they overlapped, parked side by side */
}

int main(void)
{
    xmalloc_init();
    RUN(test_sched_spawn);
    RUN(test_parallel_overlaps_inside_a_task);
    RUN(test_parallel_sequential_outside_a_task);
    RUN(test_map_respects_max_concurrency);
    RUN(test_map_tolerated_failure_keeps_order);
    RUN(test_parallel_failure_stops_siblings);
    RUN(test_task_timeout_interrupts_a_parked_callback);
    return check_summary();
}
