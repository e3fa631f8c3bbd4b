/*
 * buf.h - one growable byte buffer and string builder, with a size cap.
 *
 * A struct buf is embedded by its owner, initialised with the largest size it may ever reach
 * (STYLE rule 12: every input has a cap), appended to, and then either released or handed over
 * with buf_take(). The contents are always NUL-terminated once anything has been appended, so a
 * buffer of text can be read as a C string. Growth doubles, so appends are amortised O(1).
 * An append that would pass the cap fails and leaves the buffer exactly as it was.
 * Memory comes from xmalloc (OOM aborts, rule 14), so the only failure is the cap.
 */
#ifndef PARLEY_BUF_H
#define PARLEY_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
    char *data; /* NULL until the first append; NUL-terminated after it */
    size_t len; /* bytes held, not counting the terminating NUL */
    size_t cap; /* bytes allocated, including room for the NUL */
    size_t max; /* the most bytes len may reach (the "toobig" cap) */
};

/* ---- Lifecycle ------------------------------------------------------------------------------ */

/* Makes b empty with room for at most max bytes (0 allows only the empty string). Allocates
 * nothing: data stays NULL until the first successful append or reserve (even of 0 bytes). */
void buf_init(struct buf *b, size_t max);

/* Frees the contents; b is left empty with the same cap, ready to reuse or drop. */
void buf_release(struct buf *b);

/* Empties b but keeps its allocation for reuse. */
void buf_reset(struct buf *b);

/* Hands the contents to the caller (free() them) and leaves b empty. Returns a NUL-terminated
 * string, "" (freshly allocated) if nothing was appended; never NULL. Stores the length in *len
 * when len is not NULL. */
char *buf_take(struct buf *b, size_t *len);

/* ---- Appending ------------------------------------------------------------------------------ */
/* Each returns 0, or -1 if the result would pass the cap, in which case b is unchanged. */

int buf_add(struct buf *b, const void *p, size_t n);
int buf_add_str(struct buf *b, const char *s);
int buf_add_char(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* Makes room for n more bytes without appending them (a reader then writes into
 * b->data + b->len and calls buf_commit). Returns 0 or -1 past the cap. */
int buf_reserve(struct buf *b, size_t n);

/* Records that n bytes were written after b->len (n must fit in what buf_reserve made room
 * for) and re-terminates the string. */
void buf_commit(struct buf *b, size_t n);

/* ---- Reading -------------------------------------------------------------------------------- */

/* The contents as a C string: "" (static) while empty; owned by b, valid until the next change. */
const char *buf_str(const struct buf *b);

#endif
