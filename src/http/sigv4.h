/*
 * sigv4.h - AWS Signature Version 4 request signing (HMAC-SHA256, OpenSSL).
 *
 * sigv4_sign() turns one HTTP request into the canonical request, the string to sign and the
 * Authorization header, and lists the headers the caller must add before sending it. The path is
 * the path exactly as it goes on the wire (already percent-encoded); for every service but S3 it is
 * normalised and percent-encoded once more, so a Bedrock path `/model/a.b-v2%3A0/invoke` signs as
 * `/model/a.b-v2%253A0/invoke`. S3 signs the wire path as it is and also signs
 * x-amz-content-sha256. The signing time is an input, so tests run with a fixed clock.
 * Proven against the AWS SigV4 test suite (tests/sigv4/v4) and an independent signer from npm
 * (tests/scripts/test_sigv4_crosscheck.sh).
 */
#ifndef PARLEY_SIGV4_H
#define PARLEY_SIGV4_H

#include <stddef.h>
#include <time.h>

#include "base/err.h"

/* ---- Types ---------------------------------------------------------------------------------- */

struct sigv4_header {
    const char *name;  /* any case; signed lower-cased */
    const char *value; /* trimmed, inner whitespace runs collapsed to one space when signed */
};

struct sigv4_credentials {
    const char *access_key_id;     /* required */
    const char *secret_access_key; /* required */
    const char *session_token;     /* NULL or "" when the credentials are not temporary */
};

struct sigv4_request {
    const char *method;                 /* "GET", "POST", ... */
    const char *host;                   /* Host header value, "host[:port]"; ignored when headers
                                           already carry a Host header */
    const char *path;                   /* wire path, already percent-encoded; NULL or "" = "/" */
    const char *query;                  /* raw query string without '?', or NULL */
    const struct sigv4_header *headers; /* further headers to sign (content-type, ...) */
    size_t n_headers;                   /* number of headers */
    const void *body;                   /* request body, may be NULL when body_len is 0 */
    size_t body_len;                    /* body length in bytes */
    const char *payload_hash;           /* NULL: SHA-256 of body; else used as is, e.g.
                                           "UNSIGNED-PAYLOAD" */
};

struct sigv4_options {
    const char *region;     /* "us-east-1" */
    const char *service;    /* signing name: "bedrock", "dynamodb", "s3", ... */
    time_t now;             /* signing time, seconds since the epoch (UTC) */
    int normalize_path;     /* remove "." / ".." segments and empty segments (not S3) */
    int encode_path;        /* percent-encode the wire path once more (not S3) */
    int sign_body;          /* add and sign x-amz-content-sha256 (S3) */
    int omit_session_token; /* send the token unsigned (only for the test suite's case) */
};

/* The result of signing: strings owned by the struct, freed by sigv4_signed_release(). */
struct sigv4_signed {
    char amz_date[17];          /* "20150830T123600Z" */
    char signature[65];         /* lower-case hex */
    char payload_hash[72];      /* hex SHA-256 of the body, or the given payload_hash */
    char *authorization;        /* full Authorization header value */
    char *canonical_request;    /* for tests and debugging */
    char *string_to_sign;       /* for tests and debugging */
    char *signed_headers;       /* "host;x-amz-date" */
    char *session_token;        /* copy of the token, or NULL */
    struct sigv4_header add[4]; /* headers to add to the request (values point into this struct) */
    size_t n_add;               /* number of entries in add */
};

/* ---- Signing -------------------------------------------------------------------------------- */

/* Fills o with the defaults of a service: S3 signs the payload hash and neither normalises nor
 * re-encodes the path; every other service normalises and re-encodes. */
void sigv4_options_for_service(struct sigv4_options *o, const char *region, const char *service,
                               time_t now);

/* Signs r. Returns 0 and fills out (release with sigv4_signed_release), or -1 with err
 * ("InvalidArgument") when a required field is missing; out is then zeroed. */
int sigv4_sign(const struct sigv4_request *r, const struct sigv4_credentials *cred,
               const struct sigv4_options *o, struct sigv4_signed *out, struct err *err);

/* Frees the strings of s and zeroes it. Accepts a zeroed struct. */
void sigv4_signed_release(struct sigv4_signed *s);

/* ---- Helpers -------------------------------------------------------------------------------- */

/* Percent-encodes n bytes of s the AWS way: everything but A-Z a-z 0-9 - . _ ~ becomes %XX
 * (upper-case hex); '/' is kept when keep_slash. Returns a new string owned by the caller. */
char *sigv4_uri_encode(const char *s, size_t n, int keep_slash);

/* Writes the lower-case hex SHA-256 of n bytes at p into out[65]. */
void sigv4_sha256_hex(const void *p, size_t n, char out[65]);

/* Formats t as "YYYYMMDDTHHMMSSZ" (UTC) into out[17]. */
void sigv4_amz_date(time_t t, char out[17]);

#endif
