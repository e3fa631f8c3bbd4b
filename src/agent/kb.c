/*
 * kb.c - Markdown knowledge base indexed in SQLite FTS5; see kb.h for the format, the ranking and
 * the thread-safety contract. The articles and passages live here; the FTS5 table holds a copy of
 * their text in a private in-memory database that only answers which passages match and how well.
 */
#include "agent/kb.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/sqlpool.h"
#include "base/text.h"
#include "base/utf8.h"
#include "base/xmalloc.h"

/* Paragraphs shorter than this join the next paragraph of their section. */
#define MIN_PASSAGE_CHARS 80
/* Words per query that count. */
#define MAX_QUERY_TERMS 64
/* Connections to the index: searches beyond this many at once wait for one (a search takes well
 * under a millisecond, and the connection is held without parking, see sqlpool.h). */
#define KB_POOL_SIZE 4

/* ------------------------------------------------------------------------------------------------
 * Types
 * --------------------------------------------------------------------------------------------- */

struct article {
    char *name;        /* path relative to the kb root */
    char *title;       /* first "# " heading or the name */
    char *title_words; /* the title's stemmed words, each followed by a space: " pay method " */
};

struct passage {
    size_t article; /* index into kb->articles */
    char *section;  /* nearest sub-heading, "" if none */
    char *text;     /* paragraph text */
    char *section_words; /* the section's stemmed words (stemmed_words) */
};

struct kb {
    struct article *articles;
    size_t n_articles, cap_articles;
    struct passage *passages; /* passage i is row i of the FTS5 table */
    size_t n_passages, cap_passages;
    struct sqlpool *index; /* the FTS5 table's private in-memory database */
};

/* The index's statements (sqlpool's table). Column weights multiply a term's frequency in that
 * column before BM25's saturation: a section heading names what its paragraphs answer. */
enum { Q_CREATE, Q_BEGIN, Q_INSERT, Q_COMMIT, Q_MATCH, Q_SNIPPET, Q_COUNT };

#define KB__STR(x) #x
#define KB_STR(x) KB__STR(x)

static const char *const index_sql[Q_COUNT] = {
    [Q_CREATE] = "CREATE VIRTUAL TABLE passage USING fts5(title, section, body, "
                 "tokenize = 'porter unicode61 remove_diacritics 2')",
    [Q_BEGIN] = "BEGIN",
    [Q_INSERT] = "INSERT INTO passage(rowid, title, section, body) VALUES (?1, ?2, ?3, ?4)",
    [Q_COMMIT] = "COMMIT",
    [Q_MATCH] = "SELECT rowid, bm25(passage, " KB_STR(KB_WEIGHT_TITLE) ", " KB_STR(
        KB_WEIGHT_SECTION) ", 1.0) FROM passage WHERE passage MATCH ?1",
    [Q_SNIPPET] = "SELECT snippet(passage, 2, '" KB_MARK_OPEN "', '" KB_MARK_CLOSE
                  "', '...', " KB_STR(KB_SNIPPET_TOKENS) ") FROM passage "
                                                         "WHERE passage MATCH ?1 AND rowid = ?2",
};

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
                    (is_login_verb(prev) && (strcmp(w, "in") == 0 || strcmp(w, "on") == 0 ||
                                             strcmp(w, "into") == 0));
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
    p->section_words = stemmed_words(section);
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

/* Fails with a message naming path and the line of the first byte that is not UTF-8 text (an
 * invalid sequence, or a NUL that would silently end the article). Returns 0 or -1. */
static int check_text(const char *path, const char *raw, size_t len, struct err *err)
{
    long bad = utf8_invalid_at(raw, len);
    const char *nul = memchr(raw, '\0', len);
    if (nul && (bad < 0 || nul - raw < bad))
        bad = nul - raw;
    if (bad < 0)
        return 0;
    int line = 1;
    for (long i = 0; i < bad; i++)
        line += raw[i] == '\n';
    return err_set(err, "KbLoadFailed", "'%s' line %d: %s", path, line,
                   raw[bad] == '\0' ? "NUL byte in the text" : "not valid UTF-8");
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
    for (size_t i = 0; i < kb->n_passages; i++) {
        const struct passage *p = &kb->passages[i];
        sqlite3_stmt *st = sqlpool_stmt(c, Q_INSERT, err);
        if (!st)
            goto out;
        sqlite3_bind_int64(st, 1, (sqlite3_int64)i);
        sqlite3_bind_text(st, 2, kb->articles[p->article].title, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, p->section, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, p->text, -1, SQLITE_STATIC);
        int step = sqlite3_step(st);
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

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

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
        if (rrc == 0)
            rrc = check_text(path, raw, len, err);
        free(path);
        if (rrc != 0) {
            free(raw);
            goto out;
        }
        size_t ai = kb->n_articles++;
        kb->articles[ai].name = xstrdup(nl.v[i]);
        kb->articles[ai].title = xstrdup(nl.v[i]);
        parse_article(kb, ai, raw);
        kb->articles[ai].title_words = stemmed_words(kb->articles[ai].title);
        free(raw);
    }
    if (kb->n_passages == 0) {
        err_set(err, "KbEmpty", "knowledge base directory '%s' holds no *.md article with text",
                root);
        goto out;
    }
    if (index_build(kb, err) != 0)
        goto out;
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
    sqlpool_close(kb->index);
    for (size_t i = 0; i < kb->n_articles; i++) {
        free(kb->articles[i].name);
        free(kb->articles[i].title);
        free(kb->articles[i].title_words);
    }
    free(kb->articles);
    for (size_t i = 0; i < kb->n_passages; i++) {
        free(kb->passages[i].section);
        free(kb->passages[i].text);
        free(kb->passages[i].section_words);
    }
    free(kb->passages);
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
    for (size_t i = 0; i < kb->n_passages; i++) {
        if (score[i] <= 0)
            continue;
        const struct passage *p = &kb->passages[i];
        score[i] *= 1.0 + KB_TITLE_BOOST * (double)count_in(kb->articles[p->article].title_words,
                                                             sq, 1);
        if (count_in(p->section_words, sq, 2) > 0)
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
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        sqlite3_int64 row = sqlite3_column_int64(st, 0);
        if (row >= 0 && (size_t)row < n)
            score[row] = -sqlite3_column_double(st, 1); /* FTS5's bm25() is better when lower */
    }
    sqlite3_reset(st);
    if (step != SQLITE_DONE)
        return sqlpool_fail(c, err, "searching the knowledge base");
    return 0;
}

/* Writes FTS5's snippet of passage row for match into out[KB_SNIPPET_MAX], cut at a character
 * boundary when longer. Returns 0 or -1 with err. */
static int index_snippet(struct sqlpool_conn *c, const char *match, size_t row, char *out,
                         struct err *err)
{
    sqlite3_stmt *st = sqlpool_stmt(c, Q_SNIPPET, err);
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, match, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)row);
    int step = sqlite3_step(st);
    const char *text = step == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
    size_t n = text ? strlen(text) : 0;
    if (n >= KB_SNIPPET_MAX) {
        n = KB_SNIPPET_MAX - 1;
        while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80)
            n--; /* text[n] starts the character that no longer fits */
    }
    memcpy(out, text ? text : "", n);
    out[n] = '\0';
    sqlite3_reset(st);
    if (step != SQLITE_ROW)
        return sqlpool_fail(c, err, "making a snippet");
    return 0;
}

/* Writes the best min(k, matches) of score[] to out, best first, ties in passage order. Returns
 * the number written. */
static size_t top_k(const struct kb *kb, const double *score, size_t k, struct kb_hit *out)
{
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
    score = xcalloc(kb->n_passages, sizeof *score);
    c = sqlpool_acquire(kb->index);
    if (index_match(c, match, score, kb->n_passages, err) != 0)
        goto out;
    rerank(kb, query, &q, score);
    size_t found = top_k(kb, score, k, out);
    for (size_t i = 0; i < found; i++)
        if (index_snippet(c, match, out[i].row, out[i].snippet, err) != 0)
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
        json_array_append_new(
            results, json_pack("{s:s, s:s, s:s, s:s, s:s, s:f}", "article", hits[i].article,
                               "title", hits[i].title, "section", hits[i].section, "passage",
                               hits[i].passage, "snippet", hits[i].snippet, "score", score));
    }
    out = json_pack("{s:o}", "results", results);
done:
    free(hits);
    return out;
}
