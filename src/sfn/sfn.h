/*
 * sfn.h - the Amazon States Language engine (QueryLanguage JSONPath).
 *
 * Compile once, run many (STYLE rule 15): sfn_machine_parse() validates a definition, reports every
 * problem at once, and compiles it (paths, templates, intrinsics, Choice rules) into an immutable
 * struct sfn_machine. sfn_run() interprets it for one execution; any number of threads may run
 * the same machine at the same time, because an execution keeps all of its state in its own
 * context and never modifies the machine or any JSON value it did not create.
 *
 * Task states call the caller's sfn_task_fn (see sfn_lambda.h for an in-process Lambda
 * resolver, and sfn_mock.h for AWS Step Functions Local mock configurations). Waits and Retry
 * back-off go through the injectable clock in struct sfn_run_opts, so tests never sleep.
 */
#ifndef PARLEY_SFN_H
#define PARLEY_SFN_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

struct sfn_machine;
struct sfn_mock_case;

/* ---- caps ---- */
#define SFN_MAX_DEFINITION_BYTES (1024 * 1024) /* AWS: definition size 1 MiB */
#define SFN_MAX_STATES 10000                   /* states in one definition, branches included */
#define SFN_MAX_NESTING 64                     /* Parallel/Map nesting depth */
#define SFN_PAYLOAD_LIMIT 262144               /* AWS: 256 KiB of UTF-8 per payload */
#define SFN_MAX_TRANSITIONS 1000000            /* state entries per execution, default cap */

/* ---- validation problems ---- */
struct sfn_problem {
    char *where;   /* JSON location, e.g. "/States/Foo/Next" ("" for the document) */
    char *message; /* what is wrong, one sentence */
};

struct sfn_problem_list {
    struct sfn_problem *items;
    size_t count;
    size_t cap;
};

void sfn_problem_list_init(struct sfn_problem_list *l);
void sfn_problem_list_release(struct sfn_problem_list *l);

/* ---- machine ---- */

/* Parses and validates a definition. Returns a new machine (free with sfn_machine_free), or NULL
 * with err code "States.InvalidDefinition" whose message lists every problem ("N problems: where:
 * what; ..."). When problems is not NULL it receives each problem separately (caller releases).
 * A definition with "QueryLanguage": "JSONata" is rejected as not supported yet. */
struct sfn_machine *sfn_machine_parse_ex(const char *definition_json,
                                         struct sfn_problem_list *problems, struct err *err);
struct sfn_machine *sfn_machine_parse(const char *definition_json, struct err *err);
void sfn_machine_free(struct sfn_machine *m); /* NULL ok */

/* Number of states in the machine, branches and Map processors included. */
size_t sfn_machine_state_count(const struct sfn_machine *m);

/* ---- running ---- */

/* Task callback. input is borrowed and must not be modified at any depth (it is the effective
 * input after InputPath and Parameters; it may share values with the state's raw input, which the
 * engine keeps for Retry, Catch, ResultPath and the history). The output may share values with
 * the input: the engine never modifies either, and passes the output on to the next state as it
 * is (after ResultSelector, ResultPath and OutputPath), without copying it. On success set
 * *output to a new reference and return 0. On failure return -1 with err->code = the error name
 * ("States.TaskFailed", "Lambda.ServiceException", "ModelThrottled", ...) and err->message = the
 * cause. Called from the thread that called sfn_run(): inside a scheduler task, Parallel branches
 * and Map iterations run as tasks of their own on that thread (sched_spawn), so callbacks of
 * different branches may be parked at the same time, and one runs only while the others wait. */
typedef int (*sfn_task_fn)(void *ud, const char *resource, json_t *input, json_t **output,
                           struct err *err);

/* The bytes of v's compact JSON text (json_dumps with JSON_COMPACT): what the engine's payload
 * limit (States.DataLimitExceeded) measures. */
size_t sfn_json_size(const json_t *v);

/* For a Task callback whose output holds a large container it already knows the size of (a
 * conversation's window, measured once when it was read): tells the execution running the
 * callback that v, an object or array below the output's top that nobody modifies afterwards,
 * is n bytes of compact JSON (sfn_json_size), so the payload check counts n instead of walking
 * v. The execution takes a reference to v for as long as it runs. Does nothing off a Task
 * callback of sfn_run (on AWS, in a callback on a fiber of its own, in a plain call) or for a
 * scalar. The caller answers for n: a wrong n makes the payload check wrong. */
void sfn_size_note(const json_t *v, size_t n);

typedef int64_t (*sfn_now_fn)(void *ud);            /* milliseconds since the Unix epoch */
typedef void (*sfn_sleep_fn)(void *ud, int64_t ms); /* block for ms milliseconds */

/* What on_state reports when a state ends (pointers valid during the call only). */
struct sfn_state_report {
    const char *name;    /* the state */
    const char *type;    /* "Task", "Choice", ... */
    const char *next;    /* the state entered next (a Choice's pick, a Catch's Next), NULL at
                            the end of the graph or on failure */
    const char *error;   /* the error the state failed with, NULL on success */
    int64_t entered_ms;  /* when it was entered (the execution's clock) */
    int64_t duration_us; /* how long it ran (monotonic clock, Retry back-off included) */
    long retries;        /* Retry attempts it needed */
};

struct sfn_run_opts {
    sfn_task_fn task; /* NULL: a Task returns its effective input unchanged */
    void *task_ud;
    sfn_now_fn now;     /* NULL: the real clock (CLOCK_REALTIME) */
    sfn_sleep_fn sleep; /* NULL: sched_sleep_ms (parks inside a scheduler task, else blocks) */
    void *clock_ud;
    int virtual_clock;              /* 1: Wait and Retry advance a per-execution clock, never sleep,
                                       and Parallel branches / Map iterations overlap in time as on AWS
                                       (they still run one after another; docs/sfn.md). 0 inside a
                                       scheduler task: they run concurrently on fibers */
    int64_t start_ms;               /* virtual clock start (0: the real time at start) */
    int want_history;               /* 1: fill sfn_result.history with AWS-shaped events */
    const char *execution_name;     /* $$.Execution.Name (default: a UUID) */
    const char *state_machine_name; /* $$.StateMachine.Name (default "StateMachine") */
    const char *region;             /* for ARNs (default "us-east-1") */
    const char *account;            /* for ARNs (default "123456789012") */
    const struct sfn_mock_case *mock; /* mocked Task responses (sfn_mock.h); NULL: none */
    uint64_t seed;                    /* seeds MathRandom/UUID/jitter; 0: seeded from the clock */
    size_t payload_limit;             /* bytes; 0: SFN_PAYLOAD_LIMIT */
    long max_transitions;             /* state entries; 0: SFN_MAX_TRANSITIONS */
    /* Called on the running thread as each state ends, branch states included; NULL: none.
     * Much cheaper than want_history: nothing is serialised. */
    void (*on_state)(void *ud, const struct sfn_state_report *r);
    void *state_ud;
    /* 1: inside a scheduler task on the real clock, a Task with TimeoutSeconds (or
     * TimeoutSecondsPath) runs its callback on a fiber of its own and fails with States.Timeout
     * when the time runs out, while the callback is still parked; the callback goes on and its
     * result is dropped. The callback's task_ud must then stay valid until every callback has
     * returned (sched_stop() waits for them). 0: a timeout is checked when the callback returns. */
    int interrupt_timed_out_tasks;
};

enum sfn_status { SFN_SUCCEEDED, SFN_FAILED, SFN_TIMED_OUT };

struct sfn_result {
    enum sfn_status status;
    json_t *output;   /* SUCCEEDED: the execution output (owned); else NULL */
    char *error;      /* FAILED/TIMED_OUT: error name (owned); else NULL */
    char *cause;      /* FAILED/TIMED_OUT: cause (owned, may be NULL) */
    json_t *history;  /* array of events when want_history, else NULL (owned) */
    long transitions; /* states entered */
};

/* Runs one execution. input is borrowed. Returns 0 when the execution ran to an end (check
 * out->status), or -1 with err set when it could not start (input too large, NULL machine);
 * in both cases release out with sfn_result_release(). opts may be NULL. */
int sfn_run(const struct sfn_machine *m, json_t *input, const struct sfn_run_opts *opts,
            struct sfn_result *out);
void sfn_result_release(struct sfn_result *r);

/* "SUCCEEDED", "FAILED" or "TIMED_OUT". */
const char *sfn_status_name(enum sfn_status s);

/* Formats the result as the CLI prints it: {"status","output","error","cause"[,"history"]}.
 * Returns a new object. */
json_t *sfn_result_to_json(const struct sfn_result *r);

#endif
