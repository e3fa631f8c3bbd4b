/*
 * utf8.h - strict UTF-8 validation (RFC 3629: no overlongs, no surrogates, max U+10FFFF).
 */
#ifndef PARLEY_UTF8_H
#define PARLEY_UTF8_H

#include <stddef.h>

/* Returns -1 if s[0..len) is valid UTF-8, else the byte offset of the first invalid sequence. */
long utf8_invalid_at(const char *s, size_t len);

/* Number of code points in a valid UTF-8 string. */
size_t utf8_length(const char *s);

#endif
