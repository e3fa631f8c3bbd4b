/*
 * sfn_int.h - internals shared by the files of src/sfn (not for other modules).
 *
 * The compiled form of a definition: a machine owns a graph of states; Parallel branches and Map
 * processors own graphs of their own. Every field is set at parse time and read-only afterwards.
 */
#ifndef PARLEY_SFN_INT_H
#define PARLEY_SFN_INT_H

#include <jansson.h>
#include <stdint.h>

#include "base/err.h"
#include "base/rand.h"
#include "sfn/jsonpath.h"
#include "sfn/sfn.h"

/* ---- evaluation environment for templates and intrinsics ---- */
struct sfn__env {
    json_t *input;           /* borrowed: `$` */
    json_t *ctx;             /* borrowed: `$$` (may be NULL: treated as {}) */
    struct rand_seeded *rng; /* per-execution random state */
};

/* Writes a version-4 UUID drawn from rng (repeatable under a fixed seed) into out[37]. */
void sfn__uuid(struct rand_seeded *rng, char out[37]);

/* ---- intrinsic functions (intrinsic.c) ---- */
struct sfn__intrinsic;
struct sfn__intrinsic *sfn__intrinsic_compile(const char *text, struct err *err);
void sfn__intrinsic_free(struct sfn__intrinsic *fn);
int sfn__intrinsic_uses_context(const struct sfn__intrinsic *fn);
/* Returns 0 with *out (new ref), or -1 with err code States.IntrinsicFailure (a bad argument), or
 * States.Runtime when a path argument selects nothing ("The function '<the whole call>' had the
 * following error: ...", as AWS words it). */
int sfn__intrinsic_eval(const struct sfn__intrinsic *fn, const struct sfn__env *env, json_t **out,
                        struct err *err);

/* ---- payload templates (tmpl.c) ---- */
enum sfn__tmpl_kind { TM_CONST, TM_OBJECT, TM_ARRAY, TM_PATH, TM_INTRINSIC };
struct sfn__tmpl {
    enum sfn__tmpl_kind kind;
    json_t *value;             /* TM_CONST */
    struct jsonpath *path;     /* TM_PATH */
    struct sfn__intrinsic *fn; /* TM_INTRINSIC */
    size_t n;                  /* TM_OBJECT/TM_ARRAY children */
    char **keys;               /* TM_OBJECT output keys (".$" stripped) */
    struct sfn__tmpl **kids;
    int uses_context;
};
struct sfn_problem_list;
/* Compiles a payload template; problems are appended under `where`. Returns NULL if any. */
struct sfn__tmpl *sfn__tmpl_compile(json_t *tmpl, const char *where, struct sfn_problem_list *pl);
void sfn__tmpl_free(struct sfn__tmpl *t);
/* Evaluates; path_error is the error name for a path that matches nothing. */
int sfn__tmpl_eval(const struct sfn__tmpl *t, const struct sfn__env *env, const char *path_error,
                   json_t **out, struct err *err);

/* ---- a value given by path or intrinsic (ErrorPath, CausePath, ...) ---- */
struct sfn__valsrc {
    struct jsonpath *path;
    struct sfn__intrinsic *fn;
};

/* ---- Choice rules ---- */
/* X-macro lists keep their rows as written. */
/* clang-format off */
enum sfn__op {
#define SFN_CHOICE_OPS(X)                                                                          \
    X(StringEquals) X(StringLessThan) X(StringGreaterThan) X(StringLessThanEquals)                 \
    X(StringGreaterThanEquals) X(StringMatches) X(NumericEquals) X(NumericLessThan)                \
    X(NumericGreaterThan) X(NumericLessThanEquals) X(NumericGreaterThanEquals) X(BooleanEquals)    \
    X(TimestampEquals) X(TimestampLessThan) X(TimestampGreaterThan) X(TimestampLessThanEquals)     \
    X(TimestampGreaterThanEquals) X(IsNull) X(IsPresent) X(IsNumeric) X(IsString) X(IsBoolean)     \
    X(IsTimestamp)
#define X(n) OP_##n,
    SFN_CHOICE_OPS(X)
#undef X
    OP_AND, OP_OR, OP_NOT
};
/* clang-format on */

struct sfn__rule {
    enum sfn__op op;
    struct jsonpath *var;          /* Variable */
    json_t *operand;               /* literal operand (owned) */
    struct jsonpath *operand_path; /* ...Path variant */
    struct sfn__rule *kids;        /* And/Or/Not */
    size_t nkids;
    int next; /* top-level rules: target state index */
};

/* ---- Retry / Catch ---- */
struct sfn__errlist {
    char **names;
    size_t n;
};
struct sfn__retrier {
    struct sfn__errlist errors;
    double interval_s;  /* IntervalSeconds, default 1 */
    long max_attempts;  /* default 3 */
    double backoff;     /* BackoffRate, default 2.0 */
    double max_delay_s; /* MaxDelaySeconds; 0: none */
    int jitter_full;    /* JitterStrategy FULL */
};
struct sfn__catcher {
    struct sfn__errlist errors;
    struct jsonpath *result_path; /* NULL with result_path_null: discard */
    int result_path_null;
    int next;
};

/* ---- state types: the one list (STYLE rule 16). Each row is (enum suffix, ASL name, function
 * suffix); parse.c compiles a type with compile_<fn>() and engine.c runs it with run_<fn>(), both
 * through tables indexed by enum sfn__type built from this list. ---- */
/* clang-format off */
#define SFN_STATE_TYPES(X)                                                                         \
    X(TASK, Task, task) X(PASS, Pass, pass) X(CHOICE, Choice, choice) X(WAIT, Wait, wait)          \
    X(SUCCEED, Succeed, succeed) X(FAIL, Fail, fail) X(PARALLEL, Parallel, parallel)               \
    X(MAP, Map, map)
enum sfn__type {
#define X(id, name, fn) ST_##id,
    SFN_STATE_TYPES(X)
#undef X
    ST__COUNT /* number of state types, not a type */
};
/* clang-format on */
/* Returns the ASL name of a state type ("Task", ...); t must be below ST__COUNT. */
const char *sfn__type_name(enum sfn__type t);
/* Returns the type whose ASL name is name, or -1 when none is (name may be NULL). */
int sfn__type_lookup(const char *name);

struct sfn__graph;

struct sfn__state {
    char *name;
    enum sfn__type type;
    int next;                    /* index of Next in the graph; -1 when End */
    struct jsonpath *input_path; /* NULL + input_path_null: {} ; NULL: $ */
    int input_path_null;
    struct jsonpath *output_path;
    int output_path_null;
    struct jsonpath *result_path;
    int result_path_null;
    struct sfn__tmpl *parameters; /* Parameters / ItemSelector */
    struct sfn__tmpl *result_selector;
    json_t *result;             /* Pass Result (owned) */
    char *resource;             /* Task */
    int resource_is_lambda_arn; /* arn:aws:lambda:...:function:... (history event names) */
    char *resource_type;        /* as Task history events show it: "dynamodb" of */
    char *resource_name;        /* arn:aws:states:::dynamodb:putItem, name "putItem"; else */
                                /* "lambda" and the whole Resource */
    long timeout_s;             /* 0: none */
    struct jsonpath *timeout_path;
    long heartbeat_s;
    struct jsonpath *heartbeat_path;
    struct sfn__retrier *retry;
    size_t nretry;
    struct sfn__catcher *catch_;
    size_t ncatch;
    struct sfn__rule *rules; /* Choice */
    size_t nrules;
    int default_next;   /* -1: none */
    long wait_seconds;  /* Wait: -1 when unused */
    int64_t wait_ts_ms; /* Wait Timestamp; INT64_MIN when unused */
    struct jsonpath *seconds_path, *timestamp_path;
    char *fail_error, *fail_cause; /* Fail */
    struct sfn__valsrc error_src, cause_src;
    struct sfn__graph **branches; /* Parallel */
    size_t nbranches;
    struct sfn__graph *processor; /* Map */
    struct jsonpath *items_path;
    long max_concurrency; /* 0: no limit */
    struct jsonpath *max_concurrency_path;
    long tolerated_count; /* -1: unset */
    double tolerated_pct; /* -1: unset */
    struct jsonpath *tolerated_count_path, *tolerated_pct_path;
    int uses_context; /* some template/intrinsic reads `$$` */
};

struct sfn__graph {
    struct sfn__state *states;
    size_t n;
    int start;
};

struct sfn_machine {
    struct sfn__graph *top;
    long timeout_s; /* 0: none */
    size_t total_states;
};

/* ---- shared helpers (util.c) ---- */
void sfn__problem_add(struct sfn_problem_list *l, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Parses an RFC 3339 timestamp (uppercase T, Z or offset). Returns 0 and nanoseconds since the
 * epoch in *ns, or -1. */
int sfn__parse_timestamp(const char *s, int64_t *sec, int32_t *nsec);
void sfn__format_iso(int64_t ms, char out[32]);
/* Compact JSON size of v in bytes, counting stops once it passes cap. */
size_t sfn__json_size(const json_t *v, size_t cap);
/* Sizes of large containers measured before, so that a value which keeps them (a workflow state
 * carrying a conversation's history from state to state) is not walked again whole at every
 * check. Values are never modified, so a size stays true while its value lives; each entry holds
 * a reference, so its address cannot be reused by another value while it is remembered. */
#define SFN_SIZE_MEMO_MIN 256u  /* bytes from which a container is remembered */
#define SFN_SIZE_MEMO_MAX 8192u /* containers remembered at most (then no more are added) */
/* The sizes of the containers an execution measured, by address (open addressing); each
 * remembered container is referenced, so its address is not reused while the memo lives. Values
 * are never changed once a state produced them, so a size stays right. */
struct sfn__size_memo {
    struct sfn__size_slot {
        json_t *v; /* a remembered container (reference held), or NULL */
        size_t n;  /* its size */
    } * slot;      /* cap entries; NULL until the first container is remembered */
    unsigned cap;  /* a power of two, or 0 */
    unsigned count;
};
/* sfn__json_size, taking remembered sizes from m and remembering the containers below v's top
 * from SFN_SIZE_MEMO_MIN bytes (m may be NULL). */
size_t sfn__json_size_memo(const json_t *v, size_t cap, struct sfn__size_memo *m);
/* Remembers that the container v is n bytes (a reference taken), unless m holds v already or
 * is full; a scalar is not remembered. */
void sfn__size_memo_note(struct sfn__size_memo *m, const json_t *v, size_t n);
/* Drops m's references; m is empty afterwards. */
void sfn__size_memo_release(struct sfn__size_memo *m);
int sfn__error_matches(const struct sfn__errlist *l, const char *error);

/* ---- mock lookup (mock.c) ---- */
/* Returns 0 when the state has no mock, 1 with *ret (new ref) for a Return, 2 with heap strings
 * *error / *cause for a Throw. invocation counts from 0. */
int sfn__mock_respond(const struct sfn_mock_case *c, const char *state, long invocation,
                      json_t **ret, char **error, char **cause);

#endif
