/*
 * providers.h - the network model adapters (Bedrock, Anthropic API, OpenAI-compatible) and the
 * by-name constructor that reads their environment.
 *
 * Every adapter speaks the model port of model.h: a Messages-API request in, a Messages-API
 * response out, text deltas to on_delta while streaming. Each call has a timeout and retries
 * with jittered backoff on 429/5xx/throttling, and fails with one of "ModelThrottled" (still
 * throttled after the retries), "ModelTimeout", "ModelError" (the provider refused: 4xx with its
 * message, 5xx, no connection, missing credentials) or "ModelBadResponse" (malformed or
 * oversized reply).
 *
 * This is the public side: the adapters' configuration and constructors for hosts and tests.
 * What the adapters share among themselves is in the private providers_int.h; no adapter
 * calls another, and model_select.c is the only file that knows them all.
 */
#ifndef PARLEY_MODEL_PROVIDERS_H
#define PARLEY_MODEL_PROVIDERS_H

#include <stddef.h>

#include "aws/aws.h"
#include "base/err.h"
#include "model/model.h"

/* ---- Configuration -------------------------------------------------------------------------- */

struct model_provider_config {
    const char *model_id;         /* NULL = the provider's default */
    long timeout_ms;              /* per attempt; 0 = 60000 */
    int max_retries;              /* -1 = none; 0 = MODEL_MAX_CALLS - 1 (also the cap) */
    int max_tokens;               /* used when a request has none; 0 = 1024 */
    const char *api_key;          /* anthropic, openai (NULL = none, for local servers) */
    const char *base_url;         /* anthropic/openai API base; bedrock endpoint override */
    const struct aws_config *aws; /* bedrock: region, credentials, clock; NULL = from env */
    long backoff_base_ms;         /* 0 = 250 */
    long backoff_max_ms;          /* 0 = 8000 */
    size_t max_response_bytes;    /* 0 = 8 MiB */
};

/* Defaults when PARLEY_MODEL_ID is empty: Claude Sonnet 4.5 (on Bedrock through the global
 * cross-region inference profile, which Claude 4 models require for on-demand use) and GPT-4.1
 * mini (it takes "max_tokens"; the reasoning models want "max_completion_tokens"). */
#define MODEL_BEDROCK_DEFAULT_ID "global.anthropic.claude-sonnet-4-5-20250929-v1:0"
#define MODEL_ANTHROPIC_DEFAULT_ID "claude-sonnet-4-5-20250929"
#define MODEL_OPENAI_DEFAULT_ID "gpt-4.1-mini"

/* The retry budget of one model step: at most this many upstream calls (the first and its
 * retries), all in the adapter's HTTP client, which honours Retry-After. The workflow
 * (statemachine/agent.asl.json, CallBedrock) does not retry model errors, so the two never
 * multiply. */
#define MODEL_MAX_CALLS 4

/* What the turn gets instead of a refusal (Anthropic/Bedrock "refusal", OpenAI
 * "content_filter", Bedrock Converse "content_filtered"). */
#define MODEL_DECLINE_TEXT                                                                         \
    "I'm sorry, but I can't help with that request. If you'd like, I can connect you with a "      \
    "member of our support team who can take a closer look."
/* What the turn gets when the model ran out of tokens before writing one full sentence. */
#define MODEL_CUT_TEXT                                                                             \
    "I'm sorry, my answer ran too long. Could you ask me that again, one part at a time?"

/* ---- Constructors --------------------------------------------------------------------------- */

/* Each returns a new model (free with model_free) or NULL with err ("ModelConfig") when the
 * configuration is unusable (no region for Bedrock, ...). */
struct model *model_bedrock_new(const struct model_provider_config *cfg, struct err *err);
struct model *model_anthropic_new(const struct model_provider_config *cfg, struct err *err);
struct model *model_openai_new(const struct model_provider_config *cfg, struct err *err);

struct config;

/* Returns the model called name ("offline", "bedrock", "anthropic", "openai"; NULL = offline),
 * configured from the settings table (base/config.h): PARLEY_MODEL_ID, PARLEY_MODEL_TIMEOUT_MS,
 * PARLEY_MODEL_MAX_RETRIES, PARLEY_MAX_TOKENS, ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL,
 * OPENAI_API_KEY, OPENAI_BASE_URL, plus the AWS variables (aws.h) for Bedrock. NULL with err
 * ("ModelConfig") for an unknown name. */
struct model *model_new_from_config(const char *name, const struct config *c, struct err *err);

/* model_new_from_config() with the settings loaded from the environment now; a bad value is
 * err "ModelConfig". For tools and tests that hold no struct config. */
struct model *model_new_by_name(const char *name, struct err *err);

#endif
