/* backoff.c - retry delays with jitter and Retry-After; see backoff.h. */
#include "base/backoff.h"

#include <ctype.h>
#include <string.h>

#include "base/rand.h"

#define RETRY_AFTER_MAX_S 86400 /* a server asking for more than a day is not believed */

long backoff_delay_ms(const struct backoff *b, int attempt)
{
    long max = b->max_ms > 0 ? b->max_ms : 0;
    long d = b->base_ms > 0 ? b->base_ms : 0;
    if (attempt < 1)
        attempt = 1;
    for (int i = 1; i < attempt && d < max; i++)
        d *= 2;
    if (d > max)
        d = max;
    long out = d;
    switch (b->jitter) {
    case BACKOFF_JITTER_NONE:
        break;
    case BACKOFF_JITTER_FULL:
        out = (long)rand_range(0, (uint64_t)d);
        break;
    case BACKOFF_JITTER_EQUAL:
        out = d / 2 + (long)rand_range(0, (uint64_t)(d - d / 2));
        break;
    }
    return out;
}

/* Parses a date in one of the three HTTP-date forms into seconds since the epoch, or -1. */
static time_t parse_http_date(const char *s)
{
    static const char *const forms[] = {
        "%a, %d %b %Y %H:%M:%S GMT", /* IMF-fixdate */
        "%A, %d-%b-%y %H:%M:%S GMT", /* obsolete RFC 850 */
        "%a %b %e %H:%M:%S %Y",      /* obsolete asctime */
    };
    time_t t = -1;
    for (size_t i = 0; i < sizeof forms / sizeof forms[0] && t < 0; i++) {
        struct tm tm;
        memset(&tm, 0, sizeof tm);
        const char *end = strptime(s, forms[i], &tm);
        while (end && isspace((unsigned char)*end))
            end++;
        if (end && *end == '\0')
            t = timegm(&tm);
    }
    return t;
}

long backoff_retry_after_ms(const char *value, time_t now)
{
    long rc = -1;
    if (!value)
        goto out;
    while (isspace((unsigned char)*value))
        value++;
    if (isdigit((unsigned char)*value)) {
        long s = 0;
        const char *p = value;
        while (isdigit((unsigned char)*p) && s <= RETRY_AFTER_MAX_S)
            s = s * 10 + (*p++ - '0');
        while (isspace((unsigned char)*p))
            p++;
        if (*p == '\0' && s < RETRY_AFTER_MAX_S)
            rc = s * 1000;
        goto out;
    }
    time_t at = parse_http_date(value);
    if (at < 0)
        goto out;
    if (at <= now)
        rc = 0;
    else if (at - now < RETRY_AFTER_MAX_S)
        rc = (long)(at - now) * 1000;
out:
    return rc;
}

long backoff_wait_ms(const struct backoff *b, int attempt, long retry_after_ms)
{
    long wait = backoff_delay_ms(b, attempt);
    if (retry_after_ms > wait)
        wait = retry_after_ms > b->max_ms ? b->max_ms : retry_after_ms;
    return wait;
}
