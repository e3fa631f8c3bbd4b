/*
 * operators.h - named operators (PARLEY_OPERATORS_FILE): a JSON array of
 * {"name", "token_sha256", "role"} read once at start-up, so each operator signs in with their own
 * bearer token and the server knows who answered. Only the SHA-256 of each token is stored.
 */
#ifndef PARLEY_OPERATORS_H
#define PARLEY_OPERATORS_H

#include <stddef.h>

#include "base/err.h"

#define OPERATORS_MAX 256     /* entries in one file */
#define OPERATORS_NAME_MAX 64 /* bytes in one name */

enum operator_role {
    OPERATOR_AGENT, /* answers customers, takes over, releases, redrives, erases */
    OPERATOR_ADMIN  /* all of that, and reads the audit log */
};

struct operator_id {
    char name[OPERATORS_NAME_MAX + 1]; /* who signed in */
    enum operator_role role;           /* what they may do */
};

struct operators;

/* ---- loading */

/* Parses a JSON array of operators from text (len bytes; where names the source in messages).
 * Each entry is an object with exactly "name" (1..64 bytes, unique), "token_sha256" (64 hex
 * digits, unique) and "role" ("agent" or "admin"). Returns a new set (operators_free), or NULL
 * with err (InvalidConfig) naming the first bad entry by index and name. */
struct operators *operators_parse(const char *text, size_t len, const char *where, struct err *err);

/* Reads and parses the file at path (at most 1 MiB). Returns as operators_parse. */
struct operators *operators_load(const char *path, struct err *err);

/* Frees the set; NULL is a no-op. */
void operators_free(struct operators *ops);

/* ---- use */

/* Number of operators in the set. */
size_t operators_count(const struct operators *ops);

/* Finds the operator whose token is token (compared as SHA-256 digests in constant time). Returns
 * 0 and fills *out, or -1 when no operator has that token (ops NULL included). */
int operators_find(const struct operators *ops, const char *token, struct operator_id *out);

/* "agent" or "admin". */
const char *operators_role_name(enum operator_role role);

#endif
