/*
 * test_pattern.c - EventBridge event-pattern matcher.
 *
 * Data-driven: every JSON file in tests/cases/pattern holds {"page": url, "cases": [...]} where a
 * case is {"name", "pattern" | "pattern_text", "match": [events], "nomatch": [events]} or
 * {"name", "pattern" | "pattern_text", "invalid": "fragment of the expected message"}. Each
 * (pattern, event) pair and each invalid pattern is one recorded result.
 */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "bus/pattern.h"
#include "check.h"

static struct pattern *compile_case(const json_t *c, struct err *e)
{
    const json_t *text = json_object_get(c, "pattern_text");
    if (json_is_string(text))
        return pattern_compile_str(json_string_value(text), e);
    return pattern_compile(json_object_get(c, "pattern"), e);
}

static void run_events(const char *file, const char *name, const struct pattern *p,
                       const json_t *events, int want)
{
    size_t i;
    const json_t *ev;
    json_array_foreach(events, i, ev)
    {
        char label[512];
        int got = pattern_match(p, ev);
        snprintf(label, sizeof label, "%s: %s: %s #%zu", file, name, want ? "match" : "nomatch", i);
        if (got != want) {
            char *dump = json_dumps(ev, JSON_COMPACT);
            fprintf(stderr, "%s: expected %d got %d for %s\n", label, want, got, dump);
            free(dump);
        }
        check_record(label, got == want);
    }
}

static void run_case(const char *file, const json_t *c)
{
    const char *name = json_string_value(json_object_get(c, "name"));
    const json_t *invalid = json_object_get(c, "invalid");
    struct err e;
    err_clear(&e);
    struct pattern *p = compile_case(c, &e);
    char label[512];
    if (!name)
        name = "(unnamed)";
    if (json_is_string(invalid)) {
        int ok = p == NULL && strcmp(e.code, "InvalidEventPattern") == 0 &&
                 strstr(e.message, json_string_value(invalid)) != NULL;
        snprintf(label, sizeof label, "%s: %s: invalid", file, name);
        if (!ok)
            fprintf(stderr, "%s: wanted rejection containing '%s', got %s '%s'\n", label,
                    json_string_value(invalid), p ? "acceptance" : "rejection", e.message);
        check_record(label, ok);
        pattern_free(p);
        return;
    }
    if (!p) {
        snprintf(label, sizeof label, "%s: %s: compiles", file, name);
        fprintf(stderr, "%s: %s\n", label, e.message);
        check_record(label, 0);
        return;
    }
    run_events(file, name, p, json_object_get(c, "match"), 1);
    run_events(file, name, p, json_object_get(c, "nomatch"), 0);
    pattern_free(p);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void run_case_files(void)
{
    const char *src = getenv("PARLEY_SRC");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/cases/pattern", src ? src : ".");
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "cannot open '%s'\n", dir);
        check_record("case directory", 0);
        return;
    }
    char *names[256];
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL && n < 256) {
        size_t len = strlen(de->d_name);
        if (len > 5 && strcmp(de->d_name + len - 5, ".json") == 0)
            names[n++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_names);
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        char path[1400];
        json_error_t jerr;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        json_t *doc = json_load_file(path, 0, &jerr);
        if (!doc || !json_is_string(json_object_get(doc, "page"))) {
            fprintf(stderr, "%s: %s (line %d); each file needs a \"page\" citation\n", path,
                    doc ? "no page" : jerr.text, jerr.line);
            check_record(names[i], 0);
        } else {
            size_t j;
            const json_t *c;
            json_array_foreach(json_object_get(doc, "cases"), j, c)
            {
                run_case(names[i], c);
                total++;
            }
        }
        json_decref(doc);
        free(names[i]);
    }
    /* The suite promises at least 60 cases; losing files should fail loudly. */
    fprintf(stderr, "%zu pattern cases\n", total);
    check_require("at least 60 pattern cases", total >= 60);
}

/* ---- API behaviour not expressible as a case file ---- */

static void test_null_and_bad_json(void)
{
    struct err e;
    err_clear(&e);
    CHECK(pattern_compile_str("{\"source\": [", &e) == NULL);
    CHECK(strstr(e.message, "not valid JSON") != NULL);
    CHECK(pattern_compile_str(NULL, &e) == NULL);
    CHECK(pattern_compile(NULL, &e) == NULL);
    CHECK_INT(pattern_match(NULL, NULL), 0);
    pattern_free(NULL);
}

static void test_length_cap(void)
{
    struct err e;
    size_t n = PATTERN_MAX_CHARS + 100;
    char *big = malloc(n + 1);
    memset(big, ' ', n);
    memcpy(big, "{\"source\":[\"x\"]}", 16);
    big[n] = '\0';
    err_clear(&e);
    CHECK(pattern_compile_str(big, &e) == NULL);
    CHECK(strstr(e.message, "limit is 4096") != NULL);
    free(big);
}

static void test_depth_cap(void)
{
    /* 40 nested objects: deeper than PATTERN_MAX_DEPTH. */
    char buf[1024] = "";
    for (int i = 0; i < 40; i++)
        strcat(buf, "{\"a\":");
    strcat(buf, "[1]");
    for (int i = 0; i < 40; i++)
        strcat(buf, "}");
    struct err e;
    err_clear(&e);
    CHECK(pattern_compile_str(buf, &e) == NULL);
    CHECK(strstr(e.message, "deeper") != NULL);
}

static void test_match_many(void)
{
    struct err e;
    struct pattern *p = pattern_compile_str(
        "{\"detail-type\":[\"action_executed\"],\"detail\":{\"latency_ms\":[{\"numeric\":[\">=\",100]}]}}",
        &e);
    CHECK(p != NULL);
    int hits = 0;
    for (int i = 0; i < 200; i++) {
        json_t *ev = json_pack("{s:s, s:{s:i}}", "detail-type", "action_executed", "detail",
                               "latency_ms", i);
        hits += pattern_match(p, ev);
        json_decref(ev);
    }
    CHECK_INT(hits, 100);
    pattern_free(p);
}

int main(void)
{
    run_case_files();
    RUN(test_null_and_bad_json);
    RUN(test_length_cap);
    RUN(test_depth_cap);
    RUN(test_match_many);
    return check_summary();
}
