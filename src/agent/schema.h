/*
 * schema.h - JSON Schema validation of tool inputs: compile a schema once, validate many inputs.
 *
 * The supported subset (what tool input schemas use): type (a name or an array of names; "integer"
 * accepts 3 and 3.0, "number" any number), properties, required, enum, const, pattern (ECMA-style
 * \d \w \s are translated to POSIX ERE; matched unanchored, as JSON Schema says), minLength /
 * maxLength (in Unicode code points), minimum / maximum / exclusiveMinimum / exclusiveMaximum
 * (numbers, or draft-04 booleans), multipleOf, additionalProperties (boolean or schema), items,
 * minItems / maxItems, uniqueItems, format ("email", "date", "date-time", "uuid", "uri"; other
 * formats are annotations and ignored), boolean schemas, and the annotations title, description,
 * default, examples, $schema, $id, $comment. Keywords that would change validation but are not
 * supported ($ref, anyOf, oneOf, allOf, not, if, patternProperties, ...) are rejected at compile
 * time rather than silently ignored. A pattern whose compiled form could grow too large is
 * rejected too (a clear error naming the schema path, never a slow regcomp): repetition bounds
 * above SCHEMA_PATTERN_MAX_BOUND, quantifiers stacked directly on a quantifier (`a**`, `a{2}{3}`,
 * a lazy `?` aside), nested repetitions whose product exceeds SCHEMA_PATTERN_MAX_COST, and
 * backreferences (which POSIX matches by backtracking). Matching is time-boxed by its size: glibc's
 * regexec builds automaton states as it reads, so its work grows with the string's length times
 * the square of the pattern's expanded size, and an unanchored pattern (not starting with `^`, or
 * with a top-level `|`) is tried from every start, which squares the length too. A string longer
 * than SCHEMA_PATTERN_MAX_WORK / size² bytes, or for an unanchored pattern than
 * sqrt(SCHEMA_PATTERN_MAX_WORK2) / size, is reported as a violation ("is too long to match against
 * the pattern") and never matched. Ordinary patterns keep room: `^.{1,300}$` up to 1096 bytes,
 * an anchored email pattern up to 800 KB, an unanchored `TKT-[0-9]{6}` up to 5 KB.
 *
 * Violations are reported all at once, each prefixed by the JSON Pointer of the offending value,
 * for example `/priority: must be one of "low", "medium", "high", "urgent" (got "critical");
 * /email: required property missing`, so a model can correct its tool call.
 *
 * A compiled schema is immutable: any number of threads may validate against it at once.
 */
#ifndef PARLEY_AGENT_SCHEMA_H
#define PARLEY_AGENT_SCHEMA_H

#include <jansson.h>

#include "base/err.h"

#define SCHEMA_MAX_DEPTH 32           /* nesting of subschemas in a schema */
#define SCHEMA_MAX_VIOLATIONS 50      /* violations listed in one report; the rest are counted */
#define SCHEMA_INSTANCE_DEPTH 64      /* deeper instance values are reported, not descended */
#define SCHEMA_PATTERN_MAX_BOUND 1000 /* largest n or m in a pattern's {n,m} */
#define SCHEMA_PATTERN_MAX_COST 1000  /* pattern size once its repetitions are expanded */
#define SCHEMA_PATTERN_MAX_WORK 100000000ULL   /* bytes x size^2, anchored (< 1 s under ASan) */
#define SCHEMA_PATTERN_MAX_WORK2 3000000000ULL /* (bytes x size)^2, unanchored (likewise) */

struct schema;

/* ---- compile ---- */

/* Compiles schema (borrowed; nothing is kept). Returns a new schema owned by the caller, or NULL
 * with e set to code "InvalidSchema" and a message naming the schema location (`#/properties/
 * priority/enum: must be a non-empty array`). */
struct schema *schema_compile(const json_t *schema, struct err *e);

/* Frees a schema; NULL is a no-op. */
void schema_free(struct schema *s);

/* ---- validate ---- */

/* Returns 0 when instance (borrowed) is valid. Otherwise returns -1 and sets e to code
 * "InvalidInput" with every violation, separated by "; " (cut at ERR_MSG_MAX bytes; use
 * schema_check for the full text). */
int schema_validate(const struct schema *s, const json_t *instance, struct err *e);

/* Returns the number of violations (0 when valid). When it is not 0 and message is not NULL,
 * *message receives the full report, owned by the caller (free()); otherwise *message is NULL. */
int schema_check(const struct schema *s, const json_t *instance, char **message);

#endif
