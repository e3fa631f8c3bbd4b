/*
 * sfn_mock.h - AWS Step Functions Local mock configurations, usable from C and from the CLI.
 *
 * The file format is AWS's: {"StateMachines": {SM: {"TestCases": {CASE: {STATE: RESPONSE}}}},
 * "MockedResponses": {RESPONSE: {"0": {"Return": V}, "1-2": {"Throw": {"Error", "Cause"}}}}}.
 * Invocation keys count a state's calls within one execution from 0 (retries and loops
 * included); past the last key, the response with the highest key repeats. A Task with no mock in
 * the test case falls through to the run's task callback, or returns its input unchanged.
 */
#ifndef PARLEY_SFN_MOCK_H
#define PARLEY_SFN_MOCK_H

#include "base/err.h"

struct sfn_mock;
struct sfn_mock_case;

#define SFN_MOCK_MAX_BYTES (16 * 1024 * 1024)

/* Parses and checks a mock configuration. Returns a new mock (free with sfn_mock_free) or NULL
 * with err code "InvalidMockConfig" naming the bad field. */
struct sfn_mock *sfn_mock_parse(const char *json_text, struct err *err);
void sfn_mock_free(struct sfn_mock *m); /* NULL ok */

/* Finds a test case. Returns a pointer owned by m (valid until sfn_mock_free), or NULL with err
 * code "NotFound" listing what exists. */
const struct sfn_mock_case *sfn_mock_find(const struct sfn_mock *m, const char *state_machine,
                                          const char *test_case, struct err *err);

#endif
