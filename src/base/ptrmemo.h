/*
 * ptrmemo.h - a bounded, thread-safe memo keyed by the address of a JSON value that never changes.
 *
 * A turn's values never change once made (agent.h), and the history cache hands the same message
 * values to every turn of a session (agent/history.h). What is derived from such a value (the
 * offline model's digest and token count of a message's content) can then be kept by the value's
 * address and found again at the next call instead of being derived again. The memo holds a
 * reference to each key it keeps, so no other value takes that address while the entry lives; the
 * caller gives a check (a string's length, a container's member count) that must match too, as a
 * guard against a caller that breaks the rule.
 *
 * The table is set-associative: a key goes in the set its address picks, and a set of
 * PTRMEMO_WAYS entries makes room by dropping the one found or kept longest ago. Locks are
 * striped over the sets. Lookups and stores never fail (allocation aborts by policy).
 */
#ifndef PARLEY_PTRMEMO_H
#define PARLEY_PTRMEMO_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define PTRMEMO_WAYS 4

struct ptrmemo;

/* What is kept for a key: a value of the caller's (a reference the memo holds while it keeps the
 * entry, or NULL) and three numbers. */
struct ptrmemo_value {
    json_t *ref;
    uint64_t a;
    size_t b, c;
};

/* A memo of sets * PTRMEMO_WAYS entries (sets: a power of two). */
struct ptrmemo *ptrmemo_new(size_t sets);

/* Drops every entry's references and frees the memo; NULL is a no-op. */
void ptrmemo_free(struct ptrmemo *m);

/* Drops every entry (their references): what was kept of values that must not stay in memory,
 * such as an erased conversation's messages. */
void ptrmemo_clear(struct ptrmemo *m);

/* Returns 1 and fills *out when key is kept with check (out->ref then a new reference, or NULL),
 * else 0. */
int ptrmemo_get(struct ptrmemo *m, const json_t *key, size_t check, struct ptrmemo_value *out);

/* Keeps v (v->ref referenced, when not NULL) for key and check, taking a reference to key;
 * replaces what key had, or makes room in its set. */
void ptrmemo_put(struct ptrmemo *m, const json_t *key, size_t check, const struct ptrmemo_value *v);

/* The check of a value as the memo's users give it: a string's length, a container's member
 * count, 0 for anything else. */
size_t ptrmemo_check_of(const json_t *v);

#endif
