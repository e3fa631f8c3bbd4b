/*
 * queue_cli.c - `parley queue stats | dlq list | dlq redrive` over the queue adapter the wiring
 * opens (see queue_cli.h). JSON goes to stdout for scripts; --table prints the same facts for
 * people.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/config.h"
#include "base/xmalloc.h"
#include "queue/queue.h"
#include "queue/queue_cli.h"

#define CLI_LIST_MAX 1000 /* messages `dlq list` shows per DLQ */

struct opts {
    const char *data;  /* data directory */
    const char *queue; /* --queue: one DLQ, or NULL for all */
    const char *to;    /* --to: redrive target, or NULL for each message's source */
    long long max;     /* --max, or -1 when not given */
    int table;         /* --table */
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: parley queue stats [--data DIR] [--table]\n"
            "       parley queue dlq list [--queue DLQ] [--max N] [--data DIR] [--table]\n"
            "       parley queue dlq redrive [--queue DLQ] [--to QUEUE] [--max N] [--data DIR]\n\n"
            "Inspects the action queues serve uses: SQS when PARLEY_QUEUE_PREFIX is set, else\n"
            "DIR/queue.db (DIR defaults to PARLEY_DATA, else ./data). The backend is named on\n"
            "stderr. stats creates nothing: without queues it lists none.\n\n"
            "  stats        counts per queue (visible, in flight, delayed) and its DLQ, as JSON\n"
            "  dlq list     messages waiting in the dead-letter queues (at most --max per DLQ,\n"
            "               default 100, up to %d), oldest first, without receiving them\n"
            "  dlq redrive  moves dead letters back to the queue they came from (or --to QUEUE)\n"
            "               as new messages; --max N limits how many (default all)\n\n"
            "  --table      print a readable table instead of JSON\n",
            CLI_LIST_MAX);
}

static int parse_max(const char *s, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < 0 || v > 1000000000LL)
        return -1;
    *out = v;
    return 0;
}

/* Parses the options after the subcommand words. Returns 0, 1 after --help, or -1. */
static int parse_opts(int argc, char **argv, struct opts *o)
{
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 1;
        }
        if (strcmp(a, "--table") == 0) {
            o->table = 1;
            continue;
        }
        if (!v) {
            fprintf(stderr, "parley queue: unknown or incomplete option '%s'\n", a);
            return -1;
        }
        if (strcmp(a, "--data") == 0)
            o->data = v;
        else if (strcmp(a, "--queue") == 0)
            o->queue = v;
        else if (strcmp(a, "--to") == 0)
            o->to = v;
        else if (strcmp(a, "--max") == 0) {
            if (parse_max(v, &o->max) < 0) {
                fprintf(stderr, "parley queue: --max takes a whole number >= 0, not '%s'\n", v);
                return -1;
            }
        } else {
            fprintf(stderr, "parley queue: unknown option '%s'\n", a);
            return -1;
        }
        i++;
    }
    return 0;
}

static void print_json(json_t *v)
{
    char *text = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (text)
        printf("%s\n", text);
    free(text);
}

static json_t *counts_json(struct queue *q, const char *name, struct err *err)
{
    struct queue_counts c;
    if (queue_counts(q, name, &c, err) < 0)
        return NULL;
    return json_pack("{s:s, s:I, s:I, s:I}", "name", name, "visible", (json_int_t)c.visible,
                     "inFlight", (json_int_t)c.in_flight, "delayed", (json_int_t)c.delayed);
}

/* ---------------------------------------------------------------- stats */

static int cmd_stats(struct queue *q, const struct opts *o)
{
    struct err err = {0};
    json_t *list = NULL, *out = json_pack("{s:[]}", "queues");
    int rc = 1;
    if (!q)
        list = json_array(); /* no queues yet (a local database not created) */
    else if (queue_list(q, &list, &err) < 0)
        goto out;
    size_t i;
    json_t *info;
    json_array_foreach(list, i, info) {
        const char *name = json_string_value(json_object_get(info, "name"));
        json_t *row = counts_json(q, name, &err);
        if (!row)
            goto out;
        json_t *rp = json_object_get(info, "redrivePolicy");
        json_t *dlq = json_null();
        if (rp) {
            const char *target = json_string_value(json_object_get(rp, "deadLetterTarget"));
            json_decref(dlq);
            dlq = counts_json(q, target, &err);
            if (!dlq) {
                json_decref(row);
                goto out;
            }
            json_object_set(dlq, "maxReceiveCount", json_object_get(rp, "maxReceiveCount"));
        }
        json_object_set_new(row, "dlq", dlq);
        json_array_append_new(json_object_get(out, "queues"), row);
    }
    if (!o->table) {
        print_json(out);
    } else {
        printf("%-32s %10s %10s %10s  %s\n", "QUEUE", "VISIBLE", "IN-FLIGHT", "DELAYED",
               "DLQ (MAX RECEIVES, DEPTH)");
        json_array_foreach(json_object_get(out, "queues"), i, info) {
            json_t *dlq = json_object_get(info, "dlq");
            char dlq_text[160] = "-";
            if (json_is_object(dlq))
                snprintf(dlq_text, sizeof dlq_text, "%s (%lld, %lld)",
                         json_string_value(json_object_get(dlq, "name")),
                         (long long)json_integer_value(json_object_get(dlq, "maxReceiveCount")),
                         (long long)(json_integer_value(json_object_get(dlq, "visible")) +
                                     json_integer_value(json_object_get(dlq, "inFlight")) +
                                     json_integer_value(json_object_get(dlq, "delayed"))));
            printf("%-32s %10lld %10lld %10lld  %s\n",
                   json_string_value(json_object_get(info, "name")),
                   (long long)json_integer_value(json_object_get(info, "visible")),
                   (long long)json_integer_value(json_object_get(info, "inFlight")),
                   (long long)json_integer_value(json_object_get(info, "delayed")), dlq_text);
        }
    }
    rc = 0;
out:
    if (rc)
        fprintf(stderr, "parley queue stats: %s\n", err.message);
    json_decref(list);
    json_decref(out);
    return rc;
}

/* ---------------------------------------------------------------- dead letters */

/* The DLQs to act on: --queue, else every queue some redrive policy names (deduplicated). */
static json_t *dlq_names(struct queue *q, const struct opts *o, struct err *err)
{
    json_t *names = json_array();
    if (o->queue) {
        struct queue_counts c;
        if (queue_counts(q, o->queue, &c, err) < 0) {
            json_decref(names);
            return NULL;
        }
        json_array_append_new(names, json_string(o->queue));
        return names;
    }
    json_t *list = NULL;
    if (queue_list(q, &list, err) < 0) {
        json_decref(names);
        return NULL;
    }
    json_t *seen = json_object();
    size_t i;
    json_t *info;
    json_array_foreach(list, i, info) {
        const char *t = json_string_value(
            json_object_get(json_object_get(info, "redrivePolicy"), "deadLetterTarget"));
        if (t && !json_object_get(seen, t)) {
            json_object_set_new(seen, t, json_true());
            json_array_append_new(names, json_string(t));
        }
    }
    json_decref(seen);
    json_decref(list);
    return names;
}

static void print_body_cell(const char *body)
{
    /* One line, at most 60 bytes, cut on a UTF-8 boundary. */
    size_t n = 0;
    for (const char *p = body; *p && n < 60; p++, n++)
        ;
    while (n > 0 && ((unsigned char)body[n] & 0xC0) == 0x80)
        n--;
    for (size_t i = 0; i < n; i++)
        putchar(body[i] == '\n' || body[i] == '\r' || body[i] == '\t' ? ' ' : body[i]);
    if (body[n])
        fputs("...", stdout);
    putchar('\n');
}

static int cmd_dlq_list(struct queue *q, const struct opts *o)
{
    struct err err = {0};
    int rc = 1;
    long long max = o->max < 0 ? 100 : o->max;
    if (max < 1 || max > CLI_LIST_MAX) {
        fprintf(stderr, "parley queue dlq list: --max must be 1..%d\n", CLI_LIST_MAX);
        return 2;
    }
    json_t *names = dlq_names(q, o, &err), *out = json_pack("{s:[]}", "messages");
    if (!names)
        goto out;
    size_t i;
    json_t *name;
    json_array_foreach(names, i, name) {
        json_t *msgs = NULL;
        if (queue_peek(q, json_string_value(name), (int)max, &msgs, &err) < 0)
            goto out;
        size_t k;
        json_t *m;
        json_array_foreach(msgs, k, m) {
            json_object_set(m, "Queue", name);
            json_array_append(json_object_get(out, "messages"), m);
        }
        json_decref(msgs);
    }
    if (!o->table) {
        print_json(out);
    } else {
        printf("%-20s %-36s %-20s %8s %-24s %s\n", "DLQ", "MESSAGE-ID", "SOURCE", "RECEIVES",
               "SENT", "BODY");
        json_t *m;
        json_array_foreach(json_object_get(out, "messages"), i, m) {
            json_t *a = json_object_get(m, "Attributes");
            const char *src = json_string_value(json_object_get(m, "SourceQueue"));
            char sent[32];
            const char *ts = json_string_value(json_object_get(a, "SentTimestamp"));
            clock_iso8601(ts ? strtoll(ts, NULL, 10) : 0, sent, sizeof sent);
            printf("%-20s %-36s %-20s %8s %-24s ", json_string_value(json_object_get(m, "Queue")),
                   json_string_value(json_object_get(m, "MessageId")), src ? src : "-",
                   json_string_value(json_object_get(a, "ApproximateReceiveCount")), sent);
            print_body_cell(json_string_value(json_object_get(m, "Body")));
        }
        printf("%zu message(s)\n", json_array_size(json_object_get(out, "messages")));
    }
    rc = 0;
out:
    if (rc)
        fprintf(stderr, "parley queue dlq list: %s\n", err.message);
    json_decref(names);
    json_decref(out);
    return rc;
}

static int cmd_dlq_redrive(struct queue *q, const struct opts *o)
{
    struct err err = {0};
    int rc = 1;
    json_t *names = dlq_names(q, o, &err),
           *out = json_pack("{s:[], s:I}", "dlqs", "moved", (json_int_t)0);
    long long total = 0, left = o->max < 0 ? 0 : o->max;
    if (!names)
        goto out;
    if (o->max == 0) {
        fprintf(stderr, "parley queue dlq redrive: --max must be at least 1\n");
        rc = 2;
        goto done;
    }
    size_t i;
    json_t *name;
    json_array_foreach(names, i, name) {
        long long moved = 0;
        if (queue_redrive(q, json_string_value(name), o->to, left, &moved, &err) < 0)
            goto out;
        total += moved;
        json_array_append_new(json_object_get(out, "dlqs"),
                              json_pack("{s:O, s:I}", "name", name, "moved", (json_int_t)moved));
        if (o->max > 0) {
            left -= moved;
            if (left <= 0)
                break;
        }
    }
    json_object_set_new(out, "moved", json_integer(total));
    if (o->table)
        printf("moved %lld message(s) out of %zu dead-letter queue(s)\n", total,
               json_array_size(json_object_get(out, "dlqs")));
    else
        print_json(out);
    rc = 0;
out:
    if (rc)
        fprintf(stderr, "parley queue dlq redrive: %s\n", err.message);
done:
    json_decref(names);
    json_decref(out);
    return rc;
}

/* ---------------------------------------------------------------- entry */

int queue_cli_main(int argc, char **argv, queue_cli_open_fn open_queues)
{
    enum { STATS, DLQ_LIST, DLQ_REDRIVE } cmd;
    int words;
    if (argc >= 2 && strcmp(argv[1], "stats") == 0) {
        cmd = STATS;
        words = 2;
    } else if (argc >= 3 && strcmp(argv[1], "dlq") == 0 && strcmp(argv[2], "list") == 0) {
        cmd = DLQ_LIST;
        words = 3;
    } else if (argc >= 3 && strcmp(argv[1], "dlq") == 0 && strcmp(argv[2], "redrive") == 0) {
        cmd = DLQ_REDRIVE;
        words = 3;
    } else {
        for (int i = 1; i < argc; i++)
            if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
                usage(stdout);
                return 0;
            }
        usage(stderr);
        return 2;
    }
    /* --data overrides PARLEY_DATA from the settings table. */
    struct config cfg;
    struct err err = {0};
    struct queue *q = NULL;
    char *backend = NULL;
    int rc = 2;
    if (config_load(&cfg, &err) < 0) {
        fprintf(stderr, "parley queue: %s\n", err.message);
        goto out;
    }
    struct opts o = {.data = NULL, .max = -1};
    int p = parse_opts(argc - words, argv + words, &o);
    if (p != 0) {
        rc = p > 0 ? 0 : 2;
        goto out;
    }
    if (o.data && config_set(&cfg, "PARLEY_DATA", o.data, &err) < 0) {
        fprintf(stderr, "parley queue: %s\n", err.message);
        goto out;
    }
    if (cmd == STATS && (o.queue || o.to || o.max >= 0)) {
        fprintf(stderr, "parley queue stats: takes only --data and --table\n");
        goto out;
    }
    if (cmd == DLQ_LIST && o.to) {
        fprintf(stderr, "parley queue dlq list: --to is for redrive\n");
        goto out;
    }
    if (open_queues(&cfg, cmd == STATS, &q, &backend, &err) < 0) {
        fprintf(stderr, "parley queue: cannot open the queues: %s\n", err.message);
        rc = 1;
        goto out;
    }
    fprintf(stderr, "parley queue: backend %s%s\n", backend, q ? "" : " (not created yet)");
    rc = cmd == STATS      ? cmd_stats(q, &o)
         : cmd == DLQ_LIST ? cmd_dlq_list(q, &o)
                           : cmd_dlq_redrive(q, &o);
out:
    queue_free(q);
    free(backend);
    config_release(&cfg);
    return rc;
}
