/*
 * actions.c - ExecuteAction and the action worker: the seed's "Lambda + SQS" action path.
 *
 * ActionExecutor validates each tool_use against its schema (an invalid call goes straight back
 * to the model as an error result), records the action as pending, and sends it to the
 * AgentActions queue with an idempotency key (action_key below). It then waits, up to
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
#include <ctype.h>
#include <openssl/sha.h>
#include <string.h>
#include <time.h>

#include "agent/agent.h"
#include "agent/agent_int.h"
#include "agent/tools.h"
#include "base/clock.h"
#include "base/jsonb.h"
#include "base/jsontext.h"
#include "base/log.h"
#include "base/sched.h"
#include "base/xmalloc.h"
#include "queue/queue.h"
#include "telemetry/trace.h"

#define OTHER_PROCESS_MS 50 /* re-read the store this often for workers in other processes */

/* ---------------------------------------------------------------- waiting for results */

/* One ExecuteAction call's registration for one queued action: the worker that records the
 * action's result signals ev. Lives on the waiting call's stack, linked into a->action_waiters
 * from before the action is re-read until the wait is over. */
struct agent_action_wait {
    const char *id;         /* the action id (borrowed from the batch) */
    struct sched_event *ev; /* the waiting call's event, shared by its actions */
    struct agent_action_wait *next;
};

void agent_actions_notify(struct agent *a, const char *action_id)
{
    pthread_mutex_lock(&a->action_lock);
    for (struct agent_action_wait *w = a->action_waiters; w; w = w->next)
        if (strcmp(w->id, action_id) == 0)
            sched_event_signal(w->ev);
    pthread_mutex_unlock(&a->action_lock);
}

static void waits_add(struct agent *a, struct agent_action_wait *w)
{
    pthread_mutex_lock(&a->action_lock);
    w->next = a->action_waiters;
    a->action_waiters = w;
    pthread_mutex_unlock(&a->action_lock);
}

static void waits_remove(struct agent *a, struct agent_action_wait *w)
{
    pthread_mutex_lock(&a->action_lock);
    for (struct agent_action_wait **p = &a->action_waiters; *p; p = &(*p)->next)
        if (*p == w) {
            *p = w->next;
            break;
        }
    pthread_mutex_unlock(&a->action_lock);
}

/* ---------------------------------------------------------------- action keys */

/* The idempotency key of the call at position pos (0-based, among the tool_use blocks of the
 * model's reply) in the iteration'th tool round of the turn in event, to tool name:
 *   "<sessionId>:t<turn>:<message hash>:<iteration>.<pos>:<tool>"
 * Why these parts: a retried turn (after a fault, a crash, or a client retry with the same
 * Idempotency-Key) gets new tool-use ids from the model, but it runs for the same session at the
 * same turn number (an unsaved turn does not count) with the same customer message, and asks for
 * the same tools in the same order; so it maps to the same key and a ticket the first run created
 * is found, not created again. Two calls in one turn differ by round or position, and a new turn
 * by its number; a new message sent at the same turn number (after a turn that failed) differs by
 * the message hash (first 8 bytes of SHA-256 of the masked message). The input is left out on
 * purpose: a model may word a retried call differently. New string. */
static char *action_key(const json_t *event, size_t pos, const char *tool)
{
    json_t *msg = json_object_get(event, "message");
    char *text = msg ? json_dumps(msg, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS) : NULL;
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)(text ? text : ""), text ? strlen(text) : 0, d);
    free(text);
    char hash[17];
    for (int i = 0; i < 8; i++)
        snprintf(hash + 2 * i, 3, "%02x", d[i]);
    json_int_t turn = json_integer_value(json_object_get(event, "turns")) + 1;
    json_int_t round = json_integer_value(json_object_get(event, "iterations"));
    return xasprintf("%s:t%lld:%s:%lld.%zu:%s", agent__str(event, "sessionId"), (long long)turn,
                     hash, (long long)round, pos, tool ? tool : "");
}

/* ---------------------------------------------------------------- running one action */

/* Runs a tool for the session; returns the action record {"id","tool","input","status",
 * "result"}. turn is the workflow state (or the queued message) the call comes from: its
 * "deadlineMs" (the turn's deadline, absent for queued actions, which outlive their turn) and
 * "email" (the customer's verified email) go to the tool. Sets *transient when the failure is
 * worth retrying (the store was unavailable). */
static json_t *run_action(struct agent *a, const json_t *turn, const char *id, const char *sid,
                          const char *uid, const char *name, const json_t *input, const char *key,
                          int *transient)
{
    struct tool_ctx ctx = {
        .store = a->store,
        .kb = agent_kb(a),
        .session_id = sid,
        .user_id = uid,
        .idempotency_key = key,
        .deadline_ms = (int64_t)json_integer_value(json_object_get(turn, "deadlineMs")),
        .email = agent__str(turn, "email"),
        .signing_secret = a->cfg ? a->cfg->tool_signing_secret : NULL,
    };
    struct err terr;
    err_clear(&terr);
    int64_t t0 = clock_mono_us();
    int is_error = 0;
    json_t *result = tools_call(agent_tools(a), &ctx, name, input, &is_error, &terr);
    AGENT_HOOK(a, on_tool, name, result != NULL && !is_error, (double)(clock_mono_us() - t0) / 1e6);
    if (transient)
        *transient = !result && strncmp(terr.code, "Store", 5) == 0;
    if (!result && transient && *transient)
        return json_pack("{s:s, s:s, s:O, s:s, s:n}", "id", id, "tool", name, "input", input,
                         "status", "pending", "result");
    json_t *action;
    if (!result || is_error) {
        log_at(LL_INFO, "agent", "tool '%s' failed: %s: %s", name, terr.code, terr.message);
        /* A backend's own error answer ({"error":{code, message, status, body}}) is kept whole. */
        if (!result)
            result = json_pack("{s:{s:s, s:s}}", "error", "code", terr.code, "message",
                               terr.message);
        action = json_pack("{s:s, s:s, s:O, s:s, s:o}", "id", id, "tool", name, "input", input,
                           "status", "failed", "result", result);
        agent_emit(a, BUS_ACTION_FAILED,
                   json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:s}}", "sessionId", sid, "actionId", id,
                             "tool", name, "status", "failed", "error", "code", terr.code,
                             "message", terr.message));
    } else {
        action = json_pack("{s:s, s:s, s:O, s:s, s:o}", "id", id, "tool", name, "input", input,
                           "status", "succeeded", "result", result);
        agent_emit(a, BUS_ACTION_EXECUTED,
                   json_pack("{s:s, s:s, s:s, s:s}", "sessionId", sid, "actionId", id, "tool", name,
                             "status", "succeeded"));
    }
    return action;
}

#define INLINE_TRIES 3      /* runs of an inline action whose store failed transiently */
#define INLINE_PAUSE_MS 20L /* first pause between them, doubled each time */

/* run_action for an action run inline, in the turn: a transient store failure (BUSY, a lost
 * write) is retried in place, which is safe because the action's key makes its effect happen
 * once (a ticket whose insert committed before the failure is found on the next run). After
 * INLINE_TRIES the failure goes to the model as the action's result, as any tool error does. */
static json_t *run_inline(struct agent *a, const json_t *turn, const char *id, const char *sid,
                          const char *uid, const char *name, const json_t *input, const char *key)
{
    for (int k = 0; k < INLINE_TRIES; k++) {
        int transient = 0;
        json_t *action = run_action(a, turn, id, sid, uid, name, input, key, &transient);
        if (!transient)
            return action;
        json_decref(action);
        log_at(LL_INFO, "agent", "tool '%s' met a transient store failure; running it again", name);
        sched_sleep_ms(INLINE_PAUSE_MS << k);
    }
    return run_action(a, turn, id, sid, uid, name, input, key, NULL);
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
    } else if (strcmp(status, "awaiting_confirmation") == 0) {
        text = xstrdup("Not run yet: this action needs the customer's explicit confirmation and "
                       "they have been asked; their answer comes with their next message.");
    } else if (strcmp(status, "declined") == 0) {
        text = xstrdup("The customer declined; the action was not run.");
    } else if (strcmp(status, "pending") == 0) {
        text = xasprintf("{\"status\":\"pending\",\"actionId\":\"%s\",\"message\":\"The action "
                         "is still running; check it later with get_action_status.\"}",
                         agent__str(action, "id"));
    } else { /* a model reads it: 8.74, not 8.7400000000000002 */
        text = jsontext_dump_prec(result, JSONTEXT_READABLE_PRECISION);
    }
    json_t *block = jsonb_object("type", json_string_nocheck("tool_result"), "tool_use_id",
                                 jsonb_ref(json_object_get(action, "id")), "content",
                                 jsonb_str(text), "is_error", json_boolean(is_error), NULL);
    free(text);
    return block;
}

/* ---------------------------------------------------------------- ActionExecutor */

/* Records the action as pending and sends it to the queue with key (borrowed) as its idempotency
 * key. Returns 0, or -1 with err. */
static int enqueue(struct agent *a, const json_t *event, const char *id, const char *name,
                   const json_t *input, const char *key, struct err *err)
{
    const char *sid = agent__str(event, "sessionId");
    const char *uid = agent__str(event, "userId");
    json_t *record = json_pack("{s:s, s:s, s:s, s:s, s:O, s:s}", "id", id, "sessionId", sid,
                               "userId", uid, "tool", name, "input", input, "status", "pending");
    int rc = store_action_put(a->store, record, err);
    json_decref(record);
    if (rc < 0)
        return -1;
    json_t *msg = json_pack("{s:s, s:s, s:s, s:s, s:O, s:s}", "actionId", id, "sessionId", sid,
                            "userId", uid, "tool", name, "input", input, "idempotencyKey", key);
    const char *email = agent__str(event, "email");
    if (email)
        json_object_set_new(msg, "email", json_string(email)); /* verified: the worker uses it */
    char *body = jsontext_dump(msg);
    char message_id[37];
    /* The queue hop joins the turn's trace: the worker continues it from AWSTraceHeader, the
     * system attribute SQS itself uses for X-Ray. */
    struct trace_ctx *hop = trace_sub_begin(agent_trace_current(), QUEUE_AGENT_ACTIONS, "aws");
    char th[TRACE_HEADER_MAX];
    json_t *attrs = NULL;
    if (trace_header_format(hop, 1, th, sizeof th) > 0)
        attrs = json_pack("{s:{s:s, s:s}}", "AWSTraceHeader", "DataType", "String", "StringValue",
                          th);
    rc = queue_send(a->queue, QUEUE_AGENT_ACTIONS, body, attrs, 0, message_id, err);
    trace_sub_end(hop, rc < 0 ? err : NULL);
    json_decref(attrs);
    free(body);
    json_decref(msg);
    return rc;
}

/* ---------------------------------------------------------------- confirmation (policy) */

/* A tool with "confirm": true never runs when the model asks for it. ActionExecutor holds the call
 * (hold_for_confirmation): the turn ends with a reply that shows the customer what will be done,
 * and the session context keeps {"tool","input","prompt","toolUseId"} as pendingConfirmation. The
 * next customer message decides (agent__confirm_resume, from LoadContext): an explicit yes runs
 * the call, a no tells the model the customer declined, anything else leaves it pending. */

#define CONFIRM_PROMPT_MAX 1500 /* bytes of the arguments shown in the prompt */

/* The question put to the customer: the tool in plain words and its arguments. New string. */
static char *confirm_prompt(const char *tool, const json_t *input)
{
    char *words = xstrdup(tool);
    for (char *c = words; *c; c++)
        if (*c == '_' || *c == '-')
            *c = ' ';
    char *args = xstrdup("");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)input, k, v) {
        char *text = json_is_string(v) ? xasprintf("\"%s\"", json_string_value(v))
                                       : jsontext_dump(v);
        char *next = xasprintf("%s%s%s: %s", args, args[0] ? ", " : "", k, text ? text : "");
        free(text);
        free(args);
        args = next;
        if (strlen(args) > CONFIRM_PROMPT_MAX) {
            args[CONFIRM_PROMPT_MAX] = '\0';
            char *cut = xasprintf("%s...", args);
            free(args);
            args = cut;
            break;
        }
    }
    char *prompt = xasprintf("Before I go ahead, please confirm: I will %s%s%s. Reply \"yes\" to "
                             "go ahead or \"no\" to cancel.",
                             words, args[0] ? " with " : "", args);
    free(words);
    free(args);
    return prompt;
}

static void hold_for_confirmation(json_t *out, const json_t *action)
{
    const char *tool = agent__str(action, "tool");
    json_t *input = json_object_get(action, "input");
    char *prompt = confirm_prompt(tool, input);
    json_t *context = json_object_get(out, "context");
    if (!json_is_object(context)) {
        context = json_object();
        json_object_set_new(out, "context", context);
    }
    json_object_set_new(context, "pendingConfirmation",
                        json_pack("{s:s, s:O, s:s, s:O}", "tool", tool, "input", input, "prompt",
                                  prompt, "toolUseId", json_object_get(action, "id")));
    agent__append_message(out, "assistant",
                          json_pack("[{s:s, s:s}]", "type", "text", "text", prompt));
    json_object_set_new(out, "reply", json_string(prompt));
    /* The turn ends here, with the question: CheckIterations sends a state whose iterations
     * reached maxIterations to SaveAndReturn without another model call. */
    json_object_set(out, "iterations", json_object_get(out, "maxIterations"));
    json_object_set_new(out, "awaitingConfirmation", json_true());
    free(prompt);
}

/* 1 for an explicit yes, -1 for a no, 0 for anything else. */
static int confirm_answer(const char *message)
{
    static const char *const yes[] = {"yes",       "y",        "yeah",  "yep",       "yup",
                                      "sure",      "ok",       "okay",  "confirm",   "confirmed",
                                      "i confirm", "go ahead", "do it", "please do", "proceed",
                                      "approve",   "approved"};
    static const char *const no[] = {"no",         "n",         "nope",      "cancel",
                                     "dont",       "do not",    "stop",      "decline",
                                     "never mind", "nevermind", "dont do it"};
    char norm[128];
    size_t n = 0;
    for (const char *p = message; *p && n + 1 < sizeof norm; p++) {
        unsigned char c = (unsigned char)*p;
        if (isalpha(c))
            norm[n++] = (char)tolower(c);
        else if ((c == ' ' || c == ',' || c == '.' || c == '!') && n > 0 && norm[n - 1] != ' ')
            norm[n++] = ' ';
    }
    while (n > 0 && norm[n - 1] == ' ')
        n--;
    norm[n] = '\0';
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        size_t l = strlen(yes[i]);
        if (strncmp(norm, yes[i], l) == 0 && (norm[l] == '\0' || norm[l] == ' ') &&
            strncmp(norm, "yes but", 7) != 0)
            return 1;
    }
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        size_t l = strlen(no[i]);
        if (strncmp(norm, no[i], l) == 0 && (norm[l] == '\0' || norm[l] == ' '))
            return -1;
    }
    return 0;
}

int agent__confirm_resume(struct agent *a, json_t *event, struct err *err)
{
    json_t *context = json_object_get(event, "context");
    json_t *pending = json_object_get(context, "pendingConfirmation");
    const char *msg = agent__str(event, "message");
    int answer = json_is_object(pending) && msg ? confirm_answer(msg) : 0;
    if (answer == 0)
        return 0;
    int rc = -1;
    json_incref(pending);
    json_object_del(context, "pendingConfirmation");
    const char *sid = agent__str(event, "sessionId");
    const char *uid = agent__str(event, "userId");
    const char *tool = agent__str(pending, "tool");
    const char *orig = agent__str(pending, "toolUseId");
    json_t *input = json_object_get(pending, "input");
    char *id = xasprintf("%.40s_confirmed", orig ? orig : "call");
    agent__append_message(event, "assistant",
                          json_pack("[{s:s, s:s, s:s, s:O}]", "type", "tool_use", "id", id, "name",
                                    tool ? tool : "", "input", input));
    json_t *action = NULL;
    int confirm = 0, async = 0;
    struct err verr;
    err_clear(&verr);
    tools_policy(agent_tools(a), tool, &confirm, &async);
    if (answer < 0) {
        action = json_pack("{s:s, s:s, s:O, s:s, s:{s:b}}", "id", id, "tool", tool, "input", input,
                           "status", "declined", "result", "declined", 1);
    } else if (tools_validate(agent_tools(a), tool, input, &verr) < 0) {
        action = json_pack("{s:s, s:s, s:O, s:s, s:{s:{s:s, s:s}}}", "id", id, "tool", tool,
                           "input", input, "status", "failed", "result", "error", "code", verr.code,
                           "message", verr.message);
    } else if (async && a->queue) {
        char *key = xasprintf("%s:%s", sid, orig ? orig : id);
        int sent = enqueue(a, event, id, tool, input, key, err);
        free(key);
        if (sent < 0)
            goto out;
        action = json_pack("{s:s, s:s, s:O, s:s, s:n}", "id", id, "tool", tool, "input", input,
                           "status", "pending", "result");
    } else {
        /* The key of the action the customer confirmed, so a retried turn acts once. */
        char *key = xasprintf("%s:%s", sid, orig ? orig : id);
        action = run_inline(a, event, id, sid, uid, tool, input, key);
        free(key);
    }
    const struct agent_observer *obs = agent__observer();
    if (obs && obs->on_tool)
        obs->on_tool(obs->ud, action);
    json_array_append(agent__array(event, "actions"), action);
    agent__append_message(event, "user", json_pack("[o]", tool_result_block(action)));
    rc = 0;
out:
    json_decref(action);
    json_decref(pending);
    free(id);
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
    json_t *held = NULL;          /* the action awaiting the customer's confirmation */
    size_t i;
    json_t *b;
    int pending = 0;
    size_t pos = 0; /* the call's position among the reply's tool_use blocks */
    json_array_foreach(json_object_get(last, "content"), i, b) {
        if (strcmp(agent__str(b, "type"), "tool_use") != 0)
            continue;
        size_t call_pos = pos++;
        const char *id = agent__str(b, "id");
        const char *name = agent__str(b, "name");
        const json_t *input = json_object_get(b, "input");
        struct err verr;
        err_clear(&verr);
        json_t *action;
        int confirm = 0, async = 0;
        tools_policy(agent_tools(a), name, &confirm, &async);
        if (tools_validate(agent_tools(a), name, input, &verr) < 0) {
            action = json_pack("{s:s, s:s, s:O, s:s, s:{s:{s:s, s:s}}}", "id", id, "tool", name,
                               "input", input, "status", "failed", "result", "error", "code",
                               verr.code, "message", verr.message);
        } else if (confirm) {
            /* Not run: the customer is asked first (one confirmation at a time). */
            if (held)
                action = json_pack("{s:s, s:s, s:O, s:s, s:{s:{s:s, s:s}}}", "id", id, "tool", name,
                                   "input", input, "status", "failed", "result", "error", "code",
                                   "ConfirmationBusy", "message",
                                   "not run: another action is waiting for the customer's "
                                   "confirmation; ask again after it");
            else {
                action = json_pack("{s:s, s:s, s:O, s:s, s:n}", "id", id, "tool", name, "input",
                                   input, "status", "awaiting_confirmation", "result");
                held = json_incref(action);
            }
        } else if (!a->queue || !async) {
            /* Inline: the action gets its key, as a queued one does. */
            char *key = action_key(event, call_pos, name);
            action = run_inline(a, event, id, sid, uid, name, input, key);
            free(key);
        } else {
            char *key = action_key(event, call_pos, name);
            int sent = enqueue(a, event, id, name, input, key, err);
            free(key);
            if (sent < 0) {
                json_decref(held);
                json_decref(batch);
                return NULL; /* the store or queue is down: Retry/Catch in the workflow decide */
            }
            action = json_pack("{s:s, s:s, s:O, s:s, s:n}", "id", id, "tool", name, "input", input,
                               "status", "pending", "result");
            pending++;
        }
        json_array_append_new(batch, action);
    }
    /* Register every queued action before re-reading the store, so a result recorded in between
     * still signals the event (a signal before the wait is not lost). Workers in other processes
     * are noticed by re-reading the store every OTHER_PROCESS_MS. */
    struct sched_event *ev = pending ? sched_event_new() : NULL;
    size_t n_waits = 0;
    struct agent_action_wait *waits = pending ? xcalloc((size_t)pending, sizeof *waits) : NULL;
    json_array_foreach(batch, i, b) {
        if (ev && strcmp(agent__str(b, "status"), "pending") == 0 && n_waits < (size_t)pending) {
            waits[n_waits] = (struct agent_action_wait){agent__str(b, "id"), ev, NULL};
            waits_add(a, &waits[n_waits++]);
        }
    }
    int64_t deadline = clock_mono_ms() + a->action_wait_ms;
    while (pending > 0) {
        pending = 0;
        json_array_foreach(batch, i, b) {
            if (strcmp(agent__str(b, "status"), "pending") != 0)
                continue;
            json_t *rec = NULL;
            struct err gerr;
            if (store_action_get(a->store, agent__str(b, "id"), &rec, &gerr) == 0 &&
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
        sched_event_wait(ev, left < OTHER_PROCESS_MS ? (int)left : OTHER_PROCESS_MS);
    }
    for (size_t k = 0; k < n_waits; k++)
        waits_remove(a, &waits[k]);
    free(waits);
    sched_event_free(ev);
    json_t *out = agent__state_next(event);
    json_t *actions = agent__array(out, "actions");
    json_t *results = json_array();
    json_array_foreach(batch, i, b) {
        json_array_append_new(results, tool_result_block(b));
        const struct agent_observer *obs = agent__observer();
        if (obs && obs->on_tool)
            obs->on_tool(obs->ud, b);
        json_array_append(actions, b);
    }
    json_decref(batch);
    agent__append_message(out, "user", results);
    json_object_set_new(out, "requiresAction", json_false());
    json_int_t it = json_integer_value(json_object_get(out, "iterations")) + 1;
    json_object_set_new(out, "iterations", json_integer(it));
    if (held) {
        hold_for_confirmation(out, held);
        json_decref(held);
    }
    return out;
}

/* ---------------------------------------------------------------- ActionWorker */

/* 1 when the store erased session sid (its tombstone exists); 0 otherwise or when unknown. */
static int erased_session(struct agent *a, const char *sid)
{
    int erased = 0;
    struct err e;
    err_clear(&e);
    if (store_session_erased(a->store, sid, &erased, &e) < 0)
        log_at(LL_WARN, "worker", "cannot tell whether session '%s' was erased: %s", sid,
               e.message);
    return erased;
}

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
    int got = store_action_get(a->store, id, &rec, &e);
    if (got == 0 && strcmp(agent__str(rec, "status"), "pending") != 0) {
        json_decref(rec); /* a redelivery of a finished action: nothing to do again */
        rc = 0;
        goto out;
    }
    json_decref(rec);
    if (got < 0 && strcmp(e.code, "NotFound") == 0 && erased_session(a, sid)) {
        /* Its session was erased while it was queued (an SQS queue cannot drop the message by
         * content): drop it. */
        log_at(LL_INFO, "worker", "dropped action '%s': its session was erased", id);
        rc = 0;
        goto out;
    }
    int transient = 0;
    json_t *action = run_action(a, msg, id, sid, uid, tool, input, key, &transient);
    if (transient) {
        json_decref(action);
        goto out;
    }
    json_object_set_new(action, "sessionId", json_string(sid));
    json_object_set_new(action, "userId", json_string(uid));
    json_t *still = NULL;
    err_clear(&e);
    if (store_action_get(a->store, id, &still, &e) < 0 && strcmp(e.code, "NotFound") == 0 &&
        erased_session(a, sid)) {
        /* Erased while it ran: its result is not written back. */
        log_at(LL_INFO, "worker", "dropped the result of action '%s': its session was erased", id);
        rc = 0;
    } else if (store_action_put(a->store, action, &e) == 0) {
        rc = 0;
        agent_actions_notify(a, id);
    } else {
        log_at(LL_WARN, "worker", "cannot record action '%s': %s", id, e.message);
    }
    json_decref(still);
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
            json_array_append_new(failures,
                                  json_pack("{s:s}", "itemIdentifier",
                                            agent__str(r, "messageId") ? agent__str(r, "messageId")
                                                                       : ""));
    }
    return json_pack("{s:o}", "batchItemFailures", failures);
}
