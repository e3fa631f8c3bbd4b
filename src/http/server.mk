LIB_SRCS += src/http/server.c
