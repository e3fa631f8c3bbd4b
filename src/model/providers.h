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
    int max_retries;              /* -1 = none; 0 = 2 */
    int max_tokens;               /* used when a request has none; 0 = 1024 */
    const char *api_key;          /* anthropic, openai (NULL = none, for local servers) */
    const char *base_url;         /* anthropic/openai API base; bedrock endpoint override */
    const struct aws_config *aws; /* bedrock: region, credentials, clock; NULL = from env */
    long backoff_base_ms;         /* 0 = 250 */
    long backoff_max_ms;          /* 0 = 8000 */
    size_t max_response_bytes;    /* 0 = 8 MiB */
};

#define MODEL_BEDROCK_DEFAULT_ID "anthropic.claude-3-5-sonnet-20241022-v2:0"
#define MODEL_ANTHROPIC_DEFAULT_ID "claude-3-5-sonnet-20241022"
#define MODEL_OPENAI_DEFAULT_ID "gpt-4o-mini"

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
