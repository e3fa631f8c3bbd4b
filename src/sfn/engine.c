/*
 * engine.c - interpret a compiled machine for one execution.
 *
 * Lifecycle of an execution (struct exec): created by sfn_run() on the caller's stack, it holds
 * the clock, the random state, the mock invocation counters and the history for exactly one
 * execution, and is released before sfn_run() returns. The machine is only read, and JSON values
 * reachable from the machine or from the caller's input are never modified (copy on write), so any
 * number of executions may run the same machine on different threads.
 *
 * Every state runs as: Entered event -> InputPath -> Parameters -> work -> ResultSelector ->
 * ResultPath -> OutputPath -> Exited event. Failures travel as a (error, cause) pair of heap
 * strings; Task, Parallel and Map states pass them through Retry and then Catch.
 */
#include <assert.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/jsontext.h"
#include "base/sched.h"
#include "base/xmalloc.h"
#include "sfn/sfn_int.h"

struct fail {
    char *error; /* heap; NULL when the error has no name (a Fail state without Error) */
    char *cause; /* heap or NULL */
    long at_id;  /* the "(entered at the event id #N)" the cause names; 0: none */
};

struct mock_count {
    const struct sfn__state *state;
    long n;
};

struct exec {
    struct exec *root; /* the execution's own exec; a branch running concurrently (on its own
                        * fiber) has a copy whose root points here: event ids, transitions, the
                        * mock counters and the timeout are the execution's, shared by all */
    const struct sfn_machine *m;
    const struct sfn_run_opts *o;
    size_t limit;
    long max_transitions, transitions;
    int64_t vclock, start_ms, deadline_ms;
    struct rand_seeded rng; /* MathRandom, UUID and jitter: repeatable under o->seed */
    json_t *input;
    json_t *history;
    long last_id;    /* id of the last history event, counted whether or not the history is kept */
    long prev_id;    /* previousEventId of the next event: the event before it on the same branch */
    long entered_id; /* id of the Entered event of the state running now (0: none yet) */
    json_t *ctx_exec, *ctx_sm; /* shared parts of the context object, built once */
    struct mock_count *mc;
    size_t nmc;
    json_t *sized; /* last value measured within the limit (a reference held, so its address
                    * cannot be reused by another value while it is remembered) */
    struct sfn__size_memo sizes; /* large containers measured (the history a state carries) */
    int timed_out;
    const int *stop;   /* a concurrent branch: set when a sibling failed, so it ends early */
    long last_retries; /* Retry attempts of the state that ran last (for on_state) */
};

/* ------------------------------------------------------------------------------------------ */
/* failures, clock, history                                                                   */

static int failf(struct fail *f, const char *error, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int failf(struct fail *f, const char *error, const char *fmt, ...)
{
    free(f->error);
    free(f->cause);
    f->error = error ? xstrdup(error) : NULL;
    va_list ap;
    va_start(ap, fmt);
    f->cause = xvasprintf(fmt, ap);
    va_end(ap);
    return -1;
}

static int fail_err(struct fail *f, const struct err *e)
{
    return failf(f, e->code[0] ? e->code : "States.TaskFailed", "%s", e->message);
}

static void fail_release(struct fail *f)
{
    free(f->error);
    free(f->cause);
    f->error = f->cause = NULL;
    f->at_id = 0;
}

/* The cause prefix AWS gives the runtime errors of a state: "An error occurred while executing
 * the state 'X' (entered at the event id #N). " then what went wrong, where N is the id of the
 * state's Entered event in the execution history (events counted as in struct exec). */
#define AT_FMT "An error occurred while executing the state '%s' (entered at the event id #%ld). "

static int fail_state(struct exec *x, const struct sfn__state *s, struct fail *f, const char *error,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int fail_state(struct exec *x, const struct sfn__state *s, struct fail *f, const char *error,
                      const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *what = xvasprintf(fmt, ap);
    va_end(ap);
    failf(f, error, AT_FMT "%s", s->name, x->entered_id, what);
    f->at_id = x->entered_id;
    free(what);
    return -1;
}

/* A template or intrinsic failure of state s: a States.Runtime one gets the state prefix. */
static int fail_err_at(struct exec *x, const struct sfn__state *s, struct fail *f,
                       const struct err *e)
{
    if (!strcmp(e->code, "States.Runtime"))
        return fail_state(x, s, f, e->code, "%s", e->message);
    return fail_err(f, e);
}

/* When the history renumbers the events from old_first on (see branches_finish), the id a
 * cause names follows: new_id[i] is the new id of event old_first + i, of n. */
static void fail_renumber(struct fail *f, long old_first, const long *new_id, size_t n)
{
    if (!f || !f->cause || f->at_id < old_first || f->at_id >= old_first + (long)n)
        return;
    char from[48], to[48];
    long nid = new_id[f->at_id - old_first];
    snprintf(from, sizeof from, "(entered at the event id #%ld)", f->at_id);
    snprintf(to, sizeof to, "(entered at the event id #%ld)", nid);
    char *at = strstr(f->cause, from);
    if (at) {
        char *c = xasprintf("%.*s%s%s", (int)(at - f->cause), f->cause, to, at + strlen(from));
        free(f->cause);
        f->cause = c;
    }
    f->at_id = nid;
}

static int64_t now_ms(struct exec *x)
{
    if (x->o->virtual_clock)
        return x->vclock;
    if (x->o->now)
        return x->o->now(x->o->clock_ud);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleeps ms (virtually or really), never past the execution deadline. */
static void sleep_ms(struct exec *x, int64_t ms)
{
    if (ms <= 0)
        return;
    if (x->deadline_ms) {
        int64_t left = x->deadline_ms - now_ms(x);
        if (ms > left) {
            ms = left > 0 ? left : 0;
            x->root->timed_out = 1;
        }
    }
    if (x->o->virtual_clock) {
        x->vclock += ms;
    } else if (x->o->sleep) {
        x->o->sleep(x->o->clock_ud, ms);
    } else {
        sched_sleep_ms((long)ms); /* parks inside a scheduler task, else blocks the thread */
    }
}

static int check_deadline(struct exec *x)
{
    if (x->deadline_ms && now_ms(x) >= x->deadline_ms)
        x->root->timed_out = 1;
    return x->root->timed_out;
}

static char *dump(json_t *v)
{
    return jsontext_dump(v);
}

/* Counts one history event without recording it (the history is off). Events are counted the
 * way AWS numbers an execution history ("Events are numbered sequentially, starting at one",
 * API reference, HistoryEvent): ExecutionStarted is #1, then each event of each state (Entered,
 * TaskScheduled, TaskStarted, TaskSucceeded, ..., Exited) takes the next id, so runtime-error
 * causes name the same ids with or without history. */
static void tick(struct exec *x)
{
    x->prev_id = ++x->root->last_id;
}

/* Records one event when the history is on (details, an expression, is built only then), else
 * only counts it. */
#define EVENT(x, call)                                                                             \
    do {                                                                                           \
        if ((x)->history)                                                                          \
            call;                                                                                  \
        else                                                                                       \
            tick(x);                                                                               \
    } while (0)

/* Appends one AWS-shaped history event; details is stolen. Callers go through EVENT() so no
 * details are built when history is off, and the event is counted either way. */
static void event(struct exec *x, const char *type, const char *key, json_t *details)
{
    char ts[32];
    sfn__format_iso(now_ms(x), ts);
    json_t *e = json_object();
    json_object_set_new(e, "timestamp", json_string(ts));
    json_object_set_new(e, "type", json_string(type));
    json_object_set_new(e, "id", json_integer(++x->root->last_id));
    json_object_set_new(e, "previousEventId", json_integer(x->prev_id));
    x->prev_id = x->root->last_id;
    if (key)
        json_object_set_new(e, key, details);
    else if (details)
        json_decref(details);
    json_array_append_new(x->history, e);
}

static json_t *payload_details(const char *field, json_t *v)
{
    char *s = dump(v);
    char *dk = xasprintf("%sDetails", field);
    json_t *d = json_pack("{s:s, s:{s:b}}", field, s ? s : "null", dk, "truncated", 0);
    free(dk);
    free(s);
    return d;
}

static void state_event(struct exec *x, const struct sfn__state *s, int entered, json_t *v)
{
    char type[48];
    snprintf(type, sizeof type, "%sState%s", sfn__type_name(s->type),
             entered ? "Entered" : "Exited");
    json_t *d = payload_details(entered ? "input" : "output", v);
    json_object_set_new(d, "name", json_string(s->name));
    event(x, type, entered ? "stateEnteredEventDetails" : "stateExitedEventDetails", d);
}

static void simple_event(struct exec *x, const char *type, const char *key, json_t *d)
{
    event(x, type, key, d ? d : json_object());
}

/* ------------------------------------------------------------------------------------------ */
/* context object and common input/output processing                                         */

static char *role_arn(struct exec *x)
{
    return xasprintf("arn:aws:iam::%s:role/service-role/StepFunctions-%s-role",
                     x->o->account ? x->o->account : "123456789012",
                     x->o->state_machine_name ? x->o->state_machine_name : "StateMachine");
}

/* Builds the execution-wide parts of the context object on first use: most executions never
 * read `$$`, so they never pay for ARNs and names. */
static void init_ctx(struct exec *x)
{
    char uuid[37], start_iso[32];
    sfn__uuid(&x->rng, uuid);
    const char *name = x->o->execution_name ? x->o->execution_name : uuid;
    const char *sm = x->o->state_machine_name ? x->o->state_machine_name : "StateMachine";
    const char *region = x->o->region ? x->o->region : "us-east-1";
    const char *account = x->o->account ? x->o->account : "123456789012";
    char *sm_arn = xasprintf("arn:aws:states:%s:%s:stateMachine:%s", region, account, sm);
    char *exec_arn = xasprintf("arn:aws:states:%s:%s:execution:%s:%s", region, account, sm, name);
    char *role = role_arn(x);
    sfn__format_iso(x->start_ms, start_iso);
    x->ctx_exec = json_pack("{s:s, s:O, s:s, s:s, s:s, s:i}", "Id", exec_arn, "Input", x->input,
                            "Name", name, "RoleArn", role, "StartTime", start_iso, "RedriveCount",
                            0);
    x->ctx_sm = json_pack("{s:s, s:s}", "Id", sm_arn, "Name", sm);
    free(sm_arn);
    free(exec_arn);
    free(role);
}

static json_t *build_ctx(struct exec *x, const struct sfn__state *s, long retry, const char *token,
                         json_t *item_value, long item_index)
{
    char ts[32];
    if (!x->ctx_exec)
        init_ctx(x);
    sfn__format_iso(now_ms(x), ts);
    json_t *ctx = json_object();
    json_object_set(ctx, "Execution", x->ctx_exec);
    json_object_set(ctx, "StateMachine", x->ctx_sm);
    json_object_set_new(ctx, "State",
                        json_pack("{s:s, s:s, s:I}", "EnteredTime", ts, "Name", s->name,
                                  "RetryCount", (json_int_t)retry));
    if (token)
        json_object_set_new(ctx, "Task", json_pack("{s:s}", "Token", token));
    if (item_value)
        json_object_set_new(ctx, "Map",
                            json_pack("{s:{s:I, s:O}}", "Item", "Index", (json_int_t)item_index,
                                      "Value", item_value));
    return ctx;
}

static int check_size(struct exec *x, json_t *v, const char *what, const struct sfn__state *s,
                      struct fail *f)
{
    if (v == x->sized)
        return 0; /* values are never modified, so a value measured once keeps its size */
    size_t n = sfn__json_size_memo(v, x->limit, &x->sizes);
    if (n <= x->limit) {
        if (x->sized)
            json_decref(x->sized);
        x->sized = json_incref(v);
    }
    if (n > x->limit)
        return failf(f, "States.DataLimitExceeded",
                     "The state/task '%s' returned a result with a size exceeding the maximum "
                     "number of bytes service limit (%s larger than %zu bytes).",
                     s->name, what, x->limit);
    return 0;
}

/* InputPath and OutputPath: null gives {}, absent passes v through, a path that selects nothing
 * is States.Runtime naming the path and the value ("input" or "output"). */
static int select_path(struct exec *x, const struct sfn__state *s, const struct jsonpath *path,
                       int path_null, const char *field, json_t *v, json_t **out, struct fail *f)
{
    if (path_null) {
        *out = json_object();
        return 0;
    }
    if (!path) {
        *out = json_incref(v);
        return 0;
    }
    if (jsonpath_eval(path, v, out) != 0) {
        char *d = dump(v);
        fail_state(x, s, f, "States.Runtime",
                   "The JSONPath '%s' specified for the field '%s' could not be found in the "
                   "input '%.400s'",
                   jsonpath_text(path), field, d);
        free(d);
        return -1;
    }
    return 0;
}

static int input_path(struct exec *x, const struct sfn__state *s, json_t *in, json_t **out,
                      struct fail *f)
{
    return select_path(x, s, s->input_path, s->input_path_null, "InputPath", in, out, f);
}

static int output_path(struct exec *x, const struct sfn__state *s, json_t *v, json_t **out,
                       struct fail *f)
{
    return select_path(x, s, s->output_path, s->output_path_null, "OutputPath", v, out, f);
}

static int result_path(const struct sfn__state *s, struct jsonpath *rp, int rp_null, json_t *raw,
                       json_t *result, json_t **out, struct fail *f)
{
    if (rp_null) {
        *out = json_incref(raw);
        return 0;
    }
    if (!rp || jsonpath_is_root(rp)) {
        *out = json_incref(result);
        return 0;
    }
    struct err e = {0};
    *out = jsonpath_set(rp, raw, result, &e);
    if (!*out)
        return failf(f, "States.ResultPathMatchFailure", "State '%s': %s", s->name, e.message);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Choice                                                                                     */

struct lazy_ctx {
    struct exec *x;
    const struct sfn__state *s;
    json_t *ctx;
};

static json_t *lazy_get(struct lazy_ctx *l)
{
    if (!l->ctx)
        l->ctx = build_ctx(l->x, l->s, 0, NULL, NULL, 0);
    return l->ctx;
}

static int ts_of(json_t *v, int64_t *sec, int32_t *ns)
{
    return json_is_string(v) && sfn__parse_timestamp(json_string_value(v), sec, ns) == 0 ? 0 : -1;
}

static int num_cmp(json_t *a, json_t *b)
{
    if (json_is_integer(a) && json_is_integer(b)) {
        json_int_t x = json_integer_value(a), y = json_integer_value(b);
        return x < y ? -1 : x > y;
    }
    double x = json_number_value(a), y = json_number_value(b);
    return x < y ? -1 : x > y;
}

/* StringMatches: '*' matches any run of characters; "\*" and "\\" are literal. */
static int glob(const char *p, const char *s)
{
    const char *star_p = NULL, *star_s = NULL;
    while (*s) {
        if (*p == '\\' && (p[1] == '*' || p[1] == '\\')) {
            if (*s == p[1]) {
                p += 2;
                s++;
                continue;
            }
        } else if (*p == '*') {
            star_p = ++p;
            star_s = s;
            continue;
        } else if (*p && *p == *s) {
            p++;
            s++;
            continue;
        }
        if (!star_p)
            return 0;
        p = star_p;
        s = ++star_s;
    }
    while (*p == '*')
        p++;
    return *p == '\0';
}

static int path_value(struct lazy_ctx *l, struct jsonpath *p, json_t *in, json_t **out)
{
    return jsonpath_eval(p, jsonpath_is_context(p) ? lazy_get(l) : in, out);
}

static int rule_eval(struct lazy_ctx *l, const struct sfn__rule *r, json_t *in, int *res,
                     struct fail *f)
{
    if (r->op == OP_AND || r->op == OP_OR) {
        for (size_t i = 0; i < r->nkids; i++) {
            int v;
            if (rule_eval(l, &r->kids[i], in, &v, f) < 0)
                return -1;
            if (r->op == OP_AND && !v) {
                *res = 0;
                return 0;
            }
            if (r->op == OP_OR && v) {
                *res = 1;
                return 0;
            }
        }
        *res = r->op == OP_AND;
        return 0;
    }
    if (r->op == OP_NOT) {
        int v;
        if (rule_eval(l, &r->kids[0], in, &v, f) < 0)
            return -1;
        *res = !v;
        return 0;
    }
    json_t *v = NULL, *o = NULL;
    if (path_value(l, r->var, in, &v) != 0) {
        if (r->op == OP_IsPresent) {
            *res = !json_is_true(r->operand);
            return 0;
        }
        return fail_state(l->x, l->s, f, "States.Runtime",
                          "Invalid path '%s': The choice state's condition path references an "
                          "invalid value.",
                          jsonpath_text(r->var));
    }
    if (r->operand_path) {
        if (path_value(l, r->operand_path, in, &o) != 0) {
            json_decref(v);
            return fail_state(l->x, l->s, f, "States.Runtime",
                              "Invalid path '%s': The choice state's condition path references "
                              "an invalid value.",
                              jsonpath_text(r->operand_path));
        }
    } else {
        o = json_incref(r->operand);
    }
    int t = 0, want = json_is_true(o);
    int64_t s1, s2;
    int32_t n1, n2;
    int c;
    switch (r->op) {
    case OP_IsNull:
        t = json_is_null(v) == want;
        break;
    case OP_IsPresent:
        t = want;
        break;
    case OP_IsNumeric:
        t = json_is_number(v) == want;
        break;
    case OP_IsString:
        t = json_is_string(v) == want;
        break;
    case OP_IsBoolean:
        t = json_is_boolean(v) == want;
        break;
    case OP_IsTimestamp:
        t = (ts_of(v, &s1, &n1) == 0) == want;
        break;
    case OP_BooleanEquals:
        t = json_is_boolean(v) && json_is_boolean(o) && json_equal(v, o);
        break;
    case OP_StringMatches:
        t = json_is_string(v) && json_is_string(o) &&
            glob(json_string_value(o), json_string_value(v));
        break;
    case OP_StringEquals:
    case OP_StringLessThan:
    case OP_StringGreaterThan:
    case OP_StringLessThanEquals:
    case OP_StringGreaterThanEquals:
        if (json_is_string(v) && json_is_string(o)) {
            c = strcmp(json_string_value(v), json_string_value(o));
            t = r->op == OP_StringEquals           ? c == 0
                : r->op == OP_StringLessThan       ? c < 0
                : r->op == OP_StringGreaterThan    ? c > 0
                : r->op == OP_StringLessThanEquals ? c <= 0
                                                   : c >= 0;
        }
        break;
    case OP_NumericEquals:
    case OP_NumericLessThan:
    case OP_NumericGreaterThan:
    case OP_NumericLessThanEquals:
    case OP_NumericGreaterThanEquals:
        if (json_is_number(v) && json_is_number(o)) {
            c = num_cmp(v, o);
            t = r->op == OP_NumericEquals           ? c == 0
                : r->op == OP_NumericLessThan       ? c < 0
                : r->op == OP_NumericGreaterThan    ? c > 0
                : r->op == OP_NumericLessThanEquals ? c <= 0
                                                    : c >= 0;
        }
        break;
    default: /* Timestamp comparisons */
        if (ts_of(v, &s1, &n1) == 0 && ts_of(o, &s2, &n2) == 0) {
            c = s1 < s2 ? -1 : s1 > s2 ? 1 : n1 < n2 ? -1 : n1 > n2;
            t = r->op == OP_TimestampEquals           ? c == 0
                : r->op == OP_TimestampLessThan       ? c < 0
                : r->op == OP_TimestampGreaterThan    ? c > 0
                : r->op == OP_TimestampLessThanEquals ? c <= 0
                                                      : c >= 0;
        }
        break;
    }
    json_decref(v);
    json_decref(o);
    *res = t;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* states                                                                                     */

static int run_graph(struct exec *x, const struct sfn__graph *g, json_t *input, json_t **output,
                     struct fail *f);

/* Shared tail of Task/Parallel/Map/Pass: ResultSelector (if any), ResultPath, OutputPath. */
static int finish(struct exec *x, const struct sfn__state *s, json_t *raw, json_t *result,
                  json_t *ctx, json_t **out, struct fail *f)
{
    json_t *sel = NULL, *rp = NULL;
    int rc = -1;
    if (s->result_selector) {
        struct err e = {0};
        struct sfn__env env = {.input = result, .ctx = ctx, .rng = &x->rng};
        if (sfn__tmpl_eval(s->result_selector, &env, "States.Runtime", &sel, &e) < 0) {
            fail_err_at(x, s, f, &e);
            goto out;
        }
        result = sel;
    }
    if (result_path(s, s->result_path, s->result_path_null, raw, result, &rp, f) < 0)
        goto out;
    if (output_path(x, s, rp, out, f) < 0)
        goto out;
    if (check_size(x, *out, "output", s, f) < 0) {
        json_decref(*out);
        *out = NULL;
        goto out;
    }
    rc = 0;
out:
    json_decref(sel);
    json_decref(rp);
    return rc;
}

static int resolve_secs(struct exec *x, const struct sfn__state *s, struct jsonpath *p, json_t *in,
                        long *out, const char *field, struct fail *f)
{
    json_t *v = NULL;
    if (!p)
        return 0;
    if (jsonpath_eval(p, in, &v) != 0 || !json_is_integer(v) || json_integer_value(v) < 1) {
        json_decref(v);
        return fail_state(x, s, f, "States.Runtime", "%s '%s' must point to a positive integer",
                          field, jsonpath_text(p));
    }
    *out = (long)json_integer_value(v);
    json_decref(v);
    return 0;
}

static long *mock_counter(struct exec *x, const struct sfn__state *s)
{
    for (size_t i = 0; i < x->root->nmc; i++)
        if (x->root->mc[i].state == s)
            return &x->root->mc[i].n;
    x->root->mc = xrealloc(x->root->mc, (x->root->nmc + 1) * sizeof *x->root->mc);
    x->root->mc[x->root->nmc].state = s;
    x->root->mc[x->root->nmc].n = 0;
    return &x->root->mc[x->root->nmc++].n;
}

/* Parameters over the effective input (a new reference in *params, the input itself when the
 * state has none); a path that selects nothing is States.Runtime, as on AWS (which never
 * raises States.ParameterPathFailure for it, and never lets a Catch take it). */
static int apply_parameters(struct exec *x, const struct sfn__state *s, json_t *eff, json_t *ctx,
                            json_t **params, struct fail *f)
{
    if (!s->parameters) {
        *params = json_incref(eff);
        return 0;
    }
    struct err e = {0};
    struct sfn__env env = {.input = eff, .ctx = ctx, .rng = &x->rng};
    if (sfn__tmpl_eval(s->parameters, &env, "States.Runtime", params, &e) < 0) {
        fail_err_at(x, s, f, &e);
        return -1;
    }
    return 0;
}

/* LambdaFunctionScheduled/Started, or TaskScheduled/Started, for params. */
static void task_start_events(struct exec *x, const struct sfn__state *s, json_t *params,
                              long timeout, long heartbeat)
{
    char *ps = dump(params);
    if (s->resource_is_lambda_arn) {
        json_t *d = json_pack("{s:s, s:s, s:{s:b}}", "resource", s->resource, "input", ps,
                              "inputDetails", "truncated", 0);
        if (timeout)
            json_object_set_new(d, "timeoutInSeconds", json_integer(timeout));
        simple_event(x, "LambdaFunctionScheduled", "lambdaFunctionScheduledEventDetails", d);
        simple_event(x, "LambdaFunctionStarted", NULL, NULL);
    } else {
        json_t *d = json_pack("{s:s, s:s, s:s, s:s}", "resourceType", s->resource_type, "resource",
                              s->resource_name, "region", x->o->region ? x->o->region : "us-east-1",
                              "parameters", ps);
        if (timeout)
            json_object_set_new(d, "timeoutInSeconds", json_integer(timeout));
        if (heartbeat)
            json_object_set_new(d, "heartbeatInSeconds", json_integer(heartbeat));
        simple_event(x, "TaskScheduled", "taskScheduledEventDetails", d);
        simple_event(x, "TaskStarted", "taskStartedEventDetails",
                     json_pack("{s:s, s:s}", "resourceType", s->resource_type, "resource",
                               s->resource_name));
    }
    free(ps);
}

/* Adds the resource's type and name to event details d, unless the events are Lambda-shaped. */
static json_t *task_resource(const struct sfn__state *s, json_t *d)
{
    if (!s->resource_is_lambda_arn) {
        json_object_set_new(d, "resourceType", json_string(s->resource_type));
        json_object_set_new(d, "resource", json_string(s->resource_name));
    }
    return d;
}

/* The task's Failed event: the resource, then the error and the cause when there are. */
static void task_failed_event(struct exec *x, const struct sfn__state *s, const struct fail *f)
{
    json_t *d = task_resource(s, json_object());
    if (f->error)
        json_object_set_new(d, "error", json_string(f->error));
    if (f->cause)
        json_object_set_new(d, "cause", json_string(f->cause));
    simple_event(x, s->resource_is_lambda_arn ? "LambdaFunctionFailed" : "TaskFailed",
                 s->resource_is_lambda_arn ? "lambdaFunctionFailedEventDetails"
                                           : "taskFailedEventDetails",
                 d);
}

static int fan_enabled(const struct exec *x);

/* A Task callback running on a fiber of its own, so that the Task's TimeoutSeconds can end the
 * wait for it (sfn_run_opts.interrupt_timed_out_tasks). Shared by the waiting state and the
 * callback's fiber, both on one thread; whichever lets go last frees it. */
struct call {
    int refs;       /* 2 while both hold it */
    sfn_task_fn fn; /* the caller's callback and its ud */
    void *ud;
    char *resource;           /* owned copies: the state may be gone when a late call returns */
    json_t *params;           /* a reference held */
    json_t *result;           /* set by the callback */
    struct err err;           /* set by the callback on failure */
    int rc;                   /* the callback's return */
    struct sched_event *done; /* signalled when the callback returned */
};

static void call_unref(struct call *c)
{
    if (--c->refs > 0)
        return;
    free(c->resource);
    json_decref(c->params);
    if (c->result)
        json_decref(c->result);
    sched_event_free(c->done);
    free(c);
}

static void call_fiber(void *ud)
{
    struct call *c = ud;
    c->rc = c->fn(c->ud, c->resource, c->params, &c->result, &c->err);
    sched_event_signal(c->done);
    call_unref(c);
}

/* The task-local slot (sched_local) holding the memo of the execution whose Task callback runs
 * on the task, while it runs directly (not on a fiber of its own, which may outlive the
 * execution): sfn_size_note's way in. */
static char size_note_key;

void sfn_size_note(const json_t *v, size_t n)
{
    struct sfn__size_memo *m = sched_local_get(&size_note_key);
    if (m)
        sfn__size_memo_note(m, v, n);
}

/* Runs the caller's task function for params, waiting at most timeout_s seconds (0: no limit)
 * when the callback can be left running on its own fiber. Returns what the function returned,
 * or -2 when the wait ran out (the callback goes on, and its late result is dropped). */
static int task_fn_call(struct exec *x, const struct sfn__state *s, json_t *params, long timeout_s,
                        json_t **result, struct err *e)
{
    if (!timeout_s || !x->o->interrupt_timed_out_tasks || !fan_enabled(x)) {
        /* the callback runs on this task: its sfn_size_note reaches this execution's memo */
        void *outer = sched_local_get(&size_note_key);
        sched_local_set(&size_note_key, &x->sizes);
        int rc = x->o->task(x->o->task_ud, s->resource, params, result, e);
        sched_local_set(&size_note_key, outer);
        return rc;
    }
    struct call *c = xcalloc(1, sizeof *c);
    c->refs = 2;
    c->fn = x->o->task;
    c->ud = x->o->task_ud;
    c->resource = xstrdup(s->resource);
    c->params = json_incref(params);
    c->done = sched_event_new();
    if (sched_spawn(call_fiber, c) < 0) {
        call_unref(c);
        call_unref(c);
        return x->o->task(x->o->task_ud, s->resource, params, result, e);
    }
    int rc = -2;
    if (sched_event_wait(c->done, (int)(timeout_s > INT_MAX / 1000 ? INT_MAX : timeout_s * 1000))) {
        rc = c->rc;
        *result = c->result;
        c->result = NULL;
        *e = c->err;
    }
    call_unref(c);
    return rc;
}

/* Calls the task: its mock when one answers, else the caller's task function, else the input
 * comes back. Returns 1 with *result (new ref), -1 with f, or -2 (f untouched) when the task's
 * timeout_s ran out while its callback was still running. */
static int task_call(struct exec *x, const struct sfn__state *s, json_t *params, long timeout_s,
                     json_t **result, struct fail *f)
{
    if (x->o->mock) {
        char *me = NULL, *mc = NULL;
        long *cnt = mock_counter(x, s);
        int r = sfn__mock_respond(x->o->mock, s->name, (*cnt)++, result, &me, &mc);
        if (r == 1)
            return 1;
        if (r == 2) {
            free(f->error);
            free(f->cause);
            f->error = me;
            f->cause = mc;
            return -1;
        }
    }
    if (!x->o->task) {
        *result = json_incref(params);
        return 1;
    }
    /* On the heap: this frame is held while the callback waits (see SCHED_OUT_OF_LINE). */
    struct err *e = xcalloc(1, sizeof *e);
    *result = NULL;
    int rc = task_fn_call(x, s, params, timeout_s, result, e);
    if (rc != -2 && (rc < 0 || !*result)) {
        if (*result)
            json_decref(*result);
        *result = NULL;
        if (!e->code[0])
            err_set(e, "States.TaskFailed", "the task for '%s' returned no result", s->resource);
        fail_err(f, e);
        rc = -1;
    } else if (rc != -2) {
        rc = 1;
    }
    free(e);
    return rc;
}

static int task_attempt(struct exec *x, const struct sfn__state *s, json_t *raw, long retry,
                        json_t **out, struct fail *f)
{
    json_t *eff = NULL, *params = NULL, *result = NULL, *ctx = NULL;
    int rc = -1;
    char token[37] = "";
    if (input_path(x, s, raw, &eff, f) < 0)
        goto out;
    if (s->uses_context) {
        sfn__uuid(&x->rng, token);
        ctx = build_ctx(x, s, retry, token, NULL, 0);
    }
    if (apply_parameters(x, s, eff, ctx, &params, f) < 0)
        goto out;
    if (check_size(x, params, "input", s, f) < 0)
        goto out;
    long timeout = s->timeout_s, heartbeat = s->heartbeat_s;
    if (resolve_secs(x, s, s->timeout_path, raw, &timeout, "TimeoutSecondsPath", f) < 0 ||
        resolve_secs(x, s, s->heartbeat_path, raw, &heartbeat, "HeartbeatSecondsPath", f) < 0)
        goto out;
    int lambda_ev = s->resource_is_lambda_arn;
    if (x->history) {
        task_start_events(x, s, params, timeout, heartbeat);
    } else {
        tick(x); /* ...Scheduled */
        tick(x); /* ...Started */
    }
    int64_t t0 = now_ms(x);
    int got = task_call(x, s, params, timeout, &result, f);
    if (got == -2 || (got == 1 && timeout && now_ms(x) - t0 > timeout * 1000)) {
        json_decref(result);
        result = NULL;
        failf(f, "States.Timeout", "Task '%s' did not complete within %ld seconds", s->name,
              timeout);
        EVENT(x, simple_event(x, lambda_ev ? "LambdaFunctionTimedOut" : "TaskTimedOut",
                              lambda_ev ? "lambdaFunctionTimedOutEventDetails"
                                        : "taskTimedOutEventDetails",
                              json_pack("{s:s, s:s}", "error", f->error, "cause", f->cause)));
        goto out;
    }
    if (got == -1) {
        EVENT(x, task_failed_event(x, s, f));
        goto out;
    }
    if (check_size(x, result, "result", s, f) < 0)
        goto out;
    EVENT(x, simple_event(x, lambda_ev ? "LambdaFunctionSucceeded" : "TaskSucceeded",
                          lambda_ev ? "lambdaFunctionSucceededEventDetails"
                                    : "taskSucceededEventDetails",
                          task_resource(s, payload_details("output", result))));
    rc = finish(x, s, raw, result, ctx, out, f);
out:
    json_decref(eff);
    json_decref(params);
    json_decref(result);
    json_decref(ctx);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* branches on the virtual clock                                                              */

/*
 * Parallel branches and Map iterations always run one after another on the calling thread,
 * because Task callbacks must run there (sfn.h). With the virtual clock each branch still gets
 * the time it would have on AWS, where they run concurrently: every Parallel branch starts at
 * the time the branches start, a Map iteration starts when one of MaxConcurrency slots frees up
 * (in item order; 0 means no limit), and the state goes on at the latest end among them. So
 * Waits and Retry back-offs in different branches overlap. Their history events are then merged
 * by timestamp, keeping each branch's own order, and renumbered, as AWS interleaves them.
 *
 * With the real clock nothing is simulated: branches take the time they take, one after
 * another.
 */

struct branches {
    size_t first;  /* index in x->history of the first event of the branches */
    long base_id;  /* id of the event that started them (the ...StateStarted event) */
    int64_t start; /* virtual time at which the branches start */
    int64_t end;   /* latest virtual time a branch reached so far */
};

static void branches_init(struct exec *x, struct branches *b)
{
    b->first = x->history ? json_array_size(x->history) : 0;
    b->base_id = x->root->last_id;
    b->start = b->end = x->vclock;
}

/* Starts one branch at virtual time at (ignored on the real clock). */
static void branch_start(struct exec *x, const struct branches *b, int64_t at)
{
    if (x->o->virtual_clock)
        x->vclock = at;
    x->prev_id = b->base_id;
}

/* Records where the branch that just ran ended; returns that time. */
static int64_t branch_end(struct exec *x, struct branches *b)
{
    if (x->vclock > b->end)
        b->end = x->vclock;
    return x->vclock;
}

struct ev_key {
    const char *ts; /* borrowed from the event */
    size_t pos;     /* position before sorting: keeps the sort stable */
    json_t *ev;     /* a reference held while the array is rewritten */
};

static int ev_cmp(const void *a, const void *b)
{
    const struct ev_key *p = a, *q = b;
    int c = strcmp(p->ts, q->ts);
    if (c)
        return c;
    return p->pos < q->pos ? -1 : p->pos > q->pos;
}

/* Ends the branches: the clock moves to the latest branch end, and the branches' events are
 * ordered by time (timestamps have a fixed width, so text order is time order), renumbered, and
 * their previousEventId references follow the renumbering. */
static void branches_finish(struct exec *x, const struct branches *b, struct fail *f)
{
    if (!x->o->virtual_clock)
        return;
    x->vclock = b->end;
    size_t n = x->history ? json_array_size(x->history) - b->first : 0;
    if (n < 2)
        return;
    struct ev_key *k = xmalloc(n * sizeof *k);
    long *new_id = xmalloc(n * sizeof *new_id);
    for (size_t i = 0; i < n; i++) {
        json_t *ev = json_array_get(x->history, b->first + i);
        k[i].ts = json_string_value(json_object_get(ev, "timestamp"));
        k[i].pos = i;
        k[i].ev = json_incref(ev);
    }
    qsort(k, n, sizeof *k, ev_cmp);
    for (size_t j = 0; j < n; j++)
        new_id[k[j].pos] = b->base_id + 1 + (long)j;
    for (size_t j = 0; j < n; j++) {
        json_t *ev = k[j].ev;
        long prev = (long)json_integer_value(json_object_get(ev, "previousEventId"));
        if (prev > b->base_id && prev <= b->base_id + (long)n)
            json_object_set_new(ev, "previousEventId", json_integer(new_id[prev - b->base_id - 1]));
        json_object_set_new(ev, "id", json_integer(b->base_id + 1 + (long)j));
        json_array_set(x->history, b->first + j, ev);
    }
    for (size_t j = 0; j < n; j++)
        json_decref(k[j].ev);
    fail_renumber(f, b->base_id + 1, new_id, n);
    x->prev_id = x->root->last_id;
    free(k);
    free(new_id);
}

/* Parallel branches one after another (on the virtual clock, as if they overlapped). Returns 0
 * with *results (new ref, in branch order), or -1 with f. */
static int parallel_branches(struct exec *x, const struct sfn__state *s, json_t *params,
                             json_t **results, struct fail *f)
{
    struct branches br;
    branches_init(x, &br);
    *results = json_array();
    for (size_t i = 0; i < s->nbranches; i++) {
        json_t *bo = NULL;
        branch_start(x, &br, br.start);
        int r = run_graph(x, s->branches[i], params, &bo, f);
        branch_end(x, &br);
        if (r < 0) {
            /* The branches after this one never run; the state fails once the branches that
             * ran have ended, so no event of theirs is dated after the failure. */
            branches_finish(x, &br, f);
            json_decref(*results);
            *results = NULL;
            return -1;
        }
        json_array_append_new(*results, bo);
    }
    branches_finish(x, &br, NULL);
    return 0;
}

static int parallel_fan(struct exec *x, const struct sfn__state *s, json_t *params,
                        json_t **results, struct fail *f);

static int parallel_attempt(struct exec *x, const struct sfn__state *s, json_t *raw, long retry,
                            json_t **out, struct fail *f)
{
    json_t *eff = NULL, *params = NULL, *results = NULL, *ctx = NULL;
    int rc = -1;
    if (input_path(x, s, raw, &eff, f) < 0)
        goto out;
    if (s->uses_context)
        ctx = build_ctx(x, s, retry, NULL, NULL, 0);
    if (apply_parameters(x, s, eff, ctx, &params, f) < 0)
        goto out;
    EVENT(x, simple_event(x, "ParallelStateStarted", NULL, NULL));
    int r = fan_enabled(x) ? parallel_fan(x, s, params, &results, f)
                           : parallel_branches(x, s, params, &results, f);
    if (r < 0) {
        EVENT(x, simple_event(x, "ParallelStateFailed", "executionFailedEventDetails",
                              json_pack("{s:s?, s:s?}", "error", f->error, "cause", f->cause)));
        goto out;
    }
    EVENT(x, simple_event(x, "ParallelStateSucceeded", NULL, NULL));
    rc = finish(x, s, raw, results, ctx, out, f);
out:
    json_decref(eff);
    json_decref(params);
    json_decref(results);
    json_decref(ctx);
    return rc;
}

/* ---- Map ---- */

/* The array a Map iterates: ItemsPath over the effective input (or $$), else the input itself.
 * Returns 0 with *items (new ref), or -1 with f. */
static int map_items(struct exec *x, const struct sfn__state *s, json_t *eff, long retry,
                     json_t **items, struct fail *f)
{
    if (s->items_path) {
        json_t *ictx = jsonpath_is_context(s->items_path) ? build_ctx(x, s, retry, NULL, NULL, 0)
                                                          : NULL;
        int r = jsonpath_eval(s->items_path, ictx ? ictx : eff, items);
        json_decref(ictx);
        if (r != 0)
            return fail_state(x, s, f, "States.Runtime",
                              "Invalid path '%s': The ItemsPath path references an invalid value.",
                              jsonpath_text(s->items_path));
    } else {
        *items = json_incref(eff);
    }
    if (!json_is_array(*items))
        return fail_state(x, s, f, "States.Runtime",
                          "The ItemsPath '%s' must reference a JSON array, not %s",
                          s->items_path ? jsonpath_text(s->items_path) : "$",
                          json_is_object(*items) ? "an object" : "a scalar");
    return 0;
}

/* A Map's failure tolerance and concurrency, each fixed or read by path from eff. */
struct map_limits {
    long tol_count; /* -1: unset */
    double tol_pct; /* -1: unset */
    long max_conc;  /* 0: no limit */
};

/* Reads a limit by path: an integer (is_int) or any number, from 0 to max. Returns it (new ref),
 * or NULL when the path selects no such number. */
static json_t *limit_at(const struct jsonpath *p, json_t *eff, int is_int, double max)
{
    json_t *v = NULL;
    if (jsonpath_eval(p, eff, &v) == 0 && (is_int ? json_is_integer(v) : json_is_number(v)) &&
        json_number_value(v) >= 0 && json_number_value(v) <= max)
        return v;
    json_decref(v);
    return NULL;
}

static int map_limits(struct exec *x, const struct sfn__state *s, json_t *eff, struct map_limits *l,
                      struct fail *f)
{
    json_t *v = NULL;
    l->tol_count = s->tolerated_count;
    l->tol_pct = s->tolerated_pct;
    l->max_conc = s->max_concurrency;
    if (s->tolerated_count_path) {
        if (!(v = limit_at(s->tolerated_count_path, eff, 1, HUGE_VAL)))
            return fail_state(x, s, f, "States.Runtime",
                              "ToleratedFailureCountPath '%s' must point to a non-negative "
                              "integer",
                              jsonpath_text(s->tolerated_count_path));
        l->tol_count = (long)json_integer_value(v);
        json_decref(v);
    }
    if (s->tolerated_pct_path) {
        if (!(v = limit_at(s->tolerated_pct_path, eff, 0, 100)))
            return fail_state(x, s, f, "States.Runtime",
                              "ToleratedFailurePercentagePath '%s' must point to a number from 0 "
                              "to 100",
                              jsonpath_text(s->tolerated_pct_path));
        l->tol_pct = json_number_value(v);
        json_decref(v);
    }
    if (s->max_concurrency_path) {
        if (!(v = limit_at(s->max_concurrency_path, eff, 1, HUGE_VAL)))
            return fail_state(x, s, f, "States.Runtime",
                              "MaxConcurrencyPath '%s' must point to a non-negative integer",
                              jsonpath_text(s->max_concurrency_path));
        l->max_conc = json_integer_value(v) > LONG_MAX ? LONG_MAX : (long)json_integer_value(v);
        json_decref(v);
    }
    return 0;
}

/* Whether failures of n items exceed the tolerated count or percentage. */
static int map_over_threshold(const struct map_limits *l, size_t failures, size_t n)
{
    return failures && ((l->tol_count >= 0 && (long)failures > l->tol_count && l->tol_pct < 0) ||
                        (l->tol_pct >= 0 && failures * 100.0 > l->tol_pct * (double)n &&
                         (l->tol_count < 0 || (long)failures > l->tol_count)));
}

/* The input of iteration i: ItemSelector (or Parameters) with $$.Map.Item, else the item. */
static int map_item_input(struct exec *x, const struct sfn__state *s, json_t *eff, long retry,
                          json_t *item, size_t i, json_t **iin, struct fail *f)
{
    if (!s->parameters) {
        *iin = json_incref(item);
        return 0;
    }
    struct err e = {0};
    json_t *ctx = build_ctx(x, s, retry, NULL, item, (long)i);
    struct sfn__env env = {.input = eff, .ctx = ctx, .rng = &x->rng};
    int r = sfn__tmpl_eval(s->parameters, &env, "States.Runtime", iin, &e);
    json_decref(ctx);
    if (r < 0)
        return fail_err_at(x, s, f, &e);
    return 0;
}

static void map_iteration_event(struct exec *x, const struct sfn__state *s, const char *type,
                                const char *key, size_t i)
{
    EVENT(x, simple_event(x, type, key,
                          json_pack("{s:s, s:I}", "name", s->name, "index", (json_int_t)i)));
}

/* The iterations of one Map attempt. Returns 0 with *results (new ref; a tolerated failure is
 * its {"Error","Cause"}); -1 with f when an iteration fails beyond tolerance; -2 with f when an
 * ItemSelector fails. The caller ends the branches (branches_finish) in every case. */
static int map_iterate(struct exec *x, const struct sfn__state *s, json_t *eff, long retry,
                       json_t *items, const struct map_limits *l, struct branches *br,
                       json_t **results, struct fail *f)
{
    size_t n = json_array_size(items), failures = 0;
    int tolerant = l->tol_count >= 0 || l->tol_pct >= 0, rc = -1;
    /* slots[k]: when concurrency slot k frees up; none when every iteration starts at once */
    size_t nslots = x->o->virtual_clock && l->max_conc > 0 && (size_t)l->max_conc < n
                        ? (size_t)l->max_conc
                        : 0;
    int64_t *slots = nslots ? xmalloc(nslots * sizeof *slots) : NULL;
    for (size_t k = 0; k < nslots; k++)
        slots[k] = br->start;
    *results = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *iin = NULL, *io = NULL;
        size_t slot = 0;
        for (size_t k = 1; k < nslots; k++)
            if (slots[k] < slots[slot])
                slot = k;
        /* the ItemSelector sees the Map state's time in $$.State.EnteredTime */
        branch_start(x, br, br->start);
        if (map_item_input(x, s, eff, retry, json_array_get(items, i), i, &iin, f) < 0) {
            rc = -2;
            goto out;
        }
        branch_start(x, br, nslots ? slots[slot] : br->start);
        map_iteration_event(x, s, "MapIterationStarted", "mapIterationStartedEventDetails", i);
        int r = run_graph(x, s->processor, iin, &io, f);
        json_decref(iin);
        if (r < 0)
            map_iteration_event(x, s, "MapIterationFailed", "mapIterationFailedEventDetails", i);
        else
            map_iteration_event(x, s, "MapIterationSucceeded", "mapIterationSucceededEventDetails",
                                i);
        int64_t end = branch_end(x, br);
        if (nslots)
            slots[slot] = end;
        if (r == 0) {
            json_array_append_new(*results, io);
            continue;
        }
        if (x->root->timed_out || !tolerant || (f->error && !strcmp(f->error, "States.Runtime")))
            goto out;
        failures++;
        json_array_append_new(*results,
                              json_pack("{s:s?, s:s?}", "Error", f->error, "Cause", f->cause));
        fail_release(f);
    }
    if (map_over_threshold(l, failures, n)) {
        failf(f, "States.ExceedToleratedFailureThreshold",
              "The number of failed items (%zu of %zu) exceeds the tolerated failure threshold "
              "of Map state '%s'",
              failures, n, s->name);
        goto out;
    }
    rc = 0;
out:
    free(slots);
    if (rc < 0) {
        json_decref(*results);
        *results = NULL;
    }
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* branches on fibers: real-clock concurrency inside a scheduler task                         */

/*
 * When an execution on the real clock runs inside a scheduler task (`parley serve` turns), the
 * branches of a Parallel and the iterations of a Map run as tasks of their own on the calling
 * task's thread (sched_spawn), so a branch that waits (a Wait, a Retry back-off, a Task whose
 * callback parks on the network) lets the others run: their time overlaps as on AWS. Only one
 * of them runs at any moment, so Task callbacks still run on the thread that called sfn_run().
 *
 * Each worker runs with its own copy of struct exec (its position in the history, its random
 * state, its Entered event); what belongs to the whole execution is reached through x->root.
 * Results keep branch and item order. The first failure (in time) stops the others between
 * states, and is the one reported.
 */

#define SFN_FAN_MAP_MAX 40 /* AWS: an inline Map runs at most 40 iterations at a time */

/* One Parallel or Map attempt running its branches concurrently. Lives on the stack of the
 * state's own fiber, which waits for every worker before it returns. */
struct fan {
    struct exec *x;             /* the state's exec */
    const struct sfn__state *s; /* the Parallel or Map state */
    json_t *input;              /* Parallel: every branch's input; Map: the effective input */
    json_t *items;              /* Map: the items; NULL for a Parallel */
    long retry;                 /* the attempt's retry count ($$.State.RetryCount) */
    size_t n, next;             /* branches or items; the next one to start */
    json_t **out;               /* per index: the result (new ref), or NULL */
    struct fail *fails;         /* per index: the failure */
    int *how;                   /* per index: 0 ok, 1 failed, 2 its ItemSelector failed */
    size_t culprit;             /* the index whose failure stopped the fan (n: none) */
    long failures;              /* failures so far, stopped branches not counted */
    int tolerant;               /* Map failures are tolerated (counted, then checked) */
    int stop;                   /* a failure ends the state: start nothing, stop between states */
    int running;                /* workers not yet done */
    struct sched_event *done;   /* signalled by the last worker */
};

/* Whether this execution runs its branches concurrently. */
static int fan_enabled(const struct exec *x)
{
    return !x->o->virtual_clock && sched_in_task();
}

/* Runs index i of the fan on the worker's exec cx. */
static void fan_one(struct fan *fn, struct exec *cx, size_t i)
{
    const struct sfn__state *s = fn->s;
    struct fail *f = &fn->fails[i];
    json_t *iin = NULL;
    int r;
    cx->prev_id = fn->x->prev_id; /* every branch chains from the ...StateStarted event */
    if (!fn->items) {
        r = run_graph(cx, s->branches[i], fn->input, &fn->out[i], f);
    } else if (map_item_input(cx, s, fn->input, fn->retry, json_array_get(fn->items, i), i, &iin,
                              f) < 0) {
        r = -2;
    } else {
        map_iteration_event(cx, s, "MapIterationStarted", "mapIterationStartedEventDetails", i);
        r = run_graph(cx, s->processor, iin, &fn->out[i], f);
        json_decref(iin);
        if (r < 0)
            map_iteration_event(cx, s, "MapIterationFailed", "mapIterationFailedEventDetails", i);
        else
            map_iteration_event(cx, s, "MapIterationSucceeded", "mapIterationSucceededEventDetails",
                                i);
    }
    if (r == 0)
        return;
    fn->how[i] = r == -2 ? 2 : 1;
    if (fn->stop)
        return; /* stopped because of a sibling, or failed after it: the first failure counts */
    fn->failures++;
    if (!fn->tolerant || r == -2 || (f->error && !strcmp(f->error, "States.Runtime")) ||
        cx->root->timed_out) {
        fn->stop = 1;
        fn->culprit = i;
    }
}

/* A worker: takes the next index until none is left or the fan stops. */
static void fan_worker(void *ud)
{
    struct fan *fn = ud;
    struct exec cx = *fn->x;
    cx.sized = NULL;
    memset(&cx.sizes, 0, sizeof cx.sizes); /* the branch's own (the copy holds no references) */
    cx.stop = &fn->stop;
    rand_seeded_init(&cx.rng, rand_seeded_next(&fn->x->rng));
    while (!fn->stop && fn->next < fn->n)
        fan_one(fn, &cx, fn->next++);
    if (cx.sized)
        json_decref(cx.sized);
    sfn__size_memo_release(&cx.sizes);
    if (--fn->running == 0)
        sched_event_signal(fn->done);
}

/* Runs the fan with up to workers branches at a time and waits for all of them. The outcome is
 * in fn->out / fn->how / fn->fails; the caller releases it with fan_release(). */
static void fan_run(struct fan *fn, size_t workers)
{
    struct exec *x = fn->x;
    fn->out = xcalloc(fn->n ? fn->n : 1, sizeof *fn->out);
    fn->fails = xcalloc(fn->n ? fn->n : 1, sizeof *fn->fails);
    fn->how = xcalloc(fn->n ? fn->n : 1, sizeof *fn->how);
    fn->culprit = fn->n;
    if (!x->ctx_exec)
        init_ctx(x); /* built once here, so no worker builds (and leaks) its own */
    if (workers > fn->n)
        workers = fn->n;
    if (workers == 0)
        return;
    fn->done = sched_event_new();
    fn->running = (int)workers;
    for (size_t w = 0; w < workers; w++)
        if (sched_spawn(fan_worker, fn) < 0)
            fan_worker(fn); /* not reached inside a task (fan_enabled); runs it inline */
    sched_event_wait(fn->done, -1);
    sched_event_free(fn->done);
    x->prev_id = x->root->last_id; /* the state goes on from the last event a branch added */
}

static void fan_release(struct fan *fn)
{
    for (size_t i = 0; fn->out && i < fn->n; i++) {
        if (fn->out[i])
            json_decref(fn->out[i]);
        fail_release(&fn->fails[i]);
    }
    free(fn->out);
    free(fn->fails);
    free(fn->how);
}

/* Parallel branches on fibers. Returns 0 with *results (new ref, in branch order), or -1 with f
 * (the first branch failure). */
static int parallel_fan(struct exec *x, const struct sfn__state *s, json_t *params,
                        json_t **results, struct fail *f)
{
    struct fan fn = {.x = x, .s = s, .input = params, .n = s->nbranches};
    fan_run(&fn, fn.n);
    size_t bad = fn.culprit;
    int rc = -1;
    if (bad < fn.n) {
        *f = fn.fails[bad];
        memset(&fn.fails[bad], 0, sizeof fn.fails[bad]);
    } else {
        *results = json_array();
        for (size_t i = 0; i < fn.n; i++) {
            json_array_append_new(*results, fn.out[i]);
            fn.out[i] = NULL;
        }
        rc = 0;
    }
    fan_release(&fn);
    return rc;
}

/* Map iterations on fibers, at most max_conc at a time (0: AWS's inline limit). Returns as
 * map_iterate does. */
static int map_fan(struct exec *x, const struct sfn__state *s, json_t *eff, long retry,
                   json_t *items, const struct map_limits *l, json_t **results, struct fail *f)
{
    struct fan fn = {.x = x,
                     .s = s,
                     .input = eff,
                     .items = items,
                     .retry = retry,
                     .n = json_array_size(items),
                     .tolerant = l->tol_count >= 0 || l->tol_pct >= 0};
    size_t workers = l->max_conc > 0 && l->max_conc < SFN_FAN_MAP_MAX ? (size_t)l->max_conc
                                                                      : SFN_FAN_MAP_MAX;
    fan_run(&fn, workers);
    size_t bad = fn.culprit;
    int rc = -1;
    if (bad < fn.n) {
        rc = fn.how[bad] == 2 ? -2 : -1;
        *f = fn.fails[bad];
        memset(&fn.fails[bad], 0, sizeof fn.fails[bad]);
    } else if (map_over_threshold(l, (size_t)fn.failures, fn.n)) {
        failf(f, "States.ExceedToleratedFailureThreshold",
              "The number of failed items (%ld of %zu) exceeds the tolerated failure threshold "
              "of Map state '%s'",
              fn.failures, fn.n, s->name);
    } else {
        *results = json_array();
        for (size_t i = 0; i < fn.n; i++) {
            json_t *v = fn.out[i];
            fn.out[i] = NULL;
            if (fn.how[i])
                v = json_pack("{s:s?, s:s?}", "Error", fn.fails[i].error, "Cause",
                              fn.fails[i].cause);
            json_array_append_new(*results, v);
        }
        rc = 0;
    }
    fan_release(&fn);
    return rc;
}

static int map_attempt(struct exec *x, const struct sfn__state *s, json_t *raw, long retry,
                       json_t **out, struct fail *f)
{
    json_t *eff = NULL, *items = NULL, *results = NULL;
    struct map_limits l;
    int rc = -1;
    if (input_path(x, s, raw, &eff, f) < 0 || map_items(x, s, eff, retry, &items, f) < 0 ||
        map_limits(x, s, eff, &l, f) < 0)
        goto out;
    EVENT(x, simple_event(x, "MapStateStarted", "mapStateStartedEventDetails",
                          json_pack("{s:I}", "length", (json_int_t)json_array_size(items))));
    int r;
    if (fan_enabled(x)) {
        r = map_fan(x, s, eff, retry, items, &l, &results, f);
    } else {
        struct branches br;
        branches_init(x, &br);
        r = map_iterate(x, s, eff, retry, items, &l, &br, &results, f);
        branches_finish(x, &br, r < 0 ? f : NULL);
    }
    if (r < 0) {
        /* a failed ItemSelector fails the state without a MapStateFailed event */
        if (r == -1)
            EVENT(x, simple_event(x, "MapStateFailed", NULL, NULL));
        goto out;
    }
    EVENT(x, simple_event(x, "MapStateSucceeded", NULL, NULL));
    rc = finish(x, s, raw, results, NULL, out, f);
out:
    json_decref(eff);
    json_decref(items);
    json_decref(results);
    return rc;
}

typedef int (*attempt_fn)(struct exec *x, const struct sfn__state *s, json_t *raw, long retry,
                          json_t **out, struct fail *f);

/* Runs attempts through Retry, then Catch. Returns 0 with *out and *next (catcher's Next when
 * caught, else the state's Next), or -1 with f. */
static int with_retry(struct exec *x, const struct sfn__state *s, attempt_fn fn, json_t *raw,
                      json_t **out, int *next, struct fail *f)
{
    /* Retries made by each retrier, allocated at the first retry: the attempts run under this
     * frame, and in `parley serve` a turn's frames stay resident while it waits on its model. */
    long *counts = NULL;
    long retries = 0;
    int rc = -1;
    for (;;) {
        x->last_retries = retries;
        assert(*out == NULL && !f->error && !f->cause); /* each attempt starts clean */
        if (fn(x, s, raw, retries, out, f) == 0) {
            *next = s->next;
            rc = 0;
            break;
        }
        assert(*out == NULL); /* a failed attempt leaves no output behind */
        if (x->root->timed_out || !f->error)
            break;
        size_t i;
        for (i = 0; i < s->nretry; i++)
            if (sfn__error_matches(&s->retry[i].errors, f->error))
                break;
        if (i == s->nretry)
            break;
        if (!counts)
            counts = xcalloc(s->nretry, sizeof *counts);
        if (counts[i] >= s->retry[i].max_attempts)
            break;
        const struct sfn__retrier *r = &s->retry[i];
        /* a retrier never runs past its MaxAttempts, and every retry is counted once */
        assert(counts[i] >= 0 && counts[i] < r->max_attempts && retries >= counts[i]);
        double d = r->interval_s * pow(r->backoff, (double)counts[i]);
        if (r->max_delay_s > 0 && d > r->max_delay_s)
            d = r->max_delay_s;
        if (r->jitter_full)
            d = d * (double)(rand_seeded_next(&x->rng) % 1000001) / 1e6;
        counts[i]++;
        retries++;
        fail_release(f);
        sleep_ms(x, (int64_t)(d * 1000.0));
        if (check_deadline(x)) {
            failf(f, "States.Timeout", "The execution timed out during a Retry back-off");
            free(counts);
            return -1;
        }
    }
    free(counts);
    if (rc == 0)
        return 0;
    if (x->root->timed_out || !f->error)
        return -1;
    for (size_t i = 0; i < s->ncatch; i++) {
        const struct sfn__catcher *c = &s->catch_[i];
        if (!sfn__error_matches(&c->errors, f->error))
            continue;
        json_t *eo = json_pack("{s:s, s:s}", "Error", f->error, "Cause", f->cause ? f->cause : "");
        struct fail f2 = {0};
        int r = result_path(s, c->result_path, c->result_path_null, raw, eo, out, &f2);
        json_decref(eo);
        fail_release(f);
        if (r < 0) {
            *f = f2;
            return -1;
        }
        *next = c->next;
        return 0;
    }
    return -1;
}

/* ---- one run function per state type ----
 * Each runs state s on input in (borrowed). It returns 0 with *out (new ref) and *next (the state
 * entered next; -1 at the end of the graph), or -1 with f. */

static int run_task(struct exec *x, const struct sfn__state *s, json_t *in, json_t **out, int *next,
                    struct fail *f)
{
    return with_retry(x, s, task_attempt, in, out, next, f);
}

static int run_parallel(struct exec *x, const struct sfn__state *s, json_t *in, json_t **out,
                        int *next, struct fail *f)
{
    return with_retry(x, s, parallel_attempt, in, out, next, f);
}

static int run_map(struct exec *x, const struct sfn__state *s, json_t *in, json_t **out, int *next,
                   struct fail *f)
{
    return with_retry(x, s, map_attempt, in, out, next, f);
}

static int run_pass(struct exec *x, const struct sfn__state *s, json_t *in, json_t **out, int *next,
                    struct fail *f)
{
    json_t *eff = NULL, *params = NULL, *ctx = NULL;
    int rc = -1;
    if (input_path(x, s, in, &eff, f) < 0)
        goto out;
    if (s->parameters) {
        struct err e = {0};
        if (s->uses_context)
            ctx = build_ctx(x, s, 0, NULL, NULL, 0);
        struct sfn__env env = {.input = eff, .ctx = ctx, .rng = &x->rng};
        if (sfn__tmpl_eval(s->parameters, &env, "States.Runtime", &params, &e) < 0) {
            fail_err_at(x, s, f, &e);
            goto out;
        }
    }
    json_t *result = s->result ? s->result : params ? params : eff;
    if (finish(x, s, in, result, NULL, out, f) < 0)
        goto out;
    *next = s->next;
    rc = 0;
out:
    json_decref(ctx);
    json_decref(eff);
    json_decref(params);
    return rc;
}

static int run_choice(struct exec *x, const struct sfn__state *s, json_t *in, json_t **out,
                      int *next, struct fail *f)
{
    json_t *eff = NULL;
    int rc = -1;
    if (input_path(x, s, in, &eff, f) < 0)
        goto out;
    struct lazy_ctx l = {.x = x, .s = s};
    int target = -1, r = 0;
    for (size_t i = 0; i < s->nrules && target < 0; i++) {
        int v = 0;
        if ((r = rule_eval(&l, &s->rules[i], eff, &v, f)) < 0)
            break;
        if (v)
            target = s->rules[i].next;
    }
    if (l.ctx)
        json_decref(l.ctx);
    if (r < 0)
        goto out;
    if (target < 0)
        target = s->default_next;
    if (target < 0) {
        failf(f, "States.NoChoiceMatched",
              "No Matches! (Choice state '%s' matched no rule and has no Default)", s->name);
        goto out;
    }
    if (output_path(x, s, eff, out, f) < 0)
        goto out;
    *next = target;
    rc = 0;
out:
    json_decref(eff);
    return rc;
}

/* How long a Wait state waits, in ms (negative: not at all). Returns 0, or -1 with f when
 * SecondsPath or TimestampPath selects no valid value. */
static int wait_duration(struct exec *x, const struct sfn__state *s, json_t *eff, int64_t *wait,
                         struct fail *f)
{
    json_t *v = NULL;
    int64_t sec;
    int32_t ns;
    *wait = 0;
    if (s->wait_seconds >= 0) {
        *wait = (int64_t)s->wait_seconds * 1000;
    } else if (s->wait_ts_ms != INT64_MIN) {
        *wait = s->wait_ts_ms - now_ms(x);
    } else if (s->seconds_path) {
        if (jsonpath_eval(s->seconds_path, eff, &v) != 0 || !json_is_integer(v) ||
            json_integer_value(v) < 0 || json_integer_value(v) > 99999999) {
            json_decref(v);
            return fail_state(x, s, f, "States.Runtime",
                              "The SecondsPath parameter does not reference a valid non-negative "
                              "integer: '%s'",
                              jsonpath_text(s->seconds_path));
        }
        *wait = (int64_t)json_integer_value(v) * 1000;
        json_decref(v);
    } else if (s->timestamp_path) {
        if (jsonpath_eval(s->timestamp_path, eff, &v) != 0 || ts_of(v, &sec, &ns) < 0) {
            json_decref(v);
            return fail_state(x, s, f, "States.Runtime",
                              "The TimestampPath parameter does not reference a valid ISO-8601 "
                              "extended offset date-time format string: '%s'",
                              jsonpath_text(s->timestamp_path));
        }
        json_decref(v);
        *wait = sec * 1000 + ns / 1000000 - now_ms(x);
    }
    return 0;
}

static int run_wait(struct exec *x, const struct sfn__state *s, json_t *in, json_t **out, int *next,
                    struct fail *f)
{
    json_t *eff = NULL;
    int64_t wait = 0;
    int rc = -1;
    if (input_path(x, s, in, &eff, f) < 0 || wait_duration(x, s, eff, &wait, f) < 0)
        goto out;
    sleep_ms(x, wait);
    if (check_deadline(x)) {
        failf(f, "States.Timeout", "The execution timed out in Wait state '%s'", s->name);
        goto out;
    }
    if (output_path(x, s, eff, out, f) < 0)
        goto out;
    *next = s->next;
    rc = 0;
out:
    json_decref(eff);
    return rc;
}

static int run_succeed(struct exec *x, const struct sfn__state *s, json_t *in, json_t **out,
                       int *next, struct fail *f)
{
    json_t *eff = NULL;
    int rc = -1;
    (void)x;
    (void)next;
    if (input_path(x, s, in, &eff, f) == 0 && output_path(x, s, eff, out, f) == 0)
        rc = 0;
    json_decref(eff);
    return rc;
}

/* A Fail state's ErrorPath or CausePath (src) over in. Returns 0 with *val (heap; untouched when
 * src is empty), or -1 with f when it does not give a string. */
static int fail_value(struct exec *x, const struct sfn__state *s, const struct sfn__valsrc *src,
                      const char *field, json_t *in, char **val, struct fail *f)
{
    json_t *v = NULL;
    int rc = -1;
    if (src->path) {
        json_t *ctx = jsonpath_is_context(src->path) ? build_ctx(x, s, 0, NULL, NULL, 0) : NULL;
        if (jsonpath_eval(src->path, ctx ? ctx : in, &v) != 0)
            v = NULL;
        json_decref(ctx);
    } else if (src->fn) {
        struct err e = {0};
        struct sfn__env env = {.input = in, .ctx = NULL, .rng = &x->rng};
        if (sfn__intrinsic_eval(src->fn, &env, &v, &e) < 0)
            return fail_err_at(x, s, f, &e);
    } else {
        return 0;
    }
    if (!json_is_string(v)) {
        fail_state(x, s, f, "States.Runtime", "The %s field does not reference a string", field);
    } else {
        free(*val);
        *val = xstrdup(json_string_value(v));
        rc = 0;
    }
    json_decref(v);
    return rc;
}

/* A Fail state always fails: with Error/Cause, or what ErrorPath/CausePath select. */
static int run_fail(struct exec *x, const struct sfn__state *s, json_t *in, json_t **out, int *next,
                    struct fail *f)
{
    char *err = s->fail_error ? xstrdup(s->fail_error) : NULL;
    char *cause = s->fail_cause ? xstrdup(s->fail_cause) : NULL;
    (void)out;
    (void)next;
    if (fail_value(x, s, &s->error_src, "ErrorPath", in, &err, f) < 0 ||
        fail_value(x, s, &s->cause_src, "CausePath", in, &cause, f) < 0) {
        free(err);
        free(cause);
        return -1;
    }
    free(f->error);
    free(f->cause);
    f->error = err;
    f->cause = cause;
    return -1;
}

typedef int (*run_fn)(struct exec *x, const struct sfn__state *s, json_t *in, json_t **out,
                      int *next, struct fail *f);

static const run_fn run_by_type[ST__COUNT] = {
#define X(id, name, fn) [ST_##id] = run_##fn,
    SFN_STATE_TYPES(X)
#undef X
};

/* Runs one state between its Entered and Exited events. in is borrowed; returns 0 with *out (a
 * new ref) and *next, or -1 with f (f->error may be NULL: a Fail state without Error). */
static int run_state(struct exec *x, const struct sfn__state *s, json_t *in, json_t **out,
                     int *next, struct fail *f)
{
    assert((unsigned)s->type < ST__COUNT && run_by_type[s->type]);
    assert(in && *out == NULL && !f->error && !f->cause);
    *next = -1;
    EVENT(x, state_event(x, s, 1, in));
    long outer = x->entered_id; /* the enclosing Parallel/Map state's, inside a branch */
    x->entered_id = x->root->last_id;
    int rc = run_by_type[s->type](x, s, in, out, next, f);
    x->entered_id = outer;
    /* a state that succeeds leaves an output; only End states and Succeed end a graph */
    assert(rc < 0 || *out);
    assert(rc < 0 || s->next < 0 || *next >= 0);
    if (rc == 0)
        EVENT(x, state_event(x, s, 0, *out));
    return rc;
}

static int run_graph(struct exec *x, const struct sfn__graph *g, json_t *input, json_t **output,
                     struct fail *f)
{
    int cur = g->start;
    json_t *in = json_incref(input);
    for (;;) {
        if (check_deadline(x)) {
            json_decref(in);
            return failf(f, "States.Timeout", "The execution exceeded its TimeoutSeconds");
        }
        if (x->stop && *x->stop) {
            json_decref(in);
            return failf(f, "States.BranchFailed", "a sibling branch failed");
        }
        if (++x->root->transitions > x->max_transitions) {
            json_decref(in);
            return failf(f, "States.Runtime",
                         "The execution exceeded the limit of %ld state transitions",
                         x->max_transitions);
        }
        /* the engine owns exactly the current input; cur is a state of this graph */
        assert(cur >= 0 && (size_t)cur < g->n && in);
        const struct sfn__state *s = &g->states[cur];
        json_t *out = NULL;
        int next = -1;
        x->last_retries = 0;
        int64_t entered = x->o->on_state ? now_ms(x) : 0;
        struct timespec t0, t1;
        if (x->o->on_state)
            clock_gettime(CLOCK_MONOTONIC, &t0);
        int rc = run_state(x, s, in, &out, &next, f);
        if (x->o->on_state) {
            clock_gettime(CLOCK_MONOTONIC, &t1);
            struct sfn_state_report r = {
                .name = s->name,
                .type = sfn__type_name(s->type),
                .next = rc == 0 && next >= 0 ? g->states[next].name : NULL,
                .error = rc < 0 ? f->error : NULL,
                .entered_ms = entered,
                .duration_us = (t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000,
                .retries = x->last_retries,
            };
            x->o->on_state(x->o->state_ud, &r);
        }
        json_decref(in);
        assert(rc < 0 || out);
        assert(next < (int)g->n);
        if (rc < 0)
            return -1;
        if (next < 0) {
            *output = out;
            return 0;
        }
        in = out;
        cur = next;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* public                                                                                     */

const char *sfn_status_name(enum sfn_status s)
{
    return s == SFN_SUCCEEDED ? "SUCCEEDED" : s == SFN_TIMED_OUT ? "TIMED_OUT" : "FAILED";
}

void sfn_result_release(struct sfn_result *r)
{
    if (!r)
        return;
    if (r->output)
        json_decref(r->output);
    if (r->history)
        json_decref(r->history);
    free(r->error);
    free(r->cause);
    memset(r, 0, sizeof *r);
}

json_t *sfn_result_to_json(const struct sfn_result *r)
{
    json_t *o = json_object();
    json_object_set_new(o, "status", json_string(sfn_status_name(r->status)));
    json_object_set(o, "output", r->output ? r->output : json_null());
    json_object_set_new(o, "error", r->error ? json_string(r->error) : json_null());
    json_object_set_new(o, "cause", r->cause ? json_string(r->cause) : json_null());
    if (r->history)
        json_object_set(o, "history", r->history);
    return o;
}

int sfn_run(const struct sfn_machine *m, json_t *input, const struct sfn_run_opts *opts,
            struct sfn_result *out)
{
    static const struct sfn_run_opts defaults;
    memset(out, 0, sizeof *out);
    if (!m || !input) {
        out->status = SFN_FAILED;
        out->error = xstrdup("States.Runtime");
        out->cause = xstrdup(!m ? "no state machine" : "no input");
        return -1;
    }
    struct exec x = {0};
    struct fail f = {0};
    x.root = &x;
    x.m = m;
    x.o = opts ? opts : &defaults;
    x.limit = x.o->payload_limit ? x.o->payload_limit : SFN_PAYLOAD_LIMIT;
    x.max_transitions = x.o->max_transitions > 0 ? x.o->max_transitions : SFN_MAX_TRANSITIONS;
    x.input = input;
    if (x.o->virtual_clock) {
        if (x.o->start_ms) {
            x.vclock = x.o->start_ms;
        } else {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            x.vclock = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
        }
    }
    x.start_ms = now_ms(&x);
    rand_seeded_init(&x.rng,
                     x.o->seed ? x.o->seed : (uint64_t)x.start_ms ^ (uint64_t)(uintptr_t)&x);
    if (m->timeout_s)
        x.deadline_ms = x.start_ms + (int64_t)m->timeout_s * 1000;
    if (x.o->want_history) {
        x.history = json_array();
        json_t *d = payload_details("input", input);
        char *role = role_arn(&x);
        json_object_set_new(d, "roleArn", json_string(role));
        free(role);
        event(&x, "ExecutionStarted", "executionStartedEventDetails", d);
    } else {
        tick(&x); /* ExecutionStarted is #1 */
    }
    json_t *result = NULL;
    out->status = SFN_FAILED;
    if (sfn__json_size(input, x.limit) > x.limit) {
        failf(&f, "States.DataLimitExceeded",
              "The execution input exceeds the maximum of %zu bytes", x.limit);
    } else if (run_graph(&x, m->top, input, &result, &f) == 0) {
        out->status = SFN_SUCCEEDED;
        out->output = result;
    }
    if (out->status != SFN_SUCCEEDED) {
        out->status = x.timed_out ? SFN_TIMED_OUT : SFN_FAILED;
        if (x.timed_out) {
            fail_release(&f);
            f.error = xstrdup("States.Timeout");
            f.cause = xstrdup("The execution exceeded its TimeoutSeconds");
        }
        out->error = f.error;
        out->cause = f.cause;
        f.error = f.cause = NULL;
    }
    if (x.history) {
        if (out->status == SFN_SUCCEEDED)
            event(&x, "ExecutionSucceeded", "executionSucceededEventDetails",
                  payload_details("output", out->output));
        else
            event(&x, out->status == SFN_TIMED_OUT ? "ExecutionTimedOut" : "ExecutionFailed",
                  out->status == SFN_TIMED_OUT ? "executionTimedOutEventDetails"
                                               : "executionFailedEventDetails",
                  json_pack("{s:s?, s:s?}", "error", out->error, "cause", out->cause));
        out->history = x.history;
    }
    out->transitions = x.transitions;
    if (x.sized)
        json_decref(x.sized);
    sfn__size_memo_release(&x.sizes);
    if (x.ctx_exec)
        json_decref(x.ctx_exec);
    if (x.ctx_sm)
        json_decref(x.ctx_sm);
    free(x.mc);
    fail_release(&f);
    return 0;
}
