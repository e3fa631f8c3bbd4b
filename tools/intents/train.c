/*
 * train.c - build-time trainer for the offline model's intent classifier.
 *
 * Usage: train INTENTS.tsv OUT.c
 * Reads the labelled utterances, trains the naive Bayes model of src/model/offline_nb.h on all of
 * them and writes it as C defining `offline_intents_model`, followed by the utterances themselves
 * (`offline_intents_examples`) for retraining at load time. The output is written to OUT.c.tmp and
 * renamed, so an interrupted build never leaves a half-written file behind.
 */
#include <stdio.h>
#include <stdlib.h>

#include "base/err.h"
#include "base/xmalloc.h"
#include "model/offline_nb.h"

/* The additive smoothing used for the shipped model; tests use the same value. */
#define TRAIN_ALPHA 0.1

int main(int argc, char **argv)
{
    int rc = 1;
    struct err err = {{0}, {0}};
    struct offline_nb_data data = {0};
    struct offline_nb *nb = NULL;
    char *tmp = NULL;
    FILE *out = NULL;
    if (argc != 3) {
        fprintf(stderr, "usage: %s INTENTS.tsv OUT.c\n", argv[0]);
        goto out;
    }
    if (offline_nb_data_read(&data, argv[1], &err) != 0) {
        fprintf(stderr, "train: %s\n", err.message);
        goto out;
    }
    nb = offline_nb_train(&data, NULL, NULL, TRAIN_ALPHA);
    tmp = xasprintf("%s.tmp", argv[2]);
    out = fopen(tmp, "w");
    if (!out) {
        perror(tmp);
        goto out;
    }
    if (offline_nb_write_c(nb, out, "offline_intents_model") != 0 ||
        offline_nb_data_write_c(&data, out, "offline_intents_examples") != 0 || fclose(out) != 0) {
        out = NULL;
        fprintf(stderr, "train: cannot write '%s'\n", tmp);
        goto out;
    }
    out = NULL;
    if (rename(tmp, argv[2]) != 0) {
        perror(argv[2]);
        goto out;
    }
    fprintf(stderr, "train: %zu examples, %zu intents, %zu features -> %s\n", data.n,
            nb->n_classes, nb->n_features, argv[2]);
    rc = 0;
out:
    if (out)
        fclose(out);
    free(tmp);
    offline_nb_free(nb);
    offline_nb_data_release(&data);
    return rc;
}
