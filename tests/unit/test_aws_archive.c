/*
 * test_aws_archive.c - one behavioural suite for the archive port: put/get, overwrite, byte-order
 * listing with prefixes, pages and start-after, delete (missing keys too), empty objects, key
 * rules, the transcript key layout.
 *
 * Always runs against the file-system adapter. With PARLEY_TEST_S3=http://127.0.0.1:PORT (set by
 * tests/scripts/test_aws_archive.sh, which starts s3rver there with the bucket
 * conversation-logs-000000000000) the same suite runs against the S3 adapter (SigV4 requests with
 * x-amz-content-sha256, which s3rver requires).
 */
#include <stdlib.h>
#include <unistd.h>

#include "archive/archive.h"
#include "archive/archive_s3.h"
#include "base/clock.h"
#include "base/xmalloc.h"
#include "check.h"

static struct archive *ar;

static void put_str(const char *key, const char *text)
{
    struct err e;
    CHECK_INT(archive_put(ar, key, text, strlen(text), &e), 0);
}

static void test_put_get_overwrite(void)
{
    struct err e;
    char key[ARCHIVE_KEY_MAX + 1];
    CHECK(archive_key_for("sess_A-1", 1764042000000LL, key, sizeof key, &e) == 0);
    CHECK_STR(key, "2025/11/25/sess_A-1.json");
    put_str(key, "{\"v\":1,\"note\":\"caf\xc3\xa9\"}");
    char *out = NULL;
    size_t len = 0;
    CHECK_INT(archive_get(ar, key, &out, &len, &e), 0);
    CHECK_STR(out, "{\"v\":1,\"note\":\"caf\xc3\xa9\"}");
    CHECK_INT(len, strlen("{\"v\":1,\"note\":\"caf\xc3\xa9\"}"));
    free(out);
    put_str(key, "{\"v\":2}");
    out = NULL;
    CHECK_INT(archive_get(ar, key, &out, &len, &e), 0);
    CHECK_STR(out, "{\"v\":2}");
    free(out);
    /* Binary bytes survive. */
    const char bin[] = {'\0', '\x01', '\xff', 'x', '\0'};
    CHECK_INT(archive_put(ar, "bin/blob.json", bin, sizeof bin, &e), 0);
    out = NULL;
    CHECK_INT(archive_get(ar, "bin/blob.json", &out, &len, &e), 0);
    CHECK_INT(len, sizeof bin);
    CHECK(out && memcmp(out, bin, sizeof bin) == 0);
    free(out);
    /* Empty objects are objects. */
    CHECK_INT(archive_put(ar, "empty.json", NULL, 0, &e), 0);
    out = NULL;
    CHECK_INT(archive_get(ar, "empty.json", &out, &len, &e), 0);
    CHECK_INT(len, 0);
    CHECK_STR(out, "");
    free(out);
}

static void test_list(void)
{
    struct err e;
    const char *keys[] = {"l/2024/02/29/b.json", "l/2024/02/29/a.json", "l/2024/03/01/c.json",
                          "l/2023/12/31/z.json", "l/2024/02/2x.json"};
    for (size_t i = 0; i < 5; i++)
        put_str(keys[i], "{\"n\":1}");
    json_t *page = NULL;
    CHECK_INT(archive_list(ar, "l/", NULL, 1000, &page, &e), 0);
    json_t *objs = json_object_get(page, "objects");
    const char *sorted[] = {"l/2023/12/31/z.json", "l/2024/02/29/a.json", "l/2024/02/29/b.json",
                            "l/2024/02/2x.json", "l/2024/03/01/c.json"};
    CHECK_INT(json_array_size(objs), 5);
    for (size_t i = 0; i < json_array_size(objs) && i < 5; i++) {
        json_t *o = json_array_get(objs, i);
        CHECK_STR(json_string_value(json_object_get(o, "key")), sorted[i]);
        CHECK_STR(json_string_value(json_object_get(o, "storageClass")), "STANDARD");
        CHECK_INT(json_integer_value(json_object_get(o, "size")), 7);
        CHECK(llabs(json_integer_value(json_object_get(o, "lastModified")) - clock_now_ms()) <
              120000);
    }
    CHECK(json_is_false(json_object_get(page, "isTruncated")));
    json_decref(page);
    CHECK_INT(archive_list(ar, "l/2024/02/29/", NULL, 1000, &page, &e), 0);
    CHECK_INT(json_array_size(json_object_get(page, "objects")), 2);
    json_decref(page);
    CHECK_INT(archive_list(ar, "l/2024/02/2", NULL, 1000, &page, &e), 0);
    CHECK_INT(json_array_size(json_object_get(page, "objects")), 3);
    json_decref(page);
    page = NULL;
    CHECK_INT(archive_list(ar, "l/", NULL, 2, &page, &e), 0);
    CHECK_INT(json_array_size(json_object_get(page, "objects")), 2);
    CHECK(json_is_true(json_object_get(page, "isTruncated")));
    json_decref(page);
    page = NULL;
    CHECK_INT(archive_list(ar, "l/", "l/2024/02/29/b.json", 2, &page, &e), 0);
    objs = json_object_get(page, "objects");
    CHECK_INT(json_array_size(objs), 2);
    CHECK_STR(json_string_value(json_object_get(json_array_get(objs, 0), "key")),
              "l/2024/02/2x.json");
    CHECK(json_is_false(json_object_get(page, "isTruncated")));
    json_decref(page);
    CHECK_INT(archive_list(ar, "nothing-here/", NULL, 10, &page, &e), 0);
    CHECK_INT(json_array_size(json_object_get(page, "objects")), 0);
    json_decref(page);
    err_clear(&e);
    CHECK_INT(archive_list(ar, "../", NULL, 10, &page, &e), -1);
    CHECK_STR(e.code, "InvalidKey");
    CHECK_INT(archive_list(ar, "", NULL, 0, &page, &e), -1);
}

static void test_delete_and_errors(void)
{
    struct err e;
    put_str("d/x.json", "{}");
    CHECK_INT(archive_delete(ar, "d/x.json", &e), 0);
    char *out = NULL;
    size_t len;
    err_clear(&e);
    CHECK_INT(archive_get(ar, "d/x.json", &out, &len, &e), -1);
    CHECK_STR(e.code, "NotFound");
    CHECK_INT(archive_delete(ar, "d/x.json", &e), 0); /* missing keys delete fine */
    err_clear(&e);
    CHECK_INT(archive_get(ar, "never/was.json", &out, &len, &e), -1);
    CHECK_STR(e.code, "NotFound");
    const char *bad[] = {"../escape.json", "/etc/passwd", "a//b", "a/.hidden", "sp ace.json"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err_clear(&e);
        CHECK_INT(archive_put(ar, bad[i], "x", 1, &e), -1);
        CHECK_STR(e.code, "InvalidKey");
        CHECK_INT(archive_get(ar, bad[i], &out, &len, &e), -1);
        CHECK_INT(archive_delete(ar, bad[i], &e), -1);
    }
}

static void run_suite(void)
{
    printf("# archive adapter: %s\n", archive_name(ar));
    RUN(test_put_get_overwrite);
    RUN(test_list);
    RUN(test_delete_and_errors);
}

static void test_s3_missing_bucket(void)
{
    struct aws_config aws;
    struct err e;
    CHECK(aws_config_from_env(&aws, &e) == 0);
    struct archive_s3_config cfg = {.aws = &aws, .bucket = "no-such-bucket-here"};
    struct archive *a = archive_s3_new(&cfg, &e);
    CHECK(a == NULL);
    CHECK_STR(e.code, "ArchiveError");
    CHECK(strstr(e.message, "no-such-bucket-here") != NULL);
    aws_config_release(&aws);
}

static void test_s3_unknown_access_key(void)
{
    /* s3rver checks the access key id and the x-amz-content-sha256 header of SigV4 requests (not
     * the signature itself: tests/unit/test_sigv4_aws.c proves that against AWS's vectors). */
    struct aws_config aws;
    struct err e;
    CHECK(aws_config_from_env(&aws, &e) == 0);
    free(aws.access_key_id);
    aws.access_key_id = xstrdup("AKIDNOTKNOWN");
    struct archive_s3_config cfg = {.aws = &aws, .bucket = "conversation-logs-000000000000"};
    struct archive *a = archive_s3_new(&cfg, &e);
    CHECK(a == NULL);
    /* HeadBucket answers without a body: the status is all there is. */
    CHECK(strstr(e.message, "InvalidAccessKeyId") != NULL || strstr(e.message, "403") != NULL);
    archive_free(a);
    aws_config_release(&aws);
}

/* The filesystem part; tests/run.sh counts it when it runs this binary on its own. */
static void run_local(void)
{
    char dir[] = "/tmp/parley-archive-contract-XXXXXX";
    if (!check_require("a temporary directory", mkdtemp(dir) != NULL))
        return;
    struct err e;
    ar = archive_fs_new(dir, &e);
    CHECK(ar != NULL);
    if (ar)
        run_suite();
    archive_free(ar);
    char *cmd = xasprintf("rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    free(cmd);
}

int main(void)
{
    xmalloc_init();
    /* With the emulator configured (tests/scripts/test_aws_archive.sh) only the AWS adapter
     * part runs, so the filesystem part is not counted twice. */
    const char *s3 = getenv("PARLEY_TEST_S3");
    if (!s3 || !*s3)
        run_local();
    else {
        struct err e;
        setenv("AWS_ENDPOINT_URL_S3", s3, 1);
        setenv("AWS_REGION", "us-east-1", 0);
        setenv("AWS_ACCESS_KEY_ID", "S3RVER", 1); /* s3rver's credentials */
        setenv("AWS_SECRET_ACCESS_KEY", "S3RVER", 1);
        setenv("PARLEY_ARCHIVE_BUCKET", "conversation-logs-000000000000", 1);
        ar = archive_s3_from_env(&e);
        if (!ar)
            fprintf(stderr, "s3: %s: %s\n", e.code, e.message);
        check_require("s3 adapter opens (HeadBucket)", ar != NULL);
        if (ar)
            run_suite();
        archive_free(ar);
        RUN(test_s3_missing_bucket);
        RUN(test_s3_unknown_access_key);
    }
    return check_summary();
}
