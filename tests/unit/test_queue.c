/*
 * test_queue.c - the queue port's SQS semantics on the embedded SQLite adapter: delivery,
 * visibility timeouts on a fake clock, receive counts, the dead-letter queue and redrive, limits,
 * two handles on one file, and concurrent consumers.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/xmalloc.h"
#include "check.h"
#include "queue/queue.h"

static char dir[64];
static int db_no;
static _Atomic int64_t fake_now = 1700000000000LL;

static int64_t fake_clock(void *ctx)
{
    (void)ctx;
    return atomic_load(&fake_now);
}

static void advance_s(int s)
{
    atomic_fetch_add(&fake_now, (int64_t)s * 1000);
}

static char *new_db_path(void)
{
    return xasprintf("%s/queue-%d.db", dir, ++db_no);
}

static struct queue *open_queue_poll(const char *path, int poll_ms)
{
    struct queue_config cfg = {.now_ms = fake_clock, .poll_interval_ms = poll_ms};
    struct err err = {0};
    struct queue *q = queue_sqlite_new(path, &cfg, &err);
    if (!q)
        fprintf(stderr, "open: %s %s\n", err.code, err.message);
    return q;
}

static struct queue *open_queue(const char *path)
{
    return open_queue_poll(path, 20);
}

/* A fresh database with AgentActions and its DLQ. */
static struct queue *fresh(char **path_out)
{
    char *path = new_db_path();
    struct queue *q = open_queue(path);
    struct err err = {0};
    if (q && queue_setup_agent(q, &err) < 0)
        fprintf(stderr, "setup: %s %s\n", err.code, err.message);
    if (path_out)
        *path_out = path;
    else
        free(path);
    return q;
}

static json_t *recv_n(struct queue *q, const char *name, int max, int vis)
{
    struct queue_receive_opts o = {.max_messages = max, .visibility_timeout_s = vis};
    struct err err = {0};
    json_t *out = NULL;
    if (queue_receive(q, name, &o, &out, &err) < 0) {
        fprintf(stderr, "receive: %s %s\n", err.code, err.message);
        return json_array();
    }
    return out;
}

static const char *field(const json_t *m, const char *k)
{
    return json_string_value(json_object_get(m, k));
}

static const char *attr(const json_t *m, const char *k)
{
    return json_string_value(json_object_get(json_object_get(m, "Attributes"), k));
}

/* 1 when both strings exist and differ. */
static int differ(const char *a, const char *b)
{
    return a && b && strcmp(a, b) != 0;
}

static struct queue_counts counts(struct queue *q, const char *name)
{
    struct queue_counts c = {-1, -1, -1};
    struct err err = {0};
    queue_counts(q, name, &c, &err);
    return c;
}

static int send_body(struct queue *q, const char *name, const char *body, char id[37])
{
    struct err err = {0};
    int rc = queue_send(q, name, body, NULL, -1, id, &err);
    if (rc < 0)
        fprintf(stderr, "send: %s %s\n", err.code, err.message);
    return rc;
}

/* ---------------------------------------------------------------- basics */

static void test_send_receive_delete(void)
{
    struct queue *q = fresh(NULL);
    char id[37];
    CHECK_INT(send_body(q, "AgentActions", "{\"tool\":\"create_ticket\"}", id), 0);
    CHECK_INT(strlen(id), 36);
    CHECK_INT(counts(q, "AgentActions").visible, 1);

    json_t *got = recv_n(q, "AgentActions", 10, 30);
    CHECK_INT(json_array_size(got), 1);
    json_t *m = json_array_get(got, 0);
    CHECK_STR(field(m, "MessageId"), id);
    CHECK_STR(field(m, "Body"), "{\"tool\":\"create_ticket\"}");
    CHECK(field(m, "ReceiptHandle") != NULL);
    CHECK_STR(attr(m, "ApproximateReceiveCount"), "1");
    char sent[24];
    snprintf(sent, sizeof sent, "%lld", (long long)fake_clock(NULL));
    CHECK_STR(attr(m, "SentTimestamp"), sent);
    CHECK_STR(attr(m, "ApproximateFirstReceiveTimestamp"), sent);
    CHECK(json_object_get(m, "MessageAttributes") == NULL);

    struct queue_counts c = counts(q, "AgentActions");
    CHECK_INT(c.visible, 0);
    CHECK_INT(c.in_flight, 1);
    /* Invisible: a second receive gets nothing. */
    json_t *none = recv_n(q, "AgentActions", 10, 30);
    CHECK_INT(json_array_size(none), 0);
    json_decref(none);

    struct err err = {0};
    CHECK_INT(queue_delete(q, "AgentActions", field(m, "ReceiptHandle"), &err), 0);
    c = counts(q, "AgentActions");
    CHECK_INT(c.visible + c.in_flight + c.delayed, 0);
    /* Deleting again with the same handle is accepted, as SQS does. */
    CHECK_INT(queue_delete(q, "AgentActions", field(m, "ReceiptHandle"), &err), 0);
    /* A malformed handle is not. */
    CHECK_INT(queue_delete(q, "AgentActions", "not-a-handle", &err), -1);
    CHECK_STR(err.code, "ReceiptHandleIsInvalid");
    json_decref(got);
    queue_free(q);
}

static void test_md5_of_body(void)
{
    struct queue *q = fresh(NULL);
    char id[37];
    send_body(q, "AgentActions", "hello", id);
    send_body(q, "AgentActions", "The quick brown fox jumps over the lazy dog", id);
    json_t *got = recv_n(q, "AgentActions", 2, 30);
    CHECK_INT(json_array_size(got), 2);
    /* RFC 1321 test-suite style values, independently known. */
    CHECK_STR(field(json_array_get(got, 0), "MD5OfBody"), "5d41402abc4b2a76b9719d911017c592");
    CHECK_STR(field(json_array_get(got, 1), "MD5OfBody"), "9e107d9d372bb6826bd81d3542a419d6");
    char hex[33];
    queue__md5_hex("", 0, hex);
    CHECK_STR(hex, "d41d8cd98f00b204e9800998ecf8427e");
    json_decref(got);
    queue_free(q);
}

static void test_attributes_round_trip(void)
{
    struct queue *q = fresh(NULL);
    json_t *attrs = json_pack("{s:{s:s, s:s}, s:{s:s, s:s}, s:{s:s, s:s}}", "idempotencyKey",
                              "DataType", "String", "StringValue", "k-123", "attempt", "DataType",
                              "Number", "StringValue", "2", "blob", "DataType", "Binary",
                              "BinaryValue", "AAEC");
    char id[37];
    struct err err = {0};
    CHECK_INT(queue_send(q, "AgentActions", "body", attrs, -1, id, &err), 0);
    json_t *got = recv_n(q, "AgentActions", 1, 30);
    json_t *m = json_array_get(got, 0);
    CHECK(json_equal(json_object_get(m, "MessageAttributes"), attrs));
    CHECK_INT(strlen(field(m, "MD5OfMessageAttributes") ? field(m, "MD5OfMessageAttributes") : ""),
              32);
    /* The digest depends on the attributes, not on their order in the object. */
    json_t *reordered = json_pack("{s:{s:s, s:s}, s:{s:s, s:s}, s:{s:s, s:s}}", "blob",
                                  "DataType", "Binary", "BinaryValue", "AAEC", "attempt",
                                  "DataType", "Number", "StringValue", "2", "idempotencyKey",
                                  "DataType", "String", "StringValue", "k-123");
    char a[33], b[33];
    queue__md5_attributes(attrs, a);
    queue__md5_attributes(reordered, b);
    CHECK_STR(a, b);
    json_object_set_new(json_object_get(reordered, "attempt"), "StringValue", json_string("3"));
    queue__md5_attributes(reordered, b);
    CHECK(strcmp(a, b) != 0);

    /* Invalid attributes are rejected with the SQS codes. */
    json_t *bad = json_pack("{s:{s:s, s:s}}", "AWS.x", "DataType", "String", "StringValue", "v");
    CHECK_INT(queue_send(q, "AgentActions", "body", bad, -1, id, &err), -1);
    CHECK_STR(err.code, "InvalidAttributeName");
    json_decref(bad);
    bad = json_pack("{s:{s:s, s:s}}", "n", "DataType", "Number", "StringValue", "twelve");
    CHECK_INT(queue_send(q, "AgentActions", "body", bad, -1, id, &err), -1);
    CHECK_STR(err.code, "InvalidAttributeValue");
    json_decref(bad);
    bad = json_pack("{s:{s:s, s:s}}", "n", "DataType", "Float", "StringValue", "1");
    CHECK_INT(queue_send(q, "AgentActions", "body", bad, -1, id, &err), -1);
    CHECK_STR(err.code, "InvalidAttributeValue");
    json_decref(bad);
    bad = json_object();
    for (int i = 0; i < 11; i++) {
        char name[16];
        snprintf(name, sizeof name, "a%d", i);
        json_object_set_new(bad, name, json_pack("{s:s, s:s}", "DataType", "String",
                                                 "StringValue", "v"));
    }
    CHECK_INT(queue_send(q, "AgentActions", "body", bad, -1, id, &err), -1);
    CHECK_STR(err.code, "InvalidParameterValue");
    json_decref(bad);

    json_decref(reordered);
    json_decref(attrs);
    json_decref(got);
    queue_free(q);
}

/* Vectors published by two independent SQS tools (a Go SQS emulator's and an npm checksum
 * package's tests), so our encoding matches what SQS clients verify. */
static void test_md5_of_attributes_vectors(void)
{
    char hex[33];
    json_t *a = json_pack("{s:{s:s, s:s}, s:{s:s, s:s}}", "ordinal", "DataType", "Number",
                          "StringValue", "1", "category", "DataType", "String", "StringValue",
                          "test");
    queue__md5_attributes(a, hex);
    CHECK_STR(hex, "d21ae90c49061e927f57df5f5d72be1f");
    json_decref(a);
    a = json_pack("{s:{s:s, s:s}}", "SellerName", "DataType", "String", "StringValue",
                  "Example Store");
    queue__md5_attributes(a, hex);
    CHECK_STR(hex, "cd28f3b68aeee4b2eac9c66f2f694b58");
    json_decref(a);
}

static void test_limits(void)
{
    struct queue *q = fresh(NULL);
    struct err err = {0};
    char id[37];
    char *body = xmalloc(QUEUE_BODY_MAX + 2);
    memset(body, 'x', QUEUE_BODY_MAX);
    body[QUEUE_BODY_MAX] = '\0';
    CHECK_INT(queue_send(q, "AgentActions", body, NULL, -1, id, &err), 0);
    body[QUEUE_BODY_MAX] = 'x';
    body[QUEUE_BODY_MAX + 1] = '\0';
    CHECK_INT(queue_send(q, "AgentActions", body, NULL, -1, id, &err), -1);
    CHECK_STR(err.code, "InvalidParameterValue");
    CHECK(strstr(err.message, "256 KiB") != NULL);
    /* Attributes count toward the limit. */
    body[QUEUE_BODY_MAX - 4] = '\0';
    json_t *attrs = json_pack("{s:{s:s, s:s}}", "k", "DataType", "String", "StringValue", "vv");
    CHECK_INT(queue_send(q, "AgentActions", body, attrs, -1, id, &err), -1);
    CHECK(strstr(err.message, "attributes") != NULL);
    json_decref(attrs);
    free(body);

    CHECK_INT(queue_send(q, "AgentActions", "", NULL, -1, id, &err), -1);
    CHECK_INT(queue_send(q, "AgentActions", "bad \x01 control", NULL, -1, id, &err), -1);
    CHECK_INT(queue_send(q, "AgentActions", "bad \xc3\x28 utf8", NULL, -1, id, &err), -1);
    CHECK_INT(queue_send(q, "AgentActions", "non-char \xef\xbf\xbe", NULL, -1, id, &err), -1);
    CHECK(strstr(err.message, "U+FFFE") != NULL);
    CHECK_INT(queue_send(q, "AgentActions", "ok \xc3\xa9\t\n\xf0\x9f\x98\x80", NULL, -1, id, &err),
              0);
    CHECK_INT(queue_send(q, "AgentActions", "x", NULL, 901, id, &err), -1);
    CHECK_INT(queue_send(q, "NoSuchQueue", "x", NULL, -1, id, &err), -1);
    CHECK_STR(err.code, "QueueDoesNotExist");
    CHECK_INT(queue_send(q, "bad name!", "x", NULL, -1, id, &err), -1);
    CHECK_STR(err.code, "InvalidParameterValue");

    json_t *out = NULL;
    struct queue_receive_opts o = {.max_messages = 11, .visibility_timeout_s = 30};
    CHECK_INT(queue_receive(q, "AgentActions", &o, &out, &err), -1);
    CHECK_STR(err.code, "InvalidParameterValue");
    CHECK(strstr(err.message, "MaxNumberOfMessages") != NULL);
    o.max_messages = 0;
    CHECK_INT(queue_receive(q, "AgentActions", &o, &out, &err), -1);
    o.max_messages = 1;
    o.wait_time_s = 21;
    CHECK_INT(queue_receive(q, "AgentActions", &o, &out, &err), -1);
    o.wait_time_s = 0;
    o.visibility_timeout_s = QUEUE_VISIBILITY_MAX_S + 1;
    CHECK_INT(queue_receive(q, "AgentActions", &o, &out, &err), -1);
    CHECK(out == NULL);
    queue_free(q);
}

/* ---------------------------------------------------------------- visibility */

static void test_visibility_expiry_and_redelivery(void)
{
    struct queue *q = fresh(NULL);
    char id[37];
    send_body(q, "AgentActions", "work", id);
    json_t *first = recv_n(q, "AgentActions", 1, 30);
    CHECK_INT(json_array_size(first), 1);
    advance_s(29);
    json_t *early = recv_n(q, "AgentActions", 1, 30);
    CHECK_INT(json_array_size(early), 0);
    advance_s(1);
    json_t *second = recv_n(q, "AgentActions", 1, 30);
    CHECK_INT(json_array_size(second), 1);
    json_t *a = json_array_get(first, 0), *b = json_array_get(second, 0);
    CHECK_STR(field(b, "MessageId"), id);
    CHECK_STR(attr(b, "ApproximateReceiveCount"), "2");
    /* First-receive timestamp stays; the receipt handle is new. */
    CHECK_STR(attr(b, "ApproximateFirstReceiveTimestamp"),
              attr(a, "ApproximateFirstReceiveTimestamp"));
    CHECK(differ(field(a, "ReceiptHandle"), field(b, "ReceiptHandle")));

    /* The stale handle deletes nothing (SQS: "succeeds but might not delete"). */
    struct err err = {0};
    CHECK_INT(queue_delete(q, "AgentActions", field(a, "ReceiptHandle"), &err), 0);
    CHECK_INT(counts(q, "AgentActions").in_flight, 1);
    CHECK_INT(queue_change_visibility(q, "AgentActions", field(a, "ReceiptHandle"), 0, &err), -1);
    CHECK_STR(err.code, "ReceiptHandleIsInvalid");
    /* The latest handle deletes it. */
    CHECK_INT(queue_delete(q, "AgentActions", field(b, "ReceiptHandle"), &err), 0);
    CHECK_INT(counts(q, "AgentActions").in_flight, 0);
    json_decref(first);
    json_decref(early);
    json_decref(second);
    queue_free(q);
}

static void test_crashed_receiver_never_loses(void)
{
    char *path = NULL;
    struct queue *q = fresh(&path);
    char id[37];
    send_body(q, "AgentActions", "create ticket 42", id);
    /* A worker process receives the message and dies without deleting it. */
    struct queue *worker = open_queue(path);
    json_t *got = recv_n(worker, "AgentActions", 1, 60);
    CHECK_INT(json_array_size(got), 1);
    json_decref(got);
    queue_free(worker);
    /* Its replacement sees nothing until the timeout, then the same message. */
    struct queue *replacement = open_queue(path);
    got = recv_n(replacement, "AgentActions", 1, 60);
    CHECK_INT(json_array_size(got), 0);
    json_decref(got);
    advance_s(60);
    got = recv_n(replacement, "AgentActions", 1, 60);
    CHECK_INT(json_array_size(got), 1);
    CHECK_STR(field(json_array_get(got, 0), "MessageId"), id);
    CHECK_STR(field(json_array_get(got, 0), "Body"), "create ticket 42");
    json_decref(got);
    queue_free(replacement);
    queue_free(q);
    free(path);
}

static void test_zeroed_opts_use_queue_default(void)
{
    struct queue *q = fresh(NULL);
    struct err err = {0};
    struct queue_attrs tuned = {.dead_letter_target = QUEUE_AGENT_ACTIONS_DLQ}; /* vis unset */
    CHECK_INT(queue_ensure(q, "Tuned", &tuned, &err), 0);
    char id[37];
    send_body(q, "Tuned", "z", id);
    struct queue_receive_opts o = {.max_messages = 1};
    json_t *got = NULL;
    CHECK_INT(queue_receive(q, "Tuned", &o, &got, &err), 0);
    CHECK_INT(json_array_size(got), 1);
    json_decref(got);
    /* Hidden for the SQS default of 30 s, not for 0 s. */
    advance_s(29);
    CHECK_INT(counts(q, "Tuned").in_flight, 1);
    advance_s(1);
    CHECK_INT(counts(q, "Tuned").visible, 1);
    o.visibility_timeout_s = -1;
    CHECK_INT(queue_receive(q, "Tuned", &o, &got, &err), -1);
    queue_free(q);
}

static void test_change_visibility(void)
{
    struct queue *q = fresh(NULL);
    char id[37];
    struct err err = {0};
    send_body(q, "AgentActions", "v", id);
    json_t *got = recv_n(q, "AgentActions", 1, 30);
    const char *rh = field(json_array_get(got, 0), "ReceiptHandle");
    /* Extend: still invisible after the original 30 s. */
    CHECK_INT(queue_change_visibility(q, "AgentActions", rh, 120, &err), 0);
    advance_s(100);
    json_t *none = recv_n(q, "AgentActions", 1, 30);
    CHECK_INT(json_array_size(none), 0);
    json_decref(none);
    /* 0 makes it visible at once. */
    CHECK_INT(queue_change_visibility(q, "AgentActions", rh, 0, &err), 0);
    CHECK_INT(counts(q, "AgentActions").visible, 1);
    /* Now visible, so not in flight: SQS says MessageNotInflight. */
    CHECK_INT(queue_change_visibility(q, "AgentActions", rh, 10, &err), -1);
    CHECK_STR(err.code, "MessageNotInflight");
    CHECK_INT(queue_change_visibility(q, "AgentActions", rh, QUEUE_VISIBILITY_MAX_S + 1, &err),
              -1);
    CHECK_STR(err.code, "InvalidParameterValue");
    json_t *again = recv_n(q, "AgentActions", 1, 30);
    CHECK_INT(json_array_size(again), 1);
    CHECK_STR(attr(json_array_get(again, 0), "ApproximateReceiveCount"), "2");
    json_decref(again);
    json_decref(got);
    queue_free(q);
}

static void test_delay(void)
{
    struct queue *q = fresh(NULL);
    char id[37];
    struct err err = {0};
    CHECK_INT(queue_send(q, "AgentActions", "later", NULL, 10, id, &err), 0);
    struct queue_counts c = counts(q, "AgentActions");
    CHECK_INT(c.delayed, 1);
    CHECK_INT(c.visible, 0);
    json_t *none = recv_n(q, "AgentActions", 1, 30);
    CHECK_INT(json_array_size(none), 0);
    json_decref(none);
    advance_s(10);
    CHECK_INT(counts(q, "AgentActions").visible, 1);
    json_t *got = recv_n(q, "AgentActions", 1, 30);
    CHECK_INT(json_array_size(got), 1);
    json_decref(got);
    /* A queue-level default delay applies when the send gives -1. */
    struct queue_attrs slow = {.visibility_timeout_s = 30, .delay_s = 5};
    CHECK_INT(queue_ensure(q, "Slow", &slow, &err), 0);
    CHECK_INT(queue_send(q, "Slow", "x", NULL, -1, id, &err), 0);
    CHECK_INT(queue_send(q, "Slow", "y", NULL, 0, id, &err), 0);
    c = counts(q, "Slow");
    CHECK_INT(c.delayed, 1);
    CHECK_INT(c.visible, 1);
    queue_free(q);
}

/* ---------------------------------------------------------------- dead letters */

static void test_dlq_after_max_receives_and_redrive(void)
{
    struct queue *q = fresh(NULL);
    char id[37];
    send_body(q, "AgentActions", "poison", id);
    char last_handle[128] = "";
    /* Received maxReceiveCount (3) times, never deleted. */
    for (int i = 1; i <= 3; i++) {
        json_t *got = recv_n(q, "AgentActions", 1, 10);
        CHECK_INT(json_array_size(got), 1);
        char want[16];
        snprintf(want, sizeof want, "%d", i);
        CHECK_STR(attr(json_array_get(got, 0), "ApproximateReceiveCount"), want);
        const char *rh = field(json_array_get(got, 0), "ReceiptHandle");
        snprintf(last_handle, sizeof last_handle, "%s", rh ? rh : "");
        json_decref(got);
        advance_s(10);
    }
    CHECK_INT(counts(q, "AgentActions").visible, 1);
    /* The fourth receive moves it to the DLQ instead of delivering it. */
    json_t *got = recv_n(q, "AgentActions", 10, 10);
    CHECK_INT(json_array_size(got), 0);
    json_decref(got);
    struct queue_counts c = counts(q, "AgentActions");
    CHECK_INT(c.visible + c.in_flight + c.delayed, 0);
    CHECK_INT(counts(q, "AgentActions-DLQ").visible, 1);

    /* The consumer's last handle is stale now: accepted, but the dead letter stays. */
    struct err err = {0};
    CHECK_INT(queue_delete(q, "AgentActions", last_handle, &err), 0);
    CHECK_INT(counts(q, "AgentActions-DLQ").visible, 1);
    json_t *listed = NULL;
    CHECK_INT(queue_peek(q, "AgentActions-DLQ", 10, &listed, &err), 0);
    CHECK_INT(json_array_size(listed), 1);
    json_t *dm = json_array_get(listed, 0);
    CHECK_STR(field(dm, "MessageId"), id);
    CHECK_STR(field(dm, "SourceQueue"), "AgentActions");
    CHECK_STR(field(dm, "Body"), "poison");
    CHECK(json_object_get(dm, "ReceiptHandle") == NULL);
    json_decref(listed);
    /* Peeking changes nothing. */
    CHECK_INT(counts(q, "AgentActions-DLQ").visible, 1);

    long long moved = -1;
    CHECK_INT(queue_redrive(q, "AgentActions-DLQ", NULL, 0, &moved, &err), 0);
    CHECK_INT(moved, 1);
    CHECK_INT(counts(q, "AgentActions-DLQ").visible, 0);
    got = recv_n(q, "AgentActions", 1, 10);
    CHECK_INT(json_array_size(got), 1);
    json_t *m = json_array_get(got, 0);
    CHECK_STR(field(m, "Body"), "poison");
    /* Redriven messages are new messages: new id, count starts again. */
    CHECK(differ(field(m, "MessageId"), id));
    CHECK_STR(attr(m, "ApproximateReceiveCount"), "1");
    json_decref(got);
    queue_free(q);
}

static void test_redrive_max_and_explicit_target(void)
{
    struct queue *q = fresh(NULL);
    struct err err = {0};
    struct queue_attrs other = {.visibility_timeout_s = 30};
    CHECK_INT(queue_ensure(q, "Other", &other, &err), 0);
    char id[37];
    for (int i = 0; i < 5; i++)
        CHECK_INT(queue_send(q, "AgentActions-DLQ", "dead", NULL, 0, id, &err), 0);
    long long moved = 0;
    /* Sent straight to the DLQ: no known source, so a source-less redrive leaves them. */
    CHECK_INT(queue_redrive(q, "AgentActions-DLQ", NULL, 0, &moved, &err), 0);
    CHECK_INT(moved, 0);
    CHECK_INT(queue_redrive(q, "AgentActions-DLQ", "Other", 2, &moved, &err), 0);
    CHECK_INT(moved, 2);
    CHECK_INT(counts(q, "Other").visible, 2);
    CHECK_INT(counts(q, "AgentActions-DLQ").visible, 3);
    CHECK_INT(queue_redrive(q, "AgentActions-DLQ", "Missing", 0, &moved, &err), -1);
    CHECK_STR(err.code, "QueueDoesNotExist");
    /* A redrive policy must name an existing queue, and not itself. */
    struct queue_attrs bad = {.dead_letter_target = "Nope"};
    CHECK_INT(queue_ensure(q, "X", &bad, &err), -1);
    CHECK_STR(err.code, "QueueDoesNotExist");
    bad.dead_letter_target = "X";
    CHECK_INT(queue_ensure(q, "X", &bad, &err), -1);
    queue_free(q);
}

static void test_purge(void)
{
    struct queue *q = fresh(NULL);
    char id[37];
    for (int i = 0; i < 7; i++)
        send_body(q, "AgentActions", "p", id);
    json_t *got = recv_n(q, "AgentActions", 3, 30);
    json_decref(got);
    struct err err = {0};
    long long purged = 0;
    CHECK_INT(queue_purge(q, "AgentActions", &purged, &err), 0);
    CHECK_INT(purged, 7);
    struct queue_counts c = counts(q, "AgentActions");
    CHECK_INT(c.visible + c.in_flight + c.delayed, 0);
    CHECK_INT(queue_purge(q, "Nope", NULL, &err), -1);
    CHECK_STR(err.code, "QueueDoesNotExist");
    queue_free(q);
}

/* ---------------------------------------------------------------- sharing and concurrency */

static void test_two_handles_never_share(void)
{
    char *path = NULL;
    struct queue *a = fresh(&path);
    struct queue *b = open_queue(path);
    char id[37];
    for (int i = 0; i < 20; i++)
        send_body(a, "AgentActions", "m", id);
    json_t *seen = json_object();
    int dup = 0, total = 0;
    for (int round = 0; round < 3; round++) {
        json_t *ra = recv_n(a, "AgentActions", 10, 30);
        json_t *rb = recv_n(b, "AgentActions", 10, 30);
        json_t *both[2] = {ra, rb};
        for (int k = 0; k < 2; k++) {
            size_t i;
            json_t *m;
            json_array_foreach(both[k], i, m)
            {
                const char *mid = field(m, "MessageId");
                if (json_object_get(seen, mid))
                    dup++;
                json_object_set_new(seen, mid, json_true());
                total++;
            }
        }
        json_decref(ra);
        json_decref(rb);
    }
    CHECK_INT(dup, 0);
    CHECK_INT(total, 20);
    json_decref(seen);
    queue_free(b);
    queue_free(a);
    free(path);
}

/* Reads message ids from a pipe, one per line, into set; returns how many were duplicates. */
static int read_ids(int fd, json_t *set, int *total)
{
    FILE *f = fdopen(fd, "r");
    char line[64];
    int dup = 0;
    while (f && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        if (json_object_get(set, line))
            dup++;
        json_object_set_new(set, line, json_true());
        (*total)++;
    }
    if (f)
        fclose(f);
    return dup;
}

/* Two real processes drain one file at once; together they see every message exactly once. */
static void test_two_processes_drain_once(void)
{
    char *path = NULL;
    struct queue *q = fresh(&path);
    char id[37];
    enum { N = 300 };
    for (int i = 0; i < N; i++)
        send_body(q, "AgentActions", "job", id);
    queue_free(q);
    int pipes[2][2];
    pid_t pids[2];
    for (int k = 0; k < 2; k++) {
        if (pipe(pipes[k]) < 0)
            return;
        pids[k] = fork();
        if (pids[k] == 0) {
            close(pipes[k][0]);
            FILE *out = fdopen(pipes[k][1], "w");
            struct queue *mine = open_queue(path);
            int empty = 0;
            while (mine && empty < 3) {
                json_t *got = recv_n(mine, "AgentActions", 10, 300);
                empty = json_array_size(got) ? 0 : empty + 1;
                size_t i;
                json_t *m;
                json_array_foreach(got, i, m)
                {
                    struct err err = {0};
                    fprintf(out, "%s\n", field(m, "MessageId"));
                    queue_delete(mine, "AgentActions", field(m, "ReceiptHandle"), &err);
                }
                json_decref(got);
            }
            queue_free(mine);
            fclose(out);
            _exit(0);
        }
        close(pipes[k][1]);
    }
    json_t *seen = json_object();
    int total = 0, dup = 0;
    for (int k = 0; k < 2; k++)
        dup += read_ids(pipes[k][0], seen, &total);
    for (int k = 0; k < 2; k++) {
        int status = -1;
        waitpid(pids[k], &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    CHECK_INT(dup, 0);
    CHECK_INT(total, N);
    CHECK_INT(json_object_size(seen), N);
    json_decref(seen);
    free(path);
}

#define CONC_MESSAGES 1000
#define CONC_THREADS 4

struct consumer {
    struct queue *q;            /* shared handle */
    _Atomic int *hits;          /* per message index */
    _Atomic int *remaining;     /* messages not yet deleted */
    _Atomic int64_t *done_at;   /* monotonic ms when the last one was deleted */
    int errors;                 /* failed calls */
};

static void *consume(void *arg)
{
    struct consumer *c = arg;
    while (atomic_load(c->remaining) > 0) {
        struct queue_receive_opts o = {.max_messages = 10, .visibility_timeout_s = 300,
                                       .wait_time_s = 1};
        json_t *got = NULL;
        struct err err = {0};
        if (queue_receive(c->q, "AgentActions", &o, &got, &err) < 0) {
            c->errors++;
            continue;
        }
        size_t i;
        json_t *m;
        json_array_foreach(got, i, m)
        {
            const char *b = field(m, "Body");
            int idx = b ? atoi(b) : -1;
            if (idx >= 0 && idx < CONC_MESSAGES)
                atomic_fetch_add(&c->hits[idx], 1);
            if (queue_delete(c->q, "AgentActions", field(m, "ReceiptHandle"), &err) < 0)
                c->errors++;
            if (atomic_fetch_sub(c->remaining, 1) == 1)
                atomic_store(c->done_at, clock_mono_ms());
        }
        json_decref(got);
    }
    return NULL;
}

static void test_concurrent_consumers_each_once(void)
{
    struct queue *q = fresh(NULL);
    char id[37], body[16];
    for (int i = 0; i < CONC_MESSAGES; i++) {
        snprintf(body, sizeof body, "%d", i);
        send_body(q, "AgentActions", body, id);
    }
    _Atomic int *hits = xcalloc(CONC_MESSAGES, sizeof *hits);
    _Atomic int remaining = CONC_MESSAGES;
    _Atomic int64_t done_at = 0;
    struct consumer cs[CONC_THREADS];
    pthread_t th[CONC_THREADS];
    int64_t t0 = clock_mono_ms();
    for (int i = 0; i < CONC_THREADS; i++) {
        cs[i] = (struct consumer){.q = q, .hits = hits, .remaining = &remaining,
                                 .done_at = &done_at};
        pthread_create(&th[i], NULL, consume, &cs[i]);
    }
    int errors = 0;
    for (int i = 0; i < CONC_THREADS; i++) {
        pthread_join(th[i], NULL);
        errors += cs[i].errors;
    }
    int64_t ms = atomic_load(&done_at) - t0;
    int once = 0;
    for (int i = 0; i < CONC_MESSAGES; i++)
        once += atomic_load(&hits[i]) == 1;
    CHECK_INT(once, CONC_MESSAGES);
    CHECK_INT(errors, 0);
    struct queue_counts c = counts(q, "AgentActions");
    CHECK_INT(c.visible + c.in_flight + c.delayed, 0);
    printf("# %d messages received+deleted by %d threads in %lld ms\n", CONC_MESSAGES,
           CONC_THREADS, (long long)ms);
    free(hits);
    queue_free(q);
}

struct delayed_sender {
    struct queue *q; /* shared handle */
    int ms;          /* sleep first */
};

static void *send_later(void *arg)
{
    struct delayed_sender *d = arg;
    usleep((useconds_t)d->ms * 1000);
    char id[37];
    send_body(d->q, "AgentActions", "late", id);
    return NULL;
}

static void test_long_poll_wakes_on_send(void)
{
    char *path = NULL;
    struct queue *setup = fresh(&path);
    queue_free(setup);
    /* A poll interval longer than the wait: only the condition variable explains a quick wake. */
    struct queue *q = open_queue_poll(path, 60000);
    free(path);
    struct delayed_sender d = {.q = q, .ms = 100};
    pthread_t th;
    pthread_create(&th, NULL, send_later, &d);
    struct queue_receive_opts o = {.max_messages = 1, .visibility_timeout_s = 30,
                                   .wait_time_s = 5};
    json_t *got = NULL;
    struct err err = {0};
    int64_t t0 = clock_mono_ms();
    CHECK_INT(queue_receive(q, "AgentActions", &o, &got, &err), 0);
    int64_t waited = clock_mono_ms() - t0;
    pthread_join(th, NULL);
    CHECK_INT(json_array_size(got), 1);
    CHECK(waited >= 50 && waited < 2000);
    json_decref(got);
    /* An empty long poll returns empty after its wait. */
    o.wait_time_s = 1;
    t0 = clock_mono_ms();
    CHECK_INT(queue_receive(q, "AgentActions", &o, &got, &err), 0);
    waited = clock_mono_ms() - t0;
    CHECK_INT(json_array_size(got), 0);
    CHECK(waited >= 900 && waited < 3000);
    json_decref(got);
    queue_free(q);
}

static void test_long_poll_sees_other_process(void)
{
    char *path = NULL;
    struct queue *a = fresh(&path);
    struct queue *b = open_queue(path);
    /* b sends: a's condition variable never fires, so a finds it by polling the file. */
    struct delayed_sender d = {.q = b, .ms = 100};
    pthread_t th;
    pthread_create(&th, NULL, send_later, &d);
    struct queue_receive_opts o = {.max_messages = 1, .visibility_timeout_s = 30,
                                   .wait_time_s = 3};
    json_t *got = NULL;
    struct err err = {0};
    CHECK_INT(queue_receive(a, "AgentActions", &o, &got, &err), 0);
    pthread_join(th, NULL);
    CHECK_INT(json_array_size(got), 1);
    json_decref(got);
    queue_free(b);
    queue_free(a);
    free(path);
}

static void test_list_and_setup_idempotent(void)
{
    char *path = NULL;
    struct queue *q = fresh(&path);
    struct err err = {0};
    /* Tune the queue, then run setup again: it must not reset the tuning. */
    struct queue_attrs tuned = {.visibility_timeout_s = 90,
                                .dead_letter_target = QUEUE_AGENT_ACTIONS_DLQ,
                                .max_receive_count = 5};
    CHECK_INT(queue_ensure(q, QUEUE_AGENT_ACTIONS, &tuned, &err), 0);
    CHECK_INT(queue_setup_agent(q, &err), 0);
    json_t *list = NULL;
    CHECK_INT(queue_list(q, &list, &err), 0);
    CHECK_INT(json_array_size(list), 2);
    json_t *aa = json_array_get(list, 0);
    CHECK_STR(field(aa, "name"), "AgentActions");
    CHECK_INT(json_integer_value(json_object_get(aa, "visibilityTimeout")), 90);
    json_t *rp = json_object_get(aa, "redrivePolicy");
    CHECK_STR(field(rp, "deadLetterTarget"), "AgentActions-DLQ");
    CHECK_INT(json_integer_value(json_object_get(rp, "maxReceiveCount")), 5);
    CHECK(json_object_get(json_array_get(list, 1), "redrivePolicy") == NULL);
    json_decref(list);
    queue_free(q);
    free(path);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/parley-queue-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_send_receive_delete);
    RUN(test_md5_of_body);
    RUN(test_attributes_round_trip);
    RUN(test_md5_of_attributes_vectors);
    RUN(test_limits);
    RUN(test_visibility_expiry_and_redelivery);
    RUN(test_crashed_receiver_never_loses);
    RUN(test_zeroed_opts_use_queue_default);
    RUN(test_change_visibility);
    RUN(test_delay);
    RUN(test_dlq_after_max_receives_and_redrive);
    RUN(test_redrive_max_and_explicit_target);
    RUN(test_purge);
    RUN(test_two_handles_never_share);
    RUN(test_two_processes_drain_once);
    RUN(test_concurrent_consumers_each_once);
    RUN(test_long_poll_wakes_on_send);
    RUN(test_long_poll_sees_other_process);
    RUN(test_list_and_setup_idempotent);
    char *cmd = xasprintf("rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove '%s'\n", dir);
    free(cmd);
    return check_summary();
}
