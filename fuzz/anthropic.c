/* anthropic.c - fuzz target: the Anthropic adapter's response path: Server-Sent Events split at a
 * byte the first input byte picks, each event's JSON through the stream builder, then the checked
 * final message. Includes the adapter to reach its static SSE callback. */
#include "../src/model/model_anthropic.c"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t deltas = 0;
    struct sse_ctx sc;
    struct model__sse sse = {.fn = on_sse, .ud = &sc};
    model__stream_init(&sc.stream, fuzz_count_delta, &deltas);
    size_t n = size - 1, cut = fuzz_cut(data[0], size - 1);
    const char *rest = (const char *)data + 1;
    if (model__sse_feed(&sse, rest, cut) == 0 && model__sse_feed(&sse, rest + cut, n - cut) == 0 &&
        !sc.stream.failure) {
        struct err e = {0};
        json_decref(model__stream_finish(&sc.stream, &e));
    }
    model__stream_release(&sc.stream);
    model__sse_release(&sse);
    return 0;
}
