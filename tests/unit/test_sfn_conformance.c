/*
 * test_sfn_conformance.c - runs the data-driven ASL conformance suite in tests/sfn/cases/ (one JSON file per topic)
 * (read at run time from $PARLEY_SRC). Each file holds {"cases": [...]}; a case gives a
 * definition (or definition_text), input, optional mocks (AWS MockedResponses entries keyed by
 * state name) and either "invalid" (substrings every one of which must appear among the
 * validation problems) or "expect" {status, output, error, cause, cause_contains, history_types}.
 * Every history produced is also checked to be well formed (history_valid). A case that gives
 * an exact "cause" runs a second time with the history flipped on or off: the cause must not
 * change (the event counter is the same either way), and an "(entered at the event id #N)" it
 * names must be a StateEntered event in the history (entered_id_valid).
 * Every case cites the AWS documentation page that fixes its expectation in "doc".
 */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "base/xmalloc.h"
#include "check.h"
#include "sfn/sfn.h"
#include "sfn/sfn_mock.h"

static int cases_total;

static int fail_case(const char *name, const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "case %s: ", name);
    fprintf(stderr, fmt, a ? a : "(null)", b ? b : "(null)");
    fputc('\n', stderr);
    return 0;
}

/* Every history, whatever the case expects of it, must be well formed as AWS's are: ids count
 * up from 1, each previousEventId names an earlier event (0 for the first), and timestamps
 * never go back, also where Parallel branches and Map iterations interleave. */
static int history_valid(const char *name, json_t *h)
{
    size_t i;
    json_t *ev;
    const char *last_ts = "";
    json_array_foreach(h, i, ev) {
        json_int_t id = json_integer_value(json_object_get(ev, "id"));
        json_int_t prev = json_integer_value(json_object_get(ev, "previousEventId"));
        const char *ts = json_string_value(json_object_get(ev, "timestamp"));
        char at[32];
        snprintf(at, sizeof at, "%zu", i);
        if (id != (json_int_t)i + 1)
            return fail_case(name, "history event %s has id %s", at, "out of sequence");
        if (prev < 0 || prev >= id || (i == 0 && prev != 0))
            return fail_case(name, "history event %s: previousEventId %s", at, "not earlier");
        if (!ts || strcmp(ts, last_ts) < 0)
            return fail_case(name, "history event %s: timestamp %s goes back", at, ts);
        last_ts = ts;
    }
    return 1;
}

/* The "(entered at the event id #N)" of a cause names event N of the history, and that event is
 * a state's Entered event (AWS: the id of the event that entered the failing state). */
static int entered_id_valid(const char *name, const char *cause, json_t *h)
{
    const char *at = cause ? strstr(cause, "(entered at the event id #") : NULL;
    if (!at)
        return 1;
    long id = strtol(at + strlen("(entered at the event id #"), NULL, 10);
    json_t *ev = id > 0 ? json_array_get(h, (size_t)id - 1) : NULL;
    const char *t = json_string_value(json_object_get(ev, "type"));
    if (!t || strlen(t) < 12 || strcmp(t + strlen(t) - 12, "StateEntered"))
        return fail_case(name, "cause names event %s, which is a %s", at, t ? t : "missing event");
    return 1;
}

static int problems_contain(const struct sfn_problem_list *pl, const char *needle)
{
    for (size_t i = 0; i < pl->count; i++) {
        if (strstr(pl->items[i].message, needle) || strstr(pl->items[i].where, needle))
            return 1;
    }
    return 0;
}

static int run_case(json_t *c)
{
    const char *name = json_string_value(json_object_get(c, "name"));
    json_t *def = json_object_get(c, "definition");
    const char *doc = json_string_value(json_object_get(c, "doc"));
    if (!name || !doc || strncmp(doc, "https://", 8))
        return fail_case(name ? name : "?", "%s%s", "case needs a name and an https doc URL", "");
    char *text = def ? json_dumps(def, JSON_COMPACT | JSON_ENCODE_ANY)
                     : xstrdup(json_string_value(json_object_get(c, "definition_text"))
                                   ? json_string_value(json_object_get(c, "definition_text"))
                                   : "");
    json_t *gen = json_object_get(c, "definition_deep");
    if (gen) { /* {"depth": N}: nested arrays generated here, to test the depth cap */
        long d = (long)json_integer_value(json_object_get(gen, "depth"));
        free(text);
        text = xmalloc((size_t)d * 2 + 64);
        strcpy(text, "{\"StartAt\":");
        size_t off = strlen(text);
        for (long i = 0; i < d; i++)
            text[off++] = '[';
        for (long i = 0; i < d; i++)
            text[off++] = ']';
        strcpy(text + off, "}");
    }
    struct sfn_problem_list pl;
    sfn_problem_list_init(&pl);
    struct err e = {0};
    struct sfn_machine *m = sfn_machine_parse_ex(text, &pl, &e);
    free(text);
    int ok = 1;
    json_t *inv = json_object_get(c, "invalid");
    if (inv) {
        if (m) {
            ok = fail_case(name, "%s%s", "definition was accepted but should be rejected", "");
        } else {
            size_t i;
            json_t *x;
            json_array_foreach(inv, i, x) {
                if (!problems_contain(&pl, json_string_value(x))) {
                    ok = fail_case(name, "no problem mentions '%s'; got: %s",
                                   json_string_value(x), e.message);
                }
            }
        }
        sfn_machine_free(m);
        sfn_problem_list_release(&pl);
        return ok;
    }
    if (!m) {
        fail_case(name, "definition rejected: %s%s", e.message, "");
        sfn_problem_list_release(&pl);
        return 0;
    }
    sfn_problem_list_release(&pl);
    json_t *mocks = json_object_get(c, "mocks");
    struct sfn_mock *mock = NULL;
    const struct sfn_mock_case *mc = NULL;
    if (mocks) {
        json_t *cfg = json_object(), *tc = json_object(), *mr = json_object();
        const char *k;
        json_t *v;
        json_object_foreach(mocks, k, v) {
            char *rn = xasprintf("r_%s", k);
            json_object_set_new(tc, k, json_string(rn));
            json_object_set(mr, rn, v);
            free(rn);
        }
        json_object_set_new(cfg, "StateMachines",
                            json_pack("{s:{s:{s:o}}}", "Case", "TestCases", "T", tc));
        json_object_set_new(cfg, "MockedResponses", mr);
        char *ct = json_dumps(cfg, JSON_COMPACT);
        json_decref(cfg);
        mock = sfn_mock_parse(ct, &e);
        free(ct);
        mc = mock ? sfn_mock_find(mock, "Case", "T", &e) : NULL;
        if (!mc) {
            fail_case(name, "bad mocks: %s%s", e.message, "");
            sfn_mock_free(mock);
            sfn_machine_free(m);
            return 0;
        }
    }
    json_t *input = json_object_get(c, "input");
    json_t *empty = input ? NULL : json_object();
    json_t *big = json_object_get(c, "input_big"), *deep = json_object_get(c, "input_deep");
    if (big) { /* {"n":1,"big":"xxxx..."} of about the given size */
        size_t nb = (size_t)json_integer_value(json_object_get(big, "bytes"));
        char *s = xmalloc(nb + 1);
        memset(s, 'x', nb);
        s[nb] = '\0';
        json_object_set_new(empty, "n", json_integer(1));
        json_object_set_new(empty, "big", json_string(s));
        free(s);
    }
    if (deep) { /* {"d":[[[...{"n":1}...]]]} nested depth times, built without recursion */
        long d = (long)json_integer_value(json_object_get(deep, "depth"));
        json_t *node = json_pack("{s:i}", "n", 1);
        for (long i = 0; i < d; i++) {
            json_t *a = json_array();
            json_array_append_new(a, node);
            node = a;
        }
        json_object_set_new(empty, "d", node);
    }
    json_t *opts = json_object_get(c, "opts");
    json_t *expect = json_object_get(c, "expect");
    json_t *htypes = json_object_get(expect, "history_types");
    struct sfn_run_opts o = {
        .virtual_clock = 1,
        .start_ms = 1704067200000LL, /* 2024-01-01T00:00:00Z */
        .seed = 42,
        .mock = mc,
        .want_history = htypes != NULL,
        .execution_name = "exec-1",
        .state_machine_name = "Case",
        .payload_limit = (size_t)json_integer_value(json_object_get(opts, "payload_limit")),
        .max_transitions = (long)json_integer_value(json_object_get(opts, "max_transitions")),
    };
    struct sfn_result r;
    sfn_run(m, input ? input : empty, &o, &r);
    const char *st = json_string_value(json_object_get(expect, "status"));
    if (!st || strcmp(st, sfn_status_name(r.status)))
        ok = fail_case(name, "status %s, expected %s", sfn_status_name(r.status), st);
    if (r.status != SFN_SUCCEEDED && (!st || strcmp(st, "SUCCEEDED") == 0))
        fprintf(stderr, "case %s: error %s cause %s\n", name, r.error ? r.error : "-",
                r.cause ? r.cause : "-");
    json_t *eo = json_object_get(expect, "output");
    if (eo && (!r.output || !json_equal(eo, r.output))) {
        char *got = r.output ? json_dumps(r.output, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        char *want = json_dumps(eo, JSON_COMPACT | JSON_ENCODE_ANY);
        ok = fail_case(name, "output %s, expected %s", got, want);
        free(got);
        free(want);
    }
    json_t *ee = json_object_get(expect, "error");
    if (ee && (json_is_null(ee) ? r.error != NULL
                                : !r.error || strcmp(r.error, json_string_value(ee))))
        ok = fail_case(name, "error %s, expected %s", r.error,
                       json_is_null(ee) ? "null" : json_string_value(ee));
    const char *want_cause = json_string_value(json_object_get(expect, "cause"));
    if (want_cause && (!r.cause || strcmp(r.cause, want_cause)))
        ok = fail_case(name, "cause '%s', expected '%s'", r.cause, want_cause);
    if (want_cause) {
        struct sfn_run_opts o2 = o;
        struct sfn_result r2;
        o2.want_history = !o.want_history;
        sfn_run(m, input ? input : empty, &o2, &r2);
        if (!r2.cause || !r.cause || strcmp(r.cause, r2.cause))
            ok = fail_case(name, "cause changes with the history on/off: '%s' vs '%s'", r.cause,
                           r2.cause);
        if (!entered_id_valid(name, r.cause, r.history ? r.history : r2.history))
            ok = 0;
        sfn_result_release(&r2);
    }
    const char *cc = json_string_value(json_object_get(expect, "cause_contains"));
    if (cc && (!r.cause || !strstr(r.cause, cc)))
        ok = fail_case(name, "cause '%s' lacks '%s'", r.cause, cc);
    json_t *types = json_object_get(expect, "output_types");
    if (types) {
        const char *k;
        json_t *v;
        json_object_foreach(types, k, v) {
            json_t *f = r.output ? json_object_get(r.output, k) : NULL;
            const char *t = json_string_value(v);
            int good = f && ((!strcmp(t, "string") && json_is_string(f)) ||
                             (!strcmp(t, "integer") && json_is_integer(f)) ||
                             (!strcmp(t, "uuid") && json_is_string(f) &&
                              json_string_length(f) == 36 && json_string_value(f)[14] == '4'));
            if (!good)
                ok = fail_case(name, "output field %s is not a %s", k, t);
        }
    }
    if (r.history && !history_valid(name, r.history))
        ok = 0;
    if (htypes) {
        size_t i;
        json_t *x;
        if (json_array_size(htypes) != json_array_size(r.history))
            ok = fail_case(name, "history has %s events, expected %s", "a different number of",
                           "the listed");
        json_array_foreach(htypes, i, x) {
            json_t *ev = json_array_get(r.history, i);
            const char *t = json_string_value(json_object_get(ev, "type"));
            if (!t || strcmp(t, json_string_value(x))) {
                ok = fail_case(name, "history event type %s, expected %s", t,
                               json_string_value(x));
                break;
            }
        }
    }
    sfn_result_release(&r);
    if (empty)
        json_decref(empty);
    sfn_mock_free(mock);
    sfn_machine_free(m);
    return ok;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int json_files(const struct dirent *d)
{
    size_t l = strlen(d->d_name);
    return l > 5 && !strcmp(d->d_name + l - 5, ".json");
}

int main(void)
{
    xmalloc_init();
    (void)check_failed_now; /* this suite records results with check_record() */
    const char *src = getenv("PARLEY_SRC");
    char *dir = xasprintf("%s/tests/sfn/cases", src ? src : ".");
    struct dirent **ents = NULL;
    int n = scandir(dir, &ents, json_files, by_name);
    if (n <= 0) {
        fprintf(stderr, "no case files in %s\n", dir);
        check_record("conformance case files found", 0);
    }
    json_t *names = json_object();
    for (int i = 0; i < n; i++) {
        char *path = xasprintf("%s/%s", dir, ents[i]->d_name);
        json_error_t je;
        json_t *doc = json_load_file(path, 0, &je);
        json_t *cases = json_object_get(doc, "cases");
        if (!json_is_array(cases)) {
            fprintf(stderr, "%s: %s\n", path, doc ? "no cases array" : je.text);
            check_record(ents[i]->d_name, 0);
        }
        size_t k;
        json_t *c;
        json_array_foreach(cases, k, c) {
            const char *nm = json_string_value(json_object_get(c, "name"));
            char *label = xasprintf("%s: %s", ents[i]->d_name, nm ? nm : "(unnamed)");
            int dup = nm && json_object_get(names, nm);
            if (dup)
                fprintf(stderr, "duplicate case name %s\n", nm);
            if (nm)
                json_object_set_new(names, nm, json_true());
            check_record(label, !dup && run_case(c));
            cases_total++;
            free(label);
        }
        if (doc)
            json_decref(doc);
        free(path);
        free(ents[i]);
    }
    free(ents);
    free(dir);
    json_decref(names);
    printf("# %d conformance cases\n", cases_total);
    check_require("at least 150 conformance cases", cases_total >= 150);
    return check_summary();
}
