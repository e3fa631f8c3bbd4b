/*
 * tool_lambda.h - a tool that is an AWS Lambda function (an agent file's tools.lambda entry),
 * invoked like a Bedrock action group: the Lambda Invoke API
 * (POST /2015-03-31/functions/{function_arn}/invocations, RequestResponse), SigV4-signed through
 * aws/aws.h, so region, credentials and the endpoint (AWS_ENDPOINT_URL_LAMBDA) come from the
 * environment the way the AWS SDKs read them.
 */
#ifndef PARLEY_TOOL_LAMBDA_H
#define PARLEY_TOOL_LAMBDA_H

#include <jansson.h>

#include "agent/tools.h"
#include "base/err.h"

#define TOOL_LAMBDA_ARN_MAX 256      /* bytes in function_arn */
#define TOOL_LAMBDA_TIMEOUT_MS 30000 /* per invocation */

struct tool_lambda;
struct aws_client;

/* Compiles one entry (borrowed): "name" and "function_arn" (a function name or ARN, at most 256
 * bytes of [A-Za-z0-9:_.$-]). aws is borrowed and must outlive the tool. Returns the tool, or NULL
 * with err "ToolConfig" naming where. */
struct tool_lambda *tool_lambda_new(const json_t *entry, const char *where, struct aws_client *aws,
                                    struct err *err);

/* Frees the tool; NULL is a no-op. */
void tool_lambda_free(struct tool_lambda *l);

/* Invokes the function with input (the tool's input, exactly) as its event. Returns the function's
 * JSON reply (new reference) with *is_error 0. When the function failed (X-Amz-Function-Error),
 * returns {"error":{"code":"ToolFunctionError", "message","functionError","payload"}} with
 * *is_error = 1 and err set. Other failures return NULL with err: "ToolBadReply" (not JSON),
 * "ToolTimeout", "ToolFailed" (the Lambda service refused: its code is in the message). */
json_t *tool_lambda_run(const struct tool_lambda *l, const struct tool_ctx *ctx,
                        const json_t *input, int *is_error, struct err *err);

#endif
