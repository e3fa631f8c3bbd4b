/*
 * offline_nb.h - the multinomial naive Bayes intent classifier behind the offline model.
 *
 * A model is a set of read-only tables: class names, log priors, a sorted feature vocabulary and
 * one log-likelihood per (feature, class). tools/intents/train.c trains one at build time from
 * src/model/data/intents.tsv and writes it out as C (offline_nb_write_c), which is compiled into
 * libparley as `offline_intents_model`; tests train their own from a split of the same file.
 * Features are presence-only (a feature counts once per utterance) and come from offline_text.h.
 * Prediction reads the tables only, so one model serves any number of threads.
 */
#ifndef PARLEY_OFFLINE_NB_H
#define PARLEY_OFFLINE_NB_H

#include <stddef.h>
#include <stdio.h>

#include "base/err.h"

struct offline_nb {
    size_t n_classes;            /* number of intents */
    const char *const *classes;  /* [n_classes] intent names */
    const double *log_prior;     /* [n_classes] */
    size_t n_features;           /* vocabulary size */
    const char *const *features; /* [n_features] sorted by strcmp */
    const float *log_lik;        /* [n_features * n_classes], row per feature */
    int owned;                   /* 1 when offline_nb_train allocated the tables */
};

struct offline_nb_guess {
    int cls;           /* index into classes, or -1 when there is no evidence at all */
    double confidence; /* posterior probability of cls, 0..1 */
    double runner_up;  /* posterior of the second best class */
    size_t known;      /* how many of the utterance's unigrams the vocabulary knows */
    size_t unigrams;   /* how many unigrams the utterance has after normalisation */
};

/* A labelled data set read from a TSV file. */
struct offline_nb_data {
    size_t n;      /* number of examples */
    char **labels; /* [n] owned */
    char **texts;  /* [n] owned */
};

/* One labelled utterance in static storage. */
struct offline_nb_example {
    const char *label; /* intent name */
    const char *text;  /* utterance */
};

/* The model compiled into the library (generated at build time). */
extern const struct offline_nb offline_intents_model;
/* The utterances it was trained on, in file order (generated with it), so the classifier can be
 * retrained at load time with more intents (offline_custom.h). */
extern const struct offline_nb_example offline_intents_examples[];
extern const size_t offline_intents_examples_count;

/* ---- data ---- */

/* Reads `label<TAB>utterance` lines from path into d (caller-embedded); blank lines and lines
 * starting with '#' are skipped. Lines are capped at 1 KiB and files at 20000 examples. Returns 0,
 * or -1 with err ("IntentDataInvalid", naming the file and line) and d empty. */
int offline_nb_data_read(struct offline_nb_data *d, const char *path, struct err *err);

/* Appends a copy of (label, text) to d. Returns 0, or -1 with err ("IntentDataInvalid") when d
 * already holds the maximum number of examples (20000) or text is longer than 1 KiB. */
int offline_nb_data_add(struct offline_nb_data *d, const char *label, const char *text,
                        struct err *err);

/* Frees d's contents; accepts a zeroed d. */
void offline_nb_data_release(struct offline_nb_data *d);

/* ---- training ---- */

/* Trains on the examples of d whose index i satisfies keep(i, ud) (all when keep is NULL).
 * alpha is the additive smoothing. Returns a new model owned by the caller (offline_nb_free). */
struct offline_nb *offline_nb_train(const struct offline_nb_data *d, int (*keep)(size_t, void *),
                                    void *ud, double alpha);

/* Frees a model returned by offline_nb_train; NULL and built-in models are ignored. */
void offline_nb_free(struct offline_nb *nb);

/* Writes nb as a C translation unit defining `const struct offline_nb <symbol>`. Returns 0 or -1
 * on a write error. */
int offline_nb_write_c(const struct offline_nb *nb, FILE *out, const char *symbol);

/* Writes d's examples as C defining `const struct offline_nb_example <symbol>[]` and
 * `const size_t <symbol>_count`, to be appended to offline_nb_write_c's output. Returns 0 or -1 on
 * a write error. */
int offline_nb_data_write_c(const struct offline_nb_data *d, FILE *out, const char *symbol);

/* ---- prediction ---- */

/* Classifies text (NUL-terminated, only the first OFFLINE_TEXT_MAX_INPUT bytes are read) and fills
 * out. Never fails. */
void offline_nb_predict(const struct offline_nb *nb, const char *text,
                        struct offline_nb_guess *out);

/* Returns the index of class name, or -1. */
int offline_nb_class_index(const struct offline_nb *nb, const char *name);

#endif
