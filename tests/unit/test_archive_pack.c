/*
 * test_archive_pack.c - the packed local archive (archive_fs_new_packed, src/archive/pack.c):
 * one pack per key directory instead of one file per object; replace, list and get; a torn tail
 * (crash mid-append) skipped on read and cut off by the next append; a failed append (ENOSPC
 * after a partial write) leaves no visible object; delete rewrites the pack so the object's bytes
 * leave the disk; lifecycle moves old objects to the cold tier and removes the emptied pack; an
 * archive written one file per object before stays readable and a put supersedes its file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive/archive.h"
#include "archive/pack.h"
#include "base/fault.h"
#include "base/xmalloc.h"
#include "check.h"

static char root[64];

static char *path_of(const char *rel)
{
    return xasprintf("%s/%s", root, rel);
}

static int exists(const char *rel)
{
    char *p = path_of(rel);
    struct stat st;
    int ok = stat(p, &st) == 0;
    free(p);
    return ok;
}

static long long size_of(const char *rel)
{
    char *p = path_of(rel);
    struct stat st;
    long long n = stat(p, &st) == 0 ? (long long)st.st_size : -1;
    free(p);
    return n;
}

/* 1 when the file rel holds the bytes needle. */
static int file_has(const char *rel, const char *needle)
{
    char *p = path_of(rel);
    int fd = open(p, O_RDONLY);
    free(p);
    if (fd < 0)
        return 0;
    char buf[1 << 16];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    return memmem(buf, (size_t)n, needle, strlen(needle)) != NULL;
}

/* Counts regular files under root/rel not starting with '.' (per-object files). */
static int object_files(const char *rel)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "find '%s/%s' -type f ! -name '.*' | wc -l", root, rel);
    FILE *p = popen(cmd, "r");
    int n = -1;
    if (p && fscanf(p, "%d", &n) != 1)
        n = -1;
    if (p)
        pclose(p);
    return n;
}

static int get_is(struct archive *a, const char *key, const char *want)
{
    char *got = NULL;
    size_t len = 0;
    struct err e = {0};
    int ok = archive_get(a, key, &got, &len, &e) == 0 && len == strlen(want) &&
             memcmp(got, want, len) == 0;
    free(got);
    return ok;
}

static int get_missing(struct archive *a, const char *key)
{
    char *got = NULL;
    size_t len = 0;
    struct err e = {0};
    int rc = archive_get(a, key, &got, &len, &e);
    free(got);
    return rc == -1 && strcmp(e.code, "NotFound") == 0;
}

static void test_put_get_list(void)
{
    struct err e = {0};
    struct archive *a = archive_fs_new_packed(root, &e);
    CHECK(a != NULL);
    if (!a)
        return;
    struct archive_put_item items[] = {
        {.key = "2026/12/05/s1.json", .bytes = "{\"s\":1}", .len = 7},
        {.key = "2026/12/05/s2.json", .bytes = "{\"s\":2}", .len = 7},
        {.key = "2026/12/06/s3.json", .bytes = "{\"s\":3}", .len = 7},
        {.key = "bad//key", .bytes = "x", .len = 1},
    };
    CHECK_INT(archive_put_many(a, items, 4), 1);
    CHECK_INT(items[0].rc, 0);
    CHECK_INT(items[2].rc, 0);
    CHECK_STR(items[3].err.code, "InvalidKey");
    CHECK_INT(archive_put(a, "2026/12/05/s1.json", "{\"s\":\"one\"}", 11, &e), 0); /* replace */
    CHECK_INT(archive_put(a, "top.json", "{}", 2, &e), 0);
    /* One pack per day (and one for the top level), no file per object. */
    CHECK(exists("hot/2026/12/05/.pack"));
    CHECK(exists("hot/2026/12/06/.pack"));
    CHECK(exists("hot/.pack"));
    CHECK_INT(object_files("hot"), 0);
    struct stat st;
    char *p = path_of("hot/2026/12/05/.pack");
    CHECK(stat(p, &st) == 0 && (st.st_mode & 0777) == 0600);
    free(p);
    CHECK(get_is(a, "2026/12/05/s1.json", "{\"s\":\"one\"}"));
    CHECK(get_is(a, "2026/12/05/s2.json", "{\"s\":2}"));
    CHECK(get_is(a, "2026/12/06/s3.json", "{\"s\":3}"));
    CHECK(get_is(a, "top.json", "{}"));
    CHECK(get_missing(a, "2026/12/05/s9.json"));
    json_t *l = NULL;
    CHECK_INT(archive_list(a, "2026/12/", NULL, 10, &l, &e), 0);
    json_t *objs = json_object_get(l, "objects");
    CHECK_INT(json_array_size(objs), 3); /* the replaced key once, with its new size */
    CHECK_STR(json_string_value(json_object_get(json_array_get(objs, 0), "key")),
              "2026/12/05/s1.json");
    CHECK_INT(json_integer_value(json_object_get(json_array_get(objs, 0), "size")), 11);
    CHECK_STR(json_string_value(json_object_get(json_array_get(objs, 0), "storageClass")),
              "STANDARD");
    json_decref(l);
    CHECK_INT(archive_list(a, "", "2026/12/05/s2.json", 10, &l, &e), 0);
    CHECK_INT(json_array_size(json_object_get(l, "objects")), 2); /* s3 and top */
    json_decref(l);
    archive_free(a);
}

static void test_torn_tail(void)
{
    struct err e = {0};
    struct archive *a = archive_fs_new_packed(root, &e);
    CHECK_INT(archive_put(a, "2027/01/01/t1.json", "{\"t\":1}", 7, &e), 0);
    long long whole = size_of("hot/2027/01/01/.pack");
    /* A crash mid-append: half of a record's header and name. */
    char *p = path_of("hot/2027/01/01/.pack");
    int fd = open(p, O_WRONLY | O_APPEND);
    CHECK(fd >= 0 && write(fd, "PKv1\0\x09\0\x07\0\0\0t2.js", 15) == 15);
    if (fd >= 0)
        close(fd);
    CHECK(get_is(a, "2027/01/01/t1.json", "{\"t\":1}"));
    CHECK(get_missing(a, "2027/01/01/t2.json"));
    json_t *l = NULL;
    CHECK_INT(archive_list(a, "2027/", NULL, 10, &l, &e), 0);
    CHECK_INT(json_array_size(json_object_get(l, "objects")), 1);
    json_decref(l);
    /* A whole-looking record whose bytes never reached the disk (zeros): its CRC fails. */
    fd = open(p, O_WRONLY);
    CHECK(fd >= 0 && ftruncate(fd, whole) == 0);
    unsigned char rec[PACK_HEADER + 16] = {'P', 'K', 'v', '1', 0, 7, 0, 9, 0, 0, 0};
    CHECK(fd >= 0 && pwrite(fd, rec, sizeof rec, whole) == (ssize_t)sizeof rec);
    if (fd >= 0)
        close(fd);
    CHECK(get_is(a, "2027/01/01/t1.json", "{\"t\":1}"));
    /* A new archive (a restarted process) appends: the torn tail is cut first. */
    archive_free(a);
    a = archive_fs_new_packed(root, &e);
    CHECK_INT(archive_put(a, "2027/01/01/t3.json", "{\"t\":3}", 7, &e), 0);
    CHECK(get_is(a, "2027/01/01/t1.json", "{\"t\":1}"));
    CHECK(get_is(a, "2027/01/01/t3.json", "{\"t\":3}"));
    CHECK_INT(size_of("hot/2027/01/01/.pack"),
              whole + PACK_HEADER + (long long)strlen("t3.json") + 7);
    free(p);
    archive_free(a);
}

static void test_failed_append(void)
{
    struct err e = {0};
    struct archive *a = archive_fs_new_packed(root, &e);
    CHECK_INT(archive_put(a, "2027/02/01/f1.json", "{\"f\":1}", 7, &e), 0);
    long long before = size_of("hot/2027/02/01/.pack");
    static const int codes[] = {ENOSPC, EIO};
    for (int k = 0; k < 2; k++) {
        fault_arm(FAULT_ARCHIVE, 1, codes[k], 0);
        CHECK(archive_put(a, "2027/02/01/f2.json", "{\"f\":2, \"long\":true}", 20, &e) != 0);
        fault_disarm_all();
        CHECK_STR(e.code, "ArchiveError");
        CHECK(strstr(e.message, strerror(codes[k])) != NULL);
        CHECK(get_missing(a, "2027/02/01/f2.json"));
        CHECK_INT(size_of("hot/2027/02/01/.pack"), before); /* the partial write was cut off */
        CHECK(get_is(a, "2027/02/01/f1.json", "{\"f\":1}"));
    }
    CHECK_INT(archive_put(a, "2027/02/01/f2.json", "{\"f\":2}", 7, &e), 0);
    CHECK(get_is(a, "2027/02/01/f2.json", "{\"f\":2}"));
    archive_free(a);
}

static void test_delete_rewrites(void)
{
    struct err e = {0};
    struct archive *a = archive_fs_new_packed(root, &e);
    CHECK_INT(archive_put(a, "2027/03/01/keep.json", "{\"who\":\"keep-me\"}", 17, &e), 0);
    CHECK_INT(archive_put(a, "2027/03/01/gone.json", "{\"who\":\"erase-me\"}", 18, &e), 0);
    CHECK_INT(archive_put(a, "2027/03/01/gone.json", "{\"who\":\"erase-me-2\"}", 20, &e), 0);
    CHECK(file_has("hot/2027/03/01/.pack", "erase-me"));
    CHECK_INT(archive_delete(a, "2027/03/01/gone.json", &e), 0);
    CHECK(get_missing(a, "2027/03/01/gone.json"));
    CHECK(get_is(a, "2027/03/01/keep.json", "{\"who\":\"keep-me\"}"));
    /* Both versions' bytes are gone from the pack, not just hidden. */
    CHECK(!file_has("hot/2027/03/01/.pack", "erase-me"));
    CHECK(file_has("hot/2027/03/01/.pack", "keep-me"));
    CHECK_INT(object_files("hot/2027/03"), 0);
    CHECK_INT(archive_delete(a, "2027/03/01/gone.json", &e), 0); /* missing: succeeds, as S3 */
    /* The last object out removes the pack and its emptied directories. */
    CHECK_INT(archive_delete(a, "2027/03/01/keep.json", &e), 0);
    CHECK(!exists("hot/2027/03/01/.pack"));
    CHECK(!exists("hot/2027/03"));
    archive_free(a);
}

static void test_lifecycle_and_legacy(void)
{
    struct err e = {0};
    strcat(root, "/lc"); /* an archive of its own, so the counts below are this test's */
    /* An archive written one file per object, as before packing. */
    struct archive *old = archive_fs_new(root, &e);
    CHECK_INT(archive_put(old, "2027/04/01/legacy.json", "{\"v\":\"old\"}", 11, &e), 0);
    CHECK_INT(archive_put(old, "2027/04/01/kept.json", "{\"v\":\"file\"}", 12, &e), 0);
    archive_free(old);
    CHECK(exists("hot/2027/04/01/legacy.json"));
    struct archive *a = archive_fs_new_packed(root, &e);
    CHECK(get_is(a, "2027/04/01/kept.json", "{\"v\":\"file\"}"));
    CHECK_INT(archive_put(a, "2027/04/01/legacy.json", "{\"v\":\"new\"}", 11, &e), 0);
    CHECK(!exists("hot/2027/04/01/legacy.json")); /* superseded by the pack */
    CHECK(get_is(a, "2027/04/01/legacy.json", "{\"v\":\"new\"}"));
    CHECK_INT(archive_put(a, "2027/04/01/p2.json", "{\"v\":2}", 7, &e), 0);
    /* 91 days on, with a 90-day limit: everything moves to the cold tier. */
    struct archive_lifecycle_stats stats;
    json_t *moved = json_array();
    int64_t later = (int64_t)time(NULL) * 1000 + 91LL * 86400000;
    CHECK_INT(archive_lifecycle(a, 90, later, &stats, moved, &e), 0);
    CHECK_INT(stats.scanned, 3);
    CHECK_INT(stats.moved, 3);
    CHECK_INT(stats.failed, 0);
    CHECK_INT(json_array_size(moved), 3);
    json_decref(moved);
    CHECK(!exists("hot/2027/04/01/.pack"));
    CHECK(exists("cold/2027/04/01/legacy.json.gz"));
    CHECK(exists("cold/2027/04/01/p2.json.gz"));
    CHECK(get_is(a, "2027/04/01/legacy.json", "{\"v\":\"new\"}"));
    CHECK(get_is(a, "2027/04/01/kept.json", "{\"v\":\"file\"}"));
    json_t *l = NULL;
    CHECK_INT(archive_list(a, "2027/04/", NULL, 10, &l, &e), 0);
    CHECK_INT(json_array_size(json_object_get(l, "objects")), 3);
    CHECK_STR(json_string_value(
                  json_object_get(json_array_get(json_object_get(l, "objects"), 0), "storageClass")),
              "GLACIER");
    json_decref(l);
    /* A put brings the object back hot and removes its cold copy. */
    CHECK_INT(archive_put(a, "2027/04/01/p2.json", "{\"v\":3}", 7, &e), 0);
    CHECK(!exists("cold/2027/04/01/p2.json.gz"));
    CHECK(get_is(a, "2027/04/01/p2.json", "{\"v\":3}"));
    archive_free(a);
    root[strlen(root) - 3] = '\0';
}

int main(void)
{
    xmalloc_init();
    snprintf(root, sizeof root, "/tmp/parley-pack-XXXXXX");
    if (!check_require("a temporary directory", mkdtemp(root) != NULL))
        return check_summary();
    RUN(test_put_get_list);
    RUN(test_torn_tail);
    RUN(test_failed_append);
    RUN(test_delete_rewrites);
    RUN(test_lifecycle_and_legacy);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", root);
    return check_summary();
}
