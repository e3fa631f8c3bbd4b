/*
 * aws.h - AWS configuration and signed calls, shared by every AWS adapter (Bedrock, DynamoDB,
 * SQS, S3, EventBridge, Step Functions).
 *
 * aws_config_from_env() reads region, credentials and endpoints the way the AWS SDKs do:
 * AWS_REGION then AWS_DEFAULT_REGION; AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
 * AWS_SESSION_TOKEN; AWS_ENDPOINT_URL_<SERVICE> before AWS_ENDPOINT_URL. Without an override the
 * endpoint is computed as https://<prefix>.<region>.amazonaws.com (".com.cn" in China regions).
 * aws_call() signs a request with SigV4, sends it through the pooled HTTP client, retries
 * throttling and 5xx with jittered backoff, and turns an AWS error body (JSON "__type" or XML
 * <Code>) into the err code.
 */
#ifndef PARLEY_AWS_H
#define PARLEY_AWS_H

#include <stddef.h>
#include <time.h>

#include "base/err.h"
#include "http/client.h"

/* ---- Configuration -------------------------------------------------------------------------- */

struct aws_config {
    char *region;            /* "us-east-1" */
    char *access_key_id;     /* required to sign */
    char *secret_access_key; /* required to sign */
    char *session_token;     /* NULL unless temporary credentials */
    char *endpoint_url;      /* AWS_ENDPOINT_URL, the override for every service, or NULL */
    time_t (*clock)(void);   /* signing clock; NULL = time() (tests fix it) */
};

/* A service Parley talks to. */
struct aws_service {
    const char *key;          /* our name and the endpoint prefix: "bedrock-runtime" */
    const char *signing_name; /* SigV4 service name: "bedrock" */
    const char *env_suffix;   /* AWS_ENDPOINT_URL_<suffix>: "BEDROCK_RUNTIME" */
};

/* Returns the table row for key ("bedrock-runtime", "dynamodb", "sqs", "s3", "events",
 * "states", "logs", "monitoring", "xray", "sts", "lambda"), or NULL. */
const struct aws_service *aws_service_find(const char *key);

/* Fills c from the environment. Returns 0, or -1 with err "AwsConfig" when no region is set
 * (credentials may be missing here: aws_call reports that when it needs them). Release with
 * aws_config_release. */
int aws_config_from_env(struct aws_config *c, struct err *err);

/* Deep-copies src into dst. Release dst with aws_config_release. */
void aws_config_copy(struct aws_config *dst, const struct aws_config *src);

/* Frees the strings of c and zeroes it. */
void aws_config_release(struct aws_config *c);

/* Returns the endpoint base URL (no trailing slash) for service key: the service-specific
 * AWS_ENDPOINT_URL_<SERVICE> variable, then c->endpoint_url, then the computed default.
 * Returns a new string, or NULL with err for an unknown service. */
char *aws_endpoint(const struct aws_config *c, const char *service_key, struct err *err);

/* ---- Calls ---------------------------------------------------------------------------------- */

struct aws_client;

/* Returns a new client over a copy of cfg (http NULL = defaults); never NULL. */
struct aws_client *aws_client_new(const struct aws_config *cfg,
                                  const struct http_client_config *http);

/* Frees the client; NULL is a no-op. */
void aws_client_free(struct aws_client *c);

/* Returns the client's configuration (borrowed). */
const struct aws_config *aws_client_config(const struct aws_client *c);

struct aws_request {
    const char *service;         /* table key, e.g. "dynamodb" */
    const char *method;          /* "POST" */
    const char *path;            /* wire path, percent-encoded; NULL = "/" */
    const char *query;           /* raw query without '?', or NULL */
    const char *const *headers;  /* "Name: value" lines, signed and sent */
    size_t n_headers;            /* number of header lines */
    const void *body;            /* body or NULL */
    size_t body_len;             /* body length */
    long timeout_ms;             /* 0 = the HTTP client's */
    int max_retries;             /* -1 = the HTTP client's */
    http_client_data_fn on_data; /* stream a 2xx body here; may be NULL */
    void *ud;                    /* for on_data */
};

struct aws_response {
    long status;                      /* HTTP status */
    struct http_client_response http; /* headers and body of the last attempt */
    char error_code[96];              /* AWS error code, "" on success */
    char *error_message;              /* AWS error message or NULL, owned */
};

/* Performs r. Returns 0 on a 2xx status. Otherwise returns -1 with err: the AWS error code
 * ("ThrottlingException", "ResourceNotFoundException", ...) and its message when the service
 * answered, or "HttpTimeout"/"HttpConnect"/... when it did not, or "AwsConfig" when credentials
 * are missing. out is filled in every case; release it with aws_response_release. */
int aws_call(struct aws_client *c, const struct aws_request *r, struct aws_response *out,
             struct err *err);

/* Frees what out owns and zeroes it. */
void aws_response_release(struct aws_response *out);

/* Parses an AWS error from a response: x-amzn-ErrorType header, JSON "__type"/"code" and
 * "message"/"Message", or XML <Code>/<Message>. Fills code (always, "HttpStatus<N>" as a last
 * resort) and *message (new string or NULL). */
void aws_parse_error(const struct http_client_response *resp, char code[96], char **message);

/* Returns 1 when code names a throttling error (ThrottlingException, TooManyRequestsException,
 * ProvisionedThroughputExceededException, RequestLimitExceeded, SlowDown, ...). */
int aws_error_is_throttling(const char *code);

#endif
