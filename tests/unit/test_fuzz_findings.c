/*
 * test_fuzz_findings.c - regression tests for the findings of the fuzz runs of issue 14 (their
 * inputs are also in fuzz/corpus/, replayed by test_fuzz_corpus.sh): a Choice rule with two
 * comparison operators leaked its first operand; stacked quantifiers in a tool-schema pattern
 * made regcomp take seconds and gigabytes; the event-stream decoder fed 0 bytes. Run under ASan,
 * a leak fails the binary.
 */
#include <string.h>

#include "agent/schema.h"
#include "base/xmalloc.h"
#include "check.h"
#include "model/providers_int.h"
#include "sfn/sfn.h"

static void choice_two_operators_is_reported_without_leak(void)
{
    const char *def = "{\"StartAt\":\"C\",\"States\":{\"C\":{\"Type\":\"Choice\",\"Choices\":[{"
                      "\"Variable\":\"$.v\",\"StringEquals\":\"a\",\"NumericEquals\":1,"
                      "\"Next\":\"E\"},{\"Not\":{\"Variable\":\"$.v\",\"IsNull\":true},\"And\":[{"
                      "\"Variable\":\"$.w\",\"IsPresent\":true}],\"Next\":\"E\"}],"
                      "\"Default\":\"E\"},\"E\":{\"Type\":\"Succeed\"}}}";
    struct err e = {0};
    struct sfn_problem_list pl;
    sfn_problem_list_init(&pl);
    CHECK(sfn_machine_parse_ex(def, &pl, &e) == NULL);
    CHECK_STR(e.code, "States.InvalidDefinition");
    int two = 0;
    for (size_t i = 0; i < pl.count; i++)
        two += strstr(pl.items[i].message, "exactly one comparison operator") != NULL &&
               strstr(pl.items[i].where, "/States/C/Choices/") != NULL;
    CHECK_INT(two, 2); /* both rules named, each once */
    sfn_problem_list_release(&pl);
}

/* Compiles {"type":"object","properties":{"code":{"type":"string","pattern":P}}}; returns 0 or -1
 * with e set. */
static int compile_pattern(const char *pattern, struct err *e)
{
    json_t *s = json_pack("{s:s, s:{s:{s:s, s:s}}}", "type", "object", "properties", "code", "type",
                          "string", "pattern", pattern);
    struct schema *c = schema_compile(s, e);
    int rc = c ? 0 : -1;
    schema_free(c);
    json_decref(s);
    return rc;
}

static void complex_patterns_are_rejected_naming_the_path(void)
{
    static const char *const bad[] = {
        "((((a{1,100}){1,100}){1,100}){1,100})", /* the finding: nested {n,m} */
        "^(a+)*(b**)+$",                         /* stacked quantifiers */
        "x{2}{3}",                               /* stacked bounds */
        "x{99999}",                              /* one huge bound */
        "(a{1,50}){1,50}",                       /* product above the cap */
        "(a)\\1",                                /* backreference */
        "1{,12001}",                             /* glibc's {,m}: a timeout of the long run */
        "(x{,40}){,40}",                         /* {,m} counted like {0,m} */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct err e = {0};
        CHECK_INT(compile_pattern(bad[i], &e), -1);
        CHECK_STR(e.code, "InvalidSchema");
        CHECK(strstr(e.message, "/properties/code/pattern") != NULL);
        CHECK(strstr(e.message, "too complex") != NULL);
    }
}

static void ordinary_patterns_still_compile_and_match(void)
{
    static const char *const good[] = {
        "^[0-9]{16}$", "^T-\\d+$", "^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\\.[a-z]{2,}$",
        "^.{1,500}$",  "a+?b*?",   "^(ORD|INV)-[0-9]{4,8}(-[A-Z]{2})?$",
        "^[{}]+$"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        struct err e = {0};
        CHECK_INT(compile_pattern(good[i], &e), 0);
    }
    json_t *s = json_pack("{s:s, s:s}", "type", "string", "pattern", "^(ORD|INV)-[0-9]{4,8}$");
    struct err e = {0};
    struct schema *c = schema_compile(s, &e);
    CHECK(c != NULL);
    json_t *ok = json_string("ORD-12345"), *no = json_string("ORD-12");
    CHECK_INT(schema_validate(c, ok, &e), 0);
    CHECK(schema_validate(c, no, &e) != 0);
    json_decref(ok);
    json_decref(no);
    schema_free(c);
    json_decref(s);
}

/* Validates a string of n copies of unit (cut to n bytes) against a compiled pattern; returns the
 * report (caller frees) or NULL when it matches. */
static char *check_long(const char *pattern, const char *unit, size_t n)
{
    json_t *s = json_pack("{s:s, s:s}", "type", "string", "pattern", pattern);
    struct err e = {0};
    struct schema *c = schema_compile(s, &e);
    CHECK(c != NULL);
    char *text = xmalloc(n + 1);
    for (size_t i = 0; i < n; i++)
        text[i] = unit[i % strlen(unit)];
    text[n] = '\0';
    json_t *x = json_string(text);
    char *msg = NULL;
    if (c)
        (void)schema_check(c, x, &msg);
    json_decref(x);
    free(text);
    schema_free(c);
    json_decref(s);
    return msg;
}

/* The timeout of the long schema run: patterns inside the size cap made glibc's regexec take tens
 * of seconds on a 3000-byte string (its automaton states grow with the pattern's alternatives).
 * Matching is now bounded by length x size^2: the long string is a violation without a match. */
static void slow_regexec_is_time_boxed_by_length(void)
{
    static const struct {
        const char *pattern, *unit; /* the pattern; the string is unit repeated */
        size_t n;                   /* the string's length in bytes */
        const char *want;           /* in the report, or NULL: the string matches */
    } cases[] = {
        /* Size 901, unanchored: at most 60 bytes are matched. */
        {"((.?){30}){30}x", "a", 3000, "is too long to match against the pattern ((.?){30}){30}x "
                                       "(3000 bytes; at most 60"},
        {"([ab]?[bc]?[ca]?){300}$", "abc", 3000, "is too long to match"},
        /* The timeout of the second long run: unanchored, every start was tried. */
        {"([ab]?[bc]?[ca]?){300}$", "abc", 200, "200 bytes; at most 60"},
        /* Short strings are still matched against the same pattern. */
        {"^([ab]?[bc]?[ca]?){300}$", "abc", 12, NULL},
        {"^([ab]?[bc]?[ca]?){300}$", "abd", 12, "must match the pattern"},
        /* Ordinary patterns keep their reach: 300 characters against ^.{1,300}$, an anchored
         * email pattern over 100000 bytes, an unanchored ticket number in 5000 bytes. */
        {"^.{1,300}$", "xy", 300, NULL},
        {"^.{1,300}$", "xy", 301, "must match the pattern"},
        {"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\\.[a-z]{2,}$", "a", 100000, "must match the pattern"},
        {"TKT-[0-9]{6}", "see TKT-123456 ", 5000, NULL},
        {"TKT-[0-9]{6}", "see TKT-123456 ", 6000, "is too long to match"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *msg = check_long(cases[i].pattern, cases[i].unit, cases[i].n);
        if (cases[i].want)
            CHECK(msg && strstr(msg, cases[i].want));
        else
            CHECK(msg == NULL);
        free(msg);
    }
    /* Above the size cap the pattern is rejected at compile time. */
    struct err e = {0};
    CHECK_INT(compile_pattern("^(.?){1000}$", &e), -1);
    CHECK(strstr(e.message, "expands to more than 1000 elements") != NULL);
}

static int count_msg(void *ud, const struct model__evstream_msg *m)
{
    int *n = ud;
    (*n)++;
    return strcmp(m->event_type, "chunk") == 0 ? 0 : -1;
}

static void evstream_zero_bytes_then_a_frame(void)
{
    /* One frame: header ":event-type" = "chunk" (type 7, string), payload "{}", CRCs filled in. */
    unsigned char f[64];
    const char name[] = ":event-type", val[] = "chunk";
    size_t h = 0;
    unsigned char hdr[32];
    hdr[h++] = (unsigned char)(sizeof name - 1);
    memcpy(hdr + h, name, sizeof name - 1), h += sizeof name - 1;
    hdr[h++] = 7, hdr[h++] = 0, hdr[h++] = (unsigned char)(sizeof val - 1);
    memcpy(hdr + h, val, sizeof val - 1), h += sizeof val - 1;
    size_t total = 16 + h + 2;
    unsigned char *p = f;
    p[0] = 0, p[1] = 0, p[2] = 0, p[3] = (unsigned char)total;
    p[4] = 0, p[5] = 0, p[6] = 0, p[7] = (unsigned char)h;
    unsigned long crc = model__crc32(0, f, 8);
    for (int k = 0; k < 4; k++)
        f[8 + k] = (unsigned char)(crc >> (24 - 8 * k));
    memcpy(f + 12, hdr, h);
    memcpy(f + 12 + h, "{}", 2);
    crc = model__crc32(0, f, total - 4);
    for (int k = 0; k < 4; k++)
        f[total - 4 + k] = (unsigned char)(crc >> (24 - 8 * k));

    int n = 0;
    struct model__evstream d = {.fn = count_msg, .ud = &n};
    CHECK_INT(model__evstream_feed(&d, NULL, 0), 0); /* the finding: 0 bytes first */
    CHECK_INT(model__evstream_feed(&d, f, 0), 0);
    CHECK_INT(model__evstream_feed(&d, f, 5), 0); /* incomplete prelude: need more */
    CHECK_INT(n, 0);
    CHECK_INT(model__evstream_feed(&d, f + 5, total - 5), 0);
    CHECK_INT(n, 1);
    CHECK_INT(model__evstream_feed(&d, NULL, 0), 0);
    model__evstream_release(&d);
    struct model__evstream fresh = {.fn = count_msg, .ud = &n};
    model__evstream_release(&fresh); /* released without a feed */
    CHECK_INT(n, 1);
}

int main(void)
{
    RUN(choice_two_operators_is_reported_without_leak);
    RUN(complex_patterns_are_rejected_naming_the_path);
    RUN(ordinary_patterns_still_compile_and_match);
    RUN(slow_regexec_is_time_boxed_by_length);
    RUN(evstream_zero_bytes_then_a_frame);
    return check_summary();
}
