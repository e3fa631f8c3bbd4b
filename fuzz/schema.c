/* schema.c - fuzz target: JSON Schema (the tool-input dialect) compile + validate. A JSON array
 * [schema, instance] compiles the schema and validates the instance both ways (err and report);
 * any other JSON document is compiled as a schema. Patterns are bounded in complexity, so no input
 * may make regcomp() or regexec() take long. */
#include <jansson.h>

#include "agent/schema.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct err e = {0};
    json_t *doc = json_loadb((const char *)data, size, 0, NULL);
    if (!doc)
        return 0;
    int pair = json_is_array(doc) && json_array_size(doc) == 2;
    struct schema *s = schema_compile(pair ? json_array_get(doc, 0) : doc, &e);
    if (s && pair) {
        (void)schema_validate(s, json_array_get(doc, 1), &e);
        char *msg = NULL;
        (void)schema_check(s, json_array_get(doc, 1), &msg);
        free(msg);
    }
    schema_free(s);
    json_decref(doc);
    return 0;
}
