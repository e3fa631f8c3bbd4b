/*
 * model_offline.c - the offline adapter of the model port (model.h): a deterministic
 * intent-and-slot engine that answers in the Anthropic Messages-API shape without any network.
 *
 * The decision comes from offline_policy.c; this file wraps it into a response: a message id and
 * tool_use ids derived from a hash of the request (same request, same response), token counts
 * estimated from the text, and word-by-word streaming of the reply text. The adapter holds no
 * mutable state, so one instance serves any number of threads.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xmalloc.h"
#include "model/model.h"
#include "model/offline_policy.h"

#define OFFLINE_MODEL_NAME "parley-offline-1"

/* ------------------------------------------------------------------------------------------------
 * Hashing and token estimates
 * --------------------------------------------------------------------------------------------- */

static uint64_t fnv1a(const char *s, uint64_t h)
{
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

/* Estimates the tokens of text the way BPE tokenisers roughly behave on English: a run of letters
 * or digits costs one token per four characters (rounded up), every other visible character one
 * token, whitespace nothing. It is an estimate, documented as such in the usage it fills. */
static size_t estimate_tokens(const char *s)
{
    size_t tokens = 0;
    while (*s) {
        unsigned char c = (unsigned char)*s;
        if (isalnum(c) || c >= 0x80) {
            size_t run = 0;
            while (*s && (isalnum((unsigned char)*s) || (unsigned char)*s >= 0x80)) {
                s++;
                run++;
            }
            tokens += (run + 3) / 4;
        } else {
            if (!isspace(c))
                tokens++;
            s++;
        }
    }
    return tokens;
}

static size_t estimate_json_tokens(const json_t *j)
{
    if (!j)
        return 0;
    char *dump = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    size_t n = dump ? estimate_tokens(dump) : 0;
    free(dump);
    return n;
}

/* ------------------------------------------------------------------------------------------------
 * Streaming
 * --------------------------------------------------------------------------------------------- */

/* Emits text word by word: each delta is a word plus the whitespace after it, so the deltas
 * concatenate to exactly the text. */
static void stream_words(const char *text, model_delta_fn on_delta, void *ud)
{
    const char *p = text;
    /* leading whitespace, if any, travels with the first word */
    while (*p) {
        const char *start = p;
        while (*p && isspace((unsigned char)*p))
            p++;
        while (*p && !isspace((unsigned char)*p))
            p++;
        while (*p && isspace((unsigned char)*p))
            p++;
        char *piece = xstrndup(start, (size_t)(p - start));
        on_delta(ud, piece);
        free(piece);
    }
}

/* ------------------------------------------------------------------------------------------------
 * The port
 * --------------------------------------------------------------------------------------------- */

static json_t *offline_invoke(struct model *m, const json_t *request, model_delta_fn on_delta,
                              void *ud, struct err *err)
{
    (void)m;
    json_t *resp = NULL;
    struct offline_reply reply = {0};
    char *dump = NULL;
    if (!json_is_object(request)) {
        err_set(err, "InvalidRequest", "model request is not a JSON object");
        goto out;
    }
    if (offline_policy_decide(request, &reply, err) != 0)
        goto out;

    dump = json_dumps(request, JSON_COMPACT | JSON_SORT_KEYS);
    uint64_t h = fnv1a(dump ? dump : "", 1469598103934665603ULL);
    char id[40];
    snprintf(id, sizeof id, "msg_offline_%016" PRIx64, h);

    json_t *content = json_array();
    size_t out_tokens = 0;
    if (reply.tool) {
        char tid[40];
        snprintf(tid, sizeof tid, "toolu_offline_%016" PRIx64, fnv1a(reply.tool, h));
        json_array_append_new(content, json_pack("{s:s, s:s, s:s, s:O}", "type", "tool_use", "id",
                                                 tid, "name", reply.tool, "input", reply.input));
        out_tokens = estimate_tokens(reply.tool) + estimate_json_tokens(reply.input);
    } else {
        json_array_append_new(content, json_pack("{s:s, s:s}", "type", "text", "text",
                                                 reply.text));
        out_tokens = estimate_tokens(reply.text);
        if (on_delta)
            stream_words(reply.text, on_delta, ud);
    }
    size_t in_tokens = estimate_json_tokens(json_object_get(request, "system")) +
                       estimate_json_tokens(json_object_get(request, "messages")) +
                       estimate_json_tokens(json_object_get(request, "tools"));
    resp = json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:n, s:{s:I, s:I}}", "id", id, "type",
                     "message", "role", "assistant", "model", OFFLINE_MODEL_NAME, "content",
                     content, "stop_reason", reply.tool ? "tool_use" : "end_turn",
                     "stop_sequence", "usage", "input_tokens", (json_int_t)in_tokens,
                     "output_tokens", (json_int_t)out_tokens);
out:
    free(dump);
    offline_reply_release(&reply);
    return resp;
}

static void offline_free(struct model *m)
{
    free(m);
}

static const struct model_ops offline_ops = {
    .name = "offline",
    .invoke = offline_invoke,
    .free = offline_free,
};

struct model *model_offline_new(void)
{
    struct model *m = xcalloc(1, sizeof *m);
    m->ops = &offline_ops;
    return m;
}
