/*
 * actions.c - ExecuteAction and the action worker: the seed's "Lambda + SQS" action path.
 *
 * ActionExecutor validates each tool_use against its schema (an invalid call goes straight back
 * to the model as an error result), records the action as pending, and sends it to the
 * AgentActions queue with an idempotency key (sessionId:toolUseId). It then waits, up to
 * PARLEY_ACTION_WAIT_MS, for the workers to record results; whatever is still running is
 * reported to the model as pending with its id, and get_action_status answers later.
 *
 * ActionWorker is the queue's consumer (an SQS event source Lambda on AWS, worker threads or
 * `parley worker` locally). It takes an SQS-shaped event {"Records": [{messageId, receiptHandle,
 * body}]} and answers with a partial batch response {"batchItemFailures": [{itemIdentifier}]}:
 * listed messages stay on the queue and are retried, then dead-lettered after maxReceiveCount.
 * Delivery is at least once; the effect is exactly once because a finished action is never run
 * again and ticket creation is keyed by the idempotency key.
 *
 * Without a queue (a->queue NULL) actions run inline, in the turn's thread.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "agent/agent.h"
#include "agent/agent_int.h"
#include "agent/tools.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/xmalloc.h"
#include "queue/queue.h"
#include "telemetry/trace.h"

/* ---------------------------------------------------------------- waiting for results */

void agent_actions_notify(struct agent *a)
{
    pthread_mutex_lock(&a->action_lock);
    a->action_generation++;
    pthread_cond_broadcast(&a->action_done);
    pthread_mutex_unlock(&a->action_lock);
}

/* Waits until a worker in this process reports a result or slice_ms pass (workers in other
 * processes are noticed by the caller re-reading the store). */
static void wait_slice(struct agent *a, unsigned long seen, int slice_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += (long)slice_ms * 1000000L;
    until.tv_sec += until.tv_nsec / 1000000000L;
    until.tv_nsec %= 1000000000L;
    pthread_mutex_lock(&a->action_lock);
    while (a->action_generation == seen &&
           pthread_cond_timedwait(&a->action_done, &a->action_lock, &until) != ETIMEDOUT)
        ;
    pthread_mutex_unlock(&a->action_lock);
}

/* ---------------------------------------------------------------- running one action */

/* Runs a tool for the session; returns the action record {"id","tool","input","status",
 * "result"}. Sets *transient when the failure is worth retrying (the store was unavailable). */
static json_t *run_action(struct agent *a, const char *id, const char *sid, const char *uid,
                          const char *name, const json_t *input, const char *key, int *transient)
{
    struct tool_ctx ctx = {a->store, a->kb, sid, uid, key};
    struct err terr;
    err_clear(&terr);
    int64_t t0 = clock_mono_us();
    json_t *result = tools_run(a->tools, &ctx, name, input, &terr);
    AGENT_HOOK(a, on_tool, name, result != NULL, (double)(clock_mono_us() - t0) / 1e6);
    if (transient)
        *transient = !result && strncmp(terr.code, "Store", 5) == 0;
    if (!result && transient && *transient)
        return json_pack("{s:s, s:s, s:O, s:s, s:n}", "id", id, "tool", name, "input", input,
                         "status", "pending", "result");
    json_t *action;
    if (!result) {
        log_at(LL_INFO, "agent", "tool '%s' failed: %s: %s", name, terr.code, terr.message);
        result = json_pack("{s:{s:s, s:s}}", "error", "code", terr.code, "message", terr.message);
        action = json_pack("{s:s, s:s, s:O, s:s, s:o}", "id", id, "tool", name, "input", input,
                           "status", "failed", "result", result);
        agent_emit(a, BUS_ACTION_FAILED,
                   json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:s}}", "sessionId", sid, "actionId",
                             id, "tool", name, "status", "failed", "error", "code", terr.code,
                             "message", terr.message));
    } else {
        action = json_pack("{s:s, s:s, s:O, s:s, s:o}", "id", id, "tool", name, "input", input,
                           "status", "succeeded", "result", result);
        agent_emit(a, BUS_ACTION_EXECUTED,
                   json_pack("{s:s, s:s, s:s, s:s}", "sessionId", sid, "actionId", id, "tool",
                             name, "status", "succeeded"));
    }
    return action;
}

/* The tool_result block the model sees for an action record. */
static json_t *tool_result_block(const json_t *action)
{
    const char *status = agent__str(action, "status");
    json_t *result = json_object_get(action, "result");
    char *text;
    int is_error = strcmp(status, "failed") == 0;
    if (is_error) {
        json_t *e = json_object_get(result, "error");
        text = xasprintf("%s: %s", agent__str(e, "code"), agent__str(e, "message"));
    } else if (strcmp(status, "pending") == 0) {
        text = xasprintf("{\"status\":\"pending\",\"actionId\":\"%s\",\"message\":\"The action "
                         "is still running; check it later with get_action_status.\"}",
                         agent__str(action, "id"));
    } else {
        text = json_dumps(result, JSON_COMPACT | JSON_ENCODE_ANY);
    }
    json_t *block = json_pack("{s:s, s:O, s:s, s:b}", "type", "tool_result", "tool_use_id",
                              json_object_get(action, "id"), "content", text, "is_error",
                              is_error);
    free(text);
    return block;
}

/* ---------------------------------------------------------------- ActionExecutor */

/* Records the action as pending and sends it to the queue. Returns 0, or -1 with err. */
static int enqueue(struct agent *a, const json_t *event, const char *id, const char *name,
                   const json_t *input, struct err *err)
{
    const char *sid = agent__str(event, "sessionId");
    const char *uid = agent__str(event, "userId");
    json_t *record = json_pack("{s:s, s:s, s:s, s:s, s:O, s:s}", "id", id, "sessionId", sid,
                               "userId", uid, "tool", name, "input", input, "status", "pending");
    int rc = STORE_CALL(a->store, action_put, record, err);
    json_decref(record);
    if (rc < 0)
        return -1;
    char *key = xasprintf("%s:%s", sid, id);
    json_t *msg = json_pack("{s:s, s:s, s:s, s:s, s:O, s:s}", "actionId", id, "sessionId", sid,
                            "userId", uid, "tool", name, "input", input, "idempotencyKey", key);
    char *body = json_dumps(msg, JSON_COMPACT);
    char message_id[37];
    /* The queue hop joins the turn's trace: the worker continues it from AWSTraceHeader, the
     * system attribute SQS itself uses for X-Ray. */
    struct trace_ctx *hop = trace_sub_begin(agent_trace_current(), QUEUE_AGENT_ACTIONS, "aws");
    char th[TRACE_HEADER_MAX];
    json_t *attrs = NULL;
    if (trace_header_format(hop, 1, th, sizeof th) > 0)
        attrs = json_pack("{s:{s:s, s:s}}", "AWSTraceHeader", "DataType", "String",
                          "StringValue", th);
    rc = queue_send(a->queue, QUEUE_AGENT_ACTIONS, body, attrs, 0, message_id, err);
    trace_sub_end(hop, rc < 0 ? err : NULL);
    json_decref(attrs);
    free(body);
    free(key);
    json_decref(msg);
    return rc;
}

json_t *agent_action_executor(struct agent *a, json_t *event, struct err *err)
{
    json_t *msgs = json_object_get(event, "newMessages");
    json_t *last = json_array_get(msgs, json_array_size(msgs) - 1);
    const char *role = agent__str(last, "role");
    if (!last || !role || strcmp(role, "assistant") != 0) {
        err_set(err, "InvalidRequest", "ActionExecutor needs the model's tool_use reply last");
        return NULL;
    }
    const char *sid = agent__str(event, "sessionId");
    const char *uid = agent__str(event, "userId");
    json_t *batch = json_array(); /* this call's action records, in tool_use order */
    size_t i;
    json_t *b;
    int pending = 0;
    json_array_foreach(json_object_get(last, "content"), i, b) {
        if (strcmp(agent__str(b, "type"), "tool_use") != 0)
            continue;
        const char *id = agent__str(b, "id");
        const char *name = agent__str(b, "name");
        const json_t *input = json_object_get(b, "input");
        struct err verr;
        err_clear(&verr);
        json_t *action;
        if (tools_validate(a->tools, name, input, &verr) < 0) {
            action = json_pack("{s:s, s:s, s:O, s:s, s:{s:{s:s, s:s}}}", "id", id, "tool", name,
                               "input", input, "status", "failed", "result", "error", "code",
                               verr.code, "message", verr.message);
        } else if (!a->queue) {
            action = run_action(a, id, sid, uid, name, input, NULL, NULL);
        } else if (enqueue(a, event, id, name, input, err) < 0) {
            json_decref(batch);
            return NULL; /* the store or queue is down: Retry/Catch in the workflow decide */
        } else {
            action = json_pack("{s:s, s:s, s:O, s:s, s:n}", "id", id, "tool", name, "input",
                               input, "status", "pending", "result");
            pending++;
        }
        json_array_append_new(batch, action);
    }
    int64_t deadline = clock_mono_ms() + a->action_wait_ms;
    while (pending > 0) {
        pthread_mutex_lock(&a->action_lock);
        unsigned long seen = a->action_generation;
        pthread_mutex_unlock(&a->action_lock);
        pending = 0;
        json_array_foreach(batch, i, b) {
            if (strcmp(agent__str(b, "status"), "pending") != 0)
                continue;
            json_t *rec = NULL;
            struct err gerr;
            if (STORE_CALL(a->store, action_get, agent__str(b, "id"), &rec, &gerr) == 0 &&
                strcmp(agent__str(rec, "status"), "pending") != 0) {
                json_object_set(b, "status", json_object_get(rec, "status"));
                json_object_set(b, "result", json_object_get(rec, "result"));
            } else {
                pending++;
            }
            json_decref(rec);
        }
        int64_t left = deadline - clock_mono_ms();
        if (pending == 0 || left <= 0)
            break;
        wait_slice(a, seen, left < 50 ? (int)left : 50);
    }
    json_t *out = json_deep_copy(event);
    json_t *actions = agent__array(out, "actions");
    json_t *results = json_array();
    json_array_foreach(batch, i, b) {
        json_array_append_new(results, tool_result_block(b));
        if (agent__observer && agent__observer->on_tool)
            agent__observer->on_tool(agent__observer->ud, b);
        json_array_append(actions, b);
    }
    json_decref(batch);
    agent__append_message(out, "user", results);
    json_object_set_new(out, "requiresAction", json_false());
    json_int_t it = json_integer_value(json_object_get(out, "iterations")) + 1;
    json_object_set_new(out, "iterations", json_integer(it));
    return out;
}

/* ---------------------------------------------------------------- ActionWorker */

/* Handles one queued message. Returns 0 when it is done with (delete it), -1 to retry it. */
static int work_one(struct agent *a, const char *body)
{
    json_t *msg = body ? json_loads(body, 0, NULL) : NULL;
    const char *id = agent__str(msg, "actionId");
    const char *sid = agent__str(msg, "sessionId");
    const char *uid = agent__str(msg, "userId");
    const char *tool = agent__str(msg, "tool");
    const char *key = agent__str(msg, "idempotencyKey");
    const json_t *input = json_object_get(msg, "input");
    int rc = -1;
    if (!id || !sid || !uid || !tool || !key || !json_is_object(input)) {
        /* Not ours to drop: it stays on the queue and ends in the dead-letter queue. */
        log_at(LL_WARN, "worker", "malformed action message left for the dead-letter queue");
        goto out;
    }
    json_t *rec = NULL;
    struct err e;
    err_clear(&e);
    if (STORE_CALL(a->store, action_get, id, &rec, &e) == 0 &&
        strcmp(agent__str(rec, "status"), "pending") != 0) {
        json_decref(rec); /* a redelivery of a finished action: nothing to do again */
        rc = 0;
        goto out;
    }
    json_decref(rec);
    int transient = 0;
    json_t *action = run_action(a, id, sid, uid, tool, input, key, &transient);
    if (transient) {
        json_decref(action);
        goto out;
    }
    json_object_set_new(action, "sessionId", json_string(sid));
    json_object_set_new(action, "userId", json_string(uid));
    if (STORE_CALL(a->store, action_put, action, &e) == 0) {
        rc = 0;
        agent_actions_notify(a);
    } else {
        log_at(LL_WARN, "worker", "cannot record action '%s': %s", id, e.message);
    }
    json_decref(action);
out:
    json_decref(msg);
    return rc;
}

json_t *agent_action_worker(struct agent *a, json_t *event, struct err *err)
{
    json_t *records = json_object_get(event, "Records");
    if (!json_is_array(records)) {
        err_set(err, "InvalidRequest", "ActionWorker needs an SQS event with Records");
        return NULL;
    }
    json_t *failures = json_array();
    size_t i;
    json_t *r;
    json_array_foreach(records, i, r) {
        if (work_one(a, agent__str(r, "body")) < 0)
            json_array_append_new(failures, json_pack("{s:s}", "itemIdentifier",
                                                      agent__str(r, "messageId")
                                                          ? agent__str(r, "messageId")
                                                          : ""));
    }
    return json_pack("{s:o}", "batchItemFailures", failures);
}
