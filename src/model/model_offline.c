/*
 * model_offline.c - the offline adapter of the model port (model.h): a deterministic
 * intent-and-slot engine that answers in the Anthropic Messages-API shape without any network.
 *
 * The decision comes from offline_policy.c; this file wraps it into a response: a message id and
 * tool_use ids derived from a hash of the request (same request, same response), token counts
 * estimated from the text, and word-by-word streaming of the reply text. Its only mutable state is
 * the pointer to the custom tools (model_offline_train), an immutable reference-counted object
 * swapped under a mutex: a turn takes a reference for its whole decision, so a reload never frees
 * what a running turn reads, and one instance serves any number of threads.
 */
#include <ctype.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xmalloc.h"
#include "model/model.h"
#include "model/offline_custom.h"
#include "model/offline_policy.h"

#define OFFLINE_MODEL_NAME "parley-offline-1"

struct model_offline {
    struct model base;             /* first, so a struct model * is a struct model_offline * */
    pthread_mutex_t mu;            /* guards custom */
    struct offline_custom *custom; /* custom tools (one reference), or NULL */
};

/* ------------------------------------------------------------------------------------------------
 * Hashing and token estimates
 * --------------------------------------------------------------------------------------------- */

/* Estimates tokens the way BPE tokenisers roughly behave on English: a run of letters or digits
 * costs one token per four characters (rounded up), every other visible character one token,
 * whitespace nothing. It is an estimate, documented as such in the usage it fills. The count runs
 * over bytes as they come (a run may span two chunks), so a JSON value is counted straight from
 * json_dump_callback without building its text. */
struct token_count {
    size_t tokens; /* tokens of the finished runs and symbols */
    size_t run;    /* letters or digits in the current run */
};

static void count_bytes(struct token_count *t, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isalnum(c) || c >= 0x80) {
            t->run++;
            continue;
        }
        t->tokens += (t->run + 3) / 4;
        t->run = 0;
        if (!isspace(c))
            t->tokens++;
    }
}

/* The count, closing the last run. */
static size_t count_done(struct token_count *t)
{
    t->tokens += (t->run + 3) / 4;
    t->run = 0;
    return t->tokens;
}

static size_t estimate_tokens(const char *s)
{
    struct token_count t = {0, 0};
    count_bytes(&t, s, strlen(s));
    return count_done(&t);
}

static int count_chunk(const char *buf, size_t len, void *ud)
{
    count_bytes(ud, buf, len);
    return 0;
}

static size_t estimate_json_tokens(const json_t *j)
{
    if (!j)
        return 0;
    struct token_count t = {0, 0};
    json_dump_callback(j, count_chunk, &t, JSON_COMPACT | JSON_ENCODE_ANY);
    return count_done(&t);
}

/* FNV-1a, continued over len bytes (a json_dump_callback chunk: the request's compact,
 * key-sorted text is hashed without building it). */
static int hash_chunk(const char *buf, size_t len, void *ud)
{
    uint64_t *h = ud;
    for (size_t i = 0; i < len; i++) {
        *h ^= (unsigned char)buf[i];
        *h *= 1099511628211ULL;
    }
    return 0;
}

/* Hash and token count of a request in one serialisation: the hash runs over every byte of the
 * request's compact, key-sorted text, the count over the values of "system", "messages" and
 * "tools" (a count does not depend on key order: every run of letters ends at a quote). */
struct request_pass {
    uint64_t hash;             /* FNV-1a so far */
    struct token_count tokens; /* of the counted values */
    int counting;              /* 1 while a counted value is being dumped */
};

static int pass_chunk(const char *buf, size_t len, void *ud)
{
    struct request_pass *rp = ud;
    hash_chunk(buf, len, &rp->hash);
    if (rp->counting)
        count_bytes(&rp->tokens, buf, len);
    return 0;
}

static int key_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Fills *h with FNV-1a of json_dumps(request, JSON_COMPACT | JSON_SORT_KEYS) (the same bytes, fed
 * key by key) and returns the estimated input tokens. */
static size_t request_hash_tokens(const json_t *request, uint64_t *h)
{
    struct request_pass rp = {1469598103934665603ULL, {0, 0}, 0};
    size_t n = json_object_size(request), i = 0;
    const char **keys = xmalloc((n ? n : 1) * sizeof *keys);
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)request, k, v)
        keys[i++] = k;
    qsort(keys, n, sizeof *keys, key_cmp);
    size_t in_tokens = 0;
    pass_chunk("{", 1, &rp);
    for (i = 0; i < n; i++) {
        json_t *name = json_string(keys[i]);
        if (i)
            pass_chunk(",", 1, &rp);
        json_dump_callback(name, pass_chunk, &rp, JSON_ENCODE_ANY);
        json_decref(name);
        pass_chunk(":", 1, &rp);
        rp.counting = strcmp(keys[i], "system") == 0 || strcmp(keys[i], "messages") == 0 ||
                      strcmp(keys[i], "tools") == 0;
        json_dump_callback(json_object_get(request, keys[i]), pass_chunk, &rp,
                           JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        if (rp.counting)
            in_tokens += count_done(&rp.tokens);
        rp.tokens.tokens = 0;
        rp.counting = 0;
    }
    pass_chunk("}", 1, &rp);
    free(keys);
    *h = rp.hash;
    return in_tokens;
}

static uint64_t fnv1a(const char *s, uint64_t h)
{
    hash_chunk(s, strlen(s), &h);
    return h;
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
    struct model_offline *mo = (struct model_offline *)m;
    json_t *resp = NULL;
    struct offline_reply reply = {0};
    pthread_mutex_lock(&mo->mu);
    struct offline_custom *custom = mo->custom ? offline_custom_ref(mo->custom) : NULL;
    pthread_mutex_unlock(&mo->mu);
    if (!json_is_object(request)) {
        err_set(err, "InvalidRequest", "model request is not a JSON object");
        goto out;
    }
    if (offline_policy_decide(request, custom, &reply, err) != 0)
        goto out;

    uint64_t h;
    size_t in_tokens = request_hash_tokens(request, &h);
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
        json_array_append_new(content, json_pack("{s:s, s:s}", "type", "text", "text", reply.text));
        out_tokens = estimate_tokens(reply.text);
        if (on_delta)
            stream_words(reply.text, on_delta, ud);
    }
    resp = json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:n, s:{s:I, s:I}}", "id", id, "type",
                     "message", "role", "assistant", "model", OFFLINE_MODEL_NAME, "content",
                     content, "stop_reason", reply.tool ? "tool_use" : "end_turn", "stop_sequence",
                     "usage", "input_tokens", (json_int_t)in_tokens, "output_tokens",
                     (json_int_t)out_tokens);
out:
    offline_reply_release(&reply); /* before the unref: reply.tool may point into custom */
    offline_custom_unref(custom);
    return resp;
}

static void offline_free(struct model *m)
{
    struct model_offline *mo = (struct model_offline *)m;
    offline_custom_unref(mo->custom);
    pthread_mutex_destroy(&mo->mu);
    free(mo);
}

static const struct model_ops offline_ops = {
    .name = "offline",
    .invoke = offline_invoke,
    .free = offline_free,
};

struct model *model_offline_new(void)
{
    struct model_offline *mo = xcalloc(1, sizeof *mo);
    mo->base.ops = &offline_ops;
    pthread_mutex_init(&mo->mu, NULL);
    return &mo->base;
}

int model_offline_train(struct model *m, const json_t *tool_examples, struct err *err)
{
    int rc = -1;
    struct offline_custom *fresh = NULL, *old = NULL;
    if (!m || m->ops != &offline_ops) {
        err_set(err, "InvalidArgument", "model_offline_train needs the offline model");
        goto out;
    }
    struct model_offline *mo = (struct model_offline *)m;
    /* no custom tool with examples: exactly the built-in classifier */
    int any = 0;
    size_t i;
    const json_t *t;
    json_array_foreach(tool_examples, i, t)
        if (json_array_size(json_object_get(t, "examples")) > 0)
            any = 1;
    if (any || (tool_examples && !json_is_array(tool_examples))) {
        fresh = offline_custom_new(tool_examples, err);
        if (!fresh)
            goto out;
    }
    pthread_mutex_lock(&mo->mu);
    old = mo->custom;
    mo->custom = fresh;
    pthread_mutex_unlock(&mo->mu);
    offline_custom_unref(old);
    rc = 0;
out:
    return rc;
}
