/*
 * test_kb.c - the knowledge base: the shipped kb/ articles rank the right article first for
 * typical questions, scores are ordered, Markdown is split into titled passages, errors are clear,
 * and concurrent searches agree.
 */
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/kb.h"
#include "base/fault.h"
#include "check.h"

static struct kb *kb;

static void expect_first(const char *query, const char *article)
{
    struct kb_hit hits[5];
    struct err err = {{0}, {0}};
    int n = kb_search(kb, query, 5, hits, &err);
    CHECK(n > 0);
    if (n <= 0)
        return;
    if (strcmp(hits[0].article, article) != 0)
        fprintf(stderr, "  '%s' -> %s (%.3f), wanted %s\n", query, hits[0].article, hits[0].score,
                article);
    CHECK_STR(hits[0].article, article);
    for (int i = 1; i < n; i++)
        CHECK(hits[i].score <= hits[i - 1].score);
    for (int i = 0; i < n; i++)
        CHECK(hits[i].score > 0);
}

static void test_shipped_articles(void)
{
    CHECK(kb_article_count(kb) >= 10);
    CHECK(kb_passage_count(kb) > kb_article_count(kb));
    expect_first("how do I reset my password", "password-reset.md");
    expect_first("the password reset email never arrived", "password-reset.md");
    expect_first("refund policy", "refunds.md");
    expect_first("how long until my refund shows up on my card", "refunds.md");
    expect_first("how long does shipping take", "shipping-and-tracking.md");
    expect_first("do you ship internationally", "shipping-and-tracking.md");
    expect_first("exchange for a different size", "returns-and-exchanges.md");
    expect_first("cancel my subscription", "cancel-subscription.md");
    expect_first("lost my phone two-factor backup codes", "two-factor-authentication.md");
    expect_first("where can I download my invoice", "billing-and-invoices.md");
    expect_first("I was charged twice", "billing-and-invoices.md");
    expect_first("change my email address", "change-email-and-profile.md");
    expect_first("delete my account and personal data", "privacy-and-data-deletion.md");
    expect_first("what are your opening hours", "contact-and-hours.md");
    expect_first("my account is locked after failed attempts", "account-access.md");
    expect_first("I can't log in", "account-access.md");
    expect_first("my card was declined", "update-payment-method.md");
}

static void expect_section(const char *query, const char *article, const char *section)
{
    struct kb_hit hits[3];
    struct err err = {{0}, {0}};
    int n = kb_search(kb, query, 3, hits, &err);
    CHECK(n > 0);
    if (n <= 0)
        return;
    if (strcmp(hits[0].article, article) != 0 || strcmp(hits[0].section, section) != 0)
        fprintf(stderr, "  '%s' -> %s # %s, wanted %s # %s\n", query, hits[0].article,
                hits[0].section, article, section);
    CHECK_STR(hits[0].article, article);
    CHECK_STR(hits[0].section, section);
}

/* The re-ranking: the article whose title names the subject wins over a passage about it
 * elsewhere, and how-questions get the section that describes the procedure. */
static void test_rerank(void)
{
    expect_first("I want a refund", "refunds.md");
    expect_section("How do I get a refund?", "refunds.md", "How to request a refund");
    expect_section("How do I return an item?", "returns-and-exchanges.md", "How to return an item");
    expect_section("How do I set up two-factor authentication?", "two-factor-authentication.md",
                   "Turning on two-factor authentication");
    expect_section("How do I update my credit card?", "update-payment-method.md",
                   "Changing or adding a card");
    /* from the scenario review: questions that landed on a neighbouring section */
    expect_section("my 2fa codes don't work and I can't get into my account",
                   "two-factor-authentication.md", "The verification code is not accepted");
    expect_section("How do I track my parcel?", "shipping-and-tracking.md", "Tracking your order");
    /* tests/conversations/23-kb-password-reset.json's second turn */
    expect_section("I never received the password reset email", "password-reset.md",
                   "The reset email did not arrive");
    expect_section("I forgot which email address my account uses", "account-access.md",
                   "Forgot which email address you used");
}

/* Retrieval accuracy on questions the tests above do not tune for: customer paraphrases, each
 * with the article (and, where one section clearly answers it, the section) a support agent would
 * open. The count is printed so a ranking change can be measured against it (issue 16: the FTS5
 * index kept or improved it); it must not fall below what the index scored when it was written. */
struct labelled {
    const char *query, *article, *section; /* section NULL: any section of the article */
};

static const struct labelled accuracy_set[] = {
    {"my password reset link does not work anymore", "password-reset.md",
     "The reset link has expired"},
    {"I never got the email to reset my password", "password-reset.md",
     "The reset email did not arrive"},
    {"what makes a strong password", "password-reset.md", "Choosing a good password"},
    {"when will I get my money back", "refunds.md", NULL},
    {"can I get a refund if I cancel", "cancel-subscription.md", "Refunds when you cancel"},
    {"can I pause my subscription instead", "cancel-subscription.md",
     "Pausing instead of cancelling"},
    {"how much does delivery cost", "shipping-and-tracking.md", NULL},
    {"my parcel is late", "shipping-and-tracking.md", "Late or missing parcels"},
    {"which items can't be returned", "returns-and-exchanges.md",
     "Items that cannot be returned"},
    {"swap shoes for another colour", "returns-and-exchanges.md", NULL},
    {"do you accept PayPal", "billing-and-invoices.md", "Accepted payment methods"},
    {"there is a charge on my statement I don't recognise", "billing-and-invoices.md", NULL},
    {"when am I billed", "billing-and-invoices.md", "When you are charged"},
    {"update my phone number", "change-email-and-profile.md", NULL},
    {"what is your postal address", "contact-and-hours.md", "Postal address"},
    {"can I call you on the phone", "contact-and-hours.md", NULL},
    {"what does order status processing mean", "orders.md", NULL},
    {"can I change my order after placing it", "orders.md", "Changing or cancelling an order"},
    {"send me a copy of my personal data", "privacy-and-data-deletion.md", NULL},
    {"what information do you store about me", "privacy-and-data-deletion.md", NULL},
    {"I got a new phone and need my authenticator", "two-factor-authentication.md",
     "Lost phone or new phone"},
    {"the 2FA code is rejected", "two-factor-authentication.md",
     "The verification code is not accepted"},
    {"too many wrong passwords and now I am locked out", "account-access.md", NULL},
    {"the payment failed", "update-payment-method.md", NULL},
    {"add a new credit card", "update-payment-method.md", NULL},
    {"close my account for good", NULL, NULL}, /* two articles answer this: any hit counts */
};

/* 20/26 with the hand-written BM25 and with the FTS5 index (issue 16). Each re-ranking earns its
 * place: without the title boost the FTS5 index scores 19/26, without the procedure boost or the
 * heading-pair boost a test_rerank case fails. */
#define ACCURACY_FLOOR 20

static void test_accuracy(void)
{
    size_t good = 0, total = sizeof accuracy_set / sizeof accuracy_set[0];
    for (size_t i = 0; i < total; i++) {
        const struct labelled *l = &accuracy_set[i];
        struct kb_hit hits[1];
        int n = kb_search(kb, l->query, 1, hits, NULL);
        int ok = n == 1 && (!l->article || strcmp(hits[0].article, l->article) == 0) &&
                 (!l->section || strcmp(hits[0].section, l->section) == 0);
        if (!ok)
            fprintf(stderr, "  miss: '%s' -> %s # %s\n", l->query, n == 1 ? hits[0].article : "-",
                    n == 1 ? hits[0].section : "-");
        good += ok;
    }
    printf("# kb accuracy %zu/%zu\n", good, total);
    CHECK(good >= ACCURACY_FLOOR);
}

/* A wrapped line that starts with a digit reads as a numbered-list item to the passage splitter,
 * which keeps its line break ("from 10:00 to\n16:00"): the shipped articles wrap so that only real
 * list items ("1. ...") start a line with a digit inside a paragraph. */
static void test_wrapping(void)
{
    struct kb_hit hits[1];
    struct err err = {{0}, {0}};
    CHECK(kb_search(kb, "what are your opening hours", 1, hits, &err) == 1);
    CHECK(strstr(hits[0].passage, "Saturday from 10:00 to 16:00") != NULL);

    const char *src = getenv("PARLEY_SRC");
    static const char *const names[] = {
        "account-access.md", "billing-and-invoices.md", "cancel-subscription.md",
        "change-email-and-profile.md", "contact-and-hours.md", "orders.md", "password-reset.md",
        "privacy-and-data-deletion.md", "refunds.md", "returns-and-exchanges.md",
        "shipping-and-tracking.md", "two-factor-authentication.md", "update-payment-method.md"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char path[4096], line[1024];
        snprintf(path, sizeof path, "%s/kb/%s", src ? src : ".", names[i]);
        FILE *f = fopen(path, "r");
        CHECK(f != NULL);
        if (!f)
            continue;
        int prev_text = 0, lineno = 0;
        while (fgets(line, sizeof line, f)) {
            lineno++;
            const char *t = line + strspn(line, " \t");
            size_t d = strspn(t, "0123456789");
            int list_item = d > 0 && (t[d] == '.' || t[d] == ')') && t[d + 1] == ' ';
            if (prev_text && d > 0 && !list_item) {
                fprintf(stderr, "  %s:%d starts a wrapped line with a digit\n", names[i], lineno);
                CHECK(0);
            }
            prev_text = t[0] != '\n' && t[0] != '\0' && t[0] != '#';
        }
        fclose(f);
    }
}

static void test_hit_fields(void)
{
    struct kb_hit hits[3];
    struct err err = {{0}, {0}};
    int n = kb_search(kb, "reset link expired", 3, hits, &err);
    CHECK(n >= 1);
    if (n < 1)
        return;
    CHECK_STR(hits[0].title, "Resetting your password");
    CHECK_STR(hits[0].section, "The reset link has expired");
    CHECK(strstr(hits[0].passage, "60 minutes") != NULL);

    /* the paragraph under the matching heading beats the article's introduction */
    n = kb_search(kb, "how do I reset my password", 3, hits, &err);
    CHECK(n >= 1);
    if (n >= 1)
        CHECK_STR(hits[0].section, "How to reset your password");

    json_t *j = kb_search_json(kb, "refund policy", 2, &err);
    CHECK(j != NULL);
    json_t *results = json_object_get(j, "results");
    CHECK(json_is_array(results) && json_array_size(results) == 2);
    json_t *first = json_array_get(results, 0);
    CHECK_STR(json_string_value(json_object_get(first, "article")), "refunds.md");
    CHECK_STR(json_string_value(json_object_get(first, "title")), "Refunds");
    CHECK(json_string_value(json_object_get(first, "passage")) != NULL);
    CHECK(json_real_value(json_object_get(first, "score")) > 0);
    json_decref(j);
}

static void test_no_match_and_errors(void)
{
    struct kb_hit hits[3];
    struct err err = {{0}, {0}};
    CHECK_INT(kb_search(kb, "zzyzx qwxv", 3, hits, &err), 0);
    CHECK_INT(kb_search(kb, "the of and", 3, hits, &err), 0);
    CHECK_INT(kb_search(kb, "", 3, hits, &err), -1);
    CHECK_STR(err.code, "InvalidQuery");
    CHECK_STR(err.message, "query is empty");
    CHECK_INT(kb_search(kb, "  \t\n ", 3, hits, &err), -1);
    CHECK_STR(err.code, "InvalidQuery");
    CHECK_INT(kb_search(kb, NULL, 3, hits, &err), -1);
    CHECK_INT(kb_search(kb, "refund", 0, hits, &err), -1);
    CHECK_INT(kb_search(kb, "refund", KB_MAX_RESULTS + 1, hits, &err), -1);
    char *big = malloc(KB_MAX_QUERY + 2);
    memset(big, 'a', KB_MAX_QUERY + 1);
    big[KB_MAX_QUERY + 1] = '\0';
    CHECK_INT(kb_search(kb, big, 3, hits, &err), -1);
    CHECK(strstr(err.message, "longer than") != NULL);
    free(big);
    CHECK(kb_search_json(kb, "", 3, &err) == NULL);

    struct kb *none = kb_load("/nonexistent/parley-kb", &err);
    CHECK(none == NULL);
    CHECK_STR(err.code, "KbLoadFailed");
    CHECK(strstr(err.message, "/nonexistent/parley-kb") != NULL);
    kb_free(NULL);
}

static char tmpdir[64];

static void write_file(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        return;
    fputs(text, f);
    fclose(f);
}

static void test_parsing(void)
{
    struct err err = {{0}, {0}};
    snprintf(tmpdir, sizeof tmpdir, "/tmp/parley-kb-XXXXXX");
    CHECK(mkdtemp(tmpdir) != NULL);

    /* an empty directory is an error */
    struct kb *k = kb_load(tmpdir, &err);
    CHECK(k == NULL);
    CHECK_STR(err.code, "KbEmpty");

    write_file("a.md", "# Alpha article\n\nIntro paragraph about gardening tools and rakes, long "
                       "enough to stand on its own as a passage.\n\n## Watering\n\nShort.\n\n"
                       "Water the plants every morning; tomatoes need deep watering twice a "
                       "week in summer.\n\n```\n# not a heading\n```\n");
    write_file("notes.txt", "# Ignored\n\nnot markdown\n");
    char sub[128];
    snprintf(sub, sizeof sub, "%s/sub", tmpdir);
    mkdir(sub, 0700);
    write_file("sub/b.md", "No title here, only a paragraph about bicycles and repairs.\n");
    k = kb_load(tmpdir, &err);
    CHECK(k != NULL);
    if (!k)
        return;
    CHECK_INT(kb_article_count(k), 2);
    /* "Short." joins the next paragraph of its section; the fenced line is not a heading */
    CHECK_INT(kb_passage_count(k), 4);
    struct kb_hit hits[4];
    int n = kb_search(k, "tomatoes watering", 4, hits, &err);
    CHECK(n >= 1);
    if (n >= 1) {
        CHECK_STR(hits[0].article, "a.md");
        CHECK_STR(hits[0].title, "Alpha article");
        CHECK_STR(hits[0].section, "Watering");
        CHECK(strncmp(hits[0].passage, "Short. Water the plants", 23) == 0);
    }
    n = kb_search(k, "bicycle repair", 4, hits, &err);
    CHECK_INT(n, 1);
    if (n == 1) {
        CHECK_STR(hits[0].article, "sub/b.md");
        CHECK_STR(hits[0].title, "sub/b.md");
    }
    /* the title is indexed with every passage of its article */
    n = kb_search(k, "alpha", 4, hits, &err);
    CHECK_INT(n, 3);
    kb_free(k);

    /* list items keep their lines; a wrapped line that starts with a number joins its sentence */
    write_file("c.md", "# Hours and steps\n\nWe are open 10:00 to\n16:00 on Saturdays for "
                       "collections.\n\n## Steps\n\n1. Open the returns page and pick the order.\n"
                       "2) Print the label and attach it.\n- Drop the parcel off.\n");
    k = kb_load(tmpdir, &err);
    CHECK(k != NULL);
    n = k ? kb_search(k, "saturdays collections", 1, hits, &err) : 0;
    CHECK_INT(n, 1);
    if (n == 1)
        CHECK(strstr(hits[0].passage, "10:00 to 16:00 on Saturdays") != NULL);
    n = k ? kb_search(k, "print label returns page", 1, hits, &err) : 0;
    CHECK_INT(n, 1);
    if (n == 1)
        CHECK(strstr(hits[0].passage, "order.\n2) Print") != NULL &&
              strstr(hits[0].passage, "it.\n- Drop") != NULL);
    kb_free(k);
    char path_c[160];
    snprintf(path_c, sizeof path_c, "%s/c.md", tmpdir);
    unlink(path_c);

    /* an article that is not UTF-8 text is refused naming the file and the line */
    write_file("bad.md", "# Bad\n\nFine line.\nBroken \xff byte here.\n");
    k = kb_load(tmpdir, &err);
    CHECK(k == NULL);
    CHECK_STR(err.code, "KbLoadFailed");
    CHECK(strstr(err.message, "bad.md' line 4: not valid UTF-8") != NULL);
    char path_bad[160];
    snprintf(path_bad, sizeof path_bad, "%s/bad.md", tmpdir);
    unlink(path_bad);

    /* an oversized article is refused by name */
    char *huge = malloc(KB_MAX_FILE_BYTES + 10);
    memset(huge, 'x', KB_MAX_FILE_BYTES + 9);
    huge[KB_MAX_FILE_BYTES + 9] = '\0';
    write_file("huge.md", huge);
    free(huge);
    k = kb_load(tmpdir, &err);
    CHECK(k == NULL);
    CHECK_STR(err.code, "KbLoadFailed");
    CHECK(strstr(err.message, "huge.md") != NULL);

    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    CHECK(system(cmd) == 0);
}

/* Queries for the concurrency test, and what a serial run answered for them. */
static const char *const conc_queries[] = {
    "refund policy", "reset password", "I can't log in", "cancel my subscription",
    "two-factor backup codes", "where is my parcel", "charged twice", "opening hours",
};
#define N_CONC (sizeof conc_queries / sizeof conc_queries[0])
#define CONC_K 3
static struct kb_hit serial_hits[N_CONC][CONC_K];
static int serial_n[N_CONC];

static int same_hits(const struct kb_hit *a, const struct kb_hit *b, int n)
{
    for (int i = 0; i < n; i++)
        if (a[i].row != b[i].row || a[i].score != b[i].score ||
            strcmp(a[i].snippet, b[i].snippet) != 0)
            return 0;
    return 1;
}

struct conc_thread {
    pthread_t t;
    int first; /* the query this thread starts with, so threads differ at each moment */
    int ok;    /* every answer was the serial one */
};

static void *search_thread(void *arg)
{
    struct conc_thread *ct = arg;
    ct->ok = 1;
    for (int i = 0; i < 100; i++) {
        size_t q = (size_t)(ct->first + i) % N_CONC;
        struct kb_hit hits[CONC_K];
        struct err err = {{0}, {0}};
        int n = kb_search(kb, conc_queries[q], CONC_K, hits, &err);
        if (n != serial_n[q] || !same_hits(hits, serial_hits[q], n))
            ct->ok = 0;
    }
    return NULL;
}

/* Eight threads searching at once (more than the index's connections) get exactly the serial
 * answers: same passages, scores and snippets. */
static void test_concurrent_reads(void)
{
    for (size_t q = 0; q < N_CONC; q++) {
        serial_n[q] = kb_search(kb, conc_queries[q], CONC_K, serial_hits[q], NULL);
        CHECK(serial_n[q] > 0);
    }
    struct conc_thread th[8];
    for (int i = 0; i < 8; i++) {
        th[i].first = i;
        pthread_create(&th[i].t, NULL, search_thread, &th[i]);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i].t, NULL);
        CHECK(th[i].ok);
    }
}

/* Customer text full of FTS5 syntax never reaches SQLite as syntax: no error, and the words in
 * it still find their articles. */
static void test_query_syntax(void)
{
    static const char *const queries[] = {
        "\"refund", "refund\"", "\"\"\"", "refund*", "*", "NEAR(refund policy)", "NEAR",
        "refund AND policy", "AND", "OR", "NOT", "refund NOT policy", "-refund", "refund - policy",
        "title:refund", ":", "body : refund", "^refund", "^", "(refund", "refund)", "()",
        "((refund) OR (policy", "{title section}: refund", "refund + policy", "'refund'",
        "refund; DROP TABLE passage; --", "\\\" OR 1=1", "refund\x01policy", "caf\xc3\xa9 na\xc3\xafve",
        "\xc3\xa9\xc3\xa9\xc3\xa9", "$%&@!~`|<>?/.,", "a the of and to",
    };
    for (size_t i = 0; i < sizeof queries / sizeof queries[0]; i++) {
        struct kb_hit hits[3];
        struct err err = {{0}, {0}};
        int n = kb_search(kb, queries[i], 3, hits, &err);
        if (n < 0)
            fprintf(stderr, "  '%s' -> %s: %s\n", queries[i], err.code, err.message);
        CHECK(n >= 0);
        CHECK(n >= 0);
    }
    struct kb_hit hits[3];
    struct err err = {{0}, {0}};
    CHECK_INT(kb_search(kb, "*", 3, hits, &err), 0);
    CHECK_INT(kb_search(kb, "AND OR NOT", 3, hits, &err), 0); /* stop words */
    CHECK_INT(kb_search(kb, "$%&@!~`|<>?/.,", 3, hits, &err), 0);
    CHECK(kb_search(kb, "NEAR(refund policy)", 3, hits, &err) > 0);
    CHECK_STR(hits[0].article, "refunds.md");
    CHECK(kb_search(kb, "title:refund", 3, hits, &err) > 0);
    CHECK_STR(hits[0].article, "refunds.md");
    CHECK(kb_search(kb, "((refund) OR (policy", 3, hits, &err) > 0);
    CHECK_STR(hits[0].article, "refunds.md");
}

/* 1 when snippet, its marks and its "..." ends taken away, is a piece of passage. */
static int snippet_of(const char *snippet, const char *passage)
{
    char plain[KB_SNIPPET_MAX];
    size_t n = 0;
    const char *s = snippet;
    if (strncmp(s, "...", 3) == 0)
        s += 3;
    while (*s) {
        if (strncmp(s, KB_MARK_OPEN, strlen(KB_MARK_OPEN)) == 0)
            s += strlen(KB_MARK_OPEN);
        else if (strncmp(s, KB_MARK_CLOSE, strlen(KB_MARK_CLOSE)) == 0)
            s += strlen(KB_MARK_CLOSE);
        else
            plain[n++] = *s++;
    }
    plain[n] = '\0';
    if (n >= 3 && strcmp(plain + n - 3, "...") == 0)
        plain[n - 3] = '\0';
    return plain[0] && strstr(passage, plain) != NULL;
}

/* The snippet is a window of the passage with the matched words marked. */
static void test_snippets(void)
{
    /* each hit's snippet is its own passage's, with as many hits as a search gives */
    static struct kb_hit many[KB_MAX_RESULTS];
    struct err e = {{0}, {0}};
    int m = kb_search(kb, "password account order refund shipping email", KB_MAX_RESULTS, many, &e);
    CHECK(m >= 10);
    for (int i = 0; i < m; i++) {
        if (!snippet_of(many[i].snippet, many[i].passage))
            fprintf(stderr, "hit %d: '%s' is not of '%s'\n", i, many[i].snippet, many[i].passage);
        CHECK(snippet_of(many[i].snippet, many[i].passage));
    }
    struct kb_hit hits[3];
    struct err err = {{0}, {0}};
    int n = kb_search(kb, "reset link expired", 3, hits, &err);
    CHECK(n >= 1);
    for (int i = 0; i < n; i++) {
        CHECK(strstr(hits[i].snippet, KB_MARK_OPEN) != NULL);
        CHECK(strlen(hits[i].snippet) < KB_SNIPPET_MAX);
    }
    if (n >= 1) {
        CHECK(strstr(hits[0].snippet, KB_MARK_OPEN "link" KB_MARK_CLOSE) != NULL);
        CHECK(strstr(hits[0].snippet, KB_MARK_OPEN "expired" KB_MARK_CLOSE) != NULL ||
              strstr(hits[0].snippet, KB_MARK_OPEN "expires" KB_MARK_CLOSE) != NULL);
    }
    /* stemmed matches are marked as written: "refunds" finds "refund" */
    n = kb_search(kb, "refunds", 3, hits, &err);
    CHECK(n >= 1);
    if (n >= 1)
        CHECK(strcasestr(hits[0].snippet, KB_MARK_OPEN "refund") != NULL);
    /* "log in" also matches "sign in" */
    n = kb_search(kb, "I can't log in", 3, hits, &err);
    CHECK(n >= 1);
    if (n >= 1)
        CHECK(strstr(hits[0].snippet, KB_MARK_OPEN "sign in" KB_MARK_CLOSE) != NULL);

    json_t *j = kb_search_json(kb, "refund policy", 1, &err);
    const char *snip =
        json_string_value(json_object_get(json_array_get(json_object_get(j, "results"), 0),
                                          "snippet"));
    CHECK(snip != NULL && strstr(snip, KB_MARK_OPEN) != NULL);
    json_decref(j);
}

/* SQLite failing under the index (fault injection at sqlpool_stmt) is an error value, never a
 * crash: "KbSearchFailed" at search, "KbLoadFailed" at load; the kb works again afterwards. */
static void test_sql_faults(void)
{
    struct kb_hit hits[3];
    struct err err = {{0}, {0}};
    fault_arm(FAULT_SQL, 1, SQLITE_IOERR, 0);
    CHECK_INT(kb_search(kb, "refund policy", 3, hits, &err), -1);
    CHECK_STR(err.code, "KbSearchFailed");
    CHECK(strstr(err.message, "injected") != NULL);
    fault_arm(FAULT_SQL, 2, SQLITE_BUSY, 0); /* the first snippet */
    CHECK_INT(kb_search(kb, "refund policy", 3, hits, &err), -1);
    CHECK_STR(err.code, "KbSearchFailed");
    fault_disarm_all();
    CHECK(kb_search(kb, "refund policy", 3, hits, &err) > 0);

    const char *src = getenv("PARLEY_SRC");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/kb", src ? src : ".");
    fault_arm(FAULT_SQL, 3, SQLITE_FULL, 0); /* an INSERT of the index */
    struct kb *k = kb_load(dir, &err);
    fault_disarm_all();
    CHECK(k == NULL);
    CHECK_STR(err.code, "KbLoadFailed");
    kb_free(k);
}

int main(void)
{
    const char *src = getenv("PARLEY_SRC");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/kb", src ? src : ".");
    struct err err = {{0}, {0}};
    kb = kb_load(dir, &err);
    if (!kb) {
        fprintf(stderr, "%s\n", err.message);
        check_record("load kb/", 0);
        return check_summary();
    }
    RUN(test_shipped_articles);
    RUN(test_rerank);
    RUN(test_accuracy);
    RUN(test_wrapping);
    RUN(test_hit_fields);
    RUN(test_no_match_and_errors);
    RUN(test_parsing);
    RUN(test_concurrent_reads);
    RUN(test_query_syntax);
    RUN(test_snippets);
    RUN(test_sql_faults);
    kb_free(kb);
    return check_summary();
}
