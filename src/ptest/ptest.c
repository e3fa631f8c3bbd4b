/*
 * ptest.c - `parley test`: finds scenario files, runs each K times (a fresh session per trial) on
 * a target (the app in-process on a throwaway data directory, or a server over HTTP), and reports
 * per scenario trials passed/K with the first failing turn, pass^1 and pass^k, JUnit and JSON.
 */
#include "ptest/ptest.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/config.h"
#include "base/jsontext.h"
#include "base/log.h"
#include "base/rand.h"
#include "http/client.h"
#include "model/model_record.h"
#include "ptest/ptest_int.h"
#include "ptest/scenario.h"
#include "runtime/app.h"

#define REPLY_EXCERPT 300 /* bytes of a reply shown in a failure */

struct options {
    int trials;         /* --trials */
    int jobs;           /* --jobs */
    const char *junit;  /* --junit FILE */
    const char *json;   /* --json FILE */
    const char *record; /* --record DIR */
    const char *replay; /* --replay DIR */
    const char *url;    /* --url URL */
    const char *agent;  /* --agent FILE */
    const char *model;  /* --model NAME (replay) */
    const char **paths; /* scenario paths */
    int npaths;
};

/* ------------------------------------------------------------------------------------------------
 * One trial
 * --------------------------------------------------------------------------------------------- */

struct session {
    const char *label; /* "main" or a declared label */
    char *user;        /* userId after {{var}} substitution (owned), or NULL */
    char sid[80];      /* issued on the first answered turn */
    int turns;         /* turns answered so far */
};

/* The first failure of a scenario, kept for the report. */
struct failure {
    int trial;   /* 1-based */
    int turn;    /* 1-based; 0 = effects or setup */
    char *user;  /* the customer's message of that turn (owned) */
    char *why;   /* what was expected and did not hold (owned) */
    json_t *got; /* the response of that turn (owned), or NULL */
    long http;   /* its HTTP status */
};

struct result {
    const char *file;    /* borrowed from the run */
    const json_t *sc;    /* the scenario (borrowed) */
    int passed;          /* trials passed */
    int ran;             /* trials run */
    double seconds;      /* wall time of all trials */
    struct failure fail; /* the first failing trial, when any */
};

static struct session *find_session(struct session *s, int n, const char *label)
{
    for (int i = 0; i < n; i++)
        if (strcmp(s[i].label, label) == 0)
            return &s[i];
    return NULL;
}

static int by_id(const void *a, const void *b)
{
    const char *x = json_string_value(json_object_get(*(json_t *const *)a, "id"));
    const char *y = json_string_value(json_object_get(*(json_t *const *)b, "id"));
    return strcmp(x ? x : "", y ? y : "");
}

/* Tickets created from the trial's sessions, oldest first (new array). */
static json_t *trial_tickets(struct ptest_target *t, struct session *s, int n)
{
    json_t *all = ptest__target_tickets(t);
    json_t *mine = json_array();
    json_t **items = calloc(json_array_size(all) + 1, sizeof *items);
    size_t i, k = 0;
    json_t *tk;
    json_array_foreach(all, i, tk) {
        const char *sid = json_string_value(json_object_get(tk, "sessionId"));
        for (int j = 0; sid && j < n; j++)
            if (s[j].sid[0] && strcmp(s[j].sid, sid) == 0) {
                items[k++] = tk;
                break;
            }
    }
    qsort(items, k, sizeof *items, by_id);
    for (i = 0; i < k; i++)
        json_array_append(mine, items[i]);
    free(items);
    json_decref(all);
    return mine;
}

static void set_failure(struct failure *f, int trial, int turn, const char *user, const char *why,
                        json_t *got, long http)
{
    f->trial = trial;
    f->turn = turn;
    f->user = strdup(user ? user : "");
    f->why = strdup(why ? why : "");
    f->got = got ? json_incref(got) : NULL;
    f->http = http;
}

/* Runs one trial. Returns 1 passed, 0 failed (filling *f when f is not NULL). */
static int run_trial(struct ptest_target *t, const json_t *sc, int trial, struct failure *f)
{
    struct session s[SCENARIO_SESSIONS_MAX];
    int n = 0, passed = 1;
    json_t *vars = json_object();
    /* {{trial_id}}: unique to this trial, so a scenario can give each trial its own customer */
    char rid[23] = "";
    if (rand_id128(rid) < 0)
        snprintf(rid, sizeof rid, "%lld", (long long)clock_now_ms());
    char tid[40];
    snprintf(tid, sizeof tid, "%.12s%d", rid, trial);
    json_object_set_new(vars, "trial_id", json_string(tid));
    const char *user = json_string_value(json_object_get(sc, "user"));
    s[n++] = (struct session){.label = "main",
                              .user = user ? scenario_subst(user, vars, NULL) : NULL};
    const char *label;
    json_t *decl;
    json_object_foreach(json_object_get(sc, "sessions"), label, decl) {
        user = json_string_value(json_object_get(decl, "user"));
        s[n++] = (struct session){.label = label,
                                  .user = user ? scenario_subst(user, vars, NULL) : NULL};
    }
    size_t i;
    json_t *turn;
    json_array_foreach(json_object_get(sc, "turns"), i, turn) {
        const char *sl = json_string_value(json_object_get(turn, "session"));
        struct session *ss = find_session(s, n, sl ? sl : "main");
        char *why = NULL;
        size_t why_len = 0;
        FILE *w = open_memstream(&why, &why_len);
        char *text = scenario_subst(json_string_value(json_object_get(turn, "user")), vars, w);
        json_t *resp = NULL;
        long http = 0;
        int ok = 0;
        if (text) {
            json_t *body = json_pack("{s:s}", "message", text);
            if (ss->sid[0])
                json_object_set_new(body, "sessionId", json_string(ss->sid));
            if (ss->user)
                json_object_set_new(body, "userId", json_string(ss->user));
            char *raw = jsontext_dump(body);
            json_decref(body);
            char missed[ERR_MSG_MAX];
            model_record_take_miss(missed, sizeof missed); /* forget an earlier trial's */
            resp = ptest__target_chat(t, raw, &http);
            free(raw);
            ok = scenario_judge_turn(json_object_get(turn, "expect"), http, resp, vars,
                                     ss->turns + 1, ss->sid, w);
            if (!t->http && model_record_take_miss(missed, sizeof missed)) {
                fprintf(w, "no model call may miss the recording (--replay): %s\n", missed);
                ok = 0;
            }
            if (http == 200) {
                if (!ss->sid[0])
                    snprintf(ss->sid, sizeof ss->sid, "%s",
                             json_string_value(json_object_get(resp, "sessionId")) ?: "");
                ss->turns++;
            }
        }
        fclose(w);
        if (!ok && f)
            set_failure(f, trial, (int)i + 1,
                        text ? text : json_string_value(json_object_get(turn, "user")), why, resp,
                        http);
        free(why);
        free(text);
        json_decref(resp);
        if (!ok) {
            passed = 0;
            goto out; /* later turns depend on this one */
        }
    }
    const json_t *effects = json_object_get(sc, "effects");
    if (effects) {
        json_t *tickets = trial_tickets(t, s, n);
        json_t *doc = s[0].sid[0] ? ptest__target_session(t, s[0].sid, s[0].user) : NULL;
        char *why = NULL;
        size_t why_len = 0;
        FILE *w = open_memstream(&why, &why_len);
        passed = scenario_judge_effects(effects, tickets, doc, vars, w);
        fclose(w);
        if (!passed && f)
            set_failure(f, trial, 0, "(effects after the last turn)", why, doc, 200);
        free(why);
        json_decref(doc);
        json_decref(tickets);
    }
out:
    for (int k = 0; k < n; k++)
        free(s[k].user);
    json_decref(vars);
    return passed;
}

/* ------------------------------------------------------------------------------------------------
 * The run: scenarios over jobs, progress
 * --------------------------------------------------------------------------------------------- */

struct run {
    struct ptest_target *target;
    const struct options *o;
    struct result *results;
    size_t n;
    size_t next;        /* next scenario to take */
    size_t done;        /* scenarios finished */
    int tty;            /* stdout is a terminal: draw a progress line */
    pthread_mutex_t mu; /* guards next, done and stdout */
};

static void progress(struct run *r, size_t i, int trial)
{
    if (!r->tty)
        return;
    pthread_mutex_lock(&r->mu);
    printf("\r\033[K[%zu/%zu] %s, trial %d/%d", r->done + 1, r->n,
           json_string_value(json_object_get(r->results[i].sc, "name")), trial, r->o->trials);
    fflush(stdout);
    pthread_mutex_unlock(&r->mu);
}

static void *run_jobs(void *arg)
{
    struct run *r = arg;
    for (;;) {
        pthread_mutex_lock(&r->mu);
        size_t i = r->next < r->n ? r->next++ : r->n;
        pthread_mutex_unlock(&r->mu);
        if (i == r->n)
            break;
        struct result *res = &r->results[i];
        long long start = clock_now_ms();
        for (int k = 1; k <= r->o->trials; k++) {
            progress(r, i, k);
            int first_fail = res->passed == res->ran; /* no failure kept yet */
            res->passed += run_trial(r->target, res->sc, k, first_fail ? &res->fail : NULL);
            res->ran++;
        }
        res->seconds = (double)(clock_now_ms() - start) / 1000.0;
        pthread_mutex_lock(&r->mu);
        r->done++;
        if (r->tty)
            printf("\r\033[K");
        printf("%s %s (%d/%d trials) %s\n", res->passed == res->ran ? "PASS" : "FAIL",
               json_string_value(json_object_get(res->sc, "name")), res->passed, res->ran,
               res->file);
        fflush(stdout);
        pthread_mutex_unlock(&r->mu);
    }
    return NULL;
}

/* ------------------------------------------------------------------------------------------------
 * Reports
 * --------------------------------------------------------------------------------------------- */

/* The failing turn as text: what was expected, then what came back. */
static void describe_failure(FILE *out, const struct result *res, const char *indent)
{
    const struct failure *f = &res->fail;
    if (f->turn > 0)
        fprintf(out, "%strial %d/%d failed at turn %d, customer says \"%s\":\n", indent, f->trial,
                res->ran, f->turn, f->user);
    else
        fprintf(out, "%strial %d/%d failed %s:\n", indent, f->trial, res->ran, f->user);
    const char *line = f->why;
    while (line && *line) {
        const char *nl = strchr(line, '\n');
        int len = nl ? (int)(nl - line) : (int)strlen(line);
        fprintf(out, "%s  - %.*s\n", indent, len, line);
        line = nl ? nl + 1 : NULL;
    }
    if (f->turn == 0 || !f->got)
        return;
    const char *reply = json_string_value(json_object_get(f->got, "reply"));
    fprintf(out, "%s  got: HTTP %ld", indent, f->http);
    if (json_string_value(json_object_get(f->got, "status")))
        fprintf(out, ", status %s", json_string_value(json_object_get(f->got, "status")));
    if (reply) {
        fprintf(out, ", reply \"%.*s%s\"\n", REPLY_EXCERPT, reply,
                strlen(reply) > REPLY_EXCERPT ? "..." : "");
    } else if (json_object_get(f->got, "error")) {
        const json_t *e = json_object_get(f->got, "error");
        fprintf(out, ", error %s: %s\n", json_string_value(json_object_get(e, "code")) ?: "?",
                json_string_value(json_object_get(e, "message")) ?: "?");
    } else {
        char *body = jsontext_dump(f->got);
        fprintf(out, ", body %.*s\n", REPLY_EXCERPT, body ? body : "");
        free(body);
    }
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(f->got, "actions"), i, a) {
        char *in = jsontext_dump(json_object_get(a, "input"));
        fprintf(out, "%s  action: %s (%s) input %.200s\n", indent,
                json_string_value(json_object_get(a, "tool")),
                json_string_value(json_object_get(a, "status")), in ? in : "{}");
        free(in);
    }
    if (reply && json_array_size(json_object_get(f->got, "actions")) == 0)
        fprintf(out, "%s  actions: none\n", indent);
}

static char *failure_text(const struct result *res)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    describe_failure(f, res, "");
    fclose(f);
    return text;
}

/* Writes s escaped for XML text and attributes; drops characters XML 1.0 forbids. */
static void xml_escape(FILE *f, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '&':
            fputs("&amp;", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        case '\'':
            fputs("&apos;", f);
            break;
        default:
            if (*p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r')
                fputc('?', f);
            else
                fputc(*p, f);
        }
    }
}

static int write_junit(const char *path, const struct run *r, int failed, double seconds)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites tests=\"%zu\" "
            "failures=\"%d\" time=\"%.3f\">\n  <testsuite name=\"parley test\" tests=\"%zu\" "
            "failures=\"%d\" errors=\"0\" time=\"%.3f\">\n",
            r->n, failed, seconds, r->n, failed, seconds);
    for (size_t i = 0; i < r->n; i++) {
        const struct result *res = &r->results[i];
        fputs("    <testcase name=\"", f);
        xml_escape(f, json_string_value(json_object_get(res->sc, "name")));
        fputs("\" classname=\"", f);
        xml_escape(f, res->file);
        fprintf(f, "\" time=\"%.3f\">", res->seconds);
        if (res->passed != res->ran) {
            char head[200];
            snprintf(head, sizeof head, "%d/%d trials passed; trial %d failed at turn %d",
                     res->passed, res->ran, res->fail.trial, res->fail.turn);
            char *text = failure_text(res);
            fputs("\n      <failure message=\"", f);
            xml_escape(f, head);
            fputs("\" type=\"ScenarioFailed\">", f);
            xml_escape(f, text ? text : "");
            fputs("</failure>\n    ", f);
            free(text);
        }
        fputs("</testcase>\n", f);
    }
    fputs("  </testsuite>\n</testsuites>\n", f);
    return fclose(f) == 0 ? 0 : -1;
}

static int write_json(const char *path, const struct run *r, int failed, int trials_passed,
                      int trials, double seconds)
{
    json_t *list = json_array();
    for (size_t i = 0; i < r->n; i++) {
        const struct result *res = &r->results[i];
        json_t *one = json_pack("{s:O, s:s, s:i, s:i, s:b, s:f}", "name",
                                json_object_get(res->sc, "name"), "file", res->file, "trials",
                                res->ran, "trialsPassed", res->passed, "passed",
                                res->passed == res->ran, "seconds", res->seconds);
        if (res->passed != res->ran) {
            char *text = failure_text(res);
            json_object_set_new(one, "failure",
                                json_pack("{s:i, s:i, s:s, s:s, s:s, s:O?}", "trial",
                                          res->fail.trial, "turn", res->fail.turn, "user",
                                          res->fail.user, "expected", res->fail.why, "report",
                                          text ? text : "", "got", res->fail.got));
            free(text);
        }
        json_array_append_new(list, one);
    }
    double pass1 = trials ? (double)trials_passed / trials : 0;
    double passk = r->n ? (double)(r->n - (size_t)failed) / (double)r->n : 0;
    json_t *doc = json_pack("{s:{s:i, s:i, s:i, s:i, s:i, s:i, s:f, s:f, s:f}, s:o}", "summary",
                            "scenarios", (int)r->n, "passed", (int)r->n - failed, "failed", failed,
                            "k", r->o->trials, "trials", trials, "trialsPassed", trials_passed,
                            "pass1", pass1, "passK", passk, "seconds", seconds, "scenarios", list);
    int rc = json_dump_file(doc, path, JSON_INDENT(2)) == 0 ? 0 : -1;
    json_decref(doc);
    return rc;
}

/* ------------------------------------------------------------------------------------------------
 * Finding scenario files
 * --------------------------------------------------------------------------------------------- */

static int scenario_name(const char *name)
{
    size_t n = strlen(name);
    return (n > 5 && strcmp(name + n - 5, ".json") == 0) ||
           (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
           (n > 4 && strcmp(name + n - 4, ".yml") == 0);
}

static int collect(const char *path, int depth, json_t *files, struct err *err)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return err_set(err, "NotFound", "cannot read '%s': %s", path, strerror(errno));
    if (!S_ISDIR(st.st_mode)) {
        if (json_array_size(files) >= PTEST_FILES_MAX)
            return err_set(err, "InvalidScenario", "more than %d scenario files", PTEST_FILES_MAX);
        json_array_append_new(files, json_string(path));
        return 0;
    }
    if (depth > PTEST_DEPTH_MAX)
        return err_set(err, "InvalidScenario", "'%s' is nested deeper than %d directories", path,
                       PTEST_DEPTH_MAX);
    struct dirent **names = NULL;
    int n = scandir(path, &names, NULL, alphasort);
    if (n < 0)
        return err_set(err, "NotFound", "cannot read '%s': %s", path, strerror(errno));
    int rc = 0;
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        char sub[2048];
        snprintf(sub, sizeof sub, "%s/%s", path, name);
        struct stat cs;
        if (rc == 0 && name[0] != '.' && stat(sub, &cs) == 0 &&
            (S_ISDIR(cs.st_mode) || scenario_name(name)))
            rc = collect(sub, depth + 1, files, err);
        free(names[i]);
    }
    free(names);
    return rc;
}

/* ------------------------------------------------------------------------------------------------
 * The command
 * --------------------------------------------------------------------------------------------- */

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: parley test [PATH...] [--trials K] [--jobs N] [--junit FILE] [--json FILE]\n"
        "                   [--record DIR | --replay DIR] [--url URL] [--agent FILE]\n\n"
        "Runs conversation scenarios (JSON or YAML files; directories are searched for *.json,\n"
        "*.yaml, *.yml; default tests/conversations) against the configured agent and model,\n"
        "in-process on a throwaway data directory, or against a running server (--url).\n"
        "Each scenario runs K trials (default 1) in fresh sessions and passes only when every\n"
        "trial passes (pass^k). Exit 0: all passed; 1: some failed; 2: usage or file error.\n\n"
        "  --trials K      trials per scenario (1..%d)\n"
        "  --jobs N        scenarios run in parallel (1..%d, default 1)\n"
        "  --junit FILE    write JUnit XML (one testcase per scenario)\n"
        "  --json FILE     write the full result as JSON\n"
        "  --record DIR    save every model request/response pair to DIR\n"
        "  --replay DIR    answer every model call from DIR (a miss fails the turn)\n"
        "  --url URL       run against a running `parley serve`\n"
        "  --agent FILE    the agent file (PARLEY_AGENT)\n"
        "See docs/testing-your-agent.md.\n",
        PTEST_TRIALS_MAX, PTEST_JOBS_MAX);
}

static int int_arg(const char *s, int lo, int hi, int *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || !end || *end || end == s || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

/* Parses argv into o. Returns 0, 1 for --help, or -1 (message printed). */
static int parse_args(int argc, char **argv, struct options *o)
{
    o->trials = 1;
    o->jobs = 1;
    o->paths = calloc((size_t)argc + 1, sizeof *o->paths);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            return 1;
        if (a[0] != '-' || strcmp(a, "-") == 0) {
            o->paths[o->npaths++] = a;
            continue;
        }
        if (!v) {
            fprintf(stderr, "parley test: %s needs a value\n", a);
            return -1;
        }
        i++;
        if (strcmp(a, "--trials") == 0) {
            if (int_arg(v, 1, PTEST_TRIALS_MAX, &o->trials) < 0) {
                fprintf(stderr, "parley test: --trials must be 1..%d (got '%s')\n",
                        PTEST_TRIALS_MAX, v);
                return -1;
            }
        } else if (strcmp(a, "--jobs") == 0) {
            if (int_arg(v, 1, PTEST_JOBS_MAX, &o->jobs) < 0) {
                fprintf(stderr, "parley test: --jobs must be 1..%d (got '%s')\n", PTEST_JOBS_MAX,
                        v);
                return -1;
            }
        } else if (strcmp(a, "--junit") == 0) {
            o->junit = v;
        } else if (strcmp(a, "--json") == 0) {
            o->json = v;
        } else if (strcmp(a, "--record") == 0) {
            o->record = v;
        } else if (strcmp(a, "--replay") == 0) {
            o->replay = v;
        } else if (strcmp(a, "--url") == 0) {
            o->url = v;
        } else if (strcmp(a, "--agent") == 0) {
            o->agent = v;
        } else {
            fprintf(stderr, "parley test: unknown option '%s'\n", a);
            return -1;
        }
    }
    if (o->record && o->replay) {
        fprintf(stderr, "parley test: --record and --replay exclude each other\n");
        return -1;
    }
    if (o->url && (o->record || o->replay)) {
        fprintf(stderr, "parley test: with --url the server records or replays "
                        "(PARLEY_MODEL_RECORD / PARLEY_MODEL_REPLAY), not the runner\n");
        return -1;
    }
    if (o->url && o->agent) {
        fprintf(stderr, "parley test: with --url the server's own agent file answers "
                        "(PARLEY_AGENT of the server), not --agent\n");
        return -1;
    }
    if (o->url && strncmp(o->url, "http://", 7) != 0 && strncmp(o->url, "https://", 8) != 0) {
        fprintf(stderr, "parley test: --url must start with http:// or https://\n");
        return -1;
    }
    if (o->npaths == 0)
        o->paths[o->npaths++] = "tests/conversations";
    return 0;
}

/* Loads every scenario of o's paths into files/scenarios. Returns 0 or -1 (printed). */
static int load_all(const struct options *o, json_t *files, json_t *scenarios)
{
    struct err e;
    err_clear(&e);
    for (int i = 0; i < o->npaths; i++)
        if (collect(o->paths[i], 0, files, &e) < 0) {
            fprintf(stderr, "parley test: %s\n", e.message);
            return -1;
        }
    if (json_array_size(files) == 0) {
        fprintf(stderr, "parley test: no scenario files found\n");
        return -1;
    }
    size_t i;
    json_t *f;
    json_array_foreach(files, i, f) {
        json_t *sc = scenario_load(json_string_value(f), &e);
        if (!sc) {
            fprintf(stderr, "parley test: %s\n", e.message);
            return -1;
        }
        const char *name = json_string_value(json_object_get(sc, "name"));
        for (size_t k = 0; k < i; k++) {
            json_t *other = json_array_get(scenarios, k);
            if (strcmp(name, json_string_value(json_object_get(other, "name"))) == 0) {
                fprintf(stderr,
                        "parley test: %s: $.name: scenario name \"%s\" is also used by "
                        "%s\n",
                        json_string_value(f), name, json_string_value(json_array_get(files, k)));
                json_decref(sc);
                return -1;
            }
        }
        json_array_append_new(scenarios, sc);
    }
    return 0;
}

int ptest_main(int argc, char **argv)
{
    int rc = 2;
    struct options o = {0};
    struct ptest_target t;
    int target_ready = 0;
    struct run r = {0};
    pthread_t *threads = NULL;
    json_t *files = json_array(), *scenarios = json_array();
    struct err e;
    err_clear(&e);
    memset(&t, 0, sizeof t);
    int parsed = parse_args(argc, argv, &o);
    if (parsed != 0) {
        usage(parsed > 0 ? stdout : stderr);
        rc = parsed > 0 ? 0 : 2;
        goto out;
    }
    if (load_all(&o, files, scenarios) < 0)
        goto out;
    struct ptest_target_opts topts = {.url = o.url,
                                      .agent = o.agent,
                                      .record = o.record,
                                      .replay = o.replay};
    if (ptest__target_open(&t, &topts, &e) < 0) {
        fprintf(stderr, "parley test: %s\n", e.message);
        target_ready = 1; /* release what opened */
        goto out;
    }
    target_ready = 1;
    r.target = &t;
    r.o = &o;
    r.n = json_array_size(scenarios);
    r.results = calloc(r.n, sizeof *r.results);
    r.tty = isatty(STDOUT_FILENO);
    pthread_mutex_init(&r.mu, NULL);
    for (size_t i = 0; i < r.n; i++) {
        r.results[i].file = json_string_value(json_array_get(files, i));
        r.results[i].sc = json_array_get(scenarios, i);
    }
    long long start = clock_now_ms();
    int jobs = o.jobs < (int)r.n ? o.jobs : (int)r.n;
    threads = calloc((size_t)jobs, sizeof *threads);
    int started = 0;
    for (int i = 1; i < jobs; i++)
        started += pthread_create(&threads[i], NULL, run_jobs, &r) == 0;
    run_jobs(&r);
    for (int i = 1; i <= started; i++)
        pthread_join(threads[i], NULL);
    double seconds = (double)(clock_now_ms() - start) / 1000.0;

    int failed = 0, trials = 0, trials_passed = 0;
    for (size_t i = 0; i < r.n; i++) {
        const struct result *res = &r.results[i];
        trials += res->ran;
        trials_passed += res->passed;
        if (res->passed != res->ran) {
            if (failed == 0)
                printf("\nFailures:\n");
            failed++;
            printf("%s (%s): %d/%d trials passed\n",
                   json_string_value(json_object_get(res->sc, "name")), res->file, res->passed,
                   res->ran);
            describe_failure(stdout, res, "  ");
        }
    }
    printf("\npass^1 = %.3f (%d/%d trials)  pass^%d = %.3f (%zu/%zu scenarios)  %.1fs\n",
           trials ? (double)trials_passed / trials : 0.0, trials_passed, trials, o.trials,
           r.n ? (double)(r.n - (size_t)failed) / (double)r.n : 0.0, r.n - (size_t)failed, r.n,
           seconds);
    printf("%zu passed, %d failed\n", r.n - (size_t)failed, failed);
    fflush(stdout);
    rc = failed ? 1 : 0;
    if (o.junit && write_junit(o.junit, &r, failed, seconds) < 0) {
        fprintf(stderr, "parley test: cannot write '%s': %s\n", o.junit, strerror(errno));
        rc = 2;
    }
    if (o.json && write_json(o.json, &r, failed, trials_passed, trials, seconds) < 0) {
        fprintf(stderr, "parley test: cannot write '%s'\n", o.json);
        rc = 2;
    }
out:
    if (target_ready)
        ptest__target_close(&t);
    else
        config_release(&t.cfg);
    for (size_t i = 0; r.results && i < r.n; i++) {
        free(r.results[i].fail.user);
        free(r.results[i].fail.why);
        json_decref(r.results[i].fail.got);
    }
    if (r.results)
        pthread_mutex_destroy(&r.mu);
    free(r.results);
    free(threads);
    free(o.paths);
    json_decref(files);
    json_decref(scenarios);
    return rc;
}
