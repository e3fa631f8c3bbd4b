/*
 * kb.h - the knowledge base behind the `search_knowledge_base` tool: Markdown articles split into
 * passages and ranked with BM25.
 *
 * kb_load() reads every `*.md` file under a directory (default `kb/`, subdirectories included up to
 * KB_MAX_DEPTH), takes each article's title from its first `# ` heading, and splits the body into
 * passages: one per paragraph (a run of non-blank lines; list items stay together), each tagged
 * with its nearest `##`/`###` heading; very short paragraphs join the next one in their section.
 * A passage is indexed with its article title and (counted twice) its section heading, so
 * "refund policy" finds the paragraphs of the refunds article even when they never say "refund",
 * and the paragraph under "How to reset your password" outranks a passing mention.
 *
 * Ranking is Okapi BM25 (k1 = 1.2, b = 0.75, idf = ln(1 + (N - df + 0.5) / (df + 0.5))) over
 * tokens that are lower-cased, stripped of English stop words and lightly stemmed ("refunds",
 * "refunded" -> "refund"; "log in", "sign in" -> "login"), then re-ranked: each query word in the
 * article's title multiplies its passages' scores by 1 + KB_TITLE_BOOST, and for how-questions
 * a section that describes a procedure ("How to ...", "Changing ...") by KB_PROCEDURE_BOOST.
 *
 * A loaded kb is immutable, so any number of threads may search it at once without locking.
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
#define KB_K1 1.2
#define KB_B 0.75
#define KB_TITLE_BOOST 0.25    /* per query word in the article's title */
#define KB_PROCEDURE_BOOST 1.3 /* how-questions: sections that describe a procedure */

struct kb;

/* One search result. Every pointer is borrowed from the kb and lives as long as it does. */
struct kb_hit {
    const char *article; /* file name relative to the kb directory, e.g. "refunds.md" */
    const char *title;   /* the article's first "# " heading (the file name if it has none) */
    const char *section; /* the passage's nearest "##"/"###" heading, or "" */
    const char *passage; /* the passage text, Markdown as written */
    double score;        /* BM25 score, > 0 */
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
 * the query), or -1 with err "InvalidQuery" when the query is NULL, empty or only whitespace,
 * longer than KB_MAX_QUERY bytes, or k is 0 or above KB_MAX_RESULTS. */
int kb_search(const struct kb *kb, const char *query, size_t k, struct kb_hit *out,
              struct err *err);

/* kb_search as the tool result: a new object {"results": [{"article", "title", "section",
 * "passage", "score"}]} owned by the caller, or NULL with err as kb_search. */
json_t *kb_search_json(const struct kb *kb, const char *query, size_t k, struct err *err);

#endif
