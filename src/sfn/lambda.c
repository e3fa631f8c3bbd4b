/*
 * lambda.c - the in-process Lambda resolver: Task resource (or lambda:invoke FunctionName) to a
 * handler from a table, with AWS's result and error shapes.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/jsontext.h"
#include "base/sched.h"
#include "base/xmalloc.h"
#include "sfn/sfn_int.h"
#include "sfn/sfn_lambda.h"

static int copy_out(const char *s, size_t n, char *buf, size_t cap)
{
    if (n == 0 || n >= cap)
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return 0;
}

static int ends_with(const char *s, size_t n, const char *suf)
{
    size_t l = strlen(suf);
    return n > l && !memcmp(s + n - l, suf, l);
}

int sfn_lambda_function_name(const char *r, char *buf, size_t cap)
{
    size_t n = strlen(r);
    if (!strncmp(r, "${", 2)) {
        if (n <= 3 || r[n - 1] != '}')
            return -1;
        const char *p = r + 2;
        size_t l = n - 3;
        if (ends_with(p, l, "FunctionArn"))
            l -= strlen("FunctionArn");
        else if (ends_with(p, l, "Arn"))
            l -= strlen("Arn");
        return copy_out(p, l, buf, cap);
    }
    const char *f = strstr(r, ":function:");
    if (f && (!strncmp(r, "arn:", 4) || f > r)) {
        const char *p = f + strlen(":function:");
        const char *q = strchr(p, ':');
        return copy_out(p, q ? (size_t)(q - p) : strlen(p), buf, cap);
    }
    if (!strncmp(r, "arn:", 4))
        return -1;
    const char *q = strchr(r, ':');
    return copy_out(r, q ? (size_t)(q - r) : n, buf, cap);
}

static const struct sfn_lambda_handler *find(const struct sfn_lambda_table *t, const char *name)
{
    for (size_t i = 0; i < t->count; i++)
        if (!strcmp(t->handlers[i].name, name))
            return &t->handlers[i];
    return NULL;
}

/* Turns the handler's failure in err into Lambda's: the error named by the handler's code
 * (Lambda.Unknown when none), the cause its {"errorMessage", "errorType"} document. Out of line:
 * see SCHED_OUT_OF_LINE; invoke's frame waits on every call a handler makes. */
static SCHED_OUT_OF_LINE int handler_failed(struct err *err)
{
    char type[ERR_CODE_MAX];
    snprintf(type, sizeof type, "%s", err->code[0] ? err->code : "Lambda.Unknown");
    json_t *cause = json_pack("{s:s, s:s}", "errorMessage",
                              err->message[0] ? err->message : "the handler returned no result",
                              "errorType", type);
    char *cs = jsontext_dump(cause);
    err_set(err, type, "%s", cs);
    free(cs);
    json_decref(cause);
    return -1;
}

static int invoke(const struct sfn_lambda_handler *h, json_t *event, json_t **out, struct err *err)
{
    err_clear(err);
    json_t *res = h->fn(h->ud, event, err);
    if (!res)
        return handler_failed(err);
    *out = res;
    return 0;
}

static void request_id(char out[37])
{
    /* Request ids need uniqueness, not secrecy: one sequence per thread, seeded once. */
    static _Thread_local struct rand_seeded st;
    static _Thread_local int seeded;
    if (!seeded) {
        rand_seeded_init(&st, rand_u64());
        seeded = 1;
    }
    sfn__uuid(&st, out);
}

/* 1 for the lambda:invoke integration (and its .waitForTaskToken form): the function is named by
 * the input's FunctionName, and the answer wraps the handler's result. */
static int is_lambda_invoke(const char *resource)
{
    static const char prefix[] = "arn:aws:states:::lambda:invoke";
    return strncmp(resource, prefix, sizeof prefix - 1) == 0;
}

/* The in-process handler a Task's resource names (lambda:invoke's FunctionName or a function
 * ARN), or NULL with err. Out of line, as handler_failed. */
static SCHED_OUT_OF_LINE const struct sfn_lambda_handler *
resolve(const struct sfn_lambda_table *t, const char *resource, json_t *input, struct err *err)
{
    char name[256];
    const char *shown = resource;
    if (is_lambda_invoke(resource)) {
        json_t *fn = json_object_get(input, "FunctionName");
        if (!json_is_string(fn)) {
            err_set(err, "States.Runtime",
                    "lambda:invoke needs a string FunctionName in its Parameters");
            return NULL;
        }
        shown = json_string_value(fn);
        if (sfn_lambda_function_name(shown, name, sizeof name) < 0) {
            err_set(err, "Lambda.ResourceNotFoundException",
                    "FunctionName '%s' names no Lambda function", shown);
            return NULL;
        }
    } else if (sfn_lambda_function_name(resource, name, sizeof name) < 0 ||
               (strncmp(resource, "arn:aws:lambda:", 15) && strncmp(resource, "${", 2))) {
        err_set(err, "States.Runtime",
                "resource '%s' is not a Lambda function this runtime can resolve", resource);
        return NULL;
    }
    const struct sfn_lambda_handler *h = find(t, name);
    if (!h)
        err_set(err, "Lambda.ResourceNotFoundException",
                "Function not found: %s (no in-process handler named '%s')", shown, name);
    return h;
}

/* lambda:invoke's answer around the handler's result res (taken). Out of line, as
 * handler_failed. */
static SCHED_OUT_OF_LINE json_t *invoke_answer(json_t *res)
{
    char rid[37];
    request_id(rid);
    return json_pack(
        "{s:s, s:o, s:{s:{s:[s], s:[s], s:[s]}, s:{s:s, s:s, s:s}, s:i}, s:{s:s}, s:i}",
        "ExecutedVersion", "$LATEST", "Payload", res, "SdkHttpMetadata", "AllHttpHeaders",
        "X-Amz-Executed-Version", "$LATEST", "x-amzn-RequestId", rid, "Content-Type",
        "application/json", "HttpHeaders", "X-Amz-Executed-Version", "$LATEST", "x-amzn-RequestId",
        rid, "Content-Type", "application/json", "HttpStatusCode", 200, "SdkResponseMetadata",
        "RequestId", rid, "StatusCode", 200);
}

int sfn_lambda_task(void *ud, const char *resource, json_t *input, json_t **output, struct err *err)
{
    const struct sfn_lambda_handler *h = resolve(ud, resource, input, err);
    if (!h)
        return -1;
    if (!is_lambda_invoke(resource))
        return invoke(h, input, output, err);
    json_t *payload = json_object_get(input, "Payload");
    json_t *empty = payload ? NULL : json_object();
    json_t *res = NULL;
    int rc = invoke(h, payload ? payload : empty, &res, err);
    if (empty)
        json_decref(empty);
    if (rc < 0)
        return -1;
    *output = invoke_answer(res);
    return 0;
}
