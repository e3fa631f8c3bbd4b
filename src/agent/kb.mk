LIB_SRCS += src/agent/kb.c
