/* test_metrics.c - the metrics registry: a strict Prometheus text parser checks every line the
 * renderer writes, values after concurrent recording, escaping, caps, quantiles, the error-rate
 * window, EMF documents against the specification's required structure, and a tiny benchmark. */
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/xmalloc.h"
#include "check.h"
#include "telemetry/metrics.h"

/* ------------------------------------------------------------------------------------------ */
/* A strict parser for the Prometheus text format 0.0.4                                       */
/* ------------------------------------------------------------------------------------------ */

struct sample {
    char name[128];
    char labels[1024]; /* canonical: a="x",b="y" with unescaped values, le excluded */
    char le[48];       /* value of le, or "" */
    double value;
};

struct family {
    char name[128];
    char type[16];
    int has_help;
};

struct parsed {
    struct sample *s;
    size_t n, cap;
    struct family fam[64];
    size_t nfam;
    char error[256];
};

static int perr(struct parsed *p, int line, const char *what)
{
    snprintf(p->error, sizeof p->error, "line %d: %s", line, what);
    return -1;
}

static size_t name_len(const char *s, int colon)
{
    size_t i = 0;
    while ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || s[i] == '_' ||
           (colon && s[i] == ':') || (i > 0 && s[i] >= '0' && s[i] <= '9'))
        i++;
    return i;
}

static int parse_value(const char *s, size_t n, double *out)
{
    char buf[64];
    if (n == 0 || n >= sizeof buf)
        return -1;
    memcpy(buf, s, n);
    buf[n] = 0;
    if (!strcmp(buf, "+Inf")) {
        *out = INFINITY;
        return 0;
    }
    if (!strcmp(buf, "-Inf")) {
        *out = -INFINITY;
        return 0;
    }
    if (!strcmp(buf, "NaN")) {
        *out = NAN;
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        if (!strchr("0123456789.eE+-", buf[i]))
            return -1;
    char *end;
    *out = strtod(buf, &end);
    return *end ? -1 : 0;
}

static struct family *fam_find(struct parsed *p, const char *name)
{
    for (size_t i = 0; i < p->nfam; i++)
        if (!strcmp(p->fam[i].name, name))
            return &p->fam[i];
    return NULL;
}

/* Parses text; returns 0 or -1 with p->error. Checks grammar, escapes, that TYPE precedes its
 * samples, sample names match their family, no duplicate series, and histogram invariants. */
static int prom_parse(const char *text, struct parsed *p)
{
    memset(p, 0, sizeof *p);
    size_t tlen = strlen(text);
    if (tlen && text[tlen - 1] != '\n')
        return perr(p, 0, "text does not end with a line feed");
    struct family *cur = NULL;
    int lineno = 0;
    for (const char *line = text; *line;) {
        lineno++;
        const char *eol = strchr(line, '\n');
        size_t n = (size_t)(eol - line);
        if (n == 0)
            return perr(p, lineno, "empty line (we never write one)");
        if (line[0] == '#') {
            int help = n > 7 && !strncmp(line, "# HELP ", 7);
            int type = n > 7 && !strncmp(line, "# TYPE ", 7);
            if (!help && !type)
                return perr(p, lineno, "comment is neither HELP nor TYPE");
            const char *nm = line + 7;
            size_t nl = name_len(nm, 1);
            if (nl == 0 || nl >= 128 || nm[nl] != ' ')
                return perr(p, lineno, "bad metric name in HELP/TYPE");
            char name[128];
            memcpy(name, nm, nl);
            name[nl] = 0;
            const char *rest = nm + nl + 1;
            size_t rl = (size_t)(eol - rest);
            struct family *f = fam_find(p, name);
            if (!f) {
                if (p->nfam == 64)
                    return perr(p, lineno, "too many families");
                f = &p->fam[p->nfam++];
                snprintf(f->name, sizeof f->name, "%s", name);
            }
            if (help) {
                if (f->has_help++)
                    return perr(p, lineno, "second HELP line");
                for (size_t i = 0; i < rl; i++)
                    if (rest[i] == '\\' && (i + 1 >= rl || (rest[i + 1] != '\\' && rest[i + 1] != 'n')))
                        return perr(p, lineno, "bad escape in HELP");
                    else if (rest[i] == '\\')
                        i++;
            } else {
                if (f->type[0])
                    return perr(p, lineno, "second TYPE line");
                if (rl >= sizeof f->type)
                    return perr(p, lineno, "bad type");
                memcpy(f->type, rest, rl);
                f->type[rl] = 0;
                if (strcmp(f->type, "counter") && strcmp(f->type, "gauge") &&
                    strcmp(f->type, "histogram") && strcmp(f->type, "summary") &&
                    strcmp(f->type, "untyped"))
                    return perr(p, lineno, "unknown type");
                for (size_t i = 0; i < p->n; i++)
                    if (!strncmp(p->s[i].name, name, nl))
                        return perr(p, lineno, "TYPE after samples of its family");
                cur = f;
            }
            line = eol + 1;
            continue;
        }
        struct sample s;
        memset(&s, 0, sizeof s);
        size_t nl = name_len(line, 1);
        if (nl == 0 || nl >= sizeof s.name)
            return perr(p, lineno, "bad sample name");
        memcpy(s.name, line, nl);
        const char *q = line + nl;
        size_t ll = 0;
        if (*q == '{') {
            q++;
            int first = 1;
            char seen[8][64];
            int nseen = 0;
            while (*q != '}') {
                if (!first) {
                    if (*q != ',')
                        return perr(p, lineno, "expected ',' between labels");
                    q++;
                }
                first = 0;
                size_t ln = name_len(q, 0);
                if (ln == 0 || ln >= 64 || q[ln] != '=' || q[ln + 1] != '"')
                    return perr(p, lineno, "bad label name or missing =\"");
                char lname[64];
                memcpy(lname, q, ln);
                lname[ln] = 0;
                for (int i = 0; i < nseen; i++)
                    if (!strcmp(seen[i], lname))
                        return perr(p, lineno, "repeated label");
                if (nseen < 8)
                    snprintf(seen[nseen++], 64, "%s", lname);
                q += ln + 2;
                char val[512];
                size_t vl = 0;
                while (*q != '"') {
                    if (*q == '\n' || *q == 0)
                        return perr(p, lineno, "unterminated label value");
                    char c = *q++;
                    if (c == '\\') {
                        char e = *q++;
                        c = e == '\\' ? '\\' : e == '"' ? '"' : e == 'n' ? '\n' : 0;
                        if (!c)
                            return perr(p, lineno, "bad escape in label value");
                    }
                    if (vl + 1 >= sizeof val)
                        return perr(p, lineno, "label value too long for the test");
                    val[vl++] = c;
                }
                val[vl] = 0;
                q++;
                if (!strcmp(lname, "le")) {
                    if (vl >= sizeof s.le)
                        return perr(p, lineno, "le value too long");
                    memcpy(s.le, val, vl + 1);
                } else {
                    int w = snprintf(s.labels + ll, sizeof s.labels - ll, "%s%s=\"%s\"",
                                     ll ? "," : "", lname, val);
                    ll += (size_t)w;
                }
            }
            q++;
        }
        if (*q != ' ')
            return perr(p, lineno, "expected one space before the value");
        q++;
        const char *vend = q;
        while (vend < eol && *vend != ' ')
            vend++;
        if (parse_value(q, (size_t)(vend - q), &s.value) < 0)
            return perr(p, lineno, "bad value");
        if (vend != eol)
            return perr(p, lineno, "trailing text (we write no timestamps)");
        if (!cur)
            return perr(p, lineno, "sample before any TYPE");
        size_t fl = strlen(cur->name);
        const char *suffix = strncmp(s.name, cur->name, fl) ? NULL : s.name + fl;
        int ok;
        if (!suffix)
            ok = 0;
        else if (!strcmp(cur->type, "histogram"))
            ok = (!strcmp(suffix, "_bucket") && s.le[0]) ||
                 ((!strcmp(suffix, "_sum") || !strcmp(suffix, "_count")) && !s.le[0]);
        else
            ok = !*suffix && !s.le[0];
        if (!ok)
            return perr(p, lineno, "sample does not belong to the current family");
        for (size_t i = 0; i < p->n; i++)
            if (!strcmp(p->s[i].name, s.name) && !strcmp(p->s[i].labels, s.labels) &&
                !strcmp(p->s[i].le, s.le))
                return perr(p, lineno, "duplicate series");
        if (p->n == p->cap) {
            p->cap = p->cap ? p->cap * 2 : 64;
            p->s = xrealloc(p->s, p->cap * sizeof *p->s);
        }
        p->s[p->n++] = s;
        line = eol + 1;
    }
    /* Histogram invariants per series: increasing le ending at +Inf, cumulative counts,
     * _count equal to the +Inf bucket, and a _sum. */
    for (size_t f = 0; f < p->nfam; f++) {
        if (strcmp(p->fam[f].type, "histogram"))
            continue;
        char bname[160], cname[160], sname[160];
        snprintf(bname, sizeof bname, "%s_bucket", p->fam[f].name);
        snprintf(cname, sizeof cname, "%s_count", p->fam[f].name);
        snprintf(sname, sizeof sname, "%s_sum", p->fam[f].name);
        for (size_t i = 0; i < p->n; i++) {
            if (strcmp(p->s[i].name, cname))
                continue;
            double prev_le = -INFINITY, prev_c = 0, inf_c = -1, sum_seen = 0;
            for (size_t j = 0; j < p->n; j++) {
                if (strcmp(p->s[j].labels, p->s[i].labels))
                    continue;
                if (!strcmp(p->s[j].name, sname))
                    sum_seen = 1;
                if (strcmp(p->s[j].name, bname))
                    continue;
                double le;
                if (parse_value(p->s[j].le, strlen(p->s[j].le), &le) < 0 || !(le > prev_le))
                    return perr(p, 0, "bucket le not increasing");
                if (p->s[j].value < prev_c)
                    return perr(p, 0, "bucket counts not cumulative");
                prev_le = le;
                prev_c = p->s[j].value;
                if (isinf(le))
                    inf_c = p->s[j].value;
            }
            if (inf_c < 0)
                return perr(p, 0, "histogram series without le=\"+Inf\"");
            if (inf_c != p->s[i].value)
                return perr(p, 0, "_count differs from the +Inf bucket");
            if (!sum_seen)
                return perr(p, 0, "histogram series without _sum");
        }
    }
    return 0;
}

static void parsed_free(struct parsed *p)
{
    free(p->s);
}

/* Returns the value of a sample, or NAN if absent. */
static double sample_get(const struct parsed *p, const char *name, const char *labels,
                         const char *le)
{
    for (size_t i = 0; i < p->n; i++)
        if (!strcmp(p->s[i].name, name) && !strcmp(p->s[i].labels, labels ? labels : "") &&
            !strcmp(p->s[i].le, le ? le : ""))
            return p->s[i].value;
    return NAN;
}

static size_t count_samples(const struct parsed *p, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < p->n; i++)
        n += !strcmp(p->s[i].name, name);
    return n;
}

/* The parser itself must reject what the format forbids, or it proves nothing. */
static void test_parser_rejects(void)
{
    static const char *bad[] = {
        "# TYPE a counter\na 1",                               /* no final newline */
        "# TYPE a counter\na{x=\"1} 1\n",                      /* unterminated */
        "# TYPE a counter\na{x=\"\\t\"} 1\n",                  /* bad escape */
        "# TYPE a counter\na  1\n",                            /* two spaces */
        "# TYPE a counter\na one\n",                           /* bad value */
        "# TYPE a counter\nb 1\n",                             /* wrong family */
        "# TYPE a counter\na 1\na 2\n",                        /* duplicate */
        "a 1\n",                                               /* no TYPE */
        "# TYPE a counter\n# TYPE a counter\n",                /* two TYPEs */
        "# TYPE a counter\na{x=\"1\",x=\"2\"} 1\n",            /* repeated label */
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
        "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 1\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct parsed p;
        int rc = prom_parse(bad[i], &p);
        if (rc == 0)
            fprintf(stderr, "parser accepted bad case %zu\n", i);
        CHECK(rc < 0);
        parsed_free(&p);
    }
    struct parsed p;
    CHECK(prom_parse("# HELP a x\\\\y\\n\n# TYPE a gauge\na{b=\"q\\\"\"} -Inf\n", &p) == 0);
    CHECK(isinf(sample_get(&p, "a", "b=\"q\"\"", NULL)));
    parsed_free(&p);
}

/* ------------------------------------------------------------------------------------------ */
/* Registry tests                                                                             */
/* ------------------------------------------------------------------------------------------ */

static void test_define_validation(void)
{
    struct metrics_reg *reg = metrics_reg_new();
    struct err e;
    double good[] = {0.1, 1};
    double unsorted[] = {1, 0.1};
    err_clear(&e);
    CHECK(metrics_define(reg, METRIC_COUNTER, "9bad", "", NULL, NULL, 0, &e) == NULL);
    CHECK_STR(e.code, "InvalidMetric");
    CHECK(metrics_define(reg, METRIC_COUNTER, "a-b", "", NULL, NULL, 0, &e) == NULL);
    CHECK(metrics_define(reg, METRIC_COUNTER, "ok", "", "le", NULL, 0, &e) == NULL);
    CHECK(metrics_define(reg, METRIC_COUNTER, "ok", "", "__x", NULL, 0, &e) == NULL);
    CHECK(metrics_define(reg, METRIC_COUNTER, "ok", "", "a,a", NULL, 0, &e) == NULL);
    CHECK(metrics_define(reg, METRIC_COUNTER, "ok", "", "a,b,c,d,e", NULL, 0, &e) == NULL);
    CHECK(metrics_define(reg, METRIC_COUNTER, "ok", "", "a,", NULL, 0, &e) == NULL);
    CHECK(metrics_define(reg, METRIC_HISTOGRAM, "h", "", NULL, NULL, 0, &e) == NULL);
    CHECK(metrics_define(reg, METRIC_HISTOGRAM, "h", "", NULL, unsorted, 2, &e) == NULL);
    CHECK(metrics_define(reg, METRIC_GAUGE, "g", "", NULL, good, 2, &e) == NULL);
    err_clear(&e);
    CHECK(metrics_define(reg, METRIC_COUNTER, "ok:total", "", "a,b", NULL, 0, &e) != NULL);
    CHECK(!err_is_set(&e));
    CHECK(metrics_define(reg, METRIC_GAUGE, "ok:total", "", NULL, NULL, 0, &e) == NULL);
    CHECK(strstr(e.message, "already") != NULL);
    CHECK(metrics_find(reg, "ok:total") != NULL);
    CHECK(metrics_find(reg, "nope") == NULL);
    metrics_reg_free(reg);
    metrics_reg_free(NULL);
}

#define THREADS 4
#define PER_THREAD 100000

struct work {
    struct metric *c, *g, *h;
    int id;
};

static void *recorder(void *arg)
{
    struct work *w = arg;
    static const char *tools[] = {"create_support_ticket", "check_order_status", "refund",
                                  "handoff"};
    for (int i = 0; i < PER_THREAD; i++) {
        metrics_counter_add(w->c, METRICS_L(tools[i % 4], i % 2 ? "ok" : "failed"), 1);
        metrics_gauge_add(w->g, NULL, 1.0);
        /* 0.25 and 2 are exact in binary, so the sum must come out exact. */
        metrics_observe(w->h, METRICS_L(w->id % 2 ? "odd" : "even"), i % 4 ? 0.25 : 2);
    }
    return NULL;
}

static void test_concurrent_values(void)
{
    struct metrics_reg *reg = metrics_reg_new();
    double bounds[] = {0.1, 0.5, 1, 5};
    struct work w[THREADS];
    pthread_t th[THREADS];
    struct metric *c = metrics_define(reg, METRIC_COUNTER, "t_actions_total", "Actions.",
                                      "tool,status", NULL, 0, NULL);
    struct metric *g = metrics_define(reg, METRIC_GAUGE, "t_depth", "Depth.", NULL, NULL, 0, NULL);
    struct metric *h = metrics_define(reg, METRIC_HISTOGRAM, "t_latency_seconds", "Latency.",
                                      "half", bounds, 4, NULL);
    CHECK(c && g && h);
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct work){c, g, h, i};
        pthread_create(&th[i], NULL, recorder, &w[i]);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);

    /* Each (tool, status) pair: i%4 fixes the tool and i%2 the status, so each tool sees one
     * status only: PER_THREAD/4 per thread. */
    CHECK(metrics_value(c, METRICS_L("create_support_ticket", "failed")) ==
          THREADS * PER_THREAD / 4);
    CHECK(metrics_value(c, METRICS_L("check_order_status", "ok")) == THREADS * PER_THREAD / 4);
    CHECK(metrics_value(c, METRICS_L("check_order_status", "failed")) == 0);
    CHECK(metrics_value(g, NULL) == THREADS * PER_THREAD);
    double sum = 0;
    CHECK_INT(metrics_hist_count(h, NULL, &sum), THREADS * PER_THREAD);
    CHECK(sum == THREADS * (PER_THREAD / 4 * 2.0 + PER_THREAD * 3 / 4 * 0.25));
    CHECK_INT(metrics_hist_count(h, METRICS_L("odd"), NULL), 2 * PER_THREAD);

    char *text = NULL;
    size_t len = 0;
    metrics_reg_render(reg, &text, &len);
    CHECK(text && strlen(text) == len);
    struct parsed p;
    int rc = prom_parse(text, &p);
    if (rc)
        fprintf(stderr, "parse error: %s\n%s", p.error, text);
    CHECK(rc == 0);
    CHECK(sample_get(&p, "t_actions_total", "tool=\"refund\",status=\"failed\"", NULL) ==
          THREADS * PER_THREAD / 4);
    CHECK_INT(count_samples(&p, "t_actions_total"), 4);
    CHECK(sample_get(&p, "t_depth", NULL, NULL) == THREADS * PER_THREAD);
    CHECK(sample_get(&p, "t_latency_seconds_bucket", "half=\"even\"", "0.1") == 0);
    CHECK(sample_get(&p, "t_latency_seconds_bucket", "half=\"even\"", "0.5") ==
          2 * PER_THREAD * 3 / 4);
    CHECK(sample_get(&p, "t_latency_seconds_bucket", "half=\"even\"", "5") == 2 * PER_THREAD);
    CHECK(sample_get(&p, "t_latency_seconds_bucket", "half=\"even\"", "+Inf") == 2 * PER_THREAD);
    CHECK(sample_get(&p, "t_latency_seconds_count", "half=\"odd\"", NULL) == 2 * PER_THREAD);
    CHECK(sample_get(&p, "t_latency_seconds_sum", "half=\"odd\"", NULL) == sum / 2);
    /* Series are sorted by label values. */
    CHECK(strstr(text, "half=\"even\",le=\"+Inf\"") < strstr(text, "half=\"odd\",le=\"0.1\""));
    parsed_free(&p);
    free(text);
    metrics_reg_free(reg);
}

static void test_escaping(void)
{
    struct metrics_reg *reg = metrics_reg_new();
    struct metric *c = metrics_define(reg, METRIC_COUNTER, "esc_total",
                                      "Back\\slash and\nnew line.", "v", NULL, 0, NULL);
    metrics_counter_add(c, METRICS_L("a\"b\\c\nd"), 3);
    metrics_counter_add(c, METRICS_L("caf\xc3\xa9"), 1);
    char *text;
    metrics_reg_render(reg, &text, NULL);
    CHECK(strstr(text, "# HELP esc_total Back\\\\slash and\\nnew line.\n") != NULL);
    CHECK(strstr(text, "esc_total{v=\"a\\\"b\\\\c\\nd\"} 3\n") != NULL);
    struct parsed p;
    CHECK(prom_parse(text, &p) == 0);
    CHECK(sample_get(&p, "esc_total", "v=\"a\"b\\c\nd\"", NULL) == 3);
    CHECK(sample_get(&p, "esc_total", "v=\"caf\xc3\xa9\"", NULL) == 1);
    parsed_free(&p);
    free(text);
    metrics_reg_free(reg);
}

static void test_caps(void)
{
    struct metrics_reg *reg = metrics_reg_new();
    struct metric *c = metrics_define(reg, METRIC_COUNTER, "cap_total", "", "route,code", NULL, 0,
                                      NULL);
    char long_value[METRICS_LABEL_VALUE_MAX + 2];
    memset(long_value, 'x', sizeof long_value - 1);
    long_value[sizeof long_value - 1] = 0;
    metrics_counter_add(c, METRICS_L(long_value, "200"), 1);
    metrics_counter_add(c, METRICS_L("\xff\xfe", "200"), 1);
    metrics_counter_add(c, METRICS_L("", "200"), 1);
    metrics_counter_add(c, (const char *const[]){NULL, "200"}, 1);
    CHECK(metrics_value(c, METRICS_L("_invalid", "200")) == 4);
    /* 400 distinct routes: 255 more fit (one series is taken), the rest fold into _overflow. */
    char route[32];
    for (int i = 0; i < 400; i++) {
        snprintf(route, sizeof route, "/r/%d", i);
        metrics_counter_add(c, METRICS_L(route, "200"), 2);
    }
    CHECK(metrics_value(c, METRICS_L("/r/0", "200")) == 2);
    CHECK(metrics_value(c, METRICS_L("/r/254", "200")) == 2);
    CHECK(metrics_value(c, METRICS_L("/r/255", "200")) == 0);
    CHECK(metrics_value(c, METRICS_L("_overflow", "_overflow")) == 2 * (400 - 255));
    char *text;
    metrics_reg_render(reg, &text, NULL);
    struct parsed p;
    CHECK(prom_parse(text, &p) == 0);
    CHECK_INT(count_samples(&p, "cap_total"), METRICS_MAX_SERIES + 1);
    double total = 0;
    for (size_t i = 0; i < p.n; i++)
        total += p.s[i].value;
    CHECK(total == 4 + 800);
    parsed_free(&p);
    free(text);
    metrics_reg_free(reg);
}

/* Quantiles: for each distribution the estimate must lie in the bucket holding the true
 * quantile, i.e. within that bucket's width. */
static void check_quantile(struct metric *h, const double *bounds, size_t nb, double q,
                           double truth)
{
    double est = -1;
    CHECK(metrics_quantile(h, NULL, q, &est) == 0);
    double lo = 0, hi = INFINITY;
    for (size_t i = 0; i < nb; i++) {
        if (truth <= bounds[i]) {
            hi = bounds[i];
            break;
        }
        lo = bounds[i];
    }
    if (!(est >= lo && est <= hi))
        fprintf(stderr, "q=%g estimate %g outside [%g, %g] around truth %g\n", q, est, lo, hi,
                truth);
    CHECK(est >= lo && est <= hi);
    CHECK(fabs(est - truth) <= hi - lo);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void test_quantiles(void)
{
    struct metrics_reg *reg = metrics_reg_new();
    const double *b = metrics_latency_bounds;
    size_t nb = metrics_latency_nbounds;
    struct metric *h = metrics_define(reg, METRIC_HISTOGRAM, "q_seconds", "", NULL, b, nb, NULL);
    double est;
    CHECK(metrics_quantile(h, NULL, 0.5, &est) == -1); /* empty */
    /* A log-normal-ish latency sample from a fixed LCG, sorted to know the true quantiles. */
    enum { N = 20000 };
    static double xs[N];
    uint64_t s = 42;
    for (int i = 0; i < N; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        double u1 = ((s >> 11) + 1.0) / 9007199254740993.0;
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        double u2 = ((s >> 11) + 1.0) / 9007199254740993.0;
        double z = sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
        xs[i] = exp(log(0.3) + 0.9 * z);
        metrics_observe(h, NULL, xs[i]);
    }
    qsort(xs, N, sizeof *xs, cmp_double);
    check_quantile(h, b, nb, 0.5, xs[N / 2]);
    check_quantile(h, b, nb, 0.9, xs[N * 9 / 10]);
    check_quantile(h, b, nb, 0.99, xs[N * 99 / 100]);
    CHECK(metrics_quantile(h, NULL, 1.5, &est) == -1);
    CHECK(metrics_quantile(h, NULL, -0.1, &est) == -1);
    CHECK(metrics_quantile(NULL, NULL, 0.5, &est) == -1);
    /* Uniform 0..1: interpolation should land close to the truth, not just in the bucket. */
    struct metric *u = metrics_define(reg, METRIC_HISTOGRAM, "u_seconds", "", "k", b, nb, NULL);
    for (int i = 0; i < 10000; i++)
        metrics_observe(u, METRICS_L("a"), (i + 0.5) / 10000.0);
    CHECK(metrics_quantile(u, METRICS_L("a"), 0.5, &est) == 0);
    CHECK(fabs(est - 0.5) < 0.01);
    CHECK(metrics_quantile(u, METRICS_L("a"), 0.99, &est) == 0);
    CHECK(fabs(est - 0.99) < 0.01);
    CHECK(metrics_quantile(u, METRICS_L("missing"), 0.5, &est) == -1);
    /* Everything beyond the last bound: the answer is that bound. */
    struct metric *big = metrics_define(reg, METRIC_HISTOGRAM, "big_seconds", "", NULL, b, nb,
                                        NULL);
    metrics_observe(big, NULL, 1000);
    metrics_observe(big, NULL, NAN); /* ignored */
    CHECK(metrics_quantile(big, NULL, 0.5, &est) == 0);
    CHECK(est == b[nb - 1]);
    CHECK_INT(metrics_hist_count(big, NULL, NULL), 1);
    metrics_reg_free(reg);
}

static void test_error_window(void)
{
    struct metrics_reg *reg = metrics_reg_new();
    int64_t t0 = 1700000000000LL;
    CHECK(metrics_window_rate(reg, t0) == 0);
    metrics_window_note(reg, t0, 4, 0);
    metrics_window_note(reg, t0 + 1500, 4, 2);
    CHECK(fabs(metrics_window_rate(reg, t0 + 2000) - 0.25) < 1e-12);
    /* 299 s after the second note it still counts; the first (at t0) has left the window. */
    metrics_window_note(reg, t0 + 200000, 2, 2);
    CHECK(fabs(metrics_window_rate(reg, t0 + 300500) - 4.0 / 6) < 1e-12);
    /* A slot reused a full window later starts from zero. */
    metrics_window_note(reg, t0 + 300000, 1, 1);
    CHECK(fabs(metrics_window_rate(reg, t0 + 300000) - (2 + 1 + 2) / 7.0) < 1e-12);
    CHECK(metrics_window_rate(reg, t0 + 2000000) == 0);
    metrics_reg_free(reg);
}

static void test_product_metrics(void)
{
    metrics_shutdown(); /* start clean */
    for (int i = 0; i < 8; i++)
        metrics_turn(i < 4 ? 0.3 : 0.7);
    metrics_error("States.Timeout");
    metrics_error("ModelThrottled");
    metrics_model_latency("offline", 0.003);
    metrics_model_latency("bedrock", 1.2);
    metrics_action("create_support_ticket", "ok", 0.04);
    metrics_action("create_support_ticket", "failed", 0.2);
    metrics_tokens(120, 45);
    metrics_tokens(30, 0);
    metrics_conversation_duration(95);
    metrics_queue_depths(3, 1);
    metrics_http_request("/chat", 200);
    metrics_http_request("/chat", 200);
    metrics_http_request("/sessions/{id}", 404);
    char *text;
    CHECK(metrics_render_prometheus(&text) == 0);
    struct parsed p;
    int rc = prom_parse(text, &p);
    if (rc)
        fprintf(stderr, "parse error: %s\n", p.error);
    CHECK(rc == 0);
    static const struct {
        const char *name, *type;
    } want[] = {
        {METRIC_TURNS_TOTAL, "counter"},
        {METRIC_TURN_DURATION, "histogram"},
        {METRIC_MODEL_LATENCY, "histogram"},
        {METRIC_TOOL_DURATION, "histogram"},
        {METRIC_ACTIONS_TOTAL, "counter"},
        {METRIC_ERRORS_TOTAL, "counter"},
        {METRIC_TOKENS_TOTAL, "counter"},
        {METRIC_CONVERSATION_DURATION, "histogram"},
        {METRIC_QUEUE_DEPTH, "gauge"},
        {METRIC_DLQ_DEPTH, "gauge"},
        {METRIC_HTTP_REQUESTS_TOTAL, "counter"},
        {METRIC_ERROR_RATE, "gauge"},
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        struct family *f = fam_find(&p, want[i].name);
        CHECK(f && f->has_help && !strcmp(f->type, want[i].type));
    }
    CHECK(sample_get(&p, METRIC_TURNS_TOTAL, NULL, NULL) == 8);
    CHECK(sample_get(&p, METRIC_TURN_DURATION "_count", NULL, NULL) == 8);
    CHECK(sample_get(&p, METRIC_TURN_DURATION "_bucket", NULL, "0.5") == 4);
    CHECK(sample_get(&p, METRIC_ERRORS_TOTAL, "code=\"States.Timeout\"", NULL) == 1);
    CHECK(sample_get(&p, METRIC_ERROR_RATE, NULL, NULL) == 0.25);
    CHECK(sample_get(&p, METRIC_TOKENS_TOTAL, "direction=\"in\"", NULL) == 150);
    CHECK(sample_get(&p, METRIC_TOKENS_TOTAL, "direction=\"out\"", NULL) == 45);
    CHECK(sample_get(&p, METRIC_ACTIONS_TOTAL,
                     "tool=\"create_support_ticket\",status=\"failed\"", NULL) == 1);
    CHECK(sample_get(&p, METRIC_TOOL_DURATION "_count", "tool=\"create_support_ticket\"",
                     NULL) == 2);
    CHECK(sample_get(&p, METRIC_MODEL_LATENCY "_bucket", "provider=\"bedrock\"", "1") == 0);
    CHECK(sample_get(&p, METRIC_MODEL_LATENCY "_bucket", "provider=\"bedrock\"", "2.5") == 1);
    CHECK(sample_get(&p, METRIC_CONVERSATION_DURATION "_bucket", NULL, "60") == 0);
    CHECK(sample_get(&p, METRIC_CONVERSATION_DURATION "_bucket", NULL, "120") == 1);
    CHECK(sample_get(&p, METRIC_CONVERSATION_DURATION "_bucket", NULL, "+Inf") == 1);
    CHECK(strstr(text, "e+") == NULL); /* bounds print as plain decimals */
    CHECK(sample_get(&p, METRIC_QUEUE_DEPTH, NULL, NULL) == 3);
    CHECK(sample_get(&p, METRIC_DLQ_DEPTH, NULL, NULL) == 1);
    CHECK(sample_get(&p, METRIC_HTTP_REQUESTS_TOTAL, "route=\"/chat\",status=\"200\"", NULL) ==
          2);
    CHECK(sample_get(&p, METRIC_HTTP_REQUESTS_TOTAL,
                     "route=\"/sessions/{id}\",status=\"404\"", NULL) == 1);
    /* p50 of the turn latencies 0.2..0.9 for the console. */
    double p50;
    CHECK(metrics_quantile(metrics_find(metrics_default(), METRIC_TURN_DURATION), NULL, 0.5,
                           &p50) == 0);
    CHECK(p50 >= 0.25 && p50 <= 1);
    parsed_free(&p);
    free(text);
    metrics_shutdown();
}

/* ------------------------------------------------------------------------------------------ */
/* EMF                                                                                        */
/* ------------------------------------------------------------------------------------------ */

/* Checks the structure the EMF specification requires; returns NULL or what is wrong. */
static const char *emf_validate(json_t *root)
{
    if (!json_is_object(root))
        return "root is not an object";
    json_t *aws = json_object_get(root, "_aws");
    if (!json_is_object(aws))
        return "_aws missing";
    json_t *ts = json_object_get(aws, "Timestamp");
    if (!json_is_integer(ts) || json_integer_value(ts) < 0)
        return "Timestamp must be a non-negative integer of epoch ms";
    json_t *cwm = json_object_get(aws, "CloudWatchMetrics");
    if (!json_is_array(cwm) || json_array_size(cwm) == 0)
        return "CloudWatchMetrics must be a non-empty array";
    size_t i;
    json_t *dir;
    json_array_foreach(cwm, i, dir)
    {
        json_t *ns = json_object_get(dir, "Namespace");
        if (!json_is_string(ns) || json_string_length(ns) < 1 || json_string_length(ns) > 255)
            return "Namespace must be a 1..255 character string";
        json_t *dims = json_object_get(dir, "Dimensions");
        if (!json_is_array(dims))
            return "Dimensions must be an array";
        size_t j;
        json_t *set;
        json_array_foreach(dims, j, set)
        {
            if (!json_is_array(set) || json_array_size(set) > 30)
                return "a DimensionSet must be an array of at most 30 keys";
            size_t k;
            json_t *key;
            json_array_foreach(set, k, key)
            {
                if (!json_is_string(key))
                    return "dimension key is not a string";
                if (!json_is_string(json_object_get(root, json_string_value(key))))
                    return "dimension key has no string member at the root";
            }
        }
        json_t *metrics = json_object_get(dir, "Metrics");
        if (!json_is_array(metrics) || json_array_size(metrics) < 1 ||
            json_array_size(metrics) > 100)
            return "Metrics must be an array of 1..100 definitions";
        json_t *def;
        json_array_foreach(metrics, j, def)
        {
            json_t *name = json_object_get(def, "Name");
            if (!json_is_string(name))
                return "MetricDefinition without a Name";
            json_t *unit = json_object_get(def, "Unit");
            if (unit && !json_is_string(unit))
                return "Unit is not a string";
            const char *key;
            json_t *v;
            json_object_foreach(def, key, v)
            {
                if (strcmp(key, "Name") && strcmp(key, "Unit") && strcmp(key, "StorageResolution"))
                    return "MetricDefinition has an unknown member";
            }
            json_t *val = json_object_get(root, json_string_value(name));
            if (!json_is_number(val) && !json_is_array(val))
                return "metric has no numeric member at the root";
        }
        const char *key;
        json_t *v;
        json_object_foreach(dir, key, v)
        {
            if (strcmp(key, "Namespace") && strcmp(key, "Dimensions") && strcmp(key, "Metrics"))
                return "MetricDirective has an unknown member";
        }
    }
    return NULL;
}

static void test_emf_line(void)
{
    struct metrics_emf_dim dims[] = {{"Service", "parley"}, {"Tool", "create_support_ticket"}};
    struct metrics_emf_value vals[] = {{"Latency", "Milliseconds", 12.5},
                                       {"Calls", "Count", 3},
                                       {"Other", NULL, 0}};
    struct metrics_emf_dim props[] = {{"traceId", "1-5759e988-bd862e3fe1be46a994272793"}};
    char *line = NULL;
    struct err e;
    err_clear(&e);
    CHECK(metrics_emf_line("Parley", dims, 2, vals, 3, props, 1, 1700000000123LL, &line, &e) ==
          0);
    CHECK(line && !strchr(line, '\n'));
    json_error_t je;
    json_t *root = json_loads(line ? line : "", 0, &je);
    const char *why = emf_validate(root);
    if (why)
        fprintf(stderr, "EMF invalid: %s: %s\n", why, line);
    CHECK(why == NULL);
    json_t *aws = json_object_get(root, "_aws");
    CHECK(json_integer_value(json_object_get(aws, "Timestamp")) == 1700000000123LL);
    json_t *dir = json_array_get(json_object_get(aws, "CloudWatchMetrics"), 0);
    CHECK_STR(json_string_value(json_object_get(dir, "Namespace")), "Parley");
    json_t *set = json_array_get(json_object_get(dir, "Dimensions"), 0);
    CHECK_INT(json_array_size(set), 2);
    CHECK_STR(json_string_value(json_array_get(set, 1)), "Tool");
    json_t *m2 = json_array_get(json_object_get(dir, "Metrics"), 2);
    CHECK_STR(json_string_value(json_object_get(m2, "Unit")), "None");
    CHECK(json_number_value(json_object_get(root, "Latency")) == 12.5);
    CHECK(json_number_value(json_object_get(root, "Calls")) == 3);
    CHECK_STR(json_string_value(json_object_get(root, "Tool")), "create_support_ticket");
    CHECK_STR(json_string_value(json_object_get(root, "traceId")),
              "1-5759e988-bd862e3fe1be46a994272793");
    /* The line is written as text (no tree): byte for byte what json_dumps(JSON_COMPACT) wrote of
     * the tree the line used to be built as, members in order, escapes included. */
    json_decref(root);
    free(line);
    struct metrics_emf_dim odd[] = {{"Service", "parley"}, {"Tool", "create_\"support\"\n_ticket"}};
    struct metrics_emf_value reals[] = {{"Latency", "Milliseconds", 12.5}, {"Count", NULL, 3},
                                        {"Big", "Count", 1e21}, {"Small", "Seconds", 1.25e-7},
                                        {"Neg", "Count", -0.0}};
    struct metrics_emf_dim odd_props[] = {{"traceId", "1-5759e988-bd862e3fe1be46a994272793"},
                                          {"x", "\xc3\xa9 \xc3\xbc"}};
    CHECK(metrics_emf_line("Parley", odd, 2, reals, 5, odd_props, 2, 1700000000123LL, &line, &e) ==
          0);
    CHECK_STR(line, "{\"_aws\":{\"Timestamp\":1700000000123,\"CloudWatchMetrics\":[{\"Namespace\":"
                    "\"Parley\",\"Dimensions\":[[\"Service\",\"Tool\"]],\"Metrics\":[{\"Name\":"
                    "\"Latency\",\"Unit\":\"Milliseconds\"},{\"Name\":\"Count\",\"Unit\":\"None\"},"
                    "{\"Name\":\"Big\",\"Unit\":\"Count\"},{\"Name\":\"Small\",\"Unit\":\"Seconds\"},"
                    "{\"Name\":\"Neg\",\"Unit\":\"Count\"}]}]},\"Service\":\"parley\",\"Tool\":"
                    "\"create_\\\"support\\\"\\n_ticket\",\"Latency\":12.5,\"Count\":3.0,\"Big\":1e21,"
                    "\"Small\":1.2499999999999999e-7,\"Neg\":-0.0,\"traceId\":"
                    "\"1-5759e988-bd862e3fe1be46a994272793\",\"x\":\"\xc3\xa9 \xc3\xbc\"}");
    free(line);
    /* A property must be valid UTF-8 too (the tree used to drop such a member silently). */
    struct metrics_emf_dim bad_prop[] = {{"traceId", "\xc3"}};
    CHECK(metrics_emf_line("Parley", odd, 2, reals, 1, bad_prop, 1, 1, &line, &e) < 0);
    CHECK_STR(e.code, "InvalidMetric");
    /* A property may not repeat a dimension's key. */
    struct metrics_emf_dim clash_prop[] = {{"Tool", "x"}};
    CHECK(metrics_emf_line("Parley", odd, 2, reals, 1, clash_prop, 1, 1, &line, &e) < 0);

    /* No dimensions: one empty DimensionSet. */
    CHECK(metrics_emf_line("Parley", NULL, 0, vals, 1, NULL, 0, 1, &line, &e) == 0);
    root = json_loads(line, 0, &je);
    CHECK(emf_validate(root) == NULL);
    json_decref(root);
    free(line);

    /* What the specification forbids is refused. */
    struct metrics_emf_dim many[31];
    char keys[31][16];
    for (int i = 0; i < 31; i++) {
        snprintf(keys[i], sizeof keys[i], "d%d", i);
        many[i] = (struct metrics_emf_dim){keys[i], "v"};
    }
    struct metrics_emf_value nan_v[] = {{"X", "Count", NAN}};
    struct metrics_emf_value bad_unit[] = {{"X", "Furlongs", 1}};
    struct metrics_emf_value dup[] = {{"X", "Count", 1}, {"X", "Count", 2}};
    struct metrics_emf_value clash[] = {{"Service", "Count", 1}};
    struct metrics_emf_value aws_v[] = {{"_aws", "Count", 1}};
    struct metrics_emf_value empty_name[] = {{"", "Count", 1}};
    static struct metrics_emf_value hundred_one[101];
    for (int i = 0; i < 101; i++)
        hundred_one[i] = (struct metrics_emf_value){keys[i % 31], "Count", 1};
    CHECK(metrics_emf_line("Parley", many, 31, vals, 1, NULL, 0, 1, &line, &e) < 0);
    CHECK_STR(e.code, "InvalidMetric");
    CHECK(line == NULL);
    CHECK(metrics_emf_line("Parley", many, 30, vals, 1, NULL, 0, 1, &line, &e) == 0);
    free(line);
    CHECK(metrics_emf_line("", dims, 1, vals, 1, NULL, 0, 1, &line, &e) < 0);
    CHECK(metrics_emf_line("Parley", dims, 1, vals, 0, NULL, 0, 1, &line, &e) < 0);
    CHECK(metrics_emf_line("Parley", dims, 1, hundred_one, 101, NULL, 0, 1, &line, &e) < 0);
    CHECK(metrics_emf_line("Parley", dims, 1, nan_v, 1, NULL, 0, 1, &line, &e) < 0);
    CHECK(metrics_emf_line("Parley", dims, 1, bad_unit, 1, NULL, 0, 1, &line, &e) < 0);
    CHECK(metrics_emf_line("Parley", dims, 1, dup, 2, NULL, 0, 1, &line, &e) < 0);
    CHECK(metrics_emf_line("Parley", dims, 1, clash, 1, NULL, 0, 1, &line, &e) < 0);
    CHECK(metrics_emf_line("Parley", dims, 1, aws_v, 1, NULL, 0, 1, &line, &e) < 0);
    CHECK(metrics_emf_line("Parley", dims, 1, empty_name, 1, NULL, 0, 1, &line, &e) < 0);
    struct metrics_emf_dim bad_dim[] = {{"K", ""}};
    CHECK(metrics_emf_line("Parley", bad_dim, 1, vals, 1, NULL, 0, 1, &line, &e) < 0);
    struct metrics_emf_dim bad_utf8[] = {{"K", "\xc3"}};
    CHECK(metrics_emf_line("Parley", bad_utf8, 1, vals, 1, NULL, 0, 1, &line, &e) < 0);
}

static void test_emf_turn(void)
{
    FILE *f = tmpfile();
    struct metrics_turn_emf t = {.turn_ms = 812.5,
                                 .model_ms = 640,
                                 .tokens_in = 1200,
                                 .tokens_out = 85,
                                 .tools = 1,
                                 .provider = "offline",
                                 .session_id = "s-1",
                                 .trace_id = "1-5759e988-bd862e3fe1be46a994272793"};
    CHECK(metrics_emf_turn(f, &t) == 0);
    t.error = 1;
    t.provider = NULL;
    CHECK(metrics_emf_turn(f, &t) == 0);
    rewind(f);
    char buf[4096];
    int lines = 0;
    while (fgets(buf, sizeof buf, f)) {
        lines++;
        CHECK(buf[strlen(buf) - 1] == '\n');
        json_error_t je;
        json_t *root = json_loads(buf, 0, &je);
        CHECK(emf_validate(root) == NULL);
        CHECK(json_number_value(json_object_get(root, "TurnLatency")) == 812.5);
        CHECK(json_number_value(json_object_get(root, "TokensIn")) == 1200);
        CHECK(json_number_value(json_object_get(root, "ToolCount")) == 1);
        CHECK(json_number_value(json_object_get(root, "Errors")) == (lines == 2));
        CHECK_STR(json_string_value(json_object_get(root, "Provider")),
                  lines == 1 ? "offline" : "unknown");
        CHECK_STR(json_string_value(json_object_get(root, "sessionId")), "s-1");
        json_decref(root);
    }
    CHECK_INT(lines, 2);
    fclose(f);
}

/* ------------------------------------------------------------------------------------------ */
/* Benchmark (printed, not asserted)                                                          */
/* ------------------------------------------------------------------------------------------ */

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

struct bench {
    struct metric *c, *h;
    double ns;
};

static void *bench_thread(void *arg)
{
    struct bench *b = arg;
    enum { N = 200000 };
    double t0 = now_ns();
    for (int i = 0; i < N; i++)
        metrics_counter_add(b->c, METRICS_L("create_support_ticket", "ok"), 1);
    b->ns = (now_ns() - t0) / N;
    return NULL;
}

static void test_benchmark(void)
{
    struct metrics_reg *reg = metrics_reg_new();
    struct metric *c = metrics_define(reg, METRIC_COUNTER, "b_total", "", "tool,status", NULL, 0,
                                      NULL);
    struct metric *h = metrics_define(reg, METRIC_HISTOGRAM, "b_seconds", "", "provider",
                                      metrics_latency_bounds, metrics_latency_nbounds, NULL);
    enum { N = 200000 };
    double t0 = now_ns();
    for (int i = 0; i < N; i++)
        metrics_counter_add(c, METRICS_L("create_support_ticket", "ok"), 1);
    double t1 = now_ns();
    struct metric_series *s = metrics_series(c, METRICS_L("create_support_ticket", "ok"));
    for (int i = 0; i < N; i++)
        metrics_series_add(s, 1);
    double t2 = now_ns();
    for (int i = 0; i < N; i++)
        metrics_observe(h, METRICS_L("bedrock"), 0.001 * (i % 2000));
    double t3 = now_ns();
    struct bench b[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        b[i] = (struct bench){c, h, 0};
        pthread_create(&th[i], NULL, bench_thread, &b[i]);
    }
    double worst = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        if (b[i].ns > worst)
            worst = b[i].ns;
    }
    printf("# bench: counter_add with 2 labels %.1f ns/op, cached series add %.1f ns/op, "
           "histogram observe %.1f ns/op, counter_add 4 threads contended %.1f ns/op (worst "
           "thread)\n",
           (t1 - t0) / N, (t2 - t1) / N, (t3 - t2) / N, worst);
    CHECK(metrics_value(c, METRICS_L("create_support_ticket", "ok")) == 2.0 * N + THREADS * N);
    metrics_reg_free(reg);
}

int main(void)
{
    xmalloc_init();
    RUN(test_parser_rejects);
    RUN(test_define_validation);
    RUN(test_concurrent_values);
    RUN(test_escaping);
    RUN(test_caps);
    RUN(test_quantiles);
    RUN(test_error_window);
    RUN(test_product_metrics);
    RUN(test_emf_line);
    RUN(test_emf_turn);
    RUN(test_benchmark);
    return check_summary();
}
