/* config.c - the settings table and its loader; see config.h. */
#include "base/config.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "base/xmalloc.h"

/* ST_ENV: a variable whose meaning belongs to the AWS SDKs, the Lambda runtime or libcurl; it has
 * no field in struct config and is read where it is used, through config_env(). A name ending in
 * "<SERVICE>" stands for every name with the part before it as prefix. */
enum setting_type { ST_INT, ST_STRING, ST_ENUM, ST_ENV };

struct setting {
    const char *name;       /* environment variable */
    enum setting_type type; /* how the text is parsed */
    size_t offset;          /* field in struct config */
    const char *def;        /* default, as text */
    long min, max;          /* bounds for ST_INT */
    const char *choices;    /* '|'-separated values for ST_ENUM */
    const char *help;       /* one line for --help */
};

#define F(field) offsetof(struct config, field)

static const struct setting settings[] = {
    {"PARLEY_PORT", ST_INT, F(port), "8080", 0, 65535, NULL,
     "HTTP port of `parley serve` (0 picks a free port)"},
    {"PARLEY_BIND", ST_STRING, F(bind), "127.0.0.1", 0, 0, NULL,
     "address `parley serve` listens on"},
    {"PARLEY_DATA", ST_STRING, F(data), "./data", 0, 0, NULL,
     "data directory (SQLite store, archive, logs)"},
    {"PARLEY_MODEL", ST_ENUM, F(model), "offline", 0, 0, "offline|bedrock|anthropic|openai",
     "model provider"},
    {"PARLEY_LOG_LEVEL", ST_ENUM, F(log_level), "info", 0, 0, "debug|info|warn|error|off",
     "log threshold (stderr)"},
    {"PARLEY_HISTORY_TURNS", ST_INT, F(history_turns), "20", 1, 1000, NULL,
     "most recent turns loaded into the prompt window"},
    {"PARLEY_HISTORY_CACHE_SESSIONS", ST_INT, F(history_cache_sessions), "256", 0, 1000000, NULL,
     "sessions whose recent window is kept parsed between turns (LRU; 0 = off)"},
    {"PARLEY_CONTEXT_TOKENS", ST_INT, F(context_tokens), "8000", 256, 1000000, NULL,
     "token budget for the prompt's message window (older turns are dropped)"},
    {"PARLEY_MAX_TOOL_ITERATIONS", ST_INT, F(max_tool_iterations), "5", 1, 50, NULL,
     "model/tool round trips allowed in one turn"},
    {"PARLEY_TURN_TOKEN_CAP", ST_INT, F(turn_token_cap), "50000", 100, 10000000, NULL,
     "model tokens (input + output) one turn may use; past it the turn ends with what it has"},
    {"PARLEY_MAX_CONNECTIONS", ST_INT, F(max_connections), "512", 1, 65536, NULL,
     "concurrent HTTP connections"},
    /* issue 13 (event-driven serve): */
    {"PARLEY_HTTP_THREADS", ST_INT, F(http_threads), "2", 1, 64, NULL,
     "epoll threads of the HTTP server (each serves any number of connections)"},
    {"PARLEY_SCHED_THREADS", ST_INT, F(sched_threads), "2", 1, 256, NULL,
     "scheduler threads that run chat turns (src/base/sched.h)"},
    {"PARLEY_REQUEST_TIMEOUT_S", ST_INT, F(request_timeout_s), "30", 1, 3600, NULL,
     "a request's headers and body must arrive within this (not reset by each byte): 408"},
    {"PARLEY_IDLE_TIMEOUT_S", ST_INT, F(idle_timeout_s), "15", 1, 3600, NULL,
     "an idle keep-alive connection is closed after this"},
    {"PARLEY_MAX_CONNECTIONS_PER_IP", ST_INT, F(max_connections_per_ip), "64", 0, 65536, NULL,
     "concurrent HTTP connections from one address (0: no cap)"},
    {"PARLEY_SHUTDOWN_GRACE_MS", ST_INT, F(shutdown_grace_ms), "10000", 0, 600000, NULL,
     "on SIGTERM/SIGINT, how long in-flight turns may take to finish (new ones get 503)"},
    {"PARLEY_STORE_POOL", ST_INT, F(store_pool), "8", 1, 256, NULL,
     "SQLite reading connections in the pool (writes share one more)"},
    {"PARLEY_OPERATOR_TOKEN", ST_STRING, F(operator_token), "", 0, 0, NULL,
     "bearer token for operator APIs (empty: operator APIs disabled)"},
    {"PARLEY_URL", ST_STRING, F(url), "http://127.0.0.1:8080", 0, 0, NULL,
     "server URL used by `parley chat`"},
    {"PARLEY_STATEMACHINE", ST_STRING, F(statemachine), "statemachine/agent.asl.json", 0, 0, NULL,
     "ASL definition of the turn workflow"},
    /* issue 11 (agent file): */
    {"PARLEY_AGENT", ST_STRING, F(agent), "", 0, 0, NULL,
     "agent file, JSON or YAML (docs/agent-file.md; empty: examples/demo-store/agent.yaml)"},
    {"PARLEY_KB_DIR", ST_STRING, F(kb_dir), "kb", 0, 0, NULL, "knowledge-base articles (Markdown)"},
    {"PARLEY_EVENT_RULES", ST_STRING, F(event_rules), "", 0, 0, NULL,
     "event rules file (EventBridge patterns and targets; empty: all events to the log and "
     "analytics)"},
    {"PARLEY_REDACT", ST_STRING, F(redact), "all", 0, 0, NULL,
     "PII redacted from events, logs and archives: all, none, or a list of email,phone,card"},
    {"PARLEY_WORKERS", ST_INT, F(workers), "2", 0, 64, NULL,
     "action worker threads in `parley serve` (0: run `parley worker` separately)"},
    {"PARLEY_ACTION_WAIT_MS", ST_INT, F(action_wait_ms), "10000", 0, 600000, NULL,
     "how long a turn waits for its queued actions before reporting them pending"},
    {"PARLEY_MCP_RETRY_MS", ST_INT, F(mcp_retry_ms), "2000", 10, 3600000, NULL,
     "first delay before an optional MCP server that was down is retried (then doubling, "
     "capped at 60 s or this value)"},
    {"PARLEY_TURN_TIMEOUT_MS", ST_INT, F(turn_timeout_ms), "60000", 100, 3600000, NULL,
     "time limit of one turn's tool calls: an HTTP or MCP tool call is cut off at the turn's "
     "deadline (an MCP call is cancelled) and the model answers with what it has"},
    {"PARLEY_ACTION_VISIBILITY_S", ST_INT, F(action_visibility_s), "30", 1, 43200, NULL,
     "visibility timeout of a received action; a worker that dies is retried after it"},
    {"PARLEY_ARCHIVE_DELAY_MS", ST_INT, F(archive_delay_ms), "2000", 0, 3600000, NULL,
     "bound on the delay before a changed transcript is archived"},
    {"PARLEY_XRAY_DAEMON", ST_STRING, F(xray_daemon), "", 0, 0, NULL,
     "X-Ray daemon address host:port for trace segments (empty: traces kept in memory only)"},
    {"PARLEY_EMF", ST_INT, F(emf), "1", 0, 1, NULL,
     "1: one CloudWatch Embedded Metric Format line per turn in <data>/logs/emf.log"},
    {"PARLEY_ARCHIVE", ST_INT, F(archive), "1", 0, 1, NULL,
     "1: archive transcripts to <data>/archive ({yyyy}/{mm}/{dd}/{sessionId}.json)"},
    {"PARLEY_EVENTS", ST_INT, F(events), "1", 0, 1, NULL,
     "1: emit agent events (EventBridge envelope) to the rules' targets"},
    {"PARLEY_STORE", ST_ENUM, F(store), "sqlite", 0, 0, "sqlite|dynamodb",
     "session store: SQLite in the data directory, or DynamoDB (PARLEY_DYNAMO_CONVERSATIONS, "
     "PARLEY_DYNAMO_ENTITIES, PARLEY_DYNAMO_CREATE, PARLEY_DEMO_ORDERS)"},
    {"PARLEY_QUEUE_PREFIX", ST_STRING, F(queue_prefix), "", 0, 0, NULL,
     "SQS queue name prefix: actions go to <prefix>AgentActions with its DLQ (empty: SQLite)"},
    {"PARLEY_ARCHIVE_BUCKET", ST_STRING, F(archive_bucket), "", 0, 0, NULL,
     "S3 bucket for archived transcripts (empty: <data>/archive)"},
    {"PARLEY_EVENT_BUS", ST_STRING, F(event_bus), "", 0, 0, NULL,
     "EventBridge bus for agent events (empty: the in-process bus and its rules)"},
    {"PARLEY_STATE_MACHINE_ARN", ST_STRING, F(state_machine_arn), "", 0, 0, NULL,
     "run turns on this Step Functions Express state machine (empty: the local ASL engine)"},
    {"PARLEY_WORKFLOW_TIMEOUT_MS", ST_INT, F(workflow_timeout_ms), "0", 0, 3600000, NULL,
     "how long a turn waits for its Step Functions execution (0: 60000)"},
    {"PARLEY_IDEMPOTENCY_TTL_H", ST_INT, F(idempotency_ttl_h), "24", 1, 8760, NULL,
     "hours an Idempotency-Key (and its response) is kept"},
    {"PARLEY_IDEMPOTENCY_LEASE_S", ST_INT, F(idempotency_lease_s), "300", 1, 86400, NULL,
     "seconds a running Idempotency-Key is held before a retry may take it over (a key whose "
     "process died is taken over at once)"},
    {"PARLEY_MODEL_ID", ST_STRING, F(model_id), "", 0, 0, NULL,
     "the provider's model id (empty: claude-sonnet-4-5-20250929, bedrock "
     "global.anthropic.claude-sonnet-4-5-20250929-v1:0, openai gpt-4.1-mini)"},
    {"PARLEY_MODEL_TIMEOUT_MS", ST_INT, F(model_timeout_ms), "0", 0, 3600000, NULL,
     "limit on one model call (0: 60000)"},
    {"PARLEY_MODEL_MAX_RETRIES", ST_INT, F(model_max_retries), "-1", -1, 10, NULL,
     "retries of a throttled or failed model call, Retry-After honoured (-1: 3; 0: none; "
     "capped at 3: at most 4 model calls per model step)"},
    {"PARLEY_MAX_TOKENS", ST_INT, F(max_tokens), "0", 0, 200000, NULL,
     "completion tokens one model call may write (0: 1024)"},
    {"PARLEY_MODEL_RECORD", ST_STRING, F(model_record), "", 0, 0, NULL,
     "save every model request/response pair to this directory (docs/testing-your-agent.md)"},
    {"PARLEY_MODEL_REPLAY", ST_STRING, F(model_replay), "", 0, 0, NULL,
     "answer every model call from this recording directory; never call the provider"},
    {"PARLEY_TOOL_SIGNING_SECRET", ST_STRING, F(tool_signing_secret), "", 0, 0, NULL,
     "secret that signs every HTTP tool call (X-Parley-Timestamp, X-Parley-Signature: "
     "HMAC-SHA256, docs/agent-file.md); empty: unsigned"},
    {"ANTHROPIC_API_KEY", ST_STRING, F(anthropic_api_key), "", 0, 0, NULL,
     "API key of PARLEY_MODEL=anthropic"},
    {"ANTHROPIC_BASE_URL", ST_STRING, F(anthropic_base_url), "", 0, 0, NULL,
     "base URL of the Anthropic API (empty: the public one)"},
    {"OPENAI_API_KEY", ST_STRING, F(openai_api_key), "", 0, 0, NULL,
     "API key of PARLEY_MODEL=openai"},
    {"OPENAI_BASE_URL", ST_STRING, F(openai_base_url), "", 0, 0, NULL,
     "base URL of an OpenAI-compatible API (empty: the public one)"},
    {"PARLEY_DYNAMO_CONVERSATIONS", ST_STRING, F(dynamo_conversations), "", 0, 0, NULL,
     "DynamoDB table of conversation turns (empty: Conversations)"},
    {"PARLEY_DYNAMO_ENTITIES", ST_STRING, F(dynamo_entities), "", 0, 0, NULL,
     "DynamoDB table of sessions, tickets, orders and actions (empty: ParleyEntities)"},
    {"PARLEY_DYNAMO_CREATE", ST_INT, F(dynamo_create), "0", 0, 1, NULL,
     "1: create the DynamoDB tables when missing"},
    {"PARLEY_DEMO_ORDERS", ST_INT, F(demo_orders), "1", 0, 1, NULL,
     "1: seed the demo orders into a new DynamoDB store"},
    {"PARLEY_CONVERSATION_TTL_DAYS", ST_INT, F(conversation_ttl_days), "0", 0, 36500, NULL,
     "DynamoDB TTL of conversation turns in days (0: kept)"},
    /* issue 14 (the public edge): */
    {"PARLEY_USER_JWT_SECRET", ST_STRING, F(user_jwt_secret), "", 0, 0, NULL,
     "HS256 secret verifying customers' `Authorization: Bearer <JWT>` (docs/identity.md; empty "
     "with no public key: local demo mode, a body userId is trusted)"},
    {"PARLEY_USER_JWT_PUBLIC_KEY", ST_STRING, F(user_jwt_public_key), "", 0, 0, NULL,
     "PEM public key (the text, or a file path) verifying RS256 (RSA) or ES256 (P-256) customer "
     "tokens"},
    {"PARLEY_INSECURE_DEMO", ST_INT, F(insecure_demo), "0", 0, 1, NULL,
     "1: let `parley serve` in demo mode (no JWT key) listen on a non-loopback address"},
    {"PARLEY_RATE_LIMIT_PER_MIN", ST_INT, F(rate_limit_per_min), "60", 0, 1000000, NULL,
     "POST /chat requests a minute per client address, as a token bucket (0: off); past it 429"},
    {"PARLEY_SESSION_RATE_LIMIT_PER_MIN", ST_INT, F(session_rate_limit_per_min), "20", 0, 1000000,
     NULL, "POST /chat requests a minute per session (0: off); past it 429"},
    {"PARLEY_TRUSTED_PROXIES", ST_STRING, F(trusted_proxies), "", 0, 0, NULL,
     "IPv4 CIDRs of reverse proxies whose X-Forwarded-For names the client (empty: none)"},
    {"PARLEY_ALLOWED_ORIGINS", ST_STRING, F(allowed_origins), "", 0, 0, NULL,
     "comma list of web origins (https://shop.example.com) allowed to call the API from a "
     "browser (CORS); empty: none"},
    /* issue 15 (data lifecycle): */
    {"PARLEY_RETENTION_DAYS", ST_INT, F(retention_days), "0", 0, 36500, NULL,
     "erase sessions idle longer than this many days (0: keep): a background sweep of the "
     "SQLite store, or DynamoDB TTL on expiresAt (docs/data-lifecycle.md)"},
    {"PARLEY_RETENTION_TEST_S", ST_INT, F(retention_test_s), "0", 0, 86400, NULL,
     "tests only: retention in seconds instead of days, swept every second (0: off)"},
    {"PARLEY_CHECKPOINT_MS", ST_INT, F(checkpoint_ms), "1000", 0, 3600000, NULL,
     "SQLite WAL checkpoint interval of the store and queue (PASSIVE; TRUNCATE when idle; "
     "0: only SQLite's own at commit)"},
    {"PARLEY_LOG_MAX_MB", ST_INT, F(log_max_mb), "100", 0, 1000000, NULL,
     "rotate a log file of <data>/logs (events, emf.log) past this size (0: never)"},
    {"PARLEY_LOG_FILES", ST_INT, F(log_files), "5", 1, 1000, NULL,
     "rotated files kept per log (name.1 the newest)"},
    {"PARLEY_DB_KEY", ST_STRING, F(db_key), "", 0, 0, NULL,
     "encrypt the SQLite store with SQLCipher; refused at start in this build (Debian 12's "
     "SQLCipher 3.4.1 is SQLite 3.15.2, see docs/data-lifecycle.md)"},
    {"PARLEY_SESSION_TOKEN_BUDGET", ST_INT, F(session_token_budget), "0", 0, 2000000000, NULL,
     "model tokens (in + out) one session may use per UTC day; past it the customer is handed "
     "to a human without a model call (0: off)"},
    {"PARLEY_DAILY_TOKEN_BUDGET", ST_INT, F(daily_token_budget), "0", 0, 2000000000, NULL,
     "model tokens (in + out) the whole server may use per UTC day, counted in the store; past "
     "it every customer is handed to a human without a model call (0: off)"},
    {"PARLEY_OPERATORS_FILE", ST_STRING, F(operators_file), "", 0, 0, NULL,
     "JSON array of named operators {name, token_sha256, role agent|admin}, each signing in "
     "with their own token (beside PARLEY_OPERATOR_TOKEN; empty: none)"},
    {"AWS_XRAY_DAEMON_ADDRESS", ST_STRING, F(aws_xray_daemon), "", 0, 0, NULL,
     "X-Ray daemon address Lambda sets; used when PARLEY_XRAY_DAEMON is empty"},
    /* Standard variables (ST_ENV), read through config_env(): */
    {"AWS_REGION", ST_ENV, 0, "", 0, 0, NULL,
     "AWS region of every AWS adapter (Lambda sets it; also the region of event envelopes)"},
    {"AWS_DEFAULT_REGION", ST_ENV, 0, "", 0, 0, NULL, "used when AWS_REGION is empty"},
    {"AWS_ACCESS_KEY_ID", ST_ENV, 0, "", 0, 0, NULL,
     "AWS credentials, with AWS_SECRET_ACCESS_KEY (Lambda sets them from the function's role)"},
    {"AWS_SECRET_ACCESS_KEY", ST_ENV, 0, "", 0, 0, NULL, "the secret of AWS_ACCESS_KEY_ID"},
    {"AWS_SESSION_TOKEN", ST_ENV, 0, "", 0, 0, NULL, "session token of temporary credentials"},
    {"AWS_ENDPOINT_URL", ST_ENV, 0, "", 0, 0, NULL,
     "one endpoint for every AWS service, e.g. an emulator (empty: the regional endpoints)"},
    {"AWS_ENDPOINT_URL_<SERVICE>", ST_ENV, 0, "", 0, 0, NULL,
     "endpoint of one service, before AWS_ENDPOINT_URL: SERVICE is DYNAMODB, SQS, S3, "
     "EVENTBRIDGE, SFN, BEDROCK_RUNTIME, LAMBDA, XRAY, CLOUDWATCH, CLOUDWATCH_LOGS or STS"},
    {"PARLEY_ACCOUNT_ID", ST_ENV, 0, "000000000000", 0, 0, NULL,
     "AWS account id in the envelopes of events on the local bus"},
    {"AWS_LAMBDA_RUNTIME_API", ST_ENV, 0, "", 0, 0, NULL,
     "host:port of the Lambda Runtime API `parley lambda` serves (Lambda sets it)"},
    {"_HANDLER", ST_ENV, 0, "", 0, 0, NULL,
     "the function `parley lambda` serves without --handler (Lambda sets it from Handler)"},
    {"CURL_CA_BUNDLE", ST_ENV, 0, "", 0, 0, NULL,
     "CA certificates for outbound HTTPS (the Lambda launcher sets it; empty: libcurl's own)"},
    {"SSL_CERT_FILE", ST_ENV, 0, "", 0, 0, NULL, "used when CURL_CA_BUNDLE is empty"},
};

#define NSETTINGS (sizeof settings / sizeof settings[0])

static int choice_ok(const char *choices, const char *v)
{
    size_t n = strlen(v);
    const char *p = choices;
    while (*p) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, v, n) == 0)
            return 1;
        if (!bar)
            break;
        p = bar + 1;
    }
    return 0;
}

static int apply(struct config *c, const struct setting *s, const char *value, struct err *err)
{
    char *base = (char *)c;
    if (s->type == ST_INT) {
        char *end = NULL;
        errno = 0;
        long v = strtol(value, &end, 10);
        if (errno || end == value || *end != '\0')
            return err_set(err, "InvalidConfig", "%s must be an integer (got '%s')", s->name,
                           value);
        if (v < s->min || v > s->max)
            return err_set(err, "InvalidConfig", "%s must be between %ld and %ld (got %ld)",
                           s->name, s->min, s->max, v);
        *(int *)(base + s->offset) = (int)v;
        return 0;
    }
    if (s->type == ST_ENUM && !choice_ok(s->choices, value))
        return err_set(err, "InvalidConfig", "%s must be one of %s (got '%s')", s->name, s->choices,
                       value);
    char **slot = (char **)(base + s->offset);
    free(*slot);
    *slot = xstrdup(value);
    return 0;
}

int config_set(struct config *c, const char *name, const char *value, struct err *err)
{
    for (size_t i = 0; i < NSETTINGS; i++) {
        if (strcmp(settings[i].name, name) != 0)
            continue;
        if (settings[i].type == ST_ENV)
            return err_set(err, "InvalidConfig", "%s is read from the environment only", name);
        return apply(c, &settings[i], value, err);
    }
    return err_set(err, "InvalidConfig", "unknown setting '%s'", name);
}

int config_load(struct config *c, struct err *err)
{
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < NSETTINGS; i++)
        if (settings[i].type != ST_ENV && apply(c, &settings[i], settings[i].def, err) < 0)
            return -1;
    for (size_t i = 0; i < NSETTINGS; i++) {
        const char *v = settings[i].type != ST_ENV ? getenv(settings[i].name) : NULL;
        if (v && apply(c, &settings[i], v, err) < 0)
            return -1;
    }
    return 0;
}

/* The ST_ENV row that name is, or NULL. */
static const struct setting *env_row(const char *name)
{
    static const char pattern[] = "<SERVICE>";
    for (size_t i = 0; i < NSETTINGS; i++) {
        const struct setting *s = &settings[i];
        if (s->type != ST_ENV)
            continue;
        size_t n = strlen(s->name), p = sizeof pattern - 1;
        if (n > p && strcmp(s->name + n - p, pattern) == 0) {
            if (strncmp(name, s->name, n - p) == 0 && name[n - p] != '\0')
                return s;
        } else if (strcmp(s->name, name) == 0) {
            return s;
        }
    }
    return NULL;
}

int config_operator_apis(const struct config *c)
{
    return (c->operator_token && c->operator_token[0]) ||
           (c->operators_file && c->operators_file[0]);
}

/* The row of name, through a small per-thread memo: an event reads three variables, and the
 * scan of the table (a strlen and a strcmp a row) was 0.4% of a new-session turn's CPU samples. */
#define ENV_MEMO_SLOTS 8
#define ENV_MEMO_NAME 48

static const struct setting *env_row_memo(const char *name)
{
    static __thread struct {
        char name[ENV_MEMO_NAME];
        const struct setting *row;
    } memo[ENV_MEMO_SLOTS];
    size_t len = strlen(name);
    if (len >= ENV_MEMO_NAME)
        return env_row(name);
    size_t slot = hash_str(name) % ENV_MEMO_SLOTS;
    if (memo[slot].row && strcmp(memo[slot].name, name) == 0)
        return memo[slot].row;
    const struct setting *row = env_row(name);
    if (row) {
        memcpy(memo[slot].name, name, len + 1);
        memo[slot].row = row;
    }
    return row;
}

const char *config_env(const char *name)
{
    const struct setting *s = env_row_memo(name);
    assert(s != NULL); /* reading a variable the table does not list is our bug */
    const char *v = getenv(name);
    if (v && *v)
        return v;
    return s && s->def[0] ? s->def : NULL;
}

void config_release(struct config *c)
{
    for (size_t i = 0; i < NSETTINGS; i++) {
        if (settings[i].type == ST_INT || settings[i].type == ST_ENV)
            continue;
        char **slot = (char **)((char *)c + settings[i].offset);
        free(*slot);
        *slot = NULL;
    }
}

void config_print_help(FILE *out)
{
    fprintf(out, "Settings (environment variables):\n");
    for (size_t i = 0; i < NSETTINGS; i++) {
        const struct setting *s = &settings[i];
        fprintf(out, "  %-28s %s (default: %s", s->name, s->help, s->def[0] ? s->def : "empty");
        if (s->type == ST_INT)
            fprintf(out, "; %ld..%ld", s->min, s->max);
        else if (s->type == ST_ENUM)
            fprintf(out, "; one of %s", s->choices);
        fprintf(out, ")\n");
    }
}
