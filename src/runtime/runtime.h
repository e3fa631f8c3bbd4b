/*
 * runtime.h - assembling Parley from its settings: the adapters of every port (store, model,
 * knowledge base, tools, workflow, ...), the agent that uses them, and the paths of the bundled
 * assets. `parley serve` and the Lambda bootstrap build the same runtime, so a turn runs the same
 * code in both.
 */
#ifndef PARLEY_RUNTIME_H
#define PARLEY_RUNTIME_H

#include <pthread.h>
#include <stdio.h>

#include "agent/agent.h"
#include "base/config.h"
#include "base/err.h"

struct analytics;
struct archive;
struct archiver;
struct queue;
struct bus;
struct kb;
struct tools;
struct workflow_local;
struct workflow_sfn;

struct runtime {
    struct config *cfg;              /* settings (borrowed; outlives the runtime) */
    struct store *store;             /* sessions, turns, tickets, actions */
    struct model *model;             /* the model provider */
    struct kb *kb;                   /* knowledge base, NULL when unavailable */
    struct tools *tools;             /* the tool registry */
    struct workflow_local *workflow; /* the ASL turn workflow (local engine) */
    struct workflow_sfn *sfn;        /* or Step Functions, when PARLEY_STATE_MACHINE_ARN is set */
    struct bus *bus;                 /* agent events */
    struct analytics *analytics;     /* the analytics target's counters */
    struct queue *queue;             /* the AgentActions queue and its DLQ */
    struct archive *archive;         /* transcript archive (S3 layout) */
    struct archiver *archiver;       /* writes changed transcripts off the hot path */
    FILE *emf;                       /* CloudWatch EMF lines, or NULL */
    pthread_t *workers;              /* action worker threads */
    int nworkers;                    /* threads in workers */
    volatile int stopping;           /* set to stop the workers */
    pthread_mutex_t exec_lock;       /* guards executions */
    json_t *executions;              /* the last RUNTIME_EXECUTIONS execution records */
    int agent_ready;                 /* agent_init ran */
    struct agent agent;              /* the handlers' context */
    char *web_dir;                   /* the static web pages */
    long long started_ms;            /* when the runtime opened */
    struct agent_file *agent_file;   /* issue 11: the agent file (PARLEY_AGENT or the demo) */
};

/* Opens everything cfg names. Returns 0, or -1 with err naming what could not be opened (the
 * partly opened runtime is closed again). */
int runtime_open(struct runtime *rt, struct config *cfg, struct err *err);

#define RUNTIME_EXECUTIONS 2000 /* execution records kept for the console */

/* Starts n action worker threads draining AgentActions into the ActionWorker handler. */
int runtime_start_workers(struct runtime *rt, int n, struct err *err);

/* Receives one batch from AgentActions (waiting up to wait_s) and runs it through the ActionWorker
 * handler, deleting what it finished. Returns the number of messages handled, or -1 with err. */
int runtime_work_once(struct runtime *rt, int wait_s, struct err *err);

/* The execution records of one session, oldest first (new array). */
json_t *runtime_executions(struct runtime *rt, const char *session_id);

/* The store PARLEY_STORE names: SQLite in the data directory, or DynamoDB from the environment.
 * Returns NULL with err when it cannot be opened. */
struct store *runtime_open_store(const struct config *cfg, struct err *err);

/* Closes what runtime_open opened, in reverse order. Safe on a zeroed or failed runtime. */
void runtime_close(struct runtime *rt);

/* Finds a bundled file or directory (state machine, knowledge base, web pages): as given, else
 * relative to the repository the binary was built in (build/parley, build/san/parley). Returns a
 * new string. */
char *runtime_asset_path(const char *path);

#endif
