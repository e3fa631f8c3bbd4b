/*
 * text.h - the word-level text helpers shared by the knowledge base's search (src/agent/kb.c)
 * and the offline model's features (src/model/offline_text.c): splitting text into lower-case
 * words, the stop-word lists and the one light English suffix stemmer.
 *
 * The knowledge base's index stems with SQLite FTS5's porter tokenizer; outside it (the title
 * re-ranking) kb uses this stemmer, the offline model's, whose rules its trained weights freeze.
 * The two users keep different stop-word lists (one named flavour each rather than a second copy
 * upstairs). Input is ASCII-lower-cased; other bytes pass through untouched.
 *
 * It also holds the shared regular expressions of the text classifiers (text_re): glibc's
 * regexec() locks the regex_t it runs, so one compiled pattern matched by every request thread
 * lets one thread classify at a time. A text_re keeps a small free list of compiled copies
 * instead: a match borrows an idle copy (compiling another one when all are in use) and gives
 * it back, so there are at most as many copies as threads ever matched it at once.
 */
#ifndef PARLEY_TEXT_H
#define PARLEY_TEXT_H

#include <regex.h>
#include <stddef.h>

enum text_flavour {
    TEXT_FOR_SEARCH, /* knowledge-base queries */
    TEXT_FOR_MODEL,  /* offline intent classifier features */
};

/* The longest word text_next_word() writes, including the NUL. */
#define TEXT_WORD_MAX 64

/* ---- Words ---------------------------------------------------------------------------------- */

/* Reads the next word at *p: skips bytes that are not ASCII letters or digits, then takes
 * letters, digits and apostrophes followed by a letter ("don't" -> "dont"), lower-cased, into
 * w[TEXT_WORD_MAX] (longer words are cut, the rest of them skipped). Advances *p past the word.
 * Returns the word's length, 0 when the text is exhausted. */
size_t text_next_word(const char **p, char w[TEXT_WORD_MAX]);

/* Returns 1 when w (lower-case, NUL-terminated) is a stop word of the flavour, else 0. */
int text_is_stop(const char *w, enum text_flavour flavour);

/* The next item of a comma-separated list (settings such as PARLEY_TRUSTED_PROXIES): *cursor
 * points into the list and is advanced past the item and its comma. Returns the item, trimmed of
 * spaces, with its length in *len (not NUL-terminated; borrowed from the list), skipping empty
 * items; NULL when the list is exhausted. */
const char *text_list_next(const char **cursor, size_t *len);

/* ---- Shared regular expressions ------------------------------------------------------------ */

struct text_re;

/* Compiles pattern with regcomp() flags cflags. Returns a new text_re owned by the caller
 * (text_re_free), or NULL when the pattern does not compile, with regerror()'s message in
 * why[why_len] (why may be NULL). */
struct text_re *text_re_new(const char *pattern, int cflags, char *why, size_t why_len);

/* regexec() of s against the pattern, on a copy no other thread is using: returns 0 on a match,
 * REG_NOMATCH otherwise; m[0..nmatch) as regexec fills it. Thread-safe. */
int text_re_exec(struct text_re *re, const char *s, size_t nmatch, regmatch_t *m, int eflags);

/* Frees re and every copy; NULL is a no-op. No match may be running. */
void text_re_free(struct text_re *re);

/* ---- Stemming ------------------------------------------------------------------------------- */

/* Stems w (lower-case ASCII, NUL-terminated) in place, only ever shortening it: -ies/-ied ->
 * -y, -ing, -ed (not -eed), plural -s (not -ss/-us/-is), a final double consonant left over
 * ("shipp" -> "ship", keeping ll/ss/zz), then a final -e on words over 4 letters.
 * ("refunds", "refunded", "refunding" -> "refund"; "invoices" -> "invoic".) */
void text_stem(char *w);

#endif
