LIB_SRCS += src/runtime/api.c src/runtime/workflow_local.c src/runtime/chat_stream.c src/runtime/app.c src/runtime/observe.c src/runtime/analytics.c
