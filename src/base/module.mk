LIB_SRCS += src/base/xmalloc.c src/base/err.c src/base/log.c
