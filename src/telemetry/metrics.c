/* metrics.c - lock-free recording registry, Prometheus text and CloudWatch EMF output; see
 * metrics.h. */
#include "telemetry/metrics.h"

#include <assert.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/hash.h"
#include "base/jsontext.h"
#include "base/log.h"
#include "base/utf8.h"
#include "base/xmalloc.h"

#define TABLE_SIZE (2 * METRICS_MAX_SERIES) /* open addressing, load factor <= 1/2 */
#define NAME_MAX_LEN 200
#define HELP_MAX_LEN 1024

/* ------------------------------------------------------------------------------------------ */
/* Types                                                                                      */
/* ------------------------------------------------------------------------------------------ */

struct metric_series {
    struct metric *m;                 /* owning metric */
    uint64_t hash;                    /* hash of the label values */
    char *values[METRICS_MAX_LABELS]; /* normalized label values, owned */
    size_t stride;                    /* words per shard, a whole number of cache lines */
    _Atomic uint64_t *cells;          /* METRICS_STRIPES shards, 64-byte aligned, owned */
};

/* A series keeps METRICS_STRIPES shards on separate cache lines; each thread adds into its own
 * shard, so threads recording the same series do not bounce one line between cores. Shard
 * words: [0] counter value, [1] gauge value or histogram sum (double bits), [2..] histogram
 * per-bucket counts (not cumulative; the last is +Inf). Readers add the shards up; a gauge
 * lives in shard 0 only, since "set" cannot be split. */
#define METRICS_STRIPES 4
#define CELL_COUNT 0
#define CELL_BITS 1
#define CELL_BUCKETS 2

struct metric {
    struct metric *next; /* registry list, in definition order */
    enum metric_type type;
    char *name; /* owned */
    char *help; /* owned */
    size_t nlabels;
    char *labels[METRICS_MAX_LABELS]; /* owned label names */
    size_t nbounds;
    double bounds[METRICS_MAX_BUCKETS];                 /* finite histogram bounds */
    pthread_mutex_t lock;                               /* serializes series creation */
    _Atomic(struct metric_series *) table[TABLE_SIZE];  /* lookup; published with release */
    struct metric_series *list[METRICS_MAX_SERIES + 1]; /* creation order, +1 for overflow */
    _Atomic size_t nseries;                             /* entries of list published */
    struct metric_series *overflow;                     /* the "_overflow" series, under lock */
};

struct window_slot {
    _Atomic int64_t sec;     /* epoch second this slot counts, or 0 */
    _Atomic uint32_t turns;  /* turns noted in that second */
    _Atomic uint32_t errors; /* errors noted in that second */
};

struct metrics_std {
    struct metric *turns, *turn_dur, *model_lat, *tool_dur, *actions, *errors, *tokens, *conv_dur,
        *queue, *dlq, *http, *error_rate, *budget_today, *budget_refusals;
};

struct metrics_reg {
    pthread_mutex_t lock;       /* guards the metric list and window resets */
    struct metric *head, *tail; /* metrics in definition order */
    struct metrics_std std;     /* Parley's metrics (default registry only) */
    struct window_slot window[METRICS_ERROR_WINDOW_SEC];
};

const double metrics_latency_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                         1,     2.5,  5,     10,   30,  60};
const size_t metrics_latency_nbounds = sizeof metrics_latency_bounds / sizeof(double);

/* Conversations last minutes, not milliseconds. */
static const double conversation_bounds[] = {1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600};

static _Atomic(struct metrics_reg *) default_reg;
static pthread_mutex_t default_lock = PTHREAD_MUTEX_INITIALIZER;

/* ------------------------------------------------------------------------------------------ */
/* Small helpers                                                                              */
/* ------------------------------------------------------------------------------------------ */

static double bits_to_double(uint64_t b)
{
    double d;
    memcpy(&d, &b, sizeof d);
    return d;
}

static uint64_t double_to_bits(double d)
{
    uint64_t b;
    memcpy(&b, &d, sizeof b);
    return b;
}

static void atomic_add_double(_Atomic uint64_t *p, double d)
{
    uint64_t old = atomic_load_explicit(p, memory_order_relaxed);
    uint64_t nw;
    do {
        nw = double_to_bits(bits_to_double(old) + d);
    } while (!atomic_compare_exchange_weak_explicit(p, &old, nw, memory_order_relaxed,
                                                    memory_order_relaxed));
}

static _Atomic unsigned next_stripe;
static _Thread_local unsigned my_stripe = UINT32_MAX;

/* The shard this thread records into, assigned round-robin on its first record. */
static _Atomic uint64_t *my_shard(const struct metric_series *s)
{
    if (my_stripe == UINT32_MAX)
        my_stripe = atomic_fetch_add_explicit(&next_stripe, 1, memory_order_relaxed) %
                    METRICS_STRIPES;
    return s->cells + my_stripe * s->stride;
}

/* Sum of word w over all shards. */
static uint64_t cell_sum(const struct metric_series *s, size_t w)
{
    uint64_t t = 0;
    for (size_t k = 0; k < METRICS_STRIPES; k++)
        t += atomic_load_explicit(&s->cells[k * s->stride + w], memory_order_relaxed);
    return t;
}

static double bits_sum(const struct metric_series *s)
{
    double t = 0;
    for (size_t k = 0; k < METRICS_STRIPES; k++)
        t += bits_to_double(
            atomic_load_explicit(&s->cells[k * s->stride + CELL_BITS], memory_order_relaxed));
    return t;
}

static int valid_name(const char *s, int allow_colon)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > NAME_MAX_LEN)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                 (allow_colon && c == ':') || (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return 0;
    }
    return 1;
}

/* Label values are normalized so that every stored value is valid UTF-8 of bounded size. */
static const char *normalize_value(const char *v)
{
    if (!v || !*v)
        return "_invalid";
    size_t n = strnlen(v, METRICS_LABEL_VALUE_MAX + 1);
    if (n > METRICS_LABEL_VALUE_MAX || utf8_invalid_at(v, n) >= 0)
        return "_invalid";
    return v;
}

static uint64_t hash_values(const char *const *vals, size_t n)
{
    uint64_t h = HASH_STR_BASIS; /* FNV-1a over the values, a separator after each */
    for (size_t i = 0; i < n; i++) {
        for (const unsigned char *p = (const unsigned char *)vals[i]; *p; p++) {
            h ^= *p;
            h *= HASH_FNV_PRIME;
        }
        h ^= 0xff; /* separator: ("ab","c") differs from ("a","bc") */
        h *= HASH_FNV_PRIME;
    }
    return h;
}

static int series_matches(const struct metric_series *s, uint64_t h, const char *const *vals,
                          size_t n)
{
    if (s->hash != h)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(s->values[i], vals[i]) != 0)
            return 0;
    return 1;
}

/* ------------------------------------------------------------------------------------------ */
/* Rendering helpers                                                                          */
/* ------------------------------------------------------------------------------------------ */

/* The most bytes one Prometheus rendering may reach: METRICS_MAX_SERIES series of a few hundred
 * bytes for each of a few hundred metrics stays far below it. */
#define METRICS_RENDER_MAX (64u * 1024 * 1024)

/* Writes v as the shortest decimal that reads back as the same double. */
static void fmt_double(char *buf, size_t n, double v)
{
    if (isnan(v)) {
        snprintf(buf, n, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, n, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    /* The fewest significant digits that read back exactly, but never fewer than the integer
     * digits, so that 60 prints as "60" and not "6e+01". */
    int prec = 1;
    while (prec < 17) {
        snprintf(buf, n, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
        prec++;
    }
    double mag = fabs(v);
    if (mag >= 1) {
        int digits = (int)floor(log10(mag)) + 1;
        if (digits > prec)
            prec = digits > 17 ? 17 : digits;
    }
    snprintf(buf, n, "%.*g", prec, v);
}

/* ------------------------------------------------------------------------------------------ */
/* Registry and definitions                                                                   */
/* ------------------------------------------------------------------------------------------ */

struct metrics_reg *metrics_reg_new(void)
{
    struct metrics_reg *reg = xcalloc(1, sizeof *reg);
    pthread_mutex_init(&reg->lock, NULL);
    return reg;
}

static void series_free(struct metric_series *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < METRICS_MAX_LABELS; i++)
        free(s->values[i]);
    free((void *)s->cells);
    free(s);
}

static void metric_free(struct metric *m)
{
    size_t n = atomic_load(&m->nseries);
    for (size_t i = 0; i < n; i++)
        series_free(m->list[i]);
    for (size_t i = 0; i < m->nlabels; i++)
        free(m->labels[i]);
    free(m->name);
    free(m->help);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

void metrics_reg_free(struct metrics_reg *reg)
{
    if (!reg)
        return;
    struct metric *m = reg->head;
    while (m) {
        struct metric *next = m->next;
        metric_free(m);
        m = next;
    }
    pthread_mutex_destroy(&reg->lock);
    free(reg);
}

static struct metric *find_locked(struct metrics_reg *reg, const char *name)
{
    for (struct metric *m = reg->head; m; m = m->next)
        if (strcmp(m->name, name) == 0)
            return m;
    return NULL;
}

struct metric *metrics_find(struct metrics_reg *reg, const char *name)
{
    if (!reg || !name)
        return NULL;
    pthread_mutex_lock(&reg->lock);
    struct metric *m = find_locked(reg, name);
    pthread_mutex_unlock(&reg->lock);
    return m;
}

/* Splits "a,b" into m->labels, validating each name. */
static int parse_labels(struct metric *m, const char *labels, struct err *err)
{
    if (!labels || !*labels)
        return 0;
    const char *p = labels;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (m->nlabels == METRICS_MAX_LABELS)
            return err_set(err, "InvalidMetric", "metric '%s' has more than %d labels", m->name,
                           METRICS_MAX_LABELS);
        char *name = xstrndup(p, n);
        m->labels[m->nlabels++] = name;
        if (!valid_name(name, 0) || strncmp(name, "__", 2) == 0 || strcmp(name, "le") == 0)
            return err_set(err, "InvalidMetric", "metric '%s' has an invalid label name '%s'",
                           m->name, name);
        for (size_t i = 0; i + 1 < m->nlabels; i++)
            if (strcmp(m->labels[i], name) == 0)
                return err_set(err, "InvalidMetric", "metric '%s' repeats label '%s'", m->name,
                               name);
        if (!comma)
            return 0;
        p = comma + 1;
    }
}

static struct metric_series *series_new(struct metric *m, uint64_t h, const char *const *vals)
{
    struct metric_series *s = xcalloc(1, sizeof *s);
    s->m = m;
    s->hash = h;
    for (size_t i = 0; i < m->nlabels; i++)
        s->values[i] = xstrdup(vals[i]);
    size_t words = CELL_BUCKETS + (m->type == METRIC_HISTOGRAM ? m->nbounds + 1 : 0);
    s->stride = (words + 7) / 8 * 8;
    size_t bytes = METRICS_STRIPES * s->stride * sizeof(uint64_t);
    void *cells = aligned_alloc(64, bytes);
    if (!cells) { /* our OOM policy (xmalloc.h): one log line, then abort */
        log_at(LL_ERROR, "metrics", "out of memory allocating %zu bytes", bytes);
        abort();
    }
    memset(cells, 0, bytes);
    s->cells = cells;
    return s;
}

struct metric *metrics_define(struct metrics_reg *reg, enum metric_type type, const char *name,
                              const char *help, const char *labels, const double *bounds,
                              size_t nbounds, struct err *err)
{
    struct metric *m = NULL;
    if (!reg || !valid_name(name, 1)) {
        err_set(err, "InvalidMetric", "invalid metric name '%s'", name ? name : "(null)");
        return NULL;
    }
    if (help && strlen(help) > HELP_MAX_LEN) {
        err_set(err, "InvalidMetric", "help of metric '%s' is longer than %d bytes", name,
                HELP_MAX_LEN);
        return NULL;
    }
    m = xcalloc(1, sizeof *m);
    m->type = type;
    m->name = xstrdup(name);
    m->help = xstrdup(help ? help : "");
    pthread_mutex_init(&m->lock, NULL);
    if (parse_labels(m, labels, err) < 0)
        goto fail;
    if (type == METRIC_HISTOGRAM) {
        if (!bounds || nbounds == 0 || nbounds > METRICS_MAX_BUCKETS) {
            err_set(err, "InvalidMetric", "histogram '%s' needs 1..%d bucket bounds", name,
                    METRICS_MAX_BUCKETS);
            goto fail;
        }
        for (size_t i = 0; i < nbounds; i++) {
            if (!isfinite(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1]))) {
                err_set(err, "InvalidMetric",
                        "histogram '%s' bounds must be finite and strictly increasing", name);
                goto fail;
            }
            m->bounds[i] = bounds[i];
        }
        m->nbounds = nbounds;
    } else if (bounds || nbounds) {
        err_set(err, "InvalidMetric", "metric '%s' is not a histogram but has bounds", name);
        goto fail;
    }
    if (m->nlabels == 0) {
        /* The single series exists from the start so an idle metric still renders a value. */
        struct metric_series *s = series_new(m, hash_values(NULL, 0), NULL);
        m->list[0] = s;
        atomic_store(&m->table[s->hash % TABLE_SIZE], s);
        atomic_store(&m->nseries, 1);
    }
    pthread_mutex_lock(&reg->lock);
    if (find_locked(reg, name)) {
        pthread_mutex_unlock(&reg->lock);
        err_set(err, "InvalidMetric", "metric '%s' is already defined", name);
        goto fail;
    }
    if (reg->tail)
        reg->tail->next = m;
    else
        reg->head = m;
    reg->tail = m;
    pthread_mutex_unlock(&reg->lock);
    return m;
fail:
    metric_free(m);
    return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Recording                                                                                  */
/* ------------------------------------------------------------------------------------------ */

static struct metric_series *lookup(struct metric *m, uint64_t h, const char *const *vals)
{
    size_t i = h % TABLE_SIZE;
    for (size_t probes = 0; probes < TABLE_SIZE; probes++) {
        struct metric_series *s = atomic_load_explicit(&m->table[i], memory_order_acquire);
        if (!s)
            return NULL;
        if (series_matches(s, h, vals, m->nlabels))
            return s;
        i = (i + 1) % TABLE_SIZE;
    }
    return NULL;
}

/* Publishes s in the lookup table; the table has room for every series plus the overflow one
 * at a load factor of about 1/2, so a free slot always exists. Call with m->lock held. */
static void insert_table(struct metric *m, struct metric_series *s)
{
    size_t i = s->hash % TABLE_SIZE;
    while (atomic_load_explicit(&m->table[i], memory_order_relaxed))
        i = (i + 1) % TABLE_SIZE;
    atomic_store_explicit(&m->table[i], s, memory_order_release);
}

static struct metric_series *create_series(struct metric *m, uint64_t h, const char *const *vals)
{
    pthread_mutex_lock(&m->lock);
    struct metric_series *s = lookup(m, h, vals);
    if (s)
        goto out;
    size_t n = atomic_load_explicit(&m->nseries, memory_order_relaxed);
    if (n >= METRICS_MAX_SERIES) {
        if (!m->overflow) {
            const char *ov[METRICS_MAX_LABELS];
            for (size_t i = 0; i < m->nlabels; i++)
                ov[i] = "_overflow";
            m->overflow = series_new(m, hash_values(ov, m->nlabels), ov);
            m->list[n] = m->overflow;
            insert_table(m, m->overflow);
            atomic_store_explicit(&m->nseries, n + 1, memory_order_release);
        }
        s = m->overflow;
        goto out;
    }
    s = series_new(m, h, vals);
    m->list[n] = s;
    insert_table(m, s);
    atomic_store_explicit(&m->nseries, n + 1, memory_order_release);
out:
    pthread_mutex_unlock(&m->lock);
    return s;
}

struct metric_series *metrics_series(struct metric *m, const char *const *values)
{
    if (!m)
        return NULL;
    const char *vals[METRICS_MAX_LABELS];
    for (size_t i = 0; i < m->nlabels; i++)
        vals[i] = normalize_value(values ? values[i] : NULL);
    uint64_t h = hash_values(vals, m->nlabels);
    struct metric_series *s = lookup(m, h, vals);
    if (s)
        return s;
    if (m->overflow)
        return m->overflow; /* full: skip the lock for every new combination */
    return create_series(m, h, vals);
}

void metrics_series_add(struct metric_series *s, uint64_t n)
{
    if (!s)
        return;
    assert(s->m->type == METRIC_COUNTER);
    atomic_fetch_add_explicit(&my_shard(s)[CELL_COUNT], n, memory_order_relaxed);
}

void metrics_series_set(struct metric_series *s, double v)
{
    if (!s)
        return;
    assert(s->m->type == METRIC_GAUGE);
    atomic_store_explicit(&s->cells[CELL_BITS], double_to_bits(v), memory_order_relaxed);
}

void metrics_series_observe(struct metric_series *s, double v)
{
    if (!s || isnan(v))
        return;
    struct metric *m = s->m;
    assert(m->type == METRIC_HISTOGRAM);
    size_t i = 0;
    while (i < m->nbounds && v > m->bounds[i])
        i++;
    _Atomic uint64_t *shard = my_shard(s);
    atomic_fetch_add_explicit(&shard[CELL_BUCKETS + i], 1, memory_order_relaxed);
    atomic_add_double(&shard[CELL_BITS], v);
}

void metrics_counter_add(struct metric *m, const char *const *values, uint64_t n)
{
    metrics_series_add(metrics_series(m, values), n);
}

void metrics_gauge_set(struct metric *m, const char *const *values, double v)
{
    metrics_series_set(metrics_series(m, values), v);
}

void metrics_gauge_add(struct metric *m, const char *const *values, double delta)
{
    struct metric_series *s = metrics_series(m, values);
    if (!s)
        return;
    assert(m->type == METRIC_GAUGE);
    atomic_add_double(&s->cells[CELL_BITS], delta);
}

void metrics_observe(struct metric *m, const char *const *values, double v)
{
    metrics_series_observe(metrics_series(m, values), v);
}

/* ------------------------------------------------------------------------------------------ */
/* Reading                                                                                    */
/* ------------------------------------------------------------------------------------------ */

/* Finds an existing series without creating one. */
static struct metric_series *peek(struct metric *m, const char *const *values)
{
    const char *vals[METRICS_MAX_LABELS];
    for (size_t i = 0; i < m->nlabels; i++)
        vals[i] = normalize_value(values ? values[i] : NULL);
    return lookup(m, hash_values(vals, m->nlabels), vals);
}

double metrics_value(struct metric *m, const char *const *values)
{
    if (!m || m->type == METRIC_HISTOGRAM)
        return 0;
    struct metric_series *s = peek(m, values);
    if (!s)
        return 0;
    if (m->type == METRIC_COUNTER)
        return (double)cell_sum(s, CELL_COUNT);
    return bits_to_double(atomic_load_explicit(&s->cells[CELL_BITS], memory_order_relaxed));
}

/* Adds the per-bucket counts (and sum) of one series, or all series, into counts[]. */
static void gather(struct metric *m, const char *const *values, uint64_t *counts, double *sum)
{
    memset(counts, 0, (m->nbounds + 1) * sizeof *counts);
    *sum = 0;
    struct metric_series *one = values || m->nlabels == 0 ? peek(m, values) : NULL;
    size_t n = atomic_load_explicit(&m->nseries, memory_order_acquire);
    for (size_t k = 0; k < n; k++) {
        struct metric_series *s = m->list[k];
        if ((values || m->nlabels == 0) && s != one)
            continue;
        for (size_t i = 0; i <= m->nbounds; i++)
            counts[i] += cell_sum(s, CELL_BUCKETS + i);
        *sum += bits_sum(s);
    }
}

uint64_t metrics_hist_count(struct metric *m, const char *const *values, double *sum)
{
    double s = 0;
    uint64_t total = 0;
    if (m && m->type == METRIC_HISTOGRAM) {
        uint64_t counts[METRICS_MAX_BUCKETS + 1];
        gather(m, values, counts, &s);
        for (size_t i = 0; i <= m->nbounds; i++)
            total += counts[i];
    }
    if (sum)
        *sum = s;
    return total;
}

int metrics_quantile(struct metric *m, const char *const *values, double q, double *out)
{
    if (!m || m->type != METRIC_HISTOGRAM || !(q >= 0 && q <= 1))
        return -1;
    uint64_t counts[METRICS_MAX_BUCKETS + 1];
    double sum;
    gather(m, values, counts, &sum);
    uint64_t total = 0;
    for (size_t i = 0; i <= m->nbounds; i++)
        total += counts[i];
    if (total == 0)
        return -1;
    double rank = q * (double)total;
    uint64_t cum = 0;
    size_t i = 0;
    for (; i <= m->nbounds; i++) {
        if (counts[i] > 0 && (double)(cum + counts[i]) >= rank)
            break;
        cum += counts[i];
    }
    if (i >= m->nbounds) {
        *out = m->bounds[m->nbounds - 1];
        return 0;
    }
    double lower = i == 0 ? (m->bounds[0] > 0 ? 0 : m->bounds[0]) : m->bounds[i - 1];
    double upper = m->bounds[i];
    double within = (rank - (double)cum) / (double)counts[i];
    if (within < 0)
        within = 0;
    *out = lower + (upper - lower) * within;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Error-rate window                                                                          */
/* ------------------------------------------------------------------------------------------ */

void metrics_window_note(struct metrics_reg *reg, int64_t now_ms, unsigned turns, unsigned errors)
{
    if (!reg)
        return;
    int64_t sec = now_ms / 1000;
    struct window_slot *w = &reg->window[sec % METRICS_ERROR_WINDOW_SEC];
    if (atomic_load_explicit(&w->sec, memory_order_acquire) != sec) {
        /* First note in this second: reset the slot left from an older window. A thread that
         * read the old second would need to stall for the whole window to count into the
         * reset slot. */
        pthread_mutex_lock(&reg->lock);
        if (atomic_load_explicit(&w->sec, memory_order_relaxed) < sec) {
            atomic_store_explicit(&w->turns, 0, memory_order_relaxed);
            atomic_store_explicit(&w->errors, 0, memory_order_relaxed);
            atomic_store_explicit(&w->sec, sec, memory_order_release);
        }
        pthread_mutex_unlock(&reg->lock);
        if (atomic_load_explicit(&w->sec, memory_order_acquire) != sec)
            return; /* a clock step backwards: drop rather than pollute a newer second */
    }
    if (turns)
        atomic_fetch_add_explicit(&w->turns, turns, memory_order_relaxed);
    if (errors)
        atomic_fetch_add_explicit(&w->errors, errors, memory_order_relaxed);
}

double metrics_window_rate(struct metrics_reg *reg, int64_t now_ms)
{
    if (!reg)
        return 0;
    int64_t now = now_ms / 1000;
    uint64_t turns = 0, errors = 0;
    for (size_t i = 0; i < METRICS_ERROR_WINDOW_SEC; i++) {
        struct window_slot *w = &reg->window[i];
        int64_t sec = atomic_load_explicit(&w->sec, memory_order_acquire);
        if (sec > now - METRICS_ERROR_WINDOW_SEC && sec <= now) {
            turns += atomic_load_explicit(&w->turns, memory_order_relaxed);
            errors += atomic_load_explicit(&w->errors, memory_order_relaxed);
        }
    }
    return turns ? (double)errors / (double)turns : 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Prometheus text format                                                                     */
/* ------------------------------------------------------------------------------------------ */

static void put_escaped(struct buf *b, const char *s, int quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            buf_add_str(b, "\\\\");
        else if (*s == '\n')
            buf_add_str(b, "\\n");
        else if (quote && *s == '"')
            buf_add_str(b, "\\\"");
        else
            buf_add_char(b, *s);
    }
}

/* Writes {a="x",b="y"[,le="..."]} or nothing when there are no labels at all. */
static void put_labels(struct buf *b, const struct metric *m, const struct metric_series *s,
                       const char *le)
{
    if (m->nlabels == 0 && !le)
        return;
    buf_add_char(b, '{');
    for (size_t i = 0; i < m->nlabels; i++) {
        if (i)
            buf_add_char(b, ',');
        buf_add_str(b, m->labels[i]);
        buf_add_str(b, "=\"");
        put_escaped(b, s->values[i], 1);
        buf_add_char(b, '"');
    }
    if (le) {
        if (m->nlabels)
            buf_add_char(b, ',');
        buf_add_str(b, "le=\"");
        buf_add_str(b, le);
        buf_add_char(b, '"');
    }
    buf_add_char(b, '}');
}

static int cmp_series(const void *a, const void *b)
{
    const struct metric_series *x = *(struct metric_series *const *)a;
    const struct metric_series *y = *(struct metric_series *const *)b;
    for (size_t i = 0; i < x->m->nlabels; i++) {
        int c = strcmp(x->values[i], y->values[i]);
        if (c)
            return c;
    }
    return 0;
}

/* Writes one sample line: NAME[SUFFIX]{labels[,le]} VALUE. */
static void put_sample(struct buf *b, const struct metric *m, const struct metric_series *s,
                       const char *suffix, const char *le, const char *value)
{
    buf_add_str(b, m->name);
    buf_add_str(b, suffix);
    put_labels(b, m, s, le);
    buf_add_char(b, ' ');
    buf_add_str(b, value);
    buf_add_char(b, '\n');
}

static void render_metric(struct buf *b, struct metric *m)
{
    static const char *const type_names[] = {"counter", "gauge", "histogram"};
    buf_add_str(b, "# HELP ");
    buf_add_str(b, m->name);
    buf_add_char(b, ' ');
    put_escaped(b, m->help, 0);
    buf_add_str(b, "\n# TYPE ");
    buf_add_str(b, m->name);
    buf_add_char(b, ' ');
    buf_add_str(b, type_names[m->type]);
    buf_add_char(b, '\n');

    size_t n = atomic_load_explicit(&m->nseries, memory_order_acquire);
    struct metric_series **sorted = xmalloc((n ? n : 1) * sizeof *sorted);
    memcpy(sorted, m->list, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, cmp_series);
    for (size_t k = 0; k < n; k++) {
        struct metric_series *s = sorted[k];
        char v[40];
        if (m->type == METRIC_COUNTER) {
            snprintf(v, sizeof v, "%" PRIu64, cell_sum(s, CELL_COUNT));
            put_sample(b, m, s, "", NULL, v);
        } else if (m->type == METRIC_GAUGE) {
            fmt_double(v, sizeof v,
                       bits_to_double(
                           atomic_load_explicit(&s->cells[CELL_BITS], memory_order_relaxed)));
            put_sample(b, m, s, "", NULL, v);
        } else {
            /* Read each bucket once and derive +Inf and _count from the same reads, so the
             * output is self-consistent even while other threads record. */
            uint64_t cum = 0;
            for (size_t i = 0; i <= m->nbounds; i++) {
                char le[40];
                if (i < m->nbounds)
                    fmt_double(le, sizeof le, m->bounds[i]);
                else
                    snprintf(le, sizeof le, "+Inf");
                cum += cell_sum(s, CELL_BUCKETS + i);
                snprintf(v, sizeof v, "%" PRIu64, cum);
                put_sample(b, m, s, "_bucket", le, v);
            }
            fmt_double(v, sizeof v, bits_sum(s));
            put_sample(b, m, s, "_sum", NULL, v);
            snprintf(v, sizeof v, "%" PRIu64, cum);
            put_sample(b, m, s, "_count", NULL, v);
        }
    }
    free(sorted);
}

int metrics_reg_render(struct metrics_reg *reg, char **out, size_t *len)
{
    struct buf b;
    buf_init(&b, METRICS_RENDER_MAX);
    if (reg) {
        if (reg->std.error_rate)
            metrics_gauge_set(reg->std.error_rate, NULL, metrics_window_rate(reg, clock_now_ms()));
        pthread_mutex_lock(&reg->lock);
        struct metric *head = reg->head;
        pthread_mutex_unlock(&reg->lock);
        /* Metrics are only ever appended, and next pointers were set under the lock before we
         * read head; a definition racing with this render may or may not be included. */
        for (struct metric *m = head; m; m = m->next)
            render_metric(&b, m);
    }
    *out = buf_take(&b, len);
    return 0;
}

int metrics_render_prometheus(char **out)
{
    return metrics_reg_render(metrics_default(), out, NULL);
}

/* ------------------------------------------------------------------------------------------ */
/* Parley's metrics                                                                           */
/* ------------------------------------------------------------------------------------------ */

static struct metric *must_define(struct metrics_reg *reg, enum metric_type t, const char *name,
                                  const char *help, const char *labels, int hist)
{
    struct err e;
    err_clear(&e);
    const double *b = NULL;
    size_t nb = 0;
    if (hist == 1) {
        b = metrics_latency_bounds;
        nb = metrics_latency_nbounds;
    } else if (hist == 2) {
        b = conversation_bounds;
        nb = sizeof conversation_bounds / sizeof *conversation_bounds;
    }
    struct metric *m = metrics_define(reg, t, name, help, labels, b, nb, &e);
    assert(m != NULL); /* our own constant definitions */
    return m;
}

static struct metrics_reg *create_default(void)
{
    struct metrics_reg *reg = metrics_reg_new();
    struct metrics_std *s = &reg->std;
    s->turns = must_define(reg, METRIC_COUNTER, METRIC_TURNS_TOTAL,
                           "Conversation turns completed, failed ones included.", NULL, 0);
    s->turn_dur = must_define(reg, METRIC_HISTOGRAM, METRIC_TURN_DURATION,
                              "Wall time of one turn, from request to reply.", NULL, 1);
    s->model_lat = must_define(reg, METRIC_HISTOGRAM, METRIC_MODEL_LATENCY,
                               "Latency of one model call (the seed's bedrock_latency).",
                               "provider", 1);
    s->tool_dur = must_define(reg, METRIC_HISTOGRAM, METRIC_TOOL_DURATION,
                              "Run time of one action by tool.", "tool", 1);
    s->actions = must_define(reg, METRIC_COUNTER, METRIC_ACTIONS_TOTAL,
                             "Actions run, by tool and outcome.", "tool,status", 0);
    s->errors = must_define(reg, METRIC_COUNTER, METRIC_ERRORS_TOTAL,
                            "Turn-level errors by code; error rate = errors / turns.", "code", 0);
    s->tokens = must_define(reg, METRIC_COUNTER, METRIC_TOKENS_TOTAL,
                            "Model tokens, direction in (prompt) or out (completion).", "direction",
                            0);
    s->conv_dur = must_define(reg, METRIC_HISTOGRAM, METRIC_CONVERSATION_DURATION,
                              "Time from a conversation's first to its latest activity, observed "
                              "at each turn.",
                              NULL, 2);
    s->queue = must_define(reg, METRIC_GAUGE, METRIC_QUEUE_DEPTH,
                           "Actions waiting in the action queue.", NULL, 0);
    s->dlq = must_define(reg, METRIC_GAUGE, METRIC_DLQ_DEPTH, "Actions in the dead-letter queue.",
                         NULL, 0);
    s->http = must_define(reg, METRIC_COUNTER, METRIC_HTTP_REQUESTS_TOTAL,
                          "HTTP requests by route pattern and status.", "route,status", 0);
    s->error_rate = must_define(reg, METRIC_GAUGE, METRIC_ERROR_RATE,
                                "Errors per turn over the last 5 minutes.", NULL, 0);
    s->budget_today = must_define(reg, METRIC_GAUGE, METRIC_BUDGET_TODAY,
                                  "Model tokens the whole server used this UTC day (the store's "
                                  "budget counter, so it survives restarts).",
                                  NULL, 0);
    s->budget_refusals = must_define(reg, METRIC_COUNTER, METRIC_BUDGET_REFUSALS,
                                     "Turns answered without a model call because a token budget "
                                     "was spent, by scope (session or daily).",
                                     "scope", 0);
    return reg;
}

struct metrics_reg *metrics_default(void)
{
    struct metrics_reg *reg = atomic_load_explicit(&default_reg, memory_order_acquire);
    if (reg)
        return reg;
    pthread_mutex_lock(&default_lock);
    reg = atomic_load_explicit(&default_reg, memory_order_relaxed);
    if (!reg) {
        reg = create_default();
        atomic_store_explicit(&default_reg, reg, memory_order_release);
    }
    pthread_mutex_unlock(&default_lock);
    return reg;
}

void metrics_shutdown(void)
{
    pthread_mutex_lock(&default_lock);
    struct metrics_reg *reg = atomic_exchange(&default_reg, NULL);
    pthread_mutex_unlock(&default_lock);
    metrics_reg_free(reg);
}

void metrics_turn(double seconds)
{
    struct metrics_reg *r = metrics_default();
    metrics_counter_add(r->std.turns, NULL, 1);
    metrics_observe(r->std.turn_dur, NULL, seconds);
    metrics_window_note(r, clock_now_ms(), 1, 0);
}

void metrics_error(const char *code)
{
    struct metrics_reg *r = metrics_default();
    metrics_counter_add(r->std.errors, METRICS_L(code), 1);
    metrics_window_note(r, clock_now_ms(), 0, 1);
}

void metrics_model_latency(const char *provider, double seconds)
{
    metrics_observe(metrics_default()->std.model_lat, METRICS_L(provider), seconds);
}

void metrics_action(const char *tool, const char *status, double seconds)
{
    struct metrics_reg *r = metrics_default();
    metrics_observe(r->std.tool_dur, METRICS_L(tool), seconds);
    metrics_counter_add(r->std.actions, METRICS_L(tool, status), 1);
}

void metrics_tokens(uint64_t in, uint64_t out)
{
    struct metrics_reg *r = metrics_default();
    if (in)
        metrics_counter_add(r->std.tokens, METRICS_L("in"), in);
    if (out)
        metrics_counter_add(r->std.tokens, METRICS_L("out"), out);
}

void metrics_conversation_duration(double seconds)
{
    metrics_observe(metrics_default()->std.conv_dur, NULL, seconds);
}

void metrics_budget(double tokens_today, const char *refused_scope)
{
    struct metrics_reg *r = metrics_default();
    if (tokens_today >= 0)
        metrics_gauge_set(r->std.budget_today, NULL, tokens_today);
    if (refused_scope)
        metrics_counter_add(r->std.budget_refusals, METRICS_L(refused_scope), 1);
}

void metrics_queue_depths(double queue, double dlq)
{
    struct metrics_reg *r = metrics_default();
    metrics_gauge_set(r->std.queue, NULL, queue);
    metrics_gauge_set(r->std.dlq, NULL, dlq);
}

void metrics_http_request(const char *route, int status)
{
    char st[16];
    snprintf(st, sizeof st, "%d", status);
    metrics_counter_add(metrics_default()->std.http, METRICS_L(route, st), 1);
}

/* ------------------------------------------------------------------------------------------ */
/* CloudWatch Embedded Metric Format                                                          */
/* ------------------------------------------------------------------------------------------ */

static const char *const emf_units[] = {
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
};

static int emf_unit_known(const char *u)
{
    for (size_t i = 0; i < sizeof emf_units / sizeof *emf_units; i++)
        if (strcmp(emf_units[i], u) == 0)
            return 1;
    return 0;
}

static int emf_name_ok(const char *s, size_t max)
{
    if (!s)
        return 0;
    size_t n = strnlen(s, max + 1);
    return n >= 1 && n <= max && utf8_invalid_at(s, n) < 0;
}

/* The most bytes of one EMF line: 30 dimensions and 100 metrics of the largest names and values
 * the checks below allow stay well under it; only a property's value is not capped, and a line
 * it would take past this is refused. */
#define EMF_LINE_MAX (1u << 20)

/* Fails with "InvalidMetric" when name is "_aws" or the name of an earlier root member: the
 * dimension keys, metric names and property keys before it, in that order (at most 30 + 100 +
 * nprops names, compared pairwise: an EMF line holds a dozen). */
static int emf_unique(const char *name, const struct metrics_emf_dim *dims, size_t ndims,
                      const struct metrics_emf_value *vals, size_t nvals,
                      const struct metrics_emf_dim *props, size_t nprops, struct err *err)
{
    int dup = strcmp(name, "_aws") == 0;
    for (size_t i = 0; i < ndims && !dup; i++)
        dup = strcmp(dims[i].key, name) == 0;
    for (size_t i = 0; i < nvals && !dup; i++)
        dup = strcmp(vals[i].name, name) == 0;
    for (size_t i = 0; i < nprops && !dup; i++)
        dup = strcmp(props[i].key, name) == 0;
    return dup ? err_set(err, "InvalidMetric", "EMF member '%s' is defined twice", name) : 0;
}

/* Checks what metrics_emf_line promises to refuse (see metrics.h). */
static int emf_check(const char *ns, const struct metrics_emf_dim *dims, size_t ndims,
                     const struct metrics_emf_value *vals, size_t nvals,
                     const struct metrics_emf_dim *props, size_t nprops, struct err *err)
{
    if (!emf_name_ok(ns, 255))
        return err_set(err, "InvalidMetric", "EMF namespace must be 1..255 characters");
    if (ndims > 30)
        return err_set(err, "InvalidMetric", "EMF allows at most 30 dimensions, got %zu", ndims);
    if (nvals < 1 || nvals > 100)
        return err_set(err, "InvalidMetric", "EMF needs 1..100 metrics, got %zu", nvals);
    for (size_t i = 0; i < ndims; i++) {
        if (!emf_name_ok(dims[i].key, 255) || !emf_name_ok(dims[i].value, 1024))
            return err_set(err, "InvalidMetric",
                           "EMF dimension %zu needs a 1..255 character key and a "
                           "1..1024 character value",
                           i);
        if (emf_unique(dims[i].key, dims, i, NULL, 0, NULL, 0, err) < 0)
            return -1;
    }
    for (size_t i = 0; i < nvals; i++) {
        const char *unit = vals[i].unit ? vals[i].unit : "None";
        if (!emf_name_ok(vals[i].name, 255))
            return err_set(err, "InvalidMetric", "EMF metric %zu needs a 1..255 character name", i);
        if (!emf_unit_known(unit))
            return err_set(err, "InvalidMetric", "EMF metric '%s' has unknown unit '%s'",
                           vals[i].name, unit);
        if (!isfinite(vals[i].value))
            return err_set(err, "InvalidMetric", "EMF metric '%s' is not a finite number",
                           vals[i].name);
        if (emf_unique(vals[i].name, dims, ndims, vals, i, NULL, 0, err) < 0)
            return -1;
    }
    for (size_t i = 0; i < nprops; i++) {
        if (!emf_name_ok(props[i].key, 255) || !props[i].value ||
            utf8_invalid_at(props[i].value, strlen(props[i].value)) >= 0)
            return err_set(err, "InvalidMetric",
                           "EMF property %zu needs a key and a valid UTF-8 value", i);
        if (emf_unique(props[i].key, dims, ndims, vals, nvals, props, i, err) < 0)
            return -1;
    }
    return 0;
}

/* Appends "key": to b. */
static int emf_key(struct buf *b, const char *key)
{
    return jsontext_add_string(b, key, strlen(key)) < 0 || buf_add_char(b, ':') < 0 ? -1 : 0;
}

/* Appends "key":"value" (a string member) to b, preceded by a comma. */
static int emf_member(struct buf *b, const char *key, const char *value)
{
    return buf_add_char(b, ',') < 0 || emf_key(b, key) < 0 ||
                   jsontext_add_string(b, value, strlen(value)) < 0
               ? -1
               : 0;
}

/* The line is written straight into one buffer, in the member order a jansson tree of it would
 * have: built as a tree and dumped, it was 2.6% of a new-session turn's CPU samples. */
int metrics_emf_line(const char *ns, const struct metrics_emf_dim *dims, size_t ndims,
                     const struct metrics_emf_value *vals, size_t nvals,
                     const struct metrics_emf_dim *props, size_t nprops, int64_t ts_ms, char **out,
                     struct err *err)
{
    *out = NULL;
    if (emf_check(ns, dims, ndims, vals, nvals, props, nprops, err) < 0)
        return -1;
    struct buf b;
    buf_init(&b, EMF_LINE_MAX);
    int bad = buf_add_str(&b, "{\"_aws\":{\"Timestamp\":") < 0 ||
              jsontext_add_integer(&b, ts_ms) < 0 ||
              buf_add_str(&b, ",\"CloudWatchMetrics\":[{\"Namespace\":") < 0 ||
              jsontext_add_string(&b, ns, strlen(ns)) < 0 ||
              buf_add_str(&b, ",\"Dimensions\":[[") < 0;
    for (size_t i = 0; i < ndims && !bad; i++)
        bad = (i && buf_add_char(&b, ',') < 0) ||
              jsontext_add_string(&b, dims[i].key, strlen(dims[i].key)) < 0;
    bad = bad || buf_add_str(&b, "]],\"Metrics\":[") < 0;
    for (size_t i = 0; i < nvals && !bad; i++)
        bad = buf_add_str(&b, i ? ",{\"Name\":" : "{\"Name\":") < 0 ||
              jsontext_add_string(&b, vals[i].name, strlen(vals[i].name)) < 0 ||
              buf_add_str(&b, ",\"Unit\":") < 0 ||
              jsontext_add_string(&b, vals[i].unit ? vals[i].unit : "None",
                                  strlen(vals[i].unit ? vals[i].unit : "None")) < 0 ||
              buf_add_char(&b, '}') < 0;
    bad = bad || buf_add_str(&b, "]}]}") < 0;
    for (size_t i = 0; i < ndims && !bad; i++)
        bad = emf_member(&b, dims[i].key, dims[i].value) < 0;
    for (size_t i = 0; i < nvals && !bad; i++)
        bad = buf_add_char(&b, ',') < 0 || emf_key(&b, vals[i].name) < 0 ||
              jsontext_add_real(&b, vals[i].value) < 0;
    for (size_t i = 0; i < nprops && !bad; i++)
        bad = emf_member(&b, props[i].key, props[i].value) < 0;
    bad = bad || buf_add_char(&b, '}') < 0;
    if (bad) { /* a property's value too long */
        buf_release(&b);
        return err_set(err, "InvalidMetric", "EMF document is longer than %u bytes", EMF_LINE_MAX);
    }
    *out = buf_take(&b, NULL);
    return 0;
}

int metrics_emf_turn(FILE *f, const struct metrics_turn_emf *t)
{
    if (!f)
        f = stdout;
    struct metrics_emf_dim dims[] = {
        {"Service", "parley"},
        {"Provider", t->provider && *t->provider ? t->provider : "unknown"},
    };
    struct metrics_emf_value vals[] = {
        {"TurnLatency", "Milliseconds", t->turn_ms}, {"ModelLatency", "Milliseconds", t->model_ms},
        {"TokensIn", "Count", (double)t->tokens_in}, {"TokensOut", "Count", (double)t->tokens_out},
        {"ToolCount", "Count", (double)t->tools},    {"Errors", "Count", t->error ? 1 : 0},
    };
    struct metrics_emf_dim props[2];
    size_t nprops = 0;
    if (t->session_id)
        props[nprops++] = (struct metrics_emf_dim){"sessionId", t->session_id};
    if (t->trace_id)
        props[nprops++] = (struct metrics_emf_dim){"traceId", t->trace_id};
    char *line = NULL;
    struct err e;
    err_clear(&e);
    if (metrics_emf_line("Parley", dims, 2, vals, sizeof vals / sizeof *vals, props, nprops,
                         clock_now_ms(), &line, &e) < 0)
        return -1;
    /* stdout (Lambda: CloudWatch reads it as it comes) is flushed per line; a log file keeps its
     * stdio buffer and is flushed when full and when it is closed, which saves a write per turn. */
    flockfile(f);
    int rc = (fputs(line, f) < 0 || putc_unlocked('\n', f) == EOF ||
              (f == stdout && fflush(f) != 0))
                 ? -1
                 : 0;
    funlockfile(f);
    free(line);
    return rc;
}
