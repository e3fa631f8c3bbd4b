# src/base/base.mk - the ground floor: allocation, errors, logging, clock, randomness, UTF-8,
#  config, SQLite pool, intrusive lists.
# One source per line, so additions from parallel branches merge without conflicts.
LIB_SRCS += src/base/xmalloc.c
LIB_SRCS += src/base/err.c
LIB_SRCS += src/base/log.c
LIB_SRCS += src/base/clock.c
LIB_SRCS += src/base/rand.c
LIB_SRCS += src/base/utf8.c
LIB_SRCS += src/base/config.c
LIB_SRCS += src/base/sqlpool.c
LIB_SRCS += src/base/walvfs.c
LIB_SRCS += src/base/logfile.c
LIB_SRCS += src/base/errcode.c
LIB_SRCS += src/base/asset.c
LIB_SRCS += src/base/buf.c
LIB_SRCS += src/base/hash.c
LIB_SRCS += src/base/backoff.c
LIB_SRCS += src/base/text.c
LIB_SRCS += src/base/guard.c
LIB_SRCS += src/base/sched.c
LIB_SRCS += src/base/fault.c
LIB_SRCS += src/base/dlist.c
LIB_SRCS += src/base/jsontext.c
LIB_SRCS += src/base/jsonb.c
LIB_SRCS += src/base/ptrmemo.c
