/*
 * sigv4.c - AWS Signature Version 4: canonical request, string to sign, signing key and the
 * Authorization header, following the published algorithm step by step (see sigv4.h).
 */
#include "http/sigv4.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "base/buf.h"
#include "base/xmalloc.h"

/* ---- Text building ------------------------------------------------------------------------- */

/* The most bytes one canonical text (URI, query, request, string to sign) may reach. Its parts
 * are a request's URL and headers, never its body (that is hashed), so this is far above any
 * real request; a text that would pass it is cut short, and AWS then refuses the signature. */
#define SIGV4_TEXT_MAX (16u * 1024 * 1024)

/* ---- Encoding ------------------------------------------------------------------------------- */

static int is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

static void encode_into(struct buf *b, const char *s, size_t n, int keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (is_unreserved(c) || (keep_slash && c == '/')) {
            buf_add_char(b, (char)c);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            buf_add(b, e, 3);
        }
    }
}

char *sigv4_uri_encode(const char *s, size_t n, int keep_slash)
{
    struct buf b;
    buf_init(&b, SIGV4_TEXT_MAX);
    encode_into(&b, s, n, keep_slash);
    return buf_take(&b, NULL);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes %XX escapes of n bytes at s into a new string; a '%' not followed by two hex digits
 * stays literal. '+' stays '+' (AWS query strings never use it for a space). */
static char *percent_decode(const char *s, size_t n, size_t *out_len)
{
    char *o = xmalloc(n + 1);
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            o[j++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else {
            o[j++] = s[i];
        }
    }
    o[j] = '\0';
    *out_len = j;
    return o;
}

static void to_hex(const unsigned char *d, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    out[2 * n] = '\0';
}

void sigv4_sha256_hex(const void *p, size_t n, char out[65])
{
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256(p ? p : (const void *)"", n, d);
    to_hex(d, sizeof d, out);
}

void sigv4_amz_date(time_t t, char out[17])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

static void hmac(const unsigned char *key, size_t key_len, const char *msg, size_t msg_len,
                 unsigned char out[32])
{
    unsigned int len = 32;
    HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)msg, msg_len, out, &len);
}

/* ---- Canonical URI -------------------------------------------------------------------------- */

/* Removes empty, "." and ".." segments (RFC 3986 5.2.4 plus duplicate-slash removal, as the SDKs
 * do for every service but S3). Keeps a trailing slash. Returns a new string. */
static char *normalize_path(const char *p)
{
    size_t n = strlen(p);
    const char **seg = xmalloc((n + 1) * sizeof *seg);
    size_t *seglen = xmalloc((n + 1) * sizeof *seglen);
    size_t nseg = 0;
    const char *s = p;
    while (*s) {
        while (*s == '/')
            s++;
        if (!*s)
            break;
        const char *e = strchr(s, '/');
        size_t l = e ? (size_t)(e - s) : strlen(s);
        if (l == 1 && s[0] == '.') {
            /* skip */
        } else if (l == 2 && s[0] == '.' && s[1] == '.') {
            if (nseg > 0)
                nseg--;
        } else {
            seg[nseg] = s;
            seglen[nseg] = l;
            nseg++;
        }
        s += l;
    }
    struct buf b;
    buf_init(&b, SIGV4_TEXT_MAX);
    buf_add_char(&b, '/');
    for (size_t i = 0; i < nseg; i++) {
        buf_add(&b, seg[i], seglen[i]);
        if (i + 1 < nseg)
            buf_add_char(&b, '/');
    }
    if (nseg > 0 && n > 0 && p[n - 1] == '/')
        buf_add_char(&b, '/');
    free(seg);
    free(seglen);
    return buf_take(&b, NULL);
}

static char *canonical_uri(const char *path, const struct sigv4_options *o)
{
    if (!path || !*path)
        path = "/";
    char *norm = o->normalize_path ? normalize_path(path) : xstrdup(path);
    if (!o->encode_path)
        return norm;
    char *enc = sigv4_uri_encode(norm, strlen(norm), 1);
    free(norm);
    return enc;
}

/* ---- Canonical query string ----------------------------------------------------------------- */

struct qparam {
    char *key; /* encoded */
    char *val; /* encoded */
};

static int qparam_cmp(const void *a, const void *b)
{
    const struct qparam *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : strcmp(x->val, y->val);
}

static char *canonical_query(const char *q)
{
    if (!q || !*q)
        return xstrdup("");
    size_t cap = 1;
    for (const char *s = q; *s; s++)
        if (*s == '&')
            cap++;
    struct qparam *ps = xcalloc(cap, sizeof *ps);
    size_t np = 0;
    const char *s = q;
    while (*s) {
        const char *e = strchr(s, '&');
        size_t l = e ? (size_t)(e - s) : strlen(s);
        if (l > 0) {
            const char *eq = memchr(s, '=', l);
            size_t kl = eq ? (size_t)(eq - s) : l;
            size_t dl;
            char *k = percent_decode(s, kl, &dl);
            ps[np].key = sigv4_uri_encode(k, dl, 0);
            free(k);
            char *v = eq ? percent_decode(eq + 1, l - kl - 1, &dl) : xstrdup("");
            if (!eq)
                dl = 0;
            ps[np].val = sigv4_uri_encode(v, dl, 0);
            free(v);
            np++;
        }
        s += l;
        if (*s == '&')
            s++;
    }
    qsort(ps, np, sizeof *ps, qparam_cmp);
    struct buf b;
    buf_init(&b, SIGV4_TEXT_MAX);
    for (size_t i = 0; i < np; i++) {
        if (i)
            buf_add_char(&b, '&');
        buf_add_str(&b, ps[i].key);
        buf_add_char(&b, '=');
        buf_add_str(&b, ps[i].val);
        free(ps[i].key);
        free(ps[i].val);
    }
    free(ps);
    return buf_take(&b, NULL);
}

/* ---- Canonical headers ---------------------------------------------------------------------- */

struct chdr {
    char *name;   /* lower-case */
    char *value;  /* trimmed, whitespace collapsed */
    size_t order; /* input position, keeps duplicates in their order */
};

static int chdr_cmp(const void *a, const void *b)
{
    const struct chdr *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c)
        return c;
    return x->order < y->order ? -1 : x->order > y->order;
}

static char *lower_dup(const char *s)
{
    char *d = xstrdup(s);
    for (char *p = d; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return d;
}

static char *trim_collapse(const char *v)
{
    struct buf b;
    buf_init(&b, SIGV4_TEXT_MAX);
    int pending_space = 0;
    for (const char *p = v; *p; p++) {
        if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') {
            pending_space = 1;
            continue;
        }
        if (pending_space && b.len > 0)
            buf_add_char(&b, ' ');
        pending_space = 0;
        buf_add_char(&b, *p);
    }
    return buf_take(&b, NULL);
}

static int is_signer_owned(const char *lname)
{
    return !strcmp(lname, "x-amz-date") || !strcmp(lname, "x-amz-security-token") ||
           !strcmp(lname, "x-amz-content-sha256") || !strcmp(lname, "authorization");
}

/* ---- Signing -------------------------------------------------------------------------------- */

void sigv4_options_for_service(struct sigv4_options *o, const char *region, const char *service,
                               time_t now)
{
    int s3 = service && !strcmp(service, "s3");
    memset(o, 0, sizeof *o);
    o->region = region;
    o->service = service;
    o->now = now;
    o->normalize_path = !s3;
    o->encode_path = !s3;
    o->sign_body = s3;
}

void sigv4_signed_release(struct sigv4_signed *s)
{
    if (!s)
        return;
    free(s->authorization);
    free(s->canonical_request);
    free(s->string_to_sign);
    free(s->signed_headers);
    free(s->session_token);
    memset(s, 0, sizeof *s);
}

/* The headers to sign, sorted by name: the caller's (without those the signer owns), then host
 * (unless the caller gave one), x-amz-date, x-amz-security-token and x-amz-content-sha256 as the
 * options ask. Returns 0 with *hs (heap, nh entries), or -1 with err when there is no host. */
static int collect_headers(const struct sigv4_request *r, const struct sigv4_credentials *cred,
                           const struct sigv4_options *o, const struct sigv4_signed *out,
                           struct chdr **hsp, size_t *nhp, struct err *err)
{
    struct chdr *hs = xcalloc(r->n_headers + 4, sizeof *hs);
    size_t nh = 0;
    int has_host = 0, rc = -1;
    for (size_t i = 0; i < r->n_headers; i++) {
        if (!r->headers[i].name || !r->headers[i].value)
            continue;
        char *ln = lower_dup(r->headers[i].name);
        if (is_signer_owned(ln)) {
            free(ln);
            continue;
        }
        if (!strcmp(ln, "host"))
            has_host = 1;
        hs[nh].name = ln;
        hs[nh].value = trim_collapse(r->headers[i].value);
        hs[nh].order = nh;
        nh++;
    }
    if (!has_host) {
        if (!r->host || !*r->host) {
            err_set(err, "InvalidArgument", "cannot sign: no host");
            goto out;
        }
        hs[nh] = (struct chdr){xstrdup("host"), xstrdup(r->host), nh};
        nh++;
    }
    hs[nh] = (struct chdr){xstrdup("x-amz-date"), xstrdup(out->amz_date), nh};
    nh++;
    if (cred->session_token && *cred->session_token && !o->omit_session_token) {
        hs[nh] = (struct chdr){xstrdup("x-amz-security-token"), trim_collapse(cred->session_token),
                               nh};
        nh++;
    }
    if (o->sign_body) {
        hs[nh] = (struct chdr){xstrdup("x-amz-content-sha256"), xstrdup(out->payload_hash), nh};
        nh++;
    }
    qsort(hs, nh, sizeof *hs, chdr_cmp);
    rc = 0;
out:
    *hsp = hs;
    *nhp = nh;
    return rc;
}

/* Step 1: the canonical request (method, URI, query, headers, signed headers, payload hash).
 * Appends the signed-header list to sh. Returns a heap string. */
static char *canonical_request(const struct sigv4_request *r, const struct sigv4_options *o,
                               const struct chdr *hs, size_t nh, const char *payload_hash,
                               struct buf *sh)
{
    struct buf creq;
    buf_init(&creq, SIGV4_TEXT_MAX);
    char *uri = canonical_uri(r->path, o);
    char *query = canonical_query(r->query);
    buf_add_str(&creq, r->method);
    buf_add_char(&creq, '\n');
    buf_add_str(&creq, uri);
    buf_add_char(&creq, '\n');
    buf_add_str(&creq, query);
    buf_add_char(&creq, '\n');
    for (size_t i = 0; i < nh; i++) {
        int dup_of_prev = i > 0 && !strcmp(hs[i].name, hs[i - 1].name);
        if (dup_of_prev) {
            buf_add_char(&creq, ',');
        } else {
            if (i > 0)
                buf_add_char(&creq, '\n');
            buf_add_str(&creq, hs[i].name);
            buf_add_char(&creq, ':');
            if (sh->len)
                buf_add_char(sh, ';');
            buf_add_str(sh, hs[i].name);
        }
        buf_add_str(&creq, hs[i].value);
    }
    buf_add_str(&creq, "\n\n");
    buf_add_str(&creq, buf_str(sh));
    buf_add_char(&creq, '\n');
    buf_add_str(&creq, payload_hash);
    free(uri);
    free(query);
    return buf_take(&creq, NULL);
}

/* Step 2: the string to sign over the canonical request. Returns a heap string. */
static char *string_to_sign(const char *amz_date, const char *date8, const struct sigv4_options *o,
                            const char *creq)
{
    struct buf sts;
    buf_init(&sts, SIGV4_TEXT_MAX);
    char creq_hash[65];
    sigv4_sha256_hex(creq, strlen(creq), creq_hash);
    buf_add_str(&sts, "AWS4-HMAC-SHA256\n");
    buf_add_str(&sts, amz_date);
    buf_add_char(&sts, '\n');
    buf_add_str(&sts, date8);
    buf_add_char(&sts, '/');
    buf_add_str(&sts, o->region);
    buf_add_char(&sts, '/');
    buf_add_str(&sts, o->service);
    buf_add_str(&sts, "/aws4_request\n");
    buf_add_str(&sts, creq_hash);
    return buf_take(&sts, NULL);
}

/* Step 3: the signing key derived from the secret, then the hex signature of sts into hex. */
static void signature(const char *secret, const char *date8, const struct sigv4_options *o,
                      const char *sts, char hex[65])
{
    unsigned char k[32], k2[32];
    char *kseed = xasprintf("AWS4%s", secret);
    hmac((const unsigned char *)kseed, strlen(kseed), date8, 8, k);
    OPENSSL_cleanse(kseed, strlen(kseed));
    free(kseed);
    hmac(k, 32, o->region, strlen(o->region), k2);
    hmac(k2, 32, o->service, strlen(o->service), k);
    hmac(k, 32, "aws4_request", 12, k2);
    unsigned char sig[32];
    hmac(k2, 32, sts, strlen(sts), sig);
    OPENSSL_cleanse(k, sizeof k);
    OPENSSL_cleanse(k2, sizeof k2);
    to_hex(sig, sizeof sig, hex);
}

/* Step 4: the Authorization header value. Returns a heap string. */
static char *authorization(const char *access_key_id, const char *date8,
                           const struct sigv4_options *o, const char *signed_headers,
                           const char *sig)
{
    struct buf auth;
    buf_init(&auth, SIGV4_TEXT_MAX);
    buf_add_str(&auth, "AWS4-HMAC-SHA256 Credential=");
    buf_add_str(&auth, access_key_id);
    buf_add_char(&auth, '/');
    buf_add_str(&auth, date8);
    buf_add_char(&auth, '/');
    buf_add_str(&auth, o->region);
    buf_add_char(&auth, '/');
    buf_add_str(&auth, o->service);
    buf_add_str(&auth, "/aws4_request, SignedHeaders=");
    buf_add_str(&auth, signed_headers);
    buf_add_str(&auth, ", Signature=");
    buf_add_str(&auth, sig);
    return buf_take(&auth, NULL);
}

int sigv4_sign(const struct sigv4_request *r, const struct sigv4_credentials *cred,
               const struct sigv4_options *o, struct sigv4_signed *out, struct err *err)
{
    int rc = -1;
    struct chdr *hs = NULL;
    size_t nh = 0;
    struct buf sh;
    buf_init(&sh, SIGV4_TEXT_MAX);

    memset(out, 0, sizeof *out);
    if (!r || !r->method || !cred || !cred->access_key_id || !*cred->access_key_id ||
        !cred->secret_access_key || !*cred->secret_access_key || !o || !o->region || !*o->region ||
        !o->service || !*o->service) {
        err_set(err, "InvalidArgument",
                "cannot sign: method, credentials, region and service "
                "are required");
        goto out;
    }
    sigv4_amz_date(o->now, out->amz_date);
    if (r->payload_hash)
        snprintf(out->payload_hash, sizeof out->payload_hash, "%s", r->payload_hash);
    else
        sigv4_sha256_hex(r->body, r->body_len, out->payload_hash);
    if (collect_headers(r, cred, o, out, &hs, &nh, err) < 0)
        goto out;
    char date8[9];
    memcpy(date8, out->amz_date, 8);
    date8[8] = '\0';
    out->canonical_request = canonical_request(r, o, hs, nh, out->payload_hash, &sh);
    out->string_to_sign = string_to_sign(out->amz_date, date8, o, out->canonical_request);
    signature(cred->secret_access_key, date8, o, out->string_to_sign, out->signature);
    out->signed_headers = buf_take(&sh, NULL);
    out->authorization = authorization(cred->access_key_id, date8, o, out->signed_headers,
                                       out->signature);
    out->add[out->n_add++] = (struct sigv4_header){"Authorization", out->authorization};
    out->add[out->n_add++] = (struct sigv4_header){"X-Amz-Date", out->amz_date};
    if (cred->session_token && *cred->session_token) {
        out->session_token = xstrdup(cred->session_token);
        out->add[out->n_add++] = (struct sigv4_header){"X-Amz-Security-Token", out->session_token};
    }
    if (o->sign_body)
        out->add[out->n_add++] = (struct sigv4_header){"X-Amz-Content-Sha256", out->payload_hash};
    rc = 0;
out:
    for (size_t i = 0; i < nh; i++) {
        free(hs[i].name);
        free(hs[i].value);
    }
    free(hs);
    buf_release(&sh);
    if (rc != 0)
        sigv4_signed_release(out);
    return rc;
}
