/* openai.c - fuzz target: the OpenAI-compatible adapter's response parsers. First byte even: the
 * rest is a streamed response (SSE chunks split at a byte the first byte picks, assembled and
 * checked); odd: a whole Chat Completions body. Includes the adapter to reach its statics. */
#include "../src/model/model_openai.c"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t n = size - 1, deltas = 0;
    const char *rest = (const char *)data + 1;
    struct err e = {0};
    if (data[0] & 1) {
        json_decref(from_chat(rest, n, "gpt-fuzz", &e));
        return 0;
    }
    struct chunk_ctx cc = {.calls = json_array(), .on_delta = fuzz_count_delta, .ud = &deltas};
    buf_init(&cc.text, OPENAI_TEXT_MAX);
    struct model__sse sse = {.fn = on_chunk, .ud = &cc};
    size_t cut = fuzz_cut(data[0] >> 1, n);
    if (model__sse_feed(&sse, rest, cut) == 0 && model__sse_feed(&sse, rest + cut, n - cut) == 0 &&
        !cc.failure && cc.finish)
        json_decref(build_response(cc.id, "gpt-fuzz", buf_str(&cc.text), cc.calls, cc.finish,
                                   cc.usage, &e));
    chunk_ctx_release(&cc);
    model__sse_release(&sse);
    return 0;
}
