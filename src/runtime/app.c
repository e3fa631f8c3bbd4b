/*
 * app.c - builds Parley from the settings for one host; see app.h.
 */
#include "runtime/app.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent_file.h"
#include "base/guard.h"
#include "agent/kb.h"
#include "agent/tools.h"
#include "agent/turn.h"
#include "base/asset.h"
#include "base/backoff.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/logfile.h"
#include "base/sched.h"
#include "base/xmalloc.h"
#include "agent/transcript.h"
#include "archive/archive.h"
#include "archive/archive_cli.h"
#include "archive/archive_s3.h"
#include "aws/aws.h"
#include "bus/bus_eventbridge.h"
#include "queue/queue_sqs.h"
#include "runtime/workflow_sfn.h"
#include "store/store_dynamo.h"
#include "archive/archiver.h"
#include "bus/bus.h"
#include "queue/queue.h"
#include "queue/queue_cli.h"
#include "telemetry/metrics.h"
#include "telemetry/trace.h"
#include "model/model_record.h"
#include "model/providers.h"
#include "base/sqlpool.h"
#include "runtime/analytics.h"
#include "runtime/retention.h"
#include "runtime/workflow_local.h"
#include "store/store.h"

static int is_lambda(enum app_role role)
{
    return role == APP_LAMBDA_REQUEST || role == APP_LAMBDA_TASK || role == APP_LAMBDA_ANALYTICS;
}

json_t *app_executions(struct app *app, const char *session_id)
{
    return observe_executions(&app->obs, session_id);
}

/* ---------------------------------------------------------------- archive */

static json_t *fetch_transcript(void *ud, const char *session_id, struct err *err)
{
    struct app *app = ud;
    /* a pass reads in one snapshot (fetches_begin); a continuing session's turns are taken as
     * the history cache holds them, not parsed again */
    return transcript_document_cached(app->store, app->agent.history, session_id, err);
}

/* An archiver pass reads its sessions in one store snapshot: each read alone began a read
 * transaction with an empty page cache (another connection had committed) and two fcntl calls. */
static int fetches_begin(void *ud)
{
    struct app *app = ud;
    struct err e = {0};
    if (store_reads_begin(app->store, &e) == 0)
        return 0;
    log_at(LL_WARN, "archive", "reading a pass's sessions one by one: %s", e.message);
    return -1;
}

static void fetches_end(void *ud)
{
    struct app *app = ud;
    store_reads_end(app->store);
}

static void on_archived(void *ud, const char *session_id, const char *key)
{
    struct app *app = ud;
    agent_emit(&app->agent, BUS_CONVERSATION_ARCHIVED,
               json_pack("{s:s, s:s}", "sessionId", session_id, "key", key));
}

/* ---------------------------------------------------------------- action workers */

int app_work_once(struct app *app, int wait_s, struct err *err)
{
    assert(app->queue && app->agent_ready); /* serve and worker open both */
    struct queue_receive_opts opts = {.max_messages = 10,
                                      .visibility_timeout_s = app->cfg->action_visibility_s,
                                      .wait_time_s = wait_s};
    json_t *msgs = NULL;
    if (queue_receive(app->queue, QUEUE_AGENT_ACTIONS, &opts, &msgs, err) < 0)
        return -1;
    size_t n = json_array_size(msgs);
    if (n == 0) {
        json_decref(msgs);
        return 0;
    }
    /* Each message runs as the SQS event a Lambda event source mapping would deliver, with its
     * own segment continuing the trace of the turn that queued it. */
    size_t i;
    json_t *m;
    agent_def_enter(&app->agent); /* the batch runs with one definition, even across a reload */
    json_array_foreach(msgs, i, m) {
        const char *mid = json_string_value(json_object_get(m, "MessageId"));
        const char *th = json_string_value(
            json_object_get(json_object_get(json_object_get(m, "MessageAttributes"),
                                            "AWSTraceHeader"),
                            "StringValue"));
        json_t *event = json_pack("{s:[{s:O, s:O, s:O, s:s}]}", "Records", "messageId",
                                  json_object_get(m, "MessageId"), "receiptHandle",
                                  json_object_get(m, "ReceiptHandle"), "body",
                                  json_object_get(m, "Body"), "eventSource", "aws:sqs");
        struct err terr;
        struct trace_ctx *seg = trace_begin("parley-worker", th, &terr);
        agent_trace_set(seg);
        struct err werr;
        err_clear(&werr);
        json_t *resp = agent_action_worker(&app->agent, event, &werr);
        agent_trace_set(NULL);
        trace_end(seg, resp ? 200 : 500);
        int failed = !resp || json_array_size(json_object_get(resp, "batchItemFailures")) > 0;
        struct err derr;
        if (!failed &&
            queue_delete(app->queue, QUEUE_AGENT_ACTIONS,
                         json_string_value(json_object_get(m, "ReceiptHandle")), &derr) < 0)
            log_at(LL_WARN, "worker", "cannot delete message '%s': %s", mid, derr.message);
        json_decref(resp);
        json_decref(event);
    }
    agent_def_leave();
    json_decref(msgs);
    return (int)n;
}

static void *worker_main(void *arg)
{
    struct app *app = arg;
    while (!app->stopping) {
        struct err e;
        err_clear(&e);
        if (app_work_once(app, 1, &e) < 0) {
            log_at(LL_WARN, "worker", "receive failed: %s", e.message);
            struct timespec ts = {0, 200 * 1000000L};
            nanosleep(&ts, NULL);
        }
        struct queue_counts qc = {0}, dc = {0};
        if (queue_counts(app->queue, QUEUE_AGENT_ACTIONS, &qc, &e) == 0 &&
            queue_counts(app->queue, QUEUE_AGENT_ACTIONS_DLQ, &dc, &e) == 0)
            metrics_queue_depths((double)(qc.visible + qc.in_flight + qc.delayed),
                                 (double)(dc.visible + dc.in_flight + dc.delayed));
    }
    return NULL;
}

int app_start_workers(struct app *app, int n, struct err *err)
{
    assert(n >= 0 && !app->workers && !is_lambda(app->role)); /* once, and not on Lambda */
    app->workers = xcalloc((size_t)(n > 0 ? n : 1), sizeof *app->workers);
    for (int i = 0; i < n; i++) {
        if (pthread_create(&app->workers[i], NULL, worker_main, app) != 0)
            return err_set(err, "InternalError", "cannot start action worker %d", i);
        app->nworkers++;
    }
    return 0;
}

/* ---------------------------------------------------------------- adapters */

/* Each port's adapter as the settings choose: the embedded default, or the AWS service, so that
 * several `parley serve` processes share one DynamoDB/SQS/S3/EventBridge (scale-out without
 * Lambda). Each returns NULL with err when its adapter cannot start. */

struct store *app_open_store(const struct config *cfg, struct err *err)
{
    if (strcmp(cfg->store, "dynamodb") == 0)
        return store_dynamo_from_config(cfg, err);
    char *db_path = xasprintf("%s/parley.db", cfg->data);
    struct store *s = store_sqlite_new(db_path, cfg->store_pool, err);
    free(db_path);
    return s;
}

/* PARLEY_LOG_MAX_MB in bytes (0: never rotate). */
static long long cfg_log_max_bytes(const struct config *cfg)
{
    return cfg->log_max_mb * 1048576LL;
}

/* On Lambda (lambda != 0) only the AWS adapters open: without PARLEY_QUEUE_PREFIX actions run
 * inline, without PARLEY_ARCHIVE_BUCKET nothing is archived, without PARLEY_EVENT_BUS events are
 * off (a function has no data directory of its own). Those leave *out NULL and return 0. */
static int open_queue(const struct config *cfg, int lambda, struct queue **out, struct err *err)
{
    if (lambda) {
        *out = cfg->queue_prefix[0] ? queue_sqs_from_config(cfg, err) : NULL;
        return cfg->queue_prefix[0] && !*out ? -1 : 0;
    }
    struct queue *q;
    if (cfg->queue_prefix[0]) {
        q = queue_sqs_from_config(cfg, err);
    } else {
        char *path = xasprintf("%s/queue.db", cfg->data);
        struct queue_config qcfg = {0};
        q = queue_sqlite_new(path, &qcfg, err);
        free(path);
    }
    if (q && queue_setup_agent(q, err) < 0) {
        queue_free(q);
        q = NULL;
    }
    *out = q;
    return q ? 0 : -1;
}

static int open_archive(const struct config *cfg, int lambda, struct archive **out, struct err *err)
{
    if (cfg->archive_bucket[0]) {
        *out = archive_s3_from_config(cfg, err);
    } else if (lambda) {
        *out = NULL;
        return 0;
    } else {
        char *root = xasprintf("%s/archive", cfg->data);
        *out = archive_fs_new_packed(root, err);
        free(root);
    }
    return *out ? 0 : -1;
}

static int open_bus(const struct config *cfg, int lambda, struct bus **out, struct err *err)
{
    if (cfg->event_bus[0]) {
        struct aws_config aws;
        *out = NULL;
        if (aws_config_from_env(&aws, err) < 0)
            return -1;
        struct bus_eventbridge_config bc = {.aws = &aws, .bus_name = cfg->event_bus};
        *out = bus_eventbridge_new(&bc, err);
        aws_config_release(&aws);
    } else if (lambda) {
        *out = NULL;
        return 0;
    } else {
        struct bus_local_config bcfg = {.data_dir = cfg->data,
                                        .rules_path = cfg->event_rules[0] ? cfg->event_rules : NULL,
                                        .log_max_bytes = cfg_log_max_bytes(cfg),
                                        .log_files = cfg->log_files};
        *out = bus_local_new(&bcfg, err);
    }
    return *out ? 0 : -1;
}

/* The turn workflow: Step Functions when an ARN is set, else the local ASL engine. */
static int open_workflow(struct app *app, struct err *err)
{
    if (app->cfg->state_machine_arn[0] || app->role == APP_LAMBDA_REQUEST) {
        struct aws_config aws;
        if (aws_config_from_env(&aws, err) < 0)
            return -1;
        struct workflow_sfn_config wc = {.aws = &aws,
                                         .state_machine_arn = app->cfg->state_machine_arn,
                                         .timeout_ms = app->cfg->workflow_timeout_ms};
        app->sfn = workflow_sfn_new(&wc, err);
        aws_config_release(&aws);
        if (!app->sfn)
            return -1;
        workflow_sfn_attach(app->sfn, &app->agent);
        return 0;
    }
    char *asl = asset_path(app->cfg->statemachine);
    app->workflow = workflow_local_new(&app->agent, asl, err);
    free(asl);
    if (!app->workflow)
        return -1;
    workflow_local_attach(app->workflow, &app->agent);
    return 0;
}

/* Creates the data directory with its parents, mode 0700 (the directories it creates; an
 * existing one keeps its mode and gets a warning in check_private). */
static int make_dir(const char *path, struct err *err)
{
    int rc = -1;
    char *p = xstrdup(path);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        int made = mkdir(p, 0700) == 0 || errno == EEXIST;
        *s = '/';
        if (!made)
            goto fail;
    }
    if (mkdir(p, 0700) == 0 || errno == EEXIST) {
        rc = 0;
        goto out;
    }
fail:
    err_set(err, "InvalidConfig", "cannot create data directory '%s': %s", path, strerror(errno));
out:
    free(p);
    return rc;
}

/* Warns about a data directory or a file directly in it that group or others may read: the
 * store holds personal data (new ones are private: umask 077 at open). */
static void check_private(const char *dir)
{
    struct stat st;
    if (stat(dir, &st) == 0 && (st.st_mode & 077))
        log_at(LL_WARN, "app",
               "data directory '%s' is readable by others (mode %03o); chmod 700 it", dir,
               (unsigned)(st.st_mode & 0777));
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char *path = xasprintf("%s/%s", dir, e->d_name);
        if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 077))
            log_at(LL_WARN, "app", "data file '%s' is readable by others (mode %03o); chmod 600 it",
                   path, (unsigned)(st.st_mode & 0777));
        free(path);
    }
    if (d)
        closedir(d);
}

/* ---------------------------------------------------------------- the agent's definition */

/* The knowledge base directory: PARLEY_KB_DIR when set away from its default, else the agent
 * file's knowledge.dirs[0]; a custom agent without knowledge gets none (NULL). New string. */
static char *app__kb_dir(const struct app *app, const struct agent_file *file)
{
    const struct config *cfg = app->cfg;
    const json_t *kdirs = json_object_get(json_object_get(agent_file_doc(file), "knowledge"),
                                          "dirs");
    const char *file_kb = json_string_value(json_array_get(kdirs, 0));
    int kb_default = strcmp(cfg->kb_dir, "kb") == 0;
    if (!kb_default)
        return asset_path(cfg->kb_dir);
    if (file_kb)
        return xstrdup(file_kb);
    return cfg->agent[0] ? NULL : asset_path(cfg->kb_dir);
}

/* Teaches the offline model the agent's custom tools (their examples); other providers ignore
 * them. */
static int app__train_model(struct app *app, const struct tools *tools, struct err *err)
{
    if (strcmp(app->cfg->model, "offline") != 0)
        return 0;
    /* issue 12: under PARLEY_MODEL_RECORD/REPLAY the offline model is the decorator's inner one */
    return model_offline_train(model_record_inner(app->model), tools_examples(tools), err);
}

/* Builds the agent's definition off to the side from the agent file (PARLEY_AGENT; empty: the
 * shipped demo agent): the file, its knowledge base, its tool registry (built-in subset, HTTP,
 * OpenAPI, Lambda and MCP tools), then the offline model's custom intents (the one step that
 * changes shared state, last, and only when the rest is valid). An invalid file fails with
 * InvalidAgentFile and *problems (new string, one problem a line) listing them. With strict, a
 * knowledge base that cannot be loaded fails too (a reload keeps the old definition); without,
 * it is logged and search_knowledge_base is off. Returns the definition (one reference) or NULL
 * with err. */
static struct agent_def *app__build_def(struct app *app, int strict, char **problems,
                                        struct err *err)
{
    const struct config *cfg = app->cfg;
    struct agent_def *def = NULL;
    struct kb *kb = NULL;
    struct tools *tools = NULL;
    char *kb_dir = NULL;
    *problems = NULL;
    struct agent_file *file = agent_file_load_report(cfg->agent[0] ? cfg->agent : NULL, problems,
                                                     err);
    if (!file) {
        if (*problems)
            err_set(err, "InvalidAgentFile", "the agent file is invalid (problems listed above)");
        goto out;
    }
    kb_dir = app__kb_dir(app, file);
    kb = kb_dir ? kb_load(kb_dir, err) : NULL;
    if (!kb && kb_dir) {
        if (strict)
            goto out;
        log_at(LL_WARN, "app", "knowledge base unavailable (search_knowledge_base is off): %s",
               err->message);
    }
    err_clear(err);
    tools = tools_new(kb, json_object_get(agent_file_doc(file), "tools"), err);
    if (!tools || app__train_model(app, tools, err) < 0)
        goto out;
    def = agent_def_new(file, kb, tools);
    file = NULL;
    kb = NULL;
    tools = NULL;
out:
    tools_free(tools);
    kb_free(kb);
    agent_file_free(file);
    free(kb_dir);
    return def;
}

/* Builds the agent's definition at start. An invalid agent file lists every problem on stderr
 * and fails with InvalidAgentFile: the host refuses to start. Returns the definition (one
 * reference) or NULL with err. */
static struct agent_def *app__load_def(struct app *app, struct err *err)
{
    char *problems = NULL;
    struct agent_def *def = app__build_def(app, 0, &problems, err);
    if (problems)
        fputs(problems, stderr);
    free(problems);
    return def;
}

/* Builds the agent that runs def (its reference taken). */
static void app__open_agent(struct app *app, struct agent_def *def, unsigned redact)
{
    const struct config *cfg = app->cfg;
    app->agent = (struct agent){.cfg = cfg,
                                .store = app->store,
                                .model = app->model,
                                .bus = cfg->events ? app->bus : NULL,
                                .redact = redact,
                                .queue = app->queue,
                                .action_wait_ms = cfg->action_wait_ms,
                                .hooks = observe_hooks_of(&app->obs),
                                .hooks_ud = &app->obs};
    agent_init(&app->agent);
    agent_def_swap(&app->agent, def);
    app->agent_ready = 1;
}

/* The reload counter, parley_agent_reloads_total{result="ok"|"failed"}. */
static struct metric *reload_metric(void)
{
    static const char name[] = "parley_agent_reloads_total";
    struct metrics_reg *reg = metrics_default();
    struct metric *m = metrics_find(reg, name);
    if (!m) {
        struct err e;
        m = metrics_define(reg, METRIC_COUNTER, name,
                           "Agent file reloads (SIGHUP) by result: ok, or failed (old agent kept).",
                           "result", NULL, 0, &e);
    }
    return m;
}

static pthread_mutex_t reload_lock = PTHREAD_MUTEX_INITIALIZER; /* one rebuild at a time */

int app_reload_agent(struct app *app, struct err *err)
{
    assert(app->agent_ready); /* only an opened app reloads */
    pthread_mutex_lock(&reload_lock);
    int rc = -1;
    char *problems = NULL;
    const char *path = app->cfg->agent[0] ? app->cfg->agent : "the shipped demo agent";
    struct agent_def *def = app__build_def(app, 1, &problems, err);
    if (!def) {
        /* every problem on its own log line, then the summary */
        for (char *line = problems, *nl; line && *line; line = nl ? nl + 1 : NULL) {
            nl = strchr(line, '\n');
            if (nl)
                *nl = '\0';
            if (*line)
                log_at(LL_ERROR, "app", "reload of '%s': %s", path, line);
        }
        log_at(LL_ERROR, "app", "cannot reload '%s', keeping the running agent: %s", path,
               err->message);
        metrics_counter_add(reload_metric(), METRICS_L("failed"), 1);
        goto out;
    }
    agent_def_swap(&app->agent, def);
    metrics_counter_add(reload_metric(), METRICS_L("ok"), 1);
    log_at(LL_INFO, "app", "reloaded the agent from '%s'", path);
    rc = 0;
out:
    free(problems);
    pthread_mutex_unlock(&reload_lock);
    return rc;
}

/* ---------------------------------------------------------------- optional MCP servers */

#define MCP_RETRY_MAX_MS 60000L /* cap on the delay between two retries */

/* Optional MCP servers the current definition could not reach. */
static int mcp_down_now(struct app *app)
{
    struct agent_def *d = agent_def_get(&app->agent);
    int n = d ? tools_mcp_down(d->tools) : 0;
    agent_def_unref(d);
    return n;
}

/* One retry: rebuilds the definition and swaps it in when it reaches more optional MCP servers
 * than the running one (the same path as a reload). Returns the servers still down. */
static int mcp_retry_once(struct app *app)
{
    pthread_mutex_lock(&reload_lock);
    int before = mcp_down_now(app), after = before;
    char *problems = NULL;
    struct err e;
    err_clear(&e);
    struct agent_def *def = before > 0 ? app__build_def(app, 1, &problems, &e) : NULL;
    if (def && (after = tools_mcp_down(def->tools)) < before) {
        agent_def_swap(&app->agent, def);
        metrics_counter_add(reload_metric(), METRICS_L("ok"), 1);
        log_at(LL_INFO, "app",
               "an optional MCP server is reachable now: reloaded the agent "
               "(%d still down)",
               after);
    } else {
        agent_def_unref(def); /* nothing gained, or the file no longer builds: keep running */
        after = before;
    }
    free(problems);
    pthread_mutex_unlock(&reload_lock);
    return after;
}

static void *mcp_retry_main(void *arg)
{
    struct app *app = arg;
    long base = app->cfg->mcp_retry_ms > 0 ? app->cfg->mcp_retry_ms : 2000;
    struct backoff b = {base, base > MCP_RETRY_MAX_MS ? base : MCP_RETRY_MAX_MS,
                        BACKOFF_JITTER_EQUAL};
    for (int attempt = 1; !app->stopping; attempt++) {
        int64_t until = clock_mono_ms() + backoff_delay_ms(&b, attempt);
        while (!app->stopping && clock_mono_ms() < until)
            sched_sleep_ms(until - clock_mono_ms() < 50 ? until - clock_mono_ms() : 50);
        if (app->stopping || mcp_retry_once(app) == 0)
            break;
    }
    return NULL;
}

/* Starts the retry thread when the agent left optional MCP servers out (serve only). */
static void start_mcp_retry(struct app *app)
{
    if (mcp_down_now(app) == 0)
        return;
    if (pthread_create(&app->mcp_retry, NULL, mcp_retry_main, app) == 0)
        app->mcp_retry_on = 1;
    else
        log_at(LL_WARN, "app", "cannot start the optional MCP retry; reload to retry");
}

/* EMF lines: <data>/logs/emf.log for serve and worker; stdout on Lambda, where CloudWatch reads
 * the function's log. Off when PARLEY_EMF=0 or the file cannot be opened. */
static void open_emf(struct app *app)
{
    if (!app->cfg->emf)
        return;
    if (is_lambda(app->role)) {
        app->emf = stdout;
        return;
    }
    char *logs = xasprintf("%s/logs", app->cfg->data);
    mkdir(logs, 0700);
    char *emf_path = xasprintf("%s/emf.log", logs);
    struct err e = {0};
    struct logfile *lf = logfile_open(emf_path, cfg_log_max_bytes(app->cfg), app->cfg->log_files,
                                      &e);
    app->emf = lf ? logfile_stream(lf) : NULL;
    if (app->emf) {
        setvbuf(app->emf, NULL, _IOFBF, 1 << 16);
        app->emf_owned = 1;
    } else {
        logfile_free(lf);
        log_at(LL_WARN, "app", "cannot open '%s'; EMF lines are off", emf_path);
    }
    free(emf_path);
    free(logs);
}

/* Announces a session the retention sweep erased, as DELETE /sessions/{id} does. */
static void on_retention_erased(const char *session_id, void *ctx)
{
    struct app *app = ctx;
    agent_emit(&app->agent, "conversation_erased",
               json_pack("{s:s, s:s}", "sessionId", session_id, "reason", "retention"));
}

/* PARLEY_RETENTION_DAYS (or the tests' PARLEY_RETENTION_TEST_S) over the SQLite store: the sweep
 * runs every minute (every second under the test setting). Off when neither is set. */
static int start_retention(struct app *app, struct err *err)
{
    const struct config *cfg = app->cfg;
    long long idle_ms = cfg->retention_test_s > 0 ? cfg->retention_test_s * 1000LL
                                                  : cfg->retention_days * 86400000LL;
    if (idle_ms <= 0)
        return 0;
    app->retention = retention_start(app->store, app->queue, app->archive, idle_ms,
                                     cfg->retention_test_s > 0 ? 1000 : 60000, on_retention_erased,
                                     app, err);
    return app->retention ? 0 : -1;
}

int app_open(struct app *app, const struct config *cfg, enum app_role role, struct err *err)
{
    assert(app && cfg);
    memset(app, 0, sizeof *app);
    app->cfg = cfg;
    app->role = role;
    app->started_ms = clock_now_ms();
    /* Fixes this process's start id: Idempotency-Keys record it to recover after a crash. */
    log_at(LL_DEBUG, "app", "process start id %s", turn_process_id());
    int lambda = is_lambda(role);
    unsigned redact = 0;
    struct agent_def *def = NULL;       /* the agent's definition until the agent takes it */
    if (role == APP_LAMBDA_ANALYTICS) { /* the counters live in the store */
        if (strcmp(cfg->store, "dynamodb") != 0 && make_dir(cfg->data, err) < 0)
            goto fail;
        if (!(app->store = app_open_store(cfg, err)))
            goto fail;
        app->analytics = analytics_new(app->store, 0); /* one event an invocation */
        return 0;
    }
    /* Data files hold personal data: private to this user, whoever's umask started us. */
    umask(077);
    /* On Lambda only the SQLite store needs it (the bootstrap's /tmp/parley). */
    int local_store = strcmp(cfg->store, "dynamodb") != 0;
    if (!lambda || local_store) {
        if (make_dir(cfg->data, err) < 0)
            goto fail;
        check_private(cfg->data);
    }
    if (cfg->db_key[0]) {
        /* SQLCipher in Debian 12 (libsqlcipher 3.4.1) is built on SQLite 3.15.2, which lacks what
         * the store and queue use: upsert (3.24), RETURNING (3.35), built-in JSON (3.38). */
        err_set(err, "InvalidConfig",
                "PARLEY_DB_KEY is set, but this build cannot encrypt the SQLite store: the only "
                "SQLCipher packaged (libsqlcipher 3.4.1) is SQLite 3.15.2, without the upsert, "
                "RETURNING and JSON functions the store needs; unset PARLEY_DB_KEY and encrypt "
                "the volume instead (docs/data-lifecycle.md)");
        goto fail;
    }
    sqlpool_set_checkpoint_ms(cfg->checkpoint_ms);
    if (!(app->store = app_open_store(cfg, err)))
        goto fail;
    app->model = model_new_from_config(cfg->model, cfg, err);
    if (!app->model) {
        char msg[ERR_MSG_MAX];
        snprintf(msg, sizeof msg, "%s", err->message);
        err_set(err, "InvalidConfig", "cannot start model '%s': %s", cfg->model, msg);
        goto fail;
    }
    /* ---- issue 12: model record/replay (PARLEY_MODEL_RECORD / PARLEY_MODEL_REPLAY) ---- */
    if (cfg->model_record[0] && cfg->model_replay[0]) {
        err_set(err, "InvalidConfig",
                "PARLEY_MODEL_RECORD and PARLEY_MODEL_REPLAY exclude each other");
        goto fail;
    }
    if (cfg->model_record[0] || cfg->model_replay[0]) {
        int replay = cfg->model_replay[0] != 0;
        app->model = model_record_new(app->model, replay ? cfg->model_replay : cfg->model_record,
                                      replay ? MODEL_RECORD_REPLAY : MODEL_RECORD_SAVE, err);
        if (!app->model)
            goto fail;
    }
    /* ---- end issue 12 ---- */
    if (guard_kinds_parse(cfg->redact, &redact) < 0) {
        err_set(err, "InvalidConfig",
                "PARLEY_REDACT must be all, none or a list of email,phone,card"
                " (got '%s')",
                cfg->redact);
        goto fail;
    }
    if (!(def = app__load_def(app, err)))
        goto fail;
    agent_file_redact(def->file, &redact); /* guardrails.redact wins over PARLEY_REDACT */
    if (open_bus(cfg, lambda, &app->bus, err) < 0)
        goto fail;
    if (!lambda) {
        app->analytics = analytics_new(app->store, APP_ANALYTICS_FLUSH_MS);
        bus_set_analytics_sink(app->bus, analytics_sink, app->analytics);
    }
    if (open_queue(cfg, lambda, &app->queue, err) < 0 ||
        open_archive(cfg, lambda, &app->archive, err) < 0)
        goto fail;
    if (!lambda && cfg->archive) {
        app->archiver = archiver_start(app->archive, fetch_transcript, app, cfg->archive_delay_ms,
                                       err);
        if (!app->archiver)
            goto fail;
        archiver_set_hooks(app->archiver, &(struct archiver_hooks){.redact = guard_redact_json,
                                                                   .redact_kinds = redact,
                                                                   .on_archived = on_archived,
                                                                   .fetches_begin = fetches_begin,
                                                                   .fetches_end = fetches_end});
    }
    open_emf(app);
    /* The console's history (execution records, trace segments: ~3 MB once full) is read only
     * through the operator APIs; without them it is not kept. */
    int operators = config_operator_apis(cfg);
    if (role == APP_SERVE)
        trace_store_set_capacity(operators ? TRACE_STORE_DEFAULT : 0);
    observe_init(&app->obs, &(struct observe_config){
                                .emf = app->emf,
                                .per_invocation = lambda,
                                .archiver = app->archiver,
                                .archive = lambda && cfg->archive ? app->archive : NULL,
                                .bus = lambda ? app->bus : NULL,
                                .bus_flush_ms = APP_LAMBDA_BUS_FLUSH_MS,
                                .keep_executions = !lambda && operators,
                            });
    app__open_agent(app, def, redact);
    def = NULL;
    if (role == APP_SERVE) {
        reload_metric(); /* listed at 0 before the first SIGHUP */
        start_mcp_retry(app);
        if (local_store && start_retention(app, err) < 0)
            goto fail;
    }
    if (!lambda) {
        if (trace_init_from_config(cfg, err) < 0)
            goto fail;
        app->web_dir = asset_path("web");
    }
    if ((role != APP_LAMBDA_TASK) && open_workflow(app, err) < 0)
        goto fail;
    assert(app->store && app->model && app->agent_ready);
    return 0;
fail:
    agent_def_unref(def);
    app_close(app);
    return -1;
}

void app_flush(struct app *app)
{
    if (app->agent_ready && app->agent.hooks && app->agent.hooks->flush)
        app->agent.hooks->flush(&app->agent);
    else if (app->obs.executions)
        observe_flush(&app->obs, NULL);
}

void app_close(struct app *app)
{
    app->stopping = 1;
    retention_stop(app->retention);
    app->retention = NULL;
    if (app->mcp_retry_on)
        pthread_join(app->mcp_retry, NULL);
    app->mcp_retry_on = 0;
    for (int i = 0; i < app->nworkers; i++)
        pthread_join(app->workers[i], NULL);
    free(app->workers);
    archiver_stop(app->archiver); /* flushes every pending transcript first */
    archive_free(app->archive);
    queue_free(app->queue);
    if (app->agent_ready)
        agent_release(&app->agent);
    observe_release(&app->obs);
    if (app->emf_owned)
        fclose(app->emf);
    else if (app->emf)
        fflush(app->emf);
    workflow_local_free(app->workflow);
    workflow_sfn_free(app->sfn);
    bus_free(app->bus); /* delivers every accepted event first */
    analytics_free(app->analytics);
    model_free(app->model);
    store_free(app->store);
    free(app->web_dir);
    const struct config *cfg = app->cfg;
    enum app_role role = app->role;
    memset(app, 0, sizeof *app);
    app->cfg = cfg;
    app->role = role;
}

/* ---------------------------------------------------------------- ports for CLI commands */

char *app_port_backend(const struct config *cfg, unsigned port)
{
    if (port == APP_PORT_QUEUE)
        return cfg->queue_prefix[0] ? xasprintf("sqs (queue prefix '%s')", cfg->queue_prefix)
                                    : xasprintf("sqlite '%s/queue.db'", cfg->data);
    assert(port == APP_PORT_ARCHIVE);
    return cfg->archive_bucket[0] ? xasprintf("s3 (bucket '%s')", cfg->archive_bucket)
                                  : xasprintf("fs '%s/archive'", cfg->data);
}

int app_open_ports(struct app_ports *p, const struct config *cfg, unsigned want, struct err *err)
{
    assert(p && cfg);
    int rc = -1;
    memset(p, 0, sizeof *p);
    if ((want & APP_PORT_QUEUE) && !(want & APP_PORTS_EXISTING)) {
        if (open_queue(cfg, 0, &p->queue, err) < 0)
            goto out;
    } else if ((want & APP_PORT_QUEUE) && cfg->queue_prefix[0]) {
        if (!(p->queue = queue_sqs_from_config(cfg, err)))
            goto out;
    } else if (want & APP_PORT_QUEUE) {
        if (access(cfg->data, F_OK) != 0) {
            err_set(err, "NotFound", "no data directory '%s'", cfg->data);
            goto out;
        }
        char *db = xasprintf("%s/queue.db", cfg->data);
        int exists = access(db, F_OK) == 0;
        if (exists)
            p->queue = queue_sqlite_new(db, NULL, err);
        free(db);
        if (exists && !p->queue)
            goto out;
    }
    if ((want & APP_PORT_ARCHIVE) && open_archive(cfg, 0, &p->archive, err) < 0)
        goto out;
    rc = 0;
out:
    if (rc < 0)
        app_close_ports(p);
    return rc;
}

void app_close_ports(struct app_ports *p)
{
    queue_free(p->queue);
    archive_free(p->archive);
    memset(p, 0, sizeof *p);
}

static int cli_open_queue(const struct config *cfg, int existing, struct queue **q, char **backend,
                          struct err *err)
{
    struct app_ports p;
    unsigned want = APP_PORT_QUEUE | (existing ? APP_PORTS_EXISTING : 0);
    if (app_open_ports(&p, cfg, want, err) < 0)
        return -1;
    *q = p.queue;
    *backend = app_port_backend(cfg, APP_PORT_QUEUE);
    return 0;
}

static int cli_open_archive(const struct config *cfg, struct archive **a, char **backend,
                            struct err *err)
{
    struct app_ports p;
    if (app_open_ports(&p, cfg, APP_PORT_ARCHIVE, err) < 0)
        return -1;
    *a = p.archive;
    *backend = app_port_backend(cfg, APP_PORT_ARCHIVE);
    return 0;
}

int app_cli_queue(int argc, char **argv)
{
    return queue_cli_main(argc, argv, cli_open_queue);
}

int app_cli_archive(int argc, char **argv)
{
    return archive_cli_main(argc, argv, cli_open_archive);
}

/* ---------------------------------------------------------------- erasure */

int app_erase_session(struct store *store, struct queue *queue, struct archive *archive,
                      const char *session_id, struct err *err)
{
    assert(store);
    int rc = -1;
    json_t *session = NULL;
    if (!turn_session_id_valid(session_id)) {
        err_set(err, "NotFound", "session not found");
        goto out;
    }
    if (store_session_get(store, session_id, &session, err) < 0)
        goto out;
    /* The queue first: once the store forgets the session, a retry could not find it again. */
    long long dropped = 0;
    if (queue && queue_erase_session(queue, session_id, &dropped, err) < 0)
        goto out;
    if (store_session_erase(store, session_id, err) < 0)
        goto out;
    char key[ARCHIVE_KEY_MAX + 1];
    struct err ae;
    err_clear(&ae);
    json_int_t created = json_integer_value(json_object_get(session, "createdAt"));
    if (archive && archive_key_for(session_id, created, key, sizeof key, &ae) == 0 &&
        archive_delete(archive, key, &ae) < 0)
        log_at(LL_WARN, "app", "cannot erase the archived transcript of '%s': %s", session_id,
               ae.message);
    log_at(LL_INFO, "app", "erased session '%s' (%lld queued actions%s)", session_id,
           dropped < 0 ? 0 : dropped, dropped < 0 ? "; the worker drops in-flight ones" : "");
    rc = 0;
out:
    json_decref(session);
    return rc;
}

int app_erase_user(struct store *store, struct queue *queue, struct archive *archive,
                   const char *user_id, json_t **erased, struct err *err)
{
    assert(store && erased);
    int rc = -1;
    json_t *all = NULL, *ids = json_array();
    *erased = NULL;
    if (!user_id || !user_id[0] || strlen(user_id) > 256) {
        err_set(err, "InvalidRequest", "a user id is 1..256 bytes");
        goto out;
    }
    if (store_sessions_list(store, NULL, APP_ERASE_USER_MAX + 1, &all, err) < 0)
        goto out;
    if (json_array_size(all) > APP_ERASE_USER_MAX) {
        err_set(err, "InvalidRequest", "more than %d sessions to look at: erase them one by one",
                APP_ERASE_USER_MAX);
        goto out;
    }
    size_t i;
    json_t *s;
    json_array_foreach(all, i, s) {
        const char *uid = json_string_value(json_object_get(s, "userId"));
        const char *sid = json_string_value(json_object_get(s, "sessionId"));
        if (!uid || !sid || strcmp(uid, user_id) != 0)
            continue;
        struct err e;
        err_clear(&e);
        if (app_erase_session(store, queue, archive, sid, &e) < 0) {
            if (strcmp(e.code, "NotFound") == 0)
                continue; /* erased meanwhile */
            *err = e;
            goto out;
        }
        json_array_append_new(ids, json_string(sid));
    }
    *erased = json_incref(ids);
    rc = 0;
out:
    json_decref(ids);
    json_decref(all);
    return rc;
}

static void forget_usage(FILE *out)
{
    fprintf(out, "usage: parley forget (--user ID | --older-than DAYS) [--data DIR]\n\n"
                 "Erases every session of the user (--user), or every session idle for more than\n"
                 "DAYS days (--older-than, 0..36500; the local store only: DynamoDB expires idle\n"
                 "sessions by TTL): its turns, actions, queued actions, idempotency records and\n"
                 "archived transcript; its tickets keep their number and status but lose every\n"
                 "personal field. Uses the store and ports `parley serve` would open\n"
                 "(PARLEY_STORE, PARLEY_QUEUE_PREFIX, PARLEY_ARCHIVE_BUCKET).\n"
                 "Exit status: 0 done (also when nothing matched), 1 failed, 2 usage.\n");
}

/* Erases, batch by batch, every session idle since before before_ms; *count gets how many.
 * Returns 0, or -1 with err (those erased before the failure stay erased). */
static int forget_idle(struct store *store, const struct app_ports *ports, long long before_ms,
                       int *count, struct err *err)
{
    int n = 0;
    *count = 0;
    do {
        if (retention_sweep(store, ports->queue, ports->archive, before_ms, NULL, NULL, &n, err) <
            0)
            return -1;
        *count += n;
    } while (n > 0);
    return 0;
}

int app_cli_forget(int argc, char **argv)
{
    const char *user = NULL, *data = NULL, *older = NULL;
    long days = -1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            forget_usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--user") == 0 && i + 1 < argc) {
            user = argv[++i];
        } else if (strcmp(argv[i], "--older-than") == 0 && i + 1 < argc) {
            older = argv[++i];
        } else if (strcmp(argv[i], "--data") == 0 && i + 1 < argc) {
            data = argv[++i];
        } else {
            forget_usage(stderr);
            return 2;
        }
    }
    if (older) {
        char *end = NULL;
        errno = 0;
        days = strtol(older, &end, 10);
        if (errno != 0 || end == older || *end != '\0' || days < 0 || days > 36500) {
            fprintf(stderr,
                    "parley forget: --older-than '%s' is not a number of days in 0..36500\n",
                    older);
            return 2;
        }
    }
    if (!user == !older) {
        forget_usage(stderr);
        return 2;
    }
    struct config cfg;
    struct err err = {0};
    struct store *store = NULL;
    struct app_ports ports = {0};
    json_t *ids = NULL;
    int rc = 1;
    if (config_load(&cfg, &err) < 0 || (data && config_set(&cfg, "PARLEY_DATA", data, &err) < 0)) {
        fprintf(stderr, "parley forget: %s\n", err.message);
        rc = 2;
        goto out;
    }
    int idle = 0;
    if (!(store = app_open_store(&cfg, &err)) ||
        app_open_ports(&ports, &cfg, APP_PORT_QUEUE | APP_PORT_ARCHIVE | APP_PORTS_EXISTING, &err) <
            0 ||
        (user && app_erase_user(store, ports.queue, ports.archive, user, &ids, &err) < 0) ||
        (older &&
         forget_idle(store, &ports, clock_now_ms() - days * 86400000LL, &idle, &err) < 0)) {
        fprintf(stderr, "parley forget: %s: %s\n", err.code, err.message);
        goto out;
    }
    if (user)
        printf("erased %zu session%s of user '%s'\n", json_array_size(ids),
               json_array_size(ids) == 1 ? "" : "s", user);
    else
        printf("erased %d session%s idle for more than %ld day%s\n", idle, idle == 1 ? "" : "s",
               days, days == 1 ? "" : "s");
    rc = 0;
out:
    json_decref(ids);
    app_close_ports(&ports);
    store_free(store);
    config_release(&cfg);
    return rc;
}
