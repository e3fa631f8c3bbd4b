LIB_SRCS += src/base/xmalloc.c src/base/err.c src/base/errcode.c src/base/asset.c src/base/log.c \
            src/base/clock.c src/base/rand.c src/base/utf8.c src/base/config.c src/base/sqlpool.c \
            src/base/buf.c src/base/backoff.c src/base/text.c
