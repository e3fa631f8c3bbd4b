/*
 * mcp_cmd.c - `parley mcp`: talk to one MCP server from the terminal, for people debugging their
 * servers and for the official client conformance suite.
 *
 *   parley mcp tools [OPTIONS] URL | -- COMMAND [ARGS...]
 *   parley mcp call  [OPTIONS] URL TOOL [ARGS_JSON]
 *   parley mcp call  [OPTIONS] TOOL [ARGS_JSON] -- COMMAND [ARGS...]
 *   parley mcp ping  [OPTIONS] URL | -- COMMAND [ARGS...]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xmalloc.h"
#include "mcp/mcp.h"
#include "mcp/mcp_cmd.h"

#define HEADERS_MAX 32

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: parley mcp tools [OPTIONS] URL | -- COMMAND [ARGS...]\n"
        "       parley mcp call  [OPTIONS] URL TOOL [ARGS_JSON]\n"
        "       parley mcp call  [OPTIONS] TOOL [ARGS_JSON] -- COMMAND [ARGS...]\n"
        "       parley mcp ping  [OPTIONS] URL | -- COMMAND [ARGS...]\n\n"
        "Connects to one MCP server (protocol " MCP_PROTOCOL_VERSION
        ", also 2025-06-18 and 2025-03-26), over\n"
        "Streamable HTTP when given a URL, or over stdio by starting COMMAND after `--`.\n"
        "  tools   initialize and print the tool list (name, description, inputSchema) as JSON\n"
        "  call    call TOOL with ARGS_JSON (an object, default {}) and print the result JSON\n"
        "  ping    initialize and ping\n\n"
        "Options:\n"
        "  --timeout MS         limit for the call (default 60000)\n"
        "  --header 'N: value'  extra HTTP header (repeatable)\n"
        "  --name NAME          server name used in messages (default \"server\")\n\n"
        "Exit status: 0 success, 1 protocol/transport failure or a result with isError true\n"
        "(the reason on stderr), 2 usage error.\n");
}

static int fail(const char *code, const char *msg)
{
    fprintf(stderr, "parley mcp: %s: %s\n", code, msg);
    return 1;
}

int mcp_cmd_main(int argc, char **argv)
{
    int rc = 2;
    struct mcp_client *c = NULL;
    json_t *args = NULL, *out = NULL;
    const char *headers[HEADERS_MAX + 1] = {NULL};
    size_t n_headers = 0;
    long timeout_ms = 0;
    const char *name = "server";
    struct err err = {0};
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *verb = argv[1];
    if (strcmp(verb, "tools") != 0 && strcmp(verb, "call") != 0 && strcmp(verb, "ping") != 0) {
        fprintf(stderr, "parley mcp: unknown subcommand '%s'\n", verb);
        usage(stderr);
        return 2;
    }
    int i = 2;
    const char *pos[4];
    int npos = 0;
    char **command = NULL;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--") == 0) {
            command = argv + i + 1;
            break;
        }
        if ((strcmp(a, "--timeout") == 0 || strcmp(a, "--header") == 0 ||
             strcmp(a, "--name") == 0) &&
            i + 1 >= argc) {
            fprintf(stderr, "parley mcp: %s needs a value\n", a);
            goto out;
        }
        if (strcmp(a, "--timeout") == 0) {
            char *end = NULL;
            timeout_ms = strtol(argv[++i], &end, 10);
            if (!end || *end || timeout_ms < 1 || timeout_ms > 3600000) {
                fprintf(stderr, "parley mcp: --timeout takes 1..3600000 milliseconds\n");
                goto out;
            }
        } else if (strcmp(a, "--header") == 0) {
            if (n_headers == HEADERS_MAX || !strchr(argv[i + 1], ':')) {
                fprintf(stderr, "parley mcp: --header takes 'Name: value' (at most %d)\n",
                        HEADERS_MAX);
                goto out;
            }
            headers[n_headers++] = argv[++i];
        } else if (strcmp(a, "--name") == 0) {
            name = argv[++i];
        } else if (a[0] == '-' && a[1] == '-') {
            fprintf(stderr, "parley mcp: unknown option '%s'\n", a);
            goto out;
        } else if (npos == 4) {
            fprintf(stderr, "parley mcp: too many arguments\n");
            goto out;
        } else {
            pos[npos++] = a;
        }
    }
    if (command && !command[0]) {
        fprintf(stderr, "parley mcp: `--` must be followed by a command\n");
        goto out;
    }
    const char *url = NULL;
    int p = 0;
    if (!command) {
        if (npos == 0) {
            fprintf(stderr, "parley mcp: give a URL or `-- COMMAND`\n");
            goto out;
        }
        url = pos[p++];
    }
    const char *tool = NULL, *args_text = NULL;
    if (strcmp(verb, "call") == 0) {
        if (p >= npos) {
            fprintf(stderr, "parley mcp call: name the tool\n");
            goto out;
        }
        tool = pos[p++];
        if (p < npos)
            args_text = pos[p++];
    }
    if (p != npos) {
        fprintf(stderr, "parley mcp %s: unexpected argument '%s'\n", verb, pos[p]);
        goto out;
    }
    if (args_text) {
        json_error_t je;
        args = json_loads(args_text, 0, &je);
        if (!json_is_object(args)) {
            fprintf(stderr, "parley mcp call: ARGS_JSON must be a JSON object (%s)\n",
                    args ? "not an object" : je.text);
            goto out;
        }
    }
    struct mcp_server_config cfg = {
        .name = name,
        .argv = (const char *const *)command,
        .url = url,
        .headers = headers,
        .init_timeout_ms = timeout_ms,
        .call_timeout_ms = timeout_ms,
    };
    rc = 1;
    c = mcp_client_new(&cfg, &err);
    if (!c) {
        rc = fail(err.code, err.message);
        goto out;
    }
    if (strcmp(verb, "tools") == 0) {
        if (mcp_list_tools(c, &out, &err) != 0) {
            rc = fail(err.code, err.message);
            goto out;
        }
    } else if (strcmp(verb, "ping") == 0) {
        if (mcp_ping(c, timeout_ms, &err) != 0) {
            rc = fail(err.code, err.message);
            goto out;
        }
        out = json_pack("{s:s, s:s}", "ok", "pong", "protocolVersion",
                        mcp_client_protocol_version(c));
    } else {
        if (mcp_call_tool(c, tool, args, timeout_ms, &out, &err) != 0) {
            rc = fail(err.code, err.message);
            goto out;
        }
    }
    char *text = json_dumps(out, JSON_INDENT(2));
    printf("%s\n", text ? text : "null");
    free(text);
    rc = 0;
    if (json_is_true(json_object_get(out, "isError"))) {
        fprintf(stderr, "parley mcp: tool '%s' reported an error (isError true)\n", tool);
        rc = 1;
    }
out:
    json_decref(out);
    json_decref(args);
    mcp_client_free(c);
    return rc;
}
