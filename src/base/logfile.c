/* logfile.c - size-rotated, reopenable log files; see logfile.h. */
#include "base/logfile.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "base/xmalloc.h"

struct logfile {
    char *path;           /* the live file */
    long long max_bytes;  /* rotate past this size (0: never) */
    int keep;             /* rotated files kept: path.1 .. path.<keep> */
    int fd;               /* open for append, or -1 after a failed (re)open */
    long long size;       /* bytes in the live file */
    unsigned generation;  /* reopen_generation when fd was opened */
    pthread_mutex_t lock; /* guards everything above */
};

static atomic_uint reopen_generation; /* bumped by logfile_reopen_all */

void logfile_reopen_all(void)
{
    atomic_fetch_add(&reopen_generation, 1);
}

/* (Re)opens f->path; on failure f->fd stays -1 and -1 returns with err. */
static int open_live(struct logfile *f, struct err *err)
{
    if (f->fd >= 0)
        close(f->fd);
    f->generation = atomic_load(&reopen_generation);
    f->fd = open(f->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (f->fd < 0)
        return err_set(err, "IOError", "cannot open '%s': %s", f->path, strerror(errno));
    struct stat st;
    f->size = fstat(f->fd, &st) == 0 ? (long long)st.st_size : 0;
    return 0;
}

/* Shifts path.N to path.N+1 (dropping path.<keep>), moves path to path.1, and opens a new path. */
static int rotate(struct logfile *f, struct err *err)
{
    size_t n = strlen(f->path) + 16;
    char *from = xmalloc(n), *to = xmalloc(n);
    snprintf(to, n, "%s.%d", f->path, f->keep);
    unlink(to);
    for (int i = f->keep - 1; i >= 1; i--) {
        snprintf(from, n, "%s.%d", f->path, i);
        snprintf(to, n, "%s.%d", f->path, i + 1);
        rename(from, to); /* a missing path.i is fine */
    }
    snprintf(to, n, "%s.1", f->path);
    if (rename(f->path, to) < 0 && errno != ENOENT)
        log_at(LL_WARN, "logfile", "cannot rotate '%s': %s", f->path, strerror(errno));
    free(from);
    free(to);
    return open_live(f, err);
}

/* Writes all of data[0..len) to the live file. */
static int write_all(struct logfile *f, const char *data, size_t len)
{
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(f->fd, data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            log_at(LL_ERROR, "logfile", "cannot append to '%s': %s", f->path, strerror(errno));
            return -1;
        }
        off += (size_t)w;
    }
    f->size += (long long)len;
    return 0;
}

struct logfile *logfile_open(const char *path, long long max_bytes, int keep, struct err *err)
{
    struct logfile *f = xcalloc(1, sizeof *f);
    f->path = xstrdup(path);
    f->max_bytes = max_bytes < 0 ? 0 : max_bytes;
    f->keep = keep < 1 ? 1 : keep > 1000 ? 1000 : keep;
    f->fd = -1;
    pthread_mutex_init(&f->lock, NULL);
    if (open_live(f, err) < 0) {
        logfile_free(f);
        return NULL;
    }
    return f;
}

int logfile_write(struct logfile *f, const void *data, size_t len)
{
    const char *p = data;
    int rc = -1;
    struct err e = {0};
    pthread_mutex_lock(&f->lock);
    if ((f->fd < 0 || f->generation != atomic_load(&reopen_generation)) && open_live(f, &e) < 0) {
        log_at(LL_ERROR, "logfile", "%s", e.message);
        goto out;
    }
    while (f->max_bytes > 0 && f->size + (long long)len > f->max_bytes) {
        /* Write the whole lines that fit, then rotate; a line never spans two files. */
        long long room = f->max_bytes - f->size;
        size_t head = room > 0 ? (size_t)room : 0;
        while (head > 0 && p[head - 1] != '\n')
            head--;
        if (head == 0 && f->size == 0) {
            /* One line longer than the limit, into an empty file: it goes in whole. */
            const char *nl = memchr(p, '\n', len);
            head = nl ? (size_t)(nl - p) + 1 : len;
        }
        if (write_all(f, p, head) < 0)
            goto out;
        p += head;
        len -= head;
        if (len == 0)
            break;
        if (rotate(f, &e) < 0) {
            log_at(LL_ERROR, "logfile", "%s", e.message);
            goto out;
        }
    }
    rc = write_all(f, p, len);
out:
    pthread_mutex_unlock(&f->lock);
    return rc;
}

/* ---- the stdio stream (fopencookie) ---- */

static ssize_t stream_write(void *cookie, const char *buf, size_t size)
{
    return logfile_write(cookie, buf, size) == 0 ? (ssize_t)size : -1;
}

static int stream_close(void *cookie)
{
    logfile_free(cookie);
    return 0;
}

FILE *logfile_stream(struct logfile *f)
{
    cookie_io_functions_t io = {.write = stream_write, .close = stream_close};
    return fopencookie(f, "a", io);
}

void logfile_free(struct logfile *f)
{
    if (!f)
        return;
    if (f->fd >= 0)
        close(f->fd);
    pthread_mutex_destroy(&f->lock);
    free(f->path);
    free(f);
}
