/*
 * scenario.h - conversation test files for `parley test` (issue 12): loading and validating a
 * scenario, and judging one turn's response (or a scenario's effects) against what it expects.
 *
 * A scenario is one object per file, JSON or YAML (docs/testing-your-agent.md is the reference):
 *   {"name", "description"?, "user"?, "sessions"?: {label: {"user"?}}, "turns": [turn, ...],
 *    "effects"?: {"tickets"?, "session"?, "transcript_tools"?}}
 *   turn = {"user": message, "session"?: label, "note"?, "expect"?: {...}}
 * The expect keys are listed in scenario.c's table. Every key is checked when the file is loaded:
 * an unknown key, a wrong type or a bad regular expression is an error naming the file and the
 * JSON location ("$.turns[1].expect.reply_match"), never a silently skipped check.
 *
 * Judging is pure: it takes the response JSON the runner got (in-process or over HTTP), the
 * variables captured so far, and writes what did not hold to a report stream.
 */
#ifndef PARLEY_SCENARIO_H
#define PARLEY_SCENARIO_H

#include <regex.h>
#include <stdio.h>

#include <jansson.h>

#include "base/err.h"

#define SCENARIO_FILE_MAX (1024 * 1024) /* bytes in one scenario file */
#define SCENARIO_TURNS_MAX 200          /* turns in one scenario */
#define SCENARIO_SESSIONS_MAX 8         /* sessions in one scenario, "main" included */
#define SCENARIO_VALUE_MAX 4096         /* bytes of a message after {{var}} substitution */

/* ---- Loading ---- */

/* Parses text (len bytes; YAML when path ends in .yaml or .yml, else JSON) as the scenario of
 * file `path` and validates it. Returns the
 * scenario (new reference) or NULL with err "InvalidScenario" whose message starts with
 * "path: $.location: ". */
json_t *scenario_parse(const char *path, const char *text, size_t len, struct err *err);

/* Reads and validates one scenario file (JSON, or YAML by the agent file's reader). Returns the
 * scenario (new reference) or NULL with err "InvalidScenario" (or "NotFound" when the file cannot
 * be read). */
json_t *scenario_load(const char *path, struct err *err);

/* ---- Variables ---- */

/* Replaces each {{name}} in s with vars[name]. Returns a new string, or NULL (writing a line to
 * why when not NULL) when a variable was never captured or the result exceeds
 * SCENARIO_VALUE_MAX. */
char *scenario_subst(const char *s, const json_t *vars, FILE *why);

/* ---- Judging ---- */

/* Judges one turn: http_status and resp (the /chat response body, or an error body; may be NULL)
 * against expect (may be NULL: only the bookkeeping below is checked). Captures go into vars
 * first, so the turn's own expectations may use them. expected_turn is the turn number the
 * session should answer with (bookkeeping of every 200 answer); sid, when not empty, is the
 * session id that must come back. Writes one line per failed check to why. Returns 1 when
 * everything held, 0 otherwise. */
int scenario_judge_turn(const json_t *expect, long http_status, const json_t *resp, json_t *vars,
                        int expected_turn, const char *sid, FILE *why);

/* Judges the effects of a scenario after its last turn. tickets: the tickets created from the
 * scenario's sessions, oldest first; session: GET /sessions/{main}'s document (NULL when it
 * could not be read). Returns 1 when everything held, 0 otherwise (lines to why). */
int scenario_judge_effects(const json_t *effects, const json_t *tickets, const json_t *session,
                           const json_t *vars, FILE *why);

/* ---- Save as test ---- */

/* Builds a scenario from a transcript document (GET /sessions/{id}, transcript.h): one turn per
 * customer message, expecting the tools that ran in that turn (`tools` for those that succeeded,
 * `tools_called` for the others, with `tool_args` of their first call) or `no_tools`, the final
 * status on the last turn, and the transcript's tool calls as effects. A starting point for an
 * operator to edit. Returns a new scenario (it passes scenario_parse()), or NULL when the
 * transcript holds no customer message. */
json_t *scenario_from_transcript(const json_t *doc);

/* The turns of a transcript document (new array): per customer message {"user", "reply"
 * (the last assistant text before the next customer message), "actions": [{"tool", "input",
 * "status"}]}. scenario_from_transcript() and `parley replay` read transcripts through it. */
json_t *scenario_transcript_turns(const json_t *doc);

/* Compiles a regular expression of a scenario (POSIX extended, plus \d \w \s \D \W \S outside
 * brackets). Returns 0 or -1 when it does not compile. Release re with regfree(). */
int scenario_regcomp(regex_t *re, const char *pattern, int icase);

#endif
