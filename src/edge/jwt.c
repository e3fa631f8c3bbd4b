/*
 * jwt.c - JWS compact verification for customer tokens: base64url, the JSON header and claims
 * through jansson, HMAC-SHA256 and OpenSSL EVP for RS256/ES256. See jwt.h.
 */
#include "edge/jwt.h"

#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "base/xmalloc.h"

enum jwt_alg { JWT_HS256, JWT_RS256, JWT_ES256 };

struct jwt_verifier {
    unsigned char *secret; /* HS256 key (NULL: HS256 refused) */
    size_t secret_len;     /* bytes in secret */
    EVP_PKEY *pkey;        /* public key (NULL: RS256 and ES256 refused) */
    int pkey_alg;          /* JWT_RS256 or JWT_ES256: the one algorithm pkey may check */
};

/* ---------------------------------------------------------------- base64url */

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

unsigned char *jwt_b64url_decode(const char *in, size_t n, size_t *out_len)
{
    unsigned char *out = NULL;
    if (n % 4 == 1)
        goto fail;
    out = xmalloc(n / 4 * 3 + 3);
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_value(in[i]);
        if (v < 0)
            goto fail;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0) /* non-canonical: the leftover bits must be zero */
        goto fail;
    out[o] = '\0';
    *out_len = o;
    return out;
fail:
    free(out);
    return NULL;
}

char *jwt_b64url_encode(const unsigned char *in, size_t n)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char *out = xmalloc(n / 3 * 4 + 5);
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        acc = (acc << 8) | in[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[o++] = alphabet[(acc >> bits) & 63];
        }
        acc &= (1u << bits) - 1;
    }
    if (bits > 0)
        out[o++] = alphabet[(acc << (6 - bits)) & 63];
    out[o] = '\0';
    return out;
}

/* ---------------------------------------------------------------- keys */

struct jwt_verifier *jwt_verifier_new(const unsigned char *secret, size_t secret_len,
                                      const char *pem, struct err *err)
{
    struct jwt_verifier *v = xcalloc(1, sizeof *v);
    BIO *bio = NULL;
    if (secret_len > 0) {
        v->secret = xmalloc(secret_len);
        memcpy(v->secret, secret, secret_len);
        v->secret_len = secret_len;
    }
    if (pem && pem[0]) {
        bio = BIO_new_mem_buf(pem, -1);
        v->pkey = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
        if (!v->pkey) {
            err_set(
                err, "InvalidConfig",
                "PARLEY_USER_JWT_PUBLIC_KEY is not a PEM public key (-----BEGIN PUBLIC KEY-----)");
            goto fail;
        }
        int type = EVP_PKEY_get_base_id(v->pkey);
        char group[64] = "";
        size_t glen = 0;
        if (type == EVP_PKEY_RSA && EVP_PKEY_get_bits(v->pkey) >= 2048) {
            v->pkey_alg = JWT_RS256;
        } else if (type == EVP_PKEY_EC &&
                   EVP_PKEY_get_group_name(v->pkey, group, sizeof group, &glen) == 1 &&
                   strcmp(group, "prime256v1") == 0) {
            v->pkey_alg = JWT_ES256;
        } else {
            err_set(err, "InvalidConfig",
                    "PARLEY_USER_JWT_PUBLIC_KEY must be an RSA key of 2048 bits or more (RS256) "
                    "or a P-256 EC key (ES256)");
            goto fail;
        }
    }
    if (!v->secret && !v->pkey) {
        err_set(err, "InvalidConfig", "a JWT verifier needs a secret or a public key");
        goto fail;
    }
    BIO_free(bio);
    return v;
fail:
    BIO_free(bio);
    jwt_verifier_free(v);
    return NULL;
}

void jwt_verifier_free(struct jwt_verifier *v)
{
    if (!v)
        return;
    if (v->secret)
        OPENSSL_cleanse(v->secret, v->secret_len);
    free(v->secret);
    EVP_PKEY_free(v->pkey);
    free(v);
}

/* ---------------------------------------------------------------- signatures */

static int check_hs256(const struct jwt_verifier *v, const char *input, size_t n,
                       const unsigned char *sig, size_t sig_len)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    if (!HMAC(EVP_sha256(), v->secret, (int)v->secret_len, (const unsigned char *)input, n, mac,
              &mac_len))
        return 0;
    return sig_len == mac_len && CRYPTO_memcmp(mac, sig, mac_len) == 0;
}

/* JWS ES256 signatures are R || S, 32 bytes each (RFC 7518 section 3.4); EVP wants DER. */
static unsigned char *es256_to_der(const unsigned char *sig, size_t sig_len, size_t *der_len)
{
    unsigned char *der = NULL;
    ECDSA_SIG *es = NULL;
    BIGNUM *r = NULL, *s = NULL;
    if (sig_len != 64)
        goto out;
    es = ECDSA_SIG_new();
    r = BN_bin2bn(sig, 32, NULL);
    s = BN_bin2bn(sig + 32, 32, NULL);
    if (!es || !r || !s || ECDSA_SIG_set0(es, r, s) != 1)
        goto out;
    r = s = NULL; /* owned by es now */
    int len = i2d_ECDSA_SIG(es, &der);
    if (len <= 0) {
        der = NULL;
        goto out;
    }
    *der_len = (size_t)len;
out:
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(es);
    return der;
}

static int check_pkey(const struct jwt_verifier *v, const char *input, size_t n,
                      const unsigned char *sig, size_t sig_len)
{
    int ok = 0;
    unsigned char *der = NULL;
    size_t der_len = sig_len;
    const unsigned char *s = sig;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (v->pkey_alg == JWT_ES256) {
        der = es256_to_der(sig, sig_len, &der_len);
        if (!der)
            goto out;
        s = der;
    }
    if (!md || EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, v->pkey) != 1)
        goto out;
    ok = EVP_DigestVerify(md, s, der_len, (const unsigned char *)input, n) == 1;
out:
    EVP_MD_CTX_free(md);
    OPENSSL_free(der);
    return ok;
}

/* ---------------------------------------------------------------- verification */

/* Decodes one base64url part that must hold a JSON object. Returns it (new ref) or NULL. */
static json_t *decode_object(const char *part, size_t n)
{
    size_t len = 0;
    unsigned char *raw = jwt_b64url_decode(part, n, &len);
    json_t *obj = NULL;
    if (!raw)
        return NULL;
    obj = json_loadb((const char *)raw, len, JSON_REJECT_DUPLICATES, NULL);
    free(raw);
    if (obj && !json_is_object(obj)) {
        json_decref(obj);
        obj = NULL;
    }
    return obj;
}

/* Reads a NumericDate claim. Returns 1 when present and numeric (value in *t), 0 when absent, -1
 * when present but not a number. */
static int numeric_date(const json_t *claims, const char *name, double *t)
{
    json_t *v = json_object_get(claims, name);
    if (!v)
        return 0;
    if (!json_is_number(v))
        return -1;
    *t = json_number_value(v);
    return 1;
}

static int check_times(const json_t *claims, int64_t now_s, struct err *err)
{
    double now = (double)now_s, t = 0;
    int has = numeric_date(claims, "exp", &t);
    if (has <= 0)
        return err_set(err, "Unauthorized", "the token has no numeric 'exp' claim");
    if (now >= t + JWT_LEEWAY_S)
        return err_set(err, "Unauthorized", "the token has expired");
    has = numeric_date(claims, "nbf", &t);
    if (has < 0 || (has > 0 && t > now + JWT_LEEWAY_S))
        return err_set(err, "Unauthorized", "the token is not valid yet ('nbf')");
    has = numeric_date(claims, "iat", &t);
    if (has < 0 || (has > 0 && t > now + JWT_LEEWAY_S))
        return err_set(err, "Unauthorized", "the token was issued in the future ('iat')");
    return 0;
}

json_t *jwt_verify(const struct jwt_verifier *v, const char *token, int64_t now_s, struct err *err)
{
    json_t *header = NULL, *claims = NULL;
    unsigned char *sig = NULL;
    size_t n = token ? strnlen(token, JWT_MAX_TOKEN + 1) : 0;
    if (n == 0 || n > JWT_MAX_TOKEN) {
        err_set(err, "Unauthorized", "the token is empty or longer than %d bytes", JWT_MAX_TOKEN);
        goto fail;
    }
    const char *dot1 = strchr(token, '.');
    const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    if (!dot1 || !dot2 || strchr(dot2 + 1, '.')) {
        err_set(err, "Unauthorized", "the token is not three base64url parts (JWS compact)");
        goto fail;
    }
    header = decode_object(token, (size_t)(dot1 - token));
    if (!header) {
        err_set(err, "Unauthorized", "the token's header is not a base64url JSON object");
        goto fail;
    }
    const char *alg = json_string_value(json_object_get(header, "alg"));
    int which = -1;
    if (alg && strcmp(alg, "HS256") == 0 && v->secret)
        which = JWT_HS256;
    else if (alg && v->pkey && strcmp(alg, v->pkey_alg == JWT_RS256 ? "RS256" : "ES256") == 0)
        which = v->pkey_alg;
    if (which < 0) {
        err_set(err, "Unauthorized", "the token's algorithm '%.20s' is not accepted here",
                alg ? alg : "(missing)");
        goto fail;
    }
    if (json_object_get(header, "crit")) {
        err_set(err, "Unauthorized", "the token has 'crit' extensions, none of which are known");
        goto fail;
    }
    size_t sig_len = 0;
    sig = jwt_b64url_decode(dot2 + 1, strlen(dot2 + 1), &sig_len);
    size_t signed_len = (size_t)(dot2 - token);
    int ok = sig && (which == JWT_HS256 ? check_hs256(v, token, signed_len, sig, sig_len)
                                        : check_pkey(v, token, signed_len, sig, sig_len));
    if (!ok) {
        err_set(err, "Unauthorized", "the token's signature does not verify");
        goto fail;
    }
    claims = decode_object(dot1 + 1, (size_t)(dot2 - dot1 - 1));
    if (!claims) {
        err_set(err, "Unauthorized", "the token's claims are not a base64url JSON object");
        goto fail;
    }
    if (check_times(claims, now_s, err) < 0)
        goto fail;
    json_decref(header);
    free(sig);
    return claims;
fail:
    json_decref(header);
    json_decref(claims);
    free(sig);
    return NULL;
}

int jwt_identity(const json_t *claims, struct jwt_identity *id, struct err *err)
{
    json_t *sub = json_object_get(claims, "sub");
    json_t *email = json_object_get(claims, "email");
    size_t n = json_is_string(sub) ? json_string_length(sub) : 0;
    memset(id, 0, sizeof *id);
    if (n == 0 || n > JWT_SUB_MAX || strlen(json_string_value(sub)) != n ||
        strncmp(json_string_value(sub), "guest:", 6) == 0)
        return err_set(err, "Unauthorized",
                       "the token's 'sub' must be a string of 1 to %d bytes, not 'guest:...'",
                       JWT_SUB_MAX);
    memcpy(id->sub, json_string_value(sub), n);
    if (email) {
        size_t m = json_is_string(email) ? json_string_length(email) : 0;
        if (!json_is_string(email) || m > JWT_EMAIL_MAX || strlen(json_string_value(email)) != m)
            return err_set(err, "Unauthorized",
                           "the token's 'email' must be a string of at most "
                           "%d bytes",
                           JWT_EMAIL_MAX);
        memcpy(id->email, json_string_value(email), m);
    }
    return 0;
}
