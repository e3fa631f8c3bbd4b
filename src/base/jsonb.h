/*
 * jsonb.h - building a JSON object member by member, with json_pack's rules but without its
 * format: json_pack parses its format string and checks every key (and every "s" string) for
 * UTF-8 again at each call, and the hot paths of a turn (its saved row, its events, the model
 * request, the archived document) build a few objects each. Keys are literals (not checked);
 * values are taken over.
 *
 *   json_t *o = jsonb_object("sessionId", jsonb_ref(sid), "turn", json_integer(n), NULL);
 *
 * Like json_pack, a NULL value (a missing "O", a NULL "s") makes the whole object NULL, with every
 * value given released.
 */
#ifndef PARLEY_JSONB_H
#define PARLEY_JSONB_H

#include <jansson.h>

/* A new object of the (key, value) pairs up to a NULL key: each key a string literal (valid
 * UTF-8, not checked), each value a new reference taken over. Returns NULL (every value
 * released) when a value is NULL. */
json_t *jsonb_object(const char *key, json_t *value, ...);

/* A new reference to v, or NULL (json_pack's "O"). A const value is shared, not changed: only
 * its reference count moves, as with json_pack. */
static inline json_t *jsonb_ref(const json_t *v)
{
    return v ? json_incref((json_t *)v) : NULL;
}

/* A new string of s, checked for UTF-8 as json_pack's "s" does, or NULL (s NULL or not UTF-8). */
static inline json_t *jsonb_str(const char *s)
{
    return s ? json_string(s) : NULL;
}

#endif
