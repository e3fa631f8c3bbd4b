LIB_SRCS += src/store/store_sqlite.c
