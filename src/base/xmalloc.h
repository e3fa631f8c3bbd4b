/*
 * xmalloc.h - allocation that never returns NULL.
 *
 * Our OOM policy (STYLE rule 14): running out of memory is not an input error we can report, so
 * every allocation goes through these wrappers, which log one line and abort on failure.
 * xmalloc_init() also routes jansson through them.
 */
#ifndef PARLEY_XMALLOC_H
#define PARLEY_XMALLOC_H

#include <stdarg.h>
#include <stddef.h>

/* Installs the wrappers as jansson's allocator. Call once at start-up, before any json_t exists. */
void xmalloc_init(void);

/* Each returns memory owned by the caller (release with free()); never returns NULL. */
void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

#endif
