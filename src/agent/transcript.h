/*
 * transcript.h - a session's transcript for people: GET /sessions/{id} and the archive.
 */
#ifndef PARLEY_TRANSCRIPT_H
#define PARLEY_TRANSCRIPT_H

#include <jansson.h>

#include "agent/history.h"
#include "base/err.h"
#include "store/store.h"

/* Renders stored messages: {role, content (text), timestamp (ISO-8601)}; tool calls appear as
 * "toolUses" on assistant entries and tool results as role "tool" entries. New array whose
 * containers are all its own (its strings may be the messages'): it may be redacted in place
 * (guard_redact_json replaces strings, never changes one) while others read the messages. */
json_t *transcript_render(const json_t *messages);

/* {"sessionId","userId","status","createdAt","lastActivity","turns","messages"} (new ref), or
 * NULL with err (NotFound for an unknown session). */
json_t *transcript_document(struct store *store, const char *id, struct err *err);

/* transcript_document with the messages the history cache holds taken as held rather than parsed
 * again (history_transcript) when it holds the session; else (or with a NULL cache) just
 * transcript_document. The header and the messages are then two reads: call it inside
 * store_reads_begin/end (one snapshot), as the archiver's pass does. */
json_t *transcript_document_cached(struct store *store, struct history_cache *cache, const char *id,
                                   struct err *err);

#endif
