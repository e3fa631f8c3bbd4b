/*
 * archive_fs.c - the embedded archive adapter: objects as files under a root directory.
 *
 * `<root>/hot/<key>` holds an object's bytes; `<root>/cold/<key>.gz` holds a gzip copy moved there
 * by lifecycle (the stand-in for S3 Glacier), keeping the object's last-modified time as its
 * mtime. Every write goes to a temporary file in the target directory, is fsynced, renamed over
 * the target and made durable with an fsync of the directory (STYLE rule 20), so a crash leaves the
 * old object or the new one. Ordering keeps an object readable at every instant: lifecycle writes
 * the cold copy before it removes the hot one, and put writes the hot copy before it removes a
 * cold one, and get looks in the hot tier first.
 *
 * Put and lifecycle of the same key may run at once (threads or processes, no lock): each removes
 * the other tier's file only after claiming it (rename aside) and checking that the copy it keeps
 * is still in place, and puts the claimed file back otherwise: a put removes a cold copy only while
 * its own hot file is still there, lifecycle removes a hot file only while its cold copy is still
 * there. Either way a copy of the newest version survives.
 *
 * Packed (archive_fs_new_packed, what `parley serve` uses): put appends the object to the pack of
 * its key's directory, `<root>/hot/<dir>/.pack` (pack.h: one file per day of transcripts), and
 * then, with the pack still locked, removes a per-object hot file or cold copy of the key. Reads
 * look in the pack, then at a per-object hot file (archives written before packing), then in the
 * cold tier, in every mode. Delete rewrites the pack without the key; lifecycle moves a pack's old
 * objects to the cold tier and rewrites the pack without them, under the pack's lock, so a put of
 * the same key waits for it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
#include <zlib.h>

#include "archive/archive.h"
#include "archive/pack.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/fault.h"
#include "base/log.h"
#include "base/xmalloc.h"

#define FS_IO_CHUNK (64u << 10)
#define FS_SCAN_MAX (1u << 22)    /* objects one list or lifecycle pass may hold in memory */
#define FS_GZ_OVERHEAD (1u << 20) /* a cold file may exceed its content by this much */
#define FS_MKDIR_RETRIES 8        /* a concurrent delete may prune a directory we just made */
#define FS_BATCH_OPEN 64          /* temporary files a batch put holds open at once */

struct archive_fs {
    struct archive base; /* first, so a struct archive * converts back */
    char *root;          /* as given */
    char *hot;           /* <root>/hot */
    char *cold;          /* <root>/cold */
    int packed;          /* 1: puts go to the pack of the key's directory */
};

static atomic_uint fs_claim_seq; /* makes lifecycle claim names unique within the process */

static struct archive_fs *fs_of(struct archive *a)
{
    return (struct archive_fs *)a;
}

/* ---------------------------------------------------------------- small file helpers */

static int io_error(struct err *err, const char *what, const char *path)
{
    return err_set(err, "ArchiveError", "cannot %s '%s': %s", what, path, strerror(errno));
}

static int fsync_dir(const char *dir, struct err *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return io_error(err, "open directory", dir);
    int rc = 0;
    if (fsync(fd) != 0)
        rc = io_error(err, "fsync directory", dir);
    close(fd);
    return rc;
}

/* As fsync_dir, but a directory that no longer exists counts as synced: it was pruned, which
 * needs every entry in it gone, so whoever removed ours made that durable. */
static int fsync_dir_if_present(const char *dir, struct err *err)
{
    struct stat st;
    if (stat(dir, &st) != 0 && (errno == ENOENT || errno == ENOTDIR))
        return 0;
    struct err local = {0};
    int rc = fsync_dir(dir, &local);
    if (rc != 0 && stat(dir, &st) != 0 && (errno == ENOENT || errno == ENOTDIR))
        return 0;
    if (rc != 0 && err)
        *err = local;
    return rc;
}

/* Returns bytes read (0 at end of file) or -1 with errno set. */
static ssize_t read_some(int fd, void *buf, size_t len)
{
    ssize_t r;
    do {
        r = read(fd, buf, len);
    } while (r < 0 && errno == EINTR);
    return r;
}

/* The directory part of path (everything before the last '/'), as a new string. */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? xstrndup(path, (size_t)(slash - path)) : xstrdup(".");
}

static const char *base_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* Creates tier/<every parent directory of key>, fsyncing the parent of each one it creates so
 * the new entry survives a crash. A concurrent delete may prune a directory just made (ENOENT on
 * the next level): start over, a few times. */
static int make_parents(const char *tier, const char *key, struct err *err)
{
    int rc = -1;
    char *path = xasprintf("%s/%s", tier, key);
    size_t skip = strlen(tier) + 1;
    int attempts = 0;
again:
    for (char *p = path + skip; (p = strchr(p, '/')) != NULL; p++) {
        *p = '\0';
        if (mkdir(path, 0755) == 0) {
            char *parent = dir_of(path);
            int synced = fsync_dir(parent, err);
            free(parent);
            if (synced != 0)
                goto out;
        } else if (errno == ENOENT && ++attempts < FS_MKDIR_RETRIES) {
            *p = '/';
            goto again;
        } else if (errno != EEXIST) {
            io_error(err, "create directory", path);
            goto out;
        }
        *p = '/';
    }
    rc = 0;
out:
    free(path);
    return rc;
}

/* Removes the now-empty directories between path's parent and tier, best effort: a directory
 * that still holds anything stays (rmdir refuses), which makes this safe against writers. */
static void prune_parents(const char *tier, const char *path)
{
    char *dir = dir_of(path);
    size_t tier_len = strlen(tier);
    while (strlen(dir) > tier_len && rmdir(dir) == 0) {
        char *up = dir_of(dir);
        free(dir);
        dir = up;
    }
    free(dir);
}

/* ---------------------------------------------------------------- durable replacement */

/* Fills the open temporary file fd; returns 0 or -1 with err set. */
typedef int (*fill_fn)(int fd, void *ctx, const char *tmp_path, struct err *err);

/* Writes final_path durably: a temporary file beside it filled by fill, fsync, optional mtime
 * (times, as for futimens), rename over final_path, fsync of the directory. The written file's
 * identity goes to *out_st when not NULL. On error the temporary file is removed and final_path
 * is untouched. Returns 0, -1 with err set, or -2 (err set) when the directory does not exist. */
static int write_durable(const char *final_path, fill_fn fill, void *ctx,
                         const struct timespec times[2], struct stat *out_st, struct err *err)
{
    int rc = -1, fd = -1, created = 0;
    char *dir = dir_of(final_path);
    char *tmp = xasprintf("%s/.%s.XXXXXX", dir, base_of(final_path));

    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        int missing = errno == ENOENT;
        io_error(err, "create temporary file", tmp);
        if (missing)
            rc = -2;
        goto out;
    }
    created = 1;
    if (fill(fd, ctx, tmp, err) != 0)
        goto out;
    if (fsync(fd) != 0) {
        io_error(err, "fsync", tmp);
        goto out;
    }
    if (times && futimens(fd, times) != 0) {
        io_error(err, "set the modification time of", tmp);
        goto out;
    }
    if (out_st && fstat(fd, out_st) != 0) {
        io_error(err, "stat", tmp);
        goto out;
    }
    if (close(fd) != 0) {
        fd = -1;
        io_error(err, "close", tmp);
        goto out;
    }
    fd = -1;
    if (rename(tmp, final_path) != 0) {
        io_error(err, "rename into place", final_path);
        goto out;
    }
    created = 0; /* renamed: nothing to remove */
    /* A concurrent lifecycle may already have moved the new file on and pruned the directory. */
    if (fsync_dir_if_present(dir, err) != 0)
        goto out;
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    if (rc != 0 && created)
        unlink(tmp);
    free(tmp);
    free(dir);
    return rc;
}

struct bytes_src {
    const void *bytes; /* borrowed */
    size_t len;
};

static int fill_bytes(int fd, void *ctx, const char *tmp_path, struct err *err)
{
    struct bytes_src *src = ctx;
    if (pack_write_all(fd, src->bytes, src->len) != 0)
        return io_error(err, "write", tmp_path);
    return 0;
}

struct gzip_src {
    int in_fd;           /* the hot object, read from its current offset (when mem is NULL) */
    const char *in_path; /* for messages */
    const char *mem;     /* or the object's bytes in memory */
    size_t mem_len, mem_off;
};

/* Reads the next bytes of src into buf: as read_some. */
static ssize_t gzip_src_read(struct gzip_src *src, unsigned char *buf, size_t len)
{
    if (!src->mem)
        return read_some(src->in_fd, buf, len);
    size_t n = src->mem_len - src->mem_off < len ? src->mem_len - src->mem_off : len;
    memcpy(buf, src->mem + src->mem_off, n);
    src->mem_off += n;
    return (ssize_t)n;
}

/* Compresses src->in_fd into fd in the gzip format (zlib windowBits 15 + 16). */
static int fill_gzip(int fd, void *ctx, const char *tmp_path, struct err *err)
{
    struct gzip_src *src = ctx;
    int rc = -1, zrc, flush;
    unsigned char *in = xmalloc(FS_IO_CHUNK), *out = xmalloc(FS_IO_CHUNK);
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
        Z_OK) {
        err_set(err, "ArchiveError", "cannot start gzip compression for '%s'", src->in_path);
        free(in);
        free(out);
        return -1;
    }
    do {
        ssize_t r = gzip_src_read(src, in, FS_IO_CHUNK);
        if (r < 0) {
            io_error(err, "read", src->in_path);
            goto out;
        }
        z.next_in = in;
        z.avail_in = (uInt)r;
        flush = r == 0 ? Z_FINISH : Z_NO_FLUSH;
        do {
            z.next_out = out;
            z.avail_out = FS_IO_CHUNK;
            zrc = deflate(&z, flush);
            if (zrc == Z_STREAM_ERROR) {
                err_set(err, "ArchiveError", "gzip compression of '%s' failed", src->in_path);
                goto out;
            }
            if (pack_write_all(fd, out, FS_IO_CHUNK - z.avail_out) != 0) {
                io_error(err, "write", tmp_path);
                goto out;
            }
        } while (z.avail_out == 0);
    } while (flush != Z_FINISH);
    rc = zrc == Z_STREAM_END
             ? 0
             : err_set(err, "ArchiveError", "gzip stream of '%s' did not end", src->in_path);
out:
    deflateEnd(&z);
    free(in);
    free(out);
    return rc;
}

/* Writes tier/key (final_path) durably, creating its directories; retries when a concurrent
 * delete prunes the directory between mkdir and the temporary file. */
static int write_object(const char *tier, const char *key, const char *final_path, fill_fn fill,
                        void *ctx, const struct timespec times[2], struct stat *out_st,
                        struct err *err)
{
    for (int attempt = 0;; attempt++) {
        if (make_parents(tier, key, err) != 0)
            return -1;
        int w = write_durable(final_path, fill, ctx, times, out_st, err);
        if (w != -2 || attempt + 1 == FS_MKDIR_RETRIES)
            return w == 0 ? 0 : -1;
    }
}

/* ---------------------------------------------------------------- reading */

/* Reads a whole hot file. Returns 0, 1 when it does not exist, or -1 with err set. */
static int read_hot(const char *path, const char *key, char **out, size_t *out_len, struct err *err)
{
    int rc = -1;
    char *buf = NULL;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return 1;
        return io_error(err, "open", path);
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        io_error(err, "stat", path);
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        err_set(err, "ArchiveError", "'%s' is not a regular file", path);
        goto out;
    }
    if ((uint64_t)st.st_size > ARCHIVE_OBJECT_MAX) {
        err_set(err, "TooLarge", "object '%s' is %lld bytes, over the %u-byte cap", key,
                (long long)st.st_size, ARCHIVE_OBJECT_MAX);
        goto out;
    }
    size_t cap = (size_t)st.st_size, len = 0;
    buf = xmalloc(cap + 1);
    for (;;) {
        if (len == cap) {
            /* The file may have grown since fstat (it never should); stay within the cap. */
            char probe;
            ssize_t r = read_some(fd, &probe, 1);
            if (r < 0) {
                io_error(err, "read", path);
                goto out;
            }
            if (r > 0) {
                err_set(err, "ArchiveError", "'%s' changed while being read", path);
                goto out;
            }
            break;
        }
        ssize_t r = read_some(fd, buf + len, cap - len);
        if (r < 0) {
            io_error(err, "read", path);
            goto out;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    buf[len] = '\0';
    *out = buf;
    *out_len = len;
    buf = NULL;
    rc = 0;
out:
    free(buf);
    close(fd);
    return rc;
}

/* Decompresses a cold file, refusing output past ARCHIVE_OBJECT_MAX. Returns 0, 1 when it does
 * not exist, or -1 with err ("ArchiveCorrupt" for a bad gzip stream). */
static int read_cold(const char *path, const char *key, char **out, size_t *out_len,
                     struct err *err)
{
    int rc = -1, zrc = Z_OK;
    unsigned char *in = NULL;
    struct buf plain; /* the inflated content, capped at ARCHIVE_OBJECT_MAX */
    int full = 0;     /* the last inflate() filled all the room it was given */
    buf_init(&plain, ARCHIVE_OBJECT_MAX);
    z_stream z;
    memset(&z, 0, sizeof z);
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return 1;
        return io_error(err, "open", path);
    }
    if (inflateInit2(&z, 15 + 16) != Z_OK) {
        close(fd);
        return err_set(err, "ArchiveError", "cannot start gzip decompression for '%s'", path);
    }
    in = xmalloc(FS_IO_CHUNK);
    uint64_t total_in = 0;
    while (zrc != Z_STREAM_END) {
        ssize_t r = read_some(fd, in, FS_IO_CHUNK);
        if (r < 0) {
            io_error(err, "read", path);
            goto out;
        }
        if (r == 0) {
            err_set(err, "ArchiveCorrupt", "cold object '%s' is truncated (gzip stream ends early)",
                    key);
            goto out;
        }
        total_in += (uint64_t)r;
        if (total_in > (uint64_t)ARCHIVE_OBJECT_MAX + FS_GZ_OVERHEAD) {
            err_set(err, "TooLarge", "cold object '%s' is over the %u-byte cap", key,
                    ARCHIVE_OBJECT_MAX);
            goto out;
        }
        z.next_in = in;
        z.avail_in = (uInt)r;
        /* Keep inflating while input remains or the output filled up (more may be pending). */
        while ((z.avail_in > 0 || full) && zrc != Z_STREAM_END) {
            /* Room for as much again as is held (a chunk to start), up to the cap. */
            size_t want = plain.len ? plain.len : FS_IO_CHUNK;
            if (want > ARCHIVE_OBJECT_MAX - plain.len)
                want = ARCHIVE_OBJECT_MAX - plain.len;
            if (want == 0 || buf_reserve(&plain, want) < 0) {
                err_set(err, "TooLarge", "cold object '%s' inflates past the %u-byte cap", key,
                        ARCHIVE_OBJECT_MAX);
                goto out;
            }
            z.next_out = (unsigned char *)plain.data + plain.len;
            z.avail_out = (uInt)want;
            zrc = inflate(&z, Z_NO_FLUSH);
            buf_commit(&plain, want - z.avail_out);
            full = z.avail_out == 0;
            if (zrc != Z_OK && zrc != Z_STREAM_END && zrc != Z_BUF_ERROR) {
                err_set(err, "ArchiveCorrupt", "cold object '%s' is corrupt: %s", key,
                        z.msg ? z.msg : "invalid gzip data");
                goto out;
            }
            if (zrc == Z_BUF_ERROR && z.avail_out > 0)
                break; /* needs more input */
        }
        if (zrc == Z_STREAM_END) {
            char probe;
            if (z.avail_in > 0 || read_some(fd, &probe, 1) != 0) {
                err_set(err, "ArchiveCorrupt", "cold object '%s' has bytes after its gzip stream",
                        key);
                goto out;
            }
        }
    }
    *out = buf_take(&plain, out_len);
    rc = 0;
out:
    inflateEnd(&z);
    free(in);
    buf_release(&plain);
    close(fd);
    return rc;
}

/* ---------------------------------------------------------------- walking a tier */

struct fs_entry {
    char *key;        /* owned */
    int64_t size;     /* content bytes */
    int64_t mtime_ms; /* last modified */
    int cold;         /* 1 for the cold tier */
    int packed;       /* 1 for a record of a hot pack */
    size_t order;     /* scan order: a pack's later record of a key supersedes an earlier one */
};

struct fs_scan {
    struct fs_entry *v; /* owned array */
    size_t n, cap;
    const char *prefix;      /* keep keys starting with this */
    const char *start_after; /* and sorting after this, when not NULL */
    const char *dir_rel;     /* while a pack is read: its directory's key prefix ("" or "a/") */
    size_t dir_rel_len;
    int overflow; /* set when more than FS_SCAN_MAX objects matched */
};

/* Adds one object to s when its key matches; returns 0, or -1 past FS_SCAN_MAX. */
static int scan_add(struct fs_scan *s, const char *key, size_t len, int64_t size, int64_t mtime_ms,
                    int cold, int packed)
{
    if (len > ARCHIVE_KEY_MAX || archive_key_check(key, NULL) != 0 ||
        strncmp(key, s->prefix, strlen(s->prefix)) != 0 ||
        (s->start_after && strcmp(key, s->start_after) <= 0))
        return 0;
    if (s->n == FS_SCAN_MAX) {
        s->overflow = 1;
        return -1;
    }
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->v = xrealloc(s->v, s->cap * sizeof *s->v);
    }
    struct fs_entry *e = &s->v[s->n];
    *e = (struct fs_entry){xstrndup(key, len), size, mtime_ms, cold, packed, s->n};
    s->n++;
    return 0;
}

/* pack_scan's visitor for scan_dir: every record of the pack, as key dir_rel + name. */
static int scan_pack_record(void *ud, const char *name, const char *data, size_t len,
                            int64_t mtime_ms)
{
    (void)data;
    struct fs_scan *s = ud;
    char key[ARCHIVE_KEY_MAX + PACK_NAME_MAX + 8];
    size_t nl = strlen(name);
    if (s->dir_rel_len + nl >= sizeof key)
        return 0;
    memcpy(key, s->dir_rel, s->dir_rel_len);
    memcpy(key + s->dir_rel_len, name, nl + 1);
    return scan_add(s, key, s->dir_rel_len + nl, (int64_t)len, mtime_ms, 0, 1) == 0 ? 0 : 2;
}

static void scan_release(struct fs_scan *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i].key);
    free(s->v);
}

/* The uncompressed size a gzip file records in its last four bytes (mod 2^32). */
static int64_t gzip_isize(const char *path, int64_t file_size)
{
    int64_t size = file_size;
    unsigned char t[4];
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return size;
    if (file_size >= 18 && pread(fd, t, 4, file_size - 4) == 4)
        size = (int64_t)t[0] | (int64_t)t[1] << 8 | (int64_t)t[2] << 16 | (int64_t)t[3] << 24;
    close(fd);
    return size;
}

/* Does a directory at rel (ending with '/') possibly hold keys starting with prefix? */
static int prefix_may_match(const char *rel, size_t rel_len, const char *prefix)
{
    size_t plen = strlen(prefix);
    size_t n = rel_len < plen ? rel_len : plen;
    return memcmp(rel, prefix, n) == 0;
}

/* Adds the objects under tier/rel to s, recursing at most ARCHIVE_DEPTH_MAX levels. rel is a
 * buffer of ARCHIVE_KEY_MAX + 8 bytes holding rel_len bytes ("" or ending with '/'). Names that
 * are not valid keys (temporary files, foreign files) are skipped. */
static int scan_dir(const char *tier, int cold, char *rel, size_t rel_len, int depth,
                    struct fs_scan *s, struct err *err)
{
    int rc = -1;
    char *dir_path = xasprintf("%s/%.*s", tier, (int)rel_len, rel);
    DIR *d = opendir(dir_path);
    if (!d) {
        if (errno == ENOENT && depth > 0) {
            rc = 0; /* pruned by a concurrent delete */
            goto out;
        }
        io_error(err, "open directory", dir_path);
        goto out;
    }
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            if (errno != 0) {
                io_error(err, "read directory", dir_path);
                goto out;
            }
            break;
        }
        const char *name = de->d_name;
        size_t nlen = strlen(name);
        if (!cold && strcmp(name, ".pack") == 0) {
            char *pack = xasprintf("%s/.pack", dir_path);
            rel[rel_len] = '\0';
            s->dir_rel = rel;
            s->dir_rel_len = rel_len;
            int scanned = pack_scan(pack, scan_pack_record, s, err);
            free(pack);
            if (scanned == 2 || s->overflow) {
                err_set(err, "ArchiveError",
                        "more than %u objects match prefix '%s'; narrow the prefix", FS_SCAN_MAX,
                        s->prefix);
                goto out;
            }
            if (scanned < 0)
                goto out;
            continue;
        }
        if (name[0] == '.' || nlen > ARCHIVE_COMPONENT_MAX + 3 ||
            rel_len + nlen + 1 > ARCHIVE_KEY_MAX + 3)
            continue;
        struct stat st;
        if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue; /* removed since readdir */
        memcpy(rel + rel_len, name, nlen);
        size_t len = rel_len + nlen;
        if (S_ISDIR(st.st_mode)) {
            rel[len] = '/';
            if (depth + 1 < ARCHIVE_DEPTH_MAX && prefix_may_match(rel, len + 1, s->prefix) &&
                scan_dir(tier, cold, rel, len + 1, depth + 1, s, err) != 0)
                goto out;
            continue;
        }
        if (!S_ISREG(st.st_mode))
            continue;
        if (cold) {
            if (len < 3 || memcmp(rel + len - 3, ".gz", 3) != 0)
                continue;
            len -= 3;
        }
        rel[len] = '\0';
        int64_t size = (int64_t)st.st_size;
        if (cold) {
            char *p = xasprintf("%s/%s.gz", tier, rel);
            size = gzip_isize(p, (int64_t)st.st_size);
            free(p);
        }
        int64_t mtime_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
        if (scan_add(s, rel, len, size, mtime_ms, cold, 0) != 0) {
            err_set(err, "ArchiveError",
                    "more than %u objects match prefix '%s'; narrow the prefix", FS_SCAN_MAX,
                    s->prefix);
            goto out;
        }
    }
    rc = 0;
out:
    if (d)
        closedir(d);
    free(dir_path);
    return rc;
}

static int scan_tier(const char *tier, int cold, struct fs_scan *s, struct err *err)
{
    char rel[ARCHIVE_KEY_MAX + 8];
    rel[0] = '\0';
    return scan_dir(tier, cold, rel, 0, 0, s, err);
}

/* By key, the hot copy first, and among hot copies the one scanned last (a pack's newest
 * record) first: the first entry of each key is its current version. */
static int entry_cmp(const void *a, const void *b)
{
    const struct fs_entry *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    if (c)
        return c;
    if (x->cold != y->cold)
        return x->cold - y->cold;
    return x->order < y->order ? 1 : x->order > y->order ? -1 : 0;
}

/* ---------------------------------------------------------------- the operations */

/* Checks what put and put_many accept. */
static int put_check(const char *key, const void *bytes, size_t len, struct err *err)
{
    if (archive_key_check(key, err) != 0)
        return -1;
    if (len > ARCHIVE_OBJECT_MAX)
        return err_set(err, "TooLarge", "object '%s' is %zu bytes, over the %u-byte cap", key, len,
                       ARCHIVE_OBJECT_MAX);
    if (!bytes && len > 0)
        return err_set(err, "InvalidArgument", "object '%s' has no bytes", key);
    return 0;
}

/* The name a claimed file of path takes while it is set aside (unique within the host). */
static char *claim_name(const char *path, const char *tag)
{
    char *dir = dir_of(path);
    char *claim = xasprintf("%s/.%s.%s-%ld-%u", dir, base_of(path), tag, (long)getpid(),
                            atomic_fetch_add(&fs_claim_seq, 1));
    free(dir);
    return claim;
}

static int same_file(const struct stat *a, const struct stat *b)
{
    return a->st_ino == b->st_ino && a->st_dev == b->st_dev;
}

/* Once the new hot bytes of key (the file hot_st) are durable, a stale cold copy would only be
 * shadowed: drop it (best effort; get prefers the hot tier anyway). A concurrent lifecycle may
 * have just copied our very version to the cold tier and be about to remove the hot file, so the
 * cold file is claimed first and removed only if our hot file is still in place; otherwise it is
 * put back (unless a newer cold copy took its place). */
static void drop_cold(struct archive_fs *fs, const char *key, const struct stat *hot_st)
{
    char *cold_path = xasprintf("%s/%s.gz", fs->cold, key);
    char *hot_path = xasprintf("%s/%s", fs->hot, key);
    char *claim = claim_name(cold_path, "dc");
    char *cold_dir = dir_of(cold_path);
    struct stat now;
    if (rename(cold_path, claim) != 0)
        goto out; /* no cold copy (ENOENT), or nothing we can do */
    if (stat(hot_path, &now) == 0 && same_file(&now, hot_st)) {
        unlink(claim);
        fsync_dir(cold_dir, NULL);
        prune_parents(fs->cold, cold_path);
    } else if (renameat2(AT_FDCWD, claim, AT_FDCWD, cold_path, RENAME_NOREPLACE) != 0) {
        unlink(claim); /* a newer cold copy is in place */
    }
out:
    free(cold_path);
    free(hot_path);
    free(claim);
    free(cold_dir);
}

/* ---------------------------------------------------------------- packs */

static int remove_durable(const char *tier, const char *path, struct err *err);

/* The pack of key's directory: `<hot>/<dir>/.pack` (`<hot>/.pack` for a key without one). New
 * string. */
static char *pack_of(const struct archive_fs *fs, const char *key)
{
    const char *slash = strrchr(key, '/');
    return slash ? xasprintf("%s/%.*s/.pack", fs->hot, (int)(slash - key), key)
                 : xasprintf("%s/.pack", fs->hot);
}

/* What a packed put does with the pack still locked once its records are durable: the keys'
 * per-object hot files and cold copies are older versions, removed (best effort: the pack is read
 * first anyway). */
struct packed_done {
    struct archive_fs *fs;
    struct archive_put_item *items;
    const size_t *idx; /* the items of this pack */
    size_t n;
};

/* 0 when the directory tier/<dir> holds no entry but dot files (the pack and its temporaries)
 * or does not exist, else 1 (also when it cannot be read: the caller then looks key by key). */
static int dir_has_objects(const char *tier, const char *dir, size_t dir_len)
{
    char *path = dir_len ? xasprintf("%s/%.*s", tier, (int)dir_len, dir) : xstrdup(tier);
    DIR *d = opendir(path);
    int any = !d && errno != ENOENT;
    if (d) {
        struct dirent *ent;
        while (!any && (ent = readdir(d)) != NULL)
            any = ent->d_name[0] != '.';
        closedir(d);
    }
    free(path);
    return any;
}

/* The keys of one pack share its directory: a look at the directory in each tier (a readdir, not
 * two path lookups a key: 1.4% of the CPU at 10,000 connections) finds most often that it has
 * no per-object file and no cold copy at all, and then no key is looked up. */
static void drop_older_copies(void *ud)
{
    struct packed_done *d = ud;
    if (d->n == 0)
        return;
    const char *first = d->items[d->idx[0]].key;
    const char *slash = strrchr(first, '/');
    size_t dir_len = slash ? (size_t)(slash - first) : 0;
    int hot = dir_has_objects(d->fs->hot, first, dir_len);
    int cold = dir_has_objects(d->fs->cold, first, dir_len);
    for (size_t i = 0; i < d->n && (hot || cold); i++) {
        const char *key = d->items[d->idx[i]].key;
        struct err ignored;
        if (hot) {
            char *hot_path = xasprintf("%s/%s", d->fs->hot, key);
            if (access(hot_path, F_OK) == 0)
                remove_durable(d->fs->hot, hot_path, &ignored);
            free(hot_path);
        }
        if (cold) {
            char *cold_path = xasprintf("%s/%s.gz", d->fs->cold, key);
            if (access(cold_path, F_OK) == 0)
                remove_durable(d->fs->cold, cold_path, &ignored);
            free(cold_path);
        }
    }
}

/* put_many in packed mode: the items of each pack go in one append (one fdatasync). */
static size_t packed_put_many(struct archive_fs *fs, struct archive_put_item *items, size_t n)
{
    char **packs = xcalloc(n ? n : 1, sizeof *packs);
    size_t *idx = xcalloc(n ? n : 1, sizeof *idx);
    struct pack_rec *recs = xcalloc(n ? n : 1, sizeof *recs);
    int64_t now_ms = clock_now_ms();
    for (size_t i = 0; i < n; i++) {
        err_clear(&items[i].err);
        items[i].rc = -1;
        if (put_check(items[i].key, items[i].bytes, items[i].len, &items[i].err) == 0)
            packs[i] = pack_of(fs, items[i].key);
    }
    for (size_t i = 0; i < n; i++) {
        if (!packs[i] || items[i].rc == 0 || items[i].err.code[0])
            continue;
        size_t m = 0;
        for (size_t j = i; j < n; j++) {
            if (!packs[j] || items[j].err.code[0] || strcmp(packs[j], packs[i]) != 0)
                continue;
            idx[m] = j;
            recs[m] = (struct pack_rec){base_of(items[j].key), items[j].bytes, items[j].len,
                                        now_ms};
            m++;
        }
        struct err e = {0};
        struct packed_done done = {fs, items, idx, m};
        int rc = -1;
        for (int attempt = 0; attempt < FS_MKDIR_RETRIES; attempt++) {
            err_clear(&e);
            rc = make_parents(fs->hot, items[i].key, &e);
            if (rc == 0)
                rc = pack_append(packs[i], recs, m, drop_older_copies, &done, &e);
            /* A concurrent delete of the directory's last object may prune it: make it again. */
            if (rc == 0 || !e.message[0] || !strstr(e.message, strerror(ENOENT)))
                break;
        }
        for (size_t k = 0; k < m; k++) {
            items[idx[k]].rc = rc;
            if (rc != 0)
                items[idx[k]].err = e;
            else
                items[idx[k]].err.code[0] = '\0';
            free(packs[idx[k]]);
            packs[idx[k]] = NULL;
        }
    }
    size_t failed = 0;
    for (size_t i = 0; i < n; i++) {
        failed += items[i].rc != 0;
        free(packs[i]);
    }
    free(packs);
    free(idx);
    free(recs);
    return failed;
}

static int fs_put(struct archive *a, const char *key, const void *bytes, size_t len,
                  struct err *err)
{
    struct archive_fs *fs = fs_of(a);
    if (fs->packed) {
        struct archive_put_item it = {.key = key, .bytes = bytes, .len = len};
        if (packed_put_many(fs, &it, 1) == 0)
            return 0;
        *err = it.err;
        return -1;
    }
    if (put_check(key, bytes, len, err) != 0)
        return -1;
    char *hot_path = xasprintf("%s/%s", fs->hot, key);
    struct bytes_src src = {bytes ? bytes : "", len};
    struct stat st;
    int rc = write_object(fs->hot, key, hot_path, fill_bytes, &src, NULL, &st, err);
    free(hot_path);
    if (rc == 0)
        drop_cold(fs, key, &st);
    return rc;
}

/* One object of a batch on its way to durable: the state fs_put_many keeps between phases. */
struct fs_pending_put {
    char *path;     /* final path, owned */
    char *dir;      /* its directory, owned */
    char *tmp;      /* temporary file beside it, owned; NULL once renamed or removed */
    int fd;         /* open temporary file, or -1 */
    struct stat st; /* the file's identity, for drop_cold */
};

/* Creates and fills the temporary file of one batch item, making its directories unless made
 * (the last directory known to exist) is the same. Returns 0 with b->fd open, or -1 with err. */
static int batch_open(struct archive_fs *fs, struct archive_put_item *it, struct fs_pending_put *b,
                      char **made)
{
    for (int attempt = 0;; attempt++) {
        if (!(*made && strcmp(*made, b->dir) == 0)) {
            free(*made);
            *made = NULL;
            if (make_parents(fs->hot, it->key, &it->err) != 0)
                return -1;
            *made = xstrdup(b->dir);
        }
        free(b->tmp);
        b->tmp = xasprintf("%s/.%s.XXXXXX", b->dir, base_of(b->path));
        b->fd = mkostemp(b->tmp, O_CLOEXEC);
        if (b->fd >= 0)
            break;
        io_error(&it->err, "create temporary file", b->tmp);
        free(b->tmp);
        b->tmp = NULL;
        if (errno != ENOENT || attempt + 1 == FS_MKDIR_RETRIES)
            return -1;
        /* A concurrent delete pruned the directory: make it again. */
        free(*made);
        *made = NULL;
        err_clear(&it->err);
    }
    if (pack_write_all(b->fd, it->bytes ? it->bytes : "", it->len) != 0)
        return io_error(&it->err, "write", b->tmp);
    return 0;
}

/* Abandons one batch item: closes and removes its temporary file, keeps its err. */
static void batch_drop(struct fs_pending_put *b)
{
    if (b->fd >= 0)
        close(b->fd);
    b->fd = -1;
    if (b->tmp)
        unlink(b->tmp);
    free(b->tmp);
    b->tmp = NULL;
}

/* Stores at most FS_BATCH_OPEN items (one temporary file open each). Every object still gets
 * its own temporary file, fsync and rename, in that order (STYLE rule 20); what the batch saves
 * is the rest. All files are written first and their writeback started together, so the fsyncs
 * that follow mostly find the shared metadata (bitmaps, inode table blocks, the directory)
 * already written; directories are created once; and each directory is fsynced once, after all
 * of its renames, which is when those objects become durable. A failed directory fsync fails
 * every object renamed into that directory. */
static void put_group(struct archive_fs *fs, struct archive_put_item *items, size_t n)
{
    struct fs_pending_put *b = xcalloc(n, sizeof *b);
    char *made = NULL; /* the last directory known to exist */
    for (size_t i = 0; i < n; i++) {
        struct archive_put_item *it = &items[i];
        b[i].fd = -1;
        err_clear(&it->err);
        it->rc = -1;
        if (put_check(it->key, it->bytes, it->len, &it->err) != 0)
            continue;
        b[i].path = xasprintf("%s/%s", fs->hot, it->key);
        b[i].dir = dir_of(b[i].path);
        if (batch_open(fs, it, &b[i], &made) != 0)
            batch_drop(&b[i]);
    }
    /* Start every file's writeback before waiting for any (best effort: fsync reports errors). */
    for (size_t i = 0; i < n; i++)
        if (b[i].fd >= 0)
            sync_file_range(b[i].fd, 0, 0, SYNC_FILE_RANGE_WRITE);
    for (size_t i = 0; i < n; i++) {
        if (b[i].fd < 0)
            continue;
        if (fsync(b[i].fd) != 0) {
            io_error(&items[i].err, "fsync", b[i].tmp);
            batch_drop(&b[i]);
            continue;
        }
        if (fstat(b[i].fd, &b[i].st) != 0) {
            io_error(&items[i].err, "stat", b[i].tmp);
            batch_drop(&b[i]);
            continue;
        }
        int closed = close(b[i].fd);
        b[i].fd = -1;
        if (closed != 0) {
            io_error(&items[i].err, "close", b[i].tmp);
            batch_drop(&b[i]);
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (!b[i].tmp)
            continue;
        if (rename(b[i].tmp, b[i].path) != 0) {
            io_error(&items[i].err, "rename into place", b[i].path);
            batch_drop(&b[i]);
            continue;
        }
        free(b[i].tmp);
        b[i].tmp = NULL;
        items[i].rc = 1; /* renamed; durable once its directory is fsynced */
    }
    for (size_t i = 0; i < n; i++) {
        if (items[i].rc != 1)
            continue;
        struct err derr = {0};
        int synced = fsync_dir_if_present(b[i].dir, &derr);
        for (size_t j = i; j < n; j++) {
            if (items[j].rc != 1 || strcmp(b[j].dir, b[i].dir) != 0)
                continue;
            items[j].rc = synced == 0 ? 0 : -1;
            if (synced != 0)
                items[j].err = derr;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (items[i].rc == 0)
            drop_cold(fs, items[i].key, &b[i].st);
        free(b[i].path);
        free(b[i].dir);
    }
    free(made);
    free(b);
}

static size_t fs_put_many(struct archive *a, struct archive_put_item *items, size_t n)
{
    struct archive_fs *fs = fs_of(a);
    if (fs->packed)
        return packed_put_many(fs, items, n);
    size_t failed = 0;
    for (size_t at = 0; at < n; at += FS_BATCH_OPEN)
        put_group(fs, items + at, n - at < FS_BATCH_OPEN ? n - at : FS_BATCH_OPEN);
    for (size_t i = 0; i < n; i++)
        failed += items[i].rc != 0;
    return failed;
}

static int fs_get(struct archive *a, const char *key, char **out, size_t *out_len, struct err *err)
{
    struct archive_fs *fs = fs_of(a);
    if (archive_key_check(key, err) != 0)
        return -1;
    char *path = pack_of(fs, key);
    int rc = pack_get(path, base_of(key), out, out_len, NULL, err);
    free(path);
    if (rc != 1)
        return rc;
    path = xasprintf("%s/%s", fs->hot, key);
    rc = read_hot(path, key, out, out_len, err);
    free(path);
    if (rc != 1)
        return rc;
    path = xasprintf("%s/%s.gz", fs->cold, key);
    rc = read_cold(path, key, out, out_len, err);
    free(path);
    if (rc == 1)
        return err_set(err, "NotFound", "no archived object at key '%s'", key);
    return rc;
}

static int fs_list(struct archive *a, const char *prefix, const char *start_after, int max_keys,
                   json_t **out, struct err *err)
{
    struct archive_fs *fs = fs_of(a);
    int rc = -1;
    if (!prefix)
        prefix = "";
    if (start_after && !start_after[0])
        start_after = NULL;
    if (archive_prefix_check(prefix, err) != 0)
        return -1;
    if (start_after && strnlen(start_after, ARCHIVE_KEY_MAX + 1) > ARCHIVE_KEY_MAX)
        return err_set(err, "InvalidKey", "start-after key is longer than %d bytes",
                       ARCHIVE_KEY_MAX);
    if (max_keys < 1 || max_keys > ARCHIVE_LIST_MAX)
        return err_set(err, "InvalidArgument", "max keys %d is outside 1..%d", max_keys,
                       ARCHIVE_LIST_MAX);
    struct fs_scan s = {.prefix = prefix, .start_after = start_after};
    if (scan_tier(fs->hot, 0, &s, err) != 0 || scan_tier(fs->cold, 1, &s, err) != 0)
        goto out;
    if (s.n > 1)
        qsort(s.v, s.n, sizeof *s.v, entry_cmp);

    json_t *objects = json_array();
    int listed = 0, truncated = 0;
    for (size_t i = 0; i < s.n; i++) {
        if (i > 0 && strcmp(s.v[i].key, s.v[i - 1].key) == 0)
            continue; /* a cold copy shadowed by a newer hot one */
        if (listed == max_keys) {
            truncated = 1;
            break;
        }
        json_array_append_new(objects, json_pack("{s:s, s:I, s:I, s:s}", "key", s.v[i].key, "size",
                                                 (json_int_t)s.v[i].size, "lastModified",
                                                 (json_int_t)s.v[i].mtime_ms, "storageClass",
                                                 s.v[i].cold ? "GLACIER" : "STANDARD"));
        listed++;
    }
    *out = json_pack("{s:o, s:b}", "objects", objects, "isTruncated", truncated);
    rc = 0;
out:
    scan_release(&s);
    return rc;
}

/* Unlinks path if present and makes the removal durable. Returns 0 (also when absent) or -1. */
static int remove_durable(const char *tier, const char *path, struct err *err)
{
    if (unlink(path) != 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return 0;
        return io_error(err, "remove", path);
    }
    char *dir = dir_of(path);
    int rc = fsync_dir(dir, err);
    free(dir);
    prune_parents(tier, path);
    return rc;
}

/* pack_rewrite's keep for delete: every record but the one named ud. */
static int keep_other(void *ud, const char *name, const char *data, size_t len, int64_t mtime_ms,
                      struct err *err)
{
    (void)data, (void)len, (void)mtime_ms, (void)err;
    return strcmp(name, (const char *)ud) != 0;
}

static int fs_del(struct archive *a, const char *key, struct err *err)
{
    struct archive_fs *fs = fs_of(a);
    if (archive_key_check(key, err) != 0)
        return -1;
    char *hot_path = xasprintf("%s/%s", fs->hot, key);
    char *cold_path = xasprintf("%s/%s.gz", fs->cold, key);
    char *pack = pack_of(fs, key);
    /* The pack is rewritten without the key: its bytes leave the file (erasure). */
    int rc = pack_rewrite(pack, keep_other, (void *)base_of(key), NULL, err);
    if (rc == 0)
        rc = remove_durable(fs->hot, hot_path, err);
    if (rc == 0)
        rc = remove_durable(fs->cold, cold_path, err);
    if (rc == 0)
        prune_parents(fs->hot, pack);
    free(pack);
    free(hot_path);
    free(cold_path);
    return rc;
}

/* Moves one hot object to the cold tier unless it changed since the scan. Returns 0 when moved,
 * 1 when skipped (gone, modified after the cutoff, or its cold copy dropped by a concurrent put of
 * the same version), -1 with err on failure. */
static int move_to_cold(struct archive_fs *fs, const char *key, int64_t cutoff_ms, struct err *err)
{
    int rc = -1, fd = -1;
    char *hot_path = xasprintf("%s/%s", fs->hot, key);
    char *cold_path = xasprintf("%s/%s.gz", fs->cold, key);
    char *hot_dir = dir_of(hot_path);
    char *claim = claim_name(hot_path, "lc");
    struct stat st, cst, cold_st, now;

    fd = open(hot_path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) {
            rc = 1;
            goto out;
        }
        io_error(err, "open", hot_path);
        goto out;
    }
    if (fstat(fd, &st) != 0) {
        io_error(err, "stat", hot_path);
        goto out;
    }
    int64_t mtime_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
    if (!S_ISREG(st.st_mode) || mtime_ms >= cutoff_ms) {
        rc = 1;
        goto out;
    }
    struct gzip_src src = {.in_fd = fd, .in_path = hot_path};
    struct timespec times[2] = {st.st_atim, st.st_mtim};
    if (write_object(fs->cold, key, cold_path, fill_gzip, &src, times, &cold_st, err) != 0)
        goto out;

    /* The cold copy is durable. Remove the hot file only if it is still the one we copied: claim
     * it by renaming it aside, then compare inodes. A newer put that landed in between is put
     * back (unless an even newer one took its place). */
    if (rename(hot_path, claim) != 0) {
        if (errno == ENOENT) {
            rc = 0; /* deleted or moved concurrently; the cold copy stays */
            goto out;
        }
        io_error(err, "rename aside", hot_path);
        goto out;
    }
    int put_back = stat(claim, &cst) == 0 && !same_file(&cst, &st);
    /* A put of this same version may have dropped our cold copy (it saw its hot file still in
     * place): then the hot file is the only copy and goes back too. */
    int cold_kept = stat(cold_path, &now) == 0 && same_file(&now, &cold_st);
    int unlinked = 0;
    if ((put_back || !cold_kept) &&
        renameat2(AT_FDCWD, claim, AT_FDCWD, hot_path, RENAME_NOREPLACE) == 0) {
        rc = put_back ? 0 : 1; /* a newer version stays hot; or ours does, uncopied */
    } else {
        unlink(claim); /* ours, or superseded by an even newer put */
        unlinked = 1;
        rc = 0;
    }
    if (fsync_dir_if_present(hot_dir, err) != 0) {
        rc = -1;
        goto out;
    }
    if (unlinked)
        prune_parents(fs->hot, hot_path);
out:
    if (fd >= 0)
        close(fd);
    free(hot_path);
    free(cold_path);
    free(hot_dir);
    free(claim);
    return rc;
}

/* What lifecycle's pack rewrite needs to move a pack's old objects to the cold tier. */
struct pack_move {
    struct archive_fs *fs;
    const char *dir; /* the pack's key prefix ("" or ending with '/') */
    int64_t cutoff_ms;
    struct archive_lifecycle_stats *stats;
    json_t *moved_keys; /* or NULL */
};

/* pack_rewrite's keep for lifecycle: an object last modified before the cutoff gets a durable
 * cold copy (with its time) and leaves the pack; one whose copy fails stays and is counted. */
static int move_old_record(void *ud, const char *name, const char *data, size_t len,
                           int64_t mtime_ms, struct err *err)
{
    (void)err;
    struct pack_move *mv = ud;
    if (mtime_ms >= mv->cutoff_ms)
        return 1;
    char *key = xasprintf("%s%s", mv->dir, name);
    char *cold_path = xasprintf("%s/%s.gz", mv->fs->cold, key);
    struct gzip_src src = {.in_fd = -1, .in_path = key, .mem = data, .mem_len = len};
    struct timespec t = {(time_t)(mtime_ms / 1000), (long)(mtime_ms % 1000) * 1000000L};
    struct timespec times[2] = {t, t};
    struct err werr = {0};
    int keep = 1;
    if (write_object(mv->fs->cold, key, cold_path, fill_gzip, &src, times, NULL, &werr) == 0) {
        keep = 0;
        mv->stats->moved++;
        if (mv->moved_keys)
            json_array_append_new(mv->moved_keys, json_string(key));
    } else {
        mv->stats->failed++;
        log_at(LL_WARN, "archive", "cannot move '%s' to the cold tier: %s", key, werr.message);
    }
    free(key);
    free(cold_path);
    return keep;
}

static int fs_lifecycle(struct archive *a, int days, int64_t now_ms,
                        struct archive_lifecycle_stats *stats, json_t *moved_keys, struct err *err)
{
    struct archive_fs *fs = fs_of(a);
    struct archive_lifecycle_stats local = {0};
    if (!stats)
        stats = &local;
    memset(stats, 0, sizeof *stats);
    if (days < 0 || days > 36500)
        return err_set(err, "InvalidArgument", "lifecycle days %d is outside 0..36500", days);
    int64_t cutoff_ms = now_ms - (int64_t)days * 86400000;

    struct fs_scan s = {.prefix = ""};
    json_t *packs = json_array(); /* the packs seen, as paths */
    int rc = scan_tier(fs->hot, 0, &s, err);
    if (rc != 0)
        goto out;
    if (s.n > 1)
        qsort(s.v, s.n, sizeof *s.v, entry_cmp);
    for (size_t i = 0; i < s.n; i++) {
        if (i > 0 && strcmp(s.v[i].key, s.v[i - 1].key) == 0)
            continue; /* an older record of a pack, or a copy the pack supersedes */
        stats->scanned++;
        if (s.v[i].packed) {
            /* Moved below, a pack at a time (after every key of the pack was seen). */
            char *pack = pack_of(fs, s.v[i].key);
            int seen = 0;
            for (size_t k = 0; k < json_array_size(packs) && !seen; k++)
                seen = strcmp(json_string_value(json_array_get(packs, k)), pack) == 0;
            if (!seen)
                json_array_append_new(packs, json_string(pack));
            free(pack);
            continue;
        }
        if (s.v[i].mtime_ms >= cutoff_ms)
            continue;
        struct err merr = {0};
        int moved = move_to_cold(fs, s.v[i].key, cutoff_ms, &merr);
        if (moved == 0) {
            stats->moved++;
            if (moved_keys)
                json_array_append_new(moved_keys, json_string(s.v[i].key));
        } else if (moved < 0) {
            stats->failed++;
            log_at(LL_WARN, "archive", "cannot move '%s' to the cold tier: %s", s.v[i].key,
                   merr.message);
        }
    }
    for (size_t k = 0; k < json_array_size(packs); k++) {
        const char *pack = json_string_value(json_array_get(packs, k));
        size_t hot_len = strlen(fs->hot);
        /* The key prefix of the pack's objects: its directory under hot/, with a '/'. */
        char *dir = xstrndup(pack + hot_len + 1, strlen(pack) - hot_len - 1 - strlen(".pack"));
        struct pack_move mv = {fs, dir, cutoff_ms, stats, moved_keys};
        struct err perr = {0};
        if (pack_rewrite(pack, move_old_record, &mv, NULL, &perr) != 0)
            log_at(LL_WARN, "archive", "cannot move the old objects of pack '%s': %s", pack,
                   perr.message);
        else
            prune_parents(fs->hot, pack);
        free(dir);
    }
out:
    json_decref(packs);
    scan_release(&s);
    return rc;
}

static void fs_free(struct archive *a)
{
    struct archive_fs *fs = fs_of(a);
    free(fs->root);
    free(fs->hot);
    free(fs->cold);
    free(fs);
}

static const struct archive_ops fs_ops = {
    .name = "fs",
    .put = fs_put,
    .get = fs_get,
    .list = fs_list,
    .del = fs_del,
    .lifecycle = fs_lifecycle,
    .free = fs_free,
    .put_many = fs_put_many,
};

/* Creates dir (and its parents) when missing. */
static int ensure_dir(const char *dir, struct err *err)
{
    int rc = -1;
    char *path = xstrdup(dir);
    for (char *p = path + 1; (p = strchr(p, '/')) != NULL; p++) {
        *p = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST) {
            io_error(err, "create directory", path);
            goto out;
        }
        *p = '/';
    }
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        io_error(err, "create directory", path);
        goto out;
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        err_set(err, "ArchiveError", "'%s' is not a directory", path);
        goto out;
    }
    rc = 0;
out:
    free(path);
    return rc;
}

static struct archive *fs_new(const char *root_dir, int packed, struct err *err);

struct archive *archive_fs_new(const char *root_dir, struct err *err)
{
    return fs_new(root_dir, 0, err);
}

struct archive *archive_fs_new_packed(const char *root_dir, struct err *err)
{
    return fs_new(root_dir, 1, err);
}

static struct archive *fs_new(const char *root_dir, int packed, struct err *err)
{
    if (!root_dir || !root_dir[0]) {
        err_set(err, "ArchiveError", "archive root directory is empty");
        return NULL;
    }
    if (strlen(root_dir) > PATH_MAX - ARCHIVE_KEY_MAX - 64) {
        err_set(err, "ArchiveError", "archive root '%.64s...' is too long", root_dir);
        return NULL;
    }
    struct archive_fs *fs = xcalloc(1, sizeof *fs);
    fs->base.ops = &fs_ops;
    fs->packed = packed;
    fs->root = xstrdup(root_dir);
    size_t n = strlen(fs->root);
    while (n > 1 && fs->root[n - 1] == '/')
        fs->root[--n] = '\0';
    fs->hot = xasprintf("%s/hot", fs->root);
    fs->cold = xasprintf("%s/cold", fs->root);
    if (ensure_dir(fs->hot, err) != 0 || ensure_dir(fs->cold, err) != 0) {
        fs_free(&fs->base);
        return NULL;
    }
    return &fs->base;
}
