/*
 * config.h - every setting of Parley in one table (STYLE rule 17).
 *
 * Each setting has an environment variable (PARLEY_*), a type, a default, bounds and a line of
 * help. config_load() fills struct config from defaults then the environment, validating bounds;
 * command-line flags override single settings with config_set(). `parley --help` prints the table.
 */
#ifndef PARLEY_CONFIG_H
#define PARLEY_CONFIG_H

#include <stdio.h>

#include "base/err.h"

struct config {
    int port;                /* PARLEY_PORT: HTTP port */
    char *bind;              /* PARLEY_BIND: listen address */
    char *data;              /* PARLEY_DATA: data directory */
    char *model;             /* PARLEY_MODEL: offline|bedrock|anthropic|openai */
    char *log_level;         /* PARLEY_LOG_LEVEL */
    int history_turns;       /* PARLEY_HISTORY_TURNS: turns of history loaded per turn */
    int context_tokens;      /* PARLEY_CONTEXT_TOKENS: token budget for the prompt window */
    int max_tool_iterations; /* PARLEY_MAX_TOOL_ITERATIONS: model/tool round trips per turn */
    int turn_token_cap;      /* PARLEY_TURN_TOKEN_CAP: model tokens (in + out) one turn may use */
    int max_connections;     /* PARLEY_MAX_CONNECTIONS: concurrent HTTP connections */
    int store_pool;          /* PARLEY_STORE_POOL: SQLite connections */
    char *operator_token;    /* PARLEY_OPERATOR_TOKEN: bearer token for operator APIs */
    char *url;               /* PARLEY_URL: server URL used by `parley chat` */
    char *statemachine;      /* PARLEY_STATEMACHINE: ASL definition of the turn workflow */
    char *kb_dir;            /* PARLEY_KB_DIR: knowledge-base articles */
    char *event_rules;       /* PARLEY_EVENT_RULES: EventBridge-style rules file (empty: default) */
    char *redact;            /* PARLEY_REDACT: PII kinds redacted from events, logs, archives */
    int workers;             /* PARLEY_WORKERS: action worker threads in `parley serve` */
    int action_wait_ms;      /* PARLEY_ACTION_WAIT_MS: how long a turn waits for its actions */
    int action_visibility_s; /* PARLEY_ACTION_VISIBILITY_S: queue visibility timeout */
    int archive_delay_ms;    /* PARLEY_ARCHIVE_DELAY_MS: bound on transcript archiving delay */
    char *xray_daemon;       /* PARLEY_XRAY_DAEMON: host:port of an X-Ray daemon (empty: off) */
    int emf;                 /* PARLEY_EMF: 1 writes CloudWatch EMF lines to <data>/logs/emf.log */
    int archive;             /* PARLEY_ARCHIVE: 1 archives transcripts */
    int events;              /* PARLEY_EVENTS: 1 emits agent events on the bus */
    char *store;             /* PARLEY_STORE: sqlite|dynamodb */
    char *queue_prefix;      /* PARLEY_QUEUE_PREFIX: SQS queue name prefix (empty: SQLite queue) */
    char *archive_bucket;    /* PARLEY_ARCHIVE_BUCKET: S3 bucket (empty: files) */
    char *event_bus;         /* PARLEY_EVENT_BUS: EventBridge bus (empty: in-process bus) */
    char *state_machine_arn; /* PARLEY_STATE_MACHINE_ARN: Step Functions Express (empty: local) */
    char *agent;             /* PARLEY_AGENT: agent file (empty: the shipped demo agent) */
};

/* Fills c with defaults, then applies the environment. Returns 0, or -1 with err naming the
 * variable and what is wrong. Strings in c are owned by c; release with config_release(). */
int config_load(struct config *c, struct err *err);

/* Sets one setting by its environment-variable name from text, with the same validation. */
int config_set(struct config *c, const char *name, const char *value, struct err *err);

void config_release(struct config *c);

/* Prints the settings table (name, default, help) for --help. */
void config_print_help(FILE *out);

#endif
