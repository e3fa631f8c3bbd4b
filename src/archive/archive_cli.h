/*
 * archive_cli.h - `parley archive`: the transcript archive from the command line.
 *
 *   parley archive lifecycle [--days 90] [--data DIR]   move old objects to the cold tier
 *   parley archive get KEY [--data DIR]                 print an object (either tier)
 *   parley archive list [PREFIX] [--data DIR]           one JSON line per object
 *   parley archive delete KEY [--data DIR]              remove an object from both tiers
 *
 * The archive lives at `<data>/archive`, the data directory coming from --data, else PARLEY_DATA,
 * else ./data (the settings table in base/config.c).
 */
#ifndef PARLEY_ARCHIVE_CLI_H
#define PARLEY_ARCHIVE_CLI_H

/* Runs the command with argv[0] == "archive". Returns the process exit code: 0 success, 1 failure
 * (the error on stderr), 2 usage error. */
int archive_cli_main(int argc, char **argv);

#endif
