/*
 * agent_cmd.c - `parley agent validate FILE` and `parley agent show FILE`: the agent file's check
 * on its own, and the resolved agent as JSON with its secrets masked (docs/agent-file.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent_file.h"
#include "agent/kb.h"
#include "agent/tools.h"
#include "base/buf.h"
#include "base/log.h"
#include "cli/cli.h"

#define AGENT_FILES_MAX (1u << 20) /* the agent file cap of agent_file.c */

static void agent_usage(FILE *out)
{
    fprintf(out, "usage: parley agent validate FILE\n"
                 "       parley agent show FILE\n"
                 "       parley agent files FILE\n\n"
                 "validate  checks an agent file (JSON or YAML) against its schema and rules;\n"
                 "          exit 0 when valid, 1 with every problem listed, 2 on usage errors\n"
                 "show      prints the resolved agent as JSON: every tool (built-in, http,\n"
                 "          lambda, each OpenAPI operation, each tool of each MCP server,\n"
                 "          which are started for this) with its kind, origin, policy and\n"
                 "          input schema; secrets expanded from ${VAR} masked as ***; exit 1\n"
                 "          when a tool cannot be resolved (an MCP server down, a bad spec)\n"
                 "files     prints the paths the file names relative to itself (knowledge.dirs,\n"
                 "          tools.openapi[].spec), one a line, as written: what a deployment\n"
                 "          package must carry beside it (deploy/package.sh); the file is parsed,\n"
                 "          not validated, so no ${VAR} needs to be set\n");
}

/* Loads path, printing every problem to stderr. Returns the file or NULL. */
static struct agent_file *load_or_report(const char *path)
{
    char *problems = NULL;
    struct err e;
    err_clear(&e);
    struct agent_file *f = agent_file_load_report(path, &problems, &e);
    if (!f)
        fputs(problems ? problems : e.message, stderr);
    if (!f && !problems)
        fputc('\n', stderr);
    free(problems);
    return f;
}

/* Prints the resolved agent: the masked document, then every tool the registry resolves (the
 * built-ins, each http and lambda entry, each OpenAPI operation and each tool the MCP servers
 * list, which means starting them) with its input schema. Returns 0, or 1 when the tools cannot
 * be resolved (the reason on stderr). */
static int show(const struct agent_file *f)
{
    int rc = 1;
    const json_t *doc = agent_file_doc(f);
    const json_t *dirs = json_object_get(json_object_get(doc, "knowledge"), "dirs");
    const char *kb_dir = json_string_value(json_array_get(dirs, 0));
    struct err e;
    err_clear(&e);
    enum log_level saved = log_threshold;
    log_threshold = LL_ERROR; /* kb_load's notes would mix with the JSON on the terminal */
    struct kb *kb = kb_dir ? kb_load(kb_dir, &e) : NULL;
    log_threshold = saved < LL_WARN ? LL_WARN : saved; /* skipped MCP tools are worth a line */
    struct tools *t = tools_new(kb, json_object_get(doc, "tools"), &e);
    log_threshold = saved;
    json_t *out = NULL;
    if (!t) {
        fprintf(stderr, "parley agent show: %s: %s\n", e.code, e.message);
        goto out;
    }
    out = agent_file_show(f, NULL);
    json_object_set_new(out, "tools", tools_describe(t));
    char *text = json_dumps(out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    printf("%s\n", text);
    free(text);
    rc = 0;
out:
    json_decref(out);
    tools_free(t);
    kb_free(kb);
    return rc;
}

/* Prints the relative paths path names (knowledge.dirs, tools.openapi[].spec), as written. The
 * document is parsed (JSON or YAML by extension) but not validated: a packager runs this where
 * the ${VAR}s of production are not set. Returns 0, or 1 with the reason on stderr. */
static int files(const char *path)
{
    int rc = 1;
    json_t *doc = NULL;
    char *text = NULL;
    size_t len = 0;
    struct err e;
    err_clear(&e);
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        fprintf(stderr, "parley agent files: cannot read '%s'\n", path);
        goto out;
    }
    struct buf b;
    buf_init(&b, AGENT_FILES_MAX);
    char chunk[8192];
    size_t n;
    int too_big = 0;
    while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0)
        if (buf_add(&b, chunk, n) < 0) {
            too_big = 1;
            break;
        }
    fclose(fp);
    text = buf_take(&b, &len);
    if (too_big) {
        fprintf(stderr, "parley agent files: '%s' is larger than %u bytes\n", path,
                (unsigned)AGENT_FILES_MAX);
        goto out;
    }
    size_t plen = strlen(path);
    int yaml = (plen > 5 && strcmp(path + plen - 5, ".yaml") == 0) ||
               (plen > 4 && strcmp(path + plen - 4, ".yml") == 0);
    json_error_t je;
    doc = yaml ? agent_file_parse_yaml(path, text, len, &e) : json_loadb(text, len, 0, &je);
    if (!json_is_object(doc)) {
        fprintf(stderr, "parley agent files: '%s' is not an agent file: %s\n", path,
                yaml  ? e.message
                : doc ? "not an object"
                      : je.text);
        goto out;
    }
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(json_object_get(doc, "knowledge"), "dirs"), i, v)
        if (json_string_length(v) > 0)
            printf("%s\n", json_string_value(v));
    json_array_foreach(json_object_get(json_object_get(doc, "tools"), "openapi"), i, v) {
        const char *spec = json_string_value(json_object_get(v, "spec"));
        if (spec && *spec)
            printf("%s\n", spec);
    }
    rc = 0;
out:
    json_decref(doc);
    free(text);
    return rc;
}

int cli_agent(int argc, char **argv)
{
    int rc = 2;
    struct agent_file *f = NULL;
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        agent_usage(stdout);
        rc = 0;
        goto out;
    }
    if (argc != 3 || (strcmp(argv[1], "validate") != 0 && strcmp(argv[1], "show") != 0 &&
                      strcmp(argv[1], "files") != 0)) {
        agent_usage(stderr);
        goto out;
    }
    if (strcmp(argv[1], "files") == 0) {
        rc = files(argv[2]);
        goto out;
    }
    rc = 1;
    if (!(f = load_or_report(argv[2])))
        goto out;
    if (strcmp(argv[1], "validate") == 0) {
        printf("%s: valid\n", argv[2]);
        rc = 0;
    } else {
        rc = show(f);
    }
out:
    agent_file_free(f);
    return rc;
}
