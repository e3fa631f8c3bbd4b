/*
 * transcript.h - a session's transcript for people: GET /sessions/{id} and the archive.
 */
#ifndef PARLEY_TRANSCRIPT_H
#define PARLEY_TRANSCRIPT_H

#include <jansson.h>

#include "base/err.h"
#include "store/store.h"

/* Renders stored messages: {role, content (text), timestamp (ISO-8601)}; tool calls appear as
 * "toolUses" on assistant entries and tool results as role "tool" entries. New array. */
json_t *transcript_render(const json_t *messages);

/* {"sessionId","userId","status","createdAt","lastActivity","turns","messages"} (new ref), or
 * NULL with err (NotFound for an unknown session). */
json_t *transcript_document(struct store *store, const char *id, struct err *err);

#endif
