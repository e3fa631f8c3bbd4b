/* test_observe.c - the agent hooks every host installs: execution records kept per session and
 * capped, one EMF line per turn in serve mode (figures of the turn only), and in per-invocation
 * mode (Lambda) the model and tool figures carried by the turn line or written at flush. */
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"

#include "check.h"
#include "runtime/observe.h"
#include "telemetry/metrics.h"

static const struct model_ops fake_ops = {.name = "fakeprov"};

static json_t *read_lines(FILE *f)
{
    json_t *out = json_array();
    fflush(f);
    rewind(f);
    char buf[4096];
    while (fgets(buf, sizeof buf, f)) {
        json_t *d = json_loads(buf, 0, NULL);
        if (d)
            json_array_append_new(out, d);
    }
    return out;
}

/* Keeps the lines that carry an invocation's sums (ToolCount); the per-event lines of a
 * per-invocation host are checked by test_per_event_lines. Takes lines, returns a new array. */
static json_t *summary_lines(json_t *lines)
{
    json_t *out = json_array();
    size_t i;
    json_t *d;
    json_array_foreach(lines, i, d)
        if (json_object_get(d, "ToolCount"))
            json_array_append(out, d);
    json_decref(lines);
    return out;
}

/* The one line declaring metric `name`, or NULL (borrowed from lines). A second line declaring
 * it fails the check. */
static json_t *line_with(json_t *lines, const char *name)
{
    json_t *found = NULL;
    size_t i;
    json_t *d;
    json_array_foreach(lines, i, d) {
        json_t *ms = json_object_get(
            json_array_get(json_object_get(json_object_get(d, "_aws"), "CloudWatchMetrics"), 0),
            "Metrics");
        size_t j;
        json_t *m;
        json_array_foreach(ms, j, m) {
            if (strcmp(json_string_value(json_object_get(m, "Name")), name) == 0) {
                CHECK(found == NULL);
                found = d;
            }
        }
    }
    return found;
}

/* The dimension keys of an EMF line, as "A,B". */
static void dims_of(const json_t *d, char *out, size_t cap)
{
    out[0] = '\0';
    json_t *set = json_array_get(
        json_object_get(
            json_array_get(json_object_get(json_object_get(d, "_aws"), "CloudWatchMetrics"), 0),
            "Dimensions"),
        0);
    size_t i;
    json_t *k;
    json_array_foreach(set, i, k) {
        size_t n = strlen(out);
        snprintf(out + n, cap - n, "%s%s", n ? "," : "", json_string_value(k));
    }
}

static double num(const json_t *d, const char *key)
{
    return json_number_value(json_object_get(d, key));
}

static void setup(struct agent *a, struct model *m, struct observe *o)
{
    m->ops = &fake_ops;
    *a = (struct agent){.model = m, .hooks = &observe_hooks, .hooks_ud = o};
}

static void test_executions(void)
{
    struct observe o;
    struct model m;
    struct agent a;
    observe_init(&o, &(struct observe_config){.keep_executions = 1});
    setup(&a, &m, &o);
    for (int i = 0; i < OBSERVE_EXECUTIONS + 5; i++) {
        json_t *rec = json_pack("{s:s, s:i}", "sessionId", i % 2 ? "odd" : "even", "n", i);
        a.hooks->on_execution(&a, rec);
        json_decref(rec);
    }
    json_t *odd = observe_executions(&o, "odd");
    json_t *even = observe_executions(&o, "even");
    CHECK_INT(json_array_size(odd) + json_array_size(even), OBSERVE_EXECUTIONS);
    /* The oldest went first: the newest record is the last one of its session. */
    CHECK_INT(json_integer_value(json_object_get(json_array_get(odd, json_array_size(odd) - 1),
                                                 "n")),
              OBSERVE_EXECUTIONS + 3);
    json_decref(odd);
    json_decref(even);
    const struct agent_hooks *h = observe_hooks_of(&o); /* observe_hooks' members, every one */
    CHECK(h->on_execution == observe_hooks.on_execution && h->on_turn == observe_hooks.on_turn &&
          h->on_saved == observe_hooks.on_saved && h->on_model == observe_hooks.on_model &&
          h->on_tool == observe_hooks.on_tool && h->on_error == observe_hooks.on_error &&
          h->flush == observe_hooks.flush && h->on_budget == observe_hooks.on_budget);
    observe_release(&o);
    observe_release(&o); /* twice is harmless */

    /* Keeping none, the table a host installs has no on_execution: the workflow builds no
     * record to be dropped (and tracks no path for it); the other hooks are the same. */
    observe_init(&o, &(struct observe_config){.keep_executions = 0});
    h = observe_hooks_of(&o);
    CHECK(h->on_execution == NULL);
    CHECK(h->on_turn == observe_hooks.on_turn && h->on_saved == observe_hooks.on_saved &&
          h->on_model == observe_hooks.on_model && h->on_tool == observe_hooks.on_tool &&
          h->on_error == observe_hooks.on_error && h->flush == observe_hooks.flush &&
          h->on_budget == observe_hooks.on_budget);
    observe_release(&o);
}

static void test_serve_turn_line(void)
{
    FILE *f = tmpfile();
    struct observe o;
    struct model m;
    struct agent a;
    observe_init(&o, &(struct observe_config){.emf = f});
    setup(&a, &m, &o);
    double turns = metrics_value(metrics_find(metrics_default(), METRIC_TURNS_TOTAL), NULL);
    a.hooks->on_model(&a, 0.25, 10, 20);
    json_t *resp = json_pack("{s:s, s:[{}]}", "sessionId", "S1", "actions");
    a.hooks->on_turn(&a, resp, NULL, 0.5);
    a.hooks->flush(&a);
    json_t *lines = read_lines(f);
    CHECK_INT(json_array_size(lines), 1);
    json_t *d = json_array_get(lines, 0);
    CHECK_STR(json_string_value(json_object_get(d, "Provider")), "fakeprov");
    CHECK(json_number_value(json_object_get(d, "TurnLatency")) == 500.0);
    CHECK(json_number_value(json_object_get(d, "ToolCount")) == 1);
    /* Serve runs turns concurrently, so a turn line carries no per-process model figures. */
    CHECK(json_number_value(json_object_get(d, "ModelLatency")) == 0);
    CHECK(metrics_value(metrics_find(metrics_default(), METRIC_TURNS_TOTAL), NULL) == turns + 1);
    json_decref(lines);
    json_decref(resp);
    observe_release(&o);
    fclose(f);
}

static void test_per_invocation(void)
{
    FILE *f = tmpfile();
    struct observe o;
    struct model m;
    struct agent a;
    observe_init(&o, &(struct observe_config){.emf = f, .per_invocation = 1});
    setup(&a, &m, &o);
    /* Invocation 1: a turn; its line carries the model figures. */
    a.hooks->on_model(&a, 0.1, 5, 7);
    a.hooks->on_turn(&a, NULL, NULL, 0.2);
    a.hooks->flush(&a);
    /* Invocation 2: a tool run and an error without a turn: one line at flush. */
    a.hooks->on_tool(&a, "lookup_order", 1, 0.01);
    a.hooks->on_error(&a, NULL, "States.Timeout", "");
    a.hooks->flush(&a);
    /* Invocation 3: nothing measured, nothing written. */
    a.hooks->flush(&a);
    json_t *lines = summary_lines(read_lines(f));
    CHECK_INT(json_array_size(lines), 2);
    json_t *t = json_array_get(lines, 0), *x = json_array_get(lines, 1);
    CHECK(json_number_value(json_object_get(t, "ModelLatency")) == 100.0);
    CHECK(json_number_value(json_object_get(t, "TokensIn")) == 5);
    CHECK(json_number_value(json_object_get(t, "TokensOut")) == 7);
    CHECK(json_number_value(json_object_get(t, "Errors")) == 1);
    CHECK(json_object_get(x, "TurnLatency") == NULL);
    CHECK(json_number_value(json_object_get(x, "ToolCount")) == 1);
    CHECK(json_number_value(json_object_get(x, "Errors")) == 1);
    CHECK(json_number_value(json_object_get(x, "TokensIn")) == 0);
    json_decref(lines);
    observe_release(&o);
    fclose(f);
}

/* Lambda has no GET /metrics: each hook writes its own EMF line with the figures serve's
 * Prometheus families carry, and the registry moves the same way in both modes. */
static void test_per_event_lines(void)
{
    struct metrics_reg *r = metrics_default();
    struct metric *lat = metrics_find(r, METRIC_MODEL_LATENCY);
    struct metric *acts = metrics_find(r, METRIC_ACTIONS_TOTAL);
    struct metric *errs = metrics_find(r, METRIC_ERRORS_TOTAL);
    struct metric *refusals = metrics_find(r, METRIC_BUDGET_REFUSALS);
    for (int lambda = 0; lambda <= 1; lambda++) {
        FILE *f = tmpfile();
        struct observe o;
        struct model m;
        struct agent a;
        observe_init(&o, &(struct observe_config){.emf = f, .per_invocation = lambda});
        setup(&a, &m, &o);
        uint64_t calls = metrics_hist_count(lat, METRICS_L("fakeprov"), NULL);
        double ok = metrics_value(acts, METRICS_L("lookup_order", "succeeded"));
        double bad = metrics_value(acts, METRICS_L("create_support_ticket", "failed"));
        double timeouts = metrics_value(errs, METRICS_L("States.Timeout"));
        double daily = metrics_value(refusals, METRICS_L("daily"));
        a.hooks->on_model(&a, 0.25, 10, 20);
        a.hooks->on_tool(&a, "lookup_order", 1, 0.05);
        a.hooks->on_tool(&a, "create_support_ticket", 0, 0.5);
        a.hooks->on_error(&a, NULL, "States.Timeout", "");
        a.hooks->on_budget(&a, 1234, NULL);
        a.hooks->on_budget(&a, -1, "daily");
        json_t *state = json_pack("{s:s, s:I}", "sessionId", "S1", "createdAt",
                                  (json_int_t)(clock_now_ms() - 90000));
        a.hooks->on_saved(&a, state, 1);
        json_decref(state);
        a.hooks->flush(&a);
        /* The same Prometheus figures in both modes. */
        CHECK_INT(metrics_hist_count(lat, METRICS_L("fakeprov"), NULL), calls + 1);
        CHECK(metrics_value(acts, METRICS_L("lookup_order", "succeeded")) == ok + 1);
        CHECK(metrics_value(acts, METRICS_L("create_support_ticket", "failed")) == bad + 1);
        CHECK(metrics_value(errs, METRICS_L("States.Timeout")) == timeouts + 1);
        CHECK(metrics_value(refusals, METRICS_L("daily")) == daily + 1);
        json_t *lines = read_lines(f);
        char dims[128];
        if (!lambda) {
            /* Serve: GET /metrics carries these; emf.log gets turn lines only. */
            CHECK_INT(json_array_size(lines), 0);
        } else {
            json_t *d = line_with(lines, "ModelCalls");
            dims_of(d, dims, sizeof dims);
            CHECK_STR(dims, "Service,Provider");
            CHECK_STR(json_string_value(json_object_get(d, "Provider")), "fakeprov");
            CHECK(num(d, "ModelCalls") == 1 && num(d, "ModelCallLatency") == 250.0);
            /* Two tool lines, one per run, with the tool and its outcome as dimensions. */
            int tools = 0;
            size_t i;
            json_t *x;
            json_array_foreach(lines, i, x) {
                if (!json_object_get(x, "ToolCalls"))
                    continue;
                tools++;
                dims_of(x, dims, sizeof dims);
                CHECK_STR(dims, "Service,Tool,Status");
                const char *tool = json_string_value(json_object_get(x, "Tool"));
                const char *status = json_string_value(json_object_get(x, "Status"));
                CHECK(tool && status);
                if (tool && strcmp(tool, "lookup_order") == 0) {
                    CHECK_STR(status, "succeeded");
                    CHECK(num(x, "ToolLatency") == 50.0);
                } else {
                    CHECK_STR(tool, "create_support_ticket");
                    CHECK_STR(status, "failed");
                    CHECK(num(x, "ToolLatency") == 500.0);
                }
            }
            CHECK_INT(tools, 2);
            /* Errors by code (the invocation's sum line has Errors too, by Provider). */
            int coded = 0;
            json_array_foreach(lines, i, x) {
                if (json_object_get(x, "Code")) {
                    coded++;
                    CHECK_STR(json_string_value(json_object_get(x, "Code")), "States.Timeout");
                    CHECK(num(x, "Errors") == 1);
                }
            }
            CHECK_INT(coded, 1);
            d = line_with(lines, "BudgetTokensToday");
            CHECK(num(d, "BudgetTokensToday") == 1234);
            d = line_with(lines, "BudgetRefusals");
            dims_of(d, dims, sizeof dims);
            CHECK_STR(dims, "Service,Scope");
            CHECK_STR(json_string_value(json_object_get(d, "Scope")), "daily");
            d = line_with(lines, "ConversationDuration");
            CHECK(num(d, "ConversationDuration") >= 90 && num(d, "ConversationDuration") < 3600);
            /* And the invocation's sums, as before. */
            d = line_with(lines, "ToolCount");
            CHECK(num(d, "ToolCount") == 2 && num(d, "TokensIn") == 10);
            CHECK_INT(json_array_size(lines), 8);
        }
        json_decref(lines);
        observe_release(&o);
        fclose(f);
    }
}

int main(void)
{
    RUN(test_executions);
    RUN(test_serve_turn_line);
    RUN(test_per_invocation);
    RUN(test_per_event_lines);
    metrics_shutdown();
    return check_summary();
}
