/*
 * test_aws_seed.c - the seed's sample conversation ("I can't log into my account", then the
 * e-mail address, then a ticket) through the Lambda functions, each invocation served by the
 * bootstrap's Runtime API loop (lambda_parley_main) from a scripted Runtime API, with the store on
 * DynamoDB (dynalite) and transcripts on S3 (s3rver). The test plays Step Functions: it follows
 * statemachine/agent.asl.json's Choice states between the Task invocations.
 *
 * Runs only when tests/scripts/test_aws_seed.sh has started the emulators and set
 * PARLEY_TEST_DYNAMODB and PARLEY_TEST_S3; otherwise it reports a skip as passing nothing.
 */
#include <stdlib.h>
#include <unistd.h>

#include "archive/archive_s3.h"
#include "base/clock.h"
#include "base/xmalloc.h"
#include "check.h"
#include "fakes/fake_http.h"
#include "runtime/lambda_handlers.h"
#include "store/store_dynamo.h"

static int invocations;

/* Serves one invocation of handler with event (borrowed) through a fresh Runtime API; returns
 * the posted result (new ref) or NULL when the handler reported an error. */
static json_t *invoke(const char *handler, const json_t *event)
{
    struct fake_http api;
    if (fake_http_start(&api) < 0)
        return NULL;
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", (unsigned)api.port);
    setenv("AWS_LAMBDA_RUNTIME_API", addr, 1);
    char *h = xasprintf("Lambda-Runtime-Aws-Request-Id: seed-%d\nLambda-Runtime-Deadline-Ms: "
                        "%lld\n",
                        ++invocations, (long long)clock_now_ms() + 30000);
    char *body = json_dumps(event, JSON_COMPACT);
    fake_http_push(&api, 200, h, body, (size_t)-1, 0);
    fake_http_push(&api, 202, NULL, "{}", (size_t)-1, 0);
    free(h);
    free(body);
    char *argv[] = {"bootstrap", "--handler", (char *)handler, "--once", NULL};
    int rc = lambda_parley_main(4, argv);
    const struct fake_request *r = fake_http_request(&api, 1);
    json_t *out = NULL;
    if (rc == 0 && r && strstr(r->target, "/response"))
        out = json_loads(r->body, 0, NULL);
    else if (r)
        fprintf(stderr, "%s failed: %s\n", handler, r->body);
    fake_http_stop(&api);
    return out;
}

/* Runs one turn the way the state machine does; returns SaveConversation's output. */
static json_t *turn(json_t *state /* stolen */)
{
    json_t *s = invoke("LoadContext", state);
    json_decref(state);
    if (!s)
        return NULL;
    const char *status = json_string_value(json_object_get(s, "status"));
    int handoff = status && strcmp(status, "handoff") == 0; /* CheckHandoff */
    for (int guard = 0; guard < 10 && !handoff; guard++) {
        json_t *next = invoke("BedrockInference", s);
        json_decref(s);
        if (!(s = next))
            return NULL;
        if (!json_is_true(json_object_get(s, "requiresAction")))
            break;
        next = invoke("ActionExecutor", s);
        json_decref(s);
        if (!(s = next))
            return NULL;
        if (json_integer_value(json_object_get(s, "iterations")) >=
            json_integer_value(json_object_get(s, "maxIterations")))
            break;
    }
    json_t *out = invoke("SaveConversation", s);
    json_decref(s);
    return out;
}

static void test_seed_conversation(void)
{
    const char *sid = "seedSession_0001";
    json_t *first = json_pack("{s:s, s:s, s:s, s:b, s:s, s:{}, s:i}", "sessionId", sid, "userId",
                              "jane", "message", "I can't log into my account", "isNew", 1,
                              "status", "active", "context", "turns", 0);
    json_t *r1 = turn(first);
    CHECK(r1 != NULL);
    CHECK_INT(json_integer_value(json_object_get(r1, "turn")), 1);
    const char *reply1 = json_string_value(json_object_get(r1, "reply"));
    CHECK(reply1 && strstr(reply1, "email") != NULL);
    json_decref(r1);

    json_t *second = json_pack("{s:s, s:s, s:s, s:b, s:s, s:{}, s:i}", "sessionId", sid, "userId",
                               "jane", "message", "It's jane.doe@example.com", "isNew", 0,
                               "status", "active", "context", "turns", 1);
    json_t *r2 = turn(second);
    CHECK(r2 != NULL);
    CHECK_INT(json_integer_value(json_object_get(r2, "turn")), 2);
    const char *reply2 = json_string_value(json_object_get(r2, "reply"));
    CHECK(reply2 && strstr(reply2, "TKT-") != NULL);
    json_t *action = json_array_get(json_object_get(r2, "actions"), 0);
    CHECK_STR(json_string_value(json_object_get(action, "tool")), "create_support_ticket");
    CHECK_STR(json_string_value(json_object_get(action, "status")), "succeeded");
    const char *ticket = json_string_value(
        json_object_get(json_object_get(action, "result"), "ticketId"));

    /* The effects are in DynamoDB and S3, read back with fresh adapters. */
    struct err e;
    struct store *st = store_dynamo_from_env(&e);
    CHECK(st != NULL);
    json_t *t = NULL;
    CHECK(st && ticket && store_ticket_get(st, ticket, &t, &e) == 0);
    CHECK_STR(json_string_value(json_object_get(t, "email")), "jane.doe@example.com");
    json_decref(t);
    json_t *sess = NULL;
    CHECK(st && store_session_get(st, sid, &sess, &e) == 0);
    CHECK_INT(json_integer_value(json_object_get(sess, "turns")), 2);
    json_t *created = json_object_get(sess, "createdAt");
    char key[ARCHIVE_KEY_MAX + 1];
    CHECK(archive_key_for(sid, json_integer_value(created), key, sizeof key, &e) == 0);
    json_decref(sess);
    store_free(st);
    struct archive *ar = archive_s3_from_env(&e);
    CHECK(ar != NULL);
    char *doc = NULL;
    size_t len = 0;
    CHECK(ar && archive_get(ar, key, &doc, &len, &e) == 0);
    if (!doc) {
        json_t *all = NULL;
        if (ar && archive_list(ar, "", NULL, 100, &all, &e) == 0) {
            char *dump = json_dumps(all, 0);
            fprintf(stderr, "wanted %s; the bucket holds %s\n", key, dump);
            free(dump);
        }
        json_decref(all);
    }
    json_t *archived = doc ? json_loads(doc, 0, NULL) : NULL;
    CHECK_STR(json_string_value(json_object_get(archived, "sessionId")), sid);
    CHECK(json_array_size(json_object_get(archived, "messages")) >= 4);
    /* PII is redacted in the archive by default. */
    CHECK(doc && strstr(doc, "jane.doe@example.com") == NULL);
    json_decref(archived);
    free(doc);
    archive_free(ar);
    json_decref(r2);
}

int main(void)
{
    xmalloc_init();
    const char *ddb = getenv("PARLEY_TEST_DYNAMODB");
    const char *s3 = getenv("PARLEY_TEST_S3");
    if (!ddb || !*ddb || !s3 || !*s3) {
        printf("# emulators not running (tests/scripts/test_aws_seed.sh starts them)\n");
        return check_summary();
    }
    char dir[] = "/tmp/parley-seed-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    setenv("AWS_ENDPOINT_URL_DYNAMODB", ddb, 1);
    setenv("AWS_ENDPOINT_URL_S3", s3, 1);
    setenv("AWS_REGION", "us-east-1", 1);
    setenv("AWS_ACCESS_KEY_ID", "S3RVER", 1); /* s3rver's key; dynalite takes any */
    setenv("AWS_SECRET_ACCESS_KEY", "S3RVER", 1);
    setenv("PARLEY_STORE", "dynamodb", 1);
    setenv("PARLEY_DYNAMO_CREATE", "1", 1);
    setenv("PARLEY_ARCHIVE_BUCKET", "conversation-logs-000000000000", 1);
    setenv("PARLEY_MODEL", "offline", 1);
    setenv("PARLEY_DATA", dir, 1);
    setenv("PARLEY_LOG_LEVEL", "warn", 1);
    unsetenv("PARLEY_QUEUE_PREFIX");
    unsetenv("PARLEY_EVENT_BUS");
    RUN(test_seed_conversation);
    char *cmd = xasprintf("rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    free(cmd);
    return check_summary();
}
