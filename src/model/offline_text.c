/*
 * offline_text.c - utterance normalisation and feature extraction for the offline intent
 * classifier; see offline_text.h for the pipeline. Pure functions, no shared state.
 */
#include "model/offline_text.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/text.h"
#include "base/xmalloc.h"

/* ------------------------------------------------------------------------------------------------
 * Word list
 * --------------------------------------------------------------------------------------------- */

struct wordlist {
    size_t n;
    char *w[OFFLINE_TEXT_MAX_TOKENS];
};

static void wl_push(struct wordlist *wl, const char *s, size_t len)
{
    if (wl->n >= OFFLINE_TEXT_MAX_TOKENS || len == 0)
        return;
    wl->w[wl->n++] = xstrndup(s, len);
}

/* ------------------------------------------------------------------------------------------------
 * Tables (closed sets, STYLE rule 16)
 * --------------------------------------------------------------------------------------------- */

/* Contractions written without an apostrophe, and a few compact spellings. */
static const struct {
    const char *from;
    const char *to1;
    const char *to2; /* may be NULL */
} rewrites[] = {
    {"cant", "can", "not"},      {"cannot", "can", "not"},   {"dont", "do", "not"},
    {"doesnt", "does", "not"},   {"didnt", "did", "not"},    {"isnt", "is", "not"},
    {"wasnt", "was", "not"},     {"wont", "will", "not"},    {"arent", "are", "not"},
    {"havent", "have", "not"},   {"hasnt", "has", "not"},    {"couldnt", "could", "not"},
    {"wouldnt", "would", "not"}, {"aint", "is", "not"},      {"im", "i", "am"},
    {"ive", "i", "have"},        {"whats", "what", NULL},    {"wheres", "where", NULL},
    {"hows", "how", NULL},       {"2fa", "twofactor", NULL}, {"mfa", "twofactor", NULL},
    {"logon", "login", NULL},    {"signin", "login", NULL},  {"log-in", "login", NULL},
    {"pwd", "password", NULL},   {"pw", "password", NULL},   {"passwd", "password", NULL},
    {"thx", "thanks", NULL},     {"ty", "thanks", NULL},     {"pls", "please", NULL},
    {"plz", "please", NULL},     {"u", "you", NULL},         {"ur", "your", NULL},
    {"ord", "order", NULL},      {"tkt", "ticket", NULL},    {"acct", "account", NULL},
};

/* Synonyms folded onto one concept word, looked up by the raw word and then by its stem. This is
 * what lets twenty examples per intent generalise to wordings the data file never saw. */
static const struct {
    const char *from;
    const char *to;
} synonyms[] = {
    {"hi", "hello"},
    {"hey", "hello"},
    {"hiya", "hello"},
    {"heya", "hello"},
    {"howdy", "hello"},
    {"yo", "hello"},
    {"greetings", "hello"},
    {"goodbye", "bye"},
    {"farewell", "bye"},
    {"cya", "bye"},
    {"thank", "thanks"},
    {"thx", "thanks"},
    {"cheers", "thanks"},
    {"appreciate", "thanks"},
    {"appreciated", "thanks"},
    {"grateful", "thanks"},
    {"yeah", "yes"},
    {"yep", "yes"},
    {"yup", "yes"},
    {"sure", "yes"},
    {"ok", "yes"},
    {"okay", "yes"},
    {"alright", "yes"},
    {"nope", "no"},
    {"nah", "no"},
    {"incorrect", "wrong"},
    {"parcel", "package"},
    {"shipment", "package"},
    {"parcels", "package"},
    {"packages", "package"},
    {"reimburse", "refund"},
    {"reimbursed", "refund"},
    {"reimbursement", "refund"},
    {"person", "human"},
    {"agent", "human"},
    {"representative", "human"},
    {"rep", "human"},
    {"operator", "human"},
    {"staff", "human"},
    {"someone", "human"},
    {"somebody", "human"},
    {"people", "human"},
    {"humans", "human"},
    {"issue", "problem"},
    {"trouble", "problem"},
    {"problems", "problem"},
    {"issues", "problem"},
    {"bug", "broken"},
    {"crash", "broken"},
    {"crashes", "broken"},
    {"crashing", "broken"},
    {"crashed", "broken"},
    {"freezes", "broken"},
    {"freezing", "broken"},
    {"froze", "broken"},
    {"broke", "broken"},
    {"glitch", "broken"},
    {"receipt", "invoice"},
    {"receipts", "invoice"},
    {"bill", "invoice"},
    {"bills", "invoice"},
    {"statement", "invoice"},
    {"overcharged", "charge"},
    {"overcharge", "charge"},
    {"charged", "charge"},
    {"charges", "charge"},
    {"billed", "charge"},
    {"case", "ticket"},
    {"cases", "ticket"},
    {"purchase", "order"},
    {"purchases", "order"},
    {"erase", "delete"},
    {"wipe", "delete"},
    {"membership", "subscription"},
    {"plan", "subscription"},
    {"premium", "subscription"},
    {"terminate", "cancel"},
    {"quit", "cancel"},
    {"locked", "lock"},
    {"blocked", "lock"},
    {"block", "lock"},
    {"suspended", "lock"},
    {"frozen", "lock"},
    {"disabled", "lock"},
    {"deactivated", "lock"},
    {"restricted", "lock"},
    {"unblock", "unlock"},
    {"robot", "bot"},
    {"ai", "bot"},
    {"machine", "bot"},
    {"chatbot", "bot"},
    {"chatgpt", "bot"},
    {"automated", "bot"},
    {"login", "login"},
    {"logins", "login"},
    {"credentials", "login"},
    {"delivered", "arrive"},
    {"arrived", "arrive"},
    {"received", "arrive"},
    {"receive", "arrive"},
    {"come", "arrive"},
    {"came", "arrive"},
    {"furious", "angry"},
    {"upset", "angry"},
    {"unhappy", "angry"},
    {"frustrated", "angry"},
    {"disappointed", "angry"},
    {"annoyed", "angry"},
    {"terrible", "awful"},
    {"horrible", "awful"},
    {"worst", "awful"},
    {"useless", "awful"},
    {"unacceptable", "awful"},
    {"outrageous", "awful"},
    {"ridiculous", "awful"},
    {"telephone", "phone"},
    {"call", "phone"},
    {"news", "update"},
    {"updates", "update"},
    {"progress", "update"},
    {"nevermind", "forget"},
    {"sizes", "size"},
    {"large", "size"},
    {"small", "size"},
    {"medium", "size"},
    {"colour", "color"},
    {"colours", "color"},
    {"colors", "color"},
};

#define N_SYNONYMS (sizeof synonyms / sizeof synonyms[0])

/* The synonyms' indices in the order of their words, for a binary search (each word is looked up
 * twice, raw and stemmed: the table scan was 1.9% of a new-session turn's CPU samples). The
 * words are distinct, so the order is total. */
static unsigned char synonym_order[N_SYNONYMS];
static pthread_once_t synonym_once = PTHREAD_ONCE_INIT;

static int synonym_cmp(const void *a, const void *b)
{
    return strcmp(synonyms[*(const unsigned char *)a].from,
                  synonyms[*(const unsigned char *)b].from);
}

/* bsearch's comparison of the word key with the synonym an index names. */
static int synonym_key_cmp(const void *key, const void *elem)
{
    return strcmp(key, synonyms[*(const unsigned char *)elem].from);
}

static void synonym_order_init(void)
{
    for (size_t i = 0; i < N_SYNONYMS; i++)
        synonym_order[i] = (unsigned char)i;
    qsort(synonym_order, N_SYNONYMS, 1, synonym_cmp);
}

/* Returns the concept word for w (raw or stemmed), or NULL. */
static const char *synonym_of(const char *w)
{
    _Static_assert(N_SYNONYMS <= 256, "synonym_order holds bytes");
    pthread_once(&synonym_once, synonym_order_init);
    const unsigned char *at = bsearch(w, synonym_order, N_SYNONYMS, 1, synonym_key_cmp);
    return at ? synonyms[*at].to : NULL;
}

/* ------------------------------------------------------------------------------------------------
 * Stemmer
 * --------------------------------------------------------------------------------------------- */

void offline_text_stem(char *w)
{
    text_stem(w);
}

/* ------------------------------------------------------------------------------------------------
 * Scanning
 * --------------------------------------------------------------------------------------------- */

/* Returns 1 when chunk[0..len) looks like local@domain.tld. */
static int chunk_is_email(const char *c, size_t len)
{
    const char *at = memchr(c, '@', len);
    if (!at || at == c)
        return 0;
    const char *dot = memchr(at, '.', len - (size_t)(at - c));
    return dot && dot > at + 1 && dot < c + len - 1;
}

/* Returns 1 when chunk looks like a ticket id: optional '#', "tkt", optional '-', digits. */
static int chunk_is_ticket(const char *c, size_t len)
{
    size_t i = 0;
    if (i < len && c[i] == '#')
        i++;
    if (len - i < 4 || strncmp(c + i, "tkt", 3) != 0)
        return 0;
    i += 3;
    if (i < len && c[i] == '-')
        i++;
    size_t digits = 0;
    while (i < len && isdigit((unsigned char)c[i])) {
        i++;
        digits++;
    }
    return digits > 0;
}

static int word_char(unsigned char c)
{
    return isalnum(c) || c >= 0x80 || c == '\'';
}

/* Expands one word that may hold an apostrophe ("can't", "it's") into wl. */
static void push_word(struct wordlist *wl, char *w, size_t len)
{
    char *ap = memchr(w, '\'', len);
    if (ap) {
        size_t stem = (size_t)(ap - w);
        const char *suf = ap + 1;
        size_t suflen = len - stem - 1;
        if (suflen == 1 && suf[0] == 't' && stem > 0 && w[stem - 1] == 'n') {
            /* n't */
            if (stem == 3 && strncmp(w, "can", 3) == 0)
                wl_push(wl, "can", 3);
            else if (stem == 3 && strncmp(w, "won", 3) == 0)
                wl_push(wl, "will", 4);
            else if (stem == 3 && strncmp(w, "ain", 3) == 0)
                wl_push(wl, "is", 2);
            else
                wl_push(wl, w, stem - 1);
            wl_push(wl, "not", 3);
            return;
        }
        wl_push(wl, w, stem);
        if (suflen == 1 && suf[0] == 'm')
            wl_push(wl, "am", 2);
        else if (suflen == 2 && strncmp(suf, "re", 2) == 0)
            wl_push(wl, "are", 3);
        else if (suflen == 2 && strncmp(suf, "ve", 2) == 0)
            wl_push(wl, "have", 4);
        else if (suflen == 2 && strncmp(suf, "ll", 2) == 0)
            wl_push(wl, "will", 4);
        else if (suflen == 1 && suf[0] == 'd')
            wl_push(wl, "would", 5);
        /* 's and anything else: dropped */
        return;
    }
    for (size_t i = 0; i < sizeof rewrites / sizeof rewrites[0]; i++) {
        if (strlen(rewrites[i].from) == len && memcmp(rewrites[i].from, w, len) == 0) {
            wl_push(wl, rewrites[i].to1, strlen(rewrites[i].to1));
            if (rewrites[i].to2)
                wl_push(wl, rewrites[i].to2, strlen(rewrites[i].to2));
            return;
        }
    }
    int has_digit = 0;
    for (size_t i = 0; i < len; i++)
        if (isdigit((unsigned char)w[i]))
            has_digit = 1;
    if (has_digit) {
        wl_push(wl, "_num_", 5);
        return;
    }
    wl_push(wl, w, len);
}

/* Splits lower-cased text into raw words, replacing e-mails and ticket ids by placeholders. */
static void scan(struct wordlist *wl, char *s)
{
    size_t i = 0, n = strlen(s);
    while (i < n) {
        while (i < n && isspace((unsigned char)s[i]))
            i++;
        size_t start = i;
        while (i < n && !isspace((unsigned char)s[i]))
            i++;
        if (i == start)
            continue;
        char *c = s + start;
        size_t len = i - start;
        /* trailing punctuation does not belong to an address or an id */
        while (len > 0 && strchr(".,;:!?)\"'", c[len - 1]))
            len--;
        if (len == 0)
            continue;
        if (chunk_is_email(c, len)) {
            wl_push(wl, "_email_", 7);
            continue;
        }
        if (chunk_is_ticket(c, len)) {
            wl_push(wl, "_ticket_", 8);
            continue;
        }
        size_t j = 0;
        while (j < len) {
            while (j < len && !word_char((unsigned char)c[j]))
                j++;
            size_t ws = j;
            while (j < len && word_char((unsigned char)c[j]))
                j++;
            /* strip leading/trailing apostrophes used as quotes */
            size_t a = ws, b = j;
            while (a < b && c[a] == '\'')
                a++;
            while (b > a && c[b - 1] == '\'')
                b--;
            if (b > a)
                push_word(wl, c + a, b - a);
        }
    }
}

/* Replaces w[i] by word and frees what was there. */
static void wl_set(struct wordlist *wl, size_t i, const char *word)
{
    free(wl->w[i]);
    wl->w[i] = xstrdup(word);
}

/* Removes w[i] from the list. */
static void wl_remove(struct wordlist *wl, size_t i)
{
    free(wl->w[i]);
    memmove(&wl->w[i], &wl->w[i + 1], (wl->n - i - 1) * sizeof wl->w[0]);
    wl->n--;
}

static int in_set(const char *w, const char *const *set)
{
    for (; *set; set++)
        if (strcmp(w, *set) == 0)
            return 1;
    return 0;
}

/* Folds multi-word spellings: "log in" -> "login", "e mail" -> "email", "two factor" ->
 * "twofactor", "sign up" -> "signup". */
static void fold_phrases(struct wordlist *wl)
{
    static const char *const log_verbs[] = {"log",     "logging", "logged", "logs", "sign",
                                            "signing", "signed",  "signs",  NULL};
    static const char *const log_parts[] = {"in", "into", "on", "onto", NULL};
    static const char *const two[] = {"two", "2", "_num_", "multi", "multiple", NULL};
    static const char *const factor[] = {"factor", "step", "fa", NULL};
    for (size_t i = 0; i + 1 < wl->n; i++) {
        const char *a = wl->w[i], *b = wl->w[i + 1];
        if (in_set(a, log_verbs) && in_set(b, log_parts)) {
            wl_set(wl, i, "login");
            wl_remove(wl, i + 1);
        } else if (strcmp(a, "e") == 0 && strcmp(b, "mail") == 0) {
            wl_set(wl, i, "email");
            wl_remove(wl, i + 1);
        } else if (in_set(a, two) && in_set(b, factor)) {
            wl_set(wl, i, "twofactor");
            wl_remove(wl, i + 1);
        } else if (strcmp(a, "never") == 0 && strcmp(b, "mind") == 0) {
            wl_set(wl, i, "forget");
            wl_remove(wl, i + 1);
        } else if ((strcmp(a, "sign") == 0 || strcmp(a, "signing") == 0) && strcmp(b, "up") == 0) {
            wl_set(wl, i, "signup");
            wl_remove(wl, i + 1);
        }
    }
}

/* ------------------------------------------------------------------------------------------------
 * Features
 * --------------------------------------------------------------------------------------------- */

void offline_features_build(struct offline_features *f, const char *text)
{
    memset(f, 0, sizeof *f);
    size_t len = strnlen(text, OFFLINE_TEXT_MAX_INPUT);
    char *s = xmalloc(len + 1);
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        /* U+2019 (right single quote, e2 80 99) is an apostrophe */
        if (c == 0xe2 && i + 2 < len && (unsigned char)text[i + 1] == 0x80 &&
            (unsigned char)text[i + 2] == 0x99) {
            s[o++] = '\'';
            i += 2;
            continue;
        }
        s[o++] = (char)tolower(c);
    }
    s[o] = '\0';
    struct wordlist wl = {0};
    scan(&wl, s);
    free(s);
    fold_phrases(&wl);

    /* stop words out, stems in */
    size_t k = 0;
    for (size_t i = 0; i < wl.n; i++) {
        if (text_is_stop(wl.w[i], TEXT_FOR_MODEL)) {
            free(wl.w[i]);
            continue;
        }
        if (wl.w[i][0] != '_') {
            const char *syn = synonym_of(wl.w[i]);
            if (!syn) {
                offline_text_stem(wl.w[i]);
                syn = synonym_of(wl.w[i]);
            }
            if (syn)
                wl_set(&wl, i, syn);
        }
        wl.w[k++] = wl.w[i];
    }
    wl.n = k;

    f->items = xmalloc((2 * wl.n + 1) * sizeof f->items[0]);
    for (size_t i = 0; i < wl.n; i++)
        f->items[f->n++] = wl.w[i];
    f->n_unigrams = f->n;
    for (size_t i = 0; i + 1 < wl.n; i++) { /* "a|b", without a format per pair */
        size_t la = strlen(wl.w[i]), lb = strlen(wl.w[i + 1]);
        char *pair = xmalloc(la + lb + 2);
        memcpy(pair, wl.w[i], la);
        pair[la] = '|';
        memcpy(pair + la + 1, wl.w[i + 1], lb + 1);
        f->items[f->n++] = pair;
    }
}

void offline_features_release(struct offline_features *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->items[i]);
    free(f->items);
    memset(f, 0, sizeof *f);
}
