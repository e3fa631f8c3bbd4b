/*
 * cli.h - the subcommands of `parley`. Each takes argc/argv with argv[0] the command name and
 * returns the process exit code (0 success, 1 failure, 2 usage error).
 */
#ifndef PARLEY_CLI_H
#define PARLEY_CLI_H

#include <stdio.h>

struct cli_command {
    const char *name;                  /* as typed */
    const char *summary;               /* one line for --help */
    int (*run)(int argc, char **argv); /* the command */
};

int cli_serve(int argc, char **argv);
int cli_chat(int argc, char **argv);
int cli_sfn(int argc, char **argv);
int cli_agent(int argc, char **argv); /* issue 11: agent_cmd.c */
int cli_version(int argc, char **argv);
int cli_worker(int argc, char **argv);

/* Prints the settings table (environment variables) for --help. */
void cli_print_settings(FILE *out);

#define PARLEY_VERSION "0.1.0"

#endif
