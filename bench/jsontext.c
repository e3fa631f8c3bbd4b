/*
 * jsontext.c - JSON text speed: base/jsontext's compact dump against jansson's json_dumps
 * (JSON_COMPACT) of the same document in the same run, and the size walk the ASL engine runs on
 * every state's output. The document is a 20-turn conversation window as a continuing-session
 * turn loads it: each turn a knowledge-base question, the search call, its result (JSON text in
 * a string, so full of escaped quotes) and the answer, ~55 KB. Prints one line per measurement
 * (`name ops/s MB/s`) and the ratio. Built with `make build/bench/jsontext` (bench/README.md);
 * not part of make bench or test.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "base/jsontext.h"

/* One stored turn (the messages a knowledge-base question leaves in the conversation). */
static const char turn_text[] =
    "[{\"role\":\"user\",\"content\":\"What is your refund policy?\",\"timestamp\":1796602498"
    "426},{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\",\"id\":\"toolu_offline_"
    "23ca59d52bc96212\",\"name\":\"search_knowledge_base\",\"input\":{\"query\":\"What is you"
    "r refund policy?\"}}],\"timestamp\":1796602498426},{\"role\":\"user\",\"content\":[{\"ty"
    "pe\":\"tool_result\",\"tool_use_id\":\"toolu_offline_23ca59d52bc96212\",\"content\":\"{\\\""
    "results\\\":[{\\\"article\\\":\\\"refunds.md\\\",\\\"title\\\":\\\"Refunds\\\",\\\"secti"
    "on\\\":\\\"Refund policy\\\",\\\"passage\\\":\\\"You can get a full refund for any item "
    "returned unused in its original packaging within 30 days of delivery. Faulty or damaged "
    "items are refunded in full, including the original shipping cost, at any time within the"
    " one-year warranty. Gift cards and personalised items cannot be refunded.\\\",\\\"snippe"
    "t\\\":\\\"You can get a full **refund** for any item returned unused in its original pac"
    "kaging within 30 days of delivery. Faulty or damaged items...\\\",\\\"score\\\":12.88519"
    "9999999999},{\\\"article\\\":\\\"refunds.md\\\",\\\"title\\\":\\\"Refunds\\\",\\\"sectio"
    "n\\\":\\\"How long refunds take\\\",\\\"passage\\\":\\\"Refunds go back to the original "
    "payment method. Card refunds take five to ten business days to appear, depending on your"
    " bank; PayPal refunds usually appear within two days. If your refund has not arrived ten"
    " business days after our confirmation email, open a support ticket with your order numbe"
    "r.\\\",\\\"snippet\\\":\\\"...Card **refunds** take five to ten business days to appear,"
    " depending on your bank; PayPal **refunds** usually appear within two days. If your **re"
    "fund**...\\\",\\\"score\\\":3.8540999999999999},{\\\"article\\\":\\\"refunds.md\\\",\\\""
    "title\\\":\\\"Refunds\\\",\\\"section\\\":\\\"How to request a refund\\\",\\\"passage\\\""
    ":\\\"Start a return from Account, then Orders, and choose \\\\\\\"Return or refund\\\\\\\""
    " next to the item. Once we receive the item and check it, usually within three business "
    "days, we issue the refund and send you an email. For a faulty item you can ask for a ref"
    "und without returning it if it costs less than 20 euros.\\\",\\\"snippet\\\":\\\"Start a"
    " return from Account, then Orders, and choose \\\\\\\"Return or **refund**\\\\\\\" next "
    "to the item. Once we receive the item and check it...\\\",\\\"score\\\":3.66789999999999"
    "99}]}\",\"is_error\":false}],\"timestamp\":1796602498427},{\"role\":\"assistant\",\"cont"
    "ent\":[{\"type\":\"text\",\"text\":\"From our help article \\\"Refunds\\\":\\n\\nYou can"
    " get a full refund for any item returned unused in its original packaging within 30 days"
    " of delivery. Faulty or damaged items are refunded in full, including the original shipp"
    "ing cost, at any time within the one-year warranty. Gift cards and personalised items ca"
    "nnot be refunded.\\n\\n(Source: refunds.md) If that doesn't solve it, tell me and I can "
    "open a support ticket for you.\"}],\"timestamp\":1796602498427}]";

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs dump on doc for about a second; prints and returns dumps per second. */
static double measure(const char *name, char *(*dump)(const json_t *), const json_t *doc,
                      size_t len)
{
    long n = 0;
    double t0 = now_s(), t;
    do {
        for (int i = 0; i < 100; i++) {
            char *s = dump(doc);
            if (!s || strlen(s) != len)
                abort();
            free(s);
        }
        n += 100;
    } while ((t = now_s() - t0) < 1.0);
    printf("%s %.0f %.1f\n", name, (double)n / t, (double)n * (double)len / t / 1e6);
    return (double)n / t;
}

static char *jansson_dump(const json_t *v)
{
    return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

int main(void)
{
    json_error_t jerr;
    json_t *turn = json_loads(turn_text, 0, &jerr);
    if (!json_is_array(turn)) {
        fprintf(stderr, "jsontext bench: bad turn text: %s\n", jerr.text);
        return 1;
    }
    json_t *doc = json_array();
    for (int i = 0; i < 20; i++)
        json_array_extend(doc, turn);
    char *ref = jansson_dump(doc);
    size_t len = strlen(ref);
    char *ours = jsontext_dump(doc);
    if (!ours || strcmp(ours, ref) != 0) {
        fprintf(stderr, "jsontext bench: the two texts differ\n");
        return 1;
    }
    printf("# document: %zu bytes\n", len);
    double theirs = measure("json_dumps", jansson_dump, doc, len);
    double mine = measure("jsontext_dump", jsontext_dump, doc, len);
    printf("jsontext_dump / json_dumps: %.2f\n", mine / theirs);
    /* The size walk over the window's longest string (a tool result). */
    const char *big = json_string_value(
        json_object_get(json_array_get(json_object_get(json_array_get(turn, 2), "content"), 0),
                        "content"));
    size_t blen = strlen(big), acc = 0;
    long n = 0;
    double t0 = now_s(), t;
    do {
        for (int i = 0; i < 10000; i++)
            acc += jsontext_string_size(big, blen - (size_t)(i & 1));
        n += 10000;
    } while ((t = now_s() - t0) < 1.0);
    printf("jsontext_string_size %.0f %.1f (%zu-byte string, %zu)\n", (double)n / t,
           (double)n * (double)blen / t / 1e6, blen, acc % 10);
    free(ours);
    free(ref);
    json_decref(doc);
    json_decref(turn);
    return 0;
}
