/* pattern.c - fuzz target: an EventBridge event pattern. A JSON array [pattern, event] compiles
 * the pattern and matches the event; any other input is compiled as a pattern text. */
#include <jansson.h>

#include "bus/pattern.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct err e = {0};
    json_t *pair = json_loadb((const char *)data, size, 0, NULL);
    if (json_is_array(pair) && json_array_size(pair) == 2) {
        struct pattern *p = pattern_compile(json_array_get(pair, 0), &e);
        if (p)
            (void)pattern_match(p, json_array_get(pair, 1));
        pattern_free(p);
    } else {
        char *text = fuzz_cstr(data, size);
        pattern_free(pattern_compile_str(text, &e));
        free(text);
    }
    json_decref(pair);
    return 0;
}
