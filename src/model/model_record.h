/*
 * model_record.h - a decorator of the model port that records model traffic to a directory, or
 * answers every call from such a recording without touching the network (issue 12).
 *
 * Each request is normalised (object keys sorted, tool_use ids renumbered in order of
 * appearance, ISO-8601 timestamps in strings masked, credential-like keys removed) and keyed by the
 * SHA-256 of its compact JSON. A recording directory holds one file per request, `<key>.json` =
 * {"request": normalised request, "response": the provider's response}, and `index.txt`, one
 * readable line per recording (key, then the last customer text of the request). The port never
 * sees API keys, Authorization headers or SigV4 signatures (the providers add them below it); the
 * normalisation removes any key named like one anyway, so a recording is safe to commit.
 */
#ifndef PARLEY_MODEL_RECORD_H
#define PARLEY_MODEL_RECORD_H

#include <stddef.h>

#include <jansson.h>

#include "base/err.h"
#include "model/model.h"

#define MODEL_RECORD_SCAN_MAX 10000 /* recordings compared when looking for the closest one */

enum model_record_mode {
    MODEL_RECORD_SAVE,   /* pass every call through to the inner model and save the pair */
    MODEL_RECORD_REPLAY, /* answer from the directory; a miss fails the call, never goes live */
};

/* ---- Construction ---- */

/* Wraps inner (taken: freed with the decorator, even on failure). dir is created when recording
 * and must exist when replaying. Returns the decorator, or NULL with err "InvalidConfig". In
 * replay mode inner is never called. A replay miss fails the call with err "ModelError" whose
 * message names the request's key, the closest recording and where the two differ. */
struct model *model_record_new(struct model *inner, const char *dir, enum model_record_mode mode,
                               struct err *err);

/* The model m decorates when m is a record/replay decorator, else m itself: what provider-specific
 * calls (model_offline_train) must reach. */
struct model *model_record_inner(struct model *m);

/* ---- Replay misses ---- */

/* Copies the message of the last replay miss on the calling thread into out[cap] and forgets
 * it. Returns 1 when there was one, 0 otherwise. A turn's workflow may turn a failed model call
 * into an apology, so `parley test` asks after each turn whether a miss happened under it. */
int model_record_take_miss(char *out, size_t cap);

/* ---- Helpers (exposed for tests) ---- */

/* The normalised form of a request (new reference). */
json_t *model_record_normalise(const json_t *request);

/* Writes the 64-hex-digit key of a request into out[65]. */
void model_record_key(const json_t *request, char out[65]);

#endif
