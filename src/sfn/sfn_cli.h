/*
 * sfn_cli.h - the `parley sfn` command line: validate and run Step Functions definitions.
 */
#ifndef PARLEY_SFN_CLI_H
#define PARLEY_SFN_CLI_H

/* argv[0] is "sfn", argv[1] "validate" or "run", then their arguments (see cli.c's usage).
 * Prints to stdout/stderr and returns the process exit code: 0 valid / SUCCEEDED, 1 invalid or
 * FAILED / TIMED_OUT, 2 bad usage. */
int sfn_cli_main(int argc, char **argv);

#endif
