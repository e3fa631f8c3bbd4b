/*
 * lambda.c - the Lambda Runtime API loop: next invocation, response, invocation error, init error.
 * See lambda.h for the contract and the Lambda documentation "Using the Lambda runtime API for
 * custom runtimes" for the wire format.
 */
#include "runtime/lambda.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/config.h"
#include "base/jsontext.h"
#include "base/log.h"
#include "base/xmalloc.h"
#include "http/client.h"

#define LAMBDA_API_VERSION "2018-06-01"
#define LAMBDA_NEXT_TIMEOUT_MS (24L * 3600 * 1000) /* the next call blocks until an event comes */

static _Thread_local const struct lambda_context *current_ctx;

const struct lambda_context *lambda_current(void)
{
    return current_ctx;
}

int64_t lambda_remaining_ms(const struct lambda_context *ctx)
{
    if (!ctx || ctx->deadline_ms <= 0)
        return INT64_MAX;
    return ctx->deadline_ms - clock_now_ms();
}

const struct lambda_handler *lambda_handler_find(const struct lambda_handler *handlers,
                                                 const char *name)
{
    for (const struct lambda_handler *h = handlers; name && h && h->name; h++)
        if (strcmp(h->name, name) == 0)
            return h;
    return NULL;
}

/* ---------------------------------------------------------------- posting to the API */

struct runtime {
    struct http_client *http; /* one client for every call, no retries */
    char *base;               /* "http://host:port/2018-06-01/runtime" */
    long post_timeout_ms;     /* limit on each post */
};

/* Posts body to base + path. Returns 0 when the API answered 2xx, else -1 with err. */
static int post(struct runtime *rt, const char *path, const char *const *headers, size_t n_headers,
                const char *body, size_t len, struct err *err)
{
    char *url = xasprintf("%s%s", rt->base, path);
    struct http_client_request req = {.method = "POST",
                                      .url = url,
                                      .headers = headers,
                                      .n_headers = n_headers,
                                      .body = body,
                                      .body_len = len,
                                      .timeout_ms = rt->post_timeout_ms,
                                      .max_retries = 0};
    struct http_client_response resp = {0};
    int rc = http_client_do(rt->http, &req, &resp, err);
    if (rc == 0 && (resp.status < 200 || resp.status > 299)) {
        err_set(err, "RuntimeApiError", "POST %s answered %ld: %.200s", path, resp.status,
                resp.body ? resp.body : "");
        rc = -1;
    } else if (rc < 0) {
        char msg[ERR_MSG_MAX];
        snprintf(msg, sizeof msg, "%s", err->message);
        err_set(err, "RuntimeApiError", "POST %s failed: %s", path, msg);
    }
    http_client_response_release(&resp);
    free(url);
    return rc;
}

/* Posts an error document ({"errorMessage","errorType","stackTrace":[]}) to path. */
static int post_error(struct runtime *rt, const char *path, const char *type, const char *message,
                      struct err *err)
{
    json_t *doc = json_pack("{s:s, s:s, s:[]}", "errorMessage", message, "errorType", type,
                            "stackTrace");
    char *body = jsontext_dump(doc);
    json_decref(doc);
    char *hdr = xasprintf("Lambda-Runtime-Function-Error-Type: %s", type);
    const char *headers[] = {"Content-Type: application/json", hdr};
    int rc = post(rt, path, headers, 2, body, strlen(body), err);
    free(hdr);
    free(body);
    return rc;
}

/* ---------------------------------------------------------------- one invocation */

/* Copies header name of resp into buf (cut at len-1 bytes), "" when absent. */
static void header_copy(const struct http_client_response *resp, const char *name, char *buf,
                        size_t len)
{
    const char *v = http_client_header(resp, name);
    snprintf(buf, len, "%s", v ? v : "");
}

/* Request ids go into a URL path: accept only the characters Lambda uses (UUIDs and the like). */
static int request_id_ok(const char *id)
{
    if (!*id)
        return 0;
    for (const char *p = id; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_' || *p == '.'))
            return 0;
    return 1;
}

/* Runs handler h on the event of one invocation and reports the outcome. Returns 0, or -1 when
 * the API could not be told (fatal for the loop). */
static int invoke(struct runtime *rt, const struct lambda_handler_table *t,
                  const struct lambda_handler *h, const struct http_client_response *resp,
                  struct err *err)
{
    char request_id[128], deadline[32], arn[512], trace[512];
    header_copy(resp, "Lambda-Runtime-Aws-Request-Id", request_id, sizeof request_id);
    header_copy(resp, "Lambda-Runtime-Deadline-Ms", deadline, sizeof deadline);
    header_copy(resp, "Lambda-Runtime-Invoked-Function-Arn", arn, sizeof arn);
    header_copy(resp, "Lambda-Runtime-Trace-Id", trace, sizeof trace);
    if (!request_id_ok(request_id))
        return err_set(err, "RuntimeApiError", "next invocation has no usable request id ('%s')",
                       request_id);
    struct lambda_context ctx = {.request_id = request_id,
                                 .deadline_ms = strtoll(deadline, NULL, 10),
                                 .function_arn = arn,
                                 .trace_id = trace};
    if (trace[0])
        setenv("_X_AMZN_TRACE_ID", trace, 1);
    else
        unsetenv("_X_AMZN_TRACE_ID");

    char path[256];
    int rc = -1;
    json_t *result = NULL;
    struct err herr;
    err_clear(&herr);
    json_error_t jerr;
    json_t *event = json_loadb(resp->body ? resp->body : "", resp->body_len,
                               JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    snprintf(path, sizeof path, "/invocation/%s/error", request_id);
    if (!event) {
        char msg[512];
        snprintf(msg, sizeof msg, "event is not JSON: %s at line %d column %d", jerr.text,
                 jerr.line, jerr.column);
        rc = post_error(rt, path, "Runtime.InvalidEvent", msg, err);
        goto out;
    }
    int64_t left = lambda_remaining_ms(&ctx);
    log_at(LL_DEBUG, "lambda", "invocation '%s' of %s, %" PRId64 " ms left", request_id, h->name,
           left);
    if (left <= 0) {
        /* Lambda would have stopped us by now: starting work nobody waits for only does harm. */
        char msg[160];
        snprintf(msg, sizeof msg, "invocation arrived %" PRId64 " ms after its deadline", -left);
        rc = post_error(rt, path, "Runtime.DeadlineExceeded", msg, err);
        goto out;
    }
    current_ctx = &ctx;
    result = h->fn(t->ud, &ctx, event, &herr);
    current_ctx = NULL;
    if (!result) {
        if (!herr.code[0])
            err_set(&herr, "Runtime.UnknownReason", "handler %s failed without saying why",
                    h->name);
        log_at(LL_WARN, "lambda", "handler %s failed: %s: %s", h->name, herr.code, herr.message);
        rc = post_error(rt, path, herr.code, herr.message, err);
        goto out;
    }
    char *body = jsontext_dump(result);
    size_t len = strlen(body);
    if (len > LAMBDA_RESPONSE_MAX) {
        char msg[160];
        snprintf(msg, sizeof msg, "response is %zu bytes; the limit is %u", len,
                 LAMBDA_RESPONSE_MAX);
        free(body);
        rc = post_error(rt, path, "Function.ResponseSizeTooLarge", msg, err);
        goto out;
    }
    snprintf(path, sizeof path, "/invocation/%s/response", request_id);
    const char *headers[] = {"Content-Type: application/json"};
    rc = post(rt, path, headers, 1, body, len, err);
    free(body);
out:
    json_decref(result);
    json_decref(event);
    return rc;
}

/* ---------------------------------------------------------------- the loop */

int lambda_runtime_run(const struct lambda_handler_table *t,
                       const struct lambda_runtime_config *cfg, struct err *err)
{
    /* The Lambda service sets these two for the process it starts (the custom runtime
     * contract); they are rows of the settings table, read here only. */
    const char *api = cfg && cfg->api ? cfg->api : config_env("AWS_LAMBDA_RUNTIME_API");
    const char *name = cfg && cfg->handler ? cfg->handler : config_env("_HANDLER");
    long max = cfg ? cfg->max_invocations : 0;
    if (!api || !*api)
        return err_set(err, "RuntimeApiError", "AWS_LAMBDA_RUNTIME_API is not set");
    struct http_client_config hc = {.timeout_ms = LAMBDA_NEXT_TIMEOUT_MS,
                                    .max_retries = -1,
                                    .max_response_bytes = LAMBDA_EVENT_MAX + 1,
                                    .max_idle_handles = 2};
    struct runtime rt = {.http = http_client_new(&hc),
                         .base = xasprintf("http://%s/" LAMBDA_API_VERSION "/runtime", api),
                         .post_timeout_ms = cfg && cfg->post_timeout_ms > 0 ? cfg->post_timeout_ms
                                                                            : 10000};
    int rc = -1;
    char *next_url = xasprintf("%s/invocation/next", rt.base);

    const struct lambda_handler *h = lambda_handler_find(t->handlers, name);
    if (!h) {
        err_set(err, "HandlerNotFound", "no handler named '%s' (_HANDLER)", name ? name : "");
        struct err perr;
        post_error(&rt, "/init/error", "Runtime.HandlerNotFound", err->message, &perr);
        goto out;
    }
    if (t->init && t->init(t->ud, h->name, err) < 0) {
        log_at(LL_ERROR, "lambda", "init of %s failed: %s: %s", h->name, err->code, err->message);
        char type[ERR_CODE_MAX + 16];
        snprintf(type, sizeof type, "Runtime.%s", err->code[0] ? err->code : "InitError");
        struct err perr;
        post_error(&rt, "/init/error", type, err->message, &perr);
        goto out;
    }
    for (long n = 0; max <= 0 || n < max; n++) {
        struct http_client_request req = {.method = "GET", .url = next_url, .max_retries = 0};
        struct http_client_response resp = {0};
        if (http_client_do(rt.http, &req, &resp, err) < 0) {
            char msg[ERR_MSG_MAX];
            snprintf(msg, sizeof msg, "%s", err->message);
            err_set(err, "RuntimeApiError", "next invocation failed: %s", msg);
            http_client_response_release(&resp);
            goto out;
        }
        if (resp.status != 200) {
            err_set(err, "RuntimeApiError", "next invocation answered %ld: %.200s", resp.status,
                    resp.body ? resp.body : "");
            http_client_response_release(&resp);
            goto out;
        }
        int irc = invoke(&rt, t, h, &resp, err);
        http_client_response_release(&resp);
        if (irc < 0)
            goto out;
    }
    rc = 0;
out:
    free(next_url);
    free(rt.base);
    http_client_free(rt.http);
    return rc;
}
