/*
 * jsonpath.h - JSONPath as Amazon States Language uses it.
 *
 * A path is compiled once (at definition parse time) and evaluated many times. Two flavours exist:
 * a Reference Path (ResultPath, Choice Variable) names at most one node, so it rejects wildcards,
 * deep scan, unions, slices and filters; a full Path (InputPath, OutputPath, ItemsPath, `.$`
 * fields) accepts them and then yields an array of every match. Paths starting with `$$` address
 * the context object instead of the state input. Compiled paths are immutable and may be shared by
 * many threads.
 */
#ifndef PARLEY_SFN_JSONPATH_H
#define PARLEY_SFN_JSONPATH_H

#include <jansson.h>

#include "base/err.h"

struct jsonpath;

#define JSONPATH_REFERENCE 1 /* flag: compile as a Reference Path (single node only) */
#define JSONPATH_MAX_LEN 4096

/* ---- compile / free ---- */

/* Compiles text. Returns a new path (free with jsonpath_free), or NULL with err code
 * "InvalidPath" and a message naming the offending character. */
struct jsonpath *jsonpath_compile(const char *text, int flags, struct err *err);
void jsonpath_free(struct jsonpath *p); /* NULL ok */

/* ---- inspection ---- */
const char *jsonpath_text(const struct jsonpath *p); /* the source text, as written */
int jsonpath_is_context(const struct jsonpath *p);   /* 1 when the path starts with `$$` */
int jsonpath_is_definite(const struct jsonpath *p);  /* 1 when it can name one node only */
int jsonpath_is_root(const struct jsonpath *p);      /* 1 for `$` (or `$$`) alone */

/* ---- evaluation ---- */

/* Evaluates p against root. A definite path sets *out to the node (new reference) and returns 0,
 * or returns 1 when nothing matches. An indefinite path always returns 0 with a new array of every
 * match (possibly empty). Never fails otherwise. */
int jsonpath_eval(const struct jsonpath *p, json_t *root, json_t **out);

/* Returns a new document equal to doc with value placed at the Reference Path p (creating missing
 * objects on the way). doc and value are borrowed and never modified: the nodes along the path
 * are copied. Returns NULL with err code "States.ResultPathMatchFailure" when a node on the way is
 * not an object (or an array index out of range). */
json_t *jsonpath_set(const struct jsonpath *p, json_t *doc, json_t *value, struct err *err);

#endif
