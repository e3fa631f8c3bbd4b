/*
 * workflow_sfn.h - the AWS runtime's turn workflow: one StartSyncExecution of the Express state
 * machine built from statemachine/agent.asl.json (Step Functions JSON 1.0 protocol, SigV4).
 *
 * The state goes in as the execution's input; a SUCCEEDED execution's output is the turn's
 * response. FAILED gives err = the execution's error name and cause; TIMED_OUT gives
 * "States.Timeout". The HTTP wait is capped by the remaining time of the Lambda invocation that
 * runs the call (runtime/lambda.h), less a margin to answer API Gateway in time.
 */
#ifndef PARLEY_WORKFLOW_SFN_H
#define PARLEY_WORKFLOW_SFN_H

#include "agent/agent.h"
#include "aws/aws.h"
#include "base/err.h"

#define WORKFLOW_SFN_INPUT_MAX (256 * 1024) /* Step Functions' payload limit, bytes */

struct workflow_sfn;

struct workflow_sfn_config {
    const struct aws_config *aws;  /* region, credentials, endpoints (copied) */
    const char *state_machine_arn; /* the Express state machine */
    long timeout_ms;               /* wait for one execution; 0 = 60000 */
    long margin_ms;                /* kept free before a Lambda deadline; 0 = 1000 */
};

/* Returns a workflow (workflow_sfn_free) or NULL with err "InvalidConfig" when the ARN is
 * missing. Without an endpoint override it calls https://sync-states.<region>.amazonaws.com,
 * the host StartSyncExecution is served on. */
struct workflow_sfn *workflow_sfn_new(const struct workflow_sfn_config *cfg, struct err *err);

/* Installs w as a's workflow (a->workflow, a->workflow_ud). */
void workflow_sfn_attach(struct workflow_sfn *w, struct agent *a);

/* The agent->workflow function. Returns the execution's output (new reference) or NULL with err:
 * the execution's error ("States.TaskFailed", a handler's error type, ...) with its cause,
 * "States.Timeout" (TIMED_OUT, or no time left before the Lambda deadline), "WorkflowError" for an
 * output that is not JSON or an input over WORKFLOW_SFN_INPUT_MAX, or the AWS error code of a
 * failed call. */
json_t *workflow_sfn_run(struct agent *a, json_t *state, struct err *err);

void workflow_sfn_free(struct workflow_sfn *w); /* NULL ok */

#endif
