/*
 * test_jwt.c - customer tokens (src/edge/jwt.c): base64url, the RFC 7515 appendix A.1 HS256
 * example, tokens minted here with HS256, RS256 and ES256 (keys generated per run), and one case
 * for every refusal class: shape, header, algorithm (none, unknown, confusion), crit, signature,
 * claims, exp/nbf/iat with the 60 s leeway, sub and email.
 */
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "edge/jwt.h"

#define NOW 1700000000LL

/* ---------------------------------------------------------------- minting (the site's side) */

static char *b64(const void *p, size_t n)
{
    return jwt_b64url_encode(p, n);
}

/* ES256 signatures travel as R || S (32 bytes each); OpenSSL signs in DER. */
static size_t der_to_rs(const unsigned char *der, size_t n, unsigned char out[64])
{
    ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &der, (long)n);
    const BIGNUM *r = NULL, *ss = NULL;
    ECDSA_SIG_get0(s, &r, &ss);
    BN_bn2binpad(r, out, 32);
    BN_bn2binpad(ss, out + 32, 32);
    ECDSA_SIG_free(s);
    return 64;
}

/* Signs header.claims with alg: "HS256" uses secret, "RS256"/"ES256" use key, anything else
 * gets sig_override (may be ""). Returns a new token. */
static char *mint(const char *header, const char *claims, const char *alg, const char *secret,
                  EVP_PKEY *key)
{
    char *h = b64(header, strlen(header)), *c = b64(claims, strlen(claims));
    size_t in_len = strlen(h) + 1 + strlen(c);
    char *input = malloc(in_len + 1);
    snprintf(input, in_len + 1, "%s.%s", h, c);
    unsigned char sig[1024];
    size_t sig_len = 0;
    if (strcmp(alg, "HS256") == 0) {
        unsigned int n = 0;
        HMAC(EVP_sha256(), secret, (int)strlen(secret), (unsigned char *)input, in_len, sig, &n);
        sig_len = n;
    } else if (key) {
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        sig_len = sizeof sig;
        EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key);
        EVP_DigestSign(md, sig, &sig_len, (unsigned char *)input, in_len);
        EVP_MD_CTX_free(md);
        if (strcmp(alg, "ES256") == 0) {
            unsigned char rs[64];
            sig_len = der_to_rs(sig, sig_len, rs);
            memcpy(sig, rs, 64);
        }
    }
    char *s = b64(sig, sig_len);
    size_t n = in_len + 2 + strlen(s);
    char *tok = malloc(n);
    snprintf(tok, n, "%s.%s", input, s);
    free(h);
    free(c);
    free(input);
    free(s);
    return tok;
}

static char *pem_of(EVP_PKEY *key)
{
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(b, key);
    char *data = NULL;
    long n = BIO_get_mem_data(b, &data);
    char *out = strndup(data, (size_t)n);
    BIO_free(b);
    return out;
}

#define HS_HDR "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"
#define GOOD "{\"sub\":\"alice\",\"email\":\"alice@example.com\",\"exp\":1700000600,\"iat\":1700000000}"

/* 1 when token verifies with v at NOW and names sub; fills why with the refusal otherwise. */
static int accepts(const struct jwt_verifier *v, const char *token, char *why, size_t cap)
{
    struct err e;
    err_clear(&e);
    json_t *claims = jwt_verify(v, token, NOW, &e);
    struct jwt_identity id;
    int ok = claims && jwt_identity(claims, &id, &e) == 0;
    json_decref(claims);
    snprintf(why, cap, "%s|%s", ok ? "" : e.code, ok ? id.sub : e.message);
    return ok;
}

/* Expects the token to be refused with "Unauthorized" and a message holding `what`. */
static void refused(const struct jwt_verifier *v, const char *token, const char *what)
{
    char why[400];
    int ok = accepts(v, token, why, sizeof why);
    CHECK(!ok);
    CHECK(strncmp(why, "Unauthorized|", 13) == 0);
    if (!strstr(why, what)) {
        fprintf(stderr, "  expected '%s' in '%s'\n", what, why);
        CHECK(strstr(why, what) != NULL);
    }
}

static void refused_claims(const struct jwt_verifier *v, const char *claims, const char *what)
{
    char *t = mint(HS_HDR, claims, "HS256", "s3cret", NULL);
    refused(v, t, what);
    free(t);
}

/* ---------------------------------------------------------------- tests */

static void test_base64url(void)
{
    size_t n = 0;
    /* RFC 7515 A.1: the protected header, with its CRLF. */
    unsigned char *h = jwt_b64url_decode("eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9", 40, &n);
    CHECK(h && n == 30 && memcmp(h, "{\"typ\":\"JWT\",\r\n \"alg\":\"HS256\"}", 30) == 0);
    free(h);
    const unsigned char bytes[] = {0xfb, 0xff, 0x00, 0x3e, 0x3f};
    for (size_t len = 0; len <= sizeof bytes; len++) {
        char *e = jwt_b64url_encode(bytes, len);
        CHECK(strchr(e, '=') == NULL && strchr(e, '+') == NULL && strchr(e, '/') == NULL);
        unsigned char *d = jwt_b64url_decode(e, strlen(e), &n);
        CHECK(d && n == len && memcmp(d, bytes, len) == 0);
        free(d);
        free(e);
    }
    char *e = jwt_b64url_encode(bytes, 2);
    CHECK_STR(e, "-_8");
    free(e);
    CHECK(jwt_b64url_decode("QQ==", 4, &n) == NULL); /* padding is not base64url */
    CHECK(jwt_b64url_decode("a+b/", 4, &n) == NULL); /* the other alphabet */
    CHECK(jwt_b64url_decode("QUJDR", 5, &n) == NULL); /* n % 4 == 1 */
    CHECK(jwt_b64url_decode("QR", 2, &n) == NULL);   /* unused bits set */
    unsigned char *d = jwt_b64url_decode("QQ", 2, &n);
    CHECK(d && n == 1 && d[0] == 'A');
    free(d);
}

/* RFC 7515 appendix A.1: the HS256 example with its JWK key `k`. */
static void test_rfc7515_a1(void)
{
    const char *k = "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAz"
                    "Zr1Z9CAow";
    const char *tok = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEz"
                      "MDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP"
                      "-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    size_t klen = 0;
    unsigned char *key = jwt_b64url_decode(k, strlen(k), &klen);
    CHECK(key && klen == 64);
    struct err e;
    err_clear(&e);
    struct jwt_verifier *v = jwt_verifier_new(key, klen, NULL, &e);
    CHECK(v != NULL);
    json_t *claims = jwt_verify(v, tok, 1300819380 - 3600, &e);
    CHECK(claims != NULL);
    CHECK_STR(json_string_value(json_object_get(claims, "iss")), "joe");
    CHECK(json_is_true(json_object_get(claims, "http://example.com/is_root")));
    struct jwt_identity id;
    CHECK(jwt_identity(claims, &id, &e) < 0); /* the example has no `sub` */
    json_decref(claims);
    /* Its exp is 1300819380: still good 59 s later (leeway), refused at 60 s. */
    claims = jwt_verify(v, tok, 1300819380 + 59, &e);
    CHECK(claims != NULL);
    json_decref(claims);
    err_clear(&e);
    CHECK(jwt_verify(v, tok, 1300819380 + 60, &e) == NULL);
    CHECK_STR(e.code, "Unauthorized");
    char *bad = strdup(tok);
    bad[strlen(bad) - 1] = 'Y';
    refused(v, bad, "signature");
    free(bad);
    jwt_verifier_free(v);
    free(key);
}

static void test_hs256_refusals(void)
{
    struct err e;
    err_clear(&e);
    struct jwt_verifier *v = jwt_verifier_new((const unsigned char *)"s3cret", 6, NULL, &e);
    CHECK(v != NULL);
    char why[400];
    char *t = mint(HS_HDR, GOOD, "HS256", "s3cret", NULL);
    CHECK(accepts(v, t, why, sizeof why));
    CHECK_STR(why, "|alice");
    json_t *claims = jwt_verify(v, t, NOW, &e);
    struct jwt_identity id;
    CHECK(claims && jwt_identity(claims, &id, &e) == 0);
    CHECK_STR(id.email, "alice@example.com");
    json_decref(claims);
    free(t);

    /* Shape. */
    refused(v, "", "empty");
    refused(v, "abc.def", "three");
    refused(v, "a.b.c.d", "three");
    char *huge = malloc(JWT_MAX_TOKEN + 10);
    memset(huge, 'a', JWT_MAX_TOKEN + 9);
    huge[JWT_MAX_TOKEN + 9] = '\0';
    refused(v, huge, "longer than");
    free(huge);
    refused(v, "bm90IGpzb24.e30.", "header");                /* "not json" */
    refused(v, "W10.e30.", "header");                        /* [] */
    refused(v, "!!!.e30.", "header");                        /* not base64url */
    /* Algorithms. */
    t = mint("{\"alg\":\"none\"}", GOOD, "none", NULL, NULL);
    refused(v, t, "'none' is not accepted");
    free(t);
    t = mint("{\"alg\":\"HS512\"}", GOOD, "HS256", "s3cret", NULL);
    refused(v, t, "'HS512' is not accepted");
    free(t);
    t = mint("{\"typ\":\"JWT\"}", GOOD, "HS256", "s3cret", NULL);
    refused(v, t, "(missing)");
    free(t);
    t = mint("{\"alg\":\"RS256\"}", GOOD, "HS256", "s3cret", NULL); /* no public key here */
    refused(v, t, "'RS256' is not accepted");
    free(t);
    t = mint("{\"alg\":\"HS256\",\"crit\":[\"exp\"]}", GOOD, "HS256", "s3cret", NULL);
    refused(v, t, "crit");
    free(t);
    t = mint("{\"alg\":\"HS256\",\"alg\":\"none\"}", GOOD, "HS256", "s3cret", NULL);
    refused(v, t, "header"); /* a duplicate key is not a JSON object we read */
    free(t);
    /* Signature. */
    t = mint(HS_HDR, GOOD, "HS256", "wrong", NULL);
    refused(v, t, "signature");
    free(t);
    t = mint(HS_HDR, GOOD, "HS256", "s3cret", NULL);
    t[strlen(t) - 4] = '\0'; /* truncated signature */
    refused(v, t, "signature");
    free(t);
    /* Claims and times (NOW = 1700000000; leeway 60 s). */
    refused_claims(v, "[1]", "claims");
    refused_claims(v, "{\"sub\":\"alice\"}", "no numeric 'exp'");
    refused_claims(v, "{\"sub\":\"alice\",\"exp\":\"1700000600\"}", "no numeric 'exp'");
    refused_claims(v, "{\"sub\":\"alice\",\"exp\":1699999940}", "expired");
    refused_claims(v, "{\"sub\":\"alice\",\"exp\":1700000600,\"nbf\":1700000061}", "nbf");
    refused_claims(v, "{\"sub\":\"alice\",\"exp\":1700000600,\"iat\":1700000061}", "iat");
    refused_claims(v, "{\"sub\":\"alice\",\"exp\":1700000600,\"iat\":\"now\"}", "iat");
    refused_claims(v, "{\"exp\":1700000600}", "'sub'");
    refused_claims(v, "{\"sub\":\"\",\"exp\":1700000600}", "'sub'");
    refused_claims(v, "{\"sub\":42,\"exp\":1700000600}", "'sub'");
    refused_claims(v, "{\"sub\":\"guest:abc\",\"exp\":1700000600}", "'sub'");
    refused_claims(v, "{\"sub\":\"a\\u0000b\",\"exp\":1700000600}", "claims"); /* jansson refuses NUL */
    refused_claims(v, "{\"sub\":\"alice\",\"exp\":1700000600,\"email\":7}", "'email'");
    char big[400];
    snprintf(big, sizeof big, "{\"sub\":\"%0129d\",\"exp\":1700000600}", 0);
    refused_claims(v, big, "'sub'");
    /* Inside the leeway. */
    const char *lenient[] = {"{\"sub\":\"bob\",\"exp\":1699999941}",
                             "{\"sub\":\"bob\",\"exp\":1700000600,\"nbf\":1700000060}",
                             "{\"sub\":\"bob\",\"exp\":1700000600,\"iat\":1700000060}"};
    for (size_t i = 0; i < 3; i++) {
        t = mint(HS_HDR, lenient[i], "HS256", "s3cret", NULL);
        CHECK(accepts(v, t, why, sizeof why));
        free(t);
    }
    jwt_verifier_free(v);
}

static void test_rs256_and_confusion(void)
{
    EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    CHECK(rsa && other);
    char *pem = pem_of(rsa);
    struct err e;
    err_clear(&e);
    struct jwt_verifier *v = jwt_verifier_new(NULL, 0, pem, &e);
    CHECK(v != NULL);
    char why[400];
    char *t = mint("{\"alg\":\"RS256\",\"typ\":\"JWT\"}", GOOD, "RS256", NULL, rsa);
    CHECK(accepts(v, t, why, sizeof why));
    CHECK_STR(why, "|alice");
    free(t);
    t = mint("{\"alg\":\"RS256\"}", GOOD, "RS256", NULL, other);
    refused(v, t, "signature");
    free(t);
    /* Algorithm confusion: the public key's PEM used as an HMAC secret. */
    t = mint(HS_HDR, GOOD, "HS256", pem, NULL);
    refused(v, t, "'HS256' is not accepted");
    free(t);
    t = mint("{\"alg\":\"ES256\"}", GOOD, "RS256", NULL, rsa);
    refused(v, t, "'ES256' is not accepted");
    free(t);
    t = mint("{\"alg\":\"none\"}", GOOD, "none", NULL, NULL);
    refused(v, t, "'none'");
    free(t);
    jwt_verifier_free(v);

    /* Both keys configured: each algorithm checks with its own key only. */
    v = jwt_verifier_new((const unsigned char *)"s3cret", 6, pem, &e);
    CHECK(v != NULL);
    t = mint(HS_HDR, GOOD, "HS256", "s3cret", NULL);
    CHECK(accepts(v, t, why, sizeof why));
    free(t);
    t = mint("{\"alg\":\"RS256\"}", GOOD, "RS256", NULL, rsa);
    CHECK(accepts(v, t, why, sizeof why));
    free(t);
    t = mint(HS_HDR, GOOD, "HS256", pem, NULL);
    refused(v, t, "signature");
    free(t);
    jwt_verifier_free(v);
    free(pem);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(other);
}

static void test_es256(void)
{
    EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    CHECK(ec != NULL);
    char *pem = pem_of(ec);
    struct err e;
    err_clear(&e);
    struct jwt_verifier *v = jwt_verifier_new(NULL, 0, pem, &e);
    CHECK(v != NULL);
    char why[400];
    char *t = mint("{\"alg\":\"ES256\"}", GOOD, "ES256", NULL, ec);
    CHECK(accepts(v, t, why, sizeof why));
    CHECK_STR(why, "|alice");
    /* Tampered claims keep the signature of the old ones. */
    char *dot = strchr(t, '.');
    dot[2] = dot[2] == 'A' ? 'B' : 'A';
    refused(v, t, "");
    free(t);
    t = mint("{\"alg\":\"ES256\"}", GOOD, "ES256", NULL, ec);
    t[strlen(t) - 3] = '\0'; /* a signature shorter than R || S */
    refused(v, t, "signature");
    free(t);
    t = mint("{\"alg\":\"RS256\"}", GOOD, "ES256", NULL, ec);
    refused(v, t, "'RS256' is not accepted");
    free(t);
    jwt_verifier_free(v);
    free(pem);
    EVP_PKEY_free(ec);
}

static void test_bad_keys(void)
{
    struct err e;
    err_clear(&e);
    CHECK(jwt_verifier_new(NULL, 0, NULL, &e) == NULL);
    CHECK_STR(e.code, "InvalidConfig");
    err_clear(&e);
    CHECK(jwt_verifier_new(NULL, 0, "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n",
                           &e) == NULL);
    CHECK_STR(e.code, "InvalidConfig");
    EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    char *pem = pem_of(p384);
    err_clear(&e);
    CHECK(jwt_verifier_new(NULL, 0, pem, &e) == NULL);
    CHECK(strstr(e.message, "P-256") != NULL);
    free(pem);
    EVP_PKEY_free(p384);
    EVP_PKEY *small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    pem = pem_of(small);
    err_clear(&e);
    CHECK(jwt_verifier_new(NULL, 0, pem, &e) == NULL);
    CHECK_STR(e.code, "InvalidConfig");
    free(pem);
    EVP_PKEY_free(small);
    jwt_verifier_free(NULL);
}

int main(void)
{
    RUN(test_base64url);
    RUN(test_rfc7515_a1);
    RUN(test_hs256_refusals);
    RUN(test_rs256_and_confusion);
    RUN(test_es256);
    RUN(test_bad_keys);
    return check_summary();
}
