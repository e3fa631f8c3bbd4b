/*
 * pack.h - an append-only pack file of named records: the local archive keeps the objects of one
 * key directory (one day of transcripts) in one file instead of one file each.
 *
 * A record is a 23-byte header (magic "PKv1", a reserved byte, the name's length (u16), the
 * data's length (u32), the last-modified time (i64 epoch ms), then a CRC-32 (u32) of the header's
 * first 19 bytes, the name and the data; all integers little-endian), the name, then the data. The
 * last record of a name is its current value. A writer appends under an exclusive flock and
 * fdatasyncs before it returns; a crash mid-append leaves a torn tail (short, or failing its
 * CRC), which readers stop at and the next writer cuts off before appending. Removing a name
 * rewrites the file without it (temporary file, fsync, rename, fsync of the directory), so its
 * bytes are gone from the file, not just hidden.
 */
#ifndef PARLEY_ARCHIVE_PACK_H
#define PARLEY_ARCHIVE_PACK_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define PACK_HEADER 23            /* bytes of a record header */
#define PACK_NAME_MAX 255         /* bytes of a record name */
#define PACK_DATA_MAX (64u << 20) /* bytes of a record's data (ARCHIVE_OBJECT_MAX) */

/* One record to append. Strings and bytes are borrowed. */
struct pack_rec {
    const char *name; /* 1..PACK_NAME_MAX bytes, NUL-terminated */
    const void *data; /* len bytes (may be NULL when len is 0) */
    size_t len;       /* at most PACK_DATA_MAX */
    int64_t mtime_ms; /* last-modified time */
};

/* Called for each whole record of a scan, in file order (superseded ones included): name is
 * NUL-terminated, data holds len bytes (valid during the call only). Returns 0 to go on, non-zero
 * to stop the scan with that value. */
typedef int (*pack_visit_fn)(void *ud, const char *name, const char *data, size_t len,
                             int64_t mtime_ms);

/* Decides, for the current record of each name during pack_rewrite, whether it stays: 1 keeps
 * it, 0 drops it, -1 aborts the rewrite (the file is left as it was; err set by the callback). */
typedef int (*pack_keep_fn)(void *ud, const char *name, const char *data, size_t len,
                            int64_t mtime_ms, struct err *err);

/* ---------------------------------------------------------------- writing */

/* Writes len bytes to fd, or fails with errno set (the archive's fault-injection point:
 * FAULT_ARCHIVE writes half the bytes, then fails). Returns 0 or -1. */
int pack_write_all(int fd, const void *buf, size_t len);

/* Called by pack_append with the pack still locked, once the records are durable. */
typedef void (*pack_after_fn)(void *ud);

/* Appends n records to the pack at path (created 0600 when missing, its directory fsynced), under
 * an exclusive lock, after cutting off a torn tail, with one fdatasync. Returns 0 when all n are
 * durable, or -1 with err "ArchiveError" (naming the path and errno text) or "TooLarge"; on error
 * nothing of the call is visible to readers once the next writer has repaired the tail. after
 * (may be NULL) runs once the records are durable, before the lock is released. */
int pack_append(const char *path, const struct pack_rec *recs, size_t n, pack_after_fn after,
                void *ud, struct err *err);

/* Rewrites the pack at path under its lock with the current record of each name for which keep
 * returns 1, dropping superseded records. A pack left empty is removed. Sets *dropped (may be
 * NULL) to the names keep dropped. Returns 0 (also when the pack does not exist), or -1 with err;
 * on error the pack is unchanged. */
int pack_rewrite(const char *path, pack_keep_fn keep, void *ud, size_t *dropped, struct err *err);

/* ---------------------------------------------------------------- reading */

/* Visits the whole records of the pack at path, stopping at a torn tail (logged once per scan).
 * Returns 0 after the last record, 1 when the pack does not exist, the visitor's non-zero value
 * when it stopped the scan, or -1 with err. Needs no lock: an append in progress reads as a torn
 * tail. */
int pack_scan(const char *path, pack_visit_fn fn, void *ud, struct err *err);

/* Reads the current record of name: *out (new buffer, NUL-terminated after *out_len bytes) and
 * *mtime_ms (may be NULL). Returns 0, 1 when the pack or the name is absent, or -1 with err. */
int pack_get(const char *path, const char *name, char **out, size_t *out_len, int64_t *mtime_ms,
             struct err *err);

#endif
