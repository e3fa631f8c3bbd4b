/* intrinsic.c - fuzz target: an ASL intrinsic function call (States.Format, States.Array, ...)
 * compiled and evaluated against a fixed input and context object. */
#include <jansson.h>

#include "fuzz.h"
#include "sfn/sfn_int.h"

static const char INPUT[] = "{\"a\":\"x\",\"n\":3,\"arr\":[1,2,3,2],\"obj\":{\"k\":\"v\"},"
                            "\"s\":\"a,b,c\",\"b64\":\"aGVsbG8=\",\"f\":1.5}";
static const char CTX[] = "{\"Execution\":{\"Id\":\"e-1\"},\"State\":{\"Name\":\"S\"}}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstr(data, size);
    struct err e = {0};
    struct sfn__intrinsic *fn = sfn__intrinsic_compile(text, &e);
    if (fn) {
        struct rand_seeded rng;
        rand_seeded_init(&rng, 42);
        struct sfn__env env = {.input = json_loads(INPUT, 0, NULL),
                               .ctx = json_loads(CTX, 0, NULL),
                               .rng = &rng};
        json_t *out = NULL;
        if (sfn__intrinsic_eval(fn, &env, &out, &e) == 0)
            json_decref(out);
        json_decref(env.input);
        json_decref(env.ctx);
        sfn__intrinsic_free(fn);
    }
    free(text);
    return 0;
}
