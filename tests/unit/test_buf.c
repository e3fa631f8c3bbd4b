/* test_buf.c - the growable buffer: appends, the cap, ownership hand-over, reset, reserve. */
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include "base/buf.h"
#include "base/xmalloc.h"
#include "check.h"

static void test_append_and_take(void)
{
    struct buf b;
    buf_init(&b, 1024);
    CHECK_STR(buf_str(&b), "");
    CHECK_INT(b.len, 0);
    CHECK_INT(buf_add_str(&b, "hello"), 0);
    CHECK_INT(buf_add_char(&b, ' '), 0);
    CHECK_INT(buf_add(&b, "world!!", 5), 0);
    CHECK_INT(buf_printf(&b, " %d-%s", 42, "x"), 0);
    CHECK_STR(buf_str(&b), "hello world 42-x");
    CHECK_INT(b.len, 16);
    size_t len = 0;
    char *s = buf_take(&b, &len);
    CHECK_STR(s, "hello world 42-x");
    CHECK_INT(len, 16);
    /* after take, b is empty and reusable, and owns nothing */
    CHECK(b.data == NULL);
    CHECK_INT(b.len, 0);
    CHECK_INT(buf_add_str(&b, "again"), 0);
    CHECK_STR(buf_str(&b), "again");
    buf_release(&b);
    free(s);
}

static void test_take_empty_is_fresh_string(void)
{
    struct buf b;
    buf_init(&b, 8);
    size_t len = 99;
    char *s = buf_take(&b, &len);
    CHECK(s != NULL);
    CHECK_STR(s, "");
    CHECK_INT(len, 0);
    free(s); /* must be heap memory: ASan would flag a static string */
}

static void test_cap_is_exact_and_failure_leaves_buffer(void)
{
    struct buf b;
    buf_init(&b, 10);
    CHECK_INT(buf_add_str(&b, "0123456789"), 0); /* exactly the cap */
    CHECK_INT(b.len, 10);
    CHECK_INT(buf_add_char(&b, 'x'), -1);
    CHECK_INT(buf_add_str(&b, "y"), -1);
    CHECK_INT(buf_printf(&b, "%d", 7), -1);
    CHECK_INT(buf_reserve(&b, 1), -1);
    CHECK_STR(buf_str(&b), "0123456789");
    CHECK_INT(b.len, 10);
    CHECK(b.cap <= 11); /* never allocates past the cap plus the NUL */
    buf_reset(&b);
    CHECK_INT(b.len, 0);
    CHECK_STR(buf_str(&b), "");
    CHECK_INT(buf_add_str(&b, "abc"), 0);
    CHECK_STR(buf_str(&b), "abc");
    /* one append that alone passes the cap fails whole, not truncated */
    CHECK_INT(buf_add_str(&b, "defghijkl"), -1);
    CHECK_STR(buf_str(&b), "abc");
    /* a huge n must not wrap around */
    CHECK_INT(buf_add(&b, "", (size_t)-1), -1);
    CHECK_INT(buf_reserve(&b, (size_t)-1 - 1), -1);
    buf_release(&b);
}

static void test_printf_past_cap(void)
{
    struct buf b;
    buf_init(&b, 16);
    CHECK_INT(buf_printf(&b, "%s", "0123456789abcdef"), 0);
    buf_reset(&b);
    CHECK_INT(buf_printf(&b, "%s", "0123456789abcdefg"), -1);
    CHECK_INT(b.len, 0);
    buf_release(&b);
}

static void test_growth_and_binary(void)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    for (int i = 0; i < 10000; i++)
        CHECK_INT(buf_add(&b, "\0ab", 3), 0);
    CHECK_INT(b.len, 30000);
    CHECK(b.data[0] == '\0' && b.data[1] == 'a' && b.data[29999] == 'b');
    CHECK(b.data[30000] == '\0');
    buf_release(&b);
    CHECK(b.data == NULL);
    CHECK_INT(b.len, 0);
}

static void test_reserve_commit(void)
{
    struct buf b;
    buf_init(&b, 100);
    CHECK_INT(buf_add_str(&b, "ab"), 0);
    CHECK_INT(buf_reserve(&b, 5), 0);
    memcpy(b.data + b.len, "cdefg", 5);
    buf_commit(&b, 3);
    CHECK_STR(buf_str(&b), "abcde");
    CHECK_INT(buf_reserve(&b, 96), -1);
    CHECK_INT(buf_reserve(&b, 95), 0);
    buf_release(&b);
}

static void test_zero_cap_and_empty_append(void)
{
    struct buf b;
    buf_init(&b, 0);
    CHECK(b.data == NULL);
    CHECK_INT(buf_add(&b, "", 0), 0); /* an empty append makes data a real "" */
    CHECK(b.data != NULL);
    CHECK_STR(b.data, "");
    CHECK_INT(buf_add_char(&b, 'x'), -1);
    CHECK_INT(b.len, 0);
    buf_release(&b);
}

/* SIZE_MAX is no cap at all: appends grow the buffer as usual. */
static void test_no_cap(void)
{
    struct buf b;
    buf_init(&b, SIZE_MAX);
    for (int i = 0; i < 1000; i++)
        CHECK_INT(buf_add(&b, "0123456789", 10), 0);
    CHECK_INT(b.len, 10000);
    CHECK(b.cap > b.len && strncmp(buf_str(&b) + 9990, "0123456789", 10) == 0);
    buf_release(&b);
}

int main(void)
{
    xmalloc_init();
    RUN(test_append_and_take);
    RUN(test_take_empty_is_fresh_string);
    RUN(test_cap_is_exact_and_failure_leaves_buffer);
    RUN(test_printf_past_cap);
    RUN(test_growth_and_binary);
    RUN(test_reserve_commit);
    RUN(test_zero_cap_and_empty_append);
    RUN(test_no_cap);
    return check_summary();
}
