/*
 * rand.h - randomness from the operating system (getrandom), for identifiers that must not be
 * guessable, such as session ids.
 */
#ifndef PARLEY_RAND_H
#define PARLEY_RAND_H

#include <stddef.h>

/* Fills buf with n random bytes from the kernel CSPRNG. Returns 0, or -1 if the kernel refused. */
int rand_bytes(void *buf, size_t n);

/* Writes a 128-bit random id as 22 base64url characters (no padding) plus NUL into out[23].
 * Returns 0 or -1. The alphabet matches the session-id pattern [A-Za-z0-9_-]. */
int rand_id128(char out[23]);

/* Writes a random RFC 4122 version-4 UUID (36 chars + NUL) into out[37]. Returns 0 or -1. */
int rand_uuid4(char out[37]);

#endif
