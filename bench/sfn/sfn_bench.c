/*
 * sfn_bench.c - executions per second of Parley's ASL engine on one definition, with the mocked
 * Lambda functions of bench/sfn/mocks.json (fixed results; "Work" returns its event) resolved
 * through the real in-process resolver (sfn_lambda_task).
 * usage: sfn_bench DEF.json INPUT.json MOCKS.json SECONDS
 * Prints one JSON line: {"engine":"parley","definition":...,"executions":N,"executionsPerSecond":R}.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/xmalloc.h"
#include "sfn/sfn.h"
#include "sfn/sfn_lambda.h"

static json_t *fixed(void *ud, json_t *event, struct err *err)
{
    (void)event, (void)err;
    return json_incref((json_t *)ud);
}

static json_t *echo(void *ud, json_t *event, struct err *err)
{
    (void)ud, (void)err;
    return json_incref(event);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: sfn_bench DEF.json INPUT.json MOCKS.json SECONDS\n");
        return 2;
    }
    xmalloc_init();
    json_error_t je;
    json_t *def = json_load_file(argv[1], 0, &je), *in = json_load_file(argv[2], 0, &je);
    json_t *mocks = json_load_file(argv[3], 0, &je);
    if (!def || !in || !mocks) {
        fprintf(stderr, "sfn_bench: cannot load JSON: %s\n", je.text);
        return 1;
    }
    char *text = json_dumps(def, 0);
    struct err e = {0};
    struct sfn_machine *m = sfn_machine_parse(text, &e);
    if (!m) {
        fprintf(stderr, "sfn_bench: %s\n", e.message);
        return 1;
    }
    struct sfn_lambda_handler hs[8];
    size_t n = 0;
    const char *k;
    json_t *v;
    json_object_foreach(mocks, k, v) {
        if (json_is_object(v) && n < 7)
            hs[n++] = (struct sfn_lambda_handler){k, fixed, v};
    }
    hs[n++] = (struct sfn_lambda_handler){"Work", echo, NULL};
    struct sfn_lambda_table table = {hs, n};
    struct sfn_run_opts o = {.task = sfn_lambda_task, .task_ud = &table, .virtual_clock = 1};
    double secs = atof(argv[4]), t0 = now_s(), t;
    long count = 0;
    const char *status = "SUCCEEDED";
    do {
        for (int i = 0; i < 16; i++) {
            struct sfn_result r;
            sfn_run(m, in, &o, &r);
            if (r.status != SFN_SUCCEEDED)
                status = sfn_status_name(r.status);
            sfn_result_release(&r);
            count++;
        }
        t = now_s() - t0;
    } while (t < secs);
    printf("{\"engine\":\"parley\",\"definition\":\"%s\",\"status\":\"%s\",\"executions\":%ld,"
           "\"executionsPerSecond\":%.1f}\n",
           argv[1], status, count, (double)count / t);
    sfn_machine_free(m);
    free(text);
    json_decref(def);
    json_decref(in);
    json_decref(mocks);
    return strcmp(status, "SUCCEEDED") ? 1 : 0;
}
