/*
 * runtime.c - builds the runtime from the settings; see runtime.h.
 */
#include "runtime/runtime.h"

#include <errno.h>
#include <stddef.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/guard.h"
#include "agent/kb.h"
#include "agent/tools.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/xmalloc.h"
#include "agent/transcript.h"
#include "archive/archive.h"
#include "archive/archive_s3.h"
#include "aws/aws.h"
#include "bus/bus_eventbridge.h"
#include "queue/queue_sqs.h"
#include "runtime/workflow_sfn.h"
#include "store/store_dynamo.h"
#include "agent/agent_file.h" /* issue 11 */
#include "archive/archiver.h"
#include "bus/bus.h"
#include "queue/queue.h"
#include "telemetry/metrics.h"
#include "telemetry/trace.h"
#include "model/providers.h"
#include "runtime/analytics.h"
#include "runtime/workflow_local.h"
#include "store/store.h"

char *runtime_asset_path(const char *path)
{
    if (path[0] == '/' || access(path, R_OK) == 0)
        return xstrdup(path);
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        for (int up = 0; up < 3; up++) {
            char *slash = strrchr(exe, '/');
            if (!slash)
                break;
            *slash = '\0';
            char *candidate = xasprintf("%s/%s", exe, path);
            if (access(candidate, R_OK) == 0)
                return candidate;
            free(candidate);
        }
    }
    return xstrdup(path);
}

/* ---------------------------------------------------------------- agent hooks */

static struct runtime *rt_of(struct agent *a)
{
    return (struct runtime *)((char *)a - offsetof(struct runtime, agent));
}

static void hook_error(struct agent *a, const json_t *state, const char *error, const char *cause)
{
    (void)a;
    (void)state;
    (void)cause;
    metrics_error(error);
}

static void hook_tool(struct agent *a, const char *tool, int ok, double seconds)
{
    (void)a;
    metrics_action(tool, ok ? "succeeded" : "failed", seconds);
}

static void hook_model(struct agent *a, double seconds, long long in, long long out)
{
    metrics_model_latency(a->model->ops->name, seconds);
    metrics_tokens((uint64_t)(in > 0 ? in : 0), (uint64_t)(out > 0 ? out : 0));
}

static void hook_saved(struct agent *a, const json_t *state, int turn_no)
{
    (void)turn_no;
    struct runtime *rt = rt_of(a);
    json_int_t created = json_integer_value(json_object_get(state, "createdAt"));
    const char *sid = json_string_value(json_object_get(state, "sessionId"));
    if (created > 0)
        metrics_conversation_duration((double)(clock_now_ms() - created) / 1000.0);
    struct err e;
    err_clear(&e);
    if (rt->archiver && sid && archiver_mark(rt->archiver, sid, created, &e) < 0)
        log_at(LL_WARN, "runtime", "cannot schedule archiving of '%s': %s", sid, e.message);
}

static void hook_turn(struct agent *a, const json_t *response, const struct err *err,
                      double seconds)
{
    struct runtime *rt = rt_of(a);
    metrics_turn(seconds);
    if (!response)
        metrics_error(err && err->code[0] ? err->code : "InternalError");
    if (rt->emf) {
        struct trace_ctx *seg = agent_trace_current();
        struct metrics_turn_emf t = {
            .turn_ms = seconds * 1000.0,
            .tools = (unsigned)json_array_size(json_object_get(response, "actions")),
            .error = response == NULL,
            .provider = a->model->ops->name,
            .session_id = json_string_value(json_object_get(response, "sessionId")),
            .trace_id = seg ? trace_id_of(seg) : NULL,
        };
        metrics_emf_turn(rt->emf, &t);
    }
}

static void hook_execution(struct agent *a, const json_t *execution)
{
    struct runtime *rt = rt_of(a);
    pthread_mutex_lock(&rt->exec_lock);
    json_array_append(rt->executions, (json_t *)execution);
    if (json_array_size(rt->executions) > RUNTIME_EXECUTIONS)
        json_array_remove(rt->executions, 0);
    pthread_mutex_unlock(&rt->exec_lock);
}

json_t *runtime_executions(struct runtime *rt, const char *session_id)
{
    json_t *out = json_array();
    pthread_mutex_lock(&rt->exec_lock);
    size_t i;
    json_t *x;
    json_array_foreach(rt->executions, i, x) {
        const char *sid = json_string_value(json_object_get(x, "sessionId"));
        if (sid && strcmp(sid, session_id) == 0)
            json_array_append_new(out, json_deep_copy(x));
    }
    pthread_mutex_unlock(&rt->exec_lock);
    return out;
}

/* ---------------------------------------------------------------- archive */

static json_t *fetch_transcript(void *ud, const char *session_id, struct err *err)
{
    struct runtime *rt = ud;
    return transcript_document(rt->store, session_id, err);
}

static void on_archived(void *ud, const char *session_id, const char *key)
{
    struct runtime *rt = ud;
    agent_emit(&rt->agent, BUS_CONVERSATION_ARCHIVED,
               json_pack("{s:s, s:s}", "sessionId", session_id, "key", key));
}

/* ---------------------------------------------------------------- action workers */

int runtime_work_once(struct runtime *rt, int wait_s, struct err *err)
{
    struct queue_receive_opts opts = {.max_messages = 10,
                                      .visibility_timeout_s = rt->cfg->action_visibility_s,
                                      .wait_time_s = wait_s};
    json_t *msgs = NULL;
    if (queue_receive(rt->queue, QUEUE_AGENT_ACTIONS, &opts, &msgs, err) < 0)
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
    json_array_foreach(msgs, i, m) {
        const char *mid = json_string_value(json_object_get(m, "MessageId"));
        const char *th = json_string_value(json_object_get(
            json_object_get(json_object_get(m, "MessageAttributes"), "AWSTraceHeader"),
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
        json_t *resp = agent_action_worker(&rt->agent, event, &werr);
        agent_trace_set(NULL);
        trace_end(seg, resp ? 200 : 500);
        int failed = !resp || json_array_size(json_object_get(resp, "batchItemFailures")) > 0;
        struct err derr;
        if (!failed && queue_delete(rt->queue, QUEUE_AGENT_ACTIONS,
                                    json_string_value(json_object_get(m, "ReceiptHandle")),
                                    &derr) < 0)
            log_at(LL_WARN, "worker", "cannot delete message '%s': %s", mid, derr.message);
        json_decref(resp);
        json_decref(event);
    }
    json_decref(msgs);
    return (int)n;
}

static void *worker_main(void *arg)
{
    struct runtime *rt = arg;
    while (!rt->stopping) {
        struct err e;
        err_clear(&e);
        if (runtime_work_once(rt, 1, &e) < 0) {
            log_at(LL_WARN, "worker", "receive failed: %s", e.message);
            struct timespec ts = {0, 200 * 1000000L};
            nanosleep(&ts, NULL);
        }
        struct queue_counts qc = {0}, dc = {0};
        if (queue_counts(rt->queue, QUEUE_AGENT_ACTIONS, &qc, &e) == 0 &&
            queue_counts(rt->queue, QUEUE_AGENT_ACTIONS_DLQ, &dc, &e) == 0)
            metrics_queue_depths((double)(qc.visible + qc.in_flight + qc.delayed),
                                 (double)(dc.visible + dc.in_flight + dc.delayed));
    }
    return NULL;
}

int runtime_start_workers(struct runtime *rt, int n, struct err *err)
{
    rt->workers = xcalloc((size_t)(n > 0 ? n : 1), sizeof *rt->workers);
    for (int i = 0; i < n; i++) {
        if (pthread_create(&rt->workers[i], NULL, worker_main, rt) != 0)
            return err_set(err, "InternalError", "cannot start action worker %d", i);
        rt->nworkers++;
    }
    return 0;
}

/* ---------------------------------------------------------------- adapters */

/* Each port's adapter as the settings choose: the embedded default, or the AWS service, so that
 * several `parley serve` processes share one DynamoDB/SQS/S3/EventBridge (scale-out without
 * Lambda). Each returns NULL with err when its adapter cannot start. */

struct store *runtime_open_store(const struct config *cfg, struct err *err)
{
    if (strcmp(cfg->store, "dynamodb") == 0)
        return store_dynamo_from_env(err);
    char *db_path = xasprintf("%s/parley.db", cfg->data);
    struct store *s = store_sqlite_new(db_path, cfg->store_pool, err);
    free(db_path);
    return s;
}

static struct queue *open_queue(const struct config *cfg, struct err *err)
{
    struct queue *q;
    if (cfg->queue_prefix[0]) {
        q = queue_sqs_from_env(err);
    } else {
        char *path = xasprintf("%s/queue.db", cfg->data);
        struct queue_config qcfg = {0};
        q = queue_sqlite_new(path, &qcfg, err);
        free(path);
    }
    if (q && queue_setup_agent(q, err) < 0) {
        queue_free(q);
        return NULL;
    }
    return q;
}

static struct archive *open_archive(const struct config *cfg, struct err *err)
{
    if (cfg->archive_bucket[0])
        return archive_s3_from_env(err);
    char *root = xasprintf("%s/archive", cfg->data);
    struct archive *a = archive_fs_new(root, err);
    free(root);
    return a;
}

static struct bus *open_bus(const struct config *cfg, struct err *err)
{
    if (cfg->event_bus[0]) {
        struct aws_config aws;
        if (aws_config_from_env(&aws, err) < 0)
            return NULL;
        struct bus_eventbridge_config bc = {.aws = &aws, .bus_name = cfg->event_bus};
        struct bus *b = bus_eventbridge_new(&bc, err);
        aws_config_release(&aws);
        return b;
    }
    struct bus_local_config bcfg = {.data_dir = cfg->data,
                                    .rules_path = cfg->event_rules[0] ? cfg->event_rules : NULL};
    return bus_local_new(&bcfg, err);
}

/* The turn workflow: Step Functions when an ARN is set, else the local ASL engine. */
static int open_workflow(struct runtime *rt, struct err *err)
{
    if (rt->cfg->state_machine_arn[0]) {
        struct aws_config aws;
        if (aws_config_from_env(&aws, err) < 0)
            return -1;
        struct workflow_sfn_config wc = {.aws = &aws,
                                         .state_machine_arn = rt->cfg->state_machine_arn};
        rt->sfn = workflow_sfn_new(&wc, err);
        aws_config_release(&aws);
        if (!rt->sfn)
            return -1;
        workflow_sfn_attach(rt->sfn, &rt->agent);
        return 0;
    }
    char *asl = runtime_asset_path(rt->cfg->statemachine);
    rt->workflow = workflow_local_new(&rt->agent, asl, err);
    free(asl);
    if (!rt->workflow)
        return -1;
    workflow_local_attach(rt->workflow, &rt->agent);
    return 0;
}

static int make_dir(const char *path, struct err *err)
{
    if (mkdir(path, 0755) == 0 || errno == EEXIST)
        return 0;
    return err_set(err, "InvalidConfig", "cannot create data directory '%s': %s", path,
                   strerror(errno));
}

int runtime_open(struct runtime *rt, struct config *cfg, struct err *err)
{
    memset(rt, 0, sizeof *rt);
    rt->cfg = cfg;
    rt->started_ms = clock_now_ms();
    if (make_dir(cfg->data, err) < 0)
        goto fail;
    if (!(rt->store = runtime_open_store(cfg, err)))
        goto fail;
    /* ---- issue 11 (agent file): load PARLEY_AGENT (empty: the shipped demo agent); an invalid
     * file lists every problem on stderr and the server refuses to start. */
    char *problems = NULL;
    rt->agent_file = agent_file_load_report(cfg->agent[0] ? cfg->agent : NULL, &problems, err);
    if (!rt->agent_file) {
        if (problems) {
            fputs(problems, stderr);
            err_set(err, "InvalidAgentFile", "the agent file is invalid (problems listed above)");
        }
        free(problems);
        goto fail;
    }
    const json_t *kdirs = json_object_get(json_object_get(agent_file_doc(rt->agent_file),
                                                          "knowledge"), "dirs");
    const char *file_kb = json_string_value(json_array_get(kdirs, 0));
    int kb_default = strcmp(cfg->kb_dir, "kb") == 0;
    char *kb_dir = file_kb && kb_default ? xstrdup(file_kb)
                   : kb_default && cfg->agent[0] ? NULL /* a custom agent without knowledge */
                                                 : runtime_asset_path(cfg->kb_dir);
    /* ---- end issue 11 */
    rt->kb = kb_dir ? kb_load(kb_dir, err) : NULL;
    if (!rt->kb && kb_dir)
        log_at(LL_WARN, "runtime", "knowledge base unavailable (search_knowledge_base is off): %s",
               err->message);
    free(kb_dir);
    err_clear(err);
    if (!(rt->tools = tools_new(rt->kb, err)))
        goto fail;
    rt->model = model_new_by_name(cfg->model, err);
    if (!rt->model) {
        char msg[ERR_MSG_MAX];
        snprintf(msg, sizeof msg, "%s", err->message);
        err_set(err, "InvalidConfig", "cannot start model '%s': %s", cfg->model, msg);
        goto fail;
    }
    unsigned redact = 0;
    if (guard_kinds_parse(cfg->redact, &redact) < 0) {
        err_set(err, "InvalidConfig", "PARLEY_REDACT must be all, none or a list of email,phone,card"
                " (got '%s')", cfg->redact);
        goto fail;
    }
    agent_file_redact(rt->agent_file, &redact); /* issue 11: guardrails.redact wins */
    if (!(rt->bus = open_bus(cfg, err)))
        goto fail;
    rt->analytics = analytics_new();
    bus_set_analytics_sink(rt->bus, analytics_sink, rt->analytics);
    if (!(rt->queue = open_queue(cfg, err)) || !(rt->archive = open_archive(cfg, err)))
        goto fail;
    rt->agent = (struct agent){.cfg = cfg, .store = rt->store, .model = rt->model,
                               .tools = rt->tools, .kb = rt->kb,
                               .bus = cfg->events ? rt->bus : NULL, .redact = redact,
                               .queue = rt->queue,
                               .action_wait_ms = cfg->action_wait_ms, .on_error = hook_error,
                               .on_tool = hook_tool, .on_model = hook_model,
                               .on_saved = hook_saved, .on_turn = hook_turn,
                               .on_execution = hook_execution,
                               .file = rt->agent_file /* issue 11 */};
    agent_init(&rt->agent);
    rt->agent_ready = 1;
    pthread_mutex_init(&rt->exec_lock, NULL);
    rt->executions = json_array();
    if (cfg->archive) {
        rt->archiver = archiver_start(rt->archive, fetch_transcript, rt, cfg->archive_delay_ms,
                                      err);
        if (!rt->archiver)
            goto fail;
    }
    if (rt->archiver)
        archiver_set_hooks(rt->archiver, &(struct archiver_hooks){.redact = guard_redact_json,
                                                              .redact_kinds = redact,
                                                              .on_archived = on_archived});
    if (cfg->emf) {
        char *logs = xasprintf("%s/logs", cfg->data);
        mkdir(logs, 0755);
        char *emf_path = xasprintf("%s/emf.log", logs);
        rt->emf = fopen(emf_path, "a");
        if (rt->emf)
            setvbuf(rt->emf, NULL, _IOFBF, 1 << 16);
        if (!rt->emf)
            log_at(LL_WARN, "runtime", "cannot open '%s'; EMF lines are off", emf_path);
        free(emf_path);
        free(logs);
    }
    if (cfg->xray_daemon[0])
        setenv("PARLEY_XRAY_DAEMON", cfg->xray_daemon, 1);
    if (trace_init_from_env(err) < 0)
        goto fail;
    if (open_workflow(rt, err) < 0)
        goto fail;
    rt->web_dir = runtime_asset_path("web");
    return 0;
fail:
    runtime_close(rt);
    return -1;
}

void runtime_close(struct runtime *rt)
{
    rt->stopping = 1;
    for (int i = 0; i < rt->nworkers; i++)
        pthread_join(rt->workers[i], NULL);
    free(rt->workers);
    archiver_stop(rt->archiver); /* flushes every pending transcript first */
    archive_free(rt->archive);
    queue_free(rt->queue);
    if (rt->emf)
        fclose(rt->emf);
    if (rt->agent_ready) {
        agent_release(&rt->agent);
        pthread_mutex_destroy(&rt->exec_lock);
    }
    json_decref(rt->executions);
    workflow_local_free(rt->workflow);
    workflow_sfn_free(rt->sfn);
    bus_free(rt->bus); /* delivers every accepted event first */
    analytics_free(rt->analytics);
    model_free(rt->model);
    tools_free(rt->tools);
    kb_free(rt->kb);
    agent_file_free(rt->agent_file); /* issue 11 */
    store_free(rt->store);
    free(rt->web_dir);
    struct config *cfg = rt->cfg;
    memset(rt, 0, sizeof *rt);
    rt->cfg = cfg;
}
