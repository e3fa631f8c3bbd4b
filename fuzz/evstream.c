/* evstream.c - fuzz target: the AWS event-stream decoder (Bedrock streaming). The first byte picks
 * where the rest is cut in two feeds, so frames split at any boundary and 0-byte feeds are both
 * exercised; a feed after a failure must keep failing. */
#include "fuzz.h"
#include "model/providers_int.h"

static int on_msg(void *ud, const struct model__evstream_msg *m)
{
    size_t *seen = ud;
    *seen += m->payload_len + strlen(m->event_type);
    return m->payload_len == 1 && m->payload[0] == '!' ? -1 : 0; /* a callback may fail */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t seen = 0;
    struct model__evstream d = {.fn = on_msg, .ud = &seen};
    const uint8_t *rest = data + 1;
    size_t n = size - 1, cut = fuzz_cut(data[0], n);
    (void)model__evstream_feed(&d, rest, 0);
    (void)model__evstream_feed(&d, rest, cut);
    (void)model__evstream_feed(&d, rest + cut, n - cut);
    (void)model__evstream_feed(&d, NULL, 0);
    model__evstream_release(&d);
    return 0;
}
