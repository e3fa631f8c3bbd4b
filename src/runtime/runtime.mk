LIB_SRCS += src/runtime/api.c src/runtime/workflow_local.c
