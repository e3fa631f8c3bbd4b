/*
 * kb.c - Markdown knowledge base with BM25 passage ranking; see kb.h for the format, the
 * tokenisation and the thread-safety contract (immutable after kb_load).
 */
#include "agent/kb.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/buf.h"
#include "base/text.h"
#include "base/xmalloc.h"

/* Paragraphs shorter than this join the next paragraph of their section. */
#define MIN_PASSAGE_CHARS 80
/* Tokens per query that count. */
#define MAX_QUERY_TERMS 64

/* ------------------------------------------------------------------------------------------------
 * Types
 * --------------------------------------------------------------------------------------------- */

struct article {
    char *name;  /* path relative to the kb root */
    char *title; /* first "# " heading or the name */
};

struct passage {
    size_t article; /* index into kb->articles */
    char *section;  /* nearest sub-heading, "" if none */
    char *text;     /* paragraph text */
    size_t len;     /* document length in tokens */
};

struct posting {
    uint32_t passage; /* index into kb->passages */
    uint32_t tf;      /* term frequency in that passage */
};

struct term {
    char *word;               /* stemmed token */
    struct posting *postings; /* ascending passage order */
    size_t n, cap;
};

struct kb {
    struct article *articles;
    size_t n_articles, cap_articles;
    struct passage *passages;
    size_t n_passages, cap_passages;
    struct term *terms; /* hash table, open addressing; word NULL = empty */
    size_t n_terms, cap_terms;
    double avg_len; /* average passage length in tokens */
};

/* ------------------------------------------------------------------------------------------------
 * Tokenisation
 * --------------------------------------------------------------------------------------------- */

struct toks {
    size_t n, cap;
    char **t;
};

static void toks_push(struct toks *tk, const char *w)
{
    if (tk->n == tk->cap) {
        tk->cap = tk->cap ? tk->cap * 2 : 32;
        tk->t = xrealloc(tk->t, tk->cap * sizeof tk->t[0]);
    }
    tk->t[tk->n++] = xstrdup(w);
}

static void toks_release(struct toks *tk)
{
    for (size_t i = 0; i < tk->n; i++)
        free(tk->t[i]);
    free(tk->t);
    memset(tk, 0, sizeof *tk);
}

/* Splits text into normalised tokens (appended to tk), at most max of them. */
static void tokenize(const char *text, size_t max, struct toks *tk)
{
    char w[TEXT_WORD_MAX];
    char prev[TEXT_WORD_MAX] = "";
    const char *p = text;
    while (*p && tk->n < max) {
        if (text_next_word(&p, w) == 0)
            continue;
        /* "log in", "sign in", "log on" -> "login"; "e mail" -> "email" */
        if ((strcmp(w, "in") == 0 || strcmp(w, "on") == 0 || strcmp(w, "into") == 0) &&
            (strcmp(prev, "log") == 0 || strcmp(prev, "sign") == 0 ||
             strcmp(prev, "logging") == 0 || strcmp(prev, "signing") == 0) &&
            tk->n > 0) {
            free(tk->t[tk->n - 1]);
            tk->t[tk->n - 1] = xstrdup("login");
            snprintf(prev, sizeof prev, "%s", w);
            continue;
        }
        if (strcmp(w, "mail") == 0 && strcmp(prev, "e") == 0) {
            toks_push(tk, "email");
            snprintf(prev, sizeof prev, "%s", w);
            continue;
        }
        snprintf(prev, sizeof prev, "%s", w);
        if (strcmp(w, "signin") == 0 || strcmp(w, "logon") == 0)
            strcpy(w, "login");
        if (strcmp(w, "log") == 0 || strcmp(w, "sign") == 0 || strcmp(w, "logging") == 0 ||
            strcmp(w, "signing") == 0) {
            /* kept so a following "in" can fold it; unfolded it is still a useful word */
            toks_push(tk, w);
            continue;
        }
        if (text_is_stop(w, TEXT_FOR_SEARCH))
            continue;
        text_stem(w, TEXT_FOR_SEARCH);
        if (w[0])
            toks_push(tk, w);
    }
}

/* ------------------------------------------------------------------------------------------------
 * Index
 * --------------------------------------------------------------------------------------------- */

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

static const struct term *term_find(const struct kb *kb, const char *word)
{
    if (kb->cap_terms == 0)
        return NULL;
    size_t j = hash_str(word) & (kb->cap_terms - 1);
    while (kb->terms[j].word) {
        if (strcmp(kb->terms[j].word, word) == 0)
            return &kb->terms[j];
        j = (j + 1) & (kb->cap_terms - 1);
    }
    return NULL;
}

static struct term *term_get(struct kb *kb, const char *word)
{
    if (2 * (kb->n_terms + 1) > kb->cap_terms) {
        size_t ncap = kb->cap_terms ? kb->cap_terms * 2 : 1024;
        struct term *nt = xcalloc(ncap, sizeof nt[0]);
        for (size_t i = 0; i < kb->cap_terms; i++) {
            if (!kb->terms[i].word)
                continue;
            size_t j = hash_str(kb->terms[i].word) & (ncap - 1);
            while (nt[j].word)
                j = (j + 1) & (ncap - 1);
            nt[j] = kb->terms[i];
        }
        free(kb->terms);
        kb->terms = nt;
        kb->cap_terms = ncap;
    }
    size_t j = hash_str(word) & (kb->cap_terms - 1);
    while (kb->terms[j].word) {
        if (strcmp(kb->terms[j].word, word) == 0)
            return &kb->terms[j];
        j = (j + 1) & (kb->cap_terms - 1);
    }
    kb->terms[j].word = xstrdup(word);
    kb->n_terms++;
    return &kb->terms[j];
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Indexes passage pi: its text plus its article title and section heading. */
static void index_passage(struct kb *kb, size_t pi)
{
    struct passage *p = &kb->passages[pi];
    struct toks tk = {0};
    tokenize(kb->articles[p->article].title, SIZE_MAX, &tk);
    /* a section heading names what its paragraphs answer: it counts twice */
    tokenize(p->section, SIZE_MAX, &tk);
    tokenize(p->section, SIZE_MAX, &tk);
    tokenize(p->text, SIZE_MAX, &tk);
    p->len = tk.n;
    if (tk.n > 1)
        qsort(tk.t, tk.n, sizeof tk.t[0], cmp_str);
    for (size_t i = 0; i < tk.n;) {
        size_t j = i;
        while (j < tk.n && strcmp(tk.t[j], tk.t[i]) == 0)
            j++;
        struct term *t = term_get(kb, tk.t[i]);
        if (t->n == t->cap) {
            t->cap = t->cap ? t->cap * 2 : 4;
            t->postings = xrealloc(t->postings, t->cap * sizeof t->postings[0]);
        }
        t->postings[t->n].passage = (uint32_t)pi;
        t->postings[t->n].tf = (uint32_t)(j - i);
        t->n++;
        i = j;
    }
    toks_release(&tk);
}

/* ------------------------------------------------------------------------------------------------
 * Markdown parsing
 * --------------------------------------------------------------------------------------------- */

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

static void add_passage(struct kb *kb, size_t article, const char *section, const char *text)
{
    if (kb->n_passages == kb->cap_passages) {
        kb->cap_passages = kb->cap_passages ? kb->cap_passages * 2 : 64;
        kb->passages = xrealloc(kb->passages, kb->cap_passages * sizeof kb->passages[0]);
    }
    struct passage *p = &kb->passages[kb->n_passages++];
    p->article = article;
    p->section = xstrdup(section);
    p->text = xstrdup(text);
    p->len = 0;
}

/* 1 when line starts a Markdown list item: "- ", "* ", "1. " or "1) " (a wrapped line that merely
 * starts with a number, like "16:00 on Saturdays", is not one). */
static int is_list_item(const char *line)
{
    if ((line[0] == '-' || line[0] == '*') && line[1] == ' ')
        return 1;
    size_t d = 0;
    while (d < 9 && isdigit((unsigned char)line[d]))
        d++;
    return d > 0 && (line[d] == '.' || line[d] == ')') && line[d + 1] == ' ';
}

/* Appends line to the paragraph buffer, joining wrapped lines with a space and list items with a
 * newline. */
static void para_append(struct buf *para, const char *line)
{
    if (para->len > 0)
        buf_add_char(para, is_list_item(line) ? '\n' : ' ');
    buf_add_str(para, line);
}

/* Splits one article's text (NUL-terminated, modified in place) into passages. */
static void parse_article(struct kb *kb, size_t ai, char *text)
{
    char *section = xstrdup("");
    struct buf para; /* joins lines, each in place of its '\n': never longer than text */
    buf_init(&para, strlen(text) + 1);
    int in_code = 0;
    char *line = text;
    while (line) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        char *t = trim(line);
        line = nl ? nl + 1 : NULL;
        int fence = strncmp(t, "```", 3) == 0;
        if (fence) {
            in_code = !in_code;
            continue;
        }
        int heading = !in_code && t[0] == '#';
        int blank = t[0] == '\0';
        /* a paragraph ends at a blank line or a heading; short ones wait for the next */
        if ((heading || blank) && para.len > 0 && (heading || para.len >= MIN_PASSAGE_CHARS)) {
            add_passage(kb, ai, section, buf_str(&para));
            buf_reset(&para);
        }
        if (heading) {
            const char *h = t;
            int level = 0;
            while (*h == '#') {
                h++;
                level++;
            }
            h = trim((char *)h);
            if (level == 1) {
                if (strcmp(kb->articles[ai].title, kb->articles[ai].name) == 0) {
                    free(kb->articles[ai].title);
                    kb->articles[ai].title = xstrdup(h);
                }
            } else {
                free(section);
                section = xstrdup(h);
            }
            continue;
        }
        if (!blank)
            para_append(&para, t);
    }
    if (para.len > 0)
        add_passage(kb, ai, section, buf_str(&para));
    buf_release(&para);
    free(section);
}

static int read_file(const char *path, char **out, size_t *len, struct err *err)
{
    int rc = -1;
    char *buf = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        err_set(err, "KbLoadFailed", "cannot open '%s': %s", path, strerror(errno));
        goto out;
    }
    buf = xmalloc(KB_MAX_FILE_BYTES + 1);
    size_t n = fread(buf, 1, KB_MAX_FILE_BYTES + 1, f);
    if (ferror(f)) {
        err_set(err, "KbLoadFailed", "cannot read '%s'", path);
        goto out;
    }
    if (n > KB_MAX_FILE_BYTES) {
        err_set(err, "KbLoadFailed", "'%s' is larger than %d bytes", path, KB_MAX_FILE_BYTES);
        goto out;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    buf = NULL;
    rc = 0;
out:
    if (f)
        fclose(f);
    free(buf);
    return rc;
}

/* ------------------------------------------------------------------------------------------------
 * Loading
 * --------------------------------------------------------------------------------------------- */

struct name_list {
    size_t n, cap;
    char **v; /* relative paths */
};

static void names_push(struct name_list *nl, char *name)
{
    if (nl->n == nl->cap) {
        nl->cap = nl->cap ? nl->cap * 2 : 32;
        nl->v = xrealloc(nl->v, nl->cap * sizeof nl->v[0]);
    }
    nl->v[nl->n++] = name;
}

/* Collects *.md paths under root/rel (rel "" for the root). */
static int collect(const char *root, const char *rel, int depth, struct name_list *nl,
                   struct err *err)
{
    int rc = -1;
    char *dirpath = rel[0] ? xasprintf("%s/%s", root, rel) : xstrdup(root);
    DIR *d = opendir(dirpath);
    if (!d) {
        err_set(err, "KbLoadFailed", "cannot open knowledge base directory '%s': %s", dirpath,
                strerror(errno));
        goto out;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char *relname = rel[0] ? xasprintf("%s/%s", rel, de->d_name) : xstrdup(de->d_name);
        char *full = xasprintf("%s/%s", root, relname);
        struct stat st;
        int ok = stat(full, &st) == 0;
        free(full);
        size_t l = strlen(de->d_name);
        if (ok && S_ISDIR(st.st_mode) && depth < KB_MAX_DEPTH) {
            int sub = collect(root, relname, depth + 1, nl, err);
            free(relname);
            if (sub != 0)
                goto out;
        } else if (ok && S_ISREG(st.st_mode) && l > 3 && strcmp(de->d_name + l - 3, ".md") == 0) {
            if (nl->n >= KB_MAX_FILES) {
                free(relname);
                err_set(err, "KbLoadFailed", "'%s' holds more than %d articles", root,
                        KB_MAX_FILES);
                goto out;
            }
            names_push(nl, relname);
        } else {
            free(relname);
        }
    }
    rc = 0;
out:
    if (d)
        closedir(d);
    free(dirpath);
    return rc;
}

struct kb *kb_load(const char *dir, struct err *err)
{
    struct kb *kb = xcalloc(1, sizeof *kb);
    struct name_list nl = {0};
    const char *root = dir ? dir : KB_DEFAULT_DIR;
    int ok = 0;
    if (collect(root, "", 0, &nl, err) != 0)
        goto out;
    if (nl.n > 1)
        qsort(nl.v, nl.n, sizeof nl.v[0], cmp_str);
    kb->articles = xcalloc(nl.n + 1, sizeof kb->articles[0]);
    for (size_t i = 0; i < nl.n; i++) {
        char *path = xasprintf("%s/%s", root, nl.v[i]);
        char *raw = NULL;
        size_t len = 0;
        int rrc = read_file(path, &raw, &len, err);
        free(path);
        if (rrc != 0)
            goto out;
        size_t ai = kb->n_articles++;
        kb->articles[ai].name = xstrdup(nl.v[i]);
        kb->articles[ai].title = xstrdup(nl.v[i]);
        (void)len;
        parse_article(kb, ai, raw);
        free(raw);
    }
    if (kb->n_passages == 0) {
        err_set(err, "KbEmpty", "knowledge base directory '%s' holds no *.md article with text",
                root);
        goto out;
    }
    double total = 0;
    for (size_t i = 0; i < kb->n_passages; i++) {
        index_passage(kb, i);
        total += (double)kb->passages[i].len;
    }
    kb->avg_len = total / (double)kb->n_passages;
    ok = 1;
out:
    for (size_t i = 0; i < nl.n; i++)
        free(nl.v[i]);
    free(nl.v);
    if (!ok) {
        kb_free(kb);
        kb = NULL;
    }
    return kb;
}

void kb_free(struct kb *kb)
{
    if (!kb)
        return;
    for (size_t i = 0; i < kb->n_articles; i++) {
        free(kb->articles[i].name);
        free(kb->articles[i].title);
    }
    free(kb->articles);
    for (size_t i = 0; i < kb->n_passages; i++) {
        free(kb->passages[i].section);
        free(kb->passages[i].text);
    }
    free(kb->passages);
    for (size_t i = 0; i < kb->cap_terms; i++) {
        free(kb->terms[i].word);
        free(kb->terms[i].postings);
    }
    free(kb->terms);
    free(kb);
}

size_t kb_article_count(const struct kb *kb)
{
    return kb->n_articles;
}

size_t kb_passage_count(const struct kb *kb)
{
    return kb->n_passages;
}

/* ------------------------------------------------------------------------------------------------
 * Search
 * --------------------------------------------------------------------------------------------- */

/* 1 when the query asks how to do something ("how do I ...", "how can I ...", "how to ..."). */
static int is_how_question(const char *query)
{
    const char *p = query;
    while (*p && isspace((unsigned char)*p))
        p++;
    return strncasecmp(p, "how ", 4) == 0 || strcasestr(query, "how do ") ||
           strcasestr(query, "how can ") || strcasestr(query, "how to ");
}

/* 1 when a section heading describes a procedure: "How to return an item", "Changing or adding
 * a card", "Turning on two-factor authentication", "Tracking your order". */
static int is_procedural(const char *section)
{
    if (strncasecmp(section, "How to ", 7) == 0)
        return 1;
    size_t n = strcspn(section, " ");
    return n > 4 && strncasecmp(section + n - 3, "ing", 3) == 0;
}

/* Re-ranks BM25 scores with two signals a passage's own words miss: the article's title (a query
 * word in "Refunds" makes every passage of that article more likely the answer than a passage
 * about refunds elsewhere), and, for how-questions, sections that describe a procedure. */
static void rerank(const struct kb *kb, const char *query, const struct toks *q, double *score)
{
    double *title_boost = xcalloc(kb->n_articles, sizeof *title_boost);
    for (size_t a = 0; a < kb->n_articles; a++) {
        struct toks tt = {0};
        tokenize(kb->articles[a].title, MAX_QUERY_TERMS, &tt);
        size_t hits = 0;
        for (size_t i = 0; i < q->n; i++)
            for (size_t j = 0; j < tt.n; j++)
                if (strcmp(q->t[i], tt.t[j]) == 0) {
                    hits++;
                    break;
                }
        title_boost[a] = 1.0 + KB_TITLE_BOOST * (double)hits;
        toks_release(&tt);
    }
    int how = is_how_question(query);
    for (size_t i = 0; i < kb->n_passages; i++) {
        if (score[i] <= 0)
            continue;
        const struct passage *p = &kb->passages[i];
        score[i] *= title_boost[p->article];
        if (how && is_procedural(p->section))
            score[i] *= KB_PROCEDURE_BOOST;
    }
    free(title_boost);
}

int kb_search(const struct kb *kb, const char *query, size_t k, struct kb_hit *out, struct err *err)
{
    if (!query)
        return err_set(err, "InvalidQuery", "query is missing");
    size_t qlen = strnlen(query, KB_MAX_QUERY + 1);
    if (qlen > KB_MAX_QUERY)
        return err_set(err, "InvalidQuery", "query is longer than %d bytes", KB_MAX_QUERY);
    int blank = 1;
    for (size_t i = 0; i < qlen; i++)
        if (!isspace((unsigned char)query[i]))
            blank = 0;
    if (blank)
        return err_set(err, "InvalidQuery", "query is empty");
    if (k == 0 || k > KB_MAX_RESULTS)
        return err_set(err, "InvalidQuery", "k must be between 1 and %d", KB_MAX_RESULTS);

    struct toks tk = {0};
    tokenize(query, MAX_QUERY_TERMS, &tk);
    if (tk.n > 1)
        qsort(tk.t, tk.n, sizeof tk.t[0], cmp_str);
    double *score = xcalloc(kb->n_passages, sizeof(double));
    double n = (double)kb->n_passages;
    for (size_t i = 0; i < tk.n; i++) {
        if (i > 0 && strcmp(tk.t[i], tk.t[i - 1]) == 0)
            continue; /* each query term counts once */
        const struct term *t = term_find(kb, tk.t[i]);
        if (!t)
            continue;
        double df = (double)t->n;
        double idf = log(1.0 + (n - df + 0.5) / (df + 0.5));
        for (size_t j = 0; j < t->n; j++) {
            const struct posting *po = &t->postings[j];
            double tf = (double)po->tf;
            double dl = (double)kb->passages[po->passage].len;
            double norm = KB_K1 * (1.0 - KB_B + KB_B * dl / kb->avg_len);
            score[po->passage] += idf * tf * (KB_K1 + 1.0) / (tf + norm);
        }
    }
    rerank(kb, query, &tk, score);
    toks_release(&tk);

    /* top k by selection: k is small (<= KB_MAX_RESULTS) */
    size_t found = 0;
    for (size_t i = 0; i < kb->n_passages; i++) {
        if (score[i] <= 0)
            continue;
        /* insertion into out[0..found), strictly greater moves ahead: ties keep file order */
        size_t pos = found;
        while (pos > 0 && score[i] > out[pos - 1].score)
            pos--;
        if (pos >= k)
            continue;
        size_t last = found < k ? found : k - 1;
        memmove(&out[pos + 1], &out[pos], (last - pos) * sizeof out[0]);
        const struct passage *p = &kb->passages[i];
        out[pos].article = kb->articles[p->article].name;
        out[pos].title = kb->articles[p->article].title;
        out[pos].section = p->section;
        out[pos].passage = p->text;
        out[pos].score = score[i];
        if (found < k)
            found++;
    }
    free(score);
    return (int)found;
}

json_t *kb_search_json(const struct kb *kb, const char *query, size_t k, struct err *err)
{
    struct kb_hit hits[KB_MAX_RESULTS];
    int n = kb_search(kb, query, k, hits, err);
    if (n < 0)
        return NULL;
    json_t *results = json_array();
    for (int i = 0; i < n; i++) {
        /* rounded so the JSON is stable across platforms' last-bit differences */
        double score = round(hits[i].score * 10000.0) / 10000.0;
        json_array_append_new(results,
                              json_pack("{s:s, s:s, s:s, s:s, s:f}", "article", hits[i].article,
                                        "title", hits[i].title, "section", hits[i].section,
                                        "passage", hits[i].passage, "score", score));
    }
    return json_pack("{s:o}", "results", results);
}
