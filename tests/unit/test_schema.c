/*
 * test_schema.c - JSON Schema validation of tool inputs.
 *
 * Data-driven: each JSON file in tests/cases/schema holds an array of groups, either
 * {"description", "schema", "tests": [{"name", "instance", "valid", "error": fragment | [fragments]}]}
 * or {"description", "schema", "invalid_schema": fragment}. Every test and every invalid schema
 * is one recorded result.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "agent/schema.h"
#include "check.h"

static int has_fragments(const char *msg, const json_t *want)
{
    if (json_is_string(want))
        return msg && strstr(msg, json_string_value(want)) != NULL;
    size_t i;
    const json_t *w;
    json_array_foreach(want, i, w)
    {
        if (!msg || !strstr(msg, json_string_value(w)))
            return 0;
    }
    return 1;
}

static void run_group(const char *file, const json_t *g)
{
    const char *desc = json_string_value(json_object_get(g, "description"));
    const json_t *invalid = json_object_get(g, "invalid_schema");
    struct err e;
    char label[512];
    err_clear(&e);
    struct schema *s = schema_compile(json_object_get(g, "schema"), &e);
    if (invalid) {
        int ok = !s && strcmp(e.code, "InvalidSchema") == 0 &&
                 strstr(e.message, json_string_value(invalid)) != NULL;
        snprintf(label, sizeof label, "%s: %s", file, desc);
        if (!ok)
            fprintf(stderr, "%s: wanted rejection with '%s', got %s '%s'\n", label,
                    json_string_value(invalid), s ? "acceptance" : "rejection", e.message);
        check_record(label, ok);
        schema_free(s);
        return;
    }
    if (!s) {
        snprintf(label, sizeof label, "%s: %s: compiles", file, desc);
        fprintf(stderr, "%s: %s\n", label, e.message);
        check_record(label, 0);
        return;
    }
    size_t i;
    const json_t *t;
    json_array_foreach(json_object_get(g, "tests"), i, t)
    {
        int want_valid = json_is_true(json_object_get(t, "valid"));
        const json_t *frag = json_object_get(t, "error");
        err_clear(&e);
        int rc = schema_validate(s, json_object_get(t, "instance"), &e);
        int ok = want_valid ? rc == 0 && !err_is_set(&e)
                            : rc == -1 && strcmp(e.code, "InvalidInput") == 0 &&
                                  (!frag || has_fragments(e.message, frag));
        snprintf(label, sizeof label, "%s: %s: %s", file, desc,
                 json_string_value(json_object_get(t, "name")));
        if (!ok)
            fprintf(stderr, "%s: rc %d message '%s'\n", label, rc, e.message);
        check_record(label, ok);
    }
    schema_free(s);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void run_case_files(void)
{
    const char *src = getenv("PARLEY_SRC");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/cases/schema", src ? src : ".");
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "cannot open '%s'\n", dir);
        check_record("case directory", 0);
        return;
    }
    char *names[128];
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL && n < 128) {
        size_t len = strlen(de->d_name);
        if (len > 5 && strcmp(de->d_name + len - 5, ".json") == 0)
            names[n++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_names);
    check_record("schema case files present", n >= 4);
    for (size_t i = 0; i < n; i++) {
        char path[1400];
        json_error_t jerr;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        json_t *doc = json_load_file(path, 0, &jerr);
        if (!json_is_array(doc)) {
            fprintf(stderr, "%s: line %d: %s\n", path, jerr.line, jerr.text);
            check_record(names[i], 0);
        }
        size_t j;
        const json_t *g;
        json_array_foreach(doc, j, g) run_group(names[i], g);
        json_decref(doc);
        free(names[i]);
    }
}

/* ---- API behaviour ---- */

static void test_full_message_and_cap(void)
{
    json_t *schema = json_pack("{s:s, s:{s:s}}", "type", "array", "items", "type", "string");
    struct err e;
    struct schema *s = schema_compile(schema, &e);
    CHECK(s != NULL);
    json_t *arr = json_array();
    for (int i = 0; i < 70; i++)
        json_array_append_new(arr, json_integer(i));
    char *msg = NULL;
    CHECK_INT(schema_check(s, arr, &msg), 70);
    CHECK(msg && strstr(msg, "/0: must be a string (got integer 0)") != NULL);
    CHECK(msg && strstr(msg, "/49: must be a string") != NULL);
    CHECK(msg && strstr(msg, "/50: must be") == NULL);
    CHECK(msg && strstr(msg, "and 20 more violations") != NULL);
    free(msg);
    /* The err copy is capped but still starts with the first violation. */
    CHECK_INT(schema_validate(s, arr, &e), -1);
    CHECK(strncmp(e.message, "/0: must be a string", 20) == 0);
    CHECK(strlen(e.message) < ERR_MSG_MAX);
    msg = (char *)1;
    json_t *ok = json_pack("[ss]", "a", "b");
    CHECK_INT(schema_check(s, ok, &msg), 0);
    CHECK(msg == NULL);
    json_decref(ok);
    json_decref(arr);
    json_decref(schema);
    schema_free(s);
}

static void test_deep_instance(void)
{
    json_t *schema = json_pack("{s:b}", "additionalProperties", 1);
    struct err e;
    struct schema *s = schema_compile(schema, &e);
    /* 100 nested arrays: validation must not recurse without bound (items absent: no descent). */
    json_t *root = json_array(), *cur = root;
    for (int i = 0; i < 100; i++) {
        json_t *next = json_array();
        json_array_append_new(cur, next);
        cur = next;
    }
    CHECK_INT(schema_validate(s, root, &e), 0);
    json_decref(root);
    json_decref(schema);
    schema_free(s);

    /* A self-similar schema 40 levels deep is refused at compile time. */
    json_t *deep = json_object();
    json_t *c = deep;
    for (int i = 0; i < 40; i++) {
        json_t *sub = json_object();
        json_object_set_new(c, "items", sub);
        c = sub;
    }
    err_clear(&e);
    CHECK(schema_compile(deep, &e) == NULL);
    CHECK(strstr(e.message, "deeper than") != NULL);
    json_decref(deep);
}

static void test_null_args(void)
{
    struct err e;
    CHECK(schema_compile(NULL, &e) == NULL);
    schema_free(NULL);
    CHECK_INT(schema_validate(NULL, NULL, &e), -1);
}

struct thread_arg {
    const struct schema *s;
    int failures;
};

static void *validate_many(void *p)
{
    struct thread_arg *a = p;
    for (int i = 0; i < 500; i++) {
        char id[32];
        snprintf(id, sizeof id, i % 2 ? "TKT-%06d" : "TKT-%d", i);
        json_t *in = json_pack("{s:s}", "ticket_id", id);
        struct err e;
        int rc = schema_validate(a->s, in, &e);
        int want_valid = i % 2; /* odd ids are zero-padded to six digits */
        if ((rc == 0) != want_valid)
            a->failures++;
        json_decref(in);
    }
    return NULL;
}

static void test_threads_share_a_schema(void)
{
    struct err e;
    json_t *schema = json_loads("{\"type\":\"object\",\"properties\":{\"ticket_id\":{\"type\":"
                                "\"string\",\"pattern\":\"^TKT-\\\\d{6}$\"}}}",
                                0, NULL);
    struct schema *s = schema_compile(schema, &e);
    CHECK(s != NULL);
    pthread_t th[4];
    struct thread_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (struct thread_arg){.s = s, .failures = 0};
        pthread_create(&th[i], NULL, validate_many, &args[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK_INT(args[i].failures, 0);
    }
    schema_free(s);
    json_decref(schema);
}

int main(void)
{
    run_case_files();
    RUN(test_full_message_and_cap);
    RUN(test_deep_instance);
    RUN(test_null_args);
    RUN(test_threads_share_a_schema);
    return check_summary();
}
