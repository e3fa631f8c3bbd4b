/*
 * queue_sqs.c - the queue port over Amazon SQS (JSON protocol); see queue_sqs.h.
 */
#include "queue/queue_sqs.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "base/jsontext.h"
#include "base/log.h"
#include "base/xmalloc.h"

#define SQS_PEEK_ROUNDS 20                   /* receive calls one peek may make */
#define SQS_TRACE_ATTRIBUTE "AWSTraceHeader" /* the X-Ray system attribute of a message */

struct url_entry {
    char *name;             /* port name */
    char *url;              /* QueueUrl */
    struct url_entry *next; /* list link */
};

struct queue_sqs {
    struct queue base;      /* must be first */
    struct aws_client *aws; /* signed calls */
    char *prefix;           /* physical name prefix */
    pthread_mutex_t mu;     /* guards urls */
    struct url_entry *urls; /* name -> URL cache */
};

/* ---------------------------------------------------------------- calls */

/* SQS error codes the port keeps as they are; everything else becomes QueueError. */
static const char *const kept_codes[] = {
    "QueueDoesNotExist",      "ReceiptHandleIsInvalid", "MessageNotInflight",
    "InvalidParameterValue",  "InvalidAttributeName",   "InvalidAttributeValue",
    "InvalidMessageContents", "PurgeQueueInProgress",   "QueueDeletedRecently",
};

static int map_error(struct err *err, const char *action)
{
    char code[ERR_CODE_MAX], msg[ERR_MSG_MAX];
    snprintf(code, sizeof code, "%s", err->code);
    snprintf(msg, sizeof msg, "%s", err->message);
    if (strcmp(code, "AWS.SimpleQueueService.NonExistentQueue") == 0)
        snprintf(code, sizeof code, "QueueDoesNotExist");
    for (size_t i = 0; i < sizeof kept_codes / sizeof kept_codes[0]; i++)
        if (strcmp(code, kept_codes[i]) == 0)
            return err_set(err, code, "%s: %s", action, msg);
    return err_set(err, "QueueError", "SQS %s failed: %s: %s", action, code, msg);
}

/* Returns s, or fallback when s is NULL. */
static const char *or_default(const char *s, const char *fallback)
{
    return s ? s : fallback;
}

/* Calls action with req (stolen); *out gets the parsed answer (new reference) when not NULL. */
static int sqs(struct queue_sqs *q, const char *action, json_t *req, long timeout_ms, json_t **out,
               struct err *err)
{
    char *body = jsontext_dump(req);
    json_decref(req);
    char *target = xasprintf("X-Amz-Target: AmazonSQS.%s", action);
    const char *headers[] = {"Content-Type: application/x-amz-json-1.0", target};
    struct aws_request r = {.service = "sqs",
                            .method = "POST",
                            .path = "/",
                            .headers = headers,
                            .n_headers = 2,
                            .body = body,
                            .body_len = strlen(body),
                            .timeout_ms = timeout_ms,
                            .max_retries = -1};
    struct aws_response resp = {0};
    int rc = aws_call(q->aws, &r, &resp, err);
    if (rc < 0) {
        /* The JSON protocol also names the legacy code in a header. */
        const char *legacy = http_client_header(&resp.http, "x-amzn-query-error");
        if (legacy && strncmp(legacy, "AWS.SimpleQueueService.NonExistentQueue", 39) == 0)
            snprintf(err->code, sizeof err->code, "QueueDoesNotExist");
        map_error(err, action);
    } else if (out) {
        *out = json_loadb(resp.http.body ? resp.http.body : "{}",
                          resp.http.body_len ? resp.http.body_len : 2, 0, NULL);
        if (!*out)
            rc = err_set(err, "QueueError", "SQS %s answered malformed JSON", action);
    }
    aws_response_release(&resp);
    free(target);
    free(body);
    return rc;
}

static char *physical(struct queue_sqs *q, const char *name)
{
    return xasprintf("%s%s", q->prefix, name);
}

/* Returns the queue's URL (owned by the cache, valid until the adapter is freed), or NULL. */
static const char *queue_url(struct queue_sqs *q, const char *name, struct err *err)
{
    if (queue__check_name(name, err) < 0)
        return NULL;
    pthread_mutex_lock(&q->mu);
    for (struct url_entry *e = q->urls; e; e = e->next)
        if (strcmp(e->name, name) == 0) {
            pthread_mutex_unlock(&q->mu);
            return e->url;
        }
    pthread_mutex_unlock(&q->mu);
    char *phys = physical(q, name);
    json_t *out = NULL;
    int rc = sqs(q, "GetQueueUrl", json_pack("{s:s}", "QueueName", phys), 0, &out, err);
    free(phys);
    if (rc < 0)
        return NULL;
    const char *url = json_string_value(json_object_get(out, "QueueUrl"));
    if (!url) {
        json_decref(out);
        err_set(err, "QueueError", "GetQueueUrl answered no QueueUrl for '%s'", name);
        return NULL;
    }
    struct url_entry *e = xcalloc(1, sizeof *e);
    e->name = xstrdup(name);
    e->url = xstrdup(url);
    json_decref(out);
    pthread_mutex_lock(&q->mu);
    e->next = q->urls;
    q->urls = e;
    pthread_mutex_unlock(&q->mu);
    return e->url;
}

static json_t *queue_attributes(struct queue_sqs *q, const char *url, json_t *names,
                                struct err *err)
{
    json_t *out = NULL;
    if (sqs(q, "GetQueueAttributes",
            json_pack("{s:s, s:o}", "QueueUrl", url, "AttributeNames", names), 0, &out, err) < 0)
        return NULL;
    json_t *a = json_incref(json_object_get(out, "Attributes"));
    json_decref(out);
    return a ? a : json_object();
}

/* The port name of a queue ARN ("arn:aws:sqs:region:account:<prefix><name>"), or NULL. */
static char *name_of_arn(struct queue_sqs *q, const char *arn)
{
    const char *last = arn ? strrchr(arn, ':') : NULL;
    if (!last)
        return NULL;
    last++;
    size_t n = strlen(q->prefix);
    if (strncmp(last, q->prefix, n) != 0)
        return NULL;
    return xstrdup(last + n);
}

/* ---------------------------------------------------------------- queues */

static int sq_ensure(struct queue *base, const char *name, const struct queue_attrs *attrs,
                     struct err *err)
{
    struct queue_sqs *q = (struct queue_sqs *)base;
    if (queue__check_name(name, err) < 0)
        return -1;
    json_t *a = json_object();
    if (attrs) {
        if (attrs->visibility_timeout_s < 0 ||
            attrs->visibility_timeout_s > QUEUE_VISIBILITY_MAX_S || attrs->delay_s < 0 ||
            attrs->delay_s > QUEUE_DELAY_MAX_S || attrs->max_receive_count < 0 ||
            attrs->max_receive_count > 1000) {
            json_decref(a);
            return err_set(err, "InvalidAttributeValue", "queue attributes out of range");
        }
        char buf[32];
        snprintf(buf, sizeof buf, "%d", attrs->visibility_timeout_s);
        json_object_set_new(a, "VisibilityTimeout", json_string(buf));
        snprintf(buf, sizeof buf, "%d", attrs->delay_s);
        json_object_set_new(a, "DelaySeconds", json_string(buf));
        if (attrs->dead_letter_target) {
            const char *dlq = queue_url(q, attrs->dead_letter_target, err);
            json_t *da = dlq ? queue_attributes(q, dlq, json_pack("[s]", "QueueArn"), err) : NULL;
            const char *arn = json_string_value(json_object_get(da, "QueueArn"));
            if (!arn) {
                json_decref(da);
                json_decref(a);
                if (!dlq || !da)
                    return -1;
                return err_set(err, "QueueError", "no ARN for dead-letter queue '%s'",
                               attrs->dead_letter_target);
            }
            json_t *rp = json_pack("{s:s, s:i}", "deadLetterTargetArn", arn, "maxReceiveCount",
                                   attrs->max_receive_count ? attrs->max_receive_count
                                                            : QUEUE_MAX_RECEIVE_DEFAULT);
            char *rps = jsontext_dump(rp);
            json_object_set_new(a, "RedrivePolicy", json_string(rps));
            free(rps);
            json_decref(rp);
            json_decref(da);
        } else {
            json_object_set_new(a, "RedrivePolicy", json_string(""));
        }
    }
    char *phys = physical(q, name);
    json_t *req = json_pack("{s:s}", "QueueName", phys);
    free(phys);
    if (attrs) {
        json_t *create = json_deep_copy(a);
        if (json_string_length(json_object_get(create, "RedrivePolicy")) == 0)
            json_object_del(create, "RedrivePolicy");
        json_object_set_new(req, "Attributes", create);
    }
    json_t *out = NULL;
    int rc = sqs(q, "CreateQueue", req, 0, &out, err);
    json_decref(out);
    if (rc < 0 && attrs &&
        (strstr(err->message, "QueueAlreadyExists") || strstr(err->message, "QueueNameExists"))) {
        /* It exists with other attributes: change them. */
        const char *url = queue_url(q, name, err);
        rc = url ? sqs(q, "SetQueueAttributes",
                       json_pack("{s:s, s:O}", "QueueUrl", url, "Attributes", a), 0, NULL, err)
                 : -1;
    }
    json_decref(a);
    return rc;
}

static int sq_list(struct queue *base, json_t **out, struct err *err)
{
    struct queue_sqs *q = (struct queue_sqs *)base;
    json_t *resp = NULL;
    json_t *req = json_object();
    if (*q->prefix)
        json_object_set_new(req, "QueueNamePrefix", json_string(q->prefix));
    if (sqs(q, "ListQueues", req, 0, &resp, err) < 0)
        return -1;
    json_t *list = json_array();
    size_t i;
    json_t *u;
    int rc = 0;
    json_array_foreach(json_object_get(resp, "QueueUrls"), i, u) {
        json_t *a = queue_attributes(q, json_string_value(u), json_pack("[s]", "All"), err);
        if (!a) {
            rc = -1;
            break;
        }
        char *name = name_of_arn(q, json_string_value(json_object_get(a, "QueueArn")));
        if (name) {
            json_t *row = json_pack(
                "{s:s, s:i, s:i}", "name", name, "visibilityTimeout",
                atoi(or_default(json_string_value(json_object_get(a, "VisibilityTimeout")), "30")),
                "delaySeconds",
                atoi(or_default(json_string_value(json_object_get(a, "DelaySeconds")), "0")));
            json_t *rp = json_loads(
                or_default(json_string_value(json_object_get(a, "RedrivePolicy")), ""), 0, NULL);
            char *dlq = rp ? name_of_arn(q, json_string_value(
                                                json_object_get(rp, "deadLetterTargetArn")))
                           : NULL;
            if (dlq) {
                json_t *mrc = json_object_get(rp, "maxReceiveCount");
                json_object_set_new(row, "redrivePolicy",
                                    json_pack("{s:s, s:I}", "deadLetterTarget", dlq,
                                              "maxReceiveCount",
                                              json_is_string(mrc)
                                                  ? (json_int_t)atoll(json_string_value(mrc))
                                                  : json_integer_value(mrc)));
            }
            free(dlq);
            json_decref(rp);
            json_array_append_new(list, row);
        }
        free(name);
        json_decref(a);
    }
    json_decref(resp);
    if (rc < 0) {
        json_decref(list);
        return -1;
    }
    /* Sorted by name, as the port promises. */
    size_t n = json_array_size(list);
    for (size_t a = 1; a < n; a++)
        for (size_t b = a; b > 0; b--) {
            json_t *x = json_array_get(list, b - 1), *y = json_array_get(list, b);
            if (strcmp(json_string_value(json_object_get(x, "name")),
                       json_string_value(json_object_get(y, "name"))) <= 0)
                break;
            json_incref(x);
            json_array_set(list, b - 1, y);
            json_array_set_new(list, b, x);
        }
    *out = list;
    return 0;
}

/* ---------------------------------------------------------------- messages */

static int sq_send(struct queue *base, const char *name, const char *body, const json_t *attributes,
                   int delay_s, char message_id[37], struct err *err)
{
    struct queue_sqs *q = (struct queue_sqs *)base;
    if (queue__check_message(body, attributes, err) < 0)
        return -1;
    if (delay_s > QUEUE_DELAY_MAX_S)
        return err_set(err, "InvalidParameterValue", "DelaySeconds must be 0..%d",
                       QUEUE_DELAY_MAX_S);
    const char *url = queue_url(q, name, err);
    if (!url)
        return -1;
    json_t *req = json_pack("{s:s, s:s}", "QueueUrl", url, "MessageBody", body);
    if (delay_s >= 0)
        json_object_set_new(req, "DelaySeconds", json_integer(delay_s));
    /* The trace header travels as SQS's own AWSTraceHeader system attribute, which X-Ray reads;
     * every other attribute is a message attribute. */
    const json_t *trace = attributes ? json_object_get(attributes, SQS_TRACE_ATTRIBUTE) : NULL;
    json_t *plain = attributes ? json_deep_copy(attributes) : json_object();
    json_object_del(plain, SQS_TRACE_ATTRIBUTE);
    if (json_object_size(plain) > 0)
        json_object_set_new(req, "MessageAttributes", plain);
    else
        json_decref(plain);
    if (trace)
        json_object_set_new(req, "MessageSystemAttributes",
                            json_pack("{s:{s:s, s:O}}", SQS_TRACE_ATTRIBUTE, "DataType", "String",
                                      "StringValue", json_object_get(trace, "StringValue")));
    json_t *out = NULL;
    if (sqs(q, "SendMessage", req, 0, &out, err) < 0)
        return -1;
    const char *id = json_string_value(json_object_get(out, "MessageId"));
    snprintf(message_id, 37, "%s", id ? id : "");
    json_decref(out);
    return id ? 0 : err_set(err, "QueueError", "SendMessage answered no MessageId");
}

/* Trims an SQS message to the port's shape. New reference. */
static json_t *port_message(const json_t *m, int keep_receipt)
{
    json_t *o = json_object();
    static const char *const fields[] = {
        "MessageId", "ReceiptHandle",          "MD5OfBody",
        "Body",      "MD5OfMessageAttributes", "MessageAttributes"};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        json_t *v = json_object_get(m, fields[i]);
        if (v && (keep_receipt || i != 1))
            json_object_set(o, fields[i], v);
    }
    json_t *attrs = json_object();
    static const char *const keep[] = {"ApproximateReceiveCount", "SentTimestamp",
                                       "ApproximateFirstReceiveTimestamp"};
    for (size_t i = 0; i < 3; i++) {
        json_t *v = json_object_get(json_object_get(m, "Attributes"), keep[i]);
        if (v)
            json_object_set(attrs, keep[i], v);
    }
    json_object_set_new(o, "Attributes", attrs);
    /* The port carries the trace header as a message attribute (what queue_send took). */
    const char *th = json_string_value(
        json_object_get(json_object_get(m, "Attributes"), SQS_TRACE_ATTRIBUTE));
    if (th) {
        json_t *ma = json_object_get(o, "MessageAttributes");
        ma = json_is_object(ma) ? json_deep_copy(ma) : json_object();
        json_object_set_new(ma, SQS_TRACE_ATTRIBUTE,
                            json_pack("{s:s, s:s}", "DataType", "String", "StringValue", th));
        json_object_set_new(o, "MessageAttributes", ma);
    }
    return o;
}

/* Receives raw SQS messages (new array) from url. */
static json_t *receive_raw(struct queue_sqs *q, const char *url, int max, int visibility, int wait,
                           struct err *err)
{
    json_t *req = json_pack("{s:s, s:i, s:i, s:[s], s:[s], s:[s]}", "QueueUrl", url,
                            "MaxNumberOfMessages", max, "WaitTimeSeconds", wait, "AttributeNames",
                            "All", "MessageSystemAttributeNames", "All", "MessageAttributeNames",
                            "All");
    if (visibility >= 0)
        json_object_set_new(req, "VisibilityTimeout", json_integer(visibility));
    json_t *out = NULL;
    if (sqs(q, "ReceiveMessage", req, (long)(wait + 10) * 1000, &out, err) < 0)
        return NULL;
    json_t *msgs = json_object_get(out, "Messages");
    json_t *r = json_is_array(msgs) ? json_incref(msgs) : json_array();
    json_decref(out);
    return r;
}

static int sq_receive(struct queue *base, const char *name, const struct queue_receive_opts *o,
                      json_t **out, struct err *err)
{
    struct queue_sqs *q = (struct queue_sqs *)base;
    if (!o || o->max_messages < 1 || o->max_messages > QUEUE_RECEIVE_MAX || o->wait_time_s < 0 ||
        o->wait_time_s > QUEUE_WAIT_MAX_S || o->visibility_timeout_s < -1 ||
        o->visibility_timeout_s > QUEUE_VISIBILITY_MAX_S)
        return err_set(err, "InvalidParameterValue",
                       "receive needs 1..10 messages, a wait of 0..20 s and a visibility of "
                       "-1..43200 s");
    const char *url = queue_url(q, name, err);
    if (!url)
        return -1;
    json_t *raw = receive_raw(q, url, o->max_messages, o->visibility_timeout_s, o->wait_time_s,
                              err);
    if (!raw)
        return -1;
    json_t *list = json_array();
    size_t i;
    json_t *m;
    json_array_foreach(raw, i, m)
        json_array_append_new(list, port_message(m, 1));
    json_decref(raw);
    *out = list;
    return 0;
}

static int sq_delete(struct queue *base, const char *name, const char *receipt, struct err *err)
{
    struct queue_sqs *q = (struct queue_sqs *)base;
    const char *url = queue_url(q, name, err);
    if (!url)
        return -1;
    if (!receipt || !*receipt || strlen(receipt) > QUEUE_RECEIPT_MAX)
        return err_set(err, "ReceiptHandleIsInvalid", "receipt handle is empty or too long");
    return sqs(q, "DeleteMessage",
               json_pack("{s:s, s:s}", "QueueUrl", url, "ReceiptHandle", receipt), 0, NULL, err);
}

static int sq_change_visibility(struct queue *base, const char *name, const char *receipt,
                                int timeout_s, struct err *err)
{
    struct queue_sqs *q = (struct queue_sqs *)base;
    if (timeout_s < 0 || timeout_s > QUEUE_VISIBILITY_MAX_S)
        return err_set(err, "InvalidParameterValue", "VisibilityTimeout must be 0..%d",
                       QUEUE_VISIBILITY_MAX_S);
    const char *url = queue_url(q, name, err);
    if (!url)
        return -1;
    if (!receipt || !*receipt || strlen(receipt) > QUEUE_RECEIPT_MAX)
        return err_set(err, "ReceiptHandleIsInvalid", "receipt handle is empty or too long");
    return sqs(q, "ChangeMessageVisibility",
               json_pack("{s:s, s:s, s:i}", "QueueUrl", url, "ReceiptHandle", receipt,
                         "VisibilityTimeout", timeout_s),
               0, NULL, err);
}

static long long attr_ll(const json_t *a, const char *name)
{
    const char *v = json_string_value(json_object_get(a, name));
    return v ? atoll(v) : 0;
}

static int sq_counts(struct queue *base, const char *name, struct queue_counts *c, struct err *err)
{
    struct queue_sqs *q = (struct queue_sqs *)base;
    const char *url = queue_url(q, name, err);
    if (!url)
        return -1;
    json_t *a = queue_attributes(q, url,
                                 json_pack("[s,s,s]", "ApproximateNumberOfMessages",
                                           "ApproximateNumberOfMessagesNotVisible",
                                           "ApproximateNumberOfMessagesDelayed"),
                                 err);
    if (!a)
        return -1;
    c->visible = attr_ll(a, "ApproximateNumberOfMessages");
    c->in_flight = attr_ll(a, "ApproximateNumberOfMessagesNotVisible");
    c->delayed = attr_ll(a, "ApproximateNumberOfMessagesDelayed");
    json_decref(a);
    return 0;
}

static int sq_purge(struct queue *base, const char *name, long long *purged, struct err *err)
{
    struct queue_sqs *q = (struct queue_sqs *)base;
    struct queue_counts c = {0};
    if (sq_counts(base, name, &c, err) < 0)
        return -1;
    const char *url = queue_url(q, name, err);
    if (!url || sqs(q, "PurgeQueue", json_pack("{s:s}", "QueueUrl", url), 0, NULL, err) < 0)
        return -1;
    if (purged)
        *purged = c.visible + c.in_flight + c.delayed;
    return 0;
}

/* SQS cannot delete by content, and receiving every message to look would disturb the
 * consumers: nothing is deleted, *erased is -1, and the worker drops the actions of erased
 * sessions when they arrive. The queue must still exist. */
static int sq_erase_matching(struct queue *base, const char *name, const char *needle,
                             long long *erased, struct err *err)
{
    struct queue_sqs *q = (struct queue_sqs *)base;
    (void)needle;
    if (!queue_url(q, name, err))
        return -1;
    if (erased)
        *erased = -1;
    return 0;
}

static int sq_peek(struct queue *base, const char *name, int max, json_t **out, struct err *err)
{
    struct queue_sqs *q = (struct queue_sqs *)base;
    if (max < 1 || max > 1000)
        return err_set(err, "InvalidParameterValue", "peek takes 1..1000 messages");
    const char *url = queue_url(q, name, err);
    if (!url)
        return -1;
    json_t *list = json_array();
    json_t *seen = json_object();
    for (int round = 0; round < SQS_PEEK_ROUNDS && json_array_size(list) < (size_t)max; round++) {
        size_t want = (size_t)max - json_array_size(list);
        json_t *raw = receive_raw(q, url, want > 10 ? 10 : (int)want, 0, 0, err);
        if (!raw) {
            json_decref(list);
            json_decref(seen);
            return -1;
        }
        size_t fresh = 0, i;
        json_t *m;
        json_array_foreach(raw, i, m) {
            const char *id = json_string_value(json_object_get(m, "MessageId"));
            if (!id || json_object_get(seen, id))
                continue;
            json_object_set_new(seen, id, json_true());
            json_t *pm = port_message(m, 0);
            json_object_set_new(pm, "Visible", json_true());
            char *src = name_of_arn(q, json_string_value(
                                           json_object_get(json_object_get(m, "Attributes"),
                                                           "DeadLetterQueueSourceArn")));
            if (src)
                json_object_set_new(pm, "SourceQueue", json_string(src));
            free(src);
            json_array_append_new(list, pm);
            fresh++;
        }
        json_decref(raw);
        if (fresh == 0)
            break;
    }
    json_decref(seen);
    *out = list;
    return 0;
}

static int sq_redrive(struct queue *base, const char *dlq, const char *source, long long max,
                      long long *moved, struct err *err)
{
    struct queue_sqs *q = (struct queue_sqs *)base;
    const char *url = queue_url(q, dlq, err);
    if (!url)
        return -1;
    long long n = 0;
    int rc = 0;
    while (max <= 0 || n < max) {
        long long want = max > 0 ? max - n : 10;
        /* Hidden while we move them; left alone (visible again soon) when they cannot go. */
        json_t *raw = receive_raw(q, url, want > 10 ? 10 : (int)want, 30, 0, err);
        if (!raw) {
            rc = -1;
            break;
        }
        if (json_array_size(raw) == 0) {
            json_decref(raw);
            break;
        }
        size_t i;
        json_t *m;
        json_array_foreach(raw, i, m) {
            char *dest = source
                             ? xstrdup(source)
                             : name_of_arn(q, json_string_value(
                                                  json_object_get(json_object_get(m, "Attributes"),
                                                                  "DeadLetterQueueSourceArn")));
            const char *body = json_string_value(json_object_get(m, "Body"));
            char id[37];
            struct err e2;
            json_t *pm = port_message(m, 0); /* keeps the trace header with the message */
            if (dest && body &&
                sq_send(base, dest, body, json_object_get(pm, "MessageAttributes"), 0, id, &e2) ==
                    0 &&
                sq_delete(base, dlq, json_string_value(json_object_get(m, "ReceiptHandle")), &e2) ==
                    0) {
                n++;
            } else {
                log_at(LL_WARN, "queue", "message '%s' of '%s' stays: %s",
                       json_string_value(json_object_get(m, "MessageId")), dlq,
                       dest ? "it could not be moved" : "its source queue is unknown");
            }
            json_decref(pm);
            free(dest);
        }
        json_decref(raw);
    }
    if (moved)
        *moved = n;
    return rc;
}

/* ---------------------------------------------------------------- lifecycle */

static void sq_free(struct queue *base)
{
    struct queue_sqs *q = (struct queue_sqs *)base;
    while (q->urls) {
        struct url_entry *e = q->urls;
        q->urls = e->next;
        free(e->name);
        free(e->url);
        free(e);
    }
    pthread_mutex_destroy(&q->mu);
    aws_client_free(q->aws);
    free(q->prefix);
    free(q);
}

static const struct queue_ops sqs_ops = {
    .name = "sqs",
    .ensure = sq_ensure,
    .list = sq_list,
    .send = sq_send,
    .receive = sq_receive,
    .delete_message = sq_delete,
    .change_visibility = sq_change_visibility,
    .counts = sq_counts,
    .purge = sq_purge,
    .erase_matching = sq_erase_matching,
    .peek = sq_peek,
    .redrive = sq_redrive,
    .free = sq_free,
};

struct queue *queue_sqs_new(const struct queue_sqs_config *cfg, struct err *err)
{
    const char *prefix = cfg->name_prefix ? cfg->name_prefix : "";
    if (strlen(prefix) + strlen(QUEUE_AGENT_ACTIONS_DLQ) > QUEUE_NAME_MAX) {
        err_set(err, "QueueError", "queue name prefix '%s' leaves no room for the queue names",
                prefix);
        return NULL;
    }
    struct queue_sqs *q = xcalloc(1, sizeof *q);
    q->base.ops = &sqs_ops;
    struct http_client_config hc = {.timeout_ms = 10000, .max_idle_handles = 8};
    q->aws = aws_client_new(cfg->aws, &hc);
    q->prefix = xstrdup(prefix);
    pthread_mutex_init(&q->mu, NULL);
    return &q->base;
}

struct queue *queue_sqs_from_config(const struct config *c, struct err *err)
{
    struct aws_config aws;
    if (aws_config_from_env(&aws, err) < 0)
        return NULL;
    struct queue_sqs_config cfg = {.aws = &aws,
                                   .name_prefix = c->queue_prefix[0] ? c->queue_prefix : NULL};
    struct queue *q = queue_sqs_new(&cfg, err);
    aws_config_release(&aws);
    return q;
}

struct queue *queue_sqs_from_env(struct err *err)
{
    struct config c;
    struct queue *q = NULL;
    if (config_load(&c, err) == 0)
        q = queue_sqs_from_config(&c, err);
    config_release(&c);
    return q;
}
