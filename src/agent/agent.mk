LIB_SRCS += src/agent/handlers.c src/agent/actions.c src/agent/tools.c src/agent/turn.c src/agent/transcript.c
LIB_SRCS += src/agent/tool_http.c src/agent/tool_lambda.c src/agent/tool_openapi.c
LIB_SRCS += src/agent/agent_file.c
