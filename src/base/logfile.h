/*
 * logfile.h - an append-only log file of <data>/logs (the event log groups, emf.log) that stays
 * bounded: rotated by size into a fixed number of files, and reopened after SIGHUP so that an
 * external logrotate can move it away.
 *
 * Rotation: when a write would take the file past max_bytes, the file is closed and renamed
 * path.1 (path.1 becomes path.2, ..., path.<keep> is deleted), and a new path is opened. The cut is
 * made after the last newline of the write, so a line never spans two files. Files are created
 * mode 0600 (they hold session ids). Writers on several threads may share one logfile.
 */
#ifndef PARLEY_LOGFILE_H
#define PARLEY_LOGFILE_H

#include <stddef.h>
#include <stdio.h>

#include "base/err.h"

struct logfile;

/* Opens path for appending (creating it mode 0600). max_bytes 0 never rotates; keep (1..1000)
 * is how many rotated files stay besides path. Returns the logfile (free with logfile_free), or
 * NULL with err ("IOError" naming the path and the system's reason). */
struct logfile *logfile_open(const char *path, long long max_bytes, int keep, struct err *err);

/* Appends len bytes in one write(2) per part (concurrent lines never interleave), rotating as
 * described above and reopening first when logfile_reopen_all ran since the last write. Returns
 * 0, or -1 after logging why (the line is lost; the next write tries again). */
int logfile_write(struct logfile *f, const void *data, size_t len);

/* A buffered stdio stream whose writes go through logfile_write; fclose() of the stream flushes
 * it and frees f. Returns NULL (f untouched) when the stream cannot be made. */
FILE *logfile_stream(struct logfile *f);

/* Asks every logfile to reopen its path before its next write (SIGHUP). Async-signal-safe. */
void logfile_reopen_all(void);

/* Closes and frees f; NULL is a no-op. */
void logfile_free(struct logfile *f);

#endif
