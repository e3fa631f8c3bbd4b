/*
 * queue_cli.h - `parley queue`: inspect the action queues and their dead-letter queues in a data
 * directory (the embedded SQLite adapter's <data>/queue.db), and redrive dead letters.
 */
#ifndef PARLEY_QUEUE_CLI_H
#define PARLEY_QUEUE_CLI_H

/* Runs `parley queue stats | dlq list | dlq redrive` with argv[0] == "queue". Options: --data DIR
 * (default: PARLEY_DATA, else ./data), --table (a readable table instead of JSON), --help; for
 * dlq: --queue NAME (one DLQ; default all), --max N; for redrive: --to QUEUE (default each
 * message's source queue). Prints results on stdout and errors on stderr. Returns the exit code:
 * 0 success, 1 failure, 2 usage error. */
int queue_cli_main(int argc, char **argv);

#endif
