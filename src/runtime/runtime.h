/*
 * runtime.h - assembling Parley from its settings: the adapters of every port (store, model,
 * knowledge base, tools, workflow, ...), the agent that uses them, and the paths of the bundled
 * assets. `parley serve` and the Lambda bootstrap build the same runtime, so a turn runs the same
 * code in both.
 */
#ifndef PARLEY_RUNTIME_H
#define PARLEY_RUNTIME_H

#include "agent/agent.h"
#include "base/config.h"
#include "base/err.h"

struct analytics;
struct bus;
struct kb;
struct tools;
struct workflow_local;

struct runtime {
    struct config *cfg;              /* settings (borrowed; outlives the runtime) */
    struct store *store;             /* sessions, turns, tickets, actions */
    struct model *model;             /* the model provider */
    struct kb *kb;                   /* knowledge base, NULL when unavailable */
    struct tools *tools;             /* the tool registry */
    struct workflow_local *workflow; /* the ASL turn workflow */
    struct bus *bus;                 /* agent events */
    struct analytics *analytics;     /* the analytics target's counters */
    struct agent agent;              /* the handlers' context */
    char *web_dir;                   /* the static web pages */
    long long started_ms;            /* when the runtime opened */
};

/* Opens everything cfg names. Returns 0, or -1 with err naming what could not be opened (the
 * partly opened runtime is closed again). */
int runtime_open(struct runtime *rt, struct config *cfg, struct err *err);

/* Closes what runtime_open opened, in reverse order. Safe on a zeroed or failed runtime. */
void runtime_close(struct runtime *rt);

/* Finds a bundled file or directory (state machine, knowledge base, web pages): as given, else
 * relative to the repository the binary was built in (build/parley, build/san/parley). Returns a
 * new string. */
char *runtime_asset_path(const char *path);

#endif
