/*
 * text.h - the word-level text helpers shared by the knowledge base's search (src/agent/kb.c)
 * and the offline model's features (src/model/offline_text.c): splitting text into lower-case
 * words, the stop-word lists and the light English suffix stemmer.
 *
 * The two users grew slightly different rules (different stop words; the search stemmer also
 * undoubles a final consonant pair that was not left by a suffix), and both are frozen by tests
 * and the offline model's trained weights. So each rule set is one named flavour here rather
 * than a second copy upstairs. Input is ASCII-lower-cased; other bytes pass through untouched.
 */
#ifndef PARLEY_TEXT_H
#define PARLEY_TEXT_H

#include <stddef.h>

enum text_flavour {
    TEXT_FOR_SEARCH, /* knowledge-base retrieval (BM25 terms) */
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

/* ---- Stemming ------------------------------------------------------------------------------- */

/* Stems w (lower-case ASCII, NUL-terminated) in place, only ever shortening it: -ies/-ied ->
 * -y, -ing, -ed (not -eed), plural -s (not -ss/-us/-is), a final double consonant left over
 * ("shipp" -> "ship", keeping ll/ss/zz), then a final -e on words over 4 letters.
 * ("refunds", "refunded", "refunding" -> "refund"; "invoices" -> "invoic".) */
void text_stem(char *w, enum text_flavour flavour);

#endif
