/* test_observe.c - the agent hooks every host installs: execution records kept per session and
 * capped, one EMF line per turn in serve mode (figures of the turn only), and in per-invocation
 * mode (Lambda) the model and tool figures carried by the turn line or written at flush. */
#include <stdlib.h>

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
    observe_release(&o);
    observe_release(&o); /* twice is harmless */
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
    json_t *lines = read_lines(f);
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

int main(void)
{
    RUN(test_executions);
    RUN(test_serve_turn_line);
    RUN(test_per_invocation);
    metrics_shutdown();
    return check_summary();
}
