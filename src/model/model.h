/*
 * model.h - the model port: one call that takes an Anthropic Messages-API request body and returns
 * a Messages-API response, whatever the provider behind it.
 *
 * Request (borrowed): {"system": string, "messages": [...], "tools": [{name, description,
 * input_schema}], "max_tokens": n}. Messages are {"role": "user"|"assistant", "content": string |
 * [blocks]} with blocks {"type":"text","text"}, {"type":"tool_use","id","name","input"},
 * {"type":"tool_result","tool_use_id","content": string,"is_error"?: bool}.
 *
 * Response (new reference owned by the caller): {"id", "type":"message", "role":"assistant",
 * "model", "content": [text | tool_use blocks], "stop_reason": "end_turn"|"tool_use"|"max_tokens",
 * "usage": {"input_tokens", "output_tokens"}}.
 *
 * Adapters: model_offline.c (deterministic, no network), and the network providers (bedrock,
 * anthropic, openai). Each adapter is thread-safe: one struct model serves concurrent turns.
 */
#ifndef PARLEY_MODEL_H
#define PARLEY_MODEL_H

#include <assert.h>

#include <jansson.h>

#include "base/err.h"

struct model;

/* Called with each piece of reply text as it is generated (streaming); may be NULL. */
typedef void (*model_delta_fn)(void *ud, const char *text);

struct model_ops {
    const char *name; /* "offline", "bedrock", "anthropic", "openai" */
    /* Returns a new response or NULL with err filled ("ModelTimeout", "ModelThrottled",
     * "ModelError", "ModelBadResponse", ...). on_delta, when not NULL, receives text deltas before
     * the call returns; an error return means no further deltas. */
    json_t *(*invoke)(struct model *m, const json_t *request, model_delta_fn on_delta, void *ud,
                      struct err *err);
    void (*free)(struct model *m);
    /* Drops whatever the adapter keeps that was derived from past requests' text (the offline
     * model's measures of their messages), so that an erased conversation's text does not stay
     * in memory. NULL: the adapter keeps nothing of the kind. */
    void (*forget)(struct model *m);
};

struct model {
    const struct model_ops *ops; /* the adapter */
};

static inline json_t *model_invoke(struct model *m, const json_t *request, model_delta_fn on_delta,
                                   void *ud, struct err *err)
{
    assert(m);
    return m->ops->invoke(m, request, on_delta, ud, err);
}

/* The adapter's name ("offline", "bedrock", "anthropic", "openai"), for logs and the CLI. */
static inline const char *model_name(const struct model *m)
{
    assert(m);
    return m->ops->name;
}

/* The adapter's forget op, if it has one; NULL is a no-op. Thread-safe. */
static inline void model_forget(struct model *m)
{
    if (m && m->ops->forget)
        m->ops->forget(m);
}

/* Frees the model; NULL is a no-op. */
static inline void model_free(struct model *m)
{
    if (m)
        m->ops->free(m);
}

/* The offline adapter (model_offline.c): a deterministic intent-and-slot engine. Never fails to
 * construct. It only calls tools that the request lists in "tools". Its message ids are
 * "msg_offline_" and 16 hex digits of hash_stream (base/hash.h) of the request's compact,
 * key-sorted JSON text (json_dumps with JSON_COMPACT | JSON_SORT_KEYS) in which long values are
 * replaced by their digests: the value of "tools" and each message's "content" when their text
 * is MODEL_OFFLINE_LONG_STRING bytes or more, and every other string value of that many bytes or
 * more, each by the string "#" and 16 hex digits of hash_stream of the value's own compact,
 * key-sorted JSON text (inside a replaced value nothing else is replaced). Its input tokens are
 * estimated over the unchanged text of "system", "messages" and "tools". */
#define MODEL_OFFLINE_LONG_STRING 256
struct model *model_offline_new(void);

/* Teaches the offline model m the custom tools of tool_examples (borrowed; an array of {"name",
 * "description", "input_schema", "examples": [utterance, ...]} as tools_examples() gives): its
 * intent classifier is retrained from the built-in utterances plus the examples, each tool being
 * an intent of its name, and the tool's required properties are filled from the conversation (see
 * model/offline_custom.h). NULL or no examples restores the built-in classifier. Safe while turns
 * run: the new classifier is swapped in atomically and running turns finish with the old one.
 * Returns 0, or -1 with err "ToolExamplesInvalid" (the model keeps what it had) or
 * "InvalidArgument" when m is not the offline model. */
int model_offline_train(struct model *m, const json_t *tool_examples, struct err *err);

#endif
