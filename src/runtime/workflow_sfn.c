/*
 * workflow_sfn.c - the turn as one Step Functions StartSyncExecution; see workflow_sfn.h.
 */
#include "runtime/workflow_sfn.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "base/jsontext.h"
#include "base/log.h"
#include "base/xmalloc.h"
#include "runtime/lambda.h"

struct workflow_sfn {
    struct aws_client *aws; /* signed calls to the sync endpoint */
    char *arn;              /* state machine ARN */
    long timeout_ms;        /* wait for one execution */
    long margin_ms;         /* kept free before a Lambda deadline */
};

struct workflow_sfn *workflow_sfn_new(const struct workflow_sfn_config *cfg, struct err *err)
{
    if (!cfg->state_machine_arn || !*cfg->state_machine_arn) {
        err_set(err, "InvalidConfig", "no state machine ARN (PARLEY_STATE_MACHINE_ARN)");
        return NULL;
    }
    struct aws_config c;
    aws_config_copy(&c, cfg->aws);
    /* StartSyncExecution lives on its own host unless the environment points elsewhere. */
    /* AWS_ENDPOINT_URL_SFN belongs to the AWS SDK's endpoint chain (aws.h reads it): here only
     * its absence is checked. */
    if (!c.endpoint_url && !config_env("AWS_ENDPOINT_URL_SFN") && c.region) {
        const char *cn = strncmp(c.region, "cn-", 3) == 0 ? ".cn" : "";
        c.endpoint_url = xasprintf("https://sync-states.%s.amazonaws.com%s", c.region, cn);
    }
    struct workflow_sfn *w = xcalloc(1, sizeof *w);
    w->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 60000;
    w->margin_ms = cfg->margin_ms > 0 ? cfg->margin_ms : 1000;
    struct http_client_config hc = {.timeout_ms = w->timeout_ms, .max_idle_handles = 4};
    w->aws = aws_client_new(&c, &hc);
    w->arn = xstrdup(cfg->state_machine_arn);
    aws_config_release(&c);
    return w;
}

void workflow_sfn_attach(struct workflow_sfn *w, struct agent *a)
{
    assert(w && a && !a->workflow); /* an agent runs one workflow */
    a->workflow = workflow_sfn_run;
    a->workflow_ud = w;
}

void workflow_sfn_free(struct workflow_sfn *w)
{
    if (!w)
        return;
    aws_client_free(w->aws);
    free(w->arn);
    free(w);
}

/* Reads the execution's outcome from a StartSyncExecution answer. */
static json_t *outcome(const json_t *doc, struct err *err)
{
    const char *status = json_string_value(json_object_get(doc, "status"));
    const char *error = json_string_value(json_object_get(doc, "error"));
    const char *cause = json_string_value(json_object_get(doc, "cause"));
    if (status && strcmp(status, "SUCCEEDED") == 0) {
        const char *text = json_string_value(json_object_get(doc, "output"));
        json_error_t jerr;
        json_t *out = text ? json_loads(text, JSON_DECODE_ANY, &jerr) : NULL;
        if (!out)
            err_set(err, "WorkflowError", "execution succeeded without a JSON output");
        return out;
    }
    if (status && strcmp(status, "TIMED_OUT") == 0) {
        err_set(err, "States.Timeout", "the turn's execution timed out%s%s", cause ? ": " : "",
                cause ? cause : "");
        return NULL;
    }
    if (status && strcmp(status, "FAILED") == 0) {
        err_set(err, error && *error ? error : "States.Runtime", "%s",
                cause && *cause ? cause : "the turn's execution failed");
        return NULL;
    }
    err_set(err, "WorkflowError", "execution ended with unknown status '%s'",
            status ? status : "(none)");
    return NULL;
}

json_t *workflow_sfn_run(struct agent *a, json_t *state, struct err *err)
{
    assert(a->workflow_ud && json_is_object(state));
    struct workflow_sfn *w = a->workflow_ud;
    long timeout = w->timeout_ms;
    int64_t left = lambda_remaining_ms(lambda_current());
    if (left != INT64_MAX) {
        if (left - w->margin_ms < 1000) {
            err_set(err, "States.Timeout", "only %lld ms left before the Lambda deadline",
                    (long long)left);
            return NULL;
        }
        if (left - w->margin_ms < timeout)
            timeout = (long)(left - w->margin_ms);
    }
    char *input = jsontext_dump(state);
    if (strlen(input) > WORKFLOW_SFN_INPUT_MAX) {
        err_set(err, "WorkflowError", "the turn's state is %zu bytes; Step Functions takes %d",
                strlen(input), WORKFLOW_SFN_INPUT_MAX);
        free(input);
        return NULL;
    }
    json_t *req = json_pack("{s:s, s:s}", "stateMachineArn", w->arn, "input", input);
    free(input);
    /* Not a setting: the Lambda runtime sets _X_AMZN_TRACE_ID per invocation (lambda.c), so it is
     * read at the moment of the call, as AWS's SDKs do. */
    const char *trace = getenv("_X_AMZN_TRACE_ID");
    if (trace && *trace)
        json_object_set_new(req, "traceHeader", json_string(trace));
    char *body = jsontext_dump(req);
    json_decref(req);
    const char *headers[] = {"Content-Type: application/x-amz-json-1.0",
                             "X-Amz-Target: AWSStepFunctions.StartSyncExecution"};
    /* An execution is not idempotent (a resent one would save the turn twice): one attempt. */
    struct aws_request r = {.service = "states",
                            .method = "POST",
                            .path = "/",
                            .headers = headers,
                            .n_headers = 2,
                            .body = body,
                            .body_len = strlen(body),
                            .timeout_ms = timeout,
                            .max_retries = 0};
    struct aws_response resp = {0};
    json_t *out = NULL;
    if (aws_call(w->aws, &r, &resp, err) == 0) {
        json_t *doc = json_loadb(resp.http.body ? resp.http.body : "", resp.http.body_len, 0, NULL);
        if (doc)
            out = outcome(doc, err);
        else
            err_set(err, "WorkflowError", "StartSyncExecution answered malformed JSON");
        json_decref(doc);
    } else if (strcmp(err->code, "HttpTimeout") == 0) {
        err_set(err, "States.Timeout", "no answer from Step Functions within %ld ms", timeout);
    }
    if (!out)
        log_at(LL_WARN, "workflow", "turn execution failed: %s: %s", err->code, err->message);
    aws_response_release(&resp);
    free(body);
    return out;
}
