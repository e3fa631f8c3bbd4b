/*
 * jsonb.c - objects member by member (jsonb.h).
 */
#include "base/jsonb.h"

#include <stdarg.h>

json_t *jsonb_object(const char *key, json_t *value, ...)
{
    json_t *o = json_object();
    int whole = o != NULL;
    va_list ap;
    va_start(ap, value);
    while (key) {
        if (!value || !whole) {
            whole = 0;
            json_decref(value);
        } else {
            json_object_set_new_nocheck(o, key, value);
        }
        key = va_arg(ap, const char *);
        if (key)
            value = va_arg(ap, json_t *);
    }
    va_end(ap);
    if (!whole) {
        json_decref(o);
        return NULL;
    }
    return o;
}
