/*
 * agent_int.h - helpers shared by the agent's handler files (agent__ names; not a public API).
 */
#ifndef PARLEY_AGENT_INT_H
#define PARLEY_AGENT_INT_H

#include <jansson.h>

#include "agent/agent.h"

/* The next workflow state, made from event without modifying it (see "Ownership" in agent.h):
 * a new object holding event's members, in which the containers handlers change in place
 * (newMessages, actions, usage, context) are themselves new shallow copies. Everything else is
 * shared with event, so a handler replaces a member instead of changing it. Returns a new
 * reference; event must be an object. */
json_t *agent__state_next(json_t *event);

/* The string at key, or NULL. */
const char *agent__str(const json_t *o, const char *key);

/* The array at key in event, created empty when absent (borrowed). */
json_t *agent__array(json_t *event, const char *key);

/* Appends {"role","content" (stolen),"timestamp": now} to event.newMessages; role is an ASCII
 * literal. A NULL content (a failed constructor's) appends nothing. */
void agent__append_message(json_t *event, const char *role, json_t *content);

/* Settles the session's pending confirmation (context.pendingConfirmation, see actions.c) with
 * the customer's message in event: an explicit yes runs the held call, a no records it declined;
 * either way the call and its result join event.newMessages and event.actions. Anything else
 * leaves it pending. Returns 0, or -1 with err when a queued call could not be sent. */
int agent__confirm_resume(struct agent *a, json_t *event, struct err *err);

/* The running turn's observer (task-local, see agent_observer_set), or NULL. */
const struct agent_observer *agent__observer(void);

struct budget_tab;

/* The budget tab of the turn running on this task (agent/budget.h; task-local, set by turn.c
 * around the workflow, NULL off a turn: a handler run on its own then spends at once). */
void agent__budget_tab_set(struct budget_tab *tab);
struct budget_tab *agent__budget_tab(void);

/* Spends what tab still holds (the turn ended without a save counting it) against the budgets
 * of session_id and empties it. A store failure is logged (the replies are paid for). */
void agent__budget_settle(struct agent *a, const char *session_id, struct budget_tab *tab);

/* The window LoadContext gave the running turn, with each message's form in a model request
 * (history_window.api): every model call of the turn whose event still holds that very window
 * (the same array; a turn's values never change) takes those forms instead of building them.
 * Task-local like the budget tab: turn.c sets it around the workflow and releases it; off a turn
 * (a handler run on its own) there is none and a call builds its request from the event. */
struct agent__window_memo {
    json_t *history; /* a reference to the event's "history" array, or NULL */
    json_t *api;     /* a reference to its forms (same size), or NULL */
};
void agent__window_memo_set(struct agent__window_memo *m);
struct agent__window_memo *agent__window_memo(void);

/* Drops what m holds. */
void agent__window_memo_release(struct agent__window_memo *m);

#endif
