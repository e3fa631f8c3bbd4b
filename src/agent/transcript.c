/*
 * transcript.c - the customer-facing transcript of a session, as GET /sessions/{id} shows it and
 * as the archive stores it.
 */
#include "agent/transcript.h"

#include <string.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/jsonb.h"
#include "base/xmalloc.h"

/* The most bytes of text one transcript entry gathers from its blocks; a stored message is far
 * smaller (the store caps a turn's input and the model's output). */
#define TRANSCRIPT_TEXT_MAX (64u * 1024 * 1024)

/* A string member's value: s (valid UTF-8: a stored string, or ASCII) or NULL. */
static json_t *str(const char *s)
{
    return s ? json_string_nocheck(s) : NULL;
}

/* v for the transcript (a new reference): a container copied, so that the transcript's containers
 * are its own and a caller may redact it in place (the archive does) without touching the
 * messages, which the history cache and running turns share; a string shared (redaction replaces
 * a string in its container, never changes it). */
static json_t *own(const json_t *v)
{
    return json_is_object(v) || json_is_array(v) ? json_deep_copy(v) : jsonb_ref(v);
}

/* Renders stored messages as the transcript: role, content (text), timestamp (ISO-8601), with tool
 * calls and results shown as their own entries. */
json_t *transcript_render(const json_t *messages)
{
    json_t *out = json_array();
    size_t i;
    json_t *m;
    json_array_foreach(messages, i, m) {
        const char *role = json_string_value(json_object_get(m, "role"));
        json_t *content = json_object_get(m, "content");
        char ts[40];
        clock_iso8601(json_integer_value(json_object_get(m, "timestamp")), ts, sizeof ts);
        if (json_is_string(content)) {
            json_t *entry = jsonb_object("role", str(role), "content", jsonb_ref(content),
                                         "timestamp", str(ts), NULL);
            if (entry && json_is_string(json_object_get(m, "name"))) /* an operator's name */
                json_object_set_nocheck(entry, "name", json_object_get(m, "name"));
            json_array_append_new(out, entry);
            continue;
        }
        struct buf text;
        buf_init(&text, TRANSCRIPT_TEXT_MAX);
        json_t *tool_uses = json_array();
        size_t k;
        json_t *b;
        json_array_foreach(content, k, b) {
            const char *type = json_string_value(json_object_get(b, "type"));
            if (type && strcmp(type, "text") == 0) {
                const char *t = json_string_value(json_object_get(b, "text"));
                if (text.len)
                    (void)buf_add(&text, "\n\n", 2);
                (void)buf_add_str(&text, t ? t : "(null)");
            } else if (type && strcmp(type, "tool_use") == 0) {
                json_array_append_new(tool_uses,
                                      jsonb_object("id", jsonb_ref(json_object_get(b, "id")),
                                                   "tool", jsonb_ref(json_object_get(b, "name")),
                                                   "input", own(json_object_get(b, "input")),
                                                   NULL));
            } else if (type && strcmp(type, "tool_result") == 0) {
                json_array_append_new(
                    out,
                    jsonb_object("role", json_string_nocheck("tool"), "content",
                                 own(json_object_get(b, "content")), "timestamp", str(ts),
                                 "toolUseId", jsonb_ref(json_object_get(b, "tool_use_id")),
                                 "isError",
                                 json_boolean(json_is_true(json_object_get(b, "is_error"))), NULL));
            }
        }
        if (text.len || json_array_size(tool_uses)) {
            json_t *entry = jsonb_object("role", str(role), "content", str(buf_str(&text)),
                                         "timestamp", str(ts), NULL);
            if (entry && json_array_size(tool_uses))
                json_object_set_nocheck(entry, "toolUses", tool_uses);
            json_array_append_new(out, entry);
        }
        json_decref(tool_uses);
        buf_release(&text);
    }
    return out;
}

json_t *transcript_document(struct store *store, const char *id, struct err *err)
{
    return transcript_document_cached(store, NULL, id, err);
}

json_t *transcript_document_cached(struct store *store, struct history_cache *cache, const char *id,
                                   struct err *err)
{
    json_t *session = NULL, *messages = NULL;
    /* one read (the header matches the messages), unless the cache holds the session's turns */
    if (!history_cache_holds(cache, id) && store_has_session_transcript(store)) {
        if (store_session_transcript(store, id, &session, &messages, err) < 0)
            return NULL;
    } else {
        if (store_session_get(store, id, &session, err) < 0)
            return NULL;
        if (history_transcript(cache, store, id, &messages, err) < 0) {
            json_decref(session);
            return NULL;
        }
    }
    char created[40], last[40];
    clock_iso8601(json_integer_value(json_object_get(session, "createdAt")), created,
                  sizeof created);
    clock_iso8601(json_integer_value(json_object_get(session, "lastActivity")), last, sizeof last);
    json_t *doc = jsonb_object("sessionId", jsonb_ref(json_object_get(session, "sessionId")),
                               "userId", jsonb_ref(json_object_get(session, "userId")), "status",
                               jsonb_ref(json_object_get(session, "status")), "createdAt",
                               json_string_nocheck(created), "lastActivity",
                               json_string_nocheck(last), "turns",
                               jsonb_ref(json_object_get(session, "turns")), "messages",
                               transcript_render(messages), NULL);
    json_decref(session);
    json_decref(messages);
    return doc;
}
