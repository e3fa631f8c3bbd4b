/*
 * test_sigv4.c - SigV4 against the AWS Signature Version 4 test suite (tests/sigv4/v4, one
 * directory per case as published in the suite: request.txt, context.json, the canonical request,
 * the string to sign and the signature) and against Bedrock- and S3-style paths whose expected
 * canonical requests are written out by hand below and signed with a plain HMAC chain.
 */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "base/xmalloc.h"
#include "check.h"
#include "http/sigv4.h"

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = xmalloc(1 << 16);
    size_t n = fread(buf, 1, (1 << 16) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static char *read_case(const char *dir, const char *name, const char *file)
{
    char *path = xasprintf("%s/%s/%s", dir, name, file);
    char *text = read_file(path);
    free(path);
    return text;
}

static time_t parse_iso(const char *s)
{
    struct tm tm = {0};
    if (!strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm))
        return 0;
    return timegm(&tm);
}

/* Parses request.txt: request line, headers (continuation lines folded into the value), body. */
struct parsed_req {
    char method[16];
    char *path;
    char *query;
    struct sigv4_header hdr[16];
    char *hdr_store[16];
    size_t nh;
    const char *body;
};

static int parse_request(char *text, struct parsed_req *pr)
{
    memset(pr, 0, sizeof *pr);
    char *nl = strchr(text, '\n');
    if (!nl)
        return -1;
    *nl = '\0';
    char *sp = strchr(text, ' ');
    char *http = strstr(text, " HTTP/");
    if (!sp || !http || http <= sp)
        return -1;
    snprintf(pr->method, sizeof pr->method, "%.*s", (int)(sp - text), text);
    char *target = xstrndup(sp + 1, (size_t)(http - sp - 1));
    char *q = strchr(target, '?');
    if (q) {
        *q = '\0';
        pr->query = xstrdup(q + 1);
    }
    pr->path = target;
    char *line = nl + 1;
    while (*line && *line != '\n') {
        char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if ((line[0] == ' ' || line[0] == '\t') && pr->nh > 0) {
            char *prev = pr->hdr_store[pr->nh - 1];
            char *joined = xasprintf("%s\n%.*s", prev, (int)len, line);
            free(prev);
            pr->hdr_store[pr->nh - 1] = joined;
        } else if (pr->nh < 16) {
            pr->hdr_store[pr->nh++] = xstrndup(line, len);
        }
        line = end ? end + 1 : line + len;
    }
    pr->body = *line == '\n' ? line + 1 : line;
    for (size_t i = 0; i < pr->nh; i++) {
        char *c = strchr(pr->hdr_store[i], ':');
        if (!c)
            return -1;
        *c = '\0';
        pr->hdr[i].name = pr->hdr_store[i];
        pr->hdr[i].value = c + 1;
    }
    return 0;
}

static void parsed_release(struct parsed_req *pr)
{
    free(pr->path);
    free(pr->query);
    for (size_t i = 0; i < pr->nh; i++)
        free(pr->hdr_store[i]);
}

static int run_case(const char *dir, const char *name)
{
    int ok = 0;
    struct parsed_req pr;
    int parsed = 0;
    struct sigv4_signed s = {0};
    json_t *ctx = NULL;
    char *req = NULL, *creq = NULL, *sts = NULL, *sig = NULL;

    req = read_case(dir, name, "request.txt");
    creq = read_case(dir, name, "header-canonical-request.txt");
    sts = read_case(dir, name, "header-string-to-sign.txt");
    sig = read_case(dir, name, "header-signature.txt");
    char *path = xasprintf("%s/%s/context.json", dir, name);
    ctx = json_load_file(path, 0, NULL);
    free(path);
    if (!req || !creq || !sts || !sig || !ctx) {
        fprintf(stderr, "%s: missing case file\n", name);
        goto out;
    }
    if (parse_request(req, &pr) != 0) {
        fprintf(stderr, "%s: cannot parse request.txt\n", name);
        goto out;
    }
    parsed = 1;
    json_t *c = json_object_get(ctx, "credentials");
    struct sigv4_credentials cred = {
        .access_key_id = json_string_value(json_object_get(c, "access_key_id")),
        .secret_access_key = json_string_value(json_object_get(c, "secret_access_key")),
        .session_token = json_string_value(json_object_get(c, "token")),
    };
    struct sigv4_options o = {
        .region = json_string_value(json_object_get(ctx, "region")),
        .service = json_string_value(json_object_get(ctx, "service")),
        .now = parse_iso(json_string_value(json_object_get(ctx, "timestamp"))),
        .normalize_path = json_is_true(json_object_get(ctx, "normalize")),
        .encode_path = 1,
        .sign_body = json_is_true(json_object_get(ctx, "sign_body")),
        .omit_session_token = json_is_true(json_object_get(ctx, "omit_session_token")),
    };
    struct sigv4_request r = {
        .method = pr.method,
        .path = pr.path,
        .query = pr.query,
        .headers = pr.hdr,
        .n_headers = pr.nh,
        .body = pr.body,
        .body_len = strlen(pr.body),
    };
    if (sigv4_sign(&r, &cred, &o, &s, NULL) != 0) {
        fprintf(stderr, "%s: sign failed\n", name);
        goto out;
    }
    ok = 1;
    if (strcmp(s.canonical_request, creq) != 0) {
        fprintf(stderr, "%s: canonical request\n--- got\n%s\n--- want\n%s\n", name,
                s.canonical_request, creq);
        ok = 0;
    }
    if (strcmp(s.string_to_sign, sts) != 0) {
        fprintf(stderr, "%s: string to sign\n--- got\n%s\n--- want\n%s\n", name, s.string_to_sign,
                sts);
        ok = 0;
    }
    if (strcmp(s.signature, sig) != 0) {
        fprintf(stderr, "%s: signature got %s want %s\n", name, s.signature, sig);
        ok = 0;
    }
    char want_auth[512];
    snprintf(want_auth, sizeof want_auth,
             "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
             "SignedHeaders=%s, Signature=%s",
             s.signed_headers, sig);
    if (strcmp(s.authorization, want_auth) != 0) {
        fprintf(stderr, "%s: authorization %s\n", name, s.authorization);
        ok = 0;
    }
out:
    if (parsed)
        parsed_release(&pr);
    sigv4_signed_release(&s);
    json_decref(ctx);
    free(req);
    free(creq);
    free(sts);
    free(sig);
    return ok;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_suite(void)
{
    const char *root = getenv("PARLEY_SRC");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/sigv4/v4", root ? root : ".");
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    if (!d)
        return;
    char *names[128];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 128) {
        if (e->d_name[0] != '.')
            names[n++] = xstrdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, name_cmp);
    CHECK(n >= 30); /* the suite is all there */
    for (size_t i = 0; i < n; i++) {
        char label[300];
        snprintf(label, sizeof label, "sigv4 suite %s", names[i]);
        check_record(label, run_case(dir, names[i]));
        free(names[i]);
    }
}

/* Signs a hand-written canonical request with a plain HMAC chain, independently of sigv4.c's
 * canonicalisation. */
static void hand_sign(const char *creq, const char *date8, const char *amz_date, const char *region,
                      const char *service, const char *secret, char out[65])
{
    unsigned char h[32], k[32], k2[32];
    unsigned int len = 32;
    char hex[65], sts[512];
    EVP_Digest(creq, strlen(creq), h, NULL, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        sprintf(hex + 2 * i, "%02x", h[i]);
    snprintf(sts, sizeof sts, "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s", amz_date, date8,
             region, service, hex);
    char seed[128];
    snprintf(seed, sizeof seed, "AWS4%s", secret);
    HMAC(EVP_sha256(), seed, (int)strlen(seed), (const unsigned char *)date8, strlen(date8), k,
         &len);
    HMAC(EVP_sha256(), k, 32, (const unsigned char *)region, strlen(region), k2, &len);
    HMAC(EVP_sha256(), k2, 32, (const unsigned char *)service, strlen(service), k, &len);
    HMAC(EVP_sha256(), k, 32, (const unsigned char *)"aws4_request", 12, k2, &len);
    HMAC(EVP_sha256(), k2, 32, (const unsigned char *)sts, strlen(sts), h, &len);
    for (int i = 0; i < 32; i++)
        sprintf(out + 2 * i, "%02x", h[i]);
}

static void test_bedrock_path(void)
{
    const char *body = "{\"anthropic_version\":\"bedrock-2023-05-31\",\"max_tokens\":16,"
                       "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    char *id = sigv4_uri_encode("anthropic.claude-3-5-sonnet-20241022-v2:0",
                                strlen("anthropic.claude-3-5-sonnet-20241022-v2:0"), 0);
    CHECK_STR(id, "anthropic.claude-3-5-sonnet-20241022-v2%3A0");
    char *path = xasprintf("/model/%s/invoke", id);
    struct sigv4_header hdr[] = {{"Content-Type", "application/json"},
                                 {"Accept", "application/json"}};
    struct sigv4_request r = {.method = "POST",
                              .host = "bedrock-runtime.us-east-1.amazonaws.com",
                              .path = path,
                              .headers = hdr,
                              .n_headers = 2,
                              .body = body,
                              .body_len = strlen(body)};
    struct sigv4_credentials cred = {"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                                     "session-token-example"};
    struct sigv4_options o;
    sigv4_options_for_service(&o, "us-east-1", "bedrock", 1440938160); /* 2015-08-30T12:36:00Z */
    struct sigv4_signed s;
    CHECK_INT(sigv4_sign(&r, &cred, &o, &s, NULL), 0);
    char body_hash[65];
    sigv4_sha256_hex(body, strlen(body), body_hash);
    char *want_creq = xasprintf(
        "POST\n/model/anthropic.claude-3-5-sonnet-20241022-v2%%253A0/invoke\n\n"
        "accept:application/json\ncontent-type:application/json\n"
        "host:bedrock-runtime.us-east-1.amazonaws.com\nx-amz-date:20150830T123600Z\n"
        "x-amz-security-token:session-token-example\n\n"
        "accept;content-type;host;x-amz-date;x-amz-security-token\n%s",
        body_hash);
    CHECK_STR(s.canonical_request, want_creq);
    char want_sig[65];
    hand_sign(want_creq, "20150830", "20150830T123600Z", "us-east-1", "bedrock",
              cred.secret_access_key, want_sig);
    CHECK_STR(s.signature, want_sig);
    CHECK_STR(s.signed_headers, "accept;content-type;host;x-amz-date;x-amz-security-token");
    /* The headers to add: Authorization, X-Amz-Date and the token. */
    CHECK_INT(s.n_add, 3);
    CHECK_STR(s.add[1].value, "20150830T123600Z");
    CHECK_STR(s.add[2].value, "session-token-example");
    sigv4_signed_release(&s);
    free(want_creq);
    free(path);
    free(id);
}

static void test_s3_path_single_encoding(void)
{
    struct sigv4_request r = {.method = "PUT",
                              .host = "127.0.0.1:4569",
                              .path = "/conversation-logs/2025/01/02/a%20b.json",
                              .body = "{}",
                              .body_len = 2};
    struct sigv4_credentials cred = {"AKID", "SECRET", NULL};
    struct sigv4_options o;
    sigv4_options_for_service(&o, "eu-west-1", "s3", 1440938160);
    struct sigv4_signed s;
    CHECK_INT(sigv4_sign(&r, &cred, &o, &s, NULL), 0);
    char h[65];
    sigv4_sha256_hex("{}", 2, h);
    char *want = xasprintf("PUT\n/conversation-logs/2025/01/02/a%%20b.json\n\n"
                           "host:127.0.0.1:4569\nx-amz-content-sha256:%s\n"
                           "x-amz-date:20150830T123600Z\n\nhost;x-amz-content-sha256;x-amz-date\n%s",
                           h, h);
    CHECK_STR(s.canonical_request, want);
    char want_sig[65];
    hand_sign(want, "20150830", "20150830T123600Z", "eu-west-1", "s3", "SECRET", want_sig);
    CHECK_STR(s.signature, want_sig);
    CHECK_INT(s.n_add, 3);
    CHECK_STR(s.add[2].name, "X-Amz-Content-Sha256");
    CHECK_STR(s.add[2].value, h);
    sigv4_signed_release(&s);
    free(want);
}

static void test_query_encoding_and_errors(void)
{
    /* Query values are decoded then re-encoded: '/' and ':' become %2F and %3A; a bare key gets
     * "="; pairs sort by key then value. */
    struct sigv4_request r = {.method = "GET",
                              .host = "sqs.us-east-1.amazonaws.com",
                              .path = "/",
                              .query = "b=x%2Fy:z&a&b=a"};
    struct sigv4_credentials cred = {"AKID", "SECRET", NULL};
    struct sigv4_options o;
    sigv4_options_for_service(&o, "us-east-1", "sqs", 0);
    struct sigv4_signed s;
    CHECK_INT(sigv4_sign(&r, &cred, &o, &s, NULL), 0);
    CHECK(strstr(s.canonical_request, "\na=&b=a&b=x%2Fy%3Az\n") != NULL);
    CHECK_STR(s.amz_date, "19700101T000000Z");
    sigv4_signed_release(&s);

    struct err e = {0};
    struct sigv4_credentials none = {"", "SECRET", NULL};
    CHECK_INT(sigv4_sign(&r, &none, &o, &s, &e), -1);
    CHECK_STR(e.code, "InvalidArgument");
    CHECK(s.authorization == NULL);
}

int main(void)
{
    xmalloc_init();
    test_suite();
    RUN(test_bedrock_path);
    RUN(test_s3_path_single_encoding);
    RUN(test_query_encoding_and_errors);
    return check_summary();
}
