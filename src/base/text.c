/* text.c - words, stop words and the light stemmer; see text.h. */
#include "base/text.h"

#include <ctype.h>
#include <string.h>

/* ---- Stop words (closed sets, STYLE rule 16) ------------------------------------------------ */

static const char *const stop_search[] = {
    "a",     "about", "after", "again", "all",    "also",  "am",     "an",   "and",   "any",
    "are",   "as",    "at",    "be",    "been",   "but",   "by",     "can",  "could", "did",
    "do",    "does",  "for",   "from",  "get",    "got",   "had",    "has",  "have",  "he",
    "her",   "here",  "him",   "his",   "how",    "i",     "if",     "in",   "into",  "is",
    "it",    "its",   "just",  "me",    "more",   "most",  "my",     "no",   "not",   "of",
    "on",    "or",    "our",   "out",   "please", "she",   "should", "so",   "some",  "than",
    "that",  "the",   "their", "them",  "then",   "there", "these",  "they", "this",  "those",
    "to",    "too",   "up",    "us",    "very",   "was",   "we",     "were", "what",  "when",
    "where", "which", "who",   "why",   "will",   "with",  "would",  "you",  "your",  "yours",
    "s",     "t",     "don",   "cant",  "im",     "want",  "need",   "like", "help",  "tell",
    NULL,
};

static const char *const stop_model[] = {
    "a",    "an",   "the",    "to",     "of",    "and",       "or",     "it",     "its",
    "this", "that", "is",     "am",     "are",   "be",        "been",   "was",    "were",
    "i",    "me",   "my",     "mine",   "we",    "our",       "us",     "please", "just",
    "so",   "very", "really", "some",   "any",   "on",        "at",     "for",    "from",
    "by",   "with", "in",     "into",   "as",    "do",        "does",   "did",    "there",
    "then", "than", "also",   "too",    "would", "could",     "should", "will",   "shall",
    "have", "has",  "had",    "kindly", "im",    "currently", "about",  NULL,
};

int text_is_stop(const char *w, enum text_flavour flavour)
{
    const char *const *set = flavour == TEXT_FOR_SEARCH ? stop_search : stop_model;
    for (size_t i = 0; set[i]; i++)
        if (strcmp(w, set[i]) == 0)
            return 1;
    return 0;
}

/* ---- Words ---------------------------------------------------------------------------------- */

size_t text_next_word(const char **p, char w[TEXT_WORD_MAX])
{
    const unsigned char *s = (const unsigned char *)*p;
    size_t n = 0;
    while (*s && n == 0) {
        while (*s && !isalnum(*s))
            s++;
        while (*s && (isalnum(*s) || (*s == '\'' && isalpha(s[1])))) {
            if (n + 1 < TEXT_WORD_MAX && *s != '\'')
                w[n++] = (char)tolower(*s);
            s++;
        }
    }
    w[n] = '\0';
    *p = (const char *)s;
    return n;
}

/* ---- Stemming ------------------------------------------------------------------------------- */

static int ends_with(const char *w, size_t len, const char *suf)
{
    size_t sl = strlen(suf);
    return len >= sl && memcmp(w + len - sl, suf, sl) == 0;
}

/* Drops one letter of a final double consonant other than l, s, z when w has >= min letters. */
static void undouble(char *w, size_t min)
{
    size_t len = strlen(w);
    if (len >= min && w[len - 1] == w[len - 2] && !strchr("aeioulsz", w[len - 1]))
        w[len - 1] = '\0';
}

void text_stem(char *w, enum text_flavour flavour)
{
    /* The model undoubles only what -ing/-ed left ("shipp"), from 3 letters; search undoubles
     * any final pair from 4 letters ("staff" -> "staf" too). */
    int model = flavour == TEXT_FOR_MODEL;
    size_t len = strlen(w);
    if (len > 4 && (ends_with(w, len, "ies") || ends_with(w, len, "ied"))) {
        strcpy(w + len - 3, "y");
    } else if (len > 5 && ends_with(w, len, "ing")) {
        w[len - 3] = '\0';
        if (model)
            undouble(w, 3);
    } else if (len > 4 && ends_with(w, len, "ed") && !ends_with(w, len, "eed")) {
        w[len - 2] = '\0';
        if (model)
            undouble(w, 3);
    } else if (len > 3 && w[len - 1] == 's' && !ends_with(w, len, "ss") &&
               !ends_with(w, len, "us") && !ends_with(w, len, "is")) {
        w[len - 1] = '\0';
    }
    if (!model)
        undouble(w, 4);
    len = strlen(w);
    if (len > 4 && w[len - 1] == 'e')
        w[len - 1] = '\0';
}

const char *text_list_next(const char **cursor, size_t *len)
{
    const char *s = *cursor;
    while (*s) {
        size_t n = strcspn(s, ",");
        size_t a = 0, z = n;
        while (a < z && s[a] == ' ')
            a++;
        while (z > a && s[z - 1] == ' ')
            z--;
        *cursor = s[n] == ',' ? s + n + 1 : s + n;
        if (z > a) {
            *len = z - a;
            return s + a;
        }
        s = *cursor;
    }
    *cursor = s;
    return NULL;
}
