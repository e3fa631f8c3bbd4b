/* text.c - words, stop words and the light stemmer; see text.h. */
#include "base/text.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xmalloc.h"

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
    for (size_t i = 0; set[i]; i++) /* the first letters first: strcmp only on a likely match */
        if (set[i][0] == w[0] && strcmp(w, set[i]) == 0)
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

/* Drops one letter of a final double consonant other than l, s, z ("shipp" -> "ship"). */
static void undouble(char *w)
{
    size_t len = strlen(w);
    if (len >= 3 && w[len - 1] == w[len - 2] && !strchr("aeioulsz", w[len - 1]))
        w[len - 1] = '\0';
}

void text_stem(char *w)
{
    size_t len = strlen(w);
    if (len > 4 && (ends_with(w, len, "ies") || ends_with(w, len, "ied"))) {
        strcpy(w + len - 3, "y");
    } else if (len > 5 && ends_with(w, len, "ing")) {
        w[len - 3] = '\0';
        undouble(w);
    } else if (len > 4 && ends_with(w, len, "ed") && !ends_with(w, len, "eed")) {
        w[len - 2] = '\0';
        undouble(w);
    } else if (len > 3 && w[len - 1] == 's' && !ends_with(w, len, "ss") &&
               !ends_with(w, len, "us") && !ends_with(w, len, "is")) {
        w[len - 1] = '\0';
    }
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

/* ---- Shared regular expressions ------------------------------------------------------------ */

struct re_copy {
    regex_t re;           /* one compiled copy of the pattern */
    struct re_copy *next; /* free-list link while idle */
    struct re_copy *all;  /* every copy, for text_re_free */
};

struct text_re {
    char *pattern;          /* as compiled */
    int cflags;             /* regcomp() flags */
    pthread_mutex_t lock;   /* guards idle and copies */
    struct re_copy *idle;   /* copies no thread is using */
    struct re_copy *copies; /* every copy (linked through all) */
};

struct text_re *text_re_new(const char *pattern, int cflags, char *why, size_t why_len)
{
    struct re_copy *c = xcalloc(1, sizeof *c);
    int rc = regcomp(&c->re, pattern, cflags);
    if (rc != 0) {
        if (why && why_len)
            regerror(rc, &c->re, why, why_len);
        free(c);
        return NULL;
    }
    struct text_re *r = xcalloc(1, sizeof *r);
    r->pattern = xstrdup(pattern);
    r->cflags = cflags;
    pthread_mutex_init(&r->lock, NULL);
    r->idle = r->copies = c;
    return r;
}

/* Takes an idle copy, or compiles a new one when every copy is in use. */
static struct re_copy *re_take(struct text_re *r)
{
    pthread_mutex_lock(&r->lock);
    struct re_copy *c = r->idle;
    if (c)
        r->idle = c->next;
    pthread_mutex_unlock(&r->lock);
    if (c)
        return c;
    c = xcalloc(1, sizeof *c);
    if (regcomp(&c->re, r->pattern, r->cflags) != 0) {
        /* The same pattern compiled in text_re_new: only memory can run out here (rule 14). */
        fprintf(stderr, "text_re: cannot compile a copy of '%s'\n", r->pattern);
        abort();
    }
    pthread_mutex_lock(&r->lock);
    c->all = r->copies;
    r->copies = c;
    pthread_mutex_unlock(&r->lock);
    return c;
}

int text_re_exec(struct text_re *r, const char *s, size_t nmatch, regmatch_t *m, int eflags)
{
    struct re_copy *c = re_take(r);
    int rc = regexec(&c->re, s, nmatch, m, eflags);
    pthread_mutex_lock(&r->lock);
    c->next = r->idle;
    r->idle = c;
    pthread_mutex_unlock(&r->lock);
    return rc;
}

void text_re_free(struct text_re *r)
{
    if (!r)
        return;
    for (struct re_copy *c = r->copies, *next; c; c = next) {
        next = c->all;
        regfree(&c->re);
        free(c);
    }
    pthread_mutex_destroy(&r->lock);
    free(r->pattern);
    free(r);
}
