/*
 * workflow_local.h - the local runtime's turn workflow: our ASL engine running
 * statemachine/agent.asl.json, with each Task resource resolved to an in-process seed handler
 * (LoadContext, BedrockInference, ActionExecutor, HandleError, SaveConversation).
 */
#ifndef PARLEY_WORKFLOW_LOCAL_H
#define PARLEY_WORKFLOW_LOCAL_H

#include "agent/agent.h"
#include "base/err.h"

struct workflow_local;

/* Reads, validates and compiles the definition at asl_path and binds the handlers to a. Every
 * Task resource must name a known handler. Returns NULL with err ("InvalidConfig" naming the file,
 * or "States.InvalidDefinition" listing the problems). */
struct workflow_local *workflow_local_new(struct agent *a, const char *asl_path, struct err *err);

/* Installs w as a's workflow (a->workflow, a->workflow_ud). */
void workflow_local_attach(struct workflow_local *w, struct agent *a);

/* The agent->workflow function: one execution per turn. A FAILED execution returns NULL with
 * err->code the execution's error name and err->message its cause. */
json_t *workflow_local_run(struct agent *a, json_t *state, struct err *err);

void workflow_local_free(struct workflow_local *w); /* NULL ok */

#endif
