/* bus.c - the EventBridge event envelope shared by every bus adapter (see bus.h). */
#include "bus/bus.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

static const char *const event_names[] = {
#define BUS_X_NAME(name, str) str,
    BUS_EVENTS(BUS_X_NAME)
#undef BUS_X_NAME
};

int bus_event_name_known(const char *detail_type)
{
    if (!detail_type)
        return 0;
    for (size_t i = 0; i < sizeof event_names / sizeof event_names[0]; i++)
        if (strcmp(detail_type, event_names[i]) == 0)
            return 1;
    return 0;
}

void bus_uuid4(char out[37])
{
    unsigned char b[16];
    size_t got = 0;
    while (got < sizeof b) {
        ssize_t n = getrandom(b + got, sizeof b - got, 0);
        if (n <= 0) {
            /* getrandom cannot fail on a sane kernel; fall back to a weak source over aborting. */
            for (; got < sizeof b; got++)
                b[got] = (unsigned char)(rand() & 0xFF);
            break;
        }
        got += (size_t)n;
    }
    b[6] = (unsigned char)((b[6] & 0x0F) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3F) | 0x80); /* RFC 4122 variant */
    snprintf(out, 37,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
}

static const char *env_or(const char *a, const char *b, const char *def)
{
    const char *v = a ? getenv(a) : NULL;
    if (v && *v)
        return v;
    v = b ? getenv(b) : NULL;
    return v && *v ? v : def;
}

json_t *bus_event_new(const char *detail_type, json_t *detail)
{
    char id[37], when[32];
    struct tm tm;
    time_t now = time(NULL);
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    bus_uuid4(id);
    if (!detail)
        detail = json_object();
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:[], s:o}", "version", "0", "id", id,
                     "detail-type", detail_type ? detail_type : "", "source", BUS_SOURCE,
                     "account", env_or("PARLEY_ACCOUNT_ID", NULL, "000000000000"), "time", when,
                     "region", env_or("AWS_REGION", "AWS_DEFAULT_REGION", "local"), "resources",
                     "detail", detail);
}
