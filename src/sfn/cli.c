/*
 * cli.c - `parley sfn validate|run`: a local runner for Step Functions definitions, for users and
 * for the CI of Step Functions projects. Exit codes: 0 valid / SUCCEEDED, 1 invalid definition or
 * an execution that FAILED or TIMED_OUT (or an unreadable file), 2 bad usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "base/xmalloc.h"
#include "sfn/sfn.h"
#include "sfn/sfn_cli.h"
#include "sfn/sfn_mock.h"

#define CLI_MAX_FILE (16 * 1024 * 1024)
#define CLI_MAX_REPEAT 100000000L

static const char *usage_text =
    "usage: parley sfn validate DEF.json\n"
    "       parley sfn run DEF.json [--input IN.json] [--mock-config MOCK.json --test-case NAME]\n"
    "                               [--state-machine NAME] [--history] [--repeat N]\n"
    "run prints {\"status\",\"output\",\"error\",\"cause\"} (plus \"history\" with --history and\n"
    "\"executionsPerSecond\" with --repeat); exit 0 only when the execution SUCCEEDED.\n"
    "The state machine's name in the mock file is DEF's file name without \".json\" (and\n"
    "without \".asl\" when that name is absent), unless --state-machine says otherwise.\n";

static int usage(const char *why)
{
    if (why)
        fprintf(stderr, "parley sfn: %s\n", why);
    fputs(usage_text, stderr);
    return 2;
}

/* Reads a whole file (or stdin for "-") into a new NUL-terminated string; NULL with a message
 * on stderr when it cannot, or when it exceeds CLI_MAX_FILE bytes. */
static char *slurp(const char *path)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f) {
        fprintf(stderr, "parley sfn: cannot open '%s': %s\n", path, strerror(errno));
        return NULL;
    }
    struct buf b;
    buf_init(&b, CLI_MAX_FILE + 1); /* one byte over the cap tells "too large" from "exactly" */
    char *text = NULL;
    int ok = 1;
    for (;;) {
        if (b.len > CLI_MAX_FILE) {
            fprintf(stderr, "parley sfn: '%s' is larger than %d bytes\n", path, CLI_MAX_FILE);
            ok = 0;
            break;
        }
        if (buf_reserve(&b, 4096) < 0)
            (void)buf_reserve(&b, 1); /* cannot fail: len <= CLI_MAX_FILE */
        size_t room = b.cap - b.len - 1;
        size_t n = fread(b.data + b.len, 1, room, f);
        buf_commit(&b, n);
        if (n == 0) {
            if (ferror(f)) {
                fprintf(stderr, "parley sfn: cannot read '%s': %s\n", path, strerror(errno));
                ok = 0;
            }
            break;
        }
    }
    if (f != stdin)
        fclose(f);
    if (ok && strlen(buf_str(&b)) != b.len) {
        fprintf(stderr, "parley sfn: '%s' contains a NUL byte\n", path);
        ok = 0;
    }
    if (ok)
        text = buf_take(&b, NULL);
    buf_release(&b);
    return text;
}

static void print_problems(const char *path, const struct sfn_problem_list *pl, FILE *out)
{
    for (size_t i = 0; i < pl->count; i++)
        fprintf(out, "%s:%s: %s\n", path, pl->items[i].where[0] ? pl->items[i].where : "/",
                pl->items[i].message);
}

static int cmd_validate(int argc, char **argv)
{
    if (argc != 3)
        return usage("validate takes exactly one definition file");
    char *text = slurp(argv[2]);
    if (!text)
        return 1;
    struct sfn_problem_list pl;
    sfn_problem_list_init(&pl);
    struct err e = {0};
    struct sfn_machine *m = sfn_machine_parse_ex(text, &pl, &e);
    int rc = m ? 0 : 1;
    if (m)
        printf("%s: valid\n", argv[2]);
    else {
        printf("%s: %zu problem%s\n", argv[2], pl.count, pl.count == 1 ? "" : "s");
        print_problems(argv[2], &pl, stdout);
    }
    sfn_machine_free(m);
    sfn_problem_list_release(&pl);
    free(text);
    return rc;
}

static char *machine_name_from(const char *path)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    char *n = xstrdup(b);
    size_t l = strlen(n);
    if (l > 5 && !strcmp(n + l - 5, ".json"))
        n[l - 5] = '\0';
    return n;
}

struct run_args {
    const char *def, *input, *mock, *test_case, *sm;
    int history;
    long repeat;
};

/* Reads run's options into *a. Returns 0, or the exit code of the usage message it printed. */
static int run_args_parse(int argc, char **argv, struct run_args *a)
{
    for (int i = 2; i < argc; i++) {
        const char *o = argv[i];
        const char **slot = !strcmp(o, "--input")           ? &a->input
                            : !strcmp(o, "--mock-config")   ? &a->mock
                            : !strcmp(o, "--test-case")     ? &a->test_case
                            : !strcmp(o, "--state-machine") ? &a->sm
                                                            : NULL;
        if (slot) {
            if (i + 1 >= argc)
                return usage("an option is missing its value");
            *slot = argv[++i];
        } else if (!strcmp(o, "--history")) {
            a->history = 1;
        } else if (!strcmp(o, "--repeat")) {
            if (i + 1 >= argc)
                return usage("--repeat needs a count");
            char *end;
            errno = 0;
            a->repeat = strtol(argv[++i], &end, 10);
            if (*end || errno || a->repeat < 1 || a->repeat > CLI_MAX_REPEAT)
                return usage("--repeat needs an integer from 1 to 100000000");
        } else if (o[0] == '-' && o[1]) {
            fprintf(stderr, "parley sfn: unknown option '%s'\n", o);
            return usage(NULL);
        } else if (!a->def) {
            a->def = o;
        } else {
            return usage("run takes one definition file");
        }
    }
    if (!a->def)
        return usage("run needs a definition file");
    if (!a->mock != !a->test_case)
        return usage("--mock-config and --test-case go together");
    return 0;
}

static int cmd_run(int argc, char **argv)
{
    struct run_args a = {0};
    int code = run_args_parse(argc, argv, &a);
    if (code)
        return code;
    int rc = 1;
    char *text = NULL, *in_text = NULL, *mock_text = NULL, *sm = NULL;
    struct sfn_machine *m = NULL;
    struct sfn_mock *mock = NULL;
    json_t *input = NULL;
    struct sfn_problem_list pl;
    sfn_problem_list_init(&pl);
    struct err e = {0};
    if (!(text = slurp(a.def)))
        goto out;
    if (!(m = sfn_machine_parse_ex(text, &pl, &e))) {
        fprintf(stderr, "%s: %zu problem%s\n", a.def, pl.count, pl.count == 1 ? "" : "s");
        print_problems(a.def, &pl, stderr);
        goto out;
    }
    if (a.input) {
        json_error_t je;
        if (!(in_text = slurp(a.input)))
            goto out;
        if (!(input = json_loads(in_text, JSON_DECODE_ANY, &je))) {
            fprintf(stderr, "parley sfn: '%s' is not valid JSON: %s (line %d, column %d)\n",
                    a.input, je.text, je.line, je.column);
            goto out;
        }
    } else {
        input = json_object();
    }
    sm = a.sm ? xstrdup(a.sm) : machine_name_from(a.def);
    const struct sfn_mock_case *mc = NULL;
    if (a.mock) {
        if (!(mock_text = slurp(a.mock)))
            goto out;
        if (!(mock = sfn_mock_parse(mock_text, &e))) {
            fprintf(stderr, "parley sfn: '%s': %s\n", a.mock, e.message);
            goto out;
        }
        mc = sfn_mock_find(mock, sm, a.test_case, &e);
        size_t l = strlen(sm);
        if (!mc && !a.sm && l > 4 && !strcmp(sm + l - 4, ".asl")) {
            sm[l - 4] = '\0';
            mc = sfn_mock_find(mock, sm, a.test_case, &e);
        }
        if (!mc) {
            fprintf(stderr, "parley sfn: '%s': %s\n", a.mock, e.message);
            goto out;
        }
    }
    struct sfn_run_opts o = {.virtual_clock = 1,
                             .want_history = a.history,
                             .state_machine_name = sm,
                             .mock = mc};
    struct sfn_result r = {0};
    long n = a.repeat ? a.repeat : 1;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long i = 0; i < n; i++) {
        sfn_result_release(&r);
        sfn_run(m, input, &o, &r);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    json_t *j = sfn_result_to_json(&r);
    if (a.repeat) {
        double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        json_object_set_new(j, "executionsPerSecond", json_real(secs > 0 ? (double)n / secs : 0.0));
    }
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    puts(s);
    free(s);
    json_decref(j);
    rc = r.status == SFN_SUCCEEDED ? 0 : 1;
    sfn_result_release(&r);
out:
    sfn_problem_list_release(&pl);
    sfn_machine_free(m);
    sfn_mock_free(mock);
    if (input)
        json_decref(input);
    free(text);
    free(in_text);
    free(mock_text);
    free(sm);
    return rc;
}

int sfn_cli_main(int argc, char **argv)
{
    if (argc < 2)
        return usage("missing command");
    if (!strcmp(argv[1], "validate"))
        return cmd_validate(argc, argv);
    if (!strcmp(argv[1], "run"))
        return cmd_run(argc, argv);
    if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(usage_text, stdout);
        return 0;
    }
    fprintf(stderr, "parley sfn: unknown command '%s'\n", argv[1]);
    return usage(NULL);
}
