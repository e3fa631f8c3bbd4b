/*
 * metrics.h - the metrics half of the telemetry port: a thread-safe registry of counters, gauges
 * and fixed-bucket histograms with small label sets, rendered as Prometheus text (GET /metrics)
 * and as CloudWatch Embedded Metric Format log lines.
 *
 * Recording is lock-free on the hot path: a series (one combination of label values) is found
 * with a hash probe over atomically published pointers and updated with atomic adds; only the
 * first sighting of a new label combination takes the metric's mutex. Each metric holds at most
 * METRICS_MAX_SERIES series; further combinations are folded into one series whose label values
 * are all "_overflow", and values that are empty, longer than METRICS_LABEL_VALUE_MAX bytes or
 * not UTF-8 are recorded as "_invalid", so no input can grow memory without bound.
 *
 * Error rate: parley_errors_total / parley_turns_total over any range (in PromQL,
 * rate(parley_errors_total[5m]) / rate(parley_turns_total[5m])). The gauge parley_error_rate
 * gives the same ratio over the last 5 minutes, computed at render time from per-second slots fed
 * by metrics_turn() and metrics_error().
 */
#ifndef PARLEY_METRICS_H
#define PARLEY_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/err.h"

/* ---- Names of the metrics Parley records ---- */
#define METRIC_TURNS_TOTAL "parley_turns_total"
#define METRIC_TURN_DURATION "parley_turn_duration_seconds"
#define METRIC_MODEL_LATENCY "parley_model_latency_seconds" /* label provider */
#define METRIC_TOOL_DURATION "parley_tool_duration_seconds" /* label tool */
#define METRIC_ACTIONS_TOTAL "parley_actions_total"         /* labels tool, status */
#define METRIC_ERRORS_TOTAL "parley_errors_total"           /* label code */
#define METRIC_TOKENS_TOTAL "parley_tokens_total"           /* label direction=in|out */
#define METRIC_CONVERSATION_DURATION "parley_conversation_duration_seconds"
#define METRIC_QUEUE_DEPTH "parley_queue_depth"
#define METRIC_DLQ_DEPTH "parley_dlq_depth"
#define METRIC_HTTP_REQUESTS_TOTAL "parley_http_requests_total" /* labels route, status */
#define METRIC_ERROR_RATE "parley_error_rate"
#define METRIC_BUDGET_TODAY "parley_budget_tokens_today"      /* whole server, UTC day */
#define METRIC_BUDGET_REFUSALS "parley_budget_refusals_total" /* label scope=session|daily */

/* The Content-Type of metrics_render_prometheus() output. */
#define METRICS_PROMETHEUS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* ---- Limits ---- */
#define METRICS_MAX_LABELS 4         /* label names per metric */
#define METRICS_MAX_SERIES 256       /* label-value combinations per metric */
#define METRICS_MAX_BUCKETS 32       /* finite histogram bounds */
#define METRICS_LABEL_VALUE_MAX 128  /* bytes per label value */
#define METRICS_ERROR_WINDOW_SEC 300 /* the parley_error_rate window */

struct metrics_reg;   /* a registry: owns its metrics */
struct metric;        /* one metric family, owned by its registry */
struct metric_series; /* one label combination of a metric, owned by the metric */

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

/* Label values for one call: METRICS_L("create_support_ticket", "ok"). The array must hold as
 * many values as the metric has label names (none for an unlabelled metric: pass NULL). */
#define METRICS_L(...) ((const char *const[]){__VA_ARGS__})

/* ---- Registries ---- */

/* Returns a new empty registry owned by the caller (release with metrics_reg_free()). */
struct metrics_reg *metrics_reg_new(void);

/* Frees the registry and every metric in it; pointers to its metrics become invalid. NULL is a
 * no-op. The caller guarantees no thread is still recording into it. */
void metrics_reg_free(struct metrics_reg *reg);

/* The process-wide registry, created on first use with Parley's metrics registered. Never NULL. */
struct metrics_reg *metrics_default(void);

/* Frees the process-wide registry (at clean shutdown, so leak checkers stay quiet). A later
 * metrics_default() creates a fresh one. No thread may be recording while this runs. */
void metrics_shutdown(void);

/* ---- Defining metrics ---- */

/* Registers a metric. name must match [a-zA-Z_:][a-zA-Z0-9_:]* and be new in reg; labels is a
 * comma-separated list of label names ("tool,status"), each [a-zA-Z_][a-zA-Z0-9_]*, not
 * starting with "__" and not "le", at most METRICS_MAX_LABELS, or NULL/"" for none. For a
 * histogram, bounds are the finite upper bounds, strictly increasing, 1..METRICS_MAX_BUCKETS of
 * them (+Inf is implicit); pass NULL/0 otherwise. Returns the metric (owned by reg), or NULL with
 * err "InvalidMetric" naming what is wrong. Thread-safe. */
struct metric *metrics_define(struct metrics_reg *reg, enum metric_type type, const char *name,
                              const char *help, const char *labels, const double *bounds,
                              size_t nbounds, struct err *err);

/* Returns the metric called name in reg, or NULL. */
struct metric *metrics_find(struct metrics_reg *reg, const char *name);

/* Default histogram bounds in seconds (5 ms .. 60 s), for latencies. */
extern const double metrics_latency_bounds[];
extern const size_t metrics_latency_nbounds;

/* ---- Recording (hot path, lock-free once a series exists) ----
 * values holds one label value per label name of m (NULL when m has none). A NULL m is a no-op,
 * so callers need not check whether telemetry is on. Recording into a metric of another type is
 * our bug and asserts. */

/* Returns the series for these label values, creating it on first use; it lives as long as m.
 * Cache it to skip the lookup on very hot paths. Never NULL for a non-NULL m. */
struct metric_series *metrics_series(struct metric *m, const char *const *values);

void metrics_counter_add(struct metric *m, const char *const *values, uint64_t n);
void metrics_gauge_set(struct metric *m, const char *const *values, double v);
void metrics_gauge_add(struct metric *m, const char *const *values, double delta);
void metrics_observe(struct metric *m, const char *const *values, double v);

void metrics_series_add(struct metric_series *s, uint64_t n);
void metrics_series_set(struct metric_series *s, double v);
void metrics_series_observe(struct metric_series *s, double v);

/* ---- Reading ---- */

/* Current value of a counter or gauge series; 0 if the series was never recorded. */
double metrics_value(struct metric *m, const char *const *values);

/* Observation count and sum of a histogram series, or of all its series when values is NULL. */
uint64_t metrics_hist_count(struct metric *m, const char *const *values, double *sum);

/* Estimates quantile q (0..1) of a histogram the way PromQL's histogram_quantile() does: find
 * the bucket holding rank q*count and interpolate linearly inside it (the first bucket starts at
 * 0); a rank in the +Inf bucket yields the largest finite bound. values selects one series, or
 * NULL sums all series. The error is at most the width of the bucket holding the answer.
 * Returns 0 with *out set, or -1 when there are no observations, q is outside 0..1 or m is not
 * a histogram. */
int metrics_quantile(struct metric *m, const char *const *values, double q, double *out);

/* ---- Prometheus text exposition format 0.0.4 ---- */

/* Renders every metric of reg: per family a HELP and a TYPE line, then its series sorted by
 * label values; histograms as cumulative _bucket{le=...} lines ending with le="+Inf", then _sum
 * and _count. Returns 0 and sets *out to a NUL-terminated string owned by the caller (free()),
 * with its length in *len if len is not NULL. Never fails (allocation failure aborts). */
int metrics_reg_render(struct metrics_reg *reg, char **out, size_t *len);

/* metrics_reg_render() of the process-wide registry, for GET /metrics. */
int metrics_render_prometheus(char **out);

/* ---- Parley's metrics on the process-wide registry ----
 * Each is safe from any thread, costs a few atomic adds, and records into metrics_default(). */

/* A finished turn: parley_turns_total += 1, parley_turn_duration_seconds, error-rate window. */
void metrics_turn(double seconds);
/* A turn-level error (code such as "States.Timeout"): parley_errors_total{code}, window. */
void metrics_error(const char *code);
/* One model call: parley_model_latency_seconds{provider}. */
void metrics_model_latency(const char *provider, double seconds);
/* One action run: parley_tool_duration_seconds{tool}, parley_actions_total{tool,status}. */
void metrics_action(const char *tool, const char *status, double seconds);
/* Tokens of a model call: parley_tokens_total{direction="in"|"out"}. */
void metrics_tokens(uint64_t in, uint64_t out);
/* Time from the conversation's first to its latest activity, observed once per turn. */
void metrics_conversation_duration(double seconds);
/* Token budgets (agent/budget.h): sets parley_budget_tokens_today to the server's model tokens
 * of the UTC day as the store counts them (tokens_today < 0 leaves it), and when refused_scope is
 * not NULL ("session" or "daily") counts a turn refused for it in parley_budget_refusals_total. */
void metrics_budget(double tokens_today, const char *refused_scope);
/* Sets parley_queue_depth and parley_dlq_depth. */
void metrics_queue_depths(double queue, double dlq);
/* One HTTP request: parley_http_requests_total{route,status}. Pass the route pattern
 * ("/sessions/{id}"), never the raw path, to keep the label set small. */
void metrics_http_request(const char *route, int status);

/* The parley_error_rate window, exposed with an explicit clock for tests: note turns and errors
 * at now_ms, and read errors/turns over the METRICS_ERROR_WINDOW_SEC seconds ending at now_ms
 * (0 when there were no turns). */
void metrics_window_note(struct metrics_reg *reg, int64_t now_ms, unsigned turns, unsigned errors);
double metrics_window_rate(struct metrics_reg *reg, int64_t now_ms);

/* ---- CloudWatch Embedded Metric Format ---- */

/* One metric value of an EMF line. unit is one of the CloudWatch units ("Seconds",
 * "Milliseconds", "Count", "Bytes", "None", ...); NULL means "None". */
struct metrics_emf_value {
    const char *name;
    const char *unit;
    double value;
};

/* A dimension, or a plain property such as a trace id: a string member at the root. */
struct metrics_emf_dim {
    const char *key;
    const char *value;
};

/* Builds one EMF document: {"_aws":{"Timestamp":ts_ms,"CloudWatchMetrics":[{"Namespace":ns,
 * "Dimensions":[[dim keys...]],"Metrics":[{"Name","Unit"}...]}]}, dims and values as top-level
 * members, and props (plain properties, not dimensions) too. Validates what the specification
 * requires: namespace 1..255 chars, at most 30 dimensions, 1..100 metrics, names 1..255 chars,
 * no member defined twice or named "_aws", finite values, a known unit. Returns 0 and sets *out
 * to one line of compact JSON without a newline, owned by the caller (free()); or -1 with err
 * "InvalidMetric". */
int metrics_emf_line(const char *ns, const struct metrics_emf_dim *dims, size_t ndims,
                     const struct metrics_emf_value *vals, size_t nvals,
                     const struct metrics_emf_dim *props, size_t nprops, int64_t ts_ms, char **out,
                     struct err *err);

/* What one turn measured, for metrics_emf_turn(). Strings may be NULL. */
struct metrics_turn_emf {
    double turn_ms;         /* whole turn */
    double model_ms;        /* sum of model calls */
    uint64_t tokens_in;     /* prompt tokens */
    uint64_t tokens_out;    /* completion tokens */
    unsigned tools;         /* tool calls run */
    int error;              /* 1 if the turn failed */
    const char *provider;   /* dimension Provider, e.g. "offline" */
    const char *session_id; /* property, not a dimension */
    const char *trace_id;   /* property, not a dimension */
};

/* Writes one EMF line (namespace "Parley", dimensions Service="parley" and Provider) for a turn
 * to f (stdout when NULL), followed by a newline, under the stream's lock. stdout is flushed at
 * once (Lambda's log stream); another stream is flushed by stdio when its buffer fills and when it
 * is closed. Returns 0, or -1 on a write error. */
int metrics_emf_turn(FILE *f, const struct metrics_turn_emf *t);

#endif
