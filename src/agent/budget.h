/*
 * budget.h - model-token budgets per session and per server, per UTC day, kept in the store.
 *
 * PARLEY_SESSION_TOKEN_BUDGET caps the model tokens (input + output) one session may use in a UTC
 * day and PARLEY_DAILY_TOKEN_BUDGET those of the whole server (every process sharing the store);
 * 0 turns either off. The spend lives in store counters (store.h counter_add), group
 * "budget-<YYYY-MM-DD>", names "server" and "session:<id>", expiring two days later, so a
 * restart, another `parley serve` on the same store or a Lambda invocation all see the same
 * spend. A model call is refused once a budget is reached (a call under the cap may overshoot it
 * by its own tokens: the spend is known only after the call).
 *
 * A turn that runs its workflow in-process keeps a tab (struct budget_tab): its model calls add
 * their tokens to the tab instead of writing the counters, SaveConversation adds the tab to the
 * counters inside the turn's own store transaction (budget_counters, store.h turn_save
 * "counters"), and whatever no save counted (the turn ended without saving: a failed save, an
 * error before it) is spent with budget_spend when the turn ends. So a turn's spend costs no
 * store transaction of its own, every token is counted once, and the check before each model
 * call still sees the turn's own earlier calls (budget_check_turn adds the tab). What changes:
 * other turns (of this session too, on another process) see a turn's tokens when it ends rather
 * than after each of its calls, and they count on the UTC day the turn ends. A handler run on
 * its own (the Lambda functions of a Step Functions workflow) has no tab and spends at once.
 */
#ifndef PARLEY_BUDGET_H
#define PARLEY_BUDGET_H

#include <jansson.h>

#include "base/err.h"

struct store;

struct budget_limits {
    long long session_tokens; /* per session per UTC day; 0 = off */
    long long daily_tokens;   /* per server per UTC day; 0 = off */
};

enum budget_verdict {
    BUDGET_OK = 0,      /* the model may be called */
    BUDGET_SESSION = 1, /* the session's budget for the day is spent */
    BUDGET_DAILY = 2,   /* the server's budget for the day is spent */
};

/* A running turn's model tokens not yet counted in the store (see the top). Embedded by the
 * turn, zeroed to start. */
struct budget_tab {
    long long unsaved; /* tokens of the turn's model calls that no store write has counted */
};

/* Reads the day's spend of session_id and of the server at now_ms and sets *verdict. With both
 * limits off it reads nothing and answers BUDGET_OK. Returns 0, or -1 with err from the store. */
int budget_check(struct store *s, const struct budget_limits *l, const char *session_id,
                 long long now_ms, enum budget_verdict *verdict, struct err *err);

/* budget_check for a turn of session_id with tab (NULL: none): the tab's unsaved tokens count
 * as spent by the session and the server, as if they had been written. */
int budget_check_turn(struct store *s, const struct budget_limits *l, const char *session_id,
                      const struct budget_tab *tab, long long now_ms, enum budget_verdict *verdict,
                      struct err *err);

/* The counter adds that spend tokens (> 0) on the UTC day of now_ms, as budget_spend would make
 * them, for a turn's save (store.h turn_save "counters"): a new array, the server's counter
 * first, then the session's when the session budget is on; NULL when tokens <= 0. */
json_t *budget_counters(const struct budget_limits *l, const char *session_id, long long tokens,
                        long long now_ms);

/* Adds tokens (> 0) to the day's spend of the server and, when the session budget is on, of
 * session_id. Sets *server_today to the server's spend after the add. Returns 0, or -1 with err
 * from the store. */
int budget_spend(struct store *s, const struct budget_limits *l, const char *session_id,
                 long long tokens, long long now_ms, long long *server_today, struct err *err);

/* The scope of a refusal for metrics and logs: "session", "daily", or NULL for BUDGET_OK. */
const char *budget_scope(enum budget_verdict v);

#endif
