/*
 * offline_nb.c - training, serialising and applying the naive Bayes intent model; see
 * offline_nb.h. Training runs at build time (tools/intents/train.c) and in tests; prediction runs
 * on every offline model turn and only reads the tables.
 */
#include "model/offline_nb.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "base/xmalloc.h"
#include "model/offline_text.h"

#define DATA_MAX_LINE 1024
#define DATA_MAX_EXAMPLES 20000
#define MAX_CLASSES 128

/* ------------------------------------------------------------------------------------------------
 * Data
 * --------------------------------------------------------------------------------------------- */

int offline_nb_data_read(struct offline_nb_data *d, const char *path, struct err *err)
{
    int rc = -1;
    size_t lineno = 0;
    char line[DATA_MAX_LINE + 2];
    memset(d, 0, sizeof *d);
    FILE *f = fopen(path, "r");
    if (!f) {
        err_set(err, "IntentDataInvalid", "cannot open '%s': %s", path, strerror(errno));
        goto out;
    }
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t len = strlen(line);
        if (len > DATA_MAX_LINE && line[len - 1] != '\n') {
            err_set(err, "IntentDataInvalid", "'%s' line %zu is longer than %d bytes", path, lineno,
                    DATA_MAX_LINE);
            goto out;
        }
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0 || line[0] == '#')
            continue;
        char *tab = strchr(line, '\t');
        if (!tab || tab == line || tab[1] == '\0') {
            err_set(err, "IntentDataInvalid", "'%s' line %zu is not 'intent<TAB>utterance'", path,
                    lineno);
            goto out;
        }
        if (d->n >= DATA_MAX_EXAMPLES) {
            err_set(err, "IntentDataInvalid", "'%s' has more than %d examples", path,
                    DATA_MAX_EXAMPLES);
            goto out;
        }
        *tab = '\0';
        if (offline_nb_data_add(d, line, tab + 1, err) != 0)
            goto out;
    }
    if (ferror(f)) {
        err_set(err, "IntentDataInvalid", "cannot read '%s'", path);
        goto out;
    }
    if (d->n == 0) {
        err_set(err, "IntentDataInvalid", "'%s' holds no examples", path);
        goto out;
    }
    rc = 0;
out:
    if (f)
        fclose(f);
    if (rc != 0)
        offline_nb_data_release(d);
    return rc;
}

int offline_nb_data_add(struct offline_nb_data *d, const char *label, const char *text,
                        struct err *err)
{
    if (d->n >= DATA_MAX_EXAMPLES)
        return err_set(err, "IntentDataInvalid", "more than %d examples", DATA_MAX_EXAMPLES);
    if (strlen(text) > DATA_MAX_LINE)
        return err_set(err, "IntentDataInvalid", "an example is longer than %d bytes",
                       DATA_MAX_LINE);
    /* grow in powers of two from 256 */
    if (d->n >= 256 && (d->n & (d->n - 1)) == 0) {
        d->labels = xrealloc(d->labels, 2 * d->n * sizeof d->labels[0]);
        d->texts = xrealloc(d->texts, 2 * d->n * sizeof d->texts[0]);
    } else if (d->n == 0) {
        d->labels = xrealloc(d->labels, 256 * sizeof d->labels[0]);
        d->texts = xrealloc(d->texts, 256 * sizeof d->texts[0]);
    }
    d->labels[d->n] = xstrdup(label);
    d->texts[d->n] = xstrdup(text);
    d->n++;
    return 0;
}

void offline_nb_data_release(struct offline_nb_data *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->labels[i]);
        free(d->texts[i]);
    }
    free(d->labels);
    free(d->texts);
    memset(d, 0, sizeof *d);
}

/* ------------------------------------------------------------------------------------------------
 * Training
 * --------------------------------------------------------------------------------------------- */

struct vocab_entry {
    char *feature;    /* owned */
    unsigned *counts; /* [n_classes] utterances of each class holding the feature */
};

struct vocab {
    size_t n, cap;             /* entries used / hash slots (power of two) */
    struct vocab_entry *slots; /* open addressing, feature NULL = empty */
};

static struct vocab_entry *vocab_get(struct vocab *v, const char *feature, size_t n_classes)
{
    if (2 * (v->n + 1) > v->cap) {
        size_t ncap = v->cap ? v->cap * 2 : 1024;
        struct vocab_entry *ns = xcalloc(ncap, sizeof ns[0]);
        for (size_t i = 0; i < v->cap; i++) {
            if (!v->slots[i].feature)
                continue;
            size_t j = hash_str(v->slots[i].feature) & (ncap - 1);
            while (ns[j].feature)
                j = (j + 1) & (ncap - 1);
            ns[j] = v->slots[i];
        }
        free(v->slots);
        v->slots = ns;
        v->cap = ncap;
    }
    size_t j = hash_str(feature) & (v->cap - 1);
    while (v->slots[j].feature) {
        if (strcmp(v->slots[j].feature, feature) == 0)
            return &v->slots[j];
        j = (j + 1) & (v->cap - 1);
    }
    v->slots[j].feature = xstrdup(feature);
    v->slots[j].counts = xcalloc(n_classes, sizeof(unsigned));
    v->n++;
    return &v->slots[j];
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const struct vocab_entry *)a)->feature,
                  ((const struct vocab_entry *)b)->feature);
}

struct offline_nb *offline_nb_train(const struct offline_nb_data *d, int (*keep)(size_t, void *),
                                    void *ud, double alpha)
{
    /* classes in order of first appearance in the whole file, so splits agree on indices */
    char **classes = xcalloc(MAX_CLASSES, sizeof classes[0]);
    size_t n_classes = 0;
    for (size_t i = 0; i < d->n; i++) {
        size_t c = 0;
        while (c < n_classes && strcmp(classes[c], d->labels[i]) != 0)
            c++;
        if (c == n_classes && n_classes < MAX_CLASSES)
            classes[n_classes++] = xstrdup(d->labels[i]);
    }

    unsigned *class_docs = xcalloc(n_classes, sizeof(unsigned));
    double *class_tokens = xcalloc(n_classes, sizeof(double));
    size_t n_docs = 0;
    struct vocab v = {0};
    for (size_t i = 0; i < d->n; i++) {
        if (keep && !keep(i, ud))
            continue;
        size_t c = 0;
        while (c < n_classes && strcmp(classes[c], d->labels[i]) != 0)
            c++;
        if (c == n_classes)
            continue;
        class_docs[c]++;
        n_docs++;
        struct offline_features f;
        offline_features_build(&f, d->texts[i]);
        qsort(f.items, f.n, sizeof f.items[0], cmp_str);
        for (size_t k = 0; k < f.n; k++) {
            if (k > 0 && strcmp(f.items[k], f.items[k - 1]) == 0)
                continue;
            vocab_get(&v, f.items[k], n_classes)->counts[c]++;
            class_tokens[c] += 1;
        }
        offline_features_release(&f);
    }

    /* compact and sort the vocabulary */
    struct vocab_entry *entries = xcalloc(v.n + 1, sizeof entries[0]);
    size_t ne = 0;
    for (size_t i = 0; i < v.cap; i++)
        if (v.slots[i].feature)
            entries[ne++] = v.slots[i];
    free(v.slots);
    qsort(entries, ne, sizeof entries[0], cmp_entry);

    char **features = xcalloc(ne + 1, sizeof features[0]);
    float *log_lik = xcalloc(ne * n_classes + 1, sizeof(float));
    double *log_prior = xcalloc(n_classes, sizeof(double));
    for (size_t c = 0; c < n_classes; c++) {
        log_prior[c] = log(((double)class_docs[c] + 1.0) / ((double)n_docs + (double)n_classes));
        double denom = class_tokens[c] + alpha * (double)ne;
        for (size_t k = 0; k < ne; k++)
            log_lik[k * n_classes + c] = (float)log(((double)entries[k].counts[c] + alpha) / denom);
    }
    for (size_t k = 0; k < ne; k++) {
        features[k] = entries[k].feature;
        free(entries[k].counts);
    }
    free(entries);
    free(class_docs);
    free(class_tokens);

    struct offline_nb *nb = xcalloc(1, sizeof *nb);
    nb->n_classes = n_classes;
    nb->classes = (const char *const *)classes;
    nb->log_prior = log_prior;
    nb->n_features = ne;
    nb->features = (const char *const *)features;
    nb->log_lik = log_lik;
    nb->owned = 1;
    return nb;
}

void offline_nb_free(struct offline_nb *nb)
{
    if (!nb || !nb->owned)
        return;
    for (size_t c = 0; c < nb->n_classes; c++)
        free((void *)nb->classes[c]);
    for (size_t k = 0; k < nb->n_features; k++)
        free((void *)nb->features[k]);
    free((void *)nb->classes);
    free((void *)nb->features);
    free((void *)nb->log_prior);
    free((void *)nb->log_lik);
    free(nb);
}

/* ------------------------------------------------------------------------------------------------
 * Serialising as C
 * --------------------------------------------------------------------------------------------- */

static void write_c_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f || c == '?')
            fprintf(out, "\\%03o", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

int offline_nb_write_c(const struct offline_nb *nb, FILE *out, const char *symbol)
{
    fprintf(out, "/* Generated by tools/intents/train from src/model/data/intents.tsv. "
                 "Do not edit. */\n");
    fprintf(out, "#include \"model/offline_nb.h\"\n\n");
    fprintf(out, "static const char *const classes[%zu] = {\n", nb->n_classes);
    for (size_t c = 0; c < nb->n_classes; c++) {
        fputs("    ", out);
        write_c_string(out, nb->classes[c]);
        fputs(",\n", out);
    }
    fprintf(out, "};\n\nstatic const double log_prior[%zu] = {\n", nb->n_classes);
    for (size_t c = 0; c < nb->n_classes; c++)
        fprintf(out, "    %.17g,\n", nb->log_prior[c]);
    fprintf(out, "};\n\nstatic const char *const features[%zu] = {\n", nb->n_features + 1);
    for (size_t k = 0; k < nb->n_features; k++) {
        fputs("    ", out);
        write_c_string(out, nb->features[k]);
        fputs(",\n", out);
    }
    fprintf(out, "    0,\n};\n\nstatic const float log_lik[%zu] = {\n",
            nb->n_features * nb->n_classes + 1);
    for (size_t k = 0; k < nb->n_features; k++) {
        fputs("   ", out);
        for (size_t c = 0; c < nb->n_classes; c++)
            fprintf(out, " %.9gf,", (double)nb->log_lik[k * nb->n_classes + c]);
        fputc('\n', out);
    }
    fprintf(out, "    0.0f,\n};\n\n");
    fprintf(out,
            "const struct offline_nb %s = {\n    .n_classes = %zu,\n    .classes = classes,\n"
            "    .log_prior = log_prior,\n    .n_features = %zu,\n    .features = features,\n"
            "    .log_lik = log_lik,\n    .owned = 0,\n};\n",
            symbol, nb->n_classes, nb->n_features);
    return ferror(out) ? -1 : 0;
}

int offline_nb_data_write_c(const struct offline_nb_data *d, FILE *out, const char *symbol)
{
    fprintf(out, "\nconst struct offline_nb_example %s[%zu] = {\n", symbol, d->n + 1);
    for (size_t i = 0; i < d->n; i++) {
        fputs("    {", out);
        write_c_string(out, d->labels[i]);
        fputs(", ", out);
        write_c_string(out, d->texts[i]);
        fputs("},\n", out);
    }
    fprintf(out, "    {0, 0},\n};\n\nconst size_t %s_count = %zu;\n", symbol, d->n);
    return ferror(out) ? -1 : 0;
}

/* ------------------------------------------------------------------------------------------------
 * Prediction
 * --------------------------------------------------------------------------------------------- */

static long find_feature(const struct offline_nb *nb, const char *f)
{
    size_t lo = 0, hi = nb->n_features;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(nb->features[mid], f);
        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

void offline_nb_predict(const struct offline_nb *nb, const char *text, struct offline_nb_guess *out)
{
    memset(out, 0, sizeof *out);
    out->cls = -1;
    if (nb->n_classes == 0)
        return;
    struct offline_features f;
    offline_features_build(&f, text);
    out->unigrams = f.n_unigrams;
    double score[MAX_CLASSES];
    for (size_t c = 0; c < nb->n_classes; c++)
        score[c] = nb->log_prior[c];
    /* presence only: mark features seen so repeats count once */
    long *seen = xcalloc(f.n + 1, sizeof seen[0]);
    size_t n_seen = 0, evidence = 0;
    for (size_t i = 0; i < f.n; i++) {
        long k = find_feature(nb, f.items[i]);
        if (k < 0)
            continue;
        int dup = 0;
        for (size_t j = 0; j < n_seen; j++)
            if (seen[j] == k)
                dup = 1;
        if (dup)
            continue;
        seen[n_seen++] = k;
        evidence++;
        if (i < f.n_unigrams)
            out->known++;
        for (size_t c = 0; c < nb->n_classes; c++)
            score[c] += nb->log_lik[(size_t)k * nb->n_classes + c];
    }
    free(seen);
    offline_features_release(&f);
    if (evidence == 0)
        return;
    size_t best = 0, second = nb->n_classes > 1 ? 1 : 0;
    for (size_t c = 1; c < nb->n_classes; c++)
        if (score[c] > score[best])
            best = c;
    double z = 0;
    for (size_t c = 0; c < nb->n_classes; c++)
        z += exp(score[c] - score[best]);
    for (size_t c = 0; c < nb->n_classes; c++)
        if (c != best && (second == best || score[c] > score[second]))
            second = c;
    out->cls = (int)best;
    out->confidence = 1.0 / z;
    out->runner_up = second != best ? exp(score[second] - score[best]) / z : 0.0;
}

int offline_nb_class_index(const struct offline_nb *nb, const char *name)
{
    for (size_t c = 0; c < nb->n_classes; c++)
        if (strcmp(nb->classes[c], name) == 0)
            return (int)c;
    return -1;
}
