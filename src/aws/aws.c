/*
 * aws.c - AWS configuration from the environment, endpoint resolution and signed calls with
 * retries and error-code parsing (see aws.h).
 */
#include "aws/aws.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "base/config.h"
#include "base/xmalloc.h"
#include "http/sigv4.h"

/* ---- Services ------------------------------------------------------------------------------- */

static const struct aws_service services[] = {
    {"bedrock-runtime", "bedrock", "BEDROCK_RUNTIME"},
    {"dynamodb", "dynamodb", "DYNAMODB"},
    {"sqs", "sqs", "SQS"},
    {"s3", "s3", "S3"},
    {"events", "events", "EVENTBRIDGE"},
    {"states", "states", "SFN"},
    {"logs", "logs", "CLOUDWATCH_LOGS"},
    {"monitoring", "monitoring", "CLOUDWATCH"},
    {"xray", "xray", "XRAY"},
    {"sts", "sts", "STS"},
    {"lambda", "lambda", "LAMBDA"}, /* custom agent tools (agent/tool_lambda.c) */
};

const struct aws_service *aws_service_find(const char *key)
{
    for (size_t i = 0; key && i < sizeof services / sizeof services[0]; i++)
        if (strcmp(services[i].key, key) == 0)
            return &services[i];
    return NULL;
}

/* ---- Configuration -------------------------------------------------------------------------- */

static char *env_dup(const char *name)
{
    const char *v = config_env(name);
    return v ? xstrdup(v) : NULL;
}

int aws_config_from_env(struct aws_config *c, struct err *err)
{
    memset(c, 0, sizeof *c);
    c->region = env_dup("AWS_REGION");
    if (!c->region)
        c->region = env_dup("AWS_DEFAULT_REGION");
    c->access_key_id = env_dup("AWS_ACCESS_KEY_ID");
    c->secret_access_key = env_dup("AWS_SECRET_ACCESS_KEY");
    c->session_token = env_dup("AWS_SESSION_TOKEN");
    c->endpoint_url = env_dup("AWS_ENDPOINT_URL");
    if (!c->region)
        return err_set(err, "AwsConfig", "no AWS region: set AWS_REGION or AWS_DEFAULT_REGION");
    return 0;
}

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

void aws_config_copy(struct aws_config *dst, const struct aws_config *src)
{
    memset(dst, 0, sizeof *dst);
    dst->region = dup_or_null(src->region);
    dst->access_key_id = dup_or_null(src->access_key_id);
    dst->secret_access_key = dup_or_null(src->secret_access_key);
    dst->session_token = dup_or_null(src->session_token);
    dst->endpoint_url = dup_or_null(src->endpoint_url);
    dst->clock = src->clock;
}

void aws_config_release(struct aws_config *c)
{
    if (!c)
        return;
    free(c->region);
    free(c->access_key_id);
    free(c->secret_access_key);
    free(c->session_token);
    free(c->endpoint_url);
    memset(c, 0, sizeof *c);
}

static char *strip_slash(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == '/')
        s[--n] = '\0';
    return s;
}

char *aws_endpoint(const struct aws_config *c, const char *service_key, struct err *err)
{
    const struct aws_service *s = aws_service_find(service_key);
    if (!s) {
        err_set(err, "AwsConfig", "unknown AWS service '%s'", service_key ? service_key : "");
        return NULL;
    }
    char name[96];
    snprintf(name, sizeof name, "AWS_ENDPOINT_URL_%s", s->env_suffix);
    const char *v = config_env(name);
    if (v)
        return strip_slash(xstrdup(v));
    if (c->endpoint_url && *c->endpoint_url)
        return strip_slash(xstrdup(c->endpoint_url));
    const char *region = c->region && *c->region ? c->region : "us-east-1";
    const char *suffix = strncmp(region, "cn-", 3) == 0 ? "amazonaws.com.cn" : "amazonaws.com";
    return xasprintf("https://%s.%s.%s", s->key, region, suffix);
}

/* ---- Errors --------------------------------------------------------------------------------- */

static void set_code(char code[96], const char *s, size_t n)
{
    /* "com.amazonaws.x#Code", "Code:http://...": keep the bare code. */
    const char *hash = memchr(s, '#', n);
    if (hash) {
        n -= (size_t)(hash + 1 - s);
        s = hash + 1;
    }
    const char *colon = memchr(s, ':', n);
    if (colon)
        n = (size_t)(colon - s);
    if (n > 95)
        n = 95;
    memcpy(code, s, n);
    code[n] = '\0';
}

static char *xml_element(const char *body, const char *tag)
{
    char open[64], close[64];
    snprintf(open, sizeof open, "<%s>", tag);
    snprintf(close, sizeof close, "</%s>", tag);
    const char *a = strstr(body, open);
    if (!a)
        return NULL;
    a += strlen(open);
    const char *b = strstr(a, close);
    return b ? xstrndup(a, (size_t)(b - a)) : NULL;
}

void aws_parse_error(const struct http_client_response *resp, char code[96], char **message)
{
    code[0] = '\0';
    *message = NULL;
    const char *t = http_client_header(resp, "x-amzn-ErrorType");
    if (t && *t)
        set_code(code, t, strlen(t));
    if (resp->body && resp->body_len > 0) {
        json_t *j = json_loadb(resp->body, resp->body_len, 0, NULL);
        if (json_is_object(j)) {
            const char *ty = json_string_value(json_object_get(j, "__type"));
            if (!ty)
                ty = json_string_value(json_object_get(j, "code"));
            if (ty && !code[0])
                set_code(code, ty, strlen(ty));
            const char *m = json_string_value(json_object_get(j, "message"));
            if (!m)
                m = json_string_value(json_object_get(j, "Message"));
            if (m)
                *message = xstrdup(m);
        } else if (!j) {
            char *c = xml_element(resp->body, "Code");
            if (c && !code[0])
                set_code(code, c, strlen(c));
            free(c);
            *message = xml_element(resp->body, "Message");
        }
        json_decref(j);
    }
    if (!code[0])
        snprintf(code, 96, "HttpStatus%ld", resp->status);
}

int aws_error_is_throttling(const char *code)
{
    static const char *const names[] = {"ThrottlingException",
                                        "Throttling",
                                        "ThrottledException",
                                        "RequestThrottledException",
                                        "TooManyRequestsException",
                                        "ProvisionedThroughputExceededException",
                                        "TransactionInProgressException",
                                        "RequestLimitExceeded",
                                        "BandwidthLimitExceeded",
                                        "LimitExceededException",
                                        "RequestThrottled",
                                        "SlowDown",
                                        "PriorRequestNotComplete",
                                        "EC2ThrottledException",
                                        "ServiceUnavailable",
                                        "ServiceUnavailableException",
                                        "InternalServerException",
                                        "ModelNotReadyException"};
    for (size_t i = 0; code && i < sizeof names / sizeof names[0]; i++)
        if (strcmp(code, names[i]) == 0)
            return 1;
    return 0;
}

/* ---- Calls ---------------------------------------------------------------------------------- */

struct aws_client {
    struct aws_config cfg;    /* owned copy */
    struct http_client *http; /* pooled connections */
};

struct aws_client *aws_client_new(const struct aws_config *cfg,
                                  const struct http_client_config *http)
{
    struct aws_client *c = xcalloc(1, sizeof *c);
    aws_config_copy(&c->cfg, cfg);
    c->http = http_client_new(http);
    return c;
}

void aws_client_free(struct aws_client *c)
{
    if (!c)
        return;
    http_client_free(c->http);
    aws_config_release(&c->cfg);
    free(c);
}

const struct aws_config *aws_client_config(const struct aws_client *c)
{
    return &c->cfg;
}

void aws_response_release(struct aws_response *out)
{
    if (!out)
        return;
    http_client_response_release(&out->http);
    free(out->error_message);
    memset(out, 0, sizeof *out);
}

static int aws_retry_if(void *ud, const struct http_client_response *resp)
{
    (void)ud;
    if (http_client_retryable_status(resp->status))
        return 1;
    if (resp->status >= 400 && resp->status < 500) {
        char code[96];
        char *msg;
        aws_parse_error(resp, code, &msg);
        free(msg);
        return aws_error_is_throttling(code);
    }
    return 0;
}

/* Splits "scheme://host[:port][/base]" into host and base path. Returns 0 or -1. */
static int split_url(const char *url, char **host, char **base)
{
    const char *p = strstr(url, "://");
    if (!p)
        return -1;
    p += 3;
    const char *slash = strchr(p, '/');
    *host = slash ? xstrndup(p, (size_t)(slash - p)) : xstrdup(p);
    *base = slash ? strip_slash(xstrdup(slash)) : xstrdup("");
    return **host ? 0 : -1;
}

int aws_call(struct aws_client *c, const struct aws_request *r, struct aws_response *out,
             struct err *err)
{
    int rc = -1;
    char *endpoint = NULL, *host = NULL, *base = NULL, *path = NULL, *url = NULL;
    struct sigv4_header *sh = NULL;
    char **lines = NULL;
    size_t n_lines = 0;
    struct sigv4_signed s = {0};

    memset(out, 0, sizeof *out);
    const struct aws_service *svc = aws_service_find(r->service);
    if (!svc) {
        err_set(err, "AwsConfig", "unknown AWS service '%s'", r->service ? r->service : "");
        goto out;
    }
    if (!c->cfg.access_key_id || !c->cfg.secret_access_key) {
        err_set(err, "AwsConfig",
                "no AWS credentials: set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY");
        goto out;
    }
    endpoint = aws_endpoint(&c->cfg, r->service, err);
    if (!endpoint)
        goto out;
    if (split_url(endpoint, &host, &base) != 0) {
        err_set(err, "AwsConfig", "bad endpoint URL '%s'", endpoint);
        goto out;
    }
    path = xasprintf("%s%s", base, r->path && *r->path ? r->path : "/");

    /* Sign the caller's headers (split "Name: value"). */
    sh = xcalloc(r->n_headers + 1, sizeof *sh);
    char **names = xcalloc(r->n_headers + 1, sizeof *names);
    size_t nsh = 0;
    for (size_t i = 0; i < r->n_headers; i++) {
        const char *colon = strchr(r->headers[i], ':');
        if (!colon)
            continue;
        names[nsh] = xstrndup(r->headers[i], (size_t)(colon - r->headers[i]));
        const char *v = colon + 1;
        while (*v == ' ')
            v++;
        sh[nsh] = (struct sigv4_header){names[nsh], v};
        nsh++;
    }
    struct sigv4_request sreq = {.method = r->method ? r->method : "POST",
                                 .host = host,
                                 .path = path,
                                 .query = r->query,
                                 .headers = sh,
                                 .n_headers = nsh,
                                 .body = r->body,
                                 .body_len = r->body_len};
    struct sigv4_credentials cred = {c->cfg.access_key_id, c->cfg.secret_access_key,
                                     c->cfg.session_token};
    struct sigv4_options o;
    sigv4_options_for_service(&o, c->cfg.region ? c->cfg.region : "us-east-1", svc->signing_name,
                              c->cfg.clock ? c->cfg.clock() : time(NULL));
    int signed_ok = sigv4_sign(&sreq, &cred, &o, &s, err);
    for (size_t i = 0; i < nsh; i++)
        free(names[i]);
    free(names);
    if (signed_ok != 0)
        goto out;

    lines = xcalloc(r->n_headers + s.n_add, sizeof *lines);
    for (size_t i = 0; i < r->n_headers; i++)
        lines[n_lines++] = xstrdup(r->headers[i]);
    for (size_t i = 0; i < s.n_add; i++)
        lines[n_lines++] = xasprintf("%s: %s", s.add[i].name, s.add[i].value);
    url = r->query && *r->query ? xasprintf("%s%s?%s", endpoint, r->path ? r->path : "/", r->query)
                                : xasprintf("%s%s", endpoint, r->path ? r->path : "/");
    struct http_client_request hreq = {.method = sreq.method,
                                       .url = url,
                                       .headers = (const char *const *)lines,
                                       .n_headers = n_lines,
                                       .body = r->body,
                                       .body_len = r->body_len,
                                       .timeout_ms = r->timeout_ms,
                                       .max_retries = r->max_retries,
                                       .on_data = r->on_data,
                                       .ud = r->ud,
                                       .retry_if = aws_retry_if};
    if (http_client_do(c->http, &hreq, &out->http, err) != 0) {
        out->status = out->http.status;
        goto out;
    }
    out->status = out->http.status;
    if (out->status >= 200 && out->status < 300) {
        rc = 0;
        goto out;
    }
    aws_parse_error(&out->http, out->error_code, &out->error_message);
    err_set(err, out->error_code, "%s %s returned %ld: %s", svc->key, sreq.method, out->status,
            out->error_message ? out->error_message : "no message");
out:
    sigv4_signed_release(&s);
    for (size_t i = 0; i < n_lines; i++)
        free(lines[i]);
    free(lines);
    free(sh);
    free(endpoint);
    free(host);
    free(base);
    free(path);
    free(url);
    return rc;
}
