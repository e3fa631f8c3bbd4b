/*
 * workflow_local.c - runs the turn's ASL definition in-process. The machine is compiled once at
 * start-up and shared by every request thread (the engine is re-entrant).
 */
#include "runtime/workflow_local.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/rand.h"
#include "base/xmalloc.h"
#include "sfn/sfn.h"
#include "sfn/sfn_lambda.h"
#include "telemetry/trace.h"

struct binding {
    struct agent *agent; /* the agent the handler runs for */
    agent_handler_fn fn; /* the seed handler */
    const char *name;    /* its function name (the trace subsegment and path node) */
};

struct workflow_local {
    struct sfn_machine *machine;        /* compiled definition */
    struct binding *bindings;           /* one per handler */
    struct sfn_lambda_handler *lambdas; /* the resolver's table entries */
    struct sfn_lambda_table table;      /* passed to sfn_lambda_task */
};

static json_t *call_bound(void *ud, json_t *event, struct err *err)
{
    struct binding *b = ud;
    struct trace_ctx *sub = trace_sub_begin(agent_trace_current(), b->name, NULL);
    json_t *out = b->fn(b->agent, event, err);
    trace_sub_end(sub, out ? NULL : err);
    return out;
}

/* The path the console draws: each state of the execution as it ends. It is kept as C data while
 * the execution runs, since a turn waits on its model (seconds) with its path so far, and as JSON
 * each state took ~1.5 KB; path_json() makes the record's "path" at the end. */
struct path_step {
    size_t state, type, next, error; /* offsets into the path's text; PATH_NONE: none */
    int64_t entered_ms, duration_us;
    long retries;
};
#define PATH_NONE ((size_t)-1)
#define PATH_TEXT_MAX (1u << 20) /* bytes of state names and errors kept for one path */

struct path {
    struct path_step *steps;
    size_t n, cap;
    struct buf text; /* the steps' strings, each NUL-terminated */
};

/* The offset of a copy of s in p's text, or PATH_NONE for NULL (or when the text is full). */
static size_t path_text(struct path *p, const char *s)
{
    if (!s)
        return PATH_NONE;
    size_t at = p->text.len;
    if (buf_add(&p->text, s, strlen(s) + 1) < 0)
        return PATH_NONE;
    return at;
}

static void on_state(void *ud, const struct sfn_state_report *r)
{
    struct path *p = ud;
    if (p->n == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 8;
        p->steps = xrealloc(p->steps, p->cap * sizeof *p->steps);
    }
    struct path_step *st = &p->steps[p->n++];
    st->state = path_text(p, r->name);
    st->type = path_text(p, r->type);
    st->next = path_text(p, r->next);
    st->error = path_text(p, r->error);
    st->entered_ms = r->entered_ms;
    st->duration_us = r->duration_us;
    st->retries = r->retries;
}

static const char *path_str(const struct path *p, size_t at)
{
    return at == PATH_NONE ? NULL : p->text.data + at;
}

/* The record's "path": [{"state","type","enteredAt","durationMs","retries"[,"next"|"choice"]
 * [,"error"]}] (new reference). */
static json_t *path_json(const struct path *p)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < p->n; i++) {
        const struct path_step *st = &p->steps[i];
        const char *state = path_str(p, st->state), *type = path_str(p, st->type);
        const char *next = path_str(p, st->next), *error = path_str(p, st->error);
        json_t *node = json_pack("{s:s, s:s, s:I, s:f, s:i}", "state", state ? state : "", "type",
                                 type ? type : "", "enteredAt", (json_int_t)st->entered_ms,
                                 "durationMs", (double)st->duration_us / 1000.0, "retries",
                                 (int)st->retries);
        if (next)
            json_object_set_new(node, type && strcmp(type, "Choice") == 0 ? "choice" : "next",
                                json_string(next));
        if (error)
            json_object_set_new(node, "error", json_string(error));
        json_array_append_new(arr, node);
    }
    return arr;
}

static char *read_file(const char *path, struct err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        err_set(err, "InvalidConfig", "cannot read state machine '%s'", path);
        return NULL;
    }
    /* Twice the definition cap, so that the parser, not this reader, reports a definition that
     * is only a little too large; one byte more tells "too large" from "exactly the cap". */
    const size_t max = (size_t)SFN_MAX_DEFINITION_BYTES * 2;
    struct buf b;
    buf_init(&b, max + 1);
    char *text = NULL;
    for (;;) {
        if (b.len > max) {
            err_set(err, "InvalidConfig", "state machine '%s' is too large", path);
            goto out;
        }
        if (buf_reserve(&b, 65536) < 0)
            (void)buf_reserve(&b, 1); /* cannot fail: len <= max */
        size_t n = fread(b.data + b.len, 1, b.cap - b.len - 1, f);
        buf_commit(&b, n);
        if (n == 0)
            break;
    }
    text = buf_take(&b, NULL);
out:
    fclose(f);
    buf_release(&b);
    return text;
}

struct workflow_local *workflow_local_new(struct agent *a, const char *asl_path, struct err *err)
{
    char *text = read_file(asl_path, err);
    if (!text)
        return NULL;
    struct sfn_machine *m = sfn_machine_parse(text, err);
    free(text);
    if (!m) {
        char msg[ERR_MSG_MAX];
        snprintf(msg, sizeof msg, "%s", err->message);
        err_set(err, "States.InvalidDefinition", "'%s': %s", asl_path, msg);
        return NULL;
    }
    struct workflow_local *w = xcalloc(1, sizeof *w);
    w->machine = m;
    size_t n = 0;
    while (agent_handlers[n].name)
        n++;
    w->bindings = xcalloc(n, sizeof *w->bindings);
    w->lambdas = xcalloc(n, sizeof *w->lambdas);
    for (size_t i = 0; i < n; i++) {
        w->bindings[i] = (struct binding){a, agent_handlers[i].fn, agent_handlers[i].name};
        w->lambdas[i] = (struct sfn_lambda_handler){agent_handlers[i].name, call_bound,
                                                    &w->bindings[i]};
    }
    w->table = (struct sfn_lambda_table){w->lambdas, n};
    log_at(LL_DEBUG, "workflow", "compiled '%s' (%zu states)", asl_path,
           sfn_machine_state_count(m));
    return w;
}

void workflow_local_attach(struct workflow_local *w, struct agent *a)
{
    assert(w && a && !a->workflow); /* an agent runs one workflow */
    a->workflow = workflow_local_run;
    a->workflow_ud = w;
}

json_t *workflow_local_run(struct agent *a, json_t *state, struct err *err)
{
    assert(a->workflow_ud && json_is_object(state));
    struct workflow_local *w = a->workflow_ud;
    struct sfn_run_opts opts = {
        .task = sfn_lambda_task,
        .task_ud = &w->table,
        .state_machine_name = "ParleyAgentWorkflow",
    };
    struct sfn_result res = {0};
    json_t *out = NULL;
    char exec_id[37];
    rand_uuid4(exec_id);
    opts.execution_name = exec_id;
    struct path path = {0};
    buf_init(&path.text, PATH_TEXT_MAX);
    if (a->hooks && a->hooks->on_execution) {
        opts.on_state = on_state;
        opts.state_ud = &path;
    }
    int64_t started = clock_now_ms(), t0 = clock_mono_us();
    int rc = sfn_run(w->machine, state, &opts, &res);
    /* A successful execution has an output; a failed one has no output to leak. */
    assert(rc != 0 || (res.status == SFN_SUCCEEDED) == (res.output != NULL));
    if (a->hooks && a->hooks->on_execution) {
        struct trace_ctx *seg = agent_trace_current();
        json_t *rec = json_pack("{s:s, s:O, s:s, s:I, s:f, s:o}", "executionId", exec_id,
                                "sessionId", json_object_get(state, "sessionId"), "status",
                                rc == 0 ? sfn_status_name(res.status) : "FAILED", "startedAt",
                                (json_int_t)started, "durationMs",
                                (double)(clock_mono_us() - t0) / 1000.0, "path", path_json(&path));
        if (seg)
            json_object_set_new(rec, "traceId", json_string(trace_id_of(seg)));
        if (rc == 0 && res.status == SFN_SUCCEEDED)
            json_object_set(rec, "turn", json_object_get(res.output, "turn"));
        else
            json_object_set_new(rec, "error",
                                json_string(res.error ? res.error : "States.Runtime"));
        a->hooks->on_execution(a, rec);
        json_decref(rec);
    }
    free(path.steps);
    buf_release(&path.text);
    if (rc == 0 && res.status == SFN_SUCCEEDED) {
        out = json_incref(res.output);
    } else {
        const char *cause = res.cause ? res.cause : "";
        /* A handler's failure carries its own error code (NotFound, StoreError, ...) as the
         * error name; the cause is Lambda's {"errorMessage","errorType"} document. */
        json_t *doc = json_loads(cause, 0, NULL);
        const char *msg = json_string_value(json_object_get(doc, "errorMessage"));
        err_set(err, res.error ? res.error : "States.Runtime", "%s", msg ? msg : cause);
        json_decref(doc);
    }
    sfn_result_release(&res);
    return out;
}

void workflow_local_free(struct workflow_local *w)
{
    if (!w)
        return;
    sfn_machine_free(w->machine);
    free(w->bindings);
    free(w->lambdas);
    free(w);
}
