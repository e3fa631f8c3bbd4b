/*
 * fuzz.h - what every fuzz target shares: the libFuzzer entry point (each fuzz/<target>.c defines
 * it; libFuzzer or fuzz/replay.c calls it) and small helpers to turn raw bytes into the inputs our
 * parsers take. A target must never leak, crash or hang on any input; it returns 0 always.
 */
#ifndef PARLEY_FUZZ_H
#define PARLEY_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Runs one input through the code under test. Defined once per target. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Returns a new NUL-terminated copy of data[0..size) (free()); an embedded NUL ends it early,
 * as it would for a C string read from the network. */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        abort();
    if (size)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* A model_delta_fn for the provider targets: adds the text's length to *(size_t *)ud. */
static inline void fuzz_count_delta(void *ud, const char *text)
{
    *(size_t *)ud += strlen(text);
}

/* Where the provider and stream targets cut the rest of an input (the bytes after the selector
 * byte sel, n of them) in two feeds: a position in 0..n picked by sel. */
static inline size_t fuzz_cut(uint8_t sel, size_t n)
{
    return (size_t)sel % (n + 1);
}

#endif
