/*
 * pack.c - append-only pack files of named records (see pack.h): appends under flock with one
 * fdatasync, reads that stop at a torn tail, and rewrites that drop records for good.
 *
 * A process remembers, per pack inode, where the last record it appended ends and the file's
 * size and mtime then: an append to a pack nobody else touched since skips checking it; any other
 * pack is checked from the start.
 */
#include "archive/pack.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "base/fault.h"
#include "base/log.h"
#include "base/xmalloc.h"

static const unsigned char pack_magic[4] = {'P', 'K', 'v', '1'};

#define PACK_OPEN_TRIES 8 /* a rewrite may replace the file between open and lock */
#define PACK_TAILS 16     /* pack inodes whose valid end a process remembers */

/* ---------------------------------------------------------------- remembered tails */

static struct {
    dev_t dev;
    ino_t ino;
    uint64_t end;          /* bytes of whole records from the start */
    struct timespec mtime; /* the file's mtime when end was recorded */
} tails[PACK_TAILS];
static unsigned tails_next;
static pthread_mutex_t tails_lock = PTHREAD_MUTEX_INITIALIZER;

/* The remembered end of the pack st when nobody changed the file since (same inode, size and
 * mtime), else 0: check from the start. (An inode number alone could be a reused one.) */
static uint64_t tail_get(const struct stat *st)
{
    uint64_t end = 0;
    pthread_mutex_lock(&tails_lock);
    for (unsigned i = 0; i < PACK_TAILS; i++)
        if (tails[i].ino == st->st_ino && tails[i].dev == st->st_dev &&
            tails[i].end == (uint64_t)st->st_size && tails[i].mtime.tv_sec == st->st_mtim.tv_sec &&
            tails[i].mtime.tv_nsec == st->st_mtim.tv_nsec)
            end = tails[i].end;
    pthread_mutex_unlock(&tails_lock);
    return end;
}

/* Remembers that the pack open as fd ends its whole records at end. */
static void tail_set(int fd, uint64_t end)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return;
    pthread_mutex_lock(&tails_lock);
    unsigned slot = tails_next;
    for (unsigned i = 0; i < PACK_TAILS; i++)
        if (tails[i].ino == st.st_ino && tails[i].dev == st.st_dev)
            slot = i;
    if (slot == tails_next)
        tails_next = (tails_next + 1) % PACK_TAILS;
    tails[slot].dev = st.st_dev;
    tails[slot].ino = st.st_ino;
    tails[slot].end = end;
    tails[slot].mtime = st.st_mtim;
    pthread_mutex_unlock(&tails_lock);
}

/* ---------------------------------------------------------------- small helpers */

static int io_error(struct err *err, const char *what, const char *path)
{
    return err_set(err, "ArchiveError", "cannot %s '%s': %s", what, path, strerror(errno));
}

int pack_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    int injected = fault_check(FAULT_ARCHIVE);
    if (injected) { /* a partial write, then the error */
        if (len > 1 && write(fd, p, len / 2) < 0)
            return -1;
        errno = injected;
        return -1;
    }
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Reads exactly len bytes at off; returns 0, 1 at a short read (end of file), -1 with errno. */
static int read_at(int fd, void *buf, size_t len, uint64_t off)
{
    char *p = buf;
    while (len > 0) {
        ssize_t r = pread(fd, p, len, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            return 1;
        p += r;
        len -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

static void put_u16(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n; i-- > 0;)
        v = v << 8 | p[i];
    return v;
}

/* The directory part of path, as a new string. */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? xstrndup(path, (size_t)(slash - path)) : xstrdup(".");
}

static int fsync_dir_of(const char *path, struct err *err)
{
    char *dir = dir_of(path);
    int rc = 0, fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0)
        rc = io_error(err, "fsync directory", dir);
    if (fd >= 0)
        close(fd);
    free(dir);
    return rc;
}

/* ---------------------------------------------------------------- scanning */

/* One whole record found by scan_fd. */
struct pack_found {
    uint64_t off;     /* where its header starts */
    uint64_t size;    /* header, name and data */
    int64_t mtime_ms; /* last modified */
};

typedef int (*found_fn)(void *ud, const struct pack_found *f, const char *name, const char *data,
                        size_t len);

/* Visits the whole records of fd from off on; *end is set to where the last whole one ends.
 * *torn is set when bytes follow it. Returns 0, the visitor's non-zero value, or -1 with err. */
static int scan_fd(int fd, const char *path, uint64_t off, found_fn fn, void *ud, uint64_t *end,
                   int *torn, struct err *err)
{
    int rc = 0;
    char *buf = NULL;
    size_t cap = 0;
    struct stat st;
    *torn = 0;
    if (fstat(fd, &st) != 0)
        return io_error(err, "stat", path);
    uint64_t size = (uint64_t)st.st_size;
    while (off < size) {
        unsigned char h[PACK_HEADER];
        int r = read_at(fd, h, sizeof h, off);
        if (r < 0) {
            rc = io_error(err, "read", path);
            break;
        }
        size_t name_len = (size_t)get_le(h + 5, 2);
        uint64_t data_len = get_le(h + 7, 4);
        if (r == 1 || memcmp(h, pack_magic, 4) != 0 || name_len == 0 || name_len > PACK_NAME_MAX ||
            data_len > PACK_DATA_MAX || off + PACK_HEADER + name_len + data_len > size) {
            *torn = 1;
            break;
        }
        size_t body = name_len + (size_t)data_len;
        if (body + 1 > cap) {
            cap = body + 1;
            buf = xrealloc(buf, cap);
        }
        r = read_at(fd, buf, body, off + PACK_HEADER);
        if (r < 0) {
            rc = io_error(err, "read", path);
            break;
        }
        uLong crc = crc32(0L, h, 19);
        crc = crc32(crc, (const Bytef *)buf, (uInt)body);
        if (r == 1 || (uint32_t)crc != (uint32_t)get_le(h + 19, 4) ||
            memchr(buf, '\0', name_len) != NULL) {
            *torn = 1;
            break;
        }
        char name[PACK_NAME_MAX + 1];
        memcpy(name, buf, name_len);
        name[name_len] = '\0';
        struct pack_found f = {off, PACK_HEADER + body, (int64_t)get_le(h + 11, 8)};
        off += f.size;
        if (fn && (rc = fn(ud, &f, name, buf + name_len, (size_t)data_len)) != 0)
            break;
    }
    *end = off;
    free(buf);
    return rc;
}

struct visit_adapter {
    pack_visit_fn fn;
    void *ud;
};

static int visit_found(void *ud, const struct pack_found *f, const char *name, const char *data,
                       size_t len)
{
    struct visit_adapter *v = ud;
    return v->fn(v->ud, name, data, len, f->mtime_ms);
}

int pack_scan(const char *path, pack_visit_fn fn, void *ud, struct err *err)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT || errno == ENOTDIR ? 1 : io_error(err, "open", path);
    struct visit_adapter v = {fn, ud};
    uint64_t end;
    int torn;
    int rc = scan_fd(fd, path, 0, visit_found, &v, &end, &torn, err);
    if (rc == 0 && torn)
        log_at(LL_DEBUG, "archive", "pack '%s' ends in a torn record at %llu; skipped", path,
               (unsigned long long)end);
    close(fd);
    return rc;
}

struct get_ctx {
    const char *name;
    char *data; /* the last match, owned */
    size_t len;
    int64_t mtime_ms;
    int found;
};

static int get_visit(void *ud, const char *name, const char *data, size_t len, int64_t mtime_ms)
{
    struct get_ctx *g = ud;
    if (strcmp(name, g->name) != 0)
        return 0;
    free(g->data);
    g->data = xmalloc(len + 1);
    memcpy(g->data, data, len);
    g->data[len] = '\0';
    g->len = len;
    g->mtime_ms = mtime_ms;
    g->found = 1;
    return 0;
}

int pack_get(const char *path, const char *name, char **out, size_t *out_len, int64_t *mtime_ms,
             struct err *err)
{
    struct get_ctx g = {.name = name};
    int rc = pack_scan(path, get_visit, &g, err);
    if (rc == 0 && !g.found)
        rc = 1;
    if (rc == 0) {
        *out = g.data;
        *out_len = g.len;
        if (mtime_ms)
            *mtime_ms = g.mtime_ms;
        g.data = NULL;
    }
    free(g.data);
    return rc;
}

/* ---------------------------------------------------------------- locked open */

/* Opens the pack at path and locks it exclusively, making sure the locked file is still the one
 * at path (a rewrite may have replaced it). create: make it (0600) when missing, setting
 * *created. Returns the fd, -2 when it does not exist (and !create), or -1 with err. */
static int open_locked(const char *path, int create, int *created, struct stat *st, struct err *err)
{
    if (created)
        *created = 0;
    for (int attempt = 0; attempt < PACK_OPEN_TRIES; attempt++) {
        int fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT && create) {
            fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
            if (fd < 0 && errno == EEXIST)
                continue;
            if (fd >= 0 && created)
                *created = 1;
        }
        if (fd < 0) {
            if ((errno == ENOENT || errno == ENOTDIR) && !create)
                return -2;
            return io_error(err, create ? "create" : "open", path);
        }
        struct stat now;
        int locked = flock(fd, LOCK_EX);
        if (locked == 0 && fstat(fd, st) == 0 && stat(path, &now) == 0 &&
            now.st_ino == st->st_ino && now.st_dev == st->st_dev)
            return fd;
        int saved = errno;
        close(fd);
        if (locked != 0) {
            errno = saved;
            return io_error(err, "lock", path);
        }
    }
    return err_set(err, "ArchiveError", "pack '%s' kept being replaced while opening it", path);
}

/* ---------------------------------------------------------------- appending */

int pack_append(const char *path, const struct pack_rec *recs, size_t n, pack_after_fn after,
                void *ud, struct err *err)
{
    int rc = -1, created = 0;
    struct stat st;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        size_t nl = strlen(recs[i].name);
        if (nl == 0 || nl > PACK_NAME_MAX)
            return err_set(err, "ArchiveError", "pack record name '%.64s' is not 1..%d bytes",
                           recs[i].name, PACK_NAME_MAX);
        if (recs[i].len > PACK_DATA_MAX)
            return err_set(err, "TooLarge", "pack record '%s' is %zu bytes, over the %u-byte cap",
                           recs[i].name, recs[i].len, PACK_DATA_MAX);
        total += PACK_HEADER + nl + recs[i].len;
    }
    unsigned char *buf = xmalloc(total ? total : 1), *p = buf;
    for (size_t i = 0; i < n; i++) {
        size_t nl = strlen(recs[i].name);
        memcpy(p, pack_magic, 4);
        p[4] = 0;
        put_u16(p + 5, (unsigned)nl);
        put_u32(p + 7, (uint32_t)recs[i].len);
        uint64_t m = (uint64_t)recs[i].mtime_ms;
        for (int k = 0; k < 8; k++)
            p[11 + k] = (unsigned char)(m >> (8 * k));
        memcpy(p + PACK_HEADER, recs[i].name, nl);
        if (recs[i].len)
            memcpy(p + PACK_HEADER + nl, recs[i].data, recs[i].len);
        uLong crc = crc32(0L, p, 19);
        crc = crc32(crc, p + PACK_HEADER, (uInt)(nl + recs[i].len));
        put_u32(p + 19, (uint32_t)crc);
        p += PACK_HEADER + nl + recs[i].len;
    }
    int fd = open_locked(path, 1, &created, &st, err);
    if (fd < 0)
        goto out;
    /* Cut off a torn tail (a crash or a failed append) so the new records are reachable. */
    uint64_t end = tail_get(&st);
    if (end != (uint64_t)st.st_size) {
        int torn = 0;
        if (scan_fd(fd, path, end, NULL, NULL, &end, &torn, err) != 0)
            goto out;
        if (torn) {
            log_at(LL_WARN, "archive", "pack '%s': cut a torn tail of %llu bytes at %llu", path,
                   (unsigned long long)((uint64_t)st.st_size - end), (unsigned long long)end);
            if (ftruncate(fd, (off_t)end) != 0) {
                io_error(err, "truncate the torn tail of", path);
                goto out;
            }
        }
    }
    if (lseek(fd, (off_t)end, SEEK_SET) < 0) {
        io_error(err, "seek in", path);
        goto out;
    }
    if (pack_write_all(fd, buf, total) != 0) {
        io_error(err, "append to", path);
        if (ftruncate(fd, (off_t)end) != 0)
            log_at(LL_WARN, "archive", "cannot cut a failed append off '%s': %s", path,
                   strerror(errno));
        goto out;
    }
    if (fdatasync(fd) != 0) {
        io_error(err, "fdatasync", path);
        goto out;
    }
    if (created && fsync_dir_of(path, err) != 0)
        goto out;
    tail_set(fd, end + total);
    if (after)
        after(ud);
    rc = 0;
out:
    if (fd >= 0)
        close(fd); /* releases the lock */
    free(buf);
    return rc;
}

/* ---------------------------------------------------------------- rewriting */

struct cur {
    char *name;   /* owned */
    uint64_t off; /* of the record */
};

/* Every whole record of a pack; pick_current reduces it to the current record of each name. */
struct cur_list {
    struct cur *v;
    size_t n, cap;
    size_t records; /* every whole record, superseded ones included */
};

static int collect_found(void *ud, const struct pack_found *f, const char *name, const char *data,
                         size_t len)
{
    (void)data;
    (void)len;
    struct cur_list *l = ud;
    l->records++;
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->v = xrealloc(l->v, l->cap * sizeof *l->v);
    }
    l->v[l->n].name = xstrdup(name);
    l->v[l->n++].off = f->off;
    return 0;
}

static int by_name_off(const void *a, const void *b)
{
    const struct cur *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : x->off < y->off ? -1 : x->off > y->off;
}

static int by_off(const void *a, const void *b)
{
    const struct cur *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

/* Keeps the last record of each name, in file order. */
static void pick_current(struct cur_list *l)
{
    if (l->n > 1)
        qsort(l->v, l->n, sizeof *l->v, by_name_off);
    size_t w = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (i + 1 < l->n && strcmp(l->v[i].name, l->v[i + 1].name) == 0) {
            free(l->v[i].name);
            continue;
        }
        l->v[w++] = l->v[i];
    }
    l->n = w;
    if (l->n > 1)
        qsort(l->v, l->n, sizeof *l->v, by_off);
}

static void cur_release(struct cur_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].name);
    free(l->v);
}

struct rewrite_ctx {
    struct cur_list *cur;
    size_t next; /* index in cur of the next current record, in file order */
    pack_keep_fn keep;
    void *ud;
    int out_fd; /* the temporary file */
    const char *tmp;
    size_t kept, dropped;
    struct err *err;
};

/* Writes the records that stay to the temporary file. */
static int rewrite_found(void *ud, const struct pack_found *f, const char *name, const char *data,
                         size_t len)
{
    struct rewrite_ctx *r = ud;
    if (r->next >= r->cur->n || r->cur->v[r->next].off != f->off)
        return 0; /* superseded */
    r->next++;
    int k = r->keep(r->ud, name, data, len, f->mtime_ms, r->err);
    if (k < 0)
        return -1;
    if (k == 0) {
        r->dropped++;
        return 0;
    }
    size_t nl = strlen(name);
    unsigned char h[PACK_HEADER];
    memcpy(h, pack_magic, 4);
    h[4] = 0;
    put_u16(h + 5, (unsigned)nl);
    put_u32(h + 7, (uint32_t)len);
    for (int i = 0; i < 8; i++)
        h[11 + i] = (unsigned char)((uint64_t)f->mtime_ms >> (8 * i));
    uLong crc = crc32(0L, h, 19);
    crc = crc32(crc, (const Bytef *)name, (uInt)nl);
    crc = crc32(crc, (const Bytef *)data, (uInt)len);
    put_u32(h + 19, (uint32_t)crc);
    if (pack_write_all(r->out_fd, h, sizeof h) != 0 || pack_write_all(r->out_fd, name, nl) != 0 ||
        pack_write_all(r->out_fd, data, len) != 0)
        return io_error(r->err, "write", r->tmp);
    r->kept++;
    return 0;
}

int pack_rewrite(const char *path, pack_keep_fn keep, void *ud, size_t *dropped, struct err *err)
{
    int rc = -1, torn = 0;
    struct stat st;
    struct cur_list cur = {0};
    char *tmp = NULL;
    int out_fd = -1;
    uint64_t end;
    if (dropped)
        *dropped = 0;
    int fd = open_locked(path, 0, NULL, &st, err);
    if (fd == -2)
        return 0;
    if (fd < 0)
        return -1;
    if (scan_fd(fd, path, 0, collect_found, &cur, &end, &torn, err) != 0)
        goto out;
    pick_current(&cur);
    tmp = xasprintf("%s.XXXXXX", path);
    /* The temporary name starts with the pack's ".pack", so it is never taken for an object. */
    out_fd = mkostemp(tmp, O_CLOEXEC);
    if (out_fd < 0) {
        io_error(err, "create temporary file", tmp);
        free(tmp);
        tmp = NULL;
        goto out;
    }
    if (fchmod(out_fd, 0600) != 0) {
        io_error(err, "chmod", tmp);
        goto out;
    }
    struct rewrite_ctx r = {&cur, 0, keep, ud, out_fd, tmp, 0, 0, err};
    if (scan_fd(fd, path, 0, rewrite_found, &r, &end, &torn, err) != 0)
        goto out;
    if (dropped)
        *dropped = r.dropped;
    if (r.dropped == 0 && r.kept == cur.records && !torn) {
        rc = 0; /* nothing to drop, nothing superseded: leave the file as it is */
        goto out;
    }
    if (r.kept == 0) {
        if (unlink(path) != 0) {
            io_error(err, "remove", path);
            goto out;
        }
    } else {
        if (fsync(out_fd) != 0) {
            io_error(err, "fsync", tmp);
            goto out;
        }
        if (rename(tmp, path) != 0) {
            io_error(err, "rename into place", path);
            goto out;
        }
        free(tmp);
        tmp = NULL;
    }
    if (fsync_dir_of(path, err) != 0)
        goto out;
    rc = 0;
out:
    if (out_fd >= 0)
        close(out_fd);
    if (tmp) {
        unlink(tmp);
        free(tmp);
    }
    cur_release(&cur);
    close(fd);
    return rc;
}
