/* bedrock.c - fuzz target: the Bedrock adapter's response parsers. First byte even: the rest is
 * a ConverseStream / InvokeModelWithResponseStream body (AWS event-stream frames, cut in two feeds
 * at a byte the first byte picks) through the frame callback and the stream builder; odd: a whole
 * Converse JSON response. Includes the adapter to reach its statics. */
#include "../src/model/model_bedrock.c"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t n = size - 1, deltas = 0;
    const char *rest = (const char *)data + 1;
    struct err e = {0};
    if (data[0] & 1) {
        json_t *r = json_loadb(rest, n, 0, NULL);
        if (r)
            json_decref(from_converse(r, "bedrock-fuzz", &e));
        json_decref(r);
        return 0;
    }
    struct stream_ctx sc;
    memset(&sc, 0, sizeof sc);
    model__stream_init(&sc.stream, fuzz_count_delta, &deltas);
    sc.dec.fn = on_frame;
    sc.dec.ud = &sc;
    size_t cut = fuzz_cut(data[0] >> 1, n);
    if (on_data(&sc, rest, cut) == 0 && on_data(&sc, rest + cut, n - cut) == 0)
        json_decref(model__stream_finish(&sc.stream, &e));
    model__stream_release(&sc.stream);
    model__evstream_release(&sc.dec);
    return 0;
}
