/*
 * agent.h - the agent's shared runtime context and the seed's handlers.
 *
 * Each handler is one box of the seed: a plain function that takes the workflow state as a JSON
 * event and returns the next state (a new reference), or NULL with err set. They never know
 * whether they run in `parley serve` (driven by the ASL engine) or in a Lambda bootstrap.
 *
 * The workflow state (one JSON object) carries:
 *   sessionId, userId, message, isNew          - from the request handler
 *   history       messages of recent turns, oldest first (LoadContext; the messages are shared
 *                 with the history cache and other turns of the session: read them only)
 *   newMessages   messages produced by this turn: the user message, assistant replies,
 *                 tool results; each {"role","content","timestamp"(ms)}
 *   requiresAction  true when the model's last reply asked for tools (CheckForActions reads it)
 *   iterations      model/tool round trips done this turn; maxIterations the cap
 *   actions         [{"id","tool","input","status","result"}] executed this turn
 *   reply, usage, stopReason
 * SaveConversation returns the API response {sessionId, turn, reply, actions}.
 *
 * Ownership. A handler's event is borrowed and is never modified, at any depth: the engine may
 * still hold it (Retry re-runs a Task on the same input, Catch and a ResultPath other than $
 * keep it, the history records it, the caller's request state is the first one). The returned
 * state is the handler's to give: a new object that shares every member it does not change
 * with the event (agent__state_next in agent_int.h makes it, copying the top level and the
 * containers handlers change in place: newMessages, actions, usage, context). So the state is
 * passed on from state to state without a deep copy, and no code may change a nested value of
 * a workflow state in place: replace the member, or copy its container first. The engine passes
 * a state's output on as the next input as it is (see sfn.h), never copying it either.
 */
#ifndef PARLEY_AGENT_H
#define PARLEY_AGENT_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>

#include "base/config.h"
#include "bus/bus.h"
#include "base/err.h"
#include "model/model.h"
#include "store/store.h"

struct agent;

/* What the hosting process learns while the agent works: one ops table, written once in
 * runtime/observe.c (metrics, EMF, archive scheduling, events, traces, execution records) and
 * installed by every host. Each member may be NULL. All are called on the thread doing the work
 * and must not fail the turn: an observer logs its own trouble. The hooks' state is a->hooks_ud. */
struct agent_hooks {
    /* After every tool run: its name, success and duration in seconds. */
    void (*on_tool)(struct agent *a, const char *tool, int ok, double seconds);
    /* After every model call: its duration and token usage. */
    void (*on_model)(struct agent *a, double seconds, long long tokens_in, long long tokens_out);
    /* When SaveConversation stored a turn (state as saved, the new turn number). */
    void (*on_saved)(struct agent *a, const json_t *state, int turn_no);
    /* After each workflow execution with its record: {"executionId","sessionId","turn",
     * "traceId","status","startedAt","durationMs","path":[{"state","type","enteredAt",
     * "durationMs","retries","error"?}]}. */
    void (*on_execution)(struct agent *a, const json_t *execution);
    /* When turn_run ends: the response (NULL on failure), the error, the duration. */
    void (*on_turn)(struct agent *a, const json_t *response, const struct err *err, double seconds);
    /* By HandleError with the failed state, error name and cause (may be ""). */
    void (*on_error)(struct agent *a, const json_t *state, const char *error, const char *cause);
    /* By the host when a unit of work ends (the Lambda host: after every invocation, before
     * Lambda may freeze the process): write out what is buffered (EMF lines, events). */
    void (*flush)(struct agent *a);
    /* After the token budgets (agent/budget.h) were consulted: the server's model tokens of the
     * UTC day after a spend was written (a turn's save, or a model call's own write; -1 when
     * unknown), and the scope of a refusal ("session", "daily") when the turn was answered
     * without a model call, else NULL. */
    void (*on_budget)(struct agent *a, long long server_today, const char *refused_scope);
};

/* Calls hook `name` of a's hooks with the arguments after a (at least one), when both are set. */
#define AGENT_HOOK(a, name, ...)                                                                   \
    do {                                                                                           \
        if ((a)->hooks && (a)->hooks->name)                                                        \
            (a)->hooks->name((a), __VA_ARGS__);                                                    \
    } while (0)
struct agent_file;
struct kb;
struct tools;

/* The agent's definition: what an agent file builds (the file itself, its knowledge base and its
 * tool registry), immutable once built and shared by reference count. `parley serve` swaps a new
 * one in on SIGHUP (agent_def_swap): each turn and each worker batch holds a reference for its
 * whole run (agent_def_enter/leave), so a turn never mixes two definitions and the old one is
 * freed when its last turn ends.
 *
 * Lifecycle: agent_def_new() (one reference, the caller's) -> agent_def_swap() hands it to the
 * agent -> agent_def_enter() / agent_def_get() take more -> agent_def_unref() drops one; the last
 * frees the three parts. */
struct agent_def {
    atomic_int refs;         /* references; the last agent_def_unref frees */
    struct agent_file *file; /* the agent file (owned; NULL: the shipped demo agent) */
    struct kb *kb;           /* knowledge base (owned, may be NULL) */
    struct tools *tools;     /* tool registry (owned) */
};

struct agent {
    const struct config *cfg;    /* settings (borrowed) */
    struct store *store;         /* session/ticket store (borrowed) */
    struct model *model;         /* model port (borrowed) */
    struct tools *tools;         /* tool registry (borrowed) */
    const struct kb *kb;         /* knowledge base (borrowed, may be NULL) */
    struct bus *bus;             /* agent events (borrowed, may be NULL) */
    struct queue *queue;         /* the AgentActions queue (borrowed; NULL: actions run inline) */
    int action_wait_ms;          /* how long ExecuteAction waits for queued results */
    pthread_mutex_t action_lock; /* guards action_waiters; never held across a wait */
    struct agent_action_wait *action_waiters; /* ExecuteAction calls waiting, by action id */
    const struct agent_hooks *hooks; /* observers of the agent's work (borrowed; may be NULL) */
    void *hooks_ud;                  /* the hooks' own state (runtime/observe.c's struct observe) */
    unsigned redact;                 /* guard kinds redacted from events, logs and archives */
    /* Runs the turn workflow (statemachine/agent.asl.json) from the request handler's state to
     * SaveConversation's output; NULL with err when the execution failed. The local runtime runs
     * it with the ASL engine (runtime/workflow_local.c); on AWS it is Step Functions. */
    json_t *(*workflow)(struct agent *a, json_t *state, struct err *err);
    void *workflow_ud;             /* the workflow's own state */
    const struct agent_file *file; /* the agent file (borrowed; NULL: the shipped demo agent) */
    /* The reloadable definition (hosts that reload: serve, worker). When set it wins over the
     * tools/kb/file fields above, which stay for hosts and tests that build an agent by hand.
     * Read only through agent_def_get/enter, under def_lock. */
    _Atomic(struct agent_def *) def;
    pthread_mutex_t def_lock; /* guards def (agent_init creates it) */
    /* Sessions' recent windows kept parsed between turns (agent/history.h); agent_init makes it
     * and registers the agent as the store's on_erase (an erased session's window goes, and
     * model_forget); NULL (an agent built without agent_init) reads
     * the store each turn. */
    struct history_cache *history;
};

typedef json_t *(*agent_handler_fn)(struct agent *a, json_t *event, struct err *err);

struct agent_handler {
    const char *name;    /* the seed's Lambda function name, e.g. "LoadContext" */
    agent_handler_fn fn; /* the handler */
};

/* The seed's handlers by function name: LoadContext, BedrockInference, ActionExecutor,
 * SaveConversation, HandleError, ActionWorker. Terminated by {NULL, NULL}. */
extern const struct agent_handler agent_handlers[];

/* Finds a handler by function name; NULL if unknown. */
agent_handler_fn agent_handler_find(const char *name);

json_t *agent_load_context(struct agent *a, json_t *event, struct err *err);
json_t *agent_model_inference(struct agent *a, json_t *event, struct err *err);
json_t *agent_action_executor(struct agent *a, json_t *event, struct err *err);
/* SaveConversation. When the event carries "idempotencyKey" (a turn run under an
 * Idempotency-Key), the key is marked done with the answer in the turn's own store transaction,
 * and the answer carries AGENT_KEY_DONE: true, which turn_run_idempotent removes. */
json_t *agent_save_conversation(struct agent *a, json_t *event, struct err *err);
#define AGENT_KEY_DONE "idempotencyKeyDone"

/* The AgentActions consumer: SQS event {"Records":[{"messageId","receiptHandle","body"}]} in,
 * {"batchItemFailures":[{"itemIdentifier"}]} out (see actions.c). */
json_t *agent_action_worker(struct agent *a, json_t *event, struct err *err);

/* Wakes the ExecuteAction call in this process waiting for action action_id (a worker recorded
 * its result); nothing when none waits. Any thread. */
void agent_actions_notify(struct agent *a, const char *action_id);

/* Initialises and releases the waiting machinery, the definition lock and the history cache of
 * a (call around the agent's life; a->store, when set, is set before agent_init and gets the
 * cache as its on_erase); agent_release also drops a's reference to its definition. */
void agent_init(struct agent *a);
void agent_release(struct agent *a);

/* ---- the definition a turn runs with ---- */

/* Returns a new definition holding file, kb and tools (all three taken; each may be NULL), with
 * one reference owned by the caller. Never fails. */
struct agent_def *agent_def_new(struct agent_file *file, struct kb *kb, struct tools *tools);

/* Drops one reference to d; the last frees d with its file, knowledge base and tools. NULL is a
 * no-op. */
void agent_def_unref(struct agent_def *d);

/* Returns a new reference to a's current definition, or NULL when a has none (release it with
 * agent_def_unref). Thread-safe. */
struct agent_def *agent_def_get(struct agent *a);

/* Makes d (its reference taken) a's current definition; turns started later use it, running ones
 * finish with the one they entered. Drops a's reference to the previous one. Thread-safe. */
void agent_def_swap(struct agent *a, struct agent_def *d);

/* Pins a's current definition to the calling thread until agent_def_leave(): agent_tools(),
 * agent_kb() and agent_file_of() on this thread answer from it. turn_run and the worker host
 * call these around a turn or a batch. Calls do not nest. */
void agent_def_enter(struct agent *a);
void agent_def_leave(void);

/* The tool registry, knowledge base and agent file of the running turn: the definition the
 * calling thread entered, else a's current definition (only hosts that never reload call
 * handlers outside a turn), else a's tools/kb/file fields. Borrowed for the turn.
 * agent_file_of() may return NULL: the shipped demo agent. */
struct tools *agent_tools(const struct agent *a);
const struct kb *agent_kb(const struct agent *a);
const struct agent_file *agent_file_of(const struct agent *a);

/* The Catch target of the workflow: turns the failure in event.error ({"Error","Cause"}, as
 * Step Functions' Catch writes it) into a graceful reply, answers any unanswered tool_use with an
 * error result, and records the failure in "failure". Never fails. */
json_t *agent_handle_error(struct agent *a, json_t *event, struct err *err);

/* Emits an agent event (detail stolen): PII-redacted, wrapped in the EventBridge envelope, put on
 * a->bus. A full bus is logged, never fatal to the turn. */
void agent_emit(struct agent *a, const char *detail_type, json_t *detail);

/* ---- observing a turn as it runs (streaming) ---- */

/* Callbacks a streaming request installs on its own thread before running a turn. The handlers
 * call them from the thread that runs the turn; the ASL engine runs every Task on that thread. */
struct agent_observer {
    void (*on_text)(void *ud, const char *delta);    /* reply text as the model writes it */
    void (*on_tool)(void *ud, const json_t *action); /* {"id","tool","input","status",...} */
    void *ud;
};

/* Sets (or clears, with NULL) the observer of turns run by the calling task (or thread, off a
 * scheduler fiber): task-local, see base/sched.h. */
void agent_observer_set(const struct agent_observer *o);

/* The trace segment of the request the calling thread serves (NULL: not traced). Handlers hang
 * their subsegments on it. */
struct trace_ctx;
void agent_trace_set(struct trace_ctx *seg);
struct trace_ctx *agent_trace_current(void);

/* The reply when a turn has used PARLEY_TURN_TOKEN_CAP model tokens. */
extern const char agent_token_cap_reply[];

/* The reply when a token budget (PARLEY_SESSION_TOKEN_BUDGET, PARLEY_DAILY_TOKEN_BUDGET) is spent:
 * the session goes to a human, without a model call. */
extern const char agent_budget_reply[];

/* The reply a customer gets when a turn fails. */
extern const char agent_apology[];

/* The reply to a customer's message while a human agent has the session (status "handoff"). */
extern const char agent_handoff_ack[];

#endif
