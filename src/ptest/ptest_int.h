/*
 * ptest_int.h - what the files of src/ptest share (module-internal, `ptest__` names): the target
 * a run's turns go to, in-process or over HTTP (target.c).
 */
#ifndef PARLEY_PTEST_INT_H
#define PARLEY_PTEST_INT_H

#include <jansson.h>

#include "base/config.h"
#include "base/err.h"
#include "http/client.h"
#include "runtime/app.h"

/* Where the turns run. Lifecycle: ptest__target_open() -> calls -> ptest__target_close(). */
struct ptest_target {
    struct app app;           /* in-process (when http is NULL) */
    struct config cfg;        /* its settings */
    int app_open;             /* app_open succeeded */
    char data[64];            /* throwaway data directory ("" when none) */
    struct http_client *http; /* --url */
    const char *url;          /* base URL (borrowed) */
    char auth[600];           /* "Authorization: Bearer <PARLEY_OPERATOR_TOKEN>" or "" */
};

struct ptest_target_opts {
    const char *url;    /* run against this server (NULL: in-process) */
    const char *agent;  /* agent file: the PARLEY_AGENT setting (NULL: as configured) */
    const char *model;  /* PARLEY_MODEL override (NULL: as configured) */
    const char *record; /* PARLEY_MODEL_RECORD for the in-process app */
    const char *replay; /* PARLEY_MODEL_REPLAY for the in-process app */
};

/* Loads the settings and opens the target: over HTTP, or the app (APP_SERVE, its action workers
 * started) on a fresh data directory under /tmp. Returns 0, or -1 with err; either way release
 * with ptest__target_close(). Log lines below WARN are silenced (they would bury the report). */
int ptest__target_open(struct ptest_target *t, const struct ptest_target_opts *o, struct err *err);

/* Closes what is open and removes the throwaway data directory. Safe on a zeroed target. */
void ptest__target_close(struct ptest_target *t);

/* POST /chat with body (a JSON text). Returns the response or error body (new reference; never
 * NULL) and sets *status (0 when no HTTP answer came). */
json_t *ptest__target_chat(struct ptest_target *t, const char *body, long *status);

/* GET /sessions/{sid} as its customer `user` (may be NULL): the transcript document (new
 * reference), or NULL. */
json_t *ptest__target_session(struct ptest_target *t, const char *sid, const char *user);

/* Every ticket without its userId, as GET /tickets shows them (new array), or NULL. */
json_t *ptest__target_tickets(struct ptest_target *t);

#endif
