/*
 * handlers.c - the seed's Lambda handlers: LoadContext, BedrockInference, ActionExecutor and
 * SaveConversation. See agent.h for the workflow state they pass along.
 */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/agent_file.h"
#include "agent/agent_int.h"
#include "agent/budget.h"
#include "agent/history.h"
#include "base/guard.h"
#include "agent/tools.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/jsonb.h"
#include "base/log.h"
#include "base/sched.h"
#include "base/xmalloc.h"
#include "sfn/sfn.h"
#include "telemetry/trace.h"

/* The agent this turn runs as: its own file, or the shipped demo agent (agent file). */
static const struct agent_file *file_of(const struct agent *a)
{
    const struct agent_file *f = agent_file_of(a);
    return f ? f : agent_file_default();
}

/* ---------------------------------------------------------------- helpers */

/* The turn's observer and trace segment are task-local (base/sched.h): a turn parked on its
 * model call must find its own when it resumes, whatever ran on the thread meanwhile. */
static const char observer_key, trace_key, budget_key, window_key;

void agent_trace_set(struct trace_ctx *seg)
{
    sched_local_set(&trace_key, seg);
}

struct trace_ctx *agent_trace_current(void)
{
    return sched_local_get(&trace_key);
}

void agent_observer_set(const struct agent_observer *o)
{
    sched_local_set(&observer_key, (void *)o);
}

const struct agent_observer *agent__observer(void)
{
    return sched_local_get(&observer_key);
}

void agent__budget_tab_set(struct budget_tab *tab)
{
    sched_local_set(&budget_key, tab);
}

struct budget_tab *agent__budget_tab(void)
{
    return sched_local_get(&budget_key);
}

void agent__window_memo_set(struct agent__window_memo *m)
{
    sched_local_set(&window_key, m);
}

struct agent__window_memo *agent__window_memo(void)
{
    return sched_local_get(&window_key);
}

void agent__window_memo_release(struct agent__window_memo *m)
{
    json_decref(m->history);
    json_decref(m->api);
    *m = (struct agent__window_memo){NULL, NULL};
}

/* agent_emit's arguments, for the deep stack. */
struct emit_call {
    struct agent *a;
    const char *detail_type;
    json_t *detail;
};

static void emit_on_deep_stack(void *ud)
{
    struct emit_call *c = ud;
    guard_redact_json(c->detail, c->a->redact);
    json_t *event = bus_event_new(c->detail_type, c->detail);
    struct err e;
    err_clear(&e);
    /* the detail's strings may be the turn's state's (json_pack "O"): shared read-only, which the
     * bus may read on its thread; redaction above replaced, not changed, the ones it redacted */
    if (bus_put_new(c->a->bus, event, &e) < 0)
        log_at(LL_WARN, "agent", "event %s not delivered: %s", c->detail_type, e.message);
}

/* Redacting, wrapping and queueing an event goes deep and never waits on the network (both bus
 * adapters queue for a sender thread): it runs on the loop's deep stack (base/sched.h). */
void agent_emit(struct agent *a, const char *detail_type, json_t *detail)
{
    if (!a->bus) {
        json_decref(detail);
        return;
    }
    struct emit_call c = {a, detail_type, detail};
    sched_call_deep(emit_on_deep_stack, &c);
}

static void observe_text(void *ud, const char *delta)
{
    (void)ud;
    const struct agent_observer *obs = agent__observer();
    if (obs && obs->on_text)
        obs->on_text(obs->ud, delta);
}

const char *agent__str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

json_t *agent__state_next(json_t *event)
{
    static const char *const changed[] = {"newMessages", "actions", "usage", "context"};
    assert(json_is_object(event));
    json_t *out = json_copy(event);
    for (size_t i = 0; i < sizeof changed / sizeof changed[0]; i++) {
        json_t *v = json_object_get(out, changed[i]);
        if (json_is_object(v) || json_is_array(v))
            json_object_set_new(out, changed[i], json_copy(v));
    }
    return out;
}

/* Returns the event's array field key (creating an empty one when absent); borrowed. */
json_t *agent__array(json_t *event, const char *key)
{
    json_t *a = json_object_get(event, key);
    if (!json_is_array(a)) {
        a = json_array();
        json_object_set_new(event, key, a);
    }
    return a;
}

void agent__append_message(json_t *event, const char *role, json_t *content)
{
    if (!content) /* as json_pack's "o" had it: no message */
        return;
    json_array_append_new(agent__array(event, "newMessages"), /* role: a callers' literal */
                          jsonb_object("role", json_string_nocheck(role), "content", content,
                                       "timestamp", json_integer((json_int_t)clock_now_ms()),
                                       NULL));
}

/* A message that begins a turn: a user message whose content is plain text. Dropping older
 * messages only ever cuts before such a message, so a tool_use never loses its tool_result. */
static int starts_turn(const json_t *m)
{
    return strcmp(agent__str(m, "role") ? agent__str(m, "role") : "", "user") == 0 &&
           json_is_string(json_object_get(m, "content"));
}

/* Drops the oldest messages of the window until it fits budget tokens (each message costing its
 * estimate, history_message_tokens); returns the count dropped. The window's per-message arrays
 * keep step with its messages. */
static size_t trim_to_budget(struct history_window *w, size_t budget)
{
    json_t *history = w->messages;
    size_t total = 0, n = w->n;
    for (size_t i = 0; i < n; i++)
        total += w->tokens[i];
    size_t cut = 0;
    while (total > budget && cut < n) {
        /* Drop one whole turn: the message at cut and everything up to the next turn start. */
        size_t end = cut + 1;
        while (end < n && !starts_turn(json_array_get(history, end)))
            end++;
        for (size_t i = cut; i < end; i++)
            total -= w->tokens[i];
        cut = end;
    }
    if (cut) { /* new arrays rather than cut shifts of the old ones */
        json_t *kept = json_array(), *kept_api = json_array();
        for (size_t i = cut; i < n; i++) {
            json_array_append(kept, json_array_get(history, i));
            json_array_append(kept_api, json_array_get(w->api, i));
        }
        json_decref(history);
        json_decref(w->api);
        w->messages = kept;
        w->api = kept_api;
        w->n = n - cut;
        memmove(w->tokens, w->tokens + cut, w->n * sizeof *w->tokens);
        memmove(w->bytes, w->bytes + cut, w->n * sizeof *w->bytes);
    }
    return cut;
}

/* ---------------------------------------------------------------- LoadContext */

const char agent_handoff_ack[] =
    "Thanks, your message has been passed to our support team. A human agent will reply here.";

/* Operator messages in the window that the customer has not been shown yet: those newer than
 * context.lastSeen (the timestamp of the customer's last reply), oldest first. New array. The
 * window is in timestamp order (a session's items have increasing timestamps, history.h), so
 * the walk goes back from the newest message and stops at the first one not newer than
 * lastSeen: a turn reads the few messages since the last reply, not the whole window. */
static json_t *unseen_operator_messages(const json_t *event)
{
    json_int_t seen = json_integer_value(
        json_object_get(json_object_get(event, "context"), "lastSeen"));
    json_t *history = json_object_get(event, "history");
    size_t from = json_array_size(history);
    while (from > 0 && json_integer_value(
                           json_object_get(json_array_get(history, from - 1), "timestamp")) > seen)
        from--;
    json_t *out = json_array();
    for (size_t i = from; i < json_array_size(history); i++) {
        const json_t *m = json_array_get(history, i);
        const char *role = agent__str(m, "role");
        if (role && strcmp(role, "operator") == 0) {
            char ts[40]; /* ISO 8601 like every other timestamp of the API */
            clock_iso8601(json_integer_value(json_object_get(m, "timestamp")), ts, sizeof ts);
            json_t *seen_m = json_pack("{s:O, s:s}", "content", json_object_get(m, "content"),
                                       "timestamp", ts);
            if (json_is_string(json_object_get(m, "name")))
                json_object_set(seen_m, "name", json_object_get(m, "name"));
            json_array_append_new(out, seen_m);
        }
    }
    return out;
}

json_t *agent_load_context(struct agent *a, json_t *event, struct err *err)
{
    const char *id = agent__str(event, "sessionId");
    const char *message = agent__str(event, "message");
    if (!id || !message) {
        err_set(err, "InvalidRequest", "LoadContext needs sessionId and message");
        return NULL;
    }
    struct history_window w = {.messages = json_array()};
    if (!json_is_true(json_object_get(event, "isNew"))) {
        json_decref(w.messages);
        struct trace_ctx *sub = trace_sub_begin(agent_trace_current(), "store.history_recent",
                                                NULL);
        int rc = history_window_load(a->history, a->store, id, a->cfg->history_turns,
                                     (size_t)a->cfg->history_cache_sessions, &w, err);
        trace_sub_end(sub, rc < 0 ? err : NULL);
        if (rc < 0)
            return NULL;
    }
    json_t *out = agent__state_next(event);
    size_t dropped = trim_to_budget(&w, (size_t)a->cfg->context_tokens);
    /* The window is the bulk of every state of the turn: the payload check takes its size as
     * measured when its messages were read, rather than walking it again (nothing modifies it). */
    if (w.n) {
        size_t bytes = history_window_json_size(&w);
#ifdef __SANITIZE_ADDRESS__ /* the checked builds hold every note to a walk (make test) */
        assert(bytes == sfn_json_size(w.messages));
#endif
        sfn_size_note(w.messages, bytes);
    }
    json_object_set(out, "history", w.messages);
    struct agent__window_memo *memo = agent__window_memo();
    if (memo && w.api) { /* the turn's model calls take the window's request forms */
        agent__window_memo_release(memo);
        memo->history = json_incref(w.messages);
        memo->api = json_incref(w.api);
    }
    history_window_release(&w);
    json_object_set_new(out, "historyDropped", json_integer((json_int_t)dropped));
    json_object_set_new(out, "newMessages", json_array());
    agent__append_message(out, "user", json_string(message));
    json_object_set_new(out, "requiresAction", json_false());
    json_object_set_new(out, "iterations", json_integer(0));
    json_object_set_new(out, "maxIterations",
                        json_integer(agent_file_limit(file_of(a), "tool_iterations",
                                                      a->cfg->max_tool_iterations)));
    json_object_set_new(out, "actions", json_array());
    json_object_set_new(out, "usage",
                        jsonb_object("input_tokens", json_integer(0), "output_tokens",
                                     json_integer(0), NULL));
    json_object_set_new(out, "operatorMessages", unseen_operator_messages(out));
    if (strcmp(agent__str(out, "status") ? agent__str(out, "status") : "", "handoff") == 0)
        json_object_set_new(out, "reply", json_string(agent_handoff_ack));
    else if (agent__confirm_resume(a, out, err) < 0) { /* a held "confirm" tool call (actions.c) */
        json_decref(out);
        return NULL;
    }
    return out;
}

/* ---------------------------------------------------------------- BedrockInference */

/* Appends msg's form in a request (history_api_message) to messages. Consecutive messages of one
 * role are kept as they are: the Messages API combines them into one turn, and a model reading
 * the dialogue sees each customer message on its own. What a human agent said is part of the
 * dialogue: the model sees it as the support side's words, marked as such. */
static void push_api_message(json_t *messages, const json_t *msg)
{
    json_t *f = history_api_message(msg);
    if (f)
        json_array_append_new(messages, f);
}

static json_t *build_request(const struct tools *tools, const json_t *event, const char *system,
                             int max_tokens)
{
    json_t *messages = json_array();
    size_t i;
    json_t *m;
    const json_t *history = json_object_get(event, "history");
    const struct agent__window_memo *memo = agent__window_memo();
    if (memo && memo->history && memo->history == history &&
        json_array_size(memo->api) == json_array_size(history)) { /* LoadContext's window */
        json_array_foreach(memo->api, i, m)
            if (json_is_object(m))
                json_array_append(messages, m);
    } else {
        json_array_foreach(history, i, m)
            push_api_message(messages, m);
    }
    json_array_foreach(json_object_get(event, "newMessages"), i, m)
        push_api_message(messages, m);
    return jsonb_object("system", jsonb_str(system), "messages", messages, "tools",
                        jsonb_ref(tools_specs(tools)), "max_tokens", json_integer(max_tokens),
                        NULL);
}

/* Checks that a model response has the Messages-API shape we rely on. */
static int response_valid(const json_t *resp, struct err *err)
{
    json_t *content = json_object_get(resp, "content");
    if (!json_is_array(content))
        return err_set(err, "ModelBadResponse", "model response has no content array");
    size_t i;
    json_t *b;
    json_array_foreach(content, i, b) {
        const char *type = agent__str(b, "type");
        if (!type)
            return err_set(err, "ModelBadResponse", "content block %zu has no type", i);
        if (strcmp(type, "text") == 0 && !json_is_string(json_object_get(b, "text")))
            return err_set(err, "ModelBadResponse", "text block %zu has no text", i);
        if (strcmp(type, "tool_use") == 0 && (!agent__str(b, "id") || !agent__str(b, "name") ||
                                              !json_is_object(json_object_get(b, "input"))))
            return err_set(err, "ModelBadResponse", "tool_use block %zu needs id, name, input", i);
    }
    if (!agent__str(resp, "stop_reason"))
        return err_set(err, "ModelBadResponse", "model response has no stop_reason");
    return 0;
}

static void add_usage(json_t *event, const json_t *usage)
{
    json_t *u = json_object_get(event, "usage");
    const char *keys[] = {"input_tokens", "output_tokens"};
    for (int k = 0; k < 2; k++) {
        json_int_t have = json_integer_value(json_object_get(u, keys[k]));
        json_int_t add = json_integer_value(json_object_get(usage, keys[k]));
        json_object_set_new(u, keys[k], json_integer(have + add));
    }
}

const char agent_token_cap_reply[] =
    "I've done as much as I can in this reply. Tell me what you'd like me to do next, or ask for a "
    "human agent.";

const char agent_budget_reply[] =
    "I'm sorry, I can't answer any more questions automatically today. I've passed your "
    "conversation to our support team, and a human agent will reply here.";

/* Ends the turn with a fixed reply and no model call (the turn's caps and guardrails). */
static json_t *canned_reply(json_t *event, const char *reply, const char *stop)
{
    json_t *out = agent__state_next(event);
    agent__append_message(out, "assistant",
                          json_pack("[{s:s, s:s}]", "type", "text", "text", reply));
    json_object_set_new(out, "reply", json_string(reply));
    json_object_set_new(out, "requiresAction", json_false());
    json_object_set_new(out, "stopReason", json_string(stop));
    return out;
}

/* The budget limits of the agent's settings (off without settings). */
static struct budget_limits limits_of(const struct agent *a)
{
    if (!a->cfg)
        return (struct budget_limits){0, 0};
    return (struct budget_limits){a->cfg->session_token_budget, a->cfg->daily_token_budget};
}

/* Counts tokens of session_id against the day's budgets with store writes of their own (a model
 * call off a turn, or what a turn's save did not count). The reply is already paid for, so a
 * store failure is logged and the turn goes on. */
static void spend_budget(struct agent *a, const char *session_id, long long tokens)
{
    long long today = -1;
    struct err e = {0};
    if (tokens <= 0)
        return;
    const struct budget_limits limits = limits_of(a);
    if (budget_spend(a->store, &limits, session_id, tokens, clock_now_ms(), &today, &e) < 0) {
        log_at(LL_WARN, "agent", "cannot count %lld tokens against the budget: %s: %s", tokens,
               e.code, e.message);
        today = -1;
    }
    AGENT_HOOK(a, on_budget, today, NULL);
}

void agent__budget_settle(struct agent *a, const char *session_id, struct budget_tab *tab)
{
    long long tokens = tab->unsaved;
    tab->unsaved = 0;
    spend_budget(a, session_id, tokens);
}

json_t *agent_model_inference(struct agent *a, json_t *event, struct err *err)
{
    const struct agent_file *file = file_of(a);
    if (!file) {
        err_set(err, "AgentFileMissing", "no agent file is loaded (see the log)");
        return NULL;
    }
    json_t *used = json_object_get(event, "usage");
    json_int_t tokens = json_integer_value(json_object_get(used, "input_tokens")) +
                        json_integer_value(json_object_get(used, "output_tokens"));
    long long cap = agent_file_limit(file, "turn_tokens", a->cfg->turn_token_cap);
    /* The turn's token budget is spent: end it without another model call. The last message is
     * a tool result, so the transcript stays well formed. */
    if (cap > 0 && tokens >= cap)
        return canned_reply(event, agent_token_cap_reply, "token_cap");
    /* A denied topic is answered before the model sees the message. */
    const char *denied = json_integer_value(json_object_get(event, "iterations")) == 0
                             ? agent_file_denied_reply(file, agent__str(event, "message"))
                             : NULL;
    if (denied)
        return canned_reply(event, denied, "denied_topic");
    /* A spent token budget hands the session to a human without calling the model. */
    const struct budget_limits limits = limits_of(a);
    struct budget_tab *tab = agent__budget_tab();
    enum budget_verdict verdict = BUDGET_OK;
    if (budget_check_turn(a->store, &limits, agent__str(event, "sessionId"), tab, clock_now_ms(),
                          &verdict, err) < 0)
        return NULL;
    if (verdict != BUDGET_OK) {
        AGENT_HOOK(a, on_budget, -1, budget_scope(verdict));
        log_at(LL_INFO, "agent", "token budget (%s) spent: session '%s' handed to a human",
               budget_scope(verdict), agent__str(event, "sessionId"));
        return canned_reply(event, agent_budget_reply, "token_budget");
    }
    char *system = agent_file_render_instructions(file, clock_now_ms());
    json_t *request = build_request(agent_tools(a), event, system,
                                    (int)agent_file_limit(file, "reply_tokens", 1024));
    free(system);
    struct trace_ctx *sub = trace_sub_begin(agent_trace_current(), model_name(a->model), "remote");
    int64_t t0 = clock_mono_us();
    json_t *resp = model_invoke(a->model, request, agent__observer() ? observe_text : NULL, NULL,
                                err);
    double seconds = (double)(clock_mono_us() - t0) / 1e6;
    trace_sub_end(sub, resp ? NULL : err);
    if (a->hooks && a->hooks->on_model) {
        json_t *u = json_object_get(resp, "usage");
        a->hooks->on_model(a, seconds, json_integer_value(json_object_get(u, "input_tokens")),
                           json_integer_value(json_object_get(u, "output_tokens")));
    }
    json_decref(request);
    if (!resp)
        return NULL;
    /* The call is paid for whatever comes next: on the turn's tab, counted by its save (or when
     * it ends unsaved), else at once (budget.h). */
    const json_t *usage = json_object_get(resp, "usage");
    long long spent = json_integer_value(json_object_get(usage, "input_tokens")) +
                      json_integer_value(json_object_get(usage, "output_tokens"));
    if (tab && spent > 0)
        tab->unsaved += spent;
    else
        spend_budget(a, agent__str(event, "sessionId"), spent);
    if (response_valid(resp, err) < 0) {
        json_decref(resp);
        return NULL;
    }
    json_t *out = agent__state_next(event);
    json_t *content = json_object_get(resp, "content");
    int has_tool_use = 0;
    struct buf text; /* the text blocks joined by blank lines */
    buf_init(&text, SIZE_MAX);
    size_t i;
    json_t *b;
    json_array_foreach(content, i, b) {
        const char *type = agent__str(b, "type");
        if (strcmp(type, "tool_use") == 0) {
            has_tool_use = 1;
        } else if (strcmp(type, "text") == 0) {
            if (text.len)
                buf_add(&text, "\n\n", 2);
            buf_add_str(&text, agent__str(b, "text"));
        }
    }
    char *reply = buf_take(&text, NULL);
    const char *stop = agent__str(resp, "stop_reason");
    agent__append_message(out, "assistant", json_incref(content));
    json_object_set_new(out, "requiresAction",
                        json_boolean(has_tool_use && strcmp(stop, "tool_use") == 0));
    json_object_set_new(out, "stopReason", json_string(stop));
    if (reply[0] || !json_object_get(out, "reply"))
        json_object_set_new(out, "reply", json_string(reply));
    add_usage(out, json_object_get(resp, "usage"));
    free(reply);
    json_decref(resp);
    return out;
}

/* ---------------------------------------------------------------- SaveConversation */

/* Returns 1 when this turn handed the session to a human (escalate_to_human succeeded). */
static int handed_off(const json_t *event)
{
    size_t i;
    json_t *act;
    const char *stop = agent__str(event, "stopReason");
    if (stop && strcmp(stop, "token_budget") == 0) /* a spent budget hands over (budget.h) */
        return 1;
    json_array_foreach(json_object_get(event, "actions"), i, act) {
        if (strcmp(agent__str(act, "tool"), "escalate_to_human") == 0 &&
            strcmp(agent__str(act, "status"), "succeeded") == 0)
            return 1;
    }
    return 0;
}

/* The events of a saved turn: conversation_started, message_received, handoff_requested.
 * action_executed / action_failed come from where the action runs (actions.c). */
static void emit_turn_events(struct agent *a, const json_t *event, int turn_no)
{
    json_t *sid = json_object_get(event, "sessionId");
    if (json_is_true(json_object_get(event, "isNew")))
        agent_emit(a, BUS_CONVERSATION_STARTED,
                   jsonb_object("sessionId", jsonb_ref(sid), "userId",
                                jsonb_ref(json_object_get(event, "userId")), NULL));
    /* the turn's event: its members are the state's own values, shared; without one of them the
     * detail is NULL (an empty one), as json_pack gave */
    agent_emit(a, BUS_MESSAGE_RECEIVED,
               jsonb_object("sessionId", json_is_string(sid) ? jsonb_ref(sid) : NULL, "turn",
                            json_integer(turn_no), "message",
                            jsonb_ref(json_object_get(event, "message")), "status",
                            jsonb_ref(json_object_get(event, "status")), NULL));
    size_t i;
    json_t *act;
    const char *stop = agent__str(event, "stopReason");
    if (stop && strcmp(stop, "token_budget") == 0)
        agent_emit(a, BUS_HANDOFF_REQUESTED,
                   json_pack("{s:O, s:s}", "sessionId", sid, "reason", "token budget spent"));
    json_array_foreach(json_object_get(event, "actions"), i, act) {
        if (strcmp(agent__str(act, "tool"), "escalate_to_human") == 0 &&
            strcmp(agent__str(act, "status"), "succeeded") == 0)
            agent_emit(a, BUS_HANDOFF_REQUESTED,
                       json_pack("{s:O, s:O}", "sessionId", sid, "reason",
                                 json_object_get(json_object_get(act, "input"), "reason")));
    }
}

json_t *agent_save_conversation(struct agent *a, json_t *event, struct err *err)
{
    /* Everything up to now has been shown to the customer in this reply. */
    json_t *context = json_object_get(event, "context");
    context = json_is_object(context) ? json_copy(context) : json_object(); /* sets one member */
    json_object_set_new(context, "lastSeen", json_integer((json_int_t)clock_now_ms()));
    json_t *metadata = jsonb_object("usage", jsonb_ref(json_object_get(event, "usage")), "model",
                                    jsonb_str(model_name(a->model)), "iterations",
                                    jsonb_ref(json_object_get(event, "iterations")), NULL);
    json_t *turn = jsonb_object("sessionId", jsonb_ref(json_object_get(event, "sessionId")),
                                "userId", jsonb_ref(json_object_get(event, "userId")), "isNew",
                                json_boolean(json_is_true(json_object_get(event, "isNew"))),
                                "messages", jsonb_ref(json_object_get(event, "newMessages")),
                                "context", context, "metadata", metadata, "status",
                                json_string_nocheck(handed_off(event) ? "handoff" : ""), NULL);
    /* The answer is built before the save: under an Idempotency-Key it is stored as the key's
     * response in the turn's own transaction (store.h), its "turn" filled in by the store. */
    const char *reply = agent__str(event, "reply");
    json_t *actions = json_object_get(event, "actions");
    json_t *resp = jsonb_object("sessionId", jsonb_ref(json_object_get(event, "sessionId")), "turn",
                                json_integer(0), "reply", jsonb_str(reply ? reply : ""), "actions",
                                actions ? json_incref(actions) : json_array(), NULL);
    json_t *ops = json_object_get(event, "operatorMessages");
    if (json_array_size(ops))
        json_object_set(resp, "operatorMessages", ops);
    json_t *held = json_object_get(json_object_get(event, "context"), "pendingConfirmation");
    if (json_is_object(held)) /* a "confirm" tool call waits for the customer's yes */
        json_object_set_new(resp, "confirmation",
                            json_pack("{s:O, s:O, s:O}", "tool", json_object_get(held, "tool"),
                                      "input", json_object_get(held, "input"), "prompt",
                                      json_object_get(held, "prompt")));
    const char *status = agent__str(event, "status");
    json_object_set_new(resp, "status",
                        json_string(handed_off(event) ? "handoff" : (status ? status : "active")));
    const char *key = agent__str(event, "idempotencyKey");
    if (key)
        json_object_set_new(turn, "idempotency",
                            jsonb_object("key", jsonb_str(key), "response", jsonb_ref(resp), NULL));
    /* The tokens of the turn's model calls count in the turn's own transaction (budget.h); a
     * failed save leaves them on the tab for a retry or the turn's end. */
    const struct budget_limits limits = limits_of(a);
    struct budget_tab *tab = agent__budget_tab();
    long long counting = tab ? tab->unsaved : 0;
    long long counted[2] = {-1, -1};
    json_t *counters = budget_counters(&limits, agent__str(event, "sessionId"), counting,
                                       clock_now_ms());
    if (counters) {
        assert(json_array_size(counters) <= sizeof counted / sizeof counted[0]);
        json_object_set_new(turn, "counters", counters);
    }
    int turn_no = 0;
    struct trace_ctx *sub = trace_sub_begin(agent_trace_current(), "store.turn_save", NULL);
    int rc = store_turn_save_counted(a->store, turn, &turn_no, counted, err);
    trace_sub_end(sub, rc < 0 ? err : NULL);
    json_decref(turn);
    if (rc < 0) {
        json_decref(resp);
        return NULL;
    }
    /* the session's cached window takes the saved messages as they are on its next read */
    if (a->cfg->history_cache_sessions > 0)
        history_cache_saved(a->history, agent__str(event, "sessionId"),
                            json_object_get(event, "newMessages"));
    if (counting > 0) { /* saved: the tab's tokens are in the counters now */
        tab->unsaved -= counting;
        AGENT_HOOK(a, on_budget, counted[0], NULL);
    }
    emit_turn_events(a, event, turn_no);
    AGENT_HOOK(a, on_saved, event, turn_no);
    json_object_set_new(resp, "turn", json_integer(turn_no));
    if (key) /* tells turn_run_idempotent the key is done; it removes the mark */
        json_object_set_new(resp, AGENT_KEY_DONE, json_true());
    return resp;
}

/* ---------------------------------------------------------------- HandleError */

const char agent_apology[] =
    "I'm sorry, something went wrong on our side and I couldn't finish that. Please try again in "
    "a moment; if it keeps happening, ask for a human agent.";

/* Returns 1 when msg is an assistant message with at least one tool_use block. */
static int has_tool_use(const json_t *msg)
{
    size_t i;
    json_t *b;
    if (strcmp(agent__str(msg, "role") ? agent__str(msg, "role") : "", "assistant") != 0)
        return 0;
    json_array_foreach(json_object_get(msg, "content"), i, b) {
        if (strcmp(agent__str(b, "type") ? agent__str(b, "type") : "", "tool_use") == 0)
            return 1;
    }
    return 0;
}

json_t *agent_handle_error(struct agent *a, json_t *event, struct err *err)
{
    (void)err;
    json_t *out = agent__state_next(event);
    json_t *error = json_object_get(out, "error");
    const char *name = agent__str(error, "Error");
    const char *cause = agent__str(error, "Cause");
    log_at(LL_WARN, "agent", "turn of session '%s' failed: %s: %s",
           agent__str(out, "sessionId") ? agent__str(out, "sessionId") : "?", name ? name : "?",
           cause ? cause : "");
    AGENT_HOOK(a, on_error, out, name ? name : "States.Runtime", cause ? cause : "");
    agent_emit(a, BUS_ERROR_OCCURRED,
               json_pack("{s:s?, s:s, s:s}", "sessionId", agent__str(out, "sessionId"), "error",
                         name ? name : "States.Runtime", "cause", cause ? cause : ""));
    json_t *msgs = json_object_get(out, "newMessages");
    if (!json_is_array(msgs)) {
        /* LoadContext never ran to its end: start the turn's messages with the user's. */
        json_object_set_new(out, "newMessages", json_array());
        agent__append_message(out, "user",
                              json_string(agent__str(out, "message") ? agent__str(out, "message")
                                                                     : ""));
        msgs = json_object_get(out, "newMessages");
    }
    /* A tool_use must never be saved without its tool_result: answer each with an error. */
    json_t *last = json_array_get(msgs, json_array_size(msgs) - 1);
    if (last && has_tool_use(last)) {
        json_t *results = json_array();
        size_t i;
        json_t *b;
        json_array_foreach(json_object_get(last, "content"), i, b) {
            if (strcmp(agent__str(b, "type"), "tool_use") == 0)
                json_array_append_new(results,
                                      json_pack("{s:s, s:O, s:s, s:b}", "type", "tool_result",
                                                "tool_use_id", json_object_get(b, "id"), "content",
                                                "the action was not run", "is_error", 1));
        }
        agent__append_message(out, "user", results);
    }
    agent__append_message(out, "assistant",
                          json_pack("[{s:s, s:s}]", "type", "text", "text", agent_apology));
    json_object_set_new(out, "reply", json_string(agent_apology));
    json_object_set_new(out, "requiresAction", json_false());
    if (!json_object_get(out, "actions"))
        json_object_set_new(out, "actions", json_array());
    if (!json_object_get(out, "usage"))
        json_object_set_new(out, "usage",
                            json_pack("{s:i, s:i}", "input_tokens", 0, "output_tokens", 0));
    json_object_set_new(out, "failure",
                        json_pack("{s:s, s:s}", "code", name ? name : "States.Runtime", "message",
                                  cause ? cause : ""));
    return out;
}

/* ---------------------------------------------------------------- table */

const struct agent_handler agent_handlers[] = {
    {"LoadContext", agent_load_context},
    {"BedrockInference", agent_model_inference},
    {"ActionExecutor", agent_action_executor},
    {"ActionWorker", agent_action_worker},
    {"SaveConversation", agent_save_conversation},
    {"HandleError", agent_handle_error},
    {NULL, NULL},
};

/* The store's on_erase: what the agent keeps of the conversation's text goes with it: its window
 * at once, and what the model keeps by value rather than by session (model_forget) all together. */
static void agent_on_erase(void *ud, const char *session_id)
{
    struct agent *a = ud;
    history_cache_drop(a->history, session_id);
    model_forget(a->model);
}

void agent_init(struct agent *a)
{
    pthread_mutex_init(&a->action_lock, NULL);
    a->action_waiters = NULL;
    pthread_mutex_init(&a->def_lock, NULL);
    a->history = history_cache_new();
    if (a->store) {
        a->store->on_erase = agent_on_erase;
        a->store->on_erase_ud = a;
    }
}

void agent_release(struct agent *a)
{
    pthread_mutex_destroy(&a->action_lock);
    agent_def_unref(atomic_exchange(&a->def, NULL));
    pthread_mutex_destroy(&a->def_lock);
    if (a->store && a->store->on_erase_ud == a) {
        a->store->on_erase = NULL;
        a->store->on_erase_ud = NULL;
    }
    history_cache_free(a->history);
    a->history = NULL;
}

agent_handler_fn agent_handler_find(const char *name)
{
    for (const struct agent_handler *h = agent_handlers; h->name; h++)
        if (strcmp(h->name, name) == 0)
            return h->fn;
    return NULL;
}
