/* errcode.c - lookups over ERRCODE_TABLE; see errcode.h. */
#include "base/errcode.h"

#include <string.h>

struct row {
    const char *name;       /* the code as struct err carries it */
    int status;             /* HTTP status */
    enum errcode_class cls; /* who is to blame */
    int retryable;          /* 1: the same call may succeed later */
};

static const struct row rows[ERRCODE__COUNT] = {
#define ERRCODE_ROW(id, n, st, c, r) [ERRCODE_##id] = {n, st, c, r},
    ERRCODE_TABLE(ERRCODE_ROW)
#undef ERRCODE_ROW
};

int errcode_find(const char *name)
{
    int found = -1;
    if (!name)
        goto out;
    for (int i = 0; i < ERRCODE__COUNT; i++) {
        if (strcmp(rows[i].name, name) == 0) {
            found = i;
            break;
        }
    }
out:
    return found;
}

int errcode_known(const char *name)
{
    return errcode_find(name) >= 0;
}

int errcode_status(const char *name)
{
    int i = errcode_find(name);
    return i >= 0 ? rows[i].status : 500;
}

static int has_prefix(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

enum errcode_class errcode_class_of(const char *name)
{
    static const char *const client[] = {"Invalid",        "Validation", "NotFound",
                                         "Unauthorized",   "Forbidden",  "Conflict",
                                         "PayloadTooLarge"};
    int i = errcode_find(name);
    if (i >= 0)
        return rows[i].cls;
    if (!name)
        return ERRCODE_SERVER;
    if (strstr(name, "Throttl") || strstr(name, "TooManyRequests"))
        return ERRCODE_THROTTLE;
    for (size_t k = 0; k < sizeof client / sizeof *client; k++)
        if (has_prefix(name, client[k]))
            return ERRCODE_CLIENT;
    return ERRCODE_SERVER;
}

int errcode_retryable(const char *name)
{
    int i = errcode_find(name);
    return i >= 0 ? rows[i].retryable : 0;
}

const char *errcode_name(int i)
{
    return i >= 0 && i < ERRCODE__COUNT ? rows[i].name : NULL;
}
