/*
 * err.h - errors as values.
 *
 * A fallible function returns -1 (or NULL) and fills the caller's struct err with a stable code
 * (for example "InvalidRequest", "States.Timeout", "NotFound") and a human message that says
 * exactly what is wrong. The HTTP layer maps codes to statuses (see http/api.c).
 */
#ifndef PARLEY_ERR_H
#define PARLEY_ERR_H

/* A struct err is 512 bytes. It lives on the stack of nearly every frame between a request and
 * its model call, and a parked turn keeps those frames: at 1,120 bytes (a 1,024-byte message) a
 * held turn's fiber touched 26 KB of stack, at 512 it touches 17.5 KB (bench/README.md). Longer
 * messages (a quoted provider reply) are cut at ERR_MSG_MAX - 1 bytes. */
#define ERR_CODE_MAX 96
#define ERR_MSG_MAX 416

struct err {
    char code[ERR_CODE_MAX];   /* stable machine-readable code; "" when no error */
    char message[ERR_MSG_MAX]; /* one sentence for a person; truncated if longer */
};

/* Clears the error. Accepts NULL. */
void err_clear(struct err *e);

/* Fills e (if not NULL) and returns -1, so callers can write `return err_set(e, ...)`. */
int err_set(struct err *e, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Returns 1 when e holds an error. */
int err_is_set(const struct err *e);

#endif
