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

/* An object of n members (keys[i], vals[i]): each value a new reference taken over, the keys
 * literals. NULL when a value is NULL (the others released), as json_pack gives for a missing
 * "O": an entry without one of its members is left out of the transcript. Built member by member:
 * json_pack parses its format and checks every key and string again, for each message of each
 * archived session. */
static json_t *entry_new(size_t n, const char *const keys[], json_t *vals[])
{
    json_t *o = NULL;
    for (size_t i = 0; i < n; i++)
        if (!vals[i])
            goto out;
    o = json_object();
    for (size_t i = 0; i < n; i++) {
        json_object_set_new_nocheck(o, keys[i], vals[i]);
        vals[i] = NULL;
    }
out:
    for (size_t i = 0; i < n; i++)
        json_decref(vals[i]);
    return o;
}

/* A new reference to v, or NULL. */
static json_t *ref(json_t *v)
{
    return v ? json_incref(v) : NULL;
}

/* A string member's value: s (valid UTF-8: a stored string, or ASCII) or NULL. */
static json_t *str(const char *s)
{
    return s ? json_string_nocheck(s) : NULL;
}

/* Renders stored messages as the transcript: role, content (text), timestamp (ISO-8601), with tool
 * calls and results shown as their own entries. */
json_t *transcript_render(const json_t *messages)
{
    static const char *const plain_keys[] = {"role", "content", "timestamp"};
    static const char *const use_keys[] = {"id", "tool", "input"};
    static const char *const result_keys[] = {"role", "content", "timestamp", "toolUseId",
                                              "isError"};
    json_t *out = json_array();
    size_t i;
    json_t *m;
    json_array_foreach(messages, i, m) {
        const char *role = json_string_value(json_object_get(m, "role"));
        json_t *content = json_object_get(m, "content");
        char ts[40];
        clock_iso8601(json_integer_value(json_object_get(m, "timestamp")), ts, sizeof ts);
        if (json_is_string(content)) {
            json_t *entry = entry_new(3, plain_keys,
                                      (json_t *[]){str(role), ref(content), str(ts)});
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
                                      entry_new(3, use_keys,
                                                (json_t *[]){ref(json_object_get(b, "id")),
                                                             ref(json_object_get(b, "name")),
                                                             ref(json_object_get(b, "input"))}));
            } else if (type && strcmp(type, "tool_result") == 0) {
                json_t *vals[] = {json_string_nocheck("tool"), ref(json_object_get(b, "content")),
                                  str(ts), ref(json_object_get(b, "tool_use_id")),
                                  json_boolean(json_is_true(json_object_get(b, "is_error")))};
                json_array_append_new(out, entry_new(5, result_keys, vals));
            }
        }
        if (text.len || json_array_size(tool_uses)) {
            json_t *entry = entry_new(3, plain_keys,
                                      (json_t *[]){str(role), str(buf_str(&text)), str(ts)});
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
