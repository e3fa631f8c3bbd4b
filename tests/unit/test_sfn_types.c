/* test_sfn_types.c - the state type table (src/sfn/sfn_int.h SFN_STATE_TYPES): every type
 * compiles and runs through its row, the names appear where users see them (problems, on_state),
 * and fields belong to the types the field table says. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "sfn/sfn.h"

/* One definition that enters a state of every type: Pass -> Task -> Choice -> Wait -> Parallel
 * (branch: Succeed) -> Map (item: Pass) -> Fail. */
static const char *ALL_TYPES =
    "{\"StartAt\":\"P\",\"States\":{"
    "\"P\":{\"Type\":\"Pass\",\"Result\":{\"go\":true,\"items\":[1,2]},\"Next\":\"T\"},"
    "\"T\":{\"Type\":\"Task\",\"Resource\":\"arn:aws:states:::noop\",\"Next\":\"C\"},"
    "\"C\":{\"Type\":\"Choice\",\"Choices\":[{\"Variable\":\"$.go\",\"BooleanEquals\":true,"
    "\"Next\":\"W\"}]},"
    "\"W\":{\"Type\":\"Wait\",\"Seconds\":5,\"Next\":\"Par\"},"
    "\"Par\":{\"Type\":\"Parallel\",\"Branches\":[{\"StartAt\":\"S\",\"States\":{"
    "\"S\":{\"Type\":\"Succeed\"}}}],\"ResultPath\":\"$.par\",\"Next\":\"M\"},"
    "\"M\":{\"Type\":\"Map\",\"ItemsPath\":\"$.items\",\"ItemProcessor\":{\"StartAt\":\"I\","
    "\"States\":{\"I\":{\"Type\":\"Pass\",\"End\":true}}},\"ResultPath\":\"$.m\",\"Next\":\"F\"},"
    "\"F\":{\"Type\":\"Fail\",\"Error\":\"Done\",\"Cause\":\"all types ran\"}}}";

struct seen {
    char types[16][16];
    char names[16][8];
    size_t n;
};

static void on_state(void *ud, const struct sfn_state_report *r)
{
    struct seen *s = ud;
    if (s->n < 16) {
        snprintf(s->types[s->n], sizeof s->types[0], "%s", r->type);
        snprintf(s->names[s->n], sizeof s->names[0], "%s", r->name);
        s->n++;
    }
}

static void test_every_type_runs(void)
{
    struct err e = {0};
    struct sfn_machine *m = sfn_machine_parse(ALL_TYPES, &e);
    CHECK(m != NULL);
    if (!m) {
        fprintf(stderr, "%s\n", e.message);
        return;
    }
    struct seen s = {0};
    struct sfn_run_opts o = {.virtual_clock = 1, .start_ms = 1000, .on_state = on_state,
                             .state_ud = &s};
    json_t *in = json_object();
    struct sfn_result r;
    CHECK_INT(sfn_run(m, in, &o, &r), 0);
    CHECK_INT(r.status, SFN_FAILED);
    CHECK_STR(r.error, "Done");
    CHECK_STR(r.cause, "all types ran");
    /* on_state reports branch states as they end, before the state that holds them */
    const char *want[][2] = {{"P", "Pass"},     {"T", "Task"},     {"C", "Choice"},
                             {"W", "Wait"},     {"S", "Succeed"},  {"Par", "Parallel"},
                             {"I", "Pass"},     {"I", "Pass"},     {"M", "Map"},
                             {"F", "Fail"}};
    CHECK_INT(s.n, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < s.n && i < sizeof want / sizeof want[0]; i++) {
        CHECK_STR(s.names[i], want[i][0]);
        CHECK_STR(s.types[i], want[i][1]);
    }
    CHECK_INT(r.transitions, 10);
    sfn_result_release(&r);
    json_decref(in);
    sfn_machine_free(m);
}

static void test_unknown_type_lists_every_type(void)
{
    struct err e = {0};
    struct sfn_machine *m =
        sfn_machine_parse("{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Lambda\","
                          "\"End\":true}}}",
                          &e);
    CHECK(m == NULL);
    CHECK(strstr(e.message, "/States/A/Type: unknown Type 'Lambda' (use Task, Pass, Choice, "
                            "Wait, Succeed, Fail, Parallel or Map)") != NULL);
    if (!strstr(e.message, "(use Task"))
        fprintf(stderr, "got: %s\n", e.message);
    sfn_machine_free(m);
    memset(&e, 0, sizeof e);
    m = sfn_machine_parse("{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":7,\"End\":true}}}", &e);
    CHECK(m == NULL);
    CHECK(strstr(e.message, "unknown Type (not a string) (use Task,") != NULL);
    sfn_machine_free(m);
    memset(&e, 0, sizeof e);
    m = sfn_machine_parse("{\"StartAt\":\"A\",\"States\":{\"A\":{\"End\":true}}}", &e);
    CHECK(m == NULL);
    CHECK(strstr(e.message, "a state must have Type") != NULL);
    sfn_machine_free(m);
}

/* A field of one type in a state of another is named with the state's type. */
static void test_field_table_by_type(void)
{
    static const struct {
        const char *state;
        const char *msg;
    } rows[] = {
        {"{\"Type\":\"Succeed\",\"Next\":\"X\"}", "field 'Next' is not allowed in a Succeed state"},
        {"{\"Type\":\"Fail\",\"InputPath\":\"$\"}",
         "field 'InputPath' is not allowed in a Fail state"},
        {"{\"Type\":\"Wait\",\"Seconds\":1,\"Retry\":[],\"End\":true}",
         "field 'Retry' is not allowed in a Wait state"},
        {"{\"Type\":\"Parallel\",\"ItemsPath\":\"$\",\"Branches\":[],\"End\":true}",
         "field 'ItemsPath' is not allowed in a Parallel state"},
        {"{\"Type\":\"Map\",\"Branches\":[],\"End\":true}",
         "field 'Branches' is not allowed in a Map state"},
        {"{\"Type\":\"Choice\",\"Resource\":\"arn:x\",\"Choices\":[]}",
         "field 'Resource' is not allowed in a Choice state"},
        {"{\"Type\":\"Task\",\"Resource\":\"arn:x\"}", "a Task state needs Next or \"End\": true"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char *def = NULL;
        if (asprintf(&def, "{\"StartAt\":\"A\",\"States\":{\"A\":%s,\"X\":{\"Type\":\"Succeed\"}}}",
                     rows[i].state) < 0)
            def = NULL;
        struct err e = {0};
        struct sfn_machine *m = def ? sfn_machine_parse(def, &e) : NULL;
        CHECK(m == NULL);
        if (!strstr(e.message, rows[i].msg)) {
            fprintf(stderr, "row %zu: want '%s' in '%s'\n", i, rows[i].msg, e.message);
            CHECK(0);
        }
        sfn_machine_free(m);
        free(def);
    }
}

int main(void)
{
    RUN(test_every_type_runs);
    RUN(test_unknown_type_lists_every_type);
    RUN(test_field_table_by_type);
    return check_summary();
}
