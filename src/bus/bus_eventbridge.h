/*
 * bus_eventbridge.h - the AWS adapter of the bus port (bus.h): Amazon EventBridge PutEvents on a
 * custom event bus, where rules route events to CloudWatch Logs, the Analytics function and SNS.
 *
 * bus_put_new() puts the event's PutEvents entry in a bounded queue; one background thread sends
 * queued events in PutEvents batches of at most 10 entries and 256 KiB, and resends entries
 * PutEvents reports as failed (FailedEntryCount, per-entry ErrorCode) with doubling backoff, up to
 * max_attempts; an entry still failing, or refused by the service outright, is counted as failed
 * and logged. Each entry carries the envelope's source, detail-type, detail, resources and time,
 * plus the X-Ray trace header of the invocation that put it. Routing happens in AWS, so the
 * analytics sink is unused and "unmatched" stays 0.
 */
#ifndef PARLEY_BUS_EVENTBRIDGE_H
#define PARLEY_BUS_EVENTBRIDGE_H

#include "aws/aws.h"
#include "bus/bus.h"

#define BUS_EB_BATCH_MAX 10             /* entries per PutEvents */
#define BUS_EB_REQUEST_MAX (256 * 1024) /* bytes of entries per PutEvents (and of one entry) */

struct bus_eventbridge_config {
    const struct aws_config *aws; /* region, credentials, endpoints (copied) */
    const char *bus_name;         /* EventBusName; NULL = "default" */
    size_t queue_cap;             /* queued events at most; 0 = 4096 */
    int put_wait_ms;              /* how long a put may wait for room; 0 = 50, negative = none */
    int max_attempts;             /* sends of one entry; 0 = 3 */
    int backoff_ms;               /* first resend delay, doubled each time; 0 = 200 */
};

/* Starts the adapter. Returns the bus (bus_free) or NULL with e "InvalidConfig". */
struct bus *bus_eventbridge_new(const struct bus_eventbridge_config *cfg, struct err *e);

#endif
