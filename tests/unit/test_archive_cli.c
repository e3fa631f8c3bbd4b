/*
 * test_archive_cli.c - `parley archive` driven through archive_cli_main with stdout and stderr
 * captured: lifecycle output and effect, get from both tiers, list, delete, usage errors.
 */
#include <fcntl.h>
#include <ftw.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive/archive.h"
#include "runtime/app.h"
#include "base/clock.h"
#include "base/xmalloc.h"
#include "check.h"

#define DAY_MS 86400000LL

static char *cap_out, *cap_err; /* what the last run printed */

static char *slurp(int fd)
{
    size_t cap = 4096, len = 0;
    char *buf = xmalloc(cap);
    lseek(fd, 0, SEEK_SET);
    for (;;) {
        if (len + 1 >= cap)
            buf = xrealloc(buf, cap *= 2);
        ssize_t r = read(fd, buf + len, cap - len - 1);
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    buf[len] = '\0';
    return buf;
}

/* Runs `parley archive ARGS...` (NULL-terminated) and captures its output. */
static int run_cli(const char *first, ...)
{
    char *argv[16];
    int argc = 0;
    argv[argc++] = "archive";
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a && argc < 15; a = va_arg(ap, const char *))
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;

    free(cap_out);
    free(cap_err);
    char out_path[] = "/tmp/parley-cli-out-XXXXXX", err_path[] = "/tmp/parley-cli-err-XXXXXX";
    int ofd = mkstemp(out_path), efd = mkstemp(err_path);
    unlink(out_path);
    unlink(err_path);
    fflush(stdout);
    fflush(stderr);
    int saved_out = dup(1), saved_err = dup(2);
    dup2(ofd, 1);
    dup2(efd, 2);
    int rc = app_cli_archive(argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(saved_out);
    close(saved_err);
    cap_out = slurp(ofd);
    cap_err = slurp(efd);
    close(ofd);
    close(efd);
    return rc;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void set_mtime(const char *path, int64_t ms)
{
    struct timespec t[2] = {{ms / 1000, 0}, {ms / 1000, 0}};
    utimensat(AT_FDCWD, path, t, 0);
}

static void test_cli(void)
{
    char *data = xstrdup("/tmp/parley-cli-XXXXXX");
    if (!mkdtemp(data)) {
        CHECK(0);
        free(data);
        return;
    }
    char *root = xasprintf("%s/archive", data);
    struct err err = {0};
    struct archive *a = archive_fs_new(root, &err);
    CHECK(a != NULL);
    if (!a)
        goto out;
    const char *old_doc = "{\"sessionId\":\"old\",\"messages\":[]}";
    const char *new_doc = "{\"sessionId\":\"new\",\"messages\":[1]}";
    CHECK_INT(archive_put(a, "2024/01/05/old.json", old_doc, strlen(old_doc), &err), 0);
    CHECK_INT(archive_put(a, "2024/06/01/new.json", new_doc, strlen(new_doc), &err), 0);
    char *old_path = xasprintf("%s/hot/2024/01/05/old.json", root);
    set_mtime(old_path, clock_now_ms() - 120 * DAY_MS);

    /* --help and usage errors. */
    CHECK_INT(run_cli("--help", NULL), 0);
    CHECK(strstr(cap_out, "lifecycle") != NULL);
    CHECK_INT(run_cli(NULL), 2);
    CHECK_INT(run_cli("frobnicate", NULL), 2);
    CHECK(strstr(cap_err, "unknown command 'frobnicate'") != NULL);
    CHECK_INT(run_cli("lifecycle", "--days", "-3", "--data", data, NULL), 2);
    CHECK_INT(run_cli("lifecycle", "--days", "ninety", "--data", data, NULL), 2);
    CHECK_INT(run_cli("lifecycle", "--days", NULL), 2);
    CHECK_INT(run_cli("get", "--data", data, NULL), 2);
    CHECK_INT(run_cli("list", "a", "b", "--data", data, NULL), 2);
    CHECK_INT(run_cli("list", "--bogus", NULL), 2);

    /* lifecycle with the default 90 days moves only the 120-day-old object. */
    CHECK_INT(run_cli("lifecycle", "--data", data, NULL), 0);
    json_t *res = json_loads(cap_out, 0, NULL);
    CHECK(res != NULL);
    CHECK_INT(json_integer_value(json_object_get(res, "days")), 90);
    CHECK_INT(json_integer_value(json_object_get(res, "scanned")), 2);
    CHECK_INT(json_integer_value(json_object_get(res, "moved")), 1);
    CHECK_INT(json_integer_value(json_object_get(res, "failed")), 0);
    CHECK_STR(json_string_value(json_array_get(json_object_get(res, "movedKeys"), 0)),
              "2024/01/05/old.json");
    json_decref(res);
    char *cold_path = xasprintf("%s/cold/2024/01/05/old.json.gz", root);
    struct stat st;
    CHECK(stat(cold_path, &st) == 0);
    CHECK(stat(old_path, &st) != 0);
    free(cold_path);

    /* get reads both tiers, byte for byte. */
    CHECK_INT(run_cli("get", "2024/01/05/old.json", "--data", data, NULL), 0);
    CHECK_STR(cap_out, old_doc);
    CHECK_INT(run_cli("--data", data, "get", "2024/06/01/new.json", NULL), 0);
    CHECK_STR(cap_out, new_doc);
    CHECK_INT(run_cli("get", "2024/06/01/missing.json", "--data", data, NULL), 1);
    CHECK(strstr(cap_err, "NotFound") != NULL);
    CHECK_INT(run_cli("get", "../../etc/passwd", "--data", data, NULL), 1);
    CHECK(strstr(cap_err, "InvalidKey") != NULL);

    /* list prints one JSON line per object, with its tier. */
    CHECK_INT(run_cli("list", "--data", data, NULL), 0);
    char *line2 = strchr(cap_out, '\n');
    CHECK(line2 != NULL);
    if (line2) {
        *line2++ = '\0';
        json_t *o1 = json_loads(cap_out, 0, NULL), *o2 = json_loads(line2, 0, NULL);
        CHECK_STR(json_string_value(json_object_get(o1, "key")), "2024/01/05/old.json");
        CHECK_STR(json_string_value(json_object_get(o1, "storageClass")), "GLACIER");
        CHECK_INT(json_integer_value(json_object_get(o1, "size")), strlen(old_doc));
        CHECK_STR(json_string_value(json_object_get(o2, "key")), "2024/06/01/new.json");
        CHECK_STR(json_string_value(json_object_get(o2, "storageClass")), "STANDARD");
        CHECK(json_string_value(json_object_get(o2, "lastModified")) != NULL);
        json_decref(o1);
        json_decref(o2);
    }
    CHECK_INT(run_cli("list", "2024/06/", "--data", data, NULL), 0);
    CHECK(strstr(cap_out, "new.json") != NULL && strstr(cap_out, "old.json") == NULL);

    /* PARLEY_DATA is the default data directory. */
    setenv("PARLEY_DATA", data, 1);
    CHECK_INT(run_cli("delete", "2024/01/05/old.json", NULL), 0);
    unsetenv("PARLEY_DATA");
    CHECK_INT(run_cli("list", "--data", data, NULL), 0);
    CHECK(strstr(cap_out, "old.json") == NULL && strstr(cap_out, "new.json") != NULL);

    free(old_path);
    archive_free(a);
out:
    nftw(data, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(root);
    free(data);
}

int main(void)
{
    xmalloc_init();
    RUN(test_cli);
    free(cap_out);
    free(cap_err);
    return check_summary();
}
