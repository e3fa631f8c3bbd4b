/*
 * parse.c - validate an ASL definition and compile it into an immutable struct sfn_machine.
 *
 * Validation never stops at the first problem: every problem is appended to a list with its JSON
 * location (a JSON-Pointer-like "/States/Name/Field") so a user can fix a definition in one go.
 * Compilation happens in the same walk; a machine is returned only when the list is empty.
 */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/xmalloc.h"
#include "sfn/sfn_int.h"

/* ---- which fields each state type accepts (STYLE rule 16: tables for closed sets) ---- */
#define B(t) (1u << (t))
#define ALL_T ((1u << ST__COUNT) - 1)
#define IO_T (ALL_T & ~B(ST_FAIL))
#define NEXT_T (B(ST_TASK) | B(ST_PASS) | B(ST_WAIT) | B(ST_PARALLEL) | B(ST_MAP))
#define RES_T (B(ST_TASK) | B(ST_PARALLEL) | B(ST_MAP))

static const struct {
    const char *name;
    unsigned types;
} fields[] = {
    {"Type", ALL_T},
    {"Comment", ALL_T},
    {"QueryLanguage", ALL_T},
    {"Next", NEXT_T},
    {"End", NEXT_T},
    {"InputPath", IO_T},
    {"OutputPath", IO_T},
    {"Parameters", RES_T | B(ST_PASS)},
    {"ResultPath", RES_T | B(ST_PASS)},
    {"ResultSelector", RES_T},
    {"Retry", RES_T},
    {"Catch", RES_T},
    {"Result", B(ST_PASS)},
    {"Resource", B(ST_TASK)},
    {"TimeoutSeconds", B(ST_TASK)},
    {"TimeoutSecondsPath", B(ST_TASK)},
    {"HeartbeatSeconds", B(ST_TASK)},
    {"HeartbeatSecondsPath", B(ST_TASK)},
    {"Credentials", B(ST_TASK)},
    {"Choices", B(ST_CHOICE)},
    {"Default", B(ST_CHOICE)},
    {"Seconds", B(ST_WAIT)},
    {"SecondsPath", B(ST_WAIT)},
    {"Timestamp", B(ST_WAIT)},
    {"TimestampPath", B(ST_WAIT)},
    {"Error", B(ST_FAIL)},
    {"ErrorPath", B(ST_FAIL)},
    {"Cause", B(ST_FAIL)},
    {"CausePath", B(ST_FAIL)},
    {"Branches", B(ST_PARALLEL)},
    {"Iterator", B(ST_MAP)},
    {"ItemProcessor", B(ST_MAP)},
    {"ItemsPath", B(ST_MAP)},
    {"ItemSelector", B(ST_MAP)},
    {"MaxConcurrency", B(ST_MAP)},
    {"MaxConcurrencyPath", B(ST_MAP)},
    {"ToleratedFailureCount", B(ST_MAP)},
    {"ToleratedFailureCountPath", B(ST_MAP)},
    {"ToleratedFailurePercentage", B(ST_MAP)},
    {"ToleratedFailurePercentagePath", B(ST_MAP)},
    {"Label", B(ST_MAP)},
    {"ItemReader", B(ST_MAP)},
    {"ResultWriter", B(ST_MAP)},
    {"ItemBatcher", B(ST_MAP)},
};

static const char *op_names[] = {
#define X(n) #n,
    SFN_CHOICE_OPS(X)
#undef X
};
#define N_CMP_OPS (sizeof op_names / sizeof op_names[0])

struct pctx {
    struct sfn_problem_list *pl;
    json_t *all_names; /* every state name in the machine, for uniqueness */
    size_t total;
    int too_many;
};

/* ------------------------------------------------------------------------------------------ */
/* freeing                                                                                    */

static void graph_free(struct sfn__graph *g);

static void errlist_release(struct sfn__errlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->names[i]);
    free(l->names);
}

static void rule_release(struct sfn__rule *r)
{
    jsonpath_free(r->var);
    jsonpath_free(r->operand_path);
    if (r->operand)
        json_decref(r->operand);
    for (size_t i = 0; i < r->nkids; i++)
        rule_release(&r->kids[i]);
    free(r->kids);
}

static void state_release(struct sfn__state *s)
{
    free(s->name);
    jsonpath_free(s->input_path);
    jsonpath_free(s->output_path);
    jsonpath_free(s->result_path);
    sfn__tmpl_free(s->parameters);
    sfn__tmpl_free(s->result_selector);
    if (s->result)
        json_decref(s->result);
    free(s->resource);
    free(s->resource_type);
    free(s->resource_name);
    jsonpath_free(s->timeout_path);
    jsonpath_free(s->heartbeat_path);
    for (size_t i = 0; i < s->nretry; i++)
        errlist_release(&s->retry[i].errors);
    free(s->retry);
    for (size_t i = 0; i < s->ncatch; i++) {
        errlist_release(&s->catch_[i].errors);
        jsonpath_free(s->catch_[i].result_path);
    }
    free(s->catch_);
    for (size_t i = 0; i < s->nrules; i++)
        rule_release(&s->rules[i]);
    free(s->rules);
    jsonpath_free(s->seconds_path);
    jsonpath_free(s->timestamp_path);
    free(s->fail_error);
    free(s->fail_cause);
    jsonpath_free(s->error_src.path);
    sfn__intrinsic_free(s->error_src.fn);
    jsonpath_free(s->cause_src.path);
    sfn__intrinsic_free(s->cause_src.fn);
    for (size_t i = 0; i < s->nbranches; i++)
        graph_free(s->branches[i]);
    free(s->branches);
    graph_free(s->processor);
    jsonpath_free(s->items_path);
    jsonpath_free(s->tolerated_count_path);
    jsonpath_free(s->max_concurrency_path);
    jsonpath_free(s->tolerated_pct_path);
}

static void graph_free(struct sfn__graph *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->n; i++)
        state_release(&g->states[i]);
    free(g->states);
    free(g);
}

void sfn_machine_free(struct sfn_machine *m)
{
    if (!m)
        return;
    graph_free(m->top);
    free(m);
}

size_t sfn_machine_state_count(const struct sfn_machine *m)
{
    return m->total_states;
}

/* ------------------------------------------------------------------------------------------ */
/* field helpers                                                                              */

static char *at(const char *where, const char *field)
{
    return xasprintf("%s/%s", where, field);
}

/* Compiles an optional path field. null is allowed when *is_null is not NULL. */
static void path_field(struct pctx *c, json_t *st, const char *where, const char *field, int flags,
                       struct jsonpath **out, int *is_null)
{
    json_t *v = json_object_get(st, field);
    if (!v)
        return;
    char *w = at(where, field);
    if (json_is_null(v) && is_null) {
        *is_null = 1;
    } else if (!json_is_string(v)) {
        sfn__problem_add(c->pl, w, "%s must be a string%s", field, is_null ? " or null" : "");
    } else {
        struct err e = {0};
        *out = jsonpath_compile(json_string_value(v), flags, &e);
        if (!*out)
            sfn__problem_add(c->pl, w, "%s", e.message);
    }
    free(w);
}

static int int_field(struct pctx *c, json_t *st, const char *where, const char *field, long min,
                     long *out)
{
    json_t *v = json_object_get(st, field);
    if (!v)
        return 0;
    char *w = at(where, field);
    int rc = 0;
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > 99999999) {
        sfn__problem_add(c->pl, w, "%s must be an integer between %ld and 99999999", field, min);
        rc = -1;
    } else {
        *out = (long)json_integer_value(v);
        rc = 1;
    }
    free(w);
    return rc;
}

static void exclusive(struct pctx *c, json_t *st, const char *where, const char *a, const char *b)
{
    if (json_object_get(st, a) && json_object_get(st, b))
        sfn__problem_add(c->pl, where, "%s and %s cannot both be set", a, b);
}

static void valsrc_field(struct pctx *c, json_t *st, const char *where, const char *field,
                         struct sfn__valsrc *out)
{
    json_t *v = json_object_get(st, field);
    if (!v)
        return;
    char *w = at(where, field);
    struct err e = {0};
    const char *s = json_string_value(v);
    if (!s) {
        sfn__problem_add(c->pl, w, "%s must be a string", field);
    } else if (!strncmp(s, "States.", 7)) {
        out->fn = sfn__intrinsic_compile(s, &e);
        if (!out->fn)
            sfn__problem_add(c->pl, w, "%s", e.message);
    } else {
        out->path = jsonpath_compile(s, 0, &e);
        if (!out->path)
            sfn__problem_add(c->pl, w, "%s", e.message);
    }
    free(w);
}

static int lookup_state(json_t *names, const char *name)
{
    json_t *v = json_object_get(names, name);
    return v ? (int)json_integer_value(v) : -1;
}

static void next_field(struct pctx *c, json_t *names, json_t *v, const char *where, int *out)
{
    if (!json_is_string(v)) {
        sfn__problem_add(c->pl, where, "Next must be a string naming a state");
        return;
    }
    int i = lookup_state(names, json_string_value(v));
    if (i < 0)
        sfn__problem_add(c->pl, where, "Next names the unknown state '%s'", json_string_value(v));
    *out = i;
}

static void errlist(struct pctx *c, json_t *v, const char *where, struct sfn__errlist *out,
                    int is_catch)
{
    char *w = at(where, "ErrorEquals");
    if (!json_is_array(v) || json_array_size(v) == 0) {
        sfn__problem_add(c->pl, w, "ErrorEquals must be a non-empty array of error names");
        free(w);
        return;
    }
    size_t i;
    json_t *x;
    out->names = xcalloc(json_array_size(v), sizeof *out->names);
    json_array_foreach(v, i, x) {
        if (!json_is_string(x)) {
            sfn__problem_add(c->pl, w, "ErrorEquals[%zu] must be a string", i);
            continue;
        }
        const char *s = json_string_value(x);
        if (!strcmp(s, "States.ALL") && json_array_size(v) != 1)
            sfn__problem_add(c->pl, w, "States.ALL must appear alone in ErrorEquals");
        out->names[out->n++] = xstrdup(s);
    }
    (void)is_catch;
    free(w);
}

static int has_all(const struct sfn__errlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->names[i], "States.ALL"))
            return 1;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Retry / Catch                                                                              */

static void compile_retry(struct pctx *c, json_t *v, const char *where, struct sfn__state *s)
{
    if (!json_is_array(v)) {
        sfn__problem_add(c->pl, where, "Retry must be an array of retriers");
        return;
    }
    s->retry = xcalloc(json_array_size(v) + 1, sizeof *s->retry);
    size_t i;
    json_t *r;
    json_array_foreach(v, i, r) {
        char *w = xasprintf("%s/%zu", where, i);
        struct sfn__retrier *rt = &s->retry[s->nretry++];
        rt->interval_s = 1;
        rt->max_attempts = 3;
        rt->backoff = 2.0;
        if (!json_is_object(r)) {
            sfn__problem_add(c->pl, w, "a retrier must be an object");
            free(w);
            continue;
        }
        const char *k;
        json_t *x;
        json_object_foreach(r, k, x) {
            if (strcmp(k, "ErrorEquals") && strcmp(k, "IntervalSeconds") &&
                strcmp(k, "MaxAttempts") && strcmp(k, "BackoffRate") &&
                strcmp(k, "MaxDelaySeconds") && strcmp(k, "JitterStrategy") && strcmp(k, "Comment"))
                sfn__problem_add(c->pl, w, "unknown field '%s' in a retrier", k);
        }
        errlist(c, json_object_get(r, "ErrorEquals"), w, &rt->errors, 0);
        long iv;
        if (int_field(c, r, w, "IntervalSeconds", 1, &iv) > 0)
            rt->interval_s = (double)iv;
        int_field(c, r, w, "MaxAttempts", 0, &rt->max_attempts);
        long md;
        if (int_field(c, r, w, "MaxDelaySeconds", 1, &md) > 0)
            rt->max_delay_s = (double)md;
        json_t *br = json_object_get(r, "BackoffRate");
        if (br) {
            if (!json_is_number(br) || json_number_value(br) < 1.0)
                sfn__problem_add(c->pl, w, "BackoffRate must be a number >= 1.0");
            else
                rt->backoff = json_number_value(br);
        }
        json_t *js = json_object_get(r, "JitterStrategy");
        if (js) {
            const char *jv = json_string_value(js);
            if (!jv || (strcmp(jv, "FULL") && strcmp(jv, "NONE")))
                sfn__problem_add(c->pl, w, "JitterStrategy must be \"FULL\" or \"NONE\"");
            else
                rt->jitter_full = !strcmp(jv, "FULL");
        }
        if (has_all(&rt->errors) && i + 1 != json_array_size(v))
            sfn__problem_add(c->pl, w, "a retrier with States.ALL must be the last retrier");
        free(w);
    }
}

static void compile_catch(struct pctx *c, json_t *v, const char *where, struct sfn__state *s,
                          json_t *names)
{
    if (!json_is_array(v)) {
        sfn__problem_add(c->pl, where, "Catch must be an array of catchers");
        return;
    }
    s->catch_ = xcalloc(json_array_size(v) + 1, sizeof *s->catch_);
    size_t i;
    json_t *r;
    json_array_foreach(v, i, r) {
        char *w = xasprintf("%s/%zu", where, i);
        struct sfn__catcher *ct = &s->catch_[s->ncatch++];
        ct->next = -1;
        if (!json_is_object(r)) {
            sfn__problem_add(c->pl, w, "a catcher must be an object");
            free(w);
            continue;
        }
        const char *k;
        json_t *x;
        json_object_foreach(r, k, x) {
            if (strcmp(k, "ErrorEquals") && strcmp(k, "Next") && strcmp(k, "ResultPath") &&
                strcmp(k, "Comment"))
                sfn__problem_add(c->pl, w, "unknown field '%s' in a catcher", k);
        }
        errlist(c, json_object_get(r, "ErrorEquals"), w, &ct->errors, 1);
        json_t *nx = json_object_get(r, "Next");
        char *wn = at(w, "Next");
        if (!nx)
            sfn__problem_add(c->pl, wn, "a catcher must have Next");
        else
            next_field(c, names, nx, wn, &ct->next);
        free(wn);
        path_field(c, r, w, "ResultPath", JSONPATH_REFERENCE, &ct->result_path,
                   &ct->result_path_null);
        if (ct->result_path && jsonpath_is_context(ct->result_path))
            sfn__problem_add(c->pl, w, "ResultPath cannot refer to the context object");
        if (has_all(&ct->errors) && i + 1 != json_array_size(v))
            sfn__problem_add(c->pl, w, "a catcher with States.ALL must be the last catcher");
        free(w);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Choice rules                                                                               */

static int find_op(const char *k)
{
    for (size_t i = 0; i < N_CMP_OPS; i++) {
        if (!strcmp(k, op_names[i]))
            return (int)i;
        size_t l = strlen(op_names[i]);
        if (!strncmp(k, op_names[i], l) && !strcmp(k + l, "Path") && strncmp(k, "Is", 2) &&
            strcmp(op_names[i], "StringMatches"))
            return (int)i + 1000; /* path variant */
    }
    return -1;
}

/* The operand of comparison k (op from find_op: +1000 for the ...Path variant): a literal of
 * the operator's type, or a Reference Path. */
static void compile_operand(struct pctx *c, const char *k, json_t *v, const char *w, int op,
                            struct sfn__rule *out)
{
    int is_path = op >= 1000;
    out->op = (enum sfn__op)(is_path ? op - 1000 : op);
    if (is_path) {
        struct err e = {0};
        if (!json_is_string(v))
            sfn__problem_add(c->pl, w, "%s must be a path string", k);
        else if (!(out->operand_path = jsonpath_compile(json_string_value(v), JSONPATH_REFERENCE,
                                                        &e)))
            sfn__problem_add(c->pl, w, "%s", e.message);
        return;
    }
    const char *tn = op_names[op];
    int ok;
    if (!strncmp(tn, "Is", 2) || !strcmp(tn, "BooleanEquals")) {
        ok = json_is_boolean(v);
    } else if (!strncmp(tn, "Numeric", 7)) {
        ok = json_is_number(v);
    } else if (!strncmp(tn, "Timestamp", 9)) {
        int64_t sec;
        int32_t ns;
        ok = json_is_string(v) && sfn__parse_timestamp(json_string_value(v), &sec, &ns) == 0;
    } else {
        ok = json_is_string(v);
    }
    if (!ok)
        sfn__problem_add(c->pl, w, "%s needs %s", k,
                         !strncmp(tn, "Is", 2) || !strcmp(tn, "BooleanEquals") ? "a boolean"
                         : !strncmp(tn, "Numeric", 7)                          ? "a number"
                         : !strncmp(tn, "Timestamp", 9)
                             ? "an RFC 3339 timestamp string such as \"2016-03-14T01:59:00Z\""
                             : "a string");
    else
        out->operand = json_incref(v);
}

static void compile_rule(struct pctx *c, json_t *r, const char *where, struct sfn__rule *out,
                         int top, json_t *names, int depth)
{
    out->next = -1;
    out->op = OP_IsPresent;
    if (!json_is_object(r)) {
        sfn__problem_add(c->pl, where, "a choice rule must be an object");
        return;
    }
    if (depth > 64) {
        sfn__problem_add(c->pl, where, "choice rules nested deeper than 64 levels");
        return;
    }
    int nops = 0;
    const char *k;
    json_t *v;
    json_object_foreach(r, k, v) {
        if (!strcmp(k, "Variable") || !strcmp(k, "Comment") || !strcmp(k, "Next"))
            continue;
        int is_op = !strcmp(k, "And") || !strcmp(k, "Or") || !strcmp(k, "Not") || find_op(k) >= 0;
        if (is_op && nops > 0) {
            nops++; /* reported below; only the first operator is compiled (no leaked operand) */
            continue;
        }
        char *w = at(where, k);
        if (!strcmp(k, "And") || !strcmp(k, "Or")) {
            nops++;
            out->op = k[0] == 'A' ? OP_AND : OP_OR;
            if (!json_is_array(v) || json_array_size(v) == 0) {
                sfn__problem_add(c->pl, w, "%s must be a non-empty array of rules", k);
            } else {
                out->kids = xcalloc(json_array_size(v), sizeof *out->kids);
                size_t i;
                json_t *x;
                json_array_foreach(v, i, x) {
                    char *wi = xasprintf("%s/%zu", w, i);
                    compile_rule(c, x, wi, &out->kids[out->nkids++], 0, names, depth + 1);
                    free(wi);
                }
            }
        } else if (!strcmp(k, "Not")) {
            nops++;
            out->op = OP_NOT;
            out->kids = xcalloc(1, sizeof *out->kids);
            out->nkids = 1;
            compile_rule(c, v, w, &out->kids[0], 0, names, depth + 1);
        } else {
            int op = find_op(k);
            if (op < 0) {
                sfn__problem_add(c->pl, w, "unknown field '%s' in a choice rule", k);
                free(w);
                continue;
            }
            nops++;
            compile_operand(c, k, v, w, op, out);
        }
        free(w);
    }
    if (nops != 1)
        sfn__problem_add(c->pl, where,
                         nops ? "a choice rule must have exactly one comparison operator, And, "
                                "Or or Not"
                              : "a choice rule needs a comparison operator (e.g. StringEquals), "
                                "And, Or or Not");
    json_t *var = json_object_get(r, "Variable");
    int is_cmp = out->op != OP_AND && out->op != OP_OR && out->op != OP_NOT;
    if (nops == 1 && is_cmp && !var)
        sfn__problem_add(c->pl, where, "a comparison needs Variable");
    if (var && !is_cmp)
        sfn__problem_add(c->pl, where, "And, Or and Not rules cannot have Variable");
    if (var) {
        char *w = at(where, "Variable");
        struct err e = {0};
        if (!json_is_string(var))
            sfn__problem_add(c->pl, w, "Variable must be a path string");
        else if (!(out->var = jsonpath_compile(json_string_value(var), JSONPATH_REFERENCE, &e)))
            sfn__problem_add(c->pl, w, "%s", e.message);
        free(w);
    }
    json_t *nx = json_object_get(r, "Next");
    char *wn = at(where, "Next");
    if (top && !nx)
        sfn__problem_add(c->pl, wn, "a top-level choice rule must have Next");
    else if (!top && nx)
        sfn__problem_add(c->pl, wn, "a nested choice rule cannot have Next");
    else if (nx)
        next_field(c, names, nx, wn, &out->next);
    free(wn);
}

/* ------------------------------------------------------------------------------------------ */
/* states and graphs                                                                          */

static struct sfn__graph *compile_graph(struct pctx *c, json_t *obj, const char *where, int depth,
                                        int is_processor);

static int tmpl_uses_ctx(const struct sfn__tmpl *t)
{
    return t && t->uses_context;
}

/* "Task, Pass, ... or Map", from the state type list. Returns a heap string. */
static char *type_list(void)
{
    char *s = xstrdup("");
    for (int i = 0; i < ST__COUNT; i++) {
        const char *sep = i == 0 ? "" : i == ST__COUNT - 1 ? " or " : ", ";
        char *n = xasprintf("%s%s%s", s, sep, sfn__type_name((enum sfn__type)i));
        free(s);
        s = n;
    }
    return s;
}

/* Reads Type into s->type. Returns 0, or -1 (with a problem) when Type is missing or unknown. */
static int compile_type(struct pctx *c, json_t *st, const char *where, struct sfn__state *s)
{
    json_t *ty = json_object_get(st, "Type");
    int t = sfn__type_lookup(json_string_value(ty));
    if (t >= 0) {
        s->type = (enum sfn__type)t;
        return 0;
    }
    char *w = at(where, "Type");
    if (!ty) {
        sfn__problem_add(c->pl, w, "a state must have Type");
    } else {
        char *list = type_list();
        sfn__problem_add(c->pl, w, "unknown Type %s%s%s (use %s)", json_is_string(ty) ? "'" : "",
                         json_is_string(ty) ? json_string_value(ty) : "(not a string)",
                         json_is_string(ty) ? "'" : "", list);
        free(list);
    }
    free(w);
    return -1;
}

/* Every field must be known and allowed for the state's type; QueryLanguage must be JSONPath. */
static void check_fields(struct pctx *c, json_t *st, const char *where, enum sfn__type t)
{
    const char *k;
    json_t *v;
    json_object_foreach(st, k, v) {
        size_t i, nf = sizeof fields / sizeof fields[0];
        for (i = 0; i < nf; i++)
            if (!strcmp(fields[i].name, k))
                break;
        if (i == nf)
            sfn__problem_add(c->pl, where, "unknown field '%s'", k);
        else if (!(fields[i].types & B(t)))
            sfn__problem_add(c->pl, where, "field '%s' is not allowed in a %s state", k,
                             sfn__type_name(t));
    }
    json_t *ql = json_object_get(st, "QueryLanguage");
    if (ql && !(json_is_string(ql) && !strcmp(json_string_value(ql), "JSONPath")))
        sfn__problem_add(c->pl, where, "QueryLanguage %s is not supported yet (only JSONPath is)",
                         json_is_string(ql) ? json_string_value(ql) : "(not a string)");
}

/* Next / End, for the types that take them. */
static void compile_next(struct pctx *c, json_t *st, const char *where, struct sfn__state *s,
                         json_t *names)
{
    json_t *nx = json_object_get(st, "Next"), *end = json_object_get(st, "End");
    if (!(B(s->type) & NEXT_T))
        return;
    if (end && !json_is_boolean(end))
        sfn__problem_add(c->pl, where, "End must be a boolean");
    int is_end = json_is_true(end);
    if (nx && is_end) {
        sfn__problem_add(c->pl, where, "Next and \"End\": true cannot both be set");
    } else if (!nx && !is_end) {
        sfn__problem_add(c->pl, where, "a %s state needs Next or \"End\": true",
                         sfn__type_name(s->type));
    } else if (nx) {
        char *w = at(where, "Next");
        next_field(c, names, nx, w, &s->next);
        free(w);
    }
}

/* InputPath, OutputPath, ResultPath, Parameters (or ItemSelector) and ResultSelector. */
static void compile_io(struct pctx *c, json_t *st, const char *where, struct sfn__state *s)
{
    path_field(c, st, where, "InputPath", 0, &s->input_path, &s->input_path_null);
    path_field(c, st, where, "OutputPath", 0, &s->output_path, &s->output_path_null);
    path_field(c, st, where, "ResultPath", JSONPATH_REFERENCE, &s->result_path,
               &s->result_path_null);
    if (s->result_path && jsonpath_is_context(s->result_path))
        sfn__problem_add(c->pl, where, "ResultPath cannot refer to the context object");
    json_t *params = json_object_get(st, "Parameters");
    json_t *isel = json_object_get(st, "ItemSelector");
    if (params && isel)
        sfn__problem_add(c->pl, where, "Parameters and ItemSelector cannot both be set");
    if (isel)
        params = isel;
    if (params) {
        char *w = at(where, isel ? "ItemSelector" : "Parameters");
        s->parameters = sfn__tmpl_compile(params, w, c->pl);
        free(w);
    }
    json_t *rsel = json_object_get(st, "ResultSelector");
    if (rsel) {
        char *w = at(where, "ResultSelector");
        if (!json_is_object(rsel))
            sfn__problem_add(c->pl, w, "ResultSelector must be an object");
        else
            s->result_selector = sfn__tmpl_compile(rsel, w, c->pl);
        free(w);
    }
    s->uses_context = tmpl_uses_ctx(s->parameters) || tmpl_uses_ctx(s->result_selector);
}

/* Retry and Catch (the field table has already refused them where they do not belong). */
static void compile_errors(struct pctx *c, json_t *st, const char *where, struct sfn__state *s,
                           json_t *names)
{
    json_t *rty = json_object_get(st, "Retry");
    if (rty) {
        char *w = at(where, "Retry");
        compile_retry(c, rty, w, s);
        free(w);
    }
    json_t *cat = json_object_get(st, "Catch");
    if (cat) {
        char *w = at(where, "Catch");
        compile_catch(c, cat, w, s, names);
        free(w);
    }
}

/* ---- one compile function per state type: the fields only that type has ---- */

static void compile_task(struct pctx *c, json_t *st, const char *where, struct sfn__state *s,
                         json_t *names, int depth)
{
    (void)names;
    (void)depth;
    json_t *res = json_object_get(st, "Resource");
    if (!json_is_string(res)) {
        sfn__problem_add(c->pl, where, "a Task state needs Resource (a string)");
    } else {
        s->resource = xstrdup(json_string_value(res));
        if (strncmp(s->resource, "arn:", 4) && strncmp(s->resource, "${", 2))
            sfn__problem_add(c->pl, where, "Resource '%s' is not an ARN (or a ${Substitution})",
                             s->resource);
        s->resource_is_lambda_arn = !strncmp(s->resource, "arn:aws:lambda:", 15) ||
                                    !strncmp(s->resource, "${", 2);
        const char *svc = !strncmp(s->resource, "arn:aws:states:::", 17) ? s->resource + 17 : NULL;
        const char *colon = svc ? strrchr(svc, ':') : NULL;
        s->resource_type = colon ? xstrndup(svc, (size_t)(colon - svc)) : xstrdup("lambda");
        s->resource_name = xstrdup(colon ? colon + 1 : s->resource);
    }
    exclusive(c, st, where, "TimeoutSeconds", "TimeoutSecondsPath");
    exclusive(c, st, where, "HeartbeatSeconds", "HeartbeatSecondsPath");
    int_field(c, st, where, "TimeoutSeconds", 1, &s->timeout_s);
    int_field(c, st, where, "HeartbeatSeconds", 1, &s->heartbeat_s);
    path_field(c, st, where, "TimeoutSecondsPath", JSONPATH_REFERENCE, &s->timeout_path, NULL);
    path_field(c, st, where, "HeartbeatSecondsPath", JSONPATH_REFERENCE, &s->heartbeat_path, NULL);
    if (s->timeout_s && s->heartbeat_s && s->heartbeat_s >= s->timeout_s)
        sfn__problem_add(c->pl, where, "HeartbeatSeconds must be smaller than TimeoutSeconds");
}

static void compile_pass(struct pctx *c, json_t *st, const char *where, struct sfn__state *s,
                         json_t *names, int depth)
{
    (void)c;
    (void)where;
    (void)names;
    (void)depth;
    json_t *r = json_object_get(st, "Result");
    if (r)
        s->result = json_deep_copy(r);
}

static void compile_choice(struct pctx *c, json_t *st, const char *where, struct sfn__state *s,
                           json_t *names, int depth)
{
    (void)depth;
    json_t *ch = json_object_get(st, "Choices");
    char *w = at(where, "Choices");
    if (!json_is_array(ch) || json_array_size(ch) == 0) {
        sfn__problem_add(c->pl, w, "a Choice state needs a non-empty Choices array");
    } else {
        s->rules = xcalloc(json_array_size(ch), sizeof *s->rules);
        size_t i;
        json_t *x;
        json_array_foreach(ch, i, x) {
            char *wi = xasprintf("%s/%zu", w, i);
            compile_rule(c, x, wi, &s->rules[s->nrules++], 1, names, 0);
            free(wi);
        }
    }
    free(w);
    json_t *d = json_object_get(st, "Default");
    if (d) {
        char *wd = at(where, "Default");
        if (!json_is_string(d))
            sfn__problem_add(c->pl, wd, "Default must be a string naming a state");
        else if ((s->default_next = lookup_state(names, json_string_value(d))) < 0)
            sfn__problem_add(c->pl, wd, "Default names the unknown state '%s'",
                             json_string_value(d));
        free(wd);
    }
}

static void compile_wait(struct pctx *c, json_t *st, const char *where, struct sfn__state *s,
                         json_t *names, int depth)
{
    (void)names;
    (void)depth;
    int n = !!json_object_get(st, "Seconds") + !!json_object_get(st, "SecondsPath") +
            !!json_object_get(st, "Timestamp") + !!json_object_get(st, "TimestampPath");
    if (n != 1)
        sfn__problem_add(c->pl, where,
                         "a Wait state needs exactly one of Seconds, SecondsPath, Timestamp "
                         "and TimestampPath");
    json_t *sec = json_object_get(st, "Seconds");
    if (sec) {
        char *w = at(where, "Seconds");
        if (!json_is_integer(sec) || json_integer_value(sec) < 0 ||
            json_integer_value(sec) > 99999999)
            sfn__problem_add(c->pl, w, "Seconds must be a non-negative integer");
        else
            s->wait_seconds = (long)json_integer_value(sec);
        free(w);
    }
    json_t *ts = json_object_get(st, "Timestamp");
    if (ts) {
        char *w = at(where, "Timestamp");
        int64_t sc;
        int32_t ns;
        if (!json_is_string(ts) || sfn__parse_timestamp(json_string_value(ts), &sc, &ns))
            sfn__problem_add(c->pl, w,
                             "Timestamp must be an RFC 3339 string such as "
                             "\"2016-03-14T01:59:00Z\"");
        else
            s->wait_ts_ms = sc * 1000 + ns / 1000000;
        free(w);
    }
    path_field(c, st, where, "SecondsPath", JSONPATH_REFERENCE, &s->seconds_path, NULL);
    path_field(c, st, where, "TimestampPath", JSONPATH_REFERENCE, &s->timestamp_path, NULL);
}

static void compile_succeed(struct pctx *c, json_t *st, const char *where, struct sfn__state *s,
                            json_t *names, int depth)
{
    (void)c;
    (void)st;
    (void)where;
    (void)s;
    (void)names;
    (void)depth;
}

static void compile_fail(struct pctx *c, json_t *st, const char *where, struct sfn__state *s,
                         json_t *names, int depth)
{
    (void)names;
    (void)depth;
    exclusive(c, st, where, "Error", "ErrorPath");
    exclusive(c, st, where, "Cause", "CausePath");
    json_t *e = json_object_get(st, "Error"), *ca = json_object_get(st, "Cause");
    if (e && !json_is_string(e))
        sfn__problem_add(c->pl, where, "Error must be a string");
    else if (e)
        s->fail_error = xstrdup(json_string_value(e));
    if (ca && !json_is_string(ca))
        sfn__problem_add(c->pl, where, "Cause must be a string");
    else if (ca)
        s->fail_cause = xstrdup(json_string_value(ca));
    valsrc_field(c, st, where, "ErrorPath", &s->error_src);
    valsrc_field(c, st, where, "CausePath", &s->cause_src);
}

static void compile_parallel(struct pctx *c, json_t *st, const char *where, struct sfn__state *s,
                             json_t *names, int depth)
{
    (void)names;
    json_t *br = json_object_get(st, "Branches");
    char *w = at(where, "Branches");
    if (!json_is_array(br) || json_array_size(br) == 0) {
        sfn__problem_add(c->pl, w, "a Parallel state needs a non-empty Branches array");
    } else {
        s->branches = xcalloc(json_array_size(br), sizeof *s->branches);
        size_t i;
        json_t *x;
        json_array_foreach(br, i, x) {
            char *wi = xasprintf("%s/%zu", w, i);
            struct sfn__graph *g = compile_graph(c, x, wi, depth + 1, 0);
            if (g)
                s->branches[s->nbranches++] = g;
            free(wi);
        }
    }
    free(w);
}

/* Map's MaxConcurrency and ToleratedFailure* fields (each a value or a ...Path). */
static void compile_map_limits(struct pctx *c, json_t *st, const char *where, struct sfn__state *s)
{
    int_field(c, st, where, "MaxConcurrency", 0, &s->max_concurrency);
    int_field(c, st, where, "ToleratedFailureCount", 0, &s->tolerated_count);
    exclusive(c, st, where, "ToleratedFailureCount", "ToleratedFailureCountPath");
    exclusive(c, st, where, "ToleratedFailurePercentage", "ToleratedFailurePercentagePath");
    exclusive(c, st, where, "MaxConcurrency", "MaxConcurrencyPath");
    path_field(c, st, where, "MaxConcurrencyPath", JSONPATH_REFERENCE, &s->max_concurrency_path,
               NULL);
    json_t *tp = json_object_get(st, "ToleratedFailurePercentage");
    if (tp) {
        if (!json_is_number(tp) || json_number_value(tp) < 0 || json_number_value(tp) > 100)
            sfn__problem_add(c->pl, where,
                             "ToleratedFailurePercentage must be a number from 0 to 100");
        else
            s->tolerated_pct = json_number_value(tp);
    }
    path_field(c, st, where, "ToleratedFailureCountPath", JSONPATH_REFERENCE,
               &s->tolerated_count_path, NULL);
    path_field(c, st, where, "ToleratedFailurePercentagePath", JSONPATH_REFERENCE,
               &s->tolerated_pct_path, NULL);
}

static void compile_map(struct pctx *c, json_t *st, const char *where, struct sfn__state *s,
                        json_t *names, int depth)
{
    (void)names;
    json_t *it = json_object_get(st, "ItemProcessor");
    json_t *old = json_object_get(st, "Iterator");
    if (it && old)
        sfn__problem_add(c->pl, where, "ItemProcessor and Iterator cannot both be set");
    if (!it && !old)
        sfn__problem_add(c->pl, where, "a Map state needs ItemProcessor (or Iterator)");
    if (it || old) {
        char *w = at(where, it ? "ItemProcessor" : "Iterator");
        s->processor = compile_graph(c, it ? it : old, w, depth + 1, 1);
        free(w);
    }
    if (json_object_get(st, "ItemReader") || json_object_get(st, "ResultWriter") ||
        json_object_get(st, "ItemBatcher"))
        sfn__problem_add(c->pl, where,
                         "ItemReader, ItemBatcher and ResultWriter (distributed Map over S3) "
                         "are not supported yet");
    path_field(c, st, where, "ItemsPath", JSONPATH_REFERENCE, &s->items_path, NULL);
    compile_map_limits(c, st, where, s);
    s->uses_context = 1; /* ItemSelector / Parameters see $$.Map.Item */
}

typedef void (*compile_fn)(struct pctx *c, json_t *st, const char *where, struct sfn__state *s,
                           json_t *names, int depth);

static const compile_fn compile_by_type[ST__COUNT] = {
#define X(id, name, fn) [ST_##id] = compile_##fn,
    SFN_STATE_TYPES(X)
#undef X
};

/* Compiles one state: the fields every type shares, then its type's own through the table. */
static void compile_state(struct pctx *c, json_t *st, const char *where, struct sfn__state *s,
                          json_t *names, int depth)
{
    s->next = -1;
    s->default_next = -1;
    s->wait_seconds = -1;
    s->wait_ts_ms = INT64_MIN;
    s->tolerated_count = -1;
    s->tolerated_pct = -1;
    if (!json_is_object(st)) {
        sfn__problem_add(c->pl, where, "a state must be an object");
        return;
    }
    if (compile_type(c, st, where, s) < 0)
        return;
    check_fields(c, st, where, s->type);
    compile_next(c, st, where, s, names);
    compile_io(c, st, where, s);
    compile_errors(c, st, where, s, names);
    assert((unsigned)s->type < ST__COUNT && compile_by_type[s->type]);
    compile_by_type[s->type](c, st, where, s, names, depth);
}

static void mark_reach(const struct sfn__graph *g, int i, char *seen)
{
    /* iterative DFS; the graph is small (capped) so an explicit stack of n entries suffices */
    int *stack = xmalloc((g->n * 4 + 4) * sizeof *stack);
    size_t sp = 0;
    stack[sp++] = i;
    while (sp) {
        int k = stack[--sp];
        if (k < 0 || seen[k])
            continue;
        seen[k] = 1;
        const struct sfn__state *s = &g->states[k];
        size_t need = 2 + s->ncatch + s->nrules;
        stack = xrealloc(stack, (sp + need + 1) * sizeof *stack);
        stack[sp++] = s->next;
        stack[sp++] = s->default_next;
        for (size_t j = 0; j < s->ncatch; j++)
            stack[sp++] = s->catch_[j].next;
        for (size_t j = 0; j < s->nrules; j++)
            stack[sp++] = s->rules[j].next;
    }
    free(stack);
}

/* Every state is reachable from StartAt, and at least one state ends the graph. ws is the
 * location of States. */
static void check_graph_shape(struct pctx *c, const struct sfn__graph *g, json_t *states,
                              const char *ws)
{
    const char *k;
    json_t *v;
    size_t i;
    if (g->start >= 0 && !c->too_many) {
        char *seen = xcalloc(g->n, 1);
        mark_reach(g, g->start, seen);
        for (i = 0; i < g->n; i++) {
            if (!seen[i]) {
                char *w = xasprintf("%s/%s", ws, g->states[i].name);
                sfn__problem_add(c->pl, w, "state '%s' is unreachable from StartAt",
                                 g->states[i].name);
                free(w);
            }
        }
        free(seen);
    }
    int terminal = 0;
    json_object_foreach(states, k, v) {
        int t = sfn__type_lookup(json_string_value(json_object_get(v, "Type")));
        if (json_is_true(json_object_get(v, "End")) || t == ST_SUCCEED || t == ST_FAIL)
            terminal = 1;
    }
    if (!terminal)
        sfn__problem_add(c->pl, ws,
                         "no terminal state: at least one state needs \"End\": true or Type "
                         "Succeed or Fail");
}

static struct sfn__graph *compile_graph(struct pctx *c, json_t *obj, const char *where, int depth,
                                        int is_processor)
{
    if (depth > SFN_MAX_NESTING) {
        sfn__problem_add(c->pl, where, "Parallel/Map states nested deeper than %d levels",
                         SFN_MAX_NESTING);
        return NULL;
    }
    if (!json_is_object(obj)) {
        sfn__problem_add(c->pl, where, "expected an object with StartAt and States");
        return NULL;
    }
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        if (strcmp(k, "StartAt") && strcmp(k, "States") && strcmp(k, "Comment") &&
            !(depth == 0 && (!strcmp(k, "TimeoutSeconds") || !strcmp(k, "Version") ||
                             !strcmp(k, "QueryLanguage"))) &&
            !(is_processor && !strcmp(k, "ProcessorConfig")))
            sfn__problem_add(c->pl, where[0] ? where : "/", "unknown field '%s'", k);
    }
    json_t *pc = json_object_get(obj, "ProcessorConfig");
    if (pc) {
        json_t *mode = json_object_get(pc, "Mode");
        if (!json_is_object(pc) ||
            (mode && !(json_is_string(mode) && (!strcmp(json_string_value(mode), "INLINE") ||
                                                !strcmp(json_string_value(mode), "DISTRIBUTED")))))
            sfn__problem_add(c->pl, where,
                             "ProcessorConfig.Mode must be \"INLINE\" or \"DISTRIBUTED\"");
    }
    json_t *states = json_object_get(obj, "States");
    json_t *start = json_object_get(obj, "StartAt");
    char *ws = at(where, "States");
    if (!json_is_object(states) || json_object_size(states) == 0) {
        sfn__problem_add(c->pl, ws, "States must be a non-empty object");
        free(ws);
        if (!json_is_string(start))
            sfn__problem_add(c->pl, where[0] ? where : "/", "StartAt must be a string");
        return NULL;
    }
    struct sfn__graph *g = xcalloc(1, sizeof *g);
    size_t n = json_object_size(states);
    g->states = xcalloc(n, sizeof *g->states);
    json_t *names = json_object();
    json_object_foreach(states, k, v) {
        json_object_set_new(names, k, json_integer((json_int_t)g->n));
        g->states[g->n].name = xstrdup(k);
        g->states[g->n].next = -1;
        g->states[g->n].default_next = -1;
        g->n++;
        if (json_object_get(c->all_names, k))
            sfn__problem_add(c->pl, ws, "state name '%s' is used more than once", k);
        json_object_set(c->all_names, k, json_true());
        if (strlen(k) > 80)
            sfn__problem_add(c->pl, ws, "state name '%.40s...' is longer than 80 characters", k);
    }
    c->total += n;
    if (c->total > SFN_MAX_STATES && !c->too_many) {
        c->too_many = 1;
        sfn__problem_add(c->pl, ws, "the definition has more than %d states", SFN_MAX_STATES);
    }
    size_t i = 0;
    json_object_foreach(states, k, v) {
        char *w = xasprintf("%s/%s", ws, k);
        if (!c->too_many)
            compile_state(c, v, w, &g->states[i], names, depth);
        free(w);
        i++;
    }
    char *wst = at(where, "StartAt");
    g->start = -1;
    if (!json_is_string(start))
        sfn__problem_add(c->pl, wst, "StartAt must be a string naming a state");
    else if ((g->start = lookup_state(names, json_string_value(start))) < 0)
        sfn__problem_add(c->pl, wst, "StartAt names the unknown state '%s'",
                         json_string_value(start));
    free(wst);
    check_graph_shape(c, g, states, ws);
    free(ws);
    json_decref(names);
    return g;
}

/* ------------------------------------------------------------------------------------------ */
/* entry points                                                                               */

struct sfn_machine *sfn_machine_parse_ex(const char *text, struct sfn_problem_list *problems,
                                         struct err *err)
{
    struct sfn_problem_list local;
    struct sfn_problem_list *pl = problems ? problems : &local;
    if (!problems)
        sfn_problem_list_init(&local);
    struct sfn_machine *m = NULL;
    json_t *doc = NULL;
    struct pctx c = {.pl = pl, .all_names = json_object()};
    if (!text) {
        sfn__problem_add(pl, "", "the definition is missing");
        goto done;
    }
    size_t len = strlen(text);
    if (len > SFN_MAX_DEFINITION_BYTES) {
        sfn__problem_add(pl, "", "the definition is %zu bytes; the limit is %d", len,
                         SFN_MAX_DEFINITION_BYTES);
        goto done;
    }
    json_error_t je;
    doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!doc) {
        sfn__problem_add(pl, "", "the definition is not valid JSON: %s (line %d, column %d)",
                         je.text, je.line, je.column);
        goto done;
    }
    if (!json_is_object(doc)) {
        sfn__problem_add(pl, "", "the definition must be a JSON object");
        goto done;
    }
    json_t *ql = json_object_get(doc, "QueryLanguage");
    if (ql) {
        if (json_is_string(ql) && !strcmp(json_string_value(ql), "JSONata"))
            sfn__problem_add(pl, "/QueryLanguage",
                             "QueryLanguage \"JSONata\" is not supported yet; use JSONPath");
        else if (!json_is_string(ql) || strcmp(json_string_value(ql), "JSONPath"))
            sfn__problem_add(pl, "/QueryLanguage", "QueryLanguage must be \"JSONPath\"");
    }
    json_t *ver = json_object_get(doc, "Version");
    if (ver && !json_is_string(ver))
        sfn__problem_add(pl, "/Version", "Version must be a string");
    m = xcalloc(1, sizeof *m);
    json_t *to = json_object_get(doc, "TimeoutSeconds");
    if (to &&
        (!json_is_integer(to) || json_integer_value(to) < 1 || json_integer_value(to) > 99999999))
        sfn__problem_add(pl, "/TimeoutSeconds", "TimeoutSeconds must be a positive integer");
    else if (to)
        m->timeout_s = (long)json_integer_value(to);
    m->top = compile_graph(&c, doc, "", 0, 0);
    m->total_states = c.total;
done:
    if (doc)
        json_decref(doc);
    json_decref(c.all_names);
    if (pl->count) {
        sfn_machine_free(m);
        m = NULL;
        size_t cap = ERR_MSG_MAX, off = 0;
        char msg[ERR_MSG_MAX];
        off += (size_t)snprintf(msg, cap, "%zu problem%s: ", pl->count, pl->count == 1 ? "" : "s");
        for (size_t i = 0; i < pl->count && off < cap; i++)
            off += (size_t)snprintf(msg + off, cap - off, "%s%s: %s", i ? "; " : "",
                                    pl->items[i].where[0] ? pl->items[i].where : "/",
                                    pl->items[i].message);
        err_set(err, "States.InvalidDefinition", "%s", msg);
    }
    if (!problems)
        sfn_problem_list_release(&local);
    return m;
}

struct sfn_machine *sfn_machine_parse(const char *text, struct err *err)
{
    return sfn_machine_parse_ex(text, NULL, err);
}
