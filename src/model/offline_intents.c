/*
 * offline_intents.c - applies the built-in intent model with its "unknown" rule; see
 * offline_intents.h.
 */
#include "model/offline_intents.h"

#include "model/offline_nb.h"

void offline_intents_classify(const char *text, struct offline_intent *out)
{
    struct offline_nb_guess g;
    offline_nb_predict(&offline_intents_model, text, &g);
    out->name = "unknown";
    out->best = g.cls >= 0 ? offline_intents_model.classes[g.cls] : "unknown";
    out->confidence = g.confidence;
    out->coverage = g.unigrams ? (double)g.known / (double)g.unigrams : 0.0;
    if (g.cls < 0 || g.known == 0)
        return;
    if (g.confidence < OFFLINE_INTENT_MIN_CONFIDENCE || out->coverage < OFFLINE_INTENT_MIN_COVERAGE)
        return;
    out->name = out->best;
}
