/*
 * test_offline_intents.c - the offline intent classifier: held-out accuracy on a deterministic
 * split of src/model/data/intents.tsv, the data file's shape, paraphrases of the seed's login
 * problem, and the "unknown" threshold of the model compiled into the library.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "model/offline_intents.h"
#include "model/offline_nb.h"
#include "model/offline_text.h"

/* The same smoothing the build-time trainer uses (tools/intents/train.c). */
#define ALPHA 0.1

static struct offline_nb_data data;

static int keep_train(size_t i, void *ud)
{
    (void)ud;
    return i % 5 != 4;
}

static void test_data_shape(void)
{
    /* at least 25 intents with at least 20 examples each */
    struct offline_nb *nb = offline_nb_train(&data, NULL, NULL, ALPHA);
    CHECK(nb->n_classes >= 25);
    for (size_t c = 0; c < nb->n_classes; c++) {
        size_t count = 0;
        for (size_t i = 0; i < data.n; i++)
            if (strcmp(data.labels[i], nb->classes[c]) == 0)
                count++;
        if (count < 20)
            fprintf(stderr, "intent %s has only %zu examples\n", nb->classes[c], count);
        CHECK(count >= 20);
    }
    offline_nb_free(nb);
}

static void test_held_out_accuracy(void)
{
    struct offline_nb *nb = offline_nb_train(&data, keep_train, NULL, ALPHA);
    size_t total = 0, right = 0;
    for (size_t i = 0; i < data.n; i++) {
        if (keep_train(i, NULL))
            continue;
        struct offline_nb_guess g;
        offline_nb_predict(nb, data.texts[i], &g);
        total++;
        const char *got = g.cls >= 0 ? nb->classes[g.cls] : "(none)";
        if (strcmp(got, data.labels[i]) == 0)
            right++;
        else
            fprintf(stderr, "  held-out miss: '%s' is %s, predicted %s (%.2f)\n", data.texts[i],
                    data.labels[i], got, g.confidence);
    }
    double acc = total ? (double)right / (double)total : 0.0;
    printf("# held-out accuracy: %zu/%zu = %.1f%% (every 5th example held out)\n", right, total,
           100.0 * acc);
    CHECK(total >= 100);
    CHECK(acc >= 0.90);
    offline_nb_free(nb);
}

static void test_training_is_deterministic(void)
{
    struct offline_nb *a = offline_nb_train(&data, keep_train, NULL, ALPHA);
    struct offline_nb *b = offline_nb_train(&data, keep_train, NULL, ALPHA);
    CHECK_INT(a->n_features, b->n_features);
    CHECK(memcmp(a->log_lik, b->log_lik, a->n_features * a->n_classes * sizeof(float)) == 0);
    offline_nb_free(a);
    offline_nb_free(b);
}

/* The features of text: n_unigrams words, then the items of want (NULL-terminated) in order. */
static void check_features(const char *text, size_t n_unigrams, const char *const want[])
{
    struct offline_features f;
    offline_features_build(&f, text);
    CHECK_INT(f.n_unigrams, n_unigrams);
    for (size_t i = 0; want[i]; i++)
        CHECK_STR(i < f.n ? f.items[i] : "(none)", want[i]);
    offline_features_release(&f);
}

static void test_features(void)
{
    struct offline_features f;
    /* "can't" -> can not; "log into" -> login; "i", "my" are stop words */
    check_features("I can't log into my account!", 4,
                   (const char *const[]){"can", "not", "login", "account", "can|not", NULL});

    offline_features_build(&f, "It\xe2\x80\x99s jane.doe@example.com, ticket TKT-000042, order #1042");
    int email = 0, ticket = 0, num = 0;
    for (size_t i = 0; i < f.n_unigrams; i++) {
        email += strcmp(f.items[i], "_email_") == 0;
        ticket += strcmp(f.items[i], "_ticket_") == 0;
        num += strcmp(f.items[i], "_num_") == 0;
    }
    CHECK_INT(email, 1);
    CHECK_INT(ticket, 1);
    CHECK_INT(num, 1);
    offline_features_release(&f);

    /* synonyms, raw and stemmed, from both ends of their table and its middle; a word that is
     * none stays itself */
    check_features("hiya chatgpt colours delivered zebra", 5,
                   (const char *const[]){"hello", "bot", "color", "arrive", "zebra", "hello|bot",
                                         "bot|color", "color|arrive", "arrive|zebra", NULL});

    char w[32];
    strcpy(w, "shipping");
    offline_text_stem(w);
    CHECK_STR(w, "ship");
    strcpy(w, "charged");
    offline_text_stem(w);
    CHECK_STR(w, "charg");
    strcpy(w, "charge");
    offline_text_stem(w);
    CHECK_STR(w, "charg");

    /* caps: a huge input is cut, never overflows */
    size_t big = 1 << 20;
    char *s = malloc(big + 1);
    for (size_t i = 0; i < big; i++)
        s[i] = (i % 3) ? 'a' : ' ';
    s[big] = '\0';
    offline_features_build(&f, s);
    CHECK(f.n_unigrams <= OFFLINE_TEXT_MAX_TOKENS);
    offline_features_release(&f);
    free(s);
}

static void expect_intent(const char *text, const char *intent)
{
    struct offline_intent it;
    offline_intents_classify(text, &it);
    if (strcmp(it.name, intent) != 0)
        fprintf(stderr, "  '%s' -> %s (%.2f), wanted %s\n", text, it.name, it.confidence, intent);
    CHECK_STR(it.name, intent);
}

static void test_builtin_paraphrases(void)
{
    /* none of these sentences is in the training file */
    expect_intent("I'm locked out of my account", "account_locked");
    expect_intent("login isn't working", "login_problem");
    expect_intent("can't sign in", "login_problem");
    expect_intent("I can't log into my account", "login_problem");
    expect_intent("I cannot get logged in to my account at all", "login_problem");
    expect_intent("signing in to the app fails", "login_problem");
    expect_intent("hello there", "greeting");
    expect_intent("thanks so much", "thanks");
    expect_intent("could you tell me where my order is", "order_status");
    expect_intent("I would like to talk to a real human being", "human_agent");
    expect_intent("how can I reset the password", "password_reset");
    expect_intent("what is the status of TKT-000001", "ticket_status");
    expect_intent("please cancel the subscription", "cancel_subscription");
    expect_intent("It's jane.doe@example.com", "provide_info");
}

static void test_cue_phrases(void)
{
    /* "open a ticket" is a request to create one, "my open tickets" a request to list them: the
     * bag of words cannot tell them apart, the cue phrases do. */
    expect_intent("open a ticket please", "create_ticket");
    expect_intent("Could you raise a support ticket for me?", "create_ticket");
    expect_intent("please open a new case", "create_ticket");
    expect_intent("do I have any open tickets", "list_tickets");
    expect_intent("show me my open tickets", "list_tickets");
    struct offline_intent it;
    offline_intents_classify("the ticketing page shows my open tickets", &it);
    CHECK(strcmp(it.name, "create_ticket") != 0); /* whole words only */
}

static void test_builtin_unknown(void)
{
    struct offline_intent it;
    offline_intents_classify("what's the weather like in Paris tomorrow", &it);
    CHECK_STR(it.name, "unknown");
    offline_intents_classify("qwzx blorf", &it);
    CHECK_STR(it.name, "unknown");
    CHECK(it.confidence < 0.5);
    offline_intents_classify("", &it);
    CHECK_STR(it.name, "unknown");
}

int main(void)
{
    const char *src = getenv("PARLEY_SRC");
    char path[4096];
    snprintf(path, sizeof path, "%s/src/model/data/intents.tsv", src ? src : ".");
    struct err err = {{0}, {0}};
    if (offline_nb_data_read(&data, path, &err) != 0) {
        fprintf(stderr, "%s\n", err.message);
        check_record("read intents.tsv", 0);
        return check_summary();
    }
    RUN(test_data_shape);
    RUN(test_held_out_accuracy);
    RUN(test_training_is_deterministic);
    RUN(test_features);
    RUN(test_builtin_paraphrases);
    RUN(test_cue_phrases);
    RUN(test_builtin_unknown);
    offline_nb_data_release(&data);
    return check_summary();
}
