/*
 * test_operators.c - the PARLEY_OPERATORS_FILE parser: valid files, lookup by token (only the
 * SHA-256 is stored) and a clear error naming the entry for each kind of bad input.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "runtime/operators.h"

static char alice_hex[65], bob_hex[65];

static void hex_of(const char *token, char *out)
{
    char cmd[200];
    snprintf(cmd, sizeof cmd, "printf %%s '%s' | sha256sum", token);
    FILE *p = popen(cmd, "r");
    if (!p || !fgets(out, 65, p))
        out[0] = '\0';
    if (p)
        pclose(p);
}

static struct operators *parse(const char *text, struct err *e)
{
    err_clear(e);
    return operators_parse(text, strlen(text), "ops.json", e);
}

static void test_valid_file(void)
{
    char text[600];
    snprintf(text, sizeof text,
             "[{\"name\":\"Alice\",\"token_sha256\":\"%s\",\"role\":\"admin\"},"
             " {\"name\":\"Bob\",\"token_sha256\":\"%s\",\"role\":\"agent\"}]",
             alice_hex, bob_hex);
    struct err e;
    struct operators *ops = parse(text, &e);
    CHECK(ops != NULL);
    CHECK_INT((int)operators_count(ops), 2);
    struct operator_id who;
    CHECK_INT(operators_find(ops, "alice-token", &who), 0);
    CHECK_STR(who.name, "Alice");
    CHECK_STR(operators_role_name(who.role), "admin");
    CHECK_INT(operators_find(ops, "bob-token", &who), 0);
    CHECK_STR(who.name, "Bob");
    CHECK_STR(operators_role_name(who.role), "agent");
    CHECK_INT(operators_find(ops, "bob-token ", &who), -1);
    CHECK_INT(operators_find(ops, "", &who), -1);
    CHECK_INT(operators_find(NULL, "bob-token", &who), -1);
    operators_free(ops);
    operators_free(NULL);
}

/* Each bad input fails with InvalidConfig and a message holding every fragment given. */
static void expect_bad(const char *text, const char *frag1, const char *frag2)
{
    struct err e;
    struct operators *ops = parse(text, &e);
    CHECK(ops == NULL);
    CHECK_STR(e.code, "InvalidConfig");
    if (!strstr(e.message, frag1) || (frag2 && !strstr(e.message, frag2))) {
        fprintf(stderr, "  message was: %s\n", e.message);
        CHECK(0);
    }
    operators_free(ops);
}

static void test_bad_files(void)
{
    char text[800];
    expect_bad("", "ops.json: line", NULL);
    expect_bad("{}", "ops.json: must be a JSON array", NULL);
    expect_bad("[]", "must be a JSON array of 1 to", NULL);
    expect_bad("[1]", "entry 0 is not an object", NULL);
    snprintf(text, sizeof text, "[{\"token_sha256\":\"%s\",\"role\":\"admin\"}]", alice_hex);
    expect_bad(text, "entry 0: \"name\" must be a string", NULL);
    expect_bad("[{\"name\":\"Alice\",\"token_sha256\":\"abc\",\"role\":\"admin\"}]",
               "entry 0 (\"Alice\"): \"token_sha256\" must be", "64 hex digits");
    snprintf(text, sizeof text, "[{\"name\":\"Alice\",\"token_sha256\":\"%s\",\"role\":\"boss\"}]",
             alice_hex);
    expect_bad(text, "entry 0 (\"Alice\"): \"role\" must be \"agent\" or \"admin\"", NULL);
    snprintf(text, sizeof text,
             "[{\"name\":\"Alice\",\"token_sha256\":\"%s\",\"role\":\"admin\",\"token\":\"x\"}]",
             alice_hex);
    expect_bad(text, "entry 0 (\"Alice\"): unknown key \"token\"", NULL);
    snprintf(text, sizeof text,
             "[{\"name\":\"Alice\",\"token_sha256\":\"%s\",\"role\":\"admin\"},"
             " {\"name\":\"Alice\",\"token_sha256\":\"%s\",\"role\":\"agent\"}]",
             alice_hex, bob_hex);
    expect_bad(text, "entry 1: name \"Alice\" is already used by entry 0", NULL);
    snprintf(text, sizeof text,
             "[{\"name\":\"Alice\",\"token_sha256\":\"%s\",\"role\":\"admin\"},"
             " {\"name\":\"Bob\",\"token_sha256\":\"%s\",\"role\":\"agent\"}]",
             alice_hex, alice_hex);
    expect_bad(text, "entry 1 (\"Bob\"): the same token as entry 0 (\"Alice\")", NULL);
    snprintf(text, sizeof text,
             "[{\"name\":\"Alice\",\"token_sha256\":\"%s\",\"role\":\"admin\","
             "\"name\":\"Eve\"}]",
             alice_hex);
    expect_bad(text, "ops.json: line 1", "duplicate");
}

static void test_load(void)
{
    struct err e;
    err_clear(&e);
    CHECK(operators_load("/nonexistent/ops.json", &e) == NULL);
    CHECK(strstr(e.message, "cannot open PARLEY_OPERATORS_FILE '/nonexistent/ops.json'") != NULL);
    char path[] = "/tmp/parley-ops-XXXXXX";
    int fd = mkstemp(path);
    char text[300];
    int n = snprintf(text, sizeof text, "[{\"name\":\"Bob\",\"token_sha256\":\"%s\",\"role\":\"agent\"}]",
                     bob_hex);
    CHECK(fd >= 0 && write(fd, text, (size_t)n) == n);
    close(fd);
    err_clear(&e);
    struct operators *ops = operators_load(path, &e);
    CHECK(ops != NULL);
    CHECK_INT((int)operators_count(ops), 1);
    operators_free(ops);
    unlink(path);
}

int main(void)
{
    hex_of("alice-token", alice_hex);
    hex_of("bob-token", bob_hex);
    if (check_require("sha256sum works", strlen(alice_hex) == 64 && strlen(bob_hex) == 64)) {
        RUN(test_valid_file);
        RUN(test_bad_files);
        RUN(test_load);
    }
    return check_summary();
}
