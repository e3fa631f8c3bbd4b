/*
 * test_store_dynamo.c - what the DynamoDB adapter does beyond the store contract: errors name the
 * failing DynamoDB operation, tables it creates get TTL on "expiresAt", and without
 * TransactWriteItems (plain dynalite) turns and tickets go through ordered conditional writes
 * that undo themselves on failure; a turn's counters ride in its transaction. Runs against
 * tests/aws/ddb-proxy.js (PARLEY_TEST_DYNAMODB; with PARLEY_TEST_DYNAMODB_PLAIN=1 it is started
 * with --plain), reading the operations it saw from
 * its /__calls hook and injecting failures with /__fail. Without the emulator it runs nothing.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/xmalloc.h"
#include "check.h"
#include "peer.h"
#include "store/store_dynamo.h"

static const char *endpoint;
static int plain;
static char prefix[32];

static json_t *hook(const char *path, int post)
{
    return peer_hook(endpoint, path, post);
}

/* Counts the calls of op seen by the proxy from index from on. */
static size_t count_calls(const json_t *calls, size_t from, const char *op)
{
    size_t n = 0;
    for (size_t i = from; i < json_array_size(calls); i++)
        n += strcmp(json_string_value(json_object_get(json_array_get(calls, i), "op")), op) == 0;
    return n;
}

static size_t calls_now(void)
{
    json_t *c = hook("/__calls", 0);
    size_t n = json_array_size(c);
    json_decref(c);
    return n;
}

static struct store *open_store(const char *conv, const char *ent, struct err *e)
{
    struct aws_config aws;
    if (aws_config_from_env(&aws, e) < 0)
        return NULL;
    struct store_dynamo_config cfg = {.aws = &aws,
                                      .conversations_table = conv,
                                      .entities_table = ent,
                                      .create_tables = 1,
                                      .ttl_days = 7};
    struct store *s = store_dynamo_new(&cfg, e);
    aws_config_release(&aws);
    return s;
}

static int save(struct store *s, const char *id, int is_new, int *turn_no, struct err *e)
{
    json_t *turn = json_pack("{s:s, s:s, s:b, s:[{s:s, s:s}, {s:s, s:s}]}", "sessionId", id,
                             "userId", "u-1", "isNew", is_new, "messages", "role", "user",
                             "content", "hi", "role", "assistant", "content", "hello");
    int rc = store_turn_save(s, turn, turn_no, e);
    json_decref(turn);
    return rc;
}

static struct store *st;
static char conv[64], ent[64];

/* Creating the tables turns TTL on for "expiresAt" on both (the proxy answers it; plain
 * dynalite answers UnknownOperationException and the store opens anyway). */
static void test_created_tables_get_ttl(void)
{
    json_t *calls = hook("/__calls", 0);
    int conv_ttl = 0, ent_ttl = 0;
    size_t i;
    json_t *c;
    json_array_foreach(calls, i, c) {
        if (strcmp(json_string_value(json_object_get(c, "op")), "UpdateTimeToLive") != 0)
            continue;
        const json_t *b = json_object_get(c, "body");
        const json_t *spec = json_object_get(b, "TimeToLiveSpecification");
        const char *t = json_string_value(json_object_get(b, "TableName"));
        int ok = json_is_true(json_object_get(spec, "Enabled")) &&
                 strcmp(json_string_value(json_object_get(spec, "AttributeName")), "expiresAt") ==
                     0;
        conv_ttl += ok && t && strcmp(t, conv) == 0;
        ent_ttl += ok && t && strcmp(t, ent) == 0;
    }
    json_decref(calls);
    CHECK_INT(conv_ttl, 1);
    CHECK_INT(ent_ttl, 1);

    /* Opening existing tables does not touch their TTL again. */
    struct err e;
    size_t before = calls_now();
    struct store *again = open_store(conv, ent, &e);
    CHECK(again != NULL);
    store_free(again);
    calls = hook("/__calls", 0);
    CHECK_INT(count_calls(calls, before, "UpdateTimeToLive"), 0);
    json_decref(calls);
}

/* A failure names the DynamoDB operation and the AWS error, also without a message. */
static void test_errors_name_the_operation(void)
{
    struct err e;
    char id[64];
    int turn = 0;
    snprintf(id, sizeof id, "%s-named", prefix);
    CHECK(save(st, id, 1, &turn, &e) == 0);
    json_decref(hook("/__fail?op=UpdateItem&type=UnknownOperationException", 1));
    CHECK(store_session_set_status(st, id, "closed", "test", &e) < 0);
    CHECK_STR(e.code, "StoreError");
    CHECK(strstr(e.message, "DynamoDB UpdateItem: UnknownOperationException") != NULL);
    CHECK(strstr(e.message, "no message") != NULL);
    json_decref(hook("/__fail?op=GetItem&type=ValidationException", 1));
    json_t *out = NULL;
    CHECK(store_session_get(st, id, &out, &e) < 0);
    CHECK(strstr(e.message, "DynamoDB GetItem: ValidationException") != NULL);
    json_decref(out);
}

/* Without TransactWriteItems: asked once, then ordered conditional writes for every turn and
 * ticket, with the same outcomes (turn numbers, conflicts, idempotent tickets). */
static void test_fallback_writes(void)
{
    struct err e;
    char id[64];
    int turn = 0;
    snprintf(id, sizeof id, "%s-fallback", prefix);
    size_t from = calls_now();
    CHECK(save(st, id, 1, &turn, &e) == 0);
    CHECK_INT(turn, 1);
    CHECK(save(st, id, 0, &turn, &e) == 0);
    CHECK_INT(turn, 2);
    CHECK(save(st, id, 1, &turn, &e) < 0);
    CHECK_STR(e.code, "Conflict");
    json_t *f = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "sessionId", id, "userId", "u-1",
                          "title", "t", "description", "d", "priority", "high", "email",
                          "a@example.com", "idempotencyKey", id);
    json_t *t1 = NULL, *t2 = NULL;
    CHECK(store_ticket_create(st, f, &t1, &e) == 0);
    CHECK(store_ticket_create(st, f, &t2, &e) == 0);
    CHECK_STR(json_string_value(json_object_get(t1, "id")),
              json_string_value(json_object_get(t2, "id")));
    json_decref(f);
    json_decref(t1);
    json_decref(t2);
    json_t *tr = NULL;
    CHECK(store_transcript(st, id, &tr, &e) == 0);
    CHECK_INT(json_array_size(tr), 4);
    json_decref(tr);
    json_t *calls = hook("/__calls", 0);
    /* The earlier tests' first turn already found out there is no TransactWriteItems. */
    CHECK_INT(count_calls(calls, from, "TransactWriteItems"), 0);
    CHECK(count_calls(calls, from, "PutItem") >= 4);
    json_decref(calls);
}

/* A write failing halfway undoes the ones before it: the header keeps its turn count. */
static void test_fallback_undoes_a_failed_turn(void)
{
    struct err e;
    char id[64];
    int turn = 0;
    snprintf(id, sizeof id, "%s-undo", prefix);
    CHECK(save(st, id, 1, &turn, &e) == 0);
    json_decref(hook("/__fail?op=PutItem&type=ValidationException", 1));
    CHECK(save(st, id, 0, &turn, &e) < 0);
    CHECK(strstr(e.message, "DynamoDB PutItem: ValidationException") != NULL);
    json_t *s = NULL;
    CHECK(store_session_get(st, id, &s, &e) == 0);
    CHECK_INT(json_integer_value(json_object_get(s, "turns")), 1);
    json_decref(s);
    json_t *tr = NULL;
    CHECK(store_transcript(st, id, &tr, &e) == 0);
    CHECK_INT(json_array_size(tr), 2);
    json_decref(tr);
    CHECK(save(st, id, 0, &turn, &e) == 0);
    CHECK_INT(turn, 2);
}

/* A turn's counters (the token budgets of its model calls) are Updates of the turn's own
 * TransactWriteItems, not calls of their own; without transactions they come after the turn's
 * writes, and a failed one undoes the turn, so a retry counts them once. */
static json_t *counted_turn(const char *id, int is_new, const char *group)
{
    return json_pack("{s:s, s:s, s:b, s:[{s:s, s:s}], s:[{s:s, s:s, s:i, s:i}, {s:s, s:s, s:i, "
                     "s:i}]}",
                     "sessionId", id, "userId", "u-1", "isNew", is_new, "messages", "role", "user",
                     "content", "hi", "counters", "group", group, "name", "server", "delta", 9,
                     "expiresAt", 0, "group", group, "name", id, "delta", 9, "expiresAt", 0);
}

static void test_turn_counters_ride_with_the_turn(void)
{
    struct err e;
    char id[64], group[80];
    int turn = 0;
    long long v = 0, counted[2] = {0, 0};
    snprintf(id, sizeof id, "%s-counted", prefix);
    snprintf(group, sizeof group, "%s-budget", prefix);
    size_t from = calls_now();
    json_t *t = counted_turn(id, 1, group);
    if (plain) /* the first counter add fails: the turn's writes before it are undone */
        json_decref(hook("/__fail?op=UpdateItem&type=ValidationException", 1));
    int rc = store_turn_save_counted(st, t, &turn, counted, &e);
    if (plain) {
        CHECK_INT(rc, -1);
        json_t *hdr = NULL;
        CHECK(store_session_get(st, id, &hdr, &e) < 0);
        CHECK_STR(e.code, "NotFound");
        json_decref(hdr);
        CHECK(store_counter_get(st, group, "server", &v, &e) == 0);
        CHECK_INT(v, 0);
        rc = store_turn_save_counted(st, t, &turn, counted, &e);
    }
    json_decref(t);
    CHECK_INT(rc, 0);
    CHECK_INT(turn, 1);
    CHECK_INT(counted[0], -1); /* a transaction answers no values */
    CHECK(store_counter_get(st, group, "server", &v, &e) == 0);
    CHECK_INT(v, 9);
    CHECK(store_counter_get(st, group, id, &v, &e) == 0);
    CHECK_INT(v, 9);
    json_t *calls = hook("/__calls", 0);
    if (!plain) {
        CHECK_INT(count_calls(calls, from, "TransactWriteItems"), 1);
        CHECK_INT(count_calls(calls, from, "UpdateItem"), 0);
        size_t i;
        json_t *c;
        json_array_foreach(calls, i, c) {
            if (i >= from &&
                strcmp(json_string_value(json_object_get(c, "op")), "TransactWriteItems") == 0)
                CHECK_INT(json_array_size(
                              json_object_get(json_object_get(c, "body"), "TransactItems")),
                          4);
        }
    } else {
        CHECK(count_calls(calls, from, "UpdateItem") >= 3); /* the failed one and two adds */
    }
    json_decref(calls);
}

int main(void)
{
    xmalloc_init();
    endpoint = getenv("PARLEY_TEST_DYNAMODB");
    if (!endpoint || !*endpoint) {
        printf("# DynamoDB emulator not configured (tests/scripts/test_aws_store.sh runs this)\n");
        return 0;
    }
    plain = getenv("PARLEY_TEST_DYNAMODB_PLAIN") && atoi(getenv("PARLEY_TEST_DYNAMODB_PLAIN"));
    curl_global_init(CURL_GLOBAL_DEFAULT);
    setenv("AWS_ENDPOINT_URL_DYNAMODB", endpoint, 1);
    setenv("AWS_REGION", "us-east-1", 0);
    setenv("AWS_ACCESS_KEY_ID", "test", 0);
    setenv("AWS_SECRET_ACCESS_KEY", "test", 0);
    snprintf(prefix, sizeof prefix, "d%ld%d", (long)time(NULL), (int)getpid());
    snprintf(conv, sizeof conv, "%s-conv", prefix);
    snprintf(ent, sizeof ent, "%s-ent", prefix);
    struct err e;
    st = open_store(conv, ent, &e);
    if (!st)
        fprintf(stderr, "dynamodb: %s: %s\n", e.code, e.message);
    check_require("dynamodb adapter opens (tables created)", st != NULL);
    if (st) {
        RUN(test_created_tables_get_ttl);
        RUN(test_errors_name_the_operation);
        RUN(test_turn_counters_ride_with_the_turn);
        if (plain) {
            RUN(test_fallback_writes);
            RUN(test_fallback_undoes_a_failed_turn);
        }
    }
    store_free(st);
    curl_global_cleanup();
    return check_summary();
}
