/*
 * app.h - the one place that builds Parley from the settings table: the adapter of every port
 * (store, queue, archive and archiver, bus, model, knowledge base, tool registry, workflow local
 * or Step Functions), telemetry (metrics, EMF, traces) and the agent that uses them, with the
 * observer hooks (observe.h) installed. `parley serve`, `parley worker` and every Lambda function
 * open the same app; the host files keep only what is host-specific (the HTTP server, the worker
 * loop, the Runtime API event and response shapes).
 *
 * Lifecycle: app_open() -> [app_start_workers()] -> ... -> app_close(). A failed app_open()
 * leaves nothing open. The agent's definition (the agent file, its knowledge base, its tool
 * registry and the offline model's custom intents) is built in one function of app.c,
 * app__build_def(), at open and again by app_reload_agent() (SIGHUP in `parley serve`).
 */
#ifndef PARLEY_APP_H
#define PARLEY_APP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#include "agent/agent.h"
#include "base/config.h"
#include "base/err.h"
#include "runtime/observe.h"

struct agent_file;
struct analytics;
struct archive;
struct archiver;
struct queue;
struct bus;
struct kb;
struct tools;
struct workflow_local;
struct workflow_sfn;
struct retention;
struct sched;

/* Which host opens the app; it decides the defaults the settings leave open. */
enum app_role {
    APP_SERVE,            /* `parley serve`: every port, local defaults, archiver, EMF file */
    APP_WORKER,           /* `parley worker`: as serve (it drains the same queue) */
    APP_LAMBDA_REQUEST,   /* Lambda RequestHandler: AWS ports only, Step Functions workflow */
    APP_LAMBDA_TASK,      /* a Lambda workflow Task or ActionWorker: AWS ports only, no workflow */
    APP_LAMBDA_ANALYTICS, /* the Lambda Analytics target: counters only */
};

#define APP_LAMBDA_BUS_FLUSH_MS 2000 /* how long a Lambda invocation waits for its events */
#define APP_ANALYTICS_FLUSH_MS 1000  /* serve: analytics counts batched for at most this long */

struct app {
    const struct config *cfg;        /* settings (borrowed; outlives the app) */
    enum app_role role;              /* who opened it */
    struct store *store;             /* sessions, turns, tickets, actions */
    struct model *model;             /* the model provider */
    struct workflow_local *workflow; /* the ASL turn workflow (local engine) */
    struct workflow_sfn *sfn;        /* or Step Functions, when PARLEY_STATE_MACHINE_ARN is set */
    struct bus *bus;                 /* agent events (NULL on Lambda without PARLEY_EVENT_BUS) */
    struct analytics *analytics;     /* the analytics target's counters */
    struct queue *queue;             /* AgentActions and its DLQ (NULL on Lambda: inline) */
    struct archive *archive;         /* transcript archive (S3 layout), or NULL */
    struct archiver *archiver;       /* writes changed transcripts off the hot path (serve) */
    FILE *emf;                       /* CloudWatch EMF lines, or NULL */
    int emf_owned;                   /* emf is a file we opened (not stdout) */
    struct observe obs;              /* the agent hooks' state */
    pthread_t *workers;              /* action worker threads */
    int nworkers;                    /* threads in workers */
    atomic_int stopping;             /* set to stop the workers (read by their threads) */
    int agent_ready;                 /* agent_init ran */
    struct agent agent;              /* the handlers' context */
    char *web_dir;                   /* the static web pages (serve) */
    long long started_ms;            /* when the app opened */
    struct sched *sched;             /* runs chat turns (serve: set by the host; else NULL) */
    pthread_t mcp_retry;             /* retries optional MCP servers that were down (serve) */
    int mcp_retry_on;                /* mcp_retry was started */
    struct retention *retention;     /* the idle-session sweep (serve, SQLite store) or NULL */
};

/* ---- Opening and closing ---- */

/* Opens everything cfg names for role. Returns 0, or -1 with err naming what could not be opened
 * (the partly opened app is closed again). */
int app_open(struct app *app, const struct config *cfg, enum app_role role, struct err *err);

/* Closes what app_open opened, in reverse order, after flushing the observer. Safe on a zeroed
 * or failed app. */
void app_close(struct app *app);

/* Runs the flush hook (EMF lines, events): the Lambda host calls it after every invocation. */
void app_flush(struct app *app);

/* Rebuilds the agent's definition from the agent file (PARLEY_AGENT) off to the side and, when
 * everything in it is valid (file, knowledge base, tools, offline-model training), swaps it in:
 * turns already running finish with the old definition, turns started after use the new one,
 * and the old one is freed when its last turn ends. Conversations are untouched. On failure
 * every problem is logged, the running definition stays, and -1 returns with err
 * (InvalidAgentFile, or the code of the part that failed). Each outcome counts in
 * parley_agent_reloads_total{result="ok"|"failed"}. guardrails.redact is read at start only.
 * Safe while turns and workers run; reloads are serialised (serve's signal loop and the
 * optional-MCP retry below). In `parley serve`, an "optional": true MCP server that was down when
 * the agent was built is retried in the background with backoff (PARLEY_MCP_RETRY_MS): a rebuild
 * that reaches more of them is swapped in exactly like a reload, until none is down. */
int app_reload_agent(struct app *app, struct err *err);

/* ---- Action workers (serve, worker) ---- */

/* Starts n action worker threads draining AgentActions into the ActionWorker handler. */
int app_start_workers(struct app *app, int n, struct err *err);

/* Receives one batch from AgentActions (waiting up to wait_s) and runs it through the ActionWorker
 * handler, deleting what it finished. Returns the number of messages handled, or -1 with err. */
int app_work_once(struct app *app, int wait_s, struct err *err);

/* The execution records of one session, oldest first (new array). */
json_t *app_executions(struct app *app, const char *session_id);

/* ---- Helpers other commands use ---- */

/* The store PARLEY_STORE names: SQLite in the data directory, or DynamoDB. Returns NULL with err
 * when it cannot be opened. */
struct store *app_open_store(const struct config *cfg, struct err *err);

/* ---- Ports for CLI commands ---- */

/* What app_open_ports() opens: any of the ports, plus APP_PORTS_EXISTING. */
#define APP_PORT_QUEUE 0x1u       /* the action queues (AgentActions and its DLQ) */
#define APP_PORT_ARCHIVE 0x2u     /* the transcript archive */
#define APP_PORTS_EXISTING 0x100u /* look, don't create: no local file, directory or queue */

/* The ports one CLI command talks to, opened with the adapter serve would choose. */
struct app_ports {
    struct queue *queue;     /* APP_PORT_QUEUE; NULL with APP_PORTS_EXISTING when none exists */
    struct archive *archive; /* APP_PORT_ARCHIVE */
};

/* Opens the ports in want the way `parley serve` does: PARLEY_QUEUE_PREFIX selects SQS (else
 * SQLite in <data>/queue.db, its queues set up), PARLEY_ARCHIVE_BUCKET selects S3 (else files
 * under <data>/archive). With APP_PORTS_EXISTING a local queue database that does not exist is
 * left unopened (p->queue NULL) instead of created (a missing data directory is err "NotFound"),
 * and no queue is set up. Returns 0, or -1 with
 * err (nothing left open). Release with app_close_ports(). */
int app_open_ports(struct app_ports *p, const struct config *cfg, unsigned want, struct err *err);

/* Frees what app_open_ports() opened; safe on a zeroed struct. */
void app_close_ports(struct app_ports *p);

/* Names the backend behind one port (APP_PORT_QUEUE or APP_PORT_ARCHIVE) for people, e.g.
 * "sqs (queue prefix 'parley-')" or "sqlite './data/queue.db'". Returns a new string. */
char *app_port_backend(const struct config *cfg, unsigned port);

/* ---- Erasure (the customer's right to erasure) ---- */

#define APP_ERASE_USER_MAX 10000 /* sessions one user erasure looks at */

/* Erases one session everywhere it is kept: its queued actions (queue may be NULL; see
 * queue_erase_session), then the store's records (store_session_erase), then its archived
 * transcript (archive may be NULL; a failure there is logged, not returned). Emits nothing: the
 * caller announces conversation_erased. Returns 0, or -1 with err ("NotFound" for an unknown or
 * malformed session id; the queue's or store's code otherwise, with nothing erased from the
 * store, so a retry finishes the job). */
int app_erase_session(struct store *store, struct queue *queue, struct archive *archive,
                      const char *session_id, struct err *err);

/* Erases every session of user_id as app_erase_session does. *erased gets a new array of the
 * erased session ids (possibly empty: a user without sessions is not an error). Looks at up to
 * APP_ERASE_USER_MAX sessions ("InvalidRequest" beyond, before erasing any). Returns 0, or -1
 * with err; sessions erased before a failure stay erased and *erased is then NULL. */
int app_erase_user(struct store *store, struct queue *queue, struct archive *archive,
                   const char *user_id, json_t **erased, struct err *err);

/* `parley forget --user ID [--data DIR]`: app_erase_user with the store and ports serve would
 * open. Returns the exit code (0 done, 1 failed, 2 usage). */
int app_cli_forget(int argc, char **argv);

/* `parley queue ...` and `parley archive ...` (queue_cli.h, archive_cli.h) with their ports opened
 * by app_open_ports(). Return the exit code. */
int app_cli_queue(int argc, char **argv);
int app_cli_archive(int argc, char **argv);

#endif
