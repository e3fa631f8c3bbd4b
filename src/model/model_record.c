/*
 * model_record.c - the record/replay decorator of the model port (model_record.h): saves each
 * request/response pair under the hash of the normalised request, or answers from those files.
 */
#include "model/model_record.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "base/log.h"

struct model_record {
    struct model base;           /* must be first: the port sees this */
    struct model *inner;         /* the real provider (unused when replaying) */
    char *dir;                   /* the recording directory */
    enum model_record_mode mode; /* save or replay */
    pthread_mutex_t mu;          /* serialises index.txt appends */
};

/* The last replay miss of this thread (model_record_take_miss). */
static __thread char last_miss[ERR_MSG_MAX];

int model_record_take_miss(char *out, size_t cap)
{
    if (!last_miss[0])
        return 0;
    snprintf(out, cap, "%s", last_miss);
    last_miss[0] = '\0';
    return 1;
}

/* ------------------------------------------------------------------------------------------------
 * Normalisation
 * --------------------------------------------------------------------------------------------- */

static int credential_key(const char *k)
{
    static const char *const names[] = {"authorization",
                                        "api_key",
                                        "apikey",
                                        "x-api-key",
                                        "x-amz-security-token",
                                        "x-amz-signature",
                                        "signature",
                                        "aws_secret_access_key",
                                        "secret"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcasecmp(k, names[i]) == 0)
            return 1;
    return 0;
}

/* Length of an ISO-8601 UTC timestamp at s ("2026-12-04T16:26:01.420Z", fraction optional),
 * or 0. */
static size_t timestamp_at(const char *s)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd";
    size_t i = 0;
    for (; shape[i]; i++) {
        if (shape[i] == 'd' ? !(s[i] >= '0' && s[i] <= '9') : s[i] != shape[i])
            return 0;
    }
    if (s[i] == '.')
        for (i++; s[i] >= '0' && s[i] <= '9'; i++)
            ;
    return s[i] == 'Z' ? i + 1 : i;
}

/* The string with every timestamp replaced by "<time>" (tool results carry creation times that
 * differ from run to run), as a new JSON string. */
static json_t *mask_times(const char *s)
{
    const char *t = strchr(s, 'T');
    while (t && (t - s < 10 || !timestamp_at(t - 10)))
        t = strchr(t + 1, 'T');
    if (!t)
        return json_string(s); /* the common case: nothing to mask */
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    while (*s) {
        size_t n = timestamp_at(s);
        if (n) {
            fputs("<time>", f);
            s += n;
        } else {
            fputc(*s++, f);
        }
    }
    fclose(f);
    json_t *v = json_stringn(out, len);
    free(out);
    return v ? v : json_string("");
}

/* ids: original tool_use id -> "toolu_N"; NULL keeps ids as they are (responses: the agent keys
 * actions by tool-use id, so a replayed response must keep the ids that were recorded). */
static json_t *norm(const json_t *v, json_t *ids)
{
    if (json_is_object(v)) {
        json_t *out = json_object();
        const char *k;
        json_t *e;
        int is_tool_use = json_is_string(json_object_get(v, "type")) &&
                          strcmp(json_string_value(json_object_get(v, "type")), "tool_use") == 0;
        json_object_foreach((json_t *)v, k, e) {
            if (credential_key(k))
                continue;
            if (ids && json_is_string(e) &&
                ((is_tool_use && strcmp(k, "id") == 0) || strcmp(k, "tool_use_id") == 0)) {
                const char *orig = json_string_value(e);
                json_t *seen = json_object_get(ids, orig);
                if (!seen) {
                    char n[32];
                    snprintf(n, sizeof n, "toolu_%zu", json_object_size(ids) + 1);
                    seen = json_string(n);
                    json_object_set_new(ids, orig, seen);
                }
                json_object_set(out, k, seen);
                continue;
            }
            json_object_set_new(out, k, norm(e, ids));
        }
        return out;
    }
    if (json_is_array(v)) {
        json_t *out = json_array();
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
            json_array_append_new(out, norm(e, ids));
        return out;
    }
    if (ids && json_is_string(v))
        return mask_times(json_string_value(v));
    return json_deep_copy(v);
}

json_t *model_record_normalise(const json_t *request)
{
    json_t *ids = json_object();
    json_t *out = norm(request, ids);
    json_decref(ids);
    return out;
}

static char *canonical(const json_t *normalised)
{
    return json_dumps(normalised, JSON_COMPACT | JSON_SORT_KEYS);
}

static void key_of(const char *text, char out[65])
{
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)text, strlen(text), d);
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

void model_record_key(const json_t *request, char out[65])
{
    json_t *n = model_record_normalise(request);
    char *text = canonical(n);
    key_of(text ? text : "", out);
    free(text);
    json_decref(n);
}

/* The last customer text of a request, for the index (owned, one line, at most 120 bytes). */
static char *last_user_text(const json_t *request)
{
    const char *text = "";
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(request, "messages"), i, m) {
        const char *role = json_string_value(json_object_get(m, "role"));
        const json_t *c = json_object_get(m, "content");
        if (!role || strcmp(role, "user") != 0)
            continue;
        if (json_is_string(c)) {
            text = json_string_value(c);
        } else {
            size_t k;
            json_t *b;
            json_array_foreach(c, k, b) {
                const char *t = json_string_value(json_object_get(b, "type"));
                if (t && strcmp(t, "text") == 0 && json_is_string(json_object_get(b, "text")))
                    text = json_string_value(json_object_get(b, "text"));
                else if (t && strcmp(t, "tool_result") == 0)
                    text = "(tool result)";
            }
        }
    }
    char *out = strndup(text, 120);
    for (char *p = out; *p; p++)
        if (*p == '\n' || *p == '\t' || *p == '\r')
            *p = ' ';
    return out;
}

/* ------------------------------------------------------------------------------------------------
 * Files
 * --------------------------------------------------------------------------------------------- */

/* Writes text to path atomically (temp, fsync, rename). Returns 0 or -1 with err. */
static int write_atomic(const char *path, const char *text, struct err *err)
{
    int rc = -1;
    char tmp[1300];
    snprintf(tmp, sizeof tmp, "%.1200s.tmp.%ld", path, (long)pthread_self() % 100000);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        err_set(err, "ModelError", "cannot write '%s': %s", tmp, strerror(errno));
        goto out;
    }
    int ok = fputs(text, f) >= 0 && fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok &= fclose(f) == 0;
    if (!ok || rename(tmp, path) < 0) {
        err_set(err, "ModelError", "cannot write '%s': %s", path, strerror(errno));
        unlink(tmp);
        goto out;
    }
    rc = 0;
out:
    return rc;
}

static int save_pair(struct model_record *r, const char *key, json_t *normalised,
                     const json_t *response, const json_t *request, struct err *err)
{
    int rc = -1;
    char path[1200];
    json_t *resp_clean = norm(response, NULL); /* credentials dropped, ids kept */
    json_t *doc = json_pack("{s:O, s:o}", "request", normalised, "response", resp_clean);
    char *text = json_dumps(doc, JSON_INDENT(1) | JSON_SORT_KEYS);
    char *line = last_user_text(request);
    snprintf(path, sizeof path, "%s/%s.json", r->dir, key);
    if (!text || write_atomic(path, text, err) < 0)
        goto out;
    pthread_mutex_lock(&r->mu);
    snprintf(path, sizeof path, "%s/index.txt", r->dir);
    FILE *f = fopen(path, "a");
    if (f) {
        fprintf(f, "%s  %s\n", key, line);
        fclose(f);
    }
    pthread_mutex_unlock(&r->mu);
    rc = 0;
out:
    free(line);
    free(text);
    json_decref(doc);
    return rc;
}

/* Fills err with a replay miss: the key, the closest recording and where they part. */
static void miss(struct model_record *r, const char *key, const char *text, struct err *err)
{
    DIR *d = opendir(r->dir);
    char best[65] = "";
    size_t best_len = 0, best_common = 0, scanned = 0;
    char *best_text = NULL;
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL && scanned < MODEL_RECORD_SCAN_MAX) {
        size_t n = strlen(de->d_name);
        if (n != 69 || strcmp(de->d_name + 64, ".json") != 0)
            continue;
        scanned++;
        char path[1200];
        snprintf(path, sizeof path, "%s/%s", r->dir, de->d_name);
        json_t *doc = json_load_file(path, 0, NULL);
        char *other = doc ? canonical(json_object_get(doc, "request")) : NULL;
        json_decref(doc);
        if (!other)
            continue;
        size_t common = 0;
        while (other[common] && other[common] == text[common])
            common++;
        if (!best_text || common > best_common) {
            free(best_text);
            best_text = other;
            best_common = common;
            best_len = strlen(other);
            snprintf(best, sizeof best, "%.64s", de->d_name);
        } else {
            free(other);
        }
    }
    if (d)
        closedir(d);
    if (!best_text) {
        err_set(err, "ModelError",
                "model replay miss: no recording %s in '%s' (the directory "
                "holds no recordings)",
                key, r->dir);
        return;
    }
    size_t from = best_common > 40 ? best_common - 40 : 0;
    err_set(err, "ModelError",
            "model replay miss: no recording %s in '%s'; the closest recorded request is %s, "
            "which differs at byte %zu: recorded \"%.80s\" vs now \"%.80s\"",
            key, r->dir, best, best_common, best_text + (from < best_len ? from : best_len),
            text + from);
    free(best_text);
}

/* ------------------------------------------------------------------------------------------------
 * The port
 * --------------------------------------------------------------------------------------------- */

static json_t *record_invoke(struct model *m, const json_t *request, model_delta_fn on_delta,
                             void *ud, struct err *err)
{
    struct model_record *r = (struct model_record *)m;
    json_t *out = NULL;
    json_t *normalised = model_record_normalise(request);
    char *text = canonical(normalised);
    char key[65];
    key_of(text ? text : "", key);
    if (r->mode == MODEL_RECORD_SAVE) {
        out = model_invoke(r->inner, request, on_delta, ud, err);
        if (out && save_pair(r, key, normalised, out, request, err) < 0) {
            json_decref(out);
            out = NULL;
        }
        goto done;
    }
    char path[1200];
    snprintf(path, sizeof path, "%s/%s.json", r->dir, key);
    json_t *doc = json_load_file(path, 0, NULL);
    if (!doc) {
        miss(r, key, text ? text : "", err);
        snprintf(last_miss, sizeof last_miss, "%s", err->message);
        log_at(LL_WARN, "model", "%s", err->message);
        goto done;
    }
    out = json_incref(json_object_get(doc, "response"));
    json_decref(doc);
    if (!json_is_object(out)) {
        json_decref(out);
        out = NULL;
        err_set(err, "ModelBadResponse", "recording '%s' has no response object", path);
        goto done;
    }
    if (on_delta) {
        /* a streamed turn gets the recorded text as one delta per text block */
        size_t i;
        json_t *b;
        json_array_foreach(json_object_get(out, "content"), i, b)
            if (json_is_string(json_object_get(b, "text")))
                on_delta(ud, json_string_value(json_object_get(b, "text")));
    }
done:
    free(text);
    json_decref(normalised);
    return out;
}

static void record_free(struct model *m)
{
    struct model_record *r = (struct model_record *)m;
    model_free(r->inner);
    pthread_mutex_destroy(&r->mu);
    free(r->dir);
    free(r);
}

static void record_forget(struct model *m)
{
    model_forget(((struct model_record *)m)->inner);
}

static const struct model_ops record_ops = {
    .name = "record",
    .invoke = record_invoke,
    .free = record_free,
    .forget = record_forget,
};

struct model *model_record_inner(struct model *m)
{
    return m && m->ops == &record_ops ? ((struct model_record *)m)->inner : m;
}

struct model *model_record_new(struct model *inner, const char *dir, enum model_record_mode mode,
                               struct err *err)
{
    struct model_record *r = NULL;
    struct stat st;
    if (!dir || !*dir) {
        err_set(err, "InvalidConfig", "a model recording needs a directory");
        goto fail;
    }
    if (mode == MODEL_RECORD_SAVE && mkdir(dir, 0755) < 0 && errno != EEXIST) {
        err_set(err, "InvalidConfig", "cannot create '%s': %s", dir, strerror(errno));
        goto fail;
    }
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        err_set(err, "InvalidConfig", "model recording directory '%s' does not exist", dir);
        goto fail;
    }
    r = calloc(1, sizeof *r);
    if (!r) {
        err_set(err, "InvalidConfig", "out of memory");
        goto fail;
    }
    r->base.ops = &record_ops;
    r->inner = inner;
    r->dir = strdup(dir);
    r->mode = mode;
    pthread_mutex_init(&r->mu, NULL);
    return &r->base;
fail:
    model_free(inner);
    return NULL;
}
