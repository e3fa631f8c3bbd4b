/*
 * offline_intents.h - the offline model's intent classifier as the policy sees it: the naive Bayes
 * model trained at build time (offline_nb.h) plus the rule that turns weak evidence into
 * "unknown". Reads only constant tables, so it is safe from any thread.
 */
#ifndef PARLEY_OFFLINE_INTENTS_H
#define PARLEY_OFFLINE_INTENTS_H

/* Below this posterior the best intent is not trusted. */
#define OFFLINE_INTENT_MIN_CONFIDENCE 0.40
/* At least this share of an utterance's words must be known to the vocabulary. */
#define OFFLINE_INTENT_MIN_COVERAGE 0.5

struct offline_nb;

struct offline_intent {
    const char *name;  /* an intent of the model, or "unknown"; static storage for the built-in
                          model, owned by the model otherwise */
    const char *best;  /* the best intent even when name is "unknown" ("unknown" if none) */
    double confidence; /* posterior probability of best, 0..1 */
    double coverage;   /* share of the utterance's words the vocabulary knows, 0..1 */
};

/* Classifies text (NUL-terminated; only the first OFFLINE_TEXT_MAX_INPUT bytes count) with the
 * built-in model. Never fails: no evidence gives "unknown". */
void offline_intents_classify(const char *text, struct offline_intent *out);

/* The same with model nb (borrowed; the built-in one when NULL). Names point into nb. */
void offline_intents_classify_with(const struct offline_nb *nb, const char *text,
                                   struct offline_intent *out);

#endif
