/*
 * test_sigv4_aws.c - src/aws: configuration from the standard AWS variables, endpoint
 * resolution, and aws_call() against the fake server: the signed request as sent, retries on
 * throttling, AWS error codes from JSON and XML bodies.
 */
#include <stdlib.h>
#include <string.h>

#include "aws/aws.h"
#include "base/xmalloc.h"
#include "check.h"
#include "fakes/fake_http.h"
#include "http/sigv4.h"

static const char *const vars[] = {"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID",
                                   "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                                   "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
                                   "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SQS"};

static void clear_env(void)
{
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        unsetenv(vars[i]);
}

static void test_env_and_endpoints(void)
{
    struct aws_config c;
    struct err e = {0};
    clear_env();
    CHECK_INT(aws_config_from_env(&c, &e), -1);
    CHECK_STR(e.code, "AwsConfig");
    aws_config_release(&c);

    setenv("AWS_DEFAULT_REGION", "eu-west-1", 1);
    setenv("AWS_ACCESS_KEY_ID", "AKID", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "SECRET", 1);
    setenv("AWS_SESSION_TOKEN", "TOKEN", 1);
    CHECK_INT(aws_config_from_env(&c, &e), 0);
    CHECK_STR(c.region, "eu-west-1");
    CHECK_STR(c.session_token, "TOKEN");
    char *ep = aws_endpoint(&c, "bedrock-runtime", &e);
    CHECK_STR(ep, "https://bedrock-runtime.eu-west-1.amazonaws.com");
    free(ep);
    ep = aws_endpoint(&c, "events", &e);
    CHECK_STR(ep, "https://events.eu-west-1.amazonaws.com");
    free(ep);
    aws_config_release(&c);

    setenv("AWS_REGION", "cn-north-1", 1); /* AWS_REGION wins over AWS_DEFAULT_REGION */
    CHECK_INT(aws_config_from_env(&c, &e), 0);
    CHECK_STR(c.region, "cn-north-1");
    ep = aws_endpoint(&c, "states", &e);
    CHECK_STR(ep, "https://states.cn-north-1.amazonaws.com.cn");
    free(ep);
    aws_config_release(&c);

    setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566/", 1);
    setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000", 1);
    CHECK_INT(aws_config_from_env(&c, &e), 0);
    ep = aws_endpoint(&c, "dynamodb", &e);
    CHECK_STR(ep, "http://127.0.0.1:8000");
    free(ep);
    ep = aws_endpoint(&c, "sqs", &e);
    CHECK_STR(ep, "http://127.0.0.1:4566");
    free(ep);
    CHECK(aws_endpoint(&c, "nope", &e) == NULL);
    aws_config_release(&c);
    clear_env();
}

static time_t fixed_clock(void)
{
    return 1440938160; /* 2015-08-30T12:36:00Z */
}

static void test_call_signed_and_errors(void)
{
    struct fake_http f;
    CHECK_INT(fake_http_start(&f), 0);
    clear_env();
    struct aws_config cfg = {.region = "us-east-1",
                             .access_key_id = "AKIDEXAMPLE",
                             .secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                             .session_token = "TOKEN",
                             .endpoint_url = f.base_url,
                             .clock = fixed_clock};
    struct http_client_config hc = {.backoff_base_ms = 2, .backoff_max_ms = 10, .max_retries = 3};
    struct aws_client *c = aws_client_new(&cfg, &hc);
    fake_http_push(&f, 400, "Content-Type: application/x-amz-json-1.0\n",
                   "{\"__type\":\"com.amazonaws.dynamodb.v20120810#"
                   "ProvisionedThroughputExceededException\",\"message\":\"slow\"}",
                   (size_t)-1, 0);
    fake_http_push(&f, 200, NULL, "{\"Item\":{}}", (size_t)-1, 0);
    const char *hdrs[] = {"Content-Type: application/x-amz-json-1.0",
                          "X-Amz-Target: DynamoDB_20120810.GetItem"};
    const char *body = "{\"TableName\":\"Conversations\"}";
    struct aws_request r = {.service = "dynamodb",
                            .method = "POST",
                            .path = "/",
                            .headers = hdrs,
                            .n_headers = 2,
                            .body = body,
                            .body_len = strlen(body),
                            .max_retries = -1};
    struct aws_response out;
    struct err e = {0};
    CHECK_INT(aws_call(c, &r, &out, &e), 0);
    CHECK_INT(out.status, 200);
    CHECK_INT(out.http.attempts, 2); /* the throttling 400 was retried */
    CHECK_STR(out.http.body, "{\"Item\":{}}");
    aws_response_release(&out);

    /* The request as sent carries the signature of exactly what was sent. */
    const struct fake_request *got = fake_http_request(&f, 1);
    CHECK(got != NULL);
    if (got) {
        char host[64];
        snprintf(host, sizeof host, "127.0.0.1:%u", (unsigned)f.port);
        CHECK_STR(fake_header(got, "host"), host);
        CHECK_STR(fake_header(got, "x-amz-date"), "20150830T123600Z");
        CHECK_STR(fake_header(got, "x-amz-security-token"), "TOKEN");
        struct sigv4_header sh[] = {{"Content-Type", fake_header(got, "content-type")},
                                    {"X-Amz-Target", fake_header(got, "x-amz-target")}};
        struct sigv4_request sr = {.method = got->method,
                                   .host = host,
                                   .path = got->target,
                                   .headers = sh,
                                   .n_headers = 2,
                                   .body = got->body,
                                   .body_len = got->body_len};
        struct sigv4_credentials cr = {cfg.access_key_id, cfg.secret_access_key, "TOKEN"};
        struct sigv4_options o;
        sigv4_options_for_service(&o, "us-east-1", "dynamodb", fixed_clock());
        struct sigv4_signed s;
        CHECK_INT(sigv4_sign(&sr, &cr, &o, &s, NULL), 0);
        CHECK_STR(fake_header(got, "authorization"), s.authorization);
        CHECK(strstr(s.authorization, "/20150830/us-east-1/dynamodb/aws4_request") != NULL);
        sigv4_signed_release(&s);
    }

    /* A non-retryable JSON error surfaces with its code. */
    fake_http_push(&f, 400, "x-amzn-ErrorType: ResourceNotFoundException:http://internal/\n",
                   "{\"message\":\"Requested resource not found\"}", (size_t)-1, 0);
    CHECK_INT(aws_call(c, &r, &out, &e), -1);
    CHECK_STR(e.code, "ResourceNotFoundException");
    CHECK(strstr(e.message, "Requested resource not found") != NULL);
    CHECK_INT(out.http.attempts, 1);
    aws_response_release(&out);

    /* An S3-style XML error. */
    fake_http_push(&f, 404, "Content-Type: application/xml\n",
                   "<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code>"
                   "<Message>The specified key does not exist.</Message></Error>",
                   (size_t)-1, 0);
    struct aws_request g = {.service = "s3", .method = "GET", .path = "/b/k%20x.json",
                            .max_retries = -1};
    CHECK_INT(aws_call(c, &g, &out, &e), -1);
    CHECK_STR(e.code, "NoSuchKey");
    CHECK_STR(out.error_message, "The specified key does not exist.");
    aws_response_release(&out);
    got = fake_http_request(&f, 3);
    CHECK(got != NULL);
    if (got) {
        CHECK_STR(got->target, "/b/k%20x.json");
        CHECK(fake_header(got, "x-amz-content-sha256") != NULL);
    }

    /* 5xx is retried, then reported with the status. */
    for (int i = 0; i < 4; i++)
        fake_http_push(&f, 503, NULL, "", 0, 0);
    CHECK_INT(aws_call(c, &r, &out, &e), -1);
    CHECK_STR(e.code, "HttpStatus503");
    CHECK_INT(out.http.attempts, 4);
    aws_response_release(&out);

    /* Missing credentials. */
    struct aws_config nocred = {.region = "us-east-1", .endpoint_url = f.base_url};
    struct aws_client *c2 = aws_client_new(&nocred, NULL);
    CHECK_INT(aws_call(c2, &r, &out, &e), -1);
    CHECK_STR(e.code, "AwsConfig");
    aws_response_release(&out);
    aws_client_free(c2);
    aws_client_free(c);
    fake_http_stop(&f);
}

int main(void)
{
    xmalloc_init();
    RUN(test_env_and_endpoints);
    RUN(test_call_signed_and_errors);
    return check_summary();
}
