/*
 * trace.h - the tracing half of the telemetry port, in the AWS X-Ray model: a segment per
 * request with nested subsegments (workflow states, model calls, store calls, queue hops),
 * `X-Amzn-Trace-Id` parsing and propagation, export of finished segments to an X-Ray daemon over
 * UDP, and an in-memory ring of recent segments behind GET /traces/{traceId}.
 *
 * Lifecycle of a segment:
 *   seg = trace_begin("parley", header)       caller holds seg; never NULL
 *     sub = trace_sub_begin(seg, "CallModel", "remote")   NULL if seg is NULL or full
 *       (nest further with trace_sub_begin(sub, ...); any thread, the tree has one lock)
 *     trace_sub_end(sub, err_or_NULL)         closes sub; sub stays readable until the
 *                                             segment is freed, but is dead to the caller
 *   trace_end(seg, http_status)               closes seg and any still-open subsegment,
 *                                             stores and exports the document; seg is dead
 * The tree is freed when the segment has ended and every subsegment begun in it has ended, so a
 * worker that ends its subsegment after the request finished touches valid memory (its timing
 * is simply not in the already-sent document). Every function accepts a NULL context and then
 * does nothing, so code can be traced or not without branches.
 *
 * Times are epoch seconds with microseconds, taken as the wall clock at trace_begin plus the
 * monotonic time since, so nested timings are monotonic even if the wall clock steps.
 */
#ifndef PARLEY_TRACE_H
#define PARLEY_TRACE_H

#include <jansson.h>
#include <stddef.h>

#include "base/err.h"

#define TRACE_ID_LEN 35           /* "1-" 8 hex "-" 24 hex */
#define TRACE_SEG_ID_LEN 16       /* 64-bit id in hex */
#define TRACE_HEADER_MAX 1024     /* longest X-Amzn-Trace-Id value accepted or written */
#define TRACE_LINEAGE_MAX 256     /* longest Lineage value carried along */
#define TRACE_MAX_SUBSEGMENTS 256 /* per segment tree; more are dropped and counted */
#define TRACE_MAX_ANNOTATIONS 16  /* per segment or subsegment */
#define TRACE_NAME_MAX 200        /* X-Ray's limit for names */
#define TRACE_UDP_MAX 65000       /* largest datagram sent to the daemon */
#define TRACE_STORE_DEFAULT 1000  /* segments kept for GET /traces/{id} */

/* ---- The X-Amzn-Trace-Id header ---- */

struct trace_header {
    char root[TRACE_ID_LEN + 1];         /* trace id, lower-case hex; "" when absent */
    char parent[TRACE_SEG_ID_LEN + 1];   /* upstream segment id; "" when absent */
    int sampled;                         /* 1, 0, or -1 when absent or "?" (we decide) */
    char lineage[TRACE_LINEAGE_MAX + 1]; /* Lineage value passed through; "" when absent */
};

/* Parses a header value such as "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;
 * Sampled=1". Fields may come in any order with spaces or tabs around them, keys are matched
 * without regard to case, empty fields are skipped, and unknown ones (Self, ...) are ignored.
 * Fails on: no Root, a malformed Root, Parent or Sampled, a repeated field, a field without '=',
 * or a value longer than TRACE_HEADER_MAX. Returns 0, or -1 with err "InvalidTraceHeader" saying
 * which field is wrong; out is then cleared. */
int trace_header_parse(const char *value, struct trace_header *out, struct err *err);

/* Returns 1 if s is a well-formed trace id (version 1, 8 + 24 hex digits), else 0. */
int trace_id_valid(const char *s);

/* Returns 1 if s is 16 hex digits, else 0. */
int trace_seg_id_valid(const char *s);

/* Writes a new trace id "1-{epoch seconds, 8 hex}-{96 random bits, 24 hex}" into out. */
void trace_id_new(char out[TRACE_ID_LEN + 1]);

/* Writes a new random 64-bit segment id as 16 hex digits into out. */
void trace_seg_id_new(char out[TRACE_SEG_ID_LEN + 1]);

/* ---- Segments and subsegments ---- */

struct trace_ctx; /* a segment or a subsegment; owned by its segment tree */

/* Starts a segment named name (sanitized to X-Ray's character set, cut to TRACE_NAME_MAX).
 * header is the incoming X-Amzn-Trace-Id value or NULL: a valid one continues that trace
 * (parent_id, sampling decision and Lineage kept); a malformed one is logged, reported in err
 * (code "InvalidTraceHeader") when err is not NULL, and a new trace is started. Returns the
 * segment, owned by the caller until trace_end(); never NULL. */
struct trace_ctx *trace_begin(const char *name, const char *header, struct err *err);

/* Starts a subsegment of parent (a segment or a subsegment). ns is "remote" (a call to another
 * service, such as a model API), "aws" (an AWS SDK call) or NULL (local work, such as a
 * workflow state). Returns it, or NULL when parent is NULL, its segment has ended, or the tree
 * already holds TRACE_MAX_SUBSEGMENTS (the drop is counted in the segment's metadata). */
struct trace_ctx *trace_sub_begin(struct trace_ctx *parent, const char *name, const char *ns);

/* Ends a subsegment. With e set, records the error as the cause (type = e->code, message =
 * e->message) and flags it: throttling codes (containing "Throttl" or "TooManyRequests") set
 * throttle and error, client errors (codes starting "Invalid", "Validation", "NotFound",
 * "Unauthorized", "Forbidden", "Conflict", "PayloadTooLarge") set error, anything else sets
 * fault. A second end is ignored. After this call the caller must not use sub again. */
void trace_sub_end(struct trace_ctx *sub, const struct err *e);

/* Records an error on any context without ending it; same flag mapping as trace_sub_end(). */
void trace_set_error(struct trace_ctx *c, const struct err *e);

/* Sets the http.request block of a segment (any argument may be NULL; each is cut to 2 KiB). */
void trace_set_request(struct trace_ctx *seg, const char *method, const char *url,
                       const char *user_agent, const char *client_ip);

/* Adds a string annotation (indexed by X-Ray, e.g. session_id). Characters of key outside
 * [A-Za-z0-9_] become '_'; values are cut to 256 bytes; at most TRACE_MAX_ANNOTATIONS. */
void trace_annotate(struct trace_ctx *c, const char *key, const char *value);

/* Ends the segment: closes open subsegments at this instant, records http.response.status and
 * flags by status (429 throttle + error, other 4xx error, 5xx fault; 0 records no response),
 * keeps the document in the trace store, and sends it to the daemon when export is configured
 * and the trace is sampled. The caller must not use seg (or its subsegments) afterwards. */
void trace_end(struct trace_ctx *seg, int http_status);

/* ---- Reading a context (valid while the caller may still use c) ---- */

/* The trace id ("" for NULL). */
const char *trace_id_of(const struct trace_ctx *c);

/* This segment's or subsegment's id ("" for NULL). */
const char *trace_ctx_id(const struct trace_ctx *c);

/* 1 if the trace is sampled (exported), else 0. */
int trace_sampled(const struct trace_ctx *c);

/* Writes the header value to send downstream from c: "Root=...;Parent={c's id};Sampled=1"
 * (plus ";Lineage=..." when one came in), or with parent 0 the response form "Root=...;
 * Sampled=1". Returns the length, or 0 (buf set to "") for a NULL c or a too-small buf. */
size_t trace_header_format(const struct trace_ctx *c, int parent, char *buf, size_t len);

/* Returns the X-Ray segment document of c's whole segment tree (subsegments nested; open ones
 * marked in_progress) as a new reference owned by the caller, or NULL for NULL. */
json_t *trace_to_json(const struct trace_ctx *c);

/* ---- Export to the X-Ray daemon ---- */

/* Sets the daemon address: "host:port", or the SDK form "udp:host:port tcp:host:port" (the udp
 * part is used). NULL or "" turns export off. Returns 0, or -1 with err "InvalidConfig" (export
 * is then off). Each segment is sent as one datagram: the header line
 * {"format": "json", "version": 1} and a newline, then the document; a document over
 * TRACE_UDP_MAX is sent without its subsegments. */
int trace_export_configure(const char *addr, struct err *err);

struct config;

/* Configures export from the settings PARLEY_XRAY_DAEMON, else AWS_XRAY_DAEMON_ADDRESS, else
 * leaves it off. Returns 0 or -1 as trace_export_configure(). */
int trace_init_from_config(const struct config *c, struct err *err);

/* trace_init_from_config() with the settings loaded from the environment now (tests, tools). */
int trace_init_from_env(struct err *err);

/* Datagrams sent and send failures since start, for tests and the console. */
void trace_export_stats(unsigned long *sent, unsigned long *failed);

/* ---- The trace store (recent segments, for GET /traces/{traceId}) ---- */

/* Sets how many finished segments are kept (0..100000; default TRACE_STORE_DEFAULT), dropping
 * the oldest when shrinking. 0 keeps none (a server whose operator APIs, GET /traces/{id}
 * among them, are off), and a segment that is not exported either is not rendered at all. */
void trace_store_set_capacity(size_t n);

/* Returns {"trace_id": id, "segments": [segment documents, oldest first]} as a new reference
 * owned by the caller, or NULL when no kept segment has that trace id. */
json_t *trace_store_get(const char *trace_id);

/* Number of segments kept. */
size_t trace_store_count(void);

/* Closes the exporter and empties the store (at clean shutdown, and between tests). */
void trace_shutdown(void);

#endif
