/*
 * ratelimit.h - token buckets keyed by a string (a client address, a session id), with bounded
 * memory, and the client address behind trusted proxies.
 *
 * A bucket holds up to per_min tokens and refills per_min tokens a minute, continuously; a request
 * takes one. At most max_keys buckets exist: idle buckets (refilled to full, so forgetting them
 * changes nothing) are evicted first, then the least recently used. A limiter is thread-safe.
 */
#ifndef PARLEY_EDGE_RATELIMIT_H
#define PARLEY_EDGE_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define RATELIMIT_KEY_MAX 64     /* bytes of a key kept (longer keys are cut) */
#define RATELIMIT_PROXIES_MAX 64 /* CIDRs in PARLEY_TRUSTED_PROXIES */
#define RATELIMIT_ADDR_MAX 46    /* bytes of a textual address, with the NUL */

struct ratelimit;
struct ratelimit_proxies;

/* ---- buckets */

/* Builds a limiter of per_min requests a minute per key (>= 1) holding at most max_keys buckets
 * (>= 1). Free with ratelimit_free(). */
struct ratelimit *ratelimit_new(int per_min, size_t max_keys);

/* Frees a limiter. NULL is a no-op. */
void ratelimit_free(struct ratelimit *rl);

/* Takes one token from key's bucket at now_ms (a monotonic clock). Returns 0 when the request may
 * go on, or the whole seconds (>= 1) until the bucket has a token again. */
int ratelimit_take(struct ratelimit *rl, const char *key, int64_t now_ms);

/* The number of buckets held (for tests and metrics). */
size_t ratelimit_size(struct ratelimit *rl);

/* ---- client address */

/* Parses a comma-separated list of IPv4 CIDRs ("10.0.0.0/8, 127.0.0.1"; a bare address is /32).
 * Returns the list (free with ratelimit_proxies_free(); "" gives an empty list) or NULL with err
 * "InvalidConfig" naming the bad entry. */
struct ratelimit_proxies *ratelimit_proxies_parse(const char *list, struct err *err);

void ratelimit_proxies_free(struct ratelimit_proxies *p);

/* Writes the client's address to out: peer itself, unless peer is a trusted proxy and xff (the
 * X-Forwarded-For header, may be NULL) names addresses, in which case the rightmost address that
 * is not a trusted proxy (or the leftmost when all are). Returns out. */
const char *ratelimit_client_address(const struct ratelimit_proxies *p, const char *peer,
                                     const char *xff, char out[RATELIMIT_ADDR_MAX]);

#endif
