/* test_base.c - config table, UTF-8 validation, random ids, clock formatting, errors, the string
 * hash. */
#include <stdlib.h>

#include "base/clock.h"
#include "base/config.h"
#include "base/hash.h"
#include "base/rand.h"
#include "base/utf8.h"
#include "base/xmalloc.h"
#include "check.h"

static void test_config_defaults_and_env(void)
{
    struct config c;
    struct err e;
    unsetenv("PARLEY_PORT");
    CHECK(config_load(&c, &e) == 0);
    CHECK_INT(c.port, 8080);
    CHECK_STR(c.data, "./data");
    CHECK_STR(c.model, "offline");
    config_release(&c);
    setenv("PARLEY_PORT", "9091", 1);
    setenv("PARLEY_DATA", "/tmp/x", 1);
    CHECK(config_load(&c, &e) == 0);
    CHECK_INT(c.port, 9091);
    CHECK_STR(c.data, "/tmp/x");
    CHECK(config_set(&c, "PARLEY_PORT", "7000", &e) == 0);
    CHECK_INT(c.port, 7000);
    config_release(&c);
    unsetenv("PARLEY_DATA");
}

static void test_config_rejects_bad_values(void)
{
    struct config c;
    struct err e;
    setenv("PARLEY_PORT", "70000", 1);
    CHECK(config_load(&c, &e) < 0);
    CHECK_STR(e.code, "InvalidConfig");
    CHECK(strstr(e.message, "PARLEY_PORT") && strstr(e.message, "70000"));
    config_release(&c);
    setenv("PARLEY_PORT", "80x", 1);
    CHECK(config_load(&c, &e) < 0);
    CHECK(strstr(e.message, "integer") != NULL);
    config_release(&c);
    unsetenv("PARLEY_PORT");
    setenv("PARLEY_MODEL", "gpt", 1);
    CHECK(config_load(&c, &e) < 0);
    CHECK(strstr(e.message, "offline|bedrock|anthropic|openai") != NULL);
    config_release(&c);
    unsetenv("PARLEY_MODEL");
    CHECK(config_load(&c, &e) == 0);
    CHECK(config_set(&c, "PARLEY_NOPE", "1", &e) < 0);
    CHECK(strstr(e.message, "PARLEY_NOPE") != NULL);
    config_release(&c);
}

static void test_utf8(void)
{
    CHECK_INT(utf8_invalid_at("plain", 5), -1);
    CHECK_INT(utf8_invalid_at("caf\xc3\xa9", 5), -1);
    CHECK_INT(utf8_invalid_at("\xf0\x9f\x98\x80", 4), -1); /* emoji */
    CHECK_INT(utf8_invalid_at("ab\xc3", 3), 2);            /* truncated */
    CHECK_INT(utf8_invalid_at("\xc0\x80", 2), 0);          /* overlong NUL */
    CHECK_INT(utf8_invalid_at("\xe0\x80\xaf", 3), 0);      /* overlong */
    CHECK_INT(utf8_invalid_at("x\xed\xa0\x80", 4), 1);     /* surrogate */
    CHECK_INT(utf8_invalid_at("\xf4\x90\x80\x80", 4), 0);  /* above U+10FFFF */
    CHECK_INT(utf8_invalid_at("\x80", 1), 0);              /* lone continuation */
    CHECK_INT(utf8_length("caf\xc3\xa9\xf0\x9f\x98\x80"), 5);
}

static int cmp_id(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* How many of the n ids repeat one before it (sorts them). */
static int repeats(char (*ids)[23], int n)
{
    qsort(ids, (size_t)n, sizeof *ids, cmp_id);
    int r = 0;
    for (int i = 1; i < n; i++)
        r += strcmp(ids[i - 1], ids[i]) == 0;
    return r;
}

static void test_random_ids(void)
{
    char a[23], b[23], u[37];
    CHECK(rand_id128(a) == 0);
    CHECK(rand_id128(b) == 0);
    CHECK_INT(strlen(a), 22);
    CHECK(strcmp(a, b) != 0);
    for (int i = 0; i < 22; i++)
        CHECK(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", a[i]));
    CHECK(rand_uuid4(u) == 0);
    CHECK_INT(strlen(u), 36);
    CHECK(u[14] == '4');
    CHECK(strchr("89ab", u[19]) != NULL);
    /* The ids spread over the alphabet: 2000 ids use every one of the 64 characters. */
    int seen[256] = {0};
    for (int i = 0; i < 2000; i++) {
        rand_id128(a);
        for (int k = 0; k < 21; k++)
            seen[(unsigned char)a[k]] = 1;
    }
    int distinct = 0;
    for (int i = 0; i < 256; i++)
        distinct += seen[i];
    CHECK_INT(distinct, 64);
    /* Ids come 32 to a kernel fetch: across many refills, none repeats. */
    enum { N = 3000 };
    char(*ids)[23] = calloc(N, sizeof *ids);
    for (int i = 0; i < N; i++)
        CHECK(rand_id128(ids[i]) == 0);
    CHECK_INT(repeats(ids, N), 0);
    free(ids);
    /* rand_id_bytes: 16 pooled bytes a call, across refills none repeats or comes back zeroed
     * (the pool wipes what it hands out, so a reuse would show as zeros). */
    enum { M = 200 };
    uint8_t raw[M][16], zero[16] = {0};
    int same = 0, zeroed = 0;
    for (int i = 0; i < M; i++) {
        CHECK(rand_id_bytes(raw[i]) == 0);
        zeroed += memcmp(raw[i], zero, 16) == 0;
        for (int j = 0; j < i; j++)
            same += memcmp(raw[i], raw[j], 16) == 0;
    }
    CHECK_INT(same, 0);
    CHECK_INT(zeroed, 0);
}

/* rand_id_timed: the session-id pattern, the clock in the first 8 characters (decoded back to
 * the milliseconds of the call), ids of later milliseconds sort later, and the random part spreads
 * and does not repeat. */
static void test_timed_ids(void)
{
    static const char sorted[] = "-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz";
    for (int i = 1; i < 64; i++)
        CHECK(sorted[i - 1] < sorted[i]); /* the alphabet is in byte order */
    char a[23], b[23];
    int64_t before = clock_now_ms();
    CHECK(rand_id_timed(a) == 0);
    int64_t after = clock_now_ms();
    CHECK_INT(strlen(a), 22);
    int64_t ms = 0;
    for (int i = 0; i < 22; i++) {
        const char *at = strchr(sorted, a[i]);
        CHECK(at != NULL && a[i] != '\0');
        if (i < 8 && at)
            ms = ms << 6 | (at - sorted);
    }
    CHECK(ms >= before && ms <= after);
    /* A later millisecond sorts later, whatever the random part. */
    struct timespec pause = {0, 2000000};
    nanosleep(&pause, NULL);
    CHECK(rand_id_timed(b) == 0);
    CHECK(strcmp(a, b) < 0);
    CHECK(memcmp(a, b, 8) < 0);
    /* The random part: every character of the alphabet shows up and no id repeats. */
    enum { N = 3000 };
    char(*ids)[23] = calloc(N, sizeof *ids);
    int seen[256] = {0};
    for (int i = 0; i < N; i++) {
        CHECK(rand_id_timed(ids[i]) == 0);
        for (int k = 8; k < 21; k++)
            seen[(unsigned char)ids[i][k]] = 1;
    }
    int distinct = 0;
    for (int i = 0; i < 256; i++)
        distinct += seen[i];
    CHECK_INT(distinct, 64);
    CHECK_INT(repeats(ids, N), 0);
    free(ids);
}

static void test_clock(void)
{
    char buf[40];
    clock_iso8601(1764041400123LL, buf, sizeof buf);
    CHECK_STR(buf, "2025-11-25T03:30:00.123Z");
    clock_iso8601(0, buf, sizeof buf);
    CHECK_STR(buf, "1970-01-01T00:00:00.000Z");
    clock_iso8601(951868799007LL, buf, sizeof buf); /* the last second of a leap day */
    CHECK_STR(buf, "2000-02-29T23:59:59.007Z");
    clock_iso8601(253402300799999LL, buf, sizeof buf); /* the last millisecond of year 9999 */
    CHECK_STR(buf, "9999-12-31T23:59:59.999Z");
    clock_iso8601(253402300800000LL, buf, sizeof buf); /* year 10000: printf's wider text */
    CHECK_STR(buf, "10000-01-01T00:00:00.000Z");
    char small[12]; /* too small a buffer: cut, still terminated */
    clock_iso8601(1764041400123LL, small, sizeof small);
    CHECK_STR(small, "2025-11-25T");
    CHECK(clock_now_ms() > 1700000000000LL);
    int64_t a = clock_mono_us(), b = clock_mono_us();
    CHECK(b >= a);
}

static void test_err(void)
{
    struct err e;
    err_clear(&e);
    CHECK(!err_is_set(&e));
    CHECK_INT(err_set(&e, "NotFound", "ticket '%s' not found", "TKT-1"), -1);
    CHECK(err_is_set(&e));
    CHECK_STR(e.message, "ticket 'TKT-1' not found");
    CHECK_INT(err_set(NULL, "X", "y"), -1);
}

/* What --help prints of the settings, into buf (NUL-terminated). */
static void help_text(char *buf, size_t cap)
{
    memset(buf, 0, cap);
    FILE *f = fmemopen(buf, cap - 1, "w");
    config_print_help(f);
    fclose(f);
}

/* The settings that adapters used to read with getenv are rows of the table, with bounds. */
static void test_config_adapter_settings(void)
{
    struct config c;
    struct err e;
    setenv("PARLEY_WORKFLOW_TIMEOUT_MS", "4500", 1);
    setenv("PARLEY_MODEL_ID", "m-1", 1);
    setenv("PARLEY_DYNAMO_ENTITIES", "Ents", 1);
    setenv("AWS_XRAY_DAEMON_ADDRESS", "127.0.0.1:2000", 1);
    CHECK(config_load(&c, &e) == 0);
    CHECK_INT(c.workflow_timeout_ms, 4500);
    CHECK_STR(c.model_id, "m-1");
    CHECK_STR(c.dynamo_entities, "Ents");
    CHECK_STR(c.dynamo_conversations, "");
    CHECK_STR(c.aws_xray_daemon, "127.0.0.1:2000");
    CHECK_INT(c.model_max_retries, -1);
    CHECK_INT(c.demo_orders, 1);
    config_release(&c);
    setenv("PARLEY_MODEL_MAX_RETRIES", "11", 1);
    CHECK(config_load(&c, &e) < 0);
    CHECK(strstr(e.message, "PARLEY_MODEL_MAX_RETRIES must be between -1 and 10") != NULL);
    config_release(&c);
    unsetenv("PARLEY_MODEL_MAX_RETRIES");
    unsetenv("PARLEY_WORKFLOW_TIMEOUT_MS");
    unsetenv("PARLEY_MODEL_ID");
    unsetenv("PARLEY_DYNAMO_ENTITIES");
    unsetenv("AWS_XRAY_DAEMON_ADDRESS");
    /* --help lists them. */
    static char buf[32768];
    help_text(buf, sizeof buf);
    CHECK(strstr(buf, "ANTHROPIC_API_KEY") != NULL);
    CHECK(strstr(buf, "PARLEY_WORKFLOW_TIMEOUT_MS") != NULL);
    CHECK(strstr(buf, "PARLEY_DYNAMO_CONVERSATIONS") != NULL);
}

/* The standard variables (AWS, Lambda, CA bundle) are rows too, read through config_env(): the
 * environment's value when not empty, else the row's default; a service's endpoint matches the
 * AWS_ENDPOINT_URL_<SERVICE> row; config_set refuses them; --help lists them. */
static void test_config_env(void)
{
    setenv("AWS_ENDPOINT_URL_SQS", "http://127.0.0.1:9324", 1);
    setenv("AWS_REGION", "", 1);
    unsetenv("PARLEY_ACCOUNT_ID");
    CHECK_STR(config_env("AWS_ENDPOINT_URL_SQS"), "http://127.0.0.1:9324");
    CHECK(config_env("AWS_REGION") == NULL); /* empty is unset */
    CHECK_STR(config_env("PARLEY_ACCOUNT_ID"), "000000000000");
    setenv("PARLEY_ACCOUNT_ID", "123456789012", 1);
    CHECK_STR(config_env("PARLEY_ACCOUNT_ID"), "123456789012");
    unsetenv("PARLEY_ACCOUNT_ID");
    unsetenv("AWS_ENDPOINT_URL_SQS");
    unsetenv("AWS_REGION");
    /* again, as the per-thread memo of rows answers: the same defaults, the environment still
     * read at each call, two names of one pattern row */
    for (int round = 0; round < 3; round++) {
        CHECK_STR(config_env("PARLEY_ACCOUNT_ID"), "000000000000");
        CHECK(config_env("AWS_REGION") == NULL);
        CHECK(config_env("AWS_ENDPOINT_URL_SQS") == NULL);
        CHECK(config_env("AWS_ENDPOINT_URL_S3") == NULL);
        setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:4569", 1);
        CHECK_STR(config_env("AWS_ENDPOINT_URL_S3"), "http://127.0.0.1:4569");
        unsetenv("AWS_ENDPOINT_URL_S3");
    }
    struct config c;
    struct err e;
    CHECK(config_load(&c, &e) == 0);
    CHECK(config_set(&c, "AWS_REGION", "eu-west-1", &e) < 0);
    CHECK(strstr(e.message, "AWS_REGION is read from the environment only") != NULL);
    config_release(&c);
    static char buf[32768];
    help_text(buf, sizeof buf);
    CHECK(strstr(buf, "\n  AWS_REGION ") != NULL);
    CHECK(strstr(buf, "\n  AWS_ENDPOINT_URL_<SERVICE> ") != NULL);
    CHECK(strstr(buf, "\n  AWS_LAMBDA_RUNTIME_API ") != NULL);
    CHECK(strstr(buf, "\n  CURL_CA_BUNDLE ") != NULL);
}

/* hash_str is 64-bit FNV-1a from HASH_STR_BASIS (values from an independent Python loop), and
 * takes bytes past 0x7f unsigned. */
static void test_hash_str(void)
{
    CHECK(hash_str("") == 1469598103934665603ULL);
    CHECK(hash_str("a") == 0x44bd8ad473cd9906ULL);
    CHECK(hash_str("foobar") == 0x88fad7c0a8ff07f2ULL);
    CHECK(hash_str("\xff") == 0x44bd24d473ccebb4ULL);
    CHECK(hash_str("ab") != hash_str("ba"));
}

static uint64_t stream_of(const void *s, size_t len)
{
    struct hash_stream hs;
    hash_stream_init(&hs);
    hash_stream_feed(&hs, s, len);
    return hash_stream_done(&hs);
}

/* hash_stream: values from an independent Python loop of the algorithm hash.h describes; the
 * same bytes hash alike however they are cut; one changed, added or missing byte changes it. */
static void test_hash_stream(void)
{
    CHECK(stream_of(NULL, 0) == 0xe320eefb063c63eeULL);
    CHECK(stream_of("a", 1) == 0x12bad8a9da128d74ULL);
    const char *req = "{\"max_tokens\":512,\"messages\":[]}";
    CHECK(stream_of(req, strlen(req)) == 0x93077561ea8fc000ULL);
    CHECK(stream_of("\xff\xff\xff\xff\xff\xff\xff\xff\xff", 9) == 0xdb9a1bf1776910adULL);
    CHECK(stream_of("", 1) != stream_of(NULL, 0)); /* a NUL byte counts */

    unsigned char buf[1000];
    uint64_t x = 88172645463325252ULL;
    for (size_t i = 0; i < sizeof buf; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        buf[i] = (unsigned char)x;
    }
    uint64_t whole = stream_of(buf, sizeof buf);
    for (size_t cut = 1; cut <= 17; cut++) { /* pieces of 1..17 bytes, then a varying mix */
        struct hash_stream hs;
        hash_stream_init(&hs);
        size_t at = 0, k = 0;
        while (at < sizeof buf) {
            size_t n = cut == 17 ? 1 + (k++ * 7) % 19 : cut;
            n = n > sizeof buf - at ? sizeof buf - at : n;
            hash_stream_feed(&hs, buf + at, n);
            if (at == 500)
                (void)hash_stream_done(&hs); /* a look at the hash midway changes nothing */
            at += n;
        }
        CHECK(hash_stream_done(&hs) == whole);
    }
    for (size_t i = 0; i < 100; i++) { /* one flipped bit anywhere in the first 100 bytes */
        buf[i] ^= 4;
        CHECK(stream_of(buf, sizeof buf) != whole);
        buf[i] ^= 4;
    }
    CHECK(stream_of(buf, sizeof buf - 1) != whole);
    CHECK(stream_of(buf, 8) != stream_of(buf, 9));
}

int main(void)
{
    xmalloc_init();
    RUN(test_config_defaults_and_env);
    RUN(test_config_rejects_bad_values);
    RUN(test_config_adapter_settings);
    RUN(test_config_env);
    RUN(test_utf8);
    RUN(test_random_ids);
    RUN(test_timed_ids);
    RUN(test_clock);
    RUN(test_err);
    RUN(test_hash_str);
    RUN(test_hash_stream);
    return check_summary();
}
