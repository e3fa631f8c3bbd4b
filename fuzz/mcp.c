/* mcp.c - fuzz target: messages from an MCP server. First byte even: the rest is JSON-RPC text (a
 * message or a batch) handed to the client's dispatcher, as the stdio transport does per line;
 * odd: a Streamable HTTP response body, through the SSE parser (cut in two feeds) and each event
 * into the dispatcher. The client is never started: no request waits, so replies are strays. */
#include <jansson.h>

#include "base/log.h"
#include "fuzz.h"
#include "mcp/mcp.h"
#include "mcp/mcp_int.h"

static struct mcp_client *client(void)
{
    static struct mcp_client *c; /* kept for the process */
    if (!c) {
        struct err e = {0};
        json_t *entry = json_pack("{s:s, s:[s]}", "name", "fuzz", "command", "true");
        c = mcp_client_from_json(entry, &e);
        json_decref(entry);
        if (!c)
            abort();
        log_threshold = LL_OFF; /* every stray reply logs */
    }
    return c;
}

static int on_event(void *ud, const char *event, const char *data, size_t len)
{
    (void)event;
    char *answer = NULL;
    (void)mcp__dispatch(ud, data, len, &answer);
    free(answer);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    struct mcp_client *c = client();
    const char *rest = (const char *)data + 1;
    size_t n = size - 1;
    if (!(data[0] & 1)) {
        char *answer = NULL;
        (void)mcp__dispatch(c, rest, n, &answer);
        free(answer);
        return 0;
    }
    struct err e = {0};
    struct mcp__sse p;
    mcp__sse_init(&p, 64 * 1024, on_event, c);
    size_t cut = fuzz_cut(data[0] >> 1, n);
    if (mcp__sse_feed(&p, rest, cut, &e) == 0)
        (void)mcp__sse_feed(&p, rest + cut, n - cut, &e);
    mcp__sse_release(&p);
    return 0;
}
