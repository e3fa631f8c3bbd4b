/*
 * observe.h - the agent's observer, written once and installed by every host: metrics, CloudWatch
 * EMF lines, transcript archiving, the events that go with it, and the execution records the
 * console shows. `parley serve`/`parley worker` and every Lambda function install observe_hooks
 * with their own struct observe, so a turn is measured the same way wherever it runs.
 *
 * Lifecycle: observe_init() before the agent runs, a->hooks = observe_hooks_of(o) and
 * a->hooks_ud = the struct observe, then observe_release() after the agent is done. The hooks are
 * thread-safe. The Lambda host calls the flush hook after every invocation: in per-invocation
 * mode the model and tool figures of the invocation are written as one EMF line (when no turn
 * line carried them), and the bus is flushed, because Lambda may freeze the process once the
 * response is posted.
 *
 * Every hook records into the process-wide Prometheus registry (GET /metrics on serve). A
 * per-invocation host has no GET /metrics, so there each hook also writes its own EMF line
 * (namespace "Parley", dimension Service="parley" plus the one named), the same figures as
 * serve's families:
 *   model call     {Provider}      ModelCalls, ModelCallLatency (ms)  parley_model_latency_seconds
 *   tool run       {Tool, Status}  ToolCalls, ToolLatency (ms)        parley_actions_total,
 *                                                                     parley_tool_duration_seconds
 *   turn error     {Code}          Errors                             parley_errors_total
 *   budget         {} / {Scope}    BudgetTokensToday / BudgetRefusals parley_budget_*
 *   saved turn     {}              ConversationDuration (s) parley_conversation_duration_seconds
 * and a turn line {Provider} (TurnLatency, ModelLatency, TokensIn, TokensOut, ToolCount, Errors)
 * carries parley_turns_total, parley_turn_duration_seconds and parley_tokens_total; serve writes
 * that turn line too (to <data>/logs/emf.log).
 */
#ifndef PARLEY_OBSERVE_H
#define PARLEY_OBSERVE_H

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#include "agent/agent.h"

struct archive;
struct archiver;
struct observe_record;

#define OBSERVE_EXECUTIONS 2000 /* execution records kept for the console */

/* What the observer writes to; everything is borrowed and may be NULL (that part is off). */
struct observe_config {
    FILE *emf;                 /* EMF lines: a log file (serve) or stdout (Lambda) */
    int per_invocation;        /* 1: one process, one invocation at a time (Lambda) */
    struct archiver *archiver; /* schedules archiving off the hot path (serve) */
    struct archive *archive;   /* else: written during SaveConversation (Lambda) */
    struct bus *bus;           /* flushed by the flush hook */
    long bus_flush_ms;         /* how long flush waits for queued events */
    int keep_executions;       /* 1: keep execution records for observe_executions() */
};

struct observe {
    struct observe_config cfg;         /* as given to observe_init */
    struct agent_hooks hooks;          /* observe_hooks, less what cfg keeps nothing of */
    pthread_mutex_t lock;              /* guards what follows */
    struct observe_record *executions; /* ring of the last OBSERVE_EXECUTIONS execution records,
                                          serialised (NULL: not initialised) */
    size_t n_executions;               /* records in the ring */
    size_t next_execution;             /* the slot the next record goes to */
    double model_ms;                   /* per-invocation: model time so far */
    uint64_t tokens_in;                /* per-invocation: prompt tokens */
    uint64_t tokens_out;               /* per-invocation: completion tokens */
    unsigned model_calls;              /* per-invocation: model calls */
    unsigned tools;                    /* per-invocation: tool runs */
    unsigned errors;                   /* per-invocation: HandleError failures */
    int turn_written;                  /* per-invocation: a turn line already carried the figures */
};

/* The ops table every host installs (hooks_ud: a struct observe). */
extern const struct agent_hooks observe_hooks;

/* The table for o (initialised; it lives in o): observe_hooks' members, less on_execution when o
 * keeps no execution records, so that no record is built to be dropped. */
const struct agent_hooks *observe_hooks_of(const struct observe *o);

/* Prepares o to observe with cfg (copied; its pointers stay borrowed). Never fails. */
void observe_init(struct observe *o, const struct observe_config *cfg);

/* Frees what o holds. Safe on a zeroed struct and after a failed open. */
void observe_release(struct observe *o);

/* The execution records of one session, oldest first (new array; empty when not kept). */
json_t *observe_executions(struct observe *o, const char *session_id);

/* The flush hook itself, for hosts that hold no agent (the Analytics function). */
void observe_flush(struct observe *o, const char *provider);

#endif
