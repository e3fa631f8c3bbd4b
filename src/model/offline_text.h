/*
 * offline_text.h - text normalisation shared by the offline model's intent classifier, its
 * build-time trainer (tools/intents/) and its tests.
 *
 * An utterance becomes a list of features: normalised unigrams plus bigrams ("a_b") of adjacent
 * unigrams. Normalisation lower-cases ASCII, expands contractions ("can't" -> "can not"), folds a
 * few multi-word spellings into one token ("log in", "sign in", "logon" -> "login"), replaces
 * entities by placeholders (an e-mail address -> "_email_", a ticket id -> "_ticket_", a number ->
 * "_num_"), drops a short list of stop words and applies a light suffix stemmer. Training and
 * classification must see exactly the same features, hence one implementation for both.
 */
#ifndef PARLEY_OFFLINE_TEXT_H
#define PARLEY_OFFLINE_TEXT_H

#include <stddef.h>

/* Only the first OFFLINE_TEXT_MAX_INPUT bytes of an utterance are looked at. */
#define OFFLINE_TEXT_MAX_INPUT 4096
/* At most this many unigrams are kept (bigrams add at most as many again). */
#define OFFLINE_TEXT_MAX_TOKENS 256

struct offline_features {
    size_t n;          /* number of features in items */
    size_t n_unigrams; /* items[0..n_unigrams) are unigrams, the rest bigrams */
    char **items;      /* owned strings; may repeat */
};

/* ---- features ---- */

/* Fills f (caller-embedded) with the features of text (NUL-terminated, any bytes). Never fails;
 * release with offline_features_release(). */
void offline_features_build(struct offline_features *f, const char *text);

/* Frees what offline_features_build() allocated and zeroes f. Accepts a zeroed f. */
void offline_features_release(struct offline_features *f);

/* ---- helpers also used by slot extraction ---- */

/* Applies the light stemmer to word (lower-case ASCII, NUL-terminated) in place. */
void offline_text_stem(char *word);

#endif
