# src/cli/cli.mk - the command-line subcommands (serve, chat, sfn); main.c is linked into the
#  binary only.
# One source per line, so additions from parallel branches merge without conflicts.
LIB_SRCS += src/cli/serve.c
LIB_SRCS += src/cli/chat.c
LIB_SRCS += src/cli/sfn_cmd.c
LIB_SRCS += src/cli/agent_cmd.c
