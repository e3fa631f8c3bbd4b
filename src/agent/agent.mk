# src/agent/agent.mk - the agent: turn loop, tools, actions, transcript, tool-input schema, PII
#  guard, knowledge base.
# One source per line, so additions from parallel branches merge without conflicts.
LIB_SRCS += src/agent/handlers.c
LIB_SRCS += src/agent/actions.c
LIB_SRCS += src/agent/tools.c
LIB_SRCS += src/agent/turn.c
LIB_SRCS += src/agent/transcript.c
LIB_SRCS += src/agent/history.c
LIB_SRCS += src/agent/schema.c
LIB_SRCS += src/agent/kb.c
LIB_SRCS += src/agent/kb_md.c
LIB_SRCS += src/agent/tool_http.c
LIB_SRCS += src/agent/tool_lambda.c
LIB_SRCS += src/agent/tool_openapi.c
LIB_SRCS += src/agent/agent_file.c
LIB_SRCS += src/agent/tool_mcp.c
LIB_SRCS += src/agent/budget.c
