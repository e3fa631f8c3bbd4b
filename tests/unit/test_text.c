/* test_text.c - shared word splitting, stop words and the one stemmer. The vectors were produced
 * by the offline model's stemmer before it moved here (its trained weights depend on them), so
 * these pin the stemmer to exactly its old output. (The knowledge base's own variant, which also
 * undoubled "staff" -> "staf", went when kb moved to FTS5's porter tokenizer, issue 16.) */
#include <pthread.h>
#include <string.h>

#include "base/text.h"
#include "base/xmalloc.h"
#include "check.h"

static const struct {
    const char *word, *model;
} vectors[] = {
    {"refunds", "refund"},
    {"refunded", "refund"},
    {"refunding", "refund"},
    {"invoices", "invoic"},
    {"shipped", "ship"},
    {"shipping", "ship"},
    {"added", "ad"},
    {"adding", "ad"},
    {"staff", "staff"},
    {"bills", "bill"},
    {"policies", "policy"},
    {"carried", "carry"},
    {"agreed", "agreed"},
    {"status", "status"},
    {"analysis", "analysis"},
    {"glass", "glass"},
    {"address", "address"},
    {"cancelled", "cancell"},
    {"running", "run"},
    {"tries", "try"},
    {"size", "size"},
    {"sizes", "size"},
    {"updated", "updat"},
    {"emails", "email"},
    {"login", "login"},
    {"boxes", "boxe"},
    {"fizzing", "fizz"},
    {"pass", "pass"},
    {"stopped", "stop"},
    {"ties", "tie"},
};

static void test_stem_vectors(void)
{
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
        char w[TEXT_WORD_MAX];
        strcpy(w, vectors[i].word);
        text_stem(w);
        CHECK_STR(w, vectors[i].model);
    }
    char empty[1] = "";
    text_stem(empty);
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

/* Shared patterns: matches, captures, flags, a bad pattern's message. */
static void test_re_basics(void)
{
    char why[128] = "";
    CHECK(text_re_new("(unclosed", REG_EXTENDED, why, sizeof why) == NULL);
    CHECK(why[0] != '\0');
    struct text_re *re = text_re_new("tkt-([0-9]+)", REG_EXTENDED | REG_ICASE, NULL, 0);
    CHECK(re != NULL);
    regmatch_t m[2];
    CHECK_INT(text_re_exec(re, "see TKT-0042 please", 2, m, 0), 0);
    CHECK_INT((long)m[1].rm_so, 8);
    CHECK_INT((long)m[1].rm_eo, 12);
    CHECK_INT(text_re_exec(re, "no ticket here", 0, NULL, 0), REG_NOMATCH);
    text_re_free(re);
    text_re_free(NULL);
}

struct re_job {
    struct text_re *re; /* shared by every thread */
    int wrong;          /* answers that differ from the expected one */
};

static void *re_thread(void *arg)
{
    struct re_job *j = arg;
    for (int i = 0; i < 2000; i++) {
        int hit = text_re_exec(j->re, i % 2 ? "open a ticket" : "close the door", 0, NULL, 0) == 0;
        j->wrong += hit != (i % 2);
    }
    return NULL;
}

/* Many threads on one pattern at once (each on its own copy; ASan/TSan see any sharing). */
static void test_re_threads(void)
{
    struct text_re *re = text_re_new("(^|[^a-z])open (a|an) ticket", REG_EXTENDED | REG_NOSUB,
                                     NULL, 0);
    CHECK(re != NULL);
    pthread_t t[8];
    struct re_job j[8];
    for (int i = 0; i < 8; i++) {
        j[i] = (struct re_job){re, 0};
        pthread_create(&t[i], NULL, re_thread, &j[i]);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        CHECK_INT(j[i].wrong, 0);
    }
    text_re_free(re);
}

int main(void)
{
    xmalloc_init();
    RUN(test_stem_vectors);
    RUN(test_stop_words_per_flavour);
    RUN(test_next_word);
    RUN(test_next_word_cuts_long_words);
    RUN(test_list_items);
    RUN(test_re_basics);
    RUN(test_re_threads);
    return check_summary();
}
