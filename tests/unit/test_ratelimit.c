/*
 * test_ratelimit.c - token buckets (src/edge/ratelimit.c): burst, refill, Retry-After seconds,
 * keys apart, bounded memory with idle-first eviction, and the client address behind trusted
 * proxies.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "edge/ratelimit.h"

static void test_burst_and_refill(void)
{
    struct ratelimit *rl = ratelimit_new(60, 100); /* one a second, bursts of 60 */
    int64_t t = 1000000;
    for (int i = 0; i < 60; i++)
        CHECK_INT(ratelimit_take(rl, "1.2.3.4", t), 0);
    CHECK_INT(ratelimit_take(rl, "1.2.3.4", t), 1); /* a token in 1 s */
    CHECK_INT(ratelimit_take(rl, "5.6.7.8", t), 0); /* another key has its own bucket */
    CHECK_INT(ratelimit_take(rl, "1.2.3.4", t + 999), 1);
    CHECK_INT(ratelimit_take(rl, "1.2.3.4", t + 1000), 0);
    CHECK_INT(ratelimit_take(rl, "1.2.3.4", t + 1000), 1);
    ratelimit_free(rl);

    rl = ratelimit_new(2, 10); /* one every 30 s */
    CHECK_INT(ratelimit_take(rl, "s", 0), 0);
    CHECK_INT(ratelimit_take(rl, "s", 0), 0);
    CHECK_INT(ratelimit_take(rl, "s", 0), 30);
    CHECK_INT(ratelimit_take(rl, "s", 20000), 10);
    CHECK_INT(ratelimit_take(rl, "s", 30000), 0);
    /* A long idle refills to the burst size, no more. */
    CHECK_INT(ratelimit_take(rl, "s", 10000000), 0);
    CHECK_INT(ratelimit_take(rl, "s", 10000000), 0);
    CHECK(ratelimit_take(rl, "s", 10000000) > 0);
    ratelimit_free(rl);
    ratelimit_free(NULL);
}

static void test_bounded_memory(void)
{
    struct ratelimit *rl = ratelimit_new(10, 50);
    char key[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "10.0.%d.%d", i / 256, i % 256);
        ratelimit_take(rl, key, 1000 + i);
    }
    CHECK(ratelimit_size(rl) <= 50);
    CHECK(ratelimit_size(rl) >= 1);
    /* A busy key survives a flood of idle ones once they refill (idle evicted first). */
    for (int i = 0; i < 10; i++)
        ratelimit_take(rl, "busy", 100000);
    CHECK(ratelimit_take(rl, "busy", 100000) > 0);
    for (int i = 0; i < 200; i++) {
        snprintf(key, sizeof key, "flood-%d", i);
        ratelimit_take(rl, key, 100000 + i); /* new buckets at once: not idle */
    }
    CHECK(ratelimit_size(rl) <= 50);
    ratelimit_free(rl);

    rl = ratelimit_new(10, 3);
    for (int i = 0; i < 10; i++)
        ratelimit_take(rl, "hot", 0);
    ratelimit_take(rl, "a", 0);
    ratelimit_take(rl, "b", 0);
    /* At the cap; "c" evicts: nothing is idle at t=1 ms, so the least recently used ("hot" at
     * t=0 touched last at 0, same as a and b) goes; at t=120 s every bucket is idle and all go. */
    ratelimit_take(rl, "c", 1);
    CHECK_INT(ratelimit_size(rl), 3);
    ratelimit_take(rl, "d", 120000);
    CHECK_INT(ratelimit_size(rl), 1);
    /* Keys are cut at RATELIMIT_KEY_MAX bytes, never overflow. */
    char long_key[300];
    memset(long_key, 'k', sizeof long_key - 1);
    long_key[sizeof long_key - 1] = '\0';
    CHECK_INT(ratelimit_take(rl, long_key, 120000), 0);
    ratelimit_free(rl);
}

static void test_client_address(void)
{
    struct err e;
    err_clear(&e);
    struct ratelimit_proxies *p = ratelimit_proxies_parse(" 10.0.0.0/8 , 127.0.0.1", &e);
    CHECK(p != NULL);
    char out[RATELIMIT_ADDR_MAX];
    /* An untrusted peer's X-Forwarded-For is ignored. */
    CHECK_STR(ratelimit_client_address(p, "203.0.113.9", "1.1.1.1", out), "203.0.113.9");
    /* A trusted peer: the rightmost address that is not a proxy. */
    CHECK_STR(ratelimit_client_address(p, "127.0.0.1", "6.6.6.6, 198.51.100.7", out),
              "198.51.100.7");
    CHECK_STR(ratelimit_client_address(p, "10.1.2.3", "6.6.6.6,198.51.100.7, 10.9.9.9", out),
              "198.51.100.7");
    CHECK_STR(ratelimit_client_address(p, "127.0.0.1", NULL, out), "127.0.0.1");
    CHECK_STR(ratelimit_client_address(p, "127.0.0.1", "garbage", out), "127.0.0.1");
    CHECK_STR(ratelimit_client_address(p, "127.0.0.1", "10.0.0.5", out), "10.0.0.5");
    ratelimit_proxies_free(p);
    p = ratelimit_proxies_parse("", &e);
    CHECK(p != NULL);
    CHECK_STR(ratelimit_client_address(p, "127.0.0.1", "1.1.1.1", out), "127.0.0.1");
    ratelimit_proxies_free(p);
    const char *bad[] = {"10.0.0.0/33", "300.1.1.1", "10.0.0.0/", "::1", "10.0.0.0/8x"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err_clear(&e);
        CHECK(ratelimit_proxies_parse(bad[i], &e) == NULL);
        CHECK_STR(e.code, "InvalidConfig");
    }
    err_clear(&e);
    p = ratelimit_proxies_parse("0.0.0.0/0", &e); /* all trusted: the leftmost address */
    CHECK_STR(ratelimit_client_address(p, "8.8.8.8", "1.1.1.1, 2.2.2.2", out), "1.1.1.1");
    ratelimit_proxies_free(p);
}

int main(void)
{
    RUN(test_burst_and_refill);
    RUN(test_bounded_memory);
    RUN(test_client_address);
    return check_summary();
}
