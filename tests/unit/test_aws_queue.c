/*
 * test_aws_queue.c - one behavioural suite for the queue port on the real clock: setup of the
 * seed's queues, send/receive/delete with attributes and MD5s, visibility timeouts, receive counts
 * and the dead-letter queue, peek and redrive, delays, purge, errors.
 *
 * Always runs against the embedded SQLite adapter. With PARLEY_TEST_SQS=http://127.0.0.1:PORT (set
 * by tests/scripts/test_aws_queue.sh, which starts fauxqs there) the same suite runs against the
 * SQS adapter.
 */
#include <stdlib.h>
#include <unistd.h>

#include "base/xmalloc.h"
#include "check.h"
#include "peer.h"
#include "queue/queue.h"
#include "queue/queue_sqs.h"

static struct queue *q;

static json_t *recv1(const char *name, int visibility, struct err *e)
{
    struct queue_receive_opts o = {.max_messages = 10, .visibility_timeout_s = visibility,
                                   .wait_time_s = 0};
    json_t *out = NULL;
    if (queue_receive(q, name, &o, &out, e) < 0)
        return NULL;
    return out;
}

static const char *mstr(const json_t *m, const char *k)
{
    return json_string_value(json_object_get(m, k));
}

static const char *attr(const json_t *m, const char *k)
{
    return json_string_value(json_object_get(json_object_get(m, "Attributes"), k));
}

static void test_setup_and_list(void)
{
    struct err e;
    CHECK(queue_setup_agent(q, &e) == 0);
    CHECK(queue_setup_agent(q, &e) == 0); /* idempotent */
    json_t *list = NULL;
    CHECK(queue_list(q, &list, &e) == 0);
    json_t *main_q = NULL, *dlq = NULL;
    size_t i;
    json_t *row;
    const char *prev = "";
    json_array_foreach(list, i, row) {
        const char *n = mstr(row, "name");
        CHECK(strcmp(prev, n) < 0);
        prev = n;
        if (strcmp(n, QUEUE_AGENT_ACTIONS) == 0)
            main_q = row;
        if (strcmp(n, QUEUE_AGENT_ACTIONS_DLQ) == 0)
            dlq = row;
    }
    CHECK(main_q && dlq);
    json_t *rp = json_object_get(main_q, "redrivePolicy");
    CHECK_STR(mstr(rp, "deadLetterTarget"), QUEUE_AGENT_ACTIONS_DLQ);
    CHECK_INT(json_integer_value(json_object_get(rp, "maxReceiveCount")), 3);
    CHECK_INT(json_integer_value(json_object_get(main_q, "visibilityTimeout")), 30);
    CHECK(json_object_get(dlq, "redrivePolicy") == NULL);
    json_decref(list);
}

static void test_send_receive_delete(void)
{
    struct err e;
    json_t *attrs = json_pack("{s:{s:s, s:s}, s:{s:s, s:s}}", "tool", "DataType", "String",
                              "StringValue", "create_support_ticket", "attempt", "DataType",
                              "Number", "StringValue", "1");
    char id[37];
    const char *body = "{\"actionId\":\"a1\",\"note\":\"caf\xc3\xa9\"}";
    CHECK(queue_send(q, QUEUE_AGENT_ACTIONS, body, attrs, -1, id, &e) == 0);
    CHECK_INT(strlen(id), 36);
    json_t *got = recv1(QUEUE_AGENT_ACTIONS, 30, &e);
    CHECK_INT(json_array_size(got), 1);
    json_t *m = json_array_get(got, 0);
    CHECK_STR(mstr(m, "MessageId"), id);
    CHECK_STR(mstr(m, "Body"), body);
    char md5[33];
    queue__md5_hex(body, strlen(body), md5);
    CHECK_STR(mstr(m, "MD5OfBody"), md5);
    queue__md5_attributes(attrs, md5);
    CHECK_STR(mstr(m, "MD5OfMessageAttributes"), md5);
    CHECK_STR(mstr(json_object_get(json_object_get(m, "MessageAttributes"), "tool"),
                   "StringValue"),
              "create_support_ticket");
    CHECK_STR(attr(m, "ApproximateReceiveCount"), "1");
    CHECK(attr(m, "SentTimestamp") && atoll(attr(m, "SentTimestamp")) > 1600000000000LL);
    CHECK(mstr(m, "ReceiptHandle") != NULL);
    /* In flight: nobody else gets it. */
    json_t *again = recv1(QUEUE_AGENT_ACTIONS, 30, &e);
    CHECK_INT(json_array_size(again), 0);
    json_decref(again);
    struct queue_counts c;
    CHECK(queue_counts(q, QUEUE_AGENT_ACTIONS, &c, &e) == 0);
    CHECK_INT(c.in_flight, 1);
    CHECK_INT(c.visible, 0);
    CHECK(queue_delete(q, QUEUE_AGENT_ACTIONS, mstr(m, "ReceiptHandle"), &e) == 0);
    CHECK(queue_counts(q, QUEUE_AGENT_ACTIONS, &c, &e) == 0);
    CHECK_INT(c.in_flight + c.visible, 0);
    json_decref(got);
    json_decref(attrs);
}

/* For check_wait: receives from queue (visibility 30 s) until a message comes; got keeps it. */
struct recv_watch {
    const char *queue;
    json_t *got;
};

static int received_one(void *ud)
{
    struct recv_watch *w = ud;
    struct err e;
    json_decref(w->got);
    w->got = recv1(w->queue, 30, &e);
    return json_array_size(w->got) > 0;
}

/* For check_wait: the dead-letter queue ud holds one message. */
static int dlq_has_one(void *ud)
{
    json_t *peek = NULL;
    struct err e;
    int ok = queue_peek(q, ud, 10, &peek, &e) == 0 && json_array_size(peek) == 1;
    json_decref(peek);
    return ok;
}

static void test_visibility(void)
{
    struct err e;
    char id[37];
    CHECK(queue_send(q, QUEUE_AGENT_ACTIONS, "vis", NULL, 0, id, &e) == 0);
    json_t *a = recv1(QUEUE_AGENT_ACTIONS, 1, &e);
    CHECK_INT(json_array_size(a), 1);
    /* Invisible for its 1 s visibility timeout, then delivered again. */
    struct recv_watch rw = {QUEUE_AGENT_ACTIONS, NULL};
    CHECK(check_wait(received_one, &rw, 10000));
    json_t *b = rw.got;
    CHECK_INT(json_array_size(b), 1);
    json_t *mb = json_array_get(b, 0);
    CHECK_STR(mstr(mb, "MessageId"), id);
    CHECK_STR(attr(mb, "ApproximateReceiveCount"), "2");
    CHECK(strcmp(mstr(json_array_get(a, 0), "ReceiptHandle"), mstr(mb, "ReceiptHandle")) != 0);
    /* Visible again at once. */
    CHECK(queue_change_visibility(q, QUEUE_AGENT_ACTIONS, mstr(mb, "ReceiptHandle"), 0, &e) == 0);
    json_t *c = recv1(QUEUE_AGENT_ACTIONS, 30, &e);
    CHECK_INT(json_array_size(c), 1);
    CHECK(queue_delete(q, QUEUE_AGENT_ACTIONS, mstr(json_array_get(c, 0), "ReceiptHandle"), &e) ==
          0);
    json_decref(a);
    json_decref(b);
    json_decref(c);
}

static void test_dead_letter_and_redrive(void)
{
    struct err e;
    CHECK(queue_ensure(q, "T-dlq", NULL, &e) == 0);
    struct queue_attrs at = {.visibility_timeout_s = 30, .dead_letter_target = "T-dlq",
                             .max_receive_count = 2};
    CHECK(queue_ensure(q, "T-src", &at, &e) == 0);
    char id[37];
    CHECK(queue_send(q, "T-src", "poison", NULL, 0, id, &e) == 0);
    for (int i = 0; i < 2; i++) {
        json_t *m = recv1("T-src", 30, &e);
        CHECK_INT(json_array_size(m), 1);
        CHECK(queue_change_visibility(q, "T-src", mstr(json_array_get(m, 0), "ReceiptHandle"), 0,
                                      &e) == 0);
        json_decref(m);
    }
    /* The third receive moves it to the dead-letter queue instead of delivering it. */
    json_t *none = recv1("T-src", 30, &e);
    CHECK_INT(json_array_size(none), 0);
    json_decref(none);
    CHECK(check_wait(dlq_has_one, "T-dlq", 5000));
    json_t *peek = NULL;
    CHECK(queue_peek(q, "T-dlq", 10, &peek, &e) == 0);
    CHECK_INT(json_array_size(peek), 1);
    CHECK_STR(mstr(json_array_get(peek, 0), "Body"), "poison");
    CHECK(json_object_get(json_array_get(peek, 0), "ReceiptHandle") == NULL);
    json_decref(peek);
    long long moved = 0;
    CHECK(queue_redrive(q, "T-dlq", "T-src", 0, &moved, &e) == 0);
    CHECK_INT(moved, 1);
    json_t *back = recv1("T-src", 30, &e);
    CHECK_INT(json_array_size(back), 1);
    CHECK_STR(mstr(json_array_get(back, 0), "Body"), "poison");
    CHECK_STR(attr(json_array_get(back, 0), "ApproximateReceiveCount"), "1");
    json_decref(back);
    struct queue_counts c;
    CHECK(queue_counts(q, "T-dlq", &c, &e) == 0);
    CHECK_INT(c.visible + c.in_flight, 0);
}

static void test_delay_and_purge(void)
{
    struct err e;
    CHECK(queue_ensure(q, "T-delay", NULL, &e) == 0);
    char id[37];
    CHECK(queue_send(q, "T-delay", "later", NULL, 1, id, &e) == 0);
    CHECK(queue_send(q, "T-delay", "now-1", NULL, 0, id, &e) == 0);
    CHECK(queue_send(q, "T-delay", "now-2", NULL, 0, id, &e) == 0);
    struct queue_counts c;
    CHECK(queue_counts(q, "T-delay", &c, &e) == 0);
    CHECK_INT(c.delayed, 1);
    CHECK_INT(c.visible, 2);
    json_t *m = recv1("T-delay", 30, &e);
    CHECK_INT(json_array_size(m), 2);
    json_decref(m);
    struct recv_watch dw = {"T-delay", NULL};
    CHECK(check_wait(received_one, &dw, 10000)); /* the delayed one, once its 1 s delay is over */
    m = dw.got;
    CHECK_INT(json_array_size(m), 1);
    CHECK_STR(mstr(json_array_get(m, 0), "Body"), "later");
    json_decref(m);
    CHECK(queue_send(q, "T-delay", "gone", NULL, 0, id, &e) == 0);
    long long purged = -1;
    CHECK(queue_purge(q, "T-delay", &purged, &e) == 0);
    CHECK(purged >= 1);
    CHECK(queue_counts(q, "T-delay", &c, &e) == 0);
    CHECK_INT(c.visible + c.in_flight + c.delayed, 0);
}

/* SQS cannot select messages by content: erasing a session's actions deletes nothing and says
 * so (-1), leaving the worker to drop them; a missing queue is still an error. */
static void test_erase_cannot_select(void)
{
    struct err e = {0};
    char id[37];
    CHECK(queue_send(q, QUEUE_AGENT_ACTIONS, "{\"sessionId\":\"s-sqs\"}", NULL, 0, id, &e) == 0);
    long long n = 0;
    CHECK_INT(queue_erase_session(q, "s-sqs", &n, &e), 0);
    CHECK_INT(n, -1);
    CHECK_INT(queue_erase_matching(q, "NoSuchQueue", "x", &n, &e), -1);
    long long purged = 0;
    CHECK(queue_purge(q, QUEUE_AGENT_ACTIONS, &purged, &e) == 0);
    CHECK_INT(purged, 1); /* the message was left alone */
}

static void test_errors(void)
{
    struct err e;
    json_t *m = recv1("NoSuchQueue", 30, &e);
    CHECK(m == NULL);
    CHECK_STR(e.code, "QueueDoesNotExist");
    char id[37];
    CHECK(queue_send(q, "bad name!", "x", NULL, 0, id, &e) < 0);
    CHECK_STR(e.code, "InvalidParameterValue");
    CHECK(queue_send(q, QUEUE_AGENT_ACTIONS, "", NULL, 0, id, &e) < 0);
    CHECK_STR(e.code, "InvalidParameterValue");
    err_clear(&e);
    int rc = queue_delete(q, QUEUE_AGENT_ACTIONS, "garbage-handle", &e);
    if (strcmp(queue_name(q), "sqs") == 0) {
        /* SQS refuses malformed handles; fauxqs accepts them silently. Either way, nothing else. */
        CHECK(rc == 0 || strcmp(e.code, "ReceiptHandleIsInvalid") == 0);
    } else {
        CHECK(rc < 0);
        CHECK_STR(e.code, "ReceiptHandleIsInvalid");
    }
    struct queue_receive_opts o = {.max_messages = 11, .visibility_timeout_s = -1};
    CHECK(queue_receive(q, QUEUE_AGENT_ACTIONS, &o, &m, &e) < 0);
    CHECK_STR(e.code, "InvalidParameterValue");
}

static void run_suite(void)
{
    printf("# queue adapter: %s\n", queue_name(q));
    RUN(test_setup_and_list);
    RUN(test_send_receive_delete);
    RUN(test_visibility);
    RUN(test_dead_letter_and_redrive);
    RUN(test_delay_and_purge);
    if (strcmp(queue_name(q), "sqs") == 0) /* SQLite erases by content (tests/unit/test_erase.c) */
        RUN(test_erase_cannot_select);
    RUN(test_errors);
}

/* The SQLite part; tests/run.sh counts it when it runs this binary on its own. */
static void run_local(void)
{
    char dir[] = "/tmp/parley-queue-contract-XXXXXX";
    if (!check_require("a temporary directory", mkdtemp(dir) != NULL))
        return;
    char *path = xasprintf("%s/queue.db", dir);
    struct err e;
    q = queue_sqlite_new(path, NULL, &e);
    CHECK(q != NULL);
    if (q)
        run_suite();
    queue_free(q);
    free(path);
    char *cmd = xasprintf("rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    free(cmd);
}

/* The trace header goes out as SQS's AWSTraceHeader system attribute (what X-Ray joins), not as
 * a message attribute, and comes back from Attributes.AWSTraceHeader as the port's
 * AWSTraceHeader attribute, also after a DLQ redrive. Needs sqs-server.mjs --trace, which records
 * the calls and answers the system attribute fauxqs ignores. */
static void test_trace_header_is_a_system_attribute(void)
{
    const char *th = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
    json_t *attrs = json_pack("{s:{s:s, s:s}, s:{s:s, s:s}}", "AWSTraceHeader", "DataType",
                              "String", "StringValue", th, "tool", "DataType", "String",
                              "StringValue", "lookup_order");
    struct err e;
    char id[37];
    CHECK(queue_send(q, QUEUE_AGENT_ACTIONS, "{\"a\":1}", attrs, -1, id, &e) == 0);
    json_decref(attrs);
    json_t *calls = peer_hook(getenv("PARLEY_TEST_SQS"), "/__calls", 0);
    const json_t *send = peer_last_call(calls, "SendMessage");
    const json_t *sys = json_object_get(json_object_get(send, "MessageSystemAttributes"),
                                        "AWSTraceHeader");
    CHECK_STR(json_string_value(json_object_get(sys, "DataType")), "String");
    CHECK_STR(json_string_value(json_object_get(sys, "StringValue")), th);
    CHECK(json_object_get(json_object_get(send, "MessageAttributes"), "AWSTraceHeader") == NULL);
    CHECK(json_object_get(json_object_get(send, "MessageAttributes"), "tool") != NULL);
    json_decref(calls);
    json_t *got = recv1(QUEUE_AGENT_ACTIONS, 30, &e);
    CHECK_INT(json_array_size(got), 1);
    calls = peer_hook(getenv("PARLEY_TEST_SQS"), "/__calls", 0);
    const json_t *rcv = peer_last_call(calls, "ReceiveMessage");
    const json_t *names = json_object_get(rcv, "MessageSystemAttributeNames");
    int asks = 0;
    for (size_t i = 0; i < json_array_size(names); i++) {
        const char *n = json_string_value(json_array_get(names, i));
        asks |= n && (strcmp(n, "All") == 0 || strcmp(n, "AWSTraceHeader") == 0);
    }
    CHECK(asks);
    json_decref(calls);
    const json_t *m = json_array_get(got, 0);
    CHECK_STR(json_string_value(json_object_get(
                  json_object_get(json_object_get(m, "MessageAttributes"), "AWSTraceHeader"),
                  "StringValue")),
              th);
    CHECK(queue_delete(q, QUEUE_AGENT_ACTIONS, mstr(m, "ReceiptHandle"), &e) == 0);
    json_decref(got);
}

int main(void)
{
    xmalloc_init();
    /* With the emulator configured (tests/scripts/test_aws_queue.sh) only the AWS adapter
     * part runs, so the SQLite part is not counted twice. */
    const char *sqs = getenv("PARLEY_TEST_SQS");
    if (!sqs || !*sqs)
        run_local();
    else {
        struct err e;
        setenv("AWS_ENDPOINT_URL_SQS", sqs, 1);
        setenv("AWS_REGION", "us-east-1", 0);
        setenv("AWS_ACCESS_KEY_ID", "test", 0);
        setenv("AWS_SECRET_ACCESS_KEY", "test", 0);
        char prefix[32];
        snprintf(prefix, sizeof prefix, "t%d-", (int)getpid());
        setenv("PARLEY_QUEUE_PREFIX", prefix, 1);
        q = queue_sqs_from_env(&e);
        check_require("sqs adapter opens", q != NULL);
        if (q)
            run_suite();
        if (q && getenv("PARLEY_TEST_SQS_TRACE"))
            RUN(test_trace_header_is_a_system_attribute);
        queue_free(q);
    }
    return check_summary();
}
