/* trace.c - X-Ray-model segments and subsegments, the trace header, UDP export to the X-Ray
 * daemon and the ring of recent segments; see trace.h. */
#include "telemetry/trace.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/config.h"
#include "base/errcode.h"
#include "base/jsontext.h"
#include "base/log.h"
#include "base/rand.h"
#include "base/utf8.h"
#include "base/xmalloc.h"

#define TRACE_FIELD_MAX 2048 /* http request fields */
#define TRACE_VALUE_MAX 256  /* annotation values */
#define TRACE_STORE_MAX 100000
#define TRACE_STORE_DOC_MAX (256 * 1024)

enum { F_ERROR = 1, F_FAULT = 2, F_THROTTLE = 4 };

/* ------------------------------------------------------------------------------------------ */
/* Types                                                                                      */
/* ------------------------------------------------------------------------------------------ */

struct trace_root;

struct trace_ctx {
    struct trace_root *root;       /* the tree this context belongs to */
    char id[TRACE_SEG_ID_LEN + 1]; /* segment or subsegment id */
    char *name;                    /* sanitized, owned */
    char *ns;                      /* "remote", "aws" or NULL, owned */
    int64_t start_us, end_us;      /* epoch microseconds; end_us 0 while open */
    int released;                  /* trace_sub_end() dropped the caller's reference */
    unsigned flags;                /* F_ERROR | F_FAULT | F_THROTTLE */
    char *cause_type, *cause_msg;  /* the recorded error, owned, or NULL */
    char cause_id[TRACE_SEG_ID_LEN + 1];
    json_t *annotations;     /* object or NULL, owned */
    struct trace_ctx **kids; /* subsegments in start order, owned */
    size_t nkids, capkids;
};

/* The fields of a segment's http.request, in the order trace_root keeps them. */
static const char *const request_keys[] = {"method", "url", "user_agent", "client_ip"};
#define REQUEST_FIELDS (sizeof request_keys / sizeof request_keys[0])

struct trace_root {
    pthread_mutex_t lock; /* guards the whole tree */
    int refs;             /* caller's reference + one per open subsegment */
    int ended;            /* trace_end() ran */
    char trace_id[TRACE_ID_LEN + 1];
    char parent_id[TRACE_SEG_ID_LEN + 1]; /* upstream parent, "" when none */
    int sampled;
    char *lineage; /* the caller's Lineage, owned, or NULL (every request held 257 bytes) */
    int64_t real0_us, mono0_us;    /* wall and monotonic clocks at trace_begin */
    char *request[REQUEST_FIELDS]; /* http.request's fields (request_keys), owned, or NULL */
    int status;                    /* http.response.status, 0 when none */
    size_t nsubs, dropped;         /* subsegments begun, and refused over the cap */
    struct trace_ctx seg;          /* the segment itself */
};

struct stored {
    char trace_id[TRACE_ID_LEN + 1];
    char *doc; /* compact JSON of one segment, owned; NULL for an empty slot */
};

/* The process's finished segments and their export: one per process, like the X-Ray daemon a
 * process talks to. */
static struct {
    pthread_mutex_t lock;       /* guards every member */
    struct stored *ring;        /* the last cap finished segments, for the console */
    size_t cap, next, count;    /* ring size, next slot, slots used */
    int fd;                     /* connected UDP socket to the daemon, or -1 */
    unsigned long sent, failed; /* datagrams sent and send failures */
    int off;                    /* capacity 0: nothing is kept */
} seg_store = {PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0, 0, -1, 0, 0, 0};

/* ------------------------------------------------------------------------------------------ */
/* Ids                                                                                        */
/* ------------------------------------------------------------------------------------------ */

/* Segment ids need uniqueness, not secrecy, and a syscall per subsegment would cost more than
 * the rest of it: they come from base's fast per-thread PRNG. */
void trace_seg_id_new(char out[TRACE_SEG_ID_LEN + 1])
{
    uint64_t v;
    do
        v = rand_u64();
    while (v == 0);
    rand_put_hex(out, v, 16);
    out[16] = '\0';
}

void trace_id_new(char out[TRACE_ID_LEN + 1])
{
    uint8_t r[16]; /* the first 12 are the id's 96 random bits */
    if (rand_id_bytes(r) < 0) {
        uint64_t a = rand_u64(), b = rand_u64();
        memcpy(r, &a, 8);
        memcpy(r + 8, &b, 8);
    }
    memcpy(out, "1-", 2);
    rand_put_hex(out + 2, (uint64_t)(clock_now_ms() / 1000) & 0xffffffffu, 8);
    out[10] = '-';
    for (size_t i = 0; i < 12; i++)
        rand_put_hex(out + 11 + 2 * i, r[i], 2);
    out[TRACE_ID_LEN] = '\0';
}

static int all_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i]))
            return 0;
    return 1;
}

int trace_seg_id_valid(const char *s)
{
    return s && strlen(s) == TRACE_SEG_ID_LEN && all_hex(s, TRACE_SEG_ID_LEN);
}

int trace_id_valid(const char *s)
{
    return s && strlen(s) == TRACE_ID_LEN && s[0] == '1' && s[1] == '-' && all_hex(s + 2, 8) &&
           s[10] == '-' && all_hex(s + 11, 24);
}

/* ------------------------------------------------------------------------------------------ */
/* Header                                                                                     */
/* ------------------------------------------------------------------------------------------ */

static void lower(char *s)
{
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

int trace_header_parse(const char *value, struct trace_header *out, struct err *err)
{
    memset(out, 0, sizeof *out);
    out->sampled = -1;
    int seen_root = 0, seen_parent = 0, seen_sampled = 0, seen_lineage = 0;
    if (!value)
        return err_set(err, "InvalidTraceHeader", "trace header is missing");
    size_t total = strnlen(value, TRACE_HEADER_MAX + 1);
    if (total > TRACE_HEADER_MAX)
        return err_set(err, "InvalidTraceHeader", "trace header is longer than %d bytes",
                       TRACE_HEADER_MAX);
    const char *p = value;
    while (*p) {
        const char *end = strchr(p, ';');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        const char *f = p;
        p = end ? end + 1 : p + n;
        while (n && (*f == ' ' || *f == '\t')) {
            f++;
            n--;
        }
        while (n && (f[n - 1] == ' ' || f[n - 1] == '\t'))
            n--;
        if (n == 0)
            continue;
        const char *eq = memchr(f, '=', n);
        if (!eq)
            goto bad_field;
        size_t kl = (size_t)(eq - f);
        while (kl && (f[kl - 1] == ' ' || f[kl - 1] == '\t'))
            kl--;
        const char *v = eq + 1;
        size_t vl = n - (size_t)(v - f);
        while (vl && (*v == ' ' || *v == '\t')) {
            v++;
            vl--;
        }
        if (kl == 4 && !strncasecmp(f, "Root", 4)) {
            if (seen_root++)
                goto repeated;
            if (vl != TRACE_ID_LEN)
                goto bad_root;
            memcpy(out->root, v, vl);
            out->root[vl] = 0;
            if (!trace_id_valid(out->root))
                goto bad_root;
            lower(out->root);
        } else if (kl == 6 && !strncasecmp(f, "Parent", 6)) {
            if (seen_parent++)
                goto repeated;
            if (vl != TRACE_SEG_ID_LEN || !all_hex(v, vl)) {
                err_set(err, "InvalidTraceHeader", "Parent must be 16 hex digits, got '%.*s'",
                        (int)(vl > 40 ? 40 : vl), v);
                goto fail;
            }
            memcpy(out->parent, v, vl);
            out->parent[vl] = 0;
            lower(out->parent);
        } else if (kl == 7 && !strncasecmp(f, "Sampled", 7)) {
            if (seen_sampled++)
                goto repeated;
            if (vl == 1 && (*v == '0' || *v == '1'))
                out->sampled = *v - '0';
            else if (vl == 1 && *v == '?')
                out->sampled = -1;
            else {
                err_set(err, "InvalidTraceHeader", "Sampled must be 0, 1 or ?, got '%.*s'",
                        (int)(vl > 40 ? 40 : vl), v);
                goto fail;
            }
        } else if (kl == 7 && !strncasecmp(f, "Lineage", 7)) {
            if (seen_lineage++)
                goto repeated;
            if (vl > TRACE_LINEAGE_MAX || vl == 0 || memchr(v, ';', vl)) {
                err_set(err, "InvalidTraceHeader", "Lineage is empty or too long");
                goto fail;
            }
            for (size_t i = 0; i < vl; i++)
                if ((unsigned char)v[i] < 0x21 || (unsigned char)v[i] > 0x7e) {
                    err_set(err, "InvalidTraceHeader", "Lineage has a non-printable character");
                    goto fail;
                }
            memcpy(out->lineage, v, vl);
            out->lineage[vl] = 0;
        }
        /* Other fields (Self, vendor extensions) are ignored. */
        continue;
    bad_field:
        err_set(err, "InvalidTraceHeader", "trace header field '%.*s' has no '='",
                (int)(n > 40 ? 40 : n), f);
        goto fail;
    bad_root:
        err_set(err, "InvalidTraceHeader",
                "Root must look like 1-5759e988-bd862e3fe1be46a994272793, got '%.*s'",
                (int)(vl > 60 ? 60 : vl), v);
        goto fail;
    repeated:
        err_set(err, "InvalidTraceHeader", "trace header repeats the field '%.*s'", (int)kl, f);
        goto fail;
    }
    if (!seen_root) {
        err_set(err, "InvalidTraceHeader", "trace header has no Root field");
        goto fail;
    }
    return 0;
fail:
    memset(out, 0, sizeof *out);
    out->sampled = -1;
    return -1;
}

/* ------------------------------------------------------------------------------------------ */
/* Strings                                                                                    */
/* ------------------------------------------------------------------------------------------ */

/* Copies s cut to max bytes on a character boundary, with invalid UTF-8 bytes turned to '?'. */
static char *clean_copy(const char *s, size_t max)
{
    size_t n = strnlen(s, max + 4);
    char *out = xmalloc(n + 1);
    memcpy(out, s, n);
    out[n] = 0;
    long bad;
    while ((bad = utf8_invalid_at(out, n)) >= 0)
        out[bad] = '?';
    if (n > max) {
        n = max;
        while (n > 0 && ((unsigned char)out[n] & 0xC0) == 0x80)
            n--;
        out[n] = 0;
    }
    return out;
}

/* X-Ray names: letters, digits, whitespace and _ . : / % & # = + \ - @ (non-ASCII letters
 * are kept as UTF-8). Anything else becomes '_'. */
static char *clean_name(const char *name)
{
    char *s = clean_copy(name && *name ? name : "unnamed", TRACE_NAME_MAX);
    for (char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c >= 0x80 || isalnum(c) || c == ' ' || strchr("_.:/%&#=+\\-@", c))
            continue;
        *p = '_';
    }
    return s;
}

/* ------------------------------------------------------------------------------------------ */
/* Segments                                                                                   */
/* ------------------------------------------------------------------------------------------ */

static int64_t now_us(const struct trace_root *r)
{
    return r->real0_us + (clock_mono_us() - r->mono0_us);
}

static void ctx_init(struct trace_ctx *c, struct trace_root *r, const char *name, const char *ns)
{
    c->root = r;
    trace_seg_id_new(c->id);
    c->name = clean_name(name);
    c->ns = ns && *ns ? clean_name(ns) : NULL;
    c->start_us = now_us(r);
}

static void ctx_release(struct trace_ctx *c)
{
    for (size_t i = 0; i < c->nkids; i++) {
        ctx_release(c->kids[i]);
        free(c->kids[i]);
    }
    free(c->kids);
    free(c->name);
    free(c->ns);
    free(c->cause_type);
    free(c->cause_msg);
    json_decref(c->annotations);
}

static void root_free(struct trace_root *r)
{
    ctx_release(&r->seg);
    for (size_t i = 0; i < REQUEST_FIELDS; i++)
        free(r->request[i]);
    free(r->lineage);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

struct trace_ctx *trace_begin(const char *name, const char *header, struct err *err)
{
    struct trace_root *r = xcalloc(1, sizeof *r);
    pthread_mutex_init(&r->lock, NULL);
    r->refs = 1;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts); /* microseconds, finer than clock_now_ms() */
    r->real0_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    r->mono0_us = clock_mono_us();
    r->sampled = 1;
    struct trace_header h;
    struct err local;
    err_clear(&local);
    if (header && *header && trace_header_parse(header, &h, &local) == 0) {
        memcpy(r->trace_id, h.root, sizeof r->trace_id);
        memcpy(r->parent_id, h.parent, sizeof r->parent_id);
        r->lineage = h.lineage[0] ? xstrdup(h.lineage) : NULL;
        if (h.sampled >= 0)
            r->sampled = h.sampled;
    } else {
        if (header && *header) {
            log_at(LL_DEBUG, "trace", "ignoring trace header: %s; starting a new trace",
                   local.message);
            if (err)
                *err = local;
        }
        trace_id_new(r->trace_id);
    }
    ctx_init(&r->seg, r, name, NULL);
    return &r->seg;
}

struct trace_ctx *trace_sub_begin(struct trace_ctx *parent, const char *name, const char *ns)
{
    if (!parent)
        return NULL;
    struct trace_root *r = parent->root;
    struct trace_ctx *c = NULL;
    pthread_mutex_lock(&r->lock);
    if (r->ended || parent->end_us)
        goto out;
    if (r->nsubs >= TRACE_MAX_SUBSEGMENTS) {
        r->dropped++;
        goto out;
    }
    c = xcalloc(1, sizeof *c);
    ctx_init(c, r, name, ns);
    if (parent->nkids == parent->capkids) {
        parent->capkids = parent->capkids ? parent->capkids * 2 : 4;
        parent->kids = xrealloc(parent->kids, parent->capkids * sizeof *parent->kids);
    }
    parent->kids[parent->nkids++] = c;
    r->nsubs++;
    r->refs++;
    assert(r->nsubs <= TRACE_MAX_SUBSEGMENTS && r->refs > 1); /* the segment holds one too */
out:
    pthread_mutex_unlock(&r->lock);
    return c;
}

/* X-Ray's flags for a failure with this code: a client error is "error", a throttle is "error" and
 * "throttle", anything else is a "fault" (the class comes from base/errcode.h). */
static unsigned flags_for_code(const char *code)
{
    switch (errcode_class_of(code)) {
    case ERRCODE_THROTTLE:
        return F_THROTTLE | F_ERROR;
    case ERRCODE_CLIENT:
        return F_ERROR;
    case ERRCODE_SERVER:
        break;
    }
    return F_FAULT;
}

/* Records e on c; caller holds the lock. */
static void set_error_locked(struct trace_ctx *c, const struct err *e)
{
    if (!e || !err_is_set(e))
        return;
    c->flags |= flags_for_code(e->code);
    free(c->cause_type);
    free(c->cause_msg);
    c->cause_type = clean_copy(e->code, ERR_CODE_MAX);
    c->cause_msg = clean_copy(e->message, ERR_MSG_MAX);
    trace_seg_id_new(c->cause_id);
}

void trace_set_error(struct trace_ctx *c, const struct err *e)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->root->lock);
    set_error_locked(c, e);
    pthread_mutex_unlock(&c->root->lock);
}

void trace_sub_end(struct trace_ctx *sub, const struct err *e)
{
    if (!sub)
        return;
    struct trace_root *r = sub->root;
    if (sub == &r->seg)
        return; /* a segment ends with trace_end(); our bug, but harmless to ignore */
    pthread_mutex_lock(&r->lock);
    if (sub->released) {
        pthread_mutex_unlock(&r->lock);
        return;
    }
    sub->released = 1;
    if (!sub->end_us) { /* else trace_end() closed it already and the document is gone */
        sub->end_us = now_us(r);
        if (sub->end_us < sub->start_us)
            sub->end_us = sub->start_us;
        set_error_locked(sub, e);
    }
    assert(r->refs > 0); /* one reference per open segment and subsegment */
    int last = --r->refs == 0;
    pthread_mutex_unlock(&r->lock);
    if (last)
        root_free(r);
}

void trace_set_request(struct trace_ctx *seg, const char *method, const char *url,
                       const char *user_agent, const char *client_ip)
{
    if (!seg)
        return;
    /* C strings until the segment is written: a JSON object of them was ~600 bytes a request. */
    const char *f[REQUEST_FIELDS] = {method, url, user_agent, client_ip}; /* request_keys' order */
    char *v[REQUEST_FIELDS];
    for (size_t i = 0; i < REQUEST_FIELDS; i++)
        v[i] = f[i] ? clean_copy(f[i], TRACE_FIELD_MAX) : NULL;
    pthread_mutex_lock(&seg->root->lock);
    for (size_t i = 0; i < REQUEST_FIELDS; i++) {
        free(seg->root->request[i]);
        seg->root->request[i] = v[i];
    }
    pthread_mutex_unlock(&seg->root->lock);
}

void trace_annotate(struct trace_ctx *c, const char *key, const char *value)
{
    if (!c || !key || !*key || !value)
        return;
    char k[64];
    size_t n = 0;
    for (; key[n] && n + 1 < sizeof k; n++) {
        unsigned char ch = (unsigned char)key[n];
        k[n] = isalnum(ch) ? (char)ch : '_';
    }
    k[n] = 0;
    char *v = clean_copy(value, TRACE_VALUE_MAX);
    pthread_mutex_lock(&c->root->lock);
    if (!c->annotations)
        c->annotations = json_object();
    if (json_object_size(c->annotations) < TRACE_MAX_ANNOTATIONS ||
        json_object_get(c->annotations, k))
        json_object_set_new(c->annotations, k, json_string(v));
    pthread_mutex_unlock(&c->root->lock);
    free(v);
}

/* ------------------------------------------------------------------------------------------ */
/* Documents                                                                                  */
/* ------------------------------------------------------------------------------------------ */

static json_t *seconds(int64_t us)
{
    return json_real((double)us / 1e6);
}

/* Builds the JSON of c and its subsegments; caller holds the lock. */
static json_t *ctx_json(const struct trace_ctx *c, int with_subs)
{
    const struct trace_root *r = c->root;
    int is_seg = c == &r->seg;
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(c->name));
    json_object_set_new(o, "id", json_string(c->id));
    if (is_seg) {
        json_object_set_new(o, "trace_id", json_string(r->trace_id));
        if (r->parent_id[0])
            json_object_set_new(o, "parent_id", json_string(r->parent_id));
    }
    json_object_set_new(o, "start_time", seconds(c->start_us));
    if (c->end_us)
        json_object_set_new(o, "end_time", seconds(c->end_us));
    else
        json_object_set_new(o, "in_progress", json_true());
    if (c->ns)
        json_object_set_new(o, "namespace", json_string(c->ns));
    int has_request = 0;
    for (size_t i = 0; i < REQUEST_FIELDS; i++)
        has_request |= r->request[i] != NULL;
    if (is_seg && (has_request || r->status)) {
        json_t *http = json_object();
        if (has_request) {
            json_t *req = json_object();
            for (size_t i = 0; i < REQUEST_FIELDS; i++)
                if (r->request[i])
                    json_object_set_new(req, request_keys[i], json_string(r->request[i]));
            json_object_set_new(http, "request", req);
        }
        if (r->status)
            json_object_set_new(http, "response", json_pack("{s:i}", "status", r->status));
        json_object_set_new(o, "http", http);
    }
    if (c->flags & F_ERROR)
        json_object_set_new(o, "error", json_true());
    if (c->flags & F_THROTTLE)
        json_object_set_new(o, "throttle", json_true());
    if (c->flags & F_FAULT)
        json_object_set_new(o, "fault", json_true());
    if (c->cause_type)
        json_object_set_new(o, "cause",
                            json_pack("{s:[{s:s,s:s,s:s}]}", "exceptions", "id", c->cause_id,
                                      "message", c->cause_msg, "type", c->cause_type));
    if (c->annotations)
        json_object_set(o, "annotations", c->annotations);
    if (is_seg && (r->dropped || !with_subs)) {
        json_t *md = json_object();
        if (r->dropped)
            json_object_set_new(md, "dropped_subsegments", json_integer((json_int_t)r->dropped));
        if (!with_subs)
            json_object_set_new(md, "subsegments_omitted", json_true());
        json_object_set_new(o, "metadata", json_pack("{s:o}", "parley", md));
    }
    if (with_subs && c->nkids) {
        json_t *subs = json_array();
        for (size_t i = 0; i < c->nkids; i++)
            json_array_append_new(subs, ctx_json(c->kids[i], 1));
        json_object_set_new(o, "subsegments", subs);
    }
    return o;
}

json_t *trace_to_json(const struct trace_ctx *c)
{
    if (!c)
        return NULL;
    struct trace_root *r = c->root;
    pthread_mutex_lock(&r->lock);
    json_t *o = ctx_json(&r->seg, 1);
    pthread_mutex_unlock(&r->lock);
    return o;
}

const char *trace_id_of(const struct trace_ctx *c)
{
    return c ? c->root->trace_id : "";
}

const char *trace_ctx_id(const struct trace_ctx *c)
{
    return c ? c->id : "";
}

int trace_sampled(const struct trace_ctx *c)
{
    return c ? c->root->sampled : 0;
}

size_t trace_header_format(const struct trace_ctx *c, int parent, char *buf, size_t len)
{
    if (!buf || len == 0)
        return 0;
    buf[0] = 0;
    if (!c)
        return 0;
    const struct trace_root *r = c->root;
    int n;
    if (parent)
        n = snprintf(buf, len, "Root=%s;Parent=%s;Sampled=%d%s%s", r->trace_id, c->id, r->sampled,
                     r->lineage ? ";Lineage=" : "", r->lineage ? r->lineage : "");
    else
        n = snprintf(buf, len, "Root=%s;Sampled=%d", r->trace_id, r->sampled);
    if (n < 0 || (size_t)n >= len) {
        buf[0] = 0;
        return 0;
    }
    return (size_t)n;
}

/* ------------------------------------------------------------------------------------------ */
/* Store and export                                                                           */
/* ------------------------------------------------------------------------------------------ */

static void store_put_locked(const char *trace_id, char *doc)
{
    if (seg_store.off) {
        free(doc);
        return;
    }
    if (!seg_store.ring) {
        seg_store.cap = TRACE_STORE_DEFAULT;
        seg_store.ring = xcalloc(seg_store.cap, sizeof *seg_store.ring);
    }
    assert(seg_store.next < seg_store.cap && seg_store.count <= seg_store.cap);
    struct stored *s = &seg_store.ring[seg_store.next];
    if (s->doc)
        free(s->doc);
    else
        seg_store.count++;
    memcpy(s->trace_id, trace_id, sizeof s->trace_id);
    s->doc = doc;
    seg_store.next = (seg_store.next + 1) % seg_store.cap;
}

static void export_locked(const char *doc, size_t len)
{
    static const char head[] = "{\"format\": \"json\", \"version\": 1}\n";
    if (seg_store.fd < 0)
        return;
    size_t hl = sizeof head - 1;
    char *msg = xmalloc(hl + len);
    memcpy(msg, head, hl);
    memcpy(msg + hl, doc, len);
    ssize_t n = send(seg_store.fd, msg, hl + len, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n == (ssize_t)(hl + len)) {
        seg_store.sent++;
    } else {
        seg_store.failed++;
        log_at(LL_DEBUG, "trace", "cannot send segment to the X-Ray daemon: %s",
               n < 0 ? strerror(errno) : "short write");
    }
    free(msg);
}

void trace_end(struct trace_ctx *seg, int http_status)
{
    if (!seg)
        return;
    struct trace_root *r = seg->root;
    assert(seg == &r->seg); /* subsegments end with trace_sub_end() */
    pthread_mutex_lock(&r->lock);
    if (r->ended) {
        pthread_mutex_unlock(&r->lock);
        return;
    }
    r->ended = 1;
    int64_t end = now_us(r);
    seg->end_us = end > seg->start_us ? end : seg->start_us;
    if (http_status > 0) {
        r->status = http_status;
        if (http_status == 429)
            seg->flags |= F_THROTTLE | F_ERROR;
        else if (http_status >= 400 && http_status < 500)
            seg->flags |= F_ERROR;
        else if (http_status >= 500)
            seg->flags |= F_FAULT;
    }
    /* Close what is still open at the segment's end, innermost last-started first does not
     * matter: each gets the same end time. Their references stay until they end. */
    struct trace_ctx *stack[TRACE_MAX_SUBSEGMENTS + 1];
    size_t sp = 0;
    stack[sp++] = seg;
    while (sp) {
        struct trace_ctx *c = stack[--sp];
        for (size_t i = 0; i < c->nkids; i++) {
            if (!c->kids[i]->end_us)
                c->kids[i]->end_us = seg->end_us;
            assert(sp < sizeof stack / sizeof stack[0]); /* nsubs <= TRACE_MAX_SUBSEGMENTS */
            stack[sp++] = c->kids[i];
        }
    }
    pthread_mutex_lock(&seg_store.lock);
    int wanted = !seg_store.off || (r->sampled && seg_store.fd >= 0);
    pthread_mutex_unlock(&seg_store.lock);
    json_t *full = wanted ? ctx_json(seg, 1) : NULL;
    char *doc = full ? jsontext_dump(full) : NULL;
    json_decref(full);
    if (wanted && (!doc || strlen(doc) > TRACE_UDP_MAX)) {
        free(doc);
        json_t *small = ctx_json(seg, 0);
        doc = jsontext_dump(small);
        json_decref(small);
    }
    char trace_id[TRACE_ID_LEN + 1];
    memcpy(trace_id, r->trace_id, sizeof trace_id);
    int sampled = r->sampled;
    assert(r->refs > 0);
    int last = --r->refs == 0;
    pthread_mutex_unlock(&r->lock);

    if (doc) {
        pthread_mutex_lock(&seg_store.lock);
        if (sampled)
            export_locked(doc, strlen(doc));
        store_put_locked(trace_id, doc);
        pthread_mutex_unlock(&seg_store.lock);
    }
    if (last)
        root_free(r);
}

json_t *trace_store_get(const char *trace_id)
{
    if (!trace_id_valid(trace_id))
        return NULL;
    char want[TRACE_ID_LEN + 1];
    memcpy(want, trace_id, sizeof want);
    lower(want);
    json_t *segs = json_array();
    pthread_mutex_lock(&seg_store.lock);
    for (size_t k = 0; k < seg_store.cap; k++) {
        /* Oldest first: start at the slot written next. */
        struct stored *s = &seg_store.ring[(seg_store.next + k) % seg_store.cap];
        if (!s->doc || strcmp(s->trace_id, want) != 0)
            continue;
        json_t *doc = json_loads(s->doc, 0, NULL);
        if (doc)
            json_array_append_new(segs, doc);
    }
    pthread_mutex_unlock(&seg_store.lock);
    if (json_array_size(segs) == 0) {
        json_decref(segs);
        return NULL;
    }
    return json_pack("{s:s,s:o}", "trace_id", want, "segments", segs);
}

size_t trace_store_count(void)
{
    pthread_mutex_lock(&seg_store.lock);
    size_t n = seg_store.count;
    pthread_mutex_unlock(&seg_store.lock);
    return n;
}

void trace_store_set_capacity(size_t n)
{
    if (n > TRACE_STORE_MAX)
        n = TRACE_STORE_MAX;
    pthread_mutex_lock(&seg_store.lock);
    seg_store.off = n == 0;
    if (n == 0) { /* drop what is kept; a later capacity starts afresh */
        for (size_t k = 0; k < seg_store.cap; k++)
            free(seg_store.ring[k].doc);
        free(seg_store.ring);
        seg_store.ring = NULL;
        seg_store.cap = seg_store.count = seg_store.next = 0;
        pthread_mutex_unlock(&seg_store.lock);
        return;
    }
    pthread_mutex_unlock(&seg_store.lock);
    struct stored *ring = xcalloc(n, sizeof *ring);
    pthread_mutex_lock(&seg_store.lock);
    /* Walk the old ring oldest first, free the oldest beyond n, copy the rest in order. */
    size_t keep = seg_store.count < n ? seg_store.count : n, drop = seg_store.count - keep, j = 0;
    for (size_t k = 0; k < seg_store.cap; k++) {
        struct stored *s = &seg_store.ring[(seg_store.next + k) % seg_store.cap];
        if (!s->doc)
            continue;
        if (drop) {
            free(s->doc);
            drop--;
            continue;
        }
        ring[j++] = *s;
    }
    free(seg_store.ring);
    seg_store.ring = ring;
    seg_store.cap = n;
    seg_store.count = keep;
    seg_store.next = keep % n;
    pthread_mutex_unlock(&seg_store.lock);
}

/* Splits "udp:h:p tcp:h:p" or "h:p" into host and port for UDP. */
static int parse_daemon_addr(const char *addr, char *host, size_t hl, char *port, size_t pl)
{
    const char *a = addr;
    const char *udp = strstr(addr, "udp:");
    if (udp)
        a = udp + 4;
    else if (strstr(addr, "tcp:") == addr) {
        /* "tcp:h:p" alone: the UDP daemon listens on the same address. */
        a = addr + 4;
    }
    size_t n = strcspn(a, " \t");
    char tmp[300];
    if (n == 0 || n >= sizeof tmp)
        return -1;
    memcpy(tmp, a, n);
    tmp[n] = 0;
    char *colon = strrchr(tmp, ':');
    if (!colon || colon == tmp || !colon[1])
        return -1;
    *colon = 0;
    const char *h = tmp;
    size_t hlen = strlen(h);
    if (h[0] == '[' && hlen > 2 && h[hlen - 1] == ']') {
        tmp[hlen - 1] = 0;
        h = tmp + 1;
    }
    for (const char *q = colon + 1; *q; q++)
        if (*q < '0' || *q > '9')
            return -1;
    long p = strtol(colon + 1, NULL, 10);
    if (p < 1 || p > 65535 || strlen(h) >= hl || strlen(colon + 1) >= pl)
        return -1;
    memcpy(host, h, strlen(h) + 1);
    memcpy(port, colon + 1, strlen(colon + 1) + 1);
    return 0;
}

int trace_export_configure(const char *addr, struct err *err)
{
    int rc = -1, fd = -1;
    struct addrinfo *res = NULL;
    pthread_mutex_lock(&seg_store.lock);
    if (seg_store.fd >= 0)
        close(seg_store.fd);
    seg_store.fd = -1;
    pthread_mutex_unlock(&seg_store.lock);
    if (!addr || !*addr)
        return 0;
    char host[256], port[8];
    if (parse_daemon_addr(addr, host, sizeof host, port, sizeof port) < 0) {
        err_set(err, "InvalidConfig",
                "X-Ray daemon address '%.100s' is not host:port or udp:host:port", addr);
        goto out;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_DGRAM,
                             .ai_flags = AI_NUMERICSERV};
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai != 0) {
        err_set(err, "InvalidConfig", "cannot resolve X-Ray daemon host '%s': %s", host,
                gai_strerror(gai));
        goto out;
    }
    fd = socket(res->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) < 0) {
        err_set(err, "InvalidConfig", "cannot open a UDP socket to '%s:%s': %s", host, port,
                strerror(errno));
        goto out;
    }
    pthread_mutex_lock(&seg_store.lock);
    seg_store.fd = fd;
    fd = -1;
    pthread_mutex_unlock(&seg_store.lock);
    log_at(LL_INFO, "trace", "sending segments to the X-Ray daemon at %s:%s", host, port);
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    if (res)
        freeaddrinfo(res);
    return rc;
}

int trace_init_from_config(const struct config *c, struct err *err)
{
    const char *a = c->xray_daemon[0] ? c->xray_daemon : c->aws_xray_daemon;
    return trace_export_configure(a, err);
}

int trace_init_from_env(struct err *err)
{
    struct config c;
    int rc = config_load(&c, err) == 0 ? trace_init_from_config(&c, err) : -1;
    config_release(&c);
    return rc;
}

void trace_export_stats(unsigned long *sent, unsigned long *failed)
{
    pthread_mutex_lock(&seg_store.lock);
    if (sent)
        *sent = seg_store.sent;
    if (failed)
        *failed = seg_store.failed;
    pthread_mutex_unlock(&seg_store.lock);
}

void trace_shutdown(void)
{
    pthread_mutex_lock(&seg_store.lock);
    if (seg_store.fd >= 0)
        close(seg_store.fd);
    seg_store.fd = -1;
    for (size_t i = 0; i < seg_store.cap; i++)
        free(seg_store.ring[i].doc);
    free(seg_store.ring);
    seg_store.ring = NULL;
    seg_store.cap = seg_store.next = seg_store.count = 0;
    seg_store.sent = seg_store.failed = 0;
    seg_store.off = 0;
    pthread_mutex_unlock(&seg_store.lock);
}
