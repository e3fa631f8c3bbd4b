/*
 * queue_cli.h - `parley queue`: inspect the action queues and their dead-letter queues, and
 * redrive dead letters, on whichever adapter the settings choose (SQS when PARLEY_QUEUE_PREFIX is
 * set, else SQLite in <data>/queue.db). The command does not pick the adapter itself: the host's
 * wiring (runtime/app.c, app_cli_queue) hands it an opener, so it talks to what serve talks to.
 */
#ifndef PARLEY_QUEUE_CLI_H
#define PARLEY_QUEUE_CLI_H

#include "base/config.h"
#include "base/err.h"

struct queue;

/* Opens the queues cfg names. existing: open only what already exists (no local file, no queue
 * created; *q may then be NULL). Sets *q (owned by the caller, queue_free) and *backend (a new
 * string naming the adapter and where it points, for people). Returns 0, or -1 with err. */
typedef int (*queue_cli_open_fn)(const struct config *cfg, int existing, struct queue **q,
                                 char **backend, struct err *err);

/* Runs `parley queue stats | dlq list | dlq redrive` with argv[0] == "queue", opening the queues
 * with open_queues (stats opens only what exists, so it creates nothing). The backend goes to
 * stderr as "parley queue: backend <backend>". Options: --data DIR (default: PARLEY_DATA, else
 * ./data), --table (a readable table instead of JSON), --help; for dlq: --queue NAME (one DLQ;
 * default all), --max N; for redrive: --to QUEUE (default each message's source queue). Prints
 * results on stdout and errors on stderr. Returns the exit code: 0 success, 1 failure, 2 usage
 * error. */
int queue_cli_main(int argc, char **argv, queue_cli_open_fn open_queues);

#endif
