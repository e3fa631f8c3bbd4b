/*
 * offline_intents.c - applies the built-in intent model with its "unknown" rule; see
 * offline_intents.h.
 */
#include "model/offline_intents.h"

#include <pthread.h>
#include <stdlib.h>
#include <regex.h>

#include "base/text.h"

#include "model/offline_nb.h"

/* Cue phrases decided before the classifier. Its features drop articles and plurals, so "open a
 * ticket" and "my open tickets" look alike to it; a request to open one is unmistakable in the
 * words themselves. */
static const struct {
    const char *intent;  /* the intent the phrase means */
    const char *pattern; /* POSIX ERE, case-insensitive */
} cues[] = {
    {"create_ticket", "(^|[^a-z])(open|raise|file|create|log|submit|start)( me)? (a|an|one)( new)?"
                      "( support)? (ticket|case)([^a-z]|$)"},
};

#define NCUES (sizeof cues / sizeof cues[0])

/* Compiled once, matched by every request thread at once (text_re keeps a copy per thread). */
static struct text_re *cue_re[NCUES];
static pthread_once_t cue_once = PTHREAD_ONCE_INIT;

static void cue_compile(void)
{
    for (size_t i = 0; i < NCUES; i++) {
        cue_re[i] = text_re_new(cues[i].pattern, REG_EXTENDED | REG_ICASE | REG_NOSUB, NULL, 0);
        if (!cue_re[i])
            abort(); /* a pattern of ours that does not compile is our bug */
    }
}

void offline_intents_classify(const char *text, struct offline_intent *out)
{
    offline_intents_classify_with(NULL, text, out);
}

void offline_intents_classify_with(const struct offline_nb *nb, const char *text,
                                   struct offline_intent *out)
{
    if (!nb)
        nb = &offline_intents_model;
    pthread_once(&cue_once, cue_compile);
    for (size_t i = 0; i < NCUES; i++) {
        if (text_re_exec(cue_re[i], text, 0, NULL, 0) == 0) {
            out->name = out->best = cues[i].intent;
            out->confidence = 1.0;
            out->coverage = 1.0;
            return;
        }
    }
    struct offline_nb_guess g;
    offline_nb_predict(nb, text, &g);
    out->name = "unknown";
    out->best = g.cls >= 0 ? nb->classes[g.cls] : "unknown";
    out->confidence = g.confidence;
    out->coverage = g.unigrams ? (double)g.known / (double)g.unigrams : 0.0;
    if (g.cls < 0 || g.known == 0)
        return;
    if (g.confidence < OFFLINE_INTENT_MIN_CONFIDENCE || out->coverage < OFFLINE_INTENT_MIN_COVERAGE)
        return;
    out->name = out->best;
}
