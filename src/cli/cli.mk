LIB_SRCS += src/cli/serve.c src/cli/chat.c src/cli/sfn_cmd.c src/cli/agent_cmd.c
