/*
 * sfn_lambda.h - resolve Task resources to in-process Lambda handlers.
 *
 * The local runtime runs the same ASL file as AWS; its Task resources name Lambda functions, and
 * this resolver maps each name to a C handler from a table. Name rules:
 *   - "arn:aws:lambda:REGION:ACCOUNT:function:NAME" (an optional ":QUALIFIER" is ignored) -> NAME;
 *   - "${NAMEFunctionArn}" -> NAME, else "${NAMEArn}" -> NAME, else "${NAME}" -> NAME (SAM
 *     DefinitionSubstitutions placeholders left unsubstituted);
 *   - "arn:aws:states:::lambda:invoke" (also ".waitForTaskToken"): the effective input's
 *     FunctionName (any of the forms above, a bare NAME, "NAME:QUALIFIER" or
 *     "ACCOUNT:function:NAME") names the handler, its Payload (default {}) is the event, and the
 *     result has AWS's shape {"ExecutedVersion":"$LATEST","Payload":R,"SdkHttpMetadata":{...},
 *     "SdkResponseMetadata":{"RequestId":...},"StatusCode":200}.
 * For the plain ARN forms the event is the effective input and the handler's result is the task
 * result. A handler error surfaces as a Lambda function error does: the error name is the
 * handler's err->code (its errorType) and the cause is {"errorMessage":...,"errorType":...}, so
 * Retry and Catch match the handler's own names. An unknown function fails with
 * "Lambda.ResourceNotFoundException".
 */
#ifndef PARLEY_SFN_LAMBDA_H
#define PARLEY_SFN_LAMBDA_H

#include <jansson.h>
#include <stddef.h>

#include "base/err.h"

/* A handler: event borrowed; returns a new reference, or NULL with err set (err->code is the
 * errorType; empty means "Lambda.Unknown"). */
typedef json_t *(*sfn_lambda_fn)(void *ud, json_t *event, struct err *err);

struct sfn_lambda_handler {
    const char *name; /* function name, e.g. "LoadContext" */
    sfn_lambda_fn fn;
    void *ud;
};

struct sfn_lambda_table {
    const struct sfn_lambda_handler *handlers;
    size_t count;
};

/* Extracts the function name from a resource or FunctionName by the rules above into buf.
 * Returns 0, or -1 when the text names no Lambda function. */
int sfn_lambda_function_name(const char *resource, char *buf, size_t cap);

/* An sfn_task_fn; ud is a const struct sfn_lambda_table *. Unknown resources (not Lambda) fail
 * with "States.Runtime". */
int sfn_lambda_task(void *ud, const char *resource, json_t *input, json_t **output,
                    struct err *err);

#endif
