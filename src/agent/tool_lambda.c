/*
 * tool_lambda.c - a tool backed by an AWS Lambda function (see tool_lambda.h).
 */
#include "agent/tool_lambda.h"

#include <stdlib.h>
#include <string.h>

#include "aws/aws.h"
#include "base/jsontext.h"
#include "base/xmalloc.h"
#include "http/sigv4.h"

struct tool_lambda {
    char *name;             /* the tool's name, for messages */
    char *arn;              /* function name or ARN */
    char *path;             /* "/2015-03-31/functions/<encoded arn>/invocations" */
    struct aws_client *aws; /* borrowed */
};

struct tool_lambda *tool_lambda_new(const json_t *entry, const char *where, struct aws_client *aws,
                                    struct err *err)
{
    const char *name = json_string_value(json_object_get(entry, "name"));
    const char *arn = json_string_value(json_object_get(entry, "function_arn"));
    size_t n = arn ? strlen(arn) : 0;
    int ok = n > 0 && n <= TOOL_LAMBDA_ARN_MAX;
    for (size_t i = 0; ok && i < n; i++)
        ok = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:_.$-",
                    arn[i]) != NULL;
    if (!ok) {
        err_set(err, "ToolConfig",
                "%s/function_arn: must be a Lambda function name or ARN of 1..%d characters", where,
                TOOL_LAMBDA_ARN_MAX);
        return NULL;
    }
    struct tool_lambda *l = xcalloc(1, sizeof *l);
    l->name = xstrdup(name ? name : "?");
    l->arn = xstrdup(arn);
    char *enc = sigv4_uri_encode(arn, n, 0);
    l->path = xasprintf("/2015-03-31/functions/%s/invocations", enc);
    free(enc);
    l->aws = aws;
    return l;
}

void tool_lambda_free(struct tool_lambda *l)
{
    if (!l)
        return;
    free(l->name);
    free(l->arn);
    free(l->path);
    free(l);
}

json_t *tool_lambda_run(const struct tool_lambda *l, const struct tool_ctx *ctx,
                        const json_t *input, int *is_error, struct err *err)
{
    (void)ctx;
    json_t *result = NULL;
    char *body = jsontext_dump(input);
    const char *headers[] = {"Content-Type: application/json",
                             "X-Amz-Invocation-Type: RequestResponse"};
    struct aws_request r = {
        .service = "lambda",
        .method = "POST",
        .path = l->path,
        .headers = headers,
        .n_headers = 2,
        .body = body,
        .body_len = body ? strlen(body) : 0,
        .timeout_ms = TOOL_LAMBDA_TIMEOUT_MS,
        .max_retries = -1,
    };
    struct aws_response resp = {0};
    struct err aerr;
    err_clear(&aerr);
    *is_error = 0;
    if (aws_call(l->aws, &r, &resp, &aerr) < 0) {
        if (strcmp(aerr.code, "HttpTimeout") == 0)
            err_set(err, "ToolTimeout", "tool '%s': Lambda function '%s' did not answer in time",
                    l->name, l->arn);
        else
            err_set(err, "ToolFailed", "tool '%s': Lambda function '%s' was not invoked: %s",
                    l->name, l->arn, aerr.code);
        goto out;
    }
    json_error_t jerr;
    json_t *payload = resp.http.body_len
                          ? json_loadb(resp.http.body, resp.http.body_len, JSON_DECODE_ANY, &jerr)
                          : json_null();
    const char *ferr = http_client_header(&resp.http, "X-Amz-Function-Error");
    if (ferr) {
        err_set(err, "ToolFunctionError", "tool '%s': Lambda function '%s' failed (%s)", l->name,
                l->arn, ferr);
        if (!payload)
            payload = json_stringn(resp.http.body, resp.http.body_len);
        result = json_pack("{s:{s:s, s:s, s:s, s:o*}}", "error", "code", err->code, "message",
                           err->message, "functionError", ferr, "payload", payload);
        *is_error = 1;
        goto out;
    }
    if (!payload) {
        err_set(err, "ToolBadReply", "tool '%s': Lambda function '%s' returned non-JSON (%s)",
                l->name, l->arn, jerr.text);
        goto out;
    }
    result = payload;
out:
    aws_response_release(&resp);
    free(body);
    return result;
}
