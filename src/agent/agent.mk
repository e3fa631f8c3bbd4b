LIB_SRCS += src/agent/handlers.c src/agent/tools.c src/agent/turn.c
