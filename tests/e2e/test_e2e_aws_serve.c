/*
 * test_e2e_aws_serve.c - `parley serve` on the AWS adapters (scale-out without Lambda): the
 * seed's sample conversation with the store on DynamoDB, actions through SQS and transcripts in
 * S3, all on emulators (tests/scripts/test_aws_serve.sh starts them and sets PARLEY_TEST_*).
 * Two servers share the same services: a session started on one continues on the other.
 * Without the emulators it runs nothing.
 */
#include "check.h"
#include "e2e/e2e.h"

static char env_store[] = "PARLEY_STORE=dynamodb";
static char env_create[] = "PARLEY_DYNAMO_CREATE=1";
static char env_prefix[] = "PARLEY_QUEUE_PREFIX=serve-";
static char env_bucket[] = "PARLEY_ARCHIVE_BUCKET=conversation-logs-000000000000";
static char env_token[] = "PARLEY_OPERATOR_TOKEN=aws-token";
static char env_region[] = "AWS_REGION=us-east-1";
static char env_key[] = "AWS_ACCESS_KEY_ID=S3RVER"; /* s3rver's key; the others take any */
static char env_secret[] = "AWS_SECRET_ACCESS_KEY=S3RVER";

int main(void)
{
    const char *ddb = getenv("PARLEY_TEST_DYNAMODB"), *sqs = getenv("PARLEY_TEST_SQS"),
               *s3 = getenv("PARLEY_TEST_S3");
    if (!ddb || !sqs || !s3) {
        printf("# AWS emulators not configured (tests/scripts/test_aws_serve.sh runs this)\n");
        return check_summary();
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    char e_ddb[256], e_sqs[256], e_s3[256];
    snprintf(e_ddb, sizeof e_ddb, "AWS_ENDPOINT_URL_DYNAMODB=%s", ddb);
    snprintf(e_sqs, sizeof e_sqs, "AWS_ENDPOINT_URL_SQS=%s", sqs);
    snprintf(e_s3, sizeof e_s3, "AWS_ENDPOINT_URL_S3=%s", s3);
    const char *const env[] = {env_store, env_create, env_prefix, env_bucket, env_token,
                               env_region, env_key, env_secret, e_ddb, e_sqs, e_s3, NULL};
    char d1[64], d2[64];
    struct e2e_server a, b;
    if (e2e_tmpdir(d1, sizeof d1) || e2e_tmpdir(d2, sizeof d2) || e2e_start_env(&a, d1, env) ||
        e2e_start_env(&b, d2, env)) {
        check_record("two servers start on the AWS adapters", 0);
        return check_summary();
    }
    struct e2e_resp r = e2e_http(&a, "GET", "/health", NULL);
    check_record("health names the dynamodb store", strcmp(e2e_str(&r, "store"), "dynamodb") == 0);
    e2e_resp_free(&r);

    r = e2e_http(&a, "POST", "/chat", "{\"message\":\"I can't log into my account\"}");
    char sid[64];
    snprintf(sid, sizeof sid, "%s", e2e_str(&r, "sessionId"));
    check_record("turn 1 asks for the email", r.status == 200 && strcasestr(e2e_str(&r, "reply"), "email"));
    e2e_resp_free(&r);

    /* The second turn goes to the other server: same DynamoDB, same SQS. */
    char body[256];
    snprintf(body, sizeof body, "{\"sessionId\":\"%s\",\"message\":\"It's jane.doe@example.com\"}", sid);
    r = e2e_http(&b, "POST", "/chat", body);
    char ticket[32];
    snprintf(ticket, sizeof ticket, "%s", e2e_str(&r, "actions.0.result.ticketId"));
    check_record("turn 2 on the other server creates the ticket through SQS",
                 r.status == 200 && strcmp(e2e_str(&r, "actions.0.status"), "succeeded") == 0 &&
                     strncmp(ticket, "TKT-", 4) == 0 && strstr(e2e_str(&r, "reply"), ticket));
    check_record("turn numbers continue across servers",
                 json_integer_value(json_object_get(r.json, "turn")) == 2);
    e2e_resp_free(&r);

    char path[128];
    snprintf(path, sizeof path, "/tickets/%s?sessionId=%s", ticket, sid);
    r = e2e_http(&a, "GET", path, NULL);
    check_record("the ticket is in DynamoDB for both servers",
                 r.status == 200 && strcmp(e2e_str(&r, "email"), "jane.doe@example.com") == 0);
    e2e_resp_free(&r);
    snprintf(path, sizeof path, "/sessions/%s", sid);
    r = e2e_http(&a, "GET", path, NULL);
    check_record("the whole transcript is readable from the first server",
                 r.status == 200 && json_array_size(json_object_get(r.json, "messages")) >= 5);
    e2e_resp_free(&r);
    r = e2e_http_ex(&a, "GET", "/queue/stats", NULL, 0, NULL, "Authorization: Bearer aws-token");
    check_record("queue stats come from SQS", r.status == 200 &&
                     strcmp(e2e_str(&r, "queues.0.name"), "AgentActions") == 0);
    e2e_resp_free(&r);

    check_record("server A exits 0", e2e_stop(&a) == 0);
    check_record("server B exits 0 (archive flushed to S3)", e2e_stop(&b) == 0);
    /* The archived transcript: list the bucket through the S3 endpoint. */
    char cmd[512];
    snprintf(cmd, sizeof cmd, "curl -s '%s/conversation-logs-000000000000?list-type=2' "
             "-H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' | grep -c -e '%s.json' > %s/s3.txt",
             s3, sid, d1);
    int listed = system(cmd) == 0;
    char s3txt[128];
    snprintf(s3txt, sizeof s3txt, "%s/s3.txt", d1);
    FILE *f = fopen(s3txt, "r");
    int count = 0;
    if (f && fscanf(f, "%d", &count) != 1)
        count = 0;
    if (f)
        fclose(f);
    check_record("the transcript is archived in S3 under {yyyy}/{mm}/{dd}/{sessionId}.json",
                 listed && count >= 1);
    e2e_rmdir(d1);
    e2e_rmdir(d2);
    curl_global_cleanup();
    return check_summary();
}
