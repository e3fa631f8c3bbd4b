/*
 * queue_sqs.h - the Amazon SQS adapter of the queue port (queue.h), over the SQS JSON protocol
 * (AmazonSQS.<Action>, application/x-amz-json-1.0) signed with SigV4.
 *
 * Port queue names map to SQS queue names as prefix + name (the SAM template names them
 * "<stack>-AgentActions" and "<stack>-AgentActions-DLQ"); URLs are looked up once with
 * GetQueueUrl and cached. Received messages are SQS's own, trimmed to the attributes the port
 * documents. SQS has no way to look at a queue without receiving, so peek receives with a
 * visibility timeout of 0 (as the AWS console's "poll for messages" does), which counts as a
 * receive; redrive moves messages one by one (receive, send to the source named by
 * DeadLetterQueueSourceArn or the given one, delete) so that max and *moved are exact; purge
 * reports the approximate count it removed (PurgeQueue answers no number). Errors keep SQS's
 * codes; anything else is "QueueError" naming the AWS code. The port's "AWSTraceHeader"
 * attribute travels as SQS's AWSTraceHeader system attribute (SendMessage's
 * MessageSystemAttributes, which X-Ray joins) and comes back from the received message's
 * Attributes as that port attribute again (MD5OfMessageAttributes covers the others only).
 */
#ifndef PARLEY_QUEUE_SQS_H
#define PARLEY_QUEUE_SQS_H

#include "aws/aws.h"
#include "queue/queue.h"

struct queue_sqs_config {
    const struct aws_config *aws; /* region, credentials, endpoints (copied) */
    const char *name_prefix;      /* prepended to every queue name; NULL = "" */
};

/* Returns the adapter (queue_free) or NULL with err "QueueError" when the prefix makes names
 * longer than SQS allows. Makes no call: queues are found on first use. */
struct queue *queue_sqs_new(const struct queue_sqs_config *cfg, struct err *err);

struct config;

/* The adapter from the settings table (PARLEY_QUEUE_PREFIX) and the AWS variables. */
struct queue *queue_sqs_from_config(const struct config *c, struct err *err);

/* queue_sqs_from_config() with the settings loaded from the environment now (tests, tools). */
struct queue *queue_sqs_from_env(struct err *err);

#endif
