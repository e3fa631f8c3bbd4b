LIB_SRCS += src/runtime/api.c
