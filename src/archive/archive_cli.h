/*
 * archive_cli.h - `parley archive`: the transcript archive from the command line.
 *
 *   parley archive lifecycle [--days 90] [--data DIR]   move old objects to the cold tier
 *   parley archive get KEY [--data DIR]                 print an object (either tier)
 *   parley archive list [PREFIX] [--data DIR]           one JSON line per object
 *   parley archive delete KEY [--data DIR]              remove an object from both tiers
 *
 * The archive is the one serve writes: S3 when PARLEY_ARCHIVE_BUCKET is set, else files under
 * `<data>/archive`, the data directory coming from --data, else PARLEY_DATA, else ./data (the
 * settings table in base/config.c). The host's wiring (runtime/app.c, app_cli_archive) opens it;
 * the command names the backend on stderr.
 */
#ifndef PARLEY_ARCHIVE_CLI_H
#define PARLEY_ARCHIVE_CLI_H

#include "base/config.h"
#include "base/err.h"

struct archive;

/* Opens the archive cfg names. Sets *a (owned by the caller, archive_free) and *backend (a new
 * string naming the adapter and where it points, for people). Returns 0, or -1 with err. */
typedef int (*archive_cli_open_fn)(const struct config *cfg, struct archive **a, char **backend,
                                   struct err *err);

/* Runs the command with argv[0] == "archive", opening the archive with open_archive and printing
 * "parley archive: backend <backend>" on stderr. Returns the process exit code: 0 success, 1
 * failure (the error on stderr), 2 usage error. */
int archive_cli_main(int argc, char **argv, archive_cli_open_fn open_archive);

#endif
