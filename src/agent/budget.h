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
 */
#ifndef PARLEY_BUDGET_H
#define PARLEY_BUDGET_H

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

/* Reads the day's spend of session_id and of the server at now_ms and sets *verdict. With both
 * limits off it reads nothing and answers BUDGET_OK. Returns 0, or -1 with err from the store. */
int budget_check(struct store *s, const struct budget_limits *l, const char *session_id,
                 long long now_ms, enum budget_verdict *verdict, struct err *err);

/* Adds tokens (> 0) to the day's spend of the server and, when the session budget is on, of
 * session_id. Sets *server_today to the server's spend after the add. Returns 0, or -1 with err
 * from the store. */
int budget_spend(struct store *s, const struct budget_limits *l, const char *session_id,
                 long long tokens, long long now_ms, long long *server_today, struct err *err);

/* The scope of a refusal for metrics and logs: "session", "daily", or NULL for BUDGET_OK. */
const char *budget_scope(enum budget_verdict v);

#endif
