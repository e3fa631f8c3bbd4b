/* jsonpath.c - fuzz target: a JSONPath compiled both as a Path and as a Reference Path, then
 * evaluated against and set into a fixed document. */
#include <jansson.h>

#include "fuzz.h"
#include "sfn/jsonpath.h"

static const char DOC[] = "{\"a\":{\"b\":[1,2,{\"c\":\"x\"}],\"d e\":true},\"list\":[{\"p\":1},"
                          "{\"p\":2,\"q\":null}],\"n\":-3.5,\"s\":\"text\"}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstr(data, size);
    json_t *doc = json_loads(DOC, 0, NULL);
    for (int flags = 0; flags <= JSONPATH_REFERENCE; flags++) {
        struct err e = {0};
        struct jsonpath *p = jsonpath_compile(text, flags, &e);
        if (!p)
            continue;
        json_t *out = NULL;
        if (jsonpath_eval(p, doc, &out) == 0)
            json_decref(out);
        if (flags == JSONPATH_REFERENCE) {
            json_t *v = json_string("v");
            json_t *set = jsonpath_set(p, doc, v, &e); /* doc and v are borrowed */
            json_decref(set);
            json_decref(v);
        }
        (void)jsonpath_is_definite(p);
        jsonpath_free(p);
    }
    json_decref(doc);
    free(text);
    return 0;
}
