/* test_sfn_jsonpath.c - every JSONPath form src/sfn/jsonpath.c accepts (filters, wildcards, deep
 * scan, unions, slices), the errors for those it refuses, and filters and wildcards used from an
 * ASL definition. Data-driven: each row is one check named after its path. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "sfn/jsonpath.h"
#include "sfn/sfn.h"

/* The document every evaluation row runs on. */
static const char *DOC =
    "{\"a\":[{\"x\":0,\"k\":\"v\",\"b\":1},{\"x\":2,\"k\":\"w\",\"b\":2},"
    "{\"x\":3,\"k\":\"v\",\"b\":3},{\"k\":\"z\"}],"
    "\"o\":{\"p\":{\"b\":10},\"q\":{\"b\":20}},\"s\":\"str\",\"n\":5}";

/* path -> expected result (compact, keys sorted); NULL: the definite path matches nothing. */
static const struct {
    const char *path;
    const char *want;
} evals[] = {
    /* filters */
    {"$.a[?(@.x > 1)]", "[{\"b\": 2, \"k\": \"w\", \"x\": 2}, {\"b\": 3, \"k\": \"v\", \"x\": 3}]"},
    {"$.a[?(@.x > 1)].b", "[2, 3]"},
    {"$.a[?(@.x >= 2)].b", "[2, 3]"},
    {"$.a[?(@.x < 2)].b", "[1]"},
    {"$.a[?(@.x <= 2)].b", "[1, 2]"},
    {"$.a[?(@.x == 3)].b", "[3]"},
    {"$.a[?(@.x != 3)].b", "[1, 2]"},
    {"$.a[?(@.k == 'v')].b", "[1, 3]"},
    {"$.a[?(@.k == \"w\")].b", "[2]"},
    {"$.a[?(@.k != 'v')].k", "[\"w\", \"z\"]"},
    {"$.a[?(@.k > 'v')].k", "[\"w\", \"z\"]"},
    {"$.a[?(@.x)].b", "[1, 2, 3]"},
    {"$.a[?(@.x > 'v')]", "[]"},        /* a number never compares with a string */
    {"$.a[?(@.x > 100)]", "[]"},
    {"$.o[?(@.b > 15)]", "[{\"b\": 20}]"}, /* a filter over an object's values */
    /* wildcards */
    {"$.a[*].b", "[1, 2, 3]"},
    {"$.a[*].k", "[\"v\", \"w\", \"v\", \"z\"]"},
    {"$.o.*.b", "[10, 20]"},
    {"$.*", NULL}, /* set below: the values of the root in document order */
    {"$.o[*]", "[{\"b\": 10}, {\"b\": 20}]"},
    {"$.s[*]", "[]"}, /* a wildcard over a scalar selects nothing */
    /* deep scan */
    {"$..b", "[1, 2, 3, 10, 20]"},
    {"$.o..*", "[{\"b\": 10}, {\"b\": 20}, 10, 20]"},
    /* unions and slices */
    {"$.a[0,2].b", "[1, 3]"},
    {"$.a[-1].k", "\"z\""},
    {"$.o['p','q'].b", "[10, 20]"},
    {"$.a[1:3].b", "[2, 3]"},
    {"$.a[:1].b", "[1]"},
    {"$.a[-2:].k", "[\"v\", \"z\"]"},
    /* definite paths */
    {"$.a[1].x", "2"},
    {"$['o']['p'].b", "10"},
    {"$.missing", NULL},
    {"$.a[9]", NULL},
};

/* Texts that do not compile: (path, flags, a fragment of the message). */
static const struct {
    const char *path;
    int flags;
    const char *msg;
} errors[] = {
    {"a.b", 0, "must start with '$'"},
    {"$.a[?(x > 1)]", 0, "filter must start with '@'"},
    {"$.a[?(@.x > )]", 0, "expected a literal in filter"},
    {"$.a[?(@.x > 1]", 0, "expected ')]'"},
    {"$.a[?@.x]", 0, "expected '(' after '?'"},
    {"$.a[?(@.x > 1 && @.y < 2)]", 0, "expected ')]'"}, /* no boolean operators */
    {"$.a[?(@.x =~ /v/)]", 0, "expected ')]'"},         /* no regular expressions */
    {"$.a[*", 0, "expected ']'"},
    {"$..[0]", 0, "deep scan must be followed by a name or '*'"},
    {"$.a['b", 0, "unterminated quoted name"},
    {"$.a[x]", 0, "expected an integer"},
    {"$.a[1:x]", 0, "expected an integer"},
    {"$.", 0, "expected a name after '.'"},
    {"$.a[*].b", JSONPATH_REFERENCE, "not allowed here"},
    {"$.a[?(@.x > 1)]", JSONPATH_REFERENCE, "not allowed here"},
    {"$.*", JSONPATH_REFERENCE, "not allowed here"},
    {"$..b", JSONPATH_REFERENCE, "not allowed here"},
    {"$.a[0,1]", JSONPATH_REFERENCE, "not allowed here"},
    {"$.a[0:1]", JSONPATH_REFERENCE, "not allowed here"},
};

static char *dump_sorted(const json_t *v)
{
    return json_dumps(v, JSON_ENCODE_ANY | JSON_SORT_KEYS);
}

static void test_eval_forms(void)
{
    json_t *doc = json_loads(DOC, 0, NULL);
    char name[160];
    for (size_t i = 0; i < sizeof evals / sizeof evals[0]; i++) {
        const char *want = evals[i].want;
        if (!strcmp(evals[i].path, "$.*"))
            want = "[[{\"b\": 1, \"k\": \"v\", \"x\": 0}, {\"b\": 2, \"k\": \"w\", \"x\": 2}, "
                   "{\"b\": 3, \"k\": \"v\", \"x\": 3}, {\"k\": \"z\"}], "
                   "{\"p\": {\"b\": 10}, \"q\": {\"b\": 20}}, \"str\", 5]";
        struct err e = {0};
        struct jsonpath *p = jsonpath_compile(evals[i].path, 0, &e);
        json_t *out = NULL;
        int rc = p ? jsonpath_eval(p, doc, &out) : -1;
        char *got = rc == 0 ? dump_sorted(out) : NULL;
        int ok = p && (want ? rc == 0 && got && !strcmp(got, want) : rc == 1);
        if (!ok)
            fprintf(stderr, "%s: got %s (rc %d, %s), want %s\n", evals[i].path,
                    got ? got : "nothing", rc, e.message, want ? want : "no match");
        snprintf(name, sizeof name, "eval %s", evals[i].path);
        check_record(name, ok);
        free(got);
        if (out)
            json_decref(out);
        jsonpath_free(p);
    }
    json_decref(doc);
}

static void test_unsupported_forms(void)
{
    char name[160];
    for (size_t i = 0; i < sizeof errors / sizeof errors[0]; i++) {
        struct err e = {0};
        struct jsonpath *p = jsonpath_compile(errors[i].path, errors[i].flags, &e);
        int ok = !p && !strcmp(e.code, "InvalidPath") && strstr(e.message, errors[i].msg);
        if (!ok)
            fprintf(stderr, "%s: compiled=%d code '%s' message '%s', want '%s'\n",
                    errors[i].path, p != NULL, e.code, e.message, errors[i].msg);
        snprintf(name, sizeof name, "refuse %s%s", errors[i].path,
                 errors[i].flags & JSONPATH_REFERENCE ? " (reference)" : "");
        check_record(name, ok);
        jsonpath_free(p);
    }
}

/* Filters and wildcards where ASL uses them: InputPath, a Parameters `.$` field, ItemsPath; and a
 * filter in a Reference Path (ResultPath) refused with the state's location. */
static void test_in_definitions(void)
{
    const char *def =
        "{\"StartAt\":\"Pick\",\"States\":{"
        "\"Pick\":{\"Type\":\"Pass\",\"InputPath\":\"$.orders[?(@.qty > 1)]\",\"Next\":\"Shape\"},"
        "\"Shape\":{\"Type\":\"Pass\",\"Parameters\":{\"skus.$\":\"$[*].sku\","
        "\"big.$\":\"$[?(@.sku == 'B')].qty\"},\"Next\":\"Each\"},"
        "\"Each\":{\"Type\":\"Map\",\"ItemsPath\":\"$.skus\",\"ItemProcessor\":{\"StartAt\":\"E\","
        "\"States\":{\"E\":{\"Type\":\"Pass\",\"End\":true}}},\"ResultPath\":\"$.each\","
        "\"End\":true}}}";
    struct err e = {0};
    struct sfn_machine *m = sfn_machine_parse(def, &e);
    CHECK(m != NULL);
    if (!m) {
        fprintf(stderr, "%s\n", e.message);
        return;
    }
    json_t *in = json_loads("{\"orders\":[{\"sku\":\"A\",\"qty\":1},{\"sku\":\"B\",\"qty\":4},"
                            "{\"sku\":\"C\",\"qty\":2}]}",
                            0, NULL);
    struct sfn_run_opts o = {.virtual_clock = 1};
    struct sfn_result r;
    CHECK_INT(sfn_run(m, in, &o, &r), 0);
    CHECK_INT(r.status, SFN_SUCCEEDED);
    char *got = r.output ? dump_sorted(r.output) : NULL;
    CHECK_STR(got, "{\"big\": [4], \"each\": [\"B\", \"C\"], \"skus\": [\"B\", \"C\"]}");
    free(got);
    sfn_result_release(&r);
    json_decref(in);
    sfn_machine_free(m);

    const char *bad = "{\"StartAt\":\"P\",\"States\":{\"P\":{\"Type\":\"Pass\","
                      "\"ResultPath\":\"$.a[?(@.x > 1)]\",\"End\":true}}}";
    memset(&e, 0, sizeof e);
    m = sfn_machine_parse(bad, &e);
    CHECK(m == NULL);
    CHECK(strstr(e.message, "/States/P/ResultPath") != NULL);
    CHECK(strstr(e.message, "not allowed here") != NULL);
    sfn_machine_free(m);
}

int main(void)
{
    test_eval_forms();
    test_unsupported_forms();
    RUN(test_in_definitions);
    return check_summary();
}
