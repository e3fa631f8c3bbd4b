/*
 * archive_s3.h - the Amazon S3 adapter of the archive port (archive.h): objects in one bucket
 * under the same keys, over the S3 REST API (path-style URLs, SigV4 with a signed
 * x-amz-content-sha256).
 *
 * put is PutObject (atomic on S3), get GetObject, list ListObjectsV2, delete DeleteObject. The
 * cold tier is S3's own: the bucket's lifecycle rule (deploy/template.yaml) moves objects to
 * GLACIER after 90 days, list reports their storage class, and get of a GLACIER object fails with
 * "ArchiveCold" until it is restored. The adapter's lifecycle() therefore moves nothing: it
 * counts the objects past the limit that S3 has not moved yet and reports them as scanned.
 * Other failures are "ArchiveError" naming the S3 error code.
 */
#ifndef PARLEY_ARCHIVE_S3_H
#define PARLEY_ARCHIVE_S3_H

#include "archive/archive.h"
#include "aws/aws.h"

struct archive_s3_config {
    const struct aws_config *aws; /* region, credentials, endpoints (copied) */
    const char *bucket;           /* "conversation-logs-<account-id>" */
};

/* Returns the adapter (archive_free) or NULL with err "ArchiveError" when the bucket is missing
 * or unreachable (HeadBucket). */
struct archive *archive_s3_new(const struct archive_s3_config *cfg, struct err *err);

struct config;

/* The adapter from the settings table (PARLEY_ARCHIVE_BUCKET) and the AWS variables. */
struct archive *archive_s3_from_config(const struct config *c, struct err *err);

/* archive_s3_from_config() with the settings loaded from the environment now (tests, tools). */
struct archive *archive_s3_from_env(struct err *err);

#endif
