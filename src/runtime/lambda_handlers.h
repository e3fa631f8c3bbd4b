/*
 * lambda_handlers.h - Parley's Lambda functions: the handler table the bootstrap serves, one entry
 * per function of the seed, chosen by _HANDLER.
 *
 *   RequestHandler    API Gateway REST proxy event in ({"httpMethod","headers","body",
 *                     "isBase64Encoded"}), the same validation as POST /chat (turn.h), the turn
 *                     through Step Functions StartSyncExecution (workflow_sfn.h), a proxy response
 *                     out ({"statusCode","headers","body","isBase64Encoded":false}); errors are
 *                     {"error":{"code","message"}} bodies with the status `parley serve` would
 * give. LoadContext, BedrockInference, ActionExecutor, SaveConversation, HandleError the workflow's
 * Tasks: state in, next state out (agent.h); a failure's code is the errorType the state machine's
 * Retry and Catch match. ActionWorker      SQS event in, {"batchItemFailures":[{"itemIdentifier"}]}
 * out. Analytics         EventBridge event in: folded into counters and written as one CloudWatch
 *                     EMF line on stdout (so CloudWatch turns it into metrics).
 *
 * Every function opens the same app (app.h) with its role and installs the same observer
 * (observe.h): turn, model and tool metrics, and CloudWatch EMF lines on stdout, flushed with the
 * events after every invocation. Adapters come from the settings table: PARLEY_STORE ("dynamodb",
 * as the template sets it, or the setting's default "sqlite" under PARLEY_DATA, which the package's
 * launcher defaults to /tmp/parley and which is created when missing), PARLEY_STATE_MACHINE_ARN
 * (RequestHandler), PARLEY_EVENT_BUS (EventBridge bus name; events are off without it),
 * PARLEY_QUEUE_PREFIX (SQS queues
 * "<prefix>AgentActions"; without it ActionExecutor runs actions inline), PARLEY_ARCHIVE_BUCKET
 * (SaveConversation writes the session's transcript to S3 after each turn, redacted as
 * PARLEY_REDACT says), PARLEY_MODEL and the AWS variables. Events and EMF
 * lines of an invocation are flushed before its response is posted, since Lambda freezes the
 * process between invocations. A failure's errorType is its code from base/errcode.h.
 */
#ifndef PARLEY_LAMBDA_HANDLERS_H
#define PARLEY_LAMBDA_HANDLERS_H

#include "runtime/lambda.h"

/* The functions above, by name; {NULL, NULL}-terminated. */
extern const struct lambda_handler lambda_parley_handlers[];

/* Runs the bootstrap: opens what the chosen handler needs, then serves invocations until the
 * Runtime API goes away. argv may carry "--handler NAME" (else _HANDLER) and "--once" (one
 * invocation, for tests). Returns the process exit status. */
int lambda_parley_main(int argc, char **argv);

#endif
