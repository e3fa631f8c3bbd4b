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
 */
#ifndef PARLEY_MODEL_PROVIDERS_H
#define PARLEY_MODEL_PROVIDERS_H

#include <stddef.h>

#include <jansson.h>

#include "aws/aws.h"
#include "http/client.h"
#include "base/err.h"
#include "model/model.h"

/* ---- Configuration -------------------------------------------------------------------------- */

struct model_provider_config {
    const char *model_id;          /* NULL = the provider's default */
    long timeout_ms;               /* per attempt; 0 = 60000 */
    int max_retries;               /* -1 = none; 0 = MODEL_MAX_CALLS - 1 (also the cap) */
    int max_tokens;                /* used when a request has none; 0 = 1024 */
    const char *api_key;           /* anthropic, openai (NULL = none, for local servers) */
    const char *base_url;          /* anthropic/openai API base; bedrock endpoint override */
    const struct aws_config *aws;  /* bedrock: region, credentials, clock; NULL = from env */
    long backoff_base_ms;          /* 0 = 250 */
    long backoff_max_ms;           /* 0 = 8000 */
    size_t max_response_bytes;     /* 0 = 8 MiB */
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
#define MODEL_DECLINE_TEXT                                                                       \
    "I'm sorry, but I can't help with that request. If you'd like, I can connect you with a "   \
    "member of our support team who can take a closer look."
/* What the turn gets when the model ran out of tokens before writing one full sentence. */
#define MODEL_CUT_TEXT                                                                           \
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

/* ---- Internals shared by the adapters (model__*) -------------------------------------------- */

/* What every HTTP provider (anthropic, openai) takes from its config, defaults applied. */
struct model__http {
    struct http_client *http; /* pooled connections with retries and backoff */
    char *url;                /* base URL (no trailing '/') + the API path */
    int max_tokens;           /* default max_tokens: 1024 */
    long timeout_ms;          /* per attempt: 60000 */
    int max_retries;          /* retries on 429/5xx: model__retries() */
};

/* Returns the retries an adapter makes for cfg_max_retries (providers config): 0 = the default,
 * MODEL_MAX_CALLS - 1; -1 = none; larger values are capped to the budget. */
int model__retries(int cfg_max_retries);

/* Fills h from cfg: cfg->base_url (or default_base) joined with path, and the client. */
void model__http_init(struct model__http *h, const struct model_provider_config *cfg,
                      const char *default_base, const char *path);
void model__http_release(struct model__http *h);

/* Builds a Messages-API response from Anthropic stream events (message_start,
 * content_block_start/delta/stop, message_delta, message_stop, error), forwarding text deltas. */
struct model__stream {
    json_t *msg;              /* the message being built */
    json_t *partial;          /* object: block index -> accumulated input_json string */
    model_delta_fn on_delta;  /* may be NULL */
    void *ud;                 /* for on_delta */
    int done;                 /* message_stop seen */
    struct err failure;       /* set by an "error" event or a malformed event */
};

void model__stream_init(struct model__stream *s, model_delta_fn on_delta, void *ud);
/* Feeds one event. Returns 0, or -1 with s->failure set. */
int model__stream_event(struct model__stream *s, const json_t *ev);
/* Returns the finished response (new reference) or NULL with err. A refusal also sends
 * "\n\n" MODEL_DECLINE_TEXT to on_delta, so that a streaming client sees the decline. */
json_t *model__stream_finish(struct model__stream *s, struct err *err);
void model__stream_release(struct model__stream *s);

/* Server-Sent Events splitter: feed bytes, get each event's joined data lines. */
typedef int (*model__sse_fn)(void *ud, const char *event, const char *data);
struct model__sse {
    char *buf;       /* pending bytes */
    size_t len, cap; /* used, allocated */
    model__sse_fn fn;
    void *ud;
};
/* Returns 0, or -1 when fn failed or an event exceeded 1 MiB. */
int model__sse_feed(struct model__sse *p, const char *data, size_t len);
void model__sse_release(struct model__sse *p);

/* AWS event-stream (application/vnd.amazon.eventstream) decoder. */
struct model__evstream_msg {
    char event_type[64];     /* ":event-type" */
    char message_type[32];   /* ":message-type": "event", "exception", "error" */
    char exception_type[96]; /* ":exception-type" or ":error-code" */
    const unsigned char *payload;
    size_t payload_len;
};
typedef int (*model__evstream_fn)(void *ud, const struct model__evstream_msg *m);
struct model__evstream {
    unsigned char *buf;
    size_t len, cap;
    model__evstream_fn fn;
    void *ud;
    int bad; /* a frame failed its CRC or bounds */
};
/* Feeds bytes; calls fn per complete message. Returns 0 (need more or done), -1 malformed frame
 * or fn failure. */
int model__evstream_feed(struct model__evstream *d, const void *data, size_t len);
void model__evstream_release(struct model__evstream *d);
/* CRC-32 (IEEE 802.3), as the event-stream framing uses; crc starts at 0. */
unsigned long model__crc32(unsigned long crc, const void *data, size_t len);

/* When resp (a checked response) is a refusal, sends the decline to on_delta (may be NULL). */
void model__stream_refusal(const json_t *resp, model_delta_fn on_delta, void *ud);

/* Maps a failed provider call to the port's error codes. http_rc/herr: the HTTP client's result;
 * status/body: the response when one arrived; provider names the adapter for messages. */
void model__map_failure(const char *provider, int http_rc, const struct err *herr, long status,
                        const char *code_hint, const char *message, struct err *err);

/* Checks and completes a Messages-API response (content array of text/tool_use blocks,
 * stop_reason, usage). Returns 0 or -1 with err "ModelBadResponse".
 * It also settles the stop reasons a turn cannot use as they come, so that every provider ends
 * the turn with a sensible reply: "refusal" gets MODEL_DECLINE_TEXT as its whole content (the
 * stop_reason stays "refusal"); "max_tokens" drops tool_use blocks (their input may be cut) and
 * ends the last text block at its last full sentence (MODEL_CUT_TEXT when none is left). */
int model__check_response(json_t *resp, const char *model_id, struct err *err);

#endif
