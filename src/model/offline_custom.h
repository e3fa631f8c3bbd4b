/*
 * offline_custom.h - custom tools for the offline model: an intent classifier retrained at load
 * time from the built-in utterances plus each custom tool's examples (the tool's name is its
 * intent), and slot filling driven by each tool's input_schema.
 *
 * A struct offline_custom is built once (offline_custom_new), never changes afterwards and is
 * reference-counted, so a turn can keep using one while a reload swaps in its successor.
 *
 * Slot rules, per required property of the tool's input_schema (other properties are left out):
 *   - "enum" of strings: the longest value that appears in the text as whole words, compared
 *     case-insensitively with '_' and '-' read as spaces;
 *   - "integer" / "number": the first number standing on its own ("3", "-2", "4.5" for numbers),
 *     within "minimum"/"maximum" when they are given;
 *   - string with "format": "email": the first e-mail address; "date": a date or relative day as
 *     offline_slots.h reads it;
 *   - string with "pattern": the first match of the pattern (ECMA \d \w \s and (?: are understood,
 *     ^ and $ anchor the value, not the message) that is not glued to letters or digits around
 *     it; a pattern with no POSIX spelling (\p{..}, look-arounds, back-references) is ignored and
 *     the property is filled as a plain string;
 *   - plain string: a span in double quotes anywhere; or, when the message answers the question
 *     for this property, the whole message trimmed of surrounding spaces and final punctuation
 *     (at most "maxLength" or 500 bytes).
 * Within one tool's run of questions every rule applies; from earlier messages of the conversation
 * only e-mail and pattern values carry over, as the customer's e-mail address does for tickets.
 * The question for a missing property is its "description" when that ends with '?', otherwise
 * "What's <description>?" (or "What's the <name with spaces>?" without one), with the allowed
 * values of an enum (the first 12) listed after it. The policy recognises its own questions in
 * the history by this exact text, so it is a format: changing the rule breaks conversations in
 * flight.
 */
#ifndef PARLEY_OFFLINE_CUSTOM_H
#define PARLEY_OFFLINE_CUSTOM_H

#include <jansson.h>
#include <stddef.h>

#include "base/err.h"
#include "model/offline_nb.h"

/* Caps on what offline_custom_new accepts. */
#define OFFLINE_CUSTOM_MAX_TOOLS 64
#define OFFLINE_CUSTOM_MAX_EXAMPLES 200 /* per tool */
#define OFFLINE_CUSTOM_MAX_REQUIRED 16  /* required properties per tool */

struct offline_custom;

/* ---- lifecycle ---- */

/* Builds the custom intents from tool_examples (borrowed; an array of {"name", "description",
 * "input_schema", "examples": [utterance, ...]}; tools without examples are skipped). Returns a new
 * object with one reference, or NULL with err "ToolExamplesInvalid" naming the entry (a bad shape,
 * a name that is a built-in intent or tool, a required property that is not described or of a
 * type the model cannot fill (boolean, array, object), a cap exceeded). */
struct offline_custom *offline_custom_new(const json_t *tool_examples, struct err *err);

/* Adds a reference and returns cu. */
struct offline_custom *offline_custom_ref(struct offline_custom *cu);

/* Drops a reference, freeing cu with the last one; NULL is a no-op. */
void offline_custom_unref(struct offline_custom *cu);

/* Fills d (caller-embedded, release with offline_nb_data_release) with the built-in utterances in
 * their order followed by the examples of tool_examples, labelled with the tool names. Returns 0,
 * or -1 with err as offline_custom_new and d empty. Used by offline_custom_new and by tests that
 * measure accuracy on a split. */
int offline_custom_data(const json_t *tool_examples, struct offline_nb_data *d, struct err *err);

/* ---- queries (all read-only) ---- */

/* The retrained classifier (borrowed, lives as long as cu). */
const struct offline_nb *offline_custom_nb(const struct offline_custom *cu);

/* Number of custom tools, and the name of tool i (borrowed, lives as long as cu). */
size_t offline_custom_count(const struct offline_custom *cu);
const char *offline_custom_name(const struct offline_custom *cu, size_t i);

/* Index of the tool with this name, or -1. cu may be NULL. */
int offline_custom_find(const struct offline_custom *cu, const char *name);

/* ---- slots ---- */

/* Sets in input (an object) the required properties of tool i that text shows, by the rules above.
 * asked names the property whose question text answers, or is NULL. Returns 1 when asked was set
 * from this text, else 0. */
int offline_custom_fill(const struct offline_custom *cu, size_t i, const char *text,
                        const char *asked, json_t *input);

/* Sets in input the e-mail and pattern properties of tool i that text shows: the values distinct
 * enough to carry from anywhere earlier in the conversation (a number or an enum word said in
 * passing is not). */
void offline_custom_fill_carried(const struct offline_custom *cu, size_t i, const char *text,
                                 json_t *input);

/* The first required property of tool i that input lacks (borrowed), or NULL. */
const char *offline_custom_missing(const struct offline_custom *cu, size_t i, const json_t *input);

/* The question for property prop of tool i (owned). */
char *offline_custom_ask(const struct offline_custom *cu, size_t i, const char *prop);

/* The required property of tool i whose question text contains, or NULL (borrowed). */
const char *offline_custom_asked(const struct offline_custom *cu, size_t i, const char *text);

/* ---- results ---- */

/* A readable sentence from a successful result: parsed JSON (may be NULL) or its raw text.
 * Returns owned text. */
char *offline_custom_phrase(const json_t *parsed, const char *text);

#endif
