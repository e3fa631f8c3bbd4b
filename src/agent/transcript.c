/*
 * transcript.c - the customer-facing transcript of a session, as GET /sessions/{id} shows it and
 * as the archive stores it.
 */
#include "agent/transcript.h"

#include <string.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/xmalloc.h"

/* The most bytes of text one transcript entry gathers from its blocks; a stored message is far
 * smaller (the store caps a turn's input and the model's output). */
#define TRANSCRIPT_TEXT_MAX (64u * 1024 * 1024)

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
            json_t *entry = json_pack("{s:s, s:O, s:s}", "role", role, "content", content,
                                      "timestamp", ts);
            if (json_is_string(json_object_get(m, "name"))) /* an operator's name */
                json_object_set(entry, "name", json_object_get(m, "name"));
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
                (void)buf_printf(&text, "%s%s", buf_str(&text)[0] ? "\n\n" : "",
                                 json_string_value(json_object_get(b, "text")));
            } else if (type && strcmp(type, "tool_use") == 0) {
                json_array_append_new(tool_uses,
                                      json_pack("{s:O, s:O, s:O}", "id", json_object_get(b, "id"),
                                                "tool", json_object_get(b, "name"), "input",
                                                json_object_get(b, "input")));
            } else if (type && strcmp(type, "tool_result") == 0) {
                json_array_append_new(out, json_pack("{s:s, s:O, s:s, s:O, s:b}", "role", "tool",
                                                     "content", json_object_get(b, "content"),
                                                     "timestamp", ts, "toolUseId",
                                                     json_object_get(b, "tool_use_id"), "isError",
                                                     json_is_true(json_object_get(b, "is_error"))));
            }
        }
        if (buf_str(&text)[0] || json_array_size(tool_uses)) {
            json_t *entry = json_pack("{s:s, s:s, s:s}", "role", role, "content", buf_str(&text),
                                      "timestamp", ts);
            if (json_array_size(tool_uses))
                json_object_set(entry, "toolUses", tool_uses);
            json_array_append_new(out, entry);
        }
        json_decref(tool_uses);
        buf_release(&text);
    }
    return out;
}

json_t *transcript_document(struct store *store, const char *id, struct err *err)
{
    json_t *session = NULL, *messages = NULL;
    if (store_has_session_transcript(store)) { /* one read: the header matches the messages */
        if (store_session_transcript(store, id, &session, &messages, err) < 0)
            return NULL;
    } else {
        if (store_session_get(store, id, &session, err) < 0)
            return NULL;
        if (store_transcript(store, id, &messages, err) < 0) {
            json_decref(session);
            return NULL;
        }
    }
    char created[40], last[40];
    clock_iso8601(json_integer_value(json_object_get(session, "createdAt")), created,
                  sizeof created);
    clock_iso8601(json_integer_value(json_object_get(session, "lastActivity")), last, sizeof last);
    json_t *doc = json_pack("{s:O, s:O, s:O, s:s, s:s, s:O, s:o}", "sessionId",
                            json_object_get(session, "sessionId"), "userId",
                            json_object_get(session, "userId"), "status",
                            json_object_get(session, "status"), "createdAt", created,
                            "lastActivity", last, "turns", json_object_get(session, "turns"),
                            "messages", transcript_render(messages));
    json_decref(session);
    json_decref(messages);
    return doc;
}
