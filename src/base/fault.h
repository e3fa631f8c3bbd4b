/*
 * fault.h - fault injection, the way SQLite tests itself: a test arms a site to fail its Nth hit
 * (and, if sticky, every later one) with a chosen code; the code at the site then takes its real
 * error path. Compiled into every build; a disarmed site costs one load and one branch.
 *
 * Sites and the codes they take:
 *   FAULT_SQL      sqlpool_stmt() (every store and queue statement): an SQLite result code
 *                  (SQLITE_BUSY, SQLITE_FULL, SQLITE_IOERR, SQLITE_READONLY, SQLITE_NOMEM).
 *   FAULT_ARCHIVE  the archive writer's write(): an errno (ENOSPC, EIO); half the bytes are
 *                  written first, so the failure is a partial write.
 *   FAULT_HTTP     the HTTP client's transfer: a CURLcode (CURLE_RECV_ERROR: connection reset,
 *                  CURLE_PARTIAL_FILE: truncated body), returned instead of performing it.
 *   FAULT_WAL      the WAL shim's joined frame write (base/walvfs.h): an SQLite result code
 *                  (SQLITE_IOERR_WRITE, SQLITE_FULL), returned instead of writing the frame.
 * Arming is process-wide and meant for tests; it is thread-safe.
 */
#ifndef PARLEY_FAULT_H
#define PARLEY_FAULT_H

enum fault_site { FAULT_SQL, FAULT_ARCHIVE, FAULT_HTTP, FAULT_WAL, FAULT_SITES };

/* ---- arming (tests) */

/* Arms site: counting from now, its nth hit (1-based) fails with code, and every later one too
 * when sticky. nth <= 0 or code 0 disarms the site. */
void fault_arm(enum fault_site site, long nth, int code, int sticky);

/* Disarms every site. */
void fault_disarm_all(void);

/* Hits counted at site since it was armed, and faults injected there. */
long fault_hits(enum fault_site site);
long fault_injected(enum fault_site site);

/* ---- at a site */

extern int fault__armed; /* any site armed (read without a lock: one branch when 0) */

/* Counts a hit; returns 0 to go on, or the code to fail with. */
int fault__fire(enum fault_site site);

static inline int fault_check(enum fault_site site)
{
    return __builtin_expect(fault__armed, 0) ? fault__fire(site) : 0;
}

#endif
