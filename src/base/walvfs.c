/*
 * walvfs.c - the WAL write-joining VFS shim (walvfs.h).
 *
 * A WAL file opened through the shim is a struct wal_file followed in the same allocation by the
 * default VFS's file (the shim's szOsFile is the sum): its methods forward to that file, and
 * xWrite holds a frame header until its page comes. Any other file is opened by the default VFS
 * straight into the caller's buffer, with the default VFS's methods.
 */
#include "base/walvfs.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <string.h>

#include "base/fault.h"

#define FRAME_HDR 24 /* a WAL frame header's bytes */

struct wal_file {
    sqlite3_file base;      /* the shim's methods */
    sqlite3_file *real;     /* the default VFS's file, just after this struct */
    int held;               /* hdr waits for its page */
    sqlite3_int64 held_off; /* where hdr goes */
    unsigned char hdr[FRAME_HDR];
    unsigned char *joined; /* header + page, sqlite3_malloc'd */
    int joined_cap;        /* bytes allocated at joined */
};

static sqlite3_vfs shim;            /* registered by walvfs_register */
static sqlite3_vfs *root;           /* the default VFS it wraps */
static atomic_uint_fast64_t joined; /* walvfs_frames_joined */

/* The size of a struct wal_file rounded up so the default VFS's file after it is aligned. */
#define WAL_FILE_SIZE ((int)((sizeof(struct wal_file) + 15) & ~(size_t)15))

/* ---------------------------------------------------------------- the WAL file's methods */

/* Writes a held header on its own (something other than its page came). */
static int flush_held(struct wal_file *w)
{
    if (!w->held)
        return SQLITE_OK;
    w->held = 0;
    return w->real->pMethods->xWrite(w->real, w->hdr, FRAME_HDR, w->held_off);
}

static int wal_close(sqlite3_file *f)
{
    struct wal_file *w = (struct wal_file *)f;
    int rc = flush_held(w);
    int rc2 = w->real->pMethods->xClose(w->real);
    sqlite3_free(w->joined);
    w->joined = NULL;
    return rc != SQLITE_OK ? rc : rc2;
}

static int wal_read(sqlite3_file *f, void *buf, int amt, sqlite3_int64 off)
{
    struct wal_file *w = (struct wal_file *)f;
    int rc = flush_held(w);
    return rc != SQLITE_OK ? rc : w->real->pMethods->xRead(w->real, buf, amt, off);
}

/* Joins the held header and the page at buf into one write at the header's offset. */
static int write_joined(struct wal_file *w, const void *buf, int amt)
{
    if (w->joined_cap < FRAME_HDR + amt) {
        unsigned char *p = sqlite3_realloc(w->joined, FRAME_HDR + amt);
        if (!p)
            return SQLITE_NOMEM;
        w->joined = p;
        w->joined_cap = FRAME_HDR + amt;
    }
    memcpy(w->joined, w->hdr, FRAME_HDR);
    memcpy(w->joined + FRAME_HDR, buf, (size_t)amt);
    w->held = 0;
    int rc = fault_check(FAULT_WAL);
    if (rc == 0)
        rc = w->real->pMethods->xWrite(w->real, w->joined, FRAME_HDR + amt, w->held_off);
    if (rc == SQLITE_OK)
        atomic_fetch_add_explicit(&joined, 1, memory_order_relaxed);
    return rc;
}

static int wal_write(sqlite3_file *f, const void *buf, int amt, sqlite3_int64 off)
{
    struct wal_file *w = (struct wal_file *)f;
    if (w->held && off == w->held_off + FRAME_HDR)
        return write_joined(w, buf, amt);
    int rc = flush_held(w);
    if (rc != SQLITE_OK)
        return rc;
    if (amt == FRAME_HDR) { /* a frame header: its page comes next */
        memcpy(w->hdr, buf, FRAME_HDR);
        w->held_off = off;
        w->held = 1;
        return SQLITE_OK;
    }
    return w->real->pMethods->xWrite(w->real, buf, amt, off);
}

static int wal_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    struct wal_file *w = (struct wal_file *)f;
    int rc = flush_held(w);
    return rc != SQLITE_OK ? rc : w->real->pMethods->xTruncate(w->real, size);
}

static int wal_sync(sqlite3_file *f, int flags)
{
    struct wal_file *w = (struct wal_file *)f;
    int rc = flush_held(w);
    return rc != SQLITE_OK ? rc : w->real->pMethods->xSync(w->real, flags);
}

static int wal_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
    struct wal_file *w = (struct wal_file *)f;
    int rc = flush_held(w);
    return rc != SQLITE_OK ? rc : w->real->pMethods->xFileSize(w->real, size);
}

static int wal_lock(sqlite3_file *f, int level)
{
    struct wal_file *w = (struct wal_file *)f;
    return w->real->pMethods->xLock(w->real, level);
}

static int wal_unlock(sqlite3_file *f, int level)
{
    struct wal_file *w = (struct wal_file *)f;
    return w->real->pMethods->xUnlock(w->real, level);
}

static int wal_check_reserved(sqlite3_file *f, int *out)
{
    struct wal_file *w = (struct wal_file *)f;
    return w->real->pMethods->xCheckReservedLock(w->real, out);
}

static int wal_file_control(sqlite3_file *f, int op, void *arg)
{
    struct wal_file *w = (struct wal_file *)f;
    int rc = flush_held(w);
    return rc != SQLITE_OK ? rc : w->real->pMethods->xFileControl(w->real, op, arg);
}

static int wal_sector_size(sqlite3_file *f)
{
    struct wal_file *w = (struct wal_file *)f;
    return w->real->pMethods->xSectorSize(w->real);
}

static int wal_device_characteristics(sqlite3_file *f)
{
    struct wal_file *w = (struct wal_file *)f;
    return w->real->pMethods->xDeviceCharacteristics(w->real);
}

/* A WAL file has no shared memory of its own (the database file does) and is not mapped: the
 * version-1 methods are all it is asked for. */
static const sqlite3_io_methods wal_methods = {
    .iVersion = 1,
    .xClose = wal_close,
    .xRead = wal_read,
    .xWrite = wal_write,
    .xTruncate = wal_truncate,
    .xSync = wal_sync,
    .xFileSize = wal_file_size,
    .xLock = wal_lock,
    .xUnlock = wal_unlock,
    .xCheckReservedLock = wal_check_reserved,
    .xFileControl = wal_file_control,
    .xSectorSize = wal_sector_size,
    .xDeviceCharacteristics = wal_device_characteristics,
};

/* ---------------------------------------------------------------- the VFS */

static int shim_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out_flags)
{
    (void)vfs;
    if (!(flags & SQLITE_OPEN_WAL))
        return root->xOpen(root, name, f, flags, out_flags);
    struct wal_file *w = (struct wal_file *)f;
    memset(w, 0, sizeof *w);
    w->real = (sqlite3_file *)((char *)f + WAL_FILE_SIZE);
    int rc = root->xOpen(root, name, w->real, flags, out_flags);
    if (rc != SQLITE_OK) {
        if (w->real->pMethods) /* the default VFS wants its close even after a failed open */
            w->real->pMethods->xClose(w->real);
        return rc;
    }
    w->base.pMethods = &wal_methods;
    return SQLITE_OK;
}

static int shim_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
    (void)vfs;
    return root->xDelete(root, name, sync_dir);
}

static int shim_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
    (void)vfs;
    return root->xAccess(root, name, flags, out);
}

static int shim_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
    (void)vfs;
    return root->xFullPathname(root, name, n, out);
}

static void *shim_dl_open(sqlite3_vfs *vfs, const char *name)
{
    (void)vfs;
    return root->xDlOpen(root, name);
}

static void shim_dl_error(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    root->xDlError(root, n, out);
}

static void (*shim_dl_sym(sqlite3_vfs *vfs, void *h, const char *sym))(void)
{
    (void)vfs;
    return root->xDlSym(root, h, sym);
}

static void shim_dl_close(sqlite3_vfs *vfs, void *h)
{
    (void)vfs;
    root->xDlClose(root, h);
}

static int shim_randomness(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    return root->xRandomness(root, n, out);
}

static int shim_sleep(sqlite3_vfs *vfs, int us)
{
    (void)vfs;
    return root->xSleep(root, us);
}

static int shim_current_time(sqlite3_vfs *vfs, double *out)
{
    (void)vfs;
    return root->xCurrentTime(root, out);
}

static int shim_last_error(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    return root->xGetLastError ? root->xGetLastError(root, n, out) : 0;
}

static int shim_current_time64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
    (void)vfs;
    if (root->iVersion >= 2 && root->xCurrentTimeInt64)
        return root->xCurrentTimeInt64(root, out);
    double day;
    int rc = root->xCurrentTime(root, &day);
    *out = (sqlite3_int64)(day * 86400000.0);
    return rc;
}

static int register_rc = SQLITE_ERROR;

static void register_once(void)
{
    root = sqlite3_vfs_find(NULL);
    if (!root)
        return;
    shim = (sqlite3_vfs){
        .iVersion = 2,
        .szOsFile = WAL_FILE_SIZE + root->szOsFile,
        .mxPathname = root->mxPathname,
        .zName = WALVFS_NAME,
        .xOpen = shim_open,
        .xDelete = shim_delete,
        .xAccess = shim_access,
        .xFullPathname = shim_full_pathname,
        .xDlOpen = shim_dl_open,
        .xDlError = shim_dl_error,
        .xDlSym = shim_dl_sym,
        .xDlClose = shim_dl_close,
        .xRandomness = shim_randomness,
        .xSleep = shim_sleep,
        .xCurrentTime = shim_current_time,
        .xGetLastError = shim_last_error,
        .xCurrentTimeInt64 = shim_current_time64,
    };
    register_rc = sqlite3_vfs_register(&shim, 0);
}

int walvfs_register(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, register_once);
    return register_rc;
}

uint64_t walvfs_frames_joined(void)
{
    return atomic_load_explicit(&joined, memory_order_relaxed);
}
