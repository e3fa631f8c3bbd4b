/*
 * test_archive.c - the archive port's key rules and the file-system adapter: layout, put/get/
 * list/delete, durable and atomic writes, lifecycle to the gzip cold tier, corrupt cold files.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "archive/archive.h"
#include "base/clock.h"
#include "base/xmalloc.h"
#include "check.h"

#define DAY_MS 86400000LL

/* Days since 1970-01-01 of a proleptic Gregorian date, by counting years and months (slow on
 * purpose: an independent check of the adapter's gmtime-based layout). */
static int64_t days_since_epoch(int y, int m, int d)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int64_t days = 0;
    for (int yy = 1970; yy < y; yy++)
        days += ((yy % 4 == 0 && yy % 100 != 0) || yy % 400 == 0) ? 366 : 365;
    for (int mm = 1; mm < m; mm++)
        days += mdays[mm - 1] + (mm == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
    return days + d - 1;
}

static int64_t utc_ms(int y, int mo, int d, int h, int mi, int s, int ms)
{
    return ((days_since_epoch(y, mo, d) * 24 + h) * 60 + mi) * 60000LL + s * 1000LL + ms;
}

static char *make_tmpdir(void)
{
    char *dir = xstrdup("/tmp/parley-archive-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(1);
    }
    return dir;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void rm_tree(char *dir)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

static int dot_files;
static int count_dot(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    if (path[ftw->base] == '.')
        dot_files++;
    return 0;
}

static int file_exists(const char *dir, const char *rel)
{
    char *p = xasprintf("%s/%s", dir, rel);
    struct stat st;
    int ok = stat(p, &st) == 0;
    free(p);
    return ok;
}

static void set_mtime(const char *dir, const char *rel, int64_t ms)
{
    char *p = xasprintf("%s/%s", dir, rel);
    struct timespec t[2] = {{ms / 1000, (ms % 1000) * 1000000}, {ms / 1000, (ms % 1000) * 1000000}};
    if (utimensat(AT_FDCWD, p, t, AT_SYMLINK_NOFOLLOW) != 0)
        perror(p);
    free(p);
}

static void write_raw(const char *dir, const char *rel, const void *bytes, size_t len)
{
    char *p = xasprintf("%s/%s", dir, rel);
    FILE *f = fopen(p, "wb");
    if (f) {
        fwrite(bytes, 1, len, f);
        fclose(f);
    }
    free(p);
}

static char *read_raw(const char *dir, const char *rel, size_t *len)
{
    char *p = xasprintf("%s/%s", dir, rel);
    FILE *f = fopen(p, "rb");
    free(p);
    if (!f)
        return NULL;
    char *buf = xmalloc(1 << 20);
    *len = fread(buf, 1, 1 << 20, f);
    fclose(f);
    return buf;
}

/* Pseudo-random but compressible bytes. */
static char *sample_bytes(size_t len, unsigned seed)
{
    char *b = xmalloc(len);
    for (size_t i = 0; i < len; i++) {
        seed = seed * 1103515245u + 12345u;
        b[i] = (char)("abcdefgh{}\":,0123\n"[(seed >> 16) % 18]);
    }
    return b;
}

/* ---------------------------------------------------------------- keys */

static void test_key_layout(void)
{
    char key[ARCHIVE_KEY_MAX + 1];
    struct err err = {0};

    CHECK_INT(archive_key_for("s-1", 0, key, sizeof key, &err), 0);
    CHECK_STR(key, "1970/01/01/s-1.json");

    /* One millisecond before midnight UTC stays on that day; the next is the new year. */
    CHECK_INT(archive_key_for("abc", utc_ms(2023, 12, 31, 23, 59, 59, 999), key, sizeof key,
                              &err), 0);
    CHECK_STR(key, "2023/12/31/abc.json");
    CHECK_INT(archive_key_for("abc", utc_ms(2023, 12, 31, 23, 59, 59, 999) + 1, key, sizeof key,
                              &err), 0);
    CHECK_STR(key, "2024/01/01/abc.json");

    /* Leap days: 2024 (divisible by 4), 2000 (by 400); 2100 is not a leap year. */
    CHECK_INT(archive_key_for("x", utc_ms(2024, 2, 29, 12, 0, 0, 0), key, sizeof key, &err), 0);
    CHECK_STR(key, "2024/02/29/x.json");
    CHECK_INT(archive_key_for("x", utc_ms(2024, 2, 28, 23, 59, 59, 999) + 1, key, sizeof key,
                              &err), 0);
    CHECK_STR(key, "2024/02/29/x.json");
    CHECK_INT(archive_key_for("x", utc_ms(2024, 2, 29, 23, 59, 59, 999) + 1, key, sizeof key,
                              &err), 0);
    CHECK_STR(key, "2024/03/01/x.json");
    CHECK_INT(archive_key_for("x", utc_ms(2000, 2, 29, 23, 59, 59, 0), key, sizeof key, &err), 0);
    CHECK_STR(key, "2000/02/29/x.json");
    CHECK_INT(archive_key_for("x", utc_ms(2100, 2, 28, 12, 0, 0, 0) + DAY_MS, key, sizeof key,
                              &err), 0);
    CHECK_STR(key, "2100/03/01/x.json");
    /* A session started just before midnight in a zone ahead of UTC is keyed by its UTC date. */
    CHECK_INT(archive_key_for("late", utc_ms(2025, 6, 30, 23, 30, 0, 0), key, sizeof key, &err),
              0);
    CHECK_STR(key, "2025/06/30/late.json");
    CHECK_INT(archive_key_check(key, &err), 0);
}

static void test_key_rejects(void)
{
    char key[ARCHIVE_KEY_MAX + 1];
    struct err err = {0};
    const char *bad_ids[] = {"", "../etc", "a/b", ".hidden", "a b", "a\nb", "caf\xc3\xa9", "a%2f"};
    for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++) {
        err_clear(&err);
        CHECK_INT(archive_key_for(bad_ids[i], 1000, key, sizeof key, &err), -1);
        CHECK_STR(err.code, "InvalidKey");
    }
    char long_id[ARCHIVE_SESSION_ID_MAX + 2];
    memset(long_id, 'a', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    CHECK_INT(archive_key_for(long_id, 1000, key, sizeof key, &err), -1);
    long_id[ARCHIVE_SESSION_ID_MAX] = '\0';
    CHECK_INT(archive_key_for(long_id, 1000, key, sizeof key, &err), 0);
    err_clear(&err);
    CHECK_INT(archive_key_for("ok", -1, key, sizeof key, &err), -1);
    CHECK_STR(err.code, "InvalidArgument");
    CHECK_INT(archive_key_for("ok", 1000, key, 8, &err), -1);

    const char *bad_keys[] = {"",        "/etc/passwd", "a/../b", "..",     "a/..",   "a//b",
                              "a/",      "./a",         "a/.tmp", "a\\b",   "a:b",    "a b",
                              "a\tb",    "x/y*",        "..a",    "a/b/..c", "\x7f"};
    for (size_t i = 0; i < sizeof bad_keys / sizeof bad_keys[0]; i++) {
        err_clear(&err);
        int rc = archive_key_check(bad_keys[i], &err);
        CHECK_INT(rc, -1);
        if (rc == 0)
            fprintf(stderr, "  accepted bad key '%s'\n", bad_keys[i]);
        CHECK_STR(err.code, "InvalidKey");
        CHECK(strlen(err.message) > 0);
    }
    err_clear(&err);
    CHECK_INT(archive_key_check("/abs", &err), -1);
    CHECK(strstr(err.message, "absolute") != NULL);
    CHECK_INT(archive_key_check("a/../b", &err), -1);
    CHECK(strstr(err.message, "..") != NULL);

    char big[ARCHIVE_KEY_MAX + 2];
    memset(big, 'k', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    for (size_t i = 100; i < sizeof big - 1; i += 100)
        big[i] = '/';
    CHECK_INT(archive_key_check(big, NULL), -1);
    char comp[ARCHIVE_COMPONENT_MAX + 2];
    memset(comp, 'c', sizeof comp - 1);
    comp[sizeof comp - 1] = '\0';
    CHECK_INT(archive_key_check(comp, NULL), -1);
    comp[ARCHIVE_COMPONENT_MAX] = '\0';
    CHECK_INT(archive_key_check(comp, NULL), 0);
    CHECK_INT(archive_key_check("a/b/c/d/e/f/g/h", NULL), 0);
    CHECK_INT(archive_key_check("a/b/c/d/e/f/g/h/i", NULL), -1);
    CHECK_INT(archive_key_check("2024/02/29/sess_1-A.json", NULL), 0);

    CHECK_INT(archive_prefix_check("", NULL), 0);
    CHECK_INT(archive_prefix_check("2024/", NULL), 0);
    CHECK_INT(archive_prefix_check("2024/0", NULL), 0);
    CHECK_INT(archive_prefix_check("../", NULL), -1);
    CHECK_INT(archive_prefix_check("/2024", NULL), -1);
}

/* ---------------------------------------------------------------- fs adapter */

static void test_put_get_list_delete(void)
{
    char *dir = make_tmpdir();
    struct err err = {0};
    struct archive *a = archive_fs_new(dir, &err);
    CHECK(a != NULL);
    if (!a)
        goto out;

    const char *keys[] = {"2024/02/29/b.json", "2024/02/29/a.json", "2024/03/01/c.json",
                          "2023/12/31/z.json", "2024/02/2x.json"};
    for (size_t i = 0; i < 5; i++) {
        char *body = xasprintf("{\"n\":%zu,\"key\":\"%s\"}", i, keys[i]);
        CHECK_INT(archive_put(a, keys[i], body, strlen(body), &err), 0);
        free(body);
    }
    char *out = NULL;
    size_t len = 0;
    CHECK_INT(archive_get(a, keys[2], &out, &len, &err), 0);
    char *want = xasprintf("{\"n\":2,\"key\":\"%s\"}", keys[2]);
    CHECK_STR(out, want);
    CHECK_INT(len, strlen(want));
    free(want);
    free(out);
    char *hot_path = xasprintf("hot/%s", keys[0]);
    CHECK(file_exists(dir, hot_path));
    free(hot_path);

    json_t *page = NULL;
    CHECK_INT(archive_list(a, "", NULL, 1000, &page, &err), 0);
    json_t *objs = json_object_get(page, "objects");
    CHECK_INT(json_array_size(objs), 5);
    /* Byte order: "2024/02/29/..." sorts after "2024/02/2x.json"? '/' (0x2f) < 'x' (0x78). */
    const char *sorted[] = {"2023/12/31/z.json", "2024/02/29/a.json", "2024/02/29/b.json",
                            "2024/02/2x.json", "2024/03/01/c.json"};
    for (size_t i = 0; i < json_array_size(objs) && i < 5; i++) {
        json_t *o = json_array_get(objs, i);
        CHECK_STR(json_string_value(json_object_get(o, "key")), sorted[i]);
        CHECK_STR(json_string_value(json_object_get(o, "storageClass")), "STANDARD");
        CHECK(json_integer_value(json_object_get(o, "size")) > 10);
        CHECK(llabs(json_integer_value(json_object_get(o, "lastModified")) - clock_now_ms()) <
              60000);
    }
    CHECK(json_is_false(json_object_get(page, "isTruncated")));
    json_decref(page);

    /* Prefix and pagination. */
    CHECK_INT(archive_list(a, "2024/02/29/", NULL, 1000, &page, &err), 0);
    CHECK_INT(json_array_size(json_object_get(page, "objects")), 2);
    json_decref(page);
    CHECK_INT(archive_list(a, "2024/02/2", NULL, 1000, &page, &err), 0);
    CHECK_INT(json_array_size(json_object_get(page, "objects")), 3);
    json_decref(page);
    CHECK_INT(archive_list(a, "", NULL, 2, &page, &err), 0);
    CHECK_INT(json_array_size(json_object_get(page, "objects")), 2);
    CHECK(json_is_true(json_object_get(page, "isTruncated")));
    json_decref(page);
    CHECK_INT(archive_list(a, "", "2024/02/29/b.json", 2, &page, &err), 0);
    objs = json_object_get(page, "objects");
    CHECK_INT(json_array_size(objs), 2);
    CHECK_STR(json_string_value(json_object_get(json_array_get(objs, 0), "key")),
              "2024/02/2x.json");
    CHECK(json_is_false(json_object_get(page, "isTruncated")));
    json_decref(page);
    err_clear(&err);
    CHECK_INT(archive_list(a, "../", NULL, 10, &page, &err), -1);
    CHECK_STR(err.code, "InvalidKey");
    CHECK_INT(archive_list(a, "", NULL, 0, &page, &err), -1);

    /* Delete, then the key is gone and its empty directories pruned; deleting again succeeds. */
    CHECK_INT(archive_delete(a, "2024/03/01/c.json", &err), 0);
    err_clear(&err);
    CHECK_INT(archive_get(a, "2024/03/01/c.json", &out, &len, &err), -1);
    CHECK_STR(err.code, "NotFound");
    CHECK(!file_exists(dir, "hot/2024/03"));
    CHECK(file_exists(dir, "hot/2024/02/29"));
    CHECK_INT(archive_delete(a, "2024/03/01/c.json", &err), 0);

    /* Bad keys never reach the file system. */
    err_clear(&err);
    CHECK_INT(archive_put(a, "../escape.json", "x", 1, &err), -1);
    CHECK_STR(err.code, "InvalidKey");
    CHECK_INT(archive_get(a, "/etc/passwd", &out, &len, &err), -1);
    CHECK_INT(archive_delete(a, "a/../../b", &err), -1);
    char *escape = xasprintf("%s/../escape.json", dir);
    struct stat st;
    CHECK(stat(escape, &st) != 0);
    free(escape);

    /* Empty objects are objects. */
    CHECK_INT(archive_put(a, "empty.json", NULL, 0, &err), 0);
    CHECK_INT(archive_get(a, "empty.json", &out, &len, &err), 0);
    CHECK_INT(len, 0);
    CHECK_STR(out, "");
    free(out);

    dot_files = 0;
    nftw(dir, count_dot, 16, FTW_PHYS);
    CHECK_INT(dot_files, 0); /* no temporary files left behind */
    archive_free(a);
out:
    rm_tree(dir);
}

struct overwrite_ctx {
    struct archive *a;
    const char *v1, *v2; /* the only two contents a reader may ever see */
    size_t len1, len2;
    volatile int stop;
    int reads, torn;
};

static void *reader_main(void *arg)
{
    struct overwrite_ctx *c = arg;
    while (!c->stop) {
        char *out = NULL;
        size_t len = 0;
        struct err err = {0};
        if (archive_get(c->a, "k/obj.json", &out, &len, &err) != 0) {
            c->torn++;
            continue;
        }
        c->reads++;
        if (!((len == c->len1 && memcmp(out, c->v1, len) == 0) ||
              (len == c->len2 && memcmp(out, c->v2, len) == 0)))
            c->torn++;
        free(out);
    }
    return NULL;
}

static void test_atomic_overwrite(void)
{
    char *dir = make_tmpdir();
    struct err err = {0};
    struct archive *a = archive_fs_new(dir, &err);
    CHECK(a != NULL);
    if (!a)
        goto out;
    struct overwrite_ctx c = {.a = a};
    char *v1 = sample_bytes(200000, 1), *v2 = sample_bytes(70001, 2);
    c.v1 = v1;
    c.v2 = v2;
    c.len1 = 200000;
    c.len2 = 70001;
    CHECK_INT(archive_put(a, "k/obj.json", v1, c.len1, &err), 0);
    pthread_t t;
    pthread_create(&t, NULL, reader_main, &c);
    for (int i = 0; i < 40; i++) {
        int odd = i % 2;
        CHECK_INT(archive_put(a, "k/obj.json", odd ? v1 : v2, odd ? c.len1 : c.len2, &err), 0);
    }
    c.stop = 1;
    pthread_join(t, NULL);
    CHECK(c.reads > 0);
    CHECK_INT(c.torn, 0);

    char *out = NULL;
    size_t len = 0;
    CHECK_INT(archive_get(a, "k/obj.json", &out, &len, &err), 0);
    CHECK(len == c.len1 && memcmp(out, v1, len) == 0); /* the last put (i = 39) wrote v1 */
    free(out);
    dot_files = 0;
    nftw(dir, count_dot, 16, FTW_PHYS);
    CHECK_INT(dot_files, 0);
    free(v1);
    free(v2);
    archive_free(a);
out:
    rm_tree(dir);
}

static void test_lifecycle(void)
{
    char *dir = make_tmpdir();
    struct err err = {0};
    struct archive *a = archive_fs_new(dir, &err);
    CHECK(a != NULL);
    if (!a)
        goto out;
    int64_t now = clock_now_ms();
    size_t big_len = 300000;
    char *big = sample_bytes(big_len, 7);
    CHECK_INT(archive_put(a, "2024/01/01/old.json", big, big_len, &err), 0);
    CHECK_INT(archive_put(a, "2024/01/02/recent.json", "{\"r\":1}", 7, &err), 0);
    CHECK_INT(archive_put(a, "2024/01/02/edge.json", "{\"e\":1}", 7, &err), 0);
    int64_t old_mtime = now - 100 * DAY_MS - 1234;
    set_mtime(dir, "hot/2024/01/01/old.json", old_mtime);
    set_mtime(dir, "hot/2024/01/02/recent.json", now - 89 * DAY_MS);
    set_mtime(dir, "hot/2024/01/02/edge.json", now - 90 * DAY_MS - 1000);

    json_t *moved = json_array();
    struct archive_lifecycle_stats st;
    CHECK_INT(archive_lifecycle(a, 90, now, &st, moved, &err), 0);
    CHECK_INT(st.scanned, 3);
    CHECK_INT(st.moved, 2);
    CHECK_INT(st.failed, 0);
    CHECK_INT(json_array_size(moved), 2);
    CHECK_STR(json_string_value(json_array_get(moved, 0)), "2024/01/01/old.json");
    CHECK_STR(json_string_value(json_array_get(moved, 1)), "2024/01/02/edge.json");
    json_decref(moved);

    CHECK(!file_exists(dir, "hot/2024/01/01/old.json"));
    CHECK(!file_exists(dir, "hot/2024/01/01")); /* pruned */
    CHECK(file_exists(dir, "cold/2024/01/01/old.json.gz"));
    CHECK(file_exists(dir, "hot/2024/01/02/recent.json"));

    /* The cold file is real gzip, smaller than the content. */
    size_t gz_len = 0;
    char *gz = read_raw(dir, "cold/2024/01/01/old.json.gz", &gz_len);
    CHECK(gz != NULL && gz_len > 18 && (unsigned char)gz[0] == 0x1f &&
          (unsigned char)gz[1] == 0x8b);
    CHECK(gz_len < big_len);

    /* get from the cold tier returns identical bytes. */
    char *out = NULL;
    size_t len = 0;
    CHECK_INT(archive_get(a, "2024/01/01/old.json", &out, &len, &err), 0);
    CHECK_INT(len, big_len);
    CHECK(out && memcmp(out, big, big_len) == 0);
    free(out);

    /* list shows the cold object with its original size and last-modified time. */
    json_t *page = NULL;
    CHECK_INT(archive_list(a, "2024/01/01/", NULL, 10, &page, &err), 0);
    json_t *o = json_array_get(json_object_get(page, "objects"), 0);
    CHECK_STR(json_string_value(json_object_get(o, "storageClass")), "GLACIER");
    CHECK_INT(json_integer_value(json_object_get(o, "size")), big_len);
    CHECK_INT(json_integer_value(json_object_get(o, "lastModified")), old_mtime);
    json_decref(page);
    CHECK_INT(archive_list(a, "", NULL, 10, &page, &err), 0);
    CHECK_INT(json_array_size(json_object_get(page, "objects")), 3);
    json_decref(page);

    /* A second pass has nothing left to move. */
    CHECK_INT(archive_lifecycle(a, 90, now, &st, NULL, &err), 0);
    CHECK_INT(st.moved, 0);
    CHECK_INT(st.scanned, 1);

    /* Putting over a cold object brings it back to the hot tier and drops the cold copy. */
    CHECK_INT(archive_put(a, "2024/01/02/edge.json", "{\"e\":2}", 7, &err), 0);
    CHECK(!file_exists(dir, "cold/2024/01/02/edge.json.gz"));
    CHECK_INT(archive_get(a, "2024/01/02/edge.json", &out, &len, &err), 0);
    CHECK_STR(out, "{\"e\":2}");
    free(out);

    /* Delete removes the cold copy too. */
    CHECK_INT(archive_delete(a, "2024/01/01/old.json", &err), 0);
    CHECK(!file_exists(dir, "cold/2024/01/01/old.json.gz"));
    err_clear(&err);
    CHECK_INT(archive_get(a, "2024/01/01/old.json", &out, &len, &err), -1);
    CHECK_STR(err.code, "NotFound");

    /* days 0 moves everything older than now; negative days is refused. */
    CHECK_INT(archive_lifecycle(a, 0, clock_now_ms() + 1000, &st, NULL, &err), 0);
    CHECK_INT(st.moved, 2);
    CHECK_INT(archive_lifecycle(a, -1, now, &st, NULL, &err), -1);
    dot_files = 0;
    nftw(dir, count_dot, 16, FTW_PHYS);
    CHECK_INT(dot_files, 0);

    free(gz);
    free(big);
    archive_free(a);
out:
    rm_tree(dir);
}

/* Writes a gzip stream of n zero bytes (for the decompression cap). */
static void write_gzip_zeros(const char *path, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return;
    z_stream z;
    memset(&z, 0, sizeof z);
    deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    static unsigned char zeros[1 << 16], out[1 << 16];
    size_t left = n;
    int flush;
    do {
        size_t chunk = left < sizeof zeros ? left : sizeof zeros;
        left -= chunk;
        z.next_in = zeros;
        z.avail_in = (uInt)chunk;
        flush = left == 0 ? Z_FINISH : Z_NO_FLUSH;
        do {
            z.next_out = out;
            z.avail_out = sizeof out;
            deflate(&z, flush);
            fwrite(out, 1, sizeof out - z.avail_out, f);
        } while (z.avail_out == 0);
    } while (flush != Z_FINISH);
    deflateEnd(&z);
    fclose(f);
}

static void test_cold_corrupt(void)
{
    char *dir = make_tmpdir();
    struct err err = {0};
    struct archive *a = archive_fs_new(dir, &err);
    CHECK(a != NULL);
    if (!a)
        goto out;
    char *body = sample_bytes(50000, 3);
    CHECK_INT(archive_put(a, "c/good.json", body, 50000, &err), 0);
    CHECK_INT(archive_put(a, "c/trunc.json", body, 50000, &err), 0);
    CHECK_INT(archive_put(a, "c/trail.json", body, 50000, &err), 0);
    struct archive_lifecycle_stats st;
    CHECK_INT(archive_lifecycle(a, 0, clock_now_ms() + 1000, &st, NULL, &err), 0);
    CHECK_INT(st.moved, 3);

    /* Garbage in place of gzip. */
    write_raw(dir, "cold/c/good.json.gz", "this is not gzip at all", 23);
    char *out = NULL;
    size_t len = 0;
    err_clear(&err);
    CHECK_INT(archive_get(a, "c/good.json", &out, &len, &err), -1);
    CHECK_STR(err.code, "ArchiveCorrupt");
    CHECK(strstr(err.message, "c/good.json") != NULL);

    /* A gzip stream cut in half. */
    size_t gz_len = 0;
    char *gz = read_raw(dir, "cold/c/trunc.json.gz", &gz_len);
    CHECK(gz != NULL);
    if (gz) {
        write_raw(dir, "cold/c/trunc.json.gz", gz, gz_len / 2);
        err_clear(&err);
        CHECK_INT(archive_get(a, "c/trunc.json", &out, &len, &err), -1);
        CHECK_STR(err.code, "ArchiveCorrupt");
        CHECK(strstr(err.message, "truncated") != NULL);
        /* A flipped byte in the middle: the CRC or the deflate data catches it. */
        gz[gz_len / 2] ^= 0x55;
        write_raw(dir, "cold/c/trunc.json.gz", gz, gz_len);
        err_clear(&err);
        CHECK_INT(archive_get(a, "c/trunc.json", &out, &len, &err), -1);
        CHECK_STR(err.code, "ArchiveCorrupt");
        /* Trailing bytes after a valid stream. */
        gz[gz_len / 2] ^= 0x55;
        char *more = xmalloc(gz_len + 5);
        memcpy(more, gz, gz_len);
        memcpy(more + gz_len, "junk!", 5);
        write_raw(dir, "cold/c/trail.json.gz", more, gz_len + 5);
        free(more);
        err_clear(&err);
        CHECK_INT(archive_get(a, "c/trail.json", &out, &len, &err), -1);
        CHECK_STR(err.code, "ArchiveCorrupt");
        free(gz);
    }

    /* A small file that inflates past the cap is refused, not allocated. */
    char *bomb = xasprintf("%s/cold/c/bomb.json.gz", dir);
    write_gzip_zeros(bomb, (size_t)ARCHIVE_OBJECT_MAX + 4096);
    free(bomb);
    err_clear(&err);
    CHECK_INT(archive_get(a, "c/bomb.json", &out, &len, &err), -1);
    CHECK_STR(err.code, "TooLarge");

    free(body);
    archive_free(a);
out:
    rm_tree(dir);
}

struct race_ctx {
    struct archive *a;
    volatile int done;
    int put_errors;
    int puts; /* how many versions to put (300 when 0) */
};

static void *race_writer(void *arg)
{
    struct race_ctx *c = arg;
    char body[32];
    int puts = c->puts ? c->puts : 300;
    for (int i = 0; i < puts; i++) {
        int n = snprintf(body, sizeof body, "{\"v\":%d}", i);
        if (archive_put(c->a, "2024/07/07/race.json", body, (size_t)n, NULL) != 0)
            c->put_errors++;
    }
    c->done = 1;
    return NULL;
}

/* Lifecycle racing with puts of the same key never loses the newest version: it claims the hot
 * file and puts back a newer one that landed after it copied. */
static void test_lifecycle_races_put(void)
{
    char *dir = make_tmpdir();
    struct err err = {0};
    struct archive *a = archive_fs_new(dir, &err);
    CHECK(a != NULL);
    if (!a)
        goto out;
    struct race_ctx c = {.a = a};
    pthread_t t;
    pthread_create(&t, NULL, race_writer, &c);
    int passes = 0, failed = 0;
    while (!c.done) {
        struct archive_lifecycle_stats st;
        /* Cutoff in the future: every object qualifies, including ones put a moment ago. */
        if (archive_lifecycle(a, 0, clock_now_ms() + DAY_MS, &st, NULL, &err) != 0)
            failed++;
        failed += (int)st.failed;
        passes++;
    }
    pthread_join(t, NULL);
    CHECK_INT(c.put_errors, 0);
    CHECK_INT(failed, 0);
    CHECK(passes > 0);
    char *out = NULL;
    size_t len = 0;
    CHECK_INT(archive_get(a, "2024/07/07/race.json", &out, &len, &err), 0);
    CHECK_STR(out, "{\"v\":299}");
    free(out);
    json_t *page = NULL;
    CHECK_INT(archive_list(a, "", NULL, 10, &page, &err), 0);
    CHECK_INT(json_array_size(json_object_get(page, "objects")), 1);
    json_decref(page);
    dot_files = 0;
    nftw(dir, count_dot, 16, FTW_PHYS);
    CHECK_INT(dot_files, 0);
    archive_free(a);
out:
    rm_tree(dir);
}

/* The same race, many short rounds in a fresh directory each: a put that lands while lifecycle
 * copies that very version must not drop the only copy (the cold one) after lifecycle removed
 * the hot one, and a put whose directory lifecycle pruned right after the rename still succeeds.
 * Before the fix about 1 run in 16 lost the object under load; this loop found it every run. */
static void test_lifecycle_races_put_stress(void)
{
    int lost = 0, put_errors = 0, failed = 0, rounds = 40;
    for (int r = 0; r < rounds; r++) {
        char *dir = make_tmpdir();
        struct err err = {0};
        struct archive *a = archive_fs_new(dir, &err);
        CHECK(a != NULL);
        if (!a) {
            rm_tree(dir);
            break;
        }
        struct race_ctx c = {.a = a, .puts = 60};
        pthread_t t;
        pthread_create(&t, NULL, race_writer, &c);
        while (!c.done) {
            struct archive_lifecycle_stats st;
            if (archive_lifecycle(a, 0, clock_now_ms() + DAY_MS, &st, NULL, &err) != 0)
                failed++;
            failed += (int)st.failed;
        }
        pthread_join(t, NULL);
        put_errors += c.put_errors;
        char *out = NULL;
        size_t len = 0;
        if (archive_get(a, "2024/07/07/race.json", &out, &len, &err) != 0 ||
            strcmp(out, "{\"v\":59}") != 0)
            lost++;
        free(out);
        archive_free(a);
        rm_tree(dir);
    }
    CHECK_INT(lost, 0);
    CHECK_INT(put_errors, 0);
    CHECK_INT(failed, 0);
}

/* I/O failures: a file where a directory must go. The operation fails with a message naming the
 * path, and nothing is lost: lifecycle leaves the object hot and readable. */
static void test_io_failures(void)
{
    char *dir = make_tmpdir();
    struct err err = {0};
    struct archive *a = archive_fs_new(dir, &err);
    CHECK(a != NULL);
    if (!a)
        goto out;
    CHECK_INT(archive_put(a, "blocker", "x", 1, &err), 0);
    err_clear(&err);
    CHECK_INT(archive_put(a, "blocker/child.json", "y", 1, &err), -1);
    CHECK_STR(err.code, "ArchiveError");
    CHECK(strstr(err.message, "blocker") != NULL);
    err_clear(&err);
    CHECK_INT(archive_get(a, "blocker/child.json", NULL, NULL, &err), -1);
    CHECK_STR(err.code, "NotFound");

    CHECK_INT(archive_put(a, "2024/05/05/s.json", "{\"s\":1}", 7, &err), 0);
    write_raw(dir, "cold/2024", "not a directory", 15);
    json_t *moved = json_array();
    struct archive_lifecycle_stats st;
    CHECK_INT(archive_lifecycle(a, 0, clock_now_ms() + 1000, &st, moved, &err), 0);
    CHECK_INT(st.scanned, 2);
    CHECK_INT(st.moved, 1); /* "blocker" */
    CHECK_INT(st.failed, 1);
    CHECK_INT(json_array_size(moved), 1);
    json_decref(moved);
    char *out = NULL;
    size_t len = 0;
    CHECK_INT(archive_get(a, "2024/05/05/s.json", &out, &len, &err), 0);
    CHECK_STR(out, "{\"s\":1}");
    free(out);
    CHECK(file_exists(dir, "hot/2024/05/05/s.json"));
    dot_files = 0;
    nftw(dir, count_dot, 16, FTW_PHYS);
    CHECK_INT(dot_files, 0);
    archive_free(a);
out:
    rm_tree(dir);
}

/* A batch put stores every good item durably and readably, across directories; a bad key and an
 * item whose directory cannot exist fail alone, in the middle, without touching the others; a
 * stale cold copy is dropped; no temporary file is left behind. */
static void test_put_many(void)
{
    char *dir = make_tmpdir();
    struct err err = {0};
    struct archive *a = archive_fs_new(dir, &err);
    CHECK(a != NULL);
    if (!a)
        goto out;
    CHECK_INT(archive_put(a, "blocker", "x", 1, &err), 0);
    write_raw(dir, "cold/2024/05/06/s03.json.gz", "stale", 5);
    enum { N = 150 }; /* more than one group of open temporary files */
    char keys[N][64], bodies[N][64];
    struct archive_put_item items[N];
    for (int i = 0; i < N; i++) {
        /* Two days, interleaved, so both directories get created and fsynced. */
        snprintf(keys[i], sizeof keys[i], "2024/05/%02d/s%02d.json", 5 + i % 2, i);
        snprintf(bodies[i], sizeof bodies[i], "{\"i\":%d}", i);
        items[i] = (struct archive_put_item){.key = keys[i], .bytes = bodies[i],
                                             .len = strlen(bodies[i]), .rc = 99};
    }
    items[10].key = "../escape.json";
    items[70].key = "blocker/child.json";
    CHECK_INT(archive_put_many(a, items, N), 2);
    for (int i = 0; i < N; i++) {
        if (i == 10 || i == 70)
            continue;
        CHECK_INT(items[i].rc, 0);
        CHECK_STR(items[i].err.code, "");
        char *out = NULL;
        size_t len = 0;
        CHECK_INT(archive_get(a, keys[i], &out, &len, &err), 0);
        CHECK_STR(out, bodies[i]);
        free(out);
    }
    CHECK_INT(items[10].rc, -1);
    CHECK_STR(items[10].err.code, "InvalidKey");
    CHECK_INT(items[70].rc, -1);
    CHECK_STR(items[70].err.code, "ArchiveError");
    CHECK(!file_exists(dir, "cold/2024/05/06/s03.json.gz"));
    CHECK(file_exists(dir, "hot/2024/05/06/s03.json"));
    dot_files = 0;
    nftw(dir, count_dot, 16, FTW_PHYS);
    CHECK_INT(dot_files, 0);

    /* Overwrite in a batch; an empty batch does nothing. */
    struct archive_put_item again = {.key = keys[0], .bytes = "{}", .len = 2};
    CHECK_INT(archive_put_many(a, &again, 1), 0);
    char *out = NULL;
    size_t len = 0;
    CHECK_INT(archive_get(a, keys[0], &out, &len, &err), 0);
    CHECK_STR(out, "{}");
    free(out);
    CHECK_INT(archive_put_many(a, NULL, 0), 0);
    archive_free(a);
out:
    rm_tree(dir);
}

static void test_fs_new_errors(void)
{
    struct err err = {0};
    CHECK(archive_fs_new("", &err) == NULL);
    err_clear(&err);
    CHECK(archive_fs_new("/proc/version/archive", &err) == NULL);
    CHECK_STR(err.code, "ArchiveError");
    CHECK(strstr(err.message, "/proc/version") != NULL);
}

int main(void)
{
    xmalloc_init();
    RUN(test_key_layout);
    RUN(test_key_rejects);
    RUN(test_put_get_list_delete);
    RUN(test_atomic_overwrite);
    RUN(test_lifecycle);
    RUN(test_cold_corrupt);
    RUN(test_lifecycle_races_put);
    RUN(test_lifecycle_races_put_stress);
    RUN(test_io_failures);
    RUN(test_put_many);
    RUN(test_fs_new_errors);
    return check_summary();
}
