/*
 * pattern.h - EventBridge event patterns: compile once, match many events.
 *
 * A pattern is the JSON object of the Amazon EventBridge user guide ("Amazon EventBridge event
 * patterns", "Content filtering in Amazon EventBridge event patterns"): fields are ANDed, the
 * values of a field are ORed, nested objects follow the event's nesting, and an event array matches
 * when any of its elements does. Supported matchers: exact values (string, number, true, false,
 * null), prefix, suffix (both also with equals-ignore-case), equals-ignore-case, wildcard,
 * anything-but (value, list, prefix, suffix, equals-ignore-case, wildcard), numeric, exists, cidr
 * and $or.
 *
 * Deviations, all documented here: exact number matching compares jansson values (integer vs real
 * never equal, so 300 != 300.0 as in the guide, but 300.0 == 3.0e2, which EventBridge would tell
 * apart by their text); equals-ignore-case folds ASCII, Latin-1, Greek and Cyrillic letters.
 *
 * A compiled pattern is immutable, so one pattern may be matched from many threads at once.
 */
#ifndef PARLEY_BUS_PATTERN_H
#define PARLEY_BUS_PATTERN_H

#include <jansson.h>

#include "base/err.h"

#define PATTERN_MAX_CHARS 4096 /* EventBridge's largest event-pattern quota */
#define PATTERN_MAX_DEPTH 32   /* nesting of objects and $or in a pattern */

struct pattern;

/* ---- compile ---- */

/* Compiles a pattern object (borrowed; nothing is kept). Returns a new pattern owned by the
 * caller, or NULL with e set to code "InvalidEventPattern" and a message naming the field and the
 * reason (for example `detail.state: Empty arrays are not allowed`). */
struct pattern *pattern_compile(const json_t *pattern, struct err *e);

/* Same, from JSON text; malformed JSON is reported with its line and column. */
struct pattern *pattern_compile_str(const char *json, struct err *e);

/* Frees a pattern; NULL is a no-op. */
void pattern_free(struct pattern *p);

/* ---- match ---- */

/* Returns 1 when the event (borrowed) matches the pattern, 0 when it does not. Never fails. */
int pattern_match(const struct pattern *p, const json_t *event);

#endif
