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
    int port;                   /* PARLEY_PORT: HTTP port */
    char *bind;                 /* PARLEY_BIND: listen address */
    char *data;                 /* PARLEY_DATA: data directory */
    char *model;                /* PARLEY_MODEL: offline|bedrock|anthropic|openai */
    char *log_level;            /* PARLEY_LOG_LEVEL */
    int history_turns;          /* PARLEY_HISTORY_TURNS: turns of history loaded per turn */
    int history_cache_sessions; /* PARLEY_HISTORY_CACHE_SESSIONS: windows kept parsed (LRU) */
    int context_tokens;         /* PARLEY_CONTEXT_TOKENS: token budget for the prompt window */
    int max_tool_iterations;    /* PARLEY_MAX_TOOL_ITERATIONS: model/tool round trips per turn */
    int turn_token_cap;    /* PARLEY_TURN_TOKEN_CAP: model tokens (in + out) one turn may use */
    int max_connections;   /* PARLEY_MAX_CONNECTIONS: concurrent HTTP connections */
    int http_threads;      /* PARLEY_HTTP_THREADS: epoll threads of the HTTP server */
    int sched_threads;     /* PARLEY_SCHED_THREADS: scheduler threads running turns */
    int request_timeout_s; /* PARLEY_REQUEST_TIMEOUT_S: header + body deadline */
    int idle_timeout_s;    /* PARLEY_IDLE_TIMEOUT_S: idle keep-alive timeout */
    int max_connections_per_ip; /* PARLEY_MAX_CONNECTIONS_PER_IP: per address (0: no cap) */
    int shutdown_grace_ms;      /* PARLEY_SHUTDOWN_GRACE_MS: in-flight turns finish within it */
    int store_pool;             /* PARLEY_STORE_POOL: SQLite connections */
    char *operator_token;       /* PARLEY_OPERATOR_TOKEN: bearer token for operator APIs */
    char *url;                  /* PARLEY_URL: server URL used by `parley chat` */
    char *statemachine;         /* PARLEY_STATEMACHINE: ASL definition of the turn workflow */
    char *kb_dir;               /* PARLEY_KB_DIR: knowledge-base articles */
    char *event_rules;       /* PARLEY_EVENT_RULES: EventBridge-style rules file (empty: default) */
    char *redact;            /* PARLEY_REDACT: PII kinds redacted from events, logs, archives */
    int workers;             /* PARLEY_WORKERS: action worker threads in `parley serve` */
    int action_wait_ms;      /* PARLEY_ACTION_WAIT_MS: how long a turn waits for its actions */
    int mcp_retry_ms;        /* PARLEY_MCP_RETRY_MS: first retry delay of a down optional MCP */
    int turn_timeout_ms;     /* PARLEY_TURN_TIMEOUT_MS: deadline of a turn's tool calls */
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
    int workflow_timeout_ms; /* PARLEY_WORKFLOW_TIMEOUT_MS: wait for one execution (0: 60000) */
    int idempotency_ttl_h;   /* PARLEY_IDEMPOTENCY_TTL_H: an Idempotency-Key is kept this long */
    int idempotency_lease_s; /* PARLEY_IDEMPOTENCY_LEASE_S: a running key's lease */
    char *model_id;          /* PARLEY_MODEL_ID: the provider's model (empty: its default) */
    int model_timeout_ms;    /* PARLEY_MODEL_TIMEOUT_MS: one model call (0: 60000) */
    int model_max_retries;   /* PARLEY_MODEL_MAX_RETRIES: -1 unset (2), 0 none, else that many */
    int max_tokens;          /* PARLEY_MAX_TOKENS: completion tokens per call (0: 1024) */
    char *tool_signing_secret;  /* PARLEY_TOOL_SIGNING_SECRET: signs HTTP tool calls (empty: no) */
    char *model_record;         /* PARLEY_MODEL_RECORD: save model traffic to this directory */
    char *model_replay;         /* PARLEY_MODEL_REPLAY: answer model calls from this directory */
    char *anthropic_api_key;    /* ANTHROPIC_API_KEY */
    char *anthropic_base_url;   /* ANTHROPIC_BASE_URL (empty: the public API) */
    char *openai_api_key;       /* OPENAI_API_KEY */
    char *openai_base_url;      /* OPENAI_BASE_URL (empty: the public API) */
    char *dynamo_conversations; /* PARLEY_DYNAMO_CONVERSATIONS: table (empty: Conversations) */
    char *dynamo_entities;      /* PARLEY_DYNAMO_ENTITIES: table (empty: ParleyEntities) */
    int dynamo_create;          /* PARLEY_DYNAMO_CREATE: 1 creates missing tables */
    int demo_orders;            /* PARLEY_DEMO_ORDERS: 1 seeds the demo orders */
    int conversation_ttl_days;  /* PARLEY_CONVERSATION_TTL_DAYS: DynamoDB TTL (0: none) */
    char *aws_xray_daemon; /* AWS_XRAY_DAEMON_ADDRESS: set by Lambda; used when PARLEY_XRAY_DAEMON
                            * is empty */
    char *agent;           /* PARLEY_AGENT: agent file (empty: the shipped demo agent) */
    char *user_jwt_secret; /* PARLEY_USER_JWT_SECRET: HS256 key of customer tokens */
    char *user_jwt_public_key; /* PARLEY_USER_JWT_PUBLIC_KEY: PEM text or path (RS256/ES256) */
    int insecure_demo;         /* PARLEY_INSECURE_DEMO: 1 allows demo mode off loopback */
    int rate_limit_per_min; /* PARLEY_RATE_LIMIT_PER_MIN: POST /chat per client address (0 off) */
    int session_rate_limit_per_min; /* PARLEY_SESSION_RATE_LIMIT_PER_MIN: per session (0 off) */
    char *trusted_proxies;          /* PARLEY_TRUSTED_PROXIES: CIDRs trusted for X-Forwarded-For */
    char *allowed_origins;          /* PARLEY_ALLOWED_ORIGINS: CORS origins, comma-separated */
    int retention_days;       /* PARLEY_RETENTION_DAYS: erase sessions idle longer (0: keep) */
    int retention_test_s;     /* PARLEY_RETENTION_TEST_S: tests only, retention in seconds */
    int checkpoint_ms;        /* PARLEY_CHECKPOINT_MS: WAL checkpoint interval (0: none of ours) */
    int log_max_mb;           /* PARLEY_LOG_MAX_MB: rotate logs past this size (0: never) */
    int log_files;            /* PARLEY_LOG_FILES: rotated files kept per log */
    char *db_key;             /* PARLEY_DB_KEY: SQLCipher key (refused: see data-lifecycle.md) */
    int session_token_budget; /* PARLEY_SESSION_TOKEN_BUDGET: tokens per session per day (0 off) */
    int daily_token_budget;   /* PARLEY_DAILY_TOKEN_BUDGET: tokens per server per day (0 off) */
    char *operators_file;     /* PARLEY_OPERATORS_FILE: named operators (JSON) */
};

/* Fills c with defaults, then applies the environment. Returns 0, or -1 with err naming the
 * variable and what is wrong. Strings in c are owned by c; release with config_release(). */
int config_load(struct config *c, struct err *err);

/* Sets one setting by its environment-variable name from text, with the same validation. */
int config_set(struct config *c, const char *name, const char *value, struct err *err);

void config_release(struct config *c);

/* 1 when the operator APIs are on: PARLEY_OPERATOR_TOKEN or PARLEY_OPERATORS_FILE is set (not
 * empty); 0 when they answer 401 to everyone. */
int config_operator_apis(const struct config *c);

/* The value of a standard variable the table lists as read where it is used (AWS_REGION,
 * AWS_ENDPOINT_URL_<SERVICE>, AWS_LAMBDA_RUNTIME_API, CURL_CA_BUNDLE, ...): the environment's
 * when set and not empty, else the row's default, else NULL. Borrowed from the environment or
 * the table. A name the table does not list is our bug and asserts. */
const char *config_env(const char *name);

/* Prints the settings table (name, default, help) for --help. */
void config_print_help(FILE *out);

#endif
