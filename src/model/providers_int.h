/*
 * providers_int.h - private to src/model: what the network model adapters (model_anthropic.c,
 * model_bedrock.c, model_openai.c) share, implemented in providers.c. Nothing outside src/model
 * includes it except the providers' unit tests.
 *
 * Dependencies run one way: model_select.c -> each adapter -> providers.c. An adapter includes
 * this header, never another adapter's code.
 */
#ifndef PARLEY_MODEL_PROVIDERS_INT_H
#define PARLEY_MODEL_PROVIDERS_INT_H

#include <stddef.h>

#include <jansson.h>

#include "base/buf.h"
#include "base/err.h"
#include "http/client.h"
#include "model/model.h"
#include "model/providers.h"

/* ---- Internals shared by the adapters (model__*) -------------------------------------------- */

/* What every HTTP provider (anthropic, openai) takes from its config, defaults applied. */
struct model__http {
    struct http_client *http; /* pooled connections with retries and backoff */
    char *url;                /* base URL (no trailing '/') + the API path */
    int max_tokens;           /* default max_tokens: 1024 */
    long timeout_ms;          /* per attempt: 60000 */
    int max_retries;          /* retries on 429/5xx: 2 */
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
    json_t *msg;             /* the message being built (from the first event) */
    json_t *partial;         /* object: block index -> accumulated input_json string */
    model_delta_fn on_delta; /* may be NULL */
    void *ud;                /* for on_delta */
    int done;                /* message_stop seen */
    struct err *failure;     /* an "error" event's or a malformed event's; NULL until one */
};

void model__stream_init(struct model__stream *s, model_delta_fn on_delta, void *ud);
/* Feeds one event. Returns 0, or -1 with s->failure set. */
int model__stream_event(struct model__stream *s, const json_t *ev);
/* Returns the finished response (new reference) or NULL with err. A refusal also sends
 * "\n\n" MODEL_DECLINE_TEXT to on_delta, so that a streaming client sees the decline. */
json_t *model__stream_finish(struct model__stream *s, struct err *err);
void model__stream_release(struct model__stream *s);
/* *slot, allocated at the first call: a streamed call's failure to fill in (its frame holds a
 * pointer, not an error, while it waits on the provider). The owner frees *slot. */
struct err *model__failure(struct err **slot);

/* An adapter's reading of its reply (the status, a streamed or a whole body), which model__reply
 * runs on the loop's deep stack: parsing a reply goes deeper than the frame the call waited in
 * (base/sched.h), and it never waits. */
struct model__reply_call {
    const void *m;                                      /* the adapter's model */
    int rc;                                             /* what the HTTP (or AWS) call returned */
    const void *resp;                                   /* its response */
    void *ctx;                                          /* the adapter's stream state */
    int streamed;                                       /* 1 when the reply was streamed */
    struct err *err;                                    /* the call's error, filled in on failure */
    json_t *(*read)(const struct model__reply_call *c); /* the adapter's reader */
};
/* c->read(c), on the deep stack: the response (new reference) or NULL with *c->err. */
json_t *model__reply(const struct model__reply_call *c);

/* Server-Sent Events splitter: feed bytes, get each event's joined data lines. */
typedef int (*model__sse_fn)(void *ud, const char *event, const char *data);
struct model__sse {
    struct buf pending; /* bytes of the event not yet complete (zero-initialise the struct) */
    model__sse_fn fn;
    void *ud;
};
/* Returns 0, or -1 when fn failed or an event exceeded 1 MiB. In a scheduler task the events are
 * parsed and handed to fn on the loop's deep stack (sched_call_deep: a streamed reply's parse and
 * the deltas it forwards go deeper than the frame the call waits in), so fn must not wait. */
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
    struct buf pending; /* bytes of the frame not yet complete (zero-initialise the struct) */
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
