/* bus.c - the EventBridge event envelope shared by every bus adapter (see bus.h). */
#include "bus/bus.h"

#include "base/config.h"
#include "base/jsonb.h"
#include "base/rand.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* The envelope's account and region: AWS_REGION/AWS_DEFAULT_REGION are the AWS region chain
 * (aws.h) and PARLEY_ACCOUNT_ID names the account in local envelopes; read per event because
 * bus_event_new() takes no settings. Left for a later change that passes them in (see
 * docs/architecture.md). */
static const char *env_or(const char *a, const char *b, const char *def)
{
    const char *v = a ? config_env(a) : NULL;
    if (v)
        return v;
    v = b ? config_env(b) : NULL;
    return v ? v : def;
}

json_t *bus_event_new(const char *detail_type, json_t *detail)
{
    char id[37], when[32];
    struct tm tm;
    time_t now = time(NULL);
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (rand_uuid4(id) < 0)
        snprintf(id, sizeof id, "00000000-0000-4000-8000-000000000000"); /* kernel refused */
    if (!detail)
        detail = json_object();
    /* Built member by member (base/jsonb.h): json_pack parsed its format and checked every
     * string for each of a turn's events (1.3% of a new-session turn's CPU samples). The id, the
     * time and the source are ours and ASCII; the others are checked, and without one of them
     * there is no event. */
    return jsonb_object("version", json_string_nocheck("0"), "id", json_string_nocheck(id),
                        "detail-type", jsonb_str(detail_type ? detail_type : ""), "source",
                        json_string_nocheck(BUS_SOURCE), "account",
                        jsonb_str(env_or("PARLEY_ACCOUNT_ID", NULL, "000000000000")), "time",
                        json_string_nocheck(when), "region",
                        jsonb_str(env_or("AWS_REGION", "AWS_DEFAULT_REGION", "local")), "resources",
                        json_array(), "detail", detail, NULL);
}
