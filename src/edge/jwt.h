/*
 * jwt.h - verified customer identity: JSON Web Tokens (RFC 7519) signed as JWS compact
 * serialization (RFC 7515) with HS256, RS256 or ES256.
 *
 * A verifier is built once from the configured keys (an HMAC secret, a PEM public key, or both)
 * and is immutable afterwards, so threads share it. Verification refuses, each with code
 * "Unauthorized" and a message naming the reason: a token that is not three base64url parts, a
 * header that is not a JSON object, `alg` missing, `none` or unknown, `crit` present, an algorithm
 * whose key is not configured (algorithm confusion: an RS256 key is never used as an HMAC secret,
 * nor a secret to check RS256), a bad signature, claims that are not a JSON object, `exp` missing
 * or past, `nbf` or `iat` in the future (all with JWT_LEEWAY_S of leeway).
 */
#ifndef PARLEY_EDGE_JWT_H
#define PARLEY_EDGE_JWT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/err.h"

#define JWT_MAX_TOKEN 8192 /* bytes in a token; longer ones are refused unread */
#define JWT_LEEWAY_S 60    /* clock skew allowed on exp, nbf and iat */
#define JWT_SUB_MAX 128    /* bytes in `sub` (the userId) */
#define JWT_EMAIL_MAX 254  /* bytes in the `email` claim */

struct jwt_verifier;

/* The customer a verified token names. */
struct jwt_identity {
    char sub[JWT_SUB_MAX + 1];     /* `sub`: the userId */
    char email[JWT_EMAIL_MAX + 1]; /* `email` claim, "" when absent */
};

/* ---- lifecycle */

/* Builds a verifier. secret[0..secret_len) is the HS256 key (secret_len 0: no HS256); pem is a
 * PEM public key (RSA for RS256, P-256 EC for ES256; NULL or "": none). At least one is needed.
 * Returns the verifier or NULL with err "InvalidConfig" (no key, unreadable PEM, unsupported key
 * type). The caller frees it with jwt_verifier_free(). */
struct jwt_verifier *jwt_verifier_new(const unsigned char *secret, size_t secret_len,
                                      const char *pem, struct err *err);

/* Frees a verifier. NULL is a no-op. */
void jwt_verifier_free(struct jwt_verifier *v);

/* ---- verification */

/* Verifies token (NUL-terminated) at now_s (Unix seconds): signature, `exp` (required), `nbf`
 * and `iat`. Returns the claims (new reference) or NULL with err "Unauthorized". */
json_t *jwt_verify(const struct jwt_verifier *v, const char *token, int64_t now_s, struct err *err);

/* Takes the identity from verified claims: `sub` must be a non-empty string of at most
 * JWT_SUB_MAX bytes without NUL and not starting with "guest:" (reserved for anonymous sessions);
 * `email`, when present, a string of at most JWT_EMAIL_MAX bytes. Returns 0, or -1 with err
 * "Unauthorized". */
int jwt_identity(const json_t *claims, struct jwt_identity *id, struct err *err);

/* ---- encoding (public for tests and tools) */

/* Decodes base64url without padding (RFC 7515 section 2) from in[0..n). Returns a new buffer of
 * *out_len bytes plus a NUL (caller frees), or NULL when a character is outside the alphabet, the
 * length is impossible (n % 4 == 1) or the unused bits are not zero. */
unsigned char *jwt_b64url_decode(const char *in, size_t n, size_t *out_len);

/* Encodes in[0..n) as base64url without padding. Returns a new NUL-terminated string. */
char *jwt_b64url_encode(const unsigned char *in, size_t n);

#endif
