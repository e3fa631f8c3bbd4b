/* test_text.c - shared word splitting, stop words and both stemmer flavours. The vectors were
 * produced by the knowledge base's and the offline model's stemmers before they were merged,
 * so these pin the merged stemmer to exactly their old output. */
#include <string.h>

#include "base/text.h"
#include "base/xmalloc.h"
#include "check.h"

static const struct {
    const char *word, *search, *model;
} vectors[] = {
    {"refunds", "refund", "refund"},
    {"refunded", "refund", "refund"},
    {"refunding", "refund", "refund"},
    {"invoices", "invoic", "invoic"},
    {"shipped", "ship", "ship"},
    {"shipping", "ship", "ship"},
    {"added", "add", "ad"},
    {"adding", "add", "ad"},
    {"staff", "staf", "staff"},
    {"bills", "bill", "bill"},
    {"policies", "policy", "policy"},
    {"carried", "carry", "carry"},
    {"agreed", "agreed", "agreed"},
    {"status", "status", "status"},
    {"analysis", "analysis", "analysis"},
    {"glass", "glass", "glass"},
    {"address", "address", "address"},
    {"cancelled", "cancell", "cancell"},
    {"running", "run", "run"},
    {"tries", "try", "try"},
    {"size", "size", "size"},
    {"sizes", "size", "size"},
    {"updated", "updat", "updat"},
    {"emails", "email", "email"},
    {"login", "login", "login"},
    {"boxes", "boxe", "boxe"},
    {"fizzing", "fizz", "fizz"},
    {"pass", "pass", "pass"},
    {"stopped", "stop", "stop"},
    {"ties", "tie", "tie"},
};

static void test_stem_vectors(void)
{
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
        char w[TEXT_WORD_MAX];
        strcpy(w, vectors[i].word);
        text_stem(w, TEXT_FOR_SEARCH);
        CHECK_STR(w, vectors[i].search);
        strcpy(w, vectors[i].word);
        text_stem(w, TEXT_FOR_MODEL);
        CHECK_STR(w, vectors[i].model);
    }
    char empty[1] = "";
    text_stem(empty, TEXT_FOR_SEARCH);
    CHECK_STR(empty, "");
    text_stem(empty, TEXT_FOR_MODEL);
    CHECK_STR(empty, "");
}

static void test_stop_words_per_flavour(void)
{
    CHECK(text_is_stop("the", TEXT_FOR_SEARCH));
    CHECK(text_is_stop("the", TEXT_FOR_MODEL));
    CHECK(text_is_stop("help", TEXT_FOR_SEARCH));  /* search only */
    CHECK(!text_is_stop("help", TEXT_FOR_MODEL));
    CHECK(text_is_stop("kindly", TEXT_FOR_MODEL)); /* model only */
    CHECK(!text_is_stop("kindly", TEXT_FOR_SEARCH));
    CHECK(!text_is_stop("refund", TEXT_FOR_SEARCH));
    CHECK(!text_is_stop("refund", TEXT_FOR_MODEL));
    CHECK(!text_is_stop("", TEXT_FOR_MODEL));
}

static void test_next_word(void)
{
    const char *p = "  Don't SHIP--it, 42x o'  ";
    char w[TEXT_WORD_MAX];
    CHECK_INT(text_next_word(&p, w), 4);
    CHECK_STR(w, "dont");
    CHECK_INT(text_next_word(&p, w), 4);
    CHECK_STR(w, "ship");
    CHECK_INT(text_next_word(&p, w), 2);
    CHECK_STR(w, "it");
    CHECK_INT(text_next_word(&p, w), 3);
    CHECK_STR(w, "42x");
    CHECK_INT(text_next_word(&p, w), 1); /* an apostrophe not followed by a letter ends it */
    CHECK_STR(w, "o");
    CHECK_INT(text_next_word(&p, w), 0);
    CHECK_STR(w, "");
    CHECK_INT(text_next_word(&p, w), 0);
}

static void test_next_word_cuts_long_words(void)
{
    char text[200];
    memset(text, 'a', 150);
    strcpy(text + 150, " b");
    const char *p = text;
    char w[TEXT_WORD_MAX];
    CHECK_INT(text_next_word(&p, w), TEXT_WORD_MAX - 1);
    CHECK_INT(strlen(w), TEXT_WORD_MAX - 1);
    CHECK_INT(text_next_word(&p, w), 1); /* the rest of the long word was skipped */
    CHECK_STR(w, "b");
}

/* Comma lists: items trimmed of spaces, empty ones skipped, the cursor left at the end. */
static void test_list_items(void)
{
    const char *cur = " a.example , ,b/24,  ,c ", *item;
    size_t len = 0;
    const char *want[] = {"a.example", "b/24", "c"};
    size_t n = 0;
    while ((item = text_list_next(&cur, &len)) != NULL) {
        CHECK(n < 3);
        if (n < 3) {
            CHECK_INT((long)len, (long)strlen(want[n]));
            CHECK(strncmp(item, want[n], len) == 0);
        }
        n++;
    }
    CHECK_INT((long)n, 3);
    CHECK_INT(*cur, '\0');
    cur = "";
    CHECK(text_list_next(&cur, &len) == NULL);
    cur = " , ,";
    CHECK(text_list_next(&cur, &len) == NULL);
}

int main(void)
{
    xmalloc_init();
    RUN(test_stem_vectors);
    RUN(test_stop_words_per_flavour);
    RUN(test_next_word);
    RUN(test_next_word_cuts_long_words);
    RUN(test_list_items);
    return check_summary();
}
