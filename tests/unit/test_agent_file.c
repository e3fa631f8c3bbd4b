/*
 * test_agent_file.c - the agent file: the demo agent in YAML and JSON, YAML 1.2 core-schema
 * conversion, caps, every invalid-file class with its exact location text (data-driven from
 * tests/cases/agent_file), ${VAR} expansion and masking, templates, limits and guardrails.
 *
 * Includes the module's .c to reach yaml_to_json (the YAML conversion on its own).
 */
#include "agent/agent_file.c"

#include <dirent.h>

#include "agent/agent.h"
#include "base/config.h"

#include "check.h"

static const char *src_dir(void)
{
    const char *s = getenv("PARLEY_SRC");
    return s ? s : ".";
}

/* Writes text to a fresh file named name under /tmp; returns its path (static buffer). */
static const char *write_tmp(const char *name, const char *text)
{
    static char path[512];
    static char dir[256];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/parley-agentfile-XXXXXX");
        if (!mkdtemp(dir))
            return NULL;
    }
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        return NULL;
    fputs(text, f);
    fclose(f);
    return path;
}

/* Converts YAML text; *report receives the problems (owned) or NULL. */
static json_t *convert(const char *yaml, char **report)
{
    struct probs p = {.file = "T"};
    p.out = open_memstream(&p.buf, &p.len);
    json_t *doc = yaml_to_json(yaml, strlen(yaml), &p);
    fclose(p.out);
    *report = p.count ? p.buf : NULL;
    if (!p.count)
        free(p.buf);
    return doc;
}

/* ---------------------------------------------------------------- the demo agent */

static const char old_prompt[] =
    "You are Parley, a friendly and precise customer-support agent for Parley Demo Store. "
    "Help customers with account access, orders, billing, refunds and tickets. Use the tools to "
    "act: ask for any detail a tool needs (such as the customer's email address) before calling "
    "it, never invent ticket numbers or order details, and tell the customer what you did.";

static void test_demo_yaml_equals_json(void)
{
    char yp[1024], jp[1024];
    snprintf(yp, sizeof yp, "%s/examples/demo-store/agent.yaml", src_dir());
    snprintf(jp, sizeof jp, "%s/examples/demo-store/agent.json", src_dir());
    struct err e;
    err_clear(&e);
    struct agent_file *y = agent_file_load(yp, &e);
    CHECK(y != NULL);
    struct agent_file *j = agent_file_load(jp, &e);
    CHECK(j != NULL);
    if (y && j) {
        CHECK(json_equal(agent_file_doc(y), agent_file_doc(j)));
        /* The system prompt is exactly the one that used to be compiled in. */
        char *rendered = agent_file_render_instructions(y, 0);
        CHECK_STR(rendered, old_prompt);
        free(rendered);
        CHECK_INT(json_array_size(json_object_get(json_object_get(agent_file_doc(y), "tools"),
                                                  "builtin")), 7);
        CHECK_STR(json_string_value(json_object_get(agent_file_doc(y), "name")),
                  "Parley Demo Store");
    }
    agent_file_free(y);
    agent_file_free(j);
}

static void test_default_is_the_demo(void)
{
    const struct agent_file *d = agent_file_default();
    CHECK(d != NULL);
    if (d)
        CHECK(strstr(agent_file_path(d), "examples/demo-store/agent.yaml") != NULL);
    agent_file_free(NULL);
}

/* ---------------------------------------------------------------- YAML conversion */

static void test_yaml_core_schema(void)
{
    char *report = NULL;
    json_t *d = convert("i: 42\nn: -7\no: 0o17\nh: 0x1F\nf: 3.5\ne: 1e3\nt: true\nT: True\n"
                        "fl: FALSE\nnu: null\nti: ~\nem:\nqs: \"42\"\nsq: 'true'\n"
                        "s: hello world\nver: 1.2.3\ntagged: !!str 12\nyes: yes\n"
                        "lit: |\n  line1\n  line2\nlist: [1, \"2\", three]\n"
                        "anchor: &x {k: v}\nalias: *x\n\"quoted key\": 1\n",
                        &report);
    CHECK(d != NULL);
    CHECK(report == NULL);
    free(report);
    CHECK_INT(json_integer_value(json_object_get(d, "i")), 42);
    CHECK_INT(json_integer_value(json_object_get(d, "n")), -7);
    CHECK_INT(json_integer_value(json_object_get(d, "o")), 15);
    CHECK_INT(json_integer_value(json_object_get(d, "h")), 31);
    CHECK(json_is_real(json_object_get(d, "f")) && json_real_value(json_object_get(d, "f")) == 3.5);
    CHECK(json_is_real(json_object_get(d, "e")) &&
          json_real_value(json_object_get(d, "e")) == 1000);
    CHECK(json_is_true(json_object_get(d, "t")));
    CHECK(json_is_true(json_object_get(d, "T")));
    CHECK(json_is_false(json_object_get(d, "fl")));
    CHECK(json_is_null(json_object_get(d, "nu")));
    CHECK(json_is_null(json_object_get(d, "ti")));
    CHECK(json_is_null(json_object_get(d, "em")));
    CHECK_STR(json_string_value(json_object_get(d, "qs")), "42");
    CHECK_STR(json_string_value(json_object_get(d, "sq")), "true");
    CHECK_STR(json_string_value(json_object_get(d, "s")), "hello world");
    CHECK_STR(json_string_value(json_object_get(d, "ver")), "1.2.3");
    CHECK_STR(json_string_value(json_object_get(d, "tagged")), "12");
    CHECK_STR(json_string_value(json_object_get(d, "yes")), "yes"); /* YAML 1.1 only */
    CHECK_STR(json_string_value(json_object_get(d, "lit")), "line1\nline2\n");
    json_t *want_list = json_pack("[i, s, s]", 1, "2", "three");
    CHECK(json_equal(json_object_get(d, "list"), want_list));
    json_decref(want_list);
    CHECK(json_equal(json_object_get(d, "anchor"), json_object_get(d, "alias")));
    CHECK_STR(json_string_value(json_object_get(json_object_get(d, "alias"), "k")), "v");
    CHECK_INT(json_integer_value(json_object_get(d, "quoted key")), 1);
    json_decref(d);
}

static void test_yaml_errors(void)
{
    char *report = NULL;
    /* Nesting cap. */
    char deep[512] = "a: ";
    for (int i = 0; i < 70; i++)
        strcat(deep, "[");
    for (int i = 0; i < 70; i++)
        strcat(deep, "]");
    json_t *d = convert(deep, &report);
    CHECK(d == NULL);
    CHECK(report && strstr(report, ": nesting is deeper than 64 levels\n"));
    free(report);
    /* An alias before its anchor, a non-scalar key, a bad tag. */
    d = convert("a: *nowhere\n", &report);
    CHECK(d == NULL);
    CHECK_STR(report, "T: /a: alias *nowhere names no complete anchor before it\n");
    free(report);
    d = convert("? [a, b]\n: c\n", &report);
    CHECK(d == NULL);
    CHECK_STR(report, "T: (root): keys must be plain strings (line 1:3)\n");
    free(report);
    d = convert("a: !color red\n", &report);
    CHECK(d == NULL);
    CHECK_STR(report, "T: /a: unsupported tag !color\n");
    free(report);
    d = convert("a: 99999999999999999999\n", &report);
    CHECK(d == NULL);
    CHECK_STR(report, "T: /a: integer 99999999999999999999 is out of range\n");
    free(report);
    d = convert("", &report);
    CHECK(d == NULL);
    CHECK_STR(report, "T: (root): the file is empty\n");
    free(report);
    d = convert("list:\n  - a\n  - {k: 1, k: 2}\n", &report);
    CHECK(d == NULL);
    CHECK_STR(report, "T: /list/1: duplicate key \"k\" (line 3:12)\n");
    free(report);
}

static void test_file_caps(void)
{
    char *big = malloc(AGENT_FILE_MAX_BYTES + 16);
    memset(big, ' ', AGENT_FILE_MAX_BYTES + 15);
    memcpy(big, "name: x\n#", 9);
    big[AGENT_FILE_MAX_BYTES + 15] = '\0';
    const char *path = write_tmp("big.yaml", big);
    free(big);
    struct err e;
    err_clear(&e);
    char *problems = NULL;
    CHECK(agent_file_load_report(path, &problems, &e) == NULL);
    CHECK_STR(e.code, "TooLarge");
    CHECK(problems && strstr(problems, "is larger than 1048576 bytes"));
    free(problems);
    err_clear(&e);
    CHECK(agent_file_load("/nonexistent/agent.yaml", &e) == NULL);
    CHECK_STR(e.code, "NotFound");
}

/* ---------------------------------------------------------------- invalid files, data-driven */

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Replaces every FILE and DIR in text with file and dir; returns a new string. */
static char *fill(const char *text, const char *file, const char *dir)
{
    char *out = NULL;
    size_t len = 0;
    FILE *o = open_memstream(&out, &len);
    for (const char *c = text; *c;) {
        if (strncmp(c, "FILE", 4) == 0) {
            fputs(file, o);
            c += 4;
        } else if (strncmp(c, "DIR", 3) == 0) {
            fputs(dir, o);
            c += 3;
        } else {
            fputc(*c++, o);
        }
    }
    fclose(o);
    return out;
}

static void run_cases(void)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/cases/agent_file", src_dir());
    unsetenv("AF_UNSET_NAME");
    unsetenv("AF_UNSET_HOST");
    unsetenv("AF_UNSET_TOKEN");
    DIR *d = opendir(dir);
    char *names[128];
    size_t n = 0;
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL && n < 128) {
        const char *dot = strrchr(de->d_name, '.');
        if (de->d_name[0] != '.' && dot && strcmp(dot, ".expected") != 0 && strcmp(dot, ".md") != 0)
            names[n++] = strdup(de->d_name);
    }
    if (d)
        closedir(d);
    qsort(names, n, sizeof *names, cmp_names);
    check_record("agent_file case files present", n >= 20);
    for (size_t i = 0; i < n; i++) {
        char path[1400], exp_path[1400];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        snprintf(exp_path, sizeof exp_path, "%s/%.*s.expected", dir,
                 (int)(strrchr(names[i], '.') - names[i]), names[i]);
        size_t len = 0;
        struct err e;
        err_clear(&e);
        char *expected_raw = read_capped(exp_path, &len, &e);
        char *expected = expected_raw ? fill(expected_raw, path, dir) : NULL;
        char *problems = NULL;
        struct agent_file *f = agent_file_load_report(path, &problems, &e);
        int ok = !f && expected && problems && strcmp(problems, expected) == 0 &&
                 strcmp(e.code, "InvalidAgentFile") == 0;
        if (!ok)
            fprintf(stderr, "%s: want:\n%sgot:\n%s", names[i], expected ? expected : "(none)\n",
                    problems ? problems : "(none)\n");
        check_record(names[i], ok);
        agent_file_free(f);
        free(problems);
        free(expected);
        free(expected_raw);
        free(names[i]);
    }
}

/* ---------------------------------------------------------------- resolution */

static const char custom[] =
    "name: Velo Bikes\n"
    "instructions: |-\n"
    "  You are {{agent_name}}'s assistant for ${AF_SHOP}. Today is {{weekday}} {{today}},\n"
    "  {{now}}; we open {{business_hours}}. Prices in $$USD, literal $${X}.\n"
    "business_hours: Mon-Fri 9:00-17:00\n"
    "tools:\n"
    "  builtin: [create_support_ticket]\n"
    "  http:\n"
    "    - name: warranty_lookup\n"
    "      description: Look up a bike's warranty by serial number.\n"
    "      input_schema:\n"
    "        type: object\n"
    "        properties: {serial: {type: string}}\n"
    "        required: [serial]\n"
    "      url: \"https://bot:${AF_PASS}@${AF_HOST}/bikes/{serial}/warranty\"\n"
    "      method: GET\n"
    "      headers: {Authorization: \"Bearer ${AF_TOKEN}\", X-Shop: velo}\n"
    "      examples: [is my bike under warranty]\n"
    "  mcp:\n"
    "    - {name: parts, command: [node, parts.js], env: {PARTS_KEY: \"${AF_TOKEN}\"}}\n"
    "limits: {tool_iterations: 3, turn_tokens: 2000}\n"
    "guardrails:\n"
    "  redact: [email, card]\n"
    "  denied_topics:\n"
    "    - topic: legal\n"
    "      patterns: [\"\\\\blawyers?\\\\b\", \"sue (you|them)\"]\n"
    "      reply: I can't help with legal questions.\n";

static void test_expansion_and_masking(void)
{
    setenv("AF_SHOP", "Velo", 1);
    setenv("AF_PASS", "pw123", 1);
    setenv("AF_HOST", "api.velo.test", 1);
    setenv("AF_TOKEN", "s3cr3t-token", 1);
    const char *path = write_tmp("velo.yaml", custom);
    struct err e;
    err_clear(&e);
    char *problems = NULL;
    struct agent_file *f = agent_file_load_report(path, &problems, &e);
    CHECK(f != NULL);
    if (problems)
        fprintf(stderr, "%s", problems);
    free(problems);
    if (!f)
        return;
    const json_t *http0 = json_array_get(json_object_get(json_object_get(agent_file_doc(f),
                                                                         "tools"), "http"), 0);
    CHECK_STR(json_string_value(json_object_get(http0, "url")),
              "https://bot:pw123@api.velo.test/bikes/{serial}/warranty");
    CHECK_STR(json_string_value(json_object_get(json_object_get(http0, "headers"),
                                                "Authorization")), "Bearer s3cr3t-token");
    json_t *shown = agent_file_show(f, NULL);
    json_t *sh0 = json_array_get(json_object_get(json_object_get(json_object_get(shown, "agent"),
                                                                 "tools"), "http"), 0);
    CHECK_STR(json_string_value(json_object_get(sh0, "url")),
              "https://***@***/bikes/{serial}/warranty");
    CHECK_STR(json_string_value(json_object_get(json_object_get(sh0, "headers"),
                                                "Authorization")), "Bearer ***");
    CHECK_STR(json_string_value(json_object_get(json_object_get(sh0, "headers"), "X-Shop")),
              "velo");
    char *text = json_dumps(shown, 0);
    CHECK(strstr(text, "s3cr3t") == NULL);
    CHECK(strstr(text, "pw123") == NULL);
    CHECK(strstr(text, "\"PARTS_KEY\": \"***\"") || strstr(text, "\"PARTS_KEY\":\"***\""));
    /* tools: the custom ones with their schemas, kinds named */
    json_t *tools = json_object_get(shown, "tools");
    CHECK_INT(json_array_size(tools), 2);
    CHECK_STR(json_string_value(json_object_get(json_array_get(tools, 0), "kind")), "http");
    CHECK(json_is_object(json_object_get(json_array_get(tools, 0), "input_schema")));
    free(text);
    json_decref(shown);
    /* Templates, rendered for Friday 2026-12-04 15:30:00 UTC. */
    char *r = agent_file_render_instructions(f, 1796398200000LL);
    CHECK_STR(r, "You are Velo Bikes's assistant for Velo. Today is Friday 2026-12-04,\n"
                 "15:30 UTC; we open Mon-Fri 9:00-17:00. Prices in $$USD, literal ${X}.");
    free(r);
    /* Limits and guardrails. */
    CHECK_INT(agent_file_limit(f, "tool_iterations", 5), 3);
    CHECK_INT(agent_file_limit(f, "turn_tokens", 50000), 2000);
    CHECK_INT(agent_file_limit(f, "reply_tokens", 1024), 1024);
    CHECK_INT(agent_file_limit(NULL, "turn_tokens", 7), 7);
    CHECK_STR(agent_file_denied_reply(f, "My LAWYER says hi"),
              "I can't help with legal questions.");
    CHECK_STR(agent_file_denied_reply(f, "I will sue you"), "I can't help with legal questions.");
    CHECK(agent_file_denied_reply(f, "my bike lawyered up") == NULL);
    CHECK(agent_file_denied_reply(f, "where is my order") == NULL);
    unsigned kinds = 0;
    CHECK_INT(agent_file_redact(f, &kinds), 1);
    CHECK_INT(kinds, GUARD_EMAIL | GUARD_CARD);
    agent_file_free(f);
    /* The demo sets no redaction: the setting stays in charge. */
    const struct agent_file *demo = agent_file_default();
    kinds = 99;
    CHECK_INT(agent_file_redact(demo, &kinds), 0);
    CHECK_INT(kinds, 99);
}

/* Template edges (the loader refuses unknown and unclosed names): names back to back, a brace
 * after a name, and single braces before, between and after them are kept as written. */
static void test_template_edges(void)
{
    const char *path = write_tmp("edges.yaml", "name: Edge\n"
                                               "instructions: \"{ {{agent_name}}{{today}} } "
                                               "{{weekday}}} end {\"\n");
    struct err e;
    err_clear(&e);
    struct agent_file *f = agent_file_load(path, &e);
    CHECK(f != NULL);
    if (!f)
        return;
    char *r = agent_file_render_instructions(f, 1796398200000LL);
    CHECK_STR(r, "{ Edge2026-12-04 } Friday} end {");
    free(r);
    agent_file_free(f);
}

static void test_paths_relative_to_file(void)
{
    char yp[1024];
    snprintf(yp, sizeof yp, "%s/examples/demo-store/agent.yaml", src_dir());
    struct err e;
    struct agent_file *f = agent_file_load(yp, &e);
    CHECK(f != NULL);
    if (!f)
        return;
    const char *kb = json_string_value(json_array_get(
        json_object_get(json_object_get(agent_file_doc(f), "knowledge"), "dirs"), 0));
    char want[1100];
    snprintf(want, sizeof want, "%s/examples/demo-store/../../kb", src_dir());
    CHECK_STR(kb, want);
    agent_file_free(f);
}

/* The handlers apply the file's limits and denied topics where the turn's caps are applied. */
static void test_handlers_apply_the_file(void)
{
    setenv("AF_SHOP", "Velo", 1);
    setenv("AF_PASS", "pw123", 1);
    setenv("AF_HOST", "api.velo.test", 1);
    setenv("AF_TOKEN", "s3cr3t-token", 1);
    struct err e;
    err_clear(&e);
    struct agent_file *f = agent_file_load(write_tmp("velo2.yaml", custom), &e);
    CHECK(f != NULL);
    if (!f)
        return;
    struct config cfg = {.history_turns = 5, .context_tokens = 8000, .max_tool_iterations = 5,
                         .turn_token_cap = 50000};
    struct agent a = {.cfg = &cfg, .file = f}; /* no model: any model call would crash */
    json_t *ev = json_pack("{s:s, s:s, s:b}", "sessionId", "s1", "message",
                           "Should I call my lawyer?", "isNew", 1);
    json_t *state = agent_load_context(&a, ev, &e);
    CHECK(state != NULL);
    CHECK_INT(json_integer_value(json_object_get(state, "maxIterations")), 3);
    json_t *out = state ? agent_model_inference(&a, state, &e) : NULL;
    CHECK_STR(json_string_value(json_object_get(out, "reply")),
              "I can't help with legal questions.");
    CHECK_STR(json_string_value(json_object_get(out, "stopReason")), "denied_topic");
    CHECK(json_is_false(json_object_get(out, "requiresAction")));
    json_decref(out);
    /* limits.turn_tokens (2000) ends the turn before another model call. */
    json_object_set_new(state, "message", json_string("where is my bike"));
    json_object_set_new(state, "iterations", json_integer(1));
    json_object_set_new(state, "usage", json_pack("{s:i, s:i}", "input_tokens", 1900,
                                                  "output_tokens", 100));
    out = agent_model_inference(&a, state, &e);
    CHECK_STR(json_string_value(json_object_get(out, "stopReason")), "token_cap");
    json_decref(out);
    json_decref(state);
    json_decref(ev);
    agent_file_free(f);
}

int main(void)
{
    RUN(test_demo_yaml_equals_json);
    RUN(test_default_is_the_demo);
    RUN(test_yaml_core_schema);
    RUN(test_yaml_errors);
    RUN(test_file_caps);
    run_cases();
    RUN(test_expansion_and_masking);
    RUN(test_template_edges);
    RUN(test_paths_relative_to_file);
    RUN(test_handlers_apply_the_file);
    return check_summary();
}
