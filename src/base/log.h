/*
 * log.h - levelled logging to stderr.
 *
 * Lines look like `2026-11-25T03:40:00.123Z WARN store req-1 cannot open 'x.db'`. log_at() checks
 * the level before formatting, so a disabled DEBUG line costs one comparison.
 */
#ifndef PARLEY_LOG_H
#define PARLEY_LOG_H

enum log_level { LL_DEBUG = 0, LL_INFO = 1, LL_WARN = 2, LL_ERROR = 3, LL_OFF = 4 };

extern enum log_level log_threshold;

/* Parses "debug|info|warn|error|off"; returns -1 on an unknown name. */
int log_level_parse(const char *name, enum log_level *out);

/* Writes one line; use log_at() instead, which skips formatting below the threshold. */
void log_write(enum log_level lvl, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_at(lvl, module, ...)                                                                   \
    do {                                                                                           \
        if ((lvl) >= log_threshold)                                                                \
            log_write((lvl), (module), __VA_ARGS__);                                               \
    } while (0)

#endif
