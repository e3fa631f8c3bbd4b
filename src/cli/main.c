/*
 * main.c - the `parley` command: dispatches to serve, chat, sfn and the other subcommands.
 */
#include <stdio.h>
#include <string.h>

#include "base/xmalloc.h"
#include "cli/cli.h"
#include "mcp/mcp_cmd.h"
#include "ptest/ptest.h"
#include "queue/queue_cli.h"
#include "runtime/app.h"
#include "runtime/lambda_handlers.h"

static const struct cli_command commands[] = {
    {"serve", "run the HTTP API on the embedded defaults (SQLite, files, offline model)",
     cli_serve},
    {"chat", "talk to a running server from the terminal", cli_chat},
    {"worker", "run queued actions from the data directory's AgentActions queue", cli_worker},
    {"queue", "inspect the action queue and its dead-letter queue, redrive", app_cli_queue},
    {"forget", "erase every session of a user (--user ID) or idle for DAYS (--older-than DAYS)",
     app_cli_forget},
    {"archive", "read the transcript archive and apply its lifecycle (cold tier)", app_cli_archive},
    {"sfn", "validate and run Amazon States Language state machines", cli_sfn},
    {"agent", "validate an agent file or show the resolved agent", cli_agent},
    {"mcp", "list and call the tools of an MCP server (stdio or Streamable HTTP)", mcp_cmd_main},
    {"lambda", "serve one seed function on the AWS Lambda Runtime API (the bootstrap)",
     lambda_parley_main},
    {"test", "run conversation tests (scenario files), pass^k over trials, JUnit/JSON", ptest_main},
    {"replay", "re-run a stored conversation against the current agent and model, old vs new",
     ptest_replay_main},
    {"version", "print the version", cli_version},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *out)
{
    fprintf(out, "usage: parley COMMAND [OPTIONS]\n\n"
                 "Parley is an AI customer-support agent service. Run `parley COMMAND --help`\n"
                 "for a command's options.\n\nCommands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nWith no command, `parley` runs `parley serve`.\n\n");
    cli_print_settings(out);
}

int main(int argc, char **argv)
{
    xmalloc_init();
    if (argc < 2)
        return cli_serve(1, (char *[]){"serve", NULL});
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "parley: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
