/* test_transcript.c - the customer-facing transcript of stored messages (agent/transcript.h):
 * plain messages with an operator's name, text blocks joined, tool calls gathered on their
 * message, tool results as entries of their own, ISO-8601 timestamps, and an entry left out when a
 * member it needs is missing. */
#include "agent/transcript.h"

#include <stdlib.h>
#include <string.h>

#include "base/jsontext.h"
#include "check.h"

/* The render of the messages in text (JSON) as compact text. */
static char *render(const char *text)
{
    json_error_t e;
    json_t *messages = json_loads(text, 0, &e);
    if (!messages)
        return NULL;
    json_t *out = transcript_render(messages);
    char *s = jsontext_dump(out);
    json_decref(out);
    json_decref(messages);
    return s;
}

static void test_render(void)
{
    char *s = render(
        "["
        "{\"role\":\"user\",\"content\":\"Where is my order?\",\"timestamp\":1764041400123},"
        "{\"role\":\"assistant\",\"timestamp\":1764041400200,\"content\":["
        "{\"type\":\"text\",\"text\":\"Let me look.\"},"
        "{\"type\":\"tool_use\",\"id\":\"tu1\",\"name\":\"lookup_order\","
        "\"input\":{\"orderId\":\"A-1\"}},"
        "{\"type\":\"text\",\"text\":\"One moment.\"}]},"
        "{\"role\":\"user\",\"timestamp\":1764041400300,\"content\":["
        "{\"type\":\"tool_result\",\"tool_use_id\":\"tu1\",\"content\":\"shipped\"},"
        "{\"type\":\"tool_result\",\"tool_use_id\":\"tu2\",\"content\":\"no such order\","
        "\"is_error\":true}]},"
        "{\"role\":\"operator\",\"name\":\"Sam\",\"content\":\"I'm here.\","
        "\"timestamp\":0}"
        "]");
    CHECK_STR(s ? s : "",
              "["
              "{\"role\":\"user\",\"content\":\"Where is my order?\","
              "\"timestamp\":\"2025-11-25T03:30:00.123Z\"},"
              "{\"role\":\"assistant\",\"content\":\"Let me look.\\n\\nOne moment.\","
              "\"timestamp\":\"2025-11-25T03:30:00.200Z\",\"toolUses\":[{\"id\":\"tu1\","
              "\"tool\":\"lookup_order\",\"input\":{\"orderId\":\"A-1\"}}]},"
              "{\"role\":\"tool\",\"content\":\"shipped\",\"timestamp\":\"2025-11-25T03:30:00.300Z\","
              "\"toolUseId\":\"tu1\",\"isError\":false},"
              "{\"role\":\"tool\",\"content\":\"no such order\","
              "\"timestamp\":\"2025-11-25T03:30:00.300Z\",\"toolUseId\":\"tu2\",\"isError\":true},"
              "{\"role\":\"operator\",\"content\":\"I'm here.\","
              "\"timestamp\":\"1970-01-01T00:00:00.000Z\",\"name\":\"Sam\"}"
              "]");
    free(s);
}

/* A message or block without a member its entry needs is left out; the rest stays. */
static void test_missing_members(void)
{
    char *s = render(
        "["
        "{\"content\":\"no role\",\"timestamp\":1},"
        "{\"role\":\"assistant\",\"timestamp\":2,\"content\":["
        "{\"type\":\"tool_use\",\"name\":\"no_id\",\"input\":{}},"
        "{\"type\":\"tool_use\",\"id\":\"t2\",\"name\":\"ok\",\"input\":{}}]},"
        "{\"role\":\"user\",\"timestamp\":3,\"content\":["
        "{\"type\":\"tool_result\",\"content\":\"no id\"},"
        "{\"type\":\"image\"},"
        "{\"type\":\"text\",\"text\":\"\"}]}"
        "]");
    CHECK_STR(s ? s : "",
              "[{\"role\":\"assistant\",\"content\":\"\",\"timestamp\":\"1970-01-01T00:00:00.002Z\","
              "\"toolUses\":[{\"id\":\"t2\",\"tool\":\"ok\",\"input\":{}}]}]");
    free(s);
}

int main(void)
{
    RUN(test_render);
    RUN(test_missing_members);
    return check_summary();
}
