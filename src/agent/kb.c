/*
 * kb.c - the knowledge base's index and search: the passages kb_md.c reads, in an SQLite FTS5
 * table of a private in-memory database, searched with customer text made safe for FTS5 and
 * re-ranked; see kb.h for the ranking and the thread-safety contract.
 */
#include "agent/kb.h"

#include <ctype.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/kb_md.h"
#include "base/buf.h"
#include "base/jsonb.h"
#include "base/sqlpool.h"
#include "base/text.h"
#include "base/xmalloc.h"

/* Words per query that count. */
#define MAX_QUERY_TERMS 64
/* Connections to the index: searches beyond this many at once wait for one (a search takes well
 * under a millisecond, and the connection is held without parking, see sqlpool.h). */
#define KB_POOL_SIZE 4

/* ------------------------------------------------------------------------------------------------
 * Types
 * --------------------------------------------------------------------------------------------- */

struct kb {
    struct kb_md md;       /* the articles and passages; passage i is row i of the FTS5 table */
    char **title_words;    /* per article: its title's stemmed words (stemmed_words) */
    char **section_words;  /* per passage: its section heading's stemmed words */
    struct sqlpool *index; /* the FTS5 table's private in-memory database */
};

/* The index's statements (sqlpool's table). Column weights multiply a term's frequency in that
 * column before BM25's saturation: a section heading names what its paragraphs answer. */
enum { Q_CREATE, Q_BEGIN, Q_INSERT, Q_COMMIT, Q_MATCH, Q_SNIPPETS, Q_COUNT };

#define KB__STR(x) #x
#define KB_STR(x) KB__STR(x)
/* The ranking and the passage window, as SQL. */
#define RANK_SQL "bm25(passage, " KB_STR(KB_WEIGHT_TITLE) ", " KB_STR(KB_WEIGHT_SECTION) ", 1.0)"
#define SNIPPET_SQL                                                                                \
    "snippet(passage, 2, '" KB_MARK_OPEN "', '" KB_MARK_CLOSE                                      \
    "', '...', " KB_STR(KB_SNIPPET_TOKENS) ")"

static const char *const index_sql[Q_COUNT] = {
    [Q_CREATE] = "CREATE VIRTUAL TABLE passage USING fts5(title, section, body, "
                 "tokenize = 'porter unicode61 remove_diacritics 2')",
    [Q_BEGIN] = "BEGIN",
    [Q_INSERT] = "INSERT INTO passage(rowid, title, section, body) VALUES (?1, ?2, ?3, ?4)",
    [Q_COMMIT] = "COMMIT",
    [Q_MATCH] = "SELECT rowid, " RANK_SQL " FROM passage WHERE passage MATCH ?1",
    /* the hits' snippets in one query: the unary plus keeps the rowids out of FTS5's plan (one
     * MATCH for the list, not one per rowid), and snippet() runs only for the rows listed */
    [Q_SNIPPETS] = "SELECT rowid, " SNIPPET_SQL
                   " FROM passage WHERE passage MATCH ?1 AND +rowid IN "
                   "(?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, "
                   "?19, ?20, ?21)",
};
_Static_assert(KB_MAX_RESULTS == 20, "Q_SNIPPETS lists KB_MAX_RESULTS rowids");

/* ------------------------------------------------------------------------------------------------
 * Words
 * --------------------------------------------------------------------------------------------- */

/* 1 when w is one of the words that, followed by "in"/"on"/"into", mean logging in. */
static int is_login_verb(const char *w)
{
    return strcmp(w, "log") == 0 || strcmp(w, "sign") == 0 || strcmp(w, "logging") == 0 ||
           strcmp(w, "signing") == 0;
}

static int is_login_word(const char *w)
{
    return strcmp(w, "login") == 0 || strcmp(w, "signin") == 0 || strcmp(w, "logon") == 0;
}

/* Appends w to the list of query words q (a buffer of NUL-terminated words) unless it is there. */
static void words_add(struct buf *q, size_t *n, const char *w)
{
    for (const char *s = buf_str(q); s < buf_str(q) + q->len; s += strlen(s) + 1)
        if (strcmp(s, w) == 0)
            return;
    buf_add(q, w, strlen(w) + 1);
    (*n)++;
}

/* The customer's query as content words: lower-case ASCII words (text_next_word, so no FTS5
 * syntax character survives), without the search stop words, each once; "log in", "sign in",
 * "signin", "logon" become "login" and "e mail" "email". Fills q; returns the word count. */
static size_t query_words(const char *query, struct buf *q)
{
    char w[TEXT_WORD_MAX], prev[TEXT_WORD_MAX] = "";
    const char *p = query;
    size_t n = 0;
    while (n < MAX_QUERY_TERMS && text_next_word(&p, w) > 0) {
        int login = is_login_word(w) ||
                    (is_login_verb(prev) &&
                     (strcmp(w, "in") == 0 || strcmp(w, "on") == 0 || strcmp(w, "into") == 0));
        int email = strcmp(prev, "e") == 0 && strcmp(w, "mail") == 0;
        snprintf(prev, sizeof prev, "%s", w);
        if (login)
            words_add(q, &n, "login");
        else if (email)
            words_add(q, &n, "email");
        else if (!text_is_stop(w, TEXT_FOR_SEARCH) && !is_login_verb(w))
            words_add(q, &n, w);
    }
    return n;
}

/* The FTS5 query for words: each word a quoted string (the words hold only [a-z0-9], so quoting
 * cannot be escaped), OR-ed; "login" also matches the phrases "log in" and "sign in" of the
 * articles. Returns a new string owned by the caller. */
static char *fts_query(const struct buf *q)
{
    struct buf b;
    buf_init(&b, q->len * 4 + 128);
    for (const char *s = buf_str(q); s < buf_str(q) + q->len; s += strlen(s) + 1) {
        if (b.len > 0)
            buf_add_str(&b, " OR ");
        if (strcmp(s, "login") == 0)
            buf_add_str(&b, "\"login\" OR \"log in\" OR \"sign in\"");
        else
            buf_printf(&b, "\"%s\"", s);
    }
    return buf_take(&b, NULL);
}

/* The words of a heading without stop words, stemmed, each followed by a space and the whole led
 * by one: " refund polic ". Returns a new string owned by the caller. */
static char *stemmed_words(const char *title)
{
    struct buf b;
    buf_init(&b, 2 * strlen(title) + 2);
    buf_add_char(&b, ' ');
    char w[TEXT_WORD_MAX];
    const char *p = title;
    while (text_next_word(&p, w) > 0) {
        if (text_is_stop(w, TEXT_FOR_SEARCH))
            continue;
        text_stem(w);
        buf_printf(&b, "%s ", w);
    }
    return buf_take(&b, NULL);
}

/* ------------------------------------------------------------------------------------------------
 * Index
 * --------------------------------------------------------------------------------------------- */

/* Opens the kb's private in-memory database (a memdb every connection of the pool shares, named
 * uniquely in the process) and fills the FTS5 table with every passage. Returns 0 or -1 with err
 * "KbLoadFailed". */
static int index_build(struct kb *kb, struct err *err)
{
    static atomic_ulong serial;
    char name[96];
    snprintf(name, sizeof name, "file:/parley-kb-%ld-%lu?vfs=memdb", (long)getpid(),
             atomic_fetch_add(&serial, 1));
    int rc = -1;
    struct sqlpool_conn *c = NULL;
    kb->index = sqlpool_open(name, KB_POOL_SIZE, index_sql, Q_COUNT, NULL, "KbSearchFailed", err);
    if (!kb->index)
        goto out;
    c = sqlpool_acquire(kb->index);
    if (sqlpool_exec(c, Q_CREATE, err) != 0 || sqlpool_exec(c, Q_BEGIN, err) != 0)
        goto out;
    for (size_t i = 0; i < kb->md.n_passages; i++) {
        const struct kb_md_passage *p = &kb->md.passages[i];
        sqlite3_stmt *st = sqlpool_stmt(c, Q_INSERT, err);
        if (!st)
            goto out;
        sqlite3_bind_int64(st, 1, (sqlite3_int64)i);
        sqlite3_bind_text(st, 2, kb->md.articles[p->article].title, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, p->section, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, p->text, -1, SQLITE_STATIC);
        int step = sqlpool_step(st);
        sqlite3_reset(st);
        if (step != SQLITE_DONE) {
            sqlpool_fail(c, err, "indexing a passage");
            goto out;
        }
    }
    rc = sqlpool_exec(c, Q_COMMIT, err);
out:
    if (c)
        sqlpool_release(kb->index, c);
    if (rc != 0 && err) /* the pool's errors are search errors; this one happened loading */
        snprintf(err->code, sizeof err->code, "KbLoadFailed");
    return rc;
}

/* ------------------------------------------------------------------------------------------------
 * Loading
 * --------------------------------------------------------------------------------------------- */

struct kb *kb_load(const char *dir, struct err *err)
{
    struct kb *kb = xcalloc(1, sizeof *kb);
    if (kb_md_load(&kb->md, dir ? dir : KB_DEFAULT_DIR, err) != 0) {
        free(kb);
        return NULL;
    }
    kb->title_words = xcalloc(kb->md.n_articles, sizeof *kb->title_words);
    for (size_t i = 0; i < kb->md.n_articles; i++)
        kb->title_words[i] = stemmed_words(kb->md.articles[i].title);
    kb->section_words = xcalloc(kb->md.n_passages, sizeof *kb->section_words);
    for (size_t i = 0; i < kb->md.n_passages; i++)
        kb->section_words[i] = stemmed_words(kb->md.passages[i].section);
    if (index_build(kb, err) != 0) {
        kb_free(kb);
        return NULL;
    }
    return kb;
}

void kb_free(struct kb *kb)
{
    if (!kb)
        return;
    sqlpool_close(kb->index);
    for (size_t i = 0; i < kb->md.n_articles; i++)
        free(kb->title_words[i]);
    free(kb->title_words);
    for (size_t i = 0; i < kb->md.n_passages; i++)
        free(kb->section_words[i]);
    free(kb->section_words);
    kb_md_release(&kb->md);
    free(kb);
}

size_t kb_article_count(const struct kb *kb)
{
    return kb->md.n_articles;
}

size_t kb_passage_count(const struct kb *kb)
{
    return kb->md.n_passages;
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

/* Counts the words (n = 1) or the pairs of neighbouring words (n = 2) of the stemmed query sq
 * (" a b c ") that occur as such in the stemmed words of a heading (" x a b "). */
static size_t count_in(const char *heading, const char *sq, int n)
{
    size_t hits = 0;
    /* w is the space before a word of sq, end the space after the n-th word from there */
    for (const char *w = sq; w && w[1]; w = strchr(w + 1, ' ')) {
        const char *end = w;
        for (int i = 0; i < n && end; i++)
            end = strchr(end + 1, ' ');
        if (!end)
            break;
        char needle[2 * TEXT_WORD_MAX + 4];
        snprintf(needle, sizeof needle, "%.*s", (int)(end - w + 1), w);
        hits += strstr(heading, needle) != NULL;
    }
    return hits;
}

/* Re-ranks the BM25 scores with signals a passage's own words miss: the article's title (a
 * query word in "Refunds" makes every passage of that article more likely the answer than a
 * passage about refunds elsewhere), two neighbouring query words that are neighbours in the
 * section heading too ("password reset email" and "The reset email did not arrive"), and, for
 * how-questions, sections that describe a procedure. Words are compared without stop words and
 * stemmed by base/text's stemmer. */
static void rerank(const struct kb *kb, const char *query, const struct buf *q, double *score)
{
    struct buf sqb; /* the query words stemmed: " a b c " */
    buf_init(&sqb, q->len + 2);
    buf_add_char(&sqb, ' ');
    for (const char *w = buf_str(q); w < buf_str(q) + q->len; w += strlen(w) + 1) {
        char st[TEXT_WORD_MAX];
        snprintf(st, sizeof st, "%s", w);
        text_stem(st);
        buf_printf(&sqb, "%s ", st);
    }
    char *sq = buf_take(&sqb, NULL);
    int how = is_how_question(query);
    for (size_t i = 0; i < kb->md.n_passages; i++) {
        if (score[i] <= 0)
            continue;
        const struct kb_md_passage *p = &kb->md.passages[i];
        score[i] *= 1.0 + KB_TITLE_BOOST * (double)count_in(kb->title_words[p->article], sq, 1);
        if (count_in(kb->section_words[i], sq, 2) > 0)
            score[i] *= KB_HEADING_PAIR_BOOST;
        if (how && is_procedural(p->section))
            score[i] *= KB_PROCEDURE_BOOST;
    }
    free(sq);
}

/* Scores every passage matching match into score[] (0 for the others). Returns 0 or -1 with err. */
static int index_match(struct sqlpool_conn *c, const char *match, double *score, size_t n,
                       struct err *err)
{
    sqlite3_stmt *st = sqlpool_stmt(c, Q_MATCH, err);
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, match, -1, SQLITE_STATIC);
    int step;
    while ((step = sqlpool_step(st)) == SQLITE_ROW) {
        sqlite3_int64 row = sqlite3_column_int64(st, 0);
        if (row >= 0 && (size_t)row < n)
            score[row] = -sqlite3_column_double(st, 1); /* FTS5's bm25() is better when lower */
    }
    sqlite3_reset(st);
    if (step != SQLITE_DONE)
        return sqlpool_fail(c, err, "searching the knowledge base");
    return 0;
}

/* Copies snippet text into out[KB_SNIPPET_MAX], cut at a character boundary when longer. */
static void snippet_copy(char *out, const char *text)
{
    size_t n = text ? strlen(text) : 0;
    if (n >= KB_SNIPPET_MAX) {
        n = KB_SNIPPET_MAX - 1;
        while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80)
            n--; /* text[n] starts the character that no longer fits */
    }
    memcpy(out, text ? text : "", n);
    out[n] = '\0';
}

/* Fills the snippet of each of the n hits (FTS5's window of its passage around what match found)
 * with one query. Returns 0, or -1 with err (SQLite failed, or a hit's row did not match). */
static int index_snippets(struct sqlpool_conn *c, const char *match, struct kb_hit *hits, size_t n,
                          struct err *err)
{
    sqlite3_stmt *st = sqlpool_stmt(c, Q_SNIPPETS, err);
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, match, -1, SQLITE_STATIC);
    for (size_t i = 0; i < KB_MAX_RESULTS; i++) /* -1: no passage's rowid */
        sqlite3_bind_int64(st, (int)i + 2, i < n ? (sqlite3_int64)hits[i].row : -1);
    size_t filled = 0;
    int step;
    while ((step = sqlpool_step(st)) == SQLITE_ROW) {
        sqlite3_int64 row = sqlite3_column_int64(st, 0);
        for (size_t i = 0; i < n; i++)
            if ((sqlite3_int64)hits[i].row == row) {
                snippet_copy(hits[i].snippet, (const char *)sqlite3_column_text(st, 1));
                filled++;
            }
    }
    sqlite3_reset(st);
    if (step != SQLITE_DONE)
        return sqlpool_fail(c, err, "making snippets");
    if (filled != n)
        return err_set(err, "KbSearchFailed", "%zu of %zu hits have no snippet", n - filled, n);
    return 0;
}

/* Writes the best min(k, matches) of score[] to out, best first, ties in passage order. Returns
 * the number written. */
static size_t top_k(const struct kb *kb, const double *score, size_t k, struct kb_hit *out)
{
    size_t found = 0;
    for (size_t i = 0; i < kb->md.n_passages; i++) {
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
        const struct kb_md_passage *p = &kb->md.passages[i];
        out[pos].article = kb->md.articles[p->article].name;
        out[pos].title = kb->md.articles[p->article].title;
        out[pos].section = p->section;
        out[pos].passage = p->text;
        out[pos].snippet[0] = '\0';
        out[pos].score = score[i];
        out[pos].row = i;
        if (found < k)
            found++;
    }
    return found;
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

    int rc = -1;
    struct buf q;
    buf_init(&q, 2 * KB_MAX_QUERY + 16);
    char *match = NULL;
    double *score = NULL;
    struct sqlpool_conn *c = NULL;
    if (query_words(query, &q) == 0) {
        rc = 0; /* only stop words and punctuation: nothing to look for */
        goto out;
    }
    match = fts_query(&q);
    score = xcalloc(kb->md.n_passages, sizeof *score);
    c = sqlpool_acquire(kb->index);
    if (index_match(c, match, score, kb->md.n_passages, err) != 0)
        goto out;
    rerank(kb, query, &q, score);
    size_t found = top_k(kb, score, k, out);
    if (found && index_snippets(c, match, out, found, err) != 0)
        goto out;
    rc = (int)found;
out:
    if (c)
        sqlpool_release(kb->index, c);
    free(score);
    free(match);
    buf_release(&q);
    return rc;
}

json_t *kb_search_json(const struct kb *kb, const char *query, size_t k, struct err *err)
{
    struct kb_hit *hits = xcalloc(KB_MAX_RESULTS, sizeof *hits);
    json_t *out = NULL;
    int n = kb_search(kb, query, k, hits, err);
    if (n < 0)
        goto done;
    json_t *results = json_array();
    for (int i = 0; i < n; i++) {
        /* rounded so the JSON is stable across platforms' last-bit differences */
        double score = round(hits[i].score * 10000.0) / 10000.0;
        json_array_append_new(results, jsonb_object("article", jsonb_str(hits[i].article), "title",
                                                    jsonb_str(hits[i].title), "section",
                                                    jsonb_str(hits[i].section), "passage",
                                                    jsonb_str(hits[i].passage), "snippet",
                                                    jsonb_str(hits[i].snippet), "score",
                                                    json_real(score), NULL));
    }
    out = jsonb_object("results", results, NULL);
done:
    free(hits);
    return out;
}
