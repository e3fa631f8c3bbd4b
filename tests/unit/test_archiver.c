/*
 * test_archiver.c - the background archiver: coalescing, bounded delay, flush and stop, the
 * redaction and on_archived hooks, failures counted and retried, marks while in flight, batches
 * (one put_many per pass, only failed entries retried), the gather window, and a pass's fetches
 * between the fetches_begin and fetches_end hooks.
 */
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/guard.h"
#include "archive/archive.h"
#include "archive/archiver.h"
#include "base/clock.h"
#include "base/xmalloc.h"
#include "check.h"

#define T0_MS 1709251199500LL /* 2024-02-29T23:59:59.500Z */

/* ---------------------------------------------------------------- fixtures */

struct fake {
    pthread_mutex_t mu;
    int calls;             /* fetch calls */
    int version;           /* bumped by the test to tell documents apart */
    int fail_fetches;      /* fail this many next fetches */
    const char *gone_id;   /* fetch says NotFound for this session */
    atomic_int hold;       /* while set, fetch waits (the test opens the gate) */
    atomic_int in_fetch;   /* set while fetch runs */
    int archived;          /* on_archived calls */
    char last_archived[600];
    atomic_int reading;          /* between fetches_begin and fetches_end */
    atomic_int begins, ends;     /* fetches_begin / fetches_end calls */
    atomic_int fail_begins;      /* fail this many next fetches_begin calls */
    atomic_int fetched_reading;  /* fetches made while reading */
    atomic_int archived_reading; /* on_archived calls made while reading */
};

static int gate_open(void *ud)
{
    return !atomic_load(&((struct fake *)ud)->hold);
}

static json_t *fake_fetch(void *ud, const char *session_id, struct err *err)
{
    struct fake *f = ud;
    atomic_store(&f->in_fetch, 1);
    if (atomic_load(&f->reading))
        atomic_fetch_add(&f->fetched_reading, 1);
    if (atomic_load(&f->hold))
        check_wait(gate_open, f, 10000);
    pthread_mutex_lock(&f->mu);
    f->calls++;
    int fail = f->fail_fetches > 0;
    if (fail)
        f->fail_fetches--;
    int version = f->version;
    pthread_mutex_unlock(&f->mu);
    atomic_store(&f->in_fetch, 0);
    if (fail) {
        err_set(err, "StoreError", "injected fetch failure");
        return NULL;
    }
    if (f->gone_id && strcmp(session_id, f->gone_id) == 0) {
        err_set(err, "NotFound", "no session '%s'", session_id);
        return NULL;
    }
    return json_pack("{s:s, s:i, s:[{s:s, s:s}]}", "sessionId", session_id, "version", version,
                     "messages", "role", "user", "content", "write to jane.doe@example.com please");
}

static void fake_archived(void *ud, const char *session_id, const char *key)
{
    struct fake *f = ud;
    if (atomic_load(&f->reading))
        atomic_fetch_add(&f->archived_reading, 1);
    pthread_mutex_lock(&f->mu);
    f->archived++;
    snprintf(f->last_archived, sizeof f->last_archived, "%s %s", session_id, key);
    pthread_mutex_unlock(&f->mu);
}

static int test_redact_calls;
static unsigned test_redact_kinds;
/* Replaces every string that contains '@' (a stand-in for the guard, to test the hook itself). */
static size_t test_redact(json_t *doc, unsigned kinds)
{
    test_redact_calls++;
    test_redact_kinds = kinds;
    size_t n = 0;
    json_t *msgs = json_object_get(doc, "messages");
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m)
    {
        const char *s = json_string_value(json_object_get(m, "content"));
        if (s && strchr(s, '@')) {
            json_object_set_new(m, "content", json_string("[REDACTED]"));
            n++;
        }
    }
    return n;
}

/* An adapter that fails the next N puts (or every put of one key while fail_key_left lasts),
 * then forwards to an inner archive, batches included. */
struct flaky {
    struct archive base;
    struct archive *inner;
    atomic_int fail_puts;
    atomic_int puts;    /* successful puts */
    atomic_int batches; /* put_many calls with at least one item */
    const char *fail_key; /* a key ending in this fails while fail_key_left > 0 */
    atomic_int fail_key_left;
};

/* Returns -1 with err set when the flaky adapter should fail this put. */
static int flaky_injected(struct flaky *f, const char *key, struct err *err)
{
    if (atomic_load(&f->fail_puts) > 0) {
        atomic_fetch_sub(&f->fail_puts, 1);
        return err_set(err, "ArchiveError", "injected put failure for '%s'", key);
    }
    size_t kl = strlen(key), fl = f->fail_key ? strlen(f->fail_key) : 0;
    if (fl && kl >= fl && strcmp(key + kl - fl, f->fail_key) == 0 &&
        atomic_load(&f->fail_key_left) > 0) {
        atomic_fetch_sub(&f->fail_key_left, 1);
        return err_set(err, "ArchiveError", "injected put failure for '%s'", key);
    }
    return 0;
}

static int flaky_put(struct archive *a, const char *key, const void *bytes, size_t len,
                     struct err *err)
{
    struct flaky *f = (struct flaky *)a;
    if (flaky_injected(f, key, err) != 0)
        return -1;
    int rc = archive_put(f->inner, key, bytes, len, err);
    if (rc == 0)
        atomic_fetch_add(&f->puts, 1);
    return rc;
}

static size_t flaky_put_many(struct archive *a, struct archive_put_item *items, size_t n)
{
    struct flaky *f = (struct flaky *)a;
    struct archive_put_item *fwd = xcalloc(n ? n : 1, sizeof *fwd);
    size_t *at = xcalloc(n ? n : 1, sizeof *at), m = 0, failed = 0;
    if (n > 0)
        atomic_fetch_add(&f->batches, 1);
    for (size_t i = 0; i < n; i++) {
        err_clear(&items[i].err);
        items[i].rc = flaky_injected(f, items[i].key, &items[i].err);
        if (items[i].rc == 0) {
            fwd[m] = items[i];
            at[m++] = i;
        }
    }
    archive_put_many(f->inner, fwd, m);
    for (size_t k = 0; k < m; k++) {
        items[at[k]].rc = fwd[k].rc;
        items[at[k]].err = fwd[k].err;
        if (fwd[k].rc == 0)
            atomic_fetch_add(&f->puts, 1);
    }
    for (size_t i = 0; i < n; i++)
        failed += items[i].rc != 0;
    free(fwd);
    free(at);
    return failed;
}

static int flaky_get(struct archive *a, const char *key, char **out, size_t *len, struct err *e)
{
    return archive_get(((struct flaky *)a)->inner, key, out, len, e);
}
static int flaky_list(struct archive *a, const char *prefix, const char *after, int max,
                      json_t **out, struct err *e)
{
    return archive_list(((struct flaky *)a)->inner, prefix, after, max, out, e);
}
static int flaky_del(struct archive *a, const char *key, struct err *e)
{
    return archive_delete(((struct flaky *)a)->inner, key, e);
}
static int flaky_lifecycle(struct archive *a, int days, int64_t now,
                           struct archive_lifecycle_stats *st, json_t *moved, struct err *e)
{
    return archive_lifecycle(((struct flaky *)a)->inner, days, now, st, moved, e);
}
static void flaky_free(struct archive *a)
{
    archive_free(((struct flaky *)a)->inner);
}
static const struct archive_ops flaky_ops = {"flaky",         flaky_put,  flaky_get,
                                             flaky_list,      flaky_del,  flaky_lifecycle,
                                             flaky_free,      flaky_put_many};

struct env {
    char *dir;
    struct flaky flaky; /* wraps an fs archive under dir */
    struct fake fake;
};

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int env_init(struct env *e)
{
    memset(e, 0, sizeof *e);
    pthread_mutex_init(&e->fake.mu, NULL);
    e->dir = xstrdup("/tmp/parley-archiver-XXXXXX");
    if (!mkdtemp(e->dir))
        return -1;
    struct err err = {0};
    e->flaky.base.ops = &flaky_ops;
    e->flaky.inner = archive_fs_new(e->dir, &err);
    return e->flaky.inner ? 0 : -1;
}

static void env_release(struct env *e)
{
    archive_free(e->flaky.inner);
    nftw(e->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(e->dir);
    pthread_mutex_destroy(&e->fake.mu);
}

/* Sets up e and starts an archiver over it with delay_ms, each failure a failed check; NULL when
 * the archiver did not start (e is released by the caller either way). */
static struct archiver *env_start(struct env *e, int delay_ms)
{
    CHECK_INT(env_init(e), 0);
    struct err err = {0};
    struct archiver *ar = archiver_start(&e->flaky.base, fake_fetch, &e->fake, delay_ms, &err);
    CHECK(ar != NULL);
    return ar;
}

/* The archived document for session id started at T0_MS, or NULL. */
static json_t *archived_doc(struct env *e, const char *id, int64_t created)
{
    char key[ARCHIVE_KEY_MAX + 1];
    if (archive_key_for(id, created, key, sizeof key, NULL) != 0)
        return NULL;
    char *text = NULL;
    size_t len = 0;
    if (archive_get(&e->flaky.base, key, &text, &len, NULL) != 0)
        return NULL;
    json_t *doc = json_loadb(text, len, 0, NULL);
    free(text);
    return doc;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* For check_wait: the archiver has written at least want transcripts (st is refreshed). */
struct written_watch {
    struct archiver *ar;
    struct archiver_stats st;
    uint64_t want;
};

static int written_reached(void *ud)
{
    struct written_watch *w = ud;
    archiver_stats(w->ar, &w->st);
    return w->st.written >= w->want;
}

/* ---------------------------------------------------------------- tests */

static void test_coalescing(void)
{
    struct env e;
    struct err err = {0};
    struct archiver *ar = env_start(&e, 300);
    if (!ar)
        goto out;
    for (int i = 0; i < 200; i++)
        CHECK_INT(archiver_mark(ar, "sess-a", T0_MS, &err), 0);
    CHECK_INT(archiver_mark(ar, "sess-b", T0_MS, &err), 0);
    struct archiver_stats st;
    archiver_stats(ar, &st);
    CHECK_INT(st.marks, 201);
    CHECK_INT(st.coalesced, 199);
    CHECK_INT(st.pending, 2);
    /* Wait for the delayed write; then stop, which flushes whatever else would have followed. */
    struct written_watch ww = {ar, {0}, 2};
    CHECK(check_wait(written_reached, &ww, 5000));
    st = ww.st;
    CHECK_INT(st.written, 2);
    CHECK_INT(st.pending, 0);
    CHECK_INT(archiver_stop(ar), 0);
    CHECK_INT(e.fake.calls, 2);      /* 200 marks of sess-a became one fetch */
    CHECK_INT(atomic_load(&e.flaky.puts), 2); /* and nothing else was written, even by stop */
    json_t *doc = archived_doc(&e, "sess-a", T0_MS);
    CHECK(doc != NULL);
    CHECK_STR(json_string_value(json_object_get(doc, "sessionId")), "sess-a");
    json_decref(doc);
out:
    env_release(&e);
}

static void test_bounded_delay(void)
{
    struct env e;
    struct err err = {0};
    const int delay = 200;
    struct archiver *ar = env_start(&e, delay);
    if (!ar)
        goto out;
    int64_t t0 = clock_mono_ms();
    CHECK_INT(archiver_mark(ar, "sess-d", T0_MS, &err), 0);
    json_t *doc = NULL;
    int64_t seen_at = -1, deadline = t0 + 5000;
    while (clock_mono_ms() < deadline) {
        doc = archived_doc(&e, "sess-d", T0_MS);
        if (doc) {
            seen_at = clock_mono_ms();
            break;
        }
        sleep_ms(5);
    }
    CHECK(doc != NULL);
    json_decref(doc);
    /* Not before the delay (marks get a window to coalesce), and not much after it. */
    CHECK(seen_at - t0 >= delay - 5);
    CHECK(seen_at - t0 <= delay + 1500);
    CHECK_INT(archiver_stop(ar), 0);

    /* Zero delay writes as soon as the worker wakes. */
    struct fake f2;
    memset(&f2, 0, sizeof f2);
    pthread_mutex_init(&f2.mu, NULL);
    ar = archiver_start(&e.flaky.base, fake_fetch, &f2, 0, &err);
    CHECK(ar != NULL);
    t0 = clock_mono_ms();
    CHECK_INT(archiver_mark(ar, "sess-z", T0_MS, &err), 0);
    struct archiver_stats st;
    do {
        sleep_ms(2);
        archiver_stats(ar, &st);
    } while (st.written < 1 && clock_mono_ms() - t0 < 5000);
    CHECK_INT(st.written, 1);
    CHECK(clock_mono_ms() - t0 < 1000);
    archiver_stop(ar);
    pthread_mutex_destroy(&f2.mu);

    err_clear(&err);
    CHECK(archiver_start(&e.flaky.base, fake_fetch, &e.fake, -1, &err) == NULL);
    CHECK_STR(err.code, "InvalidArgument");
    CHECK(archiver_start(&e.flaky.base, NULL, &e.fake, 10, &err) == NULL);
out:
    env_release(&e);
}

static void test_stop_flushes_everything(void)
{
    struct env e;
    struct err err = {0};
    /* A delay far longer than the test: only the flush in stop can write these. */
    struct archiver *ar = env_start(&e, 600000);
    if (!ar)
        goto out;
    char id[32];
    for (int i = 0; i < 50; i++) {
        snprintf(id, sizeof id, "stop-%02d", i);
        CHECK_INT(archiver_mark(ar, id, T0_MS + (int64_t)i * 1000, &err), 0);
        CHECK_INT(archiver_mark(ar, id, T0_MS + (int64_t)i * 1000, &err), 0);
    }
    /* Nothing is due for ten minutes: no fetch may have happened (the marks are all pending). */
    struct archiver_stats pst;
    archiver_stats(ar, &pst);
    CHECK_INT(pst.pending, 50);
    CHECK_INT(e.fake.calls, 0);
    CHECK_INT(archiver_stop(ar), 0);
    CHECK_INT(e.fake.calls, 50);
    /* Sessions 0 starts 2024-02-29T23:59:59.500Z; session 1 onwards start on March 1st. */
    json_t *page = NULL;
    CHECK_INT(archive_list(&e.flaky.base, "2024/02/29/", NULL, 1000, &page, &err), 0);
    CHECK_INT(json_array_size(json_object_get(page, "objects")), 1);
    json_decref(page);
    CHECK_INT(archive_list(&e.flaky.base, "2024/03/01/", NULL, 1000, &page, &err), 0);
    CHECK_INT(json_array_size(json_object_get(page, "objects")), 49);
    json_decref(page);
    for (int i = 0; i < 50; i++) {
        snprintf(id, sizeof id, "stop-%02d", i);
        json_t *doc = archived_doc(&e, id, T0_MS + (int64_t)i * 1000);
        CHECK(doc != NULL);
        json_decref(doc);
    }
out:
    env_release(&e);
}

static void test_flush_and_hooks(void)
{
    struct env e;
    struct err err = {0};
    struct archiver *ar = env_start(&e, 600000);
    if (!ar)
        goto out;
    struct archiver_hooks hooks = {.redact = test_redact, .redact_kinds = 5,
                                   .on_archived = fake_archived};
    archiver_set_hooks(ar, &hooks);
    CHECK_INT(archiver_mark(ar, "sess-h", T0_MS, &err), 0);
    CHECK_INT(archiver_flush(ar), 0);
    json_t *doc = archived_doc(&e, "sess-h", T0_MS);
    CHECK(doc != NULL);
    const char *content =
        json_string_value(json_object_get(json_array_get(json_object_get(doc, "messages"), 0),
                                          "content"));
    CHECK_STR(content, "[REDACTED]");
    json_decref(doc);
    CHECK_INT(test_redact_calls, 1);
    CHECK_INT(test_redact_kinds, 5);
    CHECK_INT(e.fake.archived, 1);
    CHECK_STR(e.fake.last_archived, "sess-h 2024/02/29/sess-h.json");

    /* The agent's guard plugs in directly and redacts the e-mail address. */
    hooks.redact = guard_redact_json;
    hooks.redact_kinds = GUARD_ALL;
    archiver_set_hooks(ar, &hooks);
    e.fake.version = 2;
    CHECK_INT(archiver_mark(ar, "sess-h", T0_MS, &err), 0);
    CHECK_INT(archiver_flush(ar), 0);
    char *text = NULL;
    size_t len = 0;
    CHECK_INT(archive_get(&e.flaky.base, "2024/02/29/sess-h.json", &text, &len, &err), 0);
    CHECK(text && strstr(text, "jane.doe@example.com") == NULL);
    CHECK(text && strstr(text, "\"version\":2") != NULL);
    free(text);

    /* No hooks: the document goes out as fetched. */
    archiver_set_hooks(ar, NULL);
    CHECK_INT(archiver_mark(ar, "sess-raw", T0_MS, &err), 0);
    CHECK_INT(archiver_flush(ar), 0);
    doc = archived_doc(&e, "sess-raw", T0_MS);
    CHECK(doc && strstr(json_string_value(json_object_get(
                            json_array_get(json_object_get(doc, "messages"), 0), "content")),
                        "jane.doe@example.com") != NULL);
    json_decref(doc);
    CHECK_INT(e.fake.archived, 2);

    /* Bad session ids are refused at mark time. */
    err_clear(&err);
    CHECK_INT(archiver_mark(ar, "../etc/passwd", T0_MS, &err), -1);
    CHECK_STR(err.code, "InvalidKey");
    CHECK_INT(archiver_mark(ar, "ok", -5, &err), -1);
    CHECK_INT(archiver_stop(ar), 0);
    CHECK_INT(archiver_stop(NULL), 0);
out:
    env_release(&e);
}

static int fake_begin(void *ud)
{
    struct fake *f = ud;
    atomic_fetch_add(&f->begins, 1);
    if (atomic_load(&f->fail_begins) > 0) {
        atomic_fetch_sub(&f->fail_begins, 1);
        return -1;
    }
    CHECK(!atomic_exchange(&f->reading, 1)); /* never nested */
    return 0;
}

static void fake_end(void *ud)
{
    struct fake *f = ud;
    atomic_fetch_add(&f->ends, 1);
    CHECK(atomic_exchange(&f->reading, 0)); /* only after a begin that succeeded */
}

/* A pass's fetches run between fetches_begin and fetches_end (the app's one store snapshot), a
 * group of ARCHIVER_BATCH_MAX at a time, and each group's end comes before its documents are
 * stored; a begin that fails leaves the group's fetches to stand alone, with no end. */
static void test_fetches_in_one_snapshot(void)
{
    struct env e;
    struct err err = {0};
    struct archiver *ar = env_start(&e, 600000);
    if (!ar)
        goto out;
    archiver_set_hooks(ar, &(struct archiver_hooks){.on_archived = fake_archived,
                                                    .fetches_begin = fake_begin,
                                                    .fetches_end = fake_end});
    int n = ARCHIVER_BATCH_MAX + 44; /* two groups */
    for (int i = 0; i < n; i++) {
        char id[32];
        snprintf(id, sizeof id, "sess-%d", i);
        CHECK_INT(archiver_mark(ar, id, T0_MS, &err), 0);
    }
    CHECK_INT(archiver_flush(ar), 0);
    CHECK_INT(e.fake.calls, n);
    CHECK_INT(atomic_load(&e.fake.fetched_reading), n);
    CHECK_INT(atomic_load(&e.fake.begins), 2);
    CHECK_INT(atomic_load(&e.fake.ends), 2);
    CHECK_INT(e.fake.archived, n);
    CHECK_INT(atomic_load(&e.fake.archived_reading), 0);

    atomic_store(&e.fake.fail_begins, 1);
    CHECK_INT(archiver_mark(ar, "sess-a", T0_MS, &err), 0);
    CHECK_INT(archiver_mark(ar, "sess-b", T0_MS, &err), 0);
    CHECK_INT(archiver_flush(ar), 0);
    CHECK_INT(e.fake.calls, n + 2);                          /* fetched all the same */
    CHECK_INT(atomic_load(&e.fake.fetched_reading), n);      /* ... outside a snapshot */
    CHECK_INT(atomic_load(&e.fake.begins), 3);               /* one try a group */
    CHECK_INT(atomic_load(&e.fake.ends), 2);                 /* no end for it */
    CHECK_INT(e.fake.archived, n + 2);
    CHECK_INT(archiver_stop(ar), 0);
out:
    env_release(&e);
}

static void test_failures_counted_and_retried(void)
{
    struct env e;
    struct err err = {0};
    struct archiver *ar = env_start(&e, 600000);
    if (!ar)
        goto out;
    struct archiver_stats st;

    /* A failing fetch: counted, kept, retried by the next flush. */
    e.fake.fail_fetches = 2;
    CHECK_INT(archiver_mark(ar, "sess-f", T0_MS, &err), 0);
    CHECK_INT(archiver_flush(ar), 1);
    archiver_stats(ar, &st);
    CHECK_INT(st.failures, 1);
    CHECK_INT(st.pending, 1);
    CHECK(archived_doc(&e, "sess-f", T0_MS) == NULL);
    CHECK_INT(archiver_flush(ar), 1);
    CHECK_INT(archiver_flush(ar), 0);
    archiver_stats(ar, &st);
    CHECK_INT(st.failures, 2);
    CHECK_INT(st.written, 1);
    CHECK_INT(st.pending, 0);
    json_t *doc = archived_doc(&e, "sess-f", T0_MS);
    CHECK(doc != NULL);
    json_decref(doc);

    /* A failing put: the same. */
    atomic_store(&e.flaky.fail_puts, 1);
    CHECK_INT(archiver_mark(ar, "sess-p", T0_MS, &err), 0);
    CHECK_INT(archiver_flush(ar), 1);
    CHECK(archived_doc(&e, "sess-p", T0_MS) == NULL);
    archiver_stats(ar, &st);
    CHECK_INT(st.failures, 3);
    CHECK_INT(archiver_flush(ar), 0);
    doc = archived_doc(&e, "sess-p", T0_MS);
    CHECK(doc != NULL);
    json_decref(doc);

    /* A session that is gone is dropped, not retried forever. */
    e.fake.gone_id = "sess-gone";
    CHECK_INT(archiver_mark(ar, "sess-gone", T0_MS, &err), 0);
    CHECK_INT(archiver_flush(ar), 0);
    archiver_stats(ar, &st);
    CHECK_INT(st.skipped, 1);
    CHECK_INT(st.pending, 0);

    /* Still failing at shutdown: stop reports it instead of dropping it silently. */
    e.fake.fail_fetches = 1000;
    CHECK_INT(archiver_mark(ar, "sess-doomed", T0_MS, &err), 0);
    CHECK_INT(archiver_stop(ar), 1);
out:
    env_release(&e);
}

static void test_retry_on_mark_and_backoff(void)
{
    struct env e;
    struct err err = {0};
    struct archiver *ar = env_start(&e, 50);
    if (!ar)
        goto out;
    struct archiver_stats st;
    /* One failure, then the backoff retry writes it with no flush and no new mark. */
    e.fake.fail_fetches = 1;
    CHECK_INT(archiver_mark(ar, "sess-r", T0_MS, &err), 0);
    int64_t deadline = clock_mono_ms() + 5000;
    do {
        sleep_ms(10);
        archiver_stats(ar, &st);
    } while (st.written < 1 && clock_mono_ms() < deadline);
    CHECK_INT(st.failures, 1);
    CHECK_INT(st.written, 1);
    CHECK_INT(e.fake.calls, 2);
    archiver_stop(ar);

    /* After five failures the backoff is 1.6 s, but a new mark retries within the 100 ms delay. */
    e.fake.calls = 0;
    ar = archiver_start(&e.flaky.base, fake_fetch, &e.fake, 100, &err);
    CHECK(ar != NULL);
    e.fake.fail_fetches = 5;
    CHECK_INT(archiver_mark(ar, "sess-m", T0_MS, &err), 0);
    for (int i = 0; i < 5; i++)
        CHECK_INT(archiver_flush(ar), 1);
    int64_t t0 = clock_mono_ms();
    CHECK_INT(archiver_mark(ar, "sess-m", T0_MS, &err), 0);
    deadline = t0 + 5000;
    do {
        sleep_ms(5);
        archiver_stats(ar, &st);
    } while (st.written < 1 && clock_mono_ms() < deadline);
    CHECK_INT(st.written, 1);
    CHECK(clock_mono_ms() - t0 < 1000);
    CHECK_INT(st.failures, 5);
    CHECK_INT(st.pending, 0);
    archiver_stop(ar);
out:
    env_release(&e);
}

static int in_fetch_now(void *ud)
{
    return atomic_load(&((struct fake *)ud)->in_fetch);
}

static void test_mark_while_in_flight(void)
{
    struct env e;
    struct err err = {0};
    struct archiver *ar = env_start(&e, 0);
    if (!ar)
        goto out;
    atomic_store(&e.fake.hold, 1); /* the first fetch waits until the test has marked again */
    CHECK_INT(archiver_mark(ar, "sess-w", T0_MS, &err), 0);
    CHECK(check_wait(in_fetch_now, &e.fake, 3000));
    /* The worker is reading the old transcript; a turn lands and marks again. */
    pthread_mutex_lock(&e.fake.mu);
    e.fake.version = 7;
    pthread_mutex_unlock(&e.fake.mu);
    CHECK_INT(archiver_mark(ar, "sess-w", T0_MS, &err), 0);
    atomic_store(&e.fake.hold, 0);
    CHECK_INT(archiver_stop(ar), 0);
    CHECK_INT(e.fake.calls, 2);
    json_t *doc = archived_doc(&e, "sess-w", T0_MS);
    CHECK_INT(json_integer_value(json_object_get(doc, "version")), 7);
    json_decref(doc);
out:
    env_release(&e);
}

struct marker {
    struct archiver *ar;
    int thread_no;
    int failures;
};

static void *marker_main(void *arg)
{
    struct marker *m = arg;
    char id[32];
    for (int i = 0; i < 2000; i++) {
        snprintf(id, sizeof id, "t%d-s%d", m->thread_no, i % 300);
        if (archiver_mark(m->ar, id, T0_MS, NULL) != 0)
            m->failures++;
    }
    return NULL;
}

static void test_concurrent_marks(void)
{
    struct env e;
    struct err err = {0};
    struct archiver *ar = env_start(&e, 5);
    if (!ar)
        goto out;
    pthread_t t[4];
    struct marker m[4];
    for (int i = 0; i < 4; i++) {
        m[i] = (struct marker){ar, i, 0};
        pthread_create(&t[i], NULL, marker_main, &m[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        CHECK_INT(m[i].failures, 0);
    }
    CHECK_INT(archiver_stop(ar), 0);
    /* Every one of the 1200 sessions is archived; coalescing kept writes at or below marks. */
    json_t *page = NULL;
    int total = 0;
    char after[ARCHIVE_KEY_MAX + 1] = "";
    for (;;) {
        CHECK_INT(archive_list(&e.flaky.base, "", after, 1000, &page, &err), 0);
        json_t *objs = json_object_get(page, "objects");
        total += (int)json_array_size(objs);
        int more = json_is_true(json_object_get(page, "isTruncated"));
        if (json_array_size(objs) > 0)
            snprintf(after, sizeof after, "%s",
                     json_string_value(json_object_get(
                         json_array_get(objs, json_array_size(objs) - 1), "key")));
        json_decref(page);
        if (!more)
            break;
    }
    CHECK_INT(total, 1200);
    CHECK(e.fake.calls >= 1200 && e.fake.calls <= 8000);
out:
    env_release(&e);
}

/* One pass stores every pending session with one put_many; a failure in the middle of it
 * retries only that session (one more fetch, one more put), and the rest are not rewritten. */
static void test_batch_retries_only_failures(void)
{
    struct env e;
    struct err err = {0};
    struct archiver *ar = env_start(&e, 60000);
    if (!ar)
        goto out;
    char id[32];
    for (int i = 0; i < 20; i++) {
        snprintf(id, sizeof id, "batch-%02d", i);
        CHECK_INT(archiver_mark(ar, id, T0_MS, &err), 0);
    }
    e.flaky.fail_key = "/batch-07.json";
    atomic_store(&e.flaky.fail_key_left, 1);
    CHECK_INT(archiver_flush(ar), 1);
    struct archiver_stats st;
    archiver_stats(ar, &st);
    CHECK_INT(st.written, 19);
    CHECK_INT(st.failures, 1);
    CHECK_INT(st.pending, 1);
    CHECK_INT(atomic_load(&e.flaky.batches), 1);
    CHECK_INT(atomic_load(&e.flaky.puts), 19);
    CHECK_INT(e.fake.calls, 20);
    json_t *doc = archived_doc(&e, "batch-07", T0_MS);
    CHECK(doc == NULL);
    json_decref(doc);
    for (int i = 0; i < 20; i++) {
        if (i == 7)
            continue;
        snprintf(id, sizeof id, "batch-%02d", i);
        doc = archived_doc(&e, id, T0_MS);
        CHECK(doc != NULL);
        CHECK_STR(json_string_value(json_object_get(doc, "sessionId")), id);
        json_decref(doc);
    }

    CHECK_INT(archiver_flush(ar), 0);
    archiver_stats(ar, &st);
    CHECK_INT(st.written, 20);
    CHECK_INT(st.pending, 0);
    CHECK_INT(atomic_load(&e.flaky.batches), 2);
    CHECK_INT(atomic_load(&e.flaky.puts), 20);
    CHECK_INT(e.fake.calls, 21);
    doc = archived_doc(&e, "batch-07", T0_MS);
    CHECK(doc != NULL);
    json_decref(doc);
    CHECK_INT(archiver_stop(ar), 0);
out:
    env_release(&e);
}

/* A pass woken by a due entry takes along those due within a quarter of the delay: two sessions
 * marked 50 ms apart under a 400 ms delay share one put_many, and neither is written before the
 * first one's due time. */
static void test_gather_window(void)
{
    struct env e;
    struct err err = {0};
    const int delay = 400;
    struct archiver *ar = env_start(&e, delay);
    if (!ar)
        goto out;
    int64_t t0 = clock_mono_ms();
    CHECK_INT(archiver_mark(ar, "gather-a", T0_MS, &err), 0);
    sleep_ms(50);
    CHECK_INT(archiver_mark(ar, "gather-b", T0_MS, &err), 0);
    struct archiver_stats st;
    int64_t first_seen = -1;
    do {
        sleep_ms(2);
        archiver_stats(ar, &st);
        if (st.written > 0 && first_seen < 0)
            first_seen = clock_mono_ms();
    } while (st.written < 2 && clock_mono_ms() - t0 < 5000);
    CHECK_INT(st.written, 2);
    CHECK(first_seen - t0 >= delay - 5);
    CHECK_INT(atomic_load(&e.flaky.batches), 1);
    CHECK_INT(archiver_stop(ar), 0);
out:
    env_release(&e);
}

int main(void)
{
    xmalloc_init();
    RUN(test_coalescing);
    RUN(test_bounded_delay);
    RUN(test_stop_flushes_everything);
    RUN(test_flush_and_hooks);
    RUN(test_fetches_in_one_snapshot);
    RUN(test_failures_counted_and_retried);
    RUN(test_retry_on_mark_and_backoff);
    RUN(test_mark_while_in_flight);
    RUN(test_concurrent_marks);
    RUN(test_batch_retries_only_failures);
    RUN(test_gather_window);
    return check_summary();
}
