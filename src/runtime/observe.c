/*
 * observe.c - the agent hooks every host installs; see observe.h. Metrics go to the process-wide
 * registry (telemetry/metrics.h); EMF lines to the configured stream; archiving either through the
 * archiver thread or, on Lambda, straight to the archive before the invocation answers.
 */
#include "runtime/observe.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "base/guard.h"
#include "agent/transcript.h"
#include "archive/archive.h"
#include "archive/archiver.h"
#include "base/clock.h"
#include "base/jsonb.h"
#include "base/jsontext.h"
#include "base/log.h"
#include "base/sched.h"
#include "base/xmalloc.h"
#include "telemetry/metrics.h"
#include "telemetry/trace.h"

static struct observe *obs_of(struct agent *a)
{
    assert(a->hooks_ud); /* installing observe_hooks without its struct observe is our bug */
    return a->hooks_ud;
}

static const char *provider_of(const struct agent *a)
{
    return a->model ? model_name(a->model) : "unknown";
}

/* ---------------------------------------------------------------- EMF lines */

/* Writes one EMF line (namespace "Parley", the dimensions Service="parley" and dims, then vals)
 * to the configured stream. Failures are logged, never fatal: a metric must not fail a turn. */
static void emf_write(struct observe *o, const struct metrics_emf_dim *dims, size_t ndims,
                      const struct metrics_emf_value *vals, size_t nvals)
{
    struct metrics_emf_dim all[4] = {{"Service", "parley"}};
    assert(ndims < sizeof all / sizeof *all); /* our own call sites */
    for (size_t i = 0; i < ndims; i++)
        all[i + 1] = dims[i];
    char *line = NULL;
    struct err e;
    err_clear(&e);
    if (metrics_emf_line("Parley", all, ndims + 1, vals, nvals, NULL, 0, clock_now_ms(), &line,
                         &e) < 0) {
        log_at(LL_WARN, "observe", "cannot build an EMF line: %s", e.message);
        return;
    }
    flockfile(o->cfg.emf);
    if (fputs(line, o->cfg.emf) < 0 || putc_unlocked('\n', o->cfg.emf) == EOF)
        log_at(LL_WARN, "observe", "cannot write an EMF line");
    funlockfile(o->cfg.emf);
    free(line);
}

/* 1 when every event gets its own EMF line: a per-invocation host (Lambda) has no GET /metrics,
 * so these lines carry what serve's Prometheus families carry (model calls by provider, actions
 * by tool and status, errors by code, budgets, conversation duration). */
static int emf_per_event(const struct observe *o)
{
    return o->cfg.emf && o->cfg.per_invocation;
}

/* A value that is not a usable dimension (empty, too long) is written as "_invalid", as the
 * Prometheus registry does, so the line is never refused. */
static const char *dim_value(const char *v)
{
    return v && *v && strlen(v) <= METRICS_LABEL_VALUE_MAX ? v : "_invalid";
}

/* ---------------------------------------------------------------- metrics */

/* A turn-level error by code: parley_errors_total{code}, and on Lambda an Errors line with the
 * dimension Code. */
static void note_error(struct observe *o, const char *code)
{
    metrics_error(code);
    if (emf_per_event(o))
        emf_write(o, &(struct metrics_emf_dim){"Code", dim_value(code)}, 1,
                  &(struct metrics_emf_value){"Errors", "Count", 1}, 1);
}

static void on_error(struct agent *a, const json_t *state, const char *error, const char *cause)
{
    (void)state;
    (void)cause;
    struct observe *o = obs_of(a);
    note_error(o, error);
    pthread_mutex_lock(&o->lock);
    o->errors++;
    pthread_mutex_unlock(&o->lock);
}

static void on_tool(struct agent *a, const char *tool, int ok, double seconds)
{
    struct observe *o = obs_of(a);
    const char *status = ok ? "succeeded" : "failed";
    metrics_action(tool, status, seconds);
    if (emf_per_event(o)) {
        struct metrics_emf_dim dims[] = {{"Tool", dim_value(tool)}, {"Status", status}};
        struct metrics_emf_value vals[] = {{"ToolCalls", "Count", 1},
                                           {"ToolLatency", "Milliseconds", seconds * 1000.0}};
        emf_write(o, dims, 2, vals, 2);
    }
    pthread_mutex_lock(&o->lock);
    o->tools++;
    pthread_mutex_unlock(&o->lock);
}

static void on_model(struct agent *a, double seconds, long long in, long long out)
{
    struct observe *o = obs_of(a);
    uint64_t tin = (uint64_t)(in > 0 ? in : 0), tout = (uint64_t)(out > 0 ? out : 0);
    metrics_model_latency(provider_of(a), seconds);
    metrics_tokens(tin, tout);
    if (emf_per_event(o)) {
        /* Per call; the invocation's token and latency sums go on the turn or flush line. */
        struct metrics_emf_value vals[] = {{"ModelCalls", "Count", 1},
                                           {"ModelCallLatency", "Milliseconds", seconds * 1000.0}};
        emf_write(o, &(struct metrics_emf_dim){"Provider", dim_value(provider_of(a))}, 1, vals, 2);
    }
    pthread_mutex_lock(&o->lock);
    o->model_ms += seconds * 1000.0;
    o->tokens_in += tin;
    o->tokens_out += tout;
    o->model_calls++;
    pthread_mutex_unlock(&o->lock);
}

static void on_turn(struct agent *a, const json_t *response, const struct err *err, double seconds)
{
    struct observe *o = obs_of(a);
    metrics_turn(seconds);
    if (!response)
        note_error(o, err && err->code[0] ? err->code : "InternalError");
    if (!o->cfg.emf)
        return;
    struct trace_ctx *seg = agent_trace_current();
    struct metrics_turn_emf t = {
        .turn_ms = seconds * 1000.0,
        .tools = (unsigned)json_array_size(json_object_get(response, "actions")),
        .error = response == NULL,
        .provider = provider_of(a),
        .session_id = json_string_value(json_object_get(response, "sessionId")),
        .trace_id = seg ? trace_id_of(seg) : NULL,
    };
    if (o->cfg.per_invocation) {
        /* One turn per invocation: this line carries what the invocation measured. */
        pthread_mutex_lock(&o->lock);
        t.model_ms = o->model_ms;
        t.tokens_in = o->tokens_in;
        t.tokens_out = o->tokens_out;
        o->turn_written = 1;
        pthread_mutex_unlock(&o->lock);
    }
    if (metrics_emf_turn(o->cfg.emf, &t) < 0)
        log_at(LL_WARN, "observe", "cannot write an EMF line");
}

/* ---------------------------------------------------------------- archiving */

/* Writes the session's transcript to the archive now (Lambda: the process may be frozen after
 * the response). A failure is logged and never fails the turn: the transcript is in the store and
 * the next turn writes the archive again. */
static SCHED_OUT_OF_LINE void archive_now(struct agent *a, struct archive *archive, const char *sid)
{
    struct err e;
    err_clear(&e);
    json_t *doc = transcript_document(a->store, sid, &e);
    json_t *session = NULL;
    char key[ARCHIVE_KEY_MAX + 1];
    char *text = NULL;
    /* The key carries the date the session started (epoch ms in the session header). */
    if (!doc || store_session_get(a->store, sid, &session, &e) < 0 ||
        archive_key_for(sid, json_integer_value(json_object_get(session, "createdAt")), key,
                        sizeof key, &e) < 0)
        goto fail;
    guard_redact_json(doc, a->redact);
    text = jsontext_dump(doc);
    if (archive_put(archive, key, text, strlen(text), &e) < 0)
        goto fail;
    agent_emit(a, BUS_CONVERSATION_ARCHIVED,
               jsonb_object("sessionId", jsonb_str(sid), "key", jsonb_str(key), NULL));
    goto out;
fail:
    log_at(LL_WARN, "observe", "transcript of '%s' not archived: %s", sid, e.message);
out:
    free(text);
    json_decref(session);
    json_decref(doc);
}

/* Scheduling a session's archiving (archiver_mark: a lock and a signal, no wait on the network),
 * for the deep stack. */
struct mark_call {
    struct archiver *archiver;
    const char *sid;
    json_int_t created;
};

static void mark_on_deep_stack(void *ud)
{
    struct mark_call *m = ud;
    struct err e;
    err_clear(&e);
    if (archiver_mark(m->archiver, m->sid, m->created, &e) < 0)
        log_at(LL_WARN, "observe", "cannot schedule archiving of '%s': %s", m->sid, e.message);
}

static void on_saved(struct agent *a, const json_t *state, int turn_no)
{
    (void)turn_no;
    struct observe *o = obs_of(a);
    json_int_t created = json_integer_value(json_object_get(state, "createdAt"));
    const char *sid = json_string_value(json_object_get(state, "sessionId"));
    if (created > 0) {
        double seconds = (double)(clock_now_ms() - created) / 1000.0;
        metrics_conversation_duration(seconds);
        if (emf_per_event(o))
            emf_write(o, NULL, 0,
                      &(struct metrics_emf_value){"ConversationDuration", "Seconds", seconds}, 1);
    }
    if (!sid)
        return;
    if (o->cfg.archiver) {
        struct mark_call m = {o->cfg.archiver, sid, created};
        sched_call_deep(mark_on_deep_stack, &m); /* its error is a 512-byte frame; see sched.h */
    } else if (o->cfg.archive) {
        archive_now(a, o->cfg.archive, sid);
    }
}

/* ---------------------------------------------------------------- executions */

/* An execution record kept for the console, as its compact JSON text: a parsed record (its path
 * and turn as jansson trees) took ~10x the memory, and the 2,000 kept were tens of MB. */
struct observe_record {
    char *session_id; /* the record's sessionId ("" none) */
    char *json;       /* the record */
};

static void on_execution(struct agent *a, const json_t *execution)
{
    struct observe *o = obs_of(a);
    if (!o->cfg.keep_executions)
        return;
    const char *sid = json_string_value(json_object_get(execution, "sessionId"));
    struct observe_record rec = {xstrdup(sid ? sid : ""), jsontext_dump(execution)};
    if (!rec.json) { /* a NaN or infinite real: not a record this module builds */
        free(rec.session_id);
        return;
    }
    pthread_mutex_lock(&o->lock);
    struct observe_record old = o->executions[o->next_execution];
    o->executions[o->next_execution] = rec;
    o->next_execution = (o->next_execution + 1) % OBSERVE_EXECUTIONS;
    if (o->n_executions < OBSERVE_EXECUTIONS)
        o->n_executions++;
    pthread_mutex_unlock(&o->lock);
    free(old.session_id);
    free(old.json);
}

json_t *observe_executions(struct observe *o, const char *session_id)
{
    json_t *out = json_array();
    pthread_mutex_lock(&o->lock);
    size_t first = o->n_executions < OBSERVE_EXECUTIONS ? 0 : o->next_execution;
    for (size_t k = 0; k < o->n_executions; k++) {
        const struct observe_record *r = &o->executions[(first + k) % OBSERVE_EXECUTIONS];
        if (strcmp(r->session_id, session_id) != 0)
            continue;
        json_t *x = json_loads(r->json, 0, NULL);
        if (x)
            json_array_append_new(out, x);
    }
    pthread_mutex_unlock(&o->lock);
    return out;
}

/* ---------------------------------------------------------------- flush */

void observe_flush(struct observe *o, const char *provider)
{
    pthread_mutex_lock(&o->lock);
    int write = o->cfg.emf && o->cfg.per_invocation && !o->turn_written &&
                (o->model_calls || o->tools || o->errors);
    struct metrics_emf_value vals[] = {
        {"ModelLatency", "Milliseconds", o->model_ms}, {"TokensIn", "Count", (double)o->tokens_in},
        {"TokensOut", "Count", (double)o->tokens_out}, {"ToolCount", "Count", (double)o->tools},
        {"Errors", "Count", (double)o->errors},
    };
    o->model_ms = 0;
    o->tokens_in = o->tokens_out = 0;
    o->model_calls = o->tools = o->errors = 0;
    o->turn_written = 0;
    pthread_mutex_unlock(&o->lock);
    if (write) {
        /* A workflow Task measured model calls or tools without a turn line: one line with the
         * same namespace and dimensions as a turn's, without TurnLatency. */
        emf_write(o,
                  &(struct metrics_emf_dim){"Provider",
                                            provider && *provider ? provider : "unknown"},
                  1, vals, sizeof vals / sizeof *vals);
    }
    if (o->cfg.emf)
        fflush(o->cfg.emf);
    if (o->cfg.bus && bus_flush(o->cfg.bus, o->cfg.bus_flush_ms) < 0)
        log_at(LL_WARN, "observe", "events still queued after %ld ms", o->cfg.bus_flush_ms);
}

static void on_flush(struct agent *a)
{
    observe_flush(obs_of(a), provider_of(a));
}

static void on_budget(struct agent *a, long long server_today, const char *refused_scope)
{
    struct observe *o = obs_of(a);
    metrics_budget((double)server_today, refused_scope);
    if (!emf_per_event(o))
        return;
    if (server_today >= 0)
        emf_write(o, NULL, 0,
                  &(struct metrics_emf_value){"BudgetTokensToday", "Count", (double)server_today},
                  1);
    if (refused_scope)
        emf_write(o, &(struct metrics_emf_dim){"Scope", refused_scope}, 1,
                  &(struct metrics_emf_value){"BudgetRefusals", "Count", 1}, 1);
}

/* ---------------------------------------------------------------- the table */

const struct agent_hooks observe_hooks = {
    .on_tool = on_tool,
    .on_model = on_model,
    .on_saved = on_saved,
    .on_execution = on_execution,
    .on_turn = on_turn,
    .on_error = on_error,
    .flush = on_flush,
    .on_budget = on_budget,
};

const struct agent_hooks *observe_hooks_of(const struct observe *o)
{
    return &o->hooks;
}

void observe_init(struct observe *o, const struct observe_config *cfg)
{
    memset(o, 0, sizeof *o);
    o->cfg = *cfg;
    /* Where no record is kept, the table has no on_execution: the workflow then neither tracks
     * the path of an execution nor builds its record (2% of a new-session turn's CPU samples). */
    o->hooks = observe_hooks;
    if (!cfg->keep_executions)
        o->hooks.on_execution = NULL;
    pthread_mutex_init(&o->lock, NULL);
    o->executions = xcalloc(OBSERVE_EXECUTIONS, sizeof *o->executions);
}

void observe_release(struct observe *o)
{
    if (!o->executions)
        return; /* never initialised */
    pthread_mutex_destroy(&o->lock);
    for (size_t i = 0; i < OBSERVE_EXECUTIONS; i++) {
        free(o->executions[i].session_id);
        free(o->executions[i].json);
    }
    free(o->executions);
    o->executions = NULL;
}
