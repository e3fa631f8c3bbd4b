/*
 * walvfs.h - a SQLite VFS shim ("parley-wal") over the default VFS that writes each WAL frame
 * with one write(2) instead of two.
 *
 * SQLite appends a WAL frame as two writes at adjacent offsets: the 24-byte frame header, then
 * the page (sqlite.org/fileformat2.html, "WAL File Format"). Every commit of the store's
 * committer writes a few dozen frames, so those header writes were half of its pwrite(2) calls.
 * The shim holds a frame header written to a WAL file and, when the next write is the page right
 * after it, writes both as one buffer at the header's offset. Anything else on that file (another
 * write, a read, a sync, a truncate, a size query, a file control, close) first writes the held
 * header on its own, so the bytes and their order on disk are exactly SQLite's: the frame is
 * complete before sqlite3WalFrames goes on, and a reader can only find it through the wal-index,
 * which SQLite updates after the frames are written. Files other than WAL files are the default
 * VFS's own, unwrapped.
 */
#ifndef PARLEY_WALVFS_H
#define PARLEY_WALVFS_H

#include <stdint.h>

#define WALVFS_NAME "parley-wal"

/* Registers the shim over the default VFS (not as the default). Thread-safe and idempotent.
 * Returns SQLITE_OK or SQLite's error code. */
int walvfs_register(void);

/* Frames written with one write since the process started (all files); for tests and bench. */
uint64_t walvfs_frames_joined(void);

#endif
