/*
 * jsontext.h - compact JSON text of a jansson value, for the paths that serialise on every turn
 * (stored rows, event and EMF lines, trace segments, execution records, model requests).
 *
 * The text is byte for byte what json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) gives (members in
 * insertion order, "%.17g" reals with ".0" on integral ones and no '+' or leading zeros in the
 * exponent, only '"', '\\' and control characters escaped, as \uXXXX with upper-case hex where
 * no short form exists); tests/unit/test_jsontext.c compares the two on many documents.
 * It is cheaper because it writes into one struct buf: jansson 2.14's dump formats every
 * container's address with snprintf into a hash table of the containers being dumped (its cycle
 * check) and grows its string buffer through a callback per token. A value cannot hold a cycle
 * here: the callers build their documents with json_object_set/json_array_append, which refuse
 * one; nesting deeper than JSONTEXT_DEPTH_MAX is refused instead.
 */
#ifndef PARLEY_JSONTEXT_H
#define PARLEY_JSONTEXT_H

#include <jansson.h>

#include "base/buf.h"

/* Deepest nesting written (jansson's parser accepts 2048 by default). */
#define JSONTEXT_DEPTH_MAX 2048

/* Significant digits of a real: json_dumps's default (JSON_REAL_PRECISION(0)). */
#define JSONTEXT_PRECISION 17

/* Significant digits of a real in text that people or models read (API replies, tool results):
 * enough for X-Ray's epoch seconds to the microsecond, and short of the 17th digit that turns
 * 0.359 into 0.35899999999999999 (a knowledge-base score of 8.74 into 8.7400000000000002: more
 * tokens for a model, and a 16-digit run that looks like a card number to the store's guard). */
#define JSONTEXT_READABLE_PRECISION 16

/* Appends v's compact text to b. Returns 0, or -1 when v is NULL, holds a real that is not
 * finite, nests deeper than JSONTEXT_DEPTH_MAX or the text would pass b's cap; b keeps what was
 * appended before the call either way (its length is restored on failure). */
int jsontext_add(struct buf *b, const json_t *v);

/* jsontext_add with reals written to precision (1..JSONTEXT_PRECISION) significant digits: the
 * text of json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(precision)).
 * -1 for a precision out of that range too. */
int jsontext_add_prec(struct buf *b, const json_t *v, int precision);

/* The length of the text jsontext_add writes for the n bytes at s: quotes, and each '"', '\\' and
 * control character escaped (two bytes for the short forms, six for \u00XX). */
size_t jsontext_string_size(const char *s, size_t n);

/* How many bytes at the start of s[0..n) JSON text holds as they are (none is '"', '\\' or a
 * control character): n when the string needs no escape. Looks at eight bytes a step. */
size_t jsontext_plain_prefix(const char *s, size_t n);

/* The pieces of jsontext_add, for a writer that knows its document's shape (an EMF line):
 * the n bytes at s quoted and escaped (valid UTF-8 expected, as a jansson string holds), an
 * integer, a real as json_dumps writes it ("%.17g", ".0" on an integral value; -1 when not
 * finite). Each returns 0, or -1 when b's cap is passed. */
int jsontext_add_string(struct buf *b, const char *s, size_t n);
int jsontext_add_integer(struct buf *b, json_int_t v);
int jsontext_add_real(struct buf *b, double v);

/* v's compact text as a new string (free() it), or NULL where jsontext_add fails. */
char *jsontext_dump(const json_t *v);

/* The same with reals to precision significant digits (jsontext_add_prec). */
char *jsontext_dump_prec(const json_t *v, int precision);

#endif
