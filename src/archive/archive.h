/*
 * archive.h - the transcript archive port: an object store shaped like S3.
 *
 * One JSON document per session lives at the key `{yyyy}/{mm}/{dd}/{sessionId}.json`, the UTC date
 * the session started (archive_key_for). Objects are opaque bytes: put replaces an object
 * atomically, get returns it from whichever tier holds it, list walks keys in byte order like
 * ListObjectsV2, and lifecycle moves objects whose last-modified time is older than a limit to the
 * cold tier (the stand-in for S3's transition to GLACIER), keeping their last-modified time.
 *
 * Adapters: archive_fs.c (files under a root directory, the embedded default) and, later, S3.
 * Every function returns 0 or -1 with err set; codes: "InvalidKey" (the key breaks the rules of
 * archive_key_check), "NotFound", "TooLarge" (over ARCHIVE_OBJECT_MAX), "ArchiveCorrupt" (a cold
 * object that does not decompress), "ArchiveError" (I/O, naming the path and errno text).
 * Adapters are thread-safe, and several processes may share one archive.
 */
#ifndef PARLEY_ARCHIVE_H
#define PARLEY_ARCHIVE_H

#include <assert.h>

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/* ---------------------------------------------------------------- limits */

#define ARCHIVE_KEY_MAX 512            /* bytes of a key, NUL excluded (S3 allows 1024) */
#define ARCHIVE_COMPONENT_MAX 200      /* bytes of one '/'-separated component */
#define ARCHIVE_DEPTH_MAX 8            /* components of a key */
#define ARCHIVE_SESSION_ID_MAX 128     /* bytes of a session id in archive_key_for */
#define ARCHIVE_OBJECT_MAX (64u << 20) /* bytes of one object, stored or decompressed */
#define ARCHIVE_LIST_MAX 1000          /* keys returned by one list call (as S3's MaxKeys) */

/* ---------------------------------------------------------------- keys */

/* Writes `{yyyy}/{mm}/{dd}/{session_id}.json` into buf for the UTC date of created_at_ms (epoch
 * milliseconds). Returns 0, or -1 with err "InvalidKey" when session_id is empty, longer than
 * ARCHIVE_SESSION_ID_MAX, starts with '.', or holds a byte outside [A-Za-z0-9._-]; with
 * "InvalidArgument" when created_at_ms is negative or past the year 9999, or buf is too small
 * (ARCHIVE_KEY_MAX + 1 always suffices). */
int archive_key_for(const char *session_id, int64_t created_at_ms, char *buf, size_t len,
                    struct err *err);

/* Checks a key: 1..ARCHIVE_KEY_MAX bytes of [A-Za-z0-9._-/], not absolute, no empty component
 * (`a//b`, trailing '/'), no component starting with '.' (so no `.` or `..`, and no clash with
 * the adapter's temporary files), at most ARCHIVE_DEPTH_MAX components of at most
 * ARCHIVE_COMPONENT_MAX bytes. Returns 0, or -1 with err "InvalidKey" saying which rule broke. */
int archive_key_check(const char *key, struct err *err);

/* Checks a list prefix: "" or a key prefix under the same byte rules (it may end with '/'). */
int archive_prefix_check(const char *prefix, struct err *err);

/* ---------------------------------------------------------------- the port */

struct archive;

/* One object of a batch put (archive_put_many): the caller fills key, bytes and len; the call
 * fills rc and err. */
struct archive_put_item {
    const char *key;   /* borrowed */
    const void *bytes; /* borrowed */
    size_t len;        /* bytes at bytes */
    int rc;            /* out: 0 when the object is stored and durable, else -1 */
    struct err err;    /* out: why rc is -1 */
};

/* What one lifecycle pass did. */
struct archive_lifecycle_stats {
    size_t scanned; /* objects examined in the hot tier */
    size_t moved;   /* objects now in the cold tier */
    size_t failed;  /* objects that could not be moved (each logged); they stay hot */
};

struct archive_ops {
    const char *name; /* "fs", "s3" */

    /* Stores len bytes at key, replacing any object there (in either tier) atomically: readers
     * see the old bytes or the new ones, never a mix. Durable on return. TooLarge past
     * ARCHIVE_OBJECT_MAX. */
    int (*put)(struct archive *a, const char *key, const void *bytes, size_t len, struct err *err);

    /* Reads the object at key from either tier, decompressing the cold tier. *out is a new
     * buffer owned by the caller (free()), NUL-terminated after *out_len bytes. NotFound when no
     * tier holds the key; ArchiveCorrupt when the cold copy does not decompress. */
    int (*get)(struct archive *a, const char *key, char **out, size_t *out_len, struct err *err);

    /* Lists objects whose key starts with prefix ("" for all) and sorts after start_after (NULL
     * or "" for the first page), in byte order, at most max_keys (1..ARCHIVE_LIST_MAX). *out is
     * a new object owned by the caller: {"objects": [{"key", "size" (bytes of the object's
     * content), "lastModified" (epoch ms), "storageClass": "STANDARD"|"GLACIER"}],
     * "isTruncated": bool}. Pass the last key as start_after to read the next page. */
    int (*list)(struct archive *a, const char *prefix, const char *start_after, int max_keys,
                json_t **out, struct err *err);

    /* Deletes the object at key from both tiers. Deleting a missing key succeeds (as in S3). */
    int (*del)(struct archive *a, const char *key, struct err *err);

    /* Moves every hot object last modified before now_ms - days * 86400000 to the cold tier.
     * Fills *stats; when moved_keys (a JSON array) is not NULL, appends each moved key to it.
     * An object that cannot be moved is logged, counted in stats->failed and left hot; the call
     * still returns 0. -1 only when the pass cannot run at all (days < 0, unreadable root). */
    int (*lifecycle)(struct archive *a, int days, int64_t now_ms,
                     struct archive_lifecycle_stats *stats, json_t *moved_keys, struct err *err);

    void (*free)(struct archive *a);

    /* Optional (NULL falls back to put, one item at a time). Stores n objects as put would,
     * each one independently: an item whose rc is 0 is durable on return, exactly as after put;
     * an item that fails (rc -1, its err set) leaves its key as it was, or holding the new bytes
     * without the guarantee that they survive a crash. Adapters batch what they can, e.g. one
     * fsync per directory instead of one per object. Returns how many items failed. Last in the
     * struct so adapters initialised positionally need no change. */
    size_t (*put_many)(struct archive *a, struct archive_put_item *items, size_t n);
};

struct archive {
    const struct archive_ops *ops; /* the adapter */
};

/* ---------------------------------------------------------------- wrappers */

static inline int archive_put(struct archive *a, const char *key, const void *bytes, size_t len,
                              struct err *err)
{
    assert(a);
    return a->ops->put(a, key, bytes, len, err);
}

/* Stores n objects (see put_many); adapters without put_many get one put per item. Sets every
 * item's rc and err; returns how many failed. Defined in archive.c. */
size_t archive_put_many(struct archive *a, struct archive_put_item *items, size_t n);

static inline int archive_get(struct archive *a, const char *key, char **out, size_t *out_len,
                              struct err *err)
{
    assert(a);
    return a->ops->get(a, key, out, out_len, err);
}

static inline int archive_list(struct archive *a, const char *prefix, const char *start_after,
                               int max_keys, json_t **out, struct err *err)
{
    assert(a);
    return a->ops->list(a, prefix, start_after, max_keys, out, err);
}

static inline int archive_delete(struct archive *a, const char *key, struct err *err)
{
    assert(a);
    return a->ops->del(a, key, err);
}

static inline int archive_lifecycle(struct archive *a, int days, int64_t now_ms,
                                    struct archive_lifecycle_stats *stats, json_t *moved_keys,
                                    struct err *err)
{
    assert(a);
    return a->ops->lifecycle(a, days, now_ms, stats, moved_keys, err);
}

/* The adapter's name ("fs", "s3"), for logs and the CLI. */
static inline const char *archive_name(const struct archive *a)
{
    assert(a);
    return a->ops->name;
}

/* Frees the adapter. Accepts NULL. */
static inline void archive_free(struct archive *a)
{
    if (a)
        a->ops->free(a);
}

/* ---------------------------------------------------------------- adapters */

/* The embedded adapter: objects at `<root_dir>/hot/<key>`, the cold tier at
 * `<root_dir>/cold/<key>.gz` (gzip). Creates the directories when missing. Writes are durable
 * (temporary file in the same directory, fsync, rename, fsync of the directory). Returns a new
 * archive owned by the caller (archive_free), or NULL with err "ArchiveError" naming the path. */
struct archive *archive_fs_new(const char *root_dir, struct err *err);

/* As archive_fs_new, but puts go to one pack file per key directory (one per day of
 * transcripts: `<root_dir>/hot/{yyyy}/{mm}/{dd}/.pack`, pack.h) instead of one file per object:
 * appended under a lock and fdatasynced, a torn tail skipped on read and cut off by the next
 * writer. Delete rewrites the pack without the object. Objects written per file before (an older
 * archive) stay readable, listable, deletable and movable to the cold tier. */
struct archive *archive_fs_new_packed(const char *root_dir, struct err *err);

#endif
