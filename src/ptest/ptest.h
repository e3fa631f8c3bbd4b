/*
 * ptest.h - the `parley test` and `parley replay` commands (issue 12): conversation tests from
 * scenario files (scenario.h), run K trials each in-process on a throwaway data directory or
 * against a running server (--url), judged by pass^k, reported as text, JUnit XML and JSON; and
 * the re-run of a stored conversation against the current agent and model.
 */
#ifndef PARLEY_PTEST_H
#define PARLEY_PTEST_H

#define PTEST_TRIALS_MAX 100  /* --trials */
#define PTEST_JOBS_MAX 64     /* --jobs */
#define PTEST_FILES_MAX 10000 /* scenario files in one run */
#define PTEST_DEPTH_MAX 16    /* directory levels searched */

/* `parley test [PATH...] [--trials K] [--jobs N] [--junit FILE] [--json FILE] [--record DIR |
 * --replay DIR] [--url URL] [--agent FILE]`. argv[0] is "test". Returns 0 when every scenario
 * passed all its trials, 1 when any failed, 2 for a usage or scenario-file error. */
int ptest_main(int argc, char **argv);

/* `parley replay SESSION_ID [--agent FILE] [--model NAME] [--data DIR]`: re-runs the stored
 * session's customer messages in a fresh session of the current agent and model (on a throwaway
 * copy of nothing: a new in-memory data directory) and prints the old and new replies and actions
 * side by side. Returns 0 when it ran, 1 when the session could not be read or a turn failed, 2
 * for usage errors. */
int ptest_replay_main(int argc, char **argv);

#endif
