/*
 * archive_cli.c - `parley archive lifecycle|get|list|delete` over the embedded archive adapter
 * (see archive_cli.h). Results go to stdout as JSON (get prints the object's bytes); errors go to
 * stderr as `parley archive: CODE: message`.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive/archive.h"
#include "archive/archive_cli.h"
#include "base/clock.h"
#include "base/config.h"
#include "base/xmalloc.h"

#define CLI_DAYS_DEFAULT 90
#define CLI_ARGS_MAX 2 /* positional arguments after the subcommand */

struct cli_opts {
    const char *sub;                /* lifecycle | get | list | delete */
    const char *args[CLI_ARGS_MAX]; /* positional arguments, borrowed from argv */
    int nargs;
    const char *data; /* --data, or NULL */
    int days;         /* --days */
    int help;         /* --help seen */
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: parley archive COMMAND [OPTIONS]\n\n"
            "The transcript archive: one JSON document per session at\n"
            "{yyyy}/{mm}/{dd}/{sessionId}.json in the archive serve writes: the S3 bucket\n"
            "PARLEY_ARCHIVE_BUCKET when set, else <data>/archive (hot/ and cold/ tiers). The\n"
            "backend is named on stderr.\n\n"
            "Commands:\n"
            "  lifecycle [--days N]  move objects last modified more than N days ago (default %d)\n"
            "                        to the gzip cold tier; prints what moved as JSON\n"
            "  get KEY               print the object at KEY, from either tier\n"
            "  list [PREFIX]         print one JSON line per object whose key starts with PREFIX\n"
            "  delete KEY            remove the object at KEY from both tiers\n\n"
            "Options:\n"
            "  --data DIR            data directory (default: PARLEY_DATA, else ./data)\n"
            "  --help                this text\n",
            CLI_DAYS_DEFAULT);
}

static int fail(const struct err *err)
{
    fprintf(stderr, "parley archive: %s: %s\n", err->code, err->message);
    return 1;
}

static int parse_days(const char *text, int *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < 0 || v > 36500)
        return -1;
    *out = (int)v;
    return 0;
}

/* Returns 0, or 2 after printing a usage error. */
static int parse_args(int argc, char **argv, struct cli_opts *o)
{
    memset(o, 0, sizeof *o);
    o->days = CLI_DAYS_DEFAULT;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            o->help = 1;
        } else if (strcmp(a, "--data") == 0 || strcmp(a, "--days") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "parley archive: %s needs a value\n", a);
                return 2;
            }
            const char *v = argv[++i];
            if (strcmp(a, "--data") == 0) {
                o->data = v;
            } else if (parse_days(v, &o->days) != 0) {
                fprintf(stderr, "parley archive: --days '%s' is not a whole number in 0..36500\n",
                        v);
                return 2;
            }
        } else if (a[0] == '-' && a[1] == '-') {
            fprintf(stderr, "parley archive: unknown option '%s'\n", a);
            return 2;
        } else if (!o->sub) {
            o->sub = a;
        } else if (o->nargs < CLI_ARGS_MAX) {
            o->args[o->nargs++] = a;
        } else {
            fprintf(stderr, "parley archive: unexpected argument '%s'\n", a);
            return 2;
        }
    }
    return 0;
}

/* Opens the archive through the wiring's opener, with --data over the settings' PARLEY_DATA, and
 * names its backend on stderr. */
static struct archive *open_with(archive_cli_open_fn open_archive, const char *data_flag,
                                 struct err *err)
{
    struct config cfg;
    struct archive *a = NULL;
    char *backend = NULL;
    if (config_load(&cfg, err) != 0)
        goto out;
    if (data_flag && config_set(&cfg, "PARLEY_DATA", data_flag, err) != 0)
        goto out;
    if (open_archive(&cfg, &a, &backend, err) == 0)
        fprintf(stderr, "parley archive: backend %s\n", backend);
out:
    free(backend);
    config_release(&cfg);
    return a;
}

static void print_json(json_t *v)
{
    json_dumpf(v, stdout, JSON_COMPACT);
    fputc('\n', stdout);
}

static int cmd_lifecycle(struct archive *a, const struct cli_opts *o)
{
    struct err err = {0};
    struct archive_lifecycle_stats st;
    int64_t now = clock_now_ms();
    char cutoff[32];
    clock_iso8601(now - (int64_t)o->days * 86400000, cutoff, sizeof cutoff);
    json_t *moved = json_array();
    if (archive_lifecycle(a, o->days, now, &st, moved, &err) != 0) {
        json_decref(moved);
        return fail(&err);
    }
    json_t *out = json_pack("{s:i, s:s, s:I, s:I, s:I, s:o}", "days", o->days, "cutoff", cutoff,
                            "scanned", (json_int_t)st.scanned, "moved", (json_int_t)st.moved,
                            "failed", (json_int_t)st.failed, "movedKeys", moved);
    print_json(out);
    json_decref(out);
    return st.failed ? 1 : 0;
}

static int cmd_get(struct archive *a, const char *key)
{
    struct err err = {0};
    char *bytes = NULL;
    size_t len = 0;
    if (archive_get(a, key, &bytes, &len, &err) != 0)
        return fail(&err);
    int rc = fwrite(bytes, 1, len, stdout) == len ? 0 : 1;
    free(bytes);
    return rc;
}

static int cmd_list(struct archive *a, const char *prefix)
{
    struct err err = {0};
    char after[ARCHIVE_KEY_MAX + 1] = "";
    for (;;) {
        json_t *page = NULL;
        if (archive_list(a, prefix, after, ARCHIVE_LIST_MAX, &page, &err) != 0)
            return fail(&err);
        json_t *objs = json_object_get(page, "objects");
        size_t i;
        json_t *obj;
        json_array_foreach(objs, i, obj) {
            char when[32];
            clock_iso8601(json_integer_value(json_object_get(obj, "lastModified")), when,
                          sizeof when);
            json_object_set_new(obj, "lastModified", json_string(when));
            print_json(obj);
            snprintf(after, sizeof after, "%s", json_string_value(json_object_get(obj, "key")));
        }
        int more = json_is_true(json_object_get(page, "isTruncated")) && json_array_size(objs);
        json_decref(page);
        if (!more)
            return 0;
    }
}

static int cmd_delete(struct archive *a, const char *key)
{
    struct err err = {0};
    if (archive_delete(a, key, &err) != 0)
        return fail(&err);
    return 0;
}

int archive_cli_main(int argc, char **argv, archive_cli_open_fn open_archive)
{
    struct cli_opts o;
    int rc = parse_args(argc, argv, &o);
    if (rc != 0)
        return rc;
    if (o.help || !o.sub) {
        usage(o.help ? stdout : stderr);
        return o.help ? 0 : 2;
    }
    int want_min = 0, want_max = 0;
    if (strcmp(o.sub, "get") == 0 || strcmp(o.sub, "delete") == 0)
        want_min = want_max = 1;
    else if (strcmp(o.sub, "list") == 0)
        want_max = 1;
    else if (strcmp(o.sub, "lifecycle") != 0) {
        fprintf(stderr, "parley archive: unknown command '%s'\n\n", o.sub);
        usage(stderr);
        return 2;
    }
    if (o.nargs < want_min || o.nargs > want_max) {
        fprintf(stderr, "parley archive: '%s' takes %s\n", o.sub,
                want_min   ? "one KEY"
                : want_max ? "at most one PREFIX"
                           : "no arguments");
        return 2;
    }

    struct err err = {0};
    struct archive *a = open_with(open_archive, o.data, &err);
    if (!a)
        return fail(&err);
    if (strcmp(o.sub, "lifecycle") == 0)
        rc = cmd_lifecycle(a, &o);
    else if (strcmp(o.sub, "get") == 0)
        rc = cmd_get(a, o.args[0]);
    else if (strcmp(o.sub, "list") == 0)
        rc = cmd_list(a, o.nargs ? o.args[0] : "");
    else
        rc = cmd_delete(a, o.args[0]);
    fflush(stdout);
    archive_free(a);
    return rc;
}
