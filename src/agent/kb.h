/*
 * kb.h - the knowledge base behind the `search_knowledge_base` tool: Markdown articles split into
 * passages, indexed in SQLite FTS5 and ranked with its BM25.
 *
 * kb_load() reads every `*.md` file under a directory (default `kb/`, subdirectories included up to
 * KB_MAX_DEPTH), takes each article's title from its first `# ` heading, and splits the body into
 * passages: one per paragraph (a run of non-blank lines; list items stay together), each tagged
 * with its nearest `##`/`###` heading; very short paragraphs join the next one in their section.
 * Each passage is a row of an FTS5 table (columns title, section, body; tokenizer `porter
 * unicode61 remove_diacritics 2`, so "refunds", "refunded" -> "refund" and "café" matches "cafe")
 * in a private in-memory SQLite database the kb owns. The title column is in every passage of
 * its article, so "refund policy" finds the paragraphs of the refunds article even when they never
 * say "refund"; the section column weighs KB_WEIGHT_SECTION times the body, so the paragraph under
 * "How to reset your password" outranks a passing mention.
 *
 * A query is the customer's text: it is reduced to its content words (lower-case ASCII letters and
 * digits, without English stop words; "log in", "sign in" -> "login" which also matches those
 * phrases), each quoted and OR-ed, so no FTS5 syntax in it ever reaches SQLite. Ranking is FTS5's
 * bm25() (k1 = 1.2, b = 0.75) with the column weights, then re-ranked: each query word in the
 * article's title (compared stemmed by base/text's stemmer) multiplies its passages' scores by
 * 1 + KB_TITLE_BOOST, two neighbouring query words that are neighbours in the section heading
 * ("password reset email", "The reset email did not arrive") by KB_HEADING_PAIR_BOOST, and for
 * how-questions a section that describes a procedure ("How to ...", "Changing ...") by
 * KB_PROCEDURE_BOOST. Each hit carries FTS5's snippet() of its passage with the
 * matched words between KB_MARK_OPEN and KB_MARK_CLOSE.
 *
 * A loaded kb is immutable; searches run on a small pool of connections to the index (a search
 * holds one without parking, see sqlpool.h), so any number of threads may search it at once.
 */
#ifndef PARLEY_KB_H
#define PARLEY_KB_H

#include <jansson.h>
#include <stddef.h>

#include "base/err.h"

#define KB_DEFAULT_DIR "kb"
#define KB_MAX_FILES 1000              /* articles per knowledge base */
#define KB_MAX_FILE_BYTES (256 * 1024) /* bytes per article */
#define KB_MAX_DEPTH 4                 /* subdirectory levels searched below the root */
#define KB_MAX_QUERY 1000              /* bytes per query */
#define KB_MAX_RESULTS 20              /* largest k kb_search accepts */
#define KB_WEIGHT_TITLE 1.0            /* bm25() weight of the title column (body: 1) */
#define KB_WEIGHT_SECTION 2.0          /* bm25() weight of the section heading column */
#define KB_TITLE_BOOST 0.25            /* per query word in the article's title */
#define KB_PROCEDURE_BOOST 1.3         /* how-questions: sections that describe a procedure */
#define KB_HEADING_PAIR_BOOST 1.3      /* two neighbouring query words neighbours in the heading */
#define KB_SNIPPET_TOKENS 24           /* words in a snippet */
#define KB_SNIPPET_MAX 512             /* bytes of a snippet, with its NUL */
#define KB_MARK_OPEN "**"              /* snippet: before a matched word (Markdown bold) */
#define KB_MARK_CLOSE "**"             /* snippet: after a matched word */

struct kb;

/* One search result. Every pointer is borrowed from the kb and lives as long as it does; the
 * snippet is the hit's own. */
struct kb_hit {
    const char *article; /* file name relative to the kb directory, e.g. "refunds.md" */
    const char *title;   /* the article's first "# " heading (the file name if it has none) */
    const char *section; /* the passage's nearest "##"/"###" heading, or "" */
    const char *passage; /* the passage text, Markdown as written */
    char snippet[KB_SNIPPET_MAX]; /* a window of the passage around the matched words, marked */
    double score;                 /* BM25 score (re-ranked), > 0 */
    size_t row;                   /* the passage's index in the kb */
};

/* ---- lifecycle ---- */

/* Loads every *.md file under dir (NULL means KB_DEFAULT_DIR). Returns a new kb owned by the
 * caller (kb_free), or NULL with err: "KbLoadFailed" when the directory cannot be read, a file
 * cannot be read or exceeds KB_MAX_FILE_BYTES, or there are more than KB_MAX_FILES articles;
 * "KbEmpty" when it holds no article with text. The message names the path. */
struct kb *kb_load(const char *dir, struct err *err);

/* Frees the kb; NULL is a no-op. */
void kb_free(struct kb *kb);

/* ---- inspection ---- */

size_t kb_article_count(const struct kb *kb);
size_t kb_passage_count(const struct kb *kb);

/* ---- search ---- */

/* Ranks the passages for query and writes the best min(k, matches) to out[0..k), best first
 * (equal scores keep file order). Returns the number written (0 when no passage shares a word with
 * the query, or the query has only stop words and punctuation), or -1 with err: "InvalidQuery"
 * when the query is NULL, empty or only whitespace, longer than KB_MAX_QUERY bytes, or k is 0 or
 * above KB_MAX_RESULTS; "KbSearchFailed" when SQLite fails. Thread-safe. */
int kb_search(const struct kb *kb, const char *query, size_t k, struct kb_hit *out,
              struct err *err);

/* kb_search as the tool result: a new object {"results": [{"article", "title", "section",
 * "passage", "snippet", "score"}]} owned by the caller, or NULL with err as kb_search. */
json_t *kb_search_json(const struct kb *kb, const char *query, size_t k, struct err *err);

#endif
